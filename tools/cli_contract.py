#!/usr/bin/env python3
"""cli_contract: every flag the chart passes to `basalt <subcommand>` is one the binary accepts.

    cli_contract.py RENDERED.yaml [RENDERED.yaml ...] --basalt PATH/TO/basalt

For each container in the rendered Deployments, the first argument is the subcommand and the
rest are `--flag[=value]`; `basalt <subcommand> --help` must list every flag. A subcommand the
binary does not have yet is reported as a note (the chart was written before the controller and
webhook commands); once the subcommand exists, a missing flag is an error.

Exit status: 0 when every existing subcommand accepts the chart's flags, 1 otherwise.
"""
from __future__ import annotations

import argparse
import re
import subprocess
import sys

import yaml


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("rendered", nargs="+")
    parser.add_argument("--basalt", required=True, help="path to the basalt binary")
    args = parser.parse_args()
    wanted: dict[str, set[str]] = {}
    for path in args.rendered:
        with open(path, encoding="utf-8") as f:
            for doc in yaml.safe_load_all(f):
                if not isinstance(doc, dict) or doc.get("kind") != "Deployment":
                    continue
                for c in doc["spec"]["template"]["spec"]["containers"]:
                    argv = c.get("args") or []
                    if argv:
                        flags = {a.split("=", 1)[0] for a in argv[1:] if a.startswith("--")}
                        wanted.setdefault(argv[0], set()).update(flags)
    problems = []
    for sub, flags in sorted(wanted.items()):
        run = subprocess.run([args.basalt, sub, "--help"], capture_output=True, text=True)
        if run.returncode != 0:
            if "unrecognized subcommand" in run.stderr:
                print(f"note  `basalt {sub}` does not exist yet; the chart passes {', '.join(sorted(flags))}")
                continue
            problems.append(f"`basalt {sub} --help` failed: {run.stderr.strip()}")
            continue
        for flag in sorted(flags):
            if not re.search(re.escape(flag) + r"(?![\w-])", run.stdout):
                problems.append(f"the chart passes {flag} to `basalt {sub}`, which does not accept it "
                                f"(rename it in config/helm/basalt/templates or add it to the subcommand)")
            else:
                print(f"ok    basalt {sub} {flag}")
    for p in problems:
        print(f"ERROR {p}")
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
