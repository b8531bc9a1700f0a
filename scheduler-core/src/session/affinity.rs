//! Inter-pod affinity in the session: which pods sit in which topology domain, counted per
//! term, so that the `predicates` plugin answers kube-scheduler's `InterPodAffinity` filter
//! with a few array reads per term instead of walking the pods of a domain.
//!
//! Built at session open only when some task of the snapshot declares a required pod affinity
//! or anti-affinity term (clusters without them pay nothing), and kept current by the
//! statement: a task counts in its node's domains from the moment it is allocated or pipelined
//! (so members of one gang placed in one statement see each other) until that is undone.
//! Pods the snapshot does not list (other schedulers' pods, daemons) are not seen. An evicted
//! (Releasing) task still counts: it is on its node until it is gone, so preempt and reclaim
//! never free an anti-affinity domain by evicting (kube-scheduler's preemption can).
//!
//! Rules (kube-scheduler's `interpodaffinity` filter), for an incoming task on node N:
//! * affinity: for every term, N has the term's topology key and some placed pod in N's
//!   domain matches *all* of the task's affinity terms — unless no placed pod anywhere matches
//!   them all and the task matches them itself (the first pod of a self-affine group);
//! * anti-affinity: for no term is a matching placed pod in N's domain (N without the key
//!   passes the term);
//! * symmetry: no placed pod's anti-affinity term matches the task within that pod's domain.

use std::collections::HashMap;

use super::{NodeIx, TaskIx};
use crate::model::{Node, PodAffinityTerm, Task};

const NO_DOMAIN: u32 = u32::MAX;

/// kube-scheduler's reasons, which users search for.
pub const AFFINITY_REFUSAL: &str = "node(s) didn't match pod affinity rules";
/// See [`AFFINITY_REFUSAL`].
pub const ANTI_AFFINITY_REFUSAL: &str = "node(s) didn't match pod anti-affinity rules";
/// See [`AFFINITY_REFUSAL`].
pub const EXISTING_ANTI_AFFINITY_REFUSAL: &str =
    "node(s) didn't satisfy existing pods anti-affinity rules";

/// One distinct required anti-affinity term (term and its owner's namespace).
#[derive(Clone, Debug, PartialEq)]
struct AntiTerm {
    key: usize,
    /// Per domain: placed pods matching the term.
    matching: Vec<u32>,
    /// Per domain: placed pods declaring the term.
    owners: Vec<u32>,
}

/// One distinct set of required affinity terms (all of one task's, with its namespace).
#[derive(Clone, Debug, PartialEq)]
struct AffinitySet {
    /// Per term: its topology key.
    keys: Vec<usize>,
    /// Per term, per domain of its key: placed pods matching every term of the set.
    counts: Vec<Vec<u32>>,
    /// Increments over all of `counts` (0 = no placed pod matches on a node with a key).
    total: u64,
}

/// What one task takes part in.
#[derive(Clone, Debug, Default, PartialEq)]
struct TaskTerms {
    /// Its own affinity set.
    own_set: Option<u32>,
    /// Its own anti-affinity terms.
    own_anti: Vec<u32>,
    /// Affinity sets whose every term it matches.
    in_sets: Vec<u32>,
    /// Anti-affinity terms (of any task) it matches.
    in_anti: Vec<u32>,
}

/// Placed pods per topology domain, counted per term (see the module docs).
#[derive(Clone, Debug, PartialEq)]
pub struct PodAffinityIndex {
    /// Per topology key in use, per node: its domain, or `NO_DOMAIN` without the label.
    domains: Vec<Vec<u32>>,
    anti: Vec<AntiTerm>,
    sets: Vec<AffinitySet>,
    tasks: Vec<TaskTerms>,
}

impl PodAffinityIndex {
    /// The index over `tasks` (id order) placed on `placed` nodes, or `None` when no task
    /// declares a required pod affinity or anti-affinity term.
    pub fn build<'a>(
        nodes: impl ExactSizeIterator<Item = &'a Node> + Clone,
        tasks: &[&'a Task],
        placed: impl Iterator<Item = (TaskIx, NodeIx)>,
    ) -> Option<Self> {
        let with_terms = tasks.iter().any(|t| {
            !t.constraints.pod_affinity.is_empty() || !t.constraints.pod_anti_affinity.is_empty()
        });
        if !with_terms {
            return None;
        }
        // Topology keys, and per key the domains (distinct label values) in node order.
        let mut keys: HashMap<&str, usize> = HashMap::new();
        let mut domains: Vec<Vec<u32>> = Vec::new();
        let mut key_of = |key: &'a str, domains: &mut Vec<Vec<u32>>| -> usize {
            if let Some(&k) = keys.get(key) {
                return k;
            }
            let mut values: HashMap<&str, u32> = HashMap::new();
            let column = nodes
                .clone()
                .map(|n| match n.labels.get(key) {
                    Some(v) => {
                        let next = values.len() as u32;
                        *values.entry(v.as_str()).or_insert(next)
                    }
                    None => NO_DOMAIN,
                })
                .collect();
            domains.push(column);
            keys.insert(key, domains.len() - 1);
            domains.len() - 1
        };
        let width = |domains: &[Vec<u32>], k: usize| -> usize {
            domains[k]
                .iter()
                .filter(|d| **d != NO_DOMAIN)
                .map(|d| *d as usize + 1)
                .max()
                .unwrap_or(0)
        };
        // Distinct terms, interned with their owner's namespace (it scopes `Own`).
        let mut anti_ids: HashMap<(&PodAffinityTerm, &str), u32> = HashMap::new();
        let mut anti_terms: Vec<(&PodAffinityTerm, &str)> = Vec::new();
        let mut set_ids: HashMap<(&[PodAffinityTerm], &str), u32> = HashMap::new();
        let mut set_terms: Vec<(&[PodAffinityTerm], &str)> = Vec::new();
        let mut anti = Vec::new();
        let mut sets = Vec::new();
        let mut per_task: Vec<TaskTerms> = vec![TaskTerms::default(); tasks.len()];
        for (i, &t) in tasks.iter().enumerate() {
            let c = &t.constraints;
            let ns = t.namespace.as_str();
            if !c.pod_affinity.is_empty() {
                let next = set_terms.len() as u32;
                let id = *set_ids
                    .entry((c.pod_affinity.as_slice(), ns))
                    .or_insert(next);
                if id == next {
                    set_terms.push((c.pod_affinity.as_slice(), ns));
                    let keys: Vec<usize> = c
                        .pod_affinity
                        .iter()
                        .map(|term| key_of(&term.topology_key, &mut domains))
                        .collect();
                    let counts = keys.iter().map(|&k| vec![0; width(&domains, k)]).collect();
                    sets.push(AffinitySet {
                        keys,
                        counts,
                        total: 0,
                    });
                }
                per_task[i].own_set = Some(id);
            }
            for term in &c.pod_anti_affinity {
                let next = anti_terms.len() as u32;
                let id = *anti_ids.entry((term, ns)).or_insert(next);
                if id == next {
                    anti_terms.push((term, ns));
                    let key = key_of(&term.topology_key, &mut domains);
                    let w = width(&domains, key);
                    anti.push(AntiTerm {
                        key,
                        matching: vec![0; w],
                        owners: vec![0; w],
                    });
                }
                if !per_task[i].own_anti.contains(&id) {
                    per_task[i].own_anti.push(id);
                }
            }
        }
        for (t, terms) in tasks.iter().zip(&mut per_task) {
            let (ns, labels) = (t.namespace.as_str(), &t.labels);
            for (id, (set, owner)) in set_terms.iter().enumerate() {
                if set.iter().all(|term| term.matches(owner, ns, labels)) {
                    terms.in_sets.push(id as u32);
                }
            }
            for (id, (term, owner)) in anti_terms.iter().enumerate() {
                if term.matches(owner, ns, labels) {
                    terms.in_anti.push(id as u32);
                }
            }
        }
        let mut ix = Self {
            domains,
            anti,
            sets,
            tasks: per_task,
        };
        for (task, node) in placed {
            ix.place(task, node);
        }
        Some(ix)
    }

    /// Whether `task`'s fit can depend on where other tasks are (it has terms, or some task's
    /// anti-affinity term matches it). The session does not memoise such tasks' answers.
    pub fn involves(&self, task: TaskIx) -> bool {
        let t = &self.tasks[task.ix()];
        t.own_set.is_some() || !t.own_anti.is_empty() || !t.in_anti.is_empty()
    }

    /// `task` now counts on `node`.
    pub fn place(&mut self, task: TaskIx, node: NodeIx) {
        self.count(task, node, true);
    }

    /// `task` no longer counts on `node`.
    pub fn unplace(&mut self, task: TaskIx, node: NodeIx) {
        self.count(task, node, false);
    }

    fn count(&mut self, task: TaskIx, node: NodeIx, add: bool) {
        let step = |c: &mut u32| {
            if add {
                *c += 1;
            } else {
                *c -= 1;
            }
        };
        let Self {
            domains,
            anti,
            sets,
            tasks,
        } = self;
        let t = &tasks[task.ix()];
        for &s in &t.in_sets {
            let set = &mut sets[s as usize];
            for (k, counts) in set.keys.iter().zip(&mut set.counts) {
                let d = domains[*k][node.ix()];
                if d != NO_DOMAIN {
                    step(&mut counts[d as usize]);
                    if add {
                        set.total += 1;
                    } else {
                        set.total -= 1;
                    }
                }
            }
        }
        for &a in &t.in_anti {
            let term = &mut anti[a as usize];
            let d = domains[term.key][node.ix()];
            if d != NO_DOMAIN {
                step(&mut term.matching[d as usize]);
            }
        }
        for &a in &t.own_anti {
            let term = &mut anti[a as usize];
            let d = domains[term.key][node.ix()];
            if d != NO_DOMAIN {
                step(&mut term.owners[d as usize]);
            }
        }
    }

    /// Whether `task` may go to `node`; the refusal reason otherwise.
    pub fn check(&self, task: TaskIx, node: NodeIx) -> Result<(), &'static str> {
        let t = &self.tasks[task.ix()];
        let n = node.ix();
        if let Some(s) = t.own_set {
            let set = &self.sets[s as usize];
            let mut exists = true;
            for (k, counts) in set.keys.iter().zip(&set.counts) {
                let d = self.domains[*k][n];
                if d == NO_DOMAIN {
                    return Err(AFFINITY_REFUSAL);
                }
                exists &= counts[d as usize] > 0;
            }
            let first_of_group = set.total == 0 && t.in_sets.contains(&s);
            if !exists && !first_of_group {
                return Err(AFFINITY_REFUSAL);
            }
        }
        for &a in &t.own_anti {
            let term = &self.anti[a as usize];
            let d = self.domains[term.key][n];
            if d != NO_DOMAIN && term.matching[d as usize] > 0 {
                return Err(ANTI_AFFINITY_REFUSAL);
            }
        }
        for &a in &t.in_anti {
            let term = &self.anti[a as usize];
            let d = self.domains[term.key][n];
            if d != NO_DOMAIN && term.owners[d as usize] > 0 {
                return Err(EXISTING_ANTI_AFFINITY_REFUSAL);
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::Resources;
    use crate::model::{LabelSelector, NamespaceScope};

    fn host(name: &str) -> Node {
        Node {
            labels: [("kubernetes.io/hostname".to_owned(), name.to_owned())].into(),
            ..Node::default()
        }
    }

    fn pod(app: &str, anti_to: Option<&str>) -> Task {
        let mut t = Task::pending("j", Resources::new());
        t.labels.insert("app".into(), app.into());
        if let Some(target) = anti_to {
            t.constraints.pod_anti_affinity.push(PodAffinityTerm {
                selector: Some(LabelSelector {
                    match_labels: [("app".to_owned(), target.to_owned())].into(),
                    match_expressions: Vec::new(),
                }),
                topology_key: "kubernetes.io/hostname".into(),
                namespaces: NamespaceScope::Own,
            });
        }
        t
    }

    #[test]
    fn no_terms_no_index() {
        let nodes = [host("a")];
        let tasks = [pod("web", None), pod("db", None)];
        let refs: Vec<&Task> = tasks.iter().collect();
        assert!(PodAffinityIndex::build(nodes.iter(), &refs, std::iter::empty()).is_none());
    }

    #[test]
    fn place_and_unplace_are_inverse_and_involvement_follows_the_terms() {
        let nodes = [host("a"), host("b")];
        let tasks = [pod("web", Some("web")), pod("web", None), pod("db", None)];
        let refs: Vec<&Task> = tasks.iter().collect();
        let mut ix =
            PodAffinityIndex::build(nodes.iter(), &refs, std::iter::empty()).expect("terms");
        let (spread, plain_web, db) = (TaskIx(0), TaskIx(1), TaskIx(2));
        assert!(ix.involves(spread), "declares a term");
        assert!(
            ix.involves(plain_web),
            "selected by spread's term (symmetry)"
        );
        assert!(!ix.involves(db), "neither declares nor is selected");
        let empty = ix.clone();
        ix.place(plain_web, NodeIx(0));
        assert_eq!(ix.check(spread, NodeIx(0)), Err(ANTI_AFFINITY_REFUSAL));
        assert_eq!(ix.check(spread, NodeIx(1)), Ok(()));
        ix.place(spread, NodeIx(1));
        assert_eq!(
            ix.check(plain_web, NodeIx(1)),
            Err(EXISTING_ANTI_AFFINITY_REFUSAL)
        );
        assert_eq!(ix.check(db, NodeIx(1)), Ok(()));
        ix.unplace(spread, NodeIx(1));
        ix.unplace(plain_web, NodeIx(0));
        assert_eq!(ix, empty);
    }
}
