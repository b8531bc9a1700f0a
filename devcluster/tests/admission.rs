//! Admission webhooks called by the dev cluster over HTTPS (caBundle verified): denial
//! messages reach the client, JSONPatch mutations are applied, failurePolicy decides what a
//! failed call does, and namespaceSelector limits where a webhook applies.

mod common;

use std::net::SocketAddr;

use axum::Json;
use axum::routing::post;
use base64::Engine as _;
use k8s_openapi::api::core::v1::{ConfigMap, Namespace, Pod};
use kube::api::{Api, DynamicObject, PostParams};
use kube::discovery::ApiResource;
use serde_json::{Value, json};

async fn validate(Json(review): Json<Value>) -> Json<Value> {
    let req = &review["request"];
    let deny = req["object"]["metadata"]["labels"]["deny"] == "yes";
    let mut resp =
        json!({"uid": req["uid"], "allowed": !deny, "warnings": ["checked by the test webhook"]});
    if deny {
        resp["status"] = json!({"code": 403, "message": "pods labelled deny=yes are refused"});
    }
    Json(json!({"apiVersion": "admission.k8s.io/v1", "kind": "AdmissionReview", "response": resp}))
}

async fn mutate(Json(review): Json<Value>) -> Json<Value> {
    let req = &review["request"];
    let patch = if req["object"]["metadata"]["labels"].is_object() {
        json!([{"op": "add", "path": "/metadata/labels/mutated", "value": "true"}])
    } else {
        json!([{"op": "add", "path": "/metadata/labels", "value": {"mutated": "true"}}])
    };
    let b64 = base64::engine::general_purpose::STANDARD.encode(patch.to_string());
    Json(
        json!({"apiVersion": "admission.k8s.io/v1", "kind": "AdmissionReview",
        "response": {"uid": req["uid"], "allowed": true, "patchType": "JSONPatch", "patch": b64}}),
    )
}

async fn webhook_server(h: &devcluster::DevClusterHandle) -> anyhow::Result<SocketAddr> {
    let cert = h
        .certificate_authority()
        .issue(&["127.0.0.1".to_string(), "localhost".to_string()])?;
    let tcp = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let addr = tcp.local_addr()?;
    let tls = cert.server_config()?;
    let slow = || async {
        tokio::time::sleep(std::time::Duration::from_secs(3)).await;
        Json(json!({}))
    };
    let app = axum::Router::new()
        .route("/slow", post(slow))
        .route("/validate", post(validate))
        .route("/mutate", post(mutate));
    let limits = devcluster::ConnLimits::default();
    tokio::spawn(devcluster::serve_tls(
        tcp,
        tls,
        app,
        limits,
        std::future::pending(),
    ));
    Ok(addr)
}

fn hook(name: &str, url: &str, ca: &str, resources: &[&str], policy: &str) -> Value {
    json!({"name": name, "admissionReviewVersions": ["v1"], "sideEffects": "None", "failurePolicy": policy,
        "timeoutSeconds": 2, "clientConfig": {"url": url, "caBundle": ca},
        "rules": [{"operations": ["CREATE", "UPDATE"], "apiGroups": [""], "apiVersions": ["v1"], "resources": resources}]})
}

async fn register(
    client: &kube::Client,
    kind: &str,
    plural: &str,
    name: &str,
    hooks: Vec<Value>,
) -> anyhow::Result<()> {
    let gvk = kube::core::GroupVersionKind::gvk("admissionregistration.k8s.io", "v1", kind);
    let api: Api<DynamicObject> = Api::all_with(
        client.clone(),
        &ApiResource::from_gvk_with_plural(&gvk, plural),
    );
    let obj: DynamicObject =
        serde_json::from_value(json!({"apiVersion": "admissionregistration.k8s.io/v1",
        "kind": kind, "metadata": {"name": name}, "webhooks": hooks}))?;
    api.create(&PostParams::default(), &obj).await?;
    Ok(())
}

fn pod(name: &str, labels: Value) -> anyhow::Result<Pod> {
    Ok(serde_json::from_value(
        json!({"metadata": {"name": name, "labels": labels},
        "spec": {"containers": [{"name": "main", "image": "busybox"}]}}),
    )?)
}

#[tokio::test]
async fn webhooks_deny_mutate_and_fail_by_policy() -> anyhow::Result<()> {
    let (h, client) = common::start().await?;
    let addr = webhook_server(&h).await?;
    let ca = base64::engine::general_purpose::STANDARD.encode(h.ca_pem());
    let base = format!("https://127.0.0.1:{}", addr.port());
    register(
        &client,
        "ValidatingWebhookConfiguration",
        "validatingwebhookconfigurations",
        "deny",
        vec![hook(
            "deny.example.com",
            &format!("{base}/validate"),
            &ca,
            &["pods"],
            "Fail",
        )],
    )
    .await?;
    register(
        &client,
        "MutatingWebhookConfiguration",
        "mutatingwebhookconfigurations",
        "label",
        vec![hook(
            "label.example.com",
            &format!("{base}/mutate"),
            &ca,
            &["pods"],
            "Fail",
        )],
    )
    .await?;
    let pods: Api<Pod> = Api::default_namespaced(client.clone());
    match pods
        .create(
            &PostParams::default(),
            &pod("denied", json!({"deny": "yes"}))?,
        )
        .await
    {
        Err(kube::Error::Api(s)) => {
            assert_eq!(s.code, 403);
            assert_eq!(
                s.message,
                "admission webhook \"deny.example.com\" denied the request: pods labelled deny=yes are refused"
            );
        }
        other => panic!("expected a denial, got {other:?}"),
    }
    let ok = pods
        .create(
            &PostParams::default(),
            &pod("allowed", json!({"app": "x"}))?,
        )
        .await?;
    assert_eq!(
        ok.metadata
            .labels
            .unwrap_or_default()
            .get("mutated")
            .map(String::as_str),
        Some("true")
    );

    // a webhook nobody answers: Fail refuses the request, Ignore lets it through
    let dead = "https://127.0.0.1:9/validate";
    register(
        &client,
        "ValidatingWebhookConfiguration",
        "validatingwebhookconfigurations",
        "dead-fail",
        vec![hook("dead.example.com", dead, &ca, &["configmaps"], "Fail")],
    )
    .await?;
    let cms: Api<ConfigMap> = Api::default_namespaced(client.clone());
    let cm: ConfigMap = serde_json::from_value(json!({"metadata": {"name": "c1"}}))?;
    match cms.create(&PostParams::default(), &cm).await {
        Err(kube::Error::Api(s)) => {
            assert_eq!(s.code, 500);
            assert!(
                s.message
                    .contains("failed calling webhook \"dead.example.com\""),
                "{}",
                s.message
            );
        }
        other => panic!("expected a webhook failure, got {other:?}"),
    }
    let gvk = kube::core::GroupVersionKind::gvk(
        "admissionregistration.k8s.io",
        "v1",
        "ValidatingWebhookConfiguration",
    );
    let vwc: Api<DynamicObject> = Api::all_with(
        client.clone(),
        &ApiResource::from_gvk_with_plural(&gvk, "validatingwebhookconfigurations"),
    );
    vwc.delete("dead-fail", &Default::default()).await?;
    register(
        &client,
        "ValidatingWebhookConfiguration",
        "validatingwebhookconfigurations",
        "dead-ignore",
        vec![hook(
            "dead.example.com",
            dead,
            &ca,
            &["configmaps"],
            "Ignore",
        )],
    )
    .await?;
    cms.create(&PostParams::default(), &cm).await?;
    h.shutdown().await;
    Ok(())
}

#[tokio::test]
async fn namespace_selector_limits_a_webhook() -> anyhow::Result<()> {
    let (h, client) = common::start().await?;
    let addr = webhook_server(&h).await?;
    let ca = base64::engine::general_purpose::STANDARD.encode(h.ca_pem());
    let mut hk = hook(
        "deny.example.com",
        &format!("https://127.0.0.1:{}/validate", addr.port()),
        &ca,
        &["pods"],
        "Fail",
    );
    hk["namespaceSelector"] = json!({"matchLabels": {"guarded": "yes"}});
    register(
        &client,
        "ValidatingWebhookConfiguration",
        "validatingwebhookconfigurations",
        "guard",
        vec![hk],
    )
    .await?;
    let nss: Api<Namespace> = Api::all(client.clone());
    nss.create(
        &PostParams::default(),
        &serde_json::from_value(
            json!({"metadata": {"name": "guarded", "labels": {"guarded": "yes"}}}),
        )?,
    )
    .await?;
    let free: Api<Pod> = Api::default_namespaced(client.clone());
    free.create(&PostParams::default(), &pod("p", json!({"deny": "yes"}))?)
        .await?;
    let guarded: Api<Pod> = Api::namespaced(client, "guarded");
    assert!(
        guarded
            .create(&PostParams::default(), &pod("p", json!({"deny": "yes"}))?)
            .await
            .is_err()
    );
    h.shutdown().await;
    Ok(())
}

#[tokio::test]
async fn timeout_and_object_selector() -> anyhow::Result<()> {
    let (h, client) = common::start().await?;
    let addr = webhook_server(&h).await?;
    let ca = base64::engine::general_purpose::STANDARD.encode(h.ca_pem());
    let base = format!("https://127.0.0.1:{}", addr.port());
    // a webhook slower than its timeoutSeconds fails the request (failurePolicy Fail)
    let mut slow = hook(
        "slow.example.com",
        &format!("{base}/slow"),
        &ca,
        &["configmaps"],
        "Fail",
    );
    slow["timeoutSeconds"] = json!(1);
    register(
        &client,
        "ValidatingWebhookConfiguration",
        "validatingwebhookconfigurations",
        "slow",
        vec![slow],
    )
    .await?;
    let cms: Api<ConfigMap> = Api::default_namespaced(client.clone());
    let cm: ConfigMap = serde_json::from_value(json!({"metadata": {"name": "c1"}}))?;
    let started = std::time::Instant::now();
    match cms.create(&PostParams::default(), &cm).await {
        Err(kube::Error::Api(s)) => assert!(s.message.contains("deadline"), "{}", s.message),
        other => panic!("expected a timeout, got {other:?}"),
    }
    assert!(
        started.elapsed() < std::time::Duration::from_millis(2500),
        "timeoutSeconds not honoured"
    );
    // objectSelector: only pods labelled checked=yes go to the denying webhook
    let mut hk = hook(
        "deny.example.com",
        &format!("{base}/validate"),
        &ca,
        &["pods"],
        "Fail",
    );
    hk["objectSelector"] =
        json!({"matchExpressions": [{"key": "checked", "operator": "In", "values": ["yes"]}]});
    register(
        &client,
        "ValidatingWebhookConfiguration",
        "validatingwebhookconfigurations",
        "objsel",
        vec![hk],
    )
    .await?;
    let pods: Api<Pod> = Api::default_namespaced(client);
    pods.create(
        &PostParams::default(),
        &pod("unchecked", json!({"deny": "yes"}))?,
    )
    .await?;
    assert!(
        pods.create(
            &PostParams::default(),
            &pod("checked", json!({"deny": "yes", "checked": "yes"}))?
        )
        .await
        .is_err()
    );
    h.shutdown().await;
    Ok(())
}
