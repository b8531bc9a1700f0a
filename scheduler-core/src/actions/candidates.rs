//! Preemptor candidates shared by `preempt` and `reclaim`: admitted (not Pending, not
//! Completed), valid, starving jobs with pending tasks whose queue exists, ordered by queue
//! order then job order at the start of the action.

use crate::model::{JobPhase, TaskStatus};
use crate::session::{JobIx, Session};

/// Starving candidate jobs in job index order: [`order_starving`] orders them (callers may
/// first leave out jobs whose turn would do nothing, which keeps the others' relative order).
pub(crate) fn starving_unordered(ssn: &Session<'_>) -> Vec<JobIx> {
    let st = &ssn.state;
    (0..st.jobs.len())
        .map(|i| JobIx(i as u32))
        .filter(|&j| {
            let job = &st.jobs[j.ix()];
            !matches!(job.phase, JobPhase::Pending | JobPhase::Completed)
                && job.queue.is_some()
                && st.count(j, TaskStatus::Pending) > 0
                && ssn.plugins.job_valid(st, j).is_none()
                && ssn.plugins.job_starving(st, j)
        })
        .collect()
}

/// Orders starving jobs by queue order, then job order.
pub(crate) fn order_starving(ssn: &Session<'_>, jobs: &mut [JobIx]) {
    let st = &ssn.state;
    jobs.sort_by(|a, b| {
        let (qa, qb) = (st.jobs[a.ix()].queue, st.jobs[b.ix()].queue);
        let by_queue = match (qa, qb) {
            (Some(x), Some(y)) if x != y => ssn.plugins.queue_order(st, x, y),
            _ => std::cmp::Ordering::Equal,
        };
        by_queue.then_with(|| ssn.plugins.job_order(st, *a, *b))
    });
}
