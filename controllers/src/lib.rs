//! Basalt's controllers: all Kubernetes I/O. Job, PodGroup, Queue and Command reconcilers, the
//! scheduler loop (reflector stores → `scheduler_core` session → bind/evict/status effects),
//! Lease-based leader election and the metrics/health server.
//!
//! Decisions live in pure modules (`job::state`, `job::build`, `queue::next_state`,
//! `leader::Observer`), in the `bridge` crate (objects → the core's snapshot) and in
//! `scheduler_core`; the reconcilers only read,
//! call them, and write. Entry point: [`run`].

#![cfg_attr(test, allow(clippy::unwrap_used))]

pub mod command;
pub mod context;
pub mod error;
pub mod guard;
pub mod job;
pub mod jobflow;
pub mod jobtemplate;
pub mod leader;
pub mod metrics;
pub mod podgroup;
pub mod queue;
pub mod scheduler;
pub mod serve;

use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Duration;

use kube::Client;
use kube::api::{Api, ListParams};
use tokio::sync::watch;
use tracing::{info, warn};

pub use context::{Context, ControllerConfig, LeaderElection, SchedulerConfigSource};
pub use error::{Error, Result};
pub use metrics::{Health, Metrics};

/// A cloneable shutdown signal usable where kube-runtime wants `Send + Sync + 'static`.
fn signal(rx: &watch::Receiver<bool>) -> impl Future<Output = ()> + Send + Sync + 'static {
    let mut rx = rx.clone();
    async move {
        let _ = rx.wait_for(|stop| *stop).await;
    }
}

/// Runs every reconciler, the scheduler loop, leader election and (if configured) the
/// metrics/health server until `shutdown` resolves, then stops them and releases the lease.
///
/// # Errors
/// [`Error::Startup`] when the Volcano CRDs are not served; [`Error::MetricsBind`] when the
/// metrics address is taken.
pub async fn run(
    client: Client,
    config: ControllerConfig,
    shutdown: impl Future<Output = ()> + Send,
) -> Result<()> {
    Api::<crds::Job>::all(client.clone())
        .list(&ListParams::default().limit(1))
        .await
        .map_err(|source| Error::Startup {
            kind: "jobs.batch.volcano.sh",
            source,
        })?;
    let metrics = Arc::new(Metrics::new());
    let health = Arc::new(Health::default());
    let (stop_tx, stop_rx) = watch::channel(false);
    let (leader_tx, leader_rx) = watch::channel(config.leader_election.is_none());
    let ctx = Arc::new(Context::new(
        client.clone(),
        config.clone(),
        metrics.clone(),
        leader_rx.clone(),
    ));

    let mut tasks: Vec<(&'static str, tokio::task::JoinHandle<()>)> = Vec::new();
    if let Some(addr) = config.metrics_addr {
        let (bound, server) = metrics::serve(addr, metrics.clone(), health.clone()).await?;
        info!(%bound, "serving /metrics, /healthz, /readyz");
        let stop = signal(&stop_rx);
        tasks.push((
            "metrics server",
            tokio::spawn(async move {
                tokio::select! { () = server => {}, () = stop => {} }
            }),
        ));
    }
    // Fires when a controller task dies: the lease is released so a standby takes over.
    let (dead_tx, dead_rx) = watch::channel(false);
    if let Some(le) = config.leader_election.clone() {
        let stop = signal(&stop_rx);
        let dead = signal(&dead_rx);
        tasks.push((
            "leader election",
            tokio::spawn(leader::run(client.clone(), le, leader_tx, async move {
                tokio::select! { () = stop => {}, () = dead => {} }
            })),
        ));
    } else {
        // Without election this replica always "leads"; a dead task makes it stop acting.
        let mut dead = dead_rx.clone();
        let stop = signal(&stop_rx);
        tasks.push((
            "dead-task watcher",
            tokio::spawn(async move {
                tokio::select! {
                    died = dead.wait_for(|d| *d) => if died.is_ok() {
                        let _ = leader_tx.send(false);
                    },
                    () = stop => {}
                }
            }),
        ));
    }
    {
        let ctx = ctx.clone();
        let mut leading = leader_rx.clone();
        let metrics = metrics.clone();
        let stop = signal(&stop_rx);
        tasks.push((
            "default queues",
            tokio::spawn(async move {
                let work = async {
                    // Default queues are created by whichever replica leads first; retried until
                    // done.
                    loop {
                        if leading.wait_for(|l| *l).await.is_err() {
                            return;
                        }
                        metrics.leader.set(1);
                        match queue::ensure_default_queues(&ctx).await {
                            Ok(()) => break,
                            Err(error) => {
                                warn!(%error, "creating the default queues failed; retrying");
                            }
                        }
                        tokio::time::sleep(Duration::from_millis(500)).await;
                    }
                    while leading.changed().await.is_ok() {
                        metrics.leader.set(i64::from(*leading.borrow()));
                    }
                };
                // Without election nothing else ends this task: the leader flag never closes.
                tokio::select! { () = work => {}, () = stop => {} }
            }),
        ));
    }
    let controllers = [
        (
            "job",
            tokio::spawn(job::reconcile::run(ctx.clone(), signal(&stop_rx))),
        ),
        (
            "podgroup",
            tokio::spawn(podgroup::run(ctx.clone(), signal(&stop_rx))),
        ),
        (
            "queue",
            tokio::spawn(queue::run(ctx.clone(), signal(&stop_rx))),
        ),
        (
            "command",
            tokio::spawn(command::run(ctx.clone(), signal(&stop_rx))),
        ),
        (
            "jobflow",
            tokio::spawn(jobflow::reconcile::run(ctx.clone(), signal(&stop_rx))),
        ),
        (
            "jobtemplate",
            tokio::spawn(jobtemplate::run(ctx.clone(), signal(&stop_rx))),
        ),
        (
            "scheduler",
            tokio::spawn(scheduler::run(ctx.clone(), signal(&stop_rx))),
        ),
    ];
    for (name, task) in controllers {
        tasks.push((
            name,
            guard::supervise(
                name,
                task,
                health.clone(),
                metrics.clone(),
                stop_rx.clone(),
                dead_tx.clone(),
            ),
        ));
    }
    health.ready.store(true, Ordering::Relaxed);
    info!(schedulers = ?config.scheduler_names, "basalt controllers running");

    shutdown.await;
    info!("shutting down controllers");
    let _ = stop_tx.send(true);
    for (name, task) in tasks {
        if tokio::time::timeout(Duration::from_secs(10), task)
            .await
            .is_err()
        {
            warn!(task = name, "a controller task did not stop within 10 s");
        }
    }
    Ok(())
}
