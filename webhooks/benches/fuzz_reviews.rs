//! Fuzzing at scale: runs the deterministic AdmissionReview mutation fuzzer (tests/common/fuzz.rs)
//! for 1,000,000 cases by default (`BASALT_FUZZ_CASES` overrides, `BASALT_FUZZ_SEED` reseeds) and
//! prints the count, the outcome mix and the rate. A panic or malformed answer aborts the run.
//!
//! `cargo bench -p basalt-webhooks --bench fuzz_reviews`

#![allow(clippy::unwrap_used)]

#[path = "../tests/common/mod.rs"]
mod common;
#[path = "../tests/common/fuzz.rs"]
mod fuzz;

use std::time::Instant;

fn main() {
    let env = |k: &str, d: u64| {
        std::env::var(k)
            .ok()
            .and_then(|v| v.parse().ok())
            .unwrap_or(d)
    };
    let cases = env("BASALT_FUZZ_CASES", 1_000_000);
    let seed = env("BASALT_FUZZ_SEED", 0xba5a17);
    let state = common::cluster();
    let started = Instant::now();
    let tally = fuzz::run(cases, seed, state.as_ref());
    let secs = started.elapsed().as_secs_f64();
    println!(
        "fuzz_reviews: {} generated/mutated AdmissionReview bodies, seed {seed:#x}: {} allowed, {} denied, {} bad request (400); no panic, every answer well-formed; {secs:.1} s ({:.0} reviews/s)",
        tally.cases,
        tally.allowed,
        tally.denied,
        tally.bad_request,
        tally.cases as f64 / secs
    );
}
