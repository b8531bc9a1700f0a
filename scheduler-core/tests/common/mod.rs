//! Shared builders for the integration tests.
#![allow(dead_code)]

use scheduler_core::model::{Job, Node, Queue, Snapshot, Task};
use scheduler_core::resources::{CPU, MEMORY, NVIDIA_GPU};
use scheduler_core::{Effect, Resources, Scheduler, SessionResult};

pub const DEFAULT_CONFIG: &str = include_str!("../../../config/scheduler/basalt-default.yaml");

pub const GI: i64 = 1 << 30;

/// One GPU pod's request: 1 GPU, 8 CPUs, 32Gi.
pub fn gpu_pod(gpus: i64) -> Resources {
    Resources::cpu_mem_gpu(8000 * gpus.max(1), 32 * GI * gpus.max(1), gpus)
}

pub struct Cluster {
    pub snap: Snapshot,
}

impl Cluster {
    pub fn new() -> Self {
        let mut snap = Snapshot::default();
        snap.queues.insert("default".into(), Queue::open());
        Self { snap }
    }

    /// A 96-CPU, 768Gi node with `gpus` GPUs of which `used` are taken by foreign pods.
    pub fn gpu_node(&mut self, name: &str, gpus: i64, used: i64) -> &mut Self {
        let node = Node {
            allocatable: Resources::cpu_mem_gpu(96_000, 768 * GI, gpus),
            used: Resources::new().with(NVIDIA_GPU, used),
            ..Node::default()
        };
        self.snap.nodes.insert(name.into(), node);
        self
    }

    pub fn cpu_node(&mut self, name: &str, cpu_millis: i64) -> &mut Self {
        let node = Node {
            allocatable: Resources::new().with(CPU, cpu_millis).with(MEMORY, 64 * GI),
            ..Node::default()
        };
        self.snap.nodes.insert(name.into(), node);
        self
    }

    /// A job `name` with `size` pending tasks `name-0..` requesting `req`, minMember `min`.
    pub fn gang(&mut self, name: &str, size: u32, min: u32, req: Resources) -> &mut Self {
        self.snap.jobs.insert(name.into(), Job::new("default", min));
        for i in 0..size {
            let task = Task {
                creation: u64::from(i),
                ..Task::pending(name, req.clone())
            };
            self.snap.tasks.insert(format!("{name}-{i}").into(), task);
        }
        self
    }

    pub fn job_mut(&mut self, name: &str) -> &mut Job {
        self.snap.jobs.get_mut(&name.into()).expect("job exists")
    }

    pub fn task_mut(&mut self, name: &str) -> &mut Task {
        self.snap.tasks.get_mut(&name.into()).expect("task exists")
    }

    pub fn run(&self) -> SessionResult {
        self.run_with(DEFAULT_CONFIG)
    }

    pub fn run_with(&self, yaml: &str) -> SessionResult {
        let scheduler = Scheduler::from_yaml(yaml).expect("config loads");
        scheduler.run(&self.snap).expect("snapshot is consistent")
    }
}

pub fn binds(r: &SessionResult) -> Vec<(String, String)> {
    r.effects
        .iter()
        .filter_map(|e| match e {
            Effect::Bind { task, node, .. } => Some((task.to_string(), node.to_string())),
            _ => None,
        })
        .collect()
}

pub fn explanations(r: &SessionResult) -> Vec<String> {
    r.effects
        .iter()
        .filter_map(|e| match e {
            Effect::Explanation(x) => Some(x.to_string()),
            _ => None,
        })
        .collect()
}
