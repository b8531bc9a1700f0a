//! Upstream `test/e2e/jobp/job_restart.go` ("Test job restart"): what a job keeps when it ends.
//! A job that fails on its last retry keeps the pod that failed (for its logs) and deletes the
//! running ones; a job completed by a task's `TaskCompleted → CompleteJob` policy keeps the
//! pod that succeeded, deletes the running ones and counts no retry.

use serde_json::{Value, json};

use super::{Ns, Suite, T, finishing, task, vcjob};

const FILE: &str = "jobp/job_restart.go";

/// Restart the whole job when a pod is evicted or fails, as both upstream cases do.
fn restart_policies() -> Value {
    json!([
        {"event": "PodEvicted", "action": "RestartJob"},
        {"event": "PodFailed", "action": "RestartJob"},
    ])
}

/// Waits until the pod is gone, then checks the other one exists and is not being deleted.
fn gone_and_kept(ns: &Ns<'_>, gone: &str, kept: &str) {
    ns.c.wait_for(&format!("pod {}/{gone} gone", ns.name), T, || {
        let (exists, _, _) = ns.try_kubectl(&["get", "pod", gone], None);
        (!exists).then_some(())
    });
    let pod = ns.get_json(&["pod", kept]);
    assert!(
        pod["metadata"]["deletionTimestamp"].is_null(),
        "pod {kept} is being deleted: {}",
        pod["metadata"]
    );
}

fn retry_count(ns: &Ns<'_>, job: &str) -> i64 {
    ns.get_json(&["vcjob", job])["status"]["retryCount"]
        .as_i64()
        .unwrap_or(0)
}

pub fn run(s: &Suite) {
    s.case(&format!("{FILE}: Retain failed pod on last Retry"), |ns| {
        let mut running = task("running-task", 1, 1, "100m");
        running["maxRetry"] = json!(1);
        // Upstream runs `sh fake.sh` (no such file): the container exits 127 at once.
        let mut failed = finishing(task("failed-task", 1, 1, "100m"), "1s", 127);
        failed["maxRetry"] = json!(1);
        let spec = json!({
            "minAvailable": 2,
            "minSuccess": 2,
            "maxRetry": 2,
            "policies": restart_policies(),
            "tasks": [running, failed],
        });
        ns.create(&vcjob("last-retry-job", spec));
        ns.wait_job_phases("last-retry-job", &["Failed"]);
        assert_eq!(retry_count(ns, "last-retry-job"), 2);
        gone_and_kept(
            ns,
            "last-retry-job-running-task-0",
            "last-retry-job-failed-task-0",
        );
    });

    s.case(
        &format!("{FILE}: Retain succeeded pod when job complete"),
        |ns| {
            let mut running = task("running-task", 1, 1, "100m");
            running["maxRetry"] = json!(1);
            let mut succeeded = finishing(task("succeeded-task", 1, 1, "100m"), "1s", 0);
            succeeded["maxRetry"] = json!(1);
            succeeded["policies"] = json!([{"event": "TaskCompleted", "action": "CompleteJob"}]);
            let spec = json!({
                "minAvailable": 2,
                "minSuccess": 2,
                "maxRetry": 1,
                "policies": restart_policies(),
                "tasks": [running, succeeded],
            });
            ns.create(&vcjob("complete-retry-job", spec));
            ns.wait_job_phases("complete-retry-job", &["Completed"]);
            assert_eq!(retry_count(ns, "complete-retry-job"), 0);
            gone_and_kept(
                ns,
                "complete-retry-job-running-task-0",
                "complete-retry-job-succeeded-task-0",
            );
        },
    );
}
