//! The article's teams scenario (problem 3): three teams share 8 nodes × 8 GPUs through queues
//! `team-a/b/c` (weight 1, capability 20 GPUs, reclaimable), under Basalt's default config.

mod fairness_common;

use fairness_common::*;
use scheduler_core::{Effect, Scheduler};

fn scheduler() -> Scheduler {
    Scheduler::from_yaml(DEFAULT_CONFIG).expect("default config loads")
}

#[test]
fn team_b_asks_32_gets_20_and_team_c_still_runs() {
    let s = scheduler();
    let mut snap = teams(8, 20);
    submit(&mut snap, "team-b", "b1", 32, 0);
    assert_eq!(settle(&mut snap, &s), 0);
    assert_eq!(running(&snap, "team-b"), 20, "capability caps B");
    submit(&mut snap, "team-c", "c1", 8, 100);
    assert_eq!(settle(&mut snap, &s), 0);
    assert_eq!(running(&snap, "team-c"), 8, "C's work runs");
    assert_eq!(running(&snap, "team-b"), 20);
    // B's 12 waiting pods are explained by the queue, not left silent.
    let r = s.run(&snap).expect("session");
    let why: Vec<String> = r
        .effects
        .iter()
        .filter_map(|e| match e {
            Effect::Explanation(x) if x.job.as_str() == "b1" => Some(x.to_string()),
            _ => None,
        })
        .collect();
    assert!(
        why.iter()
            .any(|w| w.contains("queue team-b is at its deserved share or capability")),
        "{why:?}"
    );
}

#[test]
fn idle_teams_lend_and_reclaim_returns_the_deserved_share() {
    // With capability 20 of 64 GPUs B cannot borrow past 20 and C finds its 20 idle.
    let s = scheduler();
    let mut snap = teams(8, 20);
    submit(&mut snap, "team-b", "b1", 64, 0);
    settle(&mut snap, &s);
    assert_eq!(running(&snap, "team-b"), 20);
    submit(&mut snap, "team-c", "c1", 32, 100);
    assert_eq!(settle(&mut snap, &s), 0);
    assert_eq!(
        (running(&snap, "team-b"), running(&snap, "team-c")),
        (20, 20)
    );

    // Borrowing variant (capability 40): B borrows 40 of 64 while A and C idle; when C
    // submits, C gets the 24 idle GPUs and reclaim takes 8 back from B: both at 32.
    let mut snap = teams(8, 40);
    submit(&mut snap, "team-b", "b1", 64, 0);
    settle(&mut snap, &s);
    assert_eq!(
        running(&snap, "team-b"),
        40,
        "B borrows up to its capability"
    );
    submit(&mut snap, "team-c", "c1", 64, 100);
    let evicted = settle(&mut snap, &s);
    assert_eq!(
        evicted, 8,
        "exactly B's loan above its deserved share comes back"
    );
    assert_eq!(
        (running(&snap, "team-b"), running(&snap, "team-c")),
        (32, 32)
    );
    // Steady: another session evicts nothing (no reclaim cycle).
    let r = s.run(&snap).expect("session");
    assert_eq!(r.stats.evictions, 0);
}

#[test]
fn all_three_backlogged_is_fair() {
    let s = scheduler();
    for cap in [20, 40] {
        let mut snap = teams(8, cap);
        submit(&mut snap, "team-b", "b1", 64, 0);
        settle(&mut snap, &s);
        submit(&mut snap, "team-a", "a1", 64, 100);
        submit(&mut snap, "team-c", "c1", 64, 200);
        settle(&mut snap, &s);
        // Entitlement: weighted share of 64 capped by capability.
        let entitled = (64.0 / 3.0f64).min(cap as f64);
        let xs: Vec<f64> = ["team-a", "team-b", "team-c"]
            .iter()
            .map(|q| running(&snap, q) as f64 / entitled)
            .collect();
        let j = jain(&xs);
        assert!(j >= 0.95, "cap {cap}: Jain {j:.3} over {xs:?}");
        let total: i64 = ["team-a", "team-b", "team-c"]
            .iter()
            .map(|q| running(&snap, q))
            .sum();
        assert!(
            total <= 64 && total >= 3 * (cap.min(21)) - 3,
            "cap {cap}: {total}"
        );
    }
}
