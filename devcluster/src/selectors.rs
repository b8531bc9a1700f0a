//! Label selectors (full set-based syntax) and field selectors (`=`, `==`, `!=` on a list of
//! supported fields per resource). Parsing errors become 400s at the caller.

use serde_json::Value;

use crate::registry::ResourceInfo;

#[derive(Debug, Clone, PartialEq)]
enum Req {
    Eq(String, String),
    Ne(String, String),
    In(String, Vec<String>),
    NotIn(String, Vec<String>),
    Exists(String),
    NotExists(String),
}

#[derive(Debug, Clone, Default)]
pub struct LabelSelector(Vec<Req>);

impl LabelSelector {
    pub fn parse(s: &str) -> Result<Self, String> {
        let mut reqs = vec![];
        for part in split_top(s) {
            let p = part.trim();
            if p.is_empty() {
                continue;
            }
            reqs.push(parse_req(p).ok_or_else(|| format!("unable to parse requirement: {p:?}"))?);
        }
        Ok(Self(reqs))
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    pub fn matches(&self, labels: Option<&serde_json::Map<String, Value>>) -> bool {
        let get = |k: &str| labels.and_then(|l| l.get(k)).and_then(Value::as_str);
        self.0.iter().all(|r| match r {
            Req::Eq(k, v) => get(k) == Some(v.as_str()),
            Req::Ne(k, v) => get(k) != Some(v.as_str()),
            Req::In(k, vs) => get(k).is_some_and(|x| vs.iter().any(|v| v == x)),
            Req::NotIn(k, vs) => get(k).is_none_or(|x| !vs.iter().any(|v| v == x)),
            Req::Exists(k) => get(k).is_some(),
            Req::NotExists(k) => get(k).is_none(),
        })
    }

    /// From a `metav1.LabelSelector` object (matchLabels + matchExpressions), as PDBs and
    /// webhook configurations carry them. `None` selects nothing.
    pub fn from_object(sel: &Value) -> Option<Self> {
        let mut reqs = vec![];
        if let Some(m) = sel.get("matchLabels").and_then(Value::as_object) {
            for (k, v) in m {
                reqs.push(Req::Eq(k.clone(), v.as_str()?.to_string()));
            }
        }
        if let Some(exprs) = sel.get("matchExpressions").and_then(Value::as_array) {
            for e in exprs {
                let key = e.get("key")?.as_str()?.to_string();
                let values: Vec<String> = e
                    .get("values")
                    .and_then(Value::as_array)
                    .map(|a| {
                        a.iter()
                            .filter_map(|v| v.as_str().map(String::from))
                            .collect()
                    })
                    .unwrap_or_default();
                reqs.push(match e.get("operator")?.as_str()? {
                    "In" => Req::In(key, values),
                    "NotIn" => Req::NotIn(key, values),
                    "Exists" => Req::Exists(key),
                    "DoesNotExist" => Req::NotExists(key),
                    _ => return None,
                });
            }
        }
        Some(Self(reqs))
    }
}

/// Splits on commas that are not inside parentheses.
fn split_top(s: &str) -> Vec<&str> {
    let (mut out, mut depth, mut start) = (vec![], 0i32, 0usize);
    for (i, c) in s.char_indices() {
        match c {
            '(' => depth += 1,
            ')' => depth -= 1,
            ',' if depth == 0 => {
                out.push(&s[start..i]);
                start = i + 1;
            }
            _ => {}
        }
    }
    out.push(&s[start..]);
    out
}

fn parse_req(p: &str) -> Option<Req> {
    if let Some(k) = p.strip_prefix('!') {
        return Some(Req::NotExists(k.trim().to_string()));
    }
    for (op, neg) in [(" notin ", true), (" in ", false)] {
        if let Some(i) = p.find(op) {
            let key = p[..i].trim().to_string();
            let set = p[i + op.len()..]
                .trim()
                .strip_prefix('(')?
                .strip_suffix(')')?;
            let vals = set
                .split(',')
                .map(|v| v.trim().to_string())
                .filter(|v| !v.is_empty())
                .collect();
            return Some(if neg {
                Req::NotIn(key, vals)
            } else {
                Req::In(key, vals)
            });
        }
    }
    if let Some((k, v)) = p.split_once("!=") {
        return Some(Req::Ne(k.trim().into(), v.trim().into()));
    }
    if let Some((k, v)) = p.split_once("==").or_else(|| p.split_once('=')) {
        return Some(Req::Eq(k.trim().into(), v.trim().into()));
    }
    if p.contains(['(', ')', ' ', '<', '>']) {
        return None;
    }
    Some(Req::Exists(p.to_string()))
}

#[derive(Debug, Clone, Default)]
pub struct FieldSelector(Vec<(String, String, bool)>);

impl FieldSelector {
    pub fn parse(s: &str, info: &ResourceInfo) -> Result<Self, String> {
        let mut out = vec![];
        for part in s.split(',') {
            let p = part.trim();
            if p.is_empty() {
                continue;
            }
            let (field, value, eq) = if let Some((f, v)) = p.split_once("!=") {
                (f, v, false)
            } else if let Some((f, v)) = p.split_once("==").or_else(|| p.split_once('=')) {
                (f, v, true)
            } else {
                return Err(format!("invalid selector: '{p}'; can't understand '{p}'"));
            };
            let field = field.trim();
            let ok = matches!(field, "metadata.name" | "metadata.namespace")
                || info.selectable_fields.iter().any(|f| f == field);
            if !ok {
                return Err(format!("field label not supported: {field}"));
            }
            out.push((field.to_string(), value.trim().to_string(), eq));
        }
        Ok(Self(out))
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// The single `metadata.name=X` value, if that is the whole selector (kubectl wait/delete).
    pub fn only_name(&self) -> Option<&str> {
        match self.0.as_slice() {
            [(f, v, true)] if f == "metadata.name" => Some(v),
            _ => None,
        }
    }

    pub fn matches(&self, obj: &Value) -> bool {
        self.0
            .iter()
            .all(|(f, v, eq)| (field_value(obj, f) == *v) == *eq)
    }
}

/// The string value of a selectable field; missing fields are "" (so `x=` matches them).
fn field_value(obj: &Value, field: &str) -> String {
    let path = if field == "source" {
        "source.component"
    } else {
        field
    };
    let mut cur = obj;
    for seg in path.split('.') {
        match cur.get(seg) {
            Some(v) => cur = v,
            None => return String::new(),
        }
    }
    match cur {
        Value::String(s) => s.clone(),
        Value::Null => String::new(),
        other => other.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn label_selector_syntax() {
        let l = json!({"a": "b", "c": "d"});
        let m = l.as_object();
        for (sel, want) in [
            ("a=b,c!=d", false),
            ("a=b", true),
            ("a in (b,x)", true),
            ("a notin (b)", false),
            ("a,!c", false),
            ("a,!e", true),
            ("a==b", true),
        ] {
            assert_eq!(
                LabelSelector::parse(sel)
                    .expect("selector parses")
                    .matches(m),
                want,
                "{sel}"
            );
        }
    }
}
