//! Hostile and careless clients through real HTTPS (issue 16): names and quantities that used to
//! be stored and then broke readers get a 422 naming the field, paths are percent-decoded, and a
//! client trickling its headers is cut off while others are served.

mod common;

use std::sync::Arc;
use std::time::{Duration, Instant};

use common::{start, start_with};
use devcluster::{ConnLimits, DevCluster};
use k8s_openapi::api::core::v1::{ConfigMap, Pod};
use kube::api::{Api, PostParams};
use serde_json::json;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

fn status_of(r: Result<impl std::fmt::Debug, kube::Error>) -> kube::core::Status {
    match r {
        Err(kube::Error::Api(s)) => *s,
        other => panic!("expected an API error, got {other:?}"),
    }
}

fn pod(name: &str, requests: serde_json::Value) -> anyhow::Result<Pod> {
    Ok(serde_json::from_value(json!({"metadata": {"name": name},
        "spec": {"containers": [{"name": "c", "image": "busybox",
            "resources": {"requests": requests}}]}}))?)
}

#[tokio::test]
async fn bad_names_and_quantities_get_422_naming_the_field() -> anyhow::Result<()> {
    let (h, client) = start().await?;
    let cms: Api<ConfigMap> = Api::default_namespaced(client.clone());
    let bad: ConfigMap = serde_json::from_value(json!({"metadata": {"name": "Bad_Name!"}}))?;
    let s = status_of(cms.create(&PostParams::default(), &bad).await);
    assert_eq!(s.code, 422, "{}", s.message);
    assert!(
        s.message.contains("metadata.name") && s.message.contains("RFC 1123 subdomain"),
        "{}",
        s.message
    );
    let pods: Api<Pod> = Api::default_namespaced(client.clone());
    let s = status_of(
        pods.create(
            &PostParams::default(),
            &pod("p", json!({"cpu": "lots", "memory": "-5Gi"}))?,
        )
        .await,
    );
    assert_eq!(s.code, 422, "{}", s.message);
    for field in [
        "spec.containers[0].resources.requests[cpu]: Invalid value: \"lots\"",
        "spec.containers[0].resources.requests[memory]: Invalid value: \"-5Gi\": must be greater than or equal to 0",
    ] {
        assert!(s.message.contains(field), "{field} not in {}", s.message);
    }
    // Huge but well-formed: kube-apiserver stores it; the scheduler refuses it, with a reason.
    pods.create(
        &PostParams::default(),
        &pod("huge", json!({"nvidia.com/gpu": "99999999999999999999999"}))?,
    )
    .await?;
    // Percent-encoded paths name the same object.
    let ok: ConfigMap = serde_json::from_value(json!({"metadata": {"name": "my-cm"}}))?;
    cms.create(&PostParams::default(), &ok).await?;
    let req =
        axum::http::Request::get("/api/v1/namespaces/default/configmaps/my%2Dcm").body(vec![])?;
    let text = client.request_text(req).await?;
    assert!(text.contains("\"name\":\"my-cm\""), "{text}");
    h.shutdown().await;
    Ok(())
}

async fn tls_connect(
    h: &devcluster::DevClusterHandle,
) -> anyhow::Result<tokio_rustls::client::TlsStream<tokio::net::TcpStream>> {
    use rustls::pki_types::pem::PemObject;
    let mut roots = rustls::RootCertStore::empty();
    for cert in rustls::pki_types::CertificateDer::pem_slice_iter(h.ca_pem().as_bytes()) {
        roots.add(cert?)?;
    }
    let config = rustls::ClientConfig::builder_with_provider(Arc::new(
        rustls::crypto::ring::default_provider(),
    ))
    .with_safe_default_protocol_versions()?
    .with_root_certificates(roots)
    .with_no_client_auth();
    let tcp = tokio::net::TcpStream::connect(h.addr()).await?;
    Ok(tokio_rustls::TlsConnector::from(Arc::new(config))
        .connect(
            rustls::pki_types::ServerName::try_from("127.0.0.1")?.to_owned(),
            tcp,
        )
        .await?)
}

#[tokio::test]
async fn slow_header_clients_are_closed_while_others_are_served() -> anyhow::Result<()> {
    let limits = ConnLimits {
        header_read_timeout: Duration::from_secs(2),
        ..ConnLimits::default()
    };
    let (h, client) = start_with(DevCluster::builder().conn_limits(limits)).await?;
    let mut slow = Vec::new();
    for _ in 0..20 {
        let mut s = tls_connect(&h).await?;
        s.write_all(b"GET /api/v1/namespaces HTTP/1.1\r\nHost: x\r\n")
            .await?;
        s.flush().await?;
        slow.push(tokio::spawn(async move {
            let start = Instant::now();
            let mut buf = [0u8; 512];
            loop {
                tokio::select! {
                    r = s.read(&mut buf) => match r {
                        Ok(n) if n > 0 => continue,
                        _ => return start.elapsed(),
                    },
                    _ = tokio::time::sleep(Duration::from_millis(300)) => {
                        if s.write_all(b"X-Slow: 1\r\n").await.is_err() {
                            return start.elapsed();
                        }
                        let _ = s.flush().await;
                    }
                }
            }
        }));
    }
    let cms: Api<ConfigMap> = Api::default_namespaced(client);
    let t = Instant::now();
    cms.list(&Default::default()).await?;
    assert!(t.elapsed() < Duration::from_secs(1), "{:?}", t.elapsed());
    for s in slow {
        let closed = tokio::time::timeout(Duration::from_secs(10), s)
            .await
            .expect("a slow client was never closed")?;
        assert!(closed < Duration::from_secs(6), "closed after {closed:?}");
    }
    h.shutdown().await;
    Ok(())
}

/// Watches started through `client`, each holding its stream open; `Err` for a refused one.
async fn open_watches(client: &kube::Client, n: usize) -> Vec<Result<(), kube::Error>> {
    use futures_util::StreamExt;
    let cms: Api<ConfigMap> = Api::default_namespaced(client.clone());
    let mut out = Vec::new();
    for _ in 0..n {
        let params = kube::api::WatchParams::default().timeout(120);
        let started = tokio::time::timeout(Duration::from_secs(10), cms.watch(&params, "0"));
        match started
            .await
            .expect("a watch was never answered (no connection accepted)")
        {
            Ok(stream) => {
                // Keep the stream open (and drained) for the rest of the test.
                tokio::spawn(async move {
                    let mut stream = std::pin::pin!(stream);
                    while stream.next().await.is_some() {}
                });
                out.push(Ok(()));
            }
            Err(e) => out.push(Err(e)),
        }
    }
    out
}

#[tokio::test]
async fn open_watches_never_keep_requests_from_being_served() -> anyhow::Result<()> {
    // Four connections at most. Before, each open watch held one of them for its lifetime, so
    // four watches (one client's informers) left every other request waiting in the kernel's
    // queue until a watch ended.
    let limits = ConnLimits {
        max_connections: 4,
        ..ConnLimits::default()
    };
    let (h, client) = start_with(DevCluster::builder().conn_limits(limits)).await?;
    let opened = open_watches(&client, 8).await;
    assert!(opened.iter().all(Result::is_ok), "{opened:?}");
    let cms: Api<ConfigMap> = Api::default_namespaced(client.clone());
    for i in 0..8 {
        let t = Instant::now();
        let cm: ConfigMap = serde_json::from_value(json!({"metadata": {"name": format!("c{i}")}}))?;
        tokio::time::timeout(
            Duration::from_secs(5),
            cms.create(&PostParams::default(), &cm),
        )
        .await
        .expect("a create waited behind open watches")?;
        assert!(t.elapsed() < Duration::from_secs(2), "{:?}", t.elapsed());
    }
    h.shutdown().await;
    Ok(())
}

#[tokio::test]
async fn watches_over_the_watch_cap_get_429_with_retry_after() -> anyhow::Result<()> {
    let limits = ConnLimits {
        max_watches: 3,
        ..ConnLimits::default()
    };
    let (h, client) = start_with(DevCluster::builder().conn_limits(limits)).await?;
    let opened = open_watches(&client, 5).await;
    assert!(opened[..3].iter().all(Result::is_ok), "{opened:?}");
    for refused in &opened[3..] {
        match refused {
            Err(kube::Error::Api(s)) => {
                assert_eq!(
                    (s.code, s.reason.as_str()),
                    (429, "TooManyRequests"),
                    "{s:?}"
                );
                assert!(s.message.contains("too many open watches"), "{}", s.message);
            }
            other => panic!("expected 429, got {other:?}"),
        }
    }
    // Requests other than watches are not limited by it.
    let cms: Api<ConfigMap> = Api::default_namespaced(client.clone());
    cms.list(&Default::default()).await?;
    h.shutdown().await;
    Ok(())
}
