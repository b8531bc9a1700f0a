//! Kubelet admission: a pod bound to a node that cannot hold it (CPU, memory, pod count or
//! whole GPUs beyond allocatable, counting the pods already running there) is rejected the way
//! a kubelet rejects it: phase Failed, reason `OutOf<resource>`. This is what makes an
//! over-committing scheduler visible in e2e tests. Pure functions.

use serde_json::{Value, json};

use super::spec::SimNode;
use devcluster::quantity;

/// What admission counts for one pod.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct Request {
    /// Cores.
    pub cpu: f64,
    /// Bytes.
    pub memory: f64,
    /// Whole `nvidia.com/gpu`.
    pub gpus: f64,
}

fn amount(c: &Value, name: &str) -> f64 {
    c.pointer("/resources/requests")
        .and_then(|r| r.get(name))
        .or_else(|| c.pointer("/resources/limits").and_then(|l| l.get(name)))
        .and_then(quantity::from_json)
        .unwrap_or(0.0)
}

fn of(c: &Value) -> Request {
    Request {
        cpu: amount(c, "cpu"),
        memory: amount(c, "memory"),
        gpus: amount(c, "nvidia.com/gpu"),
    }
}

/// The pod's effective request: the sum over containers, or the largest init container when
/// that is larger (init containers run one at a time), per resource.
pub fn request(pod: &Value) -> Request {
    let list = |f: &str| {
        pod.pointer(&format!("/spec/{f}"))
            .and_then(Value::as_array)
            .cloned()
            .unwrap_or_default()
    };
    let sum = list("containers")
        .iter()
        .map(of)
        .fold(Request::default(), |a, r| Request {
            cpu: a.cpu + r.cpu,
            memory: a.memory + r.memory,
            gpus: a.gpus + r.gpus,
        });
    list("initContainers")
        .iter()
        .map(of)
        .fold(sum, |a, r| Request {
            cpu: a.cpu.max(r.cpu),
            memory: a.memory.max(r.memory),
            gpus: a.gpus.max(r.gpus),
        })
}

/// Why a pod was refused.
#[derive(Debug, Clone, PartialEq)]
pub struct Rejection {
    pub reason: String,
    pub message: String,
}

/// Admits `pod` onto `node`, where `running` are the requests of the pods already admitted.
pub fn admit(node: &SimNode, running: &[Request], pod: &Request) -> Result<(), Rejection> {
    if running.len() >= node.pods as usize {
        return Err(Rejection {
            reason: "OutOfpods".into(),
            message: format!(
                "Node didn't have enough resource: pods, requested: 1, used: {}, capacity: {}",
                running.len(),
                node.pods
            ),
        });
    }
    let used = running.iter().fold(Request::default(), |a, r| Request {
        cpu: a.cpu + r.cpu,
        memory: a.memory + r.memory,
        gpus: a.gpus + r.gpus,
    });
    // CPU in millicores and memory in bytes, as the kubelet words it.
    let checks = [
        (
            "cpu",
            pod.cpu * 1000.0,
            used.cpu * 1000.0,
            node.cpu.to_f64() * 1000.0,
        ),
        ("memory", pod.memory, used.memory, node.memory.to_f64()),
        ("nvidia.com/gpu", pod.gpus, used.gpus, f64::from(node.gpus)),
    ];
    for (name, requested, used, capacity) in checks {
        // A little slack for float sums of decimal quantities.
        if requested > 0.0 && used + requested > capacity + 1e-6 {
            return Err(Rejection {
                reason: format!("OutOf{name}"),
                message: format!(
                    "Pod was rejected: Node didn't have enough resource: {name}, requested: {}, used: {}, capacity: {}",
                    requested.round(),
                    used.round(),
                    capacity.round()
                ),
            });
        }
    }
    Ok(())
}

/// `status` of a rejected pod.
pub fn rejected_status(rejection: &Rejection, now: &str) -> Value {
    json!({
        "phase": "Failed",
        "reason": rejection.reason,
        "message": rejection.message,
        "startTime": now,
    })
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::super::spec::ClusterSpec;
    use super::*;

    fn node() -> SimNode {
        ClusterSpec::uniform(1, 8, "A100", "80Gi")
            .resolve()
            .unwrap()
            .remove(0)
    }

    fn gpus(n: f64) -> Request {
        Request {
            cpu: 1.0,
            memory: 1e9,
            gpus: n,
        }
    }

    #[test]
    fn request_sums_containers_and_takes_the_largest_init() {
        let pod = json!({"spec": {
        "initContainers": [{"name": "i", "resources": {"requests": {"cpu": "4"}}}],
        "containers": [
            {"name": "a", "resources": {"requests": {"cpu": "1", "memory": "1Gi"}, "limits": {"nvidia.com/gpu": 2}}},
            {"name": "b", "resources": {"requests": {"cpu": "500m"}}},
        ]}});
        let r = request(&pod);
        assert_eq!(r.cpu, 4.0);
        assert_eq!(r.memory, 1024f64.powi(3));
        assert_eq!(r.gpus, 2.0);
    }

    #[test]
    fn gpus_beyond_the_node_are_rejected() {
        let n = node();
        assert!(admit(&n, &[gpus(4.0), gpus(2.0)], &gpus(2.0)).is_ok());
        let e = admit(&n, &[gpus(4.0), gpus(3.0)], &gpus(2.0)).unwrap_err();
        assert_eq!(e.reason, "OutOfnvidia.com/gpu");
        assert!(
            e.message.contains("requested: 2, used: 7, capacity: 8"),
            "{}",
            e.message
        );
    }

    #[test]
    fn cpu_and_pod_count_are_checked() {
        let mut n = node();
        let e = admit(
            &n,
            &[Request {
                cpu: 95.5,
                ..Request::default()
            }],
            &Request {
                cpu: 1.0,
                ..Request::default()
            },
        )
        .unwrap_err();
        assert_eq!(e.reason, "OutOfcpu");
        assert!(
            e.message
                .contains("requested: 1000, used: 95500, capacity: 96000"),
            "{}",
            e.message
        );
        n.pods = 1;
        assert_eq!(
            admit(&n, &[Request::default()], &Request::default())
                .unwrap_err()
                .reason,
            "OutOfpods"
        );
        // Pods that request nothing always fit.
        n.pods = 110;
        assert!(admit(&n, &[gpus(8.0)], &Request::default()).is_ok());
    }
}
