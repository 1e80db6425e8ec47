"""A deterministic stand-in for the tls provider: what pulumi-tls 5.6.2 emits, derived from a seed.

pulumi-tls 5.6.2 wraps hashicorp/terraform-provider-tls at commit 609226f53114 (2026-05-13,
`provider/go.mod` of pulumi/pulumi-tls). Read in that repository (snapshot of 2026-04-28, two weeks
earlier, dependency bumps only in between):

- `internal/provider/resource_private_key.go`: `private_key_pem` is PKCS#1 "RSA PRIVATE KEY" for
  RSA, SEC1 "EC PRIVATE KEY" for ECDSA, PKCS#8 "PRIVATE KEY" for ED25519; `private_key_pem_pkcs8`
  always PKCS#8; `private_key_openssh` from `ssh.MarshalPrivateKey` (empty for P224).
- `common_key.go` `setPublicKeyAttributes`: `public_key_pem` is PKIX "PUBLIC KEY",
  `public_key_openssh` an authorized_keys line with a newline, MD5 and SHA256 fingerprints, and
  the id `hashForState(PKIX DER)` (sha1 hex of the whitespace-trimmed bytes).
- `common_cert.go` `createCertificate`: NotBefore = now, NotAfter = NotBefore + validity hours,
  serial 128 random bits; `allowed_uses` split into KeyUsage and ExtKeyUsage; `is_ca_certificate`
  sets CA:true AND the SubjectKeyId; `set_subject_key_id` sets it on any certificate; the SKID is
  sha1 of `elliptic.Marshal` (ECDSA) or of the ASN.1 PKCS#1 public key (RSA), not of the SPKI.
  Go's `x509.CreateCertificate` then writes the AuthorityKeyId from the parent's SKID whenever
  the certificate is not self-signed, and none on a self-signed one.
- `resource_self_signed_cert.go` / `resource_locally_signed_cert.go`: BasicConstraintsValid is
  always true (so CA:false is written on leaves); a locally signed certificate takes subject and
  SANs from the CSR.

Determinism: keys come from sha256(seed, URN) (EC scalar, Ed25519 seed, or the PRNG that finds the
RSA primes), serials and the OpenSSH check word likewise, ECDSA signatures are RFC 6979
deterministic, and the clock is the fixed EPOCH. So the same program and config give the same
bytes in every run, whatever order the resources register in.
"""

from __future__ import annotations

import base64
import datetime as dt
import hashlib
import ipaddress
import json
import math
import os
import random
import struct
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, rsa
from cryptography.x509.name import _ASN1Type
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

# The mock's "now": every certificate starts here, so two runs of any day give the same bytes.
EPOCH = dt.datetime(2026, 1, 1, tzinfo=dt.UTC)

_CURVES: dict[str, ec.EllipticCurve] = {
    "P224": ec.SECP224R1(),
    "P256": ec.SECP256R1(),
    "P384": ec.SECP384R1(),
    "P521": ec.SECP521R1(),
}
# Group orders (SEC 2 / FIPS 186-4): a derived scalar is reduced into [1, n-1].
_ORDERS = {
    "P224": 0xFFFFFFFFFFFFFFFFFFFFFFFFFFFF16A2E0B8F03E13DD29455C5C2A3D,
    "P256": 0xFFFFFFFF00000000FFFFFFFFFFFFFFFFBCE6FAADA7179E84F3B9CAC2FC632551,
    "P384": 0xFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFC7634D81F4372DDF581A0DB248B0A77AECEC196ACCC52973,
    "P521": 0x01FFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFA51868783BF2F966B7FCC0148F709A5D03BB5C9B8899C47AEBB6FB71E91386409,
}
_SSH_CURVE = {"P256": "nistp256", "P384": "nistp384", "P521": "nistp521"}
# Go's x509 signature algorithm for each key (x509.go signingParamsForKey).
_HASH_FOR_CURVE: dict[str, Callable[[], hashes.HashAlgorithm]] = {
    "P224": hashes.SHA256,
    "P256": hashes.SHA256,
    "P384": hashes.SHA384,
    "P521": hashes.SHA512,
}

KEY_USAGES = (
    "digital_signature",
    "content_commitment",
    "key_encipherment",
    "data_encipherment",
    "key_agreement",
    "cert_signing",
    "crl_signing",
    "encipher_only",
    "decipher_only",
)
EXT_KEY_USAGES = {
    "any_extended": ExtendedKeyUsageOID.ANY_EXTENDED_KEY_USAGE,
    "server_auth": ExtendedKeyUsageOID.SERVER_AUTH,
    "client_auth": ExtendedKeyUsageOID.CLIENT_AUTH,
    "code_signing": ExtendedKeyUsageOID.CODE_SIGNING,
    "email_protection": ExtendedKeyUsageOID.EMAIL_PROTECTION,
    "ipsec_end_system": x509.ObjectIdentifier("1.3.6.1.5.5.7.3.5"),
    "ipsec_tunnel": x509.ObjectIdentifier("1.3.6.1.5.5.7.3.6"),
    "ipsec_user": x509.ObjectIdentifier("1.3.6.1.5.5.7.3.7"),
    "timestamping": ExtendedKeyUsageOID.TIME_STAMPING,
    "ocsp_signing": ExtendedKeyUsageOID.OCSP_SIGNING,
    "microsoft_server_gated_crypto": x509.ObjectIdentifier("1.3.6.1.4.1.311.10.3.3"),
    "netscape_server_gated_crypto": x509.ObjectIdentifier("2.16.840.1.113730.4.1"),
    "microsoft_commercial_code_signing": x509.ObjectIdentifier("1.3.6.1.4.1.311.2.1.22"),
    "microsoft_kernel_code_signing": x509.ObjectIdentifier("1.3.6.1.4.1.311.61.1.1"),
}
_SMALL_PRIMES = [p for p in range(3, 2000) if all(p % d for d in range(2, int(p**0.5) + 1))]


def material(seed: str, *parts: str, length: int = 32) -> bytes:
    """`length` bytes of sha256 output keyed by the seed and the parts (counter mode)."""
    out = b""
    counter = 0
    while len(out) < length:
        out += hashlib.sha256("\0".join((seed, *parts, str(counter))).encode()).digest()
        counter += 1
    return out[:length]


# --------------------------------------------------------------------------------------------
# Keys
# --------------------------------------------------------------------------------------------


def _probable_prime(n: int, rng: random.Random, rounds: int = 24) -> bool:
    d, r = n - 1, 0
    while d % 2 == 0:
        d //= 2
        r += 1
    for _ in range(rounds):
        x = pow(rng.randrange(2, n - 2), d, n)
        if x in (1, n - 1):
            continue
        for _ in range(r - 1):
            x = pow(x, 2, n)
            if x == n - 1:
                break
        else:
            return False
    return True


# Finding two 1024-bit primes in pure Python costs seconds on a shared core; the primes are a
# pure function of the seed bytes, so they are kept on disk and found once per machine (the same
# cache directory as tools/validators.sh: $HONEYDUE_CACHE, else $XDG_CACHE_HOME/honeydue).
RSA_CACHE = (
    Path(
        os.environ.get("HONEYDUE_CACHE")
        or Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "honeydue"
    )
    / "mock-rsa"
)


def _rsa_primes(bits: int, seed_bytes: bytes) -> tuple[int, int]:
    cache = RSA_CACHE / f"{bits}-{hashlib.sha256(seed_bytes).hexdigest()[:32]}.json"
    try:
        doc = json.loads(cache.read_text())
        return int(doc["p"], 16), int(doc["q"], 16)
    except (OSError, ValueError, KeyError):
        pass
    p, q = _find_rsa_primes(bits, seed_bytes)
    try:
        cache.parent.mkdir(parents=True, exist_ok=True)
        tmp = cache.with_suffix(f".{os.getpid()}.tmp")
        tmp.write_text(json.dumps({"p": f"{p:x}", "q": f"{q:x}"}))
        tmp.replace(cache)  # atomic: concurrent plans never read half a file
    except OSError:
        pass  # a read-only checkout only loses the cache
    return p, q


def _find_rsa_primes(bits: int, seed_bytes: bytes) -> tuple[int, int]:
    """Two primes from a PRNG seeded with `seed_bytes` (a mock: not secure)."""
    rng = random.Random(int.from_bytes(seed_bytes, "big"))
    e = 65537

    def prime(nbits: int) -> int:
        while True:
            # Top two bits set: the product has exactly `bits` bits, as Go's GenerateKey ensures.
            candidate = rng.getrandbits(nbits) | (3 << (nbits - 2)) | 1
            if any(candidate % p == 0 for p in _SMALL_PRIMES) or (candidate - 1) % e == 0:
                continue
            if _probable_prime(candidate, rng):
                return candidate

    p = prime(bits - bits // 2)
    q = prime(bits // 2)
    while q == p:
        q = prime(bits // 2)
    return p, q


def _rsa_key(bits: int, seed_bytes: bytes) -> rsa.RSAPrivateKey:
    p, q = _rsa_primes(bits, seed_bytes)
    e = 65537
    d = pow(e, -1, math.lcm(p - 1, q - 1))
    numbers = rsa.RSAPrivateNumbers(
        p=p,
        q=q,
        d=d,
        dmp1=d % (p - 1),
        dmq1=d % (q - 1),
        iqmp=pow(q, -1, p),
        public_numbers=rsa.RSAPublicNumbers(e, p * q),
    )
    # Validation (RSA_check_key) costs 0.15 s a key here; the primes were tested above.
    return numbers.private_key(unsafe_skip_rsa_key_validation=True)


def derive_private_key(inputs: Mapping[str, Any], seed: str, urn: str) -> Any:
    """The key a PrivateKey with these inputs gets, from (seed, URN). Defaults as the provider's."""
    algorithm = inputs.get("algorithm")
    if algorithm == "ECDSA":
        curve = str(inputs.get("ecdsaCurve") or "P224")
        if curve not in _CURVES:
            raise ValueError(f"mock tls: unsupported ecdsa_curve {curve}")
        scalar = int.from_bytes(material(seed, "ecdsa", urn, length=80), "big") % (_ORDERS[curve] - 1) + 1
        return ec.derive_private_key(scalar, _CURVES[curve])
    if algorithm == "RSA":
        return _rsa_key(int(inputs.get("rsaBits") or 2048), material(seed, "rsa", urn))
    if algorithm == "ED25519":
        return ed25519.Ed25519PrivateKey.from_private_bytes(material(seed, "ed25519", urn))
    raise ValueError(f"mock tls: unsupported algorithm {algorithm!r} (RSA, ECDSA, ED25519)")


def _pem(kind: str, der: bytes) -> str:
    """Go's pem.EncodeToMemory: 64-column base64 lines."""
    body = base64.b64encode(der).decode()
    lines = [body[i : i + 64] for i in range(0, len(body), 64)]
    return f"-----BEGIN {kind}-----\n" + "\n".join(lines) + f"\n-----END {kind}-----\n"


def _ssh_string(data: bytes) -> bytes:
    return struct.pack(">I", len(data)) + data


def _ssh_mpint(value: int) -> bytes:
    if value == 0:
        return _ssh_string(b"")
    raw = value.to_bytes((value.bit_length() + 8) // 8, "big")  # a leading 0 keeps it positive
    return _ssh_string(raw)


def _curve_name(key: Any) -> str:
    for name, curve in _CURVES.items():
        if curve.name == key.curve.name:
            return name
    raise ValueError(f"mock tls: unknown curve {key.curve.name}")


def _openssh_private(key: Any, check: int) -> str:
    """ssh.MarshalPrivateKey(key, "") (x/crypto/ssh keys.go), with a given check word.

    cryptography's own OpenSSH encoder draws the check word from os.urandom; the format is
    small enough to write here and keep the bytes deterministic.
    """
    pub_line = key.public_key().public_bytes(serialization.Encoding.OpenSSH, serialization.PublicFormat.OpenSSH)
    key_type, blob_b64 = pub_line.decode().split()[:2]
    pub_blob = base64.b64decode(blob_b64)
    if isinstance(key, ec.EllipticCurvePrivateKey):
        point = key.public_key().public_bytes(serialization.Encoding.X962, serialization.PublicFormat.UncompressedPoint)
        rest = (
            _ssh_string(_SSH_CURVE[_curve_name(key)].encode())
            + _ssh_string(point)
            + _ssh_mpint(key.private_numbers().private_value)
        )
    elif isinstance(key, rsa.RSAPrivateKey):
        n = key.private_numbers()
        rest = b"".join(_ssh_mpint(v) for v in (n.public_numbers.n, n.public_numbers.e, n.d, n.iqmp, n.p, n.q))
    else:
        raw_pub = key.public_key().public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
        raw_priv = key.private_bytes(
            serialization.Encoding.Raw, serialization.PrivateFormat.Raw, serialization.NoEncryption()
        )
        rest = _ssh_string(raw_pub) + _ssh_string(raw_priv + raw_pub)
    block = struct.pack(">II", check, check) + _ssh_string(key_type.encode()) + rest + _ssh_string(b"")
    block += bytes(range(1, 1 + (-len(block) % 8)))  # "none" cipher: block size 8, pad 1, 2, 3...
    body = (
        b"openssh-key-v1\0"
        + _ssh_string(b"none")
        + _ssh_string(b"none")
        + _ssh_string(b"")
        + struct.pack(">I", 1)
        + _ssh_string(pub_blob)
        + _ssh_string(block)
    )
    return _pem("OPENSSH PRIVATE KEY", body)


def _go_trim_space(data: bytes) -> bytes:
    """strings.TrimSpace over bytes as Go sees them (ASCII space and U+0085/U+00A0 in UTF-8)."""
    spaces = (b" ", b"\t", b"\n", b"\v", b"\f", b"\r", b"\xc2\x85", b"\xc2\xa0")
    changed = True
    while changed and data:
        changed = False
        for s in spaces:
            if data.startswith(s):
                data, changed = data[len(s) :], True
            if data.endswith(s):
                data, changed = data[: -len(s)], True
    return data


def hash_for_state(data: bytes) -> str:
    """terraform-provider-tls common.go hashForState: sha1 hex of the trimmed value."""
    return hashlib.sha1(_go_trim_space(data)).hexdigest() if data else ""  # the provider's id scheme


def private_key_outputs(inputs: Mapping[str, Any], seed: str, urn: str) -> dict[str, Any]:
    key = derive_private_key(inputs, seed, urn)
    algorithm = inputs["algorithm"]
    if isinstance(key, rsa.RSAPrivateKey):
        pem = key.private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.TraditionalOpenSSL, serialization.NoEncryption()
        ).decode()
    elif isinstance(key, ec.EllipticCurvePrivateKey):
        der = key.private_bytes(
            serialization.Encoding.DER, serialization.PrivateFormat.TraditionalOpenSSL, serialization.NoEncryption()
        )
        pem = _pem("EC PRIVATE KEY", der)
    else:
        pem = ""  # ED25519: PKCS#8 below is the PEM
    pkcs8 = _pem(
        "PRIVATE KEY",
        key.private_bytes(serialization.Encoding.DER, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()),
    )
    spki = key.public_key().public_bytes(serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo)
    ssh_ok = not (isinstance(key, ec.EllipticCurvePrivateKey) and _curve_name(key) == "P224")
    ssh_pub = ssh_md5 = ssh_sha256 = ssh_priv = ""
    if ssh_ok:
        line = key.public_key().public_bytes(serialization.Encoding.OpenSSH, serialization.PublicFormat.OpenSSH)
        ssh_pub = line.decode() + "\n"
        blob = base64.b64decode(line.split()[1])
        ssh_md5 = ":".join(f"{b:02x}" for b in hashlib.md5(blob).digest())  # OpenSSH legacy fingerprint
        ssh_sha256 = "SHA256:" + base64.b64encode(hashlib.sha256(blob).digest()).decode().rstrip("=")
        ssh_priv = _openssh_private(key, int.from_bytes(material(seed, "openssh-check", urn, length=4), "big"))
    outputs: dict[str, Any] = {
        "algorithm": algorithm,
        "privateKeyPem": pem or pkcs8,
        "privateKeyPemPkcs8": pkcs8,
        "privateKeyOpenssh": ssh_priv,
        "publicKeyPem": _pem("PUBLIC KEY", spki),
        "publicKeyOpenssh": ssh_pub,
        "publicKeyFingerprintMd5": ssh_md5,
        "publicKeyFingerprintSha256": ssh_sha256,
    }
    if algorithm == "RSA":
        outputs["rsaBits"] = int(inputs.get("rsaBits") or 2048)
    if algorithm == "ECDSA":
        outputs["ecdsaCurve"] = inputs.get("ecdsaCurve") or "P224"
    return {"id": hash_for_state(spki), **outputs}


# --------------------------------------------------------------------------------------------
# Certificates
# --------------------------------------------------------------------------------------------


def load_private_key(pem: str) -> Any:
    # Keys come from this module (or the program): skip the 0.15 s RSA consistency check.
    return serialization.load_pem_private_key(pem.encode(), password=None, unsafe_skip_rsa_key_validation=True)


def key_algorithm(key: Any) -> str:
    if isinstance(key, rsa.RSAPrivateKey | rsa.RSAPublicKey):
        return "RSA"
    if isinstance(key, ec.EllipticCurvePrivateKey | ec.EllipticCurvePublicKey):
        return "ECDSA"
    return "ED25519"


def subject_key_id(public_key: Any) -> bytes:
    """common_cert.go generateSubjectKeyID: sha1 over the raw key, not over the SPKI."""
    if isinstance(public_key, ec.EllipticCurvePublicKey):
        raw = public_key.public_bytes(serialization.Encoding.X962, serialization.PublicFormat.UncompressedPoint)
    elif isinstance(public_key, rsa.RSAPublicKey):
        raw = public_key.public_bytes(serialization.Encoding.DER, serialization.PublicFormat.PKCS1)
    else:
        # asn1.Marshal of an ed25519.PublicKey ([]byte): an OCTET STRING of the 32 bytes.
        raw = b"\x04\x20" + public_key.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
    return hashlib.sha1(raw).digest()  # the provider's (and RFC 5280 method 1's) choice


_PRINTABLE = set("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789 '()+,-./:=?")


def _attr(oid: x509.ObjectIdentifier, value: str) -> x509.NameAttribute[str]:
    # encoding/asn1 writes a PrintableString when every character allows it, else UTF8String.
    kind = _ASN1Type.PrintableString if set(value) <= _PRINTABLE else _ASN1Type.UTF8String
    return x509.NameAttribute(oid, value, _type=kind)


def subject_name(subject: Mapping[str, Any] | None) -> x509.Name:
    """pkix.Name.ToRDNSequence order: C, ST, L, STREET, POSTALCODE, O, OU, CN, SERIALNUMBER, email."""
    subject = subject or {}
    order: tuple[tuple[str, x509.ObjectIdentifier], ...] = (
        ("country", NameOID.COUNTRY_NAME),
        ("province", NameOID.STATE_OR_PROVINCE_NAME),
        ("locality", NameOID.LOCALITY_NAME),
        ("streetAddresses", NameOID.STREET_ADDRESS),
        ("postalCode", NameOID.POSTAL_CODE),
        ("organization", NameOID.ORGANIZATION_NAME),
        ("organizationalUnit", NameOID.ORGANIZATIONAL_UNIT_NAME),
        ("commonName", NameOID.COMMON_NAME),
        ("serialNumber", NameOID.SERIAL_NUMBER),
        ("emailAddress", NameOID.EMAIL_ADDRESS),
    )
    attrs = []
    for key, oid in order:
        value = subject.get(key)
        for v in value if isinstance(value, list) else [value]:
            if v:
                attrs.append(_attr(oid, str(v)))
    return x509.Name(attrs)


def _signature_hash(key: Any) -> hashes.HashAlgorithm | None:
    if isinstance(key, ec.EllipticCurvePrivateKey):
        return _HASH_FOR_CURVE[_curve_name(key)]()
    if isinstance(key, rsa.RSAPrivateKey):
        return hashes.SHA256()
    return None


def _sign(builder: Any, key: Any) -> Any:
    deterministic = True if isinstance(key, ec.EllipticCurvePrivateKey) else None
    return builder.sign(key, _signature_hash(key), ecdsa_deterministic=deterministic)


def _general_names(dns: list[str], ips: list[str], uris: list[str]) -> list[x509.GeneralName]:
    # Go's marshalSANs order: DNS names, emails, IP addresses, URIs.
    names: list[x509.GeneralName] = [x509.DNSName(n) for n in dns]
    names += [x509.IPAddress(ipaddress.ip_address(n)) for n in ips]
    names += [x509.UniformResourceIdentifier(u) for u in uris]
    return names


def go_time(value: dt.datetime) -> str:
    """time.Time.MarshalText (RFC 3339) of a UTC time."""
    return value.strftime("%Y-%m-%dT%H:%M:%SZ")


def create_certificate(
    inputs: Mapping[str, Any],
    *,
    subject: x509.Name,
    public_key: Any,
    issuer_cert: x509.Certificate | None,
    signing_key: Any,
    sans: tuple[list[str], list[str], list[str]],
    seed: str,
    urn: str,
) -> dict[str, Any]:
    """common_cert.go createCertificate + x509.CreateCertificate; issuer_cert None = self-signed."""
    hours = int(inputs["validityPeriodHours"])
    not_before = EPOCH
    not_after = not_before + dt.timedelta(hours=hours)
    serial = int.from_bytes(material(seed, "serial", urn, length=16), "big") or 1  # 128 bits, as the provider
    uses = list(inputs.get("allowedUses") or [])
    is_ca = bool(inputs.get("isCaCertificate"))
    builder = (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(issuer_cert.subject if issuer_cert is not None else subject)
        .public_key(public_key)
        .serial_number(serial)
        .not_valid_before(not_before)
        .not_valid_after(not_after)
    )
    # Extension order of Go's buildCertExtensions: KU, EKU, BC, SKID, AKID, SAN.
    if any(u in KEY_USAGES for u in uses):
        flags = {u: u in uses for u in KEY_USAGES}
        builder = builder.add_extension(
            x509.KeyUsage(
                digital_signature=flags["digital_signature"],
                content_commitment=flags["content_commitment"],
                key_encipherment=flags["key_encipherment"],
                data_encipherment=flags["data_encipherment"],
                key_agreement=flags["key_agreement"],
                key_cert_sign=flags["cert_signing"],
                crl_sign=flags["crl_signing"],
                encipher_only=flags["encipher_only"],
                decipher_only=flags["decipher_only"],
            ),
            critical=True,
        )
    ekus = [EXT_KEY_USAGES[u] for u in uses if u in EXT_KEY_USAGES]
    if ekus:
        builder = builder.add_extension(x509.ExtendedKeyUsage(ekus), critical=False)
    max_path = inputs.get("maxPathLength")
    # MaxPathLen 0 without MaxPathLenZero means "unset" in Go: only a positive value is written.
    path_length = int(max_path) if is_ca and max_path is not None and int(max_path) > 0 else None
    builder = builder.add_extension(x509.BasicConstraints(ca=is_ca, path_length=path_length), critical=True)
    if is_ca or inputs.get("setSubjectKeyId"):
        builder = builder.add_extension(x509.SubjectKeyIdentifier(subject_key_id(public_key)), critical=False)
    if issuer_cert is not None:
        try:
            skid = issuer_cert.extensions.get_extension_for_class(x509.SubjectKeyIdentifier).value.digest
        except x509.ExtensionNotFound:
            skid = b""
        if skid:
            builder = builder.add_extension(
                x509.AuthorityKeyIdentifier(skid, authority_cert_issuer=None, authority_cert_serial_number=None),
                critical=False,
            )
    names = _general_names(*sans)
    if names:
        # RFC 5280 4.2.1.6, as Go: the SAN is critical when the subject is empty.
        builder = builder.add_extension(x509.SubjectAlternativeName(names), critical=len(subject) == 0)
    cert = _sign(builder, signing_key)
    return {
        "id": str(serial),
        "certPem": cert.public_bytes(serialization.Encoding.PEM).decode(),
        "validityStartTime": go_time(not_before),
        "validityEndTime": go_time(not_after),
        "readyForRenewal": False,
    }


def self_signed_outputs(inputs: Mapping[str, Any], seed: str, urn: str) -> dict[str, Any]:
    key = load_private_key(inputs["privateKeyPem"])
    subject = subject_name(inputs.get("subject"))
    sans = (list(inputs.get("dnsNames") or []), list(inputs.get("ipAddresses") or []), list(inputs.get("uris") or []))
    cert = create_certificate(
        inputs,
        subject=subject,
        public_key=key.public_key(),
        issuer_cert=None,
        signing_key=key,
        sans=sans,
        seed=seed,
        urn=urn,
    )
    return {**cert, "keyAlgorithm": key_algorithm(key)}


def cert_request_outputs(inputs: Mapping[str, Any]) -> dict[str, Any]:
    key = load_private_key(inputs["privateKeyPem"])
    builder = x509.CertificateSigningRequestBuilder().subject_name(subject_name(inputs.get("subject")))
    names = _general_names(
        list(inputs.get("dnsNames") or []), list(inputs.get("ipAddresses") or []), list(inputs.get("uris") or [])
    )
    if names:
        builder = builder.add_extension(x509.SubjectAlternativeName(names), critical=False)
    pem = _sign(builder, key).public_bytes(serialization.Encoding.PEM).decode()
    return {"id": hash_for_state(pem.encode()), "certRequestPem": pem, "keyAlgorithm": key_algorithm(key)}


def _csr_sans(csr: x509.CertificateSigningRequest) -> tuple[list[str], list[str], list[str]]:
    try:
        ext = csr.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    except x509.ExtensionNotFound:
        return [], [], []
    return (
        [str(v) for v in ext.get_values_for_type(x509.DNSName)],
        [str(v) for v in ext.get_values_for_type(x509.IPAddress)],
        [str(v) for v in ext.get_values_for_type(x509.UniformResourceIdentifier)],
    )


def locally_signed_outputs(inputs: Mapping[str, Any], seed: str, urn: str) -> dict[str, Any]:
    csr = x509.load_pem_x509_csr(inputs["certRequestPem"].encode())
    ca_cert = x509.load_pem_x509_certificate(inputs["caCertPem"].encode())
    ca_key = load_private_key(inputs["caPrivateKeyPem"])
    cert = create_certificate(
        inputs,
        subject=csr.subject,
        public_key=csr.public_key(),
        issuer_cert=ca_cert,
        signing_key=ca_key,
        sans=_csr_sans(csr),
        seed=seed,
        urn=urn,
    )
    return {**cert, "caKeyAlgorithm": key_algorithm(ca_key)}


def origin_ca_outputs(inputs: Mapping[str, Any], seed: str, urn: str) -> dict[str, Any]:
    """Cloudflare's Origin CA, simulated: signs the CSR for the hostnames with a seeded CA key."""
    request_type = str(inputs.get("requestType") or "origin-rsa")
    label = (
        "CloudFlare Origin SSL ECC Certificate Authority"
        if request_type == "origin-ecc"
        else ("CloudFlare Origin SSL Certificate Authority")
    )
    ca_key = derive_private_key({"algorithm": "ECDSA", "ecdsaCurve": "P256"}, seed, "mock-cloudflare-origin-ca")
    ca_name = x509.Name(
        [
            _attr(NameOID.COUNTRY_NAME, "US"),
            _attr(NameOID.ORGANIZATION_NAME, "CloudFlare, Inc."),
            _attr(NameOID.ORGANIZATIONAL_UNIT_NAME, label),
            _attr(NameOID.COMMON_NAME, label),
        ]
    )
    ca_cert = _sign(
        x509.CertificateBuilder()
        .subject_name(ca_name)
        .issuer_name(ca_name)
        .public_key(ca_key.public_key())
        .serial_number(1)
        .not_valid_before(EPOCH)
        .not_valid_after(EPOCH + dt.timedelta(days=7300))
        .add_extension(x509.SubjectKeyIdentifier(subject_key_id(ca_key.public_key())), critical=False),
        ca_key,
    )
    csr = x509.load_pem_x509_csr(str(inputs["csr"]).encode())
    days = int(inputs.get("requestedValidity") or 5475)
    cert = create_certificate(
        {"validityPeriodHours": days * 24, "allowedUses": ["digital_signature", "key_encipherment", "server_auth"]},
        subject=csr.subject,
        public_key=csr.public_key(),
        issuer_cert=ca_cert,
        signing_key=ca_key,
        sans=(list(inputs.get("hostnames") or []), [], []),
        seed=seed,
        urn=urn,
    )
    return {"id": cert["id"], "certificate": cert["certPem"], "expiresOn": cert["validityEndTime"]}


PASSWORD_CLASSES = {
    "lower": "abcdefghijklmnopqrstuvwxyz",
    "upper": "ABCDEFGHIJKLMNOPQRSTUVWXYZ",
    "numeric": "0123456789",
    "special": "!@#$%&*()-_=+[]{}<>:?",  # terraform-provider-random's default special set
}


def random_password_outputs(inputs: Mapping[str, Any], seed: str, urn: str) -> dict[str, Any]:
    """RandomPassword.result from the seed: the character classes the inputs allow, as the provider."""
    length = int(inputs.get("length") or 16)
    alphabet = ""
    for cls, chars in PASSWORD_CLASSES.items():
        if inputs.get(cls, True) is not False:
            alphabet += str(inputs.get("overrideSpecial") or chars) if cls == "special" else chars
    stream = material(seed, "password", urn, length=length)
    return {"id": "none", "result": "".join(alphabet[b % len(alphabet)] for b in stream)}
