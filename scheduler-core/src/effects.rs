//! Decisions as data: what the shell (controllers, simulator) must do after a session, and the
//! explanation of every job that could not be placed.
//!
//! Order is part of the contract: binds and evictions in the order statements committed, then
//! PodGroup statuses by job id, queue statuses by queue id, explanations by job id.

use std::collections::BTreeMap;
use std::fmt;
use std::sync::Arc;

use crate::ids::{JobId, NodeId, QueueId, TaskId};
use crate::model::JobPhase;
use crate::plugin::JobCondition;
use crate::quantity::format_resource_amount;
use crate::resources::Resources;
use crate::text::Text;

/// One decision.
#[derive(Clone, Debug, PartialEq)]
pub enum Effect {
    /// Bind `task` to `node`, setting `annotations` on the pod in the same write.
    Bind {
        /// Pod.
        task: TaskId,
        /// Node.
        node: NodeId,
        /// Annotations plugins attached (e.g. GPU assignment).
        annotations: BTreeMap<String, String>,
    },
    /// Evict `task`.
    Evict {
        /// Pod.
        task: TaskId,
        /// Why, for the pod condition and event.
        reason: String,
    },
    /// Write a PodGroup's phase and conditions.
    PodGroupStatus {
        /// PodGroup.
        job: JobId,
        /// New phase.
        phase: JobPhase,
        /// Conditions (no timestamps: the shell sets `lastTransitionTime` on real transitions).
        conditions: Vec<JobCondition>,
    },
    /// Write a queue's `status.allocated` (and Basalt's `status.deserved`).
    QueueStatus {
        /// Queue.
        queue: QueueId,
        /// Σ requests of its Allocated/Binding/Bound/Running tasks.
        allocated: Resources,
        /// The deserved share the fair-share plugin (`proportion` or `capacity`) computed this
        /// session; `None` when no such plugin is configured or the queue had no jobs.
        deserved: Option<Resources>,
    },
    /// Why a job is not (fully) placed.
    Explanation(Explanation),
    /// A pending gang holds nodes (the `reservation` plugin). The shell stores it on the
    /// PodGroup (annotation `basalt.dev/reservation`) and passes it back in the next snapshot;
    /// a gang with no such effect after a session holds nothing.
    Reservation {
        /// PodGroup.
        job: JobId,
        /// The held nodes and the estimated start.
        reservation: crate::model::Reservation,
    },
}

/// Why a job could not be placed: a one-line summary and, for one failing task, how many nodes
/// failed each reason and by how much.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Explanation {
    /// PodGroup.
    pub job: JobId,
    /// E.g. `3/4 tasks in gang unschedulable: 3 Insufficient nvidia.com/gpu`. Jobs that failed
    /// the same way share one allocation.
    pub summary: Text,
    /// The task whose node-level reasons follow (the first that failed).
    pub task: Option<TaskId>,
    /// Nodes considered for that task.
    pub nodes: u32,
    /// Per reason, most nodes first. Shared between the jobs whose first failing task got the
    /// same diagnosis.
    pub reasons: Arc<[ReasonCount]>,
}

/// How many nodes failed one reason.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ReasonCount {
    /// Kubernetes-style reason, e.g. `Insufficient nvidia.com/gpu`.
    pub reason: String,
    /// Nodes that failed it.
    pub nodes: u32,
    /// For resources: (resource, need, largest free among those nodes).
    pub shortfall: Option<(String, i64, i64)>,
}

impl fmt::Display for ReasonCount {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let noun = if self.nodes == 1 { "node" } else { "nodes" };
        write!(f, "{} {noun}: {}", self.nodes, self.reason)?;
        if let Some((res, need, free)) = &self.shortfall {
            let need = format_resource_amount(res, *need);
            let free = format_resource_amount(res, *free);
            write!(f, " (need {need}, largest free {free})")?;
        }
        Ok(())
    }
}

impl fmt::Display for Explanation {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.job, self.summary)?;
        if let Some(task) = &self.task {
            write!(f, "\n  task {task}: 0/{} nodes available", self.nodes)?;
        }
        for r in self.reasons.iter() {
            write!(f, "\n  {r}")?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reason_lines_read_like_the_issue_examples() {
        let r = ReasonCount {
            reason: "Insufficient nvidia.com/gpu".into(),
            nodes: 2,
            shortfall: Some(("nvidia.com/gpu".into(), 8, 7)),
        };
        assert_eq!(
            r.to_string(),
            "2 nodes: Insufficient nvidia.com/gpu (need 8, largest free 7)"
        );
        let r = ReasonCount {
            reason: "Insufficient cpu".into(),
            nodes: 1,
            shortfall: Some(("cpu".into(), 1500, 500)),
        };
        assert_eq!(
            r.to_string(),
            "1 node: Insufficient cpu (need 1500m, largest free 500m)"
        );
    }
}
