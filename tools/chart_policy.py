#!/usr/bin/env python3
"""chart_policy: the rendered chart keeps the promises docs/helm.md makes.

    chart_policy.py RENDERED.yaml [--expect-webhook] [--expect-ha]

Every container: resource requests for cpu and memory, a read-only root filesystem, no privilege
escalation, all capabilities dropped, non-root (pod or container level). Every Deployment with
more than one replica has a PodDisruptionBudget selecting it. With --expect-ha: the controller
and webhook Deployments run 2 replicas and the controller is leader-elected. With
--expect-webhook: the webhook Deployment, its Service and at least one webhook configuration
exist, and every webhook has a caBundle or a cert-manager CA-injection annotation.

Exit status: 0 when all holds, 1 otherwise.
"""
from __future__ import annotations

import argparse
import sys

import yaml


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("rendered")
    parser.add_argument("--expect-webhook", action="store_true")
    parser.add_argument("--expect-ha", action="store_true")
    args = parser.parse_args()
    with open(args.rendered, encoding="utf-8") as f:
        docs = [d for d in yaml.safe_load_all(f) if isinstance(d, dict)]
    problems: list[str] = []
    by_kind: dict[str, list[dict]] = {}
    for d in docs:
        by_kind.setdefault(d["kind"], []).append(d)

    deployments = by_kind.get("Deployment", [])
    if not deployments:
        problems.append("no Deployment rendered")
    pdb_selectors = [p["spec"]["selector"]["matchLabels"] for p in by_kind.get("PodDisruptionBudget", [])]
    for dep in deployments:
        name = dep["metadata"]["name"]
        pod = dep["spec"]["template"]["spec"]
        pod_sc = pod.get("securityContext") or {}
        for c in pod.get("containers", []) + pod.get("initContainers", []):
            where = f"Deployment {name} container {c['name']}"
            requests = (c.get("resources") or {}).get("requests") or {}
            for res in ("cpu", "memory"):
                if res not in requests:
                    problems.append(f"{where}: no {res} request")
            sc = c.get("securityContext") or {}
            if sc.get("readOnlyRootFilesystem") is not True:
                problems.append(f"{where}: root filesystem is not read-only")
            if sc.get("allowPrivilegeEscalation") is not False:
                problems.append(f"{where}: allowPrivilegeEscalation is not false")
            if "ALL" not in ((sc.get("capabilities") or {}).get("drop") or []):
                problems.append(f"{where}: capabilities are not all dropped")
            if not (sc.get("runAsNonRoot") or pod_sc.get("runAsNonRoot")):
                problems.append(f"{where}: may run as root")
        labels = dep["spec"]["selector"]["matchLabels"]
        if dep["spec"].get("replicas", 1) > 1 and not any(sel.items() <= labels.items() for sel in pdb_selectors):
            problems.append(f"Deployment {name}: {dep['spec']['replicas']} replicas but no PodDisruptionBudget")

    def component(d: dict) -> str:
        return d["metadata"].get("labels", {}).get("app.kubernetes.io/component", "")

    if args.expect_ha:
        for comp in ("controller", "webhook"):
            deps = [d for d in deployments if component(d) == comp]
            if not deps or deps[0]["spec"].get("replicas") != 2:
                problems.append(f"the {comp} Deployment does not run 2 replicas")
        ctrl = [d for d in deployments if component(d) == "controller"]
        if ctrl and "--leader-elect" not in ctrl[0]["spec"]["template"]["spec"]["containers"][0].get("args", []):
            problems.append("the controller is not leader-elected")
    if args.expect_webhook:
        if not any(component(d) == "webhook" for d in deployments):
            problems.append("no webhook Deployment")
        if not any(component(s) == "webhook" for s in by_kind.get("Service", [])):
            problems.append("no webhook Service")
        configs = by_kind.get("MutatingWebhookConfiguration", []) + by_kind.get("ValidatingWebhookConfiguration", [])
        if not configs:
            problems.append("no webhook configuration")
        for cfg in configs:
            injected = "cert-manager.io/inject-ca-from" in (cfg["metadata"].get("annotations") or {})
            for hook in cfg.get("webhooks", []):
                if not injected and not hook["clientConfig"].get("caBundle"):
                    problems.append(f"{cfg['kind']} {cfg['metadata']['name']} webhook {hook['name']}: no caBundle")

    for p in problems:
        print(f"ERROR {p}")
    print(f"policy: {len(docs)} object(s), {len(problems)} problem(s)", file=sys.stderr)
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
