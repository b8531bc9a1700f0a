//! Every generated CRD schema is structural by Kubernetes' rules (so a real API server accepts
//! it, pruning works and `kubectl explain` can walk it):
//! 1. every node specifies a non-empty `type` (unless it is int-or-string or preserves unknown
//!    fields), 2. `properties` and `additionalProperties` are not both set, 3. inside
//!    `allOf`/`anyOf`/`oneOf`/`not` no `type`, `default`, `nullable`, `description` or
//!    `additionalProperties` appear, 4. no `$ref`/`definitions`, 5. `items` is one schema,
//! 6. int-or-string nodes carry no `type`, 7. defaults appear only outside logical junctors and
//!    only where a type is set.

use crds::crd;
use serde_json::Value;

fn check(node: &Value, path: &str, in_junctor: bool, errors: &mut Vec<String>) {
    let Some(obj) = node.as_object() else {
        errors.push(format!("{path}: schema is not an object"));
        return;
    };
    for banned in ["$ref", "definitions", "$defs", "$schema"] {
        if obj.contains_key(banned) {
            errors.push(format!(
                "{path}: `{banned}` is not allowed in a structural schema"
            ));
        }
    }
    let int_or_string = obj.get("x-kubernetes-int-or-string") == Some(&Value::Bool(true));
    let preserve = obj.get("x-kubernetes-preserve-unknown-fields") == Some(&Value::Bool(true));
    if in_junctor {
        for banned in [
            "type",
            "default",
            "nullable",
            "description",
            "additionalProperties",
        ] {
            if obj.contains_key(banned) {
                errors.push(format!("{path}: `{banned}` inside a logical junctor"));
            }
        }
    } else {
        let ty = obj.get("type").and_then(Value::as_str).unwrap_or("");
        if ty.is_empty() && !int_or_string && !preserve {
            errors.push(format!("{path}: missing type"));
        }
        if int_or_string && !ty.is_empty() {
            errors.push(format!("{path}: int-or-string must not set a type"));
        }
        if obj.contains_key("properties") && obj.contains_key("additionalProperties") {
            errors.push(format!("{path}: both properties and additionalProperties"));
        }
    }
    if let Some(props) = obj.get("properties").and_then(Value::as_object) {
        for (k, v) in props {
            check(v, &format!("{path}.{k}"), in_junctor, errors);
        }
    }
    if let Some(items) = obj.get("items") {
        if items.is_array() {
            errors.push(format!("{path}: items must be a single schema"));
        } else {
            check(items, &format!("{path}[*]"), in_junctor, errors);
        }
    }
    if let Some(extra) = obj.get("additionalProperties").filter(|v| v.is_object()) {
        check(extra, &format!("{path}{{*}}"), in_junctor, errors);
    }
    for junctor in ["allOf", "anyOf", "oneOf"] {
        for (i, s) in obj
            .get(junctor)
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
            .enumerate()
        {
            check(s, &format!("{path}.{junctor}[{i}]"), true, errors);
        }
    }
    if let Some(not) = obj.get("not") {
        check(not, &format!("{path}.not"), true, errors);
    }
}

#[test]
fn every_generated_schema_is_structural() {
    for c in crd::all() {
        let v = serde_json::to_value(&c).expect("serialize CRD");
        let schema = &v["spec"]["versions"][0]["schema"]["openAPIV3Schema"];
        assert!(schema.is_object(), "{} has a schema", c.spec.names.kind);
        let mut errors = Vec::new();
        check(schema, &c.spec.names.kind, false, &mut errors);
        assert!(
            errors.is_empty(),
            "{} is not structural:\n{}",
            c.spec.names.kind,
            errors.join("\n")
        );
    }
}

#[test]
fn the_checker_catches_non_structural_schemas() {
    let bad = serde_json::json!({
        "type": "object",
        "properties": {
            "a": {"description": "no type"},
            "b": {"type": "object", "properties": {}, "additionalProperties": {"type": "string"}},
            "c": {"anyOf": [{"type": "string"}]},
            "d": {"$ref": "#/definitions/x", "type": "object"}
        }
    });
    let mut errors = Vec::new();
    check(&bad, "Bad", false, &mut errors);
    assert_eq!(errors.len(), 5, "{errors:#?}");
    assert!(
        errors
            .iter()
            .any(|e| e.contains("Bad.c.anyOf[0]: `type` inside a logical junctor"))
    );
    assert!(
        errors
            .iter()
            .any(|e| e.contains("Bad.d: `$ref` is not allowed"))
    );
}
