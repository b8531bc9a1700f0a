//! The Command controller: consumes each `bus.volcano.sh/v1alpha1` Command exactly once by
//! deleting it first (UID precondition; a failed delete means another replica or an earlier
//! attempt consumed it), then applying its action to the target Job or Queue.

use std::sync::Arc;
use std::time::Duration;

use crds::command::Command;
use crds::job::Action as JobAction;
use crds::labels;
use k8s_openapi::api::core::v1::{ObjectReference, Pod};
use kube::api::{Api, DeleteParams, ListParams, Preconditions};
use kube::runtime::controller::Action;
use kube::runtime::{Controller, watcher};
use kube::{Resource, ResourceExt};
use tracing::{info, warn};

use crate::context::Context;
use crate::error::{Error, Result, is_status};
use crate::job::reconcile::CommandProgress;

const COMPONENT: &str = "command";

/// What a command acts on.
#[derive(Debug, PartialEq, Eq)]
pub enum CommandTarget {
    /// A Job action on `name` in the command's namespace.
    Job(String),
    /// A queue action.
    Queue(String),
    /// Not for this controller (JobFlow actions, missing target or action).
    Ignore,
}

/// Pure: where a command goes.
pub fn route(cmd: &Command) -> (CommandTarget, Option<JobAction>) {
    let Some(action) = cmd.spec.action else {
        return (CommandTarget::Ignore, None);
    };
    let Some(target) = &cmd.spec.target else {
        return (CommandTarget::Ignore, Some(action));
    };
    let t = match (target.kind.as_str(), action) {
        ("Queue", JobAction::OpenQueue | JobAction::CloseQueue) => {
            CommandTarget::Queue(target.name.clone())
        }
        (
            "Job",
            JobAction::AbortJob
            | JobAction::RestartJob
            | JobAction::RestartTask
            | JobAction::TerminateJob
            | JobAction::CompleteJob
            | JobAction::ResumeJob,
        ) => CommandTarget::Job(target.name.clone()),
        _ => CommandTarget::Ignore,
    };
    (t, Some(action))
}

/// Runs the Command controller until `shutdown`.
pub async fn run(ctx: Arc<Context>, shutdown: impl Future<Output = ()> + Send + Sync + 'static) {
    let controller = Controller::new(
        Api::<Command>::all(ctx.client.clone()),
        watcher::Config::default(),
    );
    crate::guard::drive(
        controller,
        crate::guard::stop_signal(shutdown),
        crate::guard::guarded(COMPONENT, ctx.metrics.clone(), reconcile),
        error_policy,
        ctx,
    )
    .await;
}

async fn reconcile(cmd: Arc<Command>, ctx: Arc<Context>) -> Result<Action> {
    if !ctx.is_leader() {
        return Ok(Action::requeue(Duration::from_secs(2)));
    }
    let (target, action) = route(&cmd);
    let (CommandTarget::Job(_) | CommandTarget::Queue(_), Some(action)) = (&target, action) else {
        return Ok(Action::await_change());
    };
    let ns = cmd.namespace().unwrap_or_default();
    let name = cmd.name_any();
    let api: Api<Command> = Api::namespaced(ctx.client.clone(), &ns);
    let dp = DeleteParams {
        preconditions: Some(Preconditions {
            uid: cmd.uid(),
            resource_version: None,
        }),
        ..Default::default()
    };
    match api.delete(&name, &dp).await {
        Ok(_) => {}
        Err(e) if is_status(&e, 404) => return Ok(Action::await_change()),
        // A conflict (uid precondition or transient): look again; a consumed command is gone.
        Err(e) if is_status(&e, 409) => return Ok(Action::requeue(Duration::from_millis(500))),
        Err(e) => return Err(Error::kube("delete", "Command", format!("{ns}/{name}"), e)),
    }
    info!(command = %name, ?action, ?target, "consuming command");
    let result = apply_until_recorded(&ctx, &ns, &target, action).await;
    let reference = match &target {
        CommandTarget::Job(job) => ObjectReference {
            api_version: Some("batch.volcano.sh/v1alpha1".into()),
            kind: Some("Job".into()),
            name: Some(job.clone()),
            namespace: Some(ns.clone()),
            ..Default::default()
        },
        _ => cmd.object_ref(&()),
    };
    let (warning, note) = match &result {
        Ok(Applied::Yes) => (false, format!("command {name:?} applied {action:?}")),
        Ok(Applied::NoJob) => (
            true,
            format!(
                "command {name:?} ({action:?}) was consumed but its target Job does not exist or is being deleted; create the Command for an existing Job"
            ),
        ),
        Err(e) => (
            true,
            format!("command {name:?} ({action:?}) was consumed but failed: {e}"),
        ),
    };
    ctx.event(
        &reference,
        warning,
        "CommandIssued",
        &format!("{action:?}"),
        note,
    )
    .await;
    // The command is gone; a failure that outlasted the retries is reported, not retried.
    Ok(Action::await_change())
}

/// How long a consumed command's action is retried after transient API failures (conflicts,
/// server errors, no answer) before it is reported as failed.
const APPLY_WINDOW: Duration = Duration::from_secs(60);

/// What became of a consumed command.
#[derive(Debug, PartialEq, Eq)]
pub enum Applied {
    /// The target records the action.
    Yes,
    /// The target Job does not exist or is being deleted.
    NoJob,
}

/// Applies a consumed command until its target records it. The command object is already
/// deleted, so this is the only copy of the user's request: a transient failure must not drop
/// it (a 500 on the pod list once left an aborted Job running to completion). A Job action
/// counts as recorded once the Job's status holds it; the Job controller's own reconciles carry
/// out the rest, so a non-idempotent action (RestartJob) is never recorded twice.
pub async fn apply_until_recorded(
    ctx: &Context,
    ns: &str,
    target: &CommandTarget,
    action: JobAction,
) -> Result<Applied> {
    retry_transient(|| async {
        let mut progress = None;
        let result = apply_once(ctx, ns, target, action, &mut progress).await;
        match (progress, result) {
            (Some(CommandProgress::Recorded), _) => Ok(Applied::Yes),
            (Some(CommandProgress::NoJob), _) => Ok(Applied::NoJob),
            // The queue path records with its one write; the job path reports progress.
            (None, Ok(())) if matches!(target, CommandTarget::Queue(_)) => Ok(Applied::Yes),
            (None, Ok(())) => Err(Error::NotRecorded {
                what: format!("{action:?} on {target:?} in namespace {ns:?}"),
                window: APPLY_WINDOW,
            }),
            (None, Err(e)) => Err(e),
        }
    })
    .await
}

/// Runs `attempt` until it succeeds, fails for good, or [`APPLY_WINDOW`] has passed, backing
/// off 100 ms doubling to 5 s between attempts that failed transiently
/// ([`Error::is_transient`]). For work that must not be dropped on one failed call: the
/// action of a Command that is already consumed.
pub(crate) async fn retry_transient<T, F, Fut>(mut attempt: F) -> Result<T>
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Result<T>>,
{
    let deadline = tokio::time::Instant::now() + APPLY_WINDOW;
    let mut delay = Duration::from_millis(100);
    loop {
        match attempt().await {
            Err(e) if e.is_transient() && tokio::time::Instant::now() + delay <= deadline => {
                warn!(error = %e, retry_in = ?delay, "applying a consumed command failed; retrying");
            }
            done => return done,
        }
        tokio::time::sleep(delay).await;
        delay = (delay * 2).min(Duration::from_secs(5));
    }
}

/// One attempt at a command's action.
async fn apply_once(
    ctx: &Context,
    ns: &str,
    target: &CommandTarget,
    action: JobAction,
    progress: &mut Option<CommandProgress>,
) -> Result<()> {
    match target {
        CommandTarget::Job(job) => {
            let pods: Api<Pod> = Api::namespaced(ctx.client.clone(), ns);
            let lp = ListParams::default().labels(&format!("{}={job}", labels::JOB_NAME));
            let list = pods
                .list(&lp)
                .await
                .map_err(|e| Error::kube("list", "Pod", format!("{ns}/{job}"), e))?;
            crate::job::reconcile::sync(ctx, ns, job, list.items, Some(action), None, progress)
                .await
                .map(|_| ())
        }
        CommandTarget::Queue(queue) => crate::queue::apply_command(ctx, queue, action).await,
        CommandTarget::Ignore => Ok(()),
    }
}

fn error_policy(cmd: Arc<Command>, error: &Error, ctx: Arc<Context>) -> Action {
    // A Command is deleted once consumed: an event on it would vanish with it.
    crate::guard::failed(&ctx, "Command", cmd.as_ref(), error, false)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cmd(text: &str) -> Command {
        serde_saphyr::from_str(text).unwrap()
    }

    #[test]
    fn routes_the_example_and_queue_commands() {
        let c = cmd(include_str!("../../examples/command-abort-job.yaml"));
        let (t, a) = route(&c);
        assert!(matches!(t, CommandTarget::Job(_)));
        assert_eq!(a, Some(JobAction::AbortJob));
        let c = cmd(
            "apiVersion: bus.volcano.sh/v1alpha1\nkind: Command\nmetadata: {name: c}\naction: CloseQueue\ntarget: {apiVersion: scheduling.volcano.sh/v1beta1, kind: Queue, name: q, uid: x}\n",
        );
        assert_eq!(route(&c).0, CommandTarget::Queue("q".into()));
        let c = cmd(
            "apiVersion: bus.volcano.sh/v1alpha1\nkind: Command\nmetadata: {name: c}\naction: CloseQueue\ntarget: {apiVersion: batch.volcano.sh/v1alpha1, kind: Job, name: j, uid: x}\n",
        );
        assert_eq!(route(&c).0, CommandTarget::Ignore);
    }
}
