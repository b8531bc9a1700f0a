//! Upstream `test/e2e/schedulingaction/predicates.go` ("Predicates E2E Test"), on the slot
//! cluster of `schedulingaction.rs` (four workers of one 1-CPU slot, the control plane tainted
//! NoSchedule, as upstream's kind cluster).
//!
//! Upstream's pods ask 1 CPU (or half) on nodes with several free CPUs, so only the predicate
//! under test keeps them apart or together. On 1-CPU slots a 1-CPU pod fills its node, which
//! would make the host-port and anti-affinity cases pass whatever the predicate does; those cases
//! ask 100 or 250 mCPU here, so that resources alone would let the pods share a node.

use serde_json::{Value, json};

use super::schedulingaction::{SLOT, finish, job, running, stays, use_nodes, wait_tasks_ready};
use super::{Ns, Suite, T};

const FILE: &str = "schedulingaction/predicates.go";
const TAINT: &str = "test-taint-key=test-taint-val:NoSchedule";

fn case(s: &Suite, name: &str, f: impl FnOnce(&Ns<'_>)) {
    s.case(&format!("{FILE}: {name}"), f);
}

/// The node each running pod of the job is on.
fn nodes_of(ns: &Ns<'_>, job: &str) -> Vec<String> {
    ns.pods(job)
        .iter()
        .filter(|p| p["status"]["phase"] == "Running")
        .map(|p| {
            p["spec"]["nodeName"]
                .as_str()
                .unwrap_or_default()
                .to_owned()
        })
        .collect()
}

fn pending(ns: &Ns<'_>, job: &str) -> usize {
    ns.pods(job)
        .iter()
        .filter(|p| p["status"]["phase"] == "Pending")
        .count()
}

/// Sets a field of the job's (only) task template.
fn template(j: &mut Value) -> &mut Value {
    &mut j["spec"]["tasks"][0]["template"]
}

/// Upstream's `TaintAllNodes`; the taint is removed when the value is dropped, whatever the
/// case's outcome (upstream's deferred `RemoveTaintsFromAllNodes`), so that no later case runs on
/// tainted nodes.
struct Tainted<'a>(&'a Ns<'a>);

impl<'a> Tainted<'a> {
    fn all_nodes(ns: &'a Ns<'a>) -> Self {
        ns.c.kubectl(&["taint", "nodes", "--all", TAINT]);
        Tainted(ns)
    }

    fn remove(&self) {
        let untaint = format!("{TAINT}-");
        let out = self
            .0
            .c
            .kubectl_output(&["taint", "nodes", "--all", &untaint], None);
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(
            out.status.success() || err.contains("not found"),
            "removing the taint: {err}"
        );
    }
}

impl Drop for Tainted<'_> {
    fn drop(&mut self) {
        let untaint = format!("{TAINT}-");
        let _ = self
            .0
            .c
            .kubectl_output(&["taint", "nodes", "--all", &untaint], None);
    }
}

pub fn run(s: &Suite) {
    case(s, "Hostport", |ns| {
        use_nodes(ns, 4);
        // Upstream: 2 × nn pods on hostPort 28080, minAvailable nn; nn run (one per node) and
        // nn stay Pending. 100 mCPU each: by resources two pods would fit on every node.
        let mut j = job("hp-spec", "default", None, ("100m", "64Mi"), 4, 8);
        template(&mut j)["spec"]["containers"][0]["ports"] =
            json!([{"containerPort": 28080, "hostPort": 28080}]);
        ns.create(&j);
        wait_tasks_ready(ns, "hp-spec", 4);
        ns.c.wait_for("4 pods of hp-spec Pending", T, || {
            (pending(ns, "hp-spec") >= 4).then_some(())
        });
        stays(ns, "4 pods of hp-spec run, on 4 different nodes", || {
            let mut nodes = nodes_of(ns, "hp-spec");
            nodes.sort();
            nodes.dedup();
            running(ns, "hp-spec") == 4 && nodes.len() == 4
        });
        finish(ns, &[]);
    });

    case(s, "NodeAffinity", |ns| {
        use_nodes(ns, 4);
        // Upstream picks a node with room (`ComputeNode`) and as many 1-CPU pods as fit on it;
        // here slot-2 and four 250 mCPU pods, pinned with `matchFields` on `metadata.name`.
        let pinned = |name: &str, node: &str| {
            let mut j = job(name, "default", None, ("250m", "128Mi"), 1, 4);
            template(&mut j)["spec"]["affinity"] = json!({"nodeAffinity": {
                "requiredDuringSchedulingIgnoredDuringExecution": {"nodeSelectorTerms": [{
                    "matchFields": [
                        {"key": "metadata.name", "operator": "In", "values": [node]},
                    ],
                }]},
            }});
            j
        };
        ns.create(&pinned("na-job", "slot-2"));
        wait_tasks_ready(ns, "na-job", 4);
        let nodes = nodes_of(ns, "na-job");
        assert!(
            nodes.iter().all(|n| n == "slot-2"),
            "na-job's pods on {nodes:?}"
        );
        // Beyond upstream (binpack alone may put four pods on one node): a job pinned to a
        // node that does not exist never runs.
        ns.create(&pinned("na-nowhere", "no-such-node"));
        ns.c.wait_for("na-nowhere's pods created", T, || {
            (ns.pods("na-nowhere").len() == 4).then_some(())
        });
        stays(ns, "na-nowhere has no running pod", || {
            running(ns, "na-nowhere") == 0
        });
        finish(ns, &[]);
    });

    case(s, "Pod Affinity", |ns| {
        use_nodes(ns, 4);
        // Upstream: rep/2 half-CPU pods (rep = how many fit on a node), each requiring a pod
        // labelled foo=bar on its host (itself included); all on one node. Here 3 × 250 mCPU.
        let affine = |name: &str, wants: &str| {
            let mut j = job(name, "default", None, ("250m", "128Mi"), 3, 3);
            let t = template(&mut j);
            t["metadata"]["labels"]["foo"] = json!("bar");
            t["spec"]["affinity"] = json!({"podAffinity": {
                "requiredDuringSchedulingIgnoredDuringExecution": [{
                    "labelSelector": {"matchLabels": {"foo": wants}},
                    "topologyKey": "kubernetes.io/hostname",
                }],
            }});
            j
        };
        ns.create(&affine("pa-job", "bar"));
        wait_tasks_ready(ns, "pa-job", 3);
        let mut nodes = nodes_of(ns, "pa-job");
        nodes.dedup();
        assert_eq!(nodes.len(), 1, "pa-job's pods on {nodes:?}");
        // Beyond upstream (binpack alone may co-locate the pods): pods that require a pod no pod
        // matches (not even themselves) never run.
        ns.create(&affine("pa-nobody", "nobody"));
        ns.c.wait_for("pa-nobody's pods created", T, || {
            (ns.pods("pa-nobody").len() == 3).then_some(())
        });
        stays(ns, "pa-nobody has no running pod", || {
            running(ns, "pa-nobody") == 0
        });
        finish(ns, &[]);
    });

    case(s, "Pod Anti-Affinity", |ns| {
        use_nodes(ns, 4);
        // Upstream: two 1-CPU pods labelled foo=bar, each refusing a foo=bar pod on its host.
        // 100 mCPU here, so that both would fit on one slot.
        let mut j = job("pa-job", "default", None, ("100m", "64Mi"), 2, 2);
        let t = template(&mut j);
        t["metadata"]["labels"]["foo"] = json!("bar");
        t["spec"]["affinity"] = json!({"podAntiAffinity": {
            "requiredDuringSchedulingIgnoredDuringExecution": [{
                "labelSelector": {"matchLabels": {"foo": "bar"}},
                "topologyKey": "kubernetes.io/hostname",
            }],
        }});
        ns.create(&j);
        wait_tasks_ready(ns, "pa-job", 2);
        let nodes = nodes_of(ns, "pa-job");
        assert!(
            nodes.len() == 2 && nodes[0] != nodes[1],
            "pa-job's pods on {nodes:?}"
        );
        finish(ns, &[]);
    });

    case(s, "Taints", |ns| {
        use_nodes(ns, 4);
        let taint = Tainted::all_nodes(ns);
        ns.create(&job("tt-job", "default", None, SLOT, 1, 1));
        ns.c.wait_for("tt-job's pod created", T, || {
            (pending(ns, "tt-job") == 1).then_some(())
        });
        stays(ns, "tt-job's pod stays Pending on tainted nodes", || {
            running(ns, "tt-job") == 0
        });
        taint.remove();
        wait_tasks_ready(ns, "tt-job", 1);
        drop(taint);
        finish(ns, &[]);
    });

    case(s, "Taints and Tolerations", |ns| {
        use_nodes(ns, 4);
        let taint = Tainted::all_nodes(ns);
        let mut tolerant = job("tt-job", "default", None, SLOT, 1, 1);
        template(&mut tolerant)["spec"]["tolerations"] = json!([{
            "key": "test-taint-key", "value": "test-taint-val",
            "operator": "Equal", "effect": "NoSchedule",
        }]);
        ns.create(&tolerant);
        wait_tasks_ready(ns, "tt-job", 1);
        ns.create(&job("tt-job-no-toleration", "default", None, SLOT, 1, 1));
        ns.c.wait_for("tt-job-no-toleration's pod created", T, || {
            (pending(ns, "tt-job-no-toleration") == 1).then_some(())
        });
        // Two slots are still free: only the taint keeps it off.
        stays(ns, "tt-job-no-toleration stays Pending", || {
            running(ns, "tt-job-no-toleration") == 0
        });
        taint.remove();
        wait_tasks_ready(ns, "tt-job-no-toleration", 1);
        drop(taint);
        finish(ns, &[]);
    });
}
