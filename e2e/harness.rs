//! Starts `basalt up --port 0 --kubeconfig <tmp>` as a child process, waits for the
//! kubeconfig (written only once everything is ready), and offers `kubectl` helpers. The
//! process is killed and its directory removed on drop.
//!
//! `BASALT_E2E_FAULT_RATE=F` runs every `basalt up` of the suite with `--fault-rate F`: the
//! controllers, scheduler, webhooks and simulated nodes meet injected 500s, 409s and cut
//! watches, while the test's own `kubectl` and `basalt` CLI calls are spared
//! (`--fault-exempt-agent`), so a failure is the product's, not the driver's. A test that
//! passes its own `--fault-rate` keeps it.
//!
//! `BASALT_E2E_BACKEND=real` (or the nextest profile `real-suite`) runs the suite against a
//! real control plane instead of `basalt up` ([`real_backend`]).

#![allow(dead_code)] // Each area uses a different subset of the helpers.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Output, Stdio};
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::{Duration, Instant};

/// How long `basalt up` may take to become ready (the kubeconfig appears).
pub const START_TIMEOUT: Duration = Duration::from_secs(60);

static COUNTER: AtomicU32 = AtomicU32::new(0);

/// A private scratch directory, removed on drop.
pub struct TempDir(PathBuf);

impl TempDir {
    pub fn new(tag: &str) -> Self {
        let nanos = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.subsec_nanos())
            .unwrap_or(0);
        let dir = std::env::temp_dir().join(format!(
            "basalt-e2e-{tag}-{}-{}-{nanos}",
            std::process::id(),
            COUNTER.fetch_add(1, Ordering::Relaxed)
        ));
        std::fs::create_dir_all(&dir).expect("creating a scratch directory");
        TempDir(dir)
    }
    pub fn path(&self) -> &Path {
        &self.0
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        // `BASALT_E2E_KEEP=1` keeps every test's directory (logs, audit log, kubeconfig) for a
        // look afterwards.
        if std::env::var_os("BASALT_E2E_KEEP").is_some() {
            eprintln!("kept {}", self.0.display());
            return;
        }
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// `BASALT_E2E_BACKEND=real`: every `Cluster::start` is a real etcd + kube-apiserver +
/// kube-controller-manager with `basalt controller`, `basalt webhook` and `basalt nodes`
/// (docs/real-cluster.md), not `basalt up`.
pub fn real_backend() -> bool {
    std::env::var("BASALT_E2E_BACKEND").is_ok_and(|v| v == "real")
        || std::env::var("NEXTEST_PROFILE").is_ok_and(|v| v == "real-suite")
}

/// The flags `BASALT_E2E_FAULT_RATE` adds to a `basalt up` started with `args`.
fn suite_faults(args: &[&str]) -> Vec<String> {
    let Ok(rate) = std::env::var("BASALT_E2E_FAULT_RATE") else {
        return vec![];
    };
    if rate.is_empty() || args.contains(&"--fault-rate") {
        return vec![];
    }
    [
        "--fault-rate",
        &rate,
        "--fault-exempt-agent",
        "kubectl/",
        "--fault-exempt-agent",
        "basalt-cli/",
    ]
    .map(String::from)
    .to_vec()
}

/// A running `kubectl --watch` (see [`Cluster::kubectl_watch`]).
pub struct Watch {
    child: Child,
    /// Lines kubectl printed, in order.
    pub lines: std::sync::mpsc::Receiver<String>,
}

impl Drop for Watch {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A running `basalt up`, or with `BASALT_E2E_BACKEND=real` a real control plane with Basalt's
/// components (`real_cluster::suite_cluster`). Fields drop in order: whatever `guard` holds
/// (the real backend's processes and control plane), then the directory.
pub struct Cluster {
    child: Option<Child>,
    pub guard: Option<Box<dyn std::any::Any + Send + Sync>>,
    pub dir: TempDir,
    pub kubeconfig: PathBuf,
    log: PathBuf,
}

impl Cluster {
    /// `basalt up --port 0` plus `args`, in a fresh directory.
    pub fn start(args: &[&str]) -> Self {
        Self::start_in(TempDir::new("up"), args)
    }

    /// Starts in `dir` (kept by the returned cluster), e.g. to restart on the same `--data-dir`.
    pub fn start_in(dir: TempDir, args: &[&str]) -> Self {
        if real_backend() {
            // Not `basalt up`: the real control plane (docs/real-cluster.md).
            return crate::real_cluster::suite_cluster(dir, args);
        }
        let kubeconfig = dir.path().join("kubeconfig");
        let log = dir.path().join(format!(
            "basalt-up-{}.log",
            COUNTER.fetch_add(1, Ordering::Relaxed)
        ));
        let stderr = std::fs::File::create(&log).expect("creating the log file");
        let child = Command::new(env!("CARGO_BIN_EXE_basalt"))
            .arg("up")
            .args(["--port", "0", "--kubeconfig"])
            .arg(&kubeconfig)
            .args(args)
            .args(suite_faults(args))
            .current_dir(dir.path())
            .env("RUST_LOG", "info")
            .stdout(Stdio::null())
            .stderr(stderr)
            .spawn()
            .expect("spawning basalt up");
        let mut cluster = Cluster {
            child: Some(child),
            guard: None,
            dir,
            kubeconfig,
            log,
        };
        let deadline = Instant::now() + START_TIMEOUT;
        while !cluster.kubeconfig.exists() {
            if let Some(status) = cluster.child_mut().try_wait().expect("polling basalt up") {
                panic!(
                    "basalt up exited with {status} before it was ready:\n{}",
                    cluster.log()
                );
            }
            assert!(
                Instant::now() < deadline,
                "basalt up not ready after {START_TIMEOUT:?}:\n{}",
                cluster.log()
            );
            std::thread::sleep(Duration::from_millis(50));
        }
        cluster
    }

    /// A cluster this harness did not start (the real control plane of `real_cluster.rs`):
    /// kubectl helpers against `kubeconfig`; `log` is the file failure messages show.
    pub fn attach(dir: TempDir, kubeconfig: PathBuf, log: PathBuf) -> Self {
        Cluster {
            child: None,
            guard: None,
            dir,
            kubeconfig,
            log,
        }
    }

    fn child_mut(&mut self) -> &mut Child {
        self.child.as_mut().expect("basalt up already stopped")
    }

    /// What `basalt up` wrote on stderr so far.
    pub fn log(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    /// Runs kubectl against the cluster; returns its output whatever the exit code.
    pub fn kubectl_output(&self, args: &[&str], stdin: Option<&str>) -> Output {
        let mut cmd = Command::new("kubectl");
        cmd.args(args)
            .env("KUBECONFIG", &self.kubeconfig)
            .env("KUBECACHEDIR", self.dir.path().join("kube-cache"))
            .stdin(if stdin.is_some() {
                Stdio::piped()
            } else {
                Stdio::null()
            })
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        let mut child = cmd.spawn().expect("running kubectl");
        if let Some(text) = stdin {
            use std::io::Write;
            child
                .stdin
                .take()
                .expect("kubectl stdin")
                .write_all(text.as_bytes())
                .expect("writing kubectl stdin");
        }
        child.wait_with_output().expect("waiting for kubectl")
    }

    /// Runs kubectl and returns stdout; panics with stderr and the server log on failure.
    pub fn kubectl(&self, args: &[&str]) -> String {
        self.checked(args, None)
    }

    fn checked(&self, args: &[&str], stdin: Option<&str>) -> String {
        let out = self.kubectl_output(args, stdin);
        assert!(
            out.status.success(),
            "kubectl {} failed ({}):\n{}\n--- {} ---\n{}",
            args.join(" "),
            out.status,
            String::from_utf8_lossy(&out.stderr),
            self.log.display(),
            self.log()
        );
        String::from_utf8_lossy(&out.stdout).into_owned()
    }

    /// `kubectl apply -f -` with `yaml`.
    pub fn apply(&self, yaml: &str) -> String {
        self.checked(&["apply", "-f", "-"], Some(yaml))
    }

    /// `kubectl create -f -` with `yaml`.
    pub fn create(&self, yaml: &str) -> String {
        self.checked(&["create", "-f", "-"], Some(yaml))
    }

    /// `kubectl get <args> -o json`, parsed.
    pub fn get_json(&self, args: &[&str]) -> serde_json::Value {
        let mut all = vec!["get"];
        all.extend_from_slice(args);
        all.extend_from_slice(&["-o", "json"]);
        serde_json::from_str(&self.kubectl(&all)).expect("kubectl printed JSON")
    }

    /// Polls `check` until it returns `Some`, or panics after `timeout` naming `what`.
    pub fn wait_for<T>(
        &self,
        what: &str,
        timeout: Duration,
        mut check: impl FnMut() -> Option<T>,
    ) -> T {
        let deadline = Instant::now() + timeout;
        loop {
            if let Some(v) = check() {
                return v;
            }
            assert!(
                Instant::now() < deadline,
                "timed out after {timeout:?} waiting for {what}\n--- {} ---\n{}",
                self.log.display(),
                self.log()
            );
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    /// Starts `kubectl <args>` (a `--watch`) whose stdout lines arrive on the returned channel;
    /// the process is killed when the [`Watch`] is dropped.
    pub fn kubectl_watch(&self, args: &[&str]) -> Watch {
        let mut child = Command::new("kubectl")
            .args(args)
            .env("KUBECONFIG", &self.kubeconfig)
            .env("KUBECACHEDIR", self.dir.path().join("kube-cache"))
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .expect("running kubectl --watch");
        let stdout = child.stdout.take().expect("kubectl stdout");
        let (tx, lines) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            use std::io::BufRead;
            for line in std::io::BufReader::new(stdout).lines() {
                let Ok(line) = line else { break };
                if tx.send(line).is_err() {
                    break;
                }
            }
        });
        Watch { child, lines }
    }

    /// Waits until `kind/name` has `status.phase == phase`; returns the object.
    pub fn wait_phase(&self, target: &str, phase: &str, timeout: Duration) -> serde_json::Value {
        self.wait_for(&format!("{target} to be {phase}"), timeout, || {
            let obj = self.get_json(&[target]);
            (obj.pointer("/status/phase").and_then(|p| p.as_str()) == Some(phase)).then_some(obj)
        })
    }

    /// Sends SIGTERM and waits for the process to exit.
    pub fn terminate(&mut self) -> ExitStatus {
        let pid = self.child_mut().id().to_string();
        let sent = Command::new("kill")
            .args(["-TERM", &pid])
            .status()
            .expect("running kill");
        assert!(sent.success(), "kill -TERM {pid} failed");
        let deadline = Instant::now() + Duration::from_secs(20);
        loop {
            if let Some(status) = self.child_mut().try_wait().expect("polling basalt up") {
                self.child = None;
                return status;
            }
            assert!(
                Instant::now() < deadline,
                "basalt up did not stop within 20s of SIGTERM:\n{}",
                self.log()
            );
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// Stops the process (SIGTERM) and hands back its directory, e.g. to restart on it.
    pub fn stop(mut self) -> TempDir {
        let status = self.terminate();
        assert!(
            status.success(),
            "basalt up exited with {status}:\n{}",
            self.log()
        );
        // The replacement is an empty path; removing it on drop is a no-op.
        std::mem::replace(&mut self.dir, TempDir(PathBuf::new()))
    }
}

impl Drop for Cluster {
    fn drop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
        // A failed test leaves its cluster's logs behind only in its output: the directory
        // goes with the cluster. (Tests that print a tail themselves are not hurt by a second.)
        if std::thread::panicking() {
            dump_logs(self.dir.path());
        }
    }
}

/// Prints the last lines of every `*.log` under `dir` (not the audit log) to stderr.
fn dump_logs(dir: &std::path::Path) {
    let mut stack = vec![dir.to_path_buf()];
    let mut logs = Vec::new();
    while let Some(d) = stack.pop() {
        let Ok(entries) = std::fs::read_dir(&d) else {
            continue;
        };
        for e in entries.flatten() {
            let path = e.path();
            if path.is_dir() {
                stack.push(path);
            } else if path.extension().is_some_and(|x| x == "log")
                && path.file_name().is_some_and(|n| n != "audit.log")
            {
                logs.push(path);
            }
        }
    }
    logs.sort();
    for path in logs {
        let text = std::fs::read_to_string(&path).unwrap_or_default();
        let lines: Vec<&str> = text.lines().collect();
        let tail = &lines[lines.len().saturating_sub(60)..];
        eprintln!("--- {} (last {} lines) ---", path.display(), tail.len());
        for line in tail {
            eprintln!("{line}");
        }
    }
}

/// A separate `basalt controller` process against `c` (for clusters started with
/// `--no-controllers`), killed with SIGKILL on drop — no graceful shutdown, as a crash.
pub struct Controller(std::process::Child);

impl Controller {
    /// Starts it with a 200 ms schedule period; its log goes to `log` in the cluster's directory.
    pub fn start(c: &Cluster, log: &str) -> Self {
        let log = std::fs::File::create(c.dir.path().join(log)).expect("controller log");
        let child = std::process::Command::new(env!("CARGO_BIN_EXE_basalt"))
            .args([
                "controller",
                "--metrics-addr",
                "127.0.0.1:0",
                "--schedule-period",
                "200ms",
                "--kubeconfig",
            ])
            .arg(&c.kubeconfig)
            .env("RUST_LOG", "info")
            .stdout(std::process::Stdio::null())
            .stderr(log)
            .spawn()
            .expect("spawning basalt controller");
        Self(child)
    }
}

impl Drop for Controller {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}
