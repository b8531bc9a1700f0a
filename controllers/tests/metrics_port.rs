//! The controller's metrics and health port (`basalt controller --metrics-addr`) cannot be
//! starved: clients that open a connection and never finish their request are closed by the
//! header deadline, while probes keep answering.

#![allow(clippy::unwrap_used)] // a test fails by panicking

use std::sync::Arc;
use std::time::{Duration, Instant};

use controllers::serve::{ConnLimits, METRICS_LIMITS};
use controllers::{Health, Metrics};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

async fn plain_get(addr: std::net::SocketAddr, path: &str) -> (String, Duration) {
    let t = Instant::now();
    let mut s = tokio::net::TcpStream::connect(addr).await.unwrap();
    let req = format!("GET {path} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n");
    s.write_all(req.as_bytes()).await.unwrap();
    let mut out = Vec::new();
    s.read_to_end(&mut out).await.unwrap();
    let text = String::from_utf8_lossy(&out);
    (text.lines().next().unwrap_or("").to_owned(), t.elapsed())
}

#[tokio::test]
async fn slow_clients_on_the_metrics_port_are_closed_while_probes_answer() {
    let limits = ConnLimits {
        header_read_timeout: Duration::from_secs(2),
        request_timeout: Duration::from_secs(2),
        max_connections: 40,
        ..METRICS_LIMITS
    };
    let (addr, server) = controllers::metrics::serve_with(
        "127.0.0.1:0".parse().unwrap(),
        Arc::new(Metrics::new()),
        Arc::new(Health::default()),
        limits,
    )
    .await
    .unwrap();
    tokio::spawn(server);
    // 30 clients that send a request line and then nothing.
    let slow: Vec<_> = (0..30)
        .map(|_| {
            tokio::spawn(async move {
                let t = Instant::now();
                let mut s = tokio::net::TcpStream::connect(addr).await.unwrap();
                s.write_all(b"GET /metrics HTTP/1.1\r\n").await.unwrap();
                let mut buf = [0u8; 256];
                while matches!(s.read(&mut buf).await, Ok(n) if n > 0) {}
                t.elapsed()
            })
        })
        .collect();
    tokio::time::sleep(Duration::from_millis(500)).await;
    let (status, took) = plain_get(addr, "/healthz").await;
    assert_eq!(status, "HTTP/1.1 200 OK");
    assert!(took < Duration::from_secs(1), "probe took {took:?}");
    for s in slow {
        let closed_after = tokio::time::timeout(Duration::from_secs(10), s)
            .await
            .expect("a slow client on the metrics port was never closed")
            .unwrap();
        assert!(
            (Duration::from_secs(2)..Duration::from_secs(6)).contains(&closed_after),
            "closed after {closed_after:?}, not by the 2 s header deadline"
        );
    }
}

#[tokio::test]
async fn connections_beyond_the_cap_wait_until_one_closes() {
    let limits = ConnLimits {
        header_read_timeout: Duration::from_secs(3),
        request_timeout: Duration::from_secs(3),
        max_connections: 2,
        ..METRICS_LIMITS
    };
    let (addr, server) = controllers::metrics::serve_with(
        "127.0.0.1:0".parse().unwrap(),
        Arc::new(Metrics::new()),
        Arc::new(Health::default()),
        limits,
    )
    .await
    .unwrap();
    tokio::spawn(server);
    let mut idle = Vec::new();
    for _ in 0..2 {
        idle.push(tokio::net::TcpStream::connect(addr).await.unwrap());
    }
    tokio::time::sleep(Duration::from_millis(200)).await;
    // The third waits in the kernel's queue until the header deadline frees a slot.
    let (status, took) = plain_get(addr, "/healthz").await;
    assert_eq!(status, "HTTP/1.1 200 OK");
    assert!(
        took >= Duration::from_secs(2),
        "answered after {took:?}: the cap of 2 connections was not enforced"
    );
    drop(idle);
}
