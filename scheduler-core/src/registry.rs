//! The registry: an explicit value mapping plugin and action names to constructors. Built once at
//! start-up (`Registry::builtin()`, plus whatever a downstream binary registers) and passed to
//! [`crate::Scheduler::new`]. There is no global map.

use std::collections::BTreeMap;

use crate::actions::{self, Action};
use crate::config::{Arguments, ConfigError};
use crate::plugin::Plugin;
use crate::plugins;

/// Builds a configured plugin prototype from its `arguments` (validated here, at start-up).
pub type PluginFactory = fn(&Arguments) -> Result<Box<dyn Plugin>, ConfigError>;
/// Builds a configured action from its `configurations[].arguments`.
pub type ActionFactory = fn(&Arguments) -> Result<Box<dyn Action>, ConfigError>;

/// Known plugins and actions.
#[derive(Clone, Default)]
pub struct Registry {
    plugins: BTreeMap<&'static str, PluginFactory>,
    actions: BTreeMap<&'static str, ActionFactory>,
}

impl Registry {
    /// No plugins, no actions.
    pub fn empty() -> Self {
        Self::default()
    }

    /// Everything this crate implements: actions `enqueue`, `allocate`, `preempt`, `reclaim`,
    /// `backfill`; plugins `priority`, `gang`, `conformance`, `predicates`, `nodeorder`,
    /// `binpack`, `proportion`, `capacity`, `drf`, `overcommit`, `deviceshare`, `loadaware`.
    pub fn builtin() -> Self {
        let mut r = Self::empty();
        let entries: [(&'static str, PluginFactory); 6] = [
            ("priority", plugins::priority::factory),
            ("gang", plugins::gang::factory),
            ("conformance", plugins::conformance::factory),
            ("predicates", plugins::predicates::factory),
            ("nodeorder", plugins::nodeorder::factory),
            ("binpack", plugins::binpack::factory),
        ];
        let fairness: [(&'static str, PluginFactory); 4] = [
            ("proportion", plugins::proportion::factory),
            ("capacity", plugins::capacity::factory),
            ("drf", plugins::drf::factory),
            ("overcommit", plugins::overcommit::factory),
        ];
        let devices: [(&'static str, PluginFactory); 4] = [
            ("deviceshare", plugins::deviceshare::factory),
            ("loadaware", plugins::loadaware::factory),
            ("reservation", plugins::reservation::factory),
            ("sla", plugins::reservation::sla_factory),
        ];
        let entries = entries.into_iter().chain(fairness).chain(devices);
        for (name, f) in entries {
            r.plugins.insert(name, f);
        }
        let entries: [(&'static str, ActionFactory); 3] = [
            ("enqueue", actions::enqueue::factory),
            ("allocate", actions::allocate::factory),
            ("backfill", actions::backfill::factory),
        ];
        let entries = entries.into_iter().chain([
            ("preempt", actions::preempt::factory as ActionFactory),
            ("reclaim", actions::reclaim::factory as ActionFactory),
            ("reserve", actions::reserve::factory as ActionFactory),
        ]);
        for (name, f) in entries {
            r.actions.insert(name, f);
        }
        r
    }

    /// Adds a plugin; a name already taken is an error.
    pub fn register_plugin(
        &mut self,
        name: &'static str,
        factory: PluginFactory,
    ) -> Result<(), ConfigError> {
        if self.plugins.insert(name, factory).is_some() {
            return Err(ConfigError::AlreadyRegistered {
                kind: "plugin",
                name: name.into(),
            });
        }
        Ok(())
    }

    /// Adds an action; a name already taken is an error.
    pub fn register_action(
        &mut self,
        name: &'static str,
        factory: ActionFactory,
    ) -> Result<(), ConfigError> {
        if self.actions.insert(name, factory).is_some() {
            return Err(ConfigError::AlreadyRegistered {
                kind: "action",
                name: name.into(),
            });
        }
        Ok(())
    }

    /// The plugin constructor for `name`.
    pub fn plugin(&self, name: &str) -> Option<PluginFactory> {
        self.plugins.get(name).copied()
    }

    /// The action constructor for `name`.
    pub fn action(&self, name: &str) -> Option<ActionFactory> {
        self.actions.get(name).copied()
    }

    /// Known plugin names, sorted.
    pub fn plugin_names(&self) -> Vec<&'static str> {
        self.plugins.keys().copied().collect()
    }

    /// Known action names, sorted.
    pub fn action_names(&self) -> Vec<&'static str> {
        self.actions.keys().copied().collect()
    }
}
