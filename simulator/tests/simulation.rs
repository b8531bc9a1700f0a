//! End-to-end checks of the simulator: metrics against hand-computed tiny traces, gang vs
//! kube-default partial holds, determinism of report.json, and equivalence with the production
//! entry point (same snapshot → same effects).
#![allow(clippy::unwrap_used)]

mod common;

use std::collections::BTreeMap;
use std::path::Path;

use scheduler_core::resources::{CPU, MEMORY, NVIDIA_GPU};
use scheduler_core::{Effect, Job, JobPhase, Queue, Resources, Snapshot, Task, run_session};
use simulator::engine::{Engine, RunOptions};
use simulator::experiment::{Setup, run};
use simulator::metrics::summarise;
use simulator::policy::Policy;
use simulator::{ClusterSpec, JobKind, JobSpec, Tenant, Workload};

fn job(
    name: &str,
    tenant: usize,
    submit_s: u64,
    dur_s: u64,
    pods: u32,
    gpus_per_pod: u32,
    gang: bool,
) -> JobSpec {
    JobSpec {
        name: name.into(),
        tenant,
        submit_ms: submit_s * 1000,
        duration_ms: dur_s * 1000,
        pods,
        gpus_per_pod,
        gpu_milli: 1000,
        cpu_milli: 1000,
        memory_bytes: 1 << 30,
        gang,
        kind: JobKind::Training,
        priority: 0,
        gpu_models: vec![],
        declared_runtime_ms: None,
    }
}

fn tenants(names: &[&str]) -> Vec<Tenant> {
    names
        .iter()
        .map(|n| Tenant {
            name: (*n).into(),
            weight: 1,
            capability_gpus: None,
        })
        .collect()
}

fn opts(measure_s: u64) -> RunOptions {
    RunOptions {
        measure_start_ms: 0,
        measure_end_ms: measure_s * 1000,
        stop_ms: u64::MAX,
        progress: false,
    }
}

#[test]
fn metrics_match_a_hand_computed_trace() {
    // One 8-GPU node. A (8 GPUs, t=0, 100 s), B (4 GPUs, t=10, 50 s): B waits for A.
    let cluster = ClusterSpec::uniform("n", 1, 8);
    let mut w = Workload {
        tenants: tenants(&["a", "b"]),
        jobs: vec![
            job("a", 0, 0, 100, 1, 8, false),
            job("b", 1, 10, 50, 1, 4, false),
        ],
    };
    w.sort();
    let policy = Policy::load("basalt").unwrap();
    let o = opts(200);
    let out = Engine::new(&policy, &cluster, &w, &o).run(&o).unwrap();
    let r = summarise(&out, &w, 8);
    // Held: 8 GPUs × 100 s + 4 × 50 s = 1000 GPU·s of 8 × 200.
    assert_eq!(r.gpu_allocation_utilization, 0.625);
    assert_eq!(r.gpu_productive_utilization, 0.625);
    let small = &r.waiting_s["1-2 GPUs"];
    assert_eq!(small.count, 0);
    let medium = &r.waiting_s["4-8 GPUs"];
    assert_eq!(
        (medium.count, medium.mean, medium.p50, medium.p95),
        (2, 45.0, 0.0, 90.0)
    );
    assert_eq!((r.jct_s.mean, r.jct_s.p95), (120.0, 140.0));
    assert_eq!(r.makespan_s, 150.0);
    assert_eq!((r.jobs_finished, r.evictions), (2, 0));
    // During [10, 100) tenant b is backlogged but the only backlogged tenant: no Jain window.
    assert_eq!(r.jain.windows, 0);
    // While b waits, the 0 free GPUs are not stranded (nothing free); FGD frag is 0 there.
    assert_eq!(r.stranded_gpus_mean, 0.0);
}

#[test]
fn kube_default_holds_partial_jobs_and_gang_does_not() {
    // Two 4-GPU nodes. Y (1 pod × 4, t=0, 100 s); X (2 pods × 4, t=1, 50 s).
    let cluster = ClusterSpec::uniform("n", 2, 4);
    let w = Workload {
        tenants: tenants(&["t"]),
        jobs: vec![
            job("y", 0, 0, 100, 1, 4, false),
            job("x", 0, 1, 50, 2, 4, true),
        ],
    };
    let o = opts(200);
    let kube = Policy::load("kube-default").unwrap();
    let out = Engine::new(&kube, &cluster, &w, &o).run(&o).unwrap();
    let k = summarise(&out, &w, 8);
    // kube: X's first pod binds at t=1 and idles until Y ends at 100; X runs 100..150.
    // Held = 4·100 (Y) + 4·149 (X pod 0, 1..150) + 4·50 (X pod 1) = 1196 GPU·s of 1600.
    assert_eq!(k.gpu_allocation_utilization, 0.7475);
    // Productive = Y 4·100 + X 8·50 = 800.
    assert_eq!(k.gpu_productive_utilization, 0.5);
    let basalt = Policy::load("basalt").unwrap();
    let out = Engine::new(&basalt, &cluster, &w, &o).run(&o).unwrap();
    let b = summarise(&out, &w, 8);
    // Gang: X waits whole; held = productive = 800.
    assert_eq!(
        (b.gpu_allocation_utilization, b.gpu_productive_utilization),
        (0.5, 0.5)
    );
    assert_eq!(k.waiting_s["4-8 GPUs"].mean, b.waiting_s["4-8 GPUs"].mean);
}

#[test]
fn jain_counts_backlogged_tenants_against_weighted_entitlement() {
    // One 2-GPU node; tenants a and b (weight 1). a1..a3 (1 GPU, 3600 s) at t=0, b1 at t=1 s.
    // Derivation (schedule period 1 s, measured hour [0, 3600 s), one Jain window):
    // - t=0: a1, a2 bind, a3 waits. Three jobs were admitted, so a follow-up session is due at 1 s.
    // - t=1 s: b1 arrives and is admitted. proportion: both queues have demand, 2 GPUs, weights
    //   1:1 → deserved 1 GPU each; a holds 2 > 1, so reclaim evicts one of a's pods (released at
    //   once, re-queued) and pipelines b1 → follow-up at 2 s.
    // - t=2 s: b1 binds (queue b first: share 0 < a's 1). a is at its deserved 1 GPU, so a's two
    //   pending pods may not reclaim back; nothing changes → no further follow-up.
    // Held: a 2·1 + 1·3599 = 3601 GPU·s, b 1·3598 = 3598 → utilisation 7199/7200 = 0.99986.
    // Pending: a 1·1 (a3) + 2·3599 (a3 + evicted pod) = 7199, b 1·1 = 1. Demands a 10800,
    // b 3599; water-filling 7200: b gets its 3599, a the remaining 3601. x = (3601/3601,
    // 3598/3599) → J = 1 − 2·10⁻⁸, 1.0 at 4 decimals. (Without the follow-up session the freed
    // GPU idled and b got nothing until a1 ended: J = 0.5.)
    let cluster = ClusterSpec::uniform("n", 1, 2);
    let w = Workload {
        tenants: tenants(&["a", "b"]),
        jobs: vec![
            job("a1", 0, 0, 3600, 1, 1, false),
            job("a2", 0, 0, 3600, 1, 1, false),
            job("a3", 0, 0, 3600, 1, 1, false),
            job("b1", 1, 1, 3600, 1, 1, false),
        ],
    };
    let o = opts(3600);
    // The derivation needs reclaim at t = 1 s.
    let basalt =
        Policy::from_config("basalt", &common::default_with_immediate_reclaim(), false).unwrap();
    let out = Engine::new(&basalt, &cluster, &w, &o).run(&o).unwrap();
    let r = summarise(&out, &w, 2);
    assert_eq!(r.jain.windows, 1);
    assert_eq!(r.jain.mean, 1.0);
    assert_eq!(r.gpu_allocation_utilization, 0.9999);
    assert_eq!((r.evictions, r.jobs_preempted), (1, 1));
    // b1 waited the one period between its admission and the follow-up session.
    let b1 = &out.jobs[3];
    assert_eq!(
        (b1.start_ms, b1.wait_ms(1000, out.end_ms)),
        (Some(2000), (1000, false))
    );
    // The evicted job ran 1 s, was re-queued at 1 s and restarted when a GPU freed (≥ 3600 s):
    // its wait counts the re-queue and its JCT = wait + the lost second + its 3600 s.
    let evicted: Vec<_> = out.jobs.iter().filter(|j| j.evictions > 0).collect();
    assert_eq!(evicted.len(), 1);
    let e = evicted[0];
    assert_eq!((e.start_ms, e.requeued_since), (Some(0), None));
    assert!(e.requeued_ms >= 3_599_000, "{e:?}");
    let (wait, censored) = e.wait_ms(0, out.end_ms);
    assert!(!censored);
    assert_eq!(e.end_ms, Some(wait + 1000 + 3_600_000));
}

#[test]
fn sessions_see_the_virtual_clock_and_pod_start_times() {
    // Time rules (minRunTime, preemptionDelay) read Snapshot::now and ::started: the engine sets
    // now to the virtual time of each session and started to each pod's bind time.
    let cluster = ClusterSpec::uniform("n", 1, 8);
    let w = Workload {
        tenants: tenants(&["t"]),
        jobs: vec![
            job("x", 0, 5, 100, 2, 1, true),
            job("y", 0, 7, 100, 1, 1, false),
        ],
    };
    let o = opts(200);
    let policy = Policy::load("basalt").unwrap();
    let mut e = Engine::new(&policy, &cluster, &w, &o);
    assert_eq!(e.snapshot().now, None);
    assert_eq!(e.apply_next_events(u64::MAX), Some(5000));
    e.schedule(5000).unwrap();
    let s = e.snapshot();
    assert_eq!(s.now, Some(5000));
    let started: Vec<(String, u64)> = s
        .started
        .iter()
        .map(|(t, ms)| (t.to_string(), *ms))
        .collect();
    assert_eq!(
        started,
        vec![("t/x-0".to_owned(), 5000), ("t/x-1".to_owned(), 5000)]
    );
    // The follow-up after the admission (1 s later) sees its own time; y started at 7 s.
    while let Some(t) = e.apply_next_events(7000) {
        e.schedule(t).unwrap();
    }
    let s = e.snapshot();
    assert_eq!(s.now, Some(7000));
    assert_eq!(s.started.get(&"t/y-0".into()), Some(&7000));
    assert_eq!(s.started.get(&"t/x-0".into()), Some(&5000));
}

#[test]
fn same_seed_gives_a_byte_identical_report() {
    let traces = &simulator::repo_traces_dir();
    let dir = std::env::temp_dir().join(format!("basalt-sim-det-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let spec = dir.join("exp.yaml");
    let text = std::fs::read_to_string(
        Path::new(env!("CARGO_MANIFEST_DIR")).join("../config/simulator/article-benchmark.yaml"),
    )
    .unwrap()
    .replace("days: 30", "days: 3");
    std::fs::write(&spec, text).unwrap();
    let setup = Setup::load(&spec, traces).unwrap();
    let (a, _) = run(&setup, &[], false).unwrap();
    let (b, _) = run(&setup, &[], false).unwrap();
    let ja = simulator::report::to_json(&a);
    assert_eq!(ja, simulator::report::to_json(&b));
    assert_eq!(
        simulator::report::to_markdown(&a),
        simulator::report::to_markdown(&b)
    );
    assert!(ja.contains("\"policy\": \"kube-default\"") && ja.contains("\"policy\": \"basalt\""));
    assert_eq!(a.not_run.len(), 1, "volcano-default is listed as not run");
    assert_eq!(a.seed_summary.len(), 3);
    assert_eq!(a.seed_summary[0].seeds.len(), 5);
    let util = &a.seed_summary[2].metrics["gpu_allocation_utilization"];
    assert!(util.ci95 > 0.0 && util.mean > 0.0, "{util:?}");
    let mut other = Setup::load(&spec, traces).unwrap();
    other.spec.seed += 1;
    let (c, _) = run(&other, &[], false).unwrap();
    assert_ne!(ja, simulator::report::to_json(&c));
    simulator::report::write_all(&dir.join("out"), &a, &Default::default()).unwrap();
    for f in [
        "report.json",
        "report.md",
        "utilization.svg",
        "wait-cdf.svg",
        "tenant-share-basalt.svg",
        "timing.json",
    ] {
        assert!(dir.join("out").join(f).exists(), "{f}");
    }
}

/// The snapshot production's loop would build for the same cluster and pods (controllers map
/// Node/Pod/PodGroup/Queue objects to exactly these values).
fn production_snapshot() -> Snapshot {
    let mut s = Snapshot::default();
    for n in ["n-00", "n-01"] {
        let mut labels = BTreeMap::new();
        labels.insert(
            "gpu-card-model".to_owned(),
            "NVIDIA-A100-SXM4-80GB".to_owned(),
        );
        labels.insert("kubernetes.io/hostname".to_owned(), n.to_owned());
        let gpus: Vec<scheduler_core::GpuDevice> = (0..4)
            .map(|i| scheduler_core::GpuDevice {
                uuid: format!("GPU-{n}-{i}"),
                index: i,
                memory_mib: 80 * 1024,
                cores: 100,
                model: "NVIDIA-A100-SXM4-80GB".into(),
                healthy: true,
            })
            .collect();
        let mut allocatable = Resources::new()
            .with(CPU, 96_000)
            .with(MEMORY, 768 << 30)
            .with(NVIDIA_GPU, 4);
        // The controllers add node-level sharing totals for the card inventory.
        scheduler_core::model::gpu::merge_share_allocatable(&mut allocatable, &gpus);
        s.nodes.insert(
            n.into(),
            scheduler_core::Node {
                allocatable,
                labels,
                gpus,
                ..Default::default()
            },
        );
    }
    s.queues.insert("t".into(), Queue::open());
    let req = Resources::new()
        .with(CPU, 1000)
        .with(MEMORY, 1 << 30)
        .with(NVIDIA_GPU, 4);
    for (name, pods, gang) in [("x", 2, true), ("y", 1, false)] {
        let mut pg = Job::new("t", if gang { pods } else { 1 });
        pg.phase = JobPhase::Pending;
        pg.min_resources = gang.then(|| {
            let mut r = Resources::new();
            (0..pods).for_each(|_| r.add(&req));
            r
        });
        s.jobs.insert(format!("t/{name}").into(), pg);
        for i in 0..pods {
            let mut t = Task::pending(format!("t/{name}"), req.clone());
            t.namespace = "t".into();
            t.role = Some("worker".into());
            s.tasks.insert(format!("t/{name}-{i}").into(), t);
        }
    }
    s
}

#[test]
fn simulator_and_production_decide_the_same_on_the_same_snapshot() {
    let cluster = ClusterSpec::uniform("n", 2, 4);
    let w = Workload {
        tenants: tenants(&["t"]),
        jobs: vec![
            job("x", 0, 0, 50, 2, 4, true),
            job("y", 0, 0, 100, 1, 4, false),
        ],
    };
    for name in ["basalt", "kube-default"] {
        let policy = Policy::load(name).unwrap();
        let o = opts(10);
        let mut engine = Engine::new(&policy, &cluster, &w, &o);
        let now = engine.apply_next_events(u64::MAX).unwrap();
        let mut expected = production_snapshot();
        if policy.single_queue {
            expected.queues.clear();
            expected.queues.insert("default".into(), Queue::open());
            for j in expected.jobs.values_mut() {
                j.queue = "default".into();
            }
        }
        assert_eq!(
            engine.snapshot(),
            &expected,
            "{name}: snapshot differs from production's"
        );
        // Production's loop stamps the session clock as the engine does when it schedules.
        expected.now = Some(now);
        let production = run_session(&expected, &policy.scheduler).unwrap();
        let simulated = engine.schedule(now).unwrap().unwrap();
        assert_eq!(simulated.effects, production.effects, "{name}");
        let binds = simulated
            .effects
            .iter()
            .filter(|e| matches!(e, Effect::Bind { .. }))
            .count();
        assert_eq!(binds, 2, "{name}: 8 GPUs, two 4-GPU pods fit");
        assert_eq!(engine.free_gpus(), vec![0, 0]);
    }
}
