"""Shared plumbing: policy construction with config defaults, and the type-token helpers."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

import yaml
from pulumi_policy import (
    EnforcementLevel,
    PolicyConfigSchema,
    ReportViolation,
    ResourceValidationArgs,
    ResourceValidationPolicy,
    StackValidationArgs,
    StackValidationPolicy,
)

from ._values import UNKNOWN, plain

# Remote components whose children a policy only sees as text: pulumi-kubernetes' yaml/v2
# ConfigGroup registers its objects inside the provider, so the offline plan (mock runtime) never
# sees them as resources (FACTS.md). Their `objs` and `yaml` inputs are expanded into virtual
# resources that every rule judges like the real thing.
EMBEDDING_TYPES = frozenset({"kubernetes:yaml/v2:ConfigGroup"})

# A policy's config schema: property name -> JSON-schema fragment (with a "default").
Schema = dict[str, dict[str, Any]]
# A rule: plain inputs + effective config -> messages. Rules never see the engine's proxies.
ResourceRule = Callable[["Resource"], list[str]]
StackRule = Callable[[list["Resource"], dict[str, Any]], list[tuple[str, str | None]]]


class Resource:
    """One resource as a rule sees it: plain inputs (see ``_values.plain``) and its options."""

    def __init__(
        self,
        type_: str,
        name: str,
        urn: str,
        props: Any,
        config: dict[str, Any],
        protect: bool = False,
        ignore_changes: list[str] | None = None,
        provider_props: Any = None,
        dependencies: list[tuple[str, str]] | None = None,
    ) -> None:
        self.type = type_
        self.name = name
        self.urn = urn
        self.props: dict[str, Any] = props if isinstance(props, dict) else {}
        self.config = config
        self.protect = protect
        self.ignore_changes = list(ignore_changes or [])
        # The resource's provider inputs (plain), None when the engine did not say: a Kubernetes
        # object without metadata.namespace lives in its provider's `namespace`.
        self.provider_props = provider_props
        # (type, urn) of every resource this one depends on (stack policies only).
        self.dependencies = list(dependencies or [])


def _provider_props(provider: Any) -> Any:
    props = getattr(provider, "props", None)
    return None if provider is None else plain(props) if props is not None else {}


def _options(opts: Any) -> dict[str, Any]:
    return {
        "protect": bool(getattr(opts, "protect", False)),
        "ignore_changes": [str(x) for x in (getattr(opts, "ignore_changes", None) or [])],
    }


def _type_token(api_version: Any, kind: Any) -> str | None:
    if not isinstance(api_version, str) or not isinstance(kind, str) or not kind:
        return None
    group_version = api_version if "/" in api_version else f"core/{api_version}"
    return f"kubernetes:{group_version}:{kind}"


def embedded(resource: Resource) -> list[Resource]:
    """The Kubernetes objects written inside a ConfigGroup's ``objs``/``yaml``, as resources.
    YAML that cannot be parsed (or an unknown input) becomes a Pod whose spec is unknown, so the
    workload and image rules fail closed on it."""
    if resource.type not in EMBEDDING_TYPES:
        return []
    docs: list[Any] = list(resource.props.get("objs") or []) if isinstance(resource.props.get("objs"), list) else []
    text = resource.props.get("yaml")
    unreadable = resource.props.get("objs") is UNKNOWN or text is UNKNOWN
    if isinstance(text, str):
        try:
            docs.extend(d for d in yaml.safe_load_all(text) if d is not None)
        except yaml.YAMLError:
            unreadable = True
    out = []
    for i, doc in enumerate(docs):
        token = _type_token(doc.get("apiVersion"), doc.get("kind")) if isinstance(doc, dict) else None
        if token is None:
            unreadable = True
            continue
        name = doc.get("metadata", {}).get("name") if isinstance(doc.get("metadata"), dict) else None
        out.append(
            Resource(
                token,
                f"{resource.name}/{name if isinstance(name, str) else i}",
                resource.urn,
                plain(doc),
                resource.config,
                provider_props=resource.provider_props,
            )
        )
    if unreadable:
        out.append(
            Resource(
                "kubernetes:core/v1:Pod",
                f"{resource.name}/<manifest that cannot be read>",
                resource.urn,
                {"metadata": {"name": f"{resource.name} (unreadable manifest)"}, "spec": UNKNOWN},
                resource.config,
                provider_props=resource.provider_props,
            )
        )
    return out


def effective_config(schema: Schema, given: Mapping[str, Any]) -> dict[str, Any]:
    """Schema defaults overlaid with the given config (the CLI applies defaults; tests need not)."""
    out = {key: prop.get("default") for key, prop in schema.items()}
    out.update({k: plain(v) for k, v in given.items() if k != "enforcementLevel"})
    return out


def resource_policy(
    *,
    name: str,
    description: str,
    remediation: str,
    rule: ResourceRule,
    schema: Schema | None = None,
    level: EnforcementLevel = EnforcementLevel.MANDATORY,
) -> ResourceValidationPolicy:
    """A ResourceValidationPolicy whose validate converts inputs once and calls ``rule``."""
    schema = {k: dict(v) for k, v in (schema or {}).items()}

    def validate(args: ResourceValidationArgs, report: ReportViolation) -> None:
        resource = Resource(
            args.resource_type,
            args.name,
            args.urn,
            plain(args.props),
            effective_config(schema, args.get_config()),
            provider_props=_provider_props(getattr(args, "provider", None)),
            **_options(args.opts),
        )
        for r in (resource, *embedded(resource)):
            for message in rule(r):
                report(message, None)

    return ResourceValidationPolicy(
        name=name,
        description=description,
        validate=validate,
        enforcement_level=level,
        config_schema=PolicyConfigSchema(properties=schema) if schema else None,
        remediation_steps=remediation,
    )


def stack_policy(
    *,
    name: str,
    description: str,
    remediation: str,
    rule: StackRule,
    schema: Schema | None = None,
    level: EnforcementLevel = EnforcementLevel.MANDATORY,
) -> StackValidationPolicy:
    """A StackValidationPolicy over plain resources; ``rule`` returns (message, urn) pairs."""
    schema = {k: dict(v) for k, v in (schema or {}).items()}

    def validate(args: StackValidationArgs, report: ReportViolation) -> None:
        config = effective_config(schema, args.get_config())
        resources = [
            Resource(
                r.resource_type,
                r.name,
                r.urn,
                plain(r.props),
                config,
                provider_props=_provider_props(getattr(r, "provider", None)),
                dependencies=[(d.resource_type, d.urn) for d in (getattr(r, "dependencies", None) or [])],
                **_options(getattr(r, "opts", None)),
            )
            for r in args.resources
        ]
        resources += [e for r in resources for e in embedded(r)]
        for message, urn in rule(resources, config):
            report(message, urn)

    return StackValidationPolicy(
        name=name,
        description=description,
        validate=validate,
        enforcement_level=level,
        config_schema=PolicyConfigSchema(properties=schema) if schema else None,
        remediation_steps=remediation,
    )


def str_list_prop(description: str, default: list[str] | None = None) -> dict[str, Any]:
    return {"type": "array", "items": {"type": "string"}, "default": list(default or []), "description": description}


def kind_of(type_token: str) -> str | None:
    """``kubernetes:apps/v1:Deployment`` -> ``Deployment``; None for non-Kubernetes types."""
    parts = type_token.split(":")
    if len(parts) != 3 or parts[0] != "kubernetes":
        return None
    return parts[2]


def base_kind(type_token: str) -> str | None:
    """The Kubernetes kind with a server-side-apply ``Patch`` suffix removed: a
    ``kubernetes:apps/v1:DeploymentPatch`` can add a privileged container as surely as a
    Deployment can, so every rule judges both (pulumi_kubernetes registers patches as
    ``kubernetes:<group>/<version>:<Kind>Patch``, CustomResourcePatch included)."""
    kind = kind_of(type_token)
    if kind is None:
        return None
    return kind[: -len("Patch")] if kind.endswith("Patch") and len(kind) > len("Patch") else kind


def obj_list_prop(description: str, default: list[dict[str, Any]] | None = None) -> dict[str, Any]:
    return {"type": "array", "items": {"type": "object"}, "default": list(default or []), "description": description}
