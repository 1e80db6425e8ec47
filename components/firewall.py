"""ClusterFirewall: the public interface admits the web from Cloudflare only, admin ports from
the admin CIDRs only, and nothing else (Hetzner firewalls drop what no rule admits)."""

from __future__ import annotations

import ipaddress
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import pulumi
import pulumi_hcloud as hcloud

from components.base import labels, type_token

WEB_PORTS = ("80", "443")
KUBE_API_PORT = "6443"
# Hetzner counts rules x source CIDRs; above this a firewall is rejected.
HETZNER_EFFECTIVE_RULE_LIMIT = 500


class CloudflareRangesError(ValueError):
    """The Cloudflare IP ranges answer cannot be used to build the web rules."""


def validate_cloudflare_ranges(ipv4: Sequence[str] | None, ipv6: Sequence[str] | None) -> list[str]:
    """Both families present and well-formed, or an error: never an open or silently closed door."""
    problems: list[str] = []
    cidrs: list[str] = []
    for family, values, cls in (("IPv4", ipv4, ipaddress.IPv4Network), ("IPv6", ipv6, ipaddress.IPv6Network)):
        if not values:
            problems.append(f"no {family} ranges")
            continue
        for value in values:
            try:
                net = cls(value, strict=True)
            except (ValueError, TypeError):
                problems.append(f"malformed {family} range {value!r}")
                continue
            if net.prefixlen < 8:
                problems.append(f"{family} range {value} is implausibly wide")
            cidrs.append(str(net))
    if problems:
        raise CloudflareRangesError("cloudflare.get_ip_ranges returned an unusable answer: " + "; ".join(problems))
    return cidrs


def canonical_cidrs(cidrs: Sequence[str]) -> list[str]:
    """Compressed, lowercase, de-duplicated and sorted (IPv4 first): the form the API returns.

    Hetzner stores a rule's source_ips as a set and answers in its own order and notation, so a
    list in any other order or spelling (an expanded IPv6, upper case) shows as a change on every
    preview.
    """
    nets = {ipaddress.ip_network(c) for c in cidrs}
    return [str(n) for n in sorted(nets, key=lambda n: (n.version, n))]


def firewall_rules(
    cloudflare_cidrs: Sequence[str],
    admin_cidrs: Sequence[str],
    ssh_port: int,
    allow_icmp: bool,
    api_probe_cidrs: Sequence[str] = (),
) -> list[dict[str, Any]]:
    """The inbound rules, as plain dicts (FirewallRuleArgs keywords); pure, so tests call it."""
    rules: list[dict[str, Any]] = [
        {
            "direction": "in",
            "protocol": "tcp",
            "port": port,
            "source_ips": canonical_cidrs(cloudflare_cidrs),
            "description": f"web {port} from Cloudflare only",
        }
        for port in WEB_PORTS
    ]
    rules += [
        {
            "direction": "in",
            "protocol": "tcp",
            "port": str(ssh_port),
            "source_ips": canonical_cidrs(admin_cidrs),
            "description": "SSH from admin CIDRs",
        },
        {
            "direction": "in",
            "protocol": "tcp",
            "port": KUBE_API_PORT,
            "source_ips": canonical_cidrs(admin_cidrs),
            "description": "Kubernetes API from admin CIDRs",
        },
    ]
    if api_probe_cidrs:
        # The uptime monitor (components/monitor.py) probes /readyz through the API name.
        rules.append(
            {
                "direction": "in",
                "protocol": "tcp",
                "port": KUBE_API_PORT,
                "source_ips": canonical_cidrs(api_probe_cidrs),
                "description": "Kubernetes API /readyz probe from the uptime monitor",
            }
        )
    if allow_icmp:
        rules.append(
            {
                "direction": "in",
                "protocol": "icmp",
                "source_ips": ["0.0.0.0/0", "::/0"],
                "description": "ICMP (ping, path MTU discovery)",
            }
        )
    effective = sum(len(r["source_ips"]) for r in rules)
    if effective > HETZNER_EFFECTIVE_RULE_LIMIT:
        raise ValueError(f"firewall has {effective} effective rules; Hetzner allows {HETZNER_EFFECTIVE_RULE_LIMIT}")
    return rules


@dataclass(frozen=True)
class ClusterFirewallArgs:
    environment: str
    admin_cidrs: tuple[str, ...]
    ssh_port: int
    allow_icmp: bool
    api_probe_cidrs: pulumi.Input[Sequence[str]] = ()
    """The uptime monitor's addresses (/32, /128): admitted to the Kubernetes API port."""


def ci_access_firewall_name(environment: str) -> str:
    """The CI-access firewall's Hetzner name; tools/ci_access.py finds it by this name."""
    return f"honeydue-{environment}-ci-access"


class ClusterFirewall(pulumi.ComponentResource):
    firewall_id: pulumi.Output[int]
    ci_firewall_id: pulumi.Output[int]
    """A second firewall whose rules CI owns: one 6443 rule per run, for the runner's address."""
    cloudflare_cidrs: pulumi.Output[list[str]]

    def __init__(self, name: str, args: ClusterFirewallArgs, opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__(type_token("firewall", "ClusterFirewall"), name, None, opts)
        # Imported here: pulumi_cloudflare costs 1.3-1.8 s to import and only this call needs it.
        import pulumi_cloudflare as cloudflare

        ranges = cloudflare.get_ip_ranges_output(opts=pulumi.InvokeOutputOptions(parent=self))
        # Canonical order: Traefik's trusted IPs are built from this, and Cloudflare reordering its
        # answer must not show as a change of the HelmChartConfig.
        self.cloudflare_cidrs = pulumi.Output.all(ranges.ipv4_cidrs, ranges.ipv6_cidrs).apply(
            lambda r: canonical_cidrs(validate_cloudflare_ranges(r[0], r[1]))
        )
        rules = pulumi.Output.all(self.cloudflare_cidrs, args.api_probe_cidrs).apply(
            lambda v: [
                hcloud.FirewallRuleArgs(**rule)
                for rule in firewall_rules(v[0], args.admin_cidrs, args.ssh_port, args.allow_icmp, v[1])
            ]
        )
        firewall = hcloud.Firewall(
            f"{name}-firewall",
            name=f"honeydue-{args.environment}",
            rules=rules,
            labels=labels(args.environment, "firewall"),
            opts=pulumi.ResourceOptions(parent=self),
        )
        self.firewall_id = firewall.id.apply(int)
        # CI reaches the Kubernetes API through this firewall (docs/runbook.md, "How CI reaches
        # the Kubernetes API"): each workflow run adds a rule for its runner's own address, port
        # 6443 only, and removes it in an `if: always()` step (tools/ci_access.py). Pulumi creates
        # the firewall but owns none of its rules: without ignore_changes every `pulumi up`
        # would delete the rule of the run that is executing it and cut its own API access.
        ci_access = hcloud.Firewall(
            f"{name}-ci-access",
            name=ci_access_firewall_name(args.environment),
            labels=labels(args.environment, "ci-access"),
            opts=pulumi.ResourceOptions(parent=self, ignore_changes=["rules"]),
        )
        self.ci_firewall_id = ci_access.id.apply(int)
        self.register_outputs({"firewall_id": self.firewall_id, "ci_firewall_id": self.ci_firewall_id})
