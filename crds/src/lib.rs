//! Volcano-compatible API types and their CustomResourceDefinitions.
//!
//! This crate owns the wire shapes only (serde + schemars): `batch.volcano.sh/v1alpha1` Job,
//! `bus.volcano.sh/v1alpha1` Command, `scheduling.volcano.sh/v1beta1` Queue and PodGroup,
//! `flow.volcano.sh/v1alpha1` JobFlow and JobTemplate. It must not do I/O or hold behaviour:
//! controllers, webhooks and the scheduler build on these types.

// kube-derive's repeated `printcolumn(type_ = ...)` arguments trip this lint; they are distinct
// columns, not duplicated attributes.
#![allow(clippy::duplicated_attributes)]

pub mod command;
pub mod common;
pub mod crd;
pub mod job;
pub mod jobflow;
pub mod jobtemplate;
pub mod labels;
pub mod podgroup;
pub mod queue;

pub use command::{Command, CommandSpec};
pub use common::{NetworkTopologySpec, ResourceList};
pub use job::{Job, JobPhase, JobSpec, JobStatus, TaskSpec};
pub use jobflow::{JobFlow, JobFlowSpec, JobFlowStatus};
pub use jobtemplate::{JobTemplate, JobTemplateSpec, JobTemplateStatus};
pub use podgroup::{PodGroup, PodGroupPhase, PodGroupSpec, PodGroupStatus};
pub use queue::{Queue, QueueSpec, QueueState, QueueStatus};
