//! Upstream `test/e2e/schedulingaction/allocate.go` ("Job E2E Test"), the cases that need only
//! Volcano Jobs, on the slot cluster of `schedulingaction.rs`. Upstream sizes its nodes with
//! `NodesResourceLimit` (2 CPUs free per node, jobs of 0.5 and 1 CPU); here each node is one
//! 1-CPU slot and the jobs keep their ratios (0.5 and 1 CPU). The other cases are rows of
//! docs/volcano-compat.md: the Deployment case needs kube-controller-manager, the capacity
//! reservation case Volcano's queue-allocation gate annotation.

use serde_json::json;

use super::schedulingaction::{
    QUIET, SLOT, finish, job, running, stays, use_nodes, wait_tasks_ready,
};
use super::{Ns, Suite, T};

const FILE: &str = "schedulingaction/allocate.go";

fn case(s: &Suite, name: &str, f: impl FnOnce(&Ns<'_>)) {
    s.case(&format!("{FILE}: {name}"), f);
}

pub fn run(s: &Suite) {
    case(s, "allocate work when resource is enough", |ns| {
        use_nodes(ns, 2);
        ns.create(&job("low", "default", None, ("500m", "512Mi"), 1, 1));
        wait_tasks_ready(ns, "low", 1);
        ns.create(&job("high", "default", None, SLOT, 1, 1));
        wait_tasks_ready(ns, "high", 1);
        finish(ns, &[]);
    });

    // v1.14.1: a task split into partitions (`partitionPolicy`) with no network-topology
    // constraint is scheduled as any gang: two 1-pod partitions, both required, on two slots.
    case(
        s,
        "allocate work when job has subgroups (partitionPolicy) but no network topology constraint",
        |ns| {
            use_nodes(ns, 2);
            let mut j = job(
                "job-subgroups-no-topology",
                "default",
                None,
                ("500m", "512Mi"),
                2,
                2,
            );
            j["spec"]["tasks"][0]["partitionPolicy"] =
                json!({"totalPartitions": 2, "partitionSize": 1, "minPartitions": 2});
            ns.create(&j);
            wait_tasks_ready(ns, "job-subgroups-no-topology", 2);
            finish(ns, &[]);
        },
    );

    case(
        s,
        "allocate don't work when job NOT satisfy predicates",
        |ns| {
            use_nodes(ns, 1);
            let mut j1 = job("j1", "default", None, ("500m", "512Mi"), 1, 1);
            j1["spec"]["tasks"][0]["template"]["metadata"]["labels"]["job"] =
                json!("for-test-predicate");
            ns.create(&j1);
            wait_tasks_ready(ns, "j1", 1);
            let mut j2 = job("j2", "default", None, ("500m", "512Mi"), 1, 1);
            j2["spec"]["tasks"][0]["template"]["spec"]["affinity"] = json!({"podAntiAffinity": {
                "requiredDuringSchedulingIgnoredDuringExecution": [{
                    "labelSelector": {"matchExpressions": [
                        {"key": "job", "operator": "In", "values": ["for-test-predicate"]},
                    ]},
                    "topologyKey": "kubernetes.io/hostname",
                }],
            }});
            ns.create(&j2);
            // Upstream's WaitJobPending: the job's pod exists and stays Pending (half the node is
            // free, only the anti-affinity keeps it off).
            ns.c.wait_for("j2's pod created", T, || {
                (!ns.pods("j2").is_empty()).then_some(())
            });
            stays(ns, "j2 has no running pod", || running(ns, "j2") == 0);
            // Beyond upstream: `basalt why` names the refusal (the scheduler's reason, as
            // kube-scheduler words it) in its unfit-nodes summary.
            let out = std::process::Command::new(env!("CARGO_BIN_EXE_basalt"))
                .args(["why", "j2", "-n", &ns.name, "--kubeconfig"])
                .arg(&ns.c.kubeconfig)
                .output()
                .expect("running basalt why");
            let why = String::from_utf8_lossy(&out.stdout);
            assert!(
                out.status.success()
                    && why.contains("node(s) didn't match pod anti-affinity rules"),
                "basalt why j2:\n{why}\n{}",
                String::from_utf8_lossy(&out.stderr)
            );
            finish(ns, &[]);
        },
    );

    case(
        s,
        "Scheduling gates block vcjob. vcjob allocated after removed.",
        |ns| {
            use_nodes(ns, 4);
            let mut j = job("j1-q1", "default", None, SLOT, 2, 2);
            j["spec"]["tasks"][0]["template"]["spec"]["schedulingGates"] =
                json!([{"name": "example.com/g1"}]);
            ns.create(&j);
            let pg = ns.podgroup_of("j1-q1")["metadata"]["name"]
                .as_str()
                .expect("podgroup name")
                .to_owned();
            // Upstream's WaitJobUnschedulable: an Unschedulable event on the PodGroup while its
            // pods are gated (the cluster has room: only the gates hold them back).
            // The first session may run when the job controller has created only one of the
            // two pods ("1 pod waits for its scheduling gates"; once in CI, 2026-12-06): the
            // gate named is what matters, in either number.
            let why = ns.wait_event(&pg, "Unschedulable");
            assert!(why.contains("scheduling gates (example.com/g1)"), "{why}");
            assert_eq!(running(ns, "j1-q1"), 0, "a gated pod was scheduled");
            // Beyond upstream, what `kubectl describe` shows: the PodGroup's condition, the
            // Job's PodGroupPending event, and each pod's PodScheduled=False SchedulingGated
            // (kube-scheduler's reason for a gated pod).
            let condition = ns.get_json(&["podgroup", &pg])["status"]["conditions"]
                .as_array()
                .cloned()
                .unwrap_or_default()
                .into_iter()
                .find(|c| c["type"] == "Unschedulable")
                .expect("Unschedulable condition on the PodGroup");
            assert_eq!(
                (&condition["status"], &condition["reason"]),
                (&json!("True"), &json!("SchedulingGated")),
                "{condition}"
            );
            let pending = ns.wait_event("j1-q1", "PodGroupPending");
            assert!(pending.contains("scheduling gates"), "{pending}");
            ns.c.wait_for("both gated pods marked SchedulingGated", T, || {
                let pods = ns.pods("j1-q1");
                let marked = pods
                    .iter()
                    .filter(|p| {
                        p["status"]["conditions"]
                            .as_array()
                            .into_iter()
                            .flatten()
                            .any(|c| {
                                c["type"] == "PodScheduled" && c["reason"] == "SchedulingGated"
                            })
                    })
                    .count();
                (pods.len() == 2 && marked == 2).then_some(())
            });
            std::thread::sleep(QUIET / 5);
            assert_eq!(running(ns, "j1-q1"), 0, "a gated pod was scheduled");
            for p in ns.pods("j1-q1") {
                let name = p["metadata"]["name"].as_str().expect("pod name");
                ns.kubectl(&[
                    "patch",
                    "pod",
                    name,
                    "--type=json",
                    "-p",
                    r#"[{"op":"replace","path":"/spec/schedulingGates","value":[]}]"#,
                ]);
            }
            ns.wait_job_phases("j1-q1", &["Running"]);
            // Once started, the PodGroup no longer says it is unschedulable.
            ns.c.wait_for("the PodGroup's Unschedulable condition cleared", T, || {
                let conditions = ns.get_json(&["podgroup", &pg])["status"]["conditions"].clone();
                (!conditions
                    .as_array()
                    .into_iter()
                    .flatten()
                    .any(|c| c["type"] == "Unschedulable" && c["status"] == "True"))
                .then_some(())
            });
            finish(ns, &[]);
        },
    );
}
