//! Upstream `test/e2e/schedulingaction/guarantee.go` ("Guarantee reserved resource E2E Test"),
//! on a cluster of one 2-CPU / 2-GiB node (`guarantee-cluster.yaml`, upstream's
//! `NodesNumLimit: 1`, `NodesResourceLimit: 2000m/2048Mi`).
//!
//! Both upstream cases end with `WaitJobPending`: at least `minAvailable` pods of the job exist
//! in phase Pending. That holds for any job whose PodGroup is admitted, for the moment between
//! its pods' creation and their binding, so it passes whether or not the guarantee keeps the job
//! out; and a job that is never admitted has no pod, so it fails exactly when the guarantee
//! works the way the test's name says (Volcano's job controller creates pods only once the
//! PodGroup leaves Pending). The assertion is not copied. What the cases mean: a queue's
//! `spec.guarantee` reserves that much of the cluster for it, so a job of another queue that
//! needs the reserved part does not run. Ours check that the job stays unscheduled (its PodGroup
//! Pending, explained, no pod running) and, so that the check cannot pass for another reason,
//! that the same job runs once the guarantee is taken off.

use serde_json::json;

use super::schedulingaction::{job, running, stays};
use super::{Ns, Suite, T};

const FILE: &str = "schedulingaction/guarantee.go";

/// The one-node cluster.
pub const GUARANTEE_CLUSTER: &str = concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/../e2e/volcano_compat/guarantee-cluster.yaml"
);

fn case(s: &Suite, name: &str, f: impl FnOnce(&Ns<'_>)) {
    s.case(&format!("{FILE}: {name}"), f);
}

/// A Queue of weight 1 with `guarantee` (cpu, memory) when given.
fn create_queue(ns: &Ns<'_>, name: &str, guarantee: Option<(&str, &str)>) {
    let mut q = json!({
        "apiVersion": "scheduling.volcano.sh/v1beta1", "kind": "Queue",
        "metadata": {"name": name},
        "spec": {"weight": 1},
    });
    if let Some((cpu, memory)) = guarantee {
        q["spec"]["guarantee"] = json!({"resource": {"cpu": cpu, "memory": memory}});
    }
    ns.c.create(&q.to_string());
}

fn pg_phase(ns: &Ns<'_>, job: &str) -> String {
    ns.podgroup_of(job)["status"]["phase"]
        .as_str()
        .unwrap_or_default()
        .to_owned()
}

/// The job stays out: once a session has refused it (its PodGroup's `Unschedulable` condition
/// names its queue and the other queues' guarantees, what `kubectl describe pg` shows), its
/// PodGroup stays Pending and none of its pods runs for `QUIET`.
fn stays_out(ns: &Ns<'_>, job: &str, queue: &str) {
    let why = ns.c.wait_for(
        &format!(
            "the Unschedulable condition of {}/{job}'s PodGroup",
            ns.name
        ),
        T,
        || {
            let pg = ns.podgroup_of(job);
            pg["status"]["conditions"]
                .as_array()
                .into_iter()
                .flatten()
                .find(|c| c["type"] == "Unschedulable" && c["status"] == "True")
                .and_then(|c| c["message"].as_str().map(str::to_owned))
        },
    );
    assert!(
        why.contains(&format!("queue {queue} "))
            && why.contains("other queues' guarantees reserve cpu"),
        "{}/{job}: the refusal does not name queue {queue} and the guarantees: {why}",
        ns.name
    );
    stays(ns, &format!("{job} Pending with no pod running"), || {
        pg_phase(ns, job) == "Pending" && running(ns, job) == 0
    });
}

/// Takes `queue`'s guarantee off (a merge patch with `null`).
fn drop_guarantee(ns: &Ns<'_>, queue: &str) {
    ns.c.kubectl(&[
        "patch",
        "queue",
        queue,
        "--type",
        "merge",
        "-p",
        r#"{"spec":{"guarantee":null}}"#,
    ]);
}

/// The case's queues, deleted when the case ends, passed or failed (a queue is refused deletion
/// while PodGroups remain, so the case's jobs go first): a guarantee left behind by a failed
/// case would make the webhook refuse the next case's guarantee (they must fit the cluster
/// together). Never panics: it may run while a failed case unwinds.
struct Queues<'a> {
    ns: &'a Ns<'a>,
    names: Vec<String>,
}

impl Drop for Queues<'_> {
    fn drop(&mut self) {
        let ns = self.ns;
        let _ = ns.try_kubectl(&["delete", "vcjob", "--all", "--wait=false"], None);
        let deadline = std::time::Instant::now() + T;
        let mut left = self.names.clone();
        while !left.is_empty() && std::time::Instant::now() < deadline {
            left.retain(|q| {
                let out = ns.c.kubectl_output(&["delete", "queue", q], None);
                let err = String::from_utf8_lossy(&out.stderr);
                !(out.status.success() || err.contains("NotFound"))
            });
            std::thread::sleep(std::time::Duration::from_millis(200));
        }
        if !left.is_empty() {
            eprintln!("{}: queues {left:?} not deleted after {T:?}", ns.name);
        }
    }
}

/// Creates queue1 (guaranteeing `guarantee`) and queue2 (no guarantee), named after the case's
/// namespace (queues are cluster-scoped).
fn queues<'a>(ns: &'a Ns<'a>, guarantee: (&str, &str)) -> (Queues<'a>, String, String) {
    let (q1, q2) = (format!("{}-queue1", ns.name), format!("{}-queue2", ns.name));
    let mut guard = Queues {
        ns,
        names: Vec::new(),
    };
    create_queue(ns, &q1, Some(guarantee));
    guard.names.push(q1.clone());
    create_queue(ns, &q2, None);
    guard.names.push(q2.clone());
    (guard, q1, q2)
}

pub fn run(s: &Suite) {
    case(s, "one queue reserve all cluster resource", |ns| {
        let (_queues, q1, q2) = queues(ns, ("2000m", "2048Mi"));
        ns.create(&job("queue2-job", &q2, None, ("500m", "512Mi"), 1, 1));
        // queue1 guarantees the whole node: nothing is left for queue2.
        stays_out(ns, "queue2-job", &q2);
        // Beyond upstream: the guarantee was what kept it out.
        drop_guarantee(ns, &q1);
        ns.wait_job_phases("queue2-job", &["Running"]);
    });

    case(
        s,
        "one queue reserve some cluster resource, so it  is NOT enough to create job",
        |ns| {
            let (_queues, q1, q2) = queues(ns, ("1000m", "1024Mi"));
            // Beyond upstream: the unreserved half of the node is queue2's to use.
            ns.create(&job("queue2-small", &q2, None, ("500m", "512Mi"), 1, 1));
            ns.wait_job_phases("queue2-small", &["Running"]);
            // Upstream's job: 1.5 CPUs where 1 CPU is not reserved by queue1 (0.5 of it now
            // taken by queue2-small; upstream's node is otherwise empty, and 1.5 > 1 either way).
            ns.create(&job("queue2-job", &q2, None, ("1500m", "512Mi"), 1, 1));
            stays_out(ns, "queue2-job", &q2);
            // Beyond upstream: without the guarantee the node's 1.5 free CPUs take it.
            drop_guarantee(ns, &q1);
            ns.wait_job_phases("queue2-job", &["Running"]);
        },
    );
}
