"""Tests of the pure cloud-init renderer (components/cloud_init.py).

Besides plain assertions, the rendered documents go through the real validators that
tools/validators.sh installs: cloud-init 22.4.2's own schema check (strict, via the system
python), the Debian 13 cloud-init schema via check-jsonschema (it rejects unknown top-level
keys), and shellcheck over every script cloud-init will run. The shell scripts also run for real
against stub commands. Golden files: UPDATE_GOLDEN=1 rewrites them.
"""

from __future__ import annotations

import base64
import datetime
import gzip
import hashlib
import json
import os
import re
import shutil
import stat
import subprocess
import sys
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest
import yaml

from components import cloud_init as ci
from components.cloud_init import (
    USER_DATA_BUDGET,
    EtcdS3,
    NodeBootstrap,
    render_k3s_config,
    render_user_data,
)

REPO = Path(__file__).resolve().parents[1]
GOLDEN_DIR = REPO / "tests" / "golden" / "cloud_init"
FLAGS_FILE = REPO / "tests" / "data" / "k3s_server_flags.txt"
TEMPLATES = REPO / "components" / "templates" / "cloud_init"
UPDATE_GOLDEN = os.environ.get("UPDATE_GOLDEN") == "1"
SYSTEM_PYTHON = "/usr/bin/python3"  # cloud-init's Python API lives in the Debian package
_CACHE = Path(
    os.environ.get("HONEYDUE_CACHE") or Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "honeydue"
)
SCHEMA_25 = _CACHE / "cloud-init-schema" / "schema-cloud-config-v1.json"
MISSING = "missing validator {}: run tools/validators.sh"

K3S_VERSION = "v1.34.6+k3s1"
PRIVATE_IPS = ("10.0.1.11", "10.0.1.12", "10.0.1.13")
PUBLIC_IPV4 = ("203.0.113.11", "203.0.113.12", "203.0.113.13")
PUBLIC_IPV6 = ("2001:db8:11::1", "2001:db8:12::1", "2001:db8:13::1")
CA_NAMES = (
    "server-ca",
    "client-ca",
    "request-header-ca",
    "etcd/peer-ca",
    "etcd/server-ca",
)
SSH_KEYS = (
    "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIHd0ZmFrZWtleWZvcnRlc3RzMDEyMzQ1Njc4 ops@honeydue",
    "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIGJyZWFrZ2xhc3NrZXlmb3J0ZXN0czAxMjM0 breakglass",
)
S3 = EtcdS3(
    endpoint="s3.eu-central-003.backblazeb2.com",
    bucket="honeydue-etcd-snapshots",
    folder="prod",
    region="eu-central-003",
    retention=56,
    access_key="0031a2b3c4d5e6f0000000001",
    secret_key="K003abcdefghijklmnopqrstuvwxyz01234",
)


# --------------------------------------------------------------------------------- fixtures


def _nodes(token: str, ca_files: tuple[tuple[str, str], ...]) -> list[NodeBootstrap]:
    """A prod-like 3-server cluster; the first is the bootstrap server and gets the CA files."""
    return [
        NodeBootstrap(
            hostname=f"honeydue-prod-{i + 1}",
            k3s_version=K3S_VERSION,
            token=token,
            private_ip=PRIVATE_IPS[i],
            public_ipv4=PUBLIC_IPV4[i],
            public_ipv6=PUBLIC_IPV6[i],
            bootstrap=i == 0,
            # as components/cluster.py orders them: the bootstrap server first, then by name
            peers=tuple(ip for ip in PRIVATE_IPS if ip != PRIVATE_IPS[i]),
            tls_sans=("api.honeydue.example", PUBLIC_IPV4[i], PUBLIC_IPV6[i], PRIVATE_IPS[i]),
            cluster_cidr="10.42.0.0/16",
            service_cidr="10.43.0.0/16",
            external_cloud_provider=True,
            ca_files=ca_files if i == 0 else (),
            etcd_snapshot_cron="0 */6 * * *",
            etcd_snapshot_retention=28,
            etcd_s3=S3,
            ssh_port=2222,
            admin_user="honeydue",
            ssh_authorized_keys=SSH_KEYS,
        )
        for i in range(3)
    ]


def _fake_pem(kind: str, name: str) -> str:
    body = name.replace("/", "-").encode().hex()[:48]
    return f"-----BEGIN {kind}-----\n{body}\n-----END {kind}-----\n"


@pytest.fixture(scope="module")
def golden_nodes() -> list[NodeBootstrap]:
    """Stable input for golden files: short fake PEM-shaped strings, fixed token."""
    root = _fake_pem("CERTIFICATE", "root-ca")
    ca_files: list[tuple[str, str]] = []
    for name in CA_NAMES:  # bundles: intermediate + root, as components/pki.py writes them
        ca_files.append((f"{name}.crt", _fake_pem("CERTIFICATE", name) + root))
        ca_files.append((f"{name}.key", _fake_pem("EC PRIVATE KEY", name)))
    ca_files.append(("service.key", _fake_pem("RSA PRIVATE KEY", "service")))
    return _nodes("K10" + "ab" * 32 + "::server:" + "5e" * 16, tuple(ca_files))


@pytest.fixture(scope="module")
def real_nodes() -> list[NodeBootstrap]:
    return make_real_nodes()


def make_real_nodes() -> list[NodeBootstrap]:
    """Realistic sizes, shaped like components/pki.py makes them: an ECDSA P-256 root, one
    intermediate per K3s CA role (each *.crt = intermediate + root), an ECDSA P-256 service.key,
    and the K10<sha256 of the root DER> token."""
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    now = datetime.datetime(2026, 1, 1, tzinfo=datetime.UTC)
    usage = x509.KeyUsage(
        digital_signature=True, content_commitment=False, key_encipherment=False,
        data_encipherment=False, key_agreement=False, key_cert_sign=True, crl_sign=True,
        encipher_only=False, decipher_only=False,
    )  # fmt: skip
    pem = serialization.Encoding.PEM

    def key_pem(key: ec.EllipticCurvePrivateKey) -> str:
        fmt = serialization.PrivateFormat.TraditionalOpenSSL
        return key.private_bytes(pem, fmt, serialization.NoEncryption()).decode()

    def ca_cert(
        cn: str, key: ec.EllipticCurvePrivateKey, issuer: x509.Name, signer: ec.EllipticCurvePrivateKey
    ) -> x509.Certificate:
        subject = x509.Name(
            [
                x509.NameAttribute(NameOID.ORGANIZATION_NAME, "honeydue"),
                x509.NameAttribute(NameOID.COMMON_NAME, cn),
            ]
        )
        return (
            x509.CertificateBuilder()
            .subject_name(subject)
            .issuer_name(issuer or subject)
            .public_key(key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(now)
            .not_valid_after(now + datetime.timedelta(days=3650))
            .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
            .add_extension(usage, critical=True)
            .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), False)
            .sign(signer, hashes.SHA256())
        )

    root_key = ec.generate_private_key(ec.SECP256R1())
    root = ca_cert("honeydue-prod-root-ca", root_key, x509.Name([]), root_key)
    root_pem = root.public_bytes(pem).decode()
    ca_files: list[tuple[str, str]] = []
    for name in CA_NAMES:
        key = ec.generate_private_key(ec.SECP256R1())
        cert = ca_cert(f"honeydue-prod-{name.replace('/', '-')}", key, root.subject, root_key)
        ca_files.append((f"{name}.crt", cert.public_bytes(pem).decode() + root_pem))
        ca_files.append((f"{name}.key", key_pem(key)))
    ca_files.append(("service.key", key_pem(ec.generate_private_key(ec.SECP256R1()))))  # ECDSA, as pki.py
    root_hash = hashlib.sha256(root.public_bytes(serialization.Encoding.DER)).hexdigest()
    return _nodes(f"K10{root_hash}::server:{os.urandom(24).hex()}", tuple(ca_files))


def _variants(nodes: list[NodeBootstrap]) -> dict[str, NodeBootstrap]:
    """Every node plus the toggles: no CCM, no S3, no IPv6."""
    out = {n.hostname: n for n in nodes}
    out["no-ccm"] = replace(nodes[1], external_cloud_provider=False)
    out["no-s3"] = replace(nodes[0], etcd_s3=None)
    out["no-ipv6"] = replace(nodes[2], public_ipv6="")
    return out


@pytest.fixture(scope="module")
def rendered(real_nodes: list[NodeBootstrap]) -> dict[str, str]:
    return {name: render_user_data(n) for name, n in _variants(real_nodes).items()}


def _parse(user_data: str) -> dict[str, Any]:
    assert user_data.startswith("#cloud-config\n")
    doc = yaml.safe_load(user_data)
    assert isinstance(doc, dict)
    return doc


def _files(user_data: str) -> dict[str, dict[str, Any]]:
    """The files as cloud-init's write_files leaves them: entries replayed in order (append:
    true appends), permissions defaulting to 0644."""
    files: dict[str, dict[str, Any]] = {}
    for entry in _parse(user_data)["write_files"]:
        assert set(entry) <= {"path", "content", "permissions", "append", "encoding"}, entry
        permissions = entry.get("permissions", "0644")
        if entry.get("encoding") == "gz+b64":  # decoded as cloud-init's write_files does
            entry = {**entry, "content": gzip.decompress(base64.b64decode(entry["content"])).decode()}
        if entry.get("append"):
            assert files[entry["path"]]["permissions"] == permissions, entry["path"]
            files[entry["path"]]["content"] += entry["content"]
        else:
            assert entry["path"] not in files, f"{entry['path']} written twice"
            files[entry["path"]] = {"content": entry["content"], "permissions": permissions}
    return files


def _k3s_config_written(user_data: str) -> dict[str, Any]:
    entry = _files(user_data)[ci.K3S_CONFIG_PATH]
    assert entry["permissions"] == "0600"
    cfg = yaml.safe_load(entry["content"])
    assert isinstance(cfg, dict)
    return cfg


# --------------------------------------------------------------------------- real validators

_CLOUD_INIT_CHECK = """
import json, sys
from cloudinit import util
from cloudinit.config.schema import SchemaValidationError, get_schema, validate_cloudconfig_schema
schema = get_schema()
out = {}
for path in sys.argv[1:]:
    with open(path) as f:
        cfg = util.load_yaml(f.read())  # cloud-init's own loader
    res = {"error": None if isinstance(cfg, dict) else "not a YAML mapping", "runcmd": None}
    try:
        validate_cloudconfig_schema(cfg, schema=schema, strict=True, log_details=False)
    except SchemaValidationError as e:
        res["error"] = str(e)
    if isinstance(cfg, dict) and isinstance(cfg.get("runcmd"), list):
        res["runcmd"] = util.shellify(cfg["runcmd"])  # the script cloud-init writes and runs
    out[path] = res
print(json.dumps(out))
"""

BROKEN_DOCS = {
    # Wrong type: both schemas reject it.
    "bad-type.yaml": "#cloud-config\ndisable_root: definitely\npackages: [fail2ban]\n",
    # Unknown top-level key (a typo of write_files): only the 25.x schema rejects it.
    "bad-key.yaml": "#cloud-config\nwrite_file:\n  - path: /tmp/x\n    content: x\n",
}


@pytest.fixture(scope="module")
def docs_dir(tmp_path_factory: pytest.TempPathFactory, rendered: dict[str, str]) -> Path:
    d = tmp_path_factory.mktemp("cloud-config")
    for name, text in rendered.items():
        (d / f"{name}.yaml").write_text(text)
    broken = d / "broken"
    broken.mkdir()
    for name, text in BROKEN_DOCS.items():
        (broken / name).write_text(text)
    return d


@pytest.fixture(scope="module")
def cloud_init_22(docs_dir: Path) -> dict[str, dict[str, Any]]:
    """cloud-init 22.4.2's strict schema check over every doc, in one subprocess."""
    if not Path(SYSTEM_PYTHON).exists():
        pytest.fail(MISSING.format(SYSTEM_PYTHON))
    paths = sorted(str(p) for p in docs_dir.rglob("*.yaml"))
    proc = subprocess.run(
        [SYSTEM_PYTHON, "-c", _CLOUD_INIT_CHECK, *paths],
        check=False,
        capture_output=True,
        text=True,
    )
    if "No module named 'cloudinit'" in proc.stderr:
        pytest.fail(MISSING.format("cloud-init"))
    assert proc.returncode == 0, proc.stderr
    return {Path(p).name: r for p, r in json.loads(proc.stdout).items()}


def _check_jsonschema(*paths: Path) -> subprocess.CompletedProcess[str]:
    exe = Path(sys.executable).parent / "check-jsonschema"
    if not exe.exists() or not SCHEMA_25.exists():
        pytest.fail(MISSING.format(f"{exe} / {SCHEMA_25}"))
    return subprocess.run(
        [str(exe), "--schemafile", str(SCHEMA_25), *map(str, paths)],
        check=False,
        capture_output=True,
        text=True,
    )


def _shellcheck(*paths: Path) -> subprocess.CompletedProcess[str]:
    exe = shutil.which("shellcheck")
    if exe is None:
        pytest.fail(MISSING.format("shellcheck"))
    return subprocess.run(
        [exe, "--severity=style", "--format=gcc", *map(str, paths)],
        check=False,
        capture_output=True,
        text=True,
    )


def test_cloud_init_22_strict_schema_accepts_every_node(
    cloud_init_22: dict[str, dict[str, Any]], rendered: dict[str, str]
) -> None:
    for name in rendered:
        assert cloud_init_22[f"{name}.yaml"]["error"] is None, name


def test_cloud_init_22_strict_schema_rejects_a_broken_doc(
    cloud_init_22: dict[str, dict[str, Any]],
) -> None:
    error = cloud_init_22["bad-type.yaml"]["error"]
    assert error is not None and "disable_root" in error


def test_cloud_init_25_schema_accepts_every_node(docs_dir: Path) -> None:
    proc = _check_jsonschema(*sorted(docs_dir.glob("*.yaml")))
    assert proc.returncode == 0, proc.stdout + proc.stderr
    version = (SCHEMA_25.parent / "VERSION").read_text().strip()
    assert version.startswith("25."), version


@pytest.mark.parametrize(
    ("doc", "needle"),
    [("bad-type.yaml", "disable_root"), ("bad-key.yaml", "write_file")],
)
def test_cloud_init_25_schema_rejects_broken_docs(docs_dir: Path, doc: str, needle: str) -> None:
    proc = _check_jsonschema(docs_dir / "broken" / doc)
    assert proc.returncode != 0
    assert needle in proc.stdout + proc.stderr


def _scripts(user_data: str, runcmd_script: str) -> dict[str, str]:
    """Every shell script this node runs: the runcmd script and the executable write_files."""
    scripts = {"runcmd": runcmd_script}
    for path, entry in _files(user_data).items():
        executable = int(entry["permissions"], 8) & 0o111
        assert bool(executable) == entry["content"].startswith("#!"), path
        if executable:
            scripts[path] = entry["content"]
    return scripts


def test_every_script_passes_shellcheck(
    tmp_path: Path, rendered: dict[str, str], cloud_init_22: dict[str, dict[str, Any]]
) -> None:
    unique: dict[str, str] = {}
    for name, text in rendered.items():
        for label, script in _scripts(text, cloud_init_22[f"{name}.yaml"]["runcmd"]).items():
            unique.setdefault(script, f"{name}-{label.strip('/').replace('/', '_')}")
    assert len(unique) >= 3  # runcmd + 2 scripts at least
    paths = []
    for script, label in unique.items():
        p = tmp_path / f"{label}.sh"
        p.write_text(script)
        paths.append(p)
    proc = _shellcheck(*paths)
    assert proc.returncode == 0, proc.stdout + proc.stderr


def test_shellcheck_rejects_a_bad_script(tmp_path: Path) -> None:
    bad = tmp_path / "bad.sh"
    bad.write_text("#!/bin/sh\nfor f in $(ls); do echo $f; done\n")
    proc = _shellcheck(bad)
    assert proc.returncode != 0 and "SC2086" in proc.stdout


def test_shellcheck_disables_are_explained() -> None:
    for script in sorted(TEMPLATES.glob("*.sh")):
        lines = script.read_text().splitlines()
        for i, line in enumerate(lines):
            if re.match(r"\s*#\s*shellcheck\s+disable=", line):
                inline_reason = re.search(r"disable=\S+\s+#\s*\S", line)
                reason_above = i > 0 and lines[i - 1].lstrip().startswith("#")
                assert inline_reason or reason_above, f"{script.name}:{i + 1}: unexplained"


# ------------------------------------------------------------------------------------ golden


def _golden(name: str, text: str) -> None:
    path = GOLDEN_DIR / name
    if UPDATE_GOLDEN:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
    assert path.exists(), f"{path} missing: UPDATE_GOLDEN=1 pytest {__file__}"
    assert text == path.read_text(), f"{name} differs from its golden file (UPDATE_GOLDEN=1 after review)"


@pytest.mark.parametrize("index", [0, 1], ids=["first-server", "second-server"])
def test_golden_user_data(golden_nodes: list[NodeBootstrap], index: int) -> None:
    _golden(
        f"{golden_nodes[index].hostname}.user-data.yaml",
        render_user_data(golden_nodes[index]),
    )


@pytest.mark.parametrize("index", [0, 1], ids=["first-server", "second-server"])
def test_golden_k3s_config(golden_nodes: list[NodeBootstrap], index: int) -> None:
    cfg = render_k3s_config(golden_nodes[index])
    _golden(
        f"{golden_nodes[index].hostname}.k3s-config.yaml",
        yaml.safe_dump(cfg, sort_keys=False),
    )


# --------------------------------------------------------------------------------- k3s flags


def _k3s_flags() -> set[str]:
    lines = FLAGS_FILE.read_text().splitlines()
    return {ln.strip() for ln in lines if ln.strip() and not ln.startswith("#")}


def test_k3s_flag_list_is_the_documented_one() -> None:
    flags = _k3s_flags()
    assert len(flags) > 100
    assert {
        "cluster-init",
        "server",
        "token",
        "etcd-s3-secret-key",
        "kubelet-arg",
    } <= flags
    assert "not-a-k3s-flag" not in flags and "cluster_init" not in flags
    assert "Source: k3s-io/docs, docs/cli/server.md" in FLAGS_FILE.read_text()


def test_every_k3s_config_key_is_a_k3s_server_flag(
    real_nodes: list[NodeBootstrap],
) -> None:
    flags = _k3s_flags()
    for name, node in _variants(real_nodes).items():
        unknown = set(render_k3s_config(node)) - flags
        assert not unknown, f"{name}: not k3s server flags: {sorted(unknown)}"


# -------------------------------------------------------------------------------------- size


def test_user_data_fits_the_budget(rendered: dict[str, str]) -> None:
    for name, text in rendered.items():
        assert len(text.encode()) <= USER_DATA_BUDGET, name
    assert USER_DATA_BUDGET == 16 * 1024


def test_user_data_over_budget_raises(real_nodes: list[NodeBootstrap]) -> None:
    keys = tuple(f"ssh-rsa {'A' * 700} key{i}" for i in range(12))  # ~8.5 KB of extra keys
    with pytest.raises(ValueError, match="budget"):
        render_user_data(replace(real_nodes[0], ssh_authorized_keys=keys))
    render_user_data(replace(real_nodes[1], ssh_authorized_keys=keys[:8]))  # a joiner has room for ~5.7 KB


# --------------------------------------------------------------------------------- semantics


def test_bootstrap_server_gets_the_cas_and_no_static_cluster_init(
    real_nodes: list[NodeBootstrap], rendered: dict[str, str]
) -> None:
    first = real_nodes[0]
    cfg = _k3s_config_written(rendered[first.hostname])
    assert cfg == render_k3s_config(first)
    # Decided at boot (20-join.yaml): a static cluster-init would split a rebuilt server off.
    assert "cluster-init" not in cfg and "server" not in cfg
    files = _files(rendered[first.hostname])
    tls = {p: f for p, f in files.items() if p.startswith(ci.K3S_TLS_DIR + "/")}
    expected = {f"{ci.K3S_TLS_DIR}/{rel}": pem for rel, pem in first.ca_files}
    assert {p: f["content"] for p, f in tls.items()} == expected
    assert f"{ci.K3S_TLS_DIR}/etcd/peer-ca.key" in tls and f"{ci.K3S_TLS_DIR}/service.key" in tls
    for path, entry in tls.items():
        assert entry["permissions"] == ("0600" if path.endswith(".key") else "0644"), path


def test_the_shared_root_certificate_is_written_once(real_nodes: list[NodeBootstrap], rendered: dict[str, str]) -> None:
    crt = dict(real_nodes[0].ca_files)["server-ca.crt"]
    root_body_line = crt.split("-----BEGIN CERTIFICATE-----\n")[2].splitlines()[-2]  # signature
    assert all(root_body_line in pem for p, pem in real_nodes[0].ca_files if p.endswith(".crt"))
    assert rendered[real_nodes[0].hostname].count(root_body_line) == 1  # anchor, then aliases


@pytest.mark.parametrize(
    "ca_files",
    [
        # a shared block in the middle, one file repeated whole, text outside the PEM blocks
        (("a.crt", "{x}{r}{y}"), ("b.crt", "{r}"), ("c.crt", "{y}{r}")),
        (("a.crt", "{x}"), ("a-copy.crt", "{x}"), ("odd.crt", "subject=foo\n{r}")),
    ],
)
def test_ca_files_round_trip_exactly(golden_nodes: list[NodeBootstrap], ca_files: tuple[tuple[str, str], ...]) -> None:
    pems = {k: _fake_pem("CERTIFICATE", k) for k in ("x", "r", "y")}
    ca_files = tuple((p, c.format(**pems)) for p, c in ca_files)
    text = render_user_data(replace(golden_nodes[0], ca_files=ca_files))
    written = {p: f["content"] for p, f in _files(text).items() if p.startswith(ci.K3S_TLS_DIR)}
    assert written == {f"{ci.K3S_TLS_DIR}/{p}": c for p, c in ca_files}


def test_joiners_get_no_cas_and_name_the_bootstrap_server_first(
    real_nodes: list[NodeBootstrap], rendered: dict[str, str]
) -> None:
    for node in real_nodes[1:]:
        cfg = _k3s_config_written(rendered[node.hostname])
        assert "cluster-init" not in cfg and "server" not in cfg
        assert not [p for p in _files(rendered[node.hostname]) if p.startswith(ci.K3S_TLS_DIR)]
        argv = _bootstrap_argv(rendered[node.hostname])
        assert argv[2:4] == ["join", PRIVATE_IPS[0]]


def test_no_ipv6_network_address_in_any_k3s_config(real_nodes: list[NodeBootstrap], rendered: dict[str, str]) -> None:
    """Hetzner reports a /64's network address (…::); K3s must get the host (…::1)."""
    import ipaddress

    for name, text in rendered.items():
        cfg = _k3s_config_written(text)
        for value in [*cfg["node-external-ip"], *cfg["tls-san"]]:
            try:
                ip = ipaddress.ip_address(value)
            except ValueError:
                continue
            assert not (ip.version == 6 and int(ip) & (2**64 - 1) == 0), (name, value)
    with pytest.raises(ValueError, match="network address"):
        render_user_data(replace(real_nodes[1], public_ipv6="2001:db8:12::"))


def test_cluster_wide_values_match_on_every_server(rendered: dict[str, str]) -> None:
    critical = ("token", "cluster-cidr", "service-cidr", "flannel-backend", "secrets-encryption",
                "disable", "disable-cloud-controller")  # fmt: skip
    configs = [_k3s_config_written(rendered[f"honeydue-prod-{i}"]) for i in (1, 2, 3)]
    for key in critical:
        assert len({json.dumps(c.get(key)) for c in configs}) == 1, key
    assert configs[0]["token"].startswith("K10")


def test_k3s_config_values(real_nodes: list[NodeBootstrap]) -> None:
    node = real_nodes[1]
    cfg = render_k3s_config(node)
    assert cfg["node-ip"] == cfg["advertise-address"] == node.private_ip
    assert cfg["node-external-ip"] == [node.public_ipv4, node.public_ipv6]
    assert cfg["tls-san"] == list(node.tls_sans)
    assert cfg["flannel-backend"] == "wireguard-native"
    assert cfg["secrets-encryption"] is True and cfg["protect-kernel-defaults"] is True
    assert cfg["disable"] == ["servicelb"]
    assert cfg["write-kubeconfig-mode"] == "0600"
    assert cfg["etcd-snapshot-schedule-cron"] == "0 */6 * * *"
    assert cfg["etcd-snapshot-retention"] == 28
    args = dict(a.split("=", 1) for a in cfg["kube-apiserver-arg"])
    assert args == {
        "audit-log-path": ci.AUDIT_LOG_PATH,
        "audit-policy-file": ci.AUDIT_POLICY_PATH,
        "audit-log-maxage": "30",
        "audit-log-maxbackup": "10",
        "audit-log-maxsize": "100",
    }
    no_v6 = render_k3s_config(replace(node, public_ipv6=""))
    assert no_v6["node-external-ip"] == [node.public_ipv4]


def test_external_cloud_provider_toggle(real_nodes: list[NodeBootstrap]) -> None:
    on = render_k3s_config(real_nodes[0])
    off = render_k3s_config(replace(real_nodes[0], external_cloud_provider=False))
    assert on["disable-cloud-controller"] is True
    assert on["kubelet-arg"] == ["cloud-provider=external"]
    assert "disable-cloud-controller" not in off and "kubelet-arg" not in off
    assert set(on) - set(off) == {"disable-cloud-controller", "kubelet-arg"}


def test_etcd_s3_keys_only_when_configured(real_nodes: list[NodeBootstrap]) -> None:
    on = render_k3s_config(real_nodes[0])
    off = render_k3s_config(replace(real_nodes[0], etcd_s3=None))
    assert {k: v for k, v in on.items() if k.startswith("etcd-s3")} == {
        "etcd-s3": True,
        "etcd-s3-endpoint": S3.endpoint,
        "etcd-s3-bucket": S3.bucket,
        "etcd-s3-folder": S3.folder,
        "etcd-s3-region": S3.region,
        "etcd-s3-retention": 56,
        "etcd-s3-access-key": S3.access_key,
        "etcd-s3-secret-key": S3.secret_key,
    }
    assert not [k for k in off if k.startswith("etcd-s3")]
    assert off["etcd-snapshot-retention"] == 28  # local snapshots stay on


def test_os_hardening(real_nodes: list[NodeBootstrap], rendered: dict[str, str]) -> None:
    node = real_nodes[1]
    doc = _parse(rendered[node.hostname])
    assert doc["disable_root"] is True and doc["ssh_pwauth"] is False
    assert doc["hostname"] == node.hostname
    (user,) = doc["users"]
    assert user["name"] == "honeydue" and user["lock_passwd"] is True
    assert user["shell"] == "/bin/bash" and user["groups"] == ["sudo"]
    assert user["ssh_authorized_keys"] == list(node.ssh_authorized_keys)
    assert {"fail2ban", "unattended-upgrades"} <= set(doc["packages"])
    files = _files(rendered[node.hostname])

    sshd = files[ci.SSHD_DROPIN_PATH]["content"].splitlines()
    assert ci.SSHD_DROPIN_PATH.rsplit("/", 1)[1] < "50-cloud-init.conf"  # read first
    for line in ("Port 2222", "PasswordAuthentication no", "KbdInteractiveAuthentication no",
                 "PermitRootLogin no", "AllowUsers honeydue"):  # fmt: skip
        assert line in sshd

    jail = files[ci.FAIL2BAN_JAIL_PATH]["content"]
    assert "[sshd]" in jail and "backend = systemd" in jail and "port = 2222" in jail
    assert "$" not in jail and "$" not in files[ci.SSHD_DROPIN_PATH]["content"]

    auto = files[ci.AUTO_UPGRADES_PATH]["content"]
    assert 'APT::Periodic::Unattended-Upgrade "1";' in auto
    assert 'APT::Periodic::Update-Package-Lists "1";' in auto
    origins = files[ci.SECURITY_ONLY_PATH]["content"]
    assert "#clear Unattended-Upgrade::Allowed-Origins;" in origins
    assert "#clear Unattended-Upgrade::Origins-Pattern;" in origins
    # Ubuntu's pocket by suite, Debian's by codename (tests/test_boot.py runs Debian's decision).
    assert re.findall(r'^\s*"([^"]+)";', origins, re.MULTILINE) == [
        "${distro_id}:${distro_codename}-security",
        "origin=Debian,codename=${distro_codename}-security,label=Debian-Security",
    ]

    sysctl = dict(ln.split("=", 1) for ln in files[ci.SYSCTL_PATH]["content"].splitlines() if "=" in ln)
    assert sysctl == {"vm.panic_on_oom": "0", "vm.overcommit_memory": "1",
                      "kernel.panic": "10", "kernel.panic_on_oops": "1",
                      "net.ipv4.ip_unprivileged_port_start": "80"}  # fmt: skip


def test_audit_policy(rendered: dict[str, str]) -> None:
    entry = _files(rendered["honeydue-prod-1"])[ci.AUDIT_POLICY_PATH]
    assert entry["permissions"] == "0600"
    policy = yaml.safe_load(entry["content"])
    assert policy["apiVersion"] == "audit.k8s.io/v1" and policy["kind"] == "Policy"
    # The first rule that matches a request for a Secret must not log its body.
    for verb in ("get", "create", "update"):
        for rule in policy["rules"]:
            verbs_ok = verb in rule.get("verbs", [verb])
            resources = rule.get("resources")
            resource_ok = resources is None or any(r["group"] == "" and "secrets" in r["resources"] for r in resources)
            if verbs_ok and resource_ok and "nonResourceURLs" not in rule:
                assert rule["level"] in ("None", "Metadata"), (verb, rule)
                break
        else:
            pytest.fail(f"no audit rule matches {verb} secrets")


def test_runcmd_hardens_then_bootstraps_k3s(real_nodes: list[NodeBootstrap], rendered: dict[str, str]) -> None:
    node = real_nodes[2]
    doc = _parse(rendered[node.hostname])
    bootstrap = f"{ci.BOOTSTRAP_PATH} {K3S_VERSION} {node.private_ip} join {PRIVATE_IPS[0]} {PRIVATE_IPS[1]}"
    assert doc["runcmd"] == [
        'failed=""',
        f'systemctl enable --now {ci.METADATA_GUARD_UNIT} || failed=" metadata-guard"',
        f'{ci.HARDEN_PATH} || failed="$failed harden"',
        'case "$failed" in *metadata-guard*) echo "honeydue: K3s not installed: no metadata guard" >&2 ;; '
        f'*) {bootstrap} || failed="$failed k3s-bootstrap" ;; esac',
        'if [ -n "$failed" ]; then echo "honeydue first boot failed:$failed" >&2; exit 1; fi',
    ]
    files = _files(rendered[node.hostname])
    assert files[ci.BOOTSTRAP_PATH]["permissions"] == "0755"
    script = files[ci.BOOTSTRAP_PATH]["content"]
    # Paths the script reads are the ones the renderer writes.
    for path in (
        ci.SYSCTL_PATH,
        ci.K3S_CONFIG_PATH,
        ci.AUDIT_LOG_PATH.rsplit("/", 2)[0],
    ):
        assert path in script, path
    assert "# " not in script.split("\n", 1)[1]  # comments stripped on the node


def test_rendering_is_deterministic_and_cwd_independent(
    golden_nodes: list[NodeBootstrap], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    first = render_user_data(golden_nodes[0])
    monkeypatch.chdir(tmp_path)
    assert render_user_data(replace(golden_nodes[0])) == first


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"bootstrap": False}, "bootstrap server only"),
        ({"bootstrap": False, "ca_files": (), "peers": ()}, "needs the bootstrap server"),
        ({"peers": ("10.0.1.11",)}, "node itself"),
        ({"peers": ("10.0.1.x",)}, "peer"),
        ({"public_ipv6": "2001:db8:11::"}, "network address"),
        ({"private_ip": "10.0.1"}, "private_ip"),
        ({"admin_user": "root"}, "admin_user"),
        ({"ssh_port": 0}, "ssh_port"),
        ({"k3s_version": "1.34.6"}, "k3s_version"),
        ({"ssh_authorized_keys": ()}, "ssh_authorized_keys"),
        ({"ca_files": (("../escape.key", "-----BEGIN X-----\n"),)}, "ca_files"),
    ],
)
def test_invalid_input_is_rejected(golden_nodes: list[NodeBootstrap], change: dict[str, Any], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        render_user_data(replace(golden_nodes[0], **change))


# -------------------------------------------- the scripts, run for real against stub commands

# Stand-in for every external command a script calls: logs "name args" to $STUB_LOG, and
# plays the part the test sets through STUB_* variables.
_STUB = r"""#!/bin/bash
printf '%s\n' "${0##*/} $*" >> "$STUB_LOG"
case "${0##*/} $*" in
  "ip "*)
    n=$(( $(cat "$STUB_DIR/ip.count" 2>/dev/null || echo 0) + 1 ))
    echo "$n" > "$STUB_DIR/ip.count"
    if [ "$n" -ge "${STUB_IP_UP_AFTER:-1}" ]; then
      echo "3: ${STUB_PRIVATE_IF:-enp7s0}    inet ${*: -1}/32 brd ${*: -1} scope global"
    fi ;;
  "curl "*/cacerts)
    # A peer's /cacerts: served only by the peer named in STUB_CACERTS_PEER.
    case "${*: -1}" in "https://${STUB_CACERTS_PEER:-none}:6443/cacerts") cat "$STUB_CACERTS" ;; *) exit 7 ;; esac ;;
  "curl "*)
    n=$(( $(cat "$STUB_DIR/curl.count" 2>/dev/null || echo 0) + 1 ))
    echo "$n" > "$STUB_DIR/curl.count"
    [ "$n" -le "${STUB_CURL_FAILS:-0}" ] && exit 22
    while [ $# -gt 0 ]; do [ "$1" = -o ] && out=$2; shift; done
    cat > "$out" <<'INSTALLER'
echo "installer VERSION=$INSTALL_K3S_VERSION SKIP_START=$INSTALL_K3S_SKIP_START" \
  "EXEC=$INSTALL_K3S_EXEC" >> "$STUB_LOG"
INSTALLER
    ;;
  "systemctl is-enabled --quiet ssh.socket") exit "${STUB_SOCKET:-0}" ;;
  "sshd -t") exit "${STUB_SSHD_FAIL:-0}" ;;
esac
exit 0
"""


def _run_script(
    tmp_path: Path, content: str, args: list[str], stubs: list[str], env: dict[str, str]
) -> tuple[subprocess.CompletedProcess[str], list[str]]:
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir(exist_ok=True)
    for name in stubs:
        stub = bin_dir / name
        stub.write_text(_STUB)
        stub.chmod(0o755)
    script = tmp_path / "script"
    script.write_text(content)
    script.chmod(script.stat().st_mode | stat.S_IXUSR)
    log = tmp_path / "calls.log"
    log.touch()
    full_env = {
        "PATH": f"{bin_dir}:/usr/bin:/bin",
        "STUB_LOG": str(log),
        "STUB_DIR": str(tmp_path),
        **env,
    }
    proc = subprocess.run(
        [str(script), *args],
        check=False,
        capture_output=True,
        text=True,
        env=full_env,
        timeout=20,
    )
    return proc, log.read_text().splitlines()


def _bootstrap_argv(user_data: str) -> list[str]:
    """The bootstrap command line of a node's runcmd, as cloud-init's shell will split it."""
    import shlex

    (line,) = [ln for ln in _parse(user_data)["runcmd"] if ci.BOOTSTRAP_PATH in ln]
    command = ci.BOOTSTRAP_PATH + line.split(ci.BOOTSTRAP_PATH, 1)[1].split(" || ", 1)[0]
    return shlex.split(command)[1:]


def _bootstrap(tmp_path: Path, user_data: str, **env: str) -> tuple[subprocess.CompletedProcess[str], list[str], Path]:
    """Run a node's bootstrap script, as rendered, with its own args and its rendered K3s config."""
    root = tmp_path / "root"
    (root / "etc/rancher/k3s").mkdir(parents=True)
    (root / "etc/rancher/k3s/config.yaml").write_text(_files(user_data)[ci.K3S_CONFIG_PATH]["content"])
    (root / "var/lib/rancher/k3s/server/tls/etcd").mkdir(parents=True)
    script = _files(user_data)[ci.BOOTSTRAP_PATH]["content"]
    fast = {"HONEYDUE_PROBE_PAUSE_SECONDS": "0", "HONEYDUE_BACKOFF_SECONDS": "1"}
    proc, calls = _run_script(
        tmp_path,
        script,
        _bootstrap_argv(user_data),
        ["ip", "sleep", "sysctl", "curl", "systemctl"],
        {"HONEYDUE_TEST_ROOT": str(root), **fast, **env},
    )
    return proc, calls, root


def _dropin(root: Path, name: str) -> dict[str, Any]:
    path = root / "etc/rancher/k3s/config.yaml.d" / name
    assert stat.S_IMODE(path.stat().st_mode) == 0o600, path
    doc = yaml.safe_load(path.read_text())
    assert isinstance(doc, dict)
    return doc


def test_bootstrap_waits_for_the_private_nic_then_starts_k3s_without_blocking(
    tmp_path: Path, rendered: dict[str, str]
) -> None:
    proc, calls, root = _bootstrap(tmp_path, rendered["honeydue-prod-1"], STUB_IP_UP_AFTER="3", STUB_PRIVATE_IF="ens10")
    assert proc.returncode == 0, proc.stderr
    assert [c for c in calls if c.startswith("ip ")] == [f"ip -o -4 addr show to {PRIVATE_IPS[0]}"] * 3
    # flannel follows the NIC that holds the private IP, whatever its name.
    assert _dropin(root, "10-flannel-iface.yaml") == {"flannel-iface": "ens10"}
    # No peer holds a cluster yet: day one, the bootstrap server initialises etcd.
    assert _dropin(root, "20-join.yaml") == {"cluster-init": True}
    probes = [c for c in calls if c.endswith("/cacerts")]
    assert len(probes) == 4 * 2  # 4 rounds over both peers before it dares to initialise
    rest = [c for c in calls if not c.startswith(("ip ", "sleep ")) and not c.endswith("/cacerts")]
    assert rest == [
        f"sysctl -p {root}/etc/sysctl.d/90-kubelet.conf",
        "curl -fsSL --retry 5 --retry-all-errors --connect-timeout 10 -o "
        + rest[1].split(" -o ", 1)[1].split(" ")[0]
        + f" https://raw.githubusercontent.com/k3s-io/k3s/{K3S_VERSION}/install.sh",
        f"installer VERSION={K3S_VERSION} SKIP_START=true EXEC=server",
        "systemctl enable k3s",
        "systemctl start --no-block k3s",
    ]
    # The overlay and the join decision are in place before K3s is installed.
    assert calls.index(rest[2]) > max(calls.index(p) for p in probes)
    tls = root / "var/lib/rancher/k3s/server"
    assert stat.S_IMODE((tls / "tls").stat().st_mode) == 0o700
    assert stat.S_IMODE((tls / "tls/etcd").stat().st_mode) == 0o700
    assert stat.S_IMODE((tls / "logs").stat().st_mode) == 0o700


def test_a_rebuilt_bootstrap_server_joins_a_healthy_peer(
    tmp_path: Path, real_nodes: list[NodeBootstrap], rendered: dict[str, str]
) -> None:
    """The bootstrap server's own rendered user_data, run on an empty disk while k3s-3 serves
    the cluster's CA bundle (what K3s serves at /cacerts): it joins k3s-3, never cluster-init."""
    bundle = tmp_path / "cacerts"
    bundle.write_text(dict(real_nodes[0].ca_files)["server-ca.crt"])
    proc, calls, root = _bootstrap(
        tmp_path, rendered["honeydue-prod-1"], STUB_CACERTS=str(bundle), STUB_CACERTS_PEER=PRIVATE_IPS[2]
    )
    assert proc.returncode == 0, proc.stderr
    assert _dropin(root, "20-join.yaml") == {"server": f"https://{PRIVATE_IPS[2]}:6443"}
    assert f"peer {PRIVATE_IPS[2]} holds the cluster: joining it" in proc.stderr
    assert "systemctl start --no-block k3s" in calls


def test_a_peer_of_another_cluster_is_not_joined(
    tmp_path: Path, real_nodes: list[NodeBootstrap], rendered: dict[str, str]
) -> None:
    """A peer whose CA is not the token's (another cluster, or an impostor) does not count."""
    other = make_real_nodes()[0]
    bundle = tmp_path / "cacerts"
    bundle.write_text(dict(other.ca_files)["server-ca.crt"])
    proc, _, root = _bootstrap(
        tmp_path, rendered["honeydue-prod-1"], STUB_CACERTS=str(bundle), STUB_CACERTS_PEER=PRIVATE_IPS[1]
    )
    assert proc.returncode == 0, proc.stderr
    assert _dropin(root, "20-join.yaml") == {"cluster-init": True}


def test_a_joiner_joins_any_healthy_peer_or_else_the_bootstrap_server(
    tmp_path: Path, real_nodes: list[NodeBootstrap], rendered: dict[str, str]
) -> None:
    proc, calls, root = _bootstrap(tmp_path / "day-one", rendered["honeydue-prod-2"])
    assert proc.returncode == 0, proc.stderr
    assert _dropin(root, "20-join.yaml") == {"server": f"https://{PRIVATE_IPS[0]}:6443"}
    assert len([c for c in calls if c.endswith("/cacerts")]) == 2  # one round, no waiting

    bundle = tmp_path / "cacerts"
    bundle.write_text(dict(real_nodes[0].ca_files)["server-ca.crt"])
    proc, _, root = _bootstrap(
        tmp_path / "bootstrap-dead",
        rendered["honeydue-prod-2"],
        STUB_CACERTS=str(bundle),
        STUB_CACERTS_PEER=PRIVATE_IPS[2],
    )
    assert proc.returncode == 0, proc.stderr
    assert _dropin(root, "20-join.yaml") == {"server": f"https://{PRIVATE_IPS[2]}:6443"}


def test_bootstrap_gives_up_on_a_missing_private_ip_with_a_clear_error(
    tmp_path: Path, rendered: dict[str, str]
) -> None:
    proc, calls, _ = _bootstrap(
        tmp_path, rendered["honeydue-prod-1"], STUB_IP_UP_AFTER="1000", HONEYDUE_IP_WAIT_SECONDS="10"
    )
    assert proc.returncode != 0
    assert f"private IP {PRIVATE_IPS[0]} is not configured on any interface after 10s" in proc.stderr
    assert len([c for c in calls if c.startswith("ip ")]) == 6
    assert not [c for c in calls if c.startswith(("curl", "systemctl", "installer"))]


def test_bootstrap_retries_the_install_with_backoff(tmp_path: Path, rendered: dict[str, str]) -> None:
    proc, calls, _ = _bootstrap(tmp_path, rendered["honeydue-prod-2"], STUB_CURL_FAILS="2")
    assert proc.returncode == 0, proc.stderr
    assert [c for c in calls if c.startswith("sleep ")] == ["sleep 1", "sleep 2"]
    assert "k3s install attempt 2 failed; retrying in 2s" in proc.stderr
    assert calls[-1] == "systemctl start --no-block k3s"


def test_bootstrap_fails_when_the_installer_never_comes(tmp_path: Path, rendered: dict[str, str]) -> None:
    proc, calls, _ = _bootstrap(
        tmp_path, rendered["honeydue-prod-2"], STUB_CURL_FAILS="99", HONEYDUE_INSTALL_ATTEMPTS="3"
    )
    assert proc.returncode != 0
    assert "install failed 3 times" in proc.stderr
    assert not [c for c in calls if c.startswith(("systemctl", "installer"))]


def _run_runcmd(tmp_path: Path, user_data: str, fail: set[str]) -> tuple[subprocess.CompletedProcess[str], list[str]]:
    """The runcmd script as cloud-init writes it, each step replaced by a stub that may fail."""
    script = "\n".join(_parse(user_data)["runcmd"])
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    for path in (ci.HARDEN_PATH, ci.BOOTSTRAP_PATH, "systemctl"):
        name = Path(path).name
        if path != "systemctl":
            script = script.replace(path, str(bin_dir / name))
        stub = bin_dir / name
        stub.write_text(f"#!/bin/sh\necho {name} >> {tmp_path}/ran\nexit {1 if name in fail else 0}\n")
        stub.chmod(0o755)
    env = {"PATH": f"{bin_dir}:/usr/bin:/bin"}
    proc = subprocess.run(["/bin/sh", "-c", script], capture_output=True, text=True, check=False, env=env)
    return proc, (tmp_path / "ran").read_text().split()


def test_a_failed_hardening_step_does_not_stop_the_k3s_bootstrap(tmp_path: Path, rendered: dict[str, str]) -> None:
    proc, ran = _run_runcmd(tmp_path, rendered["honeydue-prod-2"], {"honeydue-harden"})
    assert ran == ["systemctl", "honeydue-harden", "honeydue-k3s-bootstrap"]
    assert proc.returncode == 1 and "failed: harden" in proc.stderr


def test_a_failed_k3s_bootstrap_still_hardens(tmp_path: Path, rendered: dict[str, str]) -> None:
    proc, ran = _run_runcmd(tmp_path, rendered["honeydue-prod-2"], {"honeydue-k3s-bootstrap"})
    assert ran == ["systemctl", "honeydue-harden", "honeydue-k3s-bootstrap"]
    assert proc.returncode == 1 and "failed: k3s-bootstrap" in proc.stderr


def test_no_k3s_without_the_metadata_guard(tmp_path: Path, rendered: dict[str, str]) -> None:
    """Fail closed: pods must never run on a node where they could read the user_data."""
    proc, ran = _run_runcmd(tmp_path, rendered["honeydue-prod-2"], {"systemctl"})
    assert ran == ["systemctl", "honeydue-harden"]
    assert proc.returncode == 1 and "failed: metadata-guard" in proc.stderr


@pytest.mark.parametrize(
    ("env", "restart"),
    [
        ({"STUB_SOCKET": "0"}, ["systemctl daemon-reload", "systemctl restart ssh.socket",
                                "systemctl try-restart ssh.service"]),
        ({"STUB_SOCKET": "1"}, ["systemctl restart ssh.service"]),
    ],
    ids=["ubuntu-24.04-socket", "debian-13-service"],
)  # fmt: skip
def test_harden_restarts_sshd_and_fail2ban(
    tmp_path: Path, rendered: dict[str, str], env: dict[str, str], restart: list[str]
) -> None:
    script = _files(rendered["honeydue-prod-2"])[ci.HARDEN_PATH]["content"]
    proc, calls = _run_script(tmp_path, script, [], ["install", "sshd", "systemctl"], env)
    assert proc.returncode == 0, proc.stderr
    assert calls == [
        "install -d -m 0755 /run/sshd",
        "sshd -t",
        "systemctl is-enabled --quiet ssh.socket",
        *restart,
        "systemctl enable fail2ban",
        "systemctl restart fail2ban",
    ]


def test_harden_keeps_sshd_running_on_a_bad_config(tmp_path: Path, rendered: dict[str, str]) -> None:
    script = _files(rendered["honeydue-prod-2"])[ci.HARDEN_PATH]["content"]
    proc, calls = _run_script(tmp_path, script, [], ["install", "sshd", "systemctl"], {"STUB_SSHD_FAIL": "1"})
    assert proc.returncode != 0
    assert not [c for c in calls if c.startswith("systemctl")]
