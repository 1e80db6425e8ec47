"""The offline PKI looks like the real one, and the plan's PKI passes the chain rules K3s applies.

Encodings are checked with third-party readers (cryptography's loaders, ssh-keygen, openssl
verify, cryptography's RFC 5280 path validator), not by re-deriving what the mock wrote.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, rsa
from cryptography.x509 import verification
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from components.pki import CA_ROLES
from tools import mock_pki, mockrt

SEED = "test-seed"
URN = "urn:pulumi:prod::honeydue::tls:index/privateKey:PrivateKey::k"
KEY_CASES = [
    ({"algorithm": "ECDSA", "ecdsaCurve": "P256"}, "EC PRIVATE KEY", ec.EllipticCurvePrivateKey),
    ({"algorithm": "ECDSA", "ecdsaCurve": "P384"}, "EC PRIVATE KEY", ec.EllipticCurvePrivateKey),
    ({"algorithm": "RSA", "rsaBits": 2048}, "RSA PRIVATE KEY", rsa.RSAPrivateKey),
    ({"algorithm": "ED25519"}, "PRIVATE KEY", ed25519.Ed25519PrivateKey),
]


def pem_type(pem: str) -> str:
    return pem.splitlines()[0].removeprefix("-----BEGIN ").removesuffix("-----")


# --------------------------------------------------------------------------------------------
# Key encodings (terraform-provider-tls resource_private_key.go, common_key.go)
# --------------------------------------------------------------------------------------------


@pytest.mark.parametrize(("inputs", "pem_kind", "key_type"), KEY_CASES, ids=lambda c: str(c))
def test_private_key_encodings_match_the_provider(
    inputs: dict[str, Any], pem_kind: str, key_type: type, tmp_path: Path
) -> None:
    out = mock_pki.private_key_outputs(inputs, SEED, URN)
    assert pem_type(out["privateKeyPem"]) == pem_kind
    key = serialization.load_pem_private_key(out["privateKeyPem"].encode(), None)
    assert isinstance(key, key_type)
    if pem_kind == "RSA PRIVATE KEY":  # PKCS#1, not PKCS#8
        assert key.key_size == 2048 and key.public_key().public_numbers().e == 65537
    assert pem_type(out["privateKeyPemPkcs8"]) == "PRIVATE KEY"
    spki = key.public_key().public_bytes(serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo)
    pkcs8 = serialization.load_pem_private_key(out["privateKeyPemPkcs8"].encode(), None)
    assert (
        pkcs8.public_key().public_bytes(serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo)
        == spki
    )
    assert pem_type(out["publicKeyPem"]) == "PUBLIC KEY"
    assert (
        serialization.load_pem_public_key(out["publicKeyPem"].encode()).public_bytes(
            serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
        )
        == spki
    )
    assert out["id"] == hashlib.sha1(spki).hexdigest()  # hashForState of the PKIX bytes

    # OpenSSH forms, read by ssh-keygen: the private key yields the published public key, and
    # the fingerprints are ssh-keygen's.
    assert out["publicKeyOpenssh"].endswith("\n") and out["publicKeyOpenssh"].count("\n") == 1
    private = tmp_path / "id"
    private.write_text(out["privateKeyOpenssh"])
    private.chmod(0o600)
    derived = subprocess.run(["ssh-keygen", "-y", "-f", str(private)], capture_output=True, text=True, check=True)
    assert derived.stdout.split()[:2] == out["publicKeyOpenssh"].split()[:2]
    public = tmp_path / "id.pub"
    public.write_text(out["publicKeyOpenssh"])
    for algo, field in (("sha256", "publicKeyFingerprintSha256"), ("md5", "publicKeyFingerprintMd5")):
        line = subprocess.run(
            ["ssh-keygen", "-l", "-E", algo, "-f", str(public)], capture_output=True, text=True, check=True
        ).stdout.split()[1]
        assert line.removeprefix("MD5:") == out[field]


def test_keys_are_derived_from_seed_and_urn() -> None:
    ecdsa = {"algorithm": "ECDSA", "ecdsaCurve": "P256"}
    first = mock_pki.private_key_outputs(ecdsa, SEED, URN)
    assert mock_pki.private_key_outputs(ecdsa, SEED, URN) == first  # byte for byte, OpenSSH check word included
    assert mock_pki.private_key_outputs(ecdsa, SEED, URN + "2")["publicKeyPem"] != first["publicKeyPem"]
    assert mock_pki.private_key_outputs(ecdsa, SEED + "2", URN)["publicKeyPem"] != first["publicKeyPem"]
    # The provider's defaults: ECDSA without a curve is P224, which OpenSSH cannot hold.
    p224 = mock_pki.private_key_outputs({"algorithm": "ECDSA"}, SEED, URN)
    assert p224["ecdsaCurve"] == "P224" and p224["privateKeyOpenssh"] == p224["publicKeyOpenssh"] == ""


# --------------------------------------------------------------------------------------------
# Certificates (common_cert.go createCertificate, Go's x509.CreateCertificate)
# --------------------------------------------------------------------------------------------


def _leaf_and_ca() -> tuple[x509.Certificate, x509.Certificate, Any]:
    ca_key_pem = mock_pki.private_key_outputs({"algorithm": "ECDSA", "ecdsaCurve": "P256"}, SEED, "ca")["privateKeyPem"]
    ca = mock_pki.self_signed_outputs(
        {
            "privateKeyPem": ca_key_pem,
            "subject": {"commonName": "ca", "organization": "o"},
            "isCaCertificate": True,
            "validityPeriodHours": 48,
            "allowedUses": ["cert_signing", "crl_signing"],
        },
        SEED,
        "ca-cert",
    )
    leaf_key_pem = mock_pki.private_key_outputs({"algorithm": "RSA", "rsaBits": 2048}, SEED, "leaf")["privateKeyPem"]
    csr = mock_pki.cert_request_outputs(
        {"privateKeyPem": leaf_key_pem, "subject": {"commonName": "svc"}, "dnsNames": ["a.example"]}
    )
    leaf = mock_pki.locally_signed_outputs(
        {
            "certRequestPem": csr["certRequestPem"],
            "caCertPem": ca["certPem"],
            "caPrivateKeyPem": ca_key_pem,
            "validityPeriodHours": 24,
            "allowedUses": ["digital_signature", "server_auth"],
        },
        SEED,
        "leaf-cert",
    )
    assert ca["keyAlgorithm"] == "ECDSA" and leaf["caKeyAlgorithm"] == "ECDSA" and csr["keyAlgorithm"] == "RSA"
    return (
        x509.load_pem_x509_certificate(leaf["certPem"].encode()),
        x509.load_pem_x509_certificate(ca["certPem"].encode()),
        leaf,
    )


def test_certificate_fields_follow_the_provider() -> None:
    leaf, ca, out = _leaf_and_ca()
    # Self-signed CA: SKID = sha1 of the raw EC point (not of the SPKI), no AKID.
    point = ca.public_key().public_bytes(serialization.Encoding.X962, serialization.PublicFormat.UncompressedPoint)
    assert ca.extensions.get_extension_for_class(x509.SubjectKeyIdentifier).value.digest == hashlib.sha1(point).digest()
    with pytest.raises(x509.ExtensionNotFound):
        ca.extensions.get_extension_for_class(x509.AuthorityKeyIdentifier)
    # Leaf: AKID from the CA's SKID, CA:false written (BasicConstraintsValid), no SKID unless asked.
    akid = leaf.extensions.get_extension_for_class(x509.AuthorityKeyIdentifier).value
    assert akid.key_identifier == hashlib.sha1(point).digest()
    bc = leaf.extensions.get_extension_for_class(x509.BasicConstraints)
    assert bc.critical and bc.value.ca is False
    with pytest.raises(x509.ExtensionNotFound):
        leaf.extensions.get_extension_for_class(x509.SubjectKeyIdentifier)
    ku = leaf.extensions.get_extension_for_class(x509.KeyUsage)
    assert ku.critical and ku.value.digital_signature and not ku.value.key_cert_sign
    assert list(leaf.extensions.get_extension_for_class(x509.ExtendedKeyUsage).value) == [
        ExtendedKeyUsageOID.SERVER_AUTH
    ]
    assert leaf.extensions.get_extension_for_class(x509.SubjectAlternativeName).value.get_values_for_type(
        x509.DNSName
    ) == ["a.example"]
    # Validity from the fixed clock; serial and id agree; 128-bit serial.
    assert leaf.not_valid_before_utc == mock_pki.EPOCH
    assert leaf.not_valid_after_utc == mock_pki.EPOCH + dt.timedelta(hours=24)
    assert out["validityEndTime"] == "2026-01-02T00:00:00Z" and out["id"] == str(leaf.serial_number)
    assert leaf.serial_number.bit_length() <= 128
    # Go's subject order: O before CN.
    assert [a.oid for a in ca.subject] == [NameOID.ORGANIZATION_NAME, NameOID.COMMON_NAME]


def test_certificates_are_byte_identical_across_runs() -> None:
    first = _leaf_and_ca()
    second = _leaf_and_ca()
    assert first[0].public_bytes(serialization.Encoding.DER) == second[0].public_bytes(serialization.Encoding.DER)
    assert first[1].public_bytes(serialization.Encoding.DER) == second[1].public_bytes(serialization.Encoding.DER)


# --------------------------------------------------------------------------------------------
# The plan's cluster PKI under K3s's rules
# --------------------------------------------------------------------------------------------


def _certs(bundle: str) -> list[x509.Certificate]:
    return x509.load_pem_x509_certificates(bundle.encode())


def _pki(plan: mockrt.PlanResult) -> dict[str, Any]:
    """Role -> certificate / key, read from what the program registered and rendered."""
    by_name = {r.name: r for r in plan.resources}
    tls_dir = "/var/lib/rancher/k3s/server/tls/"
    # The bootstrap server: the one whose user_data carries the CA files.
    docs = [yaml.safe_load(s.inputs["userData"]) for s in plan.of_type("hcloud:index/server:Server")]
    files = next(
        files
        for files in ({f["path"]: f["content"] for f in doc.get("write_files", [])} for doc in docs)
        if tls_dir + "server-ca.crt" in files
    )
    config = yaml.safe_load(files["/etc/rancher/k3s/config.yaml"])
    # The admin certificate, wherever the program passes it (readiness gate, kubeconfig...).
    admins = [
        cert
        for r in plan.resources
        for value in r.inputs.values()
        if isinstance(value, str) and value.startswith("-----BEGIN CERTIFICATE-----")
        for cert in x509.load_pem_x509_certificates(value.encode())
        if cert.subject.get_attributes_for_oid(NameOID.ORGANIZATION_NAME)
        and cert.subject.get_attributes_for_oid(NameOID.ORGANIZATION_NAME)[0].value == "system:masters"
    ]
    assert admins, "no system:masters certificate in any input"
    return {
        "root": x509.load_pem_x509_certificate(by_name["k3s-pki-server-ca"].inputs["caCertPem"].encode()),
        "files": {p.removeprefix(tls_dir): c for p, c in files.items() if p.startswith(tls_dir)},
        "token": config["token"],
        "admin": admins[0],
    }


def k3s_hash_ca(bundle: bytes) -> str:
    """K3s pkg/clientaccess/token.go hashCA: for a multi-certificate bundle, the sha256 of the DER
    of the root that the first certificate chains to (a later certificate with no AKID, or an
    AKID equal to its SKID, is a root); if that chain does not verify, of the file's bytes."""
    certs = x509.load_pem_x509_certificates(bundle)
    if len(certs) > 1:

        def ids(c: x509.Certificate) -> tuple[bytes | None, bytes | None]:
            try:
                akid = c.extensions.get_extension_for_class(x509.AuthorityKeyIdentifier).value.key_identifier
            except x509.ExtensionNotFound:
                akid = None
            try:
                skid = c.extensions.get_extension_for_class(x509.SubjectKeyIdentifier).value.digest
            except x509.ExtensionNotFound:
                skid = None
            return akid, skid

        roots = [c for c in certs[1:] if not ids(c)[0] or ids(c)[0] == ids(c)[1]]
        for root in roots:
            try:
                certs[0].verify_directly_issued_by(root)
            except (ValueError, TypeError, Exception):  # noqa: BLE001 - any failure: not this root
                continue
            return hashlib.sha256(root.public_bytes(serialization.Encoding.DER)).hexdigest()
    return hashlib.sha256(bundle).hexdigest()


@pytest.fixture(scope="module")
def pki(prod_plan: mockrt.PlanResult) -> dict[str, Any]:
    return _pki(prod_plan)


def test_token_carries_the_hash_k3s_computes_from_server_ca_crt(pki: dict[str, Any]) -> None:
    bundle = pki["files"]["server-ca.crt"]
    certs = _certs(bundle)
    assert len(certs) == 2 and certs[1] == pki["root"], "server-ca.crt is the CA followed by the root"
    expected = hashlib.sha256(pki["root"].public_bytes(serialization.Encoding.DER)).hexdigest()
    assert k3s_hash_ca(bundle.encode()) == expected != hashlib.sha256(bundle.encode()).hexdigest()
    assert pki["token"].startswith(f"K10{expected}::server:")


@pytest.mark.parametrize("role", CA_ROLES)
def test_each_intermediate_ca_is_signed_by_the_root(pki: dict[str, Any], role: str) -> None:
    root = pki["root"]
    cert = _certs(pki["files"][f"{role}.crt"])[0]
    assert cert.issuer == root.subject
    cert.verify_directly_issued_by(root)  # signature, issuer name, root is a CA
    root_skid = root.extensions.get_extension_for_class(x509.SubjectKeyIdentifier).value.digest
    assert cert.extensions.get_extension_for_class(x509.AuthorityKeyIdentifier).value.key_identifier == root_skid
    bc = cert.extensions.get_extension_for_class(x509.BasicConstraints)
    assert bc.critical and bc.value.ca is True
    assert cert.extensions.get_extension_for_class(x509.KeyUsage).value.key_cert_sign
    skid = cert.extensions.get_extension_for_class(x509.SubjectKeyIdentifier).value.digest
    assert skid != root_skid
    key = serialization.load_pem_private_key(pki["files"][f"{role}.key"].encode(), None)
    assert pem_type(pki["files"][f"{role}.key"]) == "EC PRIVATE KEY"  # ECDSA: SEC1, as pulumi-tls writes it
    assert key.public_key() == cert.public_key(), f"{role}.key belongs to {role}.crt"


def test_a_serving_cert_from_server_ca_validates_against_the_bundle(pki: dict[str, Any], tmp_path: Path) -> None:
    """What K3s does with server-ca: sign the apiserver's serving certificate; clients that trust
    the bundle accept it (RFC 5280 path validation by cryptography and by openssl)."""
    ca_key = serialization.load_pem_private_key(pki["files"]["server-ca.key"].encode(), None)
    server_ca = _certs(pki["files"]["server-ca.crt"])[0]
    leaf_key = ec.generate_private_key(ec.SECP256R1())
    now = mock_pki.EPOCH + dt.timedelta(days=1)
    leaf = (
        x509.CertificateBuilder()
        .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "kube-apiserver")]))
        .issuer_name(server_ca.subject)
        .public_key(leaf_key.public_key())
        .serial_number(7)
        .not_valid_before(now)
        .not_valid_after(now + dt.timedelta(days=30))
        .add_extension(x509.SubjectAlternativeName([x509.DNSName("k8s.example")]), critical=False)
        .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
        .add_extension(x509.AuthorityKeyIdentifier.from_issuer_public_key(ca_key.public_key()), critical=False)
        .sign(ca_key, hashes.SHA256())
    )
    verifier = (
        verification.PolicyBuilder()
        .store(verification.Store([pki["root"]]))
        .time(now)
        .build_server_verifier(verification.DNSName("k8s.example"))
    )
    chain = verifier.verify(leaf, [server_ca])
    assert chain[-1] == pki["root"]
    (tmp_path / "leaf.pem").write_bytes(leaf.public_bytes(serialization.Encoding.PEM))
    (tmp_path / "bundle.pem").write_text(pki["files"]["server-ca.crt"])
    (tmp_path / "root.pem").write_bytes(pki["root"].public_bytes(serialization.Encoding.PEM))
    proc = subprocess.run(
        ["openssl", "verify", "-attime", str(int(now.timestamp())), "-CAfile", str(tmp_path / "root.pem"),
         "-untrusted", str(tmp_path / "bundle.pem"), "-purpose", "sslserver", str(tmp_path / "leaf.pem")],
        capture_output=True, text=True,
    )  # fmt: skip
    assert proc.returncode == 0, proc.stdout + proc.stderr


def test_admin_client_cert_chains_to_client_ca_as_cluster_admin(pki: dict[str, Any], tmp_path: Path) -> None:
    admin, root = pki["admin"], pki["root"]
    client_ca = _certs(pki["files"]["client-ca.crt"])[0]
    admin.verify_directly_issued_by(client_ca)
    assert admin.subject.get_attributes_for_oid(NameOID.ORGANIZATION_NAME)[0].value == "system:masters"
    eku = admin.extensions.get_extension_for_class(x509.ExtendedKeyUsage).value
    assert ExtendedKeyUsageOID.CLIENT_AUTH in eku
    assert admin.extensions.get_extension_for_class(x509.BasicConstraints).value.ca is False
    now = mock_pki.EPOCH + dt.timedelta(days=1)
    # Kubernetes identifies a client by its subject, not a SAN: the web PKI's SAN requirement is
    # relaxed for the leaf, every other RFC 5280 rule stays.
    ee_policy = verification.ExtensionPolicy.webpki_defaults_ee().may_be_present(
        x509.SubjectAlternativeName, verification.Criticality.AGNOSTIC, None
    )
    verifier = (
        verification.PolicyBuilder()
        .store(verification.Store([root]))
        .time(now)
        .extension_policies(ca_policy=verification.ExtensionPolicy.webpki_defaults_ca(), ee_policy=ee_policy)
        .build_client_verifier()
    )
    verified = verifier.verify(admin, [client_ca])
    assert verified.chain[-1] == root
    # The kube-apiserver trusts client-ca.crt alone (--client-ca-file): openssl with it as the anchor.
    (tmp_path / "admin.pem").write_bytes(admin.public_bytes(serialization.Encoding.PEM))
    (tmp_path / "client-ca.pem").write_text(pki["files"]["client-ca.crt"])
    proc = subprocess.run(
        ["openssl", "verify", "-partial_chain", "-attime", str(int(now.timestamp())), "-CAfile",
         str(tmp_path / "client-ca.pem"), "-purpose", "sslclient", str(tmp_path / "admin.pem")],
        capture_output=True, text=True,
    )  # fmt: skip
    assert proc.returncode == 0, proc.stdout + proc.stderr


def test_a_broken_chain_would_change_the_token_hash(pki: dict[str, Any]) -> None:
    """The rule the token relies on can fail: a bundle whose root does not sign the CA falls back
    to hashing the file's bytes, so the token would no longer match."""
    other_root = _certs(pki["files"]["client-ca.crt"])[0]
    server_ca = _certs(pki["files"]["server-ca.crt"])[0]
    bundle = server_ca.public_bytes(serialization.Encoding.PEM) + other_root.public_bytes(serialization.Encoding.PEM)
    assert k3s_hash_ca(bundle) == hashlib.sha256(bundle).hexdigest()
