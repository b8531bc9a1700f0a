//! The job controller's view of one pod: the few facts the state machine needs, extracted from a
//! `core/v1` Pod so the state machine itself never touches Kubernetes types.

use crds::labels;
use k8s_openapi::api::core::v1::Pod;
use k8s_openapi::jiff::Timestamp;

/// Pod phase as the job controller sees it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum PodPhase {
    /// Pending (unbound or starting).
    Pending,
    /// Running.
    Running,
    /// Succeeded.
    Succeeded,
    /// Failed.
    Failed,
    /// Unknown.
    Unknown,
}

impl PodPhase {
    /// Succeeded or Failed.
    pub fn is_finished(self) -> bool {
        matches!(self, Self::Succeeded | Self::Failed)
    }

    /// Pending or Running.
    pub fn is_alive(self) -> bool {
        matches!(self, Self::Pending | Self::Running)
    }

    fn parse(phase: Option<&str>) -> Self {
        match phase {
            Some("Running") => Self::Running,
            Some("Succeeded") => Self::Succeeded,
            Some("Failed") => Self::Failed,
            Some("Unknown") => Self::Unknown,
            _ => Self::Pending,
        }
    }
}

/// One pod of a job.
#[derive(Clone, Debug, PartialEq)]
pub struct PodView {
    /// Pod name.
    pub name: String,
    /// Task name (`volcano.sh/task-spec`).
    pub task: String,
    /// Replica index (`volcano.sh/task-index`), -1 when missing.
    pub index: i32,
    /// Partition (`volcano.sh/task-partition-id`), for tasks with a `partitionPolicy`.
    pub partition: Option<i32>,
    /// Job version the pod was created for (`volcano.sh/job-version`).
    pub version: i32,
    /// Phase.
    pub phase: PodPhase,
    /// Has a deletion timestamp.
    pub deleting: bool,
    /// First terminated container's exit code.
    pub exit_code: Option<i32>,
    /// Σ container and init-container restarts.
    pub restarts: i32,
    /// When the current phase began (finish time for failed pods, creation otherwise).
    pub since: Option<Timestamp>,
}

impl PodView {
    /// Extracts the view from a pod created by the job controller.
    pub fn from_pod(pod: &Pod) -> Self {
        let meta = &pod.metadata;
        let get = |key: &str| {
            meta.annotations
                .as_ref()
                .and_then(|a| a.get(key))
                .or_else(|| meta.labels.as_ref().and_then(|l| l.get(key)))
                .cloned()
        };
        let status = pod.status.as_ref();
        let containers = status.into_iter().flat_map(|s| {
            s.container_statuses
                .iter()
                .flatten()
                .chain(s.init_container_statuses.iter().flatten())
        });
        let mut restarts = 0;
        let mut exit_code = None;
        let mut finished = None;
        for c in containers {
            restarts += c.restart_count;
            if let Some(t) = c.state.as_ref().and_then(|s| s.terminated.as_ref()) {
                if exit_code.is_none() && t.exit_code != 0 {
                    exit_code = Some(t.exit_code);
                }
                finished = finished.or(t.finished_at.as_ref().map(|t| t.0));
            }
        }
        let phase = PodPhase::parse(status.and_then(|s| s.phase.as_deref()));
        let created = meta.creation_timestamp.as_ref().map(|t| t.0);
        Self {
            name: meta.name.clone().unwrap_or_default(),
            task: get(labels::TASK_SPEC).unwrap_or_default(),
            index: get(labels::TASK_INDEX)
                .and_then(|v| v.parse().ok())
                .unwrap_or(-1),
            partition: get(labels::TASK_PARTITION_ID).and_then(|v| v.parse().ok()),
            version: get(labels::JOB_VERSION)
                .and_then(|v| v.parse().ok())
                .unwrap_or(0),
            phase,
            deleting: meta.deletion_timestamp.is_some(),
            exit_code,
            restarts,
            since: if phase == PodPhase::Failed {
                finished.or(created)
            } else {
                created
            },
        }
    }
}

#[cfg(test)]
pub(crate) fn pod(task: &str, index: i32, version: i32, phase: PodPhase) -> PodView {
    PodView {
        name: format!("distributed-training-{task}-{index}"),
        task: task.to_owned(),
        index,
        partition: None,
        version,
        phase,
        deleting: false,
        exit_code: if phase == PodPhase::Failed {
            Some(1)
        } else {
            None
        },
        restarts: 0,
        since: None,
    }
}
