"""Where pods, containers, images and Helm values live in every Kubernetes kind that runs them.

One module answers "what does this resource run?" for every rule, so the workload, image and
plaintext rules cannot disagree about which kinds they inspect:

- built-in kinds that carry a pod spec (Pod, PodTemplate, Deployment, StatefulSet, DaemonSet,
  ReplicaSet, ReplicationController, Job, CronJob) **and their ``*Patch`` variants**;
- custom resources that run images: the K3s ``HelmChart`` (job image, values),
  ``HelmChartConfig`` (values), the system-upgrade ``Plan`` (upgrade/prepare containers);
- Helm releases (``helm.sh/v3`` Release, ``v3``/``v4`` Chart): images and pod settings in values.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import yaml

from ._base import Resource, base_kind, kind_of
from ._values import UNKNOWN, get, items

# Path from the resource's inputs to its pod spec, per kind (patches use their kind's path).
POD_SPEC_PATHS: dict[str, tuple[str, ...]] = {
    "Pod": ("spec",),
    "PodTemplate": ("template", "spec"),
    "Deployment": ("spec", "template", "spec"),
    "StatefulSet": ("spec", "template", "spec"),
    "DaemonSet": ("spec", "template", "spec"),
    "ReplicaSet": ("spec", "template", "spec"),
    "ReplicationController": ("spec", "template", "spec"),
    "Job": ("spec", "template", "spec"),
    "CronJob": ("spec", "jobTemplate", "spec", "template", "spec"),
}
# Kinds whose pods are meant to exit: no liveness/readiness probes expected.
RUN_TO_COMPLETION = frozenset({"Job", "CronJob"})
CONTAINER_LISTS = ("containers", "initContainers", "ephemeralContainers")

HELM_CHART_CR = "kubernetes:helm.cattle.io/v1:HelmChart"
HELM_CHART_CONFIG_CR = "kubernetes:helm.cattle.io/v1:HelmChartConfig"
PLAN_CR = "kubernetes:upgrade.cattle.io/v1:Plan"
# Helm resources whose chart values sit at the top level of the inputs (`values`).
HELM_RELEASE_TYPES = frozenset(
    {"kubernetes:helm.sh/v3:Release", "kubernetes:helm.sh/v3:Chart", "kubernetes:helm.sh/v4:Chart"}
)


class Unreadable:
    """A value the pack cannot read (valuesContent that is not YAML, a values file asset)."""

    def __init__(self, why: str) -> None:
        self.why = why

    def __repr__(self) -> str:
        return f"<unreadable: {self.why}>"


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


@dataclass(frozen=True)
class ImageSite:
    """An image a resource runs. ``partial``: only a tag/digest override of a chart default."""

    where: str
    image: Any  # str, UNKNOWN, Unreadable, or None (no image set)
    required: bool = True  # a missing image is a violation (full container specs only)
    partial: bool = False


def is_patch(resource: Resource) -> bool:
    kind = kind_of(resource.type)
    return kind is not None and kind != base_kind(resource.type)


def workload_kind(resource: Resource) -> str | None:
    """The (patch-stripped) kind when the resource carries a pod spec, else None."""
    kind = base_kind(resource.type)
    return kind if kind in POD_SPEC_PATHS else None


def pod_spec(resource: Resource) -> Any:
    """The workload's pod spec (dict), UNKNOWN, or None when absent / not a workload."""
    kind = workload_kind(resource)
    return None if kind is None else get(resource.props, *POD_SPEC_PATHS[kind])


def pod_metadata(resource: Resource) -> Any:
    """The pod template's metadata (annotations carry legacy AppArmor/seccomp settings)."""
    kind = workload_kind(resource)
    if kind is None:
        return None
    return get(resource.props, *POD_SPEC_PATHS[kind][:-1], "metadata")


def containers(spec: Any) -> Iterator[Container]:
    for list_name in CONTAINER_LISTS:
        for i, c in enumerate(items(get(spec, list_name))):
            yield Container(list_name, i, c)


def has_unknown_container_list(spec: Any) -> bool:
    """True when the pod spec, or one of its container lists, is not known yet or not a list."""
    if spec is UNKNOWN or (spec is not None and not isinstance(spec, dict)):
        return True
    return any(get(spec, name) is not None and not isinstance(get(spec, name), list) for name in CONTAINER_LISTS)


def namespace_of(resource: Resource) -> Any:
    """The object's real namespace: ``metadata.namespace``, else its provider's ``namespace``,
    else ``default`` (UNKNOWN when either is computed). Helm releases keep it in ``namespace``."""
    if resource.type in HELM_RELEASE_TYPES:
        ns = get(resource.props, "namespace")
    else:
        ns = get(resource.props, "metadata", "namespace")
    if ns is UNKNOWN:
        return UNKNOWN
    if isinstance(ns, str) and ns:
        return ns
    provider_ns = get(resource.provider_props, "namespace")
    if provider_ns is UNKNOWN:
        return UNKNOWN
    return provider_ns if isinstance(provider_ns, str) and provider_ns else "default"


def object_name(resource: Resource) -> Any:
    """The object's real name (``metadata.name``; a Helm release's ``name``), or None/UNKNOWN."""
    if resource.type in HELM_RELEASE_TYPES:
        return get(resource.props, "name")
    return get(resource.props, "metadata", "name")


def describe(resource: Resource) -> str:
    """``Deployment honeydue/api`` for messages (falls back to the Pulumi resource name)."""
    kind = kind_of(resource.type) or resource.type.rsplit(":", 1)[-1]
    name = object_name(resource)
    ns = namespace_of(resource) if kind_of(resource.type) else None
    shown = name if isinstance(name, str) else f"(pulumi name {resource.name})"
    return f"{kind} {ns}/{shown}" if isinstance(ns, str) else f"{kind} {shown}"


# --- Helm values ------------------------------------------------------------------------------


def _parse_values(text: Any, where: str) -> Any:
    if text is None or text is UNKNOWN:
        return text
    if not isinstance(text, str):
        return Unreadable(f"{where} is not a string")
    try:
        return yaml.safe_load(text)
    except yaml.YAMLError as exc:
        return Unreadable(f"{where} is not valid YAML ({str(exc).splitlines()[0]})")


def helm_values(resource: Resource) -> list[tuple[str, Any]]:
    """(where, values) for every Helm values document the resource passes to a chart.

    values is a dict/list/scalar, UNKNOWN, or :class:`Unreadable`. K3s' helm-controller takes
    ``spec.valuesContent`` (YAML text) and ``spec.set`` (k3s-io/helm-controller v0.16.17
    ``pkg/apis/helm.cattle.io/v1/types.go``); Pulumi's Helm resources take ``values`` and
    ``valueYamlFiles`` (file assets the pack cannot open, so they are unreadable)."""
    out: list[tuple[str, Any]] = []
    if resource.type in HELM_RELEASE_TYPES:
        values = get(resource.props, "values")
        if values is not None:
            out.append(("values", values))
        files = get(resource.props, "valueYamlFiles")
        if files is UNKNOWN or (isinstance(files, list) and files):
            out.append(("valueYamlFiles", Unreadable("valueYamlFiles are files the policy cannot read")))
    elif base_kind(resource.type) in ("HelmChart", "HelmChartConfig") and resource.type.startswith(
        "kubernetes:helm.cattle.io/"
    ):
        content = get(resource.props, "spec", "valuesContent")
        if content is not None:
            out.append(("spec.valuesContent", _parse_values(content, "spec.valuesContent")))
        sets = get(resource.props, "spec", "set")
        if sets is not None:
            out.append(("spec.set", sets))
    return out


def walk(value: Any, path: str = "") -> Iterator[tuple[str, str, Any, Any]]:
    """(path, key, value, parent dict) for every mapping entry inside ``value``, depth first."""
    if isinstance(value, dict):
        for key, item in value.items():
            sub = f"{path}.{key}" if path else str(key)
            yield sub, str(key), item, value
            yield from walk(item, sub)
    elif isinstance(value, list):
        for i, item in enumerate(value):
            yield from walk(item, f"{path}[{i}]")


def _values_image(value: Any) -> tuple[Any, bool] | None:
    """The image named by a values entry: ``image: repo:tag@digest`` or the common map
    ``{registry, repository, tag, digest}``. Returns (image, partial) or None."""
    if isinstance(value, str) or value is UNKNOWN:
        return value, False
    if not isinstance(value, dict):
        return None
    repo = value.get("repository", value.get("repo"))
    registry, tag, digest = value.get("registry"), value.get("tag"), value.get("digest")
    if UNKNOWN in (repo, registry, tag, digest):
        return UNKNOWN, False
    if isinstance(repo, str) and repo:
        ref = f"{registry.rstrip('/')}/{repo}" if isinstance(registry, str) and registry else repo
        if isinstance(tag, str | int | float) and str(tag) and "@" not in ref:
            ref += f":{tag}"
        if isinstance(digest, str) and digest:
            ref += f"@{digest}"
        return ref, False
    if tag is not None or digest is not None:
        # Only the tag/digest of the chart's default repository is overridden.
        shown = f":{tag}" if tag is not None else ""
        return f"<chart default>{shown}" + (f"@{digest}" if isinstance(digest, str) and digest else ""), True
    return None


def _is_image_key(key: str) -> bool:
    return key.lower() == "image" or key.endswith("Image")


def values_images(where: str, values: Any) -> list[ImageSite]:
    out = []
    for path, key, value, _ in walk(values):
        if _is_image_key(key):
            found = _values_image(value)
            if found is not None:
                out.append(ImageSite(f"{where} {path}", found[0], required=False, partial=found[1]))
    return out


# --- images -----------------------------------------------------------------------------------


def _plan_image(container: Any, version: Any, channel: Any) -> Any:
    """The image system-upgrade-controller runs for a Plan container: ``image`` with the
    plan's ``version`` as tag (``+`` becomes ``-``: v1.34.6+k3s1 -> v1.34.6-k3s1), unless the
    image already names a tag or digest; a ``channel`` resolves the version at run time.
    Source: rancher/system-upgrade-controller ``pkg/upgrade/container/container.go``
    ``WithLatestTag`` (adds the tag only when ``reference.IsNameOnly``) and
    ``pkg/upgrade/plan/plan.go`` ``MungeVersion`` (read in the stored snapshot, commit 063bba3)."""
    image = get(container, "image")
    if not isinstance(image, str) or not image:
        return image
    if "@" in image or ":" in image.rsplit("/", 1)[-1]:
        return image
    if version is UNKNOWN:
        return UNKNOWN
    if isinstance(version, str) and version:
        return f"{image}:{version.replace('+', '-')}"
    if channel is not None:
        return f"{image}:<latest of channel {channel}>"
    return image


def image_sites(resource: Resource) -> list[ImageSite]:
    """Every image the resource runs, wherever the kind keeps it."""
    what = describe(resource)
    out: list[ImageSite] = []
    spec = pod_spec(resource)
    patch = is_patch(resource)
    if workload_kind(resource) is not None:
        if has_unknown_container_list(spec):
            out.append(ImageSite(f"{what}: containers", UNKNOWN))
        for c in containers(spec):
            image = UNKNOWN if c.spec is UNKNOWN else get(c.spec, "image")
            # A patch may name a container only to change another field; it keeps its image.
            out.append(ImageSite(f"{what} {c.label}", image, required=not patch))
    kind = base_kind(resource.type)
    if kind == "HelmChart" and resource.type.startswith("kubernetes:helm.cattle.io/"):
        job = get(resource.props, "spec", "jobImage")
        if job is not None:
            out.append(ImageSite(f"{what} spec.jobImage", job, required=False))
    if kind == "Plan" and resource.type.startswith("kubernetes:upgrade.cattle.io/"):
        plan = get(resource.props, "spec")
        for part in ("upgrade", "prepare"):
            c = get(plan, part)
            if c is not None:
                image = UNKNOWN if c is UNKNOWN else _plan_image(c, get(plan, "version"), get(plan, "channel"))
                out.append(ImageSite(f"{what} spec.{part}", image, required=part == "upgrade"))
    for where, values in helm_values(resource):
        if isinstance(values, Unreadable) or values is UNKNOWN:
            out.append(ImageSite(f"{what} {where}", values, required=False))
        else:
            out.extend(values_images(f"{what} {where}", values))
    return out
