"""hcloud Server policies: guarded servers, and user_data size thresholds."""

from __future__ import annotations

import re
from typing import Any

from pulumi_policy import EnforcementLevel

from ._base import Resource, ResourceRule, resource_policy, stack_policy
from ._values import UNKNOWN, as_int, get, items

SERVER_TYPE = "hcloud:index/server:Server"
FIREWALL_TYPE = "hcloud:index/firewall:Firewall"
ATTACHMENT_TYPE = "hcloud:index/firewallAttachment:FirewallAttachment"

# One term of an hcloud label selector (https://docs.hetzner.cloud/#label-selector):
# k, !k, k=v, k==v, k!=v, k in (a,b), k notin (a,b).
_TERM_RE = re.compile(
    r"^\s*(?:(?P<neg>!)\s*(?P<absent>[\w./-]+)|(?P<key>[\w./-]+)\s*"
    r"(?:(?P<op>==|=|!=)\s*(?P<value>[\w./-]*)|\s+(?P<set>in|notin)\s*\((?P<values>[^)]*)\))?)\s*$"
)


def label_selector_matches(selector: Any, labels: Any) -> bool:
    """Whether an hcloud label selector selects a server with ``labels``; an unreadable
    selector matches nothing (it attaches nothing we can prove)."""
    if not isinstance(selector, str) or not selector.strip():
        return False
    labels = labels if isinstance(labels, dict) else {}
    terms = re.split(r",(?![^()]*\))", selector)
    for term in terms:
        m = _TERM_RE.match(term)
        if m is None:
            return False
        if m["absent"]:
            ok = m["absent"] not in labels
        elif m["op"]:
            ok = (labels.get(m["key"]) == m["value"]) != (m["op"] == "!=")
        elif m["set"]:
            values = {v.strip() for v in m["values"].split(",")}
            ok = (labels.get(m["key"]) in values) != (m["set"] == "notin")
        else:
            ok = m["key"] in labels
        if not ok:
            return False
    return True


def _attached(server: Resource, resources: list[Resource]) -> bool | None:
    """True when a firewall reaches the server: its own firewallIds, a FirewallAttachment or a
    Firewall's applyTos naming it (by a dependency on it, or a label selector over its labels).
    None when firewallIds is computed and nothing else proves it."""
    ids = server.props.get("firewallIds")
    if isinstance(ids, list) and ids and all(i is not UNKNOWN for i in ids):
        return True
    if ids is UNKNOWN or (isinstance(ids, list) and UNKNOWN in ids):
        # A computed id is readable through the dependency: the firewall it comes from.
        if any(t == FIREWALL_TYPE for t, _ in server.dependencies):
            return True
    labels = server.props.get("labels")
    for r in resources:
        depends = any(urn == server.urn for _, urn in r.dependencies)
        if r.type == ATTACHMENT_TYPE:
            if depends and r.props.get("serverIds") not in (None, []):
                return True
            if any(label_selector_matches(s, labels) for s in items(r.props.get("labelSelectors"))):
                return True
        elif r.type == FIREWALL_TYPE:
            for target in items(r.props.get("applyTos")):
                if depends and get(target, "server") is not None:
                    return True
                if label_selector_matches(get(target, "labelSelector"), labels):
                    return True
    return None if ids is UNKNOWN or (isinstance(ids, list) and UNKNOWN in ids) else False


def _server_findings(resource: Resource, resources: list[Resource]) -> list[str]:
    props, out = resource.props, []
    attached = _attached(resource, resources)
    if attached is None:
        out.append("firewallIds is not known and no firewall is attached another way: fails closed")
    elif not attached:
        out.append(
            "no firewall attached (firewallIds is empty and no FirewallAttachment or Firewall applyTos selects it)"
        )
    networks = props.get("networks")
    if networks is not UNKNOWN and not (isinstance(networks, list) and networks):
        out.append("networks is empty: not attached to a private network")
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


def _guarded(resources: list[Resource], config: dict[str, Any]) -> list[tuple[str, str | None]]:
    out: list[tuple[str, str | None]] = []
    for r in resources:
        if r.type == SERVER_TYPE:
            out.extend((m, r.urn) for m in _server_findings(r, resources))
    return out


GUARDED = stack_policy(
    name="servers-guarded",
    description=(
        "Every hcloud Server has a firewall (firewallIds, a FirewallAttachment or a Firewall's "
        "applyTos by server or label selector), a private network and ignoreChanges on userData; "
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
