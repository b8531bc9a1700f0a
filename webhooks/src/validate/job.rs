//! Job rules (CREATE and UPDATE) and the JobTemplate rules, which are the same spec rules.
//! Structural checks run on the defaulted spec (see [`crate::mutate::default_job`]) so the
//! outcome does not depend on whether the mutating webhook ran first.

use std::collections::{BTreeMap, BTreeSet};

use crds::JobSpec;
use crds::common::NetworkTopologySpec;

use crate::report::{Report, is_dns_label};
use crate::state::{ClusterState, is_open, state_name};
use crate::validate::graph::find_cycle;
use crate::validate::policy::check_policies;

/// Job plugins the job controller knows (Volcano's registry).
pub const KNOWN_PLUGINS: &[&str] = &[
    "env",
    "svc",
    "ssh",
    "tensorflow",
    "mpi",
    "pytorch",
    "ray",
    "hcclrank",
];

/// Structural rules of a (defaulted) Job spec; `job_name` may be empty (generateName).
pub fn check_spec(spec: &JobSpec, job_name: &str, r: &mut Report) {
    check_spec_on(spec, job_name, false, r);
}

/// `check_spec` for an update (`update`): there a volume may carry both its `volumeClaim`
/// template and the claim name the job controller generated for it (the update rules allow only
/// that change to `spec.volumes`).
pub fn check_spec_on(spec: &JobSpec, job_name: &str, update: bool, r: &mut Report) {
    if spec.tasks.is_empty() {
        r.refuse(
            "spec.tasks",
            "is empty",
            "add at least one task with replicas and a pod template",
        );
    }
    let mut names: BTreeMap<&str, usize> = BTreeMap::new();
    let mut total_replicas: i64 = 0;
    for (i, task) in spec.tasks.iter().enumerate() {
        let path = format!("spec.tasks[{i}]");
        let name = task.name.as_deref().unwrap_or("");
        if !is_dns_label(name) {
            r.refuse(
                &format!("{path}.name"),
                format!("{name:?} is not a DNS-1123 label"),
                "use lowercase letters, digits and '-', at most 63 characters",
            );
        } else if let Some(first) = names.insert(name, i) {
            r.refuse(
                &format!("{path}.name"),
                format!("{name:?} is already used by spec.tasks[{first}]"),
                "give every task a unique name",
            );
        }
        let replicas = task.replicas.unwrap_or(0);
        total_replicas += i64::from(replicas.max(0));
        if replicas < 0 {
            r.refuse(
                &format!("{path}.replicas"),
                format!("is {replicas}"),
                "set it to 0 or more",
            );
        }
        let min = task.min_available.unwrap_or(replicas);
        if min < 0 || min > replicas.max(0) {
            r.refuse(
                &format!("{path}.minAvailable"),
                format!("is {min} but replicas is {replicas}"),
                format!("set minAvailable between 0 and {}", replicas.max(0)),
            );
        }
        if task.max_retry.unwrap_or(0) < 0 {
            r.refuse(
                &format!("{path}.maxRetry"),
                "is negative",
                "set it to 0 or more",
            );
        }
        check_policies(
            task.policies.as_deref().unwrap_or(&[]),
            &format!("{path}.policies"),
            r,
        );
        crate::validate::pod::check_template(&task.template, &format!("{path}.template"), r);
        check_pod_names(job_name, name, replicas, &path, r);
        check_topology_policy(task, &path, r);
        if let Some(p) = &task.partition_policy {
            check_partition(p, replicas, min, &path, r);
        }
    }
    check_task_dependencies(spec, r);
    let job_min = spec.min_available.unwrap_or(0);
    if job_min < 0 || i64::from(job_min) > total_replicas {
        r.refuse(
            "spec.minAvailable",
            format!("is {job_min} but the tasks have {total_replicas} replicas in total"),
            format!("set minAvailable between 0 and {total_replicas}, or add replicas"),
        );
    }
    if spec.max_retry.unwrap_or(0) < 0 {
        r.refuse("spec.maxRetry", "is negative", "set it to 0 or more");
    }
    if spec.ttl_seconds_after_finished.unwrap_or(0) < 0 {
        r.refuse(
            "spec.ttlSecondsAfterFinished",
            "is negative",
            "set it to 0 or more, or remove it",
        );
    }
    if spec.min_success.is_some_and(|m| m < 1) {
        r.refuse(
            "spec.minSuccess",
            "is below 1",
            "set it to 1 or more, or remove it",
        );
    }
    check_policies(spec.policies.as_deref().unwrap_or(&[]), "spec.policies", r);
    check_plugins(spec, &names, r);
    check_volumes(spec, update, r);
    if let Some(nt) = &spec.network_topology {
        check_network_topology(nt, "spec.networkTopology", r);
    }
}

fn check_pod_names(job: &str, task: &str, replicas: i32, path: &str, r: &mut Report) {
    if job.is_empty() || task.is_empty() || replicas <= 0 {
        return;
    }
    let longest = format!("{job}-{task}-{}", replicas - 1);
    if longest.len() > 63 {
        r.refuse(
            &format!("{path}.name"),
            format!("makes pod names like {longest:?} longer than 63 characters"),
            "shorten the job or task name",
        );
    }
}

fn check_topology_policy(task: &crds::TaskSpec, path: &str, r: &mut Report) {
    use crds::job::NumaPolicy;
    if matches!(task.topology_policy, None | Some(NumaPolicy::None)) {
        return;
    }
    let containers = task
        .template
        .spec
        .as_ref()
        .map(|s| s.containers.as_slice())
        .unwrap_or(&[]);
    for (i, c) in containers.iter().enumerate() {
        let cpu = crate::resources::container_requests(c)
            .get("cpu")
            .copied()
            .unwrap_or(0);
        if cpu % 1000 != 0 {
            r.refuse(
                &format!("{path}.template.spec.containers[{i}].resources.requests[\"cpu\"]"),
                format!(
                    "is {}m, not a whole number of CPUs, while topologyPolicy is set",
                    cpu
                ),
                "request whole CPUs (e.g. \"2\") or remove topologyPolicy",
            );
        }
    }
}

fn check_partition(
    p: &crds::job::PartitionPolicySpec,
    replicas: i32,
    min: i32,
    path: &str,
    r: &mut Report,
) {
    let ppath = format!("{path}.partitionPolicy");
    if p.total_partitions < 1 || p.partition_size < 1 {
        r.refuse(
            &ppath,
            "needs totalPartitions and partitionSize of at least 1",
            "set both to 1 or more",
        );
        return;
    }
    let product = i64::from(p.total_partitions) * i64::from(p.partition_size);
    if product != i64::from(replicas) {
        r.refuse(
            &format!("{path}.replicas"),
            format!(
                "is {replicas} but partitionPolicy gives {} × {} = {product}",
                p.total_partitions, p.partition_size
            ),
            "make replicas equal totalPartitions × partitionSize",
        );
    }
    let min_parts = p.min_partitions.unwrap_or(0);
    if min_parts < 0 || min_parts > p.total_partitions {
        r.refuse(
            &format!("{ppath}.minPartitions"),
            format!("is {min_parts}"),
            format!("set it between 0 and {}", p.total_partitions),
        );
    } else if min_parts > 0 && i64::from(min) != i64::from(min_parts) * i64::from(p.partition_size)
    {
        r.refuse(
            &format!("{path}.minAvailable"),
            format!(
                "is {min} but minPartitions × partitionSize is {}",
                i64::from(min_parts) * i64::from(p.partition_size)
            ),
            "make them equal or remove minAvailable",
        );
    }
    if let Some(nt) = &p.network_topology {
        check_network_topology(nt, &format!("{ppath}.networkTopology"), r);
    }
}

/// `highestTierAllowed` and `highestTierName` are mutually exclusive.
pub fn check_network_topology(nt: &NetworkTopologySpec, path: &str, r: &mut Report) {
    if nt.highest_tier_allowed.is_some() && nt.highest_tier_name.is_some() {
        r.refuse(
            path,
            "sets both highestTierAllowed and highestTierName",
            "keep only one of them",
        );
    }
    if nt.highest_tier_allowed.is_some_and(|t| t < 0) {
        r.refuse(
            &format!("{path}.highestTierAllowed"),
            "is negative",
            "set it to 0 or more",
        );
    }
}

fn check_task_dependencies(spec: &JobSpec, r: &mut Report) {
    let names: BTreeSet<&str> = spec
        .tasks
        .iter()
        .filter_map(|t| t.name.as_deref())
        .collect();
    let mut edges: BTreeMap<&str, Vec<&str>> = BTreeMap::new();
    let mut order = Vec::new();
    for (i, task) in spec.tasks.iter().enumerate() {
        let Some(name) = task.name.as_deref() else {
            continue;
        };
        order.push(name);
        let deps = task
            .depends_on
            .as_ref()
            .and_then(|d| d.name.as_deref())
            .unwrap_or(&[]);
        for dep in deps {
            if !names.contains(dep.as_str()) {
                r.refuse(
                    &format!("spec.tasks[{i}].dependsOn.name"),
                    format!("names task {dep:?}, which this job does not have"),
                    format!(
                        "use one of {}",
                        names.iter().copied().collect::<Vec<_>>().join(", ")
                    ),
                );
            }
        }
        edges.insert(
            name,
            deps.iter()
                .map(String::as_str)
                .filter(|d| names.contains(d))
                .collect(),
        );
    }
    if let Some(cycle) = find_cycle(&order, &edges) {
        r.refuse(
            "spec.tasks[*].dependsOn",
            format!("forms a cycle: {}", cycle.join(" -> ")),
            "remove one dependency so the tasks form a DAG",
        );
    }
}

fn check_plugins(spec: &JobSpec, tasks: &BTreeMap<&str, usize>, r: &mut Report) {
    let Some(plugins) = &spec.plugins else { return };
    for (name, args) in plugins {
        if !KNOWN_PLUGINS.contains(&name.as_str()) {
            r.refuse(
                &format!("spec.plugins[{name:?}]"),
                "is not a job plugin",
                format!("use one of {}", KNOWN_PLUGINS.join(", ")),
            );
        }
        if ["mpi", "pytorch", "tensorflow"].contains(&name.as_str())
            && let Some(port) = crds::job::plugin_flag(args, "port")
            && !port.parse::<u16>().is_ok_and(|p| p > 0)
        {
            r.refuse(
                &format!("spec.plugins[{name:?}]"),
                format!("argument --port={port:?} is not a port number"),
                "use an integer from 1 to 65535, or leave --port out for the plugin's default",
            );
        }
        if name == "mpi" {
            let master = args
                .iter()
                .find_map(|a| a.strip_prefix("--master="))
                .unwrap_or("master");
            if !tasks.contains_key(master) {
                r.refuse(
                    "spec.plugins[\"mpi\"]",
                    format!("needs a master task named {master:?}, which this job does not have"),
                    "add that task or pass --master=<task> to the mpi plugin",
                );
            }
        }
    }
}

fn check_volumes(spec: &JobSpec, update: bool, r: &mut Report) {
    let mut paths = BTreeSet::new();
    for (i, v) in spec.volumes.iter().flatten().enumerate() {
        let path = format!("spec.volumes[{i}]");
        if v.mount_path.is_empty() {
            r.refuse(
                &format!("{path}.mountPath"),
                "is empty",
                "set the directory to mount the volume at",
            );
        } else if v.mount_path.contains(':') {
            r.refuse(
                &format!("{path}.mountPath"),
                "contains ':'",
                "use a path without ':'",
            );
        } else if !paths.insert(v.mount_path.as_str()) {
            r.refuse(
                &format!("{path}.mountPath"),
                format!("{:?} is used by another volume", v.mount_path),
                "mount every volume at its own path",
            );
        }
        let named = v
            .volume_claim_name
            .as_deref()
            .is_some_and(|n| !n.is_empty());
        match (named, v.volume_claim.is_some()) {
            (true, true) if !update => r.refuse(
                &path,
                "sets both volumeClaimName and volumeClaim",
                "name an existing claim or describe a new one, not both",
            ),
            (false, false) => r.refuse(
                &path,
                "sets neither volumeClaimName nor volumeClaim",
                "name an existing claim or describe a new one",
            ),
            _ => {}
        }
    }
}

/// The queue a Job (or PodGroup) is submitted to must exist, be Open, not be `root` and have no
/// child queues. `path` is the field naming the queue. With `warn_only` (JobTemplates) problems
/// are warnings: the queue may exist by the time a Job is created from the template.
pub fn check_queue(
    queue: &str,
    path: &str,
    leaf_only: bool,
    state: &dyn ClusterState,
    r: &mut Report,
    warn_only: bool,
) {
    let mut say = |problem: String, fix: String| {
        if warn_only {
            r.warn(path, problem, fix)
        } else {
            r.refuse(path, problem, fix)
        }
    };
    if queue == "root" && leaf_only {
        say(
            "is \"root\", which only holds other queues".into(),
            "submit to a leaf queue such as \"default\"".into(),
        );
        return;
    }
    let Some(q) = state.queue(queue) else {
        say(
            format!("names queue {queue:?}, which does not exist"),
            format!("create it (kind: Queue, name: {queue}) or use an existing queue"),
        );
        return;
    };
    if !is_open(&q) {
        say(
            format!("names queue {queue:?}, which is {}", state_name(&q)),
            format!("open it with `basalt queue open {queue}` or use another queue"),
        );
    }
    if leaf_only {
        let children: Vec<String> = state
            .queues()
            .iter()
            .filter(|c| c.spec.parent.as_deref() == Some(queue))
            .filter_map(|c| c.metadata.name.clone())
            .collect();
        if !children.is_empty() {
            say(
                format!(
                    "names queue {queue:?}, which has child queues ({})",
                    children.join(", ")
                ),
                "submit to one of the child queues; jobs run only in leaf queues".into(),
            );
        }
    }
}
