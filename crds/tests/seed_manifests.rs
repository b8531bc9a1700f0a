//! The manifests users bring (examples/article/, verbatim) and our examples deserialize into our
//! types, survive a round trip without losing a field, and validate against the generated
//! schemas; bad input is reported with the JSON path, the bad value and the allowed values.

mod support;

use std::path::{Path, PathBuf};

use crds::{Job, JobFlow, Queue, crd};
use serde_json::Value;

/// The article's manifests as users bring them, verbatim: `examples/article/` (the reference copy
/// is the project's shared seed-manifests folder; these are the repository's own).
fn seed_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../examples/article")
}

fn schema_for(api_version: &str, kind: &str) -> Option<Value> {
    static CRDS: std::sync::OnceLock<Vec<k8s_openapi::apiextensions_apiserver::pkg::apis::apiextensions::v1::CustomResourceDefinition>> =
        std::sync::OnceLock::new();
    let group = api_version.split('/').next().unwrap_or_default();
    CRDS.get_or_init(crd::all).iter().find(|c| c.spec.group == group && c.spec.names.kind == kind).map(|c| {
        serde_json::to_value(&c.spec.versions[0]).expect("serialize version")["schema"]["openAPIV3Schema"]
            .clone()
    })
}

fn validate_doc(doc: &Value) -> Result<(), Vec<String>> {
    let api_version = doc["apiVersion"].as_str().unwrap_or_default();
    let kind = doc["kind"].as_str().unwrap_or_default();
    let schema = schema_for(api_version, kind).expect("one of our kinds");
    let mut errors = Vec::new();
    let mut body = doc.clone();
    if let Some(o) = body.as_object_mut() {
        o.remove("apiVersion");
        o.remove("kind");
        o.remove("metadata");
    }
    support::validate(&schema, &body, kind, true, &mut errors);
    if errors.is_empty() {
        Ok(())
    } else {
        Err(errors)
    }
}

/// Quantities may be written as YAML numbers; the typed form writes them back as strings.
fn normalise_quantities(v: &mut Value) {
    match v {
        Value::Object(m) => {
            for (k, child) in m.iter_mut() {
                if matches!(
                    k.as_str(),
                    "capability"
                        | "guarantee"
                        | "deserved"
                        | "minResources"
                        | "limits"
                        | "requests"
                        | "resource"
                ) && let Some(q) = child.as_object_mut()
                {
                    for qv in q.values_mut() {
                        if qv.is_number() {
                            *qv = Value::String(qv.to_string());
                        }
                    }
                }
                normalise_quantities(child);
            }
        }
        Value::Array(a) => a.iter_mut().for_each(normalise_quantities),
        _ => {}
    }
}

fn round_trip<T: serde::de::DeserializeOwned + serde::Serialize>(doc: &Value, file: &Path) {
    let typed: T = serde_json::from_value(doc.clone())
        .unwrap_or_else(|e| panic!("{} does not deserialize: {e}", file.display()));
    let back = serde_json::to_value(&typed).expect("serialize");
    let mut want = doc.clone();
    normalise_quantities(&mut want);
    assert_eq!(
        back,
        want,
        "{} lost or changed a field in the round trip",
        file.display()
    );
}

fn ours(doc: &Value) -> bool {
    let api = doc["apiVersion"].as_str().unwrap_or_default();
    api.contains("volcano.sh/")
}

#[test]
fn seed_manifests_of_our_kinds_deserialize_round_trip_and_validate() {
    let dir = seed_dir();
    let mut checked = 0;
    let mut entries: Vec<_> = std::fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|e| e == "yaml"))
        .collect();
    entries.sort();
    for path in entries {
        let text = std::fs::read_to_string(&path).expect("read seed manifest");
        for doc in support::yaml_documents(&text) {
            if !ours(&doc) {
                continue;
            }
            match doc["kind"].as_str() {
                Some("Job") => round_trip::<Job>(&doc, &path),
                Some("Queue") => round_trip::<Queue>(&doc, &path),
                Some("JobFlow") => round_trip::<JobFlow>(&doc, &path),
                other => panic!("unexpected kind {other:?} in {}", path.display()),
            }
            if let Err(errors) = validate_doc(&doc) {
                panic!(
                    "{} does not validate:\n{}",
                    path.display(),
                    errors.join("\n")
                );
            }
            checked += 1;
        }
    }
    // 02 (Job), 03 (Job), 05 (3 Queues), 07 (JobFlow)
    assert_eq!(checked, 6, "every seed manifest of our kinds was checked");
}

#[test]
fn examples_validate_against_the_schemas() {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../examples");
    let mut checked = 0;
    for entry in std::fs::read_dir(&dir).expect("examples/ exists") {
        let path = entry.expect("entry").path();
        if path.extension().is_none_or(|e| e != "yaml") {
            continue;
        }
        let text = std::fs::read_to_string(&path).expect("read example");
        for doc in support::yaml_documents(&text) {
            if !ours(&doc) {
                continue;
            }
            if let Err(errors) = validate_doc(&doc) {
                panic!(
                    "{} does not validate:\n{}",
                    path.display(),
                    errors.join("\n")
                );
            }
            checked += 1;
        }
    }
    assert!(
        checked >= 6,
        "examples cover every kind (checked {checked})"
    );
}

fn job_with(policy: Value) -> Value {
    serde_json::json!({
        "apiVersion": "batch.volcano.sh/v1alpha1",
        "kind": "Job",
        "metadata": {"name": "bad"},
        "spec": {
            "policies": [policy],
            "tasks": [{"name": "w", "replicas": 1, "template": {"spec": {"containers": [{"name": "c", "image": "busybox"}]}}}]
        }
    })
}

#[test]
fn unknown_enum_value_is_reported_with_path_value_and_allowed_values() {
    let errors = validate_doc(&job_with(
        serde_json::json!({"event": "PodFial", "action": "RestartJob"}),
    ))
    .expect_err("PodFial is not an event");
    let e = errors.join("\n");
    assert!(e.contains("Job.spec.policies[0].event"), "{e}");
    assert!(e.contains("\"PodFial\""), "{e}");
    assert!(
        e.contains("PodFailed") && e.contains("TaskCompleted"),
        "{e}"
    );
}

#[test]
fn wrong_type_and_missing_required_and_unknown_fields_are_reported() {
    let mut doc = job_with(serde_json::json!({"event": "PodFailed", "action": "RestartJob"}));
    doc["spec"]["maxRetry"] = Value::String("three".into());
    doc["spec"]["tasks"][0]["template"]["spec"]["containers"] = serde_json::json!([{"image": "x"}]);
    doc["spec"]["bogus"] = Value::Bool(true);
    let errors = validate_doc(&doc).expect_err("three problems");
    let e = errors.join("\n");
    assert!(
        e.contains("Job.spec.maxRetry: must be an integer, got \"three\""),
        "{e}"
    );
    assert!(
        e.contains("Job.spec.tasks[0].template.spec.containers[0].name: Required value"),
        "{e}"
    );
    assert!(e.contains("Job.spec.bogus: unknown field"), "{e}");
}

#[test]
fn jobflow_inline_template_is_accepted_as_an_extension() {
    let text = std::fs::read_to_string(seed_dir().join("07-credit-ml-pipeline-jobflow.yaml"))
        .expect("read");
    let doc = support::yaml_documents(&text).remove(0);
    let flow: JobFlow = serde_json::from_value(doc).expect("deserialize");
    let template = flow.spec.job_template.expect("inline jobTemplate");
    assert_eq!(template.spec.tasks.len(), 1);
    assert_eq!(flow.spec.flows.expect("flows").len(), 6);
}
