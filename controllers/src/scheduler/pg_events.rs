//! The events Volcano users read with `kubectl describe pg` and `kubectl describe vcjob` to learn
//! why a gang waits or that it started. Volcano's scheduler records, on the PodGroup, a Warning
//! `Unschedulable` event with the gang's explanation and a Normal `Scheduled` event ("pod group
//! is ready"); its job controller repeats the explanation on the Job as a Warning
//! `PodGroupPending` ("PodGroup <ns>:<job> unschedule,reason: …").
//!
//! Volcano records them every session and relies on event aggregation; Basalt records them on a
//! change only (a new or different explanation, the phase reaching Running), so a gang that waits
//! for an hour does not write 3,600 events.

use crds::podgroup::{PodGroup, PodGroupPhase, PodGroupStatus};
use k8s_openapi::api::core::v1::ObjectReference;
use kube::{Resource, ResourceExt};

/// One event to publish.
#[derive(Clone, Debug, PartialEq)]
pub struct PgEvent {
    /// The PodGroup or its Job.
    pub regarding: ObjectReference,
    /// Warning (true) or Normal.
    pub warning: bool,
    /// PascalCase reason.
    pub reason: &'static str,
    /// Event action.
    pub action: &'static str,
    /// Message.
    pub note: String,
}

fn unschedulable(status: Option<&PodGroupStatus>) -> Option<&str> {
    status?
        .conditions
        .as_ref()?
        .iter()
        .find(|c| {
            c.type_.as_deref() == Some("Unschedulable") && c.status.as_deref() == Some("True")
        })
        .and_then(|c| c.message.as_deref())
}

fn running(status: Option<&PodGroupStatus>) -> bool {
    status.and_then(|s| s.phase) == Some(PodGroupPhase::Running)
}

/// Pure: the events for `pg` moving from its current status to `next`.
pub fn podgroup_events(pg: &PodGroup, next: &PodGroupStatus) -> Vec<PgEvent> {
    let mut out = Vec::new();
    let current = pg.status.as_ref();
    let pg_ref = pg.object_ref(&());
    if let Some(message) = unschedulable(Some(next))
        && unschedulable(current) != Some(message)
    {
        out.push(PgEvent {
            regarding: pg_ref.clone(),
            warning: true,
            reason: "Unschedulable",
            action: "Scheduling",
            note: message.to_owned(),
        });
        if let Some(job) = owner_job(pg) {
            out.push(PgEvent {
                note: format!(
                    "PodGroup {}:{} unschedule,reason: {message}",
                    pg.namespace().unwrap_or_default(),
                    job.name.as_deref().unwrap_or_default()
                ),
                regarding: job,
                warning: true,
                reason: "PodGroupPending",
                action: "Scheduling",
            });
        }
    }
    if running(Some(next)) && !running(current) {
        out.push(PgEvent {
            regarding: pg_ref,
            warning: false,
            reason: "Scheduled",
            action: "Scheduling",
            note: "pod group is ready".to_owned(),
        });
    }
    out
}

/// The Volcano Job that owns `pg`, if any.
fn owner_job(pg: &PodGroup) -> Option<ObjectReference> {
    let owner = pg
        .owner_references()
        .iter()
        .find(|o| o.kind == "Job" && o.api_version.starts_with("batch.volcano.sh/"))?;
    Some(ObjectReference {
        api_version: Some(owner.api_version.clone()),
        kind: Some(owner.kind.clone()),
        name: Some(owner.name.clone()),
        namespace: pg.namespace(),
        uid: Some(owner.uid.clone()),
        ..Default::default()
    })
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;
    use crds::podgroup::PodGroupCondition;
    use k8s_openapi::apimachinery::pkg::apis::meta::v1::OwnerReference;

    fn pg(status: Option<PodGroupStatus>) -> PodGroup {
        let mut pg = PodGroup::new("train-u1", Default::default());
        pg.metadata.namespace = Some("ns".into());
        pg.metadata.owner_references = Some(vec![OwnerReference {
            api_version: "batch.volcano.sh/v1alpha1".into(),
            kind: "Job".into(),
            name: "train".into(),
            uid: "u1".into(),
            ..Default::default()
        }]);
        pg.status = status;
        pg
    }

    fn status(phase: PodGroupPhase, why: Option<&str>) -> PodGroupStatus {
        PodGroupStatus {
            phase: Some(phase),
            conditions: why.map(|m| {
                vec![PodGroupCondition {
                    type_: Some("Unschedulable".into()),
                    status: Some("True".into()),
                    message: Some(m.into()),
                    ..Default::default()
                }]
            }),
            ..Default::default()
        }
    }

    #[test]
    fn explanation_goes_to_podgroup_and_job_once_and_ready_once() {
        let why = "4/4 tasks in gang unschedulable: 4 Insufficient nvidia.com/gpu";
        let first = podgroup_events(&pg(None), &status(PodGroupPhase::Inqueue, Some(why)));
        let reasons: Vec<_> = first.iter().map(|e| e.reason).collect();
        assert_eq!(reasons, ["Unschedulable", "PodGroupPending"]);
        assert_eq!(first[0].note, why);
        assert_eq!(first[1].regarding.name.as_deref(), Some("train"));
        assert_eq!(
            first[1].note,
            format!("PodGroup ns:train unschedule,reason: {why}")
        );
        // The same explanation in the next session: nothing new.
        let again = pg(Some(status(PodGroupPhase::Inqueue, Some(why))));
        assert!(podgroup_events(&again, &status(PodGroupPhase::Inqueue, Some(why))).is_empty());
        // Started: one Normal Scheduled on the PodGroup, not repeated.
        let ready = podgroup_events(&again, &status(PodGroupPhase::Running, None));
        assert_eq!(ready.len(), 1);
        assert_eq!((ready[0].reason, ready[0].warning), ("Scheduled", false));
        let running = pg(Some(status(PodGroupPhase::Running, None)));
        assert!(podgroup_events(&running, &status(PodGroupPhase::Running, None)).is_empty());
    }
}
