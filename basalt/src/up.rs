//! `basalt up`: the embedded API server, simulated GPU nodes and (when present) Basalt's
//! controllers in one process, ready for `kubectl`.
//!
//! Order matters: the kubeconfig is written only once every component is ready, so its
//! appearance is the signal scripts and the e2e harness wait for; SIGINT/SIGTERM stop the
//! nodes, then the server (which flushes `--data-dir`), then remove the kubeconfig.

use std::path::{Path, PathBuf};
use std::time::Duration;

use anyhow::{Context, bail};
use clap::Args;
use devcluster::DevCluster;
use kubelet::{Kubelet, KubeletConfig, MetricsStore};

/// Flags of `basalt up`.
#[derive(Args, Debug, Clone)]
pub struct UpArgs {
    /// API server port on 127.0.0.1 (0 picks a free one).
    #[arg(long, default_value_t = 6443)]
    pub port: u16,
    /// Where to write the kubeconfig, once everything is ready.
    #[arg(long, value_name = "FILE", default_value = "basalt.kubeconfig")]
    pub kubeconfig: PathBuf,
    /// Keep every object in this directory so a restart keeps the cluster's state
    /// (in memory without it). A write is answered only once it is on disk (fdatasync);
    /// the directory is made 0700 and its files 0600.
    #[arg(long, value_name = "DIR")]
    pub data_dir: Option<PathBuf>,
    /// Run the API server and the simulated nodes only.
    #[arg(long)]
    pub no_controllers: bool,
    /// Do not run or register the admission webhooks (defaulting, validation, quota checks);
    /// `--no-controllers` implies it.
    #[arg(long)]
    pub no_webhooks: bool,
    /// Scheduler configuration file (Volcano's YAML); the built-in default without it.
    #[arg(long, value_name = "FILE")]
    pub scheduler_config: Option<PathBuf>,
    /// Inject 500s, 409s and dropped watches at this rate (0..1), for resilience tests.
    #[arg(long, value_name = "F", default_value_t = 0.0)]
    pub fault_rate: f64,
    /// With --fault-rate: requests whose User-Agent starts with PREFIX get no injected fault
    /// (repeatable; e.g. `kubectl/` and `basalt-cli/` to aim the faults at the controllers,
    /// scheduler, webhooks and simulated nodes while a test drives the cluster reliably).
    #[arg(long, value_name = "PREFIX")]
    pub fault_exempt_agent: Vec<String>,
    /// Fail exactly the first COUNT writes that match, whatever --fault-rate says (repeatable),
    /// e.g. `verb=create,resource=pods/binding,name=my-job-,count=1` fails the first bind of a
    /// pod of `my-job`. Keys: verb (create|update|patch|delete), resource (PLURAL or
    /// PLURAL/SUBRESOURCE, required), name (prefix), agent (User-Agent prefix; the components
    /// of `basalt up` send `basalt-controller/`, `basalt-webhook/` and `basalt-nodes/`),
    /// status (500|409|429|503, default 500), count (default 1).
    #[arg(long, value_name = "RULE")]
    pub fault_rule: Vec<devcluster::FaultRule>,
    #[command(flatten)]
    pub nodes: crate::nodes::NodeFlags,
}

pub fn run(args: UpArgs) -> anyhow::Result<()> {
    crate::logging::init()?;
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .context("starting the async runtime")?;
    runtime.block_on(up(args))
}

fn node_config(args: &UpArgs) -> anyhow::Result<KubeletConfig> {
    if !(0.0..=1.0).contains(&args.fault_rate) {
        bail!("--fault-rate {} must be between 0 and 1", args.fault_rate);
    }
    args.nodes.kubelet_config()
}

async fn up(args: UpArgs) -> anyhow::Result<()> {
    let config = node_config(&args)?;
    // A kubeconfig left by an earlier run would point at a dead server; its appearance must
    // mean "ready".
    remove_if_exists(&args.kubeconfig)?;
    let metrics = MetricsStore::default();
    let mut builder = DevCluster::builder()
        .port(args.port)
        .fault_rate(args.fault_rate)
        .graceful_pod_deletion(true)
        .ready_component("nodes")
        .namespace(SYSTEM_NAMESPACE)
        .extension(metrics.router(), MetricsStore::resources());
    for crd in crds::crd::all() {
        builder = builder.crd(serde_json::to_value(&crd).context("serializing a Basalt CRD")?);
    }
    for prefix in &args.fault_exempt_agent {
        builder = builder.spare_from_faults(prefix.clone());
    }
    for rule in &args.fault_rule {
        builder = builder.fault_rule(rule.clone());
    }
    if let Some(dir) = &args.data_dir {
        std::fs::create_dir_all(dir)
            .with_context(|| format!("creating --data-dir {}", dir.display()))?;
        builder = builder.data_dir(dir);
    }
    let handle = builder.start().await.context("starting the API server")?;
    // The components run here reach the server in process (no TLS, TCP or HTTP framing; the
    // same router, token check and fault rules as the port): docs/basalt-up.md.
    let client = handle.in_process_client(CONTROLLER_AGENT);
    let kubelet = register_nodes(
        handle.in_process_client(NODES_AGENT),
        config.clone(),
        metrics,
    )
    .await?;
    handle.ready_gate().set("nodes", true);
    let (stop_tx, stop_rx) = tokio::sync::watch::channel(false);
    let stopped = move || {
        let mut rx = stop_rx.clone();
        async move {
            let _ = rx.wait_for(|stop| *stop).await;
        }
    };
    let nodes = tokio::spawn(kubelet.run(stopped()));
    let controllers = if args.no_controllers {
        None
    } else {
        let ready = handle.ready_gate();
        ready.register("controllers");
        let task = start_controllers(client.clone(), &args, stopped()).await?;
        wait_for_default_queue(&client).await?;
        ready.set("controllers", true);
        Some(task)
    };
    // Admission webhooks over HTTPS, registered with the API server as on a real cluster. They
    // come with the controllers: `--no-controllers` means the API server and the nodes only, and
    // without the controllers there is no `default` queue for Jobs to name.
    let webhooks = if args.no_controllers || args.no_webhooks {
        None
    } else {
        let ca = handle.certificate_authority();
        let webhook_client = handle.in_process_client(WEBHOOK_AGENT);
        let task =
            crate::webhook::start_embedded(webhook_client, ca, handle.ca_pem(), true, stopped())
                .await?;
        Some(task)
    };
    handle
        .write_kubeconfig(&args.kubeconfig)
        .context("writing the kubeconfig")?;
    let gpus: u32 = config.nodes.iter().map(|n| n.gpus).sum();
    println!(
        "basalt up: API server {} with {} simulated nodes ({gpus} GPUs){}\nkubeconfig: {}\n  export KUBECONFIG={}",
        handle.server_url(),
        config.nodes.len(),
        match &args.data_dir {
            Some(d) => format!(", data in {}", d.display()),
            None => String::new(),
        },
        args.kubeconfig.display(),
        absolute(&args.kubeconfig).display(),
    );
    let signal = wait_for_signal().await?;
    tracing::info!(signal, "shutting down");
    let _ = stop_tx.send(true);
    let _ = tokio::time::timeout(Duration::from_secs(5), nodes).await;
    if let Some(task) = controllers {
        match tokio::time::timeout(Duration::from_secs(10), task).await {
            Ok(Ok(Err(e))) => tracing::warn!(error = %e, "the controllers stopped with an error"),
            Err(_) => tracing::warn!("the controllers did not stop within 10s"),
            _ => {}
        }
    }
    if let Some(task) = webhooks {
        let _ = tokio::time::timeout(Duration::from_secs(5), task).await;
    }
    handle.shutdown().await;
    remove_if_exists(&args.kubeconfig)?;
    eprintln!("basalt up: stopped ({signal})");
    Ok(())
}

/// Waits until the controllers have created the `default` queue: until then a Job that names no
/// queue would be refused at admission, so `basalt up` is not ready before it exists.
async fn wait_for_default_queue(client: &kube::Client) -> anyhow::Result<()> {
    let api: kube::Api<crds::queue::Queue> = kube::Api::all(client.clone());
    let deadline = tokio::time::Instant::now() + Duration::from_secs(60);
    loop {
        match api.get_opt("default").await {
            Ok(Some(_)) => return Ok(()),
            Ok(None) => {}
            Err(error) => tracing::debug!(%error, "looking for the default queue"),
        }
        if tokio::time::Instant::now() >= deadline {
            anyhow::bail!("the controllers did not create the `default` queue within 60 s");
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// Namespace for Basalt's own objects (leases, configuration).
const SYSTEM_NAMESPACE: &str = "basalt-system";

/// Starts the reconcilers and the scheduler loop once the Volcano kinds are served. In
/// `basalt up` Basalt is the only scheduler, so it also schedules `default-scheduler` pods.
async fn start_controllers(
    client: kube::Client,
    args: &UpArgs,
    shutdown: impl std::future::Future<Output = ()> + Send + 'static,
) -> anyhow::Result<tokio::task::JoinHandle<controllers::Result<()>>> {
    let jobs: kube::Api<crds::Job> = kube::Api::all(client.clone());
    let mut attempt = 0;
    while let Err(e) = jobs.list(&kube::api::ListParams::default().limit(1)).await {
        attempt += 1;
        if attempt > 50 {
            return Err(e)
                .context("the Volcano Job kind is not served; cannot start the controllers");
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let mut config = controllers::ControllerConfig::default();
    config.scheduler_names.push("default-scheduler".into());
    if let Some(file) = &args.scheduler_config {
        config.scheduler_config = controllers::SchedulerConfigSource::File(file.clone());
    }
    Ok(tokio::spawn(async move {
        let result = controllers::run(client, config, shutdown).await;
        if let Err(e) = &result {
            tracing::error!(error = %e, "the controllers stopped");
        }
        result
    }))
}

/// Registers the nodes, retrying while `--fault-rate` makes writes fail.
async fn register_nodes(
    client: kube::Client,
    config: KubeletConfig,
    metrics: MetricsStore,
) -> anyhow::Result<Kubelet> {
    let mut attempt = 0;
    loop {
        match Kubelet::register(client.clone(), config.clone(), metrics.clone()).await {
            Ok(k) => return Ok(k),
            Err(e) if attempt < 20 => {
                tracing::debug!(error = %e, attempt, "registering the simulated nodes; retrying");
                attempt += 1;
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
            Err(e) => return Err(e).context("registering the simulated nodes"),
        }
    }
}

/// User-Agent of the controllers and the scheduler inside `basalt up`.
const CONTROLLER_AGENT: &str = concat!("basalt-controller/", env!("CARGO_PKG_VERSION"));
/// User-Agent of the admission webhooks' cluster view inside `basalt up`.
const WEBHOOK_AGENT: &str = concat!("basalt-webhook/", env!("CARGO_PKG_VERSION"));
/// User-Agent of the simulated nodes inside `basalt up`.
const NODES_AGENT: &str = concat!("basalt-nodes/", env!("CARGO_PKG_VERSION"));

pub(crate) async fn wait_for_signal() -> anyhow::Result<&'static str> {
    use tokio::signal::unix::{SignalKind, signal};
    let mut term = signal(SignalKind::terminate()).context("installing the SIGTERM handler")?;
    let mut int = signal(SignalKind::interrupt()).context("installing the SIGINT handler")?;
    Ok(tokio::select! {
        _ = term.recv() => "SIGTERM",
        _ = int.recv() => "SIGINT",
    })
}

fn remove_if_exists(path: &Path) -> anyhow::Result<()> {
    match std::fs::remove_file(path) {
        Err(e) if e.kind() != std::io::ErrorKind::NotFound => {
            Err(e).with_context(|| format!("removing the old kubeconfig {}", path.display()))
        }
        _ => Ok(()),
    }
}

fn absolute(path: &Path) -> PathBuf {
    std::path::absolute(path).unwrap_or_else(|_| path.to_path_buf())
}
