//! Upstream `test/e2e/admission/jobflow_validation_test.go` ("JobFlow Validating Webhook E2E
//! Test"): which flow graphs the webhook accepts and refuses. Upstream matches Volcano's wording
//! ("jobflow Flow is not DAG", "vertex is not defined"); Basalt's messages name the flow and the
//! cycle instead, so these cases check the refusal and that the message names the problem.
//! Upstream's two `XIt` (skipped there) are not counted.

use serde_json::{Value, json};

use super::Suite;

const FILE: &str = "admission/jobflow_validation_test.go";

fn flow(name: &str, targets: &[&str]) -> Value {
    if targets.is_empty() {
        json!({"name": name})
    } else {
        json!({"name": name, "dependsOn": {"targets": targets}})
    }
}

fn jobflow(name: &str, flows: Vec<Value>) -> Value {
    json!({
        "apiVersion": "flow.volcano.sh/v1alpha1",
        "kind": "JobFlow",
        "metadata": {"name": name},
        "spec": {"flows": flows, "jobRetainPolicy": "retain"},
    })
}

pub fn run(s: &Suite) {
    let accepted: Vec<(&str, Value)> = vec![
        (
            "Should allow jobflow creation with valid DAG structure",
            jobflow(
                "valid-dag-jobflow",
                vec![
                    flow("a", &[]),
                    flow("b", &["a"]),
                    flow("c", &["a", "b"]),
                    flow("d", &["b"]),
                    flow("e", &["c", "d"]),
                ],
            ),
        ),
        (
            "Should allow jobflow creation with duplicate flow names",
            jobflow(
                "duplicate-names-jobflow",
                vec![flow("a", &[]), flow("a", &[]), flow("b", &["a"])],
            ),
        ),
        (
            "Should allow jobflow creation with multiple flows having same dependency target",
            jobflow(
                "multi-dependency-jobflow",
                vec![
                    flow("a", &[]),
                    flow("b", &["a"]),
                    flow("c", &["a"]),
                    flow("c", &["b"]),
                ],
            ),
        ),
        (
            "Should allow jobflow creation with simple linear dependency chain",
            jobflow(
                "linear-dependency-jobflow",
                vec![
                    flow("start", &[]),
                    flow("middle", &["start"]),
                    flow("end", &["middle"]),
                ],
            ),
        ),
        (
            "Should allow jobflow creation with complex valid DAG structure",
            jobflow(
                "complex-dag-jobflow",
                vec![
                    flow("root1", &[]),
                    flow("root2", &[]),
                    flow("level1-a", &["root1"]),
                    flow("level1-b", &["root2"]),
                    flow("level2", &["level1-a", "level1-b"]),
                    flow("final", &["level2"]),
                ],
            ),
        ),
        (
            "Should allow jobflow creation with empty flows list",
            jobflow("empty-flows-jobflow", vec![]),
        ),
        (
            "Should allow jobflow creation with single flow (no dependencies)",
            jobflow("single-flow-jobflow", vec![flow("single-flow", &[])]),
        ),
    ];
    for (name, manifest) in accepted {
        s.case(&format!("{FILE}: {name}"), |ns| ns.create(&manifest));
    }

    s.case(
        &format!("{FILE}: Should reject jobflow creation with missing flow definition"),
        |ns| {
            let err = ns.refused(&jobflow(
                "missing-flow-jobflow",
                vec![flow("b", &["a"]), flow("c", &["a", "b"])],
            ));
            assert!(err.contains("\"a\""), "{err}");
        },
    );
    s.case(
        &format!("{FILE}: Should reject jobflow creation with self-dependency"),
        |ns| {
            let err = ns.refused(&jobflow(
                "self-dependency-jobflow",
                vec![flow("self-dependent", &["self-dependent"])],
            ));
            assert!(err.contains("self-dependent"), "{err}");
        },
    );
    s.case(
        &format!("{FILE}: Should allow jobflow update with valid DAG structure"),
        |ns| {
            ns.create(&jobflow(
                "update-valid-jobflow",
                vec![flow("a", &[]), flow("b", &["a"])],
            ));
            let patch = json!([{"op": "add", "path": "/spec/flows/-", "value": flow("c", &["b"])}]);
            ns.kubectl(&[
                "patch",
                "jobflow",
                "update-valid-jobflow",
                "--type",
                "json",
                "-p",
                &patch.to_string(),
            ]);
        },
    );
}
