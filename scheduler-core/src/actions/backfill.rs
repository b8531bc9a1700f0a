//! `backfill`: place BestEffort (zero-request) pending tasks of admitted, valid, ready jobs on any node
//! that passes the predicates, best score first, committed one task at a time (no gang
//! statement: zero-request pods cannot hold resources hostage). Never pipelines.

use crate::actions::Action;
use crate::actions::allocate::node_search;
use crate::config::{Arguments, ConfigError};
use crate::model::{JobPhase, TaskStatus};
use crate::session::{JobIx, NodeSearch, Placement, Session, Statement, TaskIx};

/// The `backfill` action.
#[derive(Clone, Debug, Default)]
pub struct Backfill {
    search: NodeSearch,
}

/// Registry factory (accepts the same node-search arguments as allocate).
pub fn factory(args: &Arguments) -> Result<Box<dyn Action>, ConfigError> {
    Ok(Box::new(Backfill {
        search: node_search(args)?,
    }))
}

impl Action for Backfill {
    fn name(&self) -> &'static str {
        "backfill"
    }

    fn execute(&self, ssn: &mut Session<'_>) {
        let mut jobs: Vec<JobIx> = (0..ssn.state.jobs.len())
            .map(|i| JobIx(i as u32))
            .filter(|j| {
                let job = &ssn.state.jobs[j.ix()];
                job.queue.is_some() && !matches!(job.phase, JobPhase::Pending | JobPhase::Completed)
            })
            .filter(|j| {
                ssn.state.jobs[j.ix()].tasks.iter().any(|t| {
                    let t = &ssn.state.tasks[t.ix()];
                    t.best_effort && t.status == TaskStatus::Pending
                })
            })
            .collect();
        {
            let (plugins, st) = (&ssn.plugins, &ssn.state);
            jobs.sort_by(|a, b| plugins.job_order(st, *a, *b));
        }
        for job in jobs {
            if let Some(why) = ssn.plugins.job_valid(&ssn.state, job) {
                ssn.record_invalid(job, why);
                continue;
            }
            // Binding BestEffort members of a gang that is not ready would start it partially.
            if !ssn.plugins.job_ready(&ssn.state, job) {
                continue;
            }
            let mut tasks: Vec<TaskIx> = ssn.state.jobs[job.ix()]
                .tasks
                .iter()
                .copied()
                .filter(|t| {
                    let t = &ssn.state.tasks[t.ix()];
                    t.best_effort && t.status == TaskStatus::Pending
                })
                .collect();
            {
                let (plugins, st) = (&ssn.plugins, &ssn.state);
                tasks.sort_by(|a, b| plugins.task_order(st, *a, *b));
            }
            for task in tasks {
                match ssn.select_node(task, &self.search, false) {
                    Placement::Idle(node) => {
                        let mut stmt = Statement::new();
                        ssn.allocate(&mut stmt, task, node);
                        let effects = ssn.commit(stmt);
                        ssn.emit(effects);
                    }
                    Placement::Future(_) => {}
                    Placement::Unfit(diag) => ssn.record_unschedulable(job, task, &diag),
                }
            }
        }
    }
}
