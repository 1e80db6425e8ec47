"""The host layer (components/host.py): every server of a stack is a guarded HardenedHost, and
moving the K3s servers onto it changed no URN.

tests/golden/urns/{prod,staging}.txt are the plans' URN sets recorded at the commit before the
host layer (decc2dd). A later change that adds or renames a resource on purpose regenerates
them (UPDATE_GOLDEN=1) and says in its commit which URNs changed and why: each changed URN would
replace a real resource.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from components.host import ipv6_host_address, ssh_key_id
from tools import mockrt

GOLDEN = Path(__file__).resolve().parent / "golden" / "urns"
UPDATE_GOLDEN = os.environ.get("UPDATE_GOLDEN") == "1"
SERVER = "hcloud:index/server:Server"
MONITOR = "honeydue:monitor:UptimeMonitor"


def _urns(plan: mockrt.PlanResult, *, without_monitor: bool) -> set[str]:
    urns = {r.urn for r in plan.resources}
    if without_monitor:
        urns = {u for u in urns if MONITOR not in u}
    return urns


@pytest.mark.parametrize("stack", ["prod", "staging"])
def test_urns_of_existing_resources_are_unchanged(
    stack: str, prod_plan: mockrt.PlanResult, staging_plan: mockrt.PlanResult
) -> None:
    plan = prod_plan if stack == "prod" else staging_plan
    golden = GOLDEN / f"{stack}.txt"
    current = _urns(plan, without_monitor=True)
    if UPDATE_GOLDEN:
        golden.write_text("\n".join(sorted(current)) + "\n")
    before = set(golden.read_text().split())
    assert current - before == set(), "new URNs outside the monitor"
    assert before - current == set(), "URNs gone or renamed: each would replace a real resource"


def test_the_monitor_only_adds_resources_under_its_component(prod_plan: mockrt.PlanResult) -> None:
    added = _urns(prod_plan, without_monitor=False) - set((GOLDEN / "prod.txt").read_text().split())
    (component,) = [r for r in prod_plan.resources if r.type == MONITOR]
    assert component.urn in added
    assert all(MONITOR in u for u in added)
    assert {u.rsplit("::", 1)[1] for u in added} == {
        "monitor",
        "monitor-ipv4",
        "monitor-ipv6",
        "monitor-firewall",
        "monitor-watchdog-token",
        "monitor-server",
    }


@pytest.mark.parametrize("stack", ["prod", "staging"])
def test_every_server_is_a_guarded_host(
    stack: str, prod_plan: mockrt.PlanResult, staging_plan: mockrt.PlanResult
) -> None:
    plan = prod_plan if stack == "prod" else staging_plan
    protect = stack == "prod"
    servers = plan.of_type(SERVER)
    assert servers
    ips = {r.urn: r for r in plan.of_type("hcloud:index/primaryIp:PrimaryIp")}
    for server in servers:
        assert set(server.options["ignoreChanges"]) == {"userData", "image", "sshKeys"}, server.name
        assert server.options["protect"] is protect
        assert server.inputs["deleteProtection"] is protect and server.inputs["rebuildProtection"] is protect
        assert server.raw_inputs["userData"][mockrt.SIG_KEY] == mockrt.SECRET_SIG
        assert server.inputs["firewallIds"] and server.inputs["sshKeys"]
        # its own Primary IPv4 and IPv6, kept when the server goes (auto_delete off)
        own = [ips[d] for d in server.dependencies if d in ips]
        assert sorted(ip.inputs["type"] for ip in own) == ["ipv4", "ipv6"], server.name
        for ip in own:
            assert ip.inputs["autoDelete"] is False and ip.inputs["location"] == server.inputs["location"]
            assert ip.inputs["labels"]["role"] == server.inputs["labels"]["role"]
        # the same base cloud-init: the admin user and the guard, on every host
        assert "honeydue-metadata-guard.service" in server.inputs["userData"]


def test_ipv6_host_address_and_key_ids() -> None:
    assert ipv6_host_address("2001:db8:1::") == "2001:db8:1::1"
    assert ipv6_host_address("2001:db8:1::/64") == "2001:db8:1::1"
    key = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIHd0ZmFrZWtleWZvcnRlc3RzMDEyMzQ1Njc4 ops"
    assert ssh_key_id(key) == ssh_key_id(key.replace(" ops", " other-comment"))
    assert len(ssh_key_id(key)) == 12
