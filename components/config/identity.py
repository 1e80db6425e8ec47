"""Which stack this is, and how carefully it is handled."""

from __future__ import annotations

from typing import Annotated

from pydantic import Field

from components.config.base import Section, one_of

ENVIRONMENTS = ("prod", "staging")


class Identity(Section):
    TITLE = "stack identity"

    environment: Annotated[str, one_of(*ENVIRONMENTS)] = Field(
        description=(
            "Environment name, prod or staging. Labels every resource; prod turns on protection rules in the"
            " policy pack."
        )
    )
    protect: bool = Field(
        True,
        description="Pulumi `protect` plus Hetzner delete/rebuild protection on servers, network and primary IPs.",
    )
