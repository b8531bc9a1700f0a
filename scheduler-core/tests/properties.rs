//! Property tests over random clusters and workloads: never over-commit a node, never bind a gang
//! below minMember, same input → same effects, `discard()` restores the state exactly.

mod common;

use std::collections::BTreeMap;

use proptest::prelude::*;
use scheduler_core::config::Arguments;
use scheduler_core::dispatch::{Entry, PluginSet};
use scheduler_core::model::{Job, JobPhase, Node, Queue, Snapshot, Task, TaskStatus};
use scheduler_core::resources::{CPU, MEMORY, NVIDIA_GPU};
use scheduler_core::session::{Placement, Session, State, Statement, TaskIx};
use scheduler_core::{Effect, Registry, Resources, Scheduler};

#[derive(Clone, Debug)]
struct JobSpec {
    tasks: Vec<(i64, i64, i64)>,
    min: u32,
    queue: usize,
    priority: i32,
    phase_pending: bool,
}

fn job_spec() -> impl Strategy<Value = JobSpec> {
    (
        prop::collection::vec((0i64..=8, 0i64..=16, 0i64..=4), 1..6),
        1u32..6,
        0usize..3,
        0i32..3,
        any::<bool>(),
    )
        .prop_map(|(tasks, min, queue, priority, phase_pending)| {
            let min = min.min(tasks.len() as u32);
            JobSpec {
                tasks,
                min,
                queue,
                priority,
                phase_pending,
            }
        })
}

/// Nodes: (cpus, memory GiB, gpus, max pods); running: (job, node, size) placed only if it fits.
fn cluster() -> impl Strategy<Value = Snapshot> {
    (
        prop::collection::vec(
            (1i64..=16, 1i64..=32, 0i64..=8, prop::option::of(1u32..6)),
            1..6,
        ),
        prop::collection::vec(job_spec(), 1..8),
        prop::collection::vec((0usize..8, 0usize..6, 0usize..3), 0..6),
    )
        .prop_map(|(nodes, jobs, running)| build(&nodes, &jobs, &running))
}

fn build(
    nodes: &[(i64, i64, i64, Option<u32>)],
    jobs: &[JobSpec],
    running: &[(usize, usize, usize)],
) -> Snapshot {
    let mut snap = Snapshot::default();
    for q in 0..3 {
        snap.queues.insert(
            format!("q{q}").into(),
            Queue {
                creation: q,
                ..Queue::open()
            },
        );
    }
    for (i, (cpu, mem, gpu, max_pods)) in nodes.iter().enumerate() {
        let node = Node {
            allocatable: Resources::cpu_mem_gpu(cpu * 1000, mem << 30, *gpu),
            max_pods: *max_pods,
            ..Node::default()
        };
        snap.nodes.insert(format!("n{i}").into(), node);
    }
    let req = |(c, m, g): (i64, i64, i64)| Resources::cpu_mem_gpu(c * 500, m << 28, g);
    for (j, spec) in jobs.iter().enumerate() {
        let job = Job {
            priority: spec.priority,
            phase: if spec.phase_pending {
                JobPhase::Pending
            } else {
                JobPhase::Inqueue
            },
            creation: j as u64,
            ..Job::new(format!("q{}", spec.queue), spec.min)
        };
        snap.jobs.insert(format!("j{j}").into(), job);
        for (t, r) in spec.tasks.iter().enumerate() {
            let task = Task {
                creation: t as u64,
                ..Task::pending(format!("j{j}"), req(*r))
            };
            snap.tasks.insert(format!("j{j}-{t}").into(), task);
        }
    }
    // Running tasks of a dedicated job, placed only where they fit (valid starting state).
    snap.jobs.insert("running".into(), Job::new("q0", 1));
    let mut used: BTreeMap<usize, (Resources, u32)> = BTreeMap::new();
    for (k, (size, node, _)) in running.iter().enumerate() {
        let node = node % nodes.len();
        let size = *size as i64;
        let r = Resources::cpu_mem_gpu(size * 1000, size << 30, size.min(1));
        let (mut after, pods) = used.get(&node).cloned().unwrap_or_default();
        after.add(&r);
        let spec = &snap.nodes[&format!("n{node}").into()];
        let fits = [CPU, MEMORY, NVIDIA_GPU]
            .iter()
            .all(|d| after.get(d) <= spec.allocatable.get(d));
        if fits && spec.max_pods.is_none_or(|m| pods < m) {
            used.insert(node, (after, pods + 1));
            let task = Task::running("running", r, format!("n{node}"));
            snap.tasks.insert(format!("running-{k}").into(), task);
        }
    }
    snap
}

fn scheduler() -> Scheduler {
    Scheduler::from_yaml(common::DEFAULT_CONFIG).expect("default config loads")
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 200, ..ProptestConfig::default() })]

    #[test]
    fn never_overcommits_and_never_binds_a_partial_gang(snap in cluster()) {
        let r = scheduler().run(&snap).expect("consistent");
        let mut load: BTreeMap<String, (Resources, u32)> = BTreeMap::new();
        for (id, t) in &snap.tasks {
            if let (Some(node), true) = (&t.node, t.status.occupies_node()) {
                let e = load.entry(node.to_string()).or_default();
                e.0.add(&t.requests);
                e.1 += 1;
            }
            let _ = id;
        }
        let mut bound_per_job: BTreeMap<String, u32> = BTreeMap::new();
        for e in &r.effects {
            if let Effect::Bind { task, node, .. } = e {
                let t = &snap.tasks[task];
                let l = load.entry(node.to_string()).or_default();
                l.0.add(&t.requests);
                l.1 += 1;
                *bound_per_job.entry(t.job.to_string()).or_insert(0) += 1;
            }
        }
        for (node, (used, pods)) in &load {
            let n = &snap.nodes[&node.as_str().into()];
            for (res, amount) in used.iter() {
                prop_assert!(amount <= n.allocatable.get(res), "{node} over on {res}: {amount} > {}", n.allocatable.get(res));
            }
            if let Some(max) = n.max_pods {
                prop_assert!(*pods <= max, "{node} has {pods} pods > {max}");
            }
        }
        for (job, bound) in &bound_per_job {
            let spec = &snap.jobs[&job.as_str().into()];
            let already = snap.tasks.values().filter(|t| t.job.as_str() == job && t.status.is_ready()).count() as u32;
            prop_assert!(already + bound >= spec.min_member, "{job}: bound {bound} + ready {already} < min {}", spec.min_member);
        }
    }

    #[test]
    fn same_input_same_effects(snap in cluster()) {
        let s = scheduler();
        let a = s.run(&snap).expect("consistent");
        let b = s.run(&snap.clone()).expect("consistent");
        prop_assert_eq!(a, b);
    }

    #[test]
    fn discard_restores_the_state_exactly(snap in cluster(), picks in prop::collection::vec((0usize..64, 0u8..3), 1..24)) {
        let registry = Registry::builtin();
        let mut plugins = PluginSet::default();
        let tier = ["priority", "gang", "predicates", "nodeorder", "binpack"]
            .iter()
            .map(|name| {
                let make = registry.plugin(name).expect("built in");
                let plugin = make(&Arguments::empty(*name)).expect("defaults are valid");
                Entry { hooks: plugin.hooks(), plugin }
            })
            .collect();
        plugins.tiers.push(tier);
        let state = State::build(&snap).expect("consistent");
        let before = state.clone();
        let mut ssn = Session::open(state, plugins, vec!["allocate"]);
        let mut stmt = Statement::new();
        let n = ssn.state.tasks.len();
        for (pick, op) in picks {
            let task = TaskIx((pick % n) as u32);
            let status = ssn.state.tasks[task.ix()].status;
            match (op, status) {
                (2, TaskStatus::Running) => ssn.evict(&mut stmt, task, "test"),
                (_, TaskStatus::Pending) => match ssn.select_node(task, &Default::default(), true) {
                    Placement::Idle(node) if op == 0 => ssn.allocate(&mut stmt, task, node),
                    Placement::Idle(node) | Placement::Future(node) => ssn.pipeline(&mut stmt, task, node),
                    Placement::Unfit(_) => {}
                },
                _ => {}
            }
        }
        ssn.discard(stmt);
        prop_assert!(ssn.state == before, "state differs after discard");
    }
}
