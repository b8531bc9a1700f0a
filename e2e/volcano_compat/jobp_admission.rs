//! Upstream `test/e2e/jobp/admission.go` ("Job E2E Test: Test Admission service"): defaults the
//! job webhook fills in, manifests it must refuse, pods of the default and the Volcano scheduler,
//! pods of a bare PodGroup, and deleting an open queue.

use serde_json::{Value, json};

use super::{Ns, Suite, T, task, vcjob};

const FILE: &str = "jobp/admission.go";

/// Upstream's base job: minAvailable 1, one task of 2 replicas asking 1 CPU, plus `extra`
/// merged into the spec.
fn job_with(extra: Value) -> Value {
    let mut spec = json!({"minAvailable": 1, "tasks": [task("", 2, 1, "1")]});
    spec["tasks"][0]
        .as_object_mut()
        .expect("task object")
        .remove("name");
    spec["tasks"][0]
        .as_object_mut()
        .expect("task object")
        .remove("minAvailable");
    if let (Some(spec), Some(extra)) = (spec.as_object_mut(), extra.as_object()) {
        for (k, v) in extra {
            spec.insert(k.clone(), v.clone());
        }
    }
    vcjob("test-job", spec)
}

fn pod(name: &str, scheduler: Option<&str>, group: Option<&str>, cpu: &str) -> Value {
    let mut p = json!({
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {"name": name, "annotations": {}},
        "spec": {"containers": [{
            "name": "main", "image": "nginx",
            "resources": {"requests": {"cpu": cpu}, "limits": {"cpu": cpu}},
        }]},
    });
    if let Some(s) = scheduler {
        p["spec"]["schedulerName"] = json!(s);
    }
    if let Some(g) = group {
        p["metadata"]["annotations"]["scheduling.k8s.io/group-name"] = json!(g);
    }
    p
}

fn wait_pod_running(ns: &Ns<'_>, name: &str) {
    ns.c.wait_for(&format!("pod {}/{name} Running", ns.name), T, || {
        (ns.get_json(&["pod", name])["status"]["phase"] == "Running").then_some(())
    });
}

/// Refusal cases: (upstream It name, manifest).
fn refusals() -> Vec<(&'static str, Value)> {
    let with_task = |edit: &dyn Fn(&mut Value)| {
        let mut j = job_with(json!({}));
        edit(&mut j["spec"]["tasks"][0]);
        j
    };
    let policy = |p: Value| job_with(json!({"policies": p}));
    vec![
        (
            "Invalid CPU unit",
            with_task(&|t| {
                t["template"]["spec"]["containers"][0]["resources"]["requests"] =
                    json!({"cpu": "-1"})
            }),
        ),
        (
            "Invalid memory unit",
            with_task(&|t| {
                t["template"]["spec"]["containers"][0]["resources"]["requests"] =
                    json!({"memory": "-1"})
            }),
        ),
        (
            "job validate check: duplicate task name check when create",
            {
                let mut j = job_with(json!({}));
                let mut t = j["spec"]["tasks"][0].clone();
                t["name"] = json!("test");
                j["spec"]["tasks"] = json!([t.clone(), t]);
                j
            },
        ),
        (
            "job validate check: duplicate job policy event when create",
            policy(json!([
                {"event": "PodFailed", "action": "AbortJob"},
                {"event": "PodFailed", "action": "RestartJob"},
            ])),
        ),
        (
            "job validate check: minAvailable larger than replicas when create",
            job_with(json!({"minAvailable": 3})),
        ),
        (
            "job validate check: illegal plugin when create",
            job_with(json!({"plugins": {"big_plugin": []}})),
        ),
        (
            "job validate check: illegal ttl when create",
            job_with(json!({"ttlSecondsAfterFinished": -1})),
        ),
        (
            "job validate check: illegal minAvailable when create",
            job_with(json!({"minAvailable": -1})),
        ),
        (
            "job validate check: illegal maxRetry when create",
            job_with(json!({"maxRetry": -1})),
        ),
        (
            "job validate check: no task spec when create",
            job_with(json!({"tasks": []})),
        ),
        (
            "job validate check: illegal replicas when create",
            with_task(&|t| t["replicas"] = json!(-1)),
        ),
        (
            "job validate check: illegal task name when create",
            with_task(&|t| t["name"] = json!("Task-1")),
        ),
        (
            "job validate check: policy event with exit code when create",
            policy(json!([{"event": "PodFailed", "action": "AbortJob", "exitCode": -1}])),
        ),
        (
            "job validate check: policy event and exit code both nil when create",
            policy(json!([{"action": "AbortJob"}])),
        ),
        (
            "job validate check: invalid policy event when create",
            policy(json!([{"event": "fakeEvent", "action": "AbortJob"}])),
        ),
        (
            "job validate check: invalid action when create",
            policy(json!([{"event": "PodEvicted", "action": "fakeAction"}])),
        ),
        (
            "job validate check: zero exitCode when create",
            policy(json!([{"action": "AbortJob", "exitCode": 0}])),
        ),
        (
            "job validate check: both any event and other events exist when create",
            policy(json!([
                {"event": "*", "action": "AbortJob"},
                {"event": "PodFailed", "action": "RestartJob"},
            ])),
        ),
        (
            "job validate check: invalid volume mount when create",
            job_with(json!({"volumes": [{"mountPath": ""}]})),
        ),
        (
            "job validate check: duplicate mount volume when create",
            job_with(json!({"volumes": [
                {"mountPath": "/var", "volumeClaimName": "pvc1"},
                {"mountPath": "/var", "volumeClaimName": "pvc2"},
            ]})),
        ),
        (
            // Upstream has two identical cases of this name; both are this one.
            "job validate check: vloume without volumeClaimName and volumeClaim when create",
            job_with(json!({"volumes": [{"mountPath": "/var"}]})),
        ),
        (
            "job validate check: invalid queue when create",
            job_with(json!({"queue": "fakeQueue"})),
        ),
    ]
}

pub fn run(s: &Suite) {
    s.case(&format!("{FILE}: Default queue would be added"), |ns| {
        let mut t = task("taskname", 1, 1, "1");
        t["template"]["metadata"]["annotations"] = json!({});
        ns.create(&vcjob(
            "job-default-queue",
            json!({"minAvailable": 1, "tasks": [t]}),
        ));
        let job = ns.get_json(&["vcjob", "job-default-queue"]);
        assert_eq!(job["spec"]["queue"], "default");
    });

    for (name, manifest) in refusals() {
        s.case(&format!("{FILE}: {name}"), |ns| {
            ns.refused(&manifest);
            let (exists, _, _) = ns.try_kubectl(&["get", "vcjob", "test-job"], None);
            assert!(!exists, "the refused job exists");
        });
    }

    s.case(&format!("{FILE}: Create default-scheduler pod"), |ns| {
        ns.create(&pod("pod-default-scheduler", None, None, "1"));
        wait_pod_running(ns, "pod-default-scheduler");
    });

    s.case(&format!("{FILE}: Create volcano-scheduler pod"), |ns| {
        ns.create(&pod("pod-volcano-scheduler", Some("volcano"), None, "1"));
        wait_pod_running(ns, "pod-volcano-scheduler");
    });

    s.case(
        &format!("{FILE}: Create volcano pod with volcano scheduler"),
        |ns| {
            ns.create(&json!({
                "apiVersion": "scheduling.volcano.sh/v1beta1",
                "kind": "PodGroup",
                "metadata": {"name": "running-pg"},
                "spec": {"minMember": 1, "minResources": {"cpu": "1"}},
            }));
            // Upstream waits for Pending; a PodGroup without pods may already be admitted.
            ns.c.wait_for("running-pg Pending or Inqueue", T, || {
                let phase = ns.get_json(&["podgroup", "running-pg"])["status"]["phase"].clone();
                (phase == "Pending" || phase == "Inqueue").then_some(())
            });
            ns.create(&pod(
                "volcano-pod",
                Some("volcano"),
                Some("running-pg"),
                "500m",
            ));
            wait_pod_running(ns, "volcano-pod");
        },
    );

    s.case(
        &format!("{FILE}: Allow to create pod when podgroup is Pending"),
        |ns| {
            ns.create(&json!({
                "apiVersion": "scheduling.volcano.sh/v1beta1",
                "kind": "PodGroup",
                "metadata": {"name": "pending-pg"},
                "spec": {"minMember": 1, "minResources": {"cpu": "30"}},
                "status": {"phase": "Pending"},
            }));
            ns.create(&pod(
                "pod-volcano",
                Some("volcano"),
                Some("pending-pg"),
                "1",
            ));
        },
    );

    s.case(&format!("{FILE}: Job mutate check"), |ns| {
        let mut j = job_with(json!({}));
        let t = j["spec"]["tasks"][0].clone();
        j["spec"]["tasks"] = json!([t.clone(), t]);
        j["spec"]["tasks"][1]["replicas"] = json!(1);
        j["spec"]["tasks"][0]["replicas"] = json!(1);
        ns.create(&j);
        let spec = ns.get_json(&["vcjob", "test-job"])["spec"].clone();
        assert_eq!(spec["queue"], "default");
        assert_eq!(spec["schedulerName"], "volcano");
        assert_eq!(spec["tasks"][0]["name"], "default0");
        assert_eq!(spec["tasks"][1]["name"], "default1");
    });

    // Named "priviledged" before v1.14 (the same case).
    s.case(
        &format!("{FILE}: job validate check: create job with privileged container"),
        |ns| {
            let mut j = job_with(json!({}));
            j["spec"]["tasks"][0]["template"]["spec"]["containers"][0]["securityContext"] =
                json!({"privileged": true});
            ns.create(&j);
        },
    );

    s.case(
        &format!("{FILE}: job validate check: create job with root queue"),
        |ns| {
            let err = ns.refused(&job_with(json!({"queue": "root"})));
            assert!(
                err.contains("root"),
                "the refusal does not name the queue: {err}"
            );
        },
    );

    s.case(
        &format!("{FILE}: job validate check: create job with non-leaf queue"),
        |ns| {
            // Queues are cluster-scoped: named after the case's namespace.
            let (q1, q11) = (format!("{}-q1", ns.name), format!("{}-q11", ns.name));
            for (q, parent) in [(&q1, "root"), (&q11, q1.as_str())] {
                ns.c.create(&format!(
                    "apiVersion: scheduling.volcano.sh/v1beta1\nkind: Queue\nmetadata:\n  name: {q}\nspec:\n  weight: 1\n  parent: {parent}\n"
                ));
            }
            // The webhook judges from a watch of the queues: a job in q11 (which the webhook
            // waits for when it has not seen it yet) admitted in a dry run shows the webhook
            // knows q1 has a child before the job in q1 is submitted.
            let (ok, _, err) = ns.try_kubectl(
                &["create", "--dry-run=server", "-f", "-"],
                Some(&job_with(json!({"queue": q11})).to_string()),
            );
            assert!(ok, "a job in the leaf queue {q11} was refused: {err}");
            let err = ns.refused(&job_with(json!({"queue": q1})));
            assert!(
                err.contains(&q1) && err.contains("child"),
                "the refusal does not say {q1} has child queues: {err}"
            );
            for q in [&q11, &q1] {
                ns.c.kubectl(&["delete", "queue", q]);
            }
        },
    );

    s.case(&format!("{FILE}: queue check: open queue can be deleted"), |ns| {
        ns.c.create(
            "apiVersion: scheduling.volcano.sh/v1beta1\nkind: Queue\nmetadata:\n  name: deleted-open-queue\nspec:\n  weight: 1\n",
        );
        ns.c.wait_for("deleted-open-queue Open", T, || {
            (ns.c.get_json(&["queue", "deleted-open-queue"])["status"]["state"] == "Open")
                .then_some(())
        });
        ns.c.kubectl(&["delete", "queue", "deleted-open-queue"]);
    });
}
