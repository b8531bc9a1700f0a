//! The JobFlow controller: runs a `flow.volcano.sh/v1alpha1` JobFlow's steps as Jobs
//! `<flow>-<step>` in dependency order, gates them on probes, retries a failed step without
//! re-running its upstream, and keeps Volcano's status fields.
//!
//! Pure modules decide (`dag`: validation; `build`: Job construction and `patch` merge; `plan`:
//! which steps to create, retry or wait for, and the status), `probe` runs the HTTP/TCP checks,
//! `reconcile` does the Kubernetes I/O, `retry` turns retry requests (CLI, Command) into a new
//! retry round. The design notes are in `docs/jobflow.md`.
//!
//! Crash safety rests on three facts that survive a controller restart: Job names are
//! deterministic (create-if-absent, a 409 is success), each Job carries its attempt number in
//! [`ATTEMPT`], and the flow's `status.jobStatusList` is the ledger of completed steps and of
//! retries already decided (`restartCount`).

pub mod build;
pub mod dag;
pub mod plan;
pub mod status;

pub mod probe;
pub mod reconcile;
pub mod retry;
#[cfg(test)]
mod tests;

use thiserror::Error;

/// Job annotation: the 1-based attempt number of the step this Job runs.
pub const ATTEMPT: &str = "flow.basalt.dev/attempt";
/// Job annotation: the flow's retry round when the Job was created (see [`RETRY_ROUND`]).
pub const JOB_RETRY_ROUND: &str = "flow.basalt.dev/retry-round";
/// JobFlow annotation: bumped by `basalt flow retry` and by a `RetryJobFlow` Command. Every
/// failed step whose Job was created in an earlier round gets one more attempt.
pub const RETRY_ROUND: &str = "flow.basalt.dev/retry-round";
/// Job label: the step name.
pub const STEP: &str = "flow.basalt.dev/step";

/// Errors of a JobFlow's definition; each names the flow, the step and the fix.
#[derive(Debug, Error, PartialEq)]
pub enum FlowError {
    /// A step without a name.
    #[error(
        "jobflow {flow:?} has a step with an empty name; give every entry of spec.flows a name"
    )]
    EmptyStepName {
        /// Flow name.
        flow: String,
    },
    /// Two steps share a name.
    #[error(
        "jobflow {flow:?} declares step {step:?} twice in spec.flows; step names must be unique"
    )]
    DuplicateStep {
        /// Flow name.
        flow: String,
        /// Step name.
        step: String,
    },
    /// A target that is not a step.
    #[error(
        "jobflow {flow:?} step {step:?} depends on {target:?}, which is not a step of the flow; add it to spec.flows or fix dependsOn.targets"
    )]
    UnknownTarget {
        /// Flow name.
        flow: String,
        /// Step name.
        step: String,
        /// The unknown target.
        target: String,
    },
    /// The dependencies form a cycle.
    #[error(
        "jobflow {flow:?} has a dependency cycle {cycle}; remove one of these dependsOn.targets"
    )]
    Cycle {
        /// Flow name.
        flow: String,
        /// The cycle, `a -> b -> a`.
        cycle: String,
    },
    /// Neither a JobTemplate nor an inline template.
    #[error(
        "jobflow {flow:?} step {step:?} has no JobTemplate {step:?} in namespace {namespace:?} and the flow has no spec.jobTemplate; create the JobTemplate or add spec.jobTemplate"
    )]
    MissingTemplate {
        /// Flow name.
        flow: String,
        /// Step name.
        step: String,
        /// Namespace.
        namespace: String,
    },
    /// The patch could not be applied.
    #[error(
        "jobflow {flow:?} step {step:?}: patch.jobSpec does not merge into a valid JobSpec: {message}"
    )]
    BadPatch {
        /// Flow name.
        flow: String,
        /// Step name.
        step: String,
        /// Why.
        message: String,
    },
}
