"""Tests import the program's packages from the repository root."""

from __future__ import annotations

import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))


import pytest  # noqa: E402

from tools import mockrt  # noqa: E402


@pytest.fixture(scope="session")
def prod_plan() -> mockrt.PlanResult:
    """The real __main__.py with Pulumi.prod.yaml under mocks, run once per session."""
    return mockrt.run_program("prod")


@pytest.fixture(scope="session")
def staging_plan() -> mockrt.PlanResult:
    return mockrt.run_program("staging")
