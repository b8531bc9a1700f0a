//! Discovery documents: legacy (`APIVersions`, `APIGroupList`, `APIResourceList`, `APIGroup`)
//! and aggregated v2 (`APIGroupDiscoveryList`, only when the Accept header asks for it).

use serde_json::{Value, json};

use crate::registry::{Registry, ResourceInfo};

pub const AGGREGATED_CT: &str =
    "application/json;g=apidiscovery.k8s.io;v=v2;as=APIGroupDiscoveryList";

const VERBS: &[&str] = &[
    "create",
    "delete",
    "deletecollection",
    "get",
    "list",
    "patch",
    "update",
    "watch",
];

pub fn wants_aggregated(accept: &str) -> bool {
    accept.contains("as=APIGroupDiscoveryList") && accept.contains("v=v2")
}

pub fn api_versions(addr: &str) -> Value {
    json!({"kind": "APIVersions", "versions": ["v1"],
        "serverAddressByClientCIDRs": [{"clientCIDR": "0.0.0.0/0", "serverAddress": addr}]})
}

fn group_doc(name: &str, versions: &[String]) -> Value {
    let vs: Vec<Value> = versions
        .iter()
        .map(|v| json!({"groupVersion": format!("{name}/{v}"), "version": v}))
        .collect();
    json!({"name": name, "versions": vs, "preferredVersion": vs.first().cloned().unwrap_or(Value::Null)})
}

pub fn api_group_list(reg: &Registry) -> Value {
    let groups: Vec<Value> = reg
        .groups()
        .iter()
        .map(|(g, vs)| group_doc(g, vs))
        .collect();
    json!({"kind": "APIGroupList", "apiVersion": "v1", "groups": groups})
}

pub fn api_group(reg: &Registry, group: &str) -> Option<Value> {
    let groups = reg.groups();
    let vs = groups.get(group)?;
    let mut d = group_doc(group, vs);
    d["kind"] = json!("APIGroup");
    d["apiVersion"] = json!("v1");
    Some(d)
}

fn sub_verbs(sub: &str) -> Vec<&'static str> {
    match sub {
        "binding" | "eviction" => vec!["create"],
        "log" => vec!["get"],
        "finalize" => vec!["update"],
        _ => vec!["get", "patch", "update"],
    }
}

fn sub_kind<'a>(r: &'a ResourceInfo, sub: &str) -> (&'static str, &'static str, &'a str) {
    match sub {
        "binding" => ("", "v1", "Binding"),
        "eviction" => ("policy", "v1", "Eviction"),
        _ => ("", "", r.kind.as_str()),
    }
}

pub fn resource_list(reg: &Registry, group: &str, version: &str) -> Option<Value> {
    let res = reg.in_group_version(group, version);
    let gv = if group.is_empty() {
        version.to_string()
    } else {
        format!("{group}/{version}")
    };
    let extra: Vec<&crate::ExtraResource> =
        reg.extra.iter().filter(|e| e.group_version == gv).collect();
    if res.is_empty() && extra.is_empty() {
        return None;
    }
    let mut out = vec![];
    for r in &res {
        let mut e = json!({"name": r.plural, "singularName": r.singular, "namespaced": r.namespaced,
            "kind": r.kind, "verbs": VERBS});
        if !r.short_names.is_empty() {
            e["shortNames"] = json!(r.short_names);
        }
        if !r.categories.is_empty() {
            e["categories"] = json!(r.categories);
        }
        out.push(e);
        for s in &r.subresources {
            let (g, v, k) = sub_kind(r, s);
            let mut e = json!({"name": format!("{}/{s}", r.plural), "singularName": "", "namespaced": r.namespaced,
                "kind": k, "verbs": sub_verbs(s)});
            if !v.is_empty() {
                e["group"] = json!(g);
                e["version"] = json!(v);
            }
            out.push(e);
        }
    }
    for e in extra {
        out.push(json!({"name": e.plural, "singularName": e.kind.to_lowercase(), "namespaced": e.namespaced,
            "kind": e.kind, "verbs": e.verbs}));
    }
    Some(
        json!({"kind": "APIResourceList", "apiVersion": "v1", "groupVersion": gv, "resources": out}),
    )
}

fn aggregated_version(reg: &Registry, group: &str, version: &str) -> Value {
    let mut resources = vec![];
    for r in reg.in_group_version(group, version) {
        let subs: Vec<Value> = r
            .subresources
            .iter()
            .map(|s| {
                let (g, v, k) = sub_kind(&r, s);
                let (g, v) = if v.is_empty() { (r.group.as_str(), r.version.as_str()) } else { (g, v) };
                json!({"subresource": s, "responseKind": {"group": g, "version": v, "kind": k}, "verbs": sub_verbs(s)})
            })
            .collect();
        let mut e = json!({"resource": r.plural, "responseKind": {"group": r.group, "version": r.version, "kind": r.kind},
            "scope": if r.namespaced { "Namespaced" } else { "Cluster" }, "singularResource": r.singular,
            "verbs": VERBS, "subresources": subs});
        if !r.short_names.is_empty() {
            e["shortNames"] = json!(r.short_names);
        }
        if !r.categories.is_empty() {
            e["categories"] = json!(r.categories);
        }
        resources.push(e);
    }
    let gv = if group.is_empty() {
        version.to_string()
    } else {
        format!("{group}/{version}")
    };
    for e in reg.extra.iter().filter(|e| e.group_version == gv) {
        resources.push(json!({"resource": e.plural, "responseKind": {"group": group, "version": version, "kind": e.kind},
            "scope": if e.namespaced { "Namespaced" } else { "Cluster" }, "singularResource": e.kind.to_lowercase(),
            "verbs": e.verbs}));
    }
    json!({"version": version, "resources": resources, "freshness": "Current"})
}

pub fn aggregated(reg: &Registry, core: bool) -> Value {
    let items: Vec<Value> = if core {
        vec![json!({"metadata": {"name": ""}, "versions": [aggregated_version(reg, "", "v1")]})]
    } else {
        reg.groups()
            .iter()
            .map(|(g, vs)| {
                let versions: Vec<Value> =
                    vs.iter().map(|v| aggregated_version(reg, g, v)).collect();
                json!({"metadata": {"name": g}, "versions": versions})
            })
            .collect()
    };
    json!({"kind": "APIGroupDiscoveryList", "apiVersion": "apidiscovery.k8s.io/v2", "metadata": {}, "items": items})
}
