//! Host ports in the session: which placed pods bind host ports on each node, so that the
//! `predicates` plugin answers kube-scheduler's `NodePorts` filter.
//!
//! Built at session open only when some task of the snapshot binds a host port (clusters
//! without them pay nothing), and kept current by the statement: a task holds its ports on
//! its node from the moment it is allocated or pipelined until that is undone. An evicted
//! (Releasing) task still holds them: its pod is on the node until it is gone, so preempt and
//! reclaim never free a port by evicting (kube-scheduler's preemption can). Ports of pods the
//! snapshot does not list as tasks (other schedulers' pods, daemons) come with their node
//! ([`crate::model::Node::host_ports`]).

use super::{NodeIx, TaskIx};
use crate::model::{HostPort, Node, Task};

/// kube-scheduler's reason, which users search for.
pub const PORTS_REFUSAL: &str = "node(s) didn't have free ports for the requested pod ports";

/// Per node, the placed tasks that bind host ports (see the module docs).
#[derive(Clone, Debug, PartialEq)]
pub struct HostPortIndex {
    /// Per node: placed tasks with host ports.
    on_node: Vec<Vec<TaskIx>>,
    /// Per node: ports of pods that are not tasks.
    foreign: Vec<Vec<HostPort>>,
}

impl HostPortIndex {
    /// The index over `nodes` (session order) with `placed` tasks, or `None` when no task of
    /// `tasks` binds a host port.
    pub fn build<'a>(
        nodes: impl ExactSizeIterator<Item = &'a Node>,
        tasks: &[&Task],
        placed: impl Iterator<Item = (TaskIx, NodeIx)>,
    ) -> Option<Self> {
        if tasks.iter().all(|t| t.constraints.host_ports.is_empty()) {
            return None;
        }
        let foreign: Vec<Vec<HostPort>> = nodes.map(|n| n.host_ports.clone()).collect();
        let mut ix = Self {
            on_node: vec![Vec::new(); foreign.len()],
            foreign,
        };
        for (task, node) in placed {
            if !tasks[task.ix()].constraints.host_ports.is_empty() {
                ix.place(task, node);
            }
        }
        Some(ix)
    }

    /// Counts `task` (which binds host ports) on `node`.
    pub fn place(&mut self, task: TaskIx, node: NodeIx) {
        self.on_node[node.ix()].push(task);
    }

    /// Undoes [`Self::place`].
    pub fn unplace(&mut self, task: TaskIx, node: NodeIx) {
        let on = &mut self.on_node[node.ix()];
        if let Some(at) = on.iter().rposition(|t| *t == task) {
            on.remove(at);
        }
    }

    /// `Err` with kube-scheduler's reason when a port of `task` is bound on `node` by a placed
    /// task (`spec` gives each task's spec by index).
    pub fn check<'a>(
        &self,
        task: &Task,
        node: NodeIx,
        spec: impl Fn(TaskIx) -> &'a Task,
    ) -> Result<(), &'static str> {
        let wanted = &task.constraints.host_ports;
        if wanted.is_empty() {
            return Ok(());
        }
        let taken = self.on_node[node.ix()]
            .iter()
            .flat_map(|t| spec(*t).constraints.host_ports.iter())
            .chain(&self.foreign[node.ix()]);
        for held in taken {
            if wanted.iter().any(|w| w.conflicts(held)) {
                return Err(PORTS_REFUSAL);
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::{ANY_HOST_IP, HostPort};
    use crate::resources::Resources;

    fn port(protocol: &str, ip: &str, port: u16) -> HostPort {
        HostPort {
            protocol: protocol.into(),
            host_ip: ip.into(),
            port,
        }
    }

    fn task(ports: &[HostPort]) -> Task {
        let mut t = Task::pending("j", Resources::new());
        t.constraints.host_ports = ports.to_vec();
        t
    }

    #[test]
    fn conflict_rule_is_kube_schedulers() {
        let any = |p| port("TCP", ANY_HOST_IP, p);
        let cases = [
            (any(80), any(80), true),
            (any(80), any(81), false),
            (any(80), port("UDP", ANY_HOST_IP, 80), false),
            (any(80), port("TCP", "10.0.0.1", 80), true),
            (
                port("TCP", "10.0.0.1", 80),
                port("TCP", "10.0.0.1", 80),
                true,
            ),
            (
                port("TCP", "10.0.0.1", 80),
                port("TCP", "10.0.0.2", 80),
                false,
            ),
        ];
        for (a, b, want) in cases {
            assert_eq!(a.conflicts(&b), want, "{a:?} vs {b:?}");
            assert_eq!(b.conflicts(&a), want, "{b:?} vs {a:?} (symmetric)");
        }
    }

    #[test]
    fn placed_ports_refuse_a_conflicting_task_until_unplaced() {
        let specs = [
            task(&[port("TCP", ANY_HOST_IP, 8080)]),
            task(&[port("TCP", "10.0.0.9", 8080)]),
            task(&[port("TCP", ANY_HOST_IP, 9090)]),
            task(&[]),
        ];
        let refs: Vec<&Task> = specs.iter().collect();
        let mut nodes = [Node::default(), Node::default()];
        assert_eq!(
            HostPortIndex::build(nodes.iter(), &refs[3..], std::iter::empty()),
            None
        );
        let spec = |t: TaskIx| refs[t.ix()];
        let mut ix =
            HostPortIndex::build(nodes.iter(), &refs, [(TaskIx(0), NodeIx(0))].into_iter())
                .expect("index");
        assert_eq!(ix.check(&specs[1], NodeIx(0), spec), Err(PORTS_REFUSAL));
        assert_eq!(ix.check(&specs[1], NodeIx(1), spec), Ok(()));
        assert_eq!(ix.check(&specs[2], NodeIx(0), spec), Ok(()));
        assert_eq!(ix.check(&specs[3], NodeIx(0), spec), Ok(()));
        ix.place(TaskIx(2), NodeIx(1));
        assert_eq!(ix.check(&specs[2], NodeIx(1), spec), Err(PORTS_REFUSAL));
        ix.unplace(TaskIx(0), NodeIx(0));
        assert_eq!(ix.check(&specs[1], NodeIx(0), spec), Ok(()));
        // A port another scheduler's pod binds on node 1 counts as well.
        nodes[1].host_ports.push(port("TCP", ANY_HOST_IP, 8080));
        let ix = HostPortIndex::build(nodes.iter(), &refs, std::iter::empty()).expect("index");
        assert_eq!(ix.check(&specs[1], NodeIx(1), spec), Err(PORTS_REFUSAL));
        assert_eq!(ix.check(&specs[1], NodeIx(0), spec), Ok(()));
    }
}
