//! The FGD fragmentation experiment (reference/fgd.md): the openb pod list, shuffled and inflated
//! with resampled clones to 130 % of the cluster's GPU capacity, placed in arrival order by
//! scheduler-core with no departures; after every pod, the unallocated-GPU share and the FGD
//! fragmentation F(M) are logged against the arrived workload (% of capacity). The paper places
//! one pod per scheduling round; a session here takes `podsPerSession` arrivals (100) as jobs
//! created in arrival order, which allocate places one after the other, each seeing the binds
//! before it — the same placements as one pod per session (tested), without re-reading every
//! placed pod for each arrival.
//!
//! Nodes carry real cards (`scheduler_core::model::gpu`, 100 cores each) and pods ask as the trace
//! says: `num_gpu` whole cards (`nvidia.com/gpu`, exclusive), or one card share of `gpu_milli`
//! (`nvidia.com/vgpu-cores` and `nvidia.com/gpumem-percentage` = ⌈gpu_milli / 10⌉ %). The
//! policies `binpack`, `spread` and `fgd` are the deviceshare plugin's `SchedulePolicy` (card
//! choice, card filter and node score; predicates for CPU/memory and the card-model affinity);
//! other names load as simulator policies. Placed pods stay in the snapshot as bound tasks with
//! their bind annotations, so deviceshare charges exactly the cards it chose (and FGD's typical
//! requests are those of the arrived pods). The measured F(M) uses the trace's typical pods.

use std::collections::BTreeMap;
use std::path::Path;
use std::time::Instant;

use scheduler_core::model::gpu::{
    HAMI_DEVICES_TO_ALLOCATE, HAMI_GPUMEM_PERCENTAGE, VGPU_CORES, decode_assignment_uuids,
};
use scheduler_core::resources::{CPU, MEMORY, NVIDIA_GPU};
use scheduler_core::{
    Effect, Job, JobId, Queue, Resources, Snapshot, Task, TaskId, TaskStatus, run_session,
};
use serde::{Deserialize, Serialize};

use crate::cluster::ClusterSpec;
use crate::error::{Error, Result};
use crate::experiment::RunTiming;
use crate::metrics::r4;
use crate::policy::Policy;
use crate::rng::Rng;
use crate::trace::{OpenbPod, read_openb_pods};

/// The `fgd:` section of an experiment.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct FgdSpec {
    /// Pod list relative to the traces directory.
    pub pod_list: String,
    /// Inflate to this % of GPU capacity (130).
    #[serde(default = "default_target")]
    pub target_percent: f64,
    /// Seeds (one run per seed per policy).
    pub seeds: Vec<u64>,
    /// Arrivals placed per scheduler-core session (default 100). Every pod is placed exactly as
    /// in the paper's one-pod-per-round protocol whatever this is (see `one_run`); fewer, larger
    /// sessions re-read the placed pods less often. 1 runs the protocol literally.
    #[serde(default = "default_pods_per_session")]
    pub pods_per_session: usize,
}

/// deviceshare's card policies (`deviceshare.SchedulePolicy`); the last five are the FGD paper's
/// baselines.
const CARD_POLICIES: [&str; 8] = [
    "binpack",
    "spread",
    "fgd",
    "random",
    "dotprod",
    "clustering",
    "packing",
    "bestfit",
];

/// The deviceshare-only configuration for card policy `name` (one of [`CARD_POLICIES`]), every
/// node scored (`percentageNodesToFind: 100`, as the paper's `percentageOfNodesToScore: 100`);
/// fgd gets the trace's typical tasks `m` as its M (`deviceshare.TypicalTasks`), random the run's
/// `seed` (`deviceshare.RandomSeed`).
fn card_policy(name: &str, m: &Typical, seed: u64) -> Result<Policy> {
    match name {
        _ if CARD_POLICIES.contains(&name) => {
            let typical = if name == "fgd" {
                let list: Vec<serde_json::Value> = m
                    .iter()
                    .map(|((cpu, milli, k, spec), p)| {
                        let (gpus, pct) = match (*k, *milli) {
                            (0, _) | (_, 0) => (0, 0),
                            (1, d) if d < 1000 => (0, d.div_ceil(10).max(1)),
                            (k, _) => (k, 0),
                        };
                        serde_json::json!({"cpuMilli": cpu, "gpus": gpus, "gpuPercent": pct,
                            "models": spec, "weight": p})
                    })
                    .collect();
                format!(
                    "      deviceshare.TypicalTasks: {}\n",
                    serde_json::Value::Array(list)
                )
            } else if name == "random" {
                format!("      deviceshare.RandomSeed: {seed}\n")
            } else {
                String::new()
            };
            Policy::from_config(
                name,
                &format!(
                    "actions: \"allocate\"\nconfigurations:\n- name: allocate\n  arguments:\n    percentageNodesToFind: 100\ntiers:\n- plugins:\n  - name: predicates\n  - name: deviceshare\n    arguments:\n      deviceshare.SchedulePolicy: {name}\n{typical}"
                ),
                false,
            )
        }
        _ => Policy::load(name),
    }
}

/// The cluster with each node renamed `<rank>-<name>`, rank a seeded random permutation: the
/// session breaks score ties by node name, so this is the paper artifact's per-seed random node
/// order (reference/fgd.md §1.4), handed to scheduler-core as data.
fn shuffled_names(cluster: &ClusterSpec, seed: u64) -> ClusterSpec {
    let mut rng = Rng::derive(seed, "fgd-nodes");
    let mut nodes = cluster.nodes.clone();
    nodes.sort_by(|a, b| a.name.cmp(&b.name));
    let mut rank: Vec<usize> = (0..nodes.len()).collect();
    rng.shuffle(&mut rank);
    for (n, r) in nodes.iter_mut().zip(rank) {
        n.name = format!("{r:04}-{}", n.name);
    }
    ClusterSpec { nodes }
}

/// The trace pod's requests: whole cards, or one card share of `gpu_milli` (percent, rounded up).
fn pod_requests(p: &OpenbPod) -> Resources {
    let r = Resources::new()
        .with(CPU, p.cpu_milli)
        .with(MEMORY, p.memory_mib << 20);
    match p.num_gpu {
        0 => r,
        1 if p.gpu_milli < 1000 => {
            let pct = i64::from(p.gpu_milli.div_ceil(10).max(1));
            r.with(VGPU_CORES, pct).with(HAMI_GPUMEM_PERCENTAGE, pct)
        }
        k => r.with(NVIDIA_GPU, i64::from(k)),
    }
}

fn default_target() -> f64 {
    130.0
}

fn default_pods_per_session() -> usize {
    100
}

/// FGD results.
#[derive(Clone, Debug, Serialize)]
pub struct FgdReport {
    /// Pods per run (after inflation, first seed).
    pub pods: usize,
    /// Per policy: arrived % → mean over seeds of (unallocated GPU %, frag rate %).
    pub curves: BTreeMap<String, Vec<FgdPoint>>,
    /// Per policy: pods that failed (no node with CPU, memory and cards for them; mean over
    /// seeds).
    pub failed: BTreeMap<String, f64>,
    /// Per policy: unallocated GPU % at 100 % arrived of each seed, in seed order.
    pub at_100: BTreeMap<String, Vec<f64>>,
    /// The pod list's trace (`default`, `gpushare40`, … from `openb_pod_list_<trace>.csv`).
    pub trace: String,
    /// The paper's unallocated GPU % at 100 % arrived on this trace (mean of its ten seeds), for
    /// comparison; empty for a trace the paper did not run.
    pub paper_at_100: BTreeMap<String, f64>,
}

/// The trace of an openb pod list path: `openb_pod_list_<trace>.csv` → `<trace>`.
fn trace_name(pod_list: &str) -> String {
    let file = Path::new(pod_list)
        .file_stem()
        .map_or(String::new(), |s| s.to_string_lossy().into_owned());
    file.strip_prefix("openb_pod_list_")
        .map_or(file.clone(), str::to_owned)
}

/// The FGD paper's unallocated GPU % at 100 % arrived, mean over seeds 42–51, per trace
/// (the artifact's cached figure data; reference fgd.md §3.1), in the order random, dotprod,
/// clustering, packing, bestfit, fgd.
const PAPER_AT_100: [(&str, [f64; 6]); 17] = [
    ("default", [13.70, 9.38, 8.35, 8.22, 7.14, 4.77]),
    ("gpushare40", [15.14, 10.70, 10.24, 10.23, 8.56, 6.04]),
    ("gpushare60", [17.19, 13.18, 13.10, 12.85, 10.94, 8.75]),
    ("gpushare80", [19.38, 15.86, 15.50, 15.35, 13.34, 10.92]),
    ("gpushare100", [21.10, 18.02, 17.78, 17.87, 15.38, 13.36]),
    ("multigpu20", [13.08, 8.15, 6.66, 6.50, 6.27, 4.47]),
    ("multigpu30", [13.37, 6.89, 5.45, 5.30, 5.43, 3.64]),
    ("multigpu40", [14.62, 5.96, 4.65, 4.41, 4.90, 3.09]),
    ("multigpu50", [18.72, 5.27, 4.31, 3.94, 4.38, 2.91]),
    ("gpuspec10", [13.74, 9.83, 8.04, 7.76, 6.90, 5.34]),
    ("gpuspec20", [14.10, 11.71, 10.89, 10.72, 11.54, 5.34]),
    ("gpuspec25", [14.58, 14.56, 13.59, 13.23, 14.33, 6.09]),
    ("gpuspec33", [16.13, 20.18, 18.91, 17.78, 19.61, 12.16]),
    ("cpu050", [10.98, 6.97, 6.48, 6.54, 6.44, 5.00]),
    ("cpu100", [12.57, 8.27, 7.58, 7.50, 6.74, 4.79]),
    ("cpu200", [16.97, 12.55, 10.33, 10.02, 7.85, 5.18]),
    ("cpu250", [20.00, 16.43, 12.25, 11.95, 8.79, 6.80]),
];

fn paper_at_100(trace: &str) -> BTreeMap<String, f64> {
    let names = [
        "random",
        "dotprod",
        "clustering",
        "packing",
        "bestfit",
        "fgd",
    ];
    PAPER_AT_100
        .iter()
        .find(|(t, _)| *t == trace)
        .map(|(_, v)| names.iter().map(|n| (*n).to_owned()).zip(*v).collect())
        .unwrap_or_default()
}

/// Mean and sample standard deviation (0 for one value).
pub fn mean_sd(v: &[f64]) -> (f64, f64) {
    let n = v.len() as f64;
    if v.is_empty() {
        return (0.0, 0.0);
    }
    let mean = v.iter().sum::<f64>() / n;
    let var = if v.len() > 1 {
        v.iter().map(|x| (x - mean).powi(2)).sum::<f64>() / (n - 1.0)
    } else {
        0.0
    };
    (mean, var.sqrt())
}

/// One x of the curves.
#[derive(Clone, Debug, Serialize)]
pub struct FgdPoint {
    /// Arrived workload, % of GPU capacity.
    pub arrived: u32,
    /// Unallocated GPUs, % of capacity.
    pub unallocated: f64,
    /// Fragmented ÷ idle GPUs, %.
    pub frag_rate: f64,
}

/// Typical pods M: (cpu, milli, num_gpu, spec) → probability.
type Typical = Vec<((i64, u32, u32, Vec<String>), f64)>;

fn typical(pods: &[OpenbPod]) -> Typical {
    let mut counts: BTreeMap<(i64, u32, u32, Vec<String>), u64> = BTreeMap::new();
    for p in pods {
        let key = (
            p.cpu_milli.max(100),
            p.gpu_milli,
            p.num_gpu,
            p.gpu_spec.clone(),
        );
        *counts.entry(key).or_insert(0) += 1;
    }
    let total = pods.len() as f64;
    let mut v: Vec<_> = counts.into_iter().collect();
    v.sort_by(|a, b| b.1.cmp(&a.1).then(a.0.cmp(&b.0)));
    let mut kept = Vec::new();
    let mut covered = 0u64;
    for (k, n) in v {
        if covered as f64 >= 0.95 * total {
            break;
        }
        covered += n;
        kept.push((k, n));
    }
    let sum: u64 = kept.iter().map(|k| k.1).sum();
    kept.into_iter()
        .map(|(k, n)| (k, n as f64 / sum as f64))
        .collect()
}

/// F_n(M) in milli-GPU for a node with free CPU `cpu`, free card vector `cards`, model `model`.
fn node_frag(m: &Typical, cpu: i64, cards: &[u32], model: &str) -> f64 {
    let idle: u32 = cards.iter().sum();
    if idle == 0 {
        return 0.0;
    }
    let mut f = 0.0;
    for ((c, d, k, spec), p) in m {
        let frag = if *d == 0 || (!spec.is_empty() && !spec.iter().any(|s| s == model)) {
            idle
        } else if cards.iter().filter(|r| **r >= *d).count() as u32 >= *k && cpu >= *c {
            cards.iter().filter(|r| **r < *d).sum()
        } else {
            idle
        };
        f += p * f64::from(frag);
    }
    f
}

/// Shuffles and inflates the trace per fgd.md §1.2.
fn arrivals(pods: &[OpenbPod], seed: u64, capacity_milli: u64, target: f64) -> Vec<OpenbPod> {
    let mut rng = Rng::derive(seed, "fgd");
    let mut sorted = pods.to_vec();
    sorted.sort_by(|a, b| a.name.cmp(&b.name));
    let mut seq = sorted.clone();
    rng.shuffle(&mut seq);
    let goal = (target / 100.0 * capacity_milli as f64) as u64;
    let demand = |p: &OpenbPod| u64::from(p.num_gpu) * u64::from(p.gpu_milli);
    let mut total: u64 = seq.iter().map(demand).sum();
    while total > goal && !seq.is_empty() {
        let i = rng.below(seq.len() as u64) as usize;
        total -= demand(&seq.remove(i));
    }
    while total < goal && !sorted.is_empty() {
        let p = sorted[rng.below(sorted.len() as u64) as usize].clone();
        total += demand(&p);
        seq.push(p);
    }
    seq
}

struct RunLog {
    by_bin: BTreeMap<u32, (f64, f64, u32)>,
    failed: u32,
}

/// Free milli-GPU per card after charging the bind's cards (`uuids`) with `p`'s share.
fn charge(cards: &mut [u32], uuids: &[String], node: &crate::cluster::NodeSpec, p: &OpenbPod) {
    let prefix = format!("GPU-{}-", node.name);
    for u in uuids {
        if let Some(g) = u
            .strip_prefix(&prefix)
            .and_then(|i| i.parse::<usize>().ok())
            .filter(|g| *g < cards.len())
        {
            let share = if p.num_gpu == 1 && p.gpu_milli < 1000 {
                p.gpu_milli.div_ceil(10).max(1) * 10
            } else {
                1000
            };
            cards[g] = cards[g].saturating_sub(share);
        }
    }
}

/// Places `seq` in arrival order, `per_session` arrivals per scheduler-core session (see
/// [`FgdSpec::pods_per_session`]), and logs the unallocated-GPU share and F(M) after each
/// arrival.
fn one_run(
    policy: &Policy,
    cluster: &ClusterSpec,
    seq: &[OpenbPod],
    m: &Typical,
    per_session: usize,
) -> Result<RunLog> {
    let cap: u64 = cluster.total_gpus() * 1000;
    let mut snap = Snapshot::default();
    snap.queues.insert("default".into(), Queue::open());
    let placed = JobId::new("default/placed");
    snap.jobs.insert(placed.clone(), Job::new("default", 1));
    let mut cards: Vec<Vec<u32>> = Vec::new();
    let mut cpu_free: Vec<i64> = Vec::new();
    let mut frag: Vec<f64> = Vec::new();
    let mut index = BTreeMap::new();
    for (i, n) in cluster.nodes.iter().enumerate() {
        snap.nodes
            .insert(n.name.as_str().into(), crate::snapshot::node(n));
        cards.push(vec![1000; n.gpus as usize]);
        cpu_free.push(n.cpu_milli);
        frag.push(node_frag(m, n.cpu_milli, &cards[i], &n.gpu_model));
        index.insert(n.name.clone(), i);
    }
    let mut log = RunLog {
        by_bin: BTreeMap::new(),
        failed: 0,
    };
    let mut arrived = 0u64;
    for (c, chunk) in seq.chunks(per_session.max(1)).enumerate() {
        // Each arrival is a job of its own, created in arrival order: allocate gives jobs of
        // one queue their turns by creation, and a turn sees every earlier arrival's bind, so
        // each pod is placed exactly as in a session of its own (test
        // `sessions_of_many_arrivals_place_as_one_arrival_per_session`).
        let base = c * per_session.max(1);
        let mut ids = Vec::with_capacity(chunk.len());
        for (j, p) in chunk.iter().enumerate() {
            let k = base + j;
            // A name per pod: the `random` policy draws from it.
            let tid = TaskId::new(format!("default/pod-{k}"));
            let jid = JobId::new(format!("default/pod-{k}"));
            let mut job = Job::new("default", 1);
            job.creation = k as u64;
            snap.jobs.insert(jid.clone(), job);
            let mut task = Task::pending(jid.clone(), pod_requests(p));
            if p.num_gpu > 0 && !p.gpu_spec.is_empty() {
                task.constraints.required_affinity =
                    vec![scheduler_core::model::NodeAffinityTerm {
                        match_expressions: vec![scheduler_core::model::NodeSelectorRequirement {
                            key: "gpu-card-model".into(),
                            operator: scheduler_core::model::NodeSelectorOperator::In,
                            values: p.gpu_spec.clone(),
                        }],
                        match_fields: Vec::new(),
                    }];
            }
            snap.tasks.insert(tid.clone(), task);
            ids.push((jid, tid));
        }
        let result = run_session(&snap, &policy.scheduler)
            .map_err(|source| Error::Session { at_ms: 0, source })?;
        let mut binds: BTreeMap<TaskId, _> = result
            .effects
            .into_iter()
            .filter_map(|e| match e {
                Effect::Bind {
                    task,
                    node,
                    annotations,
                    ..
                } => Some((task, (node, annotations))),
                _ => None,
            })
            .collect();
        for ((j, p), (jid, tid)) in chunk.iter().enumerate().zip(ids) {
            let k = base + j;
            snap.jobs.remove(&jid);
            let task = snap.tasks.remove(&tid);
            arrived += u64::from(p.num_gpu) * u64::from(p.gpu_milli);
            let bind = binds.remove(&tid);
            match bind.and_then(|(n, a)| index.get(n.as_str()).map(|i| (*i, n, a))) {
                None => log.failed += 1,
                Some((i, node, annotations)) => {
                    if p.num_gpu > 0 {
                        let uuids = annotations
                            .get(HAMI_DEVICES_TO_ALLOCATE)
                            .and_then(|v| decode_assignment_uuids(v))
                            .unwrap_or_default();
                        charge(&mut cards[i], &uuids, &cluster.nodes[i], p);
                    }
                    cpu_free[i] -= p.cpu_milli;
                    let requests = task.map_or_else(|| pod_requests(p), |t| t.requests);
                    let mut bound = Task::running(placed.clone(), requests, node);
                    bound.status = TaskStatus::Bound;
                    bound.annotations = annotations;
                    snap.tasks
                        .insert(TaskId::new(format!("default/placed-{k}")), bound);
                    frag[i] = node_frag(m, cpu_free[i], &cards[i], &cluster.nodes[i].gpu_model);
                }
            }
            let x = (100.0 * arrived as f64 / cap as f64).round() as u32;
            let idle = cards.iter().flatten().map(|c| u64::from(*c)).sum::<u64>() as f64;
            let unalloc = 100.0 * idle / cap as f64;
            let rate = if idle > 0.0 {
                100.0 * frag.iter().sum::<f64>() / idle
            } else {
                0.0
            };
            let e = log.by_bin.entry(x).or_insert((0.0, 0.0, 0));
            e.0 += unalloc;
            e.1 += rate;
            e.2 += 1;
        }
    }
    Ok(log)
}

/// Runs the FGD experiment for `policies` over the spec's seeds.
pub fn run(
    spec: &FgdSpec,
    cluster: &ClusterSpec,
    policies: &[String],
    _seed: u64,
    traces: &Path,
    progress: bool,
) -> Result<(FgdReport, Vec<RunTiming>)> {
    let pods = read_openb_pods(&traces.join(&spec.pod_list))?;
    let m = typical(&pods);
    let cap = cluster.total_gpus() * 1000;
    let mut report = FgdReport {
        pods: 0,
        curves: BTreeMap::new(),
        failed: BTreeMap::new(),
        at_100: BTreeMap::new(),
        trace: trace_name(&spec.pod_list),
        paper_at_100: paper_at_100(&trace_name(&spec.pod_list)),
    };
    let mut timings = Vec::new();
    for name in policies {
        let t0 = Instant::now();
        let mut bins: BTreeMap<u32, (f64, f64, u32)> = BTreeMap::new();
        let (mut failed, mut events) = (0.0, 0u64);
        for &seed in &spec.seeds {
            let seq = arrivals(&pods, seed, cap, spec.target_percent);
            if report.pods == 0 {
                report.pods = seq.len();
            }
            events += seq.len() as u64;
            let policy = card_policy(name, &m, seed)?;
            let t_run = Instant::now();
            let log = one_run(
                &policy,
                &shuffled_names(cluster, seed),
                &seq,
                &m,
                spec.pods_per_session,
            )?;
            if progress {
                eprintln!(
                    "fgd {name} seed {seed}: {} pods, {} failed, {:.1} s wall, unallocated at 100 % {}",
                    seq.len(),
                    log.failed,
                    t_run.elapsed().as_secs_f64(),
                    log.by_bin
                        .get(&100)
                        .map_or("-".into(), |(u, _, n)| format!("{:.2}", u / f64::from(*n)))
                );
            }
            failed += f64::from(log.failed);
            if let Some((u, _, n)) = log.by_bin.get(&100) {
                report
                    .at_100
                    .entry(name.clone())
                    .or_default()
                    .push(r4(u / f64::from(*n)));
            }
            for (x, (u, r, n)) in log.by_bin {
                let e = bins.entry(x).or_insert((0.0, 0.0, 0));
                e.0 += u / f64::from(n);
                e.1 += r / f64::from(n);
                e.2 += 1;
            }
        }
        let seeds = spec.seeds.len().max(1) as f64;
        report.failed.insert(name.clone(), r4(failed / seeds));
        report.curves.insert(
            name.clone(),
            bins.into_iter()
                .map(|(x, (u, r, n))| FgdPoint {
                    arrived: x,
                    unallocated: r4(u / f64::from(n)),
                    frag_rate: r4(r / f64::from(n)),
                })
                .collect(),
        );
        let wall = t0.elapsed().as_secs_f64();
        timings.push(RunTiming {
            policy: name.clone(),
            wall_s: r4(wall),
            events,
            events_per_s: (events as f64 / wall.max(1e-9)).round(),
        });
    }
    Ok((report, timings))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn node_fragmentation_follows_the_paper_definition() {
        // One task type: 1 CPU, half a GPU. Cards [1000, 300]: the 300 card is a fragment.
        let m: Typical = vec![((1000, 500, 1, vec![]), 1.0)];
        assert_eq!(node_frag(&m, 4000, &[1000, 300], "G2"), 300.0);
        // Not enough CPU: every idle GPU is a fragment.
        assert_eq!(node_frag(&m, 500, &[1000, 300], "G2"), 1300.0);
        // CPU-only tasks count every idle GPU.
        let cpu_only: Typical = vec![((1000, 0, 0, vec![]), 1.0)];
        assert_eq!(node_frag(&cpu_only, 4000, &[1000], "G2"), 1000.0);
        // Model constraint not met.
        let typed: Typical = vec![((1000, 1000, 1, vec!["T4".into()]), 1.0)];
        assert_eq!(node_frag(&typed, 4000, &[1000], "G2"), 1000.0);
    }

    fn pod(name: &str, num_gpu: u32, gpu_milli: u32) -> OpenbPod {
        OpenbPod {
            name: name.into(),
            cpu_milli: 1000,
            memory_mib: 1024,
            num_gpu,
            gpu_milli,
            gpu_spec: vec![],
            qos: String::new(),
            times: None,
        }
    }

    #[test]
    fn trace_shares_become_card_requests() {
        let r = pod_requests(&pod("a", 1, 125));
        assert_eq!(
            (
                r.get(VGPU_CORES),
                r.get(HAMI_GPUMEM_PERCENTAGE),
                r.get(NVIDIA_GPU)
            ),
            (13, 13, 0)
        );
        let r = pod_requests(&pod("b", 2, 1000));
        assert_eq!((r.get(VGPU_CORES), r.get(NVIDIA_GPU)), (0, 2));
        let r = pod_requests(&pod("c", 0, 0));
        assert_eq!(
            (r.get(VGPU_CORES), r.get(NVIDIA_GPU), r.get(CPU)),
            (0, 0, 1000)
        );
    }

    #[test]
    fn deviceshare_card_policy_decides_what_still_fits() {
        // Two half-card pods then a whole-card pod on one node with two cards: binpack and fgd
        // stack the halves on one card, spread splits them and the whole pod fails.
        let cluster = ClusterSpec {
            nodes: vec![crate::cluster::NodeSpec {
                name: "n0".into(),
                cpu_milli: 16_000,
                memory_bytes: 64 << 30,
                gpus: 2,
                gpu_model: "G2".into(),
                gpu_memory_mib: 16_384,
                labels: BTreeMap::new(),
                taints: vec![],
            }],
        };
        let seq = [pod("a", 1, 500), pod("b", 1, 500), pod("c", 1, 1000)];
        let m = typical(&seq);
        let failed = |name: &str| {
            let policy = card_policy(name, &m, 42).unwrap();
            one_run(&policy, &cluster, &seq, &m, 1).unwrap().failed
        };
        assert_eq!(failed("binpack"), 0);
        assert_eq!(failed("fgd"), 0);
        assert_eq!(failed("spread"), 1);
        // The paper's baselines put a share on the tightest fitting card.
        for name in ["dotprod", "clustering", "packing", "bestfit"] {
            assert_eq!(failed(name), 0, "{name}");
        }
    }

    /// A mixed cluster (three card models, 2–8 cards, tight CPU on some nodes) and an arrival
    /// sequence well beyond its capacity: CPU-only pods, card shares, whole cards, some pinned
    /// to a model.
    fn mixed_run(seed: u64) -> (ClusterSpec, Vec<OpenbPod>) {
        let mut rng = Rng::derive(seed, "fgd-test");
        let models = ["A", "B", "C"];
        let nodes = (0..12)
            .map(|i| crate::cluster::NodeSpec {
                name: format!("n{i:02}"),
                cpu_milli: [8_000, 32_000, 96_000][i % 3],
                memory_bytes: 256 << 30,
                gpus: [8, 4, 2][(i / 3) % 3],
                gpu_model: models[i % 3].into(),
                gpu_memory_mib: 16_384,
                labels: BTreeMap::new(),
                taints: vec![],
            })
            .collect();
        let seq = (0..260)
            .map(|k| {
                let (num_gpu, gpu_milli) = match rng.below(20) {
                    0..=4 => (0, 0),
                    5..=12 => (1, 50 * (1 + rng.below(19) as u32)),
                    _ => ([1, 1, 2, 4, 8][rng.below(5) as usize], 1000),
                };
                let mut p = pod(&format!("p{k}"), num_gpu, gpu_milli);
                p.cpu_milli = 500 * (1 + rng.below(16) as i64);
                if num_gpu > 0 && rng.below(4) == 0 {
                    p.gpu_spec = vec![models[rng.below(3) as usize].into()];
                }
                p
            })
            .collect();
        (ClusterSpec { nodes }, seq)
    }

    #[test]
    fn sessions_of_many_arrivals_place_as_one_arrival_per_session() {
        for seed in [1, 2] {
            let (cluster, seq) = mixed_run(seed);
            let m = typical(&seq);
            for name in CARD_POLICIES {
                let policy = card_policy(name, &m, seed).unwrap();
                let one = one_run(&policy, &cluster, &seq, &m, 1).unwrap();
                // The sequence overflows the cluster, so later arrivals fail beside earlier
                // ones in the same session.
                assert!(
                    one.failed > 20 && (one.failed as usize) < seq.len() - 50,
                    "{name}: {} of {} failed",
                    one.failed,
                    seq.len()
                );
                for per_session in [7, 100, 1000] {
                    let many = one_run(&policy, &cluster, &seq, &m, per_session).unwrap();
                    assert_eq!(
                        (many.failed, &many.by_bin),
                        (one.failed, &one.by_bin),
                        "{name}, seed {seed}, {per_session} arrivals per session"
                    );
                }
            }
        }
    }

    #[test]
    fn the_report_names_the_trace_and_the_paper_values_for_it() {
        assert_eq!(
            trace_name("openb-2023/openb_pod_list_gpushare40.csv"),
            "gpushare40"
        );
        assert_eq!(trace_name("mine.csv"), "mine");
        let paper = paper_at_100("gpushare40");
        assert_eq!(
            (paper.len(), paper["fgd"], paper["random"]),
            (6, 6.04, 15.14)
        );
        assert!(paper_at_100("mine").is_empty());
    }

    #[test]
    fn shipped_fgd_experiments_run_every_card_policy_on_the_paper_seeds() {
        let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../config/simulator");
        for (file, seeds, target) in [
            ("fgd-openb.yaml", (42..=51).collect::<Vec<u64>>(), 130.0),
            ("fgd-openb-100.yaml", (42..=51).collect(), 101.0),
        ] {
            let setup = crate::experiment::Setup::load(&root.join(file), &crate::repo_traces_dir())
                .unwrap_or_else(|e| panic!("{file}: {e}"));
            let spec = setup.spec.fgd.as_ref().expect("an fgd section");
            assert_eq!(
                (&spec.seeds, spec.target_percent),
                (&seeds, target),
                "{file}"
            );
            let mut names = setup.spec.policies.clone();
            names.sort();
            let mut paper: Vec<String> = CARD_POLICIES
                .iter()
                .filter(|p| **p != "spread")
                .map(|p| (*p).to_owned())
                .collect();
            paper.sort();
            assert_eq!(names, paper, "{file}");
            for name in &setup.spec.policies {
                card_policy(name, &Vec::new(), 42).unwrap_or_else(|e| panic!("{name}: {e}"));
            }
        }
    }
}
