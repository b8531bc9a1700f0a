//! Lifecycle-policy resolution: which observed pod facts are Volcano events, and which action the
//! Job's policies (task-level before job-level) attach to them (reference/volcano.md §2.1–2.2).
//!
//! Pure: the caller passes the pods it observed and the current time. Events are derived from
//! the *current* state of pods of the Job's current version (level-triggered), so a restart that
//! bumps the version also retires the events that caused it.

use std::time::Duration;

use crds::job::{Action, Event, Job, LifecyclePolicy};
use k8s_openapi::jiff::Timestamp;

use super::view::{PodPhase, PodView};

/// What an action applies to.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Target {
    /// The whole job.
    Job,
    /// One task, by name.
    Task(String),
    /// One pod, by name.
    Pod(String),
    /// One partition of a task (`volcano.sh/task-partition-id`).
    Partition { task: String, partition: i32 },
}

/// The outcome of policy resolution.
#[derive(Clone, Debug, PartialEq)]
pub enum Resolution {
    /// No policy matched.
    None,
    /// Take `action` now, because of `event`.
    Act {
        action: Action,
        event: Event,
        target: Target,
    },
    /// A policy matched but its `timeout` has not elapsed: look again after this long.
    Wait(Duration),
}

/// One observed event with the pod and task it concerns.
#[derive(Clone, Debug, PartialEq)]
pub struct Observation {
    /// The event.
    pub event: Event,
    /// Task name.
    pub task: String,
    /// Pod name (None for task-level events).
    pub pod: Option<String>,
    /// The pod's partition, when its task has a `partitionPolicy`.
    pub partition: Option<i32>,
    /// Exit code of a failed pod.
    pub exit_code: Option<i32>,
    /// When the observed state began (for policy timeouts).
    pub since: Option<Timestamp>,
}

/// Derives Volcano events from the pods of the job's current version.
pub fn observe(job: &Job, pods: &[PodView], version: i32) -> Vec<Observation> {
    let mut out = Vec::new();
    let current = || pods.iter().filter(move |p| p.version >= version);
    for task in &job.spec.tasks {
        let name = super::task_name(task);
        let replicas = task.replicas.unwrap_or(0);
        let mine: Vec<&PodView> = current().filter(|p| p.task == name).collect();
        for p in &mine {
            let obs = |event, exit_code| Observation {
                event,
                task: name.clone(),
                pod: Some(p.name.clone()),
                partition: p.partition,
                exit_code,
                since: p.since,
            };
            if p.deleting && !p.phase.is_finished() && p.index < replicas {
                out.push(obs(Event::PodEvicted, None));
            } else if p.phase == PodPhase::Failed {
                out.push(obs(Event::PodFailed, p.exit_code));
            } else if p.phase == PodPhase::Pending && !p.deleting {
                out.push(obs(Event::PodPending, None));
            } else if p.phase == PodPhase::Unknown {
                out.push(obs(Event::Unknown, None));
            }
        }
        let succeeded = mine
            .iter()
            .filter(|p| p.phase == PodPhase::Succeeded)
            .count();
        if replicas > 0 && succeeded >= replicas as usize {
            out.push(Observation {
                event: Event::TaskCompleted,
                task: name.clone(),
                pod: None,
                partition: None,
                exit_code: None,
                since: None,
            });
        }
        // Volcano: restarts of live pods at or above the task's maxRetry (default 3, -1 never).
        let limit = task.max_retry.unwrap_or(3);
        let restarts: i32 = mine
            .iter()
            .filter(|p| p.phase.is_alive())
            .map(|p| p.restarts)
            .sum();
        if limit > 0 && restarts >= limit {
            out.push(Observation {
                event: Event::TaskFailed,
                task: name.clone(),
                pod: None,
                partition: None,
                exit_code: None,
                since: None,
            });
        }
    }
    out
}

/// Resolves observations against the job's policies; the first observation that matches wins.
pub fn resolve(job: &Job, observations: &[Observation], now: Timestamp) -> Resolution {
    let mut wait: Option<Duration> = None;
    for obs in observations {
        let task_policies = job
            .spec
            .tasks
            .iter()
            .find(|t| super::task_name(t) == obs.task)
            .and_then(|t| t.policies.as_deref())
            .unwrap_or(&[]);
        let job_policies = job.spec.policies.as_deref().unwrap_or(&[]);
        let Some(policy) = task_policies
            .iter()
            .chain(job_policies)
            .find(|p| matches(p, obs))
        else {
            continue;
        };
        let Some(action) = policy.action else {
            continue;
        };
        if let Some(text) = policy.timeout.as_deref() {
            // Admission refuses unreadable timeouts; one that slipped past (created without
            // the webhook) never elapses rather than acting at once.
            let Ok(timeout) = scheduler_core::duration::parse(text) else {
                continue;
            };
            let since = obs.since.unwrap_or(now);
            let elapsed = now.duration_since(since).unsigned_abs();
            if elapsed < timeout {
                let left = timeout - elapsed;
                wait = Some(wait.map_or(left, |w| w.min(left)));
                continue;
            }
        }
        let target = match (action, &obs.pod) {
            (Action::RestartTask, _) => Target::Task(obs.task.clone()),
            (Action::RestartPod, Some(pod)) => Target::Pod(pod.clone()),
            // As Volcano: a pod outside any partition names no partition to restart; the
            // action still counts as a retry and the pod itself is recreated.
            (Action::RestartPartition, Some(_)) => match obs.partition {
                Some(partition) => Target::Partition {
                    task: obs.task.clone(),
                    partition,
                },
                None => Target::Job,
            },
            _ => Target::Job,
        };
        return Resolution::Act {
            action,
            event: obs.event,
            target,
        };
    }
    wait.map_or(Resolution::None, Resolution::Wait)
}

fn matches(policy: &LifecyclePolicy, obs: &Observation) -> bool {
    // Volcano applies PodPending policies only when they carry a timeout.
    if obs.event == Event::PodPending && policy.timeout.is_none() {
        return false;
    }
    if let Some(code) = policy.exit_code {
        return obs.event == Event::PodFailed && obs.exit_code == Some(code);
    }
    let listed = policy.event.iter().chain(policy.events.iter().flatten());
    listed
        .into_iter()
        .any(|e| *e == obs.event || *e == Event::Any)
}
