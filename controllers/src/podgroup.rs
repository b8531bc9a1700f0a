//! The PodGroup controller for workloads that are not Volcano Jobs: every pod whose
//! schedulerName is Basalt's and that has no `scheduling.k8s.io/group-name` gets a PodGroup
//! `podgroup-<controller owner uid>` (or `podgroup-<pod uid>` for a bare pod), and the pod is
//! annotated with it (reference/volcano.md §1.7, PodGroup controller). The PodGroup's
//! controller is the pod's (the workload), as Volcano's; once no pod of the workload is left
//! (a ReplicaSet or StatefulSet scaled to 0, a bare pod deleted) the PodGroup is deleted, and
//! scaling up again makes a new one.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use bridge::resources::{pod_requests, to_list};
use crds::labels;
use crds::podgroup::{PodGroup, PodGroupSpec};
use k8s_openapi::api::core::v1::Pod;
use kube::api::{Api, ObjectMeta, Patch, PatchParams, PostParams};
use kube::runtime::controller::Action;
use kube::runtime::reflector::{ObjectRef, Store};
use kube::runtime::{Controller, WatchStreamExt, reflector, watcher};
use kube::{Resource, ResourceExt};
use tracing::warn;

use crate::context::{Context, field_manager};
use crate::error::{Error, Result, is_already_exists, is_status};

const COMPONENT: &str = "podgroup";
/// Pod (template) annotation: gang size of the workload.
pub const GROUP_MIN_MEMBER: &str = "scheduling.volcano.sh/group-min-member";
/// Pod annotation: queue of the workload.
pub const QUEUE_ANNOTATION: &str = "scheduling.volcano.sh/queue-name";
/// PodGroup annotation: the pod it was first made for (marks the PodGroups of this controller).
const CREATED_FOR: &str = "basalt.dev/created-for";
/// PodGroup annotation: the uid of the last pod that joined. Written before the pod is
/// annotated, so a deletion decided before a pod joined fails its resourceVersion precondition.
const LAST_MEMBER: &str = "basalt.dev/last-member";

/// Pure: whether `pod` belongs to the workload whose uid is `owner_uid` (the PodGroup's
/// controller): the pod itself (a bare pod) or a pod it controls.
pub fn is_member(pod: &Pod, owner_uid: &str) -> bool {
    pod.metadata.uid.as_deref() == Some(owner_uid)
        || pod
            .owner_references()
            .iter()
            .any(|o| o.controller == Some(true) && o.uid == owner_uid)
}

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
    annotations.insert(CREATED_FOR.to_owned(), pod.name_any());
    // The pod that makes the PodGroup is its first member: marked at creation, so a create
    // needs no second write (the patch below is for pods joining an existing PodGroup).
    if let Some(uid) = &pod.metadata.uid {
        annotations.insert(LAST_MEMBER.to_owned(), uid.clone());
    }
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
            owner_references: Some(vec![owner]),
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

/// Runs the PodGroup controller until `shutdown`: one controller over pods (grouping them) and
/// one over the PodGroups it made (deleting those with no pod left).
pub async fn run(ctx: Arc<Context>, shutdown: impl Future<Output = ()> + Send + Sync + 'static) {
    let stop = crate::guard::stop_signal(shutdown);
    let pods = crate::guard::drive(
        Controller::new(
            Api::<Pod>::all(ctx.client.clone()),
            watcher::Config::default(),
        ),
        stop.clone(),
        crate::guard::guarded(COMPONENT, ctx.metrics.clone(), reconcile),
        error_policy,
        ctx.clone(),
    );
    let selector = format!("{}={}", labels::MANAGED_BY, labels::MANAGED_BY_VALUE);
    // The cleanup reads pods from this cache: listing the namespace's pods on every PodGroup
    // change cost O(PodGroups × pods) from the API server, which ran a real control plane
    // out of memory with one PodGroup per plain pod (issue 19).
    let (reader, writer) = reflector::store();
    let pod_events = reflector(
        writer,
        watcher(
            Api::<Pod>::all(ctx.client.clone()),
            watcher::Config::default(),
        ),
    )
    .default_backoff()
    .touched_objects();
    let cx = Arc::new(CleanupContext { ctx, pods: reader });
    let controller = Controller::new(
        Api::<PodGroup>::all(cx.ctx.client.clone()),
        watcher::Config::default().labels(&selector),
    )
    // A pod going away (deletion started or done) looks at its PodGroup again.
    .watches_stream(pod_events, |pod: Pod| {
        pod.metadata.deletion_timestamp.as_ref()?;
        let name = pod.annotations().get(labels::GROUP_NAME)?;
        name.starts_with("podgroup-")
            .then(|| ObjectRef::new(name).within(&pod.namespace().unwrap_or_default()))
    });
    let groups = crate::guard::drive(
        controller,
        stop,
        crate::guard::guarded("podgroup-cleanup", cx.ctx.metrics.clone(), cleanup),
        cleanup_error_policy,
        cx,
    );
    futures_util::join!(pods, groups);
}

/// What the cleanup loop reads: the shared context and a cache of all pods.
struct CleanupContext {
    ctx: Arc<Context>,
    pods: Store<Pod>,
}

/// Deletes a PodGroup this controller made once no pod of its workload is left (terminating pods
/// still count: the scheduler accounts for them). Membership is read from the pod cache; only
/// when the cache shows no member left is the API asked (the cache may lag the PodGroup's own
/// watch): the owning pod by name for a bare pod, the namespace's pods for a workload — once
/// per PodGroup at its end, not on every change. The delete carries the resourceVersion read
/// here; a pod joining in between writes [`LAST_MEMBER`] first, so the delete then fails and
/// the PodGroup is looked at again.
async fn cleanup(pg: Arc<PodGroup>, cx: Arc<CleanupContext>) -> Result<Action> {
    let ctx = &cx.ctx;
    if !pg.annotations().contains_key(CREATED_FOR) || pg.metadata.deletion_timestamp.is_some() {
        return Ok(Action::await_change());
    }
    let Some(owner_ref) = pg.owner_references().first().cloned() else {
        return Ok(Action::await_change());
    };
    let owner = owner_ref.uid.clone();
    if !ctx.is_leader() {
        return Ok(Action::requeue(Duration::from_secs(2)));
    }
    if cx.pods.wait_until_ready().await.is_err() {
        // The pod watch is gone (shutting down): decide nothing.
        return Ok(Action::await_change());
    }
    if cx.pods.find(|p| is_member(p, &owner)).is_some() {
        return Ok(Action::await_change());
    }
    let ns = pg.namespace().unwrap_or_default();
    let name = pg.name_any();
    let pods: Api<Pod> = Api::namespaced(ctx.client.clone(), &ns);
    let left = if owner_ref.kind == "Pod" {
        match pods.get_opt(&owner_ref.name).await {
            Ok(pod) => pod.is_some_and(|p| is_member(&p, &owner)),
            Err(e) => {
                return Err(Error::kube(
                    "get",
                    "Pod",
                    format!("{ns}/{}", owner_ref.name),
                    e,
                ));
            }
        }
    } else {
        let list = pods
            .list(&kube::api::ListParams::default())
            .await
            .map_err(|e| Error::kube("list", "Pod", ns.clone(), e))?;
        list.items.iter().any(|p| is_member(p, &owner))
    };
    if left {
        // The cache is behind: its pod event wakes this PodGroup again.
        return Ok(Action::requeue(Duration::from_secs(1)));
    }
    let pgs: Api<PodGroup> = Api::namespaced(ctx.client.clone(), &ns);
    let dp = kube::api::DeleteParams {
        preconditions: Some(kube::api::Preconditions {
            uid: pg.metadata.uid.clone(),
            resource_version: pg.metadata.resource_version.clone(),
        }),
        ..Default::default()
    };
    match pgs.delete(&name, &dp).await {
        Ok(_) => {
            tracing::info!(podgroup = %format!("{ns}/{name}"), "deleted: no pod of its workload is left");
            Ok(Action::await_change())
        }
        Err(e) if is_status(&e, 404) => Ok(Action::await_change()),
        // Changed since it was read (a pod joined, a status write): look again.
        Err(e) if is_status(&e, 409) => Ok(Action::requeue(Duration::from_secs(1))),
        Err(e) => Err(Error::kube("delete", "PodGroup", format!("{ns}/{name}"), e)),
    }
}

fn cleanup_error_policy(pg: Arc<PodGroup>, error: &Error, _cx: Arc<CleanupContext>) -> Action {
    warn!(podgroup = %pg.name_any(), %error, "podgroup cleanup failed");
    Action::requeue(error.retry_after())
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
    // Create (or find) the PodGroup, then mark this pod as its last member before annotating
    // the pod: a cleanup that decided on an older version of the PodGroup then fails. A
    // PodGroup deleted between the two steps is made again.
    let member = serde_json::json!({"metadata": {"annotations": {
        LAST_MEMBER: pod.metadata.uid.clone().unwrap_or_default()}}});
    let mut joined = false;
    for _ in 0..3 {
        match pgs.create(&pp, &pg).await {
            // Made now, with this pod as its member (LAST_MEMBER is in the object).
            Ok(_) => {
                joined = true;
                break;
            }
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
        match pgs
            .patch(&pg_name, &PatchParams::default(), &Patch::Merge(&member))
            .await
        {
            Ok(_) => {
                joined = true;
                break;
            }
            Err(e) if is_status(&e, 404) => continue,
            Err(e) => {
                return Err(Error::kube(
                    "mark a member of",
                    "PodGroup",
                    format!("{ns}/{pg_name}"),
                    e,
                ));
            }
        }
    }
    if !joined {
        return Ok(Action::requeue(Duration::from_secs(1)));
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
    crate::guard::failed(&ctx, "Pod", pod.as_ref(), error, true)
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

    /// As Volcano's: the PodGroup's controller is the workload (upstream's
    /// `podgroup_workqueue.go` checks `GetControllerOf`), and membership follows it.
    #[test]
    fn the_workload_controls_its_podgroup_and_its_pods_are_members() {
        let p = pod("volcano", true);
        let pg = podgroup_for(&p, ours).unwrap();
        let owner = &pg.metadata.owner_references.as_ref().unwrap()[0];
        assert_eq!(
            (owner.uid.as_str(), owner.controller),
            ("rs-uid", Some(true))
        );
        assert!(is_member(&p, "rs-uid"));
        assert!(!is_member(&p, "other-uid"));
        let bare = pod("volcano", false);
        let pg = podgroup_for(&bare, ours).unwrap();
        let owner = &pg.metadata.owner_references.as_ref().unwrap()[0];
        assert_eq!(
            (owner.uid.as_str(), owner.controller),
            ("pod-uid", Some(true))
        );
        assert!(is_member(&bare, "pod-uid"));
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
