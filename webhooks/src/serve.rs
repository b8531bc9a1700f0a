//! The webhook server's listeners: the shared accept loop (crate `basalt-listener`: handshake,
//! header and request deadlines, connection cap) over TLS for reviews and plain HTTP for health
//! and metrics, with plain-text answers.

use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use tokio::net::TcpListener;

pub use listener::{ConnLimits, OPS_LIMITS};

/// The review listener's limits: no watches are served, and half the API server's connections.
pub const REVIEW_LIMITS: ConnLimits = ConnLimits {
    handshake_timeout: Duration::from_secs(10),
    header_read_timeout: Duration::from_secs(30),
    request_timeout: Duration::from_secs(60),
    max_connections: 512,
    max_watches: 1,
};

/// Serves `app` over TLS on `tcp` until `shutdown` resolves, then waits for open connections
/// to finish.
pub async fn serve_tls(
    tcp: TcpListener,
    tls: Arc<rustls::ServerConfig>,
    app: Router,
    limits: ConnLimits,
    shutdown: impl Future<Output = ()>,
) {
    listener::serve_tls(
        tcp,
        tls,
        app,
        limits,
        listener::Answers::default(),
        shutdown,
    )
    .await
}

/// Serves `app` over plain HTTP on `tcp` with the same deadlines and cap as [`serve_tls`] (no
/// handshake), until `shutdown` resolves.
pub async fn serve_plain(
    tcp: TcpListener,
    app: Router,
    limits: ConnLimits,
    shutdown: impl Future<Output = ()>,
) {
    listener::serve_plain(tcp, app, limits, listener::Answers::default(), shutdown).await
}
