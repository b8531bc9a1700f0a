//! Table-style tests of the pure JobFlow decision (`plan` + `status`).

use std::collections::{BTreeMap, BTreeSet};
use std::time::Duration;

use crds::job::JobPhase;
use crds::jobflow::{FlowPhase, JobFlowSpec, JobFlowStatus, RetainPolicy};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::Time;
use k8s_openapi::jiff::Timestamp;

use super::dag::Dag;
use super::plan::{Input, ObservedJob, Plan, StepState, plan};

const CHAIN: &str = "flows: [{name: a}, {name: b, dependsOn: {targets: [a]}}, {name: c, dependsOn: {targets: [b]}}]";
const DIAMOND: &str = "flows: [{name: a}, {name: b, dependsOn: {targets: [a]}}, {name: c, dependsOn: {targets: [a]}}, \
                       {name: d, dependsOn: {targets: [b, c]}}]";

fn t(secs: i64) -> Time {
    Time(Timestamp::from_second(1_800_000_000 + secs).unwrap())
}

fn job(phase: JobPhase, attempt: u32) -> ObservedJob {
    ObservedJob {
        phase,
        attempt,
        created: Some(t(0)),
        transitioned: Some(t(10)),
        ..Default::default()
    }
}

struct Case {
    spec: JobFlowSpec,
    jobs: BTreeMap<String, ObservedJob>,
    previous: JobFlowStatus,
    round: u32,
    passed: BTreeSet<String>,
    now: i64,
}

impl Case {
    fn new(spec: &str) -> Self {
        Self {
            spec: serde_saphyr::from_str(spec).unwrap(),
            jobs: BTreeMap::new(),
            previous: JobFlowStatus::default(),
            round: 0,
            passed: BTreeSet::new(),
            now: 100,
        }
    }
    fn with(mut self, step: &str, j: ObservedJob) -> Self {
        self.jobs.insert(step.into(), j);
        self
    }
    fn run(&self) -> Plan {
        let dag = Dag::build("f", &self.spec).unwrap();
        plan(&Input {
            flow: "f",
            spec: &self.spec,
            dag: &dag,
            jobs: &self.jobs,
            previous: &self.previous,
            round: self.round,
            deleting: false,
            probes_passed: &self.passed,
            now: t(self.now).0,
        })
    }
}

fn state<'a>(p: &'a Plan, step: &str) -> &'a StepState {
    &p.steps.iter().find(|(s, _)| s == step).unwrap().1
}

fn phase(p: &Plan) -> FlowPhase {
    p.status.state.as_ref().unwrap().phase.unwrap()
}

fn restarts(p: &Plan, job: &str) -> i32 {
    let list = p.status.job_status_list.as_ref().unwrap();
    list.iter()
        .find(|e| e.name.as_deref() == Some(job))
        .unwrap()
        .restart_count
        .unwrap()
}

#[test]
fn a_chain_starts_one_step_at_a_time() {
    let p = Case::new(CHAIN).run();
    assert_eq!(state(&p, "a"), &StepState::Create(1));
    assert_eq!(state(&p, "b"), &StepState::Waiting);
    assert_eq!(phase(&p), FlowPhase::Pending);
    let p = Case::new(CHAIN).with("a", job(JobPhase::Running, 1)).run();
    assert_eq!(state(&p, "b"), &StepState::Waiting);
    assert_eq!(phase(&p), FlowPhase::Running);
    assert_eq!(
        p.status.running_jobs.as_deref(),
        Some(&["f-a".to_owned()][..])
    );
    let p = Case::new(CHAIN)
        .with("a", job(JobPhase::Completed, 1))
        .run();
    assert_eq!(state(&p, "b"), &StepState::Create(1));
    assert_eq!(state(&p, "c"), &StepState::Waiting);
}

#[test]
fn a_diamond_runs_b_and_c_together_and_d_after_both() {
    let c = Case::new(DIAMOND).with("a", job(JobPhase::Completed, 1));
    let p = c.run();
    assert_eq!(
        (state(&p, "b"), state(&p, "c")),
        (&StepState::Create(1), &StepState::Create(1))
    );
    let p = c
        .with("b", job(JobPhase::Completed, 1))
        .with("c", job(JobPhase::Running, 1))
        .run();
    assert_eq!(state(&p, "d"), &StepState::Waiting);
    let c = Case::new(DIAMOND)
        .with("a", job(JobPhase::Completed, 1))
        .with("b", job(JobPhase::Completed, 1))
        .with("c", job(JobPhase::Completed, 1));
    assert_eq!(state(&c.run(), "d"), &StepState::Create(1));
    let p = c.with("d", job(JobPhase::Completed, 1)).run();
    assert_eq!(phase(&p), FlowPhase::Succeed);
    assert_eq!(p.status.completed_jobs.as_ref().unwrap().len(), 4);
    assert!(!p.delete_all, "retain is the default");
}

#[test]
fn without_a_retry_policy_a_failure_fails_the_flow_and_stops_new_steps() {
    let p = Case::new(DIAMOND)
        .with("a", job(JobPhase::Completed, 1))
        .with("b", job(JobPhase::Failed, 1))
        .run();
    assert_eq!(state(&p, "b"), &StepState::Exhausted(JobPhase::Failed));
    assert_eq!(
        state(&p, "c"),
        &StepState::Waiting,
        "nothing new starts once the flow failed"
    );
    assert_eq!(phase(&p), FlowPhase::Failed);
    assert_eq!(
        p.status.failed_jobs.as_deref(),
        Some(&["f-b".to_owned()][..])
    );
    // Terminated and Aborted count as failures too (Volcano's flows got stuck on them).
    for ph in [JobPhase::Terminated, JobPhase::Aborted] {
        let p = Case::new(CHAIN).with("a", job(ph, 1)).run();
        assert_eq!(phase(&p), FlowPhase::Failed, "{ph:?}");
    }
}

#[test]
fn retries_wait_for_the_backoff_then_count_the_attempt() {
    let spec = format!("retryPolicy: {{maxRetries: 3, backoffSeconds: 30}}\n{CHAIN}");
    let mut c = Case::new(&spec)
        .with("a", job(JobPhase::Completed, 1))
        .with("b", job(JobPhase::Failed, 1));
    c.now = 20; // failed at 10
    let p = c.run();
    assert_eq!(state(&p, "b"), &StepState::Backoff(Duration::from_secs(20)));
    assert_eq!(p.requeue, Some(Duration::from_secs(20)));
    assert_eq!(phase(&p), FlowPhase::Running);
    assert_eq!(
        state(&p, "a"),
        &StepState::Completed,
        "upstream is never re-run"
    );
    c.now = 40;
    let p = c.run();
    assert_eq!(state(&p, "b"), &StepState::Retry);
    assert_eq!(restarts(&p, "f-b"), 1);
    // After the delete (or a crash right after the status write): the ledger drives the attempt.
    let mut c2 = Case::new(&spec).with("a", job(JobPhase::Completed, 1));
    c2.previous = p.status.clone();
    let p2 = c2.run();
    assert_eq!(state(&p2, "b"), &StepState::Create(2));
    assert_eq!(restarts(&p2, "f-b"), 1, "not counted twice");
    // A crash before the delete: the failed Job is still there; the retry is not counted again.
    c.previous = p.status.clone();
    let p3 = c.run();
    assert_eq!(
        (state(&p3, "b"), restarts(&p3, "f-b")),
        (&StepState::Retry, 1)
    );
    // The third attempt fails: no retries left after attempt 4.
    let mut c4 = Case::new(&spec)
        .with("a", job(JobPhase::Completed, 1))
        .with("b", job(JobPhase::Failed, 4));
    c4.now = 1000;
    assert_eq!(phase(&c4.run()), FlowPhase::Failed);
}

#[test]
fn a_per_step_policy_overrides_the_flows() {
    let spec = "retryPolicy: {maxRetries: 5}\nflows: [{name: a, retryPolicy: {maxRetries: 0}}]";
    let p = Case::new(spec).with("a", job(JobPhase::Failed, 1)).run();
    assert_eq!(phase(&p), FlowPhase::Failed);
}

#[test]
fn a_retry_round_resumes_exhausted_steps_once() {
    let spec = format!("retryPolicy: {{maxRetries: 1}}\n{CHAIN}");
    let mut c = Case::new(&spec)
        .with("a", job(JobPhase::Completed, 1))
        .with("b", job(JobPhase::Failed, 2));
    assert_eq!(phase(&c.run()), FlowPhase::Failed);
    c.round = 1;
    let p = c.run();
    assert_eq!(
        (state(&p, "b"), restarts(&p, "f-b")),
        (&StepState::Retry, 2)
    );
    assert_eq!(
        phase(&p),
        FlowPhase::Running,
        "a resumed flow is no longer Failed"
    );
    let mut again = c.with(
        "b",
        ObservedJob {
            round: 1,
            ..job(JobPhase::Failed, 3)
        },
    );
    again.previous = p.status;
    assert_eq!(
        phase(&again.run()),
        FlowPhase::Failed,
        "one more attempt per round"
    );
}

#[test]
fn a_completed_step_is_never_re_created() {
    let c = Case::new(CHAIN)
        .with("a", job(JobPhase::Completed, 1))
        .with("b", job(JobPhase::Running, 1));
    let p = c.run();
    let mut after = Case::new(CHAIN).with("b", job(JobPhase::Running, 1));
    after.previous = p.status;
    let p = after.run();
    assert_eq!(state(&p, "a"), &StepState::Completed);
    assert_eq!(
        p.status.completed_jobs.as_deref(),
        Some(&["f-a".to_owned()][..])
    );
}

#[test]
fn probes_gate_on_running_targets() {
    let spec = "flows: [{name: server}, {name: client, dependsOn: {targets: [server], probe: {tcpSocketList: [{taskName: s, port: 80}]}}}]";
    let c = Case::new(spec).with("server", job(JobPhase::Pending, 1));
    assert_eq!(state(&c.run(), "client"), &StepState::Waiting);
    let mut c = c.with("server", job(JobPhase::Running, 1));
    let p = c.run();
    assert_eq!(state(&p, "client"), &StepState::AwaitingProbe);
    assert_eq!(p.requeue, Some(Duration::from_secs(2)));
    c.passed.insert("client".into());
    assert_eq!(state(&c.run(), "client"), &StepState::Create(1));
}

#[test]
fn status_is_stable_and_histories_append_on_change() {
    let c = Case::new(CHAIN).with("a", job(JobPhase::Running, 1));
    let p = c.run();
    let mut again = Case::new(CHAIN).with("a", job(JobPhase::Running, 1));
    again.previous = p.status.clone();
    again.now = 500;
    assert_eq!(again.run().status, p.status, "no change, no write");
    let mut done = Case::new(CHAIN).with("a", job(JobPhase::Completed, 1));
    done.previous = p.status.clone();
    let s = done.run().status;
    let entry = &s.job_status_list.as_ref().unwrap()[0];
    let h = entry.running_histories.as_ref().unwrap();
    assert_eq!(h.len(), 2);
    assert!(h[0].end_timestamp.is_some() && h[1].state == Some(JobPhase::Completed));
    assert_eq!(entry.end_timestamp, Some(t(10)));
    assert!(s.conditions.as_ref().unwrap().contains_key("f-a"));
}

#[test]
fn retain_policy_delete_removes_jobs_after_success() {
    let spec = format!("jobRetainPolicy: delete\n{CHAIN}");
    let c = Case::new(&spec)
        .with("a", job(JobPhase::Completed, 1))
        .with("b", job(JobPhase::Completed, 1))
        .with("c", job(JobPhase::Completed, 1));
    let p = c.run();
    assert!(p.delete_all);
    assert_eq!(c.spec.job_retain_policy, Some(RetainPolicy::Delete));
    let mut gone = Case::new(&spec);
    gone.previous = p.status.clone();
    let p2 = gone.run();
    assert!(!p2.delete_all);
    assert_eq!(
        phase(&p2),
        FlowPhase::Succeed,
        "the ledger remembers the deleted Jobs"
    );
}
