//! Queue mutation and validation (CREATE/UPDATE/DELETE) through the real router.

#![allow(clippy::unwrap_used)]

mod common;

use common::*;
use serde_json::{Value, json};

const V: &str = "/queues/validate";

fn create(obj: Value) -> Value {
    review("Queue", "CREATE", obj, Value::Null)
}

#[tokio::test]
async fn mutation_sets_reclaimable_weight_and_hierarchy_root() {
    let mut obj = queue_obj("q", json!({}));
    obj["metadata"]["annotations"] =
        json!({"volcano.sh/hierarchy": "a/b", "volcano.sh/hierarchy-weights": "2/3"});
    let resp = allowed("/queues/mutate", create(obj)).await;
    let ops = patch_of(&resp);
    let ops = ops.as_array().unwrap();
    let has = |path: &str, v: Value| {
        assert!(
            ops.iter().any(|o| o["path"] == path && o["value"] == v),
            "{path} in {ops:?}"
        )
    };
    has("/spec/reclaimable", json!(true));
    has("/spec/preemptable", json!(true));
    has("/spec/weight", json!(1));
    has(
        "/metadata/annotations/volcano.sh~1hierarchy",
        json!("root/a/b"),
    );
    has(
        "/metadata/annotations/volcano.sh~1hierarchy-weights",
        json!("1/2/3"),
    );
    // A queue with no spec gets one first.
    let resp = allowed("/queues/mutate", create(json!({"apiVersion": "scheduling.volcano.sh/v1beta1", "kind": "Queue", "metadata": {"name": "bare"}}))).await;
    assert_eq!(
        patch_of(&resp)[0],
        json!({"op": "add", "path": "/spec", "value": {}})
    );
    let resp = allowed(
        "/queues/mutate",
        create(queue_obj(
            "set",
            json!({"reclaimable": false, "preemptable": false, "weight": 4}),
        )),
    )
    .await;
    assert!(resp.get("patch").is_none());
}

#[tokio::test]
async fn seed_team_queues_are_allowed() {
    for name in ["team-a-queue", "team-b-queue", "team-c-queue"] {
        allowed(
            V,
            create(queue_obj(
                name,
                json!({"capability": {"nvidia.com/gpu": 20}, "reclaimable": true, "weight": 1}),
            )),
        )
        .await;
    }
}

#[tokio::test]
async fn weight_and_quantities() {
    denied(
        V,
        create(queue_obj("q", json!({"weight": -2}))),
        &["queue \"q\": spec.weight is -2", "between 1 and 65535"],
    )
    .await;
    denied(
        V,
        create(queue_obj("q", json!({"weight": 70000}))),
        &["spec.weight is 70000"],
    )
    .await;
    denied(
        V,
        create(queue_obj("q", json!({"capability": {"cpu": "lots"}}))),
        &["spec.capability[\"cpu\"] is invalid"],
    )
    .await;
}

#[tokio::test]
async fn guarantee_within_deserved_within_capability() {
    denied(
        V,
        create(queue_obj("q", json!({"capability": {"nvidia.com/gpu": 4}, "guarantee": {"resource": {"nvidia.com/gpu": 6}}}))),
        &["spec.guarantee.resource[\"nvidia.com/gpu\"] is 6 but spec.capability[\"nvidia.com/gpu\"] is 4", "lower it to at most 4"],
    )
    .await;
    denied(
        V,
        create(queue_obj(
            "q",
            json!({"capability": {"cpu": "8"}, "deserved": {"cpu": "10"}}),
        )),
        &["spec.deserved[\"cpu\"] is 10 but spec.capability[\"cpu\"] is 8"],
    )
    .await;
    denied(
        V,
        create(queue_obj(
            "q",
            json!({"deserved": {"cpu": "8"}, "guarantee": {"resource": {"memory": "1Gi"}}}),
        )),
        &["spec.deserved does not list \"memory\""],
    )
    .await;
    allowed(V, create(queue_obj("q", json!({"capability": {"nvidia.com/gpu": 8}, "deserved": {"nvidia.com/gpu": 6}, "guarantee": {"resource": {"nvidia.com/gpu": 4}}})))).await;
}

#[tokio::test]
async fn hierarchy_rules() {
    denied(
        V,
        create(queue_obj("q", json!({"parent": "ghost"}))),
        &["spec.parent names queue \"ghost\", which does not exist"],
    )
    .await;
    denied(
        V,
        create(queue_obj("q", json!({"parent": "q"}))),
        &["spec.parent names the queue itself"],
    )
    .await;
    denied(
        V,
        create(queue_obj(
            "q",
            json!({"parent": "parent", "capability": {"nvidia.com/gpu": 20}}),
        )),
        &["spec.capability[\"nvidia.com/gpu\"] is 20 but ancestor queue \"parent\" allows only 16"],
    )
    .await;
    // parent guarantees 8; child already holds 4.
    denied(
        V,
        create(queue_obj("q", json!({"parent": "parent", "deserved": {"nvidia.com/gpu": 6}, "guarantee": {"resource": {"nvidia.com/gpu": 6}}}))),
        &["brings the guarantees of \"parent\"'s children to 10 but its guarantee is 8"],
    )
    .await;
    allowed(V, create(queue_obj("q", json!({"parent": "parent", "capability": {"nvidia.com/gpu": 8}, "deserved": {"nvidia.com/gpu": 4}, "guarantee": {"resource": {"nvidia.com/gpu": 4}}})))).await;
    // Lowering a parent below its child's capability.
    let old = queue_obj("parent", json!({"capability": {"nvidia.com/gpu": 16}}));
    let new = queue_obj(
        "parent",
        json!({"capability": {"nvidia.com/gpu": 10}, "deserved": {"nvidia.com/gpu": 10}, "guarantee": {"resource": {"nvidia.com/gpu": 8}}}),
    );
    denied(
        V,
        review("Queue", "UPDATE", new, old),
        &["child queue \"child\" has capability 12"],
    )
    .await;
}

#[tokio::test]
async fn guarantees_must_fit_the_cluster() {
    // 32 GPUs in the cluster; parent already guarantees 8.
    denied(
        V,
        create(queue_obj("big", json!({"deserved": {"nvidia.com/gpu": 30}, "guarantee": {"resource": {"nvidia.com/gpu": 30}}}))),
        &["queue \"big\" guarantees 30 nvidia.com/gpu and the other queues guarantee 8, 38 in total, but the whole cluster has 32 on 4 nodes"],
    )
    .await;
    allowed(V, create(queue_obj("ok", json!({"deserved": {"nvidia.com/gpu": 24}, "guarantee": {"resource": {"nvidia.com/gpu": 24}}})))).await;
}

#[tokio::test]
async fn root_limits_are_protected() {
    let old = queue_obj("root", json!({}));
    let new = queue_obj("root", json!({"capability": {"cpu": "1"}}));
    denied(
        V,
        review("Queue", "UPDATE", new, old.clone()),
        &["root queue cannot change capability"],
    )
    .await;
    allowed(
        V,
        review(
            "Queue",
            "UPDATE",
            queue_obj("root", json!({"weight": 2})),
            old,
        ),
    )
    .await;
}

#[tokio::test]
async fn delete_rules() {
    let del = |name: &str| review("Queue", "DELETE", Value::Null, queue_obj(name, json!({})));
    denied(
        V,
        del("default"),
        &["queue \"default\"", "cannot be deleted"],
    )
    .await;
    denied(V, del("root"), &["cannot be deleted"]).await;
    denied(
        V,
        del("parent"),
        &[
            "is the parent of child",
            "delete or re-parent the child queues first",
        ],
    )
    .await;
    let state = cluster();
    state.set_podgroups("team-a", 2);
    denied_in(state, V, del("team-a"), &["still has 2 PodGroup(s)"]).await;
    let mut busy = queue_obj("team-a", json!({}));
    busy["status"] = json!({"allocated": {"nvidia.com/gpu": "4"}});
    denied(
        V,
        review("Queue", "DELETE", Value::Null, busy),
        &["status.allocated is not empty"],
    )
    .await;
    allowed(V, del("team-a")).await;
    // Without oldObject the queue is looked up by name.
    let mut r = review("Queue", "DELETE", Value::Null, Value::Null);
    r["request"]["name"] = json!("parent");
    denied(V, r, &["is the parent of child"]).await;
}

/// Volcano's hierarchy annotations (upstream admission/queue_validation_test.go): malformed ones
/// are refused naming the annotation; well-formed ones are admitted.
#[tokio::test]
async fn hierarchy_annotations_must_be_well_formed() {
    let with = |h: Option<&str>, w: Option<&str>| {
        let mut obj = queue_obj("q", json!({"weight": 1}));
        let mut a = serde_json::Map::new();
        if let Some(h) = h {
            a.insert("volcano.sh/hierarchy".into(), json!(h));
        }
        if let Some(w) = w {
            a.insert("volcano.sh/hierarchy-weights".into(), json!(w));
        }
        obj["metadata"]["annotations"] = Value::Object(a);
        create(obj)
    };
    let h = "metadata.annotations[\"volcano.sh/hierarchy\"]";
    let w = "metadata.annotations[\"volcano.sh/hierarchy-weights\"]";
    denied(
        V,
        with(Some("root/a"), None),
        &[&format!("{h} is set without volcano.sh/hierarchy-weights")],
    )
    .await;
    denied(
        V,
        with(None, Some("1/2")),
        &[&format!("{w} is set without volcano.sh/hierarchy")],
    )
    .await;
    denied(V, with(Some("root/a/b"), Some("1/2/3/4")), &["has 4 weights but volcano.sh/hierarchy \"root/a/b\" has 3 levels; they must have the same length"]).await;
    denied(
        V,
        with(Some("root/a/b"), Some("1/-1/3")),
        &["level 1 weight \"-1\" is not a positive number"],
    )
    .await;
    denied(
        V,
        with(Some("root/a/b"), Some("1/a/3")),
        &["level 1 weight \"a\" is not a positive number"],
    )
    .await;
    allowed(V, with(Some("root/a/b"), Some("1/2/3"))).await;
}
