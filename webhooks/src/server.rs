//! The admission server: the [`crate::router`] over TLS (rustls with ring), certificate hot
//! reload, and a separate plain-HTTP port for `/healthz`, `/readyz` and `/metrics` (metrics may
//! get their own port too). [`Server::bind`] binds every port first so callers learn the real
//! addresses (port 0 in tests), then [`Server::run`] serves until the shutdown future resolves.

use std::future::Future;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::IntoResponse;
use axum::routing::get;
use tokio::net::TcpListener;

use crate::certs::{ReloadingCert, self_signed};
use crate::error::Error;
pub use crate::serve::ConnLimits;
use crate::serve::{OPS_LIMITS, REVIEW_LIMITS, serve_plain, serve_tls};
use crate::{ClusterState, WebhookState, router};

/// Where the serving certificate comes from.
#[derive(Clone, Debug)]
pub enum TlsSource {
    /// PEM files, reloaded when they change.
    Files {
        /// Certificate chain.
        cert: PathBuf,
        /// Private key.
        key: PathBuf,
    },
    /// PEM text held in memory (e.g. issued by the devcluster's CA).
    Pem {
        /// Certificate chain.
        cert: String,
        /// Private key.
        key: String,
    },
    /// A self-signed certificate for these names (development only: callers cannot verify it
    /// without its PEM, which is logged at debug level).
    SelfSigned(Vec<String>),
}

/// How to run the admission server.
#[derive(Clone, Debug)]
pub struct ServerConfig {
    /// HTTPS address of the admission routes.
    pub bind_address: SocketAddr,
    /// Serving certificate.
    pub tls: TlsSource,
    /// Plain-HTTP address of `/healthz` and `/readyz` (and `/metrics` when `metrics_bind_address` is unset).
    pub health_bind_address: SocketAddr,
    /// Plain-HTTP address of `/metrics`, if separate.
    pub metrics_bind_address: Option<SocketAddr>,
    /// Scheduler name the Job defaults use (Volcano's first `--scheduler-name`).
    pub scheduler_name: String,
    /// How often the certificate files are checked for changes.
    pub reload_interval: Duration,
    /// How long a review waits for a queue missing from the cluster view (see
    /// [`WebhookState::queue_grace`]).
    pub queue_grace: Duration,
    /// Timeouts and the connection cap of the HTTPS listener (default [`REVIEW_LIMITS`]).
    pub limits: ConnLimits,
    /// The same for the plain-HTTP health and metrics ports (default [`OPS_LIMITS`]).
    pub ops_limits: ConnLimits,
}

impl ServerConfig {
    /// Loopback, ephemeral ports, a self-signed certificate: for tests and benches.
    pub fn local_test() -> Self {
        let any = SocketAddr::from(([127, 0, 0, 1], 0));
        Self {
            bind_address: any,
            tls: TlsSource::SelfSigned(vec!["localhost".into(), "127.0.0.1".into()]),
            health_bind_address: any,
            metrics_bind_address: None,
            scheduler_name: crate::mutate::DEFAULT_SCHEDULER.to_owned(),
            reload_interval: Duration::from_secs(1),
            queue_grace: Duration::ZERO,
            limits: REVIEW_LIMITS,
            ops_limits: OPS_LIMITS,
        }
    }
}

/// A bound, not yet running server.
pub struct Server {
    https: TcpListener,
    health: TcpListener,
    metrics: Option<TcpListener>,
    cert: Arc<ReloadingCert>,
    state: WebhookState,
    reload_interval: Duration,
    limits: ConnLimits,
    ops_limits: ConnLimits,
    /// PEM of the certificate when it was generated here (self-signed), for callers to trust.
    pub generated_cert_pem: Option<String>,
}

impl Server {
    /// Loads the certificate and binds the ports.
    pub async fn bind(config: ServerConfig, cluster: Arc<dyn ClusterState>) -> Result<Self, Error> {
        let mut generated_cert_pem = None;
        let cert = match &config.tls {
            TlsSource::Files { cert, key } => ReloadingCert::from_files(cert, key)?,
            TlsSource::Pem { cert, key } => ReloadingCert::fixed(cert.as_bytes(), key.as_bytes())?,
            TlsSource::SelfSigned(names) => {
                let (cert, key) = self_signed(names)?;
                let served = ReloadingCert::fixed(cert.as_bytes(), key.as_bytes())?;
                generated_cert_pem = Some(cert);
                served
            }
        };
        let bind = |addr: SocketAddr| async move {
            TcpListener::bind(addr)
                .await
                .map_err(|source| Error::Bind { addr, source })
        };
        let https = bind(config.bind_address).await?;
        let health = bind(config.health_bind_address).await?;
        let metrics = match config.metrics_bind_address {
            Some(addr) => Some(bind(addr).await?),
            None => None,
        };
        let mut state = WebhookState::new(cluster);
        state.scheduler_name = config.scheduler_name;
        state.queue_grace = config.queue_grace;
        Ok(Self {
            https,
            health,
            metrics,
            cert: Arc::new(cert),
            state,
            reload_interval: config.reload_interval,
            limits: config.limits,
            ops_limits: config.ops_limits,
            generated_cert_pem,
        })
    }

    /// The HTTPS address actually bound.
    pub fn https_addr(&self) -> SocketAddr {
        self.https
            .local_addr()
            .unwrap_or_else(|_| SocketAddr::from(([0, 0, 0, 0], 0)))
    }

    /// The health address actually bound.
    pub fn health_addr(&self) -> SocketAddr {
        self.health
            .local_addr()
            .unwrap_or_else(|_| SocketAddr::from(([0, 0, 0, 0], 0)))
    }

    /// The metrics address actually bound (the health address when not separate).
    pub fn metrics_addr(&self) -> SocketAddr {
        self.metrics
            .as_ref()
            .and_then(|m| m.local_addr().ok())
            .unwrap_or_else(|| self.health_addr())
    }

    /// The served certificate (to trigger a reload check in tests).
    pub fn certificate(&self) -> Arc<ReloadingCert> {
        self.cert.clone()
    }

    /// Serves until `shutdown` resolves.
    pub async fn run(
        self,
        shutdown: impl Future<Output = ()> + Send + 'static,
    ) -> Result<(), Error> {
        let https_addr = self.https_addr();
        let (stop_tx, stop_rx) = tokio::sync::watch::channel(false);
        let stopped = |mut rx: tokio::sync::watch::Receiver<bool>| async move {
            let _ = rx.wait_for(|s| *s).await;
        };
        let watcher = tokio::spawn(self.cert.clone().watch(self.reload_interval));
        let ops = ops_router(self.state.clone(), self.metrics.is_none());
        // Plain HTTP, but with the same deadlines as the review port: a slow client on the
        // health port must not keep the kubelet's probes from answering.
        let health = tokio::spawn(serve_plain(
            self.health,
            ops,
            self.ops_limits,
            stopped(stop_rx.clone()),
        ));
        let metrics = self.metrics.map(|listener| {
            let app = Router::new()
                .route("/metrics", get(metrics_text))
                .with_state(self.state.clone());
            tokio::spawn(serve_plain(
                listener,
                app,
                self.ops_limits,
                stopped(stop_rx.clone()),
            ))
        });
        let app = router(self.state);
        tracing::info!(%https_addr, "admission webhooks listening");
        serve_tls(
            self.https,
            self.cert.server_config(),
            app,
            self.limits,
            async move {
                shutdown.await;
                let _ = stop_tx.send(true);
            },
        )
        .await;
        watcher.abort();
        let _ = health.await;
        if let Some(m) = metrics {
            let _ = m.await;
        }
        Ok(())
    }
}

/// Binds and serves `config` over `cluster` until `shutdown` resolves.
pub async fn serve(
    config: ServerConfig,
    cluster: Arc<dyn ClusterState>,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> Result<(), Error> {
    Server::bind(config, cluster).await?.run(shutdown).await
}

fn ops_router(state: WebhookState, with_metrics: bool) -> Router {
    let mut r = Router::new()
        .route("/healthz", get(|| async { "ok" }))
        .route("/readyz", get(readyz));
    if with_metrics {
        r = r.route("/metrics", get(metrics_text));
    }
    r.with_state(state)
}

async fn readyz(State(state): State<WebhookState>) -> impl IntoResponse {
    if state.cluster.ready() {
        (StatusCode::OK, "ok")
    } else {
        (
            StatusCode::SERVICE_UNAVAILABLE,
            "waiting for the first list of queues, podgroups and nodes",
        )
    }
}

async fn metrics_text(State(state): State<WebhookState>) -> impl IntoResponse {
    (
        [(
            axum::http::header::CONTENT_TYPE,
            "application/openmetrics-text; version=1.0.0; charset=utf-8",
        )],
        state.metrics.encode(),
    )
}
