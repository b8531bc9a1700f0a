//! Inter-pod affinity and anti-affinity as a pod declares them (the required terms of
//! `spec.affinity.podAffinity` / `podAntiAffinity`), and the label-selector rules that match a
//! term against another pod. Which pods sit in which topology domain is the session's business
//! (`session::affinity`); this module only says whether one pod matches one term.

use std::collections::{BTreeMap, BTreeSet};

use serde::{Deserialize, Serialize};

/// One `requiredDuringSchedulingIgnoredDuringExecution` pod (anti-)affinity term.
#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct PodAffinityTerm {
    /// `labelSelector`; `None` (absent) matches no pod, as in Kubernetes.
    pub selector: Option<LabelSelector>,
    /// `topologyKey`: nodes with the same value of this label form one domain.
    pub topology_key: String,
    /// Which namespaces the selector looks in.
    pub namespaces: NamespaceScope,
}

/// The namespaces a term's selector applies to.
#[derive(Clone, Debug, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum NamespaceScope {
    /// Neither `namespaces` nor `namespaceSelector`: the pod's own namespace.
    #[default]
    Own,
    /// `namespaces` (explicit list).
    Listed(BTreeSet<String>),
    /// `namespaceSelector: {}`: every namespace.
    All,
}

/// A Kubernetes label selector: AND of `matchLabels` and `matchExpressions`; empty matches all.
#[derive(Clone, Debug, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct LabelSelector {
    /// `matchLabels`.
    pub match_labels: BTreeMap<String, String>,
    /// `matchExpressions`.
    pub match_expressions: Vec<LabelSelectorRequirement>,
}

/// One `matchExpressions` entry of a label selector.
#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct LabelSelectorRequirement {
    /// Label key.
    pub key: String,
    /// Operator.
    pub operator: LabelSelectorOperator,
    /// Values (`In`/`NotIn`).
    pub values: Vec<String>,
}

/// Label selector operators.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum LabelSelectorOperator {
    /// Label value is one of `values`.
    In,
    /// Label absent or value not in `values`.
    NotIn,
    /// Label present.
    Exists,
    /// Label absent.
    DoesNotExist,
}

impl LabelSelector {
    /// Whether `labels` satisfy every `matchLabels` pair and every expression.
    pub fn matches(&self, labels: &BTreeMap<String, String>) -> bool {
        self.match_labels
            .iter()
            .all(|(k, v)| labels.get(k) == Some(v))
            && self.match_expressions.iter().all(|r| {
                let value = labels.get(&r.key);
                match r.operator {
                    LabelSelectorOperator::In => value.is_some_and(|v| r.values.contains(v)),
                    LabelSelectorOperator::NotIn => value.is_none_or(|v| !r.values.contains(v)),
                    LabelSelectorOperator::Exists => value.is_some(),
                    LabelSelectorOperator::DoesNotExist => value.is_none(),
                }
            })
    }
}

impl NamespaceScope {
    /// Whether a pod in `namespace` is in scope of a term declared by a pod in `owner`.
    pub fn contains(&self, owner: &str, namespace: &str) -> bool {
        match self {
            Self::Own => owner == namespace,
            Self::Listed(list) => list.contains(namespace),
            Self::All => true,
        }
    }
}

impl PodAffinityTerm {
    /// Whether a pod in `namespace` with `labels` matches this term declared by a pod in
    /// `owner` (the topology key is not looked at: that is where, not who).
    pub fn matches(&self, owner: &str, namespace: &str, labels: &BTreeMap<String, String>) -> bool {
        self.namespaces.contains(owner, namespace)
            && self.selector.as_ref().is_some_and(|s| s.matches(labels))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn labels(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
        pairs
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect()
    }

    fn expr(key: &str, operator: LabelSelectorOperator, values: &[&str]) -> LabelSelector {
        LabelSelector {
            match_labels: BTreeMap::new(),
            match_expressions: vec![LabelSelectorRequirement {
                key: key.into(),
                operator,
                values: values.iter().map(|v| (*v).to_owned()).collect(),
            }],
        }
    }

    #[test]
    fn selector_operators() {
        use LabelSelectorOperator::*;
        let l = labels(&[("app", "web"), ("tier", "front")]);
        let cases = [
            (expr("app", In, &["web", "db"]), true),
            (expr("app", In, &["db"]), false),
            (expr("app", NotIn, &["db"]), true),
            (expr("app", NotIn, &["web"]), false),
            (expr("zone", NotIn, &["a"]), true),
            (expr("app", Exists, &[]), true),
            (expr("zone", Exists, &[]), false),
            (expr("zone", DoesNotExist, &[]), true),
            (expr("app", DoesNotExist, &[]), false),
            (LabelSelector::default(), true),
        ];
        for (s, want) in cases {
            assert_eq!(s.matches(&l), want, "{s:?}");
        }
        let both = LabelSelector {
            match_labels: labels(&[("tier", "front")]),
            ..expr("app", In, &["db"])
        };
        assert!(!both.matches(&l), "matchLabels and expressions are ANDed");
    }

    #[test]
    fn namespaces_and_null_selector() {
        let l = labels(&[("app", "web")]);
        let term = |selector, namespaces| PodAffinityTerm {
            selector,
            topology_key: "kubernetes.io/hostname".into(),
            namespaces,
        };
        let own = term(Some(LabelSelector::default()), NamespaceScope::Own);
        assert!(own.matches("a", "a", &l));
        assert!(!own.matches("a", "b", &l));
        let listed = term(
            Some(LabelSelector::default()),
            NamespaceScope::Listed(["b".to_owned()].into()),
        );
        assert!(listed.matches("a", "b", &l));
        assert!(!listed.matches("a", "a", &l));
        assert!(term(Some(LabelSelector::default()), NamespaceScope::All).matches("a", "z", &l));
        assert!(
            !term(None, NamespaceScope::All).matches("a", "a", &l),
            "a term without labelSelector matches no pod"
        );
    }
}
