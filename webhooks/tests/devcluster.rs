//! Through the dev API server: the reflector-backed view (`KubeState`) sees queues and node
//! capacity, `register` installs the configurations, and the API server calls our TLS server,
//! so a kube client's create is refused with our message and a valid one is defaulted.

#![allow(clippy::unwrap_used)]

use std::sync::Arc;
use std::time::{Duration, Instant};

use crds::{Job, PodGroup, Queue};
use k8s_openapi::api::core::v1::{Namespace, Node};
use kube::api::{Api, PostParams};
use serde_json::json;
use webhooks::{ClusterState, KubeState, Server, ServerConfig, TlsSource};

async fn until(what: &str, mut probe: impl FnMut() -> bool) {
    let deadline = Instant::now() + Duration::from_secs(20);
    while !probe() {
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

#[tokio::test]
async fn the_dev_api_server_calls_our_webhooks_over_tls() {
    webhooks::certs::install_default_provider();
    let mut builder = devcluster::DevCluster::builder();
    for crd in crds::crd::all() {
        builder = builder.crd(serde_json::to_value(&crd).unwrap());
    }
    let handle = builder.start().await.unwrap();
    let kc = kube::config::Kubeconfig::from_yaml(&handle.kubeconfig()).unwrap();
    let cfg = kube::Config::from_custom_kubeconfig(kc, &Default::default())
        .await
        .unwrap();
    let client = kube::Client::try_from(cfg).unwrap();

    // Two 8-GPU nodes and the queues, before the webhooks exist.
    let nodes: Api<Node> = Api::all(client.clone());
    for name in ["gpu-0", "gpu-1"] {
        let node: Node = serde_json::from_value(json!({"metadata": {"name": name},
            "status": {"allocatable": {"nvidia.com/gpu": "8", "cpu": "64", "memory": "256Gi"}}}))
        .unwrap();
        nodes.create(&PostParams::default(), &node).await.unwrap();
        nodes
            .patch_status(
                name,
                &Default::default(),
                &kube::api::Patch::Merge(json!({"status": node.status})),
            )
            .await
            .unwrap();
    }
    let queues: Api<Queue> = Api::all(client.clone());
    for q in [
        json!({"metadata": {"name": "default"}, "spec": {"weight": 1}}),
        json!({"metadata": {"name": "team-a"}, "spec": {"capability": {"nvidia.com/gpu": "12"}}}),
    ] {
        let mut q = q;
        q["apiVersion"] = json!("scheduling.volcano.sh/v1beta1");
        q["kind"] = json!("Queue");
        queues
            .create(&PostParams::default(), &serde_json::from_value(q).unwrap())
            .await
            .unwrap();
    }

    let state = KubeState::start(client.clone());
    until("the view to list everything", || {
        state.ready() && state.queue("team-a").is_some()
    })
    .await;
    until("both nodes' capacity", || {
        state.capacity().total.get("nvidia.com/gpu") == Some(&16)
    })
    .await;

    let cert = handle
        .certificate_authority()
        .issue(&["127.0.0.1".to_owned()])
        .unwrap();
    let mut config = ServerConfig::local_test();
    config.tls = TlsSource::Pem {
        cert: cert.cert_pem,
        key: cert.key_pem,
    };
    config.queue_grace = Duration::from_secs(2);
    let server = Server::bind(config, Arc::new(state)).await.unwrap();
    let url = format!("https://{}", server.https_addr());
    tokio::spawn(server.run(std::future::pending()));
    webhooks::registration::register(
        client.clone(),
        handle.ca_pem(),
        &webhooks::ClientConfig::Url(url),
    )
    .await
    .unwrap();

    let jobs: Api<Job> = Api::namespaced(client.clone(), "default");
    let job = |name: &str, queue: &str, replicas: i32, image: Option<&str>| -> Job {
        serde_json::from_value(
            json!({"apiVersion": "batch.volcano.sh/v1alpha1", "kind": "Job",
            "metadata": {"name": name}, "spec": {"queue": queue, "tasks": [{"replicas": replicas,
            "template": {"spec": {"containers": [{"name": "w", "image": image,
            "resources": {"limits": {"nvidia.com/gpu": "4"}}}]}}}]}}),
        )
        .unwrap()
    };
    let refused = |e: kube::Error| match e {
        kube::Error::Api(s) => s.message,
        other => panic!("expected a refusal, got {other}"),
    };
    let msg = refused(
        jobs.create(&PostParams::default(), &job("big", "team-a", 4, Some("x")))
            .await
            .unwrap_err(),
    );
    assert!(msg.contains("job \"big\" needs 16 nvidia.com/gpu to start (minAvailable 4 × 4) but queue \"team-a\" allows 12"), "{msg}");
    let msg = refused(
        jobs.create(
            &PostParams::default(),
            &job("huge", "default", 5, Some("x")),
        )
        .await
        .unwrap_err(),
    );
    assert!(
        msg.contains("but the whole cluster has 16 on 2 nodes"),
        "{msg}"
    );
    let msg = refused(
        jobs.create(&PostParams::default(), &job("noimg", "default", 1, None))
            .await
            .unwrap_err(),
    );
    assert!(
        msg.contains("admission webhook \"jobs-validate.basalt.dev\" denied the request"),
        "{msg}"
    );
    assert!(msg.contains("image is missing"), "{msg}");

    let created = jobs
        .create(&PostParams::default(), &job("ok", "team-a", 3, Some("x")))
        .await
        .unwrap();
    assert_eq!(created.spec.scheduler_name.as_deref(), Some("volcano"));
    assert_eq!(created.spec.min_available, Some(3));
    assert_eq!(created.spec.tasks[0].name.as_deref(), Some("default0"));
    assert!(jobs.get_opt("big").await.unwrap().is_none());

    // A PodGroup of the default queue in a namespace annotated with a queue moves there (Volcano's
    // PodGroup mutating webhook); one naming a queue that does not exist is refused.
    let namespaces: Api<Namespace> = Api::all(client.clone());
    for (ns, queue) in [("team-a-ns", "team-a"), ("ghost-ns", "ghost")] {
        let ns: Namespace = serde_json::from_value(json!({"metadata": {"name": ns,
            "annotations": {"scheduling.volcano.sh/queue-name": queue}}}))
        .unwrap();
        namespaces
            .create(&PostParams::default(), &ns)
            .await
            .unwrap();
    }
    let pg = |queue: &str| -> PodGroup {
        serde_json::from_value(json!({"apiVersion": "scheduling.volcano.sh/v1beta1",
            "kind": "PodGroup", "metadata": {"name": "pg"},
            "spec": {"minMember": 1, "queue": queue}}))
        .unwrap()
    };
    let team: Api<PodGroup> = Api::namespaced(client.clone(), "team-a-ns");
    let created = team
        .create(&PostParams::default(), &pg("default"))
        .await
        .unwrap();
    assert_eq!(created.spec.queue.as_deref(), Some("team-a"));
    let ghost: Api<PodGroup> = Api::namespaced(client.clone(), "ghost-ns");
    let msg = refused(
        ghost
            .create(&PostParams::default(), &pg("default"))
            .await
            .unwrap_err(),
    );
    assert!(
        msg.contains(
            "annotation of namespace \"ghost-ns\") names queue \"ghost\", which does not exist"
        ),
        "{msg}"
    );
}
