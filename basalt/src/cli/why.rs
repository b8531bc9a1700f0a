//! `basalt why JOB`: why a job is pending and what would unblock it. Placement answers come from
//! the scheduler itself: a dry-run session of `scheduler_core` on a snapshot built by the
//! scheduler loop's own builder (`cli::session`), and what-if sessions that confirm each
//! suggestion. Queue facts (state, capability, jobs ahead) and what the scheduler last published
//! (PodGroup conditions, `PodScheduled=False` messages, `FailedScheduling` events) complete it.

use anyhow::Context as _;
use crds::job::Job;
use crds::podgroup::PodGroup;
use crds::queue::{Queue, QueueState};
use k8s_openapi::api::core::v1::{Event, Node, Pod};
use k8s_openapi::api::scheduling::v1::PriorityClass;
use kube::ResourceExt;
use kube::api::{Api, ListParams};
use scheduler_core::Resources;
use scheduler_core::quantity::format_resource_amount;
use serde::Serialize;

use super::common::{self, Conn};
use super::{placement, session};

/// Everything `why` found, in the order it prints it.
#[derive(Debug, Default, Serialize)]
pub struct Diagnosis {
    /// `namespace/name`.
    pub job: String,
    /// Job phase.
    pub phase: String,
    /// The job's queue.
    pub queue: String,
    /// Pods of the job not on a node (created or still to be created).
    pub unplaced: usize,
    /// What keeps the job pending, most decisive first.
    pub causes: Vec<String>,
    /// The queue's shares and the jobs queued before this one.
    pub queue_position: Vec<String>,
    /// What would unblock it.
    pub unblock: Vec<String>,
    /// Whether preemption or reclaim was considered.
    pub preemption: String,
    /// What a dry-run scheduling session on the live state decides for the job.
    pub session: Vec<String>,
    /// The scheduler configuration the dry run used.
    pub session_config: String,
    /// The scheduler's latest published explanation.
    pub scheduler_says: Option<String>,
}

/// Live objects `diagnose` reads.
pub struct Inputs<'a> {
    /// The job.
    pub job: &'a Job,
    /// Its PodGroup, if created.
    pub podgroup: Option<&'a PodGroup>,
    /// Its queue, if it exists.
    pub queue: Option<&'a Queue>,
    /// Every pod.
    pub pods: &'a [Pod],
    /// Every PodGroup.
    pub podgroups: &'a [PodGroup],
    /// Events of the job's namespace.
    pub events: &'a [Event],
    /// Now, seconds since the epoch.
    pub now: i64,
    /// The dry-run session's findings (`None`: the job has no PodGroup yet).
    pub session: Option<&'a Findings>,
}

/// What the dry-run and what-if sessions found for the job.
#[derive(Debug, Default)]
pub struct Findings {
    /// The session's verdict.
    pub verdict: session::Verdict,
    /// Confirmed unblockers.
    pub unblock: Vec<String>,
    /// Which configuration the sessions ran with.
    pub config: String,
}

/// Runs `basalt why`.
pub async fn run(
    conn: &Conn,
    name: &str,
    config: Option<&std::path::Path>,
    scheduler_names: &[String],
) -> anyhow::Result<()> {
    let (config_text, config_name) = match config {
        Some(p) => (
            std::fs::read_to_string(p)
                .with_context(|| format!("reading --scheduler-config {}", p.display()))?,
            p.display().to_string(),
        ),
        None => (
            controllers::scheduler::config::DEFAULT_CONFIG.to_owned(),
            "Basalt's built-in default (pass --scheduler-config FILE to use your scheduler's)"
                .to_owned(),
        ),
    };
    let scheduler = scheduler_core::Scheduler::from_yaml(&config_text)
        .map_err(|e| anyhow::anyhow!("scheduler configuration {config_name}: {e}"))?;
    let (client, ns) = conn.connect().await?;
    let job = super::job::get(&Api::namespaced(client.clone(), &ns), &ns, name).await?;
    let queue_name = job.spec.queue.clone().unwrap_or_else(|| "default".into());
    let queues = list::<Queue>(Api::all(client.clone()), "Queues").await?;
    let podgroups = super::queue::podgroups(&client).await?;
    let nodes = list::<Node>(Api::all(client.clone()), "Nodes").await?;
    let pods = list::<Pod>(Api::all(client.clone()), "Pods").await?;
    let events = list::<Event>(Api::namespaced(client.clone(), &ns), "Events").await?;
    let pg_name = controllers::job::build::podgroup_name(&job);
    let podgroup = podgroups
        .iter()
        .find(|p| p.name_any() == pg_name && p.namespace().as_deref() == Some(&ns));
    let findings = match podgroup {
        Some(_) => {
            let now_ms = (common::now_secs().max(0) as u64).saturating_mul(1000);
            let objects = session::Objects {
                pods: pods
                    .iter()
                    .cloned()
                    .chain(pods_to_come(&job, &pods))
                    .collect(),
                nodes: nodes.clone(),
                podgroups: podgroups.clone(),
                queues: queues.clone(),
                priority_classes: list::<PriorityClass>(
                    Api::all(client.clone()),
                    "PriorityClasses",
                )
                .await?,
            };
            let snap = session::snapshot(&objects, scheduler_names, now_ms);
            let id = scheduler_core::JobId::new(format!("{ns}/{pg_name}"));
            Some(findings(&snap, &scheduler, &id, &podgroups, config_name)?)
        }
        None => None,
    };
    let d = diagnose(&Inputs {
        job: &job,
        podgroup,
        queue: queues.iter().find(|q| q.name_any() == queue_name),
        pods: &pods,
        podgroups: &podgroups,
        events: &events,
        now: common::now_secs(),
        session: findings.as_ref(),
    });
    if !common::print_structured(conn.output, &d)? {
        crate::write_stdout(&render(&d))?;
    }
    Ok(())
}

/// The pods the Job controller will create but that do not exist yet, built by the
/// controller's own code (`controllers::job::build::pod` and the job plugins' mutation). A
/// Volcano Job's pods are created only once its PodGroup is admitted: without them, a dry run
/// of a job still awaiting admission had nothing to place and answered "nothing blocks it"
/// while the pods, once created, could not fit (seen under injected faults, when `why` ran
/// before the scheduler's enqueue was written). With them the dry run places, or fails to place,
/// what the next sessions will. Only for a Pending or Running job (others create no pods).
fn pods_to_come(job: &Job, pods: &[Pod]) -> Vec<Pod> {
    use crds::job::JobPhase;
    let phase = job
        .status
        .as_ref()
        .and_then(|s| s.state.as_ref())
        .and_then(|s| s.phase)
        .unwrap_or_default();
    if !matches!(phase, JobPhase::Pending | JobPhase::Running) {
        return Vec::new();
    }
    let ns = job.namespace();
    let existing: std::collections::BTreeSet<String> = pods
        .iter()
        .filter(|p| p.namespace() == ns)
        .map(ResourceExt::name_any)
        .collect();
    let mut out = Vec::new();
    for task in &job.spec.tasks {
        let name = controllers::job::task_name(task);
        for index in 0..task.replicas.unwrap_or(0) {
            let mut pod = controllers::job::build::pod(job, task, index);
            controllers::job::plugins::mutate_pod(job, &name, index, &mut pod);
            if existing.contains(&pod.name_any()) {
                continue;
            }
            pod.metadata.namespace.clone_from(&ns);
            pod.metadata.creation_timestamp = job.metadata.creation_timestamp.clone();
            pod.status = Some(k8s_openapi::api::core::v1::PodStatus {
                phase: Some("Pending".to_owned()),
                ..Default::default()
            });
            out.push(pod);
        }
    }
    out
}

/// The dry-run session's verdict on PodGroup `id` and, when it stays blocked, the unblockers
/// what-if sessions confirm.
fn findings(
    snap: &scheduler_core::Snapshot,
    scheduler: &scheduler_core::Scheduler,
    id: &scheduler_core::JobId,
    podgroups: &[PodGroup],
    config: String,
) -> anyhow::Result<Findings> {
    let verdict = session::verdict(snap, scheduler, id)?;
    let unblock = if verdict.placed() || !verdict.waits() {
        Vec::new()
    } else {
        session::unblockers(snap, scheduler, id, |other| {
            job_of_podgroup(podgroups, other)
        })
    };
    Ok(Findings {
        verdict,
        unblock,
        config,
    })
}

async fn list<K>(api: Api<K>, what: &str) -> anyhow::Result<Vec<K>>
where
    K: kube::Resource + Clone + serde::de::DeserializeOwned + std::fmt::Debug,
{
    Ok(api
        .list(&ListParams::default())
        .await
        .with_context(|| format!("listing {what}"))?
        .items)
}

/// The text report.
pub fn render(d: &Diagnosis) -> String {
    let mut out = format!(
        "Job {}: {} in queue {} ({} pod(s) unplaced)\n",
        d.job, d.phase, d.queue, d.unplaced
    );
    let mut section = |title: &str, lines: &[String]| {
        if !lines.is_empty() {
            out.push_str(&format!("\n{title}:\n"));
            for l in lines {
                out.push_str(&format!("  - {l}\n"));
            }
        }
    };
    section("Why it is pending", &d.causes);
    if !d.session.is_empty() {
        section(
            &format!("Scheduler dry run (config: {})", d.session_config),
            &d.session,
        );
    }
    section("Queue", &d.queue_position);
    section("What would unblock it", &d.unblock);
    out.push_str(&format!("\nPreemption: {}\n", d.preemption));
    if let Some(s) = &d.scheduler_says {
        out.push_str(&format!("Scheduler's last explanation: {s}\n"));
    }
    out
}

fn fmt_amount(resource: &str, v: i64) -> String {
    format!("{} {resource}", format_resource_amount(resource, v))
}

/// `namespace/job` for a PodGroup id `namespace/podgroup` (the PodGroup's owner), else the id.
fn job_of_podgroup(podgroups: &[PodGroup], id: &scheduler_core::JobId) -> String {
    let id = id.to_string();
    podgroups
        .iter()
        .find(|g| format!("{}/{}", g.namespace().unwrap_or_default(), g.name_any()) == id)
        .and_then(|g| {
            let owner = g.owner_references().first()?;
            Some(format!(
                "{}/{}",
                g.namespace().unwrap_or_default(),
                owner.name
            ))
        })
        .unwrap_or(id)
}

/// The queue of a pod's PodGroup.
pub fn pod_queue<'a>(pod: &Pod, podgroups: &'a [PodGroup]) -> Option<&'a str> {
    let group = pod.annotations().get(crds::labels::GROUP_NAME)?;
    podgroups
        .iter()
        .find(|g| &g.name_any() == group && g.namespace() == pod.namespace())
        .map(|g| g.spec.queue.as_deref().unwrap_or("default"))
}

/// Pure: the diagnosis of `inputs.job`.
pub fn diagnose(i: &Inputs<'_>) -> Diagnosis {
    let job = i.job;
    let ns = job.namespace().unwrap_or_default();
    let name = job.name_any();
    let queue_name = job.spec.queue.clone().unwrap_or_else(|| "default".into());
    let phase = job
        .status
        .as_ref()
        .and_then(|s| s.state.as_ref())
        .and_then(|s| s.phase)
        .map_or("Pending".to_owned(), |p| format!("{p:?}"));
    let mine: Vec<&Pod> = i
        .pods
        .iter()
        .filter(|p| {
            p.namespace().as_deref() == Some(&ns)
                && p.labels().get(crds::labels::JOB_NAME) == Some(&name)
        })
        .collect();
    let finished = matches!(
        phase.as_str(),
        "Completed"
            | "Failed"
            | "Terminated"
            | "Aborted"
            | "Completing"
            | "Terminating"
            | "Aborting"
    );
    let demand = if finished {
        Vec::new()
    } else {
        placement::unplaced_demand(job, &mine)
    };
    let mut d = Diagnosis {
        job: format!("{ns}/{name}"),
        phase: phase.clone(),
        queue: queue_name.clone(),
        unplaced: demand.len(),
        ..Default::default()
    };
    let mut need = Resources::new();
    for (_, r) in &demand {
        need.add(r);
    }
    // Queue: existence, state, capability.
    let queue_alloc = {
        let mut a = Resources::new();
        for p in i.pods.iter().filter(|p| common::holds_node(p)) {
            if pod_queue(p, i.podgroups) == Some(queue_name.as_str()) {
                a.add(&common::requests(p));
            }
        }
        a
    };
    match i.queue {
        None => d.causes.push(format!(
            "queue {queue_name:?} does not exist; create it with `basalt queue create {queue_name}` or set spec.queue to an existing one"
        )),
        Some(q) => {
            let state = super::queue::state(q);
            if matches!(state, QueueState::Closed | QueueState::Closing) {
                d.causes.push(format!(
                    "queue {queue_name} is {state:?}: it admits no new jobs (running ones finish); open it with `basalt queue open {queue_name}`"
                ));
                d.unblock.push(format!("`basalt queue open {queue_name}`"));
            }
            let cap = bridge::resources::parse_list(q.spec.capability.as_ref());
            for (res, c) in cap.iter() {
                let (a, n) = (queue_alloc.get(res), need.get(res));
                if n > 0 && a + n > c {
                    d.causes.push(format!(
                        "queue {queue_name} capability: {} allocated of {} capability; this job needs {} more (over by {})",
                        fmt_amount(res, a), format_resource_amount(res, c), fmt_amount(res, n), fmt_amount(res, a + n - c)
                    ));
                    let running: Vec<&Pod> = i
                        .pods
                        .iter()
                        .filter(|p| common::holds_node(p) && pod_queue(p, i.podgroups) == Some(queue_name.as_str()))
                        .collect();
                    d.unblock.push(placement::frees_within(&running, res, a + n - c, i.now, &format!("in queue {queue_name}")));
                    d.unblock.push(format!(
                        "or raise the capability: `kubectl patch queue {queue_name} --type merge -p '{{\"spec\":{{\"capability\":{{\"{res}\":\"{}\"}}}}}}'`",
                        format_resource_amount(res, a + n)
                    ));
                }
            }
            let st = q.status.clone().unwrap_or_default();
            let deserved = bridge::resources::parse_list(q.spec.deserved.as_ref().or(st.deserved.as_ref()));
            for res in [common::GPU, "cpu"] {
                if need.get(res) > 0 || queue_alloc.get(res) > 0 {
                    let show = |r: &Resources| if r.get(res) > 0 || r.iter().any(|(k, _)| k == res) { format_resource_amount(res, r.get(res)) } else { "-".into() };
                    d.queue_position.push(format!(
                        "{res}: allocated {} / deserved {} / capability {}",
                        format_resource_amount(res, queue_alloc.get(res)), show(&deserved), show(&cap)
                    ));
                }
            }
        }
    }
    let created = job
        .metadata
        .creation_timestamp
        .as_ref()
        .map(|t| t.0.as_second())
        .unwrap_or(0);
    let my_pg = i.podgroup.map(|p| p.name_any());
    let ahead: Vec<String> = i
        .podgroups
        .iter()
        .filter(|g| g.spec.queue.as_deref().unwrap_or("default") == queue_name)
        .filter(|g| Some(g.name_any()) != my_pg)
        .filter(|g| {
            matches!(
                g.status.as_ref().and_then(|s| s.phase),
                None | Some(
                    crds::podgroup::PodGroupPhase::Pending | crds::podgroup::PodGroupPhase::Inqueue
                )
            )
        })
        .filter(|g| {
            g.metadata
                .creation_timestamp
                .as_ref()
                .map(|t| t.0.as_second())
                .unwrap_or(0)
                <= created
        })
        .map(|g| {
            format!(
                "{}/{}",
                g.namespace().unwrap_or_default(),
                g.owner_references()
                    .first()
                    .map_or(g.name_any(), |o| o.name.clone())
            )
        })
        .collect();
    d.queue_position.push(if ahead.is_empty() {
        "no pending job of this queue is ahead of it".into()
    } else {
        format!(
            "{} pending job(s) ahead of it: {}",
            ahead.len(),
            ahead.iter().take(5).cloned().collect::<Vec<_>>().join(", ")
        )
    });
    // Placement: the scheduler's own dry-run session decides, and what-if sessions confirm
    // what would unblock the job (no second placement model).
    if let Some(f) = i.session {
        d.session_config = f.config.clone();
        let v = &f.verdict;
        if !v.waits() {
            d.session
                .push("no pod of the job waits for a node in the scheduler's view".into());
        } else if v.awaiting_admission && v.placed() {
            d.session.push(if v.waiting == 0 {
                "a session now would admit the job's PodGroup (enqueue → Inqueue): its pods are created and placed next".into()
            } else {
                format!(
                    "a session now would admit the job's PodGroup (enqueue → Inqueue) and place {} of the {} pod(s) the Job controller creates once it is admitted",
                    v.binds, v.waiting
                )
            });
        } else if v.placed() {
            d.session.push(format!(
                "a session now would place {} of the {} waiting pod(s): the job is not blocked, the next session should bind it",
                v.binds, v.waiting
            ));
        } else {
            d.session.push(if v.awaiting_admission && !v.admitted {
                "a session now would not admit the job's PodGroup (enqueue): its pods are not created until it is admitted".to_owned()
            } else if v.awaiting_admission {
                format!(
                    "a session now would admit the job's PodGroup (enqueue → Inqueue) but place {} of the {} pod(s) the Job controller creates once it is admitted",
                    v.binds, v.waiting
                )
            } else {
                format!(
                    "a session now would place {} of the {} waiting pod(s)",
                    v.binds, v.waiting
                )
            });
            if v.explanation.is_none() {
                for m in &v.unschedulable {
                    d.causes.push(format!("scheduler: {m}"));
                }
            }
            if let Some(x) = &v.explanation {
                d.causes.push(format!("scheduler: {}", x.summary));
                if let Some(task) = &x.task {
                    let noun = if x.nodes == 1 { "node" } else { "nodes" };
                    d.causes
                        .push(format!("for pod {task}: 0 of {} {noun} fit", x.nodes));
                }
                for r in x.reasons.iter() {
                    d.causes.push(format!("  {r}"));
                }
            }
            d.unblock.extend(f.unblock.iter().cloned());
            if f.unblock.is_empty() {
                d.unblock.push(
                    "no single job finishing and no capability change lets a session place it now; see the reasons above".into(),
                );
            }
        }
    }
    if d.causes.is_empty() {
        d.causes.push(if phase == "Aborted" {
            format!("the job was aborted; resume it with `basalt job resume {name} -n {ns}`")
        } else if finished {
            format!("nothing is pending: the job is {phase}")
        } else if demand.is_empty() {
            format!("nothing is pending: every pod of the job is placed (phase {phase})")
        } else if i.session.is_none() {
            "the job has no PodGroup yet: the Job controller creates it (is `basalt controller` running?)".into()
        } else if i.session.is_some_and(|f| f.verdict.placed()) {
            "the scheduler's dry-run session places it: nothing blocks it".into()
        } else {
            "the scheduler's dry-run session does not place it and gave no reason (see its dry run below)".into()
        });
    }
    // What the scheduler published.
    let pod_names: Vec<String> = mine.iter().map(|p| p.name_any()).collect();
    let mut events: Vec<&Event> = i
        .events
        .iter()
        .filter(|e| e.reason.as_deref() == Some("FailedScheduling"))
        .filter(|e| {
            e.involved_object
                .name
                .as_ref()
                .is_some_and(|n| pod_names.contains(n) || *n == name)
        })
        .collect();
    events.sort_by_key(|e| {
        e.last_timestamp
            .as_ref()
            .or(e.first_timestamp.as_ref())
            .map(|t| t.0.as_second())
            .unwrap_or(0)
    });
    let condition = i
        .podgroup
        .and_then(|g| g.status.as_ref())
        .and_then(|s| s.conditions.as_ref())
        .and_then(|cs| {
            cs.iter()
                .find(|c| {
                    c.type_.as_deref() == Some("Unschedulable")
                        && c.status.as_deref() == Some("True")
                })
                .and_then(|c| c.message.clone())
        });
    let pod_condition = mine.iter().find_map(|p| {
        p.status
            .as_ref()?
            .conditions
            .as_ref()?
            .iter()
            .find(|c| c.type_ == "PodScheduled" && c.status == "False")?
            .message
            .clone()
    });
    d.scheduler_says = events
        .last()
        .and_then(|e| e.message.clone())
        .or(pod_condition)
        .or(condition);
    let said = d.scheduler_says.clone().unwrap_or_default().to_lowercase();
    d.preemption = if said.contains("preempt") || said.contains("reclaim") {
        format!(
            "considered by the scheduler: {}",
            d.scheduler_says.clone().unwrap_or_default()
        )
    } else if job.spec.priority_class_name.is_none() {
        "no preemption explanation published for this job; it has no priorityClassName, so preempt cannot take pods of equal-priority jobs in its queue (reclaim across queues needs its queue under its deserved share)".into()
    } else {
        format!(
            "no preemption explanation published for this job (priority class {}); preempt only takes lower-priority pods whose jobs stay above minAvailable",
            job.spec.priority_class_name.clone().unwrap_or_default()
        )
    };
    d
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use serde_json::json;

    fn from<T: serde::de::DeserializeOwned>(v: serde_json::Value) -> T {
        serde_json::from_value(v).unwrap()
    }

    fn node(name: &str, gpus: u32) -> Node {
        from(
            json!({"metadata": {"name": name}, "status": {"allocatable": {
            "nvidia.com/gpu": gpus.to_string(), "cpu": "64", "memory": "256Gi", "pods": "110"}}}),
        )
    }

    fn podgroup(name: &str, min: u32, phase: &str, owner: Option<&str>) -> PodGroup {
        let owners: Vec<serde_json::Value> = owner
            .map(|o| {
                json!({"apiVersion": "batch.volcano.sh/v1alpha1", "kind": "Job", "name": o,
                "uid": "u1", "controller": true})
            })
            .into_iter()
            .collect();
        from(
            json!({"apiVersion": "scheduling.volcano.sh/v1beta1", "kind": "PodGroup",
            "metadata": {"name": name, "namespace": "ns", "ownerReferences": owners},
            "spec": {"minMember": min, "queue": "default"}, "status": {"phase": phase}}),
        )
    }

    fn pod(name: &str, group: &str, gpus: u32, node: Option<&str>, job: Option<&str>) -> Pod {
        let labels = job.map_or(json!({}), |j| json!({crds::labels::JOB_NAME: j}));
        let status = match node {
            Some(_) => json!({"phase": "Running"}),
            None => json!({"phase": "Pending"}),
        };
        from(
            json!({"metadata": {"name": name, "namespace": "ns", "labels": labels,
                "annotations": {crds::labels::GROUP_NAME: group}},
            "spec": {"schedulerName": "volcano", "nodeName": node, "containers": [{"name": "c",
                "resources": {"limits": {"nvidia.com/gpu": gpus.to_string(), "cpu": "1"}}}]},
            "status": status}),
        )
    }

    /// n1 (8 GPUs) held whole by `holder-a`; n2 (8) shared by `holder-b` and `holder-c`, 4
    /// each; n3 (4) idle. The Job `waiter` asks for one pod of 8 GPUs: `holder-a`'s end unblocks
    /// it; `holder-b`'s or `holder-c`'s frees enough GPUs in total (4 + 4 idle) but on two
    /// nodes, so their what-if sessions run and refute them.
    fn cluster() -> (session::Objects, Job) {
        let job: Job = from(
            json!({"apiVersion": "batch.volcano.sh/v1alpha1", "kind": "Job",
            "metadata": {"name": "waiter", "namespace": "ns", "uid": "u1"},
            "spec": {"queue": "default", "minAvailable": 1, "tasks": [{"name": "w", "replicas": 1,
                "template": {"spec": {"containers": [{"name": "c", "resources": {"limits":
                    {"nvidia.com/gpu": "8", "cpu": "1"}}}]}}}]},
            "status": {"state": {"phase": "Pending"}}}),
        );
        let objects = session::Objects {
            nodes: vec![node("n1", 8), node("n2", 8), node("n3", 4)],
            pods: vec![
                pod("a-0", "holder-a", 8, Some("n1"), None),
                pod("b-0", "holder-b", 4, Some("n2"), None),
                pod("c-0", "holder-c", 4, Some("n2"), None),
                pod("waiter-w-0", "waiter-u1", 8, None, Some("waiter")),
            ],
            podgroups: vec![
                podgroup("holder-a", 1, "Running", None),
                podgroup("holder-b", 1, "Running", None),
                podgroup("holder-c", 1, "Running", None),
                podgroup("waiter-u1", 1, "Inqueue", Some("waiter")),
            ],
            queues: vec![from(json!({"apiVersion": "scheduling.volcano.sh/v1beta1",
                "kind": "Queue", "metadata": {"name": "default"},
                "spec": {"weight": 1}, "status": {"state": "Open"}}))],
            priority_classes: Vec::new(),
        };
        (objects, job)
    }

    fn diagnosis(objects: &session::Objects, job: &Job, findings: &Findings) -> Diagnosis {
        diagnose(&Inputs {
            job,
            podgroup: objects.podgroups.last(),
            queue: objects.queues.first(),
            pods: &objects.pods,
            podgroups: &objects.podgroups,
            events: &[],
            now: 1_765_000_000,
            session: Some(findings),
        })
    }

    #[test]
    fn what_if_sessions_diagnose_exactly_as_sessions_on_copies_of_the_snapshot() {
        let (objects, job) = cluster();
        let names = vec!["volcano".to_owned()];
        let snap = session::snapshot(&objects, &names, 1_765_000_000_000);
        let scheduler =
            scheduler_core::Scheduler::from_yaml(controllers::scheduler::config::DEFAULT_CONFIG)
                .unwrap();
        let id = scheduler_core::JobId::new("ns/waiter-u1");
        let fast = findings(&snap, &scheduler, &id, &objects.podgroups, "default".into()).unwrap();
        let by_copy = Findings {
            verdict: session::verdict(&snap, &scheduler, &id).unwrap(),
            unblock: session::unblockers_by_copy(&snap, &scheduler, &id, |other| {
                job_of_podgroup(&objects.podgroups, other)
            }),
            config: "default".into(),
        };
        // The straightforward path tried all three holders on copies: one unblocks the job.
        assert_eq!(by_copy.unblock.len(), 1, "{:?}", by_copy.unblock);
        assert!(
            by_copy.unblock[0].contains("ns/holder-a"),
            "{:?}",
            by_copy.unblock
        );
        let a = serde_json::to_value(diagnosis(&objects, &job, &fast)).unwrap();
        let b = serde_json::to_value(diagnosis(&objects, &job, &by_copy)).unwrap();
        assert_eq!(a, b);
        assert!(!fast.verdict.placed(), "{:?}", fast.verdict);
    }

    /// A job whose PodGroup awaits admission has no pods yet: the dry run gets the pods the Job
    /// controller will create, so it fails to place them (the held node) instead of finding
    /// nothing to place, and names the holder whose end unblocks them.
    #[test]
    fn a_job_awaiting_admission_is_judged_with_the_pods_it_will_create() {
        let (mut objects, job) = cluster();
        objects.pods.retain(|p| p.name_any() != "waiter-w-0");
        *objects.podgroups.last_mut().unwrap() =
            podgroup("waiter-u1", 1, "Pending", Some("waiter"));
        let to_come = pods_to_come(&job, &objects.pods);
        let names: Vec<String> = to_come.iter().map(ResourceExt::name_any).collect();
        assert_eq!(names, ["waiter-w-0"]);
        assert_eq!(to_come[0].namespace().as_deref(), Some("ns"));
        assert_eq!(
            to_come[0].status.as_ref().and_then(|s| s.phase.as_deref()),
            Some("Pending")
        );
        let scheduler =
            scheduler_core::Scheduler::from_yaml(controllers::scheduler::config::DEFAULT_CONFIG)
                .unwrap();
        let id = scheduler_core::JobId::new("ns/waiter-u1");
        let volcano = vec!["volcano".to_owned()];
        let judge = |objects: &session::Objects| {
            let snap = session::snapshot(objects, &volcano, 1_765_000_000_000);
            findings(&snap, &scheduler, &id, &objects.podgroups, "default".into()).unwrap()
        };
        // Without them: nothing of the job to place, so nothing is found to unblock.
        assert!(judge(&objects).unblock.is_empty());
        objects.pods.extend(to_come);
        let found = judge(&objects);
        assert!(!found.verdict.placed(), "{:?}", found.verdict);
        assert!(
            found.unblock.iter().any(|u| u.contains("ns/holder-a")),
            "{:?}",
            found.unblock
        );
        // Pods that exist are not repeated; a finished job creates none.
        assert!(pods_to_come(&job, &objects.pods).is_empty());
        let mut done = job.clone();
        if let Some(state) = done.status.as_mut().and_then(|s| s.state.as_mut()) {
            state.phase = Some(crds::job::JobPhase::Completed);
        }
        assert!(pods_to_come(&done, &[]).is_empty());
    }
}
