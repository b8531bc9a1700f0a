//! Server-side printing (`Accept: application/json;as=Table;g=meta.k8s.io;v=v1`): column
//! definitions and cells for built-in kinds, and a CRD's additionalPrinterColumns (JSONPath).

use serde_json::{Value, json};

use crate::registry::ResourceInfo;
use crate::util::{get_path, get_str, human_age, now_secs, parse_rfc3339};

pub const TABLE_CT: &str = "application/json;as=Table;v=v1;g=meta.k8s.io";

pub fn wants_table(accept: &str) -> bool {
    accept
        .split(',')
        .next()
        .is_some_and(|first| first.contains("as=Table"))
}

struct Col {
    name: &'static str,
    kind: &'static str,
    priority: i64,
}

const fn c(name: &'static str, kind: &'static str, priority: i64) -> Col {
    Col {
        name,
        kind,
        priority,
    }
}

fn age(obj: &Value) -> String {
    get_str(obj, &["metadata", "creationTimestamp"])
        .and_then(parse_rfc3339)
        .map(|t| human_age(now_secs() - t))
        .unwrap_or_else(|| "<unknown>".into())
}

fn s(v: Option<&str>) -> Value {
    json!(v.filter(|x| !x.is_empty()).unwrap_or("<none>"))
}

fn len_of(v: Option<&Value>) -> usize {
    match v {
        Some(Value::Object(m)) => m.len(),
        Some(Value::Array(a)) => a.len(),
        _ => 0,
    }
}

fn pod_cells(p: &Value) -> Vec<Value> {
    let total = len_of(get_path(p, &["spec", "containers"]));
    let statuses = get_path(p, &["status", "containerStatuses"]).and_then(Value::as_array);
    let ready = statuses.map_or(0, |a| {
        a.iter()
            .filter(|c| c.get("ready") == Some(&json!(true)))
            .count()
    });
    let restarts: i64 = statuses.map_or(0, |a| {
        a.iter()
            .filter_map(|c| c.get("restartCount")?.as_i64())
            .sum()
    });
    let mut status = get_str(p, &["status", "reason"])
        .or(get_str(p, &["status", "phase"]))
        .unwrap_or("Pending")
        .to_string();
    if let Some(a) = statuses {
        for cs in a {
            if let Some(r) = get_str(cs, &["state", "waiting", "reason"])
                .or(get_str(cs, &["state", "terminated", "reason"]))
            {
                status = r.to_string();
            }
        }
    }
    if crate::util::is_terminating(p) {
        status = "Terminating".into();
    }
    vec![
        json!(format!("{ready}/{total}")),
        json!(status),
        json!(restarts),
        json!(age(p)),
        s(get_str(p, &["status", "podIP"])),
        s(get_str(p, &["spec", "nodeName"])),
        s(get_str(p, &["status", "nominatedNodeName"])),
    ]
}

fn node_cells(n: &Value) -> Vec<Value> {
    let ready = get_path(n, &["status", "conditions"])
        .and_then(Value::as_array)
        .and_then(|cs| {
            cs.iter()
                .find(|c| c.get("type") == Some(&json!("Ready")))
                .map(|c| c.get("status") == Some(&json!("True")))
        });
    let mut status = match ready {
        Some(true) => "Ready".to_string(),
        Some(false) => "NotReady".to_string(),
        None => "Unknown".to_string(),
    };
    if get_path(n, &["spec", "unschedulable"]) == Some(&json!(true)) {
        status.push_str(",SchedulingDisabled");
    }
    let roles: Vec<&str> = get_path(n, &["metadata", "labels"])
        .and_then(Value::as_object)
        .map(|l| {
            l.keys()
                .filter_map(|k| k.strip_prefix("node-role.kubernetes.io/"))
                .collect()
        })
        .unwrap_or_default();
    vec![
        json!(status),
        json!(if roles.is_empty() {
            "<none>".to_string()
        } else {
            roles.join(",")
        }),
        json!(age(n)),
        s(get_str(n, &["status", "nodeInfo", "kubeletVersion"])),
    ]
}

fn builtin(info: &ResourceInfo, o: &Value) -> Option<(Vec<Col>, Vec<Value>)> {
    let a = json!(age(o));
    Some(match (info.group.as_str(), info.plural.as_str()) {
        ("", "pods") => (
            vec![
                c("Ready", "string", 0),
                c("Status", "string", 0),
                c("Restarts", "string", 0),
                c("Age", "string", 0),
                c("IP", "string", 1),
                c("Node", "string", 1),
                c("Nominated Node", "string", 1),
            ],
            pod_cells(o),
        ),
        ("", "nodes") => (
            vec![
                c("Status", "string", 0),
                c("Roles", "string", 0),
                c("Age", "string", 0),
                c("Version", "string", 0),
            ],
            node_cells(o),
        ),
        ("", "namespaces") => (
            vec![c("Status", "string", 0), c("Age", "string", 0)],
            vec![s(get_str(o, &["status", "phase"])), a],
        ),
        ("", "configmaps") => (
            vec![c("Data", "integer", 0), c("Age", "string", 0)],
            vec![
                json!(len_of(o.get("data")) + len_of(o.get("binaryData"))),
                a,
            ],
        ),
        ("", "secrets") => (
            vec![
                c("Type", "string", 0),
                c("Data", "integer", 0),
                c("Age", "string", 0),
            ],
            vec![s(get_str(o, &["type"])), json!(len_of(o.get("data"))), a],
        ),
        ("", "services") => {
            let ports: Vec<String> = get_path(o, &["spec", "ports"])
                .and_then(Value::as_array)
                .map(|ps| {
                    ps.iter()
                        .map(|p| {
                            format!(
                                "{}/{}",
                                p.get("port").unwrap_or(&json!(0)),
                                get_str(p, &["protocol"]).unwrap_or("TCP")
                            )
                        })
                        .collect()
                })
                .unwrap_or_default();
            (
                vec![
                    c("Type", "string", 0),
                    c("Cluster-IP", "string", 0),
                    c("External-IP", "string", 0),
                    c("Port(s)", "string", 0),
                    c("Age", "string", 0),
                ],
                vec![
                    s(get_str(o, &["spec", "type"])),
                    s(get_str(o, &["spec", "clusterIP"])),
                    json!("<none>"),
                    json!(if ports.is_empty() {
                        "<none>".into()
                    } else {
                        ports.join(",")
                    }),
                    a,
                ],
            )
        }
        ("", "events") => (
            vec![
                c("Last Seen", "string", 0),
                c("Type", "string", 0),
                c("Reason", "string", 0),
                c("Object", "string", 0),
                c("Message", "string", 0),
            ],
            vec![
                json!(
                    get_str(o, &["lastTimestamp"])
                        .or(get_str(o, &["eventTime"]))
                        .and_then(parse_rfc3339)
                        .map(|t| human_age(now_secs() - t))
                        .unwrap_or_else(|| age(o))
                ),
                s(get_str(o, &["type"])),
                s(get_str(o, &["reason"])),
                json!(format!(
                    "{}/{}",
                    get_str(o, &["involvedObject", "kind"])
                        .unwrap_or("")
                        .to_lowercase(),
                    get_str(o, &["involvedObject", "name"]).unwrap_or("")
                )),
                s(get_str(o, &["message"])),
            ],
        ),
        ("apps", "deployments" | "statefulsets" | "replicasets") => {
            let want = get_path(o, &["spec", "replicas"])
                .and_then(Value::as_i64)
                .unwrap_or(1);
            let ready = get_path(o, &["status", "readyReplicas"])
                .and_then(Value::as_i64)
                .unwrap_or(0);
            (
                vec![c("Ready", "string", 0), c("Age", "string", 0)],
                vec![json!(format!("{ready}/{want}")), a],
            )
        }
        ("coordination.k8s.io", "leases") => (
            vec![c("Holder", "string", 0), c("Age", "string", 0)],
            vec![s(get_str(o, &["spec", "holderIdentity"])), a],
        ),
        ("apiextensions.k8s.io", "customresourcedefinitions") => (
            vec![c("Created At", "date", 0)],
            vec![json!(
                get_str(o, &["metadata", "creationTimestamp"]).unwrap_or("")
            )],
        ),
        ("policy", "poddisruptionbudgets") => (
            vec![
                c("Min Available", "string", 0),
                c("Max Unavailable", "string", 0),
                c("Allowed Disruptions", "integer", 0),
                c("Age", "string", 0),
            ],
            vec![
                get_path(o, &["spec", "minAvailable"])
                    .map(|v| json!(v.to_string().trim_matches('"')))
                    .unwrap_or(json!("N/A")),
                get_path(o, &["spec", "maxUnavailable"])
                    .map(|v| json!(v.to_string().trim_matches('"')))
                    .unwrap_or(json!("N/A")),
                json!(
                    get_path(o, &["status", "disruptionsAllowed"])
                        .and_then(Value::as_i64)
                        .unwrap_or(0)
                ),
                a,
            ],
        ),
        ("scheduling.k8s.io", "priorityclasses") => (
            vec![
                c("Value", "integer", 0),
                c("Global-Default", "boolean", 0),
                c("Age", "string", 0),
            ],
            vec![
                json!(o.get("value").and_then(Value::as_i64).unwrap_or(0)),
                json!(
                    o.get("globalDefault")
                        .and_then(Value::as_bool)
                        .unwrap_or(false)
                ),
                a,
            ],
        ),
        _ => return None,
    })
}

/// A tiny JSONPath subset: `.a.b`, `.a[0]`, `.a[*].b`, `.a[?(@.k=="v")].b`, and keys holding
/// dots as kubectl writes them: `.a.nvidia\.com/gpu` or `.a['nvidia.com/gpu']`.
pub fn json_path(obj: &Value, path: &str) -> Vec<Value> {
    let mut cur = vec![obj.clone()];
    let p = path
        .trim()
        .trim_start_matches('{')
        .trim_end_matches('}')
        .trim_start_matches('$');
    let mut rest = p;
    while !rest.is_empty() {
        if let Some(r) = rest.strip_prefix('.') {
            let mut key = String::new();
            let mut chars = r.char_indices();
            let mut end = r.len();
            while let Some((i, c)) = chars.next() {
                match c {
                    '\\' => key.extend(chars.next().map(|(_, c)| c)),
                    '.' | '[' => {
                        end = i;
                        break;
                    }
                    c => key.push(c),
                }
            }
            cur = cur.iter().filter_map(|v| v.get(&key).cloned()).collect();
            rest = &r[end..];
        } else if let Some(r) = rest.strip_prefix("['").or_else(|| rest.strip_prefix("[\"")) {
            let Some(end) = r.find(['\'', '"']) else {
                break;
            };
            let key = &r[..end];
            rest = r[end + 1..].strip_prefix(']').unwrap_or("");
            cur = cur.iter().filter_map(|v| v.get(key).cloned()).collect();
        } else if let Some(r) = rest.strip_prefix('[') {
            let Some(end) = r.find(']') else { break };
            let sel = &r[..end];
            rest = &r[end + 1..];
            cur = cur
                .iter()
                .flat_map(|v| {
                    let items = v.as_array().cloned().unwrap_or_default();
                    if sel == "*" {
                        items
                    } else if let Ok(i) = sel.parse::<i64>() {
                        let idx = if i < 0 { items.len() as i64 + i } else { i };
                        items.get(idx as usize).cloned().into_iter().collect()
                    } else if let Some(f) =
                        sel.strip_prefix("?(@.").and_then(|f| f.strip_suffix(')'))
                    {
                        let (k, want) = f.split_once("==").unwrap_or((f, ""));
                        let want = want.trim().trim_matches(|c| c == '"' || c == '\'');
                        items
                            .into_iter()
                            .filter(|i| {
                                i.get(k.trim()).is_some_and(|x| {
                                    x.as_str().map_or(x.to_string(), String::from) == want
                                })
                            })
                            .collect()
                    } else {
                        vec![]
                    }
                })
                .collect();
        } else {
            break;
        }
    }
    cur
}

fn cell(kind: &str, vals: Vec<Value>) -> Value {
    let Some(v) = vals.into_iter().next() else {
        return Value::Null;
    };
    if kind == "date"
        && let Some(t) = v.as_str().and_then(parse_rfc3339)
    {
        return json!(human_age(now_secs() - t));
    }
    v
}

fn partial(obj: &Value) -> Value {
    json!({"kind": "PartialObjectMetadata", "apiVersion": "meta.k8s.io/v1", "metadata": obj.get("metadata").cloned().unwrap_or(json!({}))})
}

/// Builds a Table of `objs` (already in the client's view).
pub fn table(
    info: &ResourceInfo,
    objs: &[Value],
    rv: &str,
    cont: Option<&str>,
    with_defs: bool,
) -> Value {
    let mut defs = vec![
        json!({"name": "Name", "type": "string", "format": "name", "description": "Name must be unique within a namespace.", "priority": 0}),
    ];
    let mut rows = vec![];
    if !info.builtin {
        let cols: Vec<_> = info.printer_columns.clone();
        for col in &cols {
            defs.push(json!({"name": col.name, "type": col.kind, "format": "", "description": col.description, "priority": col.priority}));
        }
        if cols.is_empty() {
            defs.push(json!({"name": "Age", "type": "date", "format": "", "description": "", "priority": 0}));
        }
        for o in objs {
            let mut cells = vec![json!(crate::util::name_of(o))];
            if cols.is_empty() {
                cells.push(json!(age(o)));
            }
            for col in &cols {
                cells.push(cell(&col.kind, json_path(o, &col.json_path)));
            }
            rows.push(json!({"cells": cells, "object": partial(o)}));
        }
    } else {
        let mut header_done = false;
        for o in objs {
            let (cols, cells) = builtin(info, o)
                .unwrap_or_else(|| (vec![c("Age", "string", 0)], vec![json!(age(o))]));
            if !header_done {
                defs.extend(cols.iter().map(|c| json!({"name": c.name, "type": c.kind, "format": "", "description": "", "priority": c.priority})));
                header_done = true;
            }
            let mut all = vec![json!(crate::util::name_of(o))];
            all.extend(cells);
            rows.push(json!({"cells": all, "object": partial(o)}));
        }
        if !header_done {
            let empty = json!({"metadata": {}});
            let cols = builtin(info, &empty)
                .map(|(c, _)| c)
                .unwrap_or_else(|| vec![c("Age", "string", 0)]);
            defs.extend(cols.iter().map(|c| json!({"name": c.name, "type": c.kind, "format": "", "description": "", "priority": c.priority})));
        }
    }
    let mut meta = json!({"resourceVersion": rv});
    if let Some(c) = cont {
        meta["continue"] = json!(c);
    }
    json!({"kind": "Table", "apiVersion": "meta.k8s.io/v1", "metadata": meta,
        "columnDefinitions": if with_defs { Value::Array(defs) } else { Value::Null }, "rows": rows})
}

#[cfg(test)]
mod tests {
    use super::json_path;
    use serde_json::json;

    #[test]
    fn json_path_reads_keys_with_dots_escaped_or_bracketed() {
        let q = json!({"status": {"allocated": {"nvidia.com/gpu": "12", "cpu": "4"}},
            "items": [{"k": "a", "v": 1}, {"k": "b", "v": 2}]});
        for path in [
            r".status.allocated.nvidia\.com/gpu",
            ".status.allocated['nvidia.com/gpu']",
            r#".status.allocated["nvidia.com/gpu"]"#,
        ] {
            assert_eq!(json_path(&q, path), vec![json!("12")], "{path}");
        }
        assert_eq!(json_path(&q, ".status.allocated.cpu"), vec![json!("4")]);
        assert_eq!(json_path(&q, r#".items[?(@.k=="b")].v"#), vec![json!(2)]);
        assert_eq!(json_path(&q, ".items[*].k"), vec![json!("a"), json!("b")]);
        assert!(json_path(&q, ".status.allocated.nvidia.com/gpu").is_empty());
    }
}
