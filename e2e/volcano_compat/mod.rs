//! Volcano compatibility, judged by Volcano's own end-to-end suite: each case here is written by
//! us from what one upstream `It(...)` of `test/e2e/` in volcano-sh/volcano checks, and runs with
//! the real kubectl against `basalt up`. The upstream file and test name are in each case's name;
//! `docs/volcano-compat.md` maps every upstream case to ours (or says why it does not apply).
//!
//! Cases of one upstream file share one `basalt up` (a cluster start costs seconds on a small
//! machine) and each runs in a namespace of its own. A failing case is recorded and the others
//! still run; the test fails at the end listing every failed case.

mod admission_job_mutate;
mod admission_job_validation;
mod admission_jobflow;
mod admission_pod_mutate;
mod admission_pod_validation;
mod admission_podgroup_mutate;
mod admission_podgroup_validation;
mod admission_queue_mutate;
mod admission_queue_validation;
mod jobp_admission;
mod jobp_controlled_resource;
mod jobp_lifecycle;
mod jobp_lifecycle_uid;
mod jobp_restart;
mod jobp_scale;
mod jobseq_command;
mod jobseq_errors;
mod jobseq_plugins;
mod jobseq_queue;
mod scheduling;
mod schedulingaction;
mod schedulingaction_allocate;
mod schedulingaction_enqueue;
mod schedulingaction_guarantee;
mod schedulingaction_predicates;
mod schedulingaction_reconfigured;
mod schedulingaction_terminating;
mod schedulingbase;
mod schedulingbase_sla;

use std::cell::{Cell, RefCell};
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::time::Duration;

use serde_json::{Value, json};

use crate::harness::Cluster;

/// Volcano's CI scheduler configuration, as the upstream cases run with it.
pub const CI_CONF: &str = concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/../e2e/volcano_compat/volcano-ci-scheduler.conf"
);

/// Default wait for a phase or an event.
pub const T: Duration = Duration::from_secs(60);
/// A watch of one object by name, as `kubectl get KIND --field-selector metadata.name=NAME
/// --watch` (a list, then a watch from the list's version): it shows every write after the
/// list. Not `kubectl get KIND NAME --watch`, which GETs the object, then watches from "0" and
/// drops the watch's first event, so a write between the two is never printed
/// (docs/devcluster.md, "Watch semantics").
pub fn watch_by_name<'a>(kind: &'a str, selector: &'a str, output: &'a str) -> [&'a str; 7] {
    [
        "get",
        kind,
        "--field-selector",
        selector,
        "--watch",
        "-o",
        output,
    ]
}

/// Upstream cases Basalt knowingly does not pass, each with its reason (the same rows as
/// docs/volcano-compat.md). Their failures are printed, never hidden, but do not fail the test;
/// every other case must pass. A listed case that passes is printed too, so the list shrinks.
const KNOWN: &[(&str, &str)] = &[
    (
        "admission/jobflow_validation_test.go: Should allow jobflow creation with duplicate flow names",
        "deviation: Basalt refuses two flows of one name (ambiguous dependsOn target)",
    ),
    (
        "admission/jobflow_validation_test.go: Should allow jobflow creation with multiple flows having same dependency target",
        "deviation: the manifest names flow \"c\" twice, refused as above",
    ),
    (
        "admission/jobflow_validation_test.go: Should allow jobflow creation with empty flows list",
        "deviation: Basalt refuses a JobFlow with no flows (it could never complete)",
    ),
    (
        "admission/queue_validation_test.go: Should allow queue creation with guarantee resource type not in deserved",
        "deviation: Basalt refuses a guarantee on a resource spec.deserved does not list and names the fix; Volcano's capacity plugin silently raises deserved to the guarantee",
    ),
    (
        "schedulingaction/preempt.go: should preempt low priority pod with anti-affinity constraint",
        "fails: Basalt has no topology-aware preemption (the preempt argument enableTopologyAwarePreemption is ignored): an evicted pod still counts in its anti-affinity domain, so preempt never evicts to lift an anti-affinity refusal and the high-priority job never runs",
    ),
    (
        "admission/pod_validation_test.go: Should reject pod creation with invalid negative annotation value",
        "deviation: Basalt implements no job disruption budget and runs no pod validating webhook; the pod is admitted",
    ),
    (
        "admission/pod_validation_test.go: Should reject pod creation with invalid zero annotation value",
        "deviation: Basalt implements no job disruption budget and runs no pod validating webhook; the pod is admitted",
    ),
    (
        "admission/pod_validation_test.go: Should reject pod creation with invalid percentage annotation (0%)",
        "deviation: Basalt implements no job disruption budget and runs no pod validating webhook; the pod is admitted",
    ),
    (
        "admission/pod_validation_test.go: Should reject pod creation with invalid percentage annotation (100%)",
        "deviation: Basalt implements no job disruption budget and runs no pod validating webhook; the pod is admitted",
    ),
    (
        "admission/pod_validation_test.go: Should reject pod creation with invalid string annotation",
        "deviation: Basalt implements no job disruption budget and runs no pod validating webhook; the pod is admitted",
    ),
    (
        "admission/pod_validation_test.go: Should reject pod creation with multiple conflicting annotations",
        "deviation: Basalt implements no job disruption budget and runs no pod validating webhook; the pod is admitted",
    ),
    (
        "schedulingaction/reclaim.go: Reclaim Case 8: New queue with job created no reclaim when task resources less than reclaimable resource",
        "deviation: the job's 4-CPU pod is larger than every node of the case's cluster and Basalt refuses it at admission; Volcano admits it and it waits forever",
    ),
    (
        "schedulingbase/job_scheduling.go: Schedule Multiple Jobs",
        "fails: the three Jobs take ~2.3 s to create through kubectl and the webhooks; the last PodGroups reach the scheduler after mqj-1's pods took the cluster, so enqueue never admits them (no preemption between equal jobs)",
    ),
    (
        "schedulingbase/sla.go: sla permits job to be inqueue",
        "deviation: the job asks twice the cluster and Basalt refuses it at admission (it could never start); Volcano admits it, its sla plugin moves it Inqueue after sla-waiting-time and its pods wait forever",
    ),
];

fn known(upstream: &str) -> Option<&'static str> {
    KNOWN
        .iter()
        .find(|(name, _)| *name == upstream)
        .map(|(_, why)| *why)
}

/// One shared cluster and the outcome of the cases run on it.
pub struct Suite {
    pub c: Cluster,
    next: Cell<u32>,
    failures: RefCell<Vec<String>>,
    passed: Cell<u32>,
}

impl Suite {
    /// `basalt up` with Volcano's CI scheduler configuration (`volcano-ci-scheduler.conf`),
    /// the configuration upstream's cases were written against.
    pub fn start() -> Self {
        Self::start_with(&[])
    }

    /// `start` with more `basalt up` arguments (e.g. `--cluster FILE`).
    pub fn start_with(extra: &[&str]) -> Self {
        Self::start_with_config(CI_CONF, extra)
    }

    /// `basalt up` with the scheduler configuration file `conf` (upstream's `ConfigMapCase`
    /// changes the CI configuration for a case) and more `basalt up` arguments.
    pub fn start_with_config(conf: &str, extra: &[&str]) -> Self {
        let mut args = vec!["--scheduler-config", conf];
        args.extend_from_slice(extra);
        Self::with(Cluster::start(&args))
    }

    /// `basalt up` with Basalt's own default configuration.
    pub fn start_basalt_default() -> Self {
        Self::with(Cluster::start(&[]))
    }

    fn with(c: Cluster) -> Self {
        Suite {
            c,
            next: Cell::new(0),
            failures: RefCell::new(Vec::new()),
            passed: Cell::new(0),
        }
    }

    /// Runs one upstream case (`upstream` = "file: It name") in a fresh namespace.
    pub fn case(&self, upstream: &str, f: impl FnOnce(&Ns<'_>)) {
        let n = self.next.get();
        self.next.set(n + 1);
        let ns = Ns {
            c: &self.c,
            name: format!("vc{n}"),
        };
        let started = std::time::Instant::now();
        self.c.kubectl(&["create", "namespace", &ns.name]);
        let outcome = catch_unwind(AssertUnwindSafe(|| f(&ns)));
        ns.clean_up();
        // Wall time per case, so the cost of a ported file can be read off a run.
        eprintln!(
            "case took {:.1} s: {upstream}",
            started.elapsed().as_secs_f64()
        );
        match outcome {
            Ok(()) => {
                if let Some(why) = known(upstream) {
                    eprintln!("KNOWN CASE NOW PASSES (update the list): {upstream} ({why})");
                }
                self.passed.set(self.passed.get() + 1)
            }
            Err(panic) => {
                let msg = panic
                    .downcast_ref::<String>()
                    .cloned()
                    .or_else(|| panic.downcast_ref::<&str>().map(|s| (*s).to_owned()))
                    .unwrap_or_default();
                // The harness appends the whole server log to its messages; keep the head.
                let head: String = msg.chars().take(1500).collect();
                if let Some(why) = known(upstream) {
                    eprintln!("KNOWN FAILURE: {upstream}: {why}\n  (this run: {head})");
                    return;
                }
                self.failures
                    .borrow_mut()
                    .push(format!("{upstream} (namespace {}): {head}", ns.name));
            }
        }
    }

    /// Fails listing every failed case.
    pub fn finish(self) {
        let failures = self.failures.borrow();
        assert!(
            failures.is_empty(),
            "{} of {} upstream cases failed:\n{}\n--- basalt up log (tail) ---\n{}",
            failures.len(),
            failures.len() as u32 + self.passed.get(),
            failures.join("\n\n"),
            tail(&self.c.log(), 4000)
        );
    }
}

fn tail(s: &str, n: usize) -> String {
    let skip = s.chars().count().saturating_sub(n);
    s.chars().skip(skip).collect()
}

/// A case's namespace on the shared cluster.
pub struct Ns<'a> {
    pub c: &'a Cluster,
    pub name: String,
}

impl Ns<'_> {
    /// Deletes the case's jobs and pods and waits (bounded) until its pods are gone, so a case
    /// that failed half-way leaves the shared cluster as empty as one that passed.
    fn clean_up(&self) {
        let _ = self.try_kubectl(&["delete", "vcjob", "--all", "--wait=false"], None);
        let _ = self.try_kubectl(&["delete", "pod", "--all", "--wait=false"], None);
        let deadline = std::time::Instant::now() + T;
        while std::time::Instant::now() < deadline {
            let (ok, out, _) = self.try_kubectl(&["get", "pods", "-o", "name"], None);
            if ok && out.trim().is_empty() {
                return;
            }
            std::thread::sleep(Duration::from_millis(200));
        }
    }

    fn args<'b>(&'b self, args: &[&'b str]) -> Vec<&'b str> {
        let mut all = args.to_vec();
        all.extend_from_slice(&["-n", &self.name]);
        all
    }

    /// kubectl in this namespace; panics on failure.
    pub fn kubectl(&self, args: &[&str]) -> String {
        self.c.kubectl(&self.args(args))
    }

    /// kubectl in this namespace; (success, stdout, stderr).
    pub fn try_kubectl(&self, args: &[&str], stdin: Option<&str>) -> (bool, String, String) {
        let out = self.c.kubectl_output(&self.args(args), stdin);
        (
            out.status.success(),
            String::from_utf8_lossy(&out.stdout).into_owned(),
            String::from_utf8_lossy(&out.stderr).into_owned(),
        )
    }

    /// `kubectl create -f -`; panics with kubectl's message when refused.
    pub fn create(&self, manifest: &Value) {
        let (ok, _, err) = self.try_kubectl(&["create", "-f", "-"], Some(&manifest.to_string()));
        assert!(
            ok,
            "kubectl create refused {}: {err}",
            manifest["metadata"]["name"]
        );
    }

    /// `kubectl create -f -` must be refused; returns kubectl's message.
    pub fn refused(&self, manifest: &Value) -> String {
        let (ok, _, err) = self.try_kubectl(&["create", "-f", "-"], Some(&manifest.to_string()));
        assert!(!ok, "kubectl create accepted {manifest}");
        err
    }

    pub fn get_json(&self, args: &[&str]) -> Value {
        let mut all = vec!["get"];
        all.extend_from_slice(args);
        all.extend_from_slice(&["-o", "json"]);
        serde_json::from_str(&self.kubectl(&all)).expect("kubectl printed JSON")
    }

    /// `.status.state.phase` of a Volcano Job ("" while unset).
    pub fn job_phase(&self, job: &str) -> String {
        let (_, out, _) = self.try_kubectl(
            &["get", "vcjob", job, "-o", "jsonpath={.status.state.phase}"],
            None,
        );
        out
    }

    /// Waits until the job has gone through `phases` in order, as upstream's `WaitJobPhases`
    /// does: from a watch, which sees every status write (polling misses a phase that lasts a
    /// few milliseconds). Phases the job passed before the watch started, or that the watch did
    /// not show before a later expected phase, count when its `status.conditions` (one entry
    /// per phase, in the order they last began) record them in order up to the phase seen.
    pub fn wait_job_phases(&self, job: &str, phases: &[&str]) {
        let what = format!("job {}/{job} through {phases:?}", self.name);
        let deadline = std::time::Instant::now() + T;
        let mut next = 0;
        let mut seen: Vec<String> = Vec::new();
        let mut starts = 0;
        let selector = format!("metadata.name={job}");
        // Restarted only if kubectl ends (an expired version, a closed connection).
        while std::time::Instant::now() < deadline {
            starts += 1;
            let watch = self.c.kubectl_watch(&self.args(&watch_by_name(
                "vcjob",
                &selector,
                "jsonpath={.status.state.phase}{\"\\n\"}",
            )));
            let mut first = true;
            loop {
                let left = deadline.saturating_duration_since(std::time::Instant::now());
                let Ok(now) = watch.lines.recv_timeout(left) else {
                    break;
                };
                let first_line = std::mem::take(&mut first);
                if next < phases.len()
                    && phases[next] != now
                    && (first_line || phases[next..].contains(&now.as_str()))
                {
                    let caught_up = self.passed_before(job, phases, next, &now);
                    if !first_line && caught_up > next {
                        // A watch from the list's version shows every write, so this means
                        // one write recorded two phases (or the server lost an event, which
                        // devcluster/tests/watch.rs rules out for the server); said aloud.
                        // (The CI skips of 2026-12-06 came from kubectl's GET-then-watch-from-0
                        // form, no longer used: docs/devcluster.md, "Watch semantics".)
                        eprintln!(
                            "{what}: the watch skipped {:?}; status.conditions records them",
                            &phases[next..caught_up]
                        );
                    }
                    next = caught_up;
                }
                if !now.is_empty() && seen.last() != Some(&now) {
                    seen.push(now.clone());
                }
                if next < phases.len() && phases[next] == now {
                    next += 1;
                }
                if next == phases.len() {
                    return;
                }
            }
            std::thread::sleep(Duration::from_millis(200));
        }
        panic!(
            "timed out after {T:?} waiting for {what}: phases seen {seen:?} ({starts} watches)\n--- basalt up log ---\n{}",
            self.c.log()
        );
    }

    /// How many of `phases` (from `next`) the job passed before a watch that starts in `now`:
    /// the longest run `phases[next..k]` that `status.conditions` records in order and whose
    /// last phase is `now` (so the job is still in it); `next` when there is none.
    fn passed_before(&self, job: &str, phases: &[&str], next: usize, now: &str) -> usize {
        let (ok, out, _) = self.try_kubectl(&["get", "vcjob", job, "-o", "json"], None);
        let obj: Value = if ok {
            serde_json::from_str(&out).unwrap_or_default()
        } else {
            Value::Null
        };
        let history: Vec<&str> = obj["status"]["conditions"]
            .as_array()
            .map(|c| c.iter().filter_map(|c| c["status"].as_str()).collect())
            .unwrap_or_default();
        let mut best = next;
        let mut at = 0;
        for (k, phase) in phases.iter().enumerate().skip(next) {
            let Some(i) = history[at..].iter().position(|h| h == phase) else {
                break;
            };
            at += i + 1;
            if *phase == now {
                best = k;
            }
        }
        best
    }

    /// The job's pods.
    pub fn pods(&self, job: &str) -> Vec<Value> {
        let list = self.get_json(&["pods", "-l", &format!("volcano.sh/job-name={job}")]);
        list["items"].as_array().cloned().unwrap_or_default()
    }

    /// The PodGroups of this namespace.
    pub fn podgroups(&self) -> Vec<Value> {
        let list = self.get_json(&["podgroups"]);
        list["items"].as_array().cloned().unwrap_or_default()
    }

    /// The job's PodGroup (`<job>-<uid>`).
    pub fn podgroup_of(&self, job: &str) -> Value {
        self.c.wait_for(&format!("the PodGroup of {job}"), T, || {
            self.podgroups()
                .into_iter()
                .find(|pg| pg["metadata"]["ownerReferences"][0]["name"].as_str() == Some(job))
        })
    }

    /// Events of this namespace whose object name starts with `prefix` and whose reason is
    /// `reason`.
    pub fn events(&self, prefix: &str, reason: &str) -> Vec<Value> {
        let list = self.get_json(&["events"]);
        list["items"]
            .as_array()
            .cloned()
            .unwrap_or_default()
            .into_iter()
            .filter(|e| {
                let name = e["involvedObject"]["name"]
                    .as_str()
                    .or_else(|| e["regarding"]["name"].as_str())
                    .unwrap_or_default();
                name.starts_with(prefix) && e["reason"] == reason
            })
            .collect()
    }

    /// Waits for an event as `events` finds it; returns its message.
    pub fn wait_event(&self, prefix: &str, reason: &str) -> String {
        self.c.wait_for(
            &format!("a {reason} event on {}/{prefix}", self.name),
            T,
            || {
                self.events(prefix, reason)
                    .first()
                    .map(|e| e["message"].as_str().unwrap_or_default().to_owned())
            },
        )
    }

    /// Deletes the job and waits until it, its pods and its PodGroup are gone (upstream's
    /// `WaitJobCleanedUp`).
    pub fn delete_job_and_wait_cleaned_up(&self, job: &str) {
        self.kubectl(&["delete", "vcjob", job, "--wait=false"]);
        self.c
            .wait_for(&format!("job {}/{job} cleaned up", self.name), T, || {
                let (exists, _, _) = self.try_kubectl(&["get", "vcjob", job], None);
                (!exists && self.pods(job).is_empty() && self.podgroups().is_empty()).then_some(())
            });
    }
}

/// A Volcano Job manifest.
pub fn vcjob(name: &str, spec: Value) -> Value {
    json!({
        "apiVersion": "batch.volcano.sh/v1alpha1",
        "kind": "Job",
        "metadata": {"name": name},
        "spec": spec,
    })
}

/// A task of `replicas` pods (minAvailable `min`) each requesting `cpu`, running until deleted.
pub fn task(name: &str, replicas: i32, min: i32, cpu: &str) -> Value {
    json!({
        "name": name,
        "replicas": replicas,
        "minAvailable": min,
        "template": {
            "metadata": {"annotations": {}},
            "spec": {
                "restartPolicy": "Never",
                "containers": [{
                    "name": "main",
                    "image": "nginx",
                    "resources": {"requests": {"cpu": cpu}},
                }],
            },
        },
    })
}

/// `task` whose pods run for `duration` (e.g. `3s`) and exit with `exit_code` (simulated kubelet
/// annotations, in place of upstream's `sleep 5` / `exit 3` commands).
pub fn finishing(mut task: Value, duration: &str, exit_code: i32) -> Value {
    task["template"]["metadata"]["annotations"] = json!({
        "sim.basalt.dev/duration": duration,
        "sim.basalt.dev/exit-code": exit_code.to_string(),
    });
    task
}

#[test]
fn jobp_job_lifecycle() {
    let s = Suite::start();
    jobp_lifecycle::run(&s);
    jobp_restart::run(&s);
    jobp_controlled_resource::run(&s);
    jobp_lifecycle_uid::run(&s);
    s.finish();
}

/// `jobseq/command.go`: vcctl's job list/suspend/resume/delete, through `basalt job`.
#[test]
fn jobseq_command() {
    let s = Suite::start();
    jobseq_command::run(&s);
    s.finish();
}

#[test]
fn jobp_scale_min_success_and_queue_commands() {
    let s = Suite::start();
    jobp_scale::run(&s);
    jobseq_queue::run(&s);
    s.finish();
}

/// `jobseq/job_plugins.go`, `ssh_plugin.go` and `ray_plugin.go`: the svc/ssh/env plugins'
/// objects.
#[test]
fn jobseq_job_plugins() {
    let s = Suite::start();
    jobseq_plugins::run_job_plugins(&s);
    s.finish();
}

/// The MPI, TensorFlow and PyTorch jobs of `jobp/` and `jobseq/`: what the plugins give the
/// framework process (which `basalt up` does not run), then the job's phases.
#[test]
fn jobseq_framework_plugins() {
    let s = Suite::start();
    jobseq_plugins::run_framework_plugins(&s);
    s.finish();
}

#[test]
fn jobseq_job_error_handling() {
    let s = Suite::start();
    jobseq_errors::run(&s);
    s.finish();
}

#[test]
fn jobp_admission_and_job_mutate() {
    let s = Suite::start();
    jobp_admission::run(&s);
    admission_job_mutate::run(&s);
    admission_queue_mutate::run(&s);
    admission_jobflow::run(&s);
    s.finish();
}

/// The validating webhooks' files, on a cluster of their own: with the files above they would
/// take one function past the suite's per-test time limit on a loaded machine.
#[test]
fn admission_validation() {
    let s = Suite::start();
    admission_queue_validation::run(&s);
    admission_podgroup_validation::run(&s);
    admission_job_validation::run(&s);
    s.finish();
}

/// Upstream's pod webhook files and the PodGroup mutating-webhook file.
#[test]
fn admission_pods_and_podgroup_mutate() {
    let s = Suite::start();
    admission_pod_mutate::run(&s);
    admission_pod_validation::run(&s);
    admission_podgroup_mutate::run(&s);
    s.finish();
}

#[test]
fn schedulingbase_job_scheduling() {
    let s = Suite::start();
    schedulingbase::run(&s);
    s.finish();
}

/// The 1-CPU-slot cluster (upstream's kind topology with `NodesNumLimit` /
/// `NodesResourceLimit`).
pub const SLOTS_CLUSTER: &str = concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/../e2e/volcano_compat/slots-cluster.yaml"
);

/// `basalt up` on `SLOTS_CLUSTER`, with the PriorityClasses of the schedulingaction cases.
fn slots_suite() -> Suite {
    let s = Suite::start_with(&["--cluster", SLOTS_CLUSTER]);
    schedulingaction::prepare(&s);
    s
}

/// Upstream's `sla` cases, on the slot cluster with the CI configuration plus `sla` (written at
/// run time).
#[test]
fn schedulingbase_sla() {
    schedulingbase_sla::run();
}

#[test]
fn schedulingaction_preempt() {
    let s = slots_suite();
    schedulingaction::run_preempt(&s);
    schedulingaction::run_preempt_gates(&s);
    schedulingaction_allocate::run(&s);
    s.finish();
}

#[test]
fn schedulingaction_reclaim() {
    let s = slots_suite();
    schedulingaction::run_reclaim(&s);
    s.finish();
}

/// Upstream's preempt case that changes the CI configuration (no `enqueue`, topology-aware
/// preemption), on a cluster of its own.
#[test]
fn schedulingaction_preempt_topology_aware() {
    schedulingaction_reconfigured::run_preempt_topology_aware();
}

/// Upstream's capacity-plugin reclaim cases, each on a cluster of its own started with the CI
/// configuration's `proportion` replaced by `capacity`.
#[test]
fn schedulingaction_capacity_reclaim() {
    schedulingaction_reconfigured::run_capacity_reclaim();
}

#[test]
fn schedulingaction_predicates() {
    let s = slots_suite();
    schedulingaction_predicates::run(&s);
    s.finish();
}

/// Two clusters: upstream's first case runs the CI configuration without `enqueue`.
#[test]
fn schedulingaction_enqueue() {
    schedulingaction_enqueue::run_without_enqueue();
    let s = slots_suite();
    schedulingaction_enqueue::run(&s);
    s.finish();
}

/// Upstream's one-node cluster (`guarantee-cluster.yaml`): the cases' guarantees reserve parts
/// of the cluster's total.
#[test]
fn schedulingaction_guarantee() {
    let s = Suite::start_with(&["--cluster", schedulingaction_guarantee::GUARANTEE_CLUSTER]);
    schedulingaction_guarantee::run(&s);
    s.finish();
}

#[test]
fn schedulingaction_terminating_podgroup() {
    let s = Suite::start();
    schedulingaction_terminating::run(&s);
    s.finish();
}

#[test]
fn jobseq_queue_job_status() {
    let s = slots_suite();
    schedulingaction::run_queue_job_status(&s);
    s.finish();
}

#[test]
fn scheduling_and_podgroups() {
    let s = Suite::start_basalt_default();
    scheduling::run(&s);
    s.finish();
}
