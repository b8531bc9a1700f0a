//! Coverage-guided fuzzing of the API server's write path: see `devcluster::fuzz` for the
//! input format and the oracles.

#![no_main]

use std::sync::OnceLock;

use libfuzzer_sys::fuzz_target;

// One dev API server for the whole run: starting one per input would measure start-up.
static TARGET: OnceLock<devcluster::fuzz::Target> = OnceLock::new();

fuzz_target!(|data: &[u8]| {
    TARGET
        .get_or_init(|| devcluster::fuzz::Target::new().expect("starting the dev API server"))
        .run(data);
});
