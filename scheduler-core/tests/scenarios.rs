//! Scenario tests: Volcano's gang e2e cases (reference §7) and the behaviours each action owns.

mod common;

use std::collections::BTreeMap;

use common::{Cluster, GI, binds, explanations, gpu_pod};
use scheduler_core::model::{JobPhase, TaskStatus};
use scheduler_core::resources::{CPU, NVIDIA_GPU};
use scheduler_core::{Effect, Resources};

fn per_node(b: &[(String, String)]) -> BTreeMap<String, usize> {
    let mut m = BTreeMap::new();
    for (_, node) in b {
        *m.entry(node.clone()).or_insert(0) += 1;
    }
    m
}

fn phase_of(r: &scheduler_core::SessionResult, job: &str) -> Option<JobPhase> {
    r.effects.iter().find_map(|e| match e {
        Effect::PodGroupStatus { job: j, phase, .. } if j.as_str() == job => Some(*phase),
        _ => None,
    })
}

#[test]
fn a_four_pod_gang_never_starts_two_pods() {
    let mut c = Cluster::new();
    c.gpu_node("n1", 1, 0).gpu_node("n2", 1, 0);
    c.gang("train", 4, 4, gpu_pod(1));
    let r = c.run();
    assert!(binds(&r).is_empty(), "partial gang bound: {:?}", binds(&r));
    assert_eq!(r.stats.pipelined, 0);
    let cond = r.effects.iter().find_map(|e| match e {
        Effect::PodGroupStatus { conditions, .. } => conditions.first().cloned(),
        _ => None,
    });
    let cond = cond.expect("unschedulable condition");
    assert_eq!(
        (cond.kind.as_str(), cond.reason.as_str()),
        ("Unschedulable", "NotEnoughResources")
    );
    assert_eq!(
        cond.message,
        "2/4 tasks in gang unschedulable: 2 Insufficient nvidia.com/gpu"
    );
    let why = explanations(&r);
    assert_eq!(why.len(), 1);
    assert!(
        why[0].contains("2 nodes: Insufficient nvidia.com/gpu (need 1, largest free 0)"),
        "{}",
        why[0]
    );
}

#[test]
fn a_discarded_gang_gives_its_nodes_back_to_the_next_job() {
    let mut c = Cluster::new();
    c.gpu_node("n1", 1, 0).gpu_node("n2", 1, 0);
    c.gang("big", 4, 4, gpu_pod(1))
        .gang("small", 2, 2, gpu_pod(1));
    c.job_mut("small").creation = 1;
    let b = binds(&c.run());
    assert_eq!(b.len(), 2);
    assert!(b.iter().all(|(t, _)| t.starts_with("small-")), "{b:?}");
}

#[test]
fn a_gang_that_fits_across_nodes_is_placed_across_nodes() {
    let mut c = Cluster::new();
    for i in 0..4 {
        c.gpu_node(&format!("n{i}"), 2, 0);
    }
    c.gang("dist", 8, 8, gpu_pod(1));
    let r = c.run();
    let b = binds(&r);
    assert_eq!(b.len(), 8);
    assert_eq!(
        per_node(&b).values().copied().collect::<Vec<_>>(),
        [2, 2, 2, 2]
    );
    assert_eq!(phase_of(&r, "dist"), Some(JobPhase::Running));
    assert!(explanations(&r).is_empty());
}

#[test]
fn a_16_gpu_gang_fits_in_22_free_gpus_split_6_5_7_4() {
    let mut c = Cluster::new();
    c.gpu_node("a", 8, 2)
        .gpu_node("b", 8, 3)
        .gpu_node("c", 8, 1)
        .gpu_node("d", 8, 4);
    c.gang(
        "llm",
        16,
        16,
        Resources::new().with(NVIDIA_GPU, 1).with(CPU, 4000),
    );
    let r = c.run();
    let b = binds(&r);
    assert_eq!(b.len(), 16, "{:?}", explanations(&r));
    let free = BTreeMap::from([("a", 6), ("b", 5), ("c", 7), ("d", 4)]);
    for (node, n) in per_node(&b) {
        assert!(n <= free[node.as_str()], "{node} got {n} pods");
    }
}

#[test]
fn explanation_says_how_short_each_node_is() {
    let mut c = Cluster::new();
    c.gpu_node("a", 8, 1)
        .gpu_node("b", 8, 2)
        .cpu_node("c", 4000);
    c.gang("big", 1, 1, Resources::new().with(NVIDIA_GPU, 8));
    let r = c.run();
    let x = r
        .effects
        .iter()
        .find_map(|e| match e {
            Effect::Explanation(x) => Some(x.clone()),
            _ => None,
        })
        .expect("explanation");
    assert_eq!(
        x.summary,
        "1/1 tasks in gang unschedulable: 1 Insufficient nvidia.com/gpu"
    );
    assert_eq!(x.nodes, 3);
    let lines: Vec<String> = x.reasons.iter().map(ToString::to_string).collect();
    assert_eq!(
        lines,
        ["3 nodes: Insufficient nvidia.com/gpu (need 8, largest free 7)"]
    );
}

#[test]
fn static_reasons_appear_in_explanations() {
    let mut c = Cluster::new();
    c.gpu_node("a", 8, 0)
        .gpu_node("b", 8, 0)
        .gpu_node("c", 8, 0);
    c.snap.nodes.get_mut(&"a".into()).expect("a").unschedulable = true;
    c.gang("sel", 1, 1, gpu_pod(1));
    c.task_mut("sel-0")
        .constraints
        .node_selector
        .insert("pool".into(), "x".into());
    let x = explanations(&c.run());
    assert_eq!(x.len(), 1);
    assert!(
        x[0].contains("2 nodes: node(s) didn't match Pod's node affinity/selector"),
        "{}",
        x[0]
    );
    assert!(
        x[0].contains("1 node: node(s) were unschedulable"),
        "{}",
        x[0]
    );
}

#[test]
fn binpack_fills_the_fullest_node_and_spread_the_emptiest() {
    let mut c = Cluster::new();
    c.gpu_node("empty", 8, 0).gpu_node("busy", 8, 6);
    c.gang("one", 1, 1, gpu_pod(1));
    c.snap.nodes.get_mut(&"busy".into()).expect("busy").used =
        Resources::cpu_mem_gpu(48_000, 384 * GI, 6);
    assert_eq!(binds(&c.run())[0].1, "busy", "default config has binpack");
    let spread = "actions: allocate\ntiers:\n- plugins:\n  - name: gang\n  - name: nodeorder\n";
    assert_eq!(binds(&c.run_with(spread))[0].1, "empty");
    let pack = "actions: allocate\ntiers:\n- plugins:\n  - name: nodeorder\n    arguments: {nodeorder.policy: binpack, nodeorder.weight: 100}\n";
    assert_eq!(binds(&c.run_with(pack))[0].1, "busy");
}

#[test]
fn higher_priority_job_goes_first_when_only_one_fits() {
    let mut c = Cluster::new();
    c.gpu_node("n", 1, 0);
    c.gang("low", 1, 1, gpu_pod(1))
        .gang("high", 1, 1, gpu_pod(1));
    c.job_mut("high").priority = 100;
    c.job_mut("high").creation = 5;
    assert_eq!(binds(&c.run()), [("high-0".to_owned(), "n".to_owned())]);
}

#[test]
fn tasks_on_releasing_resources_are_pipelined_not_bound() {
    let mut c = Cluster::new();
    c.gpu_node("n", 1, 0);
    c.gang("old", 1, 1, gpu_pod(1))
        .gang("new", 1, 1, gpu_pod(1));
    let old = c.task_mut("old-0");
    old.status = TaskStatus::Releasing;
    old.node = Some("n".into());
    let r = c.run();
    assert!(binds(&r).is_empty());
    assert_eq!(r.stats.pipelined, 1);
    assert!(explanations(&r).is_empty());
}

#[test]
fn enqueue_admits_what_fits_and_holds_the_rest() {
    let mut c = Cluster::new();
    c.gpu_node("n", 8, 0);
    c.gang("fits", 2, 2, gpu_pod(2))
        .gang("huge", 2, 2, gpu_pod(8));
    for (job, gpus) in [("fits", 4), ("huge", 16)] {
        let j = c.job_mut(job);
        j.phase = JobPhase::Pending;
        j.min_resources = Some(Resources::new().with(NVIDIA_GPU, gpus));
    }
    c.job_mut("huge").creation = 1;
    let r = c.run();
    assert_eq!(binds(&r).len(), 2);
    assert_eq!(phase_of(&r, "fits"), Some(JobPhase::Running));
    assert_eq!(
        phase_of(&r, "huge"),
        Some(JobPhase::Pending),
        "huge stays Pending"
    );
    // ... and its PodGroup says why (what `kubectl describe pg` shows).
    let why = r
        .effects
        .iter()
        .find_map(|e| match e {
            Effect::PodGroupStatus {
                job, conditions, ..
            } if job.as_str() == "huge" => conditions.first().cloned(),
            _ => None,
        })
        .expect("an Unschedulable condition for huge");
    assert_eq!((why.kind.as_str(), why.status), ("Unschedulable", true));
    assert!(why.message.contains("minResources"), "{}", why.message);
    assert_eq!(r.stats.enqueued_jobs, 1);
    // Without enqueue in the config, allocate admits Pending jobs itself.
    let r = c.run_with("actions: allocate\ntiers:\n- plugins:\n  - name: gang\n");
    assert_eq!(binds(&r).len(), 2);
}

/// `schedulingaction/enqueue.go` "allocate work even not config enqueue action": a Volcano Job's
/// pods are created only once its PodGroup is admitted, so without `enqueue` allocate must admit
/// a Pending group that has no pod yet; it skipped every job without pending tasks, and the group
/// stayed Pending for good.
#[test]
fn without_enqueue_allocate_admits_a_pending_group_before_its_pods_exist() {
    let mut c = Cluster::new();
    c.gpu_node("n", 8, 0);
    c.gang("nopods", 0, 1, gpu_pod(1));
    c.job_mut("nopods").phase = JobPhase::Pending;
    let r = c.run_with("actions: allocate, backfill\ntiers:\n- plugins:\n  - name: gang\n");
    assert_eq!(
        phase_of(&r, "nopods"),
        Some(JobPhase::Inqueue),
        "{:?}",
        r.effects
    );
    // With enqueue configured, enqueue decides (and admits it here: the cluster has room).
    let r = c.run_with("actions: enqueue, allocate\ntiers:\n- plugins:\n  - name: gang\n");
    assert_eq!(phase_of(&r, "nopods"), Some(JobPhase::Inqueue));
    // A group of a queue that does not exist is not admitted.
    c.job_mut("nopods").queue = "missing".into();
    let r = c.run_with("actions: allocate, backfill\ntiers:\n- plugins:\n  - name: gang\n");
    assert_ne!(phase_of(&r, "nopods"), Some(JobPhase::Inqueue));
}

#[test]
fn backfill_places_best_effort_pods_and_respects_predicates() {
    let mut c = Cluster::new();
    c.gpu_node("a", 8, 0).gpu_node("b", 8, 0);
    c.gang("be", 2, 1, Resources::new());
    c.job_mut("be").phase = JobPhase::Running;
    c.task_mut("be-1")
        .constraints
        .node_selector
        .insert("pool".into(), "none".into());
    let r = c.run();
    let b = binds(&r);
    assert_eq!(b.len(), 1);
    assert_eq!(b[0].0, "be-0");
    let x = explanations(&r);
    assert!(x.len() == 1 && x[0].contains("didn't match"), "{x:?}");
}

#[test]
fn pod_limits_and_queue_status() {
    let mut c = Cluster::new();
    c.cpu_node("n", 96_000);
    c.snap.nodes.get_mut(&"n".into()).expect("n").max_pods = Some(3);
    c.gang("many", 5, 1, Resources::new().with(CPU, 1000));
    let r = c.run();
    assert_eq!(binds(&r).len(), 3);
    let allocated = r.effects.iter().find_map(|e| match e {
        Effect::QueueStatus {
            queue, allocated, ..
        } if queue.as_str() == "default" => Some(allocated.clone()),
        _ => None,
    });
    assert_eq!(allocated, Some(Resources::new().with(CPU, 3000)));
    let x = explanations(&r);
    assert!(
        x.len() == 1 && x[0].contains("1 node: Too many pods"),
        "{x:?}"
    );
}

#[test]
fn invalid_gangs_are_explained_not_scheduled() {
    let mut c = Cluster::new();
    c.gpu_node("n", 8, 0);
    c.gang("short", 2, 3, gpu_pod(1));
    let r = c.run();
    assert!(binds(&r).is_empty());
    let x = explanations(&r);
    assert!(
        x.len() == 1 && x[0].contains("2 valid tasks, fewer than minMember 3"),
        "{x:?}"
    );
}

#[test]
fn inconsistent_snapshots_are_errors() {
    let mut c = Cluster::new();
    c.gang("j", 1, 1, gpu_pod(1));
    c.task_mut("j-0").status = TaskStatus::Running;
    let s = scheduler_core::Scheduler::from_yaml(common::DEFAULT_CONFIG).expect("loads");
    let err = s.run(&c.snap).expect_err("running without node");
    assert!(
        err.to_string().contains("has status Running but no node"),
        "{err}"
    );
    c.task_mut("j-0").node = Some("ghost".into());
    assert!(
        s.run(&c.snap)
            .expect_err("unknown node")
            .to_string()
            .contains("ghost")
    );
}

#[test]
fn jobs_of_missing_queues_are_explained() {
    let mut c = Cluster::new();
    c.gpu_node("n", 8, 0);
    c.gang("lost", 1, 1, gpu_pod(1));
    c.job_mut("lost").queue = "team-x".into();
    let r = c.run();
    assert!(binds(&r).is_empty());
    let x = explanations(&r);
    assert!(
        x.len() == 1 && x[0].contains("queue \"team-x\" of job lost does not exist"),
        "{x:?}"
    );
}

#[test]
fn a_task_whose_requests_could_not_be_read_fits_no_node_and_says_why() {
    let mut c = Cluster::new();
    c.gpu_node("n1", 8, 0).gpu_node("n2", 8, 0);
    // What the caller builds for `cpu: 1, nvidia.com/gpu: 99999999999999999999999`: the GPU
    // quantity did not fit in 64 bits, so it is missing from the requests — and the task must
    // not be placed as if it asked for no GPU.
    c.gang("huge", 1, 1, Resources::new().with(CPU, 1000));
    c.task_mut("huge-0").constraints.invalid_requests = Some(
        "spec.containers[0].resources.requests[nvidia.com/gpu]: quantity \"99999999999999999999999\" is too large".into(),
    );
    c.gang("fine", 1, 1, gpu_pod(1));
    let r = c.run();
    let b = binds(&r);
    assert_eq!(b.len(), 1, "{b:?}");
    assert_eq!(b[0].0, "fine-0");
    let why = explanations(&r);
    assert!(
        why.iter().any(|w| w.contains("task huge-0: 0/2 nodes available")
            && w.contains("2 nodes: Pod has invalid resource requests (spec.containers[0].resources.requests[nvidia.com/gpu]")),
        "{why:?}"
    );
}

/// Upstream schedulingbase "Schedule Multiple Jobs": three equal jobs (minAvailable 2, as many
/// pods as the cluster holds) all start. Their PodGroups are admitted together, but the job
/// controller creates a job's pods only once it is admitted, so one job's pods can reach a
/// session before the others' exist. That job's elastic pods must leave the admitted gangs'
/// minResources free, or they never start (no preemption between equal jobs).
#[test]
fn elastic_pods_leave_room_for_admitted_gangs_whose_pods_are_not_created_yet() {
    let slot = || Resources::new().with(CPU, 16_000);
    let mut c = Cluster::new();
    c.cpu_node("n", 64_000);
    c.gang("first", 4, 2, slot());
    c.snap.jobs.insert("second".into(), {
        let mut j = scheduler_core::model::Job::new("default", 2);
        j.creation = 1;
        j
    });
    for job in ["first", "second"] {
        c.job_mut(job).min_resources = Some(Resources::new().with(CPU, 32_000));
    }
    let r = c.run();
    let b = binds(&r);
    assert_eq!(
        b.len(),
        2,
        "first takes its minimum and what second does not hold: {b:?}"
    );
    // The next session sees second's pods: it starts in the room held for it.
    for (task, _) in &b {
        let t = c.task_mut(task);
        t.status = TaskStatus::Running;
        t.node = Some("n".into());
    }
    c.gang("second", 4, 2, slot());
    c.job_mut("second").creation = 1;
    c.job_mut("second").min_resources = Some(Resources::new().with(CPU, 32_000));
    let b = binds(&c.run());
    assert_eq!(b.len(), 2, "{b:?}");
    assert!(b.iter().all(|(t, _)| t.starts_with("second-")), "{b:?}");
}

/// The room above is held for pods that are about to be created, not for pods that exist and
/// wait for their scheduling gates: those may wait forever, and holding room for them would
/// keep other jobs' elastic pods out as long.
#[test]
fn elastic_pods_are_not_held_back_for_a_gang_whose_pods_are_gated() {
    let slot = || Resources::new().with(CPU, 16_000);
    let mut c = Cluster::new();
    c.cpu_node("n", 64_000);
    c.gang("first", 4, 2, slot());
    c.snap.jobs.insert("gated".into(), {
        let mut j = scheduler_core::model::Job::new("default", 2);
        j.creation = 1;
        j.min_resources = Some(Resources::new().with(CPU, 32_000));
        j
    });
    c.snap.gated.insert(
        "gated".into(),
        scheduler_core::GatedPods {
            pods: 2,
            gates: ["example.com/g1".to_owned()].into(),
            requests: Resources::new().with(CPU, 32_000),
        },
    );
    let b = binds(&c.run());
    assert_eq!(b.len(), 4, "nothing is held for gated pods: {b:?}");
}

/// `schedulingaction/enqueue.go` "Scheduling gated task will not consume inqueue resources":
/// an admitted job whose pods all wait for their gates claims nothing on its queue or the
/// cluster (Volcano's `DeductSchGatedResources`), so later jobs are admitted and run while the
/// gates stay; once its pods are released its full minResources count again.
#[test]
fn an_admitted_job_with_gated_pods_does_not_claim_their_requests() {
    let one = || Resources::new().with(CPU, 1_000);
    let build = |released: bool| {
        let mut c = Cluster::new();
        for i in 0..4 {
            c.cpu_node(&format!("n{i}"), 1_000);
        }
        c.snap.jobs.insert("gated".into(), {
            let mut j = scheduler_core::model::Job::new("default", 4);
            j.phase = JobPhase::Inqueue;
            j.min_resources = Some(Resources::new().with(CPU, 4_000));
            j
        });
        if !released {
            c.snap.gated.insert(
                "gated".into(),
                scheduler_core::GatedPods {
                    pods: 4,
                    gates: ["example.com/g1".to_owned()].into(),
                    requests: Resources::new().with(CPU, 4_000),
                },
            );
        }
        for name in ["job1", "job2"] {
            c.gang(name, 1, 1, one());
            let j = c.job_mut(name);
            j.min_resources = Some(one());
            j.phase = JobPhase::Pending;
            j.creation = 10;
        }
        c
    };
    let b = binds(&build(false).run());
    let mut jobs: Vec<&str> = b.iter().map(|(t, _)| t.as_str()).collect();
    jobs.sort_unstable();
    assert_eq!(jobs, ["job1-0", "job2-0"], "the gated job claims nothing");
    // Without gated pods recorded (say its pods were released but not created yet) the same
    // admitted job claims the whole cluster and the later jobs wait.
    assert!(binds(&build(true).run()).is_empty());
}

/// Upstream schedulingbase "Schedule BestEffort Job": minAvailable 4 = the sum of its tasks'
/// minimums (2 pods with requests, 2 BestEffort pods), so each task's minimum binds. The gang
/// is ready only with two BestEffort pods placed; allocate places them in the gang's statement
/// (Volcano counts them as occupied while pending, `CheckTaskReady`, and binds them in backfill).
#[test]
fn a_gang_whose_task_minimum_needs_best_effort_pods_starts() {
    let mut c = Cluster::new();
    c.cpu_node("n", 64_000);
    c.gang("test", 4, 4, Resources::new().with(CPU, 16_000));
    for i in 0..2 {
        c.snap.tasks.insert(
            format!("test-be-{i}").into(),
            scheduler_core::model::Task {
                creation: 10 + i,
                ..scheduler_core::model::Task::pending("test", Resources::new())
            },
        );
    }
    for i in 0..4 {
        c.task_mut(&format!("test-{i}")).role = Some("slot".into());
    }
    for i in 0..2 {
        c.task_mut(&format!("test-be-{i}")).role = Some("be".into());
    }
    let j = c.job_mut("test");
    j.min_task_member.insert("slot".into(), 2);
    j.min_task_member.insert("be".into(), 2);
    let b = binds(&c.run());
    let be = b.iter().filter(|(t, _)| t.starts_with("test-be-")).count();
    assert_eq!(be, 2, "{b:?}");
    assert!(b.len() >= 4, "{b:?}");
}

/// A session places a gang and writes its PodGroup Running; the binds fail (an API fault), so
/// the next session sees a Running gang with no pod placed. Its minResources still claim the
/// cluster: a job of another queue (below its share) is not admitted into the room the gang is
/// about to take again. Without the rule that job was admitted, and was then only told
/// "Insufficient nvidia.com/gpu" once the gang's pods were bound (found by the e2e aged-gang test
/// under CI's 5 % injected API faults).
#[test]
fn a_running_gang_whose_binds_failed_still_claims_its_room() {
    let mut c = Cluster::new();
    c.gpu_node("n", 8, 0);
    c.snap.queues.insert(
        "b".into(),
        scheduler_core::model::Queue {
            creation: 1,
            ..scheduler_core::model::Queue::open()
        },
    );
    c.gang("placed", 2, 2, gpu_pod(4))
        .gang("later", 1, 1, gpu_pod(8));
    let g = c.job_mut("placed");
    g.queue = "b".into();
    g.phase = JobPhase::Running;
    g.min_resources = Some(Resources::new().with(NVIDIA_GPU, 8));
    g.creation = 1;
    let l = c.job_mut("later");
    l.phase = JobPhase::Pending;
    l.min_resources = Some(Resources::new().with(NVIDIA_GPU, 8));
    l.creation = 10;
    let r = c.run();
    let mut b: Vec<String> = binds(&r).into_iter().map(|(t, _)| t).collect();
    b.sort_unstable();
    assert_eq!(b, ["placed-0", "placed-1"], "{:?}", r.effects);
    assert_eq!(phase_of(&r, "later"), Some(JobPhase::Pending));
    let why = r.effects.iter().find_map(|e| match e {
        Effect::PodGroupStatus {
            job, conditions, ..
        } if job.as_str() == "later" => conditions.first().map(|c| c.message.clone()),
        _ => None,
    });
    assert!(
        why.as_deref()
            .is_some_and(|m| m.contains("it waits in Pending")),
        "{why:?}"
    );
}

/// A full cluster: the Pending PodGroup's condition says nothing is idle (it read "the cluster
/// has  idle" before).
#[test]
fn enqueue_on_a_full_cluster_says_nothing_is_idle() {
    let mut c = Cluster::new();
    c.gpu_node("n", 8, 8);
    c.gang("late", 1, 1, gpu_pod(1));
    let j = c.job_mut("late");
    j.phase = JobPhase::Pending;
    j.min_resources = Some(Resources::new().with(NVIDIA_GPU, 1));
    let r = c.run();
    let why = r
        .effects
        .iter()
        .find_map(|e| match e {
            Effect::PodGroupStatus { conditions, .. } => conditions.first().cloned(),
            _ => None,
        })
        .expect("an Unschedulable condition");
    assert!(
        why.message
            .contains("need nvidia.com/gpu 1 but the cluster has nothing idle for new gangs"),
        "{}",
        why.message
    );
}

#[test]
fn queue_status_carries_the_deserved_share_proportion_computed() {
    let mut c = Cluster::new();
    c.gpu_node("n", 8, 0);
    c.snap.queues.insert(
        "b".into(),
        scheduler_core::model::Queue {
            weight: 3,
            creation: 1,
            ..scheduler_core::model::Queue::open()
        },
    );
    c.gang("a-job", 8, 1, gpu_pod(1));
    c.gang("b-job", 8, 1, gpu_pod(1));
    c.job_mut("b-job").queue = "b".into();
    let r = c.run();
    let deserved: BTreeMap<String, Option<Resources>> = r
        .effects
        .iter()
        .filter_map(|e| match e {
            Effect::QueueStatus {
                queue, deserved, ..
            } => Some((queue.to_string(), deserved.clone())),
            _ => None,
        })
        .collect();
    let gpus = |q: &str| deserved[q].as_ref().map(|d| d.get(NVIDIA_GPU));
    // Weights 1 : 3 over 8 GPUs, both queues asking for all of them.
    assert_eq!(
        (gpus("default"), gpus("b")),
        (Some(2), Some(6)),
        "{deserved:?}"
    );
}

/// Volcano's `jobStatus` (schedulingaction/reclaim.go case 3, jobseq/queue_job_status.go): a
/// Running gang below its minimum is Unknown while a member still runs, Pending once none does.
#[test]
fn a_running_gang_below_its_minimum_is_unknown_while_a_member_runs_and_pending_once_none_does() {
    let mut c = Cluster::new();
    // Room for nothing new: the lost members cannot be replaced this session.
    c.gpu_node("n", 2, 0);
    c.gang("g", 2, 2, gpu_pod(1));
    c.job_mut("g").phase = JobPhase::Running;
    for t in ["g-0", "g-1"] {
        let t = c.task_mut(t);
        t.status = TaskStatus::Running;
        t.node = Some("n".into());
    }
    assert_eq!(phase_of(&c.run(), "g"), None, "a whole gang stays Running");
    // One member deleted: the other still runs.
    c.snap.tasks.remove(&"g-1".into());
    assert_eq!(phase_of(&c.run(), "g"), Some(JobPhase::Unknown));
    // Both deleted (the job controller recreates none before the group is admitted again).
    c.snap.tasks.remove(&"g-0".into());
    assert_eq!(phase_of(&c.run(), "g"), Some(JobPhase::Pending));
    // An Unknown gang whose last member left turns Pending too.
    c.job_mut("g").phase = JobPhase::Unknown;
    assert_eq!(phase_of(&c.run(), "g"), Some(JobPhase::Pending));
}

/// `schedulingaction/terminating_podgroup.go` (volcano-sh/volcano#5794, fixed by #5796): a member
/// that was deleted but still runs on its node (Releasing: a container that ignores SIGTERM, a
/// finalizer) is still scheduled, so its gang stays Running until the pod is gone; before,
/// a single-pod gang whose pod was terminating turned Pending (and was admitted again).
#[test]
fn a_gang_stays_running_while_its_scheduled_members_terminate() {
    for members in [1u32, 2] {
        let mut c = Cluster::new();
        c.gpu_node("n", 4, 0);
        c.gang("g", members, members, gpu_pod(1));
        c.job_mut("g").phase = JobPhase::Running;
        let names: Vec<String> = (0..members).map(|i| format!("g-{i}")).collect();
        for t in &names {
            let t = c.task_mut(t);
            t.status = TaskStatus::Running;
            t.node = Some("n".into());
        }
        c.task_mut("g-0").status = TaskStatus::Releasing;
        let r = c.run();
        assert_eq!(
            phase_of(&r, "g"),
            None,
            "{members} member(s), one terminating: the gang stays Running"
        );
        assert!(
            conditions_of(&r, "g").is_empty(),
            "{:?}",
            conditions_of(&r, "g")
        );
        // Once the terminating pod is gone, the gang is below its minimum: Unknown while a member
        // still runs, Pending when none does (as before).
        c.snap.tasks.remove(&"g-0".into());
        let want = if members > 1 {
            JobPhase::Unknown
        } else {
            JobPhase::Pending
        };
        assert_eq!(phase_of(&c.run(), "g"), Some(want), "{members} member(s)");
    }
}

fn conditions_of(
    r: &scheduler_core::SessionResult,
    job: &str,
) -> Vec<scheduler_core::plugin::JobCondition> {
    r.effects
        .iter()
        .find_map(|e| match e {
            Effect::PodGroupStatus {
                job: j, conditions, ..
            } if j.as_str() == job => Some(conditions.clone()),
            _ => None,
        })
        .unwrap_or_default()
}

/// `schedulingaction/allocate.go` "Scheduling gates block vcjob": pods held back by scheduling
/// gates are not tasks (the shell leaves them out), so without the snapshot's `gated` record
/// nothing said why the gang waits. The gang now has an `Unschedulable` condition naming the
/// gates until they are removed; a started gang with extra gated pods says nothing.
#[test]
fn a_gang_whose_pods_wait_for_scheduling_gates_says_why_until_the_gates_are_removed() {
    let gated = |pods: u32| scheduler_core::GatedPods {
        pods,
        gates: ["example.com/g1".to_owned(), "example.com/g2".to_owned()].into(),
        requests: gpu_pod(i64::from(pods)),
    };
    let mut c = Cluster::new();
    c.gpu_node("n1", 4, 0);
    // Both pods gated: no task at all, no bind, and the condition says why.
    c.gang("j1", 0, 2, gpu_pod(1));
    c.snap.gated.insert("j1".into(), gated(2));
    let r = c.run();
    assert!(binds(&r).is_empty());
    let cond = conditions_of(&r, "j1");
    assert_eq!(cond.len(), 1, "{cond:?}");
    assert_eq!(
        (
            cond[0].kind.as_str(),
            cond[0].reason.as_str(),
            cond[0].status
        ),
        ("Unschedulable", "SchedulingGated", true)
    );
    assert_eq!(
        cond[0].message,
        "2 pods wait for their scheduling gates (example.com/g1, example.com/g2) and the gang needs 2 to start; a gated pod is not scheduled until every gate is removed from its spec.schedulingGates"
    );

    // One pod released, one still gated: the gang still cannot start (all or nothing).
    let mut c = Cluster::new();
    c.gpu_node("n1", 4, 0);
    c.gang("j1", 1, 2, gpu_pod(1));
    c.snap.gated.insert("j1".into(), gated(1));
    let r = c.run();
    assert!(binds(&r).is_empty(), "{:?}", binds(&r));
    let cond = conditions_of(&r, "j1");
    assert!(
        cond.iter().any(|c| c.kind == "Unschedulable"
            && c.message.contains("1 pod waits for its scheduling gates")),
        "{cond:?}"
    );

    // Gates removed: both pods are tasks, the gang starts, no Unschedulable condition.
    let mut c = Cluster::new();
    c.gpu_node("n1", 4, 0);
    c.gang("j1", 2, 2, gpu_pod(1));
    let r = c.run();
    assert_eq!(binds(&r).len(), 2);
    assert!(
        conditions_of(&r, "j1")
            .iter()
            .all(|c| c.kind != "Unschedulable"),
        "{:?}",
        conditions_of(&r, "j1")
    );

    // A running, ready gang with one more (elastic) pod gated: nothing to report.
    let mut c = Cluster::new();
    c.gpu_node("n1", 4, 0);
    c.gang("j1", 1, 1, gpu_pod(1));
    c.job_mut("j1").phase = JobPhase::Running;
    c.task_mut("j1-0").status = TaskStatus::Running;
    c.task_mut("j1-0").node = Some("n1".into());
    c.snap.gated.insert("j1".into(), gated(1));
    let r = c.run();
    assert!(
        conditions_of(&r, "j1")
            .iter()
            .all(|c| c.kind != "Unschedulable"),
        "{:?}",
        conditions_of(&r, "j1")
    );
}

/// A saturated session fails many jobs the same way: their PodGroup conditions and explanations
/// carry the same texts, and those share one allocation instead of a copy per job (issue #23),
/// while each job still gets its own, complete text.
#[test]
fn jobs_that_fail_alike_share_their_condition_and_explanation_texts() {
    let mut c = Cluster::new();
    c.gpu_node("full", 8, 8);
    let names: Vec<String> = (0..20).map(|i| format!("g{i:02}")).collect();
    for name in &names {
        c.gang(name, 2, 2, gpu_pod(8));
        c.job_mut(name).phase = JobPhase::Inqueue;
    }
    let r = c.run();
    assert!(binds(&r).is_empty());
    let mut messages = Vec::new();
    let mut explained = Vec::new();
    for e in &r.effects {
        match e {
            Effect::PodGroupStatus { conditions, .. } => messages.extend(
                conditions
                    .iter()
                    .filter(|c| c.kind == "Unschedulable" && c.status)
                    .map(|c| c.message.clone()),
            ),
            Effect::Explanation(x) => explained.push(x.clone()),
            _ => {}
        }
    }
    assert_eq!(messages.len(), names.len(), "one condition per job");
    assert_eq!(explained.len(), names.len(), "one explanation per job");
    let (m0, x0) = (&messages[0], &explained[0]);
    assert!(
        m0.contains("Insufficient nvidia.com/gpu"),
        "condition says why: {m0}"
    );
    for (m, x) in messages.iter().zip(&explained) {
        assert_eq!(m, m0);
        assert!(m.shares_with(m0), "condition message copied per job");
        assert_eq!(x.summary, x0.summary);
        assert!(x.summary.shares_with(&x0.summary), "summary copied per job");
        assert!(!x.reasons.is_empty());
        assert!(
            std::sync::Arc::ptr_eq(&x.reasons, &x0.reasons),
            "reason list copied per job"
        );
    }
    // Shared, yet each explanation reads whole and names its own job.
    let texts = explanations(&r);
    for (name, text) in names.iter().zip(&texts) {
        assert!(
            text.starts_with(&format!("{name}: {}", x0.summary)),
            "{text}"
        );
        assert!(text.contains("Insufficient nvidia.com/gpu"), "{text}");
    }
}
