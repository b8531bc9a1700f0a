//! Upstream `test/e2e/schedulingbase/sla.go` ("SLA Test"), on the slot cluster of
//! `schedulingaction.rs` (four 1-CPU slots: upstream's `ClusterSize(ctx, OneCPU)`).
//!
//! Upstream's CI configuration had the `sla` plugin (no argument: only jobs that carry the
//! `sla-waiting-time` annotation have a waiting time); `volcano-ci-scheduler.conf` leaves it out,
//! so this file runs a `basalt up` of its own with `- name: sla` added to the first tier, written
//! at run time. Basalt's `sla` is its reservation mechanism (docs/reservation.md): a gang past
//! its waiting time is admitted without headroom, and jobs are ordered by their SLA deadline.

use super::schedulingaction::{SLOT, finish, job, running, use_nodes, wait_tasks_ready};
use super::{CI_CONF, Ns, SLOTS_CLUSTER, Suite, T};
use crate::harness::TempDir;

const FILE: &str = "schedulingbase/sla.go";
/// The Job annotation upstream sets (Volcano reads it, unprefixed, from the PodGroup, which
/// copies the Job's annotations).
const WAITING: &str = "sla-waiting-time";
const SLOTS: i32 = 4;

fn case(s: &Suite, name: &str, f: impl FnOnce(&Ns<'_>)) {
    s.case(&format!("{FILE}: {name}"), f);
}

/// The CI configuration with `sla` after `conformance` in the first tier.
fn with_sla(conf: &str) -> String {
    let mut found = false;
    let mut out = String::new();
    for line in conf.lines() {
        out.push_str(line);
        out.push('\n');
        if line.trim() == "- name: conformance" {
            found = true;
            let indent = &line[..line.len() - line.trim_start().len()];
            out.push_str(indent);
            out.push_str("- name: sla\n");
        }
    }
    assert!(
        found,
        "the CI configuration has no conformance plugin:\n{conf}"
    );
    out
}

/// A job of `rep` 1-CPU pods (all its minimum) with the waiting-time annotation.
fn sla_job(name: &str, rep: i32, waiting: &str) -> serde_json::Value {
    let mut j = job(name, "default", None, SLOT, rep, rep);
    j["metadata"]["annotations"] = serde_json::json!({ WAITING: waiting });
    j
}

fn phase_of_group(ns: &Ns<'_>, job: &str) -> String {
    ns.podgroup_of(job)["status"]["phase"]
        .as_str()
        .unwrap_or_default()
        .to_owned()
}

/// Waits until the job has `n` pods, all Pending (upstream's `WaitTaskPhase(…, Pending, n)`).
fn wait_pending_pods(ns: &Ns<'_>, job: &str, n: usize) {
    ns.c.wait_for(&format!("{n} Pending pods of {}/{job}", ns.name), T, || {
        let pods = ns.pods(job);
        (pods.len() == n && pods.iter().all(|p| p["status"]["phase"] == "Pending")).then_some(())
    });
}

pub fn run() {
    let dir = TempDir::new("sla");
    let conf_path = dir.path().join("volcano-scheduler-sla.conf");
    let ci = std::fs::read_to_string(CI_CONF).expect("reading the CI scheduler configuration");
    std::fs::write(&conf_path, with_sla(&ci)).expect("writing the configuration");
    let conf = conf_path.to_str().expect("a UTF-8 temp path");
    let s = Suite::start_with_config(conf, &["--cluster", SLOTS_CLUSTER]);
    super::schedulingaction::prepare(&s);

    case(&s, "sla permits job to be inqueue", |ns| {
        // Twice the cluster, waiting time 3 s: admitted although it can never fit, so the job
        // controller creates all its pods, which stay Pending (nothing can run a part of it).
        use_nodes(ns, SLOTS as usize);
        ns.create(&sla_job("j1-overlarge", 2 * SLOTS, "3s"));
        wait_pending_pods(ns, "j1-overlarge", 2 * SLOTS as usize);
        assert_eq!(phase_of_group(ns, "j1-overlarge"), "Inqueue");
        finish(ns, &[]);
    });

    case(&s, "sla adjusts job order", |ns| {
        // Upstream blocks the cluster with the over-large j1 of the case above, which Basalt
        // refuses at admission; what j1 is for is keeping j2 and j3 waiting until both exist,
        // so here j1 is a job that runs on the whole cluster.
        use_nodes(ns, SLOTS as usize);
        ns.create(&sla_job("j1-blocker", SLOTS, "3s"));
        wait_tasks_ready(ns, "j1-blocker", SLOTS as usize);
        // Each needs the whole cluster. j2 is older but its deadline (creation + 1 h) is later
        // than j3's (creation + 30 min).
        ns.create(&sla_job("j2-slow-sla", SLOTS, "1h"));
        ns.create(&sla_job("j3-fast-sla", SLOTS, "30m"));
        // Both refused by a session (enqueue says why in an Unschedulable condition) before
        // j1 goes, so their order decides and not which one reached a session first.
        for j in ["j2-slow-sla", "j3-fast-sla"] {
            ns.c.wait_for(&format!("{j} refused while j1 runs"), T, || {
                let pg = ns.podgroup_of(j);
                let refused = pg["status"]["conditions"]
                    .as_array()
                    .is_some_and(|c| c.iter().any(|c| c["type"] == "Unschedulable"));
                assert_ne!(pg["status"]["phase"], "Inqueue", "{j} admitted beside j1");
                refused.then_some(())
            });
        }
        ns.kubectl(&["delete", "vcjob", "j1-blocker"]);
        wait_tasks_ready(ns, "j3-fast-sla", SLOTS as usize);
        // Upstream's check of j2 (zero Pending pods) cannot fail; what it means is that the
        // slow-SLA job did not get the cluster.
        assert_eq!(running(ns, "j2-slow-sla"), 0);
        assert_eq!(phase_of_group(ns, "j2-slow-sla"), "Pending");
        finish(ns, &[]);
    });

    s.finish();
    drop(dir);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sla_goes_after_conformance() {
        let conf = "tiers:\n- plugins:\n  - name: gang\n  - name: conformance\n- plugins:\n  - name: drf\n";
        assert_eq!(
            with_sla(conf),
            "tiers:\n- plugins:\n  - name: gang\n  - name: conformance\n  - name: sla\n- plugins:\n  - name: drf\n"
        );
    }
}
