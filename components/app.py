"""HoneydueApp: the honeydue workloads on the cluster, through the gated Kubernetes provider.

Namespace (Pod Security `restricted`), Secrets from the stack's secret config, Redis, the
migration Job (one per api image digest), api / admin / worker, Ingresses through Traefik,
HPA, PDBs, NetworkPolicies and the nightly Postgres backup. The manifests come from the pure
renderers in `components/app_render.py`; this module only registers them, adds the secret
values (Pulumi secret Outputs, never plain strings) and orders them.

Only plain `kubernetes.*` resources: no Helm/yaml/kustomize components, which read the cluster
at preview time (pulumi-kubernetes#3027). Nothing here computes from an Output except the
secret payloads inside `apply`, so a first preview with an unknown kubeconfig works.
"""

from __future__ import annotations

import base64
import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import pulumi
import pulumi_kubernetes as kubernetes
import pulumi_random as random

from components import app_render
from components.app_render import AppSpec, Manifest
from components.base import type_token
from components.config import StackConfig, image_registry

# Kinds the renderer produces -> the resource class that registers them.
_KINDS: Mapping[str, Any] = {
    "Namespace": kubernetes.core.v1.Namespace,
    "Secret": kubernetes.core.v1.Secret,
    "ConfigMap": kubernetes.core.v1.ConfigMap,
    "Service": kubernetes.core.v1.Service,
    "StatefulSet": kubernetes.apps.v1.StatefulSet,
    "Deployment": kubernetes.apps.v1.Deployment,
    "Job": kubernetes.batch.v1.Job,
    "CronJob": kubernetes.batch.v1.CronJob,
    "HorizontalPodAutoscaler": kubernetes.autoscaling.v2.HorizontalPodAutoscaler,
    "PodDisruptionBudget": kubernetes.policy.v1.PodDisruptionBudget,
    "Ingress": kubernetes.networking.v1.Ingress,
    "NetworkPolicy": kubernetes.networking.v1.NetworkPolicy,
}
# Margin over the Job's own activeDeadlineSeconds: the Job fails first and reports why.
MIGRATION_TIMEOUT_MARGIN_SECONDS = 120


def dockerconfigjson(server: str, username: str, password: str) -> str:
    """The `.dockerconfigjson` payload of a registry pull Secret."""
    auth = base64.b64encode(f"{username}:{password}".encode()).decode()
    return json.dumps({"auths": {server: {"username": username, "password": password, "auth": auth}}})


@dataclass(frozen=True)
class HoneydueAppArgs:
    spec: AppSpec
    """Every manifest input, plain values from config (see app_render.AppSpec)."""
    app_secrets: Mapping[str, pulumi.Input[str]]
    """Secret values by environment variable name (DATABASE_URL, ...): Pulumi secrets."""
    registry_server: str
    """Registry host of the api/admin/worker images (the pull Secret's key)."""
    registry_username: pulumi.Input[str]
    registry_password: pulumi.Input[str]
    protect: bool
    """Protect the Redis password (a new one would lock api/worker out of the queue's data)."""
    after: Sequence[pulumi.Resource] = field(default_factory=tuple)
    """Resources the namespace, and so everything, waits for (the platform: CSI, Traefik)."""

    @classmethod
    def from_config(
        cls,
        cfg: StackConfig,
        app_secrets: Mapping[str, pulumi.Input[str]],
        registry_password: pulumi.Input[str] | None,
        after: Sequence[pulumi.Resource] = (),
    ) -> HoneydueAppArgs:
        """The pull account is the platform's (registryUsername, one account for Kyverno's
        signature look-ups and the kubelet's pulls); its password the secret registryPassword."""
        spec = app_render.app_spec(cfg, secret_env=tuple(sorted(app_secrets)))
        username = cfg.platform.registry_username
        if not username or registry_password is None:
            # load_config already refuses this config; kept for direct callers.
            raise ValueError("the app needs registryUsername and the secret registryPassword (its pull Secret)")
        return cls(
            spec=spec,
            app_secrets=app_secrets,
            registry_server=image_registry(cfg.workloads.images["api"]),
            registry_username=username,
            registry_password=registry_password,
            protect=cfg.protect,
            after=tuple(after),
        )


class HoneydueApp(pulumi.ComponentResource):
    namespace: pulumi.Output[str]
    """Name of the app namespace."""
    migration_job_name: str
    """Name of this release's migration Job (from the api image digest)."""
    resources: dict[str, pulumi.CustomResource]
    """Every registered object by its renderer role key."""

    def __init__(self, name: str, args: HoneydueAppArgs, opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__(type_token("app", "HoneydueApp"), name, None, opts)
        spec = args.spec
        manifests = app_render.render_app(spec)
        missing = set(spec.secret_env) - set(args.app_secrets)
        if missing:
            raise ValueError(f"HoneydueApp: no secret value for {sorted(missing)}")

        redis_password = random.RandomPassword(
            f"{name}-redis-password",
            length=40,
            # Alphanumeric: it goes into redis.conf and a URL-free env var without escaping.
            special=False,
            opts=pulumi.ResourceOptions(parent=self, protect=args.protect),
        )
        string_data: dict[str, Mapping[str, pulumi.Input[str]]] = {
            "app-secret": {key: args.app_secrets[key] for key in spec.secret_env},
            "redis-secret": {
                "REDIS_PASSWORD": redis_password.result,
                "redis.conf": pulumi.Output.secret(redis_password.result.apply(app_render.redis_config)),
            },
            "pull-secret": {
                ".dockerconfigjson": pulumi.Output.secret(
                    pulumi.Output.all(args.registry_username, args.registry_password).apply(
                        lambda v: dockerconfigjson(args.registry_server, v[0], v[1])
                    )
                )
            },
        }

        self.resources = {}
        ns = self._register(name, "namespace", manifests["namespace"], depends_on=list(args.after))
        prerequisites: list[pulumi.Resource] = [ns]
        for role in ("app-secret", "redis-secret", "pull-secret", "env", "backup-script"):
            prerequisites.append(
                self._register(name, role, manifests[role], depends_on=[ns], string_data=string_data.get(role))
            )
        # Policies first: a pod started before its allow rules exist would see default deny
        # only, or no policy at all; either way its first connections would be wrong.
        policies = [
            self._register(name, role, doc, depends_on=[ns])
            for role, doc in manifests.items()
            if role.startswith("netpol-")
        ]
        prerequisites += policies

        self._register(name, "redis-service", manifests["redis-service"], depends_on=[ns])
        redis = self._register(name, "redis", manifests["redis"], depends_on=prerequisites)
        # Awaited by the provider until Complete (no pulumi.com/skipAwait); a Failed condition
        # fails `pulumi up` at once, and api/worker, which depend on it, are then not touched:
        # the running version keeps serving. A new api digest renames the Job, which the engine
        # handles as a replacement: the new Job is created (and awaited) first, the old one is
        # deleted at the end of a successful update. The same digest leaves the Job unchanged,
        # so nothing migrates twice.
        migrate = self._register(
            name,
            "migrate",
            manifests["migrate"],
            depends_on=[*prerequisites, redis],
            custom_timeouts=pulumi.CustomTimeouts(
                create=f"{spec.app.migration_timeout_seconds + MIGRATION_TIMEOUT_MARGIN_SECONDS}s",
                update=f"{spec.app.migration_timeout_seconds + MIGRATION_TIMEOUT_MARGIN_SECONDS}s",
            ),
        )
        self.migration_job_name = manifests["migrate"]["metadata"]["name"]
        after_migration = [*prerequisites, redis, migrate]
        # The HPA owns the api's replica count once it exists; config sets the starting count.
        self._register(name, "api", manifests["api"], depends_on=after_migration, ignore_changes=["spec.replicas"])
        self._register(name, "worker", manifests["worker"], depends_on=after_migration)
        self._register(name, "admin", manifests["admin"], depends_on=prerequisites)
        for role, doc in manifests.items():
            if role not in self.resources:
                self._register(name, role, doc, depends_on=[ns])

        self.namespace = pulumi.Output.from_input(spec.namespace)
        self.register_outputs({"namespace": self.namespace, "migration_job_name": self.migration_job_name})

    def _register(
        self,
        name: str,
        role: str,
        doc: Manifest,
        depends_on: list[pulumi.Resource],
        string_data: Mapping[str, pulumi.Input[str]] | None = None,
        ignore_changes: list[str] | None = None,
        custom_timeouts: pulumi.CustomTimeouts | None = None,
    ) -> pulumi.CustomResource:
        cls = _KINDS[doc["kind"]]
        kwargs: dict[str, Any] = {"metadata": doc["metadata"]}
        for key, arg in (("spec", "spec"), ("data", "data"), ("type", "type")):
            if key in doc:
                kwargs[arg] = doc[key]
        if string_data is not None:
            kwargs["string_data"] = dict(string_data)
        resource: pulumi.CustomResource = cls(
            f"{name}-{role}",
            **kwargs,
            opts=pulumi.ResourceOptions(
                parent=self,
                depends_on=depends_on,
                ignore_changes=ignore_changes,
                custom_timeouts=custom_timeouts,
            ),
        )
        self.resources[role] = resource
        return resource
