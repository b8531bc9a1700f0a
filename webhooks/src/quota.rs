//! Quota checks: a Job whose gang minimum can never fit its queue's capability, the whole
//! cluster, or (per pod) the largest node is refused at submission instead of pending forever.
//! The gang minimum is what the scheduler must place at once: `minAvailable` pods, taken from
//! each task's `minAvailable` first and then from remaining replicas, in task order.

use crds::{JobSpec, Queue};

use crate::report::Report;
use crate::resources::{ALWAYS_ACCOUNTED, Amounts, add, amounts_lenient, pod_requests, show};
use crate::state::{Capacity, ClusterState, parent_of};

/// One task's share of the gang: `count` pods of `per_pod` each.
#[derive(Debug, Clone, PartialEq)]
pub struct Share {
    /// Task name.
    pub task: String,
    /// Pods of this task in the gang minimum.
    pub count: i64,
    /// Requests of one pod.
    pub per_pod: Amounts,
}

/// The pods the gang needs at once, per task (defaulted spec).
pub fn gang_shares(spec: &JobSpec) -> Vec<Share> {
    let mut remaining = i64::from(spec.min_available.unwrap_or(0).max(0));
    let mut shares: Vec<Share> = spec
        .tasks
        .iter()
        .map(|t| Share {
            task: t.name.clone().unwrap_or_default(),
            count: 0,
            per_pod: pod_requests(t.template.spec.as_ref()),
        })
        .collect();
    let replicas = |i: usize| i64::from(spec.tasks[i].replicas.unwrap_or(0).max(0));
    for (i, share) in shares.iter_mut().enumerate() {
        let min = i64::from(spec.tasks[i].min_available.unwrap_or(0).max(0)).min(replicas(i));
        share.count = min.min(remaining);
        remaining -= share.count;
    }
    for (i, share) in shares.iter_mut().enumerate() {
        let extra = (replicas(i) - share.count).max(0).min(remaining);
        share.count += extra;
        remaining -= extra;
    }
    shares
}

/// Σ count × per_pod over the shares.
pub fn gang_total(shares: &[Share]) -> Amounts {
    let mut total = Amounts::new();
    for s in shares {
        add(&mut total, &s.per_pod, s.count);
    }
    total
}

/// `minAvailable 3 × 8` for one contributing task, `master 1 × 8 + worker 3 × 8` for several.
fn breakdown(shares: &[Share], resource: &str) -> String {
    let parts: Vec<&Share> = shares
        .iter()
        .filter(|s| s.count > 0 && s.per_pod.get(resource).is_some_and(|v| *v > 0))
        .collect();
    let amount = |s: &Share| show(resource, s.per_pod.get(resource).copied().unwrap_or(0));
    match parts.as_slice() {
        [one] => format!("minAvailable {} × {}", one.count, amount(one)),
        many => many
            .iter()
            .map(|s| format!("{} {} × {}", s.task, s.count, amount(s)))
            .collect::<Vec<_>>()
            .join(" + "),
    }
}

/// Refuses a (defaulted) Job whose gang cannot fit its queue, the cluster, or a node.
pub fn check_job(name: &str, spec: &JobSpec, state: &dyn ClusterState, r: &mut Report) {
    let shares = gang_shares(spec);
    let total = gang_total(&shares);
    let queue_name = spec.queue.as_deref().unwrap_or("default");
    let limits = queue_limits(queue_name, state);
    for (resource, need) in total.iter().filter(|(_, v)| **v > 0) {
        if let Some((limit, owner)) = limits.get(resource)
            && need > limit
        {
            let via = if owner == queue_name {
                String::new()
            } else {
                format!(" (through its parent {owner:?})")
            };
            r.refuse_sentence(format!(
                "job {name:?} needs {} {resource} to start ({}) but queue {queue_name:?}{via} allows {}; lower spec.minAvailable or the pods' requests, or raise the capability of queue {owner:?}",
                show(resource, *need),
                breakdown(&shares, resource),
                show(resource, *limit),
            ));
        }
    }
    let capacity = state.capacity();
    if capacity.nodes == 0 {
        return;
    }
    for (resource, need) in total.iter().filter(|(_, v)| **v > 0) {
        if !accounted(&capacity, resource) {
            continue;
        }
        let have = capacity.total.get(resource).copied().unwrap_or(0);
        if *need > have {
            r.refuse_sentence(format!(
                "job {name:?} needs {} {resource} to start ({}) but the whole cluster has {} on {} nodes; lower spec.minAvailable or the pods' requests, or add nodes",
                show(resource, *need),
                breakdown(&shares, resource),
                show(resource, have),
                capacity.nodes,
            ));
        }
    }
    for (i, (share, task)) in shares.iter().zip(&spec.tasks).enumerate() {
        if task.replicas.unwrap_or(0) <= 0 {
            continue;
        }
        for (resource, per_pod) in &share.per_pod {
            let largest = capacity.largest_node.get(resource).copied().unwrap_or(0);
            if *per_pod > largest && accounted(&capacity, resource) {
                r.refuse(
                    &format!("spec.tasks[{i}].template.spec.containers[*].resources"),
                    format!(
                        "asks {} {resource} per pod of task {:?} but the largest node offers {}",
                        show(resource, *per_pod),
                        share.task,
                        show(resource, largest)
                    ),
                    "split the work over more pods with smaller requests",
                );
            }
        }
    }
}

fn accounted(capacity: &Capacity, resource: &str) -> bool {
    ALWAYS_ACCOUNTED.contains(&resource) || capacity.total.contains_key(resource)
}

/// Per resource, the tightest capability along the queue's ancestor chain and which queue sets it.
pub fn queue_limits(
    queue: &str,
    state: &dyn ClusterState,
) -> std::collections::BTreeMap<String, (i64, String)> {
    let mut limits = std::collections::BTreeMap::new();
    for q in ancestry(queue, state) {
        let owner = q.metadata.name.clone().unwrap_or_default();
        for (resource, cap) in amounts_lenient(q.spec.capability.as_ref()) {
            let entry = limits.entry(resource).or_insert((cap, owner.clone()));
            if cap < entry.0 {
                *entry = (cap, owner.clone());
            }
        }
    }
    limits
}

/// The queue and its ancestors, nearest first; bounded so a parent loop cannot hang a review.
pub fn ancestry(queue: &str, state: &dyn ClusterState) -> Vec<std::sync::Arc<Queue>> {
    let mut out = Vec::new();
    let mut name = queue.to_owned();
    for _ in 0..16 {
        let Some(q) = state.queue(&name) else { break };
        let parent = parent_of(&q).to_owned();
        let at_root = name == "root";
        out.push(q);
        if at_root || parent == name {
            break;
        }
        name = parent;
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crds::TaskSpec;

    #[test]
    fn gang_takes_task_minimums_then_replicas() {
        let task = |name: &str, replicas, min| TaskSpec {
            name: Some(name.into()),
            replicas: Some(replicas),
            min_available: Some(min),
            ..Default::default()
        };
        let spec = JobSpec {
            min_available: Some(4),
            tasks: vec![task("a", 3, 1), task("b", 5, 2)],
            ..Default::default()
        };
        let counts: Vec<i64> = gang_shares(&spec).iter().map(|s| s.count).collect();
        assert_eq!(counts, [2, 2]);
    }
}
