//! The one Basalt binary: every component is a subcommand.
//!
//! This file only parses the command line and dispatches; each subcommand's logic lives in the
//! crate that owns it.

use std::path::PathBuf;

mod cli;
mod controller;
mod flow;
mod logging;
mod nodes;
mod simulate;
mod up;
mod webhook;

use anyhow::Context;
use clap::{Parser, Subcommand};

/// Basalt: a Volcano-compatible batch and GPU scheduler and operator suite for Kubernetes.
#[derive(Parser, Debug)]
#[command(name = "basalt", version, about, propagate_version = true)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand, Debug)]
enum Command {
    /// Start an embedded API server with simulated GPU nodes (and Basalt's controllers) for kubectl.
    Up(up::UpArgs),
    /// Replay a workload or trace through scheduler-core under several policies and write a report.
    Simulate(simulate::SimulateArgs),
    /// Serve the admission webhooks (defaulting, validation, quota checks) over TLS.
    Webhook(webhook::WebhookArgs),
    /// Inspect JobFlows and resume a Failed one from its failed steps (list, view, retry).
    Flow(flow::FlowArgs),
    /// Simulated GPU nodes and kubelet (kwok-style) for any cluster: Nodes, Leases, pod status.
    Nodes(nodes::NodesArgs),
    /// Run the controllers and the scheduler loop against any cluster (kubeconfig or in-cluster).
    Controller(controller::ControllerArgs),
    /// Volcano Jobs: list, view, abort, resume, restart, delete.
    Job(cli::JobArgs),
    /// Queues: list, get, create, open, close, delete.
    Queue(cli::QueueArgs),
    /// GPU allocation, idle and fragmented GPUs per node and GPU model, GPUs stranded for each
    /// pending pod shape, and pending demand per queue, from the scheduler's snapshot.
    Report(cli::ReportArgs),
    /// Why a job is pending, and what would unblock it.
    Why(cli::WhyArgs),
    /// Make a `kubectl-basalt` symlink so `kubectl basalt …` runs this binary.
    InstallKubectlPlugin(cli::InstallPluginArgs),
    /// Print the CustomResourceDefinitions (Job, Command, PodGroup, Queue, JobFlow, JobTemplate).
    Crds {
        /// Write one file per CRD into this directory instead of printing to stdout.
        #[arg(long, value_name = "DIR")]
        write: Option<PathBuf>,
    },
}

/// mimalloc instead of the C library's malloc: a scheduling session allocates and frees many small
/// objects, and glibc's (or musl's, in the image) malloc cost 13-33 % of one (docs/ARCHITECTURE.md,
/// "Memory allocator").
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() -> anyhow::Result<()> {
    // Invoked as `kubectl-basalt` (kubectl plugin): same commands, kubectl's name in help.
    let plugin = std::env::args_os()
        .next()
        .map(PathBuf::from)
        .and_then(|p| p.file_stem().map(|s| s.to_string_lossy().into_owned()))
        .is_some_and(|n| n == "kubectl-basalt");
    let cli = if plugin {
        use clap::{CommandFactory, FromArgMatches};
        let matches = Cli::command().bin_name("kubectl basalt").get_matches();
        Cli::from_arg_matches(&matches)?
    } else {
        Cli::parse()
    };
    match cli.command {
        Command::Up(args) => up::run(args),
        Command::Simulate(args) => simulate::run(args),
        Command::Webhook(args) => webhook::run(args),
        Command::Flow(args) => flow::run(args),
        Command::Nodes(args) => nodes::run(args),
        Command::Controller(args) => controller::run(args),
        Command::Job(args) => cli::run_job(args),
        Command::Queue(args) => cli::run_queue(args),
        Command::Report(args) => cli::run_report(args),
        Command::Why(args) => cli::run_why(args),
        Command::InstallKubectlPlugin(args) => cli::install_plugin(args),
        Command::Crds { write } => crds_command(write),
    }
}

fn crds_command(write: Option<PathBuf>) -> anyhow::Result<()> {
    match write {
        None => {
            let yaml = crds::crd::render_all().context("rendering the CRDs")?;
            write_stdout(&yaml)?;
        }
        Some(dir) => {
            std::fs::create_dir_all(&dir).with_context(|| format!("creating {}", dir.display()))?;
            for crd in crds::crd::all() {
                let path = dir.join(crds::crd::file_name(&crd));
                let yaml = crds::crd::render(&crd).context("rendering a CRD")?;
                std::fs::write(&path, yaml)
                    .with_context(|| format!("writing {}", path.display()))?;
                eprintln!("wrote {}", path.display());
            }
        }
    }
    Ok(())
}

/// Print to stdout; a closed pipe (`basalt crds | head`) is not an error.
fn write_stdout(text: &str) -> anyhow::Result<()> {
    use std::io::Write;
    match std::io::stdout().lock().write_all(text.as_bytes()) {
        Err(e) if e.kind() == std::io::ErrorKind::BrokenPipe => Ok(()),
        other => other.context("writing to stdout"),
    }
}
