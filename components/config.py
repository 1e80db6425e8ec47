"""The stack's configuration: read once, validated once, frozen.

`load_config(raw)` takes a plain mapping of config keys (without the `honeydue:` namespace) to
values, either typed (tests, YAML) or as the JSON strings the Pulumi engine passes, and returns a
`StackConfig`. Every problem is collected and raised together in one `ConfigError`, each naming
its key, the bad value and what is allowed. Nothing here needs the Pulumi runtime.

Secret values never enter `StackConfig`: the loader only checks that each required secret is
present. `components.secrets.read_secrets` reads them as Pulumi secrets afterwards.
"""

from __future__ import annotations

import difflib
import ipaddress
import json
import re
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path
from typing import Any

import yaml

PROJECT = "honeydue"
PROJECT_FILE = Path(__file__).resolve().parent.parent / "Pulumi.yaml"

# Hetzner network zones and their locations (https://docs.hetzner.com/cloud/general/locations/).
NETWORK_ZONES: Mapping[str, frozenset[str]] = {
    "eu-central": frozenset({"fsn1", "nbg1", "hel1"}),
    "us-east": frozenset({"ash"}),
    "us-west": frozenset({"hil"}),
    "ap-southeast": frozenset({"sin"}),
}
ETCD_QUORUM_SIZES = (1, 3, 5)
# Ports the cluster itself listens on (web, etcd, API, kubelet): SSH must not collide with them.
CLUSTER_PORTS = frozenset({80, 443, 2379, 2380, 6443, 10250})
ORIGIN_CA_VALIDITY_DAYS = (7, 30, 90, 365, 730, 1095, 5475)
ORIGIN_CA_REQUEST_TYPES = ("origin-ecc", "origin-rsa")
ENVIRONMENTS = ("prod", "staging")
WORKLOADS = ("api", "admin", "worker", "redis")
REPLICATED = ("api", "admin", "worker")
# Free-plan rate limiting counts over 10 s only; paid plans allow longer periods.
RATE_LIMIT_PERIODS = (10, 60, 120, 300, 600, 3600)
# Secrets that are required only when another key enables the feature that uses them.
CONDITIONAL_SECRETS: Mapping[str, str] = {
    "etcdS3AccessKey": "etcdS3",
    "etcdS3SecretKey": "etcdS3",
    # platform: Kyverno pulls signatures from the private registry with this account.
    "registryPassword": "registryUsername",
    "monitorWebhookUrl": "monitor",
}

_DNS_LABEL = re.compile(r"^(?!-)[a-z0-9-]{1,63}(?<!-)$")
_K3S_VERSION = re.compile(r"^v(\d+)\.(\d+)\.(\d+)\+k3s(\d+)$")
_IMAGE = re.compile(r"^(?P<repo>[a-z0-9][a-z0-9._:/-]*)@sha256:(?P<digest>[0-9a-f]{64})$")
_CPU = re.compile(r"^(\d+(\.\d+)?)(m?)$")
_MEMORY = re.compile(r"^(\d+(\.\d+)?)(Ki|Mi|Gi|Ti|K|M|G|T)?$")


# --------------------------------------------------------------------------------------------
# Errors
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Problem:
    key: str
    value: Any
    allowed: str

    def __str__(self) -> str:
        shown = "(missing)" if self.value is _MISSING else json.dumps(self.value, default=str)
        return f"{PROJECT}:{self.key} = {shown}: {self.allowed}"


class ConfigError(ValueError):
    """Every problem of a stack's config, each naming its key."""

    def __init__(self, problems: list[Problem]) -> None:
        self.problems = problems
        lines = "\n".join(f"  - {p}" for p in problems)
        super().__init__(f"invalid stack config ({len(problems)} problem(s)):\n{lines}")


class _Missing:
    def __repr__(self) -> str:
        return "(missing)"


_MISSING: Any = _Missing()


# --------------------------------------------------------------------------------------------
# Schema: the `config:` block of Pulumi.yaml
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class KeySpec:
    name: str
    type: str | None  # string, integer, boolean, array; None = object
    default: Any
    secret: bool
    description: str

    @property
    def required(self) -> bool:
        return self.default is _MISSING


@cache
def project_schema(path: Path = PROJECT_FILE) -> Mapping[str, KeySpec]:
    doc = yaml.safe_load(path.read_text())
    return {
        name: KeySpec(
            name=name,
            type=spec.get("type"),
            default=spec.get("default", _MISSING),
            secret=bool(spec.get("secret", False)),
            description=spec.get("description", ""),
        )
        for name, spec in (doc.get("config") or {}).items()
    }


# --------------------------------------------------------------------------------------------
# Typed config
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Server:
    """One K3s server. Its identity (name, private IP, role) comes from its own config entry,
    never from its position in the list: reordering or removing an entry changes nothing else."""

    name: str
    location: str
    private_ip: str
    bootstrap: bool
    """Initialises etcd on day one (config key bootstrapServer). Rebuilt later, it joins a peer."""


@dataclass(frozen=True)
class EtcdS3Target:
    endpoint: str
    bucket: str
    folder: str
    region: str
    retention: int
    """Snapshots K3s keeps in the bucket (etcd-s3-retention); the upstream default is 5."""


@dataclass(frozen=True)
class Resources:
    cpu_request: str
    memory_request: str
    cpu_limit: str
    memory_limit: str


@dataclass(frozen=True)
class RateLimit:
    enabled: bool
    paths: tuple[str, ...]
    requests_per_period: int
    period_seconds: int


@dataclass(frozen=True)
class StackConfig:
    environment: str
    protect: bool
    domain: str
    api_hostname: str
    admin_hostname: str
    extra_hostnames: tuple[str, ...]
    kube_api_hostname: str
    network_zone: str
    servers: tuple[Server, ...]
    server_type: str
    server_image: str
    private_network_cidr: str
    private_subnet_cidr: str
    cluster_cidr: str
    service_cidr: str
    k3s_version: str
    hetzner_ccm: bool
    admin_cidrs: tuple[str, ...]
    allow_icmp: bool
    ssh_port: int
    admin_user: str
    ssh_public_keys: tuple[str, ...]
    etcd_snapshot_cron: str
    etcd_snapshot_retention: int
    etcd_s3: EtcdS3Target | None
    manage_zone_settings: bool
    create_ipv6_records: bool
    hsts_max_age_seconds: int
    origin_ca_validity_days: int
    origin_ca_request_type: str
    rate_limit: RateLimit
    allowed_registries: tuple[str, ...]
    platform: PlatformConfig
    """Cluster add-ons (components/platform.py); parsed by `_check_platform` below."""
    images: Mapping[str, str] = field(default_factory=dict)
    replicas: Mapping[str, int] = field(default_factory=dict)
    resources: Mapping[str, Resources] = field(default_factory=dict)

    @property
    def web_hostnames(self) -> tuple[str, ...]:
        """Every proxied public hostname of the stack, in a stable order."""
        return (self.api_hostname, self.admin_hostname, *self.extra_hostnames)


# --------------------------------------------------------------------------------------------
# Loader
# --------------------------------------------------------------------------------------------


class _Collector:
    """Accumulates the problems of one load, so all are raised together."""

    def __init__(self) -> None:
        self.problems: list[Problem] = []

    def add(self, key: str, value: Any, allowed: str) -> None:
        self.problems.append(Problem(key, value, allowed))


def _coerce(spec: KeySpec, value: Any, errors: _Collector) -> Any:
    """Engine values arrive as strings (JSON for non-strings); YAML/tests give typed values."""
    if spec.type == "string":
        if isinstance(value, str):
            return value
        errors.add(spec.name, value, "must be a string")
        return _MISSING
    if isinstance(value, str) and spec.type != "string":
        try:
            value = json.loads(value)
        except json.JSONDecodeError:
            expected = {"integer": "an integer", "boolean": "true or false", "array": "a list"}
            errors.add(spec.name, value, f"must be {expected.get(spec.type or '', 'an object')}")
            return _MISSING
    if spec.type == "integer":
        if isinstance(value, bool) or not isinstance(value, int | float) or int(value) != value:
            errors.add(spec.name, value, "must be an integer")
            return _MISSING
        return int(value)
    if spec.type == "boolean":
        if not isinstance(value, bool):
            errors.add(spec.name, value, "must be true or false")
            return _MISSING
        return value
    if spec.type == "array":
        if not isinstance(value, list):
            errors.add(spec.name, value, "must be a list")
            return _MISSING
        return value
    return value


def _suggest(key: str, known: Iterable[str]) -> str:
    close = difflib.get_close_matches(key, list(known), n=1, cutoff=0.6)
    return f"unknown key; did you mean '{close[0]}'?" if close else "unknown key"


def load_config(raw: Mapping[str, Any], schema: Mapping[str, KeySpec] | None = None) -> StackConfig:
    """Validate `raw` (keys without namespace) against the schema and every rule; raise once."""
    schema = project_schema() if schema is None else schema
    errors = _Collector()

    for key in sorted(set(raw) - set(schema)):
        # A mistyped secret key still holds a secret: never echo it.
        close = difflib.get_close_matches(key, list(schema), n=1, cutoff=0.6)
        hidden = _looks_secret(key) or (close and schema[close[0]].secret)
        errors.add(key, "[hidden]" if hidden else raw[key], _suggest(key, schema))

    values: dict[str, Any] = {}
    for name, spec in schema.items():
        if spec.secret:
            continue
        if name in raw and raw[name] is not None:
            values[name] = _coerce(spec, raw[name], errors)
        elif spec.required:
            errors.add(name, _MISSING, f"required: {spec.description}")
            values[name] = _MISSING
        else:
            values[name] = spec.default

    _check_secrets(raw, schema, values, errors)
    cfg = _build(values, errors)
    if errors.problems:
        raise ConfigError(errors.problems)
    assert cfg is not None
    return cfg


def _looks_secret(key: str) -> bool:
    return bool(re.search(r"(token|secret|password|key)", key, re.IGNORECASE))


def _check_secrets(
    raw: Mapping[str, Any], schema: Mapping[str, KeySpec], values: Mapping[str, Any], errors: _Collector
) -> None:
    for name, spec in schema.items():
        if not spec.secret:
            continue
        gate = CONDITIONAL_SECRETS.get(name)
        if gate is not None and values.get(gate) in (None, _MISSING, ""):
            continue
        if raw.get(name) in (None, ""):
            why = f" (needed because {gate} is set)" if gate else ""
            errors.add(
                name,
                _MISSING,
                f"required secret{why}: {spec.description} Set it with `pulumi config set --secret {name} ...`",
            )


def _ok(v: Any) -> bool:
    return v is not _MISSING


def _build(v: Mapping[str, Any], errors: _Collector) -> StackConfig | None:
    environment = _check_choice("environment", v["environment"], ENVIRONMENTS, errors)
    domain = _check_dns_name("domain", v["domain"], errors)
    names = _check_hostnames(v, domain, errors)
    zone = _check_choice("networkZone", v["networkZone"], tuple(NETWORK_ZONES), errors)
    network = _check_private_networks(v, errors)
    servers = _check_servers(v["servers"], v["bootstrapServer"], zone, errors)
    if network and servers:
        _check_node_ips(servers, network, errors)
    k3s = _check_k3s_version(v["k3sVersion"], errors)
    admin_cidrs = _check_admin_cidrs(v["adminCidrs"], v["allowWorldAdminAccess"], errors)
    ssh_port = _check_ssh_port(v["sshPort"], errors)
    admin_user = _check_admin_user(v["adminUser"], errors)
    keys = _check_ssh_keys(v["sshPublicKeys"], errors)
    retention = _check_positive("etcdSnapshotRetention", v["etcdSnapshotRetention"], errors)
    cron = _check_cron("etcdSnapshotCron", v["etcdSnapshotCron"], errors)
    etcd_s3 = _check_etcd_s3(v["etcdS3"], errors)
    hsts = _check_range("hstsMaxAgeSeconds", v["hstsMaxAgeSeconds"], 0, 31_536_000, errors)
    validity = _check_choice("originCaValidityDays", v["originCaValidityDays"], ORIGIN_CA_VALIDITY_DAYS, errors)
    request_type = _check_choice("originCaRequestType", v["originCaRequestType"], ORIGIN_CA_REQUEST_TYPES, errors)
    rate_limit = _check_rate_limit(v, errors)
    registries = _check_registries(v["allowedRegistries"], errors)
    images = _check_images(v["images"], registries, errors)
    replicas = _check_replicas(v["replicas"], errors)
    resources = _check_resources(v["resources"], errors)
    platform = _check_platform(v, registries, errors)
    for name in ("serverType", "serverImage"):
        if _ok(v[name]) and not re.fullmatch(r"[a-z0-9][a-z0-9.-]*", v[name]):
            errors.add(name, v[name], "must be a Hetzner name like cx33 / ubuntu-24.04")

    if errors.problems:
        return None
    return StackConfig(
        environment=environment,
        protect=v["protect"],
        domain=domain,
        api_hostname=names["apiHostname"],
        admin_hostname=names["adminHostname"],
        extra_hostnames=tuple(names["extraHostnames"]),
        kube_api_hostname=names["kubeApiHostname"],
        network_zone=zone,
        servers=servers,
        server_type=v["serverType"],
        server_image=v["serverImage"],
        private_network_cidr=v["privateNetworkCidr"],
        private_subnet_cidr=v["privateSubnetCidr"],
        cluster_cidr=v["clusterCidr"],
        service_cidr=v["serviceCidr"],
        k3s_version=k3s,
        hetzner_ccm=v["hetznerCcm"],
        admin_cidrs=admin_cidrs,
        allow_icmp=v["allowIcmp"],
        ssh_port=ssh_port,
        admin_user=admin_user,
        ssh_public_keys=keys,
        etcd_snapshot_cron=cron,
        etcd_snapshot_retention=retention,
        etcd_s3=etcd_s3,
        manage_zone_settings=v["manageZoneSettings"],
        create_ipv6_records=v["createIpv6Records"],
        hsts_max_age_seconds=hsts,
        origin_ca_validity_days=validity,
        origin_ca_request_type=request_type,
        rate_limit=rate_limit,
        allowed_registries=registries,
        platform=platform,
        images=images,
        replicas=replicas,
        resources=resources,
    )


# --------------------------------------------------------------------------------------------
# Rules (each records problems and returns the cleaned value, or _MISSING)
# --------------------------------------------------------------------------------------------


def _check_choice(key: str, value: Any, allowed: tuple[Any, ...], errors: _Collector) -> Any:
    if _ok(value) and value not in allowed:
        errors.add(key, value, "must be one of " + ", ".join(str(a) for a in allowed))
    return value


def _check_positive(key: str, value: Any, errors: _Collector) -> Any:
    if _ok(value) and value < 1:
        errors.add(key, value, "must be a positive integer")
    return value


def _check_range(key: str, value: Any, low: int, high: int, errors: _Collector) -> Any:
    if _ok(value) and not low <= value <= high:
        errors.add(key, value, f"must be between {low} and {high}")
    return value


def is_dns_name(name: Any) -> bool:
    if not isinstance(name, str) or len(name) > 253 or "." not in name:
        return False
    return all(_DNS_LABEL.match(label) for label in name.split("."))


def _check_dns_name(key: str, value: Any, errors: _Collector) -> Any:
    if _ok(value) and not is_dns_name(value):
        errors.add(key, value, "must be a lower-case DNS name (labels of a-z, 0-9, '-', at least two labels)")
        return _MISSING
    return value


def _check_hostnames(v: Mapping[str, Any], domain: Any, errors: _Collector) -> dict[str, Any]:
    out: dict[str, Any] = {}
    seen: dict[str, str] = {}
    entries: list[tuple[str, Any]] = [
        ("apiHostname", v["apiHostname"]),
        ("adminHostname", v["adminHostname"]),
        ("kubeApiHostname", v["kubeApiHostname"]),
    ]
    extras = v["extraHostnames"]
    if _ok(extras):
        entries += [(f"extraHostnames[{i}]", h) for i, h in enumerate(extras)]
    for key, host in entries:
        if not _ok(host):
            continue
        if not is_dns_name(host) and not (_ok(domain) and host == domain):
            errors.add(key, host, "must be a lower-case DNS name")
            continue
        if _ok(domain) and host != domain and not host.endswith("." + domain):
            errors.add(key, host, f"must be inside the domain {domain}")
        if host in seen:
            errors.add(key, host, f"duplicate of {seen[host]}")
        seen[host] = key
    out["apiHostname"] = v["apiHostname"]
    out["adminHostname"] = v["adminHostname"]
    out["kubeApiHostname"] = v["kubeApiHostname"]
    out["extraHostnames"] = extras if _ok(extras) else []
    return out


def _parse_network(key: str, value: Any, errors: _Collector) -> ipaddress.IPv4Network | None:
    if not _ok(value):
        return None
    try:
        return ipaddress.IPv4Network(value, strict=True)
    except (ValueError, TypeError):
        errors.add(key, value, "must be an IPv4 CIDR with no host bits set, e.g. 10.0.0.0/16")
        return None


def _check_private_networks(
    v: Mapping[str, Any], errors: _Collector
) -> tuple[ipaddress.IPv4Network, ipaddress.IPv4Network] | None:
    network = _parse_network("privateNetworkCidr", v["privateNetworkCidr"], errors)
    subnet = _parse_network("privateSubnetCidr", v["privateSubnetCidr"], errors)
    cluster = _parse_network("clusterCidr", v["clusterCidr"], errors)
    service = _parse_network("serviceCidr", v["serviceCidr"], errors)
    if network is not None:
        if not network.is_private or not any(network.subnet_of(r) for r in _RFC1918):
            errors.add("privateNetworkCidr", str(network), "must lie inside RFC1918 (10/8, 172.16/12, 192.168/16)")
        elif not 16 <= network.prefixlen <= 24:
            errors.add("privateNetworkCidr", str(network), "prefix must be /16 to /24")
    if network is not None and subnet is not None and not subnet.subnet_of(network):
        errors.add("privateSubnetCidr", str(subnet), f"must lie inside privateNetworkCidr {network}")
    named = [("clusterCidr", cluster), ("serviceCidr", service)]
    for key, other in named:
        if network is not None and other is not None and network.overlaps(other):
            errors.add(key, str(other), f"must not overlap privateNetworkCidr {network}")
    if cluster is not None and service is not None and cluster.overlaps(service):
        errors.add("serviceCidr", str(service), f"must not overlap clusterCidr {cluster}")
    if network is None or subnet is None:
        return None
    return network, subnet


_RFC1918 = (
    ipaddress.IPv4Network("10.0.0.0/8"),
    ipaddress.IPv4Network("172.16.0.0/12"),
    ipaddress.IPv4Network("192.168.0.0/16"),
)


SERVER_KEYS = ("name", "location", "privateIp")


def _check_servers(value: Any, bootstrap: Any, zone: Any, errors: _Collector) -> tuple[Server, ...]:
    if not _ok(value):
        return ()
    if not isinstance(value, list) or not all(isinstance(s, dict) for s in value):
        errors.add("servers", value, "must be a list of {name, location, privateIp}")
        return ()
    if len(value) not in ETCD_QUORUM_SIZES:
        errors.add("servers", f"{len(value)} servers", "must be 1, 3 or 5 servers (etcd quorum)")
    zone_locations = NETWORK_ZONES.get(zone, frozenset()) if _ok(zone) else frozenset()
    servers: list[Server] = []
    seen: set[str] = set()
    for i, entry in enumerate(value):
        key = f"servers[{i}]"
        for extra in sorted(set(entry) - set(SERVER_KEYS)):
            errors.add(f"{key}.{extra}", entry[extra], _suggest(extra, SERVER_KEYS))
        name = entry.get("name", _MISSING)
        location = entry.get("location", _MISSING)
        if not isinstance(name, str) or not _DNS_LABEL.match(name):
            errors.add(f"{key}.name", name, "must be a DNS label (a-z, 0-9, '-', at most 63 characters)")
        elif name in seen:
            errors.add(f"{key}.name", name, "duplicate server name")
        seen.add(name if isinstance(name, str) else "")
        if zone_locations and location not in zone_locations:
            errors.add(
                f"{key}.location",
                location,
                f"must be a location of network zone {zone}: " + ", ".join(sorted(zone_locations)),
            )
        # Explicit, never derived from the position: a derived address would move every time an
        # entry above it is removed or reordered, and Hetzner would then re-address real nodes.
        ip = entry.get("privateIp", _MISSING)
        if not isinstance(ip, str):
            errors.add(f"{key}.privateIp", ip, "required: this server's static IPv4 in privateSubnetCidr")
        servers.append(Server(name=str(name), location=str(location), private_ip=str(ip), bootstrap=name == bootstrap))
    names = [s.name for s in servers]
    if _ok(bootstrap) and names and bootstrap not in names:
        errors.add("bootstrapServer", bootstrap, "must name one of servers: " + ", ".join(names))
    return tuple(servers)


def _check_node_ips(
    servers: tuple[Server, ...],
    network: tuple[ipaddress.IPv4Network, ipaddress.IPv4Network],
    errors: _Collector,
) -> None:
    _, subnet = network
    seen: set[str] = set()
    for i, server in enumerate(servers):
        key = f"servers[{i}].privateIp"
        if server.private_ip == str(_MISSING):
            continue  # already reported as missing
        try:
            ip = ipaddress.IPv4Address(server.private_ip)
        except ValueError:
            errors.add(key, server.private_ip, "must be an IPv4 address")
            continue
        # The first hosts of a Hetzner subnet belong to its gateway; the last is broadcast.
        if (
            ip not in subnet
            or ip in (subnet.network_address, subnet.broadcast_address)
            or int(ip) - int(subnet.network_address) < 2
        ):
            errors.add(key, str(ip), f"must be a usable host of privateSubnetCidr {subnet} (host 2 or above)")
        if str(ip) in seen:
            errors.add(key, str(ip), "duplicate private IP")
        seen.add(str(ip))


def _check_k3s_version(value: Any, errors: _Collector) -> Any:
    if _ok(value) and not (isinstance(value, str) and _K3S_VERSION.match(value)):
        errors.add("k3sVersion", value, "must look like v1.34.6+k3s1 (vMAJOR.MINOR.PATCH+k3sN)")
    return value


def _check_admin_cidrs(value: Any, allow_world: Any, errors: _Collector) -> tuple[str, ...]:
    if not _ok(value):
        return ()
    if not value:
        errors.add("adminCidrs", value, "must list at least one CIDR (SSH and the Kubernetes API)")
    cidrs: list[str] = []
    for i, item in enumerate(value):
        key = f"adminCidrs[{i}]"
        try:
            net = ipaddress.ip_network(item, strict=True)
        except (ValueError, TypeError):
            errors.add(key, item, "must be a CIDR with no host bits set, e.g. 198.51.100.7/32")
            continue
        if net.prefixlen == 0 and allow_world is not True:
            errors.add(key, item, "world-open admin access is refused unless allowWorldAdminAccess is true")
        cidrs.append(str(net))
    return tuple(cidrs)


def _check_ssh_port(value: Any, errors: _Collector) -> Any:
    if not _ok(value):
        return value
    if not 1 <= value <= 65535:
        errors.add("sshPort", value, "must be a TCP port 1-65535")
    elif value == 22:
        errors.add("sshPort", value, "must not be 22 (scanner noise); pick e.g. 2222")
    elif value in CLUSTER_PORTS:
        errors.add(
            "sshPort", value, "must not be a port the cluster uses: " + ", ".join(map(str, sorted(CLUSTER_PORTS)))
        )
    return value


def _check_admin_user(value: Any, errors: _Collector) -> Any:
    if _ok(value) and (not re.fullmatch(r"[a-z_][a-z0-9_-]{0,31}", value) or value == "root"):
        errors.add("adminUser", value, "must be a Linux user name (a-z, 0-9, '_', '-') other than root")
    return value


def _check_ssh_keys(value: Any, errors: _Collector) -> tuple[str, ...]:
    if not _ok(value):
        return ()
    if not value:
        errors.add("sshPublicKeys", value, "must list at least one OpenSSH public key")
    for i, item in enumerate(value):
        if not isinstance(item, str) or not re.match(
            r"^(ssh-ed25519|ecdsa-sha2-nistp\d+|ssh-rsa) [A-Za-z0-9+/=]+", item
        ):
            errors.add(f"sshPublicKeys[{i}]", item, "must be an OpenSSH public key (ssh-ed25519 AAAA...)")
    return tuple(value)


def _check_cron(key: str, value: Any, errors: _Collector) -> Any:
    if _ok(value) and len(str(value).split()) != 5:
        errors.add(key, value, "must be a 5-field cron expression, e.g. '0 */6 * * *'")
    return value


def _check_etcd_s3(value: Any, errors: _Collector) -> EtcdS3Target | None:
    if value in (None, _MISSING):
        return None
    fields_ = ("endpoint", "bucket", "folder", "region")
    if not isinstance(value, dict):
        errors.add("etcdS3", value, "must be an object {endpoint, bucket, folder, region, retention} or null")
        return None
    for extra in sorted(set(value) - {*fields_, "retention"}):
        errors.add(f"etcdS3.{extra}", value[extra], _suggest(extra, (*fields_, "retention")))
    # Required, not defaulted: K3s keeps only 5 snapshots in S3 unless told otherwise, and what
    # the bucket keeps is what an operator restores from.
    retention = value.get("retention", _MISSING)
    if isinstance(retention, bool) or not isinstance(retention, int) or retention < 1:
        errors.add("etcdS3.retention", retention, "required: number of snapshots kept in the bucket (1 or more)")
    for name in fields_:
        if not isinstance(value.get(name), str) or not value.get(name):
            errors.add(f"etcdS3.{name}", value.get(name, _MISSING), "required non-empty string")
    endpoint = value.get("endpoint")
    if isinstance(endpoint, str) and "://" in endpoint:
        errors.add("etcdS3.endpoint", endpoint, "must be a host name without scheme (K3s adds https)")
    return EtcdS3Target(
        **{k: str(value.get(k, "")) for k in fields_},
        retention=retention if isinstance(retention, int) else 0,
    )


def _check_rate_limit(v: Mapping[str, Any], errors: _Collector) -> RateLimit:
    paths = v["rateLimitPaths"]
    if _ok(paths):
        if v["rateLimitEnabled"] is True and not paths:
            errors.add("rateLimitPaths", paths, "must list at least one path when rateLimitEnabled is true")
        for i, p in enumerate(paths):
            if not isinstance(p, str) or not p.startswith("/") or '"' in p:
                errors.add(f"rateLimitPaths[{i}]", p, "must be a URI path starting with '/'")
    _check_positive("rateLimitRequestsPerPeriod", v["rateLimitRequestsPerPeriod"], errors)
    _check_choice("rateLimitPeriodSeconds", v["rateLimitPeriodSeconds"], RATE_LIMIT_PERIODS, errors)
    return RateLimit(
        enabled=v["rateLimitEnabled"],
        paths=tuple(paths) if _ok(paths) else (),
        requests_per_period=v["rateLimitRequestsPerPeriod"],
        period_seconds=v["rateLimitPeriodSeconds"],
    )


def _check_registries(value: Any, errors: _Collector) -> tuple[str, ...]:
    if not _ok(value):
        return ()
    if not value:
        errors.add("allowedRegistries", value, "must list at least one registry host")
    for i, item in enumerate(value):
        if not isinstance(item, str) or not re.fullmatch(r"[a-z0-9.-]+(:\d+)?", item):
            errors.add(f"allowedRegistries[{i}]", item, "must be a registry host[:port] without scheme or path")
    return tuple(value)


def image_registry(image: str) -> str:
    """Registry host of an image reference (Docker's rule: first segment with '.' or ':' or localhost)."""
    first, _, rest = image.partition("/")
    if rest and ("." in first or ":" in first or first == "localhost"):
        return first
    return "docker.io"


def _object_of(
    key: str, value: Any, names: tuple[str, ...], errors: _Collector, check: Callable[[str, Any], Any]
) -> dict[str, Any]:
    if not _ok(value):
        return {}
    if not isinstance(value, dict):
        errors.add(key, value, "must be an object with keys " + ", ".join(names))
        return {}
    for extra in sorted(set(value) - set(names)):
        errors.add(f"{key}.{extra}", value[extra], _suggest(extra, names))
    out: dict[str, Any] = {}
    for name in names:
        if name not in value:
            errors.add(f"{key}.{name}", _MISSING, "required")
            continue
        out[name] = check(f"{key}.{name}", value[name])
    return out


def _check_images(value: Any, registries: tuple[str, ...], errors: _Collector) -> dict[str, str]:
    def one(key: str, image: Any) -> Any:
        match = _IMAGE.match(image) if isinstance(image, str) else None
        if match is None:
            errors.add(key, image, "must be pinned by digest: registry/repository@sha256:<64 hex>")
        elif registries and image_registry(image) not in registries:
            errors.add(key, image, "registry must be one of allowedRegistries: " + ", ".join(registries))
        return image

    return _object_of("images", value, WORKLOADS, errors, one)


def _check_replicas(value: Any, errors: _Collector) -> dict[str, int]:
    def one(key: str, count: Any) -> Any:
        if isinstance(count, bool) or not isinstance(count, int) or count < 1:
            errors.add(key, count, "must be a positive integer")
        elif key.endswith(".worker") and count != 1:
            errors.add(key, count, "must be exactly 1 (the Asynq scheduler is a singleton)")
        return count

    return _object_of("replicas", value, REPLICATED, errors, one)


def cpu_millis(quantity: str) -> float:
    m = _CPU.match(quantity)
    if m is None:
        raise ValueError(quantity)
    return float(m.group(1)) * (1 if m.group(3) else 1000)


def memory_bytes(quantity: str) -> float:
    m = _MEMORY.match(quantity)
    if m is None:
        raise ValueError(quantity)
    unit = m.group(3) or ""
    powers = {"": 1, "K": 10**3, "M": 10**6, "G": 10**9, "T": 10**12}
    powers.update({"Ki": 2**10, "Mi": 2**20, "Gi": 2**30, "Ti": 2**40})
    return float(m.group(1)) * powers[unit]


def _check_resources(value: Any, errors: _Collector) -> dict[str, Resources]:
    def one(key: str, spec: Any) -> Any:
        if not isinstance(spec, dict) or set(spec) != {"requests", "limits"}:
            errors.add(key, spec, "must be {requests: {cpu, memory}, limits: {cpu, memory}}")
            return _MISSING
        parsed: dict[str, float] = {}
        for part in ("requests", "limits"):
            section = spec[part]
            if not isinstance(section, dict) or set(section) != {"cpu", "memory"}:
                errors.add(f"{key}.{part}", section, "must be {cpu, memory}")
                continue
            for kind, parse in (("cpu", cpu_millis), ("memory", memory_bytes)):
                q = str(section[kind])
                try:
                    amount = parse(q)
                except ValueError:
                    amount = -1
                if amount <= 0:
                    errors.add(f"{key}.{part}.{kind}", section[kind], f"must be a positive Kubernetes {kind} quantity")
                parsed[f"{part}.{kind}"] = amount
        for kind in ("cpu", "memory"):
            req, lim = parsed.get(f"requests.{kind}", 0), parsed.get(f"limits.{kind}", 0)
            if req > 0 and lim > 0 and req > lim:
                errors.add(f"{key}.requests.{kind}", spec["requests"][kind], f"must not exceed limits.{kind}")
        if len(parsed) < 4 or min(parsed.values()) <= 0:
            return _MISSING
        return Resources(
            cpu_request=str(spec["requests"]["cpu"]),
            memory_request=str(spec["requests"]["memory"]),
            cpu_limit=str(spec["limits"]["cpu"]),
            memory_limit=str(spec["limits"]["memory"]),
        )

    return _object_of("resources", value, WORKLOADS, errors, one)


# ============================================================================================
# Platform add-ons (components/platform.py): toggles, chart pins, Kyverno and kured settings.
# Kept in this one section so the rest of the loader stays untouched; `_build` calls
# `_check_platform` once and stores the result in `StackConfig.platform`.
# ============================================================================================

# Chart keys of `platformCharts`, in install order. Values are merged over the Pulumi.yaml
# default per chart and per field, so a stack can bump one version without restating the rest.
PLATFORM_CHARTS = (
    "hcloudCcm",
    "hcloudCsi",
    "kyverno",
    "kured",
    "systemUpgradeController",
    "kubePrometheusStack",
    "loki",
    "fluentBit",
)
PLATFORM_IMAGES = ("systemUpgradeController", "kubectl", "k3sUpgrade")
RECLAIM_POLICIES = ("Retain", "Delete")
KURED_DAYS = ("su", "mo", "tu", "we", "th", "fr", "sa")
_SEMVER = re.compile(r"^(0|[1-9]\d*)\.(0|[1-9]\d*)\.(0|[1-9]\d*)$")
_HHMM = re.compile(r"^([01]\d|2[0-3]):[0-5]\d$")
# registry/repository[:tag]; a tag is required (or a digest): never an implicit `latest`.
_IMAGE_REF = re.compile(r"^[a-z0-9][a-z0-9._/-]*(:[A-Za-z0-9_][A-Za-z0-9_.+-]*)?(@sha256:[0-9a-f]{64})?$")


@dataclass(frozen=True)
class ChartPin:
    chart: str
    """Chart name in the repository, or a path relative to the project root (vendored chart)."""
    version: str
    repository: str
    """https chart repository; empty for a vendored chart."""


@dataclass(frozen=True)
class RebootWindow:
    days: tuple[str, ...]
    start: str
    end: str
    time_zone: str


@dataclass(frozen=True)
class PlatformConfig:
    ccm: bool
    csi: bool
    csi_reclaim_policy: str
    kyverno: bool
    signed_registries: tuple[str, ...]
    registry_username: str | None
    upgrades: bool
    kured: bool
    reboot_window: RebootWindow
    monitoring: bool
    loki_retention_hours: int
    loki_storage_size: str
    ingress_rate_average: int
    ingress_rate_burst: int
    charts: Mapping[str, ChartPin]
    images: Mapping[str, str]


def _check_platform(v: Mapping[str, Any], allowed_registries: tuple[str, ...], errors: _Collector) -> PlatformConfig:
    charts = _check_platform_charts(v["platformCharts"], errors)
    images = _check_platform_images(v["platformImages"], errors)
    reclaim = _check_choice("csiReclaimPolicy", v["csiReclaimPolicy"], RECLAIM_POLICIES, errors)
    signed = _check_signed_registries(v["signedRegistries"], v["kyverno"], allowed_registries, errors)
    # "" (the default) means no registry account: Pulumi needs a typed default, and null is none.
    username = v["registryUsername"] if v["registryUsername"] != "" else None
    if username is not None and _ok(username) and not re.fullmatch(r"[A-Za-z0-9._@-]{1,128}", str(username)):
        errors.add("registryUsername", username, "must be a registry account name (letters, digits, . _ @ -)")
    window = _check_reboot_window(v["kuredRebootWindow"], errors)
    retention = _check_range("lokiRetentionHours", v["lokiRetentionHours"], 24, 24 * 366, errors)
    size = v["lokiStorageSize"]
    # Hetzner volumes are 10 GB at least; anything smaller is rounded up and billed anyway.
    if _ok(size) and (not isinstance(size, str) or not _MEMORY.match(size) or memory_bytes(size) < 10 * 2**30):
        errors.add("lokiStorageSize", size, "must be a Kubernetes quantity of at least 10Gi (Hetzner's minimum volume)")
    average = _check_positive("ingressRateLimitAverage", v["ingressRateLimitAverage"], errors)
    burst = _check_positive("ingressRateLimitBurst", v["ingressRateLimitBurst"], errors)
    if _ok(average) and _ok(burst) and burst < average:
        errors.add("ingressRateLimitBurst", burst, f"must be at least ingressRateLimitAverage ({average})")
    return PlatformConfig(
        ccm=v["hetznerCcm"],
        csi=v["hetznerCsi"],
        csi_reclaim_policy=reclaim,
        kyverno=v["kyverno"],
        signed_registries=signed,
        registry_username=username if _ok(username) else None,
        upgrades=v["upgradeController"],
        kured=v["kured"],
        reboot_window=window,
        monitoring=v["monitoring"],
        loki_retention_hours=retention,
        loki_storage_size=size,
        ingress_rate_average=average,
        ingress_rate_burst=burst,
        charts=charts,
        images=images,
    )


def _merged_object(key: str, value: Any, names: tuple[str, ...], errors: _Collector) -> dict[str, Any]:
    """The stack's object merged over the Pulumi.yaml default, unknown names refused."""
    default = project_schema()[key].default
    if not _ok(value):
        return {}
    if not isinstance(value, dict):
        errors.add(key, value, "must be an object with keys " + ", ".join(names))
        return {}
    for extra in sorted(set(value) - set(names)):
        errors.add(f"{key}.{extra}", value[extra], _suggest(extra, names))
    merged: dict[str, Any] = {}
    for name in names:
        base, override = (default or {}).get(name), value.get(name)
        if isinstance(base, dict) and isinstance(override, dict):
            merged[name] = {**base, **override}
        else:
            merged[name] = override if override is not None else base
    return merged


def _check_platform_charts(value: Any, errors: _Collector) -> dict[str, ChartPin]:
    merged = _merged_object("platformCharts", value, PLATFORM_CHARTS, errors)
    pins: dict[str, ChartPin] = {}
    for name, spec in merged.items():
        key = f"platformCharts.{name}"
        if not isinstance(spec, dict) or set(spec) - {"chart", "version", "repository"}:
            errors.add(key, spec, "must be {chart, version, repository}")
            continue
        chart, version, repo = spec.get("chart"), spec.get("version"), spec.get("repository", "")
        if not isinstance(chart, str) or not chart:
            errors.add(f"{key}.chart", chart, "required chart name (or vendored chart path)")
        if not isinstance(version, str) or not _SEMVER.match(version):
            errors.add(f"{key}.version", version, "must be one exact version X.Y.Z (no ranges): charts are pinned")
        if not isinstance(repo, str) or (repo and not repo.startswith("https://")):
            errors.add(f"{key}.repository", repo, "must be an https:// chart repository, or empty for a vendored chart")
        pins[name] = ChartPin(chart=str(chart), version=str(version), repository=str(repo or ""))
    return pins


def _check_platform_images(value: Any, errors: _Collector) -> dict[str, str]:
    merged = _merged_object("platformImages", value, PLATFORM_IMAGES, errors)
    for name, image in merged.items():
        if not isinstance(image, str) or not _IMAGE_REF.match(image) or image.endswith(":latest"):
            errors.add(f"platformImages.{name}", image, "must be registry/repository with a pinned tag or digest")
    return {k: str(v) for k, v in merged.items()}


def _check_signed_registries(value: Any, kyverno: Any, allowed: tuple[str, ...], errors: _Collector) -> tuple[str, ...]:
    if not _ok(value):
        return ()
    if kyverno is True and not value:
        errors.add("signedRegistries", value, "must list at least one registry when kyverno is true")
    for i, item in enumerate(value):
        if allowed and item not in allowed:
            errors.add(f"signedRegistries[{i}]", item, "must be one of allowedRegistries: " + ", ".join(allowed))
    return tuple(value)


def _check_reboot_window(value: Any, errors: _Collector) -> RebootWindow:
    fields_ = ("days", "start", "end", "timeZone")
    spec = _object_of("kuredRebootWindow", value, fields_, errors, lambda _key, item: item)
    days = spec.get("days")
    if "days" in spec and (not isinstance(days, list) or not days or any(d not in KURED_DAYS for d in days)):
        errors.add("kuredRebootWindow.days", days, "must be a non-empty list of " + ", ".join(KURED_DAYS))
    for name in ("start", "end"):
        if name in spec and not (isinstance(spec[name], str) and _HHMM.match(spec[name])):
            errors.add(f"kuredRebootWindow.{name}", spec[name], "must be a 24-hour time HH:MM")
    zone = spec.get("timeZone")
    if "timeZone" in spec and not (isinstance(zone, str) and re.fullmatch(r"[A-Za-z_]+(/[A-Za-z_+-]+)*", zone)):
        errors.add("kuredRebootWindow.timeZone", zone, "must be an IANA time zone such as Europe/Berlin or UTC")
    return RebootWindow(
        days=tuple(days) if isinstance(days, list) else (),
        start=str(spec.get("start", "")),
        end=str(spec.get("end", "")),
        time_zone=str(zone or ""),
    )


# --------------------------------------------------------------------------------------------
# Uptime monitor (issue 14): the `monitor` key, parsed on its own so that it stays additive
# --------------------------------------------------------------------------------------------

#: Every Hetzner Cloud location (https://docs.hetzner.com/cloud/general/locations/).
HETZNER_LOCATIONS = ("fsn1", "nbg1", "hel1", "ash", "hil", "sin")
MONITOR_KEYS = (
    "location",
    "privateIp",
    "serverType",
    "smtp",
    "slowSeconds",
    "certWarningDays",
    "clusterWatchdog",
    "watchdogMinutes",
)
MONITOR_SMTP_KEYS = ("smarthost", "from", "username", "to")
MONITOR_SLOW_KEYS = ("api", "pages", "kubeApi")
MONITOR_SLOW_DEFAULTS = {"api": 1.0, "pages": 3.0, "kubeApi": 1.0}
_EMAIL = re.compile(r"^[^@\s,]+@[^@\s,]+\.[a-z]{2,}$")


@dataclass(frozen=True)
class MonitorSettings:
    """The uptime monitor's settings (key `monitor`; null = no monitor in this stack)."""

    location: str
    """A Hetzner location none of the cluster's servers uses: a location outage is seen."""
    private_ip: str
    """Its static address in privateSubnetCidr: the cluster's Watchdog arrives over the private
    network, never over the internet."""
    server_type: str
    smtp_smarthost: str
    smtp_from: str
    smtp_username: str
    email_to: tuple[str, ...]
    slow_api: float
    slow_pages: float
    slow_kube_api: float
    cert_warning_days: int
    cluster_watchdog: bool
    """Expect the cluster Alertmanager's Watchdog (turn on with the cluster's monitoring)."""
    watchdog_minutes: int


def load_monitor_config(raw: Mapping[str, Any], cfg: StackConfig) -> MonitorSettings | None:
    """The `monitor` key, checked against the loaded stack config; every problem at once."""
    value = raw.get("monitor")
    if isinstance(value, str):
        try:
            value = json.loads(value)
        except json.JSONDecodeError:
            raise ConfigError([Problem("monitor", value, "must be an object or null")]) from None
    if value is None:
        return None
    errors = _Collector()
    if not isinstance(value, dict):
        raise ConfigError([Problem("monitor", value, "must be an object {location, smtp, ...} or null")])
    for extra in sorted(set(value) - set(MONITOR_KEYS)):
        errors.add(f"monitor.{extra}", value[extra], _suggest(extra, MONITOR_KEYS))

    used = sorted({s.location for s in cfg.servers})
    zone = sorted(NETWORK_ZONES[cfg.network_zone])
    location = value.get("location", _MISSING)
    if location not in HETZNER_LOCATIONS:
        errors.add("monitor.location", location, "required: one of " + ", ".join(HETZNER_LOCATIONS))
    elif location not in zone:
        errors.add(
            "monitor.location",
            location,
            f"must be in network zone {cfg.network_zone} ("
            + ", ".join(zone)
            + "): the monitor joins the private network",
        )
    elif location in used:
        errors.add(
            "monitor.location",
            location,
            "must be a location no cluster server uses (" + ", ".join(used) + "): a location outage must be seen",
        )
    private_ip = value.get("privateIp", _MISSING)
    subnet = ipaddress.IPv4Network(cfg.private_subnet_cidr)
    try:
        ip = ipaddress.IPv4Address(private_ip)
    except (ValueError, TypeError):
        errors.add("monitor.privateIp", private_ip, f"required: a static IPv4 in privateSubnetCidr {subnet}")
    else:
        if ip not in subnet or int(ip) - int(subnet.network_address) < 2 or ip == subnet.broadcast_address:
            errors.add(
                "monitor.privateIp",
                private_ip,
                f"must be a usable host of privateSubnetCidr {subnet} (host 2 or above)",
            )
        elif str(ip) in {s.private_ip for s in cfg.servers}:
            errors.add("monitor.privateIp", private_ip, "must not be a cluster server's private IP")
    server_type = value.get("serverType", "cx23")
    if not isinstance(server_type, str) or not re.fullmatch(r"[a-z0-9][a-z0-9.-]*", server_type):
        errors.add("monitor.serverType", server_type, "must be a Hetzner server type like cx23")

    smtp = value.get("smtp", _MISSING)
    if not isinstance(smtp, dict):
        errors.add("monitor.smtp", smtp, "required: {smarthost, from, username, to}")
        smtp = {}
    for extra in sorted(set(smtp) - set(MONITOR_SMTP_KEYS)):
        errors.add(f"monitor.smtp.{extra}", smtp[extra], _suggest(extra, MONITOR_SMTP_KEYS))
    smarthost = smtp.get("smarthost", _MISSING)
    if smtp and not (isinstance(smarthost, str) and re.fullmatch(r"[a-z0-9.-]+:\d{1,5}", smarthost)):
        errors.add(
            "monitor.smtp.smarthost", smarthost, "required: host:port of the mail server, e.g. smtp.example.com:587"
        )
    for name in ("from", "username"):
        item = smtp.get(name, _MISSING)
        if smtp and not (isinstance(item, str) and item):
            errors.add(f"monitor.smtp.{name}", item, "required non-empty string")
    sender = smtp.get("from")
    if isinstance(sender, str) and sender and not _EMAIL.match(sender):
        errors.add("monitor.smtp.from", sender, "must be an email address")
    to = smtp.get("to", _MISSING)
    if smtp and (not isinstance(to, list) or not to or not all(isinstance(a, str) and _EMAIL.match(a) for a in to)):
        errors.add("monitor.smtp.to", to, "required: a list of at least one email address")

    slow = value.get("slowSeconds", {})
    if not isinstance(slow, dict):
        errors.add("monitor.slowSeconds", slow, "must be an object {api, pages, kubeApi} of seconds")
        slow = {}
    for extra in sorted(set(slow) - set(MONITOR_SLOW_KEYS)):
        errors.add(f"monitor.slowSeconds.{extra}", slow[extra], _suggest(extra, MONITOR_SLOW_KEYS))
    thresholds: dict[str, float] = {}
    for name in MONITOR_SLOW_KEYS:
        seconds = slow.get(name, MONITOR_SLOW_DEFAULTS[name])
        # Above the blackbox module's 10 s timeout a probe fails instead of being slow.
        if isinstance(seconds, bool) or not isinstance(seconds, int | float) or not 0 < seconds < 10:
            errors.add(f"monitor.slowSeconds.{name}", seconds, "must be a number of seconds between 0 and 10")
            seconds = 0.0
        thresholds[name] = float(seconds)

    days = value.get("certWarningDays", 14)
    if isinstance(days, bool) or not isinstance(days, int) or not 1 <= days <= 60:
        errors.add("monitor.certWarningDays", days, "must be a number of days between 1 and 60")
    watchdog = value.get("clusterWatchdog", False)
    if not isinstance(watchdog, bool):
        errors.add("monitor.clusterWatchdog", watchdog, "must be true or false")
    elif watchdog and not cfg.platform.monitoring:
        # Only the cluster's Alertmanager sends the Watchdog: without it the monitor would alert forever.
        errors.add(
            "monitor.clusterWatchdog", watchdog, "true needs monitoring: true (the cluster's Alertmanager sends it)"
        )
    minutes = value.get("watchdogMinutes", 10)
    if isinstance(minutes, bool) or not isinstance(minutes, int) or not 2 <= minutes <= 120:
        errors.add("monitor.watchdogMinutes", minutes, "must be a number of minutes between 2 and 120")

    if errors.problems:
        raise ConfigError(errors.problems)
    return MonitorSettings(
        location=location,
        private_ip=private_ip,
        server_type=server_type,
        smtp_smarthost=smarthost,
        smtp_from=smtp["from"],
        smtp_username=smtp["username"],
        email_to=tuple(to),
        slow_api=thresholds["api"],
        slow_pages=thresholds["pages"],
        slow_kube_api=thresholds["kubeApi"],
        cert_warning_days=days,
        cluster_watchdog=watchdog,
        watchdog_minutes=minutes,
    )


# --------------------------------------------------------------------------------------------
# App workloads (issue 11): the `app` object key, parsed on its own by `load_app_config`.
# Kept apart from `load_config` so the stack loader stays untouched; both raise ConfigError
# and __main__/tools/plan.py report the problems of both together.
# --------------------------------------------------------------------------------------------

APP_KEYS = ("namespace", "apiAutoscaling", "migrationTimeoutSeconds", "redisStorage", "worker", "env", "backup")
APP_WORKER_KEYS = ("command", "healthCommand")
APP_BACKUP_KEYS = ("image", "schedule", "endpoint", "region", "bucket", "folder", "retentionDays")
# Environment variables the workloads get from the Secret, never from the plain `env` map.
_SECRET_ENV = re.compile(r"(PASSWORD|PASSWD|TOKEN|SECRET|DSN|CREDENTIAL|_KEY$|_KEY_ID$|DATABASE_URL)", re.IGNORECASE)
_ENV_NAME = re.compile(r"^[A-Z_][A-Z0-9_]*$")


@dataclass(frozen=True)
class BackupConfig:
    image: str
    schedule: str
    endpoint: str
    """S3 endpoint of the B2 bucket, a host name (https is implied)."""
    region: str
    bucket: str
    folder: str
    retention_days: int


@dataclass(frozen=True)
class AppConfig:
    namespace: str
    api_min_replicas: int
    api_max_replicas: int
    migration_timeout_seconds: int
    redis_storage: str
    worker_command: tuple[str, ...]
    worker_health_command: tuple[str, ...]
    env: Mapping[str, str]
    backup: BackupConfig


def _app_object(key: str, value: Any, names: tuple[str, ...], errors: _Collector) -> dict[str, Any]:
    """An object with exactly `names` as keys (unknown keys suggested, missing ones reported)."""
    if not isinstance(value, dict):
        errors.add(key, value, "must be an object with keys " + ", ".join(names))
        return {}
    for extra in sorted(set(value) - set(names)):
        errors.add(f"{key}.{extra}", value[extra], _suggest(extra, names))
    for name in names:
        if name not in value:
            errors.add(f"{key}.{name}", _MISSING, "required")
    return value


def _app_int(key: str, value: Any, low: int, high: int, errors: _Collector) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
        errors.add(key, value, f"must be an integer from {low} to {high}")
        return low
    return value


def _app_argv(key: str, value: Any, errors: _Collector) -> tuple[str, ...]:
    if not isinstance(value, list) or not value or not all(isinstance(a, str) and a for a in value):
        errors.add(key, value, "must be a non-empty list of strings (an argv, no shell)")
        return ()
    return tuple(value)


def load_app_config(raw: Mapping[str, Any]) -> AppConfig:
    """Validate the `app` key (and the app's cross-key rules); raise one ConfigError."""
    errors = _Collector()
    value = raw.get("app", _MISSING)
    if isinstance(value, str):
        try:
            value = json.loads(value)
        except json.JSONDecodeError:
            pass
    if value is _MISSING or value is None:
        errors.add("app", _MISSING, "required: " + project_schema()["app"].description)
        raise ConfigError(errors.problems)
    app = _app_object("app", value, APP_KEYS, errors)
    namespace = app.get("namespace", "")
    if not isinstance(namespace, str) or not _DNS_LABEL.match(namespace) or namespace.startswith("kube-"):
        errors.add("app.namespace", namespace, "must be a DNS label (a-z, 0-9, '-') not starting with kube-")

    scaling = _app_object("app.apiAutoscaling", app.get("apiAutoscaling", {}), ("minReplicas", "maxReplicas"), errors)
    low = _app_int("app.apiAutoscaling.minReplicas", scaling.get("minReplicas"), 1, 50, errors)
    high = _app_int("app.apiAutoscaling.maxReplicas", scaling.get("maxReplicas"), 1, 50, errors)
    if low > high:
        errors.add("app.apiAutoscaling.maxReplicas", high, f"must be at least minReplicas ({low})")
    replicas = _json_value(raw.get("replicas"))
    api_replicas = replicas.get("api") if isinstance(replicas, dict) else None
    if isinstance(api_replicas, int) and not low <= api_replicas <= high:
        errors.add("replicas.api", api_replicas, f"must lie within app.apiAutoscaling ({low} to {high})")

    timeout = _app_int("app.migrationTimeoutSeconds", app.get("migrationTimeoutSeconds"), 60, 3600, errors)
    storage = app.get("redisStorage")
    if not isinstance(storage, str) or not _MEMORY.match(storage) or memory_bytes(storage) < 2**20:
        errors.add("app.redisStorage", storage, "must be a Kubernetes quantity of at least 1Mi, e.g. 1Gi")

    worker = _app_object("app.worker", app.get("worker", {}), APP_WORKER_KEYS, errors)
    command = _app_argv("app.worker.command", worker.get("command"), errors)
    health = _app_argv("app.worker.healthCommand", worker.get("healthCommand"), errors)

    env = app.get("env", {})
    if not isinstance(env, dict):
        errors.add("app.env", env, "must be an object of NAME: value (plain, non-secret settings)")
        env = {}
    for name, setting in env.items():
        if not isinstance(name, str) or not _ENV_NAME.match(name):
            errors.add(f"app.env.{name}", setting, "name must be an environment variable name (A-Z, 0-9, _)")
        elif _SECRET_ENV.search(name):
            errors.add(f"app.env.{name}", "[hidden]", "looks like a secret: set it as a stack secret instead")
        if not isinstance(setting, str):
            errors.add(f"app.env.{name}", setting, "must be a string (quote numbers)")

    backup = _app_backup(app.get("backup", {}), raw, errors)
    if errors.problems:
        raise ConfigError(errors.problems)
    return AppConfig(
        namespace=namespace,
        api_min_replicas=low,
        api_max_replicas=high,
        migration_timeout_seconds=timeout,
        redis_storage=str(storage),
        worker_command=command,
        worker_health_command=health,
        env={str(k): str(v) for k, v in env.items()},
        backup=backup,
    )


def _json_value(value: Any) -> Any:
    if isinstance(value, str):
        try:
            return json.loads(value)
        except json.JSONDecodeError:
            return value
    return value


def _app_backup(value: Any, raw: Mapping[str, Any], errors: _Collector) -> BackupConfig:
    backup = _app_object("app.backup", value, APP_BACKUP_KEYS, errors)
    image = backup.get("image")
    registries = _json_value(raw.get("allowedRegistries"))
    match = _IMAGE.match(image) if isinstance(image, str) else None
    if match is None:
        errors.add("app.backup.image", image, "must be pinned by digest: registry/repository@sha256:<64 hex>")
    elif isinstance(registries, list) and image_registry(str(image)) not in registries:
        errors.add("app.backup.image", image, "registry must be one of allowedRegistries: " + ", ".join(registries))
    _check_cron("app.backup.schedule", backup.get("schedule"), errors)
    strings = {}
    for name in ("endpoint", "region", "bucket", "folder"):
        item = backup.get(name)
        if not isinstance(item, str) or not re.fullmatch(r"[a-z0-9][a-z0-9._/-]*", item):
            errors.add(f"app.backup.{name}", item, "must be a non-empty lower-case name (a-z, 0-9, . _ - /)")
        strings[name] = str(item)
    retention = _app_int("app.backup.retentionDays", backup.get("retentionDays"), 1, 3650, errors)
    return BackupConfig(
        image=str(image),
        schedule=str(backup.get("schedule")),
        retention_days=retention,
        **strings,
    )


def load_stack_and_app(raw: Mapping[str, Any]) -> tuple[StackConfig, AppConfig]:
    """`load_config` and `load_app_config` together: one ConfigError listing the problems of both."""
    problems: list[Problem] = []
    cfg: StackConfig | None = None
    app: AppConfig | None = None
    try:
        cfg = load_config(raw)
    except ConfigError as exc:
        problems += exc.problems
    try:
        app = load_app_config(raw)
    except ConfigError as exc:
        problems += exc.problems
    if cfg is not None and cfg.platform.registry_username is None:
        # The app's images come from the private registry: its pull Secret needs the account.
        problems.append(
            Problem("registryUsername", "", "required: the app's image pull Secret (with the secret registryPassword)")
        )
    if problems or cfg is None or app is None:
        raise ConfigError(problems)
    return cfg, app
