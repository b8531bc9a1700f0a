//! The plugin trait: one method per Volcano extension point, each defaulting to "abstain".
//!
//! A plugin is built per session by its registry factory (from its `arguments`), then `open`ed on
//! the session state (Volcano's `OnSessionOpen`). Dispatchers in [`crate::dispatch`] combine the
//! answers with Volcano's tier/vote rules. A plugin declares the hooks it implements in
//! [`Plugin::hooks`]; dispatchers call only declared (and config-enabled) hooks, which keeps the
//! per-node hot loop free of calls that would only abstain.

use std::cmp::Ordering;
use std::collections::BTreeMap;

use crate::session::{JobIx, NodeIx, QueueIx, State, TaskIx};
use crate::text::Text;

/// A set of extension points.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub struct Hooks(u32);

#[allow(missing_docs)] // One constant per trait method of the same name.
impl Hooks {
    pub const NONE: Hooks = Hooks(0);
    pub const JOB_ORDER: Hooks = Hooks(1 << 0);
    pub const QUEUE_ORDER: Hooks = Hooks(1 << 1);
    pub const TASK_ORDER: Hooks = Hooks(1 << 2);
    pub const JOB_VALID: Hooks = Hooks(1 << 3);
    pub const JOB_READY: Hooks = Hooks(1 << 4);
    pub const JOB_PIPELINED: Hooks = Hooks(1 << 5);
    pub const JOB_STARVING: Hooks = Hooks(1 << 6);
    pub const JOB_ENQUEUEABLE: Hooks = Hooks(1 << 7);
    pub const JOB_ENQUEUED: Hooks = Hooks(1 << 8);
    pub const OVERUSED: Hooks = Hooks(1 << 9);
    pub const ALLOCATABLE: Hooks = Hooks(1 << 10);
    pub const PREEMPTIVE: Hooks = Hooks(1 << 11);
    pub const STATIC_PREDICATE: Hooks = Hooks(1 << 12);
    pub const PREDICATE: Hooks = Hooks(1 << 13);
    pub const NODE_SCORE: Hooks = Hooks(1 << 14);
    pub const BEST_NODE: Hooks = Hooks(1 << 15);
    pub const PREEMPTABLE: Hooks = Hooks(1 << 16);
    pub const RECLAIMABLE: Hooks = Hooks(1 << 17);
    pub const VICTIM_TASKS: Hooks = Hooks(1 << 18);
    pub const EVENTS: Hooks = Hooks(1 << 19);
    pub const CLOSE: Hooks = Hooks(1 << 20);
    pub const ALL: Hooks = Hooks((1 << 21) - 1);

    /// Whether every hook in `other` is in `self`.
    pub const fn contains(self, other: Hooks) -> bool {
        self.0 & other.0 == other.0
    }

    /// Set union.
    #[must_use]
    pub const fn with(self, other: Hooks) -> Hooks {
        Hooks(self.0 | other.0)
    }

    /// Set difference.
    #[must_use]
    pub const fn without(self, other: Hooks) -> Hooks {
        Hooks(self.0 & !other.0)
    }

    /// Set intersection.
    #[must_use]
    pub const fn and(self, other: Hooks) -> Hooks {
        Hooks(self.0 & other.0)
    }
}

impl std::ops::BitOr for Hooks {
    type Output = Hooks;
    fn bitor(self, rhs: Hooks) -> Hooks {
        self.with(rhs)
    }
}

/// A vote (Volcano's `Permit = 1, Abstain = 0, Reject = -1`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Vote {
    /// Allow, and stop consulting later tiers.
    Permit,
    /// No opinion.
    Abstain,
    /// Refuse.
    Reject,
}

/// How final a predicate failure is (Kubernetes status codes).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum UnfitCode {
    /// Evicting pods might make it fit.
    Unschedulable,
    /// Nothing on this node will make it fit.
    UnschedulableAndUnresolvable,
}

/// By how much a resource was short on a node.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct Shortfall {
    /// Resource name.
    pub resource: String,
    /// The task's request.
    pub need: i64,
    /// What the node had free.
    pub free: i64,
}

/// Why a task does not fit a node.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Unfit {
    /// Finality.
    pub code: UnfitCode,
    /// Kubernetes-style reason, e.g. `node(s) had untolerated taint {gpu: true}`.
    pub reason: String,
    /// For insufficient resources: the amounts.
    pub shortfall: Option<Shortfall>,
}

impl Unfit {
    /// An `Unschedulable` reason.
    pub fn unschedulable(reason: impl Into<String>) -> Self {
        Self {
            code: UnfitCode::Unschedulable,
            reason: reason.into(),
            shortfall: None,
        }
    }

    /// An `UnschedulableAndUnresolvable` reason.
    pub fn unresolvable(reason: impl Into<String>) -> Self {
        Self {
            code: UnfitCode::UnschedulableAndUnresolvable,
            reason: reason.into(),
            shortfall: None,
        }
    }
}

/// Why a job is not valid (Volcano `ValidateResult`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct JobInvalid {
    /// Condition reason, e.g. `NotEnoughTasks`.
    pub reason: String,
    /// Human message.
    pub message: String,
}

/// A PodGroup condition a plugin reports at session close.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct JobCondition {
    /// `Unschedulable` or `Scheduled`.
    pub kind: Text,
    /// Condition status.
    pub status: bool,
    /// Typed reason, e.g. `NotEnoughResources`.
    pub reason: Text,
    /// Human message. Jobs that failed the same way share one allocation.
    pub message: Text,
}

/// What plugins contribute when the session closes.
#[derive(Debug, Default)]
pub struct CloseReport {
    /// Conditions per job.
    pub conditions: BTreeMap<JobIx, Vec<JobCondition>>,
    /// Reservations held at close (the `reservation` plugin), emitted as
    /// [`crate::Effect::Reservation`] for the shell to store.
    pub reservations: Vec<(JobIx, crate::model::Reservation)>,
    /// Deserved share of each queue that took part in this session's fair-share
    /// (`proportion` or `capacity`), dense over the session's dimensions; emitted on
    /// [`crate::Effect::QueueStatus`].
    pub deserved: BTreeMap<QueueIx, Vec<i64>>,
}

/// How a job's tasks failed to find nodes this session.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Unschedulable {
    /// Tasks that found no node.
    pub failed_tasks: u32,
    /// reason → number of failed tasks that had at least one node failing for it.
    pub reasons: BTreeMap<String, u32>,
}

/// Data a plugin may consult at session close that only the session knows.
pub struct CloseContext<'a> {
    /// Jobs the allocate or backfill action tried and could not make ready (jobs that failed
    /// the same way share one value).
    pub unschedulable: &'a BTreeMap<JobIx, std::rc::Rc<Unschedulable>>,
    /// Jobs that failed `job_valid`, with the reason.
    pub invalid: &'a BTreeMap<JobIx, JobInvalid>,
}

/// Cloning of boxed plugins: the scheduler keeps one configured prototype per plugin and clones
/// it for every session, so per-session state never leaks between sessions. Implemented for every
/// `Plugin + Clone`.
pub trait PluginClone {
    /// A fresh copy of the configured plugin.
    fn clone_box(&self) -> Box<dyn Plugin>;
}

impl<T: Plugin + Clone + 'static> PluginClone for T {
    fn clone_box(&self) -> Box<dyn Plugin> {
        Box::new(self.clone())
    }
}

/// A scheduling plugin. Every method but `name` and `hooks` has an abstaining default, so a
/// plugin implements only what it takes part in — and lists exactly those in `hooks`.
#[allow(unused_variables)]
pub trait Plugin: PluginClone + Send + Sync {
    /// Registry name, e.g. `gang`.
    fn name(&self) -> &'static str;

    /// The hooks this plugin implements. Dispatchers never call undeclared hooks.
    fn hooks(&self) -> Hooks;

    /// Whether this plugin's `predicate` and `node_score` depend only on the node's current
    /// state and on the task's constraints and requests — not on other tasks or on which task of
    /// a job is asking. When every plugin with those hooks says so, the session caches both per
    /// (constraints, requests) and node until that node changes, which makes scans of large
    /// clusters cheap. Default false (always recompute).
    fn node_local(&self) -> bool {
        false
    }

    /// Session open: precompute per-session data (shares, deserved resources, …).
    fn open(&mut self, st: &State<'_>) {}

    /// Job order: `Less` puts `a` first; `Equal` abstains. First non-`Equal` wins.
    fn job_order(&self, st: &State<'_>, a: JobIx, b: JobIx) -> Ordering {
        Ordering::Equal
    }

    /// Queue order, as `job_order`.
    fn queue_order(&self, st: &State<'_>, a: QueueIx, b: QueueIx) -> Ordering {
        Ordering::Equal
    }

    /// Task order within a job, as `job_order`.
    fn task_order(&self, st: &State<'_>, a: TaskIx, b: TaskIx) -> Ordering {
        Ordering::Equal
    }

    /// `Some` when the job must not be scheduled at all this session. First failure wins.
    fn job_valid(&self, st: &State<'_>, job: JobIx) -> Option<JobInvalid> {
        None
    }

    /// Whether the job may be bound. AND over voters; `None` abstains.
    fn job_ready(&self, st: &State<'_>, job: JobIx) -> Option<bool> {
        None
    }

    /// Whether the job's allocations may be kept in-session (pipelined). Vote.
    fn job_pipelined(&self, st: &State<'_>, job: JobIx) -> Vote {
        Vote::Abstain
    }

    /// Whether the job needs more resources (preempt/reclaim candidates). First tier decides.
    fn job_starving(&self, st: &State<'_>, job: JobIx) -> Option<bool> {
        None
    }

    /// Whether a Pending job may be admitted (enqueue). Vote.
    fn job_enqueueable(&self, st: &State<'_>, job: JobIx) -> Vote {
        Vote::Abstain
    }

    /// The job was admitted: account its minResources as reserved (proportion, overcommit).
    fn job_enqueued(&mut self, st: &State<'_>, job: JobIx) {}

    /// Whether the queue has used its share. OR over voters.
    fn overused(&self, st: &State<'_>, queue: QueueIx) -> Option<bool> {
        None
    }

    /// Whether the queue may take `task` now (allocate). AND over voters.
    fn allocatable(&self, st: &State<'_>, queue: QueueIx, task: TaskIx) -> Option<bool> {
        None
    }

    /// Whether the queue may take `task` by reclaiming (reclaim). AND over voters.
    fn preemptive(&self, st: &State<'_>, queue: QueueIx, task: TaskIx) -> Option<bool> {
        None
    }

    /// Node filter that depends only on the node's static attributes (labels, taints,
    /// unschedulable) and the task's [`crate::model::Constraints`]. The session caches the result
    /// per distinct constraints, so it must not look at resources or other tasks.
    fn static_predicate(&self, st: &State<'_>, task: TaskIx, node: NodeIx) -> Result<(), Unfit> {
        Ok(())
    }

    /// Node filter evaluated for every candidate node (pod count, GPU devices, load).
    /// Resource fit (idle / future idle) is checked by the allocate action itself.
    fn predicate(&self, st: &State<'_>, task: TaskIx, node: NodeIx) -> Result<(), Unfit> {
        Ok(())
    }

    /// For a node whose idle resources hold `task`'s scalar request: `Some(reason)` when this
    /// plugin can place the task there only on resources being released (e.g. deviceshare: the
    /// only card with room belongs to a Releasing pod). The engine then treats the node as a
    /// future fit (pipeline, never bind). Part of the predicate hook; consulted only while the
    /// session has releasing resources. Without it a node that filled up further would turn from
    /// "no fit" into "future fit", which breaks "no fit stays no fit until resources are freed".
    fn idle_refusal(&self, st: &State<'_>, task: TaskIx, node: NodeIx) -> Option<Unfit> {
        None
    }

    /// Node score; the session sums the scores of all enabled plugins.
    fn node_score(&self, st: &State<'_>, task: TaskIx, node: NodeIx) -> f64 {
        0.0
    }

    /// Pick a node among scored candidates; first non-`None` wins over the max score.
    fn best_node(&self, st: &State<'_>, task: TaskIx, scored: &[(NodeIx, f64)]) -> Option<NodeIx> {
        None
    }

    /// Victims `preemptor` may evict among `candidates` (same queue). `None` abstains;
    /// an empty list vetoes this tier (see [`crate::dispatch::victims`]).
    fn preemptable(
        &self,
        st: &State<'_>,
        preemptor: TaskIx,
        candidates: &[TaskIx],
    ) -> Option<Vec<TaskIx>> {
        None
    }

    /// Whether this plugin's `preemptable`/`reclaimable` votes are a safety filter only (they
    /// remove candidates everywhere but never decide a tier on their own). Default false.
    fn victim_filter_only(&self) -> bool {
        false
    }

    /// Victims `reclaimer` may evict among `candidates` (other queues), as `preemptable`.
    fn reclaimable(
        &self,
        st: &State<'_>,
        reclaimer: TaskIx,
        candidates: &[TaskIx],
    ) -> Option<Vec<TaskIx>> {
        None
    }

    /// Tasks this plugin wants evicted (shuffle action). Union of the first non-empty tier.
    fn victim_tasks(&self, st: &State<'_>) -> Vec<TaskIx> {
        Vec::new()
    }

    /// `task` was allocated or pipelined on `node`. Plugins keep shares and device accounting
    /// current here and may add bind annotations (e.g. the GPU a pod got); the statement stores
    /// them with the operation so `discard` drops them and `commit` emits them with the bind.
    fn on_allocate(
        &mut self,
        st: &State<'_>,
        task: TaskIx,
        node: NodeIx,
        annotations: &mut BTreeMap<String, String>,
    ) {
    }

    /// `task` left `node` (statement undo or evict); the exact inverse of `on_allocate`.
    fn on_deallocate(&mut self, st: &State<'_>, task: TaskIx, node: NodeIx) {}

    /// Session close: report PodGroup conditions.
    fn close(&self, st: &State<'_>, ctx: &CloseContext<'_>, report: &mut CloseReport) {}

    /// The reservations this plugin made at open (only the `reservation` plugin has them); the
    /// `reserve` action starts and escalates them.
    fn reservation_plan(&self) -> Option<&crate::plugins::reservation::ReservationPlan> {
        None
    }

    /// The session's aged gangs, oldest first (`Some` only from `proportion` with
    /// `proportion.aged-gang-waiting-time` set; filled at `open`). While one waits, `enqueue`
    /// admits other jobs only into idle room, not into room reclaim could free.
    fn aged_gangs(&self) -> Option<&[crate::session::JobIx]> {
        None
    }

    /// Whether idle resources on nodes held for a gang count as allocated to the gang's queue
    /// (`Some` only from the `reservation` plugin, its `reservation.charge-idle` argument; the
    /// session copies the first answer into [`State::charge_held_idle`] before any plugin opens).
    fn charges_held_idle(&self) -> Option<bool> {
        None
    }
}
