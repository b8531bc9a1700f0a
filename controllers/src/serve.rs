//! The plain-HTTP accept loop of the metrics and health port (`--metrics-addr`), built so that
//! no client can starve it: a deadline for reading each request's headers (slowloris; also
//! closes idle keep-alive connections), a deadline for each response, and a cap on open
//! connections. A kubelet probe or a Prometheus scrape then always gets an answer.
//!
//! axum's own `serve` cannot set hyper's header-read timeout (it installs no timer), hence this
//! loop; it is the webhook's (`webhooks/src/serve.rs`, `OPS_LIMITS`) without TLS: the crates
//! share no dependency where one copy could live. It owns sockets and timeouts, never routes.

use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use axum::body::Body;
use axum::extract::Request;
use axum::http::StatusCode;
use axum::response::IntoResponse;
use hyper::body::Incoming;
use hyper_util::rt::{TokioIo, TokioTimer};
use hyper_util::server::graceful::GracefulShutdown;
use hyper_util::service::TowerToHyperService;
use tokio::net::TcpListener;
use tokio::sync::Semaphore;
use tower::ServiceExt;

/// The deadlines and cap of the metrics/health listener.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ConnLimits {
    /// From the moment the server waits for a request until its headers are in.
    pub header_read_timeout: Duration,
    /// From the headers until the response head.
    pub request_timeout: Duration,
    /// Open connections; the listener stops accepting at this many (the kernel queues the rest).
    pub max_connections: usize,
}

/// The defaults: the answers are small texts, so short deadlines and few connections are
/// plenty (the webhook's health port has the same).
pub const METRICS_LIMITS: ConnLimits = ConnLimits {
    header_read_timeout: Duration::from_secs(10),
    request_timeout: Duration::from_secs(10),
    max_connections: 64,
};

/// Serves `app` on `tcp` under `limits` until `shutdown` resolves, then waits for open
/// connections to finish.
pub async fn serve_plain(
    tcp: TcpListener,
    app: Router,
    limits: ConnLimits,
    shutdown: impl Future<Output = ()>,
) {
    let limit = limits.request_timeout;
    let app = app.layer(axum::middleware::from_fn(
        move |req: Request, next: axum::middleware::Next| async move {
            match tokio::time::timeout(limit, next.run(req)).await {
                Ok(r) => r,
                Err(_) => (
                    StatusCode::GATEWAY_TIMEOUT,
                    format!(
                        "the request did not complete within {}s; retry",
                        limit.as_secs()
                    ),
                )
                    .into_response(),
            }
        },
    ));
    let slots = Arc::new(Semaphore::new(limits.max_connections.max(1)));
    let graceful = GracefulShutdown::new();
    let mut http = hyper::server::conn::http1::Builder::new();
    http.timer(TokioTimer::new())
        .header_read_timeout(limits.header_read_timeout);
    tokio::pin!(shutdown);
    loop {
        let slot = tokio::select! {
            s = slots.clone().acquire_owned() => match s {
                Ok(s) => s,
                Err(_) => break,
            },
            () = &mut shutdown => break,
        };
        let (sock, peer) = tokio::select! {
            a = tcp.accept() => match a {
                Ok(x) => x,
                Err(e) => {
                    // Out of file descriptors and the like: back off instead of spinning.
                    tracing::debug!(error = %e, "accept failed");
                    tokio::time::sleep(Duration::from_millis(20)).await;
                    continue;
                }
            },
            () = &mut shutdown => break,
        };
        let (http, watcher) = (http.clone(), graceful.watcher());
        let svc = TowerToHyperService::new(
            app.clone()
                .map_request(|r: Request<Incoming>| r.map(Body::new)),
        );
        tokio::spawn(async move {
            let _slot = slot;
            let conn = http.serve_connection(TokioIo::new(sock), svc);
            if let Err(e) = watcher.watch(conn).await {
                tracing::debug!(error = %e, %peer, "metrics connection ended with an error");
            }
        });
    }
    drop(tcp);
    graceful.shutdown().await;
}
