"""`make plan-diff BASE=<git ref>`: what a change would do to each stack, from two offline plans.

    python tools/plan_diff.py --base REF [--tree DIR] [--stack prod ...] [--allow FILE]

Plans the base (the ref's files, `git archive`d into a temporary directory) and the working tree
(uncommitted edits included) with the same deterministic mock runtime, then prints, per stack:
stateful resources deleted or replaced (first, loudly), URNs added and removed, resources
replaced (from the providers' replace-on-change properties, tools/replacements.py, and the
engine's rule that an input coming from a replaced resource is unknown until it exists), and the
inputs changed per resource. Secret values are never printed: a changed secret shows as
"[secret] changed".

Exit codes: 0 nothing stateful deleted or replaced, or each one listed in the allow file with a
reason; 1 a stateful resource would be deleted or replaced and is not allowed; 2 usage error, a
plan failed, or a bad allow file.
"""

from __future__ import annotations

import argparse
import concurrent.futures
import json
import subprocess
import sys
import tempfile
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from tools import replacements  # noqa: E402
from tools.mock_config import integral  # noqa: E402

SECRET = "__secret__"
MAX_VALUE = 100


class _Absent:
    def __repr__(self) -> str:
        return "(absent)"


ABSENT: Any = _Absent()
"""The value of an input path that one side does not have."""


# --------------------------------------------------------------------------------------------
# Snapshots: one plan, reduced to what a diff needs, secrets replaced by a digest
# --------------------------------------------------------------------------------------------


def _mask(value: Any) -> Any:
    from tools import mockrt

    if isinstance(value, dict):
        if value.get(mockrt.SIG_KEY) == mockrt.SECRET_SIG:
            return {SECRET: mockrt.secret_digest(mockrt.unwrap(value.get("value")))}
        return {k: _mask(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_mask(v) for v in value]
    return value


def snapshot(tree: Path, stack: str, config_dir: Path | None = None) -> dict[str, Any]:
    """Plan `tree`'s program and config for `stack` (run in a fresh process: see `_child`)."""
    from tools import mockrt

    sys.path.insert(0, str(tree))  # `components` (and the program) come from the tree
    raw = mockrt.stack_config(stack, root=config_dir or tree)
    result = mockrt.run_program(stack, raw, program=tree / "__main__.py")
    return {
        "stack": stack,
        "resources": {
            r.urn: {
                "type": r.type,
                "custom": r.custom,
                "options": r.options,
                "inputs": _mask(r.raw_inputs),
                "propertyDependencies": r.property_dependencies,
            }
            for r in result.resources
        },
    }


def _plan_in_child(tree: Path, stack: str, out: Path, config_dir: Path | None) -> None:
    cmd = [sys.executable, str(Path(__file__).resolve()), "--snapshot", str(tree), "--stack", stack, "--out", str(out)]
    if config_dir is not None:
        cmd += ["--config-dir", str(config_dir)]
    # A fresh interpreter per tree: `components` of the base and of the working tree must not mix.
    proc = subprocess.run(cmd, cwd=tree, capture_output=True, text=True, timeout=600)
    if proc.returncode != 0:
        tail = (proc.stderr or proc.stdout).strip().splitlines()[-3:]
        raise RuntimeError(f"plan of {tree} (stack {stack}) failed: " + " | ".join(tail))


def export_tree(repo: Path, ref: str, dest: Path) -> str:
    """The files of `ref` (as committed) under `dest`; returns the commit id."""
    commit = subprocess.run(
        ["git", "-C", str(repo), "rev-parse", "--verify", f"{ref}^{{commit}}"], capture_output=True, text=True
    )
    if commit.returncode != 0:
        raise ValueError(f"BASE={ref}: not a commit in {repo} ({commit.stderr.strip()})")
    dest.mkdir(parents=True, exist_ok=True)
    archive = subprocess.run(
        ["git", "-C", str(repo), "archive", "--format=tar", commit.stdout.strip()], capture_output=True, check=True
    )
    subprocess.run(["tar", "-x", "-C", str(dest)], input=archive.stdout, check=True)
    return commit.stdout.strip()


# --------------------------------------------------------------------------------------------
# Diff
# --------------------------------------------------------------------------------------------


@dataclass
class Change:
    urn: str
    type: str
    paths: list[tuple[str, Any, Any]] = field(default_factory=list)
    """(path, old, new) of every effective input change."""
    ignored: list[str] = field(default_factory=list)
    """Changed paths the program's ignore_changes drops."""
    replace_because: list[str] = field(default_factory=list)
    protected: bool = False


@dataclass
class StackDiff:
    stack: str
    added: list[str]
    removed: list[str]
    replaced: list[Change]
    updated: list[Change]
    ignored_only: list[Change]
    stateful: list[tuple[str, str, str]]
    """(operation, URN, why it holds state)."""
    removed_protected: set[str] = field(default_factory=set)


def _flatten(value: Any, path: str = "") -> dict[str, Any]:
    if isinstance(value, dict) and SECRET not in value:
        out: dict[str, Any] = {}
        for k, v in value.items():
            out.update(_flatten(v, f"{path}.{k}" if path else k))
        return out or {path: {}}
    if isinstance(value, list) and value and any(isinstance(v, dict | list) for v in value):
        out = {}
        for i, v in enumerate(value):
            out.update(_flatten(v, f"{path}[{i}]"))
        return out
    return {path: value}


def changed_paths(old: dict[str, Any], new: dict[str, Any]) -> list[tuple[str, Any, Any]]:
    a, b = _flatten(old), _flatten(new)
    return [
        (p, a.get(p, ABSENT), b.get(p, ABSENT))
        for p in sorted(a.keys() | b.keys())
        if a.get(p, ABSENT) != b.get(p, ABSENT)
    ]


def _ignored(path: str, ignore_changes: Sequence[str]) -> bool:
    return any(path == p or path.startswith((p + ".", p + "[")) for p in ignore_changes)


def diff(old: dict[str, Any], new: dict[str, Any]) -> StackDiff:
    before, after = old["resources"], new["resources"]
    added = sorted(after.keys() - before.keys())
    removed = sorted(before.keys() - after.keys())
    changes: dict[str, Change] = {}
    for urn in sorted(before.keys() & after.keys()):
        b, a = before[urn], after[urn]
        change = Change(urn, a["type"], protected=bool(a["options"].get("protect")))
        for path, x, y in changed_paths(b["inputs"], a["inputs"]):
            if _ignored(path, a["options"].get("ignoreChanges", [])):
                change.ignored.append(path)
            else:
                change.paths.append((path, x, y))
        change.replace_because = replacements.replacing_paths(
            a["type"], [p for p, _, _ in change.paths], a["options"].get("replaceOnChanges", [])
        )
        changes[urn] = change

    # An input that comes from a replaced resource is unknown in the preview until the new one
    # exists, and counts as changed: propagate to a fixpoint (the engine's own behaviour).
    replaced = {u for u, c in changes.items() if c.replace_because}
    grown = True
    while grown:
        grown = False
        for urn, change in changes.items():
            if urn in replaced:
                continue
            deps = after[urn].get("propertyDependencies", {})
            for key, sources in sorted(deps.items()):
                origin = next((s for s in sources if s in replaced), None)
                if origin is None or _ignored(key, after[urn]["options"].get("ignoreChanges", [])):
                    continue
                hit = replacements.replacing_paths(
                    change.type, [key], after[urn]["options"].get("replaceOnChanges", [])
                )
                if hit:
                    change.replace_because.append(f"{key} (from replaced {replacements.parse_urn(origin)[2]})")
                    replaced.add(urn)
                    grown = True
                    break

    stateful: list[tuple[str, str, str]] = []
    for urn in removed:
        why = replacements.stateful_reason(urn)
        if why:
            stateful.append(("DELETE", urn, why))
    for urn in sorted(replaced):
        why = replacements.stateful_reason(urn)
        if why:
            stateful.append(("REPLACE", urn, why))
    return StackDiff(
        stack=new["stack"],
        added=added,
        removed=removed,
        replaced=[changes[u] for u in sorted(replaced)],
        updated=[c for u, c in changes.items() if u not in replaced and c.paths],
        ignored_only=[c for u, c in changes.items() if u not in replaced and not c.paths and c.ignored],
        stateful=stateful,
        removed_protected={u for u in removed if before[u]["options"].get("protect")},
    )


# --------------------------------------------------------------------------------------------
# Report
# --------------------------------------------------------------------------------------------


def _show(value: Any) -> str:
    value = integral(value)
    if value is ABSENT:
        return "(absent)"
    if isinstance(value, dict) and SECRET in value:
        return "[secret]"
    if value is None:
        return "null"
    text = json.dumps(value, sort_keys=True, default=str) if not isinstance(value, str) else value
    # Belt and braces: nothing that looks like key material or a plan placeholder is printed.
    if "PRIVATE KEY" in text or "plan-placeholder-" in text:
        return "[redacted]"
    if "-----BEGIN" in text:
        return "[PEM]"
    text = text.replace("\n", "\\n")
    return text if len(text) <= MAX_VALUE else text[: MAX_VALUE - 3] + "..."


def _value_change(old: Any, new: Any) -> str:
    if (isinstance(old, dict) and SECRET in old) or (isinstance(new, dict) and SECRET in new):
        return "[secret] changed"
    return f"{_show(old)} -> {_show(new)}"


def report(
    d: StackDiff, allow: dict[str, replacements.AllowEntry], allow_name: str = "replacements.allow"
) -> tuple[list[str], int]:
    """Lines to print and the number of stateful changes the allow file does not cover."""
    lines = [f"== stack {d.stack}"]
    blocked = 0
    if d.stateful:
        lines.append(f"!!! {len(d.stateful)} STATEFUL RESOURCE(S) WOULD BE DELETED OR REPLACED !!!")
        for op, urn, why in d.stateful:
            entry = allow.get(urn)
            protected = (
                " [protected: `pulumi up` refuses until unprotected]"
                if (urn in d.removed_protected or any(c.urn == urn and c.protected for c in d.replaced))
                else ""
            )
            lines.append(f"  !! {op:7} {urn}{protected}")
            lines.append(f"       holds: {why}")
            if entry:
                lines.append(f"       allowed by {allow_name}:{entry.line}: {entry.reason}")
            else:
                blocked += 1
                lines.append(f"       NOT in {allow_name}: refused")
    else:
        lines.append("no stateful resource is deleted or replaced")
    for title, sign, urns in (("added", "+", d.added), ("removed", "-", d.removed)):
        lines.append(f"{title} ({len(urns)}):")
        lines += [f"  {sign} {u}" for u in urns]
    lines.append(f"replaced ({len(d.replaced)}):")
    for c in d.replaced:
        lines.append(f"  +- {c.urn}")
        lines.append(f"       because: {', '.join(c.replace_because)}")
    lines.append(f"updated in place ({len(d.updated)}):")
    for c in d.updated:
        lines.append(f"  ~ {c.urn}")
    lines.append("inputs changed per resource:")
    for c in [*d.replaced, *d.updated]:
        if not c.paths:
            continue
        lines.append(f"  {c.urn}")
        for path, old, new in c.paths:
            lines.append(f"      {path}: {_value_change(old, new)}")
        if c.ignored:
            lines.append(f"      (ignore_changes drops: {', '.join(c.ignored)})")
    if d.ignored_only:
        lines.append("changed but dropped by ignore_changes (no operation):")
        for c in d.ignored_only:
            lines.append(f"  = {c.urn}: {', '.join(c.ignored)}")
    return lines, blocked


# --------------------------------------------------------------------------------------------
# CLI
# --------------------------------------------------------------------------------------------


def _stacks(tree: Path) -> list[str]:
    return sorted(p.name.removeprefix("Pulumi.").removesuffix(".yaml") for p in tree.glob("Pulumi.*.yaml"))


def run_diff(
    base_ref: str, tree: Path, stacks: list[str] | None, allow_file: Path, config_dir: Path | None = None
) -> tuple[list[str], int]:
    allow = replacements.load_allow(allow_file)
    with tempfile.TemporaryDirectory(prefix="plan-diff-") as tmp:
        base = Path(tmp) / "base"
        commit = export_tree(tree, base_ref, base)
        stacks = stacks or sorted({*_stacks(tree), *_stacks(base)})
        # A stack file that one side lacks is an empty stack there: all added, or all removed.
        jobs = [
            (label, src, stack)
            for stack in stacks
            for label, src in (("base", base), ("head", tree))
            if ((config_dir if label == "head" and config_dir else src) / f"Pulumi.{stack}.yaml").exists()
        ]
        with concurrent.futures.ThreadPoolExecutor(max_workers=2) as pool:
            futures = {
                (label, stack): pool.submit(
                    _plan_in_child,
                    src,
                    stack,
                    Path(tmp) / f"{label}-{stack}.json",
                    config_dir if label == "head" else None,
                )
                for label, src, stack in jobs
            }
            for future in futures.values():
                future.result()
        lines = [f"plan-diff: BASE={base_ref} ({commit[:12]}) -> working tree {tree}"]
        blocked = 0
        for stack in stacks:
            empty = json.dumps({"stack": stack, "resources": {}})
            snapshots = [Path(tmp) / f"{label}-{stack}.json" for label in ("base", "head")]
            old, new = (json.loads(p.read_text() if p.exists() else empty) for p in snapshots)
            stack_lines, stack_blocked = report(diff(old, new), allow, allow_file.name)
            lines += stack_lines
            blocked += stack_blocked
    verdict = (
        f"plan-diff: FAIL: {blocked} stateful deletion(s)/replacement(s) not listed in {allow_file.name}"
        if blocked
        else "plan-diff: OK"
    )
    return [*lines, verdict], blocked


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--base", help="git ref to compare the working tree with")
    parser.add_argument("--tree", type=Path, default=ROOT, help="working tree (a git checkout)")
    parser.add_argument("--stack", action="append", help="stack(s) to compare (default: every Pulumi.<stack>.yaml)")
    parser.add_argument("--allow", type=Path, help="allow file (default: <tree>/replacements.allow)")
    parser.add_argument("--config-dir", type=Path, help="working tree's stack files from here instead")
    parser.add_argument("--snapshot", type=Path, help=argparse.SUPPRESS)
    parser.add_argument("--out", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)

    if args.snapshot:  # child mode: plan one tree, write its snapshot
        args.out.write_text(json.dumps(snapshot(args.snapshot.resolve(), args.stack[0], args.config_dir)))
        return 0
    if not args.base:
        print("usage: make plan-diff BASE=<git ref> [STACK=prod]", file=sys.stderr)
        return 2
    tree = args.tree.resolve()
    try:
        lines, blocked = run_diff(
            args.base, tree, args.stack, args.allow or tree / "replacements.allow", args.config_dir
        )
    except (ValueError, RuntimeError, replacements.AllowFileError) as exc:
        print(f"plan-diff: {exc}", file=sys.stderr)
        return 2
    print("\n".join(lines))
    return 1 if blocked else 0


if __name__ == "__main__":
    sys.exit(main())
