//! `proportion`: each queue's deserved share by weighted water-filling over the cluster
//! (reference §4.5), and everything that follows from it — queue order by share, `overused`
//! (deserved ≤ allocated: the queue gets no more turns), `allocatable` (allocated + task ≤ real
//! capability: a queue below its share may start a job that takes it past deserved, up to
//! capability), `preemptive` (within deserved), enqueue admission against the queue's real
//! capability, and reclaim victims only from queues above their deserved share (never below
//! guarantee) — which is how a queue's excess over deserved is taken back.
//!
//! Only queues with at least one job take part in the water-filling, so idle queues lend their
//! share; when they submit, the shares are recomputed and `reclaim` takes the loan back.
//!
//! **Aged gangs** (Basalt's extension, argument `proportion.aged-gang-waiting-time`, off unless
//! set; Basalt's default configuration sets 2h). A gang (minMember > 1) still waiting to start
//! that long after its creation is *aged*: its queue orders before every queue without one
//! (oldest aged gang first), is not `overused` while it waits, and `enqueue` stops counting
//! reclaimable room as headroom for other jobs (they are admitted only into idle room) so that
//! room that frees is not promised away before the gang's turn. Without it a gang larger than
//! its queue's deserved share starts only when its queue is below share *and* the room frees
//! in one session, and the lowest-share queue's small jobs take that room first
//! (docs/fairness.md, "Aged gangs"; measured in docs/simulator.md).

use std::cmp::Ordering;

use crate::config::{Arguments, ConfigError};
use crate::model::{JobPhase, QueueState, TaskStatus};
use crate::plugin::{CloseContext, CloseReport, Hooks, Plugin, Vote};
use crate::plugins::fairshare::{self, QueueAttr};
use crate::resources::{add_into, sub_into};
use crate::session::{JobIx, NodeIx, QueueIx, State, TaskIx};

/// The `proportion` plugin.
#[derive(Clone, Debug, Default)]
pub struct Proportion {
    queues: Vec<QueueAttr>,
    total: Vec<i64>,
    /// Σ allocated over all queues.
    used: Vec<i64>,
    /// `proportion.aged-gang-waiting-time` (ms); `None` = no aged-gang rule.
    aged_after_ms: Option<u64>,
    /// Per queue: creation of its oldest aged gang still waiting (set at `open`).
    aged_since: Vec<Option<u64>>,
    /// The aged gangs of this session, oldest first.
    aged: Vec<JobIx>,
}

/// The argument that turns the aged-gang rule on.
pub const AGED_GANG_WAITING_TIME: &str = "proportion.aged-gang-waiting-time";

/// Registry factory.
pub fn factory(args: &Arguments) -> Result<Box<dyn Plugin>, ConfigError> {
    Ok(Box::new(Proportion {
        aged_after_ms: args.duration_ms(AGED_GANG_WAITING_TIME, None)?,
        ..Proportion::default()
    }))
}

/// Whether `job` is an aged gang at `now`: minMember > 1, not started (Pending or admitted,
/// fewer than minMember tasks placed), created at least `after_ms` ago.
pub fn is_aged_gang(st: &State<'_>, job: JobIx, now: u64, after_ms: u64) -> bool {
    let j = &st.jobs[job.ix()];
    j.min_member > 1
        && matches!(j.phase, JobPhase::Pending | JobPhase::Inqueue)
        && st.ready_count(job) < j.min_member
        && j.creation.saturating_add(after_ms) <= now
}

impl Proportion {
    /// Per-queue accounting after `open` (tests and the docs' numbers read it).
    pub fn queues(&self) -> &[QueueAttr] {
        &self.queues
    }
}

/// Weighted water-filling (reference §4.5 "proportion", step 3), in place on `attrs[i].deserved`.
/// Only `active` queues take part; `total` is the cluster's allocatable.
///
/// Volcano fills in floating point; resources here are whole units (one GPU is 1), so the fill
/// runs in thousandths and the result is rounded once at the end: each queue keeps the whole
/// units of its exact share and the units those floors leave over go one each to the largest
/// fractions (ties: the larger weight, then the earlier queue; a static order — ties broken by
/// what queues hold now would make shares follow allocations and reclaim evict back and forth).
/// Truncating every round instead lost units, and a later round gave them to whichever queue
/// was still unmet in *other* resources: 8 GPUs by weights 2 : 3 (capability 3) : 1 came out
/// 2 / 3 / 3, the weight-1 queue above the weight-2 one (exact: 3⅓ / 3 / 1⅔, now 3 / 3 / 2;
/// found by `fairness_properties::capability_deserved_guarantee_and_no_cycles`).
pub fn water_fill(attrs: &mut [QueueAttr], total: &[i64]) {
    const SCALE: i128 = 1000;
    let d = total.len();
    let n = attrs.len();
    let up = |v: i64| i128::from(v).saturating_mul(SCALE);
    let cap: Vec<Vec<i128>> = attrs
        .iter()
        .map(|a| {
            (0..d)
                .map(|r| up(a.real_capability[r]).min(up(a.request[r])))
                .collect()
        })
        .collect();
    let floor: Vec<Vec<i128>> = attrs
        .iter()
        .map(|a| (0..d).map(|r| up(a.guarantee[r])).collect())
        .collect();
    let mut deserved: Vec<Vec<i128>> = attrs
        .iter()
        .map(|a| (0..d).map(|r| up(a.deserved[r])).collect())
        .collect();
    let mut remaining: Vec<i128> = total.iter().map(|v| up(*v)).collect();
    let mut met = vec![false; n];
    loop {
        let weights: i128 = (0..n)
            .filter(|&i| attrs[i].active && !met[i])
            .map(|i| i128::from(attrs[i].weight))
            .sum();
        if weights == 0 {
            break;
        }
        let before = remaining.clone();
        let mut increased = vec![0i128; d];
        let mut decreased = vec![0i128; d];
        for i in 0..n {
            if !attrs[i].active || met[i] {
                continue;
            }
            let old = deserved[i].clone();
            for r in 0..d {
                let add = remaining[r] * i128::from(attrs[i].weight) / weights;
                let v = deserved[i][r]
                    .saturating_add(add)
                    .min(cap[i][r])
                    .max(floor[i][r]);
                deserved[i][r] = v;
                if v > old[r] {
                    increased[r] += v - old[r];
                } else {
                    decreased[r] += old[r] - v;
                }
            }
            let satisfied = (0..d).all(|r| up(attrs[i].request[r]) <= deserved[i][r]);
            if satisfied || deserved[i] == old {
                met[i] = true;
            }
        }
        for r in 0..d {
            remaining[r] = (remaining[r] + decreased[r] - increased[r]).max(0);
        }
        if remaining.iter().all(|v| *v <= 0) || remaining == before {
            break;
        }
    }
    // Round once: floors, then the leftover whole units by largest fraction.
    #[allow(clippy::needless_range_loop)] // r indexes a column across every queue's vectors
    for r in 0..d {
        let active: Vec<usize> = (0..n).filter(|&i| attrs[i].active).collect();
        let exact: i128 = active.iter().map(|&i| deserved[i][r]).sum();
        let mut left = (exact + SCALE / 2) / SCALE;
        let mut order: Vec<(i128, u64, usize)> = Vec::with_capacity(active.len());
        for &i in &active {
            let whole = deserved[i][r] / SCALE;
            left -= whole;
            attrs[i].deserved[r] = i64::try_from(whole).unwrap_or(i64::MAX);
            order.push((deserved[i][r] % SCALE, attrs[i].weight, i));
        }
        order.sort_by(|a, b| b.0.cmp(&a.0).then(b.1.cmp(&a.1)).then(a.2.cmp(&b.2)));
        for &(fraction, _, i) in &order {
            if left <= 0 || fraction == 0 {
                break;
            }
            attrs[i].deserved[r] = attrs[i].deserved[r].saturating_add(1);
            left -= 1;
        }
    }
    for a in attrs.iter_mut() {
        a.refresh_share();
    }
}

impl Plugin for Proportion {
    fn name(&self) -> &'static str {
        "proportion"
    }

    fn hooks(&self) -> Hooks {
        Hooks::QUEUE_ORDER
            | Hooks::OVERUSED
            | Hooks::ALLOCATABLE
            | Hooks::PREEMPTIVE
            | Hooks::RECLAIMABLE
            | Hooks::JOB_ENQUEUEABLE
            | Hooks::JOB_ENQUEUED
            | Hooks::EVENTS
            | Hooks::CLOSE
    }

    fn close(&self, _: &State<'_>, _: &CloseContext<'_>, report: &mut CloseReport) {
        for (i, a) in self.queues.iter().enumerate() {
            if a.active {
                report
                    .deserved
                    .insert(QueueIx(i as u32), a.deserved.clone());
            }
        }
    }

    fn open(&mut self, st: &State<'_>) {
        self.queues = fairshare::accounting(st);
        water_fill(&mut self.queues, &st.total_allocatable);
        self.total.clone_from(&st.total_allocatable);
        self.used = vec![0; st.dims.len()];
        for a in &self.queues {
            add_into(&mut self.used, &a.allocated);
        }
        self.aged_since = vec![None; st.queues.len()];
        self.aged.clear();
        if let (Some(after), Some(now)) = (self.aged_after_ms, st.snapshot.now) {
            for i in 0..st.jobs.len() {
                let job = JobIx(i as u32);
                let Some(q) = st.jobs[i].queue else { continue };
                if !is_aged_gang(st, job, now, after) {
                    continue;
                }
                let created = st.jobs[i].creation;
                let slot = &mut self.aged_since[q.ix()];
                *slot = Some(slot.map_or(created, |c| c.min(created)));
                self.aged.push(job);
            }
            self.aged
                .sort_by_key(|j| (st.jobs[j.ix()].creation, st.jobs[j.ix()].id));
        }
    }

    fn aged_gangs(&self) -> Option<&[JobIx]> {
        self.aged_after_ms.map(|_| self.aged.as_slice())
    }

    fn queue_order(&self, st: &State<'_>, a: QueueIx, b: QueueIx) -> Ordering {
        let (qa, qb) = (&st.queues[a.ix()], &st.queues[b.ix()]);
        // A queue with an aged gang first, the oldest gang's queue before the others.
        let aged = |q: QueueIx| self.aged_since.get(q.ix()).copied().flatten();
        let by_age = match (aged(a), aged(b)) {
            (Some(x), Some(y)) => x.cmp(&y),
            (Some(_), None) => Ordering::Less,
            (None, Some(_)) => Ordering::Greater,
            (None, None) => Ordering::Equal,
        };
        qb.spec
            .priority
            .cmp(&qa.spec.priority)
            .then(by_age)
            .then_with(|| {
                self.queues[a.ix()]
                    .share
                    .partial_cmp(&self.queues[b.ix()].share)
                    .unwrap_or(Ordering::Equal)
            })
    }

    fn overused(&self, _st: &State<'_>, queue: QueueIx) -> Option<bool> {
        let a = &self.queues[queue.ix()];
        if !a.active {
            return None;
        }
        // The deserved-share cap does not stop a queue while its aged gang waits.
        if self.aged_since.get(queue.ix()).copied().flatten().is_some() {
            return Some(false);
        }
        Some(a.deserved.iter().zip(&a.allocated).all(|(d, u)| d <= u))
    }

    fn allocatable(&self, st: &State<'_>, queue: QueueIx, task: TaskIx) -> Option<bool> {
        if st.queues[queue.ix()].spec.state != QueueState::Open {
            return Some(false);
        }
        let a = &self.queues[queue.ix()];
        let req = st.request(task);
        let over =
            |r: usize| req[r] > 0 && a.allocated[r].saturating_add(req[r]) > a.real_capability[r];
        if !(0..req.len()).any(over) {
            return Some(true);
        }
        // Where the cluster itself has no room left for the task, the capability is not what
        // stops it: abstain so the node check reports the real shortage.
        let binds = (0..req.len()).any(|r| {
            let room = self.total[r] - (self.used[r] - a.allocated[r]);
            over(r) && a.allocated[r].saturating_add(req[r]) <= room
        });
        if binds { Some(false) } else { None }
    }

    fn preemptive(&self, _st: &State<'_>, queue: QueueIx, task: TaskIx) -> Option<bool> {
        Some(self.queues[queue.ix()].fits_deserved(_st.request(task)))
    }

    fn reclaimable(
        &self,
        st: &State<'_>,
        reclaimer: TaskIx,
        candidates: &[TaskIx],
    ) -> Option<Vec<TaskIx>> {
        Some(fairshare::above_deserved(
            st,
            &self.queues,
            reclaimer,
            candidates,
        ))
    }

    fn job_enqueueable(&self, st: &State<'_>, job: JobIx) -> Vote {
        let j = &st.jobs[job.ix()];
        let Some(q) = j.queue else {
            return Vote::Abstain;
        };
        if st.queues[q.ix()].spec.state != QueueState::Open {
            return Vote::Reject;
        }
        let Some(min) = &j.spec.min_resources else {
            return Vote::Permit;
        };
        let min = st.dims.vector(min);
        if self.queues[q.ix()].admits(&min) {
            Vote::Permit
        } else {
            Vote::Reject
        }
    }

    fn job_enqueued(&mut self, st: &State<'_>, job: JobIx) {
        let j = &st.jobs[job.ix()];
        if let (Some(q), Some(claim)) = (j.queue, st.claim(job)) {
            add_into(&mut self.queues[q.ix()].inqueue, &claim);
        }
    }

    fn on_allocate(
        &mut self,
        st: &State<'_>,
        task: TaskIx,
        _node: NodeIx,
        _annotations: &mut std::collections::BTreeMap<String, String>,
    ) {
        if let Some(q) = st.jobs[st.tasks[task.ix()].job.ix()].queue {
            add_into(&mut self.used, st.request(task));
            let a = &mut self.queues[q.ix()];
            add_into(&mut a.allocated, st.request(task));
            a.refresh_share();
        }
    }

    fn on_deallocate(&mut self, st: &State<'_>, task: TaskIx, _node: NodeIx) {
        if let Some(q) = st.jobs[st.tasks[task.ix()].job.ix()].queue {
            sub_into(&mut self.used, st.request(task));
            let a = &mut self.queues[q.ix()];
            sub_into(&mut a.allocated, st.request(task));
            a.refresh_share();
        }
    }
}

/// Whether `status` counts towards a queue's request (allocated or still waiting).
pub(crate) fn requested(status: TaskStatus) -> bool {
    status.is_allocated() || matches!(status, TaskStatus::Pending | TaskStatus::Pipelined)
}

/// Whether a job's minResources count as reserved (inqueue) for its queue.
pub(crate) fn reserves(phase: JobPhase) -> bool {
    matches!(
        phase,
        JobPhase::Inqueue | JobPhase::Running | JobPhase::Unknown
    )
}

#[cfg(test)]
mod tests;
