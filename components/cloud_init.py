"""Pure renderer of a K3s server's user_data: the K3s layer on top of the hardened base.

One :class:`NodeBootstrap` per K3s server. :func:`render_user_data` turns it into the base host
(components/cloud_init_base.py: admin user, SSH hardening, fail2ban, unattended upgrades, metadata
guard) plus a :class:`~components.cloud_init_base.Layer` holding the K3s config, the CA files, the
sysctl settings K3s needs, the audit policy and the bootstrap script. No Pulumi import: the cluster
component calls this inside one ``Output.all(...).apply(...)`` and tests call it directly.

Boot order this relies on: see cloud_init_base. The K3s config, the CA files and the sysctl file
exist (init stage) before the bootstrap script installs K3s (final stage).
"""

from __future__ import annotations

import ipaddress
import re
import shlex
from dataclasses import dataclass
from typing import Any

from components.cloud_init_base import (
    AUTO_UPGRADES_PATH,
    FAIL2BAN_JAIL_PATH,
    HARDEN_PATH,
    METADATA_GUARD_RULES_PATH,
    METADATA_GUARD_UNIT,
    METADATA_GUARD_UNIT_PATH,
    SECURITY_ONLY_PATH,
    SSHD_DROPIN_PATH,
    TEMPLATE_DIR,
    USER_DATA_BUDGET,
    HostBootstrap,
    Layer,
    SharedStr,
    check_host,
    dump_yaml,
    file_entry,
    read_stripped,
    read_template,
    render_host_user_data,
    script_entry,
)

# The base's paths are re-exported: tests and tools name them through this module.
__all__ = [
    "AUTO_UPGRADES_PATH",
    "FAIL2BAN_JAIL_PATH",
    "HARDEN_PATH",
    "METADATA_GUARD_RULES_PATH",
    "METADATA_GUARD_UNIT",
    "METADATA_GUARD_UNIT_PATH",
    "SECURITY_ONLY_PATH",
    "SSHD_DROPIN_PATH",
    "USER_DATA_BUDGET",
    "EtcdS3",
    "NodeBootstrap",
    "render_k3s_config",
    "render_user_data",
]

# Paths on the node. The shell templates name some of them too (see their headers).
K3S_CONFIG_PATH = "/etc/rancher/k3s/config.yaml"
AUDIT_POLICY_PATH = "/etc/rancher/k3s/audit-policy.yaml"
AUDIT_LOG_PATH = "/var/lib/rancher/k3s/server/logs/audit.log"
K3S_TLS_DIR = "/var/lib/rancher/k3s/server/tls"
SYSCTL_PATH = "/etc/sysctl.d/90-kubelet.conf"
BOOTSTRAP_PATH = "/usr/local/sbin/honeydue-k3s-bootstrap"

# Audit log rotation: days kept, files kept, MiB per file.
AUDIT_LOG_MAXAGE = 30
AUDIT_LOG_MAXBACKUP = 10
AUDIT_LOG_MAXSIZE = 100

_VERSION_RE = re.compile(r"^v\d+\.\d+\.\d+\+k3s\d+$")
_PEM_BLOCK_RE = re.compile(r"-----BEGIN [A-Z0-9 ]+-----\n.*?-----END [A-Z0-9 ]+-----\n", re.DOTALL)
_CA_PATH_RE = re.compile(r"^[A-Za-z0-9._-]+(/[A-Za-z0-9._-]+)*\.(crt|key|pem)$")


@dataclass(frozen=True)
class EtcdS3:
    """S3-compatible bucket (Backblaze B2 speaks S3) for K3s's scheduled etcd snapshots."""

    endpoint: str
    bucket: str
    folder: str
    region: str
    retention: int
    access_key: str
    secret_key: str


@dataclass(frozen=True)
class NodeBootstrap:
    """Everything one K3s server's first boot needs, as plain resolved values."""

    hostname: str
    k3s_version: str  # "v1.34.6+k3s1"
    token: str  # K10<hash>::server:<secret>
    private_ip: str  # static private IP of this node
    public_ipv4: str
    public_ipv6: str  # the server's host address (…::1), never the /64's network address; "" if none
    bootstrap: bool  # initialises etcd when no peer holds the cluster yet (day one)
    peers: tuple[str, ...]  # the other servers' private IPs, the bootstrap server first
    tls_sans: tuple[str, ...]  # API DNS name + every server's IPs
    cluster_cidr: str
    service_cidr: str
    external_cloud_provider: bool  # Hetzner CCM replaces K3s's built-in cloud controller
    ca_files: tuple[tuple[str, str], ...]  # (path under K3S_TLS_DIR, PEM); bootstrap server only
    etcd_snapshot_cron: str
    etcd_snapshot_retention: int
    etcd_s3: EtcdS3 | None
    ssh_port: int
    admin_user: str
    ssh_authorized_keys: tuple[str, ...]

    @property
    def host(self) -> HostBootstrap:
        """The base every hardened host shares (components/cloud_init_base.py)."""
        return HostBootstrap(
            hostname=self.hostname,
            ssh_port=self.ssh_port,
            admin_user=self.admin_user,
            ssh_authorized_keys=self.ssh_authorized_keys,
        )


def render_k3s_config(node: NodeBootstrap) -> dict[str, Any]:
    """The content of /etc/rancher/k3s/config.yaml; keys are ``k3s server`` flag names."""
    _check(node)
    cfg: dict[str, Any] = {}
    # No cluster-init and no server here: the bootstrap script decides at first boot, from the
    # peers' /cacerts, and writes one of them to config.yaml.d/20-join.yaml. A static
    # cluster-init would make a rebuilt bootstrap server start a second cluster.
    cfg["token"] = node.token
    cfg["node-name"] = node.hostname
    # flannel-iface is not here: the private NIC's name depends on the server type, so the
    # bootstrap script finds it at boot and writes config.yaml.d/10-flannel-iface.yaml.
    cfg["node-ip"] = node.private_ip
    cfg["node-external-ip"] = [ip for ip in (node.public_ipv4, node.public_ipv6) if ip]
    # Without this the apiserver advertises node-external-ip, and in-cluster clients would
    # reach the API through public addresses the firewall only opens to admin CIDRs.
    cfg["advertise-address"] = node.private_ip
    cfg["tls-san"] = list(node.tls_sans)
    # Must be identical on every server (K3s "critical configuration values").
    cfg["cluster-cidr"] = node.cluster_cidr
    cfg["service-cidr"] = node.service_cidr
    cfg["flannel-backend"] = "wireguard-native"
    cfg["secrets-encryption"] = True  # cannot be turned on later
    cfg["disable"] = ["servicelb"]  # no Hetzner LB: Traefik runs on hostNetwork
    if node.external_cloud_provider:
        cfg["disable-cloud-controller"] = True
        cfg["kubelet-arg"] = ["cloud-provider=external"]
    cfg["protect-kernel-defaults"] = True
    cfg["write-kubeconfig-mode"] = "0600"
    cfg["kube-apiserver-arg"] = [
        f"audit-log-path={AUDIT_LOG_PATH}",
        f"audit-policy-file={AUDIT_POLICY_PATH}",
        f"audit-log-maxage={AUDIT_LOG_MAXAGE}",
        f"audit-log-maxbackup={AUDIT_LOG_MAXBACKUP}",
        f"audit-log-maxsize={AUDIT_LOG_MAXSIZE}",
    ]
    cfg["etcd-snapshot-schedule-cron"] = node.etcd_snapshot_cron
    cfg["etcd-snapshot-retention"] = node.etcd_snapshot_retention
    if node.etcd_s3 is not None:
        s3 = node.etcd_s3
        cfg["etcd-s3"] = True
        cfg["etcd-s3-endpoint"] = s3.endpoint
        cfg["etcd-s3-bucket"] = s3.bucket
        cfg["etcd-s3-folder"] = s3.folder
        cfg["etcd-s3-region"] = s3.region
        cfg["etcd-s3-retention"] = s3.retention
        cfg["etcd-s3-access-key"] = s3.access_key
        cfg["etcd-s3-secret-key"] = s3.secret_key
    return cfg


def render_user_data(node: NodeBootstrap) -> str:
    """The node's user_data: the hardened base plus the K3s layer. Deterministic for equal input.

    Raises ValueError on inconsistent input or when the result exceeds USER_DATA_BUDGET bytes.
    """
    k3s_config = render_k3s_config(node)  # also validates node
    files = [
        # Holds the cluster token (and the S3 secret): root only.
        file_entry(K3S_CONFIG_PATH, dump_yaml(k3s_config, inline_lists=True), "0600"),
        file_entry(AUDIT_POLICY_PATH, read_stripped(TEMPLATE_DIR, "audit-policy.yaml"), "0600"),
        # Bring-your-own CA: must be in place before K3s first starts (write_files runs in the
        # init stage, K3s starts in the final stage). K3s copies them to the joiners via etcd.
        *_ca_entries(node.ca_files),
    ]
    role = "bootstrap" if node.bootstrap else "join"
    layer = Layer(
        what="K3s",
        step="k3s-bootstrap",
        # K3s requires the guard's unit (RequiredBy=k3s.service): without it K3s never starts.
        command=shlex.join([BOOTSTRAP_PATH, node.k3s_version, node.private_ip, role, *node.peers]),
        settings_files=[file_entry(SYSCTL_PATH, read_template(TEMPLATE_DIR, "sysctl-kubelet.conf"), "0644")],
        files=files,
        scripts=[script_entry(BOOTSTRAP_PATH, read_stripped(TEMPLATE_DIR, "k3s-bootstrap.sh"))],
    )
    return render_host_user_data(node.host, layer)


def _check(node: NodeBootstrap) -> None:
    """Reject input that would render a node that cannot boot; all problems at once."""
    errors = check_host(node.host)
    if not _VERSION_RE.match(node.k3s_version):
        errors.append(f"k3s_version {node.k3s_version!r} is not like 'v1.34.6+k3s1'")
    if not node.token.startswith("K10") or "::server:" not in node.token:
        errors.append("token is not a secure K3s server token (K10<hash>::server:<secret>)")
    for field in ("private_ip", "public_ipv4", "public_ipv6"):
        value = getattr(node, field)
        if field == "public_ipv6" and value == "":
            continue
        try:
            ipaddress.ip_address(value)
        except ValueError:
            errors.append(f"{field} {value!r} is not an IP address")
    if node.public_ipv6 and _is_network_address(node.public_ipv6):
        errors.append(f"public_ipv6 {node.public_ipv6!r} is a /64 network address, not the server's host address")
    for peer in node.peers:
        try:
            ipaddress.IPv4Address(peer)
        except ValueError:
            errors.append(f"peer {peer!r} is not an IPv4 address")
    if node.private_ip in node.peers:
        errors.append("peers must not include the node itself")
    if not node.bootstrap and not node.peers:
        errors.append("a joining server needs the bootstrap server as its first peer")
    if not node.bootstrap and node.ca_files:
        errors.append("ca_files go to the bootstrap server only")
    for rel_path, pem in node.ca_files:
        parts = rel_path.split("/")
        if not _CA_PATH_RE.match(rel_path) or any(p.startswith(".") for p in parts):
            errors.append(f"ca_files path {rel_path!r} is not a plain relative .crt/.key path")
        if "-----BEGIN " not in pem:
            errors.append(f"ca_files {rel_path!r} is not PEM")
    if node.etcd_snapshot_retention < 1:
        errors.append("etcd_snapshot_retention must be at least 1")
    if errors:
        raise ValueError(f"invalid NodeBootstrap for {node.hostname!r}: " + "; ".join(errors))


def _is_network_address(address: str) -> bool:
    """True for an IPv6 address whose interface identifier is zero, like Hetzner's /64 answer."""
    try:
        ip = ipaddress.IPv6Address(address)
    except ValueError:
        return False
    return int(ip) & ((1 << 64) - 1) == 0


def _ca_entries(ca_files: tuple[tuple[str, str], ...]) -> list[dict[str, Any]]:
    """write_files entries for the CA files, each certificate block written once.

    Every *.crt is a bundle ending in the same root certificate; repeated five times it would
    cost ~3 KiB of the budget. A PEM block found in more than one file is written as an
    ``append: true`` entry whose content is one shared string object, which the YAML dumper
    emits once as an anchor and then as aliases. Replaying the entries in order (what
    cloud-init's write_files does) rebuilds every file byte for byte.
    """
    split = {path: _pem_blocks(pem) for path, pem in ca_files}
    seen: dict[str, int] = {}
    for blocks in split.values():
        for block in set(blocks):
            seen[block] = seen.get(block, 0) + 1
    shared: dict[str, SharedStr] = {}
    entries: list[dict[str, Any]] = []
    for rel_path, _ in ca_files:
        path = f"{K3S_TLS_DIR}/{rel_path}"
        mode = "0600" if rel_path.endswith(".key") else "0644"
        chunks: list[str] = []
        pending = ""
        for block in split[rel_path]:
            if seen[block] > 1:
                if pending:
                    chunks.append(pending)
                    pending = ""
                chunks.append(shared.setdefault(block, SharedStr(block)))
            else:
                pending += block
        if pending:
            chunks.append(pending)
        for i, chunk in enumerate(chunks):
            entry = file_entry(path, chunk, mode)
            if i:
                entry["append"] = True
            entries.append(entry)
    return entries


def _pem_blocks(pem: str) -> list[str]:
    """The PEM blocks of a bundle, or the whole text if it does not split losslessly."""
    blocks = _PEM_BLOCK_RE.findall(pem)
    return blocks if "".join(blocks) == pem else [pem]
