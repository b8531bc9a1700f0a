#!/usr/bin/env bash
# The real Helm CLI for Basalt's real-cluster tests (`helm install`/`upgrade`/`uninstall` of
# config/helm/basalt into a real kube-apiserver; docs/real-cluster.md), built from the official
# Go module at a pinned release with `go install` (no binary download).
#
#   helm.sh build    build helm into $HELM_BIN_DIR if missing
#   helm.sh bin      print the path of the binary (building it if missing)
#   helm.sh built    exit 0 if it is built, else 1
#
# Environment: HELM_BIN_DIR (default $HOME/.cache/basalt-helm/<version>/bin). Needs Go; the
# module and build caches are the go command's defaults under $HOME.
set -euo pipefail

VERSION=v4.3.2
BIN_DIR="${HELM_BIN_DIR:-$HOME/.cache/basalt-helm/$VERSION/bin}"
HELM="$BIN_DIR/helm"

die() { echo "helm.sh: $*" >&2; exit 1; }

build() {
    [[ -x "$HELM" ]] && return 0
    command -v go >/dev/null || die "go is not on PATH"
    mkdir -p "$BIN_DIR"
    echo "helm.sh: building helm $VERSION into $BIN_DIR" >&2
    local start=$SECONDS
    GOBIN="$BIN_DIR" GOFLAGS=-buildvcs=false go install \
        -ldflags "-s -w -X helm.sh/helm/v4/internal/version.version=$VERSION" \
        "helm.sh/helm/v4/cmd/helm@$VERSION"
    echo "helm.sh: built in $((SECONDS - start)) s" >&2
}

case "${1:-}" in
    build) build ;;
    bin) build; echo "$HELM" ;;
    built) [[ -x "$HELM" ]] ;;
    *) die "usage: helm.sh build|bin|built" ;;
esac
