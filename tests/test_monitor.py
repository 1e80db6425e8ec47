"""The uptime monitor: rendered configs through the real tools, its installer and heartbeat
receiver run for real, its cloud-init through cloud-init's schemas, and the component in the
mock runtime (location, firewall, switch, hostnames, secrets).

The tools are Debian 13's own builds (what the monitor installs at boot), unpacked by
tools/validators.sh into $HONEYDUE_CACHE/monitor-tools/: promtool 2.53, amtool 0.28 and
prometheus-blackbox-exporter 0.26.
"""

from __future__ import annotations

import base64
import gzip
import http.server
import json
import os
import socket
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest
import yaml

from components import uptime
from components.cloud_init_base import HostBootstrap
from components.config import ConfigError, load_config
from components.config.monitor import SlowSeconds, Smtp
from components.uptime import MonitorSecrets, MonitorSpec
from tests.test_cloud_init import _CACHE, _CLOUD_INIT_CHECK, MISSING, SYSTEM_PYTHON, _check_jsonschema, _shellcheck
from tools import mockrt

TOOLS = _CACHE / "monitor-tools"
PROMTOOL = TOOLS / "promtool" / "usr" / "bin" / "promtool"
AMTOOL = TOOLS / "prometheus-alertmanager" / "usr" / "bin" / "amtool"
BLACKBOX = TOOLS / "prometheus-blackbox-exporter" / "usr" / "bin" / "prometheus-blackbox-exporter"
TEMPLATES = Path(uptime.__file__).resolve().parent / "templates" / "monitor"
SERVER = "hcloud:index/server:Server"
FIREWALL = "hcloud:index/firewall:Firewall"
CA_PEM = "-----BEGIN CERTIFICATE-----\nMIIBfake\n-----END CERTIFICATE-----\n"
SECRETS = MonitorSecrets(
    smtp_password="smtp-secret-1234",
    webhook_url="https://hooks.slack.com/services/T000/B000/XXXXsecret",
    watchdog_token="watchdog-token-abcdef",
    kube_api_ca_pem=CA_PEM,
)
SPEC = MonitorSpec(
    environment="prod",
    api_hostname="api.myhoneydue.com",
    admin_hostname="admin.myhoneydue.com",
    extra_hostnames=("myhoneydue.com", "www.myhoneydue.com"),
    kube_api_hostname="k8s.myhoneydue.com",
    thresholds=SlowSeconds.of({"api": 1.0, "pages": 3.0, "kubeApi": 1.0}),
    cert_warning_days=14,
    smtp=Smtp.of(
        {
            "smarthost": "smtp.fastmail.com:587",
            "from": "monitor@myhoneydue.com",
            "username": "monitor@myhoneydue.com",
            "to": ["ops@myhoneydue.com"],
        }
    ),
    cluster_watchdog=True,
    watchdog_minutes=10,
)
HOST = HostBootstrap(
    hostname="honeydue-prod-monitor",
    ssh_port=2222,
    admin_user="ops",
    ssh_authorized_keys=("ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIHd0ZmFrZWtleWZvcnRlc3RzMDEyMzQ1Njc4 ops@honeydue",),
)


def _tool(path: Path) -> str:
    if not path.exists():
        pytest.fail(MISSING.format(path))
    return str(path)


def _unpack(bundle: str, root: Path) -> dict[str, dict[str, str]]:
    files = {f["path"]: f for f in json.loads(bundle)["files"]}
    for path, f in files.items():
        target = root / path.lstrip("/")
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(f["content"])
    return files


def _run(*argv: str, **kw: Any) -> subprocess.CompletedProcess[str]:
    return subprocess.run(list(argv), capture_output=True, text=True, check=False, timeout=60, **kw)


@pytest.fixture(scope="module")
def rendered(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("bundle")
    _unpack(uptime.render_bundle(SPEC, SECRETS), root)
    return root / "etc" / "prometheus"


# ------------------------------------------------------------------------------ real checkers


def test_prometheus_config_and_rules_pass_promtool(rendered: Path) -> None:
    proc = _run(_tool(PROMTOOL), "check", "config", "--lint-fatal", str(rendered / "prometheus.yml"))
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "1 rule files found" in proc.stdout
    proc = _run(_tool(PROMTOOL), "check", "rules", "--lint-fatal", str(rendered / "honeydue-rules.yml"))
    assert proc.returncode == 0, proc.stdout + proc.stderr
    # EndpointDown, 5 x EndpointSlow, CertificateExpiresSoon, ClusterWatchdogMissing
    assert "SUCCESS: 8 rules found" in proc.stdout


def test_alertmanager_and_blackbox_configs_pass_their_own_checks(rendered: Path) -> None:
    proc = _run(_tool(AMTOOL), "check-config", str(rendered / "alertmanager.yml"))
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "1 receivers" in proc.stdout
    proc = _run(_tool(BLACKBOX), "--config.check", "--config.file", str(rendered / "blackbox.yml"))
    assert proc.returncode == 0, proc.stdout + proc.stderr


def test_the_checkers_reject_broken_configs(tmp_path: Path) -> None:
    """The tools do fail: a typo in each file is caught."""
    prom = uptime.render_prometheus(SPEC)
    prom["scrape_configs"][0]["scrape_intervall"] = "1m"
    (tmp_path / "prometheus.yml").write_text(yaml.safe_dump(prom))
    (tmp_path / "honeydue-rules.yml").write_text(yaml.safe_dump(uptime.render_rules(SPEC)))
    assert _run(_tool(PROMTOOL), "check", "config", str(tmp_path / "prometheus.yml")).returncode != 0
    rules = uptime.render_rules(SPEC)
    rules["groups"][0]["rules"][0]["expr"] = "probe_success{ == 0"
    (tmp_path / "bad-rules.yml").write_text(yaml.safe_dump(rules))
    assert _run(_tool(PROMTOOL), "check", "rules", str(tmp_path / "bad-rules.yml")).returncode != 0
    am = uptime.render_alertmanager(SPEC)
    am["route"]["reciever"] = "operators"
    (tmp_path / "am.yml").write_text(yaml.safe_dump(am))
    assert _run(_tool(AMTOOL), "check-config", str(tmp_path / "am.yml")).returncode != 0
    bb = uptime.render_blackbox()
    bb["modules"]["http_2xx"]["http"]["valid_status_code"] = [200]
    (tmp_path / "bb.yml").write_text(yaml.safe_dump(bb))
    assert _run(_tool(BLACKBOX), "--config.check", "--config.file", str(tmp_path / "bb.yml")).returncode != 0


RULE_TESTS = """
rule_files: [honeydue-rules.yml]
evaluation_interval: 1m
tests:
  - interval: 1m
    input_series:
      - series: 'probe_success{job="blackbox-http_2xx", check="api-health", instance="https://api.myhoneydue.com/api/health/"}'
        values: '1 1 0 0 0 0 0'
      - series: 'probe_duration_seconds{job="blackbox-http_2xx", check="api-health", instance="https://api.myhoneydue.com/api/health/"}'
        values: '0.2 0.2 1.5 1.5 1.5 1.5 1.5 1.5 1.5 1.5'
      - series: 'probe_duration_seconds{job="blackbox-http_2xx", check="admin", instance="https://admin.myhoneydue.com/"}'
        values: '1.5 1.5 1.5 1.5 1.5 1.5 1.5 1.5 1.5 1.5'
      # 13 days left on one certificate, 30 on another
      - series: 'probe_ssl_earliest_cert_expiry{job="blackbox-http_2xx", check="admin", instance="https://admin.myhoneydue.com/"}'
        values: '1123200+0x30'
      - series: 'probe_ssl_earliest_cert_expiry{job="blackbox-http_2xx", check="api-health", instance="https://api.myhoneydue.com/api/health/"}'
        values: '2592000+0x30'
      # the Watchdog arrived at t=0 and then stopped
      - series: 'honeydue_watchdog_last_received_timestamp_seconds{job="watchdog-receiver"}'
        values: '0+0x30'
    alert_rule_test:
      - eval_time: 5m
        alertname: EndpointDown
        exp_alerts:
          - exp_labels: {severity: critical, job: blackbox-http_2xx, check: api-health, instance: "https://api.myhoneydue.com/api/health/"}
            exp_annotations: {summary: "api-health (https://api.myhoneydue.com/api/health/) fails its probe"}
      - eval_time: 9m
        alertname: EndpointSlow
        exp_alerts:
          - exp_labels: {severity: warning, job: blackbox-http_2xx, check: api-health, instance: "https://api.myhoneydue.com/api/health/"}
            exp_annotations:
              summary: "api-health answers slower than 1s"
              description: "https://api.myhoneydue.com/api/health/ took 1.5s"
      - eval_time: 15m
        alertname: CertificateExpiresSoon
        exp_alerts:
          - exp_labels: {severity: warning, job: blackbox-http_2xx, check: admin, instance: "https://admin.myhoneydue.com/"}
            exp_annotations: {summary: "certificate of https://admin.myhoneydue.com/ expires in 12.99 days"}
      - eval_time: 8m
        alertname: ClusterWatchdogMissing
        exp_alerts: []
      - eval_time: 13m
        alertname: ClusterWatchdogMissing
        exp_alerts:
          - exp_labels: {severity: critical, job: watchdog-receiver}
            exp_annotations:
              summary: "no Watchdog from the prod cluster's Alertmanager for 10 minutes: its monitoring (or the cluster) is down"
"""


def test_alert_rules_fire_as_intended(rendered: Path) -> None:
    """promtool's rule unit tests: down after 2 m, slow above the threshold (admin's 1.5 s is
    under its 3 s), certificate under 14 days, Watchdog older than 10 minutes."""
    (rendered / "rules-test.yml").write_text(RULE_TESTS)
    proc = _run(_tool(PROMTOOL), "test", "rules", str(rendered / "rules-test.yml"))
    assert proc.returncode == 0, proc.stdout + proc.stderr


def test_endpoints_and_thresholds_follow_the_spec() -> None:
    prom = uptime.render_prometheus(SPEC)
    targets = {
        t["labels"]["check"]: t["targets"][0]
        for job in prom["scrape_configs"]
        for t in job.get("static_configs", [])
        if "labels" in t
    }
    assert targets == {
        "api-health": "https://api.myhoneydue.com/api/health/",
        "admin": "https://admin.myhoneydue.com/",
        "page-myhoneydue.com": "https://myhoneydue.com/",
        "page-www.myhoneydue.com": "https://www.myhoneydue.com/",
        "kube-api": "https://k8s.myhoneydue.com:6443/readyz",
    }
    assert all(job["scrape_interval"] == "1m" for job in prom["scrape_configs"] if "params" in job)
    slow = {
        r["labels"]["check"]: r["expr"]
        for r in uptime.render_rules(SPEC)["groups"][0]["rules"]
        if r["alert"] == "EndpointSlow"
    }
    assert slow["api-health"].endswith("> 1") and slow["admin"].endswith("> 3")
    off = replace(SPEC, cluster_watchdog=False)
    assert "watchdog-receiver" not in json.dumps(uptime.render_prometheus(off))
    assert "ClusterWatchdogMissing" not in json.dumps(uptime.render_rules(off))


def test_alertmanager_sends_to_email_and_webhook_and_holds_no_secret() -> None:
    bundle = uptime.render_bundle(SPEC, SECRETS)
    files = {f["path"]: f for f in json.loads(bundle)["files"]}
    am = yaml.safe_load(files["/etc/prometheus/alertmanager.yml"]["content"])
    (receiver,) = am["receivers"]
    assert receiver["email_configs"][0]["to"] == "ops@myhoneydue.com"
    assert receiver["slack_configs"][0]["api_url_file"] == uptime.WEBHOOK_URL_FILE
    assert am["global"]["smtp_auth_password_file"] == uptime.SMTP_PASSWORD_FILE
    text = json.dumps(am)
    assert SECRETS.smtp_password not in text and SECRETS.webhook_url not in text
    for path, secret in (
        (uptime.SMTP_PASSWORD_FILE, SECRETS.smtp_password),
        (uptime.WEBHOOK_URL_FILE, SECRETS.webhook_url),
        (uptime.WATCHDOG_TOKEN_FILE, SECRETS.watchdog_token),
    ):
        assert files[path]["content"] == secret
        assert files[path]["mode"] == "0640" and files[path]["group"] == "prometheus"


# ------------------------------------------------------------------------------ the installer


def _apply(root: Path, bundle: str, base_env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    env = {
        "HONEYDUE_RESTART": "0",
        **(base_env or os.environ),
        "HONEYDUE_ROOT": str(root),
        "PROMTOOL": _tool(PROMTOOL),
        "AMTOOL": _tool(AMTOOL),
        "BLACKBOX": _tool(BLACKBOX),
    }
    script = TEMPLATES / "monitor-apply.py"
    return _run(sys.executable, str(script), "-", input=bundle, env=env)


def test_apply_installs_a_good_bundle_and_keeps_the_old_one_on_a_bad_one(tmp_path: Path) -> None:
    good = uptime.render_bundle(SPEC, SECRETS)
    proc = _apply(tmp_path, good)
    assert proc.returncode == 0, proc.stderr
    live = tmp_path / "etc" / "prometheus" / "prometheus.yml"
    before = live.read_text()
    assert "api.myhoneydue.com" in before
    assert oct((tmp_path / uptime.SMTP_PASSWORD_FILE.lstrip("/")).stat().st_mode & 0o777) == "0o640"
    # A new endpoint plus a broken Alertmanager route: nothing may change.
    doc = json.loads(uptime.render_bundle(replace(SPEC, api_hostname="api2.myhoneydue.com"), SECRETS))
    for f in doc["files"]:
        if f["path"] == "/etc/prometheus/alertmanager.yml":
            f["content"] = f["content"].replace("receiver: operators", "receiver: nobody", 1)
    proc = _apply(tmp_path, json.dumps(doc))
    assert proc.returncode != 0 and "amtool rejected the bundle" in proc.stderr
    assert live.read_text() == before
    # The same change without the break goes through.
    proc = _apply(tmp_path, uptime.render_bundle(replace(SPEC, api_hostname="api2.myhoneydue.com"), SECRETS))
    assert proc.returncode == 0, proc.stderr
    assert "api2.myhoneydue.com" in live.read_text()


def test_every_daemon_is_awaited_where_the_bundle_makes_it_listen() -> None:
    doc = json.loads(uptime.render_bundle(SPEC, SECRETS))
    args = " ".join(f["content"] for f in doc["files"] if f["path"].startswith("/etc/default/"))
    ready = doc["ready"]
    assert len(ready) == len(uptime.DAEMONS) + 1  # + the Watchdog receiver
    for url in ready:
        host_port = url.split("/")[2]
        assert host_port.startswith("127.0.0.1:")
        assert f"--web.listen-address={host_port}" in args or host_port == uptime.RECEIVER_METRICS, url


def test_apply_fails_when_a_restarted_daemon_does_not_answer(tmp_path: Path) -> None:
    # systemctl stands in (records its calls); the "daemon" is a local HTTP server.
    bindir = tmp_path / "bin"
    bindir.mkdir()
    calls = tmp_path / "systemctl.calls"
    (bindir / "systemctl").write_text(f'#!/bin/sh\necho "$*" >> {calls}\n')
    (bindir / "systemctl").chmod(0o755)

    class Ready(http.server.BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            self.send_response(200 if self.path == "/-/ready" else 404)
            self.end_headers()

        def log_message(self, format: str, *args: object) -> None:
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Ready)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    up = f"http://127.0.0.1:{server.server_address[1]}"
    try:
        doc = json.loads(uptime.render_bundle(SPEC, SECRETS))

        def apply(ready: list[str]) -> subprocess.CompletedProcess[str]:
            doc["ready"] = ready
            env = {**os.environ, "PATH": f"{bindir}:{os.environ['PATH']}", "HONEYDUE_RESTART": "1"}
            env["HONEYDUE_READY_SECONDS"] = "3"
            return _apply(tmp_path / "root", json.dumps(doc), env)

        proc = apply([f"{up}/-/ready"])
        assert proc.returncode == 0, proc.stderr
        assert "restart prometheus-blackbox-exporter" in calls.read_text()
        proc = apply([f"{up}/-/ready", f"{up}/-/dead"])
        assert proc.returncode != 0
        assert f"{up}/-/dead did not answer within 3s" in proc.stderr
    finally:
        server.shutdown()


def test_apply_refuses_paths_outside_etc(tmp_path: Path) -> None:
    bundle = json.dumps({"files": [{"path": "/etc/../root/.ssh/authorized_keys", "content": "x", "mode": "0600"}]})
    proc = _apply(tmp_path, bundle)
    assert proc.returncode != 0 and "refusing path" in proc.stderr


# ------------------------------------------------------------------------- heartbeat receiver


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture
def receiver(tmp_path: Path) -> Iterator[tuple[str, Path]]:
    token = tmp_path / "token"
    token.write_text("s3cret-token\n")
    state = tmp_path / "last"
    port = _free_port()
    proc = subprocess.Popen(
        [sys.executable, str(TEMPLATES / "watchdog-receiver.py"), "127.0.0.1", str(port), str(token), str(state)],
        stderr=subprocess.DEVNULL,
    )
    base = f"http://127.0.0.1:{port}"
    try:
        for _ in range(50):
            try:
                urllib.request.urlopen(base + "/metrics", timeout=1)
                break
            except OSError:
                time.sleep(0.1)
        yield base, state
    finally:
        proc.kill()
        proc.wait()


def _post(url: str, body: dict[str, Any], token: str) -> int:
    req = urllib.request.Request(
        url, data=json.dumps(body).encode(), headers={"Authorization": f"Bearer {token}"}, method="POST"
    )
    try:
        with urllib.request.urlopen(req, timeout=5) as resp:
            return int(resp.status)
    except urllib.error.HTTPError as err:
        return int(err.code)


WATCHDOG = {"version": "4", "status": "firing", "alerts": [{"status": "firing", "labels": {"alertname": "Watchdog"}}]}


def test_receiver_records_only_an_authenticated_watchdog(receiver: tuple[str, Path]) -> None:
    base, state = receiver
    metrics = urllib.request.urlopen(base + "/metrics").read().decode()
    assert not [m for m in metrics.splitlines() if m.startswith("honeydue_watchdog_last_received")]
    assert _post(base + "/watchdog", WATCHDOG, "wrong") == 401
    other = {"alerts": [{"status": "firing", "labels": {"alertname": "KubePodCrashLooping"}}]}
    assert _post(base + "/watchdog", other, "s3cret-token") == 422
    assert not state.exists()
    assert _post(base + "/watchdog", WATCHDOG, "s3cret-token") == 200
    metrics = urllib.request.urlopen(base + "/metrics").read().decode()
    (line,) = [m for m in metrics.splitlines() if m.startswith("honeydue_watchdog_last_received_timestamp_seconds ")]
    assert abs(float(line.split()[1]) - time.time()) < 10


# ------------------------------------------------------------------------------- cloud-init


def _user_data() -> str:
    return uptime.render_monitor_user_data(HOST, uptime.render_bundle(SPEC, SECRETS))


def _entries(text: str) -> dict[str, dict[str, Any]]:
    return {f["path"]: f for f in yaml.safe_load(text)["write_files"]}


def _content(entry: dict[str, Any]) -> str:
    if entry.get("encoding") == "gz+b64":
        return gzip.decompress(base64.b64decode(entry["content"])).decode()
    return str(entry["content"])


def test_monitor_user_data_passes_the_real_cloud_init_schemas(tmp_path: Path) -> None:
    path = tmp_path / "monitor.yaml"
    path.write_text(_user_data())
    strict_25 = _check_jsonschema(path)
    assert strict_25.returncode == 0, strict_25.stdout + strict_25.stderr
    strict_22 = _run(SYSTEM_PYTHON, "-c", _CLOUD_INIT_CHECK, str(path))
    assert strict_22.returncode == 0, strict_22.stderr
    (result,) = json.loads(strict_22.stdout).values()
    assert result["error"] is None
    # runcmd: the guard first, the monitor only if the guard is up
    assert "honeydue-metadata-guard.service" in result["runcmd"]
    assert '*metadata-guard*) echo "honeydue: the uptime monitor not installed' in result["runcmd"]


def test_monitor_scripts_pass_shellcheck(tmp_path: Path) -> None:
    setup = tmp_path / "setup.sh"
    setup.write_text(_content(_entries(_user_data())[uptime.SETUP_PATH]))
    proc = _shellcheck(setup)
    assert proc.returncode == 0, proc.stdout


def test_hardening_is_the_clusters_own_code() -> None:
    """The base entries of a monitor and of a K3s node with the same host values are identical,
    and only components/cloud_init_base.py reads the hardening templates."""
    from components.cloud_init import render_user_data
    from tests.test_cloud_init import make_real_nodes

    node = replace(
        make_real_nodes()[1],
        hostname=HOST.hostname,
        ssh_port=HOST.ssh_port,
        admin_user=HOST.admin_user,
        ssh_authorized_keys=HOST.ssh_authorized_keys,
    )
    k3s, monitor = _entries(render_user_data(node)), _entries(_user_data())
    from components import cloud_init_base as base

    shared = (
        base.SSHD_DROPIN_PATH,
        base.FAIL2BAN_JAIL_PATH,
        base.AUTO_UPGRADES_PATH,
        base.SECURITY_ONLY_PATH,
        base.METADATA_GUARD_RULES_PATH,
        base.METADATA_GUARD_UNIT_PATH,
        base.HARDEN_PATH,
    )
    for path in shared:
        assert monitor[path] == k3s[path], path
    k3s_doc, mon_doc = yaml.safe_load(render_user_data(node)), yaml.safe_load(_user_data())
    for key in ("users", "disable_root", "ssh_pwauth"):
        assert mon_doc[key] == k3s_doc[key]
    assert mon_doc["packages"] == k3s_doc["packages"]
    components = Path(base.__file__).resolve().parent
    readers = sorted(
        p.name
        for p in components.glob("*.py")
        if "sshd-hardening.conf" in p.read_text() or "harden.sh" in p.read_text()
    )
    assert readers == ["cloud_init_base.py"]


def test_every_monitor_daemon_requires_the_metadata_guard() -> None:
    entries = _entries(_user_data())
    for daemon in uptime.DAEMONS:
        dropin = entries[f"/etc/systemd/system/{daemon}.service.d/honeydue-guard.conf"]["content"]
        assert "Requires=honeydue-metadata-guard.service" in dropin
    unit = entries[f"/etc/systemd/system/{uptime.RECEIVER_UNIT}"]["content"]
    assert "Requires=honeydue-metadata-guard.service" in unit and f" {uptime.WATCHDOG_PORT} " in unit
    bundle = entries[uptime.BUNDLE_PATH]
    assert bundle["permissions"] == "0600"
    assert json.loads(_content(bundle)) == json.loads(uptime.render_bundle(SPEC, SECRETS))


# ------------------------------------------------------------------------------------ config


def _raw(stack: str = "prod", **monitor: Any) -> dict[str, Any]:
    raw = mockrt.stack_config(stack)
    if monitor:
        raw["monitor"] = {**raw["monitor"], **monitor}
    return raw


def test_monitor_config_prod_and_staging() -> None:
    settings = load_config(_raw()).monitor
    assert settings is not None and settings.location == "hel1" and settings.server_type == "cx23"
    slow = settings.slow_seconds
    assert (slow.api, slow.pages, settings.cert_warning_days) == (1.0, 3.0, 14)
    assert load_config(mockrt.stack_config("staging")).monitor is None


@pytest.mark.parametrize(
    ("change", "key", "message"),
    [
        ({"location": "fsn1"}, "monitor.location", "no cluster server uses (fsn1)"),
        ({"location": "mars1"}, "monitor.location", "one of fsn1"),
        ({"location": "ash"}, "monitor.location", "must be in network zone eu-central"),
        ({"privateIp": "10.0.1.11"}, "monitor.privateIp", "must not be a cluster server's"),
        ({"privateIp": "10.0.2.5"}, "monitor.privateIp", "usable host of privateSubnetCidr 10.0.1.0/24"),
        ({"locaton": "hel1"}, "monitor.locaton", "did you mean 'location'"),
        ({"slowSeconds": {"api": 12}}, "monitor.slowSeconds.api", "between 0 and 10"),
        ({"certWarningDays": 0}, "monitor.certWarningDays", "between 1 and 60"),
        ({"smtp": {"smarthost": "smtp", "from": "x", "username": "u", "to": []}}, "monitor.smtp.to", "at least one"),
    ],
)
def test_bad_monitor_config_names_the_key(change: dict[str, Any], key: str, message: str) -> None:
    with pytest.raises(ConfigError) as info:
        load_config(_raw(**change))
    assert any(p.key == key and message in p.allowed for p in info.value.problems), info.value


def test_webhook_secret_is_required_only_with_a_monitor() -> None:
    raw = mockrt.stack_config("prod")
    raw.pop("monitorWebhookUrl")
    with pytest.raises(ConfigError, match="monitorWebhookUrl") as info:
        load_config(raw)
    assert "needed because monitor is set" in str(info.value)
    staging = mockrt.stack_config("staging")
    assert "monitorWebhookUrl" not in staging
    load_config(staging)


# ------------------------------------------------------------------------------ mock runtime


def _monitor_server(plan: mockrt.PlanResult) -> mockrt.Registration:
    (server,) = [s for s in plan.of_type(SERVER) if s.inputs["labels"]["role"] == "uptime-monitor"]
    return server


def test_monitor_server_sits_where_the_cluster_does_not(prod_plan: mockrt.PlanResult) -> None:
    server = _monitor_server(prod_plan)
    cluster = {s.inputs["location"] for s in prod_plan.of_type(SERVER) if s.inputs["labels"]["role"] == "k3s-server"}
    assert server.inputs["location"] == "hel1" and "hel1" not in cluster
    assert server.inputs["serverType"] == "cx23" and server.inputs["image"] == "debian-13"
    ips = [r for r in prod_plan.of_type("hcloud:index/primaryIp:PrimaryIp") if r.name.startswith("monitor-")]
    assert sorted(r.inputs["location"] for r in ips) == ["hel1", "hel1"]
    # the same guards as a cluster server
    assert server.options["protect"] is True
    assert set(server.options["ignoreChanges"]) == {"userData", "image", "sshKeys"}
    assert server.inputs["deleteProtection"] is True and server.inputs["rebuildProtection"] is True
    # the operator's keys: the cluster's Hetzner SSH keys, not a second copy (Hetzner refuses one)
    assert len(prod_plan.of_type("hcloud:index/sshKey:SshKey")) == 1
    assert len(server.inputs["sshKeys"]) == 1


def test_monitor_has_its_own_firewall_ssh_only(prod_plan: mockrt.PlanResult) -> None:
    server = _monitor_server(prod_plan)
    fw = prod_plan.by_name("monitor-firewall")
    cluster_fw = prod_plan.by_name("fw-firewall")
    assert fw.urn in server.dependencies and cluster_fw.urn not in server.dependencies
    (rule,) = fw.inputs["rules"]
    cfg = load_config(mockrt.stack_config("prod"))
    assert rule["port"] == str(cfg.access.ssh_port) and rule["sourceIps"] == list(cfg.access.admin_cidrs)
    # the cluster admits the monitor (and only it, beyond the admin CIDRs) to the API port
    probe = [r for r in cluster_fw.inputs["rules"] if "uptime monitor" in r.get("description", "")]
    assert len(probe) == 1 and probe[0]["port"] == "6443"
    monitor = prod_plan.outputs["monitor"]
    assert probe[0]["sourceIps"] == [f"{monitor['ipv4']}/32", f"{monitor['ipv6']}/128"]
    assert monitor["ipv6"].endswith("::1")


def test_watchdog_arrives_on_the_private_network_not_through_the_firewall() -> None:
    raw = mockrt.stack_config("prod")
    raw["monitor"] = {**raw["monitor"], "clusterWatchdog": True}
    plan = mockrt.run_program("prod", raw)
    (rule,) = plan.by_name("monitor-firewall").inputs["rules"]
    assert rule["port"] == "2222"
    server = _monitor_server(plan)
    network_id = server.inputs["networks"][0]["networkId"]
    assert server.inputs["networks"] == [{"networkId": network_id, "ip": "10.0.1.250", "aliasIps": []}]
    subnet = plan.of_type("hcloud:index/networkSubnet:NetworkSubnet")[0]
    assert subnet.urn in server.dependencies
    assert plan.outputs["monitor"]["watchdogUrl"] == "http://10.0.1.250:9095/watchdog"
    assert (plan.outputs["monitor"]["sshUser"], plan.outputs["monitor"]["sshPort"]) == ("ops", 2222)
    bundle = json.loads(mockrt.unwrap(plan.outputs["monitorConfigBundle"]))
    assert "ClusterWatchdogMissing" in json.dumps(bundle)


def test_monitor_absent_when_switched_off(staging_plan: mockrt.PlanResult) -> None:
    assert not [r for r in staging_plan.resources if "monitor" in r.urn]
    assert "monitor" not in staging_plan.outputs
    fw = staging_plan.by_name("fw-firewall")
    assert not [r for r in fw.inputs["rules"] if "uptime monitor" in r.get("description", "")]


def test_endpoints_follow_the_stacks_hostnames() -> None:
    raw = mockrt.stack_config("staging")
    raw["monitor"] = {
        "location": "hel1",
        "privateIp": "10.1.1.250",
        "smtp": {
            "smarthost": "smtp.example.com:587",
            "from": "m@example.com",
            "username": "m",
            "to": ["ops@example.com"],
        },
    }
    raw["monitorWebhookUrl"] = "plan-placeholder-monitorWebhookUrl"
    plan = mockrt.run_program("staging", raw)
    bundle = json.loads(mockrt.unwrap(plan.outputs["monitorConfigBundle"]))
    prom = yaml.safe_load({f["path"]: f for f in bundle["files"]}["/etc/prometheus/prometheus.yml"]["content"])
    targets = sorted(t for job in prom["scrape_configs"] for sc in job["static_configs"] for t in sc["targets"])
    assert targets == [
        "https://staging-admin.myhoneydue.com/",
        "https://staging-api.myhoneydue.com/api/health/",
        "https://staging-k8s.myhoneydue.com:6443/readyz",
    ]
    assert _monitor_server(plan).inputs["labels"]["environment"] == "staging"


def test_monitor_secrets_stay_secret(prod_plan: mockrt.PlanResult) -> None:
    server = _monitor_server(prod_plan)
    assert server.raw_inputs["userData"][mockrt.SIG_KEY] == mockrt.SECRET_SIG
    for key in ("monitorConfigBundle", "monitorWatchdogToken"):
        assert prod_plan.outputs[key][mockrt.SIG_KEY] == mockrt.SECRET_SIG
    placeholders = ("plan-placeholder-smtpPassword", "plan-placeholder-monitorWebhookUrl")
    assert all(p in mockrt.unwrap(prod_plan.outputs["monitorConfigBundle"]) for p in placeholders)
    # Nowhere in clear: every input and output with secrets redacted holds none of them.
    clear = json.dumps([r.to_json() for r in prod_plan.resources]) + json.dumps(mockrt.redact(prod_plan.outputs))
    assert not [p for p in placeholders if p in clear]
    token = mockrt.unwrap(prod_plan.outputs["monitorWatchdogToken"])
    assert len(token) == 40 and token not in clear


def test_push_pipes_the_bundle_over_ssh_into_the_checking_installer(tmp_path: Path) -> None:
    """tools/monitor-push.sh against stub pulumi and ssh: the day-2 path of a config change."""
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    monitor = {"sshUser": "ops", "ipv4": "203.0.113.9", "sshPort": 2222}
    (bin_dir / "pulumi").write_text(
        "#!/bin/sh\n"
        'case "$*" in\n'
        f"  *--json\\ monitor*) echo '{json.dumps(monitor)}' ;;\n"
        "  *--show-secrets\\ monitorConfigBundle*) echo '{\"files\": []}' ;;\n"
        "  *) exit 9 ;;\n"
        "esac\n"
    )
    (bin_dir / "ssh").write_text(f'#!/bin/sh\necho "$*" > {tmp_path}/argv\ncat > {tmp_path}/stdin\n')
    for stub in bin_dir.iterdir():
        stub.chmod(0o755)
    script = Path(uptime.__file__).resolve().parents[1] / "tools" / "monitor-push.sh"
    env = {**os.environ, "PATH": f"{bin_dir}:{os.environ['PATH']}"}
    proc = _run("bash", str(script), "prod", env=env)
    assert proc.returncode == 0, proc.stderr
    assert (tmp_path / "argv").read_text().split() == [
        "-p",
        "2222",
        "-o",
        "BatchMode=yes",
        "ops@203.0.113.9",
        "sudo",
        uptime.APPLY_PATH,
        "-",
    ]
    assert json.loads((tmp_path / "stdin").read_text()) == {"files": []}
    assert _shellcheck(script).returncode == 0


ALERTMANAGER = TOOLS / "prometheus-alertmanager" / "usr" / "bin" / "prometheus-alertmanager"


def test_readme_test_alert_reaches_the_webhook(tmp_path: Path) -> None:
    """The README's test alert, for real: Debian's Alertmanager with the rendered config, the
    alert added with amtool, the Slack-compatible webhook (a local HTTP server) receives it.
    Only group_wait is shortened and the secret paths point into tmp_path."""
    import http.server
    import threading

    received: list[dict[str, Any]] = []

    class Hook(http.server.BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            received.append(json.loads(self.rfile.read(int(self.headers["Content-Length"]))))
            self.send_response(200)
            self.end_headers()

        def log_message(self, format: str, *args: object) -> None:
            pass

    hook = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Hook)
    threading.Thread(target=hook.serve_forever, daemon=True).start()
    secrets = replace(SECRETS, webhook_url=f"http://127.0.0.1:{hook.server_address[1]}/hook")
    files = _unpack(uptime.render_bundle(SPEC, secrets), tmp_path)
    am = files["/etc/prometheus/alertmanager.yml"]["content"].replace(
        uptime.SECRETS_DIR, str(tmp_path / uptime.SECRETS_DIR.lstrip("/"))
    )
    doc = yaml.safe_load(am)
    doc["route"]["group_wait"] = "1s"
    config = tmp_path / "alertmanager.yml"
    config.write_text(yaml.safe_dump(doc))
    port = _free_port()
    url = f"http://127.0.0.1:{port}"
    # Debian's build reads its default templates from /usr/share/prometheus/alertmanager (the
    # package's path): a private mount namespace overlays the unpacked package's copy there.
    share = tmp_path / "share" / "prometheus"
    share.mkdir(parents=True)
    subprocess.run(
        ["cp", "-r", str(TOOLS / "prometheus-alertmanager/usr/share/prometheus/alertmanager"), str(share)], check=True
    )
    command = (
        f"mount -t overlay overlay -o lowerdir={tmp_path / 'share'}:/usr/share /usr/share && exec "
        f"{_tool(ALERTMANAGER)} --config.file={config} --storage.path={tmp_path / 'data'} "
        f"--web.listen-address=127.0.0.1:{port} --cluster.listen-address="
    )
    daemon = subprocess.Popen(
        ["unshare", "--mount", "--fork", "--kill-child", "sh", "-c", command],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        for _ in range(100):
            if _run(_tool(AMTOOL), f"--alertmanager.url={url}", "config", "show").returncode == 0:
                break
            time.sleep(0.2)
        proc = _run(
            _tool(AMTOOL),
            f"--alertmanager.url={url}",
            "alert",
            "add",
            "HoneydueTestAlert",
            "severity=warning",
            "check=test",
            "--annotation=summary=test alert from the uptime monitor",
        )
        assert proc.returncode == 0, proc.stderr
        deadline = time.time() + 30
        while not received and time.time() < deadline:
            time.sleep(0.2)
    finally:
        daemon.kill()
        daemon.wait()
        hook.shutdown()
    assert received, "the webhook received nothing"
    (attachment,) = received[0]["attachments"]
    assert attachment["title"] == "[honeydue prod] HoneydueTestAlert"
    assert attachment["text"] == "test alert from the uptime monitor\n"


def test_program_refuses_a_bad_monitor_config_before_registering_anything() -> None:
    raw = mockrt.stack_config("prod")
    raw["monitor"] = {**raw["monitor"], "location": "fsn1"}
    with pytest.raises(RuntimeError, match=r"honeydue:monitor\.location = \"fsn1\"") as info:
        mockrt.run_program_isolated("prod", raw)
    assert "RunError" in str(info.value)


def test_cluster_alertmanager_sends_the_watchdog_to_the_monitor(prod_plan: mockrt.PlanResult, tmp_path: Path) -> None:
    """The heartbeat's cluster half: kube-prometheus-stack's Alertmanager routes `Watchdog` to
    the monitor's receiver with the monitor's bearer token from a mounted Secret (never in the
    values), and that config passes the real amtool."""
    from components import platform_render

    (release,) = [r for r in prod_plan.resources if r.name == "platform-kube-prometheus-stack"]
    alertmanager = release.inputs["values"]["alertmanager"]
    assert alertmanager["alertmanagerSpec"]["secrets"] == [platform_render.WATCHDOG_SECRET]
    config = alertmanager["config"]
    (route,) = config["route"]["routes"]
    assert route["matchers"] == ['alertname = "Watchdog"'] and route["receiver"] == "monitor-watchdog"
    (receiver,) = [r for r in config["receivers"] if r["name"] == "monitor-watchdog"]
    (hook,) = receiver["webhook_configs"]
    assert hook["url"] == prod_plan.outputs["monitor"]["watchdogUrl"] == "http://10.0.1.250:9095/watchdog"
    assert hook["http_config"]["authorization"]["credentials_file"] == platform_render.WATCHDOG_TOKEN_FILE
    (secret,) = [r for r in prod_plan.resources if r.name == "platform-monitor-watchdog-secret"]
    assert secret.raw_inputs["stringData"][mockrt.SIG_KEY] == mockrt.SECRET_SIG
    token = mockrt.unwrap(prod_plan.outputs["monitorWatchdogToken"])
    assert secret.inputs["stringData"]["token"] == token and token not in json.dumps(release.inputs)
    # amtool checks the file the config names: give it one where the path points.
    token_file = tmp_path / "token"
    token_file.write_text("t")
    checked = {**config, "receivers": [dict(r) for r in config["receivers"]]}
    checked["receivers"][1]["webhook_configs"][0]["http_config"]["authorization"]["credentials_file"] = str(token_file)
    (tmp_path / "am.yml").write_text(yaml.safe_dump(checked))
    proc = _run(_tool(AMTOOL), "check-config", str(tmp_path / "am.yml"))
    assert proc.returncode == 0, proc.stdout + proc.stderr


def test_cluster_watchdog_needs_cluster_monitoring() -> None:
    raw = mockrt.stack_config("prod", {"monitoring": False})
    with pytest.raises(ConfigError) as info:
        load_config(raw)
    assert [p.key for p in info.value.problems] == ["monitor.clusterWatchdog"]
