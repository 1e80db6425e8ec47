"""Pure renderer: plain, resolved values in, ``#cloud-config`` text out.

One :class:`NodeBootstrap` per K3s server. :func:`render_user_data` builds the cloud-config as a
dict and dumps it with PyYAML's safe dumper, so the output always parses; every file it writes
comes from ``templates/cloud_init/`` next to this module (never the working directory). No Pulumi
import: the cluster component calls this inside one ``Output.all(...).apply(...)`` and tests call
it directly.

Boot order this relies on (cloud-init stages): ``write_files`` and ``users`` run in the init stage,
``packages`` in the config stage, ``runcmd`` in the final stage. So the K3s config, the CA files
and the sysctl file exist before the bootstrap script installs K3s, and fail2ban is installed
before the hardening script restarts it.
"""

from __future__ import annotations

import ipaddress
import re
import string
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

__all__ = [
    "USER_DATA_BUDGET",
    "EtcdS3",
    "NodeBootstrap",
    "render_k3s_config",
    "render_user_data",
]

#: Hetzner accepts 32 KiB of user_data; keep half of it as headroom for later additions.
USER_DATA_BUDGET = 16 * 1024

TEMPLATE_DIR = Path(__file__).resolve().parent / "templates" / "cloud_init"

# Paths on the node. The shell templates name some of them too (see their headers).
K3S_CONFIG_PATH = "/etc/rancher/k3s/config.yaml"
AUDIT_POLICY_PATH = "/etc/rancher/k3s/audit-policy.yaml"
AUDIT_LOG_PATH = "/var/lib/rancher/k3s/server/logs/audit.log"
K3S_TLS_DIR = "/var/lib/rancher/k3s/server/tls"
SYSCTL_PATH = "/etc/sysctl.d/90-kubelet.conf"
SSHD_DROPIN_PATH = "/etc/ssh/sshd_config.d/00-hardening.conf"
FAIL2BAN_JAIL_PATH = "/etc/fail2ban/jail.d/sshd.local"
AUTO_UPGRADES_PATH = "/etc/apt/apt.conf.d/20auto-upgrades"
SECURITY_ONLY_PATH = "/etc/apt/apt.conf.d/52unattended-upgrades-security-only"
BOOTSTRAP_PATH = "/usr/local/sbin/honeydue-k3s-bootstrap"
HARDEN_PATH = "/usr/local/sbin/honeydue-harden"

# Audit log rotation: days kept, files kept, MiB per file.
AUDIT_LOG_MAXAGE = 30
AUDIT_LOG_MAXBACKUP = 10
AUDIT_LOG_MAXSIZE = 100

# python3-systemd: fail2ban's systemd backend needs it (only a Recommends of fail2ban).
PACKAGES = ("fail2ban", "python3-systemd", "unattended-upgrades")

_USER_RE = re.compile(r"^[a-z_][a-z0-9_-]{0,31}$")
_HOSTNAME_RE = re.compile(r"^(?!-)[a-z0-9-]{1,63}(?<!-)$")
_VERSION_RE = re.compile(r"^v\d+\.\d+\.\d+\+k3s\d+$")
_PEM_BLOCK_RE = re.compile(r"-----BEGIN [A-Z0-9 ]+-----\n.*?-----END [A-Z0-9 ]+-----\n", re.DOTALL)
_COMMENT_RE = re.compile(r"^\s*#(?!\s*shellcheck\s)")
_CA_PATH_RE = re.compile(r"^[A-Za-z0-9._-]+(/[A-Za-z0-9._-]+)*\.(crt|key|pem)$")


@dataclass(frozen=True)
class EtcdS3:
    """S3-compatible bucket (Backblaze B2 speaks S3) for K3s's scheduled etcd snapshots."""

    endpoint: str
    bucket: str
    folder: str
    region: str
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
    public_ipv6: str  # "" when the node has none
    server_url: str | None  # None for the first server; else "https://<first private ip>:6443"
    tls_sans: tuple[str, ...]  # API DNS name + every server's IPs
    cluster_cidr: str
    service_cidr: str
    external_cloud_provider: bool  # Hetzner CCM replaces K3s's built-in cloud controller
    ca_files: tuple[tuple[str, str], ...]  # (path under K3S_TLS_DIR, PEM); first server only
    etcd_snapshot_cron: str
    etcd_snapshot_retention: int
    etcd_s3: EtcdS3 | None
    ssh_port: int
    admin_user: str
    ssh_authorized_keys: tuple[str, ...]


def render_k3s_config(node: NodeBootstrap) -> dict[str, Any]:
    """The content of /etc/rancher/k3s/config.yaml; keys are ``k3s server`` flag names."""
    _check(node)
    cfg: dict[str, Any] = {}
    # Only read while etcd is empty, so leaving them in the static file is safe afterwards.
    if node.server_url is None:
        cfg["cluster-init"] = True
    else:
        cfg["server"] = node.server_url
    cfg["token"] = node.token
    cfg["node-name"] = node.hostname
    # node-ip also picks flannel's interface: pod traffic stays on the private network.
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
        cfg["etcd-s3-access-key"] = s3.access_key
        cfg["etcd-s3-secret-key"] = s3.secret_key
    return cfg


def render_user_data(node: NodeBootstrap) -> str:
    """The node's user_data: ``#cloud-config`` + YAML. Deterministic for equal input.

    Raises ValueError on inconsistent input or when the result exceeds USER_DATA_BUDGET bytes.
    """
    k3s_config = render_k3s_config(node)  # also validates node
    ssh_values = {"ssh_port": str(node.ssh_port), "admin_user": node.admin_user}

    write_files: list[dict[str, Any]] = [
        _file(SSHD_DROPIN_PATH, _template("sshd-hardening.conf", ssh_values), "0644"),
        _file(FAIL2BAN_JAIL_PATH, _template("fail2ban-sshd.local", ssh_values), "0644"),
        _file(AUTO_UPGRADES_PATH, _read("20auto-upgrades"), "0644"),
        _file(SECURITY_ONLY_PATH, _read("52unattended-upgrades-security-only"), "0644"),
        _file(SYSCTL_PATH, _read("sysctl-kubelet.conf"), "0644"),
        # Holds the cluster token (and the S3 secret): root only.
        _file(K3S_CONFIG_PATH, _dump(k3s_config, inline_lists=True), "0600"),
        _file(AUDIT_POLICY_PATH, _read_stripped("audit-policy.yaml"), "0600"),
    ]
    # Bring-your-own CA: must be in place before K3s first starts (write_files runs in the
    # init stage, K3s starts in the final stage). K3s copies them to the joiners via etcd.
    write_files += _ca_entries(node.ca_files)
    write_files += [
        _file(HARDEN_PATH, _read_stripped("harden.sh"), "0755"),
        _file(BOOTSTRAP_PATH, _read_stripped("k3s-bootstrap.sh"), "0755"),
    ]

    doc: dict[str, Any] = {
        # Issue 16 (proposal): bootcmd runs first in every boot, before write_files and long
        # before K3s: only root may reach the metadata service, which serves this user_data.
        "bootcmd": ["nft -f - <<'EOF'\n" + _read_stripped("metadata-guard.nft") + "EOF"],
        "hostname": node.hostname,
        "disable_root": True,
        "ssh_pwauth": False,
        # Only this user: listing no "default" entry keeps the image's default user out.
        "users": [
            {
                "name": node.admin_user,
                "groups": ["sudo"],
                "shell": "/bin/bash",
                "lock_passwd": True,
                # Key-only login and a locked password: sudo cannot ask for one.
                "sudo": "ALL=(ALL) NOPASSWD:ALL",
                "ssh_authorized_keys": list(node.ssh_authorized_keys),
            }
        ],
        "package_update": True,
        "packages": list(PACKAGES),
        "write_files": write_files,
        # cloud-init runs these lines as one /bin/sh script and reports only its last exit
        # status; `set -e` makes a failed hardening step fail the boot visibly instead.
        "runcmd": [
            "set -e",
            [HARDEN_PATH],
            [BOOTSTRAP_PATH, node.k3s_version, node.private_ip],
        ],
    }
    text = "#cloud-config\n" + _dump(doc)
    size = len(text.encode("utf-8"))
    if size > USER_DATA_BUDGET:
        raise ValueError(
            f"user_data for {node.hostname} is {size} bytes, over the "
            f"{USER_DATA_BUDGET}-byte budget (Hetzner's hard limit is 32 KiB)"
        )
    return text


def _check(node: NodeBootstrap) -> None:
    """Reject input that would render a node that cannot boot; all problems at once."""
    errors: list[str] = []
    if not _HOSTNAME_RE.match(node.hostname):
        errors.append(f"hostname {node.hostname!r} is not a DNS label")
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
    if node.server_url is not None and not re.match(r"^https://[^/\s]+:\d+$", node.server_url):
        errors.append(f"server_url {node.server_url!r} is not like https://<ip>:6443")
    if node.server_url is not None and node.ca_files:
        errors.append("ca_files go to the first server only (server_url is None there)")
    for rel_path, pem in node.ca_files:
        parts = rel_path.split("/")
        if not _CA_PATH_RE.match(rel_path) or any(p.startswith(".") for p in parts):
            errors.append(f"ca_files path {rel_path!r} is not a plain relative .crt/.key path")
        if "-----BEGIN " not in pem:
            errors.append(f"ca_files {rel_path!r} is not PEM")
    if not 1 <= node.ssh_port <= 65535:
        errors.append(f"ssh_port {node.ssh_port} is out of range")
    if not _USER_RE.match(node.admin_user) or node.admin_user == "root":
        errors.append(f"admin_user {node.admin_user!r} is not a valid non-root user name")
    if not node.ssh_authorized_keys:
        errors.append("ssh_authorized_keys is empty: nobody could log in")
    if node.etcd_snapshot_retention < 1:
        errors.append("etcd_snapshot_retention must be at least 1")
    if errors:
        raise ValueError(f"invalid NodeBootstrap for {node.hostname!r}: " + "; ".join(errors))


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
    shared: dict[str, _Shared] = {}
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
                chunks.append(shared.setdefault(block, _Shared(block)))
            else:
                pending += block
        if pending:
            chunks.append(pending)
        for i, chunk in enumerate(chunks):
            entry = _file(path, chunk, mode)
            if i:
                entry["append"] = True
            entries.append(entry)
    return entries


def _pem_blocks(pem: str) -> list[str]:
    """The PEM blocks of a bundle, or the whole text if it does not split losslessly."""
    blocks = _PEM_BLOCK_RE.findall(pem)
    return blocks if "".join(blocks) == pem else [pem]


def _file(path: str, content: str, permissions: str) -> dict[str, Any]:
    # Omitted when they are cloud-init's defaults (owner root:root, permissions 0644): the
    # first server's user_data is close to the budget, and every entry would repeat them.
    entry: dict[str, Any] = {"path": path}
    if permissions != "0644":
        entry["permissions"] = permissions
    entry["content"] = content
    return entry


def _read(name: str) -> str:
    return (TEMPLATE_DIR / name).read_text(encoding="utf-8")


def _read_stripped(name: str) -> str:
    """A template without its full-line ``#`` comments (kept: shebang, shellcheck directives).

    The comments document the templates in the repository; on the node they would cost a
    quarter of the user_data budget. Tests shellcheck the stripped text, i.e. what runs.
    """
    lines = _read(name).splitlines(keepends=True)
    return "".join(
        line for i, line in enumerate(lines) if not _COMMENT_RE.match(line) or (i == 0 and line.startswith("#!"))
    )


def _template(name: str, values: dict[str, str]) -> str:
    # substitute(), not safe_substitute(): a placeholder without a value is a bug, not output.
    return string.Template(_read(name)).substitute(values)


class _Shared(str):
    """A string the YAML dumper writes once (anchor) and then refers to (alias)."""

    __slots__ = ()


class _Dumper(yaml.SafeDumper):
    """SafeDumper that writes multi-line strings (scripts, PEMs) as literal blocks."""

    def ignore_aliases(self, data: Any) -> bool:
        # PyYAML never aliases scalars; _Shared strings are meant to be.
        return not isinstance(data, _Shared) and bool(super().ignore_aliases(data))


def _represent_str(dumper: yaml.SafeDumper, value: str) -> yaml.ScalarNode:
    style = "|" if "\n" in value else None
    return dumper.represent_scalar("tag:yaml.org,2002:str", value, style=style)


_Dumper.add_representer(str, _represent_str)
_Dumper.add_representer(_Shared, _represent_str)


def _dump(data: dict[str, Any], *, inline_lists: bool = False) -> str:
    # sort_keys=False: the dicts are built in a fixed order, which reads better than sorted.
    # inline_lists: lists of scalars as [a, b] (default_flow_style=None), nesting in block style.
    return yaml.dump(
        data,
        Dumper=_Dumper,
        sort_keys=False,
        default_flow_style=None if inline_lists else False,
        width=4096,
    )
