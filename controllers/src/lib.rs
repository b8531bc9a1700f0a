//! Basalt's controllers: all Kubernetes I/O. Job, PodGroup, Queue and Command reconcilers, the
//! scheduler loop (reflector stores → `scheduler_core` session → bind/evict/status effects),
//! Lease-based leader election and the metrics/health server.
//!
//! Decisions live in pure modules (`job::state`, `job::build`, `queue::state`, `scheduler::snapshot`)
//! and in `scheduler_core`; the reconcilers only read, call them, and write.

#![cfg_attr(test, allow(clippy::unwrap_used))]

pub mod error;
pub mod job;
pub mod metrics;
pub mod resources;

pub use error::{Error, Result};
pub mod context;

pub use context::{Context, ControllerConfig, LeaderElection, SchedulerConfigSource};
