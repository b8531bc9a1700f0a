//! The bridge from Kubernetes objects to scheduler-core's model, and back: the only crate that
//! knows both worlds.
//!
//! - [`resources`]: quantities ↔ canonical amounts; a pod's effective requests (containers,
//!   init containers as a floor, `spec.overhead`), and why they cannot be read.
//! - [`snapshot`]: pods, nodes, PodGroups, Queues and PriorityClasses → a `Snapshot` (tasks,
//!   GPU cards and vGPU requests, constraints, queue views, declared run times).
//! - [`pod_affinity`]: Kubernetes pod (anti-)affinity terms → the core's terms.
//! - [`usage`]: measured node usage (metrics.k8s.io, Koordinator, the GPU annotation) →
//!   `Snapshot::node_usage`.
//! - [`runtimes`]: run times of finished jobs → the per-queue estimates of jobs that declare none.
//!
//! Pure: no client, no runtime, no clock (callers pass the time). The controllers' scheduler
//! loop, the webhooks' quota checks and `basalt why`/`report`/`job` all read objects through it,
//! so admission, scheduling and the CLI judge a pod alike.

#![cfg_attr(test, allow(clippy::unwrap_used))]

pub mod pod_affinity;
pub mod resources;
pub mod runtimes;
pub mod snapshot;
pub mod usage;
