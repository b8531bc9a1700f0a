//! Admission webhooks through `basalt up`: the devcluster calls the registered webhooks over
//! HTTPS, `kubectl apply` of an invalid manifest prints the webhook's message and creates
//! nothing, and valid objects come back defaulted.

use crate::harness::Cluster;

/// Applies `yaml`, expects a refusal whose stderr contains every fragment, and checks that
/// `kubectl get <kind> <name>` finds nothing.
fn refused(c: &Cluster, yaml: &str, kind: &str, name: &str, fragments: &[&str]) {
    let out = c.kubectl_output(&["apply", "-f", "-"], Some(yaml));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        !out.status.success(),
        "apply of {kind}/{name} succeeded: {}",
        String::from_utf8_lossy(&out.stdout)
    );
    assert!(stderr.contains("denied the request"), "{stderr}");
    for f in fragments {
        assert!(stderr.contains(f), "kubectl stderr {stderr:?} lacks {f:?}");
    }
    let get = c.kubectl_output(&["get", kind, name], None);
    assert!(
        !get.status.success(),
        "{kind}/{name} exists after a refused apply"
    );
    assert!(String::from_utf8_lossy(&get.stderr).contains("NotFound"));
}

fn job(name: &str, queue: &str, replicas: u32, gpus: u32) -> String {
    format!(
        "apiVersion: batch.volcano.sh/v1alpha1
kind: Job
metadata:
  name: {name}
spec:
  queue: {queue}
  minAvailable: {replicas}
  tasks:
  - name: worker
    replicas: {replicas}
    template:
      spec:
        containers:
        - name: worker
          image: pytorch/pytorch:2.3.0
          resources:
            limits:
              nvidia.com/gpu: {gpus}
"
    )
}

#[test]
fn invalid_manifests_are_refused_with_the_webhook_message_and_valid_ones_defaulted() {
    let c = Cluster::start(&[]);
    // Seed manifest 02 has no container image.
    refused(
        &c,
        include_str!("../webhooks/tests/data/02-vgpu-inference-job.yaml"),
        "vcjob",
        "inference-service",
        &[
            "jobs-validate.basalt.dev",
            "spec.tasks[0].template.spec.containers[0].image is missing",
            "set the container image",
        ],
    );
    refused(
        &c,
        &job("lost", "nowhere", 1, 1),
        "vcjob",
        "lost",
        &["spec.queue names queue \"nowhere\", which does not exist"],
    );
    // 4 nodes × 8 GPUs: a 5 × 8 gang can never start.
    refused(
        &c,
        &job("huge", "default", 5, 8),
        "vcjob",
        "huge",
        &["needs 40 nvidia.com/gpu to start (minAvailable 5 × 8) but the whole cluster has 32"],
    );
    // A queue and a job applied together: the queue is created, the job is refused on its capability.
    let team = "apiVersion: scheduling.volcano.sh/v1beta1\nkind: Queue\nmetadata:\n  name: team-a\nspec:\n  capability:\n    nvidia.com/gpu: 20\n---\n";
    let out = c.kubectl_output(
        &["apply", "-f", "-"],
        Some(&format!("{team}{}", job("train", "team-a", 3, 8))),
    );
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("job \"train\" needs 24 nvidia.com/gpu to start (minAvailable 3 × 8) but queue \"team-a\" allows 20"),
        "{stderr}"
    );
    assert!(
        c.kubectl_output(&["get", "vcjob", "train"], None)
            .status
            .code()
            != Some(0)
    );
    // Queues: guarantee above capability (the CRD schema already bounds weight); `default` cannot be deleted.
    refused(
        &c,
        "apiVersion: scheduling.volcano.sh/v1beta1\nkind: Queue\nmetadata:\n  name: greedy\nspec:\n  capability:\n    nvidia.com/gpu: 4\n  guarantee:\n    resource:\n      nvidia.com/gpu: 8\n",
        "queue",
        "greedy",
        &[
            "spec.guarantee.resource[\"nvidia.com/gpu\"] is 8 but spec.capability[\"nvidia.com/gpu\"] is 4",
        ],
    );
    let del = c.kubectl_output(&["delete", "queue", "default"], None);
    assert!(!del.status.success());
    assert!(String::from_utf8_lossy(&del.stderr).contains("cannot be deleted"));
    // A JobFlow with a cycle.
    refused(
        &c,
        "apiVersion: flow.volcano.sh/v1alpha1\nkind: JobFlow\nmetadata:\n  name: loop\nspec:\n  flows:\n  - name: a\n    dependsOn:\n      targets: [b]\n  - name: b\n    dependsOn:\n      targets: [a]\n",
        "jobflow",
        "loop",
        &["form a cycle: a -> b -> a"],
    );

    // A valid job comes back with Volcano's defaults.
    let yaml = "apiVersion: batch.volcano.sh/v1alpha1\nkind: Job\nmetadata:\n  name: plain\nspec:\n  tasks:\n  - replicas: 2\n    template:\n      spec:\n        containers:\n        - name: main\n          image: busybox:1.36\n";
    c.apply(yaml);
    let spec = &c.get_json(&["vcjob", "plain"])["spec"];
    assert_eq!(spec["queue"], "default");
    assert_eq!(spec["schedulerName"], "volcano");
    assert_eq!(spec["maxRetry"], 3);
    assert_eq!(spec["minAvailable"], 2);
    assert_eq!(spec["tasks"][0]["name"], "default0");
    assert_eq!(spec["tasks"][0]["minAvailable"], 2);
}
