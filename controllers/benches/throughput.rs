//! Bench: pods bound per second through the real API and scheduling latency (pod first seen →
//! first seen bound, both observed by one watch) on 100 simulated nodes, for one Job of 1,000
//! pods and for 1,000 single-pod Jobs. Run: `cargo bench -p basalt-controllers --bench throughput`.
//! `BASALT_BENCH_BACKGROUND_PODS=N` first runs a Job of N pods (not measured) beside the
//! single-pod Jobs. The nodes, the controllers and the bench's own client reach the server in
//! process, as in `basalt up`; `BASALT_BENCH_HTTPS=1` sends them through its HTTPS port instead
//! (the transport a deployment's controllers use to a real API server).

#![allow(clippy::unwrap_used)]

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use crds::job::Job;
use devcluster::DevCluster;
use futures_util::{StreamExt, TryStreamExt};
use k8s_openapi::api::core::v1::Pod;
use kube::api::{Api, PostParams};
use kube::config::{KubeConfigOptions, Kubeconfig};
use kube::runtime::watcher;
use kube::{Client, ResourceExt};
use kubelet::{ClusterSpec, Kubelet, KubeletConfig, MetricsStore};

type Seen = Arc<Mutex<HashMap<String, (Instant, Option<Instant>)>>>;

/// Name of the optional background Job (`BASALT_BENCH_BACKGROUND_PODS=N`): N pods that run
/// before the single-pod Jobs are submitted, so the controllers' caches hold more than the
/// measured pods (a busier cluster). Its pods are not measured.
const BACKGROUND: &str = "background";

fn job(name: &str, replicas: u32) -> Job {
    serde_saphyr::from_str(&format!(
        "apiVersion: batch.volcano.sh/v1alpha1\nkind: Job\nmetadata: {{name: {name}}}\nspec:\n  minAvailable: {replicas}\n  schedulerName: volcano\n  tasks:\n  - name: t\n    replicas: {replicas}\n    template:\n      spec:\n        containers: [{{name: c, image: x, resources: {{requests: {{cpu: 100m, memory: 64Mi}}}}}}]\n"
    ))
    .unwrap()
}

fn watch_pods(client: Client, seen: Seen) {
    tokio::spawn(async move {
        let stream =
            watcher(Api::<Pod>::all(client), watcher::Config::default()).default_backoff_applied();
        let mut stream = std::pin::pin!(stream);
        while let Ok(Some(pod)) = stream.try_next().await {
            if pod.name_any().starts_with(BACKGROUND) {
                continue;
            }
            let now = Instant::now();
            let bound = pod
                .spec
                .as_ref()
                .and_then(|s| s.node_name.as_ref())
                .is_some();
            let mut seen = seen.lock().unwrap();
            let entry = seen.entry(pod.name_any()).or_insert((now, None));
            if bound && entry.1.is_none() {
                entry.1 = Some(now);
            }
        }
    });
}

trait Applied {
    fn default_backoff_applied(
        self,
    ) -> impl futures_util::Stream<Item = Result<Pod, watcher::Error>> + Send;
}

impl<S: futures_util::Stream<Item = Result<watcher::Event<Pod>, watcher::Error>> + Send> Applied
    for S
{
    fn default_backoff_applied(
        self,
    ) -> impl futures_util::Stream<Item = Result<Pod, watcher::Error>> + Send {
        use kube::runtime::WatchStreamExt;
        self.default_backoff().applied_objects()
    }
}

fn percentile(sorted: &[Duration], p: f64) -> Duration {
    sorted[((sorted.len() as f64 - 1.0) * p).round() as usize]
}

async fn measure(label: &str, seen: &Seen, expected: usize, start: Instant) {
    loop {
        let bound = seen
            .lock()
            .unwrap()
            .values()
            .filter(|(_, b)| b.is_some())
            .count();
        if bound >= expected {
            break;
        }
        if start.elapsed() > Duration::from_secs(600) {
            println!("{label}: only {bound}/{expected} bound after 600 s");
            return;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let seen = seen.lock().unwrap();
    let first_created = seen.values().map(|(c, _)| *c).min().unwrap();
    let last_bound = seen.values().filter_map(|(_, b)| *b).max().unwrap();
    let mut latencies: Vec<Duration> = seen
        .values()
        .filter_map(|(c, b)| Some(b.as_ref()?.duration_since(*c)))
        .collect();
    latencies.sort();
    let span = last_bound.duration_since(first_created).as_secs_f64();
    println!(
        "{label}: {expected} pods bound in {:.2} s from submit ({:.2} s from first pod): {:.0} pods/s; latency p50 {:?} p99 {:?}",
        start.elapsed().as_secs_f64(),
        span,
        expected as f64 / span,
        percentile(&latencies, 0.5),
        percentile(&latencies, 0.99),
    );
}

/// Stops one bench cluster's controllers and kubelet the way `basalt` does on a signal (their
/// graceful shutdown), so that a second cluster is measured without the first one's controllers
/// still running and the process does not exit under running reconciles.
struct Running {
    stop: tokio::sync::watch::Sender<bool>,
    tasks: Vec<tokio::task::JoinHandle<()>>,
    _handle: devcluster::DevClusterHandle,
}

impl Running {
    fn signal(&self) -> impl Future<Output = ()> + Send + 'static {
        let mut rx = self.stop.subscribe();
        async move {
            let _ = rx.wait_for(|stop| *stop).await;
        }
    }

    async fn stop(self) {
        let _ = self.stop.send(true);
        for task in self.tasks {
            if tokio::time::timeout(Duration::from_secs(30), task)
                .await
                .is_err()
            {
                println!("  (a controller or the kubelet did not stop within 30 s)");
            }
        }
    }
}

async fn setup() -> (Running, Client, Seen) {
    let mut builder = DevCluster::builder().history(200_000);
    for crd in crds::crd::all() {
        builder = builder.crd(serde_json::to_value(crd).unwrap());
    }
    let handle = builder.start().await.unwrap();
    let client = if std::env::var_os("BASALT_BENCH_HTTPS").is_some() {
        let kc = Kubeconfig::from_yaml(&handle.kubeconfig()).unwrap();
        let config = kube::Config::from_custom_kubeconfig(kc, &KubeConfigOptions::default())
            .await
            .unwrap();
        Client::try_from(config).unwrap()
    } else {
        handle.in_process_client("basalt-bench")
    };
    let spec = ClusterSpec::uniform(100, 8, "NVIDIA-A100-SXM4-80GB", "80Gi");
    let kubelet = Kubelet::register(
        client.clone(),
        KubeletConfig::new(spec.resolve().unwrap()),
        MetricsStore::default(),
    )
    .await
    .unwrap();
    let mut running = Running {
        stop: tokio::sync::watch::channel(false).0,
        tasks: Vec::new(),
        _handle: handle,
    };
    let stopped = running.signal();
    running.tasks.push(tokio::spawn(async move {
        kubelet.run(stopped).await;
    }));
    let c = client.clone();
    let stopped = running.signal();
    running.tasks.push(tokio::spawn(async move {
        controllers::run(c, controllers::ControllerConfig::default(), stopped)
            .await
            .unwrap();
    }));
    let seen: Seen = Arc::default();
    watch_pods(client.clone(), seen.clone());
    tokio::time::sleep(Duration::from_secs(2)).await;
    (running, client, seen)
}

/// The product's allocator (docs/ARCHITECTURE.md, "Memory allocator"): benches measure what ships.
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

#[tokio::main(flavor = "multi_thread")]
async fn main() {
    let filter = std::env::args()
        .nth(1)
        .filter(|a| !a.starts_with('-'))
        .unwrap_or_default();
    if "one-job-1000-pods".contains(&filter) {
        let (running, client, seen) = setup().await;
        let jobs: Api<Job> = Api::namespaced(client.clone(), "default");
        let start = Instant::now();
        jobs.create(&PostParams::default(), &job("big", 1000))
            .await
            .unwrap();
        measure("one Job of 1,000 pods on 100 nodes", &seen, 1000, start).await;
        running.stop().await;
    }
    if "1000-single-pod-jobs".contains(&filter) {
        let (running, client, seen) = setup().await;
        let jobs: Api<Job> = Api::namespaced(client.clone(), "default");
        let background: u32 = std::env::var("BASALT_BENCH_BACKGROUND_PODS")
            .ok()
            .and_then(|v| v.parse().ok())
            .unwrap_or(0);
        if background > 0 {
            jobs.create(&PostParams::default(), &job(BACKGROUND, background))
                .await
                .unwrap();
            let pods: Api<Pod> = Api::namespaced(client.clone(), "default");
            let started = Instant::now();
            loop {
                let list = pods.list(&Default::default()).await.unwrap();
                let running = (list.items.iter())
                    .filter(|p| p.spec.as_ref().is_some_and(|s| s.node_name.is_some()))
                    .count();
                if running >= background as usize || started.elapsed() > Duration::from_secs(600) {
                    println!(
                        "  ({running} background pods bound in {:.1} s)",
                        started.elapsed().as_secs_f64()
                    );
                    break;
                }
                tokio::time::sleep(Duration::from_millis(500)).await;
            }
        }
        let start = Instant::now();
        futures_util::stream::iter(0..1000)
            .map(|i| {
                let jobs = jobs.clone();
                async move {
                    jobs.create(&PostParams::default(), &job(&format!("j{i}"), 1))
                        .await
                        .unwrap()
                }
            })
            .buffer_unordered(32)
            .for_each(|_| async {})
            .await;
        println!(
            "  (submitted 1,000 Jobs in {:.2} s)",
            start.elapsed().as_secs_f64()
        );
        measure("1,000 single-pod Jobs on 100 nodes", &seen, 1000, start).await;
        running.stop().await;
    }
}
