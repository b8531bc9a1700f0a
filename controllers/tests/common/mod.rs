//! Test harness: an in-process devcluster (real HTTPS API server), simulated GPU nodes, and
//! `controllers::run` against it, all torn down on drop.

#![allow(dead_code, clippy::unwrap_used)]

use std::time::Duration;

use devcluster::{DevCluster, DevClusterHandle};
use kube::Client;
use kube::config::{KubeConfigOptions, Kubeconfig};
use kubelet::{ClusterSpec, Kubelet, KubeletConfig, MetricsStore};
use tokio::sync::oneshot;

/// A running cluster with Basalt's controllers.
pub struct Env {
    pub client: Client,
    pub cluster: Option<DevClusterHandle>,
    stops: Vec<oneshot::Sender<()>>,
    tasks: Vec<tokio::task::JoinHandle<()>>,
}

/// Starts the devcluster with the CRDs and `nodes` × `gpus` simulated nodes.
pub async fn cluster(nodes: u32, gpus: u32) -> (DevClusterHandle, Client, Env) {
    cluster_with_faults(nodes, gpus, 0.0).await
}

/// As [`cluster`], with the API server failing writes at `fault_rate` (half 500s, half 409
/// conflicts).
pub async fn cluster_with_faults(
    nodes: u32,
    gpus: u32,
    fault_rate: f64,
) -> (DevClusterHandle, Client, Env) {
    cluster_with(nodes, gpus, fault_rate, &[]).await
}

/// As [`cluster_with_faults`], plus deterministic fault rules (`basalt up --fault-rule` text).
pub async fn cluster_with(
    nodes: u32,
    gpus: u32,
    fault_rate: f64,
    rules: &[&str],
) -> (DevClusterHandle, Client, Env) {
    let _ = tracing_subscriber::fmt()
        .with_env_filter(tracing_subscriber::EnvFilter::from_default_env())
        .with_test_writer()
        .try_init();
    let mut builder = DevCluster::builder().fault_rate(fault_rate);
    for rule in rules {
        builder = builder.fault_rule(rule.parse().unwrap());
    }
    for crd in crds::crd::all() {
        builder = builder.crd(serde_json::to_value(crd).unwrap());
    }
    let handle = builder.start().await.unwrap();
    let kc = Kubeconfig::from_yaml(&handle.kubeconfig()).unwrap();
    let config = kube::Config::from_custom_kubeconfig(kc, &KubeConfigOptions::default())
        .await
        .unwrap();
    let client = Client::try_from(config).unwrap();
    let mut env = Env {
        client: client.clone(),
        cluster: None,
        stops: Vec::new(),
        tasks: Vec::new(),
    };
    if nodes > 0 {
        let spec = ClusterSpec::uniform(nodes, gpus, "NVIDIA-A100-SXM4-80GB", "80Gi");
        let kubelet = Kubelet::register(
            client.clone(),
            KubeletConfig::new(spec.resolve().unwrap()),
            MetricsStore::default(),
        )
        .await
        .unwrap();
        let (tx, rx) = oneshot::channel();
        env.stops.push(tx);
        env.tasks.push(tokio::spawn(kubelet.run(async move {
            let _ = rx.await;
        })));
    }
    (handle, client, env)
}

impl Env {
    /// Starts `controllers::run` with `config`.
    pub fn start_controllers(&mut self, config: controllers::ControllerConfig) {
        let (tx, rx) = oneshot::channel();
        self.stops.push(tx);
        let client = self.client.clone();
        self.tasks.push(tokio::spawn(async move {
            controllers::run(client, config, async move {
                let _ = rx.await;
            })
            .await
            .unwrap();
        }));
    }
}

/// A cluster plus controllers with the default configuration and a 200 ms session period.
pub async fn start(nodes: u32, gpus: u32) -> Env {
    let (handle, _client, mut env) = cluster(nodes, gpus).await;
    env.cluster = Some(handle);
    env.start_controllers(fast_config());
    env
}

/// Default config with a short session period (tests poll, they do not sleep).
pub fn fast_config() -> controllers::ControllerConfig {
    controllers::ControllerConfig {
        schedule_period: Duration::from_millis(200),
        ..Default::default()
    }
}

impl Drop for Env {
    fn drop(&mut self) {
        for s in self.stops.drain(..) {
            let _ = s.send(());
        }
        for t in &self.tasks {
            t.abort();
        }
    }
}

/// Polls `check` every 100 ms until it returns `Some`, or panics after `secs` with `what`.
pub async fn eventually<T, F, Fut>(secs: u64, what: &str, mut check: F) -> T
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Option<T>>,
{
    let deadline = tokio::time::Instant::now() + Duration::from_secs(secs);
    loop {
        if let Some(v) = check().await {
            return v;
        }
        if tokio::time::Instant::now() > deadline {
            panic!("timed out after {secs}s waiting for {what}");
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// Parses one YAML document.
pub fn yaml<T: serde::de::DeserializeOwned>(text: &str) -> T {
    serde_saphyr::from_str(text).unwrap()
}
