"""The Hetzner private network and the K3s address ranges."""

from __future__ import annotations

import ipaddress
from collections.abc import Iterator, Mapping
from typing import Annotated, Any

from pydantic import Field

from components.config.base import Problem, Section, one_of, parses

# Hetzner network zones and their locations (https://docs.hetzner.com/cloud/general/locations/).
NETWORK_ZONES: Mapping[str, frozenset[str]] = {
    "eu-central": frozenset({"fsn1", "nbg1", "hel1"}),
    "us-east": frozenset({"ash"}),
    "us-west": frozenset({"hil"}),
    "ap-southeast": frozenset({"sin"}),
}
_RFC1918 = tuple(ipaddress.IPv4Network(n) for n in ("10.0.0.0/8", "172.16.0.0/12", "192.168.0.0/16"))


IPV4_CIDR = parses(
    lambda v: ipaddress.IPv4Network(v, strict=True), "must be an IPv4 CIDR with no host bits set, e.g. 10.0.0.0/16"
)


def usable_host_problem(ip: str, subnet: ipaddress.IPv4Network) -> str | None:
    """Why `ip` cannot be a server's address in `subnet`, or None. The first hosts of a Hetzner
    subnet belong to its gateway; the last is broadcast."""
    try:
        address = ipaddress.IPv4Address(ip)
    except ValueError:
        return "must be an IPv4 address"
    if address not in subnet or address == subnet.broadcast_address or int(address) - int(subnet.network_address) < 2:
        return f"must be a usable host of privateSubnetCidr {subnet} (host 2 or above)"
    return None


class Network(Section):
    TITLE = "Hetzner network"

    network_zone: Annotated[str, one_of(*NETWORK_ZONES)] = Field(
        "eu-central",
        description="Hetzner network zone of the private network; every server location must belong to it.",
    )
    private_network_cidr: Annotated[str, IPV4_CIDR] = Field(
        "10.0.0.0/16", description="RFC1918 range of the Hetzner private network (/16 to /24)."
    )
    private_subnet_cidr: Annotated[str, IPV4_CIDR] = Field(
        "10.0.1.0/24", description="Subnet of the private network that holds the servers."
    )
    cluster_cidr: Annotated[str, IPV4_CIDR] = Field(
        "10.42.0.0/16", description="K3s pod CIDR (cannot change after the cluster exists)."
    )
    service_cidr: Annotated[str, IPV4_CIDR] = Field(
        "10.43.0.0/16", description="K3s service CIDR (cannot change after the cluster exists)."
    )

    @property
    def subnet(self) -> ipaddress.IPv4Network:
        return ipaddress.IPv4Network(self.private_subnet_cidr)

    @property
    def zone_locations(self) -> frozenset[str]:
        return NETWORK_ZONES[self.network_zone]

    def rule_private_range(self, stack: Any) -> Iterator[Problem]:
        network = ipaddress.IPv4Network(self.private_network_cidr)
        if not network.is_private or not any(network.subnet_of(r) for r in _RFC1918):
            yield Problem("privateNetworkCidr", str(network), "must lie inside RFC1918 (10/8, 172.16/12, 192.168/16)")
        elif not 16 <= network.prefixlen <= 24:
            yield Problem("privateNetworkCidr", str(network), "prefix must be /16 to /24")

    def rule_subnet_inside_network(self, stack: Any) -> Iterator[Problem]:
        network = ipaddress.IPv4Network(self.private_network_cidr)
        if not self.subnet.subnet_of(network):
            yield Problem("privateSubnetCidr", str(self.subnet), f"must lie inside privateNetworkCidr {network}")

    def rule_cluster_ranges_apart(self, stack: Any) -> Iterator[Problem]:
        network = ipaddress.IPv4Network(self.private_network_cidr)
        for key, value in (("clusterCidr", self.cluster_cidr), ("serviceCidr", self.service_cidr)):
            if network.overlaps(ipaddress.IPv4Network(value)):
                yield Problem(key, value, f"must not overlap privateNetworkCidr {network}")

    def rule_pods_and_services_apart(self, stack: Any) -> Iterator[Problem]:
        cluster = ipaddress.IPv4Network(self.cluster_cidr)
        service = ipaddress.IPv4Network(self.service_cidr)
        if cluster.overlaps(service):
            yield Problem("serviceCidr", str(service), f"must not overlap clusterCidr {cluster}")
