//! Failure isolation: a panic inside one reconcile must not take its controller down (issue 16:
//! a Job whose policy overflowed the duration arithmetic stopped every later Job).
//!
//! [`guarded`] wraps a reconcile function: a panic becomes [`Error::ReconcilePanicked`], is logged,
//! counted in `basalt_controller_reconcile_panics_total` and retried by the controller's
//! `error_policy` with a per-object exponential backoff ([`Error::retry_after`]).
//! [`supervise`] watches the long-running tasks: if one ends before shutdown (a panic outside a
//! reconcile), `/readyz` turns failing and the leader lease is released so a standby takes over.
//! This module owns no reconcile logic.

use std::collections::HashMap;
use std::future::Future;
use std::panic::AssertUnwindSafe;
use std::sync::atomic::Ordering;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use futures_util::FutureExt;
use futures_util::future::BoxFuture;
use kube::ResourceExt;
use kube::runtime::controller::Action;
use tokio::sync::watch;
use tokio::task::JoinHandle;
use tracing::{error, warn};

use crate::context::Context;
use crate::error::{Error, Result};
use crate::metrics::{Health, Metrics};

/// First retry after a panic; doubled per consecutive panic of the same object.
const FIRST_BACKOFF: Duration = Duration::from_secs(5);
/// Longest wait between retries of an object that keeps panicking.
const MAX_BACKOFF: Duration = Duration::from_secs(300);

/// Consecutive panics per object (`namespace/name`), cleared by a reconcile that returns.
type PanicCounts = Arc<Mutex<HashMap<String, u32>>>;

/// Wraps `reconcile` so that a panic is caught, logged, counted and turned into an error the
/// controller retries with backoff. It is also the one place that counts reconciles and their
/// failures (`basalt_controller_reconciles_total`, `…_reconcile_errors_total`): once per call,
/// whatever path failed.
pub fn guarded<K, C, F, Fut>(
    component: &'static str,
    metrics: Arc<Metrics>,
    reconcile: F,
) -> impl FnMut(Arc<K>, Arc<C>) -> BoxFuture<'static, Result<Action>>
where
    K: ResourceExt + Send + Sync + 'static,
    C: Send + Sync + 'static,
    F: Fn(Arc<K>, Arc<C>) -> Fut,
    Fut: Future<Output = Result<Action>> + Send + 'static,
{
    let counts = PanicCounts::default();
    move |object: Arc<K>, ctx: Arc<C>| {
        let key = format!(
            "{}/{}",
            object.namespace().unwrap_or_default(),
            object.name_any()
        );
        let counts = counts.clone();
        let metrics = metrics.clone();
        let run = reconcile(object, ctx);
        async move {
            match AssertUnwindSafe(run).catch_unwind().await {
                Ok(result) => {
                    if let Ok(mut c) = counts.lock() {
                        c.remove(&key);
                    }
                    metrics.reconciled(component, result.is_ok());
                    result
                }
                Err(payload) => {
                    let message = panic_message(payload.as_ref());
                    let attempt = counts
                        .lock()
                        .map(|mut c| {
                            let n = c.entry(key.clone()).or_insert(0);
                            *n = n.saturating_add(1);
                            *n
                        })
                        .unwrap_or(1);
                    let retry_after = backoff(attempt);
                    error!(
                        controller = component, object = %key, %message, attempt,
                        ?retry_after, "reconcile panicked; the controller goes on and retries"
                    );
                    metrics.panicked(component);
                    metrics.reconciled(component, false);
                    Err(Error::ReconcilePanicked {
                        object: key,
                        message,
                        retry_after,
                    })
                }
            }
        }
        .boxed()
    }
}

fn backoff(attempt: u32) -> Duration {
    FIRST_BACKOFF
        .saturating_mul(1u32 << attempt.saturating_sub(1).min(16))
        .min(MAX_BACKOFF)
}

fn panic_message(payload: &(dyn std::any::Any + Send)) -> String {
    payload
        .downcast_ref::<&str>()
        .map(|s| (*s).to_string())
        .or_else(|| payload.downcast_ref::<String>().cloned())
        .unwrap_or_else(|| "a panic without a message".to_string())
}

/// The error policy every reconciler shares (its `error_policy` is this one call). The failure
/// is logged with the object's key; a conflict is retried in 200 ms without telling anyone (the
/// next read settles it); any other failure is retried after [`Error::retry_after`] and, when
/// `event` is set, also shown on the object as a `ReconcileFailed` Warning event, which is what
/// `kubectl describe` shows (docs/events.md). Counting the failure is [`guarded`]'s job.
pub fn failed<K>(
    ctx: &Arc<Context>,
    kind: &'static str,
    object: &K,
    error: &Error,
    event: bool,
) -> Action
where
    K: kube::Resource<DynamicType = ()>,
{
    let key = format!(
        "{}/{}",
        object.namespace().unwrap_or_default(),
        object.name_any()
    );
    warn!(kind, object = %key, %error, "reconcile failed");
    if error.is_conflict() {
        return Action::requeue(Duration::from_millis(200));
    }
    if event {
        let ctx = ctx.clone();
        let reference = object.object_ref(&());
        let note = error.to_string();
        tokio::spawn(async move {
            ctx.event(&reference, true, "ReconcileFailed", "Reconcile", note)
                .await
        });
    }
    Action::requeue(error.retry_after())
}

/// The shutdown signal one controller function hands to each of its kube-runtime controllers
/// (`graceful_shutdown_on`) and to [`until_stopped`].
pub type Stop = futures_util::future::Shared<BoxFuture<'static, ()>>;

/// Makes a controller function's `shutdown` future cloneable.
pub fn stop_signal(shutdown: impl Future<Output = ()> + Send + 'static) -> Stop {
    shutdown.boxed().shared()
}

/// Runs one kube-runtime controller until `stop`, then until its in-flight reconciles finish
/// (see [`until_stopped`]): the tail every reconciler's `run` shares.
pub async fn drive<K, Ctx, ReconcilerFut>(
    controller: kube::runtime::Controller<K>,
    stop: Stop,
    reconciler: impl FnMut(Arc<K>, Arc<Ctx>) -> ReconcilerFut,
    error_policy: impl Fn(Arc<K>, &ReconcilerFut::Error, Arc<Ctx>) -> Action,
    context: Arc<Ctx>,
) where
    K: Clone
        + kube::Resource
        + serde::de::DeserializeOwned
        + std::fmt::Debug
        + Send
        + Sync
        + 'static,
    K::DynamicType: Eq + std::hash::Hash + Clone + std::fmt::Debug + Unpin,
    ReconcilerFut: futures_util::TryFuture<Ok = Action> + Send + 'static,
    ReconcilerFut::Error: std::error::Error + Send + 'static,
{
    use futures_util::StreamExt;
    let controller = controller.graceful_shutdown_on(stop.clone());
    let store = controller.store();
    let run = controller
        .run(reconciler, error_policy, context)
        .for_each(|_| async {});
    until_stopped(run, store, stop).await;
}

/// Drives one kube-runtime controller (`run`, built with `graceful_shutdown_on(stop.clone())`)
/// until it ends: after `stop`, in-flight reconciles finish. kube-runtime never ends a controller
/// that is stopped before its first list has arrived (its runner waits for the store to become
/// ready, which a stopped watch never makes it), so a `basalt controller` stopped during start-up
/// waited out the 10 s stop timeout once per controller; such a controller has reconciled
/// nothing yet and is dropped at once.
async fn until_stopped<K>(
    run: impl Future<Output = ()>,
    store: kube::runtime::reflector::Store<K>,
    stop: Stop,
) where
    K: kube::Resource + Clone + 'static,
    K::DynamicType: Eq + std::hash::Hash + Clone,
{
    let mut run = std::pin::pin!(run);
    tokio::select! {
        () = &mut run => return,
        () = stop => {}
    }
    if store.wait_until_ready().now_or_never().is_some() {
        run.await;
    }
}

/// Watches `task` until it ends. Ending while `stopping` is false means it died: `/readyz`
/// turns failing and `dead` fires (the leader election releases the lease on it).
pub fn supervise(
    name: &'static str,
    task: JoinHandle<()>,
    health: Arc<Health>,
    metrics: Arc<Metrics>,
    stopping: watch::Receiver<bool>,
    dead: watch::Sender<bool>,
) -> JoinHandle<()> {
    tokio::spawn(async move {
        let outcome = task.await;
        if *stopping.borrow() {
            return;
        }
        let why = match outcome {
            Ok(()) => "returned".to_string(),
            Err(e) if e.is_panic() => {
                format!("panicked: {}", panic_message(e.into_panic().as_ref()))
            }
            Err(e) => format!("was cancelled: {e}"),
        };
        error!(
            task = name, %why,
            "controller task stopped; /readyz now fails and the leader lease is released"
        );
        metrics.panicked(name);
        health.ready.store(false, Ordering::Relaxed);
        if let Ok(mut failed) = health.failed.lock() {
            failed.get_or_insert_with(|| format!("controller task {name} {why}"));
        }
        let _ = dead.send(true);
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use k8s_openapi::api::core::v1::ConfigMap;
    use kube::api::ObjectMeta;

    fn cm(name: &str) -> Arc<ConfigMap> {
        Arc::new(ConfigMap {
            metadata: ObjectMeta {
                name: Some(name.into()),
                namespace: Some("ns".into()),
                ..Default::default()
            },
            ..Default::default()
        })
    }

    async fn reconcile(obj: Arc<ConfigMap>, _: Arc<()>) -> Result<Action> {
        if obj.name_any().starts_with("boom") {
            let huge = Duration::from_secs(u64::MAX);
            // The overflow issue 16 found, reproduced on purpose.
            let _ = huge + Duration::from_secs(1);
        }
        Ok(Action::await_change())
    }

    #[tokio::test]
    async fn a_panic_becomes_a_retried_error_and_is_counted() {
        let metrics = Arc::new(Metrics::new());
        let mut r = guarded("test", metrics.clone(), reconcile);
        let mut waits = vec![];
        for _ in 0..3 {
            match r(cm("boom"), Arc::new(())).await {
                Err(e @ Error::ReconcilePanicked { .. }) => {
                    assert!(e.to_string().contains("ns/boom"), "{e}");
                    assert!(e.to_string().contains("overflow"), "{e}");
                    waits.push(e.retry_after());
                }
                other => panic!("expected a caught panic, got {other:?}"),
            }
        }
        assert_eq!(
            waits,
            [5, 10, 20].map(Duration::from_secs),
            "backoff doubles per panic"
        );
        // other objects are unaffected, and the controller keeps reconciling
        assert!(r(cm("fine"), Arc::new(())).await.is_ok());
        let text = metrics.encode();
        assert!(
            text.contains("basalt_controller_reconcile_panics_total{controller=\"test\"} 3"),
            "{text}"
        );
        // Every call counted once; each panic once as an error (issue 20: failures were
        // counted twice, by the reconciler and its error policy).
        assert!(
            text.contains("basalt_controller_reconciles_total{controller=\"test\"} 4"),
            "{text}"
        );
        assert!(
            text.contains("basalt_controller_reconcile_errors_total{controller=\"test\"} 3"),
            "{text}"
        );
        assert_eq!(backoff(30), MAX_BACKOFF);
    }

    #[tokio::test]
    async fn a_dead_task_fails_readyz_and_fires_dead() {
        let health = Arc::new(Health::default());
        health.ready.store(true, Ordering::Relaxed);
        let (_stop_tx, stop_rx) = watch::channel(false);
        let (dead_tx, mut dead_rx) = watch::channel(false);
        let task = tokio::spawn(async { panic!("scheduler-core bug") });
        supervise(
            "scheduler",
            task,
            health.clone(),
            Arc::new(Metrics::new()),
            stop_rx,
            dead_tx,
        )
        .await
        .unwrap();
        assert!(!health.ready.load(Ordering::Relaxed));
        assert!(*dead_rx.borrow_and_update());
        let failed = health.failed.lock().unwrap().clone().unwrap();
        assert!(
            failed.contains("scheduler panicked: scheduler-core bug"),
            "{failed}"
        );
    }

    #[tokio::test]
    async fn a_task_ending_at_shutdown_is_not_a_death() {
        let health = Arc::new(Health::default());
        health.ready.store(true, Ordering::Relaxed);
        let (stop_tx, stop_rx) = watch::channel(false);
        let (dead_tx, dead_rx) = watch::channel(false);
        stop_tx.send(true).unwrap();
        let task = tokio::spawn(async {});
        supervise(
            "job",
            task,
            health.clone(),
            Arc::new(Metrics::new()),
            stop_rx,
            dead_tx,
        )
        .await
        .unwrap();
        assert!(health.ready.load(Ordering::Relaxed));
        assert!(!*dead_rx.borrow());
    }
}
