//! `basalt queue list|get|create|open|close|delete`: Queues with their shares and job counts
//! (recomputed from PodGroups, as vcctl does), and Queue state changes sent as Commands.

use std::collections::BTreeMap;

use anyhow::Context as _;
use clap::Subcommand;
use crds::command::{Command, CommandSpec};
use crds::job::Action;
use crds::podgroup::{PodGroup, PodGroupPhase};
use crds::queue::{Guarantee, Queue, QueueSpec, QueueState};
use kube::api::{Api, DeleteParams, ListParams, ObjectMeta, PostParams};
use kube::{Client, Resource, ResourceExt};

use super::common::{self, Conn, Table};

/// `basalt queue` subcommands.
#[derive(Subcommand, Debug)]
pub enum QueueCommand {
    /// List Queues: state, weight, capability, guarantee, deserved, allocated, job counts.
    List,
    /// Show one Queue (same columns; `-o yaml` for the object).
    Get {
        /// Queue name.
        name: String,
    },
    /// Create a Queue.
    Create {
        /// Queue name.
        name: String,
        /// Weight (share of the cluster relative to other queues).
        #[arg(short, long, default_value_t = 1)]
        weight: i32,
        /// Capability (upper bound), e.g. `nvidia.com/gpu=20,cpu=200`.
        #[arg(long)]
        capability: Option<String>,
        /// Guarantee (reserved minimum), same form.
        #[arg(long)]
        guarantee: Option<String>,
        /// Deserved share, same form.
        #[arg(long)]
        deserved: Option<String>,
        /// Parent queue (hierarchical queues).
        #[arg(long)]
        parent: Option<String>,
        /// Whether other queues may reclaim what this one borrowed.
        #[arg(long)]
        reclaimable: Option<bool>,
    },
    /// Open a Closed Queue (Command `OpenQueue`).
    Open {
        /// Queue name.
        name: String,
    },
    /// Close a Queue: it admits no new jobs (Command `CloseQueue`).
    Close {
        /// Queue name.
        name: String,
    },
    /// Delete a Queue.
    Delete {
        /// Queue name.
        name: String,
    },
}

/// Per-queue PodGroup counts by phase.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq, serde::Serialize)]
pub struct Counts {
    /// Pending PodGroups.
    pub pending: u32,
    /// Inqueue PodGroups (admitted, not yet running).
    pub inqueue: u32,
    /// Running PodGroups.
    pub running: u32,
    /// Unknown PodGroups.
    pub unknown: u32,
}

/// Counts PodGroups per queue (`default` when the spec names none).
pub fn counts(pgs: &[PodGroup]) -> BTreeMap<String, Counts> {
    let mut out: BTreeMap<String, Counts> = BTreeMap::new();
    for pg in pgs {
        let q = pg.spec.queue.clone().unwrap_or_else(|| "default".into());
        let c = out.entry(q).or_default();
        match pg.status.as_ref().and_then(|s| s.phase) {
            None | Some(PodGroupPhase::Pending) => c.pending += 1,
            Some(PodGroupPhase::Inqueue) => c.inqueue += 1,
            Some(PodGroupPhase::Running) => c.running += 1,
            Some(PodGroupPhase::Unknown) => c.unknown += 1,
            Some(_) => {}
        }
    }
    out
}

/// A queue's state (`Open` when not reported yet).
pub fn state(q: &Queue) -> QueueState {
    q.status
        .as_ref()
        .and_then(|s| s.state)
        .unwrap_or(QueueState::Open)
}

/// Runs one `basalt queue` subcommand.
pub async fn run(conn: &Conn, cmd: QueueCommand) -> anyhow::Result<()> {
    let (client, _) = conn.connect().await?;
    let api: Api<Queue> = Api::all(client.clone());
    match cmd {
        QueueCommand::List => {
            let mut queues = api
                .list(&ListParams::default())
                .await
                .context("listing Queues")?
                .items;
            queues.sort_by_key(ResourceExt::name_any);
            if !common::print_structured(conn.output, &queues)? {
                let c = counts(&podgroups(&client).await?);
                crate::write_stdout(&list_table(&queues, &c, conn.wide()))?;
            }
        }
        QueueCommand::Get { name } => {
            let q = get(&api, &name).await?;
            if !common::print_structured(conn.output, &q)? {
                let c = counts(&podgroups(&client).await?);
                crate::write_stdout(&list_table(&[q], &c, true))?;
            }
        }
        QueueCommand::Create {
            name,
            weight,
            capability,
            guarantee,
            deserved,
            parent,
            reclaimable,
        } => {
            let parse = |t: Option<String>| t.as_deref().map(common::parse_kv_list).transpose();
            let q = Queue {
                metadata: ObjectMeta {
                    name: Some(name.clone()),
                    labels: Some(
                        [(
                            crds::labels::MANAGED_BY.to_owned(),
                            crds::labels::MANAGED_BY_VALUE.to_owned(),
                        )]
                        .into(),
                    ),
                    ..Default::default()
                },
                spec: QueueSpec {
                    weight: Some(weight),
                    capability: parse(capability)?,
                    guarantee: parse(guarantee)?.map(|r| Guarantee { resource: Some(r) }),
                    deserved: parse(deserved)?,
                    parent,
                    reclaimable,
                    ..Default::default()
                },
                status: None,
            };
            api.create(&PostParams::default(), &q)
                .await
                .map_err(|e| match &e {
                    kube::Error::Api(s) if s.is_already_exists() => anyhow::anyhow!(
                        "queue {name:?} already exists; see it with `basalt queue get {name}`"
                    ),
                    _ => anyhow::Error::new(e).context(format!("creating queue {name:?}")),
                })?;
            println!("queue {name} created");
        }
        QueueCommand::Open { name } => command(&client, &api, &name, Action::OpenQueue).await?,
        QueueCommand::Close { name } => command(&client, &api, &name, Action::CloseQueue).await?,
        QueueCommand::Delete { name } => {
            api.delete(&name, &DeleteParams::default())
                .await
                .map_err(|e| not_found(e, &name))?;
            println!("queue {name} deleted");
        }
    }
    Ok(())
}

/// Every PodGroup in the cluster.
pub async fn podgroups(client: &Client) -> anyhow::Result<Vec<PodGroup>> {
    let api: Api<PodGroup> = Api::all(client.clone());
    Ok(api
        .list(&ListParams::default())
        .await
        .context("listing PodGroups")?
        .items)
}

/// Gets a Queue with an error that says what to do when it is missing.
pub async fn get(api: &Api<Queue>, name: &str) -> anyhow::Result<Queue> {
    api.get(name).await.map_err(|e| not_found(e, name))
}

fn not_found(e: kube::Error, name: &str) -> anyhow::Error {
    match &e {
        kube::Error::Api(s) if s.code == 404 => {
            anyhow::anyhow!(
                "queue {name:?} not found; list them with `basalt queue list` or create it with `basalt queue create {name}`"
            )
        }
        _ => anyhow::Error::new(e).context(format!("getting queue {name:?}")),
    }
}

async fn command(
    client: &Client,
    api: &Api<Queue>,
    name: &str,
    action: Action,
) -> anyhow::Result<()> {
    let q = get(api, name).await?;
    let owner = q
        .controller_owner_ref(&())
        .context("the queue has no uid; retry in a moment")?;
    // Queues are cluster-scoped; their Commands live in `default`, as vcctl creates them.
    let cmd = Command {
        metadata: ObjectMeta {
            generate_name: Some(format!("{name}-{}-", format!("{action:?}").to_lowercase())),
            namespace: Some("default".into()),
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
            message: Some(format!("{action:?} requested with basalt queue")),
        },
    };
    let cmds: Api<Command> = Api::namespaced(client.clone(), "default");
    let created = cmds
        .create(&PostParams::default(), &cmd)
        .await
        .with_context(|| format!("creating the {action:?} Command for queue {name}"))?;
    println!(
        "queue {name}: {action:?} requested (command {})",
        created.name_any()
    );
    Ok(())
}

/// The `list` table.
pub fn list_table(queues: &[Queue], counts: &BTreeMap<String, Counts>, wide: bool) -> String {
    let mut headers = vec![
        "NAME",
        "STATE",
        "WEIGHT",
        "CAPABILITY",
        "GUARANTEE",
        "DESERVED",
        "ALLOCATED",
        "PENDING",
        "RUNNING",
    ];
    if wide {
        headers.extend(["INQUEUE", "PARENT", "RECLAIMABLE"]);
    }
    let mut t = Table::new(&headers);
    for q in queues {
        let name = q.name_any();
        let c = counts.get(&name).copied().unwrap_or_default();
        let st = q.status.clone().unwrap_or_default();
        let deserved = q.spec.deserved.as_ref().or(st.deserved.as_ref());
        let mut row = vec![
            name,
            format!("{:?}", state(q)),
            q.spec.weight.unwrap_or(1).to_string(),
            common::fmt_list(q.spec.capability.as_ref()),
            common::fmt_list(q.spec.guarantee.as_ref().and_then(|g| g.resource.as_ref())),
            common::fmt_list(deserved),
            common::fmt_list(st.allocated.as_ref()),
            // Waiting = not admitted yet or admitted but not running (vcctl splits these; -o wide does).
            (c.pending + c.inqueue).to_string(),
            c.running.to_string(),
        ];
        if wide {
            row.push(c.inqueue.to_string());
            row.push(q.spec.parent.clone().unwrap_or_else(|| "-".into()));
            row.push(q.spec.reclaimable.map_or("-".into(), |r| r.to_string()));
        }
        t.row(row);
    }
    t.render()
}
