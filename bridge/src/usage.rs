//! Measured node usage for the `loadaware` plugin: metrics.k8s.io `NodeMetrics` and Koordinator
//! `NodeMetric` objects read into samples, and the mapping from those samples plus the node
//! annotation `basalt.dev/gpu-utilization` to `Snapshot::node_usage`. The controllers' poller
//! (`controllers::scheduler::usage`) fetches the objects.
//!
//! Precedence per node for cpu/memory: Koordinator's sample, else metrics.k8s.io's; the GPU
//! fraction always comes from the annotation. A node with neither a sample nor the annotation gets
//! no entry (loadaware abstains for it).

use std::collections::BTreeMap;

use k8s_openapi::api::core::v1::Node;
use k8s_openapi::jiff::Timestamp;
use kube::ResourceExt;
use scheduler_core::model::NodeUsage;
use scheduler_core::resources::{CPU, MEMORY};
use scheduler_core::{NodeId, parse_resource_amount};
use serde_json::Value;

use crate::resources::parse_list;

/// One node's measured cpu/memory amounts.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Sample {
    /// CPU in use, millicores.
    pub cpu_millis: Option<i64>,
    /// Memory in use, bytes.
    pub memory_bytes: Option<i64>,
    /// When measured, ms since the Unix epoch.
    pub timestamp_ms: u64,
}

/// The latest samples by node name, per source.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Samples {
    /// Koordinator `NodeMetric` samples (take precedence).
    pub koordinator: BTreeMap<String, Sample>,
    /// metrics.k8s.io NodeMetrics samples.
    pub metrics: BTreeMap<String, Sample>,
}

fn amount(name: &str, v: Option<&Value>) -> Option<i64> {
    parse_resource_amount(name, v?.as_str()?).ok()
}

fn time_ms(v: Option<&Value>) -> Option<u64> {
    let t: Timestamp = v?.as_str()?.parse().ok()?;
    Some(t.as_millisecond().max(0) as u64)
}

fn sample(usage: &Value, timestamp: Option<&Value>) -> Option<Sample> {
    let s = Sample {
        cpu_millis: amount(CPU, usage.get("cpu")),
        memory_bytes: amount(MEMORY, usage.get("memory")),
        timestamp_ms: time_ms(timestamp)?,
    };
    (s.cpu_millis.is_some() || s.memory_bytes.is_some()).then_some(s)
}

/// A metrics.k8s.io NodeMetrics object (`usage.cpu`, `usage.memory`, `timestamp`) → its node's
/// sample; `None` when it carries no parsable usage or timestamp.
pub fn parse_node_metrics(obj: &Value) -> Option<(String, Sample)> {
    let name = obj.pointer("/metadata/name")?.as_str()?.to_owned();
    Some((name, sample(obj.get("usage")?, obj.get("timestamp"))?))
}

/// A Koordinator NodeMetric (`status.nodeMetric.nodeUsage[.resources].{cpu,memory}`,
/// `status.updateTime`) → its node's sample.
pub fn parse_koordinator(obj: &Value) -> Option<(String, Sample)> {
    let name = obj.pointer("/metadata/name")?.as_str()?.to_owned();
    let status = obj.get("status")?;
    let usage = status.pointer("/nodeMetric/nodeUsage")?;
    let usage = usage.get("resources").unwrap_or(usage);
    Some((name, sample(usage, status.get("updateTime"))?))
}

/// Pure mapping: samples and node annotations → `Snapshot::node_usage`. `now_ms` stamps usage
/// known only from the annotation (it is as fresh as the node cache).
pub fn node_usage(nodes: &[&Node], samples: &Samples, now_ms: u64) -> BTreeMap<NodeId, NodeUsage> {
    let mut out = BTreeMap::new();
    for node in nodes {
        let name = node.name_any();
        let s = samples
            .koordinator
            .get(&name)
            .or_else(|| samples.metrics.get(&name));
        let annotations = node.annotations();
        if s.is_none()
            && !annotations.contains_key(scheduler_core::model::usage::GPU_UTILIZATION_ANNOTATION)
        {
            continue;
        }
        let allocatable = parse_list(node.status.as_ref().and_then(|s| s.allocatable.as_ref()));
        let usage = NodeUsage::from_metrics(
            s.and_then(|s| s.cpu_millis),
            s.and_then(|s| s.memory_bytes),
            &allocatable,
            annotations,
            s.map_or(now_ms, |s| s.timestamp_ms),
        );
        out.insert(NodeId::new(name), usage);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn node(name: &str, cpu: &str, mem: &str, annotations: &[(&str, &str)]) -> Node {
        serde_json::from_value(json!({
            "metadata": {"name": name, "annotations": annotations.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect::<BTreeMap<_, _>>()},
            "status": {"allocatable": {"cpu": cpu, "memory": mem}},
        }))
        .unwrap()
    }

    const T: &str = "2026-01-01T00:00:00Z";
    const T_MS: u64 = 1_767_225_600_000;

    #[test]
    fn parses_node_metrics() {
        let (name, s) = parse_node_metrics(&json!({
            "metadata": {"name": "n1"}, "timestamp": T, "window": "20s",
            "usage": {"cpu": "1500m", "memory": "2Gi"}}))
        .unwrap();
        assert_eq!(name, "n1");
        assert_eq!(
            s,
            Sample {
                cpu_millis: Some(1500),
                memory_bytes: Some(2 << 30),
                timestamp_ms: T_MS
            }
        );
        assert!(
            parse_node_metrics(&json!({"metadata": {"name": "n"}, "usage": {"cpu": "1"}}))
                .is_none(),
            "no timestamp"
        );
        assert!(
            parse_node_metrics(&json!({"metadata": {"name": "n"}, "timestamp": T, "usage": {}}))
                .is_none()
        );
    }

    #[test]
    fn parses_koordinator_both_shapes() {
        for usage in [
            json!({"resources": {"cpu": "2", "memory": "1Gi"}}),
            json!({"cpu": "2", "memory": "1Gi"}),
        ] {
            let (name, s) = parse_koordinator(&json!({"metadata": {"name": "k"},
                "status": {"updateTime": T, "nodeMetric": {"nodeUsage": usage}}}))
            .unwrap();
            assert_eq!(
                (name.as_str(), s.cpu_millis, s.memory_bytes, s.timestamp_ms),
                ("k", Some(2000), Some(1 << 30), T_MS)
            );
        }
    }

    #[test]
    fn maps_with_precedence_and_annotation() {
        let a = node("a", "4", "8Gi", &[("basalt.dev/gpu-utilization", "0.5")]);
        let b = node("b", "4", "8Gi", &[]);
        let c = node("c", "4", "8Gi", &[("basalt.dev/gpu-utilization", "0.25")]);
        let d = node("d", "4", "8Gi", &[]);
        let mut samples = Samples::default();
        let s = |cpu, mem, ts| Sample {
            cpu_millis: Some(cpu),
            memory_bytes: Some(mem),
            timestamp_ms: ts,
        };
        samples.metrics.insert("a".into(), s(1000, 2 << 30, 10));
        samples.koordinator.insert("a".into(), s(3000, 4 << 30, 20));
        samples.metrics.insert("b".into(), s(2000, 6 << 30, 30));
        let u = node_usage(&[&a, &b, &c, &d], &samples, 99);
        let get = |n: &str| u.get(&NodeId::new(n)).cloned();
        assert_eq!(
            get("a"),
            Some(NodeUsage {
                cpu: Some(0.75),
                memory: Some(0.5),
                gpu: Some(0.5),
                timestamp: 20
            }),
            "koordinator wins"
        );
        assert_eq!(
            get("b"),
            Some(NodeUsage {
                cpu: Some(0.5),
                memory: Some(0.75),
                gpu: None,
                timestamp: 30
            })
        );
        assert_eq!(
            get("c"),
            Some(NodeUsage {
                cpu: None,
                memory: None,
                gpu: Some(0.25),
                timestamp: 99
            }),
            "annotation only, stamped now"
        );
        assert_eq!(get("d"), None, "no data: loadaware abstains");
    }
}
