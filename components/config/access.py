"""Who may reach the servers, and how: admin networks, SSH port, admin user and keys."""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Iterator
from typing import Annotated, Any

from pydantic import AfterValidator, Field

from components.config.base import Problem, Section, matches, parses, rule

# Ports the cluster itself listens on (web, etcd, API, kubelet): SSH must not collide with them.
CLUSTER_PORTS = frozenset({80, 443, 2379, 2380, 6443, 10250})
_OPENSSH_KEY = re.compile(r"^(ssh-ed25519|ecdsa-sha2-nistp\d+|ssh-rsa) [A-Za-z0-9+/=]+")


def _ssh_port_problem(port: int) -> str | None:
    if not 1 <= port <= 65535:
        return "must be a TCP port 1-65535"
    if port == 22:
        return "must not be 22 (scanner noise); pick e.g. 2222"
    if port in CLUSTER_PORTS:
        return "must not be a port the cluster uses: " + ", ".join(map(str, sorted(CLUSTER_PORTS)))
    return None


def _check_ssh_port(port: int) -> int:
    why = _ssh_port_problem(port)
    if why:
        raise ValueError(why)
    return port


CIDR = parses(
    lambda v: ipaddress.ip_network(v, strict=True), "must be a CIDR with no host bits set, e.g. 198.51.100.7/32"
)
AT_LEAST_ONE_CIDR = rule(lambda v: len(v) > 0, "must list at least one CIDR (SSH and the Kubernetes API)")
OPENSSH_KEY = rule(lambda v: _OPENSSH_KEY.match(v) is not None, "must be an OpenSSH public key (ssh-ed25519 AAAA...)")
AT_LEAST_ONE_KEY = rule(lambda v: len(v) > 0, "must list at least one OpenSSH public key")


class Access(Section):
    TITLE = "operator access"

    admin_cidrs: Annotated[tuple[Annotated[str, CIDR], ...], AT_LEAST_ONE_CIDR] = Field(
        description="Source CIDRs allowed to reach SSH and the Kubernetes API (6443)."
    )
    allow_world_admin_access: bool = Field(
        False, description="Accept 0.0.0.0/0 or ::/0 in adminCidrs. Leave false unless you mean it."
    )
    allow_icmp: bool = Field(True, description="Admit ICMP (ping, path MTU discovery) on the public interface.")
    ssh_port: Annotated[int, AfterValidator(_check_ssh_port)] = Field(
        2222, description="SSH port on every server (not 22, not a port the cluster uses)."
    )
    admin_user: Annotated[
        str,
        matches(r"[a-z_][a-z0-9_-]{0,31}", "must be a Linux user name (a-z, 0-9, '_', '-') other than root"),
        rule(lambda v: v != "root", "must be a Linux user name (a-z, 0-9, '_', '-') other than root"),
    ] = Field("ops", description="Non-root admin user created on every server with sshPublicKeys.")
    ssh_public_keys: Annotated[tuple[Annotated[str, OPENSSH_KEY], ...], AT_LEAST_ONE_KEY] = Field(
        description="OpenSSH public keys of the operators (also registered as Hetzner SSH keys)."
    )

    def rule_world_admin_access(self, stack: Any) -> Iterator[Problem]:
        for i, cidr in enumerate(self.admin_cidrs):
            if ipaddress.ip_network(cidr).prefixlen == 0 and not self.allow_world_admin_access:
                yield Problem(
                    f"adminCidrs[{i}]", cidr, "world-open admin access is refused unless allowWorldAdminAccess is true"
                )
