//! Run times learned from finished jobs, for jobs that declare none (docs/reservation.md,
//! “Expected run times”). The scheduler loop shows every session's PodGroups and pods to a
//! [`RuntimeLearner`]; a PodGroup whose pods have finished is recorded once, under its queue, with
//! its run time (latest container finish − earliest pod start over its succeeded pods). The
//! per-queue mean ([`LearnedRuntimes`], the simulator's rule too) goes into the snapshot as
//! `queue_runtime`. Kept in memory: a restarted or newly elected leader learns afresh.

use std::collections::{BTreeMap, BTreeSet};

use crds::podgroup::PodGroup;
use k8s_openapi::api::core::v1::Pod;
use kube::ResourceExt;
use scheduler_core::model::reservation::LearnedRuntimes;
use scheduler_core::{JobId, QueueId};

/// Learns per-queue run times across sessions.
#[derive(Debug, Default)]
pub struct RuntimeLearner {
    learned: LearnedRuntimes,
    /// PodGroup uids already recorded (pruned when the PodGroup is gone).
    recorded: BTreeSet<String>,
}

impl RuntimeLearner {
    /// Records the PodGroups that have finished since the last call. `pods` maps a PodGroup id
    /// (`namespace/name`) to its pods.
    pub fn observe(&mut self, podgroups: &[&PodGroup], pods: &BTreeMap<JobId, Vec<&Pod>>) {
        let mut present = BTreeSet::new();
        for pg in podgroups {
            let Some(uid) = pg.metadata.uid.clone() else {
                continue;
            };
            present.insert(uid.clone());
            if self.recorded.contains(&uid) {
                continue;
            }
            let id = JobId::new(format!(
                "{}/{}",
                pg.namespace().unwrap_or_default(),
                pg.name_any()
            ));
            let min = pg.spec.min_member.unwrap_or(1).max(1) as usize;
            let Some(ms) = finished_runtime(pods.get(&id).map_or(&[][..], Vec::as_slice), min)
            else {
                continue;
            };
            let queue = pg
                .spec
                .queue
                .clone()
                .unwrap_or_else(|| "default".to_owned());
            self.learned.record(QueueId::new(queue), ms);
            self.recorded.insert(uid);
        }
        self.recorded.retain(|uid| present.contains(uid));
    }

    /// Per-queue estimates (ms) for the snapshot's `queue_runtime`.
    pub fn estimates(&self) -> BTreeMap<QueueId, u64> {
        self.learned.estimates()
    }
}

/// The run time of a finished gang, in ms: `None` while any pod is not finished, when fewer than
/// `min_member` pods succeeded (a failed or evicted run says nothing about how long the job
/// takes), or when a succeeded pod lacks its start or finish time.
pub fn finished_runtime(pods: &[&Pod], min_member: usize) -> Option<u64> {
    let mut succeeded = 0;
    let mut first_start = i64::MAX;
    let mut last_finish = i64::MIN;
    for pod in pods {
        let status = pod.status.as_ref()?;
        match status.phase.as_deref() {
            Some("Succeeded") => {}
            Some("Failed") => continue,
            _ => return None,
        }
        succeeded += 1;
        first_start = first_start.min(status.start_time.as_ref()?.0.as_millisecond());
        let finish = status
            .container_statuses
            .iter()
            .flatten()
            .filter_map(|c| c.state.as_ref()?.terminated.as_ref()?.finished_at.as_ref())
            .map(|t| t.0.as_millisecond())
            .max()?;
        last_finish = last_finish.max(finish);
    }
    (succeeded >= min_member && last_finish >= first_start)
        .then(|| (last_finish - first_start) as u64)
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    fn pod(name: &str, phase: &str, start: &str, finish: Option<&str>) -> Pod {
        let terminated = finish.map_or(String::new(), |f| {
            format!("  containerStatuses:\n  - name: c\n    image: i\n    imageID: ''\n    ready: false\n    restartCount: 0\n    state: {{terminated: {{exitCode: 0, finishedAt: '{f}'}}}}\n")
        });
        serde_saphyr::from_str(&format!(
            "apiVersion: v1\nkind: Pod\nmetadata: {{name: {name}, namespace: ns, annotations: {{scheduling.k8s.io/group-name: pg}}}}\nspec: {{containers: [{{name: c}}]}}\nstatus:\n  phase: {phase}\n  startTime: '{start}'\n{terminated}"
        ))
        .unwrap()
    }

    fn podgroup(uid: &str, queue: &str, min: i32) -> PodGroup {
        serde_saphyr::from_str(&format!(
            "apiVersion: scheduling.volcano.sh/v1beta1\nkind: PodGroup\nmetadata: {{name: pg, namespace: ns, uid: {uid}}}\nspec: {{minMember: {min}, queue: {queue}}}\n"
        ))
        .unwrap()
    }

    const T0: &str = "2026-12-06T01:00:00Z";

    #[test]
    fn a_finished_gang_runs_from_first_start_to_last_finish() {
        let a = pod("a", "Succeeded", T0, Some("2026-12-06T01:00:30Z"));
        let b = pod(
            "b",
            "Succeeded",
            "2026-12-06T01:00:05Z",
            Some("2026-12-06T01:01:00Z"),
        );
        assert_eq!(finished_runtime(&[&a, &b], 2), Some(60_000));
        // Still running, too few succeeded, or no finish time: nothing learned.
        let running = pod("r", "Running", T0, None);
        assert_eq!(finished_runtime(&[&a, &running], 1), None);
        let failed = pod("f", "Failed", T0, Some("2026-12-06T01:00:01Z"));
        assert_eq!(finished_runtime(&[&a, &failed], 2), None);
        assert_eq!(finished_runtime(&[&a, &failed], 1), Some(30_000));
        let unfinished = pod("u", "Succeeded", T0, None);
        assert_eq!(finished_runtime(&[&unfinished], 1), None);
        assert_eq!(finished_runtime(&[], 1), None);
    }

    #[test]
    fn each_podgroup_counts_once_per_queue() {
        let a = pod("a", "Succeeded", T0, Some("2026-12-06T01:00:20Z"));
        let b = pod("b", "Succeeded", T0, Some("2026-12-06T01:00:40Z"));
        let mut learner = RuntimeLearner::default();
        let with_a = BTreeMap::from([(JobId::new("ns/pg"), vec![&a])]);
        let with_b = BTreeMap::from([(JobId::new("ns/pg"), vec![&b])]);
        let first = podgroup("u1", "team-a", 1);
        learner.observe(&[&first], &with_a);
        learner.observe(&[&first], &with_a);
        assert_eq!(
            learner.estimates(),
            BTreeMap::from([(QueueId::new("team-a"), 20_000)])
        );
        // The same name re-created (a new uid) is a new job.
        let second = podgroup("u2", "team-a", 1);
        learner.observe(&[&second], &with_b);
        assert_eq!(
            learner.estimates(),
            BTreeMap::from([(QueueId::new("team-a"), 30_000)])
        );
        assert_eq!(learner.recorded, BTreeSet::from(["u2".to_owned()]));
    }
}
