//! Admission latency over TLS on loopback at a fixed arrival rate (default 200 reviews/s for
//! 15 s, open loop: latency counts from each review's scheduled send time, so a stall is not
//! hidden). Reviews cycle through allowed and denied Jobs, Job/Queue mutation, Queue and
//! JobFlow validation. Prints p50/p90/p99/max; the target is p99 ≤ 5 ms. Also prints the cost
//! of a review on a fresh connection (TLS handshake included).
//!
//! `cargo bench -p basalt-webhooks --bench review_latency`
//! (`BASALT_BENCH_RATE`, `BASALT_BENCH_SECONDS`, `BASALT_BENCH_CONNECTIONS` override.)

#![allow(clippy::unwrap_used, dead_code)]

#[path = "../tests/common/mod.rs"]
mod common;
#[path = "../tests/common/tls.rs"]
mod tls;

use std::time::{Duration, Instant};

use serde_json::{Value, json};
use webhooks::{Server, ServerConfig};

fn bodies() -> Vec<(&'static str, Vec<u8>)> {
    let create = |kind: &str, obj: Value| common::review(kind, "CREATE", obj, Value::Null);
    let flow = json!({"apiVersion": "flow.volcano.sh/v1alpha1", "kind": "JobFlow", "metadata": {"name": "f"},
        "spec": {"flows": [{"name": "a"}, {"name": "b", "dependsOn": {"targets": ["a"]}}]}});
    let reviews = [
        (
            "/jobs/validate",
            create("Job", common::job("ok", "team-a", 2, 8)),
        ),
        (
            "/jobs/validate",
            create("Job", common::job("too-big", "team-a", 3, 8)),
        ),
        (
            "/jobs/mutate",
            create("Job", common::job("m", "default", 4, 1)),
        ),
        (
            "/queues/mutate",
            create("Queue", common::queue_obj("q", json!({}))),
        ),
        (
            "/queues/validate",
            create(
                "Queue",
                common::queue_obj("q", json!({"capability": {"nvidia.com/gpu": 8}})),
            ),
        ),
        ("/jobflows/validate", create("JobFlow", flow)),
    ];
    reviews
        .into_iter()
        .map(|(p, r)| (p, serde_json::to_vec(&r).unwrap()))
        .collect()
}

fn percentile(sorted: &[Duration], p: f64) -> Duration {
    let i = ((sorted.len() as f64 * p).ceil() as usize).clamp(1, sorted.len()) - 1;
    sorted[i]
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1000.0
}

fn main() {
    webhooks::certs::install_default_provider();
    let env = |k: &str, d: u64| {
        std::env::var(k)
            .ok()
            .and_then(|v| v.parse().ok())
            .unwrap_or(d)
    };
    let rate = env("BASALT_BENCH_RATE", 200);
    let seconds = env("BASALT_BENCH_SECONDS", 15);
    let connections = env("BASALT_BENCH_CONNECTIONS", 8) as usize;
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .unwrap();
    runtime.block_on(async move {
        let server = Server::bind(ServerConfig::local_test(), common::cluster()).await.unwrap();
        let addr = server.https_addr();
        let pem = server.generated_cert_pem.clone().unwrap();
        let (stop_tx, stop_rx) = tokio::sync::oneshot::channel::<()>();
        let running = tokio::spawn(server.run(async move {
            let _ = stop_rx.await;
        }));
        let bodies = std::sync::Arc::new(bodies());

        // A pool of kept-alive connections, as an API server keeps them.
        let (pool_tx, pool_rx) = async_channel(connections);
        for _ in 0..connections {
            pool_tx.send(tls::connect(addr, &pem).await.unwrap()).await.unwrap();
        }
        let pool_rx = std::sync::Arc::new(tokio::sync::Mutex::new(pool_rx));
        // Warm-up.
        {
            let mut c = pool_rx.lock().await.recv().await.unwrap();
            for (path, body) in bodies.iter().cycle().take(200) {
                c.post(path, body.clone()).await.unwrap();
            }
            pool_tx.send(c).await.unwrap();
        }

        let total = (rate * seconds) as usize;
        let period = Duration::from_secs_f64(1.0 / rate as f64);
        let start = Instant::now();
        let mut tasks = Vec::with_capacity(total);
        for i in 0..total {
            let scheduled = start + period * i as u32;
            tokio::time::sleep_until(scheduled.into()).await;
            let (pool_tx, pool_rx, bodies) = (pool_tx.clone(), pool_rx.clone(), bodies.clone());
            tasks.push(tokio::spawn(async move {
                // The load generator's own timer lag is reported apart, not charged to the server.
                let sent = Instant::now();
                let lag = sent.saturating_duration_since(scheduled);
                let mut c = pool_rx.lock().await.recv().await.unwrap();
                let (path, body) = &bodies[i % bodies.len()];
                let (status, _) = c.post(path, body.clone()).await.unwrap();
                assert_eq!(status, 200);
                let latency = sent.elapsed();
                pool_tx.send(c).await.unwrap();
                (latency, lag)
            }));
        }
        let mut latencies = Vec::with_capacity(total);
        let mut lags = Vec::with_capacity(total);
        for t in tasks {
            let (latency, lag) = t.await.unwrap();
            latencies.push(latency);
            lags.push(lag);
        }
        lags.sort();
        let wall = start.elapsed().as_secs_f64();
        latencies.sort();
        println!(
            "review_latency: {total} reviews over TLS (loopback, {connections} kept-alive connections) at {rate}/s offered, {:.0}/s achieved: p50 {:.3} ms, p90 {:.3} ms, p99 {:.3} ms, max {:.3} ms (target p99 <= 5 ms: {})",
            total as f64 / wall,
            ms(percentile(&latencies, 0.50)),
            ms(percentile(&latencies, 0.90)),
            ms(percentile(&latencies, 0.99)),
            ms(*latencies.last().unwrap()),
            if percentile(&latencies, 0.99) <= Duration::from_millis(5) { "met" } else { "MISSED" },
        );
        println!(
            "review_latency: load-generator dispatch lag behind schedule (not in the numbers above): p50 {:.3} ms, p99 {:.3} ms",
            ms(percentile(&lags, 0.50)),
            ms(percentile(&lags, 0.99)),
        );
        // The decision alone, in process (parse, rules, response), for the same bodies.
        let state = common::cluster();
        let mut decide = Vec::new();
        for (i, (path, body)) in bodies.iter().cycle().take(30_000).enumerate() {
            let route = webhooks::Route::ALL.iter().copied().find(|r| r.path() == *path).unwrap();
            let t = Instant::now();
            let out = webhooks::admit::review(route, body, state.as_ref(), "volcano");
            decide.push(t.elapsed());
            assert!(out.is_ok(), "body {i}");
        }
        decide.sort();
        println!(
            "review_latency: decision in process (30000 reviews): p50 {:.1} us, p99 {:.1} us",
            percentile(&decide, 0.50).as_secs_f64() * 1e6,
            percentile(&decide, 0.99).as_secs_f64() * 1e6,
        );

        // Fresh connection per review: TLS handshake included.
        let mut fresh = Vec::new();
        for (path, body) in bodies.iter().cycle().take(200) {
            let t = Instant::now();
            let mut c = tls::connect(addr, &pem).await.unwrap();
            c.post(path, body.clone()).await.unwrap();
            fresh.push(t.elapsed());
        }
        fresh.sort();
        println!(
            "review_latency: 200 reviews each on a new TLS connection: p50 {:.3} ms, p99 {:.3} ms",
            ms(percentile(&fresh, 0.50)),
            ms(percentile(&fresh, 0.99)),
        );
        let _ = stop_tx.send(());
        let _ = running.await;
    });
}

/// A bounded MPSC channel used as a connection pool.
fn async_channel(
    n: usize,
) -> (
    tokio::sync::mpsc::Sender<tls::TlsClient>,
    tokio::sync::mpsc::Receiver<tls::TlsClient>,
) {
    tokio::sync::mpsc::channel(n.max(1))
}
