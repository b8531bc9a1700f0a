//! Defaulting (Volcano's mutating webhook, CREATE only): fills what users may leave out and
//! records every change as a JSONPatch operation. The same functions give the validators the
//! defaulted view, so rules never depend on whether mutation ran first.

use crds::{JobSpec, PodGroupSpec, QueueSpec};
use serde_json::{Value, json};

use crate::review::{PatchOp, pointer_segment};

/// The scheduler name set on Jobs that name none (Volcano's first `--scheduler-name`).
pub const DEFAULT_SCHEDULER: &str = "volcano";
/// The queue set on Jobs that name none.
pub const DEFAULT_QUEUE: &str = "default";
/// The retry budget set when `maxRetry` is 0 or absent.
pub const DEFAULT_MAX_RETRY: i32 = 3;

/// Distributed-training plugins that need the `svc` plugin (pods find each other by name).
const NEEDS_SVC: &[&str] = &["tensorflow", "mpi", "pytorch", "ray"];

/// Fills a Job spec's defaults in place (`scheduler_name` for a Job naming no scheduler) and returns the patch that does the same to the object.
pub fn default_job(spec: &mut JobSpec, scheduler_name: &str) -> Vec<PatchOp> {
    let mut ops = Vec::new();
    if spec.queue.as_deref().is_none_or(str::is_empty) {
        spec.queue = Some(DEFAULT_QUEUE.to_owned());
        ops.push(PatchOp::add("/spec/queue", json!(DEFAULT_QUEUE)));
    }
    if spec.scheduler_name.as_deref().is_none_or(str::is_empty) {
        spec.scheduler_name = Some(scheduler_name.to_owned());
        ops.push(PatchOp::add("/spec/schedulerName", json!(scheduler_name)));
    }
    if spec.max_retry.unwrap_or(0) == 0 {
        spec.max_retry = Some(DEFAULT_MAX_RETRY);
        ops.push(PatchOp::add("/spec/maxRetry", json!(DEFAULT_MAX_RETRY)));
    }
    let mut gang = 0i32;
    for (i, task) in spec.tasks.iter_mut().enumerate() {
        let base = format!("/spec/tasks/{i}");
        if task.name.as_deref().is_none_or(str::is_empty) {
            let name = format!("default{i}");
            ops.push(PatchOp::add(format!("{base}/name"), json!(name)));
            task.name = Some(name);
        }
        if task.min_available.is_none() {
            let replicas = task.replicas.unwrap_or(0);
            let min = match &task.partition_policy {
                Some(p) if p.min_partitions.unwrap_or(0) > 0 => p
                    .min_partitions
                    .unwrap_or(0)
                    .saturating_mul(p.partition_size),
                _ => replicas,
            };
            task.min_available = Some(min);
            ops.push(PatchOp::add(format!("{base}/minAvailable"), json!(min)));
        }
        if task.max_retry.unwrap_or(0) == 0 {
            task.max_retry = Some(DEFAULT_MAX_RETRY);
            ops.push(PatchOp::add(
                format!("{base}/maxRetry"),
                json!(DEFAULT_MAX_RETRY),
            ));
        }
        if let Some(pod) = task.template.spec.as_mut()
            && pod.host_network == Some(true)
            && pod.dns_policy.as_deref().is_none_or(str::is_empty)
        {
            pod.dns_policy = Some("ClusterFirstWithHostNet".to_owned());
            ops.push(PatchOp::add(
                format!("{base}/template/spec/dnsPolicy"),
                json!("ClusterFirstWithHostNet"),
            ));
        }
        gang = gang.saturating_add(task.min_available.unwrap_or(0).max(0));
    }
    if spec.min_available.unwrap_or(0) == 0 && gang > 0 {
        spec.min_available = Some(gang);
        ops.push(PatchOp::add("/spec/minAvailable", json!(gang)));
    }
    default_plugins(spec, &mut ops);
    ops
}

fn default_plugins(spec: &mut JobSpec, ops: &mut Vec<PatchOp>) {
    let Some(plugins) = spec.plugins.as_ref() else {
        return;
    };
    let mut wanted = Vec::new();
    if NEEDS_SVC.iter().any(|p| plugins.contains_key(*p)) && !plugins.contains_key("svc") {
        wanted.push("svc");
    }
    if plugins.contains_key("mpi") && !plugins.contains_key("ssh") {
        wanted.push("ssh");
    }
    let plugins = spec.plugins.get_or_insert_default();
    for name in wanted {
        plugins.insert(name.to_owned(), Vec::new());
        ops.push(PatchOp::add(
            format!("/spec/plugins/{}", pointer_segment(name)),
            json!([]),
        ));
    }
}

/// Volcano's PodGroup defaulting: a PodGroup of the default queue (`default`, or no queue at all,
/// which Basalt reads as `default`) moves to the queue its namespace's
/// `scheduling.volcano.sh/queue-name` annotation names; any other queue is kept. `namespace` is
/// the namespace's annotations, `None` when the namespace is unknown (Volcano then admits the
/// PodGroup unchanged). An empty annotation names no queue and is ignored. Whether the queue
/// exists and is Open is the validating webhook's question, as in Volcano.
pub fn default_podgroup(
    spec: &mut PodGroupSpec,
    namespace: Option<&std::collections::BTreeMap<String, String>>,
) -> Vec<PatchOp> {
    let uses_default = spec
        .queue
        .as_deref()
        .is_none_or(|q| q.is_empty() || q == DEFAULT_QUEUE);
    let target = namespace
        .and_then(|a| a.get(crds::labels::SCHEDULING_QUEUE_NAME))
        .filter(|q| !q.is_empty());
    match target {
        Some(queue) if uses_default && spec.queue.as_deref() != Some(queue.as_str()) => {
            spec.queue = Some(queue.clone());
            vec![PatchOp::add("/spec/queue", json!(queue))]
        }
        _ => Vec::new(),
    }
}

/// Annotation holding a queue's path in the hierarchy (`root/a/b`).
pub const HIERARCHY: &str = "volcano.sh/hierarchy";
/// Annotation holding the weights along that path (`1/2/3`).
pub const HIERARCHY_WEIGHTS: &str = "volcano.sh/hierarchy-weights";

/// Fills a Queue's defaults in place: `reclaimable: true`, `preemptable: true`, `weight: 1`, and the `root/` prefix
/// of the hierarchy annotations. `annotations` is the object's `metadata.annotations`.
pub fn default_queue(spec: &mut QueueSpec, annotations: Option<&Value>) -> Vec<PatchOp> {
    let mut ops = Vec::new();
    if spec.reclaimable.is_none() {
        spec.reclaimable = Some(true);
        ops.push(PatchOp::add("/spec/reclaimable", json!(true)));
    }
    if spec.preemptable.is_none() {
        spec.preemptable = Some(true);
        ops.push(PatchOp::add("/spec/preemptable", json!(true)));
    }
    if spec.weight.unwrap_or(0) == 0 {
        spec.weight = Some(1);
        ops.push(PatchOp::add("/spec/weight", json!(1)));
    }
    let get = |key: &str| annotations.and_then(|a| a.get(key)).and_then(Value::as_str);
    if let Some(path) =
        get(HIERARCHY).filter(|p| !p.is_empty() && *p != "root" && !p.starts_with("root/"))
    {
        ops.push(PatchOp::add(
            format!("/metadata/annotations/{}", pointer_segment(HIERARCHY)),
            json!(format!("root/{path}")),
        ));
        if let Some(weights) = get(HIERARCHY_WEIGHTS).filter(|w| !w.is_empty()) {
            ops.push(PatchOp::add(
                format!(
                    "/metadata/annotations/{}",
                    pointer_segment(HIERARCHY_WEIGHTS)
                ),
                json!(format!("1/{weights}")),
            ));
        }
    }
    ops
}

#[cfg(test)]
mod tests {
    use super::*;
    use crds::TaskSpec;

    #[test]
    fn job_defaults_follow_volcano() {
        let mut spec = JobSpec {
            tasks: vec![
                TaskSpec {
                    replicas: Some(1),
                    ..Default::default()
                },
                TaskSpec {
                    name: Some("w".into()),
                    replicas: Some(3),
                    min_available: Some(2),
                    ..Default::default()
                },
            ],
            plugins: Some([("mpi".to_owned(), vec![])].into()),
            ..Default::default()
        };
        let ops = default_job(&mut spec, DEFAULT_SCHEDULER);
        assert_eq!(spec.queue.as_deref(), Some("default"));
        assert_eq!(spec.scheduler_name.as_deref(), Some("volcano"));
        assert_eq!(spec.max_retry, Some(3));
        assert_eq!(spec.tasks[0].name.as_deref(), Some("default0"));
        assert_eq!(spec.tasks[0].min_available, Some(1));
        assert_eq!(spec.min_available, Some(3));
        let plugins = spec.plugins.as_ref().unwrap();
        assert!(plugins.contains_key("svc") && plugins.contains_key("ssh"));
        assert!(ops.iter().any(|o| o.path == "/spec/plugins/ssh"));
        // Defaulting twice changes nothing.
        assert!(default_job(&mut spec, DEFAULT_SCHEDULER).is_empty());
    }

    /// Volcano's `createQueuePatch`, row by row: only the default queue moves, only to a queue a
    /// namespace annotation names.
    #[test]
    fn podgroup_of_the_default_queue_moves_to_the_namespace_queue() {
        use std::collections::BTreeMap;
        let annotated: BTreeMap<String, String> = [(
            crds::labels::SCHEDULING_QUEUE_NAME.to_owned(),
            "team-a".to_owned(),
        )]
        .into();
        let bare = BTreeMap::new();
        let empty: BTreeMap<String, String> = [(
            crds::labels::SCHEDULING_QUEUE_NAME.to_owned(),
            String::new(),
        )]
        .into();
        let queue_after = |queue: Option<&str>, ns: Option<&BTreeMap<String, String>>| {
            let mut spec = PodGroupSpec {
                queue: queue.map(str::to_owned),
                ..Default::default()
            };
            let ops = default_podgroup(&mut spec, ns);
            // The patch and the in-place spec agree; a second pass changes nothing.
            assert_eq!(ops.is_empty(), spec.queue.as_deref() == queue, "{ops:?}");
            assert!(default_podgroup(&mut spec, ns).is_empty());
            spec.queue
        };
        let team_a = Some("team-a".to_owned());
        assert_eq!(queue_after(Some("default"), Some(&annotated)), team_a);
        assert_eq!(queue_after(None, Some(&annotated)), team_a);
        assert_eq!(queue_after(Some(""), Some(&annotated)), team_a);
        assert_eq!(
            queue_after(Some("custom"), Some(&annotated)),
            Some("custom".to_owned())
        );
        assert_eq!(
            queue_after(Some("default"), Some(&bare)),
            Some("default".to_owned())
        );
        assert_eq!(
            queue_after(Some("default"), Some(&empty)),
            Some("default".to_owned())
        );
        // Namespace unknown to the view: admitted unchanged, as Volcano does when its lookup fails.
        assert_eq!(
            queue_after(Some("default"), None),
            Some("default".to_owned())
        );
        let mut spec = PodGroupSpec {
            queue: Some("default".into()),
            ..Default::default()
        };
        assert_eq!(
            default_podgroup(&mut spec, Some(&annotated)),
            vec![PatchOp::add("/spec/queue", json!("team-a"))]
        );
    }
}
