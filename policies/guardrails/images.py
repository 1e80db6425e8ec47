"""Container image policies: pinned by digest, from allowed registries, signed (cosign)."""

from __future__ import annotations

import re
from dataclasses import dataclass

from pulumi_policy import ResourceValidationPolicy

from ._base import Resource, Schema, resource_policy, str_list_prop
from ._values import UNKNOWN, str_list
from .cosign import VERIFIER
from .k8s import ImageSite, Unreadable, image_sites

DIGEST_RE = re.compile(r"^sha256:[0-9a-f]{64}$")
_DOCKER_HUB = "docker.io"


@dataclass(frozen=True)
class ImageRef:
    """A parsed image reference. ``repository`` is ``registry/path`` (Docker Hub normalized)."""

    registry: str
    repository: str
    tag: str | None
    digest: str | None

    @property
    def pinned(self) -> bool:
        return self.digest is not None and DIGEST_RE.match(self.digest) is not None

    @property
    def by_digest(self) -> str:
        """``registry/path@sha256:…``: what cosign verifies (a tag next to a digest is ignored)."""
        return f"{self.repository}@{self.digest}"


def parse_image(image: str) -> ImageRef:
    """Parse like the container runtime does: the first path part is a registry when it has a
    dot or a port or is ``localhost``; otherwise the image lives on Docker Hub."""
    name, _, digest = image.strip().partition("@")
    last_slash = name.rfind("/")
    tag: str | None = None
    if ":" in name[last_slash + 1 :]:
        name, _, tag = name.rpartition(":")
    first, _, rest = name.partition("/")
    if rest and ("." in first or ":" in first or first == "localhost"):
        registry, path = first.lower(), rest
    else:
        registry, path = _DOCKER_HUB, name if rest else f"library/{name}"
    if registry in ("index.docker.io", "registry-1.docker.io"):
        registry = _DOCKER_HUB
    return ImageRef(registry, f"{registry}/{path}", tag or None, digest or None)


def registry_matches(ref: ImageRef, entries: list[str]) -> bool:
    """An entry is a registry host[:port] (``gitea.example.com``), a repository
    (``docker.io/library/redis``) or a repository prefix (``docker.io/rancher/``)."""
    repository = ref.repository.lower()
    for entry in entries:
        entry = entry.strip().rstrip("/").lower()
        if entry and (ref.registry == entry or repository == entry or repository.startswith(entry + "/")):
            return True
    return False


def _images(resource: Resource) -> list[ImageSite]:
    """Every image the resource runs (k8s.image_sites: workloads and their patches, PodTemplate,
    K3s HelmChart/HelmChartConfig, upgrade Plans, Helm values)."""
    return image_sites(resource)


def _full_image(site: ImageSite) -> str | None:
    """The image reference when it names a repository and can be judged, else None."""
    image = site.image
    if site.partial or not isinstance(image, str) or not image.strip():
        return None
    return image


# --- container-images-pinned -------------------------------------------------------------------


# An exact release tag: v0.20.1, v1.34.6-k3s1, 1.2.3. Never latest, never a bare major/minor.
_RELEASE_TAG = re.compile(r"^v?\d+\.\d+\.\d+([-+][0-9A-Za-z.-]+)?$")


def _release_tagged(image: str, repositories: list[str]) -> bool:
    """True for `repository:<exact release tag>` when the repository is listed in `tagPinned`."""
    ref = parse_image(image)
    listed = {parse_image(r).repository for r in repositories if r.strip()}
    return ref.repository in listed and ref.tag is not None and _RELEASE_TAG.match(ref.tag) is not None


def _pinned(resource: Resource) -> list[str]:
    out = []
    tag_pinned = str_list(resource.config.get("tagPinned"))
    for site in _images(resource):
        where, image = site.where, site.image
        if image is UNKNOWN:
            out.append(f"{where}: image is not known yet (computed value), so it cannot be shown to be pinned")
        elif isinstance(image, Unreadable):
            out.append(f"{where}: {image.why}, so its images cannot be checked (fails closed)")
        elif image is None or (isinstance(image, str) and not image.strip()):
            if site.required:
                out.append(f"{where}: no image set")
        elif not isinstance(image, str):
            out.append(f"{where}: image {image!r} is not a string (fails closed)")
        elif site.partial:
            if "@sha256:" not in image or not DIGEST_RE.match(image.rsplit("@", 1)[-1]):
                out.append(f"{where}: image override {image!r} sets a tag but no @sha256 digest")
        elif not parse_image(image).pinned and not _release_tagged(image, tag_pinned):
            out.append(f"{where}: image {image!r} is not pinned by @sha256:<64 hex> digest")
    return out


PINNED_SCHEMA: Schema = {
    "tagPinned": str_list_prop(
        "Repositories (docker.io/rancher/kubectl) whose images may be pinned by an exact release tag "
        "instead of a digest: third-party images whose digests cannot be resolved where the plan runs. "
        "A floating tag (latest, v1, 1.2) is still refused. Keep this list short and give each a reason."
    ),
}


PINNED = resource_policy(
    name="container-images-pinned",
    description=(
        "Every image a resource runs (workloads and their patches, PodTemplate, K3s HelmChart job "
        "image and values, HelmChartConfig values, upgrade Plans, Helm release values) is "
        "referenced by an immutable @sha256 digest."
    ),
    remediation=(
        "Reference images as registry/repo@sha256:<digest> (a tag may stay in front of the "
        "digest for readability). Resolve digests at build time, e.g. `crane digest IMAGE:TAG`."
    ),
    rule=_pinned,
    schema=PINNED_SCHEMA,
)


# --- container-images-allowed-registries -------------------------------------------------------

ALLOWED_SCHEMA: Schema = {
    "registries": str_list_prop("Registry hosts (host[:port]) or repository prefixes images may come from."),
    "exceptions": str_list_prop(
        "Repositories (docker.io/library/redis) or repository prefixes (docker.io/rancher/) allowed although "
        "their registry is not listed: system components. Docker Hub names are normalized first."
    ),
}


def _allowed(resource: Resource) -> list[str]:
    registries = str_list(resource.config.get("registries"))
    exceptions = str_list(resource.config.get("exceptions"))
    out = []
    for site in _images(resource):
        where, image = site.where, _full_image(site)
        if image is None:
            continue  # unknown/unreadable/missing: container-images-pinned reports it
        ref = parse_image(image)
        if registry_matches(ref, registries) or registry_matches(ref, exceptions):
            continue
        out.append(
            f"{where}: image {image!r} comes from registry {ref.registry!r}, "
            f"not one of the allowed registries {registries}"
        )
    return out


ALLOWED_REGISTRIES = resource_policy(
    name="container-images-allowed-registries",
    description="Container images come only from the configured registries (plus listed system-image exceptions).",
    remediation=(
        "Push the image to an allowed registry (and sign it there), or, for a system component "
        "that cannot be mirrored, add its repository prefix to `exceptions` in the policy config."
    ),
    rule=_allowed,
    schema=ALLOWED_SCHEMA,
)


# --- container-images-signed -------------------------------------------------------------------

SIGNED_SCHEMA: Schema = {
    "registries": str_list_prop("Images from these registries (host[:port] or repository prefix) must be signed."),
    "publicKey": {
        "type": "string",
        "default": "",
        "description": "cosign public key (PEM) signatures must verify against.",
    },
    "plainHttpRegistries": str_list_prop(
        "Registries reached over plain HTTP (cosign --allow-http-registry); loopback test registries only."
    ),
    "ignoreTlog": {
        "type": "boolean",
        "default": True,
        "description": "Pass --insecure-ignore-tlog: images are signed with --tlog-upload=false (private registry, no Rekor).",
    },
    "cosignPath": {
        "type": "string",
        "default": "",
        "description": "cosign binary; empty = $COSIGN, PATH, then the tools/cosign.sh cache.",
    },
    "timeoutSeconds": {"type": "number", "default": 60, "description": "Per-verification timeout."},
}


def _signed(resource: Resource) -> list[str]:
    cfg = resource.config
    registries = str_list(cfg.get("registries"))
    plain_http = str_list(cfg.get("plainHttpRegistries"))
    out = []
    for site in _images(resource):
        where = site.where
        if site.image is UNKNOWN or isinstance(site.image, Unreadable):
            # Fail closed: an image we cannot see cannot be verified.
            out.append(f"{where}: image is not known yet (computed value), so its signature cannot be verified")
            continue
        image = _full_image(site)
        if image is None:
            continue  # a missing image or a chart-default override: container-images-pinned reports it
        ref = parse_image(image)
        if not registry_matches(ref, registries):
            continue
        if not ref.pinned:
            out.append(
                f"{where}: image {image!r} is referenced by tag only; a signature can only be "
                "verified for an @sha256 digest"
            )
            continue
        result = VERIFIER.verify(
            ref.by_digest,
            public_key=str(cfg.get("publicKey") or ""),
            allow_http=registry_matches(ref, plain_http),
            ignore_tlog=cfg.get("ignoreTlog") is not False,
            cosign_path=str(cfg.get("cosignPath") or ""),
            timeout=float(cfg.get("timeoutSeconds") or 60),
            registry=ref.registry,
        )
        if not result.ok:
            out.append(f"{where}: signature verification failed for {ref.by_digest}: {result.message}")
    return out


SIGNED: ResourceValidationPolicy = resource_policy(
    name="container-images-signed",
    description=(
        "Images from our registries carry a cosign signature made with the release key "
        "(cosign verify --key); failures, a missing cosign and unreachable registries fail closed."
    ),
    remediation=(
        "Sign the exact digest with the release key: `cosign sign --key <key> IMAGE@sha256:…` "
        "(the deploy pipeline does this). Locally: install cosign with tools/cosign.sh and make "
        "sure the registry is reachable; check `publicKey` in the policy config."
    ),
    rule=_signed,
    schema=SIGNED_SCHEMA,
)
