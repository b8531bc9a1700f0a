//! `basalt nodes`: devcluster's simulated GPU nodes and kubelet (`devcluster::nodes`) as a client
//! of any API server, kwok-style: it registers Node objects with GPU capacity, renews their
//! heartbeat Leases, and moves the pods bound to them through Running to Succeeded/Failed as
//! their `sim.basalt.dev/*` annotations say. `basalt up` runs the same code against its embedded
//! API server; the node flags ([`NodeFlags`]) are shared by both commands.

use std::path::PathBuf;
use std::time::Duration;

use anyhow::{Context, bail};
use clap::Args;
use kubelet::{ClusterSpec, Kubelet, KubeletConfig, MetricsStore, spec};

/// The simulated nodes: either a cluster spec file or a uniform set from flags.
#[derive(Args, Debug, Clone)]
pub struct NodeFlags {
    /// Run time of pods without a `sim.basalt.dev/duration` annotation (e.g. 30s); without it
    /// they run until deleted.
    #[arg(long, value_name = "DURATION")]
    pub pod_duration: Option<String>,
    /// Cluster spec file (nodes with labels, taints, CPU, memory, GPUs, background usage);
    /// replaces the node flags. See docs/cluster-spec.md.
    #[arg(long, value_name = "FILE", conflicts_with_all = ["nodes", "gpus_per_node", "gpu_memory", "gpu_model"])]
    pub cluster: Option<PathBuf>,
    /// Number of simulated GPU nodes.
    #[arg(long, default_value_t = spec::DEFAULT_NODES)]
    pub nodes: u32,
    /// GPUs per node.
    #[arg(long, default_value_t = spec::DEFAULT_GPUS_PER_NODE)]
    pub gpus_per_node: u32,
    /// Memory per GPU (a quantity such as 80Gi).
    #[arg(long, default_value = spec::DEFAULT_GPU_MEMORY)]
    pub gpu_memory: String,
    /// GPU model (the `nvidia.com/gpu.product` label).
    #[arg(long, default_value = spec::DEFAULT_GPU_MODEL)]
    pub gpu_model: String,
}

impl NodeFlags {
    /// The kubelet configuration these flags describe; bad flags or a bad spec file are errors
    /// that name the flag or the file's field.
    pub fn kubelet_config(&self) -> anyhow::Result<KubeletConfig> {
        let spec = match &self.cluster {
            Some(path) => ClusterSpec::from_file(path)?,
            None => {
                if self.nodes == 0 {
                    bail!("--nodes must be at least 1");
                }
                ClusterSpec::uniform(
                    self.nodes,
                    self.gpus_per_node,
                    &self.gpu_model,
                    &self.gpu_memory,
                )
            }
        };
        let mut config = KubeletConfig::new(spec.resolve().context("in the node flags")?);
        if let Some(text) = &self.pod_duration {
            let d = kubelet::duration::parse(text)
                .map_err(|e| anyhow::anyhow!("--pod-duration: {e}"))?;
            config.default_duration = Some(d);
        }
        Ok(config)
    }
}

/// Flags of `basalt nodes`.
#[derive(Args, Debug, Clone)]
#[command(after_help = "\
The nodes are Node objects labelled sim.basalt.dev/simulated=true with nvidia.com/gpu capacity; pods \
that a scheduler binds to them are run by this process (no container starts): Running at once, \
then Succeeded or Failed after sim.basalt.dev/duration (or --pod-duration), with \
sim.basalt.dev/exit-code and sim.basalt.dev/fail-times. Stop it with Ctrl-C or SIGTERM; the Node \
objects stay (a restart adopts them; delete them with \
`kubectl delete nodes -l sim.basalt.dev/simulated=true`).

The kubeconfig's user needs to create, list, patch and delete Nodes and patch nodes/status; \
to create and patch Leases in kube-node-lease (and create that Namespace if it is missing); to \
list, watch and delete Pods and patch pods/status: cluster-admin, or the ClusterRole in \
docs/real-cluster.md. Node metrics (metrics.k8s.io) are served only by `basalt up`; here usage is \
published as the basalt.dev/gpu-utilization node annotation. See docs/real-cluster.md.")]
pub struct NodesArgs {
    /// Kubeconfig of the cluster to add the nodes to; in-cluster or `$KUBECONFIG`
    /// configuration without it.
    #[arg(long, value_name = "FILE")]
    pub kubeconfig: Option<PathBuf>,
    #[command(flatten)]
    pub nodes: NodeFlags,
}

pub fn run(args: NodesArgs) -> anyhow::Result<()> {
    crate::logging::init()?;
    let config = args.nodes.kubelet_config()?;
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .context("starting the async runtime")?;
    runtime.block_on(nodes(args.kubeconfig, config))
}

async fn nodes(kubeconfig: Option<PathBuf>, config: KubeletConfig) -> anyhow::Result<()> {
    let client = crate::controller::client(kubeconfig.as_ref()).await?;
    // Usage samples are kept in memory: on a real cluster nothing serves them as
    // metrics.k8s.io (the `basalt.dev/gpu-utilization` node annotation is still written).
    let kubelet = Kubelet::register(client, config.clone(), MetricsStore::default())
        .await
        .context("registering the simulated nodes")?;
    let gpus: u32 = config.nodes.iter().map(|n| n.gpus).sum();
    println!(
        "basalt nodes: {} simulated nodes ({gpus} GPUs) registered: {}",
        config.nodes.len(),
        config
            .nodes
            .iter()
            .map(|n| n.name.as_str())
            .collect::<Vec<_>>()
            .join(", ")
    );
    let (stop_tx, mut stop_rx) = tokio::sync::watch::channel(false);
    let task = tokio::spawn(kubelet.run(async move {
        let _ = stop_rx.wait_for(|stop| *stop).await;
    }));
    let signal = crate::up::wait_for_signal().await?;
    tracing::info!(signal, "shutting down");
    let _ = stop_tx.send(true);
    let _ = tokio::time::timeout(Duration::from_secs(5), task).await;
    eprintln!("basalt nodes: stopped ({signal})");
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::Parser;

    #[derive(Parser)]
    struct Cli {
        #[command(flatten)]
        nodes: NodeFlags,
    }

    fn flags(args: &[&str]) -> NodeFlags {
        Cli::try_parse_from(std::iter::once("basalt").chain(args.iter().copied()))
            .expect("flags parse")
            .nodes
    }

    #[test]
    fn uniform_flags_make_that_many_gpu_nodes() {
        let config = flags(&[
            "--nodes",
            "2",
            "--gpus-per-node",
            "4",
            "--pod-duration",
            "5s",
        ])
        .kubelet_config()
        .expect("valid flags");
        let names: Vec<&str> = config.nodes.iter().map(|n| n.name.as_str()).collect();
        assert_eq!(names, ["gpu-node-0", "gpu-node-1"]);
        assert!(config.nodes.iter().all(|n| n.gpus == 4));
        assert_eq!(config.default_duration, Some(Duration::from_secs(5)));
    }

    #[test]
    fn bad_flags_are_errors_that_name_the_flag() {
        let err = flags(&["--nodes", "0"])
            .kubelet_config()
            .expect_err("--nodes 0");
        assert!(err.to_string().contains("--nodes"), "{err}");
        let err = flags(&["--pod-duration", "soon"])
            .kubelet_config()
            .expect_err("--pod-duration soon");
        assert!(err.to_string().contains("--pod-duration"), "{err}");
        let conflict = Cli::try_parse_from(["basalt", "--cluster", "c.yaml", "--nodes", "2"]);
        assert!(conflict.is_err(), "--cluster replaces the node flags");
    }
}
