//! A pod's quality-of-service class, which the API server records in `status.qosClass` at
//! creation (and the kubelet keeps in every status it writes).

use serde_json::Value;

fn containers<'a>(pod: &'a Value, field: &str) -> impl Iterator<Item = &'a Value> {
    pod.pointer(&format!("/spec/{field}"))
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
}

/// Kubernetes' QoS class (`ComputePodQOS` in k8s.io/kubernetes `pkg/apis/core/helper/qos`):
/// only `cpu` and `memory` count (a pod asking for GPUs alone is BestEffort), quantities of
/// zero are ignored, init containers count like containers, and pod-level `spec.resources`
/// replace the containers' when set. Guaranteed: every container limits both CPU and memory
/// and the summed requests equal the summed limits.
pub fn qos_class(pod: &Value) -> &'static str {
    const COUNTED: [&str; 2] = ["cpu", "memory"];
    let mut requests = [0.0f64; 2];
    let mut limits = [0.0f64; 2];
    let (mut any_request, mut any_limit) = ([false; 2], [false; 2]);
    let mut guaranteed = true;
    let holders: Vec<&Value> = match pod.pointer("/spec/resources").filter(|r| r.is_object()) {
        Some(r) => vec![r],
        None => containers(pod, "containers")
            .chain(containers(pod, "initContainers"))
            .map(|c| c.get("resources").unwrap_or(&Value::Null))
            .collect(),
    };
    for r in holders {
        let quantity = |field: &str, i: usize| {
            r.get(field)
                .and_then(|m| m.get(COUNTED[i]))
                .map(|q| match q {
                    Value::String(s) => crate::quantity::parse(s).unwrap_or(0.0),
                    Value::Number(n) => n.as_f64().unwrap_or(0.0),
                    _ => 0.0,
                })
        };
        let mut limited = [false; 2];
        for i in 0..2 {
            let limit = quantity("limits", i);
            // The API server defaults a missing request to the limit before computing QoS.
            let request = quantity("requests", i).or(limit);
            if let Some(v) = request.filter(|v| *v > 0.0) {
                requests[i] += v;
                any_request[i] = true;
            }
            if let Some(v) = limit.filter(|v| *v > 0.0) {
                limits[i] += v;
                any_limit[i] = true;
                limited[i] = true;
            }
        }
        guaranteed &= limited.iter().all(|l| *l);
    }
    if !any_request.iter().chain(&any_limit).any(|b| *b) {
        return "BestEffort";
    }
    let same = (0..2).all(|i| {
        !any_request[i] || (any_limit[i] && (requests[i] - limits[i]).abs() <= 1e-9 * limits[i])
    });
    if guaranteed && same && any_request == any_limit {
        "Guaranteed"
    } else {
        "Burstable"
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    /// Expected classes are what kube-apiserver v1.37.2 recorded for the same pods.
    #[test]
    fn qos_classes_follow_kubernetes() {
        let c = |resources: Value| json!({"name": "c", "resources": resources});
        let pod = |containers: Vec<Value>| json!({"spec": {"containers": containers}});
        let gpu = json!({"limits": {"nvidia.com/gpu": 2}});
        let cpu_mem = json!({"limits": {"cpu": "1", "memory": "1Gi"}});
        let cases = [
            (
                "no resources",
                pod(vec![json!({"name": "c"})]),
                "BestEffort",
            ),
            ("GPUs only", pod(vec![c(gpu.clone())]), "BestEffort"),
            (
                "zero quantities",
                pod(vec![c(json!({"limits": {"cpu": "0", "memory": "0"}}))]),
                "BestEffort",
            ),
            (
                "limits only (requests default to them)",
                pod(vec![c(cpu_mem.clone())]),
                "Guaranteed",
            ),
            (
                "GPUs and equal CPU/memory",
                pod(vec![c(
                    json!({"limits": {"cpu": "1", "memory": "1Gi", "nvidia.com/gpu": 1}}),
                )]),
                "Guaranteed",
            ),
            (
                "request below limit",
                pod(vec![c(
                    json!({"requests": {"cpu": "500m"}, "limits": {"cpu": "1", "memory": "1Gi"}}),
                )]),
                "Burstable",
            ),
            (
                "CPU limit only",
                pod(vec![c(json!({"limits": {"cpu": "1"}}))]),
                "Burstable",
            ),
            (
                "one container without resources",
                pod(vec![c(cpu_mem.clone()), json!({"name": "d"})]),
                "Burstable",
            ),
            (
                "equal amounts in other units",
                pod(vec![c(
                    json!({"requests": {"cpu": "1000m", "memory": "1024Mi"}, "limits": {"cpu": "1", "memory": "1Gi"}}),
                )]),
                "Guaranteed",
            ),
        ];
        for (what, p, want) in cases {
            assert_eq!(qos_class(&p), want, "{what}");
        }
        let mut with_init = pod(vec![c(cpu_mem.clone())]);
        with_init["spec"]["initContainers"] = json!([c(gpu)]);
        assert_eq!(
            qos_class(&with_init),
            "Burstable",
            "init container without CPU/memory"
        );
        let mut pod_level = pod(vec![json!({"name": "c"})]);
        pod_level["spec"]["resources"] = cpu_mem;
        assert_eq!(qos_class(&pod_level), "Guaranteed", "pod-level resources");
    }
}
