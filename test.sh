#!/usr/bin/env bash
# The one command that runs every test of Basalt: unit, property and integration tests, e2e tests
# that drive `basalt up` with the machine's kubectl, the kubectl conformance harness and the Helm
# chart checks. `.ci/run` calls it after formatting and clippy.
set -euo pipefail
cd "$(dirname "$0")"
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$HOME/.cache/basalt-target}"
exec cargo nextest run --workspace --locked --no-fail-fast "$@"
