//! JobFlow against a real (embedded) API server with simulated nodes and every controller:
//! strict ordering, retry from the failed step, `RetryJobFlow` resume, a diamond, and a
//! controller restart in the middle of a flow.

#![allow(clippy::unwrap_used)] // a test fails by panicking

mod common;

use std::collections::BTreeMap;

use common::{cluster, eventually, fast_config, start, yaml};
use crds::job::Job;
use crds::jobflow::{FlowPhase, JobFlow, JobFlowStatus, RetainPolicy};
use crds::jobtemplate::JobTemplate;
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

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_task_status_probe_starts_the_client_while_the_server_runs() {
    let env = start(2, 8).await;
    let api: Api<JobFlow> = Api::namespaced(env.client.clone(), "default");
    let steps = "[{name: server}, {name: client, dependsOn: {targets: [server], \
                 probe: {taskStatusList: [{taskName: worker, phase: Running}]}}}]";
    api.create(&PostParams::default(), &flow("probed", steps, "", "60s"))
        .await
        .unwrap();
    let jobs: Api<Job> = Api::namespaced(env.client.clone(), "default");
    eventually(60, "the client step created", || async {
        jobs.get_opt("probed-client").await.ok().flatten()
    })
    .await;
    let server = jobs.get("probed-server").await.unwrap();
    let phase = server.status.and_then(|s| s.state).and_then(|s| s.phase);
    assert_eq!(
        phase,
        Some(crds::job::JobPhase::Running),
        "the server is still running"
    );
    // Deleting the flow garbage-collects its Jobs.
    api.delete("probed", &kube::api::DeleteParams::foreground())
        .await
        .unwrap();
    eventually(30, "the flow's Jobs deleted", || async {
        let left = jobs.list(&Default::default()).await.ok()?.items;
        left.is_empty().then_some(())
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn jobtemplates_and_patch_build_the_jobs_and_delete_policy_cleans_up() {
    let env = start(2, 8).await;
    let client = env.client.clone();
    let docs: Vec<serde_json::Value> =
        serde_saphyr::from_multiple(include_str!("../../examples/jobtemplate-and-flow.yaml"))
            .unwrap();
    let templates: Api<JobTemplate> = Api::namespaced(client.clone(), "default");
    for d in &docs[..2] {
        let mut t: JobTemplate = serde_json::from_value(d.clone()).unwrap();
        t.metadata.namespace = Some("default".into());
        // Shorten the 5 s and 10 s steps.
        t.spec.tasks[0]
            .template
            .metadata
            .as_mut()
            .unwrap()
            .annotations = Some([("sim.basalt.dev/duration".to_owned(), "1s".to_owned())].into());
        templates.create(&PostParams::default(), &t).await.unwrap();
    }
    let mut f: JobFlow = serde_json::from_value(docs[2].clone()).unwrap();
    f.metadata.namespace = Some("default".into());
    f.spec.job_retain_policy = Some(RetainPolicy::Delete);
    let api: Api<JobFlow> = Api::namespaced(client.clone(), "default");
    api.create(&PostParams::default(), &f).await.unwrap();
    let jobs: Api<Job> = Api::namespaced(client.clone(), "default");
    let train = eventually(60, "the train step", || async {
        jobs.get_opt("prepare-then-train-train")
            .await
            .ok()
            .flatten()
    })
    .await;
    assert_eq!(train.spec.tasks[0].replicas, Some(2), "patch applied");
    assert_eq!(
        train.labels()["volcano.sh/createdByJobTemplate"],
        "default.train"
    );
    assert_eq!(
        train.labels()["volcano.sh/createdByJobFlow"],
        "default.prepare-then-train"
    );
    eventually(30, "jobDependsOnList of train", || async {
        let t = templates.get("train").await.ok()?;
        (t.status?.job_depends_on_list? == ["prepare-then-train-train"]).then_some(())
    })
    .await;
    let s = wait_phase(&api, "prepare-then-train", FlowPhase::Succeed, 60).await;
    assert_eq!(s.completed_jobs.map(|c| c.len()), Some(2));
    eventually(30, "retain policy delete removes the Jobs", || async {
        jobs.list(&Default::default())
            .await
            .ok()?
            .items
            .is_empty()
            .then_some(())
    })
    .await;
    let f = api.get("prepare-then-train").await.unwrap();
    assert_eq!(
        f.status.unwrap().state.unwrap().phase,
        Some(FlowPhase::Succeed),
        "still Succeed after cleanup"
    );
}

async fn events_for(client: &kube::Client, name: &str) -> Vec<(String, String)> {
    let api: Api<k8s_openapi::api::events::v1::Event> = Api::namespaced(client.clone(), "default");
    let list = api
        .list(&Default::default())
        .await
        .map(|l| l.items)
        .unwrap_or_default();
    list.into_iter()
        .filter(|e| e.regarding.as_ref().and_then(|r| r.name.as_deref()) == Some(name))
        .map(|e| (e.reason.unwrap_or_default(), e.note.unwrap_or_default()))
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_cycle_fails_the_flow_and_a_missing_template_waits_for_it() {
    let env = start(1, 8).await;
    let client = env.client.clone();
    let api: Api<JobFlow> = Api::namespaced(client.clone(), "default");
    let cyclic = "[{name: a, dependsOn: {targets: [c]}}, {name: b, dependsOn: {targets: [a]}}, \
                  {name: c, dependsOn: {targets: [b]}}]";
    api.create(&PostParams::default(), &flow("cyclic", cyclic, "", "1s"))
        .await
        .unwrap();
    wait_phase(&api, "cyclic", FlowPhase::Failed, 30).await;
    let note = eventually(30, "an InvalidFlow event", || async {
        events_for(&client, "cyclic")
            .await
            .into_iter()
            .find(|(r, _)| r == "InvalidFlow")
            .map(|(_, n)| n)
    })
    .await;
    assert!(note.contains("a -> b -> c -> a"), "{note}");
    // A flow without inline template whose step has no JobTemplate waits, then runs once it exists.
    let mut f: JobFlow = flow("templated", "[{name: only}]", "", "1s");
    let inline = f.spec.job_template.take().unwrap();
    api.create(&PostParams::default(), &f).await.unwrap();
    eventually(30, "a MissingTemplate event", || async {
        events_for(&client, "templated")
            .await
            .iter()
            .any(|(r, _)| r == "MissingTemplate")
            .then_some(())
    })
    .await;
    let templates: Api<JobTemplate> = Api::namespaced(client.clone(), "default");
    let t = JobTemplate::new(
        "only",
        crds::jobtemplate::JobTemplateSpec { job: inline.spec },
    );
    templates.create(&PostParams::default(), &t).await.unwrap();
    wait_phase(&api, "templated", FlowPhase::Succeed, 60).await;
}
