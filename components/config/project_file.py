"""Pulumi.yaml's `config:` block, generated from the section models (the one source).

`python -m tools.project_config` rewrites it; tests/test_config.py fails when it drifted.

Pulumi treats a declared key without a default (or with `default: null`) as required in every
stack: `pulumi up` stops with "Stack '<stack>' is missing configuration value '<key>'"
(pulumi/pulumi sdk/go/common/workspace/config.go, mergeConfig: `hasDefault :=
projectConfigType.Default != nil`). A key that is optional without a natural default (an object
that may be null, a secret needed only when another key enables its feature) therefore cannot be
declared there: the block lists such keys in a comment instead, generated from the same models.
"""

from __future__ import annotations

import textwrap
import typing
from typing import Any

import yaml
from pydantic import BaseModel
from pydantic.fields import FieldInfo

from components.config.base import SecretKey, Section
from components.config.stack import SECTIONS

HEADER = """\
# Every key the program reads, GENERATED from the section models in components/config/ by
# `python -m tools.project_config` (tests fail when this block drifts from them). The models
# hold each key's type, default, description and rules; the program applies the defaults itself.
# Keys without `type` hold objects (Pulumi's project schema types only scalars and arrays).
"""
_SCALARS = {str: "string", int: "integer", bool: "boolean"}


def _pulumi_type(annotation: Any) -> dict[str, Any]:
    if annotation in _SCALARS:
        return {"type": _SCALARS[annotation]}
    if typing.get_origin(annotation) is tuple:
        (item, _) = typing.get_args(annotation)
        if typing.get_origin(item) is typing.Annotated:
            item = typing.get_args(item)[0]
        if item in _SCALARS:
            return {"type": "array", "items": {"type": _SCALARS[item]}}
    return {}


def _default(field: FieldInfo) -> Any:
    value = field.get_default(call_default_factory=True)
    if isinstance(value, BaseModel):
        return value.model_dump(mode="json", by_alias=True)
    if isinstance(value, tuple):
        return list(value)
    return value


def _entries(section: type[Section]) -> tuple[dict[str, Any], list[str]]:
    """Declared keys, and the optional keys that can only be named in a comment."""
    declared: dict[str, Any] = {}
    undeclarable: list[str] = []
    if section.KEY is not None:
        if section.OPTIONAL:
            undeclarable.append(f"{section.KEY}: {section.DESCRIPTION}")
        else:
            declared[section.KEY] = {"description": section.DESCRIPTION}
    else:
        for name, field in section.model_fields.items():
            key = field.alias or name
            spec: dict[str, Any] = _pulumi_type(field.annotation)
            if not field.is_required():
                default = _default(field)
                if default is None:
                    undeclarable.append(f"{key}: {field.description}")
                    continue
                spec["default"] = default
            spec["description"] = field.description
            declared[key] = spec
    for secret in section.SECRETS:
        if secret.needed_when is not None:
            undeclarable.append(f"{secret.name} (secret): {secret.description}")
        else:
            declared[secret.name] = _secret(secret)
    return declared, undeclarable


def _secret(secret: SecretKey) -> dict[str, Any]:
    return {"type": "string", "secret": True, "description": secret.description}


def _comment(entries: list[str]) -> str:
    wrapped = (
        textwrap.wrap(entry, width=96, initial_indent="  #   ", subsequent_indent="  #     ") for entry in entries
    )
    return "".join(line + "\n" for lines in wrapped for line in lines)


def render_config_block() -> str:
    out = [HEADER, "config:\n"]
    for _, section in SECTIONS:
        declared, undeclarable = _entries(section)
        out.append(f"  # --- {section.TITLE} " + "-" * max(3, 92 - len(section.TITLE)) + "\n")
        if declared:
            text = yaml.safe_dump(declared, width=96, sort_keys=False, allow_unicode=True)
            out.append("".join(f"  {line}\n" for line in text.splitlines()))
        if undeclarable:
            out.append("  # Optional, so not declared here (Pulumi would require them in every stack):\n")
            out.append(_comment(undeclarable))
    return "".join(out)


def project_file(current: str) -> str:
    """`current` Pulumi.yaml with its config block (and the comment above it) regenerated."""
    head = current.split("\n# Every key the program reads", 1)[0].split("\nconfig:", 1)[0]
    return head.rstrip("\n") + "\n\n" + render_config_block()


def declared_schema() -> dict[str, dict[str, Any]]:
    """The keys Pulumi.yaml declares, as parsed YAML would give them (for tests and tools)."""
    schema: dict[str, dict[str, Any]] = {}
    for _, section in SECTIONS:
        schema.update(_entries(section)[0])
    return schema
