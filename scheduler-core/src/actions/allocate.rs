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
use std::rc::Rc;

use crate::session::{
    FitDiagnosis, JobIx, NodeSearch, Placement, QueueIx, Session, Statement, Tally, TaskIx,
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
            // A gang that needs its BestEffort members to reach minMember places them here, in
            // the same statement; otherwise they are backfill's.
            if (tasks.len() as u32) + ssn.state.ready_count(job) < j.min_member {
                tasks.extend(pending(true));
            }
            if tasks.is_empty() {
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
    fn turn(&self, ssn: &mut Session<'_>, job: JobIx, queue: QueueIx, work: &mut Worklist) -> bool {
        let mut stmt = Statement::new();
        let mut refused: Option<Rc<FitDiagnosis>> = None;
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
            match ssn.select_node(task, &self.search, true) {
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
            heap.pop(&mut |a, b| plugins.job_order(st, a, b))
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
                per_queue[q.ix()].pop(&mut |a, b| plugins.job_order(st, a, b))
            };
            let Some(job) = job else { continue };
            let Some(mut list) = work[job.ix()].take() else {
                continue;
            };
            let again = self.turn(ssn, job, q, &mut list);
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
