//! Validation rules per kind. Each rule is a pure function of the typed object (plus read-only
//! [`crate::state::ClusterState`] lookups) that records violations in a [`crate::report::Report`].

pub mod flow;
pub mod graph;
pub mod job;
pub mod pod;
pub mod podgroup;
pub mod policy;
pub mod queue;
pub mod update;
