//! `preempt`: eviction inside a queue. Starving jobs, queue by queue and job by job, evict
//! running tasks of other jobs in the *same* queue that the plugins allow (priority: strictly
//! lower priority; drf: larger share; gang: never below minAvailable), see [`super::victims`].
//!
//! Each task first needs the `allocatable` vote of its queue. Arguments: `minRunTime`,
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
        rules: TimeRules::from_args("action \"preempt\"", args)?,
    }))
}

impl Action for Preempt {
    fn name(&self) -> &'static str {
        "preempt"
    }

    fn execute(&self, ssn: &mut Session<'_>) {
        let jobs = candidates::starving_jobs(ssn);
        if jobs.is_empty() {
            return;
        }
        let mut ev = Evictor::new(ssn, VictimKind::Preempt, self.rules);
        for job in jobs {
            let Some(queue) = ssn.state.jobs[job.ix()].queue else {
                continue;
            };
            let may_take = |ssn: &Session<'_>, task| {
                if ssn.plugins.allocatable(&ssn.state, queue, task) {
                    Ok(())
                } else {
                    Err(format!(
                        "queue {} may not take the task (allocatable vote)",
                        ssn.state.queues[queue.ix()].id
                    ))
                }
            };
            ev.run_job(ssn, job, &may_take);
        }
    }
}
