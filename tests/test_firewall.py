"""ClusterFirewall (components/firewall.py): the web from Cloudflare only, SSH and the Kubernetes
API from the admin CIDRs only (plus the uptime monitor's probe on 6443), and a ci-access firewall
whose rules Pulumi leaves to CI.

The pure rule builder first, then the component in the mock runtime: the whole stack (conftest's
session plans) for the wiring, and a small firewall-only program (below) for what only another
Cloudflare answer or other arguments show; each such run takes milliseconds once imported.
"""

from __future__ import annotations

import ipaddress
import json
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from components.config import ConfigError, load_config
from components.firewall import (
    HETZNER_EFFECTIVE_RULE_LIMIT,
    CloudflareRangesError,
    canonical_cidrs,
    ci_access_firewall_name,
    firewall_rules,
    validate_cloudflare_ranges,
)
from tools import ci_access, mockrt

FIREWALL = "hcloud:index/firewall:Firewall"
ADMIN_PORTS = {"22", "2222", "6443", "2379", "2380", "10250"}
WORLD = {"0.0.0.0/0", "::/0"}
PUBLISHED = json.loads(mockrt.CLOUDFLARE_IPS.read_text())
CLOUDFLARE = set(PUBLISHED["ipv4"]) | set(PUBLISHED["ipv6"])

FIREWALL_ONLY_PROGRAM = """
import pulumi

from components.firewall import ClusterFirewall, ClusterFirewallArgs

fw = ClusterFirewall("fw", ClusterFirewallArgs(**{args!r}))
pulumi.export("cloudflareCidrs", fw.cloudflare_cidrs)
pulumi.export("firewallId", fw.firewall_id)
pulumi.export("ciFirewallId", fw.ci_firewall_id)
"""


def cluster_firewall(plan: mockrt.PlanResult) -> mockrt.Registration:
    """The cluster's firewall (the uptime monitor has its own, see tests/test_monitor.py)."""
    return plan.by_name("fw-firewall")


def rules_on(firewall: mockrt.Registration, port: str) -> list[dict[str, Any]]:
    return [r for r in firewall.inputs["rules"] if r.get("port") == port]


def run_firewall(tmp_path: Path, ranges: dict[str, list[str]] | None = None, **args: Any) -> mockrt.PlanResult:
    """The component alone under mocks; `ranges` is Cloudflare's answer (default: the fixture)."""
    defaults: dict[str, Any] = {
        "environment": "test",
        "admin_cidrs": ("198.51.100.7/32", "2001:db8:1234::/48"),
        "ssh_port": 2222,
        "allow_icmp": True,
    }
    program = tmp_path / "firewall_only.py"
    program.write_text(FIREWALL_ONLY_PROGRAM.format(args={**defaults, **args}))
    return mockrt.run_program("staging", raw={}, mocks=mockrt.PlanMocks(cloudflare_ranges=ranges), program=program)


# --------------------------------------------------------------------------------------------
# Pure: the rule builder and Cloudflare's answer
# --------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("v4", "v6", "message"),
    [
        ([], [], "no IPv4 ranges"),
        (["not-a-cidr"], ["2400:cb00::/32"], "malformed IPv4"),
        (["0.0.0.0/0"], ["2400:cb00::/32"], "implausibly wide"),
        (["173.245.48.0/20"], None, "no IPv6"),
    ],
)
def test_cloudflare_answer_validation(v4: list[str], v6: list[str] | None, message: str) -> None:
    with pytest.raises(CloudflareRangesError, match=message):
        validate_cloudflare_ranges(v4, v6)


def test_canonical_cidrs_is_the_form_hetzner_answers_in() -> None:
    """Sorted IPv4 first, compressed lower-case IPv6, duplicates gone: else every preview diffs."""
    given_cidrs = ["2400:CB00:0000::/32", "173.245.48.0/20", "103.21.244.0/22", "2400:cb00::/32", "173.245.48.0/20"]
    assert canonical_cidrs(given_cidrs) == ["103.21.244.0/22", "173.245.48.0/20", "2400:cb00::/32"]


def test_rules_for_each_port_and_switch() -> None:
    admins = ["2001:db8:1234::/48", "198.51.100.7/32"]
    rules = firewall_rules(["173.245.48.0/20"], admins, 2222, allow_icmp=False)
    assert [(r["protocol"], r.get("port")) for r in rules] == [("tcp", "80"), ("tcp", "443"), ("tcp", "2222"), ("tcp", "6443")]  # fmt: skip
    assert all(r["direction"] == "in" for r in rules)
    assert [r["source_ips"] for r in rules[2:]] == [canonical_cidrs(admins)] * 2
    with_probe = firewall_rules(["173.245.48.0/20"], admins, 2222, True, ["203.0.113.5/32"])
    probe = [r for r in with_probe if r.get("port") == "6443" and r["source_ips"] == ["203.0.113.5/32"]]
    assert len(probe) == 1 and "uptime monitor" in probe[0]["description"]
    (icmp,) = [r for r in with_probe if r["protocol"] == "icmp"]
    assert "port" not in icmp and set(icmp["source_ips"]) == WORLD


def test_rules_beyond_hetzners_limit_are_refused() -> None:
    """Hetzner counts rules x sources; the builder refuses what the API would reject."""
    admins = ["198.51.100.7/32"]  # 1 (SSH) + 1 (6443)
    fits = (HETZNER_EFFECTIVE_RULE_LIMIT - 2) // 2  # the web ranges count twice (80, 443)
    web = [str(ipaddress.IPv4Network((0x0A000000 + (i << 8), 24))) for i in range(fits + 1)]
    rules = firewall_rules(web[:fits], admins, 2222, allow_icmp=False)
    assert sum(len(r["source_ips"]) for r in rules) == HETZNER_EFFECTIVE_RULE_LIMIT
    with pytest.raises(ValueError, match=f"Hetzner allows {HETZNER_EFFECTIVE_RULE_LIMIT}"):
        firewall_rules(web, admins, 2222, allow_icmp=False)


admin_cidr = st.one_of(
    st.builds(
        lambda a, p: str(ipaddress.IPv4Network((a, p), strict=False)), st.integers(0, 2**32 - 1), st.integers(0, 32)
    ),
    st.builds(
        lambda a, p: str(ipaddress.IPv6Network((a, p), strict=False)), st.integers(0, 2**128 - 1), st.integers(0, 128)
    ),
)


@settings(max_examples=200, deadline=None)
@given(cidrs=st.lists(admin_cidr, min_size=1, max_size=6), port=st.integers(1024, 65535))
def test_property_ssh_and_api_never_world_open(cidrs: list[str], port: int) -> None:
    """Whatever admin CIDRs are configured, the loader + rule builder never admit the world."""
    raw = mockrt.stack_config("prod", {"adminCidrs": cidrs, "sshPort": port})
    try:
        cfg = load_config(raw)
    except ConfigError:
        assert any(ipaddress.ip_network(c).prefixlen == 0 for c in cidrs) or port in {2379, 2380, 6443, 10250}
        return
    rules = firewall_rules(["173.245.48.0/20"], cfg.access.admin_cidrs, cfg.access.ssh_port, True)
    for rule in rules:
        if rule.get("port") in {str(cfg.access.ssh_port), "6443"}:
            assert not WORLD & set(rule["source_ips"])


# --------------------------------------------------------------------------------------------
# The stack's firewalls (the real __main__.py)
# --------------------------------------------------------------------------------------------


def test_web_ports_admit_exactly_the_cloudflare_ranges(prod_plan: mockrt.PlanResult) -> None:
    firewall = cluster_firewall(prod_plan)
    rules = firewall.inputs["rules"]
    web = [r for r in rules if r.get("port") in ("80", "443")]
    assert len(web) == 2
    assert all(set(r["sourceIps"]) == CLOUDFLARE for r in web)
    assert all(r["direction"] == "in" for r in rules)
    ports = {r.get("port") for r in rules}
    assert ports == {"80", "443", "2222", "6443", None}  # None: ICMP
    assert sum(len(r["sourceIps"]) for r in rules) < 500


def test_no_admin_port_open_to_the_world(prod_plan: mockrt.PlanResult) -> None:
    for rule in cluster_firewall(prod_plan).inputs["rules"]:
        if rule.get("port") in ADMIN_PORTS:
            assert not WORLD & set(rule["sourceIps"])


@pytest.mark.parametrize("stack", ["prod", "staging"])
def test_ssh_and_api_admit_exactly_the_admin_cidrs(stack: str, request: pytest.FixtureRequest) -> None:
    """SSH (the stack's sshPort) from the stack's adminCidrs only; 6443 from them and, where the
    stack has an uptime monitor, from the monitor's two addresses; no Cloudflare range on either."""
    plan: mockrt.PlanResult = request.getfixturevalue(f"{stack}_plan")  # session fixtures (conftest.py)
    raw = mockrt.stack_config(stack)
    admins = canonical_cidrs(raw["adminCidrs"])
    firewall = cluster_firewall(plan)
    (ssh,) = rules_on(firewall, str(raw["sshPort"]))
    assert ssh["protocol"] == "tcp" and ssh["sourceIps"] == admins
    api = {tuple(r["sourceIps"]) for r in rules_on(firewall, "6443")}
    monitor = plan.outputs.get("monitor")
    probe = {(f"{monitor['ipv4']}/32", f"{monitor['ipv6']}/128")} if monitor else set()
    assert api == {tuple(admins)} | probe
    assert (stack == "prod") == bool(probe)  # prod has a monitor, staging none: both branches run
    assert not CLOUDFLARE & {ip for r in [ssh, *rules_on(firewall, "6443")] for ip in r["sourceIps"]}


@pytest.mark.parametrize("stack", ["prod", "staging"])
def test_ci_access_firewall_has_no_rules_and_ignores_rule_changes(stack: str, request: pytest.FixtureRequest) -> None:
    plan: mockrt.PlanResult = request.getfixturevalue(f"{stack}_plan")
    environment = ci_access.environment_of(stack)
    (ci,) = [f for f in plan.of_type(FIREWALL) if f.inputs.get("name") == f"honeydue-{environment}-ci-access"]
    assert not ci.inputs.get("rules")
    assert ci.options["ignoreChanges"] == ["rules"]
    # The main firewall keeps every rule under Pulumi's control.
    main = plan.by_name("fw-firewall")
    assert main.inputs["rules"] and not main.options.get("ignoreChanges")
    assert mockrt.unwrap(plan.outputs["ciFirewallId"]) > 0


def test_empty_cloudflare_answer_fails_the_program() -> None:
    with pytest.raises(Exception, match="no IPv4 ranges"):
        mockrt.run_program_isolated(
            "staging", mocks=mockrt.PlanMocks(cloudflare_ranges={"ipv4": [], "ipv6": ["2400:cb00::/32"]})
        )


# --------------------------------------------------------------------------------------------
# The component alone
# --------------------------------------------------------------------------------------------


def test_the_web_rules_follow_a_new_cloudflare_range(tmp_path: Path) -> None:
    """Cloudflare publishes a range: the next run admits it on 80 and 443, in Hetzner's order,
    and exports it (Traefik's trusted proxies); the admin rules do not change."""
    new = {"ipv4": [*PUBLISHED["ipv4"], "203.0.113.0/24"], "ipv6": ["2A06:98C0::/29", *PUBLISHED["ipv6"]]}
    before, after = run_firewall(tmp_path), run_firewall(tmp_path, new)
    expected = canonical_cidrs([*CLOUDFLARE, "203.0.113.0/24"])
    for port in ("80", "443"):
        (rule,) = rules_on(cluster_firewall(after), port)
        assert rule["sourceIps"] == expected
        assert "203.0.113.0/24" not in rules_on(cluster_firewall(before), port)[0]["sourceIps"]
    assert "203.0.113.0/24" in after.outputs["cloudflareCidrs"]
    for port in ("2222", "6443"):
        assert rules_on(cluster_firewall(after), port) == rules_on(cluster_firewall(before), port)


def test_a_reordered_cloudflare_answer_changes_nothing(tmp_path: Path) -> None:
    """Traefik's trusted IPs come from the exported ranges: Cloudflare answering the same ranges
    in another order (or spelling) must not change them, nor the rules."""
    shuffled = {"ipv4": list(reversed(PUBLISHED["ipv4"])), "ipv6": [c.upper() for c in reversed(PUBLISHED["ipv6"])]}
    before, after = run_firewall(tmp_path), run_firewall(tmp_path, shuffled)
    assert after.outputs["cloudflareCidrs"] == before.outputs["cloudflareCidrs"] == canonical_cidrs(CLOUDFLARE)
    assert cluster_firewall(after).inputs["rules"] == cluster_firewall(before).inputs["rules"]


def test_component_names_switches_and_the_ci_firewall(tmp_path: Path) -> None:
    plan = run_firewall(tmp_path, environment="qa", ssh_port=2200, allow_icmp=False)
    main = cluster_firewall(plan)
    assert main.inputs["name"] == "honeydue-qa" and main.inputs["labels"]["environment"] == "qa"
    assert {r.get("port") for r in main.inputs["rules"]} == {"80", "443", "2200", "6443"}  # no ICMP
    assert len(rules_on(main, "6443")) == 1  # no monitor probe without its addresses
    # tools/ci_access.py finds the CI firewall by this name; its rules are CI's, never Pulumi's.
    ci = plan.by_name("fw-ci-access")
    assert ci.inputs["name"] == ci_access_firewall_name("qa") == "honeydue-qa-ci-access"
    assert "rules" not in ci.inputs and ci.options["ignoreChanges"] == ["rules"]
    (component,) = plan.of_type("honeydue:firewall:ClusterFirewall")
    assert main.parent == ci.parent == component.urn
    assert plan.outputs["firewallId"] > 0 and plan.outputs["ciFirewallId"] > 0
    assert plan.outputs["firewallId"] != plan.outputs["ciFirewallId"]
