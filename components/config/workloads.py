"""The honeydue images, their registries, replica counts and resources."""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from typing import Annotated, Any

from pydantic import Field

from components.config.base import (
    PINNED_BY_DIGEST,
    POSITIVE,
    ConfigModel,
    Problem,
    Section,
    cpu_millis,
    image_registry,
    matches,
    memory_bytes,
    rule,
)

WORKLOADS = ("api", "admin", "worker", "redis")
REPLICATED = ("api", "admin", "worker")


def _quantity(parse: Any) -> Any:
    def positive(value: str) -> bool:
        try:
            return bool(parse(value) > 0)
        except ValueError:
            return False

    return positive


CPU = rule(_quantity(cpu_millis), "must be a positive Kubernetes cpu quantity")
MEMORY = rule(_quantity(memory_bytes), "must be a positive Kubernetes memory quantity")
IMAGE = Annotated[str, PINNED_BY_DIGEST]


class Quantities(ConfigModel):
    cpu: Annotated[str, CPU]
    memory: Annotated[str, MEMORY]


class Resources(ConfigModel):
    requests: Quantities
    limits: Quantities

    @property
    def cpu_request(self) -> str:
        return self.requests.cpu

    @property
    def memory_request(self) -> str:
        return self.requests.memory

    @property
    def cpu_limit(self) -> str:
        return self.limits.cpu

    @property
    def memory_limit(self) -> str:
        return self.limits.memory


class Images(ConfigModel):
    api: IMAGE
    admin: IMAGE
    worker: IMAGE
    redis: IMAGE


class Replicas(ConfigModel):
    api: Annotated[int, POSITIVE]
    admin: Annotated[int, POSITIVE]
    worker: Annotated[int, POSITIVE, rule(lambda v: v == 1, "must be exactly 1 (the Asynq scheduler is a singleton)")]


class WorkloadResources(ConfigModel):
    api: Resources
    admin: Resources
    worker: Resources
    redis: Resources


class Workloads(Section):
    TITLE = "workloads"

    allowed_registries: Annotated[
        tuple[
            Annotated[str, matches(r"[a-z0-9.-]+(:\d+)?", "must be a registry host[:port] without scheme or path")], ...
        ],
        rule(lambda v: len(v) > 0, "must list at least one registry host"),
    ] = Field(description="Registries honeydue images may come from (checked here and by the policy pack).")
    workload_images: Images = Field(
        alias="images",
        description="Container images by digest, {api, admin, worker, redis}; each registry/repo@sha256:<64 hex>.",
    )
    workload_replicas: Replicas = Field(
        alias="replicas",
        description="Replica counts {api, admin, worker}; worker must be 1 (the Asynq scheduler is a singleton).",
    )
    workload_resources: WorkloadResources = Field(
        alias="resources",
        description="Per workload {api, admin, worker, redis}: {requests: {cpu, memory}, limits: {cpu, memory}}.",
    )

    @property
    def images(self) -> Mapping[str, str]:
        return self.workload_images.model_dump()

    @property
    def replicas(self) -> Mapping[str, int]:
        return self.workload_replicas.model_dump()

    @property
    def resources(self) -> Mapping[str, Resources]:
        return {name: getattr(self.workload_resources, name) for name in WORKLOADS}

    def check_registry(self, key: str, image: str) -> Iterator[Problem]:
        """An image from outside allowedRegistries (used for every image the stack names)."""
        if image_registry(image) not in self.allowed_registries:
            yield Problem(
                key, image, "registry must be one of allowedRegistries: " + ", ".join(self.allowed_registries)
            )

    def rule_image_registries(self, stack: Any) -> Iterator[Problem]:
        for name, image in self.images.items():
            yield from self.check_registry(f"images.{name}", image)

    def rule_requests_within_limits(self, stack: Any) -> Iterator[Problem]:
        for name, spec in self.resources.items():
            for kind, parse in (("cpu", cpu_millis), ("memory", memory_bytes)):
                request, limit = getattr(spec.requests, kind), getattr(spec.limits, kind)
                if parse(request) > parse(limit):
                    yield Problem(f"resources.{name}.requests.{kind}", request, f"must not exceed limits.{kind}")
