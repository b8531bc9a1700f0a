//! Fairness properties over random clusters, run to a steady state under Basalt's default
//! config: no queue ever runs beyond its capability; reclaim never takes a queue below its
//! deserved share or guarantee; every victim's queue was above its deserved share (so it is
//! never scheduled ahead of the reclaimer: no eviction cycles), and sessions reach a steady state.

mod fairness_common;

use fairness_common::*;
use proptest::prelude::*;
use scheduler_core::model::{Node, Queue, Snapshot, TaskStatus};
use scheduler_core::plugin::Plugin;
use scheduler_core::plugins::proportion::Proportion;
use scheduler_core::resources::NVIDIA_GPU;
use scheduler_core::session::State;
use scheduler_core::{Effect, Resources, Scheduler};

#[derive(Clone, Debug)]
struct Case {
    nodes: usize,
    /// (weight, capability GPUs, guarantee GPUs) for q0..q2.
    queues: Vec<(u32, Option<i64>, i64)>,
    /// (queue, pods) submitted in waves.
    waves: Vec<Vec<(usize, u32)>>,
}

fn case() -> impl Strategy<Value = Case> {
    let queue = (1u32..=3, prop::option::of(1i64..=24), 0i64..=4);
    let wave = prop::collection::vec((0usize..3, 1u32..=12), 1..=3);
    (
        1usize..=4,
        prop::collection::vec(queue, 3),
        prop::collection::vec(wave, 1..=3),
    )
        .prop_map(|(nodes, queues, waves)| Case {
            nodes,
            queues,
            waves,
        })
}

fn build(c: &Case) -> Snapshot {
    let mut s = Snapshot::default();
    for i in 0..c.nodes {
        s.nodes.insert(
            format!("n{i}").into(),
            Node {
                allocatable: Resources::cpu_mem_gpu(96_000, 768 * GI, 8),
                ..Node::default()
            },
        );
    }
    for (i, (w, cap, g)) in c.queues.iter().enumerate() {
        let q = Queue {
            weight: *w,
            capability: cap.map(|n| Resources::new().with(NVIDIA_GPU, n)),
            guarantee: (*g > 0).then(|| Resources::new().with(NVIDIA_GPU, *g)),
            creation: i as u64,
            ..Queue::open()
        };
        s.queues.insert(format!("q{i}").into(), q);
    }
    s
}

/// Deserved GPUs per queue, as proportion computes them for `snap`.
fn deserved(snap: &Snapshot) -> Vec<i64> {
    let st = State::build(snap).expect("consistent");
    let mut p = Proportion::default();
    p.open(&st);
    let g = st.dims.index_of(NVIDIA_GPU);
    p.queues()
        .iter()
        .map(|a| g.map_or(0, |g| a.deserved[g]))
        .collect()
}

fn check_session(c: &Case, snap: &mut Snapshot, s: &Scheduler) -> Result<u32, TestCaseError> {
    let before = deserved(snap);
    let running_before: Vec<i64> = (0..3).map(|q| running(snap, &format!("q{q}"))).collect();
    let r = s.run(snap).expect("session");
    let mut lost = [0i64; 3];
    for e in &r.effects {
        if let Effect::Evict { task, .. } = e {
            let q = snap.jobs[&snap.tasks[task].job].queue.as_str()[1..]
                .parse::<usize>()
                .expect("queue index");
            lost[q] += snap.tasks[task].requests.get(NVIDIA_GPU);
            // The victim's queue was above its deserved share: it is never ordered ahead of
            // the reclaimer (no cycles).
            prop_assert!(
                running_before[q] > before[q],
                "victim queue q{q} not above deserved"
            );
        }
    }
    for q in 0..3 {
        if lost[q] > 0 {
            let left = running_before[q] - lost[q];
            prop_assert!(
                left >= before[q],
                "q{q} reclaimed below deserved: {left} < {}",
                before[q]
            );
            prop_assert!(
                left >= c.queues[q].2.min(running_before[q]),
                "q{q} below guarantee"
            );
        }
    }
    let (b, e) = apply(snap, &r);
    for (q, (_, cap, _)) in c.queues.iter().enumerate() {
        if let Some(cap) = cap {
            let used = running(snap, &format!("q{q}"));
            prop_assert!(used <= *cap, "q{q} runs {used} > capability {cap}");
        }
    }
    Ok(b + e)
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(48))]

    #[test]
    fn capability_deserved_guarantee_and_no_cycles(c in case()) {
        let s = Scheduler::from_yaml(DEFAULT_CONFIG).expect("default config");
        let mut snap = build(&c);
        let mut t = 0u64;
        for (w, wave) in c.waves.iter().enumerate() {
            for (j, (q, pods)) in wave.iter().enumerate() {
                t += 100;
                submit(&mut snap, &format!("q{q}"), &format!("w{w}j{j}"), *pods, t);
            }
            let mut steady = false;
            for _ in 0..20 {
                if check_session(&c, &mut snap, &s)? == 0 {
                    steady = true;
                    break;
                }
            }
            prop_assert!(steady, "no steady state after 20 sessions");
        }
        let placed = snap.tasks.values().filter(|t| t.status == TaskStatus::Running).count();
        prop_assert!(placed as i64 <= 8 * c.nodes as i64);
    }
}

/// The progress rule (docs/fairness.md): over random clusters where one queue holds every GPU
/// with pods of random ages and expected run times and another queue is owed, reclaim never
/// evicts a pod that has run at least as long as it is still expected to run — and still
/// evicts younger pods (the rule does not simply switch reclaim off).
#[test]
fn reclaim_never_evicts_a_pod_past_half_its_expected_run() {
    const M: u64 = 60_000;
    let now = 20 * 60 * M;
    let mut rng = 0x9e37_79b9_7f4a_7c15u64;
    let mut next = |n: u64| {
        rng ^= rng << 13;
        rng ^= rng >> 7;
        rng ^= rng << 17;
        rng % n
    };
    // The progress rule's mechanics, without the default's one-hour minimum run time.
    let s = Scheduler::from_yaml(&default_without_reclaim_min_run_time()).expect("config");
    let (mut evictions, mut kept_cases) = (0u32, 0u32);
    for case in 0..200 {
        let nodes = 1 + next(3) as usize;
        let mut snap = build(&Case {
            nodes,
            queues: vec![(1, None, 0), (1, None, 0), (1, None, 0)],
            waves: Vec::new(),
        });
        snap.now = Some(now);
        let mut half_done = 0;
        for n in 0..nodes {
            for g in 0..8 {
                let name = format!("a{n}-{g}");
                let run = (1 + next(600)) * M;
                let started = now - next(run.min(now));
                submit(&mut snap, "q0", &name, 1, 0);
                let job = snap.jobs.get_mut(&name.as_str().into()).expect("job");
                job.annotations = [(
                    "basalt.dev/expected-runtime".to_owned(),
                    format!("{}m", run / M),
                )]
                .into();
                let task = format!("{name}/000");
                let t = snap.tasks.get_mut(&task.as_str().into()).expect("task");
                t.status = TaskStatus::Running;
                t.node = Some(format!("n{n}").into());
                snap.started.insert(task.into(), started);
                half_done += u32::from(now - started >= run - (now - started).min(run));
            }
        }
        for j in 0..=next(8 * nodes as u64) {
            submit(&mut snap, "q1", &format!("b{j}"), 1, now - 1000);
        }
        let r = s.run(&snap).expect("session");
        for e in &r.effects {
            if let Effect::Evict { task, .. } = e {
                let job = &snap.jobs[&snap.tasks[task].job];
                let run = job.annotations["basalt.dev/expected-runtime"]
                    .trim_end_matches('m')
                    .parse::<u64>()
                    .expect("minutes")
                    * M;
                let elapsed = now - snap.started[task];
                assert!(
                    elapsed < run - elapsed.min(run),
                    "case {case}: {task} evicted after {elapsed} ms of an expected {run} ms"
                );
                evictions += 1;
            }
        }
        kept_cases += u32::from(half_done > 0);
    }
    assert!(evictions > 50, "reclaim evicted only {evictions} pods");
    assert!(
        kept_cases > 50,
        "only {kept_cases} cases had a pod past half its run"
    );
}
