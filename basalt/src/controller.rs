//! `basalt controller`: Basalt's controllers and scheduler loop against any cluster (a
//! kubeconfig, or in-cluster configuration when none is given). The logic lives in the
//! `controllers` crate; this module only turns flags into a [`controllers::ControllerConfig`].

use std::net::SocketAddr;
use std::path::PathBuf;

use anyhow::{Context, bail};
use clap::Args;
use controllers::{ControllerConfig, LeaderElection, SchedulerConfigSource};

/// Flags of `basalt controller`.
#[derive(Args, Debug, Clone)]
pub struct ControllerArgs {
    /// Kubeconfig file; in-cluster or `$KUBECONFIG` configuration without it.
    #[arg(long, value_name = "FILE")]
    pub kubeconfig: Option<PathBuf>,
    /// Scheduler names whose pods Basalt schedules (repeatable).
    #[arg(long = "scheduler-name", value_name = "NAME", default_values_t = ["volcano".to_owned(), "basalt".to_owned()])]
    pub scheduler_names: Vec<String>,
    /// Session period (a Go duration such as 1s or 500ms).
    #[arg(long, value_name = "DURATION", default_value = "1s")]
    pub schedule_period: String,
    /// Scheduler configuration file in Volcano's YAML, hot reloaded.
    #[arg(long, value_name = "FILE", conflicts_with = "scheduler_configmap")]
    pub scheduler_config: Option<PathBuf>,
    /// Scheduler configuration ConfigMap as NAMESPACE/NAME[:KEY] (key default
    /// `volcano-scheduler.conf`), hot reloaded.
    #[arg(long, value_name = "NS/NAME[:KEY]")]
    pub scheduler_configmap: Option<String>,
    /// Serve /metrics, /healthz and /readyz here.
    #[arg(long, value_name = "ADDR", default_value = "0.0.0.0:8080")]
    pub metrics_addr: SocketAddr,
    /// Elect a leader on a Lease so several replicas can run (only the leader writes).
    #[arg(long)]
    pub leader_elect: bool,
    /// Namespace of the leader Lease.
    #[arg(long, value_name = "NS", default_value = "kube-system")]
    pub lease_namespace: String,
    /// This replica's identity in the Lease (default: `$POD_NAME` or the host name plus pid).
    #[arg(long, value_name = "ID")]
    pub identity: Option<String>,
    /// Concurrent API writes when executing a session's decisions.
    #[arg(long, value_name = "N", default_value_t = 64)]
    pub effect_parallelism: usize,
    /// Deadline of one such write (a bind, an eviction, a status); past it the write is
    /// abandoned, counted as a timeout, and the next session decides again.
    #[arg(long, value_name = "DURATION", default_value = "30s")]
    pub effect_write_timeout: String,
}

fn config(args: &ControllerArgs) -> anyhow::Result<ControllerConfig> {
    let schedule_period =
        scheduler_core::duration::parse(&args.schedule_period).with_context(|| {
            format!(
                "--schedule-period {:?} is not a duration such as 1s",
                args.schedule_period
            )
        })?;
    let effect_write_timeout = scheduler_core::duration::parse(&args.effect_write_timeout)
        .ok()
        .filter(|d| !d.is_zero())
        .with_context(|| {
            format!(
                "--effect-write-timeout {:?} is not a positive duration such as 30s",
                args.effect_write_timeout
            )
        })?;
    let scheduler_config = match (&args.scheduler_config, &args.scheduler_configmap) {
        (Some(file), _) => SchedulerConfigSource::File(file.clone()),
        (None, Some(cm)) => {
            let (ns_name, key) = cm
                .split_once(':')
                .unwrap_or((cm.as_str(), "volcano-scheduler.conf"));
            let Some((namespace, name)) = ns_name.split_once('/') else {
                bail!("--scheduler-configmap {cm:?} must be NAMESPACE/NAME[:KEY]");
            };
            SchedulerConfigSource::ConfigMap {
                namespace: namespace.into(),
                name: name.into(),
                key: key.into(),
            }
        }
        (None, None) => SchedulerConfigSource::BuiltIn,
    };
    let identity = args
        .identity
        .clone()
        .or_else(|| std::env::var("POD_NAME").ok())
        .unwrap_or_else(|| {
            let host = std::fs::read_to_string("/etc/hostname").unwrap_or_default();
            format!("{}-{}", host.trim(), std::process::id())
        });
    Ok(ControllerConfig {
        scheduler_names: args.scheduler_names.clone(),
        schedule_period,
        scheduler_config,
        effect_parallelism: args.effect_parallelism.max(1),
        effect_write_timeout,
        metrics_addr: Some(args.metrics_addr),
        leader_election: args
            .leader_elect
            .then(|| LeaderElection::new(args.lease_namespace.clone(), identity)),
        ..ControllerConfig::default()
    })
}

pub(crate) async fn client(kubeconfig: Option<&PathBuf>) -> anyhow::Result<kube::Client> {
    let Some(path) = kubeconfig else {
        return kube::Client::try_default()
            .await
            .context("no --kubeconfig and no in-cluster/$KUBECONFIG configuration");
    };
    let kc = kube::config::Kubeconfig::read_from(path)
        .with_context(|| format!("reading {}", path.display()))?;
    let cfg = kube::Config::from_custom_kubeconfig(kc, &kube::config::KubeConfigOptions::default())
        .await
        .with_context(|| format!("loading {}", path.display()))?;
    kube::Client::try_from(cfg).context("building the API client")
}

async fn shutdown_signal() {
    use tokio::signal::unix::{SignalKind, signal};
    match (
        signal(SignalKind::terminate()),
        signal(SignalKind::interrupt()),
    ) {
        (Ok(mut term), Ok(mut int)) => {
            tokio::select! { _ = term.recv() => {}, _ = int.recv() => {} }
        }
        _ => {
            let _ = tokio::signal::ctrl_c().await;
        }
    }
}

/// Runs `basalt controller` until SIGINT/SIGTERM.
pub fn run(args: ControllerArgs) -> anyhow::Result<()> {
    crate::logging::init()?;
    let config = config(&args)?;
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .context("starting the async runtime")?;
    runtime.block_on(async {
        let client = client(args.kubeconfig.as_ref()).await?;
        controllers::run(client, config, shutdown_signal())
            .await
            .context("basalt controller")
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::Parser;

    #[derive(Parser)]
    struct Cli {
        #[command(flatten)]
        args: ControllerArgs,
    }

    #[test]
    fn flags_map_to_the_controller_config() {
        let cli = Cli::parse_from([
            "x",
            "--scheduler-configmap",
            "basalt-system/volcano-scheduler-config",
            "--schedule-period",
            "500ms",
            "--leader-elect",
            "--identity",
            "a",
        ]);
        let c = config(&cli.args).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(c.schedule_period, std::time::Duration::from_millis(500));
        assert!(
            matches!(c.scheduler_config, SchedulerConfigSource::ConfigMap { ref key, .. } if key == "volcano-scheduler.conf")
        );
        assert_eq!(c.leader_election.map(|l| l.identity), Some("a".to_owned()));
        assert_eq!(c.scheduler_names, ["volcano", "basalt"]);
    }
}
