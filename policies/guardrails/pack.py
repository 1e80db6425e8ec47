"""The policy list, in the order reports print them."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from pulumi_policy import Policy

from . import cloudflare, firewall, helm, images, netpol, plaintext, servers, workloads

PACK_NAME = "honeydue-guardrails"

POLICIES: list[Policy] = [
    images.SIGNED,
    images.PINNED,
    images.ALLOWED_REGISTRIES,
    workloads.HARDENED,
    workloads.HOST_PATH_CLAIMS,
    firewall.NO_WORLD_ADMIN,
    firewall.WEB_FROM_CLOUDFLARE,
    firewall.BYPASS,
    servers.GUARDED,
    cloudflare.SSL_STRICT,
    cloudflare.HTTPS_ONLY,
    cloudflare.DNS_PROXIED,
    plaintext.PLAINTEXT,
    netpol.DEFAULT_DENY,
    netpol.METADATA,
    netpol.NAMESPACES_EXCLUDE_METADATA,
    helm.CHARTS_PINNED,
    helm.IMAGE_POLICY_ENFORCED,
    servers.USER_DATA_SIZE,
    servers.USER_DATA_SIZE_WARNING,
]

SIGNATURE_POLICY = images.SIGNED.name

# Config checks beyond the JSON schema the Pulumi CLI applies; the offline runner raises on them.
CONFIG_CHECKS: dict[str, Callable[[dict[str, Any]], list[str]]] = {workloads.HARDENED.name: workloads.config_errors}
