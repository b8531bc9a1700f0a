//! Checks of built-in objects where users trip before anything else notices: object names
//! (DNS-1123, as kube-apiserver's `ValidateObjectMeta`) and pod resource quantities (parseable,
//! non-negative). Answers field errors for a 422; it decides nothing else.

use serde_json::Value;

/// The name rule of one kind, as kube-apiserver applies it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum NameRule {
    /// Namespaces and Services: one DNS label.
    Label,
    /// RBAC objects: any path segment (`system:controller:x` is fine).
    PathSegment,
    /// Everything else, custom resources included.
    Subdomain,
}

pub fn name_rule(group: &str, plural: &str) -> NameRule {
    match (group, plural) {
        ("", "namespaces" | "services") => NameRule::Label,
        ("rbac.authorization.k8s.io", _) => NameRule::PathSegment,
        _ => NameRule::Subdomain,
    }
}

fn is_label(s: &str) -> bool {
    s.len() <= 63 && is_label_chars(s)
}

/// A label's characters and ends, any length.
fn is_label_chars(s: &str) -> bool {
    let b = s.as_bytes();
    !b.is_empty()
        && b.iter()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || *c == b'-')
        && b[0] != b'-'
        && b[b.len() - 1] != b'-'
}

/// Kubernetes' `IsDNS1123Subdomain`: at most 253 characters in all; its dot-separated parts
/// follow the label characters but are not capped at 63 (a PodGroup named after a long Job and
/// its uid is 70+ characters without a dot, and kube-apiserver accepts it).
fn is_subdomain(s: &str) -> bool {
    s.len() <= 253 && s.split('.').all(is_label_chars)
}

/// `None` when `name` is valid under `rule`, else the API server's message.
pub fn check_name(rule: NameRule, name: &str) -> Option<String> {
    let bad = |what: String| Some(format!("Invalid value: {name:?}: {what}"));
    match rule {
        NameRule::Label if !is_label(name) => bad(
            "a lowercase RFC 1123 label must consist of at most 63 lower case alphanumeric characters or '-', and must start and end with an alphanumeric character (e.g. 'my-name', or '123-abc')".into(),
        ),
        NameRule::Subdomain if !is_subdomain(name) => bad(
            "a lowercase RFC 1123 subdomain must consist of at most 253 lower case alphanumeric characters, '-' or '.', and must start and end with an alphanumeric character (e.g. 'example.com')".into(),
        ),
        NameRule::PathSegment if name == "." || name == ".." => {
            bad("may not be '.' or '..'".into())
        }
        NameRule::PathSegment if name.contains(['/', '%']) => {
            bad("may not contain '/' or '%'".into())
        }
        _ => None,
    }
}

/// Field errors of a pod's resource quantities (containers, init containers, overhead):
/// each must parse as a Kubernetes quantity and be non-negative.
/// Kubernetes' label-value characters: alphanumerics, '-', '_', '.', alphanumeric at both ends.
fn is_label_value_chars(s: &str) -> bool {
    let b = s.as_bytes();
    !b.is_empty()
        && b.iter()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, b'-' | b'_' | b'.'))
        && b[0].is_ascii_alphanumeric()
        && b[b.len() - 1].is_ascii_alphanumeric()
}

/// `None` when `key` is a qualified name (`[prefix/]name`: a DNS-1123 subdomain prefix and a
/// name part of at most 63 label-value characters), else why not (kube's `IsQualifiedName`).
fn qualified_name_error(key: &str) -> Option<String> {
    let (prefix, name) = match key.split_once('/') {
        Some((p, n)) => (Some(p), n),
        None => (None, key),
    };
    if let Some(p) = prefix {
        if p.is_empty() {
            return Some("prefix part must be non-empty".into());
        }
        if !is_subdomain(p) {
            return Some("prefix part a lowercase RFC 1123 subdomain must consist of lower case alphanumeric characters, '-' or '.', and must start and end with an alphanumeric character (e.g. 'example.com')".into());
        }
    }
    if name.is_empty() {
        return Some("name part must be non-empty".into());
    }
    if name.len() > 63 {
        return Some("name part must be no more than 63 characters".into());
    }
    if !is_label_value_chars(name) {
        return Some("name part must consist of alphanumeric characters, '-', '_' or '.', and must start and end with an alphanumeric character (e.g. 'MyName',  or 'my.name',  or '123-abc', regex used for validation is '([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]')".into());
    }
    None
}

/// Field errors of `metadata.labels` (qualified keys, values of at most 63 label characters or
/// empty) and `metadata.annotations` keys (qualified names), as kube-apiserver's
/// `ValidateObjectMeta`: every kind, custom resources included.
pub fn meta_errors(obj: &Value) -> Vec<(String, String)> {
    let mut out = vec![];
    let meta = &obj["metadata"];
    for (k, v) in meta["labels"].as_object().into_iter().flatten() {
        if let Some(why) = qualified_name_error(k) {
            out.push((
                "metadata.labels".into(),
                format!("Invalid value: {k:?}: {why}"),
            ));
        }
        let value = v.as_str().unwrap_or_default();
        if !value.is_empty() && (value.len() > 63 || !is_label_value_chars(value)) {
            out.push(("metadata.labels".into(), format!(
                "Invalid value: {value:?}: a valid label must be an empty string or consist of alphanumeric characters, '-', '_' or '.', and must start and end with an alphanumeric character, at most 63 characters (e.g. 'MyValue',  or 'my_value',  or '12345', regex used for validation is '(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])?')"
            )));
        }
    }
    for k in meta["annotations"]
        .as_object()
        .into_iter()
        .flatten()
        .map(|(k, _)| k)
    {
        if let Some(why) = qualified_name_error(&k.to_ascii_lowercase()) {
            out.push((
                "metadata.annotations".into(),
                format!("Invalid value: {k:?}: {why}"),
            ));
        }
    }
    out
}

pub fn pod_quantity_errors(pod: &Value) -> Vec<(String, String)> {
    let mut errs = vec![];
    let Some(spec) = pod.get("spec") else {
        return errs;
    };
    let mut lists: Vec<(String, &Value)> = vec![];
    for field in ["containers", "initContainers"] {
        for (i, c) in spec
            .get(field)
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
            .enumerate()
        {
            for kind in ["requests", "limits"] {
                if let Some(l) = c.pointer(&format!("/resources/{kind}")) {
                    lists.push((format!("spec.{field}[{i}].resources.{kind}"), l));
                }
            }
        }
    }
    if let Some(o) = spec.get("overhead") {
        lists.push(("spec.overhead".into(), o));
    }
    for (path, list) in lists {
        let Some(m) = list.as_object() else {
            continue;
        };
        for (name, q) in m {
            let field = format!("{path}[{name}]");
            let text = match q {
                Value::String(s) => s.clone(),
                Value::Number(n) => n.to_string(),
                other => {
                    errs.push((field, format!("Invalid value: {other}: must be a quantity such as \"500m\", \"4Gi\" or \"2\"")));
                    continue;
                }
            };
            match parse_sign(&text) {
                Err(why) => errs.push((field, format!("Invalid value: {text:?}: {why}"))),
                Ok(true) => errs.push((
                    field,
                    format!("Invalid value: {text:?}: must be greater than or equal to 0"),
                )),
                Ok(false) => {}
            }
        }
    }
    errs
}

/// Whether `s` is a well-formed quantity, and whether it is negative. The grammar is
/// Kubernetes' (`<sign><digits>[.<digits>]<suffix>`, suffix binary, decimal SI or `e<int>`), checked
/// by the one quantity parser; the magnitude is not bounded here (kube-apiserver accepts any
/// size), the scheduler judges it.
fn parse_sign(s: &str) -> Result<bool, &'static str> {
    const HINT: &str = "quantities must match the regular expression '^([+-]?[0-9.]+)([eEinumkKMGTP]*[-+]?[0-9]*)$' (e.g. \"500m\", \"4Gi\", \"2\")";
    // kube-apiserver reads the field as written: no surrounding spaces.
    if s.trim() != s {
        return Err(HINT);
    }
    ::quantity::syntax(s).map_err(|_| HINT)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    /// kube-apiserver's `ValidateObjectMeta` label and annotation rules.
    #[test]
    fn label_keys_and_values_and_annotation_keys_are_checked() {
        let ok = json!({"metadata": {
            "labels": {"app": "web", "app.kubernetes.io/name": "My_Value-1.x", "empty": ""},
            "annotations": {"volcano.sh/sla-waiting-time": "1h", "Some.Key_1": "any value!"}}});
        assert_eq!(meta_errors(&ok), vec![]);
        let bad = |labels: Value, annotations: Value| {
            meta_errors(&json!({"metadata": {"labels": labels, "annotations": annotations}}))
        };
        let e = bad(json!({"bad key!": "v"}), json!({}));
        assert_eq!(e.len(), 1);
        assert_eq!(e[0].0, "metadata.labels");
        assert!(
            e[0].1
                .starts_with("Invalid value: \"bad key!\": name part must consist"),
            "{e:?}"
        );
        let e = bad(json!({"k": "bad value!"}), json!({}));
        assert!(
            e[0].1.contains("a valid label must be an empty string"),
            "{e:?}"
        );
        assert_eq!(bad(json!({"k": "x".repeat(64)}), json!({})).len(), 1);
        assert_eq!(bad(json!({"Upper.Case/k": "v"}), json!({})).len(), 1);
        assert_eq!(bad(json!({"/k": "v"}), json!({})).len(), 1);
        assert_eq!(
            bad(json!({}), json!({"no spaces allowed": "v"}))[0].0,
            "metadata.annotations"
        );
    }

    #[test]
    fn names_follow_the_kind_rule() {
        let sub = NameRule::Subdomain;
        assert_eq!(check_name(sub, "web-1.example"), None);
        // A part longer than 63 is fine in a subdomain (PodGroup `<job>-<uid>` names).
        let long = format!(
            "credit-ml-pipeline-data-collection-{}",
            "1cd0e10f-99ad-4574-bae5-77db8e2b04e5"
        );
        assert_eq!(check_name(sub, &long), None);
        assert!(check_name(NameRule::Label, &long).is_some());
        for bad in [
            "Bad_Name!",
            "",
            "-a",
            "a-",
            "a..b",
            "UPPER",
            &"a".repeat(254),
        ] {
            assert!(check_name(sub, bad).is_some(), "{bad:?}");
        }
        assert!(check_name(NameRule::Label, "a.b").is_some());
        assert_eq!(check_name(NameRule::Label, "team-a"), None);
        assert_eq!(
            check_name(NameRule::PathSegment, "system:controller:basalt"),
            None
        );
        assert!(check_name(NameRule::PathSegment, "a/b").is_some());
        assert_eq!(name_rule("", "namespaces"), NameRule::Label);
        assert_eq!(name_rule("batch.volcano.sh", "jobs"), NameRule::Subdomain);
    }

    #[test]
    fn pod_quantities_must_parse_and_be_non_negative() {
        let pod = json!({"spec": {"containers": [{"name": "c", "resources": {
            "requests": {"cpu": "lots", "memory": "-5Gi", "nvidia.com/gpu": "99999999999999999999999"},
            "limits": {"cpu": "1.5", "memory": "1e3", "x": "-0", "y": 2}}}],
            "initContainers": [{"name": "i", "resources": {"limits": {"cpu": "1..5"}}}],
            "overhead": {"cpu": "2Xi"}}});
        let errs = pod_quantity_errors(&pod);
        let fields: Vec<&str> = errs.iter().map(|(f, _)| f.as_str()).collect();
        assert_eq!(
            fields,
            [
                "spec.containers[0].resources.requests[cpu]",
                "spec.containers[0].resources.requests[memory]",
                "spec.initContainers[0].resources.limits[cpu]",
                "spec.overhead[cpu]",
            ],
            "{errs:?}"
        );
        assert!(errs[1].1.contains("greater than or equal to 0"));
        assert!(errs[0].1.contains("\"lots\""));
    }
}
