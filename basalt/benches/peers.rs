//! Basalt beside the real peers on one real control plane (issue 19): the same workloads
//! through each system, one after the other in one run, each case on a fresh etcd +
//! kube-apiserver (`tools/realcluster`) with the same simulated nodes (`basalt nodes`).
//!
//! Per case (system × workload): start the control plane; start the system under test; start
//! `basalt nodes` and wait until every node is Ready; create the objects from `PEERS_CREATORS`
//! concurrent clients; one watch records when each is first seen done (a pod bound; a Volcano
//! Job in phase Running). Reported: throughput (objects ÷ time from the first create sent to the
//! last done seen), create-to-done latency (p50/p99/max), and the system's CPU time.
//!
//! Workloads (`PEERS_WORKLOADS`, default all): `plain` — `PEERS_PODS` single-container pods
//! (100m CPU, 64 Mi); `jobs` — 1,000 single-pod Volcano Jobs; `gangs` — 100 Volcano Jobs of 8
//! pods with `minAvailable: 8`. Jobs are written complete (queue, minAvailable, task name), as
//! no admission webhook runs for either system.
//!
//! Systems (`PEERS_SYSTEMS`, comma-separated, default all four, run in this order):
//! - `kube-scheduler`: kube-scheduler v1.37.2 with its default configuration (its client is
//!   rate-limited to 50 requests/s, burst 100, as every kube-scheduler is unless configured);
//! - `kube-scheduler-qps`: the same with `clientConnection.qps/burst` raised to 5,000, so the
//!   API server rather than the client limiter bounds it (large clusters configure this);
//! - `volcano`: Volcano v1.14.1's `vc-scheduler` (its built-in default configuration, 1 s
//!   period) and `vc-controller-manager` (all default controllers), with Volcano's own CRDs,
//!   built by `tools/volcano/volcano.sh`; its admission webhooks are not run;
//! - `basalt`: `basalt controller` with the shipped scheduler configuration and default flags
//!   (1 s session period); pods use `schedulerName: volcano`, so each gets a PodGroup, as
//!   under Volcano.
//!
//! kube-scheduler runs only the `plain` workload (it has no Volcano Jobs).
//!
//! Environment: `PEERS_PODS` (10,000), `PEERS_JOBS` (1,000), `PEERS_GANGS` (100),
//! `PEERS_NODES` (500), `PEERS_CREATORS` (32), `PEERS_TIMEOUT_SECS` (900). Needs the Go
//! components (`tools/realcluster/realcluster.sh build`, `tools/volcano/volcano.sh build`); run
//! everything with `benches/peers/run.sh`. Results: a Markdown table on stdout and
//! `target/peers/results.json`.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::print_stdout)]

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use futures_util::{StreamExt, TryStreamExt, stream};
use k8s_openapi::api::core::v1::{Namespace, Pod, ServiceAccount};
use kube::api::{Api, ApiResource, DynamicObject, GroupVersionKind, PostParams};
use kube::runtime::watcher;
use kube::{Client, ResourceExt};
use serde_json::json;

#[path = "peers_harness/mod.rs"]
mod harness;

use harness::{
    Plane, client, cpu_of, env_or, load_average, start_system, wait_nodes_ready, wait_queue,
};

const NS: &str = "peers";
/// Where each case first runs one object to completion, so no system is measured while it
/// still starts up.
const WARMUP_NS: &str = "peers-warmup";

fn container() -> serde_json::Value {
    json!({
        "name": "c",
        "image": "registry.k8s.io/pause:3.10",
        "resources": {"requests": {"cpu": "100m", "memory": "64Mi"}}
    })
}

fn pod(ns: &str, name: &str, scheduler: &str) -> Pod {
    serde_json::from_value(json!({
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {"name": name, "namespace": ns},
        "spec": {"schedulerName": scheduler, "containers": [container()]}
    }))
    .unwrap()
}

/// A complete Volcano Job (no webhook fills defaults): `replicas` pods, all needed to start.
fn volcano_job(ns: &str, name: &str, replicas: u32) -> DynamicObject {
    serde_json::from_value(json!({
        "apiVersion": "batch.volcano.sh/v1alpha1",
        "kind": "Job",
        "metadata": {"name": name, "namespace": ns},
        "spec": {
            "schedulerName": "volcano",
            "queue": "default",
            "minAvailable": replicas,
            "tasks": [{
                "name": "t",
                "replicas": replicas,
                "minAvailable": replicas,
                "template": {"spec": {"restartPolicy": "Never", "containers": [container()]}}
            }]
        }
    }))
    .unwrap()
}

fn job_resource() -> ApiResource {
    ApiResource::from_gvk_with_plural(
        &GroupVersionKind::gvk("batch.volcano.sh", "v1alpha1", "Job"),
        "jobs",
    )
}

#[derive(Clone, Copy, PartialEq)]
enum Workload {
    Plain,
    Jobs,
    Gangs,
}

impl Workload {
    fn name(self) -> &'static str {
        match self {
            Workload::Plain => "plain",
            Workload::Jobs => "jobs",
            Workload::Gangs => "gangs",
        }
    }

    fn describe(self, n: usize) -> String {
        match self {
            Workload::Plain => format!("{n} plain pods"),
            Workload::Jobs => format!("{n} single-pod Volcano Jobs"),
            Workload::Gangs => format!("{n} Volcano Jobs of 8 pods (minAvailable 8)"),
        }
    }
}

struct Outcome {
    system: String,
    workload: Workload,
    count: usize,
    done: usize,
    wall: Duration,
    create_wall: Duration,
    p50: Duration,
    p99: Duration,
    max: Duration,
    system_cpu: Option<Duration>,
    load: String,
}

type Times = Arc<Mutex<HashMap<String, Instant>>>;

/// Records when each object of the namespace is first seen done.
fn watch_done(
    client: Client,
    ns: &'static str,
    workload: Workload,
    done: Times,
) -> Arc<tokio::sync::Notify> {
    let started = Arc::new(tokio::sync::Notify::new());
    let notify = started.clone();
    tokio::spawn(async move {
        let mut announced = false;
        let mark = |name: String, finished: bool, announced: &mut bool| {
            if !*announced {
                notify.notify_one();
                *announced = true;
            }
            if finished {
                done.lock()
                    .unwrap()
                    .entry(name)
                    .or_insert_with(Instant::now);
            }
        };
        if workload == Workload::Plain {
            let api: Api<Pod> = Api::namespaced(client, ns);
            let mut stream = std::pin::pin!(watcher(api, watcher::Config::default()));
            while let Ok(Some(event)) = stream.try_next().await {
                match event {
                    watcher::Event::Apply(p) | watcher::Event::InitApply(p) => {
                        let bound = p.spec.as_ref().and_then(|s| s.node_name.as_ref()).is_some();
                        mark(p.name_any(), bound, &mut announced);
                    }
                    _ => mark(String::new(), false, &mut announced),
                }
            }
        } else {
            let api: Api<DynamicObject> = Api::namespaced_with(client, ns, &job_resource());
            let mut stream = std::pin::pin!(watcher(api, watcher::Config::default()));
            while let Ok(Some(event)) = stream.try_next().await {
                match event {
                    watcher::Event::Apply(j) | watcher::Event::InitApply(j) => {
                        let phase = j
                            .data
                            .pointer("/status/state/phase")
                            .and_then(|v| v.as_str());
                        let running = matches!(phase, Some("Running" | "Completed"));
                        mark(j.name_any(), running, &mut announced);
                    }
                    _ => mark(String::new(), false, &mut announced),
                }
            }
        }
    });
    started
}

async fn run_objects(
    client: Client,
    ns: &'static str,
    workload: Workload,
    scheduler: &str,
    count: usize,
    creators: usize,
    timeout: Duration,
) -> (Vec<Duration>, Duration, Duration, usize) {
    let done: Times = Arc::default();
    watch_done(client.clone(), ns, workload, done.clone())
        .notified()
        .await;
    let sent: Times = Arc::default();
    let pods: Api<Pod> = Api::namespaced(client.clone(), ns);
    let jobs: Api<DynamicObject> = Api::namespaced_with(client.clone(), ns, &job_resource());
    let start = Instant::now();
    stream::iter(0..count)
        .for_each_concurrent(creators, |i| {
            let (pods, jobs, sent) = (pods.clone(), jobs.clone(), sent.clone());
            let name = format!("{}-{i:05}", workload.name());
            async move {
                let at = Instant::now();
                let mut tries = 0;
                loop {
                    let created = match workload {
                        Workload::Plain => pods
                            .create(&PostParams::default(), &pod(ns, &name, scheduler))
                            .await
                            .map(|_| ()),
                        Workload::Jobs | Workload::Gangs => {
                            let replicas = if workload == Workload::Jobs { 1 } else { 8 };
                            jobs.create(&PostParams::default(), &volcano_job(ns, &name, replicas))
                                .await
                                .map(|_| ())
                        }
                    };
                    match created {
                        Ok(()) => break,
                        Err(kube::Error::Api(e)) if e.code == 409 => break,
                        Err(e) if tries < 5 => {
                            tries += 1;
                            eprintln!("create {name}: {e}; retrying");
                            tokio::time::sleep(Duration::from_millis(200)).await;
                        }
                        Err(e) => panic!("create {name}: {e}"),
                    }
                }
                sent.lock().unwrap().insert(name, at);
            }
        })
        .await;
    let create_wall = start.elapsed();
    let deadline = start + timeout;
    loop {
        let n = done.lock().unwrap().len();
        if n >= count || Instant::now() > deadline {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let done = done.lock().unwrap().clone();
    let sent = sent.lock().unwrap();
    let last = done.values().max().copied().unwrap_or(start);
    let mut latencies: Vec<Duration> = sent
        .iter()
        .filter_map(|(name, at)| done.get(name).map(|d| d.saturating_duration_since(*at)))
        .collect();
    latencies.sort();
    (
        latencies,
        last.saturating_duration_since(start),
        create_wall,
        done.len(),
    )
}

fn percentile(sorted: &[Duration], p: f64) -> Duration {
    if sorted.is_empty() {
        return Duration::ZERO;
    }
    let i = ((sorted.len() as f64 * p).ceil() as usize).clamp(1, sorted.len()) - 1;
    sorted[i]
}

fn run_case(
    system: &str,
    workload: Workload,
    count: usize,
    nodes: usize,
    creators: usize,
) -> Outcome {
    let base = std::env::temp_dir().join(format!("basalt-peers-{}", std::process::id()));
    let case = format!("{system}-{}", workload.name());
    let mut plane = Plane::start(base.join(&case));
    let kubeconfig = plane.kubeconfig();
    let kc = kubeconfig.to_str().unwrap().to_owned();
    let rt = tokio::runtime::Runtime::new().unwrap();
    let client = rt.block_on(client(&kubeconfig));

    // The namespaces and their `default` ServiceAccounts (no kube-controller-manager runs here).
    rt.block_on(async {
        for ns in [NS, WARMUP_NS] {
            let namespace: Namespace =
                serde_json::from_value(json!({"metadata": {"name": ns}})).unwrap();
            Api::<Namespace>::all(client.clone())
                .create(&PostParams::default(), &namespace)
                .await
                .unwrap();
            let sa: ServiceAccount =
                serde_json::from_value(json!({"metadata": {"name": "default", "namespace": ns}}))
                    .unwrap();
            Api::<ServiceAccount>::namespaced(client.clone(), ns)
                .create(&PostParams::default(), &sa)
                .await
                .unwrap();
        }
    });

    let (pids, scheduler_name) = start_system(&mut plane, system);
    plane.spawn_nodes(nodes);
    rt.block_on(wait_nodes_ready(&client, nodes, Duration::from_secs(300)));
    if scheduler_name == "volcano" {
        wait_queue(&kc);
    }
    // Warm-up: one object of the workload to done before anything is measured. (Volcano's
    // job controller left gangs created within about a second of its start without pods.)
    let (_, _, _, warmed) = rt.block_on(run_objects(
        client.clone(),
        WARMUP_NS,
        workload,
        scheduler_name,
        1,
        1,
        Duration::from_secs(180),
    ));
    if warmed < 1 {
        plane.keep = true;
        panic!(
            "{case}: the warm-up object was not done within 180 s (logs kept: {})",
            plane.dir.join("logs").display()
        );
    }
    let cpu = |pids: &[u32]| -> Option<Duration> { pids.iter().map(|p| cpu_of(*p)).sum() };
    let cpu_before = cpu(&pids);
    let load = load_average();
    let timeout = Duration::from_secs(env_or("PEERS_TIMEOUT_SECS", 900));
    let (latencies, wall, create_wall, done) = rt.block_on(run_objects(
        client,
        NS,
        workload,
        scheduler_name,
        count,
        creators,
        timeout,
    ));
    let system_cpu = match (cpu_before, cpu(&pids)) {
        (Some(a), Some(b)) => Some(b.saturating_sub(a)),
        _ => None,
    };
    drop(rt);
    if done < count {
        eprintln!(
            "peers: {case}: {done}/{count} done at the timeout; logs kept in {}",
            plane.dir.join("logs").display()
        );
        plane.keep = true;
    }
    drop(plane);
    Outcome {
        system: system.to_owned(),
        workload,
        count,
        done,
        wall,
        create_wall,
        p50: percentile(&latencies, 0.50),
        p99: percentile(&latencies, 0.99),
        max: latencies.last().copied().unwrap_or_default(),
        system_cpu,
        load,
    }
}

fn main() {
    // `cargo bench` passes `--bench`; nothing else is read from the arguments.
    let nodes: usize = env_or("PEERS_NODES", 500);
    let creators: usize = env_or("PEERS_CREATORS", 32);
    let systems: String = env_or(
        "PEERS_SYSTEMS",
        "kube-scheduler,kube-scheduler-qps,volcano,basalt".to_owned(),
    );
    let workloads: String = env_or("PEERS_WORKLOADS", "plain,jobs,gangs".to_owned());
    let counts = |w: Workload| match w {
        Workload::Plain => env_or("PEERS_PODS", 10_000),
        Workload::Jobs => env_or("PEERS_JOBS", 1_000),
        Workload::Gangs => env_or("PEERS_GANGS", 100),
    };
    println!(
        "{nodes} simulated nodes (96 CPU, 8 GPUs), {creators} concurrent creators, kube-apiserver + etcd v1.37.2 on loopback, one fresh control plane per case"
    );
    let mut outcomes = vec![];
    for workload in workloads
        .split(',')
        .map(str::trim)
        .filter(|s| !s.is_empty())
    {
        let workload = match workload {
            "plain" => Workload::Plain,
            "jobs" => Workload::Jobs,
            "gangs" => Workload::Gangs,
            other => panic!("PEERS_WORKLOADS: unknown workload {other:?} (plain, jobs, gangs)"),
        };
        for system in systems.split(',').map(str::trim).filter(|s| !s.is_empty()) {
            if system.starts_with("kube-scheduler") && workload != Workload::Plain {
                continue;
            }
            let count = counts(workload);
            eprintln!("peers: {system}, {} …", workload.describe(count));
            let o = run_case(system, workload, count, nodes, creators);
            eprintln!(
                "peers: {system}, {}: {}/{} done in {:.1} s",
                workload.name(),
                o.done,
                o.count,
                o.wall.as_secs_f64()
            );
            outcomes.push(o);
        }
    }
    println!();
    println!(
        "| workload | system | done | per second | creates took | create→done p50 | p99 | max | system CPU | load avg at start |"
    );
    println!("|---|---|---|---|---|---|---|---|---|---|");
    let mut json_rows = vec![];
    for o in &outcomes {
        let rate = o.done as f64 / o.wall.as_secs_f64().max(1e-9);
        println!(
            "| {} | {} | {}/{} | {:.0} | {:.1} s | {:.2} s | {:.2} s | {:.2} s | {} | {} |",
            o.workload.describe(o.count),
            o.system,
            o.done,
            o.count,
            rate,
            o.create_wall.as_secs_f64(),
            o.p50.as_secs_f64(),
            o.p99.as_secs_f64(),
            o.max.as_secs_f64(),
            o.system_cpu
                .map_or("?".to_owned(), |d| format!("{:.1} s", d.as_secs_f64())),
            o.load,
        );
        json_rows.push(json!({
            "workload": o.workload.name(), "system": o.system, "count": o.count, "done": o.done,
            "seconds_to_last_done": o.wall.as_secs_f64(), "per_second": rate,
            "create_seconds": o.create_wall.as_secs_f64(),
            "p50_seconds": o.p50.as_secs_f64(), "p99_seconds": o.p99.as_secs_f64(),
            "max_seconds": o.max.as_secs_f64(),
            "system_cpu_seconds": o.system_cpu.map(|d| d.as_secs_f64()),
            "load_average": o.load,
        }));
    }
    harness::write_results("results.json", &json_rows);
    if outcomes.iter().any(|o| o.done < o.count) {
        eprintln!("peers: some case did not finish within the timeout");
        std::process::exit(1);
    }
}
