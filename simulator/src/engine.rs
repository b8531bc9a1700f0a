//! The discrete-event engine: a virtual clock, arrival and completion events, and after every
//! batch of same-time events one scheduler-core session over the current snapshot, whose effects
//! (bind, evict, PodGroup phase) are applied to the virtual cluster.
//!
//! A job runs — and its completion is scheduled `duration` later — only once all its pods are
//! bound: a partially placed job (possible under `kube-default`) holds its GPUs and makes no
//! progress. An evicted pod releases its GPUs at once (no grace period is modelled), is re-queued
//! as a new pending pod (creation = eviction time, like the Job controller's replacement pod) and
//! its job restarts from scratch: the lost run counts in the job's JCT and the time until it runs
//! again in its wait. The engine never decides placement itself; it refuses (with an error) a
//! bind that would over-commit a node, which would be a core bug.
//!
//! Production runs a session every schedule period; the simulator only runs one when something
//! happens — plus a follow-up session one period ([`Policy::schedule_period_ms`]) after a
//! session that evicted, pipelined or admitted (enqueued) work, because the next periodic
//! session would act on that: bind the pipelined preemptor on the released GPUs, or preempt and
//! reclaim for a job that was only admitted this session. A follow-up that changes nothing
//! (no bind, eviction or admission) does not schedule another, so a stuck pipeline cannot spin.

use std::cmp::Reverse;
use std::collections::{BTreeMap, BinaryHeap, HashMap};
use std::time::Instant;

use scheduler_core::{
    Effect, JobId, QueueId, SessionResult, Snapshot, TaskId, TaskStatus, run_session,
};

use crate::cluster::ClusterSpec;
use crate::error::{Error, Result};
use crate::policy::Policy;
use crate::recorder::{Recorder, State};
use crate::snapshot;
use crate::workload::{JobSpec, Workload};

/// Run bounds.
#[derive(Clone, Copy, Debug)]
pub struct RunOptions {
    /// Metrics integrate over `[measure_start_ms, measure_end_ms)` (before: warm-up).
    pub measure_start_ms: u64,
    /// End of the measured interval.
    pub measure_end_ms: u64,
    /// Events after this time are not processed (jobs still running are reported unfinished).
    pub stop_ms: u64,
    /// Draw a progress bar on stderr.
    pub progress: bool,
}

/// What happened to one job.
#[derive(Clone, Debug, PartialEq)]
pub struct JobRecord {
    /// Index into the workload's jobs.
    pub job: usize,
    /// First time all pods ran.
    pub start_ms: Option<u64>,
    /// Completion time.
    pub end_ms: Option<u64>,
    /// Times its pods were evicted.
    pub evictions: u32,
    /// Time spent re-queued after evictions until the job ran whole again (ms; completed restarts).
    pub requeued_ms: u64,
    /// Evicted and not running whole again since this time (censors its wait).
    pub requeued_since: Option<u64>,
}

impl JobRecord {
    /// Time the job waited (ms) up to `end_ms`: submit to first start plus every re-queue after
    /// an eviction; `true` when censored (never started, or re-queued at `end_ms`).
    pub fn wait_ms(&self, submit_ms: u64, end_ms: u64) -> (u64, bool) {
        match (self.start_ms, self.requeued_since) {
            (None, _) => (end_ms.saturating_sub(submit_ms), true),
            (Some(s), None) => (s - submit_ms + self.requeued_ms, false),
            (Some(s), Some(r)) => (
                s - submit_ms + self.requeued_ms + end_ms.saturating_sub(r),
                true,
            ),
        }
    }
}

/// Raw output of a run (summarised by `metrics`).
#[derive(Debug)]
pub struct RunOutput {
    /// Policy name.
    pub policy: String,
    /// Per job, in workload order.
    pub jobs: Vec<JobRecord>,
    /// Integrated state.
    pub recorder: Recorder,
    /// Sessions run.
    pub sessions: u64,
    /// Bind effects applied.
    pub binds: u64,
    /// Evict effects applied.
    pub evictions: u64,
    /// Follow-up sessions (after evictions, pipelining or admissions).
    pub follow_ups: u64,
    /// Events processed (arrivals + completions).
    pub events: u64,
    /// Time of the last processed event.
    pub end_ms: u64,
    /// Wall-clock duration of each session, ns (not part of the deterministic report).
    pub session_ns: Vec<u64>,
    /// Gangs that held a reservation at some point.
    pub reservations: u64,
    /// Per finished job that had a run-time estimate when it started (declared, else its
    /// queue's learned mean): |estimate − actual| ÷ actual.
    pub estimate_errors: Vec<f64>,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
enum Kind {
    // Completions first at equal times, so freed GPUs are visible to arrivals' session.
    Finish,
    Arrival,
    // A follow-up session (no job; only makes the engine run a session at that time).
    FollowUp,
}

struct JobState {
    jid: JobId,
    tids: Vec<TaskId>,
    nodes: Vec<Option<usize>>,
    running: u32,
    started: Option<u64>,
    first_start: Option<u64>,
    end: Option<u64>,
    generation: u64,
    evictions: u32,
    requeued_ms: u64,
    requeued_since: Option<u64>,
    /// The run-time estimate the scheduler had when the job last started.
    estimate_ms: Option<u64>,
}

struct Free {
    gpus: i64,
    cpu: i64,
    mem: i64,
}

/// One simulation of `workload` on `cluster` under `policy`.
pub struct Engine<'a> {
    policy: &'a Policy,
    workload: &'a Workload,
    snap: Snapshot,
    free: Vec<Free>,
    node_ix: HashMap<String, usize>,
    jobs: Vec<JobState>,
    owner: HashMap<TaskId, (usize, u32)>,
    events: BinaryHeap<Reverse<(u64, Kind, usize, u64)>>,
    pending_shapes: BTreeMap<(u32, i64, i64), u32>,
    typical: Vec<((u32, i64), f64)>,
    state: State,
    rec: Recorder,
    out_sessions: u64,
    out_binds: u64,
    out_evictions: u64,
    out_follow_ups: u64,
    out_events: u64,
    session_ns: Vec<u64>,
    follow_up_at: Option<u64>,
    in_follow_up: bool,
    /// Per-queue run-time estimates learned from finished jobs (the controllers' rule).
    learned: scheduler_core::model::reservation::LearnedRuntimes,
    ever_reserved: std::collections::BTreeSet<JobId>,
    estimate_errors: Vec<f64>,
}

impl<'a> Engine<'a> {
    /// Prepares a run; nothing is simulated until [`Engine::run`].
    pub fn new(
        policy: &'a Policy,
        cluster: &'a ClusterSpec,
        workload: &'a Workload,
        opts: &RunOptions,
    ) -> Self {
        let mut snap = Snapshot::default();
        for n in &cluster.nodes {
            snap.nodes.insert(n.name.as_str().into(), snapshot::node(n));
        }
        if policy.single_queue {
            snap.queues
                .insert(snapshot::SINGLE_QUEUE.into(), scheduler_core::Queue::open());
        } else {
            for (i, t) in workload.tenants.iter().enumerate() {
                snap.queues
                    .insert(t.name.as_str().into(), snapshot::queue(t, i as u64));
            }
        }
        let jobs = workload
            .jobs
            .iter()
            .map(|j| {
                let (jid, tids) = snapshot::ids(j, &workload.tenants[j.tenant].name);
                JobState {
                    jid,
                    nodes: vec![None; tids.len()],
                    tids,
                    running: 0,
                    started: None,
                    first_start: None,
                    end: None,
                    generation: 0,
                    evictions: 0,
                    requeued_ms: 0,
                    requeued_since: None,
                    estimate_ms: None,
                }
            })
            .collect();
        let mut events = BinaryHeap::new();
        for (i, j) in workload.jobs.iter().enumerate() {
            events.push(Reverse((j.submit_ms, Kind::Arrival, i, 0)));
        }
        let tenants = workload.tenants.len();
        let state = State {
            held: vec![0; tenants],
            pending: vec![0; tenants],
            idle: cluster.total_gpus() as i64,
            ..State::default()
        };
        let mut rec = Recorder::new(
            tenants,
            opts.measure_start_ms,
            opts.measure_end_ms,
            3_600_000,
        );
        rec.set(state.clone());
        Self {
            policy,
            workload,
            snap,
            free: cluster
                .nodes
                .iter()
                .map(|n| Free {
                    gpus: i64::from(n.gpus),
                    cpu: n.cpu_milli,
                    mem: n.memory_bytes,
                })
                .collect(),
            node_ix: cluster
                .nodes
                .iter()
                .enumerate()
                .map(|(i, n)| (n.name.clone(), i))
                .collect(),
            jobs,
            owner: HashMap::new(),
            events,
            pending_shapes: BTreeMap::new(),
            typical: typical_shapes(workload),
            state,
            rec,
            out_sessions: 0,
            out_binds: 0,
            out_evictions: 0,
            out_follow_ups: 0,
            out_events: 0,
            session_ns: Vec::new(),
            follow_up_at: None,
            in_follow_up: false,
            learned: Default::default(),
            ever_reserved: std::collections::BTreeSet::new(),
            estimate_errors: Vec::new(),
        }
    }

    /// The current snapshot (what the next session would see).
    pub fn snapshot(&self) -> &Snapshot {
        &self.snap
    }

    fn spec(&self, job: usize) -> &'a JobSpec {
        &self.workload.jobs[job]
    }

    fn shape(job: &JobSpec) -> (u32, i64, i64) {
        (job.gpus_per_pod, job.cpu_milli, job.memory_bytes)
    }

    fn add_pending(&mut self, job: usize, delta: i64) {
        let spec = self.spec(job);
        self.state.pending[spec.tenant] += delta * i64::from(spec.gpus_per_pod);
        let e = self.pending_shapes.entry(Self::shape(spec)).or_insert(0);
        *e = (i64::from(*e) + delta) as u32;
        if *e == 0 {
            self.pending_shapes.remove(&Self::shape(spec));
        }
    }

    fn arrive(&mut self, job: usize, now: u64) {
        let spec = self.spec(job);
        let ns = &self.workload.tenants[spec.tenant].name;
        let queue: QueueId = if self.policy.single_queue {
            snapshot::SINGLE_QUEUE.into()
        } else {
            ns.as_str().into()
        };
        let js = &self.jobs[job];
        self.snap
            .jobs
            .insert(js.jid.clone(), snapshot::pod_group(spec, &queue, now));
        for (i, tid) in js.tids.iter().enumerate() {
            self.snap
                .tasks
                .insert(tid.clone(), snapshot::pod(spec, &js.jid, ns, now));
            self.owner.insert(tid.clone(), (job, i as u32));
        }
        self.add_pending(job, i64::from(spec.pods));
    }

    fn finish(&mut self, job: usize, generation: u64, now: u64) {
        if self.jobs[job].generation != generation || self.jobs[job].started.is_none() {
            return;
        }
        let spec = self.spec(job);
        for pod in 0..spec.pods as usize {
            if let Some(n) = self.jobs[job].nodes[pod].take() {
                self.release(n, spec);
            }
            let tid = self.jobs[job].tids[pod].clone();
            self.snap.tasks.remove(&tid);
            self.snap.started.remove(&tid);
            self.owner.remove(&tid);
        }
        // The shell learns each queue's mean run time from finished jobs (passed to the core as
        // the estimate for jobs that declare none).
        if let Some(pg) = self.snap.jobs.remove(&self.jobs[job].jid) {
            self.learned.record(pg.queue.clone(), spec.duration_ms);
            if let Some(ms) = self.learned.estimate(&pg.queue) {
                self.snap.queue_runtime.insert(pg.queue, ms);
            }
        }
        if let Some(est) = self.jobs[job].estimate_ms {
            let actual = spec.duration_ms.max(1) as f64;
            self.estimate_errors
                .push((est as f64 - actual).abs() / actual);
        }
        self.state.productive -= i64::from(spec.gpus());
        let js = &mut self.jobs[job];
        js.running = 0;
        js.started = None;
        js.end = Some(now);
    }

    fn release(&mut self, node: usize, spec: &JobSpec) {
        let f = &mut self.free[node];
        f.gpus += i64::from(spec.gpus_per_pod);
        f.cpu += spec.cpu_milli;
        f.mem += spec.memory_bytes;
        self.state.held[spec.tenant] -= i64::from(spec.gpus_per_pod);
    }

    fn bind(&mut self, task: &TaskId, node: &str, now: u64) -> Result<()> {
        let bug = Error::Invariant;
        let (job, pod) = *self
            .owner
            .get(task)
            .ok_or_else(|| bug(format!("bind of unknown task {task}")))?;
        let n = *self
            .node_ix
            .get(node)
            .ok_or_else(|| bug(format!("bind to unknown node {node}")))?;
        let spec = self.spec(job);
        if self.jobs[job].nodes[pod as usize].is_some() {
            return Err(bug(format!("task {task} bound twice")));
        }
        let f = &mut self.free[n];
        f.gpus -= i64::from(spec.gpus_per_pod);
        f.cpu -= spec.cpu_milli;
        f.mem -= spec.memory_bytes;
        if f.gpus < 0 || f.cpu < 0 || f.mem < 0 {
            return Err(bug(format!(
                "binding {task} over-commits node {node} at t={now} ms"
            )));
        }
        self.state.held[spec.tenant] += i64::from(spec.gpus_per_pod);
        self.add_pending(job, -1);
        if let Some(t) = self.snap.tasks.get_mut(task) {
            t.status = TaskStatus::Running;
            t.node = Some(node.into());
        }
        self.snap.started.insert(task.clone(), now);
        let js = &mut self.jobs[job];
        js.nodes[pod as usize] = Some(n);
        js.running += 1;
        if js.running == spec.pods {
            let queue = self.snap.jobs.get(&js.jid).map(|pg| pg.queue.clone());
            js.estimate_ms = spec
                .declared_runtime_ms
                .or_else(|| queue.and_then(|q| self.snap.queue_runtime.get(&q).copied()));
            js.started = Some(now);
            js.first_start.get_or_insert(now);
            if let Some(since) = js.requeued_since.take() {
                js.requeued_ms += now - since;
            }
            self.state.productive += i64::from(spec.gpus());
            let generation = js.generation;
            self.events.push(Reverse((
                now + spec.duration_ms,
                Kind::Finish,
                job,
                generation,
            )));
        }
        Ok(())
    }

    fn evict(&mut self, task: &TaskId, now: u64) {
        let Some(&(job, pod)) = self.owner.get(task) else {
            return;
        };
        let Some(n) = self.jobs[job].nodes[pod as usize].take() else {
            return;
        };
        let spec = self.spec(job);
        self.release(n, spec);
        self.add_pending(job, 1);
        if let Some(t) = self.snap.tasks.get_mut(task) {
            t.status = TaskStatus::Pending;
            t.node = None;
            t.creation = now;
            t.annotations.clear();
        }
        self.snap.started.remove(task);
        let js = &mut self.jobs[job];
        js.running -= 1;
        js.evictions += 1;
        if js.first_start.is_some() && js.requeued_since.is_none() {
            js.requeued_since = Some(now);
        }
        if js.started.take().is_some() {
            js.generation += 1;
            self.state.productive -= i64::from(spec.gpus());
        }
        self.out_evictions += 1;
    }

    fn session(&mut self, now: u64) -> Result<SessionResult> {
        self.snap.now = Some(now);
        let t0 = Instant::now();
        let result = run_session(&self.snap, &self.policy.scheduler)
            .map_err(|source| Error::Session { at_ms: now, source })?;
        self.session_ns.push(t0.elapsed().as_nanos() as u64);
        self.out_sessions += 1;
        // The shell's side of stickiness: the reservations of this session, and only those,
        // go into the next snapshot (as the controllers do through the PodGroup annotation).
        let mut reserved = std::collections::BTreeMap::new();
        for effect in &result.effects {
            match effect {
                Effect::Bind {
                    task,
                    node,
                    annotations,
                } => {
                    self.bind(task, node.as_str(), now)?;
                    // The bind annotations (GPU cards) are what deviceshare charges next session.
                    if let Some(t) = self.snap.tasks.get_mut(task) {
                        t.annotations.extend(annotations.clone());
                    }
                    self.out_binds += 1;
                }
                Effect::Evict { task, .. } => self.evict(task, now),
                Effect::PodGroupStatus { job, phase, .. } => {
                    if let Some(j) = self.snap.jobs.get_mut(job) {
                        j.phase = *phase;
                    }
                }
                Effect::QueueStatus { .. } | Effect::Explanation(_) => {}
                Effect::Reservation { job, reservation } => {
                    reserved.insert(job.clone(), reservation.clone());
                }
            }
        }
        self.ever_reserved.extend(reserved.keys().cloned());
        self.snap.reservations = reserved;
        Ok(result)
    }

    /// Recomputes the derived gauges (idle, stranded, fragmentation) from the free vectors.
    fn refresh_gauges(&mut self) {
        let mut idle = 0;
        let mut stranded = 0;
        let mut frag = 0.0;
        for f in &self.free {
            idle += f.gpus;
            if f.gpus == 0 {
                continue;
            }
            let usable = self
                .pending_shapes
                .keys()
                .any(|&(g, c, m)| g > 0 && i64::from(g) <= f.gpus && c <= f.cpu && m <= f.mem);
            if !self.pending_shapes.is_empty() && !usable {
                stranded += f.gpus;
            }
            for &((g, c), p) in &self.typical {
                if g == 0 || i64::from(g) > f.gpus || c > f.cpu {
                    frag += p * f.gpus as f64;
                }
            }
        }
        // Free GPUs on held nodes: capacity a reservation keeps idle.
        let mut reserved_idle = 0;
        for r in self.snap.reservations.values() {
            for n in &r.nodes {
                if let Some(&i) = self.node_ix.get(n.as_str()) {
                    reserved_idle += self.free[i].gpus.max(0);
                }
            }
        }
        self.state.reserved_idle = reserved_idle;
        self.state.idle = idle;
        self.state.stranded = stranded;
        self.state.frag = frag;
    }

    /// Processes every event at the next event time (if it is not after `stop_ms`) and returns
    /// that time. The snapshot then reflects those arrivals and completions; call
    /// [`Engine::schedule`] to run the session production would run now.
    pub fn apply_next_events(&mut self, stop_ms: u64) -> Option<u64> {
        let Reverse((now, _, _, _)) = self.events.peek().copied()?;
        if now > stop_ms {
            return None;
        }
        self.rec.advance(now);
        while let Some(Reverse((t, kind, job, generation))) = self.events.peek().copied() {
            if t != now {
                break;
            }
            self.events.pop();
            if kind != Kind::FollowUp {
                self.out_events += 1;
            }
            match kind {
                Kind::Arrival => self.arrive(job, now),
                Kind::Finish => self.finish(job, generation, now),
                Kind::FollowUp => {
                    if self.follow_up_at == Some(now) {
                        self.follow_up_at = None;
                        self.in_follow_up = true;
                        self.out_follow_ups += 1;
                    }
                }
            }
        }
        Some(now)
    }

    /// Runs one session at `now` if anything is pending, applies its effects and returns them.
    pub fn schedule(&mut self, now: u64) -> Result<Option<SessionResult>> {
        let result = if self.pending_shapes.is_empty() {
            None
        } else {
            Some(self.session(now)?)
        };
        if let Some(r) = &result {
            let s = r.stats;
            let changed = s.binds > 0 || s.evictions > 0 || s.enqueued_jobs > 0;
            let wants = s.evictions > 0 || s.pipelined > 0 || s.enqueued_jobs > 0;
            if wants && (changed || !self.in_follow_up) {
                self.follow_up(now + self.policy.schedule_period_ms.max(1));
            }
        }
        self.in_follow_up = false;
        self.refresh_gauges();
        self.rec.set(self.state.clone());
        Ok(result)
    }

    /// Asks for a session at `at` unless one is already due by then.
    fn follow_up(&mut self, at: u64) {
        if self.follow_up_at.is_some_and(|t| t <= at) {
            return;
        }
        self.follow_up_at = Some(at);
        self.events.push(Reverse((at, Kind::FollowUp, 0, 0)));
    }

    /// Runs to completion (or `opts.stop_ms`).
    pub fn run(mut self, opts: &RunOptions) -> Result<RunOutput> {
        let mut progress = crate::progress::Progress::new(
            &self.policy.name,
            opts.stop_ms.min(self.horizon()),
            opts.progress,
        );
        let mut now = 0;
        while let Some(t) = self.apply_next_events(opts.stop_ms) {
            now = t;
            self.schedule(now)?;
            progress.update(now);
        }
        self.rec.advance(opts.measure_end_ms.max(now));
        progress.finish();
        Ok(RunOutput {
            policy: self.policy.name.clone(),
            jobs: self
                .jobs
                .iter()
                .enumerate()
                .map(|(i, j)| JobRecord {
                    job: i,
                    start_ms: j.first_start,
                    end_ms: j.end,
                    evictions: j.evictions,
                    requeued_ms: j.requeued_ms,
                    requeued_since: j.requeued_since,
                })
                .collect(),
            recorder: self.rec,
            sessions: self.out_sessions,
            binds: self.out_binds,
            evictions: self.out_evictions,
            follow_ups: self.out_follow_ups,
            events: self.out_events,
            end_ms: now,
            session_ns: self.session_ns,
            reservations: self.ever_reserved.len() as u64,
            estimate_errors: self.estimate_errors,
        })
    }

    /// Free GPUs per node, in cluster order.
    pub fn free_gpus(&self) -> Vec<i64> {
        self.free.iter().map(|f| f.gpus).collect()
    }

    fn horizon(&self) -> u64 {
        self.workload
            .jobs
            .last()
            .map_or(0, |j| j.submit_ms)
            .max(self.rec.measure_end)
    }
}

/// The FGD "typical pods" M of a workload: pod shapes (GPUs per pod, CPU) by pod count, most
/// common first, kept until they cover 95 % of pods, renormalised.
pub fn typical_shapes(workload: &Workload) -> Vec<((u32, i64), f64)> {
    let mut counts: BTreeMap<(u32, i64), u64> = BTreeMap::new();
    for j in &workload.jobs {
        *counts.entry((j.gpus_per_pod, j.cpu_milli)).or_insert(0) += u64::from(j.pods);
    }
    let total: u64 = counts.values().sum();
    let mut v: Vec<((u32, i64), u64)> = counts.into_iter().collect();
    v.sort_by(|a, b| b.1.cmp(&a.1).then(a.0.cmp(&b.0)));
    let mut kept = Vec::new();
    let mut covered = 0;
    for (shape, n) in v {
        if total > 0 && covered as f64 >= 0.95 * total as f64 {
            break;
        }
        covered += n;
        kept.push((shape, n));
    }
    let sum: u64 = kept.iter().map(|k| k.1).sum();
    kept.into_iter()
        .map(|(s, n)| (s, n as f64 / sum.max(1) as f64))
        .collect()
}
