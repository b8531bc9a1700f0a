//! Leader election on a `coordination.k8s.io/v1` Lease using only get, create and replace with
//! resourceVersion preconditions — semantics every API server honours (no server-side-apply
//! conflict detection needed).
//!
//! Clocks are never compared across machines, as in client-go: a standby judges a lease expired
//! when it has not seen the lease record change for `leaseDurationSeconds` of its *own*
//! monotonic clock ([`Observer`]); the holder's `renewTime` is only a value that changes. The
//! holder renews every `retry_period` and steps down once it has not renewed for
//! `renew_deadline` (shorter than the lease), so it has stopped before any standby may start.
//!
//! [`Observer::decide`] and [`still_leading`] are pure; `run` does the I/O and publishes
//! leadership on a watch channel.

use std::time::{Duration, Instant};

use k8s_openapi::api::coordination::v1::{Lease, LeaseSpec};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::MicroTime;
use k8s_openapi::jiff::Timestamp;
use kube::Client;
use kube::api::{Api, ObjectMeta, PostParams};
use tokio::sync::watch;
use tracing::{info, warn};

use crate::context::{LeaderElection, field_manager};
use crate::error::is_status;

/// What this replica should do with the lease.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Decision {
    /// We hold it: renew.
    Renew,
    /// Free or expired: take it.
    Acquire,
    /// Someone else holds a live lease.
    Wait,
}

/// What this replica last saw of the lease, and when by its own monotonic clock.
#[derive(Debug, Default)]
pub struct Observer {
    record: Option<LeaseSpec>,
    since: Option<Instant>,
}

impl Observer {
    /// Records the lease as read at `now`; the clock restarts only when the record changed.
    pub fn observe(&mut self, spec: Option<&LeaseSpec>, now: Instant) {
        if self.since.is_none() || self.record.as_ref() != spec {
            self.record = spec.cloned();
            self.since = Some(now);
        }
    }

    /// The decision for `identity` given the lease's spec (already observed) at `now`.
    pub fn decide(&self, spec: Option<&LeaseSpec>, identity: &str, now: Instant) -> Decision {
        let Some(spec) = spec else {
            return Decision::Acquire;
        };
        match spec.holder_identity.as_deref() {
            Some(h) if h == identity => Decision::Renew,
            None | Some("") => Decision::Acquire,
            Some(_) => {
                let duration =
                    Duration::from_secs(spec.lease_duration_seconds.unwrap_or(15).max(1) as u64);
                match self.since {
                    Some(seen) if now.saturating_duration_since(seen) < duration => Decision::Wait,
                    _ => Decision::Acquire,
                }
            }
        }
    }
}

/// Pure: whether the holder still leads at `now` after its last successful renewal.
pub fn still_leading(
    last_renewed: Option<Instant>,
    now: Instant,
    renew_deadline: Duration,
) -> bool {
    last_renewed.is_some_and(|t| now.saturating_duration_since(t) < renew_deadline)
}

fn spec_for(
    le: &LeaderElection,
    prev: Option<&LeaseSpec>,
    now: Timestamp,
    decision: Decision,
) -> LeaseSpec {
    let transitions = prev.and_then(|p| p.lease_transitions).unwrap_or(0);
    LeaseSpec {
        holder_identity: Some(le.identity.clone()),
        lease_duration_seconds: Some(le.lease_duration.as_secs().max(1) as i32),
        renew_time: Some(MicroTime(now)),
        acquire_time: match decision {
            Decision::Renew => prev.and_then(|p| p.acquire_time.clone()),
            _ => Some(MicroTime(now)),
        },
        lease_transitions: Some(if decision == Decision::Acquire && prev.is_some() {
            transitions + 1
        } else {
            transitions
        }),
        ..Default::default()
    }
}

/// One attempt: returns whether we hold the lease afterwards.
async fn attempt(
    api: &Api<Lease>,
    le: &LeaderElection,
    observer: &mut Observer,
) -> Result<bool, kube::Error> {
    let pp = PostParams {
        dry_run: false,
        field_manager: Some(field_manager("leader")),
    };
    let now = Timestamp::now();
    let current = api.get_opt(&le.name).await?;
    let seen = Instant::now();
    let Some(mut lease) = current else {
        let spec = spec_for(le, None, now, Decision::Acquire);
        let lease = Lease {
            metadata: ObjectMeta {
                name: Some(le.name.clone()),
                namespace: Some(le.namespace.clone()),
                ..Default::default()
            },
            spec: Some(spec.clone()),
        };
        return match api.create(&pp, &lease).await {
            Ok(_) => {
                observer.observe(Some(&spec), seen);
                Ok(true)
            }
            Err(e) if is_status(&e, 409) => Ok(false),
            Err(e) => Err(e),
        };
    };
    observer.observe(lease.spec.as_ref(), seen);
    let decision = observer.decide(lease.spec.as_ref(), &le.identity, seen);
    if decision == Decision::Wait {
        return Ok(false);
    }
    // `lease` carries its resourceVersion: replace fails with 409 if anyone wrote in between.
    let spec = spec_for(le, lease.spec.as_ref(), now, decision);
    lease.spec = Some(spec.clone());
    match api.replace(&le.name, &pp, &lease).await {
        Ok(_) => {
            observer.observe(Some(&spec), seen);
            Ok(true)
        }
        Err(e) if is_status(&e, 409) => Ok(false),
        Err(e) => Err(e),
    }
}

/// Runs the election until `shutdown`, publishing leadership on `tx`; releases the lease on exit.
pub async fn run(
    client: Client,
    le: LeaderElection,
    tx: watch::Sender<bool>,
    shutdown: impl Future<Output = ()>,
) {
    let api: Api<Lease> = Api::namespaced(client, &le.namespace);
    let mut shutdown = std::pin::pin!(shutdown);
    let mut last_renewed: Option<Instant> = None;
    let mut observer = Observer::default();
    let renew_deadline = le.effective_renew_deadline();
    loop {
        // Counted from before the request: the lease is valid from when it was written at the latest.
        let started = Instant::now();
        let leading =
            match tokio::time::timeout(renew_deadline, attempt(&api, &le, &mut observer)).await {
                Ok(Ok(held)) => {
                    if held {
                        last_renewed = Some(started);
                    }
                    held
                }
                Ok(Err(error)) => {
                    warn!(%error, lease = %le.name, "lease update failed");
                    *tx.borrow() && still_leading(last_renewed, Instant::now(), renew_deadline)
                }
                Err(_) => {
                    warn!(lease = %le.name, ?renew_deadline, "lease update timed out");
                    *tx.borrow() && still_leading(last_renewed, Instant::now(), renew_deadline)
                }
            };
        if leading != *tx.borrow() {
            info!(identity = %le.identity, leading, "leadership changed");
            let _ = tx.send(leading);
        }
        tokio::select! {
            () = &mut shutdown => break,
            () = tokio::time::sleep(le.retry_period) => {}
        }
    }
    if *tx.borrow() {
        let _ = tx.send(false);
        if let Ok(Some(mut lease)) = api.get_opt(&le.name).await
            && lease
                .spec
                .as_ref()
                .and_then(|s| s.holder_identity.as_deref())
                == Some(le.identity.as_str())
        {
            if let Some(spec) = lease.spec.as_mut() {
                spec.holder_identity = None;
            }
            let pp = PostParams {
                dry_run: false,
                field_manager: Some(field_manager("leader")),
            };
            if let Err(error) = api.replace(&le.name, &pp, &lease).await {
                warn!(%error, "releasing the lease failed; a standby takes over when it expires");
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn spec(holder: &str, renewed: i64) -> LeaseSpec {
        LeaseSpec {
            holder_identity: Some(holder.into()),
            lease_duration_seconds: Some(10),
            renew_time: Some(MicroTime(Timestamp::from_second(renewed).unwrap())),
            ..Default::default()
        }
    }

    fn seen(spec: Option<&LeaseSpec>, at: Instant) -> Observer {
        let mut o = Observer::default();
        o.observe(spec, at);
        o
    }

    #[test]
    fn decisions() {
        let t0 = Instant::now();
        assert_eq!(seen(None, t0).decide(None, "a", t0), Decision::Acquire);
        let mine = spec("a", 995);
        assert_eq!(
            seen(Some(&mine), t0).decide(Some(&mine), "a", t0),
            Decision::Renew
        );
        let released = spec("", 999);
        assert_eq!(
            seen(Some(&released), t0).decide(Some(&released), "a", t0),
            Decision::Acquire
        );
    }

    #[test]
    fn expiry_is_judged_by_the_observers_clock_not_the_holders_timestamp() {
        let t0 = Instant::now();
        // The holder's clock is an hour behind ours (or ahead: 1e9 s): irrelevant either way.
        for renewed in [0, 1_000_000_000] {
            let held = spec("b", renewed);
            let o = seen(Some(&held), t0);
            assert_eq!(o.decide(Some(&held), "a", t0), Decision::Wait);
            let t9 = t0 + Duration::from_secs(9);
            assert_eq!(o.decide(Some(&held), "a", t9), Decision::Wait);
            let t11 = t0 + Duration::from_secs(11);
            assert_eq!(o.decide(Some(&held), "a", t11), Decision::Acquire);
        }
    }

    #[test]
    fn a_renewal_seen_restarts_the_observers_clock() {
        let t0 = Instant::now();
        let mut o = seen(Some(&spec("b", 100)), t0);
        let t8 = t0 + Duration::from_secs(8);
        let renewed = spec("b", 102);
        o.observe(Some(&renewed), t8);
        let t15 = t0 + Duration::from_secs(15);
        assert_eq!(o.decide(Some(&renewed), "a", t15), Decision::Wait);
        // The same record read again does not restart it.
        o.observe(Some(&renewed), t15);
        let t19 = t0 + Duration::from_secs(19);
        assert_eq!(o.decide(Some(&renewed), "a", t19), Decision::Acquire);
    }

    #[test]
    fn the_holder_steps_down_at_the_renew_deadline_before_the_lease_ends() {
        let le = LeaderElection::new("ns", "a");
        let deadline = le.effective_renew_deadline();
        assert!(deadline < le.lease_duration);
        let t0 = Instant::now();
        assert!(still_leading(Some(t0), t0 + deadline / 2, deadline));
        assert!(!still_leading(Some(t0), t0 + deadline, deadline));
        assert!(!still_leading(None, t0, deadline));
        // A deadline configured as long as the lease is cut to 2/3 of it.
        let mut long = LeaderElection::new("ns", "a");
        long.renew_deadline = long.lease_duration;
        assert_eq!(long.effective_renew_deadline(), long.lease_duration * 2 / 3);
    }
}
