"""The K3s servers: who they are, what they run, where etcd snapshots go."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Annotated, Any

from pydantic import Field

from components.config.base import (
    CRON,
    DNS_LABEL,
    HETZNER_NAME,
    NON_EMPTY,
    POSITIVE,
    ConfigModel,
    Problem,
    SecretKey,
    Section,
    matches,
    rule,
)
from components.config.network import usable_host_problem

ETCD_QUORUM_SIZES = (1, 3, 5)


@dataclass(frozen=True)
class Server:
    """One K3s server. Its identity (name, private IP, role) comes from its own config entry,
    never from its position in the list: reordering or removing an entry changes nothing else."""

    name: str
    location: str
    private_ip: str
    bootstrap: bool
    """Initialises etcd on day one (config key bootstrapServer). Rebuilt later, it joins a peer."""


class ServerEntry(ConfigModel):
    name: Annotated[
        str,
        rule(lambda v: DNS_LABEL.match(v) is not None, "must be a DNS label (a-z, 0-9, '-', at most 63 characters)"),
    ] = Field(description="node name")
    location: str = Field(description="Hetzner location in networkZone")
    # Explicit, never derived from the position: a derived address would move every time an
    # entry above it is removed or reordered, and Hetzner would then re-address real nodes.
    private_ip: str = Field(description="this server's static IPv4 in privateSubnetCidr")


class EtcdS3Target(ConfigModel):
    endpoint: Annotated[
        str, NON_EMPTY, rule(lambda v: "://" not in v, "must be a host name without scheme (K3s adds https)")
    ]
    bucket: Annotated[str, NON_EMPTY]
    folder: Annotated[str, NON_EMPTY]
    region: Annotated[str, NON_EMPTY]
    # Required, not defaulted: K3s keeps only 5 snapshots in S3 unless told otherwise, and what
    # the bucket keeps is what an operator restores from.
    retention: Annotated[int, rule(lambda v: v >= 1, "number of snapshots kept in the bucket (1 or more)")] = Field(
        description="number of snapshots kept in the bucket (1 or more)"
    )
    """Snapshots K3s keeps in the bucket (etcd-s3-retention); the upstream default is 5."""


class Cluster(Section):
    TITLE = "K3s servers"
    SECRETS = (
        SecretKey("hcloudToken", "Hetzner Cloud API token (read/write) of the project."),
        SecretKey("etcdS3AccessKey", "Access key for off-site etcd snapshots (required when etcdS3 is set).", "etcdS3"),
        SecretKey("etcdS3SecretKey", "Secret key for off-site etcd snapshots (required when etcdS3 is set).", "etcdS3"),
    )

    server_entries: tuple[ServerEntry, ...] = Field(
        alias="servers",
        description=(
            "K3s servers (1, 3 or 5 for etcd quorum), each {name, location, privateIp}. Each server's identity is"
            " its own entry: its node name comes from name, its static private IP from privateIp (inside"
            " privateSubnetCidr, not the network, gateway or broadcast address, unique), never from its position,"
            " so reordering or removing entries changes no other server."
        ),
    )
    bootstrap_server: str = Field(
        description=(
            "Name of the server (in servers) that initialises etcd on day one; the others join it. Any server"
            " rebuilt later, this one included, joins a healthy peer instead of starting a second cluster (its"
            " boot script checks the peers' /cacerts against the token's CA hash first)."
        )
    )
    server_type: Annotated[str, HETZNER_NAME] = Field("cx33", description="Hetzner server type of every K3s server.")
    server_image: Annotated[str, HETZNER_NAME] = Field(
        "debian-13",
        description="Hetzner image of every K3s server (only read at creation; edits never replace a server).",
    )
    k3s_version: Annotated[
        str, matches(r"v(\d+)\.(\d+)\.(\d+)\+k3s(\d+)", "must look like v1.34.6+k3s1 (vMAJOR.MINOR.PATCH+k3sN)")
    ] = Field(
        "v1.34.6+k3s1",
        description=(
            "K3s release installed on new servers (vMAJOR.MINOR.PATCH+k3sN). Later upgrades go through the"
            " upgrade controller."
        ),
    )
    etcd_snapshot_cron: Annotated[str, CRON] = Field("0 */6 * * *", description="Cron schedule of K3s etcd snapshots.")
    etcd_snapshot_retention: Annotated[int, POSITIVE] = Field(28, description="Number of etcd snapshots kept.")
    etcd_s3: EtcdS3Target | None = Field(
        None,
        description=(
            "Off-site etcd snapshots to S3-compatible storage (Backblaze B2): {endpoint, bucket, folder, region,"
            " retention}; retention is the number of snapshots K3s keeps in the bucket (etcd-s3-retention,"
            " upstream default 5, so it is required here). When set, the secrets etcdS3AccessKey and"
            " etcdS3SecretKey are required."
        ),
    )

    @property
    def servers(self) -> tuple[Server, ...]:
        return tuple(
            Server(name=s.name, location=s.location, private_ip=s.private_ip, bootstrap=s.name == self.bootstrap_server)
            for s in self.server_entries
        )

    def rule_quorum(self, stack: Any) -> Iterator[Problem]:
        if len(self.server_entries) not in ETCD_QUORUM_SIZES:
            yield Problem("servers", f"{len(self.server_entries)} servers", "must be 1, 3 or 5 servers (etcd quorum)")

    def rule_bootstrap_is_a_server(self, stack: Any) -> Iterator[Problem]:
        names = [s.name for s in self.server_entries]
        if names and self.bootstrap_server not in names:
            yield Problem("bootstrapServer", self.bootstrap_server, "must name one of servers: " + ", ".join(names))

    def rule_server_identities(self, stack: Any) -> Iterator[Problem]:
        entries = self.server_entries
        seen_names: set[str] = set()
        seen_ips: set[str] = set()
        network = stack.network
        for i, server in enumerate(entries):
            if server.name in seen_names:
                yield Problem(f"servers[{i}].name", server.name, "duplicate server name")
            seen_names.add(server.name)
            if network is None:
                continue
            if server.location not in network.zone_locations:
                yield Problem(
                    f"servers[{i}].location",
                    server.location,
                    f"must be a location of network zone {network.network_zone}: "
                    + ", ".join(sorted(network.zone_locations)),
                )
            why = usable_host_problem(server.private_ip, network.subnet)
            if why:
                yield Problem(f"servers[{i}].privateIp", server.private_ip, why)
            elif server.private_ip in seen_ips:
                yield Problem(f"servers[{i}].privateIp", server.private_ip, "duplicate private IP")
            seen_ips.add(server.private_ip)
