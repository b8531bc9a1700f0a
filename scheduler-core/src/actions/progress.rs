//! The progress rule of `reclaim` (issue 14): reclaim does not evict a running pod when the
//! eviction costs the pod more time than it gives the owed job.
//!
//! An evicted pod's job restarts from scratch, so its completion moves back by at least the time
//! it has already run (`elapsed`; more, since it also waits again). The owed job gains at most
//! the time until it would have started anyway: no more than the victim's expected remaining run
//! (it gets that room when the victim ends), and no more than the time until the expected ends of
//! running pods make room for it on some node without any eviction (`turnover`). Reclaim keeps a
//! victim when `elapsed ≥ min(remaining, turnover)`. Expected run times are the ones the
//! `reservation` plugin uses ([`crate::plugins::reservation::expected_runtime`]: annotation, the
//! shell's estimate, the queue's learned mean). A victim whose run time is not known is not
//! protected; a running pod whose run time is unknown, or that has outrun its estimate, frees
//! nothing in the turnover estimate (its end is unknown).
//!
//! Argument of the `reclaim` action: `keepProgress` (bool, default `true`). `preempt` does not
//! use the rule: a higher-priority job takes precedence whatever the victim's progress.

use crate::model::TaskStatus;
use crate::plugins::reservation::expected_runtime;
use crate::resources::{add_into, fits};
use crate::session::{NodeIx, State, TaskIx};

/// Action argument switching the rule (`true` by default for `reclaim`).
pub const KEEP_PROGRESS: &str = "keepProgress";

/// When the pod `task` would fit on `node` without evictions: now if it fits the node's future
/// idle, else the earliest expected end (ms) of the node's running pods (`on_node`) after which
/// their requests make room; `None` when the pods with a known end never do.
pub fn turnover_on(st: &State<'_>, task: TaskIx, node: NodeIx, on_node: &[TaskIx]) -> Option<u64> {
    let now = st.snapshot.now?;
    let req = st.request(task);
    let mut free = vec![0i64; req.len()];
    st.future_idle(node, &mut free);
    if fits(req, &free) {
        return Some(now);
    }
    let mut ends: Vec<(u64, TaskIx)> = on_node
        .iter()
        .filter(|t| {
            matches!(
                st.tasks[t.ix()].status,
                TaskStatus::Running | TaskStatus::Bound
            )
        })
        .filter_map(|&t| {
            let x = &st.tasks[t.ix()];
            let runtime = expected_runtime(st, x.job)?;
            let started = st.snapshot.started.get(x.id).copied().unwrap_or(x.creation);
            let end = started.saturating_add(runtime);
            (end >= now).then_some((end, t))
        })
        .collect();
    ends.sort_unstable();
    for (end, t) in ends {
        add_into(&mut free, st.request(t));
        if fits(req, &free) {
            return Some(end);
        }
    }
    None
}

/// `Some((elapsed, gain))` in ms when `victim` keeps its progress: its job's expected run time is
/// known and it has run at least as long as the owed job could gain, `gain` = min(the victim's
/// expected remaining run, `turnover` − now). `turnover`: when the reclaiming pod is expected to
/// fit somewhere without evictions (`None`: unknown, only the victim's remaining run counts).
/// `None`: the rule does not protect it.
pub fn kept(st: &State<'_>, victim: TaskIx, turnover: Option<u64>) -> Option<(u64, u64)> {
    let now = st.snapshot.now?;
    let t = &st.tasks[victim.ix()];
    let runtime = expected_runtime(st, t.job)?;
    let started = st.snapshot.started.get(t.id).copied().unwrap_or(t.creation);
    let elapsed = now.saturating_sub(started);
    let remaining = runtime.saturating_sub(elapsed);
    let gain = turnover.map_or(remaining, |at| remaining.min(at.saturating_sub(now)));
    (elapsed >= gain).then_some((elapsed, gain))
}

/// The explanation of a victim the rule keeps (one text, so `basalt why` counts nodes per reason).
pub const REASON: &str = "victim has run at least as long as the reclaiming job would gain (its expected remaining run, or the time until running pods are expected to free room): evicting it would lose more than it gives (keepProgress)";
