//! `preempt`: eviction inside a queue. Starving jobs, queue by queue and job by job, evict
//! running tasks of other jobs in the *same* queue that the plugins allow (priority: strictly
//! lower priority; drf: larger share; gang: never below minAvailable), see [`super::victims`].
//!
//! The queue's `allocatable` vote is asked once the victims are evicted. Arguments: `minRunTime`,
//! `preemptionDelay` (durations; job annotations `basalt.dev/min-run-time` and
//! `basalt.dev/preemption-delay` override them).

use crate::actions::victims::{Evictor, TimeRules};
use crate::actions::{Action, candidates};
use crate::config::{Arguments, ConfigError};
use crate::dispatch::VictimKind;
use crate::session::Session;

/// The `preempt` action.
#[derive(Clone, Debug, Default)]
pub struct Preempt {
    rules: TimeRules,
}

/// Registry factory.
pub fn factory(args: &Arguments) -> Result<Box<dyn Action>, ConfigError> {
    Ok(Box::new(Preempt {
        rules: TimeRules::from_args(args)?,
    }))
}

impl Action for Preempt {
    fn name(&self) -> &'static str {
        "preempt"
    }

    fn execute(&self, ssn: &mut Session<'_>) {
        let mut jobs = candidates::starving_unordered(ssn);
        if jobs.is_empty() {
            return;
        }
        let mut ev = Evictor::new(ssn, VictimKind::Preempt, self.rules);
        if ev.no_victim_anywhere() {
            // Nothing can be evicted: a job whose pending tasks all fit nowhere would do
            // nothing in its turn, so it is left out before the others are ordered.
            jobs.retain(|&job| !ev.settled_without_victims(ssn, job));
        }
        candidates::order_starving(ssn, &mut jobs);
        for job in jobs {
            if ssn.state.jobs[job.ix()].queue.is_none() {
                continue;
            }
            // The queue's `allocatable` vote is asked after the victims (same queue) are
            // evicted, so a queue at its share or capability can still preempt inside itself.
            let may_take = |_: &Session<'_>, _| Ok(());
            ev.run_job(ssn, job, &may_take);
        }
    }
}
