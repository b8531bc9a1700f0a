#!/usr/bin/env python3
"""rbac_check: the chart grants exactly what docs/rbac.md lists, and covers every API call in the code.

    rbac_check.py --rendered out.yaml --doc docs/rbac.md [--root .]

1. The rules of the rendered ClusterRoles/Roles (controller, webhook, and the end-user roles
   aggregated into view and edit) must equal, verb for verb, the tables in docs/rbac.md
   (columns: component, API group, resource, verbs, why).
2. A static scan of the Rust sources that talk to the API server (controllers/src and
   basalt/src/controller*.rs for the controller, webhooks/src and basalt/src/webhook*.rs for the
   webhook) records each `Api<Kind>` the code builds and the verbs its calls imply; every
   recorded (resource, verb) must be granted to that component. The recorded table is printed.

This is a static approximation of "every request the controller makes is allowed": it sees the
kinds and the verbs but pairs them per file, so a verb is accepted when any kind used in the same
file is granted it.

Exit status: 0 when all holds, 1 otherwise.
"""
from __future__ import annotations

import argparse
import os
import re
import sys

import yaml

# Rust type name -> (API group, plural resource) for every kind Basalt's code may address.
KINDS = {
    "Job": ("batch.volcano.sh", "jobs"),
    "VcJob": ("batch.volcano.sh", "jobs"),
    "Command": ("bus.volcano.sh", "commands"),
    "PodGroup": ("scheduling.volcano.sh", "podgroups"),
    "Queue": ("scheduling.volcano.sh", "queues"),
    "JobFlow": ("flow.volcano.sh", "jobflows"),
    "JobTemplate": ("flow.volcano.sh", "jobtemplates"),
    "Pod": ("", "pods"),
    "Node": ("", "nodes"),
    "Service": ("", "services"),
    "ConfigMap": ("", "configmaps"),
    "Secret": ("", "secrets"),
    "PersistentVolumeClaim": ("", "persistentvolumeclaims"),
    "Namespace": ("", "namespaces"),
    "PriorityClass": ("scheduling.k8s.io", "priorityclasses"),
    "Lease": ("coordination.k8s.io", "leases"),
    "Event": ("events.k8s.io", "events"),
    "NodeMetrics": ("metrics.k8s.io", "nodes"),
    "PodMetrics": ("metrics.k8s.io", "pods"),
    "PodDisruptionBudget": ("policy", "poddisruptionbudgets"),
    "ResourceQuota": ("", "resourcequotas"),
    "Endpoints": ("", "endpoints"),
    "Deployment": ("apps", "deployments"),
    "ReplicaSet": ("apps", "replicasets"),
    "StatefulSet": ("apps", "statefulsets"),
    "CustomResourceDefinition": ("apiextensions.k8s.io", "customresourcedefinitions"),
    "MutatingWebhookConfiguration": ("admissionregistration.k8s.io", "mutatingwebhookconfigurations"),
    "ValidatingWebhookConfiguration": ("admissionregistration.k8s.io", "validatingwebhookconfigurations"),
}
# A method on an `Api<K>` -> (verb, subresource or None). `get` on an unknown receiver is ignored
# (maps and stores have `get` too); the other methods on unknown receivers are paired per file.
METHODS = {
    "create": ("create", None), "patch": ("patch", None), "replace": ("update", None),
    "delete": ("delete", None), "delete_collection": ("deletecollection", None),
    "get": ("get", None), "get_opt": ("get", None), "get_metadata": ("get", None),
    "list": ("list", None), "list_metadata": ("list", None),
    "patch_status": ("patch", "status"), "replace_status": ("update", "status"), "get_status": ("get", "status"),
    "evict": ("create", "eviction"),
}
PATH = r"(?:[A-Za-z_]\w*::)*"
TYPE = rf"&?\s*(?:mut\s+)?{PATH}Api\s*<\s*{PATH}([A-Z]\w*)\s*>"
BINDINGS = [
    re.compile(rf"\b(\w+)\s*:\s*{TYPE}"),  # let x: Api<K>, fn f(x: &Api<K>), struct fields
    re.compile(rf"\blet\s+(?:mut\s+)?(\w+)\s*=\s*{PATH}Api\s*::\s*<\s*{PATH}([A-Z]\w*)\s*>"),
]
INLINE_API = rf"{PATH}Api\s*::\s*<\s*{PATH}([A-Z]\w*)\s*>\s*::\s*\w+\s*\([^()]*(?:\([^()]*\)[^()]*)*\)"
CALL = re.compile(rf"(?:(?:self\.)?(\w+)|({INLINE_API}))\s*\.\s*(\w+)\s*(?:::<[^>]*>)?\s*\(\s*(\"\w+\")?")
API_TYPE = re.compile(rf"\bApi\s*(?:::)?\s*<\s*{PATH}([A-Z]\w*)\s*>")
WATCH = re.compile(rf"\b(?:watcher|metadata_watcher|Controller::new|owns|watches)\s*\(\s*(?:{INLINE_API}|&?(\w+))")
# Files whose API calls are made only inside `basalt up` (against its embedded API server, with
# its admin token), never by the deployed component; e2e/rbac.rs records the deployed component's
# real requests, which shows these calls are not among them.
EMBEDDED_ONLY = {
    "webhooks/src/registration.rs": "registers the webhook configurations with `basalt up`'s API server "
                                    "(basalt/src/webhook.rs start_embedded); `basalt webhook` never does",
}
SOURCES = {
    "controller": ["controllers/src", "basalt/src/controller.rs", "basalt/src/controller"],
    "webhook": ["webhooks/src", "basalt/src/webhook.rs", "basalt/src/webhook"],
}


def granted_from_render(path: str) -> set[tuple[str, str, str, str]]:
    grants = set()
    with open(path, encoding="utf-8") as f:
        for doc in yaml.safe_load_all(f):
            if not isinstance(doc, dict) or doc.get("kind") not in ("ClusterRole", "Role"):
                continue
            labels = doc["metadata"].get("labels", {})
            component = labels.get("app.kubernetes.io/component", "?")
            aggregated = [k.rsplit("-", 1)[-1] for k, v in labels.items()
                          if k.startswith("rbac.authorization.k8s.io/aggregate-to-") and v == "true"]
            if aggregated and component not in aggregated:
                print(f"ERROR aggregated ClusterRole {doc['metadata']['name']}: component label "
                      f"{component!r} is not one of its aggregate-to labels {aggregated}")
                grants.add(("?", "", "", ""))
            for rule in doc.get("rules", []):
                for g in rule.get("apiGroups", []):
                    for r in rule.get("resources", []):
                        for v in rule.get("verbs", []):
                            grants.add((component, g, r, v))
    return grants


def granted_from_doc(path: str) -> set[tuple[str, str, str, str]]:
    grants = set()
    with open(path, encoding="utf-8") as f:
        for line in f:
            cells = [c.strip() for c in line.strip().strip("|").split("|")]
            if len(cells) < 4 or cells[0] not in ("controller", "webhook", "view", "edit"):
                continue
            component, group, resources, verbs = cells[:4]
            group = "" if group in ("core", '""', "") else group.strip("`")
            for r in resources.replace("`", "").split(","):
                for v in verbs.replace("`", "").split(","):
                    grants.add((component, group, r.strip(), v.strip()))
    return grants


def rust_files(root: str, entries: list[str]) -> list[str]:
    files = []
    for entry in entries:
        path = os.path.join(root, entry)
        if os.path.isfile(path):
            files.append(path)
        for dirpath, _, names in os.walk(path):
            files.extend(os.path.join(dirpath, n) for n in sorted(names) if n.endswith(".rs"))
    return files


def used_by_code(root: str) -> tuple[dict[str, list[tuple[str, str, str, str]]], list[str]]:
    """Per component: (group, resource, verb, file) the code implies; plus notes on unknown kinds.

    A verb is "a|b" when it is satisfied by any of several resources ("one of" the kinds a file
    uses, for calls whose receiver could not be resolved to an `Api<K>` variable)."""
    used: dict[str, list[tuple[str, str, str, str]]] = {}
    notes = []
    for component, entries in SOURCES.items():
        for path in rust_files(root, entries):
            with open(path, encoding="utf-8") as f:
                text = re.sub(r"//[^\n]*", "", f.read())
            if path.endswith("tests.rs") or "/tests/" in path:
                continue
            rel = os.path.relpath(path, root)
            if rel in EMBEDDED_ONLY:
                notes.append(f"{rel}: skipped, {EMBEDDED_ONLY[rel]}")
                continue
            out = used.setdefault(component, [])
            # Variables are resolved per function first (the same name often holds different
            # kinds in different functions), then across the file (struct fields).
            bounds = [m.start() for m in re.finditer(r"\bfn\s+\w+", text)] + [len(text)]
            chunks = [(0, bounds[0])] + list(zip(bounds, bounds[1:]))
            file_vars: dict[str, set[str]] = {}
            chunk_vars: list[dict[str, set[str]]] = []
            for lo, hi in chunks:
                local: dict[str, set[str]] = {}
                for pattern in BINDINGS:
                    for m in pattern.finditer(text, lo, hi):
                        local.setdefault(m.group(1), set()).add(m.group(2))
                        file_vars.setdefault(m.group(1), set()).add(m.group(2))
                chunk_vars.append(local)

            def resolve(name: str, pos: int) -> set[str]:
                for (lo, hi), local in zip(chunks, chunk_vars):
                    if lo <= pos < hi and name in local:
                        return local[name]
                return file_vars.get(name, set())

            kinds_in_file: set[str] = set()
            for m in API_TYPE.finditer(text):
                kinds_in_file.add(m.group(1))
            for kind in sorted(kinds_in_file - set(KINDS) - {"K", "T", "DynamicObject"}):
                notes.append(f"{path}: Api<{kind}>: kind not in rbac_check.KINDS, add it to check its permissions")
            known_in_file = sorted(k for k in kinds_in_file if k in KINDS)

            def record(kind: str, verb: str, sub: str | None) -> None:
                group, resource = KINDS[kind]
                out.append((group, f"{resource}/{sub}" if sub else resource, verb, path))

            for m in CALL.finditer(text):
                receiver, inline_kind, method, first_arg = m.group(1), m.group(3), m.group(4), m.group(5)
                if method == "create_subresource" and first_arg:
                    verb, sub = "create", first_arg.strip('"')
                elif method in METHODS:
                    verb, sub = METHODS[method]
                else:
                    continue
                kinds = {inline_kind} if inline_kind else resolve(receiver or "", m.start())
                kinds = {k for k in kinds if k in KINDS}
                if kinds:
                    for kind in sorted(kinds):
                        record(kind, verb, sub)
                elif verb != "get" and method not in ("replace", "list") and known_in_file:
                    # Receiver unknown (a helper's return value, a clone): one of the file's kinds.
                    res = [f"{KINDS[k][1]}/{sub}" if sub else KINDS[k][1] for k in known_in_file]
                    out.append(("|".join(KINDS[k][0] for k in known_in_file), "|".join(res), verb, path))
            for m in WATCH.finditer(text):
                kinds = {m.group(1)} if m.group(1) else resolve(m.group(2) or "", m.start())
                for kind in sorted(k for k in kinds if k in KINDS):
                    record(kind, "list", None)
                    record(kind, "watch", None)
            # Generic helpers (`fn reflect<K>(api: Api<K>)` called as `reflect::<Queue>(...)`):
            # the verbs inside the helper apply to every kind it is instantiated with.
            for (lo, hi) in chunks[1:]:
                head = re.match(r"fn\s+(\w+)\s*<", text[lo:hi])
                if not head or re.search(r"Api\s*<\s*[A-Z]\w*\s*>", text[lo:hi]) is None:
                    continue
                body = text[lo:hi]
                verbs = set()
                if re.search(r"\b(?:watcher|metadata_watcher)\s*\(|Controller::new\s*\(", body):
                    verbs |= {("list", None), ("watch", None)}
                for m in re.finditer(r"\.\s*(\w+)\s*\(", body):
                    if m.group(1) in METHODS and m.group(1) not in ("get", "replace", "list"):
                        verbs.add(METHODS[m.group(1)])
                name = head.group(1)
                for call in re.finditer(rf"\b{name}\s*::\s*<\s*{PATH}([A-Z]\w*)\s*>"
                                        rf"|\b{name}\s*\(\s*{PATH}Api\s*::\s*<\s*{PATH}([A-Z]\w*)\s*>", text):
                    kind = call.group(1) or call.group(2)
                    if kind in KINDS:
                        for verb, sub in sorted(verbs, key=str):
                            record(kind, verb, sub)
            if re.search(r"\bRecorder::new\b", text):
                out.append(("events.k8s.io", "events", "create", path))
                out.append(("events.k8s.io", "events", "patch", path))
            if re.search(r"\bLeaseManager(Builder)?\b", text):
                for verb in ("get", "create", "patch"):
                    out.append(("coordination.k8s.io", "leases", verb, path))
    return used, notes


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rendered", required=True)
    parser.add_argument("--doc", required=True)
    parser.add_argument("--root", default=".")
    args = parser.parse_args()
    problems = []

    chart = granted_from_render(args.rendered)
    doc = granted_from_doc(args.doc)
    if not chart:
        problems.append(f"no ClusterRole/Role found in {args.rendered}")
    for g in sorted(chart - doc):
        problems.append(f"the chart grants {g[0]} {g[3]} on {g[1] or 'core'}/{g[2]}, docs/rbac.md does not list it")
    for g in sorted(doc - chart):
        problems.append(f"docs/rbac.md lists {g[0]} {g[3]} on {g[1] or 'core'}/{g[2]}, the chart does not grant it")

    used, notes = used_by_code(args.root)
    for line in notes:
        print(f"note  {line}")
    print("recorded API use (component, verb, resource, source):")
    for component, uses in sorted(used.items()):
        for group, resource, verb, path in sorted(set(uses), key=lambda u: (u[3], u[1], u[2])):
            options = list(zip(group.split("|"), resource.split("|")))
            ok = any((component, g, r, verb) in chart for g, r in options)
            names = " or ".join(f"{g or 'core'}/{r}" for g, r in options)
            rel = os.path.relpath(path, args.root)
            print(f"{'ok   ' if ok else 'ERROR'} {component}: {verb} {names} ({rel})")
            if not ok:
                problems.append(f"{rel}: {component} uses {verb} on {names}, which the chart does not grant "
                                f"(add it to config/helm/basalt/templates/rbac-{component}.yaml and docs/rbac.md)")
    # Least privilege, the other way round: grants no code path was seen using. Reported, not
    # failed, because the controllers grow feature by feature and the scan cannot see every call.
    seen = {(c, g, r, v) for c, uses in used.items() for gs, rs, v, _ in uses
            for g, r in zip(gs.split("|"), rs.split("|"))}
    unseen = sorted(g for g in chart if g not in seen)
    if unseen and any(used.values()):
        print("note  granted but not seen in the code: " + ", ".join(
            f"{c} {v} {g or 'core'}/{r}" for c, g, r, v in unseen))
    if not any(used.values()):
        print("note  no controller/webhook sources found yet: checked the chart against docs/rbac.md only")
    for p in problems:
        print(f"ERROR {p}")
    print(f"rbac: {len(chart)} grant(s) in the chart, {sum(len(v) for v in used.values())} use(s) in the code, "
          f"{len(problems)} problem(s)", file=sys.stderr)
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
