"""Pure renderers of the honeydue workload manifests (components/app.py registers them).

`render_app(spec)` takes plain, resolved values (`AppSpec`) and returns every Kubernetes object
of the app as a plain dict in API shape (camelCase), keyed by a stable role. Nothing here knows
Pulumi: the component passes `metadata`/`spec` of each dict to the matching `kubernetes.*`
resource, and the tests feed the same dicts to kubernetes-validate, checkov and the
NetworkPolicy analyzer. Secret *values* never enter this module: Secrets are rendered with
their key names only; the component adds `stringData` from Pulumi secret Outputs.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from components import platform_render
from components.config import AppConfig, Resources, StackConfig

Manifest = dict[str, Any]

# --- Names owned by the platform (components/platform_render.py): taken from there, not copied.
PLATFORM_NAMESPACE = platform_render.KUBE_SYSTEM
SECURITY_HEADERS_MIDDLEWARE = platform_render.middleware_ref(platform_render.SECURITY_HEADERS)
RATE_LIMIT_MIDDLEWARE = platform_render.middleware_ref(platform_render.RATE_LIMIT)
TLS_OPTION = f"{platform_render.KUBE_SYSTEM}-{platform_render.TLS_OPTION}@kubernetescrd"
# K3s' bundled Traefik registers this IngressClass; the default TLSStore (named "default")
# holds the Cloudflare Origin CA certificate, so Ingress TLS entries name no secret.
INGRESS_CLASS = "traefik"
WEBSECURE_ENTRYPOINT = "websecure"
# CoreDNS of K3s: namespace kube-system, label k8s-app=kube-dns (k3s manifests/coredns.yaml).
DNS_POD_LABELS = {"k8s-app": "kube-dns"}

# --- Names inside the app namespace -----------------------------------------------------------
APP_SECRET = "honeydue-app"
REDIS_SECRET = "honeydue-redis"
PULL_SECRET = "honeydue-registry"
ENV_CONFIGMAP = "honeydue-env"
BACKUP_CONFIGMAP = "honeydue-pg-backup"
REDIS_SERVICE = "redis"
API_PORT = 8000
ADMIN_PORT = 3000
REDIS_PORT = 6379
HEALTH_PATH = "/api/health/"
# Non-root IDs above 10000 (no clash with host users; checkov CKV_K8S_40).
RUN_AS = 10001
# Egress to the internet: HTTPS (B2, APIs), Postgres (Neon), SMTP submission (587) and SMTPS (465).
INTERNET_PORTS = (443, 5432, 587, 465)
# The metadata service serves user_data (cluster secrets) and the private ranges hold the nodes'
# own services: egress to the internet never reaches them.
METADATA_CIDR = "169.254.169.254/32"
PRIVATE_CIDRS = ("10.0.0.0/8", "172.16.0.0/12", "192.168.0.0/16", "100.64.0.0/10", "169.254.0.0/16")

# Per-node pod subnet size (kube-controller-manager --node-cidr-mask-size, default 24).
NODE_CIDR_MASK = 24
TEMPLATES = Path(__file__).resolve().parent / "templates" / "app"
MIGRATE_ARGS = ("--migrate-only",)


@dataclass(frozen=True)
class AppSpec:
    """Everything the manifests depend on, as plain values (all known at preview time)."""

    environment: str
    images: Mapping[str, str]
    """api, admin, worker, redis; each registry/repo@sha256:<hex>."""
    replicas: Mapping[str, int]
    resources: Mapping[str, Resources]
    api_hostnames: tuple[str, ...]
    """Hostnames routed to the api (its own and the landing page's apex and www)."""
    admin_hostname: str
    secret_env: tuple[str, ...]
    """Names of the variables in the app Secret (DATABASE_URL, ...), as keys only."""
    node_cidrs: tuple[str, ...]
    """Where Traefik (hostNetwork) connects from: the nodes' private subnet and the host-side
    addresses of each node's pod subnet (see node_gateway_cidrs)."""
    app: AppConfig
    """The `app` config key: namespace, autoscaling, timeouts, worker, env, backup."""

    @property
    def namespace(self) -> str:
        return self.app.namespace


# App Secret key -> variable name in the backup container (rclone's env-configured remote "b2").
BACKUP_SECRET_ENV = {"B2_KEY_ID": "RCLONE_CONFIG_B2_ACCESS_KEY_ID", "B2_APP_KEY": "RCLONE_CONFIG_B2_SECRET_ACCESS_KEY"}


def app_spec(cfg: StackConfig, secret_env: Sequence[str]) -> AppSpec:
    """The renderer's input from the validated stack and app config (plain values only)."""
    return AppSpec(
        environment=cfg.environment,
        images=dict(cfg.workloads.images),
        replicas=dict(cfg.workloads.replicas),
        resources=dict(cfg.workloads.resources),
        api_hostnames=(cfg.names.api_hostname, *cfg.names.extra_hostnames),
        admin_hostname=cfg.names.admin_hostname,
        secret_env=tuple(secret_env),
        node_cidrs=(cfg.network.private_subnet_cidr, *node_gateway_cidrs(cfg.network.cluster_cidr)),
        app=cfg.app,
    )


def node_gateway_cidrs(cluster_cidr: str, node_mask: int = NODE_CIDR_MASK) -> tuple[str, ...]:
    """The host-side addresses of every node's pod subnet, as /31 blocks.

    Traefik runs on the host network, so its connections to pods do not come from a pod IP:
    to a pod on another node they leave through flannel's WireGuard device, whose address is
    the node subnet's network address (flannel `pkg/backend/wireguard/wireguard.go`:
    `dev.Configure(lease.Subnet.IP, ...)`); to a pod on the same node through the bridge
    `cni0`, which holds the subnet's first host (.1). Pods get .2 and up, so `<subnet>/31` of
    each node subnet admits the nodes and no pod. Each node gets a /24 of the cluster CIDR
    (kube-controller-manager's node-cidr-mask-size default, which K3s keeps).
    """
    network = ipaddress.IPv4Network(cluster_cidr)
    if network.prefixlen > node_mask:
        # Smaller than one node subnet: not a working K3s layout; admit the range rather than fail.
        return (str(network),)
    return tuple(f"{subnet.network_address}/31" for subnet in network.subnets(new_prefix=node_mask))


def image_digest(image: str) -> str:
    """The hex digest of a pinned image reference."""
    _, _, digest = image.partition("@sha256:")
    if len(digest) != 64:
        raise ValueError(f"not pinned by digest: {image}")
    return digest


def migration_job_name(api_image: str) -> str:
    """One Job per api image: a new digest is a new Job (it migrates once), the same digest is
    the same Job (nothing runs again)."""
    return f"migrate-{image_digest(api_image)[:12]}"


def backup_script() -> str:
    return (TEMPLATES / "pg-backup.sh").read_text()


# --------------------------------------------------------------------------------------------
# Building blocks
# --------------------------------------------------------------------------------------------


def labels(role: str) -> dict[str, str]:
    return {"app.kubernetes.io/name": role, "app.kubernetes.io/part-of": "honeydue"}


def _selector(role: str) -> dict[str, str]:
    return {"app.kubernetes.io/name": role}


def _meta(spec: AppSpec, name: str, role: str, **extra: Any) -> dict[str, Any]:
    meta: dict[str, Any] = {"name": name, "namespace": spec.namespace, "labels": labels(role)}
    meta.update(extra)
    return meta


def _resources(r: Resources) -> dict[str, Any]:
    return {
        "requests": {"cpu": r.cpu_request, "memory": r.memory_request},
        "limits": {"cpu": r.cpu_limit, "memory": r.memory_limit},
    }


def _container_security() -> dict[str, Any]:
    return {
        "allowPrivilegeEscalation": False,
        "privileged": False,
        "readOnlyRootFilesystem": True,
        "runAsNonRoot": True,
        "runAsUser": RUN_AS,
        "runAsGroup": RUN_AS,
        "capabilities": {"drop": ["ALL"]},
        "seccompProfile": {"type": "RuntimeDefault"},
    }


def _pod_security() -> dict[str, Any]:
    return {
        "runAsNonRoot": True,
        "runAsUser": RUN_AS,
        "runAsGroup": RUN_AS,
        "fsGroup": RUN_AS,
        "seccompProfile": {"type": "RuntimeDefault"},
    }


def _secret_ref(secret: str, key: str, env: str | None = None) -> dict[str, Any]:
    return {"name": env or key, "valueFrom": {"secretKeyRef": {"name": secret, "key": key}}}


def _app_env(spec: AppSpec) -> list[dict[str, Any]]:
    """Secret variables of api, worker and the migration Job: references, never values."""
    env = [_secret_ref(APP_SECRET, key) for key in spec.secret_env]
    env.append(_secret_ref(REDIS_SECRET, "REDIS_PASSWORD"))
    return env


def _tmp_volume() -> tuple[dict[str, Any], dict[str, Any]]:
    """Writable /tmp on a read-only root filesystem (memory-backed, bounded)."""
    return (
        {"name": "tmp", "emptyDir": {"medium": "Memory", "sizeLimit": "64Mi"}},
        {"name": "tmp", "mountPath": "/tmp"},
    )


def _pod_spec(
    spec: AppSpec, containers: list[dict[str, Any]], volumes: list[dict[str, Any]], **extra: Any
) -> dict[str, Any]:
    pod: dict[str, Any] = {
        "automountServiceAccountToken": False,
        "enableServiceLinks": False,
        "securityContext": _pod_security(),
        "imagePullSecrets": [{"name": PULL_SECRET}],
        "containers": containers,
        "volumes": volumes,
    }
    pod.update(extra)
    return pod


def _http_probes(port: int, path: str, startup_failures: int) -> dict[str, Any]:
    get = {"path": path, "port": port}
    return {
        # The startup probe holds off the others while the process starts (up to
        # startup_failures x 5 s); migrations no longer run at start, they are a Job.
        "startupProbe": {"httpGet": get, "periodSeconds": 5, "failureThreshold": startup_failures},
        "readinessProbe": {"httpGet": get, "periodSeconds": 10, "timeoutSeconds": 3, "failureThreshold": 3},
        "livenessProbe": {"httpGet": get, "periodSeconds": 20, "timeoutSeconds": 5, "failureThreshold": 3},
    }


def _spread(role: str) -> list[dict[str, Any]]:
    # ScheduleAnyway: a lost node must not leave replicas Pending; the scheduler still spreads.
    return [
        {
            "maxSkew": 1,
            "topologyKey": "kubernetes.io/hostname",
            "whenUnsatisfiable": "ScheduleAnyway",
            "labelSelector": {"matchLabels": _selector(role)},
        }
    ]


def _web_deployment(spec: AppSpec, role: str, port: int, path: str, extra_mounts: Sequence[str] = ()) -> Manifest:
    tmp_vol, tmp_mount = _tmp_volume()
    volumes, mounts = [tmp_vol], [tmp_mount]
    for i, mount_path in enumerate(extra_mounts):
        volumes.append({"name": f"cache-{i}", "emptyDir": {"sizeLimit": "256Mi"}})
        mounts.append({"name": f"cache-{i}", "mountPath": mount_path})
    container: dict[str, Any] = {
        "name": role,
        "image": spec.images[role],
        "imagePullPolicy": "IfNotPresent",
        "ports": [{"name": "http", "containerPort": port, "protocol": "TCP"}],
        "envFrom": [{"configMapRef": {"name": ENV_CONFIGMAP}}],
        "resources": _resources(spec.resources[role]),
        "securityContext": _container_security(),
        "volumeMounts": mounts,
        **_http_probes(port, path, 24),
    }
    if role == "api":
        container["env"] = _app_env(spec)
    return {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": _meta(spec, role, role),
        "spec": {
            "replicas": spec.replicas[role],
            "revisionHistoryLimit": 5,
            "selector": {"matchLabels": _selector(role)},
            "strategy": {"type": "RollingUpdate", "rollingUpdate": {"maxUnavailable": 0, "maxSurge": 1}},
            "template": {
                "metadata": {"labels": labels(role)},
                "spec": _pod_spec(spec, [container], volumes, topologySpreadConstraints=_spread(role)),
            },
        },
    }


def _service(spec: AppSpec, name: str, role: str, port: int) -> Manifest:
    return {
        "apiVersion": "v1",
        "kind": "Service",
        "metadata": _meta(spec, name, role),
        "spec": {
            "type": "ClusterIP",
            "selector": _selector(role),
            "ports": [
                {"name": "tcp" if role == "redis" else "http", "port": port, "targetPort": port, "protocol": "TCP"}
            ],
        },
    }


def _pdb(spec: AppSpec, role: str) -> Manifest:
    # maxUnavailable 1 (not minAvailable): a drain always proceeds, also with a single replica
    # (the worker, staging), while a rolling drain of several nodes keeps the rest serving.
    return {
        "apiVersion": "policy/v1",
        "kind": "PodDisruptionBudget",
        "metadata": _meta(spec, role, role),
        "spec": {"maxUnavailable": 1, "selector": {"matchLabels": _selector(role)}},
    }


# --------------------------------------------------------------------------------------------
# The objects
# --------------------------------------------------------------------------------------------


def namespace(spec: AppSpec) -> Manifest:
    psa = {f"pod-security.kubernetes.io/{mode}": "restricted" for mode in ("enforce", "audit", "warn")}
    psa.update({f"pod-security.kubernetes.io/{mode}-version": "v1.34" for mode in ("enforce", "audit", "warn")})
    return {
        "apiVersion": "v1",
        "kind": "Namespace",
        "metadata": {"name": spec.namespace, "labels": {**labels("namespace"), **psa}},
    }


def secrets(spec: AppSpec) -> dict[str, Manifest]:
    """Secrets without data: the component fills `stringData` from Pulumi secret Outputs."""

    def secret(name: str, role: str, typ: str) -> Manifest:
        return {"apiVersion": "v1", "kind": "Secret", "metadata": _meta(spec, name, role), "type": typ}

    return {
        "app-secret": secret(APP_SECRET, "api", "Opaque"),
        "redis-secret": secret(REDIS_SECRET, "redis", "Opaque"),
        "pull-secret": secret(PULL_SECRET, "registry", "kubernetes.io/dockerconfigjson"),
    }


def env_configmap(spec: AppSpec) -> Manifest:
    data = dict(spec.app.env)
    data.update({"REDIS_HOST": f"{REDIS_SERVICE}.{spec.namespace}.svc", "REDIS_PORT": str(REDIS_PORT)})
    return {"apiVersion": "v1", "kind": "ConfigMap", "metadata": _meta(spec, ENV_CONFIGMAP, "api"), "data": data}


def redis_config(password: str) -> str:
    """redis.conf, built inside the component's apply from the secret password: it lives only in
    the Redis Secret, so the password is in no argument, probe or process command line."""
    return "\n".join(
        [
            f'requirepass "{password}"',
            "appendonly yes",
            "appendfsync everysec",
            "dir /data",
            "port 6379",
            "",
        ]
    )


def redis(spec: AppSpec) -> dict[str, Manifest]:
    role = "redis"
    container = {
        "name": role,
        "image": spec.images[role],
        "imagePullPolicy": "IfNotPresent",
        "command": ["redis-server", "/etc/redis/redis.conf"],
        "ports": [{"name": "tcp", "containerPort": REDIS_PORT, "protocol": "TCP"}],
        # redis-cli reads the password from REDISCLI_AUTH: the probe carries no secret.
        "env": [_secret_ref(REDIS_SECRET, "REDIS_PASSWORD", "REDISCLI_AUTH")],
        "resources": _resources(spec.resources[role]),
        "securityContext": _container_security(),
        "readinessProbe": {
            "exec": {"command": ["sh", "-c", "redis-cli ping | grep -q PONG"]},
            "periodSeconds": 10,
            "timeoutSeconds": 3,
        },
        "livenessProbe": {"tcpSocket": {"port": REDIS_PORT}, "periodSeconds": 20, "timeoutSeconds": 3},
        "volumeMounts": [
            {"name": "data", "mountPath": "/data"},
            {"name": "config", "mountPath": "/etc/redis", "readOnly": True},
            {"name": "tmp", "mountPath": "/tmp"},
        ],
    }
    volumes = [
        {
            "name": "config",
            "secret": {"secretName": REDIS_SECRET, "items": [{"key": "redis.conf", "path": "redis.conf"}]},
        },
        _tmp_volume()[0],
    ]
    redis_pod = _pod_spec(spec, [container], volumes)
    # Redis comes from Docker Hub, not the private registry: no pull secret.
    del redis_pod["imagePullSecrets"]
    statefulset = {
        "apiVersion": "apps/v1",
        "kind": "StatefulSet",
        "metadata": _meta(spec, role, role),
        "spec": {
            "serviceName": REDIS_SERVICE,
            "replicas": 1,
            "selector": {"matchLabels": _selector(role)},
            "template": {
                "metadata": {"labels": labels(role)},
                "spec": redis_pod,
            },
            # The append-only file lives on a CSI volume (the platform's default StorageClass,
            # hcloud-volumes), so a rescheduled Redis keeps its queue.
            "volumeClaimTemplates": [
                {
                    "metadata": {"name": "data", "labels": labels(role)},
                    "spec": {
                        "accessModes": ["ReadWriteOnce"],
                        "resources": {"requests": {"storage": spec.app.redis_storage}},
                    },
                }
            ],
        },
    }
    return {"redis-service": _service(spec, REDIS_SERVICE, role, REDIS_PORT), "redis": statefulset}


def migration_job(spec: AppSpec) -> Manifest:
    tmp_vol, tmp_mount = _tmp_volume()
    container = {
        "name": "migrate",
        "image": spec.images["api"],
        "imagePullPolicy": "IfNotPresent",
        "args": list(MIGRATE_ARGS),
        "envFrom": [{"configMapRef": {"name": ENV_CONFIGMAP}}],
        "env": _app_env(spec),
        "resources": _resources(spec.resources["api"]),
        "securityContext": _container_security(),
        "volumeMounts": [tmp_mount],
    }
    return {
        "apiVersion": "batch/v1",
        "kind": "Job",
        "metadata": _meta(
            spec,
            migration_job_name(spec.images["api"]),
            "migrate",
            # A Job that failed in an earlier `pulumi up` is replaced (run again) by the next one
            # instead of being awaited forever (pulumi-kubernetes Job await docs).
            annotations={"pulumi.com/replaceUnready": "true"},
        ),
        "spec": {
            # One retry for a transient failure (Neon waking up); the deadline bounds both.
            "backoffLimit": 1,
            "activeDeadlineSeconds": spec.app.migration_timeout_seconds,
            # No ttlSecondsAfterFinished: a Job deleted by the cluster would be recreated (and
            # the migration run again) by the next `pulumi up`.
            "template": {
                "metadata": {"labels": labels("migrate")},
                "spec": _pod_spec(spec, [container], [tmp_vol], restartPolicy="Never"),
            },
        },
    }


def worker(spec: AppSpec) -> Manifest:
    tmp_vol, tmp_mount = _tmp_volume()
    probe = {"exec": {"command": list(spec.app.worker.health_command)}, "timeoutSeconds": 5}
    container = {
        "name": "worker",
        "image": spec.images["worker"],
        "imagePullPolicy": "IfNotPresent",
        "command": list(spec.app.worker.command),
        "envFrom": [{"configMapRef": {"name": ENV_CONFIGMAP}}],
        "env": _app_env(spec),
        "resources": _resources(spec.resources["worker"]),
        "securityContext": _container_security(),
        "volumeMounts": [tmp_mount],
        "readinessProbe": {**probe, "periodSeconds": 30},
        "livenessProbe": {**probe, "periodSeconds": 60, "failureThreshold": 3},
    }
    return {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": _meta(spec, "worker", "worker"),
        "spec": {
            # The Asynq scheduler is a singleton: exactly one pod, and Recreate so that a rollout
            # never runs the old and the new scheduler side by side.
            "replicas": 1,
            "revisionHistoryLimit": 5,
            "selector": {"matchLabels": _selector("worker")},
            "strategy": {"type": "Recreate"},
            "template": {
                "metadata": {"labels": labels("worker")},
                "spec": _pod_spec(spec, [container], [tmp_vol], terminationGracePeriodSeconds=60),
            },
        },
    }


def api_hpa(spec: AppSpec) -> Manifest:
    return {
        "apiVersion": "autoscaling/v2",
        "kind": "HorizontalPodAutoscaler",
        "metadata": _meta(spec, "api", "api"),
        "spec": {
            "scaleTargetRef": {"apiVersion": "apps/v1", "kind": "Deployment", "name": "api"},
            "minReplicas": spec.app.api_autoscaling.min_replicas,
            "maxReplicas": spec.app.api_autoscaling.max_replicas,
            "metrics": [
                {
                    "type": "Resource",
                    "resource": {"name": "cpu", "target": {"type": "Utilization", "averageUtilization": 70}},
                }
            ],
        },
    }


def ingresses(spec: AppSpec) -> dict[str, Manifest]:
    """One Ingress per public hostname, websecure only, the platform's TLS and middlewares."""
    routes = [(host, "api", API_PORT) for host in spec.api_hostnames] + [(spec.admin_hostname, "admin", ADMIN_PORT)]
    out: dict[str, Manifest] = {}
    for host, service, port in routes:
        name = host.replace(".", "-")
        out[f"ingress-{name}"] = {
            "apiVersion": "networking.k8s.io/v1",
            "kind": "Ingress",
            "metadata": _meta(
                spec,
                name,
                service,
                annotations={
                    "traefik.ingress.kubernetes.io/router.entrypoints": WEBSECURE_ENTRYPOINT,
                    "traefik.ingress.kubernetes.io/router.tls": "true",
                    "traefik.ingress.kubernetes.io/router.tls.options": TLS_OPTION,
                    "traefik.ingress.kubernetes.io/router.middlewares": f"{SECURITY_HEADERS_MIDDLEWARE},{RATE_LIMIT_MIDDLEWARE}",
                },
            ),
            "spec": {
                "ingressClassName": INGRESS_CLASS,
                # No secretName: Traefik serves the default TLSStore's Origin CA certificate.
                "tls": [{"hosts": [host]}],
                "rules": [
                    {
                        "host": host,
                        "http": {
                            "paths": [
                                {
                                    "path": "/",
                                    "pathType": "Prefix",
                                    "backend": {"service": {"name": service, "port": {"number": port}}},
                                }
                            ]
                        },
                    }
                ],
            },
        }
    return out


def _netpol(spec: AppSpec, name: str, pod_selector: dict[str, Any], **rules: Any) -> Manifest:
    return {
        "apiVersion": "networking.k8s.io/v1",
        "kind": "NetworkPolicy",
        "metadata": _meta(spec, name, "network-policy"),
        "spec": {"podSelector": pod_selector, **rules},
    }


def _ports(ports: Sequence[int]) -> list[dict[str, Any]]:
    return [{"protocol": "TCP", "port": p} for p in ports]


def _pods(*roles: str) -> dict[str, Any]:
    return {"matchExpressions": [{"key": "app.kubernetes.io/name", "operator": "In", "values": list(roles)}]}


def network_policies(spec: AppSpec) -> dict[str, Manifest]:
    """Default deny, then exactly: DNS; Traefik -> api:8000, admin:3000; api/worker -> Redis;
    api/worker/migrate/backup -> internet on INTERNET_PORTS, never the metadata service or
    private ranges. Policies are additive (a union), so each allow names its pods."""
    internet = {
        "ipBlock": {"cidr": "0.0.0.0/0", "except": [METADATA_CIDR, *PRIVATE_CIDRS]},
    }
    dns_peer = {
        "namespaceSelector": {"matchLabels": {"kubernetes.io/metadata.name": PLATFORM_NAMESPACE}},
        "podSelector": {"matchLabels": DNS_POD_LABELS},
    }
    # Traefik runs on the host network: no pod selector matches it, only its source addresses.
    traefik = [{"ipBlock": {"cidr": cidr}} for cidr in spec.node_cidrs]
    return {
        "netpol-default-deny": _netpol(spec, "default-deny", {}, policyTypes=["Ingress", "Egress"]),
        "netpol-dns": _netpol(
            spec,
            "allow-dns",
            {},
            policyTypes=["Egress"],
            egress=[
                {
                    "to": [dns_peer],
                    "ports": [{"protocol": "UDP", "port": 53}, {"protocol": "TCP", "port": 53}],
                }
            ],
        ),
        "netpol-traefik-api": _netpol(
            spec,
            "allow-traefik-to-api",
            {"matchLabels": _selector("api")},
            policyTypes=["Ingress"],
            ingress=[{"from": traefik, "ports": _ports([API_PORT])}],
        ),
        "netpol-traefik-admin": _netpol(
            spec,
            "allow-traefik-to-admin",
            {"matchLabels": _selector("admin")},
            policyTypes=["Ingress"],
            ingress=[{"from": traefik, "ports": _ports([ADMIN_PORT])}],
        ),
        "netpol-redis-ingress": _netpol(
            spec,
            "allow-redis-from-app",
            {"matchLabels": _selector("redis")},
            policyTypes=["Ingress"],
            ingress=[{"from": [{"podSelector": _pods("api", "worker")}], "ports": _ports([REDIS_PORT])}],
        ),
        "netpol-app-redis": _netpol(
            spec,
            "allow-app-to-redis",
            _pods("api", "worker"),
            policyTypes=["Egress"],
            egress=[{"to": [{"podSelector": {"matchLabels": _selector("redis")}}], "ports": _ports([REDIS_PORT])}],
        ),
        "netpol-internet": _netpol(
            spec,
            "allow-internet-egress",
            _pods("api", "worker", "migrate", "backup"),
            policyTypes=["Egress"],
            egress=[{"to": [internet], "ports": _ports(INTERNET_PORTS)}],
        ),
    }


def backup(spec: AppSpec) -> dict[str, Manifest]:
    role = "backup"
    tmp_vol, tmp_mount = _tmp_volume()
    env: list[dict[str, Any]] = [
        _secret_ref(APP_SECRET, "DATABASE_URL"),
        *(_secret_ref(APP_SECRET, key, var) for key, var in BACKUP_SECRET_ENV.items()),
        {"name": "RCLONE_CONFIG_B2_TYPE", "value": "s3"},
        {"name": "RCLONE_CONFIG_B2_PROVIDER", "value": "Other"},
        {"name": "RCLONE_CONFIG_B2_ENDPOINT", "value": f"https://{spec.app.backup.endpoint}"},
        {"name": "RCLONE_CONFIG_B2_REGION", "value": spec.app.backup.region},
        # rclone writes its cache and config lookups under HOME; the root filesystem is read-only.
        {"name": "HOME", "value": "/tmp"},
        {"name": "BACKUP_BUCKET", "value": spec.app.backup.bucket},
        {"name": "BACKUP_FOLDER", "value": spec.app.backup.folder},
        {"name": "BACKUP_RETENTION_DAYS", "value": str(spec.app.backup.retention_days)},
    ]
    container = {
        "name": role,
        "image": spec.app.backup.image,
        "imagePullPolicy": "IfNotPresent",
        "command": ["bash", "/scripts/pg-backup.sh"],
        "env": env,
        "resources": {"requests": {"cpu": "50m", "memory": "64Mi"}, "limits": {"cpu": "500m", "memory": "256Mi"}},
        "securityContext": _container_security(),
        "volumeMounts": [tmp_mount, {"name": "scripts", "mountPath": "/scripts", "readOnly": True}],
    }
    volumes = [tmp_vol, {"name": "scripts", "configMap": {"name": BACKUP_CONFIGMAP, "defaultMode": 0o444}}]
    cronjob = {
        "apiVersion": "batch/v1",
        "kind": "CronJob",
        "metadata": _meta(spec, "pg-backup", role),
        "spec": {
            "schedule": spec.app.backup.schedule,
            "timeZone": "Etc/UTC",
            # Never two dumps at once; a missed run more than an hour late is skipped, not piled up.
            "concurrencyPolicy": "Forbid",
            "startingDeadlineSeconds": 3600,
            "successfulJobsHistoryLimit": 3,
            "failedJobsHistoryLimit": 3,
            "jobTemplate": {
                "metadata": {"labels": labels(role)},
                "spec": {
                    "backoffLimit": 2,
                    "activeDeadlineSeconds": 3 * 3600,
                    "template": {
                        "metadata": {"labels": labels(role)},
                        "spec": _pod_spec(spec, [container], volumes, restartPolicy="Never"),
                    },
                },
            },
        },
    }
    configmap = {
        "apiVersion": "v1",
        "kind": "ConfigMap",
        "metadata": _meta(spec, BACKUP_CONFIGMAP, role),
        "data": {"pg-backup.sh": backup_script()},
    }
    return {"backup-script": configmap, "backup": cronjob}


def render_app(spec: AppSpec) -> dict[str, Manifest]:
    """Every object of the app by stable role key, in creation order."""
    out: dict[str, Manifest] = {"namespace": namespace(spec)}
    out.update(secrets(spec))
    out["env"] = env_configmap(spec)
    out.update(redis(spec))
    out["migrate"] = migration_job(spec)
    out["api"] = _web_deployment(spec, "api", API_PORT, HEALTH_PATH)
    out["api-service"] = _service(spec, "api", "api", API_PORT)
    out["api-hpa"] = api_hpa(spec)
    out["api-pdb"] = _pdb(spec, "api")
    # Next.js writes its image and fetch cache under .next/cache (standalone layout: /app).
    out["admin"] = _web_deployment(spec, "admin", ADMIN_PORT, "/", extra_mounts=("/app/.next/cache",))
    out["admin-service"] = _service(spec, "admin", "admin", ADMIN_PORT)
    out["admin-pdb"] = _pdb(spec, "admin")
    out["worker"] = worker(spec)
    out["worker-pdb"] = _pdb(spec, "worker")
    out.update(ingresses(spec))
    out.update(network_policies(spec))
    out.update(backup(spec))
    return out
