//! [`ClusterState`] backed by kube-runtime reflectors: watches Queues, PodGroups, Nodes and
//! Namespaces and answers lookups from the in-memory stores, so a review never waits on the API
//! server. Needs `list, watch` on queues, podgroups (scheduling.volcano.sh), nodes and namespaces.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use crds::{PodGroup, Queue};
use futures_util::StreamExt;
use k8s_openapi::api::core::v1::{Namespace, Node};
use kube::runtime::reflector::{self, ObjectRef, Store};
use kube::runtime::{WatchStreamExt, watcher};
use kube::{Api, Client, Resource};

use crate::state::{Capacity, ClusterState};

/// Reflector-backed cluster view.
#[derive(Clone)]
pub struct KubeState {
    queues: Store<Queue>,
    podgroups: Store<PodGroup>,
    nodes: Store<Node>,
    namespaces: Store<Namespace>,
    ready: Arc<AtomicBool>,
    capacity: Arc<Mutex<Option<(Instant, Capacity)>>>,
}

/// How long a computed cluster capacity is reused. Allocatable changes rarely (nodes join or
/// leave); summing thousands of nodes on every Job review would not be rare.
const CAPACITY_TTL: Duration = Duration::from_secs(1);

impl KubeState {
    /// Connects with the default client configuration (KUBECONFIG, ~/.kube/config or the
    /// in-cluster service account) and starts the reflectors.
    pub async fn connect() -> Result<Self, crate::Error> {
        let client = Client::try_default()
            .await
            .map_err(|e| crate::Error::Kube(e.to_string()))?;
        Ok(Self::start(client))
    }

    /// Starts the four reflectors on the current tokio runtime; they run until the process ends
    /// (watch errors are retried with backoff).
    pub fn start(client: Client) -> Self {
        let queues = reflect::<Queue>(Api::all(client.clone()));
        let podgroups = reflect::<PodGroup>(Api::all(client.clone()));
        let nodes = reflect::<Node>(Api::all(client.clone()));
        let namespaces = reflect::<Namespace>(Api::all(client));
        let ready = Arc::new(AtomicBool::new(false));
        let (q, p, n, ns, flag) = (
            queues.clone(),
            podgroups.clone(),
            nodes.clone(),
            namespaces.clone(),
            ready.clone(),
        );
        tokio::spawn(async move {
            let all = async {
                q.wait_until_ready().await?;
                p.wait_until_ready().await?;
                n.wait_until_ready().await?;
                ns.wait_until_ready().await
            };
            if all.await.is_ok() {
                flag.store(true, Ordering::Release);
                tracing::info!(
                    "admission view of queues, podgroups, nodes and namespaces is ready"
                );
            }
        });
        Self {
            queues,
            podgroups,
            nodes,
            namespaces,
            ready,
            capacity: Arc::new(Mutex::new(None)),
        }
    }
}

fn reflect<K>(api: Api<K>) -> Store<K>
where
    K: Resource + Clone + std::fmt::Debug + serde::de::DeserializeOwned + Send + Sync + 'static,
    K::DynamicType: Default + Eq + std::hash::Hash + Clone + Send + Sync,
{
    let (reader, writer) = reflector::store();
    let stream = reflector::reflector(writer, watcher(api, watcher::Config::default()))
        .default_backoff()
        .applied_objects();
    tokio::spawn(async move {
        stream
            .for_each(|event| async move {
                if let Err(e) = event {
                    tracing::debug!(error = %e, "admission reflector watch error; retrying");
                }
            })
            .await;
    });
    reader
}

impl ClusterState for KubeState {
    fn queue(&self, name: &str) -> Option<Arc<Queue>> {
        self.queues.get(&ObjectRef::new(name))
    }

    fn queues(&self) -> Vec<Arc<Queue>> {
        self.queues.state()
    }

    fn capacity(&self) -> Capacity {
        // The cache holds a plain value; a poisoned lock still holds a valid one.
        let mut cache = self.capacity.lock().unwrap_or_else(|e| e.into_inner());
        if let Some((at, cap)) = cache.as_ref()
            && at.elapsed() < CAPACITY_TTL
        {
            return cap.clone();
        }
        let nodes = self.nodes.state();
        let allocatable = nodes
            .iter()
            .filter_map(|n| n.status.as_ref()?.allocatable.as_ref());
        let cap = Capacity::from_allocatable(allocatable);
        *cache = Some((Instant::now(), cap.clone()));
        cap
    }

    fn podgroups_in_queue(&self, queue: &str) -> usize {
        self.podgroups
            .state()
            .iter()
            .filter(|pg| pg.spec.queue.as_deref().unwrap_or("default") == queue)
            .count()
    }

    fn namespace_annotations(&self, name: &str) -> Option<BTreeMap<String, String>> {
        self.namespaces
            .get(&ObjectRef::new(name))
            .map(|ns| ns.metadata.annotations.clone().unwrap_or_default())
    }

    fn ready(&self) -> bool {
        self.ready.load(Ordering::Acquire)
    }
}
