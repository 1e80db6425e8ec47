"""The committed pack files: per-stack configs, public key, PulumiPolicy.yaml, entry point, README."""

from __future__ import annotations

import ast
import json
import re
from pathlib import Path

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
def test_config_holds_no_copy_of_the_cloudflare_ranges(stack: str) -> None:
    """The policy reads Cloudflare's list when it runs (Cloudflare's API by default)."""
    text = (PACK / f"config.{stack}.json").read_text()
    assert "173.245.48.0/20" not in text and "cloudflareCidrs" not in text
    from policies.guardrails.firewall import CLOUDFLARE_IPS_URL, WEB_SCHEMA

    assert WEB_SCHEMA["cloudflareRangesSource"]["default"] == CLOUDFLARE_IPS_URL


@pytest.mark.parametrize("stack", STACKS)
def test_config_is_generated_from_the_stack(stack: str) -> None:
    """policies/config.<stack>.json is what tools/policy_config.py makes of Pulumi.<stack>.yaml."""
    from tools import policy_config

    assert (PACK / f"config.{stack}.json").read_text() == policy_config.generate(stack)


def test_config_follows_a_stack_change(tmp_path: Path) -> None:
    """Drift is impossible by construction: change a stack fact, the generated config follows."""
    import shutil

    import yaml

    from tools import policy_config

    doc = yaml.safe_load((ROOT / "Pulumi.prod.yaml").read_text())
    doc["config"]["honeydue:sshPort"] = 2022
    doc["config"]["honeydue:kubeApiHostname"] = "kube.myhoneydue.com"
    (tmp_path / "Pulumi.prod.yaml").write_text(yaml.safe_dump(doc))
    shutil.copy(ROOT / "Pulumi.yaml", tmp_path / "Pulumi.yaml")
    generated = json.loads(policy_config.generate("prod", root=tmp_path))
    assert generated["firewall-no-world-admin-ports"]["sshPort"] == 2022
    assert generated["dns-web-records-proxied"]["unproxiedNames"] == ["kube.myhoneydue.com"]
    assert json.loads(policy_config.generate("prod"))["firewall-no-world-admin-ports"]["sshPort"] == 2222


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
