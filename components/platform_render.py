"""Pure renderers of the cluster platform: Helm values and Kubernetes manifests as plain dicts.

Every function takes plain values and returns plain data (tests call them directly and run the
real validators over the result: check-jsonschema against the upstream CRD and chart schemas in
../shared/crd-schemas, kubernetes-validate for built-in kinds). Chart keys are checked against
the chart's values.yaml / values.schema.json at the pinned version; the comment at each value
names where its meaning comes from.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import yaml

from components.config import RebootWindow

KUBE_SYSTEM = "kube-system"
KYVERNO_NAMESPACE = "kyverno"
UPGRADE_NAMESPACE = "system-upgrade"
MONITORING_NAMESPACE = "monitoring"
# Namespaces the image policy never evaluates: Kubernetes' own, and the platform's (their images
# are third-party, pinned by chart version, and not signed with our key).
SYSTEM_NAMESPACES = (
    KUBE_SYSTEM,
    "kube-public",
    "kube-node-lease",
    KYVERNO_NAMESPACE,
    UPGRADE_NAMESPACE,
    MONITORING_NAMESPACE,
)
METADATA_CIDR = "169.254.169.254/32"

HCLOUD_SECRET = "hcloud"
ORIGIN_CERT_SECRET = "origin-cert"
ORIGIN_PULL_CA_SECRET = "origin-pull-ca"
REGISTRY_SECRET = "registry-credentials"
STORAGE_CLASS = "hcloud-volumes"
SECURITY_HEADERS = "security-headers"
RATE_LIMIT = "rate-limit"
# Traefik applies the TLSOption named `default` to every router; the app names it explicitly too.
TLS_OPTION = "default"
# Content-Security-Policy the seed deployment needed: the admin loads Google Fonts.
CSP = (
    "default-src 'self'; style-src 'self' 'unsafe-inline' https://fonts.googleapis.com; "
    "font-src 'self' https://fonts.gstatic.com; img-src 'self' data:; frame-ancestors 'none'"
)
HSTS_SECONDS = 31_536_000


def _meta(name: str, namespace: str | None = None, labels: Mapping[str, str] | None = None) -> dict[str, Any]:
    meta: dict[str, Any] = {"name": name}
    if namespace is not None:
        meta["namespace"] = namespace
    meta["labels"] = {"app.kubernetes.io/part-of": "honeydue-platform", "app.kubernetes.io/managed-by": "pulumi"}
    meta["labels"].update(labels or {})
    return meta


# --------------------------------------------------------------------------------------------
# Namespaces and their NetworkPolicies
# --------------------------------------------------------------------------------------------


def namespace(name: str, privileged: bool = False) -> dict[str, Any]:
    """A platform namespace. `privileged`: Pod Security admits privileged pods (upgrade jobs)."""
    level = "privileged" if privileged else "baseline"
    labels = {"pod-security.kubernetes.io/enforce": level}
    return {"apiVersion": "v1", "kind": "Namespace", "metadata": _meta(name, labels=labels)}


def network_policies(ns: str, private_cidrs: Sequence[str]) -> list[dict[str, Any]]:
    """Default deny, then what a platform namespace needs; egress never reaches the metadata service.

    Platform controllers talk to the API server (host network of the nodes, private range),
    registries and Hetzner's API (internet), and to each other; the API server calls webhooks
    and Prometheus scrapes from node and pod addresses. So: ingress from the namespace, the
    pod CIDR and the node network; egress anywhere except 169.254.169.254 (cloud-init's
    user_data, which holds cluster secrets, is readable there).
    """
    deny = {
        "apiVersion": "networking.k8s.io/v1",
        "kind": "NetworkPolicy",
        "metadata": _meta("default-deny", ns),
        "spec": {"podSelector": {}, "policyTypes": ["Ingress", "Egress"]},
    }
    egress = {
        "apiVersion": "networking.k8s.io/v1",
        "kind": "NetworkPolicy",
        "metadata": _meta("allow-egress-except-metadata", ns),
        "spec": {
            "podSelector": {},
            "policyTypes": ["Egress"],
            "egress": [
                {
                    "to": [
                        {"ipBlock": {"cidr": "0.0.0.0/0", "except": [METADATA_CIDR]}},
                        {"ipBlock": {"cidr": "::/0"}},
                        # in-cluster peers by selector: pod IPs may be outside any ipBlock above
                        # once flannel NATs them, selectors always match.
                        {"namespaceSelector": {}},
                    ]
                }
            ],
        },
    }
    ingress = {
        "apiVersion": "networking.k8s.io/v1",
        "kind": "NetworkPolicy",
        "metadata": _meta("allow-ingress-from-cluster", ns),
        "spec": {
            "podSelector": {},
            "policyTypes": ["Ingress"],
            "ingress": [
                {
                    "from": [
                        {"podSelector": {}},
                        *({"ipBlock": {"cidr": cidr}} for cidr in private_cidrs),
                    ]
                }
            ],
        },
    }
    return [deny, egress, ingress]


# --------------------------------------------------------------------------------------------
# Secrets (values may be Pulumi Outputs: the functions only place them)
# --------------------------------------------------------------------------------------------


def opaque_secret(name: str, ns: str, string_data: Mapping[str, Any], type_: str = "Opaque") -> dict[str, Any]:
    return {
        "apiVersion": "v1",
        "kind": "Secret",
        "metadata": _meta(name, ns),
        "type": type_,
        "stringData": dict(string_data),
    }


def tls_secret(name: str, ns: str, cert_pem: Any, key_pem: Any) -> dict[str, Any]:
    return opaque_secret(name, ns, {"tls.crt": cert_pem, "tls.key": key_pem}, "kubernetes.io/tls")


def dockerconfigjson(registry: str, username: str, password: str) -> str:
    """`.dockerconfigjson` for one registry (the format kubelet and Kyverno read)."""
    import base64
    import json

    auth = base64.b64encode(f"{username}:{password}".encode()).decode()
    return json.dumps({"auths": {registry: {"username": username, "password": password, "auth": auth}}})


# --------------------------------------------------------------------------------------------
# Hetzner CCM and CSI
# --------------------------------------------------------------------------------------------


def ccm_values(cluster_cidr: str) -> dict[str, Any]:
    """hcloud-cloud-controller-manager 1.35.0 values (chart/values.yaml at v1.35.0).

    networking.enabled makes the CCM read HCLOUD_NETWORK from the `hcloud` Secret's `network`
    key, so nodes are matched by their private IPs. Routes stay off: flannel tunnels pod
    traffic, and Hetzner routes would duplicate it (FACTS.md; HCLOUD_NETWORK_ROUTES_ENABLED).
    """
    return {
        "networking": {"enabled": True, "clusterCIDR": cluster_cidr},
        "env": {"HCLOUD_NETWORK_ROUTES_ENABLED": {"value": "false"}},
        # The chart's Deployment tolerates the uninitialized taint itself: until it runs no pod
        # can schedule anywhere (K3s runs with cloud-provider=external).
        "replicaCount": 1,
        "resources": {"requests": {"cpu": "50m", "memory": "64Mi"}},
    }


def csi_values(reclaim_policy: str) -> dict[str, Any]:
    """hcloud-csi 2.22.1 values (chart/values.yaml, values.schema.json at v2.22.1)."""
    return {
        # The token comes from the same `hcloud` Secret the CCM reads (the chart's default name).
        "controller": {"hcloudToken": {"existingSecret": {"name": HCLOUD_SECRET, "key": "token"}}},
        "storageClasses": [{"name": STORAGE_CLASS, "defaultStorageClass": True, "reclaimPolicy": reclaim_policy}],
        # The node plugin reads the server's instance id (and zone) from the metadata service at
        # every start (csi-driver v2.22.1 cmd/main.go setup). The node's metadata guard admits
        # only root on the host network: the plugin is root (privileged) and gets the host network.
        "node": {"hostNetwork": True},
    }


# --------------------------------------------------------------------------------------------
# Traefik (K3s-bundled chart 39.0.5, configured by HelmChartConfig)
# --------------------------------------------------------------------------------------------


def traefik_values(trusted_ips: Sequence[str]) -> dict[str, Any]:
    """Values for K3s' Traefik chart 39.0.5 (traefik/traefik-helm-chart v39.0.5 values.yaml).

    One Traefik per node on the host network, so Cloudflare reaches every node on 80/443 and no
    Service of type LoadBalancer exists (with the CCM it would buy a paid Hetzner LB). Binding
    80/443 as a non-root user: the nodes set net.ipv4.ip_unprivileged_port_start=80 (cloud-init,
    sysctl-kubelet.conf), because Kubernetes grants added capabilities to root only and root on a
    node may read the metadata service, which serves the cluster's keys (metadata-guard.nft). So
    Traefik keeps the chart's uid 65532, drops every capability, cannot escalate and has a
    read-only root filesystem.
    """
    forwarded = {"trustedIPs": list(trusted_ips)}
    return {
        "deployment": {"kind": "DaemonSet"},
        "hostNetwork": True,
        # A DaemonSet on host ports cannot surge: the new pod would find the ports taken.
        "updateStrategy": {"type": "RollingUpdate", "rollingUpdate": {"maxUnavailable": 1, "maxSurge": 0}},
        "service": {"enabled": False},
        "ports": {
            "web": {
                "port": 80,
                "forwardedHeaders": forwarded,
                "http": {"redirections": {"entryPoint": {"to": "websecure", "scheme": "https", "permanent": True}}},
            },
            "websecure": {"port": 443, "forwardedHeaders": forwarded, "http": {"tls": {"enabled": True}}},
        },
        "logs": {"access": {"enabled": True}},
        "securityContext": {
            "allowPrivilegeEscalation": False,
            "readOnlyRootFilesystem": True,
            "capabilities": {"drop": ["ALL"]},
        },
        "podSecurityContext": {
            "runAsUser": 65532,
            "runAsGroup": 65532,
            "runAsNonRoot": True,
            "seccompProfile": {"type": "RuntimeDefault"},
        },
        "resources": {"requests": {"cpu": "100m", "memory": "128Mi"}, "limits": {"memory": "256Mi"}},
    }


def helm_chart_config(name: str, values: Mapping[str, Any]) -> dict[str, Any]:
    """HelmChartConfig for a K3s-bundled chart. helm-controller v0.16.17 (K3s v1.34.6) has only
    `spec.valuesContent`: `spec.values` arrives in v0.16.20."""
    return {
        "apiVersion": "helm.cattle.io/v1",
        "kind": "HelmChartConfig",
        "metadata": _meta(name, KUBE_SYSTEM),
        "spec": {"valuesContent": yaml.safe_dump(dict(values), sort_keys=False)},
    }


def tls_store() -> dict[str, Any]:
    """The `default` TLSStore: Traefik serves the Origin CA certificate for every host."""
    return {
        "apiVersion": "traefik.io/v1alpha1",
        "kind": "TLSStore",
        "metadata": _meta("default", KUBE_SYSTEM),
        "spec": {"defaultCertificate": {"secretName": ORIGIN_CERT_SECRET}},
    }


def tls_option(require_origin_pull: bool) -> dict[str, Any]:
    """The `default` TLSOption (applies to every router): TLS >= 1.2 and, when origin pulls are
    required, only clients with a certificate signed by the origin-pull CA (Cloudflare)."""
    spec: dict[str, Any] = {"minVersion": "VersionTLS12", "sniStrict": False}
    if require_origin_pull:
        spec["clientAuth"] = {"secretNames": [ORIGIN_PULL_CA_SECRET], "clientAuthType": "RequireAndVerifyClientCert"}
    return {
        "apiVersion": "traefik.io/v1alpha1",
        "kind": "TLSOption",
        "metadata": _meta(TLS_OPTION, KUBE_SYSTEM),
        "spec": spec,
    }


def middlewares(rate_average: int, rate_burst: int) -> list[dict[str, Any]]:
    """Security headers and a per-client rate limit (the client is CF-Connecting-IP: behind
    Cloudflare the TCP peer is always a Cloudflare address)."""
    headers = {
        "apiVersion": "traefik.io/v1alpha1",
        "kind": "Middleware",
        "metadata": _meta(SECURITY_HEADERS, KUBE_SYSTEM),
        "spec": {
            "headers": {
                "stsSeconds": HSTS_SECONDS,
                "stsIncludeSubdomains": True,
                "forceSTSHeader": True,
                "contentTypeNosniff": True,
                "frameDeny": True,
                "referrerPolicy": "strict-origin-when-cross-origin",
                "contentSecurityPolicy": CSP,
            }
        },
    }
    limit = {
        "apiVersion": "traefik.io/v1alpha1",
        "kind": "Middleware",
        "metadata": _meta(RATE_LIMIT, KUBE_SYSTEM),
        "spec": {
            "rateLimit": {
                "average": rate_average,
                "burst": rate_burst,
                "period": "1s",
                "sourceCriterion": {"requestHeaderName": "CF-Connecting-IP"},
            }
        },
    }
    return [headers, limit]


def middleware_ref(name: str) -> str:
    """How an Ingress names a middleware: `traefik.ingress.kubernetes.io/router.middlewares`."""
    return f"{KUBE_SYSTEM}-{name}@kubernetescrd"


# --------------------------------------------------------------------------------------------
# Kyverno
# --------------------------------------------------------------------------------------------


def kyverno_values(node_count: int) -> dict[str, Any]:
    """kyverno 3.9.0 values (charts/kyverno/values.yaml at kyverno-chart-3.9.0).

    Three admission replicas where there are three nodes (the webhook fails closed, so one
    node's loss must not stop admissions); one elsewhere.
    """
    return {
        "admissionController": {
            "replicas": 3 if node_count >= 3 else 1,
            "container": {"resources": {"requests": {"cpu": "100m", "memory": "256Mi"}, "limits": {"memory": "512Mi"}}},
        },
        "backgroundController": {
            "resources": {"requests": {"cpu": "50m", "memory": "64Mi"}, "limits": {"memory": "256Mi"}}
        },
        "cleanupController": {
            "resources": {"requests": {"cpu": "50m", "memory": "64Mi"}, "limits": {"memory": "128Mi"}}
        },
        "reportsController": {
            "resources": {"requests": {"cpu": "50m", "memory": "64Mi"}, "limits": {"memory": "256Mi"}}
        },
    }


def image_policy(public_key_pem: str, registries: Sequence[str], credentials_secret: str | None) -> dict[str, Any]:
    """ImageValidatingPolicy (policies.kyverno.io/v1, Kyverno 1.19): pods outside the system
    namespaces whose images come from `registries` must carry a cosign signature made with the
    key whose public half is `public_key_pem` (policies/cosign.pub, the pack's key).

    Images are signed without a transparency log (the registry is private), hence
    insecureIgnoreTlog/SCT, as in the pack's `cosign verify --insecure-ignore-tlog`.
    """
    spec: dict[str, Any] = {
        "validationActions": ["Deny"],
        "failurePolicy": "Fail",
        "webhookConfiguration": {"timeoutSeconds": 15},
        "matchConstraints": {
            "resourceRules": [
                {"apiGroups": [""], "apiVersions": ["v1"], "operations": ["CREATE", "UPDATE"], "resources": ["pods"]}
            ],
            "namespaceSelector": {
                "matchExpressions": [
                    {"key": "kubernetes.io/metadata.name", "operator": "NotIn", "values": list(SYSTEM_NAMESPACES)}
                ]
            },
        },
        # Also evaluate pod templates of the controllers, so an unsigned Deployment is refused
        # when `pulumi up` creates it, not later when its ReplicaSet fails to make pods.
        "autogen": {
            "podControllers": {"controllers": ["deployments", "statefulsets", "daemonsets", "jobs", "cronjobs"]}
        },
        "matchImageReferences": [{"glob": f"{registry}/*"} for registry in registries],
        "validationConfigurations": {"mutateDigest": True, "verifyDigest": True, "required": True},
        "attestors": [
            {
                "name": "release",
                "cosign": {
                    "key": {"data": public_key_pem},
                    "ctlog": {"insecureIgnoreTlog": True, "insecureIgnoreSCT": True},
                },
            }
        ],
        "validations": [
            {
                "expression": "images.containers.map(image, verifyImageSignatures(image, [attestors.release])).all(e, e > 0)",
                "message": "image is not signed with the honeydue release key (policies/cosign.pub)",
            }
        ],
    }
    if credentials_secret is not None:
        # A Secret in Kyverno's namespace; Kyverno reads it to pull signatures.
        spec["credentials"] = {"secrets": [credentials_secret]}
    return {
        "apiVersion": "policies.kyverno.io/v1",
        "kind": "ImageValidatingPolicy",
        "metadata": _meta("honeydue-signed-images"),
        "spec": spec,
    }


# --------------------------------------------------------------------------------------------
# Upgrades: system-upgrade-controller + Plan, kured
# --------------------------------------------------------------------------------------------


def upgrade_controller_values(controller_image: str, kubectl_image: str) -> dict[str, Any]:
    """Values of the vendored system-upgrade-controller chart (components/templates/platform)."""
    return {
        "image": controller_image,
        "kubectlImage": kubectl_image,
        "resources": {"requests": {"cpu": "10m", "memory": "32Mi"}, "limits": {"memory": "128Mi"}},
    }


def server_plan(k3s_version: str, upgrade_image: str) -> dict[str, Any]:
    """The K3s server Plan (system-upgrade-controller v0.20.1, examples/k3s-upgrade.yaml).

    Its version is the stack's k3sVersion: changing that key upgrades the servers one at a time
    (cordon, drain, upgrade, uncordon) in place; a server added later installs the same version
    from cloud-init, so the Plan finds it already current.
    """
    return {
        "apiVersion": "upgrade.cattle.io/v1",
        "kind": "Plan",
        "metadata": _meta("k3s-server", UPGRADE_NAMESPACE),
        "spec": {
            "concurrency": 1,
            "version": k3s_version,
            "nodeSelector": {
                "matchExpressions": [
                    {"key": "node-role.kubernetes.io/control-plane", "operator": "In", "values": ["true"]}
                ]
            },
            "serviceAccountName": "system-upgrade",
            # Servers are the only nodes: every one of them must be upgradable, taints or not.
            "tolerations": [{"operator": "Exists"}],
            "cordon": True,
            "drain": {
                "force": True,
                "ignoreDaemonSets": True,
                "deleteEmptydirData": True,
                # Honour PodDisruptionBudgets for up to 60 s per pod, then move on.
                "skipWaitForDeleteTimeout": 60,
            },
            "upgrade": {"image": upgrade_image},
        },
    }


def kured_values(window: RebootWindow) -> dict[str, Any]:
    """kured 6.1.0 values (kubereboot/charts kured-6.1.0 values.yaml). kured holds one lock in
    the cluster, so nodes reboot one at a time; the sentinel is unattended-upgrades' file."""
    return {
        "configuration": {
            "rebootDays": list(window.days),
            "startTime": window.start,
            "endTime": window.end,
            "timeZone": window.time_zone,
            "rebootSentinel": "/var/run/reboot-required",
            "drainTimeout": "10m",
            "skipWaitForDeleteTimeout": "60",
        },
        "resources": {"requests": {"cpu": "10m", "memory": "32Mi"}, "limits": {"memory": "64Mi"}},
    }


# --------------------------------------------------------------------------------------------
# Monitoring
# --------------------------------------------------------------------------------------------


# The monitor's bearer token, mounted into Alertmanager (alertmanagerSpec.secrets mounts each
# listed Secret at /etc/alertmanager/secrets/<name>/): never in the values in clear.
WATCHDOG_SECRET = "monitor-watchdog"
WATCHDOG_TOKEN_FILE = f"/etc/alertmanager/secrets/{WATCHDOG_SECRET}/token"


def alertmanager_watchdog_config(watchdog_url: str) -> dict[str, Any]:
    """Alertmanager routing that sends kube-prometheus-stack's always-firing `Watchdog` to the
    uptime monitor outside the cluster every 5 minutes (the monitor alerts when it stops:
    components/uptime.py ClusterWatchdogMissing). Everything else keeps the chart's routing to
    the "null" receiver; `send_resolved: false`, the Watchdog never resolves."""
    return {
        "route": {
            "receiver": "null",
            "group_by": ["alertname"],
            "routes": [
                {
                    "receiver": "monitor-watchdog",
                    "matchers": ['alertname = "Watchdog"'],
                    "group_wait": "0s",
                    "group_interval": "1m",
                    "repeat_interval": "5m",
                }
            ],
        },
        "receivers": [
            {"name": "null"},
            {
                "name": "monitor-watchdog",
                "webhook_configs": [
                    {
                        "url": watchdog_url,
                        "send_resolved": False,
                        "http_config": {"authorization": {"type": "Bearer", "credentials_file": WATCHDOG_TOKEN_FILE}},
                    }
                ],
            },
        ],
    }


def prometheus_stack_values(watchdog_url: str | None = None) -> dict[str, Any]:
    """kube-prometheus-stack 88.5.3 values (values.yaml at kube-prometheus-stack-88.5.3).

    K3s runs the controller manager, scheduler, proxy and etcd inside one process without
    their usual metrics endpoints on the pod network: their monitors would only fire alerts.
    Grafana is not exposed (no Ingress): `kubectl port-forward` reaches it.
    """
    return {
        "kubeControllerManager": {"enabled": False},
        "kubeScheduler": {"enabled": False},
        "kubeProxy": {"enabled": False},
        "kubeEtcd": {"enabled": False},
        "grafana": {"enabled": True, "ingress": {"enabled": False}},
        "alertmanager": {
            "alertmanagerSpec": {
                "resources": {"requests": {"cpu": "10m", "memory": "64Mi"}, "limits": {"memory": "128Mi"}},
                **({"secrets": [WATCHDOG_SECRET]} if watchdog_url else {}),
            },
            **({"config": alertmanager_watchdog_config(watchdog_url)} if watchdog_url else {}),
        },
        "prometheusOperator": {
            "resources": {"requests": {"cpu": "50m", "memory": "128Mi"}, "limits": {"memory": "256Mi"}}
        },
        "prometheus": {
            "prometheusSpec": {
                "retention": "10d",
                "retentionSize": "9GB",
                "resources": {"requests": {"cpu": "200m", "memory": "1Gi"}, "limits": {"memory": "2Gi"}},
                "storageSpec": {
                    "volumeClaimTemplate": {
                        "spec": {
                            "storageClassName": STORAGE_CLASS,
                            "accessModes": ["ReadWriteOnce"],
                            "resources": {"requests": {"storage": "10Gi"}},
                        }
                    }
                },
            }
        },
    }


def loki_values(retention_hours: int, storage_size: str) -> dict[str, Any]:
    """loki 18.11.0 values (grafana-community/helm-charts loki-18.11.0): one binary, filesystem
    storage on a CSI volume, retention enforced by the compactor."""
    return {
        "deploymentMode": "SingleBinary",
        "loki": {
            "auth_enabled": False,
            "commonConfig": {"replication_factor": 1},
            "storage": {"type": "filesystem"},
            "schemaConfig": {
                "configs": [
                    {
                        "from": "2026-01-01",
                        "store": "tsdb",
                        "object_store": "filesystem",
                        "schema": "v13",
                        "index": {"prefix": "index_", "period": "24h"},
                    }
                ]
            },
            "limits_config": {"retention_period": f"{retention_hours}h"},
            "compactor": {"retention_enabled": True, "delete_request_store": "filesystem"},
        },
        "singleBinary": {
            "replicas": 1,
            "persistence": {"enabled": True, "storageClass": STORAGE_CLASS, "size": storage_size},
            "resources": {"requests": {"cpu": "100m", "memory": "512Mi"}, "limits": {"memory": "1Gi"}},
        },
        "read": {"replicas": 0},
        "write": {"replicas": 0},
        "backend": {"replicas": 0},
        "chunksCache": {"enabled": False},
        "resultsCache": {"enabled": False},
        "lokiCanary": {"enabled": False},
        "test": {"enabled": False},
        "gateway": {"enabled": False},
    }


LOKI_PUSH_HOST = f"loki.{MONITORING_NAMESPACE}.svc.cluster.local"
LOKI_PUSH_PORT = 3100


def fluent_bit_values() -> dict[str, Any]:
    """fluent-bit 0.58.1 values (fluent/helm-charts fluent-bit-0.58.1 values.yaml): the chart's
    inputs (container logs under /var/log, the kubelet's journal) and Kubernetes filter, with
    the output replaced: Loki's single-binary Service instead of Elasticsearch."""
    outputs = "\n".join(
        [
            "[OUTPUT]",
            "    Name loki",
            "    Match *",
            f"    Host {LOKI_PUSH_HOST}",
            f"    Port {LOKI_PUSH_PORT}",
            "    Labels job=fluent-bit",
            "    Label_keys $kubernetes['namespace_name'],$kubernetes['pod_name'],$kubernetes['container_name']",
            "    Line_Format json",
            "    Retry_Limit 5",
            "",
        ]
    )
    return {
        "config": {"outputs": outputs},
        "resources": {"requests": {"cpu": "20m", "memory": "48Mi"}, "limits": {"memory": "128Mi"}},
    }


# --------------------------------------------------------------------------------------------
# Memory budget (3 x cx33: 8 GB each)
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class BudgetLine:
    what: str
    replicas: int
    """Per cluster; DaemonSets count one per node."""
    memory_mi: int


def memory_budget(node_count: int, monitoring: bool) -> list[BudgetLine]:
    """Memory requests of the platform, from the values above (tests keep the two in step)."""
    lines = [
        BudgetLine("traefik (DaemonSet)", node_count, 128),
        BudgetLine("hcloud-ccm", 1, 64),
        BudgetLine("kyverno admission", 3 if node_count >= 3 else 1, 256),
        BudgetLine("kyverno background/cleanup/reports", 3, 64),
        BudgetLine("system-upgrade-controller", 1, 32),
        BudgetLine("kured (DaemonSet)", node_count, 32),
    ]
    if monitoring:
        lines += [
            BudgetLine("prometheus", 1, 1024),
            BudgetLine("prometheus-operator", 1, 128),
            BudgetLine("alertmanager", 1, 64),
            BudgetLine("loki (single binary)", 1, 512),
            BudgetLine("fluent-bit (DaemonSet)", node_count, 48),
        ]
    return lines
