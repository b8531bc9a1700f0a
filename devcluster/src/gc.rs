//! Background controllers of the API server itself: the garbage collector (ownerReferences
//! with background, foreground and orphan propagation) and the namespace controller
//! (Terminating namespaces lose their content, then disappear). Both run asynchronously, like
//! kube-controller-manager, woken by deletions and by a slow tick.

use std::collections::{HashMap, HashSet};
use std::sync::Arc;
use std::time::Duration;

use serde_json::{Value, json};

use crate::cluster::{Cluster, DeleteOpts, Propagation, WriteOpts};
use crate::registry::ResourceInfo;
use crate::store::Key;
use crate::util::{finalizers, is_terminating, set_finalizers};

pub async fn run(c: Arc<Cluster>) {
    let mut shutdown = c.shutdown.clone();
    loop {
        for _ in 0..8 {
            if !pass(&c).await {
                break;
            }
        }
        tokio::select! {
            _ = c.gc_wake.notified() => tokio::time::sleep(Duration::from_millis(20)).await,
            _ = tokio::time::sleep(Duration::from_secs(2)) => {}
            _ = shutdown.changed() => return,
        }
    }
}

fn info_for(c: &Cluster, key: &Key) -> Option<Arc<ResourceInfo>> {
    let reg = c.registry();
    reg.resources
        .values()
        .find(|r| r.storage_key == key.0 && r.view == crate::registry::View::Plain)
        .cloned()
}

fn refs(o: &Value) -> Vec<Value> {
    o.pointer("/metadata/ownerReferences")
        .and_then(Value::as_array)
        .cloned()
        .unwrap_or_default()
}

fn ref_uid(r: &Value) -> &str {
    r.get("uid").and_then(Value::as_str).unwrap_or("")
}

fn bg() -> DeleteOpts {
    DeleteOpts {
        propagation: Propagation::Background,
        uid: None,
        rv: None,
        grace: Some(0),
        write: WriteOpts::internal(),
    }
}

/// Rewrites an object through the normal update path; errors are retried on the next pass.
async fn rewrite(c: &Cluster, key: &Key, f: impl Fn(&mut Value) + Send + Sync) -> bool {
    let Some(info) = info_for(c, key) else {
        return false;
    };
    let ns = Some(key.1.as_str()).filter(|n| !n.is_empty());
    let mut m = |cur: Option<&Value>| -> crate::error::ApiResult<Value> {
        let Some(cur) = cur else {
            return Ok(Value::Null);
        };
        let mut o = cur.clone();
        f(&mut o);
        Ok(o)
    };
    let mut w = vec![];
    c.update(
        &info,
        ns,
        &key.2,
        None,
        &mut m,
        &WriteOpts::internal(),
        false,
        &mut w,
    )
    .await
    .is_ok()
}

async fn delete(c: &Cluster, key: &Key) -> bool {
    let Some(info) = info_for(c, key) else {
        return false;
    };
    let ns = Some(key.1.as_str()).filter(|n| !n.is_empty());
    c.delete(&info, ns, &key.2, &bg()).await.is_ok()
}

/// One sweep; true if it changed anything (so another sweep may find more work).
async fn pass(c: &Cluster) -> bool {
    let (objects, uids): (Vec<(Key, Arc<Value>)>, HashSet<String>) = {
        let g = c.store.lock();
        (
            g.objects
                .iter()
                .map(|(k, v)| (k.clone(), v.clone()))
                .collect(),
            g.uids.keys().cloned().collect(),
        )
    };
    let mut changed = false;
    let mut dependents: HashMap<String, Vec<(Key, Arc<Value>)>> = HashMap::new();
    for (k, o) in &objects {
        for r in refs(o) {
            dependents
                .entry(ref_uid(&r).to_string())
                .or_default()
                .push((k.clone(), o.clone()));
        }
    }
    for (k, o) in &objects {
        let uid = o
            .pointer("/metadata/uid")
            .and_then(Value::as_str)
            .unwrap_or("")
            .to_string();
        if is_terminating(o) {
            let fins = finalizers(o);
            let deps = dependents.get(&uid).cloned().unwrap_or_default();
            if fins.iter().any(|f| f == "orphan") {
                for (dk, _) in &deps {
                    let u = uid.clone();
                    changed |= rewrite(c, dk, move |d| {
                        let kept: Vec<Value> =
                            refs(d).into_iter().filter(|r| ref_uid(r) != u).collect();
                        let m = crate::util::ensure_obj(d, &["metadata"]);
                        if kept.is_empty() {
                            m.remove("ownerReferences")
                        } else {
                            m.insert("ownerReferences".into(), json!(kept))
                        };
                    })
                    .await;
                }
                changed |= rewrite(c, k, |o| {
                    let f: Vec<String> = finalizers(o)
                        .into_iter()
                        .filter(|f| f != "orphan")
                        .collect();
                    set_finalizers(o, &f);
                })
                .await;
                continue;
            }
            if fins.iter().any(|f| f == "foregroundDeletion") {
                let mut blocking = false;
                for (dk, d) in &deps {
                    if !is_terminating(d) {
                        changed |= delete(c, dk).await;
                    }
                    let blocks = refs(d).iter().any(|r| {
                        ref_uid(r) == uid && r.get("blockOwnerDeletion") == Some(&json!(true))
                    });
                    blocking |= blocks && c.store.get(dk).is_some();
                }
                if !blocking {
                    changed |= rewrite(c, k, |o| {
                        let f: Vec<String> = finalizers(o)
                            .into_iter()
                            .filter(|f| f != "foregroundDeletion")
                            .collect();
                        set_finalizers(o, &f);
                    })
                    .await;
                }
            }
        }
        if k.0 == "/namespaces" && is_terminating(o) {
            changed |= finish_namespace(c, &k.2, &objects).await;
            continue;
        }
        let rs = refs(o);
        if rs.is_empty() {
            continue;
        }
        let live: Vec<&Value> = rs.iter().filter(|r| uids.contains(ref_uid(r))).collect();
        if live.is_empty() {
            if !is_terminating(o) {
                changed |= delete(c, k).await;
            }
        } else if live.len() < rs.len() {
            let keep: HashSet<String> = live.iter().map(|r| ref_uid(r).to_string()).collect();
            changed |= rewrite(c, k, move |d| {
                let kept: Vec<Value> = refs(d)
                    .into_iter()
                    .filter(|r| keep.contains(ref_uid(r)))
                    .collect();
                crate::util::ensure_obj(d, &["metadata"])
                    .insert("ownerReferences".into(), json!(kept));
            })
            .await;
        }
    }
    changed
}

/// Deletes the content of a terminating namespace; removes it once empty.
async fn finish_namespace(c: &Cluster, ns: &str, objects: &[(Key, Arc<Value>)]) -> bool {
    let mut changed = false;
    let mut remaining = 0;
    for (k, o) in objects
        .iter()
        .filter(|(k, _)| k.1 == ns && k.0 != "/namespaces")
    {
        remaining += 1;
        if !is_terminating(o) {
            changed |= delete(c, k).await;
        }
    }
    if remaining == 0 {
        let key: Key = ("/namespaces".into(), String::new(), ns.to_string());
        changed |= c.store.delete(&key, None).is_ok();
    }
    changed
}
