//! Upstream `test/e2e/jobseq/command.go` ("Job E2E Test: Test Job Command"), whose cases drive
//! `vcctl job list/suspend/resume/delete`: here Basalt's CLI, `basalt job list/abort/resume/
//! delete` (`suspend` is accepted as vcctl's name for `abort`), which create the same Commands.

use std::process::Command;

use serde_json::json;

use super::{Ns, Suite, T, task, vcjob};

/// `basalt <args> -n <case namespace>`; panics with its stderr on failure.
fn basalt(ns: &Ns<'_>, args: &[&str]) -> String {
    let out = Command::new(env!("CARGO_BIN_EXE_basalt"))
        .args(args)
        .args(["-n", &ns.name, "--kubeconfig"])
        .arg(&ns.c.kubeconfig)
        .env_remove("RUST_BACKTRACE")
        .output()
        .expect("running basalt");
    assert!(
        out.status.success(),
        "basalt {args:?} failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

fn pod_exists(ns: &Ns<'_>, name: &str) -> bool {
    ns.try_kubectl(&["get", "pod", name], None).0
}

pub fn run(s: &Suite) {
    s.case("jobseq/command.go: List running jobs", |ns| {
        ns.create(&vcjob(
            "test-job",
            json!({"minAvailable": 2, "tasks": [task("t", 2, 2, "1")]}),
        ));
        ns.wait_job_phases("test-job", &["Running"]);
        // Upstream compares vcctl's output with vcctl's printer over the same list; Basalt's
        // list has its own columns: the job's row must show it Running with its two pods.
        let list = basalt(ns, &["job", "list"]);
        let row = list
            .lines()
            .find(|l| l.split_whitespace().next() == Some("test-job"))
            .unwrap_or_else(|| panic!("no row for test-job in:\n{list}"));
        assert!(row.contains("Running"), "{list}");
    });

    s.case(
        "jobseq/command.go: Suspend running job&Resume aborted job",
        |ns| {
            let job = "test-suspend-running-job";
            ns.create(&vcjob(
                job,
                json!({"minAvailable": 1, "tasks": [task("long-live-task", 1, 1, "100m")]}),
            ));
            ns.wait_job_phases(job, &["Running"]);
            basalt(ns, &["job", "suspend", job]);
            ns.wait_job_phases(job, &["Aborted"]);
            let pod = format!("{job}-long-live-task-0");
            ns.c.wait_for(&format!("pod {pod} gone"), T, || {
                (!pod_exists(ns, &pod)).then_some(())
            });
            basalt(ns, &["job", "resume", job]);
            ns.wait_job_phases(job, &["Running"]);
            ns.c.wait_for(&format!("pod {pod} Running again"), T, || {
                ns.pods(job)
                    .iter()
                    .any(|p| p["status"]["phase"] == "Running")
                    .then_some(())
            });
        },
    );

    s.case("jobseq/command.go: Suspend pending job", |ns| {
        let job = "test-suspend-pending-job";
        // Upstream asks the whole cluster's CPU for one pod, which Basalt's webhook refuses (no
        // node could ever hold it); here the cluster is taken by a running job first (90 of
        // each node's 96 CPUs), so a 50-CPU pod stays Pending.
        ns.create(&vcjob(
            "blocker",
            json!({"minAvailable": 4, "tasks": [task("b", 4, 4, "90")]}),
        ));
        ns.wait_job_phases("blocker", &["Running"]);
        ns.create(&vcjob(
            job,
            json!({"minAvailable": 1, "tasks": [task("long-live-task", 1, 1, "50")]}),
        ));
        ns.wait_job_phases(job, &["Pending"]);
        basalt(ns, &["job", "abort", job]);
        ns.wait_job_phases(job, &["Aborted"]);
        let pod = format!("{job}-long-live-task-0");
        ns.c.wait_for(&format!("pod {pod} gone"), T, || {
            (!pod_exists(ns, &pod)).then_some(())
        });
    });

    s.case(
        "jobseq/command.go: delete a job with all nodes taints",
        |ns| {
            let job = "test-del-job";
            let taint = "test-taint-key=test-taint-val:NoSchedule";
            ns.c.kubectl(&["taint", "nodes", "--all", taint]);
            let untaint = || {
                ns.c.kubectl(&["taint", "nodes", "--all", "test-taint-key:NoSchedule-"]);
            };
            let result = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
                ns.create(&vcjob(
                    job,
                    json!({"minAvailable": 2, "tasks": [task("t", 2, 2, "1")]}),
                ));
                ns.wait_job_phases(job, &["Pending"]);
                // Tainted: nothing may run yet.
                std::thread::sleep(std::time::Duration::from_secs(2));
                assert!(
                    ns.pods(job).iter().all(|p| p["spec"]["nodeName"].is_null()),
                    "a pod was bound on a tainted node"
                );
            }));
            untaint();
            if let Err(e) = result {
                std::panic::resume_unwind(e);
            }
            ns.wait_job_phases(job, &["Running"]);
            basalt(ns, &["job", "delete", job]);
            ns.c.wait_for(&format!("job {job} gone"), T, || {
                (!ns.try_kubectl(&["get", "vcjob", job], None).0).then_some(())
            });
        },
    );
}
