"""tools/release_image.py: the release workflow's gate before `pulumi config set --path images.*`."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from tools import mockrt, release_image

ROOT = Path(__file__).resolve().parent.parent
NEW = "a" * 64


def current(stack: str, key: str) -> str:
    image: str = mockrt.stack_config(stack)["images"][key]
    return image


@pytest.mark.parametrize("stack", ["staging", "prod"])
def test_api_release_sets_every_key_running_the_api_image(stack: str) -> None:
    api_repo = release_image.repository(current(stack, "api"))
    expected = sorted(
        f"images.{k}"
        for k, v in mockrt.stack_config(stack)["images"].items()
        if release_image.repository(v) == api_repo
    )
    assert "images.api" in expected
    assert release_image.release_keys(stack, f"{api_repo}@sha256:{NEW}") == expected


def test_admin_release_sets_only_admin() -> None:
    repo = release_image.repository(current("staging", "admin"))
    assert release_image.release_keys("staging", f"{repo}@sha256:{NEW}") == ["images.admin"]


@pytest.mark.parametrize(
    ("image", "reason"),
    [
        ("gitea.treytartt.com/admin/honeydue-api:latest", "must be registry/repository@sha256"),
        ("gitea.treytartt.com/admin/honeydue-api@sha256:" + "A" * 64, "must be registry/repository@sha256"),
        ("gitea.treytartt.com/admin/honeydue-api@sha256:" + "a" * 63, "must be registry/repository@sha256"),
        ("gitea.treytartt.com/admin/honeydue-api:v1@sha256:" + NEW, "is not one stack"),
        ("ghcr.io/evil/honeydue-api@sha256:" + NEW, "is not in stack 'staging''s allowedRegistries"),
        ("docker.io/library/nginx@sha256:" + NEW, "is not one stack"),
        ("gitea.treytartt.com/admin/other@sha256:" + NEW, "is not one stack"),
    ],
)
def test_refuses_bad_references(image: str, reason: str) -> None:
    with pytest.raises(release_image.ReleaseError, match=reason.replace("(", r"\(")):
        release_image.release_keys("staging", image)


def test_registry_list_comes_from_the_stack_file(monkeypatch: pytest.MonkeyPatch) -> None:
    """Shrinking the stack's allowedRegistries refuses a release that passed before."""
    image = f"{release_image.repository(current('staging', 'admin'))}@sha256:{NEW}"
    original = mockrt.stack_config

    def narrowed(stack: str, overrides: dict[str, object] | None = None) -> dict[str, object]:
        return original(stack, {"allowedRegistries": ["docker.io"], **(overrides or {})})

    monkeypatch.setattr(release_image, "stack_config", narrowed)
    with pytest.raises(release_image.ReleaseError, match="allowedRegistries"):
        release_image.release_keys("staging", image)


def test_unknown_stack() -> None:
    with pytest.raises(release_image.ReleaseError, match="no stack file"):
        release_image.release_keys("qa", "gitea.treytartt.com/admin/honeydue-api@sha256:" + NEW)


def test_cli_exit_codes_and_github_output(tmp_path: Path) -> None:
    out = tmp_path / "github_output"
    image = f"{release_image.repository(current('staging', 'admin'))}@sha256:{NEW}"
    ok = subprocess.run(
        [sys.executable, "tools/release_image.py", "--stack", "staging", image, "--github-output", str(out)],
        cwd=ROOT,
        capture_output=True,
        text=True,
    )
    assert ok.returncode == 0, ok.stderr
    assert ok.stdout.split() == ["images.admin"]
    assert out.read_text() == "paths=images.admin\n"
    bad = subprocess.run(
        [sys.executable, "tools/release_image.py", "--stack", "staging", "x:latest"],
        cwd=ROOT,
        capture_output=True,
        text=True,
    )
    assert bad.returncode == 2 and "release_image:" in bad.stderr and not bad.stdout


def test_prod_takes_only_what_staging_runs() -> None:
    staged = current("staging", "admin")
    keys = release_image.release_keys("prod", staged)
    release_image.check_promoted("prod", staged, keys, "staging")  # staging runs it: accepted
    fresh = f"{release_image.repository(staged)}@sha256:{NEW}"
    with pytest.raises(release_image.ReleaseError, match="release it to staging first"):
        release_image.check_promoted("prod", fresh, release_image.release_keys("prod", fresh), "staging")
