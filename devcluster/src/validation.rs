//! Schema checks of request bodies: structural-schema validation of custom resources (types,
//! enums, required, bounds), defaulting and pruning of unknown fields, and unknown-field
//! detection for built-in kinds against their OpenAPI components. Produces field errors in
//! the API server's wording; it does not decide the HTTP answer (the caller does).

use serde_json::{Map, Value};

#[derive(Debug, Default)]
pub struct Report {
    /// Paths of fields that the schema does not declare (already pruned from the object).
    pub unknown: Vec<String>,
    /// (field path, message) pairs.
    pub errors: Vec<(String, String)>,
}

fn join(path: &str, k: &str) -> String {
    if path.is_empty() {
        k.to_string()
    } else {
        format!("{path}.{k}")
    }
}

fn show(v: &Value) -> String {
    match v {
        Value::String(s) => format!("{s:?}"),
        other => other.to_string(),
    }
}

/// Validates, defaults and prunes a custom resource in place.
pub fn validate_cr(schema: &Value, obj: &mut Value) -> Report {
    let mut r = Report::default();
    let Value::Object(top) = obj else {
        r.errors.push((
            String::new(),
            "Invalid value: the object must be a JSON object".into(),
        ));
        return r;
    };
    let props = schema.get("properties").and_then(Value::as_object);
    let preserve = schema
        .get("x-kubernetes-preserve-unknown-fields")
        .and_then(Value::as_bool)
        == Some(true);
    apply_defaults(schema, top);
    let keys: Vec<String> = top.keys().cloned().collect();
    for k in keys {
        if matches!(k.as_str(), "apiVersion" | "kind" | "metadata") {
            continue;
        }
        match props.and_then(|p| p.get(&k)) {
            Some(s) => {
                if let Some(v) = top.get_mut(&k) {
                    walk(s, v, &k, &mut r);
                }
            }
            None if preserve => {}
            None => {
                top.remove(&k);
                r.unknown.push(k);
            }
        }
    }
    check_required(schema, top, "", &mut r);
    r
}

fn apply_defaults(schema: &Value, m: &mut Map<String, Value>) {
    if let Some(props) = schema.get("properties").and_then(Value::as_object) {
        for (k, s) in props {
            if !m.contains_key(k)
                && let Some(d) = s.get("default")
            {
                m.insert(k.clone(), d.clone());
            }
        }
    }
}

fn check_required(schema: &Value, m: &Map<String, Value>, path: &str, r: &mut Report) {
    if let Some(req) = schema.get("required").and_then(Value::as_array) {
        for k in req.iter().filter_map(Value::as_str) {
            if m.get(k).is_none_or(Value::is_null) {
                r.errors.push((join(path, k), "Required value".into()));
            }
        }
    }
}

fn type_ok(t: &str, v: &Value) -> bool {
    match t {
        "object" => v.is_object(),
        "array" => v.is_array(),
        "string" => v.is_string(),
        "boolean" => v.is_boolean(),
        "number" => v.is_number(),
        "integer" => v.is_i64() || v.is_u64() || v.as_f64().is_some_and(|f| f.fract() == 0.0),
        _ => true,
    }
}

fn walk(schema: &Value, v: &mut Value, path: &str, r: &mut Report) {
    if v.is_null() {
        return;
    }
    let int_or_string = schema
        .get("x-kubernetes-int-or-string")
        .and_then(Value::as_bool)
        == Some(true);
    if int_or_string {
        if !(v.is_string() || v.is_i64() || v.is_u64()) {
            r.errors.push((
                path.into(),
                format!(
                    "Invalid value: {}: {path} in body must be of type int-or-string",
                    show(v)
                ),
            ));
        }
        return;
    }
    if let Some(t) = schema.get("type").and_then(Value::as_str)
        && !type_ok(t, v)
    {
        let actual = match v {
            Value::String(_) => "string",
            Value::Number(_) => "number",
            Value::Bool(_) => "boolean",
            Value::Array(_) => "array",
            Value::Object(_) => "object",
            Value::Null => "null",
        };
        r.errors.push((
            path.into(),
            format!(
                "Invalid value: \"{actual}\": {path} in body must be of type {t}: \"{actual}\""
            ),
        ));
        return;
    }
    if let Some(allowed) = schema.get("enum").and_then(Value::as_array)
        && !allowed.contains(v)
    {
        let list: Vec<String> = allowed.iter().map(show).collect();
        r.errors.push((
            path.into(),
            format!(
                "Unsupported value: {}: supported values: {}",
                show(v),
                list.join(", ")
            ),
        ));
    }
    let num = |k: &str| schema.get(k).and_then(Value::as_f64);
    if let Some(x) = v.as_f64() {
        if let Some(min) = num("minimum")
            && x < min
        {
            r.errors.push((
                path.into(),
                format!(
                    "Invalid value: {}: {path} in body should be greater than or equal to {min}",
                    show(v)
                ),
            ));
        }
        if let Some(max) = num("maximum")
            && x > max
        {
            r.errors.push((
                path.into(),
                format!(
                    "Invalid value: {}: {path} in body should be less than or equal to {max}",
                    show(v)
                ),
            ));
        }
    }
    if let Some(s) = v.as_str() {
        let n = s.chars().count() as f64;
        if num("minLength").is_some_and(|m| n < m) {
            r.errors.push((
                path.into(),
                format!(
                    "Invalid value: {}: {path} in body should be at least {} chars long",
                    show(v),
                    num("minLength").unwrap_or(0.0)
                ),
            ));
        }
        if num("maxLength").is_some_and(|m| n > m) {
            r.errors.push((
                path.into(),
                format!(
                    "Too long: may not be more than {} bytes",
                    num("maxLength").unwrap_or(0.0)
                ),
            ));
        }
    }
    match v {
        Value::Array(items) => {
            let n = items.len() as f64;
            if num("minItems").is_some_and(|m| n < m) {
                r.errors.push((
                    path.into(),
                    format!(
                        "Invalid value: {n}: {path} in body should have at least {} items",
                        num("minItems").unwrap_or(0.0)
                    ),
                ));
            }
            if num("maxItems").is_some_and(|m| n > m) {
                r.errors.push((
                    path.into(),
                    format!(
                        "Too many: {n}: must have at most {} items",
                        num("maxItems").unwrap_or(0.0)
                    ),
                ));
            }
            if let Some(is) = schema.get("items") {
                for (i, item) in items.iter_mut().enumerate() {
                    walk(is, item, &format!("{path}[{i}]"), r);
                }
            }
        }
        Value::Object(m) => {
            let preserve = schema
                .get("x-kubernetes-preserve-unknown-fields")
                .and_then(Value::as_bool)
                == Some(true);
            let embedded = schema
                .get("x-kubernetes-embedded-resource")
                .and_then(Value::as_bool)
                == Some(true);
            apply_defaults(schema, m);
            let props = schema.get("properties").and_then(Value::as_object);
            let additional = schema.get("additionalProperties");
            let keys: Vec<String> = m.keys().cloned().collect();
            for k in keys {
                let sub = join(path, &k);
                if let Some(s) = props.and_then(|p| p.get(&k)) {
                    if let Some(c) = m.get_mut(&k) {
                        walk(s, c, &sub, r);
                    }
                } else if let Some(a) = additional.filter(|a| a.is_object()) {
                    if let Some(c) = m.get_mut(&k) {
                        walk(a, c, &sub, r);
                    }
                } else if preserve
                    || additional.and_then(Value::as_bool) == Some(true)
                    || (embedded && matches!(k.as_str(), "apiVersion" | "kind" | "metadata"))
                    || (props.is_none() && schema.get("type").is_none())
                {
                } else {
                    m.remove(&k);
                    r.unknown.push(sub);
                }
            }
            check_required(schema, m, path, r);
        }
        _ => {}
    }
}

/// What [`prune_builtin`] found in a built-in object.
#[derive(Debug, Default)]
pub struct BuiltinCheck {
    /// Unknown fields (pruned in place), as paths.
    pub unknown: Vec<String>,
    /// Values of the wrong JSON type, as (path, message): the object cannot be decoded, as
    /// kube-apiserver's decoder says for `containers: "x"` or `replicas: "three"`.
    pub wrong_types: Vec<(String, String)>,
}

/// Unknown fields of a built-in object (pruned in place) and values of the wrong type, against
/// the OpenAPI components.
pub fn prune_builtin(
    defs: &Map<String, Value>,
    schema_name: &str,
    obj: &mut Value,
) -> BuiltinCheck {
    let mut out = BuiltinCheck::default();
    if let Some(s) = defs.get(schema_name) {
        walk_builtin(defs, s, obj, "", &mut out, 0);
    }
    out
}

/// `None` when `v` has the JSON type `want` names (a null is an absent optional field, as in
/// Go's decoder; a type the check does not know passes), else what was found.
fn wrong_type(want: &str, v: &Value) -> Option<String> {
    let ok = match (want, v) {
        (_, Value::Null) => true,
        ("string", Value::String(_))
        | ("number", Value::Number(_))
        | ("boolean", Value::Bool(_))
        | ("array", Value::Array(_))
        | ("object", Value::Object(_)) => true,
        ("integer", Value::Number(n)) => {
            n.is_i64() || n.is_u64() || n.as_f64().is_some_and(|f| f.fract() == 0.0)
        }
        ("string" | "number" | "integer" | "boolean" | "array" | "object", _) => false,
        _ => true,
    };
    if ok {
        return None;
    }
    let found = match v {
        Value::String(_) => format!("the string {}", show(v)),
        Value::Number(_) => format!("the number {v}"),
        Value::Bool(_) => format!("the boolean {v}"),
        Value::Array(_) => "an array".to_owned(),
        Value::Object(_) => "an object".to_owned(),
        Value::Null => "null".to_owned(),
    };
    let want = match want {
        "integer" => "an integer",
        "array" => "an array",
        "object" => "an object",
        "string" => "a string",
        "number" => "a number",
        _ => "a boolean",
    };
    Some(format!("expected {want}, got {found}"))
}

fn resolve<'a>(defs: &'a Map<String, Value>, s: &'a Value) -> &'a Value {
    if let Some(name) = s
        .get("$ref")
        .and_then(Value::as_str)
        .and_then(|r| r.rsplit('/').next())
    {
        return defs.get(name).unwrap_or(s);
    }
    // OpenAPI 3.0 ignores siblings of $ref, so schemars wraps a described $ref in allOf.
    match s.get("allOf").and_then(Value::as_array).map(Vec::as_slice) {
        Some([one]) => resolve(defs, one),
        _ => s,
    }
}

/// The Quantity schema (resource requests, capacity): the API server always answers strings.
fn is_quantity(s: &Value) -> bool {
    s.get("x-kubernetes-int-or-string").and_then(Value::as_bool) == Some(true)
        && s.get("description")
            .and_then(Value::as_str)
            .is_some_and(|d| d.starts_with("Quantity is"))
}

/// `1` → "1", `0.5` → "500m", like the API server's canonical form for small numbers.
fn canonical_quantity(v: &Value) -> String {
    match (v.as_i64(), v.as_f64()) {
        (Some(i), _) => i.to_string(),
        (None, Some(f)) if (f * 1000.0).fract() == 0.0 => format!("{}m", (f * 1000.0) as i64),
        _ => v.to_string(),
    }
}

fn walk_builtin(
    defs: &Map<String, Value>,
    schema: &Value,
    v: &mut Value,
    path: &str,
    out: &mut BuiltinCheck,
    depth: usize,
) {
    if depth > 64 {
        return;
    }
    let s = resolve(defs, schema);
    if v.is_number() && is_quantity(s) {
        *v = Value::String(canonical_quantity(v));
        return;
    }
    // apiextensions' `JSON` (a CRD schema's `default`, `enum`, `example`) is any JSON value,
    // although its generated schema says "object".
    let any_json = defs
        .get("io.k8s.apiextensions-apiserver.pkg.apis.apiextensions.v1.JSON")
        .is_some_and(|j| std::ptr::eq(j, s));
    if any_json {
        return;
    }
    if let Some(why) = s
        .get("type")
        .and_then(Value::as_str)
        .and_then(|t| wrong_type(t, v))
    {
        out.wrong_types.push((
            if path.is_empty() { "<root>" } else { path }.to_owned(),
            why,
        ));
        return;
    }
    match v {
        Value::Object(m) => {
            if let Some(props) = s.get("properties").and_then(Value::as_object) {
                let keys: Vec<String> = m.keys().cloned().collect();
                for k in keys {
                    let sub = join(path, &k);
                    match props.get(&k) {
                        Some(ps) => {
                            if let Some(c) = m.get_mut(&k) {
                                walk_builtin(defs, ps, c, &sub, out, depth + 1);
                            }
                        }
                        None if s.get("additionalProperties").is_some() => {}
                        None => {
                            m.remove(&k);
                            out.unknown.push(sub);
                        }
                    }
                }
            } else if let Some(a) = s.get("additionalProperties").filter(|a| a.is_object()) {
                for (k, c) in m.iter_mut() {
                    walk_builtin(defs, a, c, &join(path, k), out, depth + 1);
                }
            }
        }
        Value::Array(items) => {
            if let Some(is) = s.get("items") {
                for (i, item) in items.iter_mut().enumerate() {
                    walk_builtin(defs, is, item, &format!("{path}[{i}]"), out, depth + 1);
                }
            }
        }
        _ => {}
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn enum_required_default_prune() {
        let schema = json!({"type":"object","properties":{"spec":{"type":"object","required":["size"],
            "properties":{"size":{"type":"integer","minimum":0},"mode":{"type":"string","default":"fast",
            "enum":["fast","slow"]},"policies":{"type":"array","items":{"type":"object",
            "properties":{"event":{"type":"string","enum":["PodFailed","PodEvicted"]}}}}}}}});
        let mut obj = json!({"apiVersion":"x/v1","kind":"W","metadata":{},"spec":{"size":-1,"bogus":1,
            "policies":[{"event":"PodFial"}]}});
        let r = validate_cr(&schema, &mut obj);
        assert_eq!(r.unknown, vec!["spec.bogus"]);
        assert_eq!(obj["spec"]["mode"], "fast");
        let fields: Vec<&str> = r.errors.iter().map(|(f, _)| f.as_str()).collect();
        assert!(fields.contains(&"spec.size"));
        assert!(r.errors.iter().any(|(f, m)| f == "spec.policies[0].event"
            && m == "Unsupported value: \"PodFial\": supported values: \"PodFailed\", \"PodEvicted\""));
        let mut missing = json!({"spec":{}});
        assert_eq!(
            validate_cr(&schema, &mut missing).errors[0],
            ("spec.size".into(), "Required value".into())
        );
    }

    /// As kube-apiserver's decoder: a value of the wrong JSON type is named with its path; a
    /// null is an absent optional field; integral numbers are integers.
    #[test]
    fn builtin_values_of_the_wrong_type_are_found() {
        let reg = crate::registry::Registry::new(vec![]);
        let check = |kind: &str, mut obj: Value| {
            prune_builtin(&reg.builtin_schemas, kind, &mut obj).wrong_types
        };
        let pod = "io.k8s.api.core.v1.Pod";
        assert_eq!(
            check(pod, json!({"spec": {"containers": "x"}})),
            vec![(
                "spec.containers".to_owned(),
                "expected an array, got the string \"x\"".to_owned()
            )]
        );
        let port = check(
            pod,
            json!({"spec": {"containers": [{"name": "c", "ports": [{"containerPort": "eighty"}]}]}}),
        );
        assert_eq!(port[0].0, "spec.containers[0].ports[0].containerPort");
        assert!(port[0].1.starts_with("expected an integer"), "{port:?}");
        assert_eq!(
            check("io.k8s.api.core.v1.ConfigMap", json!({"data": {"a": 5}}))[0].0,
            "data.a"
        );
        assert_eq!(
            check(
                "io.k8s.api.core.v1.Pod",
                json!({"metadata": {"labels": {"a": true}}})
            )[0]
            .0,
            "metadata.labels.a"
        );
        assert!(
            check(
                "io.k8s.api.apps.v1.Deployment",
                json!({"spec": {"replicas": "three"}})
            )
            .iter()
            .any(|(f, _)| f == "spec.replicas")
        );
        // Fine: null, an integral float, int-or-string, a numeric quantity.
        assert!(
            check(
                pod,
                json!({"spec": {"nodeName": null, "priority": 5.0,
            "containers": [{"name": "c", "ports": [{"containerPort": 80}],
                "readinessProbe": {"httpGet": {"port": "http"}},
                "resources": {"requests": {"cpu": 1}}}]}})
            )
            .is_empty()
        );
    }

    #[test]
    fn builtin_unknown_nested_fields_are_found() {
        let reg = crate::registry::Registry::new(vec![]);
        let mut pod = json!({"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "p", "labels": {"a": "b"}},
            "spec": {"containers": [{"name": "m", "image": "i", "imagePullPolice": "x",
                "resources": {"requests": {"cpu": "1"}}}]}});
        let found = prune_builtin(&reg.builtin_schemas, "io.k8s.api.core.v1.Pod", &mut pod);
        assert_eq!(found.unknown, vec!["spec.containers[0].imagePullPolice"]);
        assert!(found.wrong_types.is_empty(), "{:?}", found.wrong_types);
        assert_eq!(
            pod["spec"]["containers"][0]["resources"]["requests"]["cpu"],
            "1"
        );
        let mut numeric = json!({"spec": {"containers": [{"name": "m", "resources":
            {"requests": {"cpu": 1, "memory": 0.5}}}]}});
        prune_builtin(&reg.builtin_schemas, "io.k8s.api.core.v1.Pod", &mut numeric);
        let req = &numeric["spec"]["containers"][0]["resources"]["requests"];
        assert_eq!(
            (req["cpu"].as_str(), req["memory"].as_str()),
            (Some("1"), Some("500m"))
        );
    }
}
