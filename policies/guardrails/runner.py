"""Run the pack's policy objects offline over resources.json-style dicts (no Pulumi engine).

The same Policy objects the PolicyPack serves are called through their public
``validate(args, report_violation)`` with ``ResourceValidationArgs`` / ``StackValidationArgs``
built here, so `make policy-check`, the offline plan and `pulumi preview` share every rule.
"""

from __future__ import annotations

import asyncio
import inspect
import json
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pulumi_policy import (
    EnforcementLevel,
    PolicyCustomTimeouts,
    PolicyProviderResource,
    PolicyResource,
    PolicyResourceOptions,
    ResourceValidationArgs,
    ResourceValidationPolicy,
    StackValidationArgs,
    StackValidationPolicy,
)
from pulumi_policy.proxy import UnknownValueError

from .cosign import VERIFIER
from .pack import CONFIG_CHECKS, POLICIES, SIGNATURE_POLICY

DEFAULT_CONFIG = Path(__file__).resolve().parents[1] / "config.prod.json"
PACK_LEVEL = EnforcementLevel.MANDATORY  # policies without their own level (none today)


@dataclass(frozen=True)
class Violation:
    policy: str
    enforcement_level: str  # "mandatory" | "advisory"
    urn: str
    message: str

    def to_json(self) -> dict[str, str]:
        return {
            "policy": self.policy,
            "enforcementLevel": self.enforcement_level,
            "urn": self.urn,
            "message": self.message,
        }


class ConfigError(ValueError):
    """The policy-pack config names an unknown policy or key, or has a bad enforcement level."""


def load_config(path: str | Path | None = None) -> dict[str, Any]:
    """Read a Pulumi policy-pack config file (default: policies/config.prod.json)."""
    data = json.loads(Path(path or DEFAULT_CONFIG).read_text())
    if not isinstance(data, dict):
        raise ConfigError(f"{path}: expected a JSON object keyed by policy name")
    return data


def with_cloudflare_ranges(config: dict[str, Any], source: str | Path) -> dict[str, Any]:
    """`config` with firewall-web-from-cloudflare-only reading Cloudflare's ranges from `source`.

    Offline runs point it at the file the plan's mocks answered `cloudflare.get_ip_ranges` with,
    so the policy judges the firewall against the ranges the program was given. A file that
    configures its own source keeps it.
    """
    name = "firewall-web-from-cloudflare-only"
    entry = config.get(name)
    if isinstance(entry, dict) and "cloudflareRangesSource" in entry:
        return config
    if isinstance(entry, str):  # the "<policy>": "<level>" shape
        entry = {"enforcementLevel": entry}
    return {**config, name: {**(entry or {}), "cloudflareRangesSource": str(source)}}


def _level(value: Any, where: str) -> EnforcementLevel:
    try:
        return EnforcementLevel(value)
    except ValueError:
        raise ConfigError(
            f"{where}: enforcementLevel {value!r} is not one of advisory/mandatory/remediate/disabled"
        ) from None


def resolve(
    config: Mapping[str, Any], *, signatures_advisory: bool
) -> dict[str, tuple[EnforcementLevel, dict[str, Any]]]:
    """Per policy: the effective level and its config properties, as the Pulumi CLI would pass them.

    Pulumi's config shapes: ``{"all": "advisory"}``, ``{"<policy>": "advisory"}`` and
    ``{"<policy>": {"enforcementLevel": ..., "<key>": value}}``.
    """
    by_name = {p.name: p for p in POLICIES}
    unknown = sorted(set(config) - set(by_name) - {"all"})
    if unknown:
        raise ConfigError(f"unknown policy name(s) in config: {unknown}")
    default = _level(config["all"], "all") if "all" in config else None
    out = {}
    for name, policy in by_name.items():
        entry = config.get(name, {})
        props: dict[str, Any] = {}
        level = default or policy.enforcement_level or PACK_LEVEL
        if isinstance(entry, str):
            level = _level(entry, name)
        elif isinstance(entry, Mapping):
            if "enforcementLevel" in entry:
                level = _level(entry["enforcementLevel"], name)
            props = {k: v for k, v in entry.items() if k != "enforcementLevel"}
            known = set(policy.config_schema.properties) if policy.config_schema else set()
            extra = sorted(set(props) - known)
            if extra:
                raise ConfigError(f"{name}: unknown config key(s) {extra}; known: {sorted(known)}")
            problems = CONFIG_CHECKS[name](props) if name in CONFIG_CHECKS else []
            if problems:
                raise ConfigError(f"{name}: " + "; ".join(problems))
        else:
            raise ConfigError(f"{name}: expected a level string or an object")
        if level == EnforcementLevel.REMEDIATE:
            level = EnforcementLevel.MANDATORY  # no remediations here; the engine does the same
        if signatures_advisory and name == SIGNATURE_POLICY and level != EnforcementLevel.DISABLED:
            level = EnforcementLevel.ADVISORY
        out[name] = (level, props)
    return out


def _options(resource: Mapping[str, Any]) -> PolicyResourceOptions:
    opts = resource.get("options") or {}
    return PolicyResourceOptions(
        protect=bool(opts.get("protect")),
        ignore_changes=list(opts.get("ignoreChanges") or []),
        delete_before_replace=opts.get("deleteBeforeReplace"),
        aliases=[],
        custom_timeouts=PolicyCustomTimeouts(0, 0, 0),
        additional_secret_outputs=[],
        parent=resource.get("parent"),
    )


def _provider_finder(resources: list[dict[str, Any]]) -> Any:
    """resource -> PolicyProviderResource (or None), as the engine passes ``args.provider``.

    A resource names its provider by reference (``<provider urn>::<id>``) under ``provider``
    when the writer recorded it. Without one, a Kubernetes resource gets the stack's only
    ``pulumi:providers:kubernetes`` (the program passes one explicit provider down); with none
    or several, the provider stays unknown to the policies."""
    providers = {r.get("urn", ""): r for r in resources if str(r.get("type", "")).startswith("pulumi:providers:")}
    kube = [r for r in providers.values() if r.get("type") == "pulumi:providers:kubernetes"]

    def find(resource: Mapping[str, Any]) -> PolicyProviderResource | None:
        ref = resource.get("provider")
        match = None
        if isinstance(ref, str) and ref:
            match = next(
                (p for urn, p in providers.items() if urn and (ref == urn or ref.startswith(urn + "::"))), None
            )
        elif str(resource.get("type", "")).startswith("kubernetes:") and len(kube) == 1:
            match = kube[0]
        if match is None:
            return None
        return PolicyProviderResource(
            match.get("type", ""), match.get("inputs") or {}, match.get("urn", ""), match.get("name", "")
        )

    return find


def _call(policy: ResourceValidationPolicy | StackValidationPolicy, args: Any, report: Any) -> None:
    result = policy.validate(args, report)
    if inspect.isawaitable(result):

        async def wait() -> None:
            await result

        asyncio.run(wait())


def run_policies(
    resources: list[dict[str, Any]], config: Mapping[str, Any], *, signatures_advisory: bool
) -> list[Violation]:
    """Run every enabled policy: resource policies over each resource's inputs, stack policies
    over all of them. ``config`` is a policy-pack config mapping (see :func:`load_config`).
    With ``signatures_advisory`` container-images-signed reports as advisory (offline plan)."""
    settings = resolve(config, signatures_advisory=signatures_advisory)
    provider_of = _provider_finder(resources)
    VERIFIER.reset()  # "cached per digest within a run"
    violations: list[Violation] = []

    def run(
        policy: ResourceValidationPolicy | StackValidationPolicy, args: Any, level: EnforcementLevel, default_urn: str
    ) -> None:
        def report(message: str, urn: str | None = None) -> None:
            violations.append(Violation(policy.name, level.value, urn or default_urn, message))

        try:
            _call(policy, args, report)
        except UnknownValueError:
            pass  # the engine turns this into an advisory "can't run during preview" note
        except Exception as exc:  # noqa: BLE001 - a crashing rule must not pass silently
            violations.append(
                Violation(policy.name, EnforcementLevel.MANDATORY.value, default_urn, f"policy crashed: {exc!r}")
            )

    for policy in POLICIES:
        level, props = settings[policy.name]
        if level == EnforcementLevel.DISABLED:
            continue
        if isinstance(policy, ResourceValidationPolicy):
            for r in resources:
                args = ResourceValidationArgs(
                    r.get("type", ""),
                    r.get("inputs") or {},
                    r.get("urn", ""),
                    r.get("name", ""),
                    _options(r),
                    provider_of(r),
                    props,
                )
                run(policy, args, level, r.get("urn", ""))
        elif isinstance(policy, StackValidationPolicy):
            stack = [
                PolicyResource(
                    r.get("type", ""),
                    r.get("inputs") or {},
                    r.get("urn", ""),
                    r.get("name", ""),
                    _options(r),
                    provider_of(r),
                    None,
                    [],
                    {},
                )
                for r in resources
            ]
            by_urn = {p.urn: p for p in stack}
            for p, r in zip(stack, resources, strict=True):
                p.dependencies = [by_urn[u] for u in r.get("dependencies") or [] if u in by_urn]
            run(policy, StackValidationArgs(stack, props), level, "")
    return violations


def has_mandatory(violations: list[Violation]) -> bool:
    return any(v.enforcement_level == EnforcementLevel.MANDATORY.value for v in violations)


def summary(violations: list[Violation], *, signatures_advisory: bool, resources: int | None = None) -> dict[str, Any]:
    mandatory = sum(v.enforcement_level == "mandatory" for v in violations)
    advisory = sum(v.enforcement_level == "advisory" for v in violations)
    signatures = (
        f"{SIGNATURE_POLICY} ran as ADVISORY (offline plan: signature results are shown, not enforced; "
        "`pulumi preview --policy-pack policies` enforces them)"
        if signatures_advisory
        else f"{SIGNATURE_POLICY} ran as configured (mandatory unless the config says otherwise)"
    )
    text = f"{mandatory} mandatory, {advisory} advisory violation(s) from {len(POLICIES)} policies"
    if resources is not None:
        text += f" over {resources} resources"
    return {
        "summary": f"{'FAIL' if mandatory else 'PASS'}: {text}; {signatures}",
        "mandatory": mandatory,
        "advisory": advisory,
        "policies": len(POLICIES),
        "resources": resources,
        "signaturesAdvisory": signatures_advisory,
    }


def format_report(violations: list[Violation], *, signatures_advisory: bool, resources: int | None = None) -> str:
    """One JSON line per violation, then one JSON summary line."""
    lines = [json.dumps(v.to_json(), sort_keys=False) for v in violations]
    lines.append(json.dumps(summary(violations, signatures_advisory=signatures_advisory, resources=resources)))
    return "\n".join(lines)
