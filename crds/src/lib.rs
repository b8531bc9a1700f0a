//! Volcano-compatible API types. This crate owns the wire shapes only: no I/O, no controllers.
