//! Article case 4: nodes at CPU/memory/GPU 90/85/60 %, 20/30/10 % and 95/90/80 %; with the
//! article's LoadAware arguments (seed manifest 06) new pods go to the second node. Metrics older
//! than `nodeMetricExpirationSeconds` are treated as configured: filtered with
//! `filterExpiredNodeMetrics: true`, ignored (loadaware abstains) when scheduling on expired
//! metrics is enabled.

use scheduler_core::model::{Job, Node, NodeUsage, Queue, Snapshot, Task};
use scheduler_core::{Effect, Resources, Scheduler, run_session};

const GI: i64 = 1 << 30;

/// The article's arguments (seed 06) as Volcano plugin arguments.
const SEED_06_ARGS: &str = "    arguments:
      filterExpiredNodeMetrics: true
      nodeMetricExpirationSeconds: 60
      resourceWeights: {cpu: 2.0, memory: 1.5, gpu: 3.0}
      estimatedScalingFactors: {cpu: 0.8, memory: 0.7, gpu: 0.9}
";

fn config(extra: &str) -> Scheduler {
    Scheduler::from_yaml(&format!(
        "actions: \"enqueue, allocate\"\ntiers:\n- plugins:\n  - name: predicates\n  - name: loadaware\n{SEED_06_ARGS}{extra}"
    ))
    .expect("loadaware config loads")
}

fn snapshot(measured_at: u64, now: u64, pods: usize) -> Snapshot {
    let mut s = Snapshot::default();
    s.queues.insert("q".into(), Queue::open());
    s.now = Some(now);
    for (name, (cpu, mem, gpu)) in [
        ("node-a", (0.90, 0.85, 0.60)),
        ("node-b", (0.20, 0.30, 0.10)),
        ("node-c", (0.95, 0.90, 0.80)),
    ] {
        s.nodes.insert(
            name.into(),
            Node {
                allocatable: Resources::cpu_mem_gpu(64_000, 256 * GI, 8),
                ..Node::default()
            },
        );
        s.node_usage.insert(
            name.into(),
            NodeUsage {
                cpu: Some(cpu),
                memory: Some(mem),
                gpu: Some(gpu),
                timestamp: measured_at,
            },
        );
    }
    for i in 0..pods {
        let job = format!("api-{i}");
        s.jobs.insert(
            job.as_str().into(),
            Job {
                creation: i as u64,
                ..Job::new("q", 1)
            },
        );
        s.tasks.insert(
            format!("{job}-0").as_str().into(),
            Task {
                creation: i as u64,
                ..Task::pending(job.as_str(), Resources::cpu_mem_gpu(1000, 2 * GI, 0))
            },
        );
    }
    s
}

fn nodes_of(s: &Snapshot, sched: &Scheduler) -> Vec<String> {
    run_session(s, sched)
        .expect("session runs")
        .effects
        .iter()
        .filter_map(|e| match e {
            Effect::Bind { node, .. } => Some(node.as_str().to_owned()),
            _ => None,
        })
        .collect()
}

#[test]
fn new_pods_go_to_the_idle_node() {
    let s = snapshot(1_000_000, 1_010_000, 5);
    let placed = nodes_of(&s, &config(""));
    assert_eq!(placed, vec!["node-b"; 5]);
}

#[test]
fn fresh_metrics_score_the_idle_node_highest_even_without_thresholds() {
    // Thresholds off: the filter passes every node, the score alone picks node-b.
    let s = snapshot(1_000_000, 1_010_000, 3);
    let placed = nodes_of(
        &s,
        &config("      usageThresholds: {cpu: 100, memory: 100, gpu: 100}\n"),
    );
    assert_eq!(placed, vec!["node-b"; 3]);
}

#[test]
fn expired_metrics_are_filtered_when_configured_so() {
    // 61 s old > 60 s expiration: every node is filtered.
    let s = snapshot(1_000_000, 1_061_000, 2);
    let result = run_session(&s, &config("")).expect("session runs");
    assert!(
        !result
            .effects
            .iter()
            .any(|e| matches!(e, Effect::Bind { .. })),
        "{:?}",
        result.effects
    );
    let text = format!("{:?}", result.effects);
    assert!(text.contains("expired node metrics"), "{text}");
}

#[test]
fn expired_metrics_are_ignored_when_scheduling_on_them_is_enabled() {
    let s = snapshot(1_000_000, 1_061_000, 3);
    let sched = config("      enableScheduleWhenNodeMetricsExpired: true\n");
    let placed = nodes_of(&s, &sched);
    // loadaware abstains: all three nodes are candidates again, so the hot ones get pods too.
    assert_eq!(placed.len(), 3);
    assert!(placed.iter().any(|n| n != "node-b"), "{placed:?}");
}

#[test]
fn nodes_without_usage_data_are_not_filtered() {
    let mut s = snapshot(1_000_000, 1_010_000, 1);
    s.node_usage.clear();
    assert_eq!(nodes_of(&s, &config("")).len(), 1);
}

#[test]
fn unknown_dimension_and_bad_values_are_config_errors() {
    let bad = |args: &str| {
        Scheduler::from_yaml(&format!(
            "actions: allocate\ntiers:\n- plugins:\n  - name: loadaware\n    arguments:\n      {args}\n"
        ))
        .expect_err("bad arguments")
        .to_string()
    };
    assert!(bad("resourceWeights: {disk: 1}").contains("resourceWeights"));
    assert!(bad("usageThresholds: 5").contains("usageThresholds"));
    assert!(bad("nodeMetricExpirationSeconds: -1").contains("nodeMetricExpirationSeconds"));
}

#[test]
fn pods_placed_in_the_session_count_by_their_scaled_requests() {
    // node-b at 58 % CPU; each 4-CPU pod adds 0.8 × 4/64 = 5 %: two fit under 65 %, a third
    // would reach 68 % and the other nodes are hotter still.
    let mut s = snapshot(1_000_000, 1_010_000, 3);
    if let Some(u) = s.node_usage.get_mut(&"node-b".into()) {
        u.cpu = Some(0.58);
    }
    for t in s.tasks.values_mut() {
        t.requests = Resources::cpu_mem_gpu(4000, GI, 0);
    }
    assert_eq!(nodes_of(&s, &config("")), vec!["node-b"; 2]);
}
