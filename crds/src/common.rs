//! Shapes shared by several kinds: resource lists, network topology, durations.
//!
//! Owns only serde/schemars types; no behaviour beyond small accessors.

use std::collections::BTreeMap;

use k8s_openapi::apimachinery::pkg::api::resource::Quantity;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

/// A Kubernetes `ResourceList`: resource name → quantity (`cpu: 500m`, `nvidia.com/gpu: 8`).
pub type ResourceList = BTreeMap<String, Quantity>;

/// Network-topology constraint shared by Job, PodGroup and partition policies.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct NetworkTopologySpec {
    /// `hard` (default) refuses placements that cross the allowed tier; `soft` only prefers.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub mode: Option<NetworkTopologyMode>,
    /// Highest hypernode tier the job may span. Mutually exclusive with `highestTierName`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(range(min = 0))]
    pub highest_tier_allowed: Option<i32>,
    /// Name of the highest hypernode tier the job may span.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub highest_tier_name: Option<String>,
}

/// How strictly a network-topology constraint applies.
#[derive(Serialize, Deserialize, Clone, Copy, Debug, Default, PartialEq, Eq, JsonSchema)]
pub enum NetworkTopologyMode {
    /// The constraint must hold.
    #[default]
    #[serde(rename = "hard")]
    Hard,
    /// The constraint is a preference.
    #[serde(rename = "soft")]
    Soft,
}
