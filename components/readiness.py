"""ClusterReady: a gate that completes when the Kubernetes API answers /readyz.

A Python dynamic resource: on create it polls `https://<api>:6443/readyz` with the admin client
certificate until the API says ok, bounded by a timeout with a clear error. The Kubernetes
provider depends on it, so no Kubernetes resource is sent to a cluster that is not up. Under the
mock runtime a dynamic resource only registers: nothing runs.
"""

from __future__ import annotations

from typing import Any

import pulumi
from pulumi.dynamic import CreateResult, Resource, ResourceProvider

DEFAULT_TIMEOUT_SECONDS = 900
POLL_SECONDS = 10


def wait_ready(url: str, ca_pem: str, cert_pem: str, key_pem: str, timeout: float, poll: float = POLL_SECONDS) -> str:
    """Poll `url` until it returns 200 "ok"; raise TimeoutError naming the last failure."""
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
        deadline = time.monotonic() + timeout
        last = "no answer yet"
        while True:
            try:
                with urllib.request.urlopen(url, context=context, timeout=10) as response:
                    body = response.read().decode(errors="replace").strip()
                    if response.status == 200 and body == "ok":
                        return str(body)
                    last = f"HTTP {response.status}: {body[:200]}"
            except Exception as exc:  # noqa: BLE001 - every failure is retried until the deadline
                last = f"{type(exc).__name__}: {exc}"
            if time.monotonic() >= deadline:
                raise TimeoutError(f"Kubernetes API {url} not ready after {timeout:.0f} s; last: {last}")
            time.sleep(poll)


class _ReadyzProvider(ResourceProvider):
    def create(self, props: dict[str, Any]) -> CreateResult:
        wait_ready(props["url"], props["caPem"], props["certPem"], props["keyPem"], float(props["timeoutSeconds"]))
        return CreateResult(id_=props["url"], outs={"url": props["url"]})


class ClusterReady(Resource):
    url: pulumi.Output[str]

    def __init__(
        self,
        name: str,
        url: pulumi.Input[str],
        ca_pem: pulumi.Input[str],
        cert_pem: pulumi.Input[str],
        key_pem: pulumi.Input[str],
        timeout_seconds: int = DEFAULT_TIMEOUT_SECONDS,
        opts: pulumi.ResourceOptions | None = None,
    ) -> None:
        super().__init__(
            _ReadyzProvider(),
            name,
            {
                "url": url,
                "caPem": ca_pem,
                "certPem": cert_pem,
                "keyPem": pulumi.Output.secret(key_pem),
                "timeoutSeconds": timeout_seconds,
            },
            opts,
        )
