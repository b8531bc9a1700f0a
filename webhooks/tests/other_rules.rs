//! PodGroup, JobFlow and JobTemplate rules, malformed bodies, and the examples/ manifests.

#![allow(clippy::unwrap_used)]

mod common;

use common::*;
use serde_json::{Value, json};

#[tokio::test]
async fn podgroup_queue_must_exist_and_be_open() {
    let pg = |queue: &str| {
        json!({"apiVersion": "scheduling.volcano.sh/v1beta1", "kind": "PodGroup",
               "metadata": {"name": "pg"}, "spec": {"minMember": 2, "queue": queue}})
    };
    let p = "/podgroups/validate";
    allowed(p, review("PodGroup", "CREATE", pg("team-a"), Value::Null)).await;
    denied(
        p,
        review("PodGroup", "CREATE", pg("ghost"), Value::Null),
        &["podgroup \"pg\": spec.queue names queue \"ghost\", which does not exist"],
    )
    .await;
    denied(
        p,
        review("PodGroup", "CREATE", pg("closed"), Value::Null),
        &["which is Closed"],
    )
    .await;
    let mut bad = pg("team-a");
    bad["spec"]["minMember"] = json!(-1);
    bad["spec"]["networkTopology"] = json!({"highestTierAllowed": 1, "highestTierName": "x"});
    bad["spec"]["subGroupPolicy"] = json!([{"name": "a", "networkTopology": {"highestTierAllowed": 1, "highestTierName": "x"}}]);
    denied(
        p,
        review("PodGroup", "CREATE", bad, Value::Null),
        &[
            "spec.minMember is negative",
            "spec.networkTopology sets both",
            "spec.subGroupPolicy[0].networkTopology sets both",
        ],
    )
    .await;
    // Status updates by the scheduler go through a normal UPDATE: never refused.
    allowed(p, review("PodGroup", "UPDATE", pg("closed"), pg("closed"))).await;
}

/// Volcano's PodGroup mutating webhook (`admission/podgroup_mutate_test.go`): a PodGroup of the
/// `default` queue in a namespace annotated `scheduling.volcano.sh/queue-name: Q` moves to Q; a
/// custom queue is kept; an annotated queue that does not exist is refused by the validating
/// route, naming the annotation it came from.
#[tokio::test]
async fn podgroup_of_the_default_queue_takes_the_namespace_queue() {
    let state = cluster();
    state.put_namespace(
        "default",
        [(
            "scheduling.volcano.sh/queue-name".to_owned(),
            "team-a".to_owned(),
        )]
        .into(),
    );
    let pg = |queue: Option<&str>| {
        let mut pg = json!({"apiVersion": "scheduling.volcano.sh/v1beta1", "kind": "PodGroup",
               "metadata": {"name": "pg", "namespace": "default"}, "spec": {"minMember": 1}});
        if let Some(q) = queue {
            pg["spec"]["queue"] = json!(q);
        }
        pg
    };
    let mutate = |object: Value| {
        let state = state.clone();
        async move {
            let resp = respond(
                state,
                "/podgroups/mutate",
                review("PodGroup", "CREATE", object, Value::Null),
            )
            .await;
            assert_eq!(resp["allowed"], true, "{resp}");
            resp
        }
    };
    let moved = json!([{"op": "add", "path": "/spec/queue", "value": "team-a"}]);
    assert_eq!(patch_of(&mutate(pg(Some("default"))).await), moved);
    assert_eq!(patch_of(&mutate(pg(None)).await), moved);
    assert!(mutate(pg(Some("closed"))).await.get("patch").is_none());

    // A namespace without the annotation, or one the view does not know: unchanged.
    let other = |ns: &str| {
        let mut r = review("PodGroup", "CREATE", pg(Some("default")), Value::Null);
        r["request"]["namespace"] = json!(ns);
        r["request"]["object"]["metadata"]["namespace"] = json!(ns);
        r
    };
    state.put_namespace("plain", Default::default());
    for ns in ["plain", "unknown"] {
        let resp = respond(state.clone(), "/podgroups/mutate", other(ns)).await;
        assert_eq!(resp["allowed"], true, "{resp}");
        assert!(resp.get("patch").is_none(), "{ns}: {resp}");
    }

    // The annotation names a queue that does not exist: the validating route refuses the
    // mutated PodGroup and says where the name came from.
    state.put_namespace(
        "default",
        [(
            "scheduling.volcano.sh/queue-name".to_owned(),
            "ghost".to_owned(),
        )]
        .into(),
    );
    denied_in(
        state.clone(),
        "/podgroups/validate",
        review("PodGroup", "CREATE", pg(Some("ghost")), Value::Null),
        &["podgroup \"pg\": spec.queue (set from the scheduling.volcano.sh/queue-name annotation of namespace \"default\") names queue \"ghost\", which does not exist; create it"],
    )
    .await;
}

fn flow(flows: Value) -> Value {
    review(
        "JobFlow",
        "CREATE",
        json!({"apiVersion": "flow.volcano.sh/v1alpha1", "kind": "JobFlow", "metadata": {"name": "pipe"}, "spec": {"flows": flows}}),
        Value::Null,
    )
}

#[tokio::test]
async fn jobflow_targets_names_and_cycles() {
    let p = "/jobflows/validate";
    allowed(
        p,
        flow(json!([{"name": "a"}, {"name": "b", "dependsOn": {"targets": ["a"]}}])),
    )
    .await;
    denied(
        p,
        flow(json!([{"name": "a"}, {"name": "b", "dependsOn": {"targets": ["zz"]}}])),
        &["jobflow \"pipe\": spec.flows[1].dependsOn.targets names \"zz\""],
    )
    .await;
    denied(
        p,
        flow(json!([{"name": "a"}, {"name": "a"}])),
        &["spec.flows[1].name \"a\" is already used by spec.flows[0]"],
    )
    .await;
    denied(p, flow(json!([{"name": "a", "dependsOn": {"targets": ["b"]}}, {"name": "b", "dependsOn": {"targets": ["a"]}}])), &["form a cycle: a -> b -> a"]).await;
    denied(
        p,
        flow(json!([{"name": "a", "dependsOn": {"targets": ["a"]}}])),
        &["form a cycle: a -> a"],
    )
    .await;
    denied(p, flow(json!([])), &["spec.flows is empty"]).await;
}

#[tokio::test]
async fn jobtemplate_is_checked_as_a_job_spec() {
    let p = "/jobtemplates/validate";
    let jt = |spec: Value| {
        review(
            "JobTemplate",
            "CREATE",
            json!({"apiVersion": "flow.volcano.sh/v1alpha1", "kind": "JobTemplate", "metadata": {"name": "t"}, "spec": spec}),
            Value::Null,
        )
    };
    let spec = job("t", "default", 1, 0)["spec"].clone();
    allowed(p, jt(spec.clone())).await;
    let mut no_image = spec.clone();
    no_image["tasks"][0]["template"]["spec"]["containers"][0]["image"] = Value::Null;
    denied(
        p,
        jt(no_image),
        &["jobtemplate \"t\": spec.tasks[0].template.spec.containers[0].image is missing"],
    )
    .await;
    // A queue that does not exist yet is only a warning for a template.
    let mut later = spec;
    later["queue"] = json!("later");
    let resp = allowed(p, jt(later)).await;
    assert!(
        resp["warnings"][0]
            .as_str()
            .unwrap()
            .contains("queue \"later\", which does not exist"),
        "{resp}"
    );
}

#[tokio::test]
async fn malformed_bodies_get_400_with_a_reason() {
    for (body, reason) in [
        (b"{not json".to_vec(), "not an admission.k8s.io/v1 AdmissionReview"),
        (br#"{"apiVersion":"v1","kind":"Pod"}"#.to_vec(), "send apiVersion admission.k8s.io/v1"),
        (br#"{"apiVersion":"admission.k8s.io/v1","kind":"AdmissionReview"}"#.to_vec(), "no request"),
        (br#"{"apiVersion":"admission.k8s.io/v1","kind":"AdmissionReview","request":{"uid":"u","operation":"EXPLODE"}}"#.to_vec(), "unknown variant"),
        (Vec::new(), "AdmissionReview"),
    ] {
        let (status, body) = post_raw(cluster(), "/jobs/validate", body).await;
        assert_eq!(status, axum::http::StatusCode::BAD_REQUEST);
        let text = String::from_utf8_lossy(&body);
        assert!(text.contains(reason), "{text:?} lacks {reason:?}");
    }
}

#[tokio::test]
async fn wrong_kind_or_bad_shape_is_denied_not_crashed() {
    denied(
        "/jobs/validate",
        review("Queue", "CREATE", queue_obj("q", json!({})), Value::Null),
        &["/jobs/validate admits Job objects but received a Queue"],
    )
    .await;
    let mut obj = job("j", "default", 1, 0);
    obj["spec"]["tasks"][0]["replicas"] = json!("three");
    denied(
        "/jobs/validate",
        review("Job", "CREATE", obj, Value::Null),
        &["spec.tasks[0].replicas is invalid"],
    )
    .await;
    denied(
        "/jobs/validate",
        review("Job", "CREATE", Value::Null, Value::Null),
        &["object is missing"],
    )
    .await;
}

/// Every manifest in examples/ of a kind we admit passes mutation and validation, queues first;
/// the ones named `*-refused-*` are there to show a refusal and must be denied, naming the field.
#[tokio::test]
async fn examples_are_admitted() {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../examples");
    let mut docs = Vec::new();
    for entry in std::fs::read_dir(&dir).expect("examples dir") {
        let path = entry.expect("entry").path();
        if path.extension().is_some_and(|e| e == "yaml") {
            let text = std::fs::read_to_string(&path).expect("read");
            for doc in serde_saphyr::from_multiple::<Value>(&text).expect("yaml") {
                if doc.is_object() {
                    docs.push((path.file_name().unwrap().to_string_lossy().to_string(), doc));
                }
            }
        }
    }
    let state = cluster();
    let kinds = ["Queue", "Job", "PodGroup", "JobFlow", "JobTemplate"];
    docs.sort_by_key(|(_, d)| kinds.iter().position(|k| d["kind"] == *k).unwrap_or(99));
    let (mut checked, mut refused) = (0, 0);
    for (file, doc) in docs {
        let kind = doc["kind"].as_str().unwrap_or("").to_owned();
        let path = match kind.as_str() {
            "Queue" => "/queues/validate",
            "Job" => "/jobs/validate",
            "PodGroup" => "/podgroups/validate",
            "JobFlow" => "/jobflows/validate",
            "JobTemplate" => "/jobtemplates/validate",
            _ => continue,
        };
        let resp = respond(
            state.clone(),
            path,
            review(&kind, "CREATE", doc.clone(), Value::Null),
        )
        .await;
        if file.contains("-refused-") {
            assert_eq!(resp["allowed"], false, "{file} must be refused: {resp}");
            let message = resp["status"]["message"].as_str().unwrap_or_default();
            assert!(
                message.contains("spec.tasks[0].template.spec.containers[0].image"),
                "{file}: the refusal names the field: {resp}"
            );
            refused += 1;
            continue;
        }
        assert_eq!(
            resp["allowed"], true,
            "{file} {kind} {}: {resp}",
            doc["metadata"]["name"]
        );
        if kind == "Queue" {
            state.put_queue(serde_json::from_value(doc).expect("queue"));
        }
        checked += 1;
    }
    assert!(checked >= 5, "only {checked} example objects checked");
    assert_eq!(
        refused, 1,
        "examples/02-vgpu-inference-job-refused-no-image.yaml"
    );
}
