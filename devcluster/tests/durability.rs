//! The data dir's promise through real HTTPS (issue 16): a write answered 2xx survives a
//! restart, a write the disk refused is answered 5xx and changes nothing, and a failed fdatasync
//! fails its request and stops further writes instead of acknowledging what may be lost.

mod common;

use std::collections::BTreeSet;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};

use common::{start_with, temp_dir};
use devcluster::{DevCluster, DiskFaults};
use futures_util::StreamExt;
use k8s_openapi::api::core::v1::ConfigMap;
use kube::api::{Api, DeleteParams, ListParams, PostParams};
use serde_json::json;

/// A disk that is full for every third append once armed: it takes half of the record, then
/// fails with ENOSPC, as a real full disk can.
#[derive(Default)]
struct FlakyDisk {
    armed: AtomicBool,
    appends: AtomicUsize,
    fail_sync: AtomicBool,
}

impl DiskFaults for FlakyDisk {
    fn append(&self, len: usize) -> Option<(usize, std::io::Error)> {
        if !self.armed.load(Ordering::SeqCst) {
            return None;
        }
        let n = self.appends.fetch_add(1, Ordering::SeqCst);
        (n % 3 == 2).then(|| (len / 2, std::io::Error::from_raw_os_error(28)))
    }
    fn sync(&self) -> Option<std::io::Error> {
        self.fail_sync
            .load(Ordering::SeqCst)
            .then(|| std::io::Error::from_raw_os_error(5))
    }
}

fn cm(name: &str) -> anyhow::Result<ConfigMap> {
    Ok(serde_json::from_value(
        json!({"metadata": {"name": name}, "data": {"k": name}}),
    )?)
}

#[tokio::test]
async fn every_acknowledged_create_survives_and_every_refused_one_got_a_5xx() -> anyhow::Result<()>
{
    let dir = temp_dir("durable");
    let disk = Arc::new(FlakyDisk::default());
    let (h, client) = start_with(
        DevCluster::builder()
            .data_dir(&dir)
            .disk_faults(disk.clone()),
    )
    .await?;
    let api: Api<ConfigMap> = Api::default_namespaced(client);
    disk.armed.store(true, Ordering::SeqCst);
    let results: Vec<(String, Result<ConfigMap, kube::Error>)> = futures_util::stream::iter(0..240)
        .map(|i| {
            let api = api.clone();
            async move {
                let name = format!("cm-{i}");
                let r = match cm(&name) {
                    Ok(c) => api.create(&PostParams::default(), &c).await,
                    Err(e) => panic!("{e}"),
                };
                (name, r)
            }
        })
        .buffer_unordered(16)
        .collect()
        .await;
    let mut acked = BTreeSet::new();
    let mut refused = BTreeSet::new();
    for (name, r) in results {
        match r {
            Ok(_) => {
                acked.insert(name);
            }
            Err(kube::Error::Api(s)) if s.code >= 500 => {
                assert!(s.message.contains("not made"), "{}", s.message);
                refused.insert(name);
            }
            Err(e) => panic!("{name}: neither acknowledged nor a 5xx: {e}"),
        }
    }
    assert!(
        !acked.is_empty() && !refused.is_empty(),
        "{acked:?} {refused:?}"
    );
    // A refused create changed nothing, not even memory.
    for name in &refused {
        assert!(
            api.get_opt(name).await?.is_none(),
            "{name} refused but visible"
        );
    }
    // Deletes and updates take the same path: a refused delete keeps the object.
    disk.appends.store(0, Ordering::SeqCst);
    let mut deleted = BTreeSet::new();
    for name in acked.iter().take(6) {
        match api.delete(name, &DeleteParams::default()).await {
            Ok(_) => {
                deleted.insert(name.clone());
            }
            Err(kube::Error::Api(s)) if s.code >= 500 => {
                assert!(
                    api.get_opt(name).await?.is_some(),
                    "{name} refused delete but gone"
                );
            }
            Err(e) => panic!("{name}: {e}"),
        }
    }
    assert_eq!(deleted.len(), 4, "every third delete is refused");
    disk.armed.store(false, Ordering::SeqCst);
    h.shutdown().await;

    let (h, client) = start_with(DevCluster::builder().data_dir(&dir)).await?;
    let api: Api<ConfigMap> = Api::default_namespaced(client);
    let stored: BTreeSet<String> = api
        .list(&ListParams::default())
        .await?
        .items
        .into_iter()
        .filter_map(|c| c.metadata.name)
        .filter(|n| n.starts_with("cm-"))
        .collect();
    let expected: BTreeSet<String> = acked.difference(&deleted).cloned().collect();
    assert_eq!(
        stored, expected,
        "after restart: exactly the acknowledged state"
    );
    h.shutdown().await;
    std::fs::remove_dir_all(&dir)?;
    Ok(())
}

#[tokio::test]
async fn a_failed_fdatasync_fails_the_request_and_stops_writes() -> anyhow::Result<()> {
    let dir = temp_dir("fsyncfail");
    let disk = Arc::new(FlakyDisk::default());
    let (h, client) = start_with(
        DevCluster::builder()
            .data_dir(&dir)
            .disk_faults(disk.clone()),
    )
    .await?;
    let api: Api<ConfigMap> = Api::default_namespaced(client);
    api.create(&PostParams::default(), &cm("before")?).await?;
    disk.fail_sync.store(true, Ordering::SeqCst);
    let s = match api.create(&PostParams::default(), &cm("unsure")?).await {
        Err(kube::Error::Api(s)) => s,
        other => panic!("expected a 5xx, got {other:?}"),
    };
    assert_eq!(s.code, 500, "{}", s.message);
    assert!(s.message.contains("fdatasync"), "{}", s.message);
    // The disk state is unknown now: nothing more is acknowledged, even once syncs work again.
    disk.fail_sync.store(false, Ordering::SeqCst);
    let s = match api.create(&PostParams::default(), &cm("after")?).await {
        Err(kube::Error::Api(s)) => s,
        other => panic!("expected a 5xx, got {other:?}"),
    };
    assert!(
        s.code >= 500 && s.message.contains("restart"),
        "{}",
        s.message
    );
    h.shutdown().await;

    let (h, client) = start_with(DevCluster::builder().data_dir(&dir)).await?;
    let api: Api<ConfigMap> = Api::default_namespaced(client);
    assert!(api.get_opt("before").await?.is_some());
    assert!(api.get_opt("after").await?.is_none());
    api.create(&PostParams::default(), &cm("restarted")?)
        .await?;
    h.shutdown().await;
    std::fs::remove_dir_all(&dir)?;
    Ok(())
}

#[tokio::test]
async fn a_log_corrupted_in_the_middle_refuses_to_start_and_is_kept() -> anyhow::Result<()> {
    let dir = temp_dir("corrupt");
    let (h, client) = start_with(DevCluster::builder().data_dir(&dir)).await?;
    let api: Api<ConfigMap> = Api::default_namespaced(client);
    for i in 0..5 {
        api.create(&PostParams::default(), &cm(&format!("c{i}"))?)
            .await?;
    }
    h.shutdown().await;
    let log = dir.join("objects.jsonl");
    let text = std::fs::read_to_string(&log)?;
    let mut lines: Vec<&str> = text.lines().collect();
    let n = lines.len();
    let torn = &lines[n - 3][..lines[n - 3].len() / 2];
    lines[n - 3] = torn;
    let broken = lines.join("\n") + "\n";
    std::fs::write(&log, &broken)?;
    let err = match DevCluster::builder().data_dir(&dir).start().await {
        Err(e) => e.to_string(),
        Ok(_) => panic!("started on a corrupt log"),
    };
    assert!(
        err.contains("objects.jsonl") && err.contains(&format!("line {}", n - 2)),
        "{err}"
    );
    assert_eq!(std::fs::read_to_string(&log)?, broken, "log rewritten");

    // Half a record at the end is a torn append: dropped, everything before it is served.
    std::fs::write(&log, text + "{\"rv\":9999,\"k\":[\"/configmaps\",\"defa")?;
    let (h, client) = start_with(DevCluster::builder().data_dir(&dir)).await?;
    let api: Api<ConfigMap> = Api::default_namespaced(client);
    for i in 0..5 {
        assert!(api.get_opt(&format!("c{i}")).await?.is_some());
    }
    assert!(h.resource_version() < 9999);
    h.shutdown().await;
    std::fs::remove_dir_all(&dir)?;
    Ok(())
}

/// A token file that cannot be a bearer token (edited by hand, say) refuses to start and names
/// the file, instead of serving a cluster whose every client gets 401.
#[tokio::test]
async fn a_token_file_that_is_not_a_token_refuses_to_start() -> anyhow::Result<()> {
    let dir = temp_dir("token");
    let h = DevCluster::builder().data_dir(&dir).start().await?;
    h.shutdown().await;
    std::fs::write(dir.join("token"), "two words\n")?;
    let err = match DevCluster::builder().data_dir(&dir).start().await {
        Err(e) => e.to_string(),
        Ok(_) => panic!("started with a token that has a space"),
    };
    assert!(
        err.contains(&dir.join("token").display().to_string()) && err.contains("printable ASCII"),
        "{err}"
    );
    std::fs::remove_dir_all(&dir)?;
    Ok(())
}
