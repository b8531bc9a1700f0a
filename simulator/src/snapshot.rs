//! Translation from the simulated world to scheduler-core's [`Snapshot`]: nodes from the cluster
//! spec, one PodGroup per job and one task per pod, tenants as queues. Production builds the same
//! structure from informer caches (controllers); this module is the simulator's side of that
//! contract and must not make scheduling decisions of its own.
//!
//! Fractional-GPU pods ask for one whole `nvidia.com/gpu` here (as with the stock device plugin).
//! Nodes carry their card inventory and node-level sharing totals, and a bound task keeps its
//! bind annotations (the engine copies them), so deviceshare charges the cards it chose.

use scheduler_core::resources::{CPU, MEMORY, NVIDIA_GPU};
use scheduler_core::{
    GpuDevice, Job, JobId, JobPhase, Node, NodeId, Queue, QueueId, Resources, Task, TaskId,
};

use crate::cluster::NodeSpec;
use crate::workload::{JobSpec, Tenant};

/// The queue every job goes to under a single-queue policy.
pub const SINGLE_QUEUE: &str = "default";

/// The snapshot node for a node spec.
pub fn node(spec: &NodeSpec) -> Node {
    let mut labels = spec.labels.clone();
    labels.insert("kubernetes.io/hostname".into(), spec.name.clone());
    labels
        .entry("gpu-card-model".into())
        .or_insert_with(|| spec.gpu_model.clone());
    let gpus: Vec<GpuDevice> = (0..spec.gpus)
        .map(|i| GpuDevice {
            uuid: format!("GPU-{}-{i}", spec.name),
            index: i,
            memory_mib: spec.gpu_memory_mib,
            cores: 100,
            model: spec.gpu_model.clone(),
            healthy: true,
        })
        .collect();
    let mut allocatable = Resources::new()
        .with(CPU, spec.cpu_milli)
        .with(MEMORY, spec.memory_bytes)
        .with(NVIDIA_GPU, i64::from(spec.gpus));
    // Node-level totals of the sharing resources; deviceshare checks each card.
    scheduler_core::model::gpu::merge_share_allocatable(&mut allocatable, &gpus);
    Node {
        allocatable,
        used: Resources::new(),
        labels,
        taints: spec.taints.clone(),
        unschedulable: false,
        max_pods: None,
        pod_count: 0,
        gpus,
        host_ports: Vec::new(),
    }
}

/// The queue for a tenant.
pub fn queue(tenant: &Tenant, creation: u64) -> Queue {
    Queue {
        weight: tenant.weight.max(1),
        capability: tenant
            .capability_gpus
            .map(|g| Resources::new().with(NVIDIA_GPU, i64::from(g))),
        creation,
        ..Queue::open()
    }
}

/// The requests of one pod of `job`.
pub fn pod_requests(job: &JobSpec) -> Resources {
    Resources::new()
        .with(CPU, job.cpu_milli)
        .with(MEMORY, job.memory_bytes)
        .with(NVIDIA_GPU, i64::from(job.gpus_per_pod))
}

/// Ids of a job and its pods: `<namespace>/<job>` and `<namespace>/<job>-<i>`.
pub fn ids(job: &JobSpec, namespace: &str) -> (JobId, Vec<TaskId>) {
    let jid = JobId::new(format!("{namespace}/{}", job.name));
    let tids = (0..job.pods)
        .map(|i| TaskId::new(format!("{namespace}/{}-{i}", job.name)))
        .collect();
    (jid, tids)
}

/// The PodGroup of a freshly submitted job (phase Pending: the enqueue action admits it).
pub fn pod_group(job: &JobSpec, queue: &QueueId, creation: u64) -> Job {
    let mut pg = Job::new(queue.clone(), if job.gang { job.pods } else { 1 });
    pg.phase = JobPhase::Pending;
    pg.priority = job.priority;
    pg.creation = creation;
    if let Some(ms) = job.declared_runtime_ms {
        pg.annotations.insert(
            scheduler_core::model::reservation::EXPECTED_RUNTIME_ANNOTATION.into(),
            format!("{ms}ms"),
        );
    }
    pg.min_resources = job.gang.then(|| {
        let mut r = Resources::new();
        for _ in 0..job.pods {
            r.add(&pod_requests(job));
        }
        r
    });
    pg
}

/// A pending pod of `job`.
pub fn pod(job: &JobSpec, jid: &JobId, namespace: &str, creation: u64) -> Task {
    let mut t = Task::pending(jid.clone(), pod_requests(job));
    t.namespace = namespace.to_owned();
    t.priority = job.priority;
    t.creation = creation;
    t.role = Some("worker".into());
    if !job.gpu_models.is_empty() && job.gpus_per_pod > 0 {
        t.constraints.required_affinity = vec![scheduler_core::model::NodeAffinityTerm {
            match_expressions: vec![scheduler_core::model::NodeSelectorRequirement {
                key: "gpu-card-model".into(),
                operator: scheduler_core::model::NodeSelectorOperator::In,
                values: job.gpu_models.clone(),
            }],
            match_fields: Vec::new(),
        }];
    }
    t
}

/// Node ids in spec order.
pub fn node_ids(nodes: &[NodeSpec]) -> Vec<NodeId> {
    nodes.iter().map(|n| NodeId::new(n.name.clone())).collect()
}
