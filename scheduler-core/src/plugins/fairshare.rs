//! Queue accounting shared by `proportion` and `capacity`: per queue allocated, request,
//! guarantee, real capability, reserved (inqueue) and elastic resources, the share, and the
//! reclaim victim rule (only from queues above deserved, never below guarantee).

use std::collections::BTreeMap;

use crate::plugins::proportion::{requested, reserves};
use crate::resources::{Resources, add_into};
use crate::session::{QueueIx, State, TaskIx};

/// One queue's fair-share accounting, dense over the session's resource dimensions.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct QueueAttr {
    /// Has at least one job this session (takes part in the water-filling).
    pub active: bool,
    /// `spec.weight` (at least 1).
    pub weight: u64,
    /// Deserved share.
    pub deserved: Vec<i64>,
    /// Σ requests of allocated (and, in-session, pipelined) tasks.
    pub allocated: Vec<i64>,
    /// Σ requests of allocated and waiting tasks.
    pub request: Vec<i64>,
    /// `spec.guarantee` (0 where unset).
    pub guarantee: Vec<i64>,
    /// min(capability, (total − Σ guarantees)⁺ + own guarantee); `i64::MAX` where unbounded.
    pub real_capability: Vec<i64>,
    /// minResources of admitted jobs not yet allocated.
    pub inqueue: Vec<i64>,
    /// Allocated beyond the jobs' minResources.
    pub elastic: Vec<i64>,
    /// max over dimensions of allocated / deserved.
    pub share: f64,
}

/// A capability-like vector: named dimensions as given, others unbounded.
pub fn bound_vector(st: &State<'_>, res: Option<&Resources>) -> Vec<i64> {
    let mut out = vec![i64::MAX; st.dims.len()];
    for (name, v) in res.into_iter().flat_map(|r| r.iter()) {
        if let Some(i) = st.dims.index_of(name) {
            out[i] = v;
        }
    }
    out
}

impl QueueAttr {
    /// Recomputes `share` from allocated and deserved.
    pub fn refresh_share(&mut self) {
        self.share = share(&self.allocated, &self.deserved);
    }

    /// allocated + `req` ≤ deserved (and real capability) on every dimension `req` asks for.
    pub fn fits_deserved(&self, req: &[i64]) -> bool {
        req.iter().enumerate().all(|(r, v)| {
            *v <= 0 || {
                let after = self.allocated[r].saturating_add(*v);
                after <= self.deserved[r] && after <= self.real_capability[r]
            }
        })
    }

    /// Enqueue admission: min + allocated + inqueue − elastic ≤ real capability on the
    /// dimensions `min` asks for.
    pub fn admits(&self, min: &[i64]) -> bool {
        min.iter().enumerate().all(|(r, v)| {
            *v <= 0
                || v.saturating_add(self.allocated[r])
                    .saturating_add(self.inqueue[r])
                    .saturating_sub(self.elastic[r])
                    <= self.real_capability[r]
        })
    }
}

/// max over dimensions of `allocated / deserved` (0/0 = 0, x/0 = 1).
pub fn share(allocated: &[i64], deserved: &[i64]) -> f64 {
    allocated
        .iter()
        .zip(deserved)
        .map(|(a, d)| match (*a, *d) {
            (a, _) if a <= 0 => 0.0,
            (_, d) if d <= 0 => 1.0,
            (a, d) => a as f64 / d as f64,
        })
        .fold(0.0, f64::max)
}

/// Accounting for every queue at session open; `deserved` starts at zero.
pub fn accounting(st: &State<'_>) -> Vec<QueueAttr> {
    let d = st.dims.len();
    let mut total_guarantee = vec![0i64; d];
    for q in &st.queues {
        if let Some(g) = &q.spec.guarantee {
            add_into(&mut total_guarantee, &st.dims.vector(g));
        }
    }
    // Per-job scratch rows, reused: a session may hold tens of thousands of jobs.
    let mut job_alloc = vec![0i64; d];
    let mut min = vec![0i64; d];
    let mut attrs: Vec<QueueAttr> = st
        .queues
        .iter()
        .map(|q| {
            let guarantee = q
                .spec
                .guarantee
                .as_ref()
                .map_or_else(|| vec![0; d], |g| st.dims.vector(g));
            let cap = bound_vector(st, q.spec.capability.as_ref());
            let real_capability = (0..d)
                .map(|r| {
                    let room = (st.total_allocatable[r] - total_guarantee[r]).max(0) + guarantee[r];
                    cap[r].min(room)
                })
                .collect();
            let mut a = QueueAttr {
                active: !q.jobs.is_empty(),
                weight: u64::from(q.spec.weight.max(1)),
                deserved: vec![0; d],
                allocated: vec![0; d],
                request: vec![0; d],
                guarantee,
                real_capability,
                inqueue: vec![0; d],
                elastic: vec![0; d],
                share: 0.0,
            };
            for &job in &q.jobs {
                let j = &st.jobs[job.ix()];
                job_alloc.fill(0);
                for &t in &j.tasks {
                    let status = st.tasks[t.ix()].status;
                    if status.is_allocated() {
                        add_into(&mut job_alloc, st.request(t));
                    }
                    if requested(status) {
                        add_into(&mut a.request, st.request(t));
                    }
                }
                match &j.spec.min_resources {
                    Some(m) => st.dims.fill(m, &mut min),
                    None => min.fill(0),
                }
                // No minResources: no claim (zero).
                let claim = st.claim(job);
                for r in 0..d {
                    if reserves(j.phase) {
                        let claimed = claim.as_ref().map_or(0, |c| c[r]);
                        a.inqueue[r] += (claimed - job_alloc[r]).max(0);
                    }
                    a.elastic[r] += (job_alloc[r] - min[r]).max(0);
                }
                add_into(&mut a.allocated, &job_alloc);
            }
            a
        })
        .collect();
    // A held GPU that sits idle is the reserving gang's queue's, not free (reservation plugin).
    for (q, charge) in crate::plugins::reservation::idle_charge(st) {
        add_into(&mut attrs[q.ix()].allocated, &charge);
    }
    attrs
}

/// The reclaim victim rule: walking `candidates` in order, a victim may go while its queue,
/// after losing it, still holds at least its deserved share of some resource both the victim
/// and the reclaimer use, and stays at or above its guarantee everywhere. Victims from the
/// reclaimer's own queue are never allowed.
pub fn above_deserved(
    st: &State<'_>,
    queues: &[QueueAttr],
    reclaimer: TaskIx,
    candidates: &[TaskIx],
) -> Vec<TaskIx> {
    let own = st.jobs[st.tasks[reclaimer.ix()].job.ix()].queue;
    let need = st.request(reclaimer);
    let mut left: BTreeMap<QueueIx, Vec<i64>> = BTreeMap::new();
    candidates
        .iter()
        .copied()
        .filter(|v| {
            let Some(q) = st.jobs[st.tasks[v.ix()].job.ix()].queue else {
                return false;
            };
            if Some(q) == own {
                return false;
            }
            let a = &queues[q.ix()];
            let alloc = left.entry(q).or_insert_with(|| a.allocated.clone());
            let req = st.request(*v);
            let above = (0..req.len())
                .any(|r| req[r] > 0 && need[r] > 0 && alloc[r] - req[r] >= a.deserved[r]);
            let guaranteed =
                (0..req.len()).all(|r| req[r] <= 0 || alloc[r] - req[r] >= a.guarantee[r]);
            if above && guaranteed {
                for (x, y) in alloc.iter_mut().zip(req) {
                    *x -= y;
                }
                true
            } else {
                false
            }
        })
        .collect()
}

/// Root-first ancestor chains through `spec.parent`, one per queue (unknown parents and cycles
/// end a chain); used by capacity's hierarchy and hierarchical drf.
pub(crate) fn queue_paths(st: &State<'_>) -> Vec<Vec<QueueIx>> {
    let by_name: BTreeMap<&str, QueueIx> = st
        .queues
        .iter()
        .enumerate()
        .map(|(i, q)| (q.id.as_str(), QueueIx(i as u32)))
        .collect();
    (0..st.queues.len())
        .map(|i| {
            let mut path = vec![QueueIx(i as u32)];
            let mut cur = i;
            while let Some(parent) = st.queues[cur].spec.parent.as_ref() {
                match by_name.get(parent.as_str()) {
                    Some(p) if !path.contains(p) => {
                        path.push(*p);
                        cur = p.ix();
                    }
                    _ => break,
                }
            }
            path.reverse();
            path
        })
        .collect()
}
