//! Reservations as data: which nodes a starving gang holds, since when and until when it expects
//! to start, plus the annotations that carry run-time declarations and waiting times.
//!
//! The core stays pure: the previous session's reservations come back in the snapshot (the shell
//! stores them on the PodGroup as the [`RESERVATION_ANNOTATION`] JSON), and a session emits the
//! current set as [`crate::Effect::Reservation`]. Nothing here decides; `plugins::reservation`
//! does.

use serde::{Deserialize, Serialize};

use std::collections::BTreeMap;

use crate::ids::{NodeId, QueueId};

/// PodGroup annotation holding the reservation as JSON (written by the shell).
pub const RESERVATION_ANNOTATION: &str = "basalt.dev/reservation";
/// PodGroup (or Volcano Job) annotation declaring the expected run time, a Go duration (`2h30m`).
pub const EXPECTED_RUNTIME_ANNOTATION: &str = "basalt.dev/expected-runtime";
/// Volcano's per-job waiting time before the job is favoured (`sla` plugin), a Go duration.
pub const SLA_WAITING_TIME_ANNOTATION: &str = "volcano.sh/sla-waiting-time";
/// The same, unprefixed: the key Volcano's `sla` plugin was documented with and its own e2e
/// suite sets (`schedulingbase/sla.go`); Volcano reads it when the prefixed one is absent.
pub const SLA_WAITING_TIME_LEGACY_ANNOTATION: &str = "sla-waiting-time";
/// PodGroup condition type naming the reserved nodes and the estimated start.
pub const RESERVED_CONDITION: &str = "Reserved";

/// Nodes held for one pending gang.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Reservation {
    /// The held nodes, in name order.
    pub nodes: Vec<NodeId>,
    /// When the reservation was first made (ms, snapshot clock): the hold time counts from here.
    pub since: u64,
    /// Estimated start (ms): when the held nodes are expected to have room for the gang, from the
    /// expected run times of what runs on them. `None` when some run time is unknown.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub estimated_start: Option<u64>,
}

/// Run-time estimates learned from finished jobs: per queue, the mean run time of the jobs that
/// finished in it. The shells keep one (the simulator from its virtual clock, the controllers
/// from pods' start and finish times) and pass [`Self::estimates`] as
/// `Snapshot::queue_runtime`, the estimate for jobs that declare none; both use this rule.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct LearnedRuntimes {
    /// Per queue: (Σ run time in ms, finished jobs).
    sums: BTreeMap<QueueId, (u64, u64)>,
}

impl LearnedRuntimes {
    /// Records one finished job of `queue` that ran `ms`.
    pub fn record(&mut self, queue: QueueId, ms: u64) {
        let e = self.sums.entry(queue).or_insert((0, 0));
        e.0 = e.0.saturating_add(ms);
        e.1 += 1;
    }

    /// The queue's estimate (mean over its finished jobs), if any finished.
    pub fn estimate(&self, queue: &QueueId) -> Option<u64> {
        self.sums
            .get(queue)
            .filter(|(_, n)| *n > 0)
            .map(|(sum, n)| sum / n)
    }

    /// Every queue's estimate, as `Snapshot::queue_runtime` takes it.
    pub fn estimates(&self) -> BTreeMap<QueueId, u64> {
        self.sums
            .keys()
            .filter_map(|q| Some((q.clone(), self.estimate(q)?)))
            .collect()
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn learned_estimate_is_the_mean_per_queue() {
        let mut l = LearnedRuntimes::default();
        assert!(l.estimates().is_empty());
        l.record(QueueId::new("a"), 10_000);
        l.record(QueueId::new("a"), 30_000);
        l.record(QueueId::new("b"), 5_000);
        assert_eq!(l.estimate(&QueueId::new("a")), Some(20_000));
        assert_eq!(l.estimate(&QueueId::new("c")), None);
        assert_eq!(
            l.estimates().into_iter().collect::<Vec<_>>(),
            vec![(QueueId::new("a"), 20_000), (QueueId::new("b"), 5_000)]
        );
    }
}
