#!/usr/bin/env bash
# The libFuzzer target `api_write` (fuzz/README.md) built with coverage instrumentation on stable
# Rust and run for a bounded time. Its instrumented build is a separate dependency tree (~24 min
# cold on the 2-core machine), kept in $BASALT_FUZZ_TARGET_DIR between runs.
#   tools/fuzz-ci.sh build          build (incremental once warm)
#   tools/fuzz-ci.sh run SECONDS    build, then fuzz from the seeds for SECONDS; exit 1 on a crash
#   tools/fuzz-ci.sh warm           exit 0 when a build exists in the cache (CI runs the target then)
set -euo pipefail
cd "$(dirname "$0")/../fuzz"
export CARGO_TARGET_DIR="${BASALT_FUZZ_TARGET_DIR:-$HOME/.cache/basalt-fuzz-target}"
export RUSTFLAGS="--cfg fuzzing -Cdebug-assertions -Coverflow-checks \
  -Cpasses=sancov-module -Cllvm-args=-sanitizer-coverage-level=4 \
  -Cllvm-args=-sanitizer-coverage-inline-8bit-counters \
  -Cllvm-args=-sanitizer-coverage-pc-table -Cllvm-args=-sanitizer-coverage-trace-compares"
triple=x86_64-unknown-linux-gnu
bin="$CARGO_TARGET_DIR/$triple/release/api_write"
case "${1:-}" in
  warm) [ -x "$bin" ] ;;
  build) cargo build --release --locked --bin api_write --target "$triple" ;;
  run)
    secs="${2:?seconds}"
    cargo build --release --locked --bin api_write --target "$triple"
    corpus="$(mktemp -d)"
    trap 'rm -rf "$corpus"' EXIT
    # Crash inputs land in the current directory (crash-<hash>); replay one with "$bin" FILE.
    "$bin" "$corpus" seeds/api_write -max_total_time="$secs" -rss_limit_mb=4096 -print_final_stats=1
    ;;
  *) echo "usage: $0 build | run SECONDS | warm" >&2; exit 2 ;;
esac
