//! The statement: an undo log over the session state. Every operation applies immediately (so
//! later decisions in the same session see it) and fires the plugins' allocate/deallocate events;
//! `discard` undoes in reverse order, firing the opposite events; `commit` turns the log into
//! effects. Volcano `framework/statement.go`, without its error paths: the core has no I/O.

use std::collections::BTreeMap;

use super::{NodeIx, Session, StmtBase, TaskIx};
use crate::effects::Effect;
use crate::model::TaskStatus;
use crate::resources::{add_into, sub_into};

#[derive(Debug)]
enum Op {
    Allocate {
        task: TaskIx,
        node: NodeIx,
        annotations: BTreeMap<String, String>,
    },
    Pipeline {
        task: TaskIx,
        node: NodeIx,
    },
    Evict {
        task: TaskIx,
        previous: TaskStatus,
        reason: String,
    },
}

/// A transaction over a session. End it with [`Session::commit`], [`Session::discard`] or
/// [`Statement::keep`] (pipelined allocations that stay in-session without effects).
#[must_use = "a statement must be committed, discarded or kept"]
#[derive(Debug, Default)]
pub struct Statement {
    ops: Vec<Op>,
    /// Where the session stood before the first operation (memo bookkeeping, see `memo`).
    base: Option<StmtBase>,
}

impl Statement {
    /// An empty statement.
    pub fn new() -> Self {
        Self::default()
    }

    /// Number of operations recorded.
    pub fn len(&self) -> usize {
        self.ops.len()
    }

    /// No operations recorded.
    pub fn is_empty(&self) -> bool {
        self.ops.is_empty()
    }

    /// Leaves the operations applied in the session without producing effects (Volcano keeps a
    /// pipelined-but-not-ready job's statement this way: it reserves resources for the rest of
    /// the session and is never bound). Returns how many tasks stay pipelined or allocated.
    pub fn keep(mut self) -> usize {
        std::mem::take(&mut self.ops).len()
    }
}

impl Drop for Statement {
    fn drop(&mut self) {
        debug_assert!(
            self.ops.is_empty() || std::thread::panicking(),
            "statement dropped without commit, discard or keep"
        );
    }
}

impl Session<'_> {
    /// Places Pending `task` on `node`'s idle resources.
    pub fn allocate(&mut self, stmt: &mut Statement, task: TaskIx, node: NodeIx) {
        let st = &mut self.state;
        debug_assert_eq!(
            st.tasks[task.ix()].status,
            TaskStatus::Pending,
            "allocate of non-pending task"
        );
        let req = st.requests.row(task.ix());
        sub_into(st.idle.row_mut(node.ix()), req);
        add_into(st.used.row_mut(node.ix()), req);
        st.nodes[node.ix()].pod_count += 1;
        st.tasks[task.ix()].node = Some(node);
        st.set_status(task, TaskStatus::Allocated);
        if let Some(ix) = &mut st.pod_affinity {
            ix.place(task, node);
        }
        if let Some(ix) = &mut st.host_ports
            && !st.tasks[task.ix()].spec.constraints.host_ports.is_empty()
        {
            ix.place(task, node);
        }
        self.touch(node);
        self.applied(&mut stmt.base);
        let mut annotations = BTreeMap::new();
        self.plugins
            .on_allocate(&self.state, task, node, &mut annotations);
        stmt.ops.push(Op::Allocate {
            task,
            node,
            annotations,
        });
    }

    /// Reserves Pending `task` on `node`'s future-idle resources (no bind).
    pub fn pipeline(&mut self, stmt: &mut Statement, task: TaskIx, node: NodeIx) {
        let st = &mut self.state;
        debug_assert_eq!(
            st.tasks[task.ix()].status,
            TaskStatus::Pending,
            "pipeline of non-pending task"
        );
        add_into(st.pipelined.row_mut(node.ix()), st.requests.row(task.ix()));
        st.nodes[node.ix()].pod_count += 1;
        st.tasks[task.ix()].node = Some(node);
        st.set_status(task, TaskStatus::Pipelined);
        if let Some(ix) = &mut st.pod_affinity {
            ix.place(task, node);
        }
        if let Some(ix) = &mut st.host_ports
            && !st.tasks[task.ix()].spec.constraints.host_ports.is_empty()
        {
            ix.place(task, node);
        }
        self.touch(node);
        self.applied(&mut stmt.base);
        let mut ignored = BTreeMap::new();
        self.plugins
            .on_allocate(&self.state, task, node, &mut ignored);
        stmt.ops.push(Op::Pipeline { task, node });
    }

    /// Marks a node-holding `task` Releasing; its resources count as future idle.
    pub fn evict(&mut self, stmt: &mut Statement, task: TaskIx, reason: impl Into<String>) {
        let st = &mut self.state;
        let t = &st.tasks[task.ix()];
        let (previous, Some(node)) = (t.status, t.node) else {
            debug_assert!(false, "evict of a task without a node");
            return;
        };
        debug_assert!(previous.occupies_node() && previous != TaskStatus::Releasing);
        add_into(st.releasing.row_mut(node.ix()), st.requests.row(task.ix()));
        st.set_status(task, TaskStatus::Releasing);
        self.may_release = true;
        self.touch(node);
        self.applied(&mut stmt.base);
        self.plugins.on_deallocate(&self.state, task, node);
        self.new_release_epoch();
        stmt.ops.push(Op::Evict {
            task,
            previous,
            reason: reason.into(),
        });
    }

    /// Undoes every operation in reverse order, firing the opposite plugin events.
    pub fn discard(&mut self, mut stmt: Statement) {
        let ops = std::mem::take(&mut stmt.ops);
        let undone = ops.len() as u64;
        for op in ops.into_iter().rev() {
            let touched = match &op {
                Op::Allocate { node, .. } | Op::Pipeline { node, .. } => Some(*node),
                Op::Evict { task, .. } => self.state.tasks[task.ix()].node,
            };
            if let Some(node) = touched {
                self.touch(node);
            }
            match op {
                Op::Allocate { task, node, .. } => {
                    self.plugins.on_deallocate(&self.state, task, node);
                    let st = &mut self.state;
                    let req = st.requests.row(task.ix());
                    add_into(st.idle.row_mut(node.ix()), req);
                    sub_into(st.used.row_mut(node.ix()), req);
                    st.nodes[node.ix()].pod_count -= 1;
                    st.tasks[task.ix()].node = None;
                    st.set_status(task, TaskStatus::Pending);
                    if let Some(ix) = &mut st.pod_affinity {
                        ix.unplace(task, node);
                    }
                    if let Some(ix) = &mut st.host_ports {
                        ix.unplace(task, node);
                    }
                }
                Op::Pipeline { task, node } => {
                    self.plugins.on_deallocate(&self.state, task, node);
                    let st = &mut self.state;
                    sub_into(st.pipelined.row_mut(node.ix()), st.requests.row(task.ix()));
                    st.nodes[node.ix()].pod_count -= 1;
                    st.tasks[task.ix()].node = None;
                    st.set_status(task, TaskStatus::Pending);
                    if let Some(ix) = &mut st.pod_affinity {
                        ix.unplace(task, node);
                    }
                    if let Some(ix) = &mut st.host_ports {
                        ix.unplace(task, node);
                    }
                }
                Op::Evict { task, previous, .. } => {
                    let st = &mut self.state;
                    let Some(node) = st.tasks[task.ix()].node else {
                        continue;
                    };
                    sub_into(st.releasing.row_mut(node.ix()), st.requests.row(task.ix()));
                    st.set_status(task, previous);
                    let mut ignored = BTreeMap::new();
                    self.plugins
                        .on_allocate(&self.state, task, node, &mut ignored);
                }
            }
        }
        // Undoing frees resources: the memo keeps only what held before the statement.
        if let Some(base) = stmt.base.take() {
            self.undone(base, undone);
        }
    }

    /// Turns the log into effects: allocations become binds (task → Binding), evictions become
    /// evicts, pipelines produce nothing.
    pub fn commit(&mut self, mut stmt: Statement) -> Vec<Effect> {
        let ops = std::mem::take(&mut stmt.ops);
        let mut out = Vec::with_capacity(ops.len());
        for op in ops {
            match op {
                Op::Allocate {
                    task,
                    node,
                    annotations,
                } => {
                    self.state.set_status(task, TaskStatus::Binding);
                    let st = &self.state;
                    out.push(Effect::Bind {
                        task: st.tasks[task.ix()].id.clone(),
                        node: st.nodes[node.ix()].id.clone(),
                        annotations,
                    });
                }
                Op::Pipeline { .. } => {}
                Op::Evict { task, reason, .. } => {
                    out.push(Effect::Evict {
                        task: self.state.tasks[task.ix()].id.clone(),
                        reason,
                    });
                }
            }
        }
        out
    }
}
