//! The real control plane and the systems under test, shared by `peers.rs` (throughput) and
//! `peers_article.rs` (the article's cases): a fresh etcd + kube-apiserver +
//! kube-controller-manager per case (`tools/realcluster`), kube-scheduler, Volcano
//! (`tools/volcano`) or `basalt controller` started on it, and `basalt nodes` for nodes.

#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use k8s_openapi::api::core::v1::Node;
use kube::Client;
use kube::api::{Api, ListParams};
use kube::config::{KubeConfigOptions, Kubeconfig};

pub fn env_or<T: std::str::FromStr>(name: &str, default: T) -> T {
    match std::env::var(name) {
        Ok(v) => v
            .parse()
            .unwrap_or_else(|_| panic!("{name}={v:?} is not a valid value")),
        Err(_) => default,
    }
}

pub fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("..")
}

pub fn script() -> PathBuf {
    root().join("tools/realcluster/realcluster.sh")
}

/// Everything one system's run started; dropped in reverse order (processes, then the plane).
pub struct Plane {
    /// The plane's directory (kubeconfig, logs).
    pub dir: PathBuf,
    children: Vec<Child>,
    /// Leave the directory (logs) in place after stopping.
    pub keep: bool,
}

impl Drop for Plane {
    fn drop(&mut self) {
        for child in self.children.iter_mut().rev() {
            let _ = child.kill();
            let _ = child.wait();
        }
        let _ = Command::new(script())
            .arg("stop")
            .arg(&self.dir)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status();
        if !self.keep {
            let _ = std::fs::remove_dir_all(&self.dir);
        }
    }
}

impl Plane {
    pub fn start(dir: PathBuf) -> Self {
        let _ = std::fs::remove_dir_all(&dir);
        let out = Command::new(script())
            .arg("start")
            .arg(&dir)
            .env("REALCLUSTER_NO_BUILD", "1")
            .stdin(Stdio::null())
            .output()
            .expect("running tools/realcluster/realcluster.sh");
        assert!(
            out.status.success(),
            "realcluster.sh start failed ({}): {}\nbuild the Go components first: \
             tools/realcluster/realcluster.sh build (or run benches/peers/run.sh)",
            out.status,
            String::from_utf8_lossy(&out.stderr)
        );
        Plane {
            dir,
            children: vec![],
            keep: false,
        }
    }

    pub fn kubeconfig(&self) -> PathBuf {
        self.dir.join("admin.kubeconfig")
    }

    /// Starts `basalt nodes` with `count` simulated 8-GPU nodes (96 CPU, 1 Ti memory each).
    pub fn spawn_nodes(&mut self, count: usize) {
        let kubeconfig = self.kubeconfig();
        let kc = kubeconfig.to_str().unwrap().to_owned();
        let count = count.to_string();
        let basalt = PathBuf::from(env!("CARGO_BIN_EXE_basalt"));
        let args = [
            "nodes",
            "--kubeconfig",
            &kc,
            "--nodes",
            &count,
            "--gpus-per-node",
            "8",
        ];
        self.spawn(&basalt, &args, "basalt-nodes.log");
    }

    pub fn spawn(&mut self, program: &Path, args: &[&str], log: &str) -> u32 {
        let file = std::fs::File::create(self.dir.join("logs").join(log)).unwrap();
        let child = Command::new(program)
            .args(args)
            .env("RUST_LOG", "warn")
            .stdin(Stdio::null())
            .stdout(file.try_clone().unwrap())
            .stderr(file)
            .spawn()
            .unwrap_or_else(|e| panic!("spawning {}: {e}", program.display()));
        let pid = child.id();
        self.children.push(child);
        pid
    }
}

pub fn go_binary(name: &str) -> PathBuf {
    let out = Command::new(script())
        .args(["bin", name])
        .env("REALCLUSTER_NO_BUILD", "1")
        .output()
        .expect("running realcluster.sh bin");
    assert!(out.status.success(), "{name} is not built");
    PathBuf::from(String::from_utf8(out.stdout).unwrap().trim())
}

/// CPU time (user + system) of a process, from /proc.
pub fn cpu_of(pid: u32) -> Option<Duration> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    let rest = &stat[stat.rfind(')')? + 2..];
    let fields: Vec<&str> = rest.split_whitespace().collect();
    let ticks: u64 = fields.get(11)?.parse::<u64>().ok()? + fields.get(12)?.parse::<u64>().ok()?;
    // USER_HZ is 100 on Linux.
    Some(Duration::from_millis(ticks * 10))
}

pub fn load_average() -> String {
    std::fs::read_to_string("/proc/loadavg")
        .map(|s| s.split_whitespace().take(3).collect::<Vec<_>>().join(" "))
        .unwrap_or_default()
}

pub async fn client(kubeconfig: &Path) -> Client {
    let kc = Kubeconfig::read_from(kubeconfig).unwrap();
    let mut config = kube::Config::from_custom_kubeconfig(kc, &KubeConfigOptions::default())
        .await
        .unwrap();
    config.read_timeout = Some(Duration::from_secs(300));
    Client::try_from(config).unwrap()
}

pub async fn wait_nodes_ready(client: &Client, want: usize, timeout: Duration) {
    let nodes: Api<Node> = Api::all(client.clone());
    let deadline = Instant::now() + timeout;
    loop {
        let ready = nodes
            .list(&ListParams::default().labels("sim.basalt.dev/simulated=true"))
            .await
            .map(|l| {
                l.items
                    .iter()
                    .filter(|n| {
                        let ready = n
                            .status
                            .as_ref()
                            .and_then(|s| s.conditions.as_ref())
                            .is_some_and(|c| {
                                c.iter().any(|c| c.type_ == "Ready" && c.status == "True")
                            });
                        let tainted =
                            n.spec
                                .as_ref()
                                .and_then(|s| s.taints.as_ref())
                                .is_some_and(|t| {
                                    t.iter().any(|t| t.key == "node.kubernetes.io/not-ready")
                                });
                        ready && !tainted
                    })
                    .count()
            })
            .unwrap_or(0);
        if ready >= want {
            return;
        }
        assert!(
            Instant::now() < deadline,
            "only {ready} of {want} simulated nodes Ready after {timeout:?}"
        );
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
}

pub fn kubectl_apply_server_side(kc: &str, manifests: &[u8]) {
    use std::io::Write;
    let mut apply = Command::new("kubectl")
        .args(["--kubeconfig", kc, "apply", "--server-side", "-f", "-"])
        .stdin(Stdio::piped())
        .stdout(Stdio::null())
        .spawn()
        .expect("running kubectl");
    apply.stdin.take().unwrap().write_all(manifests).unwrap();
    assert!(apply.wait().unwrap().success(), "kubectl apply failed");
    // `kubectl wait` errors out on a CRD whose status has no conditions yet: retry it.
    let ok = kubectl_succeeds_within(
        kc,
        &[
            "wait",
            "--for=condition=Established",
            "crd",
            "--all",
            "--timeout=10s",
        ],
        30,
    );
    assert!(ok, "CRDs not Established");
}

/// Runs `kubectl ARGS` every 500 ms, at most `tries` times, until it succeeds.
pub fn kubectl_succeeds_within(kc: &str, args: &[&str], tries: usize) -> bool {
    (0..tries).any(|_| {
        let ok = Command::new("kubectl")
            .args(["--kubeconfig", kc])
            .args(args)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status()
            .is_ok_and(|s| s.success());
        if !ok {
            std::thread::sleep(Duration::from_millis(500));
        }
        ok
    })
}

pub fn wait_queue(kc: &str) {
    let found =
        kubectl_succeeds_within(kc, &["get", "queues.scheduling.volcano.sh", "default"], 240);
    assert!(found, "queue default was never created");
}

pub fn volcano_binary(name: &str) -> PathBuf {
    let out = Command::new(root().join("tools/volcano/volcano.sh"))
        .args(["bin", name])
        .output()
        .expect("running tools/volcano/volcano.sh");
    assert!(
        out.status.success(),
        "{name}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    PathBuf::from(String::from_utf8(out.stdout).unwrap().trim())
}

pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// Starts `system` on `plane` (CRDs, then its processes) and returns their pids and the
/// `schedulerName` its pods use.
pub fn start_system(plane: &mut Plane, system: &str) -> (Vec<u32>, &'static str) {
    let kubeconfig = plane.kubeconfig();
    let kc = kubeconfig.to_str().unwrap().to_owned();
    let basalt = PathBuf::from(env!("CARGO_BIN_EXE_basalt"));
    match system {
        "kube-scheduler" | "kube-scheduler-qps" => {
            let (qps, burst) = if system == "kube-scheduler" {
                (50, 100)
            } else {
                (5_000, 5_000)
            };
            let config = plane.dir.join("kube-scheduler.yaml");
            std::fs::write(
                &config,
                format!(
                    "apiVersion: kubescheduler.config.k8s.io/v1\nkind: KubeSchedulerConfiguration\n\
                     clientConnection: {{kubeconfig: {kc}, qps: {qps}, burst: {burst}}}\n\
                     leaderElection: {{leaderElect: false}}\n"
                ),
            )
            .unwrap();
            let port = free_port().to_string();
            let pid = plane.spawn(
                &go_binary("kube-scheduler"),
                &[
                    "--config",
                    config.to_str().unwrap(),
                    "--authentication-kubeconfig",
                    &kc,
                    "--authorization-kubeconfig",
                    &kc,
                    "--bind-address",
                    "127.0.0.1",
                    "--secure-port",
                    &port,
                ],
                "kube-scheduler.log",
            );
            (vec![pid], "default-scheduler")
        }
        "volcano" | "volcano-helm" => {
            let dir = plane.dir.join("volcano-crds");
            let ok = Command::new(root().join("tools/volcano/volcano.sh"))
                .arg("crds")
                .arg(&dir)
                .status()
                .unwrap();
            assert!(ok.success(), "volcano.sh crds failed");
            let mut all = vec![];
            let mut files: Vec<_> = std::fs::read_dir(&dir)
                .unwrap()
                .map(|e| e.unwrap().path())
                .collect();
            files.sort();
            for f in files {
                all.extend(std::fs::read(f).unwrap());
                all.extend(b"\n---\n");
            }
            kubectl_apply_server_side(&kc, &all);
            let addr = |p: u16| format!("127.0.0.1:{p}");
            let (listen, healthz) = (addr(free_port()), addr(free_port()));
            let mut args = vec![
                "--kubeconfig",
                &kc,
                "--leader-elect=false",
                "--listen-address",
                &listen,
                "--healthz-address",
                &healthz,
                "--cache-dumper=false",
            ];
            // `volcano-helm`: the configuration Volcano's Helm chart installs
            // (volcano-scheduler-configmap: the built-in default plus binpack), the one the
            // simulator's `volcano-default` models. `volcano` runs vc-scheduler's built-in default.
            let conf = root().join("config/simulator/policies/volcano-default.yaml");
            let conf = conf.to_str().unwrap().to_owned();
            if system == "volcano-helm" {
                args.extend(["--scheduler-conf", &conf]);
            }
            let scheduler = plane.spawn(&volcano_binary("vc-scheduler"), &args, "vc-scheduler.log");
            let controllers = plane.spawn(
                &volcano_binary("vc-controller-manager"),
                &[
                    "--kubeconfig",
                    &kc,
                    "--leader-elect=false",
                    "--listen-address",
                    &addr(free_port()),
                    "--healthz-address",
                    &addr(free_port()),
                ],
                "vc-controller-manager.log",
            );
            (vec![scheduler, controllers], "volcano")
        }
        "basalt" => {
            let crds = Command::new(&basalt).arg("crds").output().unwrap();
            assert!(crds.status.success(), "basalt crds failed");
            kubectl_apply_server_side(&kc, &crds.stdout);
            let config = root().join("config/scheduler/basalt-default.yaml");
            let pid = plane.spawn(
                &basalt,
                &[
                    "controller",
                    "--kubeconfig",
                    &kc,
                    "--scheduler-config",
                    config.to_str().unwrap(),
                    "--metrics-addr",
                    "127.0.0.1:0",
                ],
                "basalt-controller.log",
            );
            (vec![pid], "volcano")
        }
        other => panic!(
            "PEERS_SYSTEMS: unknown system {other:?} (kube-scheduler, kube-scheduler-qps, volcano, volcano-helm, basalt)"
        ),
    }
}

/// Writes `rows` as pretty JSON to `peers/<name>` in the target directory.
pub fn write_results(name: &str, rows: &[serde_json::Value]) {
    let out = std::env::var_os("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| root().join("target"))
        .join("peers");
    std::fs::create_dir_all(&out).unwrap();
    std::fs::write(out.join(name), serde_json::to_string_pretty(rows).unwrap()).unwrap();
}
