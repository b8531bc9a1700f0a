//! Server-side apply: create-if-absent, merge of the applied configuration (maps merged, lists
//! atomic except keyed lists), field ownership per Apply manager in `metadata.managedFields`
//! (FieldsV1), removal of fields a manager stopped applying, and conflicts between managers.
//! Update (non-apply) writes do not take ownership here: a documented simplification.

use std::collections::BTreeSet;

use serde_json::{Map, Value, json};

type Path = Vec<String>;

const SKIP_META: &[&str] = &[
    "name",
    "namespace",
    "uid",
    "resourceVersion",
    "generation",
    "creationTimestamp",
    "managedFields",
    "deletionTimestamp",
];

fn list_key(field: &str, items: &[Value]) -> Option<&'static str> {
    match field {
        "containers"
        | "initContainers"
        | "ephemeralContainers"
        | "volumes"
        | "env"
        | "imagePullSecrets" => Some("name"),
        "volumeMounts" => Some("mountPath"),
        "conditions" => Some("type"),
        "ownerReferences" => Some("uid"),
        "ports" if items.iter().any(|i| i.get("containerPort").is_some()) => Some("containerPort"),
        _ => None,
    }
}

/// Leaf field paths set by an applied configuration.
pub fn field_set(applied: &Value) -> BTreeSet<Path> {
    let mut out = BTreeSet::new();
    if let Value::Object(m) = applied {
        for (k, v) in m {
            match k.as_str() {
                "apiVersion" | "kind" => {}
                "metadata" => {
                    if let Value::Object(md) = v {
                        for (mk, mv) in md {
                            if !SKIP_META.contains(&mk.as_str()) {
                                collect(
                                    &mut out,
                                    vec!["f:metadata".into(), format!("f:{mk}")],
                                    mk,
                                    mv,
                                );
                            }
                        }
                    }
                }
                _ => collect(&mut out, vec![format!("f:{k}")], k, v),
            }
        }
    }
    out
}

fn collect(out: &mut BTreeSet<Path>, path: Path, field: &str, v: &Value) {
    match v {
        Value::Object(m) if !m.is_empty() => {
            for (k, c) in m {
                let mut p = path.clone();
                p.push(format!("f:{k}"));
                collect(out, p, k, c);
            }
        }
        Value::Array(items) if list_key(field, items).is_some() => {
            let key = list_key(field, items).unwrap_or("name");
            for item in items {
                let Some(id) = item.get(key) else { continue };
                let mut p = path.clone();
                p.push(format!("k:{}", json!({ key: id })));
                let mut any = false;
                if let Value::Object(m) = item {
                    for (k, c) in m {
                        let mut q = p.clone();
                        q.push(format!("f:{k}"));
                        collect(out, q, k, c);
                        any = true;
                    }
                }
                if !any {
                    out.insert(p);
                }
            }
        }
        _ => {
            out.insert(path);
        }
    }
}

fn value_at<'a>(v: &'a Value, path: &[String]) -> Option<&'a Value> {
    let mut cur = v;
    for seg in path {
        if let Some(f) = seg.strip_prefix("f:") {
            cur = cur.get(f)?;
        } else if let Some(k) = seg.strip_prefix("k:") {
            let key: Map<String, Value> = serde_json::from_str(k).ok()?;
            cur = cur
                .as_array()?
                .iter()
                .find(|i| key.iter().all(|(kk, kv)| i.get(kk) == Some(kv)))?;
        } else {
            return None;
        }
    }
    Some(cur)
}

fn remove_path(v: &mut Value, path: &[String]) {
    let Some((last, parent)) = path.split_last() else {
        return;
    };
    let mut cur = v;
    for seg in parent {
        let next = if let Some(f) = seg.strip_prefix("f:") {
            cur.get_mut(f)
        } else if let Some(k) = seg.strip_prefix("k:") {
            let Ok(key) = serde_json::from_str::<Map<String, Value>>(k) else {
                return;
            };
            cur.as_array_mut().and_then(|a| {
                a.iter_mut()
                    .find(|i| key.iter().all(|(kk, kv)| i.get(kk) == Some(kv)))
            })
        } else {
            None
        };
        match next {
            Some(n) => cur = n,
            None => return,
        }
    }
    if let Some(f) = last.strip_prefix("f:") {
        if let Some(m) = cur.as_object_mut() {
            m.remove(f);
        }
    } else if let Some(k) = last.strip_prefix("k:")
        && let Ok(key) = serde_json::from_str::<Map<String, Value>>(k)
        && let Some(a) = cur.as_array_mut()
    {
        a.retain(|i| !key.iter().all(|(kk, kv)| i.get(kk) == Some(kv)));
    }
}

/// Merges an applied configuration into the live object.
pub fn merge(live: &mut Value, applied: &Value) {
    merge_field(live, applied, "");
}

fn merge_field(live: &mut Value, applied: &Value, field: &str) {
    match (live, applied) {
        (l @ Value::Object(_), Value::Object(a)) => {
            let Value::Object(lm) = l else { return };
            for (k, v) in a {
                match lm.get_mut(k) {
                    Some(cur) => merge_field(cur, v, k),
                    None => {
                        lm.insert(k.clone(), v.clone());
                    }
                }
            }
        }
        (Value::Array(cur), Value::Array(items)) if list_key(field, items).is_some() => {
            let key = list_key(field, items).unwrap_or("name");
            for item in items {
                match cur
                    .iter_mut()
                    .find(|c| c.get(key).is_some() && c.get(key) == item.get(key))
                {
                    Some(c) => merge_field(c, item, ""),
                    None => cur.push(item.clone()),
                }
            }
        }
        (l, a) => *l = a.clone(),
    }
}

pub fn fields_to_v1(set: &BTreeSet<Path>) -> Value {
    let mut root = Map::new();
    for p in set {
        let mut cur = &mut root;
        for seg in p {
            let next = cur
                .entry(seg.clone())
                .or_insert_with(|| Value::Object(Map::new()));
            let Value::Object(m) = next else { break };
            cur = m;
        }
    }
    Value::Object(root)
}

pub fn fields_from_v1(v: &Value) -> BTreeSet<Path> {
    fn walk(out: &mut BTreeSet<Path>, prefix: Path, v: &Value) {
        match v.as_object() {
            Some(m) if !m.is_empty() => {
                for (k, c) in m {
                    if k == "." {
                        continue;
                    }
                    let mut p = prefix.clone();
                    p.push(k.clone());
                    walk(out, p, c);
                }
            }
            _ if !prefix.is_empty() => {
                out.insert(prefix);
            }
            _ => {}
        }
    }
    let mut out = BTreeSet::new();
    walk(&mut out, vec![], v);
    out
}

pub fn display_path(p: &[String]) -> String {
    p.iter()
        .map(|s| match s.strip_prefix("f:") {
            Some(f) => format!(".{f}"),
            None => format!("[{}]", s.trim_start_matches("k:")),
        })
        .collect()
}

/// Applies `applied` as `manager` onto `live` (or creates from it). On conflicts returns
/// (manager, path) pairs unless `force` is set, in which case ownership moves.
pub fn apply(
    live: Option<&Value>,
    applied: &Value,
    manager: &str,
    force: bool,
    subresource: Option<&str>,
    now: &str,
) -> Result<Value, Vec<(String, String)>> {
    let new_set = field_set(applied);
    let mut managers: Vec<Value> = live
        .and_then(|l| l.pointer("/metadata/managedFields"))
        .and_then(Value::as_array)
        .cloned()
        .unwrap_or_default();
    let sub = subresource.unwrap_or("");
    let is_me = |e: &Value| {
        e.get("manager").and_then(Value::as_str) == Some(manager)
            && e.get("operation").and_then(Value::as_str) == Some("Apply")
            && e.get("subresource").and_then(Value::as_str).unwrap_or("") == sub
    };
    let old_set = managers
        .iter()
        .find(|e| is_me(e))
        .and_then(|e| e.get("fieldsV1"))
        .map(fields_from_v1)
        .unwrap_or_default();
    let mut result = live.cloned().unwrap_or_else(|| json!({}));
    if let Some(live) = live {
        let mut conflicts = vec![];
        for e in managers.iter_mut().filter(|e| !is_me(e)) {
            let Some(mut theirs) = e.get("fieldsV1").map(fields_from_v1) else {
                continue;
            };
            let name = e
                .get("manager")
                .and_then(Value::as_str)
                .unwrap_or("")
                .to_string();
            let clashing: Vec<Path> = new_set
                .iter()
                .filter(|p| theirs.contains(*p) && value_at(live, p) != value_at(applied, p))
                .cloned()
                .collect();
            if clashing.is_empty() {
                continue;
            }
            if force {
                for p in &clashing {
                    theirs.remove(p);
                }
                e["fieldsV1"] = fields_to_v1(&theirs);
            } else {
                conflicts.extend(clashing.iter().map(|p| (name.clone(), display_path(p))));
            }
        }
        if !conflicts.is_empty() {
            return Err(conflicts);
        }
        let others: BTreeSet<Path> = managers
            .iter()
            .filter(|e| !is_me(e))
            .filter_map(|e| e.get("fieldsV1").map(fields_from_v1))
            .flatten()
            .collect();
        for p in old_set.difference(&new_set) {
            if !others.contains(p) {
                remove_path(&mut result, p);
            }
        }
    }
    merge(&mut result, applied);
    managers.retain(|e| {
        !is_me(e)
            && e.get("fieldsV1")
                .is_some_and(|f| !fields_from_v1(f).is_empty())
    });
    let api_version = applied.get("apiVersion").cloned().unwrap_or(Value::Null);
    let mut entry = json!({"manager": manager, "operation": "Apply", "apiVersion": api_version, "time": now,
        "fieldsType": "FieldsV1", "fieldsV1": fields_to_v1(&new_set)});
    if !sub.is_empty() {
        entry["subresource"] = json!(sub);
    }
    managers.push(entry);
    crate::util::ensure_obj(&mut result, &["metadata"])
        .insert("managedFields".into(), Value::Array(managers));
    Ok(result)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reapply_removes_and_conflicts() {
        let a1 = json!({"apiVersion":"v1","kind":"ConfigMap","metadata":{"name":"x"},"data":{"a":"1","b":"2"}});
        let o = apply(None, &a1, "m1", false, None, "t").expect("apply");
        let a2 =
            json!({"apiVersion":"v1","kind":"ConfigMap","metadata":{"name":"x"},"data":{"a":"1"}});
        let o = apply(Some(&o), &a2, "m1", false, None, "t").expect("apply");
        assert_eq!(o["data"], json!({"a":"1"}));
        let a3 = json!({"apiVersion":"v1","kind":"ConfigMap","metadata":{"name":"x"},"data":{"a":"other"}});
        let err = apply(Some(&o), &a3, "m2", false, None, "t").expect_err("conflict");
        assert_eq!(err, vec![("m1".to_string(), ".data.a".to_string())]);
        let o = apply(Some(&o), &a3, "m2", true, None, "t").expect("apply");
        assert_eq!(o["data"]["a"], "other");
    }
}
