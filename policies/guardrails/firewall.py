"""Hetzner firewall policies: no admin port open to the world; web ports from Cloudflare only."""

from __future__ import annotations

import ipaddress
from typing import Any

from ._base import Resource, Schema, resource_policy, str_list_prop
from ._values import UNKNOWN, as_int, items, str_list

FIREWALL_TYPE = "hcloud:index/firewall:Firewall"
_PORTED = ("tcp", "udp")
IpNet = ipaddress.IPv4Network | ipaddress.IPv6Network


def port_range(port: Any) -> tuple[int, int] | None:
    """Hetzner's port string: "443", "80-85" or "any"; a missing port means every port."""
    if port is None or (isinstance(port, str) and port.strip().lower() in ("", "any")):
        return (1, 65535)
    text = str(int(port)) if isinstance(port, int | float) and not isinstance(port, bool) else str(port)
    low, sep, high = text.strip().partition("-")
    if not low.strip().isdigit() or (sep and not high.strip().isdigit()):
        return None
    lo = int(low)
    return (lo, int(high) if sep else lo)


def network(cidr: str) -> IpNet | None:
    try:
        return ipaddress.ip_network(cidr.strip(), strict=False)
    except ValueError:
        return None


def inbound_port_rules(resource: Resource) -> list[tuple[int, dict[str, Any], tuple[int, int]]]:
    """(index, rule, port range) for every known inbound TCP/UDP rule of a Firewall."""
    if resource.type != FIREWALL_TYPE:
        return []
    out = []
    for i, rule in enumerate(items(resource.props.get("rules"))):
        if not isinstance(rule, dict):
            continue
        direction, protocol, port = rule.get("direction", "in"), rule.get("protocol"), rule.get("port")
        if UNKNOWN in (direction, protocol, port) or direction != "in" or protocol not in _PORTED:
            continue
        rng = port_range(port)
        if rng is not None:
            out.append((i, rule, rng))
    return out


def _rule_label(i: int, rule: dict[str, Any]) -> str:
    return f"rule {i} ({rule.get('protocol')} port {rule.get('port') or 'any'})"


# --- firewall-no-world-admin-ports ------------------------------------------------------------

ADMIN_SCHEMA: Schema = {
    "sshPort": {"type": "integer", "default": 22, "description": "The nodes' SSH port (named in messages)."},
    "worldOpenPorts": {
        "type": "array",
        "items": {"type": "integer"},
        "default": [80, 443],
        "description": "The only ports a rule may open to 0.0.0.0/0 or ::/0 (the web ports).",
    },
}


def _admin(resource: Resource) -> list[str]:
    cfg = resource.config
    ssh = as_int(cfg.get("sshPort")) or 22
    open_ok = {p for p in (as_int(x) for x in items(cfg.get("worldOpenPorts"))) if p is not None}
    named = [("SSH", ssh, ssh), ("Kubernetes API", 6443, 6443), ("etcd", 2379, 2380), ("kubelet", 10250, 10250)]
    out = []
    for i, rule, (lo, hi) in inbound_port_rules(resource):
        world = [
            s for s in items(rule.get("sourceIps")) if isinstance(s, str) and (n := network(s)) and n.prefixlen == 0
        ]
        if not world:
            continue
        hits = [f"{label} {a}" + (f"-{b}" if b != a else "") for label, a, b in named if a <= hi and lo <= b]
        other = hi - lo + 1 > sum(1 for p in open_ok if lo <= p <= hi)  # a port outside open_ok
        if hits or other:
            what = ", ".join(hits) if hits else f"ports {lo}-{hi}" if hi != lo else f"port {lo}"
            out.append(f"{_rule_label(i, rule)} opens {what} to {', '.join(world)}")
    return out


NO_WORLD_ADMIN = resource_policy(
    name="firewall-no-world-admin-ports",
    description=(
        "No Hetzner firewall rule admits SSH, 6443, 2379-2380, 10250 (or any port but 80/443) from 0.0.0.0/0 or ::/0."
    ),
    remediation=(
        "Restrict the rule's source_ips to the admin CIDRs (stack config); cluster-internal ports "
        "(etcd, kubelet) travel over the private network and need no public rule at all."
    ),
    rule=_admin,
    schema=ADMIN_SCHEMA,
)


# --- firewall-web-from-cloudflare-only --------------------------------------------------------

WEB_SCHEMA: Schema = {
    "cloudflareCidrs": str_list_prop("Cloudflare's published ranges (https://www.cloudflare.com/ips-v4 and ips-v6)."),
    "webPorts": {
        "type": "array",
        "items": {"type": "integer"},
        "default": [80, 443],
        "description": "Ports whose sources must all lie inside cloudflareCidrs.",
    },
}


def _web(resource: Resource) -> list[str]:
    cfg = resource.config
    cloudflare = [n for n in (network(c) for c in str_list(cfg.get("cloudflareCidrs"))) if n is not None]
    web = [p for p in (as_int(x) for x in items(cfg.get("webPorts"))) if p is not None]
    out = []
    for i, rule, (lo, hi) in inbound_port_rules(resource):
        if not any(lo <= p <= hi for p in web):
            continue
        bad = []
        for source in items(rule.get("sourceIps")):
            if source is UNKNOWN or not isinstance(source, str):
                continue
            net = network(source)
            if net is None or not any(
                net.version == cf.version and net.subnet_of(cf)  # type: ignore[arg-type]
                for cf in cloudflare
            ):
                bad.append(source)
        if bad:
            out.append(f"{_rule_label(i, rule)} admits web traffic from non-Cloudflare sources {bad}")
    return out


WEB_FROM_CLOUDFLARE = resource_policy(
    name="firewall-web-from-cloudflare-only",
    description="Firewall rules for 80/443 admit only sources inside Cloudflare's published IP ranges.",
    remediation=(
        "Build the 80/443 rules' source_ips from cloudflare.get_ip_ranges (ipv4_cidrs + ipv6_cidrs) "
        "and nothing else; update `cloudflareCidrs` in the policy config when Cloudflare publishes "
        "new ranges."
    ),
    rule=_web,
    schema=WEB_SCHEMA,
)
