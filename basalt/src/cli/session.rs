//! The scheduler's own session, run as a dry run for `basalt why`: the live objects go through
//! the same snapshot builder the scheduler loop uses (`bridge::snapshot`), then
//! through `scheduler_core::run_session` with the scheduler configuration, and nothing is
//! written. What-if questions ("if job X finished", "if the queue had no capability limit", "if
//! the job started with fewer pods") are
//! answered by what-if sessions (`Scheduler::run_what_if`), which read the same snapshot with the
//! change applied instead of copying it: only suggestions a session confirms are returned.

use std::collections::BTreeMap;

use crds::podgroup::PodGroup;
use crds::queue::Queue;
use k8s_openapi::api::core::v1::{Node, Pod};
use k8s_openapi::api::scheduling::v1::PriorityClass;
use scheduler_core::quantity::format_resource_amount;
use scheduler_core::{
    Effect, Explanation, JobId, Prepared, QueueId, Resources, Scheduler, Snapshot, TaskStatus,
    WhatIf,
};

/// How many other jobs a `why` tries finishing (the ones holding most of what the job needs).
const WHAT_IF_JOBS: usize = 8;

/// The listed objects a snapshot is built from.
pub struct Objects {
    /// All pods.
    pub pods: Vec<Pod>,
    /// All nodes.
    pub nodes: Vec<Node>,
    /// All PodGroups.
    pub podgroups: Vec<PodGroup>,
    /// All queues.
    pub queues: Vec<Queue>,
    /// All PriorityClasses (job and task priorities).
    pub priority_classes: Vec<PriorityClass>,
}

/// Builds the scheduler loop's snapshot from listed objects, at `now_ms`; pods whose
/// `schedulerName` (default `default-scheduler`) is one of `scheduler_names` are tasks.
pub fn snapshot(objects: &Objects, scheduler_names: &[String], now_ms: u64) -> Snapshot {
    snapshot_with(objects, now_ms, |name| {
        let name = name.unwrap_or("default-scheduler");
        scheduler_names.iter().any(|n| n == name)
    })
}

/// [`snapshot`] with the scheduler-name test given: `is_ours(spec.schedulerName)`.
pub fn snapshot_with(
    objects: &Objects,
    now_ms: u64,
    is_ours: impl Fn(Option<&str>) -> bool,
) -> Snapshot {
    let Objects {
        pods,
        nodes,
        podgroups,
        queues,
        priority_classes,
    } = objects;
    let pods: Vec<&Pod> = pods.iter().collect();
    let nodes: Vec<&Node> = nodes.iter().collect();
    let podgroups: Vec<&PodGroup> = podgroups.iter().collect();
    let queues: Vec<&Queue> = queues.iter().collect();
    let priority_classes: Vec<&PriorityClass> = priority_classes.iter().collect();
    let in_flight = BTreeMap::new();
    let inputs = bridge::snapshot::Inputs {
        pods: &pods,
        nodes: &nodes,
        podgroups: &podgroups,
        queues: &queues,
        priority_classes: &priority_classes,
        in_flight: &in_flight,
    };
    bridge::snapshot::build_at(&inputs, now_ms, is_ours)
}

/// What one session decided for one job.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Verdict {
    /// The PodGroup was not admitted before the session (phase Pending: its pods are created
    /// only once enqueue admits it).
    pub awaiting_admission: bool,
    /// The session admits it (enqueue moves it to Inqueue).
    pub admitted: bool,
    /// Pods of the job the session binds.
    pub binds: usize,
    /// Pods of the job waiting for a node before the session.
    pub waiting: usize,
    /// Pods of other jobs the session evicts (preempt/reclaim on its behalf or others').
    pub evictions: usize,
    /// The session's explanation for the job, if it left the job (partly) unplaced.
    pub explanation: Option<Explanation>,
    /// Messages of the `Unschedulable` conditions the session sets on the PodGroup (enqueue's
    /// reason for not admitting it, the gang's for not placing it).
    pub unschedulable: Vec<String>,
}

impl Verdict {
    /// Every waiting pod of the job is placed (or, for a gang, enough to start: the session
    /// binds a gang only whole, so any bind means the gang is ready).
    pub fn placed(&self) -> bool {
        // Not admitted yet, and no pod of it in the snapshot: admission is all a session decides.
        // With the pods the Job controller will create (`why` adds them), they must fit too.
        if self.awaiting_admission && (self.waiting == 0 || !self.admitted) {
            return self.admitted;
        }
        self.waiting > 0 && self.binds > 0 && self.explanation.is_none()
            || self.waiting > 0 && self.binds >= self.waiting
    }

    /// Something of the job waits for the scheduler (admission or a node).
    pub fn waits(&self) -> bool {
        self.awaiting_admission || self.waiting > 0
    }
}

/// Runs one session and reads what it decided for `job`.
pub fn verdict(snap: &Snapshot, scheduler: &Scheduler, job: &JobId) -> anyhow::Result<Verdict> {
    let result = scheduler_core::run_session(snap, scheduler)
        .map_err(|e| anyhow::anyhow!("the scheduling session refused the snapshot: {e}"))?;
    Ok(read_verdict(snap, result, job))
}

/// Runs one what-if session (`snap` changed as `what_if` says, not copied) and reads what it
/// decided for `job`, which `what_if` must not remove.
pub fn what_if_verdict(
    prepared: &Prepared<'_>,
    scheduler: &Scheduler,
    what_if: &WhatIf,
    job: &JobId,
) -> anyhow::Result<Verdict> {
    let result = scheduler
        .run_what_if(prepared, what_if)
        .map_err(|e| anyhow::anyhow!("the what-if session refused the snapshot: {e}"))?;
    Ok(read_verdict(prepared.snapshot, result, job))
}

/// What `result`, a session on `snap` or on a what-if of it that keeps `job`, decided for `job`.
fn read_verdict(snap: &Snapshot, result: scheduler_core::SessionResult, job: &JobId) -> Verdict {
    let waiting = snap
        .tasks
        .values()
        .filter(|t| &t.job == job && t.status == TaskStatus::Pending)
        .count();
    let mut v = Verdict {
        waiting,
        awaiting_admission: snap
            .jobs
            .get(job)
            .is_some_and(|j| j.phase == scheduler_core::JobPhase::Pending),
        ..Default::default()
    };
    for effect in result.effects {
        match effect {
            Effect::Bind { task, .. } if snap.tasks.get(&task).is_some_and(|t| &t.job == job) => {
                v.binds += 1;
            }
            Effect::Evict { .. } => v.evictions += 1,
            Effect::PodGroupStatus {
                job: j,
                phase,
                conditions,
            } if &j == job => {
                v.admitted = phase != scheduler_core::JobPhase::Pending;
                v.unschedulable = conditions
                    .into_iter()
                    .filter(|c| c.kind == "Unschedulable" && c.status)
                    .map(|c| c.message.to_string())
                    .collect();
            }
            Effect::Explanation(x) if &x.job == job => v.explanation = Some(x),
            _ => {}
        }
    }
    v
}

/// What `job` still needs placed: its waiting pods' requests, at least its minResources (a
/// PodGroup not admitted yet has no pods).
fn demand(snap: &Snapshot, job: &JobId) -> scheduler_core::Resources {
    let mut need = scheduler_core::Resources::new();
    for t in snap
        .tasks
        .values()
        .filter(|t| &t.job == job && t.status == TaskStatus::Pending)
    {
        need.add(&t.requests);
    }
    if let Some(min) = snap.jobs.get(job).and_then(|j| j.min_resources.as_ref()) {
        for (res, amount) in min.iter() {
            if need.get(res) < amount {
                need.set(res, amount);
            }
        }
    }
    need
}

/// Σ over nodes of allocatable − foreign use − what the snapshot's tasks on the node hold.
fn free_total(snap: &Snapshot) -> scheduler_core::Resources {
    let mut free = scheduler_core::Resources::new();
    for n in snap.nodes.values() {
        free.add(&n.allocatable);
        for (r, a) in n.used.iter() {
            free.set(r, free.get(r) - a);
        }
    }
    for t in snap
        .tasks
        .values()
        .filter(|t| t.node.is_some() && t.status.occupies_node())
    {
        for (r, a) in t.requests.iter() {
            free.set(r, free.get(r) - a);
        }
    }
    free
}

/// What `job`'s tasks hold on nodes.
fn held_by(snap: &Snapshot, job: &JobId) -> scheduler_core::Resources {
    let mut held = scheduler_core::Resources::new();
    for t in snap
        .tasks
        .values()
        .filter(|t| &t.job == job && t.node.is_some() && t.status.occupies_node())
    {
        held.add(&t.requests);
    }
    held
}

/// Jobs (other than `job`) whose tasks hold nodes, most of `job`'s scarcest demand first.
fn holders(snap: &Snapshot, job: &JobId) -> Vec<JobId> {
    let need = demand(snap, job);
    // GPU demand of any kind (whole cards, vGPU memory or cores) is met by freeing any GPU
    // resource: an exclusive pod's `nvidia.com/gpu` holds the cards a vGPU pod needs.
    let needs_gpu = need.iter().any(|(r, a)| a > 0 && r.contains("gpu"));
    let mut held: BTreeMap<JobId, i64> = BTreeMap::new();
    for t in snap.tasks.values() {
        if &t.job == job || t.node.is_none() {
            continue;
        }
        // Weigh by the resources the waiting job needs (GPUs dominate: any GPU counts 1000×).
        let mut w = 0i64;
        for (res, amount) in t.requests.iter() {
            if need.get(res) > 0 || needs_gpu && res.contains("gpu") {
                let scale = if res.contains("gpu") { 1000 } else { 1 };
                w = w.saturating_add(amount.saturating_mul(scale));
            }
        }
        if w > 0 {
            *held.entry(t.job.clone()).or_default() += w;
        }
    }
    let mut v: Vec<(JobId, i64)> = held.into_iter().collect();
    v.sort_by(|a, b| b.1.cmp(&a.1).then(a.0.cmp(&b.0)));
    v.into_iter().map(|(j, _)| j).collect()
}

/// `other` gone, with its tasks and reservation (as if it finished).
fn without_job(other: &JobId) -> WhatIf {
    WhatIf {
        without_jobs: [other.clone()].into(),
        ..WhatIf::default()
    }
}

/// What-if sessions on `snap` for `job`: each returned line was confirmed by a session in which
/// the job is placed.
/// `name` turns a PodGroup id into what users call the job (its Volcano Job, when it has one).
pub fn unblockers(
    snap: &Snapshot,
    scheduler: &Scheduler,
    job: &JobId,
    name: impl Fn(&JobId) -> String,
) -> Vec<String> {
    let mut out = Vec::new();
    let Some(me) = snap.jobs.get(job) else {
        return out;
    };
    // One job finishing. A what-if whose freed resources, with what is free today, cannot
    // cover the job's demand on some resource is refuted by arithmetic and not run; the rest run
    // in parallel (each is a whole session on its own copy of the snapshot).
    let need = demand(snap, job);
    let free = free_total(snap);
    let candidates: Vec<JobId> = holders(snap, job)
        .into_iter()
        .take(WHAT_IF_JOBS)
        .filter(|other| {
            let freed = held_by(snap, other);
            // Only resources nodes declare are checked: a request no node lists (a device
            // accounted per card, say) is left to the session.
            need.iter().all(|(r, amount)| {
                !snap.nodes.values().any(|n| n.allocatable.get(r) > 0)
                    || free.get(r).saturating_add(freed.get(r)) >= amount
            })
        })
        .collect();
    // The queue without its capability limit, and the job asking for a single pod (the first
    // step of the smaller-size search): independent of the others, so in the same batch.
    let cap = snap
        .queues
        .get(&me.queue)
        .and_then(|q| q.capability.as_ref());
    let uncapped = cap.map(|_| WhatIf {
        uncapped_queues: [me.queue.clone()].into(),
        ..WhatIf::default()
    });
    let smaller_what_if = |k: u32| WhatIf {
        min_member: [(job.clone(), k)].into(),
        ..WhatIf::default()
    };
    let one_pod = (me.min_member > 1).then(|| smaller_what_if(1));
    let batch: Vec<WhatIf> = candidates
        .iter()
        .map(without_job)
        .chain(uncapped.clone())
        .chain(one_pod.clone())
        .collect();
    // What every what-if reads from each pod the same way, read once for all of them.
    let prepared = Prepared::new(snap);
    let mut verdicts = in_parallel(&prepared, scheduler, job, &batch).into_iter();
    for (other, v) in candidates.iter().zip(verdicts.by_ref()) {
        if v.is_some_and(|v| v.placed()) {
            out.push(job_unblocks(snap, other, &name));
        }
    }
    if let (Some(cap), Some(_)) = (cap, &uncapped)
        && verdicts.next().flatten().is_some_and(|v| v.placed())
    {
        out.push(capability_unblocks(&me.queue, cap));
    }
    let first = one_pod.and_then(|_| verdicts.next());
    let smaller = smaller_start(snap, job, |k| match (k, &first) {
        (1, Some(v)) => v.clone(),
        _ => what_if_verdict(&prepared, scheduler, &smaller_what_if(k), job).ok(),
    });
    if let Some(k) = smaller {
        out.push(smaller_unblocks(snap, job, k, &name));
    }
    out
}

/// The verdicts on `job` of what-if sessions on `prepared`'s snapshot, in order (`None` where a
/// session failed), run on as many threads as there are cores: each is a whole session.
fn in_parallel(
    prepared: &Prepared<'_>,
    scheduler: &Scheduler,
    job: &JobId,
    what_ifs: &[WhatIf],
) -> Vec<Option<Verdict>> {
    let workers = std::thread::available_parallelism()
        .map_or(1, std::num::NonZero::get)
        .clamp(1, what_ifs.len().max(1));
    std::thread::scope(|scope| {
        let handles: Vec<_> = what_ifs
            .chunks(what_ifs.len().div_ceil(workers).max(1))
            .map(|chunk| {
                let handle = scope.spawn(move || {
                    chunk
                        .iter()
                        .map(|w| what_if_verdict(prepared, scheduler, w, job).ok())
                        .collect::<Vec<_>>()
                });
                (chunk.len(), handle)
            })
            .collect();
        // A session that panicked confirms nothing: its chunk reads as failed sessions, so the
        // verdicts stay in order.
        handles
            .into_iter()
            .flat_map(|(len, h)| h.join().unwrap_or_else(|_| vec![None; len]))
            .collect()
    })
}

/// Pods of `job` on nodes now.
fn on_nodes(snap: &Snapshot, job: &JobId) -> usize {
    snap.tasks
        .values()
        .filter(|t| &t.job == job && t.node.is_some() && t.status.occupies_node())
        .count()
}

/// Whether a session that lowered `job`'s gang minimum to `k` starts it: admits it, for a
/// PodGroup not admitted yet (its pods are created after), else places enough of its pods that
/// at least `k` are on nodes.
fn starts_with(v: &Verdict, k: u32, on_nodes: usize) -> bool {
    if v.awaiting_admission && (v.waiting == 0 || !v.admitted) {
        return v.admitted;
    }
    v.binds > 0 && v.binds + on_nodes >= k as usize
}

/// The largest gang minimum below the job's own with which a session starts it (`session(k)` runs
/// the what-if with minimum `k`), or `None` when not even one pod would start. Bisection: one
/// session for a minimum of 1, then ⌈log₂ minMember⌉ at most. A smaller minimum is assumed
/// never to start later; the minimum returned is one a session confirmed either way.
fn smaller_start(
    snap: &Snapshot,
    job: &JobId,
    session: impl Fn(u32) -> Option<Verdict>,
) -> Option<u32> {
    let min = snap.jobs.get(job)?.min_member;
    if min <= 1 {
        return None;
    }
    let running = on_nodes(snap, job);
    let starts = |k: u32| session(k).is_some_and(|v| starts_with(&v, k, running));
    if !starts(1) {
        return None;
    }
    // starts(lo) holds; find the largest k < min that starts.
    let (mut lo, mut hi) = (1, min - 1);
    while lo < hi {
        let mid = lo + (hi - lo).div_ceil(2);
        if starts(mid) {
            lo = mid;
        } else {
            hi = mid - 1;
        }
    }
    Some(lo)
}

/// The unblocker line for a gang that would start with a minimum of `k` pods.
fn smaller_unblocks(
    snap: &Snapshot,
    job: &JobId,
    k: u32,
    name: impl Fn(&JobId) -> String,
) -> String {
    let min = snap.jobs.get(job).map_or(0, |j| j.min_member);
    let pods = snap
        .tasks
        .values()
        .filter(|t| &t.job == job)
        .count()
        .max(min as usize);
    format!(
        "if job {} started with {k} of its pods (spec.minAvailable: {k} instead of {min}; its other {} pod(s) would wait and start as room frees), a session would start it (checked by a dry-run session)",
        name(job),
        pods.saturating_sub(k as usize)
    )
}

/// The unblocker line for a job whose departure would let the waiting job start.
fn job_unblocks(snap: &Snapshot, other: &JobId, name: impl Fn(&JobId) -> String) -> String {
    let pods = snap.tasks.values().filter(|t| &t.job == other).count();
    format!(
        "if job {} ({pods} pod(s) on nodes{}) finished or were deleted, a session would let this job start (checked by a dry-run session)",
        name(other),
        expected_end_note(snap, other)
    )
}

/// `; expected to end in about 2 h by …` from the scheduler's own run-time estimate of `job`
/// (`scheduler_core::plugins::reservation::job_expected_end`), or nothing when it has none.
fn expected_end_note(snap: &Snapshot, job: &JobId) -> String {
    use scheduler_core::plugins::reservation::{RuntimeSource, in_words, job_expected_end};
    let now = snap.now.unwrap_or(0);
    let Some((end, source)) = job_expected_end(snap, job, now) else {
        return String::new();
    };
    let source = match source {
        RuntimeSource::Annotation => "its basalt.dev/expected-runtime",
        RuntimeSource::Declared => "its pods' declared run time",
        RuntimeSource::QueueMean => "its queue's mean run time",
    };
    format!(
        "; expected to end {} by the scheduler's estimate, from {source}",
        in_words(now, end)
    )
}

/// The unblocker line for a queue whose capability limit keeps the waiting job out.
fn capability_unblocks(queue: &QueueId, cap: &Resources) -> String {
    let limits: Vec<String> = cap
        .iter()
        .map(|(r, a)| format!("{r}={}", format_resource_amount(r, a)))
        .collect();
    format!(
        "if queue {queue} had no capability limit (today {}), a session would let this job start (checked by a dry-run session)",
        limits.join(", ")
    )
}

/// [`unblockers`] the straightforward way, for tests: every holder's what-if (none refuted by
/// arithmetic) and the capability one, each a whole session on an edited copy of `snap`, one
/// after another.
#[cfg(test)]
pub fn unblockers_by_copy(
    snap: &Snapshot,
    scheduler: &Scheduler,
    job: &JobId,
    name: impl Fn(&JobId) -> String,
) -> Vec<String> {
    let mut out = Vec::new();
    let Some(me) = snap.jobs.get(job) else {
        return out;
    };
    for other in holders(snap, job).into_iter().take(WHAT_IF_JOBS) {
        let mut s = snap.clone();
        s.tasks.retain(|_, t| t.job != other);
        s.jobs.remove(&other);
        s.reservations.remove(&other);
        if verdict(&s, scheduler, job).is_ok_and(|v| v.placed()) {
            out.push(job_unblocks(snap, &other, &name));
        }
    }
    if let Some(q) = snap.queues.get(&me.queue)
        && let Some(cap) = &q.capability
    {
        let mut s = snap.clone();
        if let Some(q) = s.queues.get_mut(&me.queue) {
            q.capability = None;
        }
        if verdict(&s, scheduler, job).is_ok_and(|v| v.placed()) {
            out.push(capability_unblocks(&me.queue, cap));
        }
    }
    let smaller = smaller_start(snap, job, |k| {
        let mut s = snap.clone();
        if let Some(j) = s.jobs.get_mut(job) {
            *j = j.with_min_member(k);
        }
        verdict(&s, scheduler, job).ok()
    });
    if let Some(k) = smaller {
        out.push(smaller_unblocks(snap, job, k, &name));
    }
    out
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use scheduler_core::{NodeId, Resources, Task};

    fn gpus(n: i64) -> Resources {
        let mut r = Resources::new();
        r.set("nvidia.com/gpu", n);
        r.set("cpu", 1000);
        r
    }

    /// One 8-GPU node held by job `ns/holder`, a waiting 4-GPU job `ns/waiter`.
    fn cluster() -> Snapshot {
        let mut s = Snapshot::default();
        let mut alloc = gpus(8);
        alloc.set("cpu", 64_000);
        s.nodes.insert(
            NodeId::new("n1"),
            scheduler_core::model::Node {
                allocatable: alloc,
                ..Default::default()
            },
        );
        s.queues
            .insert("default".into(), scheduler_core::model::Queue::open());
        for (job, n) in [("ns/holder", 1), ("ns/waiter", 1)] {
            let mut j = scheduler_core::model::Job::new("default", n);
            j.phase = if job == "ns/holder" {
                scheduler_core::JobPhase::Running
            } else {
                scheduler_core::JobPhase::Inqueue
            };
            s.jobs.insert(JobId::new(job), j);
        }
        let mut held = Task::pending("ns/holder", gpus(8));
        held.status = TaskStatus::Running;
        held.node = Some(NodeId::new("n1"));
        s.tasks.insert("ns/holder-0".into(), held);
        s.tasks
            .insert("ns/waiter-0".into(), Task::pending("ns/waiter", gpus(4)));
        s
    }

    /// The snapshot copied without `other` (what a what-if session stands for).
    fn edited(snap: &Snapshot, other: &JobId) -> Snapshot {
        let mut s = snap.clone();
        s.tasks.retain(|_, t| &t.job != other);
        s.jobs.remove(other);
        s.reservations.remove(other);
        s
    }

    fn scheduler() -> Scheduler {
        Scheduler::from_yaml(controllers::scheduler::config::DEFAULT_CONFIG)
            .expect("default config")
    }

    #[test]
    fn the_session_explains_a_blocked_job_and_confirms_what_frees_it() {
        let s = cluster();
        let sched = scheduler();
        let waiter = JobId::new("ns/waiter");
        let v = verdict(&s, &sched, &waiter).unwrap();
        assert_eq!((v.binds, v.waiting), (0, 1));
        assert!(!v.placed());
        let x = v.explanation.expect("an explanation");
        assert!(x.to_string().contains("nvidia.com/gpu"), "{x}");
        let fixes = unblockers(&s, &sched, &waiter, |j| j.to_string());
        assert_eq!(fixes.len(), 1, "{fixes:?}");
        assert!(fixes[0].contains("ns/holder"), "{fixes:?}");
    }

    #[test]
    fn a_podgroup_waiting_for_admission_is_admitted_once_the_holder_is_gone() {
        let mut s = cluster();
        let waiter = JobId::new("ns/waiter");
        s.tasks.remove(&scheduler_core::TaskId::new("ns/waiter-0"));
        if let Some(j) = s.jobs.get_mut(&waiter) {
            j.phase = scheduler_core::JobPhase::Pending;
            j.min_resources = Some(gpus(4));
        }
        let sched = scheduler();
        let v = verdict(&s, &sched, &waiter).unwrap();
        assert!(v.awaiting_admission && !v.admitted && !v.placed(), "{v:?}");
        let fixes = unblockers(&s, &sched, &waiter, |j| j.to_string());
        assert_eq!(fixes.len(), 1, "{fixes:?}");
        assert!(fixes[0].contains("ns/holder"), "{fixes:?}");
    }

    #[test]
    fn what_ifs_that_cannot_free_enough_are_refuted_and_the_others_run() {
        // Two 8-GPU nodes, each held by one job; the waiter needs 2 × 8 GPUs. No single job's
        // end frees 16 GPUs: the arithmetic refutes both what-ifs and nothing is suggested.
        let mut s = cluster();
        let mut alloc = gpus(8);
        alloc.set("cpu", 64_000);
        s.nodes.insert(
            NodeId::new("n2"),
            scheduler_core::model::Node {
                allocatable: alloc,
                ..Default::default()
            },
        );
        let mut other = scheduler_core::model::Job::new("default", 1);
        other.phase = scheduler_core::JobPhase::Running;
        s.jobs.insert(JobId::new("ns/other"), other);
        let mut held = Task::pending("ns/other", gpus(8));
        held.status = TaskStatus::Running;
        held.node = Some(NodeId::new("n2"));
        s.tasks.insert("ns/other-0".into(), held);
        let waiter = JobId::new("ns/waiter");
        s.jobs.get_mut(&waiter).unwrap().min_member = 2;
        s.tasks
            .insert("ns/waiter-0".into(), Task::pending("ns/waiter", gpus(8)));
        s.tasks
            .insert("ns/waiter-1".into(), Task::pending("ns/waiter", gpus(8)));
        assert_eq!(demand(&s, &waiter).get("nvidia.com/gpu"), 16);
        assert_eq!(free_total(&s).get("nvidia.com/gpu"), 0);
        assert_eq!(
            held_by(&s, &JobId::new("ns/other")).get("nvidia.com/gpu"),
            8
        );
        let sched = scheduler();
        assert!(unblockers(&s, &sched, &waiter, |j| j.to_string()).is_empty());
        // Each what-if alone is indeed refuted by a session: the filter lost no suggestion.
        for holder in ["ns/holder", "ns/other"] {
            let v = verdict(&edited(&s, &JobId::new(holder)), &sched, &waiter).unwrap();
            assert!(!v.placed(), "{holder}: {v:?}");
        }
        // One pod of 8: either job's end is enough, both what-ifs run and both are confirmed.
        s.tasks.remove(&scheduler_core::TaskId::new("ns/waiter-1"));
        s.jobs.get_mut(&waiter).unwrap().min_member = 1;
        let fixes = unblockers(&s, &sched, &waiter, |j| j.to_string());
        assert_eq!(fixes.len(), 2, "{fixes:?}");
    }

    #[test]
    fn a_gang_that_would_start_with_fewer_pods_is_told_how_many() {
        // The holder keeps 5 of 8 GPUs; the waiter asks for 4 × 1 GPU, all four at once. With a
        // minimum of 3 a session starts it (3 GPUs are free); with 4 it cannot.
        let mut s = cluster();
        s.tasks
            .get_mut(&scheduler_core::TaskId::new("ns/holder-0"))
            .unwrap()
            .requests = gpus(5);
        let waiter = JobId::new("ns/waiter");
        s.jobs.get_mut(&waiter).unwrap().min_member = 4;
        for i in 0..4 {
            s.tasks.insert(
                format!("ns/waiter-{i}").as_str().into(),
                Task::pending("ns/waiter", gpus(1)),
            );
        }
        let sched = scheduler();
        assert!(!verdict(&s, &sched, &waiter).unwrap().placed());
        let fixes = unblockers(&s, &sched, &waiter, |j| j.to_string());
        let smaller: Vec<&String> = fixes
            .iter()
            .filter(|f| f.contains("started with"))
            .collect();
        assert_eq!(smaller.len(), 1, "{fixes:?}");
        assert!(
            smaller[0].contains(
                "started with 3 of its pods (spec.minAvailable: 3 instead of 4; its other 1 pod(s)"
            ),
            "{fixes:?}"
        );
        // The same from sessions on edited copies.
        assert_eq!(
            fixes,
            unblockers_by_copy(&s, &sched, &waiter, |j| j.to_string())
        );
        // No smaller gang fits when nothing is free.
        s.tasks
            .get_mut(&scheduler_core::TaskId::new("ns/holder-0"))
            .unwrap()
            .requests = gpus(8);
        let fixes = unblockers(&s, &sched, &waiter, |j| j.to_string());
        assert!(
            !fixes.iter().any(|f| f.contains("started with")),
            "{fixes:?}"
        );
    }

    #[test]
    fn a_holder_says_when_the_scheduler_expects_it_to_end() {
        let mut s = cluster();
        let holder = JobId::new("ns/holder");
        let waiter = JobId::new("ns/waiter");
        let sched = scheduler();
        // No estimate: nothing is claimed.
        let fixes = unblockers(&s, &sched, &waiter, |j| j.to_string());
        assert!(!fixes[0].contains("expected to end"), "{fixes:?}");
        // Declared 2 h, started 30 min ago.
        let now = 10 * 3_600_000;
        s.now = Some(now);
        s.expected_runtime.insert(holder.clone(), 2 * 3_600_000);
        s.started.insert("ns/holder-0".into(), now - 30 * 60_000);
        let fixes = unblockers(&s, &sched, &waiter, |j| j.to_string());
        assert!(
            fixes[0].contains("; expected to end in about 90 min by the scheduler's estimate, from its pods' declared run time"),
            "{fixes:?}"
        );
        // Past its estimate (started 3 h ago): as long again as it has run, the overrun rule.
        s.started.insert("ns/holder-0".into(), now - 3 * 3_600_000);
        let fixes = unblockers(&s, &sched, &waiter, |j| j.to_string());
        assert!(
            fixes[0].contains("expected to end in about 3 h"),
            "{fixes:?}"
        );
    }

    #[test]
    fn a_job_that_fits_is_placed_by_the_dry_run() {
        let mut s = cluster();
        s.tasks.remove(&scheduler_core::TaskId::new("ns/holder-0"));
        let v = verdict(&s, &scheduler(), &JobId::new("ns/waiter")).unwrap();
        assert_eq!(v.binds, 1);
        assert!(v.placed());
    }
}
