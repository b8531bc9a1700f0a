//! The scheduler loop: reflector stores of pods, nodes, PodGroups, queues and PriorityClasses →
//! a `scheduler_core` snapshot (built by the `bridge` crate, plus polled node usage, see
//! `usage`) → one session every period (default 1 s) and soon after any relevant change →
//! effects executed concurrently, each write under a deadline (see `effects`). [`session`]
//! names the four steps: capture, decide, execute, remember.
//!
//! Only the leader runs sessions; a standby keeps its caches warm. Binds issued but not yet
//! visible in the pod cache are remembered (`in_flight`) and fed back into the next snapshot so
//! a pod is never placed twice.

pub mod config;
pub mod effects;
pub mod pg_events;
pub mod usage;

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use bridge::{runtimes, snapshot};
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
    pub usage: tokio::sync::watch::Receiver<Arc<bridge::usage::Samples>>,
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

/// Runs one session in four steps: [`capture`] the caches once (the snapshot and every lookup
/// executing needs), [`decide`] (`scheduler_core::run_session`, pure), [`execute`] the effects
/// against the API, [`remember`] what the next sessions must know (binds and evictions not yet
/// visible in the caches, latency metrics).
pub async fn session(
    ctx: &Arc<Context>,
    caches: &Caches,
    scheduler: &Arc<scheduler_core::Scheduler>,
    state: &mut LoopState,
) {
    let objects = Objects::read(caches);
    let view = objects.view();
    let snap = capture(ctx, &view, caches, state);
    let Some(result) = decide(ctx, snap, scheduler).await else {
        return;
    };
    let outcome = execute(ctx, &view, result.effects, state).await;
    remember(ctx, &view, outcome, state);
}

/// The objects of one session, read from the caches once.
struct Objects {
    pods: Vec<Arc<Pod>>,
    nodes: Vec<Arc<Node>>,
    podgroups: Vec<Arc<PodGroup>>,
    queues: Vec<Arc<Queue>>,
    priority_classes: Vec<Arc<PriorityClass>>,
}

impl Objects {
    fn read(caches: &Caches) -> Self {
        Objects {
            pods: caches.pods.state(),
            nodes: caches.nodes.state(),
            podgroups: caches.podgroups.state(),
            queues: caches.queues.state(),
            priority_classes: caches.priority_classes.state(),
        }
    }

    /// The lookups the snapshot and the effects need, built once per session.
    fn view(&self) -> View<'_> {
        let pods: Vec<&Pod> = self.pods.iter().map(|p| &**p).collect();
        let by_group = snapshot::pods_by_group(&pods);
        let uids = pods
            .iter()
            .filter_map(|p| Some((snapshot::task_id(p), p.metadata.uid.clone()?)))
            .collect();
        let created = pods
            .iter()
            .filter_map(|p| {
                Some((
                    snapshot::task_id(p),
                    p.metadata.creation_timestamp.as_ref()?.0,
                ))
            })
            .collect();
        let podgroup_by_key = self
            .podgroups
            .iter()
            .map(|p| {
                (
                    format!("{}/{}", p.namespace().unwrap_or_default(), p.name_any()),
                    p.clone(),
                )
            })
            .collect();
        let queue_by_name = self
            .queues
            .iter()
            .map(|q| (q.name_any(), q.clone()))
            .collect();
        View {
            nodes: self.nodes.iter().map(|n| &**n).collect(),
            podgroups: self.podgroups.iter().map(|p| &**p).collect(),
            queues: self.queues.iter().map(|q| &**q).collect(),
            priority_classes: self.priority_classes.iter().map(|c| &**c).collect(),
            pods,
            by_group,
            uids,
            created,
            podgroup_by_key,
            queue_by_name,
        }
    }
}

/// One session's objects and lookups (borrowed from [`Objects`]).
struct View<'a> {
    pods: Vec<&'a Pod>,
    nodes: Vec<&'a Node>,
    podgroups: Vec<&'a PodGroup>,
    queues: Vec<&'a Queue>,
    priority_classes: Vec<&'a PriorityClass>,
    /// Pods by their PodGroup (`namespace/name`).
    by_group: BTreeMap<scheduler_core::JobId, Vec<&'a Pod>>,
    /// Pod uid by task: an eviction is remembered for that pod, not for its replacement.
    uids: BTreeMap<TaskId, String>,
    /// Creation time by task: the create-to-bind latency metric.
    created: BTreeMap<TaskId, Timestamp>,
    /// PodGroups by `namespace/name`, Queues by name: what the effects update.
    podgroup_by_key: BTreeMap<String, Arc<PodGroup>>,
    queue_by_name: BTreeMap<String, Arc<Queue>>,
}

/// Step 1: the snapshot the core decides on, with the binds and evictions issued earlier that
/// the caches do not show yet, the learned run times and the polled node usage.
fn capture(
    ctx: &Context,
    view: &View<'_>,
    caches: &Caches,
    state: &mut LoopState,
) -> scheduler_core::Snapshot {
    let observed = snapshot::observed_binds(&view.pods);
    let existing: std::collections::BTreeSet<TaskId> =
        view.pods.iter().map(|p| snapshot::task_id(p)).collect();
    state.in_flight.retain(|t, (_, at)| {
        !observed.contains(t) && existing.contains(t) && at.elapsed() < IN_FLIGHT_TTL
    });
    let in_flight: BTreeMap<TaskId, NodeId> = state
        .in_flight
        .iter()
        .map(|(t, (n, _))| (t.clone(), n.clone()))
        .collect();
    let inputs = snapshot::Inputs {
        pods: &view.pods,
        nodes: &view.nodes,
        podgroups: &view.podgroups,
        queues: &view.queues,
        in_flight: &in_flight,
        priority_classes: &view.priority_classes,
    };
    // The builder is pure: the session's clock (time rules of preempt/reclaim) comes from here.
    let now_ms = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as u64);
    let mut snap = snapshot::build_at(&inputs, now_ms, |n| ctx.config.is_ours(n));
    state.runtimes.observe(&view.podgroups, &view.by_group);
    snap.queue_runtime = state.runtimes.estimates();
    state
        .evicting
        .retain(|t, (uid, at)| view.uids.get(t) == Some(&*uid) && at.elapsed() < IN_FLIGHT_TTL);
    let evicting: std::collections::BTreeSet<TaskId> = state.evicting.keys().cloned().collect();
    snapshot::mark_releasing(&mut snap, &evicting);
    let samples = caches.usage.borrow().clone();
    snap.node_usage = bridge::usage::node_usage(&view.nodes, &samples, now_ms);
    snap
}

/// Step 2: the session itself, off the async runtime; `None` (logged) when the core refused
/// the snapshot or panicked.
async fn decide(
    ctx: &Context,
    snap: scheduler_core::Snapshot,
    scheduler: &Arc<scheduler_core::Scheduler>,
) -> Option<scheduler_core::SessionResult> {
    let started = Instant::now();
    let sched = scheduler.clone();
    let result =
        match tokio::task::spawn_blocking(move || scheduler_core::run_session(&snap, &sched)).await
        {
            Ok(Ok(r)) => r,
            Ok(Err(error)) => {
                warn!(%error, "scheduling session rejected the snapshot");
                return None;
            }
            Err(error) => {
                warn!(%error, "scheduling session panicked");
                return None;
            }
        };
    ctx.metrics
        .session_duration
        .observe(started.elapsed().as_secs_f64());
    ctx.metrics.sessions.inc();
    if result.stats.binds > 0 || result.stats.evictions > 0 {
        debug!(binds = result.stats.binds, evictions = result.stats.evictions, took = ?started.elapsed(), "session");
    }
    Some(result)
}

/// Step 3: the effects written to the API (binds, evictions, PodGroup, Queue and pod
/// conditions, events), plus the `SchedulingGated` condition of gated pods.
async fn execute(
    ctx: &Arc<Context>,
    view: &View<'_>,
    effects: Vec<scheduler_core::Effect>,
    state: &mut LoopState,
) -> effects::Outcome {
    let explained_now: std::collections::BTreeSet<String> = effects
        .iter()
        .filter_map(|e| match e {
            scheduler_core::Effect::Explanation(x) => Some(x.job.to_string()),
            _ => None,
        })
        .collect();
    state.explained.retain(|job, _| explained_now.contains(job));
    let outcome = effects::execute(
        ctx,
        effects,
        &view.podgroup_by_key,
        &view.queue_by_name,
        &view.by_group,
        &mut state.explained,
    )
    .await;
    let gated: Vec<Pod> = effects::gated_pods_to_mark(
        &view.pods,
        |n| ctx.config.is_ours(n),
        effects::GATED_PODS_PER_SESSION,
    )
    .into_iter()
    .cloned()
    .collect();
    if !gated.is_empty() {
        effects::mark_gated(ctx, gated).await;
    }
    outcome
}

/// Step 4: binds and evictions issued but not yet visible, fed into the next snapshots; the
/// create-to-bind latency of each bound pod.
fn remember(ctx: &Context, view: &View<'_>, outcome: effects::Outcome, state: &mut LoopState) {
    for task in outcome.evicting {
        if let Some(uid) = view.uids.get(&task) {
            state.evicting.insert(task, (uid.clone(), Instant::now()));
        }
    }
    let now = Timestamp::now();
    for (task, node) in outcome.bound {
        if let Some(c) = view.created.get(&task) {
            let latency = now.duration_since(*c).as_secs_f64().max(0.0);
            ctx.metrics.scheduling_latency.observe(latency);
        }
        state.in_flight.insert(task, (node, Instant::now()));
    }
}
