//! DAG validation and readiness of a JobFlow's steps: unknown targets, duplicate steps and cycles
//! (printed as `a -> b -> a`) are rejected before any Job is created. Pure: no I/O.

use std::collections::{BTreeMap, BTreeSet};

use crds::jobflow::{Flow, JobFlowSpec};

use super::FlowError;

/// The validated step graph of a flow, in declaration order.
#[derive(Clone, Debug, PartialEq)]
pub struct Dag {
    /// Step names in declaration order.
    pub steps: Vec<String>,
    /// Step → the steps it waits for (declaration order, deduplicated).
    pub targets: BTreeMap<String, Vec<String>>,
}

impl Dag {
    /// Validates `spec.flows`: names non-empty and unique, targets declared, no cycle.
    pub fn build(flow_name: &str, spec: &JobFlowSpec) -> Result<Self, FlowError> {
        let flows: &[Flow] = spec.flows.as_deref().unwrap_or_default();
        let mut steps = Vec::with_capacity(flows.len());
        let mut seen = BTreeSet::new();
        for f in flows {
            if f.name.is_empty() {
                return Err(FlowError::EmptyStepName {
                    flow: flow_name.to_owned(),
                });
            }
            if !seen.insert(f.name.clone()) {
                return Err(FlowError::DuplicateStep {
                    flow: flow_name.to_owned(),
                    step: f.name.clone(),
                });
            }
            steps.push(f.name.clone());
        }
        let mut targets = BTreeMap::new();
        for f in flows {
            let mut deps: Vec<String> = Vec::new();
            for t in depends_on(f) {
                if !seen.contains(t) {
                    return Err(FlowError::UnknownTarget {
                        flow: flow_name.to_owned(),
                        step: f.name.clone(),
                        target: t.clone(),
                    });
                }
                if !deps.contains(t) {
                    deps.push(t.clone());
                }
            }
            targets.insert(f.name.clone(), deps);
        }
        let dag = Self { steps, targets };
        if let Some(cycle) = dag.find_cycle() {
            return Err(FlowError::Cycle {
                flow: flow_name.to_owned(),
                cycle: cycle.join(" -> "),
            });
        }
        Ok(dag)
    }

    /// The steps `step` waits for.
    pub fn targets_of(&self, step: &str) -> &[String] {
        self.targets
            .get(step)
            .map(Vec::as_slice)
            .unwrap_or_default()
    }

    /// Steps ordered so that every step comes after its targets (ties in declaration order).
    pub fn topological(&self) -> Vec<&str> {
        let mut done: BTreeSet<&str> = BTreeSet::new();
        let mut order = Vec::with_capacity(self.steps.len());
        // Validated acyclic, so every pass places at least one step.
        while order.len() < self.steps.len() {
            let before = order.len();
            for s in &self.steps {
                if !done.contains(s.as_str())
                    && self.targets_of(s).iter().all(|t| done.contains(t.as_str()))
                {
                    done.insert(s.as_str());
                    order.push(s.as_str());
                }
            }
            if order.len() == before {
                break;
            }
        }
        order
    }

    /// Every step downstream of `step` (transitively), excluding `step`.
    pub fn downstream(&self, step: &str) -> BTreeSet<String> {
        let mut out = BTreeSet::new();
        let mut frontier = vec![step.to_owned()];
        while let Some(s) = frontier.pop() {
            for (child, deps) in &self.targets {
                if deps.contains(&s) && out.insert(child.clone()) {
                    frontier.push(child.clone());
                }
            }
        }
        out
    }

    /// A cycle as a closed path (`a, b, a`), found by depth-first search in declaration order.
    fn find_cycle(&self) -> Option<Vec<String>> {
        #[derive(Clone, Copy, PartialEq)]
        enum Mark {
            New,
            Active,
            Done,
        }
        let mut marks: BTreeMap<&str, Mark> =
            self.steps.iter().map(|s| (s.as_str(), Mark::New)).collect();
        for start in &self.steps {
            if marks[start.as_str()] != Mark::New {
                continue;
            }
            // Explicit stack of (step, next target index) so deep flows cannot overflow the stack.
            let mut path: Vec<(&str, usize)> = vec![(start.as_str(), 0)];
            marks.insert(start.as_str(), Mark::Active);
            while let Some((step, i)) = path.last().copied() {
                let deps = self.targets_of(step);
                if i == deps.len() {
                    marks.insert(step, Mark::Done);
                    path.pop();
                    continue;
                }
                if let Some(top) = path.last_mut() {
                    top.1 += 1;
                }
                let next = deps[i].as_str();
                match marks[next] {
                    Mark::Active => {
                        // `path` runs from dependent to dependency; print it in execution order.
                        let from = path.iter().position(|(s, _)| *s == next).unwrap_or(0);
                        let mut cycle: Vec<String> =
                            path[from..].iter().map(|(s, _)| (*s).to_owned()).collect();
                        cycle.push(next.to_owned());
                        cycle.reverse();
                        return Some(cycle);
                    }
                    Mark::New => {
                        marks.insert(next, Mark::Active);
                        path.push((next, 0));
                    }
                    Mark::Done => {}
                }
            }
        }
        None
    }
}

/// The declared targets of a step.
pub fn depends_on(f: &Flow) -> &[String] {
    f.depends_on
        .as_ref()
        .and_then(|d| d.targets.as_deref())
        .unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn spec(text: &str) -> JobFlowSpec {
        serde_saphyr::from_str(text).unwrap()
    }

    #[test]
    fn the_article_pipeline_is_a_chain() {
        let flow: crds::jobflow::JobFlow = serde_saphyr::from_str(include_str!(
            "../../../examples/07-credit-ml-pipeline-jobflow.yaml"
        ))
        .unwrap();
        let dag = Dag::build("credit-ml-pipeline", &flow.spec).unwrap();
        assert_eq!(dag.steps.len(), 6);
        assert_eq!(dag.targets_of("model-training"), ["feature-extraction"]);
        assert!(dag.targets_of("data-collection").is_empty());
        assert_eq!(dag.downstream("model-training").len(), 2);
    }

    #[test]
    fn rejects_unknown_targets_and_duplicates() {
        let e = Dag::build(
            "f",
            &spec("flows: [{name: a}, {name: b, dependsOn: {targets: [x]}}]"),
        )
        .unwrap_err();
        assert!(e.to_string().contains("\"x\""), "{e}");
        assert!(matches!(e, FlowError::UnknownTarget { .. }));
        let e = Dag::build("f", &spec("flows: [{name: a}, {name: a}]")).unwrap_err();
        assert!(matches!(e, FlowError::DuplicateStep { .. }), "{e}");
    }

    #[test]
    fn prints_the_cycle_in_execution_order() {
        let s = spec(
            "flows: [{name: a}, {name: b, dependsOn: {targets: [a, d]}}, {name: c, dependsOn: {targets: [b]}}, \
             {name: d, dependsOn: {targets: [c]}}]",
        );
        let e = Dag::build("f", &s).unwrap_err();
        assert!(e.to_string().contains("b -> c -> d -> b"), "{e}");
        let e =
            Dag::build("f", &spec("flows: [{name: a, dependsOn: {targets: [a]}}]")).unwrap_err();
        assert!(e.to_string().contains("a -> a"), "{e}");
    }

    #[test]
    fn a_diamond_is_valid() {
        let s = spec(
            "flows: [{name: a}, {name: b, dependsOn: {targets: [a]}}, {name: c, dependsOn: {targets: [a]}}, \
             {name: d, dependsOn: {targets: [b, c, b]}}]",
        );
        let dag = Dag::build("f", &s).unwrap();
        assert_eq!(dag.targets_of("d"), ["b", "c"]);
        assert_eq!(
            dag.downstream("a").into_iter().collect::<Vec<_>>(),
            ["b", "c", "d"]
        );
        let s = spec(
            "flows: [{name: d, dependsOn: {targets: [b, c]}}, {name: c, dependsOn: {targets: [a]}}, {name: b, dependsOn: {targets: [a]}}, {name: a}]",
        );
        assert_eq!(
            Dag::build("f", &s).unwrap().topological(),
            ["a", "c", "b", "d"]
        );
    }
}
