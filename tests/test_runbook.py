"""docs/runbook.md covers every procedure issue 13 lists, each with the program's part and the
operator's part, and names only workflows and tools that exist."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
RUNBOOK = ROOT / "docs" / "runbook.md"
PROCEDURES = (
    "How CI reaches the Kubernetes API",
    "A new environment from nothing",
    "Replacing a failed server without losing etcd quorum",
    "Upgrading K3s through config",
    "Restoring etcd from a B2 snapshot",
    "Restoring Postgres from a backup",
    "Origin CA certificate",
    "Admin client certificate",
    "Registry credentials",
    "The cosign key",
    "When Cloudflare's ranges change",
    "Image releases",
)


def sections(text: str) -> dict[str, str]:
    """Heading text -> body up to the next heading of any level."""
    parts = re.split(r"^#{2,4} (.+)$", text, flags=re.MULTILINE)
    return {parts[i].strip(): parts[i + 1] for i in range(1, len(parts), 2)}


def missing_parts(text: str) -> list[str]:
    found = sections(text)
    problems = []
    for title in PROCEDURES:
        body = next((b for h, b in found.items() if h.startswith(title)), None)
        if body is None:
            problems.append(f"no section {title!r}")
            continue
        parts = ["What the program does", "What the operator does"]
        if title.startswith("How CI"):
            parts.insert(1, "What CI does")
        problems += [f"{title!r} lacks '{part}'" for part in parts if f"**{part}" not in body]
    return problems


def test_every_procedure_says_what_the_program_and_the_operator_do() -> None:
    assert missing_parts(RUNBOOK.read_text()) == []


def test_the_check_fails_when_a_part_is_missing() -> None:
    text = RUNBOOK.read_text()
    head, sep, tail = text.partition("## Restoring etcd from a B2 snapshot")
    broken = head + sep + tail.replace("**What the operator does**", "**Operator**", 1)
    assert missing_parts(broken) == ["'Restoring etcd from a B2 snapshot' lacks 'What the operator does'"]
    assert "no section 'Upgrading K3s through config'" in missing_parts(text.replace("## Upgrading K3s", "## K3s"))


@pytest.mark.parametrize(
    "ref",
    sorted(set(re.findall(r"`((?:tools|\.github/workflows|components|policies)/[\w./-]+)`", RUNBOOK.read_text()))),
)
def test_named_files_exist(ref: str) -> None:
    pending: set[str] = set()
    path = ROOT / ref.replace("<stack>", "prod")
    assert ref in pending or path.exists() or list(ROOT.glob(ref.replace("<stack>", "*"))), ref
