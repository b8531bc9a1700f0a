//! The TLS server end to end on loopback: admission over HTTPS, health/readiness/metrics on the
//! plain port, and certificate hot reload from files.

#![allow(clippy::unwrap_used)]

mod common;
#[path = "common/tls.rs"]
mod tls;

use std::sync::Arc;
use std::time::{Duration, Instant};

use serde_json::{Value, json};
use webhooks::{Server, ServerConfig, TlsSource};

#[tokio::test]
async fn serves_reviews_over_tls_with_health_and_metrics() {
    let server = Server::bind(ServerConfig::local_test(), common::cluster())
        .await
        .unwrap();
    let (https, health) = (server.https_addr(), server.health_addr());
    let pem = server.generated_cert_pem.clone().unwrap();
    let (stop_tx, stop_rx) = tokio::sync::oneshot::channel::<()>();
    let running = tokio::spawn(server.run(async move {
        let _ = stop_rx.await;
    }));

    let mut client = tls::connect(https, &pem).await.unwrap();
    let review = common::review(
        "Job",
        "CREATE",
        common::job("train", "team-a", 3, 8),
        Value::Null,
    );
    let (status, body) = client
        .post("/jobs/validate", serde_json::to_vec(&review).unwrap())
        .await
        .unwrap();
    assert_eq!(status, 200);
    let v: Value = serde_json::from_slice(&body).unwrap();
    assert_eq!(v["response"]["allowed"], false);
    assert!(
        v["response"]["status"]["message"]
            .as_str()
            .unwrap()
            .contains("queue \"team-a\" allows 20")
    );
    let (status, body) = client
        .post("/jobs/validate", b"garbage".to_vec())
        .await
        .unwrap();
    assert_eq!(status, 400);
    assert!(String::from_utf8_lossy(&body).contains("not an admission.k8s.io/v1 AdmissionReview"));

    assert_eq!(
        tls::http_get(health, "/healthz").await.unwrap(),
        (200, "ok".to_owned())
    );
    assert_eq!(tls::http_get(health, "/readyz").await.unwrap().0, 200);
    let (status, metrics) = tls::http_get(health, "/metrics").await.unwrap();
    assert_eq!(status, 200);
    assert!(
        metrics.contains(
            "basalt_webhook_reviews_total{route=\"/jobs/validate\",outcome=\"denied\"} 1"
        ),
        "{metrics}"
    );
    assert!(metrics.contains("outcome=\"bad_request\"} 1"), "{metrics}");
    assert!(
        metrics.contains("basalt_webhook_review_duration_seconds_bucket"),
        "{metrics}"
    );

    stop_tx.send(()).unwrap();
    tokio::time::timeout(Duration::from_secs(10), running)
        .await
        .unwrap()
        .unwrap()
        .unwrap();
}

#[tokio::test]
async fn certificate_files_are_reloaded_when_they_change() {
    let dir = std::env::temp_dir().join(format!("basalt-webhook-certs-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let (cert_path, key_path) = (dir.join("tls.crt"), dir.join("tls.key"));
    let names = vec!["localhost".to_owned()];
    let (cert_a, key_a) = webhooks::certs::self_signed(&names).unwrap();
    std::fs::write(&cert_path, &cert_a).unwrap();
    std::fs::write(&key_path, &key_a).unwrap();

    let mut config = ServerConfig::local_test();
    config.tls = TlsSource::Files {
        cert: cert_path.clone(),
        key: key_path.clone(),
    };
    config.reload_interval = Duration::from_millis(50);
    let server = Server::bind(
        config,
        Arc::new(webhooks::InMemoryState::with_default_queues()),
    )
    .await
    .unwrap();
    let https = server.https_addr();
    let served = server.certificate();
    let (stop_tx, stop_rx) = tokio::sync::oneshot::channel::<()>();
    let running = tokio::spawn(server.run(async move {
        let _ = stop_rx.await;
    }));

    let first = tls::connect(https, &cert_a).await.unwrap();
    let (cert_b, key_b) = webhooks::certs::self_signed(&names).unwrap();
    std::fs::write(&key_path, &key_b).unwrap();
    std::fs::write(&cert_path, &cert_b).unwrap();
    // Poll (no guessed sleep): the watcher picks the new files up within a few intervals.
    let deadline = Instant::now() + Duration::from_secs(10);
    let second = loop {
        match tls::connect(https, &cert_b).await {
            Ok(c) => break c,
            Err(_) if Instant::now() < deadline => {
                tokio::time::sleep(Duration::from_millis(25)).await
            }
            Err(e) => panic!("new certificate never served: {e}"),
        }
    };
    assert_ne!(first.peer_cert, second.peer_cert);
    // A broken file keeps the current certificate.
    std::fs::write(&cert_path, "not a certificate").unwrap();
    let err = served.reload_if_changed().unwrap_err();
    assert!(err.to_string().contains("tls.crt"), "{err}");
    let mut third = tls::connect(https, &cert_b).await.unwrap();
    let review = common::review(
        "Queue",
        "CREATE",
        common::queue_obj("q", json!({})),
        Value::Null,
    );
    let (status, _) = third
        .post("/queues/validate", serde_json::to_vec(&review).unwrap())
        .await
        .unwrap();
    assert_eq!(status, 200);

    stop_tx.send(()).unwrap();
    tokio::time::timeout(Duration::from_secs(10), running)
        .await
        .unwrap()
        .unwrap()
        .unwrap();
    let _ = std::fs::remove_dir_all(&dir);
}
