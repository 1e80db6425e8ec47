"""The PolicyPack as the Pulumi CLI runs it: `python -m pulumi.policy <engine> policies` starts
the analyzer's gRPC server; we talk to it like the engine does (GetAnalyzerInfo, Configure,
Analyze, AnalyzeStack), so the engine path (proxies, sentinels, config) is covered too."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from collections.abc import Iterator
from typing import Any

import grpc
import pytest
from google.protobuf import empty_pb2, struct_pb2
from pulumi.runtime.proto import analyzer_pb2 as pb
from pulumi.runtime.proto import analyzer_pb2_grpc
from pulumi_policy.proxy import UNKNOWN_STRING_VALUE

from policies.guardrails import POLICIES
from policies.guardrails.runner import with_cloudflare_ranges

from .lib import CLOUDFLARE_FIXTURE, ROOT, default_deny, deployment, firewall, image_policy, internet_egress, server


def struct(value: dict[str, Any]) -> struct_pb2.Struct:
    s = struct_pb2.Struct()
    s.update(value)
    return s


@pytest.fixture(scope="module")
def analyzer() -> Iterator[analyzer_pb2_grpc.AnalyzerStub]:
    proc = subprocess.Popen(
        [sys.executable, "-u", "-m", "pulumi.policy", "127.0.0.1:1", "."],
        cwd=ROOT / "policies",
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        start_new_session=True,
    )
    try:
        assert proc.stdout is not None
        port = int(proc.stdout.readline().strip())  # the pack prints its port, then blocks
        channel = grpc.insecure_channel(f"127.0.0.1:{port}")
        grpc.channel_ready_future(channel).result(timeout=20)
        yield analyzer_pb2_grpc.AnalyzerStub(channel)
        channel.close()
    finally:
        os.killpg(proc.pid, signal.SIGTERM)  # our own process group, by PID
        proc.wait(timeout=10)


def test_pack_serves_every_policy(analyzer: analyzer_pb2_grpc.AnalyzerStub) -> None:
    info = analyzer.GetAnalyzerInfo(empty_pb2.Empty())
    assert info.name == "honeydue-guardrails"
    served = {p.name: p for p in info.policies}
    assert set(served) == {p.name for p in POLICIES}
    assert served["user-data-size-warning"].enforcementLevel == pb.ADVISORY
    assert served["container-images-signed"].enforcementLevel == pb.MANDATORY
    assert served["namespaces-default-deny"].policy_type == pb.PolicyType.POLICY_TYPE_STACK
    assert "publicKey" in served["container-images-signed"].configSchema.properties
    assert all(p.remediation_steps for p in info.policies)


def configure(analyzer: analyzer_pb2_grpc.AnalyzerStub, config: dict[str, Any]) -> None:
    request = pb.ConfigureAnalyzerRequest()
    for name, entry in config.items():
        level = {"advisory": pb.ADVISORY, "mandatory": pb.MANDATORY, "disabled": pb.DISABLED}[
            entry.get("enforcementLevel", "mandatory")
        ]
        props = {k: v for k, v in entry.items() if k != "enforcementLevel"}
        request.policyConfig[name].CopyFrom(pb.PolicyConfig(enforcementLevel=level, properties=struct(props)))
    analyzer.Configure(request)


def analyze(analyzer: analyzer_pb2_grpc.AnalyzerStub, r: dict[str, Any]) -> list[Any]:
    opts = pb.AnalyzerResourceOptions(
        protect=r["options"].get("protect", False), ignoreChanges=r["options"].get("ignoreChanges", [])
    )
    request = pb.AnalyzeRequest(
        type=r["type"], properties=struct(r["inputs"]), urn=r["urn"], name=r["name"], options=opts
    )
    return list(analyzer.Analyze(request).diagnostics)


def test_pack_analyze_with_committed_config(analyzer: analyzer_pb2_grpc.AnalyzerStub) -> None:
    prod = json.loads((ROOT / "policies" / "config.prod.json").read_text())
    prod["container-images-signed"]["enforcementLevel"] = "disabled"  # no registry here
    prod = with_cloudflare_ranges(prod, CLOUDFLARE_FIXTURE)  # nor Cloudflare's API
    configure(analyzer, {k: v for k, v in prod.items() if isinstance(v, dict)})
    assert analyze(analyzer, server()) == []
    assert analyze(analyzer, firewall()) == []
    bad = server()
    bad["options"]["protect"] = False  # requireProtection came through Configure
    (diag,) = analyze_stack(analyzer, [bad, firewall()])
    assert diag.policyName == "servers-guarded" and diag.enforcementLevel == pb.MANDATORY
    assert "options.protect" in diag.message and diag.urn == bad["urn"]
    # An engine-style unknown firewallIds with nothing else attaching a firewall fails closed.
    unknown = server()
    unknown["inputs"]["firewallIds"] = UNKNOWN_STRING_VALUE
    (diag,) = analyze_stack(analyzer, [unknown, firewall()])
    assert "firewallIds is not known" in diag.message
    privileged = deployment()
    privileged["inputs"]["spec"]["template"]["spec"]["containers"][0]["securityContext"]["privileged"] = True
    names = [d.policyName for d in analyze(analyzer, privileged)]
    assert names == ["workloads-hardened"]


def analyze_stack(analyzer: analyzer_pb2_grpc.AnalyzerStub, resources: list[dict[str, Any]]) -> list[Any]:
    def res(r: dict[str, Any]) -> Any:
        opts = pb.AnalyzerResourceOptions(
            protect=bool(r["options"].get("protect")), ignoreChanges=list(r["options"].get("ignoreChanges", []))
        )
        return pb.AnalyzerResource(
            type=r["type"], properties=struct(r["inputs"]), urn=r["urn"], name=r["name"], options=opts
        )

    return list(analyzer.AnalyzeStack(pb.AnalyzeStackRequest(resources=[res(r) for r in resources])).diagnostics)


def test_pack_analyze_stack(analyzer: analyzer_pb2_grpc.AnalyzerStub) -> None:
    assert analyze_stack(analyzer, [deployment(), default_deny(), internet_egress(), image_policy()]) == []
    (diag,) = analyze_stack(analyzer, [deployment(), internet_egress(), image_policy()])
    assert diag.policyName == "namespaces-default-deny" and diag.urn == deployment()["urn"]
    (diag,) = analyze_stack(analyzer, [deployment(), default_deny(), image_policy()])
    assert diag.policyName == "namespaces-egress-exclude-metadata" and diag.urn == deployment()["urn"]
