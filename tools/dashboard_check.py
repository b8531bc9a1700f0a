#!/usr/bin/env python3
"""dashboard_check: the Grafana dashboard only queries metrics Basalt's code registers.

    dashboard_check.py config/grafana/basalt.json [--root .]

Registered names are read from the prometheus-client registrations in `*/src/**/metrics*.rs`
(`Registry::with_prefix`, `sub_registry_with_prefix`, `register("name", ...)`; counters gain
`_total`, histograms `_bucket`/`_sum`/`_count`). Also checks the dashboard's shape: unique panel
ids, a Prometheus datasource variable, every query with a refId.

Exit status: 0 when all holds, 1 otherwise.
"""
from __future__ import annotations

import argparse
import glob
import json
import os
import re
import sys

SUFFIXES = ("_total", "_bucket", "_sum", "_count", "_created")


def registered(root: str) -> set[str]:
    """Full metric names, following which registry variable each `register` call is made on."""
    names = set()
    for path in glob.glob(os.path.join(root, "*/src/**/metrics*.rs"), recursive=True):
        text = open(path, encoding="utf-8").read()
        prefix: dict[str, str] = {}
        events = []
        for m in re.finditer(r'let\s+(?:mut\s+)?(\w+)\s*=\s*Registry::with_prefix\(\s*"(\w+)"', text):
            events.append((m.start(), "root", m.group(1), m.group(2)))
        for m in re.finditer(r'let\s+(?:mut\s+)?(\w+)\s*=\s*(\w+)\s*\.\s*sub_registry_with_prefix\(\s*"(\w+)"', text):
            events.append((m.start(), "sub", m.group(1), (m.group(2), m.group(3))))
        for m in re.finditer(r'(\w+)\s*\.\s*register\(\s*"(\w+)"', text):
            events.append((m.start(), "metric", m.group(1), m.group(2)))
        for _, what, var, arg in sorted(events, key=lambda e: e[0]):
            if what == "root":
                prefix[var] = arg
            elif what == "sub" and arg[0] in prefix:
                prefix[var] = f"{prefix[arg[0]]}_{arg[1]}"
            elif what == "metric" and var in prefix:
                names.add(f"{prefix[var]}_{arg}")
    return names


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("dashboard")
    parser.add_argument("--root", default=".")
    args = parser.parse_args()
    dash = json.load(open(args.dashboard, encoding="utf-8"))
    known = registered(args.root)
    problems = []
    if not known:
        problems.append("no metric registrations found under */src/**/metrics*.rs")
    ids = [p["id"] for p in dash.get("panels", [])]
    if len(ids) != len(set(ids)):
        problems.append("panel ids are not unique")
    if not any(v.get("type") == "datasource" and v.get("query") == "prometheus"
               for v in dash.get("templating", {}).get("list", [])):
        problems.append("no Prometheus datasource variable")
    used = set()
    for panel in dash.get("panels", []):
        for target in panel.get("targets", []):
            if not target.get("refId"):
                problems.append(f"panel {panel.get('title')!r}: a query without refId")
            for metric in re.findall(r"\bbasalt_\w+", target.get("expr", "")):
                base = metric
                for suffix in SUFFIXES:
                    if base.endswith(suffix) and base[: -len(suffix)] in known:
                        base = base[: -len(suffix)]
                used.add(base)
                if base not in known:
                    problems.append(f"panel {panel.get('title')!r}: {metric} is not registered by any metrics*.rs")
    for v in dash.get("templating", {}).get("list", []):
        for metric in re.findall(r"\bbasalt_\w+", json.dumps(v.get("query", ""))):
            if metric not in known:
                problems.append(f"variable {v.get('name')!r}: {metric} is not registered")
    for p in problems:
        print(f"ERROR {p}")
    unused = sorted(known - used)
    if unused:
        print(f"note  registered but not on the dashboard: {', '.join(unused)}")
    print(f"dashboard: {len(used)} metric(s) queried, {len(known)} registered, {len(problems)} problem(s)", file=sys.stderr)
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
