//! The built-in plugins. Each module owns one plugin: its arguments, its hooks and its tests.
//! Names are Volcano's; semantics follow reference §4.5 unless a module says otherwise.

pub mod binpack;
pub mod capacity;
pub mod conformance;
pub mod deviceshare;
pub mod drf;
pub mod fairshare;
pub mod gang;
pub mod loadaware;
pub mod nodeorder;
pub mod overcommit;
pub mod predicates;
pub mod priority;
pub mod proportion;
pub mod reservation;

#[cfg(test)]
pub(crate) mod testkit;
