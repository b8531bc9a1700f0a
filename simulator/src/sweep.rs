//! Load sweeps: one experiment file with a `sweep:` section is run at every offered load in
//! `loads` and every seed in `seeds`, each policy on the same generated workload, and reported
//! as one table per load (means over seeds, with the realised load next to the offered one).
//! Only generated workloads can be swept (the load is a generator parameter).

use std::fmt::Write;
use std::path::Path;
use std::time::Instant;

use serde::{Deserialize, Serialize};

use crate::engine::{Engine, RunOptions};
use crate::error::{Error, Result, write};
use crate::experiment::{Setup, WorkloadSource};
use crate::metrics::{PolicyReport, summarise};
use crate::policy::Policy;
use crate::seeds::{MeanCi, mean_ci};

/// The `sweep:` section of an experiment file.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct SweepSpec {
    /// Offered loads ρ (the generator's `load`).
    pub loads: Vec<f64>,
    /// Seeds per load.
    pub seeds: Vec<u64>,
}

/// One policy at one load, over the seeds.
#[derive(Clone, Debug, Serialize)]
pub struct SweepCell {
    /// Policy.
    pub policy: String,
    /// Metric → mean ± CI over seeds.
    pub metrics: std::collections::BTreeMap<String, MeanCi>,
}

/// One load.
#[derive(Clone, Debug, Serialize)]
pub struct SweepRow {
    /// Offered load asked of the generator.
    pub load: f64,
    /// Realised offered load (GPU-time submitted in the window ÷ capacity), mean over seeds.
    pub realised_load: MeanCi,
    /// Per policy.
    pub cells: Vec<SweepCell>,
}

/// A sweep's results.
#[derive(Clone, Debug, Serialize)]
pub struct SweepReport {
    /// Experiment name.
    pub experiment: String,
    /// Seeds run at every load.
    pub seeds: Vec<u64>,
    /// Rows by load.
    pub rows: Vec<SweepRow>,
}

fn metrics_of(r: &PolicyReport, jobs: usize) -> Vec<(String, f64)> {
    let wait = |b: &str| {
        r.waiting_s
            .get(&format!("{b} GPUs"))
            .map_or(0.0, |s| s.mean)
    };
    vec![
        ("wait_mean_s 1-2".into(), wait("1-2")),
        ("wait_mean_s 4-8".into(), wait("4-8")),
        ("wait_mean_s 16+".into(), wait("16+")),
        ("productive_util".into(), r.gpu_productive_utilization),
        ("allocation_util".into(), r.gpu_allocation_utilization),
        ("jain_1h".into(), r.jain.mean),
        ("deficit_jain_1h_mean".into(), r.deficit_jain_1h.mean),
        ("deficit_jain_1h_p10".into(), r.deficit_jain_1h.p10),
        ("deficit_jain_24h_mean".into(), r.deficit_jain_24h.mean),
        ("deficit_jain_24h_p10".into(), r.deficit_jain_24h.p10),
        (
            "evicted_jobs_pct".into(),
            100.0 * r.jobs_preempted as f64 / jobs.max(1) as f64,
        ),
        ("evictions".into(), r.evictions as f64),
        ("reserved_idle_pct".into(), 100.0 * r.reserved_idle_fraction),
        ("reservations".into(), r.reservations as f64),
        ("estimate_error_mean".into(), r.estimate_error_mean),
    ]
}

/// Runs the sweep of `setup` for `policies` (the file's when empty); `on_run` hears each
/// finished (load, seed, policy, wall seconds).
pub fn run(
    setup: &Setup,
    sweep: &SweepSpec,
    policies: &[String],
    mut on_run: impl FnMut(f64, u64, &str, f64),
) -> Result<SweepReport> {
    let spec = &setup.spec;
    let Some(WorkloadSource::Generate(base)) = &spec.workload else {
        return Err(Error::Experiment {
            name: spec.name.clone(),
            reason: "a sweep needs workload.generate (the load is a generator parameter)".into(),
        });
    };
    if sweep.loads.is_empty() || sweep.seeds.is_empty() {
        return Err(Error::Experiment {
            name: spec.name.clone(),
            reason: "sweep.loads and sweep.seeds each need at least one value".into(),
        });
    }
    let names: Vec<String> = if policies.is_empty() {
        spec.policies.clone()
    } else {
        policies.to_vec()
    };
    let loaded: Vec<Policy> = names
        .iter()
        .map(|n| {
            // A policy file is relative to the experiment file, like the cluster file.
            let local = setup.base.join(n);
            if crate::policy::builtin_config(n).is_none() && local.exists() {
                let mut p = Policy::load(&local.display().to_string())?;
                p.name = n.clone();
                Ok(p)
            } else {
                Policy::load(n)
            }
        })
        .collect::<Result<_>>()?;
    let cluster = setup.cluster()?;
    let gpus = cluster.total_gpus();
    let mut rows = Vec::new();
    for &load in &sweep.loads {
        let mut w = base.clone();
        w.load = Some(load);
        w.jobs_per_day = None;
        let window = (w.days * 86_400_000.0) as u64;
        let measure_end = spec
            .measure_days
            .map_or(window, |d| (d * 86_400_000.0) as u64);
        let opts = RunOptions {
            measure_start_ms: ((spec.warmup_days * 86_400_000.0) as u64).min(measure_end),
            measure_end_ms: measure_end,
            stop_ms: measure_end + (spec.drain_days * 86_400_000.0) as u64,
            progress: false,
        };
        let mut realised = Vec::new();
        let mut per_policy: Vec<Vec<Vec<(String, f64)>>> = vec![Vec::new(); names.len()];
        for &seed in &sweep.seeds {
            let wl = w.generate(seed, gpus, &setup.traces)?;
            realised.push(
                wl.jobs
                    .iter()
                    .filter(|j| j.submit_ms < window)
                    .map(|j| f64::from(j.gpus()) * j.duration_ms as f64)
                    .sum::<f64>()
                    / (gpus.max(1) as f64 * window.max(1) as f64),
            );
            for (i, policy) in loaded.iter().enumerate() {
                let t0 = Instant::now();
                let out = Engine::new(policy, &cluster, &wl, &opts).run(&opts)?;
                on_run(load, seed, &names[i], t0.elapsed().as_secs_f64());
                let rep = summarise(&out, &wl, gpus);
                per_policy[i].push(metrics_of(&rep, wl.jobs.len()));
            }
        }
        let cells = names
            .iter()
            .zip(per_policy)
            .map(|(name, runs)| {
                let mut by: std::collections::BTreeMap<String, Vec<f64>> = Default::default();
                for run in runs {
                    for (k, v) in run {
                        by.entry(k).or_default().push(v);
                    }
                }
                SweepCell {
                    policy: name.clone(),
                    metrics: by.into_iter().map(|(k, v)| (k, mean_ci(&v))).collect(),
                }
            })
            .collect();
        rows.push(SweepRow {
            load,
            realised_load: mean_ci(&realised),
            cells,
        });
    }
    Ok(SweepReport {
        experiment: spec.name.clone(),
        seeds: sweep.seeds.clone(),
        rows,
    })
}

fn dur(s: f64) -> String {
    if s < 3600.0 {
        format!("{:.0} min", s / 60.0)
    } else {
        format!("{:.1} h", s / 3600.0)
    }
}

/// The sweep as markdown: per load, one row per policy.
pub fn to_markdown(r: &SweepReport) -> String {
    let mut md = String::new();
    let _ = writeln!(
        md,
        "# {} — load sweep ({} seeds per load: {:?})\n\nMean over seeds (± 95 % CI for the 16+ wait). Waits are means per size class (censored waits of jobs still waiting at the end count up to then). Deficit Jain: mean / p10 over windows.\n",
        r.experiment,
        r.seeds.len(),
        r.seeds
    );
    let _ = writeln!(
        md,
        "| ρ offered (realised) | policy | wait 1–2 | wait 4–8 | wait 16+ | productive util | deficit Jain 1 h | deficit Jain 24 h | evicted jobs | reserved idle | reservations |\n|---|---|---|---|---|---|---|---|---|---|---|"
    );
    for row in &r.rows {
        for c in &row.cells {
            let m = |k: &str| c.metrics.get(k).map_or(0.0, |v| v.mean);
            let ci = |k: &str| c.metrics.get(k).map_or(0.0, |v| v.ci95);
            let _ = writeln!(
                md,
                "| {} ({:.2}) | {} | {} | {} | {} ± {} | {:.1} % | {:.2} / {:.2} | {:.2} / {:.2} | {:.2} % | {:.2} % | {:.1} |",
                row.load,
                row.realised_load.mean,
                c.policy,
                dur(m("wait_mean_s 1-2")),
                dur(m("wait_mean_s 4-8")),
                dur(m("wait_mean_s 16+")),
                dur(ci("wait_mean_s 16+")),
                100.0 * m("productive_util"),
                m("deficit_jain_1h_mean"),
                m("deficit_jain_1h_p10"),
                m("deficit_jain_24h_mean"),
                m("deficit_jain_24h_p10"),
                m("evicted_jobs_pct"),
                m("reserved_idle_pct"),
                m("reservations"),
            );
        }
    }
    md
}

/// Writes `sweep.json` and `sweep.md` into `dir`.
pub fn write_all(dir: &Path, r: &SweepReport) -> Result<()> {
    std::fs::create_dir_all(dir).map_err(|source| Error::Io {
        action: "create",
        path: dir.to_path_buf(),
        source,
    })?;
    let mut json = serde_json::to_string_pretty(r).unwrap_or_else(|_| "{}".into());
    json.push('\n');
    write(&dir.join("sweep.json"), &json)?;
    write(&dir.join("sweep.md"), to_markdown(r))?;
    Ok(())
}
