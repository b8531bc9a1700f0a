//! Reservations on `basalt up` (docs/reservation.md, issue 14): a 16-GPU gang submitted behind a
//! stream of small jobs. With `config/scheduler/basalt-reserve.yaml` the gang gets the `Reserved`
//! condition on its PodGroup, holds two nodes, and runs on them while later small jobs are still
//! waiting. With the default
//! configuration the small jobs submitted after the gang overtake it.
//!
//! Only the per-job waiting time is shortened (`volcano.sh/sla-waiting-time: 2s` on the gang's
//! Job, which the job controller copies to its PodGroup); the policy file is the shipped one.

use std::collections::{BTreeMap, BTreeSet};
use std::time::{Duration, Instant};

use serde_json::Value;

use crate::harness::{Cluster, Watch};

const RESERVE: &str = concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/../config/scheduler/basalt-reserve.yaml"
);
/// Run time of each later small job (simulated and declared).
const SMALL_SECS: u64 = 16;
/// Run time of the first small job; each next one runs 2 s longer. Long enough that the cluster
/// is still full when the gang has waited its 2 s and been admitted, even on a slow machine
/// (otherwise it simply fits when it arrives and never needs to hold nodes).
const FIRST_SECS: u64 = 45;
/// Small jobs that fill the cluster before the gang arrives (8 × 4 GPUs = 32 GPUs).
const FIRST: usize = 8;
/// Small jobs submitted after the gang.
const LATER: usize = 16;
/// How long the whole scenario may take.
const BOUND: Duration = Duration::from_secs(180);

fn small_job(name: &str, secs: u64) -> String {
    format!(
        "apiVersion: batch.volcano.sh/v1alpha1
kind: Job
metadata:
  name: {name}
  annotations: {{basalt.dev/expected-runtime: {secs}s}}
spec:
  minAvailable: 1
  schedulerName: volcano
  tasks:
  - name: t
    replicas: 1
    template:
      metadata:
        annotations: {{sim.basalt.dev/duration: {secs}s}}
      spec:
        restartPolicy: Never
        containers:
        - name: c
          image: busybox
          resources: {{limits: {{nvidia.com/gpu: 4}}}}
"
    )
}

const GANG: &str = "apiVersion: batch.volcano.sh/v1alpha1
kind: Job
metadata:
  name: big
  annotations: {volcano.sh/sla-waiting-time: 2s, basalt.dev/expected-runtime: 10s}
spec:
  minAvailable: 2
  schedulerName: volcano
  tasks:
  - name: w
    replicas: 2
    template:
      metadata:
        annotations: {sim.basalt.dev/duration: 10s}
      spec:
        restartPolicy: Never
        containers:
        - name: c
          image: busybox
          resources: {limits: {nvidia.com/gpu: 8}}
";

fn s<'a>(v: &'a Value, pointer: &str) -> &'a str {
    v.pointer(pointer).and_then(Value::as_str).unwrap_or("")
}

/// What one poll of the cluster saw.
#[derive(Default)]
struct Seen {
    /// Small jobs by name → when their pod was first seen bound to a node, and the node.
    small_started: BTreeMap<String, (Instant, String)>,
    /// When the gang's PodGroup first carried `Reserved`, and the nodes its message named.
    reserved: Option<(Instant, String)>,
    /// When both gang pods were first seen running, and their nodes.
    gang_running: Option<(Instant, BTreeSet<String>)>,
}

impl Seen {
    fn poll(&mut self, c: &Cluster, watch: &Watch) {
        let pods = c.get_json(&["pods"]);
        let now = Instant::now();
        let mut gang_nodes = BTreeSet::new();
        let mut gang_running = 0;
        for p in pods["items"].as_array().into_iter().flatten() {
            let job = s(p, "/metadata/annotations/volcano.sh~1job-name");
            let node = s(p, "/spec/nodeName");
            if node.is_empty() {
                continue;
            }
            if job == "big" {
                gang_nodes.insert(node.to_owned());
                if s(p, "/status/phase") == "Running" {
                    gang_running += 1;
                }
            } else if job.starts_with("small-") {
                self.small_started
                    .entry(job.to_owned())
                    .or_insert_with(|| (now, node.to_owned()));
            }
        }
        if gang_running == 2 && self.gang_running.is_none() {
            self.gang_running = Some((now, gang_nodes));
        }
        // The condition lasts only while the gang holds nodes: read it from a watch, which
        // sees every update, rather than from polls that could fall between them.
        while let Ok(line) = watch.lines.try_recv() {
            if self.reserved.is_none()
                && let Some(message) = line.strip_prefix("big-").and_then(|l| l.split_once(' '))
                && message.1.starts_with("holding nodes ")
            {
                self.reserved = Some((now, message.1.to_owned()));
            }
        }
    }

    /// Later small jobs that had not started when the gang ran.
    fn later_waiting_at_gang_start(&self) -> usize {
        let Some((at, _)) = &self.gang_running else {
            return 0;
        };
        (0..LATER)
            .filter(|i| {
                self.small_started
                    .get(&format!("small-later-{i}"))
                    .is_none_or(|(t, _)| t > at)
            })
            .count()
    }
}

/// Fills the cluster with small jobs of staggered run times (their ends spread out, so no two
/// nodes drain together by chance), then submits the gang followed by the later stream; polls until the gang
/// runs and every small job has started, or `BOUND`.
fn run_scenario(c: &Cluster) -> Seen {
    let mut seen = Seen::default();
    let watch = c.kubectl_watch(&[
        "get",
        "podgroups",
        "--watch",
        "-o",
        r#"jsonpath={.metadata.name} {.status.conditions[?(@.type=="Reserved")].message}{"\n"}"#,
    ]);
    let first: Vec<String> = (0..FIRST)
        .map(|i| small_job(&format!("small-first-{i}"), FIRST_SECS + 2 * i as u64))
        .collect();
    c.apply(&first.join("---\n"));
    c.wait_for(
        "the first small jobs to fill the cluster",
        Duration::from_secs(90),
        || {
            seen.poll(c, &watch);
            (seen.small_started.len() == FIRST).then_some(())
        },
    );
    let mut rest = vec![GANG.to_owned()];
    rest.extend((0..LATER).map(|i| small_job(&format!("small-later-{i}"), SMALL_SECS)));
    c.apply(&rest.join("---\n"));
    let deadline = Instant::now() + BOUND;
    while Instant::now() < deadline {
        seen.poll(c, &watch);
        if seen.gang_running.is_some() && seen.small_started.len() == FIRST + LATER {
            break;
        }
        std::thread::sleep(Duration::from_millis(300));
    }
    seen
}

#[test]
fn a_large_gang_behind_small_jobs_gets_a_reservation_and_runs_first() {
    let c = Cluster::start(&["--scheduler-config", RESERVE]);
    let seen = run_scenario(&c);
    let (_, message) = seen.reserved.clone().unwrap_or_else(|| {
        panic!(
            "the gang's PodGroup never had the Reserved condition\n{}",
            c.log()
        )
    });
    let (_, gang_nodes) = seen.gang_running.clone().unwrap_or_else(|| {
        panic!(
            "the gang did not run within {BOUND:?}: {}\n{}",
            c.kubectl(&["get", "vcjob,podgroups,pods", "-o", "wide"]),
            c.log()
        )
    });
    assert!(
        message.starts_with("holding nodes ") && message.contains("estimated start in about"),
        "{message}"
    );
    // The gang runs on the nodes it held.
    for n in &gang_nodes {
        assert!(
            message.contains(n.as_str()),
            "gang on {gang_nodes:?}: {message}"
        );
    }
    // It overtook part of the stream submitted after it…
    let waiting = seen.later_waiting_at_gang_start();
    assert!(
        waiting >= 4,
        "only {waiting} of the {LATER} later small jobs were still waiting when the gang ran"
    );
    // (Not shown here: small jobs *starting* on the other nodes during the hold. With these run
    // times the held nodes are the first to drain, so the others are still busy with the first
    // jobs for the whole hold; the backfill rule is covered by the scheduler-core tests.)
}

#[test]
fn without_the_reserve_policy_later_small_jobs_overtake_the_gang() {
    let c = Cluster::start(&[]);
    let seen = run_scenario(&c);
    assert!(seen.reserved.is_none(), "no reservation without the policy");
    let overtaken_by = LATER - seen.later_waiting_at_gang_start();
    assert!(
        seen.gang_running.is_none() || overtaken_by >= 8,
        "with the default policy the gang ran after only {overtaken_by} later small jobs started"
    );
    assert!(
        overtaken_by >= 8,
        "only {overtaken_by} later small jobs started before the gang: {:?}",
        seen.small_started.keys()
    );
}

/// A job of `gpus` GPUs in one pod that runs `secs` and declares nothing.
/// Queues `team-a` (reclaimable) and `team-b` (reclaimable as given), weight 1 each.
fn team_queues(c: &Cluster, b_reclaimable: bool) {
    c.apply(&format!(
        "apiVersion: scheduling.volcano.sh/v1beta1\nkind: Queue\nmetadata: {{name: team-a}}\n\
         spec: {{weight: 1, reclaimable: true}}\n---\n\
         apiVersion: scheduling.volcano.sh/v1beta1\nkind: Queue\nmetadata: {{name: team-b}}\n\
         spec: {{weight: 1, reclaimable: {b_reclaimable}}}\n"
    ));
}

fn undeclared_job(name: &str, gpus: u32, pods: u32, secs: u64, extra: &str) -> String {
    format!(
        "apiVersion: batch.volcano.sh/v1alpha1
kind: Job
metadata:
  name: {name}
  annotations: {{{extra}}}
spec:
  minAvailable: {pods}
  schedulerName: volcano
  tasks:
  - name: t
    replicas: {pods}
    template:
      metadata:
        annotations: {{sim.basalt.dev/duration: {secs}s}}
      spec:
        restartPolicy: Never
        containers:
        - name: c
          image: busybox
          resources: {{limits: {{nvidia.com/gpu: {gpus}}}}}
"
    )
}

/// The reason and message of the `Reserved` condition on the PodGroup of Job `big`, if true.
fn big_reserved(c: &Cluster) -> Option<(String, String)> {
    let pgs = c.get_json(&["podgroups"]);
    pgs["items"].as_array()?.iter().find_map(|pg| {
        if !s(pg, "/metadata/name").starts_with("big-") {
            return None;
        }
        pg.pointer("/status/conditions")?
            .as_array()?
            .iter()
            .find(|c| c["type"] == "Reserved" && c["status"] == "True")
            .map(|c| (s(c, "/reason").to_owned(), s(c, "/message").to_owned()))
    })
}

/// No job declares a run time: the controllers learn the queue's from a job that finished, so
/// the reservation gets an estimated start (without that it would say "unknown").
#[test]
fn a_run_time_learned_from_finished_jobs_gives_the_reservation_an_estimated_start() {
    let c = Cluster::start(&["--nodes", "2", "--scheduler-config", RESERVE]);
    c.apply(&undeclared_job("warm", 4, 1, 3, ""));
    c.wait_for("vcjob/warm to complete", Duration::from_secs(60), || {
        (s(&c.get_json(&["vcjob/warm"]), "/status/state/phase") == "Completed").then_some(())
    });
    for i in 0..2 {
        c.apply(&undeclared_job(&format!("filler-{i}"), 4, 1, 20, ""));
    }
    c.wait_for("both fillers running", Duration::from_secs(60), || {
        let pods = c.get_json(&["pods", "-l", "volcano.sh/task-spec=t"]);
        let running = pods["items"]
            .as_array()?
            .iter()
            .filter(|p| {
                s(p, "/metadata/name").starts_with("filler-") && s(p, "/status/phase") == "Running"
            })
            .count();
        (running == 2).then_some(())
    });
    c.apply(&undeclared_job(
        "big",
        8,
        2,
        5,
        "volcano.sh/sla-waiting-time: 1s",
    ));
    let (_, message) = c.wait_for(
        "the gang's Reserved condition",
        Duration::from_secs(60),
        || big_reserved(&c),
    );
    assert!(
        message.contains("estimated start in about") && !message.contains("unknown"),
        "{message}"
    );
    c.wait_for("vcjob/big to run", Duration::from_secs(90), || {
        (s(&c.get_json(&["vcjob/big"]), "/status/state/phase") == "Running").then_some(())
    });
}

/// `basalt up` with two nodes and the policy file `base` with `from` replaced by `to` (the
/// directory holding the edited file is returned with the cluster: keep it alive).
fn two_nodes_with_policy(base: &str, from: &str, to: &str) -> (crate::harness::TempDir, Cluster) {
    let dir = crate::harness::TempDir::new("policy");
    let text = std::fs::read_to_string(base).expect("reading the policy file");
    let policy = text.replace(from, to);
    assert_ne!(policy, text, "{base} no longer contains {from:?}");
    let path = dir.path().join("policy.yaml");
    std::fs::write(&path, policy).expect("writing the policy");
    let c = Cluster::start(&[
        "--nodes",
        "2",
        "--scheduler-config",
        path.to_str().expect("utf-8 path"),
    ]);
    (dir, c)
}

/// `job` in queue `queue`.
fn in_queue(job: &str, queue: &str) -> String {
    job.replacen(
        "spec:\n  minAvailable",
        &format!("spec:\n  queue: {queue}\n  minAvailable"),
        1,
    )
}

/// `reservation.hold: false` (docs/reservation.md, step 7): the aged gang of queue `team-a` is
/// first in line but holds no node, so a job of queue `team-b` submitted after it starts on the
/// GPUs that are free while the gang waits (with the hold, the gang would hold both nodes of this
/// 2-node cluster and the job would wait); the gang's PodGroup says `FirstInLine`, and the gang
/// runs once both nodes are free.
#[test]
fn without_the_hold_the_gang_is_first_in_line_and_small_jobs_use_free_gpus_meanwhile() {
    let (_dir, c) = two_nodes_with_policy(
        RESERVE,
        "      reservation.depth: 1\n",
        "      reservation.depth: 1\n      reservation.hold: false\n",
    );
    team_queues(&c, true);
    for i in 0..2 {
        c.apply(&in_queue(
            &undeclared_job(&format!("filler-{i}"), 4, 1, 25, ""),
            "team-a",
        ));
    }
    c.wait_for("both fillers running", Duration::from_secs(60), || {
        (c.kubectl(&["get", "pods", "--no-headers"])
            .lines()
            .filter(|l| l.starts_with("filler-") && l.contains("Running"))
            .count()
            == 2)
            .then_some(())
    });
    c.apply(&in_queue(
        &undeclared_job("big", 8, 2, 5, "volcano.sh/sla-waiting-time: 1s"),
        "team-a",
    ));
    let (reason, message) = c.wait_for(
        "the gang's Reserved condition",
        Duration::from_secs(60),
        || big_reserved(&c),
    );
    assert_eq!(reason, "FirstInLine", "{message}");
    assert!(message.contains("no node is held"), "{message}");
    // 8 GPUs are free (two 4-GPU fillers on 16): team-b's job submitted now starts at once.
    c.apply(&in_queue(&undeclared_job("later", 4, 1, 3, ""), "team-b"));
    c.wait_for(
        "the later small job to run while the gang waits",
        Duration::from_secs(30),
        || {
            let phase = s(&c.get_json(&["vcjob/later"]), "/status/state/phase").to_owned();
            let gang = s(&c.get_json(&["vcjob/big"]), "/status/state/phase").to_owned();
            assert_ne!(
                gang,
                "Running",
                "the gang ran before the later job: {}\n{}",
                c.kubectl(&["get", "pods", "-o", "wide"]),
                c.kubectl(&["describe", "podgroups"])
            );
            matches!(phase.as_str(), "Running" | "Completed").then_some(())
        },
    );
    c.wait_for("vcjob/big to run", Duration::from_secs(120), || {
        let phase = s(&c.get_json(&["vcjob/big"]), "/status/state/phase").to_owned();
        matches!(phase.as_str(), "Running" | "Completed").then_some(())
    });
}

/// Aged gangs (docs/fairness.md, "Aged gangs"; Basalt's default configuration with
/// `proportion.aged-gang-waiting-time` shortened from 2h to 3s, nothing else changed). Two
/// equal queues share two 8-GPU nodes, one node each. team-b's gang (2 × 4 GPUs) waits behind
/// team-b's own long job, so team-b is at its deserved share; team-a's job submitted after the
/// gang also waits. When team-a's first job ends, the freed node goes to the aged gang, not to
/// team-a's younger job — which is below its share and would get it under Volcano's proportion
/// (team-b is `overused`; scheduler-core's `an_aged_gang_of_a_queue_at_its_share_gets_the_room_first`
/// checks that side). The younger job's PodGroup says why it waits.
#[test]
fn an_aged_gang_gets_the_freed_node_before_a_younger_job_of_a_queue_below_its_share() {
    let (_dir, c) = two_nodes_with_policy(
        concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/../config/scheduler/basalt-default.yaml"
        ),
        "proportion.aged-gang-waiting-time: 2h",
        "proportion.aged-gang-waiting-time: 3s",
    );
    team_queues(&c, false);
    // team-b is not reclaimable so that, once the gang runs (team-b above its share), reclaim
    // does not evict it again for team-a's job: this test is about who gets the freed node.
    // One node each: team-a's ends first, team-b's outlasts the test.
    c.apply(&in_queue(
        &undeclared_job("a-first", 8, 1, 40, ""),
        "team-a",
    ));
    c.apply(&in_queue(
        &undeclared_job("b-long", 8, 1, 600, ""),
        "team-b",
    ));
    let phase = |job: &str| {
        s(
            &c.get_json(&[&format!("vcjob/{job}")]),
            "/status/state/phase",
        )
        .to_owned()
    };
    c.wait_for("both first jobs running", Duration::from_secs(60), || {
        (phase("a-first") == "Running" && phase("b-long") == "Running").then_some(())
    });
    c.apply(&in_queue(&undeclared_job("big", 4, 2, 5, ""), "team-b"));
    // Let the gang age past its 3 s, then submit team-a's younger job.
    std::thread::sleep(Duration::from_secs(5));
    c.apply(&in_queue(&undeclared_job("younger", 8, 1, 5, ""), "team-a"));
    assert_eq!(
        phase("a-first"),
        "Running",
        "team-a's first job ended before the younger job was submitted: the scenario needs a slower end"
    );
    c.wait_for(
        "the aged gang to run on the freed node",
        Duration::from_secs(120),
        || {
            let younger = phase("younger");
            assert!(
                !matches!(younger.as_str(), "Running" | "Completed"),
                "the younger job of the queue below its share ran first: {}\n{}",
                c.kubectl(&["get", "pods", "-o", "wide"]),
                c.kubectl(&["describe", "podgroups"])
            );
            (phase("big") == "Running").then_some(())
        },
    );
    let pgs = c.get_json(&["podgroups"]);
    let message = pgs["items"]
        .as_array()
        .into_iter()
        .flatten()
        .filter(|pg| s(pg, "/metadata/name").starts_with("younger-"))
        .flat_map(|pg| {
            pg["status"]["conditions"]
                .as_array()
                .cloned()
                .unwrap_or_default()
        })
        .filter(|c| c["type"] == "Unschedulable")
        .map(|c| s(&c, "/message").to_owned())
        .collect::<Vec<_>>()
        .join("\n");
    assert!(message.contains("it waits in Pending"), "{message}");
}
