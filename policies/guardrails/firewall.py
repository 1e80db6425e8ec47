"""Hetzner firewall policies: no admin port open to the world (judged on the union of sources),
web ports from Cloudflare only, and no path to the nodes that skips the firewall."""

from __future__ import annotations

import ipaddress
import itertools
from dataclasses import dataclass
from typing import Any

from ._base import Resource, Schema, base_kind, resource_policy, stack_policy, str_list_prop
from ._values import UNKNOWN, as_int, get, items, str_list
from .k8s import Unreadable, describe, helm_values, namespace_of, object_name, walk

FIREWALL_TYPE = "hcloud:index/firewall:Firewall"
_PORTED = ("tcp", "udp")
_PORTLESS = ("icmp", "esp", "gre")  # hcloud's other protocols: no ports, nothing to bind
IpNet = ipaddress.IPv4Network | ipaddress.IPv6Network


def port_range(port: Any) -> tuple[int, int] | None:
    """Hetzner's port string: "443", "80-85" or "any"; a missing port means every port.
    None when the value cannot be read as a range inside 1-65535."""
    if port is None or (isinstance(port, str) and port.strip().lower() in ("", "any")):
        return (1, 65535)
    if isinstance(port, bool):
        return None
    if isinstance(port, int | float):
        if not float(port).is_integer():
            return None
        text = str(int(port))
    elif isinstance(port, str):
        text = port
    else:
        return None
    low, sep, high = text.strip().partition("-")
    if not low.strip().isdigit() or (sep and not high.strip().isdigit()):
        return None
    lo, hi = int(low), int(high) if sep else int(low)
    if not 1 <= lo <= hi <= 65535:
        return None
    return (lo, hi)


def network(cidr: Any) -> IpNet | None:
    if not isinstance(cidr, str):
        return None
    try:
        return ipaddress.ip_network(cidr.strip(), strict=False)
    except ValueError:
        return None


@dataclass(frozen=True)
class PortRule:
    """An inbound TCP/UDP rule as the firewall applies it."""

    firewall: str  # the firewall's Pulumi name, for messages
    index: int
    protocol: str
    lo: int
    hi: int
    sources: tuple[IpNet, ...]

    @property
    def label(self) -> str:
        ports = f"{self.lo}" if self.lo == self.hi else f"{self.lo}-{self.hi}"
        return f"{self.firewall} rule {self.index} ({self.protocol} {ports})"


def parse_rules(resource: Resource) -> tuple[list[PortRule], list[str]]:
    """(inbound TCP/UDP rules, problems) of a Firewall. A rule the policy cannot read is a
    problem (a violation), never skipped: an unknown direction, protocol, port or source."""
    rules = resource.props.get("rules")
    if rules is UNKNOWN:
        return [], ["rules are not known (computed value): they cannot be checked (fails closed)"]
    if rules is not None and not isinstance(rules, list):
        return [], [f"rules {rules!r} is not a list (fails closed)"]
    out, problems = [], []
    for i, rule in enumerate(items(rules)):
        if not isinstance(rule, dict):
            problems.append(f"rule {i} cannot be read ({rule!r}): fails closed")
            continue
        direction, protocol, port = rule.get("direction", "in"), rule.get("protocol"), rule.get("port")
        if direction == "out":
            continue
        if direction != "in":
            problems.append(f"rule {i}: direction {direction!r} cannot be read: fails closed")
            continue
        proto = protocol.strip().lower() if isinstance(protocol, str) else protocol
        if proto in _PORTLESS:
            continue
        if proto not in _PORTED:
            problems.append(f"rule {i}: protocol {protocol!r} cannot be read: fails closed")
            continue
        rng = port_range(port) if port is not UNKNOWN else None
        if rng is None:
            problems.append(f"rule {i}: port {port!r} cannot be read as a port or range: fails closed")
            continue
        sources = rule.get("sourceIps")
        nets = [network(s) for s in items(sources)]
        if not isinstance(sources, list) or None in nets:
            bad = (
                sources
                if not isinstance(sources, list)
                else [s for s, n in zip(sources, nets, strict=True) if n is None]
            )
            problems.append(f"rule {i}: source(s) {bad!r} cannot be read as CIDRs: fails closed")
            continue
        out.append(PortRule(resource.name, i, str(proto), rng[0], rng[1], tuple(n for n in nets if n is not None)))
    return out, problems


# --- firewall-no-world-admin-ports ------------------------------------------------------------

ADMIN_SCHEMA: Schema = {
    "sshPort": {"type": "integer", "default": 22, "description": "The nodes' SSH port (named in messages)."},
    "worldOpenPorts": {
        "type": "array",
        "items": {"type": "integer"},
        "default": [80, 443],
        "description": "Ports exempt from this rule (the web ports; firewall-web-from-cloudflare-only judges them).",
    },
    "maxAdminSourcesIpv4Prefix": {
        "type": "integer",
        "default": 8,
        "description": "Every other port's IPv4 sources together may cover at most as many addresses as one /N (8: 2^24).",
    },
    "maxAdminSourcesIpv6Prefix": {
        "type": "integer",
        "default": 32,
        "description": "Every other port's IPv6 sources together may cover at most as many addresses as one /N (32: 2^96).",
    },
}


def union_size(nets: list[IpNet]) -> int:
    """How many addresses the CIDRs cover together (overlaps counted once); one family."""
    collapsed: list[IpNet] = list(ipaddress.collapse_addresses(nets))  # type: ignore[type-var]
    return sum(n.num_addresses for n in collapsed)


def _named_ports(ssh: int) -> list[tuple[str, int, int]]:
    return [("SSH", ssh, ssh), ("Kubernetes API", 6443, 6443), ("etcd", 2379, 2380), ("kubelet", 10250, 10250)]


def _segments(rules: list[PortRule]) -> list[tuple[str, int, int, list[PortRule]]]:
    """Split each protocol's port space at every rule boundary: (protocol, lo, hi, covering rules)
    where the same rules cover every port of [lo, hi]."""
    out = []
    for proto in _PORTED:
        mine = [r for r in rules if r.protocol == proto]
        cuts = sorted({r.lo for r in mine} | {r.hi + 1 for r in mine})
        for a, b in itertools.pairwise(cuts):
            covering = [r for r in mine if r.lo <= a and b - 1 <= r.hi]
            if covering:
                out.append((proto, a, b - 1, covering))
    return out


def world_admin_findings(rules: list[PortRule], config: dict[str, Any]) -> list[str]:
    """For every port outside worldOpenPorts: the union of the sources of every rule that admits
    it must not exceed the configured size (split into halves, /8s or IPv6 halves alike)."""
    ssh = as_int(config.get("sshPort")) or 22
    open_ok = {p for p in (as_int(x) for x in items(config.get("worldOpenPorts"))) if p is not None}
    v4, v6 = as_int(config.get("maxAdminSourcesIpv4Prefix")), as_int(config.get("maxAdminSourcesIpv6Prefix"))
    prefixes = {4: 8 if v4 is None else min(max(v4, 0), 32), 6: 32 if v6 is None else min(max(v6, 0), 128)}
    out = []
    for proto, lo, hi, covering in _segments(rules):
        named = [
            f"{label} {a}" + (f"-{b}" if b != a else "") for label, a, b in _named_ports(ssh) if a <= hi and lo <= b
        ]
        if not named and hi - lo + 1 <= sum(1 for p in open_ok if lo <= p <= hi):
            continue  # only world-open ports in this segment (an admin port never is one)
        for version, prefix in prefixes.items():
            bits = 32 if version == 4 else 128
            limit = 2 ** (bits - prefix)
            total = union_size([n for r in covering for n in r.sources if n.version == version])
            if total <= limit:
                continue
            ports = f"{lo}" if lo == hi else f"{lo}-{hi}"
            what = f"{proto} {ports}" + (f" ({', '.join(named)})" if named else "")
            out.append(
                f"{what} is open to {total / 2**bits:.1%} of the IPv{version} space (more than one "
                f"/{prefix}) through {', '.join(r.label for r in covering)}"
            )
    return out


def _admin(resources: list[Resource], config: dict[str, Any]) -> list[tuple[str, str | None]]:
    out: list[tuple[str, str | None]] = []
    every: list[PortRule] = []
    for r in resources:
        if r.type != FIREWALL_TYPE:
            continue
        rules, problems = parse_rules(r)
        out.extend((f"Firewall {r.name}: {p}", r.urn) for p in problems)
        out.extend((f"Firewall {r.name}: {m}", r.urn) for m in world_admin_findings(rules, config))
        every.extend(rules)
    if not out:
        # Hetzner applies every firewall attached to a server: judge them together too.
        firewalls = [r for r in resources if r.type == FIREWALL_TYPE]
        for m in world_admin_findings(every, config):
            out.append((f"firewalls together: {m}", firewalls[0].urn if firewalls else None))
    return out


NO_WORLD_ADMIN = stack_policy(
    name="firewall-no-world-admin-ports",
    description=(
        "No Hetzner firewall admits SSH, 6443, 2379-2380, 10250 or any port but 80/443 from the "
        "world, judged on the union of every rule's sources (per firewall and across firewalls), "
        "however it is split; unreadable rules are violations."
    ),
    remediation=(
        "Restrict the rule's source_ips to the admin CIDRs (stack config); cluster-internal ports "
        "(etcd, kubelet) travel over the private network and need no public rule at all."
    ),
    rule=_admin,
    schema=ADMIN_SCHEMA,
)


# --- firewall-web-from-cloudflare-only --------------------------------------------------------

# Cloudflare's own API for its published ranges (the list https://www.cloudflare.com/ips/ shows).
CLOUDFLARE_IPS_URL = "https://api.cloudflare.com/client/v4/ips"

WEB_SCHEMA: Schema = {
    "cloudflareRangesSource": {
        "type": "string",
        "default": CLOUDFLARE_IPS_URL,
        "description": (
            "Where the policy reads Cloudflare's published ranges when it runs: an https URL answering "
            "like the Cloudflare API ({result: {ipv4_cidrs, ipv6_cidrs}}), or a local JSON file "
            "({ipv4: [...], ipv6: [...]}, what the offline plan's mocks answer). Not a copy of the "
            "ranges: when Cloudflare publishes a new one, the program's firewall (built from "
            "cloudflare.get_ip_ranges at the same run) and this policy see it together."
        ),
    },
    "webPorts": {
        "type": "array",
        "items": {"type": "integer"},
        "default": [80, 443],
        "description": "Ports whose sources must all lie inside Cloudflare's ranges.",
    },
}

_RANGES_CACHE: dict[str, list[str] | str] = {}


def cloudflare_ranges(source: str) -> list[str] | str:
    """Cloudflare's ranges from `source` (read once per process), or why they cannot be read."""
    if source not in _RANGES_CACHE:
        _RANGES_CACHE[source] = _read_ranges(source)
    return _RANGES_CACHE[source]


def _read_ranges(source: str) -> list[str] | str:
    import json
    import urllib.request
    from pathlib import Path

    try:
        if source.startswith("https://"):
            with urllib.request.urlopen(source, timeout=15) as response:
                doc = json.loads(response.read())
            body = doc.get("result") if isinstance(doc, dict) else None
            v4, v6 = (body or {}).get("ipv4_cidrs"), (body or {}).get("ipv6_cidrs")
        else:
            doc = json.loads(Path(source).read_text())
            v4, v6 = doc.get("ipv4"), doc.get("ipv6")
    except Exception as exc:  # noqa: BLE001 - any failure fails closed, with its reason
        return f"cannot read Cloudflare's ranges from {source}: {type(exc).__name__}: {exc}"
    cidrs = [c for c in (*(v4 or []), *(v6 or [])) if isinstance(c, str)]
    if not v4 or not cidrs or any(network(c) is None for c in cidrs):
        return f"Cloudflare's ranges from {source} are empty or malformed"
    return cidrs


def _web(resource: Resource) -> list[str]:
    if resource.type != FIREWALL_TYPE:
        return []
    cfg = resource.config
    web = [p for p in (as_int(x) for x in items(cfg.get("webPorts"))) if p is not None]
    rules, problems = parse_rules(resource)
    out = list(problems)
    web_rules = [rule for rule in rules if any(rule.lo <= p <= rule.hi for p in web)]
    if not web_rules:
        return out
    ranges = cloudflare_ranges(str(cfg.get("cloudflareRangesSource") or CLOUDFLARE_IPS_URL))
    if isinstance(ranges, str):
        return [*out, f"{ranges}, so the web rules cannot be judged (fails closed)"]
    cloudflare = [n for n in (network(c) for c in ranges) if n is not None]
    for rule in web_rules:
        bad = [
            str(net)
            for net in rule.sources
            if not any(net.version == cf.version and net.subnet_of(cf) for cf in cloudflare)  # type: ignore[arg-type]
        ]
        if bad:
            out.append(f"{rule.label} admits web traffic from non-Cloudflare sources {bad}")
    return out


WEB_FROM_CLOUDFLARE = resource_policy(
    name="firewall-web-from-cloudflare-only",
    description="Firewall rules for 80/443 admit only sources inside Cloudflare's published IP ranges.",
    remediation=(
        "Build the 80/443 rules' source_ips from cloudflare.get_ip_ranges (ipv4_cidrs + ipv6_cidrs) "
        "and nothing else. The policy reads Cloudflare's current list itself (cloudflareRangesSource)."
    ),
    rule=_web,
    schema=WEB_SCHEMA,
)


# --- no-firewall-bypass -----------------------------------------------------------------------

# Hetzner firewalls cannot be attached to load balancers (FACTS.md), so any of these is a path to
# the nodes that the firewall never sees.
LOAD_BALANCER_TYPES = frozenset(
    {
        "hcloud:index/loadBalancer:LoadBalancer",
        "hcloud:index/loadBalancerService:LoadBalancerService",
        "hcloud:index/loadBalancerTarget:LoadBalancerTarget",
        "hcloud:index/loadBalancerNetwork:LoadBalancerNetwork",
    }
)
_EXPOSING = ("LoadBalancer", "NodePort")


def _bypass(resource: Resource) -> list[str]:
    if resource.type in LOAD_BALANCER_TYPES:
        return [
            f"{resource.type.rsplit(':', 1)[-1]} {resource.name}: a Hetzner load balancer reaches the nodes around the firewall"
        ]
    allowed = set(str_list(resource.config.get("allowedServices")))
    ns, name = namespace_of(resource), object_name(resource)
    identity = f"{ns}/{name}" if isinstance(ns, str) and isinstance(name, str) else None
    what = describe(resource)
    out = []
    if base_kind(resource.type) == "Service" and resource.type.startswith("kubernetes:core/"):
        svc_type = get(resource.props, "spec", "type")
        if svc_type is UNKNOWN:
            out.append(f"{what}: spec.type is not known (computed value): fails closed")
        elif svc_type in _EXPOSING and identity not in allowed:
            out.append(
                f"{what}: type {svc_type} exposes it on the nodes or a cloud load balancer, outside Cloudflare -> origin"
            )
        elif svc_type not in _EXPOSING:
            ports = get(resource.props, "spec", "ports")
            node_ports = [get(p, "nodePort") for p in items(ports)]
            if ports is UNKNOWN or UNKNOWN in node_ports:
                out.append(f"{what}: spec.ports is not known (computed value): fails closed")
            elif any(n not in (None, 0) for n in node_ports) and identity not in allowed:
                out.append(f"{what}: sets nodePort {node_ports}, which opens node ports")
    for where, values in helm_values(resource):
        if isinstance(values, Unreadable):
            out.append(f"{what} {where}: {values.why} (fails closed)")
            continue
        for path, key, value, _ in walk(values):
            if key == "type" and value in _EXPOSING and identity not in allowed and "service" in path.lower():
                out.append(f"{what} {where} {path}: {value} Service exposes the chart outside Cloudflare -> origin")
    return out


BYPASS = resource_policy(
    name="no-firewall-bypass",
    description=(
        "Nothing reaches the nodes around the firewall: no Hetzner load balancer, no Kubernetes "
        "Service (or Helm values service) of type LoadBalancer or NodePort."
    ),
    remediation=(
        "Serve through Traefik on the nodes (hostNetwork, behind the Cloudflare-only firewall) with "
        "ClusterIP Services; set the chart's service.type to ClusterIP or disable its Service. A "
        "reviewed exception goes into `allowedServices` as namespace/name."
    ),
    rule=_bypass,
    schema={"allowedServices": str_list_prop("Services (namespace/name) allowed to be LoadBalancer/NodePort.")},
)
