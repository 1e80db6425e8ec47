"""Pure renderer of the base every honeydue server boots with, and the seam roles build on.

The base (one copy, used by the K3s nodes and the uptime monitor alike): the admin user and
nobody else, SSH hardening, fail2ban, security-only unattended upgrades, and the metadata guard
(only root on the host may reach 169.254.169.254, where Hetzner serves the user_data and the
secrets in it). A role adds a :class:`Layer`: its files, its scripts and one first-boot command
that runs only once the guard is up. :func:`render_host_user_data` renders base + layer.

No Pulumi import: components call it inside ``Output.apply`` and tests call it directly. Every
file written comes from a template directory next to this module (never the working directory),
and the document is dumped with PyYAML's safe dumper, so it always parses.

Boot order this relies on (cloud-init stages): ``write_files`` and ``users`` run in the init stage,
``packages`` in the config stage, ``runcmd`` in the final stage. So every file exists before the
hardening script and the layer's command run, and fail2ban is installed before the hardening
script restarts it.
"""

from __future__ import annotations

import base64
import gzip
import re
import shlex
import string
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

__all__ = [
    "USER_DATA_BUDGET",
    "HostBootstrap",
    "Layer",
    "check_host",
    "render_host_user_data",
]

#: Hetzner accepts 32 KiB of user_data; keep half of it as headroom for later additions.
USER_DATA_BUDGET = 16 * 1024

TEMPLATE_DIR = Path(__file__).resolve().parent / "templates" / "cloud_init"

# Paths on the host. The shell templates name some of them too (see their headers).
SSHD_DROPIN_PATH = "/etc/ssh/sshd_config.d/00-hardening.conf"
FAIL2BAN_JAIL_PATH = "/etc/fail2ban/jail.d/sshd.local"
AUTO_UPGRADES_PATH = "/etc/apt/apt.conf.d/20auto-upgrades"
SECURITY_ONLY_PATH = "/etc/apt/apt.conf.d/52unattended-upgrades-security-only"
METADATA_GUARD_RULES_PATH = "/etc/honeydue/metadata-guard.nft"
METADATA_GUARD_UNIT = "honeydue-metadata-guard.service"
METADATA_GUARD_UNIT_PATH = f"/etc/systemd/system/{METADATA_GUARD_UNIT}"
HARDEN_PATH = "/usr/local/sbin/honeydue-harden"

# python3-systemd: fail2ban's systemd backend needs it (only a Recommends of fail2ban).
# nftables: the metadata guard (metadata-guard.nft) is an nftables table of its own.
PACKAGES = ("fail2ban", "python3-systemd", "unattended-upgrades", "nftables")

_USER_RE = re.compile(r"^[a-z_][a-z0-9_-]{0,31}$")
_HOSTNAME_RE = re.compile(r"^(?!-)[a-z0-9-]{1,63}(?<!-)$")
_COMMENT_RE = re.compile(r"^\s*#(?!\s*shellcheck\s)")
_STEP_RE = re.compile(r"^[a-z0-9-]+$")


@dataclass(frozen=True)
class HostBootstrap:
    """What every hardened host needs at first boot, as plain resolved values."""

    hostname: str
    ssh_port: int
    admin_user: str
    ssh_authorized_keys: tuple[str, ...]


@dataclass(frozen=True)
class Layer:
    """What a role (K3s server, uptime monitor) adds on top of the base host.

    ``command`` runs in runcmd after the guard and the hardening, and only if the guard is up:
    a role that fails closed without the guard (its secrets are in user_data). ``step`` names it
    in the first-boot failure line, ``what`` in the "not installed" message.
    """

    what: str  # "K3s"
    step: str  # "k3s-bootstrap"
    command: str  # a shell command line (quoted by the caller)
    settings_files: Sequence[dict[str, Any]] = ()
    """System settings written beside the base's own (e.g. sysctl), before the guard's files."""
    files: Sequence[dict[str, Any]] = ()
    """The role's files, after the guard's."""
    scripts: Sequence[dict[str, Any]] = ()
    """The role's executables (see :func:`script_entry`), after the hardening script."""
    packages: tuple[str, ...] = field(default=())
    """Installed with the base's packages, i.e. before the guard is loaded: only packages that
    start nothing which fetches URLs. Daemons go in ``command``, after the guard."""


def check_host(host: HostBootstrap) -> list[str]:
    """Problems of the base input that would render a host nobody can log in to."""
    errors: list[str] = []
    if not _HOSTNAME_RE.match(host.hostname):
        errors.append(f"hostname {host.hostname!r} is not a DNS label")
    if not 1 <= host.ssh_port <= 65535:
        errors.append(f"ssh_port {host.ssh_port} is out of range")
    if not _USER_RE.match(host.admin_user) or host.admin_user == "root":
        errors.append(f"admin_user {host.admin_user!r} is not a valid non-root user name")
    if not host.ssh_authorized_keys:
        errors.append("ssh_authorized_keys is empty: nobody could log in")
    return errors


def render_host_user_data(host: HostBootstrap, layer: Layer) -> str:
    """The host's user_data: ``#cloud-config`` + YAML. Deterministic for equal input.

    Raises ValueError on invalid input or when the result exceeds USER_DATA_BUDGET bytes.
    """
    errors = check_host(host)
    if not _STEP_RE.match(layer.step):
        errors.append(f"layer step {layer.step!r} is not a lower-case word")
    if errors:
        raise ValueError(f"invalid HostBootstrap for {host.hostname!r}: " + "; ".join(errors))
    ssh_values = {"ssh_port": str(host.ssh_port), "admin_user": host.admin_user}
    write_files: list[dict[str, Any]] = [
        file_entry(SSHD_DROPIN_PATH, fill_template(TEMPLATE_DIR, "sshd-hardening.conf", ssh_values), "0644"),
        file_entry(FAIL2BAN_JAIL_PATH, fill_template(TEMPLATE_DIR, "fail2ban-sshd.local", ssh_values), "0644"),
        file_entry(AUTO_UPGRADES_PATH, read_template(TEMPLATE_DIR, "20auto-upgrades"), "0644"),
        file_entry(SECURITY_ONLY_PATH, read_template(TEMPLATE_DIR, "52unattended-upgrades-security-only"), "0644"),
        *layer.settings_files,
        file_entry(METADATA_GUARD_RULES_PATH, read_stripped(TEMPLATE_DIR, "metadata-guard.nft"), "0644"),
        file_entry(METADATA_GUARD_UNIT_PATH, read_stripped(TEMPLATE_DIR, "honeydue-metadata-guard.service"), "0644"),
        *layer.files,
        script_entry(HARDEN_PATH, read_stripped(TEMPLATE_DIR, "harden.sh")),
        *layer.scripts,
    ]
    doc: dict[str, Any] = {
        "hostname": host.hostname,
        "disable_root": True,
        "ssh_pwauth": False,
        # Only this user: listing no "default" entry keeps the image's default user out.
        "users": [
            {
                "name": host.admin_user,
                "groups": ["sudo"],
                "shell": "/bin/bash",
                "lock_passwd": True,
                # Key-only login and a locked password: sudo cannot ask for one.
                "sudo": "ALL=(ALL) NOPASSWD:ALL",
                "ssh_authorized_keys": list(host.ssh_authorized_keys),
            }
        ],
        "package_update": True,
        "packages": [*PACKAGES, *layer.packages],
        "write_files": write_files,
        "runcmd": _runcmd(layer),
    }
    text = "#cloud-config\n" + dump_yaml(doc)
    size = len(text.encode("utf-8"))
    if size > USER_DATA_BUDGET:
        raise ValueError(
            f"user_data for {host.hostname} is {size} bytes, over the "
            f"{USER_DATA_BUDGET}-byte budget (Hetzner's hard limit is 32 KiB)"
        )
    return text


def _runcmd(layer: Layer) -> list[str]:
    """The guard, the hardening and the layer's command as independent steps.

    cloud-init runs these lines as one /bin/sh script. A failed hardening step must not keep
    the role from installing (a host that hardened badly is still one to fix over SSH), nor the
    reverse; both run, and a failure of either still fails the boot visibly.
    """
    return [
        'failed=""',
        # First, before the role exists: the guard's unit then runs early on every later boot.
        # Without the guard the role is not installed at all (fail closed).
        f'systemctl enable --now {METADATA_GUARD_UNIT} || failed=" metadata-guard"',
        f'{shlex.quote(HARDEN_PATH)} || failed="$failed harden"',
        f'case "$failed" in *metadata-guard*) echo "honeydue: {layer.what} not installed: no metadata guard" >&2 ;; '
        f'*) {layer.command} || failed="$failed {layer.step}" ;; esac',
        'if [ -n "$failed" ]; then echo "honeydue first boot failed:$failed" >&2; exit 1; fi',
    ]


# ------------------------------------------------------------------------------ write_files


def file_entry(path: str, content: str, permissions: str) -> dict[str, Any]:
    """A write_files entry."""
    # Omitted when they are cloud-init's defaults (owner root:root, permissions 0644): the
    # first server's user_data is close to the budget, and every entry would repeat them.
    entry: dict[str, Any] = {"path": path}
    if permissions != "0644":
        entry["permissions"] = permissions
    entry["content"] = content
    return entry


def script_entry(path: str, content: str) -> dict[str, Any]:
    """An executable, gzip+base64 encoded (cloud-init's write_files `encoding: gz+b64`).

    The scripts are the largest compressible part of the bootstrap server's user_data (the
    CA keys are not); compressed they leave the 16 KiB budget room to grow.
    """
    return packed_entry(path, content, "0755")


def packed_entry(path: str, content: str, permissions: str) -> dict[str, Any]:
    """A write_files entry stored gzip+base64 encoded; mtime=0 keeps the output deterministic."""
    packed = base64.b64encode(gzip.compress(content.encode(), compresslevel=9, mtime=0)).decode()
    return {"path": path, "permissions": permissions, "encoding": "gz+b64", "content": packed}


def read_template(directory: Path, name: str) -> str:
    return (directory / name).read_text(encoding="utf-8")


def read_stripped(directory: Path, name: str) -> str:
    """A template without its full-line ``#`` comments (kept: shebang, shellcheck directives).

    The comments document the templates in the repository; on the node they would cost a
    quarter of the user_data budget. Tests shellcheck the stripped text, i.e. what runs.
    """
    lines = read_template(directory, name).splitlines(keepends=True)
    return "".join(
        line for i, line in enumerate(lines) if not _COMMENT_RE.match(line) or (i == 0 and line.startswith("#!"))
    )


def fill_template(directory: Path, name: str, values: dict[str, str]) -> str:
    # substitute(), not safe_substitute(): a placeholder without a value is a bug, not output.
    return string.Template(read_template(directory, name)).substitute(values)


# ------------------------------------------------------------------------------ YAML dumping


class SharedStr(str):
    """A string the YAML dumper writes once (anchor) and then refers to (alias)."""

    __slots__ = ()


class _Dumper(yaml.SafeDumper):
    """SafeDumper that writes multi-line strings (scripts, PEMs) as literal blocks."""

    def ignore_aliases(self, data: Any) -> bool:
        # PyYAML never aliases scalars; SharedStr strings are meant to be.
        return not isinstance(data, SharedStr) and bool(super().ignore_aliases(data))


def _represent_str(dumper: yaml.SafeDumper, value: str) -> yaml.ScalarNode:
    style = "|" if "\n" in value else None
    return dumper.represent_scalar("tag:yaml.org,2002:str", value, style=style)


_Dumper.add_representer(str, _represent_str)
_Dumper.add_representer(SharedStr, _represent_str)


def dump_yaml(data: dict[str, Any], *, inline_lists: bool = False) -> str:
    # sort_keys=False: the dicts are built in a fixed order, which reads better than sorted.
    # inline_lists: lists of scalars as [a, b] (default_flow_style=None), nesting in block style.
    return yaml.dump(
        data,
        Dumper=_Dumper,
        sort_keys=False,
        default_flow_style=None if inline_lists else False,
        width=4096,
    )
