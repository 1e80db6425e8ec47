"""namespaces-default-deny (stack policy), egress-blocks-metadata and helm-charts-pinned."""

from __future__ import annotations

from typing import Any

import pytest

from .lib import check, check_stack, cronjob, default_deny, deployment, internet_egress, netpol, release, resource

D = "namespaces-default-deny"
M = "egress-blocks-metadata"


def namespace(name: str) -> dict[str, Any]:
    return resource("kubernetes:core/v1:Namespace", name, {"metadata": {"name": name}})


def test_default_deny_compliant() -> None:
    stack = [namespace("honeydue"), deployment(), cronjob(), default_deny(), internet_egress()]
    assert check_stack(D, stack) == []
    # Namespaces without workloads need nothing; kube-system is exempt by default.
    assert check_stack(D, [namespace("empty"), deployment("coredns", "kube-system")]) == []


@pytest.mark.parametrize(
    "spec",
    [
        {"podSelector": {"matchLabels": {"app": "api"}}, "policyTypes": ["Ingress", "Egress"]},
        {"podSelector": {}, "policyTypes": ["Ingress"]},
        {"podSelector": {}},
        {"podSelector": {}, "policyTypes": ["Ingress", "Egress"], "ingress": [{}]},
        {"podSelector": {}, "policyTypes": ["Ingress", "Egress"], "egress": [{"to": [{"namespaceSelector": {}}]}]},
        None,
    ],
)
def test_default_deny_rejects_non_deny_policies(spec: dict[str, Any] | None) -> None:
    out = check_stack(D, [namespace("honeydue"), deployment(), netpol("almost", spec=spec)])
    assert len(out) == 1
    message, urn = out[0]
    assert "'honeydue'" in message and "api" in message
    assert urn == namespace("honeydue")["urn"]  # reported on the Namespace resource


def test_default_deny_per_namespace() -> None:
    stack = [deployment("api", "honeydue"), deployment("grafana", "monitoring"), default_deny("honeydue")]
    out = check_stack(D, stack)
    assert len(out) == 1 and "'monitoring'" in out[0][0]
    assert out[0][1] == stack[1]["urn"]  # no Namespace resource: reported on the first workload
    # A default-deny in another namespace does not count; a missing namespace means "default".
    bare = deployment("x")
    del bare["inputs"]["metadata"]["namespace"]
    assert "'default'" in check_stack(D, [bare, default_deny("honeydue")])[0][0]


def test_default_deny_config_and_unknowns() -> None:
    stack = [deployment("grafana", "monitoring")]
    assert len(check_stack(D, stack)) == 1
    assert check_stack(D, stack, {"exemptNamespaces": ["monitoring"]}) == []
    assert len(check_stack(D, [deployment("coredns", "kube-system")], {"exemptNamespaces": []})) == 1
    # Unknown namespace or spec of a candidate policy: cannot tell, so no violation.
    assert check_stack(D, [deployment(), netpol("dd", namespace="[unknown]", spec={"podSelector": {}})]) == []
    assert check_stack(D, [deployment(), netpol("dd", spec={"podSelector": {}, "policyTypes": "[unknown]"})]) == []
    assert check_stack(D, [deployment(namespace="[unknown]")]) == []


# --- egress-blocks-metadata -------------------------------------------------------------------


def egress(rules: list[dict[str, Any]]) -> dict[str, Any]:
    return netpol("egress", spec={"podSelector": {}, "policyTypes": ["Egress"], "egress": rules})


def test_metadata_compliant() -> None:
    assert check(M, internet_egress()) == []
    assert check(M, internet_egress(["169.254.0.0/16"])) == []  # a covering except counts
    assert check(M, default_deny()) == []
    assert check(M, egress([{"to": [{"ipBlock": {"cidr": "10.0.0.0/8"}}]}])) == []
    # An empty `to` restricted to DNS does not reach the metadata HTTP service.
    assert check(M, egress([{"ports": [{"protocol": "UDP", "port": 53}, {"protocol": "TCP", "port": 53}]}])) == []


@pytest.mark.parametrize(
    "rules",
    [
        [{"to": [{"ipBlock": {"cidr": "0.0.0.0/0"}}]}],
        [{"to": [{"ipBlock": {"cidr": "0.0.0.0/0", "except": ["10.0.0.0/8"]}}]}],
        [{"to": [{"ipBlock": {"cidr": "169.254.0.0/16", "except": ["169.254.169.0/32"]}}]}],
        [{"to": [{"ipBlock": {"cidr": "169.254.169.254/32"}}], "ports": [{"port": 443}]}],
        [{}],  # allow all
        [{"ports": [{"protocol": "TCP", "port": 80}]}],
        [{"ports": [{"protocol": "TCP", "port": 1, "endPort": 1024}]}],
        [{"ports": [{"port": "http"}]}],  # a named port could be 80
    ],
)
def test_metadata_violations(rules: list[dict[str, Any]]) -> None:
    msgs = check(M, egress(rules))
    assert len(msgs) == 1 and "egress rule 0" in msgs[0]


def test_metadata_config_and_unknowns() -> None:
    wide = egress([{"to": [{"ipBlock": {"cidr": "10.0.0.0/8"}}]}])
    assert len(check(M, wide, {"metadataAddresses": ["10.0.0.1"]})) == 1
    ingress_only = netpol("i", spec={"podSelector": {}, "policyTypes": ["Ingress"], "egress": [{}]})
    assert check(M, ingress_only) == []
    assert check(M, egress([{"to": "[unknown]"}])) == []
    assert check(M, egress([{"to": [{"ipBlock": {"cidr": "[unknown]"}}]}])) == []
    assert check(M, egress([{"to": [{"ipBlock": {"cidr": "0.0.0.0/0", "except": ["[unknown]"]}}]}])) == []
    assert check(M, egress([{"ports": "[unknown]"}])) == []
    assert check(M, netpol("u", spec="[unknown]")) == []  # type: ignore[arg-type]


# --- helm-charts-pinned -----------------------------------------------------------------------

HC = "helm-charts-pinned"


@pytest.mark.parametrize("version", ["1.26.0", "v3.2.1", "1.0.0-rc.1", "2.0.0+build.5"])
def test_helm_pinned_ok(version: str) -> None:
    assert check(HC, release(version=version)) == []


@pytest.mark.parametrize(
    "version", ["", None, "^1.2.0", "~1.2", "1.x", "*", ">=1.0.0", "1.2", "latest", "1.2.3 || 2.0.0"]
)
def test_helm_pinned_rejects(version: Any) -> None:
    r = release(version=version)
    if version is None:
        del r["inputs"]["version"]
    msgs = check(HC, r)
    assert len(msgs) == 1 and "hcloud-cloud-controller-manager" in msgs[0]


def test_helm_v4_chart_and_k3s_helmchart() -> None:
    v4 = resource("kubernetes:helm.sh/v4:Chart", "kyverno", {"chart": "kyverno", "version": "^3"})
    assert len(check(HC, v4)) == 1
    v4["inputs"]["version"] = "3.5.2"
    assert check(HC, v4) == []
    hc = resource("kubernetes:helm.cattle.io/v1:HelmChart", "suc", {"spec": {"chart": "suc", "version": ""}})
    assert len(check(HC, hc)) == 1
    assert check(HC, release(version="[unknown]")) == []
    assert check(HC, resource("kubernetes:helm.cattle.io/v1:HelmChartConfig", "traefik", {"spec": {}})) == []
