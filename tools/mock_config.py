"""Stack config as the engine would pass it to the program, for the offline plan.

`Pulumi.<stack>.yaml` is read from the repository root (or `root`), secrets replaced by
placeholders: the plan never sees a real secret.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import yaml

ROOT = Path(__file__).resolve().parent.parent


def stack_config(stack: str, overrides: Mapping[str, Any] | None = None, root: Path = ROOT) -> dict[str, Any]:
    """Raw config of `Pulumi.<stack>.yaml` (keys without namespace), secrets set to placeholders.

    `secure:` values and unset secrets alike become `plan-placeholder-<key>`: the plan never
    sees a real secret. Keys in `overrides` replace (or, with value None, remove) stack values.
    """
    from components.config import PROJECT, SECRETS

    path = root / f"Pulumi.{stack}.yaml"
    if not path.exists():
        raise FileNotFoundError(f"no stack file {path.name}")
    doc = yaml.safe_load(path.read_text()) or {}
    raw: dict[str, Any] = {}
    for key, value in (doc.get("config") or {}).items():
        namespace, _, name = key.partition(":")
        if namespace != PROJECT:
            continue
        raw[name] = value
    for key, value in (overrides or {}).items():
        if value is None:
            raw.pop(key, None)
        else:
            raw[key] = value
    for secret in SECRETS:
        name, gate = secret.name, secret.needed_when
        if gate is not None and raw.get(gate) in (None, ""):
            continue
        if overrides and name in overrides and overrides[name] is None:
            continue
        if isinstance(raw.get(name), dict) or name not in raw:
            raw[name] = f"plan-placeholder-{name}"
    return raw


def engine_config(raw: Mapping[str, Any]) -> tuple[dict[str, str], list[str]]:
    """The engine's view: `honeydue:key` -> string (JSON for non-strings), plus secret keys."""
    from components.config import PROJECT, SECRETS

    secrets = {s.name for s in SECRETS}
    config = {f"{PROJECT}:{k}": v if isinstance(v, str) else json.dumps(v) for k, v in raw.items()}
    secret_keys = [f"{PROJECT}:{k}" for k in raw if k in secrets]
    return config, secret_keys


def integral(value: Any) -> Any:
    """Numbers as the program wrote them: the mock runtime turns every number into a float."""
    if isinstance(value, dict):
        return {k: integral(v) for k, v in value.items()}
    if isinstance(value, list):
        return [integral(v) for v in value]
    if isinstance(value, float) and value.is_integer():
        return int(value)
    return value
