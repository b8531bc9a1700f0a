//! What a session remembers between placement attempts so that its cost grows with the work that
//! can be placed, not with pending pods × nodes (issue #23):
//!
//! * [`FreeIndex`]: per resource dimension, the largest free amount on any node (idle or future
//!   idle, whichever is larger), kept in a max segment tree updated for touched nodes only. A
//!   request larger than that in any dimension fits nowhere: "nothing fits" without a scan.
//! * [`FitEntry`]: the "no node fits" memo per (constraint class, pipelining allowed, request).
//!   The *decision* stays true while resources are only taken (until a release epoch ends); the
//!   *diagnosis* users see is reused only for the exact state it was computed in, so the
//!   explanation content is the same as recomputing it.
//! * [`StmtBase`]: where a statement started. Discarding the most recent statement restores the
//!   state exactly (the statement is an undo log), so the state identity and release epoch go
//!   back to what they were and memo entries made before the statement stay valid; entries made
//!   inside it are dropped. Without this every failed gang would wipe the memo.
//!
//! Nothing here decides anything: it only short-cuts answers the session would otherwise
//! recompute. `Session::set_memo(false)` turns all of it off (property tests compare both).

use std::rc::Rc;

use super::{FitDiagnosis, NodeIx, State};

/// A "no node fits" answer for one (class, allow_future, request).
#[derive(Debug)]
pub(crate) struct FitEntry {
    /// Release epoch the decision belongs to.
    pub epoch: u64,
    /// `Session::ops_ever` when the decision was made (entries made inside a statement that is
    /// then discarded are dropped).
    pub made: u64,
    /// State identity the diagnosis was computed in.
    pub state: u64,
    /// The diagnosis.
    pub diag: Rc<FitDiagnosis>,
}

/// The session's position when a statement applied its first operation.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct StmtBase {
    pub(crate) state: u64,
    pub(crate) epoch: u64,
    pub(crate) live: u64,
    pub(crate) ops_ever: u64,
}

/// Largest free amount per dimension over all nodes: a max segment tree per dimension over
/// `max(idle, future idle)`, leaves in node order. Touched nodes are marked and refreshed at the
/// next query, so a burst of operations costs one leaf update each.
#[derive(Debug, Default)]
pub(crate) struct FreeIndex {
    dims: usize,
    leaves: usize,
    /// Node `i` of the tree (root 1) holds dims values at `i * dims`.
    tree: Vec<i64>,
    dirty: Vec<NodeIx>,
    is_dirty: Vec<bool>,
}

impl FreeIndex {
    /// Index over the state's current free resources.
    pub fn build(st: &State<'_>) -> Self {
        let dims = st.dims.len();
        let n = st.nodes.len();
        let leaves = n.next_power_of_two().max(1);
        let mut ix = Self {
            dims,
            leaves,
            tree: vec![i64::MIN; 2 * leaves * dims],
            dirty: Vec::new(),
            is_dirty: vec![false; n],
        };
        let mut buf = vec![0i64; dims];
        for i in 0..n {
            ix.write_leaf(st, NodeIx(i as u32), &mut buf);
        }
        for p in (1..leaves).rev() {
            ix.pull(p);
        }
        ix
    }

    fn write_leaf(&mut self, st: &State<'_>, node: NodeIx, buf: &mut [i64]) {
        st.future_idle(node, buf);
        let idle = st.idle.row(node.ix());
        let at = (self.leaves + node.ix()) * self.dims;
        for d in 0..self.dims {
            self.tree[at + d] = buf[d].max(idle[d]);
        }
    }

    fn pull(&mut self, p: usize) {
        let d = self.dims;
        for k in 0..d {
            self.tree[p * d + k] = self.tree[2 * p * d + k].max(self.tree[(2 * p + 1) * d + k]);
        }
    }

    /// [`Self::pull`], saying whether `p` changed.
    fn pull_changed(&mut self, p: usize) -> bool {
        let d = self.dims;
        let mut changed = false;
        for k in 0..d {
            let v = self.tree[2 * p * d + k].max(self.tree[(2 * p + 1) * d + k]);
            changed |= self.tree[p * d + k] != v;
            self.tree[p * d + k] = v;
        }
        changed
    }

    /// `node`'s free resources changed (or are about to): refresh it before the next query.
    pub fn mark(&mut self, node: NodeIx) {
        if let Some(flag) = self.is_dirty.get_mut(node.ix())
            && !*flag
        {
            *flag = true;
            self.dirty.push(node);
        }
    }

    fn flush(&mut self, st: &State<'_>) {
        if self.dirty.is_empty() {
            return;
        }
        let mut buf = vec![0i64; self.dims];
        let dirty = std::mem::take(&mut self.dirty);
        for &node in &dirty {
            self.is_dirty[node.ix()] = false;
            self.write_leaf(st, node, &mut buf);
            // Every inner node is the max of its children before this leaf changed: once an
            // ancestor keeps its value, the ones above it keep theirs too.
            let mut p = (self.leaves + node.ix()) / 2;
            while p >= 1 && self.pull_changed(p) {
                p /= 2;
            }
        }
        self.dirty = dirty;
        self.dirty.clear();
    }

    /// True when some positive request exceeds every node's free amount (idle and future idle)
    /// in that dimension: no node can take it, whatever the predicates say.
    pub fn nothing_fits(&mut self, st: &State<'_>, request: &[i64]) -> bool {
        self.flush(st);
        let root = &self.tree[self.dims..2 * self.dims];
        request.iter().zip(root).any(|(r, m)| *r > 0 && r > m)
    }

    /// Largest free amount of dimension `d` on any node (for tests).
    #[cfg(test)]
    pub fn largest(&mut self, st: &State<'_>, d: usize) -> i64 {
        self.flush(st);
        self.tree[self.dims + d]
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::Resources;
    use crate::model::{Node, Snapshot};

    fn snapshot(gpus: &[i64]) -> Snapshot {
        let mut s = Snapshot::default();
        for (i, g) in gpus.iter().enumerate() {
            let node = Node {
                allocatable: Resources::cpu_mem_gpu(8000, 1 << 34, *g),
                ..Node::default()
            };
            s.nodes.insert(format!("n{i}").into(), node);
        }
        s
    }

    #[test]
    fn largest_free_block_follows_touched_nodes() {
        let snap = snapshot(&[8, 3, 5]);
        let mut st = State::build(&snap).expect("consistent");
        let gpu = st.dims.index_of("nvidia.com/gpu").expect("gpu dimension");
        let mut ix = FreeIndex::build(&st);
        assert_eq!(ix.largest(&st, gpu), 8);
        let mut need = vec![0i64; st.dims.len()];
        need[gpu] = 8;
        assert!(!ix.nothing_fits(&st, &need));
        // Take 6 GPUs from the 8-GPU node: the largest block is now node 2's 5.
        st.idle.row_mut(0)[gpu] -= 6;
        ix.mark(NodeIx(0));
        assert_eq!(ix.largest(&st, gpu), 5);
        assert!(ix.nothing_fits(&st, &need));
        // Releasing resources count (future idle): 4 releasing on node 1 makes 7 there.
        st.releasing.row_mut(1)[gpu] += 4;
        ix.mark(NodeIx(1));
        assert_eq!(ix.largest(&st, gpu), 7);
        need[gpu] = 0;
        assert!(!ix.nothing_fits(&st, &need), "an empty request fits");
    }

    /// Refreshing only the ancestors that change leaves the same tree as building it again.
    #[test]
    fn refreshed_index_equals_a_rebuilt_one() {
        let snap = snapshot(&[8, 3, 5, 8, 1, 0, 7]);
        let mut st = State::build(&snap).expect("consistent");
        let gpu = st.dims.index_of("nvidia.com/gpu").expect("gpu dimension");
        let cpu = st.dims.index_of("cpu").expect("cpu dimension");
        let mut ix = FreeIndex::build(&st);
        // A fixed pseudo-random walk of takes and releases over the nodes.
        let mut x: u64 = 0x9e37_79b9_7f4a_7c15;
        for step in 0..400 {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            let n = (x % 7) as usize;
            let row = st.idle.row_mut(n);
            let delta = (x >> 8) as i64 % 5 - 2;
            row[gpu] = (row[gpu] + delta).clamp(0, 8);
            row[cpu] = (row[cpu] - delta * 100).clamp(0, 8000);
            if step % 3 == 0 {
                st.releasing.row_mut((n + 1) % 7)[gpu] = (x >> 20) as i64 % 3;
                ix.mark(NodeIx(((n + 1) % 7) as u32));
            }
            ix.mark(NodeIx(n as u32));
            if step % 4 == 0 {
                ix.flush(&st);
                assert_eq!(ix.tree, FreeIndex::build(&st).tree, "step {step}");
            }
        }
    }

    #[test]
    fn no_nodes_fit_nothing() {
        let snap = snapshot(&[]);
        let st = State::build(&snap).expect("consistent");
        let mut ix = FreeIndex::build(&st);
        assert!(ix.nothing_fits(&st, &[1]));
    }
}
