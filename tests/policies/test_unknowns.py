"""Values the pack cannot read, systematically: every input of a compliant resource, replaced in
turn by an unknown (resources.json markers and the engine's own sentinels behind its proxies),
must never crash a policy, and may only ever produce a *fail-closed* violation (a message that
says the value cannot be read). The values that decide a verdict must produce one."""

from __future__ import annotations

import json
import re
from typing import Any

import pytest
from pulumi_policy.proxy import UNKNOWN_STRING_VALUE, unknown_checking_proxy

from policies.guardrails.runner import with_cloudflare_ranges

from .lib import (
    CLOUDFLARE_FIXTURE,
    ROOT,
    check,
    check_stack,
    cronjob,
    default_deny,
    deployment,
    dns,
    firewall,
    helm_chart_config,
    image_policy,
    internet_egress,
    leaf_paths,
    release,
    replaced,
    server,
    service,
    upgrade_plan,
    zone_setting,
)

PROD = with_cloudflare_ranges(json.loads((ROOT / "policies" / "config.prod.json").read_text()), CLOUDFLARE_FIXTURE)
FAIL_CLOSED = re.compile(r"not known|cannot be read|fails closed|cannot be checked|cannot be judged")
C = ("spec", "template", "spec", "containers", 0)

# (policy, compliant sample, input paths whose unknown value MUST be reported)
CASES: list[tuple[str, dict[str, Any], list[tuple[Any, ...]]]] = [
    ("container-images-pinned", deployment(), [(*C, "image"), (*C[:-1],), ("spec", "template", "spec")]),
    ("container-images-pinned", cronjob(), []),
    ("container-images-allowed-registries", deployment(), []),
    ("container-images-allowed-registries", cronjob(), []),
    (
        "workloads-hardened",
        deployment(),
        [
            (*C, "securityContext"),
            (*C, "securityContext", "allowPrivilegeEscalation"),
            (*C, "securityContext", "capabilities", "drop"),
            (*C, "securityContext", "capabilities", "drop", 0),
            (*C, "securityContext", "runAsNonRoot"),
            ("spec", "template", "spec", "securityContext"),
            (*C,),
        ],
    ),
    ("workloads-hardened", cronjob(), []),
    ("workloads-hardened", helm_chart_config(), [("spec", "valuesContent")]),
    ("workloads-hardened", upgrade_plan(image=f"rancher/k3s-upgrade@sha256:{'ab' * 32}"), [("spec", "upgrade")]),
    ("secrets-not-in-plaintext", deployment(), []),
    ("secrets-not-in-plaintext", cronjob(), []),
    (
        "firewall-no-world-admin-ports",
        firewall(),
        [
            ("rules",),
            ("rules", 2, "port"),
            ("rules", 2, "sourceIps"),
            ("rules", 2, "sourceIps", 0),
            ("rules", 4, "protocol"),
        ],
    ),
    ("firewall-web-from-cloudflare-only", firewall(), [("rules", 0, "sourceIps", 3), ("rules", 1, "port")]),
    ("no-firewall-bypass", service(), [("spec", "type")]),
    ("servers-guarded", server(), [("firewallIds",)]),
    ("user-data-size", server(user_data="x" * 1000), []),
    ("user-data-size-warning", server(user_data="x" * 1000), []),
    ("cloudflare-ssl-strict", zone_setting("ssl", "strict"), [("value",), ("settingId",)]),
    ("cloudflare-https-only", zone_setting("always_use_https", "on"), [("value",)]),
    ("cloudflare-https-only", zone_setting("min_tls_version", "1.2"), [("value",)]),
    ("dns-web-records-proxied", dns(), [("proxied",), ("type",)]),
    ("egress-blocks-metadata", internet_egress(), [("spec", "egress", 0, "to", 0, "ipBlock", "cidr")]),
    ("helm-charts-pinned", release(), [("version",), ("chart",)]),
    ("image-verification-enforced", image_policy(), [("spec", "validationActions"), ("spec", "attestors")]),
]


@pytest.mark.parametrize(("policy", "sample", "must_fail"), CASES, ids=[f"{p}-{r['name']}" for p, r, _ in CASES])
def test_every_input_unknown(policy: str, sample: dict[str, Any], must_fail: list[tuple[Any, ...]]) -> None:
    cfg = {k: v for k, v in PROD.get(policy, {}).items() if k != "enforcementLevel"}
    assert check(policy, sample, cfg) == [], "the sample must be compliant"
    paths = leaf_paths(sample["inputs"])
    assert len(paths) >= 3 and all(p in paths for p in must_fail)
    for path in paths:
        for marker in ("[unknown]", "[secret]"):
            msgs = check(policy, sample, cfg, props=replaced(sample["inputs"], path, marker))
            assert all(FAIL_CLOSED.search(m) for m in msgs), (path, marker, msgs)
            if path in must_fail:
                assert msgs, (path, marker, "must fail closed")
        # The engine's shape: its sentinel, behind unknown_checking_proxy (raises on access).
        proxied = unknown_checking_proxy(replaced(sample["inputs"], path, UNKNOWN_STRING_VALUE))
        msgs = check(policy, sample, cfg, props=proxied)
        assert all(FAIL_CLOSED.search(m) for m in msgs), (path, "engine sentinel", msgs)
        assert bool(msgs) or path not in must_fail, (path, "engine sentinel must fail closed")


def test_engine_proxies_still_find_violations() -> None:
    bad = deployment()
    bad["inputs"]["spec"]["template"]["spec"]["hostPID"] = True
    assert len(check("workloads-hardened", bad, props=unknown_checking_proxy(bad["inputs"]))) == 1


def test_stack_policy_every_input_unknown() -> None:
    """An unknown anywhere in the namespace's policy or workload never passes silently: the
    namespace is either still covered, or reported (the policy no longer proves a default deny)."""
    stack = [deployment(), default_deny()]
    assert check_stack("namespaces-default-deny", stack) == []
    for i, r in enumerate(stack):
        for path in leaf_paths(r["inputs"]):
            changed = [dict(x) for x in stack]
            changed[i] = {**r, "inputs": replaced(r["inputs"], path, "[unknown]")}
            out = check_stack("namespaces-default-deny", changed)
            decisive = i == 1 or path[:2] == ("metadata", "namespace")
            if decisive and path not in (("metadata", "name"),):
                assert out, (i, path)
            for message, _ in out:
                assert "default-deny" in message or FAIL_CLOSED.search(message), (i, path, message)


def test_secret_wire_wrapper_is_unwrapped() -> None:
    """The mock/engine wire form of a secret: the value is checked when present, unknown when not."""
    sig = "4dabf18193072939515e22adb298388d"
    wrapped = {sig: "1b47061264138c4ac30d75fd1eb44270", "value": "x" * 40000}
    assert len(check("user-data-size", server(), props={**server()["inputs"], "userData": wrapped})) == 1
    assert check("user-data-size", server(), props={**server()["inputs"], "userData": {sig: "1b47"}}) == []
