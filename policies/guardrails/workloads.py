"""workloads-hardened: pod and container security context, resources and probes."""

from __future__ import annotations

from typing import Any

from ._base import Resource, Schema, resource_policy, str_list_prop
from ._values import UNKNOWN, get, items, str_list
from .k8s import RUN_TO_COMPLETION, Container, containers, describe, pod_spec, workload_kind

SCHEMA: Schema = {
    "hostNetworkAllowed": str_list_prop(
        "Workloads allowed to use hostNetwork, as namespace/name (or a bare name): Traefik binds 80/443 on the nodes.",
        ["kube-system/traefik"],
    ),
    "allowedCapabilities": str_list_prop(
        "Capabilities a container may add back after dropping ALL.", ["NET_BIND_SERVICE"]
    ),
    "requiredRequests": str_list_prop("Resource requests every container sets.", ["cpu", "memory"]),
    "requiredLimits": str_list_prop(
        "Resource limits every container sets (no CPU limit by default: it throttles without protecting neighbours).",
        ["memory"],
    ),
}


def _host_network_allowed(resource: Resource, allowed: list[str]) -> bool:
    name = get(resource.props, "metadata", "name")
    ns = get(resource.props, "metadata", "namespace")
    names = {resource.name}
    if isinstance(name, str):
        names.add(name)
        names.add(f"{ns if isinstance(ns, str) else 'default'}/{name}")
    return any(entry in names for entry in allowed)


def _pod_findings(resource: Resource, spec: dict[str, Any]) -> list[str]:
    out = []
    for field in ("hostNetwork", "hostPID", "hostIPC"):
        if spec.get(field) is True:
            if field == "hostNetwork" and _host_network_allowed(
                resource, str_list(resource.config.get("hostNetworkAllowed"))
            ):
                continue
            out.append(f"{field}: true shares the node's namespace")
    for vol in items(spec.get("volumes")):
        if isinstance(vol, dict) and vol.get("hostPath") is not None:
            out.append(f"volume {vol.get('name')!r} mounts a hostPath")
    return out


def _run_as_root(sc: Any, pod_sc: Any) -> str | None:
    """Why the container may run as root, or None when it is non-root or not known yet."""

    def pick(field: str) -> Any:
        own = get(sc, field)  # the container's own setting overrides the pod's
        return own if own is not None else get(pod_sc, field)

    def number(v: Any) -> bool:
        return isinstance(v, int | float) and not isinstance(v, bool)

    user, non_root = pick("runAsUser"), pick("runAsNonRoot")
    if number(user) and user == 0:
        return "runAsUser is 0 (root)"
    if non_root is True or (number(user) and user > 0):
        return None
    if user is UNKNOWN or non_root is UNKNOWN:
        return None
    return "neither runAsNonRoot: true nor a non-zero runAsUser is set"


def _container_findings(c: Container, kind: str, pod_sc: Any, cfg: dict[str, Any]) -> list[str]:
    if c.spec is UNKNOWN or not isinstance(c.spec, dict):
        return []
    spec, out = c.spec, []
    sc = spec.get("securityContext")
    if sc is not UNKNOWN:
        if get(sc, "privileged") is True:
            out.append("privileged: true")
        escalation = get(sc, "allowPrivilegeEscalation")
        if escalation is not UNKNOWN and escalation is not False:
            out.append("allowPrivilegeEscalation is not false")
        root = _run_as_root(sc, pod_sc)
        if root:
            out.append(root)
        drop = get(sc, "capabilities", "drop")
        if drop is not UNKNOWN and UNKNOWN not in list(items(drop)) and "ALL" not in list(items(drop)):
            out.append("capabilities.drop does not include ALL")
        added = get(sc, "capabilities", "add")
        allowed = set(str_list(cfg.get("allowedCapabilities")))
        extra = [a for a in items(added) if a is not UNKNOWN and a not in allowed]
        if extra:
            out.append(f"capabilities.add {extra} beyond the allowed {sorted(allowed)}")
    # Ephemeral (debug) containers may not set resources or probes.
    if c.list_name != "ephemeralContainers":
        resources = spec.get("resources")
        for section, key in (("requests", "requiredRequests"), ("limits", "requiredLimits")):
            values = get(resources, section)
            if values is UNKNOWN:
                continue
            missing = [r for r in str_list(cfg.get(key)) if get(values, r) is None]
            if missing:
                out.append(f"resources.{section} lacks {', '.join(missing)}")
    if c.list_name == "containers" and kind not in RUN_TO_COMPLETION:
        for probe in ("livenessProbe", "readinessProbe"):
            if spec.get(probe) is None:
                out.append(f"no {probe}")
    return [f"{c.label}: {finding}" for finding in out]


def _hardened(resource: Resource) -> list[str]:
    kind = workload_kind(resource)
    spec = pod_spec(resource)
    if kind is None or not isinstance(spec, dict):
        return []
    findings = _pod_findings(resource, spec)
    pod_sc = spec.get("securityContext")
    for c in containers(spec):
        findings.extend(_container_findings(c, kind, pod_sc, resource.config))
    what = describe(resource)
    return [f"{what}: {f}" for f in findings]


HARDENED = resource_policy(
    name="workloads-hardened",
    description=(
        "Workloads run unprivileged: no privileged containers or privilege escalation, no host "
        "namespaces or hostPath, non-root, capabilities dropped (ALL), requests and limits, and "
        "liveness/readiness probes on long-running containers."
    ),
    remediation=(
        "Set securityContext {runAsNonRoot: true, allowPrivilegeEscalation: false, "
        "capabilities: {drop: [ALL]}} on every container (pod-level runAsNonRoot also counts), "
        "requests for cpu and memory and a memory limit, and livenessProbe + readinessProbe on "
        "Deployment/StatefulSet/DaemonSet/Pod containers. Remove hostNetwork/hostPID/hostIPC and "
        "hostPath volumes; the only hostNetwork user is listed in `hostNetworkAllowed`."
    ),
    rule=_hardened,
    schema=SCHEMA,
)
