//! Actions run in the configured order inside a session. Each module owns one action; they are
//! stateless apart from their arguments and change the session only through statements.

pub mod allocate;
pub mod backfill;
mod candidates;
pub mod enqueue;
mod heap;
pub mod preempt;
pub mod progress;
pub mod reclaim;
pub mod reserve;
pub mod victims;

use crate::session::Session;

pub(crate) use heap::OrderedHeap;

/// A scheduling action (`enqueue`, `allocate`, …).
pub trait Action: Send + Sync {
    /// Registry name.
    fn name(&self) -> &'static str;

    /// Runs the action over the session.
    fn execute(&self, ssn: &mut Session<'_>);
}
