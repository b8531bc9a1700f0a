//! Pure arithmetic for `basalt why`'s queue facts: a job's unplaced demand and which running pods
//! of a queue would free enough when they finish. Placement itself is decided by the scheduler's
//! dry-run session (`cli::session`), never here.

use crds::job::Job;
use k8s_openapi::api::core::v1::Pod;
use kube::ResourceExt;
use scheduler_core::Resources;
use scheduler_core::quantity::format_resource_amount;

use super::common;

/// Unplaced pods of `job` as (task, requests): created pods without a node plus replicas not created.
pub fn unplaced_demand(job: &Job, pods: &[&Pod]) -> Vec<(String, Resources)> {
    let mut out = Vec::new();
    for task in &job.spec.tasks {
        let name = task.name.clone().unwrap_or_default();
        let req = task
            .template
            .spec
            .as_ref()
            .map(bridge::resources::pod_requests)
            .unwrap_or_default();
        let done = pods
            .iter()
            .filter(|p| p.annotations().get(crds::labels::TASK_SPEC) == Some(&name))
            .filter(|p| {
                p.spec.as_ref().and_then(|s| s.node_name.as_ref()).is_some()
                    || matches!(
                        p.status.as_ref().and_then(|s| s.phase.as_deref()),
                        Some("Succeeded" | "Failed")
                    )
            })
            .count();
        let missing = (task.replicas.unwrap_or(1).max(0) as usize).saturating_sub(done);
        out.extend(std::iter::repeat_n((name, req), missing));
    }
    out
}

/// Expected end (seconds since epoch) of a running pod at `now`, and where its run time comes
/// from. The scheduler's own estimate first — the pod's `basalt.dev/expected-runtime`
/// annotation, else its `activeDeadlineSeconds`
/// (`bridge::snapshot::declared_runtime_ms`) — then, on `basalt up`, the
/// simulated run time `sim.basalt.dev/duration`. A pod past that end is expected to run as long
/// again as it has so far, the scheduler's overrun rule
/// (`scheduler_core::plugins::reservation::overrun_end`).
pub fn expected_end(pod: &Pod, now: i64) -> Option<(i64, &'static str)> {
    let start = pod.status.as_ref()?.start_time.as_ref()?.0.as_second();
    let (secs, source) = match bridge::snapshot::declared_runtime_ms(pod) {
        Some(ms) => (
            i64::try_from(ms.div_ceil(1000)).unwrap_or(i64::MAX),
            "the declared run time (basalt.dev/expected-runtime or activeDeadlineSeconds)",
        ),
        None => (
            common::parse_duration_secs(pod.annotations().get(common::SIM_DURATION)?)?,
            "the simulated run time sim.basalt.dev/duration",
        ),
    };
    let end = scheduler_core::plugins::reservation::overrun_end(
        start.max(0) as u64,
        secs.max(0) as u64,
        now.max(0) as u64,
    );
    Some((i64::try_from(end).unwrap_or(i64::MAX), source))
}

fn when(end: Option<(i64, &'static str)>, now: i64) -> String {
    match end {
        Some((e, source)) => format!(
            "in ~{} (from {source} and start times)",
            common::human_secs((e - now).max(0))
        ),
        None => "(run times unknown: no basalt.dev/expected-runtime, activeDeadlineSeconds or sim.basalt.dev/duration)".into(),
    }
}

/// Sorted by expected end (unknown last): how many pods must finish to free `amount` of `res`.
pub fn frees_within(running: &[&Pod], res: &str, amount: i64, now: i64, scope: &str) -> String {
    let mut sorted: Vec<&&Pod> = running
        .iter()
        .filter(|p| common::requests(p).get(res) > 0)
        .collect();
    sorted.sort_by_key(|p| expected_end(p, now).map_or(i64::MAX, |(e, _)| e));
    let mut freed = 0;
    let mut names = Vec::new();
    let mut last = Some((now, ""));
    for p in sorted {
        if freed >= amount {
            break;
        }
        freed += common::requests(p).get(res);
        names.push(p.name_any());
        last = match (last, expected_end(p, now)) {
            (Some((a, sa)), Some((b, sb))) => Some(if b >= a { (b, sb) } else { (a, sa) }),
            _ => None,
        };
    }
    if freed < amount {
        return format!(
            "running pods {scope} hold only {}; finishing them is not enough",
            fmt(res, freed)
        );
    }
    format!(
        "{} frees {scope} when {} running pod(s) finish ({}) {}",
        fmt(res, freed),
        names.len(),
        names.iter().take(4).cloned().collect::<Vec<_>>().join(", "),
        when(last, now)
    )
}

fn fmt(res: &str, v: i64) -> String {
    format!("{} {res}", format_resource_amount(res, v))
}
