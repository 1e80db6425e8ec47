"""Signatures end to end, for real: Debian's docker-registry on a loopback port, OCI images pushed
over plain HTTP, keys and signatures made by the real cosign CLI, then tools/policy_check.py (as
`make policy-check` runs it) must accept the signed digest and reject an unsigned image, a
signature by another key, a tag-only reference and an unreachable registry."""

from __future__ import annotations

import gzip
import hashlib
import io
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tarfile
import time
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from .lib import ROOT, container, default_deny, deployment, image_policy, internet_egress, pod_spec

pytestmark = pytest.mark.e2e

CLI = [sys.executable, str(ROOT / "tools" / "policy_check.py")]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def http(method: str, url: str, data: bytes | None = None, headers: dict[str, str] | None = None) -> Any:
    request = urllib.request.Request(url, data=data, method=method, headers=headers or {})
    with urllib.request.urlopen(request, timeout=10) as response:
        return response


def push_blob(base: str, repo: str, content: bytes) -> str:
    digest = "sha256:" + hashlib.sha256(content).hexdigest()
    location = http("POST", f"{base}/v2/{repo}/blobs/uploads/").headers["Location"]
    location = base + location if location.startswith("/") else location
    sep = "&" if "?" in location else "?"
    http("PUT", f"{location}{sep}digest={digest}", content, {"Content-Type": "application/octet-stream"})
    return digest


def push_image(base: str, repo: str, tag: str, text: str) -> str:
    """A minimal OCI image (one layer holding one file) pushed with the distribution API."""
    raw = io.BytesIO()
    with tarfile.open(fileobj=raw, mode="w") as tar:
        data = text.encode()
        info = tarfile.TarInfo("hello.txt")
        info.size, info.mtime = len(data), 0
        tar.addfile(info, io.BytesIO(data))
    layer = gzip.compress(raw.getvalue(), mtime=0)
    config = json.dumps(
        {
            "architecture": "amd64",
            "os": "linux",
            "config": {},
            "rootfs": {"type": "layers", "diff_ids": ["sha256:" + hashlib.sha256(raw.getvalue()).hexdigest()]},
        }
    ).encode()
    manifest = json.dumps(
        {
            "schemaVersion": 2,
            "mediaType": "application/vnd.oci.image.manifest.v1+json",
            "config": {
                "mediaType": "application/vnd.oci.image.config.v1+json",
                "digest": push_blob(base, repo, config),
                "size": len(config),
            },
            "layers": [
                {
                    "mediaType": "application/vnd.oci.image.layer.v1.tar+gzip",
                    "digest": push_blob(base, repo, layer),
                    "size": len(layer),
                }
            ],
        }
    ).encode()
    response = http(
        "PUT",
        f"{base}/v2/{repo}/manifests/{tag}",
        manifest,
        {"Content-Type": "application/vnd.oci.image.manifest.v1+json"},
    )
    digest = "sha256:" + hashlib.sha256(manifest).hexdigest()
    assert response.headers["Docker-Content-Digest"] == digest
    return digest


@dataclass
class World:
    registry: str  # 127.0.0.1:PORT
    cosign: str
    public_key: str
    signed: str
    unsigned: str
    other_key: str
    tag_only: str
    tmp: Path


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> Iterator[World]:
    if shutil.which("docker-registry") is None:
        pytest.fail("docker-registry is not installed (apt-get install docker-registry)")
    cosign = subprocess.run(
        ["bash", str(ROOT / "tools" / "cosign.sh")], capture_output=True, text=True, check=True, timeout=300
    ).stdout.strip()
    tmp = tmp_path_factory.mktemp("e2e")
    port = free_port()
    registry = f"127.0.0.1:{port}"
    (tmp / "cfg.yml").write_text(
        f"version: 0.1\nlog:\n  level: error\nstorage:\n  filesystem:\n    rootdirectory: {tmp / 'data'}\n"
        f"http:\n  addr: {registry}\n  secret: e2e-test\n"
    )
    log = (tmp / "registry.log").open("w")
    proc = subprocess.Popen(
        ["docker-registry", "serve", str(tmp / "cfg.yml")],
        stdout=subprocess.DEVNULL,
        stderr=log,
        start_new_session=True,  # its own process group: the teardown signals exactly it
    )
    try:
        base = f"http://{registry}"
        for _ in range(100):
            try:
                http("GET", f"{base}/v2/")
                break
            except OSError:
                time.sleep(0.05)
        else:
            pytest.fail(f"registry did not start: {(tmp / 'registry.log').read_text()}")
        signed = f"{registry}/honeydue/api@{push_image(base, 'honeydue/api', 'v1', 'api')}"
        unsigned = f"{registry}/honeydue/admin@{push_image(base, 'honeydue/admin', 'v1', 'admin')}"
        other_key = f"{registry}/honeydue/worker@{push_image(base, 'honeydue/worker', 'v1', 'worker')}"
        env = {**os.environ, "COSIGN_PASSWORD": ""}
        for prefix in ("release", "stranger"):
            subprocess.run(
                [cosign, "generate-key-pair", "--output-key-prefix", str(tmp / prefix)],
                env=env,
                check=True,
                capture_output=True,
                timeout=60,
            )
        for key, image in (("release", signed), ("stranger", other_key)):
            subprocess.run(
                [
                    cosign,
                    "sign",
                    "--key",
                    str(tmp / f"{key}.key"),
                    "--tlog-upload=false",
                    "--allow-http-registry",
                    "-y",
                    image,
                ],
                env=env,
                check=True,
                capture_output=True,
                timeout=60,
            )
        yield World(
            registry,
            cosign,
            (tmp / "release.pub").read_text(),
            signed,
            unsigned,
            other_key,
            f"{registry}/honeydue/api:v1",
            tmp,
        )
    finally:
        os.killpg(proc.pid, signal.SIGTERM)  # the registry we started, by its PID
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait(timeout=10)
        log.close()


def policy_check(
    world: World, images: list[str], *extra: str, registry: str | None = None
) -> tuple[int, list[dict[str, Any]]]:
    """Write resources.json + a policy config for this registry and run the CLI."""
    registry = registry or world.registry
    prod = json.loads((ROOT / "policies" / "config.prod.json").read_text())
    prod["container-images-signed"].update(
        registries=[registry], plainHttpRegistries=[registry], publicKey=world.public_key, cosignPath=world.cosign
    )
    prod["container-images-allowed-registries"]["registries"] = [registry]
    prod["image-verification-enforced"].update(registries=[registry], publicKey=world.public_key)
    spec = pod_spec(containers=[container(f"c{i}", image=image) for i, image in enumerate(images)])
    kyverno = image_policy(
        matchImageReferences=[{"glob": f"{registry}/*"}],
        attestors=[{"name": "release", "cosign": {"key": {"data": world.public_key}}}],
    )
    resources = [deployment(spec=spec), default_deny(), internet_egress(), kyverno]
    (world.tmp / "resources.json").write_text(json.dumps(resources))
    (world.tmp / "config.json").write_text(json.dumps(prod))
    env = {k: v for k, v in os.environ.items() if k != "COSIGN"}
    proc = subprocess.run(
        [*CLI, str(world.tmp / "resources.json"), "--config", str(world.tmp / "config.json"), *extra],
        capture_output=True,
        text=True,
        timeout=120,
        env=env,
        check=False,
    )
    return proc.returncode, [json.loads(line) for line in proc.stdout.splitlines()]


def signature_messages(lines: list[dict[str, Any]]) -> list[str]:
    return [line["message"] for line in lines if line.get("policy") == "container-images-signed"]


def test_signed_digest_is_accepted(world: World) -> None:
    rc, lines = policy_check(world, [world.signed])
    assert rc == 0 and lines[-1]["mandatory"] == 0, lines


def test_unsigned_image_is_rejected(world: World) -> None:
    rc, lines = policy_check(world, [world.unsigned])
    assert rc == 1
    (message,) = signature_messages(lines)
    assert "no signatures found" in message and world.unsigned in message


def test_signature_by_another_key_is_rejected(world: World) -> None:
    rc, lines = policy_check(world, [world.other_key])
    assert rc == 1
    (message,) = signature_messages(lines)
    assert "no matching signatures" in message


def test_tag_only_reference_is_rejected(world: World) -> None:
    rc, lines = policy_check(world, [world.tag_only])
    assert rc == 1
    assert {line.get("policy") for line in lines[:-1]} == {"container-images-signed", "container-images-pinned"}
    assert "tag only" in signature_messages(lines)[0]


def test_unreachable_registry_is_rejected(world: World) -> None:
    dead = f"127.0.0.1:{free_port()}"
    rc, lines = policy_check(world, [world.signed.replace(world.registry, dead)], registry=dead)
    assert rc == 1
    (message,) = signature_messages(lines)
    assert "connection refused" in message


def test_offline_signatures_mode_reports_but_passes(world: World) -> None:
    rc, lines = policy_check(world, [world.signed, world.unsigned, world.other_key], "--offline-signatures")
    assert rc == 0
    assert [line["enforcementLevel"] for line in lines[:-1]] == ["advisory", "advisory"]
    assert lines[-1]["signaturesAdvisory"] is True and "ADVISORY" in lines[-1]["summary"]
    rc, _ = policy_check(world, [world.signed, world.unsigned, world.other_key])
    assert rc == 1
