"""ClusterReady: a gate that completes when every configured server has joined and is Ready.

A Python dynamic resource. On create it polls the Kubernetes API with the admin client
certificate: `/readyz` must answer "ok" and `/api/v1/nodes` must list every configured node with
condition Ready=True. `/readyz` alone is not enough: the API of the bootstrap server answers ok
while the joiners are still missing, and with `cloud-provider=external` nodes are Ready but
tainted until the cloud controller runs. The wait is bounded; its error names the missing nodes.

The gate's `endpoint` output feeds the Kubernetes provider's kubeconfig, so nothing can be sent to
the cluster before the gate has passed: the ordering is data flow, not a `depends_on` that a
later edit could drop. Under the mock runtime a dynamic resource only registers: nothing runs.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from typing import Any

import pulumi
from pulumi.dynamic import CreateResult, DiffResult, Resource, ResourceProvider

DEFAULT_TIMEOUT_SECONDS = 900
POLL_SECONDS = 10
REQUEST_TIMEOUT_SECONDS = 10


def node_status(nodes_doc: dict[str, Any], expected: Sequence[str]) -> tuple[list[str], list[str]]:
    """(missing, not ready) among `expected`, from a `/api/v1/nodes` NodeList document."""
    ready: dict[str, bool] = {}
    for item in nodes_doc.get("items") or []:
        name = str((item.get("metadata") or {}).get("name"))
        conditions = (item.get("status") or {}).get("conditions") or []
        ready[name] = any(c.get("type") == "Ready" and c.get("status") == "True" for c in conditions)
    missing = [n for n in expected if n not in ready]
    not_ready = [n for n in expected if n in ready and not ready[n]]
    return missing, not_ready


def wait_ready(
    endpoint: str,
    ca_pem: str,
    cert_pem: str,
    key_pem: str,
    nodes: Sequence[str],
    timeout: float,
    poll: float = POLL_SECONDS,
    log: Callable[[str], None] = lambda _: None,
) -> list[str]:
    """Poll `endpoint` until /readyz is ok and every node in `nodes` is Ready; return the nodes.

    Raises TimeoutError naming the missing and not-ready nodes (or the last failure).
    """
    import os
    import ssl
    import tempfile
    import time
    import urllib.request

    context = ssl.create_default_context(cadata=ca_pem)
    with tempfile.TemporaryDirectory() as tmp:
        cert_file, key_file = os.path.join(tmp, "cert.pem"), os.path.join(tmp, "key.pem")
        with open(cert_file, "w") as f:
            f.write(cert_pem)
        with os.fdopen(os.open(key_file, os.O_WRONLY | os.O_CREAT, 0o600), "w") as f:
            f.write(key_pem)
        context.load_cert_chain(cert_file, key_file)

        def get(path: str) -> tuple[int, str]:
            with urllib.request.urlopen(endpoint + path, context=context, timeout=REQUEST_TIMEOUT_SECONDS) as r:
                return r.status, r.read().decode(errors="replace")

        deadline = time.monotonic() + timeout
        last = "no answer yet"
        while True:
            try:
                status, body = get("/readyz")
                if status != 200 or body.strip() != "ok":
                    last = f"/readyz: HTTP {status}: {body.strip()[:200]}"
                else:
                    _, body = get("/api/v1/nodes")
                    missing, not_ready = node_status(json.loads(body), nodes)
                    if not missing and not not_ready:
                        return list(nodes)
                    last = f"nodes missing: {missing or 'none'}; not Ready: {not_ready or 'none'}"
            except Exception as exc:  # noqa: BLE001 - every failure is retried until the deadline
                last = f"{type(exc).__name__}: {exc}"
            if time.monotonic() >= deadline:
                raise TimeoutError(f"cluster at {endpoint} not ready after {timeout:.0f} s; {last}")
            log(last)
            time.sleep(poll)


def gate_diff(olds: dict[str, Any], news: dict[str, Any]) -> DiffResult:
    """The gate changes only when the API endpoint it polled changes, and then it is replaced.

    Its outputs (endpoint, ready_nodes) build the Kubernetes provider's kubeconfig, so they must
    stay put across runs. Without this diff the engine compares every input, `__provider` (the
    pickled provider code) included: an edit of this module, a new server in `nodes` or a rotated
    admin certificate would update the gate, and the SDK's default `update` returns no outputs
    (pulumi/dynamic/__main__.py, pulumi 3.272.0). The kubeconfig would lose its server URL, and
    an unknown or changed kubeconfig replaces the provider and every Kubernetes resource
    (pulumi-kubernetes provider.go DiffConfig). Day one is the gate's only job: later servers join
    a cluster that is already serving, and the certificates reach the kubeconfig from the PKI, not
    from the gate.
    """
    if olds.get("endpoint") != news.get("endpoint"):
        return DiffResult(changes=True, replaces=["endpoint"], delete_before_replace=False)
    return DiffResult(changes=False, replaces=[])


class _NodesReadyProvider(ResourceProvider):
    def diff(self, _id: str, olds: dict[str, Any], news: dict[str, Any]) -> DiffResult:
        return gate_diff(olds, news)

    def create(self, props: dict[str, Any]) -> CreateResult:
        wait_ready(
            props["endpoint"],
            props["caPem"],
            props["certPem"],
            props["keyPem"],
            props["nodes"],
            float(props["timeoutSeconds"]),
            log=lambda msg: pulumi.log.info(f"waiting for the cluster: {msg}"),
        )
        # The key stays out of the state; ready_nodes exists only once the gate has passed.
        outs = {"endpoint": props["endpoint"], "nodes": props["nodes"], "ready_nodes": props["nodes"]}
        return CreateResult(id_=props["endpoint"], outs=outs)


class ClusterReady(Resource):
    endpoint: pulumi.Output[str]
    nodes: pulumi.Output[list[str]]
    ready_nodes: pulumi.Output[list[str]]
    """Set by the provider when the gate passes; unknown in a preview of a new stack. The
    kubeconfig is built from it, so it is unknown until then too."""

    def __init__(
        self,
        name: str,
        endpoint: pulumi.Input[str],
        ca_pem: pulumi.Input[str],
        cert_pem: pulumi.Input[str],
        key_pem: pulumi.Input[str],
        nodes: Sequence[str],
        timeout_seconds: int = DEFAULT_TIMEOUT_SECONDS,
        opts: pulumi.ResourceOptions | None = None,
    ) -> None:
        super().__init__(
            _NodesReadyProvider(),
            name,
            {
                "endpoint": endpoint,
                "caPem": ca_pem,
                "certPem": cert_pem,
                "keyPem": pulumi.Output.secret(key_pem),
                "nodes": list(nodes),
                "timeoutSeconds": timeout_seconds,
                "ready_nodes": None,  # an output only
            },
            opts,
        )
