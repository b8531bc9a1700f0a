//! Job construction for a flow step: the JobTemplate named after the step (or the flow's inline
//! `spec.jobTemplate`), `patch.jobSpec` merged on top, Volcano's labels and annotations, the
//! attempt bookkeeping and a controller owner reference to the JobFlow. Pure: no I/O.
//!
//! Merge semantics of `patch.jobSpec` (strategic-like, see docs/jobflow.md): objects merge key
//! by key; an array whose elements all carry a `name` (tasks, containers, env, volumes, ...) merges
//! element by element matched on `name`, unmatched patch elements are appended; any other array
//! replaces the template's; an empty array in the patch changes nothing (the typed API cannot
//! tell an empty list from an absent one). A patch cannot remove a field.

use std::collections::BTreeMap;

use crds::job::{Job, JobSpec};
use crds::jobflow::{Flow, InlineJobTemplate, JobFlow};
use crds::jobtemplate::JobTemplate;
use crds::labels;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{ObjectMeta, OwnerReference};
use kube::ResourceExt;
use serde_json::Value;

use super::{ATTEMPT, FlowError, JOB_RETRY_ROUND, STEP};

/// Where a step's Job spec comes from.
#[derive(Clone, Copy, Debug)]
pub enum TemplateSource<'a> {
    /// The JobTemplate object named after the step.
    Object(&'a JobTemplate),
    /// The flow's inline `spec.jobTemplate`.
    Inline(&'a InlineJobTemplate),
}

/// Job name of a step: `<flow>-<step>`.
pub fn job_name(flow: &str, step: &str) -> String {
    format!("{flow}-{step}")
}

/// Value of `volcano.sh/createdByJobFlow` (and `createdByJobTemplate`): `<namespace>.<name>`.
pub fn created_by(namespace: &str, name: &str) -> String {
    format!("{namespace}.{name}")
}

/// Owner reference making the JobFlow the controller of its Jobs (deleting it deletes them).
pub fn owner(flow: &JobFlow) -> OwnerReference {
    OwnerReference {
        api_version: "flow.volcano.sh/v1alpha1".to_owned(),
        kind: "JobFlow".to_owned(),
        name: flow.name_any(),
        uid: flow.uid().unwrap_or_default(),
        controller: Some(true),
        block_owner_deletion: Some(true),
    }
}

/// The Job of `step` for `attempt` (1-based) created in retry round `round`.
pub fn step_job(
    flow: &JobFlow,
    step: &Flow,
    source: TemplateSource<'_>,
    attempt: u32,
    round: u32,
) -> Result<Job, FlowError> {
    let ns = flow.namespace().unwrap_or_default();
    let flow_name = flow.name_any();
    let (base, mut labels_map, mut annotations) = match source {
        TemplateSource::Object(t) => (t.spec.job.clone(), BTreeMap::new(), BTreeMap::new()),
        TemplateSource::Inline(t) => {
            let meta = t.metadata.clone().unwrap_or_default();
            (
                t.spec.clone(),
                meta.labels.unwrap_or_default(),
                meta.annotations.unwrap_or_default(),
            )
        }
    };
    let spec = match step.patch.as_ref().and_then(|p| p.job_spec.as_ref()) {
        Some(patch) => merge_spec(&base, patch).map_err(|message| FlowError::BadPatch {
            flow: flow_name.clone(),
            step: step.name.clone(),
            message,
        })?,
        None => base,
    };
    let spec = run_to_completion(spec);
    let by_flow = created_by(&ns, &flow_name);
    for map in [&mut labels_map, &mut annotations] {
        map.insert(labels::CREATED_BY_JOB_FLOW.to_owned(), by_flow.clone());
        if let TemplateSource::Object(t) = source {
            map.insert(
                labels::CREATED_BY_JOB_TEMPLATE.to_owned(),
                created_by(&ns, &t.name_any()),
            );
        }
    }
    labels_map.insert(
        labels::MANAGED_BY.to_owned(),
        labels::MANAGED_BY_VALUE.to_owned(),
    );
    labels_map.insert(STEP.to_owned(), step.name.clone());
    annotations.insert(ATTEMPT.to_owned(), attempt.to_string());
    annotations.insert(JOB_RETRY_ROUND.to_owned(), round.to_string());
    Ok(Job {
        metadata: ObjectMeta {
            name: Some(job_name(&flow_name, &step.name)),
            namespace: Some(ns),
            labels: Some(labels_map),
            annotations: Some(annotations),
            owner_references: Some(vec![owner(flow)]),
            ..Default::default()
        },
        spec,
        status: None,
    })
}

/// A pipeline step runs to completion: pods whose template leaves `restartPolicy` empty get
/// `Never` (Kubernetes would default it to `Always`, and a step whose container exits 0 would then
/// restart forever and its flow never finish — the article's manifest is written that way).
/// Failures are retried by the flow's `retryPolicy`, a whole new Job per attempt. An explicit
/// `restartPolicy` is kept.
fn run_to_completion(mut spec: JobSpec) -> JobSpec {
    for task in &mut spec.tasks {
        if let Some(pod) = task.template.spec.as_mut()
            && pod.restart_policy.is_none()
        {
            pod.restart_policy = Some("Never".to_owned());
        }
    }
    spec
}

/// `patch` merged over `base` with the semantics in the module docs.
pub fn merge_spec(base: &JobSpec, patch: &JobSpec) -> Result<JobSpec, String> {
    let mut merged = serde_json::to_value(base).map_err(|e| e.to_string())?;
    let patch = serde_json::to_value(patch).map_err(|e| e.to_string())?;
    merge(&mut merged, &patch);
    serde_json::from_value(merged).map_err(|e| e.to_string())
}

/// Recursive merge of JSON values (see the module docs).
pub fn merge(base: &mut Value, patch: &Value) {
    match (base, patch) {
        (Value::Object(b), Value::Object(p)) => {
            for (k, pv) in p {
                match b.get_mut(k) {
                    Some(bv) => merge(bv, pv),
                    None => {
                        b.insert(k.clone(), pv.clone());
                    }
                }
            }
        }
        (Value::Array(_), Value::Array(p)) if p.is_empty() => {}
        (Value::Array(b), Value::Array(p)) if named(b) && named(p) => {
            for pv in p {
                let name = pv.get("name");
                match b.iter_mut().find(|bv| bv.get("name") == name) {
                    Some(bv) => merge(bv, pv),
                    None => b.push(pv.clone()),
                }
            }
        }
        (b, p) => *b = p.clone(),
    }
}

fn named(items: &[Value]) -> bool {
    items
        .iter()
        .all(|v| v.get("name").is_some_and(Value::is_string))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn flow(text: &str) -> JobFlow {
        let mut f: JobFlow = serde_saphyr::from_str(text).unwrap();
        f.metadata.namespace = Some("ml".into());
        f.metadata.uid = Some("uid-1".into());
        f
    }

    #[test]
    fn steps_without_a_restart_policy_run_to_completion() {
        // The article's manifest as users bring it (no restartPolicy in its template).
        let text = include_str!("../../../examples/article/07-credit-ml-pipeline-jobflow.yaml");
        let f = flow(text);
        let inline = f.spec.job_template.as_ref().unwrap();
        for step in f.spec.flows.as_ref().unwrap() {
            let job = step_job(&f, step, TemplateSource::Inline(inline), 1, 0).unwrap();
            let pod = job.spec.tasks[0].template.spec.as_ref().unwrap();
            assert_eq!(pod.restart_policy.as_deref(), Some("Never"));
        }
        let mut explicit = inline.clone();
        let pod = explicit.spec.tasks[0].template.spec.as_mut().unwrap();
        pod.restart_policy = Some("OnFailure".into());
        let step = &f.spec.flows.as_ref().unwrap()[0];
        let job = step_job(&f, step, TemplateSource::Inline(&explicit), 1, 0).unwrap();
        let pod = job.spec.tasks[0].template.spec.as_ref().unwrap();
        assert_eq!(pod.restart_policy.as_deref(), Some("OnFailure"));
    }

    #[test]
    fn inline_template_builds_flow_step_jobs() {
        let f = flow(include_str!(
            "../../../examples/07-credit-ml-pipeline-jobflow.yaml"
        ));
        let step = &f.spec.flows.as_ref().unwrap()[3];
        let inline = f.spec.job_template.as_ref().unwrap();
        let job = step_job(&f, step, TemplateSource::Inline(inline), 2, 0).unwrap();
        assert_eq!(job.name_any(), "credit-ml-pipeline-model-training");
        assert_eq!(
            job.labels()[labels::CREATED_BY_JOB_FLOW],
            "ml.credit-ml-pipeline"
        );
        assert_eq!(
            job.annotations()[labels::CREATED_BY_JOB_FLOW],
            "ml.credit-ml-pipeline"
        );
        assert!(!job.labels().contains_key(labels::CREATED_BY_JOB_TEMPLATE));
        assert_eq!(job.annotations()[ATTEMPT], "2");
        let pod = job.spec.tasks[0].template.spec.as_ref().unwrap();
        assert_eq!(
            pod.restart_policy.as_deref(),
            Some("Never"),
            "examples/07 says Never"
        );
        assert_eq!(job.labels()[labels::MANAGED_BY], "basalt");
        let owner = &job.owner_references()[0];
        assert_eq!(
            (owner.kind.as_str(), owner.uid.as_str(), owner.controller),
            ("JobFlow", "uid-1", Some(true))
        );
        assert_eq!(job.spec, inline.spec);
    }

    #[test]
    fn jobtemplate_and_patch_merge_by_task_name() {
        let docs: Vec<serde_json::Value> = serde_saphyr::from_multiple(include_str!(
            "../../../examples/jobtemplate-and-flow.yaml"
        ))
        .unwrap();
        let train: JobTemplate = serde_json::from_value(docs[1].clone()).unwrap();
        let f: JobFlow = serde_json::from_value(docs[2].clone()).unwrap();
        let mut f = f;
        f.metadata.namespace = Some("default".into());
        let step = &f.spec.flows.as_ref().unwrap()[1];
        let job = step_job(&f, step, TemplateSource::Object(&train), 1, 0).unwrap();
        assert_eq!(
            job.labels()[labels::CREATED_BY_JOB_TEMPLATE],
            "default.train"
        );
        assert_eq!(job.spec.tasks.len(), 1);
        let task = &job.spec.tasks[0];
        assert_eq!(task.replicas, Some(2));
        let containers = &task.template.spec.as_ref().unwrap().containers;
        assert_eq!(containers.len(), 1, "containers merge by name");
        // The template's GPU limit survives a patch that does not mention resources.
        assert!(
            containers[0]
                .resources
                .as_ref()
                .unwrap()
                .limits
                .as_ref()
                .unwrap()
                .contains_key("nvidia.com/gpu")
        );
        assert_eq!(job.spec.min_available, Some(2));
    }

    #[test]
    fn merge_rules() {
        let mut base = json!({"tasks": [{"name": "a", "replicas": 1}, {"name": "b"}], "queue": "q", "args": ["x"]});
        merge(
            &mut base,
            &json!({"tasks": [{"name": "b", "replicas": 3}, {"name": "c"}], "args": ["y", "z"], "plugins": {}}),
        );
        assert_eq!(
            base,
            json!({"tasks": [{"name": "a", "replicas": 1}, {"name": "b", "replicas": 3}, {"name": "c"}],
                   "queue": "q", "args": ["y", "z"], "plugins": {}})
        );
        let mut base = json!({"tasks": [{"name": "a"}]});
        merge(&mut base, &json!({"tasks": []}));
        assert_eq!(base, json!({"tasks": [{"name": "a"}]}));
    }
}
