"""Issue 17 item 5/6: the designs that keep previews free of known spurious diffs and make a
non-prod teardown independent of the cluster (docs/spurious-diffs.md lists the issues)."""

from __future__ import annotations

import pytest

from components.edge import checked_address
from components.firewall import canonical_cidrs, firewall_rules
from components.readiness import gate_diff
from tools import mockrt

K8S_PROVIDER = "pulumi:providers:kubernetes"

GATE = {
    "endpoint": "https://203.0.113.10:6443",
    "caPem": "ca",
    "certPem": "cert",
    "keyPem": "key",
    "nodes": ["honeydue-prod-a", "honeydue-prod-b"],
    "timeoutSeconds": 900,
    "__provider": "pickled-v1",
}


@pytest.mark.parametrize(
    "change",
    [
        {"nodes": ["honeydue-prod-a", "honeydue-prod-b", "honeydue-prod-c"]},
        {"certPem": "rotated", "keyPem": "rotated"},
        {"__provider": "pickled-v2"},  # any edit of components/readiness.py
        {"timeoutSeconds": 1200},
    ],
)
def test_gate_keeps_its_outputs_when_anything_but_the_endpoint_changes(change: dict[str, object]) -> None:
    result = gate_diff(GATE, {**GATE, **change})
    assert result.changes is False
    assert not result.replaces


def test_gate_is_replaced_when_its_endpoint_changes() -> None:
    result = gate_diff(GATE, {**GATE, "endpoint": "https://203.0.113.99:6443"})
    assert result.changes is True
    assert result.replaces == ["endpoint"]


def test_cidrs_are_compressed_deduplicated_and_sorted() -> None:
    got = canonical_cidrs(["2400:CB00:0000::/32", "198.51.100.0/24", "2400:cb00::/32", "10.0.0.0/8", "2001:db8::/32"])
    assert got == ["10.0.0.0/8", "198.51.100.0/24", "2001:db8::/32", "2400:cb00::/32"]


def test_every_firewall_source_list_is_canonical_whatever_the_input_order() -> None:
    a = firewall_rules(
        ["2400:cb00::/32", "173.245.48.0/20", "103.21.244.0/22"], ["2001:DB8::/48", "192.0.2.0/24"], 22, True
    )
    b = firewall_rules(
        ["103.21.244.0/22", "2400:cb00::/32", "173.245.48.0/20"], ["192.0.2.0/24", "2001:db8::/48"], 22, True
    )
    assert a == b
    for rule in a:
        assert rule["source_ips"] == canonical_cidrs(rule["source_ips"])
    assert a[0]["source_ips"] == ["103.21.244.0/22", "173.245.48.0/20", "2400:cb00::/32"]


def test_dns_record_content_is_the_compressed_lowercase_address() -> None:
    assert checked_address("AAAA", "2001:DB8:0001:0000:0000:0000:0000:0001") == "2001:db8:1::1"


@pytest.mark.parametrize("fixture", ["prod_plan", "staging_plan"])
def test_list_inputs_the_program_builds_are_sorted(fixture: str, request: pytest.FixtureRequest) -> None:
    plan: mockrt.PlanResult = request.getfixturevalue(fixture)
    (cert,) = plan.of_type("cloudflare:index/originCaCertificate:OriginCaCertificate")
    assert cert.inputs["hostnames"] == sorted(cert.inputs["hostnames"]) and len(cert.inputs["hostnames"]) > 1
    for csr in plan.of_type("tls:index/certRequest:CertRequest"):
        names = csr.inputs.get("dnsNames") or []
        assert names == sorted(names)
    firewalls = [f for f in plan.of_type("hcloud:index/firewall:Firewall") if f.inputs.get("rules")]
    assert firewalls
    for rule in (r for f in firewalls for r in f.inputs["rules"]):
        assert rule["sourceIps"] == canonical_cidrs(rule["sourceIps"])
    for server in plan.of_type("hcloud:index/server:Server"):
        # Hetzner replaces a server on these; day-2 changes go through Kubernetes.
        assert {"userData", "image", "sshKeys"} <= set(server.options["ignoreChanges"])
        assert [n.get("aliasIps") for n in server.inputs["networks"]] == [[]]  # pulumi-hcloud#170
    for ruleset in plan.of_type("cloudflare:index/ruleset:Ruleset"):
        refs = [rule.get("ref") for rule in ruleset.inputs["rules"]]
        assert all(refs) and len(set(refs)) == len(refs)  # pulumi-cloudflare#444, #939


@pytest.mark.parametrize(("fixture", "protect"), [("prod_plan", True), ("staging_plan", False)])
def test_every_kubernetes_resource_uses_the_gated_provider(
    fixture: str, protect: bool, request: pytest.FixtureRequest
) -> None:
    plan: mockrt.PlanResult = request.getfixturevalue(fixture)
    (provider,) = plan.of_type(K8S_PROVIDER)
    # Non-prod: a destroy after the servers are gone drops the Kubernetes resources from the
    # state instead of failing (provider.go Read/Delete); prod never drops state on its own.
    assert provider.inputs["deleteUnreachable"] == str(not protect).lower()  # provider inputs are strings
    assert provider.inputs["clusterIdentifier"] == f"honeydue-{plan.stack}"
    k8s = [r for r in plan.resources if r.custom and r.type.startswith("kubernetes:")]
    assert len(k8s) > 20
    strays = [r.urn for r in k8s if r.provider.rsplit("::", 1)[0] != provider.urn]
    assert strays == []
    assert {r.type for r in k8s} >= {"kubernetes:helm.sh/v3:Release", "kubernetes:core/v1:Namespace"}
