"""NetworkPolicy policies: default deny per namespace; no egress to the metadata service."""

from __future__ import annotations

import ipaddress
from typing import Any

from ._base import Resource, kind_of, resource_policy, stack_policy, str_list_prop
from ._values import UNKNOWN, get, is_unknown, items, str_list
from .k8s import workload_kind

NETPOL_TYPE = "kubernetes:networking.k8s.io/v1:NetworkPolicy"


def _namespace(resource: Resource) -> Any:
    ns = get(resource.props, "metadata", "namespace")
    return "default" if ns is None else ns


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


def _default_deny(resources: list[Resource], config: dict[str, Any]) -> list[tuple[str, str | None]]:
    exempt = set(str_list(config.get("exemptNamespaces")))
    workloads: dict[str, list[Resource]] = {}
    namespace_urns: dict[str, str] = {}
    covered: set[str] = set()
    uncertain: set[Any] = set()  # namespaces (or UNKNOWN) whose policies cannot be judged yet
    for r in resources:
        kind = kind_of(r.type)
        if kind == "Namespace":
            name = get(r.props, "metadata", "name")
            if isinstance(name, str):
                namespace_urns[name] = r.urn
        elif r.type == NETPOL_TYPE:
            ns, state = _namespace(r), default_deny_state(r)
            if ns is UNKNOWN or state is None:
                uncertain.add(ns)
            elif state:
                covered.add(ns)
        elif workload_kind(r) is not None:
            ns = _namespace(r)
            if isinstance(ns, str):
                workloads.setdefault(ns, []).append(r)
    out: list[tuple[str, str | None]] = []
    for ns, members in sorted(workloads.items()):
        if ns in covered or ns in exempt or ns in uncertain or UNKNOWN in uncertain:
            continue
        names = ", ".join(sorted(m.name for m in members))
        out.append(
            (
                f"namespace {ns!r} runs workloads ({names}) but has no default-deny NetworkPolicy "
                "(podSelector {}, policyTypes [Ingress, Egress], no rules)",
                namespace_urns.get(ns, members[0].urn),
            )
        )
    return out


DEFAULT_DENY = stack_policy(
    name="namespaces-default-deny",
    description="Every namespace with workloads has a default-deny NetworkPolicy for ingress and egress.",
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
    if resource.type != NETPOL_TYPE:
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
            continue
        if not peers:
            if _ports_reach(rule.get("ports"), _METADATA_PORT):
                out.append(f"egress rule {i} has no `to`: it allows every destination, the metadata service too")
            continue
        for j, peer in enumerate(items(peers)):
            block = get(peer, "ipBlock")
            cidr = get(block, "cidr")
            if not isinstance(cidr, str):
                continue  # pod/namespace selectors only reach pods; unknown cidr: cannot tell
            excepts = get(block, "except")
            if is_unknown(excepts):
                continue
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
