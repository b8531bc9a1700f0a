//! The in-process client (`DevClusterHandle::in_process_client`): what `basalt up`'s own
//! components use. It must behave as a client of the HTTPS port does — same objects, errors,
//! watches and fault rules — since only the transport differs.

#![allow(clippy::unwrap_used)]

mod common;

use std::time::Duration;

use common::{client_for, start_with};
use devcluster::DevCluster;
use futures_util::{StreamExt, TryStreamExt};
use k8s_openapi::api::core::v1::ConfigMap;
use kube::Api;
use kube::api::{PostParams, WatchEvent, WatchParams};

fn config_map(name: &str) -> ConfigMap {
    serde_json::from_value(serde_json::json!({
        "metadata": {"name": name},
        "data": {"k": "v"},
    }))
    .unwrap()
}

/// Writes through one transport are read and watched through the other, and the server's
/// validation errors arrive as the same `Status`.
#[tokio::test]
async fn an_in_process_client_reads_writes_and_watches_like_the_port() {
    let (handle, port) = start_with(DevCluster::builder()).await.unwrap();
    let local = handle.in_process_client("in-process-test/1");
    let via_port: Api<ConfigMap> = Api::namespaced(port.clone(), "default");
    let via_local: Api<ConfigMap> = Api::namespaced(local.clone(), "default");

    let watch = via_local
        .watch(&WatchParams::default().timeout(10), "0")
        .await
        .unwrap();
    via_local
        .create(&PostParams::default(), &config_map("written-in-process"))
        .await
        .unwrap();
    let seen = via_port.get("written-in-process").await.unwrap();
    assert_eq!(seen.data.unwrap()["k"], "v");

    via_port
        .create(&PostParams::default(), &config_map("written-via-port"))
        .await
        .unwrap();
    let names: Vec<String> = tokio::time::timeout(
        Duration::from_secs(10),
        watch
            .try_filter_map(|e| async move {
                Ok(match e {
                    WatchEvent::Added(cm) => cm.metadata.name,
                    _ => None,
                })
            })
            .take(2)
            .try_collect(),
    )
    .await
    .expect("the in-process watch delivers both creates")
    .unwrap();
    assert_eq!(names, ["written-in-process", "written-via-port"]);

    let err = via_local
        .create(&PostParams::default(), &config_map("Not_A_Valid_Name"))
        .await
        .unwrap_err();
    match err {
        kube::Error::Api(status) => {
            assert_eq!(status.code, 422, "{status:?}");
            assert!(status.message.contains("Not_A_Valid_Name"), "{status:?}");
        }
        other => panic!("expected the server's 422, got {other:?}"),
    }
    handle.shutdown().await;
    // As on a closed port: a transport error, not an answer from a store nobody serves.
    match via_local.get("written-in-process").await {
        Err(kube::Error::Api(status)) => panic!("answered after shutdown: {status:?}"),
        Err(_) => {}
        Ok(cm) => panic!("answered after shutdown: {cm:?}"),
    }
}

/// Dropping the handle stops the server for in-process clients too.
#[tokio::test]
async fn a_dropped_handle_refuses_in_process_requests() {
    let handle = DevCluster::builder().start().await.unwrap();
    let api: Api<ConfigMap> = Api::namespaced(handle.in_process_client("t/1"), "default");
    api.create(&PostParams::default(), &config_map("before"))
        .await
        .unwrap();
    drop(handle);
    assert!(api.get("before").await.is_err());
}

/// Fault rules see the in-process client's User-Agent, as they see a port client's: `basalt up
/// --fault-rule agent=basalt-controller/...` keeps working for the components it runs. And the
/// answers the client retries are those a kubeconfig's client retries.
#[tokio::test]
async fn fault_rules_match_the_in_process_clients_user_agent() {
    let builder = DevCluster::builder()
        .fault_rule(
            "verb=create,resource=configmaps,agent=victim/,status=500,count=1"
                .parse()
                .unwrap(),
        )
        .fault_rule(
            "verb=create,resource=configmaps,agent=patient/,status=503,count=1"
                .parse()
                .unwrap(),
        );
    let handle = builder.start().await.unwrap();
    let bystander: Api<ConfigMap> =
        Api::namespaced(handle.in_process_client("bystander/1"), "default");
    let victim: Api<ConfigMap> = Api::namespaced(handle.in_process_client("victim/1"), "default");

    bystander
        .create(&PostParams::default(), &config_map("bystander-first"))
        .await
        .expect("the rule names another agent");
    match victim
        .create(&PostParams::default(), &config_map("victim-first"))
        .await
    {
        Err(kube::Error::Api(status)) => assert_eq!(status.code, 500, "{status:?}"),
        other => panic!("expected the injected 500, got {other:?}"),
    }
    victim
        .create(&PostParams::default(), &config_map("victim-second"))
        .await
        .expect("the rule's count is spent");
    // A 503 is retried, as a kubeconfig's client retries it (kube's default retry).
    Api::<ConfigMap>::namespaced(handle.in_process_client("patient/1"), "default")
        .create(&PostParams::default(), &config_map("patient-first"))
        .await
        .expect("the injected 503 is retried");
    // The faulted create changed nothing; the kubeconfig's client sees what was written.
    let port = client_for(&handle.kubeconfig()).await.unwrap();
    let names: Vec<String> = Api::<ConfigMap>::namespaced(port, "default")
        .list(&Default::default())
        .await
        .unwrap()
        .items
        .into_iter()
        .filter_map(|c| c.metadata.name)
        .filter(|n| !n.starts_with("kube-root-ca"))
        .collect();
    assert_eq!(names, ["bystander-first", "patient-first", "victim-second"]);
    handle.shutdown().await;
}
