#!/usr/bin/env bash
# A real Kubernetes control plane on loopback for Basalt's tests: etcd + kube-apiserver (RBAC,
# service-account tokens, generated certificates), kube-controller-manager (garbage collection,
# namespace deletion, ServiceAccounts) and optionally kube-scheduler, built from the Go modules
# pinned in this folder's go.mod. See docs/real-cluster.md.
#
#   realcluster.sh build            build the binaries into $REALCLUSTER_BIN if missing
#   realcluster.sh start DIR        start etcd + kube-apiserver + kube-controller-manager with state
#                                   in DIR, wait for /readyz, write DIR/admin.kubeconfig; prints
#                                   the API server URL
#   realcluster.sh stop DIR         stop what `start DIR` started (SIGTERM, then SIGKILL after 10 s)
#   realcluster.sh cert DIR NAME    issue DIR/pki/NAME.{crt,key} for 127.0.0.1 from DIR's CA (webhooks)
#   realcluster.sh bin NAME         print the path of a built binary (building it if missing)
#   realcluster.sh built            exit 0 if every binary is built, else 1 and name the missing
#                                   ones (CI: decide whether to run the real-cluster tests)
#
# Environment: REALCLUSTER_BIN (default $HOME/.cache/basalt-realcluster/<go.mod hash>/bin),
# REALCLUSTER_PORT (API server port, default: a free one), REALCLUSTER_SCHEDULER=1 also starts
# kube-scheduler, REALCLUSTER_CONTROLLER_MANAGER=0 leaves kube-controller-manager out, REALCLUSTER_NO_BUILD=1 makes `start` fail at once instead of building missing
# binaries (a cold build takes about an hour on a busy 2-core machine). Needs Go (go.mod's version) and openssl; the Go module and build caches are the
# go command's defaults under $HOME.
set -euo pipefail

HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
K8S_VERSION="$(awk '$1=="k8s.io/kubernetes"{print $2; exit}' "$HERE/go.mod")"
STAMP="$(cat "$HERE/go.mod" "$HERE/go.sum" "$HERE"/cmd/*/main.go | sha256sum | cut -c1-12)"
BIN="${REALCLUSTER_BIN:-$HOME/.cache/basalt-realcluster/$STAMP/bin}"
COMPONENTS=(kube-apiserver kube-scheduler kube-controller-manager etcd)

die() { echo "realcluster: $*" >&2; exit 1; }

missing_components() {
    local c
    for c in "${COMPONENTS[@]}"; do [[ -x "$BIN/$c" ]] || echo "$c"; done
}

built() {
    local missing
    missing="$(missing_components | tr '\n' ' ')"
    [[ -z "$missing" ]] && { echo "realcluster: built in $BIN" >&2; return 0; }
    echo "realcluster: not built in $BIN: ${missing% } (run tools/realcluster/realcluster.sh build)" >&2
    return 1
}

build() {
    local missing=() c
    for c in $(missing_components); do missing+=("./cmd/$c"); done
    ((${#missing[@]})) || return 0
    if [[ "${REALCLUSTER_NO_BUILD:-0}" == 1 ]]; then
        built || true
        die "REALCLUSTER_NO_BUILD=1: not building ${missing[*]}"
    fi
    command -v go >/dev/null || die "go is not on PATH: install Go $(awk '$1=="go"{print $2}' "$HERE/go.mod") or newer"
    mkdir -p "$BIN"
    local major minor
    major="${K8S_VERSION#v}"; major="${major%%.*}"
    minor="${K8S_VERSION#v*.}"; minor="${minor%%.*}"
    local v=k8s.io/component-base/version
    local ldflags="-s -w -X $v.gitVersion=$K8S_VERSION -X $v.gitMajor=$major -X $v.gitMinor=$minor"
    ldflags+=" -X $v.gitTreeState=clean -X $v.buildDate=1970-01-01T00:00:00Z"
    echo "realcluster: building ${missing[*]} ($K8S_VERSION) into $BIN" >&2
    local start=$SECONDS
    (cd "$HERE" && nice -n 10 go build -trimpath -ldflags "$ldflags" -o "$BIN/" "${missing[@]}")
    echo "realcluster: built in $((SECONDS - start)) s" >&2
}

free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'; }

sign() { # pki-dir name subject extensions
    local d="$1"
    openssl req -new -key "$d/$2.key" -subj "$3" -out "$d/$2.csr" 2>/dev/null
    printf '%s\n' "$4" >"$d/$2.ext"
    openssl x509 -req -in "$d/$2.csr" -CA "$d/ca.crt" -CAkey "$d/ca.key" -CAcreateserial \
        -days 30 -extfile "$d/$2.ext" -out "$d/$2.crt" 2>/dev/null
}

# A serving certificate for 127.0.0.1/localhost signed by DIR's CA (for webhook servers the API
# server must trust): DIR/pki/NAME.crt and NAME.key; prints the two paths.
serving_cert() { # dir name
    local d="$1/pki"
    [[ -f "$d/ca.key" ]] || die "no CA in $d: run realcluster.sh start $1 first"
    openssl genpkey -algorithm RSA -pkeyopt rsa_keygen_bits:2048 -out "$d/$2.key" 2>/dev/null
    sign "$d" "$2" "/CN=$2" "$(printf '%s\n' \
        'basicConstraints=CA:FALSE' 'keyUsage=critical,digitalSignature,keyEncipherment' \
        'extendedKeyUsage=serverAuth' 'subjectAltName=IP:127.0.0.1,DNS:localhost')"
    echo "$d/$2.crt $d/$2.key"
}

# Certificates: one CA signs the API server's serving certificate and the admin's client
# certificate (group system:masters); a separate RSA key signs service-account tokens.
gen_certs() {
    local d="$1/pki"
    mkdir -p "$d"
    [[ -f "$d/ca.crt" ]] && return 0
    command -v openssl >/dev/null || die "openssl is not on PATH (Debian: apt-get install openssl)"
    local key
    for key in ca apiserver admin sa; do
        openssl genpkey -algorithm RSA -pkeyopt rsa_keygen_bits:2048 -out "$d/$key.key" 2>/dev/null
    done
    openssl pkey -in "$d/sa.key" -pubout -out "$d/sa.pub"
    openssl req -x509 -new -key "$d/ca.key" -subj "/CN=basalt-realcluster-ca" -days 30 \
        -addext "basicConstraints=critical,CA:TRUE" -addext "keyUsage=critical,keyCertSign,cRLSign" \
        -out "$d/ca.crt" 2>/dev/null
    sign "$d" apiserver "/CN=kube-apiserver" "$(printf '%s\n' \
        'basicConstraints=CA:FALSE' 'keyUsage=critical,digitalSignature,keyEncipherment' \
        'extendedKeyUsage=serverAuth' \
        'subjectAltName=IP:127.0.0.1,IP:10.96.0.1,DNS:localhost,DNS:kubernetes,DNS:kubernetes.default,DNS:kubernetes.default.svc,DNS:kubernetes.default.svc.cluster.local')"
    sign "$d" admin "/O=system:masters/CN=basalt-realcluster-admin" "$(printf '%s\n' \
        'basicConstraints=CA:FALSE' 'keyUsage=critical,digitalSignature,keyEncipherment' \
        'extendedKeyUsage=clientAuth')"
}

b64() { base64 -w0 <"$1"; }

write_kubeconfig() { # dir url
    local d="$1/pki"
    umask 077
    cat >"$1/admin.kubeconfig" <<KC
apiVersion: v1
kind: Config
clusters:
- name: realcluster
  cluster:
    server: $2
    certificate-authority-data: $(b64 "$d/ca.crt")
users:
- name: admin
  user:
    client-certificate-data: $(b64 "$d/admin.crt")
    client-key-data: $(b64 "$d/admin.key")
contexts:
- name: realcluster
  context: {cluster: realcluster, user: admin}
current-context: realcluster
KC
}

alive() { [[ -f "$1" ]] && kill -0 "$(cat "$1")" 2>/dev/null; }

start() {
    local dir="${1:?usage: realcluster.sh start DIR}"
    mkdir -p "$dir/logs"
    dir="$(cd "$dir" && pwd)"
    alive "$dir/kube-apiserver.pid" && die "a control plane already runs in $dir (realcluster.sh stop $dir)"
    build
    gen_certs "$dir"
    local etcd_port peer_port port
    etcd_port=$(free_port); peer_port=$(free_port)
    port="${REALCLUSTER_PORT:-$(free_port)}"
    # setsid: each component leads its own process group, so `stop` reaches it and nothing else.
    setsid "$BIN/etcd" --name realcluster --data-dir "$dir/etcd" \
        --listen-client-urls "http://127.0.0.1:$etcd_port" --advertise-client-urls "http://127.0.0.1:$etcd_port" \
        --listen-peer-urls "http://127.0.0.1:$peer_port" --initial-advertise-peer-urls "http://127.0.0.1:$peer_port" \
        --initial-cluster "realcluster=http://127.0.0.1:$peer_port" --unsafe-no-fsync \
        >"$dir/logs/etcd.log" 2>&1 </dev/null &
    echo $! >"$dir/etcd.pid"
    local p="$dir/pki"
    # Every request's user, verb, resource and response code, one JSON line each, for tests
    # (which requests did RBAC refuse?) and for debugging: DIR/logs/audit.log.
    printf '%s\n' 'apiVersion: audit.k8s.io/v1' 'kind: Policy' 'omitStages: [RequestReceived]' \
        'rules:' '- level: Metadata' >"$dir/audit-policy.yaml"
    setsid "$BIN/kube-apiserver" \
        --audit-policy-file "$dir/audit-policy.yaml" --audit-log-path "$dir/logs/audit.log" \
        --audit-log-maxsize 200 --audit-log-maxbackup 1 \
        --etcd-servers "http://127.0.0.1:$etcd_port" \
        --bind-address 127.0.0.1 --advertise-address 127.0.0.1 --secure-port "$port" \
        --tls-cert-file "$p/apiserver.crt" --tls-private-key-file "$p/apiserver.key" \
        --client-ca-file "$p/ca.crt" \
        --service-account-issuer https://kubernetes.default.svc.cluster.local \
        --service-account-key-file "$p/sa.pub" --service-account-signing-key-file "$p/sa.key" \
        --api-audiences https://kubernetes.default.svc.cluster.local \
        --authorization-mode Node,RBAC \
        --service-cluster-ip-range 10.96.0.0/16 \
        --endpoint-reconciler-type none \
        --enable-aggregator-routing=true \
        --profiling=false \
        >"$dir/logs/kube-apiserver.log" 2>&1 </dev/null &
    echo $! >"$dir/kube-apiserver.pid"
    local url="https://127.0.0.1:$port"
    write_kubeconfig "$dir" "$url"
    local deadline=$((SECONDS + ${REALCLUSTER_START_TIMEOUT:-180}))
    until curl -fsS --cacert "$p/ca.crt" --cert "$p/admin.crt" --key "$p/admin.key" "$url/readyz" >/dev/null 2>&1; do
        if ! alive "$dir/etcd.pid"; then tail -20 "$dir/logs/etcd.log" >&2; stop "$dir"; die "etcd exited (log: $dir/logs/etcd.log)"; fi
        if ! alive "$dir/kube-apiserver.pid"; then tail -20 "$dir/logs/kube-apiserver.log" >&2; stop "$dir"; die "kube-apiserver exited (log: $dir/logs/kube-apiserver.log)"; fi
        if ((SECONDS > deadline)); then stop "$dir"; die "kube-apiserver not ready within ${REALCLUSTER_START_TIMEOUT:-180} s (log: $dir/logs/kube-apiserver.log)"; fi
        sleep 0.5
    done
    if [[ "${REALCLUSTER_CONTROLLER_MANAGER:-1}" == 1 ]]; then
        # The built-in controllers every real cluster runs: garbage collection (ownerReferences),
        # namespace deletion, a namespace's `default` ServiceAccount, node lifecycle. Not the
        # IPAM or certificate-signing controllers, which need what this plane has not.
        setsid "$BIN/kube-controller-manager" --kubeconfig "$dir/admin.kubeconfig" \
            --authentication-kubeconfig "$dir/admin.kubeconfig" --authorization-kubeconfig "$dir/admin.kubeconfig" \
            --bind-address 127.0.0.1 --secure-port "$(free_port)" --leader-elect=false \
            --service-account-private-key-file "$p/sa.key" --root-ca-file "$p/ca.crt" \
            --controllers '*,-node-ipam-controller,-certificatesigningrequest-signing-controller' \
            --profiling=false \
            >"$dir/logs/kube-controller-manager.log" 2>&1 </dev/null &
        echo $! >"$dir/kube-controller-manager.pid"
    fi
    if [[ "${REALCLUSTER_SCHEDULER:-0}" == 1 ]]; then
        setsid "$BIN/kube-scheduler" --kubeconfig "$dir/admin.kubeconfig" \
            --authentication-kubeconfig "$dir/admin.kubeconfig" --authorization-kubeconfig "$dir/admin.kubeconfig" \
            --bind-address 127.0.0.1 --secure-port "$(free_port)" --leader-elect=false \
            >"$dir/logs/kube-scheduler.log" 2>&1 </dev/null &
        echo $! >"$dir/kube-scheduler.pid"
    fi
    echo "$url" >"$dir/server"
    echo "realcluster: kube-apiserver $K8S_VERSION ready at $url; export KUBECONFIG=$dir/admin.kubeconfig" >&2
    echo "$url"
}

stop_one() { # pidfile
    local f="$1" pid i
    [[ -f "$f" ]] || return 0
    pid="$(cat "$f")"
    if kill -0 "$pid" 2>/dev/null; then
        kill -TERM -- "-$pid" 2>/dev/null || kill -TERM "$pid" 2>/dev/null || true
        for ((i = 0; i < 100; i++)); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
        kill -0 "$pid" 2>/dev/null && { kill -KILL -- "-$pid" 2>/dev/null || kill -KILL "$pid" 2>/dev/null || true; }
    fi
    rm -f "$f"
}

stop() {
    local dir="${1:?usage: realcluster.sh stop DIR}"
    # The scheduler, the controller manager and the API server first, so they do not log etcd's disappearance.
    stop_one "$dir/kube-scheduler.pid"
    stop_one "$dir/kube-controller-manager.pid"
    stop_one "$dir/kube-apiserver.pid"
    stop_one "$dir/etcd.pid"
    rm -f "$dir/server"
}

case "${1:-}" in
    build) build ;;
    start) start "${2:-}" ;;
    stop) stop "${2:-}" ;;
    cert) serving_cert "${2:?usage: realcluster.sh cert DIR NAME}" "${3:?usage: realcluster.sh cert DIR NAME}" ;;
    bin) build; echo "$BIN/${2:?usage: realcluster.sh bin NAME}" ;;
    built) built ;;
    *) die "usage: realcluster.sh build | built | start DIR | stop DIR | cert DIR NAME | bin NAME" ;;
esac
