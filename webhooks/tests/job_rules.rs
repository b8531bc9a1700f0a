//! Job mutation, validation (CREATE/UPDATE) and quota rules through the real router.

#![allow(clippy::unwrap_used)]

mod common;

use common::*;
use serde_json::json;

const V: &str = "/jobs/validate";

fn create(obj: serde_json::Value) -> serde_json::Value {
    review("Job", "CREATE", obj, serde_json::Value::Null)
}

#[tokio::test]
async fn mutation_fills_volcano_defaults() {
    let obj = json!({
        "apiVersion": "batch.volcano.sh/v1alpha1", "kind": "Job",
        "metadata": {"name": "mpi-job"},
        "spec": {
            "plugins": {"mpi": ["--master=default0"]},
            "tasks": [
                {"replicas": 1, "template": {"spec": {"hostNetwork": true, "containers": [{"name": "m", "image": "x"}]}}},
                {"name": "worker", "replicas": 3, "template": {"spec": {"containers": [{"name": "w", "image": "x"}]}}}
            ]
        }
    });
    let resp = allowed("/jobs/mutate", create(obj)).await;
    assert_eq!(resp["patchType"], "JSONPatch");
    let ops = patch_of(&resp);
    let has = |path: &str, value: serde_json::Value| {
        assert!(
            ops.as_array()
                .unwrap()
                .iter()
                .any(|o| o["path"] == path && o["value"] == value),
            "no {path} = {value} in {ops}"
        )
    };
    has("/spec/queue", json!("default"));
    has("/spec/schedulerName", json!("volcano"));
    has("/spec/maxRetry", json!(3));
    has("/spec/tasks/0/name", json!("default0"));
    has("/spec/tasks/0/minAvailable", json!(1));
    has("/spec/tasks/1/minAvailable", json!(3));
    has("/spec/tasks/1/maxRetry", json!(3));
    has(
        "/spec/tasks/0/template/spec/dnsPolicy",
        json!("ClusterFirstWithHostNet"),
    );
    has("/spec/minAvailable", json!(4));
    has("/spec/plugins/svc", json!([]));
    has("/spec/plugins/ssh", json!([]));
}

#[tokio::test]
async fn mutation_leaves_set_fields_alone_and_ignores_updates() {
    let mut obj = job("set", "team-a", 2, 1);
    obj["spec"]["schedulerName"] = json!("basalt");
    obj["spec"]["maxRetry"] = json!(5);
    obj["spec"]["tasks"][0]["minAvailable"] = json!(2);
    obj["spec"]["tasks"][0]["maxRetry"] = json!(1);
    let resp = allowed("/jobs/mutate", create(obj.clone())).await;
    assert!(resp.get("patch").is_none(), "unexpected patch {resp}");
    let resp = allowed(
        "/jobs/mutate",
        review("Job", "UPDATE", json!({"spec": {}}), obj),
    )
    .await;
    assert!(resp.get("patch").is_none());
}

#[tokio::test]
async fn valid_job_is_allowed() {
    allowed(V, create(job("train", "team-a", 2, 8))).await;
    allowed(V, create(job("train", "default", 4, 8))).await;
}

#[tokio::test]
async fn seed_manifest_without_image_is_refused_about_the_image() {
    let yaml = include_str!("data/02-vgpu-inference-job.yaml");
    let obj: serde_json::Value = serde_saphyr::from_str(yaml).expect("yaml");
    let msg = denied(
        V,
        create(obj),
        &["image", "spec.tasks[0].template.spec.containers[0].image"],
    )
    .await;
    assert!(msg.starts_with("job \"inference-service\""), "{msg}");
}

#[tokio::test]
async fn tasks_are_required_and_unique() {
    let mut obj = job("j", "default", 1, 0);
    obj["spec"]["tasks"] = json!([]);
    denied(
        V,
        create(obj),
        &["spec.tasks is empty", "add at least one task"],
    )
    .await;

    let mut obj = job("j", "default", 1, 0);
    let t = obj["spec"]["tasks"][0].clone();
    obj["spec"]["tasks"] = json!([t.clone(), t]);
    denied(
        V,
        create(obj),
        &[
            "spec.tasks[1].name \"worker\" is already used by spec.tasks[0]",
            "unique",
        ],
    )
    .await;

    let mut obj = job("j", "default", 1, 0);
    obj["spec"]["tasks"][0]["name"] = json!("Worker_1");
    denied(V, create(obj), &["spec.tasks[0].name", "DNS-1123"]).await;
}

#[tokio::test]
async fn min_available_bounds() {
    let mut obj = job("j", "default", 2, 0);
    obj["spec"]["tasks"][0]["minAvailable"] = json!(3);
    denied(
        V,
        create(obj),
        &[
            "spec.tasks[0].minAvailable is 3 but replicas is 2",
            "between 0 and 2",
        ],
    )
    .await;

    let mut obj = job("j", "default", 2, 0);
    obj["spec"]["minAvailable"] = json!(5);
    denied(
        V,
        create(obj),
        &["spec.minAvailable is 5 but the tasks have 2 replicas"],
    )
    .await;

    let mut obj = job("j", "default", 2, 0);
    obj["spec"]["tasks"][0]["replicas"] = json!(-1);
    obj["spec"]["minAvailable"] = json!(0);
    obj["spec"]["tasks"][0]["minAvailable"] = json!(0);
    denied(V, create(obj), &["spec.tasks[0].replicas is -1"]).await;

    let mut obj = job("j", "default", 2, 0);
    obj["spec"]["maxRetry"] = json!(-1);
    obj["spec"]["ttlSecondsAfterFinished"] = json!(-5);
    denied(
        V,
        create(obj),
        &[
            "spec.maxRetry is negative",
            "spec.ttlSecondsAfterFinished is negative",
        ],
    )
    .await;
}

#[tokio::test]
async fn policies_must_be_valid_and_not_conflict() {
    let with = |policies: serde_json::Value| {
        let mut obj = job("p", "default", 1, 0);
        obj["spec"]["policies"] = policies;
        create(obj)
    };
    allowed(V, with(json!([{"event": "PodEvicted", "action": "RestartJob"}, {"exitCode": 3, "action": "AbortJob"}]))).await;
    denied(
        V,
        with(json!([{"event": "PodFailed", "exitCode": 1, "action": "RestartJob"}])),
        &["spec.policies[0] sets both events and exitCode"],
    )
    .await;
    denied(
        V,
        with(json!([{"action": "RestartJob"}])),
        &["sets neither events nor exitCode"],
    )
    .await;
    denied(
        V,
        with(json!([{"exitCode": 0, "action": "RestartJob"}])),
        &["spec.policies[0].exitCode is 0"],
    )
    .await;
    denied(
        V,
        with(json!([{"event": "PodFailed"}])),
        &["spec.policies[0].action is missing"],
    )
    .await;
    denied(
        V,
        with(json!([{"event": "PodFailed", "action": "SyncJob"}])),
        &["SyncJob is not allowed"],
    )
    .await;
    denied(
        V,
        with(json!([{"event": "CommandIssued", "action": "AbortJob"}])),
        &["CommandIssued cannot trigger a policy"],
    )
    .await;
    denied(
        V,
        with(json!([{"event": "PodFailed", "action": "AbortJob"}, {"events": ["PodFailed"], "action": "RestartJob"}])),
        &["spec.policies[1].events", "PodFailed is handled by an earlier policy"],
    )
    .await;
    // The same event twice in one policy is one event (Volcano's job_error_handling e2e case).
    allowed(
        V,
        with(json!([{"events": ["PodEvicted", "PodFailed", "PodEvicted"], "action": "TerminateJob"}])),
    )
    .await;
    denied(
        V,
        with(json!([{"events": ["*", "PodFailed"], "action": "AbortJob"}])),
        &["\"*\" together with other events"],
    )
    .await;
    denied(
        V,
        with(json!([{"event": "Bogus", "action": "AbortJob"}])),
        &["spec.policies[0].event", "unknown variant"],
    )
    .await;
    allowed(
        V,
        with(json!([{"event": "PodFailed", "action": "AbortJob", "timeout": "1h30m"}])),
    )
    .await;
    // issue 16: this timeout passed admission and panicked the Job reconciler.
    denied(
        V,
        with(json!([{"event": "PodFailed", "action": "AbortJob", "timeout": "99999999999999999999h"}])),
        &["spec.policies[0].timeout", "too large", "2562047h"],
    )
    .await;
    denied(
        V,
        with(json!([{"event": "PodPending", "action": "AbortJob", "timeout": "3 days"}])),
        &["spec.policies[0].timeout", "unknown unit"],
    )
    .await;
    let mut obj = job("p", "default", 1, 0);
    obj["spec"]["tasks"][0]["policies"] = json!([{"exitCode": 0, "action": "RestartTask"}]);
    denied(V, create(obj), &["spec.tasks[0].policies[0].exitCode is 0"]).await;
}

/// Admission refuses exactly the policy timeouts the Job controller cannot read: both use
/// `scheduler_core::duration::parse` (Go's grammar, non-negative). The controller's half of this
/// table is `controllers/src/job/tests.rs` (`policy_timeouts_are_go_durations`).
#[tokio::test]
async fn policy_timeouts_are_go_durations_as_the_controller_reads_them() {
    let with = |timeout: &str| {
        let mut obj = job("p", "default", 1, 0);
        obj["spec"]["policies"] =
            json!([{"event": "PodFailed", "action": "AbortJob", "timeout": timeout}]);
        create(obj)
    };
    for timeout in ["1m30s", "+90s", "90000ms", "0.025h", "-0s", "500us"] {
        allowed(V, with(timeout)).await;
    }
    for (timeout, why) in [
        ("90", "missing unit"),
        ("-90s", "must be zero or positive"),
        ("1m 30s", "unknown unit"),
        ("90S", "unknown unit"),
    ] {
        denied(V, with(timeout), &["spec.policies[0].timeout", why]).await;
    }
}

#[tokio::test]
async fn plugins_must_be_known_and_mpi_needs_its_master() {
    let with = |plugins: serde_json::Value| {
        let mut obj = job("p", "default", 1, 0);
        obj["spec"]["plugins"] = plugins;
        create(obj)
    };
    allowed(
        V,
        with(json!({"env": [], "svc": [], "pytorch": ["--master=worker"]})),
    )
    .await;
    denied(
        V,
        with(json!({"horovod": []})),
        &[
            "spec.plugins[\"horovod\"] is not a job plugin",
            "env, svc, ssh",
        ],
    )
    .await;
    denied(
        V,
        with(json!({"mpi": []})),
        &["needs a master task named \"master\""],
    )
    .await;
    allowed(V, with(json!({"mpi": ["--master=worker"]}))).await;
    // The framework plugins open the port they are given: it must be one.
    allowed(
        V,
        with(json!({"pytorch": ["--master=worker", "--port=29500"]})),
    )
    .await;
    for (plugin, arg) in [
        ("pytorch", json!(["--master=worker", "--port=abc"])),
        ("tensorflow", json!(["-port=70000"])),
        ("mpi", json!(["--master=worker", "--port", "0"])),
    ] {
        denied(
            V,
            with(json!({ plugin: arg })),
            &[
                format!("spec.plugins[\"{plugin}\"] argument --port=").as_str(),
                "is not a port number",
                "use an integer from 1 to 65535",
            ],
        )
        .await;
    }
}

#[tokio::test]
async fn queue_must_exist_be_open_and_a_leaf() {
    denied(
        V,
        create(job("j", "nope", 1, 0)),
        &[
            "spec.queue names queue \"nope\", which does not exist",
            "create it",
        ],
    )
    .await;
    denied(
        V,
        create(job("j", "closed", 1, 0)),
        &["which is Closed", "basalt queue open closed"],
    )
    .await;
    denied(
        V,
        create(job("j", "parent", 1, 0)),
        &["has child queues (child)", "leaf"],
    )
    .await;
    denied(V, create(job("j", "root", 1, 0)), &["is \"root\""]).await;
    allowed(V, create(job("j", "child", 1, 0))).await;
}

#[tokio::test]
async fn pod_templates_need_named_containers_with_images() {
    let mut obj = job("j", "default", 1, 0);
    obj["spec"]["tasks"][0]["template"] = json!({"spec": {"containers": []}});
    denied(
        V,
        create(obj),
        &["spec.tasks[0].template.spec.containers is empty"],
    )
    .await;
    let mut obj = job("j", "default", 1, 0);
    obj["spec"]["tasks"][0]["template"] = json!({});
    denied(V, create(obj), &["spec.tasks[0].template.spec is missing"]).await;
    let mut obj = job("j", "default", 1, 0);
    obj["spec"]["tasks"][0]["template"]["spec"]["containers"][0]["name"] = json!("");
    denied(V, create(obj), &["containers[0].name is empty"]).await;
    let mut obj = job("j", "default", 1, 0);
    let c = obj["spec"]["tasks"][0]["template"]["spec"]["containers"][0].clone();
    obj["spec"]["tasks"][0]["template"]["spec"]["containers"] = json!([c.clone(), c]);
    denied(V, create(obj), &["containers[1].name", "unique"]).await;
    let mut obj = job("j", "default", 1, 0);
    obj["spec"]["tasks"][0]["template"]["spec"]["containers"][0]["resources"] =
        json!({"requests": {"cpu": "4"}, "limits": {"cpu": "2", "memory": "lots"}});
    denied(
        V,
        create(obj),
        &[
            "resources.limits[\"memory\"] is invalid",
            "requests[\"cpu\"] is above its limit (4 > 2)",
        ],
    )
    .await;
}

#[tokio::test]
async fn pod_names_topology_partition_and_network_topology() {
    let long = "a".repeat(60);
    denied(
        V,
        create(job(&long, "default", 1, 0)),
        &["longer than 63 characters"],
    )
    .await;

    let mut obj = job("j", "default", 1, 0);
    obj["spec"]["tasks"][0]["topologyPolicy"] = json!("single-numa-node");
    obj["spec"]["tasks"][0]["template"]["spec"]["containers"][0]["resources"] =
        json!({"requests": {"cpu": "1500m"}});
    denied(V, create(obj.clone()), &["not a whole number of CPUs"]).await;
    obj["spec"]["tasks"][0]["template"]["spec"]["containers"][0]["resources"] =
        json!({"requests": {"cpu": "2"}});
    allowed(V, create(obj)).await;

    let mut obj = job("j", "default", 4, 0);
    obj["spec"]["tasks"][0]["partitionPolicy"] = json!({"totalPartitions": 3, "partitionSize": 2});
    denied(
        V,
        create(obj.clone()),
        &["spec.tasks[0].replicas is 4 but partitionPolicy gives 3 × 2 = 6"],
    )
    .await;
    obj["spec"]["tasks"][0]["partitionPolicy"] =
        json!({"totalPartitions": 2, "partitionSize": 2, "minPartitions": 1});
    obj["spec"]["tasks"][0]["minAvailable"] = json!(4);
    denied(
        V,
        create(obj.clone()),
        &["minPartitions × partitionSize is 2"],
    )
    .await;
    obj["spec"]["tasks"][0]["minAvailable"] = json!(2);
    obj["spec"]["minAvailable"] = json!(2);
    allowed(V, create(obj)).await;

    let mut obj = job("j", "default", 1, 0);
    obj["spec"]["networkTopology"] =
        json!({"mode": "hard", "highestTierAllowed": 1, "highestTierName": "spine"});
    denied(
        V,
        create(obj),
        &["spec.networkTopology sets both highestTierAllowed and highestTierName"],
    )
    .await;
}

#[tokio::test]
async fn task_dependencies_form_a_dag() {
    let mut obj = job("j", "default", 1, 0);
    let t = obj["spec"]["tasks"][0].clone();
    let mut a = t.clone();
    a["name"] = json!("a");
    a["dependsOn"] = json!({"name": ["b"]});
    let mut b = t;
    b["name"] = json!("b");
    b["dependsOn"] = json!({"name": ["a"]});
    obj["spec"]["tasks"] = json!([a.clone(), b]);
    obj["spec"]["minAvailable"] = json!(2);
    denied(V, create(obj.clone()), &["forms a cycle: a -> b -> a"]).await;
    obj["spec"]["tasks"][1]["dependsOn"] = json!({"name": ["ghost"]});
    denied(
        V,
        create(obj.clone()),
        &["spec.tasks[1].dependsOn.name names task \"ghost\""],
    )
    .await;
    obj["spec"]["tasks"][1]["dependsOn"] = json!(null);
    allowed(V, create(obj)).await;
}

#[tokio::test]
async fn volumes_need_unique_paths_and_one_claim() {
    let with = |volumes: serde_json::Value| {
        let mut obj = job("v", "default", 1, 0);
        obj["spec"]["volumes"] = volumes;
        create(obj)
    };
    allowed(
        V,
        with(json!([{"mountPath": "/data", "volumeClaimName": "data"}])),
    )
    .await;
    denied(V, with(json!([{"mountPath": "/d", "volumeClaimName": "a"}, {"mountPath": "/d", "volumeClaimName": "b"}])), &["spec.volumes[1].mountPath \"/d\" is used by another volume"]).await;
    denied(
        V,
        with(json!([{"mountPath": "/d", "volumeClaimName": "a", "volumeClaim": {}}])),
        &["sets both volumeClaimName and volumeClaim"],
    )
    .await;
    denied(
        V,
        with(json!([{"mountPath": "", "volumeClaimName": "a"}])),
        &["spec.volumes[0].mountPath is empty"],
    )
    .await;
}

#[tokio::test]
async fn gang_beyond_queue_capability_is_refused_with_the_numbers() {
    let msg = denied(V, create(job("train", "team-a", 3, 8)), &[]).await;
    assert!(
        msg.starts_with("job \"train\" needs 24 nvidia.com/gpu to start (minAvailable 3 × 8) but queue \"team-a\" allows 20"),
        "{msg}"
    );
    assert!(msg.contains("lower spec.minAvailable"), "{msg}");
    // Through a parent's capability.
    denied(
        V,
        create(job("deep", "child", 2, 8)),
        &["but queue \"child\" allows 12"],
    )
    .await;
    // The gang minimum, not all replicas, counts.
    let mut obj = job("elastic", "team-a", 10, 8);
    obj["spec"]["minAvailable"] = json!(2);
    obj["spec"]["tasks"][0]["minAvailable"] = json!(2);
    allowed(V, create(obj)).await;
}

#[tokio::test]
async fn gang_beyond_the_cluster_or_a_node_is_refused() {
    denied(V, create(job("huge", "default", 5, 8)), &["needs 40 nvidia.com/gpu to start (minAvailable 5 × 8) but the whole cluster has 32 on 4 nodes"]).await;
    denied(
        V,
        create(job("fat", "default", 1, 16)),
        &["asks 16 nvidia.com/gpu per pod of task \"worker\" but the largest node offers 8"],
    )
    .await;
    let mut obj = job("mixed", "team-a", 1, 8);
    let mut master = obj["spec"]["tasks"][0].clone();
    master["name"] = json!("master");
    master["replicas"] = json!(1);
    obj["spec"]["tasks"] = json!([master, {"name": "w", "replicas": 2, "template": obj["spec"]["tasks"][0]["template"].clone()}]);
    obj["spec"]["minAvailable"] = json!(3);
    denied(
        V,
        create(obj),
        &["needs 24 nvidia.com/gpu to start (master 1 × 8 + w 2 × 8)"],
    )
    .await;
    // vGPU resources nobody advertises are not checked against the cluster.
    let mut obj = job("vgpu", "default", 4, 0);
    obj["spec"]["tasks"][0]["template"]["spec"]["containers"][0]["resources"] =
        json!({"limits": {"nvidia.com/vgpu-memory": "4Gi", "nvidia.com/vgpu-cores": "25"}});
    allowed(V, create(obj)).await;
}

#[tokio::test]
async fn vgpu_resources_are_checked_when_nodes_advertise_them() {
    let state = cluster();
    state.put_node(
        "gpu-0",
        list(&[("nvidia.com/vgpu-memory", "80Gi"), ("nvidia.com/gpu", "8")]),
    );
    let mut obj = job("vgpu", "default", 3, 0);
    obj["spec"]["tasks"][0]["template"]["spec"]["containers"][0]["resources"] =
        json!({"limits": {"nvidia.com/vgpu-memory": "40Gi"}});
    denied_in(state, V, create(obj), &["needs 120Gi nvidia.com/vgpu-memory to start (minAvailable 3 × 40Gi) but the whole cluster has 80Gi"]).await;
}

#[tokio::test]
async fn updates_may_only_scale() {
    let old = job("j", "team-a", 2, 1);
    let mut new = old.clone();
    new["spec"]["tasks"][0]["replicas"] = json!(4);
    new["spec"]["minAvailable"] = json!(3);
    new["spec"]["priorityClassName"] = json!("high");
    allowed(V, review("Job", "UPDATE", new, old.clone())).await;

    let mut new = old.clone();
    new["spec"]["queue"] = json!("default");
    denied(
        V,
        review("Job", "UPDATE", new, old.clone()),
        &["spec.queue cannot change after the job is created"],
    )
    .await;

    let mut new = old.clone();
    new["spec"]["tasks"][0]["template"]["spec"]["containers"][0]["image"] = json!("other:1");
    denied(
        V,
        review("Job", "UPDATE", new, old.clone()),
        &["spec.tasks[0].template.spec.containers[0].image cannot change"],
    )
    .await;

    let mut new = old.clone();
    let t = new["spec"]["tasks"][0].clone();
    new["spec"]["tasks"] = json!([t.clone(), t]);
    denied(
        V,
        review("Job", "UPDATE", new, old.clone()),
        &[
            "spec.tasks has 2 tasks but had 1",
            "cannot be added or removed",
        ],
    )
    .await;

    let mut new = old.clone();
    new["spec"]["tasks"][0]["minAvailable"] = json!(3);
    denied(
        V,
        review("Job", "UPDATE", new, old.clone()),
        &["spec.tasks[0].minAvailable is 3 but replicas is 2"],
    )
    .await;

    // Scaling the gang beyond the queue is refused on update too.
    let mut new = old.clone();
    new["spec"]["tasks"][0]["replicas"] = json!(30);
    new["spec"]["minAvailable"] = json!(30);
    new["spec"]["tasks"][0]["minAvailable"] = json!(30);
    denied(
        V,
        review("Job", "UPDATE", new, old),
        &["needs 30 nvidia.com/gpu", "queue \"team-a\" allows 20"],
    )
    .await;
}

#[tokio::test]
async fn delete_is_always_allowed() {
    allowed(
        V,
        review(
            "Job",
            "DELETE",
            serde_json::Value::Null,
            job("j", "nope", 1, 0),
        ),
    )
    .await;
}

#[tokio::test]
async fn updates_of_large_jobs_fit_in_a_review() {
    // issue 16: a ~1.2 MB Job was created, then every update failed on the 2 MiB body limit.
    let mut obj = job("big", "default", 1, 0);
    obj["metadata"]["annotations"] = json!({"note": "x".repeat(2_500_000)});
    let review = review("Job", "UPDATE", obj.clone(), obj);
    assert!(serde_json::to_vec(&review).unwrap().len() > 5_000_000);
    allowed(V, review).await;
    let (status, _) = post_raw(cluster(), V, vec![b' '; webhooks::MAX_REVIEW_BYTES + 1]).await;
    assert_eq!(status, axum::http::StatusCode::PAYLOAD_TOO_LARGE);
}
