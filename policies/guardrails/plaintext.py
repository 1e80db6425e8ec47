"""secrets-not-in-plaintext: no secret-looking ConfigMap data or literal container env values."""

from __future__ import annotations

import itertools
import re
from typing import Any

from ._base import Resource, kind_of, resource_policy, str_list_prop
from ._values import UNKNOWN, get, items, str_list
from .k8s import containers, describe, pod_spec

# Words that make a key name look like it holds a secret. "key" counts only as the last word
# (API_KEY, stripeKey) so that KEY_PREFIX or keyspace names do not trip it.
_SECRET_WORDS = frozenset(
    {
        "password",
        "passwd",
        "pwd",
        "passphrase",
        "secret",
        "token",
        "dsn",
        "credential",
        "credentials",
        "apikey",
        "privatekey",
        "secretkey",
        "accesskey",
    }
)
_WORD_RE = re.compile(r"[A-Z]?[a-z0-9]+|[A-Z]+(?![a-z])")
# scheme://user:password@host: credentials inside a URL, whatever the key is called.
_URL_CREDENTIALS_RE = re.compile(r"[a-zA-Z][a-zA-Z0-9+.-]*://[^/\s:@]*:[^/\s@]+@")
_PRIVATE_KEY_RE = re.compile(r"-----BEGIN [A-Z ]*PRIVATE KEY-----")


def key_looks_secret(key: str) -> bool:
    words = [w.lower() for w in _WORD_RE.findall(key)]
    if not words:
        return False
    joined = {a + b for a, b in itertools.pairwise(words)}
    if _SECRET_WORDS.intersection(words) or _SECRET_WORDS.intersection(joined):
        return True
    return words[-1] == "key" and "public" not in words


def value_leaks(value: str) -> str | None:
    if _URL_CREDENTIALS_RE.search(value):
        return "a URL with embedded credentials (scheme://user:pass@)"
    if _PRIVATE_KEY_RE.search(value):
        return "a PEM private key"
    return None


def _finding(key: str, value: Any, allowed: set[str]) -> str | None:
    """Why key=value is a plaintext secret, or None. Unknown/redacted values are never reported."""
    if value is UNKNOWN or not isinstance(value, str) or not value or key in allowed:
        return None
    leak = value_leaks(value)
    if leak:
        return f"{key!r} holds {leak}"
    if key_looks_secret(key):
        return f"{key!r} looks like a secret but holds a literal value"
    return None


def _plaintext(resource: Resource) -> list[str]:
    allowed = set(str_list(resource.config.get("allowedKeys")))
    what = describe(resource)
    out = []
    if kind_of(resource.type) == "ConfigMap":
        data = get(resource.props, "data")
        if isinstance(data, dict):
            for key, value in data.items():
                why = _finding(key, value, allowed)
                if why:
                    out.append(f"{what}: data {why}")
    spec = pod_spec(resource)
    for c in containers(spec):
        for env in items(get(c.spec, "env")):
            name = get(env, "name")
            if isinstance(name, str):
                why = _finding(name, get(env, "value"), allowed)
                if why:
                    out.append(f"{what} {c.label}: env {why}")
    return out


PLAINTEXT = resource_policy(
    name="secrets-not-in-plaintext",
    description=(
        "No secret-looking ConfigMap entry or literal container env value (password, token, key, "
        "secret, dsn, URLs with user:pass@, PEM private keys)."
    ),
    remediation=(
        "Put the value in a Kubernetes Secret (from a Pulumi secret) and reference it with "
        "env.valueFrom.secretKeyRef or envFrom.secretRef. A key that only looks secret "
        "(e.g. JWT_PUBLIC_KEY) goes into `allowedKeys`."
    ),
    rule=_plaintext,
    schema={"allowedKeys": str_list_prop("Key / env names that look secret but are not (exact match).")},
)
