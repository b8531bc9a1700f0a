//! Upstream `test/e2e/admission/podgroup_mutate_test.go` ("PodGroup Mutating Webhook E2E
//! Test"): a PodGroup created with the `default` queue in a namespace annotated
//! `scheduling.volcano.sh/queue-name: Q` is moved to queue Q; any other queue is kept. Queues
//! are cluster-scoped, so ours are named after the case's namespace.

use serde_json::{Value, json};

use super::{Ns, Suite, T};

const FILE: &str = "admission/podgroup_mutate_test.go";
const QUEUE_ANNOTATION: &str = "scheduling.volcano.sh/queue-name";

fn podgroup(name: &str, queue: &str) -> Value {
    json!({
        "apiVersion": "scheduling.volcano.sh/v1beta1", "kind": "PodGroup",
        "metadata": {"name": name},
        "spec": {"queue": queue, "minMember": 1},
    })
}

fn open_queue(ns: &Ns<'_>, q: &str) {
    ns.c.create(
        &json!({
            "apiVersion": "scheduling.volcano.sh/v1beta1", "kind": "Queue",
            "metadata": {"name": q}, "spec": {"weight": 1},
        })
        .to_string(),
    );
    ns.c.wait_for(&format!("queue {q} Open"), T, || {
        (ns.c.get_json(&["queue", q])["status"]["state"] == "Open").then_some(())
    });
}

fn annotate_namespace(ns: &Ns<'_>, q: &str) {
    ns.c.kubectl(&[
        "annotate",
        "namespace",
        &ns.name,
        &format!("{QUEUE_ANNOTATION}={q}"),
    ]);
}

/// Creates the PodGroup and returns its stored `spec.queue`.
fn created_queue(ns: &Ns<'_>, pg: &Value) -> Value {
    ns.create(pg);
    let name = pg["metadata"]["name"].as_str().expect("named");
    ns.get_json(&["podgroup", name])["spec"]["queue"].clone()
}

fn case(s: &Suite, name: &str, f: impl FnOnce(&Ns<'_>)) {
    s.case(&format!("{FILE}: {name}"), f);
}

pub fn run(s: &Suite) {
    case(s, "Should not modify podgroup with custom queue", |ns| {
        let q = format!("{}-custom", ns.name);
        open_queue(ns, &q);
        let got = created_queue(ns, &podgroup("custom-queue-podgroup", &q));
        ns.kubectl(&["delete", "podgroup", "--all"]);
        ns.c.kubectl(&["delete", "queue", &q]);
        assert_eq!(got, q.as_str());
    });
    case(
        s,
        "Should set queue from namespace annotation when podgroup uses default queue",
        |ns| {
            let q = format!("{}-nsq", ns.name);
            annotate_namespace(ns, &q);
            open_queue(ns, &q);
            let got = created_queue(ns, &podgroup("default-queue-podgroup", "default"));
            ns.kubectl(&["delete", "podgroup", "--all"]);
            ns.c.kubectl(&["delete", "queue", &q]);
            assert_eq!(got, q.as_str());
        },
    );
    case(
        s,
        "Should keep default queue when namespace has no queue annotation",
        |ns| {
            let got = created_queue(ns, &podgroup("no-annotation-podgroup", "default"));
            assert_eq!(got, "default");
        },
    );
    case(
        s,
        "Should handle multiple podgroups in same namespace",
        |ns| {
            let (nsq, custom) = (format!("{}-nsq", ns.name), format!("{}-custom", ns.name));
            annotate_namespace(ns, &nsq);
            open_queue(ns, &nsq);
            open_queue(ns, &custom);
            let first = created_queue(ns, &podgroup("multiple-1-default", "default"));
            let second = created_queue(ns, &podgroup("multiple-2-custom", &custom));
            ns.kubectl(&["delete", "podgroup", "--all"]);
            ns.c.kubectl(&["delete", "queue", &nsq, &custom]);
            assert_eq!((first, second), (json!(nsq), json!(custom)));
        },
    );
}
