"""`make plan`: runs the real program offline and writes every artifact; bad config fails cleanly."""

from __future__ import annotations

import json
import subprocess
import sys
import uuid
from pathlib import Path

import pytest
import yaml

from tools import mockrt

ROOT = Path(__file__).resolve().parent.parent


def run_plan(stack: str, out: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "tools/plan.py", "--stack", stack, "--out", str(out)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
    )


# prod: three K3s servers and the uptime monitor; staging: one server, no monitor.
@pytest.mark.parametrize(("stack", "servers"), [("prod", 4), ("staging", 1)])
def test_plan_writes_every_artifact(stack: str, servers: int, tmp_path: Path) -> None:
    proc = run_plan(stack, tmp_path)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    resources = json.loads((tmp_path / "resources.json").read_text())
    assert {"type", "name", "urn", "parent", "dependencies", "options", "inputs"} <= set(resources[0])
    assert set(resources[0]["options"]) == {"protect", "ignoreChanges", "deleteBeforeReplace", "replaceOnChanges"}
    types = {r["type"] for r in resources}
    assert "hcloud:index/server:Server" in types and "honeydue:cluster:K3sCluster" in types
    cloud_inits = sorted((tmp_path / "cloud-init").glob("*.yaml"))
    assert len(cloud_inits) == servers
    assert all(p.read_text().startswith("#cloud-config\n") for p in cloud_inits)
    assert (tmp_path / "manifests").is_dir()
    assert f"stack {stack}: {len(resources)} resources" in proc.stdout
    assert "component tree:" in proc.stdout
    # the policy pack ran over the real plan and no mandatory policy is violated
    assert '"summary": "PASS: 0 mandatory' in proc.stdout
    assert "container-images-signed ran as ADVISORY" in proc.stdout


def test_resources_json_redacts_every_secret(tmp_path: Path) -> None:
    proc = run_plan("prod", tmp_path)
    assert proc.returncode == 0, proc.stderr
    text = (tmp_path / "resources.json").read_text()
    assert "plan-placeholder-" not in text  # placeholder secret values
    assert "PRIVATE KEY" not in text
    servers = [r for r in json.loads(text) if r["type"] == "hcloud:index/server:Server"]
    assert all(r["inputs"]["userData"] == "[secret]" for r in servers)


def test_resources_json_records_parents_dependencies_and_options(prod_plan: mockrt.PlanResult) -> None:
    urns = {r.urn for r in prod_plan.resources}
    children = [r for r in prod_plan.resources if r.parent in urns]
    assert children, "components must parent their children"
    server = prod_plan.by_name("k3s-server-k3s-1")
    subnet = prod_plan.of_type("hcloud:index/networkSubnet:NetworkSubnet")[0]
    assert subnet.urn in server.dependencies  # depends_on
    firewall = prod_plan.by_name("fw-firewall")
    assert firewall.urn in server.dependencies  # from an input
    assert server.options["protect"] is True
    assert set(server.options["ignoreChanges"]) == {"userData", "image", "sshKeys"}


def test_broken_config_fails_cleanly_without_traceback(tmp_path: Path) -> None:
    stack = f"test-broken-{uuid.uuid4().hex[:8]}"
    doc = yaml.safe_load((ROOT / "Pulumi.prod.yaml").read_text())
    doc["config"]["honeydue:sshPort"] = 22
    doc["config"]["honeydue:k3sVersion"] = "latest"
    path = ROOT / f"Pulumi.{stack}.yaml"
    path.write_text(yaml.safe_dump(doc))
    try:
        proc = run_plan(stack, tmp_path / "out")
    finally:
        path.unlink()
    assert proc.returncode == 2
    assert "honeydue:sshPort = 22" in proc.stderr and "honeydue:k3sVersion" in proc.stderr
    assert "Traceback" not in proc.stderr + proc.stdout
    assert not (tmp_path / "out").exists(), "nothing is written for an invalid config"


def test_unknown_stack_fails_cleanly(tmp_path: Path) -> None:
    proc = run_plan("no-such-stack", tmp_path)
    assert proc.returncode == 2 and "Pulumi.no-such-stack.yaml" in proc.stderr


def test_program_raises_run_error_on_invalid_config() -> None:
    """The real program itself refuses bad config before registering anything."""
    raw = mockrt.stack_config("prod", {"sshPort": 22})
    with pytest.raises(Exception, match="honeydue:sshPort") as info:
        mockrt.run_program_isolated("prod", raw)
    assert "RunError" in str(info.value)


def test_recorder_sees_secret_wrappers(prod_plan: mockrt.PlanResult) -> None:
    """Covers the internal MockMonitor API the recorder relies on (pinned pulumi version)."""
    server = prod_plan.of_type("hcloud:index/server:Server")[0]
    assert server.raw_inputs["userData"][mockrt.SIG_KEY] == mockrt.SECRET_SIG
    assert server.to_json()["inputs"]["userData"] == "[secret]"


def test_make_plan_target_for_a_named_stack() -> None:
    """The README's command, through make, for a non-default stack."""
    proc = subprocess.run(
        ["make", "--no-print-directory", "plan", "STACK=staging"], cwd=ROOT, capture_output=True, text=True, timeout=300
    )
    assert proc.returncode == 0, proc.stdout[-2000:] + proc.stderr[-2000:]
    assert "stack staging: " in proc.stdout and (ROOT / "build" / "staging" / "resources.json").exists()
