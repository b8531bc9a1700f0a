//! Node usage arithmetic: background usage from the cluster spec plus the requests of the pods
//! running on the node, optionally overridden live by the node annotation
//! `sim.basalt.dev/usage: "cpu=0.9,memory=0.85,gpu=0.6"`.
//!
//! Pure; `metrics.rs` turns the numbers into NodeMetrics/PodMetrics objects.

use serde_json::Value;

use super::spec::{SimNode, Usage};
use devcluster::quantity;

pub const USAGE_OVERRIDE: &str = "sim.basalt.dev/usage";
pub const GPU_UTILIZATION: &str = "basalt.dev/gpu-utilization";

/// Resources one pod (or container) uses while running: its requests (limits when no request).
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct Demand {
    /// Cores.
    pub cpu: f64,
    /// Bytes.
    pub memory: f64,
    /// Cards' worth of GPU compute: 1.0 per whole GPU, 0.25 for `vgpu-cores: 25`.
    pub gpus: f64,
}

fn resource(c: &Value, name: &str) -> Option<f64> {
    c.pointer("/resources/requests")
        .and_then(|r| r.get(name))
        .or_else(|| c.pointer("/resources/limits").and_then(|l| l.get(name)))
        .and_then(quantity::from_json)
}

/// What one container uses.
pub fn container_demand(c: &Value, gpu_memory: f64) -> Demand {
    let whole = ["nvidia.com/gpu"].iter().find_map(|r| resource(c, r));
    let cores = [
        "nvidia.com/vgpu-cores",
        "nvidia.com/gpucores",
        "volcano.sh/vgpu-cores",
    ]
    .iter()
    .find_map(|r| resource(c, r));
    let vgpu_mem = resource(c, "nvidia.com/vgpu-memory")
        .or_else(|| resource(c, "nvidia.com/gpumem").map(|mib| mib * 1024.0 * 1024.0))
        .or_else(|| resource(c, "volcano.sh/vgpu-memory").map(|mib| mib * 1024.0 * 1024.0));
    let gpus = match (whole, cores, vgpu_mem) {
        (_, Some(cores), _) => cores / 100.0 * whole.unwrap_or(1.0),
        (Some(n), None, None) => n,
        (n, None, Some(mem)) if gpu_memory > 0.0 => mem / gpu_memory * n.unwrap_or(1.0),
        (n, _, _) => n.unwrap_or(0.0),
    };
    Demand {
        cpu: resource(c, "cpu").unwrap_or(0.0),
        memory: resource(c, "memory").unwrap_or(0.0),
        gpus,
    }
}

/// What a pod uses: the sum over its containers.
pub fn pod_demand(pod: &Value, gpu_memory: f64) -> Demand {
    pod.pointer("/spec/containers")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .fold(Demand::default(), |acc, c| {
            let d = container_demand(c, gpu_memory);
            Demand {
                cpu: acc.cpu + d.cpu,
                memory: acc.memory + d.memory,
                gpus: acc.gpus + d.gpus,
            }
        })
}

/// Overridden fractions from `sim.basalt.dev/usage`; absent fields keep the computed value.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct UsageOverride {
    pub cpu: Option<f64>,
    pub memory: Option<f64>,
    pub gpu: Option<f64>,
}

/// Parses `cpu=0.9,memory=0.85,gpu=0.6` (fractions, or percentages like `90%`).
pub fn parse_override(text: &str) -> Result<UsageOverride, String> {
    let mut out = UsageOverride::default();
    for part in text.split(',').map(str::trim).filter(|p| !p.is_empty()) {
        let (key, value) = part.split_once('=').ok_or_else(|| {
            format!("{part:?} is not key=value; write e.g. cpu=0.9,memory=0.85,gpu=0.6")
        })?;
        let value = value.trim();
        let fraction = match value.strip_suffix('%') {
            Some(pct) => pct.trim().parse::<f64>().map(|p| p / 100.0),
            None => value.parse::<f64>(),
        }
        .map_err(|_| format!("{key}={value:?} is not a number"))?;
        if !(0.0..=1.0).contains(&fraction) {
            return Err(format!("{key}={value} is not a fraction in 0..=1"));
        }
        match key.trim() {
            "cpu" => out.cpu = Some(fraction),
            "memory" => out.memory = Some(fraction),
            "gpu" => out.gpu = Some(fraction),
            other => {
                return Err(format!(
                    "unknown resource {other:?}; use cpu, memory or gpu"
                ));
            }
        }
    }
    Ok(out)
}

/// A node's usage at one instant.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct NodeUsage {
    /// Cores.
    pub cpu: f64,
    /// Bytes.
    pub memory: f64,
    /// Fractions of capacity in 0..=1.
    pub fractions: Usage,
}

/// Background usage plus running pods' demand, capped at capacity, then the override.
pub fn node_usage(
    node: &SimNode,
    running: impl IntoIterator<Item = Demand>,
    over: UsageOverride,
) -> NodeUsage {
    let total = running.into_iter().fold(Demand::default(), |a, d| Demand {
        cpu: a.cpu + d.cpu,
        memory: a.memory + d.memory,
        gpus: a.gpus + d.gpus,
    });
    let frac = |used: f64, cap: f64| {
        if cap > 0.0 {
            (used / cap).clamp(0.0, 1.0)
        } else {
            0.0
        }
    };
    let cpu = over.cpu.unwrap_or_else(|| {
        frac(
            node.background.cpu * node.cpu.to_f64() + total.cpu,
            node.cpu.to_f64(),
        )
    });
    let memory = over.memory.unwrap_or_else(|| {
        frac(
            node.background.memory * node.memory.to_f64() + total.memory,
            node.memory.to_f64(),
        )
    });
    let gpus = f64::from(node.gpus);
    let gpu = over
        .gpu
        .unwrap_or_else(|| frac(node.background.gpu * gpus + total.gpus, gpus));
    NodeUsage {
        cpu: cpu * node.cpu.to_f64(),
        memory: memory * node.memory.to_f64(),
        fractions: Usage { cpu, memory, gpu },
    }
}

/// The value of the `basalt.dev/gpu-utilization` annotation: a fraction with two decimals.
pub fn gpu_annotation(usage: &NodeUsage) -> String {
    format!("{:.2}", usage.fractions.gpu)
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use serde_json::json;

    use super::super::spec::ClusterSpec;
    use super::*;

    fn node() -> SimNode {
        let mut n = ClusterSpec::uniform(1, 8, "A100", "80Gi")
            .resolve()
            .unwrap()
            .remove(0);
        n.background = Usage {
            cpu: 0.1,
            memory: 0.0,
            gpu: 0.25,
        };
        n
    }

    fn container(resources: Value) -> Value {
        json!({"name": "c", "resources": resources})
    }

    #[test]
    fn demand_counts_whole_and_shared_gpus() {
        let whole = container(
            json!({"limits": {"nvidia.com/gpu": 2}, "requests": {"cpu": "500m", "memory": "1Gi"}}),
        );
        assert_eq!(
            container_demand(&whole, 80.0),
            Demand {
                cpu: 0.5,
                memory: 1024f64.powi(3),
                gpus: 2.0
            }
        );
        let shared = container(
            json!({"limits": {"nvidia.com/vgpu-memory": "4Gi", "nvidia.com/vgpu-cores": "25"}}),
        );
        assert_eq!(container_demand(&shared, 80.0 * 1024f64.powi(3)).gpus, 0.25);
        let mem_only = container(json!({"limits": {"nvidia.com/gpumem": "8192"}}));
        assert_eq!(
            container_demand(&mem_only, 80.0 * 1024f64.powi(3)).gpus,
            0.1
        );
        let pod = json!({"spec": {"containers": [whole, shared]}});
        assert_eq!(pod_demand(&pod, 80.0 * 1024f64.powi(3)).gpus, 2.25);
    }

    #[test]
    fn usage_is_background_plus_pods_capped() {
        let n = node();
        let u = node_usage(
            &n,
            [Demand {
                cpu: 9.6,
                memory: 0.0,
                gpus: 2.0,
            }],
            UsageOverride::default(),
        );
        assert!((u.fractions.cpu - 0.2).abs() < 1e-9);
        assert!((u.fractions.gpu - 0.5).abs() < 1e-9);
        assert_eq!(gpu_annotation(&u), "0.50");
        let full = node_usage(
            &n,
            [Demand {
                cpu: 1000.0,
                memory: 0.0,
                gpus: 99.0,
            }],
            UsageOverride::default(),
        );
        assert_eq!(full.fractions.cpu, 1.0);
        assert_eq!(full.cpu, 96.0);
        assert_eq!(full.fractions.gpu, 1.0);
    }

    #[test]
    fn override_wins_per_field() {
        let over = parse_override("cpu=0.9, gpu=60%").unwrap();
        assert_eq!(
            over,
            UsageOverride {
                cpu: Some(0.9),
                memory: None,
                gpu: Some(0.6)
            }
        );
        let u = node_usage(&node(), [], over);
        assert_eq!(u.fractions.cpu, 0.9);
        assert!((u.cpu - 86.4).abs() < 1e-9);
        assert_eq!(u.fractions.gpu, 0.6);
        assert_eq!(u.fractions.memory, 0.0);
    }

    #[test]
    fn override_errors_say_what_is_wrong() {
        assert!(parse_override("cpu").unwrap_err().contains("key=value"));
        assert!(
            parse_override("cpu=high")
                .unwrap_err()
                .contains("not a number")
        );
        assert!(parse_override("cpu=1.5").unwrap_err().contains("0..=1"));
        assert!(
            parse_override("disk=0.5")
                .unwrap_err()
                .contains("unknown resource")
        );
        assert_eq!(parse_override("").unwrap(), UsageOverride::default());
    }
}
