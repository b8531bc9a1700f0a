//! Synthetic saturated clusters and the session timer shared by the `allocate` bench and the CI
//! `throughput_guard` bench (issue #23).
//!
//! Nodes: 96 CPUs, 768Gi, 110 pods and 8 A100-80GB cards (an inventory deviceshare accounts).
//! Shapes of pending pods, one queue, default configuration (deviceshare and loadaware on):
//! `plain` (1 GPU, 4 CPUs, 16Gi; single-pod jobs), `gang8` (8 such pods, minMember 8), `whole8`
//! (8 GPUs, 32 CPUs, 128Gi: a whole node), `frac` (one vGPU with 4Gi of card memory and 25 % of
//! its cores, 1 CPU, 4Gi: four per card, 32 per node). Capacity is the number of pods of that
//! shape an empty cluster takes.

#![allow(dead_code)] // each bench binary uses part of it

use std::time::{Duration, Instant};

use scheduler_core::model::gpu::{self, VGPU_CORES, VGPU_MEMORY};
use scheduler_core::model::{GpuDevice, Job, Node, Queue, Snapshot, Task};
use scheduler_core::{Resources, Scheduler};

pub const GI: i64 = 1 << 30;
pub const CONFIG: &str = include_str!("../../../config/scheduler/basalt-default.yaml");

/// A pending-pod shape.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Shape {
    Plain,
    Gang8,
    Whole8,
    Frac,
}

impl Shape {
    pub const ALL: [Shape; 4] = [Shape::Plain, Shape::Gang8, Shape::Whole8, Shape::Frac];

    pub fn name(self) -> &'static str {
        match self {
            Shape::Plain => "plain",
            Shape::Gang8 => "gang8",
            Shape::Whole8 => "whole8",
            Shape::Frac => "frac",
        }
    }

    fn request(self) -> Resources {
        match self {
            Shape::Plain | Shape::Gang8 => Resources::cpu_mem_gpu(4000, 16 * GI, 1),
            Shape::Whole8 => Resources::cpu_mem_gpu(32_000, 128 * GI, 8),
            Shape::Frac => Resources::parse([
                ("cpu", "1"),
                ("memory", "4Gi"),
                (VGPU_MEMORY, "4Gi"),
                (VGPU_CORES, "25"),
            ])
            .expect("valid quantities"),
        }
    }

    fn gang(self) -> usize {
        if self == Shape::Gang8 { 8 } else { 1 }
    }

    /// Pods of this shape an empty node takes.
    pub fn per_node(self) -> usize {
        match self {
            Shape::Plain | Shape::Gang8 => 8,
            Shape::Whole8 => 1,
            Shape::Frac => 32,
        }
    }
}

fn node(name: &str) -> Node {
    let gpus: Vec<GpuDevice> = (0..8)
        .map(|i| GpuDevice {
            uuid: format!("GPU-{name}-{i}"),
            index: i,
            memory_mib: 80 * 1024,
            cores: 100,
            model: "NVIDIA-A100-SXM4-80GB".into(),
            healthy: true,
        })
        .collect();
    let mut allocatable = Resources::cpu_mem_gpu(96_000, 768 * GI, 8);
    gpu::merge_share_allocatable(&mut allocatable, &gpus);
    Node {
        allocatable,
        max_pods: Some(110),
        gpus,
        ..Node::default()
    }
}

/// `nodes` empty GPU nodes, one open queue, `pending` pods of `shape`.
pub fn saturated(nodes: usize, pending: usize, shape: Shape) -> Snapshot {
    let mut s = Snapshot::default();
    for i in 0..nodes {
        let name = format!("node-{i:05}");
        s.nodes.insert(name.as_str().into(), node(&name));
    }
    s.queues.insert("queue-00".into(), Queue::open());
    let req = shape.request();
    let gang = shape.gang();
    for j in 0..pending / gang {
        let job = format!("job-{j:06}");
        s.jobs.insert(
            job.as_str().into(),
            Job {
                creation: j as u64,
                ..Job::new("queue-00", gang as u32)
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
    s
}

/// CPU time of this thread in ns (Linux `schedstat`): on a shared 2-core machine wall time
/// mostly measures the neighbours' builds.
pub fn thread_cpu_ns() -> Option<u64> {
    let text = std::fs::read_to_string("/proc/thread-self/schedstat").ok()?;
    text.split_whitespace().next()?.parse().ok()
}

/// One measured session (best of several runs).
pub struct Measured {
    pub wall: Duration,
    /// CPU time; `None` when the session was under 50 ms (schedstat is too coarse there).
    pub cpu: Option<Duration>,
    pub binds: u32,
    pub unschedulable: u32,
}

impl Measured {
    /// CPU time, or wall time for short sessions.
    pub fn time(&self) -> Duration {
        self.cpu.unwrap_or(self.wall)
    }

    /// Binds per second of [`Self::time`].
    pub fn rate(&self) -> f64 {
        f64::from(self.binds) / self.time().as_secs_f64()
    }
}

/// Best of `runs` (by CPU time when available, else wall time). Times cover state build, every
/// configured action and close; building the snapshot is not timed.
pub fn measure(scheduler: &Scheduler, snap: &Snapshot, runs: usize) -> Measured {
    let mut best: Option<Measured> = None;
    for _ in 0..runs {
        let cpu0 = thread_cpu_ns();
        let start = Instant::now();
        let r = scheduler
            .run(snap)
            .expect("synthetic snapshot is consistent");
        let wall = start.elapsed();
        // schedstat advances at scheduler ticks (a few ms): too coarse for short sessions.
        let cpu = cpu0
            .zip(thread_cpu_ns())
            .map(|(a, b)| Duration::from_nanos(b.saturating_sub(a)))
            .filter(|_| wall >= Duration::from_millis(50));
        let m = Measured {
            wall,
            cpu,
            binds: r.stats.binds,
            unschedulable: r.stats.unschedulable_jobs,
        };
        if best.as_ref().is_none_or(|b| m.time() < b.time()) {
            best = Some(m);
        }
    }
    best.expect("at least one run")
}

/// The 1-minute load average, for the record.
pub fn load_average() -> String {
    std::fs::read_to_string("/proc/loadavg")
        .ok()
        .and_then(|t| t.split_whitespace().next().map(str::to_owned))
        .unwrap_or_else(|| "?".into())
}
