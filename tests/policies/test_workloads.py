"""workloads-hardened and secrets-not-in-plaintext."""

from __future__ import annotations

from typing import Any

import pytest

from policies.guardrails.workloads import DEFAULT_EXEMPTIONS

from .lib import check, config_map, container, cronjob, deployment, pod, pod_spec, resource

H = "workloads-hardened"


def with_container(**changes: Any) -> dict[str, Any]:
    c = container()
    for path, value in changes.items():
        target = c
        *head, last = path.split("__")
        for step in head:
            target = target.setdefault(step, {})
        if value is None:
            target.pop(last, None)
        else:
            target[last] = value
    return deployment(spec=pod_spec(containers=[c]))


def test_hardened_compliant() -> None:
    for r in (deployment(), cronjob(), pod()):
        assert check(H, r) == []


@pytest.mark.parametrize(
    ("changes", "expected"),
    [
        ({"securityContext__privileged": True}, "privileged: true"),
        ({"securityContext__allowPrivilegeEscalation": True}, "allowPrivilegeEscalation"),
        ({"securityContext__allowPrivilegeEscalation": None}, "allowPrivilegeEscalation"),
        ({"securityContext__runAsUser": 0}, "runAsUser is 0"),
        ({"securityContext__capabilities__drop": ["NET_RAW"]}, "drop does not include ALL"),
        ({"securityContext__capabilities": None}, "drop does not include ALL"),
        ({"securityContext__capabilities__add": ["SYS_ADMIN"]}, "capabilities.add 'SYS_ADMIN'"),
        ({"resources__requests": None}, "resources.requests lacks cpu, memory"),
        ({"resources__limits": None}, "resources.limits lacks memory"),
        ({"resources__requests__cpu": None}, "resources.requests lacks cpu"),
        ({"livenessProbe": None}, "no livenessProbe"),
        ({"readinessProbe": None}, "no readinessProbe"),
    ],
)
def test_hardened_container_violations(changes: dict[str, Any], expected: str) -> None:
    msgs = check(H, with_container(**changes))
    assert len(msgs) == 1, msgs
    assert expected in msgs[0] and "Deployment honeydue/api: containers[api]" in msgs[0]


def test_hardened_non_root_from_pod_or_container() -> None:
    # Pod says nothing, container says nothing -> violation.
    spec = pod_spec(securityContext={})
    c = spec["containers"][0]
    del c["securityContext"]["runAsNonRoot"]
    assert any("runAsNonRoot" in m for m in check(H, deployment(spec=spec)))
    # A non-zero runAsUser is enough; the container's own setting beats the pod's.
    c["securityContext"]["runAsUser"] = 1000
    assert check(H, deployment(spec=spec)) == []
    spec2 = pod_spec(securityContext={"runAsNonRoot": True, "runAsUser": 1000})
    spec2["containers"][0]["securityContext"]["runAsUser"] = 0
    assert any("runAsUser is 0" in m for m in check(H, deployment(spec=spec2)))
    # Pod-level runAsNonRoot: false, nothing on the container -> violation.
    spec3 = pod_spec(securityContext={"runAsNonRoot": False})
    del spec3["containers"][0]["securityContext"]["runAsNonRoot"]
    assert any("runAsNonRoot" in m for m in check(H, deployment(spec=spec3)))


@pytest.mark.parametrize(
    ("extra", "expected"),
    [
        ({"hostNetwork": True}, "hostNetwork"),
        ({"hostPID": True}, "hostPID"),
        ({"hostIPC": True}, "hostIPC"),
        ({"volumes": [{"name": "root", "hostPath": {"path": "/"}}]}, "hostPath"),
    ],
)
def test_hardened_pod_violations(extra: dict[str, Any], expected: str) -> None:
    msgs = check(H, deployment(spec=pod_spec(**extra)))
    assert len(msgs) == 1 and expected in msgs[0]


def test_hardened_init_and_ephemeral_containers() -> None:
    bad = container("init", probes=False)
    bad["securityContext"]["privileged"] = True
    msgs = check(H, deployment(spec=pod_spec(initContainers=[bad])))
    assert msgs == ["Deployment honeydue/api: initContainers[init]: privileged: true"]
    # Ephemeral containers: security checked, resources/probes not (the API forbids them).
    eph: dict[str, Any] = {
        "name": "dbg",
        "image": "x",
        "securityContext": {"allowPrivilegeEscalation": False, "capabilities": {"drop": ["ALL"]}},
    }
    assert check(H, deployment(spec=pod_spec(ephemeralContainers=[eph]))) == []
    eph["securityContext"]["allowPrivilegeEscalation"] = True
    assert len(check(H, deployment(spec=pod_spec(ephemeralContainers=[eph])))) == 1


def test_hardened_jobs_need_no_probes_but_long_running_do() -> None:
    assert check(H, cronjob()) == []
    job = resource(
        "kubernetes:batch/v1:Job",
        "migrate",
        {
            "metadata": {"name": "migrate"},
            "spec": {"template": {"spec": pod_spec(containers=[container(probes=False)])}},
        },
    )
    assert check(H, job) == []
    ds = deployment(spec=pod_spec(containers=[container(probes=False)]))
    ds["type"] = "kubernetes:apps/v1:DaemonSet"
    assert len(check(H, ds)) == 2


def test_hardened_traefik_host_network_exception_by_identity() -> None:
    traefik = deployment("traefik", "kube-system", spec=pod_spec(hostNetwork=True))
    traefik["type"] = "kubernetes:apps/v1:DaemonSet"
    assert check(H, traefik) == []  # the default config holds the exemption
    # Same name elsewhere, another kind, or an emptied list: not exempt.
    assert len(check(H, deployment("traefik", "honeydue", spec=pod_spec(hostNetwork=True)))) == 1
    assert len(check(H, deployment("traefik", "kube-system", spec=pod_spec(hostNetwork=True)))) == 1  # a Deployment
    assert len(check(H, traefik, {"exemptions": []})) == 1
    # Only hostNetwork is exempt, not hostPID.
    traefik["inputs"]["spec"]["template"]["spec"]["hostPID"] = True
    assert len(check(H, traefik)) == 1


def test_hardened_config_overrides() -> None:
    no_cpu_limit = with_container()
    assert len(check(H, no_cpu_limit, {"requiredLimits": ["cpu", "memory"]})) == 1
    add = with_container(securityContext__capabilities__add=["NET_BIND_SERVICE"])
    assert check(H, add) == []
    assert len(check(H, add, {"allowedCapabilities": []})) == 1


def test_hardened_unknowns_fail_closed() -> None:
    for bad in (
        with_container(securityContext="[unknown]"),
        with_container(resources="[unknown]"),
        with_container(securityContext__capabilities__drop=["[unknown]"]),
        with_container(securityContext__privileged="[unknown]"),
        deployment(spec="[unknown]"),  # type: ignore[arg-type]
    ):
        msgs = check(H, bad)
        assert msgs and all("fails closed" in m for m in msgs), msgs
    spec = pod_spec(securityContext="[unknown]")
    del spec["containers"][0]["securityContext"]["runAsNonRoot"]
    assert any("fails closed" in m for m in check(H, deployment(spec=spec)))
    # A probe's content is not a security setting: an unknown one is still a probe.
    assert check(H, with_container(livenessProbe="[unknown]")) == []


# --- secrets-not-in-plaintext -----------------------------------------------------------------

S = "secrets-not-in-plaintext"


def test_plaintext_compliant() -> None:
    assert check(S, deployment()) == []
    assert (
        check(S, config_map({"LOG_LEVEL": "info", "API_URL": "https://api.myhoneydue.com", "KEY_PREFIX": "hd:"})) == []
    )


@pytest.mark.parametrize(
    ("key", "value", "expected"),
    [
        ("DB_PASSWORD", "hunter2", "looks like a secret"),
        ("apiToken", "abc", "looks like a secret"),
        ("STRIPE_API_KEY", "sk_live_x", "looks like a secret"),
        ("JWT_SECRET", "s", "looks like a secret"),
        ("SENTRY_DSN", "https://k@o1.ingest.sentry.io/1", "looks like a secret"),
        ("DATABASE_URL", "postgres://app:pw@db:5432/app", "URL with embedded credentials"),
        ("REDIS_URL", "redis://:pw@redis:6379/0", "URL with embedded credentials"),
        ("TLS", "-----BEGIN EC PRIVATE KEY-----\nabc", "PEM private key"),
    ],
)
def test_plaintext_violations(key: str, value: str, expected: str) -> None:
    msgs = check(S, config_map({key: value}))
    assert len(msgs) == 1 and expected in msgs[0] and key in msgs[0]
    c = container()
    c["env"].append({"name": key, "value": value})
    msgs = check(S, deployment(spec=pod_spec(containers=[c])))
    assert len(msgs) == 1 and expected in msgs[0] and "env" in msgs[0]


def test_plaintext_init_container_env() -> None:
    c = container("migrate", probes=False)
    c["env"] = [{"name": "ADMIN_PASSWORD", "value": "x"}]
    msgs = check(S, deployment(spec=pod_spec(initContainers=[c])))
    assert len(msgs) == 1 and "initContainers[migrate]" in msgs[0]


def test_plaintext_unknown_secret_and_empty_values() -> None:
    # A value the pack cannot read under a secret name: a Pulumi secret in a ConfigMap is in clear
    # in the cluster all the same, so it is reported; under another name it is not.
    msgs = check(S, config_map({"DB_PASSWORD": "[secret]", "API_TOKEN": "[unknown]", "SMTP_PASSWORD": ""}))
    assert len(msgs) == 2 and all("cannot be read" in m for m in msgs)
    assert check(S, config_map({"REDIS_HOST": "[unknown]", "LOG_LEVEL": "[secret]"})) == []
    c = container()
    c["env"] = [{"name": "DB_PASSWORD", "value": "[secret]"}, {"name": "[unknown]", "value": "x"}]
    assert len(check(S, deployment(spec=pod_spec(containers=[c])))) == 1
    assert check(S, config_map("[unknown]")) == []  # type: ignore[arg-type]


def test_plaintext_allowed_keys_override() -> None:
    cm = config_map({"JWT_SIGNING_KEY": "kid-1"})
    assert len(check(S, cm)) == 1
    assert check(S, cm, {"allowedKeys": ["JWT_SIGNING_KEY"]}) == []
    # Public keys are not secrets.
    assert check(S, config_map({"JWT_PUBLIC_KEY": "-----BEGIN PUBLIC KEY-----"})) == []


def test_traefik_may_not_run_as_root() -> None:
    """Root on a node reads the metadata service (the node's nftables guard admits root only):
    the Traefik exemption allows the host network and host ports, never root."""
    from .lib import TRAEFIK_VALUES, helm_chart_config

    config = {"exemptions": DEFAULT_EXEMPTIONS}
    assert check("workloads-hardened", helm_chart_config(), config) == []
    root = TRAEFIK_VALUES.replace("runAsUser: 65532", "runAsUser: 0").replace(
        "runAsNonRoot: true", "runAsNonRoot: false"
    )
    msgs = check("workloads-hardened", helm_chart_config(values=root), config)
    assert msgs and any("root" in m for m in msgs), msgs
