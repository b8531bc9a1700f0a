//! Size and depth limits through real HTTPS (issue 16): a body over 3 MiB gets 413, an object
//! over 1.5 MiB gets 413, nesting deeper than 100 levels gets 422 whether it arrives in a create
//! or is grown by patches, and the server keeps serving afterwards.

mod common;

use common::start;
use k8s_openapi::api::core::v1::ConfigMap;
use kube::api::{Api, Patch, PatchParams, PostParams};
use kube::core::DynamicObject;
use kube::discovery::ApiResource;
use serde_json::{Value, json};

fn nested(levels: usize) -> Value {
    let mut v = json!(1);
    for _ in 0..levels {
        v = json!({ "a": v });
    }
    v
}

fn status_of(r: Result<impl std::fmt::Debug, kube::Error>) -> kube::core::Status {
    match r {
        Err(kube::Error::Api(s)) => *s,
        other => panic!("expected an API error, got {other:?}"),
    }
}

#[tokio::test]
async fn bodies_and_objects_over_the_limits_are_refused() -> anyhow::Result<()> {
    let (h, client) = start().await?;
    let cms: Api<ConfigMap> = Api::default_namespaced(client.clone());
    let big = |name: &str, bytes: usize| -> anyhow::Result<ConfigMap> {
        Ok(serde_json::from_value(
            json!({"metadata": {"name": name}, "data": {"blob": "x".repeat(bytes)}}),
        )?)
    };
    // 4 MiB body: 413 before it is even parsed (it was 400 before, 70 MB were read).
    let s = status_of(
        cms.create(&PostParams::default(), &big("huge", 4 << 20)?)
            .await,
    );
    assert_eq!(s.code, 413, "{}", s.message);
    assert!(s.message.contains("3 MiB"), "{}", s.message);
    // 2 MiB body: read, but too large to store.
    let s = status_of(
        cms.create(&PostParams::default(), &big("large", 2 << 20)?)
            .await,
    );
    assert_eq!(s.code, 413, "{}", s.message);
    assert!(
        s.message.contains("\"large\" is too large to store"),
        "{}",
        s.message
    );
    // 1 MiB is fine, and growing it past the limit by a patch is refused.
    cms.create(&PostParams::default(), &big("fits", 1 << 20)?)
        .await?;
    let grow = json!({"data": {"more": "y".repeat(1 << 20)}});
    let s = status_of(
        cms.patch("fits", &PatchParams::default(), &Patch::Merge(&grow))
            .await,
    );
    assert_eq!(s.code, 413, "{}", s.message);
    h.shutdown().await;
    Ok(())
}

#[tokio::test]
async fn deep_objects_are_refused_however_they_grow() -> anyhow::Result<()> {
    let (h, client) = start().await?;
    h.register_crd(json!({"apiVersion": "apiextensions.k8s.io/v1", "kind": "CustomResourceDefinition",
        "metadata": {"name": "blobs.test.example.com"},
        "spec": {"group": "test.example.com", "scope": "Namespaced",
            "names": {"plural": "blobs", "singular": "blob", "kind": "Blob"},
            "versions": [{"name": "v1", "served": true, "storage": true,
                "schema": {"openAPIV3Schema": {"type": "object", "properties": {
                    "spec": {"type": "object", "x-kubernetes-preserve-unknown-fields": true}}}}}]}}))
        .await?;
    let ar = ApiResource::from_gvk_with_plural(
        &kube::core::GroupVersionKind::gvk("test.example.com", "v1", "Blob"),
        "blobs",
    );
    let blobs: Api<DynamicObject> = Api::default_namespaced_with(client.clone(), &ar);
    let blob = |name: &str, spec: Value| -> anyhow::Result<DynamicObject> {
        Ok(serde_json::from_value(
            json!({"apiVersion": "test.example.com/v1", "kind": "Blob",
            "metadata": {"name": name}, "spec": spec}),
        )?)
    };
    // depth counts the object itself and spec: 98 levels inside spec is 100 in all
    blobs
        .create(&PostParams::default(), &blob("ok", nested(98))?)
        .await?;
    let s = status_of(
        blobs
            .create(&PostParams::default(), &blob("deep", nested(110))?)
            .await,
    );
    assert_eq!(s.code, 422, "{}", s.message);
    assert!(
        s.message.contains("nesting depth exceeds the limit of 100"),
        "{}",
        s.message
    );
    // The attack: patches that each nest a little deeper. The first one that crosses
    // the limit is refused; before, fifteen of them overflowed the stack of the whole process.
    blobs
        .create(&PostParams::default(), &blob("grow", json!({}))?)
        .await?;
    let mut path = String::from("/spec");
    let mut refused = None;
    for i in 0..15 {
        let op = json!([{"op": "add", "path": format!("{path}/x"), "value": nested(20)}]);
        let req =
            axum::http::Request::patch("/apis/test.example.com/v1/namespaces/default/blobs/grow")
                .header("content-type", "application/json-patch+json")
                .body(serde_json::to_vec(&op)?)?;
        match client.request_text(req).await {
            Ok(_) => path.push_str(&format!("/x{}", "/a".repeat(19))),
            Err(e) => {
                refused = Some((i, status_of(Err::<(), _>(e))));
                break;
            }
        }
    }
    let (i, s) = refused.expect("a patch past the depth limit must be refused");
    assert_eq!(s.code, 422, "{}", s.message);
    assert!(
        i >= 4,
        "refused at patch {i}: the earlier, shallower ones must pass"
    );
    // still serving
    blobs.get("grow").await?;
    h.shutdown().await;
    Ok(())
}
