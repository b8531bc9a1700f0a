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

/// What every writer of one object produced, in order: (resourceVersion, status.message).
type Written = std::sync::Arc<std::sync::Mutex<Vec<(u64, String)>>>;

fn record(w: &Written, rv: u64, msg: &str) -> anyhow::Result<()> {
    w.lock()
        .map_err(|_| anyhow::anyhow!("poisoned"))?
        .push((rv, msg.to_string()));
    Ok(())
}

fn rv_of(meta: &k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta) -> u64 {
    meta.resource_version
        .as_deref()
        .and_then(|s| s.parse().ok())
        .unwrap_or(0)
}

/// One watcher as a client sees it: GET the pod, then WATCH it by name from the GET's
/// resourceVersion (`from_get`, as informers and `kubectl get --watch` of a list do) or from
/// "0" (as `kubectl get KIND NAME --watch` does: the first event is the current object). Reads
/// until it has seen `last` once it is known; `pause` slows it down after every event. Returns
/// the GET's version and the (version, message) of every event. Fails when the stream stays
/// silent for `quiet` while a write it has not shown exists (lost or unflushed).
async fn follow(
    pods: Api<Pod>,
    from_get: bool,
    pause: Duration,
    last: tokio::sync::watch::Receiver<Option<u64>>,
    quiet: Duration,
) -> anyhow::Result<(u64, Vec<(u64, String)>)> {
    let got = pods.get("w").await?;
    let got_rv = rv_of(&got.metadata);
    let wp = WatchParams::default()
        .fields("metadata.name=w")
        .timeout(120);
    let from = if from_get {
        got_rv.to_string()
    } else {
        "0".into()
    };
    let mut s = pods.watch(&wp, &from).await?.boxed();
    let mut seen: Vec<(u64, String)> = Vec::new();
    let mut last = last;
    loop {
        let end = *last.borrow_and_update();
        let shown = seen.last().map_or(got_rv, |(rv, _)| *rv);
        if end.is_some_and(|end| end <= shown) {
            return Ok((got_rv, seen));
        }
        // Silence is allowed only while the writer may still be between writes; once the
        // last write is known, it must arrive within `quiet`.
        let ev = tokio::select! {
            ev = tokio::time::timeout(quiet, s.try_next()) => match ev {
                Ok(ev) => ev?,
                Err(_) => anyhow::bail!(
                    "watch from {from} (GET saw {got_rv}) silent for {quiet:?} after {:?} while the last write is {:?}",
                    seen.last(),
                    *last.borrow()
                ),
            },
            _ = last.changed() => continue,
        };
        match ev {
            Some(WatchEvent::Added(p) | WatchEvent::Modified(p)) => {
                let msg = p.status.and_then(|s| s.message).unwrap_or_default();
                seen.push((rv_of(&p.metadata), msg));
            }
            other => anyhow::bail!("unexpected watch event {other:?}"),
        }
        if !pause.is_zero() {
            tokio::time::sleep(pause).await;
        }
    }
}

/// The issue-16 question ("does a `kubectl get --watch` miss a status write?") asked of the
/// server through its HTTPS front: a writer patches one pod's status (and, every third
/// write, its labels) as fast as it can while watchers start over and over with kubectl's two
/// request patterns, and one slow watcher falls behind. Every watch must show exactly the
/// writes after its start, in order, none twice, and the last one without a later write to
/// push it out (an unflushed event fails the `quiet` bound).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn watches_by_name_show_every_write_after_their_start_in_order() -> anyhow::Result<()> {
    const WRITES: usize = 300;
    /// Watchers started while the writer runs (each holds a connection until the end).
    const WATCHERS: usize = 60;
    let (h, client) = start().await?;
    let pods: Api<Pod> = Api::default_namespaced(client.clone());
    let p: Pod = serde_json::from_value(json!({"metadata": {"name": "w"},
        "spec": {"containers": [{"name": "m", "image": "busybox"}]}}))?;
    let created = pods.create(&PostParams::default(), &p).await?;
    let written: Written = Default::default();
    record(&written, rv_of(&created.metadata), "")?;
    let (last_tx, last_rx) = tokio::sync::watch::channel(None);
    let quiet = Duration::from_secs(5);

    let slow = tokio::spawn(follow(
        pods.clone(),
        true,
        Duration::from_millis(15),
        last_rx.clone(),
        quiet,
    ));
    let writer = {
        let (pods, written) = (pods.clone(), written.clone());
        tokio::spawn(async move {
            use kube::api::{Patch, PatchParams};
            for i in 1..=WRITES {
                let msg = i.to_string();
                let status = Patch::Merge(json!({"status": {"message": msg}}));
                let p = pods
                    .patch_status("w", &PatchParams::default(), &status)
                    .await?;
                record(&written, rv_of(&p.metadata), &msg)?;
                if i % 3 == 0 {
                    let labels = Patch::Merge(json!({"metadata": {"labels": {"n": msg}}}));
                    let p = pods.patch("w", &PatchParams::default(), &labels).await?;
                    record(&written, rv_of(&p.metadata), &msg)?;
                }
            }
            anyhow::Ok(())
        })
    };
    // Watchers start one after the other while the writer runs, alternating the two forms.
    let mut watchers = Vec::new();
    let mut n = 0;
    while !writer.is_finished() && n < WATCHERS {
        watchers.push((
            n % 2 == 0,
            tokio::spawn(follow(
                pods.clone(),
                n % 2 == 0,
                Duration::ZERO,
                last_rx.clone(),
                quiet,
            )),
        ));
        n += 1;
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let t0 = std::time::Instant::now();
    writer.await??;
    eprintln!(
        "{n} watchers started; the writer finished {:?} after the last",
        t0.elapsed()
    );
    let written = written
        .lock()
        .map_err(|_| anyhow::anyhow!("poisoned"))?
        .clone();
    let mut order = written.clone();
    order.sort_by_key(|(rv, _)| *rv);
    assert_eq!(order, written, "the writer's versions must increase");
    let last = written.last().map(|(rv, _)| *rv);
    last_tx.send(last)?;

    let mut checked = 0;
    for (from_get, w) in watchers {
        let (got_rv, seen) = w.await??;
        let expected: Vec<(u64, String)> = if from_get {
            written
                .iter()
                .filter(|(rv, _)| *rv > got_rv)
                .cloned()
                .collect()
        } else {
            // From "0": the object as it was when the watch started, then every later write.
            let Some(first) = seen.first() else {
                anyhow::bail!("a watch from 0 showed nothing (GET saw {got_rv})");
            };
            assert!(
                first.0 >= got_rv,
                "a watch from 0 started before the GET: {first:?} < {got_rv}"
            );
            written
                .iter()
                .filter(|(rv, _)| *rv >= first.0)
                .cloned()
                .collect()
        };
        assert_eq!(
            seen,
            expected,
            "watch (from {}) after a GET at {got_rv} lost, reordered or repeated writes",
            if from_get { "the GET's version" } else { "0" }
        );
        checked += 1;
    }
    let (got_rv, seen) = slow.await??;
    let expected: Vec<_> = written
        .iter()
        .filter(|(rv, _)| *rv > got_rv)
        .cloned()
        .collect();
    assert_eq!(seen, expected, "the slow watcher lost writes");
    assert!(
        checked >= 10,
        "only {checked} watchers ran; the writer was too quick to race"
    );
    println!(
        "{checked} watchers and one slow one saw all {} writes after their start",
        written.len()
    );
    h.shutdown().await;
    Ok(())
}

/// `kubectl get pods -A --field-selector metadata.name=w` and an informer of one object by name
/// across namespaces list every namespace's object of that name (the list a watch then
/// resumes from; an empty one left such a watch silent about an object that exists).
#[tokio::test]
async fn a_cluster_wide_list_by_name_finds_the_object_in_every_namespace() -> anyhow::Result<()> {
    use k8s_openapi::api::core::v1::Namespace;
    let (h, client) = start().await?;
    let other: Namespace = serde_json::from_value(json!({"metadata": {"name": "other"}}))?;
    Api::<Namespace>::all(client.clone())
        .create(&PostParams::default(), &other)
        .await?;
    for ns in ["default", "other"] {
        let c: ConfigMap = serde_json::from_value(json!({"metadata": {"name": "w"}}))?;
        Api::<ConfigMap>::namespaced(client.clone(), ns)
            .create(&PostParams::default(), &c)
            .await?;
    }
    let all: Api<ConfigMap> = Api::all(client.clone());
    let list = all
        .list(&ListParams::default().fields("metadata.name=w"))
        .await?;
    let mut found: Vec<_> = list
        .items
        .iter()
        .map(|c| c.metadata.namespace.clone().unwrap_or_default())
        .collect();
    found.sort();
    assert_eq!(found, ["default", "other"], "cluster-wide list by name");
    let one: Api<ConfigMap> = Api::namespaced(client, "other");
    let list = one
        .list(&ListParams::default().fields("metadata.name=w"))
        .await?;
    assert_eq!(list.items.len(), 1, "namespaced list by name");
    h.shutdown().await;
    Ok(())
}
