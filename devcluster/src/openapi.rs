//! OpenAPI v3: the index (`/openapi/v3`) and one document per group/version with a path per
//! kind (GET and PATCH operations, the `fieldValidation` parameter and the GVK extension) and
//! component schemas: k8s-openapi's for built-ins, the CRD's openAPIV3Schema for custom kinds.
//! Strategic merge patch is deliberately not advertised (the schemas lack patch-merge-keys).

use std::collections::BTreeSet;

use serde_json::{Map, Value, json};

use crate::registry::{Registry, ResourceInfo};

fn gv_path(group: &str, version: &str) -> String {
    if group.is_empty() {
        format!("api/{version}")
    } else {
        format!("apis/{group}/{version}")
    }
}

pub fn index(reg: &Registry) -> Value {
    let mut paths = Map::new();
    let mut gvs: BTreeSet<(String, String)> = BTreeSet::new();
    for r in reg.resources.values() {
        gvs.insert((r.group.clone(), r.version.clone()));
    }
    for (g, v) in gvs {
        let p = gv_path(&g, &v);
        let hash = format!(
            "{:016X}",
            reg.generation.wrapping_mul(0x9E37_79B9_7F4A_7C15) ^ fxhash(&p)
        );
        paths.insert(
            p.clone(),
            json!({"serverRelativeURL": format!("/openapi/v3/{p}?hash={hash}")}),
        );
    }
    json!({"paths": paths})
}

fn fxhash(s: &str) -> u64 {
    s.bytes().fold(0xcbf2_9ce4_8422_2325u64, |h, b| {
        (h ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3)
    })
}

fn object_meta_ref() -> Value {
    json!({"$ref": "#/components/schemas/io.k8s.apimachinery.pkg.apis.meta.v1.ObjectMeta",
        "description": "Standard object's metadata."})
}

fn crd_component(r: &ResourceInfo) -> Value {
    let mut s = r
        .crd_schema
        .clone()
        .unwrap_or_else(|| json!({"type": "object", "x-kubernetes-preserve-unknown-fields": true}));
    if let Value::Object(m) = &mut s {
        let props = m.entry("properties").or_insert_with(|| json!({}));
        if let Value::Object(p) = props {
            p.insert("apiVersion".into(), json!({"type": "string", "description": "APIVersion defines the versioned schema of this representation of an object."}));
            p.insert("kind".into(), json!({"type": "string", "description": "Kind is a string value representing the REST resource this object represents."}));
            p.insert("metadata".into(), object_meta_ref());
        }
    }
    s
}

fn collect_refs(v: &Value, out: &mut BTreeSet<String>) {
    match v {
        Value::Object(m) => {
            if let Some(r) = m
                .get("$ref")
                .and_then(Value::as_str)
                .and_then(|r| r.rsplit('/').next())
            {
                out.insert(r.to_string());
            }
            m.values().for_each(|c| collect_refs(c, out));
        }
        Value::Array(a) => a.iter().for_each(|c| collect_refs(c, out)),
        _ => {}
    }
}

pub fn document(reg: &Registry, group: &str, version: &str) -> Option<Value> {
    let res = reg.in_group_version(group, version);
    if res.is_empty() {
        return None;
    }
    let mut schemas = Map::new();
    let mut paths = Map::new();
    for r in &res {
        let mut comp = if r.builtin {
            reg.builtin_schemas
                .get(&r.schema_name)
                .cloned()
                .unwrap_or_else(|| json!({"type": "object"}))
        } else {
            crd_component(r)
        };
        comp["x-kubernetes-group-version-kind"] =
            json!([{"group": r.group, "version": r.version, "kind": r.kind}]);
        schemas.insert(r.schema_name.clone(), comp);
        let base = if r.group.is_empty() {
            format!("/api/{}", r.version)
        } else {
            format!("/apis/{}/{}", r.group, r.version)
        };
        let item = if r.namespaced {
            format!("{base}/namespaces/{{namespace}}/{}/{{name}}", r.plural)
        } else {
            format!("{base}/{}/{{name}}", r.plural)
        };
        let reference = json!({"$ref": format!("#/components/schemas/{}", r.schema_name)});
        let gvk = json!({"group": r.group, "version": r.version, "kind": r.kind});
        let q = |n: &str| json!({"name": n, "in": "query", "schema": {"type": "string", "uniqueItems": true}});
        let body_types = [
            "application/json-patch+json",
            "application/merge-patch+json",
            "application/apply-patch+yaml",
        ];
        let content: Map<String, Value> = body_types
            .iter()
            .map(|t| (t.to_string(), json!({"schema": {"type": "object"}})))
            .collect();
        paths.insert(
            item,
            json!({
                "get": {"operationId": format!("read{}", r.kind), "x-kubernetes-action": "get",
                    "x-kubernetes-group-version-kind": gvk,
                    "responses": {"200": {"description": "OK", "content": {"application/json": {"schema": reference}}}}},
                "patch": {"operationId": format!("patch{}", r.kind), "x-kubernetes-action": "patch",
                    "x-kubernetes-group-version-kind": gvk,
                    "parameters": [q("dryRun"), q("fieldManager"), q("fieldValidation"), q("force")],
                    "requestBody": {"content": content, "required": true},
                    "responses": {"200": {"description": "OK", "content": {"application/json": {"schema": reference}}}}},
                "parameters": [{"name": "name", "in": "path", "required": true, "schema": {"type": "string"}}]
            }),
        );
    }
    // Pull in every component the kinds refer to, transitively.
    let mut wanted: BTreeSet<String> = BTreeSet::new();
    schemas.values().for_each(|s| collect_refs(s, &mut wanted));
    let mut queue: Vec<String> = wanted.iter().cloned().collect();
    while let Some(n) = queue.pop() {
        if schemas.contains_key(&n) {
            continue;
        }
        if let Some(s) = reg.builtin_schemas.get(&n) {
            let mut refs = BTreeSet::new();
            collect_refs(s, &mut refs);
            schemas.insert(n, s.clone());
            queue.extend(refs.into_iter().filter(|r| !schemas.contains_key(r)));
        }
    }
    Some(
        json!({"openapi": "3.0.0", "info": {"title": "Kubernetes", "version": crate::SERVER_GIT_VERSION},
        "paths": paths, "components": {"schemas": schemas}}),
    )
}
