//! Reclaim benchmark (performance.md §6.1 shape): 500 nodes × 8 GPUs, 4,000 running 1-GPU pods
//! in queues `a` and `b` (2,000 each), 4,000 pending 1-GPU pods in queue `c`, which is owed a
//! third of the cluster. One session of Basalt's default configuration (enqueue, allocate,
//! preempt, reclaim, backfill). Prints wall time, evictions and peak RSS (VmHWM; the snapshot
//! is built before the first measurement, so the figure covers snapshot + session).
//! Target: ≤ 1 s and ≤ 200 MB.

use std::time::Instant;

use scheduler_core::model::{Job, Node, Queue, Snapshot, Task};
use scheduler_core::{Resources, Scheduler};

const DEFAULT: &str = include_str!("../../config/scheduler/basalt-default.yaml");
const GI: i64 = 1 << 30;

fn gpu() -> Resources {
    Resources::cpu_mem_gpu(4000, 16 * GI, 1)
}

fn snapshot() -> Snapshot {
    let mut s = Snapshot::default();
    for q in ["a", "b", "c"] {
        s.queues.insert(q.into(), Queue::open());
    }
    for n in 0..500 {
        s.nodes.insert(
            format!("node-{n:03}").into(),
            Node {
                allocatable: Resources::cpu_mem_gpu(96_000, 768 * GI, 8),
                ..Node::default()
            },
        );
    }
    for i in 0..4000usize {
        let q = if i % 2 == 0 { "a" } else { "b" };
        let job = format!("{q}/job-{i:04}");
        s.jobs.insert(job.as_str().into(), Job::new(q, 1));
        let node = format!("node-{:03}", i / 8);
        s.tasks.insert(
            format!("{job}-0").into(),
            Task {
                creation: i as u64,
                ..Task::running(job.as_str(), gpu(), node.as_str())
            },
        );
        let job = format!("c/job-{i:04}");
        s.jobs.insert(job.as_str().into(), Job::new("c", 1));
        s.tasks.insert(
            format!("{job}-0").into(),
            Task {
                creation: 10_000 + i as u64,
                ..Task::pending(job.as_str(), gpu())
            },
        );
    }
    s
}

fn peak_rss_mb() -> Option<f64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|l| l.starts_with("VmHWM:"))?;
    let kb: f64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kb / 1024.0)
}

/// The product's allocator (docs/ARCHITECTURE.md, "Memory allocator"): benches measure what ships.
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() {
    let scheduler = Scheduler::from_yaml(DEFAULT).expect("default config loads");
    let snap = snapshot();
    let mut best = f64::MAX;
    let mut evictions = 0;
    let mut pipelined = 0;
    for _ in 0..3 {
        let start = Instant::now();
        let r = scheduler.run(&snap).expect("consistent snapshot");
        best = best.min(start.elapsed().as_secs_f64());
        evictions = r.stats.evictions;
        pipelined = r.stats.pipelined;
    }
    println!(
        "reclaim session: 500 nodes, 4000 running (a, b), 4000 pending (c): best of 3 {:.3} s, \
         {evictions} evictions, {pipelined} pipelined, peak RSS {:.0} MB",
        best,
        peak_rss_mb().unwrap_or(f64::NAN)
    );
}
