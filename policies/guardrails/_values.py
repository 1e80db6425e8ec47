"""Plain views of policy inputs, with one marker for every kind of "not known yet".

Policies see inputs in three shapes: the engine's proxies (``pulumi preview``: Mapping/Sequence
wrappers that raise ``UnknownValueError`` on an unknown value), plain dicts from ``resources.json``
(unknowns are ``"[unknown]"``, redacted secrets ``"[secret]"``), and plain dicts built by tests
with the engine's sentinel strings. :func:`plain` turns all three into plain dicts/lists where any
unknown or redacted value is the :data:`UNKNOWN` singleton, so rule code needs one check only.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from typing import Any, Final

from pulumi_policy import proxy as _proxy
from pulumi_policy.secret import Secret


class _Unknown:
    """A value that is not known yet (computed during preview) or was redacted."""

    _instance: _Unknown | None = None

    def __new__(cls) -> _Unknown:
        if cls._instance is None:
            cls._instance = super().__new__(cls)
        return cls._instance

    def __repr__(self) -> str:
        return "<unknown>"

    def __bool__(self) -> bool:
        # An unknown must never pass for a value in `if x:` checks by accident.
        raise TypeError("UNKNOWN has no truth value; test `is UNKNOWN` first")


UNKNOWN: Final = _Unknown()

# Markers written by the offline plan (resources.json) and the engine's preview sentinels.
_UNKNOWN_STRINGS: Final = frozenset(
    {
        "[unknown]",
        "[secret]",  # redacted: the value exists but this reader may not see it
        _proxy.UNKNOWN_BOOLEAN_VALUE,
        _proxy.UNKNOWN_NUMBER_VALUE,
        _proxy.UNKNOWN_STRING_VALUE,
        _proxy.UNKNOWN_ARRAY_VALUE,
        _proxy.UNKNOWN_ASSET_VALUE,
        _proxy.UNKNOWN_ARCHIVE_VALUE,
        _proxy.UNKNOWN_OBJECT_VALUE,
    }
)
# Pulumi's wire marker for a secret (resources.json writers may leave it in place).
_SECRET_SIG: Final = "4dabf18193072939515e22adb298388d"


def plain(value: Any) -> Any:
    """Return ``value`` as plain dicts/lists/scalars, unknowns replaced by :data:`UNKNOWN`."""
    if isinstance(value, Secret):
        return plain(value.value)
    if isinstance(value, str):
        return UNKNOWN if value in _UNKNOWN_STRINGS else value
    if isinstance(value, Mapping):
        if any(key == _SECRET_SIG for key in value):  # iterate: `in` would read the proxy's value
            return plain(_item(value, "value")) if any(key == "value" for key in value) else UNKNOWN
        out: dict[str, Any] = {}
        for key in value:  # iterating a proxy yields keys without checking values
            out[str(key)] = plain(_item(value, key))
        return out
    if isinstance(value, Sequence) and not isinstance(value, bytes | bytearray):
        return [plain(_item(value, i)) for i in range(len(value))]
    return value


def _item(container: Any, key: Any) -> Any:
    try:
        return container[key]
    except _proxy.UnknownValueError:
        return UNKNOWN


def get(value: Any, *path: str | int) -> Any:
    """``value[p0][p1]...`` over plain data: None when a step is missing, UNKNOWN when unknown."""
    for step in path:
        if value is UNKNOWN:
            return UNKNOWN
        if isinstance(step, int):
            if not isinstance(value, list) or not -len(value) <= step < len(value):
                return None
            value = value[step]
        else:
            if not isinstance(value, dict):
                return None
            value = value.get(step)
    return value


def items(value: Any) -> Iterator[Any]:
    """Elements of a list (nothing for a missing or unknown list)."""
    if isinstance(value, list):
        yield from value


def is_unknown(value: Any) -> bool:
    """True for UNKNOWN, and for containers holding an UNKNOWN anywhere inside."""
    if value is UNKNOWN:
        return True
    if isinstance(value, dict):
        return any(is_unknown(v) for v in value.values())
    if isinstance(value, list):
        return any(is_unknown(v) for v in value)
    return False


def as_int(value: Any) -> int | None:
    """Config numbers arrive as floats from the engine (JSON); None for anything non-numeric."""
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value
    if isinstance(value, float) and value.is_integer():
        return int(value)
    if isinstance(value, str) and value.strip().isdigit():
        return int(value.strip())
    return None


def str_list(value: Any) -> list[str]:
    """A config list of strings (anything else dropped)."""
    return [v for v in value if isinstance(v, str)] if isinstance(value, list) else []
