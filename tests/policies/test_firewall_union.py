"""Property-based tests of the firewall union rule (firewall-no-world-admin-ports).

The oracle is independent of the policy's ipaddress.collapse_addresses: it merges integer
intervals. Properties: (1) the verdict is "violation" exactly when the merged size exceeds the
limit, however the sources are spread over rules and firewalls; (2) any partition of the world
(random recursive splits of 0.0.0.0/0 or ::/0) is always refused, split over rules, port ranges
and firewalls alike; (3) splitting a source into its halves never changes the verdict."""

from __future__ import annotations

import ipaddress
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from .lib import check_stack, firewall, urn

ADMIN = "firewall-no-world-admin-ports"
LIMIT4 = 2**24  # the default maxAdminSourcesIpv4Prefix: 8
LIMIT6 = 2**96  # the default maxAdminSourcesIpv6Prefix: 32


def cidr4() -> st.SearchStrategy[str]:
    return st.builds(
        lambda addr, prefix: str(ipaddress.IPv4Network((addr, prefix), strict=False)),
        st.integers(0, 2**32 - 1),
        st.integers(0, 32),
    )


def cidr6() -> st.SearchStrategy[str]:
    return st.builds(
        lambda addr, prefix: str(ipaddress.IPv6Network((addr, prefix), strict=False)),
        st.integers(0, 2**128 - 1),
        st.integers(0, 128),
    )


def merged_size(cidrs: list[str]) -> int:
    """Addresses covered, by sorting and merging [first, last] intervals (no ipaddress collapse)."""
    spans = sorted((int(n.network_address), int(n.broadcast_address)) for n in (ipaddress.ip_network(c) for c in cidrs))
    total, cur_lo, cur_hi = 0, None, None
    for lo, hi in spans:
        if cur_hi is not None and lo <= cur_hi + 1:
            cur_hi = max(cur_hi, hi)
            continue
        if cur_hi is not None and cur_lo is not None:
            total += cur_hi - cur_lo + 1
        cur_lo, cur_hi = lo, hi
    if cur_hi is not None and cur_lo is not None:
        total += cur_hi - cur_lo + 1
    return total


def spread(cidrs: list[str], groups: list[int], ports: list[str]) -> list[dict[str, Any]]:
    """Spread the sources over rules in up to 3 firewalls; every rule's port range covers 22."""
    by_fw: dict[int, list[dict[str, Any]]] = {}
    for i, cidr in enumerate(cidrs):
        g = groups[i % len(groups)]
        by_fw.setdefault(g % 3, []).append(
            {"direction": "in", "protocol": "tcp", "port": ports[i % len(ports)], "sourceIps": [cidr]}
        )
    out = []
    for g, rules in sorted(by_fw.items()):
        fw = firewall(rules)
        fw["name"] = f"fw{g}"
        fw["urn"] = urn(fw["type"], fw["name"])
        out.append(fw)
    return out


PORTS_COVERING_22 = st.lists(
    st.sampled_from(["22", "1-1024", "20-30", "any", "22-22", "10-6443"]), min_size=1, max_size=4
)
GROUPS = st.lists(st.integers(0, 5), min_size=1, max_size=6)


@settings(max_examples=80, deadline=None)
@given(st.lists(cidr4(), min_size=1, max_size=12), GROUPS, PORTS_COVERING_22)
def test_verdict_matches_the_interval_oracle_v4(cidrs: list[str], groups: list[int], ports: list[str]) -> None:
    out = check_stack(ADMIN, spread(cidrs, groups, ports), {"sshPort": 22})
    flagged = any("SSH 22" in m for m, _ in out)
    assert flagged == (merged_size(cidrs) > LIMIT4), (cidrs, out)


@settings(max_examples=50, deadline=None)
@given(st.lists(cidr6(), min_size=1, max_size=8), GROUPS, PORTS_COVERING_22)
def test_verdict_matches_the_interval_oracle_v6(cidrs: list[str], groups: list[int], ports: list[str]) -> None:
    out = check_stack(ADMIN, spread(cidrs, groups, ports), {"sshPort": 22})
    flagged = any("SSH 22" in m for m, _ in out)
    assert flagged == (merged_size(cidrs) > LIMIT6), (cidrs, out)


@st.composite
def world_partition(draw: st.DrawFn, version: int) -> list[str]:
    """A random partition of the whole address family into CIDRs (recursive halving)."""
    world = ipaddress.ip_network("0.0.0.0/0" if version == 4 else "::/0")
    parts, todo = [], [world]
    while todo:
        net = todo.pop()
        # Split while shallow with high probability; the partition stays at most ~40 CIDRs.
        if net.prefixlen < 12 and len(parts) + len(todo) < 40 and draw(st.booleans()):
            todo.extend(net.subnets(1))
        elif net.prefixlen == 0:
            todo.extend(net.subnets(1))  # never the literal /0: that shape is tested elsewhere
        else:
            parts.append(str(net))
    return draw(st.permutations(parts))


@settings(max_examples=60, deadline=None)
@given(st.sampled_from([4, 6]).flatmap(world_partition), GROUPS, PORTS_COVERING_22)
def test_any_partition_of_the_world_is_refused(parts: list[str], groups: list[int], ports: list[str]) -> None:
    out = check_stack(ADMIN, spread(parts, groups, ports), {"sshPort": 22})
    assert any("SSH 22" in m for m, _ in out), (parts, out)


@settings(max_examples=50, deadline=None)
@given(st.lists(cidr4(), min_size=1, max_size=8), st.integers(0, 7))
def test_splitting_a_source_never_changes_the_verdict(cidrs: list[str], which: int) -> None:
    target = ipaddress.ip_network(cidrs[which % len(cidrs)])
    if target.prefixlen == 32:
        return
    halves = [str(h) for h in target.subnets(1)]
    split = [c for i, c in enumerate(cidrs) if i != which % len(cidrs)] + halves

    def verdict(sources: list[str]) -> bool:
        rules = [{"direction": "in", "protocol": "tcp", "port": "22", "sourceIps": sources}]
        return any("SSH 22" in m for m, _ in check_stack(ADMIN, [firewall(rules)], {"sshPort": 22}))

    assert verdict(cidrs) == verdict(split)
