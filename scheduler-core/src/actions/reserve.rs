//! `reserve`: runs before `allocate` and acts on the `reservation` plugin's plan.
//!
//! For each held reservation, in election order: try to start the gang now — one statement,
//! committed only if the gang is then ready — asking the queue's `allocatable` vote (capability)
//! but not `overused` (the deserved-share cap): the reserved gang is exempt from that cap for
//! this one reservation. If it cannot start and has been held longer than
//! `reservation.max-hold`, escalate: evict running pods on the held nodes only, lowest priority
//! and most recently started first, each past its minimum run time (`minRunTime` argument or
//! `basalt.dev/min-run-time`), never leaving a running gang below minAvailable (a gang whose
//! pods would drop below it is evicted only if all its running pods are on the held nodes,
//! whole), and only as many as the gang needs. The gang itself starts in a later session once
//! the evicted pods are gone. Without the plugin this action does nothing.

use crate::actions::Action;
use crate::actions::allocate::node_search;
use crate::actions::victims::{MIN_RUN_TIME, TimeRules};
use crate::config::{Arguments, ConfigError};
use crate::duration;
use crate::model::TaskStatus;
use crate::plugins::reservation::Held;
use crate::resources::add_into;
use crate::session::{JobIx, NodeSearch, Placement, Session, Statement, TaskIx};

/// The `reserve` action.
#[derive(Clone, Debug, Default)]
pub struct Reserve {
    search: NodeSearch,
    rules: TimeRules,
}

/// Registry factory: node-search arguments as allocate, plus `minRunTime` for escalation.
pub fn factory(args: &Arguments) -> Result<Box<dyn Action>, ConfigError> {
    Ok(Box::new(Reserve {
        search: node_search(args)?,
        rules: TimeRules::from_args(args)?,
    }))
}

impl Reserve {
    /// Tries to make `job` ready now; returns whether it started.
    fn start(&self, ssn: &mut Session<'_>, job: JobIx) -> bool {
        let Some(queue) = ssn.state.jobs[job.ix()].queue else {
            return false;
        };
        let mut tasks: Vec<TaskIx> = ssn.state.jobs[job.ix()]
            .tasks
            .iter()
            .copied()
            .filter(|t| ssn.state.tasks[t.ix()].status == TaskStatus::Pending)
            .collect();
        {
            let (plugins, st) = (&ssn.plugins, &ssn.state);
            tasks.sort_by(|a, b| plugins.task_order(st, *a, *b));
        }
        let mut stmt = Statement::new();
        for task in tasks {
            if !ssn.plugins.allocatable(&ssn.state, queue, task) {
                break;
            }
            match ssn.select_node(task, &self.search, false) {
                Placement::Idle(node) => ssn.allocate(&mut stmt, task, node),
                Placement::Future(_) | Placement::Unfit(_) => break,
            }
            if ssn.plugins.job_ready(&ssn.state, job) {
                break;
            }
        }
        if ssn.plugins.job_ready(&ssn.state, job) {
            let effects = ssn.commit(stmt);
            ssn.emit(effects);
            true
        } else {
            ssn.discard(stmt);
            false
        }
    }

    fn min_run_ms(&self, ssn: &Session<'_>, job: JobIx) -> u64 {
        ssn.state.jobs[job.ix()]
            .spec
            .annotations
            .get(MIN_RUN_TIME)
            .and_then(|v| duration::parse_or_seconds_ms(v).ok())
            .unwrap_or(self.rules.min_run_ms)
    }

    /// Evicts on the held nodes until the gang would fit there once they are gone.
    fn escalate(&self, ssn: &mut Session<'_>, h: &Held, now: u64) {
        let st = &ssn.state;
        let j = &st.jobs[h.job.ix()];
        let need = i64::from(j.min_member.max(1).saturating_sub(st.ready_count(h.job)));
        let mut req = vec![0i64; st.dims.len()];
        for &t in &j.tasks {
            if st.tasks[t.ix()].status == TaskStatus::Pending {
                for (r, v) in req.iter_mut().zip(st.request(t)) {
                    *r = (*r).max(*v);
                }
            }
        }
        let on_held = |t: TaskIx| {
            st.tasks[t.ix()]
                .node
                .is_some_and(|n| h.nodes.binary_search(&n).is_ok())
        };
        let capacity = |free: &[Vec<i64>]| -> i64 {
            free.iter()
                .map(|f| {
                    let mut k = i64::MAX;
                    for (a, r) in f.iter().zip(&req) {
                        if *r > 0 {
                            k = k.min((*a).max(0) / r);
                        }
                    }
                    if k == i64::MAX { 0 } else { k }
                })
                .sum()
        };
        let mut free: Vec<Vec<i64>> = h
            .nodes
            .iter()
            .map(|n| {
                let mut v = vec![0; st.dims.len()];
                st.future_idle(*n, &mut v);
                v
            })
            .collect();
        if capacity(&free) >= need {
            return; // Enough is already being released.
        }
        // Victim jobs: every job with running pods on the held nodes, as whole units on them.
        let mut victims: Vec<(JobIx, Vec<TaskIx>)> = Vec::new();
        for (i, t) in st.tasks.iter().enumerate() {
            let task = TaskIx(i as u32);
            if t.job == h.job
                || !on_held(task)
                || !t.status.occupies_node()
                || t.status == TaskStatus::Releasing
            {
                continue;
            }
            match victims.iter_mut().find(|(job, _)| *job == t.job) {
                Some((_, v)) => v.push(task),
                None => victims.push((t.job, vec![task])),
            }
        }
        let started = |t: TaskIx| {
            let task = &st.tasks[t.ix()];
            st.snapshot
                .started
                .get(task.id)
                .copied()
                .unwrap_or(task.creation)
        };
        victims.retain(|(job, tasks)| {
            let vj = &st.jobs[job.ix()];
            let all_preemptable = tasks.iter().all(|t| st.tasks[t.ix()].spec.preemptable);
            let min_run = self.min_run_ms(ssn, *job);
            let old_enough = tasks
                .iter()
                .all(|t| started(*t).saturating_add(min_run) <= now);
            let remaining = st.ready_count(*job).saturating_sub(tasks.len() as u32);
            let running_elsewhere = vj
                .tasks
                .iter()
                .any(|t| st.tasks[t.ix()].status.occupies_node() && !on_held(*t));
            let gang_safe = remaining >= vj.min_member || !running_elsewhere;
            all_preemptable
                && old_enough
                && gang_safe
                && vj.priority <= st.jobs[h.job.ix()].priority
        });
        victims.sort_by_key(|(job, tasks)| {
            let latest = tasks.iter().map(|t| started(*t)).max().unwrap_or(0);
            (st.jobs[job.ix()].priority, std::cmp::Reverse(latest), *job)
        });
        let mut chosen: Vec<TaskIx> = Vec::new();
        for (_, tasks) in victims {
            if capacity(&free) >= need {
                break;
            }
            for t in tasks {
                if let Some(n) = st.tasks[t.ix()].node
                    && let Ok(k) = h.nodes.binary_search(&n)
                {
                    add_into(&mut free[k], st.request(t));
                }
                chosen.push(t);
            }
        }
        if capacity(&free) < need {
            return; // Evicting everything allowed would not make room: evict nothing.
        }
        let gang = st.jobs[h.job.ix()].id.to_string();
        let mut stmt = Statement::new();
        for t in chosen {
            ssn.evict(
                &mut stmt,
                t,
                format!("evicted for gang {gang}, which held these nodes past its maximum hold"),
            );
        }
        let effects = ssn.commit(stmt);
        ssn.emit(effects);
    }
}

impl Action for Reserve {
    fn name(&self) -> &'static str {
        "reserve"
    }

    fn execute(&self, ssn: &mut Session<'_>) {
        let Some(plan) = ssn.plugins.reservation_plan().cloned() else {
            return;
        };
        for h in &plan.held {
            if self.start(ssn, h.job) {
                continue;
            }
            if let Some(max) = plan.params.max_hold_ms
                && plan.now.saturating_sub(h.since) >= max
            {
                self.escalate(ssn, h, plan.now);
            }
        }
    }
}
