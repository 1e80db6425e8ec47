"""`make plan`: the whole stack in Pulumi's mock runtime, offline, and its artifacts.

    python tools/plan.py [--stack prod] [--out build/<stack>]

Writes build/<stack>/resources.json, cloud-init/<node>.yaml and manifests/, prints a summary and
the component tree, then runs the policy pack over the registered resources. Exit codes:
0 ok, 1 mandatory policy violation or program error, 2 invalid config.
"""

from __future__ import annotations

import argparse
import json
import shutil
import sys
import time
from collections import Counter
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from components.config import ConfigError, load_stack_and_app  # noqa: E402
from tools import mockrt  # noqa: E402


def write_artifacts(result: mockrt.PlanResult, out: Path) -> dict[str, int]:
    if out.exists():
        shutil.rmtree(out)
    (out / "cloud-init").mkdir(parents=True)
    (out / "manifests").mkdir()
    (out / "resources.json").write_text(json.dumps([r.to_json() for r in result.resources], indent=2) + "\n")
    nodes = 0
    for server in result.of_type("hcloud:index/server:Server"):
        inputs = server.inputs
        # user_data exactly as sent (placeholder secrets only: the plan never sees real ones).
        (out / "cloud-init" / f"{inputs['name']}.yaml").write_text(inputs.get("userData", ""))
        nodes += 1
    manifests = 0
    for r in result.resources:
        if not mockrt.is_kubernetes_object(r.type):
            continue
        doc = mockrt.redact(r.raw_inputs)
        meta = doc.get("metadata") or {}
        fname = f"{doc.get('kind', r.type.rsplit(':', 1)[-1])}-{meta.get('namespace', 'cluster')}-{meta.get('name', r.name)}.yaml"
        (out / "manifests" / fname.lower()).write_text(yaml.safe_dump(doc, sort_keys=False))
        manifests += 1
    return {"nodes": nodes, "manifests": manifests}


def run_policies(result: mockrt.PlanResult, stack: str) -> int:
    """Policy verdicts over the unredacted inputs; returns the number of mandatory violations.

    Offline there is no registry to verify signatures against, so container-images-signed runs
    advisory here (and says so); `pulumi preview --policy-pack policies` runs it mandatory.
    """
    from policies.guardrails import format_report, load_config, run_policies

    config_file = ROOT / "policies" / f"config.{stack}.json"
    config = load_config(config_file if config_file.exists() else None)
    resources = [{**r.to_json(), "inputs": r.inputs} for r in result.resources]
    violations = run_policies(resources, config, signatures_advisory=True)
    print("\npolicies:")
    print(format_report(violations, signatures_advisory=True, resources=len(resources)))
    return sum(1 for v in violations if v.enforcement_level == "mandatory")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--stack", default="prod")
    parser.add_argument("--out", type=Path)
    parser.add_argument("--no-policies", action="store_true")
    args = parser.parse_args(argv)
    out: Path = args.out or ROOT / "build" / args.stack
    started = time.perf_counter()

    try:
        raw = mockrt.stack_config(args.stack)
        load_stack_and_app(raw)  # the program loads it again; here only to fail cleanly and early
    except FileNotFoundError as exc:
        print(f"plan: {exc}", file=sys.stderr)
        return 2
    except ConfigError as exc:
        print(f"plan: stack {args.stack}: {exc}", file=sys.stderr)
        return 2

    try:
        result = mockrt.run_program(args.stack, raw)
    except Exception as exc:  # noqa: BLE001 - one line for the operator, not a traceback
        print(f"plan: stack {args.stack}: the program failed: {type(exc).__name__}: {exc}", file=sys.stderr)
        return 1
    counts = write_artifacts(result, out)

    by_type = Counter(r.type for r in result.resources)
    print(f"stack {args.stack}: {len(result.resources)} resources")
    for typ, n in sorted(by_type.items()):
        print(f"  {n:3d}  {typ}")
    print("\ncomponent tree:")
    for line in mockrt.component_tree(result):
        print("  " + line)
    print(
        f"\nwrote {out.relative_to(ROOT) if out.is_relative_to(ROOT) else out}: resources.json, "
        f"{counts['nodes']} cloud-init file(s), {counts['manifests']} manifest(s)"
    )
    outputs = {k: mockrt.redact(v) for k, v in result.outputs.items()}
    print("outputs: " + json.dumps(outputs, sort_keys=True, default=str)[:2000])

    mandatory = 0 if args.no_policies else run_policies(result, args.stack)
    print(f"plan: {time.perf_counter() - started:.2f} s")
    return 1 if mandatory else 0


if __name__ == "__main__":
    sys.exit(main())
