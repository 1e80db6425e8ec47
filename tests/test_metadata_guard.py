"""The node's metadata guard (templates/cloud_init/metadata-guard.nft), enforced for real.

Three network namespaces that this test creates and removes: a stand-in metadata service on
169.254.169.254, a node that loads the guard exactly as rendered into user_data, and a "pod"
whose traffic the node forwards, as flannel's bridge does. Root on the node gets an answer; a
non-root process on the node and the pod do not. The same checks without the guard must pass,
which shows the test can fail. Needs root and `ip netns` (run by `make test` in CI).
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from components import cloud_init as ci
from tests.test_cloud_init import _files, make_real_nodes

METADATA_IP = "169.254.169.254"
CLIENT = (
    "import sys, urllib.request\n"
    "try:\n"
    f"    print(urllib.request.urlopen('http://{METADATA_IP}:8080/hetzner/v1/userdata', timeout=2).read().decode())\n"
    "except Exception as exc:\n"
    "    print(type(exc).__name__); sys.exit(1)\n"
)

pytestmark = pytest.mark.skipif(
    os.geteuid() != 0 or shutil.which("ip") is None or shutil.which("nft") is None,
    reason="needs root, iproute2 and nftables (tools/validators.sh installs nftables)",
)


def _sh(*args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
    return subprocess.run(list(args), capture_output=True, text=True, check=check, timeout=30)


@pytest.fixture
def topology(tmp_path: Path) -> Iterator[dict[str, str]]:
    tag = f"hdmd{os.getpid() % 100000}"
    ns = {"node": f"{tag}-node", "meta": f"{tag}-meta", "pod": f"{tag}-pod"}
    try:
        for name in ns.values():
            _sh("ip", "netns", "add", name)

        def inside(which: str, *cmd: str) -> None:
            _sh("ip", "netns", "exec", ns[which], *cmd)

        _sh(
            "ip",
            "link",
            "add",
            f"{tag}nm",
            "netns",
            ns["node"],
            "type",
            "veth",
            "peer",
            f"{tag}mn",
            "netns",
            ns["meta"],
        )
        _sh(
            "ip", "link", "add", f"{tag}np", "netns", ns["node"], "type", "veth", "peer", f"{tag}pn", "netns", ns["pod"]
        )
        inside("meta", "ip", "addr", "add", f"{METADATA_IP}/16", "dev", f"{tag}mn")
        inside("node", "ip", "addr", "add", "169.254.0.1/16", "dev", f"{tag}nm")
        inside("node", "ip", "addr", "add", "10.42.0.1/24", "dev", f"{tag}np")
        inside("pod", "ip", "addr", "add", "10.42.0.2/24", "dev", f"{tag}pn")
        for which, dev in (("meta", "mn"), ("node", "nm"), ("node", "np"), ("pod", "pn")):
            inside(which, "ip", "link", "set", f"{tag}{dev}", "up")
            inside(which, "ip", "link", "set", "lo", "up")
        inside("pod", "ip", "route", "add", "default", "via", "10.42.0.1")
        inside("meta", "ip", "route", "add", "10.42.0.0/24", "via", "169.254.0.1")
        inside("node", "sysctl", "-qw", "net.ipv4.ip_forward=1")
        served = tmp_path / "hetzner" / "v1"
        served.mkdir(parents=True)
        (served / "userdata").write_text("user-data-with-cluster-keys\n")
        server = subprocess.Popen(
            ["ip", "netns", "exec", ns["meta"], sys.executable, "-m", "http.server", "8080", "--bind", METADATA_IP],
            cwd=tmp_path,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        try:
            for _ in range(50):  # until it listens (bounded: 5 s)
                if _fetch(ns["node"], as_root=True) == "user-data-with-cluster-keys":
                    break
                subprocess.run(["sleep", "0.1"], check=True)
            yield ns
        finally:
            server.terminate()
            server.wait(timeout=10)
    finally:
        for name in ns.values():
            _sh("ip", "netns", "delete", name, check=False)


def _fetch(namespace: str, *, as_root: bool) -> str:
    cmd = ["ip", "netns", "exec", namespace]
    if not as_root:
        cmd += ["setpriv", "--reuid=65534", "--regid=65534", "--clear-groups"]
    proc = subprocess.run([*cmd, sys.executable, "-c", CLIENT], capture_output=True, text=True, timeout=20)
    return proc.stdout.strip()


def _rendered_guard() -> str:
    """The ruleset as the bootstrap server's user_data writes it."""
    node = make_real_nodes()[0]
    return _files(ci.render_user_data(node))[ci.METADATA_GUARD_RULES_PATH]["content"]


def test_only_root_on_the_node_reaches_the_metadata_service(topology: dict[str, str], tmp_path: Path) -> None:
    node, pod = topology["node"], topology["pod"]
    # Without the guard everyone gets the user_data: the checks below can fail.
    assert _fetch(node, as_root=False) == "user-data-with-cluster-keys"
    assert _fetch(pod, as_root=True) == "user-data-with-cluster-keys"

    rules = tmp_path / "metadata-guard.nft"
    rules.write_text(_rendered_guard())
    _sh("ip", "netns", "exec", node, "nft", "-f", str(rules))
    _sh("ip", "netns", "exec", node, "nft", "-f", str(rules))  # re-applying (every boot) is idempotent

    assert _fetch(node, as_root=True) == "user-data-with-cluster-keys"
    assert _fetch(node, as_root=False) in {"URLError", "ConnectionRefusedError"}
    assert _fetch(pod, as_root=True) in {"URLError", "TimeoutError", "timeout", "socket.timeout"}
    listing = _sh("ip", "netns", "exec", node, "nft", "list", "tables").stdout.split()
    assert listing.count("honeydue_metadata") == 1


def test_the_guard_is_loaded_by_a_unit_k3s_requires(tmp_path: Path) -> None:
    node = make_real_nodes()[1]
    files = _files(ci.render_user_data(node))
    unit = files[ci.METADATA_GUARD_UNIT_PATH]["content"]
    assert f"ExecStart=/usr/sbin/nft -f {ci.METADATA_GUARD_RULES_PATH}" in unit
    assert "RequiredBy=k3s.service" in unit and "Before=network-pre.target k3s.service" in unit
    assert "WantedBy=sysinit.target" in unit
    check = tmp_path / "guard.nft"
    check.write_text(files[ci.METADATA_GUARD_RULES_PATH]["content"])
    _sh("unshare", "--net", "nft", "-c", "-f", str(check))
