//! `conformance`: never offer critical system pods as preemption or reclaim victims
//! (priority classes `system-cluster-critical` / `system-node-critical`, namespace `kube-system`).

use crate::config::{Arguments, ConfigError};
use crate::plugin::{Hooks, Plugin};
use crate::session::{State, TaskIx};

/// The `conformance` plugin.
#[derive(Clone, Debug, Default)]
pub struct Conformance;

/// Registry factory.
pub fn factory(_: &Arguments) -> Result<Box<dyn Plugin>, ConfigError> {
    Ok(Box::new(Conformance))
}

fn evictable(st: &State<'_>, task: TaskIx) -> bool {
    let spec = st.tasks[task.ix()].spec;
    let critical = matches!(
        spec.priority_class.as_deref(),
        Some("system-cluster-critical" | "system-node-critical")
    );
    !critical && spec.namespace != "kube-system"
}

impl Plugin for Conformance {
    fn name(&self) -> &'static str {
        "conformance"
    }

    fn hooks(&self) -> Hooks {
        Hooks::PREEMPTABLE | Hooks::RECLAIMABLE
    }

    /// Conformance protects critical pods; it has no opinion on who owes whom.
    fn victim_filter_only(&self) -> bool {
        true
    }

    fn preemptable(&self, st: &State<'_>, _: TaskIx, candidates: &[TaskIx]) -> Option<Vec<TaskIx>> {
        Some(
            candidates
                .iter()
                .copied()
                .filter(|t| evictable(st, *t))
                .collect(),
        )
    }

    fn reclaimable(&self, st: &State<'_>, _: TaskIx, candidates: &[TaskIx]) -> Option<Vec<TaskIx>> {
        Some(
            candidates
                .iter()
                .copied()
                .filter(|t| evictable(st, *t))
                .collect(),
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::plugins::testkit::{Kit, task_ix};

    #[test]
    fn critical_pods_are_never_victims() {
        let mut kit = Kit::new();
        kit.job("j", 1, 0);
        kit.pending("j/plain", "j", 0)
            .pending("j/sys", "j", 0)
            .pending("j/crit", "j", 0);
        kit.edit_task("j/sys", |t| t.namespace = "kube-system".into());
        kit.edit_task("j/crit", |t| {
            t.priority_class = Some("system-node-critical".into())
        });
        kit.with_state(|st| {
            let all: Vec<TaskIx> = ["j/crit", "j/plain", "j/sys"]
                .iter()
                .map(|n| task_ix(st, n))
                .collect();
            let want = Some(vec![task_ix(st, "j/plain")]);
            assert_eq!(Conformance.preemptable(st, all[0], &all), want);
            assert_eq!(Conformance.reclaimable(st, all[0], &all), want);
        });
    }
}
