//! `overcommit`: enqueue admission against an over-committed cluster (reference §4.5). The
//! cluster's idle is `total × overcommit-factor − Σ used`; a job with minResources is admitted
//! while everything admitted and not yet running plus its own minimum fits that, on the
//! dimensions the job asks for. Argument `overcommit-factor` (1.2; values below 1 reset to 1.2).

use crate::config::{Arguments, ConfigError};
use crate::model::JobPhase;
use crate::plugin::{Hooks, Plugin, Vote};
use crate::resources::add_into;
use crate::session::{JobIx, State};

const DEFAULT_FACTOR: f64 = 1.2;

/// The `overcommit` plugin.
#[derive(Clone, Debug)]
pub struct Overcommit {
    factor: f64,
    idle: Vec<i64>,
    inqueue: Vec<i64>,
}

/// Registry factory.
pub fn factory(args: &Arguments) -> Result<Box<dyn Plugin>, ConfigError> {
    let mut factor = args.f64("overcommit-factor", DEFAULT_FACTOR)?;
    if factor < 1.0 {
        factor = DEFAULT_FACTOR;
    }
    Ok(Box::new(Overcommit {
        factor,
        idle: Vec::new(),
        inqueue: Vec::new(),
    }))
}

impl Plugin for Overcommit {
    fn name(&self) -> &'static str {
        "overcommit"
    }

    fn hooks(&self) -> Hooks {
        Hooks::JOB_ENQUEUEABLE | Hooks::JOB_ENQUEUED
    }

    fn open(&mut self, st: &State<'_>) {
        let d = st.dims.len();
        let mut used = vec![0i64; d];
        for i in 0..st.nodes.len() {
            add_into(&mut used, st.used.row(i));
        }
        self.idle = (0..d)
            .map(|r| (st.total_allocatable[r] as f64 * self.factor) as i64 - used[r])
            .collect();
        self.inqueue = vec![0; d];
        for (i, j) in st.jobs.iter().enumerate() {
            if !matches!(j.phase, JobPhase::Inqueue | JobPhase::Running) {
                continue;
            }
            let Some(min) = st.claim(JobIx(i as u32)) else {
                continue;
            };
            let mut alloc = vec![0i64; d];
            for &t in &st.jobs[i].tasks {
                if st.tasks[t.ix()].status.is_allocated() {
                    add_into(&mut alloc, st.request(t));
                }
            }
            for r in 0..d {
                self.inqueue[r] += (min[r] - alloc[r]).max(0);
            }
        }
    }

    fn job_enqueueable(&self, st: &State<'_>, job: JobIx) -> Vote {
        let Some(min) = &st.jobs[job.ix()].spec.min_resources else {
            return Vote::Permit;
        };
        let min = st.dims.vector(min);
        let fits = (0..min.len()).all(|r| min[r] <= 0 || self.inqueue[r] + min[r] <= self.idle[r]);
        if fits { Vote::Permit } else { Vote::Reject }
    }

    fn job_enqueued(&mut self, st: &State<'_>, job: JobIx) {
        if let Some(claim) = st.claim(job) {
            add_into(&mut self.inqueue, &claim);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::plugins::testkit::{Kit, job_ix};
    use crate::resources::Resources;

    #[test]
    fn admits_up_to_the_overcommitted_idle() {
        let gpu = |n| Resources::new().with("nvidia.com/gpu", n);
        // (factor, job minimum, admitted): 8 GPUs, 6 used ⇒ idle 8×f − 6.
        let cases = [
            (1.0, 2, true),
            (1.0, 3, false),
            (1.5, 6, true),
            (1.5, 7, false),
        ];
        for (i, (factor, min, want)) in cases.into_iter().enumerate() {
            let mut k = Kit::new();
            k.node("n", gpu(8)).job("busy", 1, 0).job("j", 1, 0);
            k.running("busy/0", "busy", gpu(6), "n");
            k.task("j/0", "j", gpu(min), 0);
            let j = k.snap.jobs.get_mut(&"j".into()).expect("job");
            j.min_resources = Some(gpu(min));
            j.phase = crate::model::JobPhase::Pending;
            k.with_state(|st| {
                let mut p = Overcommit {
                    factor,
                    idle: Vec::new(),
                    inqueue: Vec::new(),
                };
                p.open(st);
                let vote = p.job_enqueueable(st, job_ix(st, "j"));
                assert_eq!(vote == Vote::Permit, want, "case {i}");
            });
        }
    }
}
