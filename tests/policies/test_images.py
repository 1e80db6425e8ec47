"""container-images-pinned, -allowed-registries and -signed (the latter with a stand-in cosign;
the real cosign against a real registry is in test_signatures_e2e.py)."""

from __future__ import annotations

from pathlib import Path

import pytest

from policies.guardrails.cosign import VERIFIER
from policies.guardrails.images import parse_image

from .lib import (
    API_IMAGE,
    DIGEST,
    UNSIGNED,
    check,
    container,
    cronjob,
    deployment,
    make_fake_cosign,
    pod,
    pod_spec,
    resource,
)

ALLOWED = {"registries": ["gitea.treytartt.com"], "exceptions": ["docker.io/library/redis", "docker.io/rancher/"]}


@pytest.mark.parametrize(
    ("image", "registry", "repository", "tag", "digest"),
    [
        ("redis", "docker.io", "docker.io/library/redis", None, None),
        ("redis:7", "docker.io", "docker.io/library/redis", "7", None),
        ("rancher/kubectl:v1.34", "docker.io", "docker.io/rancher/kubectl", "v1.34", None),
        ("index.docker.io/library/redis@" + DIGEST, "docker.io", "docker.io/library/redis", None, DIGEST),
        ("127.0.0.1:5000/a/b:t@" + DIGEST, "127.0.0.1:5000", "127.0.0.1:5000/a/b", "t", DIGEST),
        ("localhost/x", "localhost", "localhost/x", None, None),
        (API_IMAGE, "gitea.treytartt.com", "gitea.treytartt.com/admin/honeydue-api", None, DIGEST),
    ],
)
def test_parse_image(image: str, registry: str, repository: str, tag: str | None, digest: str | None) -> None:
    ref = parse_image(image)
    assert (ref.registry, ref.repository, ref.tag, ref.digest) == (registry, repository, tag, digest)


# --- pinned -----------------------------------------------------------------------------------


def test_pinned_compliant_every_kind() -> None:
    for r in (deployment(), cronjob(), pod()):
        assert check("container-images-pinned", r) == []


@pytest.mark.parametrize(
    "image",
    [
        "gitea.treytartt.com/admin/honeydue-api:latest",
        "gitea.treytartt.com/admin/honeydue-api",
        "gitea.treytartt.com/admin/honeydue-api@sha256:abc",  # short digest
        "gitea.treytartt.com/admin/honeydue-api@sha512:" + "a" * 128,
        "",
    ],
)
def test_pinned_rejects(image: str) -> None:
    msgs = check("container-images-pinned", deployment(spec=pod_spec(containers=[container(image=image)])))
    assert len(msgs) == 1 and "containers[api]" in msgs[0]


@pytest.mark.parametrize("list_name", ["initContainers", "ephemeralContainers"])
def test_pinned_covers_init_and_ephemeral(list_name: str) -> None:
    spec = pod_spec(**{list_name: [container("helper", image="busybox:1.36")]})
    msgs = check("container-images-pinned", deployment(spec=spec))
    assert len(msgs) == 1 and f"{list_name}[helper]" in msgs[0]


def test_pinned_cronjob_and_statefulset_paths() -> None:
    cj = cronjob()
    cj["inputs"]["spec"]["jobTemplate"]["spec"]["template"]["spec"]["containers"][0]["image"] = "x:1"
    assert len(check("container-images-pinned", cj)) == 1
    sts = deployment()
    sts["type"] = "kubernetes:apps/v1:StatefulSet"
    sts["inputs"]["spec"]["template"]["spec"]["containers"][0]["image"] = "x:1"
    assert len(check("container-images-pinned", sts)) == 1


TAG_PINNED = {"tagPinned": ["docker.io/rancher/kubectl", "rancher/k3s-upgrade"]}


@pytest.mark.parametrize(
    ("image", "ok"),
    [
        ("docker.io/rancher/kubectl:v1.34.6", True),
        ("rancher/kubectl:v1.34.6", True),  # Docker Hub normalised like the runtime does
        ("docker.io/rancher/k3s-upgrade:v1.34.6-k3s1", True),
        ("docker.io/rancher/kubectl:latest", False),  # floating tags never pass
        ("docker.io/rancher/kubectl:v1.34", False),
        ("docker.io/rancher/kubectl", False),
        ("docker.io/rancher/kubectl-evil:v1.34.6", False),  # a repository, not a prefix
        ("docker.io/rancher/system-upgrade-controller:v0.20.1", False),  # not listed
        ("gitea.treytartt.com/admin/honeydue-api:v1.2.3", False),
    ],
)
def test_pinned_by_release_tag_only_for_listed_repositories(image: str, ok: bool) -> None:
    msgs = check("container-images-pinned", deployment(spec=pod_spec(containers=[container(image=image)])), TAG_PINNED)
    assert (msgs == []) is ok, msgs
    # without the list, every one of them is refused
    assert check("container-images-pinned", deployment(spec=pod_spec(containers=[container(image=image)])))


def test_pinned_unknown_image_fails_closed() -> None:
    (msg,) = check("container-images-pinned", deployment(spec=pod_spec(containers=[container(image="[unknown]")])))
    assert "not known" in msg


def test_pinned_ignores_non_workloads() -> None:
    assert check("container-images-pinned", resource("kubernetes:core/v1:Service", "s", {"spec": {}})) == []


# --- allowed registries -----------------------------------------------------------------------


def test_allowed_compliant_and_exceptions() -> None:
    redis = container("redis", image=f"redis@{DIGEST}")
    kubectl = container("kubectl", image=f"rancher/kubectl@{DIGEST}")
    assert (
        check(
            "container-images-allowed-registries",
            deployment(spec=pod_spec(containers=[container(), redis, kubectl])),
            ALLOWED,
        )
        == []
    )


@pytest.mark.parametrize(
    "image",
    [
        f"ghcr.io/evil/api@{DIGEST}",
        f"redis-evil@{DIGEST}",  # docker.io/library/redis-evil is not docker.io/library/redis
        f"gitea.treytartt.com.evil.io/admin/api@{DIGEST}",
        f"docker.io/ranchers/x@{DIGEST}",
    ],
)
def test_allowed_rejects(image: str) -> None:
    msgs = check(
        "container-images-allowed-registries", deployment(spec=pod_spec(containers=[container(image=image)])), ALLOWED
    )
    assert len(msgs) == 1 and "not one of the allowed registries" in msgs[0]


def test_allowed_config_overrides() -> None:
    ghcr = deployment(spec=pod_spec(containers=[container(image=f"ghcr.io/org/api@{DIGEST}")]))
    assert check("container-images-allowed-registries", ghcr, {"registries": ["ghcr.io"]}) == []
    assert check("container-images-allowed-registries", ghcr, {"registries": ["ghcr.io/other"]}) != []
    assert check("container-images-allowed-registries", ghcr, {"registries": ["ghcr.io/org"]}) == []
    # No config at all: nothing is allowed (fail closed).
    assert len(check("container-images-allowed-registries", deployment())) == 1


def test_allowed_unknown_image() -> None:
    assert (
        check(
            "container-images-allowed-registries",
            deployment(spec=pod_spec(containers=[container(image="[secret]")])),
            ALLOWED,
        )
        == []
    )


# --- signed (stand-in cosign) -----------------------------------------------------------------

PEM = "-----BEGIN PUBLIC KEY-----\nMFkwEwYHKoZIzj0CAQYIKoZIzj0DAQcDQgAEfake\n-----END PUBLIC KEY-----\n"


@pytest.fixture
def fake_cosign(tmp_path: Path) -> tuple[Path, Path]:
    VERIFIER.reset()
    return make_fake_cosign(tmp_path)


def signed_config(cosign: Path, **extra: object) -> dict[str, object]:
    return {
        "registries": ["gitea.treytartt.com", "unreach.example"],
        "publicKey": PEM,
        "cosignPath": str(cosign),
        **extra,
    }


def calls(log: Path) -> list[str]:
    return log.read_text().splitlines() if log.exists() else []


def test_signed_verified(fake_cosign: tuple[Path, Path]) -> None:
    cosign, log = fake_cosign
    assert check("container-images-signed", deployment(), signed_config(cosign)) == []
    (line,) = calls(log)
    assert line.startswith("verify --key ") and "--insecure-ignore-tlog=true" in line
    assert line.endswith(f"gitea.treytartt.com/admin/honeydue-api@{DIGEST}")
    assert "--allow-http-registry" not in line


def test_signed_cached_per_digest(fake_cosign: tuple[Path, Path]) -> None:
    cosign, log = fake_cosign
    spec = pod_spec(containers=[container("a"), container("b")], initContainers=[container("migrate", probes=False)])
    for r in (deployment("api", spec=spec), deployment("worker", spec=spec)):
        assert check("container-images-signed", r, signed_config(cosign)) == []
    assert len(calls(log)) == 1 and VERIFIER.calls == 1


def test_signed_failure_carries_cosign_message(fake_cosign: tuple[Path, Path]) -> None:
    cosign, _ = fake_cosign
    image = f"gitea.treytartt.com/admin/honeydue-api@{UNSIGNED}"
    msgs = check(
        "container-images-signed", deployment(spec=pod_spec(containers=[container(image=image)])), signed_config(cosign)
    )
    assert len(msgs) == 1 and "no signatures found" in msgs[0] and "WARNING" not in msgs[0]


def test_signed_tag_only_fails_closed(fake_cosign: tuple[Path, Path]) -> None:
    cosign, log = fake_cosign
    image = "gitea.treytartt.com/admin/honeydue-api:v1"
    msgs = check(
        "container-images-signed", deployment(spec=pod_spec(containers=[container(image=image)])), signed_config(cosign)
    )
    assert len(msgs) == 1 and "tag only" in msgs[0] and calls(log) == []


def test_signed_unknown_image_fails_closed(fake_cosign: tuple[Path, Path]) -> None:
    cosign, _ = fake_cosign
    for unknown in ("[unknown]", "[secret]", "04da6b54-80e4-46f7-96ec-b56ff0331ba9"):
        r = deployment(spec=pod_spec(containers=[container(image=unknown)]))
        msgs = check("container-images-signed", r, signed_config(cosign))
        assert len(msgs) == 1 and "not known yet" in msgs[0]
    # A container list that is itself unknown fails closed too.
    r = deployment(spec={"containers": "[unknown]"})
    assert len(check("container-images-signed", r, signed_config(cosign))) == 1


def test_signed_missing_cosign_fails_closed(tmp_path: Path) -> None:
    VERIFIER.reset()
    msgs = check(
        "container-images-signed",
        deployment(),
        {"registries": ["gitea.treytartt.com"], "publicKey": PEM, "cosignPath": str(tmp_path / "nope")},
    )
    assert len(msgs) == 1 and "cosign not found" in msgs[0] and "tools/cosign.sh" in msgs[0]


def test_signed_missing_key_fails_closed(fake_cosign: tuple[Path, Path]) -> None:
    cosign, log = fake_cosign
    msgs = check("container-images-signed", deployment(), signed_config(cosign, publicKey=""))
    assert len(msgs) == 1 and "public key" in msgs[0] and calls(log) == []


def test_signed_unreachable_registry_fails_closed_once(fake_cosign: tuple[Path, Path]) -> None:
    cosign, log = fake_cosign
    images = [f"unreach.example/a@{DIGEST}", f"unreach.example/b@{DIGEST}"]
    spec = pod_spec(containers=[container(f"c{i}", image=img) for i, img in enumerate(images)])
    msgs = check("container-images-signed", deployment(spec=spec), signed_config(cosign))
    assert len(msgs) == 2 and all("no such host" in m for m in msgs)
    assert len(calls(log)) == 1  # the second image of the dead registry did not wait again


def test_signed_plain_http_and_tlog_config(fake_cosign: tuple[Path, Path]) -> None:
    cosign, log = fake_cosign
    cfg = signed_config(cosign, plainHttpRegistries=["gitea.treytartt.com"], ignoreTlog=False)
    assert check("container-images-signed", deployment(), cfg) == []
    (line,) = calls(log)
    assert "--allow-http-registry=true" in line and "insecure-ignore-tlog" not in line


def test_signed_skips_other_registries(fake_cosign: tuple[Path, Path]) -> None:
    cosign, log = fake_cosign
    r = deployment(spec=pod_spec(containers=[container(image=f"redis@{DIGEST}")]))
    assert check("container-images-signed", r, signed_config(cosign)) == [] and calls(log) == []
    # ... unless the config lists that registry.
    assert check("container-images-signed", r, signed_config(cosign, registries=["docker.io"])) == []
    assert len(calls(log)) == 1
