"""ClusterPlatform: pure renderers under the real validators, and the real program under mocks.

Validators: check-jsonschema against the upstream CRD and chart schemas in ../shared/crd-schemas
(strict: closed objects), kubernetes-validate -k 1.34 --strict for built-in kinds. Charts without
a values.schema.json are checked key path by key path against their default values.yaml, so a
typo'd key fails here too.
"""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any

import pytest
import yaml

from components import platform_render as render
from components.config import ConfigError, RebootWindow, load_config, memory_bytes
from components.config.platform import DEFAULT_CHARTS
from components.firewall import canonical_cidrs
from components.platform import COSIGN_PUBLIC_KEY, read_cosign_public_key
from tools import mockrt

ROOT = Path(__file__).resolve().parent.parent
SHARED = ROOT.parent / "shared" / "crd-schemas"
CHART_VALUES = SHARED / "chart-values"
needs_shared = pytest.mark.skipif(
    not (SHARED / "index.json").exists(), reason=f"{SHARED} is absent: the upstream CRD and chart schemas live there"
)
BIN = Path(sys.executable).parent
CF_RANGES = ["173.245.48.0/20", "2400:cb00::/32"]
WINDOW = RebootWindow.of({"days": ["mo", "fr"], "start": "02:00", "end": "05:00", "timeZone": "Europe/Berlin"})
PEM_KEY = read_cosign_public_key()


# --------------------------------------------------------------------------------------------
# Validator helpers
# --------------------------------------------------------------------------------------------


def _write(tmp: Path, docs: Sequence[Mapping[str, Any]], stem: str) -> list[Path]:
    paths = []
    for i, doc in enumerate(docs):
        path = tmp / f"{stem}-{i}.json"
        path.write_text(json.dumps(doc))
        paths.append(path)
    return paths


def check_jsonschema(schema: Path, docs: Sequence[Mapping[str, Any]], tmp: Path) -> subprocess.CompletedProcess[str]:
    files = _write(tmp, docs, schema.stem)
    return subprocess.run(
        [sys.executable, "-m", "check_jsonschema", "--schemafile", str(schema), *map(str, files)],
        capture_output=True,
        text=True,
        timeout=120,
    )


def kubernetes_validate(docs: Sequence[Mapping[str, Any]], tmp: Path) -> subprocess.CompletedProcess[str]:
    files = _write(tmp, docs, "core")
    return subprocess.run(
        [str(BIN / "kubernetes-validate"), "-k", "1.34", "--strict", *map(str, files)],
        capture_output=True,
        text=True,
        timeout=120,
    )


def crd_schema(doc: Mapping[str, Any]) -> Path:
    index = json.loads((SHARED / "index.json").read_text())
    return SHARED / index[f"{doc['apiVersion']}/{doc['kind']}"]["file"]


def validate_custom_resources(docs: Sequence[Mapping[str, Any]], tmp: Path) -> None:
    by_schema: dict[Path, list[Mapping[str, Any]]] = {}
    for doc in docs:
        by_schema.setdefault(crd_schema(doc), []).append(doc)
    for schema, group in by_schema.items():
        proc = check_jsonschema(schema, group, tmp)
        assert proc.returncode == 0, f"{schema.name}: {proc.stdout}{proc.stderr}"


def leaf_paths(values: Any, prefix: tuple[str, ...] = ()) -> Iterator[tuple[str, ...]]:
    if isinstance(values, dict) and values:
        for key, value in values.items():
            yield from leaf_paths(value, (*prefix, str(key)))
    else:
        yield prefix


def missing_paths(values: Mapping[str, Any], defaults: Mapping[str, Any], free_form: set[str]) -> list[str]:
    """Key paths of `values` that the chart's default values.yaml does not have.

    A path is accepted once it reaches a default that is an empty map or a list (free-form by
    design, e.g. `resources: {}`), or a map named in `free_form` (documented open maps such as
    the CCM's `env`).
    """
    missing = []
    for path in leaf_paths(values):
        node: Any = defaults
        for depth, key in enumerate(path):
            dotted = ".".join(path[:depth])
            if dotted in free_form or (isinstance(node, dict) and not node) or isinstance(node, list):
                break
            if not isinstance(node, dict) or key not in node:
                missing.append(".".join(path))
                break
            node = node[key]
    return missing


def chart_defaults(name: str) -> dict[str, Any]:
    # tests/data holds the defaults of charts that ../shared does not carry (fluent-bit).
    candidates = sorted((CHART_VALUES / "values").glob(f"{name}.values*.yaml"))
    candidates += sorted((ROOT / "tests" / "data" / "chart-values").glob(f"{name}.values*.yaml"))
    assert candidates, name
    loaded: dict[str, Any] = yaml.safe_load(candidates[0].read_text())
    return loaded


def all_rendered_values(node_count: int = 3) -> dict[str, dict[str, Any]]:
    """Every values object the platform renders, keyed by the chart's values file stem."""
    return {
        "hcloud-cloud-controller-manager-1.35.0": render.ccm_values("10.42.0.0/16"),
        "hcloud-csi-2.22.1": render.csi_values("Retain"),
        "traefik-39.0.5": render.traefik_values(CF_RANGES),
        "kyverno-3.9.0": render.kyverno_values(node_count),
        "kured-6.1.0": render.kured_values(WINDOW),
        "kube-prometheus-stack-88.5.3": render.prometheus_stack_values(),
        "loki-18.11.0": render.loki_values(168, "10Gi"),
        "fluent-bit-0.58.1": render.fluent_bit_values(),
    }


# Open maps by design (documented in the chart's values.yaml).
FREE_FORM = {"hcloud-cloud-controller-manager-1.35.0": {"env"}}


def all_manifests() -> list[dict[str, Any]]:
    docs = [
        render.namespace("kyverno"),
        render.namespace("system-upgrade", privileged=True),
        *render.network_policies("kyverno", ["10.0.0.0/16", "10.42.0.0/16"]),
        render.opaque_secret("hcloud", "kube-system", {"token": "t", "network": "123"}),
        render.tls_secret("origin-cert", "kube-system", "CERT", "KEY"),
        render.opaque_secret(
            "registry-credentials",
            "kyverno",
            {".dockerconfigjson": render.dockerconfigjson("r.example", "u", "p")},
            "kubernetes.io/dockerconfigjson",
        ),
        render.helm_chart_config("traefik", render.traefik_values(CF_RANGES)),
        render.tls_store(),
        render.tls_option(require_origin_pull=True),
        render.tls_option(require_origin_pull=False),
        *render.middlewares(100, 200),
        render.image_policy(PEM_KEY, ["gitea.treytartt.com"], "registry-credentials"),
        render.image_policy(PEM_KEY, ["gitea.treytartt.com", "ghcr.io"], None),
        render.server_plan("v1.34.6+k3s1", "docker.io/rancher/k3s-upgrade"),
    ]
    return docs


def is_core(doc: Mapping[str, Any]) -> bool:
    """A built-in kind (kubernetes-validate knows it): the core group, a dot-less group (apps,
    batch, policy, autoscaling) or a *.k8s.io group; anything else is a custom resource."""
    group = doc["apiVersion"].rpartition("/")[0]
    return group == "" or "." not in group or group.endswith(".k8s.io")


# --------------------------------------------------------------------------------------------
# Pure renderers under the real validators
# --------------------------------------------------------------------------------------------


@needs_shared
def test_custom_resources_validate_against_upstream_crds(tmp_path: Path) -> None:
    validate_custom_resources([d for d in all_manifests() if not is_core(d)], tmp_path)


@needs_shared
def test_validator_rejects_a_typo_in_a_custom_resource(tmp_path: Path) -> None:
    """The CRD schemas are strict: a misspelled field fails (so the passing test means something)."""
    bad = render.tls_option(require_origin_pull=True)
    bad["spec"]["clientAuth"]["clientAuthTyp"] = bad["spec"]["clientAuth"].pop("clientAuthType")
    proc = check_jsonschema(crd_schema(bad), [bad], tmp_path)
    assert proc.returncode != 0 and "clientAuthTyp" in proc.stdout


@needs_shared
def test_helm_chart_config_has_no_spec_values(tmp_path: Path) -> None:
    """helm-controller v0.16.17 knows only valuesContent: spec.values would be rejected by K3s."""
    doc = render.helm_chart_config("traefik", {"a": 1})
    bad = {**doc, "spec": {"values": {"a": 1}}}
    assert check_jsonschema(crd_schema(doc), [doc], tmp_path).returncode == 0
    assert check_jsonschema(crd_schema(bad), [bad], tmp_path).returncode != 0


def test_built_in_kinds_pass_kubernetes_validate(tmp_path: Path) -> None:
    docs = [d for d in all_manifests() if is_core(d)]
    assert {d["kind"] for d in docs} == {"Namespace", "NetworkPolicy", "Secret"}
    proc = kubernetes_validate(docs, tmp_path)
    assert proc.returncode == 0, proc.stdout + proc.stderr


def test_kubernetes_validate_rejects_a_typo(tmp_path: Path) -> None:
    bad = render.network_policies("x", ["10.0.0.0/16"])[0]
    bad["spec"]["podSelectr"] = bad["spec"].pop("podSelector")
    proc = kubernetes_validate([bad], tmp_path)
    assert proc.returncode != 0, proc.stdout


@needs_shared
@pytest.mark.parametrize("chart", ["hcloud-csi-2.22.1", "traefik-39.0.5", "loki-18.11.0"])
def test_values_validate_against_the_chart_schema(chart: str, tmp_path: Path) -> None:
    values = all_rendered_values()[chart]
    proc = check_jsonschema(CHART_VALUES / f"{chart}.schema.json", [values], tmp_path)
    assert proc.returncode == 0, proc.stdout + proc.stderr


@needs_shared
def test_traefik_schema_rejects_a_typo(tmp_path: Path) -> None:
    values = render.traefik_values(CF_RANGES)
    values["hostNetwrok"] = values.pop("hostNetwork")
    proc = check_jsonschema(CHART_VALUES / "traefik-39.0.5.schema.json", [values], tmp_path)
    assert proc.returncode != 0


@needs_shared
@pytest.mark.parametrize(
    "chart",
    [
        "hcloud-cloud-controller-manager-1.35.0",
        "kyverno-3.9.0",
        "kured-6.1.0",
        "kube-prometheus-stack-88.5.3",
        "fluent-bit-0.58.1",
    ],
)
def test_values_key_paths_exist_in_chart_defaults(chart: str) -> None:
    """These charts ship no values.schema.json: every key path we set must exist upstream."""
    values = all_rendered_values()[chart]
    assert missing_paths(values, chart_defaults(chart), FREE_FORM.get(chart, set())) == []


@needs_shared
def test_key_path_check_catches_a_typo() -> None:
    defaults = chart_defaults("hcloud-cloud-controller-manager-1.35.0")
    values = render.ccm_values("10.42.0.0/16")
    values["networking"]["clusterCidr"] = values["networking"].pop("clusterCIDR")
    assert missing_paths(values, defaults, {"env"}) == ["networking.clusterCidr"]


def test_traefik_values_daemonset_host_network_no_load_balancer() -> None:
    values = render.traefik_values(CF_RANGES)
    assert values["deployment"]["kind"] == "DaemonSet" and values["hostNetwork"] is True
    assert values["service"] == {"enabled": False}
    for entrypoint, port in (("web", 80), ("websecure", 443)):
        assert values["ports"][entrypoint]["port"] == port
        assert values["ports"][entrypoint]["forwardedHeaders"]["trustedIPs"] == CF_RANGES
    assert values["ports"]["web"]["http"]["redirections"]["entryPoint"]["to"] == "websecure"
    caps = values["securityContext"]["capabilities"]
    assert caps == {"drop": ["ALL"]}
    # Not root: root on a node may read the metadata service (metadata-guard.nft); the nodes
    # make 80/443 bindable without it (net.ipv4.ip_unprivileged_port_start=80).
    pod = values["podSecurityContext"]
    assert pod["runAsNonRoot"] is True and pod["runAsUser"] == 65532 != 0
    assert (
        "privileged" not in values["securityContext"] and values["securityContext"]["allowPrivilegeEscalation"] is False
    )
    assert values["logs"]["access"]["enabled"] is True


def test_tls_option_requires_client_cert_only_when_asked() -> None:
    strict = render.tls_option(require_origin_pull=True)["spec"]
    assert strict["minVersion"] == "VersionTLS12"
    assert strict["clientAuth"] == {"secretNames": ["origin-pull-ca"], "clientAuthType": "RequireAndVerifyClientCert"}
    assert "clientAuth" not in render.tls_option(require_origin_pull=False)["spec"]


def test_middlewares_headers_and_rate_limit() -> None:
    headers, limit = render.middlewares(50, 80)
    h = headers["spec"]["headers"]
    assert h["stsSeconds"] > 0 and h["contentTypeNosniff"] and h["frameDeny"] and h["referrerPolicy"]
    assert "default-src 'self'" in h["contentSecurityPolicy"]
    assert "fonts.googleapis.com" in h["contentSecurityPolicy"] and "fonts.gstatic.com" in h["contentSecurityPolicy"]
    assert limit["spec"]["rateLimit"]["sourceCriterion"] == {"requestHeaderName": "CF-Connecting-IP"}
    assert (limit["spec"]["rateLimit"]["average"], limit["spec"]["rateLimit"]["burst"]) == (50, 80)


def test_network_policies_never_allow_the_metadata_service() -> None:
    from policies.guardrails import netpol
    from policies.guardrails._base import Resource

    for doc in render.network_policies("monitoring", ["10.0.0.0/16"]):
        resource = Resource(
            type_="kubernetes:networking.k8s.io/v1:NetworkPolicy",
            name=doc["metadata"]["name"],
            urn="u",
            props=doc,
            config={"metadataAddresses": ["169.254.169.254"]},
        )
        assert netpol._metadata(resource) == []
    egress = render.network_policies("monitoring", ["10.0.0.0/16"])[1]["spec"]["egress"][0]["to"]
    assert {"ipBlock": {"cidr": "0.0.0.0/0", "except": ["169.254.169.254/32"]}} in egress
    assert render.network_policies("x", [])[0]["spec"] == {"podSelector": {}, "policyTypes": ["Ingress", "Egress"]}


def test_image_policy_denies_unsigned_images_with_the_pack_key() -> None:
    spec = render.image_policy(PEM_KEY, ["gitea.treytartt.com"], "registry-credentials")["spec"]
    assert spec["validationActions"] == ["Deny"] and spec["failurePolicy"] == "Fail"
    assert spec["validationConfigurations"] == {"mutateDigest": True, "verifyDigest": True, "required": True}
    assert spec["attestors"][0]["cosign"]["key"]["data"] == COSIGN_PUBLIC_KEY.read_text()
    assert spec["matchImageReferences"] == [{"glob": "gitea.treytartt.com/*"}]
    assert spec["credentials"] == {"secrets": ["registry-credentials"]}
    excluded = spec["matchConstraints"]["namespaceSelector"]["matchExpressions"][0]
    assert excluded["operator"] == "NotIn" and "kube-system" in excluded["values"]


def test_cosign_key_is_the_pack_key() -> None:
    """One key: the pack's configs embed the same bytes as policies/cosign.pub."""
    for stack in ("prod", "staging"):
        pack = json.loads((ROOT / "policies" / f"config.{stack}.json").read_text())
        assert pack["container-images-signed"]["publicKey"] == PEM_KEY


def test_read_cosign_public_key_refuses_a_private_key(tmp_path: Path) -> None:
    path = tmp_path / "k"
    path.write_text("-----BEGIN ENCRYPTED SIGSTORE PRIVATE KEY-----\n")
    with pytest.raises(ValueError, match="public key"):
        read_cosign_public_key(path)


def test_server_plan_follows_k3s_version() -> None:
    spec = render.server_plan("v1.34.7+k3s1", "docker.io/rancher/k3s-upgrade")["spec"]
    assert spec["version"] == "v1.34.7+k3s1" and spec["concurrency"] == 1
    assert spec["cordon"] is True and spec["drain"]["force"] is True


def test_kyverno_admission_replicas_follow_node_count() -> None:
    assert render.kyverno_values(3)["admissionController"]["replicas"] == 3
    assert render.kyverno_values(1)["admissionController"]["replicas"] == 1


def test_memory_budget_matches_the_values() -> None:
    """The budget lines read the same requests the values set; the note quotes their total."""
    mem = {line.what: line.memory_mi for line in render.memory_budget(3, monitoring=True)}

    def mi(quantity: str) -> int:
        return int(memory_bytes(quantity) / 2**20)

    assert mem["traefik (DaemonSet)"] == mi(render.traefik_values([])["resources"]["requests"]["memory"])
    kyv = render.kyverno_values(3)
    assert mem["kyverno admission"] == mi(kyv["admissionController"]["container"]["resources"]["requests"]["memory"])
    prom = render.prometheus_stack_values()["prometheus"]["prometheusSpec"]
    assert mem["prometheus"] == mi(prom["resources"]["requests"]["memory"])
    loki = render.loki_values(168, "10Gi")["singleBinary"]
    assert mem["loki (single binary)"] == mi(loki["resources"]["requests"]["memory"])
    total = sum(line.replicas * line.memory_mi for line in render.memory_budget(3, monitoring=True))
    # 3 x cx33 = 24 GiB; the platform's explicit requests must leave most of it to the app.
    assert total < 4 * 1024, total


def test_vendored_upgrade_controller_chart_matches_its_pin() -> None:
    chart_dir = ROOT / DEFAULT_CHARTS["systemUpgradeController"]["chart"]
    chart = yaml.safe_load((chart_dir / "Chart.yaml").read_text())
    assert chart["version"] == DEFAULT_CHARTS["systemUpgradeController"]["version"]
    defaults = yaml.safe_load((chart_dir / "values.yaml").read_text())
    values = render.upgrade_controller_values("a/b:v1", "c/d:v2")
    assert set(values) == set(defaults)
    templates = "".join(p.read_text() for p in (chart_dir / "templates").glob("*.yaml"))
    assert "{{ .Values.image | quote }}" in templates and "{{ .Values.kubectlImage | quote }}" in templates
    assert "kind: Namespace" not in templates  # the component owns the namespace and its policies


# --------------------------------------------------------------------------------------------
# Config
# --------------------------------------------------------------------------------------------


def test_platform_config_defaults_pin_every_chart() -> None:
    cfg = load_config(mockrt.stack_config("prod"))
    assert {k: v.version for k, v in cfg.platform.charts.items()} == {
        "hcloudCcm": "1.35.0",
        "hcloudCsi": "2.22.1",
        "kyverno": "3.9.0",
        "kured": "6.1.0",
        "systemUpgradeController": "0.20.1",
        "kubePrometheusStack": "88.5.3",
        "loki": "18.11.0",
        "fluentBit": "0.58.1",
    }
    p = cfg.platform
    assert p.ccm and p.csi and p.kyverno and p.upgrades and p.kured and p.monitoring
    assert p.csi_reclaim_policy == "Retain"
    staging = load_config(mockrt.stack_config("staging")).platform
    assert staging.monitoring is False and staging.csi_reclaim_policy == "Delete"


def test_platform_chart_override_merges_per_field() -> None:
    cfg = load_config(mockrt.stack_config("prod", {"platformCharts": {"kyverno": {"version": "3.9.1"}}}))
    assert cfg.platform.charts["kyverno"].version == "3.9.1"
    assert cfg.platform.charts["kyverno"].repository == "https://kyverno.github.io/kyverno/"
    assert cfg.platform.charts["loki"].version == "18.11.0"


@pytest.mark.parametrize(
    ("override", "key"),
    [
        ({"csiReclaimPolicy": "Keep"}, "honeydue:csiReclaimPolicy"),
        ({"platformCharts": {"kyverno": {"version": "^3.9"}}}, "honeydue:platformCharts.kyverno.version"),
        ({"platformCharts": {"kyvern": {"version": "3.9.0"}}}, "did you mean 'kyverno'"),
        ({"signedRegistries": ["ghcr.io"]}, "honeydue:signedRegistries[0]"),
        ({"signedRegistries": []}, "honeydue:signedRegistries"),
        (
            {"kuredRebootWindow": {"days": ["xx"], "start": "2am", "end": "05:00", "timeZone": "UTC"}},
            "kuredRebootWindow.days",
        ),
        (
            {"kuredRebootWindow": {"days": ["mo"], "start": "2am", "end": "05:00", "timeZone": "UTC"}},
            "kuredRebootWindow.start",
        ),
        ({"lokiStorageSize": "5Gi"}, "honeydue:lokiStorageSize"),
        ({"ingressRateLimitBurst": 10}, "honeydue:ingressRateLimitBurst"),
        ({"platformImages": {"kubectl": "rancher/kubectl:latest"}}, "honeydue:platformImages.kubectl"),
        ({"registryPassword": None}, "honeydue:registryPassword"),
    ],
)
def test_bad_platform_config_names_the_key(override: dict[str, Any], key: str) -> None:
    with pytest.raises(ConfigError) as info:
        load_config(mockrt.stack_config("prod", override))
    assert key in str(info.value)


# --------------------------------------------------------------------------------------------
# The real program under mocks
# --------------------------------------------------------------------------------------------

RELEASES = {
    "hcloud-cloud-controller-manager": "1.35.0",
    "hcloud-csi": "2.22.1",
    "kyverno": "3.9.0",
    "kured": "6.1.0",
    "system-upgrade-controller": "0.20.1",
    "kube-prometheus-stack": "88.5.3",
    "loki": "18.11.0",
    "fluent-bit": "0.58.1",
}
RELEASE_TYPE = "kubernetes:helm.sh/v3:Release"


def releases(plan: mockrt.PlanResult) -> dict[str, dict[str, Any]]:
    return {r.inputs["name"]: r.inputs for r in plan.of_type(RELEASE_TYPE)}


def one(plan: mockrt.PlanResult, typ: str) -> dict[str, Any]:
    found = plan.of_type(typ)
    assert len(found) == 1, [r.name for r in found]
    return found[0].inputs


def test_prod_has_every_add_on_pinned(prod_plan: mockrt.PlanResult) -> None:
    got = releases(prod_plan)
    assert {name: r["version"] for name, r in got.items()} == RELEASES
    assert got["hcloud-cloud-controller-manager"]["repositoryOpts"]["repo"] == "https://charts.hetzner.cloud"
    assert got["kyverno"]["values"]["admissionController"]["replicas"] == 3
    assert got["hcloud-csi"]["values"]["storageClasses"][0]["reclaimPolicy"] == "Retain"
    assert got["hcloud-cloud-controller-manager"]["values"]["networking"]["enabled"] is True


def test_staging_defaults(staging_plan: mockrt.PlanResult) -> None:
    got = releases(staging_plan)
    assert not {"kube-prometheus-stack", "loki", "fluent-bit"} & set(got)  # monitoring off in staging
    assert got["kyverno"]["values"]["admissionController"]["replicas"] == 1
    assert got["hcloud-csi"]["values"]["storageClasses"][0]["reclaimPolicy"] == "Delete"
    # staging does not own the zone's origin pulls: its Traefik asks for no client certificate
    assert "clientAuth" not in one(staging_plan, "kubernetes:traefik.io/v1alpha1:TLSOption")["spec"]


def test_add_ons_absent_when_off() -> None:
    off = {
        "hetznerCcm": False,
        "hetznerCsi": False,
        "kyverno": False,
        "upgradeController": False,
        "kured": False,
        "monitoring": False,
    }
    # The monitor's heartbeat needs the cluster's Alertmanager: off with it.
    monitor = {**mockrt.stack_config("prod")["monitor"], "clusterWatchdog": False}
    plan = mockrt.run_program("prod", mockrt.stack_config("prod", {**off, "monitor": monitor}))
    assert releases(plan) == {}
    types = {r.type for r in plan.resources if "honeydue:platform:ClusterPlatform" in r.urn}
    assert "kubernetes:policies.kyverno.io/v1:ImageValidatingPolicy" not in types
    assert "kubernetes:upgrade.cattle.io/v1:Plan" not in types
    assert "kubernetes:core/v1:Namespace" not in types
    # Traefik is K3s' own: always configured
    assert "kubernetes:helm.cattle.io/v1:HelmChartConfig" in types


def test_traefik_trusts_exactly_the_runs_cloudflare_ranges() -> None:
    ranges = {"ipv4": ["198.18.0.0/15"], "ipv6": ["2001:db8:cf::/48"]}
    plan = mockrt.run_program("staging", mocks=mockrt.PlanMocks(cloudflare_ranges=ranges))
    values = yaml.safe_load(one(plan, "kubernetes:helm.cattle.io/v1:HelmChartConfig")["spec"]["valuesContent"])
    assert values["deployment"]["kind"] == "DaemonSet" and values["hostNetwork"] is True
    assert values["service"]["enabled"] is False
    for entrypoint in ("web", "websecure"):
        assert values["ports"][entrypoint]["forwardedHeaders"]["trustedIPs"] == ["198.18.0.0/15", "2001:db8:cf::/48"]


def test_prod_tls_requires_origin_pull_client_cert(prod_plan: mockrt.PlanResult) -> None:
    option = prod_plan.of_type("kubernetes:traefik.io/v1alpha1:TLSOption")[0]
    assert option.inputs["spec"]["clientAuth"]["clientAuthType"] == "RequireAndVerifyClientCert"
    # ordered after the zone turns origin pulls on, and after the CA Secret exists
    by_urn = prod_plan.by_urn()
    deps = {by_urn[u].type for u in option.dependencies if u in by_urn}
    assert "cloudflare:index/authenticatedOriginPullsSettings:AuthenticatedOriginPullsSettings" in deps
    ca_secret = next(
        r for r in prod_plan.of_type("kubernetes:core/v1:Secret") if r.inputs["metadata"]["name"] == "origin-pull-ca"
    )
    edge_ca = next(
        r for r in prod_plan.of_type("tls:index/selfSignedCert:SelfSignedCert") if "origin-pull-ca" in r.name
    )
    assert edge_ca.urn in ca_secret.dependencies


def test_secrets_stay_pulumi_secrets(prod_plan: mockrt.PlanResult) -> None:
    secrets = {r.inputs["metadata"]["name"]: r for r in prod_plan.of_type("kubernetes:core/v1:Secret")}
    for name in ("hcloud", "origin-cert", "registry-credentials"):
        assert secrets[name].raw_inputs["stringData"][mockrt.SIG_KEY] == mockrt.SECRET_SIG, name
    assert secrets["hcloud"].inputs["stringData"]["token"] == "plan-placeholder-hcloudToken"
    assert secrets["origin-cert"].inputs["type"] == "kubernetes.io/tls"


def test_kyverno_policy_carries_the_pack_key(prod_plan: mockrt.PlanResult) -> None:
    ivp = one(prod_plan, "kubernetes:policies.kyverno.io/v1:ImageValidatingPolicy")
    assert ivp["spec"]["validationActions"] == ["Deny"]
    assert ivp["spec"]["attestors"][0]["cosign"]["key"]["data"] == COSIGN_PUBLIC_KEY.read_text()
    kyverno = next(r for r in prod_plan.of_type(RELEASE_TYPE) if r.inputs["name"] == "kyverno")
    ivp_reg = prod_plan.of_type("kubernetes:policies.kyverno.io/v1:ImageValidatingPolicy")[0]
    assert kyverno.urn in ivp_reg.dependencies  # its CRD comes with the chart


def test_upgrade_plan_version_is_k3s_version() -> None:
    plan = mockrt.run_program("staging", mockrt.stack_config("staging", {"k3sVersion": "v1.34.7+k3s1"}))
    assert one(plan, "kubernetes:upgrade.cattle.io/v1:Plan")["spec"]["version"] == "v1.34.7+k3s1"


def test_every_kubernetes_resource_uses_the_cluster_provider(monkeypatch: pytest.MonkeyPatch) -> None:
    from pulumi.runtime.mocks import MockMonitor

    providers: dict[str, str] = {}
    original = MockMonitor.RegisterResource

    def record(self: Any, request: Any) -> Any:
        if request.type.startswith("kubernetes:"):
            providers[f"{request.type}::{request.name}"] = request.provider
        return original(self, request)

    monkeypatch.setattr(MockMonitor, "RegisterResource", record)
    plan = mockrt.run_program("staging")
    # exactly one Kubernetes provider in the program, and every Kubernetes resource names it
    (provider,) = plan.of_type("pulumi:providers:kubernetes")
    assert len(providers) > 10
    wrong = {k: v for k, v in providers.items() if not v.startswith(provider.urn + "::")}
    assert wrong == {}


@needs_shared
def test_plan_manifests_one_per_file_and_valid(prod_plan: mockrt.PlanResult, tmp_path: Path) -> None:
    from tools.plan import write_artifacts

    counts = write_artifacts(prod_plan, tmp_path / "out")
    written = {p.stem: yaml.safe_load(p.read_text()) for p in (tmp_path / "out" / "releases").glob("*.yaml")}
    assert {name: r["version"] for name, r in written.items()} == RELEASES
    assert written["kyverno"]["values"]["admissionController"]["replicas"] == 3  # an int again
    files = sorted((tmp_path / "out" / "manifests").glob("*.yaml"))
    objects = [r for r in prod_plan.resources if mockrt.is_kubernetes_object(r.type)]
    assert counts["manifests"] == len(files) == len(objects)
    docs = [yaml.safe_load(f.read_text()) for f in files]
    kinds = {d["kind"] for d in docs}
    assert {"HelmChartConfig", "TLSStore", "TLSOption", "Middleware", "ImageValidatingPolicy", "Plan"} <= kinds
    validate_custom_resources([d for d in docs if not is_core(d)], tmp_path)
    # Secrets are written redacted ("[secret]"): their shape is validated from the renderer above.
    core = [d for d in docs if is_core(d) and d["kind"] != "Secret"]
    proc = kubernetes_validate(core, tmp_path)
    assert proc.returncode == 0, proc.stdout + proc.stderr


@needs_shared
def test_plan_helm_chart_config_values_validate(prod_plan: mockrt.PlanResult, tmp_path: Path) -> None:
    values = yaml.safe_load(one(prod_plan, "kubernetes:helm.cattle.io/v1:HelmChartConfig")["spec"]["valuesContent"])
    proc = check_jsonschema(CHART_VALUES / "traefik-39.0.5.schema.json", [values], tmp_path)
    assert proc.returncode == 0, proc.stdout
    cf = json.loads(mockrt.CLOUDFLARE_IPS.read_text())
    assert values["ports"]["websecure"]["forwardedHeaders"]["trustedIPs"] == canonical_cidrs(cf["ipv4"] + cf["ipv6"])


def test_fluent_bit_ships_to_the_loki_release(prod_plan: mockrt.PlanResult) -> None:
    got = releases(prod_plan)
    loki, outputs = got["loki"], got["fluent-bit"]["values"]["config"]["outputs"]
    assert "Name loki" in outputs and "elasticsearch" not in outputs
    # single-binary mode: the Service is named after the release, in the release's namespace
    assert f"Host {loki['name']}.{loki['namespace']}.svc.cluster.local" in outputs


def test_no_registry_account_needs_no_password() -> None:
    """Without an account the platform asks for no password; only the app needs the account."""
    raw = mockrt.stack_config("staging", {"registryUsername": None, "registryPassword": None})
    for variant in (raw, {**raw, "registryUsername": ""}):
        with pytest.raises(ConfigError) as info:
            load_config(variant)
        assert [(p.key, p.allowed.split(":")[0]) for p in info.value.problems] == [("registryUsername", "required")]


def test_vendored_upgrade_controller_manifests_pass_kubernetes_validate(tmp_path: Path) -> None:
    """The vendored chart's templates, with its three template expressions substituted, are
    valid Kubernetes 1.34 objects (no Helm binary here; the substitution covers every `{{`)."""
    chart_dir = ROOT / DEFAULT_CHARTS["systemUpgradeController"]["chart"]
    values = render.upgrade_controller_values("docker.io/rancher/system-upgrade-controller:v0.20.1", "k:v1")
    resources = yaml.safe_dump(values["resources"], default_flow_style=True).strip()
    docs: list[dict[str, Any]] = []
    for template in sorted((chart_dir / "templates").glob("*.yaml")):
        text = (
            template.read_text()
            .replace("{{ .Release.Namespace }}", "system-upgrade")
            .replace("{{ .Values.image | quote }}", json.dumps(values["image"]))
            .replace("{{ .Values.kubectlImage | quote }}", json.dumps(values["kubectlImage"]))
            .replace("\n            {{- toYaml .Values.resources | nindent 12 }}", f" {resources}")
        )
        assert "{{" not in text, template.name
        docs += [d for d in yaml.safe_load_all(text) if d]
    kinds = sorted(d["kind"] for d in docs)
    rbac = ["ClusterRole", "ClusterRole", "Role", "ClusterRoleBinding", "ClusterRoleBinding", "RoleBinding"]
    assert kinds == sorted([*rbac, "ServiceAccount", "ConfigMap", "Deployment"])
    deployment = next(d for d in docs if d["kind"] == "Deployment")
    container = deployment["spec"]["template"]["spec"]["containers"][0]
    assert container["image"] == values["image"] and container["resources"] == values["resources"]
    proc = kubernetes_validate(docs, tmp_path)
    assert proc.returncode == 0, proc.stdout + proc.stderr


def test_every_platform_namespace_has_default_deny_and_metadata_free_egress(prod_plan: mockrt.PlanResult) -> None:
    namespaces = {
        r.inputs["metadata"]["name"]
        for r in prod_plan.of_type("kubernetes:core/v1:Namespace")
        if "honeydue:platform:ClusterPlatform" in r.urn
    }
    assert namespaces == {"kyverno", "system-upgrade", "monitoring"}
    policies: dict[str, list[dict[str, Any]]] = {}
    for r in prod_plan.of_type("kubernetes:networking.k8s.io/v1:NetworkPolicy"):
        policies.setdefault(r.inputs["metadata"]["namespace"], []).append(r.inputs["spec"])
    for ns in namespaces:
        specs = policies[ns]
        assert {"podSelector": {}, "policyTypes": ["Ingress", "Egress"]} in specs, ns
        egress_blocks = [
            peer["ipBlock"] for s in specs for rule in s.get("egress", []) for peer in rule["to"] if "ipBlock" in peer
        ]
        v4 = [b for b in egress_blocks if b["cidr"] == "0.0.0.0/0"]
        assert v4 and all("169.254.169.254/32" in b["except"] for b in v4), ns


def test_csi_node_plugin_on_the_host_network() -> None:
    """The node's metadata guard admits only root on the host network; the CSI node plugin (root,
    privileged) reads its instance id there at every start (csi-driver v2.22.1 cmd/main.go)."""
    assert render.csi_values("Retain")["node"] == {"hostNetwork": True}
