"""ClusterPlatform: the add-ons every honeydue cluster runs before the app.

Hetzner CCM and CSI, the bundled Traefik configured for Cloudflare (Origin CA certificate,
authenticated origin pulls, security headers, rate limit), Kyverno enforcing signed images,
upgrades as config (system-upgrade-controller Plan at k3sVersion, kured) and monitoring. Each
add-on is switched per stack (StackConfig.platform).

Which Kubernetes kinds, and why. The provider's kubeconfig is unknown at the first preview
(the cluster does not exist yet), so nothing here may render against the cluster at preview
time: no `helm.v4.Chart`, `yaml.v2` or kustomize (they expand at preview, pulumi-kubernetes#3027).
Charts are `helm.v3.Release`: a provider resource that only acts at `up` (its preview needs no
reachable cluster since pulumi-kubernetes#1886, the fix of #1794), and one that waits
until the release's workloads are ready, so custom resources whose CRDs a chart installs
(Kyverno's ImageValidatingPolicy, the upgrade Plan) can depend on it. K3s' own HelmChart CR
was the alternative: offline-visible, but helm-controller installs it asynchronously in a Job,
so Pulumi could neither order the CRs after it nor report a failed install. The bundled Traefik
is configured the K3s way, with a HelmChartConfig. Everything else is a plain resource or
CustomResource, built from the pure renderers in `platform_render.py`.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pulumi
import pulumi_kubernetes as k8s

from components import platform_render as render
from components.base import type_token
from components.config import Platform

ROOT = Path(__file__).resolve().parent.parent
# One fact, one place: the key the CrossGuard pack verifies with is the key Kyverno verifies with.
COSIGN_PUBLIC_KEY = ROOT / "policies" / "cosign.pub"
# A release waits for its workloads; image pulls on a fresh cluster can take minutes.
RELEASE_TIMEOUT_SECONDS = 900


def read_cosign_public_key(path: Path = COSIGN_PUBLIC_KEY) -> str:
    text = path.read_text()
    if "BEGIN PUBLIC KEY" not in text or "PRIVATE" in text:
        raise ValueError(f"{path} must hold a cosign public key (PEM), never a private key")
    return text


@dataclass(frozen=True)
class ClusterPlatformArgs:
    platform: Platform
    k3s_version: str
    """The stack's k3sVersion: the server upgrade Plan's version."""
    node_count: int
    cluster_cidr: str
    private_network_cidr: str
    hcloud_token: pulumi.Input[str]
    """Pulumi secret; the `hcloud` Secret the CCM and CSI read."""
    network_id: pulumi.Input[int]
    cloudflare_cidrs: pulumi.Input[Sequence[str]]
    """The run's Cloudflare ranges (ClusterFirewall.cloudflare_cidrs): Traefik's trusted proxies."""
    origin_cert_pem: pulumi.Input[str]
    origin_key_pem: pulumi.Input[str]
    """Pulumi secret."""
    origin_pull_ca_pem: pulumi.Input[str] | None
    """CA of Cloudflare's origin-pull client certificate; None: Traefik asks for no client cert."""
    origin_pulls: pulumi.Resource | None = None
    """The zone's origin-pull setting: Traefik requires client certificates only once it is on."""
    registry_password: pulumi.Input[str] | None = None
    """Pulumi secret; with platform.registry_username, Kyverno's pull credentials."""
    cosign_public_key: str | None = None
    """Defaults to policies/cosign.pub."""
    watchdog_url: str | None = None
    """The uptime monitor's Watchdog receiver (UptimeMonitor.watchdog_url); None: no heartbeat."""
    watchdog_token: pulumi.Input[str] | None = None
    """Pulumi secret: the monitor's bearer token for that receiver."""


class ClusterPlatform(pulumi.ComponentResource):
    middleware_refs: dict[str, str]
    """Middleware name -> value for `traefik.ingress.kubernetes.io/router.middlewares`."""
    storage_class: str | None
    namespaces: list[str]
    releases: dict[str, k8s.helm.v3.Release]

    def __init__(self, name: str, args: ClusterPlatformArgs, opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__(type_token("platform", "ClusterPlatform"), name, None, opts)
        self._name = name
        self._args = args
        p = args.platform
        self.releases = {}
        self.namespaces = []
        self.storage_class = None
        private_cidrs = (args.private_network_cidr, args.cluster_cidr)

        # --- Hetzner: CCM first (until it runs, every node keeps the uninitialized taint and
        # no other pod schedules), then the CSI driver.
        scheduling: list[pulumi.Resource] = []
        if p.ccm or p.csi:
            hcloud_secret = self._object(
                "hcloud-secret",
                render.opaque_secret(
                    render.HCLOUD_SECRET,
                    render.KUBE_SYSTEM,
                    {
                        "token": pulumi.Output.secret(args.hcloud_token),
                        "network": pulumi.Output.from_input(args.network_id).apply(str),
                    },
                ),
            )
        if p.ccm:
            ccm = self._release(
                "hcloudCcm", render.KUBE_SYSTEM, render.ccm_values(args.cluster_cidr), depends_on=[hcloud_secret]
            )
            scheduling = [ccm]
        storage: list[pulumi.Resource] = []
        if p.csi:
            csi = self._release(
                "hcloudCsi", render.KUBE_SYSTEM, render.csi_values(p.csi_reclaim_policy), [hcloud_secret, *scheduling]
            )
            storage = [csi]
            self.storage_class = render.STORAGE_CLASS

        # --- Traefik (bundled with K3s: configured, not installed)
        self._traefik(args, scheduling)
        self.middleware_refs = {m: render.middleware_ref(m) for m in (render.SECURITY_HEADERS, render.RATE_LIMIT)}

        # --- Kyverno and the image policy
        if p.kyverno:
            ns = self._namespace(render.KYVERNO_NAMESPACE, private_cidrs)
            credentials = None
            policy_after: list[pulumi.Resource] = []
            if p.registry_username and args.registry_password is not None:
                credentials = render.REGISTRY_SECRET
                config_json = pulumi.Output.secret(args.registry_password).apply(
                    lambda password: render.dockerconfigjson(p.signed_registries[0], str(p.registry_username), password)
                )
                registry_secret = self._object(
                    "registry-secret",
                    render.opaque_secret(
                        credentials,
                        render.KYVERNO_NAMESPACE,
                        {".dockerconfigjson": config_json},
                        "kubernetes.io/dockerconfigjson",
                    ),
                    depends_on=[ns],
                )
                policy_after.append(registry_secret)
            kyverno = self._release(
                "kyverno", render.KYVERNO_NAMESPACE, render.kyverno_values(args.node_count), [ns, *scheduling]
            )
            key = args.cosign_public_key or read_cosign_public_key()
            self._object(
                "image-policy",
                render.image_policy(key, p.signed_registries, credentials),
                depends_on=[kyverno, *policy_after],
            )

        # --- Upgrades as config
        if p.upgrades:
            ns = self._namespace(render.UPGRADE_NAMESPACE, private_cidrs, privileged=True)
            values = render.upgrade_controller_values(p.images["systemUpgradeController"], p.images["kubectl"])
            controller = self._release("systemUpgradeController", render.UPGRADE_NAMESPACE, values, [ns, *scheduling])
            self._object(
                "k3s-server-plan",
                render.server_plan(args.k3s_version, p.images["k3sUpgrade"]),
                depends_on=[controller],
            )
        if p.kured:
            self._release("kured", render.KUBE_SYSTEM, render.kured_values(p.reboot_window), scheduling)

        # --- Monitoring
        if p.monitoring:
            # privileged: node-exporter (host network, PID and paths) and fluent-bit (host logs).
            ns = self._namespace(render.MONITORING_NAMESPACE, private_cidrs, privileged=True)
            heartbeat: list[pulumi.Resource] = []
            watchdog_url = args.watchdog_url if args.watchdog_token is not None else None
            if watchdog_url is not None and args.watchdog_token is not None:
                # The cluster's half of the heartbeat: Alertmanager posts its Watchdog to the
                # monitor, which alerts when the posts stop (a dead cluster is noticed).
                heartbeat.append(
                    self._object(
                        "monitor-watchdog-secret",
                        render.opaque_secret(
                            render.WATCHDOG_SECRET,
                            render.MONITORING_NAMESPACE,
                            {"token": pulumi.Output.secret(args.watchdog_token)},
                        ),
                        depends_on=[ns],
                    )
                )
            self._release(
                "kubePrometheusStack",
                render.MONITORING_NAMESPACE,
                render.prometheus_stack_values(watchdog_url),
                [ns, *scheduling, *storage, *heartbeat],
            )
            loki = self._release(
                "loki",
                render.MONITORING_NAMESPACE,
                render.loki_values(p.loki_retention_hours, p.loki_storage_size),
                [ns, *scheduling, *storage],
            )
            self._release("fluentBit", render.MONITORING_NAMESPACE, render.fluent_bit_values(), [loki])

        self.register_outputs(
            {
                "middleware_refs": self.middleware_refs,
                "storage_class": self.storage_class,
                "namespaces": self.namespaces,
                "releases": sorted(self.releases),
            }
        )

    # ----------------------------------------------------------------------------------------

    def _traefik(self, args: ClusterPlatformArgs, after_ccm: Sequence[pulumi.Resource]) -> None:
        """HelmChartConfig (its CRD is K3s' own), then the traefik.io objects. Their CRDs come
        from K3s' traefik-crd HelmChart, whose install Job can schedule only once the CCM has
        initialised the nodes: ordering them after the CCM release keeps them off that race."""
        config_spec = pulumi.Output.from_input(args.cloudflare_cidrs).apply(
            lambda cidrs: render.helm_chart_config("traefik", render.traefik_values(list(cidrs)))["spec"]
        )
        doc = render.helm_chart_config("traefik", {})
        k8s.apiextensions.CustomResource(
            f"{self._name}-traefik-config",
            api_version=doc["apiVersion"],
            kind=doc["kind"],
            metadata=doc["metadata"],
            spec=config_spec,
            opts=pulumi.ResourceOptions(parent=self),
        )
        cert = self._object(
            "origin-cert",
            render.tls_secret(
                render.ORIGIN_CERT_SECRET,
                render.KUBE_SYSTEM,
                args.origin_cert_pem,
                pulumi.Output.secret(args.origin_key_pem),
            ),
        )
        self._object("tls-store", render.tls_store(), depends_on=[cert, *after_ccm])
        require = args.origin_pull_ca_pem is not None
        after: list[pulumi.Resource] = list(after_ccm)
        if args.origin_pull_ca_pem is not None:
            # Traefik reads the CA under `ca.crt` (or `tls.ca`) of an Opaque Secret.
            after.append(
                self._object(
                    "origin-pull-ca",
                    render.opaque_secret(
                        render.ORIGIN_PULL_CA_SECRET, render.KUBE_SYSTEM, {"ca.crt": args.origin_pull_ca_pem}
                    ),
                )
            )
            if args.origin_pulls is not None:
                # Require client certificates only once Cloudflare presents ours.
                after.append(args.origin_pulls)
        self._object("tls-option", render.tls_option(require), depends_on=after)
        p = args.platform
        for mw in render.middlewares(p.ingress_rate_average, p.ingress_rate_burst):
            self._object(f"middleware-{mw['metadata']['name']}", mw, depends_on=after_ccm)

    def _namespace(self, ns: str, private_cidrs: Sequence[str], privileged: bool = False) -> k8s.core.v1.Namespace:
        doc = render.namespace(ns, privileged)
        namespace = k8s.core.v1.Namespace(
            f"{self._name}-ns-{ns}", metadata=doc["metadata"], opts=pulumi.ResourceOptions(parent=self)
        )
        for policy in render.network_policies(ns, private_cidrs):
            self._object(f"{ns}-netpol-{policy['metadata']['name']}", policy, depends_on=[namespace])
        self.namespaces.append(ns)
        return namespace

    def _object(
        self, role: str, doc: Mapping[str, Any], depends_on: Sequence[pulumi.Resource] = ()
    ) -> pulumi.CustomResource:
        """One manifest from a renderer as a Pulumi resource (typed class for built-in kinds)."""
        opts = pulumi.ResourceOptions(parent=self, depends_on=list(depends_on))
        name = f"{self._name}-{role}"
        kind = doc["kind"]
        if kind == "Secret":
            return k8s.core.v1.Secret(
                name,
                metadata=doc["metadata"],
                type=doc["type"],
                string_data=doc["stringData"],
                opts=pulumi.ResourceOptions.merge(
                    opts, pulumi.ResourceOptions(additional_secret_outputs=["data", "stringData"])
                ),
            )
        if kind == "NetworkPolicy":
            return k8s.networking.v1.NetworkPolicy(name, metadata=doc["metadata"], spec=doc["spec"], opts=opts)
        return k8s.apiextensions.CustomResource(
            name, api_version=doc["apiVersion"], kind=kind, metadata=doc["metadata"], spec=doc["spec"], opts=opts
        )

    def _release(
        self, chart_key: str, namespace: str, values: Mapping[str, Any], depends_on: Sequence[pulumi.Resource] = ()
    ) -> k8s.helm.v3.Release:
        pin = self._args.platform.charts[chart_key]
        release_name = pin.chart.rsplit("/", 1)[-1]
        release = k8s.helm.v3.Release(
            f"{self._name}-{release_name}",
            name=release_name,
            chart=pin.chart,
            version=pin.version,
            repository_opts=k8s.helm.v3.RepositoryOptsArgs(repo=pin.repository) if pin.repository else None,
            namespace=namespace,
            values=dict(values),
            timeout=RELEASE_TIMEOUT_SECONDS,
            # A failed install is rolled back instead of left half-applied for the next `up`.
            atomic=True,
            opts=pulumi.ResourceOptions(parent=self, depends_on=list(depends_on)),
        )
        self.releases[chart_key] = release
        return release
