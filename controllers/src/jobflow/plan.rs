//! The JobFlow decision: from the flow, its observed Jobs and its previous status (the ledger),
//! which steps to create, which failed Jobs to delete for a retry, when to look again, and the
//! new status. Pure: the same input gives the same plan; `now` is an input.
//!
//! Retry bookkeeping: a step's Job carries its attempt (1-based). `restartCount` in the step's
//! `jobStatusList` entry counts the retries already *decided*; it is written before the failed
//! Job is deleted, so after a crash the next attempt number is `restartCount + 1` and a decided
//! retry is never counted twice. A step recorded `Completed` is never re-created.

use std::collections::{BTreeMap, BTreeSet};
use std::time::Duration;

use crds::job::{Job, JobPhase, TaskState};
use crds::jobflow::{
    Flow, FlowPhase, FlowState, JobFlowSpec, JobFlowStatus, JobRunningHistory, JobStatusEntry,
};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::Time;
use k8s_openapi::jiff::Timestamp;
use kube::ResourceExt;

use super::build::job_name;
use super::dag::Dag;
use super::{ATTEMPT, JOB_RETRY_ROUND};

/// What the controller knows about one step's Job.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct ObservedJob {
    /// Job phase (Pending when the Job has no status yet).
    pub phase: JobPhase,
    /// Attempt number from the Job's annotation (1 when absent).
    pub attempt: u32,
    /// Retry round from the Job's annotation (0 when absent).
    pub round: u32,
    /// Creation time.
    pub created: Option<Time>,
    /// Last phase transition.
    pub transitioned: Option<Time>,
    /// True once the Job has a deletionTimestamp.
    pub deleting: bool,
    /// The Job's `status.runningDuration`.
    pub running_duration: Option<String>,
    /// The Job's `status.taskStatusCount`.
    pub task_status_count: Option<BTreeMap<String, TaskState>>,
}

impl ObservedJob {
    /// Reads a Job.
    pub fn from_job(job: &Job) -> Self {
        let number = |key: &str| {
            job.annotations()
                .get(key)
                .and_then(|v| v.parse::<u32>().ok())
        };
        let state = job.status.as_ref().and_then(|s| s.state.as_ref());
        Self {
            phase: state.and_then(|s| s.phase).unwrap_or_default(),
            attempt: number(ATTEMPT).unwrap_or(1).max(1),
            round: number(JOB_RETRY_ROUND).unwrap_or(0),
            created: job.metadata.creation_timestamp.clone(),
            transitioned: state.and_then(|s| s.last_transition_time.clone()),
            deleting: job.metadata.deletion_timestamp.is_some(),
            running_duration: job.status.as_ref().and_then(|s| s.running_duration.clone()),
            task_status_count: job
                .status
                .as_ref()
                .and_then(|s| s.task_status_count.clone()),
        }
    }
}

/// Where a step stands.
#[derive(Clone, Debug, PartialEq)]
pub enum StepState {
    /// Its targets have not completed.
    Waiting,
    /// Its targets run; its probes have not passed yet.
    AwaitingProbe,
    /// Create its Job with this attempt number.
    Create(u32),
    /// Its Job exists and is in this phase.
    Active(JobPhase),
    /// Done; never re-run.
    Completed,
    /// Failed; re-created after the backoff.
    Backoff(Duration),
    /// Failed; the retry is decided: delete the Job, then create the next attempt.
    Retry,
    /// Failed with no retries left: the flow is Failed.
    Exhausted(JobPhase),
}

/// Input of [`plan`].
pub struct Input<'a> {
    /// Flow name.
    pub flow: &'a str,
    /// Flow spec.
    pub spec: &'a JobFlowSpec,
    /// Validated steps.
    pub dag: &'a Dag,
    /// Step name → its Job.
    pub jobs: &'a BTreeMap<String, ObservedJob>,
    /// The current status (the ledger).
    pub previous: &'a JobFlowStatus,
    /// The flow's retry round (`flow.basalt.dev/retry-round`).
    pub round: u32,
    /// True when the JobFlow is being deleted.
    pub deleting: bool,
    /// Steps whose probes passed in this reconcile.
    pub probes_passed: &'a BTreeSet<String>,
    /// Now.
    pub now: Timestamp,
}

/// Output of [`plan`].
#[derive(Clone, Debug, PartialEq)]
pub struct Plan {
    /// Step states in topological order.
    pub steps: Vec<(String, StepState)>,
    /// The status to write (before any delete or create).
    pub status: JobFlowStatus,
    /// Look again after this long (a backoff or a probe); `None`: wait for a change.
    pub requeue: Option<Duration>,
    /// `jobRetainPolicy: delete` and the flow succeeded: delete every Job of the flow.
    pub delete_all: bool,
}

impl Plan {
    /// Steps in `state`-matching states.
    pub fn steps_where(&self, f: impl Fn(&StepState) -> bool) -> impl Iterator<Item = &str> {
        self.steps
            .iter()
            .filter(move |(_, s)| f(s))
            .map(|(n, _)| n.as_str())
    }
}

/// Failure phases that trigger a retry (Volcano treats Aborted as resumable; a flow step does not).
pub fn is_failure(phase: JobPhase) -> bool {
    matches!(
        phase,
        JobPhase::Failed | JobPhase::Aborted | JobPhase::Terminated
    )
}

/// Retry budget of a step: its own `retryPolicy`, else the flow's, else none.
pub fn retry_budget(spec: &JobFlowSpec, step: Option<&Flow>) -> (u32, Duration) {
    let own = step.and_then(|f| f.retry_policy.as_ref());
    let policy = own.or(spec.retry_policy.as_ref());
    let max = policy.and_then(|p| p.max_retries).unwrap_or(0).max(0) as u32;
    let backoff = policy.and_then(|p| p.backoff_seconds).unwrap_or(0).max(0) as u64;
    (max, Duration::from_secs(backoff))
}

fn has_probe(step: Option<&Flow>) -> bool {
    step.and_then(|f| f.depends_on.as_ref())
        .and_then(|d| d.probe.as_ref())
        .is_some_and(|p| {
            let n = |l: Option<usize>| l.unwrap_or(0);
            n(p.http_get_list.as_ref().map(Vec::len))
                + n(p.tcp_socket_list.as_ref().map(Vec::len))
                + n(p.task_status_list.as_ref().map(Vec::len))
                > 0
        })
}

/// Decides the flow's next step (see the module docs).
pub fn plan(input: &Input<'_>) -> Plan {
    let flows: BTreeMap<&str, &Flow> = input
        .spec
        .flows
        .iter()
        .flatten()
        .map(|f| (f.name.as_str(), f))
        .collect();
    let ledger: BTreeMap<&str, &JobStatusEntry> = input
        .previous
        .job_status_list
        .iter()
        .flatten()
        .filter_map(|e| e.name.as_deref().map(|n| (n, e)))
        .collect();
    let mut decided: BTreeMap<String, u32> = BTreeMap::new();
    let mut states: BTreeMap<&str, StepState> = BTreeMap::new();
    let mut requeue: Option<Duration> = None;
    let order = input.dag.topological();
    for step in &order {
        let name = job_name(input.flow, step);
        let entry = ledger.get(name.as_str());
        let restarts = entry.and_then(|e| e.restart_count).unwrap_or(0).max(0) as u32;
        let recorded_done = entry.and_then(|e| e.state) == Some(JobPhase::Completed);
        let mut restarts_now = restarts;
        let state = match input.jobs.get(*step) {
            Some(job) if job.phase == JobPhase::Completed => StepState::Completed,
            Some(job) if is_failure(job.phase) => {
                let (max, backoff) = retry_budget(input.spec, flows.get(*step).copied());
                if restarts >= job.attempt {
                    StepState::Retry
                } else if job.round < input.round {
                    restarts_now = job.attempt;
                    StepState::Retry
                } else if job.attempt <= max {
                    let since = job
                        .transitioned
                        .as_ref()
                        .or(job.created.as_ref())
                        .map(|t| t.0)
                        .unwrap_or(input.now);
                    let elapsed = input.now.duration_since(since).unsigned_abs();
                    if elapsed >= backoff {
                        restarts_now = job.attempt;
                        StepState::Retry
                    } else {
                        let left = backoff - elapsed;
                        requeue = Some(requeue.map_or(left, |r| r.min(left)));
                        StepState::Backoff(left)
                    }
                } else {
                    StepState::Exhausted(job.phase)
                }
            }
            Some(job) => StepState::Active(job.phase),
            None if recorded_done => StepState::Completed,
            None => {
                let targets = input.dag.targets_of(step);
                let done = |t: &String| states.get(t.as_str()) == Some(&StepState::Completed);
                let started = |t: &String| {
                    matches!(
                        states.get(t.as_str()),
                        Some(StepState::Completed | StepState::Active(JobPhase::Running))
                    )
                };
                if has_probe(flows.get(*step).copied()) {
                    if !targets.iter().all(started) {
                        StepState::Waiting
                    } else if input.probes_passed.contains(*step) {
                        StepState::Create(restarts + 1)
                    } else {
                        StepState::AwaitingProbe
                    }
                } else if targets.iter().all(done) {
                    StepState::Create(restarts + 1)
                } else {
                    StepState::Waiting
                }
            }
        };
        decided.insert(name, restarts_now);
        states.insert(step, state);
    }
    let failed = states
        .values()
        .any(|s| matches!(s, StepState::Exhausted(_)));
    if failed {
        // Fail fast: once a step is out of retries nothing new starts (running steps finish).
        for s in states.values_mut() {
            if matches!(s, StepState::Create(_)) {
                *s = StepState::Waiting;
            }
        }
    }
    if states.values().any(|s| *s == StepState::AwaitingProbe) {
        let probe_period = Duration::from_secs(2);
        requeue = Some(requeue.map_or(probe_period, |r| r.min(probe_period)));
    }
    let all_done = states.values().all(|s| *s == StepState::Completed);
    let phase = if input.deleting {
        FlowPhase::Terminating
    } else if all_done {
        FlowPhase::Succeed
    } else if failed {
        FlowPhase::Failed
    } else if !input.jobs.is_empty() || states.values().any(|s| *s == StepState::Completed) {
        FlowPhase::Running
    } else {
        FlowPhase::Pending
    };
    let steps: Vec<(String, StepState)> = order
        .iter()
        .map(|s| {
            (
                (*s).to_owned(),
                states.remove(*s).unwrap_or(StepState::Waiting),
            )
        })
        .collect();
    let status = super::status::compute(input, &steps, &decided, phase);
    let delete_all = phase == FlowPhase::Succeed
        && input.spec.job_retain_policy == Some(crds::jobflow::RetainPolicy::Delete)
        && !input.jobs.is_empty();
    Plan {
        steps,
        status,
        requeue,
        delete_all,
    }
}

/// Appends a running-history period when the phase changed (closing the previous one at `now`).
pub fn histories(
    previous: Option<&JobStatusEntry>,
    phase: Option<JobPhase>,
    now: &Time,
) -> Vec<JobRunningHistory> {
    let mut h = previous
        .and_then(|e| e.running_histories.clone())
        .unwrap_or_default();
    let Some(phase) = phase else { return h };
    if h.last().and_then(|l| l.state) != Some(phase) {
        if let Some(last) = h.last_mut() {
            last.end_timestamp.get_or_insert_with(|| now.clone());
        }
        h.push(JobRunningHistory {
            start_timestamp: Some(now.clone()),
            end_timestamp: None,
            state: Some(phase),
        });
    }
    h
}

/// The flow state value for a phase.
pub fn flow_state(phase: FlowPhase) -> Option<FlowState> {
    Some(FlowState { phase: Some(phase) })
}
