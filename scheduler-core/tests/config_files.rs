//! The shipped configuration and the users' seed manifest load; unknown names fail loudly.

use scheduler_core::{ConfigError, Registry, Scheduler, SchedulerConfig};

const DEFAULT: &str = include_str!("../../config/scheduler/basalt-default.yaml");
const SEED_08: &str = include_str!("data/seed-08-scheduler-config-binpack.yaml");
const EXAMPLE_08: &str = include_str!("../../examples/08-scheduler-config-binpack.yaml");

#[test]
fn basalt_default_config_loads() {
    let s = Scheduler::from_yaml(DEFAULT).expect("default config loads");
    assert_eq!(
        s.action_names(),
        ["enqueue", "allocate", "preempt", "reclaim", "backfill"]
    );
}

#[test]
fn seed_manifest_08_parses_and_names_the_plugins_that_do_not_exist_yet() {
    for text in [SEED_08, EXAMPLE_08] {
        let cfg = SchedulerConfig::from_yaml(text).expect("seed 08 parses as Volcano config");
        assert_eq!(cfg.action_names(), ["enqueue", "allocate", "backfill"]);
        let names: Vec<&str> = cfg
            .tiers
            .iter()
            .flat_map(|t| &t.plugins)
            .map(|p| p.name.as_str())
            .collect();
        assert_eq!(
            names,
            [
                "priority",
                "gang",
                "conformance",
                "drf",
                "predicates",
                "proportion",
                "nodeorder"
            ]
        );
        let nodeorder = &cfg.tiers[1].plugins[3];
        assert_eq!(nodeorder.arguments["nodeorder.policy"], "binpack");
        // drf and proportion exist now: the whole file resolves.
        Scheduler::new(&cfg, &Registry::builtin()).expect("seed 08 resolves");
    }
}

#[test]
fn names_that_do_not_exist_yet_are_errors_never_no_ops() {
    let action = |a: &str| format!("actions: \"enqueue, {a}, allocate\"\ntiers: []\n");
    for a in ["shuffle", "allocat"] {
        let err = Scheduler::from_yaml(&action(a)).expect_err("unknown action");
        let msg = err.to_string();
        assert!(matches!(err, ConfigError::UnknownAction { .. }), "{msg}");
        assert!(
            msg.contains(&format!("{a:?}"))
                && msg.contains("allocate, backfill, enqueue, preempt, reclaim"),
            "{msg}"
        );
    }
    let plugin =
        |p: &str| format!("actions: allocate\ntiers:\n- plugins:\n  - name: gang\n  - name: {p}\n");
    for p in ["tdm", "task-topology"] {
        let err = Scheduler::from_yaml(&plugin(p)).expect_err("unknown plugin");
        assert!(
            matches!(&err, ConfigError::UnknownPlugin { name, tier: 0, .. } if name == p),
            "{err}"
        );
    }
}

#[test]
fn structural_config_errors() {
    let cases: &[(&str, &str)] = &[
        ("tiers: []\n", "no actions"),
        (
            "actions: \"allocate, allocate\"\n",
            "more than once in actions",
        ),
        (
            "actions: allocate\ntiers:\n- plugins:\n  - name: gang\n- plugins:\n  - name: gang\n",
            "configured more than once",
        ),
        (
            "actions: allocate\nconfigurations:\n- name: shuffle\n  arguments: {}\n",
            "unknown action \"shuffle\"",
        ),
        (
            "actions: allocate\nconfigurations:\n- name: allocate\n  arguments: {minimumFeasibleNodes: -1}\n",
            "minimumFeasibleNodes",
        ),
        (
            "actions: allocate\ntiers:\n- plugins:\n  - name: binpack\n    arguments: {binpack.weight: heavy}\n",
            "binpack.weight",
        ),
        ("actions: allocate\nactionz: x\n", "actionz"),
    ];
    for (text, want) in cases {
        let err = Scheduler::from_yaml(text).expect_err(text).to_string();
        assert!(err.contains(want), "{text:?}: {err}");
    }
}

#[test]
fn downstream_registries_add_plugins_and_reject_duplicates() {
    let mut r = Registry::builtin();
    let gang = r.plugin("gang").expect("gang is built in");
    let err = r.register_plugin("gang", gang).expect_err("duplicate");
    assert_eq!(err.to_string(), "plugin \"gang\" is already registered");
    r.register_plugin("gang-copy", gang).expect("new name");
    let cfg =
        SchedulerConfig::from_yaml("actions: allocate\ntiers:\n- plugins:\n  - name: gang-copy\n")
            .expect("parses");
    Scheduler::new(&cfg, &r).expect("resolves with the downstream registry");
    assert!(Scheduler::new(&cfg, &Registry::builtin()).is_err());
}
