//! The simulated cluster's hardware: a cluster spec file (YAML), the built-in presets
//! (`seed-4x8`, `w-synth-64`, `openb`, `openb-gpu`), and the openb node-list reader.
//!
//! The spec file is `basalt up --cluster`'s (crate `basalt-cluster-spec`, the one type both read):
//! a list of node groups, each `count` identical nodes, turned here into the scheduler's units.
//! This module only describes hardware; who holds what at a given time lives in `engine`.

use std::collections::BTreeMap;
use std::path::Path;

use scheduler_core::model::{Taint, TaintEffect};

use crate::error::{Error, Result, TraceError};
use crate::trace::Csv;

/// One node of the simulated cluster.
#[derive(Clone, Debug, PartialEq)]
pub struct NodeSpec {
    /// Node name (also the tie-break order: names sort).
    pub name: String,
    /// Allocatable CPU in millicores.
    pub cpu_milli: i64,
    /// Allocatable memory in bytes.
    pub memory_bytes: i64,
    /// Number of GPU cards.
    pub gpus: u32,
    /// GPU model name (`gpu-card-model` label).
    pub gpu_model: String,
    /// Memory per card in MiB.
    pub gpu_memory_mib: u64,
    /// Node labels.
    pub labels: BTreeMap<String, String>,
    /// Node taints.
    pub taints: Vec<Taint>,
}

/// The whole simulated cluster.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct ClusterSpec {
    /// Nodes in name order.
    pub nodes: Vec<NodeSpec>,
}

fn default_model() -> String {
    "NVIDIA-A100-SXM4-80GB".into()
}

/// Names of the built-in presets.
pub const PRESETS: &[&str] = &["seed-4x8", "w-synth-64", "openb", "openb-gpu"];

impl ClusterSpec {
    /// `count` nodes `<prefix>-NN` with `gpus` A100-80GB cards, 96 CPUs and 768 GiB each.
    pub fn uniform(prefix: &str, count: u32, gpus: u32) -> Self {
        let width = count.saturating_sub(1).to_string().len().max(2);
        let nodes = (0..count)
            .map(|i| NodeSpec {
                name: format!("{prefix}-{i:0width$}"),
                cpu_milli: 96_000,
                memory_bytes: 768 << 30,
                gpus,
                gpu_model: default_model(),
                gpu_memory_mib: 80 * 1024,
                labels: BTreeMap::new(),
                taints: Vec::new(),
            })
            .collect();
        Self { nodes }
    }

    /// A built-in preset; `traces` is the directory holding `openb-2023/` (for the openb ones).
    pub fn preset(name: &str, traces: &Path) -> Result<Self> {
        match name {
            "seed-4x8" => Ok(Self::uniform("gpu-node", 4, 8)),
            "w-synth-64" => Ok(Self::uniform("node", 64, 8)),
            "openb" => Self::read_openb(&traces.join("openb-2023/openb_node_list_all_node.csv")),
            "openb-gpu" => {
                Self::read_openb(&traces.join("openb-2023/openb_node_list_gpu_node.csv"))
            }
            other => Err(Error::UnknownPreset {
                name: other.into(),
                known: PRESETS.join(", "),
            }),
        }
    }

    /// Parses a cluster spec file's text (the format and validation of `basalt up --cluster`,
    /// crate `basalt-cluster-spec`); `origin` names it in errors. Nodes sort by name.
    pub fn from_yaml(text: &str, origin: &str) -> Result<Self> {
        let spec_error = |e: cluster_spec::SpecError| match e {
            cluster_spec::SpecError::Field { field, message, .. } => Error::Field {
                file: origin.into(),
                field,
                reason: message,
            },
            other => Error::Yaml {
                file: origin.into(),
                reason: other.to_string(),
            },
        };
        let resolved = cluster_spec::ClusterSpec::from_yaml(text, origin)
            .and_then(|spec| spec.resolve())
            .map_err(spec_error)?;
        let mut nodes = Vec::with_capacity(resolved.len());
        for (i, n) in resolved.into_iter().enumerate() {
            let too_large = |field: &str, e: scheduler_core::QuantityError| Error::Field {
                file: origin.into(),
                field: format!("nodes[{i}].{field}"),
                reason: e.to_string(),
            };
            let gpu_memory_bytes = n
                .gpu_memory
                .units()
                .map_err(|e| too_large("gpuMemory", e))?;
            let taints = n
                .taints
                .iter()
                .map(|t| Taint {
                    key: t.key.clone(),
                    value: t.value.clone().unwrap_or_default(),
                    // The spec's validation admits these three effects only.
                    effect: match t.effect.as_str() {
                        "NoSchedule" => TaintEffect::NoSchedule,
                        "PreferNoSchedule" => TaintEffect::PreferNoSchedule,
                        _ => TaintEffect::NoExecute,
                    },
                })
                .collect();
            nodes.push(NodeSpec {
                cpu_milli: n.cpu.millis().map_err(|e| too_large("cpu", e))?,
                memory_bytes: n.memory.units().map_err(|e| too_large("memory", e))?,
                gpus: n.gpus,
                gpu_memory_mib: (gpu_memory_bytes >> 20) as u64,
                gpu_model: n.gpu_model,
                labels: n.labels,
                taints,
                name: n.name,
            });
        }
        nodes.sort_by(|a, b| a.name.cmp(&b.name));
        Ok(Self { nodes })
    }

    /// Reads the openb node list (`sn, cpu_milli, memory_mib, gpu, model`).
    pub fn read_openb(path: &Path) -> Result<Self> {
        let csv = Csv::read(path)?;
        let sn = csv.column("sn")?;
        let cpu = csv.column("cpu_milli")?;
        let mem = csv.column("memory_mib")?;
        let gpu = csv.column("gpu")?;
        let model = csv.column("model")?;
        let mut nodes = Vec::with_capacity(csv.rows.len());
        for row in &csv.rows {
            let gpus: u32 = row.parse(gpu)?;
            let gpu_model = row.get(model).to_owned();
            nodes.push(NodeSpec {
                name: row.get(sn).to_owned(),
                cpu_milli: row.parse(cpu)?,
                memory_bytes: row.parse::<i64>(mem)? << 20,
                gpus,
                gpu_memory_mib: 0,
                labels: BTreeMap::from([("gpu-card-model".to_owned(), gpu_model.clone())]),
                taints: Vec::new(),
                gpu_model,
            });
        }
        if nodes.is_empty() {
            return Err(TraceError::new(path, 1, "sn", "the node list has no rows").into());
        }
        Ok(Self { nodes })
    }

    /// Total GPU cards.
    pub fn total_gpus(&self) -> u64 {
        self.nodes.iter().map(|n| u64::from(n.gpus)).sum()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn presets_and_spec_files_describe_the_expected_hardware() {
        let traces = &crate::repo_traces_dir();
        let seed = ClusterSpec::preset("seed-4x8", traces).unwrap();
        assert_eq!((seed.nodes.len(), seed.total_gpus()), (4, 32));
        let spec = ClusterSpec::from_yaml(
            "nodes:\n- name: gpu-node\n  count: 4\n  gpus: 8\n  cpu: \"96\"\n  memory: 768Gi\n",
            "inline",
        )
        .unwrap();
        assert_eq!(spec.total_gpus(), 32);
        assert_eq!(spec.nodes[0].cpu_milli, 96_000);
        assert_eq!(spec.nodes[3].name, "gpu-node-3");
        let err = ClusterSpec::preset("nope", traces).unwrap_err().to_string();
        assert!(err.contains("seed-4x8"), "{err}");
        // devcluster's format: numbers or strings, taints, usage, pods.
        let up = ClusterSpec::from_yaml(
            "nodes:\n- name: big\n  count: 2\n  cpu: 64\n  memory: 512Gi\n  pods: 110\n  gpus: 4\n  gpuModel: H100\n  taints:\n  - {key: gpu, effect: NoSchedule}\n  usage: {cpu: 0.1}\n",
            "up.yaml",
        )
        .unwrap();
        assert_eq!(up.nodes[1].gpu_model, "H100");
        assert_eq!(up.nodes[0].taints[0].effect, TaintEffect::NoSchedule);
        assert_eq!(up.nodes[0].memory_bytes, 512 << 30);
        let bad = ClusterSpec::from_yaml("nodes:\n- name: a\n  cpu: lots\n", "c.yaml");
        assert!(bad.unwrap_err().to_string().contains("nodes[0].cpu"));
        // The shared format's validation: a name defined twice is refused here as in `basalt up`.
        let twice = ClusterSpec::from_yaml("nodes:\n- name: a\n- name: a\n", "c.yaml");
        assert!(twice.unwrap_err().to_string().contains("defined twice"));
    }

    #[test]
    fn openb_presets_match_the_trace_readme() {
        let traces = &crate::repo_traces_dir();
        let all = ClusterSpec::preset("openb", traces).unwrap();
        assert_eq!((all.nodes.len(), all.total_gpus()), (1523, 6212));
        let gpu = ClusterSpec::preset("openb-gpu", traces).unwrap();
        assert_eq!((gpu.nodes.len(), gpu.total_gpus()), (1213, 6212));
    }
}
