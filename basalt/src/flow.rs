//! `basalt flow list|view|retry`: JobFlows at a glance, one flow step by step, and resuming a
//! Failed flow from its failed steps (the controller does the work; this only asks).

use std::path::PathBuf;

use anyhow::Context;
use clap::{Args, Subcommand};
use crds::jobflow::{FlowPhase, JobFlow, JobStatusEntry};
use kube::api::{Api, ListParams};
use kube::config::{KubeConfigOptions, Kubeconfig};
use kube::{Client, ResourceExt};

/// `basalt flow`.
#[derive(Args, Debug)]
pub struct FlowArgs {
    #[command(subcommand)]
    command: FlowCommand,
    /// Kubeconfig file (default: $KUBECONFIG, then ~/.kube/config, then in-cluster).
    #[arg(long, global = true, value_name = "FILE")]
    kubeconfig: Option<PathBuf>,
    /// Namespace.
    #[arg(short, long, global = true, default_value = "default")]
    namespace: String,
}

#[derive(Subcommand, Debug)]
enum FlowCommand {
    /// List JobFlows with their phase and step counts.
    List {
        /// Every namespace.
        #[arg(short = 'A', long)]
        all_namespaces: bool,
    },
    /// Show one JobFlow step by step: dependencies, Job state, attempts, times.
    View {
        /// JobFlow name.
        name: String,
    },
    /// Resume a Failed JobFlow: each failed step gets one more attempt; completed steps stay done.
    Retry {
        /// JobFlow name.
        name: String,
    },
}

/// Runs `basalt flow`.
pub fn run(args: FlowArgs) -> anyhow::Result<()> {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .context("starting the runtime")?;
    rt.block_on(async move {
        let client = client(args.kubeconfig.as_deref()).await?;
        match args.command {
            FlowCommand::List { all_namespaces } => {
                let api: Api<JobFlow> =
                    if all_namespaces { Api::all(client) } else { Api::namespaced(client, &args.namespace) };
                let flows = api.list(&ListParams::default()).await.context("listing JobFlows")?;
                print!("{}", list_table(&flows.items));
            }
            FlowCommand::View { name } => {
                let api: Api<JobFlow> = Api::namespaced(client, &args.namespace);
                let flow = api.get(&name).await.with_context(|| format!("getting jobflow {name:?}"))?;
                print!("{}", view(&flow));
            }
            FlowCommand::Retry { name } => {
                let round = controllers::jobflow::retry::request_retry(&client, &args.namespace, &name)
                    .await
                    .with_context(|| format!("requesting a retry of jobflow {name:?}"))?;
                println!("jobflow {name:?}: retry round {round} requested; failed steps get one more attempt");
            }
        }
        Ok(())
    })
}

async fn client(path: Option<&std::path::Path>) -> anyhow::Result<Client> {
    let config = match path {
        Some(p) => {
            let kc = Kubeconfig::read_from(p)
                .with_context(|| format!("reading kubeconfig {}", p.display()))?;
            kube::Config::from_custom_kubeconfig(kc, &KubeConfigOptions::default()).await?
        }
        None => kube::Config::infer()
            .await
            .context("no kubeconfig found; pass --kubeconfig")?,
    };
    Client::try_from(config).context("building the API client")
}

fn phase(flow: &JobFlow) -> FlowPhase {
    flow.status
        .as_ref()
        .and_then(|s| s.state.as_ref())
        .and_then(|s| s.phase)
        .unwrap_or_default()
}

fn len(list: &Option<Vec<String>>) -> usize {
    list.as_ref().map_or(0, Vec::len)
}

/// The `list` table.
pub fn list_table(flows: &[JobFlow]) -> String {
    let mut out = format!(
        "{:<16} {:<32} {:<12} {:>7} {:>7} {:>6} {:>7}\n",
        "NAMESPACE", "NAME", "PHASE", "STEPS", "RUNNING", "FAILED", "RETRIES"
    );
    for f in flows {
        let status = f.status.clone().unwrap_or_default();
        let total = f.spec.flows.as_ref().map_or(0, Vec::len);
        let retries: i32 = status
            .job_status_list
            .iter()
            .flatten()
            .filter_map(|e| e.restart_count)
            .sum();
        out.push_str(&format!(
            "{:<16} {:<32} {:<12} {:>7} {:>7} {:>6} {:>7}\n",
            f.namespace().unwrap_or_default(),
            f.name_any(),
            format!("{:?}", phase(f)),
            format!("{}/{total}", len(&status.completed_jobs)),
            len(&status.running_jobs),
            len(&status.failed_jobs) + len(&status.terminated_jobs),
            retries
        ));
    }
    out
}

/// The `view` text.
pub fn view(flow: &JobFlow) -> String {
    let name = flow.name_any();
    let status = flow.status.clone().unwrap_or_default();
    let mut out = format!(
        "JobFlow {}/{name}: {:?}\n",
        flow.namespace().unwrap_or_default(),
        phase(flow)
    );
    out.push_str(&format!(
        "{:<24} {:<40} {:<11} {:>8}  {:<20} {:<20} {}\n",
        "STEP", "JOB", "STATE", "ATTEMPTS", "START", "END", "DEPENDS ON"
    ));
    for step in flow.spec.flows.iter().flatten() {
        let job = format!("{name}-{}", step.name);
        let entry: Option<&JobStatusEntry> = status
            .job_status_list
            .iter()
            .flatten()
            .find(|e| e.name.as_deref() == Some(job.as_str()));
        let state = entry
            .and_then(|e| e.state)
            .map_or("-".to_owned(), |s| format!("{s:?}"));
        let attempts = entry.map_or(0, |e| e.restart_count.unwrap_or(0) + 1);
        let start = entry
            .and_then(|e| e.start_timestamp.as_ref())
            .map(|t| t.0.strftime("%Y-%m-%dT%H:%M:%SZ").to_string());
        let end = entry
            .and_then(|e| e.end_timestamp.as_ref())
            .map(|t| t.0.strftime("%Y-%m-%dT%H:%M:%SZ").to_string());
        let deps = step
            .depends_on
            .as_ref()
            .and_then(|d| d.targets.clone())
            .unwrap_or_default()
            .join(",");
        let probe = if step.depends_on.as_ref().is_some_and(|d| d.probe.is_some()) {
            " (+probe)"
        } else {
            ""
        };
        out.push_str(&format!(
            "{:<24} {:<40} {:<11} {:>8}  {:<20} {:<20} {}{probe}\n",
            step.name,
            job,
            state,
            if entry.is_some() {
                attempts.to_string()
            } else {
                "-".to_owned()
            },
            start.unwrap_or_else(|| "-".to_owned()),
            end.unwrap_or_else(|| "-".to_owned()),
            if deps.is_empty() {
                "-".to_owned()
            } else {
                deps
            },
        ));
    }
    if phase(flow) == FlowPhase::Failed {
        out.push_str(&format!(
            "\nresume it from its failed steps with `basalt flow retry {name} -n {}`\n",
            flow.namespace().unwrap_or_default()
        ));
    }
    out
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn view_shows_every_step_with_attempts() {
        let steps = [
            "data-collection",
            "data-preprocessing",
            "feature-extraction",
            "model-training",
            "model-validation",
            "model-deployment",
        ];
        let flows: Vec<serde_json::Value> = steps
            .iter()
            .enumerate()
            .map(|(i, s)| serde_json::json!({"name": s, "dependsOn": {"targets": if i == 0 { vec![] } else { vec![steps[i - 1]] }}}))
            .collect();
        let mut flow: JobFlow = serde_json::from_value(serde_json::json!({
            "apiVersion": "flow.volcano.sh/v1alpha1", "kind": "JobFlow",
            "metadata": {"name": "credit-ml-pipeline", "namespace": "ml"}, "spec": {"flows": flows}
        }))
        .unwrap();
        flow.status = Some(serde_json::from_value(serde_json::json!({
            "state": {"phase": "Failed"}, "failedJobs": ["credit-ml-pipeline-data-collection"],
            "jobStatusList": [{"name": "credit-ml-pipeline-data-collection", "state": "Failed", "restartCount": 3}]
        })).unwrap());
        let text = view(&flow);
        assert!(
            text.contains("JobFlow ml/credit-ml-pipeline: Failed"),
            "{text}"
        );
        assert!(
            text.lines().any(|l| l.starts_with("data-collection")
                && l.contains("Failed")
                && l.contains(" 4 ")),
            "{text}"
        );
        assert!(
            text.lines()
                .any(|l| l.starts_with("model-deployment") && l.ends_with("model-validation")),
            "{text}"
        );
        assert!(text.contains("basalt flow retry credit-ml-pipeline -n ml"));
        let table = list_table(&[flow]);
        assert!(table.lines().nth(1).unwrap().contains("0/6"), "{table}");
    }
}
