//! `gang`: all-or-nothing for PodGroups. A job is valid with at least minMember (and each role's
//! minTaskMember) live tasks, ready when that many are placed, pipelined when placed + reserved
//! reach it. Victim filters never take a running gang below minMember. At close it writes the
//! `Unschedulable` / `Scheduled` PodGroup conditions.

use std::cmp::Ordering;
use std::collections::{BTreeMap, HashMap};
use std::rc::Rc;

use crate::config::{Arguments, ConfigError};
use crate::model::TaskStatus;
use crate::plugin::{
    CloseContext, CloseReport, Hooks, JobCondition, JobInvalid, Plugin, Unschedulable, Vote,
};
use crate::session::{JobIx, State, TaskIx};
use crate::text::Text;

/// The `gang` plugin.
#[derive(Clone, Debug, Default)]
pub struct Gang;

/// Registry factory.
pub fn factory(_: &Arguments) -> Result<Box<dyn Plugin>, ConfigError> {
    Ok(Box::new(Gang))
}

/// `N/M tasks in gang unschedulable: 3 Insufficient nvidia.com/gpu, 1 Too many pods`, where N is
/// the number of tasks that found no node and M the job's task count; reasons by count of tasks
/// (`2 tasks: node(s) had untolerated taint {gpu: true}` for node-worded reasons). Without
/// `gang` (the job is ready, some extra tasks did not fit) it reads `N/M tasks unschedulable: …`.
pub fn unschedulable_summary(
    st: &State<'_>,
    job: JobIx,
    why: &Unschedulable,
    gang: bool,
) -> String {
    let mut reasons: Vec<(&String, &u32)> = why.reasons.iter().collect();
    reasons.sort_by(|a, b| b.1.cmp(a.1).then_with(|| a.0.cmp(b.0)));
    // The counts are of tasks; a Kubernetes-style reason that begins with "node(s)" would read
    // as a node count ("4 node(s) had …" on a one-node cluster), so it says "tasks" explicitly.
    let hist: Vec<String> = reasons
        .iter()
        .map(|(r, n)| match (r.starts_with("node(s) "), **n) {
            (true, 1) => format!("1 task: {r}"),
            (true, n) => format!("{n} tasks: {r}"),
            (false, n) => format!("{n} {r}"),
        })
        .collect();
    let total = st.jobs[job.ix()].tasks.len();
    let what = if gang { "tasks in gang" } else { "tasks" };
    format!(
        "{}/{total} {what} unschedulable: {}",
        why.failed_tasks,
        hist.join(", ")
    )
}

/// [`unschedulable_summary`] once per distinct (failure, task count, gang): the session hands
/// jobs that failed the same way one shared `Rc<Unschedulable>`, so a saturated session formats
/// a handful of summaries instead of one per pending job. Keys are the addresses of those shared
/// values, which stay alive (in the close context) as long as a memo does.
#[derive(Debug, Default)]
pub struct SummaryMemo(HashMap<(*const Unschedulable, usize, bool), Text>);

impl SummaryMemo {
    /// `unschedulable_summary(st, job, why, gang)`.
    pub fn summary(
        &mut self,
        st: &State<'_>,
        job: JobIx,
        why: &Rc<Unschedulable>,
        gang: bool,
    ) -> Text {
        let total = st.jobs[job.ix()].tasks.len();
        self.0
            .entry((Rc::as_ptr(why), total, gang))
            .or_insert_with(|| unschedulable_summary(st, job, why, gang).into())
            .clone()
    }
}

/// Per role: whether `counts(status)` tasks reach the role's minTaskMember. Always true when the
/// role minimums do not bind (minMember below their sum, see `Job::role_minimums_bind`).
fn roles_reach(st: &State<'_>, job: JobIx, counts: impl Fn(TaskStatus) -> bool) -> bool {
    let j = &st.jobs[job.ix()];
    if !j.has_role_minimums {
        return true;
    }
    let mut have: BTreeMap<&str, u32> = BTreeMap::new();
    for &t in &j.tasks {
        let task = &st.tasks[t.ix()];
        if let Some(role) = task.spec.role.as_deref()
            && counts(task.status)
        {
            *have.entry(role).or_insert(0) += 1;
        }
    }
    // A minimum of 0 asks for nothing (Volcano's CheckTaskValid skips it too).
    j.spec
        .min_task_member
        .iter()
        .all(|(role, min)| *min == 0 || have.get(role.as_str()).copied().unwrap_or(0) >= *min)
}

fn ready(st: &State<'_>, job: JobIx) -> bool {
    st.ready_count(job) >= st.jobs[job.ix()].min_member
        && roles_reach(st, job, TaskStatus::is_ready)
}

fn victims(st: &State<'_>, candidates: &[TaskIx]) -> Vec<TaskIx> {
    let mut taken: BTreeMap<JobIx, u32> = BTreeMap::new();
    candidates
        .iter()
        .copied()
        .filter(|v| {
            let job = st.tasks[v.ix()].job;
            let gone = taken.entry(job).or_insert(0);
            let left = st.ready_count(job).saturating_sub(*gone);
            if left > st.jobs[job.ix()].min_member {
                *gone += 1;
                true
            } else {
                false
            }
        })
        .collect()
}

impl Plugin for Gang {
    fn name(&self) -> &'static str {
        "gang"
    }

    fn hooks(&self) -> Hooks {
        Hooks::JOB_VALID
            | Hooks::JOB_READY
            | Hooks::JOB_PIPELINED
            | Hooks::JOB_STARVING
            | Hooks::JOB_ORDER
            | Hooks::PREEMPTABLE
            | Hooks::RECLAIMABLE
            | Hooks::CLOSE
    }

    fn job_valid(&self, st: &State<'_>, job: JobIx) -> Option<JobInvalid> {
        let j = &st.jobs[job.ix()];
        let valid = st.valid_count(job);
        if valid < j.spec.min_member {
            return Some(JobInvalid {
                reason: "NotEnoughTasks".into(),
                message: format!(
                    "job {} has {valid} valid tasks, fewer than minMember {}; create more pods or lower minMember",
                    j.id, j.spec.min_member
                ),
            });
        }
        if !roles_reach(st, job, TaskStatus::is_valid_member) {
            return Some(JobInvalid {
                reason: "NotEnoughPodsOfTask".into(),
                message: format!(
                    "job {} has fewer valid pods than minTaskMember for some task; create the missing pods",
                    j.id
                ),
            });
        }
        None
    }

    fn job_ready(&self, st: &State<'_>, job: JobIx) -> Option<bool> {
        Some(ready(st, job))
    }

    fn job_pipelined(&self, st: &State<'_>, job: JobIx) -> Vote {
        let placed = st.ready_count(job) + st.count(job, TaskStatus::Pipelined);
        let roles = roles_reach(st, job, |s| s.is_ready() || s == TaskStatus::Pipelined);
        if placed >= st.jobs[job.ix()].min_member && roles {
            Vote::Permit
        } else {
            Vote::Reject
        }
    }

    fn job_starving(&self, st: &State<'_>, job: JobIx) -> Option<bool> {
        let placed = st.ready_count(job) + st.count(job, TaskStatus::Pipelined);
        Some(placed < st.jobs[job.ix()].min_member)
    }

    fn job_order(&self, st: &State<'_>, a: JobIx, b: JobIx) -> Ordering {
        // Not-ready jobs first.
        ready(st, a).cmp(&ready(st, b))
    }

    fn preemptable(&self, st: &State<'_>, _: TaskIx, candidates: &[TaskIx]) -> Option<Vec<TaskIx>> {
        Some(victims(st, candidates))
    }

    fn reclaimable(&self, st: &State<'_>, _: TaskIx, candidates: &[TaskIx]) -> Option<Vec<TaskIx>> {
        Some(victims(st, candidates))
    }

    fn close(&self, st: &State<'_>, ctx: &CloseContext<'_>, report: &mut CloseReport) {
        let mut summaries = SummaryMemo::default();
        // Most jobs get one condition: a vector of one instead of the default growth to four.
        let one = || Vec::with_capacity(1);
        for (job, why) in ctx.unschedulable {
            report
                .conditions
                .entry(*job)
                .or_insert_with(one)
                .push(JobCondition {
                    kind: Text::from_static("Unschedulable"),
                    status: true,
                    reason: Text::from_static("NotEnoughResources"),
                    message: summaries.summary(st, *job, why, true),
                });
        }
        for (job, why) in ctx.invalid {
            report
                .conditions
                .entry(*job)
                .or_default()
                .push(JobCondition {
                    kind: Text::from_static("Unschedulable"),
                    status: true,
                    reason: why.reason.clone().into(),
                    message: why.message.clone().into(),
                });
        }
        // The message depends only on the count: format each distinct count once.
        let mut placed_messages: HashMap<u32, Text> = HashMap::new();
        for i in 0..st.jobs.len() {
            let job = JobIx(i as u32);
            let placed_now =
                st.count(job, TaskStatus::Binding) + st.count(job, TaskStatus::Allocated);
            if placed_now > 0 && ready(st, job) {
                let message = placed_messages
                    .entry(placed_now)
                    .or_insert_with(|| format!("{placed_now} tasks placed this session").into())
                    .clone();
                report
                    .conditions
                    .entry(job)
                    .or_insert_with(one)
                    .push(JobCondition {
                        kind: Text::from_static("Scheduled"),
                        status: true,
                        reason: Text::from_static("tasks in gang are ready to be scheduled"),
                        message,
                    });
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::plugins::testkit::{Kit, job_ix, task_ix};
    use crate::resources::Resources;

    fn kit() -> Kit {
        let mut kit = Kit::new();
        kit.node("n", Resources::new().with("cpu", 10_000));
        kit.job("g", 3, 0);
        let r = Resources::new().with("cpu", 100);
        kit.running("g/0", "g", r.clone(), "n")
            .running("g/1", "g", r.clone(), "n");
        kit.task("g/2", "g", r.clone(), 0).task("g/3", "g", r, 0);
        kit
    }

    #[test]
    fn valid_ready_pipelined_starving_table() {
        use TaskStatus::*;
        // (status of g/2, status of g/3, valid, ready, pipelined vote, starving)
        let cases = [
            (Pending, Pending, true, false, Vote::Reject, true),
            (Pipelined, Pending, true, false, Vote::Permit, false),
            (Running, Pending, true, true, Vote::Permit, false),
            (Failed, Failed, false, false, Vote::Reject, true),
            (Succeeded, Failed, true, true, Vote::Permit, false),
        ];
        for (i, (s2, s3, valid, is_ready, vote, starving)) in cases.into_iter().enumerate() {
            let mut k = kit();
            for (name, s) in [("g/2", s2), ("g/3", s3)] {
                k.status(name, s);
                if s == Pipelined || s == Running {
                    k.edit_task(name, |t| t.node = Some("n".into()));
                }
            }
            k.with_state(|st| {
                let j = job_ix(st, "g");
                assert_eq!(Gang.job_valid(st, j).is_none(), valid, "valid case {i}");
                assert_eq!(Gang.job_ready(st, j), Some(is_ready), "ready case {i}");
                assert_eq!(Gang.job_pipelined(st, j), vote, "pipelined case {i}");
                assert_eq!(
                    Gang.job_starving(st, j),
                    Some(starving),
                    "starving case {i}"
                );
            });
        }
    }

    #[test]
    fn min_task_member_per_role() {
        let mut k = kit();
        for (t, role) in [
            ("g/0", "ps"),
            ("g/1", "worker"),
            ("g/2", "worker"),
            ("g/3", "worker"),
        ] {
            k.edit_task(t, |x| x.role = Some(role.into()));
        }
        k.snap
            .jobs
            .get_mut(&"g".into())
            .expect("job")
            .min_task_member = [("ps".to_owned(), 1), ("worker".to_owned(), 2)].into();
        k.with_state(|st| {
            let j = job_ix(st, "g");
            assert!(Gang.job_valid(st, j).is_none());
            assert_eq!(
                Gang.job_ready(st, j),
                Some(false),
                "2 ready but only 1 worker"
            );
        });
        k.status("g/2", TaskStatus::Running)
            .edit_task("g/2", |t| t.node = Some("n".into()));
        k.with_state(|st| assert_eq!(Gang.job_ready(st, job_ix(st, "g")), Some(true)));
        k.status("g/3", TaskStatus::Failed)
            .status("g/2", TaskStatus::Failed);
        k.with_state(|st| {
            assert_eq!(
                Gang.job_valid(st, job_ix(st, "g")).map(|v| v.reason),
                Some("NotEnoughTasks".into())
            );
        });
    }

    /// Volcano skips per-task minimums when minMember is below their sum (an elastic job whose
    /// task minimum was defaulted to its replicas): minMember alone decides.
    #[test]
    fn role_minimums_above_min_member_do_not_bind() {
        let mut k = kit();
        for t in ["g/0", "g/1", "g/2", "g/3"] {
            k.edit_task(t, |x| x.role = Some("train".into()));
        }
        k.job("g", 1, 0);
        k.snap
            .jobs
            .get_mut(&"g".into())
            .expect("job")
            .min_task_member = [("train".to_owned(), 4)].into();
        k.status("g/0", TaskStatus::Pending)
            .status("g/1", TaskStatus::Pending)
            .edit_task("g/0", |t| t.node = None)
            .edit_task("g/1", |t| t.node = None);
        k.with_state(|st| {
            let j = job_ix(st, "g");
            assert!(Gang.job_valid(st, j).is_none());
            assert_eq!(Gang.job_ready(st, j), Some(false), "nothing placed yet");
        });
        k.status("g/2", TaskStatus::Pipelined)
            .edit_task("g/2", |t| t.node = Some("n".into()));
        k.with_state(|st| {
            assert_eq!(Gang.job_pipelined(st, job_ix(st, "g")), Vote::Permit);
        });
        k.status("g/2", TaskStatus::Running);
        k.with_state(|st| {
            assert_eq!(
                Gang.job_ready(st, job_ix(st, "g")),
                Some(true),
                "1 of 4 is enough"
            );
        });
        // minMember 4 = the sum: the role minimum binds again (and is met only with all four).
        k.job("g", 4, 0);
        k.snap
            .jobs
            .get_mut(&"g".into())
            .expect("job")
            .min_task_member = [("train".to_owned(), 4)].into();
        k.with_state(|st| assert_eq!(Gang.job_ready(st, job_ix(st, "g")), Some(false)));
    }

    #[test]
    fn victims_never_break_a_running_gang() {
        let mut k = kit();
        k.status("g/2", TaskStatus::Running)
            .edit_task("g/2", |t| t.node = Some("n".into()));
        k.with_state(|st| {
            let all: Vec<TaskIx> = ["g/0", "g/1", "g/2"]
                .iter()
                .map(|n| task_ix(st, n))
                .collect();
            // 3 running, minMember 3: nothing may go.
            assert_eq!(Gang.preemptable(st, all[0], &all), Some(vec![]));
        });
        k.job("g", 1, 0);
        k.with_state(|st| {
            let all: Vec<TaskIx> = ["g/0", "g/1", "g/2"]
                .iter()
                .map(|n| task_ix(st, n))
                .collect();
            // minMember 1: two of three may go, in candidate order.
            assert_eq!(
                Gang.reclaimable(st, all[0], &all),
                Some(vec![all[0], all[1]])
            );
        });
    }

    #[test]
    fn summary_counts_failed_tasks_and_reasons() {
        let k = kit();
        k.with_state(|st| {
            let why = Unschedulable {
                failed_tasks: 3,
                reasons: [
                    ("Insufficient nvidia.com/gpu".to_owned(), 3),
                    ("Too many pods".to_owned(), 1),
                ]
                .into(),
            };
            assert_eq!(
                unschedulable_summary(st, job_ix(st, "g"), &why, true),
                "3/4 tasks in gang unschedulable: 3 Insufficient nvidia.com/gpu, 1 Too many pods"
            );
            // Node-worded reasons say they count tasks (issue 20: "4 node(s)" on one node).
            let why = Unschedulable {
                failed_tasks: 4,
                reasons: [(
                    "node(s) had no GPU card with enough free memory and cores".to_owned(),
                    4,
                )]
                .into(),
            };
            assert_eq!(
                unschedulable_summary(st, job_ix(st, "g"), &why, true),
                "4/4 tasks in gang unschedulable: 4 tasks: node(s) had no GPU card with enough free memory and cores"
            );
        });
    }
}
