"""cosign verification with a per-run cache (one `cosign verify` per digest and key)."""

from __future__ import annotations

import hashlib
import os
import re
import shutil
import subprocess
import tempfile
import threading
from dataclasses import dataclass
from pathlib import Path

# Errors that mean "the registry did not answer": later images of the same registry reuse the
# message instead of waiting for cosign's network timeout again.
_UNREACHABLE_RE = re.compile(
    r"no such host|connection refused|i/o timeout|network is unreachable|"
    r"context deadline exceeded|TLS handshake timeout",
    re.IGNORECASE,
)


@dataclass(frozen=True)
class Result:
    ok: bool
    message: str


def default_cosign_locations() -> list[Path]:
    """Where tools/cosign.sh installs cosign (keep in step with that script)."""
    cache = Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache")
    repo_tools = Path(__file__).resolve().parents[2] / ".tools" / "bin" / "cosign"
    return [cache / "honeydue" / "bin" / "cosign", repo_tools]


def find_cosign(configured: str = "") -> str | None:
    """Configured path, then $COSIGN, then PATH, then the installer's cache paths."""
    for candidate in (configured, os.environ.get("COSIGN", "")):
        if candidate:
            return candidate if os.access(candidate, os.X_OK) else None
    found = shutil.which("cosign")
    if found:
        return found
    for path in default_cosign_locations():
        if os.access(path, os.X_OK):
            return str(path)
    return None


class CosignVerifier:
    """Runs `cosign verify`; results are cached per (image digest, key, flags) until reset()."""

    def __init__(self) -> None:
        self._lock = threading.Lock()  # the pack's gRPC server analyzes on several threads
        self._cache: dict[tuple[str, ...], Result] = {}
        self._unreachable: dict[str, str] = {}
        self.calls = 0  # cosign invocations since reset (tests assert the cache works)

    def reset(self) -> None:
        with self._lock:
            self._cache.clear()
            self._unreachable.clear()
            self.calls = 0

    def verify(
        self,
        image: str,
        *,
        public_key: str,
        allow_http: bool,
        ignore_tlog: bool,
        cosign_path: str,
        timeout: float,
        registry: str,
    ) -> Result:
        """Verify ``image`` (``repo@sha256:…``) against the PEM ``public_key``. Never raises."""
        if "BEGIN PUBLIC KEY" not in public_key:
            return Result(False, "no cosign public key (PEM) in the policy config `publicKey`")
        cosign = find_cosign(cosign_path)
        if cosign is None:
            return Result(
                False,
                "cosign not found (cosignPath, $COSIGN, PATH, "
                f"{', '.join(map(str, default_cosign_locations()))}); install it with tools/cosign.sh",
            )
        key_id = hashlib.sha256(public_key.encode()).hexdigest()[:16]
        cache_key = (image, key_id, str(allow_http), str(ignore_tlog), cosign)
        with self._lock:
            if cache_key in self._cache:
                return self._cache[cache_key]
            if registry in self._unreachable:
                return Result(False, self._unreachable[registry])
            result = self._run(cosign, image, public_key, allow_http, ignore_tlog, timeout)
            self._cache[cache_key] = result
            if not result.ok and _UNREACHABLE_RE.search(result.message):
                self._unreachable[registry] = f"registry {registry} unreachable: {result.message}"
            return result

    def _run(
        self, cosign: str, image: str, public_key: str, allow_http: bool, ignore_tlog: bool, timeout: float
    ) -> Result:
        self.calls += 1
        with tempfile.TemporaryDirectory(prefix="policy-cosign-") as tmp:
            key_file = Path(tmp) / "cosign.pub"
            key_file.write_text(public_key.strip() + "\n")
            cmd = [cosign, "verify", "--key", str(key_file), "--output", "json"]
            if ignore_tlog:
                cmd.append("--insecure-ignore-tlog=true")
            if allow_http:
                cmd.append("--allow-http-registry=true")
            cmd.append(image)
            env = {**os.environ, "HOME": os.environ.get("HOME", tmp)}
            try:
                proc = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout, env=env, check=False)
            except subprocess.TimeoutExpired:
                return Result(False, f"cosign verify timed out after {timeout:g}s (registry unreachable?)")
            except OSError as exc:
                return Result(False, f"cannot run cosign: {exc}")
        if proc.returncode == 0:
            return Result(True, "verified")
        return Result(False, f"cosign exit {proc.returncode}: {_cosign_error(proc.stderr)}")


def _cosign_error(stderr: str) -> str:
    """cosign's own error line, without the insecure-tlog warning noise."""
    lines = [ln.strip() for ln in stderr.splitlines() if ln.strip() and not ln.startswith("WARNING")]
    errors = [ln for ln in lines if ln.startswith("Error:")]
    return (errors[0].removeprefix("Error:").strip() if errors else " | ".join(lines[-3:])) or "no output"


# One verifier per process: the pack process lives for one `pulumi preview`; the offline runner
# resets it at the start of each run.
VERIFIER = CosignVerifier()
