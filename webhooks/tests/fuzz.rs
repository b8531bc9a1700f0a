//! CI-sized run of the deterministic AdmissionReview fuzzer (the `fuzz_reviews` bench runs
//! 1,000,000 cases in release mode). Fails on any panic or malformed answer.

#![allow(clippy::unwrap_used)]

mod common;
#[path = "common/fuzz.rs"]
mod fuzz;

#[test]
fn twenty_thousand_mutated_reviews_never_panic_and_always_answer() {
    let state = common::cluster();
    let tally = fuzz::run(20_000, 0x5eed, state.as_ref());
    eprintln!("{tally:?}");
    assert_eq!(tally.cases, 20_000);
    // The mix must exercise every outcome, or the fuzzer is not reaching the rules.
    assert!(
        tally.allowed > 100 && tally.denied > 1_000 && tally.bad_request > 1_000,
        "{tally:?}"
    );
}
