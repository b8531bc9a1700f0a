//! The PodGroup controller for workloads that are not Volcano Jobs: every pod whose
//! schedulerName is Basalt's and that has no `scheduling.k8s.io/group-name` gets a PodGroup
//! `podgroup-<controller owner uid>` (or `podgroup-<pod uid>` for a bare pod), and the pod is
//! annotated with it (reference/volcano.md §1.7, PodGroup controller).

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use crds::labels;
use crds::podgroup::{PodGroup, PodGroupSpec};
use futures_util::StreamExt;
use k8s_openapi::api::core::v1::Pod;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::OwnerReference;
use kube::api::{Api, ObjectMeta, Patch, PatchParams, PostParams};
use kube::runtime::controller::Action;
use kube::runtime::{Controller, watcher};
use kube::{Resource, ResourceExt};
use tracing::warn;

use crate::context::{Context, field_manager};
use crate::error::{Error, Result, is_already_exists, is_status};
use crate::resources::{pod_requests, to_list};

const COMPONENT: &str = "podgroup";
/// Pod (template) annotation: gang size of the workload.
pub const GROUP_MIN_MEMBER: &str = "scheduling.volcano.sh/group-min-member";
/// Pod annotation: queue of the workload.
pub const QUEUE_ANNOTATION: &str = "scheduling.volcano.sh/queue-name";

/// Pure: the PodGroup a plain pod needs, or `None` when it needs none (not Basalt's, already
/// grouped, or created by a Volcano Job).
pub fn podgroup_for(pod: &Pod, ours: impl Fn(Option<&str>) -> bool) -> Option<PodGroup> {
    let spec = pod.spec.as_ref()?;
    if !ours(spec.scheduler_name.as_deref()) || pod.annotations().contains_key(labels::GROUP_NAME) {
        return None;
    }
    let owner = pod
        .owner_references()
        .iter()
        .find(|o| o.controller == Some(true))
        .cloned();
    if owner
        .as_ref()
        .is_some_and(|o| o.api_version.starts_with("batch.volcano.sh/"))
    {
        return None;
    }
    let owner = match owner {
        Some(o) => o,
        None => pod.controller_owner_ref(&())?,
    };
    let min_member: i32 = pod
        .annotations()
        .get(GROUP_MIN_MEMBER)
        .and_then(|v| v.parse().ok())
        .unwrap_or(1);
    let mut requests = pod_requests(spec);
    let single = requests.clone();
    for _ in 1..min_member.max(1) {
        requests.add(&single);
    }
    let mut annotations: BTreeMap<String, String> = pod
        .annotations()
        .iter()
        .filter(|(k, _)| k.starts_with("volcano.sh/"))
        .map(|(k, v)| (k.clone(), v.clone()))
        .collect();
    annotations.insert("basalt.dev/created-for".to_owned(), pod.name_any());
    let mut meta_labels = BTreeMap::new();
    meta_labels.insert(
        labels::MANAGED_BY.to_owned(),
        labels::MANAGED_BY_VALUE.to_owned(),
    );
    Some(PodGroup {
        metadata: ObjectMeta {
            name: Some(format!("podgroup-{}", owner.uid)),
            namespace: pod.namespace(),
            labels: Some(meta_labels),
            annotations: Some(annotations),
            owner_references: Some(vec![OwnerReference {
                controller: Some(false),
                ..owner
            }]),
            ..Default::default()
        },
        spec: PodGroupSpec {
            min_member: Some(min_member),
            queue: Some(
                pod.annotations()
                    .get(QUEUE_ANNOTATION)
                    .cloned()
                    .unwrap_or_else(|| "default".to_owned()),
            ),
            priority_class_name: spec.priority_class_name.clone(),
            min_resources: (!requests.is_empty()).then(|| to_list(&requests)),
            ..Default::default()
        },
        status: None,
    })
}

/// Runs the PodGroup controller until `shutdown`.
pub async fn run(ctx: Arc<Context>, shutdown: impl Future<Output = ()> + Send + Sync + 'static) {
    Controller::new(
        Api::<Pod>::all(ctx.client.clone()),
        watcher::Config::default(),
    )
    .graceful_shutdown_on(shutdown)
    .run(
        crate::guard::guarded(COMPONENT, ctx.metrics.clone(), reconcile),
        error_policy,
        ctx,
    )
    .for_each(|_| async {})
    .await;
}

async fn reconcile(pod: Arc<Pod>, ctx: Arc<Context>) -> Result<Action> {
    let Some(pg) = podgroup_for(&pod, |n| ctx.config.is_ours(n)) else {
        return Ok(Action::await_change());
    };
    if !ctx.is_leader() {
        return Ok(Action::requeue(Duration::from_secs(2)));
    }
    let ns = pod.namespace().unwrap_or_default();
    let pg_name = pg.name_any();
    let pp = PostParams {
        dry_run: false,
        field_manager: Some(field_manager(COMPONENT)),
    };
    let pgs: Api<PodGroup> = Api::namespaced(ctx.client.clone(), &ns);
    match pgs.create(&pp, &pg).await {
        Ok(_) => {}
        Err(e) if is_already_exists(&e) => {}
        Err(e) => {
            return Err(Error::kube(
                "create",
                "PodGroup",
                format!("{ns}/{pg_name}"),
                e,
            ));
        }
    }
    let pods: Api<Pod> = Api::namespaced(ctx.client.clone(), &ns);
    let patch = serde_json::json!({"metadata": {"annotations": {labels::GROUP_NAME: pg_name}}});
    let result = pods
        .patch(
            &pod.name_any(),
            &PatchParams::default(),
            &Patch::Merge(&patch),
        )
        .await
        .map(|_| Action::await_change());
    match result {
        Err(e) if is_status(&e, 404) => Ok(Action::await_change()),
        other => {
            other.map_err(|e| Error::kube("annotate", "Pod", format!("{ns}/{}", pod.name_any()), e))
        }
    }
}

fn error_policy(pod: Arc<Pod>, error: &Error, ctx: Arc<Context>) -> Action {
    warn!(pod = %pod.name_any(), %error, "podgroup reconcile failed");
    let ctx = ctx.clone();
    let reference = pod.object_ref(&());
    let note = error.to_string();
    tokio::spawn(async move {
        ctx.event(&reference, true, "ReconcileFailed", "Reconcile", note)
            .await
    });
    Action::requeue(error.retry_after())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pod(scheduler: &str, owner: bool) -> Pod {
        let mut text = format!(
            "apiVersion: v1\nkind: Pod\nmetadata:\n  name: p\n  namespace: ns\n  uid: pod-uid\n  annotations:\n    {GROUP_MIN_MEMBER}: \"2\"\n    {QUEUE_ANNOTATION}: team-b-queue\nspec:\n  schedulerName: {scheduler}\n  containers:\n  - name: c\n    resources: {{limits: {{nvidia.com/gpu: 1}}}}\n"
        );
        if owner {
            text = text.replace("  uid: pod-uid\n", "  uid: pod-uid\n  ownerReferences:\n  - {apiVersion: apps/v1, kind: ReplicaSet, name: rs, uid: rs-uid, controller: true}\n");
        }
        serde_saphyr::from_str(&text).unwrap()
    }

    fn ours(n: Option<&str>) -> bool {
        n == Some("volcano")
    }

    #[test]
    fn replicaset_pods_share_the_owner_podgroup() {
        let pg = podgroup_for(&pod("volcano", true), ours).unwrap();
        assert_eq!(pg.metadata.name.as_deref(), Some("podgroup-rs-uid"));
        assert_eq!(pg.spec.min_member, Some(2));
        assert_eq!(pg.spec.queue.as_deref(), Some("team-b-queue"));
        assert_eq!(pg.spec.min_resources.unwrap()["nvidia.com/gpu"].0, "2");
        let bare = podgroup_for(&pod("volcano", false), ours).unwrap();
        assert_eq!(bare.metadata.name.as_deref(), Some("podgroup-pod-uid"));
    }

    #[test]
    fn other_schedulers_and_grouped_pods_are_left_alone() {
        assert!(podgroup_for(&pod("default-scheduler", true), ours).is_none());
        let mut p = pod("volcano", true);
        p.metadata
            .annotations
            .as_mut()
            .unwrap()
            .insert(labels::GROUP_NAME.into(), "x".into());
        assert!(podgroup_for(&p, ours).is_none());
    }
}
