"""Tests import the program's packages from the repository root, and write only under temporary
directories: a run that leaves a new, changed or removed file in the checkout fails."""

from __future__ import annotations

import os
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))


import pytest  # noqa: E402

# Hypothesis keeps its example database under ./.hypothesis unless told otherwise: the per-user
# cache of tools/validators.sh instead, so the checkout gets nothing. (Hypothesis reads this at its
# first example, after conftest is imported.)
_CACHE = Path(
    os.environ.get("HONEYDUE_CACHE") or Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "honeydue"
)
os.environ.setdefault("HYPOTHESIS_STORAGE_DIRECTORY", str(_CACHE / "hypothesis"))

from tools import mockrt  # noqa: E402

# Python's bytecode, pytest's cache (off in pyproject.toml unless asked for), the linters' caches
# (`make lint typecheck` may run beside the tests), the venv and git's own files: not the tests'
# output. Everything else in the checkout is watched, build/ and .hypothesis/ included.
NOT_WATCHED = frozenset({".git", ".venv", "__pycache__", ".pytest_cache", ".mypy_cache", ".ruff_cache"})
# UPDATE_GOLDEN=1 rewrites the expected files under tests/golden/ on purpose.
GOLDEN = "tests/golden/"

Snapshot = dict[str, tuple[int, int] | None]
_BEFORE = pytest.StashKey[Snapshot]()


def tree_snapshot(root: Path) -> Snapshot:
    """Relative path -> (mtime_ns, size) of each file under `root` (None for a directory)."""
    out: Snapshot = {}
    for dirpath, dirnames, filenames in os.walk(root):
        dirnames[:] = sorted(d for d in dirnames if d not in NOT_WATCHED)
        rel = Path(dirpath).relative_to(root).as_posix()
        prefix = "" if rel == "." else rel + "/"
        for name in dirnames:
            out[prefix + name + "/"] = None
        for name in filenames:
            try:
                st = os.lstat(os.path.join(dirpath, name))
            except FileNotFoundError:  # removed while we walked: not there at the snapshot
                continue
            out[prefix + name] = (st.st_mtime_ns, st.st_size)
    return out


def tree_changes(before: Snapshot, after: Snapshot, ignore_golden: bool = False) -> list[str]:
    """`new path`, `changed path`, `removed path` lines between two snapshots, sorted by path."""
    lines = []
    for path in sorted(before.keys() | after.keys()):
        if ignore_golden and path.startswith(GOLDEN):
            continue
        if path not in before:
            lines.append(f"new {path}")
        elif path not in after:
            lines.append(f"removed {path}")
        elif before[path] != after[path]:
            lines.append(f"changed {path}")
    return lines


def pytest_sessionstart(session: pytest.Session) -> None:
    session.stash[_BEFORE] = tree_snapshot(ROOT)


def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    before = session.stash.get(_BEFORE, None)
    if before is None:
        return
    changes = tree_changes(before, tree_snapshot(ROOT), ignore_golden=os.environ.get("UPDATE_GOLDEN") == "1")
    if not changes:
        return
    reporter = session.config.pluginmanager.get_plugin("terminalreporter")
    message = [
        f"the test run wrote into the checkout {ROOT} (tests write under tmp_path only;"
        " or something else changed it meanwhile):",
        *(f"  {line}" for line in changes),
    ]
    if reporter is not None:
        reporter.ensure_newline()
        reporter.write_sep("=", "checkout modified", red=True)
        for line in message:
            reporter.write_line(line)
    else:  # pragma: no cover - pytest always has one unless -p no:terminal
        print("\n".join(message), file=sys.stderr)
    session.exitstatus = pytest.ExitCode.TESTS_FAILED


@pytest.fixture(scope="session")
def prod_plan() -> mockrt.PlanResult:
    """The real __main__.py with Pulumi.prod.yaml under mocks, run once per session."""
    return mockrt.run_program("prod")


@pytest.fixture(scope="session")
def staging_plan() -> mockrt.PlanResult:
    return mockrt.run_program("staging")
