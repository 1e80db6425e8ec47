"""The honeydue workloads (components/app.py): the `app` object key."""

from __future__ import annotations

import re
from collections.abc import Iterator, Mapping
from typing import Annotated, Any

from components.config.base import (
    CRON,
    DNS_LABEL,
    HIDDEN,
    PINNED_BY_DIGEST,
    ConfigModel,
    Problem,
    SecretKey,
    Section,
    matches,
    quantity_at_least,
    rule,
)

# Environment variables the workloads get from the Secret, never from the plain `env` map.
_SECRET_ENV = re.compile(r"(PASSWORD|PASSWD|TOKEN|SECRET|DSN|CREDENTIAL|_KEY$|_KEY_ID$|DATABASE_URL)", re.IGNORECASE)
_ENV_NAME = re.compile(r"^[A-Z_][A-Z0-9_]*$")
ARGV = rule(lambda v: len(v) > 0 and all(v), "must be a non-empty list of strings (an argv, no shell)")
LOWER_NAME = matches(r"[a-z0-9][a-z0-9._/-]*", "must be a non-empty lower-case name (a-z, 0-9, . _ - /)")


def _int_from(low: int, high: int) -> Any:
    return rule(lambda v: low <= v <= high, f"must be an integer from {low} to {high}")


class ApiAutoscaling(ConfigModel):
    min_replicas: Annotated[int, _int_from(1, 50)]
    max_replicas: Annotated[int, _int_from(1, 50)]


class Worker(ConfigModel):
    command: Annotated[tuple[str, ...], ARGV]
    health_command: Annotated[tuple[str, ...], ARGV]


class BackupConfig(ConfigModel):
    image: Annotated[str, PINNED_BY_DIGEST]
    schedule: Annotated[str, CRON]
    endpoint: Annotated[str, LOWER_NAME]
    """S3 endpoint of the B2 bucket, a host name (https is implied)."""
    region: Annotated[str, LOWER_NAME]
    bucket: Annotated[str, LOWER_NAME]
    folder: Annotated[str, LOWER_NAME]
    retention_days: Annotated[int, _int_from(1, 3650)]


class AppConfig(Section):
    TITLE = "app workloads (components/app.py)"
    KEY = "app"
    SECRETS = tuple(
        SecretKey(name, description)
        for name, description in (
            ("databaseUrl", "Postgres connection URL of the API and worker."),
            ("jwtSecret", "Signing key of the API's session tokens."),
            ("adminPassword", "Password of the seeded admin account."),
            ("smtpPassword", "Password of the outgoing mail account."),
            ("storageAccessKeyId", "Object storage (B2) key id."),
            ("storageSecretAccessKey", "Object storage (B2) application key."),
        )
    )
    DESCRIPTION = (
        "The honeydue workloads (components/app.py): {namespace, apiAutoscaling: {minReplicas, maxReplicas}"
        " (replicas.api must lie within), migrationTimeoutSeconds (60-3600; the migration Job's deadline),"
        " redisStorage (PVC size on the default StorageClass), worker: {command, healthCommand} (argv lists run in"
        " the worker image), env (plain, non-secret NAME: value for api, worker and the migration Job;"
        " secret-looking names are refused), backup: {image (pinned by digest; needs bash, pg_dump, gzip,"
        " rclone), schedule (cron), endpoint (B2 S3 host), region, bucket, folder, retentionDays}}. The backup"
        " uses storageAccessKeyId/storageSecretAccessKey."
    )

    namespace: Annotated[
        str,
        rule(
            lambda v: DNS_LABEL.match(v) is not None and not v.startswith("kube-"),
            "must be a DNS label (a-z, 0-9, '-') not starting with kube-",
        ),
    ]
    api_autoscaling: ApiAutoscaling
    migration_timeout_seconds: Annotated[int, _int_from(60, 3600)]
    redis_storage: Annotated[str, quantity_at_least(2**20, "must be a Kubernetes quantity of at least 1Mi, e.g. 1Gi")]
    worker: Worker
    env: Mapping[str, str]
    backup: BackupConfig

    def rule_autoscaling_range(self, stack: Any) -> Iterator[Problem]:
        scaling = self.api_autoscaling
        if scaling.min_replicas > scaling.max_replicas:
            yield Problem(
                "app.apiAutoscaling.maxReplicas",
                scaling.max_replicas,
                f"must be at least minReplicas ({scaling.min_replicas})",
            )

    def rule_env_names(self, stack: Any) -> Iterator[Problem]:
        for name in self.env:
            if not _ENV_NAME.match(name):
                yield Problem(f"app.env.{name}", HIDDEN, "name must be an environment variable name (A-Z, 0-9, _)")
            elif _SECRET_ENV.search(name):
                yield Problem(f"app.env.{name}", HIDDEN, "looks like a secret: set it as a stack secret instead")

    def rule_api_replicas_within_autoscaling(self, stack: Any) -> Iterator[Problem]:
        scaling = self.api_autoscaling
        workloads = stack.workloads
        if workloads is not None:
            api = workloads.replicas["api"]
            if not scaling.min_replicas <= api <= scaling.max_replicas:
                yield Problem(
                    "replicas.api",
                    api,
                    f"must lie within app.apiAutoscaling ({scaling.min_replicas} to {scaling.max_replicas})",
                )

    def rule_backup_image_registry(self, stack: Any) -> Iterator[Problem]:
        if stack.workloads is not None:
            yield from stack.workloads.check_registry("app.backup.image", self.backup.image)

    def rule_pull_account(self, stack: Any) -> Iterator[Problem]:
        platform = stack.platform
        if platform is not None and not platform.registry_username:
            # The app's images come from the private registry: its pull Secret needs the account.
            yield Problem(
                "registryUsername", "", "required: the app's image pull Secret (with the secret registryPassword)"
            )
