use super::*;
use crate::model::Queue;
use crate::plugins::testkit::{Kit, job_ix, task_ix};
use crate::resources::Resources;

fn attr(weight: u64, request: i64, cap: i64, guarantee: i64) -> QueueAttr {
    QueueAttr {
        active: true,
        weight,
        deserved: vec![0],
        allocated: vec![0],
        request: vec![request],
        guarantee: vec![guarantee],
        real_capability: vec![cap],
        inqueue: vec![0],
        elastic: vec![0],
        share: 0.0,
    }
}

/// (weight, request, capability, guarantee) of one queue.
type Spec = (u64, i64, i64, i64);

#[test]
fn water_filling_table() {
    const INF: i64 = i64::MAX;
    // (total, queues, deserved)
    let cases: [(i64, Vec<Spec>, Vec<i64>); 5] = [
        (64, vec![(1, 32, 20, 0); 3], vec![20, 20, 20]),
        (
            64,
            vec![(1, 64, INF, 0), (1, 64, INF, 0), (2, 64, INF, 0)],
            vec![16, 16, 32],
        ),
        (64, vec![(1, 10, INF, 0), (1, 100, INF, 0)], vec![10, 54]),
        (60, vec![(1, 50, INF, 40), (1, 60, INF, 0)], vec![40, 30]),
        (64, vec![(1, 64, 40, 0), (1, 0, INF, 0)], vec![40, 0]),
    ];
    for (i, (total, qs, want)) in cases.into_iter().enumerate() {
        let mut attrs: Vec<QueueAttr> =
            qs.iter().map(|(w, r, c, g)| attr(*w, *r, *c, *g)).collect();
        water_fill(&mut attrs, &[total]);
        let got: Vec<i64> = attrs.iter().map(|a| a.deserved[0]).collect();
        assert_eq!(got, want, "case {i}");
    }
}

/// Whole units are not lost to rounding, and a lighter queue never deserves more than a
/// heavier one that asks as much: 8 GPUs by weights 2 : 3 (capability 3) : 1, the queues asking
/// 4 / 6 / 5 GPUs and CPUs in proportion (exact 3⅓ / 3 / 1⅔). Truncating each round gave
/// 2 / 3 / 3: the GPU left over went to the weight-1 queue, still unmet in CPUs.
#[test]
fn water_filling_rounds_once_and_keeps_the_weight_order() {
    const INF: i64 = i64::MAX;
    let q = |weight: u64, pods: i64, cap: i64| QueueAttr {
        active: true,
        weight,
        deserved: vec![0, 0],
        allocated: vec![0, 0],
        request: vec![pods, 8_000 * pods],
        guarantee: vec![0, 0],
        real_capability: vec![cap, INF],
        inqueue: vec![0, 0],
        elastic: vec![0, 0],
        share: 0.0,
    };
    let mut attrs = vec![q(2, 4, INF), q(3, 6, 3), q(1, 5, INF)];
    water_fill(&mut attrs, &[8, 96_000]);
    let gpus: Vec<i64> = attrs.iter().map(|a| a.deserved[0]).collect();
    assert_eq!(gpus, [3, 3, 2]);
    // One resource, an even split of an odd total: the earlier queue gets the odd unit.
    let mut attrs = vec![attr(1, 3, INF, 0), attr(1, 3, INF, 0)];
    water_fill(&mut attrs, &[3]);
    let got: Vec<i64> = attrs.iter().map(|a| a.deserved[0]).collect();
    assert_eq!(got, [2, 1]);
}

fn two_queues() -> Kit {
    let gpu = |n| Resources::new().with("nvidia.com/gpu", n);
    let mut k = Kit::new();
    k.snap.queues.clear();
    k.snap.queues.insert("q1".into(), Queue::open());
    k.snap.queues.insert("q2".into(), Queue::open());
    k.node("n", gpu(8));
    for (job, q) in [("a", "q1"), ("b", "q2")] {
        k.job(job, 1, 0);
        k.snap.jobs.get_mut(&job.into()).expect("job").queue = q.into();
    }
    for i in 0..6 {
        k.running(&format!("a/{i}"), "a", gpu(1), "n");
    }
    for i in 0..4 {
        k.task(&format!("b/{i}"), "b", gpu(1), 0);
    }
    k
}

#[test]
fn shares_overuse_and_victims() {
    let k = two_queues();
    k.with_state(|st| {
        let mut p = Proportion::default();
        p.open(st);
        let (q1, q2) = (QueueIx(0), QueueIx(1));
        let g = st.dims.index_of("nvidia.com/gpu").expect("gpu dim");
        assert_eq!(p.queues()[0].deserved[g], 4);
        assert_eq!(p.queues()[1].deserved[g], 4);
        assert_eq!(p.overused(st, q1), Some(true));
        assert_eq!(p.overused(st, q2), Some(false));
        assert_eq!(
            p.queue_order(st, q2, q1),
            Ordering::Less,
            "lower share first"
        );
        let b0 = task_ix(st, "b/0");
        assert_eq!(p.allocatable(st, q2, b0), Some(true));
        assert_eq!(p.preemptive(st, q2, b0), Some(true));
        let victims: Vec<TaskIx> = (0..6).map(|i| task_ix(st, &format!("a/{i}"))).collect();
        // 6 allocated, 4 deserved: exactly two may go.
        assert_eq!(p.reclaimable(st, b0, &victims), Some(victims[..2].to_vec()));
        // Never from the reclaimer's own queue.
        assert_eq!(p.reclaimable(st, victims[0], &victims[1..]), Some(vec![]));
    });
}

#[test]
fn guarantee_and_capability_bind() {
    let mut k = two_queues();
    let gpu = |n| Resources::new().with("nvidia.com/gpu", n);
    k.snap.queues.get_mut(&"q1".into()).expect("q1").guarantee = Some(gpu(6));
    k.snap.queues.get_mut(&"q2".into()).expect("q2").capability = Some(gpu(1));
    k.with_state(|st| {
        let mut p = Proportion::default();
        p.open(st);
        let b0 = task_ix(st, "b/0");
        let victims: Vec<TaskIx> = (0..6).map(|i| task_ix(st, &format!("a/{i}"))).collect();
        assert_eq!(
            p.reclaimable(st, b0, &victims),
            Some(vec![]),
            "q1 at its guarantee"
        );
        let g = st.dims.index_of("nvidia.com/gpu").expect("gpu dim");
        assert_eq!(p.queues()[1].deserved[g], 1, "capability caps deserved");
    });
}

#[test]
fn enqueue_admission_by_capability() {
    let gpu = |n| Resources::new().with("nvidia.com/gpu", n);
    // (capability, job minimum, vote)
    let cases = [
        (None, 2, Vote::Permit),
        (Some(3), 2, Vote::Permit),
        (Some(1), 2, Vote::Reject),
    ];
    for (i, (cap, min, want)) in cases.into_iter().enumerate() {
        let mut k = two_queues();
        k.snap.queues.get_mut(&"q2".into()).expect("q2").capability = cap.map(gpu);
        let j = k.snap.jobs.get_mut(&"b".into()).expect("b");
        j.min_resources = Some(gpu(min));
        j.phase = JobPhase::Pending;
        k.with_state(|st| {
            let mut p = Proportion::default();
            p.open(st);
            let b = st.tasks[task_ix(st, "b/0").ix()].job;
            assert_eq!(p.job_enqueueable(st, b), want, "case {i}");
        });
    }
}

/// The aged-gang rule at the plugin: a queue with a gang waiting past the argument orders first
/// and is not overused; before that time, or without the argument, share decides.
#[test]
fn an_aged_gang_puts_its_queue_first_and_lifts_the_cap() {
    let gpu = |n| Resources::new().with("nvidia.com/gpu", n);
    let mut k = two_queues();
    // q1 (6 of 8 GPUs, over its deserved 4) also has a 2-pod gang created at 0.
    k.job("g", 2, 0);
    k.snap.jobs.get_mut(&"g".into()).expect("g").queue = "q1".into();
    k.snap.jobs.get_mut(&"g".into()).expect("g").phase = JobPhase::Pending;
    k.task("g/0", "g", gpu(1), 0).task("g/1", "g", gpu(1), 0);
    let args = |w: &str| {
        let mut m = serde_json::Map::new();
        m.insert(AGED_GANG_WAITING_TIME.into(), w.into());
        Arguments::new("proportion", m)
    };
    assert!(factory(&args("2h")).is_ok());
    let bad = factory(&args("soon"))
        .err()
        .expect("a bad duration is refused");
    assert!(bad.to_string().contains(AGED_GANG_WAITING_TIME), "{bad}");
    for (now, after, aged) in [
        (3 * 3_600_000, Some(7_200_000), true),
        (3_600_000, Some(7_200_000), false),
        (3 * 3_600_000, None, false),
    ] {
        k.snap.now = Some(now);
        k.with_state(|st| {
            let mut p = Proportion {
                aged_after_ms: after,
                ..Proportion::default()
            };
            p.open(st);
            let (q1, q2) = (QueueIx(0), QueueIx(1));
            let g = job_ix(st, "g");
            let case = format!("now {now}, waiting time {after:?}");
            assert_eq!(p.overused(st, q1), Some(!aged), "{case}");
            let first = if aged {
                Ordering::Less
            } else {
                Ordering::Greater
            };
            assert_eq!(p.queue_order(st, q1, q2), first, "{case}");
            let want: &[JobIx] = if aged { &[g] } else { &[] };
            assert_eq!(p.aged_gangs().unwrap_or(&[]), want, "{case}");
        });
    }
}
