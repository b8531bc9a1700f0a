//! The scheduler loop's execute step against an API server that accepts connections and never
//! answers: every effect write must end at the write deadline, count as a timeout, and leave the
//! loop free to run the next session — a bind as failed, an eviction as not requested.

#![allow(clippy::unwrap_used)]

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use controllers::scheduler::effects;
use controllers::{Context, ControllerConfig, Metrics};
use scheduler_core::{Effect, NodeId, TaskId};

/// A client whose every request stays pending forever (a hung API server).
fn hung_client() -> kube::Client {
    let service = tower::service_fn(|_req: http::Request<kube::client::Body>| {
        std::future::pending::<Result<http::Response<kube::client::Body>, std::io::Error>>()
    });
    kube::Client::new(service, "default")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn writes_to_a_hung_api_server_time_out_and_are_counted() {
    let config = ControllerConfig {
        effect_write_timeout: Duration::from_millis(200),
        ..Default::default()
    };
    let (_leader, rx) = tokio::sync::watch::channel(true);
    let ctx = Arc::new(Context::new(
        hung_client(),
        config,
        Arc::new(Metrics::new()),
        rx,
    ));
    let effects = vec![
        Effect::Bind {
            task: TaskId::new("default/p1"),
            node: NodeId::new("n1"),
            annotations: BTreeMap::new(),
        },
        Effect::Evict {
            task: TaskId::new("default/p2"),
            reason: "reclaimed".into(),
        },
    ];
    let started = Instant::now();
    let outcome = tokio::time::timeout(
        Duration::from_secs(20),
        effects::execute(
            &ctx,
            effects,
            &BTreeMap::new(),
            &BTreeMap::new(),
            &BTreeMap::new(),
            &mut BTreeMap::new(),
        ),
    )
    .await
    .expect("execute returned within the write deadline, not with the hung server");
    assert!(
        started.elapsed() < Duration::from_secs(5),
        "took {:?}",
        started.elapsed()
    );
    assert!(outcome.bound.is_empty(), "{outcome:?}");
    assert_eq!(outcome.failed, vec![TaskId::new("default/p1")]);
    assert!(
        outcome.evicting.is_empty(),
        "an eviction that never answered must not be taken as requested: {outcome:?}"
    );
    let text = ctx.metrics.encode();
    for effect in ["bind", "evict"] {
        let series = format!(
            "basalt_scheduler_effect_writes_total{{effect=\"{effect}\",outcome=\"timeout\"}} 1"
        );
        assert!(text.contains(&series), "{series} not in\n{text}");
    }
    assert!(
        text.contains("basalt_scheduler_bind_failures_total 1"),
        "{text}"
    );
}
