//! Choosing a node for a task: static feasibility cached per constraint class, then a rotating,
//! budgeted scan over the feasible nodes that checks idle / future-idle fit and dynamic
//! predicates and keeps the best score. When nothing fits, a full diagnosis says why per node.
//!
//! The budget mirrors Volcano's (and kube-scheduler's) `percentageOfNodesToFind`: stop after
//! enough feasible nodes, continue the next scan where this one stopped. With fewer nodes than
//! `minimum_feasible` every node is scored.
//!
//! A shape scanned a second time gets a candidate index (`candidates`) that gives the same answer
//! without walking full nodes or re-reading `want` scores per task; the walk stays the reference
//! (memos off) and the answer wherever the index does not apply.

use std::collections::BTreeMap;
use std::rc::Rc;

use super::candidates::ShapeIndex;
use super::memo::FitEntry;
use super::{NO_SHAPE, NodeIx, STALE, Session, TaskIx};
use crate::plugin::Hooks;
use crate::resources::fits;

/// Cached "predicate failed" answer (a score no plugin produces).
const REJECTED: f64 = f64::NEG_INFINITY;

/// Distinct (constraints, requests) shapes whose per-node answers are cached; beyond this the
/// session recomputes (bounds memory at 64 × nodes × 16 bytes).
const MAX_CACHED_SHAPES: usize = 64;

/// Node-finding budget (Volcano flags `--minimum-feasible-nodes`,
/// `--minimum-percentage-nodes-to-find`, `--percentage-nodes-to-find`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct NodeSearch {
    /// Never stop before this many feasible nodes (default 100).
    pub minimum_feasible: usize,
    /// Floor of the adaptive percentage (default 5).
    pub minimum_percentage: usize,
    /// Fixed percentage; 0 = adaptive (50% at 0 nodes, −1% per 125 nodes), 100 = all.
    pub percentage: usize,
}

impl Default for NodeSearch {
    fn default() -> Self {
        Self {
            minimum_feasible: 100,
            minimum_percentage: 5,
            percentage: 0,
        }
    }
}

impl NodeSearch {
    /// Score every feasible node.
    pub const EXHAUSTIVE: NodeSearch = NodeSearch {
        minimum_feasible: usize::MAX,
        minimum_percentage: 100,
        percentage: 100,
    };

    /// How many feasible nodes to find among `n`.
    pub fn nodes_to_find(&self, n: usize) -> usize {
        if n <= self.minimum_feasible || self.percentage >= 100 {
            return n;
        }
        let pct = if self.percentage > 0 {
            self.percentage
        } else {
            50usize.saturating_sub(n / 125).max(self.minimum_percentage)
        };
        (n * pct / 100).max(self.minimum_feasible).min(n)
    }
}

/// Where a task can go.
#[derive(Clone, Debug)]
pub enum Placement {
    /// Fits in idle resources: allocate.
    Idle(NodeIx),
    /// Fits only once releasing resources are freed: pipeline.
    Future(NodeIx),
    /// Nowhere; why.
    Unfit(Rc<FitDiagnosis>),
}

/// Per reason, how many nodes failed a task and by how much.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct FitDiagnosis {
    /// Nodes in the cluster.
    pub nodes: u32,
    /// reason → how many nodes failed it.
    pub reasons: BTreeMap<String, Tally>,
}

/// Nodes failing one reason, and for resources by how much.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Tally {
    /// Nodes that failed the reason.
    pub nodes: u32,
    /// (resource, need, largest free among those nodes).
    pub shortfall: Option<(String, i64, i64)>,
}

impl FitDiagnosis {
    fn add(&mut self, reason: &str, shortfall: Option<(&str, i64, i64)>) {
        let e = self.reasons.entry(reason.to_owned()).or_default();
        e.nodes += 1;
        if let Some((res, need, free)) = shortfall {
            match &mut e.shortfall {
                Some((_, _, largest)) => *largest = (*largest).max(free),
                None => e.shortfall = Some((res.to_owned(), need, free)),
            }
        }
    }
}

/// Nodes that pass the static predicates for one constraint class.
#[derive(Debug)]
pub(crate) struct ClassNodes {
    feasible: Vec<NodeIx>,
    rejected: FitDiagnosis,
}

impl Session<'_> {
    fn class_nodes(&mut self, task: TaskIx) -> Rc<ClassNodes> {
        let class = self.state.tasks[task.ix()].class as usize;
        if let Some(c) = &self.class_nodes[class] {
            return Rc::clone(c);
        }
        let mut feasible = Vec::with_capacity(self.state.nodes.len());
        let mut rejected = FitDiagnosis::default();
        for i in 0..self.state.nodes.len() {
            let node = NodeIx(i as u32);
            match self.plugins.static_predicate(&self.state, task, node) {
                Ok(()) => feasible.push(node),
                Err(unfit) => rejected.add(&unfit.reason, None),
            }
        }
        let c = Rc::new(ClassNodes { feasible, rejected });
        self.class_nodes[class] = Some(Rc::clone(&c));
        c
    }

    /// Finds the best node for `task`. `allow_future` permits pipelining onto resources being
    /// released (allocate does, backfill does not).
    pub fn select_node(
        &mut self,
        task: TaskIx,
        search: &NodeSearch,
        allow_future: bool,
    ) -> Placement {
        let key = (self.shape_of(task), allow_future);
        let memo = self.memo && self.node_local && !self.affinity_involves(task);
        // "Nothing fits" stays true until resources are freed, provided the predicates only
        // look at nodes and the task's shape (see `Plugin::node_local`). The diagnosis is
        // reused only in the state it was made in; otherwise it is recomputed (no scan).
        if memo
            && let Some(entry) = self.fit_cache.get(&key)
            && entry.epoch == self.release_epoch
        {
            let diag = (entry.state == self.state_id).then(|| Rc::clone(&entry.diag));
            let nodes = self.class_nodes(task);
            self.settle_offset(nodes.feasible.len());
            if let Some(diag) = diag {
                return Placement::Unfit(diag);
            }
            let diag = Rc::new(self.diagnose(task, &nodes, allow_future));
            if let Some(entry) = self.fit_cache.get_mut(&key) {
                entry.state = self.state_id;
                entry.diag = Rc::clone(&diag);
            }
            return Placement::Unfit(diag);
        }
        let nodes = self.class_nodes(task);
        let n = nodes.feasible.len();
        let placement = if n == 0
            || (self.memo
                && self
                    .free_index
                    .nothing_fits(&self.state, self.state.request(task)))
        {
            self.settle_offset(n);
            None
        } else {
            self.scan(task, &nodes.feasible, search, allow_future)
        };
        match placement {
            Some(p) => p,
            None => {
                let diag = Rc::new(self.diagnose(task, &nodes, allow_future));
                if memo {
                    let entry = FitEntry {
                        epoch: self.release_epoch,
                        made: self.ops_ever,
                        state: self.state_id,
                        diag: Rc::clone(&diag),
                    };
                    self.fit_cache.insert(key, entry);
                }
                Placement::Unfit(diag)
            }
        }
    }

    /// Whether `task`'s fit depends on where other tasks are (pod affinity, its own terms or
    /// another pod's anti-affinity term that matches it). The no-fit memo and the per-shape
    /// score cache assume a node's answer changes only with that node and only towards "no"
    /// while resources are taken; a matching pod landing elsewhere in a topology domain breaks
    /// both, so such tasks are never memoised (tasks of clusters without terms always are).
    /// Host ports count too: a port taken changes only its node's answer, but tasks binding
    /// them are rare enough not to be worth a memo of their own.
    fn affinity_involves(&self, task: TaskIx) -> bool {
        self.state
            .pod_affinity
            .as_ref()
            .is_some_and(|ix| ix.involves(task))
            || (self.state.host_ports.is_some()
                && !self.state.tasks[task.ix()]
                    .spec
                    .constraints
                    .host_ports
                    .is_empty())
    }

    /// Where the rotation stands after a scan of `n` feasible nodes that found nothing: the scan
    /// walks all `n` from `offset % n`, so it ends there. Answers the memos give without a scan
    /// move the offset the same way, or the next scan of a budgeted search would start elsewhere.
    fn settle_offset(&mut self, n: usize) {
        if n > 0 {
            self.scan_offset %= n;
        }
    }

    /// Whether `task` is known to fit on no node (idle, or future idle when `allow_future`)
    /// without scanning: its request exceeds the largest free amount of some resource, or the
    /// no-fit memo says so in the current release epoch. `false` means "not known", not "fits".
    pub fn known_unfit(&mut self, task: TaskIx, allow_future: bool) -> bool {
        if !self.memo {
            return false;
        }
        if self
            .free_index
            .nothing_fits(&self.state, self.state.request(task))
        {
            return true;
        }
        if !self.node_local || self.affinity_involves(task) {
            return false;
        }
        let key = (self.shape_of(task), allow_future);
        self.fit_cache
            .get(&key)
            .is_some_and(|e| e.epoch == self.release_epoch)
    }

    fn scan(
        &mut self,
        task: TaskIx,
        feasible: &[NodeIx],
        search: &NodeSearch,
        allow_future: bool,
    ) -> Option<Placement> {
        let slot = if self.node_local && self.memo && !self.affinity_involves(task) {
            self.shape_slot(task)
        } else {
            None
        };
        if let Some(i) = slot
            && !self.may_release
            && !self.plugins.any(Hooks::BEST_NODE)
            && let Some(placement) = self.scan_indexed(task, i, feasible, search)
        {
            return placement;
        }
        let Session {
            state: st,
            plugins,
            shape_scores,
            node_version,
            scan_offset,
            may_release,
            ..
        } = self;
        let may_release = *may_release;
        let mut cache = slot.map(|i| &mut shape_scores[i]);
        let n = feasible.len();
        let want = search.nodes_to_find(n);
        let start = *scan_offset % n;
        let req = st.request(task);
        let has_predicates = plugins.any(Hooks::PREDICATE);
        let has_best_node = plugins.any(Hooks::BEST_NODE);
        let mut future_buf = vec![0i64; req.len()];
        let mut best_idle: Option<(f64, NodeIx)> = None;
        let mut best_future: Option<(f64, NodeIx)> = None;
        let mut scored_idle: Vec<(NodeIx, f64)> = Vec::new();
        let mut found = 0usize;
        let mut processed = 0usize;
        // Rotate without a division per node: [start, n) then [0, start).
        for &node in feasible[start..].iter().chain(&feasible[..start]) {
            processed += 1;
            // A plugin may hold the task off idle resources the scalars show (a card that only
            // frees when a Releasing pod goes): such a node is a future fit at best.
            let idle_fit = fits(req, st.idle.row(node.ix()))
                && !(may_release
                    && has_predicates
                    && plugins.idle_refusal(st, task, node).is_some());
            if !idle_fit {
                if !allow_future || best_idle.is_some() {
                    continue;
                }
                st.future_idle(node, &mut future_buf);
                if !fits(req, &future_buf) {
                    continue;
                }
            }
            let evaluate = || {
                if has_predicates && plugins.predicate(st, task, node).is_err() {
                    REJECTED
                } else {
                    plugins.node_score(st, task, node)
                }
            };
            let score = match cache.as_deref_mut() {
                Some(c) => {
                    let version = node_version[node.ix()];
                    match c[node.ix()] {
                        (v, score) if v == version => score,
                        _ => {
                            let score = evaluate();
                            c[node.ix()] = (version, score);
                            score
                        }
                    }
                }
                None => evaluate(),
            };
            if score == REJECTED {
                continue;
            }
            found += 1;
            let best = if idle_fit {
                &mut best_idle
            } else {
                &mut best_future
            };
            if best.is_none_or(|(s, _)| score > s) {
                *best = Some((score, node));
            }
            if idle_fit && has_best_node {
                scored_idle.push((node, score));
            }
            if found >= want && best_idle.is_some() {
                break;
            }
        }
        *scan_offset = (start + processed) % n;
        if let Some((_, node)) = best_idle {
            let chosen = if has_best_node {
                plugins.best_node(st, task, &scored_idle)
            } else {
                None
            };
            return Some(Placement::Idle(chosen.unwrap_or(node)));
        }
        best_future.map(|(_, node)| Placement::Future(node))
    }

    /// The scan's answer from the shape's candidate index (see `candidates`): the best idle fit
    /// among the first `want` idle fits from the rotation offset, leftmost on ties, and the
    /// offset moved past the last node the scan would have looked at. The caller has checked
    /// that no node can fit in future idle resources only and that no plugin picks among scored
    /// nodes, so this is the linear scan's answer. `None` when the shape has no index (built on
    /// its second scan, so shapes seen once cost no more than a scan) or cannot have one.
    fn scan_indexed(
        &mut self,
        task: TaskIx,
        slot: usize,
        feasible: &[NodeIx],
        search: &NodeSearch,
    ) -> Option<Option<Placement>> {
        if self.shape_index.len() <= slot {
            self.shape_index.resize_with(slot + 1, || (0, None));
        }
        let all_nodes = feasible.len() == self.state.nodes.len();
        let Session {
            state: st,
            plugins,
            shape_scores,
            node_version,
            scan_offset,
            shape_index,
            touch_log,
            ..
        } = self;
        let (uses, index) = &mut shape_index[slot];
        if *uses == u32::MAX {
            return None;
        }
        *uses += 1;
        let req = st.request(task);
        let cache = &mut shape_scores[slot];
        let has_predicates = plugins.any(Hooks::PREDICATE);
        let mut unordered = false;
        let mut leaf = |node: NodeIx| -> Option<f64> {
            if !fits(req, st.idle.row(node.ix())) {
                return None;
            }
            let version = node_version[node.ix()];
            let score = match cache[node.ix()] {
                (v, score) if v == version => score,
                _ => {
                    let score = if has_predicates && plugins.predicate(st, task, node).is_err() {
                        REJECTED
                    } else {
                        plugins.node_score(st, task, node)
                    };
                    cache[node.ix()] = (version, score);
                    score
                }
            };
            // A NaN score compares differently in a tree than in a walk: no index then.
            unordered |= score.is_nan();
            (score != REJECTED).then_some(score)
        };
        let ix = match index {
            None if *uses < 2 => return None,
            None => index.insert(ShapeIndex::build(feasible.len(), touch_log.len(), |pos| {
                leaf(feasible[pos])
            })),
            Some(ix) => {
                for &node in &touch_log[ix.log_pos..] {
                    let pos = if all_nodes {
                        Some(node.ix())
                    } else {
                        feasible.binary_search_by_key(&node.0, |n| n.0).ok()
                    };
                    if let Some(pos) = pos {
                        ix.set(pos, leaf(node));
                    }
                }
                ix.log_pos = touch_log.len();
                ix
            }
        };
        if unordered {
            *index = None;
            *uses = u32::MAX;
            return None;
        }
        let n = feasible.len();
        let want = search.nodes_to_find(n).max(1) as u32;
        let start = *scan_offset % n;
        let total = ix.total();
        let before = ix.count_before(start);
        let after = total - before;
        // The linear scan stops at the node where the `want`-th eligible one is found, after
        // walking [start, n) and then [0, start); an earlier segment wins ties.
        let first = |a: Option<(f64, usize)>, b: Option<(f64, usize)>| match (a, b) {
            (Some(x), Some(y)) if y.0 > x.0 => Some(y),
            (None, y) => y,
            (x, _) => x,
        };
        let (best, processed) = if after >= want {
            let k = ix.kth(before + want);
            (ix.best_in(start, k + 1), k - start + 1)
        } else if total >= want {
            let k = ix.kth(want - after);
            (
                first(ix.best_in(start, n), ix.best_in(0, k + 1)),
                n - start + k + 1,
            )
        } else {
            (first(ix.best_in(start, n), ix.best_in(0, start)), n)
        };
        *scan_offset = (start + processed) % n;
        Some(best.map(|(_, pos)| Placement::Idle(feasible[pos])))
    }

    /// The score-cache slot for the task's (constraints, requests), if the cache has room.
    /// `task`'s shape: an id shared by every task with the same constraint class and request,
    /// interned on first use (one hash of the request per task and session, then an index).
    pub(crate) fn shape_of(&mut self, task: TaskIx) -> u32 {
        let known = self.task_shape[task.ix()];
        if known != NO_SHAPE {
            return known;
        }
        let class = self.state.tasks[task.ix()].class as usize;
        let request = self.state.request(task);
        let ids = &mut self.shape_ids[class];
        let id = match ids.get(request) {
            Some(id) => *id,
            None => {
                let id = self.shape_count;
                self.shape_count += 1;
                ids.insert(Box::from(request), id);
                id
            }
        };
        self.task_shape[task.ix()] = id;
        id
    }

    fn shape_slot(&mut self, task: TaskIx) -> Option<usize> {
        let shape = self.shape_of(task) as usize;
        if let Some(&slot) = self.shapes.get(shape)
            && slot != NO_SHAPE
        {
            return Some(slot as usize);
        }
        if self.shape_scores.len() >= MAX_CACHED_SHAPES {
            return None;
        }
        let i = self.shape_scores.len();
        self.shape_scores
            .push(vec![(STALE, 0.0); self.state.nodes.len()]);
        if self.shapes.len() <= shape {
            self.shapes.resize(shape + 1, NO_SHAPE);
        }
        self.shapes[shape] = i as u32;
        Some(i)
    }

    fn diagnose(&self, task: TaskIx, nodes: &ClassNodes, allow_future: bool) -> FitDiagnosis {
        let st = &self.state;
        let mut diag = nodes.rejected.clone();
        diag.nodes = st.nodes.len() as u32;
        let req = st.request(task);
        let mut avail = vec![0i64; req.len()];
        for &node in &nodes.feasible {
            if allow_future {
                st.future_idle(node, &mut avail);
            } else {
                avail.copy_from_slice(st.idle.row(node.ix()));
            }
            if fits(req, &avail) {
                let refusal = if allow_future || !self.may_release {
                    None
                } else {
                    self.plugins.idle_refusal(st, task, node)
                };
                if let Some(unfit) = refusal {
                    diag.add(&unfit.reason, None);
                    continue;
                }
                match self.plugins.predicate(st, task, node) {
                    Err(unfit) => diag.add(
                        &unfit.reason,
                        unfit
                            .shortfall
                            .as_ref()
                            .map(|s| (s.resource.as_str(), s.need, s.free)),
                    ),
                    Ok(()) => diag.add("node(s) did not fit for an unknown reason", None),
                }
                continue;
            }
            for (d, (&need, &free)) in req.iter().zip(&avail).enumerate() {
                if need > 0 && need > free {
                    let name = st.dims.name(d);
                    diag.add(
                        &format!("Insufficient {name}"),
                        Some((name, need, free.max(0))),
                    );
                }
            }
        }
        diag
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn node_budget_matches_volcano_adaptive_rule() {
        let s = NodeSearch::default();
        assert_eq!(s.nodes_to_find(50), 50);
        assert_eq!(s.nodes_to_find(500), 230); // 50 − 4 = 46%
        assert_eq!(s.nodes_to_find(5000), 500); // 50 − 40 = 10%
        assert_eq!(s.nodes_to_find(20_000), 1000); // floor 5%
        assert_eq!(s.nodes_to_find(1000), 420);
        assert_eq!(NodeSearch::EXHAUSTIVE.nodes_to_find(5000), 5000);
        let fixed = NodeSearch {
            percentage: 1,
            ..NodeSearch::default()
        };
        assert_eq!(fixed.nodes_to_find(5000), 100);
    }
}
