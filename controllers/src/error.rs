//! The crate's error type: every failure names the object and what to do about it.

use std::time::Duration;

use thiserror::Error;

/// Errors of the controllers and the scheduler loop.
#[derive(Debug, Error)]
pub enum Error {
    /// An API call failed.
    #[error("{verb} {kind} {name:?} failed: {source}")]
    Kube {
        /// What was attempted (`create`, `delete`, `replace status of`, ...).
        verb: &'static str,
        /// Object kind.
        kind: &'static str,
        /// `namespace/name` or name.
        name: String,
        /// The client error.
        #[source]
        source: kube::Error,
    },
    /// The CRDs are not installed or the API server is unreachable.
    #[error(
        "cannot list {kind} ({source}); are the Basalt CRDs installed (`basalt crds | kubectl apply -f -`) and the API server reachable?"
    )]
    Startup {
        /// The kind that could not be listed.
        kind: &'static str,
        /// The client error.
        #[source]
        source: kube::Error,
    },
    /// A scheduler configuration could not be loaded.
    #[error(
        "scheduler configuration from {source_name} is invalid: {message}; fix it or remove it to use the built-in default"
    )]
    SchedulerConfig {
        /// File path or `ConfigMap ns/name`.
        source_name: String,
        /// Why.
        message: String,
    },
    /// The metrics/health server could not bind.
    #[error("cannot listen for metrics on {addr}: {source}; pick another --metrics-addr")]
    MetricsBind {
        /// The address.
        addr: std::net::SocketAddr,
        /// The I/O error.
        #[source]
        source: std::io::Error,
    },
    /// A reconcile panicked; the panic was caught and the object is retried after `retry_after`.
    #[error(
        "reconcile of {object} panicked ({message}); this is a Basalt bug, please report it; retrying in {retry_after:?}"
    )]
    ReconcilePanicked {
        /// `namespace/name`.
        object: String,
        /// The panic message.
        message: String,
        /// Backoff before the next attempt.
        retry_after: Duration,
    },
    /// A consumed Command's action was not recorded: its write met a conflict (transient; after
    /// the retry window, final).
    #[error(
        "{what} was not recorded: its write met a conflict (retried for {window:?}); if this persists, apply the action again with a new Command"
    )]
    NotRecorded {
        /// The action and its target.
        what: String,
        /// How long it was tried.
        window: Duration,
    },
    /// A key could not be generated for the ssh job plugin.
    #[error(transparent)]
    SshKey(#[from] crate::job::sshkey::KeyError),
}

impl Error {
    /// Builds a [`Error::Kube`].
    pub fn kube(
        verb: &'static str,
        kind: &'static str,
        name: impl Into<String>,
        source: kube::Error,
    ) -> Self {
        Self::Kube {
            verb,
            kind,
            name: name.into(),
            source,
        }
    }

    /// How long the controller waits before retrying after this error: a growing backoff after
    /// a panic; 1 s after a failure that trying again may cure (a server error, throttling, a
    /// conflict, no answer); 5 s otherwise. A transient failure used to wait 5 s as well, so one
    /// injected 500 on a Job's status write kept the Job Pending for 5 s after its pods ran
    /// (seen under injected faults: a 4 s gang finished before its Job said Running). Volcano's
    /// controllers retry such a sync within milliseconds (client-go's workqueue backoff).
    pub fn retry_after(&self) -> Duration {
        match self {
            Self::ReconcilePanicked { retry_after, .. } => *retry_after,
            e if e.is_transient() => Duration::from_secs(1),
            _ => Duration::from_secs(5),
        }
    }

    /// True for HTTP 409 (conflict or already exists).
    pub fn is_conflict(&self) -> bool {
        matches!(self, Self::Kube { source: kube::Error::Api(s), .. } if s.code == 409)
    }

    /// True when trying the same call again may succeed: a conflict, throttling, a server error
    /// or no answer at all. Any other API status (404, 403, 422, ...) stays the same on retry.
    pub fn is_transient(&self) -> bool {
        match self {
            Self::Kube {
                source: kube::Error::Api(s),
                ..
            } => s.code == 409 || s.code == 429 || s.code >= 500,
            Self::Kube { .. } | Self::NotRecorded { .. } => true,
            _ => false,
        }
    }
}

/// True when `e` is an API error with HTTP status `code`.
pub fn is_status(e: &kube::Error, code: u16) -> bool {
    matches!(e, kube::Error::Api(s) if s.code == code)
}

/// True when a create failed because an object of that name exists (409 with reason
/// `AlreadyExists`). Any other 409 (a write conflict) is not: treating it as "exists" skipped
/// creating objects that did not exist, e.g. the `default` queue under injected conflicts.
pub fn is_already_exists(e: &kube::Error) -> bool {
    matches!(e, kube::Error::Api(s) if s.code == 409 && s.is_already_exists())
}

/// Crate result.
pub type Result<T, E = Error> = std::result::Result<T, E>;

#[cfg(test)]
mod tests {
    use super::*;

    fn api_error(code: u16, reason: &str) -> kube::Error {
        kube::Error::Api(Box::new(kube::core::Status {
            code,
            reason: reason.to_owned(),
            ..Default::default()
        }))
    }

    #[test]
    fn only_already_exists_counts_as_existing() {
        assert!(is_already_exists(&api_error(409, "AlreadyExists")));
        assert!(!is_already_exists(&api_error(409, "Conflict")));
        assert!(!is_already_exists(&api_error(500, "AlreadyExists")));
        assert!(is_status(&api_error(409, "Conflict"), 409));
    }

    #[test]
    fn conflicts_throttling_and_server_errors_are_transient() {
        let err = |code, reason| Error::kube("get", "Job", "ns/j", api_error(code, reason));
        assert!(err(409, "Conflict").is_transient());
        assert!(err(429, "TooManyRequests").is_transient());
        assert!(err(500, "InternalError").is_transient());
        assert!(err(503, "ServiceUnavailable").is_transient());
        assert!(!err(404, "NotFound").is_transient());
        assert!(!err(422, "Invalid").is_transient());
        assert!(!err(403, "Forbidden").is_transient());
    }

    #[test]
    fn what_a_retry_may_cure_is_retried_sooner() {
        let err = |code, reason| Error::kube("get", "Job", "ns/j", api_error(code, reason));
        assert_eq!(
            err(500, "InternalError").retry_after(),
            Duration::from_secs(1)
        );
        assert_eq!(
            err(429, "TooManyRequests").retry_after(),
            Duration::from_secs(1)
        );
        assert_eq!(err(422, "Invalid").retry_after(), Duration::from_secs(5));
    }
}
