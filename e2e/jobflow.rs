//! JobFlow end to end on `basalt up --pod-duration 5s` with kubectl: the article's pipeline in
//! strict order, retry from the failed step, `basalt flow retry`, a diamond, a `basalt
//! controller` process killed (SIGKILL) and restarted during step 3, and a restart of the whole
//! `basalt up` (API server persisted) in the middle of a flow.

use std::process::Command;
use std::time::Duration;

use serde_json::Value;

use crate::harness::{Cluster, TempDir};

const T: Duration = Duration::from_secs(120);

/// `spec.flows` YAML plus extra spec fields over an inline one-task template (no duration
/// annotation: `--pod-duration` decides).
fn flow(name: &str, extra: &str, flows: &str) -> String {
    format!(
        "apiVersion: flow.volcano.sh/v1alpha1
kind: JobFlow
metadata: {{name: {name}}}
spec:
  {extra}
  flows: {flows}
  jobTemplate:
    spec:
      schedulerName: volcano
      tasks:
      - name: worker
        replicas: 1
        template:
          spec:
            restartPolicy: Never
            containers: [{{name: worker, image: busybox}}]
"
    )
}

/// A step `patch` making its pod fail its first `n` runs.
fn failing(n: u32) -> String {
    format!(
        "patch: {{jobSpec: {{tasks: [{{name: worker, template: {{metadata: {{annotations: {{sim.basalt.dev/fail-times: \"{n}\"}}}}}}}}]}}}}"
    )
}

fn wait_flow(c: &Cluster, name: &str, phase: &str) -> Value {
    c.wait_for(&format!("jobflow {name} {phase}"), T, || {
        let f = c.get_json(&["jobflow", name]);
        (f.pointer("/status/state/phase").and_then(Value::as_str) == Some(phase)).then_some(f)
    })
}

/// `jobStatusList` entry of `job`: (restartCount, startTimestamp, endTimestamp).
fn entry(flow: &Value, job: &str) -> (i64, String, String) {
    let list = flow
        .pointer("/status/jobStatusList")
        .and_then(Value::as_array)
        .expect("jobStatusList");
    let e = list
        .iter()
        .find(|e| e["name"] == job)
        .unwrap_or_else(|| panic!("{job} in {flow}"));
    let s = |k: &str| e[k].as_str().unwrap_or_default().to_owned();
    (
        e["restartCount"].as_i64().unwrap_or(0),
        s("startTimestamp"),
        s("endTimestamp"),
    )
}

/// Job name → (creationTimestamp, attempt annotation).
fn jobs(c: &Cluster) -> Vec<(String, String, String)> {
    let list = c.get_json(&["vcjob"]);
    let mut out: Vec<(String, String, String)> = list["items"]
        .as_array()
        .expect("items")
        .iter()
        .map(|j| {
            let m = &j["metadata"];
            let attempt = m["annotations"]["flow.basalt.dev/attempt"]
                .as_str()
                .unwrap_or_default();
            (
                m["name"].as_str().unwrap_or_default().to_owned(),
                m["creationTimestamp"]
                    .as_str()
                    .unwrap_or_default()
                    .to_owned(),
                attempt.to_owned(),
            )
        })
        .collect();
    out.sort();
    out
}

fn basalt(c: &Cluster, args: &[&str]) -> String {
    let out = Command::new(env!("CARGO_BIN_EXE_basalt"))
        .args(args)
        .arg("--kubeconfig")
        .arg(&c.kubeconfig)
        .output()
        .expect("running basalt");
    assert!(
        out.status.success(),
        "basalt {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

#[test]
fn the_article_pipeline_runs_its_six_steps_strictly_in_order() {
    let c = Cluster::start(&["--pod-duration", "3s"]);
    // The article's manifest exactly as users bring it: no run time (`--pod-duration` decides),
    // no restartPolicy (a flow step runs to completion) and no retry policy.
    c.apply(include_str!(
        "../examples/article/07-credit-ml-pipeline-jobflow.yaml"
    ));
    let f = wait_flow(&c, "credit-ml-pipeline", "Succeed");
    let steps = [
        "data-collection",
        "data-preprocessing",
        "feature-extraction",
        "model-training",
        "model-validation",
        "model-deployment",
    ];
    let created = jobs(&c);
    let created_at = |step: &str| {
        let name = format!("credit-ml-pipeline-{step}");
        created
            .iter()
            .find(|j| j.0 == name)
            .unwrap_or_else(|| panic!("{name}: {created:?}"))
            .1
            .clone()
    };
    for pair in steps.windows(2) {
        let (_, _, end) = entry(&f, &format!("credit-ml-pipeline-{}", pair[0]));
        let next = created_at(pair[1]);
        // RFC 3339 UTC timestamps compare as strings.
        assert!(
            !end.is_empty() && end <= next,
            "{} created at {next} before {} ended at {end}",
            pair[1],
            pair[0]
        );
        assert!(created_at(pair[0]) < next, "{pair:?}: {created:?}");
    }
    assert!(
        created.iter().all(|j| j.2 == "1"),
        "each step ran once: {created:?}"
    );
    let view = basalt(&c, &["flow", "view", "credit-ml-pipeline"]);
    assert!(
        view.contains("Succeed") && view.lines().filter(|l| l.contains("Completed")).count() == 6,
        "{view}"
    );
    let list = basalt(&c, &["flow", "list"]);
    assert!(list.contains("6/6"), "{list}");
}

#[test]
fn a_failing_step_succeeds_on_attempt_three_and_its_upstream_runs_once() {
    let c = Cluster::start(&["--pod-duration", "2s"]);
    let steps = format!(
        "[{{name: a}}, {{name: b, dependsOn: {{targets: [a]}}, {}}}, {{name: c, dependsOn: {{targets: [b]}}}}]",
        failing(2)
    );
    c.apply(&flow(
        "retry",
        "retryPolicy: {maxRetries: 3, backoffSeconds: 1}",
        &steps,
    ));
    let f = wait_flow(&c, "retry", "Succeed");
    assert_eq!(entry(&f, "retry-a").0, 0);
    assert_eq!(entry(&f, "retry-b").0, 2);
    assert_eq!(entry(&f, "retry-c").0, 0);
    let attempts: Vec<(String, String)> = jobs(&c).into_iter().map(|j| (j.0, j.2)).collect();
    assert_eq!(
        attempts,
        [
            ("retry-a".into(), "1".into()),
            ("retry-b".into(), "3".into()),
            ("retry-c".into(), "1".into())
        ]
    );
}

#[test]
fn an_exhausted_flow_is_failed_and_basalt_flow_retry_finishes_it() {
    let c = Cluster::start(&["--pod-duration", "2s"]);
    let steps = format!(
        "[{{name: a}}, {{name: b, dependsOn: {{targets: [a]}}, {}}}, {{name: c, dependsOn: {{targets: [b]}}}}]",
        failing(2)
    );
    c.apply(&flow("resume", "retryPolicy: {maxRetries: 1}", &steps));
    let f = wait_flow(&c, "resume", "Failed");
    assert_eq!(
        f.pointer("/status/failedJobs/0").and_then(Value::as_str),
        Some("resume-b"),
        "{f}"
    );
    let view = basalt(&c, &["flow", "view", "resume"]);
    assert!(view.contains("basalt flow retry resume"), "{view}");
    let out = basalt(&c, &["flow", "retry", "resume"]);
    assert!(out.contains("retry round 1"), "{out}");
    let f = wait_flow(&c, "resume", "Succeed");
    assert_eq!((entry(&f, "resume-a").0, entry(&f, "resume-b").0), (0, 2));
    let a = jobs(&c)
        .into_iter()
        .find(|j| j.0 == "resume-a")
        .expect("resume-a");
    assert_eq!(a.2, "1", "the upstream step ran once");
}

#[test]
fn a_diamond_runs_b_and_c_in_parallel_and_d_after_both() {
    let c = Cluster::start(&["--pod-duration", "5s"]);
    let steps = "[{name: a}, {name: b, dependsOn: {targets: [a]}}, {name: c, dependsOn: {targets: [a]}}, \
                 {name: d, dependsOn: {targets: [b, c]}}]";
    c.apply(&flow("diamond", "jobRetainPolicy: retain", steps));
    let f = wait_flow(&c, "diamond", "Succeed");
    let (_, _, a_end) = entry(&f, "diamond-a");
    let (_, b_start, b_end) = entry(&f, "diamond-b");
    let (_, c_start, c_end) = entry(&f, "diamond-c");
    let (_, d_start, _) = entry(&f, "diamond-d");
    assert!(a_end <= b_start && a_end <= c_start, "{f}");
    assert!(b_start < c_end && c_start < b_end, "b and c overlap: {f}");
    assert!(b_end <= d_start && c_end <= d_start, "d after both: {f}");
}

#[test]
fn restarting_basalt_up_during_step_three_runs_every_step_once() {
    let args = ["--pod-duration", "4s", "--data-dir", "data"];
    let c = Cluster::start(&args);
    let steps = "[{name: s1}, {name: s2, dependsOn: {targets: [s1]}}, {name: s3, dependsOn: {targets: [s2]}}, \
                 {name: s4, dependsOn: {targets: [s3]}}]";
    c.apply(&flow("crash", "retryPolicy: {maxRetries: 2}", steps));
    c.wait_for("step s3 to start", T, || {
        jobs(&c).iter().any(|j| j.0 == "crash-s3").then_some(())
    });
    let dir: TempDir = c.stop();
    let c = Cluster::start_in(dir, &args);
    let f = wait_flow(&c, "crash", "Succeed");
    for s in ["s1", "s2", "s3", "s4"] {
        assert_eq!(entry(&f, &format!("crash-{s}")).0, 0, "{f}");
    }
    let all = jobs(&c);
    assert_eq!(all.len(), 4, "{all:?}");
    assert!(
        all.iter().all(|j| j.2 == "1"),
        "each step ran once: {all:?}"
    );
}

#[test]
fn killing_the_controller_during_step_three_runs_every_step_once() {
    let c = Cluster::start(&["--no-controllers", "--pod-duration", "3s"]);
    let first = crate::harness::Controller::start(&c, "controller-1.log");
    let steps = "[{name: s1}, {name: s2, dependsOn: {targets: [s1]}}, {name: s3, dependsOn: {targets: [s2]}}, \
                 {name: s4, dependsOn: {targets: [s3]}}, {name: s5, dependsOn: {targets: [s4]}}]";
    c.apply(&flow("killed", "retryPolicy: {maxRetries: 2}", steps));
    c.wait_for("step s3 to start", T, || {
        jobs(&c).iter().any(|j| j.0 == "killed-s3").then_some(())
    });
    drop(first); // SIGKILL: no graceful shutdown
    let _second = crate::harness::Controller::start(&c, "controller-2.log");
    let f = wait_flow(&c, "killed", "Succeed");
    for s in ["s1", "s2", "s3", "s4", "s5"] {
        assert_eq!(entry(&f, &format!("killed-{s}")).0, 0, "{f}");
    }
    let all = jobs(&c);
    assert_eq!(all.len(), 5, "{all:?}");
    assert!(
        all.iter().all(|j| j.2 == "1"),
        "each step ran once: {all:?}"
    );
    let pods = c.get_json(&["pods"]);
    let names: Vec<&str> = pods["items"]
        .as_array()
        .expect("items")
        .iter()
        .filter_map(|p| p["metadata"]["name"].as_str())
        .collect();
    assert_eq!(
        names.len(),
        5,
        "one pod per step, none re-created: {names:?}"
    );
}
