//! The Queue controller: creates `root` and `default` at start, keeps `status.state` (Open,
//! Closing, Closed, driven by Commands) and the PodGroup counts by phase.
//!
//! `status.allocated` belongs to the scheduler loop; this controller writes with a merge patch
//! that never mentions it. State changes from Commands are applied by the Command controller
//! through [`apply_command`]; this reconciler finishes Closing → Closed and closes a queue whose
//! parent is closed.
//!
//! Hierarchy (`spec.parent`), as Volcano's queue controller: closing a queue closes its
//! descendants with it, marking those it closed with the `volcano.sh/closed-by-parent: "true"`
//! annotation; a queue cannot be opened while its parent is Closed or Closing (the command is
//! refused with a Warning event); opening a queue reopens the children its close closed (the
//! annotation, then `"false"`), and so on down. A child that was already closed stays closed.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use crds::job::Action as JobAction;
use crds::podgroup::{PodGroup, PodGroupPhase};
use crds::queue::{Queue, QueueSpec, QueueState, QueueStatus};
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
    /// Annotated `volcano.sh/closed-by-parent: "true"`: closed because its parent closed.
    pub closed_by_parent: bool,
}

/// The annotation on a queue that its parent's close closed (Volcano's name and values).
pub const CLOSED_BY_PARENT: &str = "volcano.sh/closed-by-parent";

/// One queue's change in a [`plan`].
#[derive(Clone, Debug, PartialEq)]
pub struct Step {
    /// The queue.
    pub name: String,
    /// Its state before.
    pub before: Option<QueueState>,
    /// Its state after.
    pub next: QueueState,
    /// The [`CLOSED_BY_PARENT`] value to write, if it changes.
    pub closed_by_parent: Option<bool>,
}

/// Pure: the states an OpenQueue/CloseQueue command on `target` leads to, in the order to write
/// them (the target first, then its descendants, parents before children). Closing a queue
/// closes its open descendants and marks them closed by their parent; opening a queue (refused,
/// state unchanged, while its parent is closed — the caller says why) reopens the children so
/// marked, recursively, and clears the mark; `root` is never closed, as in Volcano. Empty when
/// `target` is not in `queues`.
pub fn plan(queues: &[QueueView], target: &str, action: JobAction) -> Vec<Step> {
    if target == "root" && action == JobAction::CloseQueue {
        return Vec::new();
    }
    let find = |name: &str| queues.iter().find(|q| q.name == name);
    let mut decided: Vec<Step> = Vec::new();
    let mut work = vec![(target.to_owned(), Some(action))];
    while let Some((name, command)) = work.pop() {
        let Some(q) = find(&name) else { continue };
        if decided.iter().any(|d| d.name == name) {
            continue; // a cycle in spec.parent; the webhook refuses those
        }
        let parent = q.parent.as_deref().filter(|p| *p != "root").and_then(|p| {
            decided
                .iter()
                .find(|d| d.name == p)
                .map(|d| Some(d.next))
                .unwrap_or_else(|| find(p).and_then(|p| p.state))
        });
        let next = next_state(q.state, command, q.live, parent);
        let is_target = name == target;
        let mark = if closed(Some(next)) {
            // Closed here because its parent closed (not the command's own target).
            (!is_target && !closed(q.state) && !q.closed_by_parent).then_some(true)
        } else {
            q.closed_by_parent.then_some(false)
        };
        decided.push(Step {
            name: name.clone(),
            before: q.state,
            next,
            closed_by_parent: mark,
        });
        let mut children: Vec<&QueueView> = queues
            .iter()
            .filter(|c| c.parent.as_deref() == Some(name.as_str()))
            .collect();
        // Reverse name order on the stack: written in name order.
        children.sort_by(|a, b| b.name.cmp(&a.name));
        if closed(Some(next)) && (command == Some(JobAction::CloseQueue) || !closed(q.state)) {
            work.extend(children.into_iter().map(|c| (c.name.clone(), None)));
        } else if next == QueueState::Open {
            // Also when the queue was already Open: a retried command (a write failed half
            // way) still reopens what is left.
            work.extend(
                children
                    .into_iter()
                    .filter(|c| c.closed_by_parent && closed(c.state))
                    .map(|c| (c.name.clone(), Some(JobAction::OpenQueue))),
            );
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
    let controller = Controller::new(
        Api::<Queue>::all(client.clone()),
        watcher::Config::default(),
    );
    let cx = Arc::new(QueueContext {
        ctx,
        podgroups: reader,
        queues: controller.store(),
    });
    // A queue's state change is its children's business (the hierarchy's level rules): every
    // change of a queue reconciles its children too.
    let queues = controller.store();
    let controller = controller
        .watches_stream(pgs, |pg: PodGroup| {
            Some(ObjectRef::new(
                pg.spec.queue.as_deref().unwrap_or("default"),
            ))
        })
        .watches(
            Api::<Queue>::all(client),
            watcher::Config::default(),
            move |parent: Queue| {
                let name = parent.name_any();
                queues
                    .state()
                    .iter()
                    .filter(|q| q.spec.parent.as_deref() == Some(name.as_str()))
                    .map(|q| ObjectRef::new(&q.name_any()))
                    .collect::<Vec<_>>()
            },
        );
    crate::guard::drive(
        controller,
        crate::guard::stop_signal(shutdown),
        crate::guard::guarded(COMPONENT, cx.ctx.metrics.clone(), reconcile),
        error_policy,
        cx,
    )
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
    let marked = is_closed_by_parent(&queue);
    // Volcano's level rule both ways: under a closed parent an open queue closes, marked as
    // closed by its parent; under an open parent a queue its parent closed opens again.
    let command = (parent == Some(QueueState::Open) && marked && closed(current.state))
        .then_some(JobAction::OpenQueue);
    let mut desired = counts(current.clone(), &phases);
    desired.state = Some(next_state(current.state, command, live, parent));
    let mark = match desired.state {
        s if closed(s) && !closed(current.state) && !marked => Some(true),
        Some(QueueState::Open) if marked => Some(false),
        _ => None,
    };
    if let Some(mark) = mark {
        write_closed_by_parent(&cx.ctx, &name, mark).await?;
    }
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
            closed_by_parent: is_closed_by_parent(q),
        })
        .collect();
    let steps = plan(&views, name, action);
    let refusal = match steps.first() {
        None if name == "root" => Some(format!(
            "queue {name:?} was not closed: the root queue cannot be closed"
        )),
        None => None,
        Some(step) if action == JobAction::OpenQueue && step.next != QueueState::Open => {
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
    for step in steps {
        let Some(queue) = queues.iter().find(|q| q.name_any() == step.name) else {
            continue;
        };
        // The mark first: a queue closed by its parent is never left without it.
        if let Some(mark) = step.closed_by_parent {
            write_closed_by_parent(ctx, &step.name, mark).await?;
        }
        if step.before == Some(step.next) {
            continue;
        }
        let current = queue.status.clone().unwrap_or_default();
        let mut desired = current.clone();
        desired.state = Some(step.next);
        write_status(ctx, queue, &current, &desired).await?;
    }
    Ok(())
}

/// Whether `queue` carries `volcano.sh/closed-by-parent: "true"`.
fn is_closed_by_parent(queue: &Queue) -> bool {
    queue
        .metadata
        .annotations
        .as_ref()
        .and_then(|a| a.get(CLOSED_BY_PARENT))
        .is_some_and(|v| v == "true")
}

/// Writes the [`CLOSED_BY_PARENT`] annotation (a merge patch of the Queue's metadata).
async fn write_closed_by_parent(ctx: &Context, name: &str, value: bool) -> Result<()> {
    let api: Api<Queue> = Api::all(ctx.client.clone());
    let patch =
        serde_json::json!({"metadata": {"annotations": {CLOSED_BY_PARENT: value.to_string()}}});
    api.patch(name, &PatchParams::default(), &Patch::Merge(&patch))
        .await
        .map_err(|e| Error::kube("annotate", "Queue", name, e))?;
    Ok(())
}

fn error_policy(queue: Arc<Queue>, error: &Error, cx: Arc<QueueContext>) -> Action {
    crate::guard::failed(&cx.ctx, "Queue", queue.as_ref(), error, true)
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
            closed_by_parent: false,
        }
    }

    fn step(name: &str, before: QueueState, next: QueueState, mark: Option<bool>) -> Step {
        Step {
            name: name.into(),
            before: Some(before),
            next,
            closed_by_parent: mark,
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
                step("q1", Open, Closed, None),
                step("q11", Open, Closing, Some(true)),
                step("q111", Open, Closed, Some(true)),
            ]
        );
        let mut closed = vec![
            view("q1", "root", Closed, 0),
            view("q2", "root", Open, 0),
            view("q11", "q1", Closed, 0),
            view("q111", "q11", Closed, 0),
            view("q12", "q1", Closed, 0),
        ];
        closed[2].closed_by_parent = true;
        closed[3].closed_by_parent = true;
        assert_eq!(
            plan(&closed, "q11", JobAction::OpenQueue),
            vec![step("q11", Closed, Closed, None)]
        );
        // Opening q1 reopens what its close closed (q11, then q111), not q12, closed before.
        assert_eq!(
            plan(&closed, "q1", JobAction::OpenQueue),
            vec![
                step("q1", Closed, Open, None),
                step("q11", Closed, Open, Some(false)),
                step("q111", Closed, Open, Some(false)),
            ]
        );
        // A child closed before its parent is not marked when the parent closes.
        let queues = vec![view("q1", "root", Open, 0), view("q12", "q1", Closed, 0)];
        assert_eq!(
            plan(&queues, "q1", JobAction::CloseQueue),
            vec![
                step("q1", Open, Closed, None),
                step("q12", Closed, Closed, None),
            ]
        );
        assert_eq!(plan(&closed, "root", JobAction::CloseQueue), vec![]);
        // The reconciler's level rule: an Open queue under a closed parent closes.
        assert_eq!(next_state(Some(Open), None, 0, Some(Closing)), Closed);
        assert_eq!(next_state(Some(Open), None, 0, Some(Open)), Open);
    }
}
