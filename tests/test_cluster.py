"""K3sCluster (components/cluster.py) in the mock runtime: servers, their placement, the CA files
and token they carry, the readiness gate and the kubeconfig.

The firewall has tests/test_firewall.py, the PKI tests/test_pki.py (and tests/test_mock_pki.py)."""

from __future__ import annotations

import base64
import ipaddress
import json
import re
from typing import Any

import yaml
from cryptography import x509
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from tools import mockrt

SERVER = "hcloud:index/server:Server"
SSH_KEY = "hcloud:index/sshKey:SshKey"
GATE = "pulumi-python:dynamic:Resource"
FIREWALL = "hcloud:index/firewall:Firewall"


def servers(plan: mockrt.PlanResult) -> list[mockrt.Registration]:
    """K3s servers in config order: they register when their user_data resolves, in any order.

    Other hosts of the stack (the uptime monitor) are tested in tests/test_monitor.py.
    """
    k3s = [r for r in plan.of_type(SERVER) if r.inputs["labels"]["role"] == "k3s-server"]
    return sorted(k3s, key=lambda r: r.inputs["name"])


def user_data(server: mockrt.Registration) -> dict[str, Any]:
    text = server.inputs["userData"]
    assert text.startswith("#cloud-config\n")
    return yaml.safe_load(text)  # type: ignore[no-any-return]


def written(doc: dict[str, Any], path: str) -> str:
    for f in doc.get("write_files", []):
        if f["path"] == path:
            return f["content"]  # type: ignore[no-any-return]
    raise KeyError(path)


def certs(pem: str) -> list[x509.Certificate]:
    return x509.load_pem_x509_certificates(pem.encode())


def test_server_counts(prod_plan: mockrt.PlanResult, staging_plan: mockrt.PlanResult) -> None:
    assert len(servers(prod_plan)) == 3
    assert len(servers(staging_plan)) == 1


def test_no_server_depends_on_another_server(prod_plan: mockrt.PlanResult) -> None:
    by_urn = prod_plan.by_urn()
    server_urns = {r.urn for r in servers(prod_plan)}

    def closure(urn: str, seen: set[str]) -> set[str]:
        for dep in by_urn[urn].dependencies:
            if dep not in seen and dep in by_urn:
                seen.add(dep)
                closure(dep, seen)
        return seen

    for urn in server_urns:
        assert not (closure(urn, set()) & (server_urns - {urn})), urn


def test_servers_protected_and_never_replaced_by_config(
    prod_plan: mockrt.PlanResult, staging_plan: mockrt.PlanResult
) -> None:
    for server in servers(prod_plan) + servers(staging_plan):
        assert server.options["deleteBeforeReplace"] is True  # same name, private IP, Primary IPs
    for server in servers(prod_plan):
        assert server.options["protect"] is True
        assert server.inputs["deleteProtection"] is True and server.inputs["rebuildProtection"] is True
        assert {"userData", "image", "sshKeys"} <= set(server.options["ignoreChanges"])
    for server in servers(staging_plan):
        assert server.options["protect"] is False
        assert {"userData", "image", "sshKeys"} <= set(server.options["ignoreChanges"])


def test_servers_attached_to_network_and_firewall_with_static_ips(prod_plan: mockrt.PlanResult) -> None:
    ips = [s.inputs["networks"][0]["ip"] for s in servers(prod_plan)]
    assert ips == ["10.0.1.11", "10.0.1.12", "10.0.1.13"]
    for server in servers(prod_plan):
        # the cluster firewall and the CI-access one (rules opened per CI run, always closed)
        assert len(server.inputs["firewallIds"]) == 2 and server.inputs["networks"][0]["networkId"]
        cluster_firewalls = {f.urn for f in prod_plan.of_type(FIREWALL) if f.name in ("fw-firewall", "fw-ci-access")}
        assert len(cluster_firewalls) == 2 and cluster_firewalls <= set(server.dependencies)
        assert server.inputs["placementGroupId"]  # all three share fsn1: spread group


def test_staging_single_location_has_no_placement_group(staging_plan: mockrt.PlanResult) -> None:
    assert not staging_plan.of_type("hcloud:index/placementGroup:PlacementGroup")
    assert "placementGroupId" not in servers(staging_plan)[0].inputs


def test_ca_files_only_on_the_bootstrap_server(prod_plan: mockrt.PlanResult) -> None:
    docs = [user_data(s) for s in servers(prod_plan)]
    tls_paths = [
        {f["path"] for f in d["write_files"] if f["path"].startswith("/var/lib/rancher/k3s/server/tls/")} for d in docs
    ]
    expected = {
        f"/var/lib/rancher/k3s/server/tls/{n}"
        for n in (
            "server-ca.crt",
            "server-ca.key",
            "client-ca.crt",
            "client-ca.key",
            "request-header-ca.crt",
            "request-header-ca.key",
            "etcd/peer-ca.crt",
            "etcd/peer-ca.key",
            "etcd/server-ca.crt",
            "etcd/server-ca.key",
            "service.key",
        )
    }
    assert tls_paths[0] == expected
    assert tls_paths[1] == set() and tls_paths[2] == set()


def _bootstrap_args(doc: dict[str, Any]) -> list[str]:
    path = "/usr/local/sbin/honeydue-k3s-bootstrap "
    (line,) = [ln for ln in doc["runcmd"] if path in ln]
    return line.split(path, 1)[1].split(" || ", 1)[0].split()


def test_bootstrap_server_is_chosen_by_config_and_joiners_name_it_first(prod_plan: mockrt.PlanResult) -> None:
    docs = {s.inputs["name"]: user_data(s) for s in servers(prod_plan)}
    assert _bootstrap_args(docs["honeydue-prod-k3s-1"]) == [
        "v1.34.6+k3s1", "10.0.1.11", "bootstrap", "10.0.1.12", "10.0.1.13",
    ]  # fmt: skip
    assert _bootstrap_args(docs["honeydue-prod-k3s-2"])[1:] == ["10.0.1.12", "join", "10.0.1.11", "10.0.1.13"]
    assert _bootstrap_args(docs["honeydue-prod-k3s-3"])[1:] == ["10.0.1.13", "join", "10.0.1.11", "10.0.1.12"]
    labels = {s.inputs["name"]: s.inputs["labels"]["k3s-bootstrap"] for s in servers(prod_plan)}
    assert labels == {"honeydue-prod-k3s-1": "true", "honeydue-prod-k3s-2": "false", "honeydue-prod-k3s-3": "false"}
    for name, doc in docs.items():
        cfg = yaml.safe_load(written(doc, "/etc/rancher/k3s/config.yaml"))
        assert "cluster-init" not in cfg and "server" not in cfg, name  # decided at boot
        assert cfg["tls-san"][0] == "k8s.myhoneydue.com" and cfg["node-ip"] in cfg["tls-san"]


def test_another_bootstrap_server_moves_the_role_only(prod_plan: mockrt.PlanResult) -> None:
    other = mockrt.run_program("prod", mockrt.stack_config("prod", {"bootstrapServer": "k3s-3"}))
    docs = {s.inputs["name"]: user_data(s) for s in servers(other)}
    assert _bootstrap_args(docs["honeydue-prod-k3s-3"])[2:] == ["bootstrap", "10.0.1.11", "10.0.1.12"]
    assert _bootstrap_args(docs["honeydue-prod-k3s-1"])[2:] == ["join", "10.0.1.13", "10.0.1.12"]
    tls = {n: [f for f in d["write_files"] if "/server/tls/" in f["path"]] for n, d in docs.items()}
    assert tls["honeydue-prod-k3s-3"] and not tls["honeydue-prod-k3s-1"]
    (gate,) = other.of_type(GATE)
    assert gate.inputs["endpoint"] == f"https://{other.outputs['publicIpv4']['k3s-3']}:6443"


def _identity(plan: mockrt.PlanResult) -> dict[str, Any]:
    """Per server: what a change would replace or re-address, keyed by URN. The user_data minus
    key material (the mock PKI makes fresh keys per run) must also be the same."""
    out: dict[str, Any] = {}
    for s in servers(plan):
        doc = user_data(s)
        doc["write_files"] = [f for f in doc["write_files"] if "/server/tls/" not in f["path"]]
        for f in doc["write_files"]:
            if f["path"] == "/etc/rancher/k3s/config.yaml":
                f["content"] = re.sub(r"token: \S+", "token: T", f["content"])
        out[s.urn] = (s.inputs["networks"][0]["ip"], s.inputs["labels"], s.inputs["location"], doc)
    return out


def test_reordering_servers_changes_no_server(prod_plan: mockrt.PlanResult) -> None:
    """Moving the first entry to the end: same URNs, private IPs, roles and user_data."""
    entries = mockrt.stack_config("prod")["servers"]
    moved = mockrt.run_program("prod", mockrt.stack_config("prod", {"servers": [*entries[1:], entries[0]]}))
    assert _identity(moved) == _identity(prod_plan)


def test_removing_a_server_keeps_the_others_identity(prod_plan: mockrt.PlanResult) -> None:
    entries = mockrt.stack_config("prod")["servers"]
    five = [*entries, *({"name": f"k3s-{i}", "location": "fsn1", "privateIp": f"10.0.1.{10 + i}"} for i in (4, 5))]
    before = mockrt.run_program("prod", mockrt.stack_config("prod", {"servers": five}))
    # k3s-2 and k3s-4 go (5 -> 3 keeps a quorum size)
    after = mockrt.run_program("prod", mockrt.stack_config("prod", {"servers": [five[0], five[2], five[4]]}))
    kept = {s.urn: (s.inputs["name"], s.inputs["networks"][0]["ip"], s.inputs["labels"]) for s in servers(after)}
    was = {s.urn: (s.inputs["name"], s.inputs["networks"][0]["ip"], s.inputs["labels"]) for s in servers(before)}
    assert len(kept) == 3 and all(was[urn] == value for urn, value in kept.items())
    ips = {r.urn for r in before.of_type("hcloud:index/primaryIp:PrimaryIp")}
    gone = ("k3s-k3s-2-", "k3s-k3s-4-")
    assert {r.urn for r in after.of_type("hcloud:index/primaryIp:PrimaryIp")} == {
        u for u in ips if not any(g in u for g in gone)
    }


def test_ssh_keys_are_keyed_by_fingerprint() -> None:
    keys = [
        "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAII9EQ8OryL6Oi5Eeoq4ApJh0LTbTkfZJPpw+jDCkotGm a@honeydue",
        "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIHd0ZmFrZWtleWZvcnRlc3RzMDEyMzQ1Njc4 b@honeydue",
    ]
    both = mockrt.run_program("staging", mockrt.stack_config("staging", {"sshPublicKeys": keys}))
    second = mockrt.run_program("staging", mockrt.stack_config("staging", {"sshPublicKeys": keys[1:]}))
    urns = {r.inputs["publicKey"]: r.urn for r in both.of_type(SSH_KEY)}
    assert {r.inputs["publicKey"]: r.urn for r in second.of_type(SSH_KEY)} == {keys[1]: urns[keys[1]]}
    assert len(set(urns.values())) == 2


def test_the_kubernetes_provider_is_gated_by_data_flow(
    prod_plan: mockrt.PlanResult, staging_plan: mockrt.PlanResult
) -> None:
    for plan, protect in ((prod_plan, True), (staging_plan, False)):
        (gate,) = plan.of_type(GATE)
        (provider,) = plan.of_type("pulumi:providers:kubernetes")
        # The kubeconfig is computed from the gate's output: no Kubernetes resource can be
        # sent before the gate has passed, and none is sent when it fails.
        assert gate.urn in provider.dependencies
        kubeconfig = yaml.safe_load(mockrt.unwrap(provider.raw_inputs["kubeconfig"]))
        assert provider.raw_inputs["kubeconfig"][mockrt.SIG_KEY] == mockrt.SECRET_SIG
        # The bootstrap server by IP (in its SANs), not the DNS name another component makes.
        assert kubeconfig["clusters"][0]["cluster"]["server"] == gate.inputs["endpoint"]
        # Provider inputs travel as strings.
        assert provider.inputs["deleteUnreachable"] == json.dumps(not protect)
        assert sorted(gate.inputs["nodes"]) == sorted(s.inputs["name"] for s in servers(plan))


def test_kubeconfig_is_a_secret_admin_client_cert(prod_plan: mockrt.PlanResult) -> None:
    wrapped = prod_plan.outputs["kubeconfig"]
    assert isinstance(wrapped, dict) and wrapped.get(mockrt.SIG_KEY) == mockrt.SECRET_SIG
    doc = yaml.safe_load(mockrt.unwrap(wrapped))
    assert doc["clusters"][0]["cluster"]["server"] == "https://k8s.myhoneydue.com:6443"
    user = doc["users"][0]["user"]
    cert = x509.load_pem_x509_certificate(base64.b64decode(user["client-certificate-data"]))
    assert cert.subject.get_attributes_for_oid(NameOID.ORGANIZATION_NAME)[0].value == "system:masters"
    eku = cert.extensions.get_extension_for_class(x509.ExtendedKeyUsage).value
    assert ExtendedKeyUsageOID.CLIENT_AUTH in eku
    # Signed by the client CA the first server receives.
    client_ca = certs(written(user_data(servers(prod_plan)[0]), "/var/lib/rancher/k3s/server/tls/client-ca.crt"))[0]
    cert.verify_directly_issued_by(client_ca)


def test_private_material_is_secret(prod_plan: mockrt.PlanResult) -> None:
    for server in servers(prod_plan):
        assert server.raw_inputs["userData"][mockrt.SIG_KEY] == mockrt.SECRET_SIG
    ready = prod_plan.of_type("pulumi-python:dynamic:Resource")
    assert len(ready) == 1
    assert ready[0].raw_inputs["keyPem"][mockrt.SIG_KEY] == mockrt.SECRET_SIG
    server_urns = {s.urn for s in servers(prod_plan)}
    assert server_urns <= set(ready[0].dependencies)


def test_user_data_within_budget(prod_plan: mockrt.PlanResult, staging_plan: mockrt.PlanResult) -> None:
    for server in servers(prod_plan) + servers(staging_plan):
        assert len(server.inputs["userData"].encode()) <= 16 * 1024


def test_stack_outputs(prod_plan: mockrt.PlanResult) -> None:
    out = prod_plan.outputs
    assert out["serverNames"] == ["honeydue-prod-k3s-1", "honeydue-prod-k3s-2", "honeydue-prod-k3s-3"]
    assert set(out["publicIpv4"]) == {"k3s-1", "k3s-2", "k3s-3"}
    # the first host of each /64, not its network address
    assert all(ipaddress.ip_address(v).version == 6 and v.endswith("::1") for v in out["publicIpv6"].values())
    assert out["privateIps"] == {"k3s-1": "10.0.1.11", "k3s-2": "10.0.1.12", "k3s-3": "10.0.1.13"}
    assert out["apiEndpoint"] == "https://k8s.myhoneydue.com:6443"


def test_plan_user_data_passes_the_real_cloud_init_schemas(
    prod_plan: mockrt.PlanResult, staging_plan: mockrt.PlanResult, tmp_path: Any
) -> None:
    """The user_data the plan sends (real PKI, real addresses) against cloud-init's own schemas."""
    import subprocess

    from tests.test_cloud_init import _CLOUD_INIT_CHECK, SYSTEM_PYTHON, _check_jsonschema

    paths = []
    for server in servers(prod_plan) + servers(staging_plan):
        path = tmp_path / f"{server.inputs['name']}.yaml"
        path.write_text(server.inputs["userData"])
        paths.append(path)
    strict_25 = _check_jsonschema(*paths)
    assert strict_25.returncode == 0, strict_25.stdout + strict_25.stderr
    strict_22 = subprocess.run(
        [SYSTEM_PYTHON, "-c", _CLOUD_INIT_CHECK, *map(str, paths)], capture_output=True, text=True, check=False
    )
    assert strict_22.returncode == 0, strict_22.stderr
    results = json.loads(strict_22.stdout)
    assert len(results) == 4
    assert all(r["error"] is None for r in results.values()), results
