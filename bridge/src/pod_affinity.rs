//! A pod's required inter-pod affinity and anti-affinity terms, read from its spec into
//! scheduler-core's model. Preferred (soft) terms are not read: scheduler-core has no scoring
//! for them. A term Basalt cannot evaluate (a non-empty `namespaceSelector`, which needs
//! Namespace labels the snapshot does not carry; an unknown selector operator) is reported as
//! unsupported, so the pod waits with that reason instead of being placed as if the term were
//! absent.

use std::collections::BTreeMap;

use k8s_openapi::api::core::v1::{PodAffinityTerm as KubeTerm, PodSpec};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::LabelSelector as KubeSelector;
use scheduler_core::model::{
    LabelSelector, LabelSelectorOperator, LabelSelectorRequirement, NamespaceScope, PodAffinityTerm,
};

/// Required affinity terms, required anti-affinity terms, and what Basalt cannot evaluate.
#[derive(Debug, Default, PartialEq)]
pub struct PodTerms {
    /// `podAffinity.requiredDuringSchedulingIgnoredDuringExecution`.
    pub affinity: Vec<PodAffinityTerm>,
    /// `podAntiAffinity.requiredDuringSchedulingIgnoredDuringExecution`.
    pub anti_affinity: Vec<PodAffinityTerm>,
    /// The first unsupported field, named with its path.
    pub unsupported: Option<String>,
}

/// Reads the required terms of `spec`; `labels` are the pod's own (for `matchLabelKeys`).
pub fn pod_terms(spec: &PodSpec, labels: &BTreeMap<String, String>) -> PodTerms {
    let mut out = PodTerms::default();
    let Some(affinity) = &spec.affinity else {
        return out;
    };
    let required = |terms: Option<&Vec<KubeTerm>>| terms.cloned().unwrap_or_default();
    let affinity_terms = required(affinity.pod_affinity.as_ref().and_then(|a| {
        a.required_during_scheduling_ignored_during_execution
            .as_ref()
    }));
    let anti_terms = required(affinity.pod_anti_affinity.as_ref().and_then(|a| {
        a.required_during_scheduling_ignored_during_execution
            .as_ref()
    }));
    for (kind, terms, into) in [
        ("podAffinity", affinity_terms, &mut out.affinity),
        ("podAntiAffinity", anti_terms, &mut out.anti_affinity),
    ] {
        for (i, t) in terms.iter().enumerate() {
            let path =
                format!("spec.affinity.{kind}.requiredDuringSchedulingIgnoredDuringExecution[{i}]");
            match term(t, labels, &path) {
                Ok(term) => into.push(term),
                Err(why) => {
                    out.unsupported.get_or_insert(why);
                }
            }
        }
    }
    out
}

fn term(
    t: &KubeTerm,
    labels: &BTreeMap<String, String>,
    path: &str,
) -> Result<PodAffinityTerm, String> {
    let namespaces = match &t.namespace_selector {
        Some(s)
            if s.match_labels.as_ref().is_some_and(|m| !m.is_empty())
                || s.match_expressions.as_ref().is_some_and(|e| !e.is_empty()) =>
        {
            return Err(format!(
                "{path}.namespaceSelector (list the namespaces in `namespaces` instead)"
            ));
        }
        Some(_) => NamespaceScope::All,
        None => match t.namespaces.as_deref() {
            Some(list) if !list.is_empty() => {
                NamespaceScope::Listed(list.iter().cloned().collect())
            }
            _ => NamespaceScope::Own,
        },
    };
    let mut selector = t
        .label_selector
        .as_ref()
        .map(|s| selector(s, &format!("{path}.labelSelector")))
        .transpose()?;
    // What an API server with MatchLabelKeysInPodAffinity does at pod creation: each listed key
    // the pod carries joins the selector as `In` / `NotIn` its own value (a server that already
    // did it makes this a repeated, harmless requirement).
    if let Some(s) = &mut selector {
        for (keys, operator) in [
            (&t.match_label_keys, LabelSelectorOperator::In),
            (&t.mismatch_label_keys, LabelSelectorOperator::NotIn),
        ] {
            for key in keys.iter().flatten() {
                if let Some(value) = labels.get(key) {
                    s.match_expressions.push(LabelSelectorRequirement {
                        key: key.clone(),
                        operator,
                        values: vec![value.clone()],
                    });
                }
            }
        }
    }
    Ok(PodAffinityTerm {
        selector,
        topology_key: t.topology_key.clone(),
        namespaces,
    })
}

fn selector(s: &KubeSelector, path: &str) -> Result<LabelSelector, String> {
    let mut match_expressions = Vec::new();
    for (i, r) in s.match_expressions.iter().flatten().enumerate() {
        let operator = match r.operator.as_str() {
            "In" => LabelSelectorOperator::In,
            "NotIn" => LabelSelectorOperator::NotIn,
            "Exists" => LabelSelectorOperator::Exists,
            "DoesNotExist" => LabelSelectorOperator::DoesNotExist,
            other => {
                return Err(format!(
                    "{path}.matchExpressions[{i}].operator {other:?} (use In, NotIn, Exists or DoesNotExist)"
                ));
            }
        };
        match_expressions.push(LabelSelectorRequirement {
            key: r.key.clone(),
            operator,
            values: r.values.clone().unwrap_or_default(),
        });
    }
    Ok(LabelSelector {
        match_labels: s.match_labels.clone().unwrap_or_default(),
        match_expressions,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn spec(yaml: &str) -> PodSpec {
        serde_saphyr::from_str(yaml).expect("pod spec")
    }

    #[test]
    fn required_terms_are_read_and_preferred_ignored() {
        let s = spec(
            "containers: []\naffinity:\n  podAntiAffinity:\n    requiredDuringSchedulingIgnoredDuringExecution:\n    - labelSelector:\n        matchExpressions: [{key: job, operator: In, values: [for-test-predicate]}]\n      topologyKey: kubernetes.io/hostname\n    preferredDuringSchedulingIgnoredDuringExecution:\n    - weight: 1\n      podAffinityTerm: {labelSelector: {}, topologyKey: zone}\n  podAffinity:\n    requiredDuringSchedulingIgnoredDuringExecution:\n    - labelSelector: {matchLabels: {app: web}}\n      matchLabelKeys: [rev]\n      namespaces: [a, b]\n      topologyKey: zone\n",
        );
        let labels = BTreeMap::from([("rev".to_owned(), "7".to_owned())]);
        let t = pod_terms(&s, &labels);
        assert_eq!(t.unsupported, None);
        assert_eq!(t.anti_affinity.len(), 1);
        let anti = &t.anti_affinity[0];
        assert_eq!(anti.topology_key, "kubernetes.io/hostname");
        assert_eq!(anti.namespaces, NamespaceScope::Own);
        let sel = anti.selector.as_ref().expect("selector");
        assert_eq!(sel.match_expressions[0].operator, LabelSelectorOperator::In);
        assert_eq!(t.affinity.len(), 1);
        let aff = &t.affinity[0];
        assert_eq!(
            aff.namespaces,
            NamespaceScope::Listed(["a".to_owned(), "b".to_owned()].into())
        );
        let sel = aff.selector.as_ref().expect("selector");
        assert_eq!(sel.match_labels.get("app").map(String::as_str), Some("web"));
        assert_eq!(
            sel.match_expressions,
            vec![LabelSelectorRequirement {
                key: "rev".into(),
                operator: LabelSelectorOperator::In,
                values: vec!["7".into()],
            }],
            "matchLabelKeys joins the selector with the pod's own value"
        );
    }

    #[test]
    fn namespace_selectors() {
        let all = spec(
            "containers: []\naffinity:\n  podAntiAffinity:\n    requiredDuringSchedulingIgnoredDuringExecution:\n    - {labelSelector: {}, namespaceSelector: {}, topologyKey: zone}\n",
        );
        let t = pod_terms(&all, &BTreeMap::new());
        assert_eq!(t.anti_affinity[0].namespaces, NamespaceScope::All);
        let labelled = spec(
            "containers: []\naffinity:\n  podAffinity:\n    requiredDuringSchedulingIgnoredDuringExecution:\n    - {labelSelector: {}, namespaceSelector: {matchLabels: {team: a}}, topologyKey: zone}\n",
        );
        let t = pod_terms(&labelled, &BTreeMap::new());
        assert!(t.affinity.is_empty());
        assert_eq!(
            t.unsupported.as_deref(),
            Some(
                "spec.affinity.podAffinity.requiredDuringSchedulingIgnoredDuringExecution[0].namespaceSelector (list the namespaces in `namespaces` instead)"
            )
        );
    }
}
