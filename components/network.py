"""PrivateNetwork: the Hetzner private network, its subnet and spread placement groups."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass

import pulumi
import pulumi_hcloud as hcloud

from components.base import labels, type_token


@dataclass(frozen=True)
class PrivateNetworkArgs:
    environment: str
    network_cidr: str
    subnet_cidr: str
    network_zone: str
    server_locations: tuple[str, ...]
    """Location of every server, in server order (placement groups are per location)."""
    protect: bool


def shared_locations(locations: tuple[str, ...]) -> tuple[str, ...]:
    """Locations holding two or more servers: only there a spread group changes anything."""
    counts = Counter(locations)
    return tuple(sorted(loc for loc, n in counts.items() if n > 1))


class PrivateNetwork(pulumi.ComponentResource):
    network_id: pulumi.Output[int]
    subnet: hcloud.NetworkSubnet
    placement_group_ids: dict[str, pulumi.Output[int]]
    """Spread placement group per shared location."""

    def __init__(self, name: str, args: PrivateNetworkArgs, opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__(type_token("network", "PrivateNetwork"), name, None, opts)
        child = pulumi.ResourceOptions(parent=self, protect=args.protect)
        network = hcloud.Network(
            f"{name}-network",
            name=f"honeydue-{args.environment}",
            ip_range=args.network_cidr,
            delete_protection=args.protect,
            labels=labels(args.environment, "network"),
            opts=child,
        )
        self.network_id = network.id.apply(int)
        self.subnet = hcloud.NetworkSubnet(
            f"{name}-subnet",
            network_id=self.network_id,
            type="cloud",
            network_zone=args.network_zone,
            ip_range=args.subnet_cidr,
            opts=child,
        )
        self.placement_group_ids = {
            location: hcloud.PlacementGroup(
                f"{name}-spread-{location}",
                name=f"honeydue-{args.environment}-{location}",
                type="spread",
                labels=labels(args.environment, "placement"),
                opts=pulumi.ResourceOptions(parent=self),
            ).id.apply(int)
            for location in shared_locations(args.server_locations)
        }
        self.register_outputs({"network_id": self.network_id})
