//! Upstream `test/e2e/jobseq/job_error_handling.go` ("Job Error Handling"): every lifecycle
//! policy pair the file exercises, job level and task level, with the phases the job must go
//! through. Upstream's failing command (`sleep 10s && xxx`, exit 127) is a simulated pod that
//! exits 127 after 3 s; its "evicted" pod is a pod deleted with kubectl, as upstream does.

use serde_json::{Value, json};

use super::{Ns, Suite, T, finishing, task, vcjob};

const FILE: &str = "jobseq/job_error_handling.go";

/// What happens to the job once it runs.
#[derive(Clone, Copy)]
enum Trigger {
    /// Nothing more: the failing task fails on its own.
    None,
    /// Delete pod `delete-0` (upstream's PodEvicted).
    DeletePod,
}

struct Case {
    name: &'static str,
    job_policies: Value,
    /// Second task: "fail" (exits 127), "delete" (runs), or "completed-task" (succeeds).
    second: &'static str,
    task_policies: Value,
    trigger: Trigger,
    phases: &'static [&'static str],
}

fn second_task(kind: &str, policies: &Value) -> Value {
    let mut t = match kind {
        "fail" => finishing(task("fail", 2, 2, "100m"), "3s", 127),
        "fail-3" => finishing(task("fail", 1, 1, "100m"), "3s", 3),
        "completed-task" => finishing(task("completed-task", 2, 2, "100m"), "3s", 0),
        _ => task(kind, 2, 2, "100m"),
    };
    if !policies.is_null() {
        t["policies"] = policies.clone();
    }
    t
}

fn cases() -> Vec<Case> {
    let p = |event: &str, action: &str| json!([{"event": event, "action": action}]);
    let job = |name, job_policies, second, trigger, phases| Case {
        name,
        job_policies,
        second,
        task_policies: Value::Null,
        trigger,
        phases,
    };
    let on_task = |name, second, task_policies, trigger, phases| Case {
        name,
        job_policies: Value::Null,
        second,
        task_policies,
        trigger,
        phases,
    };
    use Trigger::*;
    vec![
        job(
            "job level LifecyclePolicy, Event: PodFailed; Action: RestartJob",
            p("PodFailed", "RestartJob"),
            "fail",
            None,
            &["Pending", "Running", "Restarting"],
        ),
        job(
            "job level LifecyclePolicy, Event: PodFailed; Action: TerminateJob",
            p("PodFailed", "TerminateJob"),
            "fail",
            None,
            &["Pending", "Running", "Terminating", "Terminated"],
        ),
        job(
            "job level LifecyclePolicy, Event: PodFailed; Action: AbortJob",
            p("PodFailed", "AbortJob"),
            "fail",
            None,
            &["Pending", "Running", "Aborting", "Aborted"],
        ),
        job(
            "job level LifecyclePolicy, Event: PodFailed, Action: RestartPod; Event PodEvicted, Action: TerminateJob, Timeout: 5m",
            json!([
                {"event": "PodFailed", "action": "RestartPod"},
                {"event": "PodEvicted", "action": "TerminateJob", "timeout": "5m"},
            ]),
            "fail",
            None,
            // RestartPod replaces only the failed pods, so the job goes back to Running.
            &["Pending", "Running", "Restarting", "Running"],
        ),
        job(
            "job level LifecyclePolicy, Event: PodEvicted; Action: RestartJob",
            p("PodEvicted", "RestartJob"),
            "delete",
            DeletePod,
            &["Restarting", "Pending", "Running"],
        ),
        job(
            "job level LifecyclePolicy, Event: PodEvicted; Action: TerminateJob",
            p("PodEvicted", "TerminateJob"),
            "delete",
            DeletePod,
            &["Terminating", "Terminated"],
        ),
        job(
            "job level LifecyclePolicy, Event: PodEvicted; Action: AbortJob",
            p("PodEvicted", "AbortJob"),
            "delete",
            DeletePod,
            &["Aborting", "Aborted"],
        ),
        job(
            "job level LifecyclePolicy, Event: Any; Action: RestartJob",
            p("*", "RestartJob"),
            "delete",
            DeletePod,
            &["Restarting", "Pending", "Running"],
        ),
        job(
            "job level LifecyclePolicy, Event: TaskCompleted; Action: CompletedJob",
            p("TaskCompleted", "CompleteJob"),
            "completed-task",
            None,
            &["Pending", "Completed"],
        ),
        job(
            "job level LifecyclePolicy, error code: 3; Action: RestartJob",
            json!([{"exitCode": 3, "action": "RestartJob"}]),
            "fail-3",
            None,
            &["Pending", "Running", "Restarting"],
        ),
        job(
            "job level LifecyclePolicy, Event[]: PodEvicted, PodFailed; Action: TerminateJob",
            json!([{"events": ["PodEvicted", "PodFailed", "PodEvicted"], "action": "TerminateJob"}]),
            "delete",
            DeletePod,
            &["Terminating", "Terminated"],
        ),
        on_task(
            "Task level LifecyclePolicy, Event: PodFailed; Action: RestartJob",
            "fail",
            p("PodFailed", "RestartJob"),
            None,
            &["Pending", "Running", "Restarting"],
        ),
        on_task(
            "Task level LifecyclePolicy, Event: PodEvicted; Action: RestartJob",
            "delete",
            p("PodEvicted", "RestartJob"),
            DeletePod,
            &["Restarting", "Pending", "Running"],
        ),
        on_task(
            "Task level LifecyclePolicy, Event: PodEvicted; Action: TerminateJob",
            "delete",
            p("PodEvicted", "TerminateJob"),
            DeletePod,
            &["Terminating", "Terminated"],
        ),
        on_task(
            "Task level LifecyclePolicy, Event: TaskCompleted; Action: CompletedJob",
            "completed-task",
            p("TaskCompleted", "CompleteJob"),
            None,
            &["Pending", "Completed"],
        ),
        Case {
            name: "job level LifecyclePolicy, Event: PodFailed; Action: AbortJob and Task level lifecyclePolicy, Event : PodFailed; Action: RestartJob",
            job_policies: p("PodFailed", "AbortJob"),
            second: "fail",
            task_policies: p("PodFailed", "RestartJob"),
            trigger: None,
            phases: &["Pending", "Running", "Restarting"],
        },
    ]
}

fn run_case(ns: &Ns<'_>, c: &Case) {
    let first = if c.second == "fail-3" {
        task("success", 1, 1, "100m")
    } else {
        task("success", 2, 2, "100m")
    };
    let mut spec = json!({"tasks": [first, second_task(c.second, &c.task_policies)]});
    if !c.job_policies.is_null() {
        spec["policies"] = c.job_policies.clone();
    }
    ns.create(&vcjob("policy-job", spec));
    if let Trigger::DeletePod = c.trigger {
        ns.wait_job_phases("policy-job", &["Pending", "Running"]);
        ns.kubectl(&["delete", "pod", "policy-job-delete-0", "--wait=false"]);
    }
    ns.wait_job_phases("policy-job", c.phases);
}

pub fn run(s: &Suite) {
    for c in cases() {
        s.case(&format!("{FILE}: {}", c.name), |ns| run_case(ns, &c));
    }

    s.case(
        &format!("{FILE}: job level LifecyclePolicy, Event: TaskFailed; Action: TerminateJob"),
        |ns| {
            let success = finishing(task("success", 2, 2, "100m"), "5s", 0);
            let mut failed = task("failed", 2, 2, "100m");
            failed["maxRetry"] = json!(3);
            let spec = json!({
                "policies": [{"event": "TaskFailed", "action": "TerminateJob"}],
                "tasks": [success, failed],
            });
            ns.create(&vcjob("task-failed-terminate-job", spec));
            ns.wait_job_phases("task-failed-terminate-job", &["Pending", "Running"]);
            // As upstream: the pod's container restarted more often than the task's maxRetry.
            let pod = ns.get_json(&["pod", "task-failed-terminate-job-failed-0"]);
            let mut statuses = pod["status"]["containerStatuses"].clone();
            if let Some(first) = statuses.get_mut(0) {
                first["restartCount"] = json!(4);
            } else {
                statuses = json!([{"name": "main", "image": "nginx", "imageID": "", "ready": true, "restartCount": 4}]);
            }
            let patch = json!({"status": {"containerStatuses": statuses}}).to_string();
            ns.kubectl(&[
                "patch",
                "pod",
                "task-failed-terminate-job-failed-0",
                "--subresource=status",
                "--type",
                "merge",
                "-p",
                &patch,
            ]);
            ns.wait_job_phases("task-failed-terminate-job", &["Terminating", "Terminated"]);
        },
    );

    s.case(&format!("{FILE}: Task Priority"), |ns| {
        // Upstream gives both tasks the master class (a typo: the expectation counts only master
        // pods, which any placement satisfies). Here the second task has the lower class, so the
        // check is the one upstream meant: with room for one task only, the higher one runs.
        ns.c.apply(
            "apiVersion: scheduling.k8s.io/v1\nkind: PriorityClass\nmetadata:\n  name: compat-master\nvalue: 100\n---\napiVersion: scheduling.k8s.io/v1\nkind: PriorityClass\nmetadata:\n  name: compat-worker\nvalue: 1\n",
        );
        let nodes = 4;
        let cpu = ns.get_json(&["node", "gpu-node-0"])["status"]["allocatable"]["cpu"]
            .as_str()
            .unwrap_or("0")
            .parse::<i32>()
            .expect("whole CPUs");
        // Upstream: a node's slots minus one, so one pod per node; 90 of 96 CPUs likewise.
        let per_pod = (cpu - 6).to_string();
        let mut high = task("higherprioritytask", nodes, 0, &per_pod);
        high["template"]["spec"]["priorityClassName"] = json!("compat-master");
        let mut low = task("lowerprioritytask", nodes, 0, &per_pod);
        low["template"]["spec"]["priorityClassName"] = json!("compat-worker");
        let spec = json!({"minAvailable": nodes, "tasks": [high, low]});
        ns.create(&vcjob("task-priority-job", spec));
        ns.wait_job_phases("task-priority-job", &["Pending", "Running"]);
        ns.c.wait_for("4 higher-priority pods running", T, || {
            let pods = ns.pods("task-priority-job");
            let running = |class: &str| {
                pods.iter()
                    .filter(|p| {
                        p["spec"]["priorityClassName"] == class && p["status"]["phase"] == "Running"
                    })
                    .count()
            };
            (running("compat-master") == nodes as usize && running("compat-worker") == 0)
                .then_some(())
        });
        ns.kubectl(&["delete", "vcjob", "task-priority-job"]);
    });

    for (name, action, phases) in [
        (
            "Job error handling: Restart job when job is unschedulable",
            "RestartJob",
            &["Restarting", "Pending"][..],
        ),
        (
            "Job error handling: Abort job when job is unschedulable",
            "AbortJob",
            &["Aborting", "Aborted"][..],
        ),
    ] {
        s.case(&format!("{FILE}: {name}"), |ns| {
            // Upstream fills the cluster with 1-CPU pods; two 47-CPU pods per node (room left for
            // the small pods of earlier cases) make the same gang with eight. Tainting every node
            // then deleting one pod leaves the gang short: its PodGroup turns Unknown.
            let spec = json!({
                "policies": [{"event": "Unknown", "action": action}],
                "tasks": [task("test", 8, 8, "47")],
            });
            ns.create(&vcjob("unschedulable-policy-job", spec));
            ns.wait_job_phases("unschedulable-policy-job", &["Running"]);
            let taint = "unschedulable-taint-key=unschedulable-taint-val:NoSchedule";
            ns.c.kubectl(&["taint", "nodes", "--all", taint]);
            let result = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
                ns.kubectl(&[
                    "delete",
                    "pod",
                    "unschedulable-policy-job-test-0",
                    "--wait=false",
                ]);
                ns.wait_job_phases("unschedulable-policy-job", phases);
            }));
            ns.c.kubectl(&["taint", "nodes", "--all", "unschedulable-taint-key-"]);
            if let Err(panic) = result {
                std::panic::resume_unwind(panic);
            }
            if action == "RestartJob" {
                ns.wait_job_phases("unschedulable-policy-job", &["Running"]);
            }
            ns.kubectl(&["delete", "vcjob", "unschedulable-policy-job"]);
        });
    }
}
