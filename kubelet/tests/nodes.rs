//! The simulated kubelet (`devcluster::nodes`) against the real embedded API server, in-process:
//! node registration, the pod lifecycle, graceful deletion and metrics.k8s.io.

#![allow(clippy::unwrap_used)]

use std::time::{Duration, Instant};

use k8s_openapi::api::core::v1::{Node, Pod};
use kube::api::{Api, DeleteParams, PostParams};
use kube::config::{KubeConfigOptions, Kubeconfig};
use serde_json::json;

use kubelet::{ClusterSpec, Kubelet, KubeletConfig, MetricsStore};

struct Fixture {
    handle: devcluster::DevClusterHandle,
    client: kube::Client,
    stop: tokio::sync::watch::Sender<bool>,
}

async fn start() -> Fixture {
    let metrics = MetricsStore::default();
    let handle = devcluster::DevCluster::builder()
        .graceful_pod_deletion(true)
        .extension(metrics.router(), MetricsStore::resources())
        .start()
        .await
        .unwrap();
    let client = client_of(&handle).await;
    let nodes = ClusterSpec::uniform(2, 8, "NVIDIA-A100-SXM4-80GB", "80Gi")
        .resolve()
        .unwrap();
    let mut config = KubeletConfig::new(nodes);
    config.metrics_interval = Duration::from_millis(100);
    let kubelet = Kubelet::register(client.clone(), config, metrics)
        .await
        .unwrap();
    let (stop, mut rx) = tokio::sync::watch::channel(false);
    tokio::spawn(kubelet.run(async move {
        let _ = rx.wait_for(|s| *s).await;
    }));
    Fixture {
        handle,
        client,
        stop,
    }
}

/// A kube client of `handle`'s server, from the kubeconfig it writes.
async fn client_of(handle: &devcluster::DevClusterHandle) -> kube::Client {
    let kc = Kubeconfig::from_yaml(&handle.kubeconfig()).unwrap();
    let cfg = kube::Config::from_custom_kubeconfig(kc, &KubeConfigOptions::default())
        .await
        .unwrap();
    kube::Client::try_from(cfg).unwrap()
}

async fn until<T>(what: &str, mut f: impl AsyncFnMut() -> Option<T>) -> T {
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        if let Some(v) = f().await {
            return v;
        }
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

fn pod(name: &str, node: &str, annotations: serde_json::Value) -> Pod {
    serde_json::from_value(json!({
        "metadata": {"name": name, "annotations": annotations},
        "spec": {"nodeName": node, "restartPolicy": "Never",
                 "containers": [{"name": "main", "image": "busybox",
                                 "resources": {"requests": {"cpu": "2", "memory": "4Gi"}, "limits": {"nvidia.com/gpu": 4}}}]},
    }))
    .unwrap()
}

fn phase(p: &Pod) -> &str {
    p.status
        .as_ref()
        .and_then(|s| s.phase.as_deref())
        .unwrap_or("")
}

#[tokio::test]
async fn nodes_register_ready_with_gpu_capacity() {
    let f = start().await;
    let nodes: Api<Node> = Api::all(f.client.clone());
    let n = nodes.get("gpu-node-1").await.unwrap();
    let status = n.status.unwrap();
    assert_eq!(status.allocatable.unwrap()["nvidia.com/gpu"].0, "8");
    assert!(
        status
            .conditions
            .unwrap()
            .iter()
            .any(|c| c.type_ == "Ready" && c.status == "True")
    );
    let _ = f.stop.send(true);
    f.handle.shutdown().await;
}

#[tokio::test]
async fn pods_run_exit_and_are_removed_on_deletion() {
    let f = start().await;
    let pods: Api<Pod> = Api::namespaced(f.client.clone(), "default");
    let pp = PostParams::default();
    pods.create(
        &pp,
        &pod(
            "short",
            "gpu-node-0",
            json!({"sim.basalt.dev/duration": "300ms", "sim.basalt.dev/exit-code": "2"}),
        ),
    )
    .await
    .unwrap();
    pods.create(&pp, &pod("long", "gpu-node-1", json!({})))
        .await
        .unwrap();
    let failed = until("short to fail", async || {
        let p = pods.get("short").await.ok()?;
        (phase(&p) == "Failed").then_some(p)
    })
    .await;
    let cs = &failed.status.unwrap().container_statuses.unwrap()[0];
    assert_eq!(
        cs.state
            .as_ref()
            .unwrap()
            .terminated
            .as_ref()
            .unwrap()
            .exit_code,
        2
    );

    until("long to run", async || {
        (phase(&pods.get("long").await.ok()?) == "Running").then_some(())
    })
    .await;
    // metrics.k8s.io is served from the kubelet's samples: the running pod and its node.
    let top = f.client.request_text(http_get(
        "/apis/metrics.k8s.io/v1beta1/namespaces/default/pods/long",
    ));
    assert!(top.await.unwrap().contains("\"cpu\":\"2\""));
    let nodes: Api<Node> = Api::all(f.client.clone());
    until("gpu utilization 0.50 on gpu-node-1", async || {
        let n = nodes.get("gpu-node-1").await.ok()?;
        (n.metadata.annotations?.get("basalt.dev/gpu-utilization")? == "0.50").then_some(())
    })
    .await;
    let node_metrics = f
        .client
        .request_text(http_get("/apis/metrics.k8s.io/v1beta1/nodes/gpu-node-1"))
        .await
        .unwrap();
    assert!(node_metrics.contains("\"cpu\":\"2\""), "{node_metrics}");

    pods.delete("long", &DeleteParams::default()).await.unwrap();
    until("long to be removed", async || {
        pods.get_opt("long").await.ok()?.is_none().then_some(())
    })
    .await;
    let _ = f.stop.send(true);
    f.handle.shutdown().await;
}

fn http_get(path: &str) -> axum::http::Request<Vec<u8>> {
    axum::http::Request::get(path).body(vec![]).unwrap()
}

#[tokio::test]
async fn a_deleted_pod_held_by_a_finalizer_is_removed_once_it_is_released() {
    let f = start().await;
    let pods: Api<Pod> = Api::namespaced(f.client.clone(), "default");
    let mut held = pod("held", "gpu-node-0", json!({}));
    held.metadata.finalizers = Some(vec!["example.com/hold".into()]);
    pods.create(&PostParams::default(), &held).await.unwrap();
    until("held to run", async || {
        (phase(&pods.get("held").await.ok()?) == "Running").then_some(())
    })
    .await;
    pods.delete("held", &DeleteParams::default()).await.unwrap();
    tokio::time::sleep(Duration::from_millis(300)).await;
    let p = pods.get("held").await.unwrap();
    assert!(p.metadata.deletion_timestamp.is_some());
    let release = json!({"metadata": {"finalizers": null}});
    pods.patch(
        "held",
        &kube::api::PatchParams::default(),
        &kube::api::Patch::Merge(&release),
    )
    .await
    .unwrap();
    until("held to be removed", async || {
        pods.get_opt("held").await.ok()?.is_none().then_some(())
    })
    .await;
    let _ = f.stop.send(true);
    f.handle.shutdown().await;
}

#[tokio::test]
async fn a_pod_beyond_the_nodes_gpus_is_rejected_like_a_kubelet_does() {
    let f = start().await;
    let pods: Api<Pod> = Api::namespaced(f.client.clone(), "default");
    for name in ["a", "b"] {
        pods.create(&PostParams::default(), &pod(name, "gpu-node-0", json!({})))
            .await
            .unwrap();
        until("pod to run", async || {
            (phase(&pods.get(name).await.ok()?) == "Running").then_some(())
        })
        .await;
    }
    pods.create(&PostParams::default(), &pod("c", "gpu-node-0", json!({})))
        .await
        .unwrap();
    let rejected = until("c to be rejected", async || {
        let p = pods.get("c").await.ok()?;
        (phase(&p) == "Failed").then_some(p)
    })
    .await;
    let status = rejected.status.unwrap();
    assert_eq!(status.reason.as_deref(), Some("OutOfnvidia.com/gpu"));
    assert!(
        status
            .message
            .unwrap()
            .contains("requested: 4, used: 8, capacity: 8")
    );
    // Once a pod leaves, its GPUs are free again.
    pods.delete("a", &DeleteParams::default()).await.unwrap();
    until("a to be removed", async || {
        pods.get_opt("a").await.ok()?.is_none().then_some(())
    })
    .await;
    pods.create(&PostParams::default(), &pod("d", "gpu-node-0", json!({})))
        .await
        .unwrap();
    until("d to run", async || {
        (phase(&pods.get("d").await.ok()?) == "Running").then_some(())
    })
    .await;
    let _ = f.stop.send(true);
    f.handle.shutdown().await;
}

/// Registration survives a failed write at each of its steps, as under `basalt up
/// --fault-rate`: each step is retried on its own. The node creates get a conflict although no
/// node exists yet (believed only once a read finds the node), the status writes two server
/// errors, the Lease namespace's create a conflict although it does not exist, and the first
/// Lease a server error. Before, the first of these failed the whole registration.
#[tokio::test]
async fn registration_survives_a_failed_write_at_each_step() {
    let rules = [
        "verb=create,resource=nodes,status=409,count=2",
        "verb=patch,resource=nodes/status,status=500,count=2",
        "verb=create,resource=namespaces,status=409,count=1",
        "verb=create,resource=leases,status=503,count=1",
    ];
    let mut builder = devcluster::DevCluster::builder();
    for r in rules {
        builder = builder.fault_rule(r.parse().unwrap());
    }
    let handle = builder.start().await.unwrap();
    let client = client_of(&handle).await;
    let spec = ClusterSpec::uniform(2, 8, "NVIDIA-A100-SXM4-80GB", "80Gi")
        .resolve()
        .unwrap();
    Kubelet::register(
        client.clone(),
        KubeletConfig::new(spec),
        MetricsStore::default(),
    )
    .await
    .expect("registration retries each failed step");
    let nodes: Api<Node> = Api::all(client.clone());
    for name in ["gpu-node-0", "gpu-node-1"] {
        let n = nodes.get(name).await.unwrap();
        let conditions = n.status.unwrap().conditions.unwrap();
        assert!(
            conditions
                .iter()
                .any(|c| c.type_ == "Ready" && c.status == "True"),
            "{name}: {conditions:?}"
        );
    }
    let leases: Api<k8s_openapi::api::coordination::v1::Lease> =
        Api::namespaced(client, "kube-node-lease");
    assert_eq!(
        leases.list(&Default::default()).await.unwrap().items.len(),
        2
    );
    handle.shutdown().await;
}
