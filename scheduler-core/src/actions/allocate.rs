//! `allocate`: place pending tasks (BestEffort ones only when a gang needs them to reach
//! minMember), queue by queue (queue order, skipping overused queues), job by
//! job (job order), task by task (task order), one statement per job turn.
//!
//! For each task: `allocatable` vote, then the best node — idle fit → allocate, future-idle fit →
//! pipeline. The turn ends when the job is ready. Then: ready → commit (binds); pipelined → keep
//! in-session (reserved, never bound); otherwise discard, so a gang never leaks a partial
//! allocation. A job that is ready with tasks left goes back for another turn.
//!
//! Unlike Volcano this keeps trying the job's remaining tasks after one fails (the session caches
//! "no node fits" per constraints + request, so identical tasks cost a hash lookup). That keeps
//! heterogeneous gangs from failing on task order, and it makes the explanation count every task
//! that found no node.
//!
//! Arguments: `minimumFeasibleNodes` (100), `minimumPercentageNodesToFind` (5),
//! `percentageNodesToFind` (0 = adaptive), Volcano's node-search budget (scheduler flags there).

use crate::actions::{Action, OrderedHeap};
use crate::config::{Arguments, ConfigError};
use crate::model::{JobPhase, TaskStatus};
use crate::plugin::JobInvalid;
use crate::resources::{add_into, sub_into};
use std::collections::BTreeMap;
use std::rc::Rc;

use crate::session::{
    FitDiagnosis, JobIx, NodeSearch, Placement, QueueIx, Session, State, Statement, Tally, TaskIx,
};

/// The `allocate` action.
#[derive(Clone, Debug, Default)]
pub struct Allocate {
    search: NodeSearch,
}

/// Registry factory.
pub fn factory(args: &Arguments) -> Result<Box<dyn Action>, ConfigError> {
    Ok(Box::new(Allocate {
        search: node_search(args)?,
    }))
}

/// Parses the node-search budget arguments shared by allocate and backfill.
pub fn node_search(args: &Arguments) -> Result<NodeSearch, ConfigError> {
    let d = NodeSearch::default();
    let get = |key: &str, default: usize| -> Result<usize, ConfigError> {
        let v = args.i64(key, default as i64)?;
        usize::try_from(v).map_err(|_| ConfigError::BadArgument {
            owner: "allocate".into(),
            key: key.into(),
            value: v.to_string(),
            expected: "a non-negative whole number",
        })
    };
    Ok(NodeSearch {
        minimum_feasible: get("minimumFeasibleNodes", d.minimum_feasible)?,
        minimum_percentage: get("minimumPercentageNodesToFind", d.minimum_percentage)?,
        percentage: get("percentageNodesToFind", d.percentage)?,
    })
}

/// Pending, non-BestEffort tasks of a job in task order, and how far the job has got.
struct Worklist {
    tasks: Vec<TaskIx>,
    next: usize,
}

impl Allocate {
    fn candidates(ssn: &mut Session<'_>) -> (Vec<OrderedHeap<JobIx>>, Vec<Option<Worklist>>) {
        let enqueue_runs = ssn.has_action("enqueue");
        let mut per_queue: Vec<OrderedHeap<JobIx>> = (0..ssn.state.queues.len())
            .map(|_| OrderedHeap::new())
            .collect();
        let mut work: Vec<Option<Worklist>> = (0..ssn.state.jobs.len()).map(|_| None).collect();
        for (i, slot) in work.iter_mut().enumerate() {
            let job = JobIx(i as u32);
            let j = &ssn.state.jobs[i];
            match j.phase {
                JobPhase::Completed => continue,
                JobPhase::Pending if enqueue_runs => continue,
                _ => {}
            }
            let pending = |best_effort: bool| -> Vec<TaskIx> {
                j.tasks
                    .iter()
                    .copied()
                    .filter(|t| {
                        let t = &ssn.state.tasks[t.ix()];
                        t.status == TaskStatus::Pending && t.best_effort == best_effort
                    })
                    .collect()
            };
            let mut tasks = pending(false);
            // A gang that needs its BestEffort members to reach minMember, or a task's binding
            // minimum, places them here, in the same statement; otherwise they are backfill's.
            if needs_best_effort(&ssn.state, job, &tasks) {
                tasks.extend(pending(true));
            }
            if tasks.is_empty() {
                // Without enqueue, allocate admits Pending groups itself (Volcano's allocate:
                // "change Pending pg into Inqueue to avoid blocking job scheduling"), also those
                // with no pod yet: a Volcano Job's pods are created only once its group is
                // admitted, so skipping it here would leave it Pending for good
                // (`schedulingaction/enqueue.go` "allocate work even not config enqueue action").
                if !enqueue_runs && j.phase == JobPhase::Pending && j.queue.is_some() {
                    ssn.enqueue_job(job);
                }
                continue;
            }
            let Some(q) = j.queue else {
                let why = JobInvalid {
                    reason: "QueueNotFound".into(),
                    message: format!(
                        "queue {:?} of job {} does not exist; create the queue or change the PodGroup's spec.queue",
                        j.spec.queue.as_str(),
                        j.id
                    ),
                };
                ssn.record_invalid(job, why);
                continue;
            };
            if let Some(why) = ssn.plugins.job_valid(&ssn.state, job) {
                ssn.record_invalid(job, why);
                continue;
            }
            if ssn.state.jobs[i].phase == JobPhase::Pending {
                ssn.enqueue_job(job);
            }
            let (plugins, st) = (&ssn.plugins, &ssn.state);
            tasks.sort_by(|a, b| plugins.task_order(st, *a, *b));
            *slot = Some(Worklist { tasks, next: 0 });
            per_queue[q.ix()].push(job, &mut |a, b| plugins.job_order(st, a, b));
        }
        (per_queue, work)
    }

    /// One turn of `job`: returns whether it should get another turn.
    fn turn(
        &self,
        ssn: &mut Session<'_>,
        job: JobIx,
        queue: QueueIx,
        work: &mut Worklist,
        held: &[i64],
    ) -> bool {
        let mut stmt = Statement::new();
        let mut refused: Option<Rc<FitDiagnosis>> = None;
        let mut held_back: Option<Rc<FitDiagnosis>> = None;
        while work.next < work.tasks.len() {
            let task = work.tasks[work.next];
            work.next += 1;
            if ssn.state.tasks[task.ix()].status != TaskStatus::Pending {
                continue;
            }
            if !ssn.plugins.allocatable(&ssn.state, queue, task) {
                // Say so in the explanation instead of skipping silently (Volcano's opaque
                // "queue overused", reference §9).
                let diag = refused.get_or_insert_with(|| queue_refusal(ssn, queue));
                ssn.record_unschedulable(job, task, diag);
                continue;
            }
            let elastic = ssn.plugins.job_ready(&ssn.state, job);
            match ssn.select_node(task, &self.search, true) {
                Placement::Idle(_) if elastic && !leaves_held(&ssn.state, task, held) => {
                    let diag = held_back.get_or_insert_with(held_refusal);
                    ssn.record_unschedulable(job, task, diag);
                    continue;
                }
                Placement::Idle(node) => ssn.allocate(&mut stmt, task, node),
                Placement::Future(node) => ssn.pipeline(&mut stmt, task, node),
                Placement::Unfit(diag) => {
                    ssn.record_unschedulable(job, task, &diag);
                    continue;
                }
            }
            if ssn.plugins.job_ready(&ssn.state, job) {
                break;
            }
        }
        if ssn.plugins.job_ready(&ssn.state, job) {
            let effects = ssn.commit(stmt);
            ssn.emit(effects);
            work.next < work.tasks.len()
        } else if !stmt.is_empty() && ssn.plugins.job_pipelined(&ssn.state, job) {
            let _kept = stmt.keep();
            false
        } else {
            ssn.discard(stmt);
            false
        }
    }
}

/// What admitted gangs whose pods are still being created hold back from other jobs' elastic
/// tasks: Σ (minResources − allocated) over Inqueue jobs with minResources and fewer pods than
/// minMember. Enqueue admitted them against the same headroom (see `enqueue`), and the job
/// controller creates a job's pods only once it is admitted, so for a moment such a gang exists
/// with no pods to place; without this hold, a ready job's elastic tasks that arrive first take
/// the whole cluster and the admitted gang never starts (upstream's "Schedule Multiple Jobs").
/// Volcano narrows that window with a 1 s session period; Basalt runs a session soon after
/// every change, so it closes it. Only elastic tasks (of a job already ready) are held back;
/// a gang's minimum never is. Pods held back by scheduling gates exist and are not arriving: a
/// gang whose missing pods are gated holds nothing (Volcano likewise deducts gated pods from
/// what an admitted job holds, `DeductSchGatedResources`), or a gated job would keep other
/// jobs' elastic pods out for as long as its gates stay.
fn held_for_arriving_gangs(st: &State<'_>) -> Vec<i64> {
    let mut held = vec![0i64; st.dims.len()];
    for job in &st.jobs {
        let Some(min) = &job.spec.min_resources else {
            continue;
        };
        let gated = st.snapshot.gated.get(job.id).map_or(0, |g| g.pods);
        if job.phase != JobPhase::Inqueue
            || (job.tasks.len() as u32).saturating_add(gated) >= job.min_member
        {
            continue;
        }
        let mut left = st.dims.vector(min);
        for &t in &job.tasks {
            if st.tasks[t.ix()].status.is_allocated() {
                sub_into(&mut left, st.request(t));
            }
        }
        for (h, l) in held.iter_mut().zip(&left) {
            *h += (*l).max(0);
        }
    }
    held
}

/// Whether placing `task` leaves the cluster's idle resources (schedulable nodes) at or above
/// `held` in every resource the task asks for.
fn leaves_held(st: &State<'_>, task: TaskIx, held: &[i64]) -> bool {
    let request = st.request(task);
    if request.iter().zip(held).all(|(r, h)| *r <= 0 || *h <= 0) {
        return true;
    }
    let mut idle = vec![0i64; st.dims.len()];
    for (i, node) in st.nodes.iter().enumerate() {
        if !node.spec.unschedulable {
            add_into(&mut idle, st.idle.row(i));
        }
    }
    request
        .iter()
        .zip(held)
        .zip(&idle)
        .all(|((r, h), i)| *r <= 0 || *h <= 0 || r + h <= *i)
}

/// The diagnosis recorded for an elastic task held back by `held_for_arriving_gangs`.
fn held_refusal() -> Rc<FitDiagnosis> {
    let mut diag = FitDiagnosis::default();
    diag.reasons.insert(
        "held for admitted gangs whose pods are being created".to_owned(),
        Tally::default(),
    );
    Rc::new(diag)
}

/// Whether `job` can become ready only with some of its pending BestEffort tasks: its ready
/// tasks plus its pending non-BestEffort ones (`others`) fall short of minMember, or, where the task minimums
/// bind, of some task's minimum. Volcano gets there by counting pending BestEffort pods as
/// occupied in `JobInfo::CheckTaskReady` and binding them in backfill; Basalt places them in the
/// gang's own statement instead, so the gang still starts whole or not at all. Without this, a
/// job whose task minimums include a BestEffort task never became ready: allocate left that
/// task to backfill, and backfill commits only a ready job.
fn needs_best_effort(st: &State<'_>, job: JobIx, others: &[TaskIx]) -> bool {
    let j = &st.jobs[job.ix()];
    if (others.len() as u32) + st.ready_count(job) < j.min_member {
        return true;
    }
    if !j.has_role_minimums {
        return false;
    }
    let mut have: BTreeMap<&str, u32> = BTreeMap::new();
    for &t in &j.tasks {
        let task = &st.tasks[t.ix()];
        let counts =
            task.status.is_ready() || (task.status == TaskStatus::Pending && !task.best_effort);
        if let (Some(role), true) = (task.spec.role.as_deref(), counts) {
            *have.entry(role).or_insert(0) += 1;
        }
    }
    j.spec
        .min_task_member
        .iter()
        .any(|(role, min)| have.get(role.as_str()).copied().unwrap_or(0) < *min)
}

/// The diagnosis recorded for a task its queue's `allocatable` vote refused.
fn queue_refusal(ssn: &Session<'_>, queue: QueueIx) -> Rc<FitDiagnosis> {
    let mut diag = FitDiagnosis::default();
    let reason = format!(
        "queue {} is at its deserved share or capability",
        ssn.state.queues[queue.ix()].id
    );
    diag.reasons.insert(reason, Tally::default());
    Rc::new(diag)
}

/// The queue is overused: its remaining jobs get no turn; record why for their untried tasks.
fn explain_overused(
    ssn: &mut Session<'_>,
    queue: QueueIx,
    heap: &mut OrderedHeap<JobIx>,
    work: &[Option<Worklist>],
) {
    let diag = queue_refusal(ssn, queue);
    loop {
        let job = {
            let (plugins, st) = (&ssn.plugins, &ssn.state);
            let mut order = |a, b| plugins.job_order(st, a, b);
            if ssn.memo_on() {
                heap.pop_settled(&mut order)
            } else {
                heap.pop(&mut order)
            }
        };
        let Some(job) = job else { break };
        let Some(list) = &work[job.ix()] else {
            continue;
        };
        for &task in &list.tasks[list.next..] {
            if ssn.state.tasks[task.ix()].status == TaskStatus::Pending {
                ssn.record_unschedulable(job, task, &diag);
            }
        }
    }
}

impl Action for Allocate {
    fn name(&self) -> &'static str {
        "allocate"
    }

    fn execute(&self, ssn: &mut Session<'_>) {
        let (mut per_queue, mut work) = Self::candidates(ssn);
        let held = held_for_arriving_gangs(&ssn.state);
        let mut queues = OrderedHeap::new();
        for (q, heap) in per_queue.iter().enumerate() {
            if !heap.is_empty() {
                let (plugins, st) = (&ssn.plugins, &ssn.state);
                queues.push(QueueIx(q as u32), &mut |a, b| plugins.queue_order(st, a, b));
            }
        }
        loop {
            let next = {
                let (plugins, st) = (&ssn.plugins, &ssn.state);
                queues.pop(&mut |a, b| plugins.queue_order(st, a, b))
            };
            let Some(q) = next else { break };
            if ssn.plugins.overused(&ssn.state, q) {
                explain_overused(ssn, q, &mut per_queue[q.ix()], &work);
                continue;
            }
            let job = {
                let (plugins, st) = (&ssn.plugins, &ssn.state);
                // A waiting job's order keys (priority, readiness, its own dominant share)
                // change only in its own turn, so the heap is never stale; without memos the
                // reference pop checks that (tests/memo_equivalence.rs).
                let mut order = |a, b| plugins.job_order(st, a, b);
                if ssn.memo_on() {
                    per_queue[q.ix()].pop_settled(&mut order)
                } else {
                    per_queue[q.ix()].pop(&mut order)
                }
            };
            let Some(job) = job else { continue };
            let Some(mut list) = work[job.ix()].take() else {
                continue;
            };
            let again = self.turn(ssn, job, q, &mut list, &held);
            work[job.ix()] = Some(list);
            let (plugins, st) = (&ssn.plugins, &ssn.state);
            if again {
                per_queue[q.ix()].push(job, &mut |a, b| plugins.job_order(st, a, b));
            }
            if !per_queue[q.ix()].is_empty() {
                queues.push(q, &mut |a, b| plugins.queue_order(st, a, b));
            }
        }
    }
}
