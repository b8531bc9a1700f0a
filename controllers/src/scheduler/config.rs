//! Scheduler configuration in Volcano's YAML, from the built-in default, a file or a ConfigMap,
//! hot reloaded: a new valid text replaces the running [`Scheduler`]; an invalid one keeps the
//! last good scheduler and says why (log, and an event on the ConfigMap).

use std::sync::Arc;
use std::time::Duration;

use k8s_openapi::api::core::v1::ConfigMap;
use kube::api::Api;
use kube::{Resource, ResourceExt};
use scheduler_core::Scheduler;
use tokio::sync::watch;
use tracing::{info, warn};

use crate::context::{Context, SchedulerConfigSource};
use crate::error::{Error, Result};

/// Basalt's default configuration.
pub const DEFAULT_CONFIG: &str = include_str!("../../../config/scheduler/basalt-default.yaml");

/// How often a file or ConfigMap source is re-read.
const RELOAD_PERIOD: Duration = Duration::from_secs(2);

/// Parses and resolves a configuration text.
pub fn parse(text: &str, source_name: &str) -> Result<Scheduler> {
    Scheduler::from_yaml(text).map_err(|e| Error::SchedulerConfig {
        source_name: source_name.to_owned(),
        message: e.to_string(),
    })
}

fn source_name(source: &SchedulerConfigSource) -> String {
    match source {
        SchedulerConfigSource::BuiltIn => "the built-in default".to_owned(),
        SchedulerConfigSource::File(p) => p.display().to_string(),
        SchedulerConfigSource::ConfigMap {
            namespace,
            name,
            key,
        } => format!("ConfigMap {namespace}/{name} key {key:?}"),
    }
}

/// Reads the current text of `source` (`None`: the source is absent right now).
async fn read(
    ctx: &Context,
    source: &SchedulerConfigSource,
) -> Option<(String, Option<ConfigMap>)> {
    match source {
        SchedulerConfigSource::BuiltIn => Some((DEFAULT_CONFIG.to_owned(), None)),
        SchedulerConfigSource::File(p) => {
            tokio::fs::read_to_string(p).await.ok().map(|t| (t, None))
        }
        SchedulerConfigSource::ConfigMap {
            namespace,
            name,
            key,
        } => {
            let api: Api<ConfigMap> = Api::namespaced(ctx.client.clone(), namespace);
            let cm = api.get_opt(name).await.ok().flatten()?;
            let text = cm.data.as_ref().and_then(|d| d.get(key)).cloned()?;
            Some((text, Some(cm)))
        }
    }
}

/// Loads the initial scheduler: the source's text if present and valid, else the built-in
/// default (logged). Then keeps reloading in the background; the receiver always holds the last
/// good scheduler.
pub async fn watch(ctx: Arc<Context>) -> watch::Receiver<Arc<Scheduler>> {
    let source = ctx.config.scheduler_config.clone();
    let name = source_name(&source);
    let mut last_text = String::new();
    let initial = match read(&ctx, &source).await {
        Some((text, _)) => match parse(&text, &name) {
            Ok(s) => {
                last_text = text;
                s
            }
            Err(error) => {
                warn!(%error, "using the built-in scheduler configuration");
                default_scheduler()
            }
        },
        None => {
            warn!(source = %name, "scheduler configuration not found; using the built-in default");
            default_scheduler()
        }
    };
    info!(source = %name, scheduler = ?initial, "scheduler configuration loaded");
    let (tx, rx) = watch::channel(Arc::new(initial));
    if !matches!(source, SchedulerConfigSource::BuiltIn) {
        tokio::spawn(async move {
            let mut tick = tokio::time::interval(RELOAD_PERIOD);
            loop {
                tick.tick().await;
                if tx.is_closed() {
                    return;
                }
                let Some((text, cm)) = read(&ctx, &source).await else {
                    continue;
                };
                if text == last_text {
                    continue;
                }
                last_text.clone_from(&text);
                match parse(&text, &name) {
                    Ok(s) => {
                        info!(source = %name, scheduler = ?s, "scheduler configuration reloaded");
                        let _ = tx.send(Arc::new(s));
                    }
                    Err(error) => {
                        warn!(%error, "keeping the last good scheduler configuration");
                        if let Some(cm) = cm {
                            let note =
                                format!("{error}; the scheduler keeps its last good configuration");
                            ctx.event(
                                &cm.object_ref(&()),
                                true,
                                "InvalidSchedulerConfig",
                                "Reload",
                                note,
                            )
                            .await;
                            let _ = cm.name_any();
                        }
                    }
                }
            }
        });
    }
    rx
}

/// The built-in default, which a scheduler-core test keeps loadable.
pub fn default_scheduler() -> Scheduler {
    // The default config is checked into the repository and covered by tests in scheduler-core
    // and below; if it ever stops parsing, an empty-action scheduler would silently do nothing,
    // so fall back to the minimal Volcano action list instead.
    parse(DEFAULT_CONFIG, "the built-in default")
        .or_else(|_| {
            Scheduler::from_yaml(
                "actions: \"enqueue, allocate\"\ntiers:\n- plugins:\n  - name: gang\n",
            )
        })
        .unwrap_or_else(|e| panic!("the built-in scheduler configuration must load: {e}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn default_and_seed_configs_load_and_bad_names_fail() {
        parse(DEFAULT_CONFIG, "default").unwrap();
        let err = parse("actions: \"enqueue, allocate, nonsense\"\ntiers: []\n", "x")
            .unwrap_err()
            .to_string();
        assert!(err.contains("nonsense"), "{err}");
    }
}
