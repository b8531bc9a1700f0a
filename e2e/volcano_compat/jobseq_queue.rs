//! Upstream `test/e2e/jobp/min_success.go` ("Check min success") and
//! `test/e2e/jobseq/queue.go` ("Queue E2E Test": close and open a queue with Commands).

use serde_json::json;

use super::{Suite, T, finishing, task, vcjob};

pub fn run(s: &Suite) {
    s.case("jobp/min_success.go: Min Success", |ns| {
        let short = finishing(task("short", 3, 1, "100m"), "3s", 0);
        let log = task("log", 2, 1, "100m");
        let spec = json!({"minAvailable": 2, "minSuccess": 2, "tasks": [short, log]});
        ns.create(&vcjob("min-success-job", spec));
        ns.c.wait_for("two short pods Succeeded", T, || {
            let done = ns
                .pods("min-success-job")
                .iter()
                .filter(|p| p["status"]["phase"] == "Succeeded")
                .count();
            (done >= 2).then_some(())
        });
        ns.wait_job_phases("min-success-job", &["Completed"]);
    });

    s.case(
        "jobseq/queue.go: Queue Command Close And Open With State Check",
        |ns| {
            let q = "queue-command-close";
            ns.c.create(&format!(
                "apiVersion: scheduling.volcano.sh/v1beta1\nkind: Queue\nmetadata:\n  name: {q}\nspec:\n  weight: 1\n"
            ));
            for (action, state) in [("CloseQueue", "Closed"), ("OpenQueue", "Open")] {
                let uid = ns.c.kubectl(&["get", "queue", q, "-o", "jsonpath={.metadata.uid}"]);
                // As vcctl's CreateQueueCommand: a Command in namespace `default` whose target
                // (and owner) is the queue.
                let target = json!({
                    "apiVersion": "scheduling.volcano.sh/v1beta1",
                    "kind": "Queue",
                    "name": q,
                    "uid": uid,
                });
                let command = json!({
                    "apiVersion": "bus.volcano.sh/v1alpha1",
                    "kind": "Command",
                    "metadata": {
                        "generateName": format!("{q}-{}-", action.to_lowercase()),
                        "namespace": "default",
                        "ownerReferences": [target],
                    },
                    "target": target,
                    "action": action,
                });
                let out = ns
                    .c
                    .kubectl_output(&["create", "-f", "-"], Some(&command.to_string()));
                assert!(
                    out.status.success(),
                    "{}",
                    String::from_utf8_lossy(&out.stderr)
                );
                ns.c.wait_for(&format!("queue {q} {state}"), T, || {
                    (ns.c.get_json(&["queue", q])["status"]["state"] == state).then_some(())
                });
            }
        },
    );
}
