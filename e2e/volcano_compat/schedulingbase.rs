//! Upstream `test/e2e/schedulingbase/job_scheduling.go` ("Job E2E Test"): basic, multi-job and
//! gang scheduling, best-effort members, the statement rollback (no eviction for a gang that
//! cannot fit) and binpack. Upstream sizes jobs by the cluster's 1-CPU slots; here a slot is 16
//! CPUs (24 on the default 4 × 96-CPU cluster), the same shapes with fewer objects. Each case
//! deletes its jobs so the next one sees an empty cluster.

use serde_json::{Value, json};

use super::{Ns, Suite, T, task, vcjob};

const FILE: &str = "schedulingbase/job_scheduling.go";
const SLOT: &str = "16";

/// Slots of `SLOT` CPUs the cluster's nodes hold (upstream's `ClusterSize`).
fn cluster_size(ns: &Ns<'_>) -> i32 {
    let nodes = ns.get_json(&["nodes"]);
    nodes["items"]
        .as_array()
        .into_iter()
        .flatten()
        .map(|n| {
            let cpu = n["status"]["allocatable"]["cpu"].as_str().unwrap_or("0");
            let cores = match cpu.strip_suffix('m') {
                Some(m) => m.parse::<i32>().unwrap_or(0) / 1000,
                None => cpu.parse::<i32>().unwrap_or(0),
            };
            cores / SLOT.parse::<i32>().unwrap_or(1)
        })
        .sum()
}

fn best_effort(name: &str, replicas: i32, min: i32) -> Value {
    let mut t = task(name, replicas, min, "0");
    t["template"]["spec"]["containers"][0]["resources"] = json!({});
    t
}

/// Upstream's `WaitJobReady`: at least minAvailable pods of the job run.
pub(super) fn wait_ready(ns: &Ns<'_>, job: &str) {
    let min = ns.get_json(&["vcjob", job])["spec"]["minAvailable"]
        .as_u64()
        .unwrap_or(0) as usize;
    let deadline = std::time::Instant::now() + T;
    loop {
        let running = ns
            .pods(job)
            .iter()
            .filter(|p| p["status"]["phase"] == "Running")
            .count();
        if running >= min {
            return;
        }
        if std::time::Instant::now() > deadline {
            panic!(
                "timed out after {T:?} waiting for {job}: {min} pods running; the namespace's jobs now: {}",
                jobs_state(ns)
            );
        }
        std::thread::sleep(std::time::Duration::from_millis(100));
    }
}

/// Per PodGroup: phase, last condition message and the pods' phases, for a failure message.
fn jobs_state(ns: &Ns<'_>) -> String {
    let mut out = Vec::new();
    for pg in ns.podgroups() {
        let owner = pg["metadata"]["ownerReferences"][0]["name"]
            .as_str()
            .unwrap_or_default()
            .to_owned();
        let mut phases = std::collections::BTreeMap::<String, usize>::new();
        for p in ns.pods(&owner) {
            let phase = p["status"]["phase"].as_str().unwrap_or("?").to_owned();
            *phases.entry(phase).or_default() += 1;
        }
        let conditions = pg["status"]["conditions"]
            .as_array()
            .cloned()
            .unwrap_or_default();
        let last = conditions
            .last()
            .map(|c| c["message"].as_str().unwrap_or_default().to_owned())
            .unwrap_or_default();
        out.push(format!(
            "{owner}: PodGroup {} ({last}), pods {phases:?}",
            pg["status"]["phase"].as_str().unwrap_or("-")
        ));
    }
    out.join("; ")
}

fn delete_jobs(ns: &Ns<'_>) {
    ns.kubectl(&["delete", "vcjob", "--all"]);
    ns.c.wait_for("the case's pods gone", T, || {
        let pods = ns.get_json(&["pods"]);
        pods["items"]
            .as_array()
            .is_none_or(|a| a.is_empty())
            .then_some(())
    });
}

pub fn run(s: &Suite) {
    s.case(&format!("{FILE}: Schedule Job"), |ns| {
        let rep = cluster_size(ns);
        ns.create(&vcjob(
            "qj-1",
            json!({"tasks": [task("t", rep, 2, SLOT)], "minAvailable": 2}),
        ));
        wait_ready(ns, "qj-1");
        delete_jobs(ns);
    });

    s.case(&format!("{FILE}: Schedule Multiple Jobs"), |ns| {
        let rep = cluster_size(ns);
        // Upstream creates the three jobs back to back through the API; one kubectl call
        // does the same (three separate kubectl processes could straddle a session).
        let items: Vec<Value> = ["mqj-1", "mqj-2", "mqj-3"]
            .iter()
            .map(|name| {
                vcjob(
                    name,
                    json!({"tasks": [task("t", rep, 2, SLOT)], "minAvailable": 2}),
                )
            })
            .collect();
        let stream: Vec<String> = items.iter().map(Value::to_string).collect();
        let (ok, _, err) = ns.try_kubectl(&["create", "-f", "-"], Some(&stream.join("\n")));
        assert!(ok, "creating the three jobs: {err}");
        for name in ["mqj-1", "mqj-2", "mqj-3"] {
            wait_ready(ns, name);
        }
        delete_jobs(ns);
    });

    s.case(&format!("{FILE}: Gang scheduling"), |ns| {
        // Upstream occupies half the cluster plus one slot with a ReplicaSet; devcluster runs no
        // ReplicaSet controller, so the occupiers are the pods such a ReplicaSet would create.
        let rep = cluster_size(ns) / 2 + 1;
        for i in 0..rep {
            ns.create(&json!({
                "apiVersion": "v1", "kind": "Pod",
                "metadata": {"name": format!("rs-1-{i}")},
                "spec": {"containers": [{"name": "main", "image": "nginx",
                    "resources": {"requests": {"cpu": SLOT}}}]},
            }));
        }
        ns.c.wait_for("the occupying pods running", T, || {
            let pods = ns.get_json(&["pods"]);
            let running = pods["items"]
                .as_array()
                .into_iter()
                .flatten()
                .filter(|p| p["status"]["phase"] == "Running")
                .count();
            (running == rep as usize).then_some(())
        });
        let mut t = task("t", rep, rep, SLOT);
        t["template"]["metadata"]["annotations"] = json!({"sim.basalt.dev/duration": "10s"});
        ns.create(&vcjob("gang-qj", json!({"tasks": [t]})));
        ns.wait_job_phases("gang-qj", &["Pending"]);
        let pg = ns.podgroup_of("gang-qj");
        let pg_name = pg["metadata"]["name"]
            .as_str()
            .unwrap_or_default()
            .to_owned();
        ns.wait_event(&pg_name, "Unschedulable");
        assert_eq!(ns.job_phase("gang-qj"), "Pending");
        for i in 0..rep {
            ns.kubectl(&["delete", "pod", &format!("rs-1-{i}"), "--wait=false"]);
        }
        wait_ready(ns, "gang-qj");
        delete_jobs(ns);
    });

    s.case(&format!("{FILE}: Gang scheduling: Full Occupied"), |ns| {
        let rep = cluster_size(ns);
        ns.create(&vcjob(
            "gang-fq-qj1",
            json!({"tasks": [task("t", rep, rep, SLOT)]}),
        ));
        wait_ready(ns, "gang-fq-qj1");
        ns.create(&vcjob(
            "gang-fq-qj2",
            json!({"tasks": [task("t", rep, rep, SLOT)]}),
        ));
        ns.wait_job_phases("gang-fq-qj2", &["Pending"]);
        wait_ready(ns, "gang-fq-qj1");
        delete_jobs(ns);
    });

    s.case(
        &format!("{FILE}: Gang scheduling: Contains both best-effort pod and non-best-effort pod"),
        |ns| {
            let rep = cluster_size(ns);
            let spec = json!({"tasks": [
                task("best-effort", rep / 2, rep / 2, SLOT),
                best_effort("non-best-effort", rep - rep / 2, rep - rep / 2),
            ]});
            ns.create(&vcjob("gang-both-best-effort-non-best-effort-pods", spec));
            wait_ready(ns, "gang-both-best-effort-non-best-effort-pods");
            delete_jobs(ns);
        },
    );

    s.case(&format!("{FILE}: Schedule BestEffort Job"), |ns| {
        let rep = cluster_size(ns);
        let spec = json!({"tasks": [task("slot", rep, 2, SLOT), best_effort("be", rep / 2, 2)]});
        ns.create(&vcjob("test", spec));
        wait_ready(ns, "test");
        delete_jobs(ns);
    });

    s.case(&format!("{FILE}: Statement"), |ns| {
        let rep = cluster_size(ns);
        ns.create(&vcjob(
            "st-qj-1",
            json!({"tasks": [task("t", rep, rep, SLOT)]}),
        ));
        wait_ready(ns, "st-qj-1");
        ns.create(&vcjob(
            "st-qj-2",
            json!({"tasks": [task("t", rep, rep, SLOT)]}),
        ));
        let pg = ns.podgroup_of("st-qj-2");
        let pg_name = pg["metadata"]["name"]
            .as_str()
            .unwrap_or_default()
            .to_owned();
        ns.wait_event(&pg_name, "Unschedulable");
        // No preemption: nothing of the first job was evicted.
        assert!(
            ns.events("st-qj-1", "Evict").is_empty(),
            "st-qj-1 lost pods"
        );
        wait_ready(ns, "st-qj-1");
        delete_jobs(ns);
    });
}
