"""CI access to the Kubernetes API: tools/ci_access.py against a local fake of the Hetzner API (real
HTTP, real JSON). The Pulumi side (a ci-access firewall whose rules Pulumi leaves alone) is in
tests/test_firewall.py."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlparse

import pytest

from tools import ci_access

RUNNER = "203.0.113.9"  # TEST-NET-3 is not global; the tests pass a global address below
GLOBAL_RUNNER = "20.57.1.2"


# --- pure rule edits ----------------------------------------------------------------------------


def test_runner_cidr_accepts_one_public_address_only() -> None:
    assert ci_access.runner_cidr(GLOBAL_RUNNER) == f"{GLOBAL_RUNNER}/32"
    assert ci_access.runner_cidr("2a01:4f8::1") == "2a01:4f8::1/128"
    for bad in ("10.0.0.1", RUNNER, "0.0.0.0", "20.0.0.0/8", "not-an-ip", ""):
        with pytest.raises(ci_access.CiAccessError):
            ci_access.runner_cidr(bad)


def test_rule_edits_keep_other_runs_and_drop_expired_ones() -> None:
    other = ci_access.ci_rule("20.0.0.1/32", "other", until=2000)
    expired = ci_access.ci_rule("20.0.0.2/32", "stale", until=999)
    foreign = {"direction": "in", "protocol": "icmp", "source_ips": ["0.0.0.0/0"], "description": "hand-made"}
    mine = ci_access.ci_rule("20.0.0.3/32", "mine", until=3000)
    opened = ci_access.with_rule([other, expired, foreign], mine, now=1000)
    assert opened == [other, foreign, mine]
    assert ci_access.with_rule(opened, mine, now=1000) == opened  # idempotent
    assert mine["port"] == "6443" and mine["protocol"] == "tcp"
    closed = ci_access.without_rule(opened, "mine", now=1000)
    assert closed == [other, foreign]
    assert ci_access.has_rule(opened, "mine") and not ci_access.has_rule(closed, "mine")


# --- against a fake Hetzner API -----------------------------------------------------------------


class FakeHetzner:
    """Just the endpoints the tool calls, with Hetzner's shapes; records every set_rules body."""

    def __init__(self, name: str) -> None:
        self.firewall: dict[str, Any] = {"id": 4711, "name": name, "rules": []}
        self.writes: list[list[dict[str, Any]]] = []
        self.token_seen: list[str] = []
        self.interfere: list[dict[str, Any]] = []  # rules "another run" adds right after our write
        self.lose_writes = False  # another run always overwrites ours

    def handler(self) -> type[BaseHTTPRequestHandler]:
        fake = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args: Any) -> None:
                pass

            def _send(self, body: dict[str, Any], code: int = 200) -> None:
                data = json.dumps(body).encode()
                self.send_response(code)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def do_GET(self) -> None:
                fake.token_seen.append(self.headers.get("Authorization", ""))
                url = urlparse(self.path)
                if url.path == "/v1/firewalls":
                    names = parse_qs(url.query).get("name", [])
                    hits = [fake.firewall] if names == [fake.firewall["name"]] else []
                    self._send({"firewalls": hits})
                elif url.path == "/v1/actions/1":
                    self._send({"action": {"id": 1, "status": "success"}})
                else:
                    self._send({"error": {"code": "not_found"}}, 404)

            def do_POST(self) -> None:
                body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
                if self.path != "/v1/firewalls/4711/actions/set_rules":
                    self._send({"error": {"code": "not_found"}}, 404)
                    return
                fake.writes.append(body["rules"])
                if not fake.lose_writes:
                    fake.firewall["rules"] = body["rules"] + fake.interfere
                fake.interfere = []
                self._send({"actions": [{"id": 1, "status": "running"}]}, 201)

        return Handler


@pytest.fixture
def hetzner() -> Iterator[tuple[FakeHetzner, dict[str, str]]]:
    fake = FakeHetzner(f"honeydue-{ci_access.environment_of('staging')}-ci-access")
    server = ThreadingHTTPServer(("127.0.0.1", 0), fake.handler())
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    env = {
        "HCLOUD_TOKEN": "t0ken",
        "HCLOUD_ENDPOINT": f"http://127.0.0.1:{server.server_address[1]}/v1",
        "GITHUB_RUN_ID": "42",
        "GITHUB_RUN_ATTEMPT": "1",
        "GITHUB_JOB": "preview",
    }
    yield fake, env
    server.shutdown()


def test_open_then_close_leaves_other_rules(hetzner: tuple[FakeHetzner, dict[str, str]]) -> None:
    fake, env = hetzner
    other = ci_access.ci_rule("20.0.0.1/32", "99-1-deploy", until=2**40)
    fake.firewall["rules"] = [other]
    assert ci_access.main(["open", "--stack", "staging", "--ip", GLOBAL_RUNNER], env) == 0
    (mine,) = [r for r in fake.firewall["rules"] if r is not other and r != other]
    assert mine["source_ips"] == [f"{GLOBAL_RUNNER}/32"] and mine["port"] == "6443"
    assert mine["description"].startswith("ci 42-1-preview until ")
    assert fake.token_seen and set(fake.token_seen) == {"Bearer t0ken"}
    assert ci_access.main(["close", "--stack", "staging"], env) == 0
    assert fake.firewall["rules"] == [other]


def test_close_retries_when_another_write_resurrects_the_rule(hetzner: tuple[FakeHetzner, dict[str, str]]) -> None:
    fake, env = hetzner
    mine = ci_access.ci_rule(f"{GLOBAL_RUNNER}/32", "42-1-preview", until=2**40)
    fake.firewall["rules"] = [mine]
    fake.interfere = [mine]  # a concurrent read-modify-write wrote our rule back once
    assert ci_access.main(["close", "--stack", "staging"], env) == 0
    assert len(fake.writes) == 2 and fake.firewall["rules"] == []


def test_fails_loudly_without_token_or_firewall(hetzner: tuple[FakeHetzner, dict[str, str]]) -> None:
    fake, env = hetzner
    assert ci_access.main(["open", "--stack", "staging", "--ip", GLOBAL_RUNNER], {**env, "HCLOUD_TOKEN": ""}) == 1
    fake.firewall["name"] = "someone-else"
    assert ci_access.main(["open", "--stack", "staging", "--ip", GLOBAL_RUNNER], env) == 1
    assert ci_access.main(["open", "--stack", "nope", "--ip", GLOBAL_RUNNER], env) == 1
    assert not fake.writes


def test_close_without_a_rule_writes_nothing(hetzner: tuple[FakeHetzner, dict[str, str]]) -> None:
    fake, env = hetzner
    assert ci_access.main(["close", "--stack", "staging"], env) == 0
    assert fake.writes == []


def test_gives_up_when_the_change_never_holds(
    hetzner: tuple[FakeHetzner, dict[str, str]], monkeypatch: pytest.MonkeyPatch
) -> None:
    fake, env = hetzner
    fake.lose_writes = True
    monkeypatch.setattr(ci_access.time, "sleep", lambda _s: None)
    assert ci_access.main(["open", "--stack", "staging", "--ip", GLOBAL_RUNNER], env) == 1
    assert len(fake.writes) == 5
