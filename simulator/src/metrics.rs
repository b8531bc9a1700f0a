//! Metrics (performance.md §5) from a run's raw output: allocation and productive GPU
//! utilization, waiting time and JCT by size bucket, makespan, Jain's fairness over backlogged
//! tenants per 1-hour window, stranded GPUs and FGD fragmentation rate, evictions.
//!
//! Everything here is a pure function of the run output and the workload, so the report is
//! deterministic. Wall-clock session latencies are summarised separately ([`Latency`]) and kept
//! out of `report.json`.

use std::collections::BTreeMap;

use serde::Serialize;

use crate::engine::RunOutput;
use crate::workload::{SizeBucket, Workload};

/// Rounds to 4 decimals so reports stay readable and diff-friendly.
pub fn r4(x: f64) -> f64 {
    (x * 1e4).round() / 1e4
}

/// Count, mean and percentiles of a sample, in seconds.
#[derive(Clone, Debug, Default, PartialEq, Serialize)]
pub struct Stats {
    /// Sample size.
    pub count: usize,
    /// Of which censored (job never started; the wait counted up to the end of the run).
    pub censored: usize,
    /// Mean.
    pub mean: f64,
    /// Median.
    pub p50: f64,
    /// 95th percentile.
    pub p95: f64,
}

/// Nearest-rank percentile of sorted values (`p` in 0–100).
pub fn percentile(sorted: &[f64], p: f64) -> f64 {
    if sorted.is_empty() {
        return 0.0;
    }
    let rank = ((p / 100.0) * sorted.len() as f64).ceil() as usize;
    sorted[rank.clamp(1, sorted.len()) - 1]
}

impl Stats {
    /// Summarises `values` (seconds), `censored` of which are lower bounds.
    pub fn of(mut values: Vec<f64>, censored: usize) -> Self {
        values.sort_by(f64::total_cmp);
        let n = values.len();
        Self {
            count: n,
            censored,
            mean: if n == 0 {
                0.0
            } else {
                r4(values.iter().sum::<f64>() / n as f64)
            },
            p50: r4(percentile(&values, 50.0)),
            p95: r4(percentile(&values, 95.0)),
        }
    }
}

/// Jain's index over windows.
#[derive(Clone, Debug, Default, PartialEq, Serialize)]
pub struct Jain {
    /// Windows with at least two backlogged tenants.
    pub windows: usize,
    /// Mean index over those windows (1 when there are none).
    pub mean: f64,
    /// Minimum index.
    pub min: f64,
}

/// Deficit-only Jain over windows of one length: x = min(1, held ÷ entitlement) for backlogged
/// tenants, so borrowing idle GPUs is not counted as unfair, only falling short is.
#[derive(Clone, Debug, Default, PartialEq, Serialize)]
pub struct DeficitJain {
    /// Windows with at least two backlogged tenants.
    pub windows: usize,
    /// Mean index (1 when there are none).
    pub mean: f64,
    /// 10th percentile over windows.
    pub p10: f64,
}

/// Deficit-only Jain over windows of `hours` 1-hour recorder windows each (the last, shorter
/// window included), weighted max-min entitlement per window.
pub fn deficit_jain(
    rec: &crate::recorder::Recorder,
    weights: &[f64],
    g: f64,
    hours: usize,
) -> DeficitJain {
    let mut values = Vec::new();
    for (c, chunk) in rec.windows.chunks(hours.max(1)).enumerate() {
        let tenants = weights.len();
        let mut held = vec![0.0; tenants];
        let mut pending = vec![0.0; tenants];
        for win in chunk {
            for i in 0..tenants {
                held[i] += win.held[i];
                pending[i] += win.pending[i];
            }
        }
        let start = rec.measure_start + (c * hours.max(1)) as u64 * rec.window_ms;
        let end = rec
            .measure_end
            .min(start + (hours.max(1) as u64) * rec.window_ms);
        let cap = g * end.saturating_sub(start) as f64;
        let demand: Vec<f64> = held.iter().zip(&pending).map(|(h, p)| h + p).collect();
        let fair = water_fill(cap, weights, &demand);
        let x: Vec<f64> = (0..tenants)
            .filter(|&i| pending[i] > 0.0 && fair[i] > 0.0)
            .map(|i| (held[i] / fair[i]).min(1.0))
            .collect();
        if x.len() >= 2 {
            values.push(jain_index(&x));
        }
    }
    let mean = if values.is_empty() {
        1.0
    } else {
        values.iter().sum::<f64>() / values.len() as f64
    };
    values.sort_by(f64::total_cmp);
    DeficitJain {
        windows: values.len(),
        mean: r4(mean),
        p10: r4(if values.is_empty() {
            1.0
        } else {
            percentile(&values, 10.0)
        }),
    }
}

/// Jain's index J = (Σx)² / (n Σx²).
pub fn jain_index(x: &[f64]) -> f64 {
    let s: f64 = x.iter().sum();
    let s2: f64 = x.iter().map(|v| v * v).sum();
    if x.is_empty() || s2 == 0.0 {
        return 1.0;
    }
    s * s / (x.len() as f64 * s2)
}

/// Weighted max-min (water-filling) split of `capacity` among tenants with `demands`.
pub fn water_fill(capacity: f64, weights: &[f64], demands: &[f64]) -> Vec<f64> {
    let mut share = vec![0.0; demands.len()];
    let mut open: Vec<usize> = (0..demands.len()).filter(|&i| demands[i] > 0.0).collect();
    let mut left = capacity;
    while !open.is_empty() && left > 0.0 {
        let w: f64 = open.iter().map(|&i| weights[i].max(1e-12)).sum();
        let capped: Vec<usize> = open
            .iter()
            .copied()
            .filter(|&i| demands[i] <= left * weights[i].max(1e-12) / w)
            .collect();
        if capped.is_empty() {
            for &i in &open {
                share[i] = left * weights[i].max(1e-12) / w;
            }
            break;
        }
        for &i in &capped {
            share[i] = demands[i];
            left -= demands[i];
        }
        open.retain(|i| !capped.contains(i));
    }
    share
}

/// One policy's results.
#[derive(Clone, Debug, Serialize)]
pub struct PolicyReport {
    /// Policy name.
    pub policy: String,
    /// Jobs submitted.
    pub jobs_submitted: usize,
    /// Jobs whose pods all ran at some point.
    pub jobs_started: usize,
    /// Jobs completed.
    pub jobs_finished: usize,
    /// Allocated GPU-time / (GPUs × measured time).
    pub gpu_allocation_utilization: f64,
    /// GPU-time of fully running jobs / (GPUs × measured time).
    pub gpu_productive_utilization: f64,
    /// Waiting time (first start − submit), seconds, per size bucket and `all`.
    pub waiting_s: BTreeMap<String, Stats>,
    /// Job completion time (end − submit) of finished jobs, seconds.
    pub jct_s: Stats,
    /// Last completion − first submit, seconds.
    pub makespan_s: f64,
    /// Jain's fairness over backlogged tenants, share / entitlement, 1-hour windows.
    pub jain: Jain,
    /// Deficit-only Jain, 1-hour windows.
    pub deficit_jain_1h: DeficitJain,
    /// Deficit-only Jain, 24-hour windows.
    pub deficit_jain_24h: DeficitJain,
    /// Free GPU-time on nodes held by reservations ÷ (GPUs × measured time).
    pub reserved_idle_fraction: f64,
    /// Gangs that held a reservation.
    pub reservations: u64,
    /// Mean |estimate − actual| ÷ actual over finished jobs that had a run-time estimate.
    pub estimate_error_mean: f64,
    /// Finished jobs that had a run-time estimate when they started.
    pub jobs_with_estimate: usize,
    /// Mean free GPUs that no pending pod fits.
    pub stranded_gpus_mean: f64,
    /// Time-weighted FGD fragmentation rate (fragmented ÷ free GPUs).
    pub fgd_frag_rate: f64,
    /// Pod evictions (preemption and reclaim).
    pub evictions: u64,
    /// Jobs evicted at least once.
    pub jobs_preempted: usize,
    /// Scheduling sessions run.
    pub sessions: u64,
    /// Pods bound.
    pub binds: u64,
    /// Arrival and completion events.
    pub events: u64,
    /// Allocation utilization per hour.
    pub utilization_hourly: Vec<f64>,
    /// Per tenant, share of the cluster's GPUs held, per hour.
    pub tenant_share_hourly: BTreeMap<String, Vec<f64>>,
}

/// Wall-clock session latency (not deterministic; reported apart from `report.json`).
#[derive(Clone, Debug, Default, Serialize)]
pub struct Latency {
    /// Policy.
    pub policy: String,
    /// Sessions.
    pub sessions: usize,
    /// Median session, µs.
    pub p50_us: f64,
    /// 99th percentile, µs.
    pub p99_us: f64,
    /// Max, µs.
    pub max_us: f64,
    /// Total session time / binds, µs.
    pub per_bind_us: f64,
}

impl Latency {
    /// Summarises a run's session timings.
    pub fn of(out: &RunOutput) -> Self {
        let mut v: Vec<f64> = out.session_ns.iter().map(|n| *n as f64 / 1000.0).collect();
        v.sort_by(f64::total_cmp);
        let total: f64 = v.iter().sum();
        Self {
            policy: out.policy.clone(),
            sessions: v.len(),
            p50_us: r4(percentile(&v, 50.0)),
            p99_us: r4(percentile(&v, 99.0)),
            max_us: r4(v.last().copied().unwrap_or(0.0)),
            per_bind_us: r4(total / out.binds.max(1) as f64),
        }
    }
}

/// Per-job waits in seconds by bucket (censored waits counted to `out.end_ms`), for plots.
pub fn waits(out: &RunOutput, workload: &Workload) -> BTreeMap<SizeBucket, Vec<(f64, bool)>> {
    let mut m: BTreeMap<SizeBucket, Vec<(f64, bool)>> = BTreeMap::new();
    for r in &out.jobs {
        let spec = &workload.jobs[r.job];
        if spec.submit_ms > out.end_ms {
            continue;
        }
        let (wait, censored) = r.wait_ms(spec.submit_ms, out.end_ms);
        m.entry(spec.bucket())
            .or_default()
            .push((wait as f64 / 1000.0, censored));
    }
    m
}

/// Builds the report for one run.
pub fn summarise(out: &RunOutput, workload: &Workload, total_gpus: u64) -> PolicyReport {
    let rec = &out.recorder;
    let g = total_gpus.max(1) as f64;
    let span = (rec.measure_end - rec.measure_start).max(1) as f64;
    let mut waiting_s = BTreeMap::new();
    let by_bucket = waits(out, workload);
    let mut all = Vec::new();
    let mut all_censored = 0;
    for b in SizeBucket::ALL {
        let v = by_bucket.get(&b).cloned().unwrap_or_default();
        let censored = v.iter().filter(|x| x.1).count();
        all_censored += censored;
        all.extend(v.iter().map(|x| x.0));
        waiting_s.insert(
            b.label().to_owned(),
            Stats::of(v.iter().map(|x| x.0).collect(), censored),
        );
    }
    waiting_s.insert("all".to_owned(), Stats::of(all, all_censored));
    let jct: Vec<f64> = out
        .jobs
        .iter()
        .filter_map(|r| {
            r.end_ms
                .map(|e| (e - workload.jobs[r.job].submit_ms) as f64 / 1000.0)
        })
        .collect();
    let first_submit = workload.jobs.first().map_or(0, |j| j.submit_ms);
    let last_end = out
        .jobs
        .iter()
        .filter_map(|r| r.end_ms)
        .max()
        .unwrap_or(first_submit);
    let weights: Vec<f64> = workload
        .tenants
        .iter()
        .map(|t| f64::from(t.weight.max(1)))
        .collect();
    let mut jain = Vec::new();
    let mut util = Vec::new();
    let mut shares: BTreeMap<String, Vec<f64>> = workload
        .tenants
        .iter()
        .map(|t| (t.name.clone(), Vec::new()))
        .collect();
    for (w, win) in rec.windows.iter().enumerate() {
        let start = rec.measure_start + w as u64 * rec.window_ms;
        let len = (rec.measure_end.min(start + rec.window_ms) - start) as f64;
        let cap = g * len;
        util.push(r4(win.held.iter().sum::<f64>() / cap));
        for (i, t) in workload.tenants.iter().enumerate() {
            if let Some(s) = shares.get_mut(&t.name) {
                s.push(r4(win.held[i] / cap));
            }
        }
        let demand: Vec<f64> = win
            .held
            .iter()
            .zip(&win.pending)
            .map(|(h, p)| h + p)
            .collect();
        let fair = water_fill(cap, &weights, &demand);
        let x: Vec<f64> = (0..demand.len())
            .filter(|&i| win.pending[i] > 0.0 && fair[i] > 0.0)
            .map(|i| win.held[i] / fair[i])
            .collect();
        if x.len() >= 2 {
            jain.push(jain_index(&x));
        }
    }
    PolicyReport {
        policy: out.policy.clone(),
        jobs_submitted: workload.jobs.len(),
        jobs_started: out.jobs.iter().filter(|r| r.start_ms.is_some()).count(),
        jobs_finished: out.jobs.iter().filter(|r| r.end_ms.is_some()).count(),
        gpu_allocation_utilization: r4(rec.held / (g * span)),
        gpu_productive_utilization: r4(rec.productive / (g * span)),
        waiting_s,
        jct_s: Stats::of(jct, 0),
        makespan_s: r4((last_end - first_submit) as f64 / 1000.0),
        jain: Jain {
            windows: jain.len(),
            mean: r4(if jain.is_empty() {
                1.0
            } else {
                jain.iter().sum::<f64>() / jain.len() as f64
            }),
            min: r4(jain.iter().copied().fold(1.0, f64::min)),
        },
        deficit_jain_1h: deficit_jain(rec, &weights, g, 1),
        deficit_jain_24h: deficit_jain(rec, &weights, g, 24),
        reserved_idle_fraction: r4(rec.reserved_idle / (g * span)),
        reservations: out.reservations,
        estimate_error_mean: r4(if out.estimate_errors.is_empty() {
            0.0
        } else {
            out.estimate_errors.iter().sum::<f64>() / out.estimate_errors.len() as f64
        }),
        jobs_with_estimate: out.estimate_errors.len(),
        stranded_gpus_mean: r4(rec.stranded / span),
        fgd_frag_rate: r4(if rec.idle > 0.0 {
            rec.frag / rec.idle
        } else {
            0.0
        }),
        evictions: out.evictions,
        jobs_preempted: out.jobs.iter().filter(|r| r.evictions > 0).count(),
        sessions: out.sessions,
        binds: out.binds,
        events: out.events,
        utilization_hourly: util,
        tenant_share_hourly: shares,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn deficit_jain_ignores_borrowing_and_counts_shortfall() {
        use crate::recorder::{Recorder, State};
        // 2 GPUs, equal weights (entitled 1 each), both backlogged. Window 0: tenant 0 holds
        // both (borrowing is not unfair: x = 1), tenant 1 none (x = 0) → 0.5. Window 1: 1 and 1
        // → 1. p10 of [0.5, 1] is 0.5.
        let h = 3_600_000;
        let mut r = Recorder::new(2, 0, 2 * h, h);
        r.set(State {
            held: vec![2, 0],
            pending: vec![1, 1],
            ..State::default()
        });
        r.advance(h);
        r.set(State {
            held: vec![1, 1],
            pending: vec![1, 1],
            ..State::default()
        });
        r.advance(2 * h);
        let one = deficit_jain(&r, &[1.0, 1.0], 2.0, 1);
        assert_eq!((one.windows, one.mean, one.p10), (2, 0.75, 0.5));
        // One 24-hour window: held 3 / 1 of entitlement 2 / 2 → x = [1, 0.5] → 0.9.
        let day = deficit_jain(&r, &[1.0, 1.0], 2.0, 24);
        assert_eq!((day.windows, day.mean), (1, 0.9));
    }

    #[test]
    fn jain_and_water_filling_match_hand_computation() {
        assert_eq!(jain_index(&[1.0, 1.0, 1.0]), 1.0);
        assert!((jain_index(&[1.0, 0.0]) - 0.5).abs() < 1e-12);
        // 10 GPUs, weights 1:1, demands 2 and 20 → 2 and 8.
        assert_eq!(water_fill(10.0, &[1.0, 1.0], &[2.0, 20.0]), vec![2.0, 8.0]);
        // weights 3:1, both hungry → 7.5 and 2.5.
        assert_eq!(water_fill(10.0, &[3.0, 1.0], &[20.0, 20.0]), vec![7.5, 2.5]);
        assert_eq!(percentile(&[1.0, 2.0, 3.0, 4.0], 50.0), 2.0);
        assert_eq!(percentile(&[1.0, 2.0, 3.0, 4.0], 95.0), 4.0);
    }
}
