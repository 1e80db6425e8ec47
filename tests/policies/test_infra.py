"""Firewall, server, user_data and Cloudflare policies."""

from __future__ import annotations

from typing import Any

import pytest

from .lib import CLOUDFLARE, check, dns, firewall, resource, server, zone_setting

ADMIN = "firewall-no-world-admin-ports"
WEB = "firewall-web-from-cloudflare-only"
CF = {"cloudflareCidrs": CLOUDFLARE}


def rule(port: str | None, sources: list[str], protocol: str = "tcp", direction: str = "in") -> dict[str, Any]:
    r: dict[str, Any] = {"direction": direction, "protocol": protocol, "sourceIps": sources}
    if port is not None:
        r["port"] = port
    return r


# --- firewall-no-world-admin-ports ------------------------------------------------------------


def test_admin_ports_compliant() -> None:
    assert check(ADMIN, firewall(), {"sshPort": 2222}) == []


@pytest.mark.parametrize(
    ("r", "expected"),
    [
        (rule("22", ["0.0.0.0/0"]), "SSH 22"),
        (rule("6443", ["::/0"]), "Kubernetes API 6443"),
        (rule("2379-2380", ["0.0.0.0/0"]), "etcd 2379-2380"),
        (rule("2380", ["0.0.0.0/0"]), "etcd 2379-2380"),
        (rule("10250", ["0.0.0.0/0"], protocol="udp"), "kubelet 10250"),
        (rule("2000-3000", ["0.0.0.0/0"]), "etcd"),  # a range overlapping etcd
        (rule("any", ["0.0.0.0/0"]), "SSH 22, Kubernetes API 6443, etcd 2379-2380, kubelet 10250"),
        (rule(None, ["::/0"]), "Kubernetes API"),  # no port = every port
        (rule("8080", ["0.0.0.0/0"]), "port 8080"),  # not named, but not 80/443 either
        (rule("80-85", ["0.0.0.0/0"]), "ports 80-85"),
    ],
)
def test_admin_ports_violations(r: dict[str, Any], expected: str) -> None:
    msgs = check(ADMIN, firewall([r]))
    assert len(msgs) == 1 and expected in msgs[0], msgs


def test_admin_ports_not_world_or_not_inbound() -> None:
    ok = [
        rule("22", ["198.51.100.7/32"]),
        rule("6443", ["0.0.0.0/1"]),  # broad, but not the world: not this policy's business
        rule("22", ["0.0.0.0/0"], direction="out"),
        rule(None, ["0.0.0.0/0"], protocol="icmp"),
        rule("443", ["0.0.0.0/0"]),  # world web ports are the other policy's business
    ]
    assert check(ADMIN, firewall(ok)) == []


def test_admin_ports_config_overrides() -> None:
    fw = firewall([rule("2222", ["0.0.0.0/0"])])
    assert "SSH 2222" in check(ADMIN, fw, {"sshPort": 2222})[0]
    assert "port 2222" in check(ADMIN, fw)[0]  # unnamed with the default sshPort, still refused
    assert check(ADMIN, firewall([rule("8080", ["0.0.0.0/0"])]), {"worldOpenPorts": [80, 443, 8080]}) == []
    assert check(ADMIN, firewall([rule("22", ["0.0.0.0/0"])]), {"enforcementLevel": "advisory"}) != []


def test_admin_ports_unknowns() -> None:
    assert check(ADMIN, firewall([rule("[unknown]", ["0.0.0.0/0"])])) == []
    assert check(ADMIN, firewall([rule("22", ["[unknown]"])])) == []
    assert (
        check(ADMIN, firewall([{"direction": "in", "protocol": "[unknown]", "port": "22", "sourceIps": ["0.0.0.0/0"]}]))
        == []
    )
    assert check(ADMIN, firewall("[unknown]")) == []  # type: ignore[arg-type]


# --- firewall-web-from-cloudflare-only --------------------------------------------------------


def test_web_compliant() -> None:
    assert check(WEB, firewall(), CF) == []
    # A subnet of a Cloudflare range is inside it.
    assert check(WEB, firewall([rule("443", ["104.16.1.0/24", "2606:4700:10::/48"])]), CF) == []


@pytest.mark.parametrize(
    "r",
    [
        rule("443", ["0.0.0.0/0"]),
        rule("80", ["::/0"]),
        rule("443", [*CLOUDFLARE, "198.51.100.7/32"]),
        rule("443", ["104.16.0.0/12"]),  # wider than Cloudflare's 104.16.0.0/13
        rule("1-1000", ["198.51.100.7/32"]),  # range covering 80 and 443
        rule("any", ["198.51.100.7/32"]),
        rule("443", ["not-a-cidr"]),
        rule("443", ["0.0.0.0/0"], protocol="udp"),  # HTTP/3
    ],
)
def test_web_violations(r: dict[str, Any]) -> None:
    msgs = check(WEB, firewall([r]), CF)
    assert len(msgs) == 1 and "non-Cloudflare sources" in msgs[0]


def test_web_config_overrides_and_unknowns() -> None:
    world = firewall([rule("443", ["0.0.0.0/0"])])
    assert check(WEB, world, {"cloudflareCidrs": ["0.0.0.0/0"]}) == []
    assert len(check(WEB, firewall())) == 2  # no ranges configured: every web source fails closed
    assert check(WEB, firewall([rule("8443", ["0.0.0.0/0"])]), {**CF, "webPorts": [80, 443]}) == []
    assert len(check(WEB, firewall([rule("8443", ["0.0.0.0/0"])]), {**CF, "webPorts": [8443]})) == 1
    assert check(WEB, firewall([rule("443", ["[unknown]", "[secret]"])]), CF) == []
    assert check(WEB, firewall([rule("[unknown]", ["0.0.0.0/0"])]), CF) == []


# --- servers-guarded --------------------------------------------------------------------------

G = "servers-guarded"
PROD = {"requireProtection": True}


def test_servers_guarded_compliant() -> None:
    assert check(G, server(), PROD) == []


@pytest.mark.parametrize(
    ("change", "expected"),
    [
        (lambda s: s["inputs"].__setitem__("firewallIds", []), "firewallIds is empty"),
        (lambda s: s["inputs"].pop("firewallIds"), "firewallIds is empty"),
        (lambda s: s["inputs"].__setitem__("networks", []), "networks is empty"),
        (lambda s: s["options"].__setitem__("ignoreChanges", ["image"]), "ignoreChanges does not cover userData"),
        (lambda s: s["options"].__setitem__("protect", False), "options.protect"),
        (lambda s: s["inputs"].__setitem__("deleteProtection", False), "deleteProtection"),
        (lambda s: s["inputs"].pop("rebuildProtection"), "rebuildProtection"),
    ],
)
def test_servers_guarded_violations(change: Any, expected: str) -> None:
    s = server()
    change(s)
    msgs = check(G, s, PROD)
    assert len(msgs) == 1 and expected in msgs[0]


def test_servers_guarded_protection_only_when_required() -> None:
    s = server()
    s["options"]["protect"] = False
    s["inputs"]["deleteProtection"] = s["inputs"]["rebuildProtection"] = False
    assert check(G, s) == [] and check(G, s, {"requireProtection": False}) == []
    assert len(check(G, s, PROD)) == 3
    s["options"]["ignoreChanges"] = ["user_data"]  # the snake_case spelling counts too
    assert check(G, s) == []


def test_servers_guarded_unknowns() -> None:
    s = server()
    s["inputs"].update(
        firewallIds="[unknown]", networks=["[unknown]"], deleteProtection="[unknown]", rebuildProtection="[secret]"
    )
    assert check(G, s, PROD) == []


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


def test_ssl_strict() -> None:
    assert check("cloudflare-ssl-strict", zone_setting("ssl", "strict")) == []
    for bad in ("full", "flexible", "off", None):
        assert len(check("cloudflare-ssl-strict", zone_setting("ssl", bad))) == 1
    assert check("cloudflare-ssl-strict", zone_setting("ssl", "[unknown]")) == []
    assert check("cloudflare-ssl-strict", zone_setting("always_use_https", "off")) == []


def test_https_only() -> None:
    p = "cloudflare-https-only"
    assert check(p, zone_setting("always_use_https", "on")) == []
    assert len(check(p, zone_setting("always_use_https", "off"))) == 1
    assert check(p, zone_setting("min_tls_version", "1.2")) == []
    assert check(p, zone_setting("min_tls_version", "1.3")) == []
    assert len(check(p, zone_setting("min_tls_version", "1.1"))) == 1
    assert len(check(p, zone_setting("min_tls_version", "1.0"))) == 1
    assert len(check(p, zone_setting("min_tls_version", "1.3"), {"minTlsVersion": "1.4"})) == 1
    assert check(p, zone_setting("min_tls_version", "[unknown]")) == []
    assert check(p, zone_setting("always_use_https", "[unknown]")) == []
    assert check(p, zone_setting("ssl", "strict")) == []


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
    assert check(p, dns(proxied="[unknown]")) == []
    assert check(p, dns(name="[unknown]", proxied=False)) == []
    legacy = resource("cloudflare:index/record:Record", "r", {"name": "x", "type": "A", "proxied": False})
    assert len(check(p, legacy)) == 1
