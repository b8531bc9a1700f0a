//! Controllers end to end: the article's manifests through `basalt up` and the real kubectl, and
//! a separate `basalt controller` process restarted in the middle of a gang's life.

use std::time::Duration;

use serde_json::Value;

use crate::harness::Cluster;

const T: Duration = Duration::from_secs(60);

fn job_phase(c: &Cluster, name: &str) -> String {
    let out = c.kubectl_output(
        &["get", "vcjob", name, "-o", "jsonpath={.status.state.phase}"],
        None,
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

fn job_pods(c: &Cluster, job: &str) -> Vec<Value> {
    let list = c.get_json(&["pods", "-l", &format!("volcano.sh/job-name={job}")]);
    list["items"].as_array().cloned().unwrap_or_default()
}

fn gang_job(duration: &str) -> String {
    include_str!("../examples/03-gang-distributed-training-job.yaml").replace("120s", duration)
}

#[test]
fn seed_gang_job_and_team_queues_through_kubectl() {
    let c = Cluster::start(&[]);
    c.apply(include_str!("../examples/05-team-queues.yaml"));
    c.wait_for("team queues and the default queues", T, || {
        let text = c.kubectl(&["get", "queues"]);
        [
            "team-a-queue",
            "team-b-queue",
            "team-c-queue",
            "default",
            "root",
        ]
        .iter()
        .all(|q| text.contains(q))
        .then_some(())
    });
    c.apply(&gang_job("4s"));
    // When a gang member runs while another has no node, since when (see below).
    let partial_since: std::cell::Cell<Option<std::time::Instant>> = std::cell::Cell::new(None);
    c.wait_for("job Running with four running pods", T, || {
        let pods = job_pods(&c, "distributed-training");
        let running = pods
            .iter()
            .filter(|p| p["status"]["phase"] == "Running")
            .count();
        // The gang invariant is about placement: never a pod running while another of the gang
        // is left without a node. Bound pods start (and, with a 4 s run, finish) a few ms apart,
        // so phase alone would flag a healthy gang. And a session's binds are one API call per
        // pod: on a real API server under load the simulated kubelet starts the first pods
        // before the last bind lands (seen on the real backend, 2026-12-06: "3 running while 1
        // have no node" with the job already Running and nothing restarted), as with Volcano.
        // So a partial gang fails the test only if it lasts: a scheduler that placed part of the
        // gang and left the rest would keep it partial (the same 10 s rule as real_cluster.rs).
        let unplaced = pods
            .iter()
            .filter(|p| {
                p["spec"]["nodeName"]
                    .as_str()
                    .unwrap_or_default()
                    .is_empty()
            })
            .count();
        if running > 0 && unplaced > 0 {
            let since = partial_since.get().unwrap_or_else(std::time::Instant::now);
            partial_since.set(Some(since));
            assert!(
                since.elapsed() < std::time::Duration::from_secs(10),
                "partial gang for 10 s: {running} running while {unplaced} have no node"
            );
        } else {
            partial_since.set(None);
        }
        (job_phase(&c, "distributed-training") == "Running" && running == 4).then_some(())
    });
    let pg = c.get_json(&["podgroups"]);
    assert_eq!(pg["items"][0]["spec"]["minMember"], 4);
    c.wait_for("job Completed", T, || {
        (job_phase(&c, "distributed-training") == "Completed").then_some(())
    });
}

#[test]
fn restarting_basalt_controller_mid_gang_creates_no_duplicates() {
    let c = Cluster::start(&["--no-controllers"]);
    let first = crate::harness::Controller::start(&c, "first.log");
    c.apply(&gang_job("600s"));
    c.wait_for("job Running", T, || {
        (job_phase(&c, "distributed-training") == "Running").then_some(())
    });
    let uids = |c: &Cluster| {
        let mut v: Vec<String> = job_pods(c, "distributed-training")
            .iter()
            .map(|p| p["metadata"]["uid"].as_str().unwrap_or_default().to_owned())
            .collect();
        v.sort();
        v
    };
    let before = uids(&c);
    assert_eq!(before.len(), 4);
    drop(first);
    let _second = crate::harness::Controller::start(&c, "second.log");
    // The new process syncs its caches and reconciles everything; give it several periods.
    let log_path = c.dir.path().join("second.log");
    let deadline = std::time::Instant::now() + T;
    loop {
        let log = std::fs::read_to_string(&log_path).unwrap_or_default();
        if log.contains("scheduler loop started") {
            break;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "restarted controller not running:\n{log}"
        );
        std::thread::sleep(Duration::from_millis(100));
    }
    std::thread::sleep(Duration::from_secs(3));
    assert_eq!(
        uids(&c),
        before,
        "same four pods, none recreated or duplicated"
    );
    assert_eq!(job_phase(&c, "distributed-training"), "Running");
}

#[test]
fn gang_job_completes_with_five_percent_api_faults() {
    let c = Cluster::start(&["--fault-rate", "0.05"]);
    // kubectl itself may hit an injected fault; retry the apply.
    c.wait_for("the job applied", T, || {
        c.kubectl_output(&["apply", "-f", "-"], Some(&gang_job("3s")))
            .status
            .success()
            .then_some(())
    });
    c.wait_for(
        "job Completed despite injected faults",
        Duration::from_secs(120),
        || (job_phase(&c, "distributed-training") == "Completed").then_some(()),
    );
}

/// Volcano raises `PodEvicted` when a pod of the job is deleted, whatever state it was in. A pod
/// that never got a node is deleted at once (no grace period), so it is gone from the cache
/// before the job is reconciled: the eviction must still reach the job's policy, not be
/// papered over by recreating the pod.
#[test]
fn deleting_an_unbound_pod_fires_the_pod_evicted_policy() {
    let c = Cluster::start(&[]);
    c.apply(
        r#"apiVersion: batch.volcano.sh/v1alpha1
kind: Job
metadata: {name: evict-me}
spec:
  minAvailable: 1
  schedulerName: volcano
  policies: [{event: PodEvicted, action: TerminateJob}]
  tasks:
  - name: run
    replicas: 1
    template:
      spec:
        restartPolicy: Never
        containers: [{name: c, image: busybox, resources: {requests: {cpu: 100m}}}]
  - name: stuck
    replicas: 1
    template:
      spec:
        restartPolicy: Never
        nodeSelector: {no-such-label: "true"}
        containers: [{name: c, image: busybox, resources: {requests: {cpu: 100m}}}]
"#,
    );
    c.wait_for("job Running with its stuck pod created", T, || {
        let pods = job_pods(&c, "evict-me");
        let stuck = pods
            .iter()
            .any(|p| p["metadata"]["name"] == "evict-me-stuck-0");
        (job_phase(&c, "evict-me") == "Running" && stuck).then_some(())
    });
    c.kubectl(&["delete", "pod", "evict-me-stuck-0", "--wait=false"]);
    c.wait_for("job Terminated by its PodEvicted policy", T, || {
        (job_phase(&c, "evict-me") == "Terminated").then_some(())
    });
}
