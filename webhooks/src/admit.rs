//! The decision for one AdmissionReview on one route: parse, dispatch by route and operation,
//! run the pure rules, build the response. Never panics outward: a panic inside a rule becomes
//! a denial naming the route, so the API server always receives a well-formed review.

use std::panic::{AssertUnwindSafe, catch_unwind};

use crds::{Job, JobFlow, JobTemplate, PodGroup, Queue};
use serde::de::DeserializeOwned;
use serde_json::{Value, json};

use crate::mutate::{default_job, default_podgroup, default_queue};
use crate::report::Report;
use crate::review::{AdmissionRequest, BadReview, Operation, PatchOp, Verdict, parse};
use crate::state::ClusterState;
use crate::validate::{flow, job, podgroup, queue, update};

/// One admission endpoint: a kind and what is done to it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Route {
    /// Defaults for Jobs (CREATE).
    JobMutate,
    /// Job rules and quota (CREATE, UPDATE).
    JobValidate,
    /// Defaults for Queues (CREATE).
    QueueMutate,
    /// Queue rules (CREATE, UPDATE, DELETE).
    QueueValidate,
    /// The namespace's queue for PodGroups of the default queue (CREATE).
    PodGroupMutate,
    /// PodGroup rules (CREATE).
    PodGroupValidate,
    /// JobFlow rules (CREATE, UPDATE).
    JobFlowValidate,
    /// JobTemplate rules (CREATE, UPDATE).
    JobTemplateValidate,
}

impl Route {
    /// Every route, in registration order.
    pub const ALL: [Route; 8] = [
        Route::JobMutate,
        Route::JobValidate,
        Route::QueueMutate,
        Route::QueueValidate,
        Route::PodGroupMutate,
        Route::PodGroupValidate,
        Route::JobFlowValidate,
        Route::JobTemplateValidate,
    ];

    /// HTTP path (Volcano's names).
    pub fn path(self) -> &'static str {
        match self {
            Route::JobMutate => "/jobs/mutate",
            Route::JobValidate => "/jobs/validate",
            Route::QueueMutate => "/queues/mutate",
            Route::QueueValidate => "/queues/validate",
            Route::PodGroupMutate => "/podgroups/mutate",
            Route::PodGroupValidate => "/podgroups/validate",
            Route::JobFlowValidate => "/jobflows/validate",
            Route::JobTemplateValidate => "/jobtemplates/validate",
        }
    }

    /// The kind this route admits.
    pub fn kind(self) -> &'static str {
        match self {
            Route::JobMutate | Route::JobValidate => "Job",
            Route::QueueMutate | Route::QueueValidate => "Queue",
            Route::PodGroupMutate | Route::PodGroupValidate => "PodGroup",
            Route::JobFlowValidate => "JobFlow",
            Route::JobTemplateValidate => "JobTemplate",
        }
    }

    /// API group and plural resource of the kind.
    pub fn resource(self) -> (&'static str, &'static str, &'static str) {
        match self {
            Route::JobMutate | Route::JobValidate => ("batch.volcano.sh", "v1alpha1", "jobs"),
            Route::QueueMutate | Route::QueueValidate => {
                ("scheduling.volcano.sh", "v1beta1", "queues")
            }
            Route::PodGroupMutate | Route::PodGroupValidate => {
                ("scheduling.volcano.sh", "v1beta1", "podgroups")
            }
            Route::JobFlowValidate => ("flow.volcano.sh", "v1alpha1", "jobflows"),
            Route::JobTemplateValidate => ("flow.volcano.sh", "v1alpha1", "jobtemplates"),
        }
    }

    /// Operations registered for this route.
    pub fn operations(self) -> &'static [&'static str] {
        match self {
            Route::JobMutate
            | Route::QueueMutate
            | Route::PodGroupMutate
            | Route::PodGroupValidate => &["CREATE"],
            Route::QueueValidate => &["CREATE", "UPDATE", "DELETE"],
            Route::JobValidate | Route::JobFlowValidate | Route::JobTemplateValidate => {
                &["CREATE", "UPDATE"]
            }
        }
    }

    /// Whether this route mutates.
    pub fn is_mutating(self) -> bool {
        matches!(
            self,
            Route::JobMutate | Route::QueueMutate | Route::PodGroupMutate
        )
    }
}

/// Reviews `body` on `route`: `Err` when the body is not an AdmissionReview (answer 400),
/// otherwise the response review (always well-formed, echoing the request uid) and whether it
/// allowed. `scheduler` is the name Job defaults use.
pub fn review(
    route: Route,
    body: &[u8],
    state: &dyn ClusterState,
    scheduler: &str,
) -> Result<(Value, bool), BadReview> {
    let request = parse(body)?;
    let verdict = catch_unwind(AssertUnwindSafe(|| decide(route, &request, state, scheduler))).unwrap_or_else(|_| {
        Verdict::deny(format!(
            "internal error in the {} webhook while reviewing {} {:?}; please report it with the object that triggered it",
            route.path(),
            route.kind(),
            request.name
        ))
    });
    let allowed = verdict.denied.is_none();
    Ok((verdict.into_review(&request.uid), allowed))
}

/// The pure decision for a parsed request.
pub fn decide(
    route: Route,
    req: &AdmissionRequest,
    state: &dyn ClusterState,
    scheduler: &str,
) -> Verdict {
    if !req.kind.kind.is_empty() && req.kind.kind != route.kind() {
        return Verdict::deny(format!(
            "{} admits {} objects but received a {} {:?}; fix the webhook configuration's rules",
            route.path(),
            route.kind(),
            req.kind.kind,
            req.name
        ));
    }
    let subject = route.kind().to_lowercase();
    let name = object_name(req);
    let mut r = Report::new(&subject, &name);
    match (route, req.operation) {
        (Route::JobMutate, Operation::Create) => {
            let Some(mut job) = typed::<Job>(req.object.as_ref(), &mut r) else {
                return r.into_verdict();
            };
            let mut ops = spec_missing(req.object.as_ref());
            ops.extend(default_job(&mut job.spec, scheduler));
            return Verdict {
                patch: ops,
                ..Verdict::allow()
            };
        }
        (Route::QueueMutate, Operation::Create) => {
            let Some(mut q) = typed::<Queue>(req.object.as_ref(), &mut r) else {
                return r.into_verdict();
            };
            let annotations = req
                .object
                .as_ref()
                .and_then(|o| o.pointer("/metadata/annotations"));
            let mut ops = spec_missing(req.object.as_ref());
            ops.extend(default_queue(&mut q.spec, annotations));
            return Verdict {
                patch: ops,
                ..Verdict::allow()
            };
        }
        (Route::PodGroupMutate, Operation::Create) => {
            let Some(mut pg) = typed::<PodGroup>(req.object.as_ref(), &mut r) else {
                return r.into_verdict();
            };
            let namespace = state.namespace_annotations(&request_namespace(req));
            let queue = default_podgroup(&mut pg.spec, namespace.as_ref());
            let mut ops = Vec::new();
            if !queue.is_empty() {
                ops = spec_missing(req.object.as_ref());
                ops.extend(queue);
            }
            return Verdict {
                patch: ops,
                ..Verdict::allow()
            };
        }
        (Route::JobValidate, Operation::Create | Operation::Update) => {
            let Some(mut job) = typed::<Job>(req.object.as_ref(), &mut r) else {
                return r.into_verdict();
            };
            default_job(&mut job.spec, scheduler);
            let mut old = match req.operation {
                Operation::Update => typed::<Job>(req.old_object.as_ref(), &mut r),
                _ => None,
            };
            if let Some(old) = &mut old {
                default_job(&mut old.spec, scheduler);
                update::check_update(&old.spec, &job.spec, &mut r);
            }
            job::check_spec_on(&job.spec, &name, old.is_some(), &mut r);
            let queue_name = job.spec.queue.clone().unwrap_or_default();
            let queue_changed = old.as_ref().is_none_or(|o| o.spec.queue != job.spec.queue);
            if queue_changed {
                job::check_queue(&queue_name, "spec.queue", true, state, &mut r, false);
            }
            let gang_changed = old.as_ref().is_none_or(|o| {
                crate::quota::gang_total(&crate::quota::gang_shares(&o.spec))
                    != crate::quota::gang_total(&crate::quota::gang_shares(&job.spec))
            });
            if r.is_ok() && gang_changed {
                crate::quota::check_job(&name, &job.spec, state, &mut r);
            }
        }
        (Route::QueueValidate, Operation::Create | Operation::Update) => {
            let Some(mut q) = typed::<Queue>(req.object.as_ref(), &mut r) else {
                return r.into_verdict();
            };
            default_queue(&mut q.spec, None);
            if q.metadata.name.is_none() {
                q.metadata.name = Some(name.clone());
            }
            let old = match req.operation {
                Operation::Update => typed::<Queue>(req.old_object.as_ref(), &mut r),
                _ => None,
            };
            queue::check_queue(&q, old.as_ref(), state, &mut r);
        }
        (Route::QueueValidate, Operation::Delete) => {
            let old = match req.old_object.as_ref() {
                Some(o) if !o.is_null() => typed::<Queue>(Some(o), &mut r),
                _ => state.queue(&name).map(|q| (*q).clone()),
            };
            let mut q = old.unwrap_or_else(|| crate::state::queue(&name, Default::default()));
            if q.metadata.name.is_none() {
                q.metadata.name = Some(name.clone());
            }
            queue::check_delete(&q, state, &mut r);
        }
        (Route::PodGroupValidate, Operation::Create) => {
            let Some(pg) = typed::<PodGroup>(req.object.as_ref(), &mut r) else {
                return r.into_verdict();
            };
            let ns = request_namespace(req);
            let annotations = state.namespace_annotations(&ns);
            let annotated = annotations
                .as_ref()
                .and_then(|a| a.get(crds::labels::SCHEDULING_QUEUE_NAME));
            let namespace_queue = annotated.map(|q| (ns.as_str(), q.as_str()));
            podgroup::check_podgroup(&pg.spec, namespace_queue, state, &mut r);
        }
        (Route::JobFlowValidate, Operation::Create | Operation::Update) => {
            let Some(jf) = typed::<JobFlow>(req.object.as_ref(), &mut r) else {
                return r.into_verdict();
            };
            flow::check_jobflow(&jf.spec, &mut r);
        }
        (Route::JobTemplateValidate, Operation::Create | Operation::Update) => {
            let Some(mut jt) = typed::<JobTemplate>(req.object.as_ref(), &mut r) else {
                return r.into_verdict();
            };
            default_job(&mut jt.spec.job, scheduler);
            job::check_spec(&jt.spec.job, &name, &mut r);
            let queue_name = jt.spec.job.queue.clone().unwrap_or_default();
            job::check_queue(&queue_name, "spec.queue", true, state, &mut r, true);
        }
        // Operations a route is not registered for are allowed untouched.
        _ => {}
    }
    r.into_verdict()
}

fn object_name(req: &AdmissionRequest) -> String {
    if !req.name.is_empty() {
        return req.name.clone();
    }
    [req.object.as_ref(), req.old_object.as_ref()]
        .into_iter()
        .flatten()
        .find_map(|o| o.pointer("/metadata/name").and_then(Value::as_str))
        .unwrap_or("")
        .to_owned()
}

/// The namespace of the object under review: the request's, else the object's own.
pub fn request_namespace(req: &AdmissionRequest) -> String {
    if !req.namespace.is_empty() {
        return req.namespace.clone();
    }
    req.object
        .as_ref()
        .and_then(|o| o.pointer("/metadata/namespace"))
        .and_then(Value::as_str)
        .unwrap_or("")
        .to_owned()
}

/// `add /spec {}` when the object has no spec, so later `/spec/...` operations apply.
fn spec_missing(object: Option<&Value>) -> Vec<PatchOp> {
    match object.and_then(|o| o.get("spec")) {
        Some(Value::Object(_)) => Vec::new(),
        _ => vec![PatchOp::add("/spec", json!({}))],
    }
}

/// Deserializes the object; a shape error is recorded with the JSON path of the bad field.
fn typed<T: DeserializeOwned>(object: Option<&Value>, r: &mut Report) -> Option<T> {
    let Some(object) = object.filter(|o| o.is_object()) else {
        r.refuse(
            "object",
            "is missing from the review",
            "the API server must send the object; check the webhook's rules",
        );
        return None;
    };
    // An absent spec is an empty spec: the rules then say what is missing.
    let patched;
    let object = if object.get("spec").is_some_and(Value::is_object) {
        object
    } else {
        let mut o = object.clone();
        o["spec"] = json!({});
        patched = o;
        &patched
    };
    match serde_path_to_error::deserialize::<_, T>(object) {
        Ok(v) => Some(v),
        Err(e) => {
            let path = e.path().to_string();
            r.refuse(
                &path,
                format!("is invalid: {}", e.inner()),
                "fix the field's value or type",
            );
            None
        }
    }
}
