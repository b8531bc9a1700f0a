//! `reservation` (and its alias `sla`): hold nodes for large gangs that have waited too long, so
//! a stream of small jobs cannot starve them (Slurm's EASY backfill, YuniKorn's reservations).
//!
//! At session open the plugin elects, among admitted gangs that are not ready, those of at least
//! `reservation.min-gpus` GPUs and `reservation.min-member` pods that waited past their waiting
//! time (`reservation.waiting-time`, Volcano's `sla-waiting-time`, or the per-job annotation
//! `volcano.sh/sla-waiting-time`): at most `reservation.depth` of them, the ones already holding
//! nodes first. For each it picks the node set with the earliest expected start (from the expected
//! run times of what runs there) — or keeps the set it held last session (the snapshot carries
//! the previous reservations, so the core stays pure). Without run-time estimates it holds the
//! most idle nodes that can eventually host the gang.
//!
//! While a node is held, a task of another job may use it only if its job's expected end comes
//! before the reservation's estimated start (runtime-aware backfill, `predicate`). The `reserve`
//! action starts the gang on free nodes before `allocate` runs, exempt from its queue's
//! deserved-share cap (not from its capability). Idle held GPUs count as used by the gang's
//! queue in the fair-share accounting ([`idle_charge`]). This module decides; it writes nothing.

use std::cmp::Ordering;

use crate::config::{Arguments, ConfigError};
use crate::duration;
use crate::ids::{JobId, NodeId};
use crate::model::reservation::{
    EXPECTED_RUNTIME_ANNOTATION, RESERVED_CONDITION, Reservation, SLA_WAITING_TIME_ANNOTATION,
    SLA_WAITING_TIME_LEGACY_ANNOTATION,
};
use crate::model::{Job, JobPhase, Snapshot, TaskStatus};
use crate::plugin::{CloseContext, CloseReport, Hooks, JobCondition, Plugin, Unfit};
use crate::resources::{NVIDIA_GPU, add_into};
use crate::session::{JobIx, NodeIx, QueueIx, State, TaskIx};

/// Election and hold parameters (plugin arguments).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Params {
    /// Smallest gang, in GPUs, that may be elected (`reservation.min-gpus`).
    pub min_gpus: i64,
    /// Smallest gang, in pods (`reservation.min-member`).
    pub min_member: u32,
    /// Default waiting time before election, ms (`reservation.waiting-time` / `sla-waiting-time`);
    /// `None` (the `sla` plugin without the argument, as Volcano's): only jobs that carry the
    /// waiting-time annotation have one.
    pub waiting_ms: Option<u64>,
    /// Order jobs by SLA deadline (creation + waiting time, jobs without one last), as
    /// Volcano's `sla` plugin does; the `reservation` plugin leaves job order alone.
    pub deadline_order: bool,
    /// Reservations at once (`reservation.depth`).
    pub depth: usize,
    /// After holding this long the `reserve` action may evict on the held nodes
    /// (`reservation.max-hold`; absent = never).
    pub max_hold_ms: Option<u64>,
    /// Whether idle resources on held nodes count as allocated to the gang's queue in the
    /// fair-share accounting (`reservation.charge-idle`; [`idle_charge`]).
    pub charge_idle: bool,
    /// Whether an elected gang holds nodes (`reservation.hold`). Without the hold the `reserve`
    /// action still gives the gang the first try at free nodes every session, exempt from the
    /// share cap, but no node is kept idle for it.
    pub hold: bool,
}

impl Default for Params {
    fn default() -> Self {
        Self {
            min_gpus: 16,
            min_member: 1,
            waiting_ms: Some(3_600_000),
            deadline_order: false,
            depth: 1,
            max_hold_ms: None,
            charge_idle: true,
            hold: true,
        }
    }
}

/// One reservation as the session sees it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Held {
    /// The gang.
    pub job: JobIx,
    /// Held nodes, ascending.
    pub nodes: Vec<NodeIx>,
    /// First held (ms).
    pub since: u64,
    /// Estimated start (ms), if every run time on the held nodes is known.
    pub start: Option<u64>,
}

/// This session's reservations.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ReservationPlan {
    /// Reservations in election order.
    pub held: Vec<Held>,
    /// Per node: index into `held` of the reservation holding it.
    pub owner: Vec<Option<usize>>,
    /// Session clock (ms).
    pub now: u64,
    /// The parameters (the `reserve` action reads `max_hold_ms`).
    pub params: Params,
}

/// The `reservation` plugin (also registered as `sla`).
#[derive(Clone, Debug)]
pub struct ReservationPlugin {
    name: &'static str,
    params: Params,
    plan: ReservationPlan,
}

fn read_params(args: &Arguments, sla: bool) -> Result<Params, ConfigError> {
    let d = Params::default();
    let whole = |key: &str, default: i64| -> Result<i64, ConfigError> {
        let v = args.i64(key, default)?;
        if v < 0 {
            return Err(ConfigError::BadArgument {
                owner: if sla {
                    "plugin \"sla\""
                } else {
                    "plugin \"reservation\""
                }
                .into(),
                key: key.into(),
                value: v.to_string(),
                expected: "a whole number ≥ 0",
            });
        }
        Ok(v)
    };
    // Volcano's sla applies to every job: no size threshold unless one is given.
    let (min_gpus, min_member) = if sla {
        (0, 1)
    } else {
        (d.min_gpus, d.min_member)
    };
    let waiting = match args.duration_ms("reservation.waiting-time", None)? {
        Some(w) => Some(w),
        // Volcano's sla without `sla-waiting-time` gives no job a waiting time but those
        // that carry the annotation.
        None => match args.duration_ms("sla-waiting-time", None)? {
            Some(w) => Some(w),
            None if sla => None,
            None => d.waiting_ms,
        },
    };
    Ok(Params {
        min_gpus: whole("reservation.min-gpus", min_gpus)?,
        min_member: whole("reservation.min-member", i64::from(min_member))? as u32,
        waiting_ms: waiting,
        deadline_order: sla,
        depth: whole("reservation.depth", d.depth as i64)? as usize,
        max_hold_ms: args.duration_ms("reservation.max-hold", d.max_hold_ms)?,
        charge_idle: args.bool("reservation.charge-idle", d.charge_idle)?,
        hold: args.bool("reservation.hold", d.hold)?,
    })
}

/// Registry factory for `reservation`.
pub fn factory(args: &Arguments) -> Result<Box<dyn Plugin>, ConfigError> {
    Ok(Box::new(ReservationPlugin {
        name: "reservation",
        params: read_params(args, false)?,
        plan: ReservationPlan::default(),
    }))
}

/// Registry factory for Volcano's `sla` (same mechanism: `sla-waiting-time`, no size threshold).
pub fn sla_factory(args: &Arguments) -> Result<Box<dyn Plugin>, ConfigError> {
    Ok(Box::new(ReservationPlugin {
        name: "sla",
        params: read_params(args, true)?,
        plan: ReservationPlan::default(),
    }))
}

/// Where a job's expected run time comes from.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum RuntimeSource {
    /// The job's `basalt.dev/expected-runtime` annotation.
    Annotation,
    /// What the shell passed for the job (`activeDeadlineSeconds` or the pods' annotation).
    Declared,
    /// Its queue's mean run time, learned from finished jobs.
    QueueMean,
}

/// Expected run time of `job` in ms: the `basalt.dev/expected-runtime` annotation, else what the
/// shell passed (`activeDeadlineSeconds`), else its queue's learned estimate.
pub fn expected_runtime(st: &State<'_>, job: JobIx) -> Option<u64> {
    let j = &st.jobs[job.ix()];
    runtime_estimate(st.snapshot, j.id, j.spec).map(|(ms, _)| ms)
}

/// [`expected_runtime`] of job `id` (spec `job`) read from a snapshot, with its source.
pub fn runtime_estimate(snap: &Snapshot, id: &JobId, job: &Job) -> Option<(u64, RuntimeSource)> {
    if let Some(ms) = job
        .annotations
        .get(EXPECTED_RUNTIME_ANNOTATION)
        .and_then(|v| duration::parse_or_seconds_ms(v).ok())
    {
        return Some((ms, RuntimeSource::Annotation));
    }
    snap.expected_runtime
        .get(id)
        .map(|ms| (*ms, RuntimeSource::Declared))
        .or_else(|| {
            snap.queue_runtime
                .get(&job.queue)
                .map(|ms| (*ms, RuntimeSource::QueueMean))
        })
}

/// When job `id` of `snap` is expected to free the nodes it holds: the latest expected end of its
/// tasks that occupy a node (each as [`expected_end`] sees it, at `now`), and where its run time
/// comes from. `None` when the job's run time is unknown or none of its tasks holds a node.
pub fn job_expected_end(snap: &Snapshot, id: &JobId, now: u64) -> Option<(u64, RuntimeSource)> {
    let job = snap.jobs.get(id)?;
    let (runtime, source) = runtime_estimate(snap, id, job)?;
    snap.tasks
        .iter()
        .filter(|(_, t)| &t.job == id && t.node.is_some() && t.status.occupies_node())
        .map(|(tid, t)| {
            let started = snap.started.get(tid).copied().unwrap_or(t.creation);
            overrun_end(started, runtime, now)
        })
        .max()
        .map(|end| (end, source))
}

/// When `task` (occupying a node) is expected to free it: `None` if its job's run time is unknown.
///
/// A task still running past its expected end has outrun its estimate (a learned queue mean
/// says little about one job of a heavy-tailed mix): it is expected to run as long again as it
/// has run so far ([`overrun_end`]). Taking "ends now" instead — the rule before 2026-12-06 —
/// made a reservation whose nodes hold one long job look about to start in every session, so
/// nothing could backfill its idle GPUs for as long as that job ran.
fn expected_end(st: &State<'_>, task: TaskIx, now: u64) -> Option<u64> {
    let t = &st.tasks[task.ix()];
    let runtime = expected_runtime(st, t.job)?;
    let started = st.snapshot.started.get(t.id).copied().unwrap_or(t.creation);
    Some(overrun_end(started, runtime, now))
}

/// Expected end of a task started at `started` with expected run time `runtime`, seen at `now`:
/// `started + runtime` while that is not past, else `now + (now − started)` (doubling: a task
/// that outran its estimate is expected to run as long again as it has so far).
pub fn overrun_end(started: u64, runtime: u64, now: u64) -> u64 {
    let end = started.saturating_add(runtime);
    if end >= now {
        end
    } else {
        now.saturating_add(now.saturating_sub(started))
    }
}

/// GPUs the job's gang asks for (its non-finished tasks).
fn gang_gpus(st: &State<'_>, job: JobIx) -> i64 {
    let Some(gpu) = st.dims.index_of(NVIDIA_GPU) else {
        return 0;
    };
    st.jobs[job.ix()]
        .tasks
        .iter()
        .filter(|t| {
            let s = st.tasks[t.ix()].status;
            s == TaskStatus::Pending || s.is_ready()
        })
        .map(|t| st.request(*t)[gpu])
        .sum()
}

/// Whether `job` is a gang waiting for nodes: admitted, not ready, with pending tasks.
fn waiting_gang(st: &State<'_>, job: JobIx) -> bool {
    let j = &st.jobs[job.ix()];
    j.queue.is_some()
        && j.phase == JobPhase::Inqueue
        && st.ready_count(job) < j.min_member.max(1)
        && st.count(job, TaskStatus::Pending) > 0
}

/// The job's waiting time (ms): its `volcano.sh/sla-waiting-time` annotation, else the
/// unprefixed `sla-waiting-time` (Volcano reads both, in that order), else the plugin's. A
/// malformed or zero annotation counts as absent, as in Volcano.
fn waiting_time(st: &State<'_>, job: JobIx, params: &Params) -> Option<u64> {
    let annotations = &st.jobs[job.ix()].spec.annotations;
    [
        SLA_WAITING_TIME_ANNOTATION,
        SLA_WAITING_TIME_LEGACY_ANNOTATION,
    ]
    .iter()
    .find_map(|key| {
        annotations
            .get(*key)
            .and_then(|v| duration::parse_or_seconds_ms(v).ok())
            .filter(|ms| *ms > 0)
    })
    .or(params.waiting_ms)
}

/// Whether `job` is large enough to be elected and has waited past its waiting time.
fn aged_large(st: &State<'_>, job: JobIx, params: &Params, now: u64) -> bool {
    let j = &st.jobs[job.ix()];
    let Some(wait) = waiting_time(st, job, params) else {
        return false;
    };
    // A gang not yet admitted may have no pods yet (the job controller creates them on
    // admission): its minResources tell its size then.
    let min_gpus = j
        .spec
        .min_resources
        .as_ref()
        .map_or(0, |m| m.get(NVIDIA_GPU));
    j.min_member >= params.min_member
        && gang_gpus(st, job).max(min_gpus) >= params.min_gpus
        && now.saturating_sub(j.creation) >= wait
}

impl ReservationPlan {
    /// Reservations that could still be made this session (`depth` minus those held).
    pub fn free_slots(&self) -> usize {
        self.params.depth.saturating_sub(self.held.len())
    }

    /// Whether the Pending `job` would be elected once admitted: `enqueue` admits such a gang
    /// (while [`Self::free_slots`] allows) even when the cluster has no headroom for it or its
    /// queue's share is taken — otherwise a gang behind a stream of small jobs never leaves
    /// Pending, since every GPU that frees is admitted to the next small job, and a gang that
    /// is not admitted cannot hold nodes. Its queue's capability still applies when it starts.
    pub fn owes_admission(&self, st: &State<'_>, job: JobIx) -> bool {
        let j = &st.jobs[job.ix()];
        st.snapshot.now.is_some()
            && j.phase == JobPhase::Pending
            && j.queue.is_some()
            && aged_large(st, job, &self.params, self.now)
    }
}

/// How many copies of `req` fit in `avail`.
fn fit_count(avail: &[i64], req: &[i64]) -> i64 {
    let mut n = i64::MAX;
    for (a, r) in avail.iter().zip(req) {
        if *r > 0 {
            n = n.min((*a).max(0) / r);
        }
    }
    if n == i64::MAX { 0 } else { n }
}

/// Per node, what frees when: base capacity now and the occupying tasks' (end, request).
struct NodeTimeline {
    base: Vec<i64>,
    ends: Vec<(Option<u64>, TaskIx)>,
}

impl NodeTimeline {
    fn build(st: &State<'_>, node: NodeIx, by_node: &[Vec<TaskIx>], now: u64) -> Self {
        let mut base = vec![0; st.dims.len()];
        st.future_idle(node, &mut base);
        let mut ends: Vec<(Option<u64>, TaskIx)> = by_node[node.ix()]
            .iter()
            .map(|t| (expected_end(st, *t, now), *t))
            .collect();
        ends.sort_by_key(|(e, t)| (e.unwrap_or(u64::MAX), *t));
        Self { base, ends }
    }

    /// How much of one copy of `req` is free now (the scarcest resource's idle ÷ request):
    /// ranks nodes by idleness when counts tie.
    fn slack(&self, req: &[i64]) -> f64 {
        self.base
            .iter()
            .zip(req)
            .filter(|(_, r)| **r > 0)
            .map(|(a, r)| (*a).max(0) as f64 / *r as f64)
            .fold(f64::INFINITY, f64::min)
    }

    /// Copies of `req` that fit once everything expected to end by `t` has ended (`None`: all,
    /// including unknown ends — the node's eventual capacity).
    fn fits_at(&self, st: &State<'_>, t: Option<u64>, req: &[i64]) -> i64 {
        let mut avail = self.base.clone();
        for (end, task) in &self.ends {
            let ended = match (end, t) {
                (_, None) => true,
                (Some(e), Some(t)) => *e <= t,
                (None, Some(_)) => false,
            };
            if ended {
                add_into(&mut avail, st.request(*task));
            }
        }
        fit_count(&avail, req)
    }
}

/// Elects and places this session's reservations (pure function of the state).
pub fn plan(st: &State<'_>, params: &Params) -> ReservationPlan {
    let mut out = ReservationPlan {
        owner: vec![None; st.nodes.len()],
        params: params.clone(),
        ..ReservationPlan::default()
    };
    let Some(now) = st.snapshot.now else {
        return out;
    };
    out.now = now;
    if params.depth == 0 {
        return out;
    }
    let mut elected: Vec<(JobIx, Option<&Reservation>)> = (0..st.jobs.len())
        .map(|i| JobIx(i as u32))
        .filter(|&job| waiting_gang(st, job) && aged_large(st, job, params, now))
        .map(|job| (job, st.snapshot.reservations.get(st.jobs[job.ix()].id)))
        .collect();
    elected.sort_by(|(a, ra), (b, rb)| {
        let (ja, jb) = (&st.jobs[a.ix()], &st.jobs[b.ix()]);
        match (ra, rb) {
            (Some(x), Some(y)) => x.since.cmp(&y.since),
            (Some(_), None) => Ordering::Less,
            (None, Some(_)) => Ordering::Greater,
            (None, None) => Ordering::Equal,
        }
        .then(jb.priority.cmp(&ja.priority))
        .then(ja.creation.cmp(&jb.creation))
        .then(a.cmp(b))
    });
    let mut by_node: Vec<Vec<TaskIx>> = vec![Vec::new(); st.nodes.len()];
    for (i, t) in st.tasks.iter().enumerate() {
        if let Some(n) = t.node
            && t.status.occupies_node()
            && t.status != TaskStatus::Releasing
        {
            by_node[n.ix()].push(TaskIx(i as u32));
        }
    }
    let node_ix = |id: &NodeId| -> Option<NodeIx> {
        st.nodes
            .binary_search_by(|n| n.id.cmp(id))
            .ok()
            .map(|i| NodeIx(i as u32))
    };
    for (job, previous) in elected {
        if out.held.len() >= params.depth {
            break;
        }
        let j = &st.jobs[job.ix()];
        let need = i64::from(j.min_member.max(1).saturating_sub(st.ready_count(job)));
        let mut req = vec![0i64; st.dims.len()];
        for &t in &j.tasks {
            if st.tasks[t.ix()].status == TaskStatus::Pending {
                for (r, v) in req.iter_mut().zip(st.request(t)) {
                    *r = (*r).max(*v);
                }
            }
        }
        let usable = |n: NodeIx| -> bool {
            let node = &st.nodes[n.ix()];
            out.owner[n.ix()].is_none()
                && !node.spec.unschedulable
                && fit_count(st.allocatable.row(n.ix()), &req) > 0
        };
        let candidates: Vec<NodeIx> = (0..st.nodes.len())
            .map(|i| NodeIx(i as u32))
            .filter(|n| usable(*n))
            .collect();
        let lines: Vec<(NodeIx, NodeTimeline)> = candidates
            .iter()
            .map(|&n| (n, NodeTimeline::build(st, n, &by_node, now)))
            .collect();
        let times = |set: &[&(NodeIx, NodeTimeline)]| -> Vec<u64> {
            let mut ts: Vec<u64> = std::iter::once(now)
                .chain(
                    set.iter()
                        .flat_map(|(_, l)| l.ends.iter().filter_map(|(e, _)| *e)),
                )
                .collect();
            ts.sort_unstable();
            ts.dedup();
            ts
        };
        let earliest = |set: &[&(NodeIx, NodeTimeline)]| -> Option<u64> {
            times(set).into_iter().find(|&t| {
                set.iter()
                    .map(|(_, l)| l.fits_at(st, Some(t), &req))
                    .sum::<i64>()
                    >= need
            })
        };
        // Sticky: keep last session's nodes while they all still qualify.
        let kept: Option<Vec<&(NodeIx, NodeTimeline)>> = previous.and_then(|p| {
            let set: Vec<&(NodeIx, NodeTimeline)> = p
                .nodes
                .iter()
                .filter_map(&node_ix)
                .filter_map(|n| lines.iter().find(|(m, _)| *m == n))
                .collect();
            let eventual: i64 = set.iter().map(|(_, l)| l.fits_at(st, None, &req)).sum();
            (set.len() == p.nodes.len() && !set.is_empty() && eventual >= need).then_some(set)
        });
        let (set, start, since) = match kept {
            Some(set) => {
                let start = earliest(&set);
                (set, start, previous.map_or(now, |p| p.since))
            }
            None => {
                let all: Vec<&(NodeIx, NodeTimeline)> = lines.iter().collect();
                match earliest(&all) {
                    Some(t) => {
                        let mut ranked: Vec<(i64, f64, &(NodeIx, NodeTimeline))> = all
                            .iter()
                            .map(|x| (x.1.fits_at(st, Some(t), &req), x.1.slack(&req), *x))
                            .filter(|(k, _, _)| *k > 0)
                            .collect();
                        ranked.sort_by(|a, b| {
                            b.0.cmp(&a.0)
                                .then(b.1.total_cmp(&a.1))
                                .then(a.2.0.cmp(&b.2.0))
                        });
                        (take_until(ranked, need), Some(t), now)
                    }
                    None => {
                        // No estimate reaches the gang: hold the most idle nodes that can
                        // eventually host it.
                        let mut ranked: Vec<(i64, f64, &(NodeIx, NodeTimeline))> = all
                            .iter()
                            .map(|x| (x.1.fits_at(st, None, &req), x.1.slack(&req), *x))
                            .filter(|(k, _, _)| *k > 0)
                            .collect();
                        ranked.sort_by(|a, b| b.1.total_cmp(&a.1).then(a.2.0.cmp(&b.2.0)));
                        let eventual: i64 = ranked.iter().map(|r| r.0).sum();
                        if eventual < need {
                            continue;
                        }
                        (take_until(ranked, need), None, now)
                    }
                }
            }
        };
        if set.is_empty() {
            continue;
        }
        let mut nodes: Vec<NodeIx> = set.iter().map(|(n, _)| *n).collect();
        nodes.sort_unstable();
        // Without the hold the gang keeps its election (and its place in the election order)
        // but no node: nothing is refused, charged or kept out of headroom for it.
        let since = if params.hold {
            since
        } else {
            nodes.clear();
            previous.map_or(now, |p| p.since)
        };
        let ix = out.held.len();
        for n in &nodes {
            out.owner[n.ix()] = Some(ix);
        }
        out.held.push(Held {
            job,
            nodes,
            since,
            start,
        });
    }
    out
}

/// Takes ranked nodes (copies that fit, rank key, node) until `need` copies fit.
fn take_until<T>(ranked: Vec<(i64, f64, &T)>, need: i64) -> Vec<&T> {
    let mut got = 0;
    let mut set = Vec::new();
    for (k, _, x) in ranked {
        if got >= need {
            break;
        }
        got += k;
        set.push(x);
    }
    set
}

/// Idle resources on the nodes each previous reservation (from the snapshot) holds, charged to
/// the reserved gang's queue, at most what the gang still asks for. Fair-share accounting adds
/// these to the queue's allocation: a held GPU that sits idle is the holder's, not free.
/// Nothing is charged when the configured plugin says `reservation.charge-idle: false`
/// ([`State::charge_held_idle`]).
pub fn idle_charge(st: &State<'_>) -> Vec<(QueueIx, Vec<i64>)> {
    let snap = st.snapshot;
    if !st.charge_held_idle || snap.reservations.is_empty() {
        return Vec::new();
    }
    let mut out = Vec::new();
    for (i, j) in st.jobs.iter().enumerate() {
        let job = JobIx(i as u32);
        let (Some(q), Some(r)) = (j.queue, snap.reservations.get(j.id)) else {
            continue;
        };
        if !waiting_gang(st, job) {
            continue;
        }
        let mut want = vec![0i64; st.dims.len()];
        for &t in &j.tasks {
            if st.tasks[t.ix()].status == TaskStatus::Pending {
                add_into(&mut want, st.request(t));
            }
        }
        let mut idle = vec![0i64; st.dims.len()];
        for id in &r.nodes {
            if let Ok(n) = st.nodes.binary_search_by(|n| n.id.cmp(id)) {
                for (a, v) in idle.iter_mut().zip(st.idle.row(n)) {
                    *a += (*v).max(0);
                }
            }
        }
        let charge: Vec<i64> = idle.iter().zip(&want).map(|(a, w)| (*a).min(*w)).collect();
        if charge.iter().any(|v| *v > 0) {
            out.push((q, charge));
        }
    }
    out
}

/// The snapshot form of a held reservation (what the shell stores on the PodGroup).
pub fn to_record(st: &State<'_>, h: &Held) -> Reservation {
    Reservation {
        nodes: h
            .nodes
            .iter()
            .map(|n| st.nodes[n.ix()].id.clone())
            .collect(),
        since: h.since,
        estimated_start: h.start,
    }
}

/// Human form of a time relative to `now` (both ms): `in about 40 min`, `in about 3 h`.
pub fn in_words(now: u64, at: u64) -> String {
    let mins = at.saturating_sub(now) / 60_000;
    if mins >= 120 {
        format!("in about {} h", mins / 60)
    } else {
        format!("in about {mins} min")
    }
}

impl Plugin for ReservationPlugin {
    fn name(&self) -> &'static str {
        self.name
    }

    fn hooks(&self) -> Hooks {
        Hooks::JOB_ORDER | Hooks::PREDICATE | Hooks::CLOSE
    }

    /// With no reservation this session the predicate admits everything, which is node-local;
    /// with one it depends on the asking job's run time.
    fn node_local(&self) -> bool {
        self.plan.held.is_empty()
    }

    fn open(&mut self, st: &State<'_>) {
        self.plan = plan(st, &self.params);
    }

    fn job_order(&self, st: &State<'_>, a: JobIx, b: JobIx) -> Ordering {
        let rank = |j: JobIx| self.plan.held.iter().position(|h| h.job == j);
        let held = match (rank(a), rank(b)) {
            (Some(x), Some(y)) => x.cmp(&y),
            (Some(_), None) => Ordering::Less,
            (None, Some(_)) => Ordering::Greater,
            (None, None) => Ordering::Equal,
        };
        if held.is_ne() || !self.params.deadline_order {
            return held;
        }
        // Volcano's sla order: the earlier deadline (creation + waiting time) first, jobs
        // without a waiting time after those with one.
        let deadline = |j: JobIx| {
            waiting_time(st, j, &self.params).map(|w| st.jobs[j.ix()].creation.saturating_add(w))
        };
        match (deadline(a), deadline(b)) {
            (Some(x), Some(y)) => x.cmp(&y),
            (Some(_), None) => Ordering::Less,
            (None, Some(_)) => Ordering::Greater,
            (None, None) => Ordering::Equal,
        }
    }

    fn predicate(&self, st: &State<'_>, task: TaskIx, node: NodeIx) -> Result<(), Unfit> {
        let Some(ix) = self.plan.owner.get(node.ix()).copied().flatten() else {
            return Ok(());
        };
        let h = &self.plan.held[ix];
        let job = st.tasks[task.ix()].job;
        if job == h.job {
            return Ok(());
        }
        if let (Some(start), Some(run)) = (h.start, expected_runtime(st, job))
            && self.plan.now.saturating_add(run) <= start
        {
            return Ok(());
        }
        Err(Unfit::unschedulable(
            "node(s) reserved for a waiting gang (a job may backfill only if its expected run time ends before the gang's estimated start)",
        ))
    }

    fn close(&self, st: &State<'_>, _ctx: &CloseContext<'_>, report: &mut CloseReport) {
        for h in &self.plan.held {
            if !waiting_gang(st, h.job) {
                continue;
            }
            let (reason, message) = if h.nodes.is_empty() {
                (
                    "FirstInLine",
                    format!(
                        "elected since {} ms: this gang gets the first try at free nodes every session, past its queue's deserved share; no node is held for it (reservation.hold: false)",
                        h.since
                    ),
                )
            } else {
                let names: Vec<&str> = h
                    .nodes
                    .iter()
                    .map(|n| st.nodes[n.ix()].id.as_str())
                    .collect();
                let start = match h.start {
                    Some(t) => format!("estimated start {} ({t} ms)", in_words(self.plan.now, t)),
                    None => "estimated start unknown (running jobs declare no run time)".into(),
                };
                (
                    "NodesReserved",
                    format!(
                        "holding nodes {} for this gang; {start}; held since {} ms",
                        names.join(", "),
                        h.since
                    ),
                )
            };
            report
                .conditions
                .entry(h.job)
                .or_default()
                .push(JobCondition {
                    kind: RESERVED_CONDITION.into(),
                    status: true,
                    reason: reason.into(),
                    message: message.into(),
                });
            report.reservations.push((h.job, to_record(st, h)));
        }
    }

    fn charges_held_idle(&self) -> Option<bool> {
        Some(self.params.charge_idle)
    }

    fn reservation_plan(&self) -> Option<&ReservationPlan> {
        Some(&self.plan)
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests;
