//! How long one JobFlow decision takes (DAG validation + `plan` + status) for wide and deep
//! flows, mid-run (half the steps completed, a few running, one failed in backoff). Prints
//! microseconds per decision; run with `cargo bench -p basalt-controllers --bench jobflow_plan`.

#![allow(clippy::unwrap_used)] // a bench fails by panicking

use std::collections::{BTreeMap, BTreeSet};
use std::time::Instant;

use controllers::jobflow::dag::Dag;
use controllers::jobflow::plan::{Input, ObservedJob, plan};
use crds::job::JobPhase;
use crds::jobflow::{Flow, FlowDependsOn, JobFlowSpec, JobFlowStatus, RetryPolicy};
use k8s_openapi::jiff::Timestamp;

/// `n` steps; step i depends on the `fan_in` steps before it (a chain when 1).
fn spec(n: usize, fan_in: usize) -> JobFlowSpec {
    let flows = (0..n)
        .map(|i| Flow {
            name: format!("s{i}"),
            depends_on: Some(FlowDependsOn {
                targets: Some(
                    (i.saturating_sub(fan_in)..i)
                        .map(|j| format!("s{j}"))
                        .collect(),
                ),
                probe: None,
            }),
            ..Default::default()
        })
        .collect();
    JobFlowSpec {
        flows: Some(flows),
        retry_policy: Some(RetryPolicy {
            max_retries: Some(3),
            backoff_seconds: Some(60),
        }),
        ..Default::default()
    }
}

fn main() {
    let now = Timestamp::now();
    println!(
        "{:<28} {:>8} {:>14} {:>14}",
        "flow", "steps", "µs/decision", "decisions/s"
    );
    for (label, n, fan_in) in [
        ("chain", 6, 1),
        ("chain", 100, 1),
        ("chain", 1000, 1),
        ("fan-in 4", 1000, 4),
        ("fan-in 16", 1000, 16),
    ] {
        let spec = spec(n, fan_in);
        let mut jobs = BTreeMap::new();
        for i in 0..n / 2 {
            jobs.insert(
                format!("s{i}"),
                ObservedJob {
                    phase: JobPhase::Completed,
                    attempt: 1,
                    ..Default::default()
                },
            );
        }
        jobs.insert(
            format!("s{}", n / 2),
            ObservedJob {
                phase: JobPhase::Running,
                attempt: 1,
                ..Default::default()
            },
        );
        let failed = ObservedJob {
            phase: JobPhase::Failed,
            attempt: 1,
            transitioned: Some(k8s_openapi::apimachinery::pkg::apis::meta::v1::Time(now)),
            ..Default::default()
        };
        jobs.insert(format!("s{}", n / 2 + 1), failed);
        let previous = JobFlowStatus::default();
        let passed = BTreeSet::new();
        let iterations = (20_000 / n).max(20);
        let start = Instant::now();
        let mut steps = 0;
        for _ in 0..iterations {
            let dag = Dag::build("bench", &spec).unwrap();
            let p = plan(&Input {
                flow: "bench",
                spec: &spec,
                dag: &dag,
                jobs: &jobs,
                previous: &previous,
                round: 0,
                deleting: false,
                probes_passed: &passed,
                now,
            });
            steps += p.steps.len();
        }
        assert_eq!(steps, n * iterations);
        let per = start.elapsed().as_secs_f64() / iterations as f64;
        println!(
            "{:<28} {:>8} {:>14.1} {:>14.0}",
            label,
            n,
            per * 1e6,
            1.0 / per
        );
    }
}
