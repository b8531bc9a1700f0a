//! Executes a session's effects against the API server with bounded parallelism: binds
//! (annotations first, then `pods/binding`), evictions (Eviction API), PodGroup status (plain
//! replace: PodGroup has no status subresource), Queue `status.allocated` (status subresource),
//! and `PodScheduled=False` + `FailedScheduling` for explanations. Also what kube-scheduler
//! writes on a pod held back by scheduling gates: `PodScheduled=False`, reason `SchedulingGated`
//! ([`gated_pods_to_mark`], [`mark_gated`]).
//!
//! The status builders (`podgroup_status`, `unschedulable_condition`, `gated_condition`) are
//! pure; the rest is I/O.

use scheduler_core::model::reservation::RESERVATION_ANNOTATION;
use std::collections::BTreeMap;
use std::sync::Arc;

use bridge::resources::to_list;
use crds::podgroup::{PodGroup, PodGroupCondition, PodGroupPhase, PodGroupStatus};
use crds::queue::Queue;
use futures_util::{StreamExt, stream};
use k8s_openapi::api::core::v1::{ObjectReference, Pod};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::Time;
use k8s_openapi::jiff::Timestamp;
use kube::api::{Api, EvictParams, Patch, PatchParams, PostParams};
use kube::{Resource, ResourceExt};
use scheduler_core::{Effect, Explanation, JobPhase, NodeId, TaskId};
use serde_json::json;
use tracing::{debug, warn};

use crate::context::{Context, field_manager};
use crate::error::is_status;

const COMPONENT: &str = "scheduler";
/// Pods of one unschedulable job that get `PodScheduled=False`.
const EXPLAINED_PODS: usize = 50;
/// Gated pods that get `PodScheduled=False` (`SchedulingGated`) per session; the rest follow in
/// the next sessions.
pub const GATED_PODS_PER_SESSION: usize = 50;
/// Pods of one unschedulable job that get a `FailedScheduling` event.
const EVENT_PODS: usize = 5;

/// What executing one session's effects did.
#[derive(Debug, Default)]
pub struct Outcome {
    /// Binds that succeeded, with the node.
    pub bound: Vec<(TaskId, NodeId)>,
    /// Binds that failed.
    pub failed: Vec<TaskId>,
    /// Pods the API server accepted to evict (the loop treats them as Releasing until they are
    /// gone). A refused or failed eviction is not here: that pod keeps running, and counting it
    /// as Releasing would make the next sessions wait for room it never frees, for the loop's
    /// 30 s in-flight window (seen under injected faults: a reclaiming job waited 30 s).
    pub evicting: Vec<TaskId>,
}

fn split(id: &str) -> (&str, &str) {
    id.split_once('/').unwrap_or(("", id))
}

/// Pure: the PodGroup status for a phase and the core's conditions, keeping
/// `lastTransitionTime` of conditions whose status did not change, plus pod counts.
pub fn podgroup_status(
    current: Option<&PodGroupStatus>,
    phase: JobPhase,
    conditions: &[scheduler_core::plugin::JobCondition],
    pods: &[&Pod],
    now: Timestamp,
) -> PodGroupStatus {
    let phase = pg_phase(phase);
    let old = current
        .and_then(|c| c.conditions.clone())
        .unwrap_or_default();
    let conditions: Vec<PodGroupCondition> = conditions
        .iter()
        .map(|c| {
            let status = if c.status { "True" } else { "False" };
            let prev = old
                .iter()
                .find(|o| o.type_.as_deref() == Some(c.kind.as_str()));
            let time = match prev {
                Some(p) if p.status.as_deref() == Some(status) => p.last_transition_time.clone(),
                _ => Some(Time(now)),
            };
            PodGroupCondition {
                type_: Some(c.kind.to_string()),
                status: Some(status.to_owned()),
                transition_id: None,
                last_transition_time: time,
                reason: Some(c.reason.to_string()),
                message: Some(c.message.to_string()),
            }
        })
        .collect();
    let count = |ph: &str| {
        pods.iter()
            .filter(|p| p.status.as_ref().and_then(|s| s.phase.as_deref()) == Some(ph))
            .count() as i32
    };
    PodGroupStatus {
        phase: Some(phase),
        conditions: (!conditions.is_empty()).then_some(conditions),
        running: Some(count("Running")),
        succeeded: Some(count("Succeeded")),
        failed: Some(count("Failed")),
    }
}

/// Pure: `current` with running/succeeded/failed recounted from `pods`, if that changes it.
/// The core only reports a PodGroup whose phase or conditions changed; counts move on their own.
pub fn recount(current: &PodGroupStatus, pods: &[&Pod]) -> Option<PodGroupStatus> {
    let count = |ph: &str| {
        Some(
            pods.iter()
                .filter(|p| p.status.as_ref().and_then(|s| s.phase.as_deref()) == Some(ph))
                .count() as i32,
        )
    };
    let next = PodGroupStatus {
        running: count("Running"),
        succeeded: count("Succeeded"),
        failed: count("Failed"),
        ..current.clone()
    };
    (next != *current).then_some(next)
}

/// Executes `effects`. `podgroups` and `pods_by_group` come from the caches the snapshot was
/// built from; `explained` remembers the last explanation per job so unchanged ones are not
/// re-published every second.
pub async fn execute(
    ctx: &Arc<Context>,
    effects: Vec<Effect>,
    podgroups: &BTreeMap<String, Arc<PodGroup>>,
    queues: &BTreeMap<String, Arc<Queue>>,
    pods_by_group: &BTreeMap<scheduler_core::JobId, Vec<&Pod>>,
    explained: &mut BTreeMap<String, String>,
) -> Outcome {
    let parallelism = ctx.config.effect_parallelism.max(1);
    let mut binds = Vec::new();
    let mut evicting = Vec::new();
    let mut writes: Vec<std::pin::Pin<Box<dyn Future<Output = ()> + Send>>> = Vec::new();
    let unexplained: Arc<std::sync::Mutex<Vec<String>>> = Arc::default();
    let not_evicted: Arc<std::sync::Mutex<Vec<TaskId>>> = Arc::default();
    let now = Timestamp::now();
    let reported: std::collections::BTreeSet<String> = effects
        .iter()
        .filter_map(|e| match e {
            Effect::PodGroupStatus { job, .. } => Some(job.to_string()),
            _ => None,
        })
        .collect();
    for (id, pg) in podgroups {
        let Some(current) = pg.status.as_ref().filter(|s| s.phase.is_some()) else {
            continue;
        };
        if reported.contains(id) {
            continue;
        }
        let pods = pods_by_group
            .get(&scheduler_core::JobId::new(id.clone()))
            .map(Vec::as_slice)
            .unwrap_or(&[]);
        if let Some(next) = recount(current, pods) {
            let ctx = ctx.clone();
            let pg = (**pg).clone();
            writes.push(Box::pin(async move {
                timed(&ctx, "podgroup", write_podgroup(&ctx, pg, next)).await;
            }));
        }
    }
    ctx.metrics
        .publish_queues(&queue_figures(&effects, podgroups, queues));
    // Gangs that held nodes and hold none after this session lose the annotation (below).
    let mut reserved = std::collections::BTreeSet::new();
    for effect in effects {
        match effect {
            Effect::Bind {
                task,
                node,
                annotations,
            } => binds.push((task, node, annotations)),
            Effect::Evict { task, reason } => {
                evicting.push(task.clone());
                let ctx = ctx.clone();
                let not_evicted = not_evicted.clone();
                writes.push(Box::pin(async move {
                    if !timed(&ctx, "evict", evict(&ctx, &task, &reason)).await {
                        not_evicted
                            .lock()
                            .unwrap_or_else(|e| e.into_inner())
                            .push(task);
                    }
                }))
            }
            Effect::PodGroupStatus {
                job,
                phase,
                conditions,
            } => {
                let Some(pg) = podgroups.get(job.as_str()) else {
                    continue;
                };
                let pods = pods_by_group.get(&job).map(Vec::as_slice).unwrap_or(&[]);
                let desired = podgroup_status(pg.status.as_ref(), phase, &conditions, pods, now);
                for e in super::pg_events::podgroup_events(pg, &desired) {
                    let ctx = ctx.clone();
                    writes.push(Box::pin(async move {
                        let event = async {
                            ctx.event(&e.regarding, e.warning, e.reason, e.action, e.note)
                                .await;
                            true
                        };
                        timed(&ctx, "event", event).await;
                    }));
                }
                if pg.status.as_ref() != Some(&desired) {
                    let ctx = ctx.clone();
                    let pg = (**pg).clone();
                    writes.push(Box::pin(async move {
                        timed(&ctx, "podgroup", write_podgroup(&ctx, pg, desired)).await;
                    }));
                }
            }
            Effect::QueueStatus {
                queue,
                allocated,
                deserved,
            } => {
                let current = queues.get(queue.as_str()).and_then(|q| q.status.as_ref());
                if let Some(patch) = queue_status_patch(current, &allocated, deserved.as_ref()) {
                    let ctx = ctx.clone();
                    writes.push(Box::pin(async move {
                        timed(&ctx, "queue", write_queue(&ctx, queue.as_str(), patch)).await;
                    }));
                }
            }
            Effect::Reservation { job, reservation } => {
                let Some(pg) = podgroups.get(job.as_str()) else {
                    continue;
                };
                reserved.insert(job.to_string());
                let text = serde_json::to_string(&reservation).unwrap_or_default();
                if pg.annotations().get(RESERVATION_ANNOTATION) != Some(&text) {
                    let ctx = ctx.clone();
                    let pg = (**pg).clone();
                    writes.push(Box::pin(async move {
                        timed(&ctx, "reservation", write_reservation(&ctx, pg, Some(text))).await;
                    }));
                }
            }
            Effect::Explanation(explanation) => {
                // Gated pods carry their own condition (`SchedulingGated`), not the gang's.
                let pods: Vec<Pod> = pods_by_group
                    .get(&explanation.job)
                    .into_iter()
                    .flatten()
                    .filter(|p| {
                        p.spec.as_ref().is_some_and(|s| {
                            s.node_name.is_none() && bridge::snapshot::gates(s).is_none()
                        })
                    })
                    .map(|p| (*p).clone())
                    .collect();
                let key = explanation_key(&explanation.to_string(), &pods);
                if explained.get(explanation.job.as_str()) == Some(&key) {
                    continue;
                }
                explained.insert(explanation.job.to_string(), key);
                let ctx = ctx.clone();
                let unexplained = unexplained.clone();
                writes.push(Box::pin(async move {
                    let job = explanation.job.to_string();
                    // An explanation not written is tried again next session, even unchanged.
                    if !timed(&ctx, "explanation", explain(&ctx, explanation, pods)).await {
                        unexplained
                            .lock()
                            .unwrap_or_else(|e| e.into_inner())
                            .push(job);
                    }
                }));
            }
        }
    }
    for (id, pg) in podgroups {
        if pg.annotations().contains_key(RESERVATION_ANNOTATION) && !reserved.contains(id) {
            let ctx = ctx.clone();
            let pg = (**pg).clone();
            writes.push(Box::pin(async move {
                timed(&ctx, "reservation", write_reservation(&ctx, pg, None)).await;
            }));
        }
    }
    let bind_futs = binds.into_iter().map(|(task, node, annotations)| {
        let ctx = ctx.clone();
        async move {
            let ok = timed(&ctx, "bind", bind(&ctx, &task, &node, annotations)).await;
            (task, node, ok)
        }
    });
    let results: Vec<(TaskId, NodeId, bool)> = stream::iter(bind_futs)
        .buffer_unordered(parallelism)
        .collect()
        .await;
    stream::iter(writes)
        .buffer_unordered(parallelism)
        .for_each(|()| async {})
        .await;
    // An explanation whose condition could not be written is tried again next session, even
    // when its text has not changed (else one failed write hides it for good).
    for job in std::mem::take(&mut *unexplained.lock().unwrap_or_else(|e| e.into_inner())) {
        explained.remove(&job);
    }
    let not_evicted = std::mem::take(&mut *not_evicted.lock().unwrap_or_else(|e| e.into_inner()));
    evicting.retain(|t| !not_evicted.contains(t));
    let mut outcome = Outcome {
        evicting,
        ..Outcome::default()
    };
    for (task, node, ok) in results {
        if ok {
            ctx.metrics.pods_bound.inc();
            outcome.bound.push((task, node));
        } else {
            ctx.metrics.bind_failures.inc();
            outcome.failed.push(task);
        }
    }
    outcome
}

async fn bind(
    ctx: &Context,
    task: &TaskId,
    node: &NodeId,
    annotations: BTreeMap<String, String>,
) -> bool {
    let (ns, name) = split(task.as_str());
    let api: Api<Pod> = Api::namespaced(ctx.client.clone(), ns);
    let pm = PatchParams {
        field_manager: Some(field_manager(COMPONENT)),
        ..Default::default()
    };
    if !annotations.is_empty() {
        let patch = json!({"metadata": {"annotations": annotations}});
        if let Err(error) = api.patch(name, &pm, &Patch::Merge(&patch)).await {
            warn!(pod = %task, %error, "annotating pod before bind failed");
            return false;
        }
    }
    let binding = json!({
        "apiVersion": "v1", "kind": "Binding",
        "metadata": {"name": name, "namespace": ns, "annotations": annotations},
        "target": {"apiVersion": "v1", "kind": "Node", "name": node.as_str()},
    });
    let pp = PostParams {
        dry_run: false,
        field_manager: Some(field_manager(COMPONENT)),
    };
    match api
        .create_subresource::<_, serde_json::Value>("binding", name, &pp, &binding)
        .await
    {
        Ok(_) => true,
        Err(error) => {
            warn!(pod = %task, node = %node, %error, "bind failed");
            false
        }
    }
}

/// Evicts the pod; a failure other than "already gone" is recorded in `not_evicted`.
async fn evict(ctx: &Context, task: &TaskId, reason: &str) -> bool {
    let (ns, name) = split(task.as_str());
    let api: Api<Pod> = Api::namespaced(ctx.client.clone(), ns);
    match api.evict(name, &EvictParams::default()).await {
        Ok(_) => {
            ctx.metrics.pods_evicted.inc();
            let reference = ObjectReference {
                api_version: Some("v1".into()),
                kind: Some("Pod".into()),
                name: Some(name.to_owned()),
                namespace: Some(ns.to_owned()),
                ..Default::default()
            };
            ctx.event(
                &reference,
                true,
                "Evict",
                "Preempt",
                format!("pod evicted by the scheduler: {reason}"),
            )
            .await;
            true
        }
        Err(e) if is_status(&e, 404) => true,
        Err(error) => {
            warn!(pod = %task, %error, "eviction failed");
            false
        }
    }
}

async fn write_podgroup(ctx: &Context, mut pg: PodGroup, status: PodGroupStatus) -> bool {
    let ns = pg.namespace().unwrap_or_default();
    let name = pg.name_any();
    let api: Api<PodGroup> = Api::namespaced(ctx.client.clone(), &ns);
    pg.status = Some(status);
    let pp = PostParams {
        dry_run: false,
        field_manager: Some(field_manager(COMPONENT)),
    };
    match api.replace(&name, &pp, &pg).await {
        Ok(_) => true,
        Err(e) if is_status(&e, 409) || is_status(&e, 404) => {
            debug!(podgroup = %name, "podgroup changed; next session rewrites");
            false
        }
        Err(error) => {
            warn!(podgroup = %name, %error, "writing podgroup status failed");
            false
        }
    }
}

/// Sets (or with `None` removes) the PodGroup's reservation annotation, which the next
/// snapshot passes back to the core so the reservation keeps its nodes.
async fn write_reservation(ctx: &Context, pg: PodGroup, value: Option<String>) -> bool {
    let ns = pg.namespace().unwrap_or_default();
    let name = pg.name_any();
    let api: Api<PodGroup> = Api::namespaced(ctx.client.clone(), &ns);
    let patch = json!({"metadata": {"annotations": {RESERVATION_ANNOTATION: value}}});
    let pp = PatchParams {
        field_manager: Some(field_manager(COMPONENT)),
        ..Default::default()
    };
    match api.patch(&name, &pp, &Patch::Merge(&patch)).await {
        Ok(_) => true,
        Err(e) if is_status(&e, 404) => {
            debug!(podgroup = %name, "podgroup gone");
            true
        }
        Err(error) => {
            warn!(podgroup = %name, %error, "writing the reservation annotation failed");
            false
        }
    }
}

/// Pure: the merge patch that brings a queue's `status.allocated` and `status.deserved` to the
/// session's values in one write (resources no longer present are nulled), or `None` when the
/// status already says so.
pub fn queue_status_patch(
    current: Option<&crds::queue::QueueStatus>,
    allocated: &scheduler_core::Resources,
    deserved: Option<&scheduler_core::Resources>,
) -> Option<serde_json::Value> {
    let diff = |old: Option<&crds::ResourceList>, new: Option<crds::ResourceList>| {
        let old = old.cloned().unwrap_or_default();
        let new = new.unwrap_or_default();
        if old == new {
            return None;
        }
        let mut map = serde_json::Map::new();
        for name in old.keys().filter(|k| !new.contains_key(*k)) {
            map.insert(name.clone(), serde_json::Value::Null);
        }
        for (name, q) in new {
            map.insert(name, json!(q));
        }
        Some(serde_json::Value::Object(map))
    };
    let mut status = serde_json::Map::new();
    if let Some(v) = diff(
        current.and_then(|s| s.allocated.as_ref()),
        Some(to_list(allocated)),
    ) {
        status.insert("allocated".into(), v);
    }
    if let Some(v) = diff(
        current.and_then(|s| s.deserved.as_ref()),
        deserved.map(to_list),
    ) {
        status.insert("deserved".into(), v);
    }
    (!status.is_empty()).then(|| json!({ "status": status }))
}

/// Pure: per queue, what the session saw (published as `basalt_scheduler_queue_*` metrics).
pub fn queue_figures(
    effects: &[Effect],
    podgroups: &BTreeMap<String, Arc<PodGroup>>,
    queues: &BTreeMap<String, Arc<Queue>>,
) -> BTreeMap<String, crate::metrics::QueueFigures> {
    use crate::metrics::QueueFigures;
    let canonical =
        |r: &scheduler_core::Resources| r.iter().map(|(n, v)| (n.to_owned(), v)).collect();
    let mut out: BTreeMap<String, QueueFigures> = queues
        .iter()
        .map(|(name, q)| {
            let capability = bridge::resources::parse_list(q.spec.capability.as_ref());
            let figures = QueueFigures {
                jobs: [("pending", 0), ("inqueue", 0), ("running", 0)]
                    .into_iter()
                    .collect(),
                capability: canonical(&capability),
                ..QueueFigures::default()
            };
            (name.clone(), figures)
        })
        .collect();
    let mut phases: BTreeMap<&str, PodGroupPhase> = podgroups
        .iter()
        .filter_map(|(id, pg)| Some((id.as_str(), pg.status.as_ref()?.phase?)))
        .collect();
    let queue_of = |job: &str| {
        podgroups.get(job).map(|pg| {
            pg.spec
                .queue
                .clone()
                .unwrap_or_else(|| "default".to_owned())
        })
    };
    for effect in effects {
        match effect {
            Effect::PodGroupStatus { job, phase, .. } => {
                if let Some((id, _)) = podgroups.get_key_value(job.as_str()) {
                    phases.insert(id.as_str(), pg_phase(*phase));
                }
            }
            Effect::Explanation(x) => {
                if let Some(f) = queue_of(x.job.as_str()).and_then(|q| out.get_mut(&q)) {
                    f.unschedulable += 1;
                }
            }
            Effect::QueueStatus {
                queue,
                allocated,
                deserved,
            } => {
                if let Some(f) = out.get_mut(queue.as_str()) {
                    f.allocated = canonical(allocated);
                    f.deserved = deserved.as_ref().map(canonical).unwrap_or_default();
                }
            }
            _ => {}
        }
    }
    for (job, phase) in phases {
        let key = match phase {
            PodGroupPhase::Pending => "pending",
            PodGroupPhase::Inqueue => "inqueue",
            PodGroupPhase::Running => "running",
            _ => continue,
        };
        if let Some(f) = queue_of(job).and_then(|q| out.get_mut(&q)) {
            *f.jobs.entry(key).or_default() += 1;
        }
    }
    out
}

fn pg_phase(phase: JobPhase) -> PodGroupPhase {
    match phase {
        JobPhase::Pending => PodGroupPhase::Pending,
        JobPhase::Inqueue => PodGroupPhase::Inqueue,
        JobPhase::Running => PodGroupPhase::Running,
        JobPhase::Unknown => PodGroupPhase::Unknown,
        JobPhase::Completed => PodGroupPhase::Completed,
    }
}

async fn write_queue(ctx: &Context, queue: &str, patch: serde_json::Value) -> bool {
    let api: Api<Queue> = Api::all(ctx.client.clone());
    let pp = PatchParams {
        field_manager: Some(field_manager(COMPONENT)),
        ..Default::default()
    };
    match api.patch_status(queue, &pp, &Patch::Merge(&patch)).await {
        Ok(_) => true,
        Err(error) => {
            warn!(%queue, %error, "writing queue status failed");
            false
        }
    }
}

/// Pure: the `PodScheduled=False` condition for an unschedulable pod.
pub fn unschedulable_condition(message: &str, now: Timestamp) -> serde_json::Value {
    json!({"type": "PodScheduled", "status": "False", "reason": "Unschedulable",
        "message": message, "lastTransitionTime": Time(now)})
}

/// Pure: the `PodScheduled=False` condition kube-scheduler sets on a pod with scheduling gates
/// (reason `SchedulingGated`, which `kubectl get pods` shows as the pod's status), naming them.
pub fn gated_condition(gates: &[&str], now: Timestamp) -> serde_json::Value {
    json!({"type": "PodScheduled", "status": "False", "reason": "SchedulingGated",
        "message": format!(
            "scheduling is blocked by the pod's scheduling gates ({}); it is scheduled once every gate is removed from spec.schedulingGates",
            gates.join(", ")
        ),
        "lastTransitionTime": Time(now)})
}

/// Pure: Pending, unbound pods of ours (`is_ours` on the scheduler name) with scheduling gates
/// whose `PodScheduled` condition does not say `SchedulingGated` yet, at most `limit` of them
/// (the rest are marked in the next sessions).
pub fn gated_pods_to_mark<'a>(
    pods: &[&'a Pod],
    is_ours: impl Fn(Option<&str>) -> bool,
    limit: usize,
) -> Vec<&'a Pod> {
    pods.iter()
        .copied()
        .filter(|p| {
            let Some(spec) = p.spec.as_ref() else {
                return false;
            };
            let status = p.status.as_ref();
            let pending = status
                .and_then(|s| s.phase.as_deref())
                .is_none_or(|ph| ph == "Pending");
            let marked = status
                .and_then(|s| s.conditions.as_ref())
                .into_iter()
                .flatten()
                .any(|c| {
                    c.type_ == "PodScheduled"
                        && c.status == "False"
                        && c.reason.as_deref() == Some("SchedulingGated")
                });
            pending
                && !marked
                && p.metadata.deletion_timestamp.is_none()
                && spec.node_name.as_deref().is_none_or(str::is_empty)
                && bridge::snapshot::gates(spec).is_some()
                && is_ours(spec.scheduler_name.as_deref())
        })
        .take(limit)
        .collect()
}

/// Writes [`gated_condition`] on each pod (other conditions kept), with bounded parallelism.
pub async fn mark_gated(ctx: &Arc<Context>, pods: Vec<Pod>) {
    let now = Timestamp::now();
    let writes = pods.into_iter().map(|pod| {
        let ctx = ctx.clone();
        async move {
            let gates: Vec<&str> = pod
                .spec
                .as_ref()
                .and_then(bridge::snapshot::gates)
                .unwrap_or_default()
                .iter()
                .map(|g| g.name.as_str())
                .collect();
            let condition = gated_condition(&gates, now);
            timed(&ctx, "gated", set_pod_scheduled(&ctx, &pod, condition)).await;
        }
    });
    stream::iter(writes)
        .buffer_unordered(ctx.config.effect_parallelism.max(1))
        .for_each(|()| async {})
        .await;
}

/// Replaces the pod's `PodScheduled` condition with `condition` (status subresource, merge patch
/// of the whole list so the other conditions stay). A failure is logged and returns `false` (a
/// pod that is gone counts as done); the caller makes the next session try again.
async fn set_pod_scheduled(ctx: &Context, pod: &Pod, condition: serde_json::Value) -> bool {
    let ns = pod.namespace().unwrap_or_default();
    let api: Api<Pod> = Api::namespaced(ctx.client.clone(), &ns);
    let mut conditions: Vec<serde_json::Value> = pod
        .status
        .as_ref()
        .and_then(|s| s.conditions.as_ref())
        .into_iter()
        .flatten()
        .filter(|c| c.type_ != "PodScheduled")
        .filter_map(|c| serde_json::to_value(c).ok())
        .collect();
    conditions.push(condition);
    let patch = json!({"status": {"conditions": conditions}});
    match api
        .patch_status(
            &pod.name_any(),
            &PatchParams::default(),
            &Patch::Merge(&patch),
        )
        .await
    {
        Ok(_) => true,
        Err(e) if is_status(&e, 404) => true,
        Err(error) => {
            debug!(pod = %pod.name_any(), %error, "setting PodScheduled=False failed");
            false
        }
    }
}

/// Pure: what `execute` remembers of a job's explanation so that an unchanged one is not
/// re-published every second: its text and the pods it goes on (a pod created later, say a
/// replacement, gets the condition too).
fn explanation_key(text: &str, pods: &[Pod]) -> String {
    use std::hash::{Hash, Hasher};
    let mut names: Vec<String> = pods.iter().map(|p| p.name_any()).collect();
    names.sort_unstable();
    let mut h = std::collections::hash_map::DefaultHasher::new();
    names.hash(&mut h);
    format!("{text}\n{:016x}", h.finish())
}

/// Writes the explanation's condition (and events) on the job's pending pods; false when a
/// condition could not be written.
async fn explain(ctx: &Context, explanation: Explanation, pods: Vec<Pod>) -> bool {
    let message = explanation.to_string();
    let now = Timestamp::now();
    let mut written = true;
    // Bounded: a 1,000-pod gang gets the condition on its first pods, not a write storm.
    for (i, pod) in pods.into_iter().take(EXPLAINED_PODS).enumerate() {
        written &= set_pod_scheduled(ctx, &pod, unschedulable_condition(&message, now)).await;
        if i < EVENT_PODS {
            ctx.event(
                &pod.object_ref(&()),
                true,
                "FailedScheduling",
                "Scheduling",
                message.clone(),
            )
            .await;
        }
    }
    written
}

/// Runs one effect write under the configured deadline (`effect_write_timeout`) and counts its
/// outcome in `basalt_scheduler_effect_writes_total{effect, outcome}`; true when it succeeded.
/// A write past the deadline is abandoned: the next session sees the caches and decides again.
async fn timed(ctx: &Context, effect: &'static str, write: impl Future<Output = bool>) -> bool {
    let deadline = ctx.config.effect_write_timeout;
    let outcome = match tokio::time::timeout(deadline, write).await {
        Ok(true) => "ok",
        Ok(false) => "error",
        Err(_) => {
            warn!(
                effect,
                ?deadline,
                "scheduler write timed out; the next session retries"
            );
            "timeout"
        }
    };
    ctx.metrics.effect_write(effect, outcome);
    outcome == "ok"
}

#[cfg(test)]
mod tests {
    use super::*;
    use crds::podgroup::PodGroupSpec;
    use crds::queue::{QueueSpec, QueueStatus};
    use k8s_openapi::apimachinery::pkg::api::resource::Quantity;
    use scheduler_core::Resources;
    use scheduler_core::resources::NVIDIA_GPU;

    /// Like kube-scheduler: a Pending, unbound pod of ours with gates gets `PodScheduled=False`
    /// `SchedulingGated` naming them, once; bound, finished, ungated and foreign pods do not.
    #[test]
    fn gated_pods_are_marked_scheduling_gated_once() {
        let pod_of = |name: &str, scheduler: &str, extra: &str| -> Pod {
            serde_saphyr::from_str(&format!(
                "apiVersion: v1\nkind: Pod\nmetadata: {{name: {name}, namespace: ns}}\nspec:\n  schedulerName: {scheduler}\n  containers: [{{name: c}}]\n{extra}"
            ))
            .unwrap()
        };
        let pod = |name: &str, extra: &str| pod_of(name, "volcano", extra);
        let gates = "  schedulingGates: [{name: example.com/g1}, {name: example.com/g2}]\n";
        let gated = pod("gated", gates);
        let open = pod("open", "");
        let bound = pod("bound", &format!("{gates}  nodeName: n1\n"));
        let foreign = pod_of("foreign", "default-scheduler", gates);
        let marked = pod(
            "marked",
            &format!(
                "{gates}status:\n  phase: Pending\n  conditions: [{{type: PodScheduled, status: 'False', reason: SchedulingGated}}]\n"
            ),
        );
        let ours = |n: Option<&str>| n == Some("volcano");
        let all = [&gated, &open, &bound, &foreign, &marked];
        let names: Vec<String> = gated_pods_to_mark(&all, ours, 10)
            .iter()
            .map(|p| p.name_any())
            .collect();
        assert_eq!(names, ["gated"]);
        assert!(gated_pods_to_mark(&all, ours, 0).is_empty());
        let c = gated_condition(&["example.com/g1", "example.com/g2"], Timestamp::UNIX_EPOCH);
        assert_eq!(
            (&c["type"], &c["status"], &c["reason"]),
            (
                &json!("PodScheduled"),
                &json!("False"),
                &json!("SchedulingGated")
            )
        );
        assert!(
            c["message"]
                .as_str()
                .unwrap()
                .contains("scheduling gates (example.com/g1, example.com/g2)"),
            "{c}"
        );
    }

    fn list(pairs: &[(&str, &str)]) -> crds::ResourceList {
        pairs
            .iter()
            .map(|(k, v)| ((*k).to_owned(), Quantity((*v).to_owned())))
            .collect()
    }

    #[test]
    fn queue_status_patch_writes_both_lists_at_once_and_nulls_what_is_gone() {
        let current = QueueStatus {
            allocated: Some(list(&[("cpu", "2"), ("nvidia.com/gpu", "4")])),
            ..QueueStatus::default()
        };
        let allocated = Resources::new().with(NVIDIA_GPU, 4);
        let deserved = Resources::new().with(NVIDIA_GPU, 6);
        let patch = queue_status_patch(Some(&current), &allocated, Some(&deserved));
        assert_eq!(
            patch,
            Some(json!({"status": {
                "allocated": {"cpu": null, "nvidia.com/gpu": "4"},
                "deserved": {"nvidia.com/gpu": "6"},
            }}))
        );
        let now = QueueStatus {
            allocated: Some(list(&[("nvidia.com/gpu", "4")])),
            deserved: Some(list(&[("nvidia.com/gpu", "6")])),
            ..QueueStatus::default()
        };
        assert_eq!(
            queue_status_patch(Some(&now), &allocated, Some(&deserved)),
            None
        );
        // No fair-share plugin: the deserved list is removed.
        assert_eq!(
            queue_status_patch(Some(&now), &allocated, None),
            Some(json!({"status": {"deserved": {"nvidia.com/gpu": null}}}))
        );
    }

    #[test]
    fn queue_figures_count_phases_after_the_session_and_unschedulable_jobs() {
        let pg = |queue: &str, phase: PodGroupPhase| {
            let mut pg = PodGroup::new(
                "x",
                PodGroupSpec {
                    queue: Some(queue.to_owned()),
                    ..PodGroupSpec::default()
                },
            );
            pg.status = Some(PodGroupStatus {
                phase: Some(phase),
                ..PodGroupStatus::default()
            });
            Arc::new(pg)
        };
        let podgroups: BTreeMap<String, Arc<PodGroup>> = [
            ("ns/a".to_owned(), pg("team", PodGroupPhase::Pending)),
            ("ns/b".to_owned(), pg("team", PodGroupPhase::Inqueue)),
            ("ns/c".to_owned(), pg("team", PodGroupPhase::Running)),
        ]
        .into_iter()
        .collect();
        let queue = Queue::new(
            "team",
            QueueSpec {
                capability: Some(list(&[("nvidia.com/gpu", "20")])),
                ..QueueSpec::default()
            },
        );
        let queues: BTreeMap<String, Arc<Queue>> = [
            ("team".to_owned(), Arc::new(queue)),
            (
                "idle".to_owned(),
                Arc::new(Queue::new("idle", QueueSpec::default())),
            ),
        ]
        .into_iter()
        .collect();
        let effects = vec![
            Effect::PodGroupStatus {
                job: "ns/b".into(),
                phase: JobPhase::Running,
                conditions: vec![],
            },
            Effect::Explanation(Explanation {
                job: "ns/a".into(),
                summary: "no room".into(),
                task: None,
                nodes: 0,
                reasons: vec![].into(),
            }),
            Effect::QueueStatus {
                queue: "team".into(),
                allocated: Resources::new().with(NVIDIA_GPU, 12),
                deserved: Some(Resources::new().with(NVIDIA_GPU, 16)),
            },
        ];
        let f = queue_figures(&effects, &podgroups, &queues);
        let team = &f["team"];
        let jobs: Vec<(&str, i64)> = team.jobs.iter().map(|(k, v)| (*k, *v)).collect();
        assert_eq!(jobs, [("inqueue", 0), ("pending", 1), ("running", 2)]);
        assert_eq!(team.unschedulable, 1);
        assert_eq!(team.allocated[NVIDIA_GPU], 12);
        assert_eq!(team.deserved[NVIDIA_GPU], 16);
        assert_eq!(team.capability[NVIDIA_GPU], 20);
        assert_eq!(f["idle"].jobs.values().sum::<i64>(), 0);
        assert!(f["idle"].capability.is_empty());
    }
}
