//! Kind-specific behaviour of built-in objects: creation defaults (Pods, Namespaces, Services,
//! Secrets, CRDs), the two views of Events, pods/binding, pods/eviction with
//! PodDisruptionBudgets, and pods/log. Generic storage semantics live in `cluster`.

use base64::Engine as _;
use serde_json::{Value, json};

use crate::error::{ApiError, ApiResult};
use crate::registry::{ResourceInfo, View};
use crate::selectors::LabelSelector;
use crate::util::{ensure_obj, get_path, get_str, now_rfc3339};

/// Defaults the API server fills in on create.
pub fn defaults_on_create(info: &ResourceInfo, obj: &mut Value) {
    if !info.builtin {
        return;
    }
    match (info.group.as_str(), info.plural.as_str()) {
        ("", "pods") => {
            // Computed before defaulting, like kube-apiserver's (which runs on the defaulted
            // object; `qos_class` applies the one default that matters, requests from limits).
            let qos = crate::qos_class(obj);
            let spec = ensure_obj(obj, &["spec"]);
            spec.entry("schedulerName")
                .or_insert_with(|| json!("default-scheduler"));
            spec.entry("restartPolicy")
                .or_insert_with(|| json!("Always"));
            spec.entry("terminationGracePeriodSeconds")
                .or_insert_with(|| json!(30));
            spec.entry("dnsPolicy")
                .or_insert_with(|| json!("ClusterFirst"));
            spec.entry("serviceAccountName")
                .or_insert_with(|| json!("default"));
            spec.entry("enableServiceLinks")
                .or_insert_with(|| json!(true));
            spec.entry("priority").or_insert_with(|| json!(0));
            let status = ensure_obj(obj, &["status"]);
            status.entry("phase").or_insert_with(|| json!("Pending"));
            // kube-apiserver sets it from the spec whatever the client sent.
            status.insert("qosClass".into(), json!(qos));
        }
        ("", "namespaces") => {
            ensure_obj(obj, &["spec"]).insert("finalizers".into(), json!(["kubernetes"]));
            ensure_obj(obj, &["status"]).insert("phase".into(), json!("Active"));
            let name = crate::util::name_of(obj).to_string();
            ensure_obj(obj, &["metadata", "labels"])
                .insert("kubernetes.io/metadata.name".into(), json!(name));
        }
        ("", "services") => {
            let spec = ensure_obj(obj, &["spec"]);
            spec.entry("type").or_insert_with(|| json!("ClusterIP"));
            spec.entry("sessionAffinity")
                .or_insert_with(|| json!("None"));
            if !spec.contains_key("clusterIP") {
                let b = crate::util::random_bytes::<2>();
                spec.insert(
                    "clusterIP".into(),
                    json!(format!("10.96.{}.{}", b[0], b[1].max(1))),
                );
            }
        }
        ("", "secrets") => {
            let m = ensure_obj(obj, &[]);
            if m.get("type")
                .and_then(Value::as_str)
                .is_none_or(str::is_empty)
            {
                m.insert("type".into(), json!("Opaque"));
            }
            string_data_to_data(obj);
        }
        ("apiextensions.k8s.io", "customresourcedefinitions") => crd_status(obj),
        _ => {}
    }
}

/// kube-apiserver's rule for a pod status write: `status.qosClass` is immutable. An empty or
/// missing value keeps the old one (as kube-apiserver does); another value is refused.
pub fn check_pod_status_update(old: &Value, new: &mut Value) -> ApiResult<()> {
    let Some(before) = old.pointer("/status/qosClass").and_then(Value::as_str) else {
        return Ok(());
    };
    match new.pointer("/status/qosClass").and_then(Value::as_str) {
        Some(after) if after == before => Ok(()),
        None | Some("") => {
            ensure_obj(new, &["status"]).insert("qosClass".into(), json!(before));
            Ok(())
        }
        Some(after) => Err(ApiError::invalid(
            "Pod",
            crate::util::name_of(old),
            vec![(
                "status.qosClass".into(),
                format!("Invalid value: \"{after}\": field is immutable"),
            )],
        )),
    }
}

pub fn string_data_to_data(obj: &mut Value) {
    let Some(Value::Object(sd)) = obj.as_object_mut().and_then(|m| m.remove("stringData")) else {
        return;
    };
    let data = ensure_obj(obj, &["data"]);
    for (k, v) in sd {
        if let Some(s) = v.as_str() {
            data.insert(
                k,
                json!(base64::engine::general_purpose::STANDARD.encode(s)),
            );
        }
    }
}

/// Marks a CRD accepted and established (registration itself happens in `cluster`).
pub fn crd_status(obj: &mut Value) {
    let now = now_rfc3339();
    let names = obj.pointer("/spec/names").cloned().unwrap_or(Value::Null);
    let stored: Vec<Value> = obj
        .pointer("/spec/versions")
        .and_then(Value::as_array)
        .map(|vs| {
            vs.iter()
                .filter(|v| v.get("storage") == Some(&json!(true)))
                .filter_map(|v| v.get("name").cloned())
                .collect()
        })
        .unwrap_or_default();
    let cond = |t: &str, reason: &str, msg: &str| json!({"type": t, "status": "True", "lastTransitionTime": now, "reason": reason, "message": msg});
    let status = ensure_obj(obj, &["status"]);
    status.insert("acceptedNames".into(), names);
    status.insert("storedVersions".into(), Value::Array(stored));
    status.insert(
        "conditions".into(),
        json!([
            cond("NamesAccepted", "NoConflicts", "no conflicts found"),
            cond(
                "Established",
                "InitialNamesAccepted",
                "the initial names have been accepted"
            )
        ]),
    );
}

/// core/v1 Event (stored form) → events.k8s.io/v1 Event.
pub fn event_to_v1(core: &Value) -> Value {
    let mut out = serde_json::Map::new();
    out.insert("apiVersion".into(), json!("events.k8s.io/v1"));
    out.insert("kind".into(), json!("Event"));
    let map = [
        ("metadata", "metadata"),
        ("involvedObject", "regarding"),
        ("related", "related"),
        ("message", "note"),
        ("reason", "reason"),
        ("type", "type"),
        ("action", "action"),
        ("reportingComponent", "reportingController"),
        ("reportingInstance", "reportingInstance"),
        ("source", "deprecatedSource"),
        ("firstTimestamp", "deprecatedFirstTimestamp"),
        ("lastTimestamp", "deprecatedLastTimestamp"),
        ("count", "deprecatedCount"),
        ("eventTime", "eventTime"),
    ];
    for (from, to) in map {
        if let Some(v) = core.get(from).filter(|v| !v.is_null()) {
            out.insert(to.into(), v.clone());
        }
    }
    if let Some(s) = core.get("series").filter(|v| !v.is_null()) {
        out.insert(
            "series".into(),
            json!({"count": s.get("count"), "lastObservedTime": s.get("lastObservedTime")}),
        );
    }
    Value::Object(out)
}

/// events.k8s.io/v1 Event → core/v1 Event (stored form).
pub fn event_from_v1(v1: &Value) -> Value {
    let mut out = serde_json::Map::new();
    out.insert("apiVersion".into(), json!("v1"));
    out.insert("kind".into(), json!("Event"));
    let map = [
        ("metadata", "metadata"),
        ("regarding", "involvedObject"),
        ("related", "related"),
        ("note", "message"),
        ("reason", "reason"),
        ("type", "type"),
        ("action", "action"),
        ("reportingController", "reportingComponent"),
        ("reportingInstance", "reportingInstance"),
        ("deprecatedSource", "source"),
        ("deprecatedFirstTimestamp", "firstTimestamp"),
        ("deprecatedLastTimestamp", "lastTimestamp"),
        ("deprecatedCount", "count"),
        ("eventTime", "eventTime"),
    ];
    for (from, to) in map {
        if let Some(v) = v1.get(from).filter(|v| !v.is_null()) {
            out.insert(to.into(), v.clone());
        }
    }
    if let Some(s) = v1.get("series").filter(|v| !v.is_null()) {
        out.insert(
            "series".into(),
            json!({"count": s.get("count"), "lastObservedTime": s.get("lastObservedTime")}),
        );
    }
    if !out.contains_key("involvedObject") {
        out.insert("involvedObject".into(), json!({}));
    }
    Value::Object(out)
}

/// The object as the client of `info` sees it (view conversion, apiVersion and kind).
pub fn present(info: &ResourceInfo, obj: &Value) -> Value {
    let mut v = match info.view {
        View::EventsV1 => event_to_v1(obj),
        View::Plain => obj.clone(),
    };
    if let Value::Object(m) = &mut v {
        m.insert("apiVersion".into(), json!(info.group_version()));
        m.insert("kind".into(), json!(info.kind));
    }
    v
}

/// Whether `present` would change nothing (so the stored bytes can be served as they are).
pub fn presents_as_stored(info: &ResourceInfo, obj: &Value) -> bool {
    info.view == View::Plain
        && obj.get("apiVersion").and_then(Value::as_str) == Some(info.group_version().as_str())
        && obj.get("kind").and_then(Value::as_str) == Some(info.kind.as_str())
}

/// A request body in the client's view → stored form.
pub fn from_view(info: &ResourceInfo, obj: Value) -> Value {
    match info.view {
        View::EventsV1 => event_from_v1(&obj),
        View::Plain => obj,
    }
}

/// Applies a Binding to a pod; 409 if it is already bound.
pub fn bind(pod: &Value, binding: &Value) -> ApiResult<Value> {
    let name = crate::util::name_of(pod);
    let node = get_str(binding, &["target", "name"]).filter(|n| !n.is_empty());
    let Some(node) = node else {
        return Err(ApiError::invalid(
            "Binding",
            name,
            vec![("target.name".into(), "Required value".into())],
        ));
    };
    if let Some(cur) = get_str(pod, &["spec", "nodeName"]).filter(|n| !n.is_empty()) {
        return Err(ApiError::conflict(
            "pods/binding",
            name,
            &format!("pod {name} is already assigned to node \"{cur}\""),
        ));
    }
    if let Some(uid) = get_str(binding, &["metadata", "uid"]).filter(|u| !u.is_empty())
        && Some(uid) != get_str(pod, &["metadata", "uid"])
    {
        return Err(ApiError::conflict(
            "pods",
            name,
            "Precondition failed: UID in precondition does not match",
        ));
    }
    let mut p = pod.clone();
    ensure_obj(&mut p, &["spec"]).insert("nodeName".into(), json!(node));
    let status = ensure_obj(&mut p, &["status"]);
    let conds = status.entry("conditions").or_insert_with(|| json!([]));
    if let Value::Array(a) = conds {
        a.retain(|c| c.get("type").and_then(Value::as_str) != Some("PodScheduled"));
        a.push(json!({"type": "PodScheduled", "status": "True", "lastProbeTime": null, "lastTransitionTime": now_rfc3339()}));
    }
    Ok(p)
}

fn pod_ready(p: &Value) -> bool {
    get_str(p, &["status", "phase"]) == Some("Running")
        && get_path(p, &["status", "conditions"])
            .and_then(Value::as_array)
            .is_some_and(|cs| {
                cs.iter().any(|c| {
                    c.get("type") == Some(&json!("Ready"))
                        && c.get("status") == Some(&json!("True"))
                })
            })
}

/// Whether evicting `pod` would violate one of `pdbs` given the pods of its namespace.
/// Pending, finished and terminating pods are always evictable (as in Kubernetes).
pub fn eviction_blocked(
    pod: &Value,
    pdbs: &[std::sync::Arc<Value>],
    pods: &[std::sync::Arc<Value>],
) -> Option<String> {
    let phase = get_str(pod, &["status", "phase"]).unwrap_or("Pending");
    if matches!(phase, "Pending" | "Succeeded" | "Failed") || crate::util::is_terminating(pod) {
        return None;
    }
    let labels = get_path(pod, &["metadata", "labels"]).and_then(Value::as_object);
    for pdb in pdbs {
        let Some(sel) = get_path(pdb, &["spec", "selector"]).and_then(LabelSelector::from_object)
        else {
            continue;
        };
        if sel.is_empty() || !sel.matches(labels) {
            continue;
        }
        let matching: Vec<&Value> = pods
            .iter()
            .map(|p| p.as_ref())
            .filter(|p| {
                sel.matches(get_path(p, &["metadata", "labels"]).and_then(Value::as_object))
            })
            .filter(|p| !crate::util::is_terminating(p))
            .collect();
        let expected = matching.len() as i64;
        let healthy = matching.iter().filter(|p| pod_ready(p)).count() as i64;
        let resolve = |v: &Value| -> i64 {
            match v {
                Value::String(s) if s.ends_with('%') => {
                    let pct: i64 = s.trim_end_matches('%').parse().unwrap_or(0);
                    (expected * pct + 99) / 100
                }
                Value::String(s) => s.parse().unwrap_or(0),
                other => other.as_i64().unwrap_or(0),
            }
        };
        let allowed = if let Some(min) = get_path(pdb, &["spec", "minAvailable"]) {
            healthy - resolve(min)
        } else if let Some(max) = get_path(pdb, &["spec", "maxUnavailable"]) {
            healthy - (expected - resolve(max))
        } else {
            continue;
        };
        if allowed <= 0 {
            return Some(crate::util::name_of(pdb).to_string());
        }
    }
    None
}

/// Text served by pods/log: the simulator may put canned output in an annotation.
pub fn pod_log(pod: &Value, tail_lines: Option<usize>) -> String {
    let text = get_str(pod, &["metadata", "annotations", "sim.basalt.dev/log"]).unwrap_or("");
    match tail_lines {
        Some(n) => {
            let lines: Vec<&str> = text.lines().collect();
            let start = lines.len().saturating_sub(n);
            lines[start..].iter().map(|l| format!("{l}\n")).collect()
        }
        None => text.to_string(),
    }
}
