//! Integration tests through real HTTPS with a kube client: watch semantics, conflicts,
//! finalizers, garbage collection, server-side apply, binding, eviction with a PDB, auth,
//! persistence, CRD validation, fault injection.

mod common;

use std::time::Duration;

use common::{eventually, start, start_with, temp_dir};
use devcluster::DevCluster;
use futures_util::{FutureExt, StreamExt, TryStreamExt};
use k8s_openapi::api::core::v1::{ConfigMap, Pod};
use k8s_openapi::api::policy::v1::PodDisruptionBudget;
use kube::api::{
    Api, DeleteParams, ListParams, Patch, PatchParams, PostParams, WatchEvent, WatchParams,
};
use kube::core::DynamicObject;
use kube::discovery::ApiResource;
use serde_json::json;

fn cm(name: &str) -> ConfigMap {
    serde_json::from_value(json!({"metadata": {"name": name}, "data": {"a": "1"}}))
        .expect("configmap")
}

fn pod(name: &str, labels: serde_json::Value) -> Pod {
    serde_json::from_value(json!({"metadata": {"name": name, "labels": labels},
        "spec": {"schedulerName": "nobody", "containers": [{"name": "main", "image": "busybox"}]}}))
    .expect("pod")
}

#[tokio::test]
async fn auth_is_required() -> anyhow::Result<()> {
    let (h, _) = start().await?;
    let bad = h.kubeconfig().replace(h.token(), "not-the-token");
    let client = common::client_for(&bad).await?;
    let err = Api::<ConfigMap>::default_namespaced(client)
        .list(&ListParams::default())
        .await
        .expect_err("must fail");
    match err {
        kube::Error::Api(s) => assert_eq!(s.code, 401),
        other => panic!("expected 401, got {other}"),
    }
    h.shutdown().await;
    Ok(())
}

#[tokio::test]
async fn list_watch_resume_and_too_old_is_in_stream_410() -> anyhow::Result<()> {
    let (h, client) = start_with(DevCluster::builder().history(5)).await?;
    let api: Api<ConfigMap> = Api::default_namespaced(client);
    api.create(&PostParams::default(), &cm("w0")).await?;
    let list = api.list(&ListParams::default()).await?;
    let rv = list.metadata.resource_version.clone().expect("list rv");
    api.create(&PostParams::default(), &cm("w1")).await?;
    // resume from the list RV: only the change after it is replayed
    let mut s = api
        .watch(&WatchParams::default().timeout(2), &rv)
        .await?
        .boxed();
    match s.try_next().await? {
        Some(WatchEvent::Added(o)) => assert_eq!(o.metadata.name.as_deref(), Some("w1")),
        other => panic!("expected ADDED w1, got {other:?}"),
    }
    for i in 2..12 {
        api.create(&PostParams::default(), &cm(&format!("w{i}")))
            .await?;
    }
    // the history holds 5 changes: the old RV is gone, as an ERROR event inside the stream
    let mut s = api.watch(&WatchParams::default(), &rv).await?.boxed();
    match s.try_next().await? {
        Some(WatchEvent::Error(e)) => assert_eq!(e.code, 410),
        other => panic!("expected an in-stream 410, got {other:?}"),
    }
    // kube-runtime's watcher relists after the 410 and sees every object
    let w = kube::runtime::watcher(api.clone(), kube::runtime::watcher::Config::default());
    let store = kube::runtime::reflector::store::Writer::<ConfigMap>::default();
    let reader = store.as_reader();
    let task = tokio::spawn(kube::runtime::reflector(store, w).for_each(|_| async {}));
    assert!(
        eventually(10, || async { reader.state().len() == 12 }).await,
        "reflector saw {}",
        reader.state().len()
    );
    api.delete("w0", &DeleteParams::default()).await?;
    assert!(eventually(10, || async { reader.state().len() == 11 }).await);
    task.abort();
    h.shutdown().await;
    Ok(())
}

/// The watch history is bounded by bytes as well as by count: large objects push old
/// resourceVersions out sooner (410), small ones stay replayable.
#[tokio::test]
async fn watch_history_is_bounded_by_bytes() -> anyhow::Result<()> {
    let (h, client) = start_with(DevCluster::builder().history_bytes(256 * 1024)).await?;
    let api: Api<ConfigMap> = Api::default_namespaced(client);
    let big = |name: &str| -> anyhow::Result<ConfigMap> {
        Ok(serde_json::from_value(
            json!({"metadata": {"name": name}, "data": {"blob": "x".repeat(100 * 1024)}}),
        )?)
    };
    api.create(&PostParams::default(), &cm("small-0")).await?;
    let rv = api
        .list(&ListParams::default())
        .await?
        .metadata
        .resource_version
        .expect("list rv");
    // 20 small changes fit: a watch from `rv` replays all of them.
    for i in 1..=20 {
        api.create(&PostParams::default(), &cm(&format!("small-{i}")))
            .await?;
    }
    let mut s = api
        .watch(&WatchParams::default().timeout(2), &rv)
        .await?
        .boxed();
    match s.try_next().await? {
        Some(WatchEvent::Added(o)) => assert_eq!(o.metadata.name.as_deref(), Some("small-1")),
        other => panic!("expected ADDED small-1, got {other:?}"),
    }
    // Three 100 KiB objects exceed the 256 KiB bound: `rv` is compacted away.
    for i in 0..3 {
        api.create(&PostParams::default(), &big(&format!("big-{i}"))?)
            .await?;
    }
    let mut s = api.watch(&WatchParams::default(), &rv).await?.boxed();
    match s.try_next().await? {
        Some(WatchEvent::Error(e)) => assert_eq!(e.code, 410),
        other => panic!("expected an in-stream 410, got {other:?}"),
    }
    h.shutdown().await;
    Ok(())
}

#[tokio::test]
async fn watch_timeout_seconds_is_checked() -> anyhow::Result<()> {
    // issue 16: timeoutSeconds=u64::MAX overflowed `Instant + Duration` in the watch handler.
    let (h, client) = start().await?;
    let path = "/api/v1/namespaces/default/configmaps?watch=true&timeoutSeconds=";
    let req = axum::http::Request::get(format!("{path}18446744073709551615")).body(vec![])?;
    let resp =
        tokio::time::timeout(Duration::from_secs(10), client.send(req.map(Into::into))).await??;
    assert_eq!(resp.status(), 200);
    // and the server still answers afterwards
    Api::<ConfigMap>::default_namespaced(client.clone())
        .create(&PostParams::default(), &cm("after-watch"))
        .await?;
    for bad in ["-1", "soon"] {
        let req = axum::http::Request::get(format!("{path}{bad}")).body(vec![])?;
        let err = client.request_text(req).await.expect_err("must refuse");
        match err {
            kube::Error::Api(s) => {
                assert_eq!(s.code, 400);
                assert!(s.message.contains("timeoutSeconds"), "{}", s.message);
            }
            other => panic!("expected 400, got {other}"),
        }
    }
    h.shutdown().await;
    Ok(())
}

#[tokio::test]
async fn stale_write_conflicts() -> anyhow::Result<()> {
    let (h, client) = start().await?;
    let api: Api<ConfigMap> = Api::default_namespaced(client);
    let first = api.create(&PostParams::default(), &cm("c")).await?;
    let mut fresh = first.clone();
    fresh.data = Some([("a".to_string(), "2".to_string())].into());
    api.replace("c", &PostParams::default(), &fresh).await?;
    let mut stale = first;
    stale.data = Some([("a".to_string(), "3".to_string())].into());
    match api.replace("c", &PostParams::default(), &stale).await {
        Err(kube::Error::Api(s)) => assert_eq!((s.code, s.reason.as_str()), (409, "Conflict")),
        other => panic!("expected 409, got {other:?}"),
    }
    assert_eq!(api.get("c").await?.data.unwrap_or_default()["a"], "2");
    h.shutdown().await;
    Ok(())
}

/// Patches that name no resourceVersion are re-applied to the newest object, as by
/// kube-apiserver: concurrent patches of one object all succeed (a patch used to carry the
/// version it was read at and fail with 409 when another write landed in between). A patch that
/// names a stale version still fails with 409.
#[tokio::test]
async fn concurrent_patches_without_a_version_all_apply() -> anyhow::Result<()> {
    let (h, client) = start().await?;
    let api: Api<ConfigMap> = Api::default_namespaced(client);
    let first = api.create(&PostParams::default(), &cm("c")).await?;
    let patches = (0..64).map(|i| {
        let api = api.clone();
        async move {
            let body = json!({"data": {format!("k{i}"): "v"}});
            if i % 2 == 0 {
                api.patch("c", &PatchParams::default(), &Patch::Merge(&body))
                    .await
            } else {
                api.patch("c", &PatchParams::default(), &Patch::Strategic(&body))
                    .await
            }
            .map_err(anyhow::Error::from)
        }
    });
    for r in futures_util::future::join_all(patches).await {
        r?;
    }
    let data = api.get("c").await?.data.unwrap_or_default();
    assert_eq!(data.len(), 65, "every patch applied: {data:?}");
    let stale = json!({"metadata": {"resourceVersion": first.metadata.resource_version}, "data": {"a": "9"}});
    match api
        .patch("c", &PatchParams::default(), &Patch::Merge(&stale))
        .await
    {
        Err(kube::Error::Api(s)) => assert_eq!((s.code, s.reason.as_str()), (409, "Conflict")),
        other => panic!("expected 409 for a stale pinned version, got {other:?}"),
    }
    h.shutdown().await;
    Ok(())
}

#[tokio::test]
async fn finalizer_holds_deletion_until_removed() -> anyhow::Result<()> {
    let (h, client) = start().await?;
    let api: Api<ConfigMap> = Api::default_namespaced(client);
    api.create(&PostParams::default(), &cm("f")).await?;
    // kube-runtime's finalizer(): a `test` of the missing list against null, then add
    let add = json!([{"op": "test", "path": "/metadata/finalizers", "value": null},
                     {"op": "add", "path": "/metadata/finalizers", "value": ["example.com/hold"]}]);
    api.patch(
        "f",
        &PatchParams::default(),
        &Patch::<()>::Json(serde_json::from_value(add)?),
    )
    .await?;
    api.delete("f", &DeleteParams::default()).await?;
    let held = api.get("f").await?;
    assert!(held.metadata.deletion_timestamp.is_some());
    // no new finalizers once terminating
    let more = json!({"metadata": {"finalizers": ["example.com/hold", "example.com/other"]}});
    assert!(
        api.patch("f", &PatchParams::default(), &Patch::Merge(more))
            .await
            .is_err()
    );
    let rm = json!([{"op": "test", "path": "/metadata/finalizers/0", "value": "example.com/hold"},
                    {"op": "remove", "path": "/metadata/finalizers/0"}]);
    api.patch(
        "f",
        &PatchParams::default(),
        &Patch::<()>::Json(serde_json::from_value(rm)?),
    )
    .await?;
    assert!(api.get_opt("f").await?.is_none());
    h.shutdown().await;
    Ok(())
}

async fn owner_and_pods(
    api_cm: &Api<ConfigMap>,
    pods: &Api<Pod>,
    tag: &str,
    block: bool,
) -> anyhow::Result<String> {
    let owner = api_cm
        .create(&PostParams::default(), &cm(&format!("owner-{tag}")))
        .await?;
    let uid = owner.metadata.uid.clone().expect("uid");
    for i in 0..2 {
        let mut p = pod(&format!("{tag}-{i}"), json!({"gc": tag}));
        p.metadata.owner_references = Some(vec![serde_json::from_value(
            json!({"apiVersion": "v1", "kind": "ConfigMap",
            "name": format!("owner-{tag}"), "uid": uid, "blockOwnerDeletion": block}),
        )?]);
        pods.create(&PostParams::default(), &p).await?;
    }
    Ok(uid)
}

#[tokio::test]
async fn garbage_collection_background_foreground_orphan() -> anyhow::Result<()> {
    let (h, client) = start().await?;
    let cms: Api<ConfigMap> = Api::default_namespaced(client.clone());
    let pods: Api<Pod> = Api::default_namespaced(client);
    let count = |tag: &'static str| {
        let pods = pods.clone();
        async move {
            pods.list(&ListParams::default().labels(&format!("gc={tag}")))
                .await
                .map(|l| l.items.len())
                .unwrap_or(99)
        }
    };
    owner_and_pods(&cms, &pods, "bg", false).await?;
    cms.delete("owner-bg", &DeleteParams::background()).await?;
    assert!(
        eventually(10, || count("bg").map(|n| n == 0)).await,
        "background GC left pods"
    );

    owner_and_pods(&cms, &pods, "fg", true).await?;
    pods.patch(
        "fg-0",
        &PatchParams::default(),
        &Patch::Merge(json!({"metadata": {"finalizers": ["example.com/hold"]}})),
    )
    .await?;
    cms.delete("owner-fg", &DeleteParams::foreground()).await?;
    assert!(
        eventually(10, || async {
            pods.get_opt("fg-1").await.ok().flatten().is_none()
        })
        .await
    );
    let owner = cms.get("owner-fg").await?;
    assert!(
        owner
            .metadata
            .finalizers
            .unwrap_or_default()
            .contains(&"foregroundDeletion".to_string())
    );
    pods.patch(
        "fg-0",
        &PatchParams::default(),
        &Patch::Merge(json!({"metadata": {"finalizers": null}})),
    )
    .await?;
    assert!(
        eventually(10, || async {
            cms.get_opt("owner-fg").await.ok().flatten().is_none()
        })
        .await,
        "owner kept"
    );

    let uid = owner_and_pods(&cms, &pods, "or", false).await?;
    cms.delete("owner-or", &DeleteParams::orphan()).await?;
    assert!(
        eventually(10, || async {
            cms.get_opt("owner-or").await.ok().flatten().is_none()
        })
        .await
    );
    assert!(
        eventually(10, || async {
            pods.get("or-0").await.is_ok_and(|p| {
                p.metadata
                    .owner_references
                    .unwrap_or_default()
                    .iter()
                    .all(|r| r.uid != uid)
            })
        })
        .await
    );
    assert_eq!(count("or").await, 2);
    h.shutdown().await;
    Ok(())
}

#[tokio::test]
async fn server_side_apply_creates_and_tracks_owners() -> anyhow::Result<()> {
    let (h, client) = start().await?;
    let api: Api<ConfigMap> = Api::default_namespaced(client);
    let applied = json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "ssa"}, "data": {"a": "1", "b": "2"}});
    let o = api
        .patch("ssa", &PatchParams::apply("m1"), &Patch::Apply(&applied))
        .await?;
    assert_eq!(o.data.unwrap_or_default().len(), 2);
    let o = api
        .patch("ssa", &PatchParams::apply("m1"), &Patch::Apply(json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "ssa"}, "data": {"a": "1"}})))
        .await?;
    assert_eq!(
        o.data.unwrap_or_default().len(),
        1,
        "field dropped by its manager stays"
    );
    let other = json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "ssa"}, "data": {"a": "x"}});
    match api
        .patch("ssa", &PatchParams::apply("m2"), &Patch::Apply(&other))
        .await
    {
        Err(kube::Error::Api(s)) => assert_eq!(s.code, 409),
        other => panic!("expected an apply conflict, got {other:?}"),
    }
    let o = api
        .patch(
            "ssa",
            &PatchParams::apply("m2").force(),
            &Patch::Apply(&other),
        )
        .await?;
    assert_eq!(o.data.unwrap_or_default()["a"], "x");
    h.shutdown().await;
    Ok(())
}

#[tokio::test]
async fn binding_sets_node_once() -> anyhow::Result<()> {
    let (h, client) = start().await?;
    let pods: Api<Pod> = Api::default_namespaced(client);
    let p = pods
        .create(&PostParams::default(), &pod("b", json!({})))
        .await?;
    assert_eq!(p.status.and_then(|s| s.phase).as_deref(), Some("Pending"));
    let binding = json!({"apiVersion": "v1", "kind": "Binding", "metadata": {"name": "b"}, "target": {"kind": "Node", "name": "n1"}});
    let _: serde_json::Value = pods
        .create_subresource("binding", "b", &PostParams::default(), &binding)
        .await?;
    let p = pods.get("b").await?;
    assert_eq!(p.spec.and_then(|s| s.node_name).as_deref(), Some("n1"));
    let conds = p.status.and_then(|s| s.conditions).unwrap_or_default();
    assert!(
        conds
            .iter()
            .any(|c| c.type_ == "PodScheduled" && c.status == "True")
    );
    let again: Result<serde_json::Value, _> = pods
        .create_subresource("binding", "b", &PostParams::default(), &binding)
        .await;
    assert!(
        matches!(again, Err(kube::Error::Api(ref s)) if s.code == 409),
        "{again:?}"
    );
    let on_node = pods
        .list(&ListParams::default().fields("spec.nodeName=n1"))
        .await?;
    assert_eq!(on_node.items.len(), 1);
    h.shutdown().await;
    Ok(())
}

/// Like kube-apiserver: the QoS class is computed at create (GPUs alone do not count), and a
/// status write may not change it (the simulated kubelet once sent "Burstable" for GPU-only
/// pods, which kube-apiserver refused with this message).
#[tokio::test]
async fn pod_qos_class_is_set_at_create_and_immutable() -> anyhow::Result<()> {
    let (h, client) = start().await?;
    let pods: Api<Pod> = Api::default_namespaced(client);
    let gpu: Pod = serde_json::from_value(json!({"metadata": {"name": "gpu"},
        "spec": {"containers": [{"name": "main", "image": "busybox",
                 "resources": {"limits": {"nvidia.com/gpu": 2}}}]}}))?;
    let p = pods.create(&PostParams::default(), &gpu).await?;
    assert_eq!(
        p.status.and_then(|s| s.qos_class).as_deref(),
        Some("BestEffort")
    );
    let sized: Pod = serde_json::from_value(json!({"metadata": {"name": "sized"},
        "spec": {"containers": [{"name": "main", "image": "busybox",
                 "resources": {"limits": {"cpu": "1", "memory": "1Gi"}}}]}}))?;
    let p = pods.create(&PostParams::default(), &sized).await?;
    assert_eq!(
        p.status.and_then(|s| s.qos_class).as_deref(),
        Some("Guaranteed")
    );
    let change = Patch::Merge(json!({"status": {"phase": "Running", "qosClass": "Burstable"}}));
    let err = pods
        .patch_status("gpu", &PatchParams::default(), &change)
        .await
        .expect_err("qosClass is immutable");
    match err {
        kube::Error::Api(s) => {
            assert_eq!(s.code, 422);
            assert!(
                s.message
                    .contains("status.qosClass: Invalid value: \"Burstable\": field is immutable"),
                "{}",
                s.message
            );
        }
        other => panic!("expected 422, got {other}"),
    }
    // Leaving it out (or empty) keeps it, as kube-apiserver does.
    let keep = Patch::Merge(json!({"status": {"phase": "Running", "qosClass": null}}));
    let p = pods
        .patch_status("gpu", &PatchParams::default(), &keep)
        .await?;
    let status = p.status.unwrap_or_default();
    assert_eq!(status.phase.as_deref(), Some("Running"));
    assert_eq!(status.qos_class.as_deref(), Some("BestEffort"));
    h.shutdown().await;
    Ok(())
}

#[tokio::test]
async fn eviction_respects_pod_disruption_budget() -> anyhow::Result<()> {
    let (h, client) = start().await?;
    let pods: Api<Pod> = Api::default_namespaced(client.clone());
    for n in ["e1", "e2"] {
        pods.create(&PostParams::default(), &pod(n, json!({"app": "db"})))
            .await?;
        let status = json!({"status": {"phase": "Running", "conditions": [{"type": "Ready", "status": "True"}]}});
        pods.patch_status(n, &PatchParams::default(), &Patch::Merge(status))
            .await?;
    }
    let pdbs: Api<PodDisruptionBudget> = Api::default_namespaced(client);
    let pdb = json!({"metadata": {"name": "db"}, "spec": {"minAvailable": 2, "selector": {"matchLabels": {"app": "db"}}}});
    pdbs.create(&PostParams::default(), &serde_json::from_value(pdb)?)
        .await?;
    match pods.evict("e1", &Default::default()).await {
        Err(kube::Error::Api(s)) => assert_eq!(s.code, 429),
        other => panic!("expected 429, got {other:?}"),
    }
    pdbs.patch(
        "db",
        &PatchParams::default(),
        &Patch::Merge(json!({"spec": {"minAvailable": 1}})),
    )
    .await?;
    pods.evict("e1", &Default::default()).await?;
    assert!(pods.get_opt("e1").await?.is_none());
    h.shutdown().await;
    Ok(())
}

#[tokio::test]
async fn persistence_across_restart() -> anyhow::Result<()> {
    let dir = temp_dir("persist");
    let (h, client) = start_with(DevCluster::builder().data_dir(&dir)).await?;
    let api: Api<ConfigMap> = Api::default_namespaced(client);
    api.create(&PostParams::default(), &cm("kept")).await?;
    h.register_crd(widget_crd()).await?;
    api.create(&PostParams::default(), &cm("gone")).await?;
    api.delete("gone", &DeleteParams::default()).await?;
    let rv = h.resource_version();
    let (token, ca, addr) = (h.token().to_string(), h.ca_pem().to_string(), h.addr());
    h.shutdown().await;

    // same port: shutdown released it
    let (h, client) = start_with(DevCluster::builder().data_dir(&dir).addr(addr)).await?;
    let api: Api<ConfigMap> = Api::default_namespaced(client.clone());
    assert_eq!(api.get("kept").await?.data.unwrap_or_default()["a"], "1");
    assert_eq!(
        (h.token(), h.ca_pem()),
        (token.as_str(), ca.as_str()),
        "credentials kept"
    );
    assert!(api.get_opt("gone").await?.is_none());
    let gvk = kube::core::GroupVersionKind::gvk("test.example.com", "v1", "Widget");
    let widgets: Api<DynamicObject> = Api::namespaced_with(
        client.clone(),
        "default",
        &ApiResource::from_gvk_with_plural(&gvk, "widgets"),
    );
    assert!(
        widgets.list(&ListParams::default()).await?.items.is_empty(),
        "stored CRD kind is served again"
    );
    assert!(h.resource_version() >= rv, "resourceVersion went backwards");
    let o = api.create(&PostParams::default(), &cm("new")).await?;
    let new_rv: u64 = o.metadata.resource_version.unwrap_or_default().parse()?;
    assert!(new_rv > rv);
    h.shutdown().await;
    let _ = std::fs::remove_dir_all(&dir);
    Ok(())
}

fn widget_crd() -> serde_json::Value {
    json!({"apiVersion": "apiextensions.k8s.io/v1", "kind": "CustomResourceDefinition",
        "metadata": {"name": "widgets.test.example.com"},
        "spec": {"group": "test.example.com", "scope": "Namespaced",
            "names": {"plural": "widgets", "singular": "widget", "kind": "Widget", "shortNames": ["wdg"]},
            "versions": [{"name": "v1", "served": true, "storage": true, "subresources": {"status": {}},
                "schema": {"openAPIV3Schema": {"type": "object", "properties": {
                    "spec": {"type": "object", "required": ["size"], "properties": {
                        "size": {"type": "integer", "minimum": 0},
                        "mode": {"type": "string", "enum": ["Fast", "Slow"], "default": "Fast"}}},
                    "status": {"type": "object", "properties": {"phase": {"type": "string"}}}}}}}]}})
}

#[tokio::test]
async fn crd_registration_and_validation() -> anyhow::Result<()> {
    let (h, client) = start().await?;
    h.register_crd(widget_crd()).await?;
    let ar = ApiResource::from_gvk_with_plural(
        &kube::core::GroupVersionKind::gvk("test.example.com", "v1", "Widget"),
        "widgets",
    );
    let api: Api<DynamicObject> = Api::namespaced_with(client.clone(), "default", &ar);
    let ok: DynamicObject = serde_json::from_value(
        json!({"apiVersion": "test.example.com/v1", "kind": "Widget",
        "metadata": {"name": "w1"}, "spec": {"size": 3, "extra": true}}),
    )?;
    let created = api.create(&PostParams::default(), &ok).await?;
    assert_eq!(
        created.data["spec"]["mode"], "Fast",
        "schema default applied"
    );
    assert!(
        created.data["spec"].get("extra").is_none(),
        "unknown field pruned"
    );
    let typo = json!({"apiVersion": "test.example.com/v1", "kind": "Widget",
        "metadata": {"name": "w4", "labelz": {"a": "b"}}, "spec": {"size": 1, "colour": "red"}});
    let req = axum::http::Request::post(
        "/apis/test.example.com/v1/namespaces/default/widgets?fieldValidation=Strict",
    )
    .header("content-type", "application/json")
    .body(serde_json::to_vec(&typo)?)?;
    match client.request::<serde_json::Value>(req).await {
        Err(kube::Error::Api(s)) => {
            assert_eq!(s.code, 400);
            assert!(
                s.message.contains("unknown field \"spec.colour\""),
                "{}",
                s.message
            );
            assert!(
                s.message.contains("unknown field \"metadata.labelz\""),
                "{}",
                s.message
            );
        }
        other => panic!("expected a strict decoding error, got {other:?}"),
    }
    assert_eq!(created.metadata.generation, Some(1));
    let bad: DynamicObject = serde_json::from_value(
        json!({"apiVersion": "test.example.com/v1", "kind": "Widget",
        "metadata": {"name": "w2"}, "spec": {"size": 1, "mode": "Fsat"}}),
    )?;
    match api.create(&PostParams::default(), &bad).await {
        Err(kube::Error::Api(s)) => {
            assert_eq!(s.code, 422);
            assert!(s.message.contains("Widget.test.example.com \"w2\" is invalid: spec.mode: Unsupported value: \"Fsat\": supported values: \"Fast\", \"Slow\""), "{}", s.message);
        }
        other => panic!("expected 422, got {other:?}"),
    }
    let missing: DynamicObject = serde_json::from_value(
        json!({"apiVersion": "test.example.com/v1", "kind": "Widget",
        "metadata": {"name": "w3"}, "spec": {}}),
    )?;
    let err = api
        .create(&PostParams::default(), &missing)
        .await
        .expect_err("must fail")
        .to_string();
    assert!(err.contains("spec.size: Required value"), "{err}");
    // a spec change bumps generation, a status write does not
    api.patch(
        "w1",
        &PatchParams::default(),
        &Patch::Merge(json!({"spec": {"size": 4}})),
    )
    .await?;
    let o = api
        .patch_status(
            "w1",
            &PatchParams::default(),
            &Patch::Merge(json!({"status": {"phase": "Ready"}})),
        )
        .await?;
    assert_eq!(
        (o.metadata.generation, o.data["status"]["phase"].as_str()),
        (Some(2), Some("Ready"))
    );
    // strategic merge patch is refused for custom resources
    let smp = api
        .patch(
            "w1",
            &PatchParams::default(),
            &Patch::Strategic(json!({"spec": {"size": 5}})),
        )
        .await;
    assert!(
        matches!(smp, Err(kube::Error::Api(ref s)) if s.code == 415),
        "{smp:?}"
    );
    // discovery knows the kind
    let d = kube::Discovery::new(client).run().await?;
    assert!(d.groups().any(|g| g.name() == "test.example.com"));
    h.shutdown().await;
    Ok(())
}

#[tokio::test]
async fn volcano_crds_from_config_dir_are_served() -> anyhow::Result<()> {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../config/crd");
    let (h, client) = start().await?;
    let n = h.register_crd_dir(&dir).await?;
    assert!(
        n >= 6,
        "expected the six Volcano CRDs in {}, found {n} files",
        dir.display()
    );
    let ar = ApiResource::from_gvk_with_plural(
        &kube::core::GroupVersionKind::gvk("scheduling.volcano.sh", "v1beta1", "Queue"),
        "queues",
    );
    let queues: Api<DynamicObject> = Api::all_with(client, &ar);
    assert!(queues.list(&ListParams::default()).await?.items.is_empty());
    h.shutdown().await;
    Ok(())
}

#[tokio::test]
async fn fault_injection_fails_writes() -> anyhow::Result<()> {
    let (h, client) = start_with(DevCluster::builder().fault_rate(1.0)).await?;
    let api: Api<ConfigMap> = Api::default_namespaced(client);
    match api.create(&PostParams::default(), &cm("x")).await {
        Err(kube::Error::Api(s)) => assert!(s.code == 500 || s.code == 409, "{}", s.code),
        other => panic!("expected an injected failure, got {other:?}"),
    }
    assert!(
        api.list(&ListParams::default()).await?.items.is_empty(),
        "reads are not failed"
    );
    tokio::time::sleep(Duration::from_millis(10)).await;
    h.shutdown().await;
    Ok(())
}

#[tokio::test]
async fn fault_injection_spares_the_named_user_agents() -> anyhow::Result<()> {
    let (h, faulted) = start_with(
        DevCluster::builder()
            .fault_rate(1.0)
            .spare_from_faults("e2e-driver/"),
    )
    .await?;
    let kc = kube::config::Kubeconfig::from_yaml(&h.kubeconfig())?;
    let mut cfg =
        kube::Config::from_custom_kubeconfig(kc, &kube::config::KubeConfigOptions::default())
            .await?;
    cfg.default_retry = false;
    cfg.headers.push((
        axum::http::header::USER_AGENT,
        axum::http::HeaderValue::from_static("e2e-driver/1.0"),
    ));
    let spared: Api<ConfigMap> = Api::default_namespaced(kube::Client::try_from(cfg)?);
    for i in 0..20 {
        spared
            .create(&PostParams::default(), &cm(&format!("spared-{i}")))
            .await?;
    }
    let api: Api<ConfigMap> = Api::default_namespaced(faulted);
    match api.create(&PostParams::default(), &cm("x")).await {
        Err(kube::Error::Api(s)) => assert!(s.code == 500 || s.code == 409, "{}", s.code),
        other => panic!("expected an injected failure, got {other:?}"),
    }
    h.shutdown().await;
    Ok(())
}

#[tokio::test]
async fn readyz_waits_for_registered_components() -> anyhow::Result<()> {
    let (h, client) = start_with(DevCluster::builder().ready_component("nodes")).await?;
    let readyz = || async {
        let req = axum::http::Request::get("/readyz")
            .body(Vec::new())
            .expect("request");
        client.request_text(req).await
    };
    match readyz().await {
        Err(kube::Error::Api(s)) => assert_eq!(s.code, 503),
        other => panic!("expected 503 before the component is ready, got {other:?}"),
    }
    h.ready_gate().set("nodes", true);
    assert_eq!(readyz().await?, "ok");
    h.shutdown().await;
    Ok(())
}

#[tokio::test]
async fn watchers_converge_despite_injected_faults() -> anyhow::Result<()> {
    let (h, client) = start_with(DevCluster::builder().fault_rate(0.3)).await?;
    let api: Api<ConfigMap> = Api::default_namespaced(client);
    let store = kube::runtime::reflector::store::Writer::<ConfigMap>::default();
    let reader = store.as_reader();
    let w = kube::runtime::watcher(api.clone(), kube::runtime::watcher::Config::default());
    let task = tokio::spawn(kube::runtime::reflector(store, w).for_each(|_| async {}));
    let mut created = 0;
    let mut attempts = 0;
    while created < 20 && attempts < 500 {
        attempts += 1;
        if api
            .create(&PostParams::default(), &cm(&format!("f{created}")))
            .await
            .is_ok()
        {
            created += 1;
        }
    }
    assert_eq!(created, 20, "creates kept failing");
    assert!(
        attempts > 20,
        "no fault was injected in {attempts} attempts"
    );
    assert!(
        eventually(20, || async { reader.state().len() == 20 }).await,
        "reflector saw {} of 20",
        reader.state().len()
    );
    task.abort();
    h.shutdown().await;
    Ok(())
}
