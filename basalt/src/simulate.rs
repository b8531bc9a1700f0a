//! `basalt simulate`: runs an experiment file (config/simulator/*.yaml) through the simulator and
//! writes report.json, report.md, SVG plots and timing.json into `--out`. All logic lives in the
//! `simulator` crate; this module only maps flags onto it.

use std::path::PathBuf;

use anyhow::Context;

/// Flags of `basalt simulate`.
#[derive(clap::Args, Debug)]
pub struct SimulateArgs {
    /// Experiment file, e.g. config/simulator/article-benchmark.yaml.
    pub experiment: PathBuf,
    /// Directory for report.json, report.md, the SVG plots and timing.json.
    #[arg(long, value_name = "DIR", default_value = "target/sim")]
    pub out: PathBuf,
    /// Compare these policies instead of the file's (repeatable): kube-default, volcano-default,
    /// basalt, binpack, spread, fgd, or a scheduler configuration file.
    #[arg(long = "policy", value_name = "NAME|FILE")]
    pub policies: Vec<String>,
    /// Override the experiment's seed.
    #[arg(long)]
    pub seed: Option<u64>,
    /// Override the cluster: a preset (seed-4x8, w-synth-64, openb, openb-gpu) or a spec file.
    #[arg(long, value_name = "PRESET|FILE")]
    pub cluster: Option<String>,
    /// Directory holding openb-2023/ and philly-2017/.
    #[arg(long, env = "BASALT_TRACES", default_value = "/work/shared/traces")]
    pub traces: PathBuf,
    /// No progress bar on stderr.
    #[arg(long)]
    pub quiet: bool,
}

/// Runs the subcommand.
pub fn run(args: SimulateArgs) -> anyhow::Result<()> {
    let mut setup = simulator::experiment::Setup::load(&args.experiment, &args.traces)?;
    if let Some(seed) = args.seed {
        setup.spec.seed = seed;
    }
    if let Some(cluster) = args.cluster {
        let as_path = PathBuf::from(&cluster);
        setup.spec.cluster = if as_path.exists() {
            std::path::absolute(&as_path)
                .with_context(|| format!("resolving {}", as_path.display()))?
                .display()
                .to_string()
        } else {
            cluster
        };
    }
    let (report, timing) = simulator::experiment::run(&setup, &args.policies, !args.quiet)?;
    simulator::report::write_all(&args.out, &report, &timing)?;
    for r in &timing.runs {
        eprintln!(
            "{}: {:.2} s wall, {} events, {:.0} events/s",
            r.policy, r.wall_s, r.events, r.events_per_s
        );
    }
    for n in &report.not_run {
        eprintln!("not run: {}: {}", n.policy, n.reason);
    }
    eprintln!("wrote {}", args.out.join("report.md").display());
    Ok(())
}
