//! Deterministic faults through `basalt up --fault-rule`: each test fails exactly one write of
//! one component and checks what a user sees afterwards with kubectl. These are the failures
//! that `BASALT_E2E_FAULT_RATE` runs found by chance (docs/security.md), pinned down so that
//! they are checked on every run.

use std::time::Duration;

use serde_json::Value;

use crate::harness::Cluster;

const T: Duration = Duration::from_secs(60);

/// `basalt up` with `rules` and the test's kubectl spared, so only the product meets faults.
fn start(rules: &[&str]) -> Cluster {
    let mut args = vec!["--fault-exempt-agent", "kubectl/"];
    for r in rules {
        args.extend(["--fault-rule", r]);
    }
    Cluster::start(&args)
}

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

/// The simulated kubelet finishes a terminating pod with a second delete; when that delete
/// meets a conflict (a 409 that is not "this pod is gone"), the pod must still go. Before the
/// fix the kubelet took any 409 for "already gone" and stopped, so the pod stayed terminating
/// for good and a Job with `PodEvicted → TerminateJob` stayed `Terminating` for good (the
/// fault-mode suite's `policy-job`).
#[test]
fn a_conflict_on_the_nodes_pod_removal_does_not_leave_the_job_terminating() {
    let c =
        start(&["verb=delete,resource=pods,name=conflict-,agent=basalt-nodes/,status=409,count=1"]);
    c.apply(
        r#"apiVersion: batch.volcano.sh/v1alpha1
kind: Job
metadata: {name: conflict}
spec:
  minAvailable: 2
  schedulerName: volcano
  policies: [{event: PodEvicted, action: TerminateJob}]
  tasks:
  - name: run
    replicas: 2
    template:
      spec:
        restartPolicy: Never
        containers: [{name: c, image: busybox, resources: {requests: {cpu: 100m}}}]
"#,
    );
    c.wait_for("job Running with both pods running", T, || {
        let running = job_pods(&c, "conflict")
            .iter()
            .filter(|p| p["status"]["phase"] == "Running")
            .count();
        (job_phase(&c, "conflict") == "Running" && running == 2).then_some(())
    });
    c.kubectl(&["delete", "pod", "conflict-run-0", "--wait=false"]);
    c.wait_for("job Terminated and its pods gone", T, || {
        (job_phase(&c, "conflict") == "Terminated" && job_pods(&c, "conflict").is_empty())
            .then_some(())
    });
    assert!(
        c.log().contains("injecting a fault by rule"),
        "the rule fired (else this test checks nothing):\n{}",
        c.log()
    );
}

/// Upstream's "Task Priority" case (jobseq/job_error_handling.go, stricter here: see
/// e2e/volcano_compat/jobseq_errors.rs): one job of four high- and four low-priority pods, one
/// fitting per node, `minAvailable: 4`. Whatever single write fails on the way, the four
/// high-priority pods must end up running and no low-priority pod.
fn task_priority_survives(rule: &str) {
    let conf = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../e2e/volcano_compat/volcano-ci-scheduler.conf"
    );
    let c = {
        let mut args = vec!["--fault-exempt-agent", "kubectl/", "--fault-rule", rule];
        args.extend(["--scheduler-config", conf]);
        Cluster::start(&args)
    };
    c.apply(
        "apiVersion: scheduling.k8s.io/v1\nkind: PriorityClass\nmetadata:\n  name: high\nvalue: 100\n---\napiVersion: scheduling.k8s.io/v1\nkind: PriorityClass\nmetadata:\n  name: low\nvalue: 1\n",
    );
    let cpu: i64 = c.get_json(&["node", "gpu-node-0"])["status"]["allocatable"]["cpu"]
        .as_str()
        .and_then(|s| s.parse().ok())
        .expect("whole CPUs");
    let task = |name: &str, class: &str| {
        format!(
            r#"  - name: {name}
    replicas: 4
    minAvailable: 0
    template:
      spec:
        priorityClassName: {class}
        restartPolicy: Never
        containers: [{{name: c, image: busybox, resources: {{requests: {{cpu: "{}"}}}}}}]
"#,
            cpu - 6
        )
    };
    c.apply(&format!(
        "apiVersion: batch.volcano.sh/v1alpha1\nkind: Job\nmetadata: {{name: task-priority-job}}\nspec:\n  minAvailable: 4\n  schedulerName: volcano\n  tasks:\n{}{}",
        task("high", "high"),
        task("low", "low"),
    ));
    c.wait_for(
        "4 high-priority pods running and no low-priority pod",
        T,
        || {
            let pods = job_pods(&c, "task-priority-job");
            let running = |class: &str| {
                pods.iter()
                    .filter(|p| {
                        p["spec"]["priorityClassName"] == class && p["status"]["phase"] == "Running"
                    })
                    .count()
            };
            (running("high") == 4 && running("low") == 0).then_some(())
        },
    );
    assert!(
        c.log().contains("injecting a fault by rule"),
        "the rule fired (else this test checks nothing):\n{}",
        c.log()
    );
}

/// The first bind of a high-priority pod fails (the fault-mode suite's failure).
#[test]
fn task_priority_holds_when_a_high_priority_bind_fails() {
    task_priority_survives(
        "verb=create,resource=pods/binding,name=task-priority-job-high-,status=500,count=1",
    );
}

/// The job controller's create of one high-priority pod fails: the scheduler first sees a job
/// with three high-priority pods and four low-priority ones.
#[test]
fn task_priority_holds_when_a_high_priority_pod_is_created_late() {
    task_priority_survives(
        "verb=create,resource=pods,name=task-priority-job-high-3,agent=basalt-controller/,status=500,count=1",
    );
}

/// The scheduler writes a pending pod's `PodScheduled=False` with its explanation and then
/// remembers the explanation so that an unchanged one is not written every second. Before the
/// fix it remembered it even when the write failed, so one failed write hid the explanation for
/// good (the fault-mode suite's `loadaware` case: `pod/second` never showed why it waited).
#[test]
fn a_failed_write_of_the_unschedulable_condition_is_retried() {
    let c = start(&[
        "verb=patch,resource=pods/status,name=too-big,agent=basalt-controller/,status=500,count=1",
    ]);
    c.apply(
        r#"apiVersion: v1
kind: Pod
metadata: {name: too-big, namespace: default}
spec:
  schedulerName: volcano
  restartPolicy: Never
  nodeSelector: {example.com/pool: none-such}
  containers: [{name: c, image: busybox, resources: {requests: {cpu: 100m}}}]
"#,
    );
    let message = c.wait_for("pod/too-big PodScheduled=False", T, || {
        let p = c.get_json(&["pod/too-big"]);
        let cond = p
            .pointer("/status/conditions")?
            .as_array()?
            .iter()
            .find(|c| c["type"] == "PodScheduled" && c["status"] == "False")?;
        Some(cond["message"].as_str().unwrap_or_default().to_owned())
    });
    assert!(
        message.contains("selector") || message.contains("affinity"),
        "the condition does not say why: {message}"
    );
    assert!(
        c.log().contains("injecting a fault by rule"),
        "the rule fired (else this test checks nothing):\n{}",
        c.log()
    );
}
