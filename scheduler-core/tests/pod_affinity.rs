//! Required inter-pod affinity and anti-affinity through the whole scheduler (default
//! configuration): kube-scheduler's `InterPodAffinity` filter rules as the `predicates` plugin
//! applies them, with the explanations users read.

mod common;

use std::collections::BTreeMap;

use common::{Cluster, binds, explanations};
use scheduler_core::Resources;
use scheduler_core::model::{
    LabelSelector, LabelSelectorOperator, LabelSelectorRequirement, NamespaceScope,
    PodAffinityTerm, Task,
};

const HOST: &str = "kubernetes.io/hostname";
const ZONE: &str = "topology.kubernetes.io/zone";

fn cpu() -> Resources {
    Resources::new().with("cpu", 500)
}

/// Nodes `n0..n{count}` of 4 CPUs, labelled with their hostname and `zones[i]` (if any).
fn cluster(zones: &[Option<&str>]) -> Cluster {
    let mut c = Cluster::new();
    for (i, zone) in zones.iter().enumerate() {
        let name = format!("n{i}");
        c.cpu_node(&name, 4000);
        let node = c.snap.nodes.get_mut(&name.as_str().into()).expect("node");
        node.labels.insert(HOST.into(), name.clone());
        if let Some(z) = zone {
            node.labels.insert(ZONE.into(), (*z).into());
        }
    }
    c
}

fn term(key: &str, app: &str) -> PodAffinityTerm {
    PodAffinityTerm {
        selector: Some(LabelSelector {
            match_labels: BTreeMap::new(),
            match_expressions: vec![LabelSelectorRequirement {
                key: "app".into(),
                operator: LabelSelectorOperator::In,
                values: vec![app.into()],
            }],
        }),
        topology_key: key.into(),
        namespaces: NamespaceScope::Own,
    }
}

/// A running pod labelled `app` on `node`, in its own job.
fn running(c: &mut Cluster, name: &str, app: &str, node: &str) {
    c.snap.jobs.insert(
        name.into(),
        scheduler_core::model::Job {
            phase: scheduler_core::model::JobPhase::Running,
            ..scheduler_core::model::Job::new("default", 1)
        },
    );
    let mut t = Task::running(name, cpu(), node);
    t.labels.insert("app".into(), app.into());
    c.snap.tasks.insert(name.into(), t);
}

/// A gang `name` of `size` pods labelled `app`, each edited by `f`.
fn gang(c: &mut Cluster, name: &str, size: u32, app: &str, f: impl Fn(&mut Task)) {
    c.gang(name, size, size, cpu());
    for i in 0..size {
        let t = c.task_mut(&format!("{name}-{i}"));
        t.labels.insert("app".into(), app.into());
        f(t);
    }
}

fn nodes_of(c: &Cluster, job: &str) -> Vec<String> {
    binds(&c.run())
        .into_iter()
        .filter(|(t, _)| t.starts_with(&format!("{job}-")))
        .map(|(_, n)| n)
        .collect()
}

/// The volcano compat case: j2's pod refuses the only node, where j1's pod runs; the explanation
/// says so with kube-scheduler's reason.
#[test]
fn anti_affinity_keeps_a_pod_off_the_host_of_a_matching_pod() {
    let mut c = cluster(&[None]);
    running(&mut c, "j1", "for-test-predicate", "n0");
    gang(&mut c, "j2", 1, "other", |t| {
        t.constraints
            .pod_anti_affinity
            .push(term(HOST, "for-test-predicate"))
    });
    let r = c.run();
    assert!(binds(&r).is_empty(), "{:?}", binds(&r));
    let why = explanations(&r).join("\n");
    assert!(
        why.contains("1 node: node(s) didn't match pod anti-affinity rules"),
        "{why}"
    );
    // Without the running pod's label the same pod fits: the refusal is the term's.
    c.task_mut("j1").labels.clear();
    assert_eq!(nodes_of(&c, "j2"), ["n0"]);
}

#[test]
fn symmetry_an_existing_pods_anti_affinity_refuses_a_matching_newcomer() {
    let mut c = cluster(&[Some("a"), Some("a"), Some("b")]);
    running(&mut c, "guard", "guard", "n0");
    c.task_mut("guard")
        .constraints
        .pod_anti_affinity
        .push(term(ZONE, "web"));
    gang(&mut c, "web", 1, "web", |_| {});
    assert_eq!(nodes_of(&c, "web"), ["n2"], "zone a holds the guard");
    // A pod the guard's term does not select may go anywhere.
    let mut other = cluster(&[Some("a")]);
    running(&mut other, "guard", "guard", "n0");
    other
        .task_mut("guard")
        .constraints
        .pod_anti_affinity
        .push(term(ZONE, "web"));
    gang(&mut other, "db", 1, "db", |_| {});
    assert_eq!(nodes_of(&other, "db"), ["n0"]);
}

#[test]
fn affinity_follows_a_matching_pod_into_its_zone() {
    let mut c = cluster(&[Some("a"), Some("b"), Some("b")]);
    running(&mut c, "cache", "cache", "n2");
    gang(&mut c, "web", 2, "web", |t| {
        t.constraints.pod_affinity.push(term(ZONE, "cache"))
    });
    let mut got = nodes_of(&c, "web");
    got.sort();
    assert!(
        got.iter().all(|n| n == "n1" || n == "n2") && got.len() == 2,
        "{got:?}"
    );
    // No cache pod anywhere, and web does not select itself: it waits.
    c.snap.tasks.remove(&"cache".into());
    let r = c.run();
    assert!(binds(&r).is_empty(), "{:?}", binds(&r));
    assert!(
        explanations(&r)
            .join("\n")
            .contains("node(s) didn't match pod affinity rules"),
        "{:?}",
        explanations(&r)
    );
}

/// kube-scheduler's special case: the first pod of a group with affinity to itself may go
/// anywhere when no pod matches yet; the rest of its gang, placed in the same statement, then
/// follows it into its zone.
#[test]
fn self_affine_gang_lands_together_in_one_zone() {
    let mut c = cluster(&[Some("a"), Some("b"), Some("a"), Some("b")]);
    // Each node takes 8 pods of 0.5 CPU; a gang of 12 needs two nodes of one zone.
    gang(&mut c, "ring", 12, "ring", |t| {
        t.constraints.pod_affinity.push(term(ZONE, "ring"))
    });
    let got = nodes_of(&c, "ring");
    assert_eq!(got.len(), 12, "{got:?}");
    let zone_a = got.iter().all(|n| n == "n0" || n == "n2");
    let zone_b = got.iter().all(|n| n == "n1" || n == "n3");
    assert!(zone_a || zone_b, "the gang split across zones: {got:?}");
}

/// Anti-affinity to one's own label spreads a gang one pod per host, and members placed earlier
/// in the same statement count: a gang larger than the cluster's hosts does not start.
#[test]
fn gang_members_placed_in_one_statement_see_each_other() {
    let mut c = cluster(&[None, None, None]);
    gang(&mut c, "spread", 3, "spread", |t| {
        t.constraints.pod_anti_affinity.push(term(HOST, "spread"))
    });
    let mut got = nodes_of(&c, "spread");
    got.sort();
    assert_eq!(got, ["n0", "n1", "n2"]);
    let mut c = cluster(&[None, None, None]);
    gang(&mut c, "spread", 4, "spread", |t| {
        t.constraints.pod_anti_affinity.push(term(HOST, "spread"))
    });
    let r = c.run();
    assert!(
        binds(&r).is_empty(),
        "a partial gang was bound: {:?}",
        binds(&r)
    );
}

/// A node without the topology label fails an affinity term and passes an anti-affinity term.
#[test]
fn node_missing_the_topology_key() {
    let mut c = cluster(&[None, Some("a")]);
    running(&mut c, "cache", "cache", "n1");
    gang(&mut c, "web", 1, "web", |t| {
        t.constraints.pod_affinity.push(term(ZONE, "cache"))
    });
    // n0 has more room (cache uses n1) but no zone label.
    for _ in 0..3 {
        assert_eq!(nodes_of(&c, "web"), ["n1"]);
    }
    let mut c = cluster(&[None, Some("a")]);
    running(&mut c, "cache", "cache", "n1");
    gang(&mut c, "loner", 1, "loner", |t| {
        t.constraints.pod_anti_affinity.push(term(ZONE, "cache"))
    });
    assert_eq!(nodes_of(&c, "loner"), ["n0"]);
}

/// Terms look in the declaring pod's namespace unless they list others.
#[test]
fn namespace_scope() {
    let mut c = cluster(&[None]);
    running(&mut c, "j1", "x", "n0");
    c.task_mut("j1").namespace = "other".into();
    gang(&mut c, "j2", 1, "y", |t| {
        t.constraints.pod_anti_affinity.push(term(HOST, "x"))
    });
    assert_eq!(nodes_of(&c, "j2"), ["n0"], "j1 is in another namespace");
    c.task_mut("j2-0").constraints.pod_anti_affinity[0].namespaces =
        NamespaceScope::Listed(["other".to_owned()].into());
    assert!(
        nodes_of(&c, "j2").is_empty(),
        "now the term looks in `other`"
    );
}

#[test]
fn predicate_switch_turns_the_filter_off() {
    let mut c = cluster(&[None]);
    running(&mut c, "j1", "x", "n0");
    gang(&mut c, "j2", 1, "y", |t| {
        t.constraints.pod_anti_affinity.push(term(HOST, "x"))
    });
    let yaml = common::DEFAULT_CONFIG.replace(
        "- name: predicates",
        "- name: predicates\n    arguments: {predicate.PodAffinityEnable: false}",
    );
    assert_ne!(yaml, common::DEFAULT_CONFIG, "the config names predicates");
    assert_eq!(binds(&c.run_with(&yaml)).len(), 1);
    assert!(binds(&c.run()).is_empty());
}
