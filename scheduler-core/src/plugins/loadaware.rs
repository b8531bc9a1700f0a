//! `loadaware`: filter and score nodes by measured usage (Koordinator's LoadAwareScheduling
//! arguments, plus a GPU dimension). Usage comes from [`crate::Snapshot::node_usage`]; a node
//! without usage data is neither filtered nor scored (the plugin abstains for it).
//!
//! Estimated usage = measured usage + `estimatedScalingFactors` × requests of the pods the
//! metrics cannot include yet: pods allocated in this session, pods being bound or bound and not
//! started, and pods started after the measurement (`Snapshot::started`). Metrics are expired
//! when `now − timestamp > nodeMetricExpirationSeconds` (`now` is the snapshot's, never a clock;
//! without it nothing expires); expired nodes are filtered when `filterExpiredNodeMetrics` (or
//! `enableScheduleWhenNodeMetricsExpired: false`), otherwise the plugin abstains for them.
//!
//! Arguments: `resourceWeights` {cpu: 1, memory: 1, gpu: 0}, `usageThresholds` {cpu: 65,
//! memory: 95} (filter; a dimension without a threshold is not filtered),
//! `estimatedScalingFactors` {cpu: 85, memory: 70, gpu: 100}, `nodeMetricExpirationSeconds`
//! (180), `filterExpiredNodeMetrics` (true), `enableScheduleWhenNodeMetricsExpired`,
//! `loadaware.weight` (1). Percentages may also be written as fractions (values ≤ 1 are
//! fractions: `0.8` = 80 %). Score: Σ w × (1 − estimate with the new pod) / Σ w × 100 × weight.

use serde_json::Value;

use crate::config::{Arguments, ConfigError};
use crate::model::TaskStatus;
use crate::model::gpu::parse_request;
use crate::plugin::{Hooks, Plugin, Unfit};
use crate::resources::{CPU, MEMORY, NVIDIA_GPU};
use crate::session::{NodeIx, State, TaskIx};

const DIMS: [&str; 3] = ["cpu", "memory", "gpu"];
const OWNER: &str = "plugin \"loadaware\"";

/// Per-dimension values: cpu, memory, gpu.
type Triple = [f64; 3];

/// The `loadaware` plugin.
#[derive(Clone, Debug)]
pub struct LoadAware {
    weights: Triple,
    thresholds: [Option<f64>; 3],
    factors: Triple,
    expiration_ms: u64,
    filter_expired: bool,
    weight: f64,
    /// Per node: measured usage (None: no data) and whether it expired.
    usage: Vec<Option<([Option<f64>; 3], bool)>>,
    /// Per node: estimated usage of pods the metrics do not include yet, as fractions.
    extra: Vec<Triple>,
    /// Per task: counted in `extra` of its node.
    counted: Vec<bool>,
}

fn bad(key: &str, value: &Value, expected: &'static str) -> ConfigError {
    ConfigError::BadArgument {
        owner: OWNER.into(),
        key: key.into(),
        value: value.to_string(),
        expected,
    }
}

/// A `{cpu, memory, gpu}` map; `percent` turns values above 1 into fractions.
fn triple(
    args: &Arguments,
    key: &str,
    defaults: [Option<f64>; 3],
    percent: bool,
) -> Result<[Option<f64>; 3], ConfigError> {
    let mut out = defaults;
    let Some(v) = args.get(key) else {
        return Ok(out);
    };
    let Value::Object(map) = v else {
        return Err(bad(key, v, "a map of cpu, memory and gpu to numbers"));
    };
    for (name, value) in map {
        let Some(d) = DIMS.iter().position(|d| d == name) else {
            return Err(bad(key, v, "a map with keys cpu, memory and gpu only"));
        };
        let n = match value {
            Value::Number(n) => n.as_f64(),
            Value::String(s) => s.trim().parse().ok(),
            _ => None,
        }
        .filter(|n| n.is_finite() && *n >= 0.0)
        .ok_or_else(|| bad(key, v, "non-negative numbers"))?;
        out[d] = Some(if percent && n > 1.0 { n / 100.0 } else { n });
    }
    Ok(out)
}

/// Registry factory.
pub fn factory(args: &Arguments) -> Result<Box<dyn Plugin>, ConfigError> {
    let w = triple(args, "resourceWeights", [Some(1.0), Some(1.0), None], false)?;
    let f = triple(
        args,
        "estimatedScalingFactors",
        [Some(0.85), Some(0.70), Some(1.0)],
        true,
    )?;
    let seconds = args.f64("nodeMetricExpirationSeconds", 180.0)?;
    if !(seconds.is_finite() && seconds >= 0.0) {
        return Err(bad(
            "nodeMetricExpirationSeconds",
            &Value::from(seconds),
            "a non-negative number of seconds",
        ));
    }
    let mut filter_expired = args.bool("filterExpiredNodeMetrics", true)?;
    if args.get("enableScheduleWhenNodeMetricsExpired").is_some() {
        filter_expired = !args.bool("enableScheduleWhenNodeMetricsExpired", false)?;
    }
    Ok(Box::new(LoadAware {
        weights: w.map(|v| v.unwrap_or(0.0)),
        thresholds: triple(
            args,
            "usageThresholds",
            [Some(0.65), Some(0.95), None],
            true,
        )?,
        factors: f.map(|v| v.unwrap_or(1.0)),
        expiration_ms: (seconds * 1000.0) as u64,
        filter_expired,
        weight: args.f64("loadaware.weight", 1.0)?,
        usage: Vec::new(),
        extra: Vec::new(),
        counted: Vec::new(),
    }))
}

impl LoadAware {
    /// The estimated usage `task` adds to `node`, as fractions of allocatable.
    fn estimate(&self, st: &State<'_>, task: TaskIx, node: NodeIx) -> Triple {
        let spec = st.tasks[task.ix()].spec;
        let n = st.nodes[node.ix()].spec;
        let frac = |need: f64, alloc: i64| {
            if alloc > 0 { need / alloc as f64 } else { 0.0 }
        };
        let gpus = parse_request(&spec.requests, &spec.annotations).map_or(0.0, |r| {
            let per = if r.exclusive {
                1.0
            } else {
                f64::from(r.cores) / 100.0
            };
            f64::from(r.count) * per
        });
        let gpu_cap = (n.gpus.len() as i64).max(n.allocatable.get(NVIDIA_GPU));
        [
            self.factors[0] * frac(spec.requests.get(CPU) as f64, n.allocatable.get(CPU)),
            self.factors[1] * frac(spec.requests.get(MEMORY) as f64, n.allocatable.get(MEMORY)),
            self.factors[2] * frac(gpus, gpu_cap),
        ]
    }

    fn add(&mut self, st: &State<'_>, task: TaskIx, node: NodeIx, sign: f64) {
        let e = self.estimate(st, task, node);
        for (x, v) in self.extra[node.ix()].iter_mut().zip(e) {
            *x += sign * v;
        }
    }
}

impl Plugin for LoadAware {
    fn name(&self) -> &'static str {
        "loadaware"
    }

    fn hooks(&self) -> Hooks {
        Hooks::PREDICATE | Hooks::NODE_SCORE | Hooks::EVENTS
    }

    fn node_local(&self) -> bool {
        true
    }

    fn open(&mut self, st: &State<'_>) {
        let snap = st.snapshot;
        self.usage = st
            .nodes
            .iter()
            .map(|n| {
                snap.node_usage.get(n.id).map(|u| {
                    let expired = snap
                        .now
                        .is_some_and(|now| now.saturating_sub(u.timestamp) > self.expiration_ms);
                    ([u.cpu, u.memory, u.gpu], expired)
                })
            })
            .collect();
        self.extra = vec![[0.0; 3]; st.nodes.len()];
        self.counted = vec![false; st.tasks.len()];
        for (i, t) in st.tasks.iter().enumerate() {
            let Some(node) = t.node else { continue };
            let Some((_, _)) = self.usage[node.ix()] else {
                continue;
            };
            let measured_at = snap
                .node_usage
                .get(st.nodes[node.ix()].id)
                .map(|u| u.timestamp);
            let started = snap.started.get(t.id).copied();
            let unmeasured = match t.status {
                TaskStatus::Allocated | TaskStatus::Pipelined | TaskStatus::Binding => true,
                TaskStatus::Bound => started.is_none_or(|s| measured_at.is_some_and(|m| s > m)),
                TaskStatus::Running => started.is_some_and(|s| measured_at.is_some_and(|m| s > m)),
                _ => false,
            };
            if unmeasured {
                self.add(st, TaskIx(i as u32), node, 1.0);
                self.counted[i] = true;
            }
        }
    }

    fn predicate(&self, _st: &State<'_>, _task: TaskIx, node: NodeIx) -> Result<(), Unfit> {
        let Some((usage, expired)) = &self.usage[node.ix()] else {
            return Ok(());
        };
        if *expired {
            return if self.filter_expired {
                Err(Unfit::unschedulable("node(s) had expired node metrics"))
            } else {
                Ok(())
            };
        }
        for d in 0..3 {
            if let (Some(limit), Some(u)) = (self.thresholds[d], usage[d])
                && u + self.extra[node.ix()][d] > limit
            {
                return Err(Unfit::unschedulable(format!(
                    "node(s) had {} usage above the loadaware threshold",
                    DIMS[d]
                )));
            }
        }
        Ok(())
    }

    fn node_score(&self, st: &State<'_>, task: TaskIx, node: NodeIx) -> f64 {
        let Some((usage, false)) = &self.usage[node.ix()] else {
            return 0.0;
        };
        let own = self.estimate(st, task, node);
        let (mut sum, mut weights) = (0.0, 0.0);
        for d in 0..3 {
            let (w, Some(u)) = (self.weights[d], usage[d]) else {
                continue;
            };
            if w <= 0.0 {
                continue;
            }
            let est = (u + self.extra[node.ix()][d] + own[d]).clamp(0.0, 1.0);
            sum += w * (1.0 - est);
            weights += w;
        }
        if weights == 0.0 {
            0.0
        } else {
            self.weight * 100.0 * sum / weights
        }
    }

    fn on_allocate(
        &mut self,
        st: &State<'_>,
        task: TaskIx,
        node: NodeIx,
        _annotations: &mut std::collections::BTreeMap<String, String>,
    ) {
        if self.counted[task.ix()] || self.usage[node.ix()].is_none() {
            return;
        }
        self.add(st, task, node, 1.0);
        self.counted[task.ix()] = true;
    }

    fn on_deallocate(&mut self, st: &State<'_>, task: TaskIx, node: NodeIx) {
        // An evicted pod keeps running (and loading the node) until it is gone.
        if st.tasks[task.ix()].status == TaskStatus::Releasing || !self.counted[task.ix()] {
            return;
        }
        self.add(st, task, node, -1.0);
        self.counted[task.ix()] = false;
    }
}
