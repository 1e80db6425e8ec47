"""Generate the policy pack's per-stack config from the stack config: one fact, one place.

    python tools/policy_config.py --stack prod            # writes policies/config.prod.json
    python tools/policy_config.py --stack prod --check    # exit 1 if the committed file drifted
    python tools/policy_config.py --stack prod --out F    # writes F instead (tests: a temp file)

`make plan` runs it. What the policies must know about a stack comes from where the program
reads it: the SSH port, the protection flag, the API's unproxied name, the zone and the signed
registries from `Pulumi.<stack>.yaml` (through the same loader as the program), the cosign
public key from `policies/cosign.pub` (which the platform's Kyverno policy reads too). What
only the pack owns (exemptions by Kubernetes identity, registry exceptions, tag-pinned
repositories, enforcement levels) lives in `policies/config.base.json`.

Cloudflare's ranges are deliberately not here: `firewall-web-from-cloudflare-only` reads
Cloudflare's published list when it runs (see that policy), so a firewall that follows a new
range still passes.
"""

from __future__ import annotations

import argparse
import copy
import json
import sys
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from components.config import StackConfig, load_config  # noqa: E402
from tools.mock_config import stack_config  # noqa: E402

BASE = ROOT / "policies" / "config.base.json"
COSIGN_PUB = ROOT / "policies" / "cosign.pub"


def stack_facts(cfg: StackConfig, public_key: str) -> dict[str, dict[str, Any]]:
    """The values each policy takes from the stack (pure)."""
    signed = list(cfg.platform.signed_registries)
    return {
        "container-images-signed": {"registries": signed, "publicKey": public_key},
        "container-images-allowed-registries": {"registries": signed},
        "firewall-no-world-admin-ports": {"sshPort": cfg.access.ssh_port},
        "servers-guarded": {"requireProtection": cfg.protect},
        # The API name is the one record that must not be proxied (Cloudflare does not carry 6443).
        "dns-web-records-proxied": {"unproxiedNames": [cfg.names.kube_api_hostname], "zones": [cfg.names.domain]},
        "image-verification-enforced": {
            "registries": signed,
            "publicKey": public_key,
            "requireImagePolicy": cfg.platform.kyverno,
        },
    }


def render(cfg: StackConfig, base: dict[str, Any], public_key: str) -> str:
    """The config file's text: the base, each policy's stack facts merged over it, in the
    pack's policy order."""
    from policies.guardrails import POLICIES

    merged: dict[str, dict[str, Any]] = copy.deepcopy(base)
    for policy, values in stack_facts(cfg, public_key).items():
        merged.setdefault(policy, {}).update(values)
    order = [p.name for p in POLICIES]
    unknown = sorted(set(merged) - set(order))
    if unknown:
        raise ValueError(f"{BASE.name} configures policies the pack does not have: {unknown}")
    ordered = {name: merged[name] for name in order if name in merged}
    return json.dumps(ordered, indent=2) + "\n"


def generate(stack: str, root: Path = ROOT) -> str:
    cfg = load_config(stack_config(stack, root=root))
    return render(cfg, json.loads(BASE.read_text()), COSIGN_PUB.read_text())


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n", 1)[0])
    parser.add_argument("--stack", required=True)
    parser.add_argument("--check", action="store_true", help="exit 1 if the committed file differs")
    parser.add_argument("--out", type=Path, help="the file to write or check (default: the committed one)")
    args = parser.parse_args(argv)
    target: Path = args.out or ROOT / "policies" / f"config.{args.stack}.json"
    shown = target.relative_to(ROOT) if target.is_relative_to(ROOT) else target
    text = generate(args.stack)
    if args.check:
        if not target.exists() or target.read_text() != text:
            print(f"{shown} is out of date: run `python tools/policy_config.py --stack {args.stack}`")
            return 1
        return 0
    if not target.exists() or target.read_text() != text:
        target.write_text(text)
        print(f"wrote {shown}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
