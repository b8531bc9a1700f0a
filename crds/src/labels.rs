//! Well-known label and annotation keys: the wire contract with Volcano-aware tools
//! (reference/volcano.md §1.7). Every crate uses these constants instead of string literals.

/// Label + annotation on pods: the Job's name.
pub const JOB_NAME: &str = "volcano.sh/job-name";
/// Label on pods: the Job's namespace.
pub const JOB_NAMESPACE: &str = "volcano.sh/job-namespace";
/// Label + annotation on pods: the Job's queue.
pub const QUEUE_NAME: &str = "volcano.sh/queue-name";
/// Annotation on Namespaces (and pods): the queue for PodGroups that name the `default` queue
/// (Volcano's `QueueNameAnnotationKey`; the PodGroup mutating webhook applies it).
pub const SCHEDULING_QUEUE_NAME: &str = "scheduling.volcano.sh/queue-name";
/// Label + annotation on pods: the task name.
pub const TASK_SPEC: &str = "volcano.sh/task-spec";
/// Label + annotation on pods: the replica index inside the task.
pub const TASK_INDEX: &str = "volcano.sh/task-index";
/// Label on pods of a task with a `partitionPolicy`: the pod's partition, `index / partitionSize`
/// (the unit `RestartPartition` restarts).
pub const TASK_PARTITION_ID: &str = "volcano.sh/task-partition-id";
/// Annotation on pods: the Job's `status.version` when the pod was created.
pub const JOB_VERSION: &str = "volcano.sh/job-version";
/// Annotation on pods: the Job's `status.retryCount` when the pod was created.
pub const JOB_RETRY_COUNT: &str = "volcano.sh/job-retry-count";
/// Annotation on pods: `<job>-<task>`, the equivalence class of the task's pods.
pub const TEMPLATE_UID: &str = "volcano.sh/template-uid";
/// Annotation on pods: the PodGroup the pod belongs to (`<job>-<job uid>`).
pub const GROUP_NAME: &str = "scheduling.k8s.io/group-name";
/// Label/annotation on pods and PodGroups: whether the pod may be preempted (default true).
pub const PREEMPTABLE: &str = "volcano.sh/preemptable";
/// Label + annotation on Jobs created by a JobFlow: `<namespace>.<flow>`.
pub const CREATED_BY_JOB_FLOW: &str = "volcano.sh/createdByJobFlow";
/// Label + annotation on Jobs created from a JobTemplate: `<namespace>.<template>`.
pub const CREATED_BY_JOB_TEMPLATE: &str = "volcano.sh/createdByJobTemplate";
/// Label on every object Basalt creates.
pub const MANAGED_BY: &str = "app.kubernetes.io/managed-by";
/// Value of [`MANAGED_BY`].
pub const MANAGED_BY_VALUE: &str = "basalt";
