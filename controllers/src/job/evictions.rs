//! Pod deletions seen on the watch, kept until a reconcile has planned with them.
//!
//! The Job state machine is level-triggered: it reads `PodEvicted` from pods that carry a
//! `deletionTimestamp`. A pod deleted before it was bound (no grace period) or whose graceful
//! deletion finished between two reconciles is simply gone from the cache by the time the job is
//! reconciled, and the eviction would be lost: the job recreates the pod and its
//! `PodEvicted` policy never fires. Volcano's controller raises `PodEvicted` from the informer's
//! delete handler (edge-triggered); this module gives the level-triggered planner the same facts:
//! the last state of every unfinished pod whose deletion the watch reported, until one reconcile
//! of its job has committed a plan that saw it. Deletions the controller made itself (kills,
//! restarts, scale-down) are not evictions and are not recorded.

use std::collections::{BTreeMap, HashMap};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use crds::labels;
use k8s_openapi::api::core::v1::Pod;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::Time;
use k8s_openapi::jiff::Timestamp;
use kube::ResourceExt;
use kube::runtime::watcher::Event;

/// How long a deletion the controller made itself is remembered (its watch event arrives
/// within milliseconds; this only bounds memory when it never does).
const OWN_DELETE_TTL: Duration = Duration::from_secs(600);

type JobKey = (String, String);

#[derive(Default)]
struct Inner {
    /// Job (namespace, name) → pod name → the pod's last state, `deletionTimestamp` set.
    ghosts: HashMap<JobKey, BTreeMap<String, Pod>>,
    /// Pod uid → when the controller asked to delete it.
    own: HashMap<String, Instant>,
    /// Job → pod name → uid: deletions a committed Restarting plan asked for and that have not
    /// all been made yet (see [`Evictions::owe_kills`]).
    owed: HashMap<JobKey, BTreeMap<String, String>>,
}

/// Evicted pods per job (see the module documentation).
#[derive(Default)]
pub struct Evictions {
    inner: Mutex<Inner>,
}

fn finished(pod: &Pod) -> bool {
    matches!(
        pod.status.as_ref().and_then(|s| s.phase.as_deref()),
        Some("Succeeded" | "Failed")
    )
}

fn job_key(pod: &Pod) -> Option<JobKey> {
    Some((
        pod.namespace()?,
        pod.labels().get(labels::JOB_NAME)?.clone(),
    ))
}

impl Evictions {
    fn lock(&self) -> std::sync::MutexGuard<'_, Inner> {
        // A panic while holding the lock leaves plain maps behind: still usable.
        self.inner.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Records what a pod watch event says about deletions.
    pub fn observe(&self, event: &Event<Pod>) {
        let (pod, gone) = match event {
            Event::Apply(pod) => (pod, false),
            Event::Delete(pod) => (pod, true),
            _ => return,
        };
        if pod.metadata.deletion_timestamp.is_none() && !gone {
            return;
        }
        let Some(key) = job_key(pod) else { return };
        let uid = pod.uid().unwrap_or_default();
        let mut inner = self.lock();
        if inner.own.contains_key(&uid) {
            if gone {
                inner.own.remove(&uid);
            }
            return;
        }
        if finished(pod) {
            return;
        }
        let mut ghost = pod.clone();
        ghost
            .metadata
            .deletion_timestamp
            .get_or_insert_with(|| Time(Timestamp::now()));
        inner
            .ghosts
            .entry(key)
            .or_default()
            .insert(pod.name_any(), ghost);
    }

    /// The recorded evictions of one job.
    pub fn ghosts(&self, ns: &str, job: &str) -> Vec<Pod> {
        self.lock()
            .ghosts
            .get(&(ns.to_owned(), job.to_owned()))
            .map(|m| m.values().cloned().collect())
            .unwrap_or_default()
    }

    /// A reconcile committed a plan that saw `seen`: forget the evictions it saw. Only a pod
    /// the plan saw *deleting* counts: a plan made from a view in which the pod was still alive
    /// (its reconcile read the cache just before the deletion, and committed just after the
    /// watch reported it) never saw the eviction, and forgetting it then lost the `PodEvicted`
    /// event for good (seen under 5 % injected faults: a reconcile slowed by a retried write).
    pub fn consumed(&self, ns: &str, job: &str, seen: &[Pod]) {
        let mut inner = self.lock();
        let key = (ns.to_owned(), job.to_owned());
        if let Some(m) = inner.ghosts.get_mut(&key) {
            for p in seen
                .iter()
                .filter(|p| p.metadata.deletion_timestamp.is_some())
            {
                if m.get(&p.name_any()).is_some_and(|g| g.uid() == p.uid()) {
                    m.remove(&p.name_any());
                }
            }
            if m.is_empty() {
                inner.ghosts.remove(&key);
            }
        }
    }

    /// The job is gone: forget everything about it.
    pub fn forget_job(&self, ns: &str, job: &str) {
        let key = (ns.to_owned(), job.to_owned());
        let mut inner = self.lock();
        inner.ghosts.remove(&key);
        inner.owed.remove(&key);
    }

    /// A plan that moved the job to (or kept it in) `Restarting` was committed with these pod
    /// deletions (name, uid). A targeted restart (RestartTask, RestartPod, RestartPartition)
    /// is decided once, from the eviction or failure that triggered it: if a delete then fails
    /// (a 500), the retry finds the job already Restarting and nothing left to say which pods
    /// the action meant, and the rest of the task would keep running. Until the job leaves
    /// `Restarting`, the owed deletions are made again ([`Evictions::owed_kills`]).
    pub fn owe_kills(&self, ns: &str, job: &str, pods: impl IntoIterator<Item = (String, String)>) {
        let mut inner = self.lock();
        let owed = inner
            .owed
            .entry((ns.to_owned(), job.to_owned()))
            .or_default();
        owed.extend(pods);
        if owed.is_empty() {
            inner.owed.remove(&(ns.to_owned(), job.to_owned()));
        }
    }

    /// The deletions still owed to the job (pod name → uid).
    pub fn owed_kills(&self, ns: &str, job: &str) -> BTreeMap<String, String> {
        self.lock()
            .owed
            .get(&(ns.to_owned(), job.to_owned()))
            .cloned()
            .unwrap_or_default()
    }

    /// The job left `Restarting`, or every owed deletion was made: nothing is owed any more.
    pub fn settle_kills(&self, ns: &str, job: &str) {
        self.lock().owed.remove(&(ns.to_owned(), job.to_owned()));
    }

    /// The controller is about to delete `pod`: its deletion is not an eviction.
    pub fn own_delete(&self, pod: &Pod) {
        let Some(uid) = pod.uid() else { return };
        let mut inner = self.lock();
        let now = Instant::now();
        inner
            .own
            .retain(|_, at| now.duration_since(*at) < OWN_DELETE_TTL);
        inner.own.insert(uid, now);
        if let Some(key) = job_key(pod)
            && let Some(m) = inner.ghosts.get_mut(&key)
        {
            m.remove(&pod.name_any());
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use k8s_openapi::api::core::v1::PodStatus;
    use kube::api::ObjectMeta;

    fn pod(name: &str, uid: &str, phase: &str, deleting: bool) -> Pod {
        Pod {
            metadata: ObjectMeta {
                name: Some(name.into()),
                namespace: Some("ns".into()),
                uid: Some(uid.into()),
                labels: Some([(labels::JOB_NAME.to_owned(), "j".to_owned())].into()),
                deletion_timestamp: deleting.then(|| Time(Timestamp::now())),
                ..Default::default()
            },
            status: Some(PodStatus {
                phase: Some(phase.into()),
                ..Default::default()
            }),
            ..Default::default()
        }
    }

    #[test]
    fn a_deleted_unfinished_pod_is_kept_until_consumed() {
        let e = Evictions::default();
        e.observe(&Event::Delete(pod("j-a-0", "u1", "Pending", false)));
        let ghosts = e.ghosts("ns", "j");
        assert_eq!(ghosts.len(), 1);
        assert!(ghosts[0].metadata.deletion_timestamp.is_some());
        e.consumed("ns", "j", &ghosts);
        assert!(e.ghosts("ns", "j").is_empty());
    }

    #[test]
    fn finished_pods_updates_and_own_deletions_are_not_evictions() {
        let e = Evictions::default();
        e.observe(&Event::Delete(pod("j-a-0", "u1", "Succeeded", false)));
        e.observe(&Event::Apply(pod("j-a-1", "u2", "Running", false)));
        let mine = pod("j-a-2", "u3", "Running", false);
        e.own_delete(&mine);
        e.observe(&Event::Apply(pod("j-a-2", "u3", "Running", true)));
        e.observe(&Event::Delete(pod("j-a-2", "u3", "Running", true)));
        assert!(e.ghosts("ns", "j").is_empty());
        // The own-delete mark is spent once the pod is gone.
        assert!(e.lock().own.is_empty());
    }

    #[test]
    fn a_plan_that_saw_the_pod_alive_does_not_consume_its_eviction() {
        let e = Evictions::default();
        // The reconcile read the pod alive; the deletion arrived before it committed.
        let seen = vec![pod("j-a-0", "u1", "Running", false)];
        e.observe(&Event::Apply(pod("j-a-0", "u1", "Running", true)));
        e.consumed("ns", "j", &seen);
        assert_eq!(e.ghosts("ns", "j").len(), 1, "the eviction was lost");
        // The next plan sees it deleting (from the cache or as a ghost): now it is consumed.
        e.consumed("ns", "j", &[pod("j-a-0", "u1", "Running", true)]);
        assert!(e.ghosts("ns", "j").is_empty());
    }

    #[test]
    fn a_replaced_pod_of_the_same_name_is_not_consumed_by_an_old_view() {
        let e = Evictions::default();
        e.observe(&Event::Apply(pod("j-a-0", "u1", "Running", true)));
        let old = e.ghosts("ns", "j");
        e.observe(&Event::Delete(pod("j-a-0", "u2", "Running", true)));
        e.consumed("ns", "j", &old);
        assert_eq!(e.ghosts("ns", "j").len(), 1);
    }
}
