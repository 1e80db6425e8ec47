"""NetworkPolicy policies: default deny per namespace; no egress to the metadata service."""

from __future__ import annotations

import ipaddress
from typing import Any

from ._base import Resource, base_kind, resource_policy, stack_policy, str_list_prop
from ._values import UNKNOWN, get, is_unknown, items, str_list
from .k8s import describe, is_patch, namespace_of, workload_kind

_NETPOL_GROUPS = ("kubernetes:networking.k8s.io/", "kubernetes:extensions/")
_CANNOT_READ = "is not known (computed value), so it cannot be judged (fails closed)"


def is_netpol(resource: Resource) -> bool:
    """A NetworkPolicy or NetworkPolicyPatch (a patch can add rules to the default deny)."""
    return base_kind(resource.type) == "NetworkPolicy" and resource.type.startswith(_NETPOL_GROUPS)


def default_deny_state(resource: Resource) -> bool | None:
    """True: a default-deny policy; False: not one; None: cannot tell yet (unknown fields)."""
    spec = get(resource.props, "spec")
    if is_unknown(spec):
        return None
    if not isinstance(spec, dict):
        return False
    selector = spec.get("podSelector")
    empty_selector = selector is None or (
        isinstance(selector, dict) and not selector.get("matchLabels") and not selector.get("matchExpressions")
    )
    types = spec.get("policyTypes")
    both = isinstance(types, list) and sorted(types) == ["Egress", "Ingress"]
    no_rules = not spec.get("ingress") and not spec.get("egress")
    return empty_selector and both and no_rules


def _open_peer(peer: Any) -> bool:
    """A peer that admits everything: an ipBlock of a whole address family with no except."""
    block = get(peer, "ipBlock")
    if not isinstance(block, dict) or block.get("except"):
        return False
    cidr = block.get("cidr")
    try:
        return ipaddress.ip_network(str(cidr).strip(), strict=False).prefixlen == 0
    except ValueError:
        return False


def allow_all(resource: Resource) -> str | None:
    """Why this policy allows all traffic of a direction (it cancels the namespace's default
    deny for the pods it selects), or None. A rule with no peers and no ports allows every
    source/destination on every port; so does a peer that is a /0 ipBlock without except."""
    spec = get(resource.props, "spec")
    for direction, peers_key in (("ingress", "from"), ("egress", "to")):
        for i, rule in enumerate(items(get(spec, direction))):
            if not isinstance(rule, dict):
                continue
            peers, ports = rule.get(peers_key), rule.get("ports")
            if ports:
                continue
            if not peers:
                return f"{direction} rule {i} has no `{peers_key}` and no ports: it allows everything"
            if any(_open_peer(p) for p in items(peers)):
                return f"{direction} rule {i} admits 0.0.0.0/0 or ::/0 on every port"
    return None


def _default_deny(resources: list[Resource], config: dict[str, Any]) -> list[tuple[str, str | None]]:
    exempt = set(str_list(config.get("exemptNamespaces")))
    workloads: dict[str, list[Resource]] = {}
    namespace_urns: dict[str, str] = {}
    covered: set[str] = set()
    cancelled: dict[str, list[str]] = {}  # namespace -> why its default deny does not hold
    out: list[tuple[str, str | None]] = []
    for r in resources:
        kind = base_kind(r.type)
        if kind == "Namespace" and not is_patch(r):
            name = get(r.props, "metadata", "name")
            if isinstance(name, str):
                namespace_urns[name] = r.urn
        elif is_netpol(r):
            ns, state = namespace_of(r), default_deny_state(r)
            what = describe(r)
            opening = f"{what} is a patch" if is_patch(r) and not state else None
            opening = opening or (f"{what}: {why}" if (why := allow_all(r)) else None)
            if ns is UNKNOWN:
                # Counts for no namespace; if it could open one, say so here, on its own.
                if opening or state is None:
                    out.append((f"{what}: its namespace {_CANNOT_READ}", r.urn))
                continue
            if opening:
                cancelled.setdefault(ns, []).append(opening)
            elif state and not is_patch(r):
                covered.add(ns)
        elif workload_kind(r) is not None and not is_patch(r):
            ns = namespace_of(r)
            if ns is UNKNOWN:
                out.append((f"{describe(r)}: its namespace {_CANNOT_READ}", r.urn))
            elif isinstance(ns, str):
                workloads.setdefault(ns, []).append(r)
    for ns, members in sorted(workloads.items()):
        if ns in exempt:
            continue
        names = ", ".join(sorted(m.name for m in members))
        urn = namespace_urns.get(ns, members[0].urn)
        if ns not in covered:
            out.append(
                (
                    f"namespace {ns!r} runs workloads ({names}) but has no default-deny NetworkPolicy "
                    "(podSelector {}, policyTypes [Ingress, Egress], no rules)",
                    urn,
                )
            )
        elif ns in cancelled:
            out.append((f"namespace {ns!r}: the default deny is cancelled: {'; '.join(cancelled[ns])}", urn))
    return out


DEFAULT_DENY = stack_policy(
    name="namespaces-default-deny",
    description=(
        "Every namespace with workloads has a default-deny NetworkPolicy for ingress and egress, "
        "and no NetworkPolicyPatch or allow-all policy cancels it; objects without a namespace "
        "live in their provider's namespace."
    ),
    remediation=(
        "Add a NetworkPolicy in the namespace with spec {podSelector: {}, policyTypes: [Ingress, "
        "Egress]} and no rules, then allow each needed flow with its own policy."
    ),
    rule=_default_deny,
    schema={
        "exemptNamespaces": str_list_prop("Namespaces not required to have one (system add-ons).", ["kube-system"])
    },
)


# --- egress-blocks-metadata -------------------------------------------------------------------

_METADATA_PORT = 80  # the metadata service answers plain HTTP


def _ports_reach(ports: Any, port: int) -> bool | None:
    """Whether a rule's `ports` admit TCP ``port`` (None: unknown)."""
    if ports is None or ports == []:
        return True
    if ports is UNKNOWN:
        return None
    for p in items(ports):
        if is_unknown(p):
            return None
        protocol = get(p, "protocol") or "TCP"
        number, end = get(p, "port"), get(p, "endPort")
        if protocol != "TCP":
            continue
        if number is None or (isinstance(number, str) and not number.isdigit()):
            return True  # no port, or a named port: could be anything
        lo = int(number)
        hi = int(end) if isinstance(end, int | float) else lo
        if lo <= port <= hi:
            return True
    return False


def _contains(cidr: Any, addr: ipaddress.IPv4Address | ipaddress.IPv6Address) -> bool:
    try:
        net = ipaddress.ip_network(str(cidr).strip(), strict=False)
    except ValueError:
        return False
    return net.version == addr.version and addr in net


def _metadata(resource: Resource) -> list[str]:
    if not is_netpol(resource):
        return []
    addrs = []
    for a in str_list(resource.config.get("metadataAddresses")):
        try:
            addrs.append(ipaddress.ip_address(a))
        except ValueError:
            continue
    types = get(resource.props, "spec", "policyTypes")
    if isinstance(types, list) and "Egress" not in types and UNKNOWN not in types:
        return []
    out = []
    for i, rule in enumerate(items(get(resource.props, "spec", "egress"))):
        if not isinstance(rule, dict):
            continue
        peers = rule.get("to")
        if peers is UNKNOWN:
            out.append(f"egress rule {i}: `to` {_CANNOT_READ}")
            continue
        if not peers:
            reach = _ports_reach(rule.get("ports"), _METADATA_PORT)
            if reach is None:
                out.append(f"egress rule {i}: ports {_CANNOT_READ}")
            elif reach:
                out.append(f"egress rule {i} has no `to`: it allows every destination, the metadata service too")
            continue
        for j, peer in enumerate(items(peers)):
            block = get(peer, "ipBlock")
            cidr = get(block, "cidr")
            excepts = get(block, "except")
            if peer is UNKNOWN or block is UNKNOWN or cidr is UNKNOWN or is_unknown(excepts):
                out.append(f"egress rule {i} peer {j}: ipBlock {_CANNOT_READ}")
                continue
            if not isinstance(cidr, str):
                continue  # pod/namespace selectors only reach pods
            for addr in addrs:
                if _contains(cidr, addr) and not any(_contains(e, addr) for e in items(excepts)):
                    out.append(
                        f"egress rule {i} peer {j}: ipBlock {cidr} contains {addr} and its `except` does not exclude it"
                    )
    name = get(resource.props, "metadata", "name")
    return [f"NetworkPolicy {name if isinstance(name, str) else resource.name}: {m}" for m in out]


METADATA = resource_policy(
    name="egress-blocks-metadata",
    description="No NetworkPolicy allows egress to the cloud metadata service (169.254.169.254): user_data holds cluster secrets.",
    remediation=(
        "Write internet egress as ipBlock {cidr: 0.0.0.0/0, except: [169.254.169.254/32 (or "
        "169.254.0.0/16), 10.0.0.0/8, ...]}; use pod/namespace selectors for in-cluster peers "
        "instead of an empty `to`."
    ),
    rule=_metadata,
    schema={"metadataAddresses": str_list_prop("Addresses egress must never reach.", ["169.254.169.254"])},
)


# --- namespaces-egress-exclude-metadata --------------------------------------------------------


def _excludes_metadata(resource: Resource, addrs: list[ipaddress.IPv4Address | ipaddress.IPv6Address]) -> bool:
    """True if one of the policy's egress peers is an ipBlock whose `except` covers every
    metadata address: the namespace's explicit, reviewable "anywhere but there"."""
    for rule in items(get(resource.props, "spec", "egress")):
        for peer in items(get(rule, "to")):
            excepts = get(peer, "ipBlock", "except")
            if isinstance(excepts, list) and all(any(_contains(e, a) for e in excepts) for a in addrs):
                return True
    return False


def _namespaces_exclude_metadata(resources: list[Resource], config: dict[str, Any]) -> list[tuple[str, str | None]]:
    exempt = set(str_list(config.get("exemptNamespaces")))
    addrs = [ipaddress.ip_address(a) for a in str_list(config.get("metadataAddresses"))]
    needed: dict[str, str] = {}  # namespace -> urn to report on
    excluded: set[str] = set()
    out: list[tuple[str, str | None]] = []
    for r in resources:
        kind = base_kind(r.type)
        if kind == "Namespace" and not is_patch(r):
            name = get(r.props, "metadata", "name")
            if isinstance(name, str):
                needed[name] = r.urn
            else:
                out.append((f"{describe(r)}: its name {_CANNOT_READ}", r.urn))
        elif workload_kind(r) is not None and not is_patch(r):
            ns = namespace_of(r)
            if isinstance(ns, str):
                needed.setdefault(ns, r.urn)
        elif is_netpol(r) and not is_patch(r) and _excludes_metadata(r, addrs):
            ns = namespace_of(r)
            if isinstance(ns, str):
                excluded.add(ns)
    for ns, urn in sorted(needed.items()):
        if ns not in exempt and ns not in excluded:
            out.append(
                (
                    f"namespace {ns!r} has no NetworkPolicy whose egress excludes the metadata service "
                    f"({', '.join(map(str, addrs))}) in an ipBlock `except`",
                    urn,
                )
            )
    return out


NAMESPACES_EXCLUDE_METADATA = stack_policy(
    name="namespaces-egress-exclude-metadata",
    description=(
        "Every namespace the program creates, and every namespace with workloads, has a NetworkPolicy "
        "whose egress ipBlock `except` covers the metadata service (defence in depth beside the "
        "node's nftables guard: user_data holds the cluster's keys)."
    ),
    remediation=(
        "Give the namespace's internet egress as ipBlock {cidr: 0.0.0.0/0, except: [169.254.169.254/32, "
        "10.0.0.0/8, 172.16.0.0/12, 192.168.0.0/16]}."
    ),
    rule=_namespaces_exclude_metadata,
    schema={
        "exemptNamespaces": str_list_prop("Namespaces not required to have one (system add-ons).", ["kube-system"]),
        "metadataAddresses": str_list_prop("Addresses the egress exception must cover.", ["169.254.169.254"]),
    },
)
