"""The engine's config as a plain mapping for `load_config` (keys without the namespace)."""

from __future__ import annotations

from typing import Any

import pulumi.runtime.config as engine_config

from components.config import PROJECT


def raw_config() -> dict[str, Any]:
    """Every `honeydue:*` value the engine passed (strings; JSON for non-strings)."""
    merged: dict[str, Any] = dict(engine_config.get_config_env())
    merged.update(engine_config.CONFIG.get())
    prefix = f"{PROJECT}:"
    return {key[len(prefix) :]: value for key, value in merged.items() if key.startswith(prefix)}
