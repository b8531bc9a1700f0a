//! Upstream `test/e2e/schedulingaction/terminating_podgroup.go` ("PodGroup terminating E2E
//! Test"): a PodGroup made by hand, its members bare pods of the `volcano` scheduler; one member
//! is deleted but keeps running for a while (upstream: a container that ignores SIGTERM, grace
//! period 300 s). While it terminates the PodGroup must stay Running and get no new
//! `NotEnoughResources` condition (volcano-sh/volcano#5794, fixed by #5796).
//!
//! `basalt up`'s simulated kubelet ends a deleted pod at once, so the pods here carry a finalizer
//! instead: the deleted pod keeps its node and its `deletionTimestamp` until the case removes the
//! finalizer, which is what the scheduler sees of a pod that ignores SIGTERM.

use std::time::{Duration, Instant};

use serde_json::{Value, json};

use super::{Ns, Suite, T};

const FILE: &str = "schedulingaction/terminating_podgroup.go";
const HOLD: &str = "e2e.basalt.dev/hold";
const PG: &str = "pg-sticky-releasing";

/// Removes the finalizer from the case's pods when dropped, whatever the outcome, so that the
/// namespace's clean-up can delete them.
struct Held<'a>(&'a Ns<'a>, Vec<String>);

impl Drop for Held<'_> {
    fn drop(&mut self) {
        for pod in &self.1 {
            let _ = self.0.try_kubectl(
                &[
                    "patch",
                    "pod",
                    pod,
                    "--type=merge",
                    "-p",
                    r#"{"metadata":{"finalizers":null}}"#,
                ],
                None,
            );
            let _ = self
                .0
                .try_kubectl(&["delete", "pod", pod, "--wait=false"], None);
        }
        let _ = self
            .0
            .try_kubectl(&["delete", "podgroup", PG, "--wait=false"], None);
    }
}

fn podgroup(ns: &Ns<'_>) -> Value {
    ns.get_json(&["podgroup", PG])
}

/// `(reason, lastTransitionTime)` of the PodGroup's `Unschedulable=True` conditions.
fn unschedulable(pg: &Value) -> Vec<(String, String)> {
    pg["status"]["conditions"]
        .as_array()
        .into_iter()
        .flatten()
        .filter(|c| c["type"] == "Unschedulable" && c["status"] == "True")
        .map(|c| {
            (
                c["reason"].as_str().unwrap_or_default().to_owned(),
                c["lastTransitionTime"]
                    .as_str()
                    .unwrap_or_default()
                    .to_owned(),
            )
        })
        .collect()
}

fn releasing_member(ns: &Ns<'_>, members: usize) {
    ns.create(&json!({
        "apiVersion": "scheduling.volcano.sh/v1beta1", "kind": "PodGroup",
        "metadata": {"name": PG},
        "spec": {"minMember": members, "queue": "default"},
    }));
    let names: Vec<String> = (0..members)
        .map(|i| format!("sticky-releasing-{i}"))
        .collect();
    let held = Held(ns, names.clone());
    for name in &names {
        ns.create(&json!({
            "apiVersion": "v1", "kind": "Pod",
            "metadata": {
                "name": name,
                "annotations": {"scheduling.k8s.io/group-name": PG},
                "finalizers": [HOLD],
            },
            "spec": {
                "schedulerName": "volcano",
                "restartPolicy": "Never",
                "terminationGracePeriodSeconds": 300,
                "containers": [{"name": "main", "image": "busybox",
                    "resources": {"requests": {"cpu": "50m", "memory": "64Mi"}}}],
            },
        }));
    }
    ns.c.wait_for("every member Running and the PodGroup Running", T, || {
        let pods = ns.get_json(&["pods"]);
        let all = pods["items"].as_array().is_some_and(|p| {
            p.len() == members && p.iter().all(|p| p["status"]["phase"] == "Running")
        });
        (all && podgroup(ns)["status"]["phase"] == "Running").then_some(())
    });
    let before = unschedulable(&podgroup(ns));
    ns.kubectl(&["delete", "pod", &names[0], "--wait=false"]);
    ns.c.wait_for("the deleted member terminating", T, || {
        let p = ns.get_json(&["pod", &names[0]]);
        p["metadata"]["deletionTimestamp"].is_string().then_some(())
    });
    // Upstream's Consistently: 15 s, every 0.5 s.
    let end = Instant::now() + Duration::from_secs(15);
    while Instant::now() < end {
        let pg = podgroup(ns);
        assert_eq!(
            pg["status"]["phase"], "Running",
            "the PodGroup left Running while one member terminates: {}",
            pg["status"]
        );
        let new: Vec<_> = unschedulable(&pg)
            .into_iter()
            .filter(|c| c.0 == "NotEnoughResources" && !before.contains(c))
            .collect();
        assert!(
            new.is_empty(),
            "a NotEnoughResources condition while one member terminates: {}",
            pg["status"]
        );
        std::thread::sleep(Duration::from_millis(500));
    }
    drop(held);
}

pub fn run(s: &Suite) {
    for (name, members) in [
        ("single-Pod PodGroup", 1),
        ("partially terminating multi-Pod PodGroup", 2),
    ] {
        s.case(
            &format!(
                "{FILE}: PodGroup should stay Running while scheduled members are terminating ({name})"
            ),
            |ns| releasing_member(ns, members),
        );
    }
}
