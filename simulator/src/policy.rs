//! Policies: a name (`kube-default`, `volcano-default`, `basalt`, `binpack`, `spread`, `fgd`) or
//! a scheduler configuration file, resolved against scheduler-core's built-in registry.
//!
//! Every policy is a real scheduler-core configuration (the YAML under `config/simulator/policies/`
//! and `config/scheduler/`); the only simulator-side switch is `single_queue` for `kube-default`,
//! which has no queues. A configuration naming plugins or actions the core lacks fails listing
//! all of them rather than running a degraded policy.

use std::path::Path;

use scheduler_core::{Registry, Scheduler, SchedulerConfig};

use crate::error::{Error, Result, read_to_string};

/// A resolved policy.
#[derive(Debug)]
pub struct Policy {
    /// Name used in reports.
    pub name: String,
    /// The configured core.
    pub scheduler: Scheduler,
    /// Put every job in one queue (kube-scheduler has no queues).
    pub single_queue: bool,
    /// Production's schedule period: the delay of the engine's follow-up session after a
    /// session that evicted, pipelined or admitted work (ms, [`DEFAULT_SCHEDULE_PERIOD_MS`]).
    pub schedule_period_ms: u64,
}

/// Volcano's and Basalt's default schedule period (1 s).
pub const DEFAULT_SCHEDULE_PERIOD_MS: u64 = 1000;

/// Built-in policy names.
pub const BUILTIN: &[&str] = &[
    "kube-default",
    "kube-coscheduling",
    "volcano-default",
    "basalt",
    "basalt-reserve",
    "binpack",
    "spread",
    "fgd",
];

/// The configuration text of a built-in policy.
pub fn builtin_config(name: &str) -> Option<&'static str> {
    Some(match name {
        "kube-default" => include_str!("../../config/simulator/policies/kube-default.yaml"),
        "kube-coscheduling" => {
            include_str!("../../config/simulator/policies/kube-coscheduling.yaml")
        }
        "volcano-default" => include_str!("../../config/simulator/policies/volcano-default.yaml"),
        "basalt" => include_str!("../../config/scheduler/basalt-default.yaml"),
        "basalt-reserve" => include_str!("../../config/scheduler/basalt-reserve.yaml"),
        "binpack" => include_str!("../../config/simulator/policies/binpack.yaml"),
        "spread" => include_str!("../../config/simulator/policies/spread.yaml"),
        "fgd" => include_str!("../../config/simulator/policies/fgd.yaml"),
        _ => return None,
    })
}

/// Plugins and actions of `config` the registry does not know, as `plugin "x", action "y"`.
pub fn missing_names(config: &SchedulerConfig, registry: &Registry) -> Vec<String> {
    let mut missing = Vec::new();
    for a in config.action_names() {
        if registry.action(a).is_none() {
            missing.push(format!("action {a:?}"));
        }
    }
    for tier in &config.tiers {
        for p in &tier.plugins {
            if registry.plugin(&p.name).is_none() {
                missing.push(format!("plugin {:?}", p.name));
            }
        }
    }
    missing
}

impl Policy {
    /// Resolves a built-in name or, failing that, a configuration file path.
    pub fn load(name_or_path: &str) -> Result<Self> {
        match builtin_config(name_or_path) {
            Some(text) => Self::from_config(
                name_or_path,
                text,
                matches!(name_or_path, "kube-default" | "kube-coscheduling"),
            ),
            None => {
                let path = Path::new(name_or_path);
                if !path.exists() {
                    return Err(Error::Experiment {
                        name: name_or_path.into(),
                        reason: format!(
                            "not a built-in policy ({}) and no such configuration file",
                            BUILTIN.join(", ")
                        ),
                    });
                }
                let text = read_to_string(path)?;
                let name = path.file_stem().map_or_else(
                    || name_or_path.to_owned(),
                    |s| s.to_string_lossy().into_owned(),
                );
                Self::from_config(&name, &text, false)
            }
        }
    }

    /// Resolves configuration text under `name`.
    pub fn from_config(name: &str, text: &str, single_queue: bool) -> Result<Self> {
        let config_err = |source| Error::Config {
            policy: name.into(),
            source,
        };
        let config = SchedulerConfig::from_yaml(text).map_err(config_err)?;
        let registry = Registry::builtin();
        let missing = missing_names(&config, &registry);
        if !missing.is_empty() {
            return Err(Error::MissingPlugins {
                policy: name.into(),
                missing: missing.join(", "),
                known: registry.plugin_names().join(", "),
            });
        }
        let scheduler = Scheduler::new(&config, &registry).map_err(config_err)?;
        Ok(Self {
            name: name.into(),
            scheduler,
            single_queue,
            schedule_period_ms: DEFAULT_SCHEDULE_PERIOD_MS,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn builtin_policies_load_or_name_what_is_missing() {
        for name in [
            "kube-default",
            "kube-coscheduling",
            "volcano-default",
            "basalt",
            "basalt-reserve",
            "binpack",
            "spread",
            "fgd",
        ] {
            let p = Policy::load(name).unwrap_or_else(|e| panic!("{name}: {e}"));
            assert_eq!(p.single_queue, name.starts_with("kube-"));
        }
        assert_eq!(
            Policy::load("basalt").unwrap().schedule_period_ms,
            DEFAULT_SCHEDULE_PERIOD_MS
        );
        let e = Policy::load("no-such-policy").unwrap_err().to_string();
        assert!(e.contains("kube-default"), "{e}");
        // A configuration naming a plugin and an action the core lacks fails naming both.
        let text = "actions: \"enqueue, allocate, teleport\"\ntiers:\n- plugins:\n  - name: priority\n  - name: no-such-plugin\n";
        let e = Policy::from_config("custom", text, false)
            .unwrap_err()
            .to_string();
        assert!(
            e.contains("custom")
                && e.contains("plugin \"no-such-plugin\"")
                && e.contains("action \"teleport\""),
            "{e}"
        );
    }
}
