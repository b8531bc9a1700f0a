//! Conversions between Kubernetes resource lists (quantity strings) and the scheduler core's
//! canonical integer [`Resources`]: pod requests, node allocatable, queue and PodGroup lists.

use std::collections::BTreeMap;

use k8s_openapi::api::core::v1::{Container, PodSpec};
use k8s_openapi::apimachinery::pkg::api::resource::Quantity;
use scheduler_core::Resources;
use scheduler_core::quantity::format_resource_amount;
use tracing::warn;

/// Parses a resource list, skipping (and logging) quantities that do not parse.
pub fn parse_list(list: Option<&BTreeMap<String, Quantity>>) -> Resources {
    let mut out = Resources::new();
    for (name, q) in list.into_iter().flatten() {
        match scheduler_core::parse_resource_amount(name, &q.0) {
            Ok(v) => out.set(name, out.get(name) + v),
            Err(error) => {
                warn!(resource = %name, quantity = %q.0, %error, "skipping unparsable quantity")
            }
        }
    }
    out
}

/// Why a pod's requests cannot be read, naming each field (`None` when all parse): an
/// unparsable or overflowing quantity must make the pod unschedulable, never count as zero.
pub fn request_errors(spec: &PodSpec) -> Option<String> {
    let mut errs = vec![];
    let mut check = |path: String, list: Option<&BTreeMap<String, Quantity>>| {
        for (name, q) in list.into_iter().flatten() {
            match scheduler_core::parse_resource_amount(name, &q.0) {
                Ok(v) if v < 0 => errs.push(format!("{path}[{name}]: {:?} is negative", q.0)),
                Ok(_) => {}
                Err(e) => errs.push(format!("{path}[{name}]: {e}")),
            }
        }
    };
    for (field, list) in [
        ("containers", Some(&spec.containers)),
        ("initContainers", spec.init_containers.as_ref()),
    ] {
        for (i, c) in list.into_iter().flatten().enumerate() {
            let r = c.resources.as_ref();
            for (kind, l) in [
                ("requests", r.and_then(|r| r.requests.as_ref())),
                ("limits", r.and_then(|r| r.limits.as_ref())),
            ] {
                check(format!("spec.{field}[{i}].resources.{kind}"), l);
            }
        }
    }
    check("spec.overhead".into(), spec.overhead.as_ref());
    (!errs.is_empty()).then(|| errs.join("; "))
}

/// Formats canonical amounts back into a Kubernetes resource list.
pub fn to_list(resources: &Resources) -> BTreeMap<String, Quantity> {
    resources
        .iter()
        .map(|(name, v)| (name.to_owned(), Quantity(format_resource_amount(name, v))))
        .collect()
}

/// What one container asks for: its requests, with limits standing in for absent requests
/// (Kubernetes defaults requests to limits, which is how GPUs are usually asked for).
pub fn container_requests(c: &Container) -> Resources {
    let r = c.resources.as_ref();
    // Kubernetes defaults a missing request to the limit.
    let mut out = parse_list(r.and_then(|r| r.limits.as_ref()));
    let requests = parse_list(r.and_then(|r| r.requests.as_ref()));
    for (name, v) in requests.iter() {
        out.set(name, v);
    }
    out
}

/// A pod's effective requests: Σ containers, at least the largest init container, plus overhead.
pub fn pod_requests(spec: &PodSpec) -> Resources {
    let mut sum = Resources::new();
    for c in &spec.containers {
        sum.add(&container_requests(c));
    }
    for c in spec.init_containers.iter().flatten() {
        for (name, v) in container_requests(c).iter() {
            if v > sum.get(name) {
                sum.set(name, v);
            }
        }
    }
    sum.add(&parse_list(spec.overhead.as_ref()));
    sum
}

#[cfg(test)]
mod tests {
    use super::*;
    use k8s_openapi::api::core::v1::ResourceRequirements;

    fn container(req: &[(&str, &str)], lim: &[(&str, &str)]) -> Container {
        let list = |v: &[(&str, &str)]| {
            (!v.is_empty()).then(|| {
                v.iter()
                    .map(|(k, q)| ((*k).to_owned(), Quantity((*q).to_owned())))
                    .collect()
            })
        };
        Container {
            name: "c".into(),
            resources: Some(ResourceRequirements {
                requests: list(req),
                limits: list(lim),
                ..Default::default()
            }),
            ..Default::default()
        }
    }

    #[test]
    fn requests_sum_containers_default_to_limits_and_cover_init() {
        let spec = PodSpec {
            containers: vec![
                container(&[("cpu", "500m")], &[("nvidia.com/gpu", "2")]),
                container(&[("cpu", "1")], &[]),
            ],
            init_containers: Some(vec![container(&[("cpu", "4")], &[])]),
            ..Default::default()
        };
        let r = pod_requests(&spec);
        assert_eq!(r.get("cpu"), 4000);
        assert_eq!(r.get("nvidia.com/gpu"), 2);
        assert_eq!(to_list(&r)["cpu"].0, "4");
    }

    #[test]
    fn unreadable_requests_are_reported_by_field_not_read_as_zero() {
        let ok = PodSpec {
            containers: vec![container(&[("cpu", "500m")], &[("nvidia.com/gpu", "2")])],
            ..Default::default()
        };
        assert_eq!(request_errors(&ok), None);
        let bad = PodSpec {
            containers: vec![
                container(&[("cpu", "lots")], &[]),
                container(&[("nvidia.com/gpu", "99999999999999999999999")], &[]),
            ],
            init_containers: Some(vec![container(&[], &[("memory", "-5Gi")])]),
            ..Default::default()
        };
        let why = request_errors(&bad).expect("errors");
        for part in [
            "spec.containers[0].resources.requests[cpu]: quantity \"lots\"",
            "spec.containers[1].resources.requests[nvidia.com/gpu]: quantity \"99999999999999999999999\" is too large",
            "spec.initContainers[0].resources.limits[memory]: \"-5Gi\" is negative",
        ] {
            assert!(why.contains(part), "{part} not in {why}");
        }
    }
}
