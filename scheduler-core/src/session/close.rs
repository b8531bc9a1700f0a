//! Session close: PodGroup phases and conditions, queue `allocated`, and explanations.

use std::collections::{BTreeMap, HashMap};
use std::rc::Rc;
use std::sync::Arc;

use super::{FitDiagnosis, Session, SessionResult, SessionStats};
use crate::effects::{Effect, Explanation, ReasonCount};
use crate::model::{GatedPods, JobPhase, TaskStatus};
use crate::plugin::{CloseContext, JobCondition, Unschedulable};
use crate::plugins::gang::SummaryMemo;
use crate::resources::add_into;
use crate::session::JobIx;
use crate::text::Text;

/// Why a gang with gated pods waits: how many pods, which gates, and the fix.
fn gated_note(gated: &GatedPods, min_member: u32) -> String {
    let gates: Vec<&str> = gated.gates.iter().map(String::as_str).collect();
    let pods = match gated.pods {
        1 => "1 pod waits for its scheduling gates".to_owned(),
        n => format!("{n} pods wait for their scheduling gates"),
    };
    format!(
        "{pods} ({}) and the gang needs {min_member} to start; a gated pod is not scheduled until every gate is removed from its spec.schedulingGates",
        gates.join(", ")
    )
}

impl Session<'_> {
    fn phase_at_close(&self, job: JobIx) -> JobPhase {
        use TaskStatus::*;
        let st = &self.state;
        let j = &st.jobs[job.ix()];
        let total = j.tasks.len() as u32;
        let finished = st.count(job, Succeeded) + st.count(job, Failed);
        let placed: u32 = [Allocated, Binding, Bound, Running, Succeeded]
            .iter()
            .map(|s| st.count(job, *s))
            .sum();
        // Releasing tasks still hold their node (a deleted pod whose containers have not
        // stopped yet; a pod without a node is not a task once deleted), so a Running gang stays
        // Running until they are gone, as Volcano since volcano-sh/volcano#5796
        // (`schedulingaction/terminating_podgroup.go`); before, a gang whose only pod was
        // terminating turned Pending and was admitted again.
        let still_held = j.phase == JobPhase::Running
            && placed + st.count(job, Releasing) >= j.min_member.max(1);
        // Volcano's `jobStatus` (framework/session.go): a started gang that fell below its
        // minimum is Unknown while some of its pods still run, and Pending once none runs: its
        // pods left and so did what it held, so it has to be admitted again (the job controller
        // creates replacements only after that). Pending and Inqueue gangs keep their phase.
        if total > 0 && finished == total {
            JobPhase::Completed
        } else if placed >= j.min_member.max(1) || still_held {
            JobPhase::Running
        } else if matches!(j.phase, JobPhase::Running | JobPhase::Unknown) {
            if st.count(job, Running) > 0 {
                JobPhase::Unknown
            } else {
                JobPhase::Pending
            }
        } else {
            j.phase
        }
    }

    /// Ends the session: plugins report conditions, then status and explanation effects follow
    /// the committed binds and evictions.
    pub fn close(mut self) -> SessionResult {
        // Gang conditions are for jobs that are still not ready; explanations cover every job
        // with a task that found no node (an elastic job can be ready and still have some).
        // Jobs whose tasks failed the same way (one shared diagnosis, the same number of tasks)
        // share one summary: a saturated session fails thousands of jobs identically, and the
        // histogram, its text and the node reasons are then built once, not once per job.
        let mut shared: HashMap<(*const FitDiagnosis, u32), Rc<Unschedulable>> = HashMap::new();
        // In job order, as `failures` (a sorted map) yields them: walked in step with it below.
        let mut all_failed: Vec<(JobIx, (bool, Rc<Unschedulable>))> =
            Vec::with_capacity(self.failures.len());
        for (job, f) in &self.failures {
            let why = match f.diagnoses.as_slice() {
                [(diag, tasks)] if self.memo => Rc::clone(
                    shared
                        .entry((Rc::as_ptr(diag), *tasks))
                        .or_insert_with(|| Rc::new(f.summary())),
                ),
                _ => Rc::new(f.summary()),
            };
            all_failed.push((*job, (self.plugins.job_ready(&self.state, *job), why)));
        }
        let unschedulable: BTreeMap<JobIx, Rc<Unschedulable>> = all_failed
            .iter()
            .filter(|(_, (ready, _))| !ready)
            .map(|(j, (_, u))| (*j, Rc::clone(u)))
            .collect();
        let ctx = CloseContext {
            unschedulable: &unschedulable,
            invalid: &self.invalid,
        };
        let mut report = self.plugins.close(&self.state, &ctx);
        let mut effects = std::mem::take(&mut self.effects);
        let reservations = std::mem::take(&mut report.reservations);
        let notes = std::mem::take(&mut self.notes);
        let st = &self.state;
        // Conditions come in job order, as the loop below walks the jobs: take them in one pass
        // instead of a map removal per job.
        let mut reported = std::mem::take(&mut report.conditions)
            .into_iter()
            .peekable();
        for job in (0..st.jobs.len()).map(|i| JobIx(i as u32)) {
            let phase = self.phase_at_close(job);
            let mut conditions = reported
                .next_if(|(j, _)| *j == job)
                .map(|(_, c)| c)
                .unwrap_or_default();
            if phase == JobPhase::Pending
                && conditions.is_empty()
                && let Some(why) = self.not_enqueued.get(&job)
            {
                conditions.push(JobCondition {
                    kind: Text::from_static("Unschedulable"),
                    status: true,
                    reason: Text::from_static("NotEnoughResources"),
                    message: why.clone(),
                });
            }
            // Pods held back by scheduling gates are not tasks, so nothing above mentions them:
            // a gang that waits (not Running, or not ready) says so, as Volcano's gang plugin
            // reports a job whose gated tasks keep it below its minimum.
            let j = &st.jobs[job.ix()];
            if let Some(gated) = st.snapshot.gated.get(j.id).filter(|g| g.pods > 0)
                && phase != JobPhase::Completed
                && (phase != JobPhase::Running || !self.plugins.job_ready(st, job))
            {
                let note = gated_note(gated, j.min_member);
                match conditions
                    .iter_mut()
                    .find(|c| c.kind == "Unschedulable" && c.status)
                {
                    Some(c) => c.message = format!("{}; {note}", c.message).into(),
                    None => conditions.push(JobCondition {
                        kind: Text::from_static("Unschedulable"),
                        status: true,
                        reason: Text::from_static("SchedulingGated"),
                        message: note.into(),
                    }),
                }
            }
            if phase != st.jobs[job.ix()].spec.phase || !conditions.is_empty() {
                effects.push(Effect::PodGroupStatus {
                    job: st.jobs[job.ix()].id.clone(),
                    phase,
                    conditions,
                });
            }
        }
        effects.extend(
            reservations
                .into_iter()
                .map(|(job, reservation)| Effect::Reservation {
                    job: st.jobs[job.ix()].id.clone(),
                    reservation,
                }),
        );
        let mut deserved = std::mem::take(&mut report.deserved);
        for (i, q) in st.queues.iter().enumerate() {
            let mut allocated = vec![0i64; st.dims.len()];
            for &job in &q.jobs {
                for &task in &st.jobs[job.ix()].tasks {
                    if st.tasks[task.ix()].status.is_allocated() {
                        add_into(&mut allocated, st.request(task));
                    }
                }
            }
            effects.push(Effect::QueueStatus {
                queue: q.id.clone(),
                allocated: st.dims.resources(&allocated),
                deserved: deserved
                    .remove(&crate::session::QueueIx(i as u32))
                    .map(|d| st.dims.resources(&d)),
            });
        }
        let mut stats = SessionStats {
            enqueued_jobs: self.enqueued,
            ..SessionStats::default()
        };
        let mut explained: Vec<(JobIx, Explanation)> = Vec::new();
        for (job, why) in &self.invalid {
            let summary = why.message.clone().into();
            let id = st.jobs[job.ix()].id.clone();
            explained.push((
                *job,
                Explanation {
                    job: id,
                    summary,
                    task: None,
                    nodes: 0,
                    reasons: Arc::new([]),
                },
            ));
        }
        let mut summaries = SummaryMemo::default();
        // Jobs whose first failing task got the same diagnosis share one reason list.
        let mut node_reasons: HashMap<*const FitDiagnosis, Arc<[ReasonCount]>> = HashMap::new();
        for ((job, (ready, why)), (failed, failure)) in all_failed.iter().zip(&self.failures) {
            debug_assert_eq!(job, failed);
            let summary = summaries.summary(st, *job, why, !ready);
            let (task, nodes, reasons) = match &failure.first {
                Some((task, diag)) => {
                    if !self.memo {
                        node_reasons.clear();
                    }
                    let reasons = node_reasons.entry(Rc::as_ptr(diag)).or_insert_with(|| {
                        let mut reasons: Vec<ReasonCount> = diag
                            .reasons
                            .iter()
                            .map(|(reason, tally)| ReasonCount {
                                reason: reason.clone(),
                                nodes: tally.nodes,
                                shortfall: tally.shortfall.clone(),
                            })
                            .collect();
                        reasons.sort_by(|a, b| {
                            b.nodes.cmp(&a.nodes).then_with(|| a.reason.cmp(&b.reason))
                        });
                        reasons.into()
                    });
                    (
                        Some(st.tasks[task.ix()].id.clone()),
                        diag.nodes,
                        Arc::clone(reasons),
                    )
                }
                None => (None, 0, Arc::from([])),
            };
            let id = st.jobs[job.ix()].id.clone();
            explained.push((
                *job,
                Explanation {
                    job: id,
                    summary,
                    task,
                    nodes,
                    reasons,
                },
            ));
        }
        // One explanation per job (shells de-duplicate per job): a preemption note joins the
        // job's placement explanation when there is one.
        for (job, note) in notes {
            match explained.iter_mut().find(|(j, _)| *j == job) {
                Some((_, x)) => {
                    x.summary = format!("{}; {}", x.summary, note.summary).into();
                    x.reasons = x
                        .reasons
                        .iter()
                        .chain(note.reasons.iter())
                        .cloned()
                        .collect();
                    if x.task.is_none() {
                        x.task = note.task;
                        x.nodes = note.nodes;
                    }
                }
                None => explained.push((job, note)),
            }
        }
        explained.sort_by_key(|(job, _)| *job);
        // A job may have a placement and a preemption explanation: count jobs.
        stats.unschedulable_jobs = explained
            .iter()
            .enumerate()
            .filter(|(i, (job, _))| *i == 0 || explained[i - 1].0 != *job)
            .count() as u32;
        effects.extend(explained.into_iter().map(|(_, e)| Effect::Explanation(e)));
        for e in &effects {
            match e {
                Effect::Bind { .. } => stats.binds += 1,
                Effect::Evict { .. } => stats.evictions += 1,
                _ => {}
            }
        }
        stats.pipelined = st
            .tasks
            .iter()
            .filter(|t| t.status == TaskStatus::Pipelined)
            .count() as u32;
        SessionResult { effects, stats }
    }
}
