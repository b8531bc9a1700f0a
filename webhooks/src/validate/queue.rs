//! Queue rules: weight, quantities, guarantee ≤ deserved ≤ capability, hierarchy (parent exists,
//! child capability within its ancestors', siblings' guarantees within the parent's), guarantees
//! of all queues within the cluster, protection of `root`, and which queues may be deleted.

use std::collections::BTreeMap;

use crds::{Queue, QueueSpec};

use crate::quota::ancestry;
use crate::report::{Report, is_dns_subdomain};
use crate::resources::{ALWAYS_ACCOUNTED, Amounts, amounts, amounts_lenient, show};
use crate::state::{ClusterState, parent_of};

fn guarantee(spec: &QueueSpec) -> Amounts {
    amounts_lenient(spec.guarantee.as_ref().and_then(|g| g.resource.as_ref()))
}

/// CREATE and UPDATE rules for a (defaulted) queue; `old` is set on UPDATE.
pub fn check_queue(q: &Queue, old: Option<&Queue>, state: &dyn ClusterState, r: &mut Report) {
    let name = q.metadata.name.as_deref().unwrap_or("");
    let spec = &q.spec;
    if !name.is_empty() && !is_dns_subdomain(name) {
        r.refuse(
            "metadata.name",
            format!("{name:?} is not a DNS-1123 subdomain"),
            "use lowercase letters, digits, '-' and '.'",
        );
    }
    check_hierarchy_annotations(q, r);
    let weight = spec.weight.unwrap_or(1);
    if !(1..=65535).contains(&weight) {
        r.refuse(
            "spec.weight",
            format!("is {weight}"),
            "set a weight between 1 and 65535",
        );
    }
    if spec.priority.is_some_and(|p| p < 0) {
        r.refuse("spec.priority", "is negative", "set it to 0 or more");
    }
    let parse = |path: &str, list: Option<&crds::ResourceList>, r: &mut Report| -> Amounts {
        match list.map(amounts) {
            None => Amounts::new(),
            Some(Ok(a)) => a,
            Some(Err((resource, e))) => {
                r.refuse(
                    &format!("{path}[{resource:?}]"),
                    format!("is invalid: {e}"),
                    "fix the quantity",
                );
                Amounts::new()
            }
        }
    };
    let capability = parse("spec.capability", spec.capability.as_ref(), r);
    let deserved = parse("spec.deserved", spec.deserved.as_ref(), r);
    let guaranteed = parse(
        "spec.guarantee.resource",
        spec.guarantee.as_ref().and_then(|g| g.resource.as_ref()),
        r,
    );
    for (res, v) in capability.iter().chain(&deserved).chain(&guaranteed) {
        if *v < 0 {
            r.refuse(
                &format!("spec[{res:?}]"),
                "has a negative quantity",
                "use quantities of 0 or more",
            );
        }
    }
    not_above(
        &guaranteed,
        "spec.guarantee.resource",
        &capability,
        "spec.capability",
        r,
    );
    not_above(
        &guaranteed,
        "spec.guarantee.resource",
        &deserved,
        "spec.deserved",
        r,
    );
    not_above(
        &deserved,
        "spec.deserved",
        &capability,
        "spec.capability",
        r,
    );
    if name == "root" {
        if let Some(old) = old
            && (old.spec.capability != spec.capability
                || old.spec.guarantee != spec.guarantee
                || old.spec.deserved != spec.deserved)
        {
            r.refuse(
                "spec",
                "of the root queue cannot change capability, deserved or guarantee",
                "set limits on child queues instead",
            );
        }
        return;
    }
    check_hierarchy(name, spec, &capability, &guaranteed, state, r);
    check_cluster_guarantees(name, spec, &guaranteed, state, r);
}

/// Volcano's `volcano.sh/hierarchy` and `volcano.sh/hierarchy-weights` annotations (its hDRF
/// tree): refused when malformed, as Volcano's webhook does: one without the other, a different
/// number of levels, a weight that is not a positive number. Basalt's own hDRF follows
/// `spec.parent` (docs/fairness.md) and does not read them; a manifest that carries them must
/// still be one Volcano would accept.
fn check_hierarchy_annotations(q: &Queue, r: &mut Report) {
    use crate::mutate::{HIERARCHY, HIERARCHY_WEIGHTS};
    let get = |key: &str| {
        q.metadata
            .annotations
            .as_ref()
            .and_then(|a| a.get(key))
            .filter(|v| !v.is_empty())
    };
    let field = |key: &str| format!("metadata.annotations[{key:?}]");
    match (get(HIERARCHY), get(HIERARCHY_WEIGHTS)) {
        (None, None) => {}
        (Some(_), None) => r.refuse(
            &field(HIERARCHY),
            format!("is set without {HIERARCHY_WEIGHTS}"),
            format!("add {HIERARCHY_WEIGHTS} with one weight per level (\"1/2\" for \"a/b\"), or remove both"),
        ),
        (None, Some(_)) => r.refuse(
            &field(HIERARCHY_WEIGHTS),
            format!("is set without {HIERARCHY}"),
            format!("add {HIERARCHY} with the queue's path (\"a/b\"), or remove both"),
        ),
        (Some(path), Some(weights)) => {
            let levels = path.split('/').count();
            let weights: Vec<&str> = weights.split('/').collect();
            if levels != weights.len() {
                r.refuse(
                    &field(HIERARCHY_WEIGHTS),
                    format!(
                        "has {} weights but {HIERARCHY} {path:?} has {levels} levels; they must have the same length",
                        weights.len()
                    ),
                    "give one weight per level",
                );
            }
            for (i, w) in weights.iter().enumerate() {
                if !w.parse::<f64>().is_ok_and(|v| v.is_finite() && v > 0.0) {
                    r.refuse(
                        &field(HIERARCHY_WEIGHTS),
                        format!("level {i} weight {w:?} is not a positive number"),
                        "use positive numbers separated by '/' (\"1/2/3\")",
                    );
                }
            }
        }
    }
}

fn not_above(small: &Amounts, small_path: &str, big: &Amounts, big_path: &str, r: &mut Report) {
    if big.is_empty() {
        return;
    }
    for (res, v) in small {
        match big.get(res) {
            Some(limit) if v > limit => r.refuse(
                &format!("{small_path}[{res:?}]"),
                format!(
                    "is {} but {big_path}[{res:?}] is {}",
                    show(res, *v),
                    show(res, *limit)
                ),
                format!(
                    "lower it to at most {} or raise {big_path}",
                    show(res, *limit)
                ),
            ),
            None if small_path.starts_with("spec.guarantee") && big_path == "spec.deserved" => r
                .refuse(
                    &format!("{small_path}[{res:?}]"),
                    format!("is set but {big_path} does not list {res:?}"),
                    format!("add {res:?} to {big_path} or remove it from the guarantee"),
                ),
            _ => {}
        }
    }
}

fn check_hierarchy(
    name: &str,
    spec: &QueueSpec,
    capability: &Amounts,
    guaranteed: &Amounts,
    state: &dyn ClusterState,
    r: &mut Report,
) {
    let parent = match spec.parent.as_deref() {
        None | Some("") => "root",
        Some(p) => p,
    };
    if parent == name {
        r.refuse(
            "spec.parent",
            "names the queue itself",
            "name another queue, or leave it empty for root",
        );
        return;
    }
    if parent != "root" && state.queue(parent).is_none() {
        r.refuse(
            "spec.parent",
            format!("names queue {parent:?}, which does not exist"),
            format!("create queue {parent:?} first or leave parent empty for root"),
        );
        return;
    }
    if parent != "root"
        && ancestry(parent, state)
            .iter()
            .any(|a| a.metadata.name.as_deref() == Some(name))
    {
        r.refuse(
            "spec.parent",
            format!("{parent:?} is a descendant of this queue, which would make a loop"),
            "choose a parent outside this queue's subtree",
        );
        return;
    }
    // Child capability within the nearest ancestor's capability, per resource.
    let limits = crate::quota::queue_limits(parent, state);
    for (res, cap) in capability {
        if let Some((limit, owner)) = limits.get(res)
            && cap > limit
        {
            r.refuse(
                &format!("spec.capability[{res:?}]"),
                format!(
                    "is {} but ancestor queue {owner:?} allows only {}",
                    show(res, *cap),
                    show(res, *limit)
                ),
                format!(
                    "lower it to at most {} or raise queue {owner:?}'s capability",
                    show(res, *limit)
                ),
            );
        }
    }
    let queues = state.queues();
    // Children (on update): each child's capability within this queue's.
    for child in queues
        .iter()
        .filter(|c| c.spec.parent.as_deref() == Some(name))
    {
        for (res, v) in amounts_lenient(child.spec.capability.as_ref()) {
            if let Some(cap) = capability.get(&res)
                && v > *cap
            {
                r.refuse(
                    &format!("spec.capability[{res:?}]"),
                    format!(
                        "is {} but child queue {:?} has capability {}",
                        show(&res, *cap),
                        child.metadata.name.as_deref().unwrap_or(""),
                        show(&res, v)
                    ),
                    "raise it or lower the child's capability first",
                );
            }
        }
    }
    if parent == "root" {
        return;
    }
    // Siblings' guarantees (this one included) within the parent's guarantee, else its capability.
    let Some(parent_q) = state.queue(parent) else {
        return;
    };
    let parent_guarantee = guarantee(&parent_q.spec);
    let parent_cap = amounts_lenient(parent_q.spec.capability.as_ref());
    let mut sum = guaranteed.clone();
    for sib in queues
        .iter()
        .filter(|s| parent_of(s) == parent && s.metadata.name.as_deref() != Some(name))
    {
        crate::resources::add(&mut sum, &guarantee(&sib.spec), 1);
    }
    for (res, total) in &sum {
        if !guaranteed.contains_key(res) {
            continue;
        }
        let (limit, what) = match (parent_guarantee.get(res), parent_cap.get(res)) {
            (Some(g), _) => (*g, "guarantee"),
            (None, Some(c)) => (*c, "capability"),
            _ => continue,
        };
        if *total > limit {
            r.refuse(
                &format!("spec.guarantee.resource[{res:?}]"),
                format!(
                    "brings the guarantees of {parent:?}'s children to {} but its {what} is {}",
                    show(res, *total),
                    show(res, limit)
                ),
                format!("lower this queue's guarantee or raise {parent:?}'s {what}"),
            );
        }
    }
}

/// Guarantees are reserved capacity: together they must fit the cluster. A guarantee inside a
/// parent that guarantees the same resource is already counted by the parent.
fn check_cluster_guarantees(
    name: &str,
    spec: &QueueSpec,
    guaranteed: &Amounts,
    state: &dyn ClusterState,
    r: &mut Report,
) {
    let capacity = state.capacity();
    if capacity.nodes == 0 || guaranteed.is_empty() {
        return;
    }
    let mut others: BTreeMap<String, i64> = BTreeMap::new();
    for q in state
        .queues()
        .iter()
        .filter(|q| q.metadata.name.as_deref() != Some(name))
    {
        for (res, v) in guarantee(&q.spec) {
            let covered = ancestry(parent_of(q), state)
                .iter()
                .any(|a| guarantee(&a.spec).contains_key(&res));
            if !covered || parent_of(q) == "root" {
                *others.entry(res).or_insert(0) += v;
            }
        }
    }
    let parent = spec
        .parent
        .as_deref()
        .filter(|p| !p.is_empty())
        .unwrap_or("root");
    for (res, v) in guaranteed {
        if parent != "root"
            && ancestry(parent, state)
                .iter()
                .any(|a| guarantee(&a.spec).contains_key(res))
        {
            continue;
        }
        if !(ALWAYS_ACCOUNTED.contains(&res.as_str()) || capacity.total.contains_key(res)) {
            continue;
        }
        let have = capacity.total.get(res).copied().unwrap_or(0);
        let rest = others.get(res).copied().unwrap_or(0);
        if v.saturating_add(rest) > have {
            r.refuse_sentence(format!(
                "queue {name:?} guarantees {} {res} and the other queues guarantee {}, {} in total, but the whole cluster has {} on {} nodes; lower spec.guarantee.resource[{res:?}] or add nodes",
                show(res, *v),
                show(res, rest),
                show(res, v.saturating_add(rest)),
                show(res, have),
                capacity.nodes
            ));
        }
    }
}

/// DELETE: never `root` or `default`, never a queue with child queues or with work in it.
pub fn check_delete(q: &Queue, state: &dyn ClusterState, r: &mut Report) {
    let name = q.metadata.name.as_deref().unwrap_or("");
    if name == "root" || name == "default" {
        r.refuse(
            "metadata.name",
            format!("is {name:?}, a queue the scheduler needs"),
            "it cannot be deleted; close it with `basalt queue close` if needed",
        );
        return;
    }
    let children: Vec<String> = state
        .queues()
        .iter()
        .filter(|c| c.spec.parent.as_deref() == Some(name))
        .filter_map(|c| c.metadata.name.clone())
        .collect();
    if !children.is_empty() {
        r.refuse(
            "spec",
            format!("is the parent of {}", children.join(", ")),
            "delete or re-parent the child queues first",
        );
    }
    let groups = state.podgroups_in_queue(name);
    if groups > 0 {
        r.refuse(
            "status",
            format!("still has {groups} PodGroup(s)"),
            "delete or move the jobs in this queue first (`kubectl get pg -A`)",
        );
    }
    let allocated = amounts_lenient(q.status.as_ref().and_then(|s| s.allocated.as_ref()));
    if groups == 0 && allocated.values().any(|v| *v > 0) {
        r.refuse(
            "status.allocated",
            "is not empty: pods still run in this queue",
            "wait for them to finish or delete them first",
        );
    }
}
