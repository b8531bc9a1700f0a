#!/usr/bin/env python3
"""Does `kubectl get --watch` show a status write made right after it started?

Against a running API server (`basalt up --port 0 --kubeconfig X`, or any cluster), for each
iteration: start kubectl's watch of one pod, wait for its first line (the object as kubectl's
GET saw it; with --from-spawn, do not wait), wait a random 0..--max-delay-ms, write the pod's status.message once through the
API (merge patch on pods/status), and wait --timeout seconds for kubectl to print the new value.
Two forms of the same watch are compared:

  name:  kubectl get pod w --watch ...                                  (GET, then WATCH from 0)
  list:  kubectl get pods --field-selector metadata.name=w --watch ...  (LIST, then WATCH from its RV)

Prints the misses per form. Used for issue 16 (docs/devcluster.md, "Watch semantics").
"""

import argparse
import base64
import http.client
import json
import random
import ssl
import subprocess
import sys
import tempfile
import threading
import time
import queue


def load_kubeconfig(path):
    # The kubeconfig `basalt up` writes: one cluster with CA data, one user with a token.
    text = open(path).read()
    server = ca = token = None
    for line in text.splitlines():
        s = line.strip()
        if s.startswith("server:"):
            server = s.split(":", 1)[1].strip()
        elif s.startswith("certificate-authority-data:"):
            ca = base64.b64decode(s.split(":", 1)[1].strip()).decode()
        elif s.startswith("token:"):
            token = s.split(":", 1)[1].strip()
    if not (server and ca and token):
        sys.exit(f"{path}: expected a server, certificate-authority-data and a token")
    return server, ca, token


class Api:
    def __init__(self, kubeconfig):
        server, ca, self.token = load_kubeconfig(kubeconfig)
        hostport = server.split("://", 1)[1]
        self.host, self.port = hostport.rsplit(":", 1)
        f = tempfile.NamedTemporaryFile("w", suffix=".pem", delete=False)
        f.write(ca)
        f.close()
        self.ctx = ssl.create_default_context(cafile=f.name)

    def call(self, method, path, body=None, ct="application/json"):
        c = http.client.HTTPSConnection(self.host, int(self.port), context=self.ctx, timeout=10)
        headers = {"Authorization": f"Bearer {self.token}", "Content-Type": ct}
        c.request(method, path, body=json.dumps(body) if body is not None else None, headers=headers)
        r = c.getresponse()
        data = r.read()
        c.close()
        if r.status >= 300 and not (method == "DELETE" and r.status == 404):
            raise RuntimeError(f"{method} {path}: {r.status} {data[:200]!r}")
        return json.loads(data) if data else None


def watch_lines(kubeconfig, form, ns):
    jp = 'jsonpath={.status.message}{"\\n"}'
    if form == "name":
        args = ["get", "pod", "w", "--watch", "-o", jp]
    else:
        args = ["get", "pods", "--field-selector", "metadata.name=w", "--watch", "-o", jp]
    p = subprocess.Popen(["kubectl", "--kubeconfig", kubeconfig, "-n", ns] + args,
                         stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
    q = queue.Queue()

    def pump():
        for line in p.stdout:
            q.put(line.rstrip("\n"))
        q.put(None)

    threading.Thread(target=pump, daemon=True).start()
    return p, q


def run(api, kubeconfig, form, n, max_delay, timeout, ns, from_spawn):
    misses = []
    for i in range(n):
        value = f"{form}-{i}"
        p, q = watch_lines(kubeconfig, form, ns)
        try:
            if not from_spawn:
                first = q.get(timeout=30)
                if first is None:
                    sys.exit(f"kubectl ({form}) ended before printing the object")
            delay = random.uniform(0, max_delay) / 1000
            time.sleep(delay)
            api.call("PATCH", f"/api/v1/namespaces/{ns}/pods/w/status",
                     {"status": {"message": value}}, "application/merge-patch+json")
            deadline = time.time() + timeout
            seen = False
            while time.time() < deadline:
                try:
                    line = q.get(timeout=max(0.01, deadline - time.time()))
                except queue.Empty:
                    break
                if line is None:
                    break
                if line == value:
                    seen = True
                    break
            if not seen:
                misses.append(round(delay * 1000, 1))
        finally:
            p.kill()
            p.wait()
    return misses


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--kubeconfig", required=True)
    ap.add_argument("--iterations", type=int, default=100, help="per form")
    ap.add_argument("--max-delay-ms", type=float, default=30.0)
    ap.add_argument("--timeout", type=float, default=3.0, help="seconds to wait for the new value")
    ap.add_argument("--namespace", default="default")
    ap.add_argument("--forms", default="name,list")
    ap.add_argument("--from-spawn", action="store_true",
                    help="count the delay from starting kubectl, not from its first line, so that "
                         "writes land around its GET (kubectl's start-up takes ~100-300 ms)")
    a = ap.parse_args()
    api = Api(a.kubeconfig)
    ns = a.namespace
    api.call("DELETE", f"/api/v1/namespaces/{ns}/pods/w?gracePeriodSeconds=0")
    time.sleep(0.5)
    # Nobody schedules it: only this script writes the pod after its creation.
    api.call("POST", f"/api/v1/namespaces/{ns}/pods", {
        "apiVersion": "v1", "kind": "Pod", "metadata": {"name": "w"},
        "spec": {"schedulerName": "nobody", "containers": [{"name": "m", "image": "busybox"}]}})
    api.call("PATCH", f"/api/v1/namespaces/{ns}/pods/w/status",
             {"status": {"message": "start"}}, "application/merge-patch+json")
    failed = False
    for form in a.forms.split(","):
        t0 = time.time()
        misses = run(api, a.kubeconfig, form, a.iterations, a.max_delay_ms, a.timeout, ns,
                     a.from_spawn)
        print(f"{form}: {len(misses)} of {a.iterations} writes never shown "
              f"(delays of the missed writes, ms: {misses[:20]}) in {time.time() - t0:.0f}s")
        failed |= bool(misses) and form == "list"
    sys.exit(1 if failed else 0)


if __name__ == "__main__":
    main()
