//! Shared helpers for the in-process tests: a cluster state like `basalt up`'s (4 nodes × 8
//! GPUs), AdmissionReview builders, and a oneshot call of the real router.

#![allow(dead_code)]

use std::sync::Arc;

use axum::body::Body;
use axum::http::{Request, StatusCode};
use crds::{Queue, QueueSpec, QueueState, QueueStatus};
use http_body_util::BodyExt;
use k8s_openapi::apimachinery::pkg::api::resource::Quantity;
use serde_json::{Value, json};
use tower::ServiceExt;
use webhooks::{InMemoryState, WebhookState, router};

pub fn list(kv: &[(&str, &str)]) -> crds::ResourceList {
    kv.iter()
        .map(|(k, v)| (k.to_string(), Quantity(v.to_string())))
        .collect()
}

pub fn queue_from(value: Value) -> Queue {
    serde_json::from_value(value).expect("queue json")
}

/// root, default, team-a (capability 20 GPUs), closed, parent (with child `child`),
/// and 4 nodes of 8 GPUs / 64 CPUs / 512Gi.
pub fn cluster() -> Arc<InMemoryState> {
    let s = InMemoryState::with_default_queues();
    s.put_queue(webhooks::state::queue(
        "team-a",
        QueueSpec {
            capability: Some(list(&[("nvidia.com/gpu", "20")])),
            ..Default::default()
        },
    ));
    let mut closed = webhooks::state::queue("closed", QueueSpec::default());
    closed.status = Some(QueueStatus {
        state: Some(QueueState::Closed),
        ..Default::default()
    });
    s.put_queue(closed);
    s.put_queue(webhooks::state::queue(
        "parent",
        QueueSpec {
            capability: Some(list(&[("nvidia.com/gpu", "16")])),
            guarantee: Some(crds::queue::Guarantee {
                resource: Some(list(&[("nvidia.com/gpu", "8")])),
            }),
            deserved: Some(list(&[("nvidia.com/gpu", "16")])),
            ..Default::default()
        },
    ));
    s.put_queue(webhooks::state::queue(
        "child",
        QueueSpec {
            parent: Some("parent".into()),
            capability: Some(list(&[("nvidia.com/gpu", "12")])),
            guarantee: Some(crds::queue::Guarantee {
                resource: Some(list(&[("nvidia.com/gpu", "4")])),
            }),
            deserved: Some(list(&[("nvidia.com/gpu", "8")])),
            ..Default::default()
        },
    ));
    for i in 0..4 {
        s.put_node(
            &format!("gpu-{i}"),
            list(&[
                ("cpu", "64"),
                ("memory", "512Gi"),
                ("nvidia.com/gpu", "8"),
                ("pods", "110"),
            ]),
        );
    }
    Arc::new(s)
}

pub fn review(kind: &str, op: &str, object: Value, old: Value) -> Value {
    let name = object
        .pointer("/metadata/name")
        .or_else(|| old.pointer("/metadata/name"))
        .cloned()
        .unwrap_or(json!(""));
    json!({
        "apiVersion": "admission.k8s.io/v1",
        "kind": "AdmissionReview",
        "request": {
            "uid": "7c1e-test",
            "kind": {"group": "", "version": "", "kind": kind},
            "name": name,
            "namespace": "default",
            "operation": op,
            "object": object,
            "oldObject": old,
        }
    })
}

/// POSTs `body` to `path` on a fresh router over `state`; returns status and body.
pub async fn post_raw(
    state: Arc<InMemoryState>,
    path: &str,
    body: Vec<u8>,
) -> (StatusCode, Vec<u8>) {
    let app = router(WebhookState::new(state));
    let req = Request::post(path)
        .header("content-type", "application/json")
        .body(Body::from(body))
        .expect("request");
    let resp = app.oneshot(req).await.expect("router is infallible");
    let status = resp.status();
    let bytes = resp
        .into_body()
        .collect()
        .await
        .expect("body")
        .to_bytes()
        .to_vec();
    (status, bytes)
}

/// The `response` of a review on `path`; asserts a 200 with a well-formed review echoing the uid.
pub async fn respond(state: Arc<InMemoryState>, path: &str, review: Value) -> Value {
    let (status, body) = post_raw(state, path, serde_json::to_vec(&review).expect("json")).await;
    assert_eq!(status, StatusCode::OK, "{}", String::from_utf8_lossy(&body));
    let v: Value = serde_json::from_slice(&body).expect("response is JSON");
    assert_eq!(v["apiVersion"], "admission.k8s.io/v1");
    assert_eq!(v["kind"], "AdmissionReview");
    assert_eq!(v["response"]["uid"], "7c1e-test");
    v["response"].clone()
}

/// Asserts the review is allowed.
pub async fn allowed(path: &str, review: Value) -> Value {
    let resp = respond(cluster(), path, review).await;
    assert_eq!(resp["allowed"], true, "expected allowed, got {resp}");
    resp
}

/// Asserts the review is denied with a message containing every fragment; returns the message.
pub async fn denied(path: &str, review: Value, fragments: &[&str]) -> String {
    denied_in(cluster(), path, review, fragments).await
}

pub async fn denied_in(
    state: Arc<InMemoryState>,
    path: &str,
    review: Value,
    fragments: &[&str],
) -> String {
    let resp = respond(state, path, review).await;
    assert_eq!(resp["allowed"], false, "expected denied, got {resp}");
    let msg = resp["status"]["message"]
        .as_str()
        .expect("message")
        .to_owned();
    for f in fragments {
        assert!(msg.contains(f), "message {msg:?} lacks {f:?}");
    }
    msg
}

/// A valid Job: task `worker` with `replicas` pods of `gpus` GPUs each.
pub fn job(name: &str, queue: &str, replicas: i32, gpus: i32) -> Value {
    json!({
        "apiVersion": "batch.volcano.sh/v1alpha1",
        "kind": "Job",
        "metadata": {"name": name, "namespace": "default"},
        "spec": {
            "queue": queue,
            "minAvailable": replicas,
            "tasks": [{
                "name": "worker",
                "replicas": replicas,
                "template": {"spec": {"containers": [{
                    "name": "worker",
                    "image": "pytorch/pytorch:2.3.0",
                    "resources": {"limits": {"nvidia.com/gpu": gpus.to_string()}}
                }]}}
            }]
        }
    })
}

pub fn queue_obj(name: &str, spec: Value) -> Value {
    json!({
        "apiVersion": "scheduling.volcano.sh/v1beta1",
        "kind": "Queue",
        "metadata": {"name": name},
        "spec": spec,
    })
}

/// Decodes the JSONPatch of a mutating response.
pub fn patch_of(resp: &Value) -> Value {
    use base64::Engine as _;
    let b64 = resp["patch"].as_str().expect("patch");
    let raw = base64::engine::general_purpose::STANDARD
        .decode(b64)
        .expect("base64");
    serde_json::from_slice(&raw).expect("json patch")
}
