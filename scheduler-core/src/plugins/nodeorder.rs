//! `nodeorder`: kube-scheduler's LeastAllocated, MostAllocated and BalancedAllocation scores
//! (0–100 each, integer arithmetic as upstream), weighted and summed.
//!
//! Arguments: `leastrequested.weight` (1), `mostrequested.weight` (0), `balancedresource.weight`
//! (1). `nodeaffinity.weight`, `podaffinity.weight`, `tainttoleration.weight`,
//! `imagelocality.weight`, `podtopologyspread.weight` are accepted (number) but score nothing
//! yet: the snapshot carries no preferred terms or images. Basalt extension (used by seed manifest
//! 08): `nodeorder.policy: binpack | mostrequested` sets `mostrequested.weight` to
//! `nodeorder.weight` (default 1) and `leastrequested.weight` to 0 unless given explicitly;
//! `spread | leastrequested` does the opposite.

use crate::config::{Arguments, ConfigError};
use crate::plugin::{Hooks, Plugin};
use crate::resources::NVIDIA_GPU;
use crate::session::{NodeIx, State, TaskIx};

/// The `nodeorder` plugin.
#[derive(Clone, Debug)]
pub struct NodeOrder {
    least: f64,
    most: f64,
    balanced: f64,
    gpu_dim: Option<usize>,
}

/// Registry factory.
pub fn factory(args: &Arguments) -> Result<Box<dyn Plugin>, ConfigError> {
    for key in [
        "nodeaffinity.weight",
        "podaffinity.weight",
        "tainttoleration.weight",
        "imagelocality.weight",
        "podtopologyspread.weight",
    ] {
        args.f64(key, 0.0)?;
    }
    let weight = args.f64("nodeorder.weight", 1.0)?;
    let (least_default, most_default) = match args.str("nodeorder.policy")? {
        None => (1.0, 0.0),
        Some("binpack" | "mostrequested") => (0.0, weight),
        Some("spread" | "leastrequested") => (weight, 0.0),
        Some(other) => {
            return Err(ConfigError::BadArgument {
                owner: "plugin \"nodeorder\"".into(),
                key: "nodeorder.policy".into(),
                value: format!("{other:?}"),
                expected: "binpack, mostrequested, spread or leastrequested",
            });
        }
    };
    Ok(Box::new(NodeOrder {
        least: args.f64("leastrequested.weight", least_default)?,
        most: args.f64("mostrequested.weight", most_default)?,
        balanced: args.f64("balancedresource.weight", 1.0)?,
        gpu_dim: None,
    }))
}

/// `(capacity − requested) × 100 / capacity`, 0 when requested exceeds capacity.
pub fn least_allocated(requested: i64, capacity: i64) -> i64 {
    if capacity <= 0 || requested > capacity {
        0
    } else {
        (capacity - requested) * 100 / capacity
    }
}

/// `requested × 100 / capacity`, requested capped at capacity.
pub fn most_allocated(requested: i64, capacity: i64) -> i64 {
    if capacity <= 0 {
        0
    } else {
        requested.min(capacity) * 100 / capacity
    }
}

/// `(1 − std(fractions)) × 100` over (requested, capacity) pairs with capacity > 0.
pub fn balanced_allocation(pairs: &[(i64, i64)]) -> i64 {
    let mut fractions = [0.0f64; 8];
    let mut n = 0;
    for (req, cap) in pairs
        .iter()
        .filter(|(_, cap)| *cap > 0)
        .take(fractions.len())
    {
        fractions[n] = (*req as f64 / *cap as f64).min(1.0);
        n += 1;
    }
    let f = &fractions[..n];
    let std = match n {
        0 | 1 => 0.0,
        2 => (f[0] - f[1]).abs() / 2.0,
        _ => {
            let mean = f.iter().sum::<f64>() / n as f64;
            (f.iter().map(|x| (x - mean).powi(2)).sum::<f64>() / n as f64).sqrt()
        }
    };
    ((1.0 - std) * 100.0) as i64
}

impl Plugin for NodeOrder {
    fn name(&self) -> &'static str {
        "nodeorder"
    }

    fn node_local(&self) -> bool {
        true
    }

    fn hooks(&self) -> Hooks {
        Hooks::NODE_SCORE
    }

    fn open(&mut self, st: &State<'_>) {
        self.gpu_dim = st.dims.index_of(NVIDIA_GPU);
    }

    fn node_score(&self, st: &State<'_>, task: TaskIx, node: NodeIx) -> f64 {
        let req = st.request(task);
        let alloc = st.allocatable.row(node.ix());
        let used = st.used.row(node.ix());
        let requested = |d: usize| used[d] + req[d];
        let mut score = 0.0;
        if self.least != 0.0 {
            let s = (least_allocated(requested(0), alloc[0])
                + least_allocated(requested(1), alloc[1]))
                / 2;
            score += self.least * s as f64;
        }
        if self.most != 0.0 {
            let s = (most_allocated(requested(0), alloc[0])
                + most_allocated(requested(1), alloc[1]))
                / 2;
            score += self.most * s as f64;
        }
        if self.balanced != 0.0 {
            let mut pairs = [(requested(0), alloc[0]), (requested(1), alloc[1]), (0, 0)];
            if let Some(g) = self.gpu_dim {
                pairs[2] = (requested(g), alloc[g]);
            }
            score += self.balanced * balanced_allocation(&pairs) as f64;
        }
        score
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::plugins::testkit::{Kit, node_ix, task_ix};
    use crate::resources::Resources;
    use serde_json::json;

    #[test]
    fn upstream_formulas() {
        let cases = [
            (least_allocated(3000, 4000), 25),
            (least_allocated(5000, 4000), 0),
            (most_allocated(3000, 4000), 75),
            (most_allocated(5000, 4000), 100),
            (balanced_allocation(&[(1, 2), (1, 2)]), 100),
            (balanced_allocation(&[(1, 4), (3, 4)]), 75),
            (balanced_allocation(&[(1, 4), (3, 4), (0, 0)]), 75),
            (balanced_allocation(&[(0, 1), (1, 1), (1, 2)]), 59),
        ];
        for (i, (got, want)) in cases.into_iter().enumerate() {
            assert_eq!(got, want, "case {i}");
        }
    }

    fn make(args: serde_json::Value) -> Result<Box<dyn Plugin>, ConfigError> {
        let serde_json::Value::Object(map) = args else {
            panic!("object")
        };
        factory(&Arguments::new("plugin \"nodeorder\"", map))
    }

    #[test]
    fn weights_and_policy() {
        let mut k = Kit::new();
        let node = Resources::new().with("cpu", 4000).with("memory", 4000);
        k.node("empty", node.clone()).node("half", node.clone());
        k.edit_node("half", |n| {
            n.used = Resources::new().with("cpu", 2000).with("memory", 2000)
        });
        k.job("j", 1, 0).task(
            "j/a",
            "j",
            Resources::new().with("cpu", 1000).with("memory", 1000),
            0,
        );
        let spread = make(json!({})).expect("defaults");
        let pack =
            make(json!({"nodeorder.weight": 100, "nodeorder.policy": "binpack"})).expect("policy");
        k.with_state(|st| {
            let mut spread = spread.clone_box();
            let mut pack = pack.clone_box();
            spread.open(st);
            pack.open(st);
            let (t, e, h) = (
                task_ix(st, "j/a"),
                node_ix(st, "empty"),
                node_ix(st, "half"),
            );
            // least 75 + balanced 100 on empty; least 25 + balanced 100 on half.
            assert_eq!(spread.node_score(st, t, e), 175.0);
            assert_eq!(spread.node_score(st, t, h), 125.0);
            // binpack: most × 100 + balanced.
            assert_eq!(pack.node_score(st, t, e), 25.0 * 100.0 + 100.0);
            assert_eq!(pack.node_score(st, t, h), 75.0 * 100.0 + 100.0);
        });
        assert!(make(json!({"nodeorder.policy": "fullest"})).is_err());
    }
}
