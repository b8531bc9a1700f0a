//! Basalt's scheduling core: a pure, deterministic library. A [`Snapshot`] of the cluster and a
//! [`Scheduler`] (a Volcano scheduler configuration resolved against a [`Registry`]) go in;
//! [`Effect`]s — bind, evict, PodGroup and queue status, explanations — come out.
//!
//! No Kubernetes client, no async runtime, no clock, no randomness: the same input always gives
//! the same effects. The controllers execute the effects; the simulator replays traces through
//! the same entry point, [`run_session`].
//!
//! ```
//! use scheduler_core::{Scheduler, Snapshot, run_session};
//! let scheduler = Scheduler::from_yaml(include_str!("../../config/scheduler/basalt-default.yaml"))?;
//! let result = run_session(&Snapshot::default(), &scheduler)?;
//! assert!(result.effects.is_empty());
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

pub mod actions;
pub mod config;
pub mod dispatch;
/// Go durations: the one parser (the `basalt-duration` crate).
pub use ::duration;
pub mod effects;
pub mod ids;
pub mod model;
pub mod plugin;
pub mod plugins;
pub mod quantity;
pub mod registry;
pub mod resources;
mod scheduler;
pub mod session;
pub mod text;

pub use config::{ConfigError, SchedulerConfig};
pub use effects::{Effect, Explanation, ReasonCount};
pub use ids::{JobId, NodeId, QueueId, TaskId};
pub use model::{
    GatedPods, GpuDevice, Job, JobPhase, Node, Queue, QueueState, Snapshot, Task, TaskStatus,
};
pub use quantity::{QuantityError, parse_quantity, parse_resource_amount};
pub use registry::Registry;
pub use resources::Resources;
pub use scheduler::{Scheduler, WhatIf, run_session};
pub use session::{Prepared, SessionError, SessionResult, SessionStats};
pub use text::Text;
