#!/usr/bin/env bash
# Every check on the Helm chart (config/helm/basalt); exits non-zero on any problem.
#
#   tools/chart-check.sh          run the checks
#   tools/chart-check.sh --sync   first copy config/crd/*.yaml into the chart's files/crds/
#
# 1. the chart's files/crds/ (rendered by templates/crds.yaml, so `helm upgrade` upgrades them)
#    are identical to config/crd/ (copies, since `helm package` and chart repositories need real
#    files there); files/scheduler.yaml is a symlink to
#    config/scheduler/basalt-default.yaml, so the default scheduler config cannot drift
# 2. lint --strict (Helm v4 via helm-python-sdk) with the default values and every ci/*.yaml
# 3. render each values set; kubernetes-validate --strict -k 1.32.0 on every built-in object;
#    custom resources (and examples/*.yaml) against our CRD schemas; the chart's own policy
#    (non-root, read-only, requests, PDBs, HA, webhook CA)
# 4. the Dockerfile agrees with the chart (static binary, distroless/scratch, same uid)
# 5. with BASALT_BIN set: every flag the chart passes is accepted by `basalt <subcommand>`
# 6. the Grafana dashboard (config/grafana) queries only metrics the code registers
# 7. RBAC: the chart's roles equal docs/rbac.md and cover the API calls in the code
# 8. every value in values.yaml is used by a template (tools/values_check.py renders with each
#    leaf changed)
# 9. the checks can fail: bad values, a bad render, a bad custom resource, a bad dashboard and an
#    unused value are rejected
#
# Python tools live in a venv under $HOME/.cache/basalt-venv (created once, reused).
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD
CHART=config/helm/basalt
VENV="${BASALT_VENV:-$HOME/.cache/basalt-venv}"
PINS=(helm-python-sdk==0.2.2 kubernetes-validate==1.37.0 openapi-schema-validator==0.9.0 pyyaml==6.0.4)
KUBE_VERSION=1.32.0

failures=0
fail() { echo "FAIL: $*" >&2; failures=$((failures + 1)); }
step() { printf '\n== %s\n' "$1"; }

if [[ "${1:-}" == "--sync" ]]; then
    rm -f "$CHART"/files/crds/*.yaml
    cp config/crd/*.yaml "$CHART/files/crds/"
    echo "synced $CHART/files/crds from config/crd"
fi

step "python tools ($VENV)"
stamp="$VENV/.basalt-pins"
if [[ ! -x "$VENV/bin/python" || "$(cat "$stamp" 2>/dev/null)" != "${PINS[*]}" ]]; then
    python3 -m venv "$VENV"
    "$VENV/bin/pip" install --quiet --disable-pip-version-check "${PINS[@]}"
    echo "${PINS[*]}" > "$stamp"
fi
PY="$VENV/bin/python"
KV="$VENV/bin/kubernetes-validate"
echo "using ${PINS[*]}"

step "chart copies are in sync"
if ! diff -r config/crd "$CHART/files/crds"; then
    fail "$CHART/files/crds differs from config/crd (run tools/chart-check.sh --sync and commit)"
fi
if [[ "$(readlink -f "$CHART/files/scheduler.yaml")" != "$ROOT/config/scheduler/basalt-default.yaml" \
      || ! -f config/scheduler/basalt-default.yaml ]]; then
    fail "$CHART/files/scheduler.yaml must be a symlink to config/scheduler/basalt-default.yaml"
fi

OUT=$(mktemp -d)
trap 'rm -rf "$OUT"' EXIT
value_sets=(default "$CHART"/ci/*.yaml)
for set in "${value_sets[@]}"; do
    label=$(basename "$set" .yaml)
    fargs=()
    [[ "$set" != default ]] && fargs=(-f "$set")
    step "values: $label"
    "$PY" tools/helmcheck.py lint "$CHART" --strict --kube-version "v$KUBE_VERSION" "${fargs[@]}" || fail "lint ($label)"
    for mode in install upgrade; do
        extra=()
        [[ $mode == upgrade ]] && extra=(--upgrade)
        if ! "$PY" tools/helmcheck.py template basalt "$CHART" -n basalt-system --include-crds "${extra[@]}" "${fargs[@]}" \
            > "$OUT/$label-$mode.yaml"; then
            fail "render ($label, $mode)"
            continue
        fi
    done
    rendered="$OUT/$label-install.yaml"
    [[ -s "$rendered" ]] || { fail "empty render ($label)"; continue; }
    policy=()
    case "$label" in
        default) policy=(--expect-ha --expect-webhook) ;;
        certmanager-values|issuer-override-values) policy=(--expect-webhook) ;;
    esac
    "$PY" tools/chart_policy.py "$rendered" "${policy[@]}" || fail "policy ($label)"
done

step "every rendered built-in object: kubernetes-validate --strict -k $KUBE_VERSION"
# One run for all renders: loading the schemas dominates the time.
"$KV" --strict --quiet -k "$KUBE_VERSION" "$OUT"/*.yaml || fail "kubernetes-validate"

step "every rendered custom resource against our CRD schemas"
if ! "$PY" tools/validate_crs.py --crds config/crd "$OUT"/*.yaml > "$OUT/crs.txt" 2>&1; then
    fail "custom resources in the rendered chart"
fi
grep -v '^ok' "$OUT/crs.txt" || true

step "Dockerfile matches the chart (static binary, distroless/scratch, uid of podSecurityContext)"
uid=$("$PY" -c 'import sys, yaml; print(yaml.safe_load(open(sys.argv[1]))["podSecurityContext"]["runAsUser"])' "$CHART/values.yaml")
final_from=$(grep -E '^FROM ' Dockerfile | tail -1)
[[ "$final_from" =~ distroless/static|^FROM\ scratch ]] || fail "Dockerfile: the final stage must be distroless/static or scratch, not: $final_from"
grep -qE "^USER ${uid}(:${uid})?\$" Dockerfile || fail "Dockerfile: USER must be $uid, the chart's podSecurityContext.runAsUser"
grep -q -- '-unknown-linux-musl' Dockerfile || fail "Dockerfile: the binary must be built for a musl target (static)"
grep -qE '^ENTRYPOINT \["/usr/local/bin/basalt"\]' Dockerfile || fail "Dockerfile: ENTRYPOINT must be the basalt binary (the chart passes subcommands as args)"
echo "ok: Dockerfile final stage '$final_from', user $uid"

step "the flags the chart passes exist in the basalt binary"
if [[ -n "${BASALT_BIN:-}" ]]; then
    "$PY" tools/cli_contract.py "$OUT"/*-install.yaml --basalt "$BASALT_BIN" || fail "chart flags vs basalt CLI"
else
    echo "skipped: set BASALT_BIN to the basalt binary (the Rust test basalt/tests/chart.rs does)"
fi

step "Grafana dashboard queries only registered metrics"
"$PY" tools/dashboard_check.py config/grafana/basalt.json --root "$ROOT" || fail "config/grafana/basalt.json"

step "examples against the CRD schemas"
"$PY" tools/validate_crs.py --crds config/crd examples/*.yaml || fail "examples/*.yaml"

step "every value in values.yaml is used by a template"
"$PY" tools/values_check.py "$CHART" > "$OUT/values.txt" 2>&1 || { cat "$OUT/values.txt"; fail "values.yaml"; }
grep -v '^ok' "$OUT/values.txt" || true

step "RBAC: chart roles == docs/rbac.md, and cover the code's API calls"
"$PY" tools/rbac_check.py --rendered "$OUT/default-install.yaml" --doc docs/rbac.md --root "$ROOT" || fail "rbac"

step "the checks reject bad input"
if "$PY" tools/helmcheck.py lint "$CHART" --strict -f tools/testdata/chart/bad-schema-values.yaml > "$OUT/neg1.txt" 2>&1; then
    fail "lint accepted tools/testdata/chart/bad-schema-values.yaml"
else
    grep -q "replicas" "$OUT/neg1.txt" || fail "lint rejected bad values without naming controller.replicas: $(cat "$OUT/neg1.txt")"
    echo "ok: bad values rejected"
fi
if "$PY" tools/helmcheck.py template basalt "$CHART" -f tools/testdata/chart/bad-leader-values.yaml > /dev/null 2> "$OUT/neg2.txt"; then
    fail "render accepted 2 controller replicas without leader election"
else
    grep -q "leaderElection" "$OUT/neg2.txt" || fail "render failed without naming leaderElection: $(cat "$OUT/neg2.txt")"
    echo "ok: 2 replicas without leader election rejected"
fi
if "$PY" tools/validate_crs.py --crds config/crd tools/testdata/chart/bad-queue.yaml > "$OUT/neg3.txt" 2>&1; then
    fail "validate_crs accepted tools/testdata/chart/bad-queue.yaml"
else
    grep -q "weight" "$OUT/neg3.txt" && grep -q "bogus" "$OUT/neg3.txt" || fail "bad queue rejected without naming weight and bogus: $(cat "$OUT/neg3.txt")"
    echo "ok: bad custom resource rejected"
fi

cp -rL "$CHART" "$OUT/unused-chart"
sed -i 's/{{- with .priorityClassName }}/{{- with .noSuchValue }}/' "$OUT/unused-chart/templates/_helpers.tpl"
if "$PY" tools/values_check.py "$OUT/unused-chart" --only controller.priorityClassName > "$OUT/neg5.txt" 2>&1; then
    fail "values_check accepted a chart that no longer reads controller.priorityClassName"
else
    grep -q "unused value controller.priorityClassName" "$OUT/neg5.txt" || fail "values_check failed without naming controller.priorityClassName: $(cat "$OUT/neg5.txt")"
    echo "ok: an unused value rejected"
fi

sed 's/basalt_controller_leader{/basalt_controller_no_such_metric{/' config/grafana/basalt.json > "$OUT/bad-dashboard.json"
if "$PY" tools/dashboard_check.py "$OUT/bad-dashboard.json" --root "$ROOT" > "$OUT/neg4.txt" 2>&1; then
    fail "dashboard_check accepted a dashboard querying an unregistered metric"
else
    echo "ok: dashboard with an unregistered metric rejected"
fi

echo
if (( failures > 0 )); then
    echo "chart-check: $failures problem(s)" >&2
    exit 1
fi
echo "chart-check: all chart checks passed"
