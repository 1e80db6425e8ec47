"""Cloudflare edge policies: SSL Full (strict), HTTPS only with TLS >= 1.2, proxied web records."""

from __future__ import annotations

from typing import Any

from ._base import Resource, resource_policy, str_list_prop
from ._values import UNKNOWN, get, str_list

ZONE_SETTING_TYPE = "cloudflare:index/zoneSetting:ZoneSetting"
DNS_RECORD_TYPES = ("cloudflare:index/dnsRecord:DnsRecord", "cloudflare:index/record:Record")


def _setting(resource: Resource) -> tuple[Any, Any]:
    """(settingId, value) of a ZoneSetting; (None, None) for other resources."""
    if resource.type != ZONE_SETTING_TYPE:
        return None, None
    return get(resource.props, "settingId"), get(resource.props, "value")


def _ssl_strict(resource: Resource) -> list[str]:
    setting, value = _setting(resource)
    if setting != "ssl" or value is UNKNOWN or value == "strict":
        return []
    return [f"ZoneSetting {resource.name}: ssl is {value!r}, not 'strict' (Full (strict))"]


SSL_STRICT = resource_policy(
    name="cloudflare-ssl-strict",
    description="The zone's SSL mode is Full (strict): Cloudflare verifies the origin certificate.",
    remediation="ZoneSetting(setting_id='ssl', value='strict'); the origin serves a Cloudflare Origin CA certificate.",
    rule=_ssl_strict,
)


def tls_version(value: Any) -> tuple[int, ...] | None:
    try:
        return tuple(int(p) for p in str(value).strip().split("."))
    except ValueError:
        return None


def _https_only(resource: Resource) -> list[str]:
    setting, value = _setting(resource)
    if value is UNKNOWN:
        return []
    if setting == "always_use_https" and value != "on":
        return [f"ZoneSetting {resource.name}: always_use_https is {value!r}, not 'on'"]
    if setting == "min_tls_version":
        minimum = str(resource.config.get("minTlsVersion") or "1.2")
        have, want = tls_version(value), tls_version(minimum)
        if have is None or want is None or have < want:
            return [f"ZoneSetting {resource.name}: min_tls_version is {value!r}, below {minimum}"]
    return []


HTTPS_ONLY = resource_policy(
    name="cloudflare-https-only",
    description="always_use_https is 'on', and min_tls_version (when set) is at least 1.2.",
    remediation="ZoneSetting(setting_id='always_use_https', value='on') and ZoneSetting(setting_id='min_tls_version', value='1.2').",
    rule=_https_only,
    schema={"minTlsVersion": {"type": "string", "default": "1.2", "description": "Lowest acceptable min_tls_version."}},
)


def _norm(name: str) -> str:
    return name.strip().rstrip(".").lower()


def _proxied(resource: Resource) -> list[str]:
    if resource.type not in DNS_RECORD_TYPES:
        return []
    rtype, name, proxied = (get(resource.props, k) for k in ("type", "name", "proxied"))
    if not isinstance(rtype, str) or rtype.upper() not in ("A", "AAAA"):
        return []
    if name is UNKNOWN or proxied is UNKNOWN or proxied is True:
        return []
    exempt = {_norm(n) for n in str_list(resource.config.get("unproxiedNames"))}
    if isinstance(name, str) and _norm(name) in exempt:
        return []
    return [
        f"DnsRecord {resource.name}: {rtype} {name!r} is not proxied (proxied={proxied!r}): "
        "it would publish the origin IP"
    ]


DNS_PROXIED = resource_policy(
    name="dns-web-records-proxied",
    description="A/AAAA records are proxied through Cloudflare, except the listed names (the Kubernetes API).",
    remediation=(
        "Set proxied=True on the record. Only names that must reach the nodes directly (the K8s "
        "API endpoint) go into `unproxiedNames` (FQDN, as the record's name)."
    ),
    rule=_proxied,
    schema={"unproxiedNames": str_list_prop("Record names (FQDN) allowed to be unproxied.")},
)
