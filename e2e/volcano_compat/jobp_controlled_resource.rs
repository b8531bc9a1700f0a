//! Upstream `test/e2e/jobp/job_controlled_resource.go` ("Job E2E Test: Test Job PVCs"): the
//! objects a Job controls besides its pods, a claim per `spec.volumes` entry and the PodGroup's
//! `minResources`.

use serde_json::json;

use super::schedulingbase::wait_ready;
use super::{Suite, vcjob};

const FILE: &str = "jobp/job_controlled_resource.go";

/// A quantity as a number of base units (`1000m` → 1, `2000Mi` → 2000 × 2^20), read by the one
/// quantity parser.
fn amount(q: &str) -> f64 {
    devcluster::quantity::parse(q).unwrap_or(f64::NAN)
}

pub fn run(s: &Suite) {
    s.case(&format!("{FILE}: use exisisting PVC in job"), |ns| {
        // Upstream also creates a hostPath PersistentVolume for the claim to bind to; `basalt
        // up` serves no PersistentVolumes (no storage), and what the case checks is the Job's
        // volumes: the named claim kept, a claim generated for the template.
        ns.create(&json!({
            "apiVersion": "v1", "kind": "PersistentVolumeClaim",
            "metadata": {"name": "job-pvc-name-exist"},
            "spec": {"accessModes": ["ReadWriteOnce"],
                "resources": {"requests": {"storage": "1Gi"}}},
        }));
        let spec = json!({
            "minAvailable": 1,
            "tasks": [{"name": "pvctask", "replicas": 1, "minAvailable": 1, "template": {"spec": {
                "restartPolicy": "Never",
                "containers": [{"name": "main", "image": "nginx",
                    "resources": {"requests": {"cpu": "1"}}}]}}}],
            "volumes": [
                {"mountPath": "/mountone", "volumeClaimName": "job-pvc-name-exist"},
                {"mountPath": "/mounttwo", "volumeClaim": {"accessModes": ["ReadWriteOnce"],
                    "resources": {"requests": {"storage": "1Gi"}}}},
            ],
        });
        ns.create(&vcjob("job-pvc-name-exist", spec));
        wait_ready(ns, "job-pvc-name-exist");
        let job = ns.get_json(&["vcjob", "job-pvc-name-exist"]);
        let volumes = job["spec"]["volumes"]
            .as_array()
            .cloned()
            .unwrap_or_default();
        assert_eq!(volumes.len(), 2, "{volumes:?}");
        assert_eq!(volumes[0]["volumeClaimName"], "job-pvc-name-exist");
        let generated = volumes[1]["volumeClaimName"].as_str().unwrap_or_default();
        assert!(
            !generated.is_empty(),
            "no claim name generated: {volumes:?}"
        );
        // Beyond upstream: the generated claim exists and the pod mounts both claims.
        ns.kubectl(&["get", "pvc", generated]);
        let pod = &ns.pods("job-pvc-name-exist")[0];
        let claims: Vec<&str> = pod["spec"]["volumes"]
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(|v| v["persistentVolumeClaim"]["claimName"].as_str())
            .collect();
        assert!(
            claims.contains(&"job-pvc-name-exist") && claims.contains(&generated),
            "pod volumes {claims:?}"
        );
    });

    s.case(
        &format!("{FILE}: Generate PodGroup and valid minResource when creating job"),
        |ns| {
            let res = json!({"cpu": "1000m", "memory": "1000Mi", "nvidia.com/gpu": "1"});
            let task = |name: &str| {
                json!({"name": name, "replicas": 1, "minAvailable": 1, "template": {"spec": {
                    "restartPolicy": "Never",
                    "containers": [{"name": "main", "image": "nginx",
                        "resources": {"requests": res, "limits": res}}]}}})
            };
            ns.create(&vcjob(
                "job-name-podgroup",
                json!({"tasks": [task("task-1"), task("task-2")]}),
            ));
            // Upstream waits for the job to be Pending (its cluster has no GPUs) and reads
            // the PodGroup; `basalt up` has GPUs, so the job may run: the PodGroup is read as
            // soon as it exists.
            let pg = ns.podgroup_of("job-name-podgroup");
            let min = pg["spec"]["minResources"]
                .as_object()
                .cloned()
                .unwrap_or_default();
            let expected = [
                ("cpu", 2.0),
                ("memory", 2000.0 * 1024.0 * 1024.0),
                ("nvidia.com/gpu", 2.0),
            ];
            assert!(!min.is_empty(), "no minResources: {pg}");
            for (name, q) in &min {
                let want = expected.iter().find(|(n, _)| n == name).map(|(_, v)| *v);
                let got = amount(q.as_str().unwrap_or_default());
                assert_eq!(want, Some(got), "minResources[{name}] = {q} (all: {min:?})");
            }
        },
    );
}
