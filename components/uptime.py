"""Pure renderers of the uptime monitor: what it probes, when it alerts, where alerts go.

The monitor is Debian's Prometheus, blackbox exporter and Alertmanager (installed from the OS
archive at boot: nothing fetched from elsewhere, and their configs are checked offline with the
same tools, promtool, amtool and ``--config.check``). Everything here is a plain function of
the stack's hostnames and the monitor's settings; no Pulumi import.

Two outputs:

* :func:`render_bundle` -> the config bundle (JSON of files). cloud-init writes it at first boot;
  a later change is pushed to the running server over SSH and installed by the same
  ``honeydue-monitor-apply`` (templates/monitor/monitor-apply.py), which checks it with the real
  tools before it replaces anything. user_data is only read at creation (``ignore_changes``), so
  it is never the path of a day-2 change.
* :func:`render_monitor_user_data` -> the server's user_data: the hardened base
  (components/cloud_init_base.py, the same code as every K3s node) plus the monitor layer.
"""

from __future__ import annotations

import json
import shlex
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from components.cloud_init_base import (
    HostBootstrap,
    Layer,
    file_entry,
    fill_template,
    packed_entry,
    read_stripped,
    read_template,
    render_host_user_data,
    script_entry,
)
from components.config.monitor import SlowSeconds, Smtp

TEMPLATE_DIR = Path(__file__).resolve().parent / "templates" / "monitor"

BUNDLE_PATH = "/etc/honeydue/monitor/bundle.json"
APPLY_PATH = "/usr/local/sbin/honeydue-monitor-apply"
SETUP_PATH = "/usr/local/sbin/honeydue-monitor-setup"
RECEIVER_PATH = "/usr/local/sbin/honeydue-watchdog-receiver"
RECEIVER_UNIT = "honeydue-watchdog-receiver.service"
SECRETS_DIR = "/etc/prometheus/secrets"
SMTP_PASSWORD_FILE = f"{SECRETS_DIR}/smtp-password"
WEBHOOK_URL_FILE = f"{SECRETS_DIR}/webhook-url"
WATCHDOG_TOKEN_FILE = f"{SECRETS_DIR}/watchdog-token"
KUBE_API_CA_FILE = "/etc/prometheus/kube-api-ca.pem"
#: The daemons a guard drop-in is written for (Debian's unit names).
DAEMONS = ("prometheus", "prometheus-alertmanager", "prometheus-blackbox-exporter")

#: Where the cluster's Alertmanager sends its Watchdog: the monitor's private IP (the public
#: interface's firewall admits SSH only).
WATCHDOG_PORT = 9095
WATCHDOG_PATH = "/watchdog"
# Where each daemon listens: loopback only (the firewall already drops these ports: defence
# in depth). The receiver alone also listens on the private network, for the Watchdog.
PROMETHEUS = "127.0.0.1:9090"
ALERTMANAGER = "127.0.0.1:9093"
BLACKBOX = "127.0.0.1:9115"
RECEIVER_METRICS = "127.0.0.1:9095"
#: What honeydue-monitor-apply waits for after it restarts the daemons: each one's own health
#: endpoint answering 200. A daemon that dies right after `systemctl restart` (which returns
#: as soon as the process is forked) then fails the apply, and so the first boot, visibly.
READY_URLS = (
    f"http://{PROMETHEUS}/-/ready",
    f"http://{ALERTMANAGER}/-/ready",
    f"http://{BLACKBOX}/-/healthy",
    f"http://{RECEIVER_METRICS}/metrics",
)
PROBE_INTERVAL = "1m"
KUBE_API_PORT = 6443


@dataclass(frozen=True)
class Check:
    """One probe. ``module`` is a blackbox exporter module of :func:`render_blackbox`."""

    name: str
    url: str
    module: str
    slow_seconds: float


@dataclass(frozen=True)
class MonitorSpec:
    """Everything the monitor's config depends on, as plain resolved values."""

    environment: str
    api_hostname: str
    admin_hostname: str
    extra_hostnames: tuple[str, ...]
    kube_api_hostname: str
    thresholds: SlowSeconds
    """Response time (seconds) above which a probe counts as slow (config monitor.slowSeconds)."""
    cert_warning_days: int
    smtp: Smtp
    cluster_watchdog: bool
    watchdog_minutes: int


def checks(spec: MonitorSpec) -> list[Check]:
    """The probes, in a stable order: the API's health, every public page, the Kubernetes API."""
    t = spec.thresholds
    found = [
        Check("api-health", f"https://{spec.api_hostname}/api/health/", "http_2xx", t.api),
        Check("admin", f"https://{spec.admin_hostname}/", "http_2xx", t.pages),
    ]
    # The apex (and www) serve the landing page; each is also a certificate to watch.
    found += [Check(f"page-{host}", f"https://{host}/", "http_2xx", t.pages) for host in spec.extra_hostnames]
    found.append(Check("kube-api", f"https://{spec.kube_api_hostname}:{KUBE_API_PORT}/readyz", "kube_api", t.kube_api))
    return found


def render_blackbox() -> dict[str, Any]:
    """blackbox.yml: one module for the public pages, one for the Kubernetes API."""
    return {
        "modules": {
            "http_2xx": {
                "prober": "http",
                "timeout": "10s",
                "http": {
                    "preferred_ip_protocol": "ip4",
                    "valid_status_codes": [200],
                    "fail_if_not_ssl": True,
                    "follow_redirects": False,
                },
            },
            # K3s starts kube-apiserver with anonymous-auth=false, so /readyz without a client
            # certificate answers 401 from the apiserver itself: TLS with the cluster's own CA
            # (verified below) and an HTTP answer prove the API behind the name is up; a dead
            # or hung apiserver times out. The cluster's own readiness is what its Watchdog
            # proves (ClusterWatchdogMissing).
            "kube_api": {
                "prober": "http",
                "timeout": "10s",
                "http": {
                    "preferred_ip_protocol": "ip4",
                    "valid_status_codes": [200, 401],
                    "fail_if_not_ssl": True,
                    "tls_config": {"ca_file": KUBE_API_CA_FILE},
                },
            },
        }
    }


def render_prometheus(spec: MonitorSpec) -> dict[str, Any]:
    """prometheus.yml: probe every check each minute through the local blackbox exporter."""
    by_module: dict[str, list[Check]] = {}
    for check in checks(spec):
        by_module.setdefault(check.module, []).append(check)
    scrape_configs: list[dict[str, Any]] = [
        {
            "job_name": f"blackbox-{module}",
            "metrics_path": "/probe",
            "params": {"module": [module]},
            "scrape_interval": PROBE_INTERVAL,
            "scrape_timeout": "15s",
            "static_configs": [{"targets": [c.url], "labels": {"check": c.name}} for c in found],
            # The standard blackbox relabelling: the target becomes the ?target= parameter and
            # the instance label; the scrape itself goes to the exporter.
            "relabel_configs": [
                {"source_labels": ["__address__"], "target_label": "__param_target"},
                {"source_labels": ["__param_target"], "target_label": "instance"},
                {"target_label": "__address__", "replacement": BLACKBOX},
            ],
        }
        for module, found in by_module.items()
    ]
    if spec.cluster_watchdog:
        scrape_configs.append({"job_name": "watchdog-receiver", "static_configs": [{"targets": [RECEIVER_METRICS]}]})
    return {
        "global": {"scrape_interval": PROBE_INTERVAL, "evaluation_interval": "30s"},
        # Relative: promtool resolves it next to prometheus.yml, so a staged copy checks too.
        "rule_files": ["honeydue-rules.yml"],
        "alerting": {"alertmanagers": [{"static_configs": [{"targets": [ALERTMANAGER]}]}]},
        "scrape_configs": scrape_configs,
    }


def render_rules(spec: MonitorSpec) -> dict[str, Any]:
    """honeydue-rules.yml: down, slow, certificate expiry and (when on) the cluster's heartbeat."""
    rules: list[dict[str, Any]] = [
        {
            "alert": "EndpointDown",
            "expr": 'probe_success{job=~"blackbox-.*"} == 0',
            "for": "2m",
            "labels": {"severity": "critical"},
            "annotations": {"summary": "{{ $labels.check }} ({{ $labels.instance }}) fails its probe"},
        }
    ]
    for check in checks(spec):
        rules.append(
            {
                "alert": "EndpointSlow",
                "expr": f'probe_duration_seconds{{check="{check.name}"}} > {check.slow_seconds:g}',
                "for": "5m",
                # The check label keeps the rules distinct (promtool's duplicate-rule lint).
                "labels": {"severity": "warning", "check": check.name},
                "annotations": {
                    "summary": f"{check.name} answers slower than {check.slow_seconds:g}s",
                    "description": "{{ $labels.instance }} took {{ $value | humanize }}s",
                },
            }
        )
    rules.append(
        {
            "alert": "CertificateExpiresSoon",
            "expr": (
                f'(probe_ssl_earliest_cert_expiry{{job=~"blackbox-.*"}} - time()) / 86400 < {spec.cert_warning_days}'
            ),
            "for": "10m",
            "labels": {"severity": "warning"},
            "annotations": {
                "summary": "certificate of {{ $labels.instance }} expires in {{ $value | humanize }} days",
            },
        }
    )
    if spec.cluster_watchdog:
        limit = spec.watchdog_minutes * 60
        rules.append(
            {
                "alert": "ClusterWatchdogMissing",
                "expr": (
                    f"time() - honeydue_watchdog_last_received_timestamp_seconds > {limit}"
                    " or absent(honeydue_watchdog_last_received_timestamp_seconds)"
                ),
                "for": "1m",
                "labels": {"severity": "critical"},
                "annotations": {
                    "summary": f"no Watchdog from the {spec.environment} cluster's Alertmanager for "
                    f"{spec.watchdog_minutes} minutes: its monitoring (or the cluster) is down",
                },
            }
        )
    return {"groups": [{"name": f"honeydue-{spec.environment}-uptime", "rules": rules}]}


def render_alertmanager(spec: MonitorSpec) -> dict[str, Any]:
    """alertmanager.yml: every alert to email and to the Slack-compatible webhook.

    The secrets are files (``*_file``), never inline: the config file itself holds none.
    """
    return {
        "global": {
            "smtp_smarthost": spec.smtp.smarthost,
            "smtp_from": spec.smtp.sender,
            "smtp_auth_username": spec.smtp.username,
            "smtp_auth_password_file": SMTP_PASSWORD_FILE,
            "smtp_require_tls": True,
        },
        "route": {
            "receiver": "operators",
            "group_by": ["alertname", "check"],
            "group_wait": "30s",
            "group_interval": "5m",
            "repeat_interval": "4h",
        },
        "receivers": [
            {
                "name": "operators",
                "email_configs": [{"to": ", ".join(spec.smtp.to), "send_resolved": True}],
                "slack_configs": [
                    {
                        "api_url_file": WEBHOOK_URL_FILE,
                        "send_resolved": True,
                        "title": f"[honeydue {spec.environment}] " + "{{ .CommonLabels.alertname }}",
                        "text": "{{ range .Alerts }}{{ .Annotations.summary }}\n{{ end }}",
                    }
                ],
            }
        ],
    }


@dataclass(frozen=True)
class MonitorSecrets:
    smtp_password: str
    webhook_url: str
    watchdog_token: str
    kube_api_ca_pem: str


def render_bundle(spec: MonitorSpec, secrets: MonitorSecrets) -> str:
    """The config bundle honeydue-monitor-apply installs (JSON; holds secrets)."""
    listen = {
        "prometheus": f"--web.listen-address={PROMETHEUS}",
        # No cluster gossip port: a single Alertmanager.
        "prometheus-alertmanager": f"--web.listen-address={ALERTMANAGER} --cluster.listen-address=",
        "prometheus-blackbox-exporter": f"--config.file /etc/prometheus/blackbox.yml --web.listen-address={BLACKBOX}",
    }
    files: list[dict[str, str]] = [
        _bundle_file("/etc/prometheus/prometheus.yml", _yaml(render_prometheus(spec))),
        _bundle_file("/etc/prometheus/honeydue-rules.yml", _yaml(render_rules(spec))),
        _bundle_file("/etc/prometheus/blackbox.yml", _yaml(render_blackbox())),
        _bundle_file("/etc/prometheus/alertmanager.yml", _yaml(render_alertmanager(spec))),
        _bundle_file(KUBE_API_CA_FILE, secrets.kube_api_ca_pem),
        # Only the daemons' group may read the secrets.
        _bundle_file(SMTP_PASSWORD_FILE, secrets.smtp_password, "0640", "prometheus"),
        _bundle_file(WEBHOOK_URL_FILE, secrets.webhook_url, "0640", "prometheus"),
        _bundle_file(WATCHDOG_TOKEN_FILE, secrets.watchdog_token, "0640", "prometheus"),
    ]
    files += [_bundle_file(f"/etc/default/{name}", f'ARGS="{args}"\n') for name, args in listen.items()]
    return json.dumps({"files": files, "ready": list(READY_URLS)}, indent=1, sort_keys=True) + "\n"


def render_monitor_user_data(host: HostBootstrap, bundle: str) -> str:
    """The monitor's user_data: the hardened base plus the monitor layer."""
    guard = read_template(TEMPLATE_DIR, "guard.conf")
    files = [
        # The bundle holds the SMTP password, the webhook URL and the watchdog token: root only.
        packed_entry(BUNDLE_PATH, bundle, "0600"),
        *(file_entry(f"/etc/systemd/system/{d}.service.d/honeydue-guard.conf", guard, "0644") for d in DAEMONS),
        file_entry(
            f"/etc/systemd/system/{RECEIVER_UNIT}",
            fill_template(TEMPLATE_DIR, RECEIVER_UNIT, {"port": str(WATCHDOG_PORT)}),
            "0644",
        ),
    ]
    layer = Layer(
        what="the uptime monitor",
        step="monitor-setup",
        command=shlex.quote(SETUP_PATH),
        files=files,
        scripts=[
            script_entry(SETUP_PATH, read_stripped(TEMPLATE_DIR, "monitor-setup.sh")),
            script_entry(APPLY_PATH, read_stripped(TEMPLATE_DIR, "monitor-apply.py")),
            script_entry(RECEIVER_PATH, read_stripped(TEMPLATE_DIR, "watchdog-receiver.py")),
        ],
    )
    return render_host_user_data(host, layer)


def watchdog_url(address: str) -> str:
    """Where the cluster's Alertmanager posts its Watchdog (``address``: the monitor's private IP)."""
    return f"http://{address}:{WATCHDOG_PORT}{WATCHDOG_PATH}"


def _bundle_file(path: str, content: str, mode: str = "0644", group: str = "") -> dict[str, str]:
    entry = {"path": path, "content": content, "mode": mode}
    if group:
        entry["group"] = group
    return entry


def _yaml(doc: dict[str, Any]) -> str:
    return yaml.safe_dump(doc, sort_keys=False, width=4096)


def sources(addresses: Sequence[str]) -> list[str]:
    """Host CIDRs (/32, /128) of plain addresses, for firewall rules."""
    return [f"{a}/128" if ":" in a else f"{a}/32" for a in addresses]
