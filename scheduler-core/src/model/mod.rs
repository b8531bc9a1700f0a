//! The snapshot model: what the caller tells the core about the cluster for one session.
//!
//! Plain data with public fields, built by the controllers from informer caches and by the
//! simulator from traces. Maps are `BTreeMap`s keyed by id, so iteration order — and hence every
//! decision — depends only on the content. This module owns no scheduling logic except the
//! Kubernetes matching rules for node selectors, affinity and taints (in `placement`).

pub mod gpu;
mod placement;
mod pod_affinity;
pub mod reservation;
mod snapshot;
pub mod usage;

pub use placement::{
    ANY_HOST_IP, Constraints, HostPort, NODE_NAME_FIELD, NodeAffinityTerm, NodeSelectorOperator,
    NodeSelectorRequirement, Taint, TaintEffect, Toleration, TolerationOperator,
};
pub use pod_affinity::{
    LabelSelector, LabelSelectorOperator, LabelSelectorRequirement, NamespaceScope, PodAffinityTerm,
};
pub use reservation::Reservation;
pub use snapshot::{
    GatedPods, GpuDevice, Job, JobPhase, Node, Queue, QueueState, Snapshot, Task, TaskStatus,
};
pub use usage::NodeUsage;
