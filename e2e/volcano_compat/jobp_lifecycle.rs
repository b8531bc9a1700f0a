//! Upstream `test/e2e/jobp/job_lifecycle.go` ("Job Life Cycle"): a job deleted in each phase is
//! cleaned up (job, pods, PodGroup), the lifecycle action is announced by an `ExecuteAction`
//! event, and a gang that cannot fit its node gets an `Unschedulable` event on its PodGroup.

use serde_json::json;

use super::{Suite, finishing, task, vcjob};

const FILE: &str = "jobp/job_lifecycle.go";

pub fn run(s: &Suite) {
    s.case(&format!("{FILE}: Delete job that is pending state"), |ns| {
        // Upstream asks 10000 CPUs per pod; Basalt refuses a pod larger than every node at
        // admission (docs/webhooks.md), so the job is kept Pending by a nodeSelector no node
        // matches instead.
        let mut t = task("success", 2, 2, "1");
        t["template"]["spec"]["nodeSelector"] = json!({"compat.basalt.dev/nowhere": "true"});
        ns.create(&vcjob("pending-delete-job", json!({"tasks": [t]})));
        ns.wait_job_phases("pending-delete-job", &["Pending"]);
        ns.delete_job_and_wait_cleaned_up("pending-delete-job");
    });

    s.case(&format!("{FILE}: Delete job that is Running state"), |ns| {
        let spec = json!({"tasks": [task("success", 2, 2, "100m")]});
        ns.create(&vcjob("running-delete-job", spec));
        ns.wait_job_phases("running-delete-job", &["Pending", "Running"]);
        ns.delete_job_and_wait_cleaned_up("running-delete-job");
    });

    s.case(
        &format!("{FILE}: Delete job that is Completed state"),
        |ns| {
            let t = finishing(task("completed-task", 2, 2, "100m"), "3s", 0);
            ns.create(&vcjob("complete-delete-job", json!({"tasks": [t]})));
            ns.wait_job_phases("complete-delete-job", &["Pending", "Running", "Completed"]);
            ns.delete_job_and_wait_cleaned_up("complete-delete-job");
        },
    );

    s.case(&format!("{FILE}: Delete job that is Failed job"), |ns| {
        let t = finishing(task("fail", 1, 1, "100m"), "2s", 3);
        let spec = json!({
            "policies": [{"event": "PodFailed", "action": "AbortJob"}],
            "tasks": [t],
        });
        ns.create(&vcjob("failed-delete-job", spec));
        ns.wait_job_phases("failed-delete-job", &["Pending", "Running", "Aborted"]);
        ns.delete_job_and_wait_cleaned_up("failed-delete-job");
    });

    s.case(
        &format!("{FILE}: Delete job that is terminated job"),
        |ns| {
            let t = finishing(task("fail", 1, 1, "100m"), "2s", 3);
            let spec = json!({
                "policies": [{"event": "PodFailed", "action": "TerminateJob"}],
                "tasks": [t],
            });
            ns.create(&vcjob("terminate-delete-job", spec));
            ns.wait_job_phases(
                "terminate-delete-job",
                &["Pending", "Running", "Terminated"],
            );
            ns.delete_job_and_wait_cleaned_up("terminate-delete-job");
        },
    );

    s.case(
        &format!("{FILE}: Create and Delete job with CPU requirement"),
        |ns| {
            let t = finishing(task("complete", 1, 1, "1"), "2s", 0);
            let spec = json!({
                "policies": [{"event": "PodFailed", "action": "TerminateJob"}],
                "tasks": [t],
            });
            ns.create(&vcjob("terminate-delete-job", spec));
            ns.wait_job_phases("terminate-delete-job", &["Pending", "Running", "Completed"]);
            ns.delete_job_and_wait_cleaned_up("terminate-delete-job");
        },
    );

    s.case(
        &format!("{FILE}: Checking Event Generation for job"),
        |ns| {
            // Upstream's command `sleep 10s && xyz` fails (127: command not found).
            let t = finishing(task("complete", 1, 1, "100m"), "2s", 127);
            let spec = json!({
                "policies": [{"event": "PodFailed", "action": "TerminateJob"}],
                "tasks": [t],
            });
            ns.create(&vcjob("terminate-job", spec));
            let message = ns.wait_event("terminate-job", "ExecuteAction");
            assert!(message.contains("TerminateJob"), "{message}");
        },
    );

    s.case(
        &format!("{FILE}: Checking Unschedulable Event Generation for job"),
        |ns| {
            // Upstream fills one node with 1-CPU pods plus one more, pinned by hostname
            // affinity; 10-CPU pods give the same gang with fewer objects.
            let node = "gpu-node-0";
            let cpu = ns.get_json(&["node", node])["status"]["allocatable"]["cpu"]
                .as_str()
                .unwrap_or("0")
                .to_owned();
            let alloc = match cpu.strip_suffix('m') {
                Some(milli) => milli.parse::<i32>().expect("millicores") / 1000,
                None => cpu.parse::<i32>().expect("whole CPUs"),
            };
            let rep = alloc / 10 + 1;
            let mut t = task("complete", rep, rep, "10");
            t["template"]["spec"]["containers"][0]["resources"]["limits"] = json!({"cpu": "10"});
            t["template"]["spec"]["affinity"] = json!({"nodeAffinity": {
                "requiredDuringSchedulingIgnoredDuringExecution": {"nodeSelectorTerms": [{
                    "matchExpressions": [{
                        "key": "kubernetes.io/hostname", "operator": "In", "values": [node],
                    }],
                }]},
            }});
            let spec = json!({
                "policies": [{"event": "PodFailed", "action": "TerminateJob"}],
                "tasks": [t],
            });
            ns.create(&vcjob("unschedulable-job", spec));
            let pg = ns.podgroup_of("unschedulable-job");
            let pg_name = pg["metadata"]["name"]
                .as_str()
                .unwrap_or_default()
                .to_owned();
            let message = ns.wait_event(&pg_name, "Unschedulable");
            assert!(message.contains("unschedulable"), "{message}");
        },
    );
}
