use super::*;
use crate::config::SchedulerConfig;
use crate::model::Queue;
use crate::plugins::testkit::{Kit, job_ix, task_ix};
use crate::resources::Resources;

#[test]
fn dominant_share_orders_jobs_and_gates_victims() {
    let r = |cpu, gpu| {
        Resources::new()
            .with("cpu", cpu)
            .with("nvidia.com/gpu", gpu)
    };
    let mut k = Kit::new();
    k.node("n", r(10_000, 8));
    k.job("big", 1, 0).job("small", 1, 0).job("new", 1, 0);
    // big: 4 GPUs (share 0.5); small: 1 CPU of 10 (share 0.1).
    for i in 0..4 {
        k.running(&format!("big/{i}"), "big", r(0, 1), "n");
    }
    k.running("small/0", "small", r(1000, 0), "n");
    k.task("new/0", "new", r(0, 1), 0);
    k.with_state(|st| {
        let mut d = Drf::default();
        d.open(st);
        let (big, small, new) = (job_ix(st, "big"), job_ix(st, "small"), job_ix(st, "new"));
        let cases = [
            (d.job_order(st, small, big), Ordering::Less),
            (d.job_order(st, new, small), Ordering::Less),
            (d.job_order(st, big, new), Ordering::Greater),
        ];
        for (i, (got, want)) in cases.into_iter().enumerate() {
            assert_eq!(got, want, "case {i}");
        }
        let p = task_ix(st, "new/0");
        let bigs: Vec<TaskIx> = (0..4).map(|i| task_ix(st, &format!("big/{i}"))).collect();
        // new would hold 1/8; big keeps ≥ 1/8 after losing up to 3 GPUs.
        assert_eq!(d.preemptable(st, p, &bigs), Some(bigs[..3].to_vec()));
        assert_eq!(
            d.preemptable(st, p, &[task_ix(st, "small/0")]),
            Some(vec![])
        );
    });
}

#[test]
fn hierarchy_orders_by_subtree_share_and_excludes_proportion() {
    let gpu = |n| Resources::new().with("nvidia.com/gpu", n);
    let mut k = Kit::new();
    k.snap.queues.clear();
    for (name, parent) in [("root", None), ("eng", Some("root")), ("ops", Some("root"))] {
        let q = Queue {
            parent: parent.map(Into::into),
            ..Queue::open()
        };
        k.snap.queues.insert(name.into(), q);
    }
    k.node("n", gpu(8));
    k.job("e", 1, 0).job("o", 1, 0);
    k.snap.jobs.get_mut(&"e".into()).expect("e").queue = "eng".into();
    k.snap.jobs.get_mut(&"o".into()).expect("o").queue = "ops".into();
    k.running("e/0", "e", gpu(4), "n")
        .running("o/0", "o", gpu(1), "n");
    k.with_state(|st| {
        let mut d = Drf {
            hierarchy: true,
            ..Drf::default()
        };
        d.open(st);
        let q = |n: &str| {
            QueueIx(
                st.queues
                    .iter()
                    .position(|q| q.id.as_str() == n)
                    .expect("q") as u32,
            )
        };
        assert_eq!(d.queue_order(st, q("ops"), q("eng")), Ordering::Less);
        assert_eq!(
            d.queue_order(st, q("eng"), q("root")),
            Ordering::Less,
            "leaf first"
        );
    });
    let yaml = |extra: &str| {
        format!(
            "actions: allocate\ntiers:\n- plugins:\n  - name: drf\n    arguments: {{enableHierarchy: true}}\n{extra}"
        )
    };
    let with = SchedulerConfig::from_yaml(&yaml("  - name: proportion\n")).expect("parses");
    let err = check_config(&with)
        .expect_err("hDRF with proportion")
        .to_string();
    assert!(
        err.contains("enableHierarchy") && err.contains("proportion"),
        "{err}"
    );
    let without = SchedulerConfig::from_yaml(&yaml("")).expect("parses");
    assert!(check_config(&without).is_ok());
}
