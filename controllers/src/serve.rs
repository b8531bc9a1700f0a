//! The plain-HTTP listener of the metrics and health port (`--metrics-addr`): the shared accept
//! loop (crate `basalt-listener`) with its deadlines and connection cap, so that a kubelet probe
//! or a Prometheus scrape always gets an answer however many slow clients are connected.

use std::future::Future;

use axum::Router;
use tokio::net::TcpListener;

pub use listener::ConnLimits;

/// The defaults: the answers are small texts, so short deadlines and few connections are
/// plenty (the webhook's health port has the same).
pub const METRICS_LIMITS: ConnLimits = listener::OPS_LIMITS;

/// Serves `app` on `tcp` under `limits` until `shutdown` resolves, then waits for open
/// connections to finish.
pub async fn serve_plain(
    tcp: TcpListener,
    app: Router,
    limits: ConnLimits,
    shutdown: impl Future<Output = ()>,
) {
    listener::serve_plain(tcp, app, limits, listener::Answers::default(), shutdown).await
}
