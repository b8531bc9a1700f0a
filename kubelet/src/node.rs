//! The Node object a simulated node registers: capacity (CPU, memory, pods, whole GPUs and the
//! vGPU resources HAMi and Volcano schedule), GPU feature discovery labels, the HAMi device
//! registration annotation, taints and a Ready condition; plus its heartbeat Lease.
//!
//! Pure functions from a [`SimNode`] to JSON; the kubelet loop does the writing.

use serde_json::{Value, json};

use super::spec::SimNode;
use devcluster::quantity;

/// Label on every node this module creates, so the kubelet recognises its own nodes.
pub const SIMULATED_LABEL: &str = "sim.basalt.dev/simulated";
/// How many pods HAMi lets share one card (`count` in the registration annotation).
pub const GPU_SPLIT_COUNT: u32 = 10;
/// Namespace of node heartbeat leases.
pub const LEASE_NAMESPACE: &str = "kube-node-lease";
pub const KUBELET_VERSION: &str = "v1.32.0-basalt-sim";

/// Deterministic per-node, per-card UUID in NVIDIA's `GPU-xxxxxxxx-…` form.
pub fn gpu_uuid(node: &str, index: u32) -> String {
    // FNV-1a: stable across runs and platforms, so restarts keep the same device ids.
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for b in node.bytes().chain(index.to_le_bytes()) {
        h ^= u64::from(b);
        h = h.wrapping_mul(0x0000_0100_0000_01b3);
    }
    let hex = format!("{h:016x}{:016x}", h.rotate_left(29) ^ 0x9e37_79b9_7f4a_7c15);
    format!(
        "GPU-{}-{}-{}-{}-{}",
        &hex[0..8],
        &hex[8..12],
        &hex[12..16],
        &hex[16..20],
        &hex[20..32]
    )
}

/// HAMi's `hami.io/node-nvidia-register` value: a JSON array with one entry per card.
pub fn hami_register(node: &SimNode) -> String {
    let cards: Vec<Value> = (0..node.gpus)
        .map(|i| {
            json!({
                "id": gpu_uuid(&node.name, i),
                "index": i,
                "count": GPU_SPLIT_COUNT,
                "devmem": quantity::mib(node.gpu_memory.to_f64()),
                "devcore": 100,
                "type": node.gpu_model,
                "numa": if node.gpus > 1 && i >= node.gpus / 2 { 1 } else { 0 },
                "mode": "hami-core",
                "health": true,
                "devicevendor": "NVIDIA",
            })
        })
        .collect();
    Value::Array(cards).to_string()
}

/// `status.capacity` (also used as `allocatable`).
pub fn capacity(node: &SimNode) -> Value {
    let mut cap = json!({
        "cpu": quantity::cpu(node.cpu.to_f64()),
        "memory": quantity::bytes(node.memory.to_f64()),
        "pods": node.pods.to_string(),
        "ephemeral-storage": "1Ti",
        "hugepages-1Gi": "0",
        "hugepages-2Mi": "0",
    });
    if node.gpus > 0 {
        let gpus = u64::from(node.gpus);
        let total_mib = gpus * quantity::mib(node.gpu_memory.to_f64());
        let extra = json!({
            "nvidia.com/gpu": gpus.to_string(),
            // Pods ask for `nvidia.com/vgpu-memory: 4Gi`, so this one is a byte quantity.
            "nvidia.com/vgpu-memory": quantity::bytes(node.gpu_memory.to_f64() * node.gpus as f64),
            "nvidia.com/vgpu-cores": (gpus * 100).to_string(),
            // HAMi counts memory in MiB and cores in percent of a card.
            "nvidia.com/gpumem": total_mib.to_string(),
            "nvidia.com/gpucores": (gpus * 100).to_string(),
            "volcano.sh/vgpu-number": (gpus * u64::from(GPU_SPLIT_COUNT)).to_string(),
            "volcano.sh/vgpu-memory": total_mib.to_string(),
            "volcano.sh/vgpu-cores": (gpus * 100).to_string(),
        });
        if let (Value::Object(c), Value::Object(e)) = (&mut cap, extra) {
            c.extend(e);
        }
    }
    cap
}

/// Labels: the spec's, the well-known node labels, and NVIDIA GPU feature discovery labels.
pub fn labels(node: &SimNode) -> Value {
    let mut labels = serde_json::Map::new();
    for (k, v) in [
        ("kubernetes.io/hostname", node.name.as_str()),
        ("kubernetes.io/os", "linux"),
        ("kubernetes.io/arch", "amd64"),
        ("beta.kubernetes.io/os", "linux"),
        ("beta.kubernetes.io/arch", "amd64"),
        ("node.kubernetes.io/instance-type", "basalt-sim"),
        (SIMULATED_LABEL, "true"),
        (crds::labels::MANAGED_BY, crds::labels::MANAGED_BY_VALUE),
    ] {
        labels.insert(k.into(), json!(v));
    }
    if node.gpus > 0 {
        labels.insert("nvidia.com/gpu.present".into(), json!("true"));
        labels.insert("nvidia.com/gpu.product".into(), json!(node.gpu_model));
        labels.insert(
            "nvidia.com/gpu.memory".into(),
            json!(quantity::mib(node.gpu_memory.to_f64()).to_string()),
        );
        labels.insert("nvidia.com/gpu.count".into(), json!(node.gpus.to_string()));
        labels.insert(
            "nvidia.com/gpu.family".into(),
            json!(gpu_family(&node.gpu_model)),
        );
        // HAMi's device plugin only runs on nodes labelled gpu=on.
        labels.insert("gpu".into(), json!("on"));
    }
    for (k, v) in &node.labels {
        labels.insert(k.clone(), json!(v));
    }
    Value::Object(labels)
}

fn gpu_family(model: &str) -> &'static str {
    let m = model.to_ascii_uppercase();
    if m.contains("H100") || m.contains("H200") || m.contains("H800") {
        "hopper"
    } else if m.contains("A100") || m.contains("A800") || m.contains("A10") || m.contains("A30") {
        "ampere"
    } else if m.contains("L4") || m.contains("L40") {
        "ada-lovelace"
    } else if m.contains("V100") {
        "volta"
    } else if m.contains("T4") {
        "turing"
    } else {
        "unknown"
    }
}

/// The Node object to create. `index` gives the node a distinct IP and pod CIDR.
pub fn node_object(node: &SimNode, index: usize, now: &str) -> Value {
    let cap = capacity(node);
    let taints: Vec<Value> = node
        .taints
        .iter()
        .map(|t| {
            let mut v = json!({"key": t.key, "effect": t.effect});
            if let Some(value) = &t.value {
                v["value"] = json!(value);
            }
            v
        })
        .collect();
    let mut annotations = json!({
        "node.alpha.kubernetes.io/ttl": "0",
        "sim.basalt.dev/background-usage": format!(
            "cpu={},memory={},gpu={}", node.background.cpu, node.background.memory, node.background.gpu
        ),
    });
    if node.gpus > 0 {
        annotations["hami.io/node-nvidia-register"] = json!(hami_register(node));
        annotations["hami.io/node-handshake-nvidia"] = json!(format!("Reported_{now}"));
    }
    json!({
        "apiVersion": "v1",
        "kind": "Node",
        "metadata": {"name": node.name, "labels": labels(node), "annotations": annotations},
        "spec": {
            "podCIDR": pod_cidr(index),
            "podCIDRs": [pod_cidr(index)],
            "providerID": format!("basalt-sim://{}", node.name),
            "taints": taints,
        },
        "status": status(node, index, now, &cap),
    })
}

fn pod_cidr(index: usize) -> String {
    format!("10.244.{}.0/24", index % 256)
}

/// Node IP for the node at `index`.
pub fn node_ip(index: usize) -> String {
    format!("10.0.{}.{}", index / 250, index % 250 + 2)
}

/// `status` with a Ready condition whose heartbeat is `now`.
pub fn status(node: &SimNode, index: usize, now: &str, cap: &Value) -> Value {
    let condition = |kind: &str, status: &str, reason: &str, message: &str| {
        json!({"type": kind, "status": status, "reason": reason, "message": message,
               "lastHeartbeatTime": now, "lastTransitionTime": now})
    };
    json!({
        "capacity": cap,
        "allocatable": cap,
        "phase": "Running",
        "conditions": [
            condition("MemoryPressure", "False", "KubeletHasSufficientMemory", "kubelet has sufficient memory available"),
            condition("DiskPressure", "False", "KubeletHasNoDiskPressure", "kubelet has no disk pressure"),
            condition("PIDPressure", "False", "KubeletHasSufficientPID", "kubelet has sufficient PID available"),
            condition("Ready", "True", "KubeletReady", "simulated kubelet is posting ready status"),
        ],
        "addresses": [
            {"type": "InternalIP", "address": node_ip(index)},
            {"type": "Hostname", "address": node.name},
        ],
        "daemonEndpoints": {"kubeletEndpoint": {"Port": 10250}},
        "nodeInfo": {
            "machineID": format!("{:032x}", index),
            "systemUUID": gpu_uuid(&node.name, u32::MAX).trim_start_matches("GPU-").to_string(),
            "bootID": "",
            "kernelVersion": "6.8.0-basalt-sim",
            "osImage": "Basalt simulated node",
            "containerRuntimeVersion": "basalt-sim://1.0.0",
            "kubeletVersion": KUBELET_VERSION,
            "kubeProxyVersion": KUBELET_VERSION,
            "operatingSystem": "linux",
            "architecture": "amd64",
        },
    })
}

/// The heartbeat Lease in `kube-node-lease`.
pub fn lease_object(node: &str, now_micro: &str) -> Value {
    json!({
        "apiVersion": "coordination.k8s.io/v1",
        "kind": "Lease",
        "metadata": {"name": node, "namespace": LEASE_NAMESPACE,
                      "labels": {crds::labels::MANAGED_BY: crds::labels::MANAGED_BY_VALUE}},
        "spec": {"holderIdentity": node, "leaseDurationSeconds": 40, "renewTime": now_micro},
    })
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::super::spec::ClusterSpec;
    use super::*;

    fn a100() -> SimNode {
        ClusterSpec::uniform(1, 8, "NVIDIA-A100-SXM4-80GB", "80Gi")
            .resolve()
            .unwrap()
            .remove(0)
    }

    #[test]
    fn capacity_has_gpus_and_vgpu_resources() {
        let cap = capacity(&a100());
        assert_eq!(cap["cpu"], "96");
        assert_eq!(cap["memory"], "1Ti");
        assert_eq!(cap["nvidia.com/gpu"], "8");
        assert_eq!(cap["nvidia.com/vgpu-memory"], "640Gi");
        assert_eq!(cap["nvidia.com/vgpu-cores"], "800");
        assert_eq!(cap["nvidia.com/gpumem"], "655360");
        assert_eq!(cap["volcano.sh/vgpu-number"], "80");
    }

    #[test]
    fn cpu_node_has_no_gpu_resources_or_labels() {
        let mut n = a100();
        n.gpus = 0;
        assert!(capacity(&n).get("nvidia.com/gpu").is_none());
        assert!(labels(&n).get("nvidia.com/gpu.product").is_none());
    }

    #[test]
    fn labels_and_hami_annotation() {
        let node = a100();
        let obj = node_object(&node, 0, "2026-01-01T00:00:00Z");
        let l = &obj["metadata"]["labels"];
        assert_eq!(l["nvidia.com/gpu.product"], "NVIDIA-A100-SXM4-80GB");
        assert_eq!(l["nvidia.com/gpu.memory"], "81920");
        assert_eq!(l["nvidia.com/gpu.count"], "8");
        let reg: Vec<Value> = serde_json::from_str(
            obj["metadata"]["annotations"]["hami.io/node-nvidia-register"]
                .as_str()
                .unwrap(),
        )
        .unwrap();
        assert_eq!(reg.len(), 8);
        assert_eq!(reg[3]["devmem"], 81920);
        assert_eq!(reg[3]["index"], 3);
        assert!(reg[3]["id"].as_str().unwrap().starts_with("GPU-"));
        assert_ne!(reg[0]["id"], reg[1]["id"]);
        let ready = obj["status"]["conditions"]
            .as_array()
            .unwrap()
            .iter()
            .find(|c| c["type"] == "Ready")
            .unwrap();
        assert_eq!(ready["status"], "True");
    }

    #[test]
    fn gpu_uuids_are_stable_and_distinct() {
        assert_eq!(gpu_uuid("n", 0), gpu_uuid("n", 0));
        assert_ne!(gpu_uuid("n", 0), gpu_uuid("m", 0));
        assert_eq!(gpu_uuid("n", 0).len(), 40);
    }
}
