//! The article's six cases under each real system, side by side (issues 15 and 19): the runnable
//! variants of the article's manifests (`examples/0[1-5]*.yaml`, `examples/07-*.yaml`; the
//! verbatim files are in `examples/article/`) applied with kubectl to a fresh real control plane
//! per system (etcd + kube-apiserver + kube-controller-manager, `tools/realcluster`) with the
//! article's cluster — four simulated 8-GPU A100 nodes (`basalt nodes`) — and the observable
//! outcome of each recorded: what kubectl said, how many pods were created, bound and Running, the
//! Volcano Job's and PodGroup's phases, the queues.
//!
//! Systems (`PEERS_SYSTEMS`, default `kube-scheduler,volcano,volcano-helm,basalt`): kube-scheduler
//! v1.37.2 (default configuration; no Volcano CRDs or controllers, so the Volcano kinds are refused
//! by the API server), Volcano v1.14.1 (`vc-scheduler` and `vc-controller-manager`, its own CRDs;
//! its admission webhooks are not run) with vc-scheduler's built-in default configuration
//! (`volcano`) or with the one its Helm chart installs, which adds `binpack` (`volcano-helm`;
//! `config/simulator/policies/volcano-default.yaml`), Basalt (`basalt
//! controller` with the shipped configuration; its webhooks are not run either, so both Volcano
//! systems see the same objects). A manifest's `schedulerName: basalt` becomes the system's own
//! name (`default-scheduler`, `volcano`); `schedulerName: volcano` is kept.
//!
//! Cases, in order, each after the previous one's objects are deleted (the queues stay):
//! 05 team queues; 01 a one-GPU pod; 02 four vGPU inference pods (4 Gi, 25 % of a card each);
//! 03 a gang of four 2-GPU pods (`minAvailable: 4`); 04 team B's Deployment of sixteen 2-GPU pods
//! in `team-b-queue` (capability 20 GPUs); 07 the six-step JobFlow with the inline `jobTemplate`
//! (Basalt's extension); 07b the same pipeline with one JobTemplate per step, as Volcano takes it.
//! Each case waits until its outcome is reached or `PEERS_ARTICLE_SETTLE_SECS` (60; twice that
//! for the flows) pass, then records what it sees; a refused manifest is recorded at once. Results: a Markdown table on stdout and `target/peers/article.json`.
//!
//! `benches/peers/run.sh article` (builds the Go components if missing), or `cargo bench -p
//! basalt --bench peers_article` once they are built.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::print_stdout)]

#[path = "peers_harness/mod.rs"]
mod harness;

use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use harness::{Plane, client, env_or, root, start_system, wait_nodes_ready, wait_queue};
use serde_json::{Value, json};

/// One of the article's cases.
struct Case {
    /// Short name (the table's row).
    name: &'static str,
    /// The runnable variant under `examples/`.
    file: &'static str,
    /// What the article wants to see.
    wants: &'static str,
}

const CASES: &[Case] = &[
    Case {
        name: "05 team queues",
        file: "05-team-queues.yaml",
        wants: "three Open queues, capability 20 GPUs each",
    },
    Case {
        name: "01 one-GPU pod",
        file: "01-gpu-pod.yaml",
        wants: "the pod bound and Running",
    },
    Case {
        name: "02 vGPU inference",
        file: "02-vgpu-inference-job.yaml",
        wants: "four pods sharing GPUs (4 Gi, 25 % each)",
    },
    Case {
        name: "03 gang of 4 × 2 GPUs",
        file: "03-gang-distributed-training-job.yaml",
        wants: "all four pods at once",
    },
    Case {
        name: "04 team B's 16 × 2-GPU Deployment",
        file: "04-team-b-training-deployment.yaml",
        wants: "team B held to its queue's 20 GPUs",
    },
    Case {
        name: "07 six-step JobFlow",
        file: "07-credit-ml-pipeline-jobflow.yaml",
        wants: "six steps, one after another",
    },
    Case {
        name: "07b the same with JobTemplates (Volcano's way)",
        file: "07b-credit-ml-pipeline-jobtemplates.yaml",
        wants: "six steps, one after another",
    },
];

/// Runs kubectl with `args` (and `stdin`), returning success, stdout and stderr.
fn kubectl(kc: &str, args: &[&str], stdin: Option<&str>) -> (bool, String, String) {
    use std::io::Write;
    let mut child = Command::new("kubectl")
        .args(["--kubeconfig", kc])
        .args(args)
        .stdin(if stdin.is_some() {
            Stdio::piped()
        } else {
            Stdio::null()
        })
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("running kubectl");
    if let Some(text) = stdin {
        child
            .stdin
            .take()
            .unwrap()
            .write_all(text.as_bytes())
            .unwrap();
    }
    let out = child.wait_with_output().unwrap();
    (
        out.status.success(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

/// `kubectl get KIND -o json` items, or `None` when the kind is unknown to the server.
fn items(kc: &str, kind: &str) -> Option<Vec<Value>> {
    let (ok, out, _) = kubectl(kc, &["get", kind, "-o", "json"], None);
    if !ok {
        return None;
    }
    let v: Value = serde_json::from_str(&out).ok()?;
    v.get("items").and_then(Value::as_array).cloned()
}

fn str_at<'a>(v: &'a Value, pointer: &str) -> &'a str {
    v.pointer(pointer).and_then(Value::as_str).unwrap_or("")
}

/// `value`, or `(no WHAT)` when it is empty.
fn or_none(value: &str, what: &str) -> String {
    if value.is_empty() {
        format!("(no {what})")
    } else {
        value.to_owned()
    }
}

/// What one case shows: the facts a user would look at.
#[derive(Default)]
struct Seen {
    applied: String,
    pods: usize,
    bound: usize,
    running: usize,
    /// Nodes the bound pods are on.
    nodes: usize,
    /// Volcano Jobs: name and phase.
    jobs: Vec<String>,
    podgroups: Vec<String>,
    queues: Vec<String>,
}

impl Seen {
    fn look(kc: &str, applied: String) -> Self {
        let pods = items(kc, "pods").unwrap_or_default();
        let bound = pods
            .iter()
            .filter(|p| !str_at(p, "/spec/nodeName").is_empty())
            .count();
        let running = pods
            .iter()
            .filter(|p| str_at(p, "/status/phase") == "Running")
            .count();
        let nodes = pods
            .iter()
            .map(|p| str_at(p, "/spec/nodeName"))
            .filter(|n| !n.is_empty())
            .collect::<std::collections::BTreeSet<_>>()
            .len();
        let jobs = items(kc, "jobs.batch.volcano.sh")
            .unwrap_or_default()
            .iter()
            .map(|j| {
                format!(
                    "{} {}",
                    str_at(j, "/metadata/name"),
                    or_none(str_at(j, "/status/state/phase"), "phase")
                )
            })
            .collect();
        let podgroups = items(kc, "podgroups.scheduling.volcano.sh")
            .unwrap_or_default()
            .iter()
            .map(|g| {
                format!(
                    "min {} {}",
                    g.pointer("/spec/minMember")
                        .and_then(Value::as_i64)
                        .unwrap_or(0),
                    or_none(str_at(g, "/status/phase"), "phase")
                )
            })
            .collect();
        let queues = items(kc, "queues.scheduling.volcano.sh")
            .unwrap_or_default()
            .iter()
            .filter(|q| str_at(q, "/metadata/name").starts_with("team-"))
            .map(|q| {
                format!(
                    "{} {}",
                    str_at(q, "/metadata/name"),
                    or_none(str_at(q, "/status/state"), "state")
                )
            })
            .collect();
        Seen {
            applied,
            pods: pods.len(),
            bound,
            running,
            nodes,
            jobs,
            podgroups,
            queues,
        }
    }

    fn summary(&self, case: &Case) -> String {
        let mut parts = vec![self.applied.clone()];
        if case.file.starts_with("05") {
            parts.push(if self.queues.is_empty() {
                "no queues".into()
            } else {
                self.queues.join(", ")
            });
            return parts.join("; ");
        }
        parts.push(format!(
            "{} pod(s), {} bound ({} node(s)), {} Running",
            self.pods, self.bound, self.nodes, self.running
        ));
        if !self.jobs.is_empty() {
            let mut jobs = self.jobs.clone();
            jobs.sort();
            parts.push(format!("Jobs: {}", jobs.join(", ")));
        }
        if !self.podgroups.is_empty() {
            let mut pgs = self.podgroups.clone();
            pgs.sort();
            pgs.dedup();
            parts.push(format!("PodGroups: {}", pgs.join(", ")));
        }
        parts.join("; ")
    }

    /// The case's outcome is reached (no need to wait longer).
    fn settled(&self, case: &Case) -> bool {
        match &case.file[..2] {
            "05" => self.queues.len() == 3 && self.queues.iter().all(|q| q.ends_with(" Open")),
            "01" => self.running == 1,
            "02" => self.running == 4,
            "03" => self.running == 4,
            // Sixteen pods created and nothing moving: judged at the settle time.
            "04" => false,
            "07" => self.jobs.len() == 6 && self.jobs.iter().all(|j| j.ends_with(" Completed")),
            _ => false,
        }
    }
}

/// The manifest as this system's users would write it.
fn manifest(case: &Case, scheduler: &str) -> String {
    let text = std::fs::read_to_string(root().join("examples").join(case.file)).unwrap();
    text.replace(
        "schedulerName: basalt",
        &format!("schedulerName: {scheduler}"),
    )
}

fn first_line(text: &str) -> String {
    let line = text.lines().find(|l| !l.trim().is_empty()).unwrap_or("");
    // Long API errors name the field at the end: keep the head and the tail.
    let chars: Vec<char> = line.trim().chars().collect();
    if chars.len() > 200 {
        let head: String = chars[..80].iter().collect();
        let tail: String = chars[chars.len() - 110..].iter().collect();
        format!("{head} … {tail}")
    } else {
        chars.into_iter().collect()
    }
}

/// Deletes the case's objects and waits until no pod, Volcano Job or PodGroup is left (queues
/// stay), so the next case starts on an empty cluster.
fn clean(kc: &str, text: &str) {
    let _ = kubectl(
        kc,
        &["delete", "-f", "-", "--ignore-not-found", "--wait=false"],
        Some(text),
    );
    let _ = kubectl(
        kc,
        &["delete", "pods", "--all", "--grace-period=0", "--force"],
        None,
    );
    let left = || {
        [
            "pods",
            "jobs.batch.volcano.sh",
            "podgroups.scheduling.volcano.sh",
        ]
        .iter()
        .any(|kind| items(kc, kind).is_some_and(|i| !i.is_empty()))
    };
    let deadline = Instant::now() + Duration::from_secs(60);
    while Instant::now() < deadline && left() {
        std::thread::sleep(Duration::from_millis(500));
    }
}

fn run_system(system: &str, settle: Duration) -> Vec<String> {
    let base = std::env::temp_dir().join(format!("basalt-peers-article-{}", std::process::id()));
    let mut plane = Plane::start(base.join(system));
    let kubeconfig = plane.kubeconfig();
    let kc = kubeconfig.to_str().unwrap().to_owned();
    let (_, scheduler) = start_system(&mut plane, system);
    let scheduler = if system == "basalt" {
        "basalt"
    } else {
        scheduler
    };
    plane.spawn_nodes(4);
    let rt = tokio::runtime::Runtime::new().unwrap();
    let c = rt.block_on(client(&kubeconfig));
    rt.block_on(wait_nodes_ready(&c, 4, Duration::from_secs(180)));
    drop(rt);
    if system != "kube-scheduler" {
        wait_queue(&kc);
    }
    // Pods need the namespace's `default` ServiceAccount (kube-controller-manager makes it).
    let deadline = Instant::now() + Duration::from_secs(60);
    while !kubectl(&kc, &["get", "serviceaccount", "default"], None).0 {
        assert!(Instant::now() < deadline, "no default ServiceAccount");
        std::thread::sleep(Duration::from_millis(500));
    }
    let mut out = vec![];
    for case in CASES {
        let text = manifest(case, scheduler);
        let (ok, stdout, stderr) = kubectl(&kc, &["apply", "-f", "-"], Some(&text));
        let applied = if ok {
            format!("applied ({} object(s))", stdout.lines().count())
        } else {
            format!("refused: {}", first_line(&stderr))
        };
        let start = Instant::now();
        let seen = loop {
            let seen = Seen::look(&kc, applied.clone());
            // A refused manifest created nothing: one look is the outcome.
            // A flow runs six 10 s steps one after another: it gets twice the time.
            let limit = if case.file.starts_with("07") {
                settle * 2
            } else {
                settle
            };
            if !ok || seen.settled(case) || start.elapsed() >= limit {
                break seen;
            }
            std::thread::sleep(Duration::from_secs(1));
        };
        let summary = format!(
            "{} (after {:.0} s)",
            seen.summary(case),
            start.elapsed().as_secs_f64()
        );
        eprintln!("peers-article: {system}: {}: {summary}", case.name);
        out.push(summary);
        if !case.file.starts_with("05") {
            clean(&kc, &text);
        }
    }
    drop(plane);
    out
}

fn main() {
    let systems: String = env_or(
        "PEERS_SYSTEMS",
        "kube-scheduler,volcano,volcano-helm,basalt".to_owned(),
    );
    let settle = Duration::from_secs(env_or("PEERS_ARTICLE_SETTLE_SECS", 60));
    let systems: Vec<&str> = systems
        .split(',')
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .collect();
    let results: Vec<Vec<String>> = systems.iter().map(|s| run_system(s, settle)).collect();
    println!();
    println!("| case | the article wants | {} |", systems.join(" | "));
    println!("|---|---|{}", "---|".repeat(systems.len()));
    let mut rows = vec![];
    for (i, case) in CASES.iter().enumerate() {
        let cells: Vec<&str> = results.iter().map(|r| r[i].as_str()).collect();
        println!("| {} | {} | {} |", case.name, case.wants, cells.join(" | "));
        let mut row = json!({"case": case.name, "file": case.file, "wants": case.wants});
        for (s, cell) in systems.iter().zip(&cells) {
            row[*s] = json!(cell);
        }
        rows.push(row);
    }
    harness::write_results("article.json", &rows);
}
