#!/usr/bin/env bash
# The one command that runs every test of Basalt: unit, property and integration tests, e2e tests
# that drive `basalt up` with the machine's kubectl (kubectl conformance scenarios included) and
# the Helm chart checks. `.ci/run` calls it after formatting and clippy.
set -euo pipefail
cd "$(dirname "$0")"
# The target directory is .cargo/config.toml's (`target/`, shared with `cargo run`) unless
# CARGO_TARGET_DIR is set. Everything the tests read is in the repository.
# A fresh machine may lack cargo-nextest: build it from crates.io once (a few minutes).
if ! cargo nextest --version >/dev/null 2>&1; then
  cargo install cargo-nextest --locked
fi
exec cargo nextest run --workspace --locked --no-fail-fast "$@"
