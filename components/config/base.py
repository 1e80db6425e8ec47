"""What every config section shares: the model base, the problem report and the common rules.

A section is a pydantic model (frozen, unknown keys forbidden, camelCase aliases, strict types).
Each field is the one place where a key's type, default, description and single-value rules
live (`Annotated[..., rule(...)]`); a section's `problems()` holds its rules between keys and
the rules that need another section. Pydantic's errors are translated here into `Problem`s
that name the key as an operator writes it (`servers[1].privateIp`), never echo a secret, and
suggest the closest known key for an unknown one.
"""

from __future__ import annotations

import difflib
import json
import re
import types
import typing
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass
from typing import Any, ClassVar

from pydantic import AfterValidator, BaseModel, ConfigDict, ValidationError

PROJECT = "honeydue"

DNS_LABEL = re.compile(r"^(?!-)[a-z0-9-]{1,63}(?<!-)$")
IMAGE_BY_DIGEST = re.compile(r"^(?P<repo>[a-z0-9][a-z0-9._:/-]*)@sha256:(?P<digest>[0-9a-f]{64})$")
_CPU = re.compile(r"^(\d+(\.\d+)?)(m?)$")
_MEMORY = re.compile(r"^(\d+(\.\d+)?)(Ki|Mi|Gi|Ti|K|M|G|T)?$")
_SECRET_LOOKING = re.compile(r"(token|secret|password|key)", re.IGNORECASE)


# --------------------------------------------------------------------------------------------
# Problems
# --------------------------------------------------------------------------------------------


class _Missing:
    def __repr__(self) -> str:
        return "(missing)"


MISSING: Any = _Missing()
HIDDEN = "[hidden]"


class SkipRule(Exception):  # noqa: N818 - control flow, not an error
    """A rule touched a value that failed its own validation: the rule is skipped (that value's
    problem is already reported)."""


class _Unusable:
    """Stands for an invalid field while a section's rules run on the rest of it: any use raises
    SkipRule, so a rule between keys runs whenever the keys it reads are valid, and only then."""

    def __repr__(self) -> str:
        return "(invalid)"

    def _skip(self, *args: Any, **kwargs: Any) -> Any:
        raise SkipRule

    __str__ = __format__ = __bool__ = __hash__ = __iter__ = __len__ = __contains__ = _skip
    __eq__ = __ne__ = __lt__ = __le__ = __gt__ = __ge__ = __getitem__ = _skip
    __int__ = __float__ = __index__ = __add__ = __radd__ = _skip

    def __getattr__(self, name: str) -> Any:
        raise SkipRule


UNUSABLE: Any = _Unusable()


@dataclass(frozen=True)
class Problem:
    key: str
    value: Any
    allowed: str

    def __str__(self) -> str:
        shown = "(missing)" if self.value is MISSING else json.dumps(self.value, default=str)
        return f"{PROJECT}:{self.key} = {shown}: {self.allowed}"


class ConfigError(ValueError):
    """Every problem of a stack's config, each naming its key."""

    def __init__(self, problems: list[Problem]) -> None:
        self.problems = problems
        lines = "\n".join(f"  - {p}" for p in problems)
        super().__init__(f"invalid stack config ({len(problems)} problem(s)):\n{lines}")


def suggest(key: str, known: Iterable[str]) -> str:
    close = difflib.get_close_matches(key, list(known), n=1, cutoff=0.6)
    return f"unknown key; did you mean '{close[0]}'?" if close else "unknown key"


def looks_secret(key: str) -> bool:
    return bool(_SECRET_LOOKING.search(key))


# --------------------------------------------------------------------------------------------
# Sections
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class SecretKey:
    """A secret config key: read only as a Pulumi secret (components/secrets.py), never parsed
    here; the loader only checks that it is set. `needed_when` names the key that enables the
    feature using it (the secret is then required only when that key is set)."""

    name: str
    description: str
    needed_when: str | None = None


def camel(name: str) -> str:
    """`k3s_version` -> `k3sVersion` (pydantic's to_camel would give `k3SVersion`)."""
    first, *rest = name.split("_")
    return first + "".join(part[:1].upper() + part[1:] for part in rest)


class ConfigModel(BaseModel):
    """Base of every section and nested object: frozen, strict, unknown keys refused."""

    model_config = ConfigDict(
        frozen=True,
        extra="forbid",
        strict=True,
        alias_generator=camel,
        validate_by_name=False,
        validate_default=False,
    )

    @classmethod
    def of(cls, data: Mapping[str, Any]) -> Any:
        """An instance from config-shaped data (camelCase keys), e.g. a default."""
        return cls.model_validate_json(json.dumps(data))


class Section(ConfigModel):
    """A group of top-level keys. `KEY` set: the section is that one object key (or null when
    `OPTIONAL`); unset: each field is a top-level key of its own."""

    TITLE: ClassVar[str]
    KEY: ClassVar[str | None] = None
    OPTIONAL: ClassVar[bool] = False
    DESCRIPTION: ClassVar[str] = ""
    """An object section's description (Pulumi.yaml); flat sections describe each field."""
    SECRETS: ClassVar[tuple[SecretKey, ...]] = ()

    @classmethod
    def top_level_keys(cls) -> tuple[str, ...]:
        if cls.KEY is not None:
            return (cls.KEY,)
        return tuple(field.alias or name for name, field in cls.model_fields.items())

    def problems(self, stack: Any) -> Iterator[Problem]:
        """Rules between keys and between sections. `stack` holds every section (None: an
        optional section that is off). They run even when some of the section's keys are invalid:
        an invalid key reads as UNUSABLE, and a rule that reads one stops there (SkipRule). Rules that
        do not depend on each other go in separate methods named `rule_*`, so one SkipRule does not
        hide the next rule's problem."""
        for name in [n for n in type(self).__dict__ if n.startswith("rule_")]:
            try:
                yield from getattr(self, name)(stack)
            except SkipRule:
                continue


# --------------------------------------------------------------------------------------------
# Single-value rules, attached to a field with Annotated[type, rule(...)]
# --------------------------------------------------------------------------------------------


def rule(check: Callable[[Any], bool], allowed: str) -> AfterValidator:
    """A field rule: `check(value)` must hold, else the problem says `allowed`."""

    def validate(value: Any) -> Any:
        if not check(value):
            raise ValueError(allowed)
        return value

    return AfterValidator(validate)


def one_of(*allowed: Any) -> AfterValidator:
    return rule(lambda v: v in allowed, "must be one of " + ", ".join(str(a) for a in allowed))


def between(low: float, high: float, unit: str = "") -> AfterValidator:
    return rule(lambda v: low <= v <= high, f"must be between {low} and {high}{unit}")


def matches(pattern: str, allowed: str) -> AfterValidator:
    compiled = re.compile(pattern)
    return rule(lambda v: compiled.fullmatch(v) is not None, allowed)


POSITIVE = rule(lambda v: v >= 1, "must be a positive integer")
NON_EMPTY = rule(lambda v: len(v) > 0, "required non-empty string")
CRON = rule(lambda v: len(v.split()) == 5, "must be a 5-field cron expression, e.g. '0 */6 * * *'")
HETZNER_NAME = matches(r"[a-z0-9][a-z0-9.-]*", "must be a Hetzner name like cx33 / debian-13")
PINNED_BY_DIGEST = rule(
    lambda v: IMAGE_BY_DIGEST.match(v) is not None, "must be pinned by digest: registry/repository@sha256:<64 hex>"
)


def parses(parse: Callable[[str], Any], allowed: str) -> AfterValidator:
    """A field rule: `parse(value)` must not raise ValueError (e.g. an address or network)."""

    def check(value: str) -> bool:
        try:
            parse(value)
        except ValueError:
            return False
        return True

    return rule(check, allowed)


def is_dns_name(name: Any) -> bool:
    if not isinstance(name, str) or len(name) > 253 or "." not in name:
        return False
    return all(DNS_LABEL.match(label) for label in name.split("."))


def image_registry(image: str) -> str:
    """Registry host of an image reference (Docker's rule: first segment with '.' or ':' or localhost)."""
    first, _, rest = image.partition("/")
    if rest and ("." in first or ":" in first or first == "localhost"):
        return first
    return "docker.io"


def cpu_millis(quantity: str) -> float:
    m = _CPU.match(quantity)
    if m is None:
        raise ValueError(quantity)
    return float(m.group(1)) * (1 if m.group(3) else 1000)


def memory_bytes(quantity: str) -> float:
    m = _MEMORY.match(quantity)
    if m is None:
        raise ValueError(quantity)
    unit = m.group(3) or ""
    powers = {"": 1, "K": 10**3, "M": 10**6, "G": 10**9, "T": 10**12}
    powers.update({"Ki": 2**10, "Mi": 2**20, "Gi": 2**30, "Ti": 2**40})
    return float(m.group(1)) * powers[unit]


def quantity_at_least(minimum: float, allowed: str) -> AfterValidator:
    return rule(lambda v: _MEMORY.match(v) is not None and memory_bytes(v) >= minimum, allowed)


# --------------------------------------------------------------------------------------------
# Validation and pydantic's errors as Problems
# --------------------------------------------------------------------------------------------

_TYPE_WORDS = {
    "string_type": "must be a string",
    "int_type": "must be an integer",
    "int_from_float": "must be an integer",
    "float_type": "must be a number",
    "bool_type": "must be true or false",
    "list_type": "must be a list",
    "tuple_type": "must be a list",
    "dict_type": "must be an object",
    "model_type": "must be an object",
    "model_attributes_type": "must be an object",
    "json_invalid": "must be valid JSON",
}


def decode_engine_value(annotation: Any, value: Any) -> Any:
    """The engine passes every value as a string (JSON for non-strings); YAML/tests pass typed ones."""
    if isinstance(value, str) and not _is_str(annotation):
        try:
            return json.loads(value)
        except json.JSONDecodeError:
            return value
    return value


def validate(model: type[ConfigModel], data: Any, prefix: str = "") -> tuple[Any, list[Problem]]:
    """`model` from `data` (JSON-shaped), or None with every problem, keys prefixed by `prefix`."""
    try:
        return model.model_validate_json(json.dumps(data, default=str)), []
    except ValidationError as exc:
        return None, [_problem(model, prefix, err) for err in exc.errors(include_url=False)]


def _problem(model: type[ConfigModel], prefix: str, err: Any) -> Problem:
    loc = tuple(err["loc"])
    key = _key_text(prefix, loc)
    kind = err["type"]
    value = err.get("input", MISSING)
    if any(looks_secret(str(part)) and not str(part).startswith("ssh") for part in loc):
        value = HIDDEN
    if kind == "extra_forbidden":
        siblings = _aliases_at(model, loc[:-1])
        hidden = looks_secret(str(loc[-1]))
        return Problem(key, HIDDEN if hidden else value, suggest(str(loc[-1]), siblings))
    if kind == "missing":
        field = _field_at(model, loc)
        what = field.description if field is not None and field.description else "a value"
        return Problem(key, MISSING, f"required: {what}")
    if kind == "value_error":
        return Problem(key, value, str(err["ctx"]["error"]))
    return Problem(key, value, _TYPE_WORDS.get(kind, err["msg"]))


def _key_text(prefix: str, loc: tuple[Any, ...]) -> str:
    text = prefix
    for part in loc:
        if isinstance(part, int):
            text += f"[{part}]"
        else:
            text += f".{part}" if text else str(part)
    return text


def _unwrap(annotation: Any) -> Any:
    """The model class (or scalar type) inside Annotated / Optional / tuple / Mapping."""
    while True:
        origin = typing.get_origin(annotation)
        args = typing.get_args(annotation)
        if origin is typing.Annotated:
            annotation = args[0]
        elif origin in (typing.Union, types.UnionType):
            annotation = next(a for a in args if a is not type(None))
        elif origin in (tuple, list) or (origin is not None and origin.__name__ in ("Mapping", "dict")):
            annotation = args[-1] if origin is not tuple else args[0]
        else:
            return annotation


def _is_str(annotation: Any) -> bool:
    if typing.get_origin(annotation) is typing.Annotated:
        annotation = typing.get_args(annotation)[0]
    return annotation is str


def _field_at(model: Any, loc: tuple[Any, ...]) -> Any:
    field = None
    for part in loc:
        if isinstance(part, int):
            continue
        if not (isinstance(model, type) and issubclass(model, BaseModel)):
            return None
        field = next((f for n, f in model.model_fields.items() if (f.alias or n) == part), None)
        if field is None:
            return None
        model = _unwrap(field.annotation)
    return field


def _aliases_at(model: Any, loc: tuple[Any, ...]) -> list[str]:
    target = model if not loc else _unwrap(getattr(_field_at(model, loc), "annotation", None))
    if isinstance(target, type) and issubclass(target, BaseModel):
        return [f.alias or n for n, f in target.model_fields.items()]
    return []


def field_aliases(model: type[BaseModel]) -> Mapping[str, str]:
    """Python attribute name -> config key, for messages that name a sibling key."""
    return {name: field.alias or name for name, field in model.model_fields.items()}
