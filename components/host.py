"""HardenedHost: one hardened Hetzner server, the layer every honeydue server is built on.

What it registers: the server's Primary IPv4 and IPv6 (created first, so the address is known
before the server exists and survives a rebuild), and the server with its guards: user_data
kept secret and ignored after creation, Hetzner delete/rebuild protection and Pulumi `protect`
when asked, firewalls attached, placement group and private network when given. The operator's
SSH keys are made once per stack by :func:`operator_ssh_keys` and shared: Hetzner refuses a
second key with the same fingerprint in one project.

What it boots: the caller renders user_data with the one base renderer
(components/cloud_init_base.py: admin user, SSH hardening, fail2ban, unattended upgrades,
metadata guard) plus its own layer. This module never renders hardening itself.

HardenedHost is deliberately not a ComponentResource: its resources are children of the
caller's component (K3sCluster, UptimeMonitor) with the names the caller gives. A component in
between would add a type to every URN's parent chain, and so change the URN of every existing
K3s server and Primary IP (an alias would carry the state over, but each URN would still change).
"""

from __future__ import annotations

import base64
import hashlib
import ipaddress
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field

import pulumi
import pulumi_hcloud as hcloud

from components.base import labels

FAMILIES = ("ipv4", "ipv6")


def ipv6_host_address(primary_ip_address: str) -> str:
    """The server's IPv6 address from its Primary IP's `ip_address`.

    Hetzner reports an IPv6 Primary IP as its /64's network address (2001:db8:1::); the server
    answers on the network's first host (2001:db8:1::1). The one place that turns one into the
    other: cloud-init (node-external-ip, tls-san), DNS records and outputs all take this value.
    """
    network = ipaddress.IPv6Network(primary_ip_address.split("/")[0] + "/64", strict=False)
    return str(network[1])


def ssh_key_id(public_key: str) -> str:
    """A stable short id of an OpenSSH public key: the start of its SHA256 fingerprint (hex).

    Keys are named by content, not by position: removing the first key from the list must not
    rename, and so replace, every other Hetzner SSH key.
    """
    blob = base64.b64decode(public_key.split()[1])
    return hashlib.sha256(blob).hexdigest()[:12]


def operator_ssh_keys(
    name: str, environment: str, public_keys: Sequence[str], parent: pulumi.Resource
) -> list[hcloud.SshKey]:
    """The operator's keys as Hetzner SSH keys, each keyed by its fingerprint; made once per stack."""
    return [
        hcloud.SshKey(
            f"{name}-ssh-key-{ssh_key_id(key)}",
            name=f"honeydue-{environment}-{ssh_key_id(key)}",
            public_key=key,
            labels=labels(environment, "operator"),
            # Until this change the keys were named by list position (`<name>-ssh-key-<i>`): the
            # alias lets a deployed stack adopt each one instead of deleting and re-creating it.
            opts=pulumi.ResourceOptions(parent=parent, aliases=[pulumi.Alias(name=f"{name}-ssh-key-{i}")]),
        )
        for i, key in enumerate(public_keys)
    ]


UserData = Callable[[pulumi.Output[str], pulumi.Output[str]], pulumi.Input[str]]
"""(public IPv4, public IPv6 host address) -> the server's user_data."""


@dataclass(frozen=True)
class HardenedHostArgs:
    environment: str
    hostname: str
    """The Hetzner server name; its Primary IPs are named `<hostname>-ipv4` / `-ipv6`."""
    role: str
    """The `role` label of the server and its Primary IPs."""
    location: str
    server_type: str
    image: str
    """Only read at creation: an edit never replaces the server."""
    firewall_ids: Sequence[pulumi.Input[int]]
    ssh_key_ids: Sequence[pulumi.Input[str]]
    user_data: UserData
    """Rendered by the caller from the base renderer plus its layer; made secret here."""
    protect: bool
    placement_group_id: pulumi.Input[int] | None = None
    networks: Sequence[hcloud.ServerNetworkArgs] = ()
    extra_labels: Mapping[str, str] = field(default_factory=dict)
    depends_on: Sequence[pulumi.Resource] = ()


class HostAddresses:
    """A host's Primary IPv4 and IPv6 (`<name>-ipv4`, `<name>-ipv6`), children of `parent`.

    Made before the server so that the addresses are known first (cloud-init, DNS, another
    firewall's rules) and survive a rebuild: auto_delete=False.
    """

    ipv4: hcloud.PrimaryIp
    ipv6: hcloud.PrimaryIp
    public_ipv4: pulumi.Output[str]
    public_ipv6: pulumi.Output[str]
    """The host address (…::1), never the /64's network address."""

    def __init__(
        self,
        name: str,
        environment: str,
        hostname: str,
        role: str,
        location: str,
        protect: bool,
        parent: pulumi.Resource,
    ) -> None:
        ips = {
            family: hcloud.PrimaryIp(
                f"{name}-{family}",
                name=f"{hostname}-{family}",
                type=family,
                location=location,
                assignee_type="server",
                auto_delete=False,
                delete_protection=protect,
                labels=labels(environment, role),
                opts=pulumi.ResourceOptions(parent=parent, protect=protect),
            )
            for family in FAMILIES
        }
        self.ipv4, self.ipv6 = ips["ipv4"], ips["ipv6"]
        self.public_ipv4 = self.ipv4.ip_address
        self.public_ipv6 = self.ipv6.ip_address.apply(ipv6_host_address)


class HardenedHost:
    """A server and its Primary IPs, registered as children of `parent`.

    Resource names: `<name>-ipv4`, `<name>-ipv6` and `server_resource_name` (default
    `<name>-server`); the caller picks them so that existing URNs stay as they are. A caller
    that needs the addresses earlier makes them first (:class:`HostAddresses`) and passes them.
    """

    server: hcloud.Server
    addresses: HostAddresses
    public_ipv4: pulumi.Output[str]
    public_ipv6: pulumi.Output[str]
    """The host address (…::1), never the /64's network address."""

    def __init__(
        self,
        name: str,
        args: HardenedHostArgs,
        parent: pulumi.Resource,
        server_resource_name: str | None = None,
        addresses: HostAddresses | None = None,
    ) -> None:
        self.addresses = addresses or HostAddresses(
            name, args.environment, args.hostname, args.role, args.location, args.protect, parent
        )
        self.public_ipv4 = self.addresses.public_ipv4
        self.public_ipv6 = self.addresses.public_ipv6
        self.server = hcloud.Server(
            server_resource_name or f"{name}-server",
            name=args.hostname,
            server_type=args.server_type,
            image=args.image,
            location=args.location,
            placement_group_id=args.placement_group_id,
            networks=list(args.networks) or None,
            public_nets=[
                hcloud.ServerPublicNetArgs(
                    ipv4_enabled=True,
                    ipv4=self.addresses.ipv4.id.apply(int),
                    ipv6_enabled=True,
                    ipv6=self.addresses.ipv6.id.apply(int),
                )
            ],
            firewall_ids=list(args.firewall_ids),
            ssh_keys=list(args.ssh_key_ids),
            # user_data holds secrets (tokens, keys, passwords): secret in state and plan.
            user_data=pulumi.Output.secret(args.user_data(self.public_ipv4, self.public_ipv6)),
            labels={**labels(args.environment, args.role), **args.extra_labels},
            delete_protection=args.protect,
            rebuild_protection=args.protect,
            opts=pulumi.ResourceOptions(
                parent=parent,
                protect=args.protect,
                depends_on=list(args.depends_on),
                # A config edit must never replace a server: Hetzner replaces on any
                # user_data/ssh_keys change and on an image change, which would wipe its disk
                # (an etcd member, the monitor's history). Day-2 changes take their own path
                # (Kubernetes for K3s, the config push for the monitor), not cloud-init.
                ignore_changes=["user_data", "image", "ssh_keys"],
                # A deliberate replacement (a dead server, `pulumi up --replace`) must delete
                # first: the new server takes the same name, private IP and Primary IPs, which
                # the old one holds until it is gone.
                delete_before_replace=True,
            ),
        )
