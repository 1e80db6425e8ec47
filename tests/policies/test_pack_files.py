"""The committed pack files: per-stack configs, public key, PulumiPolicy.yaml, entry point, README."""

from __future__ import annotations

import ast
import ipaddress
import json
import re

import pytest
import yaml
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.serialization import load_pem_public_key

from policies.guardrails import POLICIES
from policies.guardrails.runner import resolve

from .lib import ROOT

PACK = ROOT / "policies"
STACKS = ("prod", "staging")


def config(stack: str) -> dict[str, object]:
    data = json.loads((PACK / f"config.{stack}.json").read_text())
    assert isinstance(data, dict)
    return data


@pytest.mark.parametrize("stack", STACKS)
def test_config_resolves_with_every_key_known(stack: str) -> None:
    levels = resolve(config(stack), signatures_advisory=False)
    assert set(levels) == {p.name for p in POLICIES}
    assert levels["container-images-signed"][0].value == "mandatory"
    assert levels["user-data-size-warning"][0].value == "advisory"


@pytest.mark.parametrize("stack", STACKS)
def test_config_cloudflare_ranges(stack: str) -> None:
    cidrs = config(stack)["firewall-web-from-cloudflare-only"]["cloudflareCidrs"]  # type: ignore[index]
    nets = [ipaddress.ip_network(c) for c in cidrs]
    assert sum(n.version == 4 for n in nets) == 15 and sum(n.version == 6 for n in nets) == 7
    assert ipaddress.ip_network("173.245.48.0/20") in nets and ipaddress.ip_network("2c0f:f248::/32") in nets


@pytest.mark.parametrize("stack", STACKS)
def test_config_public_key_is_the_committed_one(stack: str) -> None:
    pem = config(stack)["container-images-signed"]["publicKey"]  # type: ignore[index]
    assert pem == (PACK / "cosign.pub").read_text()
    key = load_pem_public_key(pem.encode())
    assert isinstance(key, ec.EllipticCurvePublicKey) and key.curve.name == "secp256r1"


def test_protection_required_in_prod_only() -> None:
    assert config("prod")["servers-guarded"] == {"requireProtection": True}
    assert config("staging")["servers-guarded"] == {"requireProtection": False}


def test_no_private_key_committed() -> None:
    pem_private = re.compile(r"-----BEGIN [A-Z ]*PRIVATE KEY-----")  # an actual PEM block
    for path in PACK.rglob("*"):
        if path.is_file() and "__pycache__" not in path.parts:
            assert not pem_private.search(path.read_text(errors="ignore")), path


def test_pulumi_policy_yaml_and_requirements() -> None:
    project = yaml.safe_load((PACK / "PulumiPolicy.yaml").read_text())
    assert project["runtime"]["name"] == "python" and project["version"]
    reqs = [ln for ln in (PACK / "requirements.txt").read_text().splitlines() if ln and not ln.startswith("#")]
    assert reqs and all("==" in r for r in reqs) and any(r.startswith("pulumi-policy==") for r in reqs)


def test_entry_point_only_constructs_the_pack() -> None:
    tree = ast.parse((PACK / "__main__.py").read_text())
    body = [n for n in tree.body if not isinstance(n, ast.Import | ast.ImportFrom)]
    docstring, call = body
    assert isinstance(docstring, ast.Expr) and isinstance(docstring.value, ast.Constant)
    assert isinstance(call, ast.Expr) and isinstance(call.value, ast.Call)
    assert isinstance(call.value.func, ast.Name) and call.value.func.id == "PolicyPack"


def test_readme_documents_every_policy() -> None:
    readme = (PACK / "README.md").read_text()
    headings = [line for line in readme.splitlines() if line.startswith("### ")]
    for p in POLICIES:
        assert any(f"`{p.name}`" in h for h in headings), p.name  # each policy has its own section
    for n in range(1, 9):  # every red-team class is mapped to the rule that closes it
        assert f"\n| {n}. " in readme, n
    sections = readme.split("\n### ")
    for section in sections:
        title = section.splitlines()[0]
        if title.startswith("`") and "user-data" not in title:
            assert "**Limits:**" in section, title
    assert "make policy-check FILE=build/prod/resources.json" in readme
    assert "pulumi preview --policy-pack policies --policy-pack-config policies/config.prod.json" in readme


@pytest.mark.parametrize("stack", STACKS)
def test_configs_and_defaults_satisfy_the_schemas_the_cli_checks(stack: str) -> None:
    """The Pulumi CLI validates --policy-pack-config against each policy's config schema."""
    import jsonschema

    committed = config(stack)
    for p in POLICIES:
        props = p.config_schema.properties if p.config_schema else {}
        schema = {"type": "object", "properties": props, "additionalProperties": False}
        jsonschema.validate({k: v["default"] for k, v in props.items()}, schema)
        entry = committed.get(p.name, {})
        if isinstance(entry, dict):
            jsonschema.validate({k: v for k, v in entry.items() if k != "enforcementLevel"}, schema)
    bad = {"exemptions": [{"namespace": "kube-system", "name": "traefik", "allow": ["hostnetwork"]}]}
    hardened = next(p for p in POLICIES if p.name == "workloads-hardened")
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.validate(bad, {"type": "object", "properties": hardened.config_schema.properties})  # type: ignore[union-attr]
