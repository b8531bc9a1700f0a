//! Basalt's admission webhooks: Volcano's defaulting (mutation) and validation rules for Jobs,
//! Queues, PodGroups (whose default queue a namespace annotation can replace), JobFlows and
//! JobTemplates, plus quota checks that refuse a job whose gang
//! could never start, each with a message naming the object, the field and the fix.
//!
//! Layout: [`review`] (AdmissionReview v1 wire format), [`admit`] (dispatch per route),
//! [`mutate`] and [`validate`] (pure rules), [`quota`], [`state`] (cluster lookups; kube
//! reflectors in [`kube_state`], in-memory for tests), [`server`] (TLS, certificate
//! reload, health/metrics port) and [`registration`] (the configurations to register).
//! This crate must not write to the cluster: it only reads and answers.

// Tests may unwrap: a panic is the failure report.
#![cfg_attr(test, allow(clippy::unwrap_used))]

pub mod admit;
pub mod certs;
pub mod error;
pub mod kube_state;
pub mod metrics;
pub mod mutate;
pub mod quota;
pub mod registration;
pub mod report;
pub mod resources;
pub mod review;
pub mod serve;
pub mod server;
pub mod state;
pub mod validate;

use std::sync::Arc;
use std::time::{Duration, Instant};

use axum::Router;
use axum::body::Bytes;
use axum::extract::State;
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::post;

pub use admit::Route;
pub use error::Error;
pub use kube_state::KubeState;
pub use metrics::Metrics;
pub use registration::{ClientConfig, configurations};
pub use serve::{OPS_LIMITS, REVIEW_LIMITS};
pub use server::{ConnLimits, Server, ServerConfig, TlsSource, serve};
pub use state::{Capacity, ClusterState, InMemoryState};

/// What the handlers share: cluster lookups and metrics.
#[derive(Clone)]
pub struct WebhookState {
    /// Read-only view of queues, nodes, podgroups and namespaces.
    pub cluster: Arc<dyn ClusterState>,
    /// Review counters and latency.
    pub metrics: Arc<Metrics>,
    /// Scheduler name set on Jobs that name none.
    pub scheduler_name: String,
    /// How long a Job or PodGroup review waits for its queue to appear in a lagging cluster view
    /// before refusing it as missing (a queue and a job applied together). Zero for in-memory views.
    pub queue_grace: Duration,
}

impl WebhookState {
    /// State over `cluster` with fresh metrics.
    pub fn new(cluster: Arc<dyn ClusterState>) -> Self {
        Self {
            cluster,
            metrics: Arc::new(Metrics::default()),
            scheduler_name: mutate::DEFAULT_SCHEDULER.to_owned(),
            queue_grace: Duration::ZERO,
        }
    }
}

/// The admission router: one POST route per kind and operation ([`Route::ALL`]).
pub fn router(state: WebhookState) -> Router {
    let mut router = Router::new();
    for route in Route::ALL {
        router = router.route(
            route.path(),
            post(move |s: State<WebhookState>, body: Bytes| handle(route, s, body)),
        );
    }
    router
        .layer(axum::extract::DefaultBodyLimit::max(MAX_REVIEW_BYTES))
        .with_state(state)
}

/// Largest AdmissionReview read: an UPDATE carries the object and the old object, each up to
/// kube-apiserver's 3 MiB request limit, plus the review envelope. (axum's default of 2 MiB made
/// every update of a ~1.2 MB Job fail although its create passed.)
pub const MAX_REVIEW_BYTES: usize = 2 * 3 * 1024 * 1024 + 1024 * 1024;

async fn handle(route: Route, State(state): State<WebhookState>, body: Bytes) -> Response {
    if !state.queue_grace.is_zero() && matches!(route, Route::JobValidate | Route::PodGroupValidate)
    {
        await_queue(&state, &body).await;
    }
    if !state.queue_grace.is_zero() && route == Route::PodGroupMutate {
        await_namespace(&state, &body).await;
    }
    let started = Instant::now();
    let result = admit::review(route, &body, state.cluster.as_ref(), &state.scheduler_name);
    let seconds = started.elapsed().as_secs_f64();
    match result {
        Ok((review, allowed)) => {
            state.metrics.observe(
                route.path(),
                if allowed { "allowed" } else { "denied" },
                seconds,
            );
            axum::Json(review).into_response()
        }
        Err(bad) => {
            state.metrics.observe(route.path(), "bad_request", seconds);
            tracing::debug!(route = route.path(), error = %bad, "malformed admission review");
            (
                StatusCode::BAD_REQUEST,
                [(header::CONTENT_TYPE, "text/plain; charset=utf-8")],
                bad.to_string(),
            )
                .into_response()
        }
    }
}

/// Waits (bounded by `queue_grace`) until the object's namespace is in the cluster view. A
/// namespace exists before anything is created in it, so its absence is the view's lag (a
/// namespace and a PodGroup applied together), not a missing namespace.
async fn await_namespace(state: &WebhookState, body: &[u8]) {
    let Ok(request) = review::parse(body) else {
        return;
    };
    let namespace = admit::request_namespace(&request);
    if namespace.is_empty() {
        return;
    }
    let deadline = Instant::now() + state.queue_grace;
    while state.cluster.namespace_annotations(&namespace).is_none() && Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// Waits (bounded by `queue_grace`) until the queue the object names is in the cluster view.
async fn await_queue(state: &WebhookState, body: &[u8]) {
    let Ok(request) = review::parse(body) else {
        return;
    };
    let queue = request
        .object
        .as_ref()
        .and_then(|o| o.pointer("/spec/queue"))
        .and_then(serde_json::Value::as_str)
        .filter(|q| !q.is_empty())
        .unwrap_or(mutate::DEFAULT_QUEUE)
        .to_owned();
    let deadline = Instant::now() + state.queue_grace;
    while state.cluster.queue(&queue).is_none() && Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}
