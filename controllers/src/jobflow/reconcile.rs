//! JobFlow I/O: reads the flow's Jobs fresh from the API, asks [`super::plan`] what to do, then
//! writes in a crash-safe order: status first (with the flow's resourceVersion, so a stale plan
//! fails before it touches a Job), then deletes of failed Jobs being retried, then creates
//! (a 409 means an earlier run already created it). [`run`] also starts the `RetryJobFlow`
//! Command consumer of [`super::retry`].

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;
use std::time::Duration;

use crds::command::Command;
use crds::job::Job;
use crds::jobflow::{FlowPhase, JobFlow};
use crds::jobtemplate::JobTemplate;
use crds::labels;
use k8s_openapi::api::core::v1::Pod;
use k8s_openapi::jiff::Timestamp;
use kube::api::{Api, DeleteParams, ListParams, PostParams, Preconditions};
use kube::runtime::controller::Action;
use kube::runtime::{Controller, watcher};
use kube::{Resource, ResourceExt};
use tracing::{info, instrument, warn};

use super::build::{TemplateSource, created_by, job_name, step_job};
use super::dag::Dag;
use super::plan::{Input, ObservedJob, Plan, StepState, plan};
use super::probe::{self, Target};
use super::{FlowError, RETRY_ROUND, STEP};
use crate::context::{Context, field_manager};
use crate::error::{Error, Result, is_already_exists, is_status};

const COMPONENT: &str = "jobflow";
/// Safety resync: a flow is looked at at least this often even without events.
const RESYNC: Duration = Duration::from_secs(60);
/// How soon a flow waiting for a user fix (missing template, bad patch) is looked at again.
const USER_FIX_RETRY: Duration = Duration::from_secs(10);

/// Runs the JobFlow controller and the `RetryJobFlow` Command consumer until `shutdown`.
pub async fn run(ctx: Arc<Context>, shutdown: impl Future<Output = ()> + Send + Sync + 'static) {
    let client = ctx.client.clone();
    let stop = crate::guard::stop_signal(shutdown);
    let jobs = watcher::Config::default().labels(labels::CREATED_BY_JOB_FLOW);
    let flows = crate::guard::drive(
        Controller::new(
            Api::<JobFlow>::all(client.clone()),
            watcher::Config::default(),
        )
        .owns(Api::<Job>::all(client.clone()), jobs),
        stop.clone(),
        crate::guard::guarded(COMPONENT, ctx.metrics.clone(), reconcile),
        error_policy,
        ctx.clone(),
    );
    let commands = crate::guard::drive(
        Controller::new(Api::<Command>::all(client), watcher::Config::default()),
        stop,
        crate::guard::guarded(
            "jobflow-command",
            ctx.metrics.clone(),
            super::retry::reconcile_command,
        ),
        super::retry::command_error_policy,
        ctx,
    );
    tokio::join!(flows, commands);
}

/// Reconciles one JobFlow.
pub async fn reconcile(flow: Arc<JobFlow>, ctx: Arc<Context>) -> Result<Action> {
    if !ctx.is_leader() {
        return Ok(Action::requeue(Duration::from_secs(2)));
    }
    fresh_sync(&ctx, &flow).await
}

/// Decides on the flow as the API server has it now: the watch cache can lag behind this
/// controller's own status write, and a stale ledger would re-create a retried step with a
/// stale attempt number.
async fn fresh_sync(ctx: &Context, cached: &JobFlow) -> Result<Action> {
    let ns = cached.namespace().unwrap_or_default();
    let name = cached.name_any();
    let api: Api<JobFlow> = Api::namespaced(ctx.client.clone(), &ns);
    match api.get_opt(&name).await {
        Ok(Some(flow)) => sync(ctx, &flow).await,
        Ok(None) => Ok(Action::await_change()),
        Err(e) => Err(Error::kube("get", "JobFlow", format!("{ns}/{name}"), e)),
    }
}

#[instrument(skip_all, fields(flow = %flow.name_any(), ns = ?flow.namespace()))]
async fn sync(ctx: &Context, flow: &JobFlow) -> Result<Action> {
    let ns = flow.namespace().unwrap_or_default();
    let name = flow.name_any();
    let dag = match Dag::build(&name, &flow.spec) {
        Ok(d) => d,
        Err(e) => return invalid(ctx, flow, e).await,
    };
    let jobs_api: Api<Job> = Api::namespaced(ctx.client.clone(), &ns);
    let lp = ListParams::default().labels(&format!(
        "{}={}",
        labels::CREATED_BY_JOB_FLOW,
        created_by(&ns, &name)
    ));
    let listed = jobs_api
        .list(&lp)
        .await
        .map_err(|e| Error::kube("list", "Job", format!("{ns}/{name}"), e))?;
    let uid = flow.uid();
    let by_step: BTreeMap<String, Job> = listed
        .items
        .into_iter()
        .filter(|j| {
            j.owner_references()
                .iter()
                .any(|o| Some(&o.uid) == uid.as_ref())
        })
        .filter_map(|j| Some((j.labels().get(STEP)?.clone(), j)))
        .filter(|(step, _)| dag.steps.contains(step))
        .collect();
    let observed: BTreeMap<String, ObservedJob> = by_step
        .iter()
        .map(|(s, j)| (s.clone(), ObservedJob::from_job(j)))
        .collect();
    let previous = flow.status.clone().unwrap_or_default();
    let round = flow
        .annotations()
        .get(RETRY_ROUND)
        .and_then(|r| r.parse().ok())
        .unwrap_or(0);
    let none = BTreeSet::new();
    let mut input = Input {
        flow: &name,
        spec: &flow.spec,
        dag: &dag,
        jobs: &observed,
        previous: &previous,
        round,
        deleting: flow.metadata.deletion_timestamp.is_some(),
        probes_passed: &none,
        now: Timestamp::now(),
    };
    let first = plan(&input);
    let waiting: Vec<String> = first
        .steps_where(|s| *s == StepState::AwaitingProbe)
        .map(str::to_owned)
        .collect();
    let passed = if waiting.is_empty() {
        none.clone()
    } else {
        run_probes(ctx, flow, &dag, &by_step, &waiting).await?
    };
    let decision = if passed.is_empty() {
        first
    } else {
        input.probes_passed = &passed;
        plan(&input)
    };
    let hint = execute(ctx, flow, &decision, &by_step).await?;
    let delay = [decision.requeue, hint]
        .into_iter()
        .flatten()
        .fold(RESYNC, Duration::min);
    Ok(Action::requeue(delay))
}

/// A flow whose DAG is invalid is Failed (never stuck Pending) with a Warning event.
async fn invalid(ctx: &Context, flow: &JobFlow, e: FlowError) -> Result<Action> {
    let mut status = flow.status.clone().unwrap_or_default();
    if status.state.as_ref().and_then(|s| s.phase) != Some(FlowPhase::Failed) {
        status.state = super::plan::flow_state(FlowPhase::Failed);
        write_status(ctx, flow, status).await?;
        ctx.event(
            &flow.object_ref(&()),
            true,
            "InvalidFlow",
            "Validate",
            e.to_string(),
        )
        .await;
    }
    Ok(Action::await_change())
}

async fn run_probes(
    ctx: &Context,
    flow: &JobFlow,
    dag: &Dag,
    jobs: &BTreeMap<String, Job>,
    steps: &[String],
) -> Result<BTreeSet<String>> {
    let ns = flow.namespace().unwrap_or_default();
    let pods_api: Api<Pod> = Api::namespaced(ctx.client.clone(), &ns);
    let mut passed = BTreeSet::new();
    for step in steps {
        let Some(probe) = flow
            .spec
            .flows
            .iter()
            .flatten()
            .find(|f| &f.name == step)
            .and_then(|f| f.depends_on.as_ref()?.probe.as_ref())
        else {
            continue;
        };
        let targets: Vec<Target> = dag
            .targets_of(step)
            .iter()
            .map(|t| Target {
                job: job_name(&flow.name_any(), t),
                tasks: jobs
                    .get(t)
                    .and_then(|j| j.status.as_ref()?.task_status_count.clone())
                    .unwrap_or_default(),
            })
            .collect();
        let mut pods = Vec::new();
        if probe.http_get_list.is_some() || probe.tcp_socket_list.is_some() {
            for t in &targets {
                let lp = ListParams::default().labels(&format!("{}={}", labels::JOB_NAME, t.job));
                let list = pods_api
                    .list(&lp)
                    .await
                    .map_err(|e| Error::kube("list", "Pod", format!("{ns}/{}", t.job), e))?;
                pods.extend(list.items);
            }
        }
        match probe::failure(probe, &targets, &pods).await {
            None => {
                passed.insert(step.clone());
            }
            Some(why) => info!(flow = %flow.name_any(), step, why, "probe not passing yet"),
        }
    }
    Ok(passed)
}

/// Writes the plan; returns an extra requeue hint.
async fn execute(
    ctx: &Context,
    flow: &JobFlow,
    decision: &Plan,
    jobs: &BTreeMap<String, Job>,
) -> Result<Option<Duration>> {
    let ns = flow.namespace().unwrap_or_default();
    let name = flow.name_any();
    let reference = flow.object_ref(&());
    let before = flow
        .status
        .as_ref()
        .and_then(|s| s.state.as_ref())
        .and_then(|s| s.phase);
    if flow.status.as_ref() != Some(&decision.status) {
        write_status(ctx, flow, decision.status.clone()).await?;
    }
    let after = decision.status.state.as_ref().and_then(|s| s.phase);
    if before != after {
        let phase = after.unwrap_or_default();
        let note = format!("jobflow {name:?} is {phase:?}");
        ctx.event(
            &reference,
            phase == FlowPhase::Failed,
            &format!("{phase:?}"),
            "Sync",
            note,
        )
        .await;
    }
    let api: Api<Job> = Api::namespaced(ctx.client.clone(), &ns);
    let mut hint = None;
    for (step, state) in &decision.steps {
        match state {
            StepState::Retry => {
                let Some(job) = jobs.get(step) else { continue };
                if job.metadata.deletion_timestamp.is_some() {
                    continue;
                }
                // Foreground: the Job disappears only after its pods, whose names the next attempt reuses.
                let dp = DeleteParams {
                    preconditions: Some(Preconditions {
                        uid: job.uid(),
                        resource_version: None,
                    }),
                    ..DeleteParams::foreground()
                };
                match api.delete(&job.name_any(), &dp).await {
                    Ok(_) => {
                        let note = format!(
                            "step {step:?} failed; retrying it (the retry is counted in status.jobStatusList)"
                        );
                        ctx.event(&reference, true, "StepRetry", "Retry", note)
                            .await;
                    }
                    Err(e) if is_status(&e, 404) => {}
                    // A replaced Job (uid precondition) or a transient conflict: look again soon
                    // rather than waiting for the long requeue.
                    Err(e) if is_status(&e, 409) => hint = Some(Duration::from_millis(500)),
                    Err(e) => {
                        return Err(Error::kube(
                            "delete",
                            "Job",
                            format!("{ns}/{}", job.name_any()),
                            e,
                        ));
                    }
                }
            }
            StepState::Create(attempt) => {
                if let Some(d) = create_step(ctx, flow, step, *attempt, &api).await? {
                    hint = Some(d);
                }
            }
            StepState::Exhausted(phase) if before != after => {
                let note = format!(
                    "step {step:?} ended {phase:?} with no retries left; resume with `basalt flow retry {name}`"
                );
                ctx.event(&reference, true, "StepFailed", "Sync", note)
                    .await;
            }
            _ => {}
        }
    }
    if decision.delete_all {
        for job in jobs.values() {
            match api
                .delete(&job.name_any(), &DeleteParams::background())
                .await
            {
                Ok(_) => {}
                Err(e) if is_status(&e, 404) => {}
                Err(e) => {
                    return Err(Error::kube(
                        "delete",
                        "Job",
                        format!("{ns}/{}", job.name_any()),
                        e,
                    ));
                }
            }
        }
        info!(flow = %name, "jobRetainPolicy delete: removed the flow's Jobs");
    }
    Ok(hint)
}

/// Creates a step's Job; `Some(delay)` asks to look again (a template is missing or invalid:
/// a user error reported as a Warning event, not a reconcile failure).
async fn create_step(
    ctx: &Context,
    flow: &JobFlow,
    step: &str,
    attempt: u32,
    api: &Api<Job>,
) -> Result<Option<Duration>> {
    let ns = flow.namespace().unwrap_or_default();
    let name = flow.name_any();
    let templates: Api<JobTemplate> = Api::namespaced(ctx.client.clone(), &ns);
    let object = match templates.get_opt(step).await {
        Ok(t) => t,
        Err(e) => return Err(Error::kube("get", "JobTemplate", format!("{ns}/{step}"), e)),
    };
    let source = match (&object, &flow.spec.job_template) {
        (Some(t), _) => TemplateSource::Object(t),
        (None, Some(inline)) => TemplateSource::Inline(inline),
        (None, None) => {
            let e = FlowError::MissingTemplate {
                flow: name.clone(),
                step: step.to_owned(),
                namespace: ns.clone(),
            };
            warn!(flow = %name, step, error = %e, "step has no template");
            ctx.event(
                &flow.object_ref(&()),
                true,
                "MissingTemplate",
                "CreateJob",
                e.to_string(),
            )
            .await;
            return Ok(Some(USER_FIX_RETRY));
        }
    };
    let Some(f) = flow.spec.flows.iter().flatten().find(|f| f.name == step) else {
        return Ok(None);
    };
    let round = flow
        .annotations()
        .get(RETRY_ROUND)
        .and_then(|r| r.parse().ok())
        .unwrap_or(0);
    let job = match step_job(flow, f, source, attempt, round) {
        Ok(j) => j,
        Err(e) => {
            warn!(flow = %name, step, error = %e, "step patch is invalid");
            ctx.event(
                &flow.object_ref(&()),
                true,
                "InvalidPatch",
                "CreateJob",
                e.to_string(),
            )
            .await;
            return Ok(Some(USER_FIX_RETRY));
        }
    };
    let pp = PostParams {
        dry_run: false,
        field_manager: Some(field_manager(COMPONENT)),
    };
    match api.create(&pp, &job).await {
        Ok(_) => {
            info!(flow = %name, step, attempt, "created step job");
            let note = format!(
                "created Job {:?} for step {step:?} (attempt {attempt})",
                job.name_any()
            );
            ctx.event(
                &flow.object_ref(&()),
                false,
                "StepStarted",
                "CreateJob",
                note,
            )
            .await;
            Ok(None)
        }
        // Deterministic names: an earlier (possibly crashed) reconcile already created it.
        Err(e) if is_already_exists(&e) => Ok(None),
        Err(e) => Err(Error::kube(
            "create",
            "Job",
            format!("{ns}/{}", job.name_any()),
            e,
        )),
    }
}

/// Replaces the status with the flow's resourceVersion: a concurrent change fails with 409.
async fn write_status(
    ctx: &Context,
    flow: &JobFlow,
    status: crds::jobflow::JobFlowStatus,
) -> Result<()> {
    let ns = flow.namespace().unwrap_or_default();
    let api: Api<JobFlow> = Api::namespaced(ctx.client.clone(), &ns);
    let mut object = flow.clone();
    object.metadata.managed_fields = None;
    object.status = Some(status);
    let pp = PostParams {
        dry_run: false,
        field_manager: Some(field_manager(COMPONENT)),
    };
    api.replace_status(&flow.name_any(), &pp, &object)
        .await
        .map(|_| ())
        .map_err(|e| {
            Error::kube(
                "replace status of",
                "JobFlow",
                format!("{ns}/{}", flow.name_any()),
                e,
            )
        })
}

fn error_policy(flow: Arc<JobFlow>, error: &Error, ctx: Arc<Context>) -> Action {
    crate::guard::failed(&ctx, "JobFlow", flow.as_ref(), error, true)
}
