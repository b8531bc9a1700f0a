//! High availability and operations: two controller replicas on one Lease (only the leader
//! schedules; the standby takes over after the leader dies), `/metrics` and `/readyz`, and a hot
//! reloaded scheduler configuration that keeps the last good one when the new one is invalid.

#![allow(clippy::unwrap_used)]

mod common;

use std::time::{Duration, Instant};

use common::{cluster, eventually, fast_config, yaml};
use crds::job::{Job, JobPhase};
use k8s_openapi::api::coordination::v1::Lease;
use kube::api::{Api, PostParams};
use tokio::sync::oneshot;

/// A controller replica on its own runtime, so killing it stops every task it spawned without a
/// graceful lease release (a crashed process).
struct Replica {
    kill: Option<oneshot::Sender<()>>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl Replica {
    fn start(client: kube::Client, identity: &str, metrics: Option<std::net::SocketAddr>) -> Self {
        let mut le = controllers::LeaderElection::new("default", identity);
        le.lease_duration = Duration::from_secs(3);
        le.renew_deadline = Duration::from_secs(2);
        le.retry_period = Duration::from_millis(300);
        let config = controllers::ControllerConfig {
            leader_election: Some(le),
            metrics_addr: metrics,
            ..fast_config()
        };
        let (kill, killed) = oneshot::channel::<()>();
        let thread = std::thread::spawn(move || {
            let rt = tokio::runtime::Builder::new_multi_thread()
                .worker_threads(1)
                .enable_all()
                .build()
                .unwrap();
            rt.block_on(async move {
                tokio::select! {
                    r = controllers::run(client, config, std::future::pending()) => r.unwrap(),
                    _ = killed => {}
                }
            });
            rt.shutdown_background();
        });
        Self {
            kill: Some(kill),
            thread: Some(thread),
        }
    }

    fn kill(&mut self) {
        if let Some(k) = self.kill.take() {
            let _ = k.send(());
        }
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

impl Drop for Replica {
    fn drop(&mut self) {
        self.kill();
    }
}

fn free_port() -> std::net::SocketAddr {
    let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    l.local_addr().unwrap()
}

fn small_job(name: &str) -> Job {
    yaml(&format!(
        "apiVersion: batch.volcano.sh/v1alpha1\nkind: Job\nmetadata: {{name: {name}}}\nspec:\n  minAvailable: 1\n  schedulerName: volcano\n  tasks:\n  - name: t\n    replicas: 1\n    template:\n      spec:\n        containers: [{{name: c, image: x, resources: {{requests: {{cpu: 100m}}}}}}]\n"
    ))
}

async fn running(jobs: &Api<Job>, name: &str) -> Option<()> {
    let p = jobs.get_opt(name).await.ok()??.status?.state?.phase;
    (p == Some(JobPhase::Running)).then_some(())
}

async fn holder(client: &kube::Client) -> Option<String> {
    let leases: Api<Lease> = Api::namespaced(client.clone(), "default");
    leases
        .get_opt("basalt-controller")
        .await
        .ok()??
        .spec?
        .holder_identity
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn standby_takes_over_after_the_leader_dies() {
    let (_handle, client, _env) = cluster(1, 8).await;
    let metrics = free_port();
    let mut a = Replica::start(client.clone(), "replica-a", Some(metrics));
    eventually(15, "replica-a leads", || async {
        (holder(&client).await.as_deref() == Some("replica-a")).then_some(())
    })
    .await;
    let mut b = Replica::start(client.clone(), "replica-b", None);
    let jobs: Api<Job> = Api::namespaced(client.clone(), "default");
    jobs.create(&PostParams::default(), &small_job("first"))
        .await
        .unwrap();
    eventually(30, "first job Running", || running(&jobs, "first")).await;

    let body = eventually(10, "/metrics answers", || async {
        let out = std::process::Command::new("curl")
            .args(["-sf", &format!("http://{metrics}/metrics")])
            .output()
            .ok()?;
        out.status
            .success()
            .then(|| String::from_utf8_lossy(&out.stdout).into_owned())
    })
    .await;
    assert!(body.contains("basalt_scheduler_pods_bound_total"), "{body}");
    assert!(body.contains("basalt_controller_leader 1"), "{body}");
    let ready = std::process::Command::new("curl")
        .args(["-sf", &format!("http://{metrics}/readyz")])
        .output()
        .unwrap();
    assert!(ready.status.success());

    assert_eq!(
        holder(&client).await.as_deref(),
        Some("replica-a"),
        "the standby must not steal a live lease"
    );
    a.kill();
    let died = Instant::now();
    jobs.create(&PostParams::default(), &small_job("second"))
        .await
        .unwrap();
    eventually(15, "replica-b leads", || async {
        (holder(&client).await.as_deref() == Some("replica-b")).then_some(())
    })
    .await;
    eventually(30, "second job Running under the new leader", || {
        running(&jobs, "second")
    })
    .await;
    assert!(
        died.elapsed() < Duration::from_secs(15),
        "takeover took {:?}",
        died.elapsed()
    );
    b.kill();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn scheduler_config_file_is_hot_reloaded_and_a_bad_one_keeps_the_last_good() {
    let (_handle, client, mut env) = cluster(1, 8).await;
    let dir = std::env::temp_dir().join(format!("basalt-ctl-reload-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let file = dir.join("scheduler.yaml");
    // Enqueue only: gangs are admitted (pods get created) but nothing is ever allocated.
    std::fs::write(
        &file,
        "actions: \"enqueue\"\ntiers:\n- plugins:\n  - name: gang\n",
    )
    .unwrap();
    let config = controllers::ControllerConfig {
        scheduler_config: controllers::SchedulerConfigSource::File(file.clone()),
        ..fast_config()
    };
    env.start_controllers(config);
    let jobs: Api<Job> = Api::namespaced(client.clone(), "default");
    let pods: Api<k8s_openapi::api::core::v1::Pod> = Api::namespaced(client.clone(), "default");
    jobs.create(&PostParams::default(), &small_job("first"))
        .await
        .unwrap();
    eventually(30, "first job's pod created", || async {
        pods.get_opt("first-t-0").await.ok().flatten()
    })
    .await;
    tokio::time::sleep(Duration::from_secs(1)).await;
    let pod = pods.get("first-t-0").await.unwrap();
    assert!(
        pod.spec.unwrap().node_name.is_none(),
        "no allocate action: nothing may bind"
    );

    std::fs::write(&file, controllers::scheduler::config::DEFAULT_CONFIG).unwrap();
    eventually(30, "first job Running after the reload", || {
        running(&jobs, "first")
    })
    .await;

    std::fs::write(&file, "actions: \"enqueue, allocate, no-such-action\"\n").unwrap();
    tokio::time::sleep(Duration::from_secs(3)).await;
    jobs.create(&PostParams::default(), &small_job("second"))
        .await
        .unwrap();
    eventually(
        30,
        "second job Running on the last good configuration",
        || running(&jobs, "second"),
    )
    .await;
    let _ = std::fs::remove_dir_all(&dir);
}

/// `basalt controller` on SIGTERM: every task stops on the signal, with and without leader
/// election, and also when the signal comes during start-up (the second run is stopped at once:
/// the default queue already exists). Before, without election, two helper tasks (the dead-task
/// watcher and the default queues' leader follower) never saw the signal, and a controller stopped
/// before its first list never ended (kube-runtime's runner waits for a store that a stopped watch
/// never fills): each used up the 10 s stop timeout, so a stop took 20–80 s and logged "a
/// controller did not stop within 10 s" once per stuck task.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn controllers_stop_promptly_on_shutdown() {
    let (_handle, client, _env) = cluster(0, 0).await;
    let queues: Api<crds::queue::Queue> = Api::all(client.clone());
    for election in [true, false] {
        let config = controllers::ControllerConfig {
            leader_election: election.then(|| {
                let mut le = controllers::LeaderElection::new("default", "stopper");
                le.retry_period = Duration::from_millis(300);
                le
            }),
            ..fast_config()
        };
        let (stop, stopped) = oneshot::channel::<()>();
        let c = client.clone();
        let run = tokio::spawn(async move {
            controllers::run(c, config, async move {
                let _ = stopped.await;
            })
            .await
        });
        eventually(20, "the default queue exists", || async {
            queues.get_opt("default").await.ok().flatten().map(|_| ())
        })
        .await;
        let asked = Instant::now();
        stop.send(()).unwrap();
        let result = tokio::time::timeout(Duration::from_secs(30), run)
            .await
            .expect("controllers::run never returned")
            .unwrap();
        assert!(result.is_ok(), "{result:?}");
        let took = asked.elapsed();
        assert!(
            took < Duration::from_secs(5),
            "election {election}: stopping took {took:?}, not a prompt stop (each stuck task costs the 10 s stop timeout)"
        );
    }
}
