//! `basalt why` on a 5,000-node, 50,000-pod cluster (issue 20's target: ≤ 1 s): the dry-run
//! snapshot from Kubernetes objects, one session, then the what-if sessions that look for an
//! unblocker. The cluster is full (40,000 one-GPU pods of 5,000 running 8-pod jobs on 5,000
//! 8-GPU nodes) with 10,000 pending pods in 1,250 admitted 8-pod gangs across 10 queues; the job
//! asked about is one more admitted gang of 2 × 4 GPUs. Any running job's end frees 8 GPUs, so
//! no what-if is refuted by arithmetic and all eight what-if sessions run, and each finds the
//! freed node taken by an earlier gang (the worst case). Listing the objects from the API server
//! is not timed here (see docs/cli.md). CPU columns: the snapshot and the session on this
//! thread; the what-ifs and the whole answer (dropping the snapshot included) over all threads,
//! in 10 ms ticks.
//!
//! `cargo bench -p basalt --bench why`

#[path = "../src/cli/session.rs"]
#[allow(dead_code)]
mod session;

use std::time::{Duration, Instant};

use crds::podgroup::PodGroup;
use crds::queue::Queue;
use k8s_openapi::api::core::v1::{Node, Pod};
use serde_json::json;

const NODES: usize = 5_000;
const GPUS: usize = 8;
const PENDING_GANGS: usize = 1_250;
const QUEUES: usize = 10;

fn thread_cpu() -> Option<Duration> {
    let text = std::fs::read_to_string("/proc/thread-self/schedstat").ok()?;
    Some(Duration::from_nanos(
        text.split_whitespace().next()?.parse().ok()?,
    ))
}

/// CPU time of the whole process (every thread), from `/proc/self/stat` (clock ticks, 10 ms).
fn process_cpu() -> Option<Duration> {
    let text = std::fs::read_to_string("/proc/self/stat").ok()?;
    // Fields after the command name (which is in parentheses): utime and stime are 14 and 15.
    let rest = text.rsplit_once(')')?.1;
    let fields: Vec<&str> = rest.split_whitespace().collect();
    let ticks: u64 = fields.get(11)?.parse::<u64>().ok()? + fields.get(12)?.parse::<u64>().ok()?;
    Some(Duration::from_millis(ticks * 10))
}

fn from<T: serde::de::DeserializeOwned>(v: serde_json::Value) -> T {
    serde_json::from_value(v).expect("synthetic object deserializes")
}

fn pod(name: &str, group: &str, gpus: usize, node: Option<&str>) -> Pod {
    let status = match node {
        Some(_) => json!({"phase": "Running", "startTime": "2026-12-06T00:00:00Z"}),
        None => json!({"phase": "Pending"}),
    };
    from(json!({
        "metadata": {"name": name, "namespace": "bench", "creationTimestamp": "2026-12-06T00:00:00Z",
            "annotations": {"scheduling.k8s.io/group-name": group}},
        "spec": {"schedulerName": "volcano", "nodeName": node, "containers": [{"name": "c",
            "resources": {"limits": {"nvidia.com/gpu": gpus.to_string(), "cpu": "4", "memory": "32Gi"}}}]},
        "status": status,
    }))
}

fn podgroup(name: &str, queue: usize, min: usize, phase: &str) -> PodGroup {
    from(json!({
        "apiVersion": "scheduling.volcano.sh/v1beta1", "kind": "PodGroup",
        "metadata": {"name": name, "namespace": "bench", "creationTimestamp": "2026-12-06T00:00:00Z"},
        "spec": {"minMember": min, "queue": format!("q{queue}")},
        "status": {"phase": phase},
    }))
}

fn objects() -> session::Objects {
    let nodes: Vec<Node> = (0..NODES)
        .map(|i| {
            from(json!({
                "metadata": {"name": format!("node-{i:05}")},
                "status": {"allocatable": {"nvidia.com/gpu": GPUS.to_string(), "cpu": "96",
                    "memory": "768Gi", "pods": "110"}},
            }))
        })
        .collect();
    let mut pods = Vec::new();
    let mut podgroups = Vec::new();
    for n in 0..NODES {
        let group = format!("run-{n:05}");
        podgroups.push(podgroup(&group, n % QUEUES, GPUS, "Running"));
        let node = format!("node-{n:05}");
        for k in 0..GPUS {
            pods.push(pod(&format!("{group}-{k}"), &group, 1, Some(&node)));
        }
    }
    for g in 0..PENDING_GANGS {
        let group = format!("wait-{g:05}");
        podgroups.push(podgroup(&group, g % QUEUES, 8, "Inqueue"));
        for k in 0..8 {
            pods.push(pod(&format!("{group}-{k}"), &group, 1, None));
        }
    }
    podgroups.push(podgroup("asked", 0, 2, "Inqueue"));
    for k in 0..2 {
        pods.push(pod(&format!("asked-{k}"), "asked", 4, None));
    }
    let queues = (0..QUEUES)
        .map(|q| {
            from(json!({
                "apiVersion": "scheduling.volcano.sh/v1beta1", "kind": "Queue",
                "metadata": {"name": format!("q{q}")},
                "spec": {"weight": 1, "parent": "root"},
                "status": {"state": "Open"},
            }))
        })
        .chain(std::iter::once(from::<Queue>(json!({
            "apiVersion": "scheduling.volcano.sh/v1beta1", "kind": "Queue",
            "metadata": {"name": "root"}, "spec": {"weight": 1}, "status": {"state": "Open"},
        }))))
        .collect();
    session::Objects {
        pods,
        nodes,
        podgroups,
        queues,
        priority_classes: Vec::new(),
    }
}

/// The product's allocator (docs/ARCHITECTURE.md, "Memory allocator"): benches measure what ships.
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() {
    let objects = objects();
    println!(
        "basalt why: {} nodes, {} pods, {} podgroups, {} queues (load average {})",
        objects.nodes.len(),
        objects.pods.len(),
        objects.podgroups.len(),
        objects.queues.len(),
        std::fs::read_to_string("/proc/loadavg")
            .ok()
            .and_then(|t| t.split_whitespace().next().map(str::to_owned))
            .unwrap_or_default()
    );
    let scheduler =
        scheduler_core::Scheduler::from_yaml(controllers::scheduler::config::DEFAULT_CONFIG)
            .expect("default config");
    let names = vec!["volcano".to_owned(), "basalt".to_owned()];
    let job = scheduler_core::JobId::new("bench/asked");
    println!(
        "run  snapshot_cpu_ms  session_cpu_ms  what_if_cpu_ms  what_if_wall_ms  found  total_cpu_ms  total_wall_ms  (what-ifs run on {} threads)",
        std::thread::available_parallelism().map_or(1, std::num::NonZero::get)
    );
    for run in 0..3 {
        let wall = Instant::now();
        let p0 = process_cpu();
        let c0 = thread_cpu();
        let snap = session::snapshot(&objects, &names, 1_765_000_000_000);
        let c1 = thread_cpu();
        let verdict = session::verdict(&snap, &scheduler, &job).expect("session runs");
        let c2 = thread_cpu();
        assert!(
            !verdict.placed(),
            "the asked job must be blocked: {verdict:?}"
        );
        let w2 = Instant::now();
        let p2 = process_cpu();
        let found = session::unblockers(&snap, &scheduler, &job, |j| j.to_string());
        let what_if_wall = w2.elapsed();
        let p3 = process_cpu();
        drop(snap);
        let p4 = process_cpu();
        let ms = |a: Option<Duration>, b: Option<Duration>| {
            a.zip(b).map_or("?".into(), |(a, b)| {
                format!("{:.0}", (b - a).as_secs_f64() * 1e3)
            })
        };
        println!(
            "{run:>3}  {:>15}  {:>14}  {:>14}  {:>15.0}  {:>5}  {:>12}  {:>13.0}",
            ms(c0, c1),
            ms(c1, c2),
            ms(p2, p3),
            what_if_wall.as_secs_f64() * 1e3,
            found.len(),
            ms(p0, p4),
            wall.elapsed().as_secs_f64() * 1e3
        );
    }
}
