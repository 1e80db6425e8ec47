"""Shared conventions of every component: the type-token prefix and resource labels."""

from __future__ import annotations

TYPE_PREFIX = "honeydue"


def type_token(module: str, kind: str) -> str:
    """`honeydue:<module>:<Type>`; renaming one later needs a pulumi.Alias."""
    return f"{TYPE_PREFIX}:{module}:{kind}"


def labels(environment: str, role: str) -> dict[str, str]:
    """Hetzner labels on everything the stack owns (filterable in the console and the API)."""
    return {"app": "honeydue", "environment": environment, "role": role, "managed-by": "pulumi"}
