//! The Job controller: Volcano's `batch.volcano.sh/v1alpha1` Job lifecycle.
//!
//! `state` (pure state machine), `policy` (events → actions), `view` (pod facts), `build`
//! (pods and PodGroup), `plugins` (env/svc/ssh) are pure; `reconcile` does the I/O: it reads the
//! job fresh, plans, writes status first (resourceVersion precondition, so a stale plan fails
//! before it touches anything), then PodGroup, plugin objects and pods.

pub mod build;
pub mod evictions;
pub mod plugins;
pub mod pod_index;
pub mod policy;
pub mod reconcile;
pub mod sshkey;
pub mod state;
pub mod view;
pub mod volumes;

#[cfg(test)]
mod tests;

use crds::job::{Job, TaskSpec};
use kube::ResourceExt;

/// A task's name (`default<i>` is admission's default; an empty name becomes `default`).
pub fn task_name(task: &TaskSpec) -> String {
    task.name
        .clone()
        .filter(|n| !n.is_empty())
        .unwrap_or_else(|| "default".to_owned())
}

/// Pod name `<job>-<task>-<index>`.
pub fn pod_name(job: &Job, task: &TaskSpec, index: i32) -> String {
    format!("{}-{}-{index}", job.name_any(), task_name(task))
}
