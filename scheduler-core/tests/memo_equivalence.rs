//! The session's memos (no-fit memo, free-capacity index, per-shape score cache, eviction
//! short-cuts; issue #23) change cost, never answers: on random clusters a scheduler with memos
//! and one without produce exactly the same effects — binds, evictions, PodGroup statuses and
//! every explanation's content — with the shipped configuration (deviceshare and loadaware on,
//! enqueue, allocate, preempt, reclaim, backfill).
//!
//! The snapshots mix what makes "the same constraints" differ: node selectors, taints and
//! tolerations, whole and fractional GPU requests, GPU-model filters (which turn deviceshare's
//! node-local promise off), load metrics, pod limits, running pods of several priorities and
//! queues (victims for preempt and reclaim), Releasing pods, gangs and elastic jobs, and
//! required pod affinity and anti-affinity (per host and per zone, to a job's own pods and to
//! others', declared by pending and by running pods), which make a node's answer depend on pods
//! elsewhere in its domain.
//!
//! The same clusters check what-if sessions (`Scheduler::run_what_if`, which edits the session's
//! state instead of copying the snapshot): each gives what a session on an edited copy gives.

use std::collections::BTreeMap;

use proptest::prelude::*;
use scheduler_core::model::gpu::{self, USE_GPUTYPE, VGPU_CORES, VGPU_MEMORY};
use scheduler_core::model::{
    Constraints, GpuDevice, Job, JobPhase, LabelSelector, NamespaceScope, Node, NodeUsage,
    PodAffinityTerm, Queue, Snapshot, Taint, TaintEffect, Task, TaskStatus, Toleration,
    TolerationOperator,
};
use scheduler_core::{Effect, JobId, NodeId, Prepared, QueueId, Resources, Scheduler, WhatIf};

const CONFIG: &str = include_str!("../../config/scheduler/basalt-default.yaml");
const GI: i64 = 1 << 30;

/// cpus, memory GiB, cards, max pods, zone b, tainted, A100 (else T4) cards, cpu usage %.
type NodeSpec = (i64, i64, u32, Option<u32>, bool, bool, bool, Option<u8>);

/// Request kind (0 cpu only, 1 whole GPUs, 2 fractional), amount, priority, selector, tolerates,
/// T4-only filter.
type TaskSpec = (u8, i64, i32, Option<bool>, bool, bool);

#[derive(Clone, Debug)]
struct JobSpec {
    tasks: Vec<TaskSpec>,
    min: u32,
    queue: usize,
    priority: i32,
    pending_phase: bool,
    /// Every task's required pod term: (anti-affinity, app label it selects, zone topology).
    affinity: Option<Affinity>,
}

/// (anti-affinity (else affinity), `app` value selected, zone (else hostname) topology key).
type Affinity = (bool, u8, bool);

/// Pods are labelled `app: a0..a2` by their job's index.
fn app(j: usize) -> String {
    format!("a{}", j % 3)
}

fn pod_term((anti, target, zone): Affinity, c: &mut Constraints) {
    let term = PodAffinityTerm {
        selector: Some(LabelSelector {
            match_labels: [("app".to_owned(), format!("a{target}"))].into(),
            match_expressions: Vec::new(),
        }),
        topology_key: if zone {
            "zone"
        } else {
            "kubernetes.io/hostname"
        }
        .into(),
        namespaces: NamespaceScope::Own,
    };
    if anti {
        c.pod_anti_affinity.push(term);
    } else {
        c.pod_affinity.push(term);
    }
}

fn affinity() -> impl Strategy<Value = Option<Affinity>> {
    prop::option::weighted(0.3, (any::<bool>(), 0u8..3, prop::bool::weighted(0.3)))
}

fn job_spec() -> impl Strategy<Value = JobSpec> {
    let task = (
        0u8..3,
        1i64..=8,
        0i32..3,
        prop::option::of(any::<bool>()),
        any::<bool>(),
        prop::bool::weighted(0.15),
    );
    (
        prop::collection::vec(task, 1..6),
        1u32..6,
        0usize..3,
        0i32..3,
        prop::bool::weighted(0.3),
        affinity(),
    )
        .prop_map(
            |(tasks, min, queue, priority, pending_phase, affinity)| JobSpec {
                min: min.min(tasks.len() as u32),
                tasks,
                queue,
                priority,
                pending_phase,
                affinity,
            },
        )
}

fn node_spec() -> impl Strategy<Value = NodeSpec> {
    (
        2i64..=32,
        4i64..=128,
        0u32..=8,
        prop::option::of(2u32..12),
        any::<bool>(),
        prop::bool::weighted(0.2),
        any::<bool>(),
        prop::option::of(0u8..100),
    )
}

fn requests(kind: u8, amount: i64) -> Resources {
    match kind {
        0 => Resources::cpu_mem_gpu(amount * 500, amount * GI, 0),
        1 => Resources::cpu_mem_gpu(1000, 4 * GI, (amount + 1) / 2),
        _ => Resources::parse([
            ("cpu", "1"),
            ("memory", "2Gi"),
            (VGPU_MEMORY, &format!("{}Gi", amount * 4)),
            (VGPU_CORES, &format!("{}", amount * 12)),
        ])
        .expect("valid quantities"),
    }
}

fn task(job: &str, spec: &TaskSpec, t: usize, affinity: Option<Affinity>) -> Task {
    let (kind, amount, priority, selector, tolerates, t4_only) = *spec;
    let mut constraints = Constraints::default();
    if let Some(a) = affinity {
        pod_term(a, &mut constraints);
    }
    if let Some(b) = selector {
        constraints
            .node_selector
            .insert("zone".into(), if b { "b" } else { "a" }.into());
    }
    if tolerates {
        constraints.tolerations.push(Toleration {
            key: "dedicated".into(),
            operator: TolerationOperator::Exists,
            value: String::new(),
            effect: None,
        });
    }
    let mut annotations = BTreeMap::new();
    if t4_only && kind > 0 {
        annotations.insert(USE_GPUTYPE.to_owned(), "T4".to_owned());
    }
    Task {
        priority,
        constraints,
        annotations,
        creation: t as u64,
        ..Task::pending(job, requests(kind, amount))
    }
}

/// Running pods: (job, node, kind, amount, preemptable, releasing, required pod term).
type RunSpec = (usize, usize, u8, i64, bool, bool, Option<Affinity>);

fn build(nodes: &[NodeSpec], jobs: &[JobSpec], running: &[RunSpec]) -> Snapshot {
    let mut snap = Snapshot {
        now: Some(1_000_000),
        ..Snapshot::default()
    };
    for q in 0..3 {
        snap.queues.insert(
            format!("q{q}").into(),
            Queue {
                creation: q,
                weight: q as u32 + 1,
                ..Queue::open()
            },
        );
    }
    let mut free: Vec<Resources> = Vec::new();
    for (i, &(cpu, mem, cards, max_pods, zone_b, tainted, a100, usage)) in nodes.iter().enumerate()
    {
        let name = format!("n{i}");
        let gpus: Vec<GpuDevice> = (0..cards)
            .map(|c| GpuDevice {
                uuid: format!("GPU-{name}-{c}"),
                index: c,
                memory_mib: if a100 { 80 * 1024 } else { 16 * 1024 },
                cores: 100,
                model: if a100 { "NVIDIA-A100" } else { "Tesla-T4" }.into(),
                healthy: true,
            })
            .collect();
        let mut allocatable = Resources::cpu_mem_gpu(cpu * 1000, mem * GI, i64::from(cards));
        gpu::merge_share_allocatable(&mut allocatable, &gpus);
        free.push(allocatable.clone());
        let mut labels = BTreeMap::new();
        labels.insert("zone".into(), if zone_b { "b" } else { "a" }.into());
        labels.insert("kubernetes.io/hostname".into(), name.clone());
        let taints = if tainted {
            vec![Taint {
                key: "dedicated".into(),
                value: "ml".into(),
                effect: TaintEffect::NoSchedule,
            }]
        } else {
            Vec::new()
        };
        snap.nodes.insert(
            name.as_str().into(),
            Node {
                allocatable,
                max_pods,
                labels,
                taints,
                gpus,
                ..Node::default()
            },
        );
        if let Some(u) = usage {
            snap.node_usage.insert(
                name.as_str().into(),
                NodeUsage {
                    cpu: Some(f64::from(u) / 100.0),
                    memory: Some(0.5),
                    gpu: None,
                    timestamp: 990_000,
                },
            );
        }
    }
    for (j, spec) in jobs.iter().enumerate() {
        let job = format!("job-{j}");
        snap.jobs.insert(
            job.as_str().into(),
            Job {
                priority: spec.priority,
                creation: j as u64,
                phase: if spec.pending_phase {
                    JobPhase::Pending
                } else {
                    JobPhase::Inqueue
                },
                ..Job::new(format!("q{}", spec.queue), spec.min)
            },
        );
        for (t, ts) in spec.tasks.iter().enumerate() {
            let mut pod = task(&job, ts, t, spec.affinity);
            pod.labels.insert("app".into(), app(j));
            snap.tasks.insert(format!("{job}-{t}").into(), pod);
        }
    }
    for (r, &(j, n, kind, amount, preemptable, releasing, affinity)) in running.iter().enumerate() {
        if nodes.is_empty() {
            break;
        }
        let n = n % nodes.len();
        let req = requests(kind, amount);
        let fits = req.iter().all(|(k, v)| free[n].get(k) >= v);
        if !fits {
            continue;
        }
        for (k, v) in req.iter() {
            let left = free[n].get(k) - v;
            free[n].set(k, left);
        }
        let job = format!("run-{}", j % 4);
        snap.jobs.entry(job.as_str().into()).or_insert_with(|| Job {
            priority: (j % 3) as i32,
            phase: JobPhase::Running,
            ..Job::new(format!("q{}", j % 3), 1)
        });
        let mut t = Task::running(job.as_str(), req, format!("n{n}").as_str());
        t.preemptable = preemptable;
        t.priority = (j % 3) as i32;
        t.labels.insert("app".into(), app(j));
        if let Some(a) = affinity {
            pod_term(a, &mut t.constraints);
        }
        if releasing {
            t.status = TaskStatus::Releasing;
        }
        // Every other running GPU pod on a node with cards says which cards it holds, as
        // HAMi's annotation does: the node's last ones, which the card policy would not pick
        // first, so a session that ignored the annotation would account differently.
        if r % 2 == 0
            && let Some(q) = gpu::parse_request(&t.requests, &t.annotations)
        {
            let cards = &snap.nodes[&NodeId::from(format!("n{n}").as_str())].gpus;
            let take = (q.count as usize).min(cards.len());
            let shares: Vec<gpu::CardShare> = cards[cards.len() - take..]
                .iter()
                .map(|c| gpu::CardShare {
                    uuid: c.uuid.clone(),
                    model: c.model.clone(),
                    memory_mib: q.memory_mib.max(1),
                    cores: q.cores,
                })
                .collect();
            if !shares.is_empty() {
                t.annotations.insert(
                    gpu::HAMI_DEVICES_ALLOCATED.to_owned(),
                    gpu::encode_assignment(&shares),
                );
            }
        }
        snap.tasks.insert(format!("{job}-{r}").into(), t);
    }
    snap
}

fn cluster() -> impl Strategy<Value = Snapshot> {
    (
        prop::collection::vec(node_spec(), 1..7),
        prop::collection::vec(job_spec(), 1..10),
        prop::collection::vec(
            (
                0usize..12,
                0usize..8,
                0u8..3,
                1i64..=8,
                prop::bool::weighted(0.8),
                prop::bool::weighted(0.1),
                affinity(),
            ),
            0..12,
        ),
    )
        .prop_map(|(nodes, jobs, running)| build(&nodes, &jobs, &running))
}

/// Clusters where no pod may be evicted (every running pod is not preemptable) while pods being
/// released leave room to pipeline onto: preempt and reclaim then leave out, before ordering,
/// the starving jobs whose pending pods the session already knows fit nowhere, and still
/// pipeline the others exactly as the walk does.
fn victimless_cluster() -> impl Strategy<Value = Snapshot> {
    (
        prop::collection::vec(node_spec(), 1..6),
        prop::collection::vec(job_spec(), 2..14),
        prop::collection::vec(
            (
                0usize..12,
                0usize..8,
                0u8..3,
                1i64..=8,
                Just(false),
                prop::bool::weighted(0.4),
                Just(None),
            ),
            0..14,
        ),
    )
        .prop_map(|(nodes, jobs, running)| build(&nodes, &jobs, &running))
}

/// The snapshot edited as `what_if` says: the straightforward way a what-if used to be run.
fn edited(snap: &Snapshot, what_if: &WhatIf) -> Snapshot {
    let mut s = snap.clone();
    s.tasks
        .retain(|_, t| !what_if.without_jobs.contains(&t.job));
    for job in &what_if.without_jobs {
        s.jobs.remove(job);
        s.reservations.remove(job);
    }
    for q in &what_if.uncapped_queues {
        if let Some(q) = s.queues.get_mut(q) {
            q.capability = None;
        }
    }
    for (id, k) in &what_if.min_member {
        if let Some(j) = s.jobs.get_mut(id) {
            *j = j.with_min_member(*k);
        }
    }
    s
}

fn schedulers() -> (Scheduler, Scheduler) {
    let with = Scheduler::from_yaml(CONFIG).expect("default config loads");
    let without = Scheduler::from_yaml(CONFIG)
        .expect("default config loads")
        .with_memo(false);
    (with, without)
}

/// Larger clusters with many small jobs, so the node budget stops scans early and the rotation
/// offset moves: the candidate index must stop where the walk stops and pick what it picks.
/// Nodes are copies of a few templates, so equal scores (ties) are common.
fn budgeted_cluster() -> impl Strategy<Value = Snapshot> {
    (
        (
            prop::collection::vec(node_spec(), 1..5),
            prop::collection::vec(0usize..5, 8..40),
        )
            .prop_map(|(templates, picks)| {
                picks
                    .iter()
                    .map(|i| templates[i % templates.len()])
                    .collect::<Vec<_>>()
            }),
        // Without GPU-model filters, which make deviceshare's answers depend on more than the
        // node (then every per-shape cache and index is off and there is nothing to compare).
        prop::collection::vec(job_spec(), 8..40).prop_map(|mut jobs| {
            for t in jobs.iter_mut().flat_map(|j| j.tasks.iter_mut()) {
                t.5 = false;
            }
            jobs
        }),
        prop::collection::vec(
            (
                0usize..12,
                0usize..40,
                0u8..3,
                1i64..=8,
                prop::bool::weighted(0.8),
                prop::bool::weighted(0.03),
                affinity(),
            ),
            0..20,
        ),
    )
        .prop_map(|(nodes, jobs, running)| build(&nodes, &jobs, &running))
}

/// The shipped configuration with a node budget of 20 % (at least 1 node) for allocate and
/// backfill instead of Volcano's 100-node floor, which no small cluster reaches.
fn budgeted_schedulers() -> (Scheduler, Scheduler) {
    let budgets = "- name: allocate\n  arguments: {minimumFeasibleNodes: 1, percentageNodesToFind: 20}\n- name: backfill\n  arguments: {minimumFeasibleNodes: 1, percentageNodesToFind: 20}\n";
    // The shipped file ends with its own `configurations` list (reclaim's minRunTime).
    assert!(
        CONFIG.ends_with("minRunTime: 1h\n"),
        "the default's tail changed"
    );
    let config = format!("{CONFIG}{budgets}");
    let with = Scheduler::from_yaml(&config).expect("budgeted config loads");
    let without = Scheduler::from_yaml(&config)
        .expect("budgeted config loads")
        .with_memo(false);
    (with, without)
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(384))]

    #[test]
    fn memos_change_no_decision_and_no_explanation(snap in cluster()) {
        let (with, without) = schedulers();
        let a = with.run(&snap).expect("consistent snapshot");
        let b = without.run(&snap).expect("consistent snapshot");
        prop_assert_eq!(a, b);
    }

    #[test]
    fn without_victims_starving_jobs_left_out_change_nothing(snap in victimless_cluster()) {
        let (with, without) = schedulers();
        let a = with.run(&snap).expect("consistent snapshot");
        let b = without.run(&snap).expect("consistent snapshot");
        prop_assert_eq!(a, b);
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    #[test]
    fn a_what_if_session_decides_as_a_session_on_the_edited_snapshot(
        mut snap in cluster(),
        gone in prop::collection::btree_set(0usize..14, 0..3),
        uncapped in prop::collection::btree_set(0usize..3, 0..2),
        cap in 1i64..6,
        smaller in prop::collection::btree_map(0usize..10, 1u32..4, 0..3),
    ) {
        // Capabilities to lift (one GPU per unit, so some jobs are held by them).
        for (i, q) in snap.queues.values_mut().enumerate() {
            if i % 2 == 0 {
                q.capability = Some(Resources::cpu_mem_gpu(cap * 8000, cap * 32 * GI, cap));
            }
        }
        // Jobs to remove: pending ones (`job-N`) and running ones (`run-N`, whose pods hold
        // nodes), named whether or not the cluster has them.
        let what_if = WhatIf {
            without_jobs: gone
                .iter()
                .map(|&i| JobId::from(if i < 10 { format!("job-{i}") } else { format!("run-{}", i - 10) }.as_str()))
                .collect(),
            uncapped_queues: uncapped.iter().map(|q| QueueId::from(format!("q{q}").as_str())).collect(),
            // Pending jobs asking to start with fewer pods.
            min_member: smaller
                .iter()
                .map(|(&i, &k)| (JobId::from(format!("job-{i}").as_str()), k))
                .collect(),
        };
        let sched = Scheduler::from_yaml(CONFIG).expect("default config loads");
        let fast = sched.run_what_if(&Prepared::new(&snap), &what_if).expect("consistent snapshot");
        let plain = sched.run(&edited(&snap, &what_if)).expect("consistent snapshot");
        prop_assert_eq!(fast, plain);
    }

    #[test]
    fn budgeted_scans_decide_the_same_with_and_without_memos(snap in budgeted_cluster()) {
        let (with, without) = budgeted_schedulers();
        let a = with.run(&snap).expect("consistent snapshot");
        let b = without.run(&snap).expect("consistent snapshot");
        prop_assert_eq!(a, b);
    }
}

/// A saturated cluster where every memo fires: gangs that no longer fit after the cluster is
/// full (free-capacity index), the same shape failing again (no-fit memo), a gang that half
/// fits and is undone (memo kept across the undo), and starving jobs with no possible victim
/// (eviction short-cut). The explanations are the ones users see and stay the same.
#[test]
fn saturated_cluster_explains_the_same_with_and_without_memos() {
    let nodes: Vec<NodeSpec> = (0..4)
        .map(|i| (32, 128, 8, None, i % 2 == 1, false, true, None))
        .collect();
    let whole = (1u8, 2i64, 0i32, None, false, false); // 1 GPU
    let jobs: Vec<JobSpec> = (0..12)
        .map(|j| JobSpec {
            tasks: vec![whole; if j % 3 == 0 { 5 } else { 3 }],
            min: if j % 3 == 0 { 5 } else { 3 },
            queue: 0,
            priority: 0,
            pending_phase: false,
            affinity: None,
        })
        .collect();
    let snap = build(&nodes, &jobs, &[]);
    let (with, without) = schedulers();
    let a = with.run(&snap).expect("consistent snapshot");
    let b = without.run(&snap).expect("consistent snapshot");
    assert_eq!(a, b);
    assert!(
        a.stats.binds > 0 && a.stats.unschedulable_jobs > 0,
        "{:?}",
        a.stats
    );
    let insufficient = a.effects.iter().any(|e| match e {
        Effect::Explanation(x) => x
            .reasons
            .iter()
            .any(|r| r.reason == "Insufficient nvidia.com/gpu"),
        _ => false,
    });
    assert!(
        insufficient,
        "the GPU shortfall is explained: {:?}",
        a.effects
    );
}

/// A what-if is not a plain session: the job its edit removes frees the node another job then
/// gets, the lifted capability lets a job start, and each result is the edited copy's.
#[test]
fn a_what_if_frees_what_its_edit_frees() {
    let nodes: Vec<NodeSpec> = vec![(32, 128, 8, None, false, false, true, None)];
    let eight = (1u8, 16i64, 0i32, None, false, false); // 8 GPUs
    let jobs = vec![JobSpec {
        tasks: vec![eight],
        min: 1,
        queue: 0,
        priority: 0,
        pending_phase: false,
        affinity: None,
    }];
    // `run-0` (queue q0, not preemptable) holds all eight cards.
    let mut snap = build(&nodes, &jobs, &[(0, 0, 1, 16, false, false, None)]);
    let sched = Scheduler::from_yaml(CONFIG).expect("default config loads");
    let binds = |r: &scheduler_core::SessionResult| {
        r.effects
            .iter()
            .filter(|e| matches!(e, Effect::Bind { .. }))
            .count()
    };
    assert_eq!(binds(&sched.run(&snap).expect("consistent")), 0);
    let gone = WhatIf {
        without_jobs: [JobId::from("run-0")].into(),
        ..WhatIf::default()
    };
    let fast = sched
        .run_what_if(&Prepared::new(&snap), &gone)
        .expect("consistent");
    assert_eq!(binds(&fast), 1, "{:?}", fast.effects);
    assert_eq!(fast, sched.run(&edited(&snap, &gone)).expect("consistent"));
    // Without the holder but with a capability of 4 GPUs on q0: only lifting it places the job.
    snap = edited(&snap, &gone);
    if let Some(q) = snap.queues.get_mut(&QueueId::from("q0")) {
        q.capability = Some(Resources::cpu_mem_gpu(64_000, 256 * GI, 4));
    }
    assert_eq!(binds(&sched.run(&snap).expect("consistent")), 0);
    let uncapped = WhatIf {
        uncapped_queues: [QueueId::from("q0")].into(),
        ..WhatIf::default()
    };
    let fast = sched
        .run_what_if(&Prepared::new(&snap), &uncapped)
        .expect("consistent");
    assert_eq!(binds(&fast), 1, "{:?}", fast.effects);
    assert_eq!(
        fast,
        sched.run(&edited(&snap, &uncapped)).expect("consistent")
    );
}

/// Gangs of different sizes that fail on the same shape share one diagnosis; each explanation
/// still counts its own tasks (close shares summaries per diagnosis *and* task count).
#[test]
fn gangs_failing_the_same_way_keep_their_own_counts() {
    let nodes: Vec<NodeSpec> = (0..3)
        .map(|_| (32, 128, 4, None, false, false, true, None))
        .collect();
    let eight = (1u8, 16i64, 0i32, None, false, false); // 8 GPUs: more than any node has
    let jobs: Vec<JobSpec> = [2usize, 3, 2, 1]
        .iter()
        .map(|&n| JobSpec {
            tasks: vec![eight; n],
            min: n as u32,
            queue: 0,
            priority: 0,
            pending_phase: false,
            affinity: None,
        })
        .collect();
    let snap = build(&nodes, &jobs, &[]);
    let (with, without) = schedulers();
    let a = with.run(&snap).expect("consistent snapshot");
    let b = without.run(&snap).expect("consistent snapshot");
    assert_eq!(a, b);
    let mut summaries: Vec<&str> = a
        .effects
        .iter()
        .filter_map(|e| match e {
            Effect::Explanation(x) => Some(x.summary.as_str()),
            _ => None,
        })
        .collect();
    summaries.sort_unstable();
    assert_eq!(
        summaries,
        [
            "1/1 tasks in gang unschedulable: 1 Insufficient nvidia.com/gpu",
            "2/2 tasks in gang unschedulable: 2 Insufficient nvidia.com/gpu",
            "2/2 tasks in gang unschedulable: 2 Insufficient nvidia.com/gpu",
            "3/3 tasks in gang unschedulable: 3 Insufficient nvidia.com/gpu",
        ]
    );
}
