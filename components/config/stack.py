"""The stack's configuration: every section loaded once, every problem reported together.

`load_config(raw)` takes a plain mapping of config keys (without the `honeydue:` namespace) to
values, either typed (tests, YAML) or as the JSON strings the Pulumi engine passes, and returns a
`StackConfig`, or raises one `ConfigError` naming every problem with its key. Nothing here needs
the Pulumi runtime. Secret values never enter `StackConfig`: the loader only checks that each
required secret is present; `components.secrets.read_secrets` reads them as Pulumi secrets.
"""

from __future__ import annotations

import difflib
import json
from collections.abc import Mapping
from dataclasses import dataclass
from functools import cache
from types import SimpleNamespace
from typing import Annotated, Any

from pydantic import BaseModel, ConfigDict, TypeAdapter, ValidationError

from components.config.access import Access
from components.config.app import AppConfig
from components.config.base import (
    HIDDEN,
    MISSING,
    UNUSABLE,
    ConfigError,
    Problem,
    SecretKey,
    Section,
    decode_engine_value,
    looks_secret,
    suggest,
    validate,
)
from components.config.cluster import Cluster
from components.config.edge import Edge
from components.config.identity import Identity
from components.config.monitor import MonitorSettings
from components.config.names import Names
from components.config.network import Network
from components.config.platform import Platform
from components.config.workloads import Workloads


@dataclass(frozen=True)
class StackConfig:
    """One stack's configuration, by section; each section is what its component takes."""

    identity: Identity
    names: Names
    network: Network
    cluster: Cluster
    access: Access
    edge: Edge
    workloads: Workloads
    platform: Platform
    app: AppConfig
    monitor: MonitorSettings | None
    """None: this stack runs no uptime monitor (`monitor: null`)."""

    @property
    def environment(self) -> str:
        return self.identity.environment

    @property
    def protect(self) -> bool:
        return self.identity.protect


# The sections in the order Pulumi.yaml lists them and problems are reported.
SECTIONS: tuple[tuple[str, type[Section]], ...] = (
    ("identity", Identity),
    ("names", Names),
    ("network", Network),
    ("cluster", Cluster),
    ("access", Access),
    ("edge", Edge),
    ("workloads", Workloads),
    ("platform", Platform),
    ("app", AppConfig),
    ("monitor", MonitorSettings),
)
SECRETS: tuple[SecretKey, ...] = tuple(secret for _, section in SECTIONS for secret in section.SECRETS)


def declared_keys() -> tuple[str, ...]:
    """Every non-secret top-level key, in Pulumi.yaml's order."""
    return tuple(key for _, section in SECTIONS for key in section.top_level_keys())


def load_config(raw: Mapping[str, Any]) -> StackConfig:
    """Validate `raw` (keys without namespace) against every section and rule; raise once."""
    problems: list[Problem] = []
    secret_names = {s.name for s in SECRETS}
    known = (*declared_keys(), *secret_names)
    for key in sorted(set(raw) - set(known)):
        # A mistyped secret key still holds a secret: never echo it.
        close = difflib.get_close_matches(key, known, n=1, cutoff=0.6)
        hidden = looks_secret(key) or bool(close and close[0] in secret_names)
        problems.append(Problem(key, HIDDEN if hidden else raw[key], suggest(key, known)))

    loaded: dict[str, Any] = {}
    valid = True
    for name, section in SECTIONS:
        model, found = _load_section(section, raw)
        loaded[name] = model
        problems += found
        valid = valid and not found
    problems += _missing_secrets(raw)
    # Every section as far as it loaded (see UNUSABLE): what rules between sections read.
    stack = SimpleNamespace(**loaded)
    for name, _ in SECTIONS:
        if loaded[name] is not None:
            problems += loaded[name].problems(stack)
    if problems or not valid:
        raise ConfigError(problems)
    return StackConfig(**loaded)


def _load_section(section: type[Section], raw: Mapping[str, Any]) -> tuple[Any, list[Problem]]:
    if section.KEY is None:
        data = {}
        for name, field in section.model_fields.items():
            key = field.alias or name
            if raw.get(key) is not None:
                data[key] = decode_engine_value(field.annotation, raw[key])
        prefix = ""
    else:
        value = decode_engine_value(dict, raw.get(section.KEY))
        if value is None:
            if section.OPTIONAL:
                return None, []
            return None, [Problem(section.KEY, MISSING, "required: " + section.DESCRIPTION)]
        if not isinstance(value, dict):
            return None, [
                Problem(section.KEY, value, "must be an object (or null)" if section.OPTIONAL else "must be an object")
            ]
        data, prefix = value, section.KEY
    model, problems = validate(section, data, prefix)
    if model is None:
        model = _partial_section(section, data, problems, prefix)
    return model, problems


def _partial_section(section: type[Section], data: Mapping[str, Any], problems: list[Problem], prefix: str) -> Any:
    """The section with its invalid keys as UNUSABLE, so rules on its valid keys still run."""
    values: dict[str, Any] = {}
    for name, field in section.model_fields.items():
        key = field.alias or name
        shown = f"{prefix}.{key}" if prefix else key
        if any(p.key == shown or p.key.startswith((shown + ".", shown + "[")) for p in problems):
            values[name] = UNUSABLE
        elif key in data:
            try:
                values[name] = _adapter(section, name).validate_json(json.dumps(data[key], default=str))
            except ValidationError:
                values[name] = UNUSABLE
        else:
            values[name] = field.get_default(call_default_factory=True)
    return section.model_construct(**values)


@cache
def _adapter(section: type[Section], name: str) -> TypeAdapter[Any]:
    field = section.model_fields[name]
    annotation = Annotated[field.annotation, *field.metadata] if field.metadata else field.annotation
    if isinstance(field.annotation, type) and issubclass(field.annotation, BaseModel):
        return TypeAdapter(annotation)
    return TypeAdapter(annotation, config=ConfigDict(strict=True))


def _missing_secrets(raw: Mapping[str, Any]) -> list[Problem]:
    problems = []
    for secret in SECRETS:
        if secret.needed_when is not None and decode_engine_value(dict, raw.get(secret.needed_when)) in (None, ""):
            continue
        if raw.get(secret.name) in (None, ""):
            why = f" (needed because {secret.needed_when} is set)" if secret.needed_when else ""
            problems.append(
                Problem(
                    secret.name,
                    MISSING,
                    f"required secret{why}: {secret.description}"
                    f" Set it with `pulumi config set --secret {secret.name} ...`",
                )
            )
    return problems
