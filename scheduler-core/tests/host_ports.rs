//! Host ports through the whole scheduler (default configuration): kube-scheduler's `NodePorts`
//! filter as the `predicates` plugin applies it, with the explanation users read. The Volcano
//! e2e case `schedulingaction/predicates.go` "Hostport" in small: a gang whose pods bind one
//! host port runs one pod per node however much room each node has.

mod common;

use common::{Cluster, binds, explanations};
use scheduler_core::Resources;
use scheduler_core::model::{ANY_HOST_IP, HostPort, Task};

fn small() -> Resources {
    Resources::new().with("cpu", 100)
}

fn port(ip: &str, number: u16) -> HostPort {
    HostPort {
        protocol: "TCP".into(),
        host_ip: ip.into(),
        port: number,
    }
}

fn with_port(t: &mut Task, p: HostPort) {
    t.constraints.host_ports.push(p);
}

fn cluster(nodes: usize) -> Cluster {
    let mut c = Cluster::new();
    for i in 0..nodes {
        c.cpu_node(&format!("n{i}"), 4000);
    }
    c
}

#[test]
fn pods_binding_one_host_port_take_one_node_each() {
    let mut c = cluster(2);
    c.gang("hp", 4, 2, small());
    for i in 0..4 {
        with_port(c.task_mut(&format!("hp-{i}")), port(ANY_HOST_IP, 28080));
    }
    let r = c.run();
    let mut nodes: Vec<String> = binds(&r).into_iter().map(|(_, n)| n).collect();
    nodes.sort();
    assert_eq!(nodes, ["n0", "n1"], "by resources all four fit on one node");
    let why = explanations(&r).join("\n");
    assert!(
        why.contains("node(s) didn't have free ports for the requested pod ports"),
        "{why}"
    );
}

#[test]
fn ports_on_different_addresses_or_numbers_share_a_node() {
    let mut c = cluster(1);
    c.gang("a", 3, 3, small());
    with_port(c.task_mut("a-0"), port("10.0.0.1", 80));
    with_port(c.task_mut("a-1"), port("10.0.0.2", 80));
    with_port(c.task_mut("a-2"), port(ANY_HOST_IP, 81));
    assert_eq!(binds(&c.run()).len(), 3);
    // A pod on every address conflicts with both pinned ones.
    with_port(c.task_mut("a-2"), port(ANY_HOST_IP, 80));
    assert!(binds(&c.run()).is_empty(), "the gang of 3 cannot start");
}

#[test]
fn a_running_pods_port_keeps_a_newcomer_off_its_node_unless_the_filter_is_off() {
    let mut c = cluster(1);
    c.gang("old", 1, 1, small());
    let mut t = Task::running("old-0", small(), "n0");
    t.job = "old".into();
    with_port(&mut t, port(ANY_HOST_IP, 9000));
    c.snap.tasks.insert("old-0".into(), t);
    c.job_mut("old").phase = scheduler_core::model::JobPhase::Running;
    c.gang("new", 1, 1, small());
    with_port(c.task_mut("new-0"), port(ANY_HOST_IP, 9000));
    assert!(binds(&c.run()).is_empty());
    let off = "actions: \"enqueue, allocate, backfill\"\ntiers:\n- plugins:\n  - name: gang\n  - name: predicates\n    arguments: {predicate.NodePortsEnable: false}\n";
    assert_eq!(
        binds(&c.run_with(off)),
        [("new-0".to_owned(), "n0".to_owned())]
    );
}
