"""secrets-not-in-plaintext: credentials written in clear anywhere a Kubernetes object carries text.

The rule (README "secrets-not-in-plaintext"):

1. **By value, whatever the name**: a URL whose userinfo holds a password (``scheme://u:p@``),
   a PEM private-key block, or a token in a well-known credential format (AWS access key id,
   GitHub/GitLab/Slack/Stripe/Google/SendGrid tokens, a signed JWT).
2. **By name and value**: the name looks secret (password/passwd/pwd/pass, secret, token, dsn,
   credential, api/private/secret/access key, any ``…_KEY`` but public keys) **and** the value
   looks like one: a non-empty literal that is not a number, boolean, duration, a reference
   (``$(VAR)``, ``${VAR}``, ``{{ }}``) or, for names ending in a setting suffix (``_FILE``,
   ``_PATH``, ``_TTL``, ``_LENGTH``, ``_TIMEOUT``, ``_ALGORITHM``, …), anything at all: those
   name a setting about a secret, not the secret.
3. A value the pack cannot read under a secret-looking name (computed, redacted ``[secret]``,
   undecodable ``binaryData``) is reported: a Pulumi secret written into a ConfigMap or an env
   literal is in clear in the cluster all the same.

Where: ConfigMap(Patch) ``data`` entries and the files inside them (``.env`` lines, YAML/JSON,
``key=value`` / ``key: value`` lines), ``binaryData`` (decoded), every container's env values,
``args`` and ``command`` (``--password=x``, ``--password x``, ``PGPASSWORD=x cmd``), the
annotations of every object and pod template, upgrade Plan containers, and Helm values (release
``values``, K3s HelmChart/HelmChartConfig ``valuesContent`` and ``set``). Kubernetes Secrets
are where secrets belong and are not inspected.
"""

from __future__ import annotations

import base64
import binascii
import itertools
import re
from typing import Any

import yaml

from ._base import Resource, base_kind, resource_policy, str_list_prop
from ._values import UNKNOWN, get, items, str_list
from .k8s import Unreadable, containers, describe, helm_values, pod_metadata, pod_spec, walk

# Words that make a name look like it holds a secret.
_SECRET_WORDS = frozenset(
    {
        "password",
        "passwd",
        "pwd",
        "pass",
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
# Endings that make one glued word secret (PGPASSWORD, APITOKEN; not TOKENIZER).
_SECRET_INFIXES = ("password", "passwd", "secret", "token", "apikey", "passphrase")
# Last words that turn a secret-looking name into a setting about the secret.
_SETTING_SUFFIXES = frozenset(
    {
        "file",
        "path",
        "dir",
        "filename",
        "ttl",
        "length",
        "len",
        "size",
        "min",
        "max",
        "timeout",
        "expiry",
        "expires",
        "expiration",
        "lifetime",
        "age",
        "rotation",
        "algorithm",
        "alg",
        "header",
        "name",
        "enabled",
        "required",
        "policy",
        "type",
        "id",
        "ref",
        "url",
        "endpoint",
        "issuer",
        "audience",
        "mode",
        "format",
        "version",
        "count",
        "seconds",
        "minutes",
        "hours",
        "days",
        "interval",
        "namespace",
        "provider",
        "store",
        "backend",
        "host",
        "port",
        "scope",
        "scopes",
        "prefix",
        "strategy",
        "method",
        "location",
        "region",
        "realm",
        "hint",
        "label",
    }
)
_WORD_RE = re.compile(r"[A-Z]?[a-z0-9]+|[A-Z]+(?![a-z])")
_URL_CREDENTIALS_RE = re.compile(r"[a-zA-Z][a-zA-Z0-9+.-]*://[^/\s:@]*:[^/\s@]+@")
_PRIVATE_KEY_RE = re.compile(r"-----BEGIN [A-Z0-9 ]*PRIVATE KEY-----")
_TOKEN_FORMATS: tuple[tuple[str, re.Pattern[str]], ...] = (
    ("an AWS access key id", re.compile(r"\b(?:AKIA|ASIA)[0-9A-Z]{16}\b")),
    ("a GitHub token", re.compile(r"\b(?:gh[pousr]_[A-Za-z0-9]{36,}|github_pat_[A-Za-z0-9_]{40,})\b")),
    ("a GitLab token", re.compile(r"\bglpat-[A-Za-z0-9_-]{20,}\b")),
    ("a Slack token", re.compile(r"\bxox[abposr]-[A-Za-z0-9-]{10,}\b")),
    ("a Stripe secret key", re.compile(r"\b(?:sk|rk)_(?:live|test)_[A-Za-z0-9]{16,}\b")),
    ("a Google API key", re.compile(r"\bAIza[0-9A-Za-z_-]{35}\b")),
    ("a SendGrid key", re.compile(r"\bSG\.[A-Za-z0-9_-]{16,}\.[A-Za-z0-9_-]{16,}\b")),
    ("a signed JWT", re.compile(r"\beyJ[A-Za-z0-9_-]{8,}\.eyJ[A-Za-z0-9_-]{8,}\.[A-Za-z0-9_-]{8,}")),
)
_NOT_SECRET_VALUE_RE = re.compile(
    r"^(?:-?\d+(?:\.\d+)?|true|false|yes|no|on|off|null|none|\d+(?:ms|s|m|h|d|w)|[\d.]+[KMGT]i?)$", re.IGNORECASE
)
_REFERENCE_RE = re.compile(r"^\s*(?:\$\([A-Za-z_][\w]*\)|\$\{[^}]+\}|\{\{.*\}\})\s*$")
_REFERENCE_KEYS = frozenset({"name", "key", "optional"})
_IDENTIFIER_RE = re.compile(r"^[A-Za-z][A-Za-z0-9_.-]{0,40}$")
_ASSIGNMENT_RE = re.compile(r"^\s*(?:export\s+)?([A-Za-z_][\w.-]*)\s*[=:]\s*(.*?)\s*$")
_ARG_ASSIGN_RE = re.compile(r"(?:^|\s)-{0,2}([A-Za-z_][\w.-]*)=(\S+)")
_FILE_SUFFIXES = (".env", ".yaml", ".yml", ".json", ".properties", ".conf", ".ini", ".toml", ".cfg")


def key_looks_secret(key: str) -> bool:
    words = [w.lower() for w in _WORD_RE.findall(key)]
    if not words or words[-1] in _SETTING_SUFFIXES or words[0] == "existing":
        return False  # a setting about a secret, or the name of an existing Secret
    joined = {a + b for a, b in itertools.pairwise(words)}
    if _SECRET_WORDS.intersection(words) or _SECRET_WORDS.intersection(joined):
        return "public" not in words
    if any(w.endswith(infix) for w in words for infix in _SECRET_INFIXES):
        return "public" not in words
    return words[-1] == "key" and "public" not in words


def value_leaks(value: str) -> str | None:
    if _URL_CREDENTIALS_RE.search(value):
        return "a URL with embedded credentials (scheme://user:pass@)"
    if _PRIVATE_KEY_RE.search(value):
        return "a PEM private key"
    for what, pattern in _TOKEN_FORMATS:
        if pattern.search(value):
            return what
    return None


def _value_looks_secret(value: str) -> bool:
    text = value.strip().strip("\"'")
    if not text or _NOT_SECRET_VALUE_RE.match(text) or _REFERENCE_RE.match(text):
        return False
    # A key name inside a Secret (`passwordKey: password`, `tokenKey: api-token`) is no secret.
    return not (_IDENTIFIER_RE.match(text) and key_looks_secret(text))


def finding(key: str, value: Any, allowed: set[str]) -> str | None:
    """Why key=value is a plaintext secret, or None (see the module docstring for the rule)."""
    if key in allowed:
        return None
    if value is UNKNOWN or isinstance(value, Unreadable):
        if key_looks_secret(key):
            return f"{key!r} looks like a secret and its value cannot be read (computed or redacted): use a Secret reference"
        return None
    if isinstance(value, bool | int | float) or value is None:
        return None
    text = value if isinstance(value, str) else str(value)
    leak = value_leaks(text)
    if leak:
        return f"{key!r} holds {leak}"
    if key_looks_secret(key) and isinstance(value, str) and _value_looks_secret(value):
        return f"{key!r} looks like a secret and holds a literal value"
    return None


def structured_pairs(doc: Any) -> list[tuple[str, Any]]:
    """(key, scalar) for every mapping entry, plus (name, value) of env-style ``{name, value}``
    entries (Kubernetes env lists written into Helm values)."""
    pairs: list[tuple[str, Any]] = []
    for _, key, value, parent in walk(doc):
        if key in ("key", "name") and {"name", "key"} <= set(parent) <= _REFERENCE_KEYS and not value_leaks(str(value)):
            continue  # {name, key}: a secretKeyRef / configMapKeyRef, a reference, not a value
        if not isinstance(value, dict | list):
            pairs.append((key, value))
        if key == "value" and isinstance(parent.get("name"), str):
            pairs.append((parent["name"], value))
    return pairs


def _file_pairs(text: str) -> list[tuple[str, Any]]:
    """(key, value) pairs inside a config file's text: YAML/JSON mappings, and any
    ``KEY=VALUE`` / ``key: value`` line (.env, .properties, .ini, .toml)."""
    pairs: list[tuple[str, Any]] = []
    try:
        doc = yaml.safe_load(text)
    except yaml.YAMLError:
        doc = None
    if isinstance(doc, dict | list):
        pairs.extend(structured_pairs(doc))
    for line in text.splitlines():
        m = _ASSIGNMENT_RE.match(line)
        if m and not line.lstrip().startswith(("#", ";", "[")):
            pairs.append((m.group(1), m.group(2).strip().strip("\"'")))
    return pairs


def _scan_text(label: str, key: str, value: Any, allowed: set[str]) -> list[str]:
    """The entry itself, then, for file-like entries, the pairs inside its content."""
    out = []
    why = finding(key, value, allowed)
    if why:
        out.append(f"{label} {why}")
    if isinstance(value, str) and ("\n" in value or key.endswith(_FILE_SUFFIXES) or value.lstrip().startswith("{")):
        seen = set()
        for inner_key, inner_value in _file_pairs(value):
            inner = finding(inner_key, inner_value, allowed)
            if inner and inner not in seen and (not why or inner != why):
                seen.add(inner)
                out.append(f"{label} (file {key!r}) {inner}")
    return out


def _arg_findings(label: str, args: Any, allowed: set[str]) -> list[str]:
    """Command lines: ``--password=x``, ``--password x``, ``PGPASSWORD=x psql`` and leaked values."""
    out = []
    words = list(items(args))
    for i, word in enumerate(words):
        if word is UNKNOWN:
            continue
        if not isinstance(word, str):
            continue
        leak = value_leaks(word)
        if leak:
            out.append(f"{label} holds {leak}")
            continue
        for m in _ARG_ASSIGN_RE.finditer(word):
            why = finding(m.group(1), m.group(2), allowed)
            if why:
                out.append(f"{label} {why}")
        flag = word.lstrip("-")
        if word.startswith("-") and "=" not in word and i + 1 < len(words):
            nxt = words[i + 1]
            if isinstance(nxt, str) and not nxt.startswith("-") and key_looks_secret(flag):
                why = finding(flag, nxt, allowed)
                if why:
                    out.append(f"{label} {why}")
    return out


def _container_findings(label: str, c: Any, allowed: set[str], env_key: str = "env") -> list[str]:
    out = []
    for env in items(get(c, env_key)):
        name = get(env, "name")
        if isinstance(name, str) and get(env, "valueFrom") is None:
            why = finding(name, get(env, "value"), allowed) if get(env, "value") is not None else None
            if why:
                out.append(f"{label}: env {why}")
    for field in ("args", "command"):
        out.extend(_arg_findings(f"{label}: {field}", get(c, field), allowed))
    return out


def _annotation_findings(label: str, meta: Any, allowed: set[str]) -> list[str]:
    out = []
    annotations = get(meta, "annotations")
    if isinstance(annotations, dict):
        for key, value in annotations.items():
            out.extend(_scan_text(f"{label} annotation {key}:", key.rsplit("/", 1)[-1], value, allowed))
    return out


def _configmap_findings(what: str, props: Any, allowed: set[str]) -> list[str]:
    out = []
    data = get(props, "data")
    if isinstance(data, dict):
        for key, value in data.items():
            out.extend(_scan_text(f"{what}: data", key, value, allowed))
    binary = get(props, "binaryData")
    if isinstance(binary, dict):
        for key, value in binary.items():
            try:
                decoded: Any = base64.b64decode(str(value), validate=True).decode("utf-8", "replace")
            except (binascii.Error, ValueError):
                decoded = Unreadable("not base64")
            if isinstance(decoded, Unreadable) or value is UNKNOWN:
                out.append(f"{what}: binaryData {key!r} cannot be decoded, so it cannot be checked (fails closed)")
            else:
                out.extend(_scan_text(f"{what}: binaryData", key, decoded, allowed))
    return out


def _plaintext(resource: Resource) -> list[str]:
    kind = base_kind(resource.type)
    if kind is None or kind == "Secret":
        return []
    allowed = set(str_list(resource.config.get("allowedKeys")))
    what = describe(resource)
    out: list[str] = []
    if kind == "ConfigMap":
        out.extend(_configmap_findings(what, resource.props, allowed))
    out.extend(_annotation_findings(what, get(resource.props, "metadata"), allowed))
    out.extend(_annotation_findings(f"{what} pod template", pod_metadata(resource), allowed))
    for c in containers(pod_spec(resource)):
        out.extend(_container_findings(f"{what} {c.label}", c.spec, allowed))
    if kind == "Plan" and resource.type.startswith("kubernetes:upgrade.cattle.io/"):
        for part in ("upgrade", "prepare"):
            out.extend(_container_findings(f"{what} spec.{part}", get(resource.props, "spec", part), allowed, "envs"))
    for where, values in helm_values(resource):
        if isinstance(values, Unreadable) or values is UNKNOWN:
            continue  # workloads-hardened and container-images-pinned already fail closed on these
        for key, value in structured_pairs(values):
            out.extend(_scan_text(f"{what} {where}:", key, value, allowed))
    return out


PLAINTEXT = resource_policy(
    name="secrets-not-in-plaintext",
    description=(
        "No credential in clear: found by value (URLs with user:pass@, PEM private keys, known "
        "token formats) anywhere, and by a secret-looking name with a secret-looking value, in "
        "ConfigMap data and the files in it, binaryData, env, args, commands, annotations, "
        "upgrade Plans and Helm values."
    ),
    remediation=(
        "Put the value in a Kubernetes Secret (from a Pulumi secret) and reference it with "
        "env.valueFrom.secretKeyRef, envFrom.secretRef, a mounted Secret volume, or the chart's "
        "existingSecret value. A name that only looks secret goes into `allowedKeys`."
    ),
    rule=_plaintext,
    schema={"allowedKeys": str_list_prop("Key / env names that look secret but are not (exact match).")},
)

__all__ = ["PLAINTEXT", "finding", "key_looks_secret", "value_leaks"]
