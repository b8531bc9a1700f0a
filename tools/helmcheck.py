#!/usr/bin/env python3
"""helmcheck: `helm lint` and `helm template` for CI, on Helm v4's Go code (helm-python-sdk).

No `helm` binary can be installed here, so this small stand-in drives the Helm library through
the pinned PyPI package `helm-python-sdk==0.2.2`. It only lints and renders; it never talks to a
cluster (`lookup` returns nothing).

    helmcheck.py lint CHART [-f values.yaml ...] [--strict] [--kube-version v1.32.0]
    helmcheck.py template NAME CHART [-f values.yaml ...] [-n NS] [--include-crds] [--upgrade]

Exit status: 0 when clean, 1 on any lint error (or warning with --strict) or render failure.
"""
from __future__ import annotations

import argparse
import sys

import helm_python as helm

SEVERITY = {0: "UNKNOWN", 1: "INFO", 2: "WARNING", 3: "ERROR"}


def merged_values(files: list[str]) -> dict:
    """Values files merged the way Helm does: later files win, maps merge key by key."""
    merged: dict = {}
    for path in files:
        with open(path, encoding="utf-8") as f:
            merge_into(merged, helm.values_from_yaml(f.read()) or {})
    return merged


def merge_into(dst: dict, src: dict) -> None:
    for key, value in src.items():
        if isinstance(value, dict) and isinstance(dst.get(key), dict):
            merge_into(dst[key], value)
        else:
            dst[key] = value


def lint(args: argparse.Namespace) -> int:
    report = helm.lint(
        args.chart,
        merged_values(args.values),
        strict=args.strict,
        namespace=args.namespace,
        kube_version=args.kube_version,
    )
    failing = 3 if not args.strict else 2
    failed = bool(report.get("errors"))
    for message in report.get("messages") or []:
        severity = message.get("severity", 0)
        failed |= severity >= failing
        print(f"[{SEVERITY.get(severity, severity)}] {message.get('path', '')}: {message.get('error', '')}")
    for error in report.get("errors") or []:
        print(f"[ERROR] {error}")
    verdict = "FAILED" if failed else "passed"
    print(f"lint {verdict}: {args.chart} ({report.get('total_charts_linted', 0)} chart(s) linted)", file=sys.stderr)
    return 1 if failed else 0


def template(args: argparse.Namespace) -> int:
    chart = helm.Chart.load(args.chart)
    try:
        rendered = chart.render(
            merged_values(args.values),
            name=args.name,
            namespace=args.namespace,
            is_install=not args.upgrade,
            is_upgrade=args.upgrade,
        )
    except helm.HelmError as e:  # a broken template names file:line
        print(f"render failed: {e}", file=sys.stderr)
        return 1
    out = []
    if args.include_crds:
        for crd in chart.crds:
            out.append(f"---\n# Source: {crd['filename']}\n{crd['data'].strip()}\n")
    for path in sorted(rendered):
        body = rendered[path].strip()
        if path.endswith((".yaml", ".yml")) and body:
            out.append(f"---\n# Source: {path}\n{body}\n")
    sys.stdout.write("".join(out))
    return 0


def main() -> int:
    parser = argparse.ArgumentParser(prog="helmcheck", description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="command", required=True)
    p_lint = sub.add_parser("lint", help="lint a chart like `helm lint`")
    p_lint.add_argument("chart")
    p_lint.add_argument("--strict", action="store_true", help="fail on warnings too")
    p_lint.add_argument("--kube-version", default="v1.32.0")
    p_lint.set_defaults(run=lint)
    p_tpl = sub.add_parser("template", help="render a chart like `helm template`")
    p_tpl.add_argument("name")
    p_tpl.add_argument("chart")
    p_tpl.add_argument("--include-crds", action="store_true")
    p_tpl.add_argument("--upgrade", action="store_true", help="render as an upgrade, not an install")
    p_tpl.set_defaults(run=template)
    for p in (p_lint, p_tpl):
        p.add_argument("-f", "--values", action="append", default=[], help="values file (repeatable)")
        p.add_argument("-n", "--namespace", default="basalt-system")
    args = parser.parse_args()
    return args.run(args)


if __name__ == "__main__":
    sys.exit(main())
