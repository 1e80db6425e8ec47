"""The uptime monitor outside the cluster (components/monitor.py): the `monitor` object key."""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Annotated, Any

from pydantic import Field

from components.config.base import (
    HETZNER_NAME,
    ConfigModel,
    Problem,
    SecretKey,
    Section,
    between,
    matches,
    one_of,
    rule,
)
from components.config.network import usable_host_problem

#: Every Hetzner Cloud location (https://docs.hetzner.com/cloud/general/locations/).
HETZNER_LOCATIONS = ("fsn1", "nbg1", "hel1", "ash", "hil", "sin")
_EMAIL = re.compile(r"^[^@\s,]+@[^@\s,]+\.[a-z]{2,}$")
EMAIL = rule(lambda v: _EMAIL.match(v) is not None, "must be an email address")
# Above the blackbox module's 10 s timeout a probe fails instead of being slow.
SECONDS = rule(lambda v: 0 < v < 10, "must be a number of seconds between 0 and 10")


class Smtp(ConfigModel):
    smarthost: Annotated[
        str, matches(r"[a-z0-9.-]+:\d{1,5}", "must be host:port of the mail server, e.g. smtp.example.com:587")
    ]
    sender: Annotated[str, EMAIL] = Field(alias="from")
    username: Annotated[str, rule(lambda v: len(v) > 0, "required non-empty string")]
    to: Annotated[tuple[Annotated[str, EMAIL], ...], rule(lambda v: len(v) > 0, "must list at least one address")]


class SlowSeconds(ConfigModel):
    api: Annotated[float, SECONDS] = 1.0
    pages: Annotated[float, SECONDS] = 3.0
    kube_api: Annotated[float, SECONDS] = 1.0


class MonitorSettings(Section):
    """The uptime monitor's settings (key `monitor`; null = no monitor in this stack)."""

    TITLE = "uptime monitor (components/monitor.py)"
    KEY = "monitor"
    OPTIONAL = True
    SECRETS = (
        SecretKey(
            "monitorWebhookUrl",
            "Slack-compatible incoming-webhook URL the uptime monitor posts alerts to (required when monitor is set).",
            "monitor",
        ),
    )
    DESCRIPTION = (
        "The uptime monitor outside the cluster, or null for none: {location, privateIp, serverType (default"
        " cx23), smtp: {smarthost (host:port), from, username, to: [addresses]}, slowSeconds: {api, pages, kubeApi}"
        " (defaults 1, 3, 1), certWarningDays (default 14), clusterWatchdog (default false: expect the cluster"
        " Alertmanager's Watchdog), watchdogMinutes (default 10)}. location must be in networkZone and one no"
        " cluster server uses; privateIp is its static address in privateSubnetCidr (the cluster's Watchdog"
        " arrives over the private network). Alert email uses the smtpPassword secret; when set, the secret"
        " monitorWebhookUrl is required."
    )

    location: Annotated[str, one_of(*HETZNER_LOCATIONS)] = Field(
        description="a Hetzner location none of the cluster's servers uses: a location outage is seen"
    )
    private_ip: str = Field(
        description=(
            "its static IPv4 in privateSubnetCidr: the cluster's Watchdog arrives over the private network,"
            " never over the internet"
        )
    )
    server_type: Annotated[str, HETZNER_NAME] = "cx23"
    smtp: Smtp = Field(description="{smarthost, from, username, to}")
    slow_seconds: SlowSeconds = SlowSeconds.of({})
    cert_warning_days: Annotated[int, between(1, 60, " days")] = 14
    cluster_watchdog: bool = False
    """Expect the cluster Alertmanager's Watchdog (turn on with the cluster's monitoring)."""
    watchdog_minutes: Annotated[int, between(2, 120, " minutes")] = 10

    def rule_location_in_zone(self, stack: Any) -> Iterator[Problem]:
        network = stack.network
        if network is not None:
            zone = sorted(network.zone_locations)
            if self.location not in zone:
                yield Problem(
                    "monitor.location",
                    self.location,
                    f"must be in network zone {network.network_zone} ({', '.join(zone)}): the monitor joins the"
                    " private network",
                )

    def rule_private_ip_in_subnet(self, stack: Any) -> Iterator[Problem]:
        network = stack.network
        if network is not None:
            why = usable_host_problem(self.private_ip, network.subnet)
            if why:
                yield Problem("monitor.privateIp", self.private_ip, why)

    def rule_location_unused_by_cluster(self, stack: Any) -> Iterator[Problem]:
        cluster = stack.cluster
        if cluster is not None:
            used = sorted({s.location for s in cluster.server_entries})
            if self.location in used:
                yield Problem(
                    "monitor.location",
                    self.location,
                    "must be a location no cluster server uses ("
                    + ", ".join(used)
                    + "): a location outage must be seen",
                )

    def rule_private_ip_unused_by_cluster(self, stack: Any) -> Iterator[Problem]:
        cluster = stack.cluster
        if cluster is not None:
            if self.private_ip in {s.private_ip for s in cluster.server_entries}:
                yield Problem("monitor.privateIp", self.private_ip, "must not be a cluster server's private IP")

    def rule_watchdog_needs_monitoring(self, stack: Any) -> Iterator[Problem]:
        platform = stack.platform
        if platform is not None and self.cluster_watchdog and not platform.monitoring:
            # Only the cluster's Alertmanager sends the Watchdog: without it the monitor would alert forever.
            yield Problem(
                "monitor.clusterWatchdog", True, "true needs monitoring: true (the cluster's Alertmanager sends it)"
            )
