//! `binpack`: prefer fuller nodes, per Volcano's formula. For each resource the task requests
//! that has a weight: `s_r = w_r × (request_r + used_r) / allocatable_r` (0 when allocatable is
//! 0); any resource overflowing makes the node's score 0; score = Σ s_r / Σ w_r × 100 × weight.
//!
//! Arguments: `binpack.weight` (1; 0 disables), `binpack.cpu` (1), `binpack.memory` (1),
//! `binpack.resources` (comma list of extra names), `binpack.resources.<name>` (1; negative → 1).

use crate::config::{Arguments, ConfigError};
use crate::plugin::{Hooks, Plugin};
use crate::resources::{CPU, MEMORY};
use crate::session::{NodeIx, State, TaskIx};

/// The `binpack` plugin.
#[derive(Clone, Debug)]
pub struct Binpack {
    weight: f64,
    named: Vec<(String, f64)>,
    per_dim: Vec<f64>,
}

/// Registry factory.
pub fn factory(args: &Arguments) -> Result<Box<dyn Plugin>, ConfigError> {
    let clamp = |w: f64| if w < 0.0 { 1.0 } else { w };
    let mut named = vec![
        (CPU.to_owned(), clamp(args.f64("binpack.cpu", 1.0)?)),
        (MEMORY.to_owned(), clamp(args.f64("binpack.memory", 1.0)?)),
    ];
    for name in args
        .str("binpack.resources")?
        .unwrap_or("")
        .split(',')
        .map(str::trim)
        .filter(|s| !s.is_empty())
    {
        let w = clamp(args.f64(&format!("binpack.resources.{name}"), 1.0)?);
        named.push((name.to_owned(), w));
    }
    Ok(Box::new(Binpack {
        weight: clamp(args.f64("binpack.weight", 1.0)?),
        named,
        per_dim: Vec::new(),
    }))
}

impl Plugin for Binpack {
    fn name(&self) -> &'static str {
        "binpack"
    }

    fn node_local(&self) -> bool {
        true
    }

    fn hooks(&self) -> Hooks {
        Hooks::NODE_SCORE
    }

    fn open(&mut self, st: &State<'_>) {
        self.per_dim = vec![0.0; st.dims.len()];
        for (name, w) in &self.named {
            if let Some(d) = st.dims.index_of(name) {
                self.per_dim[d] = *w;
            }
        }
    }

    fn node_score(&self, st: &State<'_>, task: TaskIx, node: NodeIx) -> f64 {
        if self.weight == 0.0 {
            return 0.0;
        }
        let req = st.request(task);
        let alloc = st.allocatable.row(node.ix());
        let used = st.used.row(node.ix());
        let (mut sum, mut weights) = (0.0, 0.0);
        for d in 0..req.len() {
            let w = self.per_dim[d];
            if req[d] <= 0 || w == 0.0 {
                continue;
            }
            weights += w;
            if alloc[d] <= 0 {
                continue;
            }
            let wanted = req[d] + used[d];
            if wanted > alloc[d] {
                return 0.0;
            }
            sum += w * wanted as f64 / alloc[d] as f64;
        }
        if weights == 0.0 {
            0.0
        } else {
            sum / weights * 100.0 * self.weight
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::plugins::testkit::{Kit, node_ix, task_ix};
    use crate::resources::{NVIDIA_GPU, Resources};
    use serde_json::json;

    fn make(args: serde_json::Value) -> Box<dyn Plugin> {
        let serde_json::Value::Object(map) = args else {
            panic!("object")
        };
        factory(&Arguments::new("plugin \"binpack\"", map)).expect("valid")
    }

    #[test]
    fn volcano_formula_table() {
        let mut k = Kit::new();
        k.node("n", Resources::cpu_mem_gpu(4000, 4000, 8));
        k.edit_node("n", |n| n.used = Resources::cpu_mem_gpu(1000, 3000, 4));
        k.job("j", 1, 0);
        k.task("j/cpu", "j", Resources::new().with(CPU, 1000), 0);
        k.task(
            "j/both",
            "j",
            Resources::new().with(CPU, 1000).with(MEMORY, 1000),
            0,
        );
        k.task("j/gpu", "j", Resources::cpu_mem_gpu(1000, 0, 2), 0);
        k.task("j/big", "j", Resources::new().with(MEMORY, 2000), 0);
        let cases = [
            (json!({}), "j/cpu", 50.0),                  // 2000/4000
            (json!({}), "j/both", 75.0),                 // (0.5 + 1.0)/2
            (json!({"binpack.cpu": 3}), "j/both", 62.5), // (3×0.5 + 1.0)/4
            (json!({"binpack.weight": 10}), "j/cpu", 500.0),
            (json!({"binpack.weight": 0}), "j/cpu", 0.0),
            (json!({}), "j/big", 0.0),  // overflows memory
            (json!({}), "j/gpu", 50.0), // gpu not weighted: cpu only
            (
                json!({"binpack.resources": "nvidia.com/gpu", "binpack.resources.nvidia.com/gpu": "2"}),
                "j/gpu",
                200.0 / 3.0,
            ),
            (json!({"binpack.cpu": -5}), "j/cpu", 50.0), // negative weight reset to 1
        ];
        k.with_state(|st| {
            for (i, (args, task, want)) in cases.into_iter().enumerate() {
                let mut p = make(args);
                p.open(st);
                let got = p.node_score(st, task_ix(st, task), node_ix(st, "n"));
                assert!(
                    (got - want).abs() < 1e-9,
                    "case {i}: got {got}, want {want}"
                );
            }
        });
        let _ = NVIDIA_GPU;
    }
}
