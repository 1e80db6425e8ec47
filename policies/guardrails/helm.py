"""helm-charts-pinned: every Helm release names one exact chart version."""

from __future__ import annotations

import re

from ._base import Resource, resource_policy
from ._values import UNKNOWN, get

# Release/Chart inputs carry `chart` and `version`; K3s' HelmChart CRD keeps them under `spec`.
HELM_TYPES = {
    "kubernetes:helm.sh/v3:Release": (),
    "kubernetes:helm.sh/v3:Chart": (),
    "kubernetes:helm.sh/v4:Chart": (),
    "kubernetes:helm.cattle.io/v1:HelmChart": ("spec",),
}
# SemVer 2.0 (optional leading v, as Helm accepts): no ranges, wildcards or partial versions.
EXACT_VERSION_RE = re.compile(
    r"^v?(0|[1-9]\d*)\.(0|[1-9]\d*)\.(0|[1-9]\d*)"
    r"(-[0-9A-Za-z-]+(\.[0-9A-Za-z-]+)*)?(\+[0-9A-Za-z-]+(\.[0-9A-Za-z-]+)*)?$"
)


def _pinned(resource: Resource) -> list[str]:
    if resource.type not in HELM_TYPES:
        return []
    base = get(resource.props, *HELM_TYPES[resource.type]) if HELM_TYPES[resource.type] else resource.props
    chart, version = get(base, "chart"), get(base, "version")
    if version is UNKNOWN:
        return []
    shown = chart if isinstance(chart, str) else "?"
    if not isinstance(version, str) or not version.strip():
        return [f"Helm chart {shown!r} ({resource.name}) has no version: the newest chart would be installed"]
    if not EXACT_VERSION_RE.match(version.strip()):
        return [f"Helm chart {shown!r} ({resource.name}) version {version!r} is not one exact version"]
    return []


CHARTS_PINNED = resource_policy(
    name="helm-charts-pinned",
    description="Every Helm release (helm.sh/v3 Release, v4 Chart, K3s HelmChart) names an exact chart version.",
    remediation="Set version='X.Y.Z' (no ranges like ^1.2 or ~1.2, no wildcards, never empty); bump it deliberately.",
    rule=_pinned,
)
