//! The scheduler loop against the embedded API server: gang all-or-nothing on GPUs (article
//! case 2), capacity held by pods of other schedulers, queues (team queues, closed queue).

#![allow(clippy::unwrap_used)]

mod common;

use std::time::Duration;

use common::{eventually, start, yaml};
use crds::job::{Job, JobPhase};
use crds::queue::{Queue, QueueState};
use k8s_openapi::api::core::v1::Pod;
use kube::api::{Api, DeleteParams, ListParams, PostParams};

/// A pod bound directly to `node` (as another scheduler would) holding `gpus` GPUs.
fn blocker(name: &str, node: &str, gpus: u32) -> Pod {
    yaml(&format!(
        "apiVersion: v1\nkind: Pod\nmetadata: {{name: {name}, namespace: default}}\nspec:\n  nodeName: {node}\n  schedulerName: default-scheduler\n  containers:\n  - name: c\n    image: x\n    resources: {{limits: {{nvidia.com/gpu: {gpus}}}}}\n"
    ))
}

async fn job_pods(client: &kube::Client, job: &str) -> Vec<Pod> {
    let api: Api<Pod> = Api::namespaced(client.clone(), "default");
    api.list(&ListParams::default().labels(&format!("volcano.sh/job-name={job}")))
        .await
        .unwrap()
        .items
}

fn bound(p: &Pod) -> bool {
    p.spec.as_ref().and_then(|s| s.node_name.as_ref()).is_some()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn gang_waits_while_30_of_32_gpus_are_taken_then_starts_all_four_together() {
    let env = start(4, 8).await;
    let pods: Api<Pod> = Api::namespaced(env.client.clone(), "default");
    for (i, gpus) in [8, 8, 8, 6].into_iter().enumerate() {
        pods.create(
            &PostParams::default(),
            &blocker(&format!("other-{i}"), &format!("gpu-node-{i}"), gpus),
        )
        .await
        .unwrap();
    }
    let jobs: Api<Job> = Api::namespaced(env.client.clone(), "default");
    let text = include_str!("../../examples/03-gang-distributed-training-job.yaml")
        .replace("120s", "600s");
    jobs.create(&PostParams::default(), &yaml::<Job>(&text))
        .await
        .unwrap();
    // Several sessions run (200 ms period); the gang must stay entirely unbound.
    let deadline = tokio::time::Instant::now() + Duration::from_secs(4);
    while tokio::time::Instant::now() < deadline {
        let ps = job_pods(&env.client, "distributed-training").await;
        assert!(
            ps.iter().all(|p| !bound(p)),
            "a gang member was bound while the gang cannot fit"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    let job = jobs.get("distributed-training").await.unwrap();
    assert_eq!(
        job.status.unwrap().state.unwrap().phase,
        Some(JobPhase::Pending)
    );
    let pgs: Api<crds::PodGroup> = Api::namespaced(env.client.clone(), "default");
    let pg = pgs
        .list(&ListParams::default())
        .await
        .unwrap()
        .items
        .remove(0);
    let pg_phase = pg.status.and_then(|s| s.phase).unwrap_or_default();
    assert_eq!(
        pg_phase,
        crds::PodGroupPhase::Pending,
        "enqueue must not admit a gang that cannot fit"
    );
    for i in 0..4 {
        pods.delete(&format!("other-{i}"), &DeleteParams::default())
            .await
            .unwrap();
    }
    eventually(30, "all four gang pods running", || async {
        let ps = job_pods(&env.client, "distributed-training").await;
        let running = ps
            .iter()
            .filter(|p| p.status.as_ref().and_then(|s| s.phase.as_deref()) == Some("Running"))
            .count();
        let pending = ps.len() - running;
        assert!(
            !(running > 0 && pending > 0 && ps.iter().filter(|p| bound(p)).count() < 4),
            "partial gang: {running} running, {pending} pending"
        );
        (running == 4).then_some(())
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn team_queues_apply_and_a_closed_queue_holds_new_jobs() {
    let env = start(2, 8).await;
    let queues: Api<Queue> = Api::all(env.client.clone());
    for doc in include_str!("../../examples/05-team-queues.yaml").split("\n---\n") {
        queues
            .create(&PostParams::default(), &yaml::<Queue>(doc))
            .await
            .unwrap();
    }
    eventually(10, "default queue created", || async {
        queues.get_opt("default").await.unwrap().map(|_| ())
    })
    .await;
    let commands: Api<crds::Command> = Api::namespaced(env.client.clone(), "default");
    let close = "apiVersion: bus.volcano.sh/v1alpha1\nkind: Command\nmetadata: {name: close-a}\naction: CloseQueue\ntarget: {apiVersion: scheduling.volcano.sh/v1beta1, kind: Queue, name: team-a-queue, uid: \"\"}\n";
    commands
        .create(&PostParams::default(), &yaml::<crds::Command>(close))
        .await
        .unwrap();
    eventually(20, "team-a-queue Closed", || async {
        let q = queues.get("team-a-queue").await.unwrap();
        (q.status?.state == Some(QueueState::Closed)).then_some(())
    })
    .await;
    let jobs: Api<Job> = Api::namespaced(env.client.clone(), "default");
    let text = include_str!("../../examples/03-gang-distributed-training-job.yaml")
        .replace("queue: default", "queue: team-a-queue")
        .replace("120s", "600s");
    jobs.create(&PostParams::default(), &yaml::<Job>(&text))
        .await
        .unwrap();
    let state = eventually(20, "job explains the closed queue", || async {
        let s = jobs
            .get("distributed-training")
            .await
            .unwrap()
            .status?
            .state?;
        (s.reason.as_deref() == Some("QueueClosed")).then_some(s)
    })
    .await;
    assert_eq!(state.phase, Some(JobPhase::Pending));
    assert!(state.message.unwrap().contains("team-a-queue"));
    assert!(
        job_pods(&env.client, "distributed-training")
            .await
            .is_empty(),
        "closed queue admits nothing"
    );
    let open = close
        .replace("CloseQueue", "OpenQueue")
        .replace("close-a", "open-a");
    commands
        .create(&PostParams::default(), &yaml::<crds::Command>(&open))
        .await
        .unwrap();
    eventually(30, "job Running after the queue reopens", || async {
        let p = jobs
            .get("distributed-training")
            .await
            .unwrap()
            .status?
            .state?
            .phase;
        (p == Some(JobPhase::Running)).then_some(())
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_unplaceable_pod_says_why_in_its_podscheduled_condition() {
    let env = start(2, 8).await;
    let jobs: Api<Job> = Api::namespaced(env.client.clone(), "default");
    let job: Job = yaml(
        "apiVersion: batch.volcano.sh/v1alpha1\nkind: Job\nmetadata: {name: huge}\nspec:\n  minAvailable: 1\n  schedulerName: volcano\n  tasks:\n  - name: t\n    replicas: 1\n    template:\n      spec:\n        containers: [{name: c, image: x, resources: {limits: {nvidia.com/gpu: 12}}}]\n",
    );
    jobs.create(&PostParams::default(), &job).await.unwrap();
    let message = eventually(
        30,
        "PodScheduled=False with the core's explanation",
        || async {
            let pods = job_pods(&env.client, "huge").await;
            let cond = pods
                .first()?
                .status
                .as_ref()?
                .conditions
                .as_ref()?
                .iter()
                .find(|c| c.type_ == "PodScheduled")?
                .clone();
            (cond.status == "False").then_some(cond.message.unwrap_or_default())
        },
    )
    .await;
    assert!(message.contains("nvidia.com/gpu"), "{message}");
}
