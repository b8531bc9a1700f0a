//! End-to-end tests: each drives a real `basalt up` process with the machine's `kubectl`.
//!
//! One test binary (`cargo nextest run -p basalt --test e2e`); one module per area.

mod cli;
mod conformance;
mod controllers;
mod faults;
mod harness;
mod jobflow;
mod loadaware;
mod rbac;
mod real_cluster;
mod reservation;
mod up;
mod volcano_compat;
mod webhooks;
