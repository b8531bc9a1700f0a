//! `capacity`: explicit per-queue `deserved` (soft: what reclaim restores) and `capability`
//! (hard cap), with hierarchical queues through `spec.parent` (a queue named `root`, or one
//! without parent, is a tree root). Every check walks the queue and its ancestors, so a child
//! never exceeds its parent's capability; a child's deserved and guarantee are clamped to its
//! parent's (shares nest). In a hierarchy only leaf queues take jobs.
//!
//! deserved = clamp(`spec.deserved`, guarantee, real capability) — unset dimensions deserve 0.

use std::cmp::Ordering;
use std::collections::BTreeMap;

use crate::config::{Arguments, ConfigError};
use crate::model::QueueState;
use crate::plugin::{CloseContext, CloseReport, Hooks, Plugin, Vote};
use crate::plugins::fairshare::{self, QueueAttr};
use crate::resources::{add_into, sub_into};
use crate::session::{JobIx, NodeIx, QueueIx, State, TaskIx};

/// The `capacity` plugin.
#[derive(Clone, Debug, Default)]
pub struct Capacity {
    /// Per queue: own accounting (allocated etc. of its own jobs).
    queues: Vec<QueueAttr>,
    /// Per queue: allocated of the queue and all descendants.
    subtree: Vec<Vec<i64>>,
    /// Per queue: ancestors root first, ending with the queue.
    paths: Vec<Vec<QueueIx>>,
    /// Per queue: has children.
    inner: Vec<bool>,
}

/// Registry factory.
pub fn factory(_: &Arguments) -> Result<Box<dyn Plugin>, ConfigError> {
    Ok(Box::new(Capacity::default()))
}

impl Capacity {
    /// Per-queue accounting after `open`.
    pub fn queues(&self) -> &[QueueAttr] {
        &self.queues
    }

    fn path(&self, q: QueueIx) -> &[QueueIx] {
        &self.paths[q.ix()]
    }

    /// Queue and every ancestor stay within real capability after adding `add`.
    fn within_capability(&self, q: QueueIx, add: &[i64]) -> bool {
        self.path(q).iter().all(|a| {
            let cap = &self.queues[a.ix()].real_capability;
            let used = &self.subtree[a.ix()];
            (0..add.len()).all(|r| add[r] <= 0 || used[r].saturating_add(add[r]) <= cap[r])
        })
    }

    fn subtree_share(&self, q: QueueIx) -> f64 {
        fairshare::share(&self.subtree[q.ix()], &self.queues[q.ix()].deserved)
    }

    fn adjust(&mut self, st: &State<'_>, task: TaskIx, add: bool) {
        let Some(q) = st.jobs[st.tasks[task.ix()].job.ix()].queue else {
            return;
        };
        let req = st.request(task);
        let f = if add { add_into } else { sub_into };
        f(&mut self.queues[q.ix()].allocated, req);
        self.queues[q.ix()].refresh_share();
        for a in self.paths[q.ix()].clone() {
            f(&mut self.subtree[a.ix()], req);
        }
    }
}

impl Plugin for Capacity {
    fn name(&self) -> &'static str {
        "capacity"
    }

    fn hooks(&self) -> Hooks {
        Hooks::QUEUE_ORDER
            | Hooks::OVERUSED
            | Hooks::ALLOCATABLE
            | Hooks::PREEMPTIVE
            | Hooks::RECLAIMABLE
            | Hooks::JOB_ENQUEUEABLE
            | Hooks::JOB_ENQUEUED
            | Hooks::EVENTS
            | Hooks::CLOSE
    }

    fn close(&self, st: &State<'_>, _: &CloseContext<'_>, report: &mut CloseReport) {
        // Capacity's deserved is the queue's own `spec.deserved`, bounded by its ancestors.
        for (i, a) in self.queues.iter().enumerate() {
            if st.queues[i].spec.deserved.is_some() {
                report
                    .deserved
                    .insert(QueueIx(i as u32), a.deserved.clone());
            }
        }
    }

    fn open(&mut self, st: &State<'_>) {
        self.queues = fairshare::accounting(st);
        self.paths = fairshare::queue_paths(st);
        self.inner = vec![false; st.queues.len()];
        let d = st.dims.len();
        self.subtree = vec![vec![0; d]; st.queues.len()];
        // Parents before children: sort by depth.
        let mut order: Vec<usize> = (0..st.queues.len()).collect();
        order.sort_by_key(|i| self.paths[*i].len());
        for i in order {
            let path = self.paths[i].clone();
            if path.len() >= 2 {
                self.inner[path[path.len() - 2].ix()] = true;
            }
            let parent = (path.len() >= 2).then(|| path[path.len() - 2].ix());
            let deserved = st.queues[i].spec.deserved.as_ref();
            let mut want = deserved.map_or_else(|| vec![0; d], |r| st.dims.vector(r));
            let (pcap, pdes, pgua) = match parent {
                // A parent without a deserved or guarantee (e.g. `root`) does not bound its
                // children's.
                Some(p) => (
                    self.queues[p].real_capability.clone(),
                    if st.queues[p].spec.deserved.is_some() {
                        self.queues[p].deserved.clone()
                    } else {
                        vec![i64::MAX; d]
                    },
                    if st.queues[p].spec.guarantee.is_some() {
                        self.queues[p].guarantee.clone()
                    } else {
                        vec![i64::MAX; d]
                    },
                ),
                None => (vec![i64::MAX; d], vec![i64::MAX; d], vec![i64::MAX; d]),
            };
            let a = &mut self.queues[i];
            for r in 0..d {
                a.real_capability[r] = a.real_capability[r].min(pcap[r]);
                a.guarantee[r] = a.guarantee[r].min(pgua[r]);
                want[r] = want[r]
                    .min(a.real_capability[r])
                    .min(pdes[r])
                    .max(a.guarantee[r]);
            }
            a.deserved = want;
            a.refresh_share();
            for q in &path {
                add_into(&mut self.subtree[q.ix()], &self.queues[i].allocated.clone());
            }
        }
    }

    fn queue_order(&self, st: &State<'_>, a: QueueIx, b: QueueIx) -> Ordering {
        let (qa, qb) = (&st.queues[a.ix()], &st.queues[b.ix()]);
        let by_priority = qb.spec.priority.cmp(&qa.spec.priority);
        if by_priority.is_ne() {
            return by_priority;
        }
        let (pa, pb) = (self.path(a), self.path(b));
        let Some(level) = pa.iter().zip(pb).position(|(x, y)| x != y) else {
            return pb.len().cmp(&pa.len());
        };
        self.subtree_share(pa[level])
            .partial_cmp(&self.subtree_share(pb[level]))
            .unwrap_or(Ordering::Equal)
    }

    fn overused(&self, _st: &State<'_>, queue: QueueIx) -> Option<bool> {
        if !self.queues[queue.ix()].active {
            return None;
        }
        let cap = &self.queues[queue.ix()].real_capability;
        let used = &self.subtree[queue.ix()];
        Some(
            cap.iter()
                .zip(used)
                .any(|(c, u)| *c != i64::MAX && *c > 0 && u >= c),
        )
    }

    fn allocatable(&self, st: &State<'_>, queue: QueueIx, task: TaskIx) -> Option<bool> {
        if st.queues[queue.ix()].spec.state != QueueState::Open || self.inner[queue.ix()] {
            return Some(false);
        }
        Some(self.within_capability(queue, st.request(task)))
    }

    fn preemptive(&self, st: &State<'_>, queue: QueueIx, task: TaskIx) -> Option<bool> {
        let req = st.request(task);
        let a = &self.queues[queue.ix()];
        let below = (0..req.len()).any(|r| req[r] > 0 && a.allocated[r] < a.deserved[r]);
        Some(below && self.within_capability(queue, req))
    }

    fn reclaimable(
        &self,
        st: &State<'_>,
        reclaimer: TaskIx,
        candidates: &[TaskIx],
    ) -> Option<Vec<TaskIx>> {
        Some(fairshare::above_deserved(
            st,
            &self.queues,
            reclaimer,
            candidates,
        ))
    }

    fn job_enqueueable(&self, st: &State<'_>, job: JobIx) -> Vote {
        let j = &st.jobs[job.ix()];
        let Some(q) = j.queue else {
            return Vote::Abstain;
        };
        if st.queues[q.ix()].spec.state != QueueState::Open || self.inner[q.ix()] {
            return Vote::Reject;
        }
        let Some(min) = &j.spec.min_resources else {
            return Vote::Permit;
        };
        let min = st.dims.vector(min);
        let ok = self.path(q).iter().all(|a| {
            let attr = &self.queues[a.ix()];
            let mut x = attr.clone();
            x.allocated.clone_from(&self.subtree[a.ix()]);
            x.admits(&min)
        });
        if ok { Vote::Permit } else { Vote::Reject }
    }

    fn job_enqueued(&mut self, st: &State<'_>, job: JobIx) {
        let j = &st.jobs[job.ix()];
        if let (Some(q), Some(claim)) = (j.queue, st.claim(job)) {
            for a in self.paths[q.ix()].clone() {
                add_into(&mut self.queues[a.ix()].inqueue, &claim);
            }
        }
    }

    fn on_allocate(
        &mut self,
        st: &State<'_>,
        task: TaskIx,
        _node: NodeIx,
        _annotations: &mut BTreeMap<String, String>,
    ) {
        self.adjust(st, task, true);
    }

    fn on_deallocate(&mut self, st: &State<'_>, task: TaskIx, _node: NodeIx) {
        self.adjust(st, task, false);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::Queue;
    use crate::plugins::testkit::{Kit, task_ix};
    use crate::resources::Resources;

    fn gpu(n: i64) -> Resources {
        Resources::new().with("nvidia.com/gpu", n)
    }

    /// root (capability 8, deserved 6) → c1 (deserved 10), c2 (guarantee 2, deserved 1).
    fn tree(c1_running: u32) -> Kit {
        let mut k = Kit::new();
        k.snap.queues.clear();
        let q = |parent: Option<&str>, cap, des, gua| Queue {
            parent: parent.map(Into::into),
            capability: cap,
            deserved: des,
            guarantee: gua,
            ..Queue::open()
        };
        k.snap
            .queues
            .insert("root".into(), q(None, Some(gpu(8)), Some(gpu(6)), None));
        k.snap
            .queues
            .insert("c1".into(), q(Some("root"), None, Some(gpu(10)), None));
        k.snap.queues.insert(
            "c2".into(),
            q(Some("root"), None, Some(gpu(1)), Some(gpu(2))),
        );
        k.node("n", gpu(8));
        for (job, queue) in [("a", "c1"), ("b", "c2")] {
            k.job(job, 1, 0);
            k.snap.jobs.get_mut(&job.into()).expect("job").queue = queue.into();
        }
        for i in 0..c1_running {
            k.running(&format!("a/{i}"), "a", gpu(1), "n");
        }
        k.task("a/p", "a", gpu(1), 0).task("b/0", "b", gpu(1), 0);
        k
    }

    #[test]
    fn deserved_nests_and_capability_binds_up_the_tree() {
        // (c1 running, c1 may take one more, c2 may reclaim from c1)
        let cases = [(5, true, false), (8, false, true)];
        for (i, (running, more, reclaim)) in cases.into_iter().enumerate() {
            let k = tree(running);
            k.with_state(|st| {
                let mut p = Capacity::default();
                p.open(st);
                let g = st.dims.index_of("nvidia.com/gpu").expect("gpu");
                let ix = |n: &str| {
                    QueueIx(
                        st.queues
                            .iter()
                            .position(|q| q.id.as_str() == n)
                            .expect("q") as u32,
                    )
                };
                assert_eq!(
                    p.queues()[ix("c1").ix()].deserved[g],
                    6,
                    "clamped to parent"
                );
                assert_eq!(
                    p.queues()[ix("c2").ix()].deserved[g],
                    2,
                    "raised to guarantee"
                );
                let (ap, b0) = (task_ix(st, "a/p"), task_ix(st, "b/0"));
                assert_eq!(
                    p.allocatable(st, ix("root"), ap),
                    Some(false),
                    "inner queue"
                );
                assert_eq!(p.allocatable(st, ix("c1"), ap), Some(more), "case {i}");
                let victims: Vec<TaskIx> = (0..running)
                    .map(|v| task_ix(st, &format!("a/{v}")))
                    .collect();
                let got = p.reclaimable(st, b0, &victims).expect("votes");
                assert_eq!(!got.is_empty(), reclaim, "case {i}: {got:?}");
            });
        }
    }
}
