//! Shared helpers of the integration tests: start a dev cluster and get a kube client for it.

#![allow(dead_code)]

use std::time::Duration;

use devcluster::{DevCluster, DevClusterBuilder, DevClusterHandle};
use kube::config::{KubeConfigOptions, Kubeconfig};

pub async fn client_for(kubeconfig: &str) -> anyhow::Result<kube::Client> {
    let kc = Kubeconfig::from_yaml(kubeconfig)?;
    let mut cfg = kube::Config::from_custom_kubeconfig(kc, &KubeConfigOptions::default()).await?;
    // 429 (eviction blocked by a PDB) must reach the test, not be retried for minutes.
    cfg.default_retry = false;
    Ok(kube::Client::try_from(cfg)?)
}

pub async fn start_with(b: DevClusterBuilder) -> anyhow::Result<(DevClusterHandle, kube::Client)> {
    let h = b.start().await?;
    let c = client_for(&h.kubeconfig()).await?;
    Ok((h, c))
}

pub async fn start() -> anyhow::Result<(DevClusterHandle, kube::Client)> {
    start_with(DevCluster::builder()).await
}

/// Polls `probe` until it returns true or `secs` pass.
pub async fn eventually<F, Fut>(secs: u64, mut probe: F) -> bool
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = bool>,
{
    let deadline = tokio::time::Instant::now() + Duration::from_secs(secs);
    while tokio::time::Instant::now() < deadline {
        if probe().await {
            return true;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    false
}

pub fn temp_dir(tag: &str) -> std::path::PathBuf {
    let d = std::env::temp_dir().join(format!(
        "devcluster-{tag}-{}-{}",
        std::process::id(),
        rand_suffix()
    ));
    std::fs::create_dir_all(&d).expect("temp dir");
    d
}

fn rand_suffix() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_nanos() as u64)
        .unwrap_or(0)
}
