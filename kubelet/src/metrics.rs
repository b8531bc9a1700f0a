//! `metrics.k8s.io/v1beta1` NodeMetrics and PodMetrics, the shapes metrics-server serves and
//! `kubectl top` reads.
//!
//! The kubelet keeps the latest samples in a [`MetricsStore`]; [`MetricsStore::router`] serves
//! them read-only through the devcluster's extension hook (`DevClusterBuilder::extension`), so
//! samples cost no API writes. This module owns the store, the object shapes and the routes.

use std::collections::BTreeMap;
use std::sync::{Arc, RwLock};

use axum::extract::{Path, RawQuery};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use serde_json::{Value, json};

use super::usage::{Demand, NodeUsage};
use devcluster::quantity;

pub const GROUP: &str = "metrics.k8s.io";
pub const VERSION: &str = "v1beta1";
/// How long a sample is said to cover (`window`).
pub const WINDOW: &str = "10s";

fn usage_quantities(cpu: f64, memory: f64) -> Value {
    json!({"cpu": quantity::cpu(cpu), "memory": quantity::bytes((memory / 1024.0).round() * 1024.0)})
}

/// NodeMetrics for `node` at `timestamp`.
pub fn node_metrics(node: &str, usage: &NodeUsage, timestamp: &str) -> Value {
    json!({
        "kind": "NodeMetrics",
        "apiVersion": format!("{GROUP}/{VERSION}"),
        "metadata": {"name": node, "creationTimestamp": timestamp,
                     "labels": {crds::labels::MANAGED_BY: crds::labels::MANAGED_BY_VALUE}},
        "timestamp": timestamp,
        "window": WINDOW,
        "usage": usage_quantities(usage.cpu, usage.memory),
    })
}

/// PodMetrics for a running pod: each container uses what it requested.
pub fn pod_metrics(pod: &Value, gpu_memory: f64, timestamp: &str) -> Value {
    let containers: Vec<Value> = pod
        .pointer("/spec/containers")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .map(|c| {
            let Demand { cpu, memory, .. } = super::usage::container_demand(c, gpu_memory);
            json!({"name": c.get("name").cloned().unwrap_or(Value::Null), "usage": usage_quantities(cpu, memory)})
        })
        .collect();
    json!({
        "kind": "PodMetrics",
        "apiVersion": format!("{GROUP}/{VERSION}"),
        "metadata": {
            "name": pod.pointer("/metadata/name").cloned().unwrap_or(Value::Null),
            "namespace": pod.pointer("/metadata/namespace").cloned().unwrap_or(Value::Null),
            "creationTimestamp": timestamp,
            "labels": pod.pointer("/metadata/labels").cloned().unwrap_or_else(|| json!({})),
        },
        "timestamp": timestamp,
        "window": WINDOW,
        "containers": containers,
    })
}

#[derive(Default)]
struct Samples {
    nodes: BTreeMap<String, Value>,
    /// Keyed by (namespace, name).
    pods: BTreeMap<(String, String), Value>,
}

/// The latest NodeMetrics and PodMetrics; cheap to clone (shared).
#[derive(Clone, Default)]
pub struct MetricsStore(Arc<RwLock<Samples>>);

impl MetricsStore {
    fn read(&self) -> std::sync::RwLockReadGuard<'_, Samples> {
        // Writers only insert or remove whole entries, so a poisoned lock holds consistent data.
        self.0.read().unwrap_or_else(|e| e.into_inner())
    }
    fn write(&self) -> std::sync::RwLockWriteGuard<'_, Samples> {
        self.0.write().unwrap_or_else(|e| e.into_inner())
    }
    pub fn put_node(&self, name: &str, metrics: Value) {
        self.write().nodes.insert(name.to_string(), metrics);
    }
    pub fn put_pod(&self, namespace: &str, name: &str, metrics: Value) {
        self.write()
            .pods
            .insert((namespace.to_string(), name.to_string()), metrics);
    }
    pub fn remove_pod(&self, namespace: &str, name: &str) {
        self.write()
            .pods
            .remove(&(namespace.to_string(), name.to_string()));
    }
    pub fn node(&self, name: &str) -> Option<Value> {
        self.read().nodes.get(name).cloned()
    }
    pub fn pod(&self, namespace: &str, name: &str) -> Option<Value> {
        self.read()
            .pods
            .get(&(namespace.to_string(), name.to_string()))
            .cloned()
    }

    /// Discovery entries for `DevClusterBuilder::extension`.
    pub fn resources() -> Vec<devcluster::ExtraResource> {
        let res = |plural: &str, kind: &str, namespaced: bool| devcluster::ExtraResource {
            group_version: format!("{GROUP}/{VERSION}"),
            plural: plural.into(),
            kind: kind.into(),
            namespaced,
            verbs: vec!["get".into(), "list".into()],
        };
        vec![
            res("nodes", "NodeMetrics", false),
            res("pods", "PodMetrics", true),
        ]
    }

    /// Read-only routes under `/apis/metrics.k8s.io/v1beta1`.
    pub fn router(&self) -> axum::Router {
        let base = format!("/apis/{GROUP}/{VERSION}");
        let s = self.clone();
        let node_list = move |RawQuery(q): RawQuery| {
            let s = s.clone();
            async move { list("NodeMetricsList", s.read().nodes.values(), q.as_deref()) }
        };
        let s = self.clone();
        let node_get = move |Path(name): Path<String>| {
            let s = s.clone();
            async move { found(s.node(&name), "nodes", &name) }
        };
        let s = self.clone();
        let pod_list = move |RawQuery(q): RawQuery| {
            let s = s.clone();
            async move { list("PodMetricsList", s.read().pods.values(), q.as_deref()) }
        };
        let s = self.clone();
        let ns_pod_list = move |Path(ns): Path<String>, RawQuery(q): RawQuery| {
            let s = s.clone();
            async move {
                let samples = s.read();
                list(
                    "PodMetricsList",
                    samples
                        .pods
                        .iter()
                        .filter(|((n, _), _)| *n == ns)
                        .map(|(_, v)| v),
                    q.as_deref(),
                )
            }
        };
        let s = self.clone();
        let pod_get = move |Path((ns, name)): Path<(String, String)>| {
            let s = s.clone();
            async move { found(s.pod(&ns, &name), "pods", &name) }
        };
        axum::Router::new()
            .route(&format!("{base}/nodes"), get(node_list))
            .route(&format!("{base}/nodes/{{name}}"), get(node_get))
            .route(&format!("{base}/pods"), get(pod_list))
            .route(&format!("{base}/namespaces/{{ns}}/pods"), get(ns_pod_list))
            .route(
                &format!("{base}/namespaces/{{ns}}/pods/{{name}}"),
                get(pod_get),
            )
    }
}

/// Equality-based label selector (`a=b,c!=d,e`), which is what `kubectl top -l` sends.
fn matches_selector(obj: &Value, selector: &str) -> bool {
    let labels = obj.pointer("/metadata/labels");
    let label = |k: &str| labels.and_then(|l| l.get(k)).and_then(Value::as_str);
    selector
        .split(',')
        .map(str::trim)
        .filter(|t| !t.is_empty())
        .all(|term| {
            if let Some((k, v)) = term.split_once("!=") {
                label(k.trim()) != Some(v.trim())
            } else if let Some((k, v)) = term.split_once('=') {
                label(k.trim()) == Some(v.trim_start_matches('=').trim())
            } else if let Some(k) = term.strip_prefix('!') {
                label(k.trim()).is_none()
            } else {
                label(term).is_some()
            }
        })
}

fn label_selector(query: Option<&str>) -> String {
    let Some(q) = query else { return String::new() };
    q.split('&')
        .filter_map(|kv| kv.split_once('='))
        .find(|(k, _)| *k == "labelSelector")
        .map(|(_, v)| percent_decode(v))
        .unwrap_or_default()
}

fn percent_decode(s: &str) -> String {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'%' => match s
                .get(i + 1..i + 3)
                .and_then(|h| u8::from_str_radix(h, 16).ok())
            {
                Some(b) => {
                    out.push(b);
                    i += 3;
                    continue;
                }
                None => out.push(b'%'),
            },
            b'+' => out.push(b' '),
            b => out.push(b),
        }
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

fn list<'a>(kind: &str, items: impl Iterator<Item = &'a Value>, query: Option<&str>) -> Response {
    let selector = label_selector(query);
    let items: Vec<&Value> = items.filter(|v| matches_selector(v, &selector)).collect();
    let body = json!({"kind": kind, "apiVersion": format!("{GROUP}/{VERSION}"), "metadata": {}, "items": items});
    (
        StatusCode::OK,
        [("content-type", "application/json")],
        body.to_string(),
    )
        .into_response()
}

fn found(item: Option<Value>, plural: &str, name: &str) -> Response {
    match item {
        Some(v) => (
            StatusCode::OK,
            [("content-type", "application/json")],
            v.to_string(),
        )
            .into_response(),
        None => {
            let status = json!({"kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Failure",
                "message": format!("{plural}.{GROUP} \"{name}\" not found"), "reason": "NotFound",
                "details": {"name": name, "group": GROUP, "kind": plural}, "code": 404});
            (
                StatusCode::NOT_FOUND,
                [("content-type", "application/json")],
                status.to_string(),
            )
                .into_response()
        }
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::super::spec::Usage;
    use super::*;

    #[test]
    fn metrics_objects_have_metrics_server_shape() {
        let u = NodeUsage {
            cpu: 9.6,
            memory: 1024f64.powi(3),
            fractions: Usage::default(),
        };
        let m = node_metrics("n0", &u, "2026-01-01T00:00:00Z");
        assert_eq!(m["usage"]["cpu"], "9600m");
        assert_eq!(m["usage"]["memory"], "1Gi");
        assert_eq!(m["window"], WINDOW);
        let pod = json!({"metadata": {"name": "p", "namespace": "ns"},
            "spec": {"containers": [{"name": "main", "resources": {"requests": {"cpu": "2", "memory": "512Mi"}}}]}});
        let pm = pod_metrics(&pod, 0.0, "t");
        assert_eq!(pm["metadata"]["namespace"], "ns");
        assert_eq!(pm["containers"][0]["usage"]["cpu"], "2");
        assert_eq!(pm["containers"][0]["usage"]["memory"], "512Mi");
    }

    #[test]
    fn selectors_filter_by_labels() {
        let obj = json!({"metadata": {"labels": {"app": "web", "tier": "a"}}});
        assert!(matches_selector(&obj, ""));
        assert!(matches_selector(&obj, "app=web"));
        assert!(matches_selector(&obj, "app==web,tier"));
        assert!(!matches_selector(&obj, "app!=web"));
        assert!(!matches_selector(&obj, "!tier"));
        assert_eq!(
            label_selector(Some("limit=5&labelSelector=app%3Dweb")),
            "app=web"
        );
    }

    #[test]
    fn store_keeps_latest_samples() {
        let store = MetricsStore::default();
        store.put_pod("ns", "p", json!({"x": 1}));
        store.put_pod("ns", "p", json!({"x": 2}));
        assert_eq!(store.pod("ns", "p"), Some(json!({"x": 2})));
        store.remove_pod("ns", "p");
        assert_eq!(store.pod("ns", "p"), None);
        assert_eq!(MetricsStore::resources().len(), 2);
    }
}
