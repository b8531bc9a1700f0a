//! JobFlow rules: every flow has a unique name, every dependency target is a flow of the same
//! JobFlow, and the dependencies form a DAG (a cycle, self-dependency included, is printed).

use std::collections::{BTreeMap, BTreeSet};

use crds::JobFlowSpec;

use crate::report::Report;
use crate::validate::graph::find_cycle;

/// Checks a JobFlow spec.
pub fn check_jobflow(spec: &JobFlowSpec, r: &mut Report) {
    let flows = spec.flows.as_deref().unwrap_or(&[]);
    if flows.is_empty() {
        r.refuse(
            "spec.flows",
            "is empty",
            "add at least one flow naming a JobTemplate",
        );
        return;
    }
    let mut names: BTreeMap<&str, usize> = BTreeMap::new();
    for (i, f) in flows.iter().enumerate() {
        if f.name.is_empty() {
            r.refuse(
                &format!("spec.flows[{i}].name"),
                "is empty",
                "name the JobTemplate this step runs",
            );
        } else if let Some(first) = names.insert(f.name.as_str(), i) {
            r.refuse(
                &format!("spec.flows[{i}].name"),
                format!("{:?} is already used by spec.flows[{first}]", f.name),
                "give every flow a unique name",
            );
        }
    }
    let known: BTreeSet<&str> = names.keys().copied().collect();
    let mut edges: BTreeMap<&str, Vec<&str>> = BTreeMap::new();
    let mut order = Vec::new();
    for (i, f) in flows.iter().enumerate() {
        let targets = f
            .depends_on
            .as_ref()
            .and_then(|d| d.targets.as_deref())
            .unwrap_or(&[]);
        for t in targets {
            if !known.contains(t.as_str()) {
                r.refuse(
                    &format!("spec.flows[{i}].dependsOn.targets"),
                    format!("names {t:?}, which is not a flow of this JobFlow"),
                    format!(
                        "use one of {}",
                        known.iter().copied().collect::<Vec<_>>().join(", ")
                    ),
                );
            }
        }
        if !f.name.is_empty() {
            order.push(f.name.as_str());
            edges.entry(f.name.as_str()).or_default().extend(
                targets
                    .iter()
                    .map(String::as_str)
                    .filter(|t| known.contains(t)),
            );
        }
    }
    if let Some(cycle) = find_cycle(&order, &edges) {
        r.refuse(
            "spec.flows[*].dependsOn.targets",
            format!("form a cycle: {}", cycle.join(" -> ")),
            "remove one dependency so the flows form a DAG",
        );
    }
}
