"""Cloudflare edge policies: SSL Full (strict), HTTPS only with TLS >= 1.2, proxied web records."""

from __future__ import annotations

from typing import Any

from ._base import Resource, resource_policy, str_list_prop
from ._values import UNKNOWN, get, items, str_list
from .k8s import walk

ZONE_SETTING_TYPE = "cloudflare:index/zoneSetting:ZoneSetting"
HOSTNAME_TLS_TYPE = "cloudflare:index/hostnameTlsSetting:HostnameTlsSetting"
RULESET_TYPE = "cloudflare:index/ruleset:Ruleset"
PAGE_RULE_TYPE = "cloudflare:index/pageRule:PageRule"
CUSTOM_HOSTNAME_TYPE = "cloudflare:index/customHostname:CustomHostname"
DNS_RECORD_TYPES = ("cloudflare:index/dnsRecord:DnsRecord", "cloudflare:index/record:Record")
# Full (strict), and Strict (SSL-only origin pull), which is stricter still (cloudflare 6.23.1
# RulesetRuleActionParameters.ssl: off | flexible | full | strict | origin_pull).
STRICT_SSL = frozenset({"strict", "origin_pull"})
_SSL_KEYS = frozenset({"ssl"})
_TLS_KEYS = frozenset({"minTlsVersion", "min_tls_version"})
_CANNOT_READ = "cannot be read (computed or not a string): fails closed"


def _setting(resource: Resource) -> tuple[Any, Any]:
    """(settingId, value) of a ZoneSetting or per-hostname TLS setting; (None, None) otherwise."""
    if resource.type not in (ZONE_SETTING_TYPE, HOSTNAME_TLS_TYPE):
        return None, None
    return get(resource.props, "settingId"), get(resource.props, "value")


def _overrides(resource: Resource) -> list[tuple[str, str, Any]]:
    """(where, key, value) for every SSL/TLS knob a per-request or per-host override sets:
    ruleset rules (configuration rules set `ssl` for matching requests), page rules, custom
    hostnames' SSL settings. Walks every key, so a new phase or nesting is seen too."""
    roots: list[tuple[str, Any]] = []
    if resource.type == RULESET_TYPE:
        rules = get(resource.props, "rules")
        if rules is UNKNOWN:
            return [("rules", "ssl", UNKNOWN)]
        roots = [(f"rule {i}", get(rule, "actionParameters")) for i, rule in enumerate(items(rules))]
    elif resource.type == PAGE_RULE_TYPE:
        roots = [(f"page rule {get(resource.props, 'target')!r}", get(resource.props, "actions"))]
    elif resource.type == CUSTOM_HOSTNAME_TYPE:
        roots = [(f"custom hostname {get(resource.props, 'hostname')!r}", get(resource.props, "ssl"))]
    out = []
    for where, root in roots:
        if root is UNKNOWN:
            out.append((where, "ssl", UNKNOWN))
            continue
        for path, key, value, _ in walk(root):
            if key in _SSL_KEYS or key in _TLS_KEYS:
                out.append((f"{where} {path}", key, value))
    return out


def _ssl_strict(resource: Resource) -> list[str]:
    setting, value = _setting(resource)
    if resource.type == ZONE_SETTING_TYPE and setting == "ssl":
        if not isinstance(value, str):
            return [f"ZoneSetting {resource.name}: ssl value {_CANNOT_READ}"]
        if value not in STRICT_SSL:
            return [f"ZoneSetting {resource.name}: ssl is {value!r}, not 'strict' (Full (strict))"]
        return []
    if resource.type == ZONE_SETTING_TYPE and setting is UNKNOWN:
        return [f"ZoneSetting {resource.name}: settingId {_CANNOT_READ}"]
    out = []
    for where, key, value in _overrides(resource):
        if key not in _SSL_KEYS:
            continue
        if not isinstance(value, str):
            out.append(f"{resource.name}: {where} ssl {_CANNOT_READ}")
        elif value not in STRICT_SSL:
            out.append(f"{resource.name}: {where} sets ssl {value!r} for matching requests, below 'strict'")
    return out


SSL_STRICT = resource_policy(
    name="cloudflare-ssl-strict",
    description=(
        "SSL is Full (strict) for the zone and cannot be lowered for a request or host: ZoneSetting "
        "ssl, ruleset rules (configuration rules), page rules and custom hostnames all say strict."
    ),
    remediation=(
        "ZoneSetting(setting_id='ssl', value='strict'); never set ssl in a configuration rule, page "
        "rule or custom hostname to anything but 'strict'. The origin serves a Cloudflare Origin CA certificate."
    ),
    rule=_ssl_strict,
)


def tls_version(value: Any) -> tuple[int, ...] | None:
    try:
        return tuple(int(p) for p in str(value).strip().split("."))
    except ValueError:
        return None


def _tls_below(value: Any, minimum: str) -> bool:
    have, want = tls_version(value), tls_version(minimum)
    return have is None or want is None or have < want


def _https_only(resource: Resource) -> list[str]:
    setting, value = _setting(resource)
    minimum = str(resource.config.get("minTlsVersion") or "1.2")
    kind = "ZoneSetting" if resource.type == ZONE_SETTING_TYPE else "HostnameTlsSetting"
    if setting is UNKNOWN:
        return [f"{kind} {resource.name}: settingId {_CANNOT_READ}"]
    if setting == "always_use_https" and resource.type == ZONE_SETTING_TYPE:
        if value is UNKNOWN:
            return [f"{kind} {resource.name}: always_use_https value {_CANNOT_READ}"]
        if value != "on":
            return [f"{kind} {resource.name}: always_use_https is {value!r}, not 'on'"]
    if setting == "min_tls_version":
        if value is UNKNOWN or not isinstance(value, str):
            return [f"{kind} {resource.name}: min_tls_version value {_CANNOT_READ}"]
        if _tls_below(value, minimum):
            return [f"{kind} {resource.name}: min_tls_version is {value!r}, below {minimum}"]
    out = []
    for where, key, value in _overrides(resource):
        if key in _TLS_KEYS and not isinstance(value, str):
            out.append(f"{resource.name}: {where} {key} {_CANNOT_READ}")
        elif key in _TLS_KEYS and _tls_below(value, minimum):
            out.append(f"{resource.name}: {where} sets {key} {value!r}, below {minimum}")
    return out


HTTPS_ONLY = resource_policy(
    name="cloudflare-https-only",
    description=(
        "always_use_https is 'on', and no min_tls_version (zone, per hostname, page rule, ruleset, "
        "custom hostname) is below 1.2."
    ),
    remediation=(
        "ZoneSetting(setting_id='always_use_https', value='on') and "
        "ZoneSetting(setting_id='min_tls_version', value='1.2'); per-hostname TLS settings only raise it."
    ),
    rule=_https_only,
    schema={"minTlsVersion": {"type": "string", "default": "1.2", "description": "Lowest acceptable min_tls_version."}},
)


def _norm(name: str) -> str:
    return name.strip().rstrip(".").lower()


def fqdn_candidates(name: str, zones: list[str]) -> set[str]:
    """The full names a record name may stand for: Cloudflare accepts a name relative to the
    zone (``k8s``, ``@`` for the apex) as well as the FQDN."""
    n = _norm(name)
    if n == "@":
        return {_norm(z) for z in zones}
    out = {n}
    for zone in (_norm(z) for z in zones):
        if n != zone and not n.endswith("." + zone):
            out.add(f"{n}.{zone}")
    return out


def _proxied(resource: Resource) -> list[str]:
    if resource.type not in DNS_RECORD_TYPES:
        return []
    rtype, name, proxied = (get(resource.props, k) for k in ("type", "name", "proxied"))
    if rtype is UNKNOWN:
        return [f"DnsRecord {resource.name}: type {_CANNOT_READ}"]
    if not isinstance(rtype, str) or rtype.upper() not in ("A", "AAAA"):
        return []
    if proxied is True:
        return []
    if name is UNKNOWN or proxied is UNKNOWN:
        return [f"DnsRecord {resource.name}: name/proxied {_CANNOT_READ}"]
    exempt = {_norm(n) for n in str_list(resource.config.get("unproxiedNames"))}
    zones = str_list(resource.config.get("zones"))
    if isinstance(name, str):
        names = fqdn_candidates(name, zones)
        # Without configured zones, a relative name matches an FQDN that starts with it.
        if names & exempt or (not zones and any(e.startswith(_norm(name) + ".") for e in exempt)):
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
    schema={
        "unproxiedNames": str_list_prop("Record names (FQDN) allowed to be unproxied."),
        "zones": str_list_prop("The zones' names: a relative record name (k8s, @) is read inside each."),
    },
)
