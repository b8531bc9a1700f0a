//! The names of each job's pods, kept from the job controller's pod watch.
//!
//! A reconcile used to find its job's pods by scanning every pod in the cache and comparing
//! namespaces and labels: O(all pods) per reconcile, and a Job is reconciled several times on its
//! way to Running (its own writes, its PodGroup's phases, its pods' binds and status changes).
//! Beside 5,000 running pods that scan made each of 1,000 single-pod Jobs 2.5× as expensive (on
//! an empty cluster it cost little; docs/controllers.md, "Performance"). The index turns it into
//! a lookup; the pods themselves
//! still come from the reflector's store, and a name the store no longer holds is skipped.

use std::collections::{BTreeSet, HashMap};
use std::sync::Mutex;

use crds::labels;
use k8s_openapi::api::core::v1::Pod;
use kube::ResourceExt;
use kube::runtime::watcher::Event;

type JobKey = (String, String);
type Names = HashMap<JobKey, BTreeSet<String>>;

#[derive(Default)]
struct Inner {
    by_job: Names,
    /// While the watch re-lists: the names seen so far, swapped in at `InitDone` (as the
    /// reflector swaps its store), so a re-list never shows a half-empty index.
    relist: Option<Names>,
}

/// Pod names per job (namespace, `volcano.sh/job-name` label).
#[derive(Default)]
pub struct PodIndex {
    inner: Mutex<Inner>,
}

fn key(pod: &Pod) -> Option<(JobKey, String)> {
    Some((
        (
            pod.namespace()?,
            pod.labels().get(labels::JOB_NAME)?.clone(),
        ),
        pod.metadata.name.clone()?,
    ))
}

fn insert(names: &mut Names, pod: &Pod) {
    if let Some((job, name)) = key(pod) {
        names.entry(job).or_default().insert(name);
    }
}

impl PodIndex {
    fn lock(&self) -> std::sync::MutexGuard<'_, Inner> {
        // A panic while holding the lock leaves plain maps behind: still usable.
        self.inner.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Applies one pod watch event.
    pub fn observe(&self, event: &Event<Pod>) {
        let mut inner = self.lock();
        match event {
            Event::Apply(pod) => insert(&mut inner.by_job, pod),
            Event::Delete(pod) => {
                if let Some((job, name)) = key(pod)
                    && let Some(set) = inner.by_job.get_mut(&job)
                {
                    set.remove(&name);
                    if set.is_empty() {
                        inner.by_job.remove(&job);
                    }
                }
            }
            Event::Init => inner.relist = Some(Names::new()),
            Event::InitApply(pod) => {
                if let Some(relist) = inner.relist.as_mut() {
                    insert(relist, pod);
                }
            }
            Event::InitDone => {
                if let Some(relist) = inner.relist.take() {
                    inner.by_job = relist;
                }
            }
        }
    }

    /// The names of job `ns/job`'s pods, ascending.
    pub fn names(&self, ns: &str, job: &str) -> Vec<String> {
        self.lock()
            .by_job
            .get(&(ns.to_owned(), job.to_owned()))
            .map(|set| set.iter().cloned().collect())
            .unwrap_or_default()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pod(ns: &str, job: &str, name: &str) -> Pod {
        let mut pod = Pod::default();
        pod.metadata.namespace = Some(ns.into());
        pod.metadata.name = Some(name.into());
        pod.metadata.labels = Some([(labels::JOB_NAME.to_owned(), job.to_owned())].into());
        pod
    }

    #[test]
    fn applies_and_deletes_are_indexed_per_job_and_namespace() {
        let index = PodIndex::default();
        index.observe(&Event::Apply(pod("a", "j", "j-t-1")));
        index.observe(&Event::Apply(pod("a", "j", "j-t-0")));
        index.observe(&Event::Apply(pod("a", "j", "j-t-0")));
        index.observe(&Event::Apply(pod("b", "j", "j-t-0")));
        index.observe(&Event::Apply(pod("a", "k", "k-t-0")));
        let mut unlabelled = pod("a", "j", "plain");
        unlabelled.metadata.labels = None;
        index.observe(&Event::Apply(unlabelled));
        assert_eq!(index.names("a", "j"), ["j-t-0", "j-t-1"]);
        assert_eq!(index.names("b", "j"), ["j-t-0"]);
        index.observe(&Event::Delete(pod("a", "j", "j-t-0")));
        assert_eq!(index.names("a", "j"), ["j-t-1"]);
        index.observe(&Event::Delete(pod("a", "j", "j-t-1")));
        assert!(index.names("a", "j").is_empty());
        assert_eq!(index.names("a", "k"), ["k-t-0"]);
    }

    #[test]
    fn a_relist_replaces_the_index_only_when_it_is_complete() {
        let index = PodIndex::default();
        index.observe(&Event::Apply(pod("a", "j", "j-t-0")));
        index.observe(&Event::Apply(pod("a", "gone", "gone-t-0")));
        index.observe(&Event::Init);
        index.observe(&Event::InitApply(pod("a", "j", "j-t-1")));
        // Mid re-list the old view stands, as in the reflector's store.
        assert_eq!(index.names("a", "j"), ["j-t-0"]);
        assert_eq!(index.names("a", "gone"), ["gone-t-0"]);
        index.observe(&Event::InitDone);
        assert_eq!(index.names("a", "j"), ["j-t-1"]);
        assert!(index.names("a", "gone").is_empty());
    }
}
