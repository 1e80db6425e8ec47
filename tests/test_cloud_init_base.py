"""The base every hardened host boots with (components/cloud_init_base.py), with a minimal layer.

The K3s layer on top is tested in tests/test_cloud_init.py (its runcmd run against stub commands,
shellcheck, the boot test), the uptime monitor's in tests/test_monitor.py; here the seam itself:
what a layer may rely on whatever it adds, and the helpers both layers use.
"""

from __future__ import annotations

import base64
import gzip
import subprocess
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest
import yaml

from components import cloud_init_base as base
from tests.test_cloud_init import _CLOUD_INIT_CHECK, SYSTEM_PYTHON, _check_jsonschema

HOST = base.HostBootstrap(
    hostname="honeydue-test-1",
    ssh_port=2222,
    admin_user="ops",
    ssh_authorized_keys=(
        "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAII9EQ8OryL6Oi5Eeoq4ApJh0LTbTkfZJPpw+jDCkotGm a@honeydue",
    ),
)
LAYER = base.Layer(
    what="Role",
    step="role-start",
    command="/usr/local/sbin/role-start",
    settings_files=(base.file_entry("/etc/sysctl.d/90-role.conf", "vm.swappiness = 1\n", "0644"),),
    files=(base.file_entry("/etc/role/config.yaml", "a: 1\n", "0600"),),
    scripts=(base.script_entry("/usr/local/sbin/role-start", "#!/bin/sh\nexit 0\n"),),
    packages=("jq",),
)
BASE_SETTINGS = [base.SSHD_DROPIN_PATH, base.FAIL2BAN_JAIL_PATH, base.AUTO_UPGRADES_PATH, base.SECURITY_ONLY_PATH]
GUARD = [base.METADATA_GUARD_RULES_PATH, base.METADATA_GUARD_UNIT_PATH]


def render(host: base.HostBootstrap = HOST, layer: base.Layer = LAYER) -> dict[str, Any]:
    text = base.render_host_user_data(host, layer)
    assert text.startswith("#cloud-config\n")
    return yaml.safe_load(text)  # type: ignore[no-any-return]


def test_write_files_in_the_order_a_layer_relies_on() -> None:
    """Base settings, the layer's settings, the guard, the layer's files, the hardening script,
    the layer's scripts: the guard's files come after any system setting a layer adds."""
    paths = [f["path"] for f in render()["write_files"]]
    assert paths == [
        *BASE_SETTINGS,
        "/etc/sysctl.d/90-role.conf",
        *GUARD,
        "/etc/role/config.yaml",
        base.HARDEN_PATH,
        "/usr/local/sbin/role-start",
    ]


def test_only_the_admin_user_key_only_and_the_layers_packages_after_the_base() -> None:
    doc = render()
    assert doc["hostname"] == "honeydue-test-1" and doc["disable_root"] is True and doc["ssh_pwauth"] is False
    (user,) = doc["users"]  # no "default" entry: the image's default user is not created
    assert user["name"] == "ops" and user["lock_passwd"] is True
    assert user["ssh_authorized_keys"] == list(HOST.ssh_authorized_keys)
    assert doc["packages"] == ["fail2ban", "python3-systemd", "unattended-upgrades", "nftables", "jq"]
    sshd = {f["path"]: f["content"] for f in doc["write_files"]}[base.SSHD_DROPIN_PATH]
    assert "Port 2222" in sshd.splitlines() and "AllowUsers ops" in sshd.splitlines()


def test_runcmd_guard_first_then_hardening_and_the_layer_only_behind_the_guard() -> None:
    runcmd = render()["runcmd"]
    assert runcmd[1] == f'systemctl enable --now {base.METADATA_GUARD_UNIT} || failed=" metadata-guard"'
    assert runcmd[2].startswith(base.HARDEN_PATH)
    assert '*metadata-guard*) echo "honeydue: Role not installed: no metadata guard"' in runcmd[3]
    assert '*) /usr/local/sbin/role-start || failed="$failed role-start"' in runcmd[3]
    assert runcmd[-1].endswith("exit 1; fi")


def test_the_base_with_a_layer_passes_the_real_cloud_init_schemas(tmp_path: Path) -> None:
    path = tmp_path / "host.yaml"
    path.write_text(base.render_host_user_data(HOST, LAYER))
    strict_25 = _check_jsonschema(path)
    assert strict_25.returncode == 0, strict_25.stdout + strict_25.stderr
    strict_22 = subprocess.run([SYSTEM_PYTHON, "-c", _CLOUD_INIT_CHECK, str(path)], capture_output=True, text=True)
    assert strict_22.returncode == 0, strict_22.stderr
    assert "metadata-guard" in (yaml.safe_load(strict_22.stdout)[str(path)]["runcmd"] or "")
    assert yaml.safe_load(strict_22.stdout)[str(path)]["error"] is None


@pytest.mark.parametrize(
    ("host", "layer", "message"),
    [
        (replace(HOST, hostname="Bad_Name"), LAYER, "hostname 'Bad_Name' is not a DNS label"),
        (replace(HOST, ssh_port=70000), LAYER, "ssh_port 70000 is out of range"),
        (replace(HOST, admin_user="root"), LAYER, "admin_user 'root' is not a valid non-root user name"),
        (replace(HOST, ssh_authorized_keys=()), LAYER, "nobody could log in"),
        (HOST, replace(LAYER, step="Role Start"), "layer step 'Role Start' is not a lower-case word"),
    ],
)
def test_invalid_input_names_the_field(host: base.HostBootstrap, layer: base.Layer, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        base.render_host_user_data(host, layer)


def test_every_problem_is_reported_at_once() -> None:
    bad = replace(HOST, hostname="-x", ssh_port=0, admin_user="root", ssh_authorized_keys=())
    assert len(base.check_host(bad)) == 4 and base.check_host(HOST) == []


def test_over_the_budget_is_refused() -> None:
    big = base.file_entry("/etc/role/big", "x" * base.USER_DATA_BUDGET, "0644")
    with pytest.raises(ValueError, match=f"over the {base.USER_DATA_BUDGET}-byte budget"):
        base.render_host_user_data(HOST, replace(LAYER, files=(big,)))


def test_rendering_is_deterministic() -> None:
    assert base.render_host_user_data(HOST, LAYER) == base.render_host_user_data(HOST, LAYER)


def test_write_files_helpers() -> None:
    assert base.file_entry("/a", "x", "0644") == {"path": "/a", "content": "x"}  # cloud-init's default mode
    assert base.file_entry("/a", "x", "0600")["permissions"] == "0600"
    packed = base.script_entry("/s", "#!/bin/sh\necho hi\n")
    assert (packed["permissions"], packed["encoding"]) == ("0755", "gz+b64")
    assert gzip.decompress(base64.b64decode(packed["content"])).decode() == "#!/bin/sh\necho hi\n"
    assert base64.b64decode(packed["content"])[4:8] == bytes(4)  # gzip's MTIME field: 0, so deterministic


def test_templates_lose_comments_but_keep_shebang_and_shellcheck_directives(tmp_path: Path) -> None:
    (tmp_path / "t.sh").write_text(
        "#!/bin/bash\n# a comment\n  # indented\n# shellcheck disable=SC2086\necho $x # kept\n"
    )
    assert base.read_stripped(tmp_path, "t.sh") == "#!/bin/bash\n# shellcheck disable=SC2086\necho $x # kept\n"
    (tmp_path / "t.conf").write_text("Port $ssh_port\n")
    assert base.fill_template(tmp_path, "t.conf", {"ssh_port": "2222"}) == "Port 2222\n"
    with pytest.raises(KeyError, match="ssh_port"):
        base.fill_template(tmp_path, "t.conf", {})  # a placeholder without a value is a bug


def test_shared_strings_are_written_once_and_read_back_whole() -> None:
    pem = base.SharedStr("-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n")
    text = base.dump_yaml({"a": pem, "b": pem, "c": "plain\nblock\n", "d": "plain\nblock\n"})
    assert text.count("MIIB") == 1 and text.count("plain") == 2  # only SharedStr is aliased
    assert yaml.safe_load(text) == {"a": str(pem), "b": str(pem), "c": "plain\nblock\n", "d": "plain\nblock\n"}
    assert "|" in text  # multi-line strings as literal blocks
