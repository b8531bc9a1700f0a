//! `backfill`: place BestEffort (zero-request) pending tasks of admitted, valid jobs on any node
//! that passes the predicates, best score first. One statement per job, committed only if the job
//! is then ready (so a gang is never started partially through its BestEffort members).
//! Never pipelines.

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
            // One statement per job: a gang that needs these members to be ready binds all of
            // them or none; a ready job commits whatever fitted.
            let mut stmt = Statement::new();
            for task in tasks {
                match ssn.select_node(task, &self.search, false) {
                    Placement::Idle(node) => ssn.allocate(&mut stmt, task, node),
                    Placement::Future(_) => {}
                    Placement::Unfit(diag) => ssn.record_unschedulable(job, task, &diag),
                }
            }
            if ssn.plugins.job_ready(&ssn.state, job) {
                let effects = ssn.commit(stmt);
                ssn.emit(effects);
            } else {
                ssn.discard(stmt);
            }
        }
    }
}
