//! Upstream `test/e2e/admission/queue_validation_test.go` ("Queue Validating E2E Test"): which
//! Queue manifests the admission accepts (states, default weight, deserved / guarantee /
//! capability each alone, resources one of them does not list, a child queue) and which it
//! refuses (weight below 1, guarantee ≤ deserved ≤ capability broken, malformed
//! `volcano.sh/hierarchy` annotations), on create and on update. Upstream matches Volcano's
//! wording; ours check the refusal names the field, as the other admission files do.

use serde_json::{Value, json};

use super::Suite;

const FILE: &str = "admission/queue_validation_test.go";

fn queue(name: &str, spec: Value) -> Value {
    json!({
        "apiVersion": "scheduling.volcano.sh/v1beta1",
        "kind": "Queue",
        "metadata": {"name": name},
        "spec": spec,
    })
}

fn with_hierarchy(name: &str, hierarchy: &str, weights: Option<&str>) -> Value {
    let mut q = queue(name, json!({"weight": 1}));
    let mut annotations = json!({"volcano.sh/hierarchy": hierarchy});
    if let Some(w) = weights {
        annotations["volcano.sh/hierarchy-weights"] = json!(w);
    }
    q["metadata"]["annotations"] = annotations;
    q
}

/// `kubectl create`; (accepted, stderr).
fn create(s: &Suite, q: &Value) -> (bool, String) {
    let out =
        s.c.kubectl_output(&["create", "-f", "-"], Some(&q.to_string()));
    (
        out.status.success(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

/// Accepted, then deleted (upstream's cleanup is part of several cases).
fn accepted(s: &Suite, q: &Value) {
    let (ok, err) = create(s, q);
    assert!(ok, "refused {q}: {err}");
    s.c.kubectl(&[
        "delete",
        "queue",
        q["metadata"]["name"].as_str().unwrap_or(""),
    ]);
}

/// Refused, with a message that names `field`.
fn refused(s: &Suite, q: &Value, field: &str) {
    let (ok, err) = create(s, q);
    assert!(!ok, "accepted {q}");
    assert!(err.contains(field), "refusal does not name {field}: {err}");
}

pub fn run(s: &Suite) {
    let case = |name: &str, f: &dyn Fn()| s.case(&format!("{FILE}: {name}"), |_| f());
    for (name, state) in [
        (
            "Should allow queue creation with valid state (Open)",
            Some("Open"),
        ),
        (
            "Should allow queue creation with valid state (Closed)",
            Some("Closed"),
        ),
        ("Should allow queue creation without state set", None),
    ] {
        case(name, &|| {
            let mut q = queue(
                &format!("vq-state-{}", state.unwrap_or("none").to_lowercase()),
                json!({"weight": 1}),
            );
            if let Some(state) = state {
                q["status"] = json!({"state": state});
            }
            accepted(s, &q);
        });
    }
    case("Should reject queue creation with negative weight", &|| {
        refused(
            s,
            &queue("vq-weight-negative", json!({"weight": -1})),
            "spec.weight",
        );
    });
    case(
        "Should allow queue creation without weight specified (uses default)",
        &|| {
            let (ok, err) = create(s, &queue("vq-weight-default", json!({})));
            assert!(ok, "{err}");
            let spec = s.c.get_json(&["queue", "vq-weight-default"])["spec"].clone();
            assert_eq!(spec["weight"], 1, "{spec}");
            s.c.kubectl(&["delete", "queue", "vq-weight-default"]);
        },
    );
    let cpu_mem = |cpu: &str, mem: &str| json!({"cpu": cpu, "memory": mem});
    case(
        "Should allow queue creation with only deserved resource",
        &|| {
            accepted(
                s,
                &queue(
                    "vq-deserved-only",
                    json!({"weight": 1, "deserved": cpu_mem("1", "1Gi")}),
                ),
            );
        },
    );
    case(
        "Should allow queue creation with only guarantee resource",
        &|| {
            let spec = json!({"weight": 1, "guarantee": {"resource": cpu_mem("1", "1Gi")}});
            accepted(s, &queue("vq-guarantee-only", spec));
        },
    );
    case(
        "Should reject queue creation with capability less than deserved",
        &|| {
            let spec = json!({"weight": 1, "capability": cpu_mem("1", "1Gi"), "deserved": cpu_mem("2", "1Gi")});
            refused(
                s,
                &queue("vq-capability-below-deserved", spec),
                "spec.deserved",
            );
        },
    );
    case(
        "Should reject queue creation with capability less than guarantee",
        &|| {
            let spec = json!({"weight": 1, "capability": cpu_mem("1", "1Gi"),
            "guarantee": {"resource": cpu_mem("2", "3Gi")}});
            refused(
                s,
                &queue("vq-capability-below-guarantee", spec),
                "spec.guarantee.resource",
            );
        },
    );
    case(
        "Should reject queue creation with deserved less than guarantee",
        &|| {
            let spec = json!({"weight": 1, "deserved": cpu_mem("2", "1Gi"),
            "guarantee": {"resource": cpu_mem("2", "3Gi")}});
            refused(
                s,
                &queue("vq-deserved-below-guarantee", spec),
                "spec.guarantee.resource",
            );
        },
    );
    case(
        "Should allow queue creation with deserved resource type not in capability",
        &|| {
            let spec =
                json!({"weight": 1, "capability": {"cpu": "10"}, "deserved": cpu_mem("5", "10Gi")});
            accepted(s, &queue("vq-deserved-type-not-in-capability", spec));
        },
    );
    case(
        "Should allow queue creation with guarantee resource type not in capability",
        &|| {
            let spec = json!({"weight": 1, "capability": {"cpu": "10"}, "deserved": cpu_mem("5", "8Gi"),
            "guarantee": {"resource": cpu_mem("5", "8Gi")}});
            accepted(s, &queue("vq-guarantee-type-not-in-capability", spec));
        },
    );
    case(
        "Should allow queue creation with guarantee resource type not in deserved",
        &|| {
            let spec = json!({"weight": 1, "deserved": {"cpu": "10"},
            "guarantee": {"resource": cpu_mem("5", "8Gi")}});
            accepted(s, &queue("vq-guarantee-type-not-in-deserved", spec));
        },
    );
    for (name, queue_name, hierarchy, weights) in [
        (
            "Should reject queue creation with only hierarchy annotation but no weights",
            "vq-hierarchy-only",
            "a",
            None,
        ),
        (
            "Should reject queue creation with mismatched hierarchy annotation lengths",
            "vq-hierarchy-lengths",
            "a/b",
            Some("1/2/3"),
        ),
        (
            "Should reject queue creation with mismatched hierarchy and weights",
            "vq-hierarchy-mismatch",
            "root/a/b",
            Some("1/2/3/4"),
        ),
        (
            "Should reject queue creation with negative hierarchical weight",
            "vq-hierarchy-negative",
            "root/a/b",
            Some("1/-1/3"),
        ),
        (
            "Should reject queue creation with invalid hierarchical weight format",
            "vq-hierarchy-format",
            "root/a/b",
            Some("1/a/3"),
        ),
    ] {
        case(name, &|| {
            refused(
                s,
                &with_hierarchy(queue_name, hierarchy, weights),
                "volcano.sh/hierarchy",
            );
        });
    }
    case(
        "Should allow queue state update from Open to Closed",
        &|| {
            let mut q = queue("vq-update-state", json!({"weight": 1}));
            q["status"] = json!({"state": "Open"});
            let (ok, err) = create(s, &q);
            assert!(ok, "{err}");
            // Upstream updates the whole object with status.state Closed; the status is a
            // subresource, so the update is a status patch here.
            let out = s.c.kubectl_output(
                &[
                    "patch",
                    "queue",
                    "vq-update-state",
                    "--subresource=status",
                    "--type=merge",
                    "-p",
                    r#"{"status":{"state":"Closed"}}"#,
                ],
                None,
            );
            assert!(
                out.status.success(),
                "{}",
                String::from_utf8_lossy(&out.stderr)
            );
            s.c.kubectl(&["delete", "queue", "vq-update-state"]);
        },
    );
    case("Should reject queue update with negative weight", &|| {
        let (ok, err) = create(s, &queue("vq-update-weight", json!({"weight": 1})));
        assert!(ok, "{err}");
        let out = s.c.kubectl_output(
            &[
                "patch",
                "queue",
                "vq-update-weight",
                "--type=merge",
                "-p",
                r#"{"spec":{"weight":-1}}"#,
            ],
            None,
        );
        let err = String::from_utf8_lossy(&out.stderr).into_owned();
        assert!(!out.status.success(), "weight -1 accepted on update");
        assert!(err.contains("spec.weight"), "{err}");
        s.c.kubectl(&["delete", "queue", "vq-update-weight"]);
    });
    case("Should allow deletion of regular queues", &|| {
        accepted(s, &queue("vq-deletable", json!({"weight": 1})));
    });
    case(
        "Should allow hierarchical queue creation with valid parent",
        &|| {
            let (ok, err) = create(
                s,
                &queue("vq-parent", json!({"weight": 1, "parent": "root"})),
            );
            assert!(ok, "{err}");
            accepted(
                s,
                &queue("vq-child", json!({"weight": 1, "parent": "vq-parent"})),
            );
            s.c.kubectl(&["delete", "queue", "vq-parent"]);
        },
    );
}
