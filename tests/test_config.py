"""Every config rule: a failing input and the message it gives; the real stacks pass."""

from __future__ import annotations

import ast
import inspect
import ipaddress
import textwrap
from pathlib import Path
from typing import Any

import pytest
import yaml
from hypothesis import example, given, settings
from hypothesis import strategies as st

from components.config import (
    CLUSTER_PORTS,
    SECRETS,
    ConfigError,
    StackConfig,
    load_config,
)
from components.config.project_file import declared_schema, project_file
from components.config.stack import SECTIONS
from tools.mockrt import stack_config

ROOT = Path(__file__).resolve().parent.parent
PROJECT_FILE = ROOT / "Pulumi.yaml"


def raw(stack: str = "prod", **overrides: Any) -> dict[str, Any]:
    return stack_config(stack, overrides)


def problems(stack: str = "prod", **overrides: Any) -> list[str]:
    with pytest.raises(ConfigError) as info:
        load_config(raw(stack, **overrides))
    return [str(p) for p in info.value.problems]


def one_problem(key: str, stack: str = "prod", **overrides: Any) -> str:
    """The single problem the override causes; it must name `key`."""
    found = problems(stack, **overrides)
    assert len(found) == 1, found
    assert found[0].startswith(f"honeydue:{key} = "), found
    return found[0]


@pytest.mark.parametrize("stack", ["prod", "staging"])
def test_real_stacks_load(stack: str) -> None:
    cfg = load_config(raw(stack))
    assert isinstance(cfg, StackConfig)
    assert cfg.environment == stack


def test_prod_and_staging_shapes() -> None:
    prod, staging = load_config(raw("prod")), load_config(raw("staging"))
    assert len(prod.cluster.servers) == 3 and len(staging.cluster.servers) == 1
    assert [s.private_ip for s in prod.cluster.servers] == ["10.0.1.11", "10.0.1.12", "10.0.1.13"]
    assert [s.name for s in prod.cluster.servers if s.bootstrap] == ["k3s-1"]
    assert [s.name for s in staging.cluster.servers if s.bootstrap] == ["stg-1"]
    assert set(prod.names.web_hostnames).isdisjoint(staging.names.web_hostnames)
    assert prod.edge.manage_zone_settings and not staging.edge.manage_zone_settings


def test_engine_strings_are_parsed_like_typed_values() -> None:
    """The engine passes every value as a string (JSON for non-strings)."""
    import json

    typed = raw("prod")
    as_engine = {k: v if isinstance(v, str) else json.dumps(v) for k, v in typed.items()}
    assert load_config(as_engine) == load_config(typed)


def test_defaults_come_from_the_models() -> None:
    cfg = load_config(raw("staging"))
    schema = declared_schema()
    assert cfg.cluster.server_image == schema["serverImage"]["default"] == "debian-13"
    assert cfg.network.cluster_cidr == schema["clusterCidr"]["default"]
    assert cfg.access.ssh_port == 2222


def test_pulumi_yaml_is_generated_from_the_models() -> None:
    """Pulumi.yaml's config block is exactly what the models generate (tools/project_config)."""
    current = PROJECT_FILE.read_text()
    assert project_file(current) == current, "run `python -m tools.project_config`"
    # A key declared by hand (not in any model) is drift, not a silently accepted key.
    hand_edited = current.replace("config:\n", "config:\n  unwiredKey:\n    type: string\n", 1)
    assert project_file(hand_edited) != hand_edited
    assert set(yaml.safe_load(current)["config"]) == set(declared_schema())


def test_pulumi_cli_would_accept_each_stack() -> None:
    """Pulumi requires every declared key without a non-null default in every stack (mergeConfig in
    pulumi/pulumi sdk/go/common/workspace: `hasDefault := Default != nil`). Secrets are set at
    deploy time, so every other such key must be in each stack file."""
    declared = yaml.safe_load(PROJECT_FILE.read_text())["config"]
    assert all(spec.get("default", "x") is not None for spec in declared.values())
    needed = {key for key, spec in declared.items() if "default" not in spec and not spec.get("secret")}
    conditional = {s.name for s in SECRETS if s.needed_when}
    assert not conditional & set(declared), "a conditional secret would be required in every stack"
    for stack in ("prod", "staging"):
        doc = yaml.safe_load((ROOT / f"Pulumi.{stack}.yaml").read_text())["config"]
        assert needed <= {key.split(":", 1)[1] for key in doc}, stack


def test_every_key_has_a_description_and_secrets_are_declared() -> None:
    schema = declared_schema()
    assert all(spec["description"] for spec in schema.values())
    assert all(s.description for s in SECRETS)
    secrets = {name for name, spec in schema.items() if spec.get("secret")}
    assert {"hcloudToken", "cloudflareApiToken", "databaseUrl", "jwtSecret"} <= secrets


def test_stack_files_hold_no_secret_in_clear() -> None:
    secrets = {s.name for s in SECRETS}
    for stack in ("prod", "staging"):
        doc = yaml.safe_load((ROOT / f"Pulumi.{stack}.yaml").read_text())["config"]
        for key, value in doc.items():
            if key.split(":", 1)[1] in secrets:
                assert isinstance(value, dict) and "secure" in value, key


def _attributes_read_outside_config() -> set[str]:
    names: set[str] = set()
    sources = [ROOT / "__main__.py", *(ROOT / "components").glob("*.py"), *(ROOT / "tools").glob("*.py")]
    for path in sources:
        names |= {n.attr for n in ast.walk(ast.parse(path.read_text())) if isinstance(n, ast.Attribute)}
    return names


# Keys whose only job is to unlock a validation rule: no component needs to read them.
# allowedRegistries checks every image the stack names (images, app.backup.image); the pack's
# registry policy is narrower on purpose (signedRegistries plus named platform exceptions).
VALIDATION_ONLY = {"Access.allow_world_admin_access", "Workloads.allowed_registries"}


def test_every_config_field_is_wired() -> None:
    """A key the models accept but no component reads would be accepted silently: refuse it. A
    field counts as read when its name is read outside components/config/, or when a property
    of its section that is read there uses it (e.g. Cluster.servers reads server_entries)."""
    read = _attributes_read_outside_config()
    unread = []
    for _, section in SECTIONS:
        via_properties: set[str] = set()
        for name, member in vars(section).items():
            if isinstance(member, property) and name in read and member.fget is not None:
                body = ast.parse(textwrap.dedent(inspect.getsource(member.fget)))
                via_properties |= {n.attr for n in ast.walk(body) if isinstance(n, ast.Attribute)}
        for name in section.model_fields:
            if name not in read and name not in via_properties:
                unread.append(f"{section.__name__}.{name}")
    assert set(unread) == VALIDATION_ONLY, f"config fields no component reads: {sorted(set(unread) - VALIDATION_ONLY)}"


# --- each rule: the failing input and its message ----------------------------------------------


def _servers_in(prefix: str) -> list[dict[str, str]]:
    """prod's three servers, re-addressed into another /24."""
    return [{"name": f"k3s-{i}", "location": "fsn1", "privateIp": f"{prefix}.{10 + i}"} for i in (1, 2, 3)]


RULES: list[tuple[str, dict[str, Any], str, str]] = [
    # (key in message, overrides, stack, fragment of the allowed text)
    (
        "servers",
        {
            "servers": [
                {"name": "k3s-1", "location": "fsn1", "privateIp": "10.0.1.11"},
                {"name": "b", "location": "fsn1", "privateIp": "10.0.1.12"},
            ]
        },
        "prod",
        "1, 3 or 5",
    ),
    (
        "servers[1].name",
        {
            "servers": [
                {"name": "k3s-1", "location": "fsn1", "privateIp": "10.0.1.11"},
                {"name": "k3s-1", "location": "fsn1", "privateIp": "10.0.1.12"},
                {"name": "c", "location": "fsn1", "privateIp": "10.0.1.13"},
            ]
        },
        "prod",
        "duplicate",
    ),
    (
        "servers[0].name",
        {
            "servers": [{"name": "Bad_Name", "location": "nbg1", "privateIp": "10.1.1.11"}],
            "bootstrapServer": "Bad_Name",
        },
        "staging",
        "DNS label",
    ),
    (
        "servers[0].location",
        {"servers": [{"name": "stg-1", "location": "ash", "privateIp": "10.1.1.11"}]},
        "staging",
        "network zone eu-central",
    ),
    (
        "servers[0].zone",
        {"servers": [{"name": "stg-1", "location": "nbg1", "privateIp": "10.1.1.11", "zone": "x"}]},
        "staging",
        "unknown key",
    ),
    (
        "servers[0].privateIp",
        {"servers": [{"name": "stg-1", "location": "nbg1", "privateIp": "10.9.0.5"}]},
        "staging",
        "usable host",
    ),
    # Identity is explicit: no address is derived from the list position.
    ("servers[0].privateIp", {"servers": [{"name": "stg-1", "location": "nbg1"}]}, "staging", "required"),
    # The subnet's network, gateway (first host) and broadcast addresses are not for servers.
    *(
        (
            "servers[0].privateIp",
            {"servers": [{"name": "stg-1", "location": "nbg1", "privateIp": ip}]},
            "staging",
            "usable host",
        )
        for ip in ("10.1.1.0", "10.1.1.1", "10.1.1.255")
    ),
    (
        "servers[2].privateIp",
        {
            "servers": [
                {"name": "k3s-1", "location": "fsn1", "privateIp": "10.0.1.11"},
                {"name": "k3s-2", "location": "fsn1", "privateIp": "10.0.1.12"},
                {"name": "k3s-3", "location": "fsn1", "privateIp": "10.0.1.11"},
            ]
        },
        "prod",
        "duplicate private IP",
    ),
    ("bootstrapServer", {"bootstrapServer": "k3s-9"}, "prod", "must name one of servers: k3s-1, k3s-2, k3s-3"),
    (
        "etcdS3.retention",
        {"etcdS3": {"endpoint": "s3.example", "bucket": "b", "folder": "f", "region": "r"}},
        "prod",
        "required",
    ),
    (
        "etcdS3.retention",
        {"etcdS3": {"endpoint": "s3.example", "bucket": "b", "folder": "f", "region": "r", "retention": 0}},
        "prod",
        "1 or more",
    ),
    ("k3sVersion", {"k3sVersion": "1.34.6"}, "prod", "v1.34.6+k3s1"),
    (
        "privateNetworkCidr",
        {
            "privateNetworkCidr": "100.64.0.0/16",
            "privateSubnetCidr": "100.64.1.0/24",
            "servers": _servers_in("100.64.1"),
            "monitor": None,
        },
        "prod",
        "RFC1918",
    ),
    ("privateNetworkCidr", {"privateNetworkCidr": "10.0.0.0/15"}, "prod", "/16 to /24"),
    ("privateNetworkCidr", {"privateNetworkCidr": "10.0.0.1/16"}, "prod", "no host bits"),
    (
        "privateSubnetCidr",
        {"privateSubnetCidr": "10.5.1.0/24", "servers": _servers_in("10.5.1"), "monitor": None},
        "prod",
        "inside privateNetworkCidr",
    ),
    ("clusterCidr", {"clusterCidr": "10.0.0.0/16"}, "prod", "overlap privateNetworkCidr"),
    ("serviceCidr", {"serviceCidr": "10.42.128.0/17"}, "prod", "overlap clusterCidr"),
    ("adminCidrs", {"adminCidrs": []}, "prod", "at least one"),
    ("adminCidrs[0]", {"adminCidrs": ["0.0.0.0/0"]}, "prod", "allowWorldAdminAccess"),
    ("adminCidrs[0]", {"adminCidrs": ["::/0"]}, "prod", "allowWorldAdminAccess"),
    ("adminCidrs[0]", {"adminCidrs": ["198.51.100.7" + "/33"]}, "prod", "CIDR"),
    ("sshPort", {"sshPort": 22}, "prod", "not be 22"),
    ("sshPort", {"sshPort": 6443}, "prod", "port the cluster uses"),
    ("sshPort", {"sshPort": 70000}, "prod", "1-65535"),
    ("domain", {"domain": "Not A Domain"}, "prod", "DNS name"),
    ("apiHostname", {"apiHostname": "api.example.org"}, "prod", "inside the domain"),
    ("adminHostname", {"adminHostname": "api.myhoneydue.com"}, "prod", "duplicate"),
    ("extraHostnames[0]", {"extraHostnames": ["bad host.myhoneydue.com"]}, "prod", "DNS name"),
    (
        "images.api",
        {"images": {**raw("prod")["images"], "api": "gitea.treytartt.com/admin/honeydue-api:latest"}},
        "prod",
        "pinned by digest",
    ),
    (
        "images.redis",
        {"images": {**raw("prod")["images"], "redis": "quay.io/x/redis@sha256:" + "a" * 64}},
        "prod",
        "allowedRegistries",
    ),
    ("images.admin", {"images": {k: v for k, v in raw("prod")["images"].items() if k != "admin"}}, "prod", "required"),
    ("replicas.worker", {"replicas": {"api": 3, "admin": 2, "worker": 2}}, "prod", "exactly 1"),
    ("replicas.api", {"replicas": {"api": 0, "admin": 2, "worker": 1}}, "prod", "positive"),
    (
        "resources.api.limits.memory",
        {
            "resources": {
                **raw("prod")["resources"],
                "api": {"requests": {"cpu": "100m", "memory": "64Mi"}, "limits": {"cpu": "1", "memory": "0"}},
            }
        },
        "prod",
        "positive",
    ),
    (
        "resources.api.requests.cpu",
        {
            "resources": {
                **raw("prod")["resources"],
                "api": {"requests": {"cpu": "2", "memory": "64Mi"}, "limits": {"cpu": "1", "memory": "128Mi"}},
            }
        },
        "prod",
        "exceed limits",
    ),
    ("originCaValidityDays", {"originCaValidityDays": 100}, "prod", "7, 30, 90, 365, 730, 1095, 5475"),
    ("originCaRequestType", {"originCaRequestType": "origin-dsa"}, "prod", "origin-ecc"),
    ("environment", {"environment": "dev"}, "prod", "prod, staging"),
    ("networkZone", {"networkZone": "mars-1"}, "prod", "one of"),
    ("sshPublicKeys[0]", {"sshPublicKeys": ["not-a-key"]}, "prod", "OpenSSH public key"),
    (
        "etcdS3.bucket",
        {"etcdS3": {"endpoint": "s3.example.com", "bucket": "", "folder": "p", "region": "r", "retention": 5}},
        "prod",
        "non-empty",
    ),
    ("rateLimitPeriodSeconds", {"rateLimitPeriodSeconds": 7}, "prod", "one of"),
    ("hstsMaxAgeSeconds", {"hstsMaxAgeSeconds": -1}, "prod", "between 0"),
    ("sshPort", {"sshPort": "twenty"}, "prod", "integer"),
    ("protect", {"protect": "yes"}, "prod", "true or false"),
]


@pytest.mark.parametrize(("key", "overrides", "stack", "fragment"), RULES, ids=[f"{r[0]}:{r[3]}" for r in RULES])
def test_rule(key: str, overrides: dict[str, Any], stack: str, fragment: str) -> None:
    message = one_problem(key, stack, **overrides)
    assert fragment in message


def test_world_admin_access_accepted_with_explicit_override() -> None:
    cfg = load_config(raw("prod", adminCidrs=["0.0.0.0/0"], allowWorldAdminAccess=True))
    assert cfg.access.admin_cidrs == ("0.0.0.0/0",)


def test_unknown_key_suggests_the_closest() -> None:
    message = one_problem("sshPrt", sshPrt=2222)
    assert "did you mean 'sshPort'" in message


def test_missing_secrets_named_together_without_values() -> None:
    found = problems("prod", hcloudToken=None, cloudflareApiToken=None, jwtSecret=None)
    assert [p.split(" = ")[0] for p in found] == [
        "honeydue:hcloudToken",
        "honeydue:cloudflareApiToken",
        "honeydue:jwtSecret",
    ]
    assert all("pulumi config set --secret" in p for p in found)


def test_etcd_s3_secrets_required_only_when_etcd_s3_is_set() -> None:
    found = problems("prod", etcdS3AccessKey=None)
    assert len(found) == 1 and "needed because etcdS3 is set" in found[0]
    load_config(raw("staging", etcdS3AccessKey=None, etcdS3SecretKey=None))


def test_required_key_missing() -> None:
    message = one_problem("domain", domain=None)
    assert "(missing)" in message and "required" in message


def test_all_errors_in_one_raise() -> None:
    found = problems(
        "prod",
        sshPort=22,
        k3sVersion="latest",
        originCaValidityDays=3,
        adminCidrs=["0.0.0.0/0"],
        hcloudToken=None,
    )
    keys = {p.split(" = ")[0] for p in found}
    assert keys == {
        "honeydue:sshPort",
        "honeydue:k3sVersion",
        "honeydue:originCaValidityDays",
        "honeydue:adminCidrs[0]",
        "honeydue:hcloudToken",
    }


def test_secret_values_never_appear_in_messages() -> None:
    with pytest.raises(ConfigError) as info:
        load_config(raw("prod", sshPort=22, hcloudTokn="super-secret-value"))
    assert "super-secret-value" not in str(info.value)


def test_appending_a_server_keeps_existing_names_and_ips() -> None:
    three = load_config(raw("prod"))
    five = load_config(
        raw(
            "prod",
            servers=[
                *raw("prod")["servers"],
                {"name": "k3s-4", "location": "fsn1", "privateIp": "10.0.1.14"},
                {"name": "k3s-5", "location": "fsn1", "privateIp": "10.0.1.15"},
            ],
        )
    )
    assert five.cluster.servers[:3] == three.cluster.servers


def test_reordering_servers_changes_no_identity() -> None:
    """Moving the first entry to the end moves no address and no role."""
    servers = raw("prod")["servers"]
    before = {s.name: s for s in load_config(raw("prod")).cluster.servers}
    after = {s.name: s for s in load_config(raw("prod", servers=[*servers[1:], servers[0]])).cluster.servers}
    assert after == before
    assert before["k3s-1"].bootstrap


def test_bootstrap_server_is_required() -> None:
    config = raw("prod")
    del config["bootstrapServer"]
    with pytest.raises(ConfigError) as info:
        load_config(config)
    assert [p.key for p in info.value.problems] == ["bootstrapServer"]


# --- property-based: CIDR and port rules -------------------------------------------------------


@settings(max_examples=150, deadline=None)
@given(port=st.integers(min_value=-10, max_value=70000))
def test_ssh_port_rule(port: int) -> None:
    ok = 1 <= port <= 65535 and port != 22 and port not in CLUSTER_PORTS
    try:
        load_config(raw("prod", sshPort=port))
        accepted = True
    except ConfigError as exc:
        accepted = False
        assert all(p.key == "sshPort" for p in exc.problems)
    assert accepted == ok


ipv4_nets = st.builds(
    lambda addr, prefix: str(ipaddress.IPv4Network((addr, prefix), strict=False)),
    st.integers(min_value=0, max_value=2**32 - 1),
    st.integers(min_value=0, max_value=32),
)


@settings(max_examples=150, deadline=None)
@given(cidr=ipv4_nets)
@example(cidr="255.255.255.254/31")  # top of the address space: found by hypothesis
def test_private_network_rule(cidr: str) -> None:
    net = ipaddress.IPv4Network(cidr)
    subnet = str(next(net.subnets(new_prefix=min(net.prefixlen + 1, 32)))) if net.prefixlen < 32 else cidr
    rfc1918 = [ipaddress.IPv4Network(n) for n in ("10.0.0.0/8", "172.16.0.0/12", "192.168.0.0/16")]
    expected_ok = any(net.subnet_of(r) for r in rfc1918) and 16 <= net.prefixlen <= 24
    sub = ipaddress.IPv4Network(subnet)
    # The node IP only has to exist; for the tiniest subnets its own rule may complain.
    host = str(sub.network_address + 2) if sub.num_addresses > 4 else str(sub.network_address)
    try:
        load_config(
            raw(
                "prod",
                privateNetworkCidr=cidr,
                privateSubnetCidr=subnet,
                servers=[
                    {
                        "name": "a",
                        "location": "fsn1",
                        "privateIp": host,
                    }
                ],
                clusterCidr="172.31.0.0/16"
                if not net.overlaps(ipaddress.IPv4Network("172.31.0.0/16"))
                else "192.168.250.0/24",
                serviceCidr="172.30.0.0/16"
                if not net.overlaps(ipaddress.IPv4Network("172.30.0.0/16"))
                else "192.168.251.0/24",
            )
        )
        problems_: list[str] = []
    except ConfigError as exc:
        problems_ = [p.key for p in exc.problems]
    assert ("privateNetworkCidr" not in problems_) == expected_ok, (cidr, problems_)


@settings(max_examples=100, deadline=None)
@given(cidrs=st.lists(st.one_of(ipv4_nets, st.just("::/0"), st.just("2001:db8::/32")), min_size=1, max_size=5))
def test_admin_cidrs_world_rule(cidrs: list[str]) -> None:
    world = [c for c in cidrs if ipaddress.ip_network(c).prefixlen == 0]
    try:
        load_config(raw("prod", adminCidrs=cidrs))
        assert not world
    except ConfigError as exc:
        assert world
        assert all(p.key.startswith("adminCidrs[") for p in exc.problems)
        assert len(exc.problems) == len(world)


def test_stack_app_and_monitor_problems_come_in_one_report() -> None:
    """One load checks every section: a stack key, an app key and a monitor key that are all
    wrong are reported together (the monitor was once checked in a second round)."""
    config = raw("prod", sshPort=22)
    config["app"] = {**config["app"], "namespace": "Bad_NS"}
    config["monitor"] = {**config["monitor"], "location": "fsn1", "smtp": {"smarthost": "x"}}
    with pytest.raises(ConfigError) as info:
        load_config(config)
    keys = {p.key for p in info.value.problems}
    # fsn1 is a valid location: the rule between monitor and cluster still runs although
    # monitor.smtp is broken (an invalid key only skips the rules that read it).
    assert {"sshPort", "app.namespace", "monitor.location", "monitor.smtp.from"} <= keys, keys


def test_nested_unknown_key_suggests_and_hides_secrets() -> None:
    config = raw("prod")
    config["etcdS3"] = {**config["etcdS3"], "secretKey": "s3cr3t-value", "bucktt": "b"}
    with pytest.raises(ConfigError) as info:
        load_config(config)
    text = str(info.value)
    assert "s3cr3t-value" not in text and "etcdS3.secretKey" in text
    assert "honeydue:etcdS3.bucktt" in text and "did you mean 'bucket'" in text
