"""What a change replaces, which resources hold state, and the committed allow file.

Shared by tools/plan_diff.py (offline plans) and tools/preview_guard.py (`pulumi preview --json`).

Replace-on-change properties at the pinned provider versions, by source:
- hcloud 1.43.3: `willReplaceOnChanges` in ../shared/provider-schemas/hcloud-1.43.3.json (from the
  provider's schema.json; tests/test_plan_diff.py checks this table against it).
- tls 5.6.2, random 4.21.4, cloudflare 6.23.1: bridged providers whose Pulumi schema carries no
  replace flags (provider-schemas/README.md): the upstream Terraform schema's `RequiresReplace`
  plan modifiers, read in hashicorp/terraform-provider-tls (internal/provider/resource_*.go, the
  commit pulumi-tls 5.6.2 pins), hashicorp/terraform-provider-random (resource_password.go,
  snapshot of 2026-06-11) and cloudflare/terraform-provider-cloudflare (internal/services/*/
  schema.go at v5.22.0; the exact v5 release pulumi-cloudflare 6.23.1 bridges could not be read,
  so this is the nearest stored release).
- kubernetes 4.34.2: the provider's own table (provider/v4/pkg/provider/forcenew.go of
  pulumi/pulumi-kubernetes, a stored v4 copy; the exact 4.34.2 tag was not read):
  metadata.name/namespace for every kind plus per-kind paths. Helm releases: a new name or
  namespace is a new release.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
ALLOW_FILE = ROOT / "replacements.allow"

# Resource type -> top-level input properties (camelCase) whose change replaces the resource.
REPLACE_ON_CHANGES: dict[str, frozenset[str]] = {
    # hcloud (schema.json willReplaceOnChanges)
    "hcloud:index/certificate:Certificate": frozenset({"certificate", "privateKey"}),
    "hcloud:index/firewallAttachment:FirewallAttachment": frozenset({"firewallId"}),
    "hcloud:index/floatingIp:FloatingIp": frozenset({"homeLocation", "type"}),
    "hcloud:index/floatingIpAssignment:FloatingIpAssignment": frozenset({"floatingIpId"}),
    "hcloud:index/loadBalancer:LoadBalancer": frozenset({"location", "networkZone"}),
    "hcloud:index/loadBalancerService:LoadBalancerService": frozenset({"listenPort", "loadBalancerId", "protocol"}),
    "hcloud:index/loadBalancerTarget:LoadBalancerTarget": frozenset(
        {"ip", "labelSelector", "loadBalancerId", "serverId"}
    ),
    "hcloud:index/managedCertificate:ManagedCertificate": frozenset({"domainNames"}),
    "hcloud:index/network:Network": frozenset({"ipRange"}),
    "hcloud:index/networkRoute:NetworkRoute": frozenset({"destination", "gateway", "networkId"}),
    "hcloud:index/networkSubnet:NetworkSubnet": frozenset({"ipRange", "networkId", "networkZone", "type", "vswitchId"}),
    "hcloud:index/server:Server": frozenset({"datacenter", "image", "location", "sshKeys", "userData"}),
    "hcloud:index/snapshot:Snapshot": frozenset({"serverId"}),
    "hcloud:index/uploadedCertificate:UploadedCertificate": frozenset({"certificate", "privateKey"}),
    "hcloud:index/volume:Volume": frozenset({"location"}),
    "hcloud:index/volumeAttachment:VolumeAttachment": frozenset({"serverId", "volumeId"}),
    # tls (RequiresReplace; the PEM inputs use requireReplaceIfStateContainsPEMString)
    "tls:index/privateKey:PrivateKey": frozenset({"algorithm", "ecdsaCurve", "rsaBits"}),
    "tls:index/selfSignedCert:SelfSignedCert": frozenset(
        {
            "allowedUses",
            "dnsNames",
            "ipAddresses",
            "isCaCertificate",
            "maxPathLength",
            "privateKeyPem",
            "setAuthorityKeyId",
            "setSubjectKeyId",
            "subject",
            "uris",
            "validityPeriodHours",
        }
    ),
    "tls:index/locallySignedCert:LocallySignedCert": frozenset(
        {
            "allowedUses",
            "caCertPem",
            "caPrivateKeyPem",
            "certRequestPem",
            "isCaCertificate",
            "maxPathLength",
            "setSubjectKeyId",
            "validityPeriodHours",
        }
    ),
    "tls:index/certRequest:CertRequest": frozenset({"dnsNames", "ipAddresses", "privateKeyPem", "subject", "uris"}),
    # random (every argument RequiresReplace)
    "random:index/randomPassword:RandomPassword": frozenset(
        {
            "keepers",
            "length",
            "lower",
            "minLower",
            "minNumeric",
            "minSpecial",
            "minUpper",
            "number",
            "numeric",
            "overrideSpecial",
            "special",
            "upper",
        }
    ),
    # cloudflare (RequiresReplace in the v5 schema.go files)
    "cloudflare:index/dnsRecord:DnsRecord": frozenset({"type", "zoneId"}),
    "cloudflare:index/zoneSetting:ZoneSetting": frozenset({"settingId", "zoneId"}),
    "cloudflare:index/originCaCertificate:OriginCaCertificate": frozenset(
        {"csr", "hostnames", "requestType", "requestedValidity"}
    ),
    "cloudflare:index/ruleset:Ruleset": frozenset({"accountId", "kind", "name", "phase", "zoneId"}),
    "cloudflare:index/authenticatedOriginPullsCertificate:AuthenticatedOriginPullsCertificate": frozenset(
        {"certificate", "zoneId"}
    ),
    "cloudflare:index/authenticatedOriginPullsSettings:AuthenticatedOriginPullsSettings": frozenset({"zoneId"}),
    "cloudflare:index/authenticatedOriginPulls:AuthenticatedOriginPulls": frozenset({"zoneId"}),
    # Helm: a release renamed or moved is a new release
    "kubernetes:helm.sh/v3:Release": frozenset({"name", "namespace"}),
}

# Kubernetes objects: dotted paths (prefixes) whose change replaces, by "group/version:Kind", as
# the v4 provider's forceNewProperties has them (provider/v4/pkg/provider/forcenew.go). Secret
# and ConfigMap data replace too unless the provider sets enableSecretMutable /
# enableConfigMapMutable (default off) and the object is not immutable: assumed off here.
_K8S_ALL = ("metadata.name", "metadata.namespace")
_CONTAINER = (
    "args", "command", "env", "image", "imagePullPolicy", "lifecycle", "livenessProbe", "ports", "readinessProbe",
    "resources", "securityContext", "stdin", "stdinOnce", "terminationMessagePath", "terminationMessagePolicy",
    "tty", "volumeDevices", "volumeMounts", "workingDir",
)  # fmt: skip
_POD_SPEC = (
    "affinity", "automountServiceAccountToken", "dnsConfig", "dnsPolicy", "enableServiceLinks", "hostAliases",
    "hostIPC", "hostNetwork", "hostPID", "hostname", "imagePullSecrets", "nodeName", "nodeSelector", "overhead",
    "preemptionPolicy", "priority", "priorityClassName", "readinessGates", "restartPolicy", "runtimeClassName",
    "schedulerName", "securityContext", "serviceAccount", "serviceAccountName", "shareProcessNamespace",
    "subdomain", "terminationGracePeriodSeconds", "volumes",
)  # fmt: skip
_PV_SOURCES = (
    "awsElasticBlockStore", "azureDisk", "azureFile", "cephfs", "cinder", "csi", "fc", "flexVolume", "flocker",
    "gcePersistentDisk", "glusterfs", "hostPath", "iscsi", "local", "nfs", "photonPersistentDisk",
    "portworxVolume", "quobyte", "rbd", "scaleIO", "storageos", "vsphereVolume",
)  # fmt: skip
K8S_REPLACE_PATHS: dict[str, tuple[str, ...]] = {
    "apps/v1:DaemonSet": ("spec.selector",),
    "apps/v1:Deployment": ("spec.selector",),
    "apps/v1:StatefulSet": (
        "spec.podManagementPolicy",
        "spec.revisionHistoryLimit",
        "spec.selector",
        "spec.serviceName",
        "spec.volumeClaimTemplates",
    ),
    "batch/v1:Job": ("spec.completions", "spec.parallelism", "spec.selector", "spec.template"),
    "core/v1:ConfigMap": ("binaryData", "data"),
    "core/v1:PersistentVolume": tuple(f"spec.{source}" for source in _PV_SOURCES),
    # spec.resources is not here: a PVC grows in place.
    "core/v1:PersistentVolumeClaim": ("spec.accessModes", "spec.selector", "spec.storageClassName", "spec.volumeName"),
    "core/v1:Pod": (
        *(f"spec.{field}" for field in _POD_SPEC),
        *(f"spec.{kind}[*].{field}" for kind in ("containers", "initContainers") for field in _CONTAINER),
    ),
    "core/v1:ResourceQuota": ("spec.scopes",),
    "core/v1:Secret": ("type", "stringData", "data"),
    "core/v1:Service": ("spec.clusterIP",),
    "policy/v1beta1:PodDisruptionBudget": ("spec",),
    "rbac.authorization.k8s.io/v1:ClusterRoleBinding": ("roleRef",),
    "rbac.authorization.k8s.io/v1:RoleBinding": ("roleRef",),
    "storage.k8s.io/v1:StorageClass": ("parameters", "provisioner"),
}


def _k8s_kind(typ: str) -> str | None:
    """`kubernetes:apps/v1:Deployment` -> `apps/v1:Deployment` (custom resources included)."""
    if not typ.startswith("kubernetes:") or typ.startswith(
        ("kubernetes:helm.sh/", "kubernetes:index/", "kubernetes:yaml")
    ):
        return None
    return typ.removeprefix("kubernetes:")


def _covers(prefix: str, path: str) -> bool:
    """`prefix` (which may hold `[*]`) names `path` or an ancestor of it."""
    pattern = re.escape(prefix).replace(r"\[\*\]", r"\[\d+\]")
    return re.fullmatch(pattern + r"([.\[].*)?", path) is not None


def replacing_paths(typ: str, changed: Sequence[str], replace_on_changes: Sequence[str] = ()) -> list[str]:
    """The changed input paths (dotted, `a.b[0].c`) that make the provider replace the resource.

    `replace_on_changes` is the program's own `replace_on_changes` option (property paths).
    """
    top = REPLACE_ON_CHANGES.get(typ, frozenset())
    kind = _k8s_kind(typ)
    k8s = (*_K8S_ALL, *K8S_REPLACE_PATHS.get(kind, ())) if kind else ()
    out = []
    for path in changed:
        head = re.split(r"[.\[]", path, maxsplit=1)[0]
        if (
            head in top
            or any(_covers(p, path) or _covers(path, p) for p in k8s)
            or any(p == "*" or _covers(p, path) for p in replace_on_changes)
        ):
            out.append(path)
    return out


# --------------------------------------------------------------------------------------------
# Stateful resources
# --------------------------------------------------------------------------------------------

_STATEFUL_TYPES = {
    "hcloud:index/server:Server": "server (etcd member, node disk)",
    "hcloud:index/primaryIp:PrimaryIp": "Primary IP (the public address DNS and clients use)",
    "hcloud:index/floatingIp:FloatingIp": "Floating IP",
    "hcloud:index/network:Network": "private network",
    "hcloud:index/networkSubnet:NetworkSubnet": "private subnet (every node's private IP)",
    "hcloud:index/volume:Volume": "volume (data)",
    "kubernetes:core/v1:PersistentVolumeClaim": "PersistentVolumeClaim (data)",
    "kubernetes:core/v1:PersistentVolume": "PersistentVolume (data)",
    "kubernetes:apps/v1:StatefulSet": "StatefulSet (pods bound to their volumes)",
    "cloudflare:index/zoneSetting:ZoneSetting": "zone setting (TLS mode, HTTPS, HSTS: live traffic)",
    "cloudflare:index/zone:Zone": "Cloudflare zone",
}


def parse_urn(urn: str) -> tuple[str, str, str]:
    """(qualified type `Parent$Type`, type, name) of `urn:pulumi:<stack>::<project>::<qtype>::<name>`."""
    parts = urn.split("::", 3)
    if len(parts) != 4 or not parts[0].startswith("urn:pulumi:"):
        raise ValueError(f"not a Pulumi URN: {urn!r}")
    qualified = parts[2]
    return qualified, qualified.rsplit("$", 1)[-1], parts[3]


def stateful_reason(urn: str) -> str | None:
    """Why deleting or replacing this resource loses state, or None if it does not."""
    qualified, typ, name = parse_urn(urn)
    if typ in _STATEFUL_TYPES:
        return _STATEFUL_TYPES[typ]
    parent = qualified.rsplit("$", 1)[0] if "$" in qualified else ""
    # The cluster PKI and token: a new CA or token locks every node out. The admin client
    # certificate (and its key and CSR) may rotate.
    if parent.endswith("honeydue:pki:ClusterPki") and typ.startswith(("tls:", "random:")) and "-admin" not in name:
        return "cluster PKI / join token (re-keys the cluster, locks every node out)"
    # The Origin CA key: Cloudflare's origin certificate is bound to it.
    if (
        parent.endswith("honeydue:edge:CloudflareEdge")
        and typ == "tls:index/privateKey:PrivateKey"
        and name.endswith("-origin-key")
    ):
        return "Origin CA key (the origin certificate is bound to it)"
    return None


# --------------------------------------------------------------------------------------------
# The allow file
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class AllowEntry:
    urn: str
    reason: str
    line: int


class AllowFileError(ValueError):
    pass


def load_allow(path: Path = ALLOW_FILE) -> dict[str, AllowEntry]:
    """`<URN> <reason>` per line; `#` comments and blank lines ignored. A URN without a reason,
    or listed twice, is an error: the point of the file is to say why."""
    if not path.exists():
        return {}
    entries: dict[str, AllowEntry] = {}
    for number, raw in enumerate(path.read_text().splitlines(), start=1):
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        urn, _, reason = line.partition(" ")
        reason = reason.strip()
        try:
            parse_urn(urn)
        except ValueError as exc:
            raise AllowFileError(f"{path.name}:{number}: {exc}") from None
        if not reason:
            raise AllowFileError(f"{path.name}:{number}: {urn} has no reason; write why it may be replaced")
        if urn in entries:
            raise AllowFileError(f"{path.name}:{number}: {urn} listed twice (first on line {entries[urn].line})")
        entries[urn] = AllowEntry(urn, reason, number)
    return entries
