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
use std::sync::atomic::AtomicI64;

use crate::error::Error;

/// Label: controller name.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct ControllerLabel {
    /// `job`, `podgroup`, `queue`, `command`.
    pub controller: String,
}

/// Labels: queue and resource.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct QueueResource {
    /// Queue name (queues are few and operator-defined).
    pub queue: String,
    /// Resource name.
    pub resource: String,
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
    /// Reconcile errors by controller.
    pub reconcile_errors: Family<ControllerLabel, Counter>,
    /// Reconciles by controller.
    pub reconciles: Family<ControllerLabel, Counter>,
    /// Reconciles (or whole controller tasks) that panicked, by controller.
    pub reconcile_panics: Family<ControllerLabel, Counter>,
    /// Queue `status.allocated` per resource, canonical units.
    pub queue_allocated: Family<QueueResource, Gauge<i64, AtomicI64>>,
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
            reconcile_errors: Family::default(),
            reconciles: Family::default(),
            reconcile_panics: Family::default(),
            queue_allocated: Family::default(),
            leader: Gauge::default(),
        };
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

/// Binds `addr` and returns the bound address and the serving future.
pub async fn serve(
    addr: SocketAddr,
    metrics: Arc<Metrics>,
    health: Arc<Health>,
) -> Result<(SocketAddr, impl Future<Output = ()>), Error> {
    let listener = tokio::net::TcpListener::bind(addr)
        .await
        .map_err(|source| Error::MetricsBind { addr, source })?;
    let bound = listener
        .local_addr()
        .map_err(|source| Error::MetricsBind { addr, source })?;
    let app = router(metrics, health);
    Ok((bound, async move {
        if let Err(error) = axum::serve(listener, app).await {
            tracing::error!(%error, "metrics server stopped");
        }
    }))
}
