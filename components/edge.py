"""TEMPORARY STUB (the edge helper replaces this file)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import pulumi

from components.base import type_token
from components.config import StackConfig


@dataclass(frozen=True)
class CloudflareEdgeArgs:
    domain: str

    @classmethod
    def from_config(cls, cfg: StackConfig, server_ipv4s: Any, server_ipv6s: Any) -> CloudflareEdgeArgs:
        return cls(domain=cfg.domain)


class CloudflareEdge(pulumi.ComponentResource):
    def __init__(self, name: str, args: CloudflareEdgeArgs, opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__(type_token("edge", "CloudflareEdge"), name, None, opts)
        self.urls: dict[str, str] = {}
        self.zone_id = pulumi.Output.from_input("")
        self.origin_cert_expires_on = pulumi.Output.from_input("")
        self.register_outputs({})
