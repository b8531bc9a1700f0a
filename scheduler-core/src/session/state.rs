//! The session's working copy of the snapshot: dense indices, interned resource rows and the
//! per-job status counts that gang and the actions query on every step.
//!
//! Only the `Statement` (and session open) mutates it; plugins and actions read it. It borrows the
//! snapshot for everything that does not change during a session (names, labels, annotations).

use std::collections::HashMap;
use std::hash::{BuildHasherDefault, Hasher};

use super::SessionError;
use super::affinity::PodAffinityIndex;
use super::host_ports::HostPortIndex;
use crate::ids::{JobId, NodeId, QueueId, TaskId};
use crate::model::gpu::{self, GpuRequest};
use crate::model::{Constraints, Job, JobPhase, Node, Queue, Snapshot, Task, TaskStatus};
use crate::resources::{ResourceDims, ResourceTable, add_into, sub_into};

macro_rules! index_type {
    ($(#[$doc:meta])* $name:ident) => {
        $(#[$doc])*
        #[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
        pub struct $name(pub u32);

        impl $name {
            /// As a `usize` for indexing.
            #[inline]
            pub fn ix(self) -> usize {
                self.0 as usize
            }
        }
    };
}

index_type!(
    /// Dense index of a node in [`State::nodes`] (id order).
    NodeIx
);
index_type!(
    /// Dense index of a task in [`State::tasks`] (id order).
    TaskIx
);
index_type!(
    /// Dense index of a job in [`State::jobs`] (id order).
    JobIx
);
index_type!(
    /// Dense index of a queue in [`State::queues`] (id order).
    QueueIx
);

const STATUSES: usize = 9;

/// FNV-1a: several times faster than SipHash on short names. Keys are object names from the
/// cluster; a user able to craft colliding names slows only their own sessions' opening.
struct Fnv(u64);

impl Default for Fnv {
    fn default() -> Self {
        Self(0xcbf2_9ce4_8422_2325)
    }
}

impl Hasher for Fnv {
    fn finish(&self) -> u64 {
        self.0
    }

    fn write(&mut self, bytes: &[u8]) {
        for b in bytes {
            self.0 = (self.0 ^ u64::from(*b)).wrapping_mul(0x0100_0000_01b3);
        }
    }
}

type FastMap<K, V> = HashMap<K, V, BuildHasherDefault<Fnv>>;

static NO_CONSTRAINTS: Constraints = Constraints {
    node_selector: std::collections::BTreeMap::new(),
    required_affinity: Vec::new(),
    tolerations: Vec::new(),
    invalid_requests: None,
    pod_affinity: Vec::new(),
    pod_anti_affinity: Vec::new(),
    unsupported: None,
    host_ports: Vec::new(),
};

fn status_slot(s: TaskStatus) -> usize {
    s as usize
}

/// A node in the session.
#[derive(Clone, Debug, PartialEq)]
pub struct NodeState<'s> {
    /// Name.
    pub id: &'s NodeId,
    /// Snapshot data.
    pub spec: &'s Node,
    /// Pods on the node, including tasks allocated or pipelined in this session.
    pub pod_count: u32,
}

/// A task in the session.
#[derive(Clone, Debug, PartialEq)]
pub struct TaskState<'s> {
    /// Name.
    pub id: &'s TaskId,
    /// Snapshot data.
    pub spec: &'s Task,
    /// Owning job.
    pub job: JobIx,
    /// All requests zero (BestEffort): placed by backfill, not allocate.
    pub best_effort: bool,
    /// Index into [`State::classes`]: tasks with equal constraints share static feasibility.
    pub class: u32,
    /// Current status.
    pub status: TaskStatus,
    /// `spec.priority`, copied: task order reads it on every comparison.
    pub priority: i32,
    /// `spec.creation`, copied for the same reason.
    pub creation: u64,
    /// Current node.
    pub node: Option<NodeIx>,
}

/// A job (PodGroup) in the session.
#[derive(Clone, Debug, PartialEq)]
pub struct JobState<'s> {
    /// Name.
    pub id: &'s JobId,
    /// Snapshot data.
    pub spec: &'s Job,
    /// Its queue, if that queue exists.
    pub queue: Option<QueueIx>,
    /// Its tasks in id order.
    pub tasks: Vec<TaskIx>,
    /// Current phase (enqueue may move it).
    pub phase: JobPhase,
    /// `spec.priority`, copied: job order reads it on every heap step.
    pub priority: i32,
    /// `spec.creation`, copied for the same reason.
    pub creation: u64,
    /// `spec.min_member`, copied for the same reason (gang readiness).
    pub min_member: u32,
    /// Whether the per-role minimums (`spec.min_task_member`) bind: they have entries and
    /// minMember is at least their sum. Below that sum the job is elastic and only minMember
    /// counts, as in Volcano's `CheckTaskValid`/`CheckTaskReady`/`CheckTaskPipelined` (a job of
    /// minAvailable 1 whose task defaults its own minimum to 32 replicas still starts 1 pod).
    pub has_role_minimums: bool,
    counts: [u32; STATUSES],
}

/// A queue in the session.
#[derive(Clone, Debug, PartialEq)]
pub struct QueueState<'s> {
    /// Name.
    pub id: &'s QueueId,
    /// Snapshot data.
    pub spec: &'s Queue,
    /// Its jobs in id order.
    pub jobs: Vec<JobIx>,
}

/// The session's mutable view of the cluster.
#[derive(Clone, Debug, PartialEq)]
pub struct State<'s> {
    /// Interned resource names.
    pub dims: ResourceDims,
    /// Nodes in id order.
    pub nodes: Vec<NodeState<'s>>,
    /// Tasks in id order.
    pub tasks: Vec<TaskState<'s>>,
    /// Jobs in id order.
    pub jobs: Vec<JobState<'s>>,
    /// Queues in id order.
    pub queues: Vec<QueueState<'s>>,
    /// Distinct task constraints.
    pub classes: Vec<&'s Constraints>,
    /// Per task: requests.
    pub requests: ResourceTable,
    /// Per node: allocatable.
    pub allocatable: ResourceTable,
    /// Per node: used (external + occupying tasks).
    pub used: ResourceTable,
    /// Per node: allocatable − used.
    pub idle: ResourceTable,
    /// Per node: requests of Releasing tasks.
    pub releasing: ResourceTable,
    /// Per node: requests of Pipelined tasks.
    pub pipelined: ResourceTable,
    /// Σ allocatable of all nodes.
    pub total_allocatable: Vec<i64>,
    /// The snapshot this state was built from (clock, start times).
    pub snapshot: &'s Snapshot,
    /// Placed pods per topology domain for pod (anti-)affinity; `None` when no task declares
    /// a required term (see `affinity`).
    pub pod_affinity: Option<PodAffinityIndex>,
    /// Placed pods that bind host ports, per node; `None` when no task binds one (see
    /// `host_ports`).
    pub host_ports: Option<HostPortIndex>,
    /// Whether idle resources on nodes held for a gang (the snapshot's reservations) count as
    /// allocated to the gang's queue in fair-share accounting: the `reservation` plugin's
    /// `reservation.charge-idle` (true unless configured off; set when the session opens).
    pub charge_held_idle: bool,
    /// Facts read once from the snapshot's pods, when the session was given them.
    prepared: Option<&'s Prepared<'s>>,
    /// Per task: its position in the snapshot, when tasks were left out (else the same index).
    origin: Option<Vec<u32>>,
}

/// What every session on one snapshot reads from each pod's maps the same way whatever a
/// what-if changes, read once and shared by the what-if sessions on that snapshot (see
/// [`crate::Scheduler::run_what_if`]): each of them would otherwise walk all the pods' request
/// and annotation maps again, a cache miss per pod. Indexed by the pod's position in the
/// snapshot (id order).
#[derive(Debug, PartialEq)]
pub struct Prepared<'s> {
    /// The snapshot these facts were read from.
    pub snapshot: &'s Snapshot,
    /// Per pod: its GPU request as deviceshare reads it ([`gpu::parse_request`]).
    gpu: Vec<Option<GpuRequest>>,
    /// Per pod bound to a node: the cards its assignment annotations name
    /// ([`gpu::bound_assignment`]); `None` for the others.
    assignment: Vec<Option<Vec<String>>>,
}

impl<'s> Prepared<'s> {
    /// Reads the facts from every pod of `snapshot`.
    pub fn new(snapshot: &'s Snapshot) -> Self {
        let gpu: Vec<Option<GpuRequest>> = snapshot
            .tasks
            .values()
            .map(|t| gpu::parse_request(&t.requests, &t.annotations))
            .collect();
        let assignment = snapshot
            .tasks
            .values()
            .zip(&gpu)
            .map(|(t, req)| {
                let bound = matches!(
                    t.status,
                    TaskStatus::Binding
                        | TaskStatus::Bound
                        | TaskStatus::Running
                        | TaskStatus::Releasing
                );
                (bound && req.is_some())
                    .then(|| gpu::bound_assignment(&t.annotations))
                    .flatten()
            })
            .collect();
        Self {
            snapshot,
            gpu,
            assignment,
        }
    }
}

/// What a what-if session leaves out of, or changes in, the snapshot it reads, without copying
/// it (see [`crate::Scheduler::run_what_if`]): the state is built as if the snapshot had been
/// edited.
#[derive(Clone, Copy, Debug, Default)]
pub struct Edits<'a> {
    /// Facts read once from the snapshot's pods; `None` reads them from the pods.
    pub prepared: Option<&'a Prepared<'a>>,
    /// Jobs left out with all their tasks (as if they had finished and been deleted); their
    /// reservations and other per-job entries are then never read.
    pub without_jobs: Option<&'a std::collections::BTreeSet<JobId>>,
    /// Queues whose snapshot entry is replaced by this one.
    pub queues: Option<&'a std::collections::BTreeMap<QueueId, Queue>>,
    /// Jobs whose snapshot entry is replaced by this one (same queue and resource names).
    pub jobs: Option<&'a std::collections::BTreeMap<JobId, Job>>,
}

impl Edits<'_> {
    fn keeps_job(&self, job: &JobId) -> bool {
        self.without_jobs.is_none_or(|w| !w.contains(job))
    }
}

impl<'s> State<'s> {
    /// Builds the working copy, checking references between objects.
    pub fn build(snap: &'s Snapshot) -> Result<Self, SessionError> {
        Self::build_with(snap, Edits::default())
    }

    /// Builds the working copy of `snap` changed by `edits`: the same state, index for index,
    /// as [`State::build`] on a copy of the snapshot with those changes made.
    pub fn build_with(snap: &'s Snapshot, edits: Edits<'s>) -> Result<Self, SessionError> {
        let names = snap
            .nodes
            .values()
            .flat_map(|n| n.allocatable.iter().chain(n.used.iter()).map(|(k, _)| k))
            .chain(
                snap.jobs
                    .iter()
                    .filter(|(id, _)| edits.keeps_job(id))
                    .filter_map(|(_, j)| j.min_resources.as_ref())
                    .flat_map(|r| r.iter().map(|(k, _)| k)),
            );
        // One walk over the pods' request maps (the biggest part of building a large session's
        // state): names get a provisional id as first seen and each pod's amounts are kept by
        // that id, so the rows are filled below without walking the maps again or comparing
        // names. Pod `i`'s amounts are `amounts[ends[i - 1]..ends[i]]`.
        // Whether each snapshot task stays, looked up once: the passes below read it by position.
        let keep: Option<Vec<bool>> = edits
            .without_jobs
            .filter(|w| !w.is_empty())
            .map(|w| snap.tasks.values().map(|t| !w.contains(&t.job)).collect());
        let kept = |i: usize| keep.as_ref().is_none_or(|k| k[i]);
        let mut seen: Vec<&str> = Vec::new();
        let mut amounts: Vec<(u32, i64)> = Vec::with_capacity(snap.tasks.len() * 3);
        let mut ends: Vec<usize> = Vec::with_capacity(snap.tasks.len());
        for (_, t) in snap.tasks.values().enumerate().filter(|(i, _)| kept(*i)) {
            for (name, v) in t.requests.iter() {
                let id = match seen.iter().position(|s| *s == name) {
                    Some(id) => id,
                    None => {
                        seen.push(name);
                        seen.len() - 1
                    }
                };
                amounts.push((id as u32, v));
            }
            ends.push(amounts.len());
        }
        let dims = ResourceDims::new(names.chain(seen.iter().copied()));
        let column: Vec<Option<usize>> = seen.iter().map(|n| dims.index_of(n)).collect();
        let d = dims.len();
        let n = snap.nodes.len();
        let kept_tasks = snap.tasks.iter().enumerate().filter(|(i, _)| kept(*i));
        let task_count = keep
            .as_ref()
            .map_or(snap.tasks.len(), |k| k.iter().filter(|k| **k).count());
        let mut st = State {
            nodes: snap
                .nodes
                .iter()
                .map(|(id, spec)| NodeState {
                    id,
                    spec,
                    pod_count: spec.pod_count,
                })
                .collect(),
            tasks: Vec::with_capacity(task_count),
            jobs: Vec::with_capacity(snap.jobs.len()),
            queues: snap
                .queues
                .iter()
                .map(|(id, spec)| QueueState {
                    id,
                    spec: edits.queues.and_then(|q| q.get(id)).unwrap_or(spec),
                    jobs: Vec::new(),
                })
                .collect(),
            // Class 0 is "no constraints", the common case, found without hashing.
            classes: vec![&NO_CONSTRAINTS],
            requests: ResourceTable::zeros(d, task_count),
            allocatable: ResourceTable::zeros(d, n),
            used: ResourceTable::zeros(d, n),
            idle: ResourceTable::zeros(d, n),
            releasing: ResourceTable::zeros(d, n),
            pipelined: ResourceTable::zeros(d, n),
            total_allocatable: vec![0; d],
            snapshot: snap,
            pod_affinity: None,
            host_ports: None,
            charge_held_idle: true,
            prepared: edits.prepared,
            origin: keep.as_ref().map(|_| Vec::with_capacity(task_count)),
            dims,
        };
        // Tasks sorted by name mostly come in runs of the same job (and often node): remember
        // the last lookup before hashing.
        let mut last_job: Option<(&JobId, JobIx)> = None;
        let mut last_node: Option<(&NodeId, NodeIx)> = None;
        let node_ix: FastMap<&NodeId, NodeIx> = snap
            .nodes
            .keys()
            .enumerate()
            .map(|(i, id)| (id, NodeIx(i as u32)))
            .collect();
        let queue_ix: FastMap<&QueueId, QueueIx> = snap
            .queues
            .keys()
            .enumerate()
            .map(|(i, id)| (id, QueueIx(i as u32)))
            .collect();
        let kept_jobs = || snap.jobs.iter().filter(|(id, _)| edits.keeps_job(id));
        // Built on the first lookup the last-hit memo below cannot answer: tasks sorted by name
        // usually follow their jobs, so a snapshot of single-pod jobs never hashes a job name.
        let mut job_ix: Option<FastMap<&JobId, JobIx>> = None;
        for (i, node) in snap.nodes.values().enumerate() {
            let alloc = st.dims.vector(&node.allocatable);
            let used = st.dims.vector(&node.used);
            add_into(&mut st.total_allocatable, &alloc);
            st.allocatable.row_mut(i).copy_from_slice(&alloc);
            st.used.row_mut(i).copy_from_slice(&used);
        }
        for (i, (id, spec)) in kept_jobs().enumerate() {
            let spec = edits.jobs.and_then(|j| j.get(id)).unwrap_or(spec);
            let queue = queue_ix.get(&spec.queue).copied();
            if let Some(q) = queue {
                st.queues[q.ix()].jobs.push(JobIx(i as u32));
            }
            st.jobs.push(JobState {
                id,
                spec,
                queue,
                tasks: Vec::new(),
                phase: spec.phase,
                priority: spec.priority,
                creation: spec.creation,
                min_member: spec.min_member,
                has_role_minimums: spec.role_minimums_bind(),
                counts: [0; STATUSES],
            });
        }
        let mut class_ix: FastMap<&Constraints, u32> = FastMap::default();
        for (i, (origin, (id, spec))) in kept_tasks.enumerate() {
            if let Some(o) = &mut st.origin {
                o.push(origin as u32);
            }
            let job = match last_job {
                Some((name, ix)) if *name == spec.job => ix,
                None if st.jobs.first().is_some_and(|j| *j.id == spec.job) => {
                    last_job = Some((&spec.job, JobIx(0)));
                    JobIx(0)
                }
                // Single-pod jobs: the next task by name is usually the next job's.
                Some((_, ix)) if st.jobs.get(ix.ix() + 1).is_some_and(|j| *j.id == spec.job) => {
                    let ix = JobIx(ix.0 + 1);
                    last_job = Some((&spec.job, ix));
                    ix
                }
                _ => {
                    let ix = *job_ix
                        .get_or_insert_with(|| {
                            kept_jobs()
                                .map(|(id, _)| id)
                                .enumerate()
                                .map(|(i, id)| (id, JobIx(i as u32)))
                                .collect()
                        })
                        .get(&spec.job)
                        .ok_or_else(|| SessionError::UnknownJob {
                            task: id.clone(),
                            job: spec.job.clone(),
                        })?;
                    last_job = Some((&spec.job, ix));
                    ix
                }
            };
            let needs_node = spec.status.occupies_node() || spec.status == TaskStatus::Pipelined;
            let node = match &spec.node {
                Some(name) if needs_node => match last_node {
                    Some((prev, ix)) if prev == name => Some(ix),
                    _ => {
                        let ix = *node_ix.get(name).ok_or_else(|| SessionError::UnknownNode {
                            task: id.clone(),
                            node: name.clone(),
                        })?;
                        last_node = Some((name, ix));
                        Some(ix)
                    }
                },
                None if needs_node => {
                    return Err(SessionError::MissingNode {
                        task: id.clone(),
                        status: spec.status,
                    });
                }
                _ => None,
            };
            let class = if spec.constraints.is_empty() {
                0
            } else {
                let next = st.classes.len() as u32;
                let class = *class_ix.entry(&spec.constraints).or_insert(next);
                if class == next {
                    st.classes.push(&spec.constraints);
                }
                class
            };
            // `requests` starts zeroed: set what the pod asks (what `dims.fill` would write).
            let row = st.requests.row_mut(i);
            let start = i.checked_sub(1).map_or(0, |p| ends[p]);
            for &(id, v) in &amounts[start..ends[i]] {
                if let Some(d) = column[id as usize] {
                    row[d] = v;
                }
            }
            let request = st.requests.row(i);
            let best_effort = request.iter().all(|v| *v <= 0);
            let task = TaskIx(i as u32);
            st.jobs[job.ix()].tasks.push(task);
            st.jobs[job.ix()].counts[status_slot(spec.status)] += 1;
            if let Some(nx) = node {
                st.nodes[nx.ix()].pod_count += 1;
                if spec.status.occupies_node() {
                    add_into(st.used.row_mut(nx.ix()), request);
                }
                if spec.status == TaskStatus::Releasing {
                    add_into(st.releasing.row_mut(nx.ix()), request);
                }
                if spec.status == TaskStatus::Pipelined {
                    add_into(st.pipelined.row_mut(nx.ix()), request);
                }
            }
            st.tasks.push(TaskState {
                id,
                spec,
                job,
                best_effort,
                class,
                status: spec.status,
                priority: spec.priority,
                creation: spec.creation,
                node,
            });
        }
        // Terms are part of the constraints: a look at the distinct classes says whether any
        // task declares one, so sessions without pod affinity do no more than that.
        let has_terms = st
            .classes
            .iter()
            .any(|c| !c.pod_affinity.is_empty() || !c.pod_anti_affinity.is_empty());
        if has_terms {
            let specs: Vec<&Task> = st.tasks.iter().map(|t| t.spec).collect();
            st.pod_affinity = PodAffinityIndex::build(
                snap.nodes.values(),
                &specs,
                st.tasks
                    .iter()
                    .enumerate()
                    .filter_map(|(i, t)| t.node.map(|n| (TaskIx(i as u32), n))),
            );
        }
        if st.classes.iter().any(|c| !c.host_ports.is_empty()) {
            let specs: Vec<&Task> = st.tasks.iter().map(|t| t.spec).collect();
            st.host_ports = HostPortIndex::build(
                snap.nodes.values(),
                &specs,
                st.tasks
                    .iter()
                    .enumerate()
                    .filter_map(|(i, t)| t.node.map(|n| (TaskIx(i as u32), n))),
            );
        }
        for i in 0..n {
            let mut idle = st.allocatable.row(i).to_vec();
            sub_into(&mut idle, st.used.row(i));
            st.idle.row_mut(i).copy_from_slice(&idle);
        }
        Ok(st)
    }

    /// The task's GPU request and its card assignment (for a task bound to a node), as read
    /// once for the snapshot ([`Prepared`]); `None` when this session was not given them.
    pub fn prepared_gpu(
        &self,
        task: TaskIx,
    ) -> Option<(Option<&'s GpuRequest>, Option<&'s [String]>)> {
        let p = self.prepared?;
        let at = self
            .origin
            .as_ref()
            .map_or(task.ix(), |o| o[task.ix()] as usize);
        Some((p.gpu[at].as_ref(), p.assignment[at].as_deref()))
    }

    /// Number of the job's tasks in `status`.
    pub fn count(&self, job: JobIx, status: TaskStatus) -> u32 {
        self.jobs[job.ix()].counts[status_slot(status)]
    }

    /// Tasks counted ready by gang: Allocated, Binding, Bound, Running, Succeeded.
    pub fn ready_count(&self, job: JobIx) -> u32 {
        use TaskStatus::*;
        [Allocated, Binding, Bound, Running, Succeeded]
            .iter()
            .map(|s| self.count(job, *s))
            .sum()
    }

    /// Tasks that are valid gang members (everything but Releasing and Failed).
    pub fn valid_count(&self, job: JobIx) -> u32 {
        let j = &self.jobs[job.ix()];
        j.tasks.len() as u32
            - self.count(job, TaskStatus::Releasing)
            - self.count(job, TaskStatus::Failed)
    }

    /// Changes a task's status, keeping the job's counts right. The caller moves resources.
    pub(crate) fn set_status(&mut self, task: TaskIx, status: TaskStatus) {
        let t = &mut self.tasks[task.ix()];
        let job = &mut self.jobs[t.job.ix()];
        job.counts[status_slot(t.status)] -= 1;
        job.counts[status_slot(status)] += 1;
        t.status = status;
    }

    /// Idle + releasing − pipelined on `node`, written into `out`.
    pub fn future_idle(&self, node: NodeIx, out: &mut [i64]) {
        out.copy_from_slice(self.idle.row(node.ix()));
        add_into(out, self.releasing.row(node.ix()));
        sub_into(out, self.pipelined.row(node.ix()));
    }

    /// The task's request row.
    #[inline]
    pub fn request(&self, task: TaskIx) -> &[i64] {
        self.requests.row(task.ix())
    }

    /// What an admitted job claims for its gang: its minResources less the requests of its pods
    /// that wait for scheduling gates (they hold nothing and may wait indefinitely; Volcano's
    /// `DeductSchGatedResources`), never below zero; `None` without minResources.
    pub fn claim(&self, job: JobIx) -> Option<Vec<i64>> {
        let j = &self.jobs[job.ix()];
        let mut claim = self.dims.vector(j.spec.min_resources.as_ref()?);
        if let Some(gated) = self.snapshot.gated.get(j.id) {
            sub_into(&mut claim, &self.dims.vector(&gated.requests));
            for r in claim.iter_mut() {
                *r = (*r).max(0);
            }
        }
        Some(claim)
    }
}
