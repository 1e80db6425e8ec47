"""`make plan`: the whole stack in Pulumi's mock runtime, offline, and its artifacts.

    python tools/plan.py [--stack prod] [--out build/<stack>] [--preview] [--config-dir DIR]
                         [--policy-config FILE]

Writes build/<stack>/resources.json, cloud-init/<node>.yaml and manifests/, prints a summary and
the component tree, then runs the policy pack over the registered resources. The output is a
pure function of the commit and the config: two runs give byte-identical files.

--preview runs the program as the first `pulumi preview` of an empty stack does: every ID and
output-only property unknown, the readiness gate's outputs unknown (default out:
build/<stack>-preview). Whatever the program derives from them is unknown too, and shows as
"[unknown]"; a cloud-init file that is unknown is not written.

--config-dir reads Pulumi.<stack>.yaml from DIR instead of the repository root, and
--policy-config the pack's config from FILE instead of policies/config.<stack>.json (tests keep
their temporary stacks and generated files out of the checkout). Exit codes: 0 ok, 1 mandatory
policy violation or program error, 2 invalid config.
"""

from __future__ import annotations

import argparse
import json
import shutil
import sys
import time
from collections import Counter
from pathlib import Path
from typing import Any

import yaml

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from components.config import ConfigError, load_config  # noqa: E402
from tools import mockrt  # noqa: E402
from tools.mock_config import integral  # noqa: E402

# libyaml's dumper when PyYAML has it (the wheels do): the pure-Python one was a tenth of the plan.
_DUMPER = getattr(yaml, "CSafeDumper", yaml.SafeDumper)


def _yaml(doc: Any) -> str:
    return yaml.dump(doc, Dumper=_DUMPER, sort_keys=False)


def write_artifacts(result: mockrt.PlanResult, out: Path) -> dict[str, int]:
    if out.exists():
        shutil.rmtree(out)
    (out / "cloud-init").mkdir(parents=True)
    (out / "manifests").mkdir()
    (out / "resources.json").write_text(json.dumps([r.to_json() for r in result.resources], indent=2) + "\n")
    nodes = 0
    for server in result.of_type("hcloud:index/server:Server"):
        inputs = server.inputs
        user_data = inputs.get("userData", "")
        if user_data == mockrt.UNKNOWN:
            continue  # preview: rendered from values that do not exist yet
        # user_data exactly as sent (placeholder secrets only: the plan never sees real ones).
        (out / "cloud-init" / f"{inputs['name']}.yaml").write_text(user_data)
        nodes += 1
    manifests = 0
    for r in result.resources:
        if not mockrt.is_kubernetes_object(r.type):
            continue
        doc = mockrt.redact(r.raw_inputs)
        meta = doc.get("metadata") or {}
        fname = f"{doc.get('kind', r.type.rsplit(':', 1)[-1])}-{meta.get('namespace', 'cluster')}-{meta.get('name', r.name)}.yaml"
        (out / "manifests" / fname.lower()).write_text(_yaml(doc))
        manifests += 1
    # Helm releases are not Kubernetes objects; their chart pin and values are the reviewable part.
    (out / "releases").mkdir()
    releases = 0
    for r in result.of_type("kubernetes:helm.sh/v3:Release"):
        inputs = integral(mockrt.redact(r.raw_inputs))
        keep = {
            k: inputs[k] for k in ("name", "namespace", "chart", "version", "repositoryOpts", "values") if k in inputs
        }
        (out / "releases" / f"{keep.get('name', r.name)}.yaml").write_text(_yaml(keep))
        releases += 1
    return {"nodes": nodes, "manifests": manifests, "releases": releases}


def run_policies(result: mockrt.PlanResult, config_file: Path) -> int:
    """Policy verdicts over the unredacted inputs; returns the number of mandatory violations.

    Offline there is no registry to verify signatures against, so container-images-signed runs
    advisory here (and says so); `pulumi preview --policy-pack policies` runs it mandatory.
    """
    from policies.guardrails import format_report, load_config, run_policies
    from policies.guardrails.runner import with_cloudflare_ranges

    # The ranges the mocks gave the program are the ranges the policy judges against.
    config = with_cloudflare_ranges(load_config(config_file if config_file.exists() else None), mockrt.CLOUDFLARE_IPS)
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
    parser.add_argument("--preview", action="store_true", help="a first preview: IDs and outputs unknown")
    parser.add_argument("--config-dir", type=Path, default=ROOT, help="where Pulumi.<stack>.yaml is")
    parser.add_argument("--policy-config", type=Path, help="the pack's config (default: policies/config.<stack>.json)")
    args = parser.parse_args(argv)
    out: Path = args.out or ROOT / "build" / (f"{args.stack}-preview" if args.preview else args.stack)
    started = time.perf_counter()

    try:
        raw = mockrt.stack_config(args.stack, root=args.config_dir)
        # The program loads it again; here only to fail cleanly and early, every section at once.
        load_config(raw)
    except FileNotFoundError as exc:
        print(f"plan: {exc}", file=sys.stderr)
        return 2
    except ConfigError as exc:
        print(f"plan: stack {args.stack}: {exc}", file=sys.stderr)
        return 2

    try:
        result = mockrt.run_program(args.stack, raw, preview=args.preview)
    except Exception as exc:  # noqa: BLE001 - one line for the operator, not a traceback
        print(f"plan: stack {args.stack}: the program failed: {type(exc).__name__}: {exc}", file=sys.stderr)
        return 1
    counts = write_artifacts(result, out)

    by_type = Counter(r.type for r in result.resources)
    mode = " (preview of an empty stack)" if args.preview else ""
    print(f"stack {args.stack}{mode}: {len(result.resources)} resources")
    for typ, n in sorted(by_type.items()):
        print(f"  {n:3d}  {typ}")
    print("\ncomponent tree:")
    for line in mockrt.component_tree(result):
        print("  " + line)
    print(
        f"\nwrote {out.relative_to(ROOT) if out.is_relative_to(ROOT) else out}: resources.json, "
        f"{counts['nodes']} cloud-init file(s), {counts['manifests']} manifest(s), "
        f"{counts['releases']} Helm release(s)"
    )
    outputs = {k: mockrt.redact(v) for k, v in result.outputs.items()}
    print("outputs: " + json.dumps(outputs, sort_keys=True, default=str)[:2000])

    policy_config: Path = args.policy_config or ROOT / "policies" / f"config.{args.stack}.json"
    mandatory = 0 if args.no_policies else run_policies(result, policy_config)
    print(f"plan: {time.perf_counter() - started:.2f} s")
    return 1 if mandatory else 0


if __name__ == "__main__":
    sys.exit(main())
