//! Nodes, tasks (pods), jobs (PodGroups) and queues as the session sees them.

use std::collections::{BTreeMap, BTreeSet};

use serde::{Deserialize, Serialize};

use super::placement::{Constraints, HostPort, Taint};
use crate::ids::{JobId, NodeId, QueueId, TaskId};
use crate::resources::Resources;

/// Everything one session decides over.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct Snapshot {
    /// Nodes by name.
    pub nodes: BTreeMap<NodeId, Node>,
    /// Pods by `namespace/name`.
    pub tasks: BTreeMap<TaskId, Task>,
    /// PodGroups by `namespace/name`.
    pub jobs: BTreeMap<JobId, Job>,
    /// Queues by name.
    pub queues: BTreeMap<QueueId, Queue>,
    /// The session's clock in ms (same epoch as `creation`), set by the shell. `None` disables
    /// the time rules of preempt and reclaim (minimum run time, preemption delay).
    #[serde(default)]
    pub now: Option<u64>,
    /// When running tasks started (pod `status.startTime`, ms); a task missing here counts as
    /// started at its `creation`.
    #[serde(default)]
    pub started: BTreeMap<TaskId, u64>,
    /// Measured usage per node (loadaware); a node missing here has no usage data.
    #[serde(default)]
    pub node_usage: BTreeMap<NodeId, super::usage::NodeUsage>,
    /// Reservations the previous session made (the shell reads them back from the PodGroups'
    /// `basalt.dev/reservation` annotation), so a reservation keeps its nodes across sessions.
    #[serde(default)]
    pub reservations: BTreeMap<JobId, super::reservation::Reservation>,
    /// Expected run time per job in ms when the shell knows one the PodGroup annotations do not
    /// carry (e.g. the Volcano Job's or pod's `activeDeadlineSeconds`).
    #[serde(default)]
    pub expected_runtime: BTreeMap<JobId, u64>,
    /// Per-queue run-time estimate in ms learned from finished jobs (used when a job declares
    /// nothing).
    #[serde(default)]
    pub queue_runtime: BTreeMap<QueueId, u64>,
    /// Pods of a job held back by scheduling gates (Kubernetes' `spec.schedulingGates`). They are
    /// not in [`Snapshot::tasks`], so no action can place them; the session only reports them
    /// in the job's `Unschedulable` condition while the gang is not ready.
    #[serde(default)]
    pub gated: BTreeMap<JobId, GatedPods>,
}

/// A job's pods that wait for their scheduling gates to be removed.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct GatedPods {
    /// How many pods are gated.
    pub pods: u32,
    /// The gate names, over all of them.
    pub gates: BTreeSet<String>,
    /// Σ of their requests: an admitted job's claim on its queue and on the cluster leaves
    /// them out until their gates go (Volcano's `DeductSchGatedResources`).
    #[serde(default, skip_serializing_if = "Resources::is_empty")]
    pub requests: Resources,
}

/// A schedulable node.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct Node {
    /// `status.allocatable`.
    pub allocatable: Resources,
    /// Usage by pods that are *not* in [`Snapshot::tasks`] (other schedulers, daemons). Tasks in
    /// the snapshot that occupy this node are added by the session.
    pub used: Resources,
    /// Labels, for nodeSelector and node affinity.
    pub labels: BTreeMap<String, String>,
    /// Taints.
    pub taints: Vec<Taint>,
    /// `spec.unschedulable` (cordoned).
    pub unschedulable: bool,
    /// Maximum pods (`allocatable.pods`); `None` means unlimited.
    pub max_pods: Option<u32>,
    /// Pods on the node that are *not* in [`Snapshot::tasks`].
    pub pod_count: u32,
    /// Per-GPU inventory. Filled and accounted by the deviceshare plugin; the core only carries it.
    pub gpus: Vec<GpuDevice>,
    /// Host ports bound by pods that are *not* in [`Snapshot::tasks`].
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub host_ports: Vec<HostPort>,
}

/// One physical GPU on a node.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct GpuDevice {
    /// Device UUID as reported by the device plugin.
    pub uuid: String,
    /// Index on the node (0-based).
    pub index: u32,
    /// Device memory in MiB.
    pub memory_mib: u64,
    /// Compute share in percent of the card (100 for a whole card).
    pub cores: u32,
    /// Model name, e.g. `NVIDIA-A100-SXM4-80GB`.
    pub model: String,
    /// False when the device plugin reports the card unhealthy.
    pub healthy: bool,
}

/// Lifecycle of a task inside the scheduler (Volcano's `TaskStatus`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub enum TaskStatus {
    /// Waiting for a node.
    Pending,
    /// Assigned a node in this session, not yet bound.
    Allocated,
    /// Reserved on resources that are being released; not bound.
    Pipelined,
    /// Bind requested.
    Binding,
    /// Bound to a node.
    Bound,
    /// Running on a node.
    Running,
    /// Being evicted or deleted; still holds its resources.
    Releasing,
    /// Finished successfully.
    Succeeded,
    /// Finished unsuccessfully.
    Failed,
}

impl TaskStatus {
    /// Holds resources on its node (counted in the node's `used`).
    pub fn occupies_node(self) -> bool {
        matches!(
            self,
            Self::Allocated | Self::Binding | Self::Bound | Self::Running | Self::Releasing
        )
    }

    /// Counts as ready for gang purposes (Volcano `ReadyTaskNum`).
    pub fn is_ready(self) -> bool {
        matches!(
            self,
            Self::Allocated | Self::Binding | Self::Bound | Self::Running | Self::Succeeded
        )
    }

    /// Counts as allocated for queue accounting (Volcano `AllocatedStatus`).
    pub fn is_allocated(self) -> bool {
        matches!(
            self,
            Self::Allocated | Self::Binding | Self::Bound | Self::Running
        )
    }

    /// Counts towards a gang's valid members (Volcano `ValidTaskNum`).
    pub fn is_valid_member(self) -> bool {
        !matches!(self, Self::Releasing | Self::Failed)
    }
}

/// A pod.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Task {
    /// The PodGroup it belongs to. Pods without one get a single-member job from the caller.
    pub job: JobId,
    /// Namespace (conformance's `kube-system` rule; pod affinity's namespace scope).
    pub namespace: String,
    /// Pod labels (matched by other pods' affinity and anti-affinity terms).
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub labels: BTreeMap<String, String>,
    /// Task (role) name inside the job, e.g. `worker`; used by `minTaskMember`.
    pub role: Option<String>,
    /// Sum of container requests in canonical units.
    pub requests: Resources,
    /// nodeSelector, required node affinity and tolerations.
    pub constraints: Constraints,
    /// Pod priority value.
    pub priority: i32,
    /// `spec.priorityClassName`.
    pub priority_class: Option<String>,
    /// `volcano.sh/preemptable` (default true).
    pub preemptable: bool,
    /// Scheduler status.
    pub status: TaskStatus,
    /// Node the task is on or reserved on.
    pub node: Option<NodeId>,
    /// Pod annotations.
    pub annotations: BTreeMap<String, String>,
    /// Creation order (e.g. creation timestamp in ms); ties break by id.
    pub creation: u64,
}

impl Task {
    /// A pending task of `job` with `requests` and defaults elsewhere.
    pub fn pending(job: impl Into<JobId>, requests: Resources) -> Self {
        Self {
            job: job.into(),
            namespace: "default".to_owned(),
            labels: BTreeMap::new(),
            role: None,
            requests,
            constraints: Constraints::default(),
            priority: 0,
            priority_class: None,
            preemptable: true,
            status: TaskStatus::Pending,
            node: None,
            annotations: BTreeMap::new(),
            creation: 0,
        }
    }

    /// A task of `job` running on `node`.
    pub fn running(job: impl Into<JobId>, requests: Resources, node: impl Into<NodeId>) -> Self {
        Self {
            status: TaskStatus::Running,
            node: Some(node.into()),
            ..Self::pending(job, requests)
        }
    }
}

/// PodGroup phase.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub enum JobPhase {
    /// Not admitted yet.
    Pending,
    /// Admitted by enqueue; may be allocated.
    Inqueue,
    /// At least minMember tasks are running.
    Running,
    /// Lost members after having run.
    Unknown,
    /// All tasks finished.
    Completed,
}

/// A PodGroup.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Job {
    /// Queue name.
    pub queue: QueueId,
    /// `minMember`.
    pub min_member: u32,
    /// `minTaskMember`: per role minimum.
    pub min_task_member: BTreeMap<String, u32>,
    /// `minResources`.
    pub min_resources: Option<Resources>,
    /// PriorityClass value of the PodGroup.
    pub priority: i32,
    /// Phase at snapshot time.
    pub phase: JobPhase,
    /// Creation order; ties break by id.
    pub creation: u64,
    /// PodGroup annotations.
    pub annotations: BTreeMap<String, String>,
}

impl Job {
    /// An Inqueue job in `queue` needing `min_member` tasks.
    pub fn new(queue: impl Into<QueueId>, min_member: u32) -> Self {
        Self {
            queue: queue.into(),
            min_member,
            min_task_member: BTreeMap::new(),
            min_resources: None,
            priority: 0,
            phase: JobPhase::Inqueue,
            creation: 0,
            annotations: BTreeMap::new(),
        }
    }

    /// Whether `min_task_member` binds: it has entries and `min_member` is at least their sum.
    /// Volcano skips every per-task check of a job whose minAvailable is below that sum (its
    /// `CheckTaskValid`/`CheckTaskReady`/`CheckTaskPipelined`): such a job is elastic and only
    /// minMember counts, although each task's minAvailable defaults to its replicas.
    pub fn role_minimums_bind(&self) -> bool {
        let sum: u64 = self.min_task_member.values().map(|&m| u64::from(m)).sum();
        !self.min_task_member.is_empty() && u64::from(self.min_member) >= sum
    }

    /// This job asking to start with `k` pods instead of `min_member` (a what-if, see
    /// [`crate::WhatIf::min_member`]): `min_member` lowered to `k` and `min_resources` scaled by
    /// k ÷ min_member, rounded up. A `k` at or above the current minimum changes nothing.
    pub fn with_min_member(&self, k: u32) -> Self {
        let mut job = self.clone();
        if k >= job.min_member {
            return job;
        }
        let (num, den) = (i128::from(k), i128::from(job.min_member));
        if let Some(min) = &mut job.min_resources {
            let scaled: Vec<(String, i64)> = min
                .iter()
                .map(|(r, v)| {
                    let v = (i128::from(v) * num + den - 1) / den;
                    (r.to_owned(), i64::try_from(v).unwrap_or(i64::MAX))
                })
                .collect();
            for (r, v) in scaled {
                min.set(&r, v);
            }
        }
        job.min_member = k;
        job
    }
}

/// Queue state.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum QueueState {
    /// Accepts and schedules jobs.
    Open,
    /// Accepts nothing new.
    Closed,
    /// Closing: running jobs finish, nothing new.
    Closing,
}

/// A queue.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Queue {
    /// Share weight.
    pub weight: u32,
    /// Hard cap.
    pub capability: Option<Resources>,
    /// Reserved minimum.
    pub guarantee: Option<Resources>,
    /// Explicit deserved share (capacity plugin).
    pub deserved: Option<Resources>,
    /// Whether other queues may reclaim from it.
    pub reclaimable: bool,
    /// Parent queue for hierarchies.
    pub parent: Option<QueueId>,
    /// State.
    pub state: QueueState,
    /// Queue priority (higher first).
    pub priority: i32,
    /// Creation order; ties break by id.
    pub creation: u64,
}

impl Queue {
    /// An open queue of weight 1 with no limits.
    pub fn open() -> Self {
        Self {
            weight: 1,
            capability: None,
            guarantee: None,
            deserved: None,
            reclaimable: true,
            parent: None,
            state: QueueState::Open,
            priority: 0,
            creation: 0,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_smaller_minimum_scales_min_resources_up_and_leaves_larger_ones_alone() {
        let mut job = Job::new("q", 3);
        job.min_resources = Some(Resources::cpu_mem_gpu(3_000, 10, 12));
        let two = job.with_min_member(2);
        assert_eq!(two.min_member, 2);
        // 12 GPUs × 2/3 = 8; 10 bytes × 2/3 = 6.67 → 7 (rounded up); 3 CPUs × 2/3 = 2.
        assert_eq!(two.min_resources, Some(Resources::cpu_mem_gpu(2_000, 7, 8)));
        assert_eq!(job.with_min_member(3), job);
        assert_eq!(job.with_min_member(5), job);
    }
}
