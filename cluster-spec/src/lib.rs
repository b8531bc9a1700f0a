//! The cluster spec file (`basalt up --cluster FILE`, `basalt nodes --cluster FILE`, `basalt
//! simulate --cluster FILE`): node groups with labels, taints, CPU, memory, GPU count/model/memory
//! and background usage — the one type both the simulated kubelet (crate `basalt-kubelet`) and
//! the simulator read.
//!
//! This crate owns the file format and its validation only; turning a node into a Kubernetes
//! Node object is the kubelet's job, into the scheduler's model the simulator's. Errors name
//! the file and the field (`nodes[1].memory`). No kube stack: the simulator builds without it.

use std::collections::BTreeMap;
use std::path::Path;

use serde::{Deserialize, Serialize};

pub use quantity::Quantity;

/// Default node shape: the article's research cluster (4 × 8 × A100 80 GiB).
pub const DEFAULT_NODES: u32 = 4;
pub const DEFAULT_GPUS_PER_NODE: u32 = 8;
pub const DEFAULT_GPU_MODEL: &str = "NVIDIA-A100-SXM4-80GB";
pub const DEFAULT_GPU_MEMORY: &str = "80Gi";
pub const DEFAULT_CPU: &str = "96";
pub const DEFAULT_MEMORY: &str = "1Ti";
pub const DEFAULT_PODS: u32 = 110;

#[derive(Debug, thiserror::Error)]
pub enum SpecError {
    #[error("cannot read cluster spec {file}: {source}")]
    Read {
        file: String,
        source: std::io::Error,
    },
    #[error("cluster spec {origin} is not valid YAML: {message}")]
    Yaml { origin: String, message: String },
    #[error("cluster spec {origin}: {field}: {message}")]
    Field {
        origin: String,
        field: String,
        message: String,
    },
}

/// A quantity written as a YAML number (`96`) or string (`"80Gi"`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(untagged)]
pub enum QuantityValue {
    Number(f64),
    Text(String),
}

impl QuantityValue {
    /// The quantity as written (a number in its shortest decimal form, never an exponent).
    fn text(&self) -> String {
        match self {
            QuantityValue::Number(n) => n.to_string(),
            QuantityValue::Text(t) => t.clone(),
        }
    }
}

/// The whole file: a list of node groups.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct ClusterSpec {
    pub nodes: Vec<NodeGroup>,
}

/// `count` identical nodes. With `count: 1` the node is called `name`; otherwise `name-0`,
/// `name-1`, …
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct NodeGroup {
    pub name: String,
    #[serde(default = "one")]
    pub count: u32,
    #[serde(default)]
    pub cpu: Option<QuantityValue>,
    #[serde(default)]
    pub memory: Option<QuantityValue>,
    #[serde(default)]
    pub pods: Option<u32>,
    #[serde(default)]
    pub gpus: u32,
    #[serde(default)]
    pub gpu_model: Option<String>,
    #[serde(default)]
    pub gpu_memory: Option<QuantityValue>,
    #[serde(default)]
    pub labels: BTreeMap<String, String>,
    #[serde(default)]
    pub taints: Vec<Taint>,
    /// Background usage (fractions of capacity in 0..=1) that is not from pods.
    #[serde(default)]
    pub usage: Usage,
}

fn one() -> u32 {
    1
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Taint {
    pub key: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub value: Option<String>,
    pub effect: String,
}

/// Fractions of capacity in use, each in `0..=1`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Usage {
    #[serde(default)]
    pub cpu: f64,
    #[serde(default)]
    pub memory: f64,
    #[serde(default)]
    pub gpu: f64,
}

/// One node with every value resolved: quantities parsed exactly (read them as
/// [`Quantity::to_f64`] base units, or [`Quantity::millis`] / [`Quantity::units`], which are
/// checked to fit in 64 bits), non-negative.
#[derive(Debug, Clone, PartialEq)]
pub struct SimNode {
    pub name: String,
    pub labels: BTreeMap<String, String>,
    pub taints: Vec<Taint>,
    /// Cores.
    pub cpu: Quantity,
    /// Bytes.
    pub memory: Quantity,
    pub pods: u32,
    pub gpus: u32,
    pub gpu_model: String,
    /// Bytes per GPU.
    pub gpu_memory: Quantity,
    pub background: Usage,
}

impl ClusterSpec {
    /// `nodes` identical GPU nodes named `gpu-node-0…`, as `basalt up` builds from its flags.
    pub fn uniform(nodes: u32, gpus: u32, gpu_model: &str, gpu_memory: &str) -> Self {
        ClusterSpec {
            nodes: vec![NodeGroup {
                name: "gpu-node".into(),
                count: nodes,
                cpu: None,
                memory: None,
                pods: None,
                gpus,
                gpu_model: Some(gpu_model.into()),
                gpu_memory: Some(QuantityValue::Text(gpu_memory.into())),
                labels: BTreeMap::new(),
                taints: vec![],
                usage: Usage::default(),
            }],
        }
    }

    /// Reads and validates a spec file.
    pub fn from_file(path: &Path) -> Result<Self, SpecError> {
        let file = path.display().to_string();
        let text = std::fs::read_to_string(path).map_err(|source| SpecError::Read {
            file: file.clone(),
            source,
        })?;
        Self::from_yaml(&text, &file)
    }

    /// Parses and validates a spec; `origin` names the source in errors.
    pub fn from_yaml(text: &str, origin: &str) -> Result<Self, SpecError> {
        let yaml = |message: String| SpecError::Yaml {
            origin: origin.into(),
            message,
        };
        let field = |field: String, message: String| SpecError::Field {
            origin: origin.into(),
            field,
            message,
        };
        let doc: serde_json::Value =
            serde_saphyr::from_str(text).map_err(|e| yaml(e.to_string()))?;
        let Some(top) = doc.as_object() else {
            return Err(field(
                "(top level)".into(),
                "expected a mapping with a `nodes:` list".into(),
            ));
        };
        if let Some(unknown) = top.keys().find(|k| k.as_str() != "nodes") {
            return Err(field(
                unknown.clone(),
                "unknown field; the only top-level field is `nodes`".into(),
            ));
        }
        let Some(groups) = top.get("nodes").and_then(|n| n.as_array()) else {
            return Err(field(
                "nodes".into(),
                "required: a list of node groups".into(),
            ));
        };
        let mut nodes = Vec::with_capacity(groups.len());
        for (i, group) in groups.iter().enumerate() {
            let group: NodeGroup = serde_json::from_value(group.clone())
                .map_err(|e| field(format!("nodes[{i}]"), e.to_string()))?;
            nodes.push(group);
        }
        let spec = ClusterSpec { nodes };
        spec.resolve_in(origin)?;
        Ok(spec)
    }

    /// Every node, with defaults filled in and quantities resolved.
    pub fn resolve(&self) -> Result<Vec<SimNode>, SpecError> {
        self.resolve_in("(flags)")
    }

    fn resolve_in(&self, origin: &str) -> Result<Vec<SimNode>, SpecError> {
        let field = |field: String, message: String| SpecError::Field {
            origin: origin.into(),
            field,
            message,
        };
        if self.nodes.is_empty() {
            return Err(field(
                "nodes".into(),
                "the list is empty; describe at least one node group".into(),
            ));
        }
        let mut out: Vec<SimNode> = vec![];
        for (i, g) in self.nodes.iter().enumerate() {
            let at = |f: &str| format!("nodes[{i}].{f}");
            let qty = |f: &str, q: &Option<QuantityValue>, default: &str| {
                let text = q
                    .as_ref()
                    .map_or_else(|| default.to_owned(), QuantityValue::text);
                let shown = match q {
                    Some(QuantityValue::Number(n)) => n.to_string(),
                    _ => format!("{text:?}"),
                };
                let v = quantity::parse_quantity(&text).map_err(|e| {
                    field(
                        at(f),
                        format!("{shown} is not a valid quantity ({e}); write e.g. 96, 500m, 80Gi"),
                    )
                })?;
                if v.is_negative() {
                    return Err(field(
                        at(f),
                        format!("{shown} is negative; write 0 or more"),
                    ));
                }
                // CPU is read in millicores, the others in base units: each must fit.
                let fits = if f == "cpu" { v.millis() } else { v.units() };
                if let Err(e) = fits {
                    return Err(field(at(f), format!("{shown} is too large: {e}")));
                }
                Ok(v)
            };
            if !is_dns_label(&g.name) {
                return Err(field(
                    at("name"),
                    format!(
                        "{:?} is not a valid node name (lowercase letters, digits and '-', at most 58 characters)",
                        g.name
                    ),
                ));
            }
            if g.count == 0 {
                return Err(field(at("count"), "must be at least 1".into()));
            }
            for (f, v) in [
                ("cpu", g.usage.cpu),
                ("memory", g.usage.memory),
                ("gpu", g.usage.gpu),
            ] {
                if !(0.0..=1.0).contains(&v) {
                    return Err(field(
                        at(&format!("usage.{f}")),
                        format!("{v} is not a fraction in 0..=1"),
                    ));
                }
            }
            for (t, taint) in g.taints.iter().enumerate() {
                if !matches!(
                    taint.effect.as_str(),
                    "NoSchedule" | "PreferNoSchedule" | "NoExecute"
                ) {
                    return Err(field(
                        at(&format!("taints[{t}].effect")),
                        format!(
                            "{:?} is not one of NoSchedule, PreferNoSchedule, NoExecute",
                            taint.effect
                        ),
                    ));
                }
            }
            let cpu = qty("cpu", &g.cpu, DEFAULT_CPU)?;
            let memory = qty("memory", &g.memory, DEFAULT_MEMORY)?;
            let gpu_memory = qty("gpuMemory", &g.gpu_memory, DEFAULT_GPU_MEMORY)?;
            if g.gpus > 0 && gpu_memory.to_f64() <= 0.0 {
                return Err(field(
                    at("gpuMemory"),
                    "must be positive on a node with GPUs".into(),
                ));
            }
            for n in 0..g.count {
                let name = if g.count == 1 {
                    g.name.clone()
                } else {
                    format!("{}-{n}", g.name)
                };
                if out.iter().any(|o| o.name == name) {
                    return Err(field(at("name"), format!("node {name:?} is defined twice")));
                }
                out.push(SimNode {
                    name,
                    labels: g.labels.clone(),
                    taints: g.taints.clone(),
                    cpu,
                    memory,
                    pods: g.pods.unwrap_or(DEFAULT_PODS),
                    gpus: g.gpus,
                    gpu_model: g
                        .gpu_model
                        .clone()
                        .unwrap_or_else(|| DEFAULT_GPU_MODEL.into()),
                    gpu_memory,
                    background: g.usage,
                });
            }
        }
        Ok(out)
    }
}

fn is_dns_label(name: &str) -> bool {
    !name.is_empty()
        && name.len() <= 58
        && name
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
        && !name.starts_with('-')
        && !name.ends_with('-')
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    const SAMPLE: &str = r#"
nodes:
  - name: a100
    count: 2
    cpu: 96
    memory: 1Ti
    gpus: 8
    gpuModel: NVIDIA-A100-SXM4-80GB
    gpuMemory: 80Gi
    labels: {zone: a}
    taints: [{key: dedicated, value: training, effect: NoSchedule}]
    usage: {cpu: 0.2, gpu: 0.1}
  - name: cpu-only
    cpu: "32"
    memory: 128Gi
"#;

    #[test]
    fn parses_and_expands_groups() {
        let spec = ClusterSpec::from_yaml(SAMPLE, "c.yaml").unwrap();
        let nodes = spec.resolve().unwrap();
        let names: Vec<_> = nodes.iter().map(|n| n.name.as_str()).collect();
        assert_eq!(names, ["a100-0", "a100-1", "cpu-only"]);
        assert_eq!(nodes[0].gpus, 8);
        assert_eq!(nodes[0].gpu_memory.to_f64(), 80.0 * 1024f64.powi(3));
        assert_eq!(nodes[0].background.cpu, 0.2);
        assert_eq!(nodes[0].taints[0].value.as_deref(), Some("training"));
        assert_eq!(nodes[2].gpus, 0);
        assert_eq!(nodes[2].cpu.to_f64(), 32.0);
        assert_eq!(nodes[2].pods, DEFAULT_PODS);
    }

    #[test]
    fn numbers_and_strings_are_the_same_quantity() {
        let spec = ClusterSpec::from_yaml(
            "nodes:\n  - name: a\n    cpu: 1.5\n    memory: 1073741824\n  - name: b\n    cpu: 1500m\n    memory: 1Gi\n",
            "c.yaml",
        )
        .unwrap();
        let nodes = spec.resolve().unwrap();
        assert_eq!(nodes[0].cpu, nodes[1].cpu);
        assert_eq!(nodes[0].cpu.millis().unwrap(), 1500);
        assert_eq!(nodes[0].memory, nodes[1].memory);
    }

    #[test]
    fn uniform_matches_the_flag_defaults() {
        let nodes = ClusterSpec::uniform(4, 8, DEFAULT_GPU_MODEL, "80Gi")
            .resolve()
            .unwrap();
        assert_eq!(nodes.len(), 4);
        assert_eq!(nodes[3].name, "gpu-node-3");
        assert_eq!(nodes[0].cpu.millis().unwrap(), 96_000);
        assert_eq!(nodes[0].memory.units().unwrap(), 1 << 40);
    }

    fn err(yaml: &str) -> String {
        ClusterSpec::from_yaml(yaml, "c.yaml")
            .unwrap_err()
            .to_string()
    }

    #[test]
    fn errors_name_the_file_and_field() {
        let e = err("nodes:\n  - name: a\n    memory: lots\n");
        assert!(e.contains("c.yaml") && e.contains("nodes[0].memory"), "{e}");
        assert!(e.contains("\"lots\" is not a valid quantity"), "{e}");
        let e = err("nodes:\n  - name: a\n    gpu: 8\n");
        assert!(
            e.contains("nodes[0]") && e.contains("unknown field `gpu`"),
            "{e}"
        );
        let e = err("nodes:\n  - name: a\n  - name: b\n    usage: {cpu: 1.5}\n");
        assert!(e.contains("nodes[1].usage.cpu"), "{e}");
        let e = err("nodes:\n  - name: a\n    taints: [{key: k, effect: Never}]\n");
        assert!(e.contains("nodes[0].taints[0].effect"), "{e}");
        let e = err("nodes:\n  - name: Bad_Name\n");
        assert!(e.contains("nodes[0].name"), "{e}");
        let e = err("nodes:\n  - name: a\n  - name: a\n");
        assert!(e.contains("defined twice"), "{e}");
        let e = err("node: []\n");
        assert!(e.contains("node") && e.contains("unknown field"), "{e}");
        let e = err("nodes: []\n");
        assert!(e.contains("empty"), "{e}");
        let e = err("nodes: [\n");
        assert!(e.contains("not valid YAML"), "{e}");
        let e = err("nodes:\n  - name: a\n    cpu: -4\n");
        assert!(
            e.contains("nodes[0].cpu") && e.contains("-4 is negative"),
            "{e}"
        );
        let e = err("nodes:\n  - name: a\n    cpu: 1e18\n");
        assert!(e.contains("nodes[0].cpu") && e.contains("too large"), "{e}");
        let e = err("nodes:\n  - name: a\n    memory: 4GB\n");
        assert!(e.contains("unknown suffix \"GB\""), "{e}");
        let e = err("nodes:\n  - name: a\n    gpus: 1\n    gpuMemory: 0\n");
        assert!(e.contains("nodes[0].gpuMemory"), "{e}");
    }

    #[test]
    fn missing_file_is_named() {
        let e = ClusterSpec::from_file(Path::new("/nonexistent/cluster.yaml"))
            .unwrap_err()
            .to_string();
        assert!(e.contains("/nonexistent/cluster.yaml"), "{e}");
    }
}
