"""tools/preview_guard.py on recorded `pulumi preview --json` documents.

The fixtures under tests/data/preview/ follow the engine's PreviewDigest (pulumi
pkg/backend/display/json.go and pkg/display/json.go: `steps` with `op`, `urn`, `provider`,
`oldState`/`newState`, `diffReasons`, `replaceReasons`, `detailedDiff`; `changeSummary`), with
secrets as the engine writes them ("[secret]").
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from tools import preview_guard, replacements

ROOT = Path(__file__).resolve().parent.parent
DATA = ROOT / "tests" / "data" / "preview"


def guard(name: str, *extra: str, stdin: str | None = None) -> subprocess.CompletedProcess[str]:
    arg = "-" if stdin is not None else str(DATA / f"{name}.json")
    return subprocess.run(
        [sys.executable, "tools/preview_guard.py", arg, *extra],
        cwd=ROOT,
        input=stdin,
        capture_output=True,
        text=True,
        timeout=60,
    )


def test_creates_and_updates_pass() -> None:
    proc = guard("clean")
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "preview-guard: OK (0 destructive step(s)" in proc.stdout


def test_replacing_a_server_is_refused_and_the_dns_delete_is_only_listed() -> None:
    proc = guard("replace-server")
    assert proc.returncode == 1, proc.stdout + proc.stderr
    lines = proc.stdout.splitlines()
    assert lines[0].startswith("!!! 1 STATEFUL")
    assert (
        "REPLACE urn:pulumi:prod::honeydue::honeydue:cluster:K3sCluster$hcloud:index/server:Server::k3s-server-k3s-2 (because: location)"
        in lines[1]
    )
    assert any("DELETE" in line and "edge-dns-www" in line for line in lines[3:])
    assert "[secret]" not in proc.stdout  # values are never printed, not even redacted ones


def test_replacement_steps_count_once_and_are_refused(tmp_path: Path) -> None:
    proc = guard("replacement-steps")
    assert proc.returncode == 1
    assert proc.stdout.count("!! REPLACE") == 1 and "k3s-k3s-3-ipv4" in proc.stdout


def test_allow_file_lets_a_listed_replacement_through(tmp_path: Path) -> None:
    doc = json.loads((DATA / "replacement-steps.json").read_text())
    urn = next(s["urn"] for s in doc["steps"] if s["op"] == "delete-replaced")
    allow = tmp_path / "replacements.allow"
    allow.write_text(f"# moving k3s-3 to nbg1\n{urn} k3s-3 moves to nbg1; DNS follows the new address\n")
    proc = guard("replacement-steps", "--allow", str(allow))
    assert proc.returncode == 0, proc.stdout
    assert "allowed by replacements.allow:2: k3s-3 moves to nbg1" in proc.stdout


def test_ca_rotation_and_zone_setting_delete_refused_admin_cert_may_rotate() -> None:
    doc = json.loads((DATA / "ca-rotation.json").read_text())
    lines, refused = preview_guard.check(doc, {})
    assert refused == 2
    refused_urns = [line for line in lines if line.startswith("  !! ")]
    assert any("k3s-pki-root-ca" in line for line in refused_urns)
    assert any("DELETE" in line and "edge-setting-ssl" in line for line in refused_urns)
    assert not any("k3s-pki-admin" in line for line in refused_urns)
    assert any(line.startswith("  REPLACE") and "k3s-pki-admin" in line for line in lines)


def test_reads_stdin() -> None:
    proc = guard("", stdin=(DATA / "replace-server.json").read_text())
    assert proc.returncode == 1 and "k3s-server-k3s-2" in proc.stdout


@pytest.mark.parametrize(
    ("content", "message"),
    [
        ((DATA / "failed-preview.json").read_text(), "the preview failed"),
        ("not json", "Expecting value"),
        ('{"steps": [{"op": "delete"}]}', "steps[0] has no `op` and `urn`"),
    ],
)
def test_a_document_that_is_not_a_preview_is_an_error(content: str, message: str) -> None:
    proc = guard("", stdin=content)
    assert proc.returncode == 2 and message in proc.stderr


def test_every_fixture_is_a_well_formed_digest() -> None:
    """The fixtures hold only the engine's step ops and URN shapes (a typo would test nothing)."""
    ops = {"same", "create", "update", "delete", "replace", "create-replacement", "delete-replaced"}
    for path in DATA.glob("*.json"):
        doc = json.loads(path.read_text())
        for step in doc.get("steps", []):
            assert step["op"] in ops, (path.name, step["op"])
            assert "detailedDiff" in step
            if "provider" not in step:
                assert step["urn"].endswith("::honeydue-prod") or "pulumi:pulumi:Stack" in step["urn"]
            else:
                replacements.parse_urn(step["urn"])
