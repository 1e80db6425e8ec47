"""Secret config values, read only as Pulumi secrets (never as plain strings).

`load_config` has already checked that every required secret is present; this module only
turns them into `Output[str]` values that stay secret from config to resource.
"""

from __future__ import annotations

from dataclasses import dataclass

import pulumi

from components.config import StackConfig

# The app's secrets: config key -> environment variable the workloads read.
APP_SECRET_ENV = {
    "databaseUrl": "DATABASE_URL",
    "jwtSecret": "SECRET_KEY",
    "adminPassword": "ADMIN_PASSWORD",
    "smtpPassword": "EMAIL_HOST_PASSWORD",
    "storageAccessKeyId": "B2_KEY_ID",
    "storageSecretAccessKey": "B2_APP_KEY",
}


@dataclass(frozen=True)
class EtcdS3Credentials:
    access_key: pulumi.Output[str]
    secret_key: pulumi.Output[str]


@dataclass(frozen=True)
class Secrets:
    hcloud_token: pulumi.Output[str]
    cloudflare_api_token: pulumi.Output[str]
    app: dict[str, pulumi.Output[str]]
    """Keyed by the environment variable name the workloads read."""
    etcd_s3: EtcdS3Credentials | None
    registry_password: pulumi.Output[str] | None = None
    """Kyverno's pull password for the private registry (platform.registry_username set)."""


def read_secrets(cfg: StackConfig, config: pulumi.Config | None = None) -> Secrets:
    config = config or pulumi.Config()
    etcd_s3 = None
    if cfg.cluster.etcd_s3 is not None:
        etcd_s3 = EtcdS3Credentials(
            access_key=config.require_secret("etcdS3AccessKey"),
            secret_key=config.require_secret("etcdS3SecretKey"),
        )
    return Secrets(
        hcloud_token=config.require_secret("hcloudToken"),
        cloudflare_api_token=config.require_secret("cloudflareApiToken"),
        app={env: config.require_secret(key) for key, env in APP_SECRET_ENV.items()},
        etcd_s3=etcd_s3,
        registry_password=(config.require_secret("registryPassword") if cfg.platform.registry_username else None),
    )


def read_monitor_webhook_url(config: pulumi.Config | None = None) -> pulumi.Output[str]:
    """The uptime monitor's Slack-compatible webhook URL (required when `monitor` is set)."""
    return (config or pulumi.Config()).require_secret("monitorWebhookUrl")
