//! Bench: the simulated kubelet's pod throughput. Starts the devcluster in-process, registers
//! simulated nodes, creates pods already bound to them (`sim.basalt.dev/duration: 0s`,
//! restartPolicy Never) and measures how fast the kubelet takes them through
//! Pending → Running → Succeeded; also prints the start-up time (server + node registration).
//! `cargo bench -p basalt-kubelet --bench nodes` (env BENCH_PODS, BENCH_NODES).

use std::time::{Duration, Instant};

use futures_util::StreamExt;
use k8s_openapi::api::core::v1::Pod;
use kube::api::{Api, ListParams, PostParams};
use kube::config::{KubeConfigOptions, Kubeconfig};
use serde_json::json;

use kubelet::{ClusterSpec, Kubelet, KubeletConfig, MetricsStore};

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
    let pods_n = env_or("BENCH_PODS", 2_000);
    let nodes_n = env_or("BENCH_NODES", 16);
    let t0 = Instant::now();
    let metrics = MetricsStore::default();
    let h = devcluster::DevCluster::builder()
        .graceful_pod_deletion(true)
        .extension(metrics.router(), MetricsStore::resources())
        .start()
        .await?;
    let kc = Kubeconfig::from_yaml(&h.kubeconfig())?;
    let cfg = kube::Config::from_custom_kubeconfig(kc, &KubeConfigOptions::default()).await?;
    let client = kube::Client::try_from(cfg)?;
    let mut nodes =
        ClusterSpec::uniform(nodes_n as u32, 8, "NVIDIA-A100-SXM4-80GB", "80Gi").resolve()?;
    // Admission counts pods per node; the bench measures throughput, not the pod limit.
    for n in &mut nodes {
        n.pods = u32::MAX;
    }
    let names: Vec<String> = nodes.iter().map(|n| n.name.clone()).collect();
    let kubelet = Kubelet::register(client.clone(), KubeletConfig::new(nodes), metrics).await?;
    let startup = t0.elapsed();
    let (stop_tx, mut stop_rx) = tokio::sync::watch::channel(false);
    let running = tokio::spawn(kubelet.run(async move {
        let _ = stop_rx.wait_for(|s| *s).await;
    }));

    let pods: Api<Pod> = Api::namespaced(client.clone(), "default");
    let start = Instant::now();
    let created = futures_util::stream::iter(0..pods_n)
        .map(|i| {
            let pods = pods.clone();
            let node = names[i % names.len()].clone();
            async move {
                let pod: Pod = serde_json::from_value(json!({
                    "metadata": {"name": format!("p-{i}"), "annotations": {"sim.basalt.dev/duration": "0s"}},
                    "spec": {"nodeName": node, "restartPolicy": "Never",
                             "containers": [{"name": "main", "image": "busybox",
                                             "resources": {"requests": {"cpu": "10m", "memory": "10Mi"}}}]},
                }))?;
                pods.create(&PostParams::default(), &pod).await?;
                anyhow::Ok(())
            }
        })
        .buffer_unordered(32)
        .collect::<Vec<_>>()
        .await;
    let create_time = start.elapsed();
    created.into_iter().collect::<anyhow::Result<Vec<()>>>()?;
    let deadline = Instant::now() + Duration::from_secs(300);
    let done = loop {
        let list = pods.list(&ListParams::default()).await?;
        let succeeded = list
            .items
            .iter()
            .filter(|p| p.status.as_ref().and_then(|s| s.phase.as_deref()) == Some("Succeeded"))
            .count();
        if succeeded == pods_n {
            break start.elapsed();
        }
        anyhow::ensure!(
            Instant::now() < deadline,
            "only {succeeded}/{pods_n} pods succeeded after 300s"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    println!(
        "simulated kubelet: {nodes_n} nodes registered and ready in {:.0} ms (server start included)",
        startup.as_secs_f64() * 1000.0
    );
    println!(
        "simulated kubelet: {pods_n} bound pods created in {:.2} s; all Succeeded (2 status writes each) after {:.2} s = {:.0} pod lifecycles/s",
        create_time.as_secs_f64(),
        done.as_secs_f64(),
        pods_n as f64 / done.as_secs_f64()
    );
    let _ = stop_tx.send(true);
    let _ = running.await;
    h.shutdown().await;
    Ok(())
}
