"""HoneydueApp (components/app.py, components/app_render.py).

Pure renderer checks, the real validators over the rendered manifests (kubernetes-validate for
1.34 strict, checkov, network-config-analyzer, shellcheck), app config rules, then the component
inside the whole program in the mock runtime (dependencies, the singleton worker, secrets).
"""

from __future__ import annotations

import ipaddress
import json
import os
import re
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml

from components import app_render
from components.config import AppConfig, ConfigError, load_config
from components.secrets import APP_SECRET_ENV
from tools import mockrt

ROOT = Path(__file__).resolve().parent.parent
CACHE = Path(
    os.environ.get("HONEYDUE_CACHE") or Path(os.environ.get("XDG_CACHE_HOME", Path.home() / ".cache")) / "honeydue"
)
NCA = CACHE / "network-config-analyzer-2.1.0" / "bin" / "nca"
CHECKOV = CACHE / "checkov-3.3.30" / "bin" / "checkov"
K8S = "kubernetes:"
OTHER_API_DIGEST = "b" * 64

# checkov checks skipped for the app, each with its reason; README.md lists the same table.
CHECKOV_SKIPS = {
    "CKV_K8S_35": "The Go api, the worker, the migration Job and the backup read their settings from "
    "environment variables; every secret one comes from a Secret through secretKeyRef (never a literal). "
    "Redis, which can read a file, gets its password from a Secret volume.",
}


def raw(stack: str = "prod", **overrides: Any) -> dict[str, Any]:
    return mockrt.stack_config(stack, overrides)


def spec_for(stack: str = "prod", **overrides: Any) -> app_render.AppSpec:
    return app_render.app_spec(load_config(raw(stack, **overrides)), sorted(APP_SECRET_ENV.values()))


def write_manifests(docs: dict[str, dict[str, Any]], out: Path) -> list[Path]:
    out.mkdir(parents=True, exist_ok=True)
    paths = []
    for role, doc in docs.items():
        path = out / f"{role}.yaml"
        path.write_text(yaml.safe_dump(doc, sort_keys=False))
        paths.append(path)
    return paths


def with_secret_data(docs: dict[str, dict[str, Any]]) -> dict[str, dict[str, Any]]:
    """Secrets as the cluster receives them (dummy values in the component's keys)."""
    out = json.loads(json.dumps(docs))
    out["app-secret"]["stringData"] = {k: "x" for k in APP_SECRET_ENV.values()}
    out["redis-secret"]["stringData"] = {"REDIS_PASSWORD": "x", "redis.conf": app_render.redis_config("x")}
    out["pull-secret"]["stringData"] = {".dockerconfigjson": '{"auths": {}}'}
    return out


@pytest.fixture(scope="module", params=["prod", "staging"])
def rendered(request: pytest.FixtureRequest) -> dict[str, dict[str, Any]]:
    return app_render.render_app(spec_for(request.param))


# --------------------------------------------------------------------------------------------
# Pure renderer
# --------------------------------------------------------------------------------------------


def test_migration_job_named_from_the_api_digest() -> None:
    spec = spec_for()
    digest = app_render.image_digest(spec.images["api"])
    job = app_render.migration_job(spec)
    assert job["metadata"]["name"] == f"migrate-{digest[:12]}"
    other = spec_for(
        images={**raw()["images"], "api": f"gitea.treytartt.com/admin/honeydue-api@sha256:{OTHER_API_DIGEST}"}
    )
    assert app_render.migration_job(other)["metadata"]["name"] == "migrate-bbbbbbbbbbbb"
    container = job["spec"]["template"]["spec"]["containers"][0]
    assert container["image"] == spec.images["api"] and container["args"] == ["--migrate-only"]
    assert job["spec"]["activeDeadlineSeconds"] == 600
    assert "ttlSecondsAfterFinished" not in job["spec"]
    assert "pulumi.com/skipAwait" not in job["metadata"].get("annotations", {})


def test_node_gateway_cidrs_cover_host_addresses_only() -> None:
    blocks = app_render.node_gateway_cidrs("10.42.0.0/22")
    assert blocks == ("10.42.0.0/31", "10.42.1.0/31", "10.42.2.0/31", "10.42.3.0/31")
    assert app_render.node_gateway_cidrs("10.42.0.0/26") == ("10.42.0.0/26",)


def test_namespace_enforces_restricted(rendered: dict[str, dict[str, Any]]) -> None:
    ns_labels = rendered["namespace"]["metadata"]["labels"]
    for mode in ("enforce", "audit", "warn"):
        assert ns_labels[f"pod-security.kubernetes.io/{mode}"] == "restricted"


def test_workloads_shape(rendered: dict[str, dict[str, Any]]) -> None:
    api, admin, worker = rendered["api"], rendered["admin"], rendered["worker"]
    assert worker["spec"]["replicas"] == 1 and worker["spec"]["strategy"] == {"type": "Recreate"}
    assert rendered["worker-pdb"]["spec"] == {"maxUnavailable": 1, "selector": worker["spec"]["selector"]}
    for doc, port, path in ((api, 8000, "/api/health/"), (admin, 3000, "/")):
        c = doc["spec"]["template"]["spec"]["containers"][0]
        for probe in ("startupProbe", "readinessProbe", "livenessProbe"):
            assert c[probe]["httpGet"] == {"path": path, "port": port}
        assert c["securityContext"]["readOnlyRootFilesystem"] is True
        assert {"name": "tmp", "mountPath": "/tmp"} in c["volumeMounts"]
        assert (
            doc["spec"]["template"]["spec"]["topologySpreadConstraints"][0]["topologyKey"] == "kubernetes.io/hostname"
        )
    hpa = rendered["api-hpa"]["spec"]
    assert hpa["metrics"][0]["resource"]["target"] == {"type": "Utilization", "averageUtilization": 70}
    assert hpa["minReplicas"] <= api["spec"]["replicas"] <= hpa["maxReplicas"]
    redis = rendered["redis"]
    assert redis["kind"] == "StatefulSet"
    assert redis["spec"]["volumeClaimTemplates"][0]["spec"]["resources"]["requests"]["storage"]


def test_ingress_per_hostname_through_websecure(rendered: dict[str, dict[str, Any]]) -> None:
    routes = {}
    for doc in rendered.values():
        if doc["kind"] != "Ingress":
            continue
        notes = doc["metadata"]["annotations"]
        assert notes["traefik.ingress.kubernetes.io/router.entrypoints"] == "websecure"
        assert notes["traefik.ingress.kubernetes.io/router.tls.options"] == app_render.TLS_OPTION
        assert notes["traefik.ingress.kubernetes.io/router.middlewares"].split(",") == [
            app_render.SECURITY_HEADERS_MIDDLEWARE,
            app_render.RATE_LIMIT_MIDDLEWARE,
        ]
        (rule,) = doc["spec"]["rules"]
        assert doc["spec"]["tls"] == [{"hosts": [rule["host"]]}]  # the default TLSStore's certificate
        routes[rule["host"]] = rule["http"]["paths"][0]["backend"]["service"]["name"]
    if "myhoneydue.com" in routes:
        assert routes == {
            "api.myhoneydue.com": "api",
            "myhoneydue.com": "api",
            "www.myhoneydue.com": "api",
            "admin.myhoneydue.com": "admin",
        }


def test_images_pinned_and_from_allowed_registries(rendered: dict[str, dict[str, Any]]) -> None:
    cfg = load_config(raw())
    images = []
    for doc in rendered.values():
        pod = (doc.get("spec") or {}).get("template", {}).get("spec") or (
            (doc.get("spec") or {}).get("jobTemplate", {}).get("spec", {}).get("template", {}).get("spec")
        )
        if pod:
            images += [c["image"] for c in pod["containers"]]
    assert len(images) == 6
    for image in images:
        assert re.fullmatch(r"[a-z0-9./-]+@sha256:[0-9a-f]{64}", image), image
        assert image.split("/")[0] in cfg.workloads.allowed_registries


def test_no_secret_value_or_reference_leaks_into_plain_fields(rendered: dict[str, dict[str, Any]]) -> None:
    """Secret variables come only through secretKeyRef; ConfigMaps hold no secret-looking key."""
    secret_names = {*APP_SECRET_ENV.values(), "REDIS_PASSWORD", "REDISCLI_AUTH"}
    for doc in rendered.values():
        if doc["kind"] == "ConfigMap":
            assert not secret_names & set(doc["data"])
        text = json.dumps(doc)
        assert "plan-placeholder" not in text
        for container in _containers(doc):
            for env in container.get("env", []):
                if env["name"] in secret_names or (
                    env["name"].startswith("RCLONE_CONFIG_B2_") and "KEY" in env["name"]
                ):
                    assert "value" not in env and "secretKeyRef" in env["valueFrom"], env
            for arg in container.get("args", []) + container.get("command", []):
                assert "PASSWORD" not in arg and "$(" not in arg


def _containers(doc: dict[str, Any]) -> list[dict[str, Any]]:
    spec = doc.get("spec") or {}
    pod = spec.get("template", {}).get("spec") or spec.get("jobTemplate", {}).get("spec", {}).get("template", {}).get(
        "spec"
    )
    return list(pod["containers"]) if pod else []


def test_backup_script_passes_shellcheck(tmp_path: Path) -> None:
    script = tmp_path / "pg-backup.sh"
    script.write_text(app_render.backup_script())
    proc = subprocess.run(["shellcheck", "-s", "bash", str(script)], capture_output=True, text=True)
    assert proc.returncode == 0, proc.stdout
    assert "pipefail" in script.read_text() and "rclone delete --min-age" in script.read_text()


def test_dockerconfigjson() -> None:
    from components.app import dockerconfigjson

    doc = json.loads(dockerconfigjson("gitea.example.com", "u", "p"))
    assert doc == {"auths": {"gitea.example.com": {"username": "u", "password": "p", "auth": "dTpw"}}}


# --------------------------------------------------------------------------------------------
# Real validators
# --------------------------------------------------------------------------------------------


def test_kubernetes_validate_strict_1_34(rendered: dict[str, dict[str, Any]], tmp_path: Path) -> None:
    paths = write_manifests(with_secret_data(rendered), tmp_path)
    exe = Path(sys.executable).parent / "kubernetes-validate"
    proc = subprocess.run([str(exe), "-k", "1.34", "--strict", *map(str, paths)], capture_output=True, text=True)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert proc.stdout.count(" passed for resource ") == len(paths), proc.stdout
    # All errors, not just the first: the same schemas through jsonschema.
    errors = [f"{p.name}: {e}" for p in paths for e in _all_schema_errors(yaml.safe_load(p.read_text()))]
    assert errors == []


def _all_schema_errors(doc: dict[str, Any], version: str = "1.34") -> list[str]:
    """Every error of `doc` against kubernetes-validate's strict schemas, loaded the way its
    own `utils.validate` loads them (which raises on the first error only)."""
    import jsonschema
    import kubernetes_validate.utils as kv
    from referencing import Registry, Resource

    schema_version = [v for v in kv.all_versions() if kv.major_minor(v) <= version][-1]
    schema_dir = f"kubernetes-json-schema/v{schema_version}-local-strict"
    api_version = re.sub(r"^([^./]*)(?:\.[^/]*)?/", r"\1-", doc["apiVersion"])
    schema = kv.schema_contents(f"{schema_dir}/{doc['kind'].lower()}-{api_version}.json", version)
    definitions = kv.schema_contents(f"{schema_dir}/_definitions.json", version)
    registry = Resource.from_contents(definitions) @ (Resource.from_contents(schema) @ Registry())
    validator = jsonschema.validators.Draft202012Validator(schema, registry=registry)
    return [f"{'/'.join(map(str, e.absolute_path))}: {e.message}" for e in validator.iter_errors(doc)]


def test_kubernetes_validate_reports_every_error(tmp_path: Path) -> None:
    """The all-errors check catches a typo and a wrong type in one document."""
    doc = app_render.render_app(spec_for())["api"]
    doc["spec"]["replicas"] = "three"
    doc["spec"]["template"]["spec"]["containers"][0]["imagePullPolicyy"] = "Always"
    errors = _all_schema_errors(doc)
    assert len(errors) == 2, errors


def require(tool: Path) -> None:
    """`make test` installs every validator first; a missing one is a failure, not a skip."""
    if not tool.exists():
        pytest.fail(f"{tool} is missing: run `make validators` (tools/validators.sh)")


def test_checkov_zero_failed(tmp_path: Path) -> None:
    require(CHECKOV)
    docs = {}
    for stack in ("prod", "staging"):
        docs.update({f"{stack}-{k}": v for k, v in with_secret_data(app_render.render_app(spec_for(stack))).items()})
    write_manifests(docs, tmp_path / "manifests")
    env = {**os.environ, "BC_SKIP_MAPPING": "TRUE", "CKV_SKIP_PACKAGE_UPDATE_CHECK": "TRUE", "HOME": str(tmp_path)}
    proc = subprocess.run(
        [
            str(CHECKOV),
            "-d",
            str(tmp_path / "manifests"),
            "--framework",
            "kubernetes",
            "--skip-download",
            "--skip-check",
            ",".join(CHECKOV_SKIPS),
            "-o",
            "json",
        ],
        capture_output=True,
        text=True,
        env=env,
        cwd=tmp_path,
        timeout=600,
    )
    report = json.loads(proc.stdout)
    summary = report["summary"]
    failed = [(c["check_id"], c["file_path"], c["check_name"]) for c in report["results"]["failed_checks"]]
    assert failed == [] and summary["failed"] == 0, failed
    assert summary["passed"] > 100 and summary["parsing_errors"] == 0, summary
    readme = (ROOT / "README.md").read_text()
    for check in CHECKOV_SKIPS:
        assert check in readme, f"README must list the checkov skip {check}"


# The intended connectivity map (issue 11), as network-config-analyzer prints it for prod.
INTERNET = {
    "0.0.0.0-9.255.255.255",
    "11.0.0.0-100.63.255.255",
    "100.128.0.0-169.253.255.255",
    "169.255.0.0-172.15.255.255",
    "172.32.0.0-192.167.255.255",
    "192.169.0.0-255.255.255.255",
}
INTERNET_CONN = "{protocols:TCP,dst_ports:443,465,587,5432}"
DNS_CONN = "{protocols:TCP, UDP,dst_ports:53}"


def intended_map(job: str) -> set[tuple[str, str, str]]:
    workloads = [
        "honeydue/api[Deployment]",
        "honeydue/admin[Deployment]",
        "honeydue/worker[Deployment]",
        "honeydue/redis[StatefulSet]",
        f"honeydue/{job}[Job]",
        "honeydue/pg-backup[CronJob]",
    ]
    out = {(w, "kube-system/kube-dns-livesim[Pod]", DNS_CONN) for w in workloads}
    # Traefik (host network): the nodes' private subnet and, per node pod subnet of 10.42.0.0/16,
    # the two host-side addresses (.0 on the WireGuard device, .1 on cni0); never a pod (.2+).
    traefik = ["10.0.1.0-10.0.1.255", *(f"10.42.{n}.0-10.42.{n}.1" for n in range(256))]
    out |= {(src, "honeydue/api[Deployment]", "{protocols:TCP,dst_ports:8000}") for src in traefik}
    out |= {(src, "honeydue/admin[Deployment]", "{protocols:TCP,dst_ports:3000}") for src in traefik}
    out |= {
        ("honeydue/api[Deployment]", "honeydue/redis[StatefulSet]", "{protocols:TCP,dst_ports:6379}"),
        ("honeydue/worker[Deployment]", "honeydue/redis[StatefulSet]", "{protocols:TCP,dst_ports:6379}"),
    }
    for w in ("api[Deployment]", "worker[Deployment]", f"{job}[Job]", "pg-backup[CronJob]"):
        out |= {(f"honeydue/{w}", dst, INTERNET_CONN) for dst in INTERNET}
    return out


def nca_connectivity(docs: dict[str, dict[str, Any]], tmp_path: Path) -> set[tuple[str, str, str]]:
    require(NCA)
    policies = {k: v for k, v in docs.items() if v["kind"] == "NetworkPolicy"}
    others = {
        k: v for k, v in docs.items() if v["kind"] in {"Namespace", "Deployment", "StatefulSet", "Job", "CronJob"}
    }
    write_manifests(policies, tmp_path / "policies")
    write_manifests(others, tmp_path / "resources")
    proc = subprocess.run(
        [
            str(NCA),
            "--connectivity",
            str(tmp_path / "policies"),
            "--resource_list",
            str(tmp_path / "resources"),
            "--output_format",
            "txt_no_fw_rules",
            "--output_endpoints",
            "deployments",
        ],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr
    lines = [line for line in proc.stdout.splitlines() if " => " in line]
    found = set()
    for line in lines:
        src, _, rest = line.partition(" => ")
        dst, _, conn = rest.partition(" : ")
        # nca adds a simulated kube-dns pod in kube-system with no policies: its own lines say
        # nothing about the app.
        if src.startswith("kube-system/") or (dst.startswith("kube-system/") and not src.startswith("honeydue/")):
            continue
        found.add((src, dst, conn))
    return found


def _ranges(endpoint: str) -> list[tuple[ipaddress.IPv4Address, ipaddress.IPv4Address]]:
    out = []
    for part in endpoint.split(","):
        if re.fullmatch(r"[0-9.]+-[0-9.]+", part):
            lo, hi = part.split("-")
            out.append((ipaddress.IPv4Address(lo), ipaddress.IPv4Address(hi)))
        elif re.fullmatch(r"[0-9.]+/\d+", part):
            net = ipaddress.IPv4Network(part)
            out.append((net.network_address, net.broadcast_address))
    return out


def test_network_policies_connectivity_map(tmp_path: Path) -> None:
    spec = spec_for()
    found = nca_connectivity(app_render.render_app(spec), tmp_path)
    assert found == intended_map(app_render.migration_job_name(spec.images["api"]))
    metadata = ipaddress.IPv4Address("169.254.169.254")
    pod = ipaddress.IPv4Address("10.42.7.2")  # the first pod address of a node
    for src, dst, _ in found:
        for lo, hi in _ranges(src):
            assert not lo <= pod <= hi, src
        for lo, hi in _ranges(dst):
            assert not lo <= metadata <= hi, (src, dst)
            assert not (lo <= ipaddress.IPv4Address("10.0.1.11") <= hi), (src, dst)


def test_connectivity_check_catches_a_widened_policy(tmp_path: Path) -> None:
    """Dropping the metadata `except` is visible in the map (the test above can fail)."""
    spec = spec_for()
    docs = app_render.render_app(spec)
    docs["netpol-internet"]["spec"]["egress"][0]["to"][0]["ipBlock"]["except"] = list(app_render.PRIVATE_CIDRS[:3])
    found = nca_connectivity(docs, tmp_path)
    metadata = ipaddress.IPv4Address("169.254.169.254")
    assert any(lo <= metadata <= hi for _, dst, _ in found for lo, hi in _ranges(dst))


# --------------------------------------------------------------------------------------------
# App config
# --------------------------------------------------------------------------------------------


@pytest.mark.parametrize("stack", ["prod", "staging"])
def test_app_config_of_real_stacks(stack: str) -> None:
    app = load_config(raw(stack)).app
    assert isinstance(app, AppConfig) and app.namespace == "honeydue"
    assert app.backup.retention_days >= 1 and app.backup.image.split("@sha256:")[1]


def _app_problems(**app_overrides: Any) -> list[str]:
    base = raw()["app"]
    with pytest.raises(ConfigError) as info:
        load_config(raw(app={**base, **app_overrides}))
    return [str(p) for p in info.value.problems]


@pytest.mark.parametrize(
    ("override", "key"),
    [
        ({"namespace": "Bad_NS"}, "app.namespace"),
        ({"namespace": "kube-app"}, "app.namespace"),
        ({"apiAutoscaling": {"minReplicas": 5, "maxReplicas": 2}}, "app.apiAutoscaling.maxReplicas"),
        ({"apiAutoscaling": {"minReplicas": 4, "maxReplicas": 6}}, "replicas.api"),
        ({"migrationTimeoutSeconds": 5}, "app.migrationTimeoutSeconds"),
        ({"redisStorage": "lots"}, "app.redisStorage"),
        ({"worker": {"command": "/app/worker", "healthCommand": ["x"]}}, "app.worker.command"),
        ({"env": {"SMTP_PASSWORD": "hunter2"}}, "app.env.SMTP_PASSWORD"),
        ({"env": {"lower": "x"}}, "app.env.lower"),
        ({"backupp": {}}, "app.backupp"),
    ],
)
def test_app_config_rules(override: dict[str, Any], key: str) -> None:
    found = _app_problems(**override)
    assert any(p.startswith(f"honeydue:{key} = ") for p in found), found
    assert "hunter2" not in "".join(found)


def test_backup_config_rules() -> None:
    backup = raw()["app"]["backup"]
    found = _app_problems(
        backup={
            **backup,
            "image": "docker.io/library/postgres:17",
            "schedule": "nightly",
            "endpoint": "https://s3.example.com",
            "retentionDays": 0,
        }
    )
    for key in ("image", "schedule", "endpoint", "retentionDays"):
        assert any(p.startswith(f"honeydue:app.backup.{key} = ") for p in found), (key, found)
    found = _app_problems(backup={**backup, "image": "quay.io/x/pg@sha256:" + "a" * 64})
    assert any("allowedRegistries" in p for p in found)


def test_stack_and_app_problems_reported_together() -> None:
    with pytest.raises(ConfigError) as info:
        load_config(raw(sshPort=22, app={**raw()["app"], "namespace": "X"}))
    keys = [p.key for p in info.value.problems]
    assert "sshPort" in keys and "app.namespace" in keys


# --------------------------------------------------------------------------------------------
# The component in the whole program (mock runtime)
# --------------------------------------------------------------------------------------------


def _app_resources(plan: mockrt.PlanResult) -> dict[str, mockrt.Registration]:
    return {r.name: r for r in plan.resources if r.type.startswith(K8S) and r.name.startswith("app-")}


def test_plan_registers_the_app_with_the_gated_provider(prod_plan: mockrt.PlanResult) -> None:
    resources = _app_resources(prod_plan)
    expected = {f"app-{role}" for role in app_render.render_app(spec_for())}
    assert set(resources) == expected
    component = prod_plan.of_type("honeydue:app:HoneydueApp")
    assert len(component) == 1
    assert all(r.parent == component[0].urn for r in resources.values())
    # The provider is inherited from the component: the cluster's gated provider, for every object.
    (provider,) = [r for r in prod_plan.resources if r.type == "pulumi:providers:kubernetes"]
    assert provider.name == "k3s-k8s"
    assert {r.provider.rsplit("::", 1)[0] for r in resources.values()} == {provider.urn}


@pytest.mark.parametrize(("plan_name", "protected"), [("prod_plan", True), ("staging_plan", False)])
def test_redis_password_protected_in_prod(plan_name: str, protected: bool, request: pytest.FixtureRequest) -> None:
    plan: mockrt.PlanResult = request.getfixturevalue(plan_name)
    (password,) = [
        r for r in plan.of_type("random:index/randomPassword:RandomPassword") if r.name == "app-redis-password"
    ]
    assert password.options["protect"] is protected
    assert password.inputs["length"] == 40 and password.inputs["special"] is False


def test_api_and_worker_depend_on_the_migration_job(prod_plan: mockrt.PlanResult) -> None:
    resources = _app_resources(prod_plan)
    job = resources["app-migrate"]
    assert job.type == "kubernetes:batch/v1:Job"
    assert job.inputs["metadata"]["name"] == app_render.migration_job_name(raw()["images"]["api"])
    for role in ("app-api", "app-worker"):
        assert job.urn in resources[role].dependencies, role
    assert job.urn not in resources["app-admin"].dependencies
    assert resources["app-api"].options["ignoreChanges"] == ["spec.replicas"]


def test_job_name_follows_the_api_digest_in_the_plan() -> None:
    images = {**raw()["images"], "api": f"gitea.treytartt.com/admin/honeydue-api@sha256:{OTHER_API_DIGEST}"}
    plan = mockrt.run_program("staging", raw("staging", images=images))
    resources = _app_resources(plan)
    assert resources["app-migrate"].inputs["metadata"]["name"] == "migrate-bbbbbbbbbbbb"
    assert resources["app-migrate"].urn in resources["app-api"].dependencies


@pytest.mark.parametrize("plan_name", ["prod_plan", "staging_plan"])
def test_worker_is_a_singleton(plan_name: str, request: pytest.FixtureRequest) -> None:
    plan: mockrt.PlanResult = request.getfixturevalue(plan_name)
    worker = _app_resources(plan)["app-worker"].inputs
    assert worker["spec"]["replicas"] == 1 and worker["spec"]["strategy"]["type"] == "Recreate"


def test_secrets_are_pulumi_secrets(prod_plan: mockrt.PlanResult) -> None:
    resources = _app_resources(prod_plan)
    for role in ("app-app-secret", "app-redis-secret", "app-pull-secret"):
        data = resources[role].raw_inputs["stringData"]
        values = data.values() if isinstance(data, dict) and mockrt.SIG_KEY not in data else [data]
        assert all(isinstance(v, dict) and v.get(mockrt.SIG_KEY) == mockrt.SECRET_SIG for v in values), role
    app_secret = resources["app-app-secret"].inputs["stringData"]
    assert app_secret["DATABASE_URL"] == "plan-placeholder-databaseUrl"
    pull = json.loads(resources["app-pull-secret"].inputs["stringData"][".dockerconfigjson"])
    assert pull["auths"]["gitea.treytartt.com"]["password"] == "plan-placeholder-registryPassword"
    redis_conf = resources["app-redis-secret"].inputs["stringData"]["redis.conf"]
    password = resources["app-redis-secret"].inputs["stringData"]["REDIS_PASSWORD"]
    assert f'requirepass "{password}"' in redis_conf and len(password) == 40


@pytest.fixture(scope="module")
def planned(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, str]:
    """`make plan`'s script for prod, written into a temp dir: (build dir, stdout)."""
    out = tmp_path_factory.mktemp("plan") / "build"
    return out, plan_into("prod", out)


def test_no_secret_anywhere_in_plain_fields_or_under_build(
    planned: tuple[Path, str], prod_plan: mockrt.PlanResult
) -> None:
    """Run `make plan`'s script into a temp dir; no secret value may appear in any file it writes,
    nor in any ConfigMap, env literal, argument or annotation of the registered inputs."""
    resources = _app_resources(prod_plan)
    # The app's secrets (the cluster's own, e.g. the etcd S3 keys, are user_data by design).
    app_keys = {"databaseUrl", "jwtSecret", "adminPassword", "smtpPassword", "storageAccessKeyId"}
    app_keys |= {"storageSecretAccessKey", "registryPassword"}
    secret_values = {raw()[k] for k in app_keys}
    assert all(v.startswith("plan-placeholder-") for v in secret_values)
    secret_values.add(resources["app-redis-secret"].inputs["stringData"]["REDIS_PASSWORD"])
    for r in resources.values():
        doc = r.inputs
        plain = [json.dumps(doc.get("data", {})), json.dumps(doc["metadata"].get("annotations", {}))]
        for c in _containers(doc):
            plain += [json.dumps([e for e in c.get("env", []) if "value" in e]), json.dumps(c.get("args", []))]
            plain.append(json.dumps(c.get("command", [])))
        for value in secret_values:
            assert all(value not in text for text in plain), (r.name, value[:20])
    out, stdout = planned
    files = [p for p in out.rglob("*") if p.is_file()]
    assert any(p.name.startswith("secret-honeydue-") for p in files)
    for path in files:
        text = path.read_text()
        for value in secret_values:
            assert value not in text, (path.name, value[:20])
    assert not any(value in stdout for value in secret_values)


def plan_into(stack: str, out: Path) -> str:
    """`make plan`'s script for `stack`, written into `out` (a temp dir); returns its stdout."""
    proc = subprocess.run(
        [sys.executable, "tools/plan.py", "--stack", stack, "--out", str(out), "--no-policies"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert proc.returncode == 0, proc.stderr
    return proc.stdout


def test_written_manifests_validate(planned: tuple[Path, str]) -> None:
    """The manifests `make plan` writes for the app pass kubernetes-validate too."""
    out, _ = planned
    # <kind>-<namespace>-<name>.yaml: the app's namespace, and the namespace object itself
    paths = [p for p in (out / "manifests").glob("*.yaml") if re.match(r"^[a-z]+-honeydue-", p.name)]
    paths += list((out / "manifests").glob("namespace-cluster-honeydue.yaml"))
    assert len(paths) == len(app_render.render_app(spec_for()))
    errors = []
    for p in paths:
        doc = yaml.safe_load(p.read_text())
        if doc.get("kind") == "Secret":
            doc["stringData"] = {}  # "[secret]" placeholders replace the maps
        errors += [f"{p.name}: {e}" for e in _all_schema_errors(doc)]
    assert errors == []


@pytest.mark.parametrize("plan_name", ["prod_plan", "staging_plan"])
def test_policy_pack_passes_with_the_app(plan_name: str, request: pytest.FixtureRequest) -> None:
    """The CrossGuard pack over the whole plan, the app included: no mandatory violation; the
    only findings on app resources are the offline (advisory) signature checks, which cannot
    verify placeholder digests without a registry."""
    from policies.guardrails.runner import load_config, run_policies, with_cloudflare_ranges

    plan: mockrt.PlanResult = request.getfixturevalue(plan_name)
    # the ranges the mocks gave the program (the pack reads Cloudflare's list in a real preview)
    config = with_cloudflare_ranges(load_config(ROOT / "policies" / f"config.{plan.stack}.json"), mockrt.CLOUDFLARE_IPS)
    resources = [{**r.to_json(), "inputs": r.inputs} for r in plan.resources]
    violations = run_policies(resources, config, signatures_advisory=True)
    assert [v for v in violations if v.enforcement_level == "mandatory"] == []
    app_urns = {r.urn for r in _app_resources(plan).values()}
    on_app = [v for v in violations if v.urn in app_urns]
    assert {v.policy for v in on_app} <= {"container-images-signed"}, on_app
    # The policies did see the app: a hardened-workload breach on the api would be mandatory.
    api = next(r for r in resources if r["urn"] == _app_resources(plan)["app-api"].urn)
    api["inputs"]["spec"]["template"]["spec"]["containers"][0]["securityContext"]["allowPrivilegeEscalation"] = True
    broken = run_policies(resources, config, signatures_advisory=True)
    assert any(v.policy == "workloads-hardened" and v.urn == api["urn"] for v in broken)
