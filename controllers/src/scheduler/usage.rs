//! The usage poller for the `loadaware` plugin: reads Koordinator `NodeMetric` objects
//! (`slo.koordinator.sh/v1alpha1`, only when that API is served) and `metrics.k8s.io/v1beta1`
//! NodeMetrics every few seconds into [`Samples`]; `bridge::usage::node_usage` maps them to
//! `Snapshot::node_usage`. metrics.k8s.io has no watch, hence the polling; failures back off
//! quietly (debug log) up to [`MAX_BACKOFF`].

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use bridge::usage::{Sample, Samples, parse_koordinator, parse_node_metrics};
use kube::Client;
use kube::api::{Api, ApiResource, DynamicObject, ListParams};
use serde_json::Value;
use tokio::sync::watch;
use tracing::debug;

/// How often usage is polled.
pub const POLL_PERIOD: Duration = Duration::from_secs(3);
/// Longest wait between polls after failures.
pub const MAX_BACKOFF: Duration = Duration::from_secs(60);
/// Koordinator's group/version.
pub const KOORDINATOR_GROUP_VERSION: &str = "slo.koordinator.sh/v1alpha1";

fn metrics_resource() -> ApiResource {
    ApiResource {
        group: "metrics.k8s.io".into(),
        version: "v1beta1".into(),
        api_version: "metrics.k8s.io/v1beta1".into(),
        kind: "NodeMetrics".into(),
        plural: "nodes".into(),
    }
}

fn koordinator_resource() -> ApiResource {
    ApiResource {
        group: "slo.koordinator.sh".into(),
        version: "v1alpha1".into(),
        api_version: KOORDINATOR_GROUP_VERSION.into(),
        kind: "NodeMetric".into(),
        plural: "nodemetrics".into(),
    }
}

async fn list(
    client: &Client,
    ar: &ApiResource,
    parse: fn(&Value) -> Option<(String, Sample)>,
) -> Result<BTreeMap<String, Sample>, kube::Error> {
    let api: Api<DynamicObject> = Api::all_with(client.clone(), ar);
    let objs = api.list(&ListParams::default()).await?;
    Ok(objs
        .items
        .iter()
        .filter_map(|o| serde_json::to_value(o).ok())
        .filter_map(|v| parse(&v))
        .collect())
}

/// Whether the Koordinator NodeMetric API is served (checked once at start).
async fn koordinator_served(client: &Client) -> bool {
    match client
        .list_api_group_resources(KOORDINATOR_GROUP_VERSION)
        .await
    {
        Ok(list) => list.resources.iter().any(|r| r.name == "nodemetrics"),
        Err(error) => {
            debug!(%error, "koordinator NodeMetric API not served; using metrics.k8s.io only");
            false
        }
    }
}

/// Polls usage until the receiver side is dropped; the latest samples are published on the
/// returned channel.
pub fn spawn(client: Client) -> (watch::Receiver<Arc<Samples>>, tokio::task::JoinHandle<()>) {
    let (tx, rx) = watch::channel(Arc::new(Samples::default()));
    let task = tokio::spawn(async move {
        let koordinator = koordinator_served(&client).await;
        let mut wait = POLL_PERIOD;
        loop {
            let mut next = Samples::default();
            let mut failed = false;
            match list(&client, &metrics_resource(), parse_node_metrics).await {
                Ok(m) => next.metrics = m,
                Err(error) => {
                    debug!(%error, "listing metrics.k8s.io NodeMetrics failed (backing off)");
                    failed = true;
                }
            }
            if koordinator {
                match list(&client, &koordinator_resource(), parse_koordinator).await {
                    Ok(m) => next.koordinator = m,
                    Err(error) => {
                        debug!(%error, "listing koordinator NodeMetrics failed (backing off)");
                        failed = true;
                    }
                }
            }
            if !next.metrics.is_empty() || !next.koordinator.is_empty() || !failed {
                tx.send_if_modified(|cur| {
                    let changed = **cur != next;
                    *cur = Arc::new(next);
                    changed
                });
            }
            wait = if failed {
                (wait * 2).min(MAX_BACKOFF)
            } else {
                POLL_PERIOD
            };
            if tx.is_closed() {
                break;
            }
            tokio::time::sleep(wait).await;
        }
    });
    (rx, task)
}
