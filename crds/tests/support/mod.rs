//! Test support: a small OpenAPI v3 (structural schema) validator for custom resources, enough to
//! check manifests against our generated CRDs the way an API server's strict validation does.

use serde_json::Value;

/// Validate `value` against `schema`; `strict` reports unknown fields (fieldValidation=Strict).
pub fn validate(schema: &Value, value: &Value, path: &str, strict: bool, errors: &mut Vec<String>) {
    if value.is_null() {
        if schema.get("nullable") != Some(&Value::Bool(true)) {
            errors.push(format!("{path}: null is not allowed"));
        }
        return;
    }
    if schema.get("x-kubernetes-int-or-string") == Some(&Value::Bool(true)) {
        if !(value.is_string() || value.is_i64() || value.is_u64()) {
            errors.push(format!(
                "{path}: must be an integer or a string, got {value}"
            ));
        }
        return;
    }
    if let Some(allowed) = schema.get("enum").and_then(Value::as_array)
        && !allowed.contains(value)
    {
        errors.push(format!(
            "{path}: Unsupported value: {value}: supported values: {allowed:?}"
        ));
    }
    match schema.get("type").and_then(Value::as_str) {
        Some("object") => {
            let Some(obj) = value.as_object() else {
                errors.push(format!("{path}: must be an object, got {value}"));
                return;
            };
            let props = schema.get("properties").and_then(Value::as_object);
            let extra = schema.get("additionalProperties");
            let preserve =
                schema.get("x-kubernetes-preserve-unknown-fields") == Some(&Value::Bool(true));
            for req in schema
                .get("required")
                .and_then(Value::as_array)
                .into_iter()
                .flatten()
            {
                let key = req.as_str().unwrap_or_default();
                if !obj.contains_key(key) {
                    errors.push(format!("{path}.{key}: Required value"));
                }
            }
            for (k, v) in obj {
                let child = format!("{path}.{k}");
                if let Some(p) = props.and_then(|p| p.get(k)) {
                    validate(p, v, &child, strict, errors);
                } else if let Some(extra) = extra.filter(|e| e.is_object()) {
                    validate(extra, v, &child, strict, errors);
                } else if strict && !preserve && !path.is_empty() {
                    errors.push(format!("{child}: unknown field \"{k}\""));
                }
            }
        }
        Some("array") => {
            let Some(items) = value.as_array() else {
                errors.push(format!("{path}: must be an array, got {value}"));
                return;
            };
            if let Some(min) = schema.get("minItems").and_then(Value::as_u64)
                && (items.len() as u64) < min
            {
                errors.push(format!("{path}: must have at least {min} items"));
            }
            if let Some(item_schema) = schema.get("items") {
                for (i, v) in items.iter().enumerate() {
                    validate(item_schema, v, &format!("{path}[{i}]"), strict, errors);
                }
            }
        }
        Some("string") if !value.is_string() => {
            errors.push(format!("{path}: must be a string, got {value}"));
        }
        Some("integer") => match value.as_i64() {
            None => errors.push(format!("{path}: must be an integer, got {value}")),
            Some(n) => {
                if let Some(min) = schema.get("minimum").and_then(Value::as_f64)
                    && (n as f64) < min
                {
                    errors.push(format!(
                        "{path}: must be greater than or equal to {min}, got {n}"
                    ));
                }
                if let Some(max) = schema.get("maximum").and_then(Value::as_f64)
                    && (n as f64) > max
                {
                    errors.push(format!(
                        "{path}: must be less than or equal to {max}, got {n}"
                    ));
                }
            }
        },
        Some("number") if !value.is_number() => {
            errors.push(format!("{path}: must be a number, got {value}"));
        }
        Some("boolean") if !value.is_boolean() => {
            errors.push(format!("{path}: must be a boolean, got {value}"));
        }
        _ => {}
    }
}

/// Parse every YAML document of a file into JSON values (comments and `---` separators allowed).
pub fn yaml_documents(text: &str) -> Vec<Value> {
    serde_saphyr::from_multiple::<Value>(text)
        .expect("valid YAML")
        .into_iter()
        .filter(|v| !v.is_null())
        .collect()
}
