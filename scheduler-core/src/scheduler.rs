//! A configuration resolved against a registry, ready to run sessions: [`Scheduler::new`] is where
//! unknown names and bad arguments fail (start-up), [`Scheduler::run`] is one session.

use std::collections::{BTreeMap, BTreeSet};

use crate::actions::Action;
use crate::config::{Arguments, ConfigError, SchedulerConfig};
use crate::dispatch::{Entry, PluginSet, enabled_hooks};
use crate::ids::{JobId, QueueId};
use crate::model::Snapshot;
use crate::model::{Job, Queue};
use crate::plugin::{Hooks, Plugin};
use crate::registry::Registry;
use crate::session::{Edits, Prepared, Session, SessionError, SessionResult, State};

/// A hypothetical change to a snapshot for [`Scheduler::run_what_if`].
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct WhatIf {
    /// Jobs gone, with their tasks and reservations (as if they had finished and been deleted).
    pub without_jobs: BTreeSet<JobId>,
    /// Queues without a capability limit.
    pub uncapped_queues: BTreeSet<QueueId>,
    /// Jobs that ask to start with fewer pods: the gang minimum (`minMember`, a Volcano Job's
    /// `minAvailable`) lowered to this many, `minResources` scaled by the same fraction (rounded
    /// up). Per-task minimums stay; they stop binding once the job's minimum is below their sum,
    /// as in Volcano. The job's pods stay: those above the minimum wait as elastic pods.
    pub min_member: BTreeMap<JobId, u32>,
}

/// A validated scheduler: actions in order and plugin prototypes in tiers.
pub struct Scheduler {
    actions: Vec<Box<dyn Action>>,
    tiers: Vec<Vec<(Hooks, Box<dyn Plugin>)>>,
    memo: bool,
}

impl std::fmt::Debug for Scheduler {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let actions: Vec<&str> = self.actions.iter().map(|a| a.name()).collect();
        let tiers: Vec<Vec<&str>> = self
            .tiers
            .iter()
            .map(|t| t.iter().map(|(_, p)| p.name()).collect())
            .collect();
        f.debug_struct("Scheduler")
            .field("actions", &actions)
            .field("tiers", &tiers)
            .finish()
    }
}

impl Scheduler {
    /// Resolves `config`: every action and plugin must exist in `registry`, appear once, and
    /// accept its arguments.
    pub fn new(config: &SchedulerConfig, registry: &Registry) -> Result<Self, ConfigError> {
        let names = config.action_names();
        if names.is_empty() {
            return Err(ConfigError::NoActions);
        }
        let unknown_action = |name: &str| ConfigError::UnknownAction {
            name: name.to_owned(),
            known: registry.action_names().join(", "),
        };
        for c in &config.configurations {
            registry
                .action(&c.name)
                .ok_or_else(|| unknown_action(&c.name))?;
        }
        let mut actions = Vec::with_capacity(names.len());
        for (i, name) in names.iter().enumerate() {
            if names[..i].contains(name) {
                return Err(ConfigError::DuplicateAction((*name).to_owned()));
            }
            let factory = registry.action(name).ok_or_else(|| unknown_action(name))?;
            actions.push(factory(&config.action_arguments(name))?);
        }
        crate::plugins::drf::check_config(config)?;
        let mut seen: Vec<&str> = Vec::new();
        let mut tiers = Vec::with_capacity(config.tiers.len());
        for (t, tier) in config.tiers.iter().enumerate() {
            let mut entries = Vec::with_capacity(tier.plugins.len());
            for p in &tier.plugins {
                if seen.contains(&p.name.as_str()) {
                    return Err(ConfigError::DuplicatePlugin(p.name.clone()));
                }
                seen.push(&p.name);
                let factory =
                    registry
                        .plugin(&p.name)
                        .ok_or_else(|| ConfigError::UnknownPlugin {
                            name: p.name.clone(),
                            tier: t,
                            known: registry.plugin_names().join(", "),
                        })?;
                let args = Arguments::new(format!("plugin {:?}", p.name), p.arguments.clone());
                entries.push((enabled_hooks(p), factory(&args)?));
            }
            tiers.push(entries);
        }
        Ok(Self {
            actions,
            tiers,
            memo: true,
        })
    }

    /// The same scheduler with the sessions' memos on (default) or off (see
    /// [`Session::set_memo`]): off recomputes every answer, for property tests that check the
    /// memoised sessions decide and explain exactly as the plain ones.
    pub fn with_memo(mut self, on: bool) -> Self {
        self.memo = on;
        self
    }

    /// Parses Volcano YAML and resolves it against the built-in registry.
    pub fn from_yaml(text: &str) -> Result<Self, ConfigError> {
        Self::new(&SchedulerConfig::from_yaml(text)?, &Registry::builtin())
    }

    /// Action names in order.
    pub fn action_names(&self) -> Vec<&'static str> {
        self.actions.iter().map(|a| a.name()).collect()
    }

    /// Runs one session over `snapshot`.
    pub fn run(&self, snapshot: &Snapshot) -> Result<SessionResult, SessionError> {
        self.run_state(State::build(snapshot)?)
    }

    /// Runs one session over a snapshot changed as `what_if` says, without copying the snapshot:
    /// the same result as [`Scheduler::run`] on an edited copy (jobs and their tasks and
    /// reservations removed, queues' capability lifted, gang minimums lowered), at the cost of
    /// one session less what `prepared` already read from the pods (share one [`Prepared`]
    /// between the what-ifs on a snapshot). Used to check "what would unblock this job"
    /// suggestions on a large cluster.
    pub fn run_what_if(
        &self,
        prepared: &Prepared<'_>,
        what_if: &WhatIf,
    ) -> Result<SessionResult, SessionError> {
        let snapshot = prepared.snapshot;
        let queues: BTreeMap<QueueId, Queue> = what_if
            .uncapped_queues
            .iter()
            .filter_map(|id| snapshot.queues.get_key_value(id))
            .map(|(id, q)| {
                let mut q = q.clone();
                q.capability = None;
                (id.clone(), q)
            })
            .collect();
        let jobs: BTreeMap<JobId, Job> = what_if
            .min_member
            .iter()
            .filter_map(|(id, k)| Some((id.clone(), snapshot.jobs.get(id)?.with_min_member(*k))))
            .collect();
        let edits = Edits {
            prepared: Some(prepared),
            without_jobs: Some(&what_if.without_jobs),
            queues: Some(&queues),
            jobs: Some(&jobs),
        };
        self.run_state(State::build_with(snapshot, edits)?)
    }

    fn run_state(&self, state: State<'_>) -> Result<SessionResult, SessionError> {
        let plugins = PluginSet {
            tiers: self
                .tiers
                .iter()
                .map(|tier| {
                    tier.iter()
                        .map(|(enabled, proto)| Entry {
                            hooks: enabled.and(proto.hooks()),
                            plugin: proto.clone_box(),
                        })
                        .collect()
                })
                .collect(),
        };
        let mut ssn = Session::open(state, plugins, self.action_names());
        ssn.set_memo(self.memo);
        for action in &self.actions {
            action.execute(&mut ssn);
        }
        Ok(ssn.close())
    }
}

/// One session: `scheduler.run(snapshot)`. The entry point the controllers' loop and the
/// simulator call.
pub fn run_session(
    snapshot: &Snapshot,
    scheduler: &Scheduler,
) -> Result<SessionResult, SessionError> {
    scheduler.run(snapshot)
}
