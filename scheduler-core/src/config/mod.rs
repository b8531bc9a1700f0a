//! Volcano's scheduler configuration, accepted as is: `actions` (comma-separated string),
//! `tiers[].plugins[]` with every `enable*`/`enabled*` switch and free-form `arguments`, and
//! per-action `configurations`. Also accepts the ConfigMap that wraps it
//! (`data: {volcano-scheduler.conf: |…}`), which is how users ship it.
//!
//! This module only parses and type-checks the text. Whether the named actions and plugins exist
//! is decided against a [`crate::Registry`] when a [`crate::Scheduler`] is built.

mod args;

use std::collections::BTreeMap;

use serde::Deserialize;
use thiserror::Error;

pub use args::Arguments;

/// Errors from parsing a configuration or resolving it against a registry.
#[derive(Debug, Error)]
pub enum ConfigError {
    /// The YAML did not parse or has unexpected fields.
    #[error("scheduler configuration is not valid YAML for Volcano's format: {0}")]
    Yaml(String),
    /// A ConfigMap without a `*.conf` entry.
    #[error(
        "configmap has no data entry ending in \".conf\"; put the configuration under data.\"volcano-scheduler.conf\""
    )]
    NoConfInConfigMap,
    /// No actions configured.
    #[error("scheduler configuration has no actions; set actions: \"enqueue, allocate, backfill\"")]
    NoActions,
    /// An action name the registry does not know.
    #[error("unknown action {name:?} in actions; known actions: {known}")]
    UnknownAction {
        /// The name in the configuration.
        name: String,
        /// Comma-separated known names.
        known: String,
    },
    /// A plugin name the registry does not know.
    #[error("unknown plugin {name:?} in tiers[{tier}]; known plugins: {known}")]
    UnknownPlugin {
        /// The name in the configuration.
        name: String,
        /// Tier index.
        tier: usize,
        /// Comma-separated known names.
        known: String,
    },
    /// The same plugin twice.
    #[error("plugin {0:?} is configured more than once; keep one entry")]
    DuplicatePlugin(String),
    /// The same action twice in `actions`.
    #[error("action {0:?} is listed more than once in actions; keep one")]
    DuplicateAction(String),
    /// A registry name registered twice.
    #[error("{kind} {name:?} is already registered")]
    AlreadyRegistered {
        /// "plugin" or "action".
        kind: &'static str,
        /// The name.
        name: String,
    },
    /// An argument of the wrong type or out of range.
    #[error("argument {key:?} of {owner} is {value}; expected {expected}")]
    BadArgument {
        /// Plugin or action name.
        owner: String,
        /// Argument key.
        key: String,
        /// The value found, as JSON.
        value: String,
        /// What was expected.
        expected: &'static str,
    },
    /// A duration argument the Go-duration parser ([`crate::duration`]) refused.
    #[error("argument {key:?} of {owner}: {reason} (or a number of seconds)")]
    BadDuration {
        /// Plugin or action name.
        owner: String,
        /// Argument key.
        key: String,
        /// The parser's message, which quotes the value.
        reason: String,
    },
}

/// The whole scheduler configuration (`volcano-scheduler.conf`).
#[derive(Clone, Debug, Default, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SchedulerConfig {
    /// Comma-separated action names, run in order.
    #[serde(default)]
    pub actions: String,
    /// Plugin tiers.
    #[serde(default)]
    pub tiers: Vec<TierConfig>,
    /// Per-action arguments.
    #[serde(default)]
    pub configurations: Vec<ActionConfig>,
    /// Metrics source for load-aware plugins (kept as data; unused by the core today).
    #[serde(default)]
    pub metrics: Option<serde_json::Value>,
}

/// One tier.
#[derive(Clone, Debug, Default, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TierConfig {
    /// Plugins in order.
    #[serde(default)]
    pub plugins: Vec<PluginConfig>,
}

/// Arguments for one action.
#[derive(Clone, Debug, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ActionConfig {
    /// Action name.
    pub name: String,
    /// Free-form arguments.
    #[serde(default)]
    pub arguments: serde_json::Map<String, serde_json::Value>,
}

/// One plugin entry with Volcano's per-callback switches (absent = enabled).
#[allow(missing_docs)] // The field names are Volcano's YAML keys; see reference §4.1.
#[derive(Clone, Debug, Default, PartialEq, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct PluginConfig {
    /// Plugin name.
    pub name: String,
    pub enable_job_order: Option<bool>,
    pub enable_hierarchy: Option<bool>,
    pub enable_job_ready: Option<bool>,
    pub enable_job_pipelined: Option<bool>,
    pub enable_task_order: Option<bool>,
    pub enable_preemptable: Option<bool>,
    pub enable_reclaimable: Option<bool>,
    pub enable_preemptive: Option<bool>,
    pub enable_queue_order: Option<bool>,
    pub enabled_cluster_order: Option<bool>,
    pub enable_predicate: Option<bool>,
    pub enable_best_node: Option<bool>,
    pub enable_node_order: Option<bool>,
    pub enable_target_job: Option<bool>,
    pub enable_reserved_nodes: Option<bool>,
    pub enable_job_enqueued: Option<bool>,
    pub enabled_victim: Option<bool>,
    pub enable_job_starving: Option<bool>,
    pub enabled_overused: Option<bool>,
    pub enabled_allocatable: Option<bool>,
    pub enabled_hyper_node_order: Option<bool>,
    pub enabled_sub_job_ready: Option<bool>,
    pub enabled_sub_job_pipelined: Option<bool>,
    pub enabled_sub_job_order: Option<bool>,
    pub enabled_hyper_node_gradient: Option<bool>,
    /// Free-form plugin arguments.
    #[serde(default)]
    pub arguments: serde_json::Map<String, serde_json::Value>,
}

#[derive(Deserialize)]
struct ConfigMapShape {
    kind: String,
    #[serde(default)]
    data: BTreeMap<String, String>,
}

impl SchedulerConfig {
    /// Parses Volcano's YAML, either the bare configuration or a ConfigMap wrapping it.
    pub fn from_yaml(text: &str) -> Result<Self, ConfigError> {
        let yaml_err = |e: serde_saphyr::Error| ConfigError::Yaml(e.to_string());
        if let Ok(cm) = serde_saphyr::from_str::<ConfigMapShape>(text)
            && cm.kind == "ConfigMap"
        {
            let conf = cm
                .data
                .iter()
                .find(|(k, _)| k.ends_with(".conf"))
                .map(|(_, v)| v)
                .ok_or(ConfigError::NoConfInConfigMap)?;
            return serde_saphyr::from_str(conf).map_err(yaml_err);
        }
        serde_saphyr::from_str(text).map_err(yaml_err)
    }

    /// The action names in order, trimmed.
    pub fn action_names(&self) -> Vec<&str> {
        self.actions
            .split(',')
            .map(str::trim)
            .filter(|s| !s.is_empty())
            .collect()
    }

    /// Arguments configured for action `name` (empty when none).
    pub fn action_arguments(&self, name: &str) -> Arguments {
        let map = self
            .configurations
            .iter()
            .find(|c| c.name == name)
            .map(|c| c.arguments.clone())
            .unwrap_or_default();
        Arguments::new(format!("action {name:?}"), map)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_volcano_yaml_with_switches_arguments_and_configurations() {
        let text = r#"
actions: "enqueue, allocate,backfill"
tiers:
- plugins:
  - name: priority
  - name: gang
    enablePreemptable: false
    enabledOverused: true
- plugins:
  - name: nodeorder
    arguments:
      nodeorder.weight: 100
      leastrequested.weight: "2"
configurations:
- name: allocate
  arguments: {predicateErrorCacheEnable: true}
"#;
        let c = SchedulerConfig::from_yaml(text).expect("parses");
        assert_eq!(c.action_names(), ["enqueue", "allocate", "backfill"]);
        assert_eq!(c.tiers.len(), 2);
        assert_eq!(c.tiers[0].plugins[1].enable_preemptable, Some(false));
        assert_eq!(c.tiers[0].plugins[1].enabled_overused, Some(true));
        assert_eq!(c.tiers[1].plugins[0].arguments["nodeorder.weight"], 100);
        let args = c.action_arguments("allocate");
        assert_eq!(
            args.bool("predicateErrorCacheEnable", false).ok(),
            Some(true)
        );
    }

    #[test]
    fn misspelled_switch_is_an_error_naming_it() {
        let text =
            "actions: allocate\ntiers:\n- plugins:\n  - name: gang\n    enablePredicates: false\n";
        let err = SchedulerConfig::from_yaml(text)
            .expect_err("must fail")
            .to_string();
        assert!(err.contains("enablePredicates"), "{err}");
    }

    #[test]
    fn configmap_without_conf_entry_is_an_error() {
        let text = "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: x}\ndata:\n  other: y\n";
        assert!(matches!(
            SchedulerConfig::from_yaml(text),
            Err(ConfigError::NoConfInConfigMap)
        ));
    }
}
