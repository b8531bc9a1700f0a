use std::collections::BTreeMap;

use proptest::prelude::*;

use super::*;
use crate::model::gpu::{HAMI_DEVICES_TO_ALLOCATE, VGPU_CORES, VGPU_MEMORY};
use crate::model::{GpuDevice, Job, Node, Queue, Snapshot, Task};
use crate::resources::{NVIDIA_GPU, Resources};
use crate::session::State;
use cards::fgd_delta;

fn card(node: usize, i: u32, mib: u64) -> GpuDevice {
    GpuDevice {
        uuid: format!("GPU-{node}-{i}"),
        index: i,
        memory_mib: mib,
        cores: 100,
        model: "NVIDIA-A100".into(),
        healthy: true,
    }
}

/// Nodes with the given card memories; one pending task per request.
fn snapshot(nodes: &[Vec<u64>], reqs: &[Resources]) -> Snapshot {
    let mut s = Snapshot::default();
    s.queues.insert("q".into(), Queue::open());
    for (n, cards) in nodes.iter().enumerate() {
        let gpus = cards
            .iter()
            .enumerate()
            .map(|(i, m)| card(n, i as u32, *m))
            .collect();
        s.nodes.insert(
            format!("n{n}").into(),
            Node {
                gpus,
                ..Node::default()
            },
        );
    }
    for (i, r) in reqs.iter().enumerate() {
        s.jobs.insert(format!("j{i:03}").into(), Job::new("q", 1));
        s.tasks.insert(
            format!("t{i:03}").into(),
            Task::pending(format!("j{i:03}"), r.clone()),
        );
    }
    s
}

fn share(mib: i64, cores: i64, count: i64) -> Resources {
    Resources::new()
        .with(VGPU_MEMORY, mib << 20)
        .with(VGPU_CORES, cores)
        .with(NVIDIA_GPU, count)
}

fn check_invariants(ds: &DeviceShare, st: &State<'_>) {
    for (t, a) in ds.assigned.iter().enumerate() {
        let Some(a) = a else { continue };
        let mut seen: Vec<u16> = a.iter().map(|s| s.0).collect();
        seen.sort_unstable();
        seen.dedup();
        assert_eq!(seen.len(), a.len(), "task {t} got a card twice: {a:?}");
    }
    for (n, node) in st.nodes.iter().enumerate() {
        for (g, c) in node.spec.gpus.iter().enumerate() {
            let u = ds.uses[n][g];
            assert!(
                u.memory <= c.memory_mib,
                "card {} memory over-committed: {u:?}",
                c.uuid
            );
            assert!(
                u.cores <= c.cores,
                "card {} cores over-committed: {u:?}",
                c.uuid
            );
        }
    }
}

#[test]
fn binpack_packs_one_card_spread_uses_four() {
    let reqs = vec![share(4096, 25, 0); 4];
    let snap = snapshot(&[vec![81920; 4]], &reqs);
    let st = State::build(&snap).expect("test data is valid");
    for (policy, cards_used) in [(Policy::Binpack, 1), (Policy::Spread, 4)] {
        let mut ds = DeviceShare::new(policy, 1.0);
        ds.open(&st);
        for t in 0..4 {
            let mut ann = BTreeMap::new();
            assert!(ds.predicate(&st, TaskIx(t), NodeIx(0)).is_ok());
            ds.on_allocate(&st, TaskIx(t), NodeIx(0), &mut ann);
            assert!(
                ann[HAMI_DEVICES_TO_ALLOCATE].contains(",4096,25:"),
                "{ann:?}"
            );
        }
        let used = ds
            .card_uses(NodeIx(0))
            .iter()
            .filter(|u| u.tenants > 0)
            .count();
        assert_eq!(used, cards_used, "{policy:?}");
    }
}

#[derive(Clone, Debug)]
enum Step {
    Place(usize),
    Release(usize),
}

fn request() -> impl Strategy<Value = Resources> {
    prop_oneof![
        (1i64..40_000, 0i64..=100, 1i64..=3).prop_map(|(m, c, n)| share(m, c, n)),
        (1i64..=3).prop_map(|n| Resources::new().with(NVIDIA_GPU, n)),
        (1i64..=100).prop_map(|p| Resources::new()
            .with(NVIDIA_GPU, 1)
            .with(crate::model::gpu::HAMI_GPUMEM_PERCENTAGE, p)),
    ]
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(64))]

    #[test]
    fn cards_never_overcommit_and_release_exactly(
        nodes in prop::collection::vec(prop::collection::vec(prop_oneof![Just(16384u64), Just(81920u64)], 1..5), 1..4),
        reqs in prop::collection::vec(request(), 1..16),
        steps in prop::collection::vec((any::<bool>(), 0usize..64, 0usize..8), 1..60),
        policy in prop::sample::select(vec![
            Policy::Binpack, Policy::Spread, Policy::Fgd, Policy::Random, Policy::DotProd,
            Policy::Clustering, Policy::Packing, Policy::BestFit,
        ]),
    ) {
        let snap = snapshot(&nodes, &reqs);
        let st = State::build(&snap).expect("test data is valid");
        let mut ds = DeviceShare::new(policy, 1.0);
        ds.open(&st);
        let steps: Vec<Step> = steps
            .into_iter()
            .map(|(place, t, _)| if place { Step::Place(t % reqs.len()) } else { Step::Release(t % reqs.len()) })
            .collect();
        let mut placed: BTreeMap<usize, NodeIx> = BTreeMap::new();
        for (i, step) in steps.iter().enumerate() {
            match *step {
                Step::Place(t) if !placed.contains_key(&t) => {
                    let node = NodeIx((i % nodes.len()) as u32);
                    if ds.predicate(&st, TaskIx(t as u32), node).is_ok() {
                        let before = ds.uses.clone();
                        ds.on_allocate(&st, TaskIx(t as u32), node, &mut BTreeMap::new());
                        let a = ds.assignment(TaskIx(t as u32)).expect("assigned after a passing predicate");
                        prop_assert_eq!(a.len(), ds.requests[t].as_ref().expect("test data is valid").count as usize);
                        // Undo restores exactly the state before.
                        ds.on_deallocate(&st, TaskIx(t as u32), node);
                        prop_assert_eq!(&ds.uses, &before);
                        ds.on_allocate(&st, TaskIx(t as u32), node, &mut BTreeMap::new());
                        placed.insert(t, node);
                    }
                }
                Step::Release(t) => {
                    if let Some(node) = placed.remove(&t) {
                        ds.on_deallocate(&st, TaskIx(t as u32), node);
                        prop_assert!(ds.assignment(TaskIx(t as u32)).is_none());
                    }
                }
                Step::Place(_) => {}
            }
            check_invariants(&ds, &st);
        }
        for (t, node) in std::mem::take(&mut placed) {
            ds.on_deallocate(&st, TaskIx(t as u32), node);
        }
        prop_assert!(ds.uses.iter().flatten().all(|u| *u == CardUse::default()));
        prop_assert!(ds.classes.iter().flatten().all(|(_, n)| *n == 0), "{:?}", ds.classes);
    }
}

#[test]
fn bound_pods_are_charged_by_request_and_pending_annotations_ignored() {
    let reqs = vec![share(8192, 50, 0), share(8192, 50, 0)];
    let mut snap = snapshot(&[vec![16384, 16384]], &reqs);
    // t000 is running on card 1 per its bind annotation; it claims 1 MiB, is charged 8192.
    let t0 = snap
        .tasks
        .get_mut(&crate::TaskId::new("t000"))
        .expect("test data is valid");
    t0.status = crate::TaskStatus::Running;
    t0.node = Some("n0".into());
    t0.annotations.insert(
        HAMI_DEVICES_TO_ALLOCATE.into(),
        "GPU-0-1,NVIDIA-A100,1,0:;".into(),
    );
    // t001 is pending and forges an assignment: ignored.
    snap.tasks
        .get_mut(&crate::TaskId::new("t001"))
        .expect("test data is valid")
        .annotations
        .insert(
            HAMI_DEVICES_TO_ALLOCATE.into(),
            "GPU-0-0,NVIDIA-A100,1,0:;".into(),
        );
    let st = State::build(&snap).expect("test data is valid");
    let mut ds = DeviceShare::new(Policy::Binpack, 1.0);
    ds.open(&st);
    assert_eq!(
        ds.card_uses(NodeIx(0))[1],
        CardUse {
            memory: 8192,
            cores: 50,
            tenants: 1
        }
    );
    assert_eq!(ds.card_uses(NodeIx(0))[0], CardUse::default());
    assert!(ds.assignment(TaskIx(1)).is_none());
}

#[test]
fn releasing_cards_are_free_for_pipelining_only_and_an_undo_restores_them_exactly() {
    let held = CardUse {
        memory: 8192,
        cores: 50,
        tenants: 1,
    };
    for status in [crate::TaskStatus::Releasing, crate::TaskStatus::Running] {
        let mut snap = snapshot(&[vec![16384, 16384]], &[share(8192, 50, 0)]);
        let t0 = snap
            .tasks
            .get_mut(&crate::TaskId::new("t000"))
            .expect("test data is valid");
        t0.status = status;
        t0.node = Some("n0".into());
        t0.annotations.insert(
            HAMI_DEVICES_TO_ALLOCATE.into(),
            "GPU-0-1,NVIDIA-A100,8192,50:;".into(),
        );
        let mut st = State::build(&snap).expect("test data is valid");
        let mut ds = DeviceShare::new(Policy::Binpack, 1.0);
        ds.open(&st);
        assert_eq!(
            ds.view(NodeIx(0), false)[1],
            held,
            "{status:?}: the pod still runs"
        );
        if status == crate::TaskStatus::Running {
            assert_eq!(
                ds.view(NodeIx(0), true)[1],
                held,
                "a running pod stays charged"
            );
            // The statement's evict sets Releasing, then fires on_deallocate (twice: idempotent).
            st.set_status(TaskIx(0), crate::TaskStatus::Releasing);
            ds.on_deallocate(&st, TaskIx(0), NodeIx(0));
            ds.on_deallocate(&st, TaskIx(0), NodeIx(0));
        }
        // Idle placement still sees the card taken; pipelining sees it free.
        assert_eq!(ds.card_uses(NodeIx(0))[1], held, "{status:?}");
        assert_eq!(
            ds.view(NodeIx(0), true)[1],
            CardUse::default(),
            "{status:?}"
        );
        assert!(ds.assignment(TaskIx(0)).is_some());
        if status == crate::TaskStatus::Running {
            // Discarding the eviction fires on_allocate: exactly the state before the eviction.
            st.set_status(TaskIx(0), crate::TaskStatus::Running);
            ds.on_allocate(&st, TaskIx(0), NodeIx(0), &mut BTreeMap::new());
            ds.on_allocate(&st, TaskIx(0), NodeIx(0), &mut BTreeMap::new());
            assert_eq!(ds.view(NodeIx(0), false)[1], held);
            assert_eq!(ds.view(NodeIx(0), true)[1], held);
            assert_eq!(ds.releasing[0], vec![CardUse::default(); 2]);
        }
    }
}

fn whole(k: u32) -> GpuRequest {
    gpu::parse_request(
        &Resources::new().with(NVIDIA_GPU, i64::from(k)),
        &BTreeMap::new(),
    )
    .expect("nvidia.com/gpu is a card request")
}

fn typical_task(cpu_milli: i64, gpu: Option<GpuRequest>, models: &[&str]) -> TypicalTask {
    TypicalTask {
        cpu_milli,
        gpu,
        models: models.iter().map(|m| (*m).to_owned()).collect(),
        p: 1.0,
    }
}

#[test]
fn fgd_fragmentation_counts_cpu_cpu_only_tasks_and_models_as_the_paper() {
    let cards = vec![card(0, 0, 1000), card(0, 1, 1000)];
    let mut half = vec![CardUse::default(); 2];
    half[1] = CardUse {
        memory: 500,
        cores: 50,
        tenants: 1,
    };
    // A one-card task fits the free card; the half-used card (50 %) is a fragment.
    let m = Typical(vec![typical_task(4000, Some(whole(1)), &[])]);
    assert_eq!(m.node_frag(&cards, &half, 8000), 50.0);
    // Too little CPU for the task: every idle card is a fragment.
    assert_eq!(m.node_frag(&cards, &half, 2000), 150.0);
    // A CPU-only task counts every idle card.
    let cpu_only = Typical(vec![typical_task(1000, None, &[])]);
    assert_eq!(cpu_only.node_frag(&cards, &half, 8000), 150.0);
    // A task that excludes the node's model counts every idle card.
    let typed = Typical(vec![typical_task(1000, Some(whole(1)), &["T4"])]);
    assert_eq!(typed.node_frag(&cards, &half, 8000), 150.0);
    // The paper's integer score: no change 50, one more fragmented card 26.
    assert_eq!(fgd_score(0.0), 50.0);
    assert_eq!(fgd_score(-100.0), 26.0);
    // A CPU-only pod taking the CPU the typical task needs strands both idle cards' worth.
    let d = fgd_delta(&m, None, (8000, 5000), &cards, &half, &[]);
    assert_eq!(d, -100.0);
}

#[test]
fn typical_tasks_argument_is_parsed_and_bad_entries_are_refused() {
    let ok = serde_json::json!([
        {"cpuMilli": 4000, "gpus": 1, "weight": 3},
        {"cpuMilli": 2000, "gpuPercent": 25, "models": ["G2"], "weight": 1}
    ]);
    let t = parse_typical(&ok).expect("valid TypicalTasks");
    assert_eq!(t.0.len(), 2);
    assert_eq!(t.0[0].p, 0.75);
    assert_eq!(t.0[1].gpu.as_ref().map(|g| g.cores), Some(25));
    assert_eq!(t.0[1].models, vec!["G2".to_owned()]);
    let bad = serde_json::json!([{"cpuMilli": 4000, "gpuPercent": 150, "weight": 1}]);
    let err = parse_typical(&bad)
        .expect_err("gpuPercent 150 is refused")
        .to_string();
    assert!(err.contains("deviceshare.TypicalTasks"), "{err}");
}

#[test]
fn random_picks_a_uniform_feasible_node_not_the_first_of_a_tie() {
    // 1,000 equal nodes, 500 pods: the node with the best score wins, ties to node order as in
    // the session. A uniform pick gives the first tenth of the nodes about 50 of the pods;
    // whole-number scores tie about ten nodes at the top and hand most pods to the first.
    let snap = snapshot(&vec![vec![81920]; 1000], &vec![Resources::new(); 500]);
    let st = State::build(&snap).expect("test data is valid");
    let mut ds = DeviceShare::new(Policy::Random, 1.0);
    ds.seed = 7;
    ds.open(&st);
    let mut first_tenth = 0;
    for t in 0..500 {
        let mut best = (f64::MIN, 0);
        for n in 0..1000 {
            let s = ds.node_score(&st, TaskIx(t), NodeIx(n));
            if s > best.0 {
                best = (s, n);
            }
        }
        first_tenth += usize::from(best.1 < 100);
    }
    assert!(
        (25..=80).contains(&first_tenth),
        "the first tenth of the nodes got {first_tenth} of 500 pods"
    );
}
