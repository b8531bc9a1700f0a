//! Table-driven tests of every combination rule, with scripted plugins.

use std::cmp::Ordering;

use super::*;
use crate::model::Snapshot;

#[derive(Clone)]
struct Scripted {
    hooks: Hooks,
    order: Ordering,
    valid: Option<&'static str>,
    ready: Option<bool>,
    vote: Vote,
    flag: Option<bool>,
    victims: Option<Vec<u32>>,
    score: f64,
    unfit: Option<&'static str>,
}

fn p(hooks: Hooks) -> Scripted {
    Scripted {
        hooks,
        order: Ordering::Equal,
        valid: None,
        ready: None,
        vote: Vote::Abstain,
        flag: None,
        victims: None,
        score: 0.0,
        unfit: None,
    }
}

impl Plugin for Scripted {
    fn name(&self) -> &'static str {
        "scripted"
    }
    fn hooks(&self) -> Hooks {
        self.hooks
    }
    fn job_order(&self, _: &State<'_>, _: JobIx, _: JobIx) -> Ordering {
        self.order
    }
    fn job_valid(&self, _: &State<'_>, _: JobIx) -> Option<JobInvalid> {
        self.valid.map(|r| JobInvalid {
            reason: r.into(),
            message: r.into(),
        })
    }
    fn job_ready(&self, _: &State<'_>, _: JobIx) -> Option<bool> {
        self.ready
    }
    fn job_pipelined(&self, _: &State<'_>, _: JobIx) -> Vote {
        self.vote
    }
    fn job_enqueueable(&self, _: &State<'_>, _: JobIx) -> Vote {
        self.vote
    }
    fn job_starving(&self, _: &State<'_>, _: JobIx) -> Option<bool> {
        self.flag
    }
    fn overused(&self, _: &State<'_>, _: QueueIx) -> Option<bool> {
        self.flag
    }
    fn allocatable(&self, _: &State<'_>, _: QueueIx, _: TaskIx) -> Option<bool> {
        self.flag
    }
    fn predicate(&self, _: &State<'_>, _: TaskIx, _: NodeIx) -> Result<(), Unfit> {
        self.unfit.map_or(Ok(()), |r| Err(Unfit::unschedulable(r)))
    }
    fn node_score(&self, _: &State<'_>, _: TaskIx, _: NodeIx) -> f64 {
        self.score
    }
    fn preemptable(&self, _: &State<'_>, _: TaskIx, _: &[TaskIx]) -> Option<Vec<TaskIx>> {
        self.victims
            .as_ref()
            .map(|v| v.iter().map(|i| TaskIx(*i)).collect())
    }
}

fn set(tiers: Vec<Vec<Scripted>>) -> PluginSet {
    PluginSet {
        tiers: tiers
            .into_iter()
            .map(|t| {
                t.into_iter()
                    .map(|s| Entry {
                        hooks: s.hooks,
                        plugin: Box::new(s) as Box<dyn Plugin>,
                    })
                    .collect()
            })
            .collect(),
    }
}

fn with_state(f: impl FnOnce(&State<'_>)) {
    let snap = Snapshot::default();
    let st = State::build(&snap).expect("empty snapshot builds");
    f(&st);
}

fn order(o: Ordering) -> Scripted {
    Scripted {
        order: o,
        ..p(Hooks::JOB_ORDER)
    }
}
fn vote(v: Vote) -> Scripted {
    Scripted {
        vote: v,
        ..p(Hooks::JOB_PIPELINED | Hooks::JOB_ENQUEUEABLE)
    }
}
fn flag(hooks: Hooks, f: Option<bool>) -> Scripted {
    Scripted {
        flag: f,
        ..p(hooks)
    }
}
fn victims(v: Option<&[u32]>) -> Scripted {
    Scripted {
        victims: v.map(<[u32]>::to_vec),
        ..p(Hooks::PREEMPTABLE)
    }
}

#[test]
fn order_first_non_equal_wins_across_tiers() {
    use Ordering::*;
    let cases: Vec<(Vec<Vec<Scripted>>, Ordering)> = vec![
        (
            vec![vec![order(Equal), order(Greater)], vec![order(Less)]],
            Greater,
        ),
        (
            vec![vec![order(Equal)], vec![order(Less), order(Greater)]],
            Less,
        ),
        // All abstain: fall back to creation (equal) then index (0 < 1).
        (vec![vec![order(Equal)]], Less),
        // Disabled hook is skipped.
        (
            vec![vec![Scripted {
                hooks: Hooks::NONE,
                ..order(Greater)
            }]],
            Less,
        ),
    ];
    with_state(|st| {
        for (i, (tiers, want)) in cases.into_iter().enumerate() {
            // Job indices 0 and 1 do not exist in the empty state; the fallback would index
            // them, so only compare when a plugin decides — otherwise compare indices directly.
            let s = set(tiers);
            let got = s
                .with_hook(Hooks::JOB_ORDER)
                .map(|p| p.job_order(st, JobIx(0), JobIx(1)))
                .find(|o| o.is_ne())
                .unwrap_or(JobIx(0).cmp(&JobIx(1)));
            assert_eq!(got, want, "case {i}");
        }
    });
}

#[test]
fn job_valid_first_failure() {
    let invalid = |r| Scripted {
        valid: Some(r),
        ..p(Hooks::JOB_VALID)
    };
    let cases: Vec<(Vec<Vec<Scripted>>, Option<&str>)> = vec![
        (vec![vec![p(Hooks::JOB_VALID)]], None),
        (
            vec![vec![p(Hooks::JOB_VALID), invalid("a")], vec![invalid("b")]],
            Some("a"),
        ),
        (vec![vec![], vec![invalid("b")]], Some("b")),
    ];
    with_state(|st| {
        for (i, (tiers, want)) in cases.into_iter().enumerate() {
            let got = set(tiers).job_valid(st, JobIx(0)).map(|v| v.reason);
            assert_eq!(got.as_deref(), want, "case {i}");
        }
    });
}

#[test]
fn and_rules_ignore_abstainers() {
    let r = |v| Scripted {
        ready: v,
        ..p(Hooks::JOB_READY)
    };
    let cases: Vec<(Vec<Vec<Scripted>>, bool)> = vec![
        (vec![], true),
        (vec![vec![r(None)]], true),
        (vec![vec![r(Some(true))], vec![r(Some(true))]], true),
        (
            vec![vec![r(Some(true))], vec![r(None), r(Some(false))]],
            false,
        ),
    ];
    with_state(|st| {
        for (i, (tiers, want)) in cases.into_iter().enumerate() {
            assert_eq!(set(tiers).job_ready(st, JobIx(0)), want, "case {i}");
        }
    });
    let a = |v| flag(Hooks::ALLOCATABLE, v);
    let cases: Vec<(Vec<Vec<Scripted>>, bool)> = vec![
        (vec![vec![a(None), a(Some(true))]], true),
        (vec![vec![a(Some(true))], vec![a(Some(false))]], false),
    ];
    with_state(|st| {
        for (i, (tiers, want)) in cases.into_iter().enumerate() {
            assert_eq!(
                set(tiers).allocatable(st, QueueIx(0), TaskIx(0)),
                want,
                "case {i}"
            );
        }
    });
}

#[test]
fn votes_reject_wins_permit_stops_at_its_tier_default_true() {
    use Vote::*;
    let cases: Vec<(Vec<Vec<Scripted>>, bool)> = vec![
        (vec![], true),
        (vec![vec![vote(Abstain)]], true),
        (vec![vec![vote(Permit)], vec![vote(Reject)]], true),
        (vec![vec![vote(Permit), vote(Reject)]], false),
        (vec![vec![vote(Abstain)], vec![vote(Reject)]], false),
        (vec![vec![vote(Reject), vote(Permit)]], false),
    ];
    with_state(|st| {
        for (i, (tiers, want)) in cases.into_iter().enumerate() {
            let s = set(tiers);
            assert_eq!(s.job_pipelined(st, JobIx(0)), want, "pipelined case {i}");
            assert_eq!(
                s.job_enqueueable(st, JobIx(0)),
                want,
                "enqueueable case {i}"
            );
        }
    });
}

#[test]
fn starving_first_tier_with_voter_decides() {
    let s = |v| flag(Hooks::JOB_STARVING, v);
    let cases: Vec<(Vec<Vec<Scripted>>, bool)> = vec![
        (vec![], false),
        (vec![vec![s(None)], vec![s(Some(true))]], true),
        (vec![vec![s(Some(false))], vec![s(Some(true))]], false),
        (vec![vec![s(Some(true)), s(Some(false))]], false),
        (
            vec![vec![s(Some(true)), s(None)], vec![s(Some(false))]],
            true,
        ),
    ];
    with_state(|st| {
        for (i, (tiers, want)) in cases.into_iter().enumerate() {
            assert_eq!(set(tiers).job_starving(st, JobIx(0)), want, "case {i}");
        }
    });
}

#[test]
fn overused_is_or() {
    let o = |v| flag(Hooks::OVERUSED, v);
    let cases: Vec<(Vec<Vec<Scripted>>, bool)> = vec![
        (vec![], false),
        (vec![vec![o(None), o(Some(false))]], false),
        (vec![vec![o(Some(false))], vec![o(Some(true))]], true),
    ];
    with_state(|st| {
        for (i, (tiers, want)) in cases.into_iter().enumerate() {
            assert_eq!(set(tiers).overused(st, QueueIx(0)), want, "case {i}");
        }
    });
}

#[test]
fn predicates_and_scores() {
    let pred = |u| Scripted {
        unfit: u,
        ..p(Hooks::PREDICATE)
    };
    let score = |s| Scripted {
        score: s,
        ..p(Hooks::NODE_SCORE)
    };
    with_state(|st| {
        let s = set(vec![
            vec![pred(None), pred(Some("first"))],
            vec![pred(Some("second"))],
        ]);
        let err = s
            .predicate(st, TaskIx(0), NodeIx(0))
            .expect_err("must fail");
        assert_eq!(err.reason, "first");
        assert!(
            set(vec![vec![pred(None)]])
                .predicate(st, TaskIx(0), NodeIx(0))
                .is_ok()
        );
        let s = set(vec![
            vec![score(1.5)],
            vec![
                score(2.0),
                Scripted {
                    hooks: Hooks::NONE,
                    ..score(100.0)
                },
            ],
        ]);
        assert_eq!(s.node_score(st, TaskIx(0), NodeIx(0)), 3.5);
    });
}

#[test]
fn victims_intersect_within_tier_and_empty_voids_only_that_tier() {
    let cands: Vec<TaskIx> = (0..5).map(TaskIx).collect();
    let cases: Vec<(Vec<Vec<Scripted>>, Vec<u32>)> = vec![
        (vec![], vec![]),
        (vec![vec![victims(None)]], vec![]),
        (
            vec![vec![victims(Some(&[1, 2, 3])), victims(Some(&[2, 3, 4]))]],
            vec![2, 3],
        ),
        (
            vec![vec![victims(Some(&[1, 2])), victims(None)]],
            vec![1, 2],
        ),
        // An empty vote voids tier 1; tier 2 decides.
        (
            vec![
                vec![victims(Some(&[])), victims(Some(&[1]))],
                vec![victims(Some(&[4]))],
            ],
            vec![4],
        ),
        // Disjoint sets intersect to empty: tier voided too.
        (
            vec![
                vec![victims(Some(&[1])), victims(Some(&[2]))],
                vec![victims(Some(&[3]))],
            ],
            vec![3],
        ),
        // First non-empty tier wins; later tiers are not consulted.
        (
            vec![vec![victims(Some(&[0]))], vec![victims(Some(&[]))]],
            vec![0],
        ),
    ];
    with_state(|st| {
        for (i, (tiers, want)) in cases.into_iter().enumerate() {
            let got: Vec<u32> = set(tiers)
                .victims(VictimKind::Preempt, st, TaskIx(9), &cands)
                .into_iter()
                .map(|t| t.0)
                .collect();
            assert_eq!(got, want, "case {i}");
        }
    });
}

#[test]
fn enable_switches_turn_hooks_off() {
    let cfg = PluginConfig {
        name: "gang".into(),
        enable_preemptable: Some(false),
        enable_predicate: Some(false),
        enable_job_enqueued: Some(false),
        enable_job_ready: Some(true),
        ..PluginConfig::default()
    };
    let h = enabled_hooks(&cfg);
    assert!(!h.contains(Hooks::PREEMPTABLE));
    assert!(!h.contains(Hooks::PREDICATE) && !h.contains(Hooks::STATIC_PREDICATE));
    assert!(!h.contains(Hooks::JOB_ENQUEUEABLE) && !h.contains(Hooks::JOB_ENQUEUED));
    assert!(
        h.contains(Hooks::JOB_READY) && h.contains(Hooks::RECLAIMABLE) && h.contains(Hooks::EVENTS)
    );
}
