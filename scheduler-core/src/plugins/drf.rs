//! `drf`: dominant resource fairness. A job's share is the largest fraction of any cluster
//! resource it holds; job order puts lower shares first, and a preemptor may evict a victim only
//! if, after the move, its own share stays below (or within 1e-6 of) the victim job's.
//!
//! With `enableHierarchy: true` (hDRF) queues form a tree through `spec.parent`; queue order
//! compares, at the first level where two queues' paths differ, the siblings' dominant share
//! divided by weight (lower first). Volcano rejects hDRF together with `proportion`, and so does
//! [`check_config`].

use std::cmp::Ordering;
use std::collections::BTreeMap;

use crate::config::{Arguments, ConfigError, SchedulerConfig};
use crate::plugin::{Hooks, Plugin};
use crate::plugins::fairshare;
use crate::resources::{add_into, sub_into};
use crate::session::{JobIx, NodeIx, QueueIx, State, TaskIx};

/// Shares closer than this count as equal (Volcano's `shareDelta`).
const SHARE_DELTA: f64 = 1e-6;

/// The `drf` plugin.
#[derive(Clone, Debug, Default)]
pub struct Drf {
    hierarchy: bool,
    total: Vec<i64>,
    jobs: Vec<Vec<i64>>,
    /// `dominant_share(jobs[j], total)`, kept with `jobs`: job order reads it on every heap step.
    shares: Vec<f64>,
    queues: Vec<Vec<i64>>,
    /// Per queue: ancestors from the root down to the queue itself.
    paths: Vec<Vec<QueueIx>>,
}

/// Registry factory: argument `enableHierarchy` (false).
pub fn factory(args: &Arguments) -> Result<Box<dyn Plugin>, ConfigError> {
    Ok(Box::new(Drf {
        hierarchy: args.bool("enableHierarchy", false)?,
        ..Drf::default()
    }))
}

/// Volcano's rule: hierarchical drf and `proportion` in one configuration is an error.
pub fn check_config(config: &SchedulerConfig) -> Result<(), ConfigError> {
    let plugins = || config.tiers.iter().flat_map(|t| t.plugins.iter());
    let hdrf = plugins().any(|p| {
        p.name == "drf"
            && Arguments::new("plugin \"drf\"", p.arguments.clone())
                .bool("enableHierarchy", false)
                .unwrap_or(false)
    });
    if hdrf && plugins().any(|p| p.name == "proportion") {
        return Err(ConfigError::BadArgument {
            owner: "plugin \"drf\"".into(),
            key: "enableHierarchy".into(),
            value: "true".into(),
            expected: "false while proportion is configured (hierarchical drf and proportion are exclusive; drop one)",
        });
    }
    Ok(())
}

/// Dominant share of `alloc` in `total`.
pub fn dominant_share(alloc: &[i64], total: &[i64]) -> f64 {
    alloc
        .iter()
        .zip(total)
        .filter(|(_, t)| **t > 0)
        .map(|(a, t)| *a as f64 / *t as f64)
        .fold(0.0, f64::max)
}

impl Drf {
    fn job_share(&self, job: JobIx) -> f64 {
        self.shares[job.ix()]
    }

    /// Σ allocated of `queue` and its descendants.
    fn subtree(&self, queue: QueueIx) -> Vec<i64> {
        let mut out = vec![0i64; self.total.len()];
        for (i, path) in self.paths.iter().enumerate() {
            if path.contains(&queue) {
                add_into(&mut out, &self.queues[i]);
            }
        }
        out
    }

    fn weighted(&self, st: &State<'_>, queue: QueueIx) -> f64 {
        let w = f64::from(st.queues[queue.ix()].spec.weight.max(1));
        dominant_share(&self.subtree(queue), &self.total) / w
    }

    fn adjust(&mut self, st: &State<'_>, task: TaskIx, add: bool) {
        let job = st.tasks[task.ix()].job;
        let req = st.request(task);
        let f = if add { add_into } else { sub_into };
        f(&mut self.jobs[job.ix()], req);
        self.shares[job.ix()] = dominant_share(&self.jobs[job.ix()], &self.total);
        if let Some(q) = st.jobs[job.ix()].queue {
            f(&mut self.queues[q.ix()], req);
        }
    }
}

impl Plugin for Drf {
    fn name(&self) -> &'static str {
        "drf"
    }

    fn hooks(&self) -> Hooks {
        let base = Hooks::JOB_ORDER | Hooks::PREEMPTABLE | Hooks::EVENTS;
        if self.hierarchy {
            base | Hooks::QUEUE_ORDER
        } else {
            base
        }
    }

    fn open(&mut self, st: &State<'_>) {
        let d = st.dims.len();
        self.total = st.total_allocatable.clone();
        self.jobs = vec![vec![0; d]; st.jobs.len()];
        self.shares = vec![0.0; st.jobs.len()];
        self.queues = vec![vec![0; d]; st.queues.len()];
        for (i, t) in st.tasks.iter().enumerate() {
            if t.status.is_allocated() {
                self.adjust(st, TaskIx(i as u32), true);
            }
        }
        if self.hierarchy {
            self.paths = fairshare::queue_paths(st);
        }
    }

    fn job_order(&self, _st: &State<'_>, a: JobIx, b: JobIx) -> Ordering {
        self.job_share(a)
            .partial_cmp(&self.job_share(b))
            .unwrap_or(Ordering::Equal)
    }

    fn queue_order(&self, st: &State<'_>, a: QueueIx, b: QueueIx) -> Ordering {
        let (pa, pb) = (&self.paths[a.ix()], &self.paths[b.ix()]);
        let split = pa.iter().zip(pb).position(|(x, y)| x != y);
        let Some(level) = split else {
            // One is the other's ancestor: the deeper (leaf) queue first.
            return pb.len().cmp(&pa.len());
        };
        let (sa, sb) = (self.weighted(st, pa[level]), self.weighted(st, pb[level]));
        sa.partial_cmp(&sb).unwrap_or(Ordering::Equal)
    }

    fn preemptable(
        &self,
        st: &State<'_>,
        preemptor: TaskIx,
        candidates: &[TaskIx],
    ) -> Option<Vec<TaskIx>> {
        let pjob = st.tasks[preemptor.ix()].job;
        let mut mine = self.jobs[pjob.ix()].clone();
        add_into(&mut mine, st.request(preemptor));
        let ls = dominant_share(&mine, &self.total);
        let mut left: BTreeMap<JobIx, Vec<i64>> = BTreeMap::new();
        let allowed = candidates
            .iter()
            .copied()
            .filter(|v| {
                let vjob = st.tasks[v.ix()].job;
                if vjob == pjob {
                    return false;
                }
                let alloc = left
                    .entry(vjob)
                    .or_insert_with(|| self.jobs[vjob.ix()].clone());
                let mut after = alloc.clone();
                sub_into(&mut after, st.request(*v));
                let rs = dominant_share(&after, &self.total);
                if ls < rs || (ls - rs).abs() <= SHARE_DELTA {
                    *alloc = after;
                    true
                } else {
                    false
                }
            })
            .collect();
        Some(allowed)
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
mod tests;
