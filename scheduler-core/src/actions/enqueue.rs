//! `enqueue`: admit Pending PodGroups (→ Inqueue), queue by queue in queue order, job by job in
//! job order, round robin, each job tried once.
//!
//! A job without minResources is admitted (as Volcano). A job with minResources needs the
//! plugins' `job_enqueueable` vote and — a Basalt addition — its minResources must fit the
//! cluster's headroom: Σ idle of schedulable nodes minus what already-admitted, not-yet-running
//! jobs still reserve. Jobs of queues that are not Open stay Pending.
//!
//! Room that the session's own `preempt` and `reclaim` actions could free for the job counts as
//! headroom too ([`evictable_for`]): without it a job on a full cluster was never admitted, so
//! it never had pods for preempt or reclaim to place, and a high-priority job waited behind
//! low-priority ones forever (found by Volcano's `schedulingaction/preempt.go`).
//!
//! With the `reservation` plugin, nodes a gang holds are not headroom for others, and a large
//! gang past its waiting time is admitted even without headroom or share (at most as many as
//! free reservation slots), so that it can be elected: see
//! [`crate::plugins::reservation::ReservationPlan::owes_admission`].

use crate::actions::{Action, OrderedHeap};
use crate::config::{Arguments, ConfigError};
use crate::model::{JobPhase, QueueState, TaskStatus};
use crate::quantity::format_resource_amount;
use crate::resources::{add_into, fits, sub_into};
use crate::session::{JobIx, QueueIx, Session};

/// The `enqueue` action.
#[derive(Clone, Debug, Default)]
pub struct Enqueue;

/// Registry factory.
pub fn factory(_: &Arguments) -> Result<Box<dyn Action>, ConfigError> {
    Ok(Box::new(Enqueue))
}

/// Idle room on schedulable nodes that no reservation holds, minus what admitted, not-yet-running
/// jobs (Inqueue, or Running with fewer than minMember placed) still claim. A gang that holds
/// nodes claims those nodes, not the rest of the cluster.
fn headroom(ssn: &Session<'_>) -> Vec<i64> {
    let st = &ssn.state;
    let plan = ssn.plugins.reservation_plan();
    let held_node = |i: usize| plan.is_some_and(|p| p.owner.get(i).copied().flatten().is_some());
    let holds = |job: usize| plan.is_some_and(|p| p.held.iter().any(|h| h.job.ix() == job));
    let mut free = vec![0i64; st.dims.len()];
    for (i, node) in st.nodes.iter().enumerate() {
        if !node.spec.unschedulable && !held_node(i) {
            add_into(&mut free, st.idle.row(i));
        }
    }
    for (i, job) in st.jobs.iter().enumerate() {
        // A Running gang below its minimum has not started either: a session wrote its phase
        // when it placed the gang, and the binds failed (seen under injected API faults: the
        // room went to a job admitted in the next session, the gang's pods were bound anyway).
        let not_started = job.phase == JobPhase::Inqueue
            || (job.phase == JobPhase::Running && st.ready_count(JobIx(i as u32)) < job.min_member);
        if !not_started || holds(i) {
            continue;
        }
        let Some(mut reserved) = st.claim(JobIx(i as u32)) else {
            continue;
        };
        // Releasing members still hold their nodes (idle does not count them yet).
        for &t in &job.tasks {
            let status = st.tasks[t.ix()].status;
            if status.is_allocated() || status == TaskStatus::Releasing {
                sub_into(&mut reserved, st.request(t));
            }
        }
        for r in reserved.iter_mut() {
            *r = (*r).max(0);
        }
        sub_into(&mut free, &reserved);
    }
    free
}

/// What running, preemptable tasks of other jobs hold that the configured `preempt` and `reclaim`
/// actions could hand to `job` (queue `q`) once it is admitted and has pods:
///
/// - `preempt`: tasks of lower-priority jobs in the same queue;
/// - `reclaim`: in every other reclaimable queue, what it holds beyond its weighted share of the
///   cluster among the queues that have jobs (counting `q`), as far as preemptable tasks hold it;
///   not counted while another job is an aged gang (`proportion.aged-gang-waiting-time`).
///
/// An estimate for admission only: which tasks go is still decided by the actions and the
/// plugins' `preemptable`/`reclaimable` votes; if they free less, the admitted job waits with
/// its pods Pending, as Volcano's jobs admitted within the overcommit slack do.
fn evictable_for(ssn: &Session<'_>, job: JobIx, q: QueueIx) -> Vec<i64> {
    let st = &ssn.state;
    let d = st.dims.len();
    let mut room = vec![0i64; d];
    let preempt = ssn.has_action("preempt");
    // While an aged gang waits, room reclaim could free is not promised to other jobs: they
    // wait for idle room, so the room that frees reaches the gang (proportion's aged gangs).
    let reclaim = ssn.has_action("reclaim") && !ssn.plugins.aged_gangs().iter().any(|g| *g != job);
    if !preempt && !reclaim {
        return room;
    }
    let priority = st.jobs[job.ix()].priority;
    let held = |j: usize| {
        let mut v = vec![0i64; d];
        for &t in &st.jobs[j].tasks {
            let task = &st.tasks[t.ix()];
            if task.spec.preemptable
                && matches!(task.status, TaskStatus::Running | TaskStatus::Bound)
            {
                add_into(&mut v, st.request(t));
            }
        }
        v
    };
    if preempt {
        for &j in &st.queues[q.ix()].jobs {
            if j != job && st.jobs[j.ix()].priority < priority {
                add_into(&mut room, &held(j.ix()));
            }
        }
    }
    if reclaim {
        let active = |i: usize| i == q.ix() || !st.queues[i].jobs.is_empty();
        let weights: i64 = (0..st.queues.len())
            .filter(|&i| active(i))
            .map(|i| i64::from(st.queues[i].spec.weight.max(1)))
            .sum();
        for (i, queue) in st.queues.iter().enumerate() {
            if i == q.ix() || !queue.spec.reclaimable || queue.jobs.is_empty() {
                continue;
            }
            let mut allocated = vec![0i64; d];
            let mut evictable = vec![0i64; d];
            for &j in &queue.jobs {
                for &t in &st.jobs[j.ix()].tasks {
                    if st.tasks[t.ix()].status.is_allocated() {
                        add_into(&mut allocated, st.request(t));
                    }
                }
                add_into(&mut evictable, &held(j.ix()));
            }
            let weight = i64::from(queue.spec.weight.max(1));
            for r in 0..d {
                let share = (i128::from(st.total_allocatable[r]) * i128::from(weight)
                    / i128::from(weights.max(1))) as i64;
                room[r] += (allocated[r] - share).max(0).min(evictable[r]);
            }
        }
    }
    room
}

/// Why `job` (with minResources `min`) is not admitted, or `None` to admit it. The message is
/// what `kubectl describe pg` shows in the `Unschedulable` condition of a Pending PodGroup.
fn refusal(ssn: &Session<'_>, job: JobIx, q: QueueIx, min: &[i64], free: &[i64]) -> Option<String> {
    let st = &ssn.state;
    let shown = |v: &[i64]| {
        let parts: Vec<String> = st
            .dims
            .resources(v)
            .iter()
            .filter(|(_, amount)| *amount > 0)
            .map(|(name, amount)| format!("{name} {}", format_resource_amount(name, amount)))
            .collect();
        if parts.is_empty() {
            // "the cluster has  idle" read as a typo when nothing was idle.
            return "nothing".to_owned();
        }
        parts.join(", ")
    };
    if !ssn.plugins.job_enqueueable(st, job) {
        // Other queues' guarantees are taken out of what this queue may hold (its real
        // capability, docs/fairness.md), so a queue with nothing running can still refuse; say
        // so, or the message points at a capability and a share that are not what is full.
        let d = st.dims.len();
        let mut others = vec![0i64; d];
        let guaranteed = (st.queues.iter().enumerate())
            .filter(|(i, _)| *i != q.ix())
            .filter_map(|(_, queue)| queue.spec.guarantee.as_ref());
        for g in guaranteed {
            add_into(&mut others, &st.dims.vector(g));
        }
        let others: Vec<i64> = (0..d)
            .map(|r| if min[r] > 0 { others[r] } else { 0 })
            .collect();
        let guarantees = if others.iter().any(|v| *v > 0) {
            let total: Vec<i64> = (0..d)
                .map(|r| {
                    if others[r] > 0 {
                        st.total_allocatable[r]
                    } else {
                        0
                    }
                })
                .collect();
            format!(
                " (other queues' guarantees reserve {} of the cluster's {})",
                shown(&others),
                shown(&total)
            )
        } else {
            String::new()
        };
        return Some(format!(
            "pod group is not ready: queue {} cannot admit its minResources ({}) now: the queue's capability or share is taken{guarantees}; it waits in Pending",
            st.queues[q.ix()].id,
            shown(min)
        ));
    }
    let mut reachable = free.to_vec();
    add_into(&mut reachable, &evictable_for(ssn, job, q));
    if !fits(min, &reachable) {
        let short: Vec<i64> = min
            .iter()
            .zip(free)
            .map(|(m, f)| if m > f { *m } else { 0 })
            .collect();
        let idle: Vec<i64> = min
            .iter()
            .zip(free)
            .map(|(m, f)| if m > f { (*f).max(0) } else { 0 })
            .collect();
        // Say when room reclaim could free was not counted because an aged gang waits.
        let aged = ssn.plugins.aged_gangs().iter().find(|g| **g != job);
        let kept = match aged {
            Some(g) if ssn.has_action("reclaim") => format!(
                " (room reclaim could free is kept for the aged gang {} while it waits)",
                st.jobs[g.ix()].id
            ),
            _ => String::new(),
        };
        return Some(format!(
            "pod group is not ready: its minResources need {} but the cluster has {} idle for new gangs{kept}; it waits in Pending",
            shown(&short),
            shown(&idle)
        ));
    }
    None
}

impl Action for Enqueue {
    fn name(&self) -> &'static str {
        "enqueue"
    }

    fn execute(&self, ssn: &mut Session<'_>) {
        let mut free = headroom(ssn);
        let mut reservation_slots = ssn.plugins.reservation_plan().map_or(0, |p| p.free_slots());
        let mut per_queue: Vec<OrderedHeap<JobIx>> = (0..ssn.state.queues.len())
            .map(|_| OrderedHeap::new())
            .collect();
        for (i, job) in ssn.state.jobs.iter().enumerate() {
            if job.phase != JobPhase::Pending {
                continue;
            }
            let Some(q) = job.queue else { continue };
            if ssn.state.queues[q.ix()].spec.state != QueueState::Open {
                continue;
            }
            let (plugins, st) = (&ssn.plugins, &ssn.state);
            per_queue[q.ix()].push(JobIx(i as u32), &mut |a, b| plugins.job_order(st, a, b));
        }
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
            let job = {
                let (plugins, st) = (&ssn.plugins, &ssn.state);
                per_queue[q.ix()].pop(&mut |a, b| plugins.job_order(st, a, b))
            };
            let Some(job) = job else { continue };
            let min = ssn.state.jobs[job.ix()]
                .spec
                .min_resources
                .as_ref()
                .map(|m| ssn.state.dims.vector(m));
            let refusal = match &min {
                None => None,
                Some(min) => refusal(ssn, job, q, min, &free),
            };
            let owed = refusal.is_some()
                && reservation_slots > 0
                && ssn
                    .plugins
                    .reservation_plan()
                    .is_some_and(|p| p.owes_admission(&ssn.state, job));
            match refusal {
                None => {
                    if let Some(claim) = ssn.state.claim(job) {
                        sub_into(&mut free, &claim);
                    }
                    ssn.enqueue_job(job);
                }
                // Admitted to be elected next session (its pods are created on admission);
                // its claim is then on the nodes it holds, not on the headroom.
                Some(_) if owed => {
                    reservation_slots -= 1;
                    ssn.enqueue_job(job);
                }
                Some(why) => ssn.record_not_enqueued(job, why),
            }
            if !per_queue[q.ix()].is_empty() {
                let (plugins, st) = (&ssn.plugins, &ssn.state);
                queues.push(q, &mut |a, b| plugins.queue_order(st, a, b));
            }
        }
    }
}
