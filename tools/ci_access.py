"""Open and close the Kubernetes API (6443) to one CI runner, through the stack's ci-access firewall.

    HCLOUD_TOKEN=... tools/ci_access.py open  --stack prod [--ip ADDR]
    HCLOUD_TOKEN=... tools/ci_access.py close --stack prod

`components/firewall.py` creates the Hetzner firewall `honeydue-<environment>-ci-access` and
leaves its rules to this script (`ignore_changes=["rules"]`). `open` adds ONE rule: TCP 6443 from
the runner's own public address (/32 or /128), described `ci <run id> until <unix time>`; `close`
removes that rule again and runs in an `if: always()` step. Why this way: docs/runbook.md.

Hetzner only offers `set_rules` (replace the whole list), so both commands read the list, change
their own rule only, write it back and read again until the result holds: two runs that overlap
(a preview and a deploy of the same stack) each keep the other's rule. Every write also drops
rules whose time is up, so a runner that died before `close` leaves a rule for at most TTL.
"""

from __future__ import annotations

import argparse
import ipaddress
import json
import os
import re
import sys
import time
import urllib.parse
import urllib.request
from collections.abc import Callable
from pathlib import Path
from typing import Any

import yaml

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from components.firewall import KUBE_API_PORT, ci_access_firewall_name  # noqa: E402

API = "https://api.hetzner.cloud/v1"
# Cloudflare's trace endpoint echoes the caller's address (`ip=...`); the edge already trusts
# Cloudflare, so this adds no new third party to the path.
TRACE_URL = "https://1.1.1.1/cdn-cgi/trace"
# A run longer than this loses its rule to the next run's clean-up (GitHub's job limit is 6 h;
# the deploy job's timeout-minutes is well under this).
DEFAULT_TTL_SECONDS = 2 * 3600
_DESCRIPTION = re.compile(r"^ci (?P<tag>\S+) until (?P<until>\d+)$")


class CiAccessError(RuntimeError):
    """The firewall could not be brought to the wanted state; the message says what was seen."""


# --- pure rule-list edits (tests call these directly) -------------------------------------------


def runner_cidr(address: str) -> str:
    """The runner's address as a host CIDR; refuses anything that is not a single public address."""
    try:
        ip = ipaddress.ip_address(address.strip())
    except ValueError:
        raise CiAccessError(f"runner address {address!r} is not an IP address") from None
    if not ip.is_global:
        raise CiAccessError(f"runner address {ip} is not a public address")
    return f"{ip}/{ip.max_prefixlen}"


def ci_rule(cidr: str, tag: str, until: int) -> dict[str, Any]:
    """The Hetzner API form of this run's rule."""
    return {
        "direction": "in",
        "protocol": "tcp",
        "port": KUBE_API_PORT,
        "source_ips": [cidr],
        "description": f"ci {tag} until {until}",
    }


def _tag_and_until(rule: dict[str, Any]) -> tuple[str, int] | None:
    match = _DESCRIPTION.match(str(rule.get("description") or ""))
    return (match["tag"], int(match["until"])) if match else None


def _keep(rule: dict[str, Any], tag: str, now: int) -> bool:
    """Rules of other live runs stay; this run's rule and any expired CI rule go."""
    parsed = _tag_and_until(rule)
    return parsed is None or (parsed[0] != tag and parsed[1] > now)


def with_rule(rules: list[dict[str, Any]], rule: dict[str, Any], now: int) -> list[dict[str, Any]]:
    tag = _tag_and_until(rule)
    assert tag is not None, "ci_rule() makes the description"
    return [r for r in rules if _keep(r, tag[0], now)] + [rule]


def without_rule(rules: list[dict[str, Any]], tag: str, now: int) -> list[dict[str, Any]]:
    return [r for r in rules if _keep(r, tag, now)]


def has_rule(rules: list[dict[str, Any]], tag: str) -> bool:
    return any((parsed := _tag_and_until(r)) is not None and parsed[0] == tag for r in rules)


# --- Hetzner API --------------------------------------------------------------------------------


class Hetzner:
    def __init__(self, token: str, api: str = API, timeout: float = 30.0) -> None:
        self._token, self._api, self._timeout = token, api.rstrip("/"), timeout

    def _call(self, method: str, path: str, body: dict[str, Any] | None = None) -> dict[str, Any]:
        request = urllib.request.Request(
            self._api + path,
            method=method,
            data=None if body is None else json.dumps(body).encode(),
            headers={"Authorization": f"Bearer {self._token}", "Content-Type": "application/json"},
        )
        with urllib.request.urlopen(request, timeout=self._timeout) as response:
            answer: dict[str, Any] = json.load(response)
        return answer

    def firewall(self, name: str) -> dict[str, Any]:
        found = self._call("GET", "/firewalls?" + urllib.parse.urlencode({"name": name})).get("firewalls") or []
        if len(found) != 1:
            raise CiAccessError(f"expected one firewall named {name!r}, found {len(found)} (has `pulumi up` run?)")
        firewall: dict[str, Any] = found[0]
        return firewall

    def set_rules(self, firewall_id: int, rules: list[dict[str, Any]], wait_seconds: float = 120.0) -> None:
        """Replace the rules and wait until Hetzner has applied them to every attached server."""
        actions = self._call("POST", f"/firewalls/{firewall_id}/actions/set_rules", {"rules": rules}).get("actions")
        deadline = time.monotonic() + wait_seconds
        for action in actions or []:
            while action.get("status") == "running":
                if time.monotonic() > deadline:
                    raise CiAccessError(f"set_rules action {action.get('id')} still running after {wait_seconds}s")
                time.sleep(1)
                action = self._call("GET", f"/actions/{action['id']}")["action"]
            if action.get("status") != "success":
                raise CiAccessError(f"set_rules action {action.get('id')} ended {action.get('status')}: {action}")


def converge(
    api: Hetzner, name: str, edit: Callable[[list[dict[str, Any]]], list[dict[str, Any]]], done: Callable[[Any], bool]
) -> None:
    """Read, edit, write, re-read: retried while another run's write got in between."""
    for attempt in range(5):
        firewall = api.firewall(name)
        rules = firewall.get("rules") or []
        wanted = edit(rules)
        if done(rules) and wanted == rules:
            return
        api.set_rules(int(firewall["id"]), wanted)
        if done(api.firewall(name).get("rules") or []):
            return
        time.sleep(1 + attempt)
    raise CiAccessError(f"firewall {name!r} did not keep the change after 5 attempts")


def environment_of(stack: str) -> str:
    """`honeydue:environment` of `Pulumi.<stack>.yaml` (the firewall's name is built from it)."""
    path = ROOT / f"Pulumi.{stack}.yaml"
    if not path.is_file():
        raise CiAccessError(f"no stack file {path.name}")
    value = ((yaml.safe_load(path.read_text()) or {}).get("config") or {}).get("honeydue:environment")
    if not isinstance(value, str) or not value:
        raise CiAccessError(f"{path.name} sets no honeydue:environment")
    return value


def run_tag(env: dict[str, str]) -> str:
    """One tag per workflow run attempt and job, so parallel jobs of one run do not collide."""
    parts = [env.get("GITHUB_RUN_ID", "local"), env.get("GITHUB_RUN_ATTEMPT", "1"), env.get("GITHUB_JOB", "job")]
    return re.sub(r"[^A-Za-z0-9._-]", "_", "-".join(parts))


def public_address(url: str = TRACE_URL) -> str:
    with urllib.request.urlopen(url, timeout=15) as response:
        text: str = response.read().decode()
    for line in text.splitlines():
        if line.startswith("ip="):
            return line[3:]
    raise CiAccessError(f"{url} did not report the caller's address")


def main(argv: list[str] | None = None, env: dict[str, str] | None = None) -> int:
    env = dict(os.environ) if env is None else env
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("command", choices=("open", "close"))
    parser.add_argument("--stack", required=True)
    parser.add_argument("--ip", help="the runner's public address (default: asked from Cloudflare's trace)")
    parser.add_argument("--ttl", type=int, default=DEFAULT_TTL_SECONDS)
    args = parser.parse_args(argv)
    token = env.get("HCLOUD_TOKEN", "")
    try:
        if not token:
            raise CiAccessError("HCLOUD_TOKEN is not set")
        api = Hetzner(token, env.get("HCLOUD_ENDPOINT", API))
        name = ci_access_firewall_name(environment_of(args.stack))
        tag = run_tag(env)
        now = int(time.time())
        if args.command == "open":
            cidr = runner_cidr(args.ip or public_address())
            rule = ci_rule(cidr, tag, now + args.ttl)
            converge(api, name, lambda rules: with_rule(rules, rule, now), lambda rules: has_rule(rules, tag))
            print(f"ci_access: {name}: 6443 open to {cidr} ({rule['description']})")
        else:
            converge(api, name, lambda rules: without_rule(rules, tag, now), lambda rules: not has_rule(rules, tag))
            print(f"ci_access: {name}: rule of {tag} removed")
    except (CiAccessError, OSError) as exc:  # urllib's errors are OSErrors
        print(f"ci_access: {exc}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
