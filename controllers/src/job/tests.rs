//! Table-style tests of the pure job state machine, builders and plugins.

use std::collections::BTreeMap;

use crds::job::{Action, Job, JobPhase, JobState, JobStatus};
use crds::labels;
use crds::podgroup::PodGroupPhase;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::Time;
use k8s_openapi::jiff::Timestamp;

use super::state::{Observed, Plan, PodGroupAction, PodGroupView, plan};
use super::view::{PodPhase, PodView, pod};
use super::{build, plugins};

fn job() -> Job {
    let text = include_str!("../../../examples/03-gang-distributed-training-job.yaml");
    let mut job: Job = serde_saphyr::from_str(text).unwrap();
    job.metadata.namespace = Some("default".into());
    job.metadata.uid = Some("u1".into());
    job
}

fn with_phase(mut job: Job, phase: JobPhase, version: i32, retry: i32) -> Job {
    job.status = Some(JobStatus {
        state: Some(JobState {
            phase: Some(phase),
            ..Default::default()
        }),
        version: Some(version),
        retry_count: Some(retry),
        ..Default::default()
    });
    job
}

fn now() -> Timestamp {
    Timestamp::from_second(1_000_000).unwrap()
}

fn run(job: &Job, pods: &[PodView], pg: Option<PodGroupPhase>, command: Option<Action>) -> Plan {
    let podgroup = Some(PodGroupView {
        phase: pg,
        version: job.status.as_ref().and_then(|s| s.version).unwrap_or(0),
    });
    plan(
        job,
        Observed {
            pods,
            podgroup,
            command,
            now: now(),
        },
    )
}

fn phase(plan: &Plan) -> JobPhase {
    plan.status.state.as_ref().and_then(|s| s.phase).unwrap()
}

fn gang(version: i32, phase: PodPhase) -> Vec<PodView> {
    let mut v = vec![pod("master", 0, version, phase)];
    v.extend((0..3).map(|i| pod("worker", i, version, phase)));
    v
}

#[test]
fn new_job_creates_podgroup_but_no_pods_until_admitted() {
    let p = plan(
        &job(),
        Observed {
            pods: &[],
            podgroup: None,
            command: None,
            now: now(),
        },
    );
    assert_eq!(phase(&p), JobPhase::Pending);
    assert_eq!(p.podgroup, PodGroupAction::Ensure);
    assert!(p.create_pods.is_empty());
    assert_eq!(p.status.min_available, Some(4));
    let p = run(&job(), &[], Some(PodGroupPhase::Pending), None);
    assert!(p.create_pods.is_empty(), "pods wait for the enqueue action");
}

#[test]
fn admitted_job_creates_every_missing_pod_once() {
    let j = with_phase(job(), JobPhase::Pending, 0, 0);
    let p = run(&j, &[], Some(PodGroupPhase::Inqueue), None);
    assert_eq!(p.create_pods.len(), 4);
    let p = run(
        &j,
        &gang(0, PodPhase::Pending),
        Some(PodGroupPhase::Inqueue),
        None,
    );
    assert!(p.create_pods.is_empty());
    assert!(p.delete_pods.is_empty());
    assert!(p.transition.is_none());
}

#[test]
fn pending_becomes_running_at_min_available() {
    let j = with_phase(job(), JobPhase::Pending, 0, 0);
    let mut pods = gang(0, PodPhase::Running);
    pods[3].phase = PodPhase::Pending;
    assert_eq!(
        phase(&run(&j, &pods, Some(PodGroupPhase::Running), None)),
        JobPhase::Pending
    );
    let p = run(
        &j,
        &gang(0, PodPhase::Running),
        Some(PodGroupPhase::Running),
        None,
    );
    assert_eq!(phase(&p), JobPhase::Running);
    assert_eq!(p.status.running, Some(4));
    assert_eq!(p.transition.as_ref().map(|t| t.to), Some(JobPhase::Running));
}

#[test]
fn pod_failed_restarts_job_until_max_retry_then_fails() {
    let mut pods = gang(0, PodPhase::Running);
    pods[1].phase = PodPhase::Failed;
    let j = with_phase(job(), JobPhase::Running, 0, 0);
    let p = run(&j, &pods, Some(PodGroupPhase::Running), None);
    assert_eq!(phase(&p), JobPhase::Restarting);
    assert_eq!(p.status.retry_count, Some(1));
    assert_eq!(p.status.version, Some(1));
    assert_eq!(p.delete_pods.len(), 4, "RestartJob kills every pod");
    assert_eq!(p.podgroup, PodGroupAction::Delete);

    // Restarting with old pods still around: keep killing, stay Restarting.
    let j = with_phase(job(), JobPhase::Restarting, 1, 1);
    let p = run(&j, &pods, None, None);
    assert_eq!(phase(&p), JobPhase::Restarting);
    assert_eq!(p.delete_pods.len(), 4);
    // Pods gone: back to Pending, which re-creates the PodGroup.
    let p = run(&j, &[], None, None);
    assert_eq!(phase(&p), JobPhase::Pending);

    // Third failure uses the budget (maxRetry 3): Restarting then Failed.
    let j = with_phase(job(), JobPhase::Running, 2, 2);
    let mut pods = gang(2, PodPhase::Running);
    pods[0].phase = PodPhase::Failed;
    let p = run(&j, &pods, Some(PodGroupPhase::Running), None);
    assert_eq!(p.status.retry_count, Some(3));
    assert!(
        !p.delete_pods.contains(&pods[0].name),
        "the last retry keeps the failed pod"
    );
    let j = with_phase(job(), JobPhase::Restarting, 3, 3);
    assert_eq!(phase(&run(&j, &pods, None, None)), JobPhase::Failed);
}

#[test]
fn stale_failed_pod_does_not_trigger_a_second_restart() {
    let mut pods = gang(1, PodPhase::Running);
    pods.push(PodView {
        name: "old".into(),
        ..pod("worker", 9, 0, PodPhase::Failed)
    });
    let j = with_phase(job(), JobPhase::Running, 1, 1);
    let p = run(&j, &pods, Some(PodGroupPhase::Running), None);
    assert_eq!(phase(&p), JobPhase::Running);
    assert!(p.delete_pods.contains("old"));
    assert_eq!(p.status.retry_count, Some(1));
}

#[test]
fn evicted_pod_restarts_job() {
    let mut pods = gang(0, PodPhase::Running);
    pods[2].deleting = true;
    let j = with_phase(job(), JobPhase::Running, 0, 0);
    let p = run(&j, &pods, Some(PodGroupPhase::Running), None);
    assert_eq!(phase(&p), JobPhase::Restarting);
    assert_eq!(p.transition.unwrap().reason, "PodEvicted");
}

#[test]
fn task_completed_completes_job() {
    let mut pods = gang(0, PodPhase::Running);
    pods[0].phase = PodPhase::Succeeded;
    let j = with_phase(job(), JobPhase::Running, 0, 0);
    let p = run(&j, &pods, Some(PodGroupPhase::Running), None);
    assert_eq!(phase(&p), JobPhase::Completing);
    assert_eq!(
        p.delete_pods.len(),
        3,
        "running workers are killed, the succeeded master kept"
    );
    let j = with_phase(job(), JobPhase::Completing, 1, 0);
    let p = run(&j, &pods[..1], None, None);
    assert_eq!(phase(&p), JobPhase::Completed);
}

#[test]
fn all_pods_finished_decides_completed_or_failed() {
    let mut j = job();
    j.spec.policies = None;
    let j = with_phase(j, JobPhase::Running, 0, 0);
    let p = run(
        &j,
        &gang(0, PodPhase::Succeeded),
        Some(PodGroupPhase::Running),
        None,
    );
    assert_eq!(phase(&p), JobPhase::Completed);
    let mut pods = gang(0, PodPhase::Succeeded);
    pods[0].phase = PodPhase::Failed;
    let p = run(&j, &pods, Some(PodGroupPhase::Running), None);
    assert_eq!(phase(&p), JobPhase::Failed, "3 succeeded < minAvailable 4");
}

#[test]
fn commands_abort_resume_and_terminate() {
    let j = with_phase(job(), JobPhase::Running, 0, 0);
    let pods = gang(0, PodPhase::Running);
    let p = run(
        &j,
        &pods,
        Some(PodGroupPhase::Running),
        Some(Action::AbortJob),
    );
    assert_eq!(phase(&p), JobPhase::Aborting);
    assert_eq!(p.delete_pods.len(), 4);
    let aborting = with_phase(job(), JobPhase::Aborting, 1, 0);
    assert_eq!(phase(&run(&aborting, &[], None, None)), JobPhase::Aborted);
    let aborted = with_phase(job(), JobPhase::Aborted, 1, 0);
    let p = run(&aborted, &[], None, Some(Action::ResumeJob));
    assert_eq!(phase(&p), JobPhase::Restarting);
    let p = run(
        &j,
        &pods,
        Some(PodGroupPhase::Running),
        Some(Action::TerminateJob),
    );
    assert_eq!(phase(&p), JobPhase::Terminating);
    let p = run(
        &j,
        &pods,
        Some(PodGroupPhase::Running),
        Some(Action::RestartJob),
    );
    assert_eq!(
        (phase(&p), p.status.retry_count),
        (JobPhase::Restarting, Some(1))
    );
}

#[test]
fn ttl_deletes_finished_job_after_deadline() {
    let mut j = with_phase(job(), JobPhase::Completed, 0, 0);
    j.spec.ttl_seconds_after_finished = Some(60);
    let finished = Timestamp::from_second(1_000_000 - 30).unwrap();
    j.status
        .as_mut()
        .unwrap()
        .state
        .as_mut()
        .unwrap()
        .last_transition_time = Some(Time(finished));
    let p = run(&j, &[], None, None);
    assert!(!p.delete_job);
    assert_eq!(p.requeue_after, Some(std::time::Duration::from_secs(30)));
    j.spec.ttl_seconds_after_finished = Some(10);
    assert!(run(&j, &[], None, None).delete_job);
}

#[test]
fn policy_timeout_waits_then_acts() {
    let mut j = job();
    j.spec.policies.as_mut().unwrap()[1].timeout = Some("1m".into());
    let j = with_phase(j, JobPhase::Running, 0, 0);
    let mut pods = gang(0, PodPhase::Running);
    pods[1].phase = PodPhase::Failed;
    pods[1].since = Some(Timestamp::from_second(1_000_000 - 20).unwrap());
    let p = run(&j, &pods, Some(PodGroupPhase::Running), None);
    assert_eq!(phase(&p), JobPhase::Running);
    assert_eq!(p.requeue_after, Some(std::time::Duration::from_secs(40)));
    pods[1].since = Some(Timestamp::from_second(1_000_000 - 61).unwrap());
    assert_eq!(
        phase(&run(&j, &pods, Some(PodGroupPhase::Running), None)),
        JobPhase::Restarting
    );
}

/// The timeouts admission accepts are the ones the controller waits on, and the ones it refuses
/// never fire here: both read them with `scheduler_core::duration::parse` (Go's grammar,
/// non-negative). The webhook's half of this table is `webhooks/tests/job_rules.rs`
/// (`policy_timeouts_are_go_durations_as_the_controller_reads_them`).
#[test]
fn policy_timeouts_are_go_durations() {
    let wait_70s = Some(std::time::Duration::from_secs(70));
    for (timeout, waits) in [
        ("1m30s", true),
        ("+90s", true),
        ("90000ms", true),
        ("0.025h", true),
        ("90", false),
        ("-90s", false),
        ("1m 30s", false),
        ("90S", false),
    ] {
        let mut j = job();
        j.spec.policies.as_mut().unwrap()[1].timeout = Some(timeout.into());
        let j = with_phase(j, JobPhase::Running, 0, 0);
        let mut pods = gang(0, PodPhase::Running);
        pods[1].phase = PodPhase::Failed;
        pods[1].since = Some(Timestamp::from_second(1_000_000 - 20).unwrap());
        let p = run(&j, &pods, Some(PodGroupPhase::Running), None);
        assert_eq!(phase(&p), JobPhase::Running, "{timeout}");
        assert_eq!(p.requeue_after == wait_70s, waits, "{timeout}");
    }
    // `-0s` is zero in Go: the policy acts at once.
    let mut j = job();
    j.spec.policies.as_mut().unwrap()[1].timeout = Some("-0s".into());
    let j = with_phase(j, JobPhase::Running, 0, 0);
    let mut pods = gang(0, PodPhase::Running);
    pods[1].phase = PodPhase::Failed;
    pods[1].since = Some(Timestamp::from_second(1_000_000 - 20).unwrap());
    let p = run(&j, &pods, Some(PodGroupPhase::Running), None);
    assert_eq!(phase(&p), JobPhase::Restarting);
}

#[test]
fn absurd_policy_timeouts_never_panic_and_never_fire() {
    // issue 16: "99999999999999999999h" overflowed the duration arithmetic and panicked the
    // reconciler. Past Go's limit the timeout cannot be read, so the policy waits forever;
    // the largest valid value waits too.
    for timeout in ["99999999999999999999h", "1e30s", "2562047h"] {
        let mut j = job();
        j.spec.policies.as_mut().unwrap()[1].timeout = Some(timeout.into());
        let j = with_phase(j, JobPhase::Running, 0, 0);
        let mut pods = gang(0, PodPhase::Running);
        pods[1].phase = PodPhase::Failed;
        pods[1].since = Some(Timestamp::from_second(1).unwrap());
        let p = run(&j, &pods, Some(PodGroupPhase::Running), None);
        assert_eq!(phase(&p), JobPhase::Running, "{timeout}");
    }
}

#[test]
fn exit_code_policy_and_restart_task() {
    let mut j = job();
    j.spec.policies = None;
    j.spec.tasks[1].policies = Some(vec![crds::job::LifecyclePolicy {
        action: Some(Action::RestartTask),
        exit_code: Some(137),
        ..Default::default()
    }]);
    let j = with_phase(j, JobPhase::Running, 0, 0);
    let mut pods = gang(0, PodPhase::Running);
    pods[2].phase = PodPhase::Failed;
    pods[2].exit_code = Some(1);
    assert_eq!(
        phase(&run(&j, &pods, Some(PodGroupPhase::Running), None)),
        JobPhase::Running
    );
    pods[2].exit_code = Some(137);
    let p = run(&j, &pods, Some(PodGroupPhase::Running), None);
    assert_eq!(phase(&p), JobPhase::Restarting);
    assert_eq!(p.delete_pods.len(), 3, "only the worker task restarts");
    assert_eq!(p.status.version, Some(0));
}

#[test]
fn restart_partition_restarts_only_the_evicted_pods_partition() {
    let mut j = job();
    j.spec.policies = Some(vec![crds::job::LifecyclePolicy {
        event: Some(crds::job::Event::PodEvicted),
        action: Some(Action::RestartPartition),
        ..Default::default()
    }]);
    j.spec.tasks[1].replicas = Some(4);
    j.spec.tasks[1].partition_policy = Some(crds::job::PartitionPolicySpec {
        total_partitions: 2,
        partition_size: 2,
        ..Default::default()
    });
    let j = with_phase(j, JobPhase::Running, 0, 0);
    // The pods as the controller builds them: the partition label is index / partitionSize.
    let mut pods: Vec<PodView> = vec![pod("master", 0, 0, PodPhase::Running)];
    for i in 0..4 {
        let built = build::pod(&j, &j.spec.tasks[1], i);
        let mut view = PodView::from_pod(&built);
        assert_eq!(view.partition, Some(i / 2), "worker-{i}");
        view.phase = PodPhase::Running;
        pods.push(view);
    }
    pods[4].deleting = true; // worker-3, partition 1, evicted
    let p = run(&j, &pods, Some(PodGroupPhase::Running), None);
    assert_eq!(phase(&p), JobPhase::Restarting);
    assert_eq!(
        p.delete_pods.iter().collect::<Vec<_>>(),
        vec!["distributed-training-worker-2"],
        "the evicted pod's partition restarts (worker-3 is already going), nothing else"
    );
    assert_eq!(p.status.version, Some(0), "not a whole-job restart");
    assert_eq!(p.status.retry_count, Some(1));

    // A task without a partitionPolicy: the pods carry no partition, only the evicted pod goes.
    let mut plain = j.clone();
    plain.spec.tasks[1].partition_policy = None;
    let built = build::pod(&plain, &plain.spec.tasks[1], 3);
    assert!(
        !built
            .metadata
            .labels
            .as_ref()
            .unwrap()
            .contains_key(labels::TASK_PARTITION_ID)
    );
    for p in &mut pods {
        p.partition = None;
    }
    let p = run(&plain, &pods, Some(PodGroupPhase::Running), None);
    assert_eq!(phase(&p), JobPhase::Restarting);
    assert!(
        !p.delete_pods.contains("distributed-training-worker-2"),
        "{:?}",
        p.delete_pods
    );
}

#[test]
fn scaling_down_deletes_surplus_pods() {
    let mut j = with_phase(job(), JobPhase::Running, 0, 0);
    j.spec.tasks[1].replicas = Some(2);
    j.spec.min_available = Some(3);
    let p = run(
        &j,
        &gang(0, PodPhase::Running),
        Some(PodGroupPhase::Running),
        None,
    );
    assert_eq!(
        p.delete_pods.iter().collect::<Vec<_>>(),
        vec!["distributed-training-worker-2"]
    );
}

#[test]
fn plan_is_idempotent() {
    let j = with_phase(job(), JobPhase::Running, 0, 0);
    let pods = gang(0, PodPhase::Running);
    assert_eq!(
        run(&j, &pods, Some(PodGroupPhase::Running), None),
        run(&j, &pods, Some(PodGroupPhase::Running), None)
    );
}

#[test]
fn pods_carry_volcano_labels_annotations_and_owner() {
    let mut j = with_phase(job(), JobPhase::Pending, 2, 1);
    j.metadata.annotations = Some([(labels::PREEMPTABLE.to_owned(), "false".to_owned())].into());
    let task = &j.spec.tasks[1];
    let mut pod = build::pod(&j, task, 2);
    plugins::mutate_pod(&j, "worker", 2, &mut pod);
    let meta = &pod.metadata;
    assert_eq!(meta.name.as_deref(), Some("distributed-training-worker-2"));
    let l = meta.labels.as_ref().unwrap();
    assert_eq!(l[labels::JOB_NAME], "distributed-training");
    assert_eq!(l[labels::TASK_INDEX], "2");
    assert_eq!(l[labels::MANAGED_BY], "basalt");
    let a = meta.annotations.as_ref().unwrap();
    assert_eq!(a[labels::GROUP_NAME], "distributed-training-u1");
    assert_eq!(a[labels::JOB_VERSION], "2");
    assert_eq!(a[labels::JOB_RETRY_COUNT], "1");
    assert_eq!(a[labels::TEMPLATE_UID], "distributed-training-worker");
    assert_eq!(a[labels::PREEMPTABLE], "false");
    assert_eq!(a["sim.basalt.dev/duration"], "120s");
    assert_eq!(
        meta.owner_references.as_ref().unwrap()[0].controller,
        Some(true)
    );
    let spec = pod.spec.as_ref().unwrap();
    assert_eq!(spec.scheduler_name.as_deref(), Some("volcano"));
    assert_eq!(
        spec.hostname.as_deref(),
        Some("distributed-training-worker-2")
    );
    assert_eq!(spec.subdomain.as_deref(), Some("distributed-training"));
    let env = spec.containers[0].env.as_ref().unwrap();
    assert!(
        env.iter()
            .any(|e| e.name == "VK_TASK_INDEX" && e.value.as_deref() == Some("2"))
    );
    assert!(env.iter().any(|e| e.name == "VC_WORKER_HOSTS"));
    let view = PodView::from_pod(&pod);
    assert_eq!(
        (view.task.as_str(), view.index, view.version),
        ("worker", 2, 2)
    );
}

#[test]
fn podgroup_sums_min_resources_of_the_gang() {
    let mut j = job();
    j.spec.min_available = Some(3);
    let pg = build::podgroup(&j, &Default::default());
    assert_eq!(pg.metadata.name.as_deref(), Some("distributed-training-u1"));
    assert_eq!(pg.spec.min_member, Some(3));
    assert_eq!(pg.spec.queue.as_deref(), Some("default"));
    assert_eq!(pg.spec.min_resources.unwrap()["nvidia.com/gpu"].0, "6");
}

/// Volcano's job controller rule for `minResources` (gang_pods per task: master, worker).
#[test]
fn gang_pods_follow_task_priority_and_the_elastic_rule() {
    use std::collections::BTreeMap;
    let none = BTreeMap::new();
    let high: BTreeMap<String, i32> = [("high".to_owned(), 100)].into();
    let with = |min: i32, task_min: [Option<i32>; 2], worker_class: Option<&str>| {
        let mut j = job();
        j.spec.min_available = Some(min);
        for (t, m) in j.spec.tasks.iter_mut().zip(task_min) {
            t.min_available = m;
        }
        if let Some(spec) = j.spec.tasks[1].template.spec.as_mut() {
            spec.priority_class_name = worker_class.map(str::to_owned);
        }
        j
    };
    // (minAvailable, task minimums, worker's class, priorities, expected pods per task)
    type Case<'a> = (
        i32,
        [Option<i32>; 2],
        Option<&'a str>,
        &'a BTreeMap<String, i32>,
        [i32; 2],
    );
    let cases: [Case<'_>; 6] = [
        // Elastic (2 < 1 + 3): the first two replicas in spec order.
        (2, [Some(1), Some(3)], None, &none, [1, 1]),
        // Elastic, workers' class is higher: they come first.
        (2, [Some(1), Some(3)], Some("high"), &high, [0, 2]),
        // A class that does not exist counts as 0: spec order again.
        (2, [Some(1), Some(3)], Some("high"), &none, [1, 1]),
        // Not elastic (3 >= 1 + 1): each task's minimum first, then replicas by priority.
        (3, [Some(1), Some(1)], Some("high"), &high, [1, 2]),
        (4, [Some(1), Some(3)], None, &none, [1, 3]),
        // Unset task minimums count as replicas for the elastic test.
        (1, [None, None], None, &none, [1, 0]),
    ];
    for (i, (min, task_min, class, prio, want)) in cases.into_iter().enumerate() {
        let j = with(min, task_min, class);
        assert_eq!(build::gang_pods(&j, prio), want, "case {i}");
    }
    // The team-b job: minAvailable 1, one task of 32 replicas defaulted to minAvailable 32.
    let mut j = job();
    j.spec.tasks.truncate(1);
    j.spec.tasks[0].replicas = Some(32);
    j.spec.tasks[0].min_available = Some(32);
    j.spec.min_available = Some(1);
    let pg = build::podgroup(&j, &none);
    assert_eq!(pg.spec.min_resources.unwrap()["nvidia.com/gpu"].0, "2");
    assert_eq!(pg.spec.min_task_member.unwrap()["master"], 32);
}

/// Volcano's `Unknown` event comes from the PodGroup: a running gang that lost members it cannot
/// get back (upstream e2e "Abort job when job is unschedulable").
#[test]
fn podgroup_unknown_triggers_the_unknown_policy() {
    let mut j = with_phase(job(), JobPhase::Running, 0, 0);
    j.spec.policies = Some(vec![crds::job::LifecyclePolicy {
        event: Some(crds::job::Event::Unknown),
        action: Some(Action::AbortJob),
        ..Default::default()
    }]);
    let mut pods = gang(0, PodPhase::Running);
    pods.pop();
    let p = run(&j, &pods, Some(PodGroupPhase::Running), None);
    assert_ne!(
        phase(&p),
        JobPhase::Aborting,
        "a Running PodGroup raises nothing"
    );
    let p = run(&j, &pods, Some(PodGroupPhase::Unknown), None);
    assert_eq!(phase(&p), JobPhase::Aborting);
}

#[test]
fn svc_plugin_lists_hosts_per_task() {
    let (svc, cm) = plugins::svc_objects(&job()).unwrap();
    assert_eq!(svc.spec.unwrap().cluster_ip.as_deref(), Some("None"));
    let data = cm.data.unwrap();
    assert_eq!(data["VC_WORKER_NUM"], "3");
    assert_eq!(
        data["master.host"],
        "distributed-training-master-0.distributed-training"
    );
    assert_eq!(
        data["VC_WORKER_HOSTS"],
        "distributed-training-worker-0.distributed-training,distributed-training-worker-1.distributed-training,distributed-training-worker-2.distributed-training"
    );
}

#[test]
fn depends_on_waits_for_the_master_to_run() {
    let mut j = with_phase(job(), JobPhase::Pending, 0, 0);
    j.spec.tasks[1].depends_on = Some(crds::job::DependsOn {
        name: Some(vec!["master".into()]),
        iteration: None,
    });
    let p = run(&j, &[], Some(PodGroupPhase::Inqueue), None);
    assert_eq!(p.create_pods.len(), 1, "only the master first");
    let p = run(
        &j,
        &[pod("master", 0, 0, PodPhase::Pending)],
        Some(PodGroupPhase::Inqueue),
        None,
    );
    assert!(p.create_pods.is_empty());
    let p = run(
        &j,
        &[pod("master", 0, 0, PodPhase::Running)],
        Some(PodGroupPhase::Inqueue),
        None,
    );
    assert_eq!(p.create_pods.len(), 3, "workers once the master runs");
}

/// Pods are created highest task priority first, one wave per priority; without classes (or
/// with classes that do not exist) everything is one wave in plan order.
#[test]
fn pods_are_created_in_waves_of_task_priority() {
    use super::state::NewPod;
    use std::collections::BTreeMap;
    let new: Vec<NewPod> = [(0, 0), (1, 0), (1, 1), (1, 2)]
        .map(|(task, index)| NewPod { task, index })
        .to_vec();
    let mut j = job();
    assert_eq!(
        build::creation_waves(&j, &new, &BTreeMap::new()),
        vec![new.clone()]
    );
    // The workers (task 1) have the higher class: they come first.
    if let Some(spec) = j.spec.tasks[1].template.spec.as_mut() {
        spec.priority_class_name = Some("high".into());
    }
    let prio: BTreeMap<String, i32> = [("high".to_owned(), 100), ("job".to_owned(), 5)].into();
    assert_eq!(
        build::creation_waves(&j, &new, &prio),
        vec![new[1..].to_vec(), new[..1].to_vec()]
    );
    // The Job's class is the master's (no class of its own); it is above 0, below "high".
    j.spec.priority_class_name = Some("job".into());
    if let Some(spec) = j.spec.tasks[0].template.spec.as_mut() {
        spec.priority_class_name = None;
    }
    let mut prio_low = prio.clone();
    prio_low.insert("high".into(), 1);
    assert_eq!(
        build::creation_waves(&j, &new, &prio_low),
        vec![new[..1].to_vec(), new[1..].to_vec()]
    );
    // A class that does not exist counts as 0, as does no class at all: one wave.
    assert_eq!(
        build::creation_waves(&j, &new, &BTreeMap::new()),
        vec![new.clone()]
    );
}

/// The env vars of the first container of `task`'s pod `index` after the plugins ran.
fn framework_env(j: &Job, task: usize, index: i32) -> BTreeMap<String, String> {
    let t = &j.spec.tasks[task];
    let mut pod = build::pod(j, t, index);
    plugins::mutate_pod(j, &super::task_name(t), index, &mut pod);
    let c = &pod.spec.unwrap().containers[0];
    c.env
        .iter()
        .flatten()
        .filter_map(|e| Some((e.name.clone(), e.value.clone()?)))
        .collect()
}

fn ports(j: &Job, task: usize) -> Vec<i32> {
    let t = &j.spec.tasks[task];
    let mut pod = build::pod(j, t, 0);
    plugins::mutate_pod(j, &super::task_name(t), 0, &mut pod);
    pod.spec.unwrap().containers[0]
        .ports
        .iter()
        .flatten()
        .map(|p| p.container_port)
        .collect()
}

fn with_plugin(name: &str, args: &[&str]) -> Job {
    let mut j = job();
    j.spec.plugins = Some(
        [(
            name.to_owned(),
            args.iter().map(|a| (*a).to_owned()).collect(),
        )]
        .into(),
    );
    j
}

#[test]
fn mpi_plugin_gives_the_master_the_worker_hosts_and_opens_the_port() {
    let j = with_plugin(
        "mpi",
        &["--master=master", "--worker=worker", "--port=2222"],
    );
    let env = framework_env(&j, 0, 0);
    assert_eq!(
        env["MPI_HOST"],
        "distributed-training-worker-0.distributed-training,distributed-training-worker-1.distributed-training,distributed-training-worker-2.distributed-training"
    );
    assert!(
        !framework_env(&j, 1, 0).contains_key("MPI_HOST"),
        "workers get none"
    );
    assert_eq!(ports(&j, 0), vec![2222]);
    assert_eq!(ports(&j, 1), vec![2222]);
    // Defaults: master/worker, port 22.
    assert_eq!(ports(&with_plugin("mpi", &[]), 1), vec![22]);
    assert!(plugins::controlled_resources(&j).contains_key("plugin-mpi"));
}

#[test]
fn pytorch_plugin_sets_master_address_world_size_and_ranks() {
    let j = with_plugin(
        "pytorch",
        &["--master", "master", "--worker=worker", "--port=23456"],
    );
    let master = framework_env(&j, 0, 0);
    assert_eq!(
        master["MASTER_ADDR"],
        "distributed-training-master-0.distributed-training"
    );
    assert_eq!(master["MASTER_PORT"], "23456");
    assert_eq!(master["WORLD_SIZE"], "4");
    assert_eq!(master["RANK"], "0");
    assert_eq!(framework_env(&j, 1, 2)["RANK"], "3");
    assert_eq!(ports(&j, 1), vec![23456]);
}

#[test]
fn tensorflow_plugin_writes_tf_config() {
    let j = with_plugin(
        "tensorflow",
        &["--ps=master", "--worker=worker", "--port=2222"],
    );
    let config: serde_json::Value =
        serde_json::from_str(&framework_env(&j, 1, 1)["TF_CONFIG"]).unwrap();
    assert_eq!(
        config["cluster"]["ps"],
        serde_json::json!(["distributed-training-master-0.distributed-training:2222"])
    );
    assert_eq!(config["cluster"]["worker"].as_array().unwrap().len(), 3);
    assert_eq!(
        config["task"],
        serde_json::json!({"type": "worker", "index": 1})
    );
    let ps: serde_json::Value =
        serde_json::from_str(&framework_env(&j, 0, 0)["TF_CONFIG"]).unwrap();
    assert_eq!(ps["task"]["type"], "ps");
}
