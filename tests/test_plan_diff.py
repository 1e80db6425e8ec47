"""`make plan-diff`: real pairs of trees (base = this checkout, head = one edit) are classified right.

Every plan runs the real program on a copy of this repository in a temporary directory; nothing
is written to the checkout.
"""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml

from tools import plan_diff, replacements

ROOT = Path(__file__).resolve().parent.parent
SHARED_SCHEMAS = ROOT.parent / "shared" / "provider-schemas"


def copy_checkout(dest: Path) -> Path:
    files = (
        subprocess.run(
            ["git", "-C", str(ROOT), "ls-files", "--cached", "--others", "--exclude-standard", "-z"],
            capture_output=True,
            check=True,
        )
        .stdout.decode()
        .split("\0")
    )
    for name in filter(None, files):
        src = ROOT / name
        if src.is_file():
            (dest / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(src, dest / name)
    return dest


def edit_stack(tree: Path, change: Any) -> None:
    path = tree / "Pulumi.prod.yaml"
    doc = yaml.safe_load(path.read_text())
    change(doc["config"])
    path.write_text(yaml.safe_dump(doc, sort_keys=False))


def rename_last_server(cfg: dict[str, Any]) -> None:
    cfg["honeydue:servers"][-1]["name"] = "k3s-9"


def remove_www(cfg: dict[str, Any]) -> None:
    cfg["honeydue:extraHostnames"] = [h for h in cfg["honeydue:extraHostnames"] if not h.startswith("www.")]


def bump_k3s(cfg: dict[str, Any]) -> None:
    # No Helm chart is deployed by this branch yet; the K3s release is the version input that
    # carries the bundled charts (Traefik 39.0.5 with v1.34.6+k3s1), so it stands in for one.
    cfg["honeydue:k3sVersion"] = "v1.34.7+k3s1"


def longer_root_ca(tree: Path) -> None:
    pki = tree / "components" / "pki.py"
    text, n = re.subn(r"^ROOT_VALIDITY_HOURS = .*$", "ROOT_VALIDITY_HOURS = 25 * 365 * 24", pki.read_text(), flags=re.M)
    assert n == 1
    pki.write_text(text)


SCENARIOS = {
    "renamed-server": lambda t: edit_stack(t, rename_last_server),
    "removed-hostname": lambda t: edit_stack(t, remove_www),
    "new-k3s-version": lambda t: edit_stack(t, bump_k3s),
    "longer-ca-validity": longer_root_ca,
}


@pytest.fixture(scope="module")
def base(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict[str, Any]]:
    tree = copy_checkout(tmp_path_factory.mktemp("base"))
    out = tree / "snapshot.json"
    plan_diff._plan_in_child(tree, "prod", out, None)
    return tree, json.loads(out.read_text())


@pytest.fixture(scope="module")
def diffs(base: tuple[Path, dict[str, Any]], tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    tree, old = base
    out = {}
    for name, edit in SCENARIOS.items():
        head = tmp_path_factory.mktemp(name)
        shutil.copytree(tree, head, dirs_exist_ok=True)
        edit(head)
        plan_diff._plan_in_child(head, "prod", head / "snapshot.json", None)
        out[name] = plan_diff.diff(old, json.loads((head / "snapshot.json").read_text()))
    return out


def names(urns: list[str]) -> set[str]:
    return {replacements.parse_urn(u)[2] for u in urns}


def test_renamed_server_deletes_a_server_and_its_addresses(diffs: dict[str, Any]) -> None:
    d = diffs["renamed-server"]
    deleted = {name for op, urn, _ in d.stateful if op == "DELETE" for name in names([urn])}
    assert {"k3s-server-k3s-3", "k3s-k3s-3-ipv4", "k3s-k3s-3-ipv6"} <= deleted
    assert {"k3s-server-k3s-9", "k3s-k3s-9-ipv4"} <= names(d.added)
    # The other servers keep their identity; their user_data changes only inside ignore_changes.
    assert not any("k3s-server-k3s-1" in c.urn for c in d.replaced)
    lines, blocked = plan_diff.report(d, {})
    assert blocked == len(d.stateful) >= 3
    assert lines[1].startswith("!!! ") and "STATEFUL" in lines[1], "stateful changes come first"


def test_removed_hostname_replaces_the_origin_certificate_not_its_key(diffs: dict[str, Any]) -> None:
    d = diffs["removed-hostname"]
    assert d.stateful == []
    # the name's DNS records and, since the app landed, its Ingress (app-ingress-www-...)
    assert names(d.removed) and all("www." in n or "-www-" in n for n in names(d.removed))
    replaced = {replacements.parse_urn(c.urn)[2]: c for c in d.replaced}
    assert "hostnames" in replaced["edge-origin-cert"].replace_because
    assert "dnsNames" in replaced["edge-origin-csr"].replace_because
    assert "edge-origin-key" not in replaced
    assert plan_diff.report(d, {})[1] == 0


def test_new_version_changes_only_what_ignore_changes_drops(diffs: dict[str, Any]) -> None:
    d = diffs["new-k3s-version"]
    assert d.stateful == [] and d.added == [] and d.removed == [] and d.replaced == []
    servers = [c for c in d.ignored_only if c.type == "hcloud:index/server:Server"]
    assert servers and all(c.ignored == ["userData"] for c in servers)
    lines, blocked = plan_diff.report(d, {})
    assert blocked == 0 and "changed but dropped by ignore_changes (no operation):" in lines


def test_changed_ca_validity_replaces_the_cluster_pki(diffs: dict[str, Any]) -> None:
    d = diffs["longer-ca-validity"]
    replaced = {replacements.parse_urn(c.urn)[2]: c for c in d.replaced}
    assert replaced["k3s-pki-root-ca"].replace_because == ["validityPeriodHours"]
    # The intermediates follow: their CA certificate input comes from the replaced root.
    assert any(r.startswith("caCertPem") for r in replaced["k3s-pki-server-ca"].replace_because)
    stateful = names([urn for op, urn, _ in d.stateful if op == "REPLACE"])
    assert {"k3s-pki-root-ca", "k3s-pki-server-ca", "k3s-pki-client-ca"} <= stateful
    assert "k3s-pki-root-ca-key" not in stateful and "k3s-pki-token-secret" not in stateful
    assert "k3s-pki-admin" in replaced and "k3s-pki-admin" not in stateful  # the admin cert may rotate
    root = next(urn for _, urn, _ in d.stateful if urn.endswith("::k3s-pki-root-ca"))
    allow = {u: replacements.AllowEntry(u, "rotating the CA on purpose", 1) for _, u, _ in d.stateful}
    lines, blocked = plan_diff.report(d, allow)
    assert blocked == 0 and any("rotating the CA on purpose" in line for line in lines)
    del allow[root]
    assert plan_diff.report(d, allow)[1] == 1


def test_no_secret_value_is_printed(diffs: dict[str, Any], base: tuple[Path, dict[str, Any]]) -> None:
    text = "\n".join(line for d in diffs.values() for line in plan_diff.report(d, {})[0])
    assert "[PEM]" in text  # certificates changed by the CA scenario are named, not dumped
    assert "PRIVATE KEY" not in text and "plan-placeholder-" not in text
    # No secret (the placeholders' digests aside) reaches the snapshot either.
    snapshot = json.dumps(base[1])
    assert "plan-placeholder-" not in snapshot and "PRIVATE KEY" not in snapshot
    secret = {plan_diff.SECRET: "digest-a"}
    assert plan_diff._value_change(secret, {plan_diff.SECRET: "digest-b"}) == "[secret] changed"
    assert plan_diff._value_change("x", "-----BEGIN EC PRIVATE KEY-----\n...") == "x -> [redacted]"


def test_plan_diff_cli_end_to_end_on_a_git_repository(tmp_path: Path) -> None:
    """Through git: BASE=HEAD, working tree with a renamed server; the allow file covers
    all but one deletion, so the run fails naming the one left, loudly, before anything else."""
    repo = copy_checkout(tmp_path / "repo")
    git = ["git", "-C", str(repo), "-c", "user.name=t", "-c", "user.email=t@example.invalid"]
    subprocess.run([*git, "init", "-q"], check=True)
    subprocess.run([*git, "add", "-A"], check=True)
    subprocess.run([*git, "commit", "-qm", "base"], check=True)
    edit_stack(repo, rename_last_server)
    allow = tmp_path / "allow"
    urn = "urn:pulumi:prod::honeydue::honeydue:cluster:K3sCluster$hcloud:index/primaryIp:PrimaryIp::k3s-k3s-3-ipv{}"
    allow.write_text(f"# test\n{urn.format(4)} renaming k3s-3\n{urn.format(6)} renaming k3s-3\n")
    proc = subprocess.run(
        [
            sys.executable,
            "tools/plan_diff.py",
            "--base",
            "HEAD",
            "--tree",
            str(repo),
            "--stack",
            "prod",
            "--allow",
            str(allow),
        ],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=900,
    )
    assert proc.returncode == 1, proc.stdout[-3000:] + proc.stderr[-3000:]
    out = proc.stdout.splitlines()
    assert out[1] == "== stack prod" and out[2].startswith("!!! ")
    assert "allowed by allow:2: renaming k3s-3" in proc.stdout
    assert "NOT in allow: refused" in proc.stdout and "k3s-server-k3s-3" in proc.stdout
    assert out[-1] == "plan-diff: FAIL: 1 stateful deletion(s)/replacement(s) not listed in allow"


def test_allow_file_needs_a_reason_per_line(tmp_path: Path) -> None:
    bad = tmp_path / "a"
    bad.write_text("urn:pulumi:prod::honeydue::hcloud:index/server:Server::s\n")
    with pytest.raises(replacements.AllowFileError, match="no reason"):
        replacements.load_allow(bad)
    bad.write_text("not-a-urn because\n")
    with pytest.raises(replacements.AllowFileError, match="not a Pulumi URN"):
        replacements.load_allow(bad)
    assert replacements.load_allow(ROOT / "replacements.allow") == {}  # the committed file parses


def test_stateful_classification() -> None:
    pki = "urn:pulumi:prod::honeydue::honeydue:pki:ClusterPki$tls:index/{}::{}"
    assert replacements.stateful_reason(pki.format("privateKey:PrivateKey", "k3s-pki-root-ca-key"))
    assert replacements.stateful_reason(pki.format("privateKey:PrivateKey", "k3s-pki-admin-key")) is None
    edge = "urn:pulumi:prod::honeydue::honeydue:edge:CloudflareEdge${}::{}"
    assert replacements.stateful_reason(edge.format("tls:index/privateKey:PrivateKey", "edge-origin-key"))
    assert (
        replacements.stateful_reason(edge.format("tls:index/privateKey:PrivateKey", "edge-origin-pull-ca-key")) is None
    )
    assert replacements.stateful_reason(edge.format("cloudflare:index/zoneSetting:ZoneSetting", "edge-setting-ssl"))
    assert replacements.stateful_reason(edge.format("cloudflare:index/dnsRecord:DnsRecord", "edge-dns-x")) is None
    k8s = "urn:pulumi:prod::honeydue::honeydue:app:App${}::x"
    assert replacements.stateful_reason(k8s.format("kubernetes:core/v1:PersistentVolumeClaim"))
    assert replacements.stateful_reason(k8s.format("kubernetes:apps/v1:StatefulSet"))
    assert replacements.stateful_reason(k8s.format("kubernetes:apps/v1:Deployment")) is None


def test_replace_rules_for_kubernetes_and_helm() -> None:
    assert replacements.replacing_paths("kubernetes:apps/v1:StatefulSet", ["spec.replicas", "spec.serviceName"]) == [
        "spec.serviceName"
    ]
    pvc = "kubernetes:core/v1:PersistentVolumeClaim"
    assert replacements.replacing_paths(pvc, ["spec.resources.requests.storage"]) == []  # grows in place
    assert replacements.replacing_paths(pvc, ["spec.storageClassName"]) == ["spec.storageClassName"]
    pod = "kubernetes:core/v1:Pod"
    assert replacements.replacing_paths(pod, ["spec.containers[1].image", "metadata.labels.a"]) == [
        "spec.containers[1].image"
    ]
    assert replacements.replacing_paths("kubernetes:apps/v1:Deployment", ["metadata.name", "spec.template"]) == [
        "metadata.name"
    ]
    # A chart's version is an in-place upgrade; its name is a new release.
    assert replacements.replacing_paths("kubernetes:helm.sh/v3:Release", ["version", "values.x"]) == []
    assert replacements.replacing_paths("kubernetes:helm.sh/v3:Release", ["name"]) == ["name"]
    # The program's own replace_on_changes option counts too.
    assert replacements.replacing_paths("hcloud:index/firewall:Firewall", ["rules[0].port"], ["rules"]) == [
        "rules[0].port"
    ]


@pytest.mark.skipif(not SHARED_SCHEMAS.is_dir(), reason="../shared/provider-schemas is not beside this checkout")
def test_hcloud_replace_table_matches_the_provider_schema() -> None:
    schema = json.loads((SHARED_SCHEMAS / "hcloud-1.43.3.json").read_text())
    flagged: dict[str, frozenset[str]] = {}
    for typ, resource in schema["resources"].items():
        props = resource.get("inputProperties") or resource.get("properties") or {}
        keys = frozenset(k for k, v in props.items() if isinstance(v, dict) and v.get("willReplaceOnChanges"))
        if keys:
            flagged[typ] = keys
    ours = {t: k for t, k in replacements.REPLACE_ON_CHANGES.items() if t.startswith("hcloud:")}
    assert ours == flagged


def test_make_plan_diff_needs_a_base() -> None:
    proc = subprocess.run(["make", "--no-print-directory", "plan-diff"], cwd=ROOT, capture_output=True, text=True)
    assert proc.returncode != 0 and "usage: make plan-diff BASE=<git ref>" in proc.stdout + proc.stderr


def test_a_stack_new_in_the_working_tree_is_all_added(base: tuple[Path, dict[str, Any]], tmp_path: Path) -> None:
    """A stack file the base lacks is an empty stack there: everything added, nothing refused."""
    d = plan_diff.diff({"stack": "prod", "resources": {}}, base[1])
    assert len(d.added) == len(base[1]["resources"]) and d.stateful == [] and d.removed == []
    gone = plan_diff.diff(base[1], {"stack": "prod", "resources": {}})
    assert {op for op, _, _ in gone.stateful} == {"DELETE"} and plan_diff.report(gone, {})[1] == len(gone.stateful)


def test_values_print_as_the_program_wrote_them() -> None:
    """The mock runtime turns numbers into floats; the report shows 3, not 3.0."""
    assert plan_diff._value_change([48202605.0], [48202605.0, 16.0]) == "[48202605] -> [48202605, 16]"
    assert plan_diff._value_change(plan_diff.ABSENT, True) == "(absent) -> true"
    assert plan_diff._value_change("a" * 300, "b").endswith("... -> b")
