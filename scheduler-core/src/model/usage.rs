//! Measured node usage for load-aware placement: fractions of allocatable in use and when they
//! were measured. The caller fills it (controllers: metrics.k8s.io NodeMetrics for cpu/memory,
//! node annotation `basalt.dev/gpu-utilization` for the GPU); the core never reads a clock — it
//! compares `timestamp` with [`crate::Snapshot::now`].

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

/// Node annotation carrying GPU utilization as a fraction (`0.42`).
pub const GPU_UTILIZATION_ANNOTATION: &str = "basalt.dev/gpu-utilization";

/// One node's measured usage.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct NodeUsage {
    /// CPU in use / allocatable, 0..1.
    pub cpu: Option<f64>,
    /// Memory in use / allocatable, 0..1.
    pub memory: Option<f64>,
    /// GPU utilization, 0..1.
    pub gpu: Option<f64>,
    /// When measured, ms, same epoch as [`crate::Snapshot::now`].
    pub timestamp: u64,
}

impl NodeUsage {
    /// Usage from NodeMetrics amounts (`cpu` millicores, `memory` bytes) over the node's
    /// allocatable, plus the node's annotations for the GPU fraction. Non-positive allocatable
    /// leaves the dimension unknown.
    pub fn from_metrics(
        cpu_used_millis: Option<i64>,
        memory_used_bytes: Option<i64>,
        allocatable: &crate::Resources,
        annotations: &BTreeMap<String, String>,
        timestamp: u64,
    ) -> Self {
        let frac = |used: Option<i64>, name: &str| {
            let alloc = allocatable.get(name);
            used.filter(|_| alloc > 0).map(|u| u as f64 / alloc as f64)
        };
        Self {
            cpu: frac(cpu_used_millis, crate::resources::CPU),
            memory: frac(memory_used_bytes, crate::resources::MEMORY),
            gpu: annotations
                .get(GPU_UTILIZATION_ANNOTATION)
                .and_then(|v| v.trim().parse::<f64>().ok())
                .filter(|v| v.is_finite() && *v >= 0.0),
            timestamp,
        }
    }
}
