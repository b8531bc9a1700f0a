//! JobFlow against a real (embedded) API server with simulated nodes and every controller:
//! strict ordering, retry from the failed step, `RetryJobFlow` resume, a diamond, and a
//! controller restart in the middle of a flow.

#![allow(clippy::unwrap_used)] // a test fails by panicking

mod common;

use std::collections::BTreeMap;

use common::{cluster, eventually, fast_config, start, yaml};
use crds::job::Job;
use crds::jobflow::{FlowPhase, JobFlow, JobFlowStatus};
use k8s_openapi::jiff::Timestamp;
use kube::ResourceExt;
use kube::api::{Api, PostParams};

/// A flow with an inline template of one `worker` task running `duration`; `steps` is YAML for
/// `spec.flows`, `extra` more spec fields.
fn flow(name: &str, steps: &str, extra: &str, duration: &str) -> JobFlow {
    yaml(&format!(
        "apiVersion: flow.volcano.sh/v1alpha1
kind: JobFlow
metadata: {{name: {name}, namespace: default}}
spec:
  {extra}
  flows: {steps}
  jobTemplate:
    spec:
      schedulerName: volcano
      tasks:
      - name: worker
        replicas: 1
        template:
          metadata: {{annotations: {{sim.basalt.dev/duration: {duration}}}}}
          spec:
            restartPolicy: Never
            containers: [{{name: worker, image: busybox}}]
"
    ))
}

/// `patch` making step's pod fail its first `n` runs.
fn failing(n: u32) -> String {
    format!(
        "patch: {{jobSpec: {{tasks: [{{name: worker, template: {{metadata: {{annotations: {{sim.basalt.dev/fail-times: \"{n}\"}}}}}}}}]}}}}"
    )
}

async fn wait_phase(api: &Api<JobFlow>, name: &str, want: FlowPhase, secs: u64) -> JobFlowStatus {
    eventually(secs, &format!("jobflow {name} {want:?}"), || async {
        let f = api.get(name).await.ok()?;
        let s = f.status?;
        (s.state.as_ref()?.phase == Some(want)).then_some(s)
    })
    .await
}

fn restarts(s: &JobFlowStatus) -> BTreeMap<String, i32> {
    s.job_status_list
        .iter()
        .flatten()
        .map(|e| (e.name.clone().unwrap(), e.restart_count.unwrap_or(0)))
        .collect()
}

fn times(s: &JobFlowStatus, job: &str) -> (Timestamp, Timestamp) {
    let e = s
        .job_status_list
        .iter()
        .flatten()
        .find(|e| e.name.as_deref() == Some(job))
        .unwrap();
    (
        e.start_timestamp.clone().unwrap().0,
        e.end_timestamp.clone().unwrap().0,
    )
}

async fn attempts(client: &kube::Client) -> BTreeMap<String, String> {
    let jobs: Api<Job> = Api::namespaced(client.clone(), "default");
    let list = jobs.list(&Default::default()).await.unwrap().items;
    list.iter()
        .map(|j| {
            (
                j.name_any(),
                j.annotations()
                    .get("flow.basalt.dev/attempt")
                    .cloned()
                    .unwrap_or_default(),
            )
        })
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_failed_step_is_retried_without_re_running_its_upstream() {
    let env = start(2, 8).await;
    let api: Api<JobFlow> = Api::namespaced(env.client.clone(), "default");
    let steps = format!(
        "[{{name: a}}, {{name: b, dependsOn: {{targets: [a]}}, {}}}, {{name: c, dependsOn: {{targets: [b]}}}}]",
        failing(2)
    );
    api.create(
        &PostParams::default(),
        &flow("retry", &steps, "retryPolicy: {maxRetries: 3}", "1s"),
    )
    .await
    .unwrap();
    let s = wait_phase(&api, "retry", FlowPhase::Succeed, 90).await;
    assert_eq!(
        restarts(&s),
        BTreeMap::from([
            ("retry-a".into(), 0),
            ("retry-b".into(), 2),
            ("retry-c".into(), 0)
        ])
    );
    let a = attempts(&env.client).await;
    assert_eq!(
        (
            a["retry-a"].as_str(),
            a["retry-b"].as_str(),
            a["retry-c"].as_str()
        ),
        ("1", "3", "1")
    );
    let (_, a_end) = times(&s, "retry-a");
    let (b_start, b_end) = times(&s, "retry-b");
    let (c_start, _) = times(&s, "retry-c");
    assert!(a_end <= b_start && b_end <= c_start, "strict order: {s:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_exhausted_flow_fails_and_a_retry_command_finishes_it() {
    let env = start(2, 8).await;
    let api: Api<JobFlow> = Api::namespaced(env.client.clone(), "default");
    let steps = format!(
        "[{{name: a}}, {{name: b, dependsOn: {{targets: [a]}}, {}}}]",
        failing(2)
    );
    api.create(
        &PostParams::default(),
        &flow("resume", &steps, "retryPolicy: {maxRetries: 1}", "1s"),
    )
    .await
    .unwrap();
    let s = wait_phase(&api, "resume", FlowPhase::Failed, 60).await;
    assert_eq!(s.failed_jobs.as_deref(), Some(&["resume-b".to_owned()][..]));
    let commands: Api<crds::command::Command> = Api::namespaced(env.client.clone(), "default");
    let cmd: crds::command::Command = yaml(
        "apiVersion: bus.volcano.sh/v1alpha1\nkind: Command\nmetadata: {name: retry-resume, namespace: default}\n\
         action: RetryJobFlow\ntarget: {apiVersion: flow.volcano.sh/v1alpha1, kind: JobFlow, name: resume, uid: x}\n",
    );
    commands.create(&PostParams::default(), &cmd).await.unwrap();
    let s = wait_phase(&api, "resume", FlowPhase::Succeed, 60).await;
    assert_eq!(restarts(&s)["resume-a"], 0);
    assert_eq!(restarts(&s)["resume-b"], 2);
    assert!(
        commands.get_opt("retry-resume").await.unwrap().is_none(),
        "the command is consumed"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_diamond_runs_its_middle_in_parallel() {
    let env = start(2, 8).await;
    let api: Api<JobFlow> = Api::namespaced(env.client.clone(), "default");
    let steps = "[{name: a}, {name: b, dependsOn: {targets: [a]}}, {name: c, dependsOn: {targets: [a]}}, \
                 {name: d, dependsOn: {targets: [b, c]}}]";
    api.create(
        &PostParams::default(),
        &flow("diamond", steps, "jobRetainPolicy: retain", "3s"),
    )
    .await
    .unwrap();
    let s = wait_phase(&api, "diamond", FlowPhase::Succeed, 90).await;
    let (_, a_end) = times(&s, "diamond-a");
    let (b_start, b_end) = times(&s, "diamond-b");
    let (c_start, c_end) = times(&s, "diamond-c");
    let (d_start, _) = times(&s, "diamond-d");
    assert!(a_end <= b_start && a_end <= c_start);
    assert!(b_start < c_end && c_start < b_end, "b and c overlap: {s:?}");
    assert!(b_end <= d_start && c_end <= d_start, "d after both: {s:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_controller_restart_mid_flow_runs_every_step_once() {
    let (handle, client, mut env) = cluster(2, 8).await;
    env.cluster = Some(handle);
    let (tx, rx) = tokio::sync::oneshot::channel::<()>();
    let first = tokio::spawn(controllers::run(
        client.clone(),
        fast_config(),
        async move {
            let _ = rx.await;
        },
    ));
    let api: Api<JobFlow> = Api::namespaced(client.clone(), "default");
    let steps = "[{name: s1}, {name: s2, dependsOn: {targets: [s1]}}, {name: s3, dependsOn: {targets: [s2]}}, \
                 {name: s4, dependsOn: {targets: [s3]}}]";
    api.create(
        &PostParams::default(),
        &flow("crash", steps, "retryPolicy: {maxRetries: 2}", "2s"),
    )
    .await
    .unwrap();
    let jobs: Api<Job> = Api::namespaced(client.clone(), "default");
    eventually(60, "step s3 created", || async {
        jobs.get_opt("crash-s3").await.ok().flatten()
    })
    .await;
    let _ = tx.send(());
    first.await.unwrap().unwrap();
    env.start_controllers(fast_config());
    let s = wait_phase(&api, "crash", FlowPhase::Succeed, 90).await;
    assert!(restarts(&s).values().all(|r| *r == 0), "{s:?}");
    let a = attempts(&client).await;
    assert_eq!(a.len(), 4);
    assert!(a.values().all(|v| v == "1"), "{a:?}");
}
