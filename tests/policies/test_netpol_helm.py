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
    # Unknown namespace or spec of a candidate policy: it proves nothing, so the namespace is reported.
    assert len(check_stack(D, [deployment(), netpol("dd", namespace="[unknown]", spec={"podSelector": {}})])) == 1
    assert len(check_stack(D, [deployment(), netpol("dd", spec={"podSelector": {}, "policyTypes": "[unknown]"})])) == 1
    (out,) = check_stack(D, [deployment(namespace="[unknown]")])
    assert "namespace is not known" in out[0]


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
    # What the policy cannot read fails closed.
    for rules in (
        [{"to": "[unknown]"}],
        [{"to": [{"ipBlock": {"cidr": "[unknown]"}}]}],
        [{"to": [{"ipBlock": {"cidr": "0.0.0.0/0", "except": ["[unknown]"]}}]}],
        [{"ports": "[unknown]"}],
    ):
        (msg,) = check(M, egress(rules))
        assert "fails closed" in msg, rules
    assert check(M, netpol("u", spec="[unknown]")) == []  # type: ignore[arg-type]  # no rules to judge
    # A patch is judged like a policy.
    patch = egress([{"to": [{"ipBlock": {"cidr": "0.0.0.0/0"}}]}])
    patch["type"] = "kubernetes:networking.k8s.io/v1:NetworkPolicyPatch"
    assert len(check(M, patch)) == 1


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
    assert len(check(HC, release(version="[unknown]"))) == 1  # fails closed
    assert check(HC, resource("kubernetes:helm.cattle.io/v1:HelmChartConfig", "traefik", {"spec": {}})) == []


# --- class 5: patches, allow-alls, unknown namespaces, provider namespaces ---------------------


def allow_all_ingress(namespace: str = "honeydue") -> dict[str, Any]:
    return netpol("allow-all", namespace, {"podSelector": {}, "policyTypes": ["Ingress"], "ingress": [{}]})


@pytest.mark.parametrize(
    "opener",
    [
        allow_all_ingress(),
        netpol("allow-all-egress", spec={"podSelector": {}, "policyTypes": ["Egress"], "egress": [{}]}),
        netpol(
            "to-world",
            spec={
                "podSelector": {},
                "policyTypes": ["Egress"],
                "egress": [{"to": [{"ipBlock": {"cidr": "0.0.0.0/0"}}]}],
            },
        ),
        netpol(
            "from-world-v6",
            spec={
                "podSelector": {"matchLabels": {"app": "api"}},
                "ingress": [{"from": [{"ipBlock": {"cidr": "::/0"}}]}],
            },
        ),
        {
            **default_deny(),
            "name": "patch",
            "type": "kubernetes:networking.k8s.io/v1:NetworkPolicyPatch",
            "inputs": {
                "metadata": {"name": "default-deny", "namespace": "honeydue"},
                "spec": {"ingress": [{"from": [{"namespaceSelector": {}}]}]},
            },
        },
        {
            **default_deny(),
            "name": "patch2",
            "type": "kubernetes:networking.k8s.io/v1:NetworkPolicyPatch",
            "inputs": {
                "metadata": {"name": "default-deny", "namespace": "honeydue"},
                "spec": {"policyTypes": ["Ingress"]},
            },
        },
    ],
)
def test_default_deny_cancelled(opener: dict[str, Any]) -> None:
    stack = [namespace("honeydue"), deployment(), default_deny(), opener]
    out = check_stack(D, stack)
    assert len(out) == 1 and "cancelled" in out[0][0] and out[0][1] == namespace("honeydue")["urn"], out


def test_default_deny_legitimate_neighbours() -> None:
    """Narrow allows beside the default deny do not cancel it (issue 10's shapes)."""
    traefik_in = netpol(
        "allow-traefik",
        spec={
            "podSelector": {"matchLabels": {"app": "api"}},
            "policyTypes": ["Ingress"],
            "ingress": [
                {
                    "from": [{"namespaceSelector": {"matchLabels": {"kubernetes.io/metadata.name": "kube-system"}}}],
                    "ports": [{"port": 8000}],
                }
            ],
        },
    )
    dns_out = netpol(
        "allow-dns",
        spec={
            "podSelector": {},
            "policyTypes": ["Egress"],
            "egress": [{"ports": [{"protocol": "UDP", "port": 53}, {"protocol": "TCP", "port": 53}]}],
        },
    )
    stack = [namespace("honeydue"), deployment(), default_deny(), internet_egress(), traefik_in, dns_out]
    assert check_stack(D, stack) == []
    # An allow-all in another namespace does not cancel this one's deny.
    assert check_stack(D, [*stack, allow_all_ingress("other")]) == []


def test_unknown_namespace_does_not_switch_the_check_off_for_others() -> None:
    stack = [
        deployment("grafana", "monitoring"),
        deployment(),
        default_deny(),
        netpol("x", "[unknown]", {"podSelector": {}}),
    ]
    out = check_stack(D, stack)
    messages = [m for m, _ in out]
    assert any("'monitoring'" in m for m in messages)  # still checked
    assert not any("'honeydue'" in m for m in messages)  # still covered
    # An unknown-namespace allow-all is reported on its own.
    out = check_stack(D, [deployment(), default_deny(), allow_all_ingress("[unknown]")])
    assert len(out) == 1 and "namespace is not known" in out[0][0]


def test_objects_without_namespace_live_in_the_provider_namespace() -> None:
    from pulumi_policy import (
        PolicyCustomTimeouts,
        PolicyProviderResource,
        PolicyResource,
        PolicyResourceOptions,
        StackValidationArgs,
    )

    from .lib import POLICY

    def stack_with_provider(resources: list[dict[str, Any]], provider_ns: str | None) -> list[str]:
        props = {} if provider_ns is None else {"namespace": provider_ns}
        provider = PolicyProviderResource("pulumi:providers:kubernetes", props, "urn:provider", "k8s")
        opts = PolicyResourceOptions(False, [], None, [], PolicyCustomTimeouts(0, 0, 0), [], None)
        stack = [
            PolicyResource(r["type"], r["inputs"], r["urn"], r["name"], opts, provider, None, [], {}) for r in resources
        ]
        out: list[str] = []
        POLICY[D].validate(StackValidationArgs(stack, {}), lambda m, u=None: out.append(m))  # type: ignore[attr-defined]
        return out

    bare_deny = default_deny()
    del bare_deny["inputs"]["metadata"]["namespace"]
    bare_api = deployment()
    del bare_api["inputs"]["metadata"]["namespace"]
    # Both in the provider's namespace "honeydue": covered.
    assert stack_with_provider([bare_api, bare_deny], "honeydue") == []
    # The deny without a namespace lives in the provider's namespace, not in "honeydue".
    out = stack_with_provider([deployment(), bare_deny], "other")
    assert len(out) == 1 and "'honeydue'" in out[0]
    # No provider namespace: "default".
    out = stack_with_provider([bare_api, default_deny()], None)
    assert len(out) == 1 and "'default'" in out[0]


def test_runner_resolves_the_provider(tmp_path: Any) -> None:
    from policies.guardrails import run_policies

    from .lib import k8s_provider

    bare = deployment()
    del bare["inputs"]["metadata"]["namespace"]
    cfg = {"all": "disabled", D: "mandatory"}
    assert run_policies([k8s_provider("honeydue"), bare, default_deny()], cfg, signatures_advisory=True) == []
    (v,) = run_policies([k8s_provider("other"), bare, default_deny()], cfg, signatures_advisory=True)
    assert "'other'" in v.message
    # A recorded provider reference wins over the single-provider fallback.
    second = {
        **k8s_provider("honeydue"),
        "name": "k8s2",
        "urn": "urn:pulumi:prod::honeydue::pulumi:providers:kubernetes::k8s2",
    }
    ref = {**bare, "provider": second["urn"] + "::id-1"}
    assert run_policies([k8s_provider("other"), second, ref, default_deny()], cfg, signatures_advisory=True) == []


# --- namespaces-egress-exclude-metadata (issue 16: defence in depth beside the node guard) ----

X = "namespaces-egress-exclude-metadata"
CONFIG = {"exemptNamespaces": ["kube-system"], "metadataAddresses": ["169.254.169.254"]}


def test_exclude_metadata_compliant() -> None:
    assert check_stack(X, [namespace("honeydue"), deployment(), default_deny(), internet_egress()], CONFIG) == []
    # a wider except (the whole link-local range) covers it too
    wide = internet_egress(["169.254.0.0/16", "10.0.0.0/8"])
    assert check_stack(X, [namespace("honeydue"), wide], CONFIG) == []
    assert check_stack(X, [deployment("coredns", "kube-system")], CONFIG) == []  # exempt


@pytest.mark.parametrize(
    ("stack", "flagged"),
    [
        # a namespace the program creates, without any egress exclusion, even with no workloads
        ([namespace("monitoring"), default_deny("monitoring")], "monitoring"),
        # workloads in a namespace nobody created here
        ([deployment("web", "shop"), default_deny("shop")], "shop"),
        # internet egress whose except forgets the metadata service
        ([namespace("honeydue"), deployment(), internet_egress(["10.0.0.0/8"])], "honeydue"),
        # the exclusion lives in another namespace
        (
            [
                namespace("honeydue"),
                {
                    **internet_egress(),
                    "inputs": {**internet_egress()["inputs"], "metadata": {"name": "x", "namespace": "other"}},
                },
            ],
            "honeydue",
        ),
    ],
)
def test_exclude_metadata_catches(stack: list[dict[str, Any]], flagged: str) -> None:
    out = check_stack(X, stack, CONFIG)
    assert len(out) == 1 and f"namespace {flagged!r}" in out[0][0], out


def test_exclude_metadata_patch_does_not_count() -> None:
    patch = internet_egress()
    patch["type"] = "kubernetes:networking.k8s.io/v1:NetworkPolicyPatch"
    assert check_stack(X, [namespace("honeydue"), patch], CONFIG)
