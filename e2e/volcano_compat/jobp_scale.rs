//! Upstream `test/e2e/jobp/job_scale_up_down.go` ("Dynamic Job scale up and down"): replicas and
//! minAvailable change on a running job; pods follow and the svc plugin's ConfigMap lists the
//! new hosts.

use serde_json::json;

use super::{Ns, Suite, T, task, vcjob};

const FILE: &str = "jobp/job_scale_up_down.go";

fn create(ns: &Ns<'_>, name: &str) {
    let spec = json!({"plugins": {"svc": []}, "tasks": [task("default", 2, 2, "500m")]});
    ns.create(&vcjob(name, spec));
    wait_ready(ns, name, 2);
}

/// Upstream's `WaitJobReady`: at least `min` pods of the job are Running.
fn wait_ready(ns: &Ns<'_>, job: &str, min: usize) {
    ns.c.wait_for(&format!("{job}: {min} pods running"), T, || {
        let running = ns
            .pods(job)
            .iter()
            .filter(|p| p["status"]["phase"] == "Running")
            .count();
        (running >= min).then_some(())
    });
}

fn scale(ns: &Ns<'_>, job: &str, replicas: i32, task_min: Option<i32>) {
    let mut ops = vec![
        json!({"op": "replace", "path": "/spec/minAvailable", "value": replicas}),
        json!({"op": "replace", "path": "/spec/tasks/0/replicas", "value": replicas}),
    ];
    if let Some(m) = task_min {
        ops.push(json!({"op": "replace", "path": "/spec/tasks/0/minAvailable", "value": m}));
    }
    let patch = serde_json::Value::Array(ops).to_string();
    ns.kubectl(&["patch", "vcjob", job, "--type", "json", "-p", &patch]);
}

/// The svc ConfigMap holds Volcano's host lists for `replicas` pods, and exactly that many pods
/// exist once scaling settles.
fn wait_scaled(ns: &Ns<'_>, job: &str, replicas: i32) {
    let hosts: Vec<String> = (0..replicas)
        .map(|i| format!("{job}-default-{i}.{job}"))
        .collect();
    let want = json!({
        "default.host": hosts.join("\n"),
        "VC_DEFAULT_HOSTS": hosts.join(","),
        "VC_DEFAULT_NUM": replicas.to_string(),
    });
    ns.c.wait_for(&format!("{job} scaled to {replicas}"), T, || {
        let cm = ns.get_json(&["configmap", &format!("{job}-svc")]);
        let live = ns
            .pods(job)
            .iter()
            .filter(|p| p["metadata"]["deletionTimestamp"].is_null())
            .count();
        (cm["data"] == want && live == replicas as usize).then_some(())
    });
    wait_ready(ns, job, replicas as usize);
}

pub fn run(s: &Suite) {
    s.case(&format!("{FILE}: Scale up"), |ns| {
        create(ns, "scale-up-job");
        scale(ns, "scale-up-job", 4, None);
        wait_scaled(ns, "scale-up-job", 4);
        ns.delete_job_and_wait_cleaned_up("scale-up-job");
    });

    s.case(&format!("{FILE}: Scale down"), |ns| {
        create(ns, "scale-down-job");
        scale(ns, "scale-down-job", 1, Some(1));
        wait_scaled(ns, "scale-down-job", 1);
        ns.delete_job_and_wait_cleaned_up("scale-down-job");
    });

    s.case(&format!("{FILE}: Scale down to zero and scale up"), |ns| {
        create(ns, "scale-down-job");
        scale(ns, "scale-down-job", 0, Some(0));
        wait_scaled(ns, "scale-down-job", 0);
        scale(ns, "scale-down-job", 2, None);
        wait_scaled(ns, "scale-down-job", 2);
        ns.delete_job_and_wait_cleaned_up("scale-down-job");
    });
}
