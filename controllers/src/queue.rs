//! The Queue controller: creates `root` and `default` at start, keeps `status.state` (Open,
//! Closing, Closed, driven by Commands) and the PodGroup counts by phase.
//!
//! `status.allocated` belongs to the scheduler loop; this controller writes with a merge patch
//! that never mentions it. State changes from Commands are applied by the Command controller
//! through [`apply_command`]; this reconciler only finishes Closing → Closed.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use crds::job::Action as JobAction;
use crds::podgroup::{PodGroup, PodGroupPhase};
use crds::queue::{Queue, QueueSpec, QueueState, QueueStatus};
use futures_util::StreamExt;
use kube::api::{Api, ObjectMeta, Patch, PatchParams, PostParams};
use kube::runtime::controller::Action;
use kube::runtime::reflector::{ObjectRef, Store};
use kube::runtime::{Controller, WatchStreamExt, watcher};
use kube::{Resource, ResourceExt};
use tracing::{info, warn};

use crate::context::{Context, field_manager};
use crate::error::{Error, Result, is_already_exists};

const COMPONENT: &str = "queue";

/// Pure: the next state of a queue. `command` is OpenQueue/CloseQueue or None; `live` counts the
/// queue's PodGroups that are not Completed.
pub fn next_state(
    current: Option<QueueState>,
    command: Option<JobAction>,
    live: usize,
) -> QueueState {
    match (command, current.unwrap_or_default()) {
        (Some(JobAction::OpenQueue), _) => QueueState::Open,
        (Some(JobAction::CloseQueue), _) | (None, QueueState::Closing) => {
            if live == 0 {
                QueueState::Closed
            } else {
                QueueState::Closing
            }
        }
        (_, QueueState::Unknown) => QueueState::Open,
        (_, s) => s,
    }
}

/// Pure: the queue's status counts from its PodGroups' phases.
pub fn counts(mut status: QueueStatus, phases: &[Option<PodGroupPhase>]) -> QueueStatus {
    let n = |p: PodGroupPhase| {
        Some(phases.iter().filter(|x| x.unwrap_or_default() == p).count() as i32)
    };
    status.pending = n(PodGroupPhase::Pending);
    status.running = n(PodGroupPhase::Running);
    status.unknown = n(PodGroupPhase::Unknown);
    status.inqueue = n(PodGroupPhase::Inqueue);
    status.completed = n(PodGroupPhase::Completed);
    status
}

/// Creates `root` and `default` if they are missing.
pub async fn ensure_default_queues(ctx: &Context) -> Result<()> {
    let api: Api<Queue> = Api::all(ctx.client.clone());
    for name in ["root", "default"] {
        let mut labels = BTreeMap::new();
        labels.insert(
            crds::labels::MANAGED_BY.to_owned(),
            crds::labels::MANAGED_BY_VALUE.to_owned(),
        );
        let q = Queue {
            metadata: ObjectMeta {
                name: Some(name.to_owned()),
                labels: Some(labels),
                ..Default::default()
            },
            spec: QueueSpec {
                weight: Some(1),
                reclaimable: Some(true),
                parent: (name != "root").then(|| "root".to_owned()),
                ..Default::default()
            },
            status: None,
        };
        let pp = PostParams {
            dry_run: false,
            field_manager: Some(field_manager(COMPONENT)),
        };
        match api.create(&pp, &q).await {
            Ok(_) => info!(queue = name, "created queue"),
            Err(e) if is_already_exists(&e) => {}
            Err(e) => return Err(Error::kube("create", "Queue", name, e)),
        }
    }
    Ok(())
}

/// The queue controller's context.
pub struct QueueContext {
    /// Shared context.
    pub ctx: Arc<Context>,
    /// PodGroups, for counts.
    pub podgroups: Store<PodGroup>,
}

/// Runs the Queue controller until `shutdown`.
pub async fn run(ctx: Arc<Context>, shutdown: impl Future<Output = ()> + Send + Sync + 'static) {
    let client = ctx.client.clone();
    let (reader, writer) = kube::runtime::reflector::store();
    let pgs = kube::runtime::reflector(
        writer,
        watcher(
            Api::<PodGroup>::all(client.clone()),
            watcher::Config::default(),
        ),
    )
    .default_backoff()
    .touched_objects();
    let cx = Arc::new(QueueContext {
        ctx,
        podgroups: reader,
    });
    Controller::new(Api::<Queue>::all(client), watcher::Config::default())
        .watches_stream(pgs, |pg: PodGroup| {
            Some(ObjectRef::new(
                pg.spec.queue.as_deref().unwrap_or("default"),
            ))
        })
        .graceful_shutdown_on(shutdown)
        .run(
            crate::guard::guarded(COMPONENT, cx.ctx.metrics.clone(), reconcile),
            error_policy,
            cx,
        )
        .for_each(|_| async {})
        .await;
}

async fn reconcile(queue: Arc<Queue>, cx: Arc<QueueContext>) -> Result<Action> {
    if !cx.ctx.is_leader() {
        return Ok(Action::requeue(Duration::from_secs(2)));
    }
    let name = queue.name_any();
    let phases: Vec<Option<PodGroupPhase>> = cx
        .podgroups
        .state()
        .iter()
        .filter(|pg| pg.spec.queue.as_deref().unwrap_or("default") == name)
        .map(|pg| pg.status.as_ref().and_then(|s| s.phase))
        .collect();
    let current = queue.status.clone().unwrap_or_default();
    let live = phases
        .iter()
        .filter(|p| **p != Some(PodGroupPhase::Completed))
        .count();
    let mut desired = counts(current.clone(), &phases);
    desired.state = Some(next_state(current.state, None, live));
    let result = write_status(&cx.ctx, &queue, &current, &desired).await;
    result.map(|()| Action::requeue(Duration::from_secs(60)))
}

async fn write_status(
    ctx: &Context,
    queue: &Queue,
    current: &QueueStatus,
    desired: &QueueStatus,
) -> Result<()> {
    if current == desired {
        return Ok(());
    }
    let name = queue.name_any();
    let api: Api<Queue> = Api::all(ctx.client.clone());
    let patch = serde_json::json!({ "status": {
        "state": desired.state, "pending": desired.pending, "running": desired.running,
        "unknown": desired.unknown, "inqueue": desired.inqueue, "completed": desired.completed,
    }});
    api.patch_status(&name, &PatchParams::default(), &Patch::Merge(&patch))
        .await
        .map_err(|e| Error::kube("patch status of", "Queue", &name, e))?;
    if current.state != desired.state {
        let note = format!(
            "queue {name:?} is now {:?}",
            desired.state.unwrap_or_default()
        );
        ctx.event(
            &queue.object_ref(&()),
            false,
            &format!("{:?}", desired.state.unwrap_or_default()),
            "SyncQueue",
            note,
        )
        .await;
    }
    Ok(())
}

/// Applies an OpenQueue/CloseQueue command to queue `name`.
pub async fn apply_command(ctx: &Context, name: &str, action: JobAction) -> Result<()> {
    let api: Api<Queue> = Api::all(ctx.client.clone());
    let queue = api
        .get(name)
        .await
        .map_err(|e| Error::kube("get", "Queue", name, e))?;
    let pgs: Api<PodGroup> = Api::all(ctx.client.clone());
    let list = pgs
        .list(&Default::default())
        .await
        .map_err(|e| Error::kube("list", "PodGroup", "*", e))?;
    let live = list
        .items
        .iter()
        .filter(|pg| pg.spec.queue.as_deref().unwrap_or("default") == name)
        .filter(|pg| pg.status.as_ref().and_then(|s| s.phase) != Some(PodGroupPhase::Completed))
        .count();
    let current = queue.status.clone().unwrap_or_default();
    let mut desired = current.clone();
    desired.state = Some(next_state(current.state, Some(action), live));
    write_status(ctx, &queue, &current, &desired).await
}

fn error_policy(queue: Arc<Queue>, error: &Error, cx: Arc<QueueContext>) -> Action {
    warn!(queue = %queue.name_any(), %error, "queue reconcile failed");
    let ctx = cx.ctx.clone();
    let reference = queue.object_ref(&());
    let note = error.to_string();
    tokio::spawn(async move {
        ctx.event(&reference, true, "ReconcileFailed", "Reconcile", note)
            .await
    });
    Action::requeue(error.retry_after())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn close_waits_for_live_podgroups_and_open_reopens() {
        use QueueState::*;
        assert_eq!(next_state(None, None, 3), Open);
        assert_eq!(
            next_state(Some(Open), Some(JobAction::CloseQueue), 2),
            Closing
        );
        assert_eq!(
            next_state(Some(Open), Some(JobAction::CloseQueue), 0),
            Closed
        );
        assert_eq!(next_state(Some(Closing), None, 1), Closing);
        assert_eq!(next_state(Some(Closing), None, 0), Closed);
        assert_eq!(next_state(Some(Closed), None, 5), Closed);
        assert_eq!(
            next_state(Some(Closed), Some(JobAction::OpenQueue), 0),
            Open
        );
    }

    #[test]
    fn counts_by_phase() {
        let s = counts(
            QueueStatus::default(),
            &[
                None,
                Some(PodGroupPhase::Running),
                Some(PodGroupPhase::Running),
            ],
        );
        assert_eq!(
            (s.pending, s.running, s.inqueue),
            (Some(1), Some(2), Some(0))
        );
    }
}
