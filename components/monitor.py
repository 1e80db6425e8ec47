"""UptimeMonitor: a hardened host outside the cluster that probes it and alerts the operator.

Built on the host layer (components/host.py) with the one base cloud-init
(components/cloud_init_base.py) and the monitor layer (components/uptime.py): Debian's
Prometheus, blackbox exporter and Alertmanager. It sits in a Hetzner location no cluster server
uses, on the cluster's private network (the cluster's Watchdog arrives there, never over the
internet), and has its own firewall: SSH from the admin CIDRs and nothing else (no status page
is served, so no web port; Hetzner firewalls do not filter the private network).

Two steps, because the graph needs them: the monitor's Primary IPs exist first (the cluster
firewall admits them to the Kubernetes API port for the /readyz probe), and its server comes
after the cluster (it reuses the operator's Hetzner SSH keys, which Hetzner allows once per
project, and trusts the cluster's API CA). ``UptimeMonitor(...)`` makes the addresses,
:meth:`UptimeMonitor.start` the rest.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import pulumi
import pulumi_hcloud as hcloud
import pulumi_random as random

from components.base import labels, type_token
from components.cloud_init_base import HostBootstrap
from components.config import Access, MonitorSettings, Names
from components.firewall import canonical_cidrs
from components.host import HardenedHost, HardenedHostArgs, HostAddresses
from components.uptime import (
    MonitorSecrets,
    MonitorSpec,
    render_bundle,
    render_monitor_user_data,
    sources,
    watchdog_url,
)

ROLE = "uptime-monitor"


@dataclass(frozen=True)
class UptimeMonitorArgs:
    environment: str
    settings: MonitorSettings
    image: str
    names: Names
    """What it probes: the public hostnames and the Kubernetes API name."""
    access: Access
    """Who may log in: the same operators, port and keys as on the cluster's servers."""
    protect: bool
    network_id: pulumi.Input[int]
    subnet: pulumi.Resource
    """The server attaches to the network only once the subnet exists."""


@dataclass(frozen=True)
class MonitorCluster:
    """What the monitor takes from the cluster and the stack's secrets (second step)."""

    ssh_key_ids: Sequence[pulumi.Input[str]]
    kube_api_ca_pem: pulumi.Input[str]
    smtp_password: pulumi.Input[str]
    webhook_url: pulumi.Input[str]


def monitor_spec(args: UptimeMonitorArgs) -> MonitorSpec:
    s = args.settings
    return MonitorSpec(
        environment=args.environment,
        api_hostname=args.names.api_hostname,
        admin_hostname=args.names.admin_hostname,
        extra_hostnames=args.names.extra_hostnames,
        kube_api_hostname=args.names.kube_api_hostname,
        thresholds=s.slow_seconds,
        cert_warning_days=s.cert_warning_days,
        smtp=s.smtp,
        cluster_watchdog=s.cluster_watchdog,
        watchdog_minutes=s.watchdog_minutes,
    )


def monitor_firewall_rules(admin_cidrs: Sequence[str], ssh_port: int) -> list[dict[str, Any]]:
    """The monitor's inbound rules (FirewallRuleArgs keywords): SSH from the admin CIDRs only.

    Hetzner firewalls drop whatever no rule admits; the Watchdog arrives on the private network.
    """
    return [
        {
            "direction": "in",
            "protocol": "tcp",
            "port": str(ssh_port),
            "source_ips": canonical_cidrs(admin_cidrs),
            "description": "SSH from admin CIDRs",
        }
    ]


class UptimeMonitor(pulumi.ComponentResource):
    hostname: str
    private_ip: str
    addresses: HostAddresses
    probe_cidrs: pulumi.Output[list[str]]
    """The monitor's /32 and /128: what the cluster firewall admits to the API port."""
    server: hcloud.Server
    watchdog_url: pulumi.Output[str]
    watchdog_url_text: str
    """The same, as plain text (the private IP comes from config): the platform's Helm values."""
    watchdog_token: pulumi.Output[str]
    """Bearer token the cluster's Alertmanager sends with its Watchdog; secret."""
    bundle: pulumi.Output[str]
    """The rendered config bundle (secret): what `honeydue-monitor-apply` installs."""

    def __init__(self, name: str, args: UptimeMonitorArgs, opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__(type_token("monitor", "UptimeMonitor"), name, None, opts)
        self._name = name
        self._args = args
        self.hostname = f"honeydue-{args.environment}-monitor"
        self.private_ip = args.settings.private_ip
        self.addresses = HostAddresses(
            name, args.environment, self.hostname, ROLE, args.settings.location, args.protect, self
        )
        self.probe_cidrs = pulumi.Output.all(self.addresses.public_ipv4, self.addresses.public_ipv6).apply(sources)

    def start(self, cluster: MonitorCluster) -> None:
        """The second step: firewall, watchdog token, config bundle and the server."""
        args, name = self._args, self._name
        child = pulumi.ResourceOptions(parent=self)
        spec = monitor_spec(args)

        firewall = hcloud.Firewall(
            f"{name}-firewall",
            name=self.hostname,
            rules=[
                hcloud.FirewallRuleArgs(**r)
                for r in monitor_firewall_rules(args.access.admin_cidrs, args.access.ssh_port)
            ],
            labels=labels(args.environment, ROLE),
            opts=child,
        )
        token = random.RandomPassword(f"{name}-watchdog-token", length=40, special=False, opts=child)
        self.watchdog_token = pulumi.Output.secret(token.result)
        self.watchdog_url_text = watchdog_url(args.settings.private_ip)
        self.watchdog_url = pulumi.Output.from_input(self.watchdog_url_text)
        self.bundle = pulumi.Output.secret(
            pulumi.Output.all(cluster.smtp_password, cluster.webhook_url, token.result, cluster.kube_api_ca_pem).apply(
                lambda v: render_bundle(spec, MonitorSecrets(v[0], v[1], v[2], v[3]))
            )
        )
        host = HostBootstrap(
            hostname=self.hostname,
            ssh_port=args.access.ssh_port,
            admin_user=args.access.admin_user,
            ssh_authorized_keys=args.access.ssh_public_keys,
        )
        bundle = self.bundle
        self.server = HardenedHost(
            name,
            HardenedHostArgs(
                environment=args.environment,
                hostname=self.hostname,
                role=ROLE,
                location=args.settings.location,
                server_type=args.settings.server_type,
                image=args.image,
                firewall_ids=[firewall.id.apply(int)],
                ssh_key_ids=cluster.ssh_key_ids,
                user_data=lambda _v4, _v6: bundle.apply(lambda b: render_monitor_user_data(host, b)),
                protect=args.protect,
                networks=[
                    hcloud.ServerNetworkArgs(network_id=args.network_id, ip=args.settings.private_ip, alias_ips=[])
                ],  # pulumi-hcloud#170
                depends_on=[args.subnet],
            ),
            parent=self,
            addresses=self.addresses,
        ).server
        self.register_outputs({"hostname": self.hostname, "watchdog_url": self.watchdog_url})
