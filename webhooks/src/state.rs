//! What the rules may look up about the cluster: queues, node capacity, whether a queue still
//! has work, and namespace annotations (a namespace's default queue). [`ClusterState`] is the seam: production reads kube reflector stores
//! ([`crate::kube_state::KubeState`]); tests and `basalt up` can use [`InMemoryState`].
//! Lookups are synchronous and cheap because they run inside every review.

use std::collections::BTreeMap;
use std::sync::{Arc, RwLock};

use crds::{Queue, QueueSpec, QueueState, QueueStatus, ResourceList};
use kube::api::ObjectMeta;

use crate::resources::{Amounts, add, amounts_lenient};

/// What the whole cluster could ever offer, from the nodes' allocatable.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Capacity {
    /// Number of nodes seen. Zero means "unknown": capacity checks are skipped.
    pub nodes: usize,
    /// Σ allocatable per resource.
    pub total: Amounts,
    /// Largest single-node allocatable per resource (a pod must fit on one node).
    pub largest_node: Amounts,
}

impl Capacity {
    /// Capacity of a set of nodes given their allocatable lists.
    pub fn from_allocatable<'a>(nodes: impl IntoIterator<Item = &'a ResourceList>) -> Self {
        let mut cap = Capacity::default();
        for list in nodes {
            let node = amounts_lenient(Some(list));
            add(&mut cap.total, &node, 1);
            for (name, v) in node {
                let slot = cap.largest_node.entry(name).or_insert(0);
                *slot = (*slot).max(v);
            }
            cap.nodes += 1;
        }
        cap
    }
}

/// Read access to the cluster objects the admission rules depend on.
pub trait ClusterState: Send + Sync + 'static {
    /// The queue called `name`, if it exists.
    fn queue(&self, name: &str) -> Option<Arc<Queue>>;
    /// Every queue.
    fn queues(&self) -> Vec<Arc<Queue>>;
    /// What the nodes could offer.
    fn capacity(&self) -> Capacity;
    /// How many PodGroups name `queue` (a queue with work cannot be deleted).
    fn podgroups_in_queue(&self, queue: &str) -> usize;
    /// The annotations of namespace `name`; `None` when the view does not know the namespace
    /// (a lagging view, or a view without namespaces).
    fn namespace_annotations(&self, name: &str) -> Option<BTreeMap<String, String>> {
        let _ = name;
        None
    }
    /// Whether the view is complete enough to decide (reflectors listed once).
    fn ready(&self) -> bool {
        true
    }
}

/// Whether a queue accepts new work. A queue without status has not been seen by the queue
/// controller yet; Volcano's scheduler treats it as Open, and so do we.
pub fn is_open(queue: &Queue) -> bool {
    matches!(
        queue.status.as_ref().and_then(|s| s.state),
        None | Some(QueueState::Open)
    )
}

/// The state of a queue for messages (`Open`, `Closed`, ...).
pub fn state_name(queue: &Queue) -> String {
    format!(
        "{:?}",
        queue
            .status
            .as_ref()
            .and_then(|s| s.state)
            .unwrap_or_default()
    )
}

/// The parent of a queue; Volcano's controller treats an empty parent as `root`.
pub fn parent_of(queue: &Queue) -> &str {
    match queue.spec.parent.as_deref() {
        None | Some("") => "root",
        Some(p) => p,
    }
}

/// An in-memory [`ClusterState`] for tests, benches and embedded use.
#[derive(Default)]
pub struct InMemoryState {
    inner: RwLock<Inner>,
}

#[derive(Default)]
struct Inner {
    queues: BTreeMap<String, Arc<Queue>>,
    nodes: BTreeMap<String, ResourceList>,
    podgroups: BTreeMap<String, usize>,
    namespaces: BTreeMap<String, BTreeMap<String, String>>,
}

impl InMemoryState {
    /// Empty state: no queues, no nodes (capacity checks skipped).
    pub fn new() -> Self {
        Self::default()
    }

    /// State with the `root` and `default` queues the scheduler creates at start-up.
    pub fn with_default_queues() -> Self {
        let state = Self::new();
        state.put_queue(queue(
            "root",
            QueueSpec {
                reclaimable: Some(false),
                ..Default::default()
            },
        ));
        state.put_queue(queue(
            "default",
            QueueSpec {
                weight: Some(1),
                reclaimable: Some(true),
                ..Default::default()
            },
        ));
        state
    }

    /// Adds or replaces a queue.
    pub fn put_queue(&self, q: Queue) {
        let name = q.metadata.name.clone().unwrap_or_default();
        self.write().queues.insert(name, Arc::new(q));
    }

    /// Removes a queue.
    pub fn remove_queue(&self, name: &str) {
        self.write().queues.remove(name);
    }

    /// Adds or replaces a node's allocatable resources.
    pub fn put_node(&self, name: &str, allocatable: ResourceList) {
        self.write().nodes.insert(name.to_owned(), allocatable);
    }

    /// Adds or replaces a namespace with its annotations.
    pub fn put_namespace(&self, name: &str, annotations: BTreeMap<String, String>) {
        self.write().namespaces.insert(name.to_owned(), annotations);
    }

    /// Sets how many PodGroups name `queue`.
    pub fn set_podgroups(&self, queue: &str, count: usize) {
        self.write().podgroups.insert(queue.to_owned(), count);
    }

    // A poisoned lock only means another thread panicked mid-update of plain maps; the maps
    // are still valid values, so recover the guard rather than fail every later review.
    fn write(&self) -> std::sync::RwLockWriteGuard<'_, Inner> {
        self.inner.write().unwrap_or_else(|e| e.into_inner())
    }

    fn read(&self) -> std::sync::RwLockReadGuard<'_, Inner> {
        self.inner.read().unwrap_or_else(|e| e.into_inner())
    }
}

impl ClusterState for InMemoryState {
    fn queue(&self, name: &str) -> Option<Arc<Queue>> {
        self.read().queues.get(name).cloned()
    }

    fn queues(&self) -> Vec<Arc<Queue>> {
        self.read().queues.values().cloned().collect()
    }

    fn capacity(&self) -> Capacity {
        Capacity::from_allocatable(self.read().nodes.values())
    }

    fn podgroups_in_queue(&self, queue: &str) -> usize {
        self.read().podgroups.get(queue).copied().unwrap_or(0)
    }

    fn namespace_annotations(&self, name: &str) -> Option<BTreeMap<String, String>> {
        self.read().namespaces.get(name).cloned()
    }
}

/// Builds an Open queue named `name` (a convenience for tests and embedding).
pub fn queue(name: &str, spec: QueueSpec) -> Queue {
    Queue {
        metadata: ObjectMeta {
            name: Some(name.to_owned()),
            ..Default::default()
        },
        spec,
        status: Some(QueueStatus {
            state: Some(QueueState::Open),
            ..Default::default()
        }),
    }
}
