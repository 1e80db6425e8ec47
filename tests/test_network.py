"""PrivateNetwork (components/network.py): the network, its subnet and spread placement groups."""

from __future__ import annotations

import ipaddress

import pytest

from components.network import shared_locations
from tools import mockrt

NETWORK = "hcloud:index/network:Network"
SUBNET = "hcloud:index/networkSubnet:NetworkSubnet"
GROUP = "hcloud:index/placementGroup:PlacementGroup"
SERVER = "hcloud:index/server:Server"


@pytest.mark.parametrize(
    ("locations", "shared"),
    [
        (("fsn1", "fsn1", "fsn1"), ("fsn1",)),
        (("fsn1", "nbg1", "hel1"), ()),  # one server per location: a spread group changes nothing
        (("nbg1", "fsn1", "nbg1", "fsn1", "hel1"), ("fsn1", "nbg1")),  # sorted, not list order
        (("nbg1",), ()),
    ],
)
def test_shared_locations(locations: tuple[str, ...], shared: tuple[str, ...]) -> None:
    assert shared_locations(locations) == shared


def test_prod_network_subnet_and_group(prod_plan: mockrt.PlanResult) -> None:
    (network,) = prod_plan.of_type(NETWORK)
    (subnet,) = prod_plan.of_type(SUBNET)
    assert network.inputs["ipRange"] == "10.0.0.0/16" and network.inputs["deleteProtection"] is True
    assert network.options["protect"] is True and subnet.options["protect"] is True
    assert ipaddress.ip_network(subnet.inputs["ipRange"]).subnet_of(ipaddress.ip_network(network.inputs["ipRange"]))
    assert subnet.inputs["networkZone"] == "eu-central" and subnet.inputs["type"] == "cloud"
    assert network.urn in subnet.dependencies
    (group,) = prod_plan.of_type(GROUP)
    assert group.inputs["type"] == "spread" and group.inputs["name"] == "honeydue-prod-fsn1"
    # Every server waits for the subnet: attaching to a network without one fails at Hetzner.
    assert all(subnet.urn in s.dependencies for s in prod_plan.of_type(SERVER))


def test_staging_is_unprotected_and_has_no_group(staging_plan: mockrt.PlanResult) -> None:
    (network,) = staging_plan.of_type(NETWORK)
    assert network.options["protect"] is False and network.inputs["deleteProtection"] is False
    assert not staging_plan.of_type(GROUP)


def test_spreading_servers_over_locations_drops_the_group() -> None:
    servers = [
        {"name": "k3s-1", "location": "fsn1", "privateIp": "10.0.1.11"},
        {"name": "k3s-2", "location": "nbg1", "privateIp": "10.0.1.12"},
        {"name": "k3s-3", "location": "hel1", "privateIp": "10.0.1.13"},
    ]
    # (no uptime monitor here: it must sit in a location no server uses)
    plan = mockrt.run_program("prod", mockrt.stack_config("prod", {"servers": servers, "monitor": None}))
    assert not plan.of_type(GROUP)
    assert all("placementGroupId" not in s.inputs for s in plan.of_type(SERVER))
