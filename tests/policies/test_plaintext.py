"""Class 6: plaintext secrets found by value, in every place a Kubernetes object carries text,
and the common name variants; settings whose name merely contains a secret word pass."""

from __future__ import annotations

import base64
from typing import Any

import pytest

from .lib import (
    check,
    config_map,
    container,
    deployment,
    helm_chart,
    helm_chart_config,
    pod_spec,
    resource,
    upgrade_plan,
)

S = "secrets-not-in-plaintext"
# Test credentials built at run time so no scanner mistakes this file for a leak.
AWS = "AKIA" + "ABCDEFGHIJKLMNOP"
GITHUB = "ghp_" + "a1B2" * 9
STRIPE = "sk_live_" + "x9" * 12
JWT = "eyJhbGciOiJIUzI1NiJ9." + "eyJzdWIiOiIxMjM0NTY3ODkwIn0." + "c2lnbmF0dXJlLXZhbHVl"
PEM = "-----BEGIN OPENSSH PRIVATE KEY-----\nb3BlbnNzaC1rZXk=\n-----END OPENSSH PRIVATE KEY-----\n"


def with_container(**fields: Any) -> dict[str, Any]:
    c = container()
    c.update(fields)
    return deployment(spec=pod_spec(containers=[c]))


@pytest.mark.parametrize(
    "r",
    [
        # Name variants, literal values.
        config_map({"SMTP_PASS": "hunter2"}),
        config_map({"PGPASSWORD": "hunter2"}),
        config_map({"MYSQL_ROOT_PASSWORD": "hunter2"}),
        config_map({"AWS_SECRET_ACCESS_KEY": "wJalrXUtnFEMI"}),
        config_map({"HCLOUD_TOKEN": "abc123"}),
        config_map({"signingKey": "k-1"}),
        config_map({"db.password": "hunter2"}),
        config_map({"APITOKEN": "t0k3n"}),
        # By value, whatever the name.
        config_map({"SETTINGS": "https://admin:hunter2@db.internal/app"}),
        config_map({"NOTE": AWS}),
        config_map({"X": GITHUB}),
        config_map({"PAYMENT": STRIPE}),
        config_map({"HEADER": f"Bearer {JWT}"}),
        config_map({"id_ed25519": PEM}),
        # Files inside a ConfigMap.
        config_map({"app.env": "LOG_LEVEL=info\nDB_PASSWORD=hunter2\n"}),
        config_map({"settings.yaml": "database:\n  host: db\n  password: hunter2\n"}),
        config_map({"config.json": '{"smtp": {"user": "a", "pass": "hunter2"}}'}),
        config_map({"app.properties": "spring.datasource.password = hunter2\n"}),
        # binaryData.
        resource(
            "kubernetes:core/v1:ConfigMap",
            "bin",
            {
                "metadata": {"name": "bin", "namespace": "honeydue"},
                "binaryData": {"app.env": base64.b64encode(b"API_TOKEN=t0k3n\n").decode()},
            },
        ),
        resource(
            "kubernetes:core/v1:ConfigMap",
            "bin2",
            {"metadata": {"name": "bin2", "namespace": "honeydue"}, "binaryData": {"blob": "not base64!"}},
        ),
        {**config_map({"DB_PASSWORD": "hunter2"}), "type": "kubernetes:core/v1:ConfigMapPatch"},
        # Arguments and commands.
        with_container(args=["--db-password=hunter2"]),
        with_container(args=["--api-token", "t0k3n"]),
        with_container(command=["sh", "-c", "PGPASSWORD=hunter2 psql -h db"]),
        with_container(command=["curl", "https://user:hunter2@example.com"]),
        # Annotations (object and pod template), JSON in one line included.
        resource(
            "kubernetes:core/v1:ConfigMap",
            "cm-ann",
            {
                "metadata": {
                    "name": "cm",
                    "annotations": {
                        "kubectl.kubernetes.io/last-applied-configuration": '{"data": {"DB_PASSWORD": "hunter2"}}'
                    },
                }
            },
        ),
        resource(
            "kubernetes:core/v1:Service",
            "svc",
            {
                "metadata": {
                    "name": "svc",
                    "namespace": "honeydue",
                    "annotations": {"example.com/api-key": "k3y-value"},
                },
                "spec": {},
            },
        ),
        resource(
            "kubernetes:core/v1:Namespace",
            "ns",
            {"metadata": {"name": "ns", "annotations": {"backup.example.com/target": "s3://AKEY:hunter2@bucket/x"}}},
        ),
        # Helm values and K3s HelmChart / HelmChartConfig.
        resource(
            "kubernetes:helm.sh/v3:Release",
            "kyverno",
            {
                "chart": "kyverno",
                "version": "3.9.0",
                "namespace": "kyverno",
                "values": {"registry": {"password": "hunter2"}},
            },
        ),
        helm_chart(valuesContent="smtp:\n  password: hunter2\n"),
        helm_chart(set={"auth.token": "t0k3n"}),
        helm_chart(valuesContent="stripe:\n  key: hunter2\n"),  # a lone `key` is not a {name, key} reference
        helm_chart_config(values="env:\n  - name: CF_API_TOKEN\n    value: t0k3n\n"),
        # Upgrade Plan containers.
        upgrade_plan(
            image=f"rancher/k3s-upgrade@sha256:{'ab' * 32}", envs=[{"name": "REGISTRY_PASSWORD", "value": "hunter2"}]
        ),
        upgrade_plan(image=f"rancher/k3s-upgrade@sha256:{'ab' * 32}", args=["--token=t0k3n"]),
    ],
)
def test_plaintext_secrets_caught(r: dict[str, Any]) -> None:
    assert check(S, r), r["inputs"]


@pytest.mark.parametrize(
    "data",
    [
        {"JWT_PUBLIC_KEY": "-----BEGIN PUBLIC KEY-----\nMFkw\n-----END PUBLIC KEY-----"},
        {"DB_PASSWORD_FILE": "/run/secrets/db-password"},
        {"TOKEN_TTL": "3600"},
        {"SESSION_TOKEN_TTL": "15m"},
        {"PASSWORD_MIN_LENGTH": "12"},
        {"SECRET_KEY_LENGTH": "64"},
        {"ACCESS_TOKEN_EXPIRY": "1h"},
        {"JWT_ALGORITHM": "RS256"},
        {"API_KEY_HEADER": "X-Api-Key"},
        {"PASSWORD_RESET_ENABLED": "true"},
        {"CSRF_TOKEN_NAME": "csrftoken"},
        {"AWS_ACCESS_KEY_ID_PATH": "/etc/aws/id"},
        {"DB_PASSWORD": "$(DB_PASSWORD_FROM_SECRET)"},
        {"API_URL": "https://api.myhoneydue.com", "REDIS_URL": "redis://redis:6379/0", "KEY_PREFIX": "hd:"},
        {"app.env": "LOG_LEVEL=info\nTOKEN_TTL=3600\nDB_PASSWORD_FILE=/run/secrets/db\n"},
        {"settings.yaml": "auth:\n  tokenTtl: 3600\n  passwordMinLength: 12\n"},
        {"SMTP_PASSWORD": ""},
        {"TOKENIZER_MODEL": "bert-base", "SECRET_NAMESPACE": "vault", "API_KEY_PREFIX": "hd_", "BYPASS_CACHE": "all"},
    ],
)
def test_plaintext_settings_pass(data: dict[str, Any]) -> None:
    assert check(S, config_map(data)) == []


def test_plaintext_legitimate_neighbours() -> None:
    assert check(S, deployment()) == []  # env from secretKeyRef
    c = container()
    c["env"].append({"name": "API_TOKEN", "valueFrom": {"secretKeyRef": {"name": "api", "key": "token"}}})
    c["args"] = ["--config=/etc/app/config.yaml", "--password-file", "/run/secrets/pw", "--token-ttl=3600"]
    c["envFrom"] = [{"secretRef": {"name": "api"}}]
    assert check(S, deployment(spec=pod_spec(containers=[c]))) == []
    # A Secret is where secrets go.
    secret = resource(
        "kubernetes:core/v1:Secret",
        "db",
        {"metadata": {"name": "db", "namespace": "honeydue"}, "stringData": {"password": "x"}},
    )
    assert check(S, secret) == []
    # Values that reference a Secret, and the Traefik config.
    assert check(S, helm_chart(valuesContent="registry:\n  existingSecret: regcred\n  passwordKey: password\n")) == []
    assert check(S, helm_chart_config()) == []
    ann = resource(
        "kubernetes:core/v1:Service",
        "svc",
        {
            "metadata": {
                "name": "svc",
                "annotations": {"traefik.ingress.kubernetes.io/router.middlewares": "honeydue-headers@kubernetescrd"},
            },
            "spec": {},
        },
    )
    assert check(S, ann) == []
