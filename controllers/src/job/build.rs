//! Object builders for a Job's children: its pods (`<job>-<task>-<index>` with Volcano's labels
//! and annotations, reference/volcano.md §1.7) and its PodGroup (`<job>-<uid>`).
//!
//! Pure functions of the Job; plugin mutations (env/svc/ssh) are applied by `plugins`.

use std::collections::BTreeMap;

use bridge::resources::{pod_requests, to_list};
use crds::job::{Job, TaskSpec};
use crds::labels;
use crds::podgroup::{PodGroup, PodGroupSpec};
use k8s_openapi::api::core::v1::{
    PersistentVolumeClaimVolumeSource, Pod, PodSpec, Volume, VolumeMount,
};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{ObjectMeta, OwnerReference};
use kube::{Resource, ResourceExt};
use scheduler_core::Resources;

use super::{pod_name, task_name};

/// Scheduler name used when neither the task template nor the Job names one.
pub const DEFAULT_SCHEDULER: &str = "volcano";

/// Job labels and annotations Volcano copies to pods.
const INHERITED: [&str; 5] = [
    labels::PREEMPTABLE,
    "volcano.sh/cooldown-time",
    "volcano.sh/revocable-zone",
    "volcano.sh/jdb-min-available",
    "volcano.sh/jdb-max-unavailable",
];

/// Annotation on PodGroups: the job version it was created for (Basalt's stale-PodGroup filter).
pub const PODGROUP_VERSION: &str = labels::JOB_VERSION;

/// The PodGroup name of a job: `<job>-<uid>`.
pub fn podgroup_name(job: &Job) -> String {
    format!("{}-{}", job.name_any(), job.uid().unwrap_or_default())
}

/// Controller owner reference to the job.
pub fn owner(job: &Job) -> OwnerReference {
    // `controller_owner_ref` only fails without a name or uid, which a stored Job always has.
    job.controller_owner_ref(&()).unwrap_or_default()
}

/// Builds pod `index` of `task` for the job's current version and retry count.
pub fn pod(job: &Job, task: &TaskSpec, index: i32) -> Pod {
    let status = job.status.clone().unwrap_or_default();
    let tname = task_name(task);
    let queue = job
        .spec
        .queue
        .clone()
        .unwrap_or_else(|| "default".to_owned());
    let template = &task.template;
    let mut meta_labels = template
        .metadata
        .as_ref()
        .and_then(|m| m.labels.clone())
        .unwrap_or_default();
    let mut annotations = template
        .metadata
        .as_ref()
        .and_then(|m| m.annotations.clone())
        .unwrap_or_default();
    for (k, v) in [
        (labels::JOB_NAME, job.name_any()),
        (labels::JOB_NAMESPACE, job.namespace().unwrap_or_default()),
        (labels::QUEUE_NAME, queue.clone()),
        (labels::TASK_SPEC, tname.clone()),
        (labels::TASK_INDEX, index.to_string()),
        (labels::MANAGED_BY, labels::MANAGED_BY_VALUE.to_owned()),
    ] {
        meta_labels.insert(k.to_owned(), v);
    }
    if let Some(size) = task
        .partition_policy
        .as_ref()
        .map(|p| p.partition_size)
        .filter(|&size| size > 0)
    {
        meta_labels.insert(
            labels::TASK_PARTITION_ID.to_owned(),
            (index / size).to_string(),
        );
    }
    for (k, v) in [
        (labels::JOB_NAME, job.name_any()),
        (labels::QUEUE_NAME, queue),
        (labels::TASK_SPEC, tname.clone()),
        (labels::TASK_INDEX, index.to_string()),
        (labels::JOB_VERSION, status.version.unwrap_or(0).to_string()),
        (
            labels::JOB_RETRY_COUNT,
            status.retry_count.unwrap_or(0).to_string(),
        ),
        (labels::TEMPLATE_UID, format!("{}-{tname}", job.name_any())),
        (labels::GROUP_NAME, podgroup_name(job)),
    ] {
        annotations.insert(k.to_owned(), v);
    }
    if let Some(policy) = task.topology_policy {
        let value = serde_json::to_value(policy)
            .ok()
            .and_then(|v| v.as_str().map(str::to_owned));
        if let Some(v) = value {
            annotations.insert("volcano.sh/numa-topology-policy".to_owned(), v);
        }
    }
    for key in INHERITED {
        if let Some(v) = job.annotations().get(key) {
            annotations.insert(key.to_owned(), v.clone());
        }
        if let Some(v) = job.labels().get(key) {
            meta_labels.insert(key.to_owned(), v.clone());
        }
    }
    let mut spec: PodSpec = template.spec.clone().unwrap_or_default();
    if spec.scheduler_name.as_deref().is_none_or(str::is_empty) {
        spec.scheduler_name = Some(
            job.spec
                .scheduler_name
                .clone()
                .unwrap_or_else(|| DEFAULT_SCHEDULER.to_owned()),
        );
    }
    if spec.priority_class_name.is_none() {
        spec.priority_class_name
            .clone_from(&job.spec.priority_class_name);
    }
    mount_job_volumes(job, &mut spec);
    Pod {
        metadata: ObjectMeta {
            name: Some(pod_name(job, task, index)),
            namespace: job.namespace(),
            labels: Some(meta_labels),
            annotations: Some(annotations),
            owner_references: Some(vec![owner(job)]),
            ..Default::default()
        },
        spec: Some(spec),
        status: None,
    }
}

/// Mounts `spec.volumes` entries that name an existing claim into every container.
fn mount_job_volumes(job: &Job, spec: &mut PodSpec) {
    for (i, v) in job.spec.volumes.iter().flatten().enumerate() {
        let Some(claim) = v.volume_claim_name.clone() else {
            continue;
        };
        let name = format!("{}-volume-{i}", job.name_any());
        spec.volumes.get_or_insert_default().push(Volume {
            name: name.clone(),
            persistent_volume_claim: Some(PersistentVolumeClaimVolumeSource {
                claim_name: claim,
                read_only: None,
            }),
            ..Default::default()
        });
        for c in &mut spec.containers {
            c.volume_mounts.get_or_insert_default().push(VolumeMount {
                name: name.clone(),
                mount_path: v.mount_path.clone(),
                ..Default::default()
            });
        }
    }
}

/// The pods of each task that make up the gang, in `job.spec.tasks` order, as Volcano's job
/// controller counts them for `minResources`. Tasks are visited by their template's PriorityClass
/// value (`priorities`, highest first; spec order among equals; a class not found counts as 0).
/// When minAvailable is below the sum of the tasks' own minimums (minAvailable, else replicas) the
/// job is elastic: the first minAvailable replicas in that order. Otherwise each task's
/// minAvailable first, then the remaining replicas, in that order.
pub fn gang_pods(job: &Job, priorities: &BTreeMap<String, i32>) -> Vec<i32> {
    let tasks = &job.spec.tasks;
    let min_member = job
        .spec
        .min_available
        .unwrap_or_else(|| super::state::total_replicas(job))
        .max(0);
    let replicas = |i: usize| tasks[i].replicas.unwrap_or(0).max(0);
    let own_min = |i: usize| tasks[i].min_available.map_or(replicas(i), |m| m.max(0));
    let mut order: Vec<usize> = (0..tasks.len()).collect();
    let priority = |i: usize| {
        let class = tasks[i]
            .template
            .spec
            .as_ref()?
            .priority_class_name
            .as_ref()?;
        priorities.get(class).copied()
    };
    order.sort_by_key(|&i| std::cmp::Reverse(priority(i).unwrap_or(0)));
    let mut taken = vec![0; tasks.len()];
    let mut left = min_member;
    let min_sum: i64 = (0..tasks.len()).map(|i| i64::from(own_min(i))).sum();
    if i64::from(min_member) >= min_sum {
        for &i in &order {
            let n = tasks[i].min_available.unwrap_or(0).max(0).min(left);
            taken[i] = n;
            left -= n;
        }
    }
    for &i in &order {
        let n = (replicas(i) - taken[i]).max(0).min(left);
        taken[i] += n;
        left -= n;
    }
    taken
}

/// The pods to create, in waves of equal task priority, highest first: the PriorityClass of
/// each task's pods (the template's, else the Job's) looked up in `priorities` (a class not
/// found counts as 0). A wave is created only once the waves before it exist, so the scheduler
/// never sees a lower-priority pod of the job while a higher-priority one is still missing:
/// with room for the gang only, it would place the lower-priority pods that exist and leave
/// the late higher-priority ones pending (a failed pod create, e2e `faults::task_priority_*`).
/// Within a wave, the order of `new` is kept.
pub fn creation_waves(
    job: &Job,
    new: &[super::state::NewPod],
    priorities: &BTreeMap<String, i32>,
) -> Vec<Vec<super::state::NewPod>> {
    let priority = |task: usize| {
        job.spec
            .tasks
            .get(task)
            .and_then(|t| t.template.spec.as_ref())
            .and_then(|s| s.priority_class_name.as_ref())
            .or(job.spec.priority_class_name.as_ref())
            .and_then(|class| priorities.get(class).copied())
            .unwrap_or(0)
    };
    let mut waves: BTreeMap<std::cmp::Reverse<i32>, Vec<super::state::NewPod>> = BTreeMap::new();
    for p in new {
        waves
            .entry(std::cmp::Reverse(priority(p.task)))
            .or_default()
            .push(*p);
    }
    waves.into_values().collect()
}

/// Builds the job's PodGroup. `minResources` sums the requests of the pods of [`gang_pods`];
/// `priorities` maps the PriorityClass names of the task templates to their values.
pub fn podgroup(job: &Job, priorities: &BTreeMap<String, i32>) -> PodGroup {
    let min_member = job
        .spec
        .min_available
        .unwrap_or_else(|| super::state::total_replicas(job));
    let min_task_member: BTreeMap<String, i32> = job
        .spec
        .tasks
        .iter()
        .filter_map(|t| Some((task_name(t), t.min_available?)))
        .collect();
    let mut min_resources = Resources::new();
    for (t, n) in job.spec.tasks.iter().zip(gang_pods(job, priorities)) {
        let per_pod = pod_requests(&t.template.spec.clone().unwrap_or_default());
        for _ in 0..n {
            min_resources.add(&per_pod);
        }
    }
    let mut meta_labels = job.labels().clone();
    meta_labels.insert(
        labels::MANAGED_BY.to_owned(),
        labels::MANAGED_BY_VALUE.to_owned(),
    );
    let mut annotations = job.annotations().clone();
    annotations.remove("kubectl.kubernetes.io/last-applied-configuration");
    let version = job.status.as_ref().and_then(|s| s.version).unwrap_or(0);
    annotations.insert(PODGROUP_VERSION.to_owned(), version.to_string());
    PodGroup {
        metadata: ObjectMeta {
            name: Some(podgroup_name(job)),
            namespace: job.namespace(),
            labels: Some(meta_labels),
            annotations: Some(annotations),
            owner_references: Some(vec![owner(job)]),
            ..Default::default()
        },
        spec: PodGroupSpec {
            min_member: Some(min_member),
            min_task_member: (!min_task_member.is_empty()).then_some(min_task_member),
            queue: Some(
                job.spec
                    .queue
                    .clone()
                    .unwrap_or_else(|| "default".to_owned()),
            ),
            priority_class_name: job.spec.priority_class_name.clone(),
            min_resources: (!min_resources.is_empty()).then(|| to_list(&min_resources)),
            network_topology: job.spec.network_topology.clone(),
            sub_group_policy: None,
        },
        status: None,
    }
}

/// True when the spec fields the job controller owns differ (the PodGroup needs an update).
pub fn podgroup_drifted(current: &PodGroup, desired: &PodGroup) -> bool {
    let (a, b) = (&current.spec, &desired.spec);
    a.min_member != b.min_member
        || a.min_task_member != b.min_task_member
        || a.min_resources != b.min_resources
        || a.priority_class_name != b.priority_class_name
}
