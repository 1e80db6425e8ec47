"""The readiness gate against a real local HTTPS server that requires a client certificate."""

from __future__ import annotations

import datetime
import http.server
import ipaddress
import json
import ssl
import threading
import urllib.error
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from components.readiness import node_status, wait_ready

NODES = ["honeydue-prod-k3s-1", "honeydue-prod-k3s-2", "honeydue-prod-k3s-3"]
NOW = datetime.datetime.now(datetime.UTC)


def _key() -> ec.EllipticCurvePrivateKey:
    return ec.generate_private_key(ec.SECP256R1())


def _pem(obj: Any) -> str:
    if isinstance(obj, x509.Certificate):
        return obj.public_bytes(serialization.Encoding.PEM).decode()
    return str(
        obj.private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
        ).decode()
    )


def _cert(
    cn: str, key: ec.EllipticCurvePrivateKey, issuer: tuple[x509.Name, ec.EllipticCurvePrivateKey] | None, **ext: Any
) -> x509.Certificate:
    subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, cn), *ext.pop("org", [])])
    issuer_name, signer = issuer or (subject, key)
    builder = (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(issuer_name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(NOW - datetime.timedelta(minutes=5))
        .not_valid_after(NOW + datetime.timedelta(days=1))
        .add_extension(x509.BasicConstraints(ca=issuer is None, path_length=None), critical=True)
    )
    if "san" in ext:
        builder = builder.add_extension(x509.SubjectAlternativeName(ext["san"]), critical=False)
    if "eku" in ext:
        builder = builder.add_extension(x509.ExtendedKeyUsage(ext["eku"]), critical=False)
    return builder.sign(signer, hashes.SHA256())


@dataclass
class Pki:
    ca_pem: str
    server_cert: str
    server_key: str
    client_cert: str
    client_key: str
    client_ca_pem: str


@pytest.fixture(scope="module")
def pki() -> Pki:
    ca_key, client_ca_key = _key(), _key()
    ca = _cert("server-ca", ca_key, None)
    client_ca = _cert("client-ca", client_ca_key, None)
    server_key, client_key = _key(), _key()
    server = _cert(
        "k3s",
        server_key,
        (ca.subject, ca_key),
        san=[x509.IPAddress(ipaddress.ip_address("127.0.0.1"))],
        eku=[ExtendedKeyUsageOID.SERVER_AUTH],
    )
    client = _cert(
        "honeydue-admin",
        client_key,
        (client_ca.subject, client_ca_key),
        org=[x509.NameAttribute(NameOID.ORGANIZATION_NAME, "system:masters")],
        eku=[ExtendedKeyUsageOID.CLIENT_AUTH],
    )
    # The server trusts only the client CA, as kube-apiserver trusts client-ca.crt.
    return Pki(_pem(ca), _pem(server), _pem(server_key), _pem(client), _pem(client_key), _pem(client_ca))


@dataclass
class FakeApi:
    """What the fake kube-apiserver answers; tests change it while the gate polls."""

    readyz: str = "ok"
    nodes: dict[str, bool] = field(default_factory=dict)  # name -> Ready
    requests: list[str] = field(default_factory=list)
    client_cns: list[str] = field(default_factory=list)


@pytest.fixture
def api(pki: Pki, tmp_path: Path) -> Iterator[tuple[str, FakeApi]]:
    state = FakeApi()

    class Handler(http.server.BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            state.requests.append(self.path)
            peer = self.connection.getpeercert()  # type: ignore[attr-defined]
            state.client_cns.append(dict(x[0] for x in peer["subject"])["commonName"])
            if self.path == "/readyz":
                body = state.readyz.encode()
            elif self.path == "/api/v1/nodes":
                items = [
                    {"metadata": {"name": n}, "status": {"conditions": [{"type": "Ready", "status": str(r)}]}}
                    for n, r in state.nodes.items()
                ]
                body = json.dumps({"kind": "NodeList", "items": items}).encode()
            else:
                self.send_error(404)
                return
            self.send_response(200)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args: Any) -> None:
            pass

    (tmp_path / "server.pem").write_text(pki.server_cert + pki.server_key)
    client_ca = tmp_path / "client-ca.pem"
    client_ca.write_text(pki.client_ca_pem)
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.load_cert_chain(tmp_path / "server.pem")
    context.load_verify_locations(client_ca)
    context.verify_mode = ssl.CERT_REQUIRED  # like kube-apiserver for the admin: no cert, no answer
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    server.socket = context.wrap_socket(server.socket, server_side=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"https://127.0.0.1:{server.server_address[1]}", state
    finally:
        server.shutdown()
        server.server_close()


def _wait(url: str, pki: Pki, timeout: float = 5.0) -> list[str]:
    return wait_ready(url, pki.ca_pem, pki.client_cert, pki.client_key, NODES, timeout=timeout, poll=0.05)


def test_passes_when_every_node_is_ready(api: tuple[str, FakeApi], pki: Pki) -> None:
    url, state = api
    state.nodes = dict.fromkeys(NODES, True)
    assert _wait(url, pki) == NODES
    assert state.requests[-2:] == ["/readyz", "/api/v1/nodes"]
    assert set(state.client_cns) == {"honeydue-admin"}  # it presented the admin certificate


def test_readyz_alone_is_not_enough(api: tuple[str, FakeApi], pki: Pki) -> None:
    """The bootstrap server answers ok while joiners are missing or not Ready: keep waiting."""
    url, state = api
    state.nodes = {NODES[0]: True, NODES[2]: False}
    with pytest.raises(TimeoutError) as info:
        _wait(url, pki, timeout=0.5)
    message = str(info.value)
    assert "nodes missing: ['honeydue-prod-k3s-2']" in message
    assert "not Ready: ['honeydue-prod-k3s-3']" in message
    assert "after 0 s" in message or "after 1 s" in message


def test_waits_for_nodes_that_join_late(api: tuple[str, FakeApi], pki: Pki) -> None:
    url, state = api
    state.nodes = {NODES[0]: True}

    def join_later() -> None:
        state.nodes = dict.fromkeys(NODES, True)

    timer = threading.Timer(0.3, join_later)
    timer.start()
    try:
        assert _wait(url, pki, timeout=10) == NODES
    finally:
        timer.cancel()
    assert state.requests.count("/api/v1/nodes") >= 2


def test_readyz_not_ok_is_reported(api: tuple[str, FakeApi], pki: Pki) -> None:
    url, state = api
    state.readyz = "[-]etcd failed"
    state.nodes = dict.fromkeys(NODES, True)
    with pytest.raises(TimeoutError, match=r"/readyz: HTTP 200: \[-\]etcd failed"):
        _wait(url, pki, timeout=0.3)
    assert "/api/v1/nodes" not in state.requests


def test_the_fake_api_really_requires_a_client_certificate(api: tuple[str, FakeApi], pki: Pki) -> None:
    """Guards the test itself: without the admin certificate nothing answers."""
    url, _ = api
    context = ssl.create_default_context(cadata=pki.ca_pem)
    with pytest.raises((ssl.SSLError, urllib.error.URLError, ConnectionResetError)):
        urllib.request.urlopen(url + "/readyz", context=context, timeout=5).read()


def test_unreachable_api_names_the_last_error(pki: Pki) -> None:
    with pytest.raises(TimeoutError, match=r"ConnectionRefusedError|URLError"):
        wait_ready("https://127.0.0.1:9", pki.ca_pem, pki.client_cert, pki.client_key, NODES, timeout=0.2, poll=0.05)


def test_node_status() -> None:
    doc = {
        "items": [
            {"metadata": {"name": "a"}, "status": {"conditions": [{"type": "Ready", "status": "True"}]}},
            {"metadata": {"name": "b"}, "status": {"conditions": [{"type": "Ready", "status": "Unknown"}]}},
            {"metadata": {"name": "c"}, "status": {"conditions": [{"type": "MemoryPressure", "status": "True"}]}},
        ]
    }
    assert node_status(doc, ["a", "b", "c", "d"]) == (["d"], ["b", "c"])
    assert node_status({"items": None}, ["a"]) == (["a"], [])
