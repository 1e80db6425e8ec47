"""user_data size and Cloudflare policies (class 4: SSL/TLS overrides; class 8: relative DNS names).

Firewall and server policies: test_firewall.py, test_firewall_union.py."""

from __future__ import annotations

from typing import Any

import pytest

from .lib import check, dns, resource, server, zone_setting

# --- user-data-size ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("size", "hard", "warning"),
    [(16 * 1024, 0, 0), (16 * 1024 + 1, 0, 1), (32 * 1024, 0, 1), (32 * 1024 + 1, 1, 1)],
)
def test_user_data_thresholds(size: int, hard: int, warning: int) -> None:
    s = server(user_data="x" * size)
    assert len(check("user-data-size", s)) == hard
    assert len(check("user-data-size-warning", s)) == warning


def test_user_data_counts_bytes_and_config() -> None:
    s = server(user_data="é" * 9000)  # 18000 bytes, 9000 characters
    assert len(check("user-data-size-warning", s)) == 1
    assert check("user-data-size-warning", s, {"maxBytes": 20000}) == []
    assert len(check("user-data-size", s, {"maxBytes": 10000})) == 1
    assert check("user-data-size", server(user_data="[unknown]")) == []
    assert check("user-data-size", server(user_data="[secret]")) == []


# --- Cloudflare -------------------------------------------------------------------------------

SSL = "cloudflare-ssl-strict"
TLS = "cloudflare-https-only"


def ruleset(phase: str, *rules: dict[str, Any]) -> dict[str, Any]:
    return resource(
        "cloudflare:index/ruleset:Ruleset",
        f"edge-{phase}",
        {"zoneId": "z", "kind": "zone", "name": phase, "phase": phase, "rules": list(rules)},
    )


def config_rule(**params: Any) -> dict[str, Any]:
    return {
        "action": "set_config",
        "expression": '(http.host eq "api.myhoneydue.com")',
        "enabled": True,
        "actionParameters": params,
    }


def page_rule(**actions: Any) -> dict[str, Any]:
    return resource(
        "cloudflare:index/pageRule:PageRule",
        "pr",
        {"zoneId": "z", "target": "api.myhoneydue.com/*", "actions": actions},
    )


def hostname_tls(setting: str, value: Any) -> dict[str, Any]:
    return resource(
        "cloudflare:index/hostnameTlsSetting:HostnameTlsSetting",
        f"tls-{setting}",
        {"zoneId": "z", "hostname": "api.myhoneydue.com", "settingId": setting, "value": value},
    )


def test_ssl_strict_zone_setting() -> None:
    assert check(SSL, zone_setting("ssl", "strict")) == []
    for bad in ("full", "flexible", "off", None, "Strict ", "[unknown]"):
        assert len(check(SSL, zone_setting("ssl", bad))) == 1, bad
    assert check(SSL, zone_setting("always_use_https", "off")) == []  # the other policy's business


@pytest.mark.parametrize(
    "r",
    [
        ruleset("http_config_settings", config_rule(ssl="flexible")),
        ruleset("http_config_settings", config_rule(ssl="off"), config_rule(ssl="strict")),
        ruleset("http_config_settings", config_rule(ssl="full", automaticHttpsRewrites=True)),
        ruleset("http_config_settings", config_rule(ssl="[unknown]")),
        ruleset("http_request_origin", config_rule(ssl="flexible")),  # any phase, not only config rules
        ruleset("http_config_settings", {**config_rule(ssl="off"), "enabled": False}),  # off today, on tomorrow
        {**ruleset("http_config_settings"), "inputs": {"phase": "http_config_settings", "rules": "[unknown]"}},
        {**ruleset("http_config_settings"), "inputs": {"phase": "x", "rules": [{"actionParameters": "[unknown]"}]}},
        page_rule(ssl="flexible"),
        page_rule(ssl="off", alwaysUseHttps=True),
        resource(
            "cloudflare:index/customHostname:CustomHostname",
            "ch",
            {"zoneId": "z", "hostname": "shop.example.com", "ssl": {"method": "http", "settings": {"ssl": "full"}}},
        ),
    ],
)
def test_ssl_weakened_per_request_or_host(r: dict[str, Any]) -> None:
    msgs = check(SSL, r)
    assert len(msgs) == 1 and ("below 'strict'" in msgs[0] or "fails closed" in msgs[0]), msgs


def test_ssl_overrides_legitimate_neighbours() -> None:
    assert check(SSL, ruleset("http_config_settings", config_rule(ssl="strict"))) == []
    assert check(SSL, ruleset("http_config_settings", config_rule(ssl="origin_pull"))) == []  # stricter
    assert check(SSL, ruleset("http_config_settings", config_rule(automaticHttpsRewrites=True))) == []
    rate_limit = {"action": "block", "expression": "true", "ratelimit": {"period": 10, "requestsPerPeriod": 20}}
    assert check(SSL, ruleset("http_ratelimit", rate_limit)) == []
    assert check(SSL, page_rule(alwaysUseHttps=True)) == []
    assert check(SSL, page_rule(cacheLevel="bypass", ssl="strict")) == []


def test_https_only_zone_settings() -> None:
    assert check(TLS, zone_setting("always_use_https", "on")) == []
    assert len(check(TLS, zone_setting("always_use_https", "off"))) == 1
    assert check(TLS, zone_setting("min_tls_version", "1.2")) == []
    assert check(TLS, zone_setting("min_tls_version", "1.3")) == []
    assert len(check(TLS, zone_setting("min_tls_version", "1.1"))) == 1
    assert len(check(TLS, zone_setting("min_tls_version", "1.0"))) == 1
    assert len(check(TLS, zone_setting("min_tls_version", "1.3"), {"minTlsVersion": "1.4"})) == 1
    assert len(check(TLS, zone_setting("min_tls_version", "[unknown]"))) == 1  # fails closed
    assert len(check(TLS, zone_setting("always_use_https", "[unknown]"))) == 1
    assert len(check(TLS, zone_setting("min_tls_version", "TLSv1"))) == 1
    assert check(TLS, zone_setting("ssl", "strict")) == []


@pytest.mark.parametrize(
    ("r", "bad"),
    [
        (hostname_tls("min_tls_version", "1.0"), True),
        (hostname_tls("min_tls_version", "1.1"), True),
        (hostname_tls("min_tls_version", "[unknown]"), True),
        (hostname_tls("min_tls_version", "1.2"), False),
        (hostname_tls("min_tls_version", "1.3"), False),
        (hostname_tls("ciphers", ["ECDHE-ECDSA-AES128-GCM-SHA256"]), False),
        (page_rule(minTlsVersion="1.0"), True),
        (ruleset("http_config_settings", config_rule(minTlsVersion="1.1")), True),
        (
            resource(
                "cloudflare:index/customHostname:CustomHostname",
                "ch",
                {"zoneId": "z", "hostname": "shop.example.com", "ssl": {"settings": {"minTlsVersion": "1.0"}}},
            ),
            True,
        ),
        (
            resource(
                "cloudflare:index/customHostname:CustomHostname",
                "ch",
                {"zoneId": "z", "hostname": "shop.example.com", "ssl": {"settings": {"minTlsVersion": "1.2"}}},
            ),
            False,
        ),
    ],
)
def test_tls_lowered_per_host_or_request(r: dict[str, Any], bad: bool) -> None:
    assert bool(check(TLS, r)) is bad


# --- dns-web-records-proxied ------------------------------------------------------------------


def test_dns_proxied() -> None:
    p = "dns-web-records-proxied"
    api = {"unproxiedNames": ["k8s.myhoneydue.com"]}
    assert check(p, dns(), api) == []
    assert len(check(p, dns(proxied=False), api)) == 1
    assert len(check(p, dns(type_="AAAA", proxied=None), api)) == 1  # missing = Cloudflare's default, off
    assert check(p, dns("k8s.myhoneydue.com", proxied=False), api) == []
    assert check(p, dns("K8S.myhoneydue.com.", proxied=False), api) == []
    assert len(check(p, dns("k8s.myhoneydue.com", proxied=False))) == 1  # no exemption configured
    assert check(p, dns(type_="TXT", proxied=False)) == []
    assert check(p, dns(type_="CNAME", proxied=False)) == []
    assert len(check(p, dns(proxied="[unknown]"))) == 1  # fails closed
    assert len(check(p, dns(name="[unknown]", proxied=False))) == 1
    assert check(p, dns(name="[unknown]", proxied=True)) == []
    legacy = resource("cloudflare:index/record:Record", "r", {"name": "x", "type": "A", "proxied": False})
    assert len(check(p, legacy)) == 1


def test_dns_relative_names_match_their_full_name() -> None:
    """Class 8: Cloudflare reads `k8s` inside the zone: it is k8s.myhoneydue.com."""
    p = "dns-web-records-proxied"
    cfg = {"unproxiedNames": ["k8s.myhoneydue.com"], "zones": ["myhoneydue.com"]}
    assert check(p, dns("k8s", proxied=False), cfg) == []
    assert check(p, dns("K8s.", proxied=False), cfg) == []
    assert check(p, dns("k8s", proxied=False), {"unproxiedNames": ["k8s.myhoneydue.com"]}) == []  # no zones set
    # Other relative names stay refused; so does the apex unless listed.
    assert len(check(p, dns("api", proxied=False), cfg)) == 1
    assert len(check(p, dns("k8s.staging", proxied=False), cfg)) == 1
    assert len(check(p, dns("@", proxied=False), cfg)) == 1
    assert check(p, dns("@", proxied=False), {**cfg, "unproxiedNames": ["myhoneydue.com"]}) == []
    # A name in another zone is not the listed one.
    assert len(check(p, dns("k8s.myhoneydue.com.evil.example", proxied=False), cfg)) == 1
