//! The accept loop (HTTPS for reviews, plain HTTP for health and metrics), built so that no client can starve the server: TLS handshakes in
//! their own tasks with a deadline, a deadline for reading each request's headers (slowloris),
//! a deadline for producing each response's head (a body trickled in, a stuck handler), and a cap
//! on open connections (file descriptors). It owns sockets and timeouts, never routes.
//!
//! axum's own `serve` cannot set hyper's header-read timeout (it installs no timer), hence this
//! loop. The dev API server has the same one (`devcluster/src/serve.rs`); the two crates share
//! no dependency where it could live.

use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use axum::body::Body;
use axum::extract::Request;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use hyper::body::Incoming;
use hyper_util::rt::{TokioIo, TokioTimer};
use hyper_util::server::graceful::GracefulShutdown;
use hyper_util::service::TowerToHyperService;
use tokio::net::TcpListener;
use tokio::sync::Semaphore;
use tokio_rustls::TlsAcceptor;
use tower::ServiceExt;

/// The deadlines and caps of one listener.
#[derive(Clone, Copy, Debug)]
pub struct ConnLimits {
    /// TLS handshake.
    pub handshake_timeout: Duration,
    /// From the moment the server waits for a request until its headers are in (also closes a
    /// keep-alive connection idle this long, as Go's server does without an IdleTimeout).
    pub header_read_timeout: Duration,
    /// From the headers until the response head: reading the body and handling. Streaming
    /// responses (watches, logs) return their head at once and are not cut.
    pub request_timeout: Duration,
    /// Open connections; the listener stops accepting at this many (the kernel queues the rest).
    pub max_connections: usize,
}

impl Default for ConnLimits {
    fn default() -> Self {
        Self {
            handshake_timeout: Duration::from_secs(10),
            header_read_timeout: Duration::from_secs(30),
            request_timeout: Duration::from_secs(60),
            max_connections: 512,
        }
    }
}

/// Wraps every route of `app` in the request deadline: 504 with a `Status` once it passes.
pub fn with_request_timeout(app: Router, limit: Duration) -> Router {
    app.layer(axum::middleware::from_fn(
        move |req: Request, next: axum::middleware::Next| async move {
            match tokio::time::timeout(limit, next.run(req)).await {
                Ok(r) => r,
                Err(_) => timeout_response(limit),
            }
        },
    ))
}

fn timeout_response(limit: Duration) -> Response {
    let msg = format!(
        "the request did not complete within {}s (body too slow or the server too busy); retry",
        limit.as_secs()
    );
    (StatusCode::GATEWAY_TIMEOUT, msg).into_response()
}

/// Serves `app` over TLS on `tcp` until `shutdown` resolves, then waits for open connections
/// to finish.
pub async fn serve_tls(
    tcp: TcpListener,
    tls: Arc<rustls::ServerConfig>,
    app: Router,
    limits: ConnLimits,
    shutdown: impl Future<Output = ()>,
) {
    serve(tcp, Some(TlsAcceptor::from(tls)), app, limits, shutdown).await
}

/// The limits of the plain-HTTP health and metrics ports: they answer fixed, small texts, so
/// short deadlines and few connections are plenty (a kubelet probe and a Prometheus scrape).
pub const OPS_LIMITS: ConnLimits = ConnLimits {
    handshake_timeout: Duration::from_secs(10),
    header_read_timeout: Duration::from_secs(10),
    request_timeout: Duration::from_secs(10),
    max_connections: 64,
};

/// Serves `app` over plain HTTP on `tcp` with the same deadlines and cap as [`serve_tls`] (no
/// handshake), until `shutdown` resolves.
pub async fn serve_plain(
    tcp: TcpListener,
    app: Router,
    limits: ConnLimits,
    shutdown: impl Future<Output = ()>,
) {
    serve(tcp, None, app, limits, shutdown).await
}

async fn serve(
    tcp: TcpListener,
    acceptor: Option<TlsAcceptor>,
    app: Router,
    limits: ConnLimits,
    shutdown: impl Future<Output = ()>,
) {
    let app = with_request_timeout(app, limits.request_timeout);
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
            _ = &mut shutdown => break,
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
            _ = &mut shutdown => break,
        };
        let _ = sock.set_nodelay(true);
        let (acceptor, http, watcher) = (acceptor.clone(), http.clone(), graceful.watcher());
        let svc = TowerToHyperService::new(
            app.clone()
                .map_request(|r: Request<Incoming>| r.map(Body::new)),
        );
        tokio::spawn(async move {
            let _slot = slot;
            let Some(acceptor) = acceptor else {
                let conn = http.serve_connection(TokioIo::new(sock), svc);
                if let Err(e) = watcher.watch(conn).await {
                    tracing::debug!(error = %e, %peer, "connection ended with an error");
                }
                return;
            };
            let stream =
                match tokio::time::timeout(limits.handshake_timeout, acceptor.accept(sock)).await {
                    Ok(Ok(s)) => s,
                    Ok(Err(e)) => {
                        tracing::debug!(error = %e, %peer, "tls handshake failed");
                        return;
                    }
                    Err(_) => {
                        tracing::debug!(%peer, "tls handshake timed out");
                        return;
                    }
                };
            // No upgrades: neither exec nor port-forward is served.
            let conn = http.serve_connection(TokioIo::new(stream), svc);
            if let Err(e) = watcher.watch(conn).await {
                tracing::debug!(error = %e, %peer, "connection ended with an error");
            }
        });
    }
    // Free the port before waiting: a restart on the same port must not race the old listener.
    drop(tcp);
    graceful.shutdown().await;
}
