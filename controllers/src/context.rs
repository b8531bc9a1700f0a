//! The shared reconcile context and the controller configuration.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use k8s_openapi::api::core::v1::ObjectReference;
use kube::Client;
use kube::runtime::events::{Event, EventType, Recorder, Reporter};
use tokio::sync::watch;
use tracing::warn;

use crate::metrics::Metrics;

/// Where the scheduler configuration (Volcano's YAML) comes from.
#[derive(Clone, Debug, Default)]
pub enum SchedulerConfigSource {
    /// The built-in default (`config/scheduler/basalt-default.yaml`).
    #[default]
    BuiltIn,
    /// A file, re-read when it changes.
    File(PathBuf),
    /// A ConfigMap key, re-read on every change.
    ConfigMap {
        /// Namespace.
        namespace: String,
        /// Name.
        name: String,
        /// Key holding the YAML (Volcano uses `volcano-scheduler.conf`).
        key: String,
    },
}

/// Leader election settings.
#[derive(Clone, Debug)]
pub struct LeaderElection {
    /// Namespace of the Lease.
    pub namespace: String,
    /// Lease name.
    pub name: String,
    /// This replica's identity.
    pub identity: String,
    /// How long a lease is valid without renewal, as judged by a standby's own clock since it
    /// last saw the lease change.
    pub lease_duration: Duration,
    /// How long the holder keeps leading without a successful renewal; shorter than
    /// `lease_duration` so that it has stepped down before any standby may take over (see
    /// [`LeaderElection::effective_renew_deadline`]).
    pub renew_deadline: Duration,
    /// How often the holder renews and a standby retries.
    pub retry_period: Duration,
}

impl LeaderElection {
    /// Defaults: Lease `basalt-controller`, 10 s lease, 7 s renew deadline, 2 s retry (a standby
    /// takes over within 12 s of the holder's last renewal).
    pub fn new(namespace: impl Into<String>, identity: impl Into<String>) -> Self {
        Self {
            namespace: namespace.into(),
            name: "basalt-controller".to_owned(),
            identity: identity.into(),
            lease_duration: Duration::from_secs(10),
            renew_deadline: Duration::from_secs(7),
            retry_period: Duration::from_secs(2),
        }
    }

    /// The renew deadline actually used: the configured one when it is shorter than the lease,
    /// else 2/3 of the lease (a deadline as long as the lease would let two replicas lead).
    pub fn effective_renew_deadline(&self) -> Duration {
        if self.renew_deadline < self.lease_duration {
            self.renew_deadline
        } else {
            self.lease_duration * 2 / 3
        }
    }
}

/// Configuration of [`crate::run`].
#[derive(Clone, Debug)]
pub struct ControllerConfig {
    /// Scheduler names whose pods are Basalt's.
    pub scheduler_names: Vec<String>,
    /// Session period.
    pub schedule_period: Duration,
    /// Scheduler configuration source.
    pub scheduler_config: SchedulerConfigSource,
    /// Maximum concurrent API writes when executing a session's effects.
    pub effect_parallelism: usize,
    /// Deadline of one effect write (a bind, an eviction, a status): past it the write is
    /// abandoned and counted as a timeout, and the next session decides again.
    pub effect_write_timeout: Duration,
    /// Metrics/health listen address (`None` disables the server).
    pub metrics_addr: Option<SocketAddr>,
    /// Leader election (`None`: this replica always leads).
    pub leader_election: Option<LeaderElection>,
    /// Reconcile concurrency per controller.
    pub concurrency: u16,
}

impl Default for ControllerConfig {
    fn default() -> Self {
        Self {
            scheduler_names: vec!["volcano".to_owned(), "basalt".to_owned()],
            schedule_period: Duration::from_secs(1),
            scheduler_config: SchedulerConfigSource::BuiltIn,
            effect_parallelism: 64,
            effect_write_timeout: Duration::from_secs(30),
            metrics_addr: None,
            leader_election: None,
            concurrency: 16,
        }
    }
}

impl ControllerConfig {
    /// True when `name` is one of Basalt's scheduler names.
    pub fn is_ours(&self, name: Option<&str>) -> bool {
        let name = name.unwrap_or("default-scheduler");
        self.scheduler_names.iter().any(|n| n == name)
    }
}

/// Everything a reconciler needs, shared in an `Arc`.
pub struct Context {
    /// API client.
    pub client: Client,
    /// Event recorder (reporting controller `basalt`).
    pub recorder: Recorder,
    /// Metrics.
    pub metrics: Arc<Metrics>,
    /// Configuration.
    pub config: ControllerConfig,
    /// True while this replica leads.
    pub leader: watch::Receiver<bool>,
}

impl Context {
    /// Builds a context.
    pub fn new(
        client: Client,
        config: ControllerConfig,
        metrics: Arc<Metrics>,
        leader: watch::Receiver<bool>,
    ) -> Self {
        let reporter = Reporter {
            controller: "basalt".to_owned(),
            instance: std::env::var("POD_NAME").ok(),
        };
        let recorder = Recorder::new(client.clone(), reporter);
        Self {
            client,
            recorder,
            metrics,
            config,
            leader,
        }
    }

    /// True while this replica may write.
    pub fn is_leader(&self) -> bool {
        *self.leader.borrow()
    }

    /// Publishes an event; failures are logged, never fatal. A transient failure (a 5xx, a
    /// conflict, throttling, a broken connection) is retried a few times with a short backoff,
    /// as client-go's event broadcaster retries: an event is what `kubectl describe` shows users
    /// about why their job waits, and one dropped on a transient error is lost for good.
    pub async fn event(
        &self,
        regarding: &ObjectReference,
        warning: bool,
        reason: &str,
        action: &str,
        note: String,
    ) {
        let event = Event {
            type_: if warning {
                EventType::Warning
            } else {
                EventType::Normal
            },
            reason: reason.to_owned(),
            note: Some(note.chars().take(1000).collect()),
            action: action.to_owned(),
            secondary: None,
        };
        for attempt in 1..=EVENT_ATTEMPTS {
            match self.recorder.publish(&event, regarding).await {
                Ok(()) => return,
                Err(error) if attempt < EVENT_ATTEMPTS && transient(&error) => {
                    tokio::time::sleep(Duration::from_millis(50 << attempt)).await;
                }
                Err(error) => {
                    warn!(%error, reason, attempt, "publishing an event failed");
                    return;
                }
            }
        }
    }
}

/// Tries per event (backoff 100, 200, 400 ms between them).
const EVENT_ATTEMPTS: u32 = 4;

/// Whether a write may succeed if tried again: the server's 5xx, a conflict, throttling, or no
/// answer at all. A 4xx that judges the request (403, 404, 422) stays as it is.
fn transient(error: &kube::Error) -> bool {
    match error {
        kube::Error::Api(s) => {
            s.code >= 500 || (s.code == 409 && !s.is_already_exists()) || s.code == 429
        }
        kube::Error::HyperError(_) | kube::Error::Service(_) => true,
        _ => false,
    }
}

/// Field manager for writes of `component`.
pub fn field_manager(component: &str) -> String {
    format!("basalt/{component}")
}

#[cfg(test)]
mod event_tests {
    use super::*;

    fn api(code: u16) -> kube::Error {
        kube::Error::Api(Box::new(kube::core::Status {
            code,
            ..kube::core::Status::default()
        }))
    }

    #[test]
    fn only_transient_failures_are_retried() {
        for code in [500, 503, 409, 429] {
            assert!(transient(&api(code)), "{code} is worth another try");
        }
        for code in [400, 403, 404, 422] {
            assert!(!transient(&api(code)), "{code} judges the request");
        }
        let exists = kube::Error::Api(Box::new(kube::core::Status {
            code: 409,
            reason: "AlreadyExists".to_owned(),
            ..kube::core::Status::default()
        }));
        assert!(
            !transient(&exists),
            "an event that exists needs no second create"
        );
    }
}
