//! What a simulated kubelet does to one pod, as pure functions: how long a run lasts and how it
//! exits (annotations `sim.basalt.dev/duration`, `exit-code`, `fail-times`), whether the
//! container restarts, and the `status` documents for running, restarted and terminated pods.
//!
//! No I/O and no clock: callers pass timestamps in.

use std::collections::HashMap;
use std::time::Duration;

use serde_json::{Value, json};

use super::duration;

pub const DURATION: &str = "sim.basalt.dev/duration";
pub const EXIT_CODE: &str = "sim.basalt.dev/exit-code";
pub const FAIL_TIMES: &str = "sim.basalt.dev/fail-times";

/// How one run of a pod's containers goes.
#[derive(Debug, Clone, PartialEq)]
pub struct RunPlan {
    /// `None`: run until deleted.
    pub duration: Option<Duration>,
    pub exit_code: i32,
    /// Annotations that could not be understood (logged and reported as events by the caller).
    pub warnings: Vec<String>,
}

fn annotation<'a>(pod: &'a Value, key: &str) -> Option<&'a str> {
    pod.pointer("/metadata/annotations")
        .and_then(|a| a.get(key))
        .and_then(Value::as_str)
}

/// Plans run number `run` (1-based, counted per namespace/name) of `pod`.
pub fn plan_run(pod: &Value, run: u32, default_duration: Option<Duration>) -> RunPlan {
    let mut warnings = vec![];
    let duration = match annotation(pod, DURATION) {
        Some(text) => match duration::parse(text) {
            Ok(d) => Some(d),
            Err(e) => {
                warnings.push(format!("annotation {DURATION}: {e}"));
                default_duration
            }
        },
        None => default_duration,
    };
    let mut exit_code = match annotation(pod, EXIT_CODE).map(|t| t.trim().parse::<i32>()) {
        None => 0,
        Some(Ok(code)) => code,
        Some(Err(_)) => {
            warnings.push(format!(
                "annotation {EXIT_CODE} must be an integer such as \"1\"; using 0"
            ));
            0
        }
    };
    match annotation(pod, FAIL_TIMES).map(|t| t.trim().parse::<u32>()) {
        None => {}
        Some(Ok(n)) if run <= n => exit_code = 1,
        Some(Ok(_)) => {}
        Some(Err(_)) => warnings.push(format!(
            "annotation {FAIL_TIMES} must be a whole number such as \"2\""
        )),
    }
    RunPlan {
        duration,
        exit_code,
        warnings,
    }
}

/// Counts runs per pod name, across pod re-creations (which get new UIDs): the bookkeeping
/// behind `sim.basalt.dev/fail-times`.
#[derive(Debug, Default)]
pub struct RunLedger {
    runs: HashMap<(String, String), u32>,
}

impl RunLedger {
    /// Records a new run and returns its 1-based number.
    pub fn start_run(&mut self, namespace: &str, name: &str) -> u32 {
        let n = self
            .runs
            .entry((namespace.to_string(), name.to_string()))
            .or_insert(0);
        *n += 1;
        *n
    }

    /// After a restart of `basalt up`, a pod already running its `run`-th run is recorded.
    pub fn at_least(&mut self, namespace: &str, name: &str, run: u32) -> u32 {
        let n = self
            .runs
            .entry((namespace.to_string(), name.to_string()))
            .or_insert(0);
        *n = (*n).max(run);
        *n
    }
}

/// Whether the container starts again after exiting with `exit_code` (the pod's restartPolicy).
pub fn restarts(pod: &Value, exit_code: i32) -> bool {
    match pod
        .pointer("/spec/restartPolicy")
        .and_then(Value::as_str)
        .unwrap_or("Always")
    {
        "Never" => false,
        "OnFailure" => exit_code != 0,
        _ => true,
    }
}

fn containers<'a>(pod: &'a Value, field: &str) -> impl Iterator<Item = &'a Value> {
    pod.pointer(&format!("/spec/{field}"))
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
}

fn container_id(pod: &Value, container: &str, restart: u32) -> String {
    let uid = pod
        .pointer("/metadata/uid")
        .and_then(Value::as_str)
        .unwrap_or("");
    let id: String = super::node::gpu_uuid(&format!("{uid}/{container}"), restart)
        .chars()
        .filter(char::is_ascii_hexdigit)
        .collect();
    format!("containerd://{}", id.to_lowercase())
}

fn conditions(now: &str, ready: bool, reason: Option<&str>) -> Value {
    let flag = |b: bool| if b { "True" } else { "False" };
    let cond = |kind: &str, status: bool| {
        let mut c = json!({"type": kind, "status": flag(status), "lastProbeTime": null, "lastTransitionTime": now});
        if let (false, Some(r)) = (status, reason) {
            c["reason"] = json!(r);
        }
        c
    };
    json!([
        cond("PodReadyToStartContainers", true),
        cond("Initialized", true),
        cond("Ready", ready),
        cond("ContainersReady", ready),
        cond("PodScheduled", true),
    ])
}

fn container_status(
    pod: &Value,
    c: &Value,
    state: Value,
    ready: bool,
    restart: u32,
    last: Option<&Value>,
) -> Value {
    let name = c.get("name").and_then(Value::as_str).unwrap_or("");
    let image = c.get("image").and_then(Value::as_str).unwrap_or("");
    json!({
        "name": name,
        "image": image,
        "imageID": format!("{image}@sha256:{}", "0".repeat(64)),
        "containerID": container_id(pod, name, restart),
        "ready": ready,
        "started": ready,
        "restartCount": restart,
        "state": state,
        "lastState": last.cloned().unwrap_or_else(|| json!({})),
    })
}

fn init_statuses(pod: &Value, started: &str) -> Value {
    containers(pod, "initContainers")
        .map(|c| {
            let state = json!({"terminated": {"exitCode": 0, "reason": "Completed", "startedAt": started, "finishedAt": started}});
            container_status(pod, c, state, false, 0, None)
        })
        .collect()
}

/// Where a pod runs.
#[derive(Debug, Clone)]
pub struct Placement {
    pub host_ip: String,
    pub pod_ip: String,
}

/// `status` of a pod whose containers (re)started at `started` after `restart` restarts.
pub fn running_status(
    pod: &Value,
    at: &Placement,
    started: &str,
    restart: u32,
    last: Option<&Value>,
) -> Value {
    let pod_started = pod
        .pointer("/status/startTime")
        .and_then(Value::as_str)
        .unwrap_or(started);
    let state = json!({"running": {"startedAt": started}});
    let statuses: Vec<Value> = containers(pod, "containers")
        .map(|c| container_status(pod, c, state.clone(), true, restart, last))
        .collect();
    json!({
        "phase": "Running",
        "conditions": conditions(started, true, None),
        "hostIP": at.host_ip,
        "hostIPs": [{"ip": at.host_ip}],
        "podIP": at.pod_ip,
        "podIPs": [{"ip": at.pod_ip}],
        "startTime": pod_started,
        "initContainerStatuses": init_statuses(pod, pod_started),
        "containerStatuses": statuses,
        "qosClass": pod_qos_class(pod),
    })
}

/// The `terminated` container state of a run that started at `started` and ended at `finished`.
pub fn terminated_state(
    exit_code: i32,
    started: &str,
    finished: &str,
    reason: Option<&str>,
) -> Value {
    let reason = reason.unwrap_or(if exit_code == 0 { "Completed" } else { "Error" });
    json!({"terminated": {"exitCode": exit_code, "reason": reason, "startedAt": started, "finishedAt": finished}})
}

/// `status` of a pod whose containers ended for good: Succeeded on exit 0, else Failed.
/// `last` is the previous run's terminated state after restarts.
pub fn terminated_status(
    pod: &Value,
    at: &Placement,
    exit_code: i32,
    started: &str,
    finished: &str,
    restart: u32,
    last: Option<&Value>,
) -> Value {
    let state = terminated_state(exit_code, started, finished, None);
    let statuses: Vec<Value> = containers(pod, "containers")
        .map(|c| container_status(pod, c, state.clone(), false, restart, last))
        .collect();
    let pod_started = pod
        .pointer("/status/startTime")
        .and_then(Value::as_str)
        .unwrap_or(started);
    json!({
        "phase": if exit_code == 0 { "Succeeded" } else { "Failed" },
        "conditions": conditions(finished, false, Some("PodCompleted")),
        "hostIP": at.host_ip,
        "hostIPs": [{"ip": at.host_ip}],
        "podIP": at.pod_ip,
        "podIPs": [{"ip": at.pod_ip}],
        "startTime": pod_started,
        "initContainerStatuses": init_statuses(pod, pod_started),
        "containerStatuses": statuses,
        "qosClass": pod_qos_class(pod),
    })
}

/// The pod's QoS class: the one the API server recorded at creation (`status.qosClass` is
/// immutable; kube-apiserver refuses a status write that changes it), else
/// [`devcluster::qos_class`].
fn pod_qos_class(pod: &Value) -> Value {
    match pod.pointer("/status/qosClass").and_then(Value::as_str) {
        Some(class) if !class.is_empty() => json!(class),
        _ => json!(devcluster::qos_class(pod)),
    }
}

/// What the kubelet finds when it sees a pod bound to one of its nodes.
#[derive(Debug, Clone, PartialEq)]
pub enum Observed {
    /// Not started yet: start run 1.
    Pending,
    /// Already running (e.g. after a restart of `basalt up`): run `restart + 1` began at `started`.
    Running { started: String, restart: u32 },
    /// Succeeded or Failed: nothing to do until it is deleted.
    Finished,
}

pub fn observe(pod: &Value) -> Observed {
    match pod.pointer("/status/phase").and_then(Value::as_str) {
        Some("Succeeded" | "Failed") => Observed::Finished,
        Some("Running") => {
            let first = pod.pointer("/status/containerStatuses/0");
            let started = first
                .and_then(|c| c.pointer("/state/running/startedAt"))
                .and_then(Value::as_str);
            let restart = first
                .and_then(|c| c.get("restartCount"))
                .and_then(Value::as_u64)
                .unwrap_or(0);
            match started {
                Some(s) => Observed::Running {
                    started: s.to_string(),
                    restart: u32::try_from(restart).unwrap_or(u32::MAX),
                },
                None => Observed::Pending,
            }
        }
        _ => Observed::Pending,
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    fn pod(annotations: Value, policy: &str) -> Value {
        json!({
            "metadata": {"name": "p", "namespace": "default", "uid": "u1", "annotations": annotations},
            "spec": {"restartPolicy": policy, "nodeName": "n",
                     "containers": [{"name": "main", "image": "busybox",
                                     "resources": {"requests": {"cpu": "500m"}, "limits": {"cpu": "1", "memory": "1Gi"}}}]},
        })
    }

    #[test]
    fn plan_reads_duration_and_exit_code() {
        let p = pod(json!({DURATION: "1m30s", EXIT_CODE: "3"}), "Never");
        let plan = plan_run(&p, 1, None);
        assert_eq!(plan.duration, Some(Duration::from_secs(90)));
        assert_eq!(plan.exit_code, 3);
        assert!(plan.warnings.is_empty());
    }

    #[test]
    fn default_duration_applies_without_annotation() {
        let p = pod(json!({}), "Never");
        assert_eq!(plan_run(&p, 1, None).duration, None);
        assert_eq!(
            plan_run(&p, 1, Some(Duration::from_secs(5))).duration,
            Some(Duration::from_secs(5))
        );
    }

    #[test]
    fn absurd_durations_warn_instead_of_panicking() {
        // issue 16: "1e30" overflowed Duration::from_secs_f64 and killed the kubelet task.
        for text in ["1e30", "1e30s", "99999999999999999999h", "NaN", "inf", "-1"] {
            let p = pod(json!({DURATION: text}), "Never");
            let plan = plan_run(&p, 1, None);
            assert_eq!(plan.duration, None, "{text}");
            assert_eq!(plan.warnings.len(), 1, "{text}");
        }
    }

    #[test]
    fn bad_annotations_warn_and_fall_back() {
        let p = pod(
            json!({DURATION: "soon", EXIT_CODE: "x", FAIL_TIMES: "-1"}),
            "Never",
        );
        let plan = plan_run(&p, 1, Some(Duration::from_secs(7)));
        assert_eq!(plan.duration, Some(Duration::from_secs(7)));
        assert_eq!(plan.exit_code, 0);
        assert_eq!(plan.warnings.len(), 3);
    }

    #[test]
    fn fail_times_fails_the_first_n_runs_of_a_name() {
        let p = pod(json!({FAIL_TIMES: "2"}), "Never");
        let mut ledger = RunLedger::default();
        let codes: Vec<i32> = (0..4)
            .map(|_| plan_run(&p, ledger.start_run("default", "p"), None).exit_code)
            .collect();
        assert_eq!(codes, [1, 1, 0, 0]);
        // Another namespace has its own count.
        assert_eq!(ledger.start_run("other", "p"), 1);
        assert_eq!(ledger.at_least("default", "p", 2), 4);
        assert_eq!(ledger.at_least("fresh", "p", 2), 2);
    }

    #[test]
    fn restart_policy_decides_restarts() {
        assert!(!restarts(&pod(json!({}), "Never"), 1));
        assert!(restarts(&pod(json!({}), "OnFailure"), 1));
        assert!(!restarts(&pod(json!({}), "OnFailure"), 0));
        assert!(restarts(&pod(json!({}), "Always"), 0));
    }

    #[test]
    fn statuses_have_the_shape_kubectl_expects() {
        let p = pod(json!({}), "Never");
        let at = Placement {
            host_ip: "10.0.0.2".into(),
            pod_ip: "10.244.0.5".into(),
        };
        let s = running_status(&p, &at, "2026-01-01T00:00:00Z", 0, None);
        assert_eq!(s["phase"], "Running");
        assert_eq!(s["containerStatuses"][0]["ready"], true);
        assert_eq!(
            s["containerStatuses"][0]["state"]["running"]["startedAt"],
            "2026-01-01T00:00:00Z"
        );
        assert_eq!(s["podIP"], "10.244.0.5");
        assert_eq!(s["qosClass"], "Burstable");
        let t = terminated_status(
            &p,
            &at,
            1,
            "2026-01-01T00:00:00Z",
            "2026-01-01T00:00:30Z",
            0,
            None,
        );
        assert_eq!(t["phase"], "Failed");
        assert_eq!(
            t["containerStatuses"][0]["state"]["terminated"]["exitCode"],
            1
        );
        assert_eq!(
            t["containerStatuses"][0]["state"]["terminated"]["reason"],
            "Error"
        );
        let last = terminated_state(1, "a", "b", None);
        let ok = terminated_status(&p, &at, 0, "a", "b", 2, Some(&last));
        assert_eq!(
            ok["containerStatuses"][0]["lastState"]["terminated"]["exitCode"],
            1
        );
        assert_eq!(ok["containerStatuses"][0]["restartCount"], 2);
        assert_eq!(ok["phase"], "Succeeded");
    }

    #[test]
    fn observe_resumes_running_pods() {
        let mut p = pod(json!({}), "Never");
        assert_eq!(observe(&p), Observed::Pending);
        let at = Placement {
            host_ip: "h".into(),
            pod_ip: "i".into(),
        };
        p["status"] = running_status(&p, &at, "2026-01-01T00:00:00Z", 2, None);
        assert_eq!(
            observe(&p),
            Observed::Running {
                started: "2026-01-01T00:00:00Z".into(),
                restart: 2
            }
        );
        p["status"]["phase"] = json!("Succeeded");
        assert_eq!(observe(&p), Observed::Finished);
    }

    #[test]
    fn statuses_keep_the_qos_class_the_api_server_recorded() {
        // kube-apiserver refuses a status write that changes status.qosClass.
        let mut p = pod(json!({}), "Never");
        p["status"] = json!({"phase": "Pending", "qosClass": "BestEffort"});
        let at = Placement {
            host_ip: "h".into(),
            pod_ip: "i".into(),
        };
        let running = running_status(&p, &at, "2026-01-01T00:00:00Z", 0, None);
        assert_eq!(running["qosClass"], "BestEffort");
        let done = terminated_status(&p, &at, 0, "a", "b", 0, None);
        assert_eq!(done["qosClass"], "BestEffort");
    }
}
