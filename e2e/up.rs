//! `basalt up`: simulated GPU nodes, the pod lifecycle they drive (durations, exit codes,
//! fail-times, restarts, graceful deletion), usage metrics, `/readyz`, restarts on
//! `--data-dir` and clean SIGTERM shutdown (kubectl conformance is in `conformance.rs`).

use std::time::Duration;

use serde_json::Value;

use crate::harness::{Cluster, TempDir};

const T: Duration = Duration::from_secs(30);

fn pod(name: &str, node: &str, policy: &str, annotations: &[(&str, &str)]) -> String {
    let ann: Vec<String> = annotations
        .iter()
        .map(|(k, v)| format!("    {k}: \"{v}\"\n"))
        .collect();
    format!(
        "apiVersion: v1\nkind: Pod\nmetadata:\n  name: {name}\n  annotations:\n{}    sim.basalt.dev/test: \"yes\"\nspec:\n  nodeName: {node}\n  restartPolicy: {policy}\n  containers:\n  - name: main\n    image: busybox\n    resources:\n      requests: {{cpu: \"8\", memory: 16Gi}}\n      limits: {{nvidia.com/gpu: 2}}\n",
        ann.concat()
    )
}

fn str_at<'a>(v: &'a Value, pointer: &str) -> &'a str {
    v.pointer(pointer)
        .and_then(Value::as_str)
        .unwrap_or_default()
}

#[test]
fn four_ready_nodes_with_eight_gpus_each() {
    let c = Cluster::start(&["--no-controllers"]);
    let text = c.kubectl(&["get", "nodes"]);
    assert_eq!(
        text.lines()
            .filter(|l| l.split_whitespace().nth(1) == Some("Ready"))
            .count(),
        4,
        "{text}"
    );
    let nodes = c.get_json(&["nodes"]);
    let items = nodes["items"].as_array().expect("items");
    assert_eq!(items.len(), 4);
    for n in items {
        assert_eq!(str_at(n, "/status/allocatable/nvidia.com~1gpu"), "8");
        assert_eq!(
            str_at(n, "/status/capacity/nvidia.com~1vgpu-memory"),
            "640Gi"
        );
        assert_eq!(
            str_at(n, "/metadata/labels/nvidia.com~1gpu.product"),
            "NVIDIA-A100-SXM4-80GB"
        );
        let ready = n["status"]["conditions"]
            .as_array()
            .expect("conditions")
            .iter()
            .any(|c| c["type"] == "Ready" && c["status"] == "True");
        assert!(ready, "{n}");
        let reg: Vec<Value> = serde_json::from_str(str_at(
            n,
            "/metadata/annotations/hami.io~1node-nvidia-register",
        ))
        .expect("HAMi JSON");
        assert_eq!(reg.len(), 8);
    }
    let lease = c.get_json(&["lease", "-n", "kube-node-lease", "gpu-node-0"]);
    assert_eq!(str_at(&lease, "/spec/holderIdentity"), "gpu-node-0");
    assert_eq!(c.kubectl(&["get", "--raw", "/readyz"]).trim(), "ok");
}

#[test]
fn bound_pod_runs_then_succeeds_after_its_duration() {
    let c = Cluster::start(&["--no-controllers"]);
    c.apply(&pod(
        "job-0",
        "gpu-node-1",
        "Never",
        &[("sim.basalt.dev/duration", "2s")],
    ));
    let running = c.wait_phase("pod/job-0", "Running", T);
    assert_eq!(running["status"]["containerStatuses"][0]["ready"], true);
    assert!(
        str_at(&running, "/status/podIP").starts_with("10.244."),
        "{running}"
    );
    let done = c.wait_phase("pod/job-0", "Succeeded", T);
    let term = &done["status"]["containerStatuses"][0]["state"]["terminated"];
    assert_eq!(term["exitCode"], 0);
    assert_eq!(term["reason"], "Completed");
}

#[test]
fn binding_a_pending_pod_starts_it() {
    let c = Cluster::start(&["--no-controllers"]);
    c.apply("apiVersion: v1\nkind: Pod\nmetadata: {name: waiting}\nspec:\n  schedulerName: nobody\n  containers: [{name: main, image: busybox}]\n");
    std::thread::sleep(Duration::from_millis(300));
    assert_eq!(
        str_at(&c.get_json(&["pod/waiting"]), "/status/phase"),
        "Pending"
    );
    let binding = r#"{"apiVersion":"v1","kind":"Binding","metadata":{"name":"waiting"},"target":{"kind":"Node","name":"gpu-node-3"}}"#;
    let out = c.kubectl_output(
        &[
            "create",
            "--raw",
            "/api/v1/namespaces/default/pods/waiting/binding",
            "-f",
            "-",
        ],
        Some(binding),
    );
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let running = c.wait_phase("pod/waiting", "Running", T);
    assert_eq!(str_at(&running, "/spec/nodeName"), "gpu-node-3");
}

#[test]
fn exit_code_and_fail_times_fail_the_first_runs() {
    let c = Cluster::start(&["--no-controllers", "--pod-duration", "1s"]);
    c.apply(&pod(
        "coded",
        "gpu-node-0",
        "Never",
        &[("sim.basalt.dev/exit-code", "3")],
    ));
    let failed = c.wait_phase("pod/coded", "Failed", T);
    assert_eq!(
        failed["status"]["containerStatuses"][0]["state"]["terminated"]["exitCode"],
        3
    );

    let flaky = pod(
        "flaky",
        "gpu-node-2",
        "Never",
        &[("sim.basalt.dev/fail-times", "1")],
    );
    c.apply(&flaky);
    let first = c.wait_phase("pod/flaky", "Failed", T);
    assert_eq!(
        first["status"]["containerStatuses"][0]["state"]["terminated"]["exitCode"],
        1
    );
    c.kubectl(&["delete", "pod", "flaky", "--wait=true"]);
    c.apply(&flaky);
    c.wait_phase("pod/flaky", "Succeeded", T);
}

#[test]
fn on_failure_pods_restart_until_fail_times_is_used_up() {
    let c = Cluster::start(&["--no-controllers"]);
    c.apply(&pod(
        "retry",
        "gpu-node-0",
        "OnFailure",
        &[
            ("sim.basalt.dev/duration", "200ms"),
            ("sim.basalt.dev/fail-times", "2"),
        ],
    ));
    let done = c.wait_phase("pod/retry", "Succeeded", T);
    let status = &done["status"]["containerStatuses"][0];
    assert_eq!(status["restartCount"], 2, "{status}");
    assert_eq!(status["lastState"]["terminated"]["exitCode"], 1, "{status}");
}

#[test]
fn deleting_a_running_pod_removes_it() {
    let c = Cluster::start(&["--no-controllers"]);
    c.apply(&pod("server", "gpu-node-1", "Always", &[]));
    c.wait_phase("pod/server", "Running", T);
    // Without the simulated kubelet, a bound pod would stay Terminating for 30s.
    let out = c.kubectl_output(&["delete", "pod", "server", "--timeout=10s"], None);
    assert!(
        out.status.success(),
        "{}\n{}",
        String::from_utf8_lossy(&out.stderr),
        c.log()
    );
    let left = c.kubectl(&["get", "pods", "-o", "name"]);
    assert!(left.trim().is_empty(), "{left}");
}

#[test]
fn usage_is_served_as_metrics_and_annotation_and_can_be_overridden() {
    let c = Cluster::start(&["--no-controllers"]);
    c.apply(&pod("busy", "gpu-node-1", "Never", &[]));
    c.wait_phase("pod/busy", "Running", T);
    // 2 of 8 GPUs and 8 of 96 cores.
    c.wait_for("gpu-node-1 at 25% GPU", T, || {
        let n = c.get_json(&["node/gpu-node-1"]);
        (str_at(&n, "/metadata/annotations/basalt.dev~1gpu-utilization") == "0.25").then_some(())
    });
    let top = c.kubectl(&["top", "node", "gpu-node-1", "--no-headers"]);
    assert!(
        top.contains("8000m") || top.split_whitespace().nth(1) == Some("8"),
        "{top}"
    );
    let pods = c.kubectl(&["top", "pod", "busy", "--no-headers"]);
    assert!(pods.contains("8000m") && pods.contains("16384Mi"), "{pods}");

    c.kubectl(&[
        "annotate",
        "node",
        "gpu-node-3",
        "sim.basalt.dev/usage=cpu=0.9,memory=0.85,gpu=0.6",
    ]);
    c.wait_for("the usage override", T, || {
        let n = c.get_json(&["node/gpu-node-3"]);
        let top = c.kubectl(&["top", "node", "gpu-node-3", "--no-headers"]);
        (str_at(&n, "/metadata/annotations/basalt.dev~1gpu-utilization") == "0.60"
            && top.contains("90%"))
        .then_some(())
    });
}

#[test]
fn cluster_spec_file_shapes_the_nodes() {
    let dir = TempDir::new("spec");
    let spec = dir.path().join("cluster.yaml");
    std::fs::write(
        &spec,
        "nodes:\n- name: h100\n  count: 2\n  gpus: 4\n  gpuModel: NVIDIA-H100-80GB-HBM3\n  labels: {zone: a}\n  taints: [{key: dedicated, value: training, effect: NoSchedule}]\n- name: cpu\n  cpu: 32\n  memory: 128Gi\n",
    )
    .expect("writing the spec");
    let spec_arg = spec.to_string_lossy().into_owned();
    let c = Cluster::start(&["--no-controllers", "--cluster", &spec_arg]);
    let names = c.kubectl(&["get", "nodes", "-o", "name"]);
    assert_eq!(
        names.split_whitespace().collect::<Vec<_>>(),
        ["node/cpu", "node/h100-0", "node/h100-1"]
    );
    let h = c.get_json(&["node/h100-1"]);
    assert_eq!(str_at(&h, "/status/capacity/nvidia.com~1gpu"), "4");
    assert_eq!(str_at(&h, "/metadata/labels/zone"), "a");
    assert_eq!(str_at(&h, "/spec/taints/0/effect"), "NoSchedule");
    let cpu = c.get_json(&["node/cpu"]);
    assert_eq!(str_at(&cpu, "/status/capacity/cpu"), "32");
    assert!(cpu.pointer("/status/capacity/nvidia.com~1gpu").is_none());
}

#[test]
fn a_bad_cluster_spec_is_reported_with_file_and_field() {
    let dir = TempDir::new("badspec");
    let spec = dir.path().join("cluster.yaml");
    std::fs::write(&spec, "nodes:\n- name: a\n  memory: lots\n").expect("writing the spec");
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_basalt"))
        .args(["up", "--port", "0", "--kubeconfig"])
        .arg(dir.path().join("kc"))
        .arg("--cluster")
        .arg(&spec)
        .output()
        .expect("running basalt up");
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("cluster.yaml") && err.contains("nodes[0].memory"),
        "{err}"
    );
    assert!(!dir.path().join("kc").exists());
}

#[test]
fn data_dir_keeps_objects_across_a_restart() {
    let dir = TempDir::new("data");
    let data = dir.path().join("data").to_string_lossy().into_owned();
    let c = Cluster::start_in(dir, &["--no-controllers", "--data-dir", &data]);
    c.apply("apiVersion: v1\nkind: ConfigMap\nmetadata: {name: kept}\ndata: {k: v}\n");
    c.apply(&pod(
        "finished",
        "gpu-node-0",
        "Never",
        &[("sim.basalt.dev/duration", "0s")],
    ));
    c.wait_phase("pod/finished", "Succeeded", T);
    c.apply(&pod(
        "running",
        "gpu-node-1",
        "Never",
        &[("sim.basalt.dev/duration", "3s")],
    ));
    let before = c.wait_phase("pod/running", "Running", T);
    let dir = c.stop();
    let c = Cluster::start_in(dir, &["--no-controllers", "--data-dir", &data]);
    let cm = c.get_json(&["configmap/kept"]);
    assert_eq!(str_at(&cm, "/data/k"), "v");
    assert_eq!(
        str_at(&c.get_json(&["pod/finished"]), "/status/phase"),
        "Succeeded"
    );
    let nodes = c.get_json(&["nodes"]);
    assert_eq!(nodes["items"].as_array().map(Vec::len), Some(4));
    // The pod that was running when the cluster stopped finishes on its original schedule.
    let after = c.wait_phase("pod/running", "Succeeded", T);
    assert_eq!(
        str_at(&after, "/status/podIP"),
        str_at(&before, "/status/podIP")
    );
}

#[test]
fn sigterm_shuts_down_cleanly_and_removes_the_kubeconfig() {
    let mut c = Cluster::start(&["--no-controllers"]);
    // A watch is open during shutdown; it must not keep the server alive.
    let mut watch = std::process::Command::new("kubectl")
        .args(["get", "pods", "--watch"])
        .env("KUBECONFIG", &c.kubeconfig)
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .expect("starting kubectl watch");
    std::thread::sleep(Duration::from_millis(300));
    let status = c.terminate();
    let _ = watch.kill();
    let _ = watch.wait();
    assert!(status.success(), "exit status {status}:\n{}", c.log());
    assert!(c.log().contains("stopped (SIGTERM)"), "{}", c.log());
    assert!(!c.kubeconfig.exists());
}

#[test]
fn with_controllers_a_gang_job_runs_on_the_simulated_nodes() {
    let c = Cluster::start(&[]);
    assert_eq!(c.kubectl(&["get", "--raw", "/readyz"]).trim(), "ok");
    let manifest = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../examples/03-gang-distributed-training-job.yaml"
    );
    c.kubectl(&["apply", "-f", manifest]);
    let job = c.wait_for("the gang job to run", T, || {
        let jobs = c.get_json(&["vcjob"]);
        let job = jobs["items"].as_array()?.first()?.clone();
        (str_at(&job, "/status/state/phase") == "Running").then_some(job)
    });
    let min = job
        .pointer("/spec/minAvailable")
        .and_then(Value::as_u64)
        .expect("minAvailable");
    let pods = c.get_json(&["pods"]);
    let running: Vec<&Value> = pods["items"]
        .as_array()
        .expect("items")
        .iter()
        .filter(|p| str_at(p, "/status/phase") == "Running")
        .collect();
    assert!(running.len() as u64 >= min, "{pods}");
    assert!(
        running
            .iter()
            .all(|p| str_at(p, "/spec/nodeName").starts_with("gpu-node-"))
    );
}

#[test]
fn with_injected_faults_nodes_register_and_pods_still_finish() {
    let c = Cluster::start(&["--no-controllers", "--fault-rate", "0.1"]);
    let nodes = c.get_json(&["nodes"]);
    assert_eq!(nodes["items"].as_array().map(Vec::len), Some(4), "{nodes}");
    // kubectl's own writes meet the injected 500s and 409s too: retry them.
    let manifest = pod(
        "resilient",
        "gpu-node-2",
        "Never",
        &[("sim.basalt.dev/duration", "1s")],
    );
    c.wait_for("the pod to be created despite injected faults", T, || {
        c.kubectl_output(&["apply", "-f", "-"], Some(&manifest))
            .status
            .success()
            .then_some(())
    });
    c.wait_phase("pod/resilient", "Succeeded", T);
}

/// As kube-apiserver: a built-in object with a value of the wrong type cannot be decoded (400,
/// naming the field, what it expects and what it got) and a bad label key or value is invalid
/// (422) — for custom resources too — and nothing is stored. Before, all of these were stored.
#[test]
fn objects_with_wrong_types_or_bad_labels_are_refused_through_kubectl() {
    let c = Cluster::start(&["--nodes", "1"]);
    let cases = [
        (
            "pod/t1",
            "apiVersion: v1\nkind: Pod\nmetadata: {name: t1}\nspec: {containers: \"x\"}\n",
            "Pod in version \"v1\" cannot be handled as a Pod: spec.containers: expected an array, got the string \"x\"",
        ),
        (
            "configmap/t2",
            "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: t2}\ndata: {a: 5}\n",
            "data.a: expected a string, got the number 5",
        ),
        (
            "deployment/t3",
            "apiVersion: apps/v1\nkind: Deployment\nmetadata: {name: t3}\nspec: {replicas: three, selector: {matchLabels: {a: b}}, template: {metadata: {labels: {a: b}}, spec: {containers: [{name: c, image: busybox}]}}}\n",
            "spec.replicas: expected an integer, got the string \"three\"",
        ),
        (
            "pod/t4",
            "apiVersion: v1\nkind: Pod\nmetadata: {name: t4, labels: {k: \"bad value!\"}}\nspec: {containers: [{name: c, image: busybox}]}\n",
            "The Pod \"t4\" is invalid: metadata.labels: Invalid value: \"bad value!\": a valid label must be an empty string",
        ),
        (
            "queue/t5",
            "apiVersion: scheduling.volcano.sh/v1beta1\nkind: Queue\nmetadata: {name: t5, labels: {\"bad key!\": v}}\nspec: {weight: 1}\n",
            "metadata.labels: Invalid value: \"bad key!\": name part must consist of alphanumeric characters",
        ),
    ];
    for (what, doc, message) in cases {
        let out = c.kubectl_output(&["create", "-f", "-"], Some(doc));
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(!out.status.success(), "{what} was accepted");
        assert!(stderr.contains(message), "{what}: {stderr}");
        let get = c.kubectl_output(&["get", what], None);
        assert!(!get.status.success(), "{what} was stored");
    }
}
