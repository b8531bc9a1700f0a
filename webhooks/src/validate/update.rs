//! Job UPDATE rules: after creation only the gang and scale may change (`minAvailable`,
//! `priorityClassName`, each task's `replicas` and `minAvailable`, and claim names the controller
//! fills in); tasks cannot be added or removed. Reports the first changed field paths.

use std::collections::BTreeSet;

use crds::JobSpec;
use serde_json::Value;

use crate::report::Report;

/// Job UPDATE: only `minAvailable`, `priorityClassName`, `tasks[*].replicas`,
/// `tasks[*].minAvailable` (and claim names the controller fills in) may change, and tasks may
/// not be added or removed.
pub fn check_update(old: &JobSpec, new: &JobSpec, r: &mut Report) {
    if old.tasks.len() != new.tasks.len() {
        r.refuse(
            "spec.tasks",
            format!("has {} tasks but had {}", new.tasks.len(), old.tasks.len()),
            "tasks cannot be added or removed; create a new job instead",
        );
        return;
    }
    let (old_v, new_v) = (
        mutable_fields_cleared(old, Some(new)),
        mutable_fields_cleared(new, None),
    );
    let mut changed = Vec::new();
    diff_paths(&old_v, &new_v, "spec".to_owned(), &mut changed);
    for path in changed.into_iter().take(5) {
        r.refuse(
            &path,
            "cannot change after the job is created",
            "only minAvailable, priorityClassName and each task's replicas and minAvailable may change; delete and re-create the job to change anything else",
        );
    }
}

fn mutable_fields_cleared(spec: &JobSpec, newer: Option<&JobSpec>) -> Value {
    let mut s = spec.clone();
    s.min_available = None;
    s.priority_class_name = None;
    for t in &mut s.tasks {
        t.replicas = None;
        t.min_available = None;
    }
    // The controller writes generated claim names into volumes that had none.
    if let Some(newer) = newer {
        for (v, nv) in s
            .volumes
            .iter_mut()
            .flatten()
            .zip(newer.volumes.iter().flatten())
        {
            if v.volume_claim_name.as_deref().is_none_or(str::is_empty) {
                v.volume_claim_name = nv.volume_claim_name.clone();
            }
        }
    }
    serde_json::to_value(&s).unwrap_or(Value::Null)
}

fn diff_paths(a: &Value, b: &Value, path: String, out: &mut Vec<String>) {
    if a == b || out.len() >= 5 {
        return;
    }
    match (a, b) {
        (Value::Object(x), Value::Object(y)) => {
            let keys: BTreeSet<&String> = x.keys().chain(y.keys()).collect();
            for k in keys {
                let (va, vb) = (
                    x.get(k).unwrap_or(&Value::Null),
                    y.get(k).unwrap_or(&Value::Null),
                );
                diff_paths(va, vb, format!("{path}.{k}"), out);
            }
        }
        (Value::Array(x), Value::Array(y)) if x.len() == y.len() => {
            for (i, (va, vb)) in x.iter().zip(y).enumerate() {
                diff_paths(va, vb, format!("{path}[{i}]"), out);
            }
        }
        _ => out.push(path),
    }
}
