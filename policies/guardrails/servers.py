"""hcloud Server policies: guarded servers, and user_data size thresholds."""

from __future__ import annotations

from pulumi_policy import EnforcementLevel

from ._base import Resource, ResourceRule, resource_policy
from ._values import UNKNOWN, as_int, get

SERVER_TYPE = "hcloud:index/server:Server"


def _guarded(resource: Resource) -> list[str]:
    if resource.type != SERVER_TYPE:
        return []
    props, out = resource.props, []
    for field, why in (("firewallIds", "no firewall attached"), ("networks", "not attached to a private network")):
        value = props.get(field)
        if value is not UNKNOWN and not (isinstance(value, list) and value):
            out.append(f"{field} is empty: {why}")
    if not {"userData", "user_data", "*"} & set(resource.ignore_changes):
        out.append("options.ignoreChanges does not cover userData: a cloud-init edit would replace the server")
    if resource.config.get("requireProtection") is True:
        if not resource.protect:
            out.append("options.protect is not set (requireProtection)")
        for field in ("deleteProtection", "rebuildProtection"):
            value = props.get(field)
            if value is not UNKNOWN and value is not True:
                out.append(f"{field} is not true (requireProtection)")
    return [f"Server {resource.name}: {m}" for m in out]


GUARDED = resource_policy(
    name="servers-guarded",
    description=(
        "Every hcloud Server has a firewall, a private network and ignoreChanges on userData; "
        "with requireProtection also protect, deleteProtection and rebuildProtection."
    ),
    remediation=(
        "Pass firewall_ids and networks=[ServerNetworkArgs(...)], and ResourceOptions("
        "ignore_changes=['user_data', ...], protect=True) with delete_protection=True and "
        "rebuild_protection=True (prod). Cluster changes after day one go through Kubernetes."
    ),
    rule=_guarded,
    schema={
        "requireProtection": {
            "type": "boolean",
            "default": False,
            "description": "Also require options.protect, deleteProtection and rebuildProtection (prod).",
        }
    },
)


def _size_rule(default_max: int) -> ResourceRule:
    def rule(resource: Resource) -> list[str]:
        if resource.type != SERVER_TYPE:
            return []
        data = get(resource.props, "userData")
        if data is UNKNOWN or not isinstance(data, str):
            return []
        limit = as_int(resource.config.get("maxBytes")) or default_max
        size = len(data.encode())
        if size <= limit:
            return []
        return [f"Server {resource.name}: userData is {size} bytes, above {limit} bytes ({limit / 1024:g} KiB)"]

    return rule


_SIZE_REMEDIATION = (
    "Move bulk content out of cloud-init (fetch it, or let Kubernetes deliver it after boot); "
    "Hetzner refuses user_data above 32 KiB."
)

USER_DATA_SIZE = resource_policy(
    name="user-data-size",
    description="Server userData stays within Hetzner's 32 KiB limit (mandatory).",
    remediation=_SIZE_REMEDIATION,
    rule=_size_rule(32768),
    schema={"maxBytes": {"type": "integer", "default": 32768, "description": "Hard limit in bytes."}},
)

USER_DATA_SIZE_WARNING = resource_policy(
    name="user-data-size-warning",
    description="Server userData above 16 KiB is half-way to Hetzner's 32 KiB limit (advisory).",
    remediation=_SIZE_REMEDIATION,
    rule=_size_rule(16384),
    level=EnforcementLevel.ADVISORY,
    schema={"maxBytes": {"type": "integer", "default": 16384, "description": "Warning threshold in bytes."}},
)
