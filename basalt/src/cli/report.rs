//! `basalt report`: GPU allocation per node, per GPU model and per queue — whole and fractional
//! (vGPU) GPUs allocated of capacity, idle whole GPUs, fragmented GPUs, free GPUs stranded for each
//! pending pod shape, pending GPU demand by job size, and allocated-but-idle GPUs where nodes
//! publish utilization. Everything is read from the snapshot the scheduler loop builds
//! (`bridge::snapshot`, via `session::snapshot`): the same pods, nodes, cards and
//! PodGroups the scheduler sees, not a second model.

use std::collections::{BTreeMap, BTreeSet};

use anyhow::Context as _;
use k8s_openapi::api::core::v1::{Node, Pod};
use k8s_openapi::api::scheduling::v1::PriorityClass;
use kube::ResourceExt;
use kube::api::{Api, ListParams};
use scheduler_core::{JobPhase, Snapshot, TaskStatus};
use serde::Serialize;

use super::common::{self, Conn, Table};
use super::session;

/// One node's GPUs.
#[derive(Debug, Default, Serialize, PartialEq)]
pub struct NodeRow {
    /// Node name.
    pub node: String,
    /// GPU model of its cards (`-` when unknown).
    pub model: String,
    /// `nvidia.com/gpu` allocatable.
    pub capacity: i64,
    /// Whole GPUs requested by the pods on the node (scheduled, unfinished).
    pub allocated: i64,
    /// GPUs used through vGPU sharing (Σ `nvidia.com/vgpu-cores` / 100).
    pub fractional: f64,
    /// Free GPUs on a node nothing uses (a whole-node job can have them).
    pub idle: i64,
    /// Free GPUs on a node partly in use (stranded for jobs that need the whole node).
    pub fragmented: i64,
    /// `basalt.dev/gpu-utilization` (percent), when published.
    pub utilization: Option<f64>,
    /// Allocated GPUs not doing work: ⌊allocated × (1 − utilization/100)⌋, when utilization is known.
    pub allocated_idle: Option<i64>,
}

/// One GPU model's nodes, summed.
#[derive(Debug, Default, Serialize, PartialEq)]
pub struct ModelRow {
    /// GPU model (`-` when the nodes do not say).
    pub model: String,
    /// Nodes with this model.
    pub nodes: u32,
    /// Σ `nvidia.com/gpu` allocatable.
    pub capacity: i64,
    /// Σ whole GPUs allocated.
    pub allocated: i64,
    /// Σ vGPU share in use.
    pub fractional: f64,
    /// Σ idle whole GPUs.
    pub idle: i64,
    /// Σ fragmented whole GPUs.
    pub fragmented: i64,
}

/// Fragmentation seen by one pending pod shape: free whole GPUs that cannot host such a pod
/// because their node has fewer free than the pod asks.
#[derive(Debug, Default, Serialize, PartialEq)]
pub struct ShapeRow {
    /// Whole GPUs per pod.
    pub gpus_per_pod: i64,
    /// Pending pods of this shape.
    pub pending_pods: u32,
    /// Nodes with room for one such pod now.
    pub nodes_that_fit: u32,
    /// Free whole GPUs in the cluster.
    pub free: i64,
    /// Of those, on nodes with fewer free than `gpus_per_pod`: stranded for this shape.
    pub stranded: i64,
}

/// Jobs and GPUs waiting in one size bucket.
#[derive(Debug, Default, Serialize, PartialEq, Clone, Copy)]
pub struct Demand {
    /// Jobs.
    pub jobs: u32,
    /// GPUs they need.
    pub gpus: i64,
}

/// One queue's GPUs.
#[derive(Debug, Default, Serialize, PartialEq)]
pub struct QueueRow {
    /// Queue name.
    pub queue: String,
    /// Whole GPUs its running pods hold.
    pub allocated: i64,
    /// vGPU share its running pods hold.
    pub fractional: f64,
    /// Pending jobs needing 1–2 GPUs.
    pub pending_1_2: Demand,
    /// Pending jobs needing 3–8 GPUs.
    pub pending_3_8: Demand,
    /// Pending jobs needing 9–15 GPUs.
    pub pending_9_15: Demand,
    /// Pending jobs needing 16 or more GPUs.
    pub pending_16_plus: Demand,
}

/// The whole report.
#[derive(Debug, Default, Serialize)]
pub struct Report {
    /// Per node.
    pub nodes: Vec<NodeRow>,
    /// Per GPU model.
    pub models: Vec<ModelRow>,
    /// Per pending pod shape (whole GPUs per pod), smallest first.
    pub shapes: Vec<ShapeRow>,
    /// Per queue.
    pub queues: Vec<QueueRow>,
}

/// Runs `basalt report`.
pub async fn run(conn: &Conn) -> anyhow::Result<()> {
    let (client, _) = conn.connect().await?;
    let nodes = Api::<Node>::all(client.clone())
        .list(&ListParams::default())
        .await
        .context("listing Nodes")?
        .items;
    let pods = Api::<Pod>::all(client.clone())
        .list(&ListParams::default())
        .await
        .context("listing Pods")?
        .items;
    let podgroups = super::queue::podgroups(&client).await?;
    let queues = Api::<crds::queue::Queue>::all(client.clone())
        .list(&ListParams::default())
        .await
        .context("listing Queues")?
        .items;
    let priority_classes = Api::<PriorityClass>::all(client)
        .list(&ListParams::default())
        .await
        .context("listing PriorityClasses")?
        .items;
    let names: Vec<String> = queues.iter().map(ResourceExt::name_any).collect();
    let objects = session::Objects {
        pods,
        nodes,
        podgroups,
        queues,
        priority_classes,
    };
    let now_ms = (common::now_secs().max(0) as u64).saturating_mul(1000);
    let r = build(&report_snapshot(&objects, now_ms), &objects.nodes, &names);
    if !common::print_structured(conn.output, &r)? {
        crate::write_stdout(&render(&r))?;
    }
    Ok(())
}

/// The scheduler loop's snapshot of `objects`, with the pods of every PodGroup as tasks whatever
/// their `schedulerName` (a report covers all of them; other pods count against their nodes).
pub fn report_snapshot(objects: &session::Objects, now_ms: u64) -> Snapshot {
    session::snapshot_with(objects, now_ms, |_| true)
}

/// The node's GPU model: its cards' (HAMi's inventory or GPU feature discovery), else the GFD
/// product label, else `-`.
fn model_of(node: &scheduler_core::model::Node) -> String {
    node.gpus
        .iter()
        .map(|g| g.model.as_str())
        .find(|m| !m.is_empty())
        .or_else(|| {
            node.labels
                .get(scheduler_core::model::gpu::GFD_PRODUCT)
                .map(String::as_str)
        })
        .unwrap_or("-")
        .to_owned()
}

/// Pure: the report of a snapshot (`nodes` gives the utilization annotations; `queues` lists
/// every queue, even idle ones).
pub fn build(snap: &Snapshot, nodes: &[Node], queues: &[String]) -> Report {
    let mut report = Report::default();
    let utilization: BTreeMap<String, f64> = nodes
        .iter()
        .filter_map(|n| {
            let u = n.annotations().get(common::GPU_UTILIZATION)?;
            Some((n.name_any(), parse_utilization(u)?))
        })
        .collect();
    // Tasks that hold a node, per node.
    let mut on_node: BTreeMap<&str, Vec<&scheduler_core::Task>> = BTreeMap::new();
    for t in snap.tasks.values() {
        if let (true, Some(n)) = (t.status.occupies_node(), &t.node) {
            on_node.entry(n.as_str()).or_default().push(t);
        }
    }
    let mut free_per_node: Vec<i64> = Vec::new();
    let mut models: BTreeMap<String, ModelRow> = BTreeMap::new();
    for (id, n) in &snap.nodes {
        let name = id.as_str();
        let capacity = n.allocatable.get(common::GPU);
        let tasks = on_node.get(name).map(Vec::as_slice).unwrap_or(&[]);
        // Pods that are not tasks (no PodGroup) count through the node's `used`.
        let allocated = n.used.get(common::GPU)
            + tasks
                .iter()
                .map(|t| t.requests.get(common::GPU))
                .sum::<i64>();
        let foreign_share = n.used.get(common::VGPU_CORES) as f64 / 100.0;
        let fractional = foreign_share
            + tasks
                .iter()
                .map(|t| common::fractional_of(&t.requests, &t.annotations))
                .sum::<f64>();
        // A card hosting vGPU pods is not free as a whole card: count the distinct cards the
        // bind annotations name, else round the shares up.
        let cards: BTreeSet<String> = tasks
            .iter()
            .filter(|t| t.requests.get(common::GPU) == 0)
            .flat_map(|t| common::vgpu_cards_of(&t.annotations))
            .map(|(u, _)| u)
            .collect();
        let shared_cards = if cards.is_empty() {
            fractional.ceil() as i64
        } else {
            cards.len() as i64 + foreign_share.ceil() as i64
        };
        let free = (capacity - allocated - shared_cards).max(0);
        free_per_node.push(free);
        let used = allocated > 0 || fractional > 0.0;
        let utilization = utilization.get(name).copied();
        let row = NodeRow {
            node: name.to_owned(),
            model: model_of(n),
            capacity,
            allocated,
            fractional,
            idle: if used { 0 } else { free },
            fragmented: if used { free } else { 0 },
            utilization,
            allocated_idle: utilization
                .map(|u| (allocated as f64 * (1.0 - (u / 100.0).clamp(0.0, 1.0))).floor() as i64),
        };
        let m = models.entry(row.model.clone()).or_insert_with(|| ModelRow {
            model: row.model.clone(),
            ..ModelRow::default()
        });
        m.nodes += 1;
        m.capacity += row.capacity;
        m.allocated += row.allocated;
        m.fractional += row.fractional;
        m.idle += row.idle;
        m.fragmented += row.fragmented;
        report.nodes.push(row);
    }
    report.models = models.into_values().filter(|m| m.capacity > 0).collect();
    // Fragmentation per pending shape.
    let mut shapes: BTreeMap<i64, u32> = BTreeMap::new();
    for t in snap.tasks.values() {
        let g = t.requests.get(common::GPU);
        if t.status == TaskStatus::Pending && g > 0 {
            *shapes.entry(g).or_default() += 1;
        }
    }
    let free_total: i64 = free_per_node.iter().sum();
    report.shapes = shapes
        .into_iter()
        .map(|(gpus, pods)| ShapeRow {
            gpus_per_pod: gpus,
            pending_pods: pods,
            nodes_that_fit: free_per_node.iter().filter(|f| **f >= gpus).count() as u32,
            free: free_total,
            stranded: free_per_node.iter().filter(|f| **f < gpus).sum(),
        })
        .collect();
    // Per queue.
    let mut rows: BTreeMap<String, QueueRow> = queues
        .iter()
        .map(|q| {
            (
                q.clone(),
                QueueRow {
                    queue: q.clone(),
                    ..Default::default()
                },
            )
        })
        .collect();
    let mut pending_gpus: BTreeMap<(String, &str), i64> = BTreeMap::new();
    for t in snap.tasks.values() {
        let Some(job) = snap.jobs.get(&t.job) else {
            continue;
        };
        let q = job.queue.as_str().to_owned();
        if t.status.occupies_node() {
            let row = rows.entry(q.clone()).or_insert_with(|| QueueRow {
                queue: q.clone(),
                ..Default::default()
            });
            row.allocated += t.requests.get(common::GPU);
            row.fractional += common::fractional_of(&t.requests, &t.annotations);
        } else if t.status == TaskStatus::Pending {
            *pending_gpus.entry((q, t.job.as_str())).or_default() += t.requests.get(common::GPU);
        }
    }
    // Pods waiting for their scheduling gates are pending demand too.
    for (id, gated) in &snap.gated {
        if let Some(job) = snap.jobs.get(id) {
            *pending_gpus
                .entry((job.queue.as_str().to_owned(), id.as_str()))
                .or_default() += gated.requests.get(common::GPU);
        }
    }
    // PodGroups waiting without pods yet: their minResources is the demand.
    let with_pods: BTreeSet<&str> = snap.tasks.values().map(|t| t.job.as_str()).collect();
    for (id, job) in &snap.jobs {
        let key = (job.queue.as_str().to_owned(), id.as_str());
        if matches!(job.phase, JobPhase::Pending | JobPhase::Inqueue)
            && !pending_gpus.contains_key(&key)
            && !with_pods.contains(id.as_str())
        {
            let min = job.min_resources.as_ref().map_or(0, |m| m.get(common::GPU));
            pending_gpus.insert(key, min);
        }
    }
    for ((q, _), gpus) in pending_gpus.into_iter().filter(|(_, g)| *g > 0) {
        let row = rows.entry(q.clone()).or_insert_with(|| QueueRow {
            queue: q,
            ..Default::default()
        });
        let bucket = match gpus {
            1..=2 => &mut row.pending_1_2,
            3..=8 => &mut row.pending_3_8,
            9..=15 => &mut row.pending_9_15,
            _ => &mut row.pending_16_plus,
        };
        bucket.jobs += 1;
        bucket.gpus += gpus;
    }
    report.queues = rows.into_values().collect();
    report
}

/// `basalt.dev/gpu-utilization` in percent: a fraction (`0.88`, as `basalt up` writes it) or a
/// percentage (`88%`).
pub fn parse_utilization(v: &str) -> Option<f64> {
    let v = v.trim();
    match v.strip_suffix('%') {
        Some(p) => p.trim().parse().ok(),
        None => v.parse::<f64>().ok().map(|f| f * 100.0),
    }
}

fn frac(v: f64) -> String {
    if v == 0.0 {
        "0".into()
    } else {
        format!("{v:.2}")
    }
}

fn demand(d: Demand) -> String {
    if d.jobs == 0 {
        "-".into()
    } else {
        format!("{} ({} gpu)", d.jobs, d.gpus)
    }
}

/// The text report.
pub fn render(r: &Report) -> String {
    let mut t = Table::new(&[
        "NODE",
        "GPU ALLOCATED/CAPACITY",
        "FRACTIONAL",
        "IDLE",
        "FRAGMENTED",
        "UTILIZATION",
        "ALLOCATED-IDLE",
    ]);
    let (mut cap, mut alloc, mut fr, mut idle, mut fragm) = (0, 0, 0.0, 0, 0);
    for n in &r.nodes {
        cap += n.capacity;
        alloc += n.allocated;
        fr += n.fractional;
        idle += n.idle;
        fragm += n.fragmented;
        t.row(vec![
            n.node.clone(),
            format!("{}/{}", n.allocated, n.capacity),
            frac(n.fractional),
            n.idle.to_string(),
            n.fragmented.to_string(),
            n.utilization.map_or("-".into(), |u| format!("{u:.0}%")),
            n.allocated_idle.map_or("-".into(), |v| v.to_string()),
        ]);
    }
    t.row(vec![
        "TOTAL".into(),
        format!("{alloc}/{cap}"),
        frac(fr),
        idle.to_string(),
        fragm.to_string(),
        "-".into(),
        "-".into(),
    ]);
    let mut out = t.render();
    if r.models.len() > 1 || r.models.first().is_some_and(|m| m.model != "-") {
        let mut t = Table::new(&[
            "GPU MODEL",
            "NODES",
            "GPU ALLOCATED/CAPACITY",
            "FRACTIONAL",
            "IDLE",
            "FRAGMENTED",
        ]);
        for m in &r.models {
            t.row(vec![
                m.model.clone(),
                m.nodes.to_string(),
                format!("{}/{}", m.allocated, m.capacity),
                frac(m.fractional),
                m.idle.to_string(),
                m.fragmented.to_string(),
            ]);
        }
        out.push('\n');
        out.push_str(&t.render());
    }
    if !r.shapes.is_empty() {
        let mut t = Table::new(&[
            "PENDING SHAPE",
            "PODS",
            "NODES THAT FIT",
            "FREE GPUS",
            "STRANDED FOR THIS SHAPE",
        ]);
        for sh in &r.shapes {
            t.row(vec![
                format!("{} gpu/pod", sh.gpus_per_pod),
                sh.pending_pods.to_string(),
                sh.nodes_that_fit.to_string(),
                sh.free.to_string(),
                sh.stranded.to_string(),
            ]);
        }
        out.push('\n');
        out.push_str(&t.render());
    }
    let mut t = Table::new(&[
        "QUEUE",
        "GPU ALLOCATED",
        "FRACTIONAL",
        "PENDING 1-2",
        "PENDING 3-8",
        "PENDING 9-15",
        "PENDING 16+",
    ]);
    for q in &r.queues {
        t.row(vec![
            q.queue.clone(),
            q.allocated.to_string(),
            frac(q.fractional),
            demand(q.pending_1_2),
            demand(q.pending_3_8),
            demand(q.pending_9_15),
            demand(q.pending_16_plus),
        ]);
    }
    out.push('\n');
    out.push_str(&t.render());
    out
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use crds::podgroup::PodGroup;

    fn pod(name: &str, node: Option<&str>, group: &str, limits: &str) -> Pod {
        serde_json::from_value(serde_json::json!({
            "metadata": {"name": name, "namespace": "ns", "annotations": {"scheduling.k8s.io/group-name": group}},
            "spec": {"nodeName": node, "containers": [{"name": "c", "resources": {"limits": serde_json::from_str::<serde_json::Value>(limits).unwrap()}}]},
            "status": {"phase": if node.is_some() { "Running" } else { "Pending" }}
        }))
        .unwrap()
    }

    #[test]
    fn idle_fragmented_fractional_models_shapes_and_pending_buckets() {
        let node = |n: &str, util: Option<&str>, model: Option<&str>| -> Node {
            serde_json::from_value(serde_json::json!({
                "metadata": {"name": n,
                    "labels": model.map(|m| serde_json::json!({"nvidia.com/gpu.product": m})).unwrap_or(serde_json::json!({})),
                    "annotations": util.map(|u| serde_json::json!({"basalt.dev/gpu-utilization": u})).unwrap_or(serde_json::json!({}))},
                "status": {"allocatable": {"nvidia.com/gpu": "8", "cpu": "64", "pods": "110"},
                    "capacity": {"nvidia.com/gpu": "8", "cpu": "64", "pods": "110"}}
            }))
            .unwrap()
        };
        let pg = |n: &str, q: &str, phase: &str, min: Option<&str>| -> PodGroup {
            serde_json::from_value(serde_json::json!({
                "apiVersion": "scheduling.volcano.sh/v1beta1", "kind": "PodGroup",
                "metadata": {"name": n, "namespace": "ns"},
                "spec": {"queue": q, "minMember": 1, "minResources": min.map(|m| serde_json::json!({"nvidia.com/gpu": m}))},
                "status": {"phase": phase}
            }))
            .unwrap()
        };
        let queue = |n: &str| -> crds::queue::Queue {
            serde_json::from_value(serde_json::json!({
                "apiVersion": "scheduling.volcano.sh/v1beta1", "kind": "Queue",
                "metadata": {"name": n}, "spec": {"weight": 1}
            }))
            .unwrap()
        };
        let nodes = vec![
            node("n0", Some("0.25"), Some("A100")),
            node("n1", None, Some("A100")),
            node("n2", None, Some("H100")),
        ];
        let pods = vec![
            pod("a", Some("n0"), "train", r#"{"nvidia.com/gpu": "4"}"#),
            pod(
                "v",
                Some("n1"),
                "infer",
                r#"{"nvidia.com/vgpu-cores": "25"}"#,
            ),
            {
                let mut p = pod(
                    "v2",
                    Some("n1"),
                    "infer",
                    r#"{"nvidia.com/vgpu-memory": "4Gi"}"#,
                );
                p.metadata
                    .annotations
                    .as_mut()
                    .unwrap()
                    .insert(common::VGPU_IDS.into(), "GPU-1,A100,4096,25:;".into());
                p
            },
            pod("w", None, "wait", r#"{"nvidia.com/gpu": "2"}"#),
            pod("big", None, "bigwait", r#"{"nvidia.com/gpu": "8"}"#),
        ];
        let podgroups = vec![
            pg("train", "team-a", "Running", None),
            pg("infer", "team-b", "Running", None),
            pg("wait", "team-a", "Inqueue", None),
            pg("bigwait", "team-a", "Inqueue", None),
            pg("huge", "team-b", "Pending", Some("16")),
        ];
        let objects = session::Objects {
            pods,
            nodes,
            podgroups,
            queues: vec![queue("default"), queue("team-a"), queue("team-b")],
            priority_classes: Vec::new(),
        };
        let snap = report_snapshot(&objects, 1_000);
        let r = build(&snap, &objects.nodes, &["default".into()]);
        assert_eq!(
            (r.nodes[0].allocated, r.nodes[0].idle, r.nodes[0].fragmented),
            (4, 0, 4)
        );
        assert_eq!(r.nodes[0].allocated_idle, Some(3));
        // 25 % requested (unassigned card: rounded up to one) + 25 % on card GPU-1 (named).
        assert_eq!((r.nodes[1].fractional, r.nodes[1].fragmented), (0.5, 7));
        assert_eq!((r.nodes[2].idle, r.nodes[2].fragmented), (8, 0));
        let models: Vec<(&str, u32, i64, i64, i64)> = r
            .models
            .iter()
            .map(|m| (m.model.as_str(), m.nodes, m.allocated, m.idle, m.fragmented))
            .collect();
        assert_eq!(models, [("A100", 2, 4, 0, 11), ("H100", 1, 0, 8, 0)]);
        // 19 free GPUs: a 2-GPU pod fits on all three nodes; an 8-GPU pod only on n2, and the
        // 11 free GPUs of n0 and n1 are stranded for it.
        let shapes: Vec<(i64, u32, u32, i64, i64)> = r
            .shapes
            .iter()
            .map(|s| {
                (
                    s.gpus_per_pod,
                    s.pending_pods,
                    s.nodes_that_fit,
                    s.free,
                    s.stranded,
                )
            })
            .collect();
        assert_eq!(shapes, [(2, 1, 3, 19, 0), (8, 1, 1, 19, 11)]);
        let a = r.queues.iter().find(|q| q.queue == "team-a").unwrap();
        assert_eq!(
            (a.allocated, a.pending_1_2, a.pending_3_8),
            (4, Demand { jobs: 1, gpus: 2 }, Demand { jobs: 1, gpus: 8 })
        );
        let b = r.queues.iter().find(|q| q.queue == "team-b").unwrap();
        assert_eq!(
            (b.fractional, b.pending_16_plus),
            (0.5, Demand { jobs: 1, gpus: 16 })
        );
        assert_eq!(parse_utilization("88%"), Some(88.0));
        let text = render(&r);
        assert!(text.contains("TOTAL"), "{text}");
        assert!(text.contains("STRANDED FOR THIS SHAPE"), "{text}");
        assert!(
            text.lines()
                .any(|l| l.starts_with("team-b") && l.ends_with("1 (16 gpu)")),
            "{text}"
        );
    }
}
