//! `basalt report`: GPU allocation per node and per queue — whole and fractional (vGPU) GPUs
//! allocated of capacity, idle whole GPUs, fragmented GPUs, pending GPU demand by job size, and
//! allocated-but-idle GPUs where nodes publish utilization.

use std::collections::BTreeMap;

use anyhow::Context as _;
use crds::podgroup::{PodGroup, PodGroupPhase};
use k8s_openapi::api::core::v1::{Node, Pod};
use kube::ResourceExt;
use kube::api::{Api, ListParams};
use serde::Serialize;

use super::common::{self, Conn, Table};

/// One node's GPUs.
#[derive(Debug, Default, Serialize, PartialEq)]
pub struct NodeRow {
    /// Node name.
    pub node: String,
    /// `nvidia.com/gpu` allocatable.
    pub capacity: i64,
    /// Whole GPUs requested by bound, unfinished pods.
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
    let pgs = super::queue::podgroups(&client).await?;
    let queues = Api::<crds::queue::Queue>::all(client)
        .list(&ListParams::default())
        .await
        .context("listing Queues")?
        .items;
    let names: Vec<String> = queues.iter().map(ResourceExt::name_any).collect();
    let r = build(&nodes, &pods, &pgs, &names);
    if !common::print_structured(conn.output, &r)? {
        crate::write_stdout(&render(&r))?;
    }
    Ok(())
}

/// Pure: the report of these objects (`queues` lists every queue, even idle ones).
pub fn build(nodes: &[Node], pods: &[Pod], pgs: &[PodGroup], queues: &[String]) -> Report {
    let mut report = Report::default();
    for n in nodes {
        let name = n.name_any();
        let alloc = controllers::resources::parse_list(
            n.status.as_ref().and_then(|s| s.allocatable.as_ref()),
        );
        let capacity = alloc.get(common::GPU);
        let on: Vec<&Pod> = pods
            .iter()
            .filter(|p| {
                common::holds_node(p)
                    && p.spec.as_ref().and_then(|s| s.node_name.as_deref()) == Some(&name)
            })
            .collect();
        let allocated: i64 = on.iter().map(|p| common::whole_gpus(p)).sum();
        let fractional: f64 = on.iter().map(|p| common::fractional_gpus(p)).sum();
        // A card hosting vGPU pods is not free as a whole card: count the distinct cards the
        // bind annotations name, else round the shares up.
        let cards: std::collections::BTreeSet<String> = on
            .iter()
            .filter(|p| common::whole_gpus(p) == 0)
            .flat_map(|p| common::vgpu_cards(p))
            .map(|(u, _)| u)
            .collect();
        let shared_cards = if cards.is_empty() {
            fractional.ceil() as i64
        } else {
            cards.len() as i64
        };
        let free = (capacity - allocated - shared_cards).max(0);
        let used = allocated > 0 || fractional > 0.0;
        let utilization = n
            .annotations()
            .get(common::GPU_UTILIZATION)
            .and_then(|v| parse_utilization(v));
        report.nodes.push(NodeRow {
            node: name,
            capacity,
            allocated,
            fractional,
            idle: if used { 0 } else { free },
            fragmented: if used { free } else { 0 },
            utilization,
            allocated_idle: utilization
                .map(|u| (allocated as f64 * (1.0 - (u / 100.0).clamp(0.0, 1.0))).floor() as i64),
        });
    }
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
    let group_of = |p: &Pod| -> Option<&PodGroup> {
        let g = p.annotations().get(crds::labels::GROUP_NAME)?;
        pgs.iter()
            .find(|pg| &pg.name_any() == g && pg.namespace() == p.namespace())
    };
    let mut pending_gpus: BTreeMap<(String, String), i64> = BTreeMap::new();
    for p in pods {
        let Some(pg) = group_of(p) else { continue };
        let q = pg.spec.queue.clone().unwrap_or_else(|| "default".into());
        if common::holds_node(p) {
            let row = rows.entry(q.clone()).or_insert_with(|| QueueRow {
                queue: q.clone(),
                ..Default::default()
            });
            row.allocated += common::whole_gpus(p);
            row.fractional += common::fractional_gpus(p);
        } else if p.spec.as_ref().and_then(|s| s.node_name.as_ref()).is_none() {
            *pending_gpus
                .entry((
                    q,
                    format!("{}/{}", pg.namespace().unwrap_or_default(), pg.name_any()),
                ))
                .or_default() += common::whole_gpus(p);
        }
    }
    // PodGroups waiting without pods yet: their minResources is the demand.
    for pg in pgs {
        let waiting = matches!(
            pg.status.as_ref().and_then(|s| s.phase),
            None | Some(PodGroupPhase::Pending | PodGroupPhase::Inqueue)
        );
        let key = (
            pg.spec.queue.clone().unwrap_or_else(|| "default".into()),
            format!("{}/{}", pg.namespace().unwrap_or_default(), pg.name_any()),
        );
        if waiting && !pending_gpus.contains_key(&key) {
            let min =
                controllers::resources::parse_list(pg.spec.min_resources.as_ref()).get(common::GPU);
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

    fn pod(name: &str, node: Option<&str>, group: &str, limits: &str) -> Pod {
        serde_json::from_value(serde_json::json!({
            "metadata": {"name": name, "namespace": "ns", "annotations": {"scheduling.k8s.io/group-name": group}},
            "spec": {"nodeName": node, "containers": [{"name": "c", "resources": {"limits": serde_json::from_str::<serde_json::Value>(limits).unwrap()}}]},
            "status": {"phase": if node.is_some() { "Running" } else { "Pending" }}
        }))
        .unwrap()
    }

    #[test]
    fn idle_fragmented_fractional_and_pending_buckets() {
        let node = |n: &str, util: Option<&str>| -> Node {
            serde_json::from_value(serde_json::json!({
                "metadata": {"name": n, "annotations": util.map(|u| serde_json::json!({"basalt.dev/gpu-utilization": u})).unwrap_or(serde_json::json!({}))},
                "status": {"allocatable": {"nvidia.com/gpu": "8"}}
            }))
            .unwrap()
        };
        let pg = |n: &str, q: &str, phase: &str, min: Option<&str>| -> PodGroup {
            serde_json::from_value(serde_json::json!({
                "apiVersion": "scheduling.volcano.sh/v1beta1", "kind": "PodGroup",
                "metadata": {"name": n, "namespace": "ns"},
                "spec": {"queue": q, "minResources": min.map(|m| serde_json::json!({"nvidia.com/gpu": m}))},
                "status": {"phase": phase}
            }))
            .unwrap()
        };
        let nodes = [node("n0", Some("0.25")), node("n1", None), node("n2", None)];
        let pods = [
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
        ];
        let pgs = [
            pg("train", "team-a", "Running", None),
            pg("infer", "team-b", "Running", None),
            pg("wait", "team-a", "Inqueue", None),
            pg("huge", "team-b", "Pending", Some("16")),
        ];
        let r = build(&nodes, &pods, &pgs, &["default".into()]);
        assert_eq!(
            (r.nodes[0].allocated, r.nodes[0].idle, r.nodes[0].fragmented),
            (4, 0, 4)
        );
        assert_eq!(r.nodes[0].allocated_idle, Some(3));
        // 25 % requested (unassigned card: rounded up to one) + 25 % on card GPU-1 (named).
        assert_eq!((r.nodes[1].fractional, r.nodes[1].fragmented), (0.5, 7));
        assert_eq!((r.nodes[2].idle, r.nodes[2].fragmented), (8, 0));
        let a = r.queues.iter().find(|q| q.queue == "team-a").unwrap();
        assert_eq!(
            (a.allocated, a.pending_1_2),
            (4, Demand { jobs: 1, gpus: 2 })
        );
        let b = r.queues.iter().find(|q| q.queue == "team-b").unwrap();
        assert_eq!(
            (b.fractional, b.pending_16_plus),
            (0.5, Demand { jobs: 1, gpus: 16 })
        );
        assert_eq!(parse_utilization("88%"), Some(88.0));
        let text = render(&r);
        assert!(text.contains("TOTAL"), "{text}");
        assert!(
            text.lines()
                .any(|l| l.starts_with("team-b") && l.ends_with("1 (16 gpu)")),
            "{text}"
        );
    }
}
