#!/usr/bin/env bash
# The real Volcano (scheduler and controller-manager) built from its official Go module at the
# release pinned in this folder's go.mod, for benches/peers (issue 19).
#
#   volcano.sh build       build into $VOLCANO_BIN if missing
#   volcano.sh bin NAME    print the path of a built binary (vc-scheduler, vc-controller-manager)
#   volcano.sh built       exit 0 if both are built
#   volcano.sh crds DIR    write Volcano's own CRDs (from the module) into DIR
#
# Environment: VOLCANO_BIN (default $HOME/.cache/basalt-volcano/<go.mod hash>/bin). The Go
# module and build caches are the go command's defaults under $HOME.
set -euo pipefail

HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
STAMP="$(cat "$HERE/go.mod" "$HERE/go.sum" | sha256sum | cut -c1-12)"
BIN="${VOLCANO_BIN:-$HOME/.cache/basalt-volcano/$STAMP/bin}"
VERSION="$(grep -Eo 'volcano.sh/volcano v[0-9.]+' "$HERE/go.mod" | head -1 | cut -d" " -f2)"
declare -A PKG=([vc-scheduler]=volcano.sh/volcano/cmd/scheduler [vc-controller-manager]=volcano.sh/volcano/cmd/controller-manager)

die() { echo "volcano: $*" >&2; exit 1; }

build() {
    local name start
    for name in "${!PKG[@]}"; do
        [[ -x "$BIN/$name" ]] && continue
        command -v go >/dev/null || die "go is not on PATH"
        mkdir -p "$BIN"
        echo "volcano: building $name ($VERSION) into $BIN" >&2
        start=$SECONDS
        (cd "$HERE" && nice -n 10 go build -trimpath -ldflags "-s -w" -o "$BIN/$name" "${PKG[$name]}")
        echo "volcano: built $name in $((SECONDS - start)) s" >&2
    done
}

module_dir() { (cd "$HERE" && go list -m -f '{{.Dir}}' volcano.sh/volcano); }

case "${1:-}" in
    build) build ;;
    built) for name in "${!PKG[@]}"; do [[ -x "$BIN/$name" ]] || { echo "volcano: $name not built in $BIN" >&2; exit 1; }; done ;;
    bin) [[ -n "${2:-}" && -n "${PKG[$2]:-}" ]] || die "usage: volcano.sh bin vc-scheduler|vc-controller-manager"
         [[ -x "$BIN/$2" ]] || build; echo "$BIN/$2" ;;
    crds) [[ -n "${2:-}" ]] || die "usage: volcano.sh crds DIR"
          mkdir -p "$2"; cp "$(module_dir)"/config/crd/volcano/bases/*.yaml "$(module_dir)"/config/crd/jobflow/bases/*.yaml "$2"/ ;;
    *) sed -n '2,13p' "$0" | sed 's/^# \{0,1\}//'; exit 2 ;;
esac
