"""The offline runner's API (run_policies) and the CLI tools/policy_check.py over a small
synthetic resources.json: levels, config overrides, JSON lines, summary, exit codes."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from pulumi_policy import ResourceValidationPolicy

from policies import guardrails
from policies.guardrails import ConfigError, Violation, format_report, has_mandatory, run_policies
from policies.guardrails import runner as runner_module
from policies.guardrails.runner import with_cloudflare_ranges

from .lib import (
    CLOUDFLARE_FIXTURE,
    DIGEST,
    ROOT,
    UNSIGNED,
    container,
    cronjob,
    default_deny,
    deployment,
    dns,
    firewall,
    image_policy,
    internet_egress,
    make_fake_cosign,
    pod_spec,
    release,
    resource,
    server,
    zone_setting,
)

CLI = [sys.executable, str(ROOT / "tools" / "policy_check.py")]
PROD = json.loads((ROOT / "policies" / "config.prod.json").read_text())


def good_stack() -> list[dict[str, Any]]:
    redis = deployment(
        "redis", spec=pod_spec(containers=[container("redis", image=f"docker.io/library/redis@{DIGEST}")])
    )
    return [
        resource("kubernetes:core/v1:Namespace", "honeydue", {"metadata": {"name": "honeydue"}}),
        deployment(),
        redis,
        cronjob(),
        default_deny(),
        internet_egress(),
        server(),
        firewall(),
        zone_setting("ssl", "strict"),
        zone_setting("always_use_https", "on"),
        zone_setting("min_tls_version", "1.2"),
        dns(),
        dns("k8s.myhoneydue.com", proxied=False),
        release(),
        resource("honeydue:cluster:K3sCluster", "cluster", {}),
        image_policy(),  # prod requires it once the stack runs pods
    ]


@pytest.fixture
def config(tmp_path: Path) -> dict[str, Any]:
    """The committed prod config, with the stand-in cosign (unit tests never reach a registry)."""
    cosign, _ = make_fake_cosign(tmp_path)
    cfg: dict[str, Any] = json.loads(json.dumps(PROD))
    cfg["container-images-signed"]["cosignPath"] = str(cosign)
    # unit tests never reach Cloudflare either: the offline plan's ranges
    return with_cloudflare_ranges(cfg, CLOUDFLARE_FIXTURE)


def unsigned(stack: list[dict[str, Any]]) -> list[dict[str, Any]]:
    image = f"gitea.treytartt.com/admin/honeydue-api@{UNSIGNED}"
    stack[1] = deployment(spec=pod_spec(containers=[container(image=image)]))
    return stack


# --- API --------------------------------------------------------------------------------------


def test_compliant_stack_has_no_violations(config: dict[str, Any]) -> None:
    assert run_policies(good_stack(), config, signatures_advisory=False) == []


def test_violations_carry_policy_level_urn_message(config: dict[str, Any]) -> None:
    stack = good_stack()
    stack[7] = firewall([{"direction": "in", "protocol": "tcp", "port": "22", "sourceIps": ["0.0.0.0/0"]}])
    stack[4] = internet_egress()  # replace the default deny: the namespace loses it
    violations = run_policies(stack, config, signatures_advisory=False)
    by_policy = {v.policy: v for v in violations}
    assert set(by_policy) == {"firewall-no-world-admin-ports", "namespaces-default-deny"}
    fw = by_policy["firewall-no-world-admin-ports"]
    assert fw == Violation("firewall-no-world-admin-ports", "mandatory", stack[7]["urn"], fw.message)
    assert "SSH 2222" not in fw.message and "tcp 22 is open to 100.0% of the IPv4 space" in fw.message
    assert by_policy["namespaces-default-deny"].urn == stack[0]["urn"]
    assert has_mandatory(violations)


def test_advisory_policy_alone_is_not_mandatory(config: dict[str, Any]) -> None:
    stack = good_stack()
    stack[6] = server(user_data="x" * 20000)
    violations = run_policies(stack, config, signatures_advisory=False)
    assert [(v.policy, v.enforcement_level) for v in violations] == [("user-data-size-warning", "advisory")]
    assert not has_mandatory(violations)


def test_signatures_advisory_mode(config: dict[str, Any]) -> None:
    stack = unsigned(good_stack())
    strict = run_policies(stack, config, signatures_advisory=False)
    assert [(v.policy, v.enforcement_level) for v in strict] == [("container-images-signed", "mandatory")]
    assert "no signatures found" in strict[0].message
    offline = run_policies(stack, config, signatures_advisory=True)
    assert [(v.policy, v.enforcement_level) for v in offline] == [("container-images-signed", "advisory")]
    assert not has_mandatory(offline)
    report = format_report(offline, signatures_advisory=True, resources=len(stack))
    summary = json.loads(report.splitlines()[-1])
    assert summary["signaturesAdvisory"] is True and "ADVISORY" in summary["summary"]
    assert summary["summary"].startswith("PASS") and summary["advisory"] == 1 and summary["resources"] == len(stack)
    # Disabled stays disabled even in advisory mode.
    config["container-images-signed"]["enforcementLevel"] = "disabled"
    assert run_policies(stack, config, signatures_advisory=True) == []


@pytest.mark.parametrize(
    ("override", "expected"),
    [
        ({"firewall-no-world-admin-ports": {"enforcementLevel": "advisory"}}, "advisory"),
        ({"firewall-no-world-admin-ports": "advisory"}, "advisory"),
        ({"firewall-no-world-admin-ports": {"enforcementLevel": "disabled"}}, None),
        ({"all": "advisory"}, "advisory"),
        ({"all": "advisory", "firewall-no-world-admin-ports": "mandatory"}, "mandatory"),
        ({"firewall-no-world-admin-ports": {"enforcementLevel": "remediate"}}, "mandatory"),
        ({"firewall-no-world-admin-ports": {"sshPort": 2222, "worldOpenPorts": [80, 443, 22]}}, None),
        ({"firewall-no-world-admin-ports": {"sshPort": 22, "worldOpenPorts": [80, 443, 22]}}, "mandatory"),
    ],
)
def test_config_level_and_list_overrides(
    config: dict[str, Any], override: dict[str, Any], expected: str | None
) -> None:
    stack = good_stack()
    stack[7] = firewall([{"direction": "in", "protocol": "tcp", "port": "22", "sourceIps": ["0.0.0.0/0"]}])
    levels = [v.enforcement_level for v in run_policies(stack, {**config, **override}, signatures_advisory=False)]
    assert levels == ([] if expected is None else [expected])


def test_list_override_of_registries(config: dict[str, Any]) -> None:
    stack = [deployment(spec=pod_spec(containers=[container(image=f"ghcr.io/org/x@{DIGEST}")]))]
    names = {v.policy for v in run_policies(stack, config, signatures_advisory=False)}
    assert "container-images-allowed-registries" in names
    config["container-images-allowed-registries"]["registries"] = ["ghcr.io"]
    names = {v.policy for v in run_policies(stack, config, signatures_advisory=False)}
    assert "container-images-allowed-registries" not in names


@pytest.mark.parametrize(
    ("bad", "match"),
    [
        ({"no-such-policy": "advisory"}, "unknown policy"),
        ({"servers-guarded": {"requireProtectoin": True}}, "unknown config key"),
        ({"servers-guarded": {"enforcementLevel": "loud"}}, "enforcementLevel"),
        ({"servers-guarded": 3}, "expected a level string"),
        (
            {
                "workloads-hardened": {
                    "exemptions": [{"namespace": "kube-system", "name": "traefik", "allow": ["hostnetwork"]}]
                }
            },
            r"unknown feature\(s\) \['hostnetwork'\]",
        ),
        ({"workloads-hardened": {"exemptions": [{"name": "traefik", "allow": []}]}}, r"exemptions\[0\].namespace"),
        (
            {"workloads-hardened": {"exemptions": [{"namespace": "a", "name": "b", "allow": [], "kind": ["X"]}]}},
            "unknown key",
        ),
        ({"workloads-hardened": {"exemptions": "kube-system/traefik"}}, "expected a list"),
    ],
)
def test_config_errors(bad: dict[str, Any], match: str) -> None:
    with pytest.raises(ConfigError, match=match):
        run_policies([], bad, signatures_advisory=False)


def test_options_reach_the_policies(config: dict[str, Any]) -> None:
    stack = good_stack()
    stack[6]["options"] = {"protect": False, "ignoreChanges": []}
    messages = [v.message for v in run_policies(stack, config, signatures_advisory=False)]
    assert any("options.protect" in m for m in messages) and any("ignoreChanges" in m for m in messages)


def test_crashing_policy_fails_closed(monkeypatch: pytest.MonkeyPatch) -> None:
    def boom(args: Any, report: Any) -> None:
        raise RuntimeError("bug")

    crashing = ResourceValidationPolicy(name="boom", description="d", validate=boom)
    monkeypatch.setattr(runner_module, "POLICIES", [crashing])
    (v,) = run_policies([server()], {}, signatures_advisory=False)
    assert v.policy == "boom" and v.enforcement_level == "mandatory" and "policy crashed" in v.message


def test_public_api() -> None:
    assert guardrails.run_policies is run_policies
    assert len(guardrails.POLICIES) == len({p.name for p in guardrails.POLICIES}) == 20
    for p in guardrails.POLICIES:
        assert p.description and p.remediation_steps, p.name
        assert p.name == p.name.lower() and " " not in p.name


# --- CLI --------------------------------------------------------------------------------------


def run_cli(tmp_path: Path, stack: Any, config: dict[str, Any] | None, *extra: str) -> tuple[int, list[dict[str, Any]]]:
    file = tmp_path / "resources.json"
    file.write_text(json.dumps(stack))
    args = [*CLI, str(file), *extra]
    if config is not None:
        (tmp_path / "policy-config.json").write_text(json.dumps(config))
        args += ["--config", str(tmp_path / "policy-config.json")]
    proc = subprocess.run(args, capture_output=True, text=True, timeout=60, check=False)
    lines = [json.loads(line) for line in proc.stdout.splitlines()]
    return proc.returncode, lines


def test_cli_pass(tmp_path: Path, config: dict[str, Any]) -> None:
    rc, lines = run_cli(tmp_path, good_stack(), config)
    assert rc == 0 and len(lines) == 1
    assert lines[0]["summary"].startswith("PASS") and lines[0]["mandatory"] == 0 and lines[0]["policies"] == 20


def test_cli_mandatory_violation(tmp_path: Path, config: dict[str, Any]) -> None:
    stack = good_stack()
    stack[8] = zone_setting("ssl", "flexible")
    stack[13] = release(version="^1.26")
    rc, lines = run_cli(tmp_path, stack, config)
    assert rc == 1
    *violations, summary = lines
    assert [v["policy"] for v in violations] == ["cloudflare-ssl-strict", "helm-charts-pinned"]
    assert all(set(v) == {"policy", "enforcementLevel", "urn", "message"} for v in violations)
    assert violations[0]["urn"] == stack[8]["urn"] and violations[0]["enforcementLevel"] == "mandatory"
    assert summary["summary"].startswith("FAIL") and summary["mandatory"] == 2


def test_cli_offline_signatures(tmp_path: Path, config: dict[str, Any]) -> None:
    stack = unsigned(good_stack())
    rc, lines = run_cli(tmp_path, stack, config)
    assert rc == 1 and lines[0]["policy"] == "container-images-signed"
    rc, lines = run_cli(tmp_path, stack, config, "--offline-signatures")
    assert rc == 0 and lines[0]["enforcementLevel"] == "advisory" and "ADVISORY" in lines[-1]["summary"]


def test_cli_default_config_is_prod(tmp_path: Path) -> None:
    stack = [server(), firewall(), zone_setting("ssl", "strict")]
    rc, lines = run_cli(tmp_path, stack, None)
    assert rc == 0 and lines[-1]["mandatory"] == 0
    stack[0]["options"]["protect"] = False  # requireProtection is on in config.prod.json
    rc, lines = run_cli(tmp_path, stack, None)
    assert rc == 1 and lines[0]["policy"] == "servers-guarded"


def test_cli_input_errors(tmp_path: Path) -> None:
    assert subprocess.run([*CLI, str(tmp_path / "missing.json")], capture_output=True, check=False).returncode == 2
    (tmp_path / "bad.json").write_text("{not json")
    assert subprocess.run([*CLI, str(tmp_path / "bad.json")], capture_output=True, check=False).returncode == 2
    (tmp_path / "obj.json").write_text("{}")
    assert subprocess.run([*CLI, str(tmp_path / "obj.json")], capture_output=True, check=False).returncode == 2
    rc, _ = run_cli(tmp_path, [], {"no-such-policy": "advisory"})
    assert rc == 2


def test_platform_shapes_pass_every_policy(config: dict[str, Any]) -> None:
    """The legitimate shapes the platform work adds, all at once under the prod config: no
    policy may report any of them (false positives are bugs too)."""
    from .lib import (
        csi_values,
        helm_chart,
        helm_chart_config,
        k8s_provider,
        service,
        upgrade_plan,
    )
    from .test_firewall import named_firewall, rule
    from .test_pod_kinds import csi_node_daemonset

    ccm = resource(
        "kubernetes:helm.sh/v3:Release",
        "platform-ccm",
        {
            "name": "hcloud-cloud-controller-manager",
            "chart": "hcloud-cloud-controller-manager",
            "version": "1.35.0",
            "namespace": "kube-system",
            "repositoryOpts": {"repo": "https://charts.hetzner.cloud"},
            "values": {
                "networking": {"enabled": True},
                "env": {
                    "HCLOUD_TOKEN": {"valueFrom": {"secretKeyRef": {"name": "hcloud", "key": "token"}}},
                    "HCLOUD_NETWORK": {"valueFrom": {"secretKeyRef": {"name": "hcloud", "key": "network"}}},
                    "HCLOUD_NETWORK_ROUTES_ENABLED": {"value": "false"},
                },
            },
        },
    )
    kyverno = resource(
        "kubernetes:helm.sh/v3:Release",
        "platform-kyverno",
        {
            "name": "kyverno",
            "chart": "kyverno",
            "version": "3.9.0",
            "namespace": "kyverno",
            "repositoryOpts": {"repo": "https://kyverno.github.io/kyverno"},
            "values": {"admissionController": {"replicas": 3}, "imagePullSecrets": [{"name": "gitea"}]},
        },
    )
    hcloud_secret = resource(
        "kubernetes:core/v1:Secret",
        "platform-hcloud",
        {
            "metadata": {"name": "hcloud", "namespace": "kube-system"},
            "stringData": {"token": "[secret]", "network": "42"},
        },
    )
    ci = named_firewall("ci-access", [rule("6443", ["203.0.113.0/24"])])
    pinned_plan = upgrade_plan(image=f"docker.io/rancher/k3s-upgrade@{DIGEST}")
    stack = [
        k8s_provider(),
        *good_stack(),
        service(),
        helm_chart_config(),
        helm_chart(valuesContent=csi_values()),
        ccm,
        kyverno,
        hcloud_secret,
        pinned_plan,
        csi_node_daemonset(),
        ci,
    ]
    assert run_policies(stack, config, signatures_advisory=False) == []
