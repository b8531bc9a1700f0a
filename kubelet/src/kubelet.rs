//! The simulated kubelet's shell: registers the nodes (Node, status, Lease), then
//! runs the heartbeat, the usage publisher and the pod loop (`pods.rs`) until shut down.
//!
//! All I/O goes through a kube-rs [`Client`]; the decisions live in the pure modules.

use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use k8s_openapi::api::coordination::v1::Lease;
use k8s_openapi::api::core::v1::{Namespace, Node};
use k8s_openapi::jiff::Timestamp;
use kube::Client;
use kube::api::{Api, DeleteParams, ListParams, Patch, PatchParams, PostParams};
use serde_json::{Value, json};

use super::lifecycle::RunLedger;
use super::metrics::{self, MetricsStore};
use super::spec::SimNode;
use super::usage::{self, Demand, UsageOverride};
use super::{Error, FIELD_MANAGER, node};

/// What the simulated kubelet runs.
#[derive(Debug, Clone)]
pub struct KubeletConfig {
    pub nodes: Vec<SimNode>,
    /// Run time of pods without `sim.basalt.dev/duration`; `None` runs them until deleted.
    pub default_duration: Option<Duration>,
    /// Lease renewal period.
    pub heartbeat: Duration,
    /// How often NodeMetrics and `basalt.dev/gpu-utilization` are refreshed (and overrides read).
    pub metrics_interval: Duration,
}

impl KubeletConfig {
    pub fn new(nodes: Vec<SimNode>) -> Self {
        Self {
            nodes,
            default_duration: None,
            heartbeat: Duration::from_secs(10),
            metrics_interval: Duration::from_secs(2),
        }
    }
}

/// A pod admitted onto a node (running, or about to).
#[derive(Debug, Clone, Copy)]
pub(super) struct Placed {
    pub node: usize,
    pub demand: Demand,
    pub request: super::admit::Request,
}

/// State shared by the kubelet's loops and per-pod tasks.
pub(super) struct Ctx {
    pub client: Client,
    pub config: KubeletConfig,
    pub index: HashMap<String, usize>,
    pub ledger: Mutex<RunLedger>,
    pub next_ip: Mutex<Vec<u32>>,
    /// Running pods per (namespace, name): node index and demand, for usage.
    pub running: Mutex<HashMap<(String, String), Placed>>,
    pub metrics: MetricsStore,
}

impl Ctx {
    pub fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
        // A panicking pod task cannot leave these maps half-updated (single inserts/removes).
        m.lock().unwrap_or_else(|e| e.into_inner())
    }

    pub fn pod_ip(&self, node: usize) -> String {
        let mut next = Self::lock(&self.next_ip);
        let n = next[node];
        next[node] = n.wrapping_add(1);
        format!("10.244.{}.{}", node % 256, n % 250 + 2)
    }

    /// Keeps an IP found on a pod (after a restart) from being handed out again soon.
    pub fn claim_ip(&self, node: usize, ip: &str) {
        if let Some(host) = ip.rsplit('.').next().and_then(|h| h.parse::<u32>().ok()) {
            let mut next = Self::lock(&self.next_ip);
            next[node] = next[node].max(host.saturating_sub(1));
        }
    }
}

/// Second-precision RFC 3339, as Kubernetes `Time` fields are written.
pub(super) fn rfc3339(ts: Timestamp) -> String {
    Timestamp::from_second(ts.as_second())
        .unwrap_or(ts)
        .to_string()
}

fn micro_time(ts: Timestamp) -> String {
    format!(
        "{}.{:06}Z",
        rfc3339(ts).trim_end_matches('Z'),
        ts.subsec_microsecond()
    )
}

pub(super) fn params() -> PatchParams {
    PatchParams {
        field_manager: Some(FIELD_MANAGER.into()),
        ..Default::default()
    }
}

pub(super) fn status_code(e: &kube::Error) -> Option<u16> {
    match e {
        kube::Error::Api(s) => Some(s.code),
        _ => None,
    }
}

/// Taint kube-apiserver puts on new Nodes until they are Ready.
const NOT_READY_TAINT: &str = "node.kubernetes.io/not-ready";

/// Whether a retry may cure `e`: a server error, throttling, a conflict (the registration's
/// merge patches carry no precondition, so a conflict is the server's, not ours) or no answer.
fn transient(e: &kube::Error) -> bool {
    match e {
        kube::Error::Api(s) => s.code >= 500 || s.code == 429 || s.code == 409,
        kube::Error::HyperError(_) | kube::Error::Service(_) => true,
        _ => false,
    }
}

/// Runs one registration step, again while it fails with what a retry may cure ([`transient`]):
/// up to 8 attempts, 20 ms apart doubling to 1.3 s (about 2.5 s in all).
async fn retried<T, F, Fut>(mut step: F) -> Result<T, kube::Error>
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Result<T, kube::Error>>,
{
    let mut attempt = 0u32;
    loop {
        match step().await {
            Err(e) if attempt < 7 && transient(&e) => {
                tracing::debug!(error = %e, attempt, "a registration step failed; retrying");
                tokio::time::sleep(Duration::from_millis(20 << attempt)).await;
                attempt += 1;
            }
            other => return other,
        }
    }
}

/// Creates `obj` named `name`; `Ok(true)` if it was created, `Ok(false)` if it already exists.
/// A conflict on create is believed only once a read finds the object: otherwise the error is
/// returned (a conflict, so [`retried`] tries again).
async fn ensure_created<K>(
    api: &Api<K>,
    name: &str,
    post: &PostParams,
    obj: &K,
) -> Result<bool, kube::Error>
where
    K: kube::Resource + Clone + serde::de::DeserializeOwned + serde::Serialize + std::fmt::Debug,
{
    match api.create(post, obj).await {
        Ok(_) => Ok(true),
        Err(e) if status_code(&e) == Some(409) => match api.get_opt(name).await? {
            Some(_) => Ok(false),
            None => Err(e),
        },
        Err(e) => Err(e),
    }
}

/// A registered set of simulated nodes, ready to [`run`](Kubelet::run).
pub struct Kubelet {
    ctx: Arc<Ctx>,
}

impl Kubelet {
    /// Creates (or refreshes) every node with a Ready status and a Lease, removes simulated
    /// nodes that are no longer in the spec. Usage samples go to `metrics` (serve them with
    /// [`MetricsStore::router`]). When this returns the nodes are schedulable.
    pub async fn register(
        client: Client,
        config: KubeletConfig,
        metrics: MetricsStore,
    ) -> Result<Self, Error> {
        let now = Timestamp::now();
        let nodes: Api<Node> = Api::all(client.clone());
        for (i, sim) in config.nodes.iter().enumerate() {
            let obj = node::node_object(sim, i, &rfc3339(now));
            let err = |source| Error::Register {
                node: sim.name.clone(),
                source,
            };
            let typed: Node =
                serde_json::from_value(obj.clone()).map_err(|e| err(kube::Error::SerdeError(e)))?;
            let pp = params();
            let post = PostParams {
                field_manager: Some(FIELD_MANAGER.into()),
                ..Default::default()
            };
            // Each step is retried on its own, so a failed write costs that write a retry,
            // not the whole registration.
            let created = retried(|| ensure_created(&nodes, &sim.name, &post, &typed))
                .await
                .map_err(err)?;
            if !created {
                let refresh = json!({"metadata": {"labels": obj["metadata"]["labels"],
                    "annotations": obj["metadata"]["annotations"]}, "spec": obj["spec"]});
                let refresh = Patch::Merge(&refresh);
                retried(|| nodes.patch(&sim.name, &pp, &refresh))
                    .await
                    .map_err(err)?;
            }
            let status = json!({"status": obj["status"]});
            let status = Patch::Merge(&status);
            retried(|| nodes.patch_status(&sim.name, &pp, &status))
                .await
                .map_err(err)?;
            // kube-apiserver's TaintNodesByCondition admission gives a new Node the
            // `node.kubernetes.io/not-ready` taint; kube-controller-manager removes it once the
            // node reports Ready. The node is Ready now, so remove it here too (a control plane
            // without kube-controller-manager would otherwise keep every pod off the node).
            let current = retried(|| nodes.get(&sim.name)).await.map_err(err)?;
            let taints = current.spec.and_then(|s| s.taints).unwrap_or_default();
            if taints.iter().any(|t| t.key == NOT_READY_TAINT) {
                let kept: Vec<_> = taints
                    .into_iter()
                    .filter(|t| t.key != NOT_READY_TAINT)
                    .collect();
                let untaint = json!({"spec": {"taints": kept}});
                let untaint = Patch::Merge(&untaint);
                retried(|| nodes.patch(&sim.name, &pp, &untaint))
                    .await
                    .map_err(err)?;
            }
        }
        let ours: Vec<&str> = config.nodes.iter().map(|n| n.name.as_str()).collect();
        let selector = format!("{}=true", node::SIMULATED_LABEL);
        if let Ok(list) = nodes.list(&ListParams::default().labels(&selector)).await {
            for stale in list
                .items
                .iter()
                .filter_map(|n| n.metadata.name.as_deref())
                .filter(|n| !ours.contains(n))
            {
                tracing::info!(
                    node = stale,
                    "removing a simulated node that is no longer in the cluster spec"
                );
                let _ = nodes.delete(stale, &DeleteParams::default()).await;
            }
        }
        let namespaces: Api<Namespace> = Api::all(client.clone());
        let ns: Namespace = serde_json::from_value(
            json!({"metadata": {"name": node::LEASE_NAMESPACE}}),
        )
        .map_err(|e| Error::Lease {
            node: String::new(),
            source: kube::Error::SerdeError(e),
        })?;
        // A cluster whose RBAC does not let the kubelet create namespaces already has this one
        // (kube-apiserver creates it): a refusal here is not fatal, the Leases say if it is.
        let post = PostParams::default();
        if let Err(error) =
            retried(|| ensure_created(&namespaces, node::LEASE_NAMESPACE, &post, &ns)).await
        {
            tracing::debug!(%error, "could not create the Lease namespace; carrying on");
        }
        let ctx = Ctx {
            index: config
                .nodes
                .iter()
                .enumerate()
                .map(|(i, n)| (n.name.clone(), i))
                .collect(),
            next_ip: Mutex::new(vec![0; config.nodes.len()]),
            ledger: Mutex::new(RunLedger::default()),
            running: Mutex::new(HashMap::new()),
            client,
            config,
            metrics,
        };
        let kubelet = Kubelet { ctx: Arc::new(ctx) };
        kubelet.renew_leases().await?;
        Ok(kubelet)
    }

    /// Names of the registered nodes.
    pub fn node_names(&self) -> Vec<String> {
        self.ctx
            .config
            .nodes
            .iter()
            .map(|n| n.name.clone())
            .collect()
    }

    /// Runs until `shutdown` completes; in-flight pod tasks are dropped with it.
    pub async fn run(self, shutdown: impl std::future::Future<Output = ()>) {
        let pods = tokio::spawn(super::pods::watch_pods(self.ctx.clone()));
        let mut heartbeat = tokio::time::interval(self.ctx.config.heartbeat);
        let mut publish = tokio::time::interval(self.ctx.config.metrics_interval);
        let mut published: HashMap<String, String> = HashMap::new();
        tokio::pin!(shutdown);
        loop {
            tokio::select! {
                () = &mut shutdown => break,
                _ = heartbeat.tick() => {
                    if let Err(e) = self.renew_leases().await {
                        tracing::warn!(error = %e, "heartbeat failed; retrying on the next tick");
                    }
                }
                _ = publish.tick() => self.publish_usage(&mut published).await,
            }
        }
        pods.abort();
        let _ = pods.await;
    }

    /// Renews every node's Lease, retrying each a few times (writes may fail transiently, e.g.
    /// under `--fault-rate`).
    async fn renew_leases(&self) -> Result<(), Error> {
        for sim in &self.ctx.config.nodes {
            let mut attempt = 0;
            while let Err(e) = self.renew_lease(sim).await {
                attempt += 1;
                if attempt == 5 {
                    return Err(e);
                }
                tokio::time::sleep(Duration::from_millis(20 << attempt)).await;
            }
        }
        Ok(())
    }

    async fn renew_lease(&self, sim: &SimNode) -> Result<(), Error> {
        let leases: Api<Lease> = Api::namespaced(self.ctx.client.clone(), node::LEASE_NAMESPACE);
        let now = micro_time(Timestamp::now());
        {
            let obj = node::lease_object(&sim.name, &now);
            let err = |source| Error::Lease {
                node: sim.name.clone(),
                source,
            };
            let spec = json!({"spec": obj["spec"]});
            match leases
                .patch(&sim.name, &params(), &Patch::Merge(&spec))
                .await
            {
                Ok(_) => {}
                Err(e) if status_code(&e) == Some(404) => {
                    let typed: Lease =
                        serde_json::from_value(obj).map_err(|e| err(kube::Error::SerdeError(e)))?;
                    leases
                        .create(&PostParams::default(), &typed)
                        .await
                        .map_err(err)?;
                }
                Err(e) => return Err(err(e)),
            }
        }
        Ok(())
    }

    /// Refreshes NodeMetrics and the `basalt.dev/gpu-utilization` annotation of every node.
    async fn publish_usage(&self, published: &mut HashMap<String, String>) {
        let ctx = &self.ctx;
        let nodes: Api<Node> = Api::all(ctx.client.clone());
        let selector = format!("{}=true", node::SIMULATED_LABEL);
        let annotations: HashMap<String, BTreeMap<String, String>> = match nodes
            .list(&ListParams::default().labels(&selector))
            .await
        {
            Ok(list) => list
                .items
                .into_iter()
                .filter_map(|n| {
                    Some((n.metadata.name?, n.metadata.annotations.unwrap_or_default()))
                })
                .collect(),
            Err(e) => {
                tracing::debug!(error = %e, "cannot list nodes for usage; retrying on the next tick");
                return;
            }
        };
        let mut demand: Vec<Vec<Demand>> = vec![vec![]; ctx.config.nodes.len()];
        for p in Ctx::lock(&ctx.running).values() {
            demand[p.node].push(p.demand);
        }
        let timestamp = rfc3339(Timestamp::now());
        for (i, sim) in ctx.config.nodes.iter().enumerate() {
            let ann = annotations.get(&sim.name);
            let over = match ann.and_then(|a| a.get(usage::USAGE_OVERRIDE)) {
                None => UsageOverride::default(),
                Some(text) => usage::parse_override(text).unwrap_or_else(|e| {
                    tracing::warn!(node = %sim.name, "ignoring annotation {}: {e}", usage::USAGE_OVERRIDE);
                    UsageOverride::default()
                }),
            };
            let u = usage::node_usage(sim, demand[i].iter().copied(), over);
            ctx.metrics
                .put_node(&sim.name, metrics::node_metrics(&sim.name, &u, &timestamp));
            let value = usage::gpu_annotation(&u);
            let current = ann.and_then(|a| a.get(usage::GPU_UTILIZATION));
            if current != Some(&value) || published.get(&sim.name) != Some(&value) {
                let patch = json!({"metadata": {"annotations": {usage::GPU_UTILIZATION: value}}});
                match nodes
                    .patch(&sim.name, &params(), &Patch::Merge(&patch))
                    .await
                {
                    Ok(_) => {
                        published.insert(sim.name.clone(), value);
                    }
                    Err(e) => {
                        tracing::debug!(node = %sim.name, error = %e, "cannot annotate GPU utilization")
                    }
                }
            }
        }
    }
}

/// Records a running pod's PodMetrics.
pub(super) fn put_pod_metrics(ctx: &Ctx, pod: &Value, gpu_memory: f64) {
    let ns = pod
        .pointer("/metadata/namespace")
        .and_then(Value::as_str)
        .unwrap_or("default");
    let name = pod
        .pointer("/metadata/name")
        .and_then(Value::as_str)
        .unwrap_or_default();
    ctx.metrics.put_pod(
        ns,
        name,
        metrics::pod_metrics(pod, gpu_memory, &rfc3339(Timestamp::now())),
    );
}
