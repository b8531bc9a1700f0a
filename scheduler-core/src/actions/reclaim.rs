//! `reclaim`: cross-queue eviction. Starving jobs of queues that are not overused, queue by
//! queue (queue order) and job by job (job order), take back resources from *other*,
//! reclaimable queues that hold more than their deserved share — never below a queue's
//! guarantee, never breaking a running gang below minAvailable (see [`super::victims`]).
//!
//! Each task first needs the `preemptive` vote (proportion: queue allocated + task ≤ deserved).
//! Arguments: `minRunTime`, `preemptionDelay` (durations; job annotations
//! `basalt.dev/min-run-time` and `basalt.dev/preemption-delay` override them), `keepProgress`
//! (default `true`: a victim that has run at least as long as it is still expected to run is
//! kept, see [`super::progress`]).

use crate::actions::victims::{Evictor, TimeRules};
use crate::actions::{Action, candidates, progress};
use crate::config::{Arguments, ConfigError};
use crate::dispatch::VictimKind;
use crate::session::Session;

/// The `reclaim` action.
#[derive(Clone, Debug, Default)]
pub struct Reclaim {
    rules: TimeRules,
    keep_progress: bool,
}

/// Registry factory.
pub fn factory(args: &Arguments) -> Result<Box<dyn Action>, ConfigError> {
    Ok(Box::new(Reclaim {
        rules: TimeRules::from_args(args)?,
        keep_progress: args.bool(progress::KEEP_PROGRESS, true)?,
    }))
}

impl Action for Reclaim {
    fn name(&self) -> &'static str {
        "reclaim"
    }

    fn execute(&self, ssn: &mut Session<'_>) {
        let mut jobs = candidates::starving_unordered(ssn);
        if jobs.is_empty() {
            return;
        }
        let mut ev =
            Evictor::new(ssn, VictimKind::Reclaim, self.rules).keep_progress(self.keep_progress);
        if ev.no_victim_anywhere() {
            // As in preempt: without a possible victim, jobs whose pending tasks all fit nowhere
            // would do nothing in their turn.
            jobs.retain(|&job| !ev.settled_without_victims(ssn, job));
        }
        candidates::order_starving(ssn, &mut jobs);
        for job in jobs {
            let Some(queue) = ssn.state.jobs[job.ix()].queue else {
                continue;
            };
            if ssn.plugins.overused(&ssn.state, queue) {
                continue;
            }
            let may_take = |ssn: &Session<'_>, task| {
                if ssn.plugins.preemptive(&ssn.state, queue, task) {
                    Ok(())
                } else {
                    Err(format!(
                        "queue {} would exceed its deserved share or capability",
                        ssn.state.queues[queue.ix()].id
                    ))
                }
            };
            ev.run_job(ssn, job, &may_take);
        }
    }
}
