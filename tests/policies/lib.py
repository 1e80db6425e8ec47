"""Builders of compliant resources (resources.json shape) and direct policy calls."""

from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Any

from pulumi_policy import (
    PolicyCustomTimeouts,
    PolicyResource,
    PolicyResourceOptions,
    ResourceValidationArgs,
    StackValidationArgs,
    StackValidationPolicy,
)

from policies.guardrails import POLICIES

ROOT = Path(__file__).resolve().parents[2]
POLICY = {p.name: p for p in POLICIES}
DIGEST = "sha256:" + "ab" * 32
API_IMAGE = f"gitea.treytartt.com/admin/honeydue-api@{DIGEST}"
CLOUDFLARE_FIXTURE = ROOT / "tools" / "fixtures" / "cloudflare-ips.json"
_FIXTURE = json.loads(CLOUDFLARE_FIXTURE.read_text())
CLOUDFLARE = [*_FIXTURE["ipv4"], *_FIXTURE["ipv6"]]


UNSIGNED = "sha256:" + "00" * 32  # the stand-in cosign says "no signatures found" for this digest


def make_fake_cosign(directory: Path) -> tuple[Path, Path]:
    """A cosign stand-in: logs its argv; 'no signatures' for UNSIGNED; DNS failure for unreach.example."""
    log = directory / "calls.log"
    script = directory / "cosign"
    script.write_text(
        "#!/bin/sh\n"
        f'echo "$@" >> "{log}"\n'
        'case "$*" in\n'
        f"  *{UNSIGNED}*) echo 'WARNING: Skipping tlog verification' >&2; echo 'Error: no signatures found' >&2; exit 10;;\n"
        "  *unreach.example*) echo 'Error: Get \"https://unreach.example/v2/\": dial tcp: lookup unreach.example: no such host' >&2; exit 1;;\n"
        "esac\nexit 0\n"
    )
    script.chmod(0o755)
    return script, log


def urn(type_: str, name: str) -> str:
    return f"urn:pulumi:prod::honeydue::{type_}::{name}"


def resource(type_: str, name: str, inputs: dict[str, Any], **options: Any) -> dict[str, Any]:
    return {
        "type": type_,
        "name": name,
        "urn": urn(type_, name),
        "parent": None,
        "dependencies": [],
        "options": {"protect": False, "ignoreChanges": [], **options},
        "inputs": inputs,
    }


def container(name: str = "api", image: str = API_IMAGE, probes: bool = True) -> dict[str, Any]:
    c: dict[str, Any] = {
        "name": name,
        "image": image,
        "securityContext": {
            "allowPrivilegeEscalation": False,
            "runAsNonRoot": True,
            "capabilities": {"drop": ["ALL"]},
        },
        "resources": {"requests": {"cpu": "100m", "memory": "128Mi"}, "limits": {"memory": "256Mi"}},
        "env": [
            {"name": "LOG_LEVEL", "value": "info"},
            {"name": "DB_PASSWORD", "valueFrom": {"secretKeyRef": {"name": "db", "key": "password"}}},
        ],
    }
    if probes:
        c["livenessProbe"] = {"httpGet": {"path": "/health", "port": 8000}}
        c["readinessProbe"] = {"httpGet": {"path": "/ready", "port": 8000}}
    return c


def pod_spec(**extra: Any) -> dict[str, Any]:
    return {"securityContext": {"runAsNonRoot": True}, "containers": [container()], **extra}


def deployment(name: str = "api", namespace: str = "honeydue", spec: dict[str, Any] | None = None) -> dict[str, Any]:
    return resource(
        "kubernetes:apps/v1:Deployment",
        name,
        {
            "apiVersion": "apps/v1",
            "kind": "Deployment",
            "metadata": {"name": name, "namespace": namespace},
            "spec": {"replicas": 2, "template": {"metadata": {"labels": {"app": name}}, "spec": spec or pod_spec()}},
        },
    )


def cronjob(name: str = "backup", namespace: str = "honeydue") -> dict[str, Any]:
    spec = pod_spec(containers=[container("backup", probes=False)], restartPolicy="OnFailure")
    return resource(
        "kubernetes:batch/v1:CronJob",
        name,
        {
            "metadata": {"name": name, "namespace": namespace},
            "spec": {"schedule": "0 3 * * *", "jobTemplate": {"spec": {"template": {"spec": spec}}}},
        },
    )


def pod(name: str = "debug", namespace: str = "honeydue") -> dict[str, Any]:
    return resource(
        "kubernetes:core/v1:Pod", name, {"metadata": {"name": name, "namespace": namespace}, "spec": pod_spec()}
    )


def server(name: str = "k3s-1", user_data: str = "#cloud-config\n{}\n") -> dict[str, Any]:
    return resource(
        "hcloud:index/server:Server",
        name,
        {
            "name": name,
            "serverType": "cx33",
            "image": "ubuntu-24.04",
            "location": "fsn1",
            "userData": user_data,
            "firewallIds": [1],
            "networks": [{"networkId": 1, "ip": "10.0.1.11"}],
            "deleteProtection": True,
            "rebuildProtection": True,
        },
        protect=True,
        ignoreChanges=["userData", "image", "sshKeys"],
    )


def firewall(rules: list[dict[str, Any]] | None = None) -> dict[str, Any]:
    default = [
        {"direction": "in", "protocol": "tcp", "port": "443", "sourceIps": list(CLOUDFLARE)},
        {"direction": "in", "protocol": "tcp", "port": "80", "sourceIps": list(CLOUDFLARE)},
        {"direction": "in", "protocol": "tcp", "port": "2222", "sourceIps": ["198.51.100.7/32"]},
        {"direction": "in", "protocol": "tcp", "port": "6443", "sourceIps": ["198.51.100.7/32", "2001:db8:1234::/48"]},
        {"direction": "in", "protocol": "icmp", "sourceIps": ["0.0.0.0/0", "::/0"]},
    ]
    return resource(
        "hcloud:index/firewall:Firewall", "fw", {"name": "fw", "rules": default if rules is None else rules}
    )


def zone_setting(setting: str, value: Any) -> dict[str, Any]:
    return resource(
        "cloudflare:index/zoneSetting:ZoneSetting", setting, {"zoneId": "z", "settingId": setting, "value": value}
    )


def dns(name: str = "api.myhoneydue.com", type_: str = "A", proxied: Any = True) -> dict[str, Any]:
    return resource(
        "cloudflare:index/dnsRecord:DnsRecord",
        name,
        {"zoneId": "z", "name": name, "type": type_, "content": "203.0.113.10", "proxied": proxied, "ttl": 1},
    )


def netpol(name: str, namespace: str = "honeydue", spec: dict[str, Any] | None = None) -> dict[str, Any]:
    return resource(
        "kubernetes:networking.k8s.io/v1:NetworkPolicy",
        name,
        {"metadata": {"name": name, "namespace": namespace}, "spec": spec},
    )


def default_deny(namespace: str = "honeydue") -> dict[str, Any]:
    return netpol("default-deny", namespace, {"podSelector": {}, "policyTypes": ["Ingress", "Egress"]})


def internet_egress(excepts: list[str] | None = None) -> dict[str, Any]:
    block = {"cidr": "0.0.0.0/0", "except": ["169.254.169.254/32", "10.0.0.0/8"] if excepts is None else excepts}
    return netpol(
        "api-egress",
        spec={
            "podSelector": {"matchLabels": {"app": "api"}},
            "policyTypes": ["Egress"],
            "egress": [
                {"to": [{"ipBlock": block}], "ports": [{"protocol": "TCP", "port": 443}]},
                {"to": [{"namespaceSelector": {}, "podSelector": {"matchLabels": {"k8s-app": "kube-dns"}}}]},
            ],
        },
    )


def release(chart: str = "hcloud-cloud-controller-manager", version: Any = "1.26.0") -> dict[str, Any]:
    return resource(
        "kubernetes:helm.sh/v3:Release",
        chart,
        {
            "chart": chart,
            "version": version,
            "namespace": "kube-system",
            "repositoryOpts": {"repo": "https://charts.hetzner.cloud"},
        },
    )


def config_map(data: dict[str, Any]) -> dict[str, Any]:
    return resource(
        "kubernetes:core/v1:ConfigMap",
        "api-config",
        {"metadata": {"name": "api-config", "namespace": "honeydue"}, "data": data},
    )


def args_for(r: dict[str, Any], config: dict[str, Any] | None = None, props: Any = None) -> ResourceValidationArgs:
    o = r.get("options", {})
    opts = PolicyResourceOptions(
        bool(o.get("protect")), list(o.get("ignoreChanges", [])), None, [], PolicyCustomTimeouts(0, 0, 0), [], None
    )
    return ResourceValidationArgs(
        r["type"], r["inputs"] if props is None else props, r["urn"], r["name"], opts, None, config or {}
    )


def check(policy: str, r: dict[str, Any], config: dict[str, Any] | None = None, props: Any = None) -> list[str]:
    """Call the policy object's own validate() the way the engine does; return its messages.
    A stack policy sees a stack of this one resource."""
    if isinstance(POLICY[policy], StackValidationPolicy):
        one = r if props is None else {**r, "inputs": props}
        return [m for m, _ in check_stack(policy, [one], config)]
    messages: list[str] = []
    POLICY[policy].validate(args_for(r, config, props), lambda m, u=None: messages.append(m))  # type: ignore[attr-defined]
    return messages


def _opts(r: dict[str, Any]) -> PolicyResourceOptions:
    o = r.get("options", {})
    return PolicyResourceOptions(
        bool(o.get("protect")), list(o.get("ignoreChanges", [])), None, [], PolicyCustomTimeouts(0, 0, 0), [], None
    )


def check_stack(
    policy: str, resources: list[dict[str, Any]], config: dict[str, Any] | None = None
) -> list[tuple[str, str | None]]:
    """A stack policy over these resources, with their options and dependencies (by URN)."""
    stack = [
        PolicyResource(r["type"], r["inputs"], r["urn"], r["name"], _opts(r), None, None, [], {}) for r in resources
    ]
    by_urn = {p.urn: p for p in stack}
    for p, r in zip(stack, resources, strict=True):
        p.dependencies = [by_urn[u] for u in r.get("dependencies", []) if u in by_urn]
    out: list[tuple[str, str | None]] = []
    POLICY[policy].validate(StackValidationArgs(stack, config or {}), lambda m, u=None: out.append((m, u)))  # type: ignore[attr-defined]
    return out


def leaf_paths(value: Any, path: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    """Every path to a scalar (and to every list/dict) inside ``value``."""
    out = [path] if path else []
    if isinstance(value, dict):
        for k, v in value.items():
            out += leaf_paths(v, (*path, k))
    elif isinstance(value, list):
        for i, v in enumerate(value):
            out += leaf_paths(v, (*path, i))
    return out


def replaced(value: Any, path: tuple[Any, ...], new: Any) -> Any:
    value = copy.deepcopy(value)
    target = value
    for step in path[:-1]:
        target = target[step]
    target[path[-1]] = new
    return value


# --- shapes the platform work adds (legitimate neighbours of the attack shapes) ---------------

PUBLIC_KEY = json.loads((ROOT / "policies" / "config.prod.json").read_text())["container-images-signed"]["publicKey"]


def image_policy(name: str = "verify-honeydue-images", **spec_changes: Any) -> dict[str, Any]:
    """The Kyverno ImageValidatingPolicy issue 10 asks for (policies.kyverno.io/v1)."""
    spec: dict[str, Any] = {
        "matchConstraints": {
            "resourceRules": [
                {"apiGroups": [""], "apiVersions": ["v1"], "operations": ["CREATE", "UPDATE"], "resources": ["pods"]}
            ],
            "namespaceSelector": {
                "matchExpressions": [
                    {"key": "kubernetes.io/metadata.name", "operator": "NotIn", "values": ["kube-system"]}
                ]
            },
        },
        "matchImageReferences": [{"glob": "gitea.treytartt.com/*"}],
        "attestors": [{"name": "release", "cosign": {"key": {"data": PUBLIC_KEY}}}],
        "validationActions": ["Deny"],
        "failurePolicy": "Fail",
        "validationConfigurations": {"mutateDigest": True, "verifyDigest": True, "required": True},
        "validations": [
            {"expression": "images.containers.map(i, verifyImageSignatures(i, [attestors.release])).all(e, e > 0)"}
        ],
        **spec_changes,
    }
    return resource(
        "kubernetes:policies.kyverno.io/v1:ImageValidatingPolicy",
        name,
        {
            "apiVersion": "policies.kyverno.io/v1",
            "kind": "ImageValidatingPolicy",
            "metadata": {"name": name},
            "spec": spec,
        },
    )


TRAEFIK_VALUES = """\
deployment:
  kind: DaemonSet
hostNetwork: true
ports:
  web:
    port: 80
  websecure:
    port: 443
service:
  enabled: false
securityContext:
  capabilities:
    drop: [ALL]
  readOnlyRootFilesystem: true
  allowPrivilegeEscalation: false
podSecurityContext:
  runAsGroup: 65532
  runAsNonRoot: true
  runAsUser: 65532
"""


def helm_chart_config(
    name: str = "traefik", namespace: str = "kube-system", values: str = TRAEFIK_VALUES, pulumi_name: str | None = None
) -> dict[str, Any]:
    return resource(
        "kubernetes:helm.cattle.io/v1:HelmChartConfig",
        pulumi_name or f"platform-{name}-config",
        {"metadata": {"name": name, "namespace": namespace}, "spec": {"valuesContent": values}},
    )


def helm_chart(name: str = "hcloud-csi", **spec: Any) -> dict[str, Any]:
    body = {
        "chart": name,
        "repo": "https://charts.hetzner.cloud",
        "version": "2.22.1",
        "targetNamespace": "kube-system",
    }
    return resource(
        "kubernetes:helm.cattle.io/v1:HelmChart",
        f"platform-{name}",
        {"metadata": {"name": name, "namespace": "kube-system"}, "spec": {**body, **spec}},
    )


def upgrade_plan(image: str = "rancher/k3s-upgrade", version: str = "v1.34.6+k3s1", **upgrade: Any) -> dict[str, Any]:
    return resource(
        "kubernetes:upgrade.cattle.io/v1:Plan",
        "platform-server-plan",
        {
            "metadata": {"name": "server-plan", "namespace": "system-upgrade"},
            "spec": {
                "concurrency": 1,
                "cordon": True,
                "nodeSelector": {
                    "matchExpressions": [{"key": "node-role.kubernetes.io/control-plane", "operator": "Exists"}]
                },
                "serviceAccountName": "system-upgrade",
                "upgrade": {"image": image, **upgrade},
                "version": version,
            },
        },
    )


def service(name: str = "api", namespace: str = "honeydue", type_: Any = "ClusterIP", **spec: Any) -> dict[str, Any]:
    return resource(
        "kubernetes:core/v1:Service",
        name,
        {
            "metadata": {"name": name, "namespace": namespace},
            "spec": {"type": type_, "selector": {"app": name}, "ports": [{"port": 80, "targetPort": 8000}], **spec},
        },
    )


def k8s_provider(namespace: str | None = None) -> dict[str, Any]:
    inputs: dict[str, Any] = {"kubeconfig": "[secret]", "enableServerSideApply": "true"}
    if namespace is not None:
        inputs["namespace"] = namespace
    return resource("pulumi:providers:kubernetes", "k8s", inputs)


def csi_values() -> str:
    """hcloud-csi 2.22.1 values as the platform sets them (a Retain default StorageClass)."""
    return "storageClasses:\n  - name: hcloud-volumes\n    defaultStorageClass: true\n    reclaimPolicy: Retain\n"
