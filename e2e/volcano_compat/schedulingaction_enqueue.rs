//! Upstream `test/e2e/schedulingaction/enqueue.go` ("Enqueue E2E Test"), on the slot cluster of
//! `schedulingaction.rs`.
//!
//! The first case removes `enqueue` from the CI scheduler configuration (upstream's
//! `ConfigMapCase`); here that is a `basalt up` of its own, started with the CI configuration
//! minus `enqueue`, written at run time from `volcano-ci-scheduler.conf`.

use super::schedulingaction::{SLOT, finish, job, running, use_nodes, wait_tasks_ready};
use super::{CI_CONF, Ns, SLOTS_CLUSTER, Suite, T};
use crate::harness::TempDir;

const FILE: &str = "schedulingaction/enqueue.go";

fn case(s: &Suite, name: &str, f: impl FnOnce(&Ns<'_>)) {
    s.case(&format!("{FILE}: {name}"), f);
}

/// The CI configuration with `enqueue` taken out of its `actions` line.
pub(super) fn without_enqueue(conf: &str) -> String {
    let mut found = false;
    let out: Vec<String> = conf
        .lines()
        .map(|line| match line.strip_prefix("actions:") {
            Some(actions) => {
                let kept: Vec<&str> = actions
                    .trim()
                    .trim_matches('"')
                    .split(',')
                    .map(str::trim)
                    .filter(|a| {
                        let enqueue = *a == "enqueue";
                        found |= enqueue;
                        !enqueue
                    })
                    .collect();
                format!("actions: \"{}\"", kept.join(", "))
            }
            None => line.to_owned(),
        })
        .collect();
    assert!(found, "the CI configuration has no enqueue action:\n{conf}");
    out.join("\n") + "\n"
}

/// "allocate work even not config enqueue action", on its own cluster.
pub fn run_without_enqueue() {
    let dir = TempDir::new("no-enqueue");
    let conf_path = dir.path().join("volcano-scheduler-no-enqueue.conf");
    let ci = std::fs::read_to_string(CI_CONF).expect("reading the CI scheduler configuration");
    std::fs::write(&conf_path, without_enqueue(&ci)).expect("writing the configuration");
    let conf = conf_path.to_str().expect("a UTF-8 temp path");
    let s = Suite::start_with_config(conf, &["--cluster", SLOTS_CLUSTER]);
    case(&s, "allocate work even not config enqueue action", |ns| {
        // Upstream: two nodes of 2 CPUs, a 0.5-CPU job then a 1-CPU job, both run. Two slots
        // of 1 CPU here.
        use_nodes(ns, 2);
        ns.create(&job("low", "default", None, ("500m", "512Mi"), 1, 1));
        ns.wait_job_phases("low", &["Running"]);
        ns.create(&job("high", "default", None, SLOT, 1, 1));
        ns.wait_job_phases("high", &["Running"]);
        finish(ns, &[]);
    });
    s.finish();
    drop(dir);
}

pub fn run(s: &Suite) {
    case(
        s,
        "Scheduling gated task will not consume inqueue resources",
        |ns| {
            // Upstream: j-gated asks the whole cluster (rep 1-CPU pods, all gated), job1 and
            // job2 each half of it; the gated pods hold nothing, so both jobs run.
            // Upstream creates the three back to back and relies on j-gated being admitted
            // first; here job1 and job2 are created once j-gated's gated pods exist. Otherwise a
            // failed write on j-gated's way (a CI run with injected faults, 2026-12-07: job1 and
            // job2 Running a second after creation, j-gated never admitted) lets job1 and job2
            // be admitted first, they fill the cluster, and j-gated is rightly not admitted —
            // Volcano would do the same in that order.
            use_nodes(ns, 4);
            let mut gated = job("j-gated", "default", None, SLOT, 4, 4);
            gated["spec"]["tasks"][0]["template"]["spec"]["schedulingGates"] =
                serde_json::json!([{"name": "g1"}]);
            ns.create(&gated);
            ns.c.wait_for("j-gated's 4 pods created, all Pending", T, || {
                let pods = ns.pods("j-gated");
                (pods.len() == 4 && pods.iter().all(|p| p["status"]["phase"] == "Pending"))
                    .then_some(())
            });
            ns.create(&job("job1", "default", None, SLOT, 2, 2));
            ns.create(&job("job2", "default", None, SLOT, 2, 2));
            // Upstream's WaitJobReady for both; on a timeout the PodGroups' phases and
            // conditions say which admission held them back.
            let end = std::time::Instant::now() + T;
            while ["job1", "job2"]
                .iter()
                .any(|j| ns.job_phase(j) != "Running")
            {
                if std::time::Instant::now() > end {
                    let pgs: Vec<_> = ns
                        .podgroups()
                        .iter()
                        .map(|pg| (pg["metadata"]["name"].clone(), pg["status"].clone()))
                        .collect();
                    panic!("job1 and job2 not both Running after {T:?}; PodGroups: {pgs:?}");
                }
                std::thread::sleep(std::time::Duration::from_millis(500));
            }
            wait_tasks_ready(ns, "job1", 2);
            wait_tasks_ready(ns, "job2", 2);
            assert_eq!(running(ns, "j-gated"), 0, "a gated pod runs");
            finish(ns, &[]);
        },
    );
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn enqueue_is_taken_out_of_the_actions() {
        let conf = "# c\nactions: \"enqueue, allocate, backfill\"\ntiers: []\n";
        assert_eq!(
            without_enqueue(conf),
            "# c\nactions: \"allocate, backfill\"\ntiers: []\n"
        );
    }
}
