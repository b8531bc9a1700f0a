//! Servers that cannot be starved (issue 16): clients that trickle their headers are cut off by
//! the header-read timeout while reviews keep answering quickly, a body that never arrives gets
//! 504, and connections beyond the cap wait in the kernel's queue instead of taking descriptors.

#![allow(clippy::unwrap_used)]

mod common;
// Only the raw and kept-alive connections of the shared client are used here.
#[allow(dead_code)]
#[path = "common/tls.rs"]
mod tls;

use std::time::{Duration, Instant};

use serde_json::Value;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use webhooks::{Server, ServerConfig};

async fn start(config: ServerConfig) -> (std::net::SocketAddr, String) {
    let server = Server::bind(config, common::cluster()).await.unwrap();
    let https = server.https_addr();
    let pem = server.generated_cert_pem.clone().unwrap();
    tokio::spawn(server.run(std::future::pending()));
    (https, pem)
}

fn review_body() -> Vec<u8> {
    let review = common::review(
        "Job",
        "CREATE",
        common::job("train", "team-a", 1, 1),
        Value::Null,
    );
    serde_json::to_vec(&review).unwrap()
}

/// Sends a request line, then one header line a second; returns how long until the server
/// closed the connection.
async fn slow_header_client(addr: std::net::SocketAddr, pem: String) -> Duration {
    let start = Instant::now();
    let mut s = tls::connect_raw(addr, &pem).await.unwrap();
    s.write_all(b"POST /jobs/validate HTTP/1.1\r\nHost: localhost\r\n")
        .await
        .unwrap();
    s.flush().await.unwrap();
    let mut buf = [0u8; 1024];
    loop {
        tokio::select! {
            r = s.read(&mut buf) => match r {
                Ok(n) if n > 0 => continue,
                _ => return start.elapsed(),
            },
            _ = tokio::time::sleep(Duration::from_secs(1)) => {
                if s.write_all(b"X-Slow: 1\r\n").await.is_err() || s.flush().await.is_err() {
                    return start.elapsed();
                }
            }
        }
    }
}

#[tokio::test]
async fn fifty_slow_header_clients_are_closed_within_35s_while_reviews_answer_in_1s() {
    // The defaults, as `basalt webhook` runs them (header-read timeout 30 s).
    let (addr, pem) = start(ServerConfig::local_test()).await;
    let slow: Vec<_> = (0..50)
        .map(|_| tokio::spawn(slow_header_client(addr, pem.clone())))
        .collect();
    tokio::time::sleep(Duration::from_secs(2)).await;
    let body = review_body();
    for _ in 0..5 {
        let t = Instant::now();
        let mut c = tls::connect(addr, &pem).await.unwrap();
        let (status, _) = c.post("/jobs/mutate", body.clone()).await.unwrap();
        let took = t.elapsed();
        assert_eq!(status, 200);
        assert!(took < Duration::from_secs(1), "review took {took:?}");
        tokio::time::sleep(Duration::from_secs(3)).await;
    }
    for s in slow {
        let closed_after = tokio::time::timeout(Duration::from_secs(40), s)
            .await
            .expect("slow client never closed")
            .unwrap();
        assert!(
            closed_after < Duration::from_secs(35),
            "closed after {closed_after:?}"
        );
        assert!(
            closed_after >= Duration::from_secs(25),
            "closed early ({closed_after:?}): not the header timeout"
        );
    }
}

#[tokio::test]
async fn a_body_that_never_arrives_gets_504() {
    let mut config = ServerConfig::local_test();
    config.limits.request_timeout = Duration::from_secs(1);
    let (addr, pem) = start(config).await;
    let mut s = tls::connect_raw(addr, &pem).await.unwrap();
    s.write_all(b"POST /jobs/validate HTTP/1.1\r\nHost: localhost\r\nContent-Type: application/json\r\nContent-Length: 1000\r\n\r\n{")
        .await
        .unwrap();
    s.flush().await.unwrap();
    let mut out = Vec::new();
    let mut buf = [0u8; 4096];
    let t = Instant::now();
    while !String::from_utf8_lossy(&out).contains("retry") {
        let n = tokio::time::timeout(Duration::from_secs(10), s.read(&mut buf))
            .await
            .expect("no answer")
            .unwrap();
        assert!(n > 0, "closed without an answer");
        out.extend_from_slice(&buf[..n]);
    }
    let text = String::from_utf8_lossy(&out);
    assert!(text.starts_with("HTTP/1.1 504"), "{text}");
    assert!(text.contains("did not complete within 1s"), "{text}");
    assert!(t.elapsed() < Duration::from_secs(5));
}

#[tokio::test]
async fn connections_beyond_the_cap_wait_until_one_closes() {
    let mut config = ServerConfig::local_test();
    config.limits.max_connections = 3;
    let (addr, pem) = start(config).await;
    let mut held = Vec::new();
    for _ in 0..3 {
        held.push(tls::connect(addr, &pem).await.unwrap());
    }
    // The fourth is not accepted: its TLS handshake cannot complete.
    let fourth = tokio::spawn({
        let pem = pem.clone();
        async move { tls::connect(addr, &pem).await.map(|_| Instant::now()) }
    });
    tokio::time::sleep(Duration::from_secs(1)).await;
    assert!(!fourth.is_finished(), "a fourth connection was served");
    let released = Instant::now();
    drop(held.pop());
    let served = tokio::time::timeout(Duration::from_secs(5), fourth)
        .await
        .expect("never served after a slot freed")
        .unwrap()
        .unwrap();
    assert!(served >= released);
}

/// GETs `path` over plain HTTP/1.1; returns the status line and how long the answer took.
async fn plain_get(addr: std::net::SocketAddr, path: &str) -> (String, Duration) {
    let t = Instant::now();
    let mut s = tokio::net::TcpStream::connect(addr).await.unwrap();
    s.write_all(
        format!("GET {path} HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n").as_bytes(),
    )
    .await
    .unwrap();
    let mut out = Vec::new();
    tokio::time::timeout(Duration::from_secs(10), s.read_to_end(&mut out))
        .await
        .expect("no answer")
        .unwrap();
    let text = String::from_utf8_lossy(&out);
    (text.lines().next().unwrap_or("").to_owned(), t.elapsed())
}

#[tokio::test]
async fn slow_clients_on_the_health_port_are_closed_while_probes_answer() {
    let mut config = ServerConfig::local_test();
    config.ops_limits.header_read_timeout = Duration::from_secs(2);
    config.ops_limits.max_connections = 40;
    let server = Server::bind(config, common::cluster()).await.unwrap();
    let health = server.health_addr();
    tokio::spawn(server.run(std::future::pending()));
    // 30 clients that send a request line and then nothing.
    let slow: Vec<_> = (0..30)
        .map(|_| {
            tokio::spawn(async move {
                let t = Instant::now();
                let mut s = tokio::net::TcpStream::connect(health).await.unwrap();
                s.write_all(b"GET /healthz HTTP/1.1\r\n").await.unwrap();
                let mut buf = [0u8; 256];
                while matches!(s.read(&mut buf).await, Ok(n) if n > 0) {}
                t.elapsed()
            })
        })
        .collect();
    tokio::time::sleep(Duration::from_millis(500)).await;
    let (status, took) = plain_get(health, "/healthz").await;
    assert_eq!(status, "HTTP/1.1 200 OK");
    assert!(took < Duration::from_secs(1), "probe took {took:?}");
    for s in slow {
        let closed_after = tokio::time::timeout(Duration::from_secs(10), s)
            .await
            .expect("a slow client on the health port was never closed")
            .unwrap();
        assert!(
            (Duration::from_secs(2)..Duration::from_secs(6)).contains(&closed_after),
            "closed after {closed_after:?}, not by the 2 s header deadline"
        );
    }
}
