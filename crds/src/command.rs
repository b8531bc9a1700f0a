//! `bus.volcano.sh/v1alpha1` Command: a one-shot instruction to a Job, Queue or JobFlow.
//!
//! Volcano's Command has no `spec`: `action`, `target`, `reason` and `message` sit at the top
//! level, so the type uses kube's `no_spec` mode. The controller that acts on a Command deletes
//! it first (at-most-once).

use k8s_openapi::apimachinery::pkg::apis::meta::v1::OwnerReference;
use kube::CustomResource;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use crate::job::Action;

/// The fields of a Command (flattened onto the object's root).
#[derive(CustomResource, Serialize, Deserialize, Clone, Debug, Default, PartialEq, JsonSchema)]
#[kube(
    group = "bus.volcano.sh",
    version = "v1alpha1",
    kind = "Command",
    plural = "commands",
    namespaced,
    no_spec,
    doc = "Command asks a controller to act once on a Job, Queue or JobFlow (abort, restart, ...).",
    annotation("helm.sh/resource-policy", "keep")
)]
#[serde(rename_all = "camelCase")]
pub struct CommandSpec {
    /// What to do (`AbortJob`, `RestartJob`, `OpenQueue`, ..., and Basalt's `RetryJobFlow`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub action: Option<Action>,
    /// The object acted on.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub target: Option<OwnerReference>,
    /// Machine-readable reason.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
    /// Human-readable message.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub message: Option<String>,
}
