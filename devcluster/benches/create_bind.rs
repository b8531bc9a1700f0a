//! Bench: create and bind pods through the HTTPS API with kube clients while 10 watchers
//! follow every pod event; prints pods/s (created + bound) and memory per 10k pods.
//! `cargo bench -p basalt-devcluster --bench create_bind` (env BENCH_PODS, BENCH_CONCURRENCY;
//! BENCH_DATA_DIR=<dir> persists to a fresh data dir there, BENCH_NO_FSYNC=1 then skips fsync).

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Instant;

use futures_util::{StreamExt, TryStreamExt};
use k8s_openapi::api::core::v1::Pod;
use kube::api::{Api, ListParams, PostParams, WatchEvent, WatchParams};
use kube::config::{KubeConfigOptions, Kubeconfig};
use serde_json::json;

fn rss_kib() -> u64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("VmRSS:"))
                .and_then(|l| l.split_whitespace().nth(1)?.parse().ok())
        })
        .unwrap_or(0)
}

fn env_or(name: &str, default: usize) -> usize {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

/// The product's allocator (docs/ARCHITECTURE.md, "Memory allocator"): benches measure what ships.
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() -> anyhow::Result<()> {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?;
    rt.block_on(run())
}

async fn run() -> anyhow::Result<()> {
    let pods_n = env_or("BENCH_PODS", 10_000);
    let conc = env_or("BENCH_CONCURRENCY", 64);
    let watchers_n = 10;
    let mut b = devcluster::DevCluster::builder();
    let data_dir = std::env::var_os("BENCH_DATA_DIR")
        .map(|d| std::path::PathBuf::from(d).join(format!("create-bind-{}", std::process::id())));
    if let Some(d) = &data_dir {
        let no_fsync = std::env::var("BENCH_NO_FSYNC").is_ok_and(|v| v == "1");
        println!(
            "create_bind: data dir {} ({})",
            d.display(),
            if no_fsync {
                "no fsync"
            } else {
                "fdatasync per write, group commit"
            }
        );
        b = b.data_dir(d).unsafe_no_fsync(no_fsync);
    }
    let h = b.start().await?;
    let kc = Kubeconfig::from_yaml(&h.kubeconfig())?;
    let cfg = kube::Config::from_custom_kubeconfig(kc, &KubeConfigOptions::default()).await?;
    let client = kube::Client::try_from(cfg)?;
    let pods: Api<Pod> = Api::namespaced(client.clone(), "default");
    let rss_before = rss_kib();

    let seen = Arc::new(AtomicUsize::new(0));
    let rv = pods
        .list(&ListParams::default())
        .await?
        .metadata
        .resource_version
        .unwrap_or_default();
    let mut watchers = vec![];
    for _ in 0..watchers_n {
        let s = seen.clone();
        let api = pods.clone();
        let rv = rv.clone();
        watchers.push(tokio::spawn(async move {
            let Ok(stream) = api.watch(&WatchParams::default().timeout(290), &rv).await else {
                return;
            };
            let mut stream = stream.boxed();
            while let Ok(Some(ev)) = stream.try_next().await {
                if matches!(ev, WatchEvent::Added(_) | WatchEvent::Modified(_)) {
                    s.fetch_add(1, Ordering::Relaxed);
                }
            }
        }));
    }
    tokio::time::sleep(std::time::Duration::from_millis(200)).await;

    let next = Arc::new(AtomicUsize::new(0));
    let start = Instant::now();
    let mut workers = vec![];
    for _ in 0..conc {
        let api = pods.clone();
        let next = next.clone();
        workers.push(tokio::spawn(async move {
            loop {
                let i = next.fetch_add(1, Ordering::Relaxed);
                if i >= pods_n {
                    return Ok::<(), kube::Error>(());
                }
                let name = format!("bench-{i}");
                let pod: Pod = serde_json::from_value(json!({"metadata": {"name": name, "labels": {"app": "bench"}},
                    "spec": {"schedulerName": "basalt", "containers": [{"name": "main", "image": "busybox",
                        "resources": {"requests": {"cpu": "100m", "memory": "64Mi"}}}]}}))
                .map_err(kube::Error::SerdeError)?;
                api.create(&PostParams::default(), &pod).await?;
                let binding = json!({"apiVersion": "v1", "kind": "Binding", "metadata": {"name": name},
                    "target": {"apiVersion": "v1", "kind": "Node", "name": format!("node-{}", i % 4)}});
                let _: serde_json::Value = api.create_subresource("binding", &name, &PostParams::default(), &binding).await?;
            }
        }));
    }
    for w in workers {
        w.await??;
    }
    let elapsed = start.elapsed();
    let want = pods_n * 2 * watchers_n;
    let deadline = Instant::now() + std::time::Duration::from_secs(60);
    while seen.load(Ordering::Relaxed) < want && Instant::now() < deadline {
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
    let drained = start.elapsed();
    let rss_after = rss_kib();
    let rate = pods_n as f64 / elapsed.as_secs_f64();
    println!(
        "create_bind: {pods_n} pods created+bound in {:.2}s = {rate:.0} pods/s (concurrency {conc}, {watchers_n} watchers)",
        elapsed.as_secs_f64()
    );
    println!(
        "create_bind: watchers received {}/{want} events; all delivered after {:.2}s",
        seen.load(Ordering::Relaxed),
        drained.as_secs_f64()
    );
    let per_10k = (rss_after.saturating_sub(rss_before)) as f64 / pods_n as f64 * 10_000.0 / 1024.0;
    println!(
        "create_bind: process RSS {} MiB -> {} MiB; {per_10k:.1} MiB per 10k pods (server + client, default history of 10k changes)",
        rss_before / 1024,
        rss_after / 1024
    );
    for w in watchers {
        w.abort();
    }
    h.shutdown().await;
    if let Some(d) = data_dir {
        std::fs::remove_dir_all(d)?;
    }
    Ok(())
}
