#!/usr/bin/env python3
"""validate_crs: check custom resources against Basalt's CRD schemas, offline.

    validate_crs.py --crds config/crd FILE.yaml [FILE.yaml ...]

Every document whose group is served by one of the CRDs is validated against that version's
openAPIV3Schema with an OpenAPI-3.0-aware validator (kube-derived schemas use `nullable`), with
unknown fields rejected the way the API server's `fieldValidation=Strict` does (except under
`x-kubernetes-preserve-unknown-fields`). Built-in kinds are left to kubernetes-validate; a few
third-party kinds the chart may render (cert-manager, Prometheus Operator) are listed as skipped
because their schemas are not vendored; any other unknown kind is an error.

Exit status: 0 when every custom resource validates, 1 otherwise.
"""
from __future__ import annotations

import argparse
import copy
import glob
import os
import sys

import yaml
from openapi_schema_validator import OAS30Validator

BUILTIN_GROUPS = {"", "apps", "batch", "policy", "autoscaling"}
THIRD_PARTY = {
    ("cert-manager.io", "Issuer"),
    ("cert-manager.io", "ClusterIssuer"),
    ("cert-manager.io", "Certificate"),
    ("monitoring.coreos.com", "ServiceMonitor"),
}


def strict(schema: dict) -> dict:
    """Reject unknown fields like fieldValidation=Strict, except where unknown fields are kept."""
    if not isinstance(schema, dict):
        return schema
    out = dict(schema)
    if out.get("x-kubernetes-preserve-unknown-fields"):
        return out
    if "properties" in out:
        out["properties"] = {k: strict(v) for k, v in out["properties"].items()}
        out.setdefault("additionalProperties", False)
    if isinstance(out.get("additionalProperties"), dict):
        out["additionalProperties"] = strict(out["additionalProperties"])
    if isinstance(out.get("items"), dict):
        out["items"] = strict(out["items"])
    for key in ("allOf", "anyOf", "oneOf"):
        if key in out:
            out[key] = [strict(s) for s in out[key]]
    return out


def load_crd_schemas(crd_dir: str) -> dict[tuple[str, str, str], dict]:
    schemas = {}
    paths = sorted(glob.glob(os.path.join(crd_dir, "*.yaml")))
    if not paths:
        sys.exit(f"no CRD files in {crd_dir}; pass --crds DIR with the generated CRDs")
    for path in paths:
        with open(path, encoding="utf-8") as f:
            for crd in yaml.safe_load_all(f):
                if not crd or crd.get("kind") != "CustomResourceDefinition":
                    continue
                spec = crd["spec"]
                for version in spec["versions"]:
                    schema = copy.deepcopy(version["schema"]["openAPIV3Schema"])
                    props = schema.setdefault("properties", {})
                    props.setdefault("apiVersion", {"type": "string"})
                    props.setdefault("kind", {"type": "string"})
                    props["metadata"] = {"type": "object"}
                    key = (spec["group"], version["name"], spec["names"]["kind"])
                    schemas[key] = strict(schema)
    return schemas


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--crds", required=True, help="directory of CRD YAML files")
    parser.add_argument("files", nargs="+")
    args = parser.parse_args()
    schemas = load_crd_schemas(args.crds)
    our_groups = {g for g, _, _ in schemas}
    failures = checked = 0
    for path in args.files:
        with open(path, encoding="utf-8") as f:
            try:
                docs = list(yaml.safe_load_all(f))
            except yaml.YAMLError as e:
                print(f"ERROR {path}: not valid YAML: {e}")
                failures += 1
                continue
        for doc in docs:
            if not isinstance(doc, dict) or "kind" not in doc or "apiVersion" not in doc:
                continue  # a comment-only document or a non-Kubernetes file (scheduler config)
            api_version, kind = doc["apiVersion"], doc["kind"]
            group, _, version = api_version.rpartition("/")
            name = (doc.get("metadata") or {}).get("name", "?")
            where = f"{path}: {kind}/{name}"
            if group in our_groups:
                schema = schemas.get((group, version, kind))
                if schema is None:
                    print(f"ERROR {where}: no CRD serves {api_version} {kind}")
                    failures += 1
                    continue
                errors = sorted(OAS30Validator(schema).iter_errors(doc), key=lambda e: list(e.absolute_path))
                checked += 1
                for e in errors:
                    field = ".".join(str(p) for p in e.absolute_path) or "(root)"
                    print(f"ERROR {where}: {field}: {e.message}")
                failures += bool(errors)
                if not errors:
                    print(f"ok    {where}")
            elif group in BUILTIN_GROUPS or group.endswith(".k8s.io"):
                continue  # built-in: kubernetes-validate checks it
            elif (group, kind) in THIRD_PARTY:
                print(f"skip  {where}: third-party kind, schema not vendored")
            else:
                print(f"ERROR {where}: unknown kind {api_version} {kind} (not built in, not one of our CRDs)")
                failures += 1
    print(f"{checked} custom resource(s) checked, {failures} failed", file=sys.stderr)
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
