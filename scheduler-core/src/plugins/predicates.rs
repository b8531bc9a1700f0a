//! `predicates`: the Kubernetes filters Basalt models — unschedulable (cordoned) nodes,
//! nodeSelector and required node affinity, taints/tolerations (all static, cached per
//! constraint class), the node's pod limit, host ports (`session::host_ports`) and required
//! inter-pod affinity / anti-affinity (dynamic; rules in `session::affinity`). Resource fit is
//! the allocate action's.
//!
//! Arguments (Volcano's keys): `predicate.NodeAffinityEnable`, `predicate.TaintTolerationEnable`,
//! `predicate.PodAffinityEnable`, `predicate.NodePortsEnable` (default true). The other
//! `predicate.*Enable` keys are accepted and type-checked; the filters they switch (volumes,
//! topology spread, DRA) need pod data the snapshot does not carry yet.

use crate::config::{Arguments, ConfigError};
use crate::model::{Taint, TaintEffect};
use crate::plugin::{Hooks, Plugin, Unfit};
use crate::session::{NodeIx, State, TaskIx};

const UNSCHEDULABLE_TAINT: &str = "node.kubernetes.io/unschedulable";

/// The `predicates` plugin.
#[derive(Clone, Debug)]
pub struct Predicates {
    node_affinity: bool,
    taint_toleration: bool,
    pod_affinity: bool,
    node_ports: bool,
}

/// Registry factory.
pub fn factory(args: &Arguments) -> Result<Box<dyn Plugin>, ConfigError> {
    for key in [
        "predicate.NodeVolumeLimitsEnable",
        "predicate.VolumeZoneEnable",
        "predicate.PodTopologySpreadEnable",
        "predicate.VolumeBindingEnable",
        "predicate.DynamicResourceAllocationEnable",
        "predicate.CacheEnable",
    ] {
        args.bool(key, false)?;
    }
    Ok(Box::new(Predicates {
        node_affinity: args.bool("predicate.NodeAffinityEnable", true)?,
        taint_toleration: args.bool("predicate.TaintTolerationEnable", true)?,
        pod_affinity: args.bool("predicate.PodAffinityEnable", true)?,
        node_ports: args.bool("predicate.NodePortsEnable", true)?,
    }))
}

fn describe(taint: &Taint) -> String {
    if taint.value.is_empty() {
        format!("node(s) had untolerated taint {{{}}}", taint.key)
    } else {
        format!(
            "node(s) had untolerated taint {{{}: {}}}",
            taint.key, taint.value
        )
    }
}

impl Plugin for Predicates {
    fn name(&self) -> &'static str {
        "predicates"
    }

    fn node_local(&self) -> bool {
        true
    }

    fn hooks(&self) -> Hooks {
        Hooks::STATIC_PREDICATE | Hooks::PREDICATE
    }

    fn static_predicate(&self, st: &State<'_>, task: TaskIx, node: NodeIx) -> Result<(), Unfit> {
        let c = &st.tasks[task.ix()].spec.constraints;
        let name = st.nodes[node.ix()].id.as_str();
        let n = st.nodes[node.ix()].spec;
        if n.unschedulable {
            let cordon = Taint {
                key: UNSCHEDULABLE_TAINT.into(),
                value: String::new(),
                effect: TaintEffect::NoSchedule,
            };
            if !c.tolerations.iter().any(|t| t.tolerates(&cordon)) {
                return Err(Unfit::unresolvable("node(s) were unschedulable"));
            }
        }
        if self.node_affinity
            && !(c.selector_matches(&n.labels) && c.affinity_matches(name, &n.labels))
        {
            return Err(Unfit::unresolvable(
                "node(s) didn't match Pod's node affinity/selector",
            ));
        }
        if self.taint_toleration
            && let Some(taint) = c.untolerated_taint(&n.taints)
        {
            return Err(Unfit::unresolvable(describe(taint)));
        }
        Ok(())
    }

    fn predicate(&self, st: &State<'_>, task: TaskIx, node: NodeIx) -> Result<(), Unfit> {
        let n = &st.nodes[node.ix()];
        if let Some(max) = n.spec.max_pods
            && n.pod_count >= max
        {
            return Err(Unfit::unschedulable("Too many pods"));
        }
        // Not node-local for the tasks the index involves; the session does not memoise those.
        // Unresolvable: an evicted pod still counts in its domain (see `session::affinity`),
        // so preempting on this node cannot lift the refusal.
        if self.pod_affinity
            && let Some(ix) = &st.pod_affinity
        {
            ix.check(task, node).map_err(Unfit::unresolvable)?;
        }
        // Unresolvable for the same reason: an evicted pod holds its ports until it is gone.
        if self.node_ports
            && let Some(ix) = &st.host_ports
        {
            ix.check(st.tasks[task.ix()].spec, node, |t| st.tasks[t.ix()].spec)
                .map_err(Unfit::unresolvable)?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::{Toleration, TolerationOperator};
    use crate::plugins::testkit::{Kit, node_ix, task_ix};
    use crate::resources::Resources;
    use serde_json::json;

    fn plugin(args: serde_json::Value) -> Box<dyn Plugin> {
        let serde_json::Value::Object(map) = args else {
            panic!("object")
        };
        factory(&Arguments::new("plugin \"predicates\"", map)).expect("valid args")
    }

    #[test]
    fn static_filters_table() {
        let mut k = Kit::new();
        let alloc = Resources::new().with("cpu", 1000);
        k.node("plain", alloc.clone())
            .node("cordoned", alloc.clone())
            .node("gpu", alloc.clone());
        k.edit_node("cordoned", |n| n.unschedulable = true);
        k.edit_node("gpu", |n| {
            n.labels.insert("accel".into(), "a100".into());
            n.taints.push(Taint {
                key: "gpu".into(),
                value: "true".into(),
                effect: TaintEffect::NoSchedule,
            });
        });
        k.job("j", 1, 0);
        k.pending("j/any", "j", 0)
            .pending("j/gpu", "j", 0)
            .pending("j/tolerant", "j", 0);
        let tolerate_all = Toleration {
            key: String::new(),
            operator: TolerationOperator::Exists,
            value: String::new(),
            effect: None,
        };
        k.edit_task("j/gpu", |t| {
            t.constraints
                .node_selector
                .insert("accel".into(), "a100".into());
        });
        k.edit_task("j/tolerant", |t| {
            t.constraints.tolerations.push(tolerate_all)
        });
        let on = plugin(json!({}));
        let off = plugin(
            json!({"predicate.NodeAffinityEnable": false, "predicate.TaintTolerationEnable": "false"}),
        );
        k.with_state(|st| {
            let cases: [(&dyn Plugin, &str, &str, Option<&str>); 9] = [
                (&*on, "j/any", "plain", None),
                (
                    &*on,
                    "j/any",
                    "cordoned",
                    Some("node(s) were unschedulable"),
                ),
                (
                    &*on,
                    "j/any",
                    "gpu",
                    Some("node(s) had untolerated taint {gpu: true}"),
                ),
                (
                    &*on,
                    "j/gpu",
                    "plain",
                    Some("node(s) didn't match Pod's node affinity/selector"),
                ),
                (
                    &*on,
                    "j/gpu",
                    "gpu",
                    Some("node(s) had untolerated taint {gpu: true}"),
                ),
                (&*on, "j/tolerant", "gpu", None),
                (&*on, "j/tolerant", "cordoned", None),
                (&*off, "j/gpu", "plain", None),
                (&*off, "j/any", "gpu", None),
            ];
            for (i, (p, task, node, want)) in cases.into_iter().enumerate() {
                let got = p
                    .static_predicate(st, task_ix(st, task), node_ix(st, node))
                    .err()
                    .map(|u| u.reason);
                assert_eq!(got.as_deref(), want, "case {i}: {task} on {node}");
            }
        });
    }

    #[test]
    fn pod_limit_is_dynamic() {
        let mut k = Kit::new();
        k.node("n", Resources::new().with("cpu", 1000))
            .job("j", 1, 0)
            .pending("j/a", "j", 0);
        k.edit_node("n", |n| {
            n.max_pods = Some(2);
            n.pod_count = 1;
        });
        let p = plugin(json!({}));
        k.with_state(|st| {
            assert!(
                p.predicate(st, task_ix(st, "j/a"), node_ix(st, "n"))
                    .is_ok()
            )
        });
        k.edit_node("n", |n| n.pod_count = 2);
        k.with_state(|st| {
            let err = p
                .predicate(st, task_ix(st, "j/a"), node_ix(st, "n"))
                .expect_err("must fail");
            assert_eq!(err.reason, "Too many pods");
        });
    }

    #[test]
    fn bad_argument_types_fail() {
        let serde_json::Value::Object(map) = json!({"predicate.CacheEnable": 3}) else {
            panic!()
        };
        let err = factory(&Arguments::new("plugin \"predicates\"", map))
            .err()
            .map(|e| e.to_string());
        assert!(err.is_some_and(|e| e.contains("predicate.CacheEnable")));
    }
}
