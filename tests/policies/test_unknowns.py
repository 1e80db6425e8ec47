"""Preview-time unknowns, systematically: every input of a compliant resource, replaced in turn
by an unknown (resources.json markers and the engine's own sentinels behind its proxies), must
neither crash a policy nor produce a violation. container-images-signed is the one exception:
it fails closed on an unknown image (tested in test_images.py)."""

from __future__ import annotations

import json
from typing import Any

import pytest
from pulumi_policy.proxy import UNKNOWN_STRING_VALUE, unknown_checking_proxy

from .lib import (
    ROOT,
    check,
    check_stack,
    cronjob,
    default_deny,
    deployment,
    dns,
    firewall,
    internet_egress,
    leaf_paths,
    release,
    replaced,
    server,
    zone_setting,
)

PROD = json.loads((ROOT / "policies" / "config.prod.json").read_text())

CASES: list[tuple[str, dict[str, Any]]] = [
    *[
        (p, r)
        for p in (
            "container-images-pinned",
            "container-images-allowed-registries",
            "workloads-hardened",
            "secrets-not-in-plaintext",
        )
        for r in (deployment(), cronjob())
    ],
    ("firewall-no-world-admin-ports", firewall()),
    ("firewall-web-from-cloudflare-only", firewall()),
    ("servers-guarded", server()),
    ("user-data-size", server(user_data="x" * 40000)),  # over the limit: unknown hides it
    ("user-data-size-warning", server(user_data="x" * 20000)),
    ("cloudflare-ssl-strict", zone_setting("ssl", "strict")),
    ("cloudflare-https-only", zone_setting("always_use_https", "on")),
    ("cloudflare-https-only", zone_setting("min_tls_version", "1.2")),
    ("dns-web-records-proxied", dns()),
    ("egress-blocks-metadata", internet_egress()),
    ("helm-charts-pinned", release()),
]


def config_of(policy: str) -> dict[str, Any]:
    entry = PROD.get(policy, {})
    return {k: v for k, v in entry.items() if k != "enforcementLevel"}


@pytest.mark.parametrize(("policy", "sample"), CASES, ids=[f"{p}-{r['name']}" for p, r in CASES])
def test_every_input_unknown(policy: str, sample: dict[str, Any]) -> None:
    cfg = config_of(policy)
    big_user_data = policy.startswith("user-data-size")
    if not big_user_data:
        assert check(policy, sample, cfg) == [], "the sample must be compliant"
    paths = leaf_paths(sample["inputs"])
    assert len(paths) >= 3
    for path in paths:
        if big_user_data and path != ("userData",):
            continue
        for marker in ("[unknown]", "[secret]"):
            props = replaced(sample["inputs"], path, marker)
            assert check(policy, sample, cfg, props=props) == [], (path, marker)
        # The engine's shape: its sentinel, behind unknown_checking_proxy (raises on access).
        proxied = unknown_checking_proxy(replaced(sample["inputs"], path, UNKNOWN_STRING_VALUE))
        assert check(policy, sample, cfg, props=proxied) == [], (path, "engine sentinel")


def test_engine_proxies_still_find_violations() -> None:
    bad = deployment()
    bad["inputs"]["spec"]["template"]["spec"]["hostPID"] = True
    assert len(check("workloads-hardened", bad, props=unknown_checking_proxy(bad["inputs"]))) == 1


def test_stack_policy_every_input_unknown() -> None:
    stack = [deployment(), default_deny()]
    assert check_stack("namespaces-default-deny", stack) == []
    for i, r in enumerate(stack):
        for path in leaf_paths(r["inputs"]):
            changed = [dict(x) for x in stack]
            changed[i] = {**r, "inputs": replaced(r["inputs"], path, "[unknown]")}
            out = check_stack("namespaces-default-deny", changed)
            # Unknown workload fields may hide the workload; unknown policy fields make it undecidable.
            assert out == [], (i, path)


def test_secret_wire_wrapper_is_unwrapped() -> None:
    """The mock/engine wire form of a secret: the value is checked when present, unknown when not."""
    sig = "4dabf18193072939515e22adb298388d"
    wrapped = {sig: "1b47061264138c4ac30d75fd1eb44270", "value": "x" * 40000}
    assert len(check("user-data-size", server(), props={**server()["inputs"], "userData": wrapped})) == 1
    assert check("user-data-size", server(), props={**server()["inputs"], "userData": {sig: "1b47"}}) == []
