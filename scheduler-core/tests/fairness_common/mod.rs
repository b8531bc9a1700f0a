//! Multi-session driver for the fairness tests: apply binds and evictions to the snapshot the
//! way the shell would (an evicted pod comes back Pending, as its Job controller recreates it).
#![allow(dead_code)]

use scheduler_core::model::{Job, JobPhase, Node, Queue, Snapshot, Task, TaskStatus};
use scheduler_core::resources::NVIDIA_GPU;
use scheduler_core::{Effect, Resources, Scheduler, SessionResult};

pub const DEFAULT_CONFIG: &str = include_str!("../../../config/scheduler/basalt-default.yaml");
pub const GI: i64 = 1 << 30;

/// The default's reclaim block (a one-hour `minRunTime`).
pub const DEFAULT_RECLAIM_BLOCK: &str =
    "configurations:\n- name: reclaim\n  arguments:\n    minRunTime: 1h\n";

/// The default configuration without reclaim's one-hour `minRunTime`, for tests of the time
/// rules' mechanics (they add their own arguments or annotations).
pub fn default_without_reclaim_min_run_time() -> String {
    assert!(
        DEFAULT_CONFIG.contains(DEFAULT_RECLAIM_BLOCK),
        "the default's reclaim block changed"
    );
    DEFAULT_CONFIG.replace(DEFAULT_RECLAIM_BLOCK, "")
}

pub fn gpu(n: i64) -> Resources {
    Resources::cpu_mem_gpu(8000 * n, 32 * GI * n, n)
}

/// `nodes` nodes of 8 GPUs and queues `team-a/b/c` (weight 1, `cap` GPUs, reclaimable).
pub fn teams(nodes: usize, cap: i64) -> Snapshot {
    let mut snap = Snapshot::default();
    for i in 0..nodes {
        snap.nodes.insert(
            format!("n{i}").into(),
            Node {
                allocatable: Resources::cpu_mem_gpu(96_000, 768 * GI, 8),
                ..Node::default()
            },
        );
    }
    for (i, t) in ["team-a", "team-b", "team-c"].iter().enumerate() {
        let q = Queue {
            capability: Some(Resources::new().with(NVIDIA_GPU, cap)),
            creation: i as u64,
            ..Queue::open()
        };
        snap.queues.insert((*t).into(), q);
    }
    snap
}

/// Team `queue` submits a job `name` of `pods` one-GPU pods (minMember 1).
pub fn submit(snap: &mut Snapshot, queue: &str, name: &str, pods: u32, creation: u64) {
    let job = Job {
        creation,
        ..Job::new(queue, 1)
    };
    snap.jobs.insert(name.into(), job);
    for i in 0..pods {
        let t = Task {
            creation: creation + u64::from(i),
            ..Task::pending(name, gpu(1))
        };
        snap.tasks.insert(format!("{name}/{i:03}").into(), t);
    }
}

/// Applies a session's binds, evictions and phases; returns (binds, evictions).
pub fn apply(snap: &mut Snapshot, r: &SessionResult) -> (u32, u32) {
    let (mut b, mut e) = (0, 0);
    for eff in &r.effects {
        match eff {
            Effect::Bind { task, node, .. } => {
                let t = snap.tasks.get_mut(task).expect("bound task exists");
                t.status = TaskStatus::Running;
                t.node = Some(node.clone());
                b += 1;
            }
            Effect::Evict { task, .. } => {
                let t = snap.tasks.get_mut(task).expect("evicted task exists");
                t.status = TaskStatus::Pending;
                t.node = None;
                e += 1;
            }
            Effect::PodGroupStatus { job, phase, .. } => {
                if let Some(j) = snap.jobs.get_mut(job) {
                    j.phase = *phase;
                }
            }
            _ => {}
        }
    }
    (b, e)
}

/// Runs sessions until one binds and evicts nothing; returns the total evictions.
pub fn settle(snap: &mut Snapshot, s: &Scheduler) -> u32 {
    let mut evicted = 0;
    for _ in 0..20 {
        let r = s.run(snap).expect("consistent snapshot");
        let (b, e) = apply(snap, &r);
        evicted += e;
        if b == 0 && e == 0 {
            return evicted;
        }
    }
    panic!("no steady state after 20 sessions (eviction cycle?)");
}

/// Running GPUs per queue.
pub fn running(snap: &Snapshot, queue: &str) -> i64 {
    snap.tasks
        .values()
        .filter(|t| t.status == TaskStatus::Running)
        .filter(|t| snap.jobs[&t.job].queue.as_str() == queue)
        .map(|t| t.requests.get(NVIDIA_GPU))
        .sum()
}

/// Jain's fairness index of `xs`.
pub fn jain(xs: &[f64]) -> f64 {
    let s: f64 = xs.iter().sum();
    let sq: f64 = xs.iter().map(|x| x * x).sum();
    s * s / (xs.len() as f64 * sq)
}

pub fn set_phase(snap: &mut Snapshot, job: &str, phase: JobPhase) {
    snap.jobs.get_mut(&job.into()).expect("job").phase = phase;
}
