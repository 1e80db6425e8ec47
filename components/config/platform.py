"""The cluster add-ons (components/platform.py): switches, chart pins, Kyverno and kured settings."""

from __future__ import annotations

import re
from collections.abc import Iterator, Mapping
from typing import Annotated, Any

from pydantic import Field, model_validator

from components.config.base import (
    POSITIVE,
    ConfigModel,
    Problem,
    SecretKey,
    Section,
    between,
    matches,
    one_of,
    quantity_at_least,
    rule,
)

RECLAIM_POLICIES = ("Retain", "Delete")
KURED_DAYS = ("su", "mo", "tu", "we", "th", "fr", "sa")
# registry/repository[:tag]; a tag is required (or a digest): never an implicit `latest`.
_IMAGE_REF = re.compile(r"^[a-z0-9][a-z0-9._/-]*(:[A-Za-z0-9_][A-Za-z0-9_.+-]*)?(@sha256:[0-9a-f]{64})?$")
PINNED_REF = rule(
    lambda v: _IMAGE_REF.match(v) is not None and not v.endswith(":latest"),
    "must be registry/repository with a pinned tag or digest",
)
HH_MM = matches(r"([01]\d|2[0-3]):[0-5]\d", "must be a 24-hour time HH:MM")


class ChartPin(ConfigModel):
    chart: Annotated[str, rule(lambda v: len(v) > 0, "required chart name (or vendored chart path)")]
    """Chart name in the repository, or a path relative to the project root (vendored chart)."""
    version: Annotated[
        str,
        matches(
            r"(0|[1-9]\d*)\.(0|[1-9]\d*)\.(0|[1-9]\d*)",
            "must be one exact version X.Y.Z (no ranges): charts are pinned",
        ),
    ]
    repository: Annotated[
        str,
        rule(
            lambda v: v == "" or v.startswith("https://"),
            "must be an https:// chart repository, or empty for a vendored chart",
        ),
    ] = ""
    """https chart repository; empty for a vendored chart."""


def _pin(chart: str, version: str, repository: str) -> dict[str, str]:
    return {"chart": chart, "version": version, "repository": repository}


# Install order. A stack's `platformCharts` is merged over these per chart and per field, so a
# stack can bump one version without restating the rest.
DEFAULT_CHARTS: Mapping[str, Mapping[str, str]] = {
    "hcloudCcm": _pin("hcloud-cloud-controller-manager", "1.35.0", "https://charts.hetzner.cloud"),
    "hcloudCsi": _pin("hcloud-csi", "2.22.1", "https://charts.hetzner.cloud"),
    "kyverno": _pin("kyverno", "3.9.0", "https://kyverno.github.io/kyverno/"),
    "kured": _pin("kured", "6.1.0", "https://kubereboot.github.io/charts"),
    "systemUpgradeController": _pin("components/templates/platform/system-upgrade-controller", "0.20.1", ""),
    "kubePrometheusStack": _pin(
        "kube-prometheus-stack", "88.5.3", "https://prometheus-community.github.io/helm-charts"
    ),
    "loki": _pin("loki", "18.11.0", "https://grafana-community.github.io/helm-charts"),
    "fluentBit": _pin("fluent-bit", "0.58.1", "https://fluent.github.io/helm-charts"),
}


class PlatformCharts(ConfigModel):
    hcloud_ccm: ChartPin
    hcloud_csi: ChartPin
    kyverno: ChartPin
    kured: ChartPin
    system_upgrade_controller: ChartPin
    kube_prometheus_stack: ChartPin
    loki: ChartPin
    fluent_bit: ChartPin

    @model_validator(mode="before")
    @classmethod
    def _over_defaults(cls, value: Any) -> Any:
        if not isinstance(value, dict):
            return value
        merged: dict[str, Any] = {name: dict(pin) for name, pin in DEFAULT_CHARTS.items()}
        for name, override in value.items():
            base = merged.get(name)
            merged[name] = {**base, **override} if isinstance(base, dict) and isinstance(override, dict) else override
        return merged


class PlatformImages(ConfigModel):
    system_upgrade_controller: Annotated[str, PINNED_REF] = "docker.io/rancher/system-upgrade-controller:v0.20.1"
    kubectl: Annotated[str, PINNED_REF] = "docker.io/rancher/kubectl:v1.30.3"
    k3s_upgrade: Annotated[str, PINNED_REF] = "docker.io/rancher/k3s-upgrade"


class RebootWindow(ConfigModel):
    days: Annotated[
        tuple[str, ...],
        rule(
            lambda v: len(v) > 0 and all(d in KURED_DAYS for d in v),
            "must be a non-empty list of " + ", ".join(KURED_DAYS),
        ),
    ]
    start: Annotated[str, HH_MM]
    end: Annotated[str, HH_MM]
    time_zone: Annotated[
        str, matches(r"[A-Za-z_]+(/[A-Za-z_+-]+)*", "must be an IANA time zone such as Europe/Berlin or UTC")
    ]


class Platform(Section):
    TITLE = "platform add-ons (components/platform.py)"
    SECRETS = (
        SecretKey(
            "registryPassword",
            "Password (token) of registryUsername on the private registry (required when registryUsername is set).",
            "registryUsername",
        ),
    )

    ccm: bool = Field(
        True,
        alias="hetznerCcm",
        description="Run the Hetzner cloud controller manager (K3s then starts with an external cloud provider).",
    )
    csi: bool = Field(
        True,
        alias="hetznerCsi",
        description="Hetzner CSI driver (hcloud-csi) with the default StorageClass hcloud-volumes.",
    )
    csi_reclaim_policy: Annotated[str, one_of(*RECLAIM_POLICIES)] = Field(
        "Retain",
        description=(
            "reclaimPolicy of the default StorageClass, Retain or Delete. Retain keeps a volume (and its data)"
            " after its claim is deleted."
        ),
    )
    kyverno: bool = Field(
        True,
        description=(
            "Kyverno with an ImageValidatingPolicy that denies app pods whose images from signedRegistries are"
            " not signed with policies/cosign.pub."
        ),
    )
    signed_registries: tuple[str, ...] = Field(
        (),
        description=(
            "Registries (a subset of allowedRegistries) whose images must carry a cosign signature; the policy"
            " pack's container-images-signed lists the same."
        ),
    )
    registry_username: Annotated[
        str, matches(r"|[A-Za-z0-9._@-]{1,128}", "must be a registry account name (letters, digits, . _ @ -)")
    ] = Field(
        "",
        description=(
            'Read-only pull account of the private registry ("" = none), used by Kyverno\'s signature look-ups'
            " and by the app's image pull Secret. When set, the secret registryPassword is required; the app"
            " requires it."
        ),
    )
    upgrades: bool = Field(
        True,
        alias="upgradeController",
        description=(
            "system-upgrade-controller and a server Plan at k3sVersion (K3s upgrades one node at a time by"
            " changing k3sVersion)."
        ),
    )
    kured: bool = Field(
        True,
        description="kured reboots nodes after unattended-upgrades, one at a time, inside kuredRebootWindow.",
    )
    reboot_window: RebootWindow = Field(
        RebootWindow.of(
            {"days": ["mo", "tu", "we", "th", "fr"], "start": "02:00", "end": "05:00", "timeZone": "Europe/Berlin"}
        ),
        alias="kuredRebootWindow",
        description="When kured may reboot: {days (su..sa), start HH:MM, end HH:MM, timeZone (IANA)}.",
    )
    monitoring: bool = Field(
        True,
        description=(
            "kube-prometheus-stack, Loki (single binary on a CSI volume) and fluent-bit shipping every node's"
            " logs to it. Grafana is not exposed; use kubectl port-forward."
        ),
    )
    loki_retention_hours: Annotated[int, between(24, 24 * 366)] = Field(
        168, description="Log retention of Loki in hours (24 to 8784)."
    )
    # Hetzner volumes are 10 GB at least; anything smaller is rounded up and billed anyway.
    loki_storage_size: Annotated[
        str, quantity_at_least(10 * 2**30, "must be a Kubernetes quantity of at least 10Gi (Hetzner's minimum volume)")
    ] = Field("10Gi", description="Size of Loki's CSI volume (Hetzner's minimum is 10Gi).")
    ingress_rate_average: Annotated[int, POSITIVE] = Field(
        100,
        alias="ingressRateLimitAverage",
        description=(
            "Traefik rate-limit middleware, average requests per second per client (keyed on CF-Connecting-IP)."
        ),
    )
    ingress_rate_burst: Annotated[int, POSITIVE] = Field(
        200,
        alias="ingressRateLimitBurst",
        description="Traefik rate-limit middleware burst (at least ingressRateLimitAverage).",
    )
    chart_pins: PlatformCharts = Field(
        PlatformCharts.of({}),
        alias="platformCharts",
        description=(
            "Helm chart pins of the add-ons, {<addon>: {chart, version, repository}}; a stack's value is merged"
            " over these per add-on and field. systemUpgradeController is vendored in the repo."
        ),
    )
    image_refs: PlatformImages = Field(
        PlatformImages.of({}),
        alias="platformImages",
        description=(
            "Images the platform names itself (the charts pin the rest by their version). k3sUpgrade takes its"
            " tag from k3sVersion, so it carries none here."
        ),
    )

    @property
    def charts(self) -> Mapping[str, ChartPin]:
        """Chart pins by add-on key (platformCharts' keys), in install order."""
        return {
            field.alias or name: getattr(self.chart_pins, name) for name, field in PlatformCharts.model_fields.items()
        }

    @property
    def images(self) -> Mapping[str, str]:
        return self.image_refs.model_dump(by_alias=True)

    def rule_kyverno_has_registries(self, stack: Any) -> Iterator[Problem]:
        if self.kyverno and not self.signed_registries:
            yield Problem("signedRegistries", [], "must list at least one registry when kyverno is true")

    def rule_burst_above_average(self, stack: Any) -> Iterator[Problem]:
        if self.ingress_rate_burst < self.ingress_rate_average:
            yield Problem(
                "ingressRateLimitBurst",
                self.ingress_rate_burst,
                f"must be at least ingressRateLimitAverage ({self.ingress_rate_average})",
            )

    def rule_signed_registries_allowed(self, stack: Any) -> Iterator[Problem]:
        if stack.workloads is not None:
            allowed = stack.workloads.allowed_registries
            for i, registry in enumerate(self.signed_registries):
                if registry not in allowed:
                    yield Problem(
                        f"signedRegistries[{i}]", registry, "must be one of allowedRegistries: " + ", ".join(allowed)
                    )
