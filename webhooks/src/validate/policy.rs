//! Lifecycle-policy rules (job and task level): an action, either events or an exit code,
//! events and actions from Volcano's allowed sets, no duplicates, `*` alone, a readable timeout.

use std::collections::BTreeSet;

use crds::job::{Action, Event, LifecyclePolicy};

use crate::report::Report;

const EVENTS: &[Event] = &[
    Event::Any,
    Event::PodFailed,
    Event::PodEvicted,
    Event::PodPending,
    Event::Unknown,
    Event::TaskCompleted,
    Event::TaskFailed,
    Event::JobUpdated,
];

const ACTIONS: &[Action] = &[
    Action::AbortJob,
    Action::RestartJob,
    Action::RestartTask,
    Action::RestartPod,
    Action::RestartPartition,
    Action::TerminateJob,
    Action::CompleteJob,
    Action::ResumeJob,
];

/// Checks the policies found at `path` (e.g. `spec.policies` or `spec.tasks[1].policies`).
pub fn check_policies(policies: &[LifecyclePolicy], path: &str, r: &mut Report) {
    let mut seen_events = BTreeSet::new();
    let mut seen_codes = BTreeSet::new();
    let mut any_event = false;
    let mut event_count = 0usize;
    for (i, p) in policies.iter().enumerate() {
        let ppath = format!("{path}[{i}]");
        match p.action {
            None => r.refuse(
                &format!("{ppath}.action"),
                "is missing",
                format!("set one of {}", names(ACTIONS)),
            ),
            Some(a) if !ACTIONS.contains(&a) => r.refuse(
                &format!("{ppath}.action"),
                format!("{a:?} is not allowed in a policy"),
                format!("use one of {}", names(ACTIONS)),
            ),
            Some(_) => {}
        }
        let events: Vec<Event> = p
            .event
            .into_iter()
            .chain(p.events.iter().flatten().copied())
            .collect();
        // An event listed twice in one policy is harmless and Volcano accepts it (its e2e suite
        // does it); only a second policy for the same event is ambiguous.
        let mut own = std::collections::BTreeSet::new();
        let events: Vec<Event> = events
            .into_iter()
            .filter(|e| own.insert(format!("{e:?}")))
            .collect();
        match (events.is_empty(), p.exit_code) {
            (false, Some(_)) => r.refuse(
                &ppath,
                "sets both events and exitCode",
                "split it into one policy for the events and one for the exit code",
            ),
            (true, None) => r.refuse(
                &ppath,
                "sets neither events nor exitCode",
                "add an event (e.g. PodFailed) or an exitCode",
            ),
            _ => {}
        }
        if let Some(text) = p.timeout.as_deref()
            && let Err(e) = scheduler_core::duration::parse(text)
        {
            r.refuse(
                &format!("{ppath}.timeout"),
                e.to_string(),
                "use a Go duration such as 30s, 10m or 2h (at most 2562047h)",
            );
        }
        if p.exit_code == Some(0) {
            r.refuse(
                &format!("{ppath}.exitCode"),
                "is 0, which means success",
                "use a non-zero exit code",
            );
        }
        if let Some(code) = p.exit_code
            && !seen_codes.insert(code)
        {
            r.refuse(
                &format!("{ppath}.exitCode"),
                format!("{code} is handled by an earlier policy"),
                "keep one policy per exit code",
            );
        }
        for e in events {
            event_count += 1;
            any_event |= e == Event::Any;
            if !EVENTS.contains(&e) {
                r.refuse(
                    &format!("{ppath}.events"),
                    format!("{e:?} cannot trigger a policy"),
                    format!("use one of {}", names(EVENTS)),
                );
            } else if !seen_events.insert(format!("{e:?}")) {
                r.refuse(
                    &format!("{ppath}.events"),
                    format!("{e:?} is handled by an earlier policy"),
                    "keep one policy per event",
                );
            }
        }
    }
    if any_event && event_count > 1 {
        r.refuse(
            path,
            "uses event \"*\" together with other events",
            "use \"*\" alone, or list the events without \"*\"",
        );
    }
}

fn names<T: serde::Serialize>(items: &[T]) -> String {
    items
        .iter()
        .filter_map(|i| serde_json::to_value(i).ok())
        .filter_map(|v| v.as_str().map(str::to_owned))
        .collect::<Vec<_>>()
        .join(", ")
}
