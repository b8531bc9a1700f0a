//! Basalt's simulator: replays a workload — generated from a spec or read from a trace — through
//! the real scheduler-core with a virtual clock, applies its decisions to a virtual cluster, and
//! measures what a platform team cares about (utilization, waits by job size, fairness,
//! fragmentation), side by side for several policies.
//!
//! No Kubernetes client, no async runtime, no wall clock in any decision: the same experiment and
//! seed give a byte-identical `report.json`.

// Tests state their invariants by failing loudly.
#![cfg_attr(test, allow(clippy::unwrap_used))]

pub mod cluster;
pub mod engine;
pub mod error;
pub mod experiment;
pub mod fgd;
pub mod generator;
pub mod metrics;
pub mod policy;
pub mod progress;
pub mod recorder;
pub mod report;
pub mod rng;
pub mod seeds;
pub mod snapshot;
pub mod svg;
pub mod sweep;
pub mod trace;
pub mod workload;

pub use cluster::{ClusterSpec, NodeSpec};

/// Where the public traces (`openb-2023/`, `philly-2017/`) are when no path is given:
/// `$BASALT_TRACES`, else `traces/` in the working directory, else this checkout's `traces/`
/// (the repository holds the files its experiments and tests use, see `traces/README.md`).
pub fn default_traces_dir() -> std::path::PathBuf {
    use std::path::PathBuf;
    if let Some(dir) = std::env::var_os("BASALT_TRACES") {
        return PathBuf::from(dir);
    }
    let here = PathBuf::from("traces");
    if here.join("openb-2023").is_dir() {
        return here;
    }
    repo_traces_dir()
}

/// The repository's `traces/` directory (what tests read: no environment involved).
pub fn repo_traces_dir() -> std::path::PathBuf {
    std::path::PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../traces")
}
pub use error::{Error, Result, TraceError};
pub use generator::WorkloadSpec;
pub use workload::{JobKind, JobSpec, SizeBucket, Tenant, Workload};
