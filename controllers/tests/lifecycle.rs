//! Job lifecycle against a real (embedded) API server with simulated nodes: gang start,
//! TaskCompleted → CompleteJob, PodFailed → RestartJob until maxRetry, Commands, TTL, deletion.

#![allow(clippy::unwrap_used)]

mod common;

use common::{eventually, start, yaml};
use crds::job::{Job, JobPhase};
use crds::podgroup::PodGroup;
use k8s_openapi::api::core::v1::{Pod, Service};
use kube::api::{Api, DeleteParams, ListParams, PostParams};

fn training_job(duration: &str) -> Job {
    let text = include_str!("../../examples/03-gang-distributed-training-job.yaml")
        .replace("120s", duration);
    yaml(&text)
}

async fn phase(api: &Api<Job>, name: &str) -> Option<JobPhase> {
    api.get_opt(name).await.ok().flatten()?.status?.state?.phase
}

async fn job_pods(client: &kube::Client, job: &str) -> Vec<Pod> {
    let api: Api<Pod> = Api::namespaced(client.clone(), "default");
    api.list(&ListParams::default().labels(&format!("volcano.sh/job-name={job}")))
        .await
        .unwrap()
        .items
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn gang_job_runs_all_four_pods_then_completes() {
    let env = start(4, 8).await;
    let jobs: Api<Job> = Api::namespaced(env.client.clone(), "default");
    jobs.create(&PostParams::default(), &training_job("3s"))
        .await
        .unwrap();
    eventually(30, "job Running with 4 running pods", || async {
        (phase(&jobs, "distributed-training").await == Some(JobPhase::Running)).then_some(())
    })
    .await;
    let pods = job_pods(&env.client, "distributed-training").await;
    let mut names: Vec<String> = pods
        .iter()
        .filter_map(|p| p.metadata.name.clone())
        .collect();
    names.sort();
    assert_eq!(
        names,
        [
            "distributed-training-master-0",
            "distributed-training-worker-0",
            "distributed-training-worker-1",
            "distributed-training-worker-2"
        ]
    );
    assert!(
        pods.iter()
            .all(|p| p.spec.as_ref().unwrap().node_name.is_some()),
        "all four bound"
    );
    let pgs: Api<PodGroup> = Api::namespaced(env.client.clone(), "default");
    let pg = pgs.list(&ListParams::default()).await.unwrap().items;
    assert_eq!(pg.len(), 1);
    assert_eq!(pg[0].spec.min_member, Some(4));
    let svc: Api<Service> = Api::namespaced(env.client.clone(), "default");
    assert!(
        svc.get_opt("distributed-training").await.unwrap().is_some(),
        "svc plugin Service"
    );
    // TaskCompleted (master done) → CompleteJob.
    eventually(40, "job Completed", || async {
        (phase(&jobs, "distributed-training").await == Some(JobPhase::Completed)).then_some(())
    })
    .await;
    // Deleting the job garbage-collects its pods, PodGroup and Service.
    jobs.delete("distributed-training", &DeleteParams::foreground())
        .await
        .unwrap();
    eventually(30, "children garbage-collected", || async {
        let pods = job_pods(&env.client, "distributed-training").await;
        let pg = pgs.list(&ListParams::default()).await.unwrap().items;
        let s = svc.get_opt("distributed-training").await.unwrap();
        (pods.is_empty() && pg.is_empty() && s.is_none()).then_some(())
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn failing_pods_restart_the_job_until_max_retry_then_it_fails() {
    let env = start(2, 8).await;
    let jobs: Api<Job> = Api::namespaced(env.client.clone(), "default");
    let job: Job = yaml(
        r#"
apiVersion: batch.volcano.sh/v1alpha1
kind: Job
metadata: {name: flaky}
spec:
  minAvailable: 2
  schedulerName: volcano
  maxRetry: 2
  policies: [{event: PodFailed, action: RestartJob}]
  tasks:
  - name: worker
    replicas: 2
    template:
      metadata:
        annotations: {sim.basalt.dev/duration: 1s, sim.basalt.dev/exit-code: "3"}
      spec:
        restartPolicy: Never
        containers: [{name: w, image: busybox, resources: {requests: {cpu: "1"}}}]
"#,
    );
    jobs.create(&PostParams::default(), &job).await.unwrap();
    let status = eventually(60, "job Failed", || async {
        let j = jobs.get("flaky").await.ok()?;
        let s = j.status?;
        (s.state.as_ref()?.phase == Some(JobPhase::Failed)).then_some(s)
    })
    .await;
    assert_eq!(status.retry_count, Some(2));
    let conditions: Vec<JobPhase> = status
        .conditions
        .unwrap()
        .iter()
        .map(|c| c.status)
        .collect();
    assert!(conditions.contains(&JobPhase::Restarting), "{conditions:?}");
    assert!(conditions.contains(&JobPhase::Running), "{conditions:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn abort_and_resume_commands_are_consumed_once() {
    let env = start(4, 8).await;
    let jobs: Api<Job> = Api::namespaced(env.client.clone(), "default");
    jobs.create(&PostParams::default(), &training_job("600s"))
        .await
        .unwrap();
    eventually(30, "job Running", || async {
        (phase(&jobs, "distributed-training").await == Some(JobPhase::Running)).then_some(())
    })
    .await;
    let commands: Api<crds::Command> = Api::namespaced(env.client.clone(), "default");
    let abort: crds::Command = yaml(include_str!("../../examples/command-abort-job.yaml"));
    commands
        .create(&PostParams::default(), &abort)
        .await
        .unwrap();
    eventually(30, "job Aborted with no pods", || async {
        let aborted = phase(&jobs, "distributed-training").await == Some(JobPhase::Aborted);
        (aborted
            && job_pods(&env.client, "distributed-training")
                .await
                .is_empty())
        .then_some(())
    })
    .await;
    assert!(
        commands
            .list(&ListParams::default())
            .await
            .unwrap()
            .items
            .is_empty(),
        "command consumed"
    );
    let text = include_str!("../../examples/command-abort-job.yaml")
        .replace("AbortJob", "ResumeJob")
        .replace("abortjob", "resumejob");
    commands
        .create(&PostParams::default(), &yaml::<crds::Command>(&text))
        .await
        .unwrap();
    eventually(30, "job Running again", || async {
        (phase(&jobs, "distributed-training").await == Some(JobPhase::Running)).then_some(())
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn finished_job_is_deleted_after_its_ttl() {
    let env = start(1, 8).await;
    let jobs: Api<Job> = Api::namespaced(env.client.clone(), "default");
    let job: Job = yaml(
        r#"
apiVersion: batch.volcano.sh/v1alpha1
kind: Job
metadata: {name: short}
spec:
  minAvailable: 1
  schedulerName: volcano
  ttlSecondsAfterFinished: 1
  tasks:
  - name: t
    replicas: 1
    template:
      metadata: {annotations: {sim.basalt.dev/duration: 1s}}
      spec:
        restartPolicy: Never
        containers: [{name: c, image: busybox}]
"#,
    );
    jobs.create(&PostParams::default(), &job).await.unwrap();
    eventually(30, "job Completed", || async {
        (phase(&jobs, "short").await == Some(JobPhase::Completed)).then_some(())
    })
    .await;
    eventually(30, "job deleted by TTL", || async {
        jobs.get_opt("short").await.unwrap().is_none().then_some(())
    })
    .await;
}
