//! Simulated GPU nodes: a kwok-like fake kubelet (crate `basalt-kubelet`), run by `basalt up`
//! beside the embedded API server and by `basalt nodes` against any cluster.
//!
//! It is only a *client* of the Kubernetes API (kube-rs), so it runs against the embedded
//! devcluster or any other API server. It registers Node objects built from a
//! [`ClusterSpec`], renews their heartbeat Leases, moves pods bound to them through
//! Running → Succeeded/Failed as their `sim.basalt.dev/*` annotations say, removes pods being
//! deleted, and publishes usage as `metrics.k8s.io/v1beta1` NodeMetrics/PodMetrics (kept in a
//! [`MetricsStore`] that the devcluster serves through its extension hook) and as the
//! `basalt.dev/gpu-utilization` node annotation.
//!
//! It must not reach into the API server's storage: everything goes over HTTP like a real
//! kubelet, so what it does is what a cluster would show.

pub mod admit;
pub mod duration;
mod kubelet;
pub mod lifecycle;
pub mod metrics;
pub mod node;
mod pods;
pub mod usage;

/// The cluster spec file (crate `basalt-cluster-spec`, shared with the simulator).
pub use cluster_spec as spec;

pub use devcluster::quantity;
pub use kubelet::{Kubelet, KubeletConfig};
pub use metrics::MetricsStore;
pub use spec::{ClusterSpec, NodeGroup, SimNode, SpecError, Taint, Usage};

/// Field manager of every write the simulated kubelet makes.
pub const FIELD_MANAGER: &str = "basalt/kubelet";

#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error(transparent)]
    Spec(#[from] SpecError),
    #[error("cannot register simulated node {node:?}: {source}")]
    Register { node: String, source: kube::Error },
    #[error("cannot renew the heartbeat lease of simulated node {node:?}: {source}")]
    Lease { node: String, source: kube::Error },
}
