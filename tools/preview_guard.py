"""Refuse a real preview that deletes or replaces a stateful resource the allow file does not list.

    pulumi preview --json --stack prod > preview.json
    python tools/preview_guard.py preview.json [--allow replacements.allow]
    (or: pulumi preview --json | python tools/preview_guard.py -)

Reads the engine's preview digest (pkg/backend/display/json.go ShowPreviewDigest: `steps`, each
with `op` and `urn`, `replaceReasons` on replacements). A replacement is one `replace` step by
default and a `create-replacement` plus `delete-replaced` pair with --show-replacement-steps;
every destructive op counts. Stateful means what tools/replacements.py says (servers, Primary
IPs, networks, volumes and PVCs, StatefulSets, the cluster PKI and token, the Origin CA key, zone
settings). Prints URNs, ops and property names only: values never.

Exit codes: 0 nothing stateful deleted or replaced (or each one allowed, with its reason);
1 refused; 2 the document is not a preview digest (e.g. the preview itself failed).
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from tools import replacements  # noqa: E402

# Engine step ops (sdk/go/common/apitype StepEventMetadata.op) that destroy the resource as it is.
DESTRUCTIVE_OPS = {
    "delete": "DELETE",
    "replace": "REPLACE",
    "create-replacement": "REPLACE",
    "delete-replaced": "REPLACE",
    "discard-replaced": "REPLACE",
    "read-replacement": "REPLACE",
    "import-replacement": "REPLACE",
}


class NotAPreviewError(ValueError):
    pass


def steps_of(doc: Any) -> list[dict[str, Any]]:
    if not isinstance(doc, dict) or not isinstance(doc.get("steps"), list):
        diagnostics = doc.get("diagnostics") if isinstance(doc, dict) else None
        hint = f"; {len(diagnostics)} diagnostic(s): the preview failed" if diagnostics else ""
        raise NotAPreviewError(f"no `steps` list: not a `pulumi preview --json` digest{hint}")
    for i, step in enumerate(doc["steps"]):
        if not isinstance(step, dict) or not isinstance(step.get("op"), str) or not isinstance(step.get("urn"), str):
            raise NotAPreviewError(f"steps[{i}] has no `op` and `urn`")
    return list(doc["steps"])


def check(
    doc: Any, allow: dict[str, replacements.AllowEntry], allow_name: str = "replacements.allow"
) -> tuple[list[str], int]:
    """Report lines and the number of refused steps."""
    # One resource can appear in two steps (create-replacement + delete-replaced): judge it once.
    destructive: dict[str, tuple[str, list[str]]] = {}
    for step in steps_of(doc):
        op = DESTRUCTIVE_OPS.get(step["op"])
        if op is None:
            continue
        previous = destructive.get(step["urn"], ("", []))
        reasons = sorted({*previous[1], *(step.get("replaceReasons") or [])})
        destructive[step["urn"]] = ("REPLACE" if "REPLACE" in (op, previous[0]) else op, reasons)

    lines: list[str] = []
    refused = 0
    stateful = [(urn, op, why, reasons) for urn, (op, reasons) in sorted(destructive.items()) if (why := _why(urn))]
    if stateful:
        lines.append(f"!!! {len(stateful)} STATEFUL RESOURCE(S) WOULD BE DELETED OR REPLACED !!!")
    for urn, op, why, reasons in stateful:
        because = f" (because: {', '.join(reasons)})" if reasons else ""
        lines.append(f"  !! {op:7} {urn}{because}")
        lines.append(f"       holds: {why}")
        entry = allow.get(urn)
        if entry:
            lines.append(f"       allowed by {allow_name}:{entry.line}: {entry.reason}")
        else:
            refused += 1
            lines.append(f"       NOT in {allow_name}: refused")
    others = [(urn, op) for urn, (op, _) in sorted(destructive.items()) if not _why(urn)]
    if others:
        lines.append(f"other deletions and replacements ({len(others)}), not stateful:")
        lines += [f"  {op:7} {urn}" for urn, op in others]
    lines.append(
        f"preview-guard: FAIL: {refused} stateful deletion(s)/replacement(s) not in {allow_name}"
        if refused
        else f"preview-guard: OK ({len(destructive)} destructive step(s), {len(stateful)} stateful, all allowed)"
    )
    return lines, refused


def _why(urn: str) -> str | None:
    try:
        return replacements.stateful_reason(urn)
    except ValueError:
        return None  # the root stack and provider URNs of odd shape hold no state


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("preview", help="`pulumi preview --json` output file, or - for stdin")
    parser.add_argument("--allow", type=Path, default=replacements.ALLOW_FILE)
    args = parser.parse_args(argv)
    try:
        text = sys.stdin.read() if args.preview == "-" else Path(args.preview).read_text()
        doc = json.loads(text)
        allow = replacements.load_allow(args.allow)
        lines, refused = check(doc, allow, args.allow.name)
    except (OSError, json.JSONDecodeError, NotAPreviewError, replacements.AllowFileError) as exc:
        print(f"preview-guard: {exc}", file=sys.stderr)
        return 2
    print("\n".join(lines))
    return 1 if refused else 0


if __name__ == "__main__":
    sys.exit(main())
