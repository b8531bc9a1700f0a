//! Upstream `test/e2e/admission/podgroup_validation_test.go` ("PodGroup Validating E2E Test").

use serde_json::json;

use super::Suite;

const FILE: &str = "admission/podgroup_validation_test.go";

pub fn run(s: &Suite) {
    s.case(
        &format!("{FILE}: Should allow PodGroup creation with valid open queue"),
        |ns| {
            let q = format!("{}-open", ns.name);
            ns.c.create(
                &json!({
                    "apiVersion": "scheduling.volcano.sh/v1beta1", "kind": "Queue",
                    "metadata": {"name": q}, "spec": {"weight": 1},
                })
                .to_string(),
            );
            // Upstream writes the Open state with UpdateStatus; Basalt's queue controller
            // opens a new queue itself, so the case waits for it instead.
            ns.c.wait_for(&format!("queue {q} Open"), super::T, || {
                (ns.c.get_json(&["queue", &q])["status"]["state"] == "Open").then_some(())
            });
            ns.create(&json!({
                "apiVersion": "scheduling.volcano.sh/v1beta1", "kind": "PodGroup",
                "metadata": {"name": "test-podgroup-valid"},
                "spec": {"queue": q, "minMember": 1, "priorityClassName": ""},
            }));
            ns.kubectl(&["delete", "podgroup", "test-podgroup-valid"]);
            ns.c.kubectl(&["delete", "queue", &q]);
        },
    );

    s.case(
        &format!("{FILE}: Should allow PodGroup creation without queue specified"),
        |ns| {
            ns.create(&json!({
                "apiVersion": "scheduling.volcano.sh/v1beta1", "kind": "PodGroup",
                "metadata": {"name": "test-podgroup-no-queue"},
                "spec": {"queue": "", "minMember": 1, "priorityClassName": ""},
            }));
            ns.kubectl(&["delete", "podgroup", "test-podgroup-no-queue"]);
        },
    );
}
