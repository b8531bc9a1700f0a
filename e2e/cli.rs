//! The operator CLI against `basalt up`: `basalt queue|job` list views (snapshots with ages
//! normalised), queue open/close and job abort through Commands, and `basalt why` naming the
//! real cause for a gang that cannot fit, a job held by its queue's capability and a job in a
//! Closed queue.
//!
//! The cluster runs with `--no-webhooks`: the validating webhook refuses new jobs in a Closed
//! queue, and this test needs one to exist (as it does when a queue is closed after submission
//! through another API server, or on clusters without Basalt's webhooks).

use std::process::Command;
use std::time::Duration;

use crate::harness::{Cluster, Controller};

const T: Duration = Duration::from_secs(60);

/// Runs `basalt <args> --kubeconfig <cluster>`; returns (success, stdout, stderr).
fn basalt(c: &Cluster, args: &[&str]) -> (bool, String, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_basalt"))
        .args(args)
        .arg("--kubeconfig")
        .arg(&c.kubeconfig)
        .env_remove("RUST_BACKTRACE")
        .output()
        .expect("running basalt");
    (
        out.status.success(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

fn ok(c: &Cluster, args: &[&str]) -> String {
    let (success, out, err) = basalt(c, args);
    assert!(
        success,
        "basalt {} failed:\n{err}\n{}",
        args.join(" "),
        c.log()
    );
    out
}

/// Tokens of each line joined by one space, ages (`12s`, `3m`) replaced by `AGE`.
fn normalise(text: &str) -> String {
    text.lines()
        .map(|l| {
            l.split_whitespace()
                .map(|t| {
                    let digits = t.trim_end_matches(['s', 'm', 'h', 'd']);
                    if digits.len() + 1 == t.len()
                        && !digits.is_empty()
                        && digits.chars().all(|c| c.is_ascii_digit())
                    {
                        "AGE"
                    } else {
                        t
                    }
                })
                .collect::<Vec<_>>()
                .join(" ")
        })
        .collect::<Vec<_>>()
        .join("\n")
}

/// Every line's columns start where the header's do (kubectl-style alignment).
fn assert_aligned(table: &str) {
    let starts = |l: &str| -> Vec<usize> {
        let b = l.as_bytes();
        (0..b.len())
            .filter(|&i| b[i] != b' ' && (i == 0 || b[i - 1] == b' '))
            .collect()
    };
    let header = starts(table.lines().next().unwrap_or_default());
    for line in table.lines().skip(1) {
        assert_eq!(starts(line), header, "misaligned {line:?} in\n{table}");
    }
}

fn job(name: &str, queue: &str, replicas: u32, gpus: u32, duration: &str) -> String {
    format!(
        "apiVersion: batch.volcano.sh/v1alpha1
kind: Job
metadata: {{name: {name}}}
spec:
  schedulerName: volcano
  queue: {queue}
  minAvailable: {replicas}
  tasks:
  - name: worker
    replicas: {replicas}
    template:
      metadata: {{annotations: {{sim.basalt.dev/duration: {duration}}}}}
      spec:
        restartPolicy: Never
        containers: [{{name: w, image: busybox, resources: {{limits: {{nvidia.com/gpu: \"{gpus}\"}}}}}}]
"
    )
}

fn wait_job(c: &Cluster, name: &str, phase: &str) {
    c.wait_for(&format!("job {name} {phase}"), T, || {
        let j = c.get_json(&["vcjob", name]);
        (j.pointer("/status/state/phase").and_then(|p| p.as_str()) == Some(phase)).then_some(())
    });
}

fn wait_text(c: &Cluster, what: &str, args: &[&str], expected: &str) -> String {
    let deadline = std::time::Instant::now() + T;
    loop {
        let last = normalise(&ok(c, args));
        if last == expected {
            return last;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "{what}: after {T:?} got\n{last}\nexpected\n{expected}\n--- log ---\n{}",
            c.log()
        );
        std::thread::sleep(Duration::from_millis(200));
    }
}

#[test]
fn list_views_actions_and_why() {
    let c = Cluster::start(&["--no-webhooks"]);
    ok(
        &c,
        &[
            "queue",
            "create",
            "team-x",
            "--capability",
            "nvidia.com/gpu=2",
        ],
    );
    ok(&c, &["queue", "create", "team-y", "-w", "2"]);
    let (success, _, err) = basalt(&c, &["queue", "create", "team-y"]);
    assert!(!success && err.contains("already exists"), "{err}");
    ok(&c, &["queue", "close", "team-y"]);
    c.wait_for("team-y Closed", T, || {
        ok(&c, &["queue", "get", "team-y"])
            .contains("Closed")
            .then_some(())
    });
    // `hold` declares its run time, so `why` can say when the scheduler expects it to end.
    c.apply(&job("hold", "team-x", 1, 2, "10m").replace(
        "annotations: {sim.basalt.dev/duration: 10m}",
        "annotations: {sim.basalt.dev/duration: 10m, basalt.dev/expected-runtime: 10m}",
    ));
    wait_job(&c, "hold", "Running");
    c.apply(&job("capped", "team-x", 1, 2, "1m"));
    c.apply(&job("gang", "default", 4, 8, "1m"));
    c.apply(&job("closed", "team-y", 1, 1, "1m"));

    let queues = wait_text(
        &c,
        "queue list snapshot",
        &["queue", "list"],
        "NAME STATE WEIGHT CAPABILITY GUARANTEE DESERVED ALLOCATED PENDING RUNNING
default Open 1 - - - - 1 0
root Open 1 - - - - 0 0
team-x Open 1 gpu=2 - gpu=2 gpu=2 1 1
team-y Closed 2 - - - - 1 0",
    );
    assert!(queues.contains("team-x Open"));
    assert_aligned(&ok(&c, &["queue", "list", "-o", "wide"]));
    let jobs = wait_text(
        &c,
        "job list snapshot",
        &["job", "list"],
        "NAME QUEUE PHASE MIN REPLICAS PENDING RUNNING SUCCEEDED FAILED RETRIES AGE
capped team-x Pending 1 1 0 0 0 0 0 AGE
closed team-y Pending 1 1 0 0 0 0 0 AGE
gang default Pending 4 4 0 0 0 0 0 AGE
hold team-x Running 1 1 0 1 0 0 0 AGE",
    );
    assert!(jobs.contains("hold team-x Running"));
    assert_aligned(&ok(&c, &["job", "list", "-A", "-o", "wide"]));
    let json: serde_json::Value =
        serde_json::from_str(&ok(&c, &["job", "list", "-o", "json"])).expect("JSON");
    assert_eq!(json.as_array().map(Vec::len), Some(4), "{json}");

    // Placement answers come from the scheduler's own dry-run session; each suggestion is one
    // a what-if session confirmed.
    let why = ok(&c, &["why", "gang"]);
    // 32 GPUs for the gang, 30 idle: enqueue does not admit it, and only `hold` ending would.
    assert!(
        why.contains("scheduler: pod group is not ready") && why.contains("nvidia.com/gpu 32"),
        "{why}"
    );
    assert!(why.contains("would not admit the job's PodGroup"), "{why}");
    assert!(
        why.contains("if job default/hold (1 pod(s) on nodes; expected to end in about ")
            && why.contains(" by the scheduler's estimate, from its pods' declared run time) finished or were deleted, a session would let this job start"),
        "{why}"
    );
    // Three of the four 8-GPU pods fit beside `hold`: a what-if session with minAvailable 3
    // admits it, one with 4 does not.
    assert!(
        why.contains("if job default/gang started with 3 of its pods (spec.minAvailable: 3 instead of 4; its other 1 pod(s) would wait and start as room frees), a session would start it"),
        "{why}"
    );
    let why = ok(&c, &["why", "capped"]);
    assert!(
        why.contains("queue team-x capability: 2 nvidia.com/gpu allocated of 2 capability; this job needs 2 nvidia.com/gpu more"),
        "{why}"
    );
    assert!(
        why.contains("frees in queue team-x when 1 running pod(s) finish (hold-worker-0)"),
        "{why}"
    );
    let why = ok(&c, &["why", "closed"]);
    assert!(why.contains("queue team-y is Closed"), "{why}");
    assert!(why.contains("`basalt queue open team-y`"), "{why}");
    let d: serde_json::Value =
        serde_json::from_str(&ok(&c, &["why", "closed", "-o", "json"])).expect("JSON");
    let causes = d["causes"].as_array().cloned().unwrap_or_default();
    assert!(
        !causes.is_empty()
            && causes[0]
                .as_str()
                .is_some_and(|c| c.contains("team-y is Closed")),
        "the closed queue is named first: {d}"
    );

    // `hold` takes 2 of one node's 8 GPUs: 6 fragmented, 24 idle; pending demand by size; the
    // same per GPU model (`basalt up`'s nodes carry GPU feature discovery's product label).
    let report = normalise(&ok(&c, &["report"]));
    for line in [
        "TOTAL 2/32 0 24 6 - -",
        "NVIDIA-A100-SXM4-80GB 4 2/32 0 24 6",
        "default 0 0 - - - 1 (32 gpu)",
        "team-x 2 0 1 (2 gpu) - - -",
        "team-y 0 0 1 (1 gpu) - - -",
    ] {
        assert!(report.lines().any(|l| l == line), "{line:?} in\n{report}");
    }
    let r: serde_json::Value =
        serde_json::from_str(&ok(&c, &["report", "-o", "json"])).expect("JSON");
    assert_eq!(r["nodes"].as_array().map(Vec::len), Some(4), "{r}");
    assert_eq!(r["models"].as_array().map(Vec::len), Some(1), "{r}");
    assert!(r["shapes"].is_array(), "{r}");

    // Opening the queue lets the job run; aborting it goes through a Command.
    ok(&c, &["queue", "open", "team-y"]);
    wait_job(&c, "closed", "Running");
    let out = ok(&c, &["job", "abort", "closed"]);
    assert!(out.contains("AbortJob requested"), "{out}");
    c.wait_for("closed aborted", T, || {
        normalise(&ok(&c, &["job", "list"]))
            .contains("closed team-y Aborted")
            .then_some(())
    });
    let (success, _, err) = basalt(&c, &["why", "nope"]);
    assert!(!success && err.contains("basalt job list"), "{err}");
}

/// The issue's case: one 8-GPU node whose GPUs an exclusive job holds, and a vGPU job (4 × 4 GiB
/// / 25 %) that waits. `why` must agree with the scheduler (no card has room, on one node) and
/// name the job whose end would let it run.
#[test]
fn why_agrees_with_the_scheduler_on_cards_held_by_an_exclusive_job() {
    let c = Cluster::start(&["--no-webhooks", "--nodes", "1", "--gpus-per-node", "8"]);
    c.apply(&job("hold", "default", 1, 8, "10m"));
    wait_job(&c, "hold", "Running");
    c.apply(include_str!("../examples/02-vgpu-inference-job.yaml"));
    c.wait_for("the vGPU job's PodGroup", T, || {
        let pgs = c.get_json(&["podgroups"]);
        (pgs["items"].as_array().map_or(0, Vec::len) == 2).then_some(())
    });
    let why = ok(&c, &["why", "inference-service"]);
    assert!(!why.contains("nothing blocks it"), "{why}");
    assert!(why.contains("scheduler: "), "{why}");
    assert!(!why.contains("4 nodes"), "one node only: {why}");
    assert!(
        why.contains("if job default/hold (1 pod(s) on nodes) finished or were deleted"),
        "{why}"
    );
    let d: serde_json::Value =
        serde_json::from_str(&ok(&c, &["why", "inference-service", "-o", "json"])).expect("JSON");
    assert!(
        d["session"].as_array().is_some_and(|s| !s.is_empty()),
        "{d}"
    );
}

/// `GET /metrics` from a `basalt controller` whose log names the bound address.
fn scrape(c: &Cluster, log: &str) -> Option<String> {
    use std::io::{Read, Write};
    let text = std::fs::read_to_string(c.dir.path().join(log)).ok()?;
    let line = text.lines().find(|l| l.contains("serving /metrics"))?;
    let addr = line.split("bound=").nth(1)?.split_whitespace().next()?;
    let mut s = std::net::TcpStream::connect(addr).ok()?;
    s.write_all(b"GET /metrics HTTP/1.0\r\nHost: x\r\n\r\n")
        .ok()?;
    let mut body = String::new();
    s.read_to_string(&mut body).ok()?;
    Some(body)
}

#[test]
fn queues_show_how_busy_they_are_in_kubectl_status_and_metrics() {
    let c = Cluster::start(&[
        "--no-webhooks",
        "--no-controllers",
        "--nodes",
        "1",
        "--gpus-per-node",
        "8",
    ]);
    let log = "controller.log";
    let _controller = Controller::start(&c, log);
    ok(
        &c,
        &["queue", "create", "team", "-w", "1", "--parent", "root"],
    );
    c.apply(&job("run", "team", 1, 4, "10m"));
    wait_job(&c, "run", "Running");
    // Needs 8 GPUs while `run` holds 4 of the node's 8: it waits.
    c.apply(&job("big", "team", 1, 8, "1m"));

    // kubectl's printer columns: PENDING, RUNNING and the GPUs allocated, from the status.
    let mut last = String::new();
    let row = c.wait_for("queue team's printer columns", T, || {
        let table = normalise(&c.kubectl(&["get", "queue", "team"]));
        if table != last {
            eprintln!("kubectl get queue team:\n{table}");
            last.clone_from(&table);
        }
        let header = table.lines().next()?.to_owned();
        let row = table.lines().nth(1)?.to_owned();
        let cells: Vec<&str> = row.split(' ').collect();
        let columns: Vec<&str> = header.split(' ').collect();
        let at = |name: &str| {
            columns
                .iter()
                .position(|c| *c == name)
                .map(|i| cells.get(i))
        };
        (at("PENDING") == Some(Some(&"1"))
            && at("RUNNING") == Some(Some(&"1"))
            && at("GPUS") == Some(Some(&"4")))
        .then_some(format!("{header}\n{row}"))
    });
    assert!(
        row.starts_with("NAME STATE WEIGHT PARENT PENDING RUNNING GPUS AGE"),
        "{row}"
    );

    // The deserved share proportion computed: team is the only queue with work. As in
    // Volcano's proportion, a job not admitted yet has no pods and adds nothing to the queue's
    // request, so team deserves what its running job asks for: 4 of the 8 GPUs.
    let q = c.get_json(&["queue", "team"]);
    assert_eq!(q["status"]["deserved"]["nvidia.com/gpu"], "4", "{q}");
    assert_eq!(q["status"]["allocated"]["nvidia.com/gpu"], "4", "{q}");

    let want = [
        r#"basalt_build_info{version=""#,
        r#"basalt_scheduler_queue_jobs{queue="team",phase="running"} 1"#,
        r#"basalt_scheduler_queue_jobs{queue="team",phase="pending"} 1"#,
        r#"basalt_scheduler_queue_allocated{queue="team",resource="nvidia.com/gpu"} 4"#,
        r#"basalt_scheduler_queue_deserved{queue="team",resource="nvidia.com/gpu"} 4"#,
    ];
    let metrics = c.wait_for("queue metrics", T, || {
        let m = scrape(&c, log)?;
        want.iter().all(|w| m.contains(w)).then_some(m)
    });
    assert!(
        !metrics.contains(r#"basalt_scheduler_queue_capability{queue="team""#),
        "team has no capability: {metrics}"
    );
}
