//! `priority`: higher pod priority first within a job, higher PodGroup priority first among
//! jobs; a preemptor may evict only strictly lower-priority victims; a job is starving while it
//! has tasks that are neither ready nor pipelined.

use std::cmp::Ordering;

use crate::config::{Arguments, ConfigError};
use crate::model::TaskStatus;
use crate::plugin::{Hooks, Plugin};
use crate::session::{JobIx, State, TaskIx};

/// The `priority` plugin.
#[derive(Clone, Debug, Default)]
pub struct Priority;

/// Registry factory.
pub fn factory(_: &Arguments) -> Result<Box<dyn Plugin>, ConfigError> {
    Ok(Box::new(Priority))
}

impl Plugin for Priority {
    fn name(&self) -> &'static str {
        "priority"
    }

    fn hooks(&self) -> Hooks {
        Hooks::TASK_ORDER | Hooks::JOB_ORDER | Hooks::PREEMPTABLE | Hooks::JOB_STARVING
    }

    fn task_order(&self, st: &State<'_>, a: TaskIx, b: TaskIx) -> Ordering {
        // `priority` is `spec.priority` copied next to the status: no pointer chase per step.
        st.tasks[b.ix()].priority.cmp(&st.tasks[a.ix()].priority)
    }

    fn job_order(&self, st: &State<'_>, a: JobIx, b: JobIx) -> Ordering {
        st.jobs[b.ix()].priority.cmp(&st.jobs[a.ix()].priority)
    }

    fn preemptable(
        &self,
        st: &State<'_>,
        preemptor: TaskIx,
        candidates: &[TaskIx],
    ) -> Option<Vec<TaskIx>> {
        let p = &st.tasks[preemptor.ix()];
        let p_job = st.jobs[p.job.ix()].priority;
        let allowed = candidates
            .iter()
            .copied()
            .filter(|v| {
                let victim = &st.tasks[v.ix()];
                if victim.job == p.job {
                    victim.priority < p.priority
                } else {
                    st.jobs[victim.job.ix()].priority < p_job
                }
            })
            .collect();
        Some(allowed)
    }

    fn job_starving(&self, st: &State<'_>, job: JobIx) -> Option<bool> {
        let waiting = st.ready_count(job) + st.count(job, TaskStatus::Pipelined);
        Some(waiting < st.jobs[job.ix()].tasks.len() as u32)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::plugins::testkit::{Kit, task_ix};

    #[test]
    fn orders_and_victims() {
        let mut kit = Kit::new();
        kit.job("j-low", 1, 1).job("j-high", 1, 10);
        kit.pending("j-low/a", "j-low", 5)
            .pending("j-low/b", "j-low", 1)
            .pending("j-high/a", "j-high", 0);
        kit.with_state(|st| {
            let p = Priority;
            let (la, lb, ha) = (
                task_ix(st, "j-low/a"),
                task_ix(st, "j-low/b"),
                task_ix(st, "j-high/a"),
            );
            let cases = [
                (p.task_order(st, la, lb), Ordering::Less),
                (p.task_order(st, lb, la), Ordering::Greater),
                (
                    p.job_order(st, st.tasks[ha.ix()].job, st.tasks[la.ix()].job),
                    Ordering::Less,
                ),
            ];
            for (i, (got, want)) in cases.into_iter().enumerate() {
                assert_eq!(got, want, "case {i}");
            }
            // High-priority job may evict both low tasks; low task a (5) may evict b (1) of its
            // own job but not the high job's task.
            assert_eq!(p.preemptable(st, ha, &[la, lb]), Some(vec![la, lb]));
            assert_eq!(p.preemptable(st, la, &[lb, ha]), Some(vec![lb]));
            assert_eq!(p.preemptable(st, lb, &[la]), Some(vec![]));
            assert_eq!(p.job_starving(st, st.tasks[la.ix()].job), Some(true));
        });
    }
}
