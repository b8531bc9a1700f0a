//! Allocate throughput and session time on synthetic clusters (issue #3's performance matrix).
//!
//! Nodes: 96 CPUs, 768Gi, 8 GPUs, 110 pods. Pending pods request 1 GPU, 4 CPUs and 16Gi, either
//! as single-pod jobs ("plain") or as 8-pod gangs (minMember 8). Prints placements per second
//! (binds / session time) and session time, where session time covers building the session
//! state, running `enqueue, allocate, backfill` with the default configuration, and closing.
//! Snapshot construction is the caller's and is not timed.
//!
//! Then the saturated matrix (issue #23, see `support`): 500 / 5,000 / 20,000 GPU nodes with an
//! 8-card inventory, 10k and 50k pending pods of each shape (plain, gang8, whole8, frac), default
//! configuration with every action (enqueue, allocate, preempt, reclaim, backfill) and the
//! deviceshare and loadaware plugins. `x pending` is the growth of session time from 10k to 50k
//! pending (5.0 = linear); `x nodes` the growth from the previous node count at the same pending.
//!
//! Run: `cargo bench -p basalt-scheduler-core --bench allocate` (add `-- quick` for a subset,
//! `-- saturated` for the saturated matrix only, `-- big` for the one-session case only,
//! `-- row NODES PENDING SHAPE` for one saturated row, e.g. `-- row 5000 50000 plain`, to profile).

mod support;

use std::time::Duration;

use scheduler_core::model::{Job, Node, Queue, Snapshot, Task};
use scheduler_core::{Resources, Scheduler};
use support::{CONFIG, GI, Shape, load_average, measure};

fn node() -> Node {
    Node {
        allocatable: Resources::cpu_mem_gpu(96_000, 768 * GI, 8),
        max_pods: Some(110),
        ..Node::default()
    }
}

fn cluster(nodes: usize, queues: usize) -> Snapshot {
    let mut s = Snapshot::default();
    for i in 0..nodes {
        s.nodes.insert(format!("node-{i:05}").into(), node());
    }
    for q in 0..queues {
        s.queues.insert(
            format!("queue-{q:02}").into(),
            Queue {
                creation: q as u64,
                ..Queue::open()
            },
        );
    }
    s
}

/// `pods` pending pods in jobs of `gang` pods each, spread round-robin over `queues`.
fn add_pending(s: &mut Snapshot, pods: usize, gang: usize, queues: usize, prefix: &str) {
    let req = Resources::cpu_mem_gpu(4000, 16 * GI, 1);
    for j in 0..pods / gang {
        let job = format!("{prefix}-{j:06}");
        let queue = format!("queue-{:02}", j % queues);
        s.jobs.insert(
            job.as_str().into(),
            Job {
                creation: j as u64,
                ..Job::new(queue, gang as u32)
            },
        );
        for t in 0..gang {
            let task = Task {
                creation: t as u64,
                ..Task::pending(job.as_str(), req.clone())
            };
            s.tasks.insert(format!("{job}-{t}").into(), task);
        }
    }
}

/// 10 running pods per node (2 CPUs, 8Gi; every other one holds a GPU), one job per node.
fn add_running(s: &mut Snapshot, per_node: usize) {
    let nodes: Vec<String> = s.nodes.keys().map(ToString::to_string).collect();
    for (n, name) in nodes.iter().enumerate() {
        let job = format!("running-{n:05}");
        s.jobs.insert(
            job.as_str().into(),
            Job::new(format!("queue-{:02}", n % 30), 1),
        );
        for k in 0..per_node {
            let req = Resources::cpu_mem_gpu(2000, 8 * GI, (k % 2) as i64);
            s.tasks.insert(
                format!("{job}-{k}").into(),
                Task::running(job.as_str(), req, name.as_str()),
            );
        }
    }
}

fn ms(d: Option<Duration>) -> String {
    d.map_or_else(
        || "-".to_owned(),
        |d| format!("{:.1}", d.as_secs_f64() * 1e3),
    )
}

/// The product's allocator (docs/ARCHITECTURE.md, "Memory allocator"): benches measure what ships.
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() {
    // cargo adds `--bench`; only the words after `row` matter here.
    let args: Vec<String> = std::env::args().filter(|a| !a.starts_with("--")).collect();
    if let Some(at) = args.iter().position(|a| a == "row") {
        one_row(&args[at + 1..]);
        return;
    }
    let quick = std::env::args().any(|a| a == "quick");
    let big_only = std::env::args().any(|a| a == "big");
    let unschedulable_only = std::env::args().any(|a| a == "unschedulable");
    let saturated_only = std::env::args().any(|a| a == "saturated");
    let scheduler = Scheduler::from_yaml(CONFIG).expect("default config loads");
    println!(
        "# allocate throughput (best of runs; default config: enqueue, allocate, preempt, reclaim, backfill); load average {}",
        load_average()
    );
    println!("# placements/s = binds / session CPU time (wall time when under 50 ms)");
    println!(
        "{:>6} {:>7} {:>6} {:>7} {:>12} {:>8} {:>8} {:>13}",
        "nodes", "pending", "shape", "binds", "unsched.jobs", "cpu_ms", "wall_ms", "placements/s"
    );
    let node_counts: &[usize] = if quick || unschedulable_only {
        &[500]
    } else {
        &[500, 5000]
    };
    let pending_counts: &[usize] = if unschedulable_only {
        &[50_000]
    } else if quick {
        &[1000, 10_000]
    } else {
        &[1000, 10_000, 50_000]
    };
    for &nodes in if big_only || saturated_only {
        &[][..]
    } else {
        node_counts
    } {
        for &pending in pending_counts {
            for (shape, gang) in [("plain", 1), ("gang8", 8)] {
                let mut snap = cluster(nodes, 1);
                add_pending(&mut snap, pending, gang, 1, "job");
                let runs = if pending >= 50_000 { 2 } else { 3 };
                let m = measure(&scheduler, &snap, runs);
                let rate = m.rate();
                println!(
                    "{nodes:>6} {pending:>7} {shape:>6} {:>7} {:>12} {:>8} {:>8} {rate:>13.0}",
                    m.binds,
                    m.unschedulable,
                    ms(m.cpu),
                    ms(Some(m.wall)),
                );
            }
        }
    }
    if !quick && !unschedulable_only && !saturated_only {
        println!(
            "\n# one session: 5,000 nodes, 50k running, 10k pending in 1,000 podgroups, 30 queues"
        );
        let mut snap = cluster(5000, 30);
        add_running(&mut snap, 10);
        let fixed = measure(&scheduler, &snap, 5);
        println!(
            "no pending pods (state build + close): cpu_ms {} wall_ms {}",
            ms(fixed.cpu),
            ms(Some(fixed.wall))
        );
        add_pending(&mut snap, 10_000, 10, 30, "pg");
        let m = measure(&scheduler, &snap, 5);
        println!(
            "full session: cpu_ms {} wall_ms {} binds {} unschedulable_jobs {} tasks {}",
            ms(m.cpu),
            ms(Some(m.wall)),
            m.binds,
            m.unschedulable,
            snap.tasks.len()
        );
    }
    if !unschedulable_only && !big_only {
        saturated_matrix(&scheduler, quick);
    }
}

/// Issue #23's matrix: pending ≫ capacity, growth factors between rows.
fn saturated_matrix(scheduler: &Scheduler, quick: bool) {
    println!(
        "\n# saturated: GPU nodes with 8-card inventory, one queue; load = pending / capacity; load average {}",
        load_average()
    );
    println!(
        "{:>6} {:>7} {:>6} {:>6} {:>7} {:>12} {:>8} {:>8} {:>13} {:>9} {:>7}",
        "nodes",
        "pending",
        "shape",
        "load",
        "binds",
        "unsched.jobs",
        "cpu_ms",
        "wall_ms",
        "placements/s",
        "x pending",
        "x nodes"
    );
    let node_counts: &[usize] = if quick { &[500] } else { &[500, 5000, 20_000] };
    let mut previous: Vec<(Shape, usize, Duration)> = Vec::new();
    for &nodes in node_counts {
        let mut current = Vec::new();
        for shape in Shape::ALL {
            let mut at_10k: Option<Duration> = None;
            for pending in [10_000, 50_000] {
                let snap = support::saturated(nodes, pending, shape);
                let m = measure(scheduler, &snap, 2);
                let t = m.time();
                let load = pending as f64 / (nodes * shape.per_node()) as f64;
                let x_pending = at_10k.map_or_else(
                    || "-".to_owned(),
                    |a| format!("{:.2}", t.as_secs_f64() / a.as_secs_f64()),
                );
                let x_nodes = previous
                    .iter()
                    .find(|(s, p, _)| *s == shape && *p == pending)
                    .map_or_else(
                        || "-".to_owned(),
                        |(_, _, a)| format!("{:.2}", t.as_secs_f64() / a.as_secs_f64()),
                    );
                println!(
                    "{nodes:>6} {pending:>7} {:>6} {load:>6.2} {:>7} {:>12} {:>8} {:>8} {:>13.0} {x_pending:>9} {x_nodes:>7}",
                    shape.name(),
                    m.binds,
                    m.unschedulable,
                    ms(m.cpu),
                    ms(Some(m.wall)),
                    m.rate(),
                );
                at_10k.get_or_insert(t);
                current.push((shape, pending, t));
            }
        }
        previous = current;
    }
}

/// `row NODES PENDING SHAPE`: one saturated row, three runs (for profilers).
fn one_row(args: &[String]) {
    let usage = "usage: -- row NODES PENDING plain|gang8|whole8|frac";
    let [nodes, pending, shape] = args else {
        eprintln!("{usage}");
        std::process::exit(2);
    };
    let (Ok(nodes), Ok(pending), Some(shape)) = (
        nodes.parse::<usize>(),
        pending.parse::<usize>(),
        Shape::ALL.into_iter().find(|s| s.name() == shape),
    ) else {
        eprintln!("{usage}");
        std::process::exit(2);
    };
    let scheduler = Scheduler::from_yaml(CONFIG).expect("default config loads");
    let snap = support::saturated(nodes, pending, shape);
    let m = measure(&scheduler, &snap, 3);
    println!(
        "{nodes} nodes x {pending} {}: {} binds, {} unschedulable jobs, cpu_ms {} wall_ms {}, {:.0} placements/s; load average {}",
        shape.name(),
        m.binds,
        m.unschedulable,
        ms(m.cpu),
        ms(Some(m.wall)),
        m.rate(),
        load_average()
    );
}
