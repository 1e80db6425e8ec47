"""Where pod specs and containers live in each Kubernetes workload kind."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from ._base import Resource, kind_of
from ._values import UNKNOWN, get, items

# Path from the resource's inputs to its pod spec, per workload kind.
POD_SPEC_PATHS: dict[str, tuple[str, ...]] = {
    "Pod": ("spec",),
    "Deployment": ("spec", "template", "spec"),
    "StatefulSet": ("spec", "template", "spec"),
    "DaemonSet": ("spec", "template", "spec"),
    "ReplicaSet": ("spec", "template", "spec"),
    "Job": ("spec", "template", "spec"),
    "CronJob": ("spec", "jobTemplate", "spec", "template", "spec"),
}
# Kinds whose pods are meant to exit: no liveness/readiness probes expected.
RUN_TO_COMPLETION = frozenset({"Job", "CronJob"})
CONTAINER_LISTS = ("containers", "initContainers", "ephemeralContainers")


@dataclass(frozen=True)
class Container:
    """One container of a workload, with where it sits (for messages)."""

    list_name: str  # containers | initContainers | ephemeralContainers
    index: int
    spec: Any  # dict, or UNKNOWN when the element itself is unknown

    @property
    def label(self) -> str:
        name = get(self.spec, "name")
        shown = name if isinstance(name, str) else f"#{self.index}"
        return f"{self.list_name}[{shown}]"


def workload_kind(resource: Resource) -> str | None:
    kind = kind_of(resource.type)
    return kind if kind in POD_SPEC_PATHS else None


def pod_spec(resource: Resource) -> Any:
    """The workload's pod spec (dict), UNKNOWN, or None when absent / not a workload."""
    kind = workload_kind(resource)
    return None if kind is None else get(resource.props, *POD_SPEC_PATHS[kind])


def containers(spec: Any) -> Iterator[Container]:
    for list_name in CONTAINER_LISTS:
        for i, c in enumerate(items(get(spec, list_name))):
            yield Container(list_name, i, c)


def has_unknown_container_list(spec: Any) -> bool:
    """True when the pod spec, or one of its container lists, is not known yet."""
    return spec is UNKNOWN or any(get(spec, name) is UNKNOWN for name in CONTAINER_LISTS)


def describe(resource: Resource) -> str:
    """``Deployment honeydue/api`` for messages (falls back to the Pulumi resource name)."""
    kind = kind_of(resource.type) or resource.type
    name = get(resource.props, "metadata", "name")
    ns = get(resource.props, "metadata", "namespace")
    shown = name if isinstance(name, str) else resource.name
    return f"{kind} {ns}/{shown}" if isinstance(ns, str) else f"{kind} {shown}"
