//! Pure mapping from Kubernetes objects to the scheduler core's [`Snapshot`].
//!
//! Every pod bound to a node counts against that node, whichever scheduler placed it: pods that
//! are not Basalt tasks go into the node's `used` and `pod_count`. Basalt's pods become tasks of
//! their PodGroup (`scheduling.k8s.io/group-name`); binds issued but not yet visible in the cache
//! (`in_flight`) are `Binding` on their node so a session never places a pod twice.
//!
//! Time rules (preempt/reclaim's minimum run time and preemption delay): [`build_at`] sets
//! `Snapshot::now` from the wall clock the caller passes (the builder reads no clock itself) and
//! `Snapshot::started` from each task's `status.startTime`, both in ms since the Unix epoch like
//! `creation`.

use std::collections::{BTreeMap, BTreeSet};

use crds::labels;
use crds::podgroup::{PodGroup, PodGroupPhase};
use crds::queue::{Queue, QueueState};
use k8s_openapi::api::core::v1::{Node, Pod};
use k8s_openapi::api::scheduling::v1::PriorityClass;
use kube::ResourceExt;
use scheduler_core::model::gpu;
use scheduler_core::model::{
    ANY_HOST_IP, Constraints, HostPort, NODE_NAME_FIELD, NodeAffinityTerm, NodeSelectorOperator,
    NodeSelectorRequirement, Taint, TaintEffect, Toleration, TolerationOperator,
};
use scheduler_core::{JobId, JobPhase, NodeId, QueueId, Snapshot, Task, TaskId, TaskStatus};

use crate::resources::{parse_list, pod_requests, request_errors};

/// The objects a snapshot is built from.
pub struct Inputs<'a> {
    /// All pods.
    pub pods: &'a [&'a Pod],
    /// All nodes.
    pub nodes: &'a [&'a Node],
    /// All PodGroups.
    pub podgroups: &'a [&'a PodGroup],
    /// All queues.
    pub queues: &'a [&'a Queue],
    /// Binds issued and not yet observed.
    pub in_flight: &'a BTreeMap<TaskId, NodeId>,
    /// PriorityClasses: a PodGroup's `priorityClassName` gives its job's priority (Volcano's
    /// job priority, which preempt compares across jobs), and a pod's class its task's.
    pub priority_classes: &'a [&'a PriorityClass],
}

/// PriorityClass values by name, and the `globalDefault` class's value.
struct Priorities {
    by_name: BTreeMap<String, i32>,
    global_default: i32,
}

impl Priorities {
    fn new(classes: &[&PriorityClass]) -> Self {
        let by_name = classes
            .iter()
            .map(|c| (c.name_any(), c.value.unwrap_or(0)))
            .collect();
        let global_default = classes
            .iter()
            .filter(|c| c.global_default == Some(true))
            .map(|c| c.value.unwrap_or(0))
            .max()
            .unwrap_or(0);
        Self {
            by_name,
            global_default,
        }
    }

    /// A PodGroup's priority: its class's value; the global default without a class; 0 for a
    /// class that does not exist (the job still schedules, at the lowest priority).
    fn of_podgroup(&self, class: Option<&str>) -> i32 {
        match class.filter(|c| !c.is_empty()) {
            Some(name) => self.by_name.get(name).copied().unwrap_or(0),
            None => self.global_default,
        }
    }

    /// A pod's priority: the value of its class when the class is known (what the API server's
    /// Priority admission writes into `spec.priority`; a class's value cannot change), else
    /// `spec.priority`. A cluster without that admission (`basalt up`) gets the same answer.
    fn of_pod(&self, class: Option<&str>, priority: Option<i32>) -> i32 {
        class
            .and_then(|c| self.by_name.get(c).copied())
            .or(priority)
            .unwrap_or(0)
    }
}

/// Marks the tasks whose eviction the loop already requested as Releasing: they still hold their
/// node until the pod is gone, and a session during the cache's lag must neither pick them as
/// victims again nor count their resources as free (no eviction thrash).
pub fn mark_releasing(snap: &mut Snapshot, evicting: &BTreeSet<TaskId>) {
    for id in evicting {
        if let Some(t) = snap.tasks.get_mut(id)
            && matches!(
                t.status,
                TaskStatus::Binding | TaskStatus::Bound | TaskStatus::Running
            )
        {
            t.status = TaskStatus::Releasing;
        }
    }
}

/// `namespace/name`.
pub fn task_id(pod: &Pod) -> TaskId {
    TaskId::new(format!(
        "{}/{}",
        pod.namespace().unwrap_or_default(),
        pod.name_any()
    ))
}

fn millis(meta: &k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta) -> u64 {
    meta.creation_timestamp
        .as_ref()
        .map_or(0, |t| t.0.as_millisecond().max(0) as u64)
}

/// Builds the snapshot with `now` unset (time rules off); see [`build_at`].
pub fn build(inputs: &Inputs<'_>, is_ours: impl Fn(Option<&str>) -> bool) -> Snapshot {
    build_snapshot(inputs, None, is_ours)
}

/// Builds the snapshot for a session at `now_ms` (wall clock, ms since the Unix epoch);
/// `is_ours` decides which scheduler names are Basalt's.
pub fn build_at(
    inputs: &Inputs<'_>,
    now_ms: u64,
    is_ours: impl Fn(Option<&str>) -> bool,
) -> Snapshot {
    build_snapshot(inputs, Some(now_ms), is_ours)
}

fn build_snapshot(
    inputs: &Inputs<'_>,
    now: Option<u64>,
    is_ours: impl Fn(Option<&str>) -> bool,
) -> Snapshot {
    let mut snap = Snapshot {
        now,
        ..Snapshot::default()
    };
    for node in inputs.nodes {
        let status = node.status.as_ref();
        let mut allocatable = parse_list(status.and_then(|s| s.allocatable.as_ref()));
        let max_pods = allocatable.get("pods");
        allocatable.set("pods", 0);
        let spec = node.spec.as_ref();
        // GPU cards: HAMi's registration annotation, else capacity + GPU-feature-discovery
        // labels (docs/gpu-sharing.md); sharing resources the node does not advertise get
        // node-level totals so only deviceshare's per-card check decides.
        let capacity = parse_list(status.and_then(|s| s.capacity.as_ref()));
        let gpus = gpu::node_cards(
            &node.name_any(),
            node.labels(),
            node.annotations(),
            &capacity,
        );
        gpu::merge_share_allocatable(&mut allocatable, &gpus);
        snap.nodes.insert(
            NodeId::new(node.name_any()),
            scheduler_core::Node {
                allocatable,
                gpus,
                labels: node.labels().clone(),
                taints: spec
                    .and_then(|s| s.taints.as_ref())
                    .into_iter()
                    .flatten()
                    .filter_map(taint)
                    .collect(),
                unschedulable: spec.and_then(|s| s.unschedulable).unwrap_or(false),
                max_pods: (max_pods > 0).then_some(max_pods as u32),
                ..Default::default()
            },
        );
    }
    for q in inputs.queues {
        let spec = &q.spec;
        let state = match q.status.as_ref().and_then(|s| s.state) {
            Some(QueueState::Closed) => scheduler_core::QueueState::Closed,
            Some(QueueState::Closing) => scheduler_core::QueueState::Closing,
            _ => scheduler_core::QueueState::Open,
        };
        let opt = |l: Option<&crds::ResourceList>| l.map(|l| parse_list(Some(l)));
        snap.queues.insert(
            QueueId::new(q.name_any()),
            scheduler_core::Queue {
                weight: spec.weight.unwrap_or(1).max(1) as u32,
                capability: opt(spec.capability.as_ref()),
                guarantee: opt(spec.guarantee.as_ref().and_then(|g| g.resource.as_ref())),
                deserved: opt(spec.deserved.as_ref()),
                reclaimable: spec.reclaimable.unwrap_or(true),
                parent: spec
                    .parent
                    .clone()
                    .filter(|p| !p.is_empty())
                    .map(QueueId::new),
                state,
                priority: spec.priority.unwrap_or(0),
                creation: millis(&q.metadata),
            },
        );
    }
    let priorities = Priorities::new(inputs.priority_classes);
    for pg in inputs.podgroups {
        let spec = &pg.spec;
        let phase = match pg.status.as_ref().and_then(|s| s.phase).unwrap_or_default() {
            PodGroupPhase::Pending => JobPhase::Pending,
            PodGroupPhase::Inqueue => JobPhase::Inqueue,
            PodGroupPhase::Running => JobPhase::Running,
            PodGroupPhase::Unknown => JobPhase::Unknown,
            PodGroupPhase::Completed => JobPhase::Completed,
        };
        let id = JobId::new(format!(
            "{}/{}",
            pg.namespace().unwrap_or_default(),
            pg.name_any()
        ));
        snap.jobs.insert(
            id,
            scheduler_core::Job {
                queue: QueueId::new(spec.queue.clone().unwrap_or_else(|| "default".to_owned())),
                min_member: spec.min_member.unwrap_or(1).max(0) as u32,
                min_task_member: spec
                    .min_task_member
                    .iter()
                    .flatten()
                    .map(|(k, v)| (k.clone(), (*v).max(0) as u32))
                    .collect(),
                min_resources: spec.min_resources.as_ref().map(|l| parse_list(Some(l))),
                priority: priorities.of_podgroup(spec.priority_class_name.as_deref()),
                phase,
                creation: millis(&pg.metadata),
                annotations: pg.annotations().clone(),
            },
        );
    }
    for pod in inputs.pods {
        add_pod(&mut snap, pod, inputs.in_flight, &priorities, &is_ours);
    }
    reservation_inputs(&mut snap, inputs.pods);
    snap
}

/// What the reservation plugin needs from the objects: the reservations the last session wrote
/// on the PodGroups (annotation `basalt.dev/reservation`; an unreadable one is dropped, so the
/// gang is elected afresh), and the run times pods declare — the `basalt.dev/expected-runtime`
/// annotation on a pod, else its `activeDeadlineSeconds` (the longest over the job's pods).
fn reservation_inputs(snap: &mut Snapshot, pods: &[&Pod]) {
    use scheduler_core::model::reservation::{RESERVATION_ANNOTATION, Reservation};
    for (id, job) in &snap.jobs {
        if let Some(text) = job.annotations.get(RESERVATION_ANNOTATION) {
            match serde_json::from_str::<Reservation>(text) {
                Ok(r) => {
                    snap.reservations.insert(id.clone(), r);
                }
                Err(error) => {
                    tracing::debug!(podgroup = %id, %error, "unreadable reservation annotation; electing afresh")
                }
            }
        }
    }
    for pod in pods {
        let Some(g) = pod.annotations().get(labels::GROUP_NAME) else {
            continue;
        };
        let job = JobId::new(format!("{}/{g}", pod.namespace().unwrap_or_default()));
        if !snap.jobs.contains_key(&job) {
            continue;
        }
        if let Some(ms) = declared_runtime_ms(pod) {
            let e = snap.expected_runtime.entry(job).or_insert(0);
            *e = (*e).max(ms);
        }
    }
}

/// The run time a pod declares, in ms, as the scheduler reads it: its
/// `basalt.dev/expected-runtime` annotation, else its `activeDeadlineSeconds` (a job's is the
/// longest of its pods').
pub fn declared_runtime_ms(pod: &Pod) -> Option<u64> {
    use scheduler_core::model::reservation::EXPECTED_RUNTIME_ANNOTATION;
    pod.annotations()
        .get(EXPECTED_RUNTIME_ANNOTATION)
        .and_then(|v| scheduler_core::duration::parse_or_seconds_ms(v).ok())
        .or_else(|| {
            pod.spec
                .as_ref()
                .and_then(|s| s.active_deadline_seconds)
                .map(|s| s.max(0) as u64 * 1000)
        })
}

fn add_pod(
    snap: &mut Snapshot,
    pod: &Pod,
    in_flight: &BTreeMap<TaskId, NodeId>,
    priorities: &Priorities,
    is_ours: &impl Fn(Option<&str>) -> bool,
) {
    let Some(spec) = pod.spec.as_ref() else {
        return;
    };
    let phase = pod
        .status
        .as_ref()
        .and_then(|s| s.phase.as_deref())
        .unwrap_or("Pending");
    let finished = matches!(phase, "Succeeded" | "Failed");
    let id = task_id(pod);
    let node = spec
        .node_name
        .clone()
        .filter(|n| !n.is_empty())
        .map(NodeId::new)
        .or_else(|| in_flight.get(&id).cloned());
    let node = node.filter(|n| snap.nodes.contains_key(n));
    let job = pod
        .annotations()
        .get(labels::GROUP_NAME)
        .map(|g| JobId::new(format!("{}/{g}", pod.namespace().unwrap_or_default())))
        .filter(|j| snap.jobs.contains_key(j));
    let requests = pod_requests(spec);
    let (Some(job), true) = (job, is_ours(spec.scheduler_name.as_deref())) else {
        // Not a Basalt task: it only consumes node capacity.
        if let (Some(n), false) = (&node, finished)
            && let Some(node) = snap.nodes.get_mut(n)
        {
            node.used.add(&requests);
            node.pod_count += 1;
            for port in host_ports(spec) {
                if !node.host_ports.contains(&port) {
                    node.host_ports.push(port);
                }
            }
        }
        return;
    };
    let deleting = pod.metadata.deletion_timestamp.is_some();
    let status = match (phase, &node, deleting) {
        ("Succeeded", ..) => TaskStatus::Succeeded,
        ("Failed", ..) => TaskStatus::Failed,
        (_, Some(_), true) => TaskStatus::Releasing,
        (_, None, true) => return,
        ("Running", Some(_), _) => TaskStatus::Running,
        (_, Some(_), _) if spec.node_name.as_deref().is_some_and(|n| !n.is_empty()) => {
            TaskStatus::Bound
        }
        (_, Some(_), _) => TaskStatus::Binding,
        (_, None, _) => TaskStatus::Pending,
    };
    // A pod with scheduling gates is not ready to be scheduled (Kubernetes' PodSchedulingGates):
    // it is not a task until every gate is removed, so its gang cannot count it. The job keeps
    // a record of it (`Snapshot::gated`), so the session can say why the gang waits.
    if status == TaskStatus::Pending
        && let Some(gates) = gates(spec)
    {
        let entry = snap.gated.entry(job).or_default();
        entry.pods += 1;
        entry.gates.extend(gates.iter().map(|g| g.name.clone()));
        entry.requests.add(&requests);
        return;
    }
    if let Some(start) = pod.status.as_ref().and_then(|s| s.start_time.as_ref())
        && status.occupies_node()
    {
        snap.started
            .insert(id.clone(), start.0.as_millisecond().max(0) as u64);
    }
    let preemptable = pod
        .annotations()
        .get(labels::PREEMPTABLE)
        .or_else(|| pod.labels().get(labels::PREEMPTABLE))
        .is_none_or(|v| v != "false");
    snap.tasks.insert(
        id,
        Task {
            job,
            namespace: pod.namespace().unwrap_or_default(),
            labels: pod.labels().clone(),
            role: pod.annotations().get(labels::TASK_SPEC).cloned(),
            requests,
            constraints: constraints(spec, pod.labels()),
            priority: priorities.of_pod(spec.priority_class_name.as_deref(), spec.priority),
            priority_class: spec.priority_class_name.clone(),
            preemptable,
            status,
            node: if status.occupies_node() || finished {
                node
            } else {
                None
            },
            annotations: pod.annotations().clone(),
            creation: millis(&pod.metadata),
        },
    );
}

/// The pod's scheduling gates, when it has any.
pub fn gates(
    spec: &k8s_openapi::api::core::v1::PodSpec,
) -> Option<&[k8s_openapi::api::core::v1::PodSchedulingGate]> {
    spec.scheduling_gates.as_deref().filter(|g| !g.is_empty())
}

fn taint(t: &k8s_openapi::api::core::v1::Taint) -> Option<Taint> {
    Some(Taint {
        key: t.key.clone(),
        value: t.value.clone().unwrap_or_default(),
        effect: effect(&t.effect)?,
    })
}

fn effect(e: &str) -> Option<TaintEffect> {
    match e {
        "NoSchedule" => Some(TaintEffect::NoSchedule),
        "PreferNoSchedule" => Some(TaintEffect::PreferNoSchedule),
        "NoExecute" => Some(TaintEffect::NoExecute),
        _ => None,
    }
}

/// One `matchExpressions`/`matchFields` entry; `None` for an operator Kubernetes does not define
/// (the API server refuses those).
fn node_requirement(
    r: &k8s_openapi::api::core::v1::NodeSelectorRequirement,
) -> Option<NodeSelectorRequirement> {
    let operator = match r.operator.as_str() {
        "In" => NodeSelectorOperator::In,
        "NotIn" => NodeSelectorOperator::NotIn,
        "Exists" => NodeSelectorOperator::Exists,
        "DoesNotExist" => NodeSelectorOperator::DoesNotExist,
        "Gt" => NodeSelectorOperator::Gt,
        "Lt" => NodeSelectorOperator::Lt,
        _ => return None,
    };
    Some(NodeSelectorRequirement {
        key: r.key.clone(),
        operator,
        values: r.values.clone().unwrap_or_default(),
    })
}

/// A `matchFields` key other than `metadata.name` (the only node field Kubernetes selects on):
/// the pod fits no node with this reason rather than being placed as if the term were absent.
fn unsupported_field(terms: &[k8s_openapi::api::core::v1::NodeSelectorTerm]) -> Option<String> {
    terms
        .iter()
        .flat_map(|t| t.match_fields.iter().flatten())
        .find(|r| r.key != NODE_NAME_FIELD)
        .map(|r| {
            format!(
                "spec.affinity.nodeAffinity matchFields key {:?} is not supported; only {NODE_NAME_FIELD} is",
                r.key
            )
        })
}

fn constraints(
    spec: &k8s_openapi::api::core::v1::PodSpec,
    labels: &BTreeMap<String, String>,
) -> Constraints {
    let pod_terms = crate::pod_affinity::pod_terms(spec, labels);
    let required = spec
        .affinity
        .as_ref()
        .and_then(|a| a.node_affinity.as_ref())
        .and_then(|n| {
            n.required_during_scheduling_ignored_during_execution
                .as_ref()
        });
    let terms = required
        .map(|r| r.node_selector_terms.as_slice())
        .unwrap_or(&[]);
    Constraints {
        node_selector: spec.node_selector.clone().unwrap_or_default(),
        required_affinity: terms
            .iter()
            .map(|t| NodeAffinityTerm {
                match_expressions: t
                    .match_expressions
                    .iter()
                    .flatten()
                    .filter_map(node_requirement)
                    .collect(),
                match_fields: t
                    .match_fields
                    .iter()
                    .flatten()
                    .filter_map(node_requirement)
                    .collect(),
            })
            .collect(),
        tolerations: spec
            .tolerations
            .iter()
            .flatten()
            .map(|t| Toleration {
                key: t.key.clone().unwrap_or_default(),
                operator: if t.operator.as_deref() == Some("Exists") {
                    TolerationOperator::Exists
                } else {
                    TolerationOperator::Equal
                },
                value: t.value.clone().unwrap_or_default(),
                effect: t.effect.as_deref().and_then(effect),
            })
            .collect(),
        invalid_requests: request_errors(spec),
        pod_affinity: pod_terms.affinity,
        pod_anti_affinity: pod_terms.anti_affinity,
        unsupported: pod_terms.unsupported.or_else(|| unsupported_field(terms)),
        host_ports: host_ports(spec),
    }
}

/// The host ports the pod binds, as kube-scheduler's `NodePorts` filter reads them: each
/// container's (and each sidecar init container's) `ports[].hostPort`; with `hostNetwork`, a
/// port without one binds its `containerPort` on the host (the API server's defaulting).
/// Protocol `TCP` and address `0.0.0.0` when left out; duplicates once.
fn host_ports(spec: &k8s_openapi::api::core::v1::PodSpec) -> Vec<HostPort> {
    let host_network = spec.host_network == Some(true);
    let sidecars = spec
        .init_containers
        .iter()
        .flatten()
        .filter(|c| c.restart_policy.as_deref() == Some("Always"));
    let mut out: Vec<HostPort> = Vec::new();
    for c in spec.containers.iter().chain(sidecars) {
        for p in c.ports.iter().flatten() {
            let number = match p.host_port {
                Some(n) if n > 0 => n,
                _ if host_network => p.container_port,
                _ => continue,
            };
            let Ok(port) = u16::try_from(number) else {
                continue;
            };
            if port == 0 {
                continue;
            }
            let hp = HostPort {
                protocol: p.protocol.clone().unwrap_or_else(|| "TCP".to_owned()),
                host_ip: p
                    .host_ip
                    .clone()
                    .filter(|ip| !ip.is_empty())
                    .unwrap_or_else(|| ANY_HOST_IP.to_owned()),
                port,
            };
            if !out.contains(&hp) {
                out.push(hp);
            }
        }
    }
    out
}

/// Pod names per PodGroup id, for status counts and explanations.
pub fn pods_by_group<'a>(pods: &[&'a Pod]) -> BTreeMap<JobId, Vec<&'a Pod>> {
    let mut out: BTreeMap<JobId, Vec<&Pod>> = BTreeMap::new();
    for p in pods {
        if let Some(g) = p.annotations().get(labels::GROUP_NAME) {
            out.entry(JobId::new(format!(
                "{}/{g}",
                p.namespace().unwrap_or_default()
            )))
            .or_default()
            .push(p);
        }
    }
    out
}

/// Tasks whose bind is visible in `pods` (so they can leave the in-flight set).
pub fn observed_binds(pods: &[&Pod]) -> BTreeSet<TaskId> {
    pods.iter()
        .filter(|p| {
            p.spec
                .as_ref()
                .and_then(|s| s.node_name.as_deref())
                .is_some_and(|n| !n.is_empty())
        })
        .map(|p| task_id(p))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn obj<T: serde::de::DeserializeOwned>(text: &str) -> T {
        serde_saphyr::from_str(text).unwrap()
    }

    #[test]
    fn foreign_bound_pods_consume_capacity_and_ours_become_tasks() {
        let node: Node = obj(
            "apiVersion: v1\nkind: Node\nmetadata: {name: n1}\nstatus:\n  allocatable: {cpu: '8', nvidia.com/gpu: '8', pods: '110'}\n",
        );
        let pg: PodGroup = obj(
            "apiVersion: scheduling.volcano.sh/v1beta1\nkind: PodGroup\nmetadata: {name: pg, namespace: ns}\nspec: {minMember: 2, queue: q}\nstatus: {phase: Inqueue}\n",
        );
        let queue: Queue = obj(
            "apiVersion: scheduling.volcano.sh/v1beta1\nkind: Queue\nmetadata: {name: q}\nspec: {weight: 2}\nstatus: {state: Closed}\n",
        );
        let foreign: Pod = obj(
            "apiVersion: v1\nkind: Pod\nmetadata: {name: f, namespace: ns}\nspec:\n  nodeName: n1\n  schedulerName: default-scheduler\n  containers: [{name: c, ports: [{containerPort: 443, hostPort: 8443}], resources: {limits: {nvidia.com/gpu: '6'}}}]\nstatus: {phase: Running}\n",
        );
        let ours: Pod = obj(
            "apiVersion: v1\nkind: Pod\nmetadata:\n  name: a\n  namespace: ns\n  annotations: {scheduling.k8s.io/group-name: pg, volcano.sh/task-spec: worker}\nspec:\n  schedulerName: volcano\n  containers: [{name: c, resources: {limits: {nvidia.com/gpu: '2'}}}]\n",
        );
        let in_flight_pod: Pod = obj(
            "apiVersion: v1\nkind: Pod\nmetadata:\n  name: b\n  namespace: ns\n  annotations: {scheduling.k8s.io/group-name: pg}\nspec:\n  schedulerName: volcano\n  containers: [{name: c}]\n",
        );
        let mut in_flight = BTreeMap::new();
        in_flight.insert(TaskId::new("ns/b"), NodeId::new("n1"));
        let snap = build(
            &Inputs {
                pods: &[&foreign, &ours, &in_flight_pod],
                nodes: &[&node],
                podgroups: &[&pg],
                queues: &[&queue],
                in_flight: &in_flight,
                priority_classes: &[],
            },
            |n| n == Some("volcano"),
        );
        let n = &snap.nodes[&NodeId::new("n1")];
        assert_eq!(
            n.used.get("nvidia.com/gpu"),
            6,
            "another scheduler's pod still uses the node"
        );
        assert_eq!((n.pod_count, n.max_pods), (1, Some(110)));
        assert_eq!(
            n.host_ports,
            [HostPort {
                protocol: "TCP".into(),
                host_ip: ANY_HOST_IP.into(),
                port: 8443,
            }],
            "another scheduler's pod's host port is taken on its node"
        );
        assert_eq!(snap.tasks.len(), 2);
        let a = &snap.tasks[&TaskId::new("ns/a")];
        assert_eq!(
            (a.status, a.role.as_deref()),
            (TaskStatus::Pending, Some("worker"))
        );
        let b = &snap.tasks[&TaskId::new("ns/b")];
        assert_eq!(
            (b.status, b.node.as_ref().map(NodeId::as_str)),
            (TaskStatus::Binding, Some("n1"))
        );
        let job = &snap.jobs[&JobId::new("ns/pg")];
        assert_eq!((job.min_member, job.phase), (2, JobPhase::Inqueue));
        let q = &snap.queues[&QueueId::new("q")];
        assert_eq!((q.weight, q.state), (2, scheduler_core::QueueState::Closed));
    }

    #[test]
    fn host_ports_are_read_as_kube_scheduler_reads_them() {
        let spec: k8s_openapi::api::core::v1::PodSpec = obj(
            "containers:\n- name: a\n  ports:\n  - {containerPort: 80, hostPort: 8080}\n  - {containerPort: 81}\n  - {containerPort: 53, hostPort: 53, protocol: UDP, hostIP: 10.0.0.1}\n- name: b\n  ports: [{containerPort: 9, hostPort: 8080}]\ninitContainers:\n- {name: side, restartPolicy: Always, ports: [{containerPort: 7, hostPort: 7070}]}\n- {name: once, ports: [{containerPort: 6, hostPort: 6060}]}\n",
        );
        let hp = |protocol: &str, ip: &str, port: u16| HostPort {
            protocol: protocol.into(),
            host_ip: ip.into(),
            port,
        };
        assert_eq!(
            host_ports(&spec),
            [
                hp("TCP", ANY_HOST_IP, 8080),
                hp("UDP", "10.0.0.1", 53),
                hp("TCP", ANY_HOST_IP, 7070),
            ],
            "a port without hostPort binds nothing; a plain init container's ports do not count"
        );
        let mut net = spec.clone();
        net.host_network = Some(true);
        assert!(
            host_ports(&net).contains(&hp("TCP", ANY_HOST_IP, 81)),
            "with hostNetwork every container port is a host port"
        );
    }

    #[test]
    fn gated_pending_pods_are_not_tasks_until_their_gates_are_removed() {
        let node: Node = obj(
            "apiVersion: v1\nkind: Node\nmetadata: {name: n1}\nstatus:\n  allocatable: {cpu: '8', pods: '110'}\n",
        );
        let pg: PodGroup = obj(
            "apiVersion: scheduling.volcano.sh/v1beta1\nkind: PodGroup\nmetadata: {name: pg, namespace: ns}\nspec: {minMember: 2, queue: q}\nstatus: {phase: Inqueue}\n",
        );
        let queue: Queue = obj(
            "apiVersion: scheduling.volcano.sh/v1beta1\nkind: Queue\nmetadata: {name: q}\nspec: {weight: 1}\n",
        );
        let pod = |name: &str, gates: &str| -> Pod {
            obj(&format!(
                "apiVersion: v1\nkind: Pod\nmetadata:\n  name: {name}\n  namespace: ns\n  annotations: {{scheduling.k8s.io/group-name: pg}}\nspec:\n  schedulerName: volcano\n  schedulingGates: {gates}\n  containers: [{{name: c, resources: {{requests: {{cpu: 250m}}}}}}]\n"
            ))
        };
        let gated = pod("g", "[{name: example.com/g1}]");
        let open = pod("o", "[]");
        let snap = build(
            &Inputs {
                pods: &[&gated, &open],
                nodes: &[&node],
                podgroups: &[&pg],
                queues: &[&queue],
                in_flight: &BTreeMap::new(),
                priority_classes: &[],
            },
            |n| n == Some("volcano"),
        );
        let tasks: Vec<&str> = snap.tasks.keys().map(TaskId::as_str).collect();
        assert_eq!(tasks, vec!["ns/o"]);
        // The gated pod is recorded on its job, with its gates, for the job's condition.
        let gated = &snap.gated[&JobId::new("ns/pg")];
        assert_eq!(gated.pods, 1);
        assert_eq!(
            gated.requests.get("cpu"),
            250,
            "the gated pod's requests, which its job's claim leaves out"
        );
        assert_eq!(
            gated.gates.iter().map(String::as_str).collect::<Vec<_>>(),
            ["example.com/g1"]
        );
    }

    #[test]
    fn build_at_stamps_the_clock_and_running_pods_start_times() {
        let node: Node = obj(
            "apiVersion: v1\nkind: Node\nmetadata: {name: n1}\nstatus:\n  allocatable: {cpu: '8', nvidia.com/gpu: '8', pods: '110'}\n",
        );
        let pg: PodGroup = obj(
            "apiVersion: scheduling.volcano.sh/v1beta1\nkind: PodGroup\nmetadata: {name: pg, namespace: ns}\nspec: {minMember: 1, queue: q}\nstatus: {phase: Running}\n",
        );
        let queue: Queue = obj(
            "apiVersion: scheduling.volcano.sh/v1beta1\nkind: Queue\nmetadata: {name: q}\nspec: {weight: 1}\n",
        );
        let pod = |name: &str, rest: &str| -> Pod {
            obj(&format!(
                "apiVersion: v1\nkind: Pod\nmetadata:\n  name: {name}\n  namespace: ns\n  annotations: {{scheduling.k8s.io/group-name: pg}}\nspec:\n  schedulerName: volcano\n  containers: [{{name: c}}]\n{rest}"
            ))
        };
        let running = pod(
            "r",
            "  nodeName: n1\nstatus: {phase: Running, startTime: '2026-11-28T10:00:00Z'}\n",
        );
        let no_start = pod("s", "  nodeName: n1\nstatus: {phase: Running}\n");
        let pending = pod(
            "p",
            "status: {phase: Pending, startTime: '2026-11-28T10:00:05Z'}\n",
        );
        let inputs = Inputs {
            pods: &[&running, &no_start, &pending],
            nodes: &[&node],
            podgroups: &[&pg],
            queues: &[&queue],
            in_flight: &BTreeMap::new(),
            priority_classes: &[],
        };
        let now = 1_795_860_600_000;
        let snap = build_at(&inputs, now, |n| n == Some("volcano"));
        assert_eq!(snap.now, Some(now));
        // 2026-11-28T10:00:00Z in ms since the epoch; a pod without startTime (or not on a node)
        // is absent, so the core falls back to its creation.
        let started: Vec<(&str, u64)> = snap
            .started
            .iter()
            .map(|(t, ms)| (t.as_str(), *ms))
            .collect();
        assert_eq!(started, vec![("ns/r", 1_795_860_000_000)]);
        // Without a clock the time rules stay off.
        assert_eq!(build(&inputs, |n| n == Some("volcano")).now, None);
    }

    #[test]
    fn requested_evictions_stay_releasing_until_the_pod_is_gone() {
        let mut snap = Snapshot::default();
        for (id, status) in [
            ("ns/run", TaskStatus::Running),
            ("ns/pend", TaskStatus::Pending),
            ("ns/other", TaskStatus::Running),
        ] {
            let mut t = Task::pending(JobId::new("ns/pg"), Default::default());
            t.status = status;
            snap.tasks.insert(TaskId::new(id), t);
        }
        let evicting: BTreeSet<TaskId> = ["ns/run", "ns/pend", "ns/gone"]
            .into_iter()
            .map(TaskId::new)
            .collect();
        mark_releasing(&mut snap, &evicting);
        let status = |id: &str| snap.tasks[&TaskId::new(id)].status;
        // A replacement pod (Pending) is not the evicted one; unrelated pods are untouched.
        assert_eq!(
            (status("ns/run"), status("ns/pend"), status("ns/other")),
            (
                TaskStatus::Releasing,
                TaskStatus::Pending,
                TaskStatus::Running
            )
        );
        assert!(!snap.tasks.contains_key(&TaskId::new("ns/gone")));
    }

    #[test]
    fn gpu_cards_from_hami_annotation_else_gfd_labels() {
        let hami: Node = obj(
            "apiVersion: v1\nkind: Node\nmetadata:\n  name: h\n  annotations: {hami.io/node-nvidia-register: 'GPU-a,10,81920,100,NVIDIA-A100,0,true:'}\nstatus:\n  capacity: {nvidia.com/gpu: '10'}\n  allocatable: {nvidia.com/gpu: '10'}\n",
        );
        let gfd: Node = obj(
            "apiVersion: v1\nkind: Node\nmetadata:\n  name: g\n  labels: {nvidia.com/gpu.product: NVIDIA-H100, nvidia.com/gpu.memory: '81559'}\nstatus:\n  capacity: {nvidia.com/gpu: '2'}\n  allocatable: {nvidia.com/gpu: '2'}\n",
        );
        let snap = build(
            &Inputs {
                pods: &[],
                nodes: &[&hami, &gfd],
                podgroups: &[],
                queues: &[],
                in_flight: &BTreeMap::new(),
                priority_classes: &[],
            },
            |_| true,
        );
        let h = &snap.nodes[&NodeId::new("h")];
        assert_eq!(h.gpus.len(), 1);
        assert_eq!(
            (h.gpus[0].uuid.as_str(), h.gpus[0].memory_mib),
            ("GPU-a", 81920)
        );
        assert_eq!(h.allocatable.get(gpu::HAMI_GPUMEM), 81920);
        let g = &snap.nodes[&NodeId::new("g")];
        assert_eq!(g.gpus.len(), 2);
        assert_eq!(g.gpus[1].model, "NVIDIA-H100");
    }

    /// Preempt compares job priorities across jobs: a PodGroup's priorityClassName must reach
    /// the snapshot (it was always 0, so a high-priority job could never preempt another job),
    /// and a pod's class counts even where no Priority admission filled `spec.priority`.
    #[test]
    fn priority_classes_give_jobs_and_tasks_their_priority() {
        let high: PriorityClass = obj(
            "apiVersion: scheduling.k8s.io/v1\nkind: PriorityClass\nmetadata: {name: high}\nvalue: 100\n",
        );
        let default: PriorityClass = obj(
            "apiVersion: scheduling.k8s.io/v1\nkind: PriorityClass\nmetadata: {name: base}\nvalue: 7\nglobalDefault: true\n",
        );
        let pg = |name: &str, class: &str| -> PodGroup {
            obj(&format!(
                "apiVersion: scheduling.volcano.sh/v1beta1\nkind: PodGroup\nmetadata: {{name: {name}, namespace: ns}}\nspec: {{minMember: 1{class}}}\n"
            ))
        };
        let (named, plain, missing) = (
            pg("named", ", priorityClassName: high"),
            pg("plain", ""),
            pg("missing", ", priorityClassName: nowhere"),
        );
        let pod: Pod = obj(
            "apiVersion: v1\nkind: Pod\nmetadata:\n  name: a\n  namespace: ns\n  annotations: {scheduling.k8s.io/group-name: named}\nspec:\n  schedulerName: volcano\n  priorityClassName: high\n  priority: 0\n  containers: [{name: c}]\n",
        );
        let snap = build(
            &Inputs {
                pods: &[&pod],
                nodes: &[],
                podgroups: &[&named, &plain, &missing],
                queues: &[],
                in_flight: &BTreeMap::new(),
                priority_classes: &[&high, &default],
            },
            |n| n == Some("volcano"),
        );
        let job = |n: &str| snap.jobs[&JobId::new(format!("ns/{n}"))].priority;
        assert_eq!((job("named"), job("plain"), job("missing")), (100, 7, 0));
        assert_eq!(snap.tasks[&TaskId::new("ns/a")].priority, 100);
    }
}
