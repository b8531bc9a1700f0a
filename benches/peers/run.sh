#!/usr/bin/env bash
# Basalt beside the real peers, measured in one run on this machine (issue 19; README.md here).
# Builds the Go components if missing (tools/realcluster: kube-apiserver, etcd, kube-scheduler
# v1.37.2; a cold build takes about an hour on a busy 2-core machine, a warm one minutes) and
# Volcano v1.14.1 (tools/volcano: vc-scheduler, vc-controller-manager), then
# runs the release bench `basalt/benches/peers.rs` — or, with `article` as the first argument,
# `basalt/benches/peers_article.rs` (the article's six cases under each system). Environment:
# see README.md.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
cd "$ROOT"
tools/realcluster/realcluster.sh build
tools/volcano/volcano.sh build
command -v kubectl >/dev/null || { echo "peers: kubectl is not on PATH" >&2; exit 1; }
if [[ "${1:-}" == article ]]; then
    shift
    exec cargo bench -p basalt --bench peers_article --locked "$@"
fi
exec cargo bench -p basalt --bench peers --locked "$@"
