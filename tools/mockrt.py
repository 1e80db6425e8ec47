"""Run the real `__main__.py` in Pulumi's mock runtime and record every registration.

No CLI, no plugins, no network. The mocks return realistic outputs (real TLS keys and
certificates made with `cryptography`, numeric Hetzner IDs, addresses from documentation
ranges, today's Cloudflare IP ranges from a snapshot), because under mocks an input built from
a missing output silently disappears together with its dependency.

The recording wraps `MockMonitor.RegisterResource` (an internal API: pinned SDK version, and
covered by tests/test_plan.py), which sees the full request: parent, dependencies from
`depends_on` and from inputs, protect, ignoreChanges, and the serialized inputs with secrets
still wrapped.
"""

from __future__ import annotations

import contextvars
import datetime as dt
import hashlib
import ipaddress
import json
import runpy
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml
from pulumi.runtime import Mocks

ROOT = Path(__file__).resolve().parent.parent
SECRET_SIG = "1b47061264138c4ac30d75fd1eb44270"
SIG_KEY = "4dabf18193072939515e22adb298388d"
UNKNOWN = "04da6b54-80e4-46f7-96ec-b56ff0331ba9"
CLOUDFLARE_IPS = ROOT / "tools" / "fixtures" / "cloudflare-ips.json"


# --------------------------------------------------------------------------------------------
# Stack config as the engine would pass it
# --------------------------------------------------------------------------------------------


def stack_config(stack: str, overrides: Mapping[str, Any] | None = None) -> dict[str, Any]:
    """Raw config of `Pulumi.<stack>.yaml` (keys without namespace), secrets set to placeholders.

    `secure:` values and unset secrets alike become `plan-placeholder-<key>`: the plan never
    sees a real secret. Keys in `overrides` replace (or, with value None, remove) stack values.
    """
    from components.config import CONDITIONAL_SECRETS, PROJECT, project_schema

    path = ROOT / f"Pulumi.{stack}.yaml"
    if not path.exists():
        raise FileNotFoundError(f"no stack file {path.name}")
    doc = yaml.safe_load(path.read_text()) or {}
    raw: dict[str, Any] = {}
    for key, value in (doc.get("config") or {}).items():
        namespace, _, name = key.partition(":")
        if namespace != PROJECT:
            continue
        raw[name] = value
    for key, value in (overrides or {}).items():
        if value is None:
            raw.pop(key, None)
        else:
            raw[key] = value
    for name, spec in project_schema().items():
        if not spec.secret:
            continue
        gate = CONDITIONAL_SECRETS.get(name)
        if gate is not None and raw.get(gate) is None:
            continue
        if overrides and name in overrides and overrides[name] is None:
            continue
        if isinstance(raw.get(name), dict) or name not in raw:
            raw[name] = f"plan-placeholder-{name}"
    return raw


def engine_config(raw: Mapping[str, Any]) -> tuple[dict[str, str], list[str]]:
    """The engine's view: `honeydue:key` -> string (JSON for non-strings), plus secret keys."""
    from components.config import PROJECT, project_schema

    schema = project_schema()
    config = {f"{PROJECT}:{k}": v if isinstance(v, str) else json.dumps(v) for k, v in raw.items()}
    secret_keys = [f"{PROJECT}:{k}" for k in raw if k in schema and schema[k].secret]
    return config, secret_keys


# --------------------------------------------------------------------------------------------
# Realistic mock outputs
# --------------------------------------------------------------------------------------------


def unwrap(value: Any) -> Any:
    """Secret wrappers removed (the values the engine would send)."""
    if isinstance(value, dict):
        if value.get(SIG_KEY) == SECRET_SIG:
            return unwrap(value.get("value"))
        return {k: unwrap(v) for k, v in value.items()}
    if isinstance(value, list):
        return [unwrap(v) for v in value]
    return value


def redact(value: Any) -> Any:
    """Secrets replaced by "[secret]", unknowns by "[unknown]"."""
    if isinstance(value, dict):
        if value.get(SIG_KEY) == SECRET_SIG:
            return "[secret]"
        return {k: redact(v) for k, v in value.items()}
    if isinstance(value, list):
        return [redact(v) for v in value]
    if value == UNKNOWN:
        return "[unknown]"
    return value


def _digest(*parts: str) -> int:
    return int.from_bytes(hashlib.sha256("/".join(parts).encode()).digest()[:4], "big")


class _Pki:
    """Real keys and certificates for the tls provider's resources (cryptography)."""

    @staticmethod
    def private_key(inputs: Mapping[str, Any]) -> dict[str, Any]:
        from cryptography.hazmat.primitives import serialization
        from cryptography.hazmat.primitives.asymmetric import ec, rsa

        algorithm = inputs.get("algorithm", "RSA")
        key: Any
        if algorithm == "ECDSA":
            curve = {"P256": ec.SECP256R1(), "P384": ec.SECP384R1()}[inputs.get("ecdsaCurve", "P256")]
            key = ec.generate_private_key(curve)
        elif algorithm == "RSA":
            key = rsa.generate_private_key(65537, int(inputs.get("rsaBits", 2048)))
        else:
            raise ValueError(f"mock tls: unsupported algorithm {algorithm}")
        pem = key.private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
        ).decode()
        pub = (
            key.public_key()
            .public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
            .decode()
        )
        return {"privateKeyPem": pem, "publicKeyPem": pub, "privateKeyPemPkcs8": pem}

    @staticmethod
    def _name(subject: Mapping[str, Any] | None) -> Any:
        from cryptography import x509
        from cryptography.x509.oid import NameOID

        subject = subject or {}
        attrs = []
        for key, oid in (("organization", NameOID.ORGANIZATION_NAME), ("commonName", NameOID.COMMON_NAME)):
            if subject.get(key):
                attrs.append(x509.NameAttribute(oid, subject[key]))
        for org in subject.get("organizationalUnit", []) or []:
            attrs.append(x509.NameAttribute(NameOID.ORGANIZATIONAL_UNIT_NAME, org))
        return x509.Name(attrs)

    @classmethod
    def _cert(
        cls,
        inputs: Mapping[str, Any],
        subject: Any,
        public_key: Any,
        issuer: Any,
        signing_key: Any,
        sans: list[str] | None = None,
    ) -> str:
        from cryptography import x509
        from cryptography.hazmat.primitives import hashes, serialization
        from cryptography.x509.oid import ExtendedKeyUsageOID

        now = dt.datetime.now(dt.UTC)
        hours = int(inputs.get("validityPeriodHours", 24 * 365))
        builder = (
            x509.CertificateBuilder()
            .subject_name(subject)
            .issuer_name(issuer)
            .public_key(public_key)
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - dt.timedelta(minutes=5))
            .not_valid_after(now + dt.timedelta(hours=hours))
        )
        is_ca = bool(inputs.get("isCaCertificate"))
        builder = builder.add_extension(x509.BasicConstraints(ca=is_ca, path_length=None), critical=True)
        uses = set(inputs.get("allowedUses", []) or [])
        eku = [
            o
            for u, o in (
                ("client_auth", ExtendedKeyUsageOID.CLIENT_AUTH),
                ("server_auth", ExtendedKeyUsageOID.SERVER_AUTH),
            )
            if u in uses
        ]
        if eku:
            builder = builder.add_extension(x509.ExtendedKeyUsage(eku), critical=False)
        names: list[x509.GeneralName] = []
        for san in sans or []:
            try:
                names.append(x509.IPAddress(ipaddress.ip_address(san)))
            except ValueError:
                names.append(x509.DNSName(san))
        if names:
            builder = builder.add_extension(x509.SubjectAlternativeName(names), critical=False)
        cert = builder.sign(signing_key, hashes.SHA256())
        return cert.public_bytes(serialization.Encoding.PEM).decode()

    @staticmethod
    def _load_key(pem: str) -> Any:
        from cryptography.hazmat.primitives import serialization

        return serialization.load_pem_private_key(pem.encode(), password=None)

    @classmethod
    def self_signed(cls, inputs: Mapping[str, Any]) -> dict[str, Any]:
        key = cls._load_key(inputs["privateKeyPem"])
        name = cls._name(inputs.get("subject"))
        sans = list(inputs.get("dnsNames", []) or []) + list(inputs.get("ipAddresses", []) or [])
        return {"certPem": cls._cert(inputs, name, key.public_key(), name, key, sans)}

    @classmethod
    def cert_request(cls, inputs: Mapping[str, Any]) -> dict[str, Any]:
        from cryptography import x509
        from cryptography.hazmat.primitives import hashes, serialization

        key = cls._load_key(inputs["privateKeyPem"])
        builder = x509.CertificateSigningRequestBuilder().subject_name(cls._name(inputs.get("subject")))
        names: list[x509.GeneralName] = [x509.DNSName(n) for n in inputs.get("dnsNames", []) or []]
        names += [x509.IPAddress(ipaddress.ip_address(n)) for n in inputs.get("ipAddresses", []) or []]
        if names:
            builder = builder.add_extension(x509.SubjectAlternativeName(names), critical=False)
        csr = builder.sign(key, hashes.SHA256())
        return {"certRequestPem": csr.public_bytes(serialization.Encoding.PEM).decode()}

    @classmethod
    def locally_signed(cls, inputs: Mapping[str, Any]) -> dict[str, Any]:
        from cryptography import x509

        csr = x509.load_pem_x509_csr(inputs["certRequestPem"].encode())
        ca = x509.load_pem_x509_certificate(inputs["caCertPem"].encode())
        ca_key = cls._load_key(inputs["caPrivateKeyPem"])
        sans: list[str] = []
        try:
            ext = csr.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
            sans = [str(v) for v in ext.get_values_for_type(x509.DNSName)]
            sans += [str(v) for v in ext.get_values_for_type(x509.IPAddress)]
        except x509.ExtensionNotFound:
            pass
        pem = cls._cert(inputs, csr.subject, csr.public_key(), ca.subject, ca_key, sans)
        return {"certPem": pem}

    _origin_ca: tuple[Any, Any] | None = None

    @classmethod
    def origin_ca(cls, inputs: Mapping[str, Any]) -> dict[str, Any]:
        """Stands in for Cloudflare's Origin CA: signs the CSR for the requested hostnames."""
        from cryptography import x509
        from cryptography.hazmat.primitives.asymmetric import ec
        from cryptography.x509.oid import NameOID

        if cls._origin_ca is None:
            key = ec.generate_private_key(ec.SECP256R1())
            name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "Mock Cloudflare Origin CA")])
            cls._origin_ca = (key, name)
        key, name = cls._origin_ca
        csr = x509.load_pem_x509_csr(inputs["csr"].encode())
        days = int(inputs.get("requestedValidity", 5475))
        pem = cls._cert(
            {"validityPeriodHours": days * 24, "allowedUses": ["server_auth"]},
            csr.subject,
            csr.public_key(),
            name,
            key,
            list(inputs.get("hostnames", [])),
        )
        expires = (dt.datetime.now(dt.UTC) + dt.timedelta(days=days)).strftime("%Y-%m-%dT%H:%M:%SZ")
        return {"certificate": pem, "expiresOn": expires}


def _hcloud_outputs(typ: str, name: str, inputs: Mapping[str, Any]) -> dict[str, Any]:
    n = _digest(typ, name)
    if typ == "hcloud:index/primaryIp:PrimaryIp":
        if inputs.get("type") == "ipv6":
            net = f"2001:db8:{n % 0xFFFF:x}::"
            # Like Hetzner: the address of an IPv6 Primary IP is its /64's network address.
            return {"ipAddress": net, "ipNetwork": net + "/64"}
        return {"ipAddress": f"203.0.113.{n % 250 + 2}"}
    if typ == "hcloud:index/server:Server":
        return {
            "ipv4Address": f"198.51.100.{n % 250 + 2}",
            "ipv6Address": f"2001:db8:ff{n % 0xFF:x}::1",
            "status": "running",
        }
    return {}


class PlanMocks(Mocks):
    """`pulumi.runtime.Mocks` with realistic outputs; `cloudflare_ranges` can be overridden.

    `zone_plan` is the legacy id of the Cloudflare zone's plan (free, pro, business, enterprise):
    the edge adapts its rate-limit expression to it.
    """

    def __init__(self, cloudflare_ranges: Mapping[str, list[str]] | None = None, zone_plan: str = "free") -> None:
        self.cloudflare_ranges = (
            dict(cloudflare_ranges) if cloudflare_ranges is not None else json.loads(CLOUDFLARE_IPS.read_text())
        )
        self.zone_plan = zone_plan
        self._ids = 1000
        self.calls: list[tuple[str, dict[str, Any]]] = []

    def _next_id(self) -> str:
        self._ids += 1
        return str(self._ids)

    def new_resource(self, args: Any) -> tuple[str, dict[str, Any]]:
        typ, inputs = args.typ, unwrap(args.inputs)
        outputs: dict[str, Any]
        if typ == "tls:index/privateKey:PrivateKey":
            outputs = _Pki.private_key(inputs)
        elif typ == "tls:index/selfSignedCert:SelfSignedCert":
            outputs = _Pki.self_signed(inputs)
        elif typ == "tls:index/certRequest:CertRequest":
            outputs = _Pki.cert_request(inputs)
        elif typ == "tls:index/locallySignedCert:LocallySignedCert":
            outputs = _Pki.locally_signed(inputs)
        elif typ == "random:index/randomPassword:RandomPassword":
            length = int(inputs.get("length", 32))
            outputs = {"result": hashlib.sha256(args.name.encode()).hexdigest()[:length].ljust(length, "x")}
        elif typ == "cloudflare:index/originCaCertificate:OriginCaCertificate":
            outputs = _Pki.origin_ca(inputs)
        elif typ.startswith("hcloud:"):
            outputs = _hcloud_outputs(typ, args.name, inputs)
        else:
            outputs = {}
        # hcloud IDs are numbers (the program does `id.apply(int)`); others opaque.
        return self._next_id() if typ.startswith("hcloud:") else f"{args.name}-id", {**args.inputs, **outputs}

    def call(self, args: Any) -> tuple[dict[str, Any], list[tuple[str, str]] | None]:
        self.calls.append((args.token, dict(args.args)))
        if args.token == "cloudflare:index/getIpRanges:getIpRanges":
            return {
                "ipv4Cidrs": self.cloudflare_ranges.get("ipv4", []),
                "ipv6Cidrs": self.cloudflare_ranges.get("ipv6", []),
                "ipv4CidrBlocks": self.cloudflare_ranges.get("ipv4", []),
                "ipv6CidrBlocks": self.cloudflare_ranges.get("ipv6", []),
            }, []
        if args.token == "cloudflare:index/getZone:getZone":
            name = (args.args.get("filter") or {}).get("name", "example.com")
            plan = {
                "id": "0" * 31 + "2",
                "name": f"{self.zone_plan.title()} Website",
                "legacyId": self.zone_plan,
                "isSubscribed": True,
                "canSubscribe": False,
                "currency": "USD",
                "frequency": "monthly",
                "price": 0,
                "externallyManaged": False,
                "legacyDiscount": False,
            }
            return {
                "id": "0" * 31 + "1",
                "zoneId": "0" * 31 + "1",
                "name": name,
                "filter": args.args.get("filter"),
                "plan": plan,
            }, []
        return {}, []


# --------------------------------------------------------------------------------------------
# Recording
# --------------------------------------------------------------------------------------------


@dataclass
class Registration:
    type: str
    name: str
    urn: str
    parent: str | None
    dependencies: list[str]
    options: dict[str, Any]
    raw_inputs: dict[str, Any]
    custom: bool
    provider: str = ""
    """Provider reference `<provider urn>::<id>` the SDK sent (explicit or inherited); "" if none."""

    @property
    def inputs(self) -> dict[str, Any]:
        """Inputs as sent, secrets unwrapped."""
        return unwrap(self.raw_inputs)  # type: ignore[no-any-return]

    def to_json(self) -> dict[str, Any]:
        return {
            "type": self.type,
            "name": self.name,
            "urn": self.urn,
            "parent": self.parent,
            "dependencies": self.dependencies,
            "options": self.options,
            "inputs": redact(self.raw_inputs),
        }


@dataclass
class PlanResult:
    stack: str
    resources: list[Registration] = field(default_factory=list)
    outputs: dict[str, Any] = field(default_factory=dict)
    """Stack outputs, secrets still wrapped (use unwrap/redact)."""
    calls: list[tuple[str, dict[str, Any]]] = field(default_factory=list)

    def of_type(self, typ: str) -> list[Registration]:
        return [r for r in self.resources if r.type == typ]

    def by_urn(self) -> dict[str, Registration]:
        return {r.urn: r for r in self.resources}


def _recording_monitor(mocks: PlanMocks, result: PlanResult) -> Any:
    from pulumi.runtime import rpc
    from pulumi.runtime.mocks import MockMonitor

    class RecordingMonitor(MockMonitor):
        def RegisterResource(self, request: Any) -> Any:  # noqa: N802 (gRPC method name)
            response = super().RegisterResource(request)  # type: ignore[no-untyped-call]
            if request.type != "pulumi:pulumi:Stack":
                inputs = rpc.deserialize_properties(request.object, keep_unknowns=True)
                result.resources.append(
                    Registration(
                        type=request.type,
                        name=request.name,
                        urn=response.urn,
                        parent=request.parent or None,
                        dependencies=sorted(set(request.dependencies)),
                        options={
                            "protect": bool(request.protect),
                            "ignoreChanges": list(request.ignoreChanges),
                            "deleteBeforeReplace": bool(request.deleteBeforeReplace),
                            "replaceOnChanges": list(request.replaceOnChanges),
                        },
                        raw_inputs=inputs,
                        custom=bool(request.custom),
                        provider=request.provider,
                    )
                )
            return response

    return RecordingMonitor(mocks)


def run_program(
    stack: str,
    raw: Mapping[str, Any] | None = None,
    mocks: PlanMocks | None = None,
    program: Path = ROOT / "__main__.py",
) -> PlanResult:
    """Run `program` for `stack` under mocks in a fresh context; return every registration.

    Pulumi keeps its runtime state in context variables, so a fresh `contextvars.Context`
    per run lets one process plan several stacks (tests) without leaking state.
    """
    raw = stack_config(stack) if raw is None else raw
    mocks = mocks or PlanMocks()
    result = PlanResult(stack=stack)

    def run() -> None:
        import asyncio

        # A fresh event loop per run: tasks left pending by a failed run must not fail the next.
        loop = asyncio.new_event_loop()
        asyncio.set_event_loop(loop)
        try:
            _run()
        finally:
            for task in asyncio.all_tasks(loop):
                task.cancel()
            loop.run_until_complete(asyncio.sleep(0))
            loop.close()
            asyncio.set_event_loop(None)

    def _run() -> None:
        import pulumi
        from pulumi.runtime.stack import run_pulumi_func
        from pulumi.runtime.sync_await import _sync_await

        config, secret_keys = engine_config(raw)
        pulumi.runtime.set_all_config(config, secret_keys)
        monitor = _recording_monitor(mocks, result)
        pulumi.runtime.set_mocks(mocks, project="honeydue", stack=stack, preview=False, monitor=monitor)

        def main() -> None:
            runpy.run_path(str(program), run_name="__main__")

        _sync_await(run_pulumi_func(main))
        # Under mocks the root stack registers its (empty) outputs before the program runs, so
        # `pulumi.export`ed values are read back from the stack object and resolved here.
        stack_resource = pulumi.runtime.settings.get_root_resource()
        for key, value in getattr(stack_resource, "outputs", {}).items():
            output = pulumi.Output.from_input(value)
            resolved = _sync_await(output.future(with_unknowns=True))
            secret = _sync_await(output.is_secret())
            result.outputs[key] = {SIG_KEY: SECRET_SIG, "value": resolved} if secret else resolved

    contextvars.Context().run(run)
    result.calls = mocks.calls
    return result


def component_tree(result: PlanResult) -> list[str]:
    """Indented `type name` lines, children under their parents, in registration order."""
    children: dict[str | None, list[Registration]] = {}
    urns = {r.urn for r in result.resources}
    for r in result.resources:
        children.setdefault(r.parent if r.parent in urns else None, []).append(r)
    lines: list[str] = []

    def walk(parent: str | None, depth: int) -> None:
        for r in children.get(parent, []):
            lines.append(f"{'  ' * depth}{r.type}  {r.name}")
            walk(r.urn, depth + 1)

    walk(None, 0)
    return lines


def is_kubernetes_object(typ: str) -> bool:
    return typ.startswith("kubernetes:") and not typ.startswith(
        ("kubernetes:helm.sh", "kubernetes:index/provider", "pulumi:providers:")
    )


def run_program_isolated(
    stack: str, raw: Mapping[str, Any] | None = None, mocks: PlanMocks | None = None
) -> PlanResult:
    """`run_program` in a forked child: for runs expected to fail.

    A failed run can leave RPC work behind inside the SDK that surfaces in the next run of the
    same process; a fork keeps the parent clean. The child's exception comes back as a
    RuntimeError carrying its message.
    """
    import multiprocessing

    ctx = multiprocessing.get_context("fork")
    parent, child = ctx.Pipe(duplex=False)

    def target() -> None:
        try:
            child.send(("ok", run_program(stack, raw, mocks)))
        except BaseException as exc:  # noqa: BLE001 - reported to the parent
            child.send(("error", f"{type(exc).__name__}: {exc}"))

    process = ctx.Process(target=target)
    process.start()
    status, payload = parent.recv()
    process.join()
    if status == "error":
        raise RuntimeError(payload)
    return payload  # type: ignore[no-any-return]
