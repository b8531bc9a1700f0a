//! Watch details kube-runtime and schedulers rely on: bookmarks with kind/apiVersion,
//! selector transitions (a pod leaving `spec.nodeName=` is DELETED for that watch),
//! streaming lists (`sendInitialEvents`), and the events.k8s.io Recorder seen as core Events.

mod common;

use std::time::Duration;

use common::{eventually, start, start_with};
use devcluster::DevCluster;
use futures_util::{StreamExt, TryStreamExt};
use k8s_openapi::api::core::v1::{ConfigMap, Event as CoreEvent, ObjectReference, Pod};
use kube::api::{Api, ListParams, PostParams, WatchEvent, WatchParams};
use kube::runtime::events::{Event, EventType, Recorder, Reporter};
use kube::runtime::watcher;
use serde_json::json;

#[tokio::test]
async fn bookmarks_carry_kind_and_the_current_version() -> anyhow::Result<()> {
    let (h, client) =
        start_with(DevCluster::builder().bookmark_interval(Duration::from_millis(200))).await?;
    let api: Api<ConfigMap> = Api::default_namespaced(client);
    let rv = api
        .list(&ListParams::default())
        .await?
        .metadata
        .resource_version
        .unwrap_or_default();
    let wp = WatchParams {
        bookmarks: true,
        ..WatchParams::default().timeout(5)
    };
    let mut s = api.watch(&wp, &rv).await?.boxed();
    match tokio::time::timeout(Duration::from_secs(3), s.try_next()).await?? {
        Some(WatchEvent::Bookmark(b)) => {
            assert_eq!(
                (b.types.kind.as_str(), b.types.api_version.as_str()),
                ("ConfigMap", "v1")
            );
            assert!(!b.metadata.resource_version.is_empty());
        }
        other => panic!("expected a bookmark, got {other:?}"),
    }
    h.shutdown().await;
    Ok(())
}

#[tokio::test]
async fn selector_transitions_become_added_and_deleted() -> anyhow::Result<()> {
    let (h, client) = start().await?;
    let pods: Api<Pod> = Api::default_namespaced(client);
    let rv = pods
        .list(&ListParams::default())
        .await?
        .metadata
        .resource_version
        .unwrap_or_default();
    let wp = WatchParams::default().fields("spec.nodeName=").timeout(10);
    let mut unbound = pods.watch(&wp, &rv).await?.boxed();
    let p: Pod = serde_json::from_value(json!({"metadata": {"name": "t"},
        "spec": {"containers": [{"name": "m", "image": "busybox"}]}}))?;
    pods.create(&PostParams::default(), &p).await?;
    assert!(matches!(
        unbound.try_next().await?,
        Some(WatchEvent::Added(_))
    ));
    let binding = json!({"apiVersion": "v1", "kind": "Binding", "metadata": {"name": "t"},
        "target": {"kind": "Node", "name": "n1"}});
    let _: serde_json::Value = pods
        .create_subresource("binding", "t", &PostParams::default(), &binding)
        .await?;
    match unbound.try_next().await? {
        Some(WatchEvent::Deleted(p)) => {
            assert_eq!(p.spec.and_then(|s| s.node_name).as_deref(), Some("n1"))
        }
        other => panic!("expected DELETED when the pod stopped matching, got {other:?}"),
    }
    h.shutdown().await;
    Ok(())
}

#[tokio::test]
async fn streaming_list_ends_initial_events_with_a_bookmark() -> anyhow::Result<()> {
    let (h, client) = start().await?;
    let api: Api<ConfigMap> = Api::default_namespaced(client);
    for i in 0..3 {
        let c: ConfigMap = serde_json::from_value(json!({"metadata": {"name": format!("s{i}")}}))?;
        api.create(&PostParams::default(), &c).await?;
    }
    let mut s = watcher(api, watcher::Config::default().streaming_lists()).boxed();
    let mut applied = 0;
    loop {
        match tokio::time::timeout(Duration::from_secs(5), s.try_next()).await?? {
            Some(watcher::Event::InitApply(_)) => applied += 1,
            Some(watcher::Event::InitDone) => break,
            Some(_) => {}
            None => panic!("stream ended before InitDone"),
        }
    }
    assert_eq!(applied, 3);
    h.shutdown().await;
    Ok(())
}

#[tokio::test]
async fn recorder_events_are_core_events_too() -> anyhow::Result<()> {
    let (h, client) = start().await?;
    let cms: Api<ConfigMap> = Api::default_namespaced(client.clone());
    let c: ConfigMap = serde_json::from_value(json!({"metadata": {"name": "target"}}))?;
    let c = cms.create(&PostParams::default(), &c).await?;
    let reference = ObjectReference {
        api_version: Some("v1".into()),
        kind: Some("ConfigMap".into()),
        name: c.metadata.name.clone(),
        namespace: Some("default".into()),
        uid: c.metadata.uid.clone(),
        ..Default::default()
    };
    let recorder = Recorder::new(
        client.clone(),
        Reporter {
            controller: "basalt/test".into(),
            instance: None,
        },
    );
    let ev = Event {
        type_: EventType::Normal,
        reason: "Checked".into(),
        note: Some("all good".into()),
        action: "Check".into(),
        secondary: None,
    };
    recorder.publish(&ev, &reference).await?;
    recorder.publish(&ev, &reference).await?; // a repeat becomes a series patch
    let core: Api<CoreEvent> = Api::default_namespaced(client);
    let found = eventually(5, || async {
        core.list(&ListParams::default().fields("involvedObject.name=target,reason=Checked"))
            .await
            .is_ok_and(|l| l.items.len() == 1 && l.items[0].message.as_deref() == Some("all good"))
    })
    .await;
    assert!(
        found,
        "the events.k8s.io event is not listed as a core event"
    );
    h.shutdown().await;
    Ok(())
}
