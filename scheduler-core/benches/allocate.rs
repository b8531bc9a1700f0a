//! Allocate throughput and session time on synthetic clusters (issue #3's performance matrix).
//!
//! Nodes: 96 CPUs, 768Gi, 8 GPUs, 110 pods. Pending pods request 1 GPU, 4 CPUs and 16Gi, either
//! as single-pod jobs ("plain") or as 8-pod gangs (minMember 8). Prints placements per second
//! (binds / session time) and session time, where session time covers building the session
//! state, running `enqueue, allocate, backfill` with the default configuration, and closing.
//! Snapshot construction is the caller's and is not timed.
//!
//! Run: `cargo bench -p basalt-scheduler-core --bench allocate` (add `-- quick` for a subset).

use std::time::{Duration, Instant};

use scheduler_core::model::{Job, Node, Queue, Snapshot, Task};
use scheduler_core::{Resources, Scheduler};

const GI: i64 = 1 << 30;
const CONFIG: &str = include_str!("../../config/scheduler/basalt-default.yaml");

fn node() -> Node {
    Node {
        allocatable: Resources::cpu_mem_gpu(96_000, 768 * GI, 8),
        max_pods: Some(110),
        ..Node::default()
    }
}

fn cluster(nodes: usize, queues: usize) -> Snapshot {
    let mut s = Snapshot::default();
    for i in 0..nodes {
        s.nodes.insert(format!("node-{i:05}").into(), node());
    }
    for q in 0..queues {
        s.queues.insert(
            format!("queue-{q:02}").into(),
            Queue {
                creation: q as u64,
                ..Queue::open()
            },
        );
    }
    s
}

/// `pods` pending pods in jobs of `gang` pods each, spread round-robin over `queues`.
fn add_pending(s: &mut Snapshot, pods: usize, gang: usize, queues: usize, prefix: &str) {
    let req = Resources::cpu_mem_gpu(4000, 16 * GI, 1);
    for j in 0..pods / gang {
        let job = format!("{prefix}-{j:06}");
        let queue = format!("queue-{:02}", j % queues);
        s.jobs.insert(
            job.as_str().into(),
            Job {
                creation: j as u64,
                ..Job::new(queue, gang as u32)
            },
        );
        for t in 0..gang {
            let task = Task {
                creation: t as u64,
                ..Task::pending(job.as_str(), req.clone())
            };
            s.tasks.insert(format!("{job}-{t}").into(), task);
        }
    }
}

/// 10 running pods per node (2 CPUs, 8Gi; every other one holds a GPU), one job per node.
fn add_running(s: &mut Snapshot, per_node: usize) {
    let nodes: Vec<String> = s.nodes.keys().map(ToString::to_string).collect();
    for (n, name) in nodes.iter().enumerate() {
        let job = format!("running-{n:05}");
        s.jobs.insert(
            job.as_str().into(),
            Job::new(format!("queue-{:02}", n % 30), 1),
        );
        for k in 0..per_node {
            let req = Resources::cpu_mem_gpu(2000, 8 * GI, (k % 2) as i64);
            s.tasks.insert(
                format!("{job}-{k}").into(),
                Task::running(job.as_str(), req, name.as_str()),
            );
        }
    }
}

fn measure(scheduler: &Scheduler, snap: &Snapshot, runs: usize) -> (Duration, u32, u32) {
    let mut best = Duration::MAX;
    let mut binds = 0;
    let mut unschedulable = 0;
    for _ in 0..runs {
        let start = Instant::now();
        let r = scheduler
            .run(snap)
            .expect("synthetic snapshot is consistent");
        best = best.min(start.elapsed());
        binds = r.stats.binds;
        unschedulable = r.stats.unschedulable_jobs;
    }
    (best, binds, unschedulable)
}

fn main() {
    let quick = std::env::args().any(|a| a == "quick");
    let big_only = std::env::args().any(|a| a == "big");
    let unschedulable_only = std::env::args().any(|a| a == "unschedulable");
    let scheduler = Scheduler::from_yaml(CONFIG).expect("default config loads");
    println!("# allocate throughput (best of runs; default config: enqueue, allocate, backfill)");
    println!(
        "{:>6} {:>7} {:>6} {:>8} {:>13} {:>11} {:>14}",
        "nodes", "pending", "shape", "binds", "unsched.jobs", "session_ms", "placements/s"
    );
    let node_counts: &[usize] = if quick || unschedulable_only {
        &[500]
    } else {
        &[500, 5000]
    };
    let pending_counts: &[usize] = if unschedulable_only {
        &[50_000]
    } else if quick {
        &[1000, 10_000]
    } else {
        &[1000, 10_000, 50_000]
    };
    for &nodes in if big_only { &[][..] } else { node_counts } {
        for &pending in pending_counts {
            for (shape, gang) in [("plain", 1), ("gang8", 8)] {
                let mut snap = cluster(nodes, 1);
                add_pending(&mut snap, pending, gang, 1, "job");
                let runs = if pending >= 50_000 { 1 } else { 3 };
                let (t, binds, unsched) = measure(&scheduler, &snap, runs);
                let rate = f64::from(binds) / t.as_secs_f64();
                println!(
                    "{nodes:>6} {pending:>7} {shape:>6} {binds:>8} {unsched:>13} {:>11.1} {rate:>14.0}",
                    t.as_secs_f64() * 1e3
                );
            }
        }
    }
    if !quick && !unschedulable_only {
        println!(
            "\n# one session: 5,000 nodes, 50k running, 10k pending in 1,000 podgroups, 30 queues"
        );
        let mut snap = cluster(5000, 30);
        add_running(&mut snap, 10);
        let (t, _, _) = measure(&scheduler, &snap, 3);
        let start = Instant::now();
        let state = scheduler_core::session::State::build(&snap).expect("consistent");
        let build = start.elapsed();
        drop(state);
        println!(
            "fixed cost (no pending pods): session_ms {:.1} (state build {:.1})",
            t.as_secs_f64() * 1e3,
            build.as_secs_f64() * 1e3
        );
        add_pending(&mut snap, 10_000, 10, 30, "pg");
        let (t, binds, unsched) = measure(&scheduler, &snap, 3);
        println!(
            "session_ms {:.1}  binds {binds}  unschedulable_jobs {unsched}  tasks {}",
            t.as_secs_f64() * 1e3,
            snap.tasks.len()
        );
    }
}
