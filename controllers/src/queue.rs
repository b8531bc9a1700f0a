//! The Queue controller: creates `root` and `default` at start, keeps `status.state` (Open,
//! Closing, Closed, driven by Commands) and the PodGroup counts by phase.
//!
//! `status.allocated` belongs to the scheduler loop; this controller writes with a merge patch
//! that never mentions it. State changes from Commands are applied by the Command controller
//! through [`apply_command`]; this reconciler finishes Closing → Closed and closes a queue whose
//! parent is closed.
//!
//! Hierarchy (`spec.parent`), as Volcano's queue controller: closing a queue closes its
//! descendants with it, and a queue cannot be opened while its parent is Closed or Closing (the
//! command is refused with a Warning event). Unlike Volcano, opening the parent again does not
//! reopen the children it closed: Volcano marks them with a `volcano.sh/closed-by-parent`
//! annotation, and this controller writes only queue status.

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

/// Closed or Closing: a queue in either state takes no new jobs, and neither do its children.
fn closed(state: Option<QueueState>) -> bool {
    matches!(state, Some(QueueState::Closed | QueueState::Closing))
}

/// Pure: the next state of a queue. `command` is OpenQueue/CloseQueue or None; `live` counts the
/// queue's PodGroups that are not Completed; `parent` is the state of its parent queue (`None`
/// for `root`, its children, or a parent not found). Under a closed parent a queue closes and
/// an OpenQueue is refused (the queue keeps its state).
pub fn next_state(
    current: Option<QueueState>,
    command: Option<JobAction>,
    live: usize,
    parent: Option<QueueState>,
) -> QueueState {
    let command = match command {
        Some(JobAction::OpenQueue) | None if closed(parent) => {
            (!closed(current)).then_some(JobAction::CloseQueue)
        }
        command => command,
    };
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

/// What [`plan`] needs to know of one queue.
#[derive(Clone, Debug, PartialEq)]
pub struct QueueView {
    /// Name.
    pub name: String,
    /// `spec.parent` (`None` or `root` for a top-level queue).
    pub parent: Option<String>,
    /// `status.state`.
    pub state: Option<QueueState>,
    /// PodGroups of the queue that are not Completed.
    pub live: usize,
}

/// Pure: the states an OpenQueue/CloseQueue command on `target` leads to, in the order to write
/// them (the target first, then its descendants, parents before children), each with the state
/// it had. Closing a queue closes its descendants; opening one whose parent is closed changes
/// nothing (the caller says why); `root` is never closed, as in Volcano. Empty when `target` is
/// not in `queues`.
pub fn plan(
    queues: &[QueueView],
    target: &str,
    action: JobAction,
) -> Vec<(String, Option<QueueState>, QueueState)> {
    if target == "root" && action == JobAction::CloseQueue {
        return Vec::new();
    }
    let find = |name: &str| queues.iter().find(|q| q.name == name);
    let mut decided: Vec<(String, Option<QueueState>, QueueState)> = Vec::new();
    let mut work = vec![(target.to_owned(), Some(action))];
    while let Some((name, command)) = work.pop() {
        let Some(q) = find(&name) else { continue };
        if decided.iter().any(|(n, _, _)| *n == name) {
            continue; // a cycle in spec.parent; the webhook refuses those
        }
        let parent = q.parent.as_deref().filter(|p| *p != "root").and_then(|p| {
            decided
                .iter()
                .find(|(n, _, _)| n == p)
                .map(|(_, _, s)| Some(*s))
                .unwrap_or_else(|| find(p).and_then(|p| p.state))
        });
        let next = next_state(q.state, command, q.live, parent);
        decided.push((name.clone(), q.state, next));
        if closed(Some(next)) {
            // Children in reverse name order on the stack: written in name order.
            let mut children: Vec<&QueueView> = queues
                .iter()
                .filter(|c| c.parent.as_deref() == Some(name.as_str()))
                .collect();
            children.sort_by(|a, b| b.name.cmp(&a.name));
            work.extend(children.into_iter().map(|c| (c.name.clone(), None)));
        }
    }
    decided
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
    /// Queues (the controller's own view), for the parent's state.
    pub queues: Store<Queue>,
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
    let controller = Controller::new(Api::<Queue>::all(client), watcher::Config::default());
    let cx = Arc::new(QueueContext {
        ctx,
        podgroups: reader,
        queues: controller.store(),
    });
    controller
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
    let parent = queue
        .spec
        .parent
        .as_deref()
        .filter(|p| *p != "root")
        .and_then(|p| cx.queues.get(&ObjectRef::new(p)))
        .and_then(|p| p.status.as_ref().and_then(|s| s.state));
    let mut desired = counts(current.clone(), &phases);
    desired.state = Some(next_state(current.state, None, live, parent));
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

/// Applies an OpenQueue/CloseQueue command to queue `name` and, when it closes, to its
/// descendants ([`plan`]).
pub async fn apply_command(ctx: &Context, name: &str, action: JobAction) -> Result<()> {
    let api: Api<Queue> = Api::all(ctx.client.clone());
    let queues = api
        .list(&Default::default())
        .await
        .map_err(|e| Error::kube("list", "Queue", "*", e))?
        .items;
    if !queues.iter().any(|q| q.name_any() == name) {
        // As before the hierarchy: a missing target is the GET's NotFound.
        api.get(name)
            .await
            .map_err(|e| Error::kube("get", "Queue", name, e))?;
    }
    let pgs: Api<PodGroup> = Api::all(ctx.client.clone());
    let list = pgs
        .list(&Default::default())
        .await
        .map_err(|e| Error::kube("list", "PodGroup", "*", e))?;
    let live = |queue: &str| {
        list.items
            .iter()
            .filter(|pg| pg.spec.queue.as_deref().unwrap_or("default") == queue)
            .filter(|pg| pg.status.as_ref().and_then(|s| s.phase) != Some(PodGroupPhase::Completed))
            .count()
    };
    let views: Vec<QueueView> = queues
        .iter()
        .map(|q| QueueView {
            name: q.name_any(),
            parent: q.spec.parent.clone(),
            state: q.status.as_ref().and_then(|s| s.state),
            live: live(&q.name_any()),
        })
        .collect();
    let steps = plan(&views, name, action);
    let refusal = match steps.first() {
        None if name == "root" => Some(format!(
            "queue {name:?} was not closed: the root queue cannot be closed"
        )),
        None => None,
        Some((_, _, next)) if action == JobAction::OpenQueue && *next != QueueState::Open => {
            let parent = views
                .iter()
                .find(|q| q.name == name)
                .and_then(|q| q.parent.clone())
                .unwrap_or_default();
            Some(format!(
                "queue {name:?} was not opened: its parent queue {parent:?} is closed; open {parent:?} first"
            ))
        }
        Some(_) => None,
    };
    if let Some(note) = refusal {
        warn!(queue = name, %note, "queue command refused");
        if let Some(queue) = queues.iter().find(|q| q.name_any() == name) {
            ctx.event(
                &queue.object_ref(&()),
                true,
                &format!("{action:?}"),
                "Command",
                note,
            )
            .await;
        }
    }
    for (queue_name, before, next) in steps {
        if before == Some(next) {
            continue;
        }
        let Some(queue) = queues.iter().find(|q| q.name_any() == queue_name) else {
            continue;
        };
        let current = queue.status.clone().unwrap_or_default();
        let mut desired = current.clone();
        desired.state = Some(next);
        write_status(ctx, queue, &current, &desired).await?;
    }
    Ok(())
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
        assert_eq!(next_state(None, None, 3, None), Open);
        assert_eq!(
            next_state(Some(Open), Some(JobAction::CloseQueue), 2, None),
            Closing
        );
        assert_eq!(
            next_state(Some(Open), Some(JobAction::CloseQueue), 0, None),
            Closed
        );
        assert_eq!(next_state(Some(Closing), None, 1, None), Closing);
        assert_eq!(next_state(Some(Closing), None, 0, None), Closed);
        assert_eq!(next_state(Some(Closed), None, 5, None), Closed);
        assert_eq!(
            next_state(Some(Closed), Some(JobAction::OpenQueue), 0, None),
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

    fn view(name: &str, parent: &str, state: QueueState, live: usize) -> QueueView {
        QueueView {
            name: name.into(),
            parent: Some(parent.into()),
            state: Some(state),
            live,
        }
    }

    /// `jobseq/queue.go` "Queue Command Close And Open With Hierarchical Queues": closing q1
    /// closes q11 (and its child), not q2; q11 cannot open while q1 is closed; q1 opens.
    #[test]
    fn closing_a_queue_closes_its_descendants_and_a_child_of_a_closed_queue_cannot_open() {
        use QueueState::*;
        let queues = vec![
            view("q1", "root", Open, 0),
            view("q2", "root", Open, 0),
            view("q11", "q1", Open, 1),
            view("q111", "q11", Open, 0),
        ];
        let steps = plan(&queues, "q1", JobAction::CloseQueue);
        assert_eq!(
            steps,
            vec![
                ("q1".into(), Some(Open), Closed),
                ("q11".into(), Some(Open), Closing),
                ("q111".into(), Some(Open), Closed),
            ]
        );
        let closed = vec![
            view("q1", "root", Closed, 0),
            view("q2", "root", Open, 0),
            view("q11", "q1", Closed, 0),
        ];
        assert_eq!(
            plan(&closed, "q11", JobAction::OpenQueue),
            vec![("q11".into(), Some(Closed), Closed)]
        );
        assert_eq!(
            plan(&closed, "q1", JobAction::OpenQueue),
            vec![("q1".into(), Some(Closed), Open)]
        );
        assert_eq!(plan(&closed, "root", JobAction::CloseQueue), vec![]);
        // The reconciler's level rule: an Open queue under a closed parent closes.
        assert_eq!(next_state(Some(Open), None, 0, Some(Closing)), Closed);
        assert_eq!(next_state(Some(Open), None, 0, Some(Open)), Open);
    }
}
