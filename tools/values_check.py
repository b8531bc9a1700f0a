#!/usr/bin/env python3
"""values_check: every value in the chart's values.yaml is used by a template.

    values_check.py CHART [--base extra-values.yaml ...] [--only dotted.path ...]

For each leaf of values.yaml (a scalar, a list, or an empty map), the chart is rendered with the
default values and with every ci/*.yaml set, once as is and once with that leaf changed (a
boolean flipped, a number or a quantity raised, another enum value, an item added or removed). A
leaf is used when the change alters some render, or makes a template `fail` (a template read it
to refuse the combination). Generated keys and certificates, which differ on every render, are
reduced to the certificate's expiry day (openssl) before comparing. A leaf no render depends on
is reported; exit status 1.

A change the values schema refuses is a problem of this tool (pick a better change in
OVERRIDES), reported as such.
"""
from __future__ import annotations

import argparse
import copy
import glob
import json
import os
import base64
import re
import subprocess
import sys

import helm_python as helm
import yaml

# Changes for leaves the generic rules cannot make valid (path -> new value).
OVERRIDES = {
    "image.digest": "sha256:" + "ab" * 32,
    "imagePullSecrets": [{"name": "values-check"}],
    "webhook.certManager.issuerRef": {"name": "values-check", "kind": "ClusterIssuer", "group": "cert-manager.io"},
    "webhook.namespaceSelectorExpressions": [{"key": "values-check", "operator": "Exists"}],
    "controller.tolerations": [{"key": "values-check", "operator": "Exists"}],
    "webhook.tolerations": [{"key": "values-check", "operator": "Exists"}],
    "controller.affinity": {"nodeAffinity": {"preferredDuringSchedulingIgnoredDuringExecution": [
        {"weight": 1, "preference": {"matchExpressions": [{"key": "values-check", "operator": "Exists"}]}}]}},
    "webhook.affinity": {"nodeAffinity": {"preferredDuringSchedulingIgnoredDuringExecution": [
        {"weight": 1, "preference": {"matchExpressions": [{"key": "values-check", "operator": "Exists"}]}}]}},
    "scheduler.configOverride": "actions: \"enqueue, allocate\"\ntiers:\n- plugins:\n  - name: gang\n",
    "podSecurityContext.seccompProfile.type": "Unconfined",
}
CERT_FIELDS = re.compile(r"^(\s*(?:ca\.crt|tls\.crt|tls\.key|caBundle):)\s*(\S+)\s*$", re.M)


def cert_summary(match: re.Match) -> str:
    """Generated keys and certificates differ on every render: keep only a certificate's expiry
    day (what webhook.generatedCertValidityDays decides)."""
    try:
        pem = base64.b64decode(match.group(2))
    except ValueError:
        return f"{match.group(1)} <not base64>"
    if b"CERTIFICATE" not in pem:
        return f"{match.group(1)} <generated key>"
    end = subprocess.run(["openssl", "x509", "-noout", "-enddate"], input=pem, capture_output=True).stdout
    day = " ".join(end.decode().split()[0:2] + end.decode().split()[3:4])  # notAfter=Mon DD ... YYYY
    return f"{match.group(1)} <certificate {day}>"


def leaves(values, prefix=()):
    """(path, value) of every scalar, list and empty map."""
    if isinstance(values, dict) and values:
        for key, value in values.items():
            yield from leaves(value, prefix + (key,))
    else:
        yield prefix, values


def schema_at(schema: dict, path: tuple) -> dict:
    node = schema
    for key in path:
        node = (node.get("properties") or {}).get(key) or {}
    return node


def changed(path: tuple, value, schema: dict):
    dotted = ".".join(path)
    if dotted in OVERRIDES:
        return OVERRIDES[dotted]
    enum = schema_at(schema, path).get("enum")
    if enum:
        others = [e for e in enum if e != value]
        if others:
            return others[0]
    if isinstance(value, bool):
        return not value
    if isinstance(value, (int, float)):
        return value + 1
    if isinstance(value, str):
        m = re.fullmatch(r"(\d+)(\D*)", value)
        if m:
            return f"{int(m.group(1)) + 1}{m.group(2)}"
        return value + "-changed" if value else "values-check"
    if isinstance(value, list):
        if len(value) > 1:
            return value[:-1]
        if value and isinstance(value[0], str):
            return value + [value[0] + "-changed"]
        return value + [{"values-check": "x"}] if value else ["values-check"]
    if isinstance(value, dict):
        return {"values-check.example.com/key": "x"}
    if value is None:
        return "values-check"
    raise ValueError(f"no change for {dotted}={value!r}")


def set_path(values: dict, path: tuple, value) -> dict:
    out = copy.deepcopy(values)
    node = out
    for key in path[:-1]:
        node = node.setdefault(key, {})
    node[path[-1]] = value
    return out


def merge(dst: dict, src: dict) -> dict:
    out = copy.deepcopy(dst)
    for key, value in src.items():
        out[key] = merge(out[key], value) if isinstance(value, dict) and isinstance(out.get(key), dict) else value
    return out


def render(chart, values: dict) -> tuple[str, str]:
    """("ok", normalised render) or ("schema"|"fail", message)."""
    try:
        rendered = chart.render(values, name="basalt", namespace="basalt-system", is_install=True, is_upgrade=False)
    except helm.HelmError as e:
        text = str(e)
        kind = "schema" if "schema" in text.lower() else "fail"
        return kind, text
    body = "\n".join(f"# {p}\n{rendered[p]}" for p in sorted(rendered))
    return "ok", CERT_FIELDS.sub(cert_summary, body)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("chart")
    parser.add_argument("--base", action="append", default=[], help="extra values set to render with")
    parser.add_argument("--only", action="append", default=[], help="check only leaves under this dotted path")
    args = parser.parse_args()
    chart = helm.Chart.load(args.chart)
    with open(os.path.join(args.chart, "values.yaml"), encoding="utf-8") as f:
        defaults = yaml.safe_load(f) or {}
    with open(os.path.join(args.chart, "values.schema.json"), encoding="utf-8") as f:
        schema = json.load(f)
    bases = [("default", {})]
    for path in sorted(glob.glob(os.path.join(args.chart, "ci", "*.yaml"))) + args.base:
        with open(path, encoding="utf-8") as f:
            bases.append((os.path.basename(path), yaml.safe_load(f) or {}))
    base_renders = []
    for name, overlay in bases:
        values = merge(defaults, overlay)
        status, out = render(chart, values)
        if status != "ok":
            print(f"ERROR values set {name} does not render: {out}")
            return 1
        base_renders.append((name, values, out))
    unused, bad_change = [], []
    count = 0
    for path, value in leaves(defaults):
        dotted = ".".join(path)
        if args.only and not any(dotted == o or dotted.startswith(o + ".") for o in args.only):
            continue
        count += 1
        new = changed(path, value, schema)
        used_by = None
        refusals = []
        for name, values, before in base_renders:
            status, after = render(chart, set_path(values, path, new))
            if status == "fail":
                used_by = f"{name} (a template refuses it: {after.splitlines()[0][:120]})"
                break
            if status == "schema":
                refusals.append(after.splitlines()[0][:200])
                continue
            if after != before:
                used_by = name
                break
        if used_by:
            print(f"ok    {dotted}: {value!r} -> {new!r} changes the {used_by} render")
        elif refusals and len(refusals) == len(base_renders):
            bad_change.append(f"{dotted}: the schema refuses {new!r}: {refusals[0]}")
        else:
            unused.append(f"{dotted}: changing {value!r} to {new!r} changes no render")
    for line in bad_change:
        print(f"ERROR {line} (fix values_check.OVERRIDES)")
    for line in unused:
        print(f"ERROR unused value {line} (use it in a template or remove it from values.yaml, "
              f"values.schema.json and docs/helm.md)")
    print(f"values: {count} leaves, {len(unused)} unused, {len(bad_change)} unchecked", file=sys.stderr)
    return 1 if unused or bad_change else 0


if __name__ == "__main__":
    sys.exit(main())
