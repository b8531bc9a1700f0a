//! Pod placement constraints and the Kubernetes rules that match them against a node:
//! nodeSelector, required node affinity (`matchExpressions`, `matchFields`), taints and tolerations. The pod
//! (anti-)affinity terms are carried here too; their rules are in `pod_affinity`. So are the
//! pod's host ports, which depend on the pods already on a node (`session::host_ports`).

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use super::pod_affinity::PodAffinityTerm;

/// The parts of a pod that restrict which nodes it may use. Tasks with equal constraints share
/// one cached static feasibility result per session, so keep this `Eq + Hash`.
#[derive(Clone, Debug, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct Constraints {
    /// `spec.nodeSelector`: every pair must match a node label.
    pub node_selector: BTreeMap<String, String>,
    /// `requiredDuringSchedulingIgnoredDuringExecution.nodeSelectorTerms`: OR of terms; empty = none.
    pub required_affinity: Vec<NodeAffinityTerm>,
    /// `spec.tolerations`.
    pub tolerations: Vec<Toleration>,
    /// Why the pod's resource requests could not be read (unparsable or overflowing quantity):
    /// such a pod fits no node, with this reason, instead of being counted as requesting zero.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub invalid_requests: Option<String>,
    /// Required pod affinity terms (`podAffinity.requiredDuringSchedulingIgnoredDuringExecution`).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub pod_affinity: Vec<PodAffinityTerm>,
    /// Required pod anti-affinity terms
    /// (`podAntiAffinity.requiredDuringSchedulingIgnoredDuringExecution`).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub pod_anti_affinity: Vec<PodAffinityTerm>,
    /// A placement field the pod uses that Basalt does not implement (e.g. a non-empty pod
    /// affinity `namespaceSelector`): such a pod fits no node, with this reason, instead of
    /// being placed as if the field were absent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub unsupported: Option<String>,
    /// The host ports the pod's containers bind (`ports[].hostPort`; with `hostNetwork`, every
    /// container port), in the order declared.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub host_ports: Vec<HostPort>,
}

/// One host port a pod binds: kube-scheduler's `NodePorts` key.
#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct HostPort {
    /// `TCP`, `UDP` or `SCTP` (`TCP` when the pod leaves it out).
    pub protocol: String,
    /// `hostIP`; `0.0.0.0` (every address) when the pod leaves it out.
    pub host_ip: String,
    /// The port number (1–65535).
    pub port: u16,
}

/// The address a pod without `hostIP` binds: every address of the node.
pub const ANY_HOST_IP: &str = "0.0.0.0";

impl HostPort {
    /// Whether two pods binding these ports cannot share a node (kube-scheduler's rule): same
    /// protocol and port, and the same address or either of them on every address.
    pub fn conflicts(&self, other: &HostPort) -> bool {
        self.port == other.port
            && self.protocol == other.protocol
            && (self.host_ip == other.host_ip
                || self.host_ip == ANY_HOST_IP
                || other.host_ip == ANY_HOST_IP)
    }
}

/// One node selector term: AND of its requirements. A term with none matches no node
/// (Kubernetes: "a null or empty node selector term matches no objects").
#[derive(Clone, Debug, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct NodeAffinityTerm {
    /// `matchExpressions`, against the node's labels.
    pub match_expressions: Vec<NodeSelectorRequirement>,
    /// `matchFields`, against the node's fields: Kubernetes supports only `metadata.name`, so
    /// `key` is always that (the snapshot refuses other keys as unsupported).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub match_fields: Vec<NodeSelectorRequirement>,
}

/// The one node field a `matchFields` requirement may name.
pub const NODE_NAME_FIELD: &str = "metadata.name";

/// One `matchExpressions` entry.
#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct NodeSelectorRequirement {
    /// Label key.
    pub key: String,
    /// Operator.
    pub operator: NodeSelectorOperator,
    /// Values (one integer for `Gt`/`Lt`).
    pub values: Vec<String>,
}

/// Node selector operators.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum NodeSelectorOperator {
    /// Label value is one of `values`.
    In,
    /// Label absent or value not in `values`.
    NotIn,
    /// Label present.
    Exists,
    /// Label absent.
    DoesNotExist,
    /// Label value, as an integer, greater than `values[0]`.
    Gt,
    /// Label value, as an integer, less than `values[0]`.
    Lt,
}

/// A node taint.
#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct Taint {
    /// Key.
    pub key: String,
    /// Value (may be empty).
    pub value: String,
    /// Effect.
    pub effect: TaintEffect,
}

/// Taint effects.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum TaintEffect {
    /// New pods must tolerate it.
    NoSchedule,
    /// Soft preference; never blocks placement.
    PreferNoSchedule,
    /// New and running pods must tolerate it.
    NoExecute,
}

/// A pod toleration.
#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct Toleration {
    /// Key; empty with `Exists` tolerates every taint.
    pub key: String,
    /// Operator.
    pub operator: TolerationOperator,
    /// Value for `Equal`.
    pub value: String,
    /// Effect; `None` matches all effects.
    pub effect: Option<TaintEffect>,
}

/// Toleration operators.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum TolerationOperator {
    /// Key and value must match.
    Equal,
    /// Key must match (any value).
    Exists,
}

impl NodeSelectorRequirement {
    /// Whether `labels` satisfy this requirement. Unparsable integers never match `Gt`/`Lt`.
    pub fn matches(&self, labels: &BTreeMap<String, String>) -> bool {
        let value = labels.get(&self.key);
        match self.operator {
            NodeSelectorOperator::In => value.is_some_and(|v| self.values.contains(v)),
            NodeSelectorOperator::NotIn => value.is_none_or(|v| !self.values.contains(v)),
            NodeSelectorOperator::Exists => value.is_some(),
            NodeSelectorOperator::DoesNotExist => value.is_none(),
            NodeSelectorOperator::Gt | NodeSelectorOperator::Lt => {
                let (Some(v), Some(bound)) = (value, self.values.first()) else {
                    return false;
                };
                let (Ok(v), Ok(bound)) = (v.parse::<i64>(), bound.parse::<i64>()) else {
                    return false;
                };
                if self.operator == NodeSelectorOperator::Gt {
                    v > bound
                } else {
                    v < bound
                }
            }
        }
    }
}

impl Toleration {
    /// Whether this toleration tolerates `taint`.
    pub fn tolerates(&self, taint: &Taint) -> bool {
        if self.effect.is_some_and(|e| e != taint.effect) {
            return false;
        }
        match self.operator {
            TolerationOperator::Exists => self.key.is_empty() || self.key == taint.key,
            TolerationOperator::Equal => self.key == taint.key && self.value == taint.value,
        }
    }
}

impl Constraints {
    /// No selector, affinity, tolerations or request error.
    pub fn is_empty(&self) -> bool {
        self.node_selector.is_empty()
            && self.required_affinity.is_empty()
            && self.tolerations.is_empty()
            && self.invalid_requests.is_none()
            && self.pod_affinity.is_empty()
            && self.pod_anti_affinity.is_empty()
            && self.unsupported.is_none()
            && self.host_ports.is_empty()
    }

    /// nodeSelector matches.
    pub fn selector_matches(&self, labels: &BTreeMap<String, String>) -> bool {
        self.node_selector
            .iter()
            .all(|(k, v)| labels.get(k) == Some(v))
    }

    /// Required node affinity matches the node `name` with `labels` (no terms = matches).
    pub fn affinity_matches(&self, name: &str, labels: &BTreeMap<String, String>) -> bool {
        if self.required_affinity.is_empty() {
            return true;
        }
        let fields = BTreeMap::from([(NODE_NAME_FIELD.to_owned(), name.to_owned())]);
        self.required_affinity.iter().any(|t| {
            !(t.match_expressions.is_empty() && t.match_fields.is_empty())
                && t.match_expressions.iter().all(|r| r.matches(labels))
                && t.match_fields.iter().all(|r| r.matches(&fields))
        })
    }

    /// The first `NoSchedule`/`NoExecute` taint no toleration tolerates.
    pub fn untolerated_taint<'t>(&self, taints: &'t [Taint]) -> Option<&'t Taint> {
        taints.iter().find(|t| {
            t.effect != TaintEffect::PreferNoSchedule
                && !self.tolerations.iter().any(|tol| tol.tolerates(t))
        })
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

    fn req(key: &str, operator: NodeSelectorOperator, values: &[&str]) -> NodeSelectorRequirement {
        let values = values.iter().map(|v| (*v).to_owned()).collect();
        NodeSelectorRequirement {
            key: key.to_owned(),
            operator,
            values,
        }
    }

    #[test]
    fn match_expression_operators() {
        use NodeSelectorOperator::*;
        let l = labels(&[("zone", "a"), ("gpus", "8")]);
        let cases = [
            (req("zone", In, &["a", "b"]), true),
            (req("zone", In, &["b"]), false),
            (req("zone", NotIn, &["b"]), true),
            (req("rack", NotIn, &["b"]), true),
            (req("zone", NotIn, &["a"]), false),
            (req("zone", Exists, &[]), true),
            (req("rack", Exists, &[]), false),
            (req("rack", DoesNotExist, &[]), true),
            (req("gpus", Gt, &["7"]), true),
            (req("gpus", Gt, &["8"]), false),
            (req("gpus", Lt, &["9"]), true),
            (req("zone", Lt, &["9"]), false),
        ];
        for (r, want) in cases {
            assert_eq!(r.matches(&l), want, "{r:?}");
        }
    }

    #[test]
    fn affinity_terms_are_or_of_and() {
        use NodeSelectorOperator::*;
        let l = labels(&[("zone", "a")]);
        let term = |rs: Vec<NodeSelectorRequirement>| NodeAffinityTerm {
            match_expressions: rs,
            match_fields: Vec::new(),
        };
        let c = Constraints {
            required_affinity: vec![
                term(vec![req("zone", In, &["b"])]),
                term(vec![
                    req("zone", In, &["a"]),
                    req("rack", DoesNotExist, &[]),
                ]),
            ],
            ..Constraints::default()
        };
        assert!(c.affinity_matches("n1", &l));
        let c2 = Constraints {
            required_affinity: vec![term(vec![req("zone", In, &["a"]), req("zone", In, &["b"])])],
            ..Constraints::default()
        };
        assert!(!c2.affinity_matches("n1", &l));
    }

    #[test]
    fn match_fields_name_the_node_and_an_empty_term_matches_nothing() {
        use NodeSelectorOperator::*;
        let l = labels(&[("zone", "a")]);
        let pinned = |op, with_zone: bool| Constraints {
            required_affinity: vec![NodeAffinityTerm {
                match_expressions: if with_zone {
                    vec![req("zone", In, &["a"])]
                } else {
                    Vec::new()
                },
                match_fields: vec![req(NODE_NAME_FIELD, op, &["n2"])],
            }],
            ..Constraints::default()
        };
        assert!(pinned(In, false).affinity_matches("n2", &l));
        assert!(!pinned(In, false).affinity_matches("n1", &l));
        assert!(pinned(In, true).affinity_matches("n2", &l));
        assert!(pinned(NotIn, false).affinity_matches("n1", &l));
        assert!(!pinned(NotIn, false).affinity_matches("n2", &l));
        let empty = Constraints {
            required_affinity: vec![NodeAffinityTerm::default()],
            ..Constraints::default()
        };
        assert!(!empty.affinity_matches("n1", &l));
    }

    #[test]
    fn taints_and_tolerations() {
        let gpu = Taint {
            key: "gpu".into(),
            value: "true".into(),
            effect: TaintEffect::NoSchedule,
        };
        let soft = Taint {
            key: "x".into(),
            value: String::new(),
            effect: TaintEffect::PreferNoSchedule,
        };
        let taints = vec![soft, gpu.clone()];
        let none = Constraints::default();
        assert_eq!(none.untolerated_taint(&taints), Some(&gpu));
        let tol = |key: &str, op, value: &str, effect| Constraints {
            tolerations: vec![Toleration {
                key: key.into(),
                operator: op,
                value: value.into(),
                effect,
            }],
            ..Constraints::default()
        };
        use TolerationOperator::*;
        assert_eq!(
            tol("gpu", Equal, "true", None).untolerated_taint(&taints),
            None
        );
        assert_eq!(
            tol("gpu", Equal, "false", None).untolerated_taint(&taints),
            Some(&gpu)
        );
        assert_eq!(
            tol("gpu", Exists, "", Some(TaintEffect::NoSchedule)).untolerated_taint(&taints),
            None
        );
        assert_eq!(
            tol("gpu", Exists, "", Some(TaintEffect::NoExecute)).untolerated_taint(&taints),
            Some(&gpu)
        );
        assert_eq!(tol("", Exists, "", None).untolerated_taint(&taints), None);
    }
}
