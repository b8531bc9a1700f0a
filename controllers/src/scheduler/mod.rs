//! The scheduler loop: reflector stores of pods, nodes, PodGroups and queues → a
//! `scheduler_core` snapshot (plus polled node usage, see `usage`) → one session every period (default 1 s) and soon after any
//! relevant change → effects executed concurrently (see `effects`).
//!
//! Only the leader runs sessions; a standby keeps its caches warm. Binds issued but not yet
//! visible in the pod cache are remembered (`in_flight`) and fed back into the next snapshot so
//! a pod is never placed twice.

pub mod config;
pub mod effects;
pub mod pg_events;
pub mod pod_affinity;
pub mod runtimes;
pub mod snapshot;
pub mod usage;

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use crds::podgroup::PodGroup;
use crds::queue::Queue;
use futures_util::{Stream, StreamExt};
use k8s_openapi::api::core::v1::{Node, Pod};
use k8s_openapi::api::scheduling::v1::PriorityClass;
use k8s_openapi::jiff::Timestamp;
use kube::api::Api;
use kube::runtime::reflector::{self, Store};
use kube::runtime::{WatchStreamExt, watcher};
use kube::{Resource, ResourceExt};
use scheduler_core::{NodeId, TaskId};
use tokio::sync::Notify;
use tracing::{debug, info, warn};

use crate::context::Context;

/// How long after a change the loop waits to batch further changes into one session.
const DEBOUNCE: Duration = Duration::from_millis(20);
/// How long an issued bind may stay invisible in the cache before it is forgotten.
const IN_FLIGHT_TTL: Duration = Duration::from_secs(30);

fn reflect<K>(api: Api<K>, notify: Arc<Notify>) -> (Store<K>, impl Stream<Item = ()> + Send)
where
    K: Resource<DynamicType = ()>
        + Clone
        + std::fmt::Debug
        + serde::de::DeserializeOwned
        + Send
        + Sync
        + 'static,
{
    let (reader, writer) = reflector::store();
    let stream = reflector::reflector(writer, watcher(api, watcher::Config::default()))
        .default_backoff()
        .touched_objects()
        .map(move |r| {
            if let Err(error) = r {
                debug!(%error, "scheduler watch error (retrying)");
            }
            notify.notify_one();
        });
    (reader, stream)
}

/// The loop's caches.
#[derive(Clone)]
pub struct Caches {
    /// Pods.
    pub pods: Store<Pod>,
    /// Nodes.
    pub nodes: Store<Node>,
    /// PodGroups.
    pub podgroups: Store<PodGroup>,
    /// Queues.
    pub queues: Store<Queue>,
    /// PriorityClasses (job and task priorities).
    pub priority_classes: Store<PriorityClass>,
    /// Latest measured node usage (see `usage`), polled by a side task.
    pub usage: tokio::sync::watch::Receiver<Arc<usage::Samples>>,
}

/// Runs the scheduler loop until `shutdown` resolves.
pub async fn run(ctx: Arc<Context>, shutdown: impl Future<Output = ()> + Send + 'static) {
    let client = ctx.client.clone();
    let notify = Arc::new(Notify::new());
    let (pods, s1) = reflect(Api::<Pod>::all(client.clone()), notify.clone());
    let (nodes, s2) = reflect(Api::<Node>::all(client.clone()), notify.clone());
    let (podgroups, s3) = reflect(Api::<PodGroup>::all(client.clone()), notify.clone());
    let (queues, s4) = reflect(Api::<Queue>::all(client.clone()), notify.clone());
    let (priority_classes, s5) = reflect(Api::<PriorityClass>::all(client.clone()), notify.clone());
    let watches = futures_util::stream::select(
        futures_util::stream::select(s1, s2),
        futures_util::stream::select(futures_util::stream::select(s3, s4), s5),
    );
    let watch_task = tokio::spawn(watches.for_each(|()| async {}));
    let (usage, usage_task) = usage::spawn(client.clone());
    let caches = Caches {
        pods,
        nodes,
        podgroups,
        queues,
        priority_classes,
        usage,
    };
    let scheduler = config::watch(ctx.clone()).await;
    let mut shutdown = std::pin::pin!(shutdown);
    for ready in [
        caches.pods.wait_until_ready().await.is_ok(),
        caches.nodes.wait_until_ready().await.is_ok(),
        caches.podgroups.wait_until_ready().await.is_ok(),
        caches.queues.wait_until_ready().await.is_ok(),
        caches.priority_classes.wait_until_ready().await.is_ok(),
    ] {
        if !ready {
            warn!("scheduler caches stopped before they were ready");
        }
    }
    info!(period = ?ctx.config.schedule_period, "scheduler loop started");
    let mut state = LoopState::default();
    loop {
        tokio::select! {
            () = &mut shutdown => break,
            () = tokio::time::sleep(ctx.config.schedule_period) => {}
            () = notify.notified() => tokio::time::sleep(DEBOUNCE).await,
        }
        if !ctx.is_leader() {
            continue;
        }
        let current = scheduler.borrow().clone();
        session(&ctx, &caches, &current, &mut state).await;
    }
    watch_task.abort();
    usage_task.abort();
}

/// State carried between sessions.
#[derive(Default)]
pub struct LoopState {
    in_flight: BTreeMap<TaskId, (NodeId, Instant)>,
    /// Evictions requested and not yet observed, by pod uid (a Job's replacement pod reuses the
    /// name): Releasing in the next snapshots until the pod is gone or the TTL passes.
    evicting: BTreeMap<TaskId, (String, Instant)>,
    explained: BTreeMap<String, String>,
    /// Run times of finished jobs, the estimate for jobs that declare none.
    runtimes: runtimes::RuntimeLearner,
}

/// Runs one session over the caches and executes its effects.
pub async fn session(
    ctx: &Arc<Context>,
    caches: &Caches,
    scheduler: &Arc<scheduler_core::Scheduler>,
    state: &mut LoopState,
) {
    let pods = caches.pods.state();
    let nodes = caches.nodes.state();
    let podgroups = caches.podgroups.state();
    let queues = caches.queues.state();
    let pod_refs: Vec<&Pod> = pods.iter().map(|p| &**p).collect();
    let observed = snapshot::observed_binds(&pod_refs);
    let existing: std::collections::BTreeSet<TaskId> =
        pod_refs.iter().map(|p| snapshot::task_id(p)).collect();
    state.in_flight.retain(|t, (_, at)| {
        !observed.contains(t) && existing.contains(t) && at.elapsed() < IN_FLIGHT_TTL
    });
    let in_flight: BTreeMap<TaskId, NodeId> = state
        .in_flight
        .iter()
        .map(|(t, (n, _))| (t.clone(), n.clone()))
        .collect();
    let node_refs: Vec<&Node> = nodes.iter().map(|n| &**n).collect();
    let pg_refs: Vec<&PodGroup> = podgroups.iter().map(|p| &**p).collect();
    let queue_refs: Vec<&Queue> = queues.iter().map(|q| &**q).collect();
    let classes = caches.priority_classes.state();
    let class_refs: Vec<&PriorityClass> = classes.iter().map(|c| &**c).collect();
    let inputs = snapshot::Inputs {
        pods: &pod_refs,
        nodes: &node_refs,
        podgroups: &pg_refs,
        queues: &queue_refs,
        in_flight: &in_flight,
        priority_classes: &class_refs,
    };
    // The builder is pure: the session's clock (time rules of preempt/reclaim) comes from here.
    let now_ms = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as u64);
    let mut snap = snapshot::build_at(&inputs, now_ms, |n| ctx.config.is_ours(n));
    let by_group = snapshot::pods_by_group(&pod_refs);
    state.runtimes.observe(&pg_refs, &by_group);
    snap.queue_runtime = state.runtimes.estimates();
    let uids: BTreeMap<TaskId, String> = pod_refs
        .iter()
        .filter_map(|p| Some((snapshot::task_id(p), p.metadata.uid.clone()?)))
        .collect();
    state
        .evicting
        .retain(|t, (uid, at)| uids.get(t) == Some(&*uid) && at.elapsed() < IN_FLIGHT_TTL);
    let evicting: std::collections::BTreeSet<TaskId> = state.evicting.keys().cloned().collect();
    snapshot::mark_releasing(&mut snap, &evicting);
    let samples = caches.usage.borrow().clone();
    snap.node_usage = usage::node_usage(&node_refs, &samples, now_ms);
    let started = Instant::now();
    let sched = scheduler.clone();
    let result =
        match tokio::task::spawn_blocking(move || scheduler_core::run_session(&snap, &sched)).await
        {
            Ok(Ok(r)) => r,
            Ok(Err(error)) => {
                warn!(%error, "scheduling session rejected the snapshot");
                return;
            }
            Err(error) => {
                warn!(%error, "scheduling session panicked");
                return;
            }
        };
    ctx.metrics
        .session_duration
        .observe(started.elapsed().as_secs_f64());
    ctx.metrics.sessions.inc();
    if result.stats.binds > 0 || result.stats.evictions > 0 {
        debug!(binds = result.stats.binds, evictions = result.stats.evictions, took = ?started.elapsed(), "session");
    }
    let pg_map: BTreeMap<String, Arc<PodGroup>> = podgroups
        .iter()
        .map(|p| {
            (
                format!("{}/{}", p.namespace().unwrap_or_default(), p.name_any()),
                p.clone(),
            )
        })
        .collect();
    let queue_map: BTreeMap<String, Arc<Queue>> =
        queues.iter().map(|q| (q.name_any(), q.clone())).collect();
    let explained_now: std::collections::BTreeSet<String> = result
        .effects
        .iter()
        .filter_map(|e| match e {
            scheduler_core::Effect::Explanation(x) => Some(x.job.to_string()),
            _ => None,
        })
        .collect();
    state.explained.retain(|job, _| explained_now.contains(job));
    let created: BTreeMap<TaskId, Timestamp> = pod_refs
        .iter()
        .filter_map(|p| {
            Some((
                snapshot::task_id(p),
                p.metadata.creation_timestamp.as_ref()?.0,
            ))
        })
        .collect();
    let outcome = effects::execute(
        ctx,
        result.effects,
        &pg_map,
        &queue_map,
        &by_group,
        &mut state.explained,
    )
    .await;
    let gated: Vec<Pod> = effects::gated_pods_to_mark(
        &pod_refs,
        |n| ctx.config.is_ours(n),
        effects::GATED_PODS_PER_SESSION,
    )
    .into_iter()
    .cloned()
    .collect();
    if !gated.is_empty() {
        effects::mark_gated(ctx, gated).await;
    }
    for task in outcome.evicting {
        if let Some(uid) = uids.get(&task) {
            state.evicting.insert(task, (uid.clone(), Instant::now()));
        }
    }
    let now = Timestamp::now();
    for (task, node) in outcome.bound {
        if let Some(c) = created.get(&task) {
            let latency = now.duration_since(*c).as_secs_f64().max(0.0);
            ctx.metrics.scheduling_latency.observe(latency);
        }
        state.in_flight.insert(task, (node, Instant::now()));
    }
}
