#!/usr/bin/env bash
# Runs the workspace's property tests ROUNDS times (default 20), each with a fresh random seed,
# and stops at the first failure. CI runs them once with a fixed seed (.ci/run); this is how new
# inputs get explored. A failure prints proptest's minimal input and a `cc <seed>` line: add that
# line to the suite's *.proptest-regressions file with the fix so every later run replays it.
set -euo pipefail
cd "$(dirname "$0")/.."
rounds="${1:-20}"
unset PROPTEST_RNG_SEED
for i in $(seq 1 "$rounds"); do
  echo "== round $i/$rounds"
  # Every crate with property tests: scheduler-core (all of it, ~15 s), crds and devcluster's
  # unit tests (the HTTP and patch properties).
  cargo nextest run --locked -p basalt-scheduler-core -p basalt-crds -p basalt-devcluster --lib \
    --status-level fail --final-status-level fail
  cargo nextest run --locked -p basalt-scheduler-core --tests \
    --status-level fail --final-status-level fail
done
echo "no property failed in $rounds rounds"
