//! `basalt job list|view|abort|resume|restart|delete`: Volcano Jobs at a glance, one Job in
//! detail, and lifecycle actions sent as `bus.volcano.sh` Commands owned by the Job (as vcctl does).

use anyhow::Context as _;
use clap::Subcommand;
use crds::command::{Command, CommandSpec};
use crds::job::{Action, Job};
use crds::podgroup::PodGroup;
use k8s_openapi::api::core::v1::{Event, Pod};
use kube::api::{Api, DeleteParams, ListParams, ObjectMeta, PostParams};
use kube::{Client, Resource, ResourceExt};

use super::common::{self, Conn, Table};

/// `basalt job` subcommands.
#[derive(Subcommand, Debug)]
pub enum JobCommand {
    /// List Jobs with phase, task counts and retries.
    List,
    /// Show one Job: spec summary, status, tasks, PodGroup, pods and recent events.
    View {
        /// Job name.
        name: String,
    },
    /// Abort a Job (its pods are deleted; `resume` brings it back). `suspend` is vcctl's name.
    #[command(alias = "suspend")]
    Abort {
        /// Job name.
        name: String,
    },
    /// Resume an Aborted Job.
    Resume {
        /// Job name.
        name: String,
    },
    /// Restart a Job (all pods recreated).
    Restart {
        /// Job name.
        name: String,
    },
    /// Delete a Job.
    Delete {
        /// Job name.
        name: String,
    },
}

/// Runs one `basalt job` subcommand.
pub async fn run(conn: &Conn, cmd: JobCommand) -> anyhow::Result<()> {
    let (client, ns) = conn.connect().await?;
    let api: Api<Job> = Api::namespaced(client.clone(), &ns);
    match cmd {
        JobCommand::List => {
            let list_api: Api<Job> = if conn.all_namespaces {
                Api::all(client)
            } else {
                api
            };
            let mut jobs = list_api
                .list(&ListParams::default())
                .await
                .context("listing Jobs")?
                .items;
            jobs.sort_by_key(|j| (j.namespace(), j.name_any()));
            if !common::print_structured(conn.output, &jobs)? {
                if jobs.is_empty() {
                    eprintln!(
                        "No Jobs found{}.",
                        if conn.all_namespaces {
                            String::new()
                        } else {
                            format!(" in namespace {ns}")
                        }
                    );
                }
                crate::write_stdout(&list_table(&jobs, conn.all_namespaces, conn.wide()))?;
            }
        }
        JobCommand::View { name } => {
            let job = get(&api, &ns, &name).await?;
            if !common::print_structured(conn.output, &job)? {
                crate::write_stdout(&view(&client, &job).await?)?;
            }
        }
        JobCommand::Abort { name } => command(&client, &api, &ns, &name, Action::AbortJob).await?,
        JobCommand::Resume { name } => {
            command(&client, &api, &ns, &name, Action::ResumeJob).await?
        }
        JobCommand::Restart { name } => {
            command(&client, &api, &ns, &name, Action::RestartJob).await?
        }
        JobCommand::Delete { name } => {
            api.delete(&name, &DeleteParams::default())
                .await
                .map_err(|e| not_found(e, &ns, &name))?;
            println!("job {ns}/{name} deleted");
        }
    }
    Ok(())
}

/// Gets a Job with an error that says what to do when it is missing.
pub async fn get(api: &Api<Job>, ns: &str, name: &str) -> anyhow::Result<Job> {
    api.get(name).await.map_err(|e| not_found(e, ns, name))
}

fn not_found(e: kube::Error, ns: &str, name: &str) -> anyhow::Error {
    match &e {
        kube::Error::Api(s) if s.code == 404 => anyhow::anyhow!(
            "job {name:?} not found in namespace {ns}; list them with `basalt job list -n {ns}` or `-A`"
        ),
        _ => anyhow::Error::new(e).context(format!("getting job {ns}/{name}")),
    }
}

async fn command(
    client: &Client,
    api: &Api<Job>,
    ns: &str,
    name: &str,
    action: Action,
) -> anyhow::Result<()> {
    let job = get(api, ns, name).await?;
    let owner = job
        .controller_owner_ref(&())
        .context("the job has no uid; retry once the API server has stored it")?;
    let cmd = Command {
        metadata: ObjectMeta {
            generate_name: Some(format!("{name}-{}-", format!("{action:?}").to_lowercase())),
            namespace: Some(ns.to_owned()),
            owner_references: Some(vec![owner.clone()]),
            labels: Some(
                [(
                    crds::labels::MANAGED_BY.to_owned(),
                    crds::labels::MANAGED_BY_VALUE.to_owned(),
                )]
                .into(),
            ),
            ..Default::default()
        },
        spec: CommandSpec {
            action: Some(action),
            target: Some(owner),
            reason: Some("basalt CLI".into()),
            message: Some(format!("{action:?} requested with basalt job")),
        },
    };
    let cmds: Api<Command> = Api::namespaced(client.clone(), ns);
    let created = cmds
        .create(&PostParams::default(), &cmd)
        .await
        .with_context(|| format!("creating the {action:?} Command for job {ns}/{name}"))?;
    println!(
        "job {ns}/{name}: {action:?} requested (command {})",
        created.name_any()
    );
    Ok(())
}

fn phase(job: &Job) -> String {
    job.status
        .as_ref()
        .and_then(|s| s.state.as_ref())
        .and_then(|s| s.phase)
        .map_or("Pending".to_owned(), |p| format!("{p:?}"))
}

fn replicas(job: &Job) -> i32 {
    job.spec.tasks.iter().map(|t| t.replicas.unwrap_or(1)).sum()
}

/// The `list` table.
pub fn list_table(jobs: &[Job], all_ns: bool, wide: bool) -> String {
    let mut headers = vec![
        "NAME",
        "QUEUE",
        "PHASE",
        "MIN",
        "REPLICAS",
        "PENDING",
        "RUNNING",
        "SUCCEEDED",
        "FAILED",
        "RETRIES",
        "AGE",
    ];
    if all_ns {
        headers.insert(0, "NAMESPACE");
    }
    if wide {
        headers.extend(["SCHEDULER", "PRIORITY", "TASKS"]);
    }
    let mut t = Table::new(&headers);
    for j in jobs {
        let s = j.status.clone().unwrap_or_default();
        let n = |v: Option<i32>| v.unwrap_or(0).to_string();
        let mut row = vec![
            j.name_any(),
            j.spec.queue.clone().unwrap_or_else(|| "default".into()),
            phase(j),
            n(j.spec.min_available),
            replicas(j).to_string(),
            n(s.pending),
            n(s.running),
            n(s.succeeded),
            n(s.failed),
            n(s.retry_count),
            common::age(j.metadata.creation_timestamp.as_ref()),
        ];
        if all_ns {
            row.insert(0, j.namespace().unwrap_or_default());
        }
        if wide {
            row.push(j.spec.scheduler_name.clone().unwrap_or_else(|| "-".into()));
            row.push(
                j.spec
                    .priority_class_name
                    .clone()
                    .unwrap_or_else(|| "-".into()),
            );
            row.push(
                j.spec
                    .tasks
                    .iter()
                    .map(|t| {
                        format!(
                            "{}x{}",
                            t.name.as_deref().unwrap_or("-"),
                            t.replicas.unwrap_or(1)
                        )
                    })
                    .collect::<Vec<_>>()
                    .join(","),
            );
        }
        t.row(row);
    }
    t.render()
}

async fn view(client: &Client, job: &Job) -> anyhow::Result<String> {
    let ns = job.namespace().unwrap_or_default();
    let name = job.name_any();
    let s = job.status.clone().unwrap_or_default();
    let state = s.state.clone().unwrap_or_default();
    let mut out = format!("Job {ns}/{name}: {}\n", phase(job));
    if let Some(r) = state.reason.as_deref().filter(|r| !r.is_empty()) {
        out.push_str(&format!(
            "  reason: {r} {}\n",
            state.message.unwrap_or_default()
        ));
    }
    out.push_str(&format!(
        "  queue: {}   scheduler: {}   minAvailable: {}   retries: {}/{}   age: {}\n\n",
        job.spec.queue.as_deref().unwrap_or("default"),
        job.spec.scheduler_name.as_deref().unwrap_or("-"),
        job.spec.min_available.unwrap_or(0),
        s.retry_count.unwrap_or(0),
        job.spec.max_retry.unwrap_or(3),
        common::age(job.metadata.creation_timestamp.as_ref()),
    ));
    let pods: Api<Pod> = Api::namespaced(client.clone(), &ns);
    let pods = pods
        .list(&ListParams::default().labels(&format!("{}={name}", crds::labels::JOB_NAME)))
        .await
        .context("listing the job's pods")?
        .items;
    let mut t = Table::new(&[
        "TASK",
        "REPLICAS",
        "MIN",
        "PENDING",
        "RUNNING",
        "SUCCEEDED",
        "FAILED",
        "REQUESTS",
    ]);
    for task in &job.spec.tasks {
        let tname = task.name.clone().unwrap_or_default();
        let mine: Vec<&Pod> = pods
            .iter()
            .filter(|p| p.annotations().get(crds::labels::TASK_SPEC) == Some(&tname))
            .collect();
        let count = |ph: &str| {
            mine.iter()
                .filter(|p| p.status.as_ref().and_then(|s| s.phase.as_deref()) == Some(ph))
                .count()
                .to_string()
        };
        let req = task
            .template
            .spec
            .as_ref()
            .map(bridge::resources::pod_requests)
            .unwrap_or_default();
        t.row(vec![
            tname,
            task.replicas.unwrap_or(1).to_string(),
            task.min_available.map_or("-".into(), |m| m.to_string()),
            count("Pending"),
            count("Running"),
            count("Succeeded"),
            count("Failed"),
            fmt_resources(&req),
        ]);
    }
    out.push_str(&t.render());
    let pgs: Api<PodGroup> = Api::namespaced(client.clone(), &ns);
    let pg_name = controllers::job::build::podgroup_name(job);
    if let Ok(pg) = pgs.get(&pg_name).await {
        let st = pg.status.clone().unwrap_or_default();
        out.push_str(&format!(
            "\nPodGroup {pg_name}: {}   minMember: {}\n",
            st.phase.map_or("-".into(), |p| format!("{p:?}")),
            pg.spec.min_member.unwrap_or(0)
        ));
        for c in st.conditions.iter().flatten() {
            out.push_str(&format!(
                "  {}={} {}: {}\n",
                c.type_.as_deref().unwrap_or("-"),
                c.status.as_deref().unwrap_or("-"),
                c.reason.as_deref().unwrap_or("-"),
                c.message.as_deref().unwrap_or("")
            ));
        }
    }
    out.push_str("\nPods:\n");
    let mut t = Table::new(&["NAME", "PHASE", "NODE", "AGE"]);
    for p in &pods {
        t.row(vec![
            p.name_any(),
            p.status
                .as_ref()
                .and_then(|s| s.phase.clone())
                .unwrap_or_default(),
            p.spec
                .as_ref()
                .and_then(|s| s.node_name.clone())
                .unwrap_or_else(|| "<none>".into()),
            common::age(p.metadata.creation_timestamp.as_ref()),
        ]);
    }
    out.push_str(&t.render());
    let events: Api<Event> = Api::namespaced(client.clone(), &ns);
    if let Ok(list) = events.list(&ListParams::default()).await {
        let mut ev: Vec<&Event> = list
            .items
            .iter()
            .filter(|e| {
                let n = e.involved_object.name.as_deref().unwrap_or_default();
                n == name || pods.iter().any(|p| p.name_any() == n)
            })
            .collect();
        ev.sort_by_key(|e| {
            e.last_timestamp
                .as_ref()
                .map(|t| t.0.as_second())
                .unwrap_or(0)
        });
        if !ev.is_empty() {
            out.push_str("\nEvents (latest 10):\n");
            for e in ev.iter().rev().take(10).rev() {
                out.push_str(&format!(
                    "  {:<8} {:<18} {}: {}\n",
                    e.type_.as_deref().unwrap_or("-"),
                    e.reason.as_deref().unwrap_or("-"),
                    e.involved_object.name.as_deref().unwrap_or("-"),
                    e.message.as_deref().unwrap_or("")
                ));
            }
        }
    }
    Ok(out)
}

/// `cpu=2,gpu=8` of canonical amounts.
pub fn fmt_resources(r: &scheduler_core::Resources) -> String {
    let text = r
        .iter()
        .map(|(k, v)| {
            format!(
                "{}={}",
                common::short_name(k),
                scheduler_core::quantity::format_resource_amount(k, v)
            )
        })
        .collect::<Vec<_>>()
        .join(",");
    if text.is_empty() { "-".into() } else { text }
}
