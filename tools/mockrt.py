"""Run the real `__main__.py` in Pulumi's mock runtime and record every registration.

No CLI, no plugins, no network. The mocks return realistic outputs (the tls provider's key and
certificate encodings from tools/mock_pki.py, numeric Hetzner IDs, addresses from documentation
ranges, today's Cloudflare IP ranges from a snapshot), because under mocks an input built from
a missing output silently disappears together with its dependency.

Every mock output is a function of the resource's URN, its inputs and a fixed seed: never of
registration order, the clock or fresh randomness. Two plans of the same commit and config are
byte-identical.

With `preview=True` the run is a first `pulumi preview` of an empty stack: IDs and every
output-only property are unknown, inputs echo back (unknown where they came from an unknown),
and the readiness gate (a dynamic resource) returns nothing.

The SDK's private API (the full RegisterResource request, the URN inside `new_resource`) is
used only in tools/mock_sdk.py.
"""

from __future__ import annotations

import hashlib
import ipaddress
import json
import multiprocessing
import runpy
import threading
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from pulumi.runtime import Mocks

from tools import mock_pki, mock_sdk
from tools.mock_config import engine_config, stack_config

__all__ = [
    "SECRET_SIG",
    "SIG_KEY",
    "UNKNOWN",
    "PlanMocks",
    "PlanResult",
    "Registration",
    "component_tree",
    "engine_config",
    "is_kubernetes_object",
    "redact",
    "run_program",
    "run_program_isolated",
    "stack_config",
    "unwrap",
]

ROOT = Path(__file__).resolve().parent.parent
SECRET_SIG = mock_sdk.SECRET_SIG
SIG_KEY = mock_sdk.SIG_KEY
UNKNOWN = mock_sdk.UNKNOWN
CLOUDFLARE_IPS = ROOT / "tools" / "fixtures" / "cloudflare-ips.json"
DEFAULT_SEED = "honeydue-offline-plan-v1"
# The three TEST-NET ranges (RFC 5737): 762 host addresses for mock public IPv4s.
_TEST_NETS = [ipaddress.ip_network(n) for n in ("192.0.2.0/24", "198.51.100.0/24", "203.0.113.0/24")]
_IPV4_POOL = [str(h) for net in _TEST_NETS for h in net.hosts()]


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


def _has_unknown(value: Any) -> bool:
    if isinstance(value, dict):
        return any(_has_unknown(v) for v in value.values())
    if isinstance(value, list):
        return any(_has_unknown(v) for v in value)
    return bool(value == UNKNOWN)


# --------------------------------------------------------------------------------------------
# Mock outputs
# --------------------------------------------------------------------------------------------


class PlanMocks(Mocks):
    """`pulumi.runtime.Mocks` with realistic, URN-derived outputs.

    `cloudflare_ranges` overrides the IP ranges snapshot; `zone_plan` is the legacy id of the
    Cloudflare zone's plan (free, pro, business, enterprise), which the edge adapts its
    rate-limit rule to; `seed` keys every derived value; `preview` makes the run a first preview.
    """

    def __init__(
        self,
        cloudflare_ranges: Mapping[str, list[str]] | None = None,
        zone_plan: str = "free",
        seed: str = DEFAULT_SEED,
        preview: bool = False,
    ) -> None:
        self.cloudflare_ranges = (
            dict(cloudflare_ranges) if cloudflare_ranges is not None else json.loads(CLOUDFLARE_IPS.read_text())
        )
        self.zone_plan = zone_plan
        self.seed = seed
        self.preview = preview
        self.calls: list[tuple[str, dict[str, Any]]] = []
        self._lock = threading.Lock()
        self._hcloud_ids: dict[int, str] = {}
        self._addresses: dict[str, str] = {}
        self._primary_ips: dict[int, dict[str, Any]] = {}

    # Derived values. Two URNs that derive the same id or address are an error, never a silent
    # probe to the next free value: probing would make the result depend on registration order.

    def _number(self, *parts: str) -> int:
        return int.from_bytes(mock_pki.material(self.seed, *parts, length=8), "big")

    def _claim(self, table: dict[Any, str], value: Any, urn: str, what: str) -> None:
        with self._lock:
            owner = table.setdefault(value, urn)
        if owner != urn:
            raise RuntimeError(
                f"mock runtime: {what} {value} derived for both {owner} and {urn}; change PlanMocks(seed=...)"
            )

    def hcloud_id(self, urn: str) -> int:
        value = 10_000_000 + self._number("hcloud-id", urn) % 90_000_000
        self._claim(self._hcloud_ids, value, urn, "Hetzner id")
        return value

    def _ipv4(self, urn: str) -> str:
        address = _IPV4_POOL[self._number("ipv4", urn) % len(_IPV4_POOL)]
        self._claim(self._addresses, address, urn, "IPv4 address")
        return address

    def _ipv6_net(self, urn: str) -> str:
        n = self._number("ipv6", urn)
        net = f"2001:db8:{(n >> 16) % 0xFFFF:x}:{n % 0xFFFF:x}::"
        self._claim(self._addresses, net, urn, "IPv6 network")
        return net

    def _hcloud(self, typ: str, urn: str, ident: int, inputs: Mapping[str, Any]) -> dict[str, Any]:
        if typ == "hcloud:index/primaryIp:PrimaryIp":
            if inputs.get("type") == "ipv6":
                net = self._ipv6_net(urn)
                # Like Hetzner: the address of an IPv6 Primary IP is its /64's network address.
                out = {"ipAddress": net, "ipNetwork": net + "/64"}
            else:
                out = {"ipAddress": self._ipv4(urn)}
            with self._lock:
                self._primary_ips[ident] = out
            return out
        if typ == "hcloud:index/server:Server":
            # Like Hetzner: a server's addresses are those of the Primary IPs assigned to it
            # (the host ::1 of the IPv6 /64).
            nets = (inputs.get("publicNets") or [{}])[0]
            with self._lock:
                v4 = self._primary_ips.get(int(nets.get("ipv4") or 0), {}).get("ipAddress")
                v6 = self._primary_ips.get(int(nets.get("ipv6") or 0), {}).get("ipAddress")
            v6 = v6 or self._ipv6_net(urn)
            return {
                "ipv4Address": v4 or self._ipv4(urn),
                "ipv6Address": v6 + "1",
                "ipv6Network": v6 + "/64",
                "status": "running",
            }
        return {}

    def _outputs(self, typ: str, urn: str, inputs: dict[str, Any]) -> tuple[str, dict[str, Any]]:
        """(id, output-only properties) of a created resource."""
        if typ == "tls:index/privateKey:PrivateKey":
            out = mock_pki.private_key_outputs(inputs, self.seed, urn)
        elif typ == "tls:index/selfSignedCert:SelfSignedCert":
            out = mock_pki.self_signed_outputs(inputs, self.seed, urn)
        elif typ == "tls:index/certRequest:CertRequest":
            out = mock_pki.cert_request_outputs(inputs)
        elif typ == "tls:index/locallySignedCert:LocallySignedCert":
            out = mock_pki.locally_signed_outputs(inputs, self.seed, urn)
        elif typ == "random:index/randomPassword:RandomPassword":
            out = mock_pki.random_password_outputs(inputs, self.seed, urn)
        elif typ == "cloudflare:index/originCaCertificate:OriginCaCertificate":
            out = mock_pki.origin_ca_outputs(inputs, self.seed, urn)
        elif typ.startswith("hcloud:"):
            # hcloud IDs are numbers (the program does `id.apply(int)`).
            number = self.hcloud_id(urn)
            return str(number), self._hcloud(typ, urn, number, inputs)
        else:
            # Opaque, like Cloudflare's 32-hex ids.
            return mock_pki.material(self.seed, "id", urn, length=16).hex(), {}
        ident = str(out.pop("id"))
        return ident, {k: v for k, v in out.items() if v is not None}

    def new_resource(self, args: Any) -> tuple[str, dict[str, Any]]:
        urn = mock_sdk.current_urn()
        raw = mock_sdk.current_inputs()
        if self.preview:
            # A first preview: nothing exists, so no id and no output-only property is known.
            # The gate's outputs are unknown too (its provider only runs on `up`).
            if args.typ == "pulumi-python:dynamic:Resource":
                return "", {}
            return "", raw
        inputs = unwrap(raw)
        if _has_unknown(inputs):
            raise RuntimeError(f"mock runtime: {urn} got an unknown input outside preview")
        ident, outputs = self._outputs(args.typ, urn, inputs)
        return ident, {**raw, **outputs}

    def call(self, args: Any) -> tuple[dict[str, Any], list[tuple[str, str]] | None]:
        with self._lock:
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
    property_dependencies: dict[str, list[str]] = field(default_factory=dict)
    """Input key -> URNs its value came from (what the engine uses to propagate unknowns)."""
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
    """Sorted by URN: registration order varies with the order outputs resolve."""
    outputs: dict[str, Any] = field(default_factory=dict)
    """Stack outputs, secrets still wrapped (use unwrap/redact)."""
    calls: list[tuple[str, dict[str, Any]]] = field(default_factory=list)
    preview: bool = False

    def of_type(self, typ: str) -> list[Registration]:
        return [r for r in self.resources if r.type == typ]

    def by_urn(self) -> dict[str, Registration]:
        return {r.urn: r for r in self.resources}

    def by_name(self, name: str) -> Registration:
        """The one resource registered under `name` (logical names are unique per type here)."""
        (found,) = [r for r in self.resources if r.name == name]
        return found


def _registration(request: Any, urn: str, inputs: dict[str, Any]) -> Registration:
    return Registration(
        type=request.type,
        name=request.name,
        urn=urn,
        parent=request.parent or None,
        dependencies=sorted(set(request.dependencies)),
        options={
            "protect": bool(request.protect),
            "ignoreChanges": sorted(request.ignoreChanges),
            "deleteBeforeReplace": bool(request.deleteBeforeReplace),
            "replaceOnChanges": sorted(request.replaceOnChanges),
        },
        raw_inputs=inputs,
        custom=bool(request.custom),
        provider=request.provider,
        property_dependencies={
            key: sorted(set(deps.urns)) for key, deps in sorted(request.propertyDependencies.items()) if deps.urns
        },
    )


def _run_path(program: Path) -> None:
    runpy.run_path(str(program), run_name="__main__")


def run_program(
    stack: str,
    raw: Mapping[str, Any] | None = None,
    mocks: PlanMocks | None = None,
    program: Path = ROOT / "__main__.py",
    preview: bool = False,
) -> PlanResult:
    """Run `program` for `stack` under mocks in a fresh context; return every registration."""
    raw = stack_config(stack) if raw is None else raw
    mocks = mocks or PlanMocks(preview=preview)
    preview = mocks.preview
    result = PlanResult(stack=stack, preview=preview)
    lock = threading.Lock()

    def record(request: Any, urn: str, inputs: dict[str, Any]) -> None:
        with lock:
            result.resources.append(_registration(request, urn, inputs))

    config, secret_keys = engine_config(raw)
    result.outputs = mock_sdk.run(
        lambda: _run_path(program),
        mocks=mocks,
        monitor=mock_sdk.recording_monitor(mocks, record),
        project="honeydue",
        stack=stack,
        preview=preview,
        config=config,
        secret_keys=secret_keys,
    )
    result.resources.sort(key=lambda r: r.urn)
    result.calls = sorted(mocks.calls, key=lambda c: (c[0], json.dumps(c[1], sort_keys=True, default=str)))
    return result


def component_tree(result: PlanResult) -> list[str]:
    """Indented `type name` lines, children under their parents, siblings by URN."""
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
    stack: str, raw: Mapping[str, Any] | None = None, mocks: PlanMocks | None = None, preview: bool = False
) -> PlanResult:
    """`run_program` in a forked child: for runs expected to fail.

    A failed run can leave RPC work behind inside the SDK that surfaces in the next run of the
    same process; a fork keeps the parent clean. The child's exception comes back as a
    RuntimeError carrying its message.
    """
    ctx = multiprocessing.get_context("fork")
    parent, child = ctx.Pipe(duplex=False)

    def target() -> None:
        try:
            child.send(("ok", run_program(stack, raw, mocks, preview=preview)))
        except BaseException as exc:  # noqa: BLE001 - reported to the parent
            child.send(("error", f"{type(exc).__name__}: {exc}"))

    process = ctx.Process(target=target)
    process.start()
    status, payload = parent.recv()
    process.join()
    if status == "error":
        raise RuntimeError(payload)
    return payload  # type: ignore[no-any-return]


def secret_digest(value: Any) -> str:
    """A stable fingerprint of a secret value, for comparing without printing it."""
    return hashlib.sha256(json.dumps(value, sort_keys=True, default=str).encode()).hexdigest()[:16]
