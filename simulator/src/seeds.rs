//! Repetition over seeds: headline metrics of each policy as mean and 95 % confidence half-width
//! (Student t) over the experiment's seeds (performance.md §6.2: several seeds per point, CIs).
//! Only the summary lives here; each seed's run is an ordinary engine run.

use std::collections::BTreeMap;

use serde::Serialize;

use crate::metrics::{PolicyReport, r4};

/// Mean and 95 % CI half-width.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct MeanCi {
    /// Mean over seeds.
    pub mean: f64,
    /// Half-width of the 95 % confidence interval (0 with one seed).
    pub ci95: f64,
}

/// One policy over all seeds.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct SeedSummary {
    /// Policy.
    pub policy: String,
    /// Seeds run.
    pub seeds: Vec<u64>,
    /// Metric name → mean ± CI.
    pub metrics: BTreeMap<String, MeanCi>,
}

/// Two-sided 97.5 % Student t quantile for `df` degrees of freedom.
fn t975(df: usize) -> f64 {
    const T: [f64; 30] = [
        12.706, 4.303, 3.182, 2.776, 2.571, 2.447, 2.365, 2.306, 2.262, 2.228, 2.201, 2.179, 2.160,
        2.145, 2.131, 2.120, 2.110, 2.101, 2.093, 2.086, 2.080, 2.074, 2.069, 2.064, 2.060, 2.056,
        2.052, 2.048, 2.045, 2.042,
    ];
    match df {
        0 => 0.0,
        d if d <= 30 => T[d - 1],
        _ => 1.96,
    }
}

/// Mean and CI of a sample.
pub fn mean_ci(values: &[f64]) -> MeanCi {
    let n = values.len();
    if n == 0 {
        return MeanCi {
            mean: 0.0,
            ci95: 0.0,
        };
    }
    let mean = values.iter().sum::<f64>() / n as f64;
    let ci95 = if n < 2 {
        0.0
    } else {
        let var = values.iter().map(|v| (v - mean).powi(2)).sum::<f64>() / (n - 1) as f64;
        t975(n - 1) * (var / n as f64).sqrt()
    };
    MeanCi {
        mean: r4(mean),
        ci95: r4(ci95),
    }
}

/// The headline metrics of one report, by name.
pub fn headline(r: &PolicyReport) -> Vec<(String, f64)> {
    let mut v = vec![
        (
            "gpu_allocation_utilization".to_owned(),
            r.gpu_allocation_utilization,
        ),
        (
            "gpu_productive_utilization".to_owned(),
            r.gpu_productive_utilization,
        ),
        ("jct_mean_s".to_owned(), r.jct_s.mean),
        ("jain_mean".to_owned(), r.jain.mean),
        ("stranded_gpus_mean".to_owned(), r.stranded_gpus_mean),
        ("deficit_jain_1h_mean".to_owned(), r.deficit_jain_1h.mean),
        ("deficit_jain_1h_p10".to_owned(), r.deficit_jain_1h.p10),
        ("deficit_jain_24h_mean".to_owned(), r.deficit_jain_24h.mean),
        ("deficit_jain_24h_p10".to_owned(), r.deficit_jain_24h.p10),
        ("evictions".to_owned(), r.evictions as f64),
        (
            "reserved_idle_fraction".to_owned(),
            r.reserved_idle_fraction,
        ),
        ("reservations".to_owned(), r.reservations as f64),
        ("estimate_error_mean".to_owned(), r.estimate_error_mean),
    ];
    for (bucket, s) in &r.waiting_s {
        v.push((format!("wait_mean_s {bucket}"), s.mean));
        v.push((format!("wait_p95_s {bucket}"), s.p95));
    }
    v
}

/// Summarises per-seed reports of one policy.
pub fn summarise(policy: &str, seeds: &[u64], reports: &[PolicyReport]) -> SeedSummary {
    let mut by_metric: BTreeMap<String, Vec<f64>> = BTreeMap::new();
    for r in reports {
        for (k, v) in headline(r) {
            by_metric.entry(k).or_default().push(v);
        }
    }
    SeedSummary {
        policy: policy.to_owned(),
        seeds: seeds.to_vec(),
        metrics: by_metric
            .into_iter()
            .map(|(k, v)| (k, mean_ci(&v)))
            .collect(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn confidence_intervals_use_student_t() {
        // mean 2, sd 1, n 3: half-width = 4.303 × 1/√3 = 2.4843.
        assert_eq!(
            mean_ci(&[1.0, 2.0, 3.0]),
            MeanCi {
                mean: 2.0,
                ci95: 2.4843
            }
        );
        assert_eq!(
            mean_ci(&[5.0]),
            MeanCi {
                mean: 5.0,
                ci95: 0.0
            }
        );
    }
}
