"""The Cloudflare edge: zone settings, the Origin CA certificate, the rate limit."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Annotated, Any

from pydantic import Field

from components.config.base import POSITIVE, Problem, SecretKey, Section, between, one_of, rule

ORIGIN_CA_VALIDITY_DAYS = (7, 30, 90, 365, 730, 1095, 5475)
ORIGIN_CA_REQUEST_TYPES = ("origin-ecc", "origin-rsa")
# Free-plan rate limiting counts over 10 s only; paid plans allow longer periods.
RATE_LIMIT_PERIODS = (10, 60, 120, 300, 600, 3600)
URI_PATH = rule(lambda v: v.startswith("/") and '"' not in v, "must be a URI path starting with '/'")


@dataclass(frozen=True)
class RateLimit:
    enabled: bool
    paths: tuple[str, ...]
    requests_per_period: int
    period_seconds: int


class Edge(Section):
    TITLE = "Cloudflare"
    SECRETS = (
        SecretKey(
            "cloudflareApiToken", "Cloudflare API token (Zone DNS/Settings/SSL edit and Origin CA) for the zone."
        ),
    )

    manage_zone_settings: bool = Field(
        True,
        description=(
            "This stack owns the zone-wide settings (SSL strict, HTTPS only, TLS, HSTS, origin pulls, rate limit)."
            " Exactly one stack per zone may set it."
        ),
    )
    create_ipv6_records: bool = Field(True, description="Publish AAAA records next to the A records.")
    hsts_max_age_seconds: Annotated[int, between(0, 31_536_000)] = Field(
        31_536_000, description="HSTS max-age sent by Cloudflare (0 to 31536000)."
    )
    origin_ca_validity_days: Annotated[int, one_of(*ORIGIN_CA_VALIDITY_DAYS)] = Field(
        5475,
        description="Validity of the Cloudflare Origin CA certificate, one of 7, 30, 90, 365, 730, 1095, 5475.",
    )
    origin_ca_request_type: Annotated[str, one_of(*ORIGIN_CA_REQUEST_TYPES)] = Field(
        "origin-ecc", description="Origin CA key type, origin-ecc or origin-rsa."
    )
    rate_limit_enabled: bool = Field(
        True,
        description="One Cloudflare rate-limiting rule on the API's auth endpoints (the Free plan allows one).",
    )
    rate_limit_paths: tuple[Annotated[str, URI_PATH], ...] = Field(
        ("/api/auth/",), description="URI path prefixes the rate limit covers."
    )
    rate_limit_requests_per_period: Annotated[int, POSITIVE] = Field(
        20, description="Requests per period and client IP before Cloudflare blocks."
    )
    rate_limit_period_seconds: Annotated[int, one_of(*RATE_LIMIT_PERIODS)] = Field(
        10, description="Counting period in seconds (the Free plan allows 10)."
    )

    @property
    def rate_limit(self) -> RateLimit:
        return RateLimit(
            enabled=self.rate_limit_enabled,
            paths=self.rate_limit_paths,
            requests_per_period=self.rate_limit_requests_per_period,
            period_seconds=self.rate_limit_period_seconds,
        )

    def rule_rate_limit_paths(self, stack: Any) -> Iterator[Problem]:
        if self.rate_limit_enabled and not self.rate_limit_paths:
            yield Problem("rateLimitPaths", [], "must list at least one path when rateLimitEnabled is true")
