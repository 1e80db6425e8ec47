"""Class 3 (firewall unions, unreadable rules, bypass paths) and class 8a (attached firewalls).

The union rule also has a property-based test in test_firewall_union.py."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from .lib import (
    CLOUDFLARE,
    CLOUDFLARE_FIXTURE,
    check,
    check_stack,
    firewall,
    helm_chart_config,
    resource,
    server,
    service,
    urn,
)

ADMIN = "firewall-no-world-admin-ports"
WEB = "firewall-web-from-cloudflare-only"
BYPASS = "no-firewall-bypass"
G = "servers-guarded"
CF = {"cloudflareRangesSource": str(CLOUDFLARE_FIXTURE)}
PROD = {"requireProtection": True}
HALVES4 = ["0.0.0.0/1", "128.0.0.0/1"]
HALVES6 = ["::/1", "8000::/1"]
SLASH8S = [f"{i}.0.0.0/8" for i in range(1, 224)]  # every unicast /8 but 0/8: not literally 0.0.0.0/0


def rule(port: Any, sources: Any, protocol: Any = "tcp", direction: Any = "in") -> dict[str, Any]:
    r: dict[str, Any] = {"direction": direction, "protocol": protocol, "sourceIps": sources}
    if port is not None:
        r["port"] = port
    return r


def named_firewall(name: str, rules: list[dict[str, Any]]) -> dict[str, Any]:
    fw = firewall(rules)
    fw["name"] = name
    fw["urn"] = urn(fw["type"], name)
    fw["inputs"]["name"] = name
    return fw


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
        (rule("8080", ["0.0.0.0/0"]), "tcp 8080 is open"),  # not named, but not 80/443 either
        (rule("80-85", ["0.0.0.0/0"]), "tcp 80-85 is open"),  # 80 is a web port, 81-85 are not
        # The class: the world split so no single source is /0.
        (rule("22", HALVES4), "SSH 22"),
        (rule("6443", HALVES6), "Kubernetes API 6443"),
        (rule("22", SLASH8S), "SSH 22"),
        (rule("22", ["0.0.0.0/2", "64.0.0.0/2", "128.0.0.0/1"]), "SSH 22"),
        (rule("22", ["1.0.0.0/8", "2.0.0.0/8"]), "SSH 22"),  # two /8s: more than one /8 of the space
        (rule("1-65535", ["0.0.0.0/1", "128.0.0.0/1"], protocol="udp"), "kubelet 10250"),
        (rule(" ANY ", HALVES4), "SSH 22"),
        (rule(22, ["0.0.0.0/0"]), "SSH 22"),  # a number instead of Hetzner's string
    ],
)
def test_admin_ports_violations(r: dict[str, Any], expected: str) -> None:
    msgs = check(ADMIN, firewall([r]))
    assert msgs and expected in msgs[0], msgs


def test_union_across_rules_and_across_firewalls() -> None:
    # Per firewall: two rules, each half the world, on the same port.
    split = firewall([rule("22", ["0.0.0.0/1"]), rule("20-30", ["128.0.0.0/1"])])
    msgs = check(ADMIN, split)
    (ssh,) = [m for m in msgs if "tcp 22 (SSH 22)" in m]
    assert "100.0% of the IPv4 space" in ssh and "fw rule 0" in ssh and "fw rule 1" in ssh
    # Port 20-21 and 23-30 are covered by one half only: 50 % of the space still exceeds one /8.
    assert check(ADMIN, firewall([rule("20-30", ["128.0.0.0/1"])]))
    # Across firewalls: Hetzner applies every attached firewall, so two halves in two firewalls
    # (e.g. the CI firewall beside the cluster's) open SSH to the world too.
    a = named_firewall("cluster", [rule("22", ["0.0.0.0/1"])])
    b = named_firewall("ci", [rule("22", ["128.0.0.0/1"])])
    lenient = {"maxAdminSourcesIpv4Prefix": 1}  # one half of the space is allowed, not both
    assert check_stack(ADMIN, [a], lenient) == [] and check_stack(ADMIN, [b], lenient) == []
    out = check_stack(ADMIN, [a, b], lenient)
    assert len(out) == 1 and out[0][0].startswith("firewalls together") and out[0][1] == a["urn"]


def test_admin_ports_legitimate_neighbours() -> None:
    ok = [
        rule("22", ["198.51.100.7/32"]),
        rule("6443", ["198.51.100.7/32", "2001:db8:1234::/48"]),
        rule("22", ["0.0.0.0/0"], direction="out"),
        rule(None, ["0.0.0.0/0", "::/0"], protocol="icmp"),
        rule(None, ["0.0.0.0/0"], protocol="esp"),
        rule("443", ["0.0.0.0/0"]),  # world web ports are the other policy's business
        rule("80", HALVES4),
    ]
    assert check(ADMIN, firewall(ok)) == []
    assert check(ADMIN, firewall([rule("6443", ["10.0.0.0/8"])])) == []  # exactly one /8: the limit
    # A second firewall for CI: the CI runners' addresses on 6443 and SSH.
    ci = named_firewall(
        "ci-access", [rule("6443", ["203.0.113.0/24", "2001:db8:c1::/48"]), rule("22", ["203.0.113.0/24"])]
    )
    assert check_stack(ADMIN, [firewall(), ci], {"sshPort": 2222}) == []


def test_admin_ports_config_overrides() -> None:
    fw = firewall([rule("2222", ["0.0.0.0/0"])])
    assert "SSH 2222" in check(ADMIN, fw, {"sshPort": 2222})[0]
    assert "tcp 2222" in check(ADMIN, fw)[0]  # unnamed with the default sshPort, still refused
    assert check(ADMIN, firewall([rule("8080", ["0.0.0.0/0"])]), {"worldOpenPorts": [80, 443, 8080]}) == []
    # An admin port is never world-open, even when listed.
    assert check(ADMIN, firewall([rule("22", ["0.0.0.0/0"])]), {"worldOpenPorts": [22]}) != []
    # The size limit is configurable: /16 refuses a /12.
    assert check(ADMIN, firewall([rule("22", ["100.64.0.0/12"])])) == []
    assert check(ADMIN, firewall([rule("22", ["100.64.0.0/12"])]), {"maxAdminSourcesIpv4Prefix": 16}) != []


@pytest.mark.parametrize(
    "bad",
    [
        rule("[unknown]", ["0.0.0.0/0"]),
        rule("22", ["[unknown]"]),
        rule("22", "[unknown]"),
        rule("22", ["0.0.0.0/0"], protocol="[unknown]"),
        rule("22", ["0.0.0.0/0"], protocol="sctp"),
        rule("22", ["0.0.0.0/0"], direction="[unknown]"),
        rule("22", ["0.0.0.0/0"], direction="inbound"),
        rule("22,6443", ["198.51.100.7/32"]),
        rule("0-100", ["198.51.100.7/32"]),
        rule("99999", ["198.51.100.7/32"]),
        rule("30-20", ["198.51.100.7/32"]),
        rule("22", ["0.0.0.0/0 "[:-1] + "/33"]),
        rule("22", ["everyone"]),
        rule("22", "0.0.0.0/0"),  # a string, not a list
        rule(True, ["198.51.100.7/32"]),
        "[unknown]",
    ],
)
def test_unreadable_rules_fail_closed(bad: Any) -> None:
    msgs = check(ADMIN, firewall([bad]))
    assert len(msgs) == 1 and "fails closed" in msgs[0], msgs
    assert any("fails closed" in m for m in check(WEB, firewall([bad]), CF))
    assert check(ADMIN, firewall("[unknown]"))  # type: ignore[arg-type]


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
        rule("443", HALVES4),
        rule("443", ["0.0.0.0/0"], protocol="udp"),  # HTTP/3
    ],
)
def test_web_violations(r: dict[str, Any]) -> None:
    msgs = check(WEB, firewall([r]), CF)
    assert len(msgs) == 1 and "non-Cloudflare sources" in msgs[0]


def _ranges_file(tmp_path: Path, doc: object) -> dict[str, str]:
    path = tmp_path / "ranges.json"
    path.write_text(json.dumps(doc))
    return {"cloudflareRangesSource": str(path)}


def test_web_config_overrides(tmp_path: Path) -> None:
    world = firewall([rule("443", ["0.0.0.0/0"])])
    assert check(WEB, world, _ranges_file(tmp_path, {"ipv4": ["0.0.0.0/0"], "ipv6": []})) == []
    assert check(WEB, firewall([rule("8443", ["0.0.0.0/0"])]), {**CF, "webPorts": [80, 443]}) == []
    assert len(check(WEB, firewall([rule("8443", ["0.0.0.0/0"])]), {**CF, "webPorts": [8443]})) == 1


@pytest.mark.parametrize(
    "doc",
    [{"ipv4": [], "ipv6": []}, {"ipv4": ["not-a-cidr"]}, {"nothing": 1}, "[]"],
    ids=["empty", "malformed", "no-keys", "not-an-object"],
)
def test_web_unreadable_ranges_fail_closed(tmp_path: Path, doc: object) -> None:
    """An empty, malformed or missing list is never an open door."""
    msgs = check(WEB, firewall(), _ranges_file(tmp_path, doc))
    assert len(msgs) == 1 and "fails closed" in msgs[0], msgs
    missing = {"cloudflareRangesSource": str(tmp_path / "absent.json")}
    (msg,) = check(WEB, firewall(), missing)
    assert "cannot read Cloudflare's ranges" in msg and "fails closed" in msg


def test_web_follows_a_new_cloudflare_range(tmp_path: Path) -> None:
    """Cloudflare publishes a range; the firewall (built from the live list) follows it; the
    policy, reading the same live list, still passes it. Nothing in the pack's config changes."""
    new = "192.0.2.0/24"
    following = firewall([rule("443", [*CLOUDFLARE, new])])
    assert check(WEB, following, CF)  # against the old list it is refused...
    published = _ranges_file(tmp_path, {"ipv4": [*_v4(), new], "ipv6": _v6()})
    assert check(WEB, following, published) == []  # ...and passes once Cloudflare lists it


def _v4() -> list[str]:
    return [c for c in CLOUDFLARE if ":" not in c]


def _v6() -> list[str]:
    return [c for c in CLOUDFLARE if ":" in c]


def test_web_reads_cloudflare_api_format_over_https(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The default source is Cloudflare's API; its answer shape ({result: {ipv4_cidrs, ...}}) is
    parsed, over real HTTPS from a local server trusted through SSL_CERT_FILE."""
    import http.server
    import ssl
    import threading

    from policies.guardrails import firewall as fw
    from tests.test_readiness import _cert, _key, _pem

    ca_key, key = _key(), _key()
    ca = _cert("test-ca", ca_key, None)
    import ipaddress as ip

    from cryptography import x509

    leaf = _cert("localhost", key, (ca.subject, ca_key), san=[x509.IPAddress(ip.ip_address("127.0.0.1"))])
    (tmp_path / "server.pem").write_text(_pem(leaf) + _pem(key))
    (tmp_path / "ca.pem").write_text(_pem(ca))
    body = json.dumps({"result": {"ipv4_cidrs": _v4(), "ipv6_cidrs": _v6()}, "success": True}).encode()

    class Handler(http.server.BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            self.send_response(200)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args: object) -> None:
            pass

    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.load_cert_chain(tmp_path / "server.pem")
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    server.socket = context.wrap_socket(server.socket, server_side=True)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    monkeypatch.setenv("SSL_CERT_FILE", str(tmp_path / "ca.pem"))
    try:
        url = f"https://127.0.0.1:{server.server_address[1]}/client/v4/ips"
        assert fw._read_ranges(url) == CLOUDFLARE
        assert check(WEB, firewall(), {"cloudflareRangesSource": url}) == []
    finally:
        server.shutdown()
        server.server_close()


# --- no-firewall-bypass -----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("r", "expected"),
    [
        (
            resource("hcloud:index/loadBalancer:LoadBalancer", "lb", {"loadBalancerType": "lb11", "location": "fsn1"}),
            "load balancer",
        ),
        (
            resource("hcloud:index/loadBalancerService:LoadBalancerService", "lb-443", {"listenPort": 443}),
            "load balancer",
        ),
        (
            resource("hcloud:index/loadBalancerTarget:LoadBalancerTarget", "lb-t", {"type": "label_selector"}),
            "load balancer",
        ),
        (service(type_="LoadBalancer"), "type LoadBalancer"),
        (service(type_="NodePort"), "type NodePort"),
        (service(type_="[unknown]"), "fails closed"),
        (service(ports=[{"port": 80, "nodePort": 30080}]), "nodePort"),
        ({**service(type_="LoadBalancer"), "type": "kubernetes:core/v1:ServicePatch"}, "type LoadBalancer"),
        (helm_chart_config(values="service:\n  type: LoadBalancer\n"), "LoadBalancer Service"),
        (helm_chart_config(values="service:\n  spec:\n    type: NodePort\n"), "NodePort Service"),
        (helm_chart_config(values="service: [unclosed\n"), "fails closed"),
        (
            resource(
                "kubernetes:helm.sh/v3:Release",
                "ccm",
                {
                    "chart": "x",
                    "version": "1.0.0",
                    "namespace": "kube-system",
                    "values": {"metrics": {"service": {"type": "NodePort"}}},
                },
            ),
            "NodePort Service",
        ),
    ],
)
def test_bypass_caught(r: dict[str, Any], expected: str) -> None:
    msgs = check(BYPASS, r)
    assert len(msgs) == 1 and expected in msgs[0], msgs


def test_bypass_legitimate_neighbours() -> None:
    assert check(BYPASS, service()) == []
    assert check(BYPASS, service(type_=None)) == []  # the default is ClusterIP
    assert check(BYPASS, service(type_="ClusterIP", clusterIP="None")) == []
    assert check(BYPASS, helm_chart_config()) == []  # Traefik: hostNetwork, service disabled
    assert check(BYPASS, helm_chart_config(values="service:\n  type: ClusterIP\n")) == []
    # A reviewed exception, by namespace/name.
    assert check(BYPASS, service(type_="NodePort"), {"allowedServices": ["honeydue/api"]}) == []
    assert check(BYPASS, service("other", type_="NodePort"), {"allowedServices": ["honeydue/api"]}) != []


# --- servers-guarded --------------------------------------------------------------------------


def test_servers_guarded_compliant() -> None:
    assert check(G, server(), PROD) == []


@pytest.mark.parametrize(
    ("change", "expected"),
    [
        (lambda s: s["inputs"].__setitem__("firewallIds", []), "no firewall attached"),
        (lambda s: s["inputs"].pop("firewallIds"), "no firewall attached"),
        (lambda s: s["inputs"].__setitem__("firewallIds", "[unknown]"), "firewallIds is not known"),
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
    assert len(msgs) == 1 and expected in msgs[0], msgs


def test_servers_guarded_protection_only_when_required() -> None:
    s = server()
    s["options"]["protect"] = False
    s["inputs"]["deleteProtection"] = s["inputs"]["rebuildProtection"] = False
    assert check(G, s) == [] and check(G, s, {"requireProtection": False}) == []
    assert len(check(G, s, PROD)) == 3
    s["options"]["ignoreChanges"] = ["user_data"]  # the snake_case spelling counts too
    assert check(G, s) == []


def bare_server(labels: dict[str, str] | None = None) -> dict[str, Any]:
    s = server()
    del s["inputs"]["firewallIds"]
    if labels is not None:
        s["inputs"]["labels"] = labels
    return s


def test_firewall_attached_other_ways_counts() -> None:
    """Class 8: a FirewallAttachment, or a Firewall's applyTos, attaches a firewall too."""
    s = bare_server({"cluster": "honeydue", "role": "server"})
    assert check_stack(G, [s]) != []
    by_id = resource(
        "hcloud:index/firewallAttachment:FirewallAttachment", "fw-att", {"firewallId": 1, "serverIds": [11]}
    )
    by_id["dependencies"] = [s["urn"]]  # server_ids=[server.id.apply(int)]
    assert check_stack(G, [s, by_id]) == []
    for selector in ("cluster=honeydue", "cluster==honeydue,role", "role in (server, agent)", "!gpu", "role!=agent"):
        att = resource(
            "hcloud:index/firewallAttachment:FirewallAttachment",
            "fw-att",
            {"firewallId": 1, "labelSelectors": [selector]},
        )
        assert check_stack(G, [s, att]) == [], selector
        fw = firewall()
        fw["inputs"]["applyTos"] = [{"labelSelector": selector}]
        assert check_stack(G, [s, fw]) == [], selector
    fw = firewall()
    fw["inputs"]["applyTos"] = [{"server": 11}]
    fw["dependencies"] = [s["urn"]]
    assert check_stack(G, [s, fw]) == []
    # A computed firewallIds is readable through its dependency on the firewall.
    computed = server()
    computed["inputs"]["firewallIds"] = ["[unknown]"]
    computed["dependencies"] = [firewall()["urn"]]
    assert check_stack(G, [computed, firewall()]) == []


def test_firewall_attachments_that_do_not_reach_the_server() -> None:
    s = bare_server({"cluster": "honeydue", "role": "server"})
    other = bare_server()
    other["urn"] = urn(other["type"], "other")
    for selector in ("cluster=staging", "role notin (server)", "gpu", "cluster=honeydue,role=agent", "(((", ""):
        att = resource(
            "hcloud:index/firewallAttachment:FirewallAttachment",
            "fw-att",
            {"firewallId": 1, "labelSelectors": [selector]},
        )
        assert len(check_stack(G, [s, att])) == 1, selector
    att = resource("hcloud:index/firewallAttachment:FirewallAttachment", "fw-att", {"firewallId": 1, "serverIds": [12]})
    att["dependencies"] = [other["urn"]]  # attaches the other server only
    out = check_stack(G, [s, other, att])
    assert [u for _, u in out] == [s["urn"]]
