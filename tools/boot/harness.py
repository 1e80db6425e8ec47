"""Boot a node's real user_data under cloud-init and systemd, inside namespaces (boot test).

Layout of one boot (everything lives in namespaces this module creates; no address outside them
is used, and nothing is sent off the machine):

    lab netns (a sleeping process)                      node netns (systemd = PID 1, own PID,
      lab0  192.0.2.1/24  gateway, HTTPS stub  <- veth ->  eth0  192.0.2.10/24, default route
            192.0.2.2/24  SSH client for the ban test      mount, UTS and IPC namespaces)
      priv0 (no address)                       <- veth ->  enp7s0  <private IP of the plan>/24,
                                                           created late, as Hetzner's DHCP does

The node's root is an overlay of the cached Debian 13 image (tools/boot/rootfs.sh) with a
per-instance upper directory: booting the same :class:`Node` again is a reboot of the same
instance. K3s's installer URL resolves (node's /etc/hosts) to the lab's HTTPS stub, whose
certificate is signed by a test CA in the node's trust store; it serves
tools/boot/stand-in-install.sh, which records how it was called.
"""

from __future__ import annotations

import base64
import gzip
import os
import re
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Sequence
from pathlib import Path

import yaml

BOOT_DIR = Path(__file__).resolve().parent
ROOT = BOOT_DIR.parent.parent

INSTALLER_HOST = "raw.githubusercontent.com"  # k3s-bootstrap.sh downloads install.sh from here
GATEWAY = "192.0.2.1"  # TEST-NET-1 (RFC 5737), only inside the lab/node namespaces
CLIENT = "192.0.2.2"
NODE_PUBLIC = "192.0.2.10"
PUBLIC_NIC = "eth0"
METADATA = "169.254.169.254"  # Hetzner's metadata service; a stand-in in the lab (issue 16)
POD_NET = "10.42.0.0/24"  # K3s's default pod CIDR: the stand-in pod's network on the node
POD_GATEWAY = "10.42.0.1"
POD_IP = "10.42.0.2"
PRIVATE_NIC = "enp7s0"  # Hetzner's private NIC name on cx/cpx servers; not the default route's
RECORD_DIR = "/var/lib/honeydue-boot-test/installer"
NODE_PATH = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"
TOOLS = ("unshare", "nsenter", "chroot", "ip", "openssl", "ssh", "ssh-keygen", "debootstrap", "flock")


def skip_reason() -> str | None:
    """Why this machine cannot run the boot test, or None when it can."""
    if os.geteuid() != 0:
        return "boot test needs root (debootstrap, mount and network namespaces); run `make test` as root"
    missing = [t for t in TOOLS if shutil.which(t) is None]
    if missing:
        return f"boot test needs {', '.join(missing)} on PATH"
    probe = subprocess.run(
        ["unshare", "--fork", "--pid", "--mount", "--uts", "--ipc", "--net", "true"],
        capture_output=True,
        text=True,
        check=False,
    )
    if probe.returncode != 0:
        return f"boot test cannot create namespaces here: {probe.stderr.strip()}"
    return None


def _run(cmd: Sequence[str], *, timeout: float = 120, check: bool = True) -> subprocess.CompletedProcess[str]:
    return subprocess.run(list(cmd), capture_output=True, text=True, timeout=timeout, check=check)


def _wait(what: str, predicate: object, timeout: float, interval: float = 0.5) -> None:
    assert callable(predicate)
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise TimeoutError(f"timed out after {timeout:.0f}s waiting for {what}")
        time.sleep(interval)


# --- plan output ---------------------------------------------------------------------------------


def plan_user_data(stack: str, out: Path) -> dict[str, str]:
    """Run the real plan (tools/plan.py) into OUT; node name -> user_data as the plan sends it."""
    proc = _run(
        [sys.executable, str(ROOT / "tools" / "plan.py"), "--stack", stack, "--out", str(out), "--no-policies"],
        timeout=600,
        check=False,
    )
    if proc.returncode != 0:
        raise RuntimeError(f"plan failed ({proc.returncode}): {proc.stderr[-2000:]}")
    return {p.stem: p.read_text() for p in sorted((out / "cloud-init").glob("*.yaml"))}


def k3s_config_of(user_data: str) -> dict[str, object]:
    """The K3s config.yaml a user_data writes (write_files), parsed."""
    doc = yaml.safe_load(user_data)
    for entry in doc.get("write_files", []):
        if entry["path"] == "/etc/rancher/k3s/config.yaml":
            cfg = yaml.safe_load(entry["content"])
            assert isinstance(cfg, dict)
            return cfg
    raise ValueError("user_data writes no /etc/rancher/k3s/config.yaml")


def k3s_role_of(user_data: str) -> str | None:
    """ "bootstrap" or "join" from the node's bootstrap command in runcmd (the role argument the
    renderer writes; components/cloud_init.py), None for a user_data without K3s (the monitor)."""
    for line in yaml.safe_load(user_data).get("runcmd", []):
        words = str(line).split()
        for i, word in enumerate(words):
            if word.endswith("/honeydue-k3s-bootstrap") and len(words) > i + 3:
                return words[i + 3]
    return None


def is_monitor(user_data: str) -> bool:
    """Does this user_data set up the uptime monitor (runcmd runs honeydue-monitor-setup)?"""
    return any("/honeydue-monitor-setup" in str(line) for line in yaml.safe_load(user_data).get("runcmd", []))


def written_files(user_data: str) -> dict[str, str]:
    """path -> content of the user_data's write_files, decoded as cloud-init does (gz+b64)."""
    found: dict[str, str] = {}
    for entry in yaml.safe_load(user_data).get("write_files", []):
        content = entry.get("content", "")
        if entry.get("encoding") == "gz+b64":
            content = gzip.decompress(base64.b64decode(content)).decode()
        found[entry["path"]] = content
    return found


_APT_INSTALL = re.compile(r"\bapt-get\s+install\s+([^;&|\n]*)")


def boot_packages(user_data: str) -> list[str]:
    """What a user_data installs at boot, all from the image's local repo: its cloud-config
    `packages`, and what the scripts it writes install with `apt-get install` (the uptime
    monitor installs its daemons after the metadata guard is up, not as `packages`)."""
    packages = [str(p) for p in yaml.safe_load(user_data).get("packages", [])]
    for content in written_files(user_data).values():
        joined = content.replace("\\\n", " ")  # shell line continuations
        for match in _APT_INSTALL.finditer(joined):
            packages += [w for w in match.group(1).split() if not w.startswith("-")]
    return packages


def rootfs(packages: Sequence[str]) -> Path:
    """The cached Debian 13 image (built on first use, ~1-3 min), for these boot packages."""
    proc = _run(["bash", str(BOOT_DIR / "rootfs.sh"), *sorted(set(packages))], timeout=1800, check=False)
    if proc.returncode != 0:
        raise RuntimeError(f"rootfs.sh failed ({proc.returncode}):\n{proc.stderr[-4000:]}")
    return Path(proc.stdout.strip().splitlines()[-1])


# --- test PKI ------------------------------------------------------------------------------------


def make_test_ca(workdir: Path) -> dict[str, Path]:
    """A throwaway CA and a server certificate for INSTALLER_HOST, signed by it."""
    workdir.mkdir(parents=True, exist_ok=True)
    ca_key, ca_crt = workdir / "ca.key", workdir / "ca.crt"
    key, csr, crt = workdir / "server.key", workdir / "server.csr", workdir / "server.crt"
    ext = workdir / "server.ext"
    _run(["openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes",
          "-keyout", str(ca_key), "-out", str(ca_crt), "-days", "2", "-subj", "/CN=honeydue boot test CA"])  # fmt: skip
    _run(["openssl", "req", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes",
          "-keyout", str(key), "-out", str(csr), "-subj", f"/CN={INSTALLER_HOST}"])  # fmt: skip
    ext.write_text(f"subjectAltName=DNS:{INSTALLER_HOST}\nextendedKeyUsage=serverAuth\n")
    _run(["openssl", "x509", "-req", "-in", str(csr), "-CA", str(ca_crt), "-CAkey", str(ca_key),
          "-CAcreateserial", "-out", str(crt), "-days", "2", "-extfile", str(ext)])  # fmt: skip
    return {"ca": ca_crt, "cert": crt, "key": key}


# --- namespaces ----------------------------------------------------------------------------------


class Netns:
    """A network namespace held by a sleeping process (the lab, a stand-in pod)."""

    def __init__(self) -> None:
        host_net = os.readlink("/proc/self/ns/net")
        self.proc = subprocess.Popen(["unshare", "--net", "--", "sleep", "infinity"])
        self.pid = self.proc.pid
        _wait("lab netns", lambda: os.readlink(f"/proc/{self.pid}/ns/net") != host_net, 10, 0.05)
        self.ip("link", "set", "lo", "up")
        self.stubs: list[subprocess.Popen[bytes]] = []

    def run(self, *cmd: str, timeout: float = 60, check: bool = True) -> subprocess.CompletedProcess[str]:
        return _run(["nsenter", "-t", str(self.pid), "-n", "--", *cmd], timeout=timeout, check=check)

    def ip(self, *args: str) -> None:
        self.run("ip", *args)

    def close(self) -> None:
        for proc in (*self.stubs, self.proc):
            if proc.poll() is None:
                proc.kill()
                proc.wait(10)


class Lab(Netns):
    """The node's outside world: gateway, installer stand-in, metadata stand-in, SSH client."""

    def serve(self, address: str, port: int, docroot: Path, log: Path, pki: dict[str, Path] | None = None) -> None:
        """https_stub.py on ADDRESS:PORT (HTTPS by the test CA if PKI), logging paths to LOG."""
        log.touch()
        cert, key = (str(pki["cert"]), str(pki["key"])) if pki else ("-", "-")
        cmd = ["nsenter", "-t", str(self.pid), "-n", "--", sys.executable, str(BOOT_DIR / "https_stub.py")]
        cmd += [address, str(port), cert, key, str(docroot), str(log)]
        self.stubs.append(subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL))
        hexport = f":{port:04X} "
        _wait(f"stub on {address}:{port}", lambda: hexport in Path(f"/proc/{self.pid}/net/tcp").read_text(), 10, 0.1)

    def serve_https(self, docroot: Path, pki: dict[str, Path], log: Path) -> None:
        """The installer stand-in: GATEWAY:443, certificate for INSTALLER_HOST by the test CA."""
        self.serve(GATEWAY, 443, docroot, log, pki)

    def serve_metadata(self, docroot: Path, log: Path) -> None:
        """The metadata stand-in: plain HTTP on METADATA:80 (held on the lab's loopback)."""
        self.ip("addr", "add", f"{METADATA}/32", "dev", "lo")
        self.serve(METADATA, 80, docroot, log)


class Node:
    """One instance: its overlay upper dir persists across boots (a reboot is boot() again)."""

    def __init__(self, name: str, image: Path, run_dir: Path) -> None:
        self.name = name
        self.image = image
        self.run_dir = run_dir
        self.upper = run_dir / "upper"
        self.upper.mkdir(parents=True, exist_ok=True)
        self.console = run_dir / "console.log"
        self.proc: subprocess.Popen[bytes] | None = None
        self.pid = 0
        self.boots = 0

    # --- before the first boot: what the datasource and the test environment provide ----------

    def put(self, path: str, content: str | bytes, mode: int = 0o644) -> None:
        """Write a file into the instance's upper dir (seen by the node at its next boot)."""
        target = self.upper / path.lstrip("/")
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_bytes(content.encode() if isinstance(content, str) else content)
        target.chmod(mode)

    def mask(self, unit: str) -> None:
        """Mask a unit in the overlay (test-only way to make a service fail to start)."""
        link = self.upper / "etc/systemd/system" / unit
        link.parent.mkdir(parents=True, exist_ok=True)
        if not link.is_symlink():
            link.symlink_to("/dev/null")

    def seed(self, user_data: str, ca_crt: Path) -> None:
        """NoCloud seed, /etc/hosts pointing the installer host at the lab, the test CA."""
        self.put("/var/lib/cloud/seed/nocloud/user-data", user_data, 0o600)
        self.put(
            "/var/lib/cloud/seed/nocloud/meta-data",
            f"instance-id: {self.name}-boot-test\nlocal-hostname: {self.name}\n",
        )
        # As a Debian image's /etc/hosts (the node's own name resolves: fail2ban's ignoreself
        # looks it up), plus the installer host pointing at the lab. No DNS server: lookups of
        # other names fail at once instead of timing out.
        hostname = str(yaml.safe_load(user_data).get("hostname", self.name))
        self.put(
            "/etc/hosts", f"127.0.0.1 localhost\n127.0.1.1 {hostname}\n::1 localhost\n{GATEWAY} {INSTALLER_HOST}\n"
        )
        self.put("/etc/resolv.conf", "# boot test: no DNS server\n")
        self.put("/usr/local/share/ca-certificates/honeydue-boot-test-ca.crt", ca_crt.read_bytes())
        # A container loads no kernel modules (the host's kernel has what it has).
        self.mask("systemd-modules-load.service")

    # --- boot ---------------------------------------------------------------------------------

    def boot(self) -> None:
        """Start systemd as PID 1 of new PID/mount/UTS/IPC/net namespaces; returns once it runs."""
        assert self.proc is None, "already running"
        self.boots += 1
        with self.console.open("ab") as console:
            console.write(f"\n===== boot {self.boots} =====\n".encode())
            self.proc = subprocess.Popen(
                ["unshare", "--fork", "--pid", "--mount", "--uts", "--ipc", "--net", "--propagation", "private",
                 "bash", str(BOOT_DIR / "node.sh"), str(self.image), str(self.run_dir)],
                stdout=console, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, start_new_session=True,
            )  # fmt: skip
        upid = self.proc.pid

        def systemd_pid() -> bool:
            if self.proc is not None and self.proc.poll() is not None:
                raise RuntimeError(f"boot of {self.name} exited early; see {self.console}")
            try:
                children = Path(f"/proc/{upid}/task/{upid}/children").read_text().split()
                if children and Path(f"/proc/{children[0]}/comm").read_text().strip() == "systemd":
                    self.pid = int(children[0])
                    return True
            except OSError:
                pass
            return False

        _wait(f"systemd of {self.name}", systemd_pid, 60, 0.1)

    def stop(self) -> None:
        """Power off by killing PID 1 (the kernel then kills the whole PID namespace)."""
        if self.proc is None:
            return
        if self.proc.poll() is None:
            try:
                os.kill(self.pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
            try:
                self.proc.wait(30)
            except subprocess.TimeoutExpired:
                os.killpg(self.proc.pid, signal.SIGKILL)
                self.proc.wait(10)
        self.proc = None
        self.pid = 0

    # --- inside the node ----------------------------------------------------------------------

    def run(self, *cmd: str, timeout: float = 120, check: bool = True) -> subprocess.CompletedProcess[str]:
        """Run a command in all of the node's namespaces and root, as root."""
        full = ["nsenter", "-t", str(self.pid), "-m", "-u", "-i", "-n", "-p", "-r", "-w", "--",
                "/usr/bin/env", "-i", f"PATH={NODE_PATH}", "LC_ALL=C", *cmd]  # fmt: skip
        return _run(full, timeout=timeout, check=check)

    def path(self, path: str) -> Path:
        """A path of the node's (overlay) root, readable from the host while it runs."""
        return Path(f"/proc/{self.pid}/root") / path.lstrip("/")

    def link(self, lab: Lab, lab_end: str, node_end: str) -> None:
        """A veth pair, LAB_END in the lab and NODE_END in the node (created in place)."""
        # After a power-off the kernel tears the old node's netns down asynchronously: its
        # veth peer may still be in the lab for a moment. Deleting one end deletes the pair.
        lab.run("ip", "link", "del", lab_end, check=False)
        _run(["ip", "link", "add", lab_end, "netns", str(lab.pid), "type", "veth",
              "peer", "name", node_end, "netns", str(self.pid)])  # fmt: skip
        lab.ip("link", "set", lab_end, "up")

    def connect_public(self, lab: Lab) -> None:
        self.link(lab, "lab0", PUBLIC_NIC)
        lab.ip("addr", "add", f"{GATEWAY}/24", "dev", "lab0")
        lab.ip("addr", "add", f"{CLIENT}/24", "dev", "lab0")
        self.run("ip", "link", "set", "lo", "up")
        self.run("ip", "addr", "add", f"{NODE_PUBLIC}/24", "dev", PUBLIC_NIC)
        self.run("ip", "link", "set", PUBLIC_NIC, "up")
        self.run("ip", "route", "add", "default", "via", GATEWAY)

    def attach_pod(self, lab: Lab) -> Netns:
        """A stand-in pod: its own netns, a veth to the node, routed (forwarded) by the node."""
        pod = Netns()
        _run(["ip", "link", "add", "eth0", "netns", str(pod.pid), "type", "veth",
              "peer", "name", "vethpod", "netns", str(self.pid)])  # fmt: skip
        pod.ip("addr", "add", f"{POD_IP}/24", "dev", "eth0")
        pod.ip("link", "set", "eth0", "up")
        pod.ip("route", "add", "default", "via", POD_GATEWAY)
        self.run("ip", "addr", "add", f"{POD_GATEWAY}/24", "dev", "vethpod")
        self.run("ip", "link", "set", "vethpod", "up")
        # The node's /proc/sys is read-only; its netns's forwarding switch is set from the host
        # side (net.* sysctls belong to the network namespace of the writer).
        _run(["nsenter", "-t", str(self.pid), "-n", "--", "sysctl", "-qw", "net.ipv4.ip_forward=1"])
        lab.ip("route", "replace", POD_NET, "via", NODE_PUBLIC)
        return pod

    def connect_private(self, lab: Lab, private_ip: str, *, delay: float = 0.0) -> None:
        """The private NIC: link first, its address DELAY seconds later (DHCP on Hetzner)."""
        self.link(lab, "priv0", PRIVATE_NIC)
        self.run("ip", "link", "set", PRIVATE_NIC, "up")
        time.sleep(delay)
        self.run("ip", "addr", "add", f"{private_ip}/24", "dev", PRIVATE_NIC)

    def wait_for_process(self, pattern: str, timeout: float) -> bool:
        """True once a process whose command line matches PATTERN runs in the node."""
        try:
            _wait(pattern, lambda: self.run("pgrep", "-f", pattern, check=False).returncode == 0, timeout, 0.5)
        except TimeoutError:
            return False
        return True

    def cloud_init_status(self, timeout: float = 400) -> dict[str, object]:
        """`cloud-init status --wait`, then its JSON status (boot_status_code, errors, ...)."""
        self.run("cloud-init", "status", "--wait", timeout=timeout, check=False)
        out = self.run("cloud-init", "status", "--format", "json", check=False).stdout
        status = yaml.safe_load(out)
        assert isinstance(status, dict), out
        return status

    def systemctl(self, *args: str) -> str:
        return self.run("systemctl", *args, check=False).stdout.strip()

    def installer_calls(self) -> list[Path]:
        """One directory per run of the stand-in installer, oldest first (host-side paths)."""
        record = self.path(RECORD_DIR)
        return sorted(record.glob("call-*")) if record.is_dir() else []
