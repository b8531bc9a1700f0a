//! Experiment files (`config/simulator/*.yaml`): cluster, workload (generated or trace), policies
//! and measurement window, and [`run`], which simulates every policy on the same workload and
//! returns the deterministic [`Report`] plus wall-clock [`Timing`].
//!
//! The FGD inflation protocol is a different kind of run (no clock, no departures) and lives in
//! `fgd`; an experiment file selects it with an `fgd:` section.

use std::path::{Path, PathBuf};
use std::time::Instant;

use serde::{Deserialize, Serialize};

use crate::cluster::ClusterSpec;
use crate::engine::{Engine, RunOptions};
use crate::error::{Error, Result, read_to_string};
use crate::fgd::FgdSpec;
use crate::generator::WorkloadSpec;
use crate::metrics::{Latency, PolicyReport, summarise};
use crate::policy::Policy;
use crate::trace;
use crate::workload::Workload;

/// An experiment file.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct ExperimentSpec {
    /// Name (report title).
    pub name: String,
    /// What it shows.
    #[serde(default)]
    pub description: String,
    /// Seed.
    #[serde(default)]
    pub seed: u64,
    /// More seeds for the seed summary (mean ± 95 % CI of headline metrics over `seed` and
    /// these); detailed tables and plots are for `seed`. Generated workloads only.
    #[serde(default)]
    pub extra_seeds: Vec<u64>,
    /// Preset name or cluster spec file (relative to the experiment file).
    #[serde(default = "default_cluster")]
    pub cluster: String,
    /// Workload (absent for an FGD experiment).
    #[serde(default)]
    pub workload: Option<WorkloadSource>,
    /// Policies, compared side by side.
    #[serde(default)]
    pub policies: Vec<String>,
    /// Policies listed for completeness that need plugins scheduler-core lacks: reported as not
    /// run, with the reason, instead of failing the experiment.
    #[serde(default)]
    pub pending_policies: Vec<String>,
    /// Measurement window in days (default: the workload's arrival window).
    #[serde(default)]
    pub measure_days: Option<f64>,
    /// Days at the start excluded from time-integrated metrics (utilization, fairness,
    /// fragmentation) while the cluster fills (0).
    #[serde(default)]
    pub warmup_days: f64,
    /// Extra simulated days after the window to let jobs finish (7).
    #[serde(default = "default_drain")]
    pub drain_days: f64,
    /// FGD inflation experiment instead of a time simulation.
    #[serde(default)]
    pub fgd: Option<FgdSpec>,
    /// Load sweep instead of one run (see `sweep`): `basalt simulate` writes sweep.md.
    #[serde(default)]
    pub sweep: Option<crate::sweep::SweepSpec>,
}

fn default_cluster() -> String {
    "seed-4x8".into()
}
fn default_drain() -> f64 {
    7.0
}

/// Where jobs come from.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub enum WorkloadSource {
    /// Generated from a spec.
    Generate(WorkloadSpec),
    /// Read from a trace.
    Trace {
        /// `openb` or `generic`.
        format: String,
        /// Path (relative to the traces directory, or absolute).
        file: String,
    },
}

/// Deterministic results of an experiment.
#[derive(Clone, Debug, Serialize)]
pub struct Report {
    /// Experiment name.
    pub experiment: String,
    /// Description.
    pub description: String,
    /// Seed.
    pub seed: u64,
    /// Cluster nodes.
    pub nodes: usize,
    /// Cluster GPUs.
    pub gpus: u64,
    /// Jobs in the workload.
    pub jobs: usize,
    /// Tenants (queues).
    pub tenants: Vec<crate::workload::Tenant>,
    /// Measured window, seconds.
    pub measured_s: f64,
    /// Offered load: GPU-time requested by jobs submitted in the arrival window (whole cards)
    /// ÷ (GPUs × window). Heavy-tailed durations make it differ from the spec's `load`.
    pub offered_load: f64,
    /// Per policy.
    pub policies: Vec<PolicyReport>,
    /// FGD results, for an FGD experiment.
    pub fgd: Option<crate::fgd::FgdReport>,
    /// Policies not run and why.
    pub not_run: Vec<NotRun>,
    /// Headline metrics over all seeds, when `extraSeeds` is set.
    pub seed_summary: Vec<crate::seeds::SeedSummary>,
    /// Sorted waits (s) per (policy, bucket), for the CDF plot (the JSON has the summaries).
    #[serde(skip)]
    pub wait_samples: Vec<(String, crate::workload::SizeBucket, Vec<f64>)>,
}

/// A policy that was not run.
#[derive(Clone, Debug, Serialize)]
pub struct NotRun {
    /// Policy.
    pub policy: String,
    /// Why.
    pub reason: String,
}

/// Wall-clock facts about a run (not deterministic).
#[derive(Clone, Debug, Default, Serialize)]
pub struct Timing {
    /// Per policy: wall seconds, events, events per second.
    pub runs: Vec<RunTiming>,
    /// Session latency per policy.
    pub latency: Vec<Latency>,
}

/// One policy's wall time.
#[derive(Clone, Debug, Serialize)]
pub struct RunTiming {
    /// Policy.
    pub policy: String,
    /// Wall seconds.
    pub wall_s: f64,
    /// Simulated events (arrivals, completions; FGD: pods).
    pub events: u64,
    /// Events per wall second.
    pub events_per_s: f64,
}

/// Inputs resolved from an experiment file.
pub struct Setup {
    /// The spec.
    pub spec: ExperimentSpec,
    /// Directory of the experiment file (relative paths).
    pub base: PathBuf,
    /// Traces directory.
    pub traces: PathBuf,
}

impl Setup {
    /// Reads an experiment file.
    pub fn load(path: &Path, traces: &Path) -> Result<Self> {
        let text = read_to_string(path)?;
        let spec: ExperimentSpec = serde_saphyr::from_str(&text).map_err(|e| Error::Yaml {
            file: path.display().to_string(),
            reason: e.to_string(),
        })?;
        Ok(Self {
            spec,
            base: path.parent().map(Path::to_path_buf).unwrap_or_default(),
            traces: traces.to_path_buf(),
        })
    }

    /// The cluster.
    pub fn cluster(&self) -> Result<ClusterSpec> {
        let c = &self.spec.cluster;
        if crate::cluster::PRESETS.contains(&c.as_str()) {
            return ClusterSpec::preset(c, &self.traces);
        }
        let path = self.base.join(c);
        ClusterSpec::from_yaml(&read_to_string(&path)?, &path.display().to_string())
    }

    /// The workload and its arrival window in ms.
    pub fn workload(&self, cluster: &ClusterSpec) -> Result<(Workload, u64)> {
        self.workload_for(cluster, self.spec.seed)
    }

    /// The workload generated with `seed` (traces ignore it) and its arrival window in ms.
    pub fn workload_for(&self, cluster: &ClusterSpec, seed: u64) -> Result<(Workload, u64)> {
        let err = |reason: &str| Error::Experiment {
            name: self.spec.name.clone(),
            reason: reason.into(),
        };
        match &self.spec.workload {
            None => Err(err("no workload: add workload.generate or workload.trace")),
            Some(WorkloadSource::Generate(w)) => {
                let wl = w.generate(seed, cluster.total_gpus(), &self.traces)?;
                let mut window = (w.days * 86_400_000.0) as u64;
                // maxJobs may end arrivals early: measure up to the last arrival then.
                if w.max_jobs.is_some_and(|m| wl.jobs.len() >= m) {
                    window = window.min(wl.jobs.last().map_or(window, |j| j.submit_ms.max(1)));
                }
                Ok((wl, window))
            }
            Some(WorkloadSource::Trace { format, file }) => {
                let path = self.traces.join(file);
                let wl = match format.as_str() {
                    "openb" => trace::openb_workload(&path)?,
                    "generic" => trace::read_generic(&path)?,
                    other => {
                        return Err(err(&format!(
                            "unknown trace format {other:?}; use openb or generic"
                        )));
                    }
                };
                let last = wl.jobs.last().map_or(0, |j| j.submit_ms);
                Ok((wl, last.max(1)))
            }
        }
    }
}

/// Runs every policy of the experiment. `policies` overrides the file's list when non-empty.
pub fn run(setup: &Setup, policies: &[String], progress: bool) -> Result<(Report, Timing)> {
    let spec = &setup.spec;
    let cluster = setup.cluster()?;
    let names: Vec<String> = if policies.is_empty() {
        spec.policies.clone()
    } else {
        policies.to_vec()
    };
    let mut timing = Timing::default();
    let mut not_run = Vec::new();
    for p in &spec.pending_policies {
        match Policy::load(p) {
            Err(e @ Error::MissingPlugins { .. }) => not_run.push(NotRun {
                policy: p.clone(),
                reason: e.to_string(),
            }),
            Err(e) => return Err(e),
            Ok(_) => not_run.push(NotRun {
                policy: p.clone(),
                reason: "now loads: move it from pendingPolicies to policies".into(),
            }),
        }
    }
    if let Some(fgd) = &spec.fgd {
        let (report, runs) =
            crate::fgd::run(fgd, &cluster, &names, spec.seed, &setup.traces, progress)?;
        timing.runs = runs;
        return Ok((
            Report {
                experiment: spec.name.clone(),
                description: spec.description.clone(),
                seed: spec.seed,
                nodes: cluster.nodes.len(),
                gpus: cluster.total_gpus(),
                jobs: report.pods,
                tenants: Vec::new(),
                measured_s: 0.0,
                offered_load: 0.0,
                policies: Vec::new(),
                fgd: Some(report),
                not_run,
                seed_summary: Vec::new(),
                wait_samples: Vec::new(),
            },
            timing,
        ));
    }
    let (workload, window) = setup.workload(&cluster)?;
    let measure_end = spec
        .measure_days
        .map_or(window, |d| (d * 86_400_000.0) as u64);
    let opts = RunOptions {
        measure_start_ms: ((spec.warmup_days * 86_400_000.0) as u64).min(measure_end),
        measure_end_ms: measure_end,
        stop_ms: measure_end + (spec.drain_days * 86_400_000.0) as u64,
        progress,
    };
    let mut reports = Vec::new();
    let mut wait_samples = Vec::new();
    for name in &names {
        let policy = Policy::load(name)?;
        let t0 = Instant::now();
        let out = Engine::new(&policy, &cluster, &workload, &opts).run(&opts)?;
        let wall = t0.elapsed().as_secs_f64();
        timing.runs.push(RunTiming {
            policy: name.clone(),
            wall_s: crate::metrics::r4(wall),
            events: out.events,
            events_per_s: (out.events as f64 / wall.max(1e-9)).round(),
        });
        timing.latency.push(Latency::of(&out));
        for (bucket, v) in crate::metrics::waits(&out, &workload) {
            let mut w: Vec<f64> = v.into_iter().map(|x| x.0).collect();
            w.sort_by(f64::total_cmp);
            wait_samples.push((name.clone(), bucket, w));
        }
        reports.push(summarise(&out, &workload, cluster.total_gpus()));
    }
    let mut seed_summary = Vec::new();
    if !spec.extra_seeds.is_empty() {
        if matches!(spec.workload, Some(WorkloadSource::Trace { .. })) {
            return Err(Error::Experiment {
                name: spec.name.clone(),
                reason: "extraSeeds needs a generated workload; a trace is the same for every seed"
                    .into(),
            });
        }
        let seeds: Vec<u64> = std::iter::once(spec.seed)
            .chain(spec.extra_seeds.iter().copied())
            .collect();
        let mut per_policy: Vec<Vec<crate::metrics::PolicyReport>> =
            reports.iter().map(|r| vec![r.clone()]).collect();
        for &seed in &spec.extra_seeds {
            let (wl, _) = setup.workload_for(&cluster, seed)?;
            for (i, name) in names.iter().enumerate() {
                let policy = Policy::load(name)?;
                let t0 = Instant::now();
                let out = Engine::new(&policy, &cluster, &wl, &opts).run(&opts)?;
                timing.runs.push(RunTiming {
                    policy: format!("{name} (seed {seed})"),
                    wall_s: crate::metrics::r4(t0.elapsed().as_secs_f64()),
                    events: out.events,
                    events_per_s: (out.events as f64 / t0.elapsed().as_secs_f64().max(1e-9))
                        .round(),
                });
                per_policy[i].push(summarise(&out, &wl, cluster.total_gpus()));
            }
        }
        for (name, reps) in names.iter().zip(&per_policy) {
            seed_summary.push(crate::seeds::summarise(name, &seeds, reps));
        }
    }
    Ok((
        Report {
            experiment: spec.name.clone(),
            description: spec.description.clone(),
            seed: spec.seed,
            nodes: cluster.nodes.len(),
            gpus: cluster.total_gpus(),
            jobs: workload.jobs.len(),
            tenants: workload.tenants.clone(),
            measured_s: (measure_end - opts.measure_start_ms) as f64 / 1000.0,
            offered_load: crate::metrics::r4(
                workload
                    .jobs
                    .iter()
                    .filter(|j| j.submit_ms < window)
                    .map(|j| f64::from(j.gpus()) * j.duration_ms as f64)
                    .sum::<f64>()
                    / (cluster.total_gpus().max(1) as f64 * window.max(1) as f64),
            ),
            policies: reports,
            fgd: None,
            not_run,
            seed_summary,
            wait_samples,
        },
        timing,
    ))
}
