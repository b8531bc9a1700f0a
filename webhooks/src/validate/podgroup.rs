//! PodGroup (CREATE) rules: the queue exists and is Open; member counts are not negative;
//! network-topology tier fields are exclusive, for the group and each sub-group policy. A queue
//! the mutating webhook took from the namespace's `scheduling.volcano.sh/queue-name` annotation
//! is checked like any other (as Volcano's validating webhook does), and a refusal says where
//! the name came from.

use crds::PodGroupSpec;

use crate::report::Report;
use crate::state::ClusterState;
use crate::validate::job::{check_network_topology, check_queue};

/// Checks a PodGroup spec. `namespace_queue` is the namespace's name and the queue its
/// `scheduling.volcano.sh/queue-name` annotation names, when it has one.
pub fn check_podgroup(
    spec: &PodGroupSpec,
    namespace_queue: Option<(&str, &str)>,
    state: &dyn ClusterState,
    r: &mut Report,
) {
    if spec.min_member.is_some_and(|m| m < 0) {
        r.refuse("spec.minMember", "is negative", "set it to 0 or more");
    }
    for (task, m) in spec.min_task_member.iter().flatten() {
        if *m < 0 {
            r.refuse(
                &format!("spec.minTaskMember[{task:?}]"),
                "is negative",
                "set it to 0 or more",
            );
        }
    }
    let queue = spec
        .queue
        .as_deref()
        .filter(|q| !q.is_empty())
        .unwrap_or("default");
    let path = match namespace_queue {
        Some((ns, annotated)) if annotated == queue => format!(
            "spec.queue (set from the {} annotation of namespace {ns:?})",
            crds::labels::SCHEDULING_QUEUE_NAME
        ),
        _ => "spec.queue".to_owned(),
    };
    check_queue(queue, &path, false, state, r, false);
    if let Some(nt) = &spec.network_topology {
        check_network_topology(nt, "spec.networkTopology", r);
    }
    for (i, sg) in spec.sub_group_policy.iter().flatten().enumerate() {
        if let Some(nt) = &sg.network_topology {
            check_network_topology(nt, &format!("spec.subGroupPolicy[{i}].networkTopology"), r);
        }
        if sg.sub_group_size.is_some_and(|s| s < 1) {
            r.refuse(
                &format!("spec.subGroupPolicy[{i}].subGroupSize"),
                "is below 1",
                "set it to 1 or more",
            );
        }
        if sg.min_sub_groups.is_some_and(|s| s < 0) {
            r.refuse(
                &format!("spec.subGroupPolicy[{i}].minSubGroups"),
                "is negative",
                "set it to 0 or more",
            );
        }
    }
}
