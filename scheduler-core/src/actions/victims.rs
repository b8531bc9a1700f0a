//! The eviction engine shared by `preempt` and `reclaim`: for one starving job, place its
//! pending tasks by evicting victims node by node, gang-aware and transactional, and say why
//! whenever it does not.
//!
//! Per task, nodes are tried from a rotating offset; on each node the candidates (running,
//! preemptable tasks of other jobs: same queue for preempt, other reclaimable queues for reclaim)
//! pass, in order: the minimum-run-time rule, the no-cycle rule (a victim whose job or queue
//! would be scheduled ahead of the preemptor's is never evicted), then the plugins' victim filter
//! (priority, gang, drf, proportion/capacity, conformance). Survivors are ordered (victim queue
//! order reversed, then job order reversed, then task order reversed) and evicted, only if
//! together with the node's future idle they make the task fit. Each node's evictions plus the
//! pipelined task form one statement; the job commits all of them only when `job_pipelined`
//! (gang: enough members placed), else discards all — a victim gang is never touched partially
//! by a preemptor gang that then fails.

use std::cmp::Ordering;
use std::collections::BTreeMap;

use crate::config::{Arguments, ConfigError};
use crate::dispatch::VictimKind;
use crate::duration;
use crate::effects::{Explanation, ReasonCount};
use crate::model::TaskStatus;
use crate::plugin::UnfitCode;
use crate::resources::{NVIDIA_GPU, add_into, fits};
use crate::session::{JobIx, NodeIx, Session, Statement, TaskIx};

/// PodGroup/Job annotation: a pod of this job may be preempted or reclaimed only after running
/// this long (`90`, `90s`, `15m`, `2h`). Overrides the action argument `minRunTime`.
pub const MIN_RUN_TIME: &str = "basalt.dev/min-run-time";
/// PodGroup/Job annotation: this job may preempt or reclaim only after waiting this long since
/// creation. Overrides the action argument `preemptionDelay`.
pub const PREEMPTION_DELAY: &str = "basalt.dev/preemption-delay";

/// Time rules, in ms (from the action's arguments).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct TimeRules {
    /// Default minimum run time of a victim.
    pub min_run_ms: u64,
    /// Default delay before a job may evict.
    pub delay_ms: u64,
}

impl TimeRules {
    /// Reads `minRunTime` and `preemptionDelay` (durations as for the annotations: a Go
    /// duration or a number of seconds, [`crate::duration::parse_or_seconds`]); absent is 0.
    pub fn from_args(args: &Arguments) -> Result<Self, ConfigError> {
        Ok(Self {
            min_run_ms: args.duration_ms("minRunTime", Some(0))?.unwrap_or(0),
            delay_ms: args.duration_ms("preemptionDelay", Some(0))?.unwrap_or(0),
        })
    }
}

/// Why victims on one node were not usable, counted over nodes; and whether any candidate
/// victim was seen at all (only then was an eviction really considered).
#[derive(Default)]
struct Reasons(BTreeMap<String, u32>, bool);

impl Reasons {
    fn add(&mut self, reason: impl Into<String>) {
        *self.0.entry(reason.into()).or_insert(0) += 1;
    }
}

/// Shared state of one preempt or reclaim pass.
pub(crate) struct Evictor {
    kind: VictimKind,
    rules: TimeRules,
    /// Node-holding tasks per node, built once.
    by_node: Vec<Vec<TaskIx>>,
    /// Running or Bound preemptable tasks (the only possible victims) per queue and per job,
    /// counted once; `[all, BestEffort only]`. Tasks only leave those statuses during an action
    /// (evictions; undo restores them), so the counts bound the candidates from above.
    victims_per_queue: Vec<[u32; 2]>,
    victims_per_job: Vec<[u32; 2]>,
    offset: usize,
    /// Keep victims that would lose more than the reclaimer gains ([`super::progress`];
    /// reclaim's `keepProgress`).
    keep_progress: bool,
    /// For the progress rule: when the task being placed is expected to fit without evictions.
    turnover: Option<u64>,
}

fn annotation_ms(ssn: &Session<'_>, job: JobIx, key: &str) -> Option<u64> {
    ssn.state.jobs[job.ix()]
        .spec
        .annotations
        .get(key)
        .and_then(|v| duration::parse_or_seconds_ms(v).ok())
}

/// Takes victims in order until `req` fits `free`, never leaving a victim gang running below
/// minAvailable: a victim that would is taken only together with all of its gang's running
/// members — on this node or others, each passing the same rules (the gang is evicted whole) —
/// otherwise skipped for another. Reclaim never breaks a running gang (minMember ≥ 2) that
/// holds more GPUs than the reclaiming job asks for: the gang would lose all its progress and
/// re-wait for room of its full size, longer than the owed queue gains (issue 14).
fn gang_safe_prefix(
    ev: &Evictor,
    ssn: &Session<'_>,
    task: TaskIx,
    allowed: &[TaskIx],
    req: &[i64],
    free: &mut [i64],
    reasons: &mut Reasons,
) -> Vec<TaskIx> {
    let st = &ssn.state;
    let mut chosen: Vec<TaskIx> = Vec::new();
    let mut taken: BTreeMap<JobIx, u32> = BTreeMap::new();
    for &v in allowed {
        if fits(req, free) {
            break;
        }
        if chosen.contains(&v) {
            continue;
        }
        let j = st.tasks[v.ix()].job;
        let ready = st.ready_count(j);
        let gone = taken.get(&j).copied().unwrap_or(0);
        if ready.saturating_sub(gone + 1) >= st.jobs[j.ix()].min_member {
            chosen.push(v);
            add_into(free, st.request(v));
            *taken.entry(j).or_insert(0) += 1;
            continue;
        }
        let here: Vec<TaskIx> = allowed
            .iter()
            .copied()
            .filter(|t| st.tasks[t.ix()].job == j && !chosen.contains(t))
            .collect();
        let elsewhere: Vec<TaskIx> = st.jobs[j.ix()]
            .tasks
            .iter()
            .copied()
            .filter(|t| {
                let x = &st.tasks[t.ix()];
                matches!(x.status, TaskStatus::Running | TaskStatus::Bound)
                    && !here.contains(t)
                    && !chosen.contains(t)
            })
            .collect();
        let outweighs = ev.kind == VictimKind::Reclaim
            && st.jobs[j.ix()].min_member >= 2
            && gang_gpus(ssn, j, |s| {
                matches!(s, TaskStatus::Running | TaskStatus::Bound)
            }) > gang_gpus(ssn, st.tasks[task.ix()].job, |s| {
                s == TaskStatus::Pending || s.is_ready()
            });
        if outweighs {
            reasons.add(format!(
                "reclaim does not break running gang {}: it holds more GPUs than the reclaiming job asks for",
                st.jobs[j.ix()].id
            ));
            continue;
        }
        let whole = (here.len() + elsewhere.len()) as u32 + gone == ready
            && elsewhere.iter().all(|t| {
                st.tasks[t.ix()].spec.preemptable
                    && ev.run_left(ssn, *t) == 0
                    && ev.kept(ssn, *t).is_none()
                    && !ev.ahead(ssn, task, *t)
            })
            && (elsewhere.is_empty() || {
                // The plugins judge the whole set, with what is already chosen first.
                let all: Vec<TaskIx> = chosen
                    .iter()
                    .chain(&here)
                    .chain(&elsewhere)
                    .copied()
                    .collect();
                ssn.plugins.victims(ev.kind, st, task, &all).len() == all.len()
            });
        if whole {
            for m in here {
                add_into(free, st.request(m));
                chosen.push(m);
            }
            chosen.extend(elsewhere);
            taken.insert(j, ready);
        } else {
            reasons.add(format!(
                "victim gang {} would drop below minAvailable {} and cannot be evicted whole",
                st.jobs[j.ix()].id,
                st.jobs[j.ix()].min_member
            ));
        }
    }
    chosen
}

/// GPUs requested by the tasks of `job` whose status passes `keep`.
fn gang_gpus(ssn: &Session<'_>, job: JobIx, keep: impl Fn(TaskStatus) -> bool) -> i64 {
    let st = &ssn.state;
    let Some(gpu) = st.dims.index_of(NVIDIA_GPU) else {
        return 0;
    };
    st.jobs[job.ix()]
        .tasks
        .iter()
        .filter(|t| keep(st.tasks[t.ix()].status))
        .map(|t| st.request(*t)[gpu])
        .sum()
}

impl Evictor {
    pub fn new(ssn: &Session<'_>, kind: VictimKind, rules: TimeRules) -> Self {
        let mut by_node = vec![Vec::new(); ssn.state.nodes.len()];
        for (i, t) in ssn.state.tasks.iter().enumerate() {
            if let (Some(n), true) = (t.node, t.status.occupies_node()) {
                by_node[n.ix()].push(TaskIx(i as u32));
            }
        }
        let st = &ssn.state;
        let mut victims_per_queue = vec![[0u32; 2]; st.queues.len()];
        let mut victims_per_job = vec![[0u32; 2]; st.jobs.len()];
        for t in &st.tasks {
            if !matches!(t.status, TaskStatus::Running | TaskStatus::Bound) || !t.spec.preemptable {
                continue;
            }
            let be = usize::from(t.best_effort);
            victims_per_job[t.job.ix()][0] += 1;
            victims_per_job[t.job.ix()][1] += be as u32;
            if let Some(q) = st.jobs[t.job.ix()].queue {
                victims_per_queue[q.ix()][0] += 1;
                victims_per_queue[q.ix()][1] += be as u32;
            }
        }
        Self {
            kind,
            rules,
            by_node,
            victims_per_queue,
            victims_per_job,
            offset: 0,
            keep_progress: false,
            turnover: None,
        }
    }

    /// Whether no pod anywhere is a possible victim (Running or Bound, preemptable, in a
    /// queue): then this action evicts nothing, so it releases nothing either.
    pub fn no_victim_anywhere(&self) -> bool {
        self.victims_per_queue.iter().all(|v| v[0] == 0)
    }

    /// Whether [`Self::run_job`] would do nothing for `job` when no pod anywhere is a possible
    /// victim: every pending task that is not BestEffort is one the session already knows fits
    /// nowhere, even on resources being released. `run_job` then stops at its first such task
    /// (after the delay check, which needs a candidate victim to say anything) without a
    /// statement and without a note (a note needs a candidate victim). Without evictions nothing
    /// is released during the action, so the answer stays true until the job's turn: callers may
    /// leave such jobs out before ordering the rest (issue #23).
    pub fn settled_without_victims(&self, ssn: &mut Session<'_>, job: JobIx) -> bool {
        debug_assert!(self.no_victim_anywhere());
        let tasks = &ssn.state.jobs[job.ix()].tasks;
        (0..tasks.len()).all(|i| {
            let t = ssn.state.jobs[job.ix()].tasks[i];
            let task = &ssn.state.tasks[t.ix()];
            task.status != TaskStatus::Pending || task.best_effort || ssn.known_unfit(t, true)
        })
    }

    /// Switches the progress rule ([`super::progress`]) on or off.
    pub fn keep_progress(mut self, on: bool) -> Self {
        self.keep_progress = on;
        self
    }

    /// `Some((elapsed, gain))` when the progress rule keeps `victim` from the task being placed.
    fn kept(&self, ssn: &Session<'_>, victim: TaskIx) -> Option<(u64, u64)> {
        if !self.keep_progress {
            return None;
        }
        super::progress::kept(&ssn.state, victim, self.turnover)
    }

    /// For the progress rule: when `task` is expected to fit on some node it may use without
    /// any eviction (`None`: rule off, or no known end makes room).
    fn turnover(&self, ssn: &Session<'_>, task: TaskIx) -> Option<u64> {
        if !self.keep_progress {
            return None;
        }
        (0..self.by_node.len())
            .map(|n| NodeIx(n as u32))
            .filter(|&n| ssn.plugins.static_predicate(&ssn.state, task, n).is_ok())
            .filter_map(|n| {
                super::progress::turnover_on(&ssn.state, task, n, &self.by_node[n.ix()])
            })
            .min()
    }

    /// False when no node can hold a candidate victim for `task` (same test as
    /// [`Self::candidates`], on counts); true means "maybe".
    fn may_have_candidates(&self, ssn: &Session<'_>, task: TaskIx) -> bool {
        let st = &ssn.state;
        let me = &st.tasks[task.ix()];
        let Some(my_queue) = st.jobs[me.job.ix()].queue else {
            return true;
        };
        let k = usize::from(me.best_effort);
        match self.kind {
            VictimKind::Preempt => {
                self.victims_per_queue[my_queue.ix()][k] > self.victims_per_job[me.job.ix()][k]
            }
            VictimKind::Reclaim => st.queues.iter().enumerate().any(|(q, queue)| {
                q != my_queue.ix() && queue.spec.reclaimable && self.victims_per_queue[q][k] > 0
            }),
        }
    }

    fn verb(&self) -> &'static str {
        match self.kind {
            VictimKind::Preempt => "preempt",
            VictimKind::Reclaim => "reclaim",
        }
    }

    /// Milliseconds `job` must still wait before it may evict (0 = may evict now).
    pub fn delay_left(&self, ssn: &Session<'_>, job: JobIx) -> u64 {
        let Some(now) = ssn.state.snapshot.now else {
            return 0;
        };
        let delay = annotation_ms(ssn, job, PREEMPTION_DELAY).unwrap_or(self.rules.delay_ms);
        let since = ssn.state.jobs[job.ix()].creation;
        (since.saturating_add(delay)).saturating_sub(now)
    }

    /// Milliseconds before `victim` reaches its minimum run time (0 = may go).
    fn run_left(&self, ssn: &Session<'_>, victim: TaskIx) -> u64 {
        let Some(now) = ssn.state.snapshot.now else {
            return 0;
        };
        let t = &ssn.state.tasks[victim.ix()];
        let min = annotation_ms(ssn, t.job, MIN_RUN_TIME).unwrap_or(self.rules.min_run_ms);
        if min == 0 {
            return 0;
        }
        let started = ssn
            .state
            .snapshot
            .started
            .get(t.id)
            .copied()
            .unwrap_or(t.creation);
        started.saturating_add(min).saturating_sub(now)
    }

    /// Candidates on `node` for `task` before any filter.
    fn candidates(&self, ssn: &Session<'_>, task: TaskIx, node: NodeIx) -> Vec<TaskIx> {
        let st = &ssn.state;
        let me = &st.tasks[task.ix()];
        let my_queue = st.jobs[me.job.ix()].queue;
        self.by_node[node.ix()]
            .iter()
            .copied()
            .filter(|v| {
                let t = &st.tasks[v.ix()];
                let j = &st.jobs[t.job.ix()];
                if !matches!(t.status, TaskStatus::Running | TaskStatus::Bound)
                    || !t.spec.preemptable
                    || t.job == me.job
                    || (me.best_effort && !t.best_effort)
                {
                    return false;
                }
                match self.kind {
                    VictimKind::Preempt => j.queue == my_queue,
                    VictimKind::Reclaim => {
                        j.queue != my_queue
                            && j.queue.is_some_and(|q| st.queues[q.ix()].spec.reclaimable)
                    }
                }
            })
            .collect()
    }

    /// Whether any node holds a candidate victim for `task`.
    fn any_candidate(&self, ssn: &Session<'_>, task: TaskIx) -> bool {
        self.may_have_candidates(ssn, task)
            && (0..self.by_node.len())
                .any(|n| !self.candidates(ssn, task, NodeIx(n as u32)).is_empty())
    }

    /// Whether `victim` would be scheduled ahead of `task` (evicting it could start a cycle).
    fn ahead(&self, ssn: &Session<'_>, task: TaskIx, victim: TaskIx) -> bool {
        let st = &ssn.state;
        let (pj, vj) = (st.tasks[task.ix()].job, st.tasks[victim.ix()].job);
        match self.kind {
            VictimKind::Preempt => ssn.plugins.job_order(st, vj, pj) == Ordering::Less,
            VictimKind::Reclaim => match (st.jobs[pj.ix()].queue, st.jobs[vj.ix()].queue) {
                (Some(pq), Some(vq)) => ssn.plugins.queue_order(st, vq, pq) == Ordering::Less,
                _ => false,
            },
        }
    }

    fn victim_order(&self, ssn: &Session<'_>, a: TaskIx, b: TaskIx) -> Ordering {
        let st = &ssn.state;
        let (ja, jb) = (st.tasks[a.ix()].job, st.tasks[b.ix()].job);
        let by_queue = match (st.jobs[ja.ix()].queue, st.jobs[jb.ix()].queue) {
            (Some(qa), Some(qb)) if qa != qb => ssn.plugins.queue_order(st, qb, qa),
            _ => Ordering::Equal,
        };
        by_queue
            .then_with(|| {
                if ja == jb {
                    Ordering::Equal
                } else {
                    ssn.plugins.job_order(st, jb, ja)
                }
            })
            .then_with(|| ssn.plugins.task_order(st, b, a))
    }

    /// Tries to place `task` by evicting on one node; returns the node's statement on success.
    fn try_task(
        &mut self,
        ssn: &mut Session<'_>,
        task: TaskIx,
        reasons: &mut Reasons,
    ) -> Option<Statement> {
        // Without any possible victim only free room can take the task; when the session
        // already knows there is none, the node walk below would find nothing and its reasons
        // are never shown (they are reported only once a candidate victim was seen).
        if !self.may_have_candidates(ssn, task) && ssn.known_unfit(task, true) {
            return None;
        }
        let n = ssn.state.nodes.len();
        let req = ssn.state.request(task).to_vec();
        let mut free = vec![0i64; req.len()];
        self.turnover = self.turnover(ssn, task);
        for k in 0..n {
            let node = NodeIx(((self.offset + k) % n) as u32);
            if let Err(unfit) = ssn.plugins.static_predicate(&ssn.state, task, node) {
                reasons.add(unfit.reason);
                continue;
            }
            // A resolvable refusal (e.g. deviceshare: no card free yet) may be lifted by the
            // evictions: judge it again once the victims are chosen (reference: Volcano's
            // preemption skips only UnschedulableAndUnresolvable nodes).
            let refused = match ssn.plugins.predicate(&ssn.state, task, node) {
                Ok(()) => None,
                Err(unfit) if unfit.code == UnfitCode::UnschedulableAndUnresolvable => {
                    reasons.add(unfit.reason);
                    continue;
                }
                Err(unfit) => Some(unfit.reason),
            };
            ssn.state.future_idle(node, &mut free);
            if refused.is_none() && fits(&req, &free) {
                if !self.admits_without_victims(ssn, task) {
                    if self.kind == VictimKind::Reclaim {
                        reasons.add(self.refusal(ssn, task));
                        continue;
                    }
                    // The node has room but the queue has none: free the pod's size from
                    // the queue's own lower-priority pods on this node instead.
                    free.iter_mut().for_each(|f| *f = 0);
                } else {
                    let mut stmt = Statement::new();
                    ssn.pipeline(&mut stmt, task, node);
                    self.offset = node.ix();
                    return Some(stmt);
                }
            }
            let all = self.candidates(ssn, task, node);
            if all.is_empty() {
                reasons.add(format!("no {} candidates on the node", self.verb()));
                continue;
            }
            reasons.1 = true;
            let mut cands = Vec::with_capacity(all.len());
            for v in all {
                let left = self.run_left(ssn, v);
                if left > 0 {
                    reasons.add(format!(
                        "victim within its minimum run time ({}s left)",
                        left.div_ceil(1000)
                    ));
                } else if self.ahead(ssn, task, v) {
                    reasons.add("victim would be scheduled ahead of the preemptor (no cycles)");
                } else if self.kept(ssn, v).is_some() {
                    reasons.add(super::progress::REASON);
                } else {
                    cands.push(v);
                }
            }
            if cands.is_empty() {
                continue;
            }
            let mut allowed = ssn.plugins.victims(self.kind, &ssn.state, task, &cands);
            if allowed.len() < cands.len() {
                self.explain_filtered(ssn, &cands, &allowed, reasons);
            }
            if allowed.is_empty() {
                continue;
            }
            allowed.sort_by(|a, b| self.victim_order(ssn, *a, *b));
            let chosen = gang_safe_prefix(self, ssn, task, &allowed, &req, &mut free, reasons);
            if !fits(&req, &free) {
                reasons.add("evicting every allowed victim would not free enough");
                continue;
            }
            let mut stmt = Statement::new();
            let why = format!(
                "{} by {}",
                match self.kind {
                    VictimKind::Preempt => "preempted",
                    VictimKind::Reclaim => "reclaimed",
                },
                ssn.state.tasks[task.ix()].id
            );
            for v in &chosen {
                ssn.evict(&mut stmt, *v, why.clone());
            }
            if let Some(before) = &refused
                && let Err(unfit) = ssn.plugins.predicate(&ssn.state, task, node)
            {
                reasons.add(if &unfit.reason == before {
                    unfit.reason
                } else {
                    format!("{before} (after evictions: {})", unfit.reason)
                });
                ssn.discard(stmt);
                continue;
            }
            // Same-queue victims lowered the queue's allocation: ask the queue now.
            if !self.admits(ssn, task) {
                reasons.add(self.refusal(ssn, task));
                ssn.discard(stmt);
                continue;
            }
            ssn.pipeline(&mut stmt, task, node);
            self.offset = node.ix();
            return Some(stmt);
        }
        None
    }

    /// The queue's vote on taking `task` now: `allocatable` for preempt, `preemptive` for
    /// reclaim.
    fn admits(&self, ssn: &Session<'_>, task: TaskIx) -> bool {
        let Some(q) = ssn.state.jobs[ssn.state.tasks[task.ix()].job.ix()].queue else {
            return false;
        };
        match self.kind {
            VictimKind::Preempt => ssn.plugins.allocatable(&ssn.state, q, task),
            VictimKind::Reclaim => ssn.plugins.preemptive(&ssn.state, q, task),
        }
    }

    /// The queue's vote on taking `task` onto free room with no victim at all. Preempt
    /// additionally needs the queue not to be overused: otherwise preempt would hand an
    /// overused queue the room `allocate` refused it, and those pipelined tasks would inflate
    /// its share until `reclaim` evicts its running pods, which it re-binds in the next
    /// session (the cross-session eviction cycle of the article benchmark).
    fn admits_without_victims(&self, ssn: &Session<'_>, task: TaskIx) -> bool {
        if !self.admits(ssn, task) {
            return false;
        }
        match (
            self.kind,
            ssn.state.jobs[ssn.state.tasks[task.ix()].job.ix()].queue,
        ) {
            (VictimKind::Preempt, Some(q)) => !ssn.plugins.overused(&ssn.state, q),
            _ => true,
        }
    }

    fn refusal(&self, ssn: &Session<'_>, task: TaskIx) -> String {
        let q = ssn.state.jobs[ssn.state.tasks[task.ix()].job.ix()]
            .queue
            .map_or("", |q| ssn.state.queues[q.ix()].id.as_str());
        format!("queue {q} may not take the task (over its deserved share or capability)")
    }

    fn explain_filtered(
        &self,
        ssn: &Session<'_>,
        cands: &[TaskIx],
        allowed: &[TaskIx],
        reasons: &mut Reasons,
    ) {
        let st = &ssn.state;
        for v in cands.iter().filter(|v| !allowed.contains(v)) {
            let j = st.tasks[v.ix()].job;
            let job = &st.jobs[j.ix()];
            if st.ready_count(j) <= job.min_member {
                reasons.add(format!(
                    "victim gang {} would drop below minAvailable {}",
                    job.id, job.min_member
                ));
            } else if self.kind == VictimKind::Reclaim {
                let q = job
                    .queue
                    .map(|q| st.queues[q.ix()].id.as_str())
                    .unwrap_or("");
                reasons.add(format!(
                    "victim queue {q} is not above its deserved share (or would drop below guarantee)"
                ));
            } else {
                reasons.add("victim not lower priority or fair share (priority/drf)");
            }
        }
    }

    /// Runs one starving job: places as many pending tasks as it can; commits when the job is
    /// pipelined, otherwise undoes. Returns how many tasks were placed and committed.
    pub fn run_job(
        &mut self,
        ssn: &mut Session<'_>,
        job: JobIx,
        may_take: &dyn Fn(&Session<'_>, TaskIx) -> Result<(), String>,
    ) -> usize {
        let wait = self.delay_left(ssn, job);
        let pending: Vec<TaskIx> = {
            let st = &ssn.state;
            let mut p: Vec<TaskIx> = st.jobs[job.ix()]
                .tasks
                .iter()
                .copied()
                .filter(|t| st.tasks[t.ix()].status == TaskStatus::Pending)
                .collect();
            p.sort_by(|a, b| ssn.plugins.task_order(st, *a, *b));
            p
        };
        // BestEffort tasks never need an eviction (backfill places them).
        let Some(&first) = pending
            .iter()
            .find(|t| !ssn.state.tasks[t.ix()].best_effort)
        else {
            return 0;
        };
        if wait > 0 {
            if !self.any_candidate(ssn, first) {
                return 0;
            }
            self.note(
                ssn,
                job,
                first,
                0,
                format!("preemption delay: may evict in {}s", wait.div_ceil(1000)),
                Reasons::default(),
            );
            return 0;
        }
        let mut stmts = Vec::new();
        let mut reasons = Reasons::default();
        let mut stop: Option<(TaskIx, String)> = None;
        for &task in &pending {
            if ssn.state.tasks[task.ix()].best_effort {
                continue;
            }
            if !ssn.plugins.job_starving(&ssn.state, job) {
                break;
            }
            if let Err(why) = may_take(ssn, task) {
                reasons.1 |= self.any_candidate(ssn, task);
                stop = Some((task, why));
                break;
            }
            match self.try_task(ssn, task, &mut reasons) {
                Some(stmt) => stmts.push(stmt),
                None => {
                    stop = Some((
                        task,
                        "no node where evicting allowed victims makes it fit".into(),
                    ));
                    break;
                }
            }
        }
        let placed = stmts.len();
        let committed = placed > 0 && ssn.plugins.job_pipelined(&ssn.state, job);
        if committed {
            for stmt in stmts {
                let effects = ssn.commit(stmt);
                ssn.emit(effects);
            }
        } else {
            for stmt in stmts.into_iter().rev() {
                ssn.discard(stmt);
            }
            if placed > 0 && stop.is_none() {
                stop = Some((
                    first,
                    format!("only {placed} tasks could be placed, not enough for the gang"),
                ));
            }
        }
        if let (Some((task, why)), true) = (stop, reasons.1) {
            let nodes = ssn.state.nodes.len() as u32;
            self.note(ssn, job, task, nodes, why, reasons);
        }
        if committed { placed } else { 0 }
    }

    fn note(
        &self,
        ssn: &mut Session<'_>,
        job: JobIx,
        task: TaskIx,
        nodes: u32,
        why: String,
        reasons: Reasons,
    ) {
        let mut list: Vec<ReasonCount> = reasons
            .0
            .into_iter()
            .map(|(reason, nodes)| ReasonCount {
                reason,
                nodes,
                shortfall: None,
            })
            .collect();
        list.sort_by(|a, b| b.nodes.cmp(&a.nodes).then_with(|| a.reason.cmp(&b.reason)));
        let st = &ssn.state;
        let explanation = Explanation {
            job: st.jobs[job.ix()].id.clone(),
            summary: format!("{} not done: {why}", self.verb()).into(),
            task: Some(st.tasks[task.ix()].id.clone()),
            nodes,
            reasons: list.into(),
        };
        ssn.explain(job, explanation);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::dispatch::PluginSet;
    use crate::plugins::testkit::{Kit, job_ix};
    use crate::resources::Resources;
    use crate::session::State;

    /// One 1-CPU node holding a running pod; `big` asks 2 CPUs (fits nowhere), `small` 0.1.
    fn cluster(victim: bool) -> Kit {
        let cpu = |m: i64| Resources::new().with("cpu", m);
        let mut kit = Kit::new();
        kit.node("n", cpu(1000));
        kit.job("run", 1, 0).running("run/0", "run", cpu(500), "n");
        kit.edit_task("run/0", |t| t.preemptable = victim);
        kit.job("big", 1, 1).task("big/0", "big", cpu(2000), 1);
        kit.job("small", 1, 1).task("small/0", "small", cpu(100), 1);
        kit
    }

    #[test]
    fn time_rules_take_every_go_duration() {
        let serde_json::Value::Object(map) = serde_json::json!({
            "minRunTime": "1m30s",
            "preemptionDelay": 90,
        }) else {
            unreachable!("an object literal")
        };
        let args = Arguments::new("preempt", map);
        let rules = TimeRules::from_args(&args).expect("valid durations");
        assert_eq!(rules.min_run_ms, 90_000);
        assert_eq!(rules.delay_ms, 90_000);
    }

    #[test]
    fn only_jobs_that_fit_nowhere_are_settled_and_only_without_victims() {
        let kit = cluster(false);
        let st = State::build(&kit.snap).expect("consistent snapshot");
        let mut ssn = Session::open(st, PluginSet { tiers: Vec::new() }, Vec::new());
        let ev = Evictor::new(&ssn, VictimKind::Preempt, TimeRules::default());
        assert!(ev.no_victim_anywhere());
        let (big, small) = (job_ix(&ssn.state, "big"), job_ix(&ssn.state, "small"));
        assert!(ev.settled_without_victims(&mut ssn, big));
        // 0.1 CPU fits the node's free half: its turn may pipeline it.
        assert!(!ev.settled_without_victims(&mut ssn, small));
        // Without memos the session knows nothing, so nothing is settled.
        ssn.set_memo(false);
        assert!(!ev.settled_without_victims(&mut ssn, big));

        let kit = cluster(true);
        let st = State::build(&kit.snap).expect("consistent snapshot");
        let ssn = Session::open(st, PluginSet { tiers: Vec::new() }, Vec::new());
        let ev = Evictor::new(&ssn, VictimKind::Preempt, TimeRules::default());
        assert!(
            !ev.no_victim_anywhere(),
            "a preemptable running pod is a possible victim"
        );
    }
}
