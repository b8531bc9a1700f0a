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
    /// basalt, basalt-reserve, binpack, spread, fgd, or a scheduler configuration file.
    #[arg(long = "policy", value_name = "NAME|FILE")]
    pub policies: Vec<String>,
    /// Override the experiment's seed.
    #[arg(long)]
    pub seed: Option<u64>,
    /// Override the cluster: a preset (seed-4x8, w-synth-64, openb, openb-gpu) or a spec file.
    #[arg(long, value_name = "PRESET|FILE")]
    pub cluster: Option<String>,
    /// Directory holding openb-2023/ and philly-2017/ (default: $BASALT_TRACES, else traces/ of
    /// the working directory, else the repository's traces/).
    #[arg(long, value_name = "DIR")]
    pub traces: Option<PathBuf>,
    /// No progress bar on stderr.
    #[arg(long)]
    pub quiet: bool,
}

/// Runs the subcommand.
pub fn run(args: SimulateArgs) -> anyhow::Result<()> {
    let traces = args
        .traces
        .clone()
        .unwrap_or_else(simulator::default_traces_dir);
    let mut setup = simulator::experiment::Setup::load(&args.experiment, &traces)?;
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
    if let Some(sweep) = setup.spec.sweep.clone() {
        let quiet = args.quiet;
        let report =
            simulator::sweep::run(&setup, &sweep, &args.policies, |load, seed, p, wall| {
                if !quiet {
                    eprintln!("load {load} seed {seed} {p}: {wall:.2} s wall");
                }
            })?;
        simulator::sweep::write_all(&args.out, &report)?;
        eprintln!("wrote {}", args.out.join("sweep.md").display());
        return Ok(());
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

/// The simulator and the production scheduler loop make the same decisions: the simulated state
/// is written out as the Kubernetes objects a real cluster would hold (Nodes, Queues, PodGroups,
/// Pods), the controllers' snapshot builder turns them into the production snapshot, and a session
/// over it must give the same binds as the session the simulator runs over its own snapshot.
#[cfg(test)]
mod equivalence {
    #![allow(clippy::unwrap_used)]

    use std::collections::BTreeMap;

    use bridge::snapshot::{Inputs, build};
    use crds::podgroup::PodGroup;
    use crds::queue::Queue;
    use k8s_openapi::api::core::v1::{Node, Pod};
    use scheduler_core::{Effect, run_session};
    use serde_json::json;
    use simulator::engine::{Engine, RunOptions};
    use simulator::policy::Policy;
    use simulator::{ClusterSpec, JobKind, JobSpec, Tenant, Workload};

    fn ts(ms: u64) -> String {
        format!("1970-01-01T00:{:02}:{:02}Z", ms / 60_000, (ms / 1000) % 60)
    }

    fn job(name: &str, tenant: usize, submit_s: u64, pods: u32, gpus: u32, gang: bool) -> JobSpec {
        JobSpec {
            name: name.into(),
            tenant,
            submit_ms: submit_s * 1000,
            duration_ms: 600_000,
            pods,
            gpus_per_pod: gpus,
            gpu_milli: 1000,
            cpu_milli: 4000,
            memory_bytes: 16 << 30,
            gang,
            kind: JobKind::Training,
            priority: 0,
            gpu_models: vec![],
            declared_runtime_ms: None,
        }
    }

    /// The Kubernetes objects of the simulated state: node objects from the cluster, one Queue per
    /// tenant, and per submitted job its PodGroup and pods (bound ones with `nodeName`, Running).
    fn objects(
        cluster: &ClusterSpec,
        w: &Workload,
        snap: &scheduler_core::Snapshot,
        single_queue: bool,
    ) -> (Vec<Node>, Vec<Queue>, Vec<PodGroup>, Vec<Pod>) {
        let nodes = cluster
            .nodes
            .iter()
            .map(|n| {
                serde_json::from_value(json!({
                    "metadata": {"name": n.name, "labels": {"gpu-card-model": n.gpu_model, "kubernetes.io/hostname": n.name}},
                    "status": {"allocatable": {
                        "cpu": format!("{}m", n.cpu_milli),
                        "memory": n.memory_bytes.to_string(),
                        "nvidia.com/gpu": n.gpus.to_string(),
                        "pods": "110"
                    }}
                }))
                .unwrap()
            })
            .collect();
        let queue_names: Vec<String> = if single_queue {
            vec!["default".into()]
        } else {
            w.tenants.iter().map(|t| t.name.clone()).collect()
        };
        let queues = queue_names
            .iter()
            .enumerate()
            .map(|(i, q)| {
                let weight = w
                    .tenants
                    .iter()
                    .find(|t| &t.name == q)
                    .map_or(1, |t| t.weight);
                serde_json::from_value(json!({
                    "apiVersion": "scheduling.volcano.sh/v1beta1", "kind": "Queue",
                    "metadata": {"name": q, "creationTimestamp": ts(i as u64 * 1000)},
                    "spec": {"weight": weight, "reclaimable": true}
                }))
                .unwrap()
            })
            .collect();
        let (mut groups, mut pods) = (Vec::new(), Vec::new());
        for j in &w.jobs {
            let ns = &w.tenants[j.tenant].name;
            let jid = format!("{ns}/{}", j.name);
            let Some(pg) = snap.jobs.get(&jid.as_str().into()) else {
                continue;
            };
            let queue = if single_queue { "default" } else { ns.as_str() };
            let per_pod = json!({"cpu": format!("{}m", j.cpu_milli), "memory": j.memory_bytes.to_string(), "nvidia.com/gpu": j.gpus_per_pod.to_string()});
            let mut spec = json!({"minMember": if j.gang { j.pods } else { 1 }, "queue": queue});
            if j.gang {
                spec["minResources"] = json!({
                    "cpu": format!("{}m", j.cpu_milli * i64::from(j.pods)),
                    "memory": (j.memory_bytes * i64::from(j.pods)).to_string(),
                    "nvidia.com/gpu": (j.gpus_per_pod * j.pods).to_string()
                });
            }
            let phase = format!("{:?}", pg.phase);
            groups.push(
                serde_json::from_value(json!({
                    "apiVersion": "scheduling.volcano.sh/v1beta1", "kind": "PodGroup",
                    "metadata": {"name": j.name, "namespace": ns, "creationTimestamp": ts(j.submit_ms)},
                    "spec": spec,
                    "status": {"phase": phase}
                }))
                .unwrap(),
            );
            for i in 0..j.pods {
                let tid = format!("{ns}/{}-{i}", j.name);
                let task = &snap.tasks[&tid.as_str().into()];
                let mut pod = json!({
                    "metadata": {
                        "name": format!("{}-{i}", j.name), "namespace": ns,
                        "creationTimestamp": ts(j.submit_ms),
                        "annotations": {"scheduling.k8s.io/group-name": j.name, "volcano.sh/task-spec": "worker"}
                    },
                    "spec": {"schedulerName": "volcano", "priority": j.priority,
                             "containers": [{"name": "main", "image": "x", "resources": {"requests": per_pod}}]},
                    "status": {"phase": "Pending"}
                });
                if let Some(node) = &task.node {
                    pod["spec"]["nodeName"] = json!(node.as_str());
                    pod["status"]["phase"] = json!("Running");
                }
                pods.push(serde_json::from_value(pod).unwrap());
            }
        }
        (nodes, queues, groups, pods)
    }

    fn binds(effects: &[Effect]) -> Vec<(String, String)> {
        effects
            .iter()
            .filter_map(|e| match e {
                Effect::Bind { task, node, .. } => Some((task.to_string(), node.to_string())),
                _ => None,
            })
            .collect()
    }

    #[test]
    fn simulator_and_production_loop_bind_the_same_pods_to_the_same_nodes() {
        let cluster = ClusterSpec::uniform("gpu-node", 3, 8);
        let tenants = ["team-a", "team-b"]
            .iter()
            .map(|n| Tenant {
                name: (*n).into(),
                weight: 1,
                capability_gpus: None,
            })
            .collect();
        let mut w = Workload {
            tenants,
            jobs: vec![
                job("train-a", 0, 0, 2, 8, true),
                job("small-b", 1, 0, 1, 2, false),
                job("infer-b", 1, 0, 3, 1, false),
                job("big-a", 0, 5, 2, 8, true),
                job("tiny-a", 0, 5, 1, 1, false),
            ],
        };
        w.sort();
        for name in ["basalt", "kube-default"] {
            let policy = Policy::load(name).unwrap();
            let opts = RunOptions {
                measure_start_ms: 0,
                measure_end_ms: 60_000,
                stop_ms: u64::MAX,
                progress: false,
            };
            let mut engine = Engine::new(&policy, &cluster, &w, &opts);
            let mut rounds = 0;
            while let Some(now) = engine.apply_next_events(10_000) {
                let (nodes, queues, groups, pods) =
                    objects(&cluster, &w, engine.snapshot(), policy.single_queue);
                let (pods_r, nodes_r) = (
                    pods.iter().collect::<Vec<_>>(),
                    nodes.iter().collect::<Vec<_>>(),
                );
                let (groups_r, queues_r) = (
                    groups.iter().collect::<Vec<_>>(),
                    queues.iter().collect::<Vec<_>>(),
                );
                let production = build(
                    &Inputs {
                        pods: &pods_r,
                        nodes: &nodes_r,
                        podgroups: &groups_r,
                        queues: &queues_r,
                        in_flight: &BTreeMap::new(),
                        priority_classes: &[],
                    },
                    |s| s == Some("volcano"),
                );
                let expected = run_session(&production, &policy.scheduler).unwrap();
                // A follow-up session (after admissions or evictions) with nothing pending runs
                // nothing in the simulator; production must then bind nothing either.
                let Some(simulated) = engine.schedule(now).unwrap() else {
                    assert!(
                        binds(&expected.effects).is_empty(),
                        "{name} at t={now} ms: production binds while the simulator has nothing pending"
                    );
                    continue;
                };
                assert_eq!(
                    binds(&simulated.effects),
                    binds(&expected.effects),
                    "{name} at t={now} ms"
                );
                assert!(
                    !binds(&simulated.effects).is_empty() || rounds > 0,
                    "{name}: round 1 binds"
                );
                rounds += 1;
            }
            // One session per arrival time (0 s, 5 s), plus follow-up sessions one schedule
            // period after a session that admitted or evicted work; each was compared above.
            assert!(
                rounds >= 2,
                "{name}: sessions at both arrivals, got {rounds}"
            );
        }
    }
}
