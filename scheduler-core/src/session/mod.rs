//! One scheduling session: open (build state, open plugins), run the configured actions in
//! order, close (plugins report conditions; PodGroup, queue and explanation effects).
//!
//! The session owns the working state, the plugins and the effects emitted so far. Actions change
//! state only through a [`Statement`] (see `statement`), and choose nodes with
//! [`Session::select_node`] (see `placement`). Nothing here reads a clock or does I/O.

pub mod affinity;
mod candidates;
mod close;
pub mod host_ports;
mod memo;
mod placement;
mod state;
mod statement;

use std::collections::{BTreeMap, HashMap};
use std::rc::Rc;

use thiserror::Error;

pub use memo::StmtBase;
pub use placement::{FitDiagnosis, NodeSearch, Placement, Tally};
pub use state::{
    Edits, JobIx, JobState, NodeIx, NodeState, Prepared, QueueIx, QueueState, State, TaskIx,
    TaskState,
};
pub use statement::Statement;

use crate::dispatch::PluginSet;
use crate::effects::Effect;
use crate::ids::{JobId, NodeId, TaskId};
use crate::model::TaskStatus;
use crate::plugin::{JobInvalid, Unschedulable};

/// The snapshot is inconsistent.
#[derive(Debug, Error, PartialEq, Eq)]
pub enum SessionError {
    /// A task names a PodGroup that is not in the snapshot.
    #[error(
        "task {task} belongs to job {job}, which is not in the snapshot; add the PodGroup or drop the task"
    )]
    UnknownJob {
        /// Task.
        task: TaskId,
        /// Missing job.
        job: JobId,
    },
    /// A task sits on a node that is not in the snapshot.
    #[error(
        "task {task} is on node {node}, which is not in the snapshot; add the node or drop the task"
    )]
    UnknownNode {
        /// Task.
        task: TaskId,
        /// Missing node.
        node: NodeId,
    },
    /// A task in a node-holding status has no node.
    #[error("task {task} has status {status:?} but no node; set task.node or make it Pending")]
    MissingNode {
        /// Task.
        task: TaskId,
        /// Its status.
        status: TaskStatus,
    },
}

/// What a session produced.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct SessionResult {
    /// Decisions, in a deterministic order (see [`crate::effects`]).
    pub effects: Vec<Effect>,
    /// Counters for logs and metrics.
    pub stats: SessionStats,
}

/// Session counters.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct SessionStats {
    /// Bind effects.
    pub binds: u32,
    /// Evict effects.
    pub evictions: u32,
    /// Tasks left pipelined (reserved, not bound).
    pub pipelined: u32,
    /// Jobs with an explanation.
    pub unschedulable_jobs: u32,
    /// Jobs moved Pending → Inqueue.
    pub enqueued_jobs: u32,
}

/// Why a job's tasks failed this session.
#[derive(Clone, Debug, Default)]
pub(crate) struct JobFailure {
    /// Distinct diagnoses (shared through the no-fit cache) with how many tasks got each; the
    /// reason histogram is built from these at close, not per failed task.
    pub diagnoses: Vec<(Rc<FitDiagnosis>, u32)>,
    /// The first failing task and its node diagnosis.
    pub first: Option<(TaskIx, Rc<FitDiagnosis>)>,
}

impl JobFailure {
    /// Failed task count and reason histogram.
    pub fn summary(&self) -> Unschedulable {
        let mut out = Unschedulable::default();
        for (diag, tasks) in &self.diagnoses {
            out.failed_tasks += tasks;
            for reason in diag.reasons.keys() {
                *out.reasons.entry(reason.clone()).or_insert(0) += tasks;
            }
        }
        out
    }
}

/// Version no node ever has: marks an empty score-cache slot.
const STALE: u32 = u32::MAX;

/// Shape (constraint class and request, see `Session::shape_of`), pipelining allowed.
type FitKey = (u32, bool);

/// Marks a task whose shape is not known yet.
const NO_SHAPE: u32 = u32::MAX;

/// A running session.
pub struct Session<'s> {
    /// Working state.
    pub state: State<'s>,
    /// Plugins in tiers.
    pub plugins: PluginSet,
    actions: Vec<&'static str>,
    effects: Vec<Effect>,
    class_nodes: Vec<Option<Rc<placement::ClassNodes>>>,
    fit_cache: HashMap<FitKey, memo::FitEntry>,
    /// Current release epoch: "no node fits" decisions hold within one (see `memo`).
    release_epoch: u64,
    next_epoch: u64,
    /// Identity of the current resource state (see `memo`).
    state_id: u64,
    next_state_id: u64,
    /// Operations applied and not undone; operations ever applied.
    live_ops: u64,
    ops_ever: u64,
    free_index: memo::FreeIndex,
    /// Session memos on (the default); off recomputes every answer (property tests).
    memo: bool,
    scan_offset: usize,
    failures: BTreeMap<JobIx, JobFailure>,
    node_version: Vec<u32>,
    node_local: bool,
    /// Per task, its shape id (`NO_SHAPE` until asked): tasks with the same constraint class
    /// and request share one, so per-shape memos are found by index, not by hashing requests.
    task_shape: Vec<u32>,
    /// Per constraint class, request → shape id.
    shape_ids: Vec<HashMap<Box<[i64]>, u32>>,
    shape_count: u32,
    /// Per shape id, its score-cache slot (`NO_SHAPE` = none yet).
    shapes: Vec<u32>,
    shape_scores: Vec<Vec<(u32, f64)>>,
    /// Per score-cache slot: scans so far and the candidate index once built (see `candidates`).
    shape_index: Vec<(u32, Option<candidates::ShapeIndex>)>,
    /// Nodes in the order they changed (candidate indexes refresh from it).
    touch_log: Vec<NodeIx>,
    /// Some node may have releasing resources (then a node can fit in future idle resources
    /// only, and the candidate index does not apply).
    may_release: bool,
    invalid: BTreeMap<JobIx, JobInvalid>,
    /// Pending jobs enqueue considered and did not admit, with why (the PodGroup's
    /// `Unschedulable` condition at close).
    not_enqueued: BTreeMap<JobIx, crate::text::Text>,
    enqueued: u32,
    /// Explanations actions add (preempt/reclaim considered and not done), emitted at close.
    notes: Vec<(JobIx, crate::effects::Explanation)>,
}

impl<'s> Session<'s> {
    /// Opens a session: builds state and opens every plugin.
    pub fn open(mut state: State<'s>, mut plugins: PluginSet, actions: Vec<&'static str>) -> Self {
        state.charge_held_idle = plugins.charges_held_idle();
        plugins.open(&state);
        let free_index = memo::FreeIndex::build(&state);
        let classes = state.classes.len();
        let tasks = state.tasks.len();
        let node_local = plugins.node_local();
        let nodes = state.nodes.len();
        let may_release = state.releasing.any_nonzero();
        Self {
            state,
            plugins,
            actions,
            effects: Vec::new(),
            class_nodes: vec![None; classes],
            fit_cache: HashMap::new(),
            release_epoch: 0,
            next_epoch: 1,
            state_id: 0,
            next_state_id: 1,
            live_ops: 0,
            ops_ever: 0,
            free_index,
            memo: true,
            scan_offset: 0,
            failures: BTreeMap::new(),
            node_version: vec![0; nodes],
            node_local,
            task_shape: vec![NO_SHAPE; tasks],
            shape_ids: vec![HashMap::new(); classes],
            shape_count: 0,
            shapes: Vec::new(),
            shape_scores: Vec::new(),
            shape_index: Vec::new(),
            touch_log: Vec::new(),
            may_release,
            invalid: BTreeMap::new(),
            not_enqueued: BTreeMap::new(),
            enqueued: 0,
            notes: Vec::new(),
        }
    }

    /// Whether `action` is configured in this session (allocate defers Pending jobs to enqueue).
    pub fn has_action(&self, action: &str) -> bool {
        self.actions.contains(&action)
    }

    /// Turns the session's memos (no-fit memo, free-capacity index, per-shape score cache,
    /// eviction short-cuts, allocate's bottom-up job-heap pops, explanations shared between jobs
    /// that failed the same way) on or off. Off recomputes every answer: slower, same decisions
    /// and explanations; property tests compare the two.
    pub fn set_memo(&mut self, on: bool) {
        self.memo = on;
    }

    /// Whether the session's memos are on (see [`Self::set_memo`]).
    pub fn memo_on(&self) -> bool {
        self.memo
    }

    /// Marks `node` changed: cached per-shape predicate and score answers for it are stale.
    fn touch(&mut self, node: NodeIx) {
        let v = &mut self.node_version[node.ix()];
        *v = v.wrapping_add(1) % STALE;
        self.free_index.mark(node);
        if !self.shape_index.is_empty() {
            self.touch_log.push(node);
        }
    }

    /// Bookkeeping for one operation `stmt` applies: the state gets a new identity.
    fn applied(&mut self, base: &mut Option<StmtBase>) {
        if base.is_none() {
            *base = Some(StmtBase {
                state: self.state_id,
                epoch: self.release_epoch,
                live: self.live_ops,
                ops_ever: self.ops_ever,
            });
        }
        self.live_ops += 1;
        self.ops_ever += 1;
        self.state_id = self.next_state_id;
        self.next_state_id += 1;
    }

    /// Resources were freed: "no node fits" decisions made so far may be wrong now.
    fn new_release_epoch(&mut self) {
        self.release_epoch = self.next_epoch;
        self.next_epoch += 1;
    }

    /// Bookkeeping after `ops` operations of a statement starting at `base` were undone.
    fn undone(&mut self, base: StmtBase, ops: u64) {
        let lifo = self.live_ops == base.live + ops;
        self.live_ops -= ops;
        if lifo {
            // The undo log restored exactly the state the statement started from.
            self.state_id = base.state;
            self.release_epoch = base.epoch;
            self.fit_cache.retain(|_, e| e.made <= base.ops_ever);
        } else {
            self.state_id = self.next_state_id;
            self.next_state_id += 1;
            self.new_release_epoch();
        }
    }

    /// Appends committed effects.
    pub fn emit(&mut self, effects: impl IntoIterator<Item = Effect>) {
        self.effects.extend(effects);
    }

    /// Records that `task` of `job` found no node.
    pub fn record_unschedulable(&mut self, job: JobIx, task: TaskIx, diag: &Rc<FitDiagnosis>) {
        let f = self.failures.entry(job).or_default();
        match f.diagnoses.iter_mut().find(|(d, _)| Rc::ptr_eq(d, diag)) {
            Some((_, tasks)) => *tasks += 1,
            None => f.diagnoses.push((Rc::clone(diag), 1)),
        }
        if f.first.is_none() {
            f.first = Some((task, Rc::clone(diag)));
        }
    }

    /// Records that `job` failed validation.
    pub fn record_invalid(&mut self, job: JobIx, why: JobInvalid) {
        self.invalid.insert(job, why);
    }

    /// Adds an explanation for `job` (e.g. why a preemption or reclaim was not done); emitted
    /// at close with the others, in job order, after any placement explanation of the same job.
    pub fn explain(&mut self, job: JobIx, why: crate::effects::Explanation) {
        self.notes.push((job, why));
    }

    /// Records that enqueue left Pending `job` in Pending, and why.
    pub fn record_not_enqueued(&mut self, job: JobIx, why: String) {
        self.not_enqueued.insert(job, why.into());
    }

    /// Moves a Pending job to Inqueue and tells the plugins.
    pub fn enqueue_job(&mut self, job: JobIx) {
        self.state.jobs[job.ix()].phase = crate::model::JobPhase::Inqueue;
        self.plugins.job_enqueued(&self.state, job);
        self.enqueued += 1;
    }
}
