//! Upstream `test/e2e/jobp/job_lifecycle_uid.go` ("Job UID isolation"), its table "Preserves
//! targeted lifecycle recovery": a job of a 4-pod `worker` task and a 1-pod `other` task with
//! the policy `PodEvicted → <action>`; deleting `worker-0` (grace period 0) restarts exactly the
//! targeted pods (new UID), every other pod keeps its UID, and the job's `status.version` stays
//! 0 (a targeted action is not a whole-job restart). Upstream's first case (a job recreated
//! under the same name while finalizers hold its predecessor's pods, three rounds) is a row of
//! docs/volcano-compat.md, not ported yet.

use std::collections::BTreeMap;

use serde_json::{Value, json};

use super::{Ns, Suite, T, task, vcjob};

const FILE: &str = "jobp/job_lifecycle_uid.go";
const PARTITION_LABEL: &str = "volcano.sh/task-partition-id";

fn uids(ns: &Ns<'_>, job: &str) -> BTreeMap<String, Value> {
    ns.pods(job)
        .into_iter()
        .map(|p| {
            (
                p["metadata"]["name"]
                    .as_str()
                    .unwrap_or_default()
                    .to_owned(),
                p,
            )
        })
        .collect()
}

pub fn run(s: &Suite) {
    for (entry, action) in [
        (
            "RestartPod with timeout after the target is deleted",
            "RestartPod",
        ),
        ("RestartTask retains Pods outside the task", "RestartTask"),
        (
            "RestartPartition retains Pods outside the partition",
            "RestartPartition",
        ),
    ] {
        s.case(
            &format!("{FILE}: Preserves targeted lifecycle recovery: {entry}"),
            |ns| {
                let mut policy = json!({"events": ["PodEvicted"], "action": action});
                if action == "RestartPod" {
                    policy["timeout"] = json!("1s");
                }
                let mut worker = task("worker", 4, 4, "100m");
                if action == "RestartPartition" {
                    worker["partitionPolicy"] = json!({"totalPartitions": 2, "partitionSize": 2});
                }
                let spec = json!({
                    "minAvailable": 5,
                    "policies": [policy],
                    "tasks": [worker, task("other", 1, 1, "100m")],
                });
                ns.create(&vcjob("targeted-lifecycle", spec));
                ns.wait_job_phases("targeted-lifecycle", &["Running"]);
                ns.c.wait_for("5 pods running", T, || {
                    let all = uids(ns, "targeted-lifecycle");
                    (all.len() == 5 && all.values().all(|p| p["status"]["phase"] == "Running"))
                        .then_some(())
                });
                let original = uids(ns, "targeted-lifecycle");
                let victim = original["targeted-lifecycle-worker-0"].clone();
                let partition = victim["metadata"]["labels"][PARTITION_LABEL].clone();
                if action == "RestartPartition" {
                    assert!(
                        partition.as_str().is_some_and(|p| !p.is_empty()),
                        "worker-0 has no {PARTITION_LABEL} label: {}",
                        victim["metadata"]["labels"]
                    );
                }
                ns.kubectl(&[
                    "delete",
                    "pod",
                    "targeted-lifecycle-worker-0",
                    "--grace-period=0",
                    "--force",
                    "--wait=false",
                ]);
                let restarted = |name: &str, old: &Value| match action {
                    "RestartTask" => name.contains("-worker-"),
                    "RestartPartition" => {
                        name.contains("-worker-")
                            && old["metadata"]["labels"][PARTITION_LABEL] == partition
                    }
                    _ => name == "targeted-lifecycle-worker-0",
                };
                let deadline = std::time::Instant::now() + T;
                loop {
                    let now = uids(ns, "targeted-lifecycle");
                    let mut problems = Vec::new();
                    for (name, old) in &original {
                        let Some(cur) = now.get(name) else {
                            problems.push(format!("{name} missing"));
                            continue;
                        };
                        if cur["status"]["phase"] != "Running"
                            || !cur["metadata"]["deletionTimestamp"].is_null()
                        {
                            problems.push(format!("{name} not running"));
                        }
                        let changed = cur["metadata"]["uid"] != old["metadata"]["uid"];
                        if changed != restarted(name, old) {
                            problems.push(format!("{name} changed UID: {changed}"));
                        }
                    }
                    if problems.is_empty() {
                        break;
                    }
                    assert!(
                        std::time::Instant::now() < deadline,
                        "not only the targeted pods restarted within {T:?}: {}",
                        problems.join(", ")
                    );
                    std::thread::sleep(std::time::Duration::from_millis(500));
                }
                let job = ns.get_json(&["vcjob", "targeted-lifecycle"]);
                assert_eq!(
                    job["status"]["version"].as_i64().unwrap_or(0),
                    0,
                    "a targeted action bumped the job version: {}",
                    job["status"]
                );
                ns.kubectl(&["delete", "vcjob", "targeted-lifecycle"]);
            },
        );
    }
}
