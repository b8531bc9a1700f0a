//! `batch.volcano.sh/v1alpha1` Job: the gang-scheduled batch workload users submit.
//!
//! Field names, defaults and bounds follow Volcano's API (reference/volcano.md §1.2). Only wire
//! shapes live here; the state machine lives in the controllers crate.

use std::collections::BTreeMap;

use k8s_openapi::api::core::v1::{PersistentVolumeClaimSpec, PodTemplateSpec};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::Time;
use kube::CustomResource;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use crate::common::NetworkTopologySpec;

/// Specification of a Volcano Job: one or more tasks of identical pods scheduled as a gang.
#[derive(CustomResource, Serialize, Deserialize, Clone, Debug, Default, PartialEq, JsonSchema)]
#[kube(
    group = "batch.volcano.sh",
    version = "v1alpha1",
    kind = "Job",
    plural = "jobs",
    namespaced,
    status = "JobStatus",
    shortname = "vcjob",
    shortname = "vj",
    doc = "Job is a Volcano batch job: a set of tasks scheduled together as a gang.",
    annotation("helm.sh/resource-policy", "keep"),
    printcolumn(name = "STATUS", type_ = "string", json_path = ".status.state.phase"),
    printcolumn(
        name = "minAvailable",
        type_ = "integer",
        json_path = ".status.minAvailable"
    ),
    printcolumn(name = "RUNNINGS", type_ = "integer", json_path = ".status.running"),
    printcolumn(
        name = "AGE",
        type_ = "date",
        json_path = ".metadata.creationTimestamp"
    ),
    printcolumn(
        name = "QUEUE",
        type_ = "string",
        json_path = ".spec.queue",
        priority = "1"
    )
)]
#[serde(rename_all = "camelCase")]
pub struct JobSpec {
    /// Scheduler for the job's pods; copied into every pod template that sets none.
    /// Defaulted by admission to the first configured scheduler name (`volcano`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(max = 63))]
    pub scheduler_name: Option<String>,
    /// Gang size: the job starts only when this many pods can run. Defaulted by admission to
    /// the sum over tasks of `minAvailable` (or `replicas`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(range(min = 0))]
    pub min_available: Option<i32>,
    /// Volumes mounted into every container of every task.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub volumes: Option<Vec<VolumeSpec>>,
    /// The job's tasks; at least one.
    #[serde(default)]
    #[schemars(length(min = 1))]
    pub tasks: Vec<TaskSpec>,
    /// Job-level lifecycle policies; task-level policies take precedence.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub policies: Option<Vec<LifecyclePolicy>>,
    /// Job plugins (`env`, `svc`, `ssh`, ...) with their argv-style flags.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub plugins: Option<BTreeMap<String, Vec<String>>>,
    /// The user's estimate of the running time (a Go duration such as `2h`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub running_estimate: Option<String>,
    /// Queue the job is submitted to.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(max = 253), extend("default" = "default"))]
    pub queue: Option<String>,
    /// Whole-job restart budget before the job is Failed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(range(min = 0), extend("default" = 3))]
    pub max_retry: Option<i32>,
    /// Delete the job this many seconds after it finished (Completed, Failed or Terminated).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(range(min = 0))]
    pub ttl_seconds_after_finished: Option<i32>,
    /// Priority class copied to pods and to the PodGroup.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(max = 253))]
    pub priority_class_name: Option<String>,
    /// The job is Completed as soon as this many pods succeeded.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(range(min = 1))]
    pub min_success: Option<i32>,
    /// Network-topology constraint copied to the PodGroup.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub network_topology: Option<NetworkTopologySpec>,
}

/// A volume mounted into the job's containers.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct VolumeSpec {
    /// Where the volume is mounted in every container; must not contain `:`.
    #[schemars(length(min = 1), regex(pattern = r"^[^:]*$"))]
    pub mount_path: String,
    /// Name of an existing PersistentVolumeClaim.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(max = 253))]
    pub volume_claim_name: Option<String>,
    /// A claim to create for the job: the controller names it `<job>-pvc-<index>-<uid prefix>`,
    /// writes that name into `volumeClaimName` and creates the claim, owned by the Job.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub volume_claim: Option<PersistentVolumeClaimSpec>,
}

/// One task of a job: `replicas` identical pods built from `template`.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct TaskSpec {
    /// Task name (a DNS-1123 label); pods are named `<job>-<task>-<index>`.
    /// Defaulted by admission to `default<index>`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(max = 63))]
    pub name: Option<String>,
    /// Number of pods of this task.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(range(min = 0))]
    pub replicas: Option<i32>,
    /// Pods of this task that must run for the gang to start; at most `replicas`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(range(min = 0))]
    pub min_available: Option<i32>,
    /// Pod template of the task's pods, validated as a Kubernetes PodTemplateSpec.
    #[serde(default)]
    pub template: PodTemplateSpec,
    /// Task-level lifecycle policies.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub policies: Option<Vec<LifecyclePolicy>>,
    /// NUMA topology policy for the task's pods.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub topology_policy: Option<NumaPolicy>,
    /// Restart budget of the task (`TaskFailed` after it is used up).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_retry: Option<i32>,
    /// Tasks whose pods must run before this task's pods are created.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub depends_on: Option<DependsOn>,
    /// Partitioning of the task's pods into topology-aware sub-groups.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub partition_policy: Option<PartitionPolicySpec>,
}

/// Task-to-task dependency inside one job.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct DependsOn {
    /// Names of the tasks depended on.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<Vec<String>>,
    /// Whether any or all of the named tasks must be ready.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub iteration: Option<Iteration>,
}

/// How several task dependencies combine.
#[derive(Serialize, Deserialize, Clone, Copy, Debug, PartialEq, Eq, JsonSchema)]
pub enum Iteration {
    /// One dependency suffices.
    #[serde(rename = "any")]
    Any,
    /// Every dependency must be ready.
    #[serde(rename = "all")]
    All,
}

/// Partitioning of a task into network-topology-aware groups.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct PartitionPolicySpec {
    /// Number of partitions; `replicas` must equal `totalPartitions × partitionSize`.
    #[schemars(range(min = 1))]
    pub total_partitions: i32,
    /// Pods per partition.
    #[schemars(range(min = 1))]
    pub partition_size: i32,
    /// Topology constraint of each partition.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub network_topology: Option<NetworkTopologySpec>,
    /// Partitions that must be placed for the task to start.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(range(min = 0))]
    pub min_partitions: Option<i32>,
}

/// NUMA topology policies (kubelet topology-manager names).
#[derive(Serialize, Deserialize, Clone, Copy, Debug, PartialEq, Eq, JsonSchema)]
pub enum NumaPolicy {
    /// No NUMA alignment.
    #[serde(rename = "none")]
    None,
    /// Prefer NUMA alignment.
    #[serde(rename = "best-effort")]
    BestEffort,
    /// Require alignment where possible.
    #[serde(rename = "restricted")]
    Restricted,
    /// All resources on one NUMA node.
    #[serde(rename = "single-numa-node")]
    SingleNumaNode,
}

/// What the job controller does when an event happens (or an exit code is seen).
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct LifecyclePolicy {
    /// The action taken.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub action: Option<Action>,
    /// A single triggering event. Use either `event`/`events` or `exitCode`, not both.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub event: Option<Event>,
    /// Several triggering events.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub events: Option<Vec<Event>>,
    /// A container exit code that triggers the action (0 is not allowed).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub exit_code: Option<i32>,
    /// Delay before the action is taken (a Go duration such as `30s`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub timeout: Option<String>,
}

/// Actions of lifecycle policies and Commands (Volcano's `bus/v1alpha1` actions).
#[derive(Serialize, Deserialize, Clone, Copy, Debug, PartialEq, Eq, Hash, JsonSchema)]
pub enum Action {
    /// Evict all pods and keep the job Aborted until resumed.
    AbortJob,
    /// Kill all pods and start the job again (counts against `maxRetry`).
    RestartJob,
    /// Restart the pods of one task.
    RestartTask,
    /// Restart one pod.
    RestartPod,
    /// Restart one partition of a task.
    RestartPartition,
    /// Evict all pods and end the job as Terminated.
    TerminateJob,
    /// Kill the remaining pods and mark the job Completed.
    CompleteJob,
    /// Resume an Aborted job.
    ResumeJob,
    /// Internal: synchronise the job with its pods.
    SyncJob,
    /// Internal: enqueue the job.
    EnqueueJob,
    /// Internal: synchronise a queue.
    SyncQueue,
    /// Open a queue.
    OpenQueue,
    /// Close a queue.
    CloseQueue,
    /// Basalt extension: resume a Failed JobFlow from its failed steps.
    RetryJobFlow,
}

/// Events that trigger lifecycle policies.
#[derive(Serialize, Deserialize, Clone, Copy, Debug, PartialEq, Eq, Hash, JsonSchema)]
pub enum Event {
    /// Any event.
    #[serde(rename = "*")]
    Any,
    /// A pod is pending.
    PodPending,
    /// A pod is running.
    PodRunning,
    /// A pod failed.
    PodFailed,
    /// A pod was evicted.
    PodEvicted,
    /// Unknown pod state.
    Unknown,
    /// Every pod of a task succeeded.
    TaskCompleted,
    /// A pod changed outside the controller's knowledge.
    OutOfSync,
    /// A Command was issued to the job.
    CommandIssued,
    /// The job's spec was updated.
    JobUpdated,
    /// A task exhausted its restart budget.
    TaskFailed,
}

/// Phases of a Job.
#[derive(Serialize, Deserialize, Clone, Copy, Debug, Default, PartialEq, Eq, Hash, JsonSchema)]
pub enum JobPhase {
    /// Waiting for the gang to be scheduled.
    #[default]
    Pending,
    /// Being aborted.
    Aborting,
    /// Aborted; resumable.
    Aborted,
    /// At least `minAvailable` pods are running.
    Running,
    /// Being restarted.
    Restarting,
    /// Being completed.
    Completing,
    /// Finished successfully.
    Completed,
    /// Being terminated.
    Terminating,
    /// Terminated.
    Terminated,
    /// Failed.
    Failed,
}

/// Current state of a job.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct JobState {
    /// Current phase.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub phase: Option<JobPhase>,
    /// Machine-readable reason of the last transition.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
    /// Human-readable message of the last transition.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub message: Option<String>,
    /// When the phase last changed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_transition_time: Option<Time>,
}

/// Pod counts of one task by pod phase.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct TaskState {
    /// Pod phase → number of pods.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub phase: Option<BTreeMap<String, i32>>,
}

/// One entry of the job's phase history.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct JobCondition {
    /// The phase entered.
    pub status: JobPhase,
    /// When it was entered.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_transition_time: Option<Time>,
}

/// Observed state of a job, written by the job controller.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct JobStatus {
    /// Current state.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub state: Option<JobState>,
    /// Gang size in effect.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub min_available: Option<i32>,
    /// Per task: pod counts by phase.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub task_status_count: Option<BTreeMap<String, TaskState>>,
    /// Pending pods.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pending: Option<i32>,
    /// Running pods.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub running: Option<i32>,
    /// Succeeded pods.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub succeeded: Option<i32>,
    /// Failed pods.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub failed: Option<i32>,
    /// Terminating pods.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub terminating: Option<i32>,
    /// Pods in unknown state.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub unknown: Option<i32>,
    /// Bumped on every whole-job restart; pods carry it in `volcano.sh/job-version`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub version: Option<i32>,
    /// Restarts used so far.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub retry_count: Option<i32>,
    /// Time between creation and the last transition (a Go duration).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub running_duration: Option<String>,
    /// Objects created for the job by plugins and volumes (e.g. `plugin-svc: svc`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub controlled_resources: Option<BTreeMap<String, String>>,
    /// Phase history, one entry per phase (moved to the end when it recurs).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub conditions: Option<Vec<JobCondition>>,
}

/// A job plugin's flag in Go's `flag` forms (`--name=v`, `-name=v`, `--name v`), as the job
/// controller reads it and admission checks it; `None` when the flag is absent (or last with
/// no value).
pub fn plugin_flag<'a>(args: &'a [String], name: &str) -> Option<&'a str> {
    let mut it = args.iter();
    while let Some(a) = it.next() {
        let Some(rest) = a
            .strip_prefix("--")
            .or_else(|| a.strip_prefix('-'))
            .and_then(|r| r.strip_prefix(name))
        else {
            continue;
        };
        if let Some(v) = rest.strip_prefix('=') {
            return Some(v);
        }
        if rest.is_empty()
            && let Some(v) = it.next()
        {
            return Some(v);
        }
    }
    None
}
