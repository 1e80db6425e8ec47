"""Class 7, guarding the guards: Helm charts pinned wherever they come from; the Kyverno
ImageValidatingPolicy stays in Deny mode with required verification for the configured registries."""

from __future__ import annotations

from typing import Any

import pytest

from .lib import PUBLIC_KEY, check, check_stack, default_deny, deployment, helm_chart, image_policy, release, resource

HC = "helm-charts-pinned"
IV = "image-verification-enforced"
CFG = {"registries": ["gitea.treytartt.com"], "publicKey": PUBLIC_KEY, "requireImagePolicy": True}
DIGEST = "sha256:" + "cd" * 32


@pytest.mark.parametrize(
    ("chart", "version"),
    [
        ("oci://ghcr.io/org/charts/app", "^1.2.0"),
        ("oci://ghcr.io/org/charts/app", None),
        ("oci://ghcr.io/org/charts/app:1.2.3", None),  # a tag in the reference is mutable
        ("oci://ghcr.io/org/charts/app@sha256:abc", None),  # not a full digest
        ("https://charts.example.com/app-latest.tgz", "1.2.3"),  # Helm ignores version for a URL
        ("https://charts.example.com/app.tgz", None),
        ("https://charts.example.com/app-1.2.tgz", None),
        ("http://charts.example.com/app-1.x.tgz", "1.0.0"),
        ("hcloud-csi", "~2.22"),
        ("[unknown]", "1.0.0"),
    ],
)
def test_unpinned_charts_caught(chart: str, version: Any) -> None:
    for r in (release(chart=chart, version=version), helm_chart(chart=chart, version=version)):
        if version is None:
            (r["inputs"]["spec"] if "spec" in r["inputs"] else r["inputs"]).pop("version")
        assert len(check(HC, r)) == 1, (r["type"], chart, version)


@pytest.mark.parametrize(
    ("chart", "version"),
    [
        ("oci://ghcr.io/org/charts/app", "1.2.3"),
        (f"oci://ghcr.io/org/charts/app@{DIGEST}", None),
        ("https://charts.example.com/app-1.2.3.tgz", None),
        ("https://github.com/k3s-io/x/releases/download/v1/app-0.16.17.tgz", None),
        ("./charts/honeydue", None),  # a local chart directory, versioned with the repo
        ("/abs/charts/honeydue", None),
        ("hcloud-csi", "2.22.1"),
    ],
)
def test_pinned_charts_pass(chart: str, version: Any) -> None:
    for r in (release(chart=chart, version=version), helm_chart(chart=chart, version=version)):
        if version is None:
            (r["inputs"]["spec"] if "spec" in r["inputs"] else r["inputs"]).pop("version")
        assert check(HC, r) == [], (r["type"], chart, version)


def test_inline_and_local_charts_and_patches() -> None:
    inline = helm_chart(chart=None, version=None, chartContent="H4sIAAAAAAAA")
    assert check(HC, inline) == []
    v3_local = resource("kubernetes:helm.sh/v3:Chart", "local", {"path": "./charts/honeydue"})
    assert check(HC, v3_local) == []
    patch = helm_chart(version="^2")
    patch["type"] = "kubernetes:helm.cattle.io/v1:HelmChartPatch"
    assert len(check(HC, patch)) == 1  # a patch that moves the version to a range
    quiet = resource("kubernetes:helm.cattle.io/v1:HelmChartPatch", "p", {"spec": {"valuesContent": "a: 1\n"}})
    assert check(HC, quiet) == []


# --- image-verification-enforced --------------------------------------------------------------


def stack(*extra: dict[str, Any]) -> list[dict[str, Any]]:
    return [deployment(), default_deny(), *extra]


def test_image_policy_compliant() -> None:
    assert check_stack(IV, stack(image_policy()), CFG) == []
    # The key may be written with other line breaks; a glob of the whole registry path counts.
    reflowed = image_policy(attestors=[{"name": "k", "cosign": {"key": {"data": PUBLIC_KEY.replace("\n", "\r\n")}}}])
    assert check_stack(IV, stack(reflowed), CFG) == []
    assert check_stack(IV, stack(image_policy(matchImageReferences=[{"glob": "gitea.treytartt.com/**"}])), CFG) == []
    # Without pods, nothing to verify yet; without requireImagePolicy (staging) a missing policy is fine.
    assert check_stack(IV, [default_deny()], CFG) == []
    assert check_stack(IV, stack(), {**CFG, "requireImagePolicy": False}) == []


@pytest.mark.parametrize(
    ("changes", "expected"),
    [
        ({"validationActions": ["Audit"]}, "not [Deny]"),
        ({"validationActions": ["Warn", "Audit"]}, "not [Deny]"),
        ({"validationActions": []}, "not [Deny]"),
        ({"validationActions": "[unknown]"}, "fails closed"),
        ({"validationConfigurations": {"required": False}}, "required is false"),
        ({"validationConfigurations": {"verifyDigest": False, "required": True}}, "verifyDigest is false"),
        ({"failurePolicy": "Ignore"}, "failurePolicy is Ignore"),
        ({"evaluation": {"admission": {"enabled": False}}}, "admission.enabled is false"),
        (
            {
                "attestors": [
                    {
                        "name": "other",
                        "cosign": {"key": {"data": "-----BEGIN PUBLIC KEY-----\nAAAA\n-----END PUBLIC KEY-----\n"}},
                    }
                ]
            },
            "publicKey",
        ),
        ({"attestors": [{"name": "kms", "cosign": {"key": {"kms": "awskms:///alias/x"}}}]}, "publicKey"),
        ({"matchImageReferences": [{"glob": "ghcr.io/*"}]}, "no ImageValidatingPolicy"),
        ({"matchImageReferences": []}, "no ImageValidatingPolicy"),
    ],
)
def test_weakened_image_policy_caught(changes: dict[str, Any], expected: str) -> None:
    out = check_stack(IV, stack(image_policy(**changes)), CFG)
    assert any(expected in m for m, _ in out), out
    # Even where the policy is not required (staging), a weakened one is reported.
    out = check_stack(IV, stack(image_policy(**changes)), {**CFG, "requireImagePolicy": False})
    assert out, changes


def test_missing_patched_or_excepted_image_policy_caught() -> None:
    assert check_stack(IV, stack(), CFG)  # prod runs pods without one
    patch = image_policy(validationActions=["Audit"])
    patch["type"] = "kubernetes:policies.kyverno.io/v1:ImageValidatingPolicyPatch"
    patch["inputs"]["spec"] = {"validationActions": ["Audit"]}
    out = check_stack(IV, stack(image_policy(), patch), CFG)
    assert len(out) == 1 and "not [Deny]" in out[0][0]
    harmless = {**patch, "inputs": {**patch["inputs"], "spec": {"autogen": {"podControllers": {"controllers": []}}}}}
    assert check_stack(IV, stack(image_policy(), harmless), CFG) == []
    exception = resource(
        "kubernetes:policies.kyverno.io/v1:PolicyException",
        "skip",
        {
            "metadata": {"name": "skip", "namespace": "honeydue"},
            "spec": {"policyRefs": [{"name": "verify-honeydue-images", "kind": "ImageValidatingPolicy"}]},
        },
    )
    out = check_stack(IV, stack(image_policy(), exception), CFG)
    assert len(out) == 1 and "lifts image verification" in out[0][0]


def test_insecure_chart_fetch_caught() -> None:
    assert len(check(HC, helm_chart(insecureSkipTLSVerify=True))) == 1
    assert len(check(HC, helm_chart(plainHTTP=True))) == 1
    assert check(HC, helm_chart(insecureSkipTLSVerify=False, plainHTTP=False)) == []
