//! Patch formats: JSON merge patch (RFC 7386), JSON patch (RFC 6902, where a `test` of a
//! missing path equals null, as kube-runtime's finalizer helper needs) and strategic merge
//! patch for built-in kinds (merge keys from a hand table of the lists Kubernetes merges).

use serde_json::{Map, Value};

pub fn merge_patch(target: &mut Value, patch: &Value) {
    let Value::Object(p) = patch else {
        *target = patch.clone();
        return;
    };
    if !target.is_object() {
        *target = Value::Object(Map::new());
    }
    let Value::Object(t) = target else { return };
    for (k, v) in p {
        if v.is_null() {
            t.remove(k);
        } else {
            merge_patch(t.entry(k.clone()).or_insert(Value::Null), v);
        }
    }
}

fn unescape(s: &str) -> String {
    s.replace("~1", "/").replace("~0", "~")
}

fn split_pointer(path: &str) -> Result<Vec<String>, String> {
    if path.is_empty() {
        return Ok(vec![]);
    }
    let rest = path
        .strip_prefix('/')
        .ok_or_else(|| format!("invalid json pointer {path:?}"))?;
    Ok(rest.split('/').map(unescape).collect())
}

fn parent_mut<'a>(doc: &'a mut Value, parts: &[String]) -> Result<&'a mut Value, String> {
    let mut cur = doc;
    for p in parts {
        cur = match cur {
            Value::Object(m) => m
                .get_mut(p)
                .ok_or_else(|| format!("path segment {p:?} not found"))?,
            Value::Array(a) => {
                let i: usize = p
                    .parse()
                    .map_err(|_| format!("invalid array index {p:?}"))?;
                a.get_mut(i)
                    .ok_or_else(|| format!("array index {i} out of range"))?
            }
            _ => return Err(format!("cannot descend into {p:?}")),
        };
    }
    Ok(cur)
}

fn pointer_get<'a>(doc: &'a Value, parts: &[String]) -> Option<&'a Value> {
    parts.iter().try_fold(doc, |cur, p| match cur {
        Value::Object(m) => m.get(p),
        Value::Array(a) => a.get(p.parse::<usize>().ok()?),
        _ => None,
    })
}

fn remove_at(doc: &mut Value, parts: &[String]) -> Result<Value, String> {
    let (last, parent) = parts
        .split_last()
        .ok_or("cannot remove the whole document")?;
    match parent_mut(doc, parent)? {
        Value::Object(m) => m
            .remove(last)
            .ok_or_else(|| format!("unable to remove nonexistent key: {last}")),
        Value::Array(a) => {
            let i: usize = last
                .parse()
                .map_err(|_| format!("invalid array index {last:?}"))?;
            if i >= a.len() {
                return Err(format!("unable to remove index {i}: out of range"));
            }
            Ok(a.remove(i))
        }
        _ => Err("remove target is not a container".into()),
    }
}

fn add_at(doc: &mut Value, parts: &[String], value: Value, replace: bool) -> Result<(), String> {
    let Some((last, parent)) = parts.split_last() else {
        *doc = value;
        return Ok(());
    };
    match parent_mut(doc, parent)? {
        Value::Object(m) => {
            if replace && !m.contains_key(last) {
                return Err(format!(
                    "replace operation does not apply: doc is missing key: {last}"
                ));
            }
            m.insert(last.clone(), value);
        }
        Value::Array(a) => {
            if last == "-" {
                a.push(value);
            } else {
                let i: usize = last
                    .parse()
                    .map_err(|_| format!("invalid array index {last:?}"))?;
                if replace {
                    *a.get_mut(i)
                        .ok_or_else(|| format!("index {i} out of range"))? = value;
                } else if i <= a.len() {
                    a.insert(i, value);
                } else {
                    return Err(format!("index {i} out of range"));
                }
            }
        }
        _ => return Err("add target is not a container".into()),
    }
    Ok(())
}

/// Most operations in one JSON patch (kube-apiserver's `maxJSONPatchOperations`).
const MAX_JSON_PATCH_OPS: usize = 10_000;

pub fn json_patch(doc: &mut Value, ops: &Value) -> Result<(), String> {
    let ops = ops
        .as_array()
        .ok_or("a json patch must be an array of operations")?;
    if ops.len() > MAX_JSON_PATCH_OPS {
        return Err(format!(
            "the json patch has {} operations, more than the limit of {MAX_JSON_PATCH_OPS}; split it",
            ops.len()
        ));
    }
    let mut copied = 0usize;
    for op in ops {
        let kind = op
            .get("op")
            .and_then(Value::as_str)
            .ok_or("operation has no \"op\"")?;
        let path = split_pointer(
            op.get("path")
                .and_then(Value::as_str)
                .ok_or("operation has no \"path\"")?,
        )?;
        let value = || {
            op.get("value")
                .cloned()
                .ok_or_else(|| format!("{kind} operation has no \"value\""))
        };
        let from = || -> Result<Vec<String>, String> {
            split_pointer(
                op.get("from")
                    .and_then(Value::as_str)
                    .ok_or("operation has no \"from\"")?,
            )
        };
        match kind {
            "add" => add_at(doc, &path, value()?, false)?,
            "replace" => add_at(doc, &path, value()?, true)?,
            "remove" => {
                remove_at(doc, &path)?;
            }
            "test" => {
                let want = op.get("value").cloned().unwrap_or(Value::Null);
                let have = pointer_get(doc, &path).cloned().unwrap_or(Value::Null);
                if have != want {
                    return Err(format!("testing value {} failed", op["path"]));
                }
            }
            "move" => {
                let v = remove_at(doc, &from()?)?;
                add_at(doc, &path, v, false)?;
            }
            "copy" => {
                let v = pointer_get(doc, &from()?)
                    .cloned()
                    .ok_or("copy source not found")?;
                // Each copy can double the object: bound what all copies add together.
                copied += serde_json::to_vec(&v).map_or(usize::MAX, |b| b.len());
                if copied > crate::limits::MAX_BODY_BYTES {
                    return Err(format!(
                        "the copy operations of this json patch copy more than {} bytes; split the patch or write the object whole",
                        crate::limits::MAX_BODY_BYTES
                    ));
                }
                add_at(doc, &path, v, false)?;
            }
            other => return Err(format!("unexpected op {other:?}")),
        }
    }
    Ok(())
}

/// The merge key of a list field in built-in kinds (None: atomic list, replaced).
fn merge_key(field: &str, items: &[Value]) -> Option<&'static str> {
    Some(match field {
        "containers"
        | "initContainers"
        | "ephemeralContainers"
        | "volumes"
        | "env"
        | "imagePullSecrets"
        | "containerStatuses"
        | "initContainerStatuses" => "name",
        "volumeMounts" => "mountPath",
        "volumeDevices" => "devicePath",
        "conditions" | "addresses" => "type",
        "ownerReferences" => "uid",
        "hostAliases" => "ip",
        "topologySpreadConstraints" => "topologyKey",
        "ports" => {
            if items.iter().any(|i| i.get("containerPort").is_some()) {
                "containerPort"
            } else {
                "port"
            }
        }
        _ => return None,
    })
}

/// Lists of scalars merged as sets.
fn is_set_list(field: &str) -> bool {
    matches!(field, "finalizers")
}

pub fn strategic_merge(target: &mut Value, patch: &Value) {
    let Value::Object(p) = patch else {
        *target = patch.clone();
        return;
    };
    match p.get("$patch").and_then(Value::as_str) {
        Some("replace") => {
            let mut clean = p.clone();
            clean.remove("$patch");
            *target = Value::Object(clean);
            return;
        }
        Some("delete") => {
            *target = Value::Null;
            return;
        }
        _ => {}
    }
    if !target.is_object() {
        *target = Value::Object(Map::new());
    }
    let Value::Object(t) = target else { return };
    for (k, v) in p {
        if k.starts_with("$setElementOrder/") || k == "$retainKeys" || k == "$patch" {
            continue;
        }
        if let Some(field) = k.strip_prefix("$deleteFromPrimitiveList/") {
            if let (Some(Value::Array(cur)), Some(del)) = (t.get_mut(field), v.as_array()) {
                cur.retain(|x| !del.contains(x));
            }
            continue;
        }
        if v.is_null() {
            t.remove(k);
            continue;
        }
        match (t.get_mut(k), v) {
            (Some(Value::Array(cur)), Value::Array(items)) => {
                if let Some(mk) = merge_key(k, items) {
                    merge_list(cur, items, mk);
                } else if is_set_list(k) {
                    for i in items {
                        if !cur.contains(i) {
                            cur.push(i.clone());
                        }
                    }
                } else {
                    *cur = items
                        .iter()
                        .filter(|i| i.get("$patch").is_none())
                        .cloned()
                        .collect();
                }
            }
            (Some(cur @ Value::Object(_)), Value::Object(_)) => {
                strategic_merge(cur, v);
                if cur.is_null() {
                    t.remove(k);
                }
            }
            _ => {
                let mut fresh = Value::Null;
                strategic_merge(&mut fresh, &strip_directives(v));
                t.insert(k.clone(), fresh);
            }
        }
    }
}

fn merge_list(cur: &mut Vec<Value>, items: &[Value], key: &str) {
    for item in items {
        let id = item.get(key);
        let directive = item.get("$patch").and_then(Value::as_str);
        let pos = id.and_then(|id| cur.iter().position(|c| c.get(key) == Some(id)));
        match (directive, pos) {
            (Some("delete"), Some(i)) => {
                cur.remove(i);
            }
            (Some("delete"), None) => {}
            (_, Some(i)) => strategic_merge(&mut cur[i], item),
            (_, None) => cur.push(strip_directives(item)),
        }
    }
}

fn strip_directives(v: &Value) -> Value {
    match v {
        Value::Object(m) => Value::Object(
            m.iter()
                .filter(|(k, _)| !k.starts_with('$'))
                .map(|(k, v)| (k.clone(), strip_directives(v)))
                .collect(),
        ),
        Value::Array(a) => Value::Array(a.iter().map(strip_directives).collect()),
        other => other.clone(),
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn json_patch_test_of_missing_path_is_null() {
        let mut d = json!({"metadata": {}});
        json_patch(
            &mut d,
            &json!([{"op":"test","path":"/metadata/finalizers","value":null},
                    {"op":"add","path":"/metadata/finalizers","value":["x"]}]),
        )
        .expect("patch applies");
        assert_eq!(d["metadata"]["finalizers"], json!(["x"]));
        assert!(
            json_patch(
                &mut d,
                &json!([{"op":"test","path":"/metadata/finalizers/0","value":"y"}])
            )
            .is_err()
        );
    }

    #[test]
    fn smp_merges_containers_by_name() {
        let mut d = json!({"spec":{"containers":[{"name":"main","image":"a"},{"name":"side","image":"b"}]}});
        strategic_merge(
            &mut d,
            &json!({"$setElementOrder/containers":[{"name":"main"},{"name":"side"}],
                    "spec":{"containers":[{"name":"side","image":"c"}]}}),
        );
        assert_eq!(d["spec"]["containers"][0]["image"], "a");
        assert_eq!(d["spec"]["containers"][1]["image"], "c");
    }

    #[test]
    fn merge_patch_null_deletes() {
        let mut d = json!({"data":{"a":"1","b":"2"}});
        merge_patch(&mut d, &json!({"data":{"b":null,"c":"3"}}));
        assert_eq!(d, json!({"data":{"a":"1","c":"3"}}));
    }

    /// Arbitrary JSON values, a few levels deep, with keys and pointers that hit each other.
    fn value() -> impl proptest::strategy::Strategy<Value = Value> {
        use proptest::prelude::*;
        let leaf = prop_oneof![
            Just(Value::Null),
            any::<bool>().prop_map(Value::from),
            any::<i64>().prop_map(Value::from),
            "(/|~0|~1|a|b|0|1|-|\\$patch|[a-z]{0,3}){0,4}".prop_map(Value::from),
        ];
        leaf.prop_recursive(5, 64, 6, |inner| {
            prop_oneof![
                proptest::collection::vec(inner.clone(), 0..6).prop_map(Value::from),
                proptest::collection::btree_map(
                    "(a|b|op|path|from|value|\\$patch|name|0)",
                    inner,
                    0..6
                )
                .prop_map(|m| Value::Object(m.into_iter().collect())),
            ]
        })
    }

    fn op() -> impl proptest::strategy::Strategy<Value = Value> {
        use proptest::prelude::*;
        let pointer = "(/(a|b|0|1|-|~0|~1|x)){0,4}|[a-z]?";
        (
            "(add|remove|replace|move|copy|test|bogus)",
            pointer,
            pointer,
            value(),
        )
            .prop_map(|(op, path, from, value)| json!({"op": op, "path": path, "from": from, "value": value}))
    }

    proptest::proptest! {
        // A bounded fuzz of the API server's patch application (run with every `cargo test`):
        // no document and no patch may panic it.
        #[test]
        fn patches_never_panic(
            doc in value(),
            ops in proptest::collection::vec(op(), 0..8),
            merge in value(),
        ) {
            let mut d = doc.clone();
            let _ = json_patch(&mut d, &Value::Array(ops));
            let mut d = doc.clone();
            merge_patch(&mut d, &merge);
            let mut d = doc;
            strategic_merge(&mut d, &merge);
        }
    }

    #[test]
    fn copies_cannot_blow_an_object_up() {
        let mut d = json!({"spec": {"blob": "x".repeat(1024)}});
        let ops: Vec<Value> = (0..40)
            .map(|i| json!({"op": "copy", "from": "/spec", "path": format!("/spec/c{i}")}))
            .collect();
        let err = json_patch(&mut d, &Value::Array(ops)).unwrap_err();
        assert!(err.contains("copy more than"), "{err}");
        let many = vec![json!({"op": "test", "path": "/spec"}); 10_001];
        assert!(
            json_patch(&mut d, &Value::Array(many))
                .unwrap_err()
                .contains("limit of 10000")
        );
    }
}
