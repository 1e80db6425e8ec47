"""Canary for the Pulumi SDK internals the offline plan uses (tools/mock_sdk.py).

An SDK upgrade that moves any of them fails here first, with the version in the message.
"""

from __future__ import annotations

import importlib.metadata
import re
from pathlib import Path
from typing import Any

import pulumi
import pulumi_random as random
from pulumi.runtime import Mocks

from tools import mock_sdk

ROOT = Path(__file__).resolve().parent.parent


def test_pinned_sdk_is_the_one_the_wrapper_was_written_for() -> None:
    pin = re.search(r"^pulumi==(\S+)$", (ROOT / "requirements.txt").read_text(), re.MULTILINE)
    assert pin and pin.group(1) == mock_sdk.PINNED_PULUMI, "requirements.txt moved: re-check tools/mock_sdk.py"
    assert importlib.metadata.version("pulumi") == mock_sdk.PINNED_PULUMI


class EchoMocks(Mocks):
    def __init__(self) -> None:
        self.seen: list[tuple[str, str, dict[str, Any]]] = []

    def new_resource(self, args: Any) -> tuple[str, dict[str, Any]]:
        self.seen.append((args.name, mock_sdk.current_urn(), mock_sdk.current_inputs()))
        return ("" if preview_flag[0] else f"{args.name}-id"), {
            **args.inputs,
            "result": "r" if not preview_flag[0] else None,
        }

    def call(self, args: Any) -> tuple[dict[str, Any], list[tuple[str, str]] | None]:
        return {}, []


preview_flag = [False]


def program() -> None:
    parent = pulumi.ComponentResource("test:index:Parent", "p")
    first = random.RandomPassword("a", length=8, opts=pulumi.ResourceOptions(parent=parent, protect=True))
    second = random.RandomPassword(
        "b",
        length=8,
        keepers={"from": first.result},
        opts=pulumi.ResourceOptions(parent=parent, ignore_changes=["length"], depends_on=[first]),
    )
    pulumi.export("secret", pulumi.Output.secret("s"))
    pulumi.export("result", second.result)


def run(preview: bool) -> tuple[EchoMocks, list[tuple[Any, str, dict[str, Any]]], dict[str, Any]]:
    preview_flag[0] = preview
    mocks = EchoMocks()
    recorded: list[tuple[Any, str, dict[str, Any]]] = []
    outputs = mock_sdk.run(
        program,
        mocks=mocks,
        monitor=mock_sdk.recording_monitor(mocks, lambda req, urn, inputs: recorded.append((req, urn, inputs))),
        project="canary",
        stack="test",
        preview=preview,
        config={},
        secret_keys=[],
    )
    return mocks, recorded, outputs


def test_register_resource_request_urn_and_exports() -> None:
    mocks, recorded, outputs = run(preview=False)
    by_name = {req.name: (req, urn, inputs) for req, urn, inputs in recorded}
    req_b, urn_b, _ = by_name["b"]
    urn_a = by_name["a"][1]
    assert urn_b == "urn:pulumi:test::canary::test:index:Parent$random:index/randomPassword:RandomPassword::b"
    assert by_name["a"][0].protect and list(req_b.ignoreChanges) == ["length"]
    assert urn_a in req_b.dependencies and list(req_b.propertyDependencies["keepers"].urns) == [urn_a]
    # new_resource sees its own URN (not the public args' type and name only).
    assert ("b", urn_b) in [(name, urn) for name, urn, _ in mocks.seen]
    assert outputs["result"] == "r"
    assert outputs["secret"] == {mock_sdk.SIG_KEY: mock_sdk.SECRET_SIG, "value": "s"}


def test_preview_keeps_unknowns() -> None:
    mocks, recorded, outputs = run(preview=True)
    inputs_b = next(inputs for req, _, inputs in recorded if req.name == "b")
    assert inputs_b["keepers"] == {"from": mock_sdk.UNKNOWN}  # the public args would say None
    seen_b = next(inputs for name, _, inputs in mocks.seen if name == "b")
    assert seen_b["keepers"] == {"from": mock_sdk.UNKNOWN}
    assert outputs["result"] == mock_sdk.UNKNOWN
