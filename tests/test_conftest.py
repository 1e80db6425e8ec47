"""tests/conftest.py's checkout guard: a test run that writes into the checkout fails.

The end-to-end tests run pytest on a throwaway checkout (this conftest, a stub of tools/mockrt.py
and one test file), so what they exercise is the real hook in a real session.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import ROOT, tree_changes, tree_snapshot


def test_changes_name_new_changed_and_removed_paths(tmp_path: Path) -> None:
    (tmp_path / "keep.txt").write_text("a")
    (tmp_path / "edit.txt").write_text("a")
    (tmp_path / "gone.txt").write_text("a")
    (tmp_path / "__pycache__").mkdir()
    (tmp_path / "tests" / "golden").mkdir(parents=True)
    before = tree_snapshot(tmp_path)
    (tmp_path / "edit.txt").write_text("ab")
    (tmp_path / "gone.txt").unlink()
    (tmp_path / "build" / "prod").mkdir(parents=True)
    (tmp_path / "build" / "prod" / "resources.json").write_text("[]")
    (tmp_path / "__pycache__" / "x.pyc").write_bytes(b"")  # bytecode: not the tests' output
    (tmp_path / ".hypothesis").mkdir()  # hypothesis is pointed elsewhere: this would be a leak
    (tmp_path / "tests" / "golden" / "urns.txt").write_text("u")
    after = tree_snapshot(tmp_path)
    assert tree_changes(before, after) == [
        "new .hypothesis/",
        "new build/",
        "new build/prod/",
        "new build/prod/resources.json",
        "changed edit.txt",
        "removed gone.txt",
        "new tests/golden/urns.txt",
    ]
    assert "new tests/golden/urns.txt" not in tree_changes(before, after, ignore_golden=True)
    assert tree_changes(after, tree_snapshot(tmp_path)) == []


def test_a_rewrite_with_the_same_size_is_a_change(tmp_path: Path) -> None:
    path = tmp_path / "policies.json"
    path.write_text("{}")
    before = tree_snapshot(tmp_path)
    os.utime(path, ns=(before["policies.json"][0] + 10**9,) * 2)  # type: ignore[index]
    assert tree_changes(before, tree_snapshot(tmp_path)) == ["changed policies.json"]


@pytest.fixture
def checkout(tmp_path: Path) -> Path:
    """A minimal checkout that runs tests/conftest.py as the real one does."""
    repo = tmp_path / "repo"
    for package in ("tests", "tools"):
        (repo / package).mkdir(parents=True)
        (repo / package / "__init__.py").write_text("")
    shutil.copy(ROOT / "tests" / "conftest.py", repo / "tests" / "conftest.py")
    (repo / "tools" / "mockrt.py").write_text("")  # the session fixtures are not used here
    shutil.copy(ROOT / "pyproject.toml", repo / "pyproject.toml")
    return repo


def _pytest(checkout: Path, test_body: str) -> subprocess.CompletedProcess[str]:
    (checkout / "tests" / "test_writer.py").write_text(
        "from pathlib import Path\n\nROOT = Path(__file__).resolve().parent.parent\n\n\n"
        f"def test_writer(tmp_path: Path) -> None:\n    {test_body}\n"
    )
    return subprocess.run(
        # its own temporary directories beside the checkout, not in it
        [sys.executable, "-m", "pytest", "-q", f"--basetemp={checkout.parent / 'basetemp'}", "tests/test_writer.py"],
        cwd=checkout,
        capture_output=True,
        text=True,
        timeout=120,
        env={**os.environ, "PYTHONDONTWRITEBYTECODE": "1"},
    )


def test_a_test_that_writes_into_the_checkout_fails_the_run(checkout: Path) -> None:
    proc = _pytest(checkout, '(ROOT / "build").mkdir(); (ROOT / "build" / "out.json").write_text("{}")')
    assert proc.returncode == pytest.ExitCode.TESTS_FAILED, proc.stdout + proc.stderr
    assert "1 passed" in proc.stdout  # the test itself passed: the session failed it
    assert "checkout modified" in proc.stdout and "new build/out.json" in proc.stdout


def test_a_test_that_writes_under_tmp_path_passes(checkout: Path) -> None:
    proc = _pytest(checkout, '(tmp_path / "out.json").write_text("{}")')
    assert proc.returncode == pytest.ExitCode.OK, proc.stdout + proc.stderr
    assert "checkout modified" not in proc.stdout
