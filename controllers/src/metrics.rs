//! Prometheus metrics (one registry, `basalt_` prefix, bounded labels) and the HTTP server that
//! serves `/metrics`, `/healthz` and `/readyz`.

use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};

use axum::Router;
use axum::extract::State;
use axum::http::StatusCode;
use axum::routing::get;
use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::{Histogram, exponential_buckets};
use prometheus_client::registry::Registry;
use std::collections::{BTreeMap, BTreeSet};
use std::sync::atomic::AtomicI64;

use crate::error::Error;

/// Label: controller name.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct ControllerLabel {
    /// `job`, `podgroup`, `queue`, `command`.
    pub controller: String,
}

/// Labels: a scheduler effect's write and how it ended.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct EffectOutcome {
    /// `bind`, `evict`, `podgroup`, `queue`, `reservation`, `explanation`, `event`, `gated`.
    pub effect: String,
    /// `ok`, `error` (refused or failed; logged) or `timeout` (past the write deadline).
    pub outcome: String,
}

/// Labels: queue and resource.
#[derive(Clone, Debug, Hash, PartialEq, Eq, PartialOrd, Ord, EncodeLabelSet)]
pub struct QueueResource {
    /// Queue name (queues are few and operator-defined).
    pub queue: String,
    /// Resource name.
    pub resource: String,
}

/// Labels: queue and PodGroup phase.
#[derive(Clone, Debug, Hash, PartialEq, Eq, PartialOrd, Ord, EncodeLabelSet)]
pub struct QueuePhase {
    /// Queue name.
    pub queue: String,
    /// `pending`, `inqueue` or `running`.
    pub phase: String,
}

/// Label: queue.
#[derive(Clone, Debug, Hash, PartialEq, Eq, PartialOrd, Ord, EncodeLabelSet)]
pub struct QueueLabel {
    /// Queue name.
    pub queue: String,
}

/// Labels of `basalt_build_info`.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct BuildInfo {
    /// The crate version of the running binary.
    pub version: String,
}

/// What one scheduling session saw of one queue (published by [`Metrics::publish_queues`]).
#[derive(Clone, Debug, Default, PartialEq)]
pub struct QueueFigures {
    /// PodGroups by phase after the session: `pending`, `inqueue`, `running`.
    pub jobs: BTreeMap<&'static str, i64>,
    /// Jobs the session could not (fully) place, with an explanation.
    pub unschedulable: i64,
    /// Canonical amounts per resource.
    pub allocated: BTreeMap<String, i64>,
    /// The fair-share plugin's deserved share (empty when none is configured).
    pub deserved: BTreeMap<String, i64>,
    /// `spec.capability` (empty when unbounded).
    pub capability: BTreeMap<String, i64>,
}

type QueueGauges<L> = Family<L, Gauge<i64, AtomicI64>>;

/// Series published last session, so that a deleted queue's or a freed resource's series go
/// away instead of staying at their last value.
#[derive(Default)]
struct Published {
    jobs: BTreeSet<QueuePhase>,
    unschedulable: BTreeSet<QueueLabel>,
    allocated: BTreeSet<QueueResource>,
    deserved: BTreeSet<QueueResource>,
    capability: BTreeSet<QueueResource>,
}

fn publish<L: Clone + Ord + std::hash::Hash + Eq + EncodeLabelSet + std::fmt::Debug>(
    family: &QueueGauges<L>,
    before: &mut BTreeSet<L>,
    now: BTreeMap<L, i64>,
) {
    for gone in before.iter().filter(|l| !now.contains_key(*l)) {
        family.remove(gone);
    }
    *before = now.keys().cloned().collect();
    for (label, v) in now {
        family.get_or_create(&label).set(v);
    }
}

fn histogram() -> Histogram {
    Histogram::new(exponential_buckets(0.001, 2.0, 16))
}

/// Every metric Basalt's controllers export.
pub struct Metrics {
    registry: Registry,
    /// Scheduling session duration.
    pub session_duration: Histogram,
    /// Time from pod creation to bind.
    pub scheduling_latency: Histogram,
    /// Pods bound.
    pub pods_bound: Counter,
    /// Binds that failed.
    pub bind_failures: Counter,
    /// Pods evicted.
    pub pods_evicted: Counter,
    /// Sessions run.
    pub sessions: Counter,
    /// Effect writes by effect and outcome.
    pub effect_writes: Family<EffectOutcome, Counter>,
    /// Reconcile errors by controller.
    pub reconcile_errors: Family<ControllerLabel, Counter>,
    /// Reconciles by controller.
    pub reconciles: Family<ControllerLabel, Counter>,
    /// Reconciles (or whole controller tasks) that panicked, by controller.
    pub reconcile_panics: Family<ControllerLabel, Counter>,
    /// Queue `status.allocated` per resource, canonical units.
    pub queue_allocated: QueueGauges<QueueResource>,
    /// Deserved share per queue and resource (canonical units).
    pub queue_deserved: QueueGauges<QueueResource>,
    /// `spec.capability` per queue and resource (canonical units).
    pub queue_capability: QueueGauges<QueueResource>,
    /// PodGroups per queue and phase.
    pub queue_jobs: QueueGauges<QueuePhase>,
    /// Jobs per queue the last session could not place.
    pub queue_unschedulable_jobs: QueueGauges<QueueLabel>,
    /// Constant 1, labelled with the version.
    pub build_info: Family<BuildInfo, Gauge<i64, AtomicI64>>,
    published: Mutex<Published>,
    /// 1 while this replica holds the leader lease.
    pub leader: Gauge<i64, AtomicI64>,
}

impl Default for Metrics {
    fn default() -> Self {
        Self::new()
    }
}

impl Metrics {
    /// A registry with every metric registered.
    pub fn new() -> Self {
        let mut registry = Registry::with_prefix("basalt");
        let m = Self {
            registry: Registry::default(),
            session_duration: histogram(),
            scheduling_latency: histogram(),
            pods_bound: Counter::default(),
            bind_failures: Counter::default(),
            pods_evicted: Counter::default(),
            sessions: Counter::default(),
            effect_writes: Family::default(),
            reconcile_errors: Family::default(),
            reconciles: Family::default(),
            reconcile_panics: Family::default(),
            queue_allocated: Family::default(),
            queue_deserved: Family::default(),
            queue_capability: Family::default(),
            queue_jobs: Family::default(),
            queue_unschedulable_jobs: Family::default(),
            build_info: Family::default(),
            published: Mutex::default(),
            leader: Gauge::default(),
        };
        m.build_info
            .get_or_create(&BuildInfo {
                version: env!("CARGO_PKG_VERSION").to_owned(),
            })
            .set(1);
        registry.register(
            "build_info",
            "Constant 1, labelled with the running version",
            m.build_info.clone(),
        );
        let s = registry.sub_registry_with_prefix("scheduler");
        s.register(
            "session_duration_seconds",
            "Scheduling session duration",
            m.session_duration.clone(),
        );
        s.register(
            "scheduling_latency_seconds",
            "Pod creation to bind",
            m.scheduling_latency.clone(),
        );
        s.register("pods_bound", "Pods bound", m.pods_bound.clone());
        s.register(
            "effect_writes",
            "API writes of the scheduler's effects by effect and outcome (ok, error, timeout)",
            m.effect_writes.clone(),
        );
        s.register(
            "bind_failures",
            "Binds that failed",
            m.bind_failures.clone(),
        );
        s.register("pods_evicted", "Pods evicted", m.pods_evicted.clone());
        s.register("sessions", "Sessions run", m.sessions.clone());
        s.register(
            "queue_allocated",
            "Queue allocated resources (canonical units)",
            m.queue_allocated.clone(),
        );
        s.register(
            "queue_deserved",
            "Deserved share computed by the fair-share plugin (canonical units)",
            m.queue_deserved.clone(),
        );
        s.register(
            "queue_capability",
            "Queue spec.capability (canonical units)",
            m.queue_capability.clone(),
        );
        s.register(
            "queue_jobs",
            "PodGroups per queue and phase after the last session",
            m.queue_jobs.clone(),
        );
        s.register(
            "queue_unschedulable_jobs",
            "Jobs the last session could not place, per queue",
            m.queue_unschedulable_jobs.clone(),
        );
        let c = registry.sub_registry_with_prefix("controller");
        c.register(
            "reconcile_errors",
            "Reconcile errors",
            m.reconcile_errors.clone(),
        );
        c.register("reconciles", "Reconciles", m.reconciles.clone());
        c.register(
            "reconcile_panics",
            "Reconciles or controller tasks that panicked (caught and retried)",
            m.reconcile_panics.clone(),
        );
        c.register(
            "leader",
            "1 while this replica is the leader",
            m.leader.clone(),
        );
        Self { registry, ..m }
    }

    /// Counts one write of a scheduler effect.
    pub fn effect_write(&self, effect: &str, outcome: &str) {
        self.effect_writes
            .get_or_create(&EffectOutcome {
                effect: effect.to_owned(),
                outcome: outcome.to_owned(),
            })
            .inc();
    }

    /// Counts one reconcile of `controller`.
    pub fn reconciled(&self, controller: &str, ok: bool) {
        let label = ControllerLabel {
            controller: controller.to_owned(),
        };
        self.reconciles.get_or_create(&label).inc();
        if !ok {
            self.reconcile_errors.get_or_create(&label).inc();
        }
    }

    /// Publishes one session's per-queue figures; series of queues or resources that are gone
    /// are removed.
    pub fn publish_queues(&self, figures: &BTreeMap<String, QueueFigures>) {
        let Ok(mut before) = self.published.lock() else {
            return;
        };
        let per_resource = |pick: fn(&QueueFigures) -> &BTreeMap<String, i64>| {
            figures
                .iter()
                .flat_map(|(q, f)| {
                    pick(f).iter().map(move |(r, v)| {
                        let label = QueueResource {
                            queue: q.clone(),
                            resource: r.clone(),
                        };
                        (label, *v)
                    })
                })
                .collect::<BTreeMap<_, _>>()
        };
        publish(
            &self.queue_allocated,
            &mut before.allocated,
            per_resource(|f| &f.allocated),
        );
        publish(
            &self.queue_deserved,
            &mut before.deserved,
            per_resource(|f| &f.deserved),
        );
        publish(
            &self.queue_capability,
            &mut before.capability,
            per_resource(|f| &f.capability),
        );
        let jobs = figures
            .iter()
            .flat_map(|(q, f)| {
                f.jobs.iter().map(move |(phase, n)| {
                    let label = QueuePhase {
                        queue: q.clone(),
                        phase: (*phase).to_owned(),
                    };
                    (label, *n)
                })
            })
            .collect();
        publish(&self.queue_jobs, &mut before.jobs, jobs);
        let unschedulable = figures
            .iter()
            .map(|(q, f)| (QueueLabel { queue: q.clone() }, f.unschedulable))
            .collect();
        publish(
            &self.queue_unschedulable_jobs,
            &mut before.unschedulable,
            unschedulable,
        );
    }

    /// Counts one caught panic of `controller`.
    pub fn panicked(&self, controller: &str) {
        let label = ControllerLabel {
            controller: controller.to_owned(),
        };
        self.reconcile_panics.get_or_create(&label).inc();
    }

    /// Text exposition format.
    pub fn encode(&self) -> String {
        let mut out = String::new();
        // Writing into a String cannot fail.
        let _ = prometheus_client::encoding::text::encode(&mut out, &self.registry);
        out
    }
}

/// Health state shared with the HTTP server.
#[derive(Default)]
pub struct Health {
    /// Caches synced and loops started.
    pub ready: AtomicBool,
    /// Why the controllers stopped working (a controller task died), shown by `/readyz`.
    pub failed: Mutex<Option<String>>,
}

#[derive(Clone)]
struct ServerState {
    metrics: Arc<Metrics>,
    health: Arc<Health>,
}

/// The `/metrics`, `/healthz`, `/readyz` router.
pub fn router(metrics: Arc<Metrics>, health: Arc<Health>) -> Router {
    Router::new()
        .route(
            "/metrics",
            get(|State(s): State<ServerState>| async move { s.metrics.encode() }),
        )
        .route("/healthz", get(|| async { "ok" }))
        .route(
            "/readyz",
            get(|State(s): State<ServerState>| async move {
                let failed = s.health.failed.lock().ok().and_then(|f| f.clone());
                match failed {
                    Some(why) => (StatusCode::SERVICE_UNAVAILABLE, why),
                    None if s.health.ready.load(Ordering::Relaxed) => {
                        (StatusCode::OK, "ok".to_string())
                    }
                    None => (
                        StatusCode::SERVICE_UNAVAILABLE,
                        "caches not synced".to_string(),
                    ),
                }
            }),
        )
        .with_state(ServerState { metrics, health })
}

/// Binds `addr` and returns the bound address and the serving future, with the deadlines and
/// connection cap of [`crate::serve::METRICS_LIMITS`].
pub async fn serve(
    addr: SocketAddr,
    metrics: Arc<Metrics>,
    health: Arc<Health>,
) -> Result<(SocketAddr, impl Future<Output = ()>), Error> {
    serve_with(addr, metrics, health, crate::serve::METRICS_LIMITS).await
}

/// [`serve`] with other `limits` (tests use short deadlines).
pub async fn serve_with(
    addr: SocketAddr,
    metrics: Arc<Metrics>,
    health: Arc<Health>,
    limits: crate::serve::ConnLimits,
) -> Result<(SocketAddr, impl Future<Output = ()>), Error> {
    let listener = tokio::net::TcpListener::bind(addr)
        .await
        .map_err(|source| Error::MetricsBind { addr, source })?;
    let bound = listener
        .local_addr()
        .map_err(|source| Error::MetricsBind { addr, source })?;
    let app = router(metrics, health);
    Ok((
        bound,
        crate::serve::serve_plain(listener, app, limits, std::future::pending()),
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn queue_series_of_deleted_queues_go_away_and_build_info_is_one() {
        let m = Metrics::new();
        let figures = |queues: &[&str]| {
            queues
                .iter()
                .map(|q| {
                    let f = QueueFigures {
                        jobs: [("pending", 2)].into_iter().collect(),
                        unschedulable: 1,
                        deserved: [("nvidia.com/gpu".to_owned(), 8)].into_iter().collect(),
                        ..QueueFigures::default()
                    };
                    ((*q).to_owned(), f)
                })
                .collect::<BTreeMap<_, _>>()
        };
        m.publish_queues(&figures(&["a", "b"]));
        let text = m.encode();
        assert!(text.contains(r#"basalt_build_info{version=""#), "{text}");
        assert!(
            text.contains(r#"basalt_scheduler_queue_jobs{queue="b",phase="pending"} 2"#),
            "{text}"
        );
        assert!(
            text.contains(
                r#"basalt_scheduler_queue_deserved{queue="a",resource="nvidia.com/gpu"} 8"#
            ),
            "{text}"
        );
        m.publish_queues(&figures(&["a"]));
        let text = m.encode();
        assert!(!text.contains(r#"queue="b""#), "{text}");
        assert!(
            text.contains(r#"basalt_scheduler_queue_unschedulable_jobs{queue="a"} 1"#),
            "{text}"
        );
    }
}
