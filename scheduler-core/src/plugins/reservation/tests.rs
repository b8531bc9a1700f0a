//! Tests of the reservation plugin and the reserve action, through `run_session` (the front door)
//! where the rule is about effects, and on the pure plan where it is about election.

use proptest::prelude::*;

use super::*;
use crate::effects::Effect;
use crate::ids::{JobId, NodeId, TaskId};
use crate::model::{Job, Task};
use crate::plugins::testkit::{Kit, job_ix};
use crate::resources::Resources;
use crate::{Scheduler, run_session};

const H: u64 = 3_600_000;

fn gpus(n: i64) -> Resources {
    Resources::new().with("cpu", 1000 * n).with(NVIDIA_GPU, n)
}

fn config(args: &str, actions: &str) -> Scheduler {
    let yaml = format!(
        "actions: \"{actions}\"\ntiers:\n- plugins:\n  - name: priority\n  - name: gang\n  - name: reservation\n    arguments: {args}\n- plugins:\n  - name: predicates\n  - name: proportion\n"
    );
    Scheduler::from_yaml(&yaml).expect("test config loads")
}

fn default_config() -> Scheduler {
    config(
        "{reservation.min-gpus: 16, reservation.waiting-time: 1h}",
        "reserve, allocate",
    )
}

/// Nodes n1..n4 of 8 GPUs; `busy[i]` GPUs of node i are taken by 1-GPU pods of job `run-i`,
/// started at 0 and declaring `runtime[i]` hours (none when 0).
fn cluster(busy: [i64; 4], runtime: [u64; 4]) -> Kit {
    let mut k = Kit::new();
    for i in 0..4 {
        let node = format!("n{}", i + 1);
        k.node(&node, gpus(8));
        if busy[i] > 0 {
            let job = format!("default/run-{}", i + 1);
            let mut j = Job::new("default", 1);
            j.phase = JobPhase::Running;
            if runtime[i] > 0 {
                j.annotations.insert(
                    EXPECTED_RUNTIME_ANNOTATION.into(),
                    format!("{}h", runtime[i]),
                );
            }
            k.snap.jobs.insert(JobId::new(&job), j);
            for p in 0..busy[i] {
                k.running(&format!("{job}-{p}"), &job, gpus(1), &node);
            }
        }
    }
    k
}

/// A 16-GPU gang (2 × 8) created at `created`.
fn big_gang(k: &mut Kit, name: &str, created: u64) {
    let mut j = Job::new("default", 2);
    j.creation = created;
    k.snap.jobs.insert(JobId::new(name), j);
    for p in 0..2 {
        let mut t = Task::pending(name, gpus(8));
        t.creation = created;
        k.snap.tasks.insert(TaskId::new(format!("{name}-{p}")), t);
    }
}

/// A pending 1-GPU job declaring `hours` of run time (none when `None`).
fn small(k: &mut Kit, name: &str, hours: Option<u64>, created: u64) {
    let mut j = Job::new("default", 1);
    j.creation = created;
    if let Some(h) = hours {
        j.annotations
            .insert(EXPECTED_RUNTIME_ANNOTATION.into(), format!("{h}h"));
    }
    k.snap.jobs.insert(JobId::new(name), j);
    let mut t = Task::pending(name, gpus(1));
    t.creation = created;
    k.snap.tasks.insert(TaskId::new(format!("{name}-0")), t);
}

fn reservations(effects: &[Effect]) -> Vec<(String, Reservation)> {
    effects
        .iter()
        .filter_map(|e| match e {
            Effect::Reservation { job, reservation } => {
                Some((job.to_string(), reservation.clone()))
            }
            _ => None,
        })
        .collect()
}

/// The `Reserved` condition the session wrote on `job`'s PodGroup.
fn reserved_condition(effects: &[Effect], job: &str) -> Option<JobCondition> {
    effects.iter().find_map(|e| match e {
        Effect::PodGroupStatus {
            job: j, conditions, ..
        } if j.as_str() == job => conditions
            .iter()
            .find(|c| c.kind == RESERVED_CONDITION)
            .cloned(),
        _ => None,
    })
}

fn bound(effects: &[Effect]) -> Vec<(String, String)> {
    effects
        .iter()
        .filter_map(|e| match e {
            Effect::Bind { task, node, .. } => Some((task.to_string(), node.to_string())),
            _ => None,
        })
        .collect()
}

#[test]
fn an_aged_large_gang_holds_the_nodes_that_free_first() {
    // n1, n2 free in 1 h and 2 h; n3, n4 in 5 h.
    let mut k = cluster([4, 6, 7, 7], [1, 2, 5, 5]);
    big_gang(&mut k, "default/big", 0);
    // Waited exactly the waiting time (1 h); run-1 is expected to end now.
    k.snap.now = Some(H);
    let r = run_session(&k.snap, &default_config()).unwrap();
    let res = reservations(&r.effects);
    assert_eq!(res.len(), 1, "{:?}", r.effects);
    assert_eq!(res[0].0, "default/big");
    assert_eq!(
        res[0].1.nodes,
        vec![NodeId::new("n1"), NodeId::new("n2")],
        "the two nodes that free first"
    );
    assert_eq!(res[0].1.estimated_start, Some(2 * H));
    assert_eq!(res[0].1.since, H);
    // The condition names the nodes for `kubectl describe pg`.
    let cond = reserved_condition(&r.effects, "default/big").expect("Reserved condition");
    assert!(cond.message.contains("n1, n2"), "{}", cond.message);
}

#[test]
fn election_needs_waiting_time_size_and_respects_depth() {
    let mut k = cluster([4, 4, 4, 4], [1, 1, 1, 1]);
    big_gang(&mut k, "default/young", H);
    k.snap.now = Some(H + H / 2);
    let r = run_session(&k.snap, &default_config()).unwrap();
    assert!(reservations(&r.effects).is_empty(), "waited 30 min < 1 h");
    // The per-job annotation lowers the waiting time (Volcano's sla annotation).
    k.snap
        .jobs
        .get_mut(&JobId::new("default/young"))
        .unwrap()
        .annotations
        .insert(SLA_WAITING_TIME_ANNOTATION.into(), "20m".into());
    let r = run_session(&k.snap, &default_config()).unwrap();
    assert_eq!(reservations(&r.effects).len(), 1);
    // Below the size threshold: never elected.
    let strict = config(
        "{reservation.min-gpus: 24, reservation.waiting-time: 1h}",
        "reserve, allocate",
    );
    let r = run_session(&k.snap, &strict).unwrap();
    assert!(reservations(&r.effects).is_empty());
    // Depth 1: of two aged gangs only the older holds nodes.
    big_gang(&mut k, "default/old", 0);
    let r = run_session(&k.snap, &default_config()).unwrap();
    let res = reservations(&r.effects);
    assert_eq!(res.len(), 1);
    assert_eq!(res[0].0, "default/old");
    let deep = config(
        "{reservation.min-gpus: 16, reservation.waiting-time: 1h, reservation.depth: 2}",
        "reserve, allocate",
    );
    let res = reservations(&run_session(&k.snap, &deep).unwrap().effects);
    assert_eq!(res.len(), 2);
    let mut all: Vec<&NodeId> = res.iter().flat_map(|(_, r)| &r.nodes).collect();
    all.sort();
    all.dedup();
    assert_eq!(all.len(), 4, "reservations never share a node: {res:?}");
}

/// A gang not yet admitted: Pending, no pods yet (the job controller creates them on
/// admission), minResources 16 GPUs.
fn unadmitted_gang(k: &mut Kit, name: &str, created: u64) {
    let mut j = Job::new("default", 2);
    j.creation = created;
    j.phase = JobPhase::Pending;
    j.min_resources = Some(gpus(16));
    k.snap.jobs.insert(JobId::new(name), j);
}

fn phase_of(effects: &[Effect], name: &str) -> Option<JobPhase> {
    effects.iter().find_map(|e| match e {
        Effect::PodGroupStatus { job, phase, .. } if job.as_str() == name => Some(*phase),
        _ => None,
    })
}

#[test]
fn an_aged_large_gang_is_admitted_without_headroom_so_it_can_be_elected() {
    // A full cluster: without the exemption every GPU that frees is admitted to the next
    // small job and the gang never leaves Pending, so it can never hold nodes.
    let mut k = cluster([8, 8, 8, 8], [1, 2, 3, 4]);
    unadmitted_gang(&mut k, "default/big", 0);
    k.snap.now = Some(H / 2);
    let with = config(
        "{reservation.min-gpus: 16, reservation.waiting-time: 1h}",
        "enqueue, reserve, allocate",
    );
    let r = run_session(&k.snap, &with).unwrap();
    assert_eq!(
        phase_of(&r.effects, "default/big"),
        Some(JobPhase::Pending),
        "30 min < 1 h"
    );
    k.snap.now = Some(H);
    let r = run_session(&k.snap, &with).unwrap();
    assert_eq!(phase_of(&r.effects, "default/big"), Some(JobPhase::Inqueue));
    // Without the plugin the headroom rule keeps it Pending.
    let without = Scheduler::from_yaml(
        "actions: \"enqueue, allocate\"\ntiers:\n- plugins:\n  - name: priority\n  - name: gang\n- plugins:\n  - name: predicates\n  - name: proportion\n",
    )
    .unwrap();
    let r = run_session(&k.snap, &without).unwrap();
    assert_eq!(phase_of(&r.effects, "default/big"), Some(JobPhase::Pending));
    // Too small for the threshold: no exemption.
    k.snap
        .jobs
        .get_mut(&JobId::new("default/big"))
        .unwrap()
        .min_resources = Some(gpus(8));
    let r = run_session(&k.snap, &with).unwrap();
    assert_eq!(phase_of(&r.effects, "default/big"), Some(JobPhase::Pending));
    // Depth 1 and a reservation already held: no second admission.
    k.snap
        .jobs
        .get_mut(&JobId::new("default/big"))
        .unwrap()
        .min_resources = Some(gpus(16));
    big_gang(&mut k, "default/held", 0);
    let r = run_session(&k.snap, &with).unwrap();
    assert_eq!(reservations(&r.effects).len(), 1);
    assert_eq!(phase_of(&r.effects, "default/big"), Some(JobPhase::Pending));
}

#[test]
fn held_nodes_are_not_headroom_for_other_admissions() {
    // n1 and n2 half idle, n3 and n4 full. The gang holds n1, n2 (free first); a Pending
    // 2-GPU job may not be admitted on the strength of the held GPUs.
    let mut k = cluster([4, 4, 8, 8], [1, 1, 5, 5]);
    big_gang(&mut k, "default/big", 0);
    let mut j = Job::new("default", 1);
    j.phase = JobPhase::Pending;
    j.min_resources = Some(gpus(2));
    j.creation = H;
    k.snap.jobs.insert(JobId::new("default/other"), j);
    k.snap.now = Some(H + 1);
    let with = config(
        "{reservation.min-gpus: 16, reservation.waiting-time: 1h}",
        "enqueue, reserve, allocate",
    );
    let r = run_session(&k.snap, &with).unwrap();
    let res = reservations(&r.effects);
    assert_eq!(res[0].1.nodes, vec![NodeId::new("n1"), NodeId::new("n2")]);
    assert_eq!(
        phase_of(&r.effects, "default/other"),
        Some(JobPhase::Pending)
    );
    // Once n3 has room, it is admitted.
    k.snap
        .tasks
        .retain(|t, _| !matches!(t.as_str(), "default/run-3-0" | "default/run-3-1"));
    let r = run_session(&k.snap, &with).unwrap();
    assert_eq!(
        phase_of(&r.effects, "default/other"),
        Some(JobPhase::Inqueue)
    );
}

#[test]
fn sla_plugin_is_the_same_election() {
    let mut k = cluster([4, 4, 4, 4], [1, 1, 1, 1]);
    big_gang(&mut k, "default/big", 0);
    k.snap.now = Some(H);
    let yaml = "actions: \"reserve, allocate\"\ntiers:\n- plugins:\n  - name: gang\n  - name: sla\n    arguments: {sla-waiting-time: 30m}\n- plugins:\n  - name: predicates\n";
    let s = Scheduler::from_yaml(yaml).unwrap();
    assert_eq!(
        reservations(&run_session(&k.snap, &s).unwrap().effects).len(),
        1
    );
    let bad = "actions: \"reserve, allocate\"\ntiers:\n- plugins:\n  - name: sla\n    arguments: {sla-waiting-time: soon}\n";
    let e = Scheduler::from_yaml(bad).unwrap_err().to_string();
    // docs/reservation.md quotes this message.
    assert!(
        e.contains(
            "argument \"sla-waiting-time\" of plugin \"sla\": invalid duration \"soon\"; \
             write e.g. 30s, 5m or 1h30m (or a number of seconds)"
        ),
        "{e}"
    );
}

#[test]
fn backfill_only_ends_before_the_estimated_start() {
    // n1..n4 have 4 free GPUs each; n1, n2 free fully in 2 h, n3, n4 in 5 h.
    let mut k = cluster([4, 4, 4, 4], [2, 2, 5, 5]);
    big_gang(&mut k, "default/big", 0);
    // Fill n3 and n4 so small jobs must look at the held nodes.
    for i in 3..=4 {
        let job = format!("default/fill-{i}");
        let mut j = Job::new("default", 1);
        j.phase = JobPhase::Running;
        j.annotations
            .insert(EXPECTED_RUNTIME_ANNOTATION.into(), "5h".into());
        k.snap.jobs.insert(JobId::new(&job), j);
        k.running(&format!("{job}-0"), &job, gpus(4), &format!("n{i}"));
    }
    small(&mut k, "default/short", Some(1), 3 * H / 2);
    small(&mut k, "default/long", Some(3), 3 * H / 2);
    small(&mut k, "default/unknown", None, 3 * H / 2);
    k.snap.now = Some(3 * H / 2);
    let r = run_session(&k.snap, &default_config()).unwrap();
    let res = reservations(&r.effects);
    assert_eq!(res[0].1.nodes, vec![NodeId::new("n1"), NodeId::new("n2")]);
    assert_eq!(res[0].1.estimated_start, Some(2 * H));
    let b = bound(&r.effects);
    // 1 h from 1.5 h ends at 2.5 h > 2 h: not allowed either; nothing may backfill.
    assert!(b.is_empty(), "{b:?}");
    // At 0.5 h before... make the start later: the running jobs on n1, n2 declare 4 h.
    for i in 1..=2 {
        k.snap
            .jobs
            .get_mut(&JobId::new(format!("default/run-{i}")))
            .unwrap()
            .annotations
            .insert(EXPECTED_RUNTIME_ANNOTATION.into(), "4h".into());
    }
    let r = run_session(&k.snap, &default_config()).unwrap();
    assert_eq!(reservations(&r.effects)[0].1.estimated_start, Some(4 * H));
    let b = bound(&r.effects);
    let jobs: Vec<&str> = b.iter().map(|(t, _)| t.as_str()).collect();
    assert_eq!(
        jobs,
        vec!["default/short-0"],
        "only the job ending before 4 h"
    );
    // Its explanation-free peers are told why.
    let why = r.effects.iter().find_map(|e| match e {
        Effect::Explanation(x) if x.job.as_str() == "default/long" => Some(x.to_string()),
        _ => None,
    });
    assert!(why.unwrap().contains("reserved for a waiting gang"));
}

#[test]
fn without_estimates_the_most_idle_nodes_are_held() {
    let mut k = cluster([6, 1, 2, 7], [0, 0, 0, 0]);
    big_gang(&mut k, "default/big", 0);
    small(&mut k, "default/s", None, H);
    k.snap.now = Some(2 * H);
    let r = run_session(&k.snap, &default_config()).unwrap();
    let res = reservations(&r.effects);
    assert_eq!(res[0].1.nodes, vec![NodeId::new("n2"), NodeId::new("n3")]);
    assert_eq!(res[0].1.estimated_start, None);
    // The small job goes to a node that is not held.
    let b = bound(&r.effects);
    assert_eq!(b.len(), 1);
    assert!(b[0].1 == "n1" || b[0].1 == "n4", "{b:?}");
}

#[test]
fn reservations_stick_across_sessions() {
    let mut k = cluster([4, 6, 7, 7], [1, 2, 5, 5]);
    big_gang(&mut k, "default/big", 0);
    k.snap.now = Some(2 * H);
    // Last session held n3 and n4 since 1 h; they still can host the gang eventually.
    k.snap.reservations.insert(
        JobId::new("default/big"),
        Reservation {
            nodes: vec![NodeId::new("n3"), NodeId::new("n4")],
            since: H,
            estimated_start: None,
        },
    );
    let r = run_session(&k.snap, &default_config()).unwrap();
    let res = reservations(&r.effects);
    assert_eq!(res[0].1.nodes, vec![NodeId::new("n3"), NodeId::new("n4")]);
    assert_eq!(res[0].1.since, H);
    assert_eq!(res[0].1.estimated_start, Some(5 * H));
    // A held node that disappeared: the reservation is placed afresh.
    k.snap.nodes.remove(&NodeId::new("n4"));
    k.snap
        .tasks
        .retain(|_, t| t.node.as_ref().is_none_or(|n| n.as_str() != "n4"));
    let res = reservations(&run_session(&k.snap, &default_config()).unwrap().effects);
    assert_eq!(res[0].1.nodes, vec![NodeId::new("n1"), NodeId::new("n2")]);
    assert_eq!(res[0].1.since, 2 * H);
}

#[test]
fn idle_held_gpus_are_charged_to_the_gang_queue() {
    let mut k = cluster([4, 6, 0, 0], [1, 1, 0, 0]);
    big_gang(&mut k, "default/big", 0);
    k.snap.now = Some(2 * H);
    k.snap.reservations.insert(
        JobId::new("default/big"),
        Reservation {
            nodes: vec![NodeId::new("n1"), NodeId::new("n2")],
            since: H,
            estimated_start: Some(3 * H),
        },
    );
    k.with_state(|st| {
        let charge = idle_charge(st);
        assert_eq!(charge.len(), 1);
        let gpu = st.dims.index_of(NVIDIA_GPU).unwrap();
        assert_eq!(charge[0].1[gpu], 4 + 2, "idle GPUs on n1 and n2");
        // Proportion sees them as allocated to the queue.
        let attrs = crate::plugins::fairshare::accounting(st);
        assert_eq!(attrs[0].allocated[gpu], 10 + 6);
        let _ = job_ix(st, "default/big");
    });
}

/// Five 8-GPU nodes. Queue "default" runs 12 GPUs (n1, n2) and has a 16-GPU gang holding n3
/// and n4, where queue "b" runs 4 GPUs each (no declared run times: nothing may backfill there);
/// "b" also waits for one 24-GPU pod that fits nowhere, so both queues deserve 20 GPUs. n2 has
/// 4 free GPUs and n5 8. With the 8 idle held GPUs charged, "default" has 12 + 8 = 20 = its deserved share
/// (overused); without, 12.
fn charged_cluster() -> Kit {
    let mut k = Kit::new();
    let b = crate::ids::QueueId::new("b");
    k.snap.queues.insert(b.clone(), crate::model::Queue::open());
    for n in ["n1", "n2", "n3", "n4", "n5"] {
        k.node(n, gpus(8));
    }
    for (job, queue, placed) in [
        ("default/run", "default", [("n1", 8), ("n2", 4)]),
        ("b/run", "b", [("n3", 4), ("n4", 4)]),
    ] {
        let mut j = Job::new(queue, 1);
        j.phase = JobPhase::Running;
        k.snap.jobs.insert(JobId::new(job), j);
        for (node, n) in placed {
            k.running(&format!("{job}-{node}"), job, gpus(n), node);
        }
    }
    k.snap.jobs.insert(JobId::new("b/wait"), Job::new("b", 1));
    k.task("b/wait-0", "b/wait", gpus(24), 0);
    big_gang(&mut k, "default/big", 0);
    small(&mut k, "default/small", None, 0);
    k.snap.now = Some(2 * H);
    k.snap.reservations.insert(
        JobId::new("default/big"),
        Reservation {
            nodes: vec![NodeId::new("n3"), NodeId::new("n4")],
            since: H,
            estimated_start: None,
        },
    );
    k
}

#[test]
fn charge_idle_off_leaves_held_idle_gpus_uncharged() {
    let k = charged_cluster();
    let args = |charge: &str| {
        config(
            &format!("{{reservation.min-gpus: 16, reservation.waiting-time: 1h{charge}}}"),
            "reserve, allocate",
        )
    };
    let small_bound = |s: &Scheduler| {
        bound(&run_session(&k.snap, s).unwrap().effects)
            .into_iter()
            .filter(|(t, _)| t.starts_with("default/small"))
            .collect::<Vec<_>>()
    };
    // Default (true): the held idle GPUs make "default" overused, so its small job gets no
    // allocate turn although n2 and n5 have free GPUs.
    for on in [args(""), args(", reservation.charge-idle: true")] {
        assert_eq!(small_bound(&on), vec![], "charged: the queue is overused");
    }
    // Off: "default" holds 12 of its 20 and the small job starts on a free, unheld GPU.
    let off = args(", reservation.charge-idle: false");
    let placed = small_bound(&off);
    assert_eq!(
        placed.len(),
        1,
        "uncharged: the queue gets its turn: {placed:?}"
    );
    assert!(["n2", "n5"].contains(&placed[0].1.as_str()), "{placed:?}");
    // The accounting itself: the session copies the plugin's argument into the state.
    k.with_state(|st| {
        let gpu = st.dims.index_of(NVIDIA_GPU).unwrap();
        assert_eq!(idle_charge(st)[0].1[gpu], 8, "charged by default");
        let mut off = State::build(&k.snap).unwrap();
        off.charge_held_idle = false;
        assert!(idle_charge(&off).is_empty());
        let q = st
            .queues
            .iter()
            .position(|q| q.id.as_str() == "default")
            .unwrap();
        assert_eq!(
            crate::plugins::fairshare::accounting(st)[q].allocated[gpu],
            20
        );
        assert_eq!(
            crate::plugins::fairshare::accounting(&off)[q].allocated[gpu],
            12
        );
    });
    // A malformed value fails at start-up naming the argument.
    let bad = Scheduler::from_yaml(
        "actions: \"reserve, allocate\"\ntiers:\n- plugins:\n  - name: reservation\n    arguments: {reservation.charge-idle: sometimes}\n",
    )
    .expect_err("malformed charge-idle is refused")
    .to_string();
    assert!(bad.contains("reservation.charge-idle"), "{bad}");
}

#[test]
fn the_reserved_gang_starts_past_its_queues_deserved_share() {
    // 32 GPUs; queue "b" (weight 3) asks for 28, so "default" (weight 1) deserves 8 and
    // already runs 8: it is overused and plain allocate gives it no turn.
    let mut k = Kit::new();
    let b = crate::ids::QueueId::new("b");
    k.snap.queues.insert(b.clone(), crate::model::Queue::open());
    k.snap.queues.get_mut(&b).unwrap().weight = 3;
    for n in ["n1", "n2", "n3", "n4"] {
        k.node(n, gpus(8));
    }
    let mut run = Job::new("default", 1);
    run.phase = JobPhase::Running;
    k.snap.jobs.insert(JobId::new("default/run"), run);
    k.running("default/run-0", "default/run", gpus(8), "n1");
    let mut other = Job::new("b", 1);
    other.phase = JobPhase::Running;
    k.snap.jobs.insert(JobId::new("b/run"), other);
    k.running("b/run-0", "b/run", gpus(4), "n3");
    k.snap.jobs.insert(JobId::new("b/wait"), Job::new("b", 1));
    k.task("b/wait-0", "b/wait", gpus(24), 0);
    big_gang(&mut k, "default/big", 0);
    k.snap.now = Some(2 * H);
    let plain = Scheduler::from_yaml(
        "actions: \"allocate\"\ntiers:\n- plugins:\n  - name: priority\n  - name: gang\n- plugins:\n  - name: predicates\n  - name: proportion\n",
    )
    .unwrap();
    let bound_plain = bound(&run_session(&k.snap, &plain).unwrap().effects);
    assert!(
        !bound_plain
            .iter()
            .any(|(t, _)| t.starts_with("default/big")),
        "overused queue gets no turn: {bound_plain:?}"
    );
    let with = bound(&run_session(&k.snap, &default_config()).unwrap().effects);
    assert_eq!(
        with.iter()
            .filter(|(t, _)| t.starts_with("default/big"))
            .count(),
        2,
        "the reserved gang is exempt from the deserved-share cap: {with:?}"
    );
}

#[test]
fn escalation_evicts_only_on_held_nodes_after_min_run_time() {
    let mut k = cluster([4, 4, 4, 4], [0, 0, 0, 0]);
    big_gang(&mut k, "default/big", 0);
    k.snap.now = Some(10 * H);
    k.snap.reservations.insert(
        JobId::new("default/big"),
        Reservation {
            nodes: vec![NodeId::new("n1"), NodeId::new("n2")],
            since: H,
            estimated_start: None,
        },
    );
    let cfg = |hold: &str, min_run: &str| {
        Scheduler::from_yaml(&format!(
            "actions: \"reserve, allocate\"\nconfigurations:\n- name: reserve\n  arguments: {{minRunTime: {min_run}}}\ntiers:\n- plugins:\n  - name: priority\n  - name: gang\n  - name: reservation\n    arguments: {{reservation.waiting-time: 1h, reservation.max-hold: {hold}}}\n- plugins:\n  - name: predicates\n"
        ))
        .unwrap()
    };
    let evicted = |s: &Scheduler| -> Vec<String> {
        run_session(&k.snap, s)
            .unwrap()
            .effects
            .iter()
            .filter_map(|e| match e {
                Effect::Evict { task, .. } => Some(task.to_string()),
                _ => None,
            })
            .collect()
    };
    // Held 9 h, max hold 12 h: nothing yet.
    assert!(evicted(&cfg("12h", "1h")).is_empty());
    // Max hold 4 h: the pods on n1 and n2 (started at 0, 10 h ago) go; nothing else.
    let e = evicted(&cfg("4h", "1h"));
    assert_eq!(e.len(), 8, "{e:?}");
    assert!(
        e.iter()
            .all(|t| t.starts_with("default/run-1") || t.starts_with("default/run-2"))
    );
    // Minimum run time not reached: nothing.
    assert!(evicted(&cfg("4h", "11h")).is_empty());
}

#[test]
fn escalation_never_breaks_a_running_gang_below_min_available() {
    let mut k = cluster([0, 0, 4, 4], [0, 0, 0, 0]);
    // A 2-pod gang with one pod on n1 and one on n2 (min 2), plus one on n3 via run-3.
    let mut g = Job::new("default", 2);
    g.phase = JobPhase::Running;
    k.snap.jobs.insert(JobId::new("default/g"), g);
    k.running("default/g-0", "default/g", gpus(8), "n1");
    k.running("default/g-1", "default/g", gpus(8), "n3");
    k.snap
        .tasks
        .retain(|id, _| !id.as_str().starts_with("default/run-3"));
    k.snap.jobs.remove(&JobId::new("default/run-3"));
    big_gang(&mut k, "default/big", 0);
    k.snap.now = Some(10 * H);
    k.snap.reservations.insert(
        JobId::new("default/big"),
        Reservation {
            nodes: vec![NodeId::new("n1"), NodeId::new("n2")],
            since: H,
            estimated_start: None,
        },
    );
    let s = Scheduler::from_yaml(
        "actions: \"reserve, allocate\"\ntiers:\n- plugins:\n  - name: gang\n  - name: reservation\n    arguments: {reservation.waiting-time: 1h, reservation.max-hold: 1h}\n- plugins:\n  - name: predicates\n",
    )
    .unwrap();
    let r = run_session(&k.snap, &s).unwrap();
    assert!(
        !r.effects.iter().any(
            |e| matches!(e, Effect::Evict { task, .. } if task.as_str().starts_with("default/g-"))
        ),
        "{:?}",
        r.effects
    );
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(64))]

    /// On random clusters: deterministic; at most `depth` reservations on disjoint nodes; no
    /// task of another job is bound on a held node unless its declared end is before the
    /// reservation's estimated start.
    #[test]
    fn backfill_never_delays_a_reservation(
        busy in proptest::array::uniform4(0i64..=8),
        runtime in proptest::array::uniform4(0u64..6),
        smalls in proptest::collection::vec((0u64..5, 1i64..=4), 0..8),
        depth in 1usize..3,
        now_h in 1u64..4,
    ) {
        let mut k = cluster(busy, runtime);
        big_gang(&mut k, "default/big", 0);
        big_gang(&mut k, "default/big2", 0);
        for (i, (hours, g)) in smalls.iter().enumerate() {
            let name = format!("default/s{i}");
            let mut j = Job::new("default", 1);
            j.creation = H / 2;
            if *hours > 0 {
                j.annotations.insert(EXPECTED_RUNTIME_ANNOTATION.into(), format!("{hours}h"));
            }
            k.snap.jobs.insert(JobId::new(&name), j);
            k.task(&format!("{name}-0"), &name, gpus(*g), 0);
        }
        k.snap.now = Some(now_h * H);
        let s = config(
            &format!("{{reservation.min-gpus: 16, reservation.waiting-time: 1h, reservation.depth: {depth}}}"),
            "reserve, allocate",
        );
        let r = run_session(&k.snap, &s).unwrap();
        prop_assert_eq!(&r, &run_session(&k.snap, &s).unwrap());
        let res = reservations(&r.effects);
        prop_assert!(res.len() <= depth);
        let mut held: Vec<(&NodeId, &str, Option<u64>)> = Vec::new();
        for (job, rr) in &res {
            for n in &rr.nodes {
                prop_assert!(!held.iter().any(|(m, _, _)| *m == n), "node held twice");
                held.push((n, job.as_str(), rr.estimated_start));
            }
        }
        for (task, node) in bound(&r.effects) {
            let Some((_, holder, start)) = held.iter().find(|(n, _, _)| n.as_str() == node) else {
                continue;
            };
            let job = task.rsplit_once('-').unwrap().0;
            if job == *holder {
                continue;
            }
            let hours = k.snap.jobs[&JobId::new(job)]
                .annotations
                .get(EXPECTED_RUNTIME_ANNOTATION)
                .map(|h| crate::duration::parse_or_seconds_ms(h).unwrap());
            let start = start.expect("backfill onto a hold with unknown start");
            let end = now_h * H + hours.expect("backfill without a declared run time");
            prop_assert!(end <= start, "{task} on {node} ends {end} after start {start}");
        }
    }
}

#[test]
fn a_job_past_its_estimate_is_expected_to_run_as_long_again() {
    // At 3 h, run-1 (1 h) and run-2 (2 h) are still running: they outran their estimates, so
    // they are expected to end at 3 h + 3 h = 6 h, after n3 and n4 free (5 h). Counting them
    // as "ending now" would hold n1, n2 with a start always equal to now, and nothing could
    // ever backfill there while they ran.
    let mut k = cluster([4, 6, 7, 7], [1, 2, 5, 5]);
    big_gang(&mut k, "default/big", 0);
    k.snap.now = Some(3 * H);
    let res = reservations(&run_session(&k.snap, &default_config()).unwrap().effects);
    assert_eq!(res[0].1.nodes, vec![NodeId::new("n3"), NodeId::new("n4")]);
    assert_eq!(res[0].1.estimated_start, Some(5 * H));
}

#[test]
fn overrun_end_is_the_estimate_until_it_passes_then_doubles() {
    assert_eq!(overrun_end(10, 100, 50), 110);
    assert_eq!(
        overrun_end(10, 100, 110),
        110,
        "ends exactly now: unchanged"
    );
    assert_eq!(overrun_end(10, 100, 111), 212, "ran 101 ms: as long again");
    assert_eq!(overrun_end(0, u64::MAX, 5), u64::MAX);
}

/// Volcano's CI-style configuration with `sla` (no argument) in the first tier.
fn sla_config() -> Scheduler {
    Scheduler::from_yaml(
        "actions: \"enqueue, allocate\"\ntiers:\n- plugins:\n  - name: priority\n  - name: gang\n  - name: sla\n- plugins:\n  - name: predicates\n  - name: proportion\n",
    )
    .expect("sla config loads")
}

#[test]
fn sla_reads_the_unprefixed_annotation_and_without_argument_only_annotated_jobs_wait() {
    // Volcano's e2e (`schedulingbase/sla.go`) sets `sla-waiting-time: 3s` on the Job; a
    // gang larger than the whole cluster is admitted once past it.
    let mut k = cluster([0, 0, 0, 0], [0, 0, 0, 0]);
    unadmitted_gang(&mut k, "default/over", 0);
    k.snap
        .jobs
        .get_mut(&JobId::new("default/over"))
        .unwrap()
        .min_resources = Some(gpus(64));
    k.snap.now = Some(10_000);
    let r = run_session(&k.snap, &sla_config()).unwrap();
    assert_eq!(
        phase_of(&r.effects, "default/over"),
        Some(JobPhase::Pending),
        "no annotation and no sla-waiting-time argument: no waiting time (Volcano's sla)"
    );
    k.snap
        .jobs
        .get_mut(&JobId::new("default/over"))
        .unwrap()
        .annotations
        .insert(SLA_WAITING_TIME_LEGACY_ANNOTATION.into(), "3s".into());
    let r = run_session(&k.snap, &sla_config()).unwrap();
    assert_eq!(
        phase_of(&r.effects, "default/over"),
        Some(JobPhase::Inqueue)
    );
    // Not yet past it.
    k.snap.now = Some(2_000);
    let r = run_session(&k.snap, &sla_config()).unwrap();
    assert_eq!(
        phase_of(&r.effects, "default/over"),
        Some(JobPhase::Pending)
    );
}

#[test]
fn sla_orders_jobs_by_deadline() {
    // Two gangs that each need the whole cluster: the older one waits 1 h, the newer 30 min;
    // Volcano's sla job order admits the earlier deadline (the newer job) first.
    let mut k = cluster([0, 0, 0, 0], [0, 0, 0, 0]);
    for (name, created, wait) in [("default/slow", 0, "1h"), ("default/fast", 1_000, "30m")] {
        unadmitted_gang(&mut k, name, created);
        let j = k.snap.jobs.get_mut(&JobId::new(name)).unwrap();
        j.min_resources = Some(gpus(32));
        j.annotations
            .insert(SLA_WAITING_TIME_ANNOTATION.into(), wait.into());
    }
    k.snap.now = Some(5_000);
    let r = run_session(&k.snap, &sla_config()).unwrap();
    assert_eq!(
        phase_of(&r.effects, "default/fast"),
        Some(JobPhase::Inqueue)
    );
    assert_eq!(
        phase_of(&r.effects, "default/slow"),
        Some(JobPhase::Pending)
    );
    // The `reservation` plugin keeps creation order.
    let plain = config("{reservation.min-gpus: 16}", "enqueue, allocate");
    let r = run_session(&k.snap, &plain).unwrap();
    assert_eq!(
        phase_of(&r.effects, "default/slow"),
        Some(JobPhase::Inqueue)
    );
    assert_eq!(
        phase_of(&r.effects, "default/fast"),
        Some(JobPhase::Pending)
    );
}

#[test]
fn without_the_hold_the_gang_goes_first_but_no_node_is_kept_for_it() {
    // n1, n2 nearly free (4 and 6 GPUs busy), n3, n4 busier; a small job waits too.
    let mut k = cluster([4, 6, 7, 7], [1, 2, 5, 5]);
    big_gang(&mut k, "default/big", 0);
    small(&mut k, "default/small", None, 10);
    k.snap.now = Some(H);
    let held = run_session(&k.snap, &default_config()).unwrap();
    let no_hold = config(
        "{reservation.min-gpus: 16, reservation.waiting-time: 1h, reservation.hold: false}",
        "reserve, allocate",
    );
    let r = run_session(&k.snap, &no_hold).unwrap();
    // Elected as before, recorded with no nodes and told so on the PodGroup.
    let res = reservations(&r.effects);
    assert_eq!(res.len(), 1, "{:?}", r.effects);
    assert_eq!(res[0].0, "default/big");
    assert!(res[0].1.nodes.is_empty(), "{:?}", res[0].1);
    assert_eq!(res[0].1.since, H);
    let cond = reserved_condition(&r.effects, "default/big").expect("Reserved condition");
    assert_eq!(cond.reason, "FirstInLine");
    assert!(cond.message.contains("no node is held"), "{}", cond.message);
    // The small job may use a GPU of n1 or n2: with the hold it may not.
    let small_node = |effects: &[Effect]| {
        bound(effects)
            .into_iter()
            .find(|(t, _)| t == "default/small-0")
            .map(|(_, n)| n)
    };
    let held_nodes = ["n1".to_owned(), "n2".to_owned()];
    assert!(
        small_node(&held.effects).is_none_or(|n| !held_nodes.contains(&n)),
        "held: {:?}",
        held.effects
    );
    assert!(small_node(&r.effects).is_some(), "no hold: {:?}", r.effects);
    // The election is kept across sessions: `since` stays the first election's.
    k.snap.now = Some(2 * H);
    k.snap
        .reservations
        .insert(JobId::new("default/big"), res[0].1.clone());
    let again = reservations(&run_session(&k.snap, &no_hold).unwrap().effects);
    assert_eq!(again.len(), 1);
    assert_eq!(again[0].1.since, H, "{again:?}");
}

#[test]
fn without_the_hold_the_gang_starts_first_when_nodes_are_free() {
    // Two whole nodes free; a small job created before the gang would take a GPU of one of
    // them in allocate: the reserve action tries the elected gang first.
    let mut k = cluster([0, 0, 8, 8], [0, 0, 5, 5]);
    small(&mut k, "default/early", None, 0);
    big_gang(&mut k, "default/big", 10);
    k.snap.now = Some(2 * H);
    let no_hold = config(
        "{reservation.min-gpus: 16, reservation.waiting-time: 1h, reservation.hold: false}",
        "reserve, allocate",
    );
    let b = bound(&run_session(&k.snap, &no_hold).unwrap().effects);
    assert_eq!(
        b.iter()
            .filter(|(t, _)| t.starts_with("default/big"))
            .count(),
        2,
        "{b:?}"
    );
}
