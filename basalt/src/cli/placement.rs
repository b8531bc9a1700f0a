//! Pure placement arithmetic for `basalt why`: a job's unplaced demand, whether it fits the free
//! capacity (best fit, largest first), and which running pods would free enough when they finish.

use std::collections::BTreeMap;

use crds::job::Job;
use crds::podgroup::PodGroup;
use crds::queue::Queue;
use k8s_openapi::api::core::v1::{Node, Pod};
use kube::ResourceExt;
use scheduler_core::Resources;
use scheduler_core::quantity::format_resource_amount;

use super::common;

/// Unplaced pods of `job` as (task, requests): created pods without a node plus replicas not created.
pub fn unplaced_demand(job: &Job, pods: &[&Pod]) -> Vec<(String, Resources)> {
    let mut out = Vec::new();
    for task in &job.spec.tasks {
        let name = task.name.clone().unwrap_or_default();
        let req = task
            .template
            .spec
            .as_ref()
            .map(controllers::resources::pod_requests)
            .unwrap_or_default();
        let done = pods
            .iter()
            .filter(|p| p.annotations().get(crds::labels::TASK_SPEC) == Some(&name))
            .filter(|p| {
                p.spec.as_ref().and_then(|s| s.node_name.as_ref()).is_some()
                    || matches!(
                        p.status.as_ref().and_then(|s| s.phase.as_deref()),
                        Some("Succeeded" | "Failed")
                    )
            })
            .count();
        let missing = (task.replicas.unwrap_or(1).max(0) as usize).saturating_sub(done);
        out.extend(std::iter::repeat_n((name, req), missing));
    }
    out
}

/// What `fit` found.
#[derive(Debug, Default)]
pub struct Fit {
    /// Pods that fit the free capacity.
    pub placed: usize,
    /// One line per task with unplaceable pods, naming the shortfall.
    pub shortfalls: Vec<String>,
    /// Requests of the largest pod that did not fit.
    pub largest_unplaced: Option<Resources>,
    /// Per node: (allocatable, free after the pods that fit were placed).
    pub free_after: BTreeMap<String, (Resources, Resources)>,
}

fn fits(free: &Resources, need: &Resources) -> bool {
    need.iter().all(|(k, v)| v <= free.get(k))
}

/// Places `demand` (largest GPU request first, best fit) on the free capacity of `nodes`.
pub fn fit(nodes: &[Node], pods: &[Pod], demand: &[(String, Resources)]) -> Fit {
    let alloc: BTreeMap<String, Resources> = common::free_by_node(nodes, pods)
        .into_iter()
        .map(|(n, (a, _))| (n, a))
        .collect();
    let mut free: BTreeMap<String, Resources> = common::free_by_node(nodes, pods)
        .into_iter()
        .map(|(n, (_, f))| (n, f))
        .collect();
    let mut order: Vec<&(String, Resources)> = demand.iter().collect();
    order.sort_by_key(|(_, r)| std::cmp::Reverse((r.get(common::GPU), r.get("cpu"))));
    let mut out = Fit::default();
    let mut failed: BTreeMap<String, (usize, Resources)> = BTreeMap::new();
    for (task, req) in order {
        let best = free
            .iter()
            .filter(|(_, f)| fits(f, req))
            .min_by_key(|(n, f)| (f.get(common::GPU), (*n).clone()))
            .map(|(n, _)| n.clone());
        match best {
            Some(n) => {
                if let Some(f) = free.get_mut(&n) {
                    for (k, v) in req.iter() {
                        f.set(k, f.get(k) - v);
                    }
                }
                out.placed += 1;
            }
            None => {
                failed.entry(task.clone()).or_insert((0, req.clone())).0 += 1;
                if out.largest_unplaced.is_none() {
                    out.largest_unplaced = Some(req.clone());
                }
            }
        }
    }
    let after = if out.placed > 0 {
        format!(" after placing {} other pod(s) of the job", out.placed)
    } else {
        String::new()
    };
    for (task, (count, req)) in failed {
        let mut parts = Vec::new();
        for (res, need) in req.iter().filter(|(_, v)| *v > 0) {
            let short = free.values().filter(|f| f.get(res) < need).count();
            if short == 0 {
                continue;
            }
            let (node, largest) = free
                .iter()
                .map(|(n, f)| (n.clone(), f.get(res)))
                .max_by_key(|(n, v)| (*v, std::cmp::Reverse(n.clone())))
                .unwrap_or_default();
            parts.push(format!(
                "needs {} {res} on one node; largest free block is {} ({node}){after}; {short} of {} node(s) have insufficient {res}",
                format_resource_amount(res, need),
                format_resource_amount(res, largest.max(0)),
                free.len()
            ));
        }
        if parts.is_empty() {
            parts.push("no single node has room for all of its requests together".into());
        }
        out.shortfalls.push(format!(
            "task {task}: {count} pod(s) cannot be placed: {}",
            parts.join("; ")
        ));
    }
    out.free_after = free
        .into_iter()
        .map(|(n, f)| (n.clone(), (alloc.get(&n).cloned().unwrap_or_default(), f)))
        .collect();
    out
}

/// Expected end (seconds since epoch) of a running pod, from its start time and `sim.basalt.dev/duration`.
pub fn expected_end(pod: &Pod) -> Option<i64> {
    let start = pod.status.as_ref()?.start_time.as_ref()?.0.as_second();
    let d = common::parse_duration_secs(pod.annotations().get(common::SIM_DURATION)?)?;
    Some(start + d)
}

fn when(end: Option<i64>, now: i64) -> String {
    match end {
        Some(e) => format!(
            "in ~{} (from {} and start times)",
            common::human_secs((e - now).max(0)),
            common::SIM_DURATION
        ),
        None => "(run times unknown: no sim.basalt.dev/duration)".into(),
    }
}

/// Sorted by expected end (unknown last): how many pods must finish to free `amount` of `res`.
pub fn frees_within(running: &[&Pod], res: &str, amount: i64, now: i64, scope: &str) -> String {
    let mut sorted: Vec<&&Pod> = running
        .iter()
        .filter(|p| common::requests(p).get(res) > 0)
        .collect();
    sorted.sort_by_key(|p| expected_end(p).unwrap_or(i64::MAX));
    let mut freed = 0;
    let mut names = Vec::new();
    let mut last = Some(now);
    for p in sorted {
        if freed >= amount {
            break;
        }
        freed += common::requests(p).get(res);
        names.push(p.name_any());
        last = match (last, expected_end(p)) {
            (Some(a), Some(b)) => Some(a.max(b)),
            _ => None,
        };
    }
    if freed < amount {
        return format!(
            "running pods {scope} hold only {}; finishing them is not enough",
            fmt(res, freed)
        );
    }
    format!(
        "{} frees {scope} when {} running pod(s) finish ({}) {}",
        fmt(res, freed),
        names.len(),
        names.iter().take(4).cloned().collect::<Vec<_>>().join(", "),
        when(last, now)
    )
}

fn fmt(res: &str, v: i64) -> String {
    format!("{} {res}", format_resource_amount(res, v))
}

/// The node that soonest has room for `need` (on top of `free`, e.g. `Fit::free_after`) once
/// some of its running pods finish.
pub fn node_frees(
    free: &BTreeMap<String, (Resources, Resources)>,
    pods: &[Pod],
    need: &Resources,
    now: i64,
) -> String {
    // (expected time, pods to finish, node, their names, expected time if known)
    type Candidate = (i64, usize, String, Vec<String>, Option<i64>);
    let mut best: Option<Candidate> = None;
    for (node, (alloc, f)) in free {
        if !fits(alloc, need) {
            continue;
        }
        let mut running: Vec<&Pod> = pods
            .iter()
            .filter(|p| {
                common::holds_node(p)
                    && p.spec.as_ref().and_then(|s| s.node_name.as_deref()) == Some(node)
            })
            .collect();
        running.sort_by_key(|p| expected_end(p).unwrap_or(i64::MAX));
        let mut cur = f.clone();
        let mut names = Vec::new();
        let mut last = Some(now);
        for p in running {
            if fits(&cur, need) {
                break;
            }
            cur.add(&common::requests(p));
            names.push(p.name_any());
            last = match (last, expected_end(p)) {
                (Some(a), Some(b)) => Some(a.max(b)),
                _ => None,
            };
        }
        if !fits(&cur, need) {
            continue;
        }
        let key = (last.unwrap_or(i64::MAX), names.len());
        if best.as_ref().is_none_or(|b| key < (b.0, b.1)) {
            best = Some((key.0, key.1, node.clone(), names, last));
        }
    }
    match best {
        None => format!(
            "no node frees room for a pod of {} when its running pods finish (the rest of the gang takes the others); lower the per-pod requests or minAvailable, or add nodes",
            super::job::fmt_resources(need)
        ),
        Some((_, _, node, names, last)) => format!(
            "{node} has room for the largest unplaced pod ({}) once {} running pod(s) finish ({}) {}",
            super::job::fmt_resources(need),
            names.len(),
            names.iter().take(4).cloned().collect::<Vec<_>>().join(", "),
            when(last, now)
        ),
    }
}

/// Queues over their deserved GPUs whose pods a reclaim could take for `queue`.
pub fn reclaim_candidates(
    queues: &[Queue],
    pods: &[Pod],
    podgroups: &[PodGroup],
    queue: &str,
) -> Vec<String> {
    let mut out = Vec::new();
    for q in queues
        .iter()
        .filter(|q| q.name_any() != queue && q.spec.reclaimable != Some(false))
    {
        let deserved = controllers::resources::parse_list(
            q.spec
                .deserved
                .as_ref()
                .or(q.status.as_ref().and_then(|s| s.deserved.as_ref())),
        );
        let Some(d) = deserved
            .iter()
            .find(|(k, _)| *k == common::GPU)
            .map(|(_, v)| v)
        else {
            continue;
        };
        let theirs: Vec<&Pod> = pods
            .iter()
            .filter(|p| {
                common::holds_node(p)
                    && super::why::pod_queue(p, podgroups) == Some(q.name_any().as_str())
            })
            .filter(|p| common::whole_gpus(p) > 0)
            .collect();
        let alloc: i64 = theirs.iter().map(|p| common::whole_gpus(p)).sum();
        if alloc > d {
            out.push(format!(
                "a reclaim could take GPUs from queue {} (allocated {} over its deserved {}), e.g. pods {}",
                q.name_any(),
                alloc,
                d,
                theirs.iter().take(4).map(|p| p.name_any()).collect::<Vec<_>>().join(", ")
            ));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    fn node(name: &str, gpus: u32) -> Node {
        serde_json::from_value(serde_json::json!({
            "metadata": {"name": name},
            "status": {"allocatable": {"nvidia.com/gpu": gpus.to_string()}}
        }))
        .unwrap()
    }

    fn running(name: &str, node: &str, gpus: u32, duration: &str, start: &str) -> Pod {
        serde_json::from_value(serde_json::json!({
            "metadata": {"name": name, "namespace": "ns", "annotations": {"sim.basalt.dev/duration": duration}},
            "spec": {"nodeName": node, "containers": [{"name": "c", "resources": {"limits": {"nvidia.com/gpu": gpus.to_string()}}}]},
            "status": {"phase": "Running", "startTime": start}
        }))
        .unwrap()
    }

    #[test]
    fn gang_shortfall_names_the_largest_free_block_and_what_frees_it() {
        let nodes = [node("n0", 8), node("n1", 8)];
        let pods = [
            running("a", "n0", 1, "10m", "2026-01-01T00:00:00Z"),
            running("b", "n1", 2, "5m", "2026-01-01T00:00:00Z"),
        ];
        let gpu8 = Resources::new().with(common::GPU, 8);
        let demand = vec![("worker".to_owned(), gpu8.clone()); 2];
        let fit = fit(&nodes, &pods, &demand);
        assert_eq!(fit.placed, 0);
        assert_eq!(fit.shortfalls.len(), 1);
        assert!(
            fit.shortfalls[0].contains(
                "2 pod(s) cannot be placed: needs 8 nvidia.com/gpu on one node; largest free block is 7 (n0); 2 of 2 node(s)"
            ),
            "{}",
            fit.shortfalls[0]
        );
        // b ends at 00:05, a at 00:10: n1 frees first; 60 s after the start, ~4m remain.
        let now = k8s_openapi::jiff::Timestamp::from_second(1_767_225_660)
            .unwrap()
            .as_second();
        let text = node_frees(&fit.free_after, &pods, &gpu8, now);
        assert!(text.starts_with("n1 has room"), "{text}");
        assert!(text.contains("(b) in ~4m"), "{text}");
    }
}
