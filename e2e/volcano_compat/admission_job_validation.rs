//! Upstream `test/e2e/admission/job_validation_test.go` ("Job Validating Webhook E2E Test"):
//! what the job validating webhook admits and refuses, on create and on update. Upstream checks
//! Volcano's wording ("duplicated task name", "'maxRetry' cannot be less than zero", …); Basalt
//! words its refusals differently (object, field, fix), so each case checks that kubectl was
//! refused and that the message names the offending field. Upstream's `XIt` cases (skipped
//! there: invalid policy event, unknown plugin, missing or closed queue, non-DAG tasks, topology
//! policy with fractional CPUs) are listed as not applicable in docs/volcano-compat.md.

use serde_json::{Value, json};

use super::{Ns, Suite, vcjob};

const FILE: &str = "admission/job_validation_test.go";

fn template() -> Value {
    json!({
        "metadata": {"labels": {"name": "test"}},
        "spec": {"containers": [{"name": "fake-name", "image": "busybox:1.24"}]},
    })
}

/// Upstream's `createBaseJob`: one task of one pod, `PodEvicted → RestartTask`.
fn base_job(name: &str) -> Value {
    vcjob(
        name,
        json!({
            "minAvailable": 1,
            "queue": "default",
            "tasks": [{"name": "task-1", "replicas": 1, "template": template()}],
            "policies": [{"event": "PodEvicted", "action": "RestartTask"}],
        }),
    )
}

/// The job is refused and the message names `field`.
fn refused_naming(ns: &Ns<'_>, job: &Value, field: &str) {
    let err = ns.refused(job);
    assert!(err.contains(field), "refusal does not name {field}: {err}");
}

/// `kubectl patch --type=json` of `job`, retried on a 409 Conflict as upstream's
/// `RetryOnConflict` loop does (the job controller writes the job's status meanwhile);
/// (accepted, kubectl's message).
fn patch(ns: &Ns<'_>, job: &str, patch: &Value) -> (bool, String) {
    let mut err = String::new();
    for _ in 0..5 {
        let (ok, _, e) = ns.try_kubectl(
            &[
                "patch",
                "vcjob",
                job,
                "--type=json",
                "-p",
                &patch.to_string(),
            ],
            None,
        );
        if ok {
            return (true, String::new());
        }
        err = e;
        if !err.contains("Conflict") {
            break;
        }
    }
    (false, err)
}

/// A JSON-patch update of `job` must be refused naming `field`.
fn update_refused_naming(ns: &Ns<'_>, job: &str, p: &Value, field: &str) {
    let (ok, err) = patch(ns, job, p);
    assert!(!ok, "update {p} of {job} was accepted");
    assert!(
        !err.contains("Conflict"),
        "update {p} of {job} kept conflicting: {err}"
    );
    assert!(err.contains(field), "refusal does not name {field}: {err}");
}

fn case(s: &Suite, name: &str, f: impl FnOnce(&Ns<'_>)) {
    s.case(&format!("{FILE}: {name}"), f);
}

pub fn run(s: &Suite) {
    case(
        s,
        "Should allow job creation with valid configuration",
        |ns| {
            ns.create(&base_job("valid-job"));
        },
    );
    case(
        s,
        "Should reject job creation with duplicate task names",
        |ns| {
            let mut job = base_job("duplicate-task-job");
            let t = json!({"name": "duplicated-task", "replicas": 1, "template": template()});
            job["spec"]["tasks"] = json!([t.clone(), t]);
            refused_naming(ns, &job, "spec.tasks[1].name");
        },
    );
    case(
        s,
        "Should reject job creation with invalid minAvailable less than zero",
        |ns| {
            let mut job = base_job("invalid-min-available-job");
            job["spec"]["minAvailable"] = json!(-1);
            refused_naming(ns, &job, "spec.minAvailable");
        },
    );
    case(
        s,
        "Should reject job creation with invalid maxRetry less than zero",
        |ns| {
            let mut job = base_job("invalid-max-retry-job");
            job["spec"]["maxRetry"] = json!(-1);
            refused_naming(ns, &job, "spec.maxRetry");
        },
    );
    case(
        s,
        "Should reject job creation with invalid TTLSecondsAfterFinished less than zero",
        |ns| {
            let mut job = base_job("invalid-ttl-job");
            job["spec"]["ttlSecondsAfterFinished"] = json!(-1);
            refused_naming(ns, &job, "spec.ttlSecondsAfterFinished");
        },
    );
    case(
        s,
        "Should reject job creation with no tasks specified",
        |ns| {
            let mut job = base_job("no-task-job");
            job["spec"]["tasks"] = json!([]);
            refused_naming(ns, &job, "spec.tasks");
        },
    );
    case(
        s,
        "Should reject job creation with task replicas less than zero",
        |ns| {
            let mut job = base_job("invalid-replica-job");
            job["spec"]["tasks"][0]["replicas"] = json!(-1);
            refused_naming(ns, &job, "spec.tasks[0].replicas");
        },
    );
    case(
        s,
        "Should reject job creation with task minAvailable less than zero",
        |ns| {
            let mut job = base_job("invalid-task-min-available-job");
            job["spec"]["tasks"][0]["minAvailable"] = json!(-1);
            refused_naming(ns, &job, "spec.tasks[0].minAvailable");
        },
    );
    case(
        s,
        "Should reject job creation with task minAvailable greater than replicas",
        |ns| {
            let mut job = base_job("invalid-task-min-available-gt-replicas-job");
            job["spec"]["tasks"][0]["replicas"] = json!(3);
            job["spec"]["tasks"][0]["minAvailable"] = json!(5);
            refused_naming(ns, &job, "spec.tasks[0].minAvailable");
        },
    );
    case(
        s,
        "Should reject job creation with job minAvailable greater than total replicas",
        |ns| {
            let mut job = base_job("invalid-job-min-available-job");
            job["spec"]["minAvailable"] = json!(5);
            refused_naming(ns, &job, "spec.minAvailable");
        },
    );
    case(
        s,
        "Should reject job creation with invalid task name (non-DNS1123)",
        |ns| {
            let mut job = base_job("invalid-task-name-job");
            job["spec"]["tasks"][0]["name"] = json!("Task-1");
            refused_naming(ns, &job, "spec.tasks[0].name");
        },
    );
    case(
        s,
        "Should reject job creation with duplicate policy events",
        |ns| {
            let mut job = base_job("duplicate-policy-job");
            job["spec"]["policies"] = json!([
                {"event": "PodFailed", "action": "AbortJob"},
                {"event": "PodFailed", "action": "RestartJob"},
            ]);
            refused_naming(ns, &job, "spec.policies");
        },
    );
    case(
        s,
        "Should reject job creation with policy event and exit code specified simultaneously",
        |ns| {
            let mut job = base_job("invalid-policy-event-exitcode-job");
            job["spec"]["policies"] =
                json!([{"event": "PodFailed", "action": "AbortJob", "exitCode": 1}]);
            refused_naming(ns, &job, "spec.policies[0]");
        },
    );
    case(
        s,
        "Should reject job creation with policy having neither event nor exit code",
        |ns| {
            let mut job = base_job("invalid-policy-no-event-no-exitcode-job");
            job["spec"]["policies"] = json!([{"action": "AbortJob"}]);
            refused_naming(ns, &job, "spec.policies[0]");
        },
    );
    case(
        s,
        "Should reject job creation with invalid policy action",
        |ns| {
            let mut job = base_job("invalid-policy-action-job");
            job["spec"]["policies"] = json!([{"event": "PodEvicted", "action": "InvalidAction"}]);
            refused_naming(ns, &job, "InvalidAction");
        },
    );
    case(
        s,
        "Should reject job creation with policy exit code zero",
        |ns| {
            let mut job = base_job("invalid-policy-exitcode-zero-job");
            job["spec"]["policies"] = json!([{"action": "AbortJob", "exitCode": 0}]);
            refused_naming(ns, &job, "spec.policies[0].exitCode");
        },
    );
    case(
        s,
        "Should reject job creation with duplicate policy exit codes",
        |ns| {
            let mut job = base_job("duplicate-policy-exitcode-job");
            job["spec"]["policies"] = json!([
                {"action": "AbortJob", "exitCode": 1},
                {"action": "RestartJob", "exitCode": 1},
            ]);
            refused_naming(ns, &job, "spec.policies[1]");
        },
    );
    case(
        s,
        "Should reject job creation with AnyEvent policy and other event policies",
        |ns| {
            let mut job = base_job("invalid-any-event-policy-job");
            job["spec"]["policies"] = json!([
                {"event": "*", "action": "AbortJob"},
                {"event": "PodFailed", "action": "RestartJob"},
            ]);
            refused_naming(ns, &job, "spec.policies");
        },
    );
    case(
        s,
        "Should reject job creation with invalid volume mount path",
        |ns| {
            let mut job = base_job("invalid-volume-mount-job");
            job["spec"]["volumes"] = json!([{"mountPath": ""}]);
            refused_naming(ns, &job, "spec.volumes[0].mountPath");
        },
    );
    case(
        s,
        "Should reject job creation with duplicate volume mount paths",
        |ns| {
            let mut job = base_job("duplicate-volume-mount-job");
            job["spec"]["volumes"] = json!([
                {"mountPath": "/var", "volumeClaimName": "pvc1"},
                {"mountPath": "/var", "volumeClaimName": "pvc2"},
            ]);
            refused_naming(ns, &job, "spec.volumes[1].mountPath");
        },
    );
    case(
        s,
        "Should reject job creation with volume without claim name or claim spec",
        |ns| {
            let mut job = base_job("invalid-volume-no-claim-job");
            job["spec"]["volumes"] = json!([{"mountPath": "/var"}]);
            refused_naming(ns, &job, "spec.volumes[0]");
        },
    );
    case(
        s,
        "Should allow job creation with valid task dependencies (DAG)",
        |ns| {
            let job = vcjob(
                "valid-dag-job",
                json!({
                    "minAvailable": 1,
                    "queue": "default",
                    "tasks": [
                        {"name": "t1", "replicas": 1, "dependsOn": {"name": ["t2"]}, "template": template()},
                        {"name": "t2", "replicas": 1, "template": template()},
                    ],
                }),
            );
            ns.create(&job);
            // Beyond upstream: t1 waits for t2, so t2's pod is created first.
            let spec = ns.get_json(&["vcjob", "valid-dag-job"])["spec"].clone();
            assert_eq!(spec["tasks"][0]["dependsOn"]["name"], json!(["t2"]));
        },
    );
    case(
        s,
        "Should allow job update with valid changes to minAvailable and replicas",
        |ns| {
            ns.create(&base_job("update-job"));
            let p = json!([
                {"op": "replace", "path": "/spec/minAvailable", "value": 3},
                {"op": "replace", "path": "/spec/tasks/0/replicas", "value": 5},
            ]);
            let (ok, err) = patch(ns, "update-job", &p);
            assert!(ok, "valid update refused: {err}");
            let spec = ns.get_json(&["vcjob", "update-job"])["spec"].clone();
            assert_eq!(
                (&spec["minAvailable"], &spec["tasks"][0]["replicas"]),
                (&json!(3), &json!(5))
            );
        },
    );
    case(
        s,
        "Should reject job update with invalid minAvailable greater than total replicas",
        |ns| {
            ns.create(&base_job("invalid-update-job"));
            let patch = json!([
                {"op": "replace", "path": "/spec/minAvailable", "value": 10},
                {"op": "replace", "path": "/spec/tasks/0/replicas", "value": 5},
            ]);
            update_refused_naming(ns, "invalid-update-job", &patch, "spec.minAvailable");
        },
    );
    case(
        s,
        "Should reject job update attempting to add new tasks",
        |ns| {
            ns.create(&base_job("add-task-update-job"));
            let patch = json!([{
                "op": "add", "path": "/spec/tasks/-",
                "value": {"name": "new-task", "replicas": 2, "template": template()},
            }]);
            update_refused_naming(ns, "add-task-update-job", &patch, "spec.tasks");
        },
    );
    case(
        s,
        "Should reject job update attempting to change queue name",
        |ns| {
            ns.create(&base_job("change-queue-update-job"));
            let patch = json!([{"op": "replace", "path": "/spec/queue", "value": "another-queue"}]);
            update_refused_naming(ns, "change-queue-update-job", &patch, "spec.queue");
        },
    );
}
