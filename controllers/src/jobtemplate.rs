//! The JobTemplate controller: keeps `status.jobDependsOnList`, the names of the Jobs created
//! from the template (label `volcano.sh/createdByJobTemplate=<namespace>.<template>`), sorted.
//! It never changes Jobs: template edits do not propagate to Jobs already created.

use std::sync::Arc;
use std::time::Duration;

use crds::job::Job;
use crds::jobtemplate::JobTemplate;
use crds::labels;
use kube::ResourceExt;
use kube::api::{Api, ListParams, Patch, PatchParams};
use kube::runtime::controller::Action;
use kube::runtime::reflector::ObjectRef;
use kube::runtime::{Controller, watcher};

use crate::context::{Context, field_manager};
use crate::error::{Error, Result};

const COMPONENT: &str = "jobtemplate";

/// Pure: the template a Job was created from, by its `createdByJobTemplate` label.
pub fn template_of(job: &Job) -> Option<ObjectRef<JobTemplate>> {
    let ns = job.namespace()?;
    let value = job.labels().get(labels::CREATED_BY_JOB_TEMPLATE)?;
    let name = value.strip_prefix(&format!("{ns}."))?;
    Some(ObjectRef::new(name).within(&ns))
}

/// Pure: the sorted Job names for `status.jobDependsOnList`.
pub fn depends_on_list(jobs: &[Job]) -> Vec<String> {
    let mut names: Vec<String> = jobs.iter().map(ResourceExt::name_any).collect();
    names.sort();
    names.dedup();
    names
}

/// Runs the JobTemplate controller until `shutdown`.
pub async fn run(ctx: Arc<Context>, shutdown: impl Future<Output = ()> + Send + Sync + 'static) {
    let client = ctx.client.clone();
    let jobs = watcher::Config::default().labels(labels::CREATED_BY_JOB_TEMPLATE);
    let controller = Controller::new(
        Api::<JobTemplate>::all(client.clone()),
        watcher::Config::default(),
    )
    .watches(Api::<Job>::all(client), jobs, |job| template_of(&job));
    crate::guard::drive(
        controller,
        crate::guard::stop_signal(shutdown),
        crate::guard::guarded(COMPONENT, ctx.metrics.clone(), reconcile),
        error_policy,
        ctx,
    )
    .await;
}

async fn reconcile(template: Arc<JobTemplate>, ctx: Arc<Context>) -> Result<Action> {
    if !ctx.is_leader() {
        return Ok(Action::requeue(Duration::from_secs(2)));
    }
    let ns = template.namespace().unwrap_or_default();
    let name = template.name_any();
    let jobs: Api<Job> = Api::namespaced(ctx.client.clone(), &ns);
    let selector = format!("{}={ns}.{name}", labels::CREATED_BY_JOB_TEMPLATE);
    let result = async {
        let list = jobs
            .list(&ListParams::default().labels(&selector))
            .await
            .map_err(|e| Error::kube("list", "Job", format!("{ns}/{selector}"), e))?;
        let desired = depends_on_list(&list.items);
        let current = template
            .status
            .as_ref()
            .and_then(|s| s.job_depends_on_list.clone())
            .unwrap_or_default();
        if desired != current || template.status.is_none() {
            let api: Api<JobTemplate> = Api::namespaced(ctx.client.clone(), &ns);
            let patch = serde_json::json!({"status": {"jobDependsOnList": desired}});
            let pp = PatchParams {
                field_manager: Some(field_manager(COMPONENT)),
                ..Default::default()
            };
            api.patch_status(&name, &pp, &Patch::Merge(&patch))
                .await
                .map_err(|e| {
                    Error::kube("patch status of", "JobTemplate", format!("{ns}/{name}"), e)
                })?;
        }
        Ok(())
    }
    .await;
    result.map(|()| Action::requeue(Duration::from_secs(300)))
}

fn error_policy(template: Arc<JobTemplate>, error: &Error, ctx: Arc<Context>) -> Action {
    crate::guard::failed(&ctx, "JobTemplate", template.as_ref(), error, false)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn jobs_map_to_their_template() {
        let job: Job = serde_json::from_value(serde_json::json!({
            "apiVersion": "batch.volcano.sh/v1alpha1", "kind": "Job",
            "metadata": {"name": "flow-train", "namespace": "ml", "labels": {labels::CREATED_BY_JOB_TEMPLATE: "ml.train"}},
            "spec": {"tasks": []}
        }))
        .unwrap();
        let r = template_of(&job).unwrap();
        assert_eq!(
            (r.name.as_str(), r.namespace.as_deref()),
            ("train", Some("ml"))
        );
        let mut other = job.clone();
        other.metadata.namespace = Some("other".into());
        assert!(
            template_of(&other).is_none(),
            "a label naming another namespace is ignored"
        );
        let mut b = job.clone();
        b.metadata.name = Some("a-job".into());
        assert_eq!(
            depends_on_list(&[job.clone(), b, job]),
            ["a-job", "flow-train"]
        );
    }
}
