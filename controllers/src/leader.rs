//! Leader election on a `coordination.k8s.io/v1` Lease using only get, create and replace with
//! resourceVersion preconditions — semantics every API server honours (no server-side-apply
//! conflict detection needed). The holder renews every `retry_period`; a standby takes over once
//! `renewTime + leaseDurationSeconds` has passed, so within `lease_duration + retry_period`.
//!
//! `decide` is pure; `run` does the I/O and publishes leadership on a watch channel.

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

/// Pure: the decision for `identity` given the lease's spec at `now`.
pub fn decide(spec: Option<&LeaseSpec>, identity: &str, now: Timestamp) -> Decision {
    let Some(spec) = spec else {
        return Decision::Acquire;
    };
    match spec.holder_identity.as_deref() {
        Some(h) if h == identity => Decision::Renew,
        None | Some("") => Decision::Acquire,
        Some(_) => {
            let duration =
                Duration::from_secs(spec.lease_duration_seconds.unwrap_or(15).max(1) as u64);
            match &spec.renew_time {
                Some(t) if t.0 + duration > now => Decision::Wait,
                _ => Decision::Acquire,
            }
        }
    }
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
async fn attempt(api: &Api<Lease>, le: &LeaderElection) -> Result<bool, kube::Error> {
    let pp = PostParams {
        dry_run: false,
        field_manager: Some(field_manager("leader")),
    };
    let now = Timestamp::now();
    let current = api.get_opt(&le.name).await?;
    let Some(mut lease) = current else {
        let lease = Lease {
            metadata: ObjectMeta {
                name: Some(le.name.clone()),
                namespace: Some(le.namespace.clone()),
                ..Default::default()
            },
            spec: Some(spec_for(le, None, now, Decision::Acquire)),
        };
        return match api.create(&pp, &lease).await {
            Ok(_) => Ok(true),
            Err(e) if is_status(&e, 409) => Ok(false),
            Err(e) => Err(e),
        };
    };
    let decision = decide(lease.spec.as_ref(), &le.identity, now);
    if decision == Decision::Wait {
        return Ok(false);
    }
    // `lease` carries its resourceVersion: replace fails with 409 if anyone wrote in between.
    lease.spec = Some(spec_for(le, lease.spec.as_ref(), now, decision));
    match api.replace(&le.name, &pp, &lease).await {
        Ok(_) => Ok(true),
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
    loop {
        let leading = match attempt(&api, &le).await {
            Ok(held) => {
                if held {
                    last_renewed = Some(Instant::now());
                }
                held
            }
            Err(error) => {
                warn!(%error, lease = %le.name, "lease update failed");
                // Keep leading only while our last renewal is still valid.
                last_renewed.is_some_and(|t| t.elapsed() < le.lease_duration) && *tx.borrow()
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

    #[test]
    fn decisions() {
        let now = Timestamp::from_second(1000).unwrap();
        assert_eq!(decide(None, "a", now), Decision::Acquire);
        assert_eq!(decide(Some(&spec("a", 995)), "a", now), Decision::Renew);
        assert_eq!(decide(Some(&spec("b", 995)), "a", now), Decision::Wait);
        assert_eq!(
            decide(Some(&spec("b", 989)), "a", now),
            Decision::Acquire,
            "expired"
        );
        assert_eq!(
            decide(Some(&spec("", 999)), "a", now),
            Decision::Acquire,
            "released"
        );
    }
}
