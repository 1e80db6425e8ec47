"""ClusterPki (components/pki.py): the K3s CAs, the admin client certificate and the join token.

What the component registers (key types, CA flags, lifetimes, protection) is read from the
plan's inputs; what those inputs produce (certificates, keys, the token) from the files the
bootstrap server receives. tests/test_mock_pki.py holds the checks that K3s, openssl and RFC 5280
path validation accept the chain, and that the offline PKI behaves like pulumi-tls.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import re

import pytest
import yaml
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from components.pki import CA_ROLES, ca_hash, secure_token
from tools import mockrt

TLS_DIR = "/var/lib/rancher/k3s/server/tls/"
KEY = "tls:index/privateKey:PrivateKey"
ROOT_CERT = "tls:index/selfSignedCert:SelfSignedCert"
SIGNED_CERT = "tls:index/locallySignedCert:LocallySignedCert"
PASSWORD = "random:index/randomPassword:RandomPassword"
HOUR = dt.timedelta(hours=1)


def pki_children(plan: mockrt.PlanResult) -> dict[str, mockrt.Registration]:
    """The component's resources by name, without the `k3s-pki-` prefix."""
    (component,) = plan.of_type("honeydue:pki:ClusterPki")
    prefix = component.name + "-"
    return {r.name.removeprefix(prefix): r for r in plan.resources if r.parent == component.urn}


def bootstrap_files(plan: mockrt.PlanResult) -> dict[str, str]:
    """Path -> content of the one server whose user_data carries the CA files."""
    docs = [yaml.safe_load(s.inputs["userData"]) for s in plan.of_type("hcloud:index/server:Server")]
    (files,) = [
        files
        for files in ({f["path"]: f["content"] for f in doc.get("write_files", [])} for doc in docs)
        if TLS_DIR + "server-ca.crt" in files
    ]
    return files


def tls_files(plan: mockrt.PlanResult) -> dict[str, str]:
    return {p.removeprefix(TLS_DIR): c for p, c in bootstrap_files(plan).items() if p.startswith(TLS_DIR)}


def certs(pem: str) -> list[x509.Certificate]:
    return x509.load_pem_x509_certificates(pem.encode())


def k3s_servers(plan: mockrt.PlanResult) -> list[mockrt.Registration]:
    return [s for s in plan.of_type("hcloud:index/server:Server") if s.inputs["labels"]["role"] == "k3s-server"]


def token_of(server: mockrt.Registration) -> str:
    """The join token in the server's K3s config."""
    doc = yaml.safe_load(server.inputs["userData"])
    (config,) = [f["content"] for f in doc["write_files"] if f["path"] == "/etc/rancher/k3s/config.yaml"]
    return yaml.safe_load(config)["token"]  # type: ignore[no-any-return]


def self_signed(common_name: str) -> x509.Certificate:
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common_name)])
    now = dt.datetime(2026, 1, 1, tzinfo=dt.UTC)
    return (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(1)
        .not_valid_before(now)
        .not_valid_after(now + dt.timedelta(days=1))
        .sign(key, hashes.SHA256())
    )


# --------------------------------------------------------------------------------------------
# Pure: the token K3s checks a joining server against
# --------------------------------------------------------------------------------------------


def test_ca_hash_is_sha256_of_the_root_der_and_the_token_carries_it() -> None:
    root, other = self_signed("root"), self_signed("other")
    pem = root.public_bytes(serialization.Encoding.PEM).decode()
    expected = hashlib.sha256(root.public_bytes(serialization.Encoding.DER)).hexdigest()
    assert ca_hash(pem) == expected != ca_hash(other.public_bytes(serialization.Encoding.PEM).decode())
    assert ca_hash(pem) != hashlib.sha256(pem.encode()).hexdigest()  # the certificate, not its text
    assert secure_token(pem, "s3cret") == f"K10{expected}::server:s3cret"


# --------------------------------------------------------------------------------------------
# The component in the stack
# --------------------------------------------------------------------------------------------


def test_token_hash_is_sha256_of_root_ca_der(prod_plan: mockrt.PlanResult) -> None:
    servers = k3s_servers(prod_plan)
    assert len(servers) == 3
    (token,) = {token_of(s) for s in servers}  # every server joins with the same token
    bundle = certs(tls_files(prod_plan)["server-ca.crt"])
    assert len(bundle) == 2
    intermediate, root = bundle
    # Independent computation: the root is self-signed and signs the server CA.
    root.verify_directly_issued_by(root)
    intermediate.verify_directly_issued_by(root)
    expected = hashlib.sha256(root.public_bytes(serialization.Encoding.DER)).hexdigest()
    prefix, _, rest = token.partition("::")
    assert prefix == "K10" + expected
    user, _, secret = rest.partition(":")
    assert user == "server" and len(secret) >= 32


def test_token_secret_is_48_alphanumerics(prod_plan: mockrt.PlanResult) -> None:
    """The password's settings reach the token: no shell or YAML metacharacter, 48 characters."""
    password = pki_children(prod_plan)["token-secret"]
    assert password.type == PASSWORD
    assert password.inputs["length"] == 48 and password.inputs["special"] is False
    assert re.fullmatch(
        r"K10[0-9a-f]{64}::server:[A-Za-z0-9]{48}", token_of(prod_plan.of_type("hcloud:index/server:Server")[0])
    )


def test_cluster_pki_is_protected_in_prod_only(prod_plan: mockrt.PlanResult, staging_plan: mockrt.PlanResult) -> None:
    def pki(plan: mockrt.PlanResult) -> dict[str, bool]:
        return {
            r.name: r.options["protect"]
            for r in plan.resources
            if r.type.startswith(("tls:", "random:")) and r.name.startswith("k3s-pki-")
        }

    prod = pki(prod_plan)
    rotating = {"k3s-pki-admin", "k3s-pki-admin-key", "k3s-pki-admin-csr"}
    assert rotating <= set(prod) and not any(prod[n] for n in rotating)
    identity = {n for n in prod if n not in rotating}
    assert {"k3s-pki-root-ca", "k3s-pki-root-ca-key", "k3s-pki-server-ca", "k3s-pki-server-ca-key",
            "k3s-pki-service-key", "k3s-pki-token-secret", "k3s-pki-etcd-peer-ca-key"} <= identity  # fmt: skip
    assert all(prod[n] for n in identity), {n for n in identity if not prod[n]}
    assert not any(pki(staging_plan).values())


def test_every_key_is_ecdsa_p256(prod_plan: mockrt.PlanResult) -> None:
    """ECDSA P-256 throughout: kube-apiserver signs service-account tokens with ES256, and the
    keys keep the first server's user_data within its 16 KiB budget."""
    roles = [role.replace("/", "-") for role in CA_ROLES]
    keys = {name: r for name, r in pki_children(prod_plan).items() if r.type == KEY}
    assert set(keys) == {f"{n}-key" for n in ("root-ca", *roles, "service", "admin")}
    for name, key in keys.items():
        assert (key.inputs["algorithm"], key.inputs["ecdsaCurve"]) == ("ECDSA", "P256"), name
    # ...and what the server receives is such a key (service.key signs the service-account tokens).
    files = tls_files(prod_plan)
    for name in [f"{role}.key" for role in CA_ROLES] + ["service.key"]:
        loaded = serialization.load_pem_private_key(files[name].encode(), None)
        assert isinstance(loaded, ec.EllipticCurvePrivateKey) and loaded.curve.name == "secp256r1", name


def test_ca_flags_lifetimes_and_names(prod_plan: mockrt.PlanResult) -> None:
    """The root outlives the CAs it signs, which outlive the admin certificate; only the admin
    certificate renews itself, as a client certificate; each CA is named after its cluster and role."""
    children = pki_children(prod_plan)
    root = children["root-ca"]
    assert root.type == ROOT_CERT and root.inputs["isCaCertificate"] is True
    assert root.inputs["subject"]["commonName"] == "honeydue-prod-root-ca"
    files = tls_files(prod_plan)
    root_cert = certs(files["server-ca.crt"])[1]
    for role in CA_ROLES:
        ca = children[role.replace("/", "-")]
        assert (
            ca.type == SIGNED_CERT
            and ca.inputs["isCaCertificate"] is True
            and "cert_signing" in ca.inputs["allowedUses"]
        )
        assert certs(ca.inputs["caCertPem"]) == [root_cert]
        # A CA never renews itself on a `pulumi up`: a new CA locks out every node (ClusterPkiArgs).
        assert "earlyRenewalHours" not in ca.inputs
        assert ca.inputs["validityPeriodHours"] < root.inputs["validityPeriodHours"]
        (csr,) = [r for n, r in children.items() if n == f"{role.replace('/', '-')}-csr"]
        assert csr.inputs["subject"]["commonName"] == f"honeydue-prod-{role.replace('/', '-')}"
        cert = certs(files[f"{role}.crt"])[0]
        assert len(certs(files[f"{role}.crt"])) == (2 if role == "server-ca" else 1)  # only server-ca bundles the root
        assert cert.not_valid_after_utc < root_cert.not_valid_after_utc
        assert (cert.not_valid_after_utc - cert.not_valid_before_utc) == ca.inputs["validityPeriodHours"] * HOUR
    admin = children["admin"]
    assert "isCaCertificate" not in admin.inputs and "client_auth" in admin.inputs["allowedUses"]
    assert 0 < admin.inputs["earlyRenewalHours"] < admin.inputs["validityPeriodHours"]
    assert admin.inputs["validityPeriodHours"] < min(
        children[r.replace("/", "-")].inputs["validityPeriodHours"] for r in CA_ROLES
    )
    assert certs(admin.inputs["caCertPem"]) == certs(files["client-ca.crt"])


@pytest.mark.parametrize("stack", ["prod", "staging"])
def test_each_ca_key_on_disk_signed_its_certificate_request(stack: str, request: pytest.FixtureRequest) -> None:
    """The CA files pair each certificate with the key of its own request (a swapped key would make
    K3s sign with a key no client trusts)."""
    plan: mockrt.PlanResult = request.getfixturevalue(f"{stack}_plan")
    children, files = pki_children(plan), tls_files(plan)
    for role in CA_ROLES:
        csr = children[f"{role.replace('/', '-')}-csr"]
        assert csr.inputs["privateKeyPem"] == files[f"{role}.key"], role
    assert set(files) == {f"{role}.{ext}" for role in CA_ROLES for ext in ("crt", "key")} | {"service.key"}
