//! Runs the shipped experiments and prints wall time and simulated events per second:
//! `cargo bench -p basalt-simulator --bench experiments [-- article|w-synth|fgd]`.
//! Targets (issue #9): article benchmark < 60 s, 64-node W-synth < 5 min in release.

use std::path::Path;

use simulator::experiment::{Setup, run};

/// The product's allocator (docs/ARCHITECTURE.md, "Memory allocator"): benches measure what ships.
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

/// A comma-separated list from the environment (`a,b`); empty when unset. Blank entries are
/// dropped, so `a,,b` and `a, b` mean `a,b`.
fn env_list(name: &str) -> Vec<String> {
    std::env::var(name)
        .map(|v| {
            v.split(',')
                .map(str::trim)
                .filter(|p| !p.is_empty())
                .map(str::to_owned)
                .collect()
        })
        .unwrap_or_default()
}

fn main() {
    // BASALT_SWEEP=file runs that experiment's load sweep (release build, as `basalt simulate`
    // would) and writes sweep.md / sweep.json into BASALT_SIM_OUT (default target/sim/sweep);
    // BASALT_SWEEP_POLICIES=a,b overrides the file's policies.
    if let Ok(file) = std::env::var("BASALT_SWEEP") {
        let setup = match Setup::load(Path::new(&file), &simulator::default_traces_dir()) {
            Ok(s) => s,
            Err(e) => {
                eprintln!("{file}: {e}");
                std::process::exit(1);
            }
        };
        let Some(sweep) = setup.spec.sweep.clone() else {
            eprintln!("{file}: no sweep section");
            std::process::exit(1);
        };
        let policies = env_list("BASALT_SWEEP_POLICIES");
        let t0 = std::time::Instant::now();
        let report = simulator::sweep::run(&setup, &sweep, &policies, |load, seed, p, wall| {
            println!("load {load} seed {seed} {p:<18} wall {wall:>7.2} s");
        });
        match report {
            Ok(r) => {
                let dir =
                    std::env::var("BASALT_SIM_OUT").unwrap_or_else(|_| "target/sim/sweep".into());
                if let Err(e) = simulator::sweep::write_all(Path::new(&dir), &r) {
                    eprintln!("{e}");
                    std::process::exit(1);
                }
                println!(
                    "sweep total wall {:.1} s; wrote {dir}/sweep.md",
                    t0.elapsed().as_secs_f64()
                );
            }
            Err(e) => {
                eprintln!("{file}: {e}");
                std::process::exit(1);
            }
        }
        return;
    }
    let filter: Vec<String> = std::env::args()
        .skip(1)
        .filter(|a| !a.starts_with('-'))
        .collect();
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../config/simulator");
    let traces = simulator::default_traces_dir();
    // `-- fgd-100` runs the FGD experiment cut to 101 % arrived (fgd-openb-100.yaml).
    for (key, file) in [
        ("article", "article-benchmark.yaml"),
        ("w-synth", "w-synth-64.yaml"),
        ("fgd", "fgd-openb.yaml"),
        ("fgd-100", "fgd-openb-100.yaml"),
    ] {
        if filter.is_empty() && key == "fgd-100" {
            continue;
        }
        if !filter.is_empty() && !filter.iter().any(|f| f == key) {
            continue;
        }
        let mut setup = match Setup::load(&root.join(file), &traces) {
            Ok(s) => s,
            Err(e) => {
                eprintln!("{key}: {e}");
                std::process::exit(1);
            }
        };
        // BASALT_FGD_POD_LIST=openb-2023/openb_pod_list_<trace>.csv runs the FGD experiments on
        // another openb trace (relative to the traces directory, BASALT_TRACES).
        if let (Some(fgd), Ok(list)) = (
            setup.spec.fgd.as_mut(),
            std::env::var("BASALT_FGD_POD_LIST"),
        ) {
            fgd.pod_list = list;
        }
        let t0 = std::time::Instant::now();
        // BASALT_SIM_PROGRESS=1 prints per-run progress (the FGD experiment: one line per
        // policy × seed with its result at 100 % arrived).
        let progress = std::env::var_os("BASALT_SIM_PROGRESS").is_some();
        // BASALT_SIM_POLICIES=a,b runs those policies instead of the file's.
        let policies = env_list("BASALT_SIM_POLICIES");
        match run(&setup, &policies, progress) {
            Ok((report, timing)) => {
                // BASALT_SIM_OUT=dir also writes each experiment's report into dir/<key>.
                if let Ok(dir) = std::env::var("BASALT_SIM_OUT")
                    && let Err(e) =
                        simulator::report::write_all(&Path::new(&dir).join(key), &report, &timing)
                {
                    eprintln!("{key}: {e}");
                }
                println!(
                    "{key}: {} jobs/pods, total wall {:.2} s",
                    report.jobs,
                    t0.elapsed().as_secs_f64()
                );
                for r in &timing.runs {
                    println!(
                        "  {:<14} wall {:>8.2} s  events {:>8}  {:>10.0} events/s",
                        r.policy, r.wall_s, r.events, r.events_per_s
                    );
                }
                for l in &timing.latency {
                    println!(
                        "  {:<14} sessions {:>7}  p50 {:>8.1} µs  p99 {:>9.1} µs  max {:>9.1} µs  {:.1} µs/bind",
                        l.policy, l.sessions, l.p50_us, l.p99_us, l.max_us, l.per_bind_us
                    );
                }
            }
            Err(e) => {
                eprintln!("{key}: {e}");
                std::process::exit(1);
            }
        }
    }
}
