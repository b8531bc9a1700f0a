//! Resuming a Failed flow: `basalt flow retry` and `RetryJobFlow` Commands bump the flow's
//! [`RETRY_ROUND`] annotation; [`super::plan`] gives every failed step whose Job was created in
//! an earlier round one more attempt. Commands are consumed exactly once (deleted first, UID
//! precondition), as the Job Command controller does; it ignores JobFlow targets.

use std::sync::Arc;
use std::time::Duration;

use crds::command::Command;
use crds::job::Action as JobAction;
use crds::jobflow::JobFlow;
use kube::api::{Api, DeleteParams, Patch, PatchParams, Preconditions};
use kube::runtime::controller::Action;
use kube::{Resource, ResourceExt};
use tracing::warn;

use super::RETRY_ROUND;
use crate::context::Context;
use crate::error::{Error, Result, is_status};

/// Bumps the flow's retry round: every failed step created in an earlier round gets one more
/// attempt (what `basalt flow retry` and a `RetryJobFlow` Command do).
pub async fn request_retry(client: &kube::Client, namespace: &str, name: &str) -> Result<u32> {
    let api: Api<JobFlow> = Api::namespaced(client.clone(), namespace);
    let flow = api
        .get(name)
        .await
        .map_err(|e| Error::kube("get", "JobFlow", format!("{namespace}/{name}"), e))?;
    let round = flow
        .annotations()
        .get(RETRY_ROUND)
        .and_then(|r| r.parse::<u32>().ok())
        .unwrap_or(0)
        + 1;
    let patch = serde_json::json!({"metadata": {
        "resourceVersion": flow.resource_version(),
        "annotations": {RETRY_ROUND: round.to_string()},
    }});
    api.patch(name, &PatchParams::default(), &Patch::Merge(&patch))
        .await
        .map_err(|e| Error::kube("patch", "JobFlow", format!("{namespace}/{name}"), e))?;
    Ok(round)
}

pub(super) async fn reconcile_command(cmd: Arc<Command>, ctx: Arc<Context>) -> Result<Action> {
    if !ctx.is_leader() {
        return Ok(Action::requeue(Duration::from_secs(2)));
    }
    let Some(target) = cmd.spec.target.as_ref().filter(|t| t.kind == "JobFlow") else {
        return Ok(Action::await_change());
    };
    if cmd.spec.action != Some(JobAction::RetryJobFlow) {
        return Ok(Action::await_change());
    }
    let ns = cmd.namespace().unwrap_or_default();
    let api: Api<Command> = Api::namespaced(ctx.client.clone(), &ns);
    let dp = DeleteParams {
        preconditions: Some(Preconditions {
            uid: cmd.uid(),
            resource_version: None,
        }),
        ..Default::default()
    };
    // Deleting first consumes the command exactly once (as the Job Command controller does).
    match api.delete(&cmd.name_any(), &dp).await {
        Ok(_) => {}
        Err(e) if is_status(&e, 404) => return Ok(Action::await_change()),
        // A conflict (uid precondition or transient): look again; a consumed command is gone.
        Err(e) if is_status(&e, 409) => return Ok(Action::requeue(Duration::from_millis(500))),
        Err(e) => {
            return Err(Error::kube(
                "delete",
                "Command",
                format!("{ns}/{}", cmd.name_any()),
                e,
            ));
        }
    }
    // The command is gone: a transient failure is retried, not dropped.
    let result =
        crate::command::retry_transient(|| request_retry(&ctx.client, &ns, &target.name)).await;
    let (warning, note) = match &result {
        Ok(round) => (
            false,
            format!("command {:?} requested retry round {round}", cmd.name_any()),
        ),
        Err(e) => (
            true,
            format!(
                "command {:?} (RetryJobFlow) was consumed but failed: {e}",
                cmd.name_any()
            ),
        ),
    };
    let flows: Api<JobFlow> = Api::namespaced(ctx.client.clone(), &ns);
    let reference = match flows.get_opt(&target.name).await {
        Ok(Some(f)) => f.object_ref(&()),
        _ => cmd.object_ref(&()),
    };
    ctx.event(&reference, warning, "CommandIssued", "RetryJobFlow", note)
        .await;
    Ok(Action::await_change())
}

pub(super) fn command_error_policy(cmd: Arc<Command>, error: &Error, _ctx: Arc<Context>) -> Action {
    warn!(command = %cmd.name_any(), %error, "RetryJobFlow command failed");
    Action::requeue(error.retry_after())
}
