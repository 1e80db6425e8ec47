"""CloudflareEdge (components/edge.py): pure helpers, then the component in the mock runtime.

Whole-stack runs (the real __main__.py, conftest's session fixtures) check the wiring; variants
run a small edge-only program (below) so each config toggle costs one short run. Its `Sink`
resource stands in for the component's consumers (Traefik's TLS Secret and TLSOption): what the
engine receives there is what state would hold.
"""

from __future__ import annotations

import ipaddress
from collections import Counter
from pathlib import Path
from typing import Any

import pytest
from cryptography import x509
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.x509.oid import NameOID

from components import edge
from components.config import ConfigError, load_config
from tools import mockrt

DNS = "cloudflare:index/dnsRecord:DnsRecord"
ZONE_SETTING = "cloudflare:index/zoneSetting:ZoneSetting"
AOP_SETTINGS = "cloudflare:index/authenticatedOriginPullsSettings:AuthenticatedOriginPullsSettings"
AOP_CERT = "cloudflare:index/authenticatedOriginPullsCertificate:AuthenticatedOriginPullsCertificate"
RULESET = "cloudflare:index/ruleset:Ruleset"
ORIGIN_CA = "cloudflare:index/originCaCertificate:OriginCaCertificate"
CERT_REQUEST = "tls:index/certRequest:CertRequest"
PRIMARY_IP = "hcloud:index/primaryIp:PrimaryIp"
SINK = "test:index:Sink"
ZONE_WIDE = (ZONE_SETTING, AOP_SETTINGS, AOP_CERT, RULESET)

PROD_WEB = ("api.myhoneydue.com", "admin.myhoneydue.com", "myhoneydue.com", "www.myhoneydue.com")
STAGING_WEB = ("staging-api.myhoneydue.com", "staging-admin.myhoneydue.com")

EDGE_ONLY_PROGRAM = """
import pulumi
import pulumi_cloudflare as cloudflare

from components.config import load_config
from components.edge import CloudflareEdge, CloudflareEdgeArgs
from components.runtime import raw_config

cfg = load_config(raw_config())
v4 = {s.name: f"198.51.100.{10 + i}" for i, s in enumerate(cfg.cluster.servers)}
v6 = {s.name: f"2001:db8:{i + 1}::1" for i, s in enumerate(cfg.cluster.servers)}
provider = cloudflare.Provider("cloudflare", api_token=pulumi.Output.secret("plan-placeholder"))
e = CloudflareEdge("edge", CloudflareEdgeArgs.from_config(cfg, server_ipv4s=v4, server_ipv6s=v6),
                   pulumi.ResourceOptions(providers=[provider]))
pulumi.CustomResource("test:index:Sink", "sink", {
    "urls": e.urls, "zoneId": e.zone_id, "originCertPem": e.origin_cert_pem, "originKeyPem": e.origin_key_pem,
    "expiresOn": e.origin_cert_expires_on, "originPullCaPem": e.origin_pull_ca_pem,
})
"""


# --------------------------------------------------------------------------------------------
# Fixtures: each run happens once per module (whole-stack runs once per session)
# --------------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def edge_program(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("edge") / "edge_only.py"
    path.write_text(EDGE_ONLY_PROGRAM)
    return path


def _edge_run(program: Path, overrides: dict[str, Any], plan: str = "free") -> mockrt.PlanResult:
    raw = mockrt.stack_config("prod", overrides)
    return mockrt.run_program("prod", raw=raw, mocks=mockrt.PlanMocks(zone_plan=plan), program=program)


@pytest.fixture(scope="module")
def lean(edge_program: Path) -> mockrt.PlanResult:
    """prod without IPv6 records and without the rate limit (free plan)."""
    return _edge_run(edge_program, {"createIpv6Records": False, "rateLimitEnabled": False})


@pytest.fixture(scope="module")
def paid_rsa(edge_program: Path) -> mockrt.PlanResult:
    """prod on a Pro zone, two rate-limited paths, an origin-rsa certificate."""
    overrides = {
        "rateLimitPaths": ["/api/auth/", "/api/password-reset/"],
        "originCaRequestType": "origin-rsa",
        "originCaValidityDays": 730,
    }
    return _edge_run(edge_program, overrides, plan="pro")


def _edge_children(plan: mockrt.PlanResult) -> list[mockrt.Registration]:
    (component,) = plan.of_type("honeydue:edge:CloudflareEdge")
    return [r for r in plan.resources if r.parent == component.urn]


def _is_secret(value: Any) -> bool:
    return isinstance(value, dict) and value.get(mockrt.SIG_KEY) == mockrt.SECRET_SIG


def _csr(plan: mockrt.PlanResult) -> x509.CertificateSigningRequest:
    (cert,) = plan.of_type(ORIGIN_CA)
    return x509.load_pem_x509_csr(cert.inputs["csr"].encode())


def _sink(plan: mockrt.PlanResult) -> mockrt.Registration:
    (sink,) = plan.of_type(SINK)
    return sink


# --------------------------------------------------------------------------------------------
# Pure helpers
# --------------------------------------------------------------------------------------------


def test_adding_a_server_only_adds_records() -> None:
    before = {s.key: s for s in edge.record_specs(["api.x.com"], "k8s.x.com", ["a", "b"], ipv6=True)}
    after = {s.key: s for s in edge.record_specs(["api.x.com"], "k8s.x.com", ["a", "b", "c"], ipv6=True)}
    assert set(before) < set(after)
    assert all(after[k] == spec for k, spec in before.items())
    assert len(after) - len(before) == 2 * 2  # two hostnames x two families for server c


def test_record_addresses_are_checked() -> None:
    assert edge.checked_address("A", "203.0.113.7") == "203.0.113.7"
    assert edge.checked_address("AAAA", "2001:db8:1::1") == "2001:db8:1::1"
    with pytest.raises(ValueError, match="not an IPv4"):
        edge.checked_address("A", "2001:db8::1")
    with pytest.raises(ValueError, match="not an IPv6"):
        edge.checked_address("AAAA", "203.0.113.7")
    # An hcloud IPv6 Primary IP reports its /64 network; publishing that would blackhole AAAA.
    with pytest.raises(ValueError, match="network address"):
        edge.checked_address("AAAA", "2001:db8:1::")


def test_server_addresses_must_match_the_servers() -> None:
    cfg = load_config(mockrt.stack_config("prod"))
    with pytest.raises(ValueError, match="3 servers"):
        edge.CloudflareEdgeArgs.from_config(cfg, server_ipv4s=["203.0.113.1"], server_ipv6s=[])
    with pytest.raises(ValueError, match="must name the servers"):
        edge.CloudflareEdgeArgs.from_config(cfg, server_ipv4s={"x": "203.0.113.1"}, server_ipv6s={})


def test_free_plan_expression_matches_path_only() -> None:
    assert not edge.host_field_allowed("free")
    assert not edge.host_field_allowed(None)
    assert edge.host_field_allowed("pro")
    expr = edge.rate_limit_expression(["/a/", "/b/"], None)
    assert "http.host" not in expr
    assert expr == '(starts_with(http.request.uri.path, "/a/") or starts_with(http.request.uri.path, "/b/"))'


# --------------------------------------------------------------------------------------------
# Component conventions
# --------------------------------------------------------------------------------------------


def test_children_are_parented_and_named_after_the_component(prod_plan: mockrt.PlanResult) -> None:
    children = _edge_children(prod_plan)
    assert children and all(r.name.startswith("edge-") for r in children)
    # Every Cloudflare resource of the stack belongs to the edge.
    cloudflare = {r.urn for r in prod_plan.resources if r.type.startswith("cloudflare:index/")}
    assert cloudflare and cloudflare <= {r.urn for r in children}
    assert len({r.name for r in children}) == len(children)


def test_zone_is_looked_up_never_created(prod_plan: mockrt.PlanResult) -> None:
    assert not prod_plan.of_type("cloudflare:index/zone:Zone")
    lookups = [args for token, args in prod_plan.calls if token == "cloudflare:index/getZone:getZone"]
    assert lookups and all(a["filter"] == {"name": "myhoneydue.com", "match": "all"} for a in lookups)
    assert {r.inputs["zoneId"] for r in prod_plan.of_type(DNS)} == {"0" * 31 + "1"}


# --------------------------------------------------------------------------------------------
# DNS
# --------------------------------------------------------------------------------------------


def _check_records(plan: mockrt.PlanResult, web: tuple[str, ...], kube: str, servers: int, ipv6: bool) -> None:
    records = plan.of_type(DNS)
    families = ("A", "AAAA") if ipv6 else ("A",)
    assert len(records) == (len(web) + 1) * servers * len(families)
    assert {r.inputs["name"] for r in records} == {*web, kube}
    for host in (*web, kube):
        for family in families:
            mine = [r for r in records if r.inputs["name"] == host and r.inputs["type"] == family]
            contents = [r.inputs["content"] for r in mine]
            assert len(mine) == servers and len(set(contents)) == servers, (host, family, contents)
            version = 4 if family == "A" else 6
            assert all(ipaddress.ip_address(c).version == version for c in contents)
            assert all(r.inputs["proxied"] is (host != kube) for r in mine), host
    assert all(r.inputs["ttl"] == (1 if r.inputs["proxied"] else 300) for r in records)
    assert all(r.inputs["comment"].startswith("honeydue ") for r in records)


def test_prod_records(prod_plan: mockrt.PlanResult) -> None:
    _check_records(prod_plan, PROD_WEB, "k8s.myhoneydue.com", servers=3, ipv6=True)
    unproxied = {r.inputs["name"] for r in prod_plan.of_type(DNS) if not r.inputs["proxied"]}
    assert unproxied == {"k8s.myhoneydue.com"}
    assert {r.inputs["comment"] for r in prod_plan.of_type(DNS)} == {"honeydue prod (pulumi)"}


def test_records_point_at_every_primary_ip(prod_plan: mockrt.PlanResult) -> None:
    """Each record follows one server's Primary IP; per hostname and family, all of them.

    The cluster's servers only: the uptime monitor's Primary IPs carry no DNS name."""
    ips = {r.urn: r.inputs["type"] for r in prod_plan.of_type(PRIMARY_IP) if "K3sCluster$" in r.urn}
    for host in (*PROD_WEB, "k8s.myhoneydue.com"):
        for family, ip_type in (("A", "ipv4"), ("AAAA", "ipv6")):
            deps: list[str] = []
            for r in prod_plan.of_type(DNS):
                if r.inputs["name"] == host and r.inputs["type"] == family:
                    (dep,) = [d for d in r.dependencies if d in ips]
                    deps.append(dep)
            assert sorted(deps) == sorted(u for u, t in ips.items() if t == ip_type), (host, family)


def test_staging_records(staging_plan: mockrt.PlanResult) -> None:
    _check_records(staging_plan, STAGING_WEB, "staging-k8s.myhoneydue.com", servers=1, ipv6=True)
    assert {r.inputs["comment"] for r in staging_plan.of_type(DNS)} == {"honeydue staging (pulumi)"}


def test_ipv6_records_can_be_turned_off(lean: mockrt.PlanResult) -> None:
    _check_records(lean, PROD_WEB, "k8s.myhoneydue.com", servers=3, ipv6=False)
    assert not [r for r in lean.of_type(DNS) if r.inputs["type"] == "AAAA"]


# --------------------------------------------------------------------------------------------
# Zone-wide settings (prod owns them; staging registers none)
# --------------------------------------------------------------------------------------------


def test_prod_zone_settings(prod_plan: mockrt.PlanResult) -> None:
    settings = {r.inputs["settingId"]: r.inputs["value"] for r in prod_plan.of_type(ZONE_SETTING)}
    assert settings == {
        "ssl": "strict",
        "always_use_https": "on",
        "min_tls_version": "1.2",
        "tls_1_3": "on",
        "automatic_https_rewrites": "on",
        "security_header": {
            "strict_transport_security": {
                "enabled": True,
                "max_age": 31536000,
                "include_subdomains": True,
                "nosniff": True,
                "preload": False,
            }
        },
    }


def test_staging_owns_nothing_zone_wide(staging_plan: mockrt.PlanResult) -> None:
    found = Counter(r.type for r in staging_plan.resources if r.type in ZONE_WIDE)
    assert not found, found


def test_origin_pulls_enabled_after_the_upload(prod_plan: mockrt.PlanResult) -> None:
    (upload,) = prod_plan.of_type(AOP_CERT)
    (settings,) = prod_plan.of_type(AOP_SETTINGS)
    assert settings.inputs["enabled"] is True
    assert upload.urn in settings.dependencies
    client = x509.load_pem_x509_certificate(upload.inputs["certificate"].encode())
    eku = client.extensions.get_extension_for_class(x509.ExtendedKeyUsage).value
    assert x509.oid.ExtendedKeyUsageOID.CLIENT_AUTH in eku


def test_origin_pull_ca_signs_the_uploaded_client_cert(lean: mockrt.PlanResult) -> None:
    (upload,) = lean.of_type(AOP_CERT)
    ca_pem = _sink(lean).inputs["originPullCaPem"]
    ca = x509.load_pem_x509_certificate(ca_pem.encode())
    client = x509.load_pem_x509_certificate(upload.inputs["certificate"].encode())
    assert ca.extensions.get_extension_for_class(x509.BasicConstraints).value.ca
    client.verify_directly_issued_by(ca)


# --------------------------------------------------------------------------------------------
# Origin CA certificate
# --------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("plan_name", "web", "validity"), [("prod_plan", PROD_WEB, 5475), ("staging_plan", STAGING_WEB, 365)]
)
def test_origin_ca_certificate(
    request: pytest.FixtureRequest, plan_name: str, web: tuple[str, ...], validity: int
) -> None:
    plan: mockrt.PlanResult = request.getfixturevalue(plan_name)
    (cert,) = plan.of_type(ORIGIN_CA)
    assert cert.inputs["hostnames"] == sorted(web)  # order-free: a reorder must not replace it
    assert cert.inputs["requestedValidity"] == validity
    assert cert.inputs["requestType"] == "origin-ecc"
    csr = _csr(plan)
    sans = csr.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    assert sorted(sans.get_values_for_type(x509.DNSName)) == sorted(web)
    assert csr.subject.get_attributes_for_oid(NameOID.COMMON_NAME)[0].value == web[0]
    key = csr.public_key()
    assert isinstance(key, ec.EllipticCurvePublicKey) and key.curve.name == "secp256r1"


def test_origin_rsa_uses_an_rsa_key(paid_rsa: mockrt.PlanResult) -> None:
    (cert,) = paid_rsa.of_type(ORIGIN_CA)
    assert cert.inputs["requestType"] == "origin-rsa"
    assert cert.inputs["requestedValidity"] == 730
    key = _csr(paid_rsa).public_key()
    assert isinstance(key, rsa.RSAPublicKey) and key.key_size == 2048


def test_outputs_reach_consumers(lean: mockrt.PlanResult) -> None:
    sink = _sink(lean).inputs
    assert sink["urls"] == {h: f"https://{h}" for h in PROD_WEB}
    assert sink["zoneId"] == "0" * 31 + "1"
    assert sink["expiresOn"].endswith("Z")
    served = x509.load_pem_x509_certificate(sink["originCertPem"].encode())
    sans = served.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    assert sorted(sans.get_values_for_type(x509.DNSName)) == sorted(PROD_WEB)


# --------------------------------------------------------------------------------------------
# Secrets
# --------------------------------------------------------------------------------------------


def test_private_keys_are_secret_end_to_end(prod_plan: mockrt.PlanResult, lean: mockrt.PlanResult) -> None:
    """Key inputs the SDKs mark secret arrive wrapped (the generated code wraps them too); the
    exported origin key is secret only because the component wraps it (the mock runtime does
    not apply the tls provider's additional_secret_outputs)."""
    for plan in (prod_plan, lean):
        (upload,) = plan.of_type(AOP_CERT)
        assert _is_secret(upload.raw_inputs["privateKey"])
        assert not _is_secret(upload.raw_inputs["certificate"])
        key_inputs = [
            (r.name, k, v)
            for r in _edge_children(plan)
            for k, v in r.raw_inputs.items()
            if k in ("privateKeyPem", "caPrivateKeyPem")
        ]
        assert len(key_inputs) >= 4  # origin CSR, pull CA, pull client CSR, pull client signing
        assert all(_is_secret(v) for _, _, v in key_inputs), [(n, k) for n, k, v in key_inputs if not _is_secret(v)]
    sink = _sink(lean).raw_inputs
    assert _is_secret(sink["originKeyPem"])
    assert not _is_secret(sink["originCertPem"])


def test_staging_exposes_no_origin_pull_ca(edge_program: Path) -> None:
    raw = mockrt.stack_config("staging")
    plan = mockrt.run_program("staging", raw=raw, program=edge_program)
    assert _sink(plan).inputs.get("originPullCaPem") is None
    assert not [r for r in plan.resources if r.type in ZONE_WIDE]


# --------------------------------------------------------------------------------------------
# Rate limiting
# --------------------------------------------------------------------------------------------


def _rule(plan: mockrt.PlanResult) -> dict[str, Any]:
    (ruleset,) = plan.of_type(RULESET)
    assert (ruleset.inputs["kind"], ruleset.inputs["phase"]) == ("zone", "http_ratelimit")
    (rule,) = ruleset.inputs["rules"]
    return rule  # type: ignore[no-any-return]


def test_free_plan_rate_limit(prod_plan: mockrt.PlanResult) -> None:
    rule = _rule(prod_plan)
    assert rule["action"] == "block" and rule["enabled"] is True
    assert rule["ratelimit"] == {
        "characteristics": ["cf.colo.id", "ip.src"],
        "period": 10,
        "requestsPerPeriod": 20,
        "mitigationTimeout": 10,
    }
    assert '"/api/auth/"' in rule["expression"]
    # The Free plan rejects http.host in rate-limiting rules.
    assert "http.host" not in rule["expression"]


def test_paid_plan_rate_limit_is_scoped_to_the_api_hosts(paid_rsa: mockrt.PlanResult) -> None:
    expr = _rule(paid_rsa)["expression"]
    assert "http.host in {" in expr and '"api.myhoneydue.com"' in expr
    assert '"admin.myhoneydue.com"' not in expr
    for path in ("/api/auth/", "/api/password-reset/"):
        assert f'starts_with(http.request.uri.path, "{path}")' in expr


def test_rate_limit_can_be_disabled(lean: mockrt.PlanResult) -> None:
    assert not lean.of_type(RULESET)
    assert lean.of_type(ZONE_SETTING) and lean.of_type(AOP_SETTINGS)  # the rest stays


# --------------------------------------------------------------------------------------------
# Config rules the edge relies on
# --------------------------------------------------------------------------------------------


@pytest.mark.parametrize(("key", "value"), [("originCaValidityDays", 100), ("originCaRequestType", "origin-dsa")])
def test_config_refuses_bad_origin_ca_values(key: str, value: Any) -> None:
    with pytest.raises(ConfigError) as info:
        load_config(mockrt.stack_config("prod", {key: value}))
    assert [p.key for p in info.value.problems] == [key]
    assert key in str(info.value)
