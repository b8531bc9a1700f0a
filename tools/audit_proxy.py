#!/usr/bin/env python3
"""audit_proxy: a recording HTTP proxy in front of a Kubernetes API server, for RBAC tests.

    audit_proxy.py --kubeconfig UPSTREAM.kubeconfig --log requests.jsonl --port-file port.txt

Listens on 127.0.0.1 (plain HTTP, a free port written to --port-file), forwards every request to
the kubeconfig's server over TLS with its CA and bearer token, streams responses back (watches
included), and appends one JSON line per request: {"method", "path", "query", "user_agent"}.
Point a component's kubeconfig at the proxy to record exactly the requests that component makes.
Standard library only.
"""
from __future__ import annotations

import argparse
import base64
import http.client
import json
import re
import ssl
import sys
import threading
import urllib.parse
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

HOP_BY_HOP = {"connection", "keep-alive", "transfer-encoding", "content-length", "host", "authorization",
              "proxy-connection", "te", "trailer", "upgrade"}


def read_kubeconfig(path: str) -> tuple[str, str, str]:
    """Server URL, CA PEM and token of the (single-cluster) kubeconfig `basalt up` writes."""
    text = open(path, encoding="utf-8").read()

    def field(name: str) -> str:
        m = re.search(rf"^\s*{name}:\s*(\S+)\s*$", text, re.M)
        if not m:
            sys.exit(f"{path}: no {name}")
        return m.group(1).strip("'\"")

    return field("server"), base64.b64decode(field("certificate-authority-data")).decode(), field("token")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--kubeconfig", required=True)
    parser.add_argument("--log", required=True)
    parser.add_argument("--port-file", required=True)
    args = parser.parse_args()
    server_url, ca_pem, token = read_kubeconfig(args.kubeconfig)
    upstream = urllib.parse.urlsplit(server_url)
    tls = ssl.create_default_context(cadata=ca_pem)
    log_lock = threading.Lock()
    log = open(args.log, "a", encoding="utf-8")

    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, *_: object) -> None:  # quiet: the JSON log is the record
            pass

        def forward(self) -> None:
            url = urllib.parse.urlsplit(self.path)
            with log_lock:
                log.write(json.dumps({"method": self.command, "path": url.path, "query": url.query,
                                      "user_agent": self.headers.get("User-Agent", "")}) + "\n")
                log.flush()
            length = int(self.headers.get("Content-Length") or 0)
            body = self.rfile.read(length) if length else None
            headers = {k: v for k, v in self.headers.items() if k.lower() not in HOP_BY_HOP}
            headers["Authorization"] = f"Bearer {token}"
            conn = http.client.HTTPSConnection(upstream.hostname, upstream.port, context=tls, timeout=3600)
            try:
                conn.request(self.command, self.path, body=body, headers=headers)
                resp = conn.getresponse()
                self.send_response(resp.status, resp.reason)
                for k, v in resp.getheaders():
                    if k.lower() not in HOP_BY_HOP:
                        self.send_header(k, v)
                self.send_header("Transfer-Encoding", "chunked")
                self.end_headers()
                while True:
                    chunk = resp.read1(65536)
                    if not chunk:
                        break
                    self.wfile.write(b"%x\r\n%s\r\n" % (len(chunk), chunk))
                    self.wfile.flush()
                self.wfile.write(b"0\r\n\r\n")
                self.wfile.flush()
            except (BrokenPipeError, ConnectionResetError):
                self.close_connection = True
            finally:
                conn.close()

        do_GET = do_POST = do_PUT = do_PATCH = do_DELETE = do_HEAD = forward

    httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    httpd.daemon_threads = True
    with open(args.port_file + ".tmp", "w", encoding="utf-8") as f:
        f.write(str(httpd.server_address[1]))
    import os
    os.replace(args.port_file + ".tmp", args.port_file)
    httpd.serve_forever()
    return 0


if __name__ == "__main__":
    sys.exit(main())
