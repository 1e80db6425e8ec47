"""workloads-hardened and host-path-claims: pod and container hardening wherever pods are defined.

Every kind that runs a container is judged (k8s.py: workloads and their ``*Patch`` variants,
PodTemplate, the system-upgrade Plan's containers, pod settings in Helm values). Platform
components that legitimately need a host feature are exempted by their **Kubernetes identity**
(kind, real namespace, real name), never by the Pulumi logical name, which anyone can choose.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from ._base import Resource, Schema, base_kind, obj_list_prop, resource_policy, stack_policy, str_list_prop
from ._values import UNKNOWN, get, is_unknown, items, str_list
from .k8s import (
    RUN_TO_COMPLETION,
    Container,
    Unreadable,
    containers,
    describe,
    helm_values,
    is_patch,
    namespace_of,
    object_name,
    pod_metadata,
    pod_spec,
    walk,
    workload_kind,
)

# Host features an exemption may allow (the `allow` list of an `exemptions` entry).
FEATURES = frozenset(
    {
        "hostNetwork",
        "hostPID",
        "hostIPC",
        "hostPath",
        "hostPort",
        "privileged",
        "allowPrivilegeEscalation",
        "runAsRoot",
        "seccompUnconfined",
        "appArmorUnconfined",
        "procMount",
    }
)

DEFAULT_EXEMPTIONS: list[dict[str, Any]] = [
    {
        # K3s' bundled Traefik binds 80/443 on every node (hostNetwork DaemonSet, configured by
        # the HelmChartConfig of the same identity) as uid 65532: the nodes allow binding from 80.
        "kinds": ["DaemonSet", "HelmChartConfig"],
        "namespace": "kube-system",
        "name": "traefik",
        # Not runAsRoot: root on a node may read the metadata service (the node's guard); the
        # nodes let uid 65532 bind 80/443 (net.ipv4.ip_unprivileged_port_start=80).
        "allow": ["hostNetwork", "hostPort"],
    },
    {
        # The hcloud CSI node plugin mounts volumes into the kubelet's directories.
        "kinds": ["DaemonSet"],
        "namespace": "kube-system",
        "name": "hcloud-csi-node",
        # hostNetwork: it reads the instance id from the metadata service, which the node's
        # guard admits only to root on the host network (csi-driver v2.22.1 cmd/main.go).
        "allow": ["privileged", "hostPath", "allowPrivilegeEscalation", "runAsRoot", "hostNetwork"],
    },
    {
        # The Release whose values put that node plugin on the host network (node.hostNetwork).
        "kinds": ["Release"],
        "namespace": "kube-system",
        "name": "hcloud-csi",
        "allow": ["hostNetwork"],
    },
]

_STRINGS = {"type": "array", "items": {"type": "string"}}
EXEMPTION_SCHEMA: dict[str, Any] = {
    "type": "object",
    "additionalProperties": False,
    "required": ["namespace", "name", "allow"],
    "properties": {
        "kinds": _STRINGS,
        "namespace": {"type": "string"},
        "name": {"type": "string"},
        "allow": {"type": "array", "items": {"type": "string", "enum": sorted(FEATURES)}},
        "capabilities": _STRINGS,
    },
}

SCHEMA: Schema = {
    "exemptions": {
        **obj_list_prop(
            "Platform components allowed host features, matched by Kubernetes identity: "
            "{kinds: [Kind, ...] (optional: any kind), namespace, name, allow: [feature, ...], "
            "capabilities: [CAP, ...] (optional, added to allowedCapabilities)}. Features: "
            + ", ".join(sorted(FEATURES))
            + ". A Helm release's identity is its namespace and release name.",
            DEFAULT_EXEMPTIONS,
        ),
        "items": EXEMPTION_SCHEMA,
    },
    "allowedCapabilities": str_list_prop(
        "Capabilities any container may add back after dropping ALL.", ["NET_BIND_SERVICE"]
    ),
    "requiredRequests": str_list_prop("Resource requests every container sets.", ["cpu", "memory"]),
    "requiredLimits": str_list_prop(
        "Resource limits every container sets (no CPU limit by default: it throttles without protecting neighbours).",
        ["memory"],
    ),
}


def config_errors(props: dict[str, Any]) -> list[str]:
    """What is wrong with a workloads-hardened config (the Pulumi CLI checks EXEMPTION_SCHEMA;
    the offline runner calls this), each naming the key and what is allowed."""
    entries = props.get("exemptions")
    if entries is None:
        return []
    if not isinstance(entries, list):
        return ["exemptions: expected a list of {kinds, namespace, name, allow, capabilities}"]
    out = []
    for i, entry in enumerate(entries):
        where = f"exemptions[{i}]"
        if not isinstance(entry, dict):
            out.append(f"{where}: expected an object")
            continue
        extra = sorted(set(entry) - set(EXEMPTION_SCHEMA["properties"]))
        if extra:
            out.append(f"{where}: unknown key(s) {extra}; allowed: {sorted(EXEMPTION_SCHEMA['properties'])}")
        for key in ("namespace", "name"):
            if not isinstance(entry.get(key), str) or not entry.get(key):
                out.append(f"{where}.{key}: expected a non-empty string (the object's real {key})")
        allow = entry.get("allow")
        if not isinstance(allow, list) or not all(isinstance(a, str) for a in allow):
            out.append(f"{where}.allow: expected a list of features from {sorted(FEATURES)}")
        else:
            unknown = sorted(set(allow) - FEATURES)
            if unknown:
                out.append(f"{where}.allow: unknown feature(s) {unknown}; allowed: {sorted(FEATURES)}")
        for key in ("kinds", "capabilities"):
            value = entry.get(key)
            if value is not None and not (isinstance(value, list) and all(isinstance(v, str) for v in value)):
                out.append(f"{where}.{key}: expected a list of strings")
    return out


_NOT_KNOWN = "is not known (computed or unreadable value), so it cannot be checked (fails closed)"


@dataclass(frozen=True)
class Finding:
    text: str
    feature: str | None = None  # an exemptable host feature, or None (never exempt)
    capability: str | None = None  # an added capability beyond the allowed ones


@dataclass(frozen=True)
class Exemption:
    features: frozenset[str]
    capabilities: frozenset[str]


def _cap(name: Any) -> str:
    """Capabilities compare like the runtime reads them: case-insensitive, CAP_ prefix optional."""
    text = str(name).strip().upper()
    return text[4:] if text.startswith("CAP_") else text


def exemption_for(resource: Resource) -> Exemption:
    """What the config exempts for this object's real (kind, namespace, name)."""
    kind, ns, name = base_kind(resource.type), namespace_of(resource), object_name(resource)
    if resource.type.startswith("kubernetes:helm.sh/"):
        kind = "Release"
    features: set[str] = set()
    caps: set[str] = set()
    if not isinstance(ns, str) or not isinstance(name, str):
        return Exemption(frozenset(), frozenset())  # unknown identity: nothing is exempt
    for entry in items(resource.config.get("exemptions")):
        if not isinstance(entry, dict) or entry.get("namespace") != ns or entry.get("name") != name:
            continue
        kinds = entry.get("kinds")
        if isinstance(kinds, list) and kinds and kind not in kinds:
            continue
        features.update(str_list(entry.get("allow")))
        caps.update(_cap(c) for c in str_list(entry.get("capabilities")))
    return Exemption(frozenset(features), frozenset(caps))


def _profile_unconfined(sc: Any, out: list[Finding], where: str) -> None:
    for field, feature in (("seccompProfile", "seccompUnconfined"), ("appArmorProfile", "appArmorUnconfined")):
        kind = get(sc, field, "type")
        if kind is UNKNOWN:
            out.append(Finding(f"{where}{field}.type {_NOT_KNOWN}"))
        elif isinstance(kind, str) and kind.lower() == "unconfined":
            out.append(Finding(f"{where}{field}.type is Unconfined", feature))


def _annotation_findings(meta: Any) -> list[Finding]:
    """Legacy annotations that still switch AppArmor/seccomp off for a pod or container."""
    out = []
    annotations = get(meta, "annotations")
    if annotations is UNKNOWN:
        return [Finding(f"pod annotations {_NOT_KNOWN}")]
    if isinstance(annotations, dict):
        for key, value in annotations.items():
            low = key.lower()
            if value is UNKNOWN and ("apparmor" in low or "seccomp" in low):
                out.append(Finding(f"annotation {key} {_NOT_KNOWN}"))
            elif isinstance(value, str) and value.strip().lower() == "unconfined":
                if low.startswith("container.apparmor.security.beta.kubernetes.io/"):
                    out.append(Finding(f"annotation {key}: unconfined", "appArmorUnconfined"))
                elif "seccomp.security.alpha.kubernetes.io" in low:
                    out.append(Finding(f"annotation {key}: unconfined", "seccompUnconfined"))
    return out


def _pod_findings(spec: dict[str, Any], meta: Any) -> list[Finding]:
    out = []
    for field in ("hostNetwork", "hostPID", "hostIPC"):
        value = spec.get(field)
        if value is UNKNOWN:
            out.append(Finding(f"{field} {_NOT_KNOWN}"))
        elif value is True:
            out.append(Finding(f"{field}: true shares the node's namespace", field))
    volumes = spec.get("volumes")
    if volumes is not None and not isinstance(volumes, list):
        out.append(Finding(f"volumes {_NOT_KNOWN}"))
    for vol in items(volumes):
        if not isinstance(vol, dict) or vol.get("hostPath") is UNKNOWN:
            out.append(Finding(f"a volume {_NOT_KNOWN}"))
        elif vol.get("hostPath") is not None:
            out.append(Finding(f"volume {vol.get('name')!r} mounts a hostPath", "hostPath"))
    sc = spec.get("securityContext")
    if sc is UNKNOWN:
        out.append(Finding(f"pod securityContext {_NOT_KNOWN}"))
    else:
        _profile_unconfined(sc, out, "pod securityContext.")
        if get(sc, "windowsOptions", "hostProcess") is True:
            out.append(Finding("pod securityContext.windowsOptions.hostProcess: true", "privileged"))
    out.extend(_annotation_findings(meta))
    return out


def _run_as_root(sc: Any, pod_sc: Any) -> Finding | None:
    """Why the container may run as root, or None when it is non-root."""

    def pick(field: str) -> Any:
        own = get(sc, field)  # the container's own setting overrides the pod's
        return own if own is not None else get(pod_sc, field)

    def number(v: Any) -> bool:
        return isinstance(v, int | float) and not isinstance(v, bool)

    user, non_root = pick("runAsUser"), pick("runAsNonRoot")
    if number(user) and user == 0:
        return Finding("runAsUser is 0 (root)", "runAsRoot")
    if non_root is True or (number(user) and user > 0):
        return None
    if user is UNKNOWN or non_root is UNKNOWN or pod_sc is UNKNOWN:
        return Finding(f"runAsUser/runAsNonRoot {_NOT_KNOWN}")
    return Finding("neither runAsNonRoot: true nor a non-zero runAsUser is set", "runAsRoot")


def _security_context_findings(sc: Any, *, full: bool, allowed: set[str]) -> list[Finding]:
    """Container securityContext. ``full``: a complete container spec (a patch or a Plan
    container only adds fields, so only dangerous values count there, not missing ones)."""
    if sc is UNKNOWN:
        return [Finding(f"securityContext {_NOT_KNOWN}")]
    out = []
    privileged = get(sc, "privileged")
    if privileged is UNKNOWN:
        out.append(Finding(f"privileged {_NOT_KNOWN}"))
    elif privileged is True:
        out.append(Finding("privileged: true", "privileged"))
    escalation = get(sc, "allowPrivilegeEscalation")
    if escalation is UNKNOWN:
        out.append(Finding(f"allowPrivilegeEscalation {_NOT_KNOWN}"))
    elif escalation is True or (full and escalation is not False):
        out.append(Finding("allowPrivilegeEscalation is not false", "allowPrivilegeEscalation"))
    drop, added = get(sc, "capabilities", "drop"), get(sc, "capabilities", "add")
    if is_unknown(drop) or is_unknown(added):
        out.append(Finding(f"capabilities {_NOT_KNOWN}"))
    else:
        if full and "ALL" not in [_cap(d) for d in items(drop)]:
            out.append(Finding("capabilities.drop does not include ALL"))
        if added is not None and not isinstance(added, list):
            out.append(Finding(f"capabilities.add {added!r} is not a list (fails closed)"))
        for cap in items(added):
            if _cap(cap) not in allowed:
                out.append(
                    Finding(f"capabilities.add {cap!r} beyond the allowed {sorted(allowed)}", capability=_cap(cap))
                )
    _profile_unconfined(sc, out, "")
    proc = get(sc, "procMount")
    if proc is UNKNOWN:
        out.append(Finding(f"procMount {_NOT_KNOWN}"))
    elif proc is not None and proc != "Default":
        out.append(Finding(f"procMount is {proc!r}: the node's /proc is not masked", "procMount"))
    if get(sc, "windowsOptions", "hostProcess") is True:
        out.append(Finding("windowsOptions.hostProcess: true", "privileged"))
    return out


def _container_findings(c: Container, kind: str, pod_sc: Any, cfg: dict[str, Any], full: bool) -> list[Finding]:
    if c.spec is UNKNOWN or not isinstance(c.spec, dict):
        return [Finding(f"{c.label}: the container {_NOT_KNOWN}")]
    spec = c.spec
    allowed = {_cap(a) for a in str_list(cfg.get("allowedCapabilities"))}
    sc = spec.get("securityContext")
    out = _security_context_findings(sc, full=full, allowed=allowed)
    if sc is not UNKNOWN and (full or get(sc, "runAsUser") is not None):
        root = _run_as_root(sc, pod_sc)
        if root:
            out.append(root)
    ports = spec.get("ports")
    if is_unknown(ports):
        out.append(Finding(f"ports {_NOT_KNOWN}"))
    for port in items(ports):
        host_port = get(port, "hostPort")
        if host_port is not None and host_port != 0:
            out.append(Finding(f"hostPort {host_port} binds a port on the node", "hostPort"))
    # Ephemeral (debug) containers may not set resources or probes; patches keep the target's.
    if full and c.list_name != "ephemeralContainers":
        resources = spec.get("resources")
        for section, key in (("requests", "requiredRequests"), ("limits", "requiredLimits")):
            values = get(resources, section)
            if values is UNKNOWN:
                out.append(Finding(f"resources.{section} {_NOT_KNOWN}"))
                continue
            missing = [r for r in str_list(cfg.get(key)) if get(values, r) is None]
            if missing:
                out.append(Finding(f"resources.{section} lacks {', '.join(missing)}"))
    if full and c.list_name == "containers" and kind not in RUN_TO_COMPLETION:
        for probe in ("livenessProbe", "readinessProbe"):
            if spec.get(probe) is None:
                out.append(Finding(f"no {probe}"))
    return [Finding(f"{c.label}: {f.text}", f.feature, f.capability) for f in out]


def _values_findings(where: str, values: Any, allowed: set[str]) -> list[Finding]:
    """Dangerous pod settings written into Helm values, whatever the chart calls their parent."""
    if values is UNKNOWN:
        return [Finding(f"{where} {_NOT_KNOWN}")]
    if isinstance(values, Unreadable):
        return [Finding(f"{where}: {values.why} (fails closed)")]
    out = []
    for path, key, value, _ in walk(values):
        at = f"{where} {path}"
        if key in ("hostNetwork", "hostPID", "hostIPC") and value is True:
            out.append(Finding(f"{at}: true", key))
        elif key == "privileged" and value is True:
            out.append(Finding(f"{at}: true", "privileged"))
        elif key == "allowPrivilegeEscalation" and value is True:
            out.append(Finding(f"{at}: true", "allowPrivilegeEscalation"))
        elif key == "hostPort" and value not in (None, 0, False, ""):
            out.append(Finding(f"{at}: {value!r} binds a port on the node", "hostPort"))
        elif key == "hostPath" and isinstance(value, dict | str):
            out.append(Finding(f"{at}: mounts a hostPath", "hostPath"))
        elif key == "runAsUser" and value == 0 and not isinstance(value, bool):
            out.append(Finding(f"{at}: 0 (root)", "runAsRoot"))
        elif key == "procMount" and value not in (None, "Default"):
            out.append(Finding(f"{at}: {value!r}", "procMount"))
        elif key in ("seccompProfile", "appArmorProfile") and str(get(value, "type")).lower() == "unconfined":
            out.append(
                Finding(f"{at}.type: Unconfined", "seccompUnconfined" if key[0] == "s" else "appArmorUnconfined")
            )
        elif key == "capabilities":
            for cap in items(get(value, "add")):
                if _cap(cap) not in allowed:
                    out.append(
                        Finding(f"{at}: adds {cap!r} beyond the allowed {sorted(allowed)}", capability=_cap(cap))
                    )
    return out


def _plan_findings(resource: Resource, allowed: set[str]) -> list[Finding]:
    """system-upgrade Plan containers: their securityContext, and volumes, which are host paths
    by design (the Plan CRD at system-upgrade-controller v0.20.1, ../shared/crd-schemas
    upgrade.cattle.io/plan_v1.json: "HostPath volume to mount into the pod", ``source``: "Path
    on the host to mount")."""
    if base_kind(resource.type) != "Plan" or not resource.type.startswith("kubernetes:upgrade.cattle.io/"):
        return []
    out = []
    for part in ("upgrade", "prepare"):
        c = get(resource.props, "spec", part)
        if c is UNKNOWN:
            out.append(Finding(f"spec.{part} {_NOT_KNOWN}"))
            continue
        if c is None:
            continue
        for f in _security_context_findings(get(c, "securityContext"), full=False, allowed=allowed):
            out.append(Finding(f"spec.{part}: {f.text}", f.feature, f.capability))
        for vol in items(get(c, "volumes")):
            out.append(
                Finding(f"spec.{part}: volume {get(vol, 'name')!r} mounts host path {get(vol, 'source')!r}", "hostPath")
            )
    return out


def _helm_job_findings(resource: Resource, allowed: set[str]) -> list[Finding]:
    """The K3s HelmChart's own install job: ``spec.securityContext`` (its container) and
    ``spec.podSecurityContext`` (k3s-io/helm-controller v0.16.17 HelmChartSpec, as in
    ../shared/crd-schemas/helm.cattle.io/helmchart_v1.json)."""
    if base_kind(resource.type) != "HelmChart" or not resource.type.startswith("kubernetes:helm.cattle.io/"):
        return []
    out = [
        Finding(f"spec.securityContext: {f.text}", f.feature, f.capability)
        for f in _security_context_findings(get(resource.props, "spec", "securityContext"), full=False, allowed=allowed)
    ]
    pod_sc = get(resource.props, "spec", "podSecurityContext")
    if pod_sc is UNKNOWN:
        out.append(Finding(f"spec.podSecurityContext {_NOT_KNOWN}"))
    else:
        _profile_unconfined(pod_sc, out, "spec.podSecurityContext.")
        if get(pod_sc, "runAsUser") == 0:
            out.append(Finding("spec.podSecurityContext.runAsUser is 0 (root)", "runAsRoot"))
    return out


def _hardened(resource: Resource) -> list[str]:
    cfg = resource.config
    allowed = {_cap(a) for a in str_list(cfg.get("allowedCapabilities"))}
    findings: list[Finding] = []
    kind = workload_kind(resource)
    spec = pod_spec(resource)
    if kind is not None:
        full = not is_patch(resource)
        if spec is UNKNOWN:
            findings.append(Finding(f"pod spec {_NOT_KNOWN}"))
        elif spec is not None and not isinstance(spec, dict):
            findings.append(Finding(f"pod spec {_NOT_KNOWN}"))
        elif isinstance(spec, dict):
            findings.extend(_pod_findings(spec, pod_metadata(resource)))
            pod_sc = spec.get("securityContext")
            for name in ("containers", "initContainers", "ephemeralContainers"):
                if spec.get(name) is not None and not isinstance(spec.get(name), list):
                    findings.append(Finding(f"{name} {_NOT_KNOWN}"))
            for c in containers(spec):
                findings.extend(_container_findings(c, kind, pod_sc, cfg, full))
    findings.extend(_plan_findings(resource, allowed))
    findings.extend(_helm_job_findings(resource, allowed))
    for where, values in helm_values(resource):
        findings.extend(_values_findings(where, values, allowed))
    if base_kind(resource.type) == "PersistentVolume" and resource.type.startswith("kubernetes:core/"):
        host_path = get(resource.props, "spec", "hostPath")
        if host_path is UNKNOWN:
            findings.append(Finding(f"spec.hostPath {_NOT_KNOWN}"))
        elif host_path is not None:
            findings.append(Finding(f"a hostPath PersistentVolume ({get(host_path, 'path')!r})", "hostPath"))
    if not findings:
        return []
    exempt = exemption_for(resource)
    what = describe(resource)
    known = isinstance(namespace_of(resource), str) and isinstance(object_name(resource), str)
    note = "" if known else " (its namespace/name is not known, so no exemption applies: fails closed)"
    return [
        f"{what}: {f.text}" + (note if f.feature or f.capability else "")
        for f in findings
        if not (f.feature and f.feature in exempt.features)
        and not (f.capability and f.capability in exempt.capabilities)
    ]


HARDENED = resource_policy(
    name="workloads-hardened",
    description=(
        "Everything that defines a pod runs it unprivileged (workloads and their patches, "
        "PodTemplate, upgrade Plans, Helm values): no privileged containers or privilege "
        "escalation, no host namespaces, hostPath (volumes or PersistentVolumes) or hostPort, no "
        "Unconfined seccomp/AppArmor or unmasked procMount, non-root, capabilities dropped (ALL) "
        "and added only from the allowed list, requests and limits, liveness/readiness probes. "
        "Platform exemptions match the object's real kind, namespace and name."
    ),
    remediation=(
        "Set securityContext {runAsNonRoot: true, allowPrivilegeEscalation: false, "
        "capabilities: {drop: [ALL]}} on every container (pod-level runAsNonRoot also counts), "
        "requests for cpu and memory and a memory limit, and livenessProbe + readinessProbe on "
        "long-running containers. Remove hostNetwork/hostPID/hostIPC, hostPath, hostPort, "
        "Unconfined profiles and procMount. A platform component that needs a host feature gets "
        "an `exemptions` entry naming its kind, namespace and name."
    ),
    rule=_hardened,
    schema=SCHEMA,
)


# --- host-path-claims -------------------------------------------------------------------------

CLAIMS_SCHEMA: Schema = {
    "hostPathStorageClasses": str_list_prop(
        "StorageClasses whose provisioner creates hostPath volumes (K3s' local-path provisioner).", ["local-path"]
    ),
}


def _claims(resources: list[Resource], config: dict[str, Any]) -> list[tuple[str, str | None]]:
    """PersistentVolumeClaims bound to a hostPath PersistentVolume, by name or by class."""
    host_pvs: dict[str, Any] = {}  # PV name -> storageClassName
    for r in resources:
        if base_kind(r.type) == "PersistentVolume" and r.type.startswith("kubernetes:core/"):
            name, host_path = object_name(r), get(r.props, "spec", "hostPath")
            if isinstance(name, str) and (host_path is not None):
                host_pvs[name] = get(r.props, "spec", "storageClassName")
    classes = set(str_list(config.get("hostPathStorageClasses")))
    classes |= {c for c in host_pvs.values() if isinstance(c, str) and c}
    out: list[tuple[str, str | None]] = []
    for r in resources:
        for where, claim_spec in _claim_specs(r):
            volume, cls = get(claim_spec, "volumeName"), get(claim_spec, "storageClassName")
            what = f"{describe(r)}{where}"
            if claim_spec is UNKNOWN or volume is UNKNOWN or cls is UNKNOWN:
                out.append((f"{what}: volumeName/storageClassName {_NOT_KNOWN}", r.urn))
            elif isinstance(volume, str) and volume in host_pvs:
                out.append((f"{what} binds the hostPath PersistentVolume {volume!r}", r.urn))
            elif isinstance(cls, str) and cls in classes:
                out.append((f"{what} uses storageClassName {cls!r}, which provisions hostPath volumes", r.urn))
    return out


def _claim_specs(r: Resource) -> list[tuple[str, Any]]:
    """Every claim a resource makes: a PersistentVolumeClaim, a StatefulSet's
    volumeClaimTemplates, and the generic ephemeral volumes of a pod spec."""
    out: list[tuple[str, Any]] = []
    if base_kind(r.type) == "PersistentVolumeClaim" and r.type.startswith("kubernetes:core/"):
        out.append(("", get(r.props, "spec")))
    if base_kind(r.type) == "StatefulSet":
        for i, template in enumerate(items(get(r.props, "spec", "volumeClaimTemplates"))):
            out.append((f" volumeClaimTemplates[{i}]", get(template, "spec")))
    for vol in items(get(pod_spec(r), "volumes")):
        template = get(vol, "ephemeral", "volumeClaimTemplate")
        if template is not None:
            out.append((f" ephemeral volume {get(vol, 'name')!r}", get(template, "spec")))
    return out


HOST_PATH_CLAIMS = stack_policy(
    name="host-path-claims",
    description=(
        "No PersistentVolumeClaim is bound to a hostPath PersistentVolume (by volumeName or "
        "storage class) or asks for a hostPath-provisioning class such as local-path."
    ),
    remediation="Use the hcloud CSI StorageClass (network volumes); never local-path or hostPath PersistentVolumes.",
    rule=_claims,
    schema=CLAIMS_SCHEMA,
)
