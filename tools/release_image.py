"""Check a released image before the release workflow writes it into a stack's config.

    tools/release_image.py --stack staging IMAGE          prints `images.<key>` lines to set
    tools/release_image.py --stack staging IMAGE --github-output FILE   (also writes `paths=...`)
    tools/release_image.py --stack prod IMAGE --promoted-from staging   (staging must run it already)

IMAGE is `registry/repository@sha256:<64 hex>`, pushed and cosign-signed by the app's release job.
The check runs BEFORE `pulumi config set --path`, so a malformed reference or a foreign registry
never reaches a stack file, and it uses the program's own rules: the stack's config with the new
image goes through `components.config.load_config` (digest format, registry in the stack's
`allowedRegistries`: read from `Pulumi.<stack>.yaml`, never copied here). On top of that, a
release may only move an image the stack already runs to a new digest: its repository must be
the repository of at least one `images.*` key (the api image also runs the worker, so a release
of the api sets both). Exit 0 and the keys on stdout, or exit 2 and the reason on stderr.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:  # run as a script from the workflow
    sys.path.insert(0, str(ROOT))

from components.config import IMAGE_BY_DIGEST, ConfigError, image_registry, load_config  # noqa: E402
from tools.mockrt import stack_config  # noqa: E402


class ReleaseError(ValueError):
    """The image cannot be released to this stack; the message says why."""


def repository(image: str) -> str:
    """`registry/repo@sha256:…` -> `registry/repo` (a tag before the digest is not allowed)."""
    return image.partition("@")[0]


def release_keys(stack: str, image: str) -> list[str]:
    """The `images.*` keys this release sets in `Pulumi.<stack>.yaml`, after every check passed."""
    if IMAGE_BY_DIGEST.match(image) is None:
        raise ReleaseError(f"image {image!r}: must be registry/repository@sha256:<64 lowercase hex>")
    try:
        raw = stack_config(stack)
    except FileNotFoundError as exc:
        raise ReleaseError(f"stack {stack!r}: {exc}") from None
    allowed = [r for r in raw.get("allowedRegistries") or [] if isinstance(r, str)]
    if image_registry(image) not in allowed:
        raise ReleaseError(
            f"image {image!r}: registry {image_registry(image)!r} is not in stack {stack!r}'s "
            f"allowedRegistries ({', '.join(allowed) or 'none'})"
        )
    current: dict[str, Any] = dict(raw.get("images") or {})
    keys = sorted(k for k, v in current.items() if isinstance(v, str) and repository(v) == repository(image))
    if not keys:
        runs = ", ".join(sorted({repository(v) for v in current.values() if isinstance(v, str)}))
        raise ReleaseError(
            f"image {image!r}: repository {repository(image)!r} is not one stack {stack!r} runs ({runs})"
        )
    try:
        load_config(stack_config(stack, {"images": {**current, **dict.fromkeys(keys, image)}}))
    except ConfigError as exc:
        raise ReleaseError(f"stack {stack!r} refuses the image: {exc}") from None
    return [f"images.{k}" for k in keys]


def check_promoted(stack: str, image: str, keys: list[str], source: str) -> None:
    """Prod only takes what staging already runs: every key this release sets, at this digest."""
    running = stack_config(source).get("images") or {}
    behind = [k for k in keys if running.get(k.removeprefix("images.")) != image]
    if behind:
        raise ReleaseError(
            f"image {image!r} is not yet what stack {source!r} runs for {', '.join(behind)}: "
            f"release it to {source} first, then to {stack}"
        )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--stack", required=True)
    parser.add_argument("image")
    parser.add_argument("--promoted-from", metavar="STACK", help="the image must already run there (prod: staging)")
    parser.add_argument("--github-output", type=Path, help="append `paths=<space-separated keys>` here")
    args = parser.parse_args(argv)
    try:
        keys = release_keys(args.stack, args.image)
        if args.promoted_from:
            check_promoted(args.stack, args.image, keys, args.promoted_from)
    except ReleaseError as exc:
        print(f"release_image: {exc}", file=sys.stderr)
        return 2
    print("\n".join(keys))
    if args.github_output is not None:
        with args.github_output.open("a") as out:
            out.write(f"paths={' '.join(keys)}\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
