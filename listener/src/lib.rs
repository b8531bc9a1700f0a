//! The one accept loop of every Basalt server — the embedded API server (HTTPS), the admission
//! webhooks (HTTPS, plus plain-HTTP health and metrics ports) and the controllers' metrics and
//! health port (plain HTTP) — built so that no client can starve a server: TLS handshakes in
//! their own tasks with a deadline, a deadline for reading each request's headers (slowloris;
//! also closes idle keep-alive connections, as Go's server does without an IdleTimeout), a
//! deadline for producing each response's head (a body trickled in, a stuck handler), a cap on
//! open connections (file descriptors), and a separate cap on long-running streams (watches).
//! It owns sockets and timeouts, never routes; each server chooses its limits and the body of
//! its 504 and 429 answers (the API server answers with a `Status` object, the others in text).
//!
//! axum's own `serve` cannot set hyper's header-read timeout (it installs no timer), hence this
//! loop.

use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use axum::body::Body;
use axum::extract::Request;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use futures_util::StreamExt;
use hyper::body::Incoming;
use hyper_util::rt::{TokioIo, TokioTimer};
use hyper_util::server::graceful::GracefulShutdown;
use hyper_util::service::TowerToHyperService;
use tokio::net::TcpListener;
use tokio::sync::{OwnedSemaphorePermit, Semaphore};
use tokio_rustls::TlsAcceptor;
use tower::ServiceExt;

/// The deadlines and caps of one listener.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ConnLimits {
    /// TLS handshake (unused on a plain-HTTP listener).
    pub handshake_timeout: Duration,
    /// From the moment the server waits for a request until its headers are in (also closes a
    /// keep-alive connection idle this long).
    pub header_read_timeout: Duration,
    /// From the headers until the response head: reading the body and handling. Streaming
    /// responses (watches, logs) return their head at once and are not cut.
    pub request_timeout: Duration,
    /// Open connections; the listener stops accepting at this many (the kernel queues the rest).
    /// A connection serving a long-running response ([`LongRunning`], a watch) stops counting
    /// here once the stream starts (it counts under `max_watches`), as kube-apiserver leaves
    /// long-running requests out of its in-flight limits: open watches never keep other
    /// clients' requests from being accepted.
    pub max_connections: usize,
    /// Open long-running streams; one over this gets the server's 429 (clients back off and
    /// re-watch). Servers without streams leave it at any value.
    pub max_watches: usize,
}

impl Default for ConnLimits {
    /// The API server's limits (`basalt up`).
    fn default() -> Self {
        Self {
            handshake_timeout: Duration::from_secs(10),
            header_read_timeout: Duration::from_secs(30),
            request_timeout: Duration::from_secs(60),
            max_connections: 1024,
            max_watches: 8192,
        }
    }
}

/// The limits of the plain-HTTP health and metrics ports: they answer fixed, small texts, so
/// short deadlines and few connections are plenty (a kubelet probe and a Prometheus scrape).
pub const OPS_LIMITS: ConnLimits = ConnLimits {
    handshake_timeout: Duration::from_secs(10),
    header_read_timeout: Duration::from_secs(10),
    request_timeout: Duration::from_secs(10),
    max_connections: 64,
    max_watches: 1,
};

/// What a server answers when its limits refuse a request.
#[derive(Clone, Copy, Debug)]
pub struct Answers {
    /// A request past its deadline (the deadline is the argument): 504.
    pub timeout: fn(Duration) -> Response,
    /// A long-running response over `max_watches`: 429.
    pub too_many_watches: fn() -> Response,
}

impl Default for Answers {
    /// Plain-text answers (health, metrics, admission reviews).
    fn default() -> Self {
        Self {
            timeout: text_timeout,
            too_many_watches: text_too_many_watches,
        }
    }
}

fn text_timeout(limit: Duration) -> Response {
    let msg = format!(
        "the request did not complete within {}s (body too slow or the server too busy); retry",
        limit.as_secs()
    );
    (StatusCode::GATEWAY_TIMEOUT, msg).into_response()
}

fn text_too_many_watches() -> Response {
    let mut res = (
        StatusCode::TOO_MANY_REQUESTS,
        "too many open streams on this server; retry later",
    )
        .into_response();
    res.headers_mut()
        .insert(header::RETRY_AFTER, HeaderValue::from_static("1"));
    res
}

/// Wraps every route of `app` in the request deadline: `timeout(limit)` once it passes.
pub fn with_request_timeout(
    app: Router,
    limit: Duration,
    timeout: fn(Duration) -> Response,
) -> Router {
    app.layer(axum::middleware::from_fn(
        move |req: Request, next: axum::middleware::Next| async move {
            match tokio::time::timeout(limit, next.run(req)).await {
                Ok(r) => r,
                Err(_) => timeout(limit),
            }
        },
    ))
}

/// Marks a response as a long-running stream (a watch): set by the handler, read by the accept
/// loop, which moves the connection from the connection cap to the watch cap.
#[derive(Clone, Copy, Debug)]
pub struct LongRunning;

/// A connection's place under the connection cap, and the listener's watch cap.
#[derive(Clone)]
struct ConnSlot {
    slot: Arc<std::sync::Mutex<Option<OwnedSemaphorePermit>>>,
    watches: Arc<Semaphore>,
    too_many: fn() -> Response,
}

/// A long-running response leaves the connection cap for the watch cap: it holds a watch permit
/// until its body ends, frees its connection's slot, and closes the connection when it ends
/// (so the connection is never reused without a slot). Over the watch cap: the server's 429.
async fn long_running(req: Request, next: axum::middleware::Next) -> Response {
    let conn = req.extensions().get::<ConnSlot>().cloned();
    let res = next.run(req).await;
    let Some(conn) = conn.filter(|_| res.extensions().get::<LongRunning>().is_some()) else {
        return res;
    };
    let Ok(permit) = conn.watches.clone().try_acquire_owned() else {
        return (conn.too_many)();
    };
    if let Ok(mut slot) = conn.slot.lock() {
        slot.take();
    }
    let (mut parts, body) = res.into_parts();
    parts
        .headers
        .insert(header::CONNECTION, HeaderValue::from_static("close"));
    let stream = body.into_data_stream().map(move |chunk| {
        let _held = &permit;
        chunk
    });
    Response::from_parts(parts, Body::from_stream(stream))
}

/// Serves `app` over TLS on `tcp` until `shutdown` resolves, then waits for open connections
/// to finish (open streams end on their own at shutdown).
pub async fn serve_tls(
    tcp: TcpListener,
    tls: Arc<rustls::ServerConfig>,
    app: Router,
    limits: ConnLimits,
    answers: Answers,
    shutdown: impl Future<Output = ()>,
) {
    serve(
        tcp,
        Some(TlsAcceptor::from(tls)),
        app,
        limits,
        answers,
        shutdown,
    )
    .await
}

/// Serves `app` over plain HTTP on `tcp` with the same deadlines and caps as [`serve_tls`] (no
/// handshake), until `shutdown` resolves.
pub async fn serve_plain(
    tcp: TcpListener,
    app: Router,
    limits: ConnLimits,
    answers: Answers,
    shutdown: impl Future<Output = ()>,
) {
    serve(tcp, None, app, limits, answers, shutdown).await
}

async fn serve(
    tcp: TcpListener,
    acceptor: Option<TlsAcceptor>,
    app: Router,
    limits: ConnLimits,
    answers: Answers,
    shutdown: impl Future<Output = ()>,
) {
    let app = with_request_timeout(app, limits.request_timeout, answers.timeout)
        .layer(axum::middleware::from_fn(long_running));
    let slots = Arc::new(Semaphore::new(limits.max_connections.max(1)));
    let watches = Arc::new(Semaphore::new(limits.max_watches.max(1)));
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
        let _ = sock.set_nodelay(true);
        let (acceptor, http, watcher) = (acceptor.clone(), http.clone(), graceful.watcher());
        // The slot lives as long as the connection's service, unless a stream takes it.
        let conn = ConnSlot {
            slot: Arc::new(std::sync::Mutex::new(Some(slot))),
            watches: watches.clone(),
            too_many: answers.too_many_watches,
        };
        let svc =
            TowerToHyperService::new(app.clone().map_request(move |mut r: Request<Incoming>| {
                r.extensions_mut().insert(conn.clone());
                r.map(Body::new)
            }));
        tokio::spawn(async move {
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
