//! Error types: `ApiError` is what a request handler answers (a `metav1.Status` body with the
//! same HTTP code, as the real API server does); `Error` is what starting the server can fail with.

use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde_json::{Value, json};

/// Failures of building or starting a dev cluster.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("cannot bind the api server to {addr}: {source}; pick another port or free this one")]
    Bind {
        addr: String,
        source: std::io::Error,
    },
    #[error("cannot generate the tls certificates: {0}")]
    Tls(String),
    #[error("data dir {path}: {source}; check that it exists and is writable")]
    DataDir {
        path: String,
        source: std::io::Error,
    },
    #[error("data dir {path} holds a corrupt record at line {line}: {reason}")]
    Corrupt {
        path: String,
        line: usize,
        reason: String,
    },
    #[error("cannot register the crd: {0}")]
    Crd(String),
    #[error("cannot write the kubeconfig to {path}: {source}")]
    Kubeconfig {
        path: String,
        source: std::io::Error,
    },
}

/// A request failure, rendered as a `Status` object.
#[derive(Debug, Clone)]
pub struct ApiError {
    pub code: u16,
    pub reason: &'static str,
    pub message: String,
    pub details: Value,
}

pub type ApiResult<T> = Result<T, ApiError>;

impl ApiError {
    pub fn new(code: u16, reason: &'static str, message: impl Into<String>) -> Self {
        Self {
            code,
            reason,
            message: message.into(),
            details: Value::Null,
        }
    }
    pub fn with_details(mut self, name: &str, group: &str, kind: &str) -> Self {
        self.details = json!({"name": name, "group": group, "kind": kind});
        self
    }
    pub fn not_found(qualified: &str, name: &str, group: &str, plural: &str) -> Self {
        Self::new(404, "NotFound", format!("{qualified} \"{name}\" not found"))
            .with_details(name, group, plural)
    }
    pub fn already_exists(qualified: &str, name: &str, group: &str, plural: &str) -> Self {
        Self::new(
            409,
            "AlreadyExists",
            format!("{qualified} \"{name}\" already exists"),
        )
        .with_details(name, group, plural)
    }
    pub fn conflict(qualified: &str, name: &str, why: &str) -> Self {
        Self::new(
            409,
            "Conflict",
            format!("Operation cannot be fulfilled on {qualified} \"{name}\": {why}"),
        )
    }
    pub fn stale(qualified: &str, name: &str) -> Self {
        Self::conflict(
            qualified,
            name,
            "the object has been modified; please apply your changes to the latest version and try again",
        )
    }
    pub fn bad_request(msg: impl Into<String>) -> Self {
        Self::new(400, "BadRequest", msg)
    }
    pub fn invalid(kind: &str, name: &str, causes: Vec<(String, String)>) -> Self {
        let msgs: Vec<String> = causes.iter().map(|(f, m)| format!("{f}: {m}")).collect();
        let msg = match msgs.len() {
            1 => format!("{kind} \"{name}\" is invalid: {}", msgs[0]),
            _ => format!("{kind} \"{name}\" is invalid: [{}]", msgs.join(", ")),
        };
        let causes: Vec<Value> = causes
            .into_iter()
            .map(|(f, m)| json!({"reason": "FieldValueInvalid", "message": m, "field": f}))
            .collect();
        let mut e = Self::new(422, "Invalid", msg);
        let (k, g) = kind.split_once('.').unwrap_or((kind, ""));
        e.details = json!({"name": name, "group": g, "kind": k, "causes": causes});
        e
    }
    pub fn forbidden(msg: impl Into<String>) -> Self {
        Self::new(403, "Forbidden", msg)
    }
    pub fn method_not_allowed(msg: impl Into<String>) -> Self {
        Self::new(405, "MethodNotAllowed", msg)
    }
    pub fn unsupported_media(msg: impl Into<String>) -> Self {
        Self::new(415, "UnsupportedMediaType", msg)
    }
    pub fn internal(msg: impl Into<String>) -> Self {
        Self::new(500, "InternalError", msg)
    }
    pub fn unauthorized() -> Self {
        Self::new(401, "Unauthorized", "Unauthorized")
    }
    pub fn expired(msg: impl Into<String>) -> Self {
        Self::new(410, "Expired", msg)
    }

    pub fn status(&self) -> Value {
        let mut s = json!({"kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Failure",
            "message": self.message, "reason": self.reason, "code": self.code});
        if !self.details.is_null() {
            s["details"] = self.details.clone();
        }
        s
    }
}

impl std::fmt::Display for ApiError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} ({}): {}", self.code, self.reason, self.message)
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let code = StatusCode::from_u16(self.code).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
        crate::http::json_response(code, &self.status())
    }
}

/// A `Status` with `status: Success`, as answered by binding and eviction.
pub fn success_status(code: u16) -> Value {
    json!({"kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Success", "code": code})
}
