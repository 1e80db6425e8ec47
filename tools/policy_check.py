#!/usr/bin/env python3
"""Run the CrossGuard pack offline over a resources.json (what `make plan` writes).

    python tools/policy_check.py FILE [--config CONFIG.json] [--offline-signatures]

Prints one JSON line per violation ({policy, enforcementLevel, urn, message}) and a JSON summary
line. Exit 0: no mandatory violation; 1: mandatory violation(s); 2: unreadable input or config.
CONFIG is a Pulumi policy-pack config file (default policies/config.prod.json).
--offline-signatures runs container-images-signed as advisory (the offline plan's mode).

In-process callers (the plan runner) use the same API with unredacted inputs:
``run_policies(resources, config, *, signatures_advisory) -> list[Violation]`` and
``format_report(violations, *, signatures_advisory, resources=None) -> str``.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # the repo root: `policies` package

from policies.guardrails import (
    DEFAULT_CONFIG,
    ConfigError,
    Violation,
    format_report,
    has_mandatory,
    load_config,
    run_policies,
)
from policies.guardrails.runner import with_cloudflare_ranges

# What the offline plan's mocks answer for cloudflare.get_ip_ranges (tools/mockrt.py).
CLOUDFLARE_RANGES = Path(__file__).resolve().parent / "fixtures" / "cloudflare-ips.json"

__all__ = ["Violation", "format_report", "main", "run_policies"]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("file", type=Path, help="resources.json: a JSON list of resources")
    parser.add_argument("--config", type=Path, default=DEFAULT_CONFIG, help="policy-pack config JSON")
    parser.add_argument(
        "--cloudflare-ranges",
        default=str(CLOUDFLARE_RANGES),
        help="Cloudflare's ranges as a JSON file or an https URL (default: the offline plan's fixture)",
    )
    parser.add_argument(
        "--offline-signatures",
        action="store_true",
        help="report container-images-signed as advisory (offline plan)",
    )
    args = parser.parse_args(argv)
    try:
        resources = json.loads(args.file.read_text())
        if not isinstance(resources, list) or not all(isinstance(r, dict) for r in resources):
            raise ValueError(f"{args.file}: expected a JSON list of objects")
        config = with_cloudflare_ranges(load_config(args.config), args.cloudflare_ranges)
        violations = run_policies(resources, config, signatures_advisory=args.offline_signatures)
    except (OSError, ValueError, ConfigError) as exc:  # JSONDecodeError is a ValueError
        print(f"policy_check: {exc}", file=sys.stderr)
        return 2
    print(format_report(violations, signatures_advisory=args.offline_signatures, resources=len(resources)))
    return 1 if has_mandatory(violations) else 0


if __name__ == "__main__":
    sys.exit(main())
