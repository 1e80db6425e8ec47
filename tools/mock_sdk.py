"""Every use of the Pulumi SDK's private API, in one place (pulumi==PINNED_PULUMI).

The offline plan needs three things the public mock API does not give:
- the full RegisterResource request (parent, dependencies, protect, ignoreChanges, inputs with
  secrets still wrapped and unknowns kept): `pulumi.runtime.mocks.MockMonitor.RegisterResource`;
- the resource's URN inside `Mocks.new_resource` (the public `MockResourceArgs` has only type and
  name), so mock outputs derive from the URN and not from registration order;
- running a whole program and reading the root stack's exports: `run_pulumi_func`, `_sync_await`,
  `settings.get_root_resource`.
tests/test_mock_sdk.py is the canary: it names the pinned version and exercises each of them.
"""

from __future__ import annotations

import asyncio
import contextvars
import threading
from collections.abc import Callable
from typing import Any

import pulumi
from pulumi.output import Unknown
from pulumi.runtime import Mocks, rpc
from pulumi.runtime.mocks import MockMonitor

PINNED_PULUMI = "3.272.0"
SECRET_SIG = "1b47061264138c4ac30d75fd1eb44270"
SIG_KEY = "4dabf18193072939515e22adb298388d"
UNKNOWN = "04da6b54-80e4-46f7-96ec-b56ff0331ba9"

_request = threading.local()


def current_urn() -> str:
    """The URN of the resource whose `Mocks.new_resource` is running (on this thread).

    MockMonitor.RegisterResource runs synchronously on one executor thread and calls
    `new_resource` from there, so a thread-local set around it is exact even when several
    registrations run at once.
    """
    urn: str = _request.urn
    return urn


def current_inputs() -> dict[str, Any]:
    """The request's inputs with unknowns kept (the public args turn an unknown into None)."""
    inputs: dict[str, Any] = _request.inputs
    return inputs


Recorder = Callable[[Any, str, dict[str, Any]], None]
"""Called with (the RegisterResource request, its URN, its inputs with secrets and unknowns kept)."""


def recording_monitor(mocks: Mocks, record: Recorder) -> MockMonitor:
    class RecordingMonitor(MockMonitor):
        def RegisterResource(self, request: Any) -> Any:  # noqa: N802 (gRPC method name)
            urn = self.make_urn(request.parent, request.type, request.name)
            inputs = _known(rpc.deserialize_properties(request.object, keep_unknowns=True))
            _request.urn, _request.inputs = urn, inputs
            try:
                response = super().RegisterResource(request)  # type: ignore[no-untyped-call]
            finally:
                _request.urn = _request.inputs = None
            if request.type != "pulumi:pulumi:Stack":
                record(request, response.urn, inputs)
            return response

    return RecordingMonitor(mocks)


def _known(value: Any) -> Any:
    """The SDK's `Unknown` placeholders (preview) replaced by the engine's sentinel string."""
    if isinstance(value, Unknown):
        return UNKNOWN
    if isinstance(value, dict):
        return {k: _known(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_known(v) for v in value]
    return value


def run(
    main: Callable[[], None],
    *,
    mocks: Mocks,
    monitor: MockMonitor,
    project: str,
    stack: str,
    preview: bool,
    config: dict[str, str],
    secret_keys: list[str],
) -> dict[str, Any]:
    """Run `main` as a Pulumi program under `mocks`; return the stack's exports (secrets wrapped).

    Pulumi keeps its runtime state in context variables, so a fresh `contextvars.Context` and a
    fresh event loop per run let one process plan several stacks without leaking state.
    """
    outputs: dict[str, Any] = {}

    def body() -> None:
        from pulumi.runtime.stack import run_pulumi_func
        from pulumi.runtime.sync_await import _sync_await

        pulumi.runtime.set_all_config(config, secret_keys)
        pulumi.runtime.set_mocks(mocks, project=project, stack=stack, preview=preview, monitor=monitor)
        _sync_await(run_pulumi_func(main))
        # Under mocks the root stack registers its (empty) outputs before the program runs, so
        # `pulumi.export`ed values are read back from the stack object and resolved here.
        root = pulumi.runtime.settings.get_root_resource()
        for key, value in getattr(root, "outputs", {}).items():
            output = pulumi.Output.from_input(value)
            resolved = _known(_sync_await(output.future(with_unknowns=True)))
            secret = _sync_await(output.is_secret())
            outputs[key] = {SIG_KEY: SECRET_SIG, "value": resolved} if secret else resolved

    def in_fresh_loop() -> None:
        # A fresh event loop per run: tasks left pending by a failed run must not fail the next.
        loop = asyncio.new_event_loop()
        asyncio.set_event_loop(loop)
        try:
            body()
        finally:
            for task in asyncio.all_tasks(loop):
                task.cancel()
            loop.run_until_complete(asyncio.sleep(0))
            loop.close()
            asyncio.set_event_loop(None)

    contextvars.Context().run(in_fresh_loop)
    return outputs
