//! Fuzzing entry point of the API server's write path: body decoding (JSON, YAML, protobuf
//! envelope), patch application (merge, JSON, strategic, server-side apply), validation, limits
//! and storage, driven in process through the same router as the HTTPS port.
//!
//! Used by the libFuzzer target in `fuzz/` (coverage-guided; see `docs/security.md`) and by the
//! stable, time-bounded runner `cargo run -p basalt-devcluster --release --example fuzz_api`.
//! It owns no product behaviour: it only turns bytes into requests and checks the answers.
//!
//! An input is `[operation, resource, body...]`. Oracles, beyond "nothing panics": no answer is
//! a 5xx (bad input is the client's fault: 4xx), every 2xx body is JSON that `serde_json` reads
//! back with its default recursion limit (what a restart of the data dir needs), and an object
//! a write accepted can be read back.

use axum::body::Body;
use axum::http::{Method, Request, StatusCode, header};
use serde_json::{Value, json};

use crate::{DevCluster, DevClusterHandle, Error};

/// Collection paths and a valid object for each (the target of replace and patch operations).
const RESOURCES: &[(&str, bool)] = &[
    ("/api/v1/namespaces/default/configmaps", true),
    ("/api/v1/namespaces/default/pods", true),
    ("/api/v1/namespaces", true),
    ("/apis/scheduling.volcano.sh/v1beta1/queues", false),
    (
        "/apis/batch.volcano.sh/v1alpha1/namespaces/default/jobs",
        false,
    ),
];

const SEED_NAME: &str = "fuzz-seed";

fn seed(resource: usize) -> Value {
    let meta = json!({"name": SEED_NAME, "labels": {"app": "fuzz"}});
    match resource {
        0 => json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": meta,
            "data": {"a": "1"}}),
        1 => json!({"apiVersion": "v1", "kind": "Pod", "metadata": meta,
            "spec": {"schedulerName": "nobody", "containers": [{"name": "main", "image": "busybox",
                "resources": {"requests": {"cpu": "1", "memory": "1Gi"}}}]}}),
        2 => json!({"apiVersion": "v1", "kind": "Namespace", "metadata": meta}),
        3 => json!({"apiVersion": "scheduling.volcano.sh/v1beta1", "kind": "Queue",
            "metadata": meta, "spec": {"weight": 1}}),
        _ => json!({"apiVersion": "batch.volcano.sh/v1alpha1", "kind": "Job", "metadata": meta,
            "spec": {"minAvailable": 1, "tasks": [{"name": "t", "replicas": 1,
                "template": {"spec": {"containers": [{"name": "c", "image": "x"}]}}}]}}),
    }
}

/// What one input does.
#[derive(Debug, Clone, Copy)]
enum Op {
    Create(&'static str),
    Replace,
    Patch(&'static str),
}

const OPS: &[Op] = &[
    Op::Create("application/json"),
    Op::Create("application/yaml"),
    Op::Create("application/vnd.kubernetes.protobuf"),
    Op::Replace,
    Op::Patch("application/merge-patch+json"),
    Op::Patch("application/json-patch+json"),
    Op::Patch("application/strategic-merge-patch+json"),
    Op::Patch("application/apply-patch+yaml"),
];

/// A dev API server kept for many inputs, with its own single-threaded runtime.
pub struct Target {
    runtime: tokio::runtime::Runtime,
    handle: DevClusterHandle,
}

impl Target {
    /// Starts an in-memory API server with Basalt's CRDs.
    pub fn new() -> Result<Self, Error> {
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .map_err(|source| Error::Bind {
                addr: "runtime".into(),
                source,
            })?;
        let mut builder = DevCluster::builder();
        for crd in crds::crd::all() {
            builder =
                builder.crd(serde_json::to_value(&crd).map_err(|e| Error::Crd(e.to_string()))?);
        }
        let handle = runtime.block_on(builder.start())?;
        Ok(Self { runtime, handle })
    }

    /// Runs one input; panics (the fuzzer's signal) when an oracle fails.
    pub fn run(&self, data: &[u8]) {
        if data.len() < 2 {
            return;
        }
        let op = OPS[usize::from(data[0]) % OPS.len()];
        let resource = usize::from(data[1]) % RESOURCES.len();
        let body = data[2..].to_vec();
        self.runtime.block_on(self.one(op, resource, body));
    }

    async fn one(&self, op: Op, resource: usize, body: Vec<u8>) {
        let (collection, builtin) = RESOURCES[resource];
        match op {
            Op::Create(ct) => {
                let (status, answer) = self.send(Method::POST, collection, ct, body).await;
                if status.is_success() {
                    self.read_back_and_delete(collection, &answer).await;
                }
            }
            Op::Replace | Op::Patch(_) => {
                let seed = serde_json::to_vec(&seed(resource)).unwrap_or_default();
                let (status, _) = self
                    .send(Method::POST, collection, "application/json", seed)
                    .await;
                assert!(
                    status.is_success() || status == StatusCode::CONFLICT,
                    "the seed object of {collection} was refused: {status}"
                );
                let path = format!("{collection}/{SEED_NAME}");
                let (method, ct, path) = match op {
                    Op::Patch(ct @ "application/apply-patch+yaml") => {
                        (Method::PATCH, ct, format!("{path}?fieldManager=fuzz"))
                    }
                    Op::Patch("application/strategic-merge-patch+json") if !builtin => {
                        (Method::PATCH, "application/merge-patch+json", path)
                    }
                    Op::Patch(ct) => (Method::PATCH, ct, path),
                    _ => (Method::PUT, "application/json", path),
                };
                let (status, answer) = self.send(method, &path, ct, body).await;
                if status.is_success() {
                    self.read_back_and_delete(collection, &answer).await;
                } else {
                    self.delete(&format!("{collection}/{SEED_NAME}")).await;
                }
            }
        }
    }

    /// Reads the object a write answered with back from the server, then deletes it so that
    /// memory stays flat over millions of inputs.
    async fn read_back_and_delete(&self, collection: &str, answer: &[u8]) {
        let written: Value = serde_json::from_slice(answer).unwrap_or(Value::Null);
        let Some(name) = written.pointer("/metadata/name").and_then(Value::as_str) else {
            panic!(
                "a 2xx write answered without metadata.name: {}",
                String::from_utf8_lossy(answer)
            );
        };
        // Names are DNS-1123 once accepted; one that is not fails the read back, as it should.
        let path = format!("{collection}/{name}");
        let (status, _) = self.send(Method::GET, &path, "", vec![]).await;
        // An object already being deleted (a namespace that is finalizing) may be gone by now.
        let deleting = written.pointer("/metadata/deletionTimestamp").is_some();
        assert!(
            status == StatusCode::OK || deleting && status == StatusCode::NOT_FOUND,
            "{path} was accepted but cannot be read back: {status}"
        );
        self.delete(&path).await;
    }

    async fn delete(&self, path: &str) {
        let _ = self.send(Method::DELETE, path, "", vec![]).await;
    }

    /// Sends one request; asserts the answer is not a 5xx and that a 2xx body is readable JSON.
    async fn send(
        &self,
        method: Method,
        path: &str,
        ct: &str,
        body: Vec<u8>,
    ) -> (StatusCode, Vec<u8>) {
        let mut req = Request::builder().method(method.clone()).uri(path).header(
            header::AUTHORIZATION,
            format!("Bearer {}", self.handle.token()),
        );
        if !ct.is_empty() {
            req = req.header(header::CONTENT_TYPE, ct);
        }
        let Ok(req) = req.body(Body::from(body)) else {
            return (StatusCode::BAD_REQUEST, vec![]);
        };
        let response = self.handle.request(req).await;
        let status = response.status();
        let bytes = axum::body::to_bytes(response.into_body(), usize::MAX)
            .await
            .map(|b| b.to_vec())
            .unwrap_or_default();
        assert!(
            !status.is_server_error(),
            "{method} {path} answered {status}: {}",
            String::from_utf8_lossy(&bytes)
        );
        if status.is_success()
            && let Err(e) = serde_json::from_slice::<Value>(&bytes)
        {
            panic!(
                "{method} {path} answered {status} with a body serde_json cannot read back: {e}"
            );
        }
        (status, bytes)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Every operation on every resource with its seed object as the body meets the oracles
    /// (the fuzzer's corpus starts from such inputs), and creates really store objects.
    #[test]
    fn seed_inputs_meet_the_oracles() {
        let target = Target::new().expect("dev cluster");
        for op in 0..OPS.len() {
            for resource in 0..RESOURCES.len() {
                let mut input = vec![op as u8, resource as u8];
                input.extend(serde_json::to_vec(&seed(resource)).expect("seed"));
                target.run(&input);
            }
        }
        let created = target.runtime.block_on(target.send(
            Method::POST,
            RESOURCES[0].0,
            "application/json",
            serde_json::to_vec(&seed(0)).expect("seed"),
        ));
        assert_eq!(created.0, StatusCode::CREATED);
    }
}
