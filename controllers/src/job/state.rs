//! The Volcano Job state machine as a pure function: (Job, observed pods, PodGroup, optional
//! command action, now) → a [`Plan`] of writes (reference/volcano.md §2.3).
//!
//! Level-triggered: every call derives the whole plan from current state, so calling it twice on
//! the same input gives the same plan, and executing a plan then planning again converges.
//! Whole-job kills bump `status.version`; pods of older versions are stale and are deleted, and
//! their events no longer trigger policies. It must not do I/O or read a clock.

use std::collections::BTreeSet;
use std::time::Duration;

use crds::job::{Action, Job, JobCondition, JobPhase, JobState, JobStatus, TaskState};
use crds::podgroup::PodGroupPhase;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::Time;
use k8s_openapi::jiff::Timestamp;

use super::policy::{self, Resolution, Target};
use super::view::{PodPhase, PodView};

/// The job's PodGroup as observed.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct PodGroupView {
    /// Phase (`None` before the scheduler wrote one).
    pub phase: Option<PodGroupPhase>,
    /// Job version the PodGroup was created for.
    pub version: i32,
}

/// What to do with the PodGroup.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum PodGroupAction {
    /// Create it if missing, update it when its spec drifted.
    Ensure,
    /// Delete it (whole-job kill; a new one is created for the next run).
    Delete,
    /// Leave it alone.
    Keep,
}

/// A pod to create: task position in `spec.tasks` and replica index.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub struct NewPod {
    /// Index into `spec.tasks`.
    pub task: usize,
    /// Replica index.
    pub index: i32,
}

/// A phase change, for events.
#[derive(Clone, Debug, PartialEq)]
pub struct Transition {
    /// Previous phase.
    pub from: JobPhase,
    /// New phase.
    pub to: JobPhase,
    /// PascalCase reason (the action or event).
    pub reason: String,
    /// Human message.
    pub message: String,
    /// The lifecycle action (policy or Command) that caused it, if any: Volcano announces each
    /// with an `ExecuteAction` event ("Start to execute action TerminateJob").
    pub action: Option<Action>,
}

/// Everything one reconcile should write.
#[derive(Clone, Debug, PartialEq)]
pub struct Plan {
    /// The status to write (written first, with a resourceVersion precondition).
    pub status: JobStatus,
    /// Pods to delete, by name.
    pub delete_pods: BTreeSet<String>,
    /// Pods to create.
    pub create_pods: Vec<NewPod>,
    /// PodGroup handling.
    pub podgroup: PodGroupAction,
    /// The phase transition, if any.
    pub transition: Option<Transition>,
    /// Delete the Job itself (TTL expired).
    pub delete_job: bool,
    /// Reconcile again after this long (policy timeouts, TTL).
    pub requeue_after: Option<Duration>,
}

/// Observed inputs of one plan.
#[derive(Clone, Copy, Debug)]
pub struct Observed<'a> {
    /// The job's pods, all versions.
    pub pods: &'a [PodView],
    /// Its PodGroup, if present.
    pub podgroup: Option<PodGroupView>,
    /// An action from a Command, taken before any policy.
    pub command: Option<Action>,
    /// The current time.
    pub now: Timestamp,
}

/// Kill modes (Volcano's `PodRetainPhase`).
#[derive(Clone, Copy, PartialEq, Eq)]
enum Kill {
    /// Keep Succeeded and Failed pods.
    Soft,
    /// Delete every pod.
    All,
}

/// Computes the plan for `job`.
pub fn plan(job: &Job, obs: Observed<'_>) -> Plan {
    let mut status = job.status.clone().unwrap_or_default();
    let phase = status
        .state
        .as_ref()
        .and_then(|s| s.phase)
        .unwrap_or(JobPhase::Pending);
    let version = status.version.unwrap_or(0);
    let retry = status.retry_count.unwrap_or(0);
    let max_retry = job.spec.max_retry.unwrap_or(3);
    let min_available = job
        .spec
        .min_available
        .unwrap_or_else(|| total_replicas(job));
    status.min_available = Some(min_available);
    status.version = Some(version);
    status.retry_count = Some(retry);

    let mut p = Planner {
        job,
        obs,
        status,
        delete: BTreeSet::new(),
        create: Vec::new(),
        pg: PodGroupAction::Keep,
    };
    let mut requeue = None;

    let (action, reason) = match obs.command {
        Some(a) => (Some(a), format!("{a:?}")),
        None if matches!(phase, JobPhase::Pending | JobPhase::Running) => {
            let mut seen = policy::observe(job, obs.pods, version);
            // Volcano's job controller raises `Unknown` when the scheduler marks the job's
            // PodGroup Unknown: members ran, the gang fell below minAvailable and cannot be
            // completed. Only job-level policies match it (no task).
            if obs
                .podgroup
                .is_some_and(|pg| pg.phase == Some(PodGroupPhase::Unknown) && pg.version == version)
            {
                seen.push(policy::Observation {
                    event: crds::job::Event::Unknown,
                    task: String::new(),
                    pod: None,
                    partition: None,
                    exit_code: None,
                    since: None,
                });
            }
            match policy::resolve(job, &seen, obs.now) {
                Resolution::Act {
                    action,
                    event,
                    target,
                } => {
                    p.targeted(action, &target);
                    (Some(action), format!("{event:?}"))
                }
                Resolution::Wait(d) => {
                    requeue = Some(d);
                    (None, String::new())
                }
                Resolution::None => (None, String::new()),
            }
        }
        None => (None, String::new()),
    };

    let next = match (phase, action) {
        (JobPhase::Completed | JobPhase::Failed | JobPhase::Terminated, _) => {
            p.kill(Kill::Soft, false);
            phase
        }
        (JobPhase::Aborting | JobPhase::Aborted, Some(Action::ResumeJob)) => {
            p.kill(Kill::Soft, false);
            p.status.retry_count = Some(retry + 1);
            JobPhase::Restarting
        }
        (_, Some(Action::RestartJob)) => {
            let last = retry >= max_retry - 1;
            p.kill(if last { Kill::Soft } else { Kill::All }, true);
            p.status.retry_count = Some(retry + 1);
            JobPhase::Restarting
        }
        (_, Some(Action::RestartTask | Action::RestartPod | Action::RestartPartition)) => {
            p.status.retry_count = Some(retry + 1);
            JobPhase::Restarting
        }
        (_, Some(Action::AbortJob)) => {
            p.kill(Kill::Soft, true);
            JobPhase::Aborting
        }
        (_, Some(Action::CompleteJob)) => {
            p.kill(Kill::Soft, true);
            JobPhase::Completing
        }
        (_, Some(Action::TerminateJob)) => {
            p.kill(Kill::Soft, true);
            JobPhase::Terminating
        }
        (JobPhase::Pending, _) => p.sync_pending(),
        (JobPhase::Running, _) => p.sync_running(),
        (JobPhase::Restarting, _) => p.sync_restarting(max_retry),
        (JobPhase::Aborting, _) => p.drain(JobPhase::Aborted, phase),
        (JobPhase::Completing, _) => p.drain(JobPhase::Completed, phase),
        (JobPhase::Terminating, _) => p.drain(JobPhase::Terminated, phase),
        (JobPhase::Aborted, _) => {
            p.kill(Kill::Soft, false);
            phase
        }
    };

    p.count();
    let mut transition = None;
    if next != phase || p.status.state.is_none() {
        let reason = if reason.is_empty() {
            format!("{next:?}")
        } else {
            reason
        };
        let message = format!("job moved from {phase:?} to {next:?} ({reason})");
        p.set_phase(next, &reason, &message);
        if next != phase {
            transition = Some(Transition {
                from: phase,
                to: next,
                reason,
                message,
                action,
            });
        }
    }

    let mut delete_job = false;
    if let (true, Some(ttl)) = (is_finished(next), job.spec.ttl_seconds_after_finished) {
        let finished = p
            .status
            .state
            .as_ref()
            .and_then(|s| s.last_transition_time.as_ref())
            .map(|t| t.0);
        let deadline = finished.unwrap_or(obs.now) + Duration::from_secs(ttl.max(0) as u64);
        if obs.now >= deadline {
            delete_job = true;
        } else {
            let left = deadline.duration_since(obs.now).unsigned_abs();
            requeue = Some(requeue.map_or(left, |r: Duration| r.min(left)));
        }
    }

    Plan {
        status: p.status,
        delete_pods: p.delete,
        create_pods: p.create,
        podgroup: p.pg,
        transition,
        delete_job,
        requeue_after: requeue,
    }
}

/// Completed, Failed or Terminated.
pub fn is_finished(phase: JobPhase) -> bool {
    matches!(
        phase,
        JobPhase::Completed | JobPhase::Failed | JobPhase::Terminated
    )
}

/// Σ `tasks[].replicas`.
pub fn total_replicas(job: &Job) -> i32 {
    job.spec.tasks.iter().map(|t| t.replicas.unwrap_or(0)).sum()
}

struct Planner<'a> {
    job: &'a Job,
    obs: Observed<'a>,
    status: JobStatus,
    delete: BTreeSet<String>,
    create: Vec<NewPod>,
    pg: PodGroupAction,
}

impl Planner<'_> {
    fn version(&self) -> i32 {
        self.status.version.unwrap_or(0)
    }

    fn live(&self) -> impl Iterator<Item = &PodView> {
        self.obs.pods.iter().filter(|p| !p.deleting)
    }

    /// Deletes pods; a whole-job kill also bumps the version and drops the PodGroup.
    fn kill(&mut self, mode: Kill, whole_job: bool) {
        let doomed: Vec<String> = self
            .live()
            .filter(|p| mode == Kill::All || !p.phase.is_finished())
            .map(|p| p.name.clone())
            .collect();
        self.delete.extend(doomed);
        if whole_job {
            self.status.version = Some(self.version() + 1);
            self.pg = PodGroupAction::Delete;
        }
    }

    /// Targeted restarts delete the target pods now; the phase change happens in `plan`.
    fn targeted(&mut self, action: Action, target: &Target) {
        let doomed: Vec<String> = match (action, target) {
            (Action::RestartTask, Target::Task(task)) => self
                .live()
                .filter(|p| &p.task == task)
                .map(|p| p.name.clone())
                .collect(),
            (Action::RestartPod, Target::Pod(pod)) => vec![pod.clone()],
            (Action::RestartPartition, Target::Partition { task, partition }) => self
                .live()
                .filter(|p| &p.task == task && p.partition == Some(*partition))
                .map(|p| p.name.clone())
                .collect(),
            _ => Vec::new(),
        };
        self.delete.extend(doomed);
    }

    /// Deletes stale-version pods and pods beyond `replicas`; creates missing pods once the
    /// PodGroup has been admitted.
    fn sync_pods(&mut self) {
        let version = self.version();
        let stale: Vec<String> = self
            .live()
            .filter(|p| p.version < version || !self.in_range(p))
            .map(|p| p.name.clone())
            .collect();
        self.delete.extend(stale);
        let admitted = match self.obs.podgroup {
            Some(pg) if pg.version >= version => {
                !matches!(pg.phase, None | Some(PodGroupPhase::Pending))
            }
            Some(_) => {
                // A PodGroup left over from before a restart: replace it so the gang queues again.
                self.pg = PodGroupAction::Delete;
                return;
            }
            None => false,
        };
        self.pg = PodGroupAction::Ensure;
        if !admitted {
            return;
        }
        let existing: BTreeSet<&str> = self.obs.pods.iter().map(|p| p.name.as_str()).collect();
        for (ix, task) in self.job.spec.tasks.iter().enumerate() {
            if !self.dependencies_ready(task) {
                continue;
            }
            for index in 0..task.replicas.unwrap_or(0) {
                let name = super::pod_name(self.job, task, index);
                if !existing.contains(name.as_str()) {
                    self.create.push(NewPod { task: ix, index });
                }
            }
        }
    }

    /// `dependsOn`: a task's pods are created once all (or, with `iteration: any`, one) of the
    /// named tasks have every replica Running or Succeeded.
    fn dependencies_ready(&self, task: &crds::job::TaskSpec) -> bool {
        let Some(deps) = task.depends_on.as_ref().and_then(|d| d.name.as_ref()) else {
            return true;
        };
        let ready = |dep: &String| {
            let Some(t) = self
                .job
                .spec
                .tasks
                .iter()
                .find(|t| &super::task_name(t) == dep)
            else {
                return true;
            };
            let up = self
                .current()
                .filter(|p| {
                    &p.task == dep && matches!(p.phase, PodPhase::Running | PodPhase::Succeeded)
                })
                .count() as i32;
            up >= t.replicas.unwrap_or(0)
        };
        match task.depends_on.as_ref().and_then(|d| d.iteration) {
            Some(crds::job::Iteration::Any) => deps.iter().any(ready),
            _ => deps.iter().all(ready),
        }
    }

    fn in_range(&self, pod: &PodView) -> bool {
        self.job
            .spec
            .tasks
            .iter()
            .find(|t| super::task_name(t) == pod.task)
            .is_some_and(|t| pod.index >= 0 && pod.index < t.replicas.unwrap_or(0))
    }

    fn current(&self) -> impl Iterator<Item = &PodView> {
        let version = self.version();
        self.live().filter(move |p| p.version >= version)
    }

    fn phase_count(&self, phase: PodPhase) -> i32 {
        self.current().filter(|p| p.phase == phase).count() as i32
    }

    fn sync_pending(&mut self) -> JobPhase {
        self.sync_pods();
        let started: i32 = [PodPhase::Running, PodPhase::Succeeded, PodPhase::Failed]
            .into_iter()
            .map(|ph| self.phase_count(ph))
            .sum();
        if started >= self.status.min_available.unwrap_or(0) && started > 0 {
            JobPhase::Running
        } else {
            JobPhase::Pending
        }
    }

    fn sync_running(&mut self) -> JobPhase {
        self.sync_pods();
        let total = total_replicas(self.job);
        if total == 0 {
            return JobPhase::Running;
        }
        let succeeded = self.phase_count(PodPhase::Succeeded);
        let failed = self.phase_count(PodPhase::Failed);
        let pending = self.phase_count(PodPhase::Pending);
        let min_available = self.status.min_available.unwrap_or(0);
        if let Some(min_success) = self.job.spec.min_success
            && succeeded >= min_success
        {
            self.kill(Kill::Soft, false);
            return JobPhase::Completed;
        }
        if succeeded + failed >= total {
            let task_short = self.job.spec.tasks.iter().any(|t| {
                let name = super::task_name(t);
                let ok = self
                    .current()
                    .filter(|p| p.task == name && p.phase == PodPhase::Succeeded)
                    .count();
                t.min_available.is_some_and(|m| (ok as i32) < m)
            });
            let sum_task_min: i32 = self
                .job
                .spec
                .tasks
                .iter()
                .filter_map(|t| t.min_available)
                .sum();
            let below_success = self.job.spec.min_success.is_some_and(|m| succeeded < m);
            return if (task_short && min_available >= sum_task_min) || below_success {
                JobPhase::Failed
            } else if succeeded >= min_available {
                JobPhase::Completed
            } else {
                JobPhase::Failed
            };
        }
        if pending > total - min_available {
            return JobPhase::Pending;
        }
        JobPhase::Running
    }

    fn sync_restarting(&mut self, max_retry: i32) -> JobPhase {
        if self.status.retry_count.unwrap_or(0) >= max_retry {
            self.kill(Kill::Soft, false);
            return JobPhase::Failed;
        }
        let version = self.version();
        let doomed: Vec<String> = self
            .live()
            .filter(|p| p.version < version || p.phase == PodPhase::Failed)
            .map(|p| p.name.clone())
            .collect();
        let draining = self.obs.pods.iter().any(|p| p.deleting);
        let done = doomed.is_empty() && !draining;
        self.delete.extend(doomed);
        if done {
            JobPhase::Pending
        } else {
            JobPhase::Restarting
        }
    }

    /// Kill(soft) until nothing is alive, then `to`.
    fn drain(&mut self, to: JobPhase, from: JobPhase) -> JobPhase {
        self.kill(Kill::Soft, false);
        let alive = self
            .obs
            .pods
            .iter()
            .any(|p| p.deleting || p.phase.is_alive());
        if alive { from } else { to }
    }

    /// Fills the pod counters from pods of the current version.
    fn count(&mut self) {
        let mut tasks = std::collections::BTreeMap::<String, TaskState>::new();
        for p in self.current() {
            let phase = format!("{:?}", p.phase);
            *tasks
                .entry(p.task.clone())
                .or_default()
                .phase
                .get_or_insert_default()
                .entry(phase)
                .or_default() += 1;
        }
        self.status.pending = Some(self.phase_count(PodPhase::Pending));
        self.status.running = Some(self.phase_count(PodPhase::Running));
        self.status.succeeded = Some(self.phase_count(PodPhase::Succeeded));
        self.status.failed = Some(self.phase_count(PodPhase::Failed));
        self.status.unknown = Some(self.phase_count(PodPhase::Unknown));
        self.status.terminating = Some(self.obs.pods.iter().filter(|p| p.deleting).count() as i32);
        self.status.task_status_count = (!tasks.is_empty()).then_some(tasks);
    }

    fn set_phase(&mut self, phase: JobPhase, reason: &str, message: &str) {
        let now = Time(self.obs.now);
        self.status.state = Some(JobState {
            phase: Some(phase),
            reason: Some(reason.to_owned()),
            message: Some(message.to_owned()),
            last_transition_time: Some(now.clone()),
        });
        let conditions = self.status.conditions.get_or_insert_default();
        conditions.retain(|c| c.status != phase);
        conditions.push(JobCondition {
            status: phase,
            last_transition_time: Some(now),
        });
    }
}
