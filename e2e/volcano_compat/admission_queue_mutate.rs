//! Upstream `test/e2e/admission/queue_mutate_test.go` ("Queue Mutating E2E Test"): queue
//! defaults (`reclaimable`, `preemptable`, `weight`) and user values kept as given.

use serde_json::{Value, json};

use super::Suite;

const FILE: &str = "admission/queue_mutate_test.go";

fn created(s: &Suite, name: &str, spec: Value) -> Value {
    let q = json!({
        "apiVersion": "scheduling.volcano.sh/v1beta1",
        "kind": "Queue",
        "metadata": {"name": name},
        "spec": spec,
    });
    s.c.create(&q.to_string());
    s.c.get_json(&["queue", name])["spec"].clone()
}

pub fn run(s: &Suite) {
    s.case(
        &format!("{FILE}: Should set default reclaimable to true when not specified"),
        |_| {
            let spec = created(s, "default-reclaimable-queue", json!({"weight": 1}));
            assert_eq!(spec["reclaimable"], true, "{spec}");
        },
    );
    s.case(
        &format!("{FILE}: Should set default preemptable to true when not specified"),
        |_| {
            let spec = created(s, "default-preemptable-queue", json!({"weight": 1}));
            assert_eq!(spec["preemptable"], true, "{spec}");
        },
    );
    s.case(
        &format!("{FILE}: Should set default weight to 1 when not specified"),
        |_| {
            let spec = created(s, "default-weight-queue", json!({"reclaimable": true}));
            assert_eq!(spec["weight"], 1, "{spec}");
        },
    );
    s.case(
        &format!("{FILE}: Should apply both default reclaimable, preemptable and weight when not specified"),
        |_| {
            let spec = created(s, "both-defaults-queue", json!({}));
            assert_eq!(spec["weight"], 1, "{spec}");
            assert_eq!(spec["reclaimable"], true, "{spec}");
            assert_eq!(spec["preemptable"], true, "{spec}");
        },
    );
    s.case(
        &format!("{FILE}: Should preserve existing field values when specified"),
        |_| {
            let spec = created(
                s,
                "preserve-values-queue",
                json!({"weight": 5, "reclaimable": false, "preemptable": false}),
            );
            assert_eq!(spec["weight"], 5, "{spec}");
            assert_eq!(spec["reclaimable"], false, "{spec}");
            assert_eq!(spec["preemptable"], false, "{spec}");
        },
    );
}
