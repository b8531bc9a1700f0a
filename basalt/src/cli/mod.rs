//! The operator CLI: `basalt job|queue|report|why` against any cluster (kubeconfig flags as
//! kubectl's), and the kubectl plugin install (`kubectl basalt …` runs this same binary).

pub mod common;
pub mod job;
pub mod placement;
pub mod queue;
pub mod report;
pub mod session;
pub mod why;

use std::path::PathBuf;

use anyhow::Context as _;
use clap::Args;

pub use common::Conn;

/// `basalt job`.
#[derive(Args, Debug)]
pub struct JobArgs {
    #[command(subcommand)]
    command: job::JobCommand,
    #[command(flatten)]
    conn: Conn,
}

/// `basalt queue`.
#[derive(Args, Debug)]
pub struct QueueArgs {
    #[command(subcommand)]
    command: queue::QueueCommand,
    #[command(flatten)]
    conn: Conn,
}

/// `basalt report`.
#[derive(Args, Debug)]
pub struct ReportArgs {
    #[command(flatten)]
    conn: Conn,
}

/// `basalt why`.
#[derive(Args, Debug)]
pub struct WhyArgs {
    /// Volcano Job name (in `-n` namespace).
    job: String,
    /// The scheduler configuration (Volcano's YAML) the dry-run session uses: pass the file your
    /// scheduler runs with (`basalt up --scheduler-config`, the chart's `<release>-scheduler`
    /// ConfigMap); Basalt's built-in default without it.
    #[arg(long, value_name = "FILE")]
    scheduler_config: Option<PathBuf>,
    /// Another scheduler name whose pods Basalt schedules, besides `volcano` and `basalt`
    /// (repeatable; `basalt up` also schedules `default-scheduler`).
    #[arg(long = "scheduler-name", value_name = "NAME")]
    scheduler_names: Vec<String>,
    #[command(flatten)]
    conn: Conn,
}

/// `basalt install-kubectl-plugin`.
#[derive(Args, Debug)]
pub struct InstallPluginArgs {
    /// Directory on PATH to put the `kubectl-basalt` symlink in (default: this binary's directory).
    dir: Option<PathBuf>,
}

fn runtime() -> anyhow::Result<tokio::runtime::Runtime> {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .context("starting the runtime")
}

/// Runs `basalt job`.
pub fn run_job(args: JobArgs) -> anyhow::Result<()> {
    runtime()?.block_on(job::run(&args.conn, args.command))
}

/// Runs `basalt queue`.
pub fn run_queue(args: QueueArgs) -> anyhow::Result<()> {
    runtime()?.block_on(queue::run(&args.conn, args.command))
}

/// Runs `basalt report`.
pub fn run_report(args: ReportArgs) -> anyhow::Result<()> {
    runtime()?.block_on(report::run(&args.conn))
}

/// Runs `basalt why`.
pub fn run_why(args: WhyArgs) -> anyhow::Result<()> {
    runtime()?.block_on(why::run(
        &args.conn,
        &args.job,
        args.scheduler_config.as_deref(),
        &["volcano".to_owned(), "basalt".to_owned()]
            .into_iter()
            .chain(args.scheduler_names.iter().cloned())
            .collect::<Vec<_>>(),
    ))
}

/// Makes `DIR/kubectl-basalt` a symlink to this binary.
pub fn install_plugin(args: InstallPluginArgs) -> anyhow::Result<()> {
    let exe = std::env::current_exe().context("finding this binary's path")?;
    let dir = match args.dir {
        Some(d) => d,
        None => exe
            .parent()
            .context("this binary has no directory")?
            .to_path_buf(),
    };
    let link = dir.join("kubectl-basalt");
    if link.symlink_metadata().is_ok() {
        std::fs::remove_file(&link).with_context(|| format!("replacing {}", link.display()))?;
    }
    symlink(&exe, &link).with_context(|| {
        format!(
            "creating {}; pass a writable directory on PATH, e.g. ~/.local/bin",
            link.display()
        )
    })?;
    println!(
        "installed {} -> {}; run `kubectl basalt queue list`",
        link.display(),
        exe.display()
    );
    Ok(())
}

#[cfg(unix)]
fn symlink(target: &std::path::Path, link: &std::path::Path) -> std::io::Result<()> {
    std::os::unix::fs::symlink(target, link)
}

#[cfg(not(unix))]
fn symlink(target: &std::path::Path, link: &std::path::Path) -> std::io::Result<()> {
    std::fs::copy(target, link).map(|_| ())
}
