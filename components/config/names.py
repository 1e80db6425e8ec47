"""The public names: the Cloudflare zone and the hostnames inside it."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Annotated, Any

from pydantic import Field

from components.config.base import Problem, Section, is_dns_name, rule

DNS_NAME = rule(is_dns_name, "must be a lower-case DNS name (labels of a-z, 0-9, '-', at least two labels)")


class Names(Section):
    TITLE = "names"

    domain: Annotated[str, DNS_NAME] = Field(
        description="The Cloudflare zone (it must exist; the program never creates or deletes it)."
    )
    api_hostname: str = Field(description="Public hostname of the Go API (proxied through Cloudflare).")
    admin_hostname: str = Field(description="Public hostname of the Next.js admin (proxied through Cloudflare).")
    extra_hostnames: tuple[str, ...] = Field(
        (),
        description="Further proxied hostnames served by the API (e.g. the apex and www for the landing page).",
    )
    kube_api_hostname: str = Field(
        description=(
            "Non-proxied DNS name of the Kubernetes API (A/AAAA to every server), in the API certificate's SANs."
        )
    )

    @property
    def web_hostnames(self) -> tuple[str, ...]:
        """Every proxied public hostname of the stack, in a stable order."""
        return (self.api_hostname, self.admin_hostname, *self.extra_hostnames)

    def rule_hostnames(self, stack: Any) -> Iterator[Problem]:
        seen: dict[str, str] = {}
        entries = [
            ("apiHostname", self.api_hostname),
            ("adminHostname", self.admin_hostname),
            ("kubeApiHostname", self.kube_api_hostname),
            *((f"extraHostnames[{i}]", h) for i, h in enumerate(self.extra_hostnames)),
        ]
        for key, host in entries:
            if not is_dns_name(host) and host != self.domain:
                yield Problem(key, host, "must be a lower-case DNS name")
                continue
            if host != self.domain and not host.endswith("." + self.domain):
                yield Problem(key, host, f"must be inside the domain {self.domain}")
            if host in seen:
                yield Problem(key, host, f"duplicate of {seen[host]}")
            seen[host] = key
