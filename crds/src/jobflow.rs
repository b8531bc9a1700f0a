//! `flow.volcano.sh/v1alpha1` JobFlow: a DAG of Jobs built from JobTemplates.
//!
//! Basalt extensions (Volcano is silent on them; documented on each field): an inline
//! `spec.jobTemplate` used for flows without a JobTemplate object, and `retryPolicy` on the
//! spec and per flow.

use std::collections::BTreeMap;

use k8s_openapi::apimachinery::pkg::apis::meta::v1::{ObjectMeta, Time};
use kube::CustomResource;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use crate::job::{JobPhase, JobSpec, TaskState};

/// Specification of a JobFlow: its steps, their dependencies and what happens to the Jobs after.
#[derive(CustomResource, Serialize, Deserialize, Clone, Debug, Default, PartialEq, JsonSchema)]
#[kube(
    group = "flow.volcano.sh",
    version = "v1alpha1",
    kind = "JobFlow",
    plural = "jobflows",
    namespaced,
    status = "JobFlowStatus",
    shortname = "jf",
    doc = "JobFlow runs Jobs in dependency order (a DAG of steps).",
    annotation("helm.sh/resource-policy", "keep"),
    printcolumn(name = "Status", type_ = "string", json_path = ".status.state.phase"),
    printcolumn(
        name = "Age",
        type_ = "date",
        json_path = ".metadata.creationTimestamp"
    )
)]
#[serde(rename_all = "camelCase")]
pub struct JobFlowSpec {
    /// The steps. Each step's Job `<flow>-<step>` is built from the JobTemplate named `step`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub flows: Option<Vec<Flow>>,
    /// `retain` (default) keeps the Jobs after the flow succeeded; `delete` removes them.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub job_retain_policy: Option<RetainPolicy>,
    /// Basalt extension: the Job template used for every flow that has no JobTemplate object of
    /// its name in the namespace (Volcano requires one JobTemplate per step).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub job_template: Option<InlineJobTemplate>,
    /// Basalt extension: how failed steps are retried (applies to every flow unless the flow
    /// sets its own). Without it a failed step fails the flow.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub retry_policy: Option<RetryPolicy>,
}

/// Basalt extension: an inline Job template (`metadata` labels/annotations and a JobSpec).
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct InlineJobTemplate {
    /// Labels and annotations copied onto the created Jobs.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub metadata: Option<ObjectMeta>,
    /// The Job specification.
    pub spec: JobSpec,
}

/// Basalt extension: retry budget of a flow step.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct RetryPolicy {
    /// How many times a failed step's Job is re-created before the flow is Failed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(range(min = 0))]
    pub max_retries: Option<i32>,
    /// Seconds to wait before re-creating a failed step's Job.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(range(min = 0))]
    pub backoff_seconds: Option<i32>,
}

/// Whether a flow's Jobs are kept after success.
#[derive(Serialize, Deserialize, Clone, Copy, Debug, Default, PartialEq, Eq, JsonSchema)]
pub enum RetainPolicy {
    /// Keep the Jobs.
    #[default]
    #[serde(rename = "retain")]
    Retain,
    /// Delete the Jobs once the flow succeeded.
    #[serde(rename = "delete")]
    Delete,
}

/// One step of a JobFlow.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct Flow {
    /// Step name: the JobTemplate of this name in the flow's namespace.
    #[schemars(length(min = 1))]
    pub name: String,
    /// Steps (and probes) this step waits for.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub depends_on: Option<FlowDependsOn>,
    /// Changes merged over the template's JobSpec for this step.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub patch: Option<Patch>,
    /// Basalt extension: retry budget of this step (overrides `spec.retryPolicy`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub retry_policy: Option<RetryPolicy>,
}

/// Dependencies of a flow step.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct FlowDependsOn {
    /// Steps that must have Completed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub targets: Option<Vec<String>>,
    /// Probes that must pass against the targets.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub probe: Option<Probe>,
}

/// Probes gating a flow step.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct Probe {
    /// HTTP GET probes against a target task's pod.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub http_get_list: Option<Vec<HttpGet>>,
    /// TCP connect probes against a target task's pod.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tcp_socket_list: Option<Vec<TcpSocket>>,
    /// A task of the target must have reached a phase.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub task_status_list: Option<Vec<TaskStatusProbe>>,
}

/// An HTTP GET probe.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct HttpGet {
    /// Task whose pod is probed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub task_name: Option<String>,
    /// Request path.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub path: Option<String>,
    /// Port.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(range(min = 0, max = 65535))]
    pub port: Option<i32>,
    /// An extra request header.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub http_header: Option<k8s_openapi::api::core::v1::HTTPHeader>,
}

/// A TCP connect probe.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct TcpSocket {
    /// Task whose pod is probed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub task_name: Option<String>,
    /// Port.
    #[schemars(range(min = 0, max = 65535))]
    pub port: i32,
}

/// A task-phase probe.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct TaskStatusProbe {
    /// Task of the target Job.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub task_name: Option<String>,
    /// Pod phase the task must have reached.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub phase: Option<String>,
}

/// A patch over a JobTemplate's spec (Volcano wraps it under `jobSpec`).
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct Patch {
    /// Fields merged over the template's JobSpec.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub job_spec: Option<JobSpec>,
}

/// Phases of a JobFlow.
#[derive(Serialize, Deserialize, Clone, Copy, Debug, Default, PartialEq, Eq, Hash, JsonSchema)]
pub enum FlowPhase {
    /// Every step succeeded.
    Succeed,
    /// Being deleted.
    Terminating,
    /// A step failed with no retries left.
    Failed,
    /// Steps are running.
    Running,
    /// Nothing started yet.
    #[default]
    Pending,
}

/// Phase of a flow.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct FlowState {
    /// Current phase.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub phase: Option<FlowPhase>,
}

/// One period in a step Job's life.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct JobRunningHistory {
    /// Start.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub start_timestamp: Option<Time>,
    /// End.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub end_timestamp: Option<Time>,
    /// Job phase in that period.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub state: Option<JobPhase>,
}

/// Status of one step Job.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct JobStatusEntry {
    /// Job name.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    /// Job phase.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub state: Option<JobPhase>,
    /// Start.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub start_timestamp: Option<Time>,
    /// End.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub end_timestamp: Option<Time>,
    /// Times the step's Job was re-created.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub restart_count: Option<i32>,
    /// History of the step's Job phases.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub running_histories: Option<Vec<JobRunningHistory>>,
}

/// Per-Job condition of a flow.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct FlowCondition {
    /// Job phase.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub phase: Option<JobPhase>,
    /// When the Job was created.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub create_time: Option<Time>,
    /// How long it has run (a Go duration).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub running_duration: Option<String>,
    /// Per task: pod counts by phase.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub task_status_count: Option<BTreeMap<String, TaskState>>,
}

/// Observed state of a JobFlow.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct JobFlowStatus {
    /// Step Jobs pending.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pending_jobs: Option<Vec<String>>,
    /// Step Jobs running.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub running_jobs: Option<Vec<String>>,
    /// Step Jobs failed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub failed_jobs: Option<Vec<String>>,
    /// Step Jobs completed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub completed_jobs: Option<Vec<String>>,
    /// Step Jobs terminated.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub terminated_jobs: Option<Vec<String>>,
    /// Step Jobs in unknown state (Volcano's spelling).
    #[serde(
        rename = "unKnowJobs",
        default,
        skip_serializing_if = "Option::is_none"
    )]
    pub unknown_jobs: Option<Vec<String>>,
    /// Per step Job: state, times, restarts.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub job_status_list: Option<Vec<JobStatusEntry>>,
    /// Job name → condition.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub conditions: Option<BTreeMap<String, FlowCondition>>,
    /// Flow phase.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub state: Option<FlowState>,
}
