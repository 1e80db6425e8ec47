"""honeydue CrossGuard guardrails: the policies, and an offline runner over the same objects.

Importable as ``policies.guardrails`` (repo root on sys.path: tools, tests, the plan runner) and
as ``guardrails`` (from policies/__main__.py, which the Pulumi CLI runs with policies/ on sys.path);
hence relative imports only inside this package.
"""

from __future__ import annotations

from .pack import PACK_NAME, POLICIES, SIGNATURE_POLICY
from .runner import (
    DEFAULT_CONFIG,
    ConfigError,
    Violation,
    format_report,
    has_mandatory,
    load_config,
    run_policies,
    summary,
)

__all__ = [
    "DEFAULT_CONFIG",
    "PACK_NAME",
    "POLICIES",
    "SIGNATURE_POLICY",
    "ConfigError",
    "Violation",
    "format_report",
    "has_mandatory",
    "load_config",
    "run_policies",
    "summary",
]
