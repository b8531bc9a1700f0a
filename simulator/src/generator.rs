//! The workload generator: a spec (YAML) with tenants, job classes (size distribution, gang,
//! training/inference, fractional-GPU mix, lognormal or Philly-drawn durations) and Poisson
//! arrivals (optionally diurnal) becomes a [`Workload`]. The seed fully determines the result;
//! each purpose draws from its own labelled stream (see `rng`).

use std::path::Path;

use serde::Deserialize;

use crate::error::{Error, Result};
use crate::rng::Rng;
use crate::trace::read_philly;
use crate::workload::{JobKind, JobSpec, Tenant, Workload};

/// The generator spec.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct WorkloadSpec {
    /// Seed (the experiment's seed overrides it when given).
    #[serde(default)]
    pub seed: u64,
    /// Arrival window in days.
    pub days: f64,
    /// Target offered load ρ = E[GPU·s demanded per s] / cluster GPUs. Exclusive with `jobsPerDay`.
    #[serde(default)]
    pub load: Option<f64>,
    /// Mean arrival rate. Exclusive with `load`.
    #[serde(default)]
    pub jobs_per_day: Option<f64>,
    /// Modulate arrivals by hour of day (Venus-like: low at 06:00, peak at 16:30).
    #[serde(default)]
    pub diurnal: bool,
    /// Stop after this many jobs.
    #[serde(default)]
    pub max_jobs: Option<usize>,
    /// Tenants.
    pub tenants: Vec<TenantSpec>,
    /// When set, tenant k (1-based, in list order) submits ∝ 1/k^s, overriding `demand`.
    #[serde(default)]
    pub tenant_demand_zipf: Option<f64>,
    /// Share of jobs with high priority (100); the rest have 0.
    #[serde(default)]
    pub high_priority_share: f64,
    /// Share of jobs that end early, at U(0,1) × duration.
    #[serde(default)]
    pub early_termination: f64,
    /// Job classes.
    pub classes: Vec<ClassSpec>,
    /// What class `share` means: a share of jobs (`jobs`, the default) or of GPU-time
    /// (`gpuTime`: class weights are divided by the class's mean GPU·s per job).
    #[serde(default)]
    pub share_by: ShareBy,
    /// Run times jobs declare (`basalt.dev/expected-runtime`): none (default), exact, or
    /// over-estimated by a factor.
    #[serde(default)]
    pub declared_runtime: DeclaredRuntime,
}

/// What class shares count.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "camelCase")]
pub enum ShareBy {
    /// Share of submitted jobs.
    #[default]
    Jobs,
    /// Share of GPU-time.
    GpuTime,
}

/// Declared run times.
#[derive(Clone, Copy, Debug, Default, PartialEq, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct DeclaredRuntime {
    /// `none`, `exact` or `over`.
    #[serde(default)]
    pub mode: DeclaredMode,
    /// For `over`: declared = actual × factor (≥ 1).
    #[serde(default = "one_f")]
    pub factor: f64,
}

/// How jobs declare run times.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "camelCase")]
pub enum DeclaredMode {
    /// Nothing declared.
    #[default]
    None,
    /// The actual run time.
    Exact,
    /// The actual run time × `factor`.
    Over,
}

/// A tenant (queue).
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct TenantSpec {
    /// Queue name.
    pub name: String,
    /// Queue weight (1).
    #[serde(default = "one")]
    pub weight: u32,
    /// Queue capability in GPUs.
    #[serde(default)]
    pub capability_gpus: Option<u32>,
    /// Relative share of submitted jobs (1).
    #[serde(default = "one_f")]
    pub demand: f64,
}

/// A job class.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct ClassSpec {
    /// Name (prefix of job names).
    pub name: String,
    /// Training or inference.
    pub kind: JobKind,
    /// Relative share of jobs.
    pub share: f64,
    /// Gang-schedule multi-pod jobs.
    #[serde(default = "yes")]
    pub gang: bool,
    /// Largest pod in GPUs (8): bigger jobs split into ⌈g / max⌉ equal pods.
    #[serde(default = "eight")]
    pub max_gpus_per_pod: u32,
    /// Job size distribution in total GPUs.
    pub sizes: Vec<Weighted>,
    /// Duration distribution.
    pub duration: DurationSpec,
    /// Fractional-GPU mix for 1-GPU jobs.
    #[serde(default)]
    pub fractional: Option<FractionalSpec>,
    /// CPU cores per GPU (8).
    #[serde(default = "eight_f")]
    pub cpu_per_gpu: f64,
    /// Memory GiB per GPU (64).
    #[serde(default = "sixty_four")]
    pub memory_gi_per_gpu: f64,
}

/// A value with a weight.
#[derive(Clone, Copy, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Weighted {
    /// GPUs (sizes) or milli-GPU (fractional).
    #[serde(alias = "gpus")]
    pub value: u32,
    /// Relative weight.
    pub weight: f64,
}

/// How long jobs run.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub enum DurationSpec {
    /// Lognormal: `median × (1 + log2 g)` when `scaleLog2Gpus`, shape σ, truncated at `max` s.
    Lognormal {
        /// Median seconds.
        median: f64,
        /// Shape.
        sigma: f64,
        /// Truncation, seconds (7 days).
        #[serde(default = "week")]
        max: f64,
        /// Multiply the median by 1 + log2(GPUs).
        #[serde(default, rename = "scaleLog2Gpus")]
        scale_log2_gpus: bool,
    },
    /// Drawn uniformly from the Philly runtimes (`file` relative to the traces directory).
    Philly {
        /// e.g. `philly-2017/philly_runtime.csv`.
        file: String,
        /// Multiply each draw (1).
        #[serde(default = "one_f")]
        scale: f64,
        /// Truncation, seconds (7 days).
        #[serde(default = "week")]
        max: f64,
    },
}

/// Fractional-GPU mix.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FractionalSpec {
    /// Share of 1-GPU jobs that are fractional.
    pub share: f64,
    /// Per-card milli-GPU values and weights.
    pub milli: Vec<Weighted>,
}

fn one() -> u32 {
    1
}
fn one_f() -> f64 {
    1.0
}
fn yes() -> bool {
    true
}
fn eight() -> u32 {
    8
}
fn eight_f() -> f64 {
    8.0
}
fn sixty_four() -> f64 {
    64.0
}
fn week() -> f64 {
    7.0 * 86_400.0
}

/// The diurnal arrival multiplier at `hour` (0–24): mean 1 over a day, 0.23 at 04:30, 1.77 at 16:30.
pub fn diurnal_factor(hour: f64) -> f64 {
    1.0 + 0.77 * (std::f64::consts::TAU * (hour - 16.5) / 24.0).cos()
}

struct Sampler<'a> {
    spec: &'a WorkloadSpec,
    philly: Vec<Vec<f64>>,
    /// Class draw weights (shares, converted to job weights under `shareBy: gpuTime`).
    class_weights: Vec<f64>,
}

impl Sampler<'_> {
    /// One job at `submit_ms` (name assigned by the caller).
    fn job(&self, rng: &mut Rng, tenants: &[f64]) -> JobSpec {
        let ci = rng.weighted(&self.class_weights);
        self.job_of_class(rng, tenants, ci)
    }

    /// One job of class `ci`.
    fn job_of_class(&self, rng: &mut Rng, tenants: &[f64], ci: usize) -> JobSpec {
        let s = self.spec;
        let class = &s.classes[ci];
        let weights: Vec<f64> = class.sizes.iter().map(|w| w.weight).collect();
        let gpus = class.sizes[rng.weighted(&weights)].value;
        let pods = gpus.div_ceil(class.max_gpus_per_pod.max(1)).max(1);
        let gpus_per_pod = gpus / pods;
        let mut gpu_milli = 1000;
        if let Some(f) = &class.fractional
            && gpus == 1
            && rng.uniform() < f.share
        {
            let w: Vec<f64> = f.milli.iter().map(|m| m.weight).collect();
            gpu_milli = f.milli[rng.weighted(&w)].value.clamp(1, 1000);
        }
        let mut secs = match &class.duration {
            DurationSpec::Lognormal {
                median,
                sigma,
                max,
                scale_log2_gpus,
            } => {
                let m = if *scale_log2_gpus {
                    median * (1.0 + f64::from(gpus.max(1)).log2())
                } else {
                    *median
                };
                rng.lognormal(m, *sigma).min(*max)
            }
            DurationSpec::Philly { scale, max, .. } => {
                let list = &self.philly[ci];
                (list[rng.below(list.len() as u64) as usize] * scale).min(*max)
            }
        };
        if rng.uniform() < s.early_termination {
            secs *= rng.uniform();
        }
        let priority = if rng.uniform() < s.high_priority_share {
            100
        } else {
            0
        };
        let tenant = rng.weighted(tenants);
        let per_pod = f64::from(gpus_per_pod.max(1));
        let duration_ms = ((secs * 1000.0).round() as u64).max(1000);
        let declared_runtime_ms = match s.declared_runtime.mode {
            DeclaredMode::None => None,
            DeclaredMode::Exact => Some(duration_ms),
            DeclaredMode::Over => {
                Some((duration_ms as f64 * s.declared_runtime.factor).round() as u64)
            }
        };
        JobSpec {
            name: class.name.clone(),
            tenant,
            submit_ms: 0,
            duration_ms,
            pods,
            gpus_per_pod,
            gpu_milli,
            cpu_milli: (class.cpu_per_gpu * per_pod * 1000.0).round() as i64,
            memory_bytes: (class.memory_gi_per_gpu * per_pod * f64::from(1u32 << 30)) as i64,
            gang: class.gang && pods > 1,
            kind: class.kind,
            priority,
            gpu_models: Vec::new(),
            declared_runtime_ms,
        }
    }
}

impl WorkloadSpec {
    /// Parses a spec; `origin` names the file in errors.
    pub fn from_yaml(text: &str, origin: &str) -> Result<Self> {
        let spec: Self = serde_saphyr::from_str(text).map_err(|e| Error::Yaml {
            file: origin.into(),
            reason: e.to_string(),
        })?;
        spec.validate(origin)?;
        Ok(spec)
    }

    fn validate(&self, origin: &str) -> Result<()> {
        let bad = |field: &str, reason: &str| Error::Field {
            file: origin.into(),
            field: field.into(),
            reason: reason.into(),
        };
        if self.declared_runtime.mode == DeclaredMode::Over
            && !(self.declared_runtime.factor >= 1.0 && self.declared_runtime.factor.is_finite())
        {
            return Err(bad(
                "declaredRuntime.factor",
                "an over-estimate factor must be a number ≥ 1 (e.g. 3)",
            ));
        }
        if self.load.is_some() == self.jobs_per_day.is_some() {
            return Err(bad("load", "set exactly one of load and jobsPerDay"));
        }
        if self.tenants.is_empty() || self.classes.is_empty() {
            return Err(bad(
                "tenants",
                "at least one tenant and one class are needed",
            ));
        }
        for c in &self.classes {
            for s in &c.sizes {
                let pods = s.value.div_ceil(c.max_gpus_per_pod.max(1)).max(1);
                if !s.value.is_multiple_of(pods) {
                    return Err(bad(
                        &format!("classes[{}].sizes", c.name),
                        &format!(
                            "{} GPUs do not split into equal pods of at most {}",
                            s.value, c.max_gpus_per_pod
                        ),
                    ));
                }
            }
            if c.sizes.is_empty() {
                return Err(bad(
                    &format!("classes[{}].sizes", c.name),
                    "needs at least one size",
                ));
            }
        }
        Ok(())
    }

    /// Generates the workload for a cluster of `cluster_gpus` GPUs; `traces` resolves Philly files.
    pub fn generate(&self, seed: u64, cluster_gpus: u64, traces: &Path) -> Result<Workload> {
        let mut philly = Vec::new();
        for c in &self.classes {
            philly.push(match &c.duration {
                DurationSpec::Philly { file, .. } => read_philly(&traces.join(file))?,
                DurationSpec::Lognormal { .. } => Vec::new(),
            });
        }
        let mut sampler = Sampler {
            spec: self,
            philly,
            class_weights: self.classes.iter().map(|c| c.share).collect(),
        };
        if self.share_by == ShareBy::GpuTime {
            // Mean GPU·s per job of each class, from its own stream: weight = share / mean.
            let mut cal = Rng::derive(seed, "class-gpu-time");
            let flat = vec![1.0];
            sampler.class_weights = (0..self.classes.len())
                .map(|ci| {
                    let n = 5_000;
                    let mean = (0..n)
                        .map(|_| {
                            let j = sampler.job_of_class(&mut cal, &flat, ci);
                            j.gpu_milli_total() as f64 / 1000.0 * j.duration_ms as f64 / 1000.0
                        })
                        .sum::<f64>()
                        / f64::from(n);
                    self.classes[ci].share / mean.max(1e-9)
                })
                .collect();
        }
        let demand: Vec<f64> = match self.tenant_demand_zipf {
            Some(s) => (1..=self.tenants.len())
                .map(|k| 1.0 / (k as f64).powf(s))
                .collect(),
            None => self.tenants.iter().map(|t| t.demand).collect(),
        };
        let rate_per_s = match (self.load, self.jobs_per_day) {
            (_, Some(per_day)) => per_day / 86_400.0,
            (Some(load), None) => {
                // E[GPU·s per job] by sampling the same distributions from a separate stream.
                let mut cal = Rng::derive(seed, "calibrate");
                let n = 20_000;
                let total: f64 = (0..n)
                    .map(|_| {
                        let j = sampler.job(&mut cal, &demand);
                        j.gpu_milli_total() as f64 / 1000.0 * j.duration_ms as f64 / 1000.0
                    })
                    .sum();
                load * cluster_gpus as f64 / (total / f64::from(n)).max(1e-9)
            }
            (None, None) => 0.0,
        };
        let mut arrivals = Rng::derive(seed, "arrivals");
        let mut jobs_rng = Rng::derive(seed, "jobs");
        let peak = if self.diurnal { 1.77 } else { 1.0 };
        let horizon = self.days * 86_400.0;
        let mut w = Workload {
            tenants: self
                .tenants
                .iter()
                .map(|t| Tenant {
                    name: t.name.clone(),
                    weight: t.weight,
                    capability_gpus: t.capability_gpus,
                })
                .collect(),
            jobs: Vec::new(),
        };
        let mut t = 0.0;
        if rate_per_s > 0.0 {
            loop {
                t += arrivals.exponential(rate_per_s * peak);
                if t >= horizon || self.max_jobs.is_some_and(|m| w.jobs.len() >= m) {
                    break;
                }
                if self.diurnal && arrivals.uniform() * peak >= diurnal_factor((t / 3600.0) % 24.0)
                {
                    continue;
                }
                let mut job = sampler.job(&mut jobs_rng, &demand);
                job.name = format!("{}-{:06}", job.name, w.jobs.len());
                job.submit_ms = (t * 1000.0).round() as u64;
                w.jobs.push(job);
            }
        }
        w.sort();
        Ok(w)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const SPEC: &str = r#"
days: 10
load: 0.8
diurnal: true
tenants:
- {name: a, weight: 2}
- {name: b}
classes:
- name: train
  kind: training
  share: 0.6
  sizes: [{gpus: 1, weight: 5}, {gpus: 8, weight: 2}, {gpus: 16, weight: 1}]
  duration: {lognormal: {median: 3600, sigma: 1.0}}
- name: infer
  kind: inference
  share: 0.4
  gang: false
  sizes: [{gpus: 1, weight: 1}]
  fractional: {share: 0.5, milli: [{value: 500, weight: 1}]}
  duration: {lognormal: {median: 1800, sigma: 0.5}}
"#;

    #[test]
    fn generation_is_seeded_and_hits_the_target_load() {
        let spec = WorkloadSpec::from_yaml(SPEC, "inline").unwrap();
        let a = spec.generate(3, 32, Path::new(".")).unwrap();
        let b = spec.generate(3, 32, Path::new(".")).unwrap();
        assert_eq!(a, b);
        assert_ne!(a, spec.generate(4, 32, Path::new(".")).unwrap());
        let demand: f64 = a
            .jobs
            .iter()
            .map(|j| j.gpu_milli_total() as f64 / 1000.0 * j.duration_ms as f64 / 1000.0)
            .sum();
        let load = demand / (32.0 * 10.0 * 86_400.0);
        assert!((0.5..1.2).contains(&load), "offered load {load}");
        let big = a.jobs.iter().find(|j| j.gpus() == 16).unwrap();
        assert_eq!((big.pods, big.gpus_per_pod, big.gang), (2, 8, true));
        assert!(a.jobs.iter().any(|j| j.gpu_milli == 500));
        let training = a
            .jobs
            .iter()
            .filter(|j| j.kind == JobKind::Training)
            .count();
        let share = training as f64 / a.jobs.len() as f64;
        assert!((share - 0.6).abs() < 0.05, "{share}");
    }

    #[test]
    fn specs_are_validated() {
        let e = WorkloadSpec::from_yaml(
            &SPEC.replace("load: 0.8", "jobsPerDay: 3\nload: 1"),
            "w.yaml",
        );
        assert!(
            e.unwrap_err()
                .to_string()
                .contains("exactly one of load and jobsPerDay")
        );
        let e =
            WorkloadSpec::from_yaml(&SPEC.replace("gpus: 16", "gpus: 9"), "w.yaml").unwrap_err();
        assert!(e.to_string().contains("9 GPUs do not split"), "{e}");
        let e = WorkloadSpec::from_yaml("days: 1\nbogus: 2\n", "w.yaml").unwrap_err();
        assert!(e.to_string().starts_with("w.yaml:"), "{e}");
    }
}
