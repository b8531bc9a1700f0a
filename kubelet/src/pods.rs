//! The pod side of the simulated kubelet: watches every pod, and for each one bound to a
//! simulated node runs a task that starts it, ends it when its run is over (restarting
//! containers as its restartPolicy says) and removes it when it is deleted.
//!
//! One task per pod keeps each pod's writes in order without a global queue.

use std::collections::{HashMap, HashSet};
use std::sync::Arc;
use std::time::Duration;

use futures_util::StreamExt;
use k8s_openapi::api::core::v1::Pod;
use k8s_openapi::jiff::{SignedDuration, Timestamp};
use kube::api::{Api, DeleteParams, Patch, Preconditions};
use kube::runtime::WatchStreamExt;
use kube::runtime::watcher::{self, Event};
use serde_json::{Value, json};
use tokio::task::JoinHandle;

use super::kubelet::{Ctx, Placed, params, put_pod_metrics, rfc3339, status_code};
use super::lifecycle::{self, Observed, Placement};
use super::{admit, node, usage};

type Key = (String, String);

struct Tracked {
    uid: String,
    task: Option<JoinHandle<()>>,
    deleting: bool,
}

impl Tracked {
    fn stop(&mut self) {
        if let Some(t) = self.task.take() {
            t.abort();
        }
    }
}

/// Follows all pods until the task is aborted.
pub(super) async fn watch_pods(ctx: Arc<Ctx>) {
    let api: Api<Pod> = Api::all(ctx.client.clone());
    let stream = watcher::watcher(api, watcher::Config::default()).default_backoff();
    futures_util::pin_mut!(stream);
    let mut tracked: HashMap<Key, Tracked> = HashMap::new();
    let mut seen: HashSet<Key> = HashSet::new();
    while let Some(event) = stream.next().await {
        match event {
            Ok(Event::Init) => seen.clear(),
            Ok(Event::InitApply(pod)) => {
                seen.insert(key(&pod));
                on_pod(&ctx, &mut tracked, pod);
            }
            Ok(Event::InitDone) => {
                // Pods deleted while the watch was down never send a Delete event.
                tracked.retain(|k, t| {
                    let keep = seen.contains(k);
                    if !keep {
                        t.stop();
                        forget(&ctx, k);
                    }
                    keep
                });
            }
            Ok(Event::Apply(pod)) => on_pod(&ctx, &mut tracked, pod),
            Ok(Event::Delete(pod)) => {
                let k = key(&pod);
                if let Some(mut t) = tracked.remove(&k) {
                    t.stop();
                    forget(&ctx, &k);
                }
            }
            Err(e) => tracing::debug!(error = %e, "pod watch interrupted; resuming"),
        }
    }
}

fn key(pod: &Pod) -> Key {
    (
        pod.metadata.namespace.clone().unwrap_or_default(),
        pod.metadata.name.clone().unwrap_or_default(),
    )
}

fn forget(ctx: &Arc<Ctx>, k: &Key) {
    Ctx::lock(&ctx.running).remove(k);
    ctx.metrics.remove_pod(&k.0, &k.1);
}

fn on_pod(ctx: &Arc<Ctx>, tracked: &mut HashMap<Key, Tracked>, pod: Pod) {
    let Some(node) = pod
        .spec
        .as_ref()
        .and_then(|s| s.node_name.as_deref())
        .and_then(|n| ctx.index.get(n))
        .copied()
    else {
        return;
    };
    let k = key(&pod);
    let uid = pod.metadata.uid.clone().unwrap_or_default();
    let deleting = pod.metadata.deletion_timestamp.is_some();
    if let Some(t) = tracked.get_mut(&k) {
        let removing = t.task.as_ref().is_some_and(|task| !task.is_finished());
        // A terminating pod held by finalizers is removed once they are gone.
        let finalized = pod.metadata.finalizers.as_ref().is_none_or(Vec::is_empty);
        if t.uid == uid && (!deleting || (t.deleting && (removing || !finalized))) {
            return;
        }
        t.stop();
    }
    let value = match serde_json::to_value(&pod) {
        Ok(v) => v,
        Err(e) => {
            tracing::warn!(pod = %k.1, error = %e, "cannot read pod");
            return;
        }
    };
    let task = if deleting {
        forget(ctx, &k);
        Some(tokio::spawn(remove(ctx.clone(), k.clone(), uid.clone())))
    } else {
        match lifecycle::observe(&value) {
            Observed::Finished => None,
            Observed::Pending => match place(ctx, &k, &value, node, true) {
                Ok(()) => Some(tokio::spawn(run(ctx.clone(), value, node, None))),
                Err(rejection) => {
                    tracing::info!(pod = %k.1, namespace = %k.0, reason = %rejection.reason, "pod rejected by node admission");
                    Some(tokio::spawn(reject(ctx.clone(), k.clone(), rejection)))
                }
            },
            Observed::Running { started, restart } => {
                let _ = place(ctx, &k, &value, node, false);
                Some(tokio::spawn(run(
                    ctx.clone(),
                    value,
                    node,
                    Some((started, restart)),
                )))
            }
        }
    };
    tracked.insert(
        k,
        Tracked {
            uid,
            task,
            deleting,
        },
    );
}

/// Records the pod on its node; with `check`, first refuses it if the node cannot hold it.
fn place(
    ctx: &Ctx,
    k: &Key,
    pod: &Value,
    node: usize,
    check: bool,
) -> Result<(), admit::Rejection> {
    let sim = &ctx.config.nodes[node];
    let request = admit::request(pod);
    let mut running = Ctx::lock(&ctx.running);
    if check {
        let others: Vec<admit::Request> = running
            .iter()
            .filter(|(key, p)| p.node == node && *key != k)
            .map(|(_, p)| p.request)
            .collect();
        admit::admit(sim, &others, &request)?;
    }
    running.insert(
        k.clone(),
        Placed {
            node,
            demand: usage::pod_demand(pod, sim.gpu_memory.to_f64()),
            request,
        },
    );
    Ok(())
}

/// Marks a pod the node cannot hold as Failed, as a kubelet's admission does.
async fn reject(ctx: Arc<Ctx>, (ns, name): Key, rejection: admit::Rejection) {
    let status = admit::rejected_status(&rejection, &rfc3339(Timestamp::now()));
    write_status(&ctx, &ns, &name, &status).await;
}

/// Graceful deletion ends the pod at once: the simulated containers stop immediately.
///
/// Retries until the pod (this uid) is gone, as a kubelet does: giving up would leave it
/// terminating for good, and its Job with it (a Terminating job waits for its pods). A 409 is
/// not proof that the pod is gone: the uid precondition fails with 409 when a new pod took the
/// name, but so does any conflict, so the pod is read back to tell.
async fn remove(ctx: Arc<Ctx>, (ns, name): Key, uid: String) {
    let api: Api<Pod> = Api::namespaced(ctx.client.clone(), &ns);
    let dp = DeleteParams {
        grace_period_seconds: Some(0),
        preconditions: Some(Preconditions {
            uid: Some(uid.clone()),
            resource_version: None,
        }),
        ..Default::default()
    };
    let mut attempt = 0u32;
    loop {
        match api.delete(&name, &dp).await {
            Ok(_) => return,
            Err(e) if status_code(&e) == Some(404) => return,
            Err(e) if status_code(&e) == Some(409) => match api.get_opt(&name).await {
                Ok(None) => return,
                Ok(Some(p)) if p.metadata.uid.as_deref() != Some(uid.as_str()) => return,
                Ok(Some(_)) | Err(_) => {
                    tracing::debug!(pod = %name, error = %e, "conflict removing a deleted pod; retrying");
                }
            },
            Err(e) => {
                tracing::debug!(pod = %name, error = %e, "cannot remove a deleted pod; retrying");
            }
        }
        tokio::time::sleep(backoff(attempt)).await;
        attempt = attempt.saturating_add(1);
    }
}

/// 50 ms doubling, at most 1.6 s.
fn backoff(attempt: u32) -> Duration {
    Duration::from_millis(50u64 << attempt.min(5))
}

/// Writes `status`; false when the pod is gone.
async fn write_status(ctx: &Ctx, ns: &str, name: &str, status: &Value) -> bool {
    let api: Api<Pod> = Api::namespaced(ctx.client.clone(), ns);
    let body = json!({"status": status});
    for attempt in 0..12u32 {
        match api
            .patch_status(name, &params(), &Patch::Merge(&body))
            .await
        {
            Ok(_) => return true,
            Err(e) if status_code(&e) == Some(404) => return false,
            Err(e) => {
                tracing::debug!(pod = %name, error = %e, "cannot write pod status; retrying");
                tokio::time::sleep(backoff(attempt)).await;
            }
        }
    }
    tracing::warn!(pod = %name, "giving up writing pod status after 12 attempts");
    false
}

fn parse_time(text: &str) -> Timestamp {
    text.parse().unwrap_or_else(|_| Timestamp::now())
}

/// Runs a pod's containers run after run until they end for good (or the task is aborted).
async fn run(ctx: Arc<Ctx>, mut pod: Value, node: usize, resume: Option<(String, u32)>) {
    let str_at = |p: &str| {
        pod.pointer(p)
            .and_then(Value::as_str)
            .unwrap_or_default()
            .to_string()
    };
    let (ns, name) = (str_at("/metadata/namespace"), str_at("/metadata/name"));
    let sim = &ctx.config.nodes[node];
    let existing_ip = str_at("/status/podIP");
    let at = Placement {
        host_ip: node::node_ip(node),
        pod_ip: if existing_ip.is_empty() {
            ctx.pod_ip(node)
        } else {
            ctx.claim_ip(node, &existing_ip);
            existing_ip
        },
    };
    let (mut started, mut restart, mut run) = match resume {
        Some((started, restart)) => {
            let run = Ctx::lock(&ctx.ledger).at_least(&ns, &name, restart + 1);
            (parse_time(&started), restart, run)
        }
        None => {
            let now = Timestamp::now();
            let run = Ctx::lock(&ctx.ledger).start_run(&ns, &name);
            let status = lifecycle::running_status(&pod, &at, &rfc3339(now), 0, None);
            if !write_status(&ctx, &ns, &name, &status).await {
                return;
            }
            pod["status"] = status;
            (now, 0, run)
        }
    };
    put_pod_metrics(&ctx, &pod, sim.gpu_memory.to_f64());
    loop {
        let plan = lifecycle::plan_run(&pod, run, ctx.config.default_duration);
        for w in &plan.warnings {
            tracing::warn!(pod = %name, namespace = %ns, "{w}");
        }
        let Some(duration) = plan.duration else {
            return;
        };
        let end = started
            .checked_add(SignedDuration::try_from(duration).unwrap_or(SignedDuration::MAX))
            .unwrap_or(Timestamp::MAX);
        let left = end.duration_since(Timestamp::now());
        if left.is_positive() {
            tokio::time::sleep(left.unsigned_abs()).await;
        }
        let started_text = rfc3339(started);
        if lifecycle::restarts(&pod, plan.exit_code) {
            // A container that exits at once would spin; real kubelets back off too.
            tokio::time::sleep(Duration::from_secs(1).saturating_sub(duration)).await;
            let now = Timestamp::now();
            let last =
                lifecycle::terminated_state(plan.exit_code, &started_text, &rfc3339(now), None);
            restart += 1;
            run = Ctx::lock(&ctx.ledger).start_run(&ns, &name);
            started = now;
            let status = lifecycle::running_status(&pod, &at, &rfc3339(now), restart, Some(&last));
            if !write_status(&ctx, &ns, &name, &status).await {
                return;
            }
            pod["status"] = status;
        } else {
            let last = pod
                .pointer("/status/containerStatuses/0/lastState")
                .filter(|v| v.as_object().is_some_and(|o| !o.is_empty()));
            let status = lifecycle::terminated_status(
                &pod,
                &at,
                plan.exit_code,
                &started_text,
                &rfc3339(Timestamp::now()),
                restart,
                last,
            );
            Ctx::lock(&ctx.running).remove(&(ns.clone(), name.clone()));
            ctx.metrics.remove_pod(&ns, &name);
            write_status(&ctx, &ns, &name, &status).await;
            return;
        }
    }
}
