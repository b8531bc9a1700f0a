//! Writing an experiment's results: `report.json` (deterministic), `report.md` (side-by-side
//! tables, deterministic), SVG plots (utilization over time, waiting-time CDF per size bucket,
//! per-tenant share over time, FGD curves) and `timing.json` (wall clock; not deterministic).

use std::fmt::Write;
use std::path::Path;

use crate::error::{Error, Result, write};
use crate::experiment::{Report, Timing};
use crate::svg::{Series, line_chart};
use crate::workload::SizeBucket;

/// Serialises the report (pretty JSON, trailing newline).
pub fn to_json(report: &Report) -> String {
    // Serialising plain data with string keys cannot fail; fall back to an empty object anyway.
    let mut s = serde_json::to_string_pretty(report).unwrap_or_else(|_| "{}".into());
    s.push('\n');
    s
}

fn hours(s: f64) -> String {
    if s < 60.0 {
        format!("{s:.0} s")
    } else if s < 3600.0 {
        format!("{:.1} min", s / 60.0)
    } else {
        format!("{:.2} h", s / 3600.0)
    }
}

/// The markdown report.
pub fn to_markdown(report: &Report) -> String {
    let mut md = String::new();
    let _ = writeln!(
        md,
        "# {}\n\n{}\n",
        report.experiment,
        report.description.trim()
    );
    let _ = writeln!(
        md,
        "Cluster: {} nodes, {} GPUs. Jobs: {}. Seed: {}. Measured window: {:.1} days. Offered load: {:.2}.\n",
        report.nodes,
        report.gpus,
        report.jobs,
        report.seed,
        report.measured_s / 86_400.0,
        report.offered_load
    );
    if !report.policies.is_empty() {
        let ps = &report.policies;
        let _ = writeln!(
            md,
            "| metric | {} |",
            ps.iter()
                .map(|p| p.policy.as_str())
                .collect::<Vec<_>>()
                .join(" | ")
        );
        let _ = writeln!(md, "|---|{}", "---|".repeat(ps.len()));
        let mut row = |name: &str, f: &dyn Fn(&crate::metrics::PolicyReport) -> String| {
            let _ = writeln!(
                md,
                "| {name} | {} |",
                ps.iter().map(f).collect::<Vec<_>>().join(" | ")
            );
        };
        row("GPU allocation utilization", &|p| {
            format!("{:.1} %", p.gpu_allocation_utilization * 100.0)
        });
        row("GPU productive utilization", &|p| {
            format!("{:.1} %", p.gpu_productive_utilization * 100.0)
        });
        for b in SizeBucket::ALL {
            let l = b.label();
            row(&format!("wait {l}: mean / p50 / p95"), &|p| {
                p.waiting_s.get(l).map_or("-".into(), |s| {
                    format!(
                        "{} / {} / {} (n={}, {} never started)",
                        hours(s.mean),
                        hours(s.p50),
                        hours(s.p95),
                        s.count,
                        s.censored
                    )
                })
            });
        }
        row("JCT mean / p95", &|p| {
            format!("{} / {}", hours(p.jct_s.mean), hours(p.jct_s.p95))
        });
        row("makespan", &|p| hours(p.makespan_s));
        row("Jain's index mean / min (windows)", &|p| {
            format!(
                "{:.3} / {:.3} ({})",
                p.jain.mean, p.jain.min, p.jain.windows
            )
        });
        row("stranded GPUs (mean)", &|p| {
            format!("{:.2}", p.stranded_gpus_mean)
        });
        row("FGD fragmentation rate", &|p| {
            format!("{:.1} %", p.fgd_frag_rate * 100.0)
        });
        row("evictions (jobs preempted)", &|p| {
            format!("{} ({})", p.evictions, p.jobs_preempted)
        });
        row("jobs finished / started / submitted", &|p| {
            format!(
                "{} / {} / {}",
                p.jobs_finished, p.jobs_started, p.jobs_submitted
            )
        });
        row("sessions / binds", &|p| {
            format!("{} / {}", p.sessions, p.binds)
        });
        let _ = writeln!(
            md,
            "\nWaits of jobs that never started count up to the end of the run (lower bounds).\n\n![utilization](utilization.svg)\n\n![waiting-time CDF](wait-cdf.svg)\n"
        );
        for p in ps {
            let _ = writeln!(
                md,
                "![tenant shares under {0}](tenant-share-{0}.svg)\n",
                p.policy
            );
        }
    }
    if !report.seed_summary.is_empty() {
        let ss = &report.seed_summary;
        let _ = writeln!(
            md,
            "## Over {} seeds ({})\n\nMean ± 95 % confidence half-width (Student t).\n",
            ss[0].seeds.len(),
            ss[0]
                .seeds
                .iter()
                .map(u64::to_string)
                .collect::<Vec<_>>()
                .join(", ")
        );
        let _ = writeln!(
            md,
            "| metric | {} |\n|---|{}",
            ss.iter()
                .map(|s| s.policy.as_str())
                .collect::<Vec<_>>()
                .join(" | "),
            "---|".repeat(ss.len())
        );
        for key in ss[0].metrics.keys() {
            let cells: Vec<String> = ss
                .iter()
                .map(|s| {
                    s.metrics
                        .get(key)
                        .map_or("-".into(), |m| format!("{:.4} ± {:.4}", m.mean, m.ci95))
                })
                .collect();
            let _ = writeln!(md, "| {key} | {} |", cells.join(" | "));
        }
        md.push('\n');
    }
    if let Some(f) = &report.fgd {
        let _ = writeln!(
            md,
            "Trace: {}. Pods per run after inflation: {}.\n",
            f.trace, f.pods
        );
        let _ = writeln!(
            md,
            "| policy | unallocated GPU % at 90 / 95 / 100 / 110 / 120 / 130 % arrived | frag rate at 100 % | failed pods |"
        );
        let _ = writeln!(md, "|---|---|---|---|");
        for (name, curve) in &f.curves {
            let at = |x: u32| curve.iter().find(|p| p.arrived == x);
            let vals: Vec<String> = [90, 95, 100, 110, 120, 130]
                .iter()
                .map(|x| at(*x).map_or("-".into(), |p| format!("{:.2}", p.unallocated)))
                .collect();
            let failed = f.failed.get(name).copied().unwrap_or(0.0);
            let _ = writeln!(
                md,
                "| {name} | {} | {} | {failed:.0} |",
                vals.join(" / "),
                at(100).map_or("-".into(), |p| format!("{:.1} %", p.frag_rate))
            );
        }
        let _ = writeln!(
            md,
            "\nUnallocated GPU % at 100 % arrived over the seeds (mean ± sample SD), beside the paper's ({} trace, 10 seeds):\n",
            f.trace
        );
        let _ = writeln!(md, "| policy | seeds | ours | paper |");
        let _ = writeln!(md, "|---|---|---|---|");
        for (name, v) in &f.at_100 {
            let (m, sd) = crate::fgd::mean_sd(v);
            let paper = f
                .paper_at_100
                .get(name)
                .map_or("-".into(), |p| format!("{p:.2}"));
            let _ = writeln!(md, "| {name} | {} | {m:.2} ± {sd:.2} | {paper} |", v.len());
        }
        let _ = writeln!(
            md,
            "\nThe paper's unallocated GPU % at 100 % arrived ({} trace, fgd.md §3.1): {}.\n\n![FGD](fgd.svg)\n",
            f.trace,
            f.paper_at_100
                .iter()
                .map(|(k, v)| format!("{k} {v:.2}"))
                .collect::<Vec<_>>()
                .join(", ")
        );
    }
    if !report.not_run.is_empty() {
        let _ = writeln!(md, "## Not run\n");
        for n in &report.not_run {
            let _ = writeln!(md, "- `{}`: {}", n.policy, n.reason);
        }
        md.push('\n');
    }
    md
}

/// Hourly values as (day, value × scale) points; runs longer than 10 days are averaged over
/// 6-hour blocks so the lines stay readable.
fn smooth(hourly: &[f64], scale: f64) -> Vec<(f64, f64)> {
    let block = if hourly.len() > 240 { 6 } else { 1 };
    hourly
        .chunks(block)
        .enumerate()
        .map(|(i, c)| {
            let mean = c.iter().sum::<f64>() / c.len() as f64;
            ((i * block) as f64 / 24.0, mean * scale)
        })
        .collect()
}

/// The SVG plots, as (file name, contents).
pub fn plots(report: &Report) -> Vec<(String, String)> {
    let mut out = Vec::new();
    if !report.policies.is_empty() {
        let series: Vec<Series> = report
            .policies
            .iter()
            .map(|p| Series {
                name: p.policy.clone(),
                points: smooth(&p.utilization_hourly, 100.0),
            })
            .collect();
        out.push((
            "utilization.svg".into(),
            line_chart(
                "GPU allocation utilization (6-hour means on runs over 10 days)",
                "day",
                "% of GPUs",
                &series,
                Some(100.0),
            ),
        ));
        out.push((
            "wait-cdf.svg".into(),
            line_chart(
                "Waiting time CDF by job size",
                "log10(1 + wait in s)",
                "fraction of jobs",
                &[],
                Some(1.0),
            ),
        ));
        for p in &report.policies {
            let series: Vec<Series> = p
                .tenant_share_hourly
                .iter()
                .map(|(t, v)| Series {
                    name: t.clone(),
                    points: smooth(v, 100.0),
                })
                .collect();
            out.push((
                format!("tenant-share-{}.svg", p.policy),
                line_chart(
                    &format!("Per-tenant share of GPUs under {}", p.policy),
                    "day",
                    "% of GPUs",
                    &series,
                    None,
                ),
            ));
        }
    }
    if let Some(f) = &report.fgd {
        let series: Vec<Series> = f
            .curves
            .iter()
            .map(|(name, c)| Series {
                name: name.clone(),
                points: c
                    .iter()
                    .filter(|p| p.arrived >= 75)
                    .map(|p| (f64::from(p.arrived), p.unallocated))
                    .collect(),
            })
            .collect();
        out.push((
            "fgd.svg".into(),
            line_chart(
                "Unallocated GPUs vs arrived workload (openb)",
                "arrived workload, % of GPU capacity",
                "unallocated GPUs, %",
                &series,
                Some(25.0),
            ),
        ));
    }
    out
}

/// The waiting-time CDF plot from per-bucket wait samples, (policy, bucket) → sorted waits (s).
pub fn wait_cdf_plot(samples: &[(String, SizeBucket, Vec<f64>)]) -> String {
    let series: Vec<Series> = samples
        .iter()
        .filter(|(_, _, v)| !v.is_empty())
        .map(|(policy, bucket, v)| {
            let n = v.len() as f64;
            let step = (v.len() / 200).max(1);
            let mut points: Vec<(f64, f64)> = v
                .iter()
                .enumerate()
                .filter(|(i, _)| i % step == 0 || *i == v.len() - 1)
                .map(|(i, w)| ((1.0 + w).log10(), (i + 1) as f64 / n))
                .collect();
            points.insert(0, (0.0, 0.0));
            Series {
                name: format!("{policy} {}", bucket.label()),
                points,
            }
        })
        .collect();
    line_chart(
        "Waiting time CDF by job size",
        "log10(1 + wait in s)",
        "fraction of jobs",
        &series,
        Some(1.0),
    )
}

/// Writes everything into `dir` (created if missing).
pub fn write_all(dir: &Path, report: &Report, timing: &Timing) -> Result<()> {
    let wait_cdf = (!report.wait_samples.is_empty()).then(|| wait_cdf_plot(&report.wait_samples));
    std::fs::create_dir_all(dir).map_err(|source| Error::Io {
        action: "create",
        path: dir.to_path_buf(),
        source,
    })?;
    write(&dir.join("report.json"), to_json(report))?;
    write(&dir.join("report.md"), to_markdown(report))?;
    for (name, svg) in plots(report) {
        let svg = if name == "wait-cdf.svg" {
            wait_cdf.clone().unwrap_or(svg)
        } else {
            svg
        };
        write(&dir.join(name), svg)?;
    }
    let mut t = serde_json::to_string_pretty(timing).unwrap_or_else(|_| "{}".into());
    t.push('\n');
    write(&dir.join("timing.json"), t)
}
