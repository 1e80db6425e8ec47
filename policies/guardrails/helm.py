"""Guarding the guards: Helm charts pinned wherever they come from, and the Kyverno image policy
kept in Deny mode with required verification for the configured registries."""

from __future__ import annotations

import fnmatch
import re
from typing import Any

from ._base import Resource, base_kind, resource_policy, stack_policy, str_list_prop
from ._values import UNKNOWN, get, items, str_list
from .k8s import describe, is_patch, object_name, workload_kind

# Release/Chart inputs carry `chart` and `version`; K3s' HelmChart CRD keeps them under `spec`.
HELM_TYPES = {
    "kubernetes:helm.sh/v3:Release": (),
    "kubernetes:helm.sh/v3:Chart": (),
    "kubernetes:helm.sh/v4:Chart": (),
    "kubernetes:helm.cattle.io/v1:HelmChart": ("spec",),
    "kubernetes:helm.cattle.io/v1:HelmChartPatch": ("spec",),
}
# SemVer 2.0 (optional leading v, as Helm accepts): no ranges, wildcards or partial versions.
_SEMVER = (
    r"v?(0|[1-9]\d*)\.(0|[1-9]\d*)\.(0|[1-9]\d*)"
    r"(-[0-9A-Za-z-]+(\.[0-9A-Za-z-]+)*)?(\+[0-9A-Za-z-]+(\.[0-9A-Za-z-]+)*)?"
)
EXACT_VERSION_RE = re.compile(f"^{_SEMVER}$")
_DIGEST_RE = re.compile(r"@sha256:[0-9a-f]{64}$")
# Helm's packaged chart name: <name>-<version>.tgz (helm package).
_TARBALL_RE = re.compile(rf"-{_SEMVER}\.tgz$")
_LOCAL_PREFIXES = ("./", "../", "/", "file://")


def _exact(version: Any) -> bool:
    return isinstance(version, str) and EXACT_VERSION_RE.match(version.strip()) is not None


def chart_problem(chart: Any, version: Any, *, inline: bool, local_path: Any) -> str | None:
    """Why this chart reference is not pinned, or None.

    Local directories and inline charts (``chartContent``, a v3 Chart ``path``) are versioned
    with the repository. An ``oci://`` reference is pinned by an ``@sha256`` digest or an exact
    version; an http(s) tarball by the ``-X.Y.Z.tgz`` of its file name (Helm ignores `version`
    for a URL); a repository chart by an exact version."""
    if inline or (isinstance(local_path, str) and local_path):
        return None
    if chart is UNKNOWN or version is UNKNOWN:
        return "chart/version is not known (computed value): fails closed"
    if not isinstance(chart, str) or not chart.strip():
        return "no chart named"
    ref = chart.strip()
    if ref.startswith(_LOCAL_PREFIXES):
        return None
    if ref.startswith("oci://"):
        if _DIGEST_RE.search(ref) or _exact(version):
            return None
        return f"OCI chart {ref!r} has neither an @sha256 digest nor an exact version ({version!r})"
    if ref.startswith(("https://", "http://")):
        if _TARBALL_RE.search(ref.split("?", 1)[0]):
            return None
        return f"chart URL {ref!r} does not name one exact version (<name>-X.Y.Z.tgz)"
    if version is None or (isinstance(version, str) and not version.strip()):
        return f"chart {ref!r} has no version: the newest chart would be installed"
    if not _exact(version):
        return f"chart {ref!r} version {version!r} is not one exact version"
    return None


def _pinned(resource: Resource) -> list[str]:
    if resource.type not in HELM_TYPES:
        return []
    path = HELM_TYPES[resource.type]
    base = get(resource.props, *path) if path else resource.props
    chart, version = get(base, "chart"), get(base, "version")
    if resource.type.endswith("Patch") and chart is None and version is None:
        return []  # a patch that leaves the chart alone
    inline = get(base, "chartContent") not in (None, "")
    problems = [chart_problem(chart, version, inline=inline, local_path=get(base, "path"))]
    # K3s HelmChart fetch options that let anyone on the path swap the chart (helm-controller
    # v0.16.17 HelmChartSpec: insecureSkipTLSVerify, plainHTTP).
    for field in ("insecureSkipTLSVerify", "plainHTTP"):
        value = get(base, field)
        if value is True or value is UNKNOWN:
            problems.append(f"{field} is {value!r}: the chart is fetched without TLS verification")
    return [f"Helm {describe(resource)} ({resource.name}): {p}" for p in problems if p]


CHARTS_PINNED = resource_policy(
    name="helm-charts-pinned",
    description=(
        "Every Helm chart (helm.sh/v3 Release, v3/v4 Chart, K3s HelmChart and its patches) is "
        "pinned: an exact SemVer version for repository charts, a digest or exact version for "
        "oci:// charts, a -X.Y.Z.tgz URL; local directories and inline charts are allowed."
    ),
    remediation=(
        "Set version='X.Y.Z' (no ranges like ^1.2 or ~1.2, no wildcards, never empty), or "
        "oci://…@sha256:<digest>; bump it deliberately."
    ),
    rule=_pinned,
)


# --- image-verification-enforced --------------------------------------------------------------

_IVP = "ImageValidatingPolicy"
_KYVERNO_GROUPS = ("kubernetes:policies.kyverno.io/", "kubernetes:kyverno.io/")
_NOT_KNOWN = "is not known (computed value), so it cannot be judged (fails closed)"


def _norm_key(pem: Any) -> str:
    return "".join(str(pem).split())


def _ivp_weaknesses(r: Resource, public_key: str) -> list[str]:
    """Why this ImageValidatingPolicy (or a patch of one) does not enforce verification."""
    spec = get(r.props, "spec")
    patch = is_patch(r)
    if spec is UNKNOWN:
        return [f"spec {_NOT_KNOWN}"]
    out = []
    actions = get(spec, "validationActions")
    if actions is UNKNOWN or (isinstance(actions, list) and UNKNOWN in actions):
        out.append(f"validationActions {_NOT_KNOWN}")
    elif not (patch and actions is None) and not (isinstance(actions, list) and "Deny" in actions):
        out.append(f"validationActions is {actions!r}, not [Deny]: unsigned images would be admitted")
    for field in ("required", "verifyDigest"):
        value = get(spec, "validationConfigurations", field)
        if value is UNKNOWN:
            out.append(f"validationConfigurations.{field} {_NOT_KNOWN}")
        elif value is False:
            out.append(f"validationConfigurations.{field} is false")
    failure = get(spec, "failurePolicy")
    if failure is UNKNOWN:
        out.append(f"failurePolicy {_NOT_KNOWN}")
    elif failure == "Ignore":
        out.append("failurePolicy is Ignore: a Kyverno outage admits every image")
    if get(spec, "evaluation", "admission", "enabled") is False:
        out.append("evaluation.admission.enabled is false: nothing is checked at admission")
    attestors = get(spec, "attestors")
    if public_key and not (patch and attestors is None):
        keys = [get(a, "cosign", "key", "data") for a in items(attestors)]
        if attestors is UNKNOWN or UNKNOWN in keys:
            out.append(f"attestors {_NOT_KNOWN}")
        elif _norm_key(public_key) not in {_norm_key(k) for k in keys if isinstance(k, str)}:
            out.append("no cosign attestor carries the pack's publicKey: signatures by another key would pass")
    return out


def _covers(r: Resource, registry: str) -> bool:
    sample = f"{registry.rstrip('/')}/honeydue/app:1@sha256:{'0' * 64}"
    for ref in items(get(r.props, "spec", "matchImageReferences")):
        glob = get(ref, "glob")
        if isinstance(glob, str) and fnmatch.fnmatchcase(sample, glob):
            return True
    return False


def _image_policy(resources: list[Resource], config: dict[str, Any]) -> list[tuple[str, str | None]]:
    registries = str_list(config.get("registries"))
    public_key = str(config.get("publicKey") or "")
    out: list[tuple[str, str | None]] = []
    policies = [r for r in resources if base_kind(r.type) == _IVP and r.type.startswith(_KYVERNO_GROUPS)]
    enforcing = []
    for r in policies:
        weak = _ivp_weaknesses(r, public_key)
        out.extend((f"{describe(r)}: {w}", r.urn) for w in weak)
        if not weak and not is_patch(r):
            enforcing.append(r)
    names = {n for r in policies if isinstance(n := object_name(r), str)}
    for r in resources:
        if base_kind(r.type) == "PolicyException" and r.type.startswith(_KYVERNO_GROUPS):
            refs = [get(p, "name") for p in items(get(r.props, "spec", "policyRefs"))]
            if UNKNOWN in refs or any(
                n in names or get(p, "kind") == _IVP
                for n, p in zip(refs, items(get(r.props, "spec", "policyRefs")), strict=False)
            ):
                out.append((f"{describe(r)}: lifts image verification for the resources it matches", r.urn))
    runs_pods = any(workload_kind(r) is not None or r.type.startswith("kubernetes:helm") for r in resources)
    if runs_pods and (config.get("requireImagePolicy") is True or policies):
        for registry in registries:
            if not any(_covers(r, registry) for r in enforcing):
                out.append(
                    (
                        f"no ImageValidatingPolicy in Deny mode with required verification matches images "
                        f"from {registry!r} (matchImageReferences glob)",
                        policies[0].urn if policies else None,
                    )
                )
    return out


IMAGE_POLICY_ENFORCED = stack_policy(
    name="image-verification-enforced",
    description=(
        "The Kyverno ImageValidatingPolicy stays in Deny mode with required digest and signature "
        "verification by the pack's key for every configured registry; no PolicyException lifts it."
    ),
    remediation=(
        "Keep validationActions: [Deny], validationConfigurations {required: true, verifyDigest: "
        "true}, failurePolicy Fail, a cosign attestor with the pack's public key and a "
        "matchImageReferences glob per registry (e.g. gitea.example.com/*)."
    ),
    rule=_image_policy,
    schema={
        "registries": str_list_prop("Registries whose images Kyverno must verify (as container-images-signed)."),
        "publicKey": {"type": "string", "default": "", "description": "The cosign public key attestors must carry."},
        "requireImagePolicy": {
            "type": "boolean",
            "default": False,
            "description": "Require the policy whenever the stack runs pods (true where Kyverno is on).",
        },
    },
)
