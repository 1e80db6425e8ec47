"""`make plan`: runs the real program offline and writes every artifact; bad config fails cleanly."""

from __future__ import annotations

import json
import random
import subprocess
import sys
import time
import uuid
from pathlib import Path
from typing import Any

import pytest
import yaml

from tools import mockrt

ROOT = Path(__file__).resolve().parent.parent


def run_plan(stack: str, out: Path, *extra: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "tools/plan.py", "--stack", stack, "--out", str(out), *extra],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
    )


@pytest.fixture(scope="module")
def prod_runs(tmp_path_factory: pytest.TempPathFactory) -> list[tuple[Path, subprocess.CompletedProcess[str]]]:
    """`make plan`'s command for prod, twice, each into its own temporary directory."""
    runs = []
    for i in range(2):
        out = tmp_path_factory.mktemp(f"prod-plan-{i}")
        runs.append((out, run_plan("prod", out)))
    return runs


def _check_artifacts(stack: str, servers: int, out: Path, proc: subprocess.CompletedProcess[str]) -> None:
    assert proc.returncode == 0, proc.stdout + proc.stderr
    resources = json.loads((out / "resources.json").read_text())
    assert {"type", "name", "urn", "parent", "dependencies", "options", "inputs"} <= set(resources[0])
    assert set(resources[0]["options"]) == {"protect", "ignoreChanges", "deleteBeforeReplace", "replaceOnChanges"}
    types = {r["type"] for r in resources}
    assert "hcloud:index/server:Server" in types and "honeydue:cluster:K3sCluster" in types
    cloud_inits = sorted((out / "cloud-init").glob("*.yaml"))
    assert len(cloud_inits) == servers
    assert all(p.read_text().startswith("#cloud-config\n") for p in cloud_inits)
    assert (out / "manifests").is_dir()
    assert f"stack {stack}: {len(resources)} resources" in proc.stdout
    assert "component tree:" in proc.stdout
    # the policy pack ran over the real plan and no mandatory policy is violated
    assert '"summary": "PASS: 0 mandatory' in proc.stdout
    assert "container-images-signed ran as ADVISORY" in proc.stdout


def test_plan_writes_every_artifact_prod(prod_runs: list[tuple[Path, subprocess.CompletedProcess[str]]]) -> None:
    _check_artifacts("prod", 4, *prod_runs[0])  # three K3s servers and the uptime monitor


def test_plan_writes_every_artifact_staging(tmp_path: Path) -> None:
    _check_artifacts("staging", 1, tmp_path, run_plan("staging", tmp_path))


def _files(root: Path) -> dict[str, bytes]:
    return {str(p.relative_to(root)): p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file()}


def test_two_plans_of_the_same_commit_are_byte_identical(
    prod_runs: list[tuple[Path, subprocess.CompletedProcess[str]]],
) -> None:
    (first, _), (second, _) = prod_runs
    a, b = _files(first), _files(second)
    assert len(a) >= 4 and a.keys() == b.keys()
    differing = [name for name in a if a[name] != b[name]]
    assert not differing, f"differ between two runs: {differing}"
    # The mock PKI is real: every run carries the same certificates and keys, not placeholders.
    assert b"-----BEGIN CERTIFICATE-----" in a["cloud-init/honeydue-prod-k3s-1.yaml"]


class JitterMocks(mockrt.PlanMocks):
    """Delays each registration by a random amount: outputs resolve in another order."""

    def __init__(self, seed: int) -> None:
        super().__init__()
        self.rng = random.Random(seed)

    def new_resource(self, args: Any) -> tuple[str, dict[str, Any]]:
        time.sleep(self.rng.random() * 0.02)
        return super().new_resource(args)


@pytest.mark.parametrize("seed", [1, 2])
def test_inputs_do_not_depend_on_the_order_outputs_resolve(prod_plan: mockrt.PlanResult, seed: int) -> None:
    jittered = mockrt.run_program("prod", mocks=JitterMocks(seed))
    assert [r.to_json() for r in jittered.resources] == [r.to_json() for r in prod_plan.resources]
    assert [r.inputs for r in jittered.resources] == [r.inputs for r in prod_plan.resources]  # secrets too
    assert jittered.outputs == prod_plan.outputs


def test_resources_json_redacts_every_secret(prod_runs: list[tuple[Path, subprocess.CompletedProcess[str]]]) -> None:
    out, proc = prod_runs[0]
    assert proc.returncode == 0, proc.stderr
    text = (out / "resources.json").read_text()
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
    (tmp_path / f"Pulumi.{stack}.yaml").write_text(yaml.safe_dump(doc))
    proc = run_plan(stack, tmp_path / "out", "--config-dir", str(tmp_path))
    assert proc.returncode == 2
    assert "honeydue:sshPort = 22" in proc.stderr and "honeydue:k3sVersion" in proc.stderr
    assert "Traceback" not in proc.stderr + proc.stdout
    assert not (tmp_path / "out").exists(), "nothing is written for an invalid config"
    assert not list(ROOT.glob("Pulumi.test-*.yaml")), "temporary stacks stay out of the checkout"


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


def test_make_plan_target_for_a_named_stack(tmp_path: Path) -> None:
    """The README's command, through make, for a non-default stack. OUT keeps build/ untouched and
    POLICY_CONFIG policies/: the pack's config is generated where the test says, and judged from there."""
    from tools import policy_config

    pack_config = tmp_path / "policy-config.json"
    proc = subprocess.run(
        [
            "make",
            "--no-print-directory",
            "plan",
            "STACK=staging",
            f"OUT={tmp_path / 'out'}",
            f"POLICY_CONFIG={pack_config}",
        ],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert proc.returncode == 0, proc.stdout[-2000:] + proc.stderr[-2000:]
    assert "stack staging: " in proc.stdout and (tmp_path / "out" / "resources.json").exists()
    assert f"wrote {pack_config}" in proc.stdout and pack_config.read_text() == policy_config.generate("staging")
    assert "policies:" in proc.stdout


# --------------------------------------------------------------------------------------------
# Preview of an empty stack (issue 17 item 1): nothing exists, every output is unknown
# --------------------------------------------------------------------------------------------


@pytest.mark.parametrize("stack", ["prod", "staging"])
def test_first_preview_of_an_empty_stack_runs(stack: str) -> None:
    """mocks with preview=True: IDs, output-only properties and the gate's outputs are unknown.
    The program must register everything without computing from an unknown (the SDK skips an
    `apply` on an unknown; one that ran on a None instead would crash the run)."""
    full = mockrt.run_program(stack)
    preview = mockrt.run_program_isolated(stack, preview=True)
    assert preview.preview and [r.urn for r in preview.resources] == [r.urn for r in full.resources]
    servers = preview.of_type("hcloud:index/server:Server")
    assert servers and all(s.inputs["userData"] == mockrt.UNKNOWN for s in servers)  # built from the PKI
    assert all(s.inputs["firewallIds"] and set(s.inputs["firewallIds"]) == {mockrt.UNKNOWN} for s in servers)  # IDs
    records = preview.of_type("cloudflare:index/dnsRecord:DnsRecord")
    assert records and all(r.inputs["content"] == mockrt.UNKNOWN for r in records)  # Primary IP outputs
    # The Kubernetes provider is gated on the readiness gate: its kubeconfig is unknown until the
    # servers exist and the gate passes, and every Kubernetes resource waits on it.
    k8s = [r for r in preview.resources if r.type == "pulumi:providers:kubernetes"]
    assert all(r.inputs["kubeconfig"] == mockrt.UNKNOWN for r in k8s)
    # What does not depend on an output is known in preview exactly as in a deployment.
    by_urn = full.by_urn()
    network = preview.of_type("hcloud:index/network:Network")[0]
    assert network.inputs == by_urn[network.urn].inputs
    assert mockrt.unwrap(preview.outputs["serverNames"]) == mockrt.unwrap(full.outputs["serverNames"])
    assert mockrt.unwrap(preview.outputs["publicIpv4"]) == {n: mockrt.UNKNOWN for n in full.outputs["publicIpv4"]}


def test_preview_plan_cli_writes_no_unknown_cloud_init(tmp_path: Path) -> None:
    proc = run_plan("staging", tmp_path, "--preview")
    assert proc.returncode == 0, proc.stdout[-2000:] + proc.stderr[-2000:]
    assert "stack staging (preview of an empty stack): " in proc.stdout
    assert not list((tmp_path / "cloud-init").glob("*.yaml"))
    assert "[unknown]" in (tmp_path / "resources.json").read_text()
    assert '"summary": "PASS: 0 mandatory' in proc.stdout
