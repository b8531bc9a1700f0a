//! The Job reconciler: read fresh state, plan with `state::plan`, write.
//!
//! Write order is the idempotence argument: status first with the Job's resourceVersion as a
//! precondition (a plan made from stale state fails with 409 before touching anything), then the
//! PodGroup, plugin objects and pods (AlreadyExists / NotFound are success).

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use crds::job::{Action as JobAction, Job, JobPhase};
use crds::labels;
use crds::podgroup::PodGroup;
use crds::queue::{Queue, QueueState};
use futures_util::{StreamExt, stream};
use k8s_openapi::api::core::v1::{ConfigMap, PersistentVolumeClaim, Pod, Secret, Service};
use k8s_openapi::api::scheduling::v1::PriorityClass;
use k8s_openapi::jiff::Timestamp;
use kube::api::{Api, DeleteParams, PostParams, Preconditions, PropagationPolicy};
use kube::runtime::controller::Action;
use kube::runtime::reflector::{ObjectRef, Store};
use kube::runtime::watcher;
use kube::runtime::{Controller, WatchStreamExt, reflector};
use kube::{Resource, ResourceExt};
use tracing::{info, warn};

use super::evictions::Evictions;
use super::pod_index::PodIndex;
use super::state::{self, Observed, PodGroupAction, PodGroupView};
use super::view::PodView;
use super::{build, plugins, sshkey, volumes};
use crate::context::{Context, field_manager};
use crate::error::{Error, Result, is_already_exists, is_status};

const COMPONENT: &str = "job";
/// Concurrent pod writes of one reconcile.
const POD_WRITES: usize = 32;

/// The job controller's context: the shared one plus its pod cache.
pub struct JobContext {
    /// Shared context.
    pub ctx: Arc<Context>,
    /// Pods labelled `volcano.sh/job-name`.
    pub pods: Store<Pod>,
    /// Their names per job.
    pub index: Arc<PodIndex>,
    /// Pod deletions seen on the watch that no reconcile has planned with yet.
    pub evictions: Arc<Evictions>,
}

/// Runs the Job controller until `shutdown`.
pub async fn run(ctx: Arc<Context>, shutdown: impl Future<Output = ()> + Send + Sync + 'static) {
    let client = ctx.client.clone();
    let (reader, writer) = reflector::store();
    let pod_watch = watcher::Config::default().labels(labels::JOB_NAME);
    let evictions = Arc::new(Evictions::default());
    let seen = evictions.clone();
    let index = Arc::new(PodIndex::default());
    let indexed = index.clone();
    let pods = reflector(writer, watcher(Api::<Pod>::all(client.clone()), pod_watch))
        .default_backoff()
        .inspect(move |event| {
            if let Ok(event) = event {
                seen.observe(event);
                indexed.observe(event);
            }
        })
        .touched_objects();
    let concurrency = ctx.config.concurrency;
    let cx = Arc::new(JobContext {
        ctx,
        pods: reader,
        index,
        evictions,
    });
    let controller = Controller::new(Api::<Job>::all(client), watcher::Config::default())
        .owns_stream(pods)
        // Pods are created once the scheduler admits the PodGroup: its phase changes wake the job.
        .owns(
            Api::<PodGroup>::all(cx.ctx.client.clone()),
            watcher::Config::default(),
        )
        .with_config(kube::runtime::controller::Config::default().concurrency(concurrency));
    crate::guard::drive(
        controller,
        crate::guard::stop_signal(shutdown),
        crate::guard::guarded(COMPONENT, cx.ctx.metrics.clone(), reconcile),
        error_policy,
        cx,
    )
    .await;
}

/// Reconciles one Job.
pub async fn reconcile(job: Arc<Job>, cx: Arc<JobContext>) -> Result<Action> {
    if !cx.ctx.is_leader() {
        return Ok(Action::requeue(Duration::from_secs(2)));
    }
    let ns = job.namespace().unwrap_or_default();
    let name = job.name_any();
    let mut pods: Vec<Pod> = (cx.index.names(&ns, &name).into_iter())
        .filter_map(|pod| cx.pods.get(&ObjectRef::new(&pod).within(&ns)))
        .filter(|p| p.labels().get(labels::JOB_NAME) == Some(&name))
        .map(|p| (*p).clone())
        .collect();
    // Pods whose deletion the watch reported but the cache no longer holds: their last state.
    let ghosts: Vec<Pod> = cx
        .evictions
        .ghosts(&ns, &name)
        .into_iter()
        .filter(|g| !pods.iter().any(|p| p.uid() == g.uid()))
        .collect();
    let had_ghosts = !ghosts.is_empty();
    pods.extend(ghosts);
    sync(
        &cx.ctx,
        &ns,
        &name,
        pods,
        None,
        Some(&cx.evictions),
        &mut None,
    )
    .await
    // Look again soon: a pod that was only a ghost may need recreating.
    .map(|a| {
        if had_ghosts {
            Action::requeue(Duration::from_millis(200))
        } else {
            a
        }
    })
}

fn error_policy(job: Arc<Job>, error: &Error, cx: Arc<JobContext>) -> Action {
    crate::guard::failed(&cx.ctx, "Job", job.as_ref(), error, true)
}

/// How far [`sync`] carried a command. Once the job's status records it, the job's own
/// reconciles carry out the rest; before that a failed or conflicted step has not applied it,
/// and the Command controller tries again.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CommandProgress {
    /// The job's status now records the command, or the command changed nothing.
    Recorded,
    /// The job does not exist or is being deleted: there is nothing to apply it to.
    NoJob,
}

/// Plans and executes one step of a Job; `command` is an action from a Command object.
/// `pods` are the job's pods as known to the caller (cache or list); `evictions`, when given,
/// learns which recorded deletions this step planned with and which deletions it made itself.
/// `progress` is set once the step has recorded its outcome (see [`CommandProgress`]); it stays
/// `None` when the step stopped before (an error, a write conflict, a claim-name write first).
pub async fn sync(
    ctx: &Context,
    ns: &str,
    name: &str,
    pods: Vec<Pod>,
    command: Option<JobAction>,
    evictions: Option<&Evictions>,
    progress: &mut Option<CommandProgress>,
) -> Result<Action> {
    let client = ctx.client.clone();
    let jobs: Api<Job> = Api::namespaced(client.clone(), ns);
    let key = format!("{ns}/{name}");
    let Some(job) = jobs
        .get_opt(name)
        .await
        .map_err(|e| Error::kube("get", "Job", &key, e))?
    else {
        if let Some(e) = evictions {
            e.forget_job(ns, name);
        }
        *progress = Some(CommandProgress::NoJob);
        return Ok(Action::await_change());
    };
    if job.metadata.deletion_timestamp.is_some() {
        if let Some(e) = evictions {
            e.forget_job(ns, name);
        }
        *progress = Some(CommandProgress::NoJob);
        return Ok(Action::await_change());
    }
    // Volumes with only a claim template get a generated claim name first (Volcano writes it
    // into the spec too); the write triggers the next reconcile, which creates the claim.
    if let Some(named) = volumes::with_claim_names(&job) {
        let pp = PostParams {
            dry_run: false,
            field_manager: Some(field_manager(COMPONENT)),
        };
        return match jobs.replace(name, &pp, &named).await {
            Ok(_) => Ok(Action::requeue(Duration::from_millis(100))),
            Err(e) if is_status(&e, 409) => Ok(Action::requeue(Duration::from_millis(200))),
            Err(e) => Err(Error::kube("write claim names into", "Job", &key, e)),
        };
    }
    let uid = job.uid().unwrap_or_default();
    let pods: Vec<Pod> = pods
        .into_iter()
        .filter(|p| p.owner_references().iter().any(|o| o.uid == uid))
        .collect();
    let mut views: Vec<PodView> = pods.iter().map(PodView::from_pod).collect();
    // Deletions a committed Restarting plan still owes (a targeted restart whose delete failed):
    // the pods count as going away, so the job stays Restarting until they are gone, and the
    // plan deletes them again.
    let mut owed_here = Vec::new();
    if let Some(e) = evictions {
        let restarting = job
            .status
            .as_ref()
            .and_then(|s| s.state.as_ref())
            .and_then(|s| s.phase)
            == Some(JobPhase::Restarting);
        if restarting {
            let owed = e.owed_kills(ns, name);
            for (pod, view) in pods.iter().zip(views.iter_mut()) {
                if !view.deleting
                    && owed
                        .get(&view.name)
                        .is_some_and(|u| pod.uid().as_ref() == Some(u))
                {
                    view.deleting = true;
                    owed_here.push(view.name.clone());
                }
            }
        } else {
            e.settle_kills(ns, name);
        }
    }
    let pg_api: Api<PodGroup> = Api::namespaced(client.clone(), ns);
    let pg_name = build::podgroup_name(&job);
    let pg = pg_api
        .get_opt(&pg_name)
        .await
        .map_err(|e| Error::kube("get", "PodGroup", &pg_name, e))?;
    let pg_view = pg.as_ref().map(|pg| PodGroupView {
        phase: pg.status.as_ref().and_then(|s| s.phase),
        version: pg
            .annotations()
            .get(build::PODGROUP_VERSION)
            .and_then(|v| v.parse().ok())
            .unwrap_or(0),
    });
    let mut plan = state::plan(
        &job,
        Observed {
            pods: &views,
            podgroup: pg_view,
            command,
            now: Timestamp::now(),
        },
    );
    plan.delete_pods.extend(owed_here);
    let resources = plugins::controlled_resources(&job);
    plan.status.controlled_resources = (!resources.is_empty()).then_some(resources);
    let phase = plan
        .status
        .state
        .as_ref()
        .and_then(|s| s.phase)
        .unwrap_or_default();
    if phase == JobPhase::Pending {
        explain_closed_queue(ctx, &job, &mut plan.status).await;
    }

    if job.status.as_ref() != Some(&plan.status) {
        let mut updated = job.clone();
        updated.status = Some(plan.status.clone());
        let pp = PostParams {
            dry_run: false,
            field_manager: Some(field_manager(COMPONENT)),
        };
        match jobs.replace_status(name, &pp, &updated).await {
            Ok(_) => {}
            Err(e) if is_status(&e, 409) => return Ok(Action::requeue(Duration::from_millis(200))),
            Err(e) => return Err(Error::kube("replace status of", "Job", &key, e)),
        }
    }
    *progress = Some(CommandProgress::Recorded);
    // The plan that saw the recorded evictions is committed (or needed no write).
    if let Some(e) = evictions {
        e.consumed(ns, name, &pods);
        if phase == JobPhase::Restarting {
            e.owe_kills(
                ns,
                name,
                pods.iter()
                    .filter(|p| plan.delete_pods.contains(&p.name_any()))
                    .map(|p| (p.name_any(), p.uid().unwrap_or_default())),
            );
        }
    }
    // Announce the transition as soon as it is recorded: a side effect below that fails (an
    // injected 500 on a pod delete) returns early, and the retry finds the phase already
    // written, so an event left for later would never be published.
    if let Some(t) = &plan.transition {
        info!(job = %key, from = ?t.from, to = ?t.to, reason = %t.reason, "job phase changed");
        let warning = matches!(
            t.to,
            JobPhase::Failed | JobPhase::Aborted | JobPhase::Restarting
        );
        ctx.event(
            &job.object_ref(&()),
            warning,
            &format!("{:?}", t.to),
            &t.reason,
            t.message.clone(),
        )
        .await;
        if let Some(action) = t.action {
            ctx.event(
                &job.object_ref(&()),
                false,
                "ExecuteAction",
                &format!("{action:?}"),
                format!("Start to execute action {action:?}"),
            )
            .await;
        }
    }
    // Execute against the job as just written: pods carry the new version and retry count.
    let mut job = job;
    job.status = Some(plan.status.clone());

    match plan.podgroup {
        PodGroupAction::Ensure => ensure_podgroup(ctx, &pg_api, &job, pg.as_ref()).await?,
        PodGroupAction::Delete if pg.is_some() => {
            match pg_api.delete(&pg_name, &DeleteParams::default()).await {
                Ok(_) => {}
                Err(e) if is_status(&e, 404) => {}
                Err(e) => return Err(Error::kube("delete", "PodGroup", &pg_name, e)),
            }
        }
        _ => {}
    }
    if matches!(phase, JobPhase::Pending | JobPhase::Running) {
        ensure_plugin_objects(ctx, &job).await?;
    }

    let pod_api: Api<Pod> = Api::namespaced(client.clone(), ns);
    let doomed: Vec<String> = plan.delete_pods.iter().cloned().collect();
    if let Some(e) = evictions {
        for pod in pods
            .iter()
            .filter(|p| plan.delete_pods.contains(&p.name_any()))
        {
            e.own_delete(pod);
        }
    }
    run_all(doomed.into_iter().map(|p| delete_pod(pod_api.clone(), p))).await?;
    if let Some(e) = evictions
        && phase != JobPhase::Restarting
    {
        e.settle_kills(ns, name);
    }
    // Higher-priority tasks' pods first, each wave only once the one before exists (see
    // `build::creation_waves`); a failed create stops here and the retry resumes.
    let priorities = if plan.create_pods.is_empty() {
        BTreeMap::new()
    } else {
        task_priorities(ctx, &job).await
    };
    for wave in build::creation_waves(&job, &plan.create_pods, &priorities) {
        let mut new_pods = Vec::with_capacity(wave.len());
        for new in wave {
            let task = &job.spec.tasks[new.task];
            let mut pod = build::pod(&job, task, new.index);
            plugins::mutate_pod(&job, &super::task_name(task), new.index, &mut pod);
            new_pods.push(pod);
        }
        run_all(new_pods.into_iter().map(|p| create_pod(pod_api.clone(), p))).await?;
    }

    if plan.delete_job {
        let dp = DeleteParams {
            propagation_policy: Some(PropagationPolicy::Foreground),
            preconditions: Some(Preconditions {
                uid: Some(uid),
                resource_version: None,
            }),
            ..Default::default()
        };
        match jobs.delete(name, &dp).await {
            Ok(_) => info!(job = %key, "deleted finished job (ttlSecondsAfterFinished)"),
            Err(e) if is_status(&e, 404) => {}
            // A changed uid (the job was replaced) or a transient conflict: look again shortly.
            Err(e) if is_status(&e, 409) => return Ok(Action::requeue(Duration::from_millis(500))),
            Err(e) => return Err(Error::kube("delete", "Job", &key, e)),
        }
        return Ok(Action::await_change());
    }
    Ok(Action::requeue(
        plan.requeue_after.unwrap_or(Duration::from_secs(300)),
    ))
}

/// Runs writes with bounded concurrency; the first error wins after all finished.
async fn run_all(writes: impl Iterator<Item = impl Future<Output = Result<()>>>) -> Result<()> {
    let results: Vec<Result<()>> = stream::iter(writes)
        .buffer_unordered(POD_WRITES)
        .collect()
        .await;
    results.into_iter().collect()
}

async fn delete_pod(api: Api<Pod>, name: String) -> Result<()> {
    match api.delete(&name, &DeleteParams::default()).await {
        Ok(_) => Ok(()),
        Err(e) if is_status(&e, 404) => Ok(()),
        Err(e) => Err(Error::kube("delete", "Pod", name, e)),
    }
}

async fn create_pod(api: Api<Pod>, pod: Pod) -> Result<()> {
    let pp = PostParams {
        dry_run: false,
        field_manager: Some(field_manager(COMPONENT)),
    };
    match api.create(&pp, &pod).await {
        Ok(_) => Ok(()),
        Err(e) if is_already_exists(&e) => Ok(()),
        Err(e) => Err(Error::kube("create", "Pod", pod.name_any(), e)),
    }
}

/// A Pending job in a Closed or Closing queue says so in `status.state`.
async fn explain_closed_queue(ctx: &Context, job: &Job, status: &mut crds::job::JobStatus) {
    let queue = job
        .spec
        .queue
        .clone()
        .unwrap_or_else(|| "default".to_owned());
    let api: Api<Queue> = Api::all(ctx.client.clone());
    let Ok(Some(q)) = api.get_opt(&queue).await else {
        return;
    };
    let state = q.status.as_ref().and_then(|s| s.state).unwrap_or_default();
    if let (Some(s), QueueState::Closed | QueueState::Closing) = (status.state.as_mut(), state) {
        s.reason = Some("QueueClosed".to_owned());
        s.message = Some(format!(
            "queue {queue:?} is {state:?}: it admits no new jobs; open it with a Command (action OpenQueue) or `basalt queue open {queue}`"
        ));
    }
}

async fn ensure_podgroup(
    ctx: &Context,
    api: &Api<PodGroup>,
    job: &Job,
    current: Option<&PodGroup>,
) -> Result<()> {
    let desired = build::podgroup(job, &task_priorities(ctx, job).await);
    let name = desired.name_any();
    let pp = PostParams {
        dry_run: false,
        field_manager: Some(field_manager(COMPONENT)),
    };
    match current {
        None => match api.create(&pp, &desired).await {
            Ok(_) => Ok(()),
            Err(e) if is_already_exists(&e) => Ok(()),
            Err(e) => Err(Error::kube("create", "PodGroup", name, e)),
        },
        Some(cur) if build::podgroup_drifted(cur, &desired) => {
            let mut updated = cur.clone();
            updated.spec.min_member = desired.spec.min_member;
            updated.spec.min_task_member = desired.spec.min_task_member;
            updated.spec.min_resources = desired.spec.min_resources;
            updated.spec.priority_class_name = desired.spec.priority_class_name;
            match api.replace(&name, &pp, &updated).await {
                Ok(_) => Ok(()),
                Err(e) => Err(Error::kube("update", "PodGroup", name, e)),
            }
        }
        Some(_) => Ok(()),
    }
}

/// Values of the PriorityClasses the task templates name. A class that cannot be read counts as
/// priority 0 for `minResources`, as in Volcano (which logs and ignores it); the scheduler still
/// sees the pod's own priority.
async fn task_priorities(ctx: &Context, job: &Job) -> BTreeMap<String, i32> {
    let api: Api<PriorityClass> = Api::all(ctx.client.clone());
    let mut out = BTreeMap::new();
    let names = job
        .spec
        .tasks
        .iter()
        .filter_map(|t| {
            t.template
                .spec
                .as_ref()
                .and_then(|s| s.priority_class_name.clone())
        })
        .chain(job.spec.priority_class_name.clone());
    for name in names {
        if out.contains_key(&name) {
            continue;
        }
        match api.get_opt(&name).await {
            Ok(Some(pc)) => {
                out.insert(name, pc.value.unwrap_or(0));
            }
            Ok(None) => {}
            Err(e) => {
                warn!(priority_class = %name, error = %e, "reading a task's PriorityClass for minResources")
            }
        }
    }
    out
}

/// Creates the svc plugin's Service and ConfigMap (updating the host list on scale) and the ssh
/// plugin's Secret.
async fn ensure_plugin_objects(ctx: &Context, job: &Job) -> Result<()> {
    let ns = job.namespace().unwrap_or_default();
    let pp = PostParams {
        dry_run: false,
        field_manager: Some(field_manager(COMPONENT)),
    };
    let claim_api: Api<PersistentVolumeClaim> = Api::namespaced(ctx.client.clone(), &ns);
    for claim in volumes::claims(job) {
        if let Err(e) = claim_api.create(&pp, &claim).await
            && !is_already_exists(&e)
        {
            return Err(Error::kube(
                "create",
                "PersistentVolumeClaim",
                claim.name_any(),
                e,
            ));
        }
    }
    if let Some((svc, cm)) = plugins::svc_objects(job) {
        let svc_api: Api<Service> = Api::namespaced(ctx.client.clone(), &ns);
        if let Err(e) = svc_api.create(&pp, &svc).await
            && !is_already_exists(&e)
        {
            return Err(Error::kube("create", "Service", svc.name_any(), e));
        }
        let cm_api: Api<ConfigMap> = Api::namespaced(ctx.client.clone(), &ns);
        let cm_name = cm.name_any();
        match cm_api
            .get_opt(&cm_name)
            .await
            .map_err(|e| Error::kube("get", "ConfigMap", &cm_name, e))?
        {
            None => {
                if let Err(e) = cm_api.create(&pp, &cm).await
                    && !is_already_exists(&e)
                {
                    return Err(Error::kube("create", "ConfigMap", cm_name, e));
                }
            }
            Some(mut cur) if cur.data != cm.data => {
                cur.data = cm.data;
                if let Err(e) = cm_api.replace(&cm_name, &pp, &cur).await {
                    return Err(Error::kube("update", "ConfigMap", cm_name, e));
                }
            }
            Some(_) => {}
        }
    }
    if job
        .spec
        .plugins
        .as_ref()
        .is_some_and(|p| p.contains_key("ssh"))
    {
        let api: Api<Secret> = Api::namespaced(ctx.client.clone(), &ns);
        let secret_name = format!("{}-ssh", job.name_any());
        if api
            .get_opt(&secret_name)
            .await
            .map_err(|e| Error::kube("get", "Secret", &secret_name, e))?
            .is_none()
        {
            let keys = sshkey::generate(&job.name_any())?;
            if let Some(secret) = plugins::ssh_secret(job, &keys)
                && let Err(e) = api.create(&pp, &secret).await
                && !is_already_exists(&e)
            {
                return Err(Error::kube("create", "Secret", secret_name, e));
            }
        }
    }
    Ok(())
}
