//! How the answers of several plugins combine (Volcano `framework/session_plugins.go`, reference
//! §4.2). Every dispatcher here has a table-driven test; these rules are the compatibility
//! contract, so change them only together with their tests.
//!
//! | hook | rule |
//! |---|---|
//! | job/queue/task order | first non-`Equal` in tier then list order |
//! | job valid | first failure |
//! | job ready, allocatable, preemptive, predicates | AND (abstainers ignored) |
//! | job pipelined, job enqueueable | any Reject ⇒ false; a Permit ends the walk at its tier; default true |
//! | job starving | first tier with a voter decides (AND within it); none ⇒ false |
//! | overused | OR |
//! | node score | sum |
//! | best node | first `Some` |
//! | preemptable, reclaimable | per-tier intersection; an empty vote voids that tier; first non-empty tier wins |
//! | victim tasks | union of the first tier with any |

use std::cmp::Ordering;
use std::collections::{BTreeMap, BTreeSet};

use crate::config::PluginConfig;
use crate::plugin::{CloseContext, CloseReport, Hooks, JobInvalid, Plugin, Unfit, Vote};
use crate::session::{JobIx, NodeIx, QueueIx, State, TaskIx};

/// One configured plugin with the hooks it both implements and has enabled.
pub struct Entry {
    /// Effective hooks: declared by the plugin ∩ enabled in the configuration.
    pub hooks: Hooks,
    /// The plugin.
    pub plugin: Box<dyn Plugin>,
}

/// The hooks a plugin entry's `enable*` switches leave on (absent switch = on).
pub fn enabled_hooks(cfg: &PluginConfig) -> Hooks {
    let off = |flag: Option<bool>, hooks: Hooks| {
        if flag == Some(false) {
            hooks
        } else {
            Hooks::NONE
        }
    };
    let disabled = off(cfg.enable_job_order, Hooks::JOB_ORDER)
        | off(cfg.enable_queue_order, Hooks::QUEUE_ORDER)
        | off(cfg.enable_task_order, Hooks::TASK_ORDER)
        | off(cfg.enable_job_ready, Hooks::JOB_READY)
        | off(cfg.enable_job_pipelined, Hooks::JOB_PIPELINED)
        | off(cfg.enable_job_starving, Hooks::JOB_STARVING)
        | off(
            cfg.enable_job_enqueued,
            Hooks::JOB_ENQUEUEABLE | Hooks::JOB_ENQUEUED,
        )
        | off(cfg.enabled_overused, Hooks::OVERUSED)
        | off(cfg.enabled_allocatable, Hooks::ALLOCATABLE)
        | off(cfg.enable_preemptive, Hooks::PREEMPTIVE)
        | off(
            cfg.enable_predicate,
            Hooks::STATIC_PREDICATE | Hooks::PREDICATE,
        )
        | off(cfg.enable_node_order, Hooks::NODE_SCORE)
        | off(cfg.enable_best_node, Hooks::BEST_NODE)
        | off(cfg.enable_preemptable, Hooks::PREEMPTABLE)
        | off(cfg.enable_reclaimable, Hooks::RECLAIMABLE)
        | off(cfg.enabled_victim, Hooks::VICTIM_TASKS);
    Hooks::ALL.without(disabled)
}

/// The session's plugins in tiers.
#[derive(Default)]
pub struct PluginSet {
    /// Tiers of entries, in configuration order.
    pub tiers: Vec<Vec<Entry>>,
}

/// Which victim filter to consult.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum VictimKind {
    /// Same-queue preemption.
    Preempt,
    /// Cross-queue reclaim.
    Reclaim,
}

impl PluginSet {
    fn with_hook(&self, hook: Hooks) -> impl Iterator<Item = &dyn Plugin> {
        self.tiers
            .iter()
            .flatten()
            .filter(move |e| e.hooks.contains(hook))
            .map(|e| &*e.plugin)
    }

    /// Whether any plugin has `hook` enabled.
    pub fn any(&self, hook: Hooks) -> bool {
        self.with_hook(hook).next().is_some()
    }

    /// Whether every plugin with a predicate or node score is [`Plugin::node_local`].
    pub fn node_local(&self) -> bool {
        self.tiers
            .iter()
            .flatten()
            .filter(|e| e.hooks.and(Hooks::PREDICATE | Hooks::NODE_SCORE) != Hooks::NONE)
            .all(|e| e.plugin.node_local())
    }

    /// Session open for every plugin.
    pub fn open(&mut self, st: &State<'_>) {
        for e in self.tiers.iter_mut().flatten() {
            e.plugin.open(st);
        }
    }

    /// Job order, then creation, then id.
    pub fn job_order(&self, st: &State<'_>, a: JobIx, b: JobIx) -> Ordering {
        // Plain loops, not `with_hook`'s adapters: this runs for every job-heap comparison.
        for tier in &self.tiers {
            for e in tier {
                if e.hooks.contains(Hooks::JOB_ORDER) {
                    let o = e.plugin.job_order(st, a, b);
                    if o.is_ne() {
                        return o;
                    }
                }
            }
        }
        let (ja, jb) = (&st.jobs[a.ix()], &st.jobs[b.ix()]);
        ja.creation.cmp(&jb.creation).then(a.cmp(&b))
    }

    /// Queue order, then creation, then id.
    pub fn queue_order(&self, st: &State<'_>, a: QueueIx, b: QueueIx) -> Ordering {
        self.with_hook(Hooks::QUEUE_ORDER)
            .map(|p| p.queue_order(st, a, b))
            .find(|o| o.is_ne())
            .unwrap_or_else(|| {
                let (qa, qb) = (&st.queues[a.ix()], &st.queues[b.ix()]);
                qa.spec.creation.cmp(&qb.spec.creation).then(a.cmp(&b))
            })
    }

    /// Task order, then creation, then id.
    pub fn task_order(&self, st: &State<'_>, a: TaskIx, b: TaskIx) -> Ordering {
        self.with_hook(Hooks::TASK_ORDER)
            .map(|p| p.task_order(st, a, b))
            .find(|o| o.is_ne())
            .unwrap_or_else(|| {
                let (ta, tb) = (&st.tasks[a.ix()], &st.tasks[b.ix()]);
                ta.creation.cmp(&tb.creation).then(a.cmp(&b))
            })
    }

    /// First validation failure.
    pub fn job_valid(&self, st: &State<'_>, job: JobIx) -> Option<JobInvalid> {
        self.with_hook(Hooks::JOB_VALID)
            .find_map(|p| p.job_valid(st, job))
    }

    /// AND of `job_ready`.
    pub fn job_ready(&self, st: &State<'_>, job: JobIx) -> bool {
        self.with_hook(Hooks::JOB_READY)
            .all(|p| p.job_ready(st, job) != Some(false))
    }

    fn vote(&self, hook: Hooks, mut ask: impl FnMut(&dyn Plugin) -> Vote) -> bool {
        for tier in &self.tiers {
            let mut permitted = false;
            for e in tier.iter().filter(|e| e.hooks.contains(hook)) {
                match ask(&*e.plugin) {
                    Vote::Reject => return false,
                    Vote::Permit => permitted = true,
                    Vote::Abstain => {}
                }
            }
            if permitted {
                return true;
            }
        }
        true
    }

    /// Vote of `job_pipelined`.
    pub fn job_pipelined(&self, st: &State<'_>, job: JobIx) -> bool {
        self.vote(Hooks::JOB_PIPELINED, |p| p.job_pipelined(st, job))
    }

    /// Vote of `job_enqueueable`.
    pub fn job_enqueueable(&self, st: &State<'_>, job: JobIx) -> bool {
        self.vote(Hooks::JOB_ENQUEUEABLE, |p| p.job_enqueueable(st, job))
    }

    /// First tier with a voter decides (AND within it); no voter ⇒ false.
    pub fn job_starving(&self, st: &State<'_>, job: JobIx) -> bool {
        for tier in &self.tiers {
            let votes: Vec<bool> = tier
                .iter()
                .filter(|e| e.hooks.contains(Hooks::JOB_STARVING))
                .filter_map(|e| e.plugin.job_starving(st, job))
                .collect();
            if !votes.is_empty() {
                return votes.iter().all(|v| *v);
            }
        }
        false
    }

    /// Admission bookkeeping after enqueue.
    pub fn job_enqueued(&mut self, st: &State<'_>, job: JobIx) {
        for e in self
            .tiers
            .iter_mut()
            .flatten()
            .filter(|e| e.hooks.contains(Hooks::JOB_ENQUEUED))
        {
            e.plugin.job_enqueued(st, job);
        }
    }

    /// OR of `overused`.
    pub fn overused(&self, st: &State<'_>, queue: QueueIx) -> bool {
        self.with_hook(Hooks::OVERUSED)
            .any(|p| p.overused(st, queue) == Some(true))
    }

    /// AND of `allocatable`.
    pub fn allocatable(&self, st: &State<'_>, queue: QueueIx, task: TaskIx) -> bool {
        self.with_hook(Hooks::ALLOCATABLE)
            .all(|p| p.allocatable(st, queue, task) != Some(false))
    }

    /// AND of `preemptive`.
    pub fn preemptive(&self, st: &State<'_>, queue: QueueIx, task: TaskIx) -> bool {
        self.with_hook(Hooks::PREEMPTIVE)
            .all(|p| p.preemptive(st, queue, task) != Some(false))
    }

    /// First failing static predicate. A task whose requests could not be read fits no node
    /// whatever plugins are configured: counting it as requesting nothing would bind it.
    pub fn static_predicate(
        &self,
        st: &State<'_>,
        task: TaskIx,
        node: NodeIx,
    ) -> Result<(), Unfit> {
        if let Some(why) = &st.tasks[task.ix()].spec.constraints.invalid_requests {
            return Err(Unfit::unresolvable(format!(
                "Pod has invalid resource requests ({why})"
            )));
        }
        if let Some(why) = &st.tasks[task.ix()].spec.constraints.unsupported {
            return Err(Unfit::unresolvable(format!(
                "Pod uses {why}, which Basalt does not support"
            )));
        }
        self.with_hook(Hooks::STATIC_PREDICATE)
            .try_for_each(|p| p.static_predicate(st, task, node))
    }

    /// First failing dynamic predicate.
    #[inline]
    pub fn predicate(&self, st: &State<'_>, task: TaskIx, node: NodeIx) -> Result<(), Unfit> {
        self.with_hook(Hooks::PREDICATE)
            .try_for_each(|p| p.predicate(st, task, node))
    }

    /// First plugin (of those with predicates) that can place `task` on `node` only on
    /// resources being released (see [`Plugin::idle_refusal`]).
    #[inline]
    pub fn idle_refusal(&self, st: &State<'_>, task: TaskIx, node: NodeIx) -> Option<Unfit> {
        self.with_hook(Hooks::PREDICATE)
            .find_map(|p| p.idle_refusal(st, task, node))
    }

    /// Sum of node scores.
    #[inline]
    pub fn node_score(&self, st: &State<'_>, task: TaskIx, node: NodeIx) -> f64 {
        self.with_hook(Hooks::NODE_SCORE)
            .map(|p| p.node_score(st, task, node))
            .sum()
    }

    /// First `best_node` answer.
    pub fn best_node(
        &self,
        st: &State<'_>,
        task: TaskIx,
        scored: &[(NodeIx, f64)],
    ) -> Option<NodeIx> {
        self.with_hook(Hooks::BEST_NODE)
            .find_map(|p| p.best_node(st, task, scored))
    }

    /// Victims among `candidates`: per-tier intersection of the voters' lists; an empty list
    /// from any voter voids that tier (not a global veto); the first non-empty tier decides.
    ///
    /// Safety filters ([`Plugin::victim_filter_only`], e.g. conformance) are applied first, in
    /// every tier, and never decide a tier by themselves: with `proportion` and `drf` in tier 2
    /// (a legal Volcano layout), conformance in tier 1 used to name every non-critical pod, so
    /// the fair-share rule was never asked and queues reclaimed from each other in a loop
    /// (issue 14: 100,632 evictions in six simulated days).
    pub fn victims(
        &self,
        kind: VictimKind,
        st: &State<'_>,
        by: TaskIx,
        candidates: &[TaskIx],
    ) -> Vec<TaskIx> {
        let hook = match kind {
            VictimKind::Preempt => Hooks::PREEMPTABLE,
            VictimKind::Reclaim => Hooks::RECLAIMABLE,
        };
        let vote_of = |e: &Entry, cands: &[TaskIx]| match kind {
            VictimKind::Preempt => e.plugin.preemptable(st, by, cands),
            VictimKind::Reclaim => e.plugin.reclaimable(st, by, cands),
        };
        let mut filtered: Vec<TaskIx> = candidates.to_vec();
        for e in self.tiers.iter().flatten() {
            if e.hooks.contains(hook)
                && e.plugin.victim_filter_only()
                && let Some(list) = vote_of(e, &filtered)
            {
                let keep: BTreeSet<TaskIx> = list.into_iter().collect();
                filtered.retain(|t| keep.contains(t));
            }
        }
        if filtered.is_empty() {
            return Vec::new();
        }
        let candidates = &filtered[..];
        for tier in &self.tiers {
            let mut acc: Option<BTreeSet<TaskIx>> = None;
            let mut voided = false;
            for e in tier
                .iter()
                .filter(|e| e.hooks.contains(hook) && !e.plugin.victim_filter_only())
            {
                let Some(list) = vote_of(e, candidates) else {
                    continue;
                };
                let set: BTreeSet<TaskIx> = list.into_iter().collect();
                let next = match acc.take() {
                    None => set,
                    Some(prev) => prev.intersection(&set).copied().collect(),
                };
                if next.is_empty() {
                    voided = true;
                    break;
                }
                acc = Some(next);
            }
            if let (false, Some(set)) = (voided, acc) {
                return set.into_iter().collect();
            }
        }
        Vec::new()
    }

    /// Union of the first tier that names any victim.
    pub fn victim_tasks(&self, st: &State<'_>) -> Vec<TaskIx> {
        for tier in &self.tiers {
            let set: BTreeSet<TaskIx> = tier
                .iter()
                .filter(|e| e.hooks.contains(Hooks::VICTIM_TASKS))
                .flat_map(|e| e.plugin.victim_tasks(st))
                .collect();
            if !set.is_empty() {
                return set.into_iter().collect();
            }
        }
        Vec::new()
    }

    /// Allocate event to every listening plugin, in order.
    pub fn on_allocate(
        &mut self,
        st: &State<'_>,
        task: TaskIx,
        node: NodeIx,
        annotations: &mut BTreeMap<String, String>,
    ) {
        for e in self
            .tiers
            .iter_mut()
            .flatten()
            .filter(|e| e.hooks.contains(Hooks::EVENTS))
        {
            e.plugin.on_allocate(st, task, node, annotations);
        }
    }

    /// Deallocate event to every listening plugin, in order.
    pub fn on_deallocate(&mut self, st: &State<'_>, task: TaskIx, node: NodeIx) {
        for e in self
            .tiers
            .iter_mut()
            .flatten()
            .filter(|e| e.hooks.contains(Hooks::EVENTS))
        {
            e.plugin.on_deallocate(st, task, node);
        }
    }

    /// The first configured plugin's reservation plan (see [`Plugin::reservation_plan`]).
    pub fn reservation_plan(&self) -> Option<&crate::plugins::reservation::ReservationPlan> {
        self.tiers
            .iter()
            .flatten()
            .find_map(|e| e.plugin.reservation_plan())
    }

    /// The first configured plugin's aged gangs (see [`Plugin::aged_gangs`]); empty if none.
    pub fn aged_gangs(&self) -> &[crate::session::JobIx] {
        self.tiers
            .iter()
            .flatten()
            .find_map(|e| e.plugin.aged_gangs())
            .unwrap_or(&[])
    }

    /// Whether held idle resources are charged to the holder's queue: the first plugin that
    /// says (see [`Plugin::charges_held_idle`]), else yes.
    pub fn charges_held_idle(&self) -> bool {
        self.tiers
            .iter()
            .flatten()
            .find_map(|e| e.plugin.charges_held_idle())
            .unwrap_or(true)
    }

    /// Session close for every plugin.
    pub fn close(&self, st: &State<'_>, ctx: &CloseContext<'_>) -> CloseReport {
        let mut report = CloseReport::default();
        for p in self.with_hook(Hooks::CLOSE) {
            p.close(st, ctx, &mut report);
        }
        report
    }
}

#[cfg(test)]
mod tests;
