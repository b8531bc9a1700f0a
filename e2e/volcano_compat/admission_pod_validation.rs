//! Upstream `test/e2e/admission/pod_validation_test.go` ("Pod Validating E2E Test"): Volcano's
//! pod validating webhook checks the job-disruption-budget annotations
//! (`scheduling.volcano.sh/jdb-min-available`, `…/jdb-max-unavailable`) of pods for its
//! scheduler. Basalt implements no disruption budget and runs no pod validating webhook (every
//! pod creation would pay a webhook call, docs/volcano-compat.md "Deviations"), so the cases
//! that expect a refusal are listed deviations; the cases that expect admission pass.

use serde_json::{Value, json};

use super::{Ns, Suite};

const FILE: &str = "admission/pod_validation_test.go";
const MIN_AVAILABLE: &str = "scheduling.volcano.sh/jdb-min-available";
const MAX_UNAVAILABLE: &str = "scheduling.volcano.sh/jdb-max-unavailable";

fn pod(name: &str, scheduler: &str, annotations: Value) -> Value {
    json!({
        "apiVersion": "v1", "kind": "Pod",
        "metadata": {"name": name, "annotations": annotations},
        "spec": {
            "schedulerName": scheduler,
            "containers": [{
                "name": "nginx", "image": "nginx",
                "resources": {"requests": {"cpu": "1"}, "limits": {"cpu": "1"}},
            }],
        },
    })
}

/// Admitted, and then Pending or Running (upstream's `WaitPodPhase`).
fn admitted(ns: &Ns<'_>, p: &Value) {
    ns.create(p);
    let name = p["metadata"]["name"].as_str().expect("named");
    ns.c.wait_for(&format!("pod {name} Pending or Running"), super::T, || {
        let phase = ns.get_json(&["pod", name])["status"]["phase"].clone();
        (phase == "Pending" || phase == "Running").then_some(())
    });
}

fn case(s: &Suite, name: &str, f: impl FnOnce(&Ns<'_>)) {
    s.case(&format!("{FILE}: {name}"), f);
}

pub fn run(s: &Suite) {
    case(
        s,
        "Should allow pod creation with valid annotations",
        |ns| {
            admitted(
                ns,
                &pod("valid-pod", "volcano", json!({MIN_AVAILABLE: "2"})),
            );
        },
    );
    case(
        s,
        "Should allow pod creation with valid percentage annotation",
        |ns| {
            let p = pod(
                "valid-percentage-pod",
                "volcano",
                json!({MAX_UNAVAILABLE: "50%"}),
            );
            admitted(ns, &p);
        },
    );
    for (name, pod_name, annotations) in [
        (
            "Should reject pod creation with invalid negative annotation value",
            "invalid-negative-pod",
            json!({MIN_AVAILABLE: "-1"}),
        ),
        (
            "Should reject pod creation with invalid zero annotation value",
            "invalid-zero-pod",
            json!({MIN_AVAILABLE: "0"}),
        ),
        (
            "Should reject pod creation with invalid percentage annotation (0%)",
            "invalid-zero-percent-pod",
            json!({MAX_UNAVAILABLE: "0%"}),
        ),
        (
            "Should reject pod creation with invalid percentage annotation (100%)",
            "invalid-hundred-percent-pod",
            json!({MAX_UNAVAILABLE: "100%"}),
        ),
        (
            "Should reject pod creation with invalid string annotation",
            "invalid-string-pod",
            json!({MIN_AVAILABLE: "invalid"}),
        ),
        (
            "Should reject pod creation with multiple conflicting annotations",
            "conflicting-annotations-pod",
            json!({MIN_AVAILABLE: "2", MAX_UNAVAILABLE: "50%"}),
        ),
    ] {
        case(s, name, |ns| {
            ns.refused(&pod(pod_name, "volcano", annotations));
        });
    }
    case(
        s,
        "Should allow pod creation without annotations when using volcano scheduler",
        |ns| admitted(ns, &pod("no-annotations-pod", "volcano", json!({}))),
    );
    case(
        s,
        "Should allow pod creation with non-volcano scheduler (bypass validation)",
        |ns| {
            let p = pod(
                "non-volcano-scheduler-pod",
                "default-scheduler",
                json!({MIN_AVAILABLE: "-1"}),
            );
            admitted(ns, &p);
        },
    );
}
