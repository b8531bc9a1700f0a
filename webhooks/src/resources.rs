//! Resource amounts in canonical integer units (cpu in millicores, everything else in base units),
//! using `scheduler_core`'s quantity parser so admission and scheduling agree on every number.
//! A pod's requests come from the bridge (`bridge::resources`), the scheduler's own reading;
//! this module adds the quota arithmetic over them and formatting.

use std::collections::BTreeMap;

use crds::ResourceList;
use k8s_openapi::api::core::v1::{Container, PodSpec};
use scheduler_core::quantity::{format_resource_amount, parse_resource_amount};

/// Resource name → canonical amount.
pub type Amounts = BTreeMap<String, i64>;

/// Resource names whose absence on every node still means "the cluster cannot offer this":
/// whole GPUs and the basics. Other extended resources (vGPU slices, RDMA, ...) are checked
/// against the cluster only when some node advertises them.
pub const ALWAYS_ACCOUNTED: &[&str] = &["cpu", "memory", "nvidia.com/gpu"];

/// Parses a ResourceList; returns the first `(name, error)` that does not parse.
pub fn amounts(list: &ResourceList) -> Result<Amounts, (String, String)> {
    let mut out = Amounts::new();
    for (name, q) in list {
        let v = parse_resource_amount(name, &q.0).map_err(|e| (name.clone(), e.to_string()))?;
        out.insert(name.clone(), v);
    }
    Ok(out)
}

/// Parses a ResourceList, skipping entries that do not parse (they are reported elsewhere).
pub fn amounts_lenient(list: Option<&ResourceList>) -> Amounts {
    let mut out = Amounts::new();
    for (name, q) in list.into_iter().flatten() {
        if let Ok(v) = parse_resource_amount(name, &q.0) {
            out.insert(name.clone(), v);
        }
    }
    out
}

/// What one container asks for (`bridge::resources::container_requests`: requests, with limits
/// standing in for absent ones), zero amounts left out.
pub fn container_requests(c: &Container) -> Amounts {
    to_amounts(&bridge::resources::container_requests(c))
}

/// What one pod asks for, exactly as the scheduler counts it (`bridge::resources::pod_requests`:
/// the sum over containers, at least the largest init container, plus `spec.overhead`), so that
/// admission's quota checks and scheduling judge a pod alike; zero amounts left out.
pub fn pod_requests(spec: Option<&PodSpec>) -> Amounts {
    spec.map(|s| to_amounts(&bridge::resources::pod_requests(s)))
        .unwrap_or_default()
}

fn to_amounts(r: &scheduler_core::Resources) -> Amounts {
    r.iter().map(|(name, v)| (name.to_owned(), v)).collect()
}

/// `total += times × extra`, saturating.
pub fn add(total: &mut Amounts, extra: &Amounts, times: i64) {
    for (name, v) in extra {
        let slot = total.entry(name.clone()).or_insert(0);
        *slot = slot.saturating_add(v.saturating_mul(times));
    }
}

/// Formats an amount of `name` for a message (`8`, `500m`, `4Gi`).
pub fn show(name: &str, amount: i64) -> String {
    // vGPU memory (`nvidia.com/vgpu-memory`, HAMi's `gpumem`) is bytes too: print it like memory.
    if name != "memory" && (name.ends_with("-memory") || name.ends_with("gpumem")) {
        return format_resource_amount("memory", amount);
    }
    format_resource_amount(name, amount)
}

#[cfg(test)]
mod tests {
    use super::*;
    use k8s_openapi::api::core::v1::ResourceRequirements;
    use k8s_openapi::apimachinery::pkg::api::resource::Quantity;

    fn container(requests: &[(&str, &str)], limits: &[(&str, &str)]) -> Container {
        let list = |kv: &[(&str, &str)]| {
            Some(
                kv.iter()
                    .map(|(k, v)| (k.to_string(), Quantity(v.to_string())))
                    .collect(),
            )
        };
        Container {
            resources: Some(ResourceRequirements {
                requests: list(requests),
                limits: list(limits),
                ..Default::default()
            }),
            ..Default::default()
        }
    }

    #[test]
    fn limits_stand_in_for_requests_and_init_containers_are_a_floor() {
        let spec = PodSpec {
            containers: vec![
                container(&[("cpu", "500m")], &[("nvidia.com/gpu", "8"), ("cpu", "2")]),
                container(&[("cpu", "1")], &[]),
            ],
            init_containers: Some(vec![container(&[("cpu", "4")], &[])]),
            ..Default::default()
        };
        let got = pod_requests(Some(&spec));
        assert_eq!(got["nvidia.com/gpu"], 8);
        assert_eq!(got["cpu"], 4000);
        assert_eq!(show("memory", 4 << 30), "4Gi");
    }

    #[test]
    fn overhead_counts_as_the_scheduler_counts_it() {
        let spec = PodSpec {
            containers: vec![container(&[("cpu", "1"), ("memory", "1Gi")], &[])],
            overhead: Some(
                [
                    ("cpu".to_owned(), Quantity("250m".into())),
                    ("memory".to_owned(), Quantity("128Mi".into())),
                ]
                .into(),
            ),
            ..Default::default()
        };
        let got = pod_requests(Some(&spec));
        assert_eq!(got["cpu"], 1250);
        assert_eq!(got["memory"], (1 << 30) + (128 << 20));
    }
}
