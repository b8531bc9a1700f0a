//! The API server's listener: the shared accept loop (crate `basalt-listener`: handshake, header
//! and request deadlines, connection and watch caps) with the API server's answers — a
//! `Status` object for a request past its deadline (504) and for a watch over the cap (429 with
//! `Retry-After`), as kube-apiserver answers.

use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use tokio::net::TcpListener;

pub use listener::{ConnLimits, LongRunning};

/// The API server's 504 and 429 answers.
pub const ANSWERS: listener::Answers = listener::Answers {
    timeout: timeout_response,
    too_many_watches,
};

/// Wraps every route of `app` in the request deadline: 504 with a `Status` once it passes.
pub fn with_request_timeout(app: Router, limit: Duration) -> Router {
    listener::with_request_timeout(app, limit, timeout_response)
}

fn timeout_response(limit: Duration) -> Response {
    let status = serde_json::json!({"kind": "Status", "apiVersion": "v1", "metadata": {},
        "status": "Failure", "reason": "Timeout", "code": 504,
        "message": format!("the request did not complete within {}s (body too slow or the server too busy); retry", limit.as_secs())});
    (StatusCode::GATEWAY_TIMEOUT, axum::Json(status)).into_response()
}

fn too_many_watches() -> Response {
    let status = serde_json::json!({"kind": "Status", "apiVersion": "v1", "metadata": {},
        "status": "Failure", "reason": "TooManyRequests", "code": 429,
        "details": {"retryAfterSeconds": 1},
        "message": "too many open watches on this server; retry the watch later"});
    let mut res = (StatusCode::TOO_MANY_REQUESTS, axum::Json(status)).into_response();
    res.headers_mut()
        .insert(header::RETRY_AFTER, HeaderValue::from_static("1"));
    res
}

/// Serves `app` over TLS on `tcp` until `shutdown` resolves, then waits for open connections
/// to finish (open watches end on their own at shutdown).
pub async fn serve_tls(
    tcp: TcpListener,
    tls: Arc<rustls::ServerConfig>,
    app: Router,
    limits: ConnLimits,
    shutdown: impl Future<Output = ()>,
) {
    listener::serve_tls(tcp, tls, app, limits, ANSWERS, shutdown).await
}
