//! Status computation of a JobFlow: Volcano's job lists by phase, `jobStatusList` with restart
//! counts and running histories, per-Job `conditions` and `state.phase`. Pure; `now` only enters
//! when a Job's phase changed, so an unchanged flow yields an identical status (no write).

use std::collections::BTreeMap;

use crds::job::JobPhase;
use crds::jobflow::{FlowCondition, FlowPhase, JobFlowStatus, JobStatusEntry};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::Time;

use super::build::job_name;
use super::plan::{Input, StepState, flow_state, histories, is_failure};

/// The status for `steps` (topological order) with `decided` retries per Job name.
pub fn compute(
    input: &Input<'_>,
    steps: &[(String, StepState)],
    decided: &BTreeMap<String, u32>,
    phase: FlowPhase,
) -> JobFlowStatus {
    let now = Time(input.now);
    let previous: BTreeMap<&str, &JobStatusEntry> = input
        .previous
        .job_status_list
        .iter()
        .flatten()
        .filter_map(|e| e.name.as_deref().map(|n| (n, e)))
        .collect();
    let mut lists: BTreeMap<&'static str, Vec<String>> = BTreeMap::new();
    let mut entries = Vec::new();
    let mut conditions = BTreeMap::new();
    for (step, state) in steps {
        let name = job_name(input.flow, step);
        let prev = previous.get(name.as_str()).copied();
        let job = input.jobs.get(step);
        let job_phase = match (job, state) {
            (Some(j), _) => Some(j.phase),
            (None, StepState::Completed) => Some(JobPhase::Completed),
            // Deleted for a retry: keep showing the failure until the next attempt exists.
            (None, _) => prev.and_then(|e| e.state).filter(|p| is_failure(*p)),
        };
        let Some(job_phase) = job_phase else { continue };
        let list = match job_phase {
            JobPhase::Pending => Some("pending"),
            JobPhase::Running => Some("running"),
            JobPhase::Completed => Some("completed"),
            JobPhase::Failed => Some("failed"),
            JobPhase::Terminated => Some("terminated"),
            // Volcano tracks these but does not list them.
            JobPhase::Completing | JobPhase::Terminating => None,
            JobPhase::Aborting | JobPhase::Aborted | JobPhase::Restarting => Some("unknown"),
        };
        if let Some(list) = list {
            lists.entry(list).or_default().push(name.clone());
        }
        let terminal = matches!(job_phase, JobPhase::Completed) || is_failure(job_phase);
        let (start, end) = match job {
            Some(j) => (
                j.created.clone(),
                if terminal {
                    j.transitioned.clone()
                } else {
                    None
                },
            ),
            None => (
                prev.and_then(|e| e.start_timestamp.clone()),
                prev.and_then(|e| e.end_timestamp.clone()),
            ),
        };
        let restarts = decided.get(&name).copied().unwrap_or(0);
        entries.push(JobStatusEntry {
            name: Some(name.clone()),
            state: Some(job_phase),
            start_timestamp: start,
            end_timestamp: end,
            restart_count: Some(restarts as i32),
            running_histories: Some(histories(prev, Some(job_phase), &now)),
        });
        if let Some(j) = job {
            conditions.insert(
                name,
                FlowCondition {
                    phase: Some(j.phase),
                    create_time: j.created.clone(),
                    running_duration: j.running_duration.clone(),
                    task_status_count: j.task_status_count.clone(),
                },
            );
        } else if let Some(c) = input
            .previous
            .conditions
            .as_ref()
            .and_then(|c| c.get(&name))
        {
            conditions.insert(name, c.clone());
        }
    }
    let mut take = |k: &str| Some(lists.remove(k).unwrap_or_default());
    JobFlowStatus {
        pending_jobs: take("pending"),
        running_jobs: take("running"),
        failed_jobs: take("failed"),
        completed_jobs: take("completed"),
        terminated_jobs: take("terminated"),
        unknown_jobs: take("unknown"),
        job_status_list: Some(entries),
        conditions: Some(conditions),
        state: flow_state(phase),
    }
}
