"""CloudflareEdge: the stack's face on Cloudflare.

The zone is looked up, never created or deleted. Every stack publishes its own DNS records and
its own Origin CA certificate (both per hostname). The zone-wide pieces (SSL mode, HTTPS
redirects, TLS floor, HSTS, authenticated origin pulls, the rate-limit entry point) exist once
per zone, so exactly one stack owns them: the one with `manageZoneSettings: true` (prod).
"""

from __future__ import annotations

import functools
import ipaddress
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import pulumi
import pulumi_cloudflare as cloudflare
import pulumi_tls as tls

from components.base import type_token
from components.config import RateLimit, StackConfig

# Proxied records must use ttl=1 ("automatic"). The Kubernetes API name is not proxied; its
# addresses are Primary IPs that outlive server rebuilds, so 5 minutes of caching costs nothing.
AUTOMATIC_TTL = 1
KUBE_API_TTL = 300

# Free-plan rate limiting: only these characteristics, and a 10 s mitigation timeout.
RATE_LIMIT_CHARACTERISTICS = ("cf.colo.id", "ip.src")
RATE_LIMIT_MITIGATION_TIMEOUT = 10

# Traefik trusts the origin-pull CA, not the client certificate: the client certificate can be
# renewed (early_renewal: replaced by the first `pulumi up` inside the window) without touching
# the cluster. The CA itself needs a planned rotation before its 10 years are up.
ORIGIN_PULL_CA_HOURS = 10 * 365 * 24
ORIGIN_PULL_CLIENT_HOURS = 5 * 365 * 24
ORIGIN_PULL_EARLY_RENEWAL_HOURS = 90 * 24


# --------------------------------------------------------------------------------------------
# Pure helpers (tests call them directly)
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class RecordSpec:
    """One DNS record: `key` is the stable part of its resource name."""

    key: str
    hostname: str
    server: str
    type: str  # "A" or "AAAA"
    proxied: bool
    ttl: int


def record_specs(
    web_hostnames: Sequence[str],
    kube_api_hostname: str,
    servers: Sequence[str],
    ipv6: bool,
) -> list[RecordSpec]:
    """Every record of the stack: each hostname points at every server, per address family.

    Keyed by hostname + server name + family, so adding a server only adds records.
    """
    families = ("A", "AAAA") if ipv6 else ("A",)
    specs: list[RecordSpec] = []
    for host, proxied in [*((h, True) for h in web_hostnames), (kube_api_hostname, False)]:
        for server in servers:
            for family in families:
                specs.append(
                    RecordSpec(
                        key=f"{host}-{server}-{family.lower()}",
                        hostname=host,
                        server=server,
                        type=family,
                        proxied=proxied,
                        ttl=AUTOMATIC_TTL if proxied else KUBE_API_TTL,
                    )
                )
    return specs


def checked_address(family: str, value: str) -> str:
    """A host address of the right family, or an error (never publish a network address)."""
    addr = ipaddress.ip_address(value)
    if (family == "A") != (addr.version == 4):
        raise ValueError(f"{value} is not an {'IPv4' if family == 'A' else 'IPv6'} address for an {family} record")
    # Hetzner reports an IPv6 Primary IP as its /64 (host part zero); the server answers on ::1.
    if isinstance(addr, ipaddress.IPv6Address) and int(addr) & ((1 << 64) - 1) == 0:
        raise ValueError(f"{value} is a /64 network address, not a server address (expected e.g. {addr}1)")
    return str(addr)


def zone_settings(hsts_max_age_seconds: int) -> dict[str, Any]:
    """`setting_id -> value` of every zone setting this program owns."""
    return {
        "ssl": "strict",
        "always_use_https": "on",
        "min_tls_version": "1.2",
        "tls_1_3": "on",
        "automatic_https_rewrites": "on",
        # `value` is untyped JSON passed through to the API as is: snake_case keys. The SDK's
        # camelCase example never converges (pulumi/pulumi-cloudflare#1579).
        "security_header": {
            "strict_transport_security": {
                "enabled": True,
                "max_age": hsts_max_age_seconds,
                "include_subdomains": True,
                "nosniff": True,
                "preload": False,
            }
        },
    }


def rate_limit_expression(paths: Sequence[str], hosts: Sequence[str] | None) -> str:
    """Rules-language expression: path prefix, and the host when the plan allows matching it."""
    path_clause = " or ".join(f'starts_with(http.request.uri.path, "{p}")' for p in paths)
    if not hosts:
        return f"({path_clause})"
    host_set = " ".join(f'"{h}"' for h in hosts)
    return f"(http.host in {{{host_set}}} and ({path_clause}))"


def host_field_allowed(plan_legacy_id: str | None) -> bool:
    """Free-plan rate-limiting rules may only match on the URI path (and verified bots).

    An unknown plan counts as free: a path-only rule is valid on every plan.
    """
    return plan_legacy_id not in (None, "", "free")


# --------------------------------------------------------------------------------------------
# Component
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class CloudflareEdgeArgs:
    environment: str
    domain: str
    """The Cloudflare zone's name; the zone must already exist in the account."""
    api_hostname: str
    web_hostnames: tuple[str, ...]
    """Proxied hostnames (api, admin, extras), also the Origin CA certificate's names."""
    api_served_hostnames: tuple[str, ...]
    """Hostnames that reach the API (api + extras): the rate limit covers them."""
    kube_api_hostname: str
    server_ipv4s: Mapping[str, pulumi.Input[str]]
    """Server name -> public IPv4; the name keys the records."""
    server_ipv6s: Mapping[str, pulumi.Input[str]]
    create_ipv6_records: bool
    manage_zone_settings: bool
    hsts_max_age_seconds: int
    origin_ca_validity_days: int
    origin_ca_request_type: str
    rate_limit: RateLimit

    @classmethod
    def from_config(
        cls,
        cfg: StackConfig,
        server_ipv4s: Sequence[pulumi.Input[str]] | Mapping[str, pulumi.Input[str]],
        server_ipv6s: Sequence[pulumi.Input[str]] | Mapping[str, pulumi.Input[str]],
    ) -> CloudflareEdgeArgs:
        names = [s.name for s in cfg.cluster.servers]
        return cls(
            environment=cfg.environment,
            domain=cfg.names.domain,
            api_hostname=cfg.names.api_hostname,
            web_hostnames=cfg.names.web_hostnames,
            api_served_hostnames=(cfg.names.api_hostname, *cfg.names.extra_hostnames),
            kube_api_hostname=cfg.names.kube_api_hostname,
            server_ipv4s=_by_server(names, server_ipv4s, "server_ipv4s"),
            server_ipv6s=_by_server(names, server_ipv6s, "server_ipv6s"),
            create_ipv6_records=cfg.edge.create_ipv6_records,
            manage_zone_settings=cfg.edge.manage_zone_settings,
            hsts_max_age_seconds=cfg.edge.hsts_max_age_seconds,
            origin_ca_validity_days=cfg.edge.origin_ca_validity_days,
            origin_ca_request_type=cfg.edge.origin_ca_request_type,
            rate_limit=cfg.edge.rate_limit,
        )


def _by_server(
    names: Sequence[str],
    values: Sequence[pulumi.Input[str]] | Mapping[str, pulumi.Input[str]],
    what: str,
) -> dict[str, pulumi.Input[str]]:
    """A list is taken in the config's server order; a mapping must name exactly those servers."""
    if isinstance(values, Mapping):
        if set(values) != set(names):
            raise ValueError(f"{what} must name the servers {names}, got {sorted(values)}")
        return {n: values[n] for n in names}
    if len(values) != len(names):
        raise ValueError(f"{what} has {len(values)} addresses for {len(names)} servers")
    return dict(zip(names, values, strict=True))


class CloudflareEdge(pulumi.ComponentResource):
    urls: dict[str, str]
    """Public hostname -> https URL."""
    zone_id: pulumi.Output[str]
    origin_cert_pem: pulumi.Output[str]
    """Cloudflare Origin CA certificate for the web hostnames (Traefik's default certificate)."""
    origin_key_pem: pulumi.Output[str]
    """Its private key (secret)."""
    origin_cert_expires_on: pulumi.Output[str]
    origin_pull_ca_pem: pulumi.Output[str] | None
    """CA of the client certificate Cloudflare presents to the origin (Traefik's TLSOption
    clientAuth). None when this stack does not own the zone settings."""
    origin_pulls: cloudflare.AuthenticatedOriginPullsSettings | None
    """Depend on this before the origin starts requiring client certificates."""

    def __init__(self, name: str, args: CloudflareEdgeArgs, opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__(type_token("edge", "CloudflareEdge"), name, None, opts)
        child = pulumi.ResourceOptions(parent=self)

        zone = cloudflare.get_zone_output(
            filter={"name": args.domain, "match": "all"}, opts=pulumi.InvokeOutputOptions(parent=self)
        )
        self.zone_id = zone.id
        comment = f"honeydue {args.environment} (pulumi)"

        addresses = {"A": args.server_ipv4s, "AAAA": args.server_ipv6s}
        for spec in record_specs(
            args.web_hostnames, args.kube_api_hostname, list(args.server_ipv4s), args.create_ipv6_records
        ):
            address: pulumi.Output[str] = pulumi.Output.from_input(addresses[spec.type][spec.server])
            content = address.apply(functools.partial(checked_address, spec.type))
            cloudflare.DnsRecord(
                f"{name}-dns-{spec.key}",
                zone_id=self.zone_id,
                name=spec.hostname,
                type=spec.type,
                content=content,
                proxied=spec.proxied,
                ttl=spec.ttl,
                comment=comment,
                opts=child,
            )

        # Origin CA: Cloudflare signs our CSR, so the private key is never sent to Cloudflare.
        # origin-rsa certificates need an RSA key (2048 bits is what Cloudflare's own CSRs use).
        rsa = args.origin_ca_request_type == "origin-rsa"
        origin_key = tls.PrivateKey(
            f"{name}-origin-key",
            algorithm="RSA" if rsa else "ECDSA",
            rsa_bits=2048 if rsa else None,
            ecdsa_curve=None if rsa else "P256",
            opts=child,
        )
        # Explicitly secret: the mock runtime does not apply the provider's secret outputs.
        self.origin_key_pem = pulumi.Output.secret(origin_key.private_key_pem)
        csr = tls.CertRequest(
            f"{name}-origin-csr",
            private_key_pem=self.origin_key_pem,
            subject={"common_name": args.api_hostname, "organization": "honeydue"},
            # Sorted: the certificate is replaced on any change of its names (all of its inputs
            # force a new certificate), and their order carries no meaning.
            dns_names=sorted(args.web_hostnames),
            opts=child,
        )
        origin_cert = cloudflare.OriginCaCertificate(
            f"{name}-origin-cert",
            csr=csr.cert_request_pem,
            hostnames=sorted(args.web_hostnames),
            request_type=args.origin_ca_request_type,
            requested_validity=args.origin_ca_validity_days,
            opts=child,
        )
        self.origin_cert_pem = origin_cert.certificate
        self.origin_cert_expires_on = origin_cert.expires_on

        self.origin_pull_ca_pem = None
        self.origin_pulls = None
        if args.manage_zone_settings:
            for setting_id, value in zone_settings(args.hsts_max_age_seconds).items():
                cloudflare.ZoneSetting(
                    f"{name}-setting-{setting_id}", zone_id=self.zone_id, setting_id=setting_id, value=value, opts=child
                )
            self.origin_pull_ca_pem, self.origin_pulls = self._origin_pulls(name, args, child)
            if args.rate_limit.enabled:
                self._rate_limit(name, args, zone, child)

        self.urls = {host: f"https://{host}" for host in args.web_hostnames}
        self.register_outputs(
            {
                "urls": self.urls,
                "zone_id": self.zone_id,
                "origin_cert_pem": self.origin_cert_pem,
                "origin_key_pem": self.origin_key_pem,
                "origin_cert_expires_on": self.origin_cert_expires_on,
                "origin_pull_ca_pem": self.origin_pull_ca_pem,
            }
        )

    def _origin_pulls(
        self, name: str, args: CloudflareEdgeArgs, child: pulumi.ResourceOptions
    ) -> tuple[pulumi.Output[str], cloudflare.AuthenticatedOriginPullsSettings]:
        """Zone-level authenticated origin pulls with our own client certificate.

        Zone-wide: once enabled, Cloudflare presents this certificate to every proxied origin of
        the zone, staging included. Enabling it is safe on its own (an origin that does not ask
        for a client certificate ignores it); the origin may only *require* it afterwards.
        """
        ca_key = tls.PrivateKey(f"{name}-origin-pull-ca-key", algorithm="ECDSA", ecdsa_curve="P256", opts=child)
        ca_key_pem: pulumi.Output[str] = pulumi.Output.secret(ca_key.private_key_pem)
        ca = tls.SelfSignedCert(
            f"{name}-origin-pull-ca",
            private_key_pem=ca_key_pem,
            is_ca_certificate=True,
            subject={"common_name": f"honeydue origin-pull CA ({args.domain})", "organization": "honeydue"},
            allowed_uses=["cert_signing", "crl_signing", "digital_signature"],
            validity_period_hours=ORIGIN_PULL_CA_HOURS,
            opts=child,
        )
        # RSA for the certificate Cloudflare presents: the key type its AOP docs use throughout.
        client_key = tls.PrivateKey(f"{name}-origin-pull-client-key", algorithm="RSA", rsa_bits=2048, opts=child)
        client_key_pem: pulumi.Output[str] = pulumi.Output.secret(client_key.private_key_pem)
        client_csr = tls.CertRequest(
            f"{name}-origin-pull-client-csr",
            private_key_pem=client_key_pem,
            subject={"common_name": f"cloudflare origin pull {args.domain}", "organization": "honeydue"},
            opts=child,
        )
        client = tls.LocallySignedCert(
            f"{name}-origin-pull-client",
            cert_request_pem=client_csr.cert_request_pem,
            ca_cert_pem=ca.cert_pem,
            ca_private_key_pem=ca_key_pem,
            allowed_uses=["client_auth", "digital_signature", "key_encipherment"],
            validity_period_hours=ORIGIN_PULL_CLIENT_HOURS,
            early_renewal_hours=ORIGIN_PULL_EARLY_RENEWAL_HOURS,
            opts=child,
        )
        upload = cloudflare.AuthenticatedOriginPullsCertificate(
            f"{name}-origin-pull-cert",
            zone_id=self.zone_id,
            certificate=client.cert_pem,
            private_key=client_key_pem,
            opts=child,
        )
        # Enabled only after the upload: enabled without our certificate, Cloudflare would
        # present its shared one, which the origin does not trust.
        settings = cloudflare.AuthenticatedOriginPullsSettings(
            f"{name}-origin-pulls",
            zone_id=self.zone_id,
            enabled=True,
            opts=pulumi.ResourceOptions(parent=self, depends_on=[upload]),
        )
        return ca.cert_pem, settings

    def _rate_limit(
        self, name: str, args: CloudflareEdgeArgs, zone: pulumi.Output[Any], child: pulumi.ResourceOptions
    ) -> cloudflare.Ruleset:
        """The zone's http_ratelimit entry point with one rule (the Free plan allows one)."""
        rl = args.rate_limit

        def rules(plan: Any) -> list[cloudflare.RulesetRuleArgs]:
            legacy_id = getattr(plan, "legacy_id", None) if plan is not None else None
            hosts = args.api_served_hostnames if host_field_allowed(legacy_id) else None
            return [
                cloudflare.RulesetRuleArgs(
                    # A fixed ref keeps the rule's id across updates, so a preview shows only
                    # the fields that changed, not a new rule (pulumi-cloudflare#444, #939;
                    # terraform-provider-cloudflare#4697, the provider 6.x bridges).
                    ref="honeydue_rate_limit",
                    action="block",
                    description=f"honeydue: {rl.requests_per_period} requests / {rl.period_seconds} s per IP on "
                    + ", ".join(rl.paths),
                    enabled=True,
                    expression=rate_limit_expression(rl.paths, hosts),
                    ratelimit=cloudflare.RulesetRuleRatelimitArgs(
                        characteristics=list(RATE_LIMIT_CHARACTERISTICS),
                        period=rl.period_seconds,
                        requests_per_period=rl.requests_per_period,
                        mitigation_timeout=RATE_LIMIT_MITIGATION_TIMEOUT,
                    ),
                )
            ]

        return cloudflare.Ruleset(
            f"{name}-rate-limit",
            zone_id=self.zone_id,
            kind="zone",
            phase="http_ratelimit",
            name="honeydue rate limits",
            description="Managed by the honeydue Pulumi program (manageZoneSettings stack).",
            # pulumi.get, not `.plan`: the property warns that *changing* a plan is deprecated.
            rules=zone.apply(lambda z: rules(pulumi.get(z, "plan"))),
            opts=child,
        )
