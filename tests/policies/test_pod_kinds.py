"""Class 1 (every kind that runs a container, patches, CRs, Helm values) and class 2 (hardening
by Kubernetes identity; hostPort, Unconfined profiles, procMount, capabilities, hostPath
PersistentVolumes and their claims), with the platform's legitimate shapes as neighbours."""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

import pytest

from .lib import (
    API_IMAGE,
    DIGEST,
    PUBLIC_KEY,
    TRAEFIK_VALUES,
    UNSIGNED,
    check,
    check_stack,
    container,
    helm_chart,
    helm_chart_config,
    make_fake_cosign,
    pod_spec,
    resource,
    upgrade_plan,
)

H = "workloads-hardened"
P = "container-images-pinned"
A = "container-images-allowed-registries"
ALLOWED = {"registries": ["gitea.treytartt.com"], "exceptions": ["docker.io/library/redis", "docker.io/rancher/"]}

# kind -> (type token, where the pod spec goes), tokens as pulumi_kubernetes 4.34.2 registers them.
KINDS: dict[str, tuple[str, tuple[str, ...]]] = {
    "Pod": ("kubernetes:core/v1:Pod", ("spec",)),
    "PodTemplate": ("kubernetes:core/v1:PodTemplate", ("template", "spec")),
    "ReplicationController": ("kubernetes:core/v1:ReplicationController", ("spec", "template", "spec")),
    "Deployment": ("kubernetes:apps/v1:Deployment", ("spec", "template", "spec")),
    "StatefulSet": ("kubernetes:apps/v1:StatefulSet", ("spec", "template", "spec")),
    "DaemonSet": ("kubernetes:apps/v1:DaemonSet", ("spec", "template", "spec")),
    "ReplicaSet": ("kubernetes:apps/v1:ReplicaSet", ("spec", "template", "spec")),
    "Job": ("kubernetes:batch/v1:Job", ("spec", "template", "spec")),
    "CronJob": ("kubernetes:batch/v1:CronJob", ("spec", "jobTemplate", "spec", "template", "spec")),
}


def workload(
    kind: str, spec: Any, name: str = "api", namespace: str = "honeydue", patch: bool = False
) -> dict[str, Any]:
    token, path = KINDS[kind]
    inputs: dict[str, Any] = {"metadata": {"name": name, "namespace": namespace}}
    target = inputs
    for step in path[:-1]:
        target = target.setdefault(step, {})
    target[path[-1]] = spec
    return resource(token + ("Patch" if patch else ""), name, inputs)


def compliant_spec(kind: str) -> dict[str, Any]:
    return pod_spec(containers=[container(probes=kind not in ("Job", "CronJob"))])


def test_pulumi_kubernetes_registers_these_tokens() -> None:
    """The tokens above are the SDK's own (read from the installed pulumi_kubernetes)."""
    import pulumi_kubernetes

    root = Path(pulumi_kubernetes.__file__).parent
    source = "".join(p.read_text() for p in root.rglob("*.py") if p.parent.name in ("v1",))
    for token, _ in KINDS.values():
        assert f'"{token}"' in source and f'"{token}Patch"' in source, token
    custom = (root / "apiextensions" / "CustomResourcePatch.py").read_text()
    assert 'f"kubernetes:{api_version}:{kind}Patch"' in custom


@pytest.mark.parametrize("kind", KINDS)
def test_every_kind_is_inspected(kind: str) -> None:
    assert check(H, workload(kind, compliant_spec(kind))) == []
    assert check(P, workload(kind, compliant_spec(kind))) == []
    bad = compliant_spec(kind)
    bad["containers"][0]["securityContext"]["privileged"] = True
    bad["containers"][0]["image"] = "ghcr.io/evil/miner:latest"
    r = workload(kind, bad)
    assert any("privileged: true" in m for m in check(H, r))
    assert any("not pinned" in m for m in check(P, r))
    assert any("not one of the allowed registries" in m for m in check(A, r, ALLOWED))


@pytest.mark.parametrize("kind", KINDS)
def test_patches_that_add_danger_are_caught(kind: str) -> None:
    """A server-side-apply patch names only the fields it changes; it can still add a
    privileged container, a host namespace or an unpinned image."""
    privileged = {"containers": [{"name": "api", "securityContext": {"privileged": True}}]}
    assert any("privileged" in m for m in check(H, workload(kind, privileged, patch=True)))
    host = {"hostNetwork": True}
    assert any("hostNetwork" in m for m in check(H, workload(kind, host, patch=True)))
    sidecar = {"containers": [{"name": "miner", "image": "ghcr.io/evil/miner:1"}]}
    assert any("not pinned" in m for m in check(P, workload(kind, sidecar, patch=True)))
    assert check(A, workload(kind, sidecar, patch=True), ALLOWED)


@pytest.mark.parametrize("kind", KINDS)
def test_patch_legitimate_neighbours(kind: str) -> None:
    """Patches that change harmless fields are not held to a full container's requirements."""
    bump = {"containers": [{"name": "api", "image": API_IMAGE}]}
    assert check(H, workload(kind, bump, patch=True)) == []
    assert check(P, workload(kind, bump, patch=True)) == []
    limits = {"containers": [{"name": "api", "resources": {"limits": {"memory": "512Mi"}}}]}
    assert check(H, workload(kind, limits, patch=True)) == []
    assert check(P, workload(kind, limits, patch=True)) == []  # keeps the target's image
    replicas = resource(KINDS[kind][0] + "Patch", "scale", {"metadata": {"name": "api"}, "spec": {"replicas": 3}})
    assert check(H, replicas) == [] and check(P, replicas) == []


# --- custom resources and Helm values ----------------------------------------------------------


@pytest.mark.parametrize(
    ("r", "policy", "expected"),
    [
        (helm_chart(jobImage="rancher/klipper-helm:v0.9.4"), P, "spec.jobImage"),
        (helm_chart(jobImage="ghcr.io/evil/helm@" + DIGEST), A, "spec.jobImage"),
        (helm_chart(valuesContent="image: ghcr.io/evil/x:1\n"), P, "spec.valuesContent image"),
        (
            helm_chart(
                valuesContent="controller:\n  image:\n    repository: hetznercloud/hcloud-csi-driver\n    tag: v2.22.1\n"
            ),
            P,
            "controller.image",
        ),
        (helm_chart(valuesContent="node:\n  image:\n    tag: v2.22.1\n"), P, "sets a tag but no @sha256"),
        (helm_chart(valuesContent="sidecar:\n  initImage: busybox\n"), P, "initImage"),
        (helm_chart(set={"image": "ghcr.io/evil/x:1"}), P, "spec.set image"),
        (helm_chart(valuesContent="image: [oops\n"), P, "not valid YAML"),
        (helm_chart_config(values="image:\n  repository: traefik\n  tag: v3.6\n"), P, "image"),
        (
            helm_chart_config(
                values="image:\n  registry: ghcr.io\n  repository: evil/traefik\n  digest: " + DIGEST + "\n"
            ),
            A,
            "ghcr.io",
        ),
        (upgrade_plan(), P, "rancher/k3s-upgrade:v1.34.6-k3s1"),
        (upgrade_plan(image="ghcr.io/evil/k3s-upgrade@" + DIGEST), A, "spec.upgrade"),
        (
            resource(
                "kubernetes:helm.sh/v3:Release",
                "ccm",
                {
                    "chart": "hcloud-cloud-controller-manager",
                    "version": "1.35.0",
                    "namespace": "kube-system",
                    "values": {"image": {"tag": "v1.35.0"}},
                },
            ),
            P,
            "values image",
        ),
        (
            resource(
                "kubernetes:helm.sh/v3:Release",
                "x",
                {
                    "chart": "x",
                    "version": "1.0.0",
                    "namespace": "kube-system",
                    "valueYamlFiles": [{"path": "values.yaml"}],
                },
            ),
            P,
            "valueYamlFiles",
        ),
    ],
)
def test_images_inside_custom_resources_and_values(r: dict[str, Any], policy: str, expected: str) -> None:
    msgs = check(policy, r, ALLOWED if policy == A else None)
    assert any(expected in m for m in msgs), msgs


def test_custom_resource_image_neighbours() -> None:
    pinned = f"docker.io/rancher/k3s-upgrade@{DIGEST}"
    assert check(P, upgrade_plan(image=pinned)) == [] and check(A, upgrade_plan(image=pinned), ALLOWED) == []
    assert check(P, helm_chart()) == []  # a chart without image overrides
    assert check(P, helm_chart_config()) == []  # Traefik's values set no image
    csi = "controller:\n  image:\n    hcloudCSIDriver:\n      name: docker.io/hetznercloud/hcloud-csi-driver\n"
    assert check(P, helm_chart(valuesContent=csi)) == []  # no image key holds a reference here
    full = f"image:\n  registry: docker.io\n  repository: rancher/mirrored-library-traefik\n  tag: '3.6.9'\n  digest: {DIGEST}\n"
    assert check(P, helm_chart_config(values=full)) == [] and check(A, helm_chart_config(values=full), ALLOWED) == []


def test_signatures_checked_inside_values(tmp_path: Path) -> None:
    cosign, log = make_fake_cosign(tmp_path)
    cfg = {"registries": ["gitea.treytartt.com"], "publicKey": PUBLIC_KEY, "cosignPath": str(cosign)}
    bad = helm_chart(valuesContent=f"image: gitea.treytartt.com/admin/worker@{UNSIGNED}\n")
    msgs = check("container-images-signed", bad, cfg)
    assert len(msgs) == 1 and "no signatures found" in msgs[0]
    good = helm_chart(valuesContent=f"image: gitea.treytartt.com/admin/worker@{DIGEST}\n")
    assert check("container-images-signed", good, cfg) == []
    assert f"gitea.treytartt.com/admin/worker@{DIGEST}" in log.read_text()


@pytest.mark.parametrize(
    ("values", "expected"),
    [
        ("securityContext:\n  privileged: true\n", "privileged"),
        ("podSecurityContext:\n  seccompProfile:\n    type: Unconfined\n", "Unconfined"),
        ("hostPID: true\n", "hostPID"),
        ("ports:\n  metrics:\n    hostPort: 9100\n", "hostPort"),
        ("securityContext:\n  capabilities:\n    add: [SYS_ADMIN]\n", "SYS_ADMIN"),
        ("extraVolumes:\n  - name: root\n    hostPath:\n      path: /\n", "hostPath"),
        ("securityContext:\n  allowPrivilegeEscalation: true\n", "allowPrivilegeEscalation"),
        ("securityContext:\n  procMount: Unmasked\n", "procMount"),
    ],
)
def test_pod_settings_in_values_caught(values: str, expected: str) -> None:
    for r in (
        helm_chart(valuesContent=values),
        helm_chart_config("kyverno", "kyverno", values),
        resource(
            "kubernetes:helm.sh/v3:Release",
            "r",
            {
                "chart": "x",
                "version": "1.0.0",
                "namespace": "apps",
                "name": "r",
                "values": __import__("yaml").safe_load(values),
            },
        ),
    ):
        msgs = check(H, r)
        assert any(expected in m for m in msgs), (r["type"], msgs)


# --- class 2: exemptions by Kubernetes identity -----------------------------------------------


def test_traefik_exemption_matches_identity_not_pulumi_name() -> None:
    assert check(H, helm_chart_config()) == []  # kube-system/traefik: hostNetwork + NET_BIND_SERVICE
    # The same values anywhere else are refused: another namespace, another name ...
    assert any("hostNetwork" in m for m in check(H, helm_chart_config(namespace="default")))
    assert any("hostNetwork" in m for m in check(H, helm_chart_config(name="traefik-2")))
    # ... and a Pulumi logical name that looks like the exempt identity buys nothing.
    impostor = helm_chart_config(name="miner", namespace="honeydue", pulumi_name="kube-system/traefik")
    assert any("hostNetwork" in m for m in check(H, impostor))
    impostor = helm_chart_config(name="miner", namespace="honeydue", pulumi_name="traefik")
    assert any("hostNetwork" in m for m in check(H, impostor))
    # The exemption covers hostNetwork, not privileged.
    assert any("privileged" in m for m in check(H, helm_chart_config(values=TRAEFIK_VALUES + "  privileged: true\n")))


def csi_node_daemonset(namespace: str = "kube-system", kind: str = "DaemonSet") -> dict[str, Any]:
    """The hcloud CSI node plugin's shape: privileged, hostPath to the kubelet, root."""
    c = container("hcloud-csi-driver", image=f"docker.io/hetznercloud/hcloud-csi-driver@{DIGEST}")
    c["securityContext"] = {"privileged": True, "capabilities": {"drop": ["ALL"]}, "runAsUser": 0}
    c["volumeMounts"] = [{"name": "kubelet-dir", "mountPath": "/var/lib/kubelet", "mountPropagation": "Bidirectional"}]
    spec = pod_spec(
        containers=[c],
        securityContext={},
        volumes=[
            {"name": "kubelet-dir", "hostPath": {"path": "/var/lib/kubelet", "type": "Directory"}},
            {"name": "device-dir", "hostPath": {"path": "/dev", "type": "Directory"}},
        ],
    )
    return workload(kind, spec, "hcloud-csi-node", namespace)


def test_csi_node_plugin_exemption() -> None:
    assert check(H, csi_node_daemonset()) == []
    assert len(check(H, csi_node_daemonset(namespace="honeydue"))) >= 4  # privileged, 2 hostPaths, root ...
    assert check(H, csi_node_daemonset(kind="Deployment"))  # the exemption names the DaemonSet kind
    bare = csi_node_daemonset()
    del bare["inputs"]["metadata"]["namespace"]  # no namespace: the provider's ("default" here)
    assert check(H, bare)
    hostpid = csi_node_daemonset()
    hostpid["inputs"]["spec"]["template"]["spec"]["hostPID"] = True
    assert [m for m in check(H, hostpid)] == [
        "DaemonSet kube-system/hcloud-csi-node: hostPID: true shares the node's namespace"
    ]


def with_sc(
    container_sc: dict[str, Any] | None = None, pod_sc: dict[str, Any] | None = None, **pod: Any
) -> dict[str, Any]:
    c = container()
    c["securityContext"].update(container_sc or {})
    return workload(
        "Deployment", pod_spec(containers=[c], securityContext={"runAsNonRoot": True, **(pod_sc or {})}, **pod)
    )


@pytest.mark.parametrize(
    ("r", "expected"),
    [
        (with_sc({"seccompProfile": {"type": "Unconfined"}}), "seccompProfile.type is Unconfined"),
        (with_sc(pod_sc={"seccompProfile": {"type": "Unconfined"}}), "pod securityContext.seccompProfile"),
        (with_sc({"appArmorProfile": {"type": "Unconfined"}}), "appArmorProfile.type is Unconfined"),
        (with_sc(pod_sc={"appArmorProfile": {"type": "unconfined"}}), "appArmorProfile"),
        (with_sc({"procMount": "Unmasked"}), "procMount is 'Unmasked'"),
        (with_sc({"capabilities": {"drop": ["ALL"], "add": ["SYS_ADMIN"]}}), "'SYS_ADMIN'"),
        (with_sc({"capabilities": {"drop": ["ALL"], "add": ["CAP_SYS_PTRACE"]}}), "'CAP_SYS_PTRACE'"),
        (with_sc({"capabilities": {"drop": ["ALL"], "add": ["ALL"]}}), "'ALL'"),
        (with_sc({"capabilities": {"drop": ["ALL"], "add": ["net_admin"]}}), "'net_admin'"),
        (with_sc({"capabilities": {"drop": ["ALL"], "add": "NET_ADMIN"}}), "not a list"),
        (with_sc({"windowsOptions": {"hostProcess": True}}), "hostProcess"),
    ],
)
def test_hardening_attack_shapes(r: dict[str, Any], expected: str) -> None:
    msgs = check(H, r)
    assert len(msgs) == 1 and expected in msgs[0], msgs


def test_host_port_and_annotations() -> None:
    c = container()
    c["ports"] = [{"containerPort": 8000}, {"containerPort": 9100, "hostPort": 9100}]
    msgs = check(H, workload("Deployment", pod_spec(containers=[c])))
    assert len(msgs) == 1 and "hostPort 9100" in msgs[0]
    d = workload("Deployment", pod_spec())
    d["inputs"]["spec"]["template"]["metadata"] = {
        "annotations": {"container.apparmor.security.beta.kubernetes.io/api": "unconfined"}
    }
    assert any("apparmor" in m for m in check(H, d))
    d["inputs"]["spec"]["template"]["metadata"] = {
        "annotations": {"seccomp.security.alpha.kubernetes.io/pod": "unconfined"}
    }
    assert any("seccomp" in m for m in check(H, d))


def test_hardening_legitimate_neighbours() -> None:
    ok = [
        with_sc({"seccompProfile": {"type": "RuntimeDefault"}}, {"seccompProfile": {"type": "RuntimeDefault"}}),
        with_sc({"appArmorProfile": {"type": "RuntimeDefault"}}),
        with_sc({"procMount": "Default"}),
        with_sc({"capabilities": {"drop": ["ALL"], "add": ["NET_BIND_SERVICE"]}}),
        with_sc({"capabilities": {"drop": ["all"], "add": ["CAP_NET_BIND_SERVICE"]}}),
    ]
    for r in ok:
        assert check(H, r) == [], r
    c = container()
    c["ports"] = [{"containerPort": 8000, "name": "http"}, {"containerPort": 9000, "hostPort": 0}]
    assert check(H, workload("Deployment", pod_spec(containers=[c]))) == []
    d = workload("Deployment", pod_spec())
    d["inputs"]["spec"]["template"]["metadata"] = {
        "annotations": {"container.apparmor.security.beta.kubernetes.io/api": "runtime/default"}
    }
    assert check(H, d) == []


def test_extra_capabilities_by_identity() -> None:
    d = with_sc({"capabilities": {"drop": ["ALL"], "add": ["NET_ADMIN"]}})
    cfg = {"exemptions": [{"namespace": "honeydue", "name": "api", "allow": [], "capabilities": ["NET_ADMIN"]}]}
    assert check(H, d, cfg) == []
    assert check(H, d, {"exemptions": [{"namespace": "other", "name": "api", "capabilities": ["NET_ADMIN"]}]})


# --- hostPath PersistentVolumes and their claims ----------------------------------------------

PV = "kubernetes:core/v1:PersistentVolume"
PVC = "kubernetes:core/v1:PersistentVolumeClaim"
C = "host-path-claims"


def pv(name: str = "data", source: dict[str, Any] | None = None, cls: str = "manual") -> dict[str, Any]:
    spec = {"capacity": {"storage": "10Gi"}, "accessModes": ["ReadWriteOnce"], "storageClassName": cls}
    spec.update(source if source is not None else {"hostPath": {"path": "/var/lib/data"}})
    return resource(PV, f"pv-{name}", {"metadata": {"name": name}, "spec": spec})


def pvc(name: str = "data", **spec: Any) -> dict[str, Any]:
    body = {"accessModes": ["ReadWriteOnce"], "resources": {"requests": {"storage": "10Gi"}}, **spec}
    return resource(PVC, f"pvc-{name}", {"metadata": {"name": name, "namespace": "honeydue"}, "spec": body})


def test_host_path_volumes_and_claims_caught() -> None:
    assert any("hostPath PersistentVolume" in m for m in check(H, pv()))
    patch = copy.deepcopy(pv())
    patch["type"] = PV + "Patch"
    assert any("hostPath PersistentVolume" in m for m in check(H, patch))
    for claim in (
        pvc(volumeName="data"),
        pvc(storageClassName="manual"),
        pvc(storageClassName="local-path"),
        pvc(volumeName="[unknown]"),
    ):
        out = check_stack(C, [pv(), claim], {"hostPathStorageClasses": ["local-path"]})
        assert len(out) == 1 and out[0][1] == claim["urn"], (claim["inputs"]["spec"], out)


def test_host_path_claims_neighbours() -> None:
    csi = pv("vol", {"csi": {"driver": "csi.hetzner.cloud", "volumeHandle": "123"}}, cls="hcloud-volumes")
    assert check(H, csi) == []
    stack = [pv(), csi, pvc("a", volumeName="vol"), pvc("b", storageClassName="hcloud-volumes"), pvc("c")]
    assert check_stack(C, stack, {"hostPathStorageClasses": ["local-path"]}) == []


# --- objects written inside a yaml/v2 ConfigGroup ----------------------------------------------


def config_group(**inputs: Any) -> dict[str, Any]:
    return resource("kubernetes:yaml/v2:ConfigGroup", "platform-suc", inputs)


def test_config_group_objects_are_judged() -> None:
    """yaml/v2 is a remote component: offline its children never exist as resources, so the
    pack reads the objects from its inputs."""
    bad = workload("DaemonSet", pod_spec(hostPID=True))["inputs"]
    doc = {"apiVersion": "apps/v1", "kind": "DaemonSet", **bad}
    text = __import__("yaml").safe_dump_all([{"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "x"}}, doc])
    assert any("hostPID" in m for m in check(H, config_group(yaml=text)))
    assert any("hostPID" in m for m in check(H, config_group(objs=[doc])))
    unpinned = {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {"name": "p"},
        "spec": {"containers": [{"name": "c", "image": "ghcr.io/x/y:1"}]},
    }
    assert any("not pinned" in m for m in check(P, config_group(objs=[unpinned])))
    for unreadable in (
        config_group(yaml="kind: [oops"),
        config_group(yaml="[unknown]"),
        config_group(objs=[{"kind": "Pod"}]),
    ):
        assert any("not known" in m for m in check(P, unreadable)), unreadable["inputs"]
    # A compliant object inside passes; a default deny inside counts for its namespace.
    ok = {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        **workload("Deployment", compliant_spec("Deployment"))["inputs"],
    }
    assert check(H, config_group(objs=[ok])) == [] and check(P, config_group(objs=[ok])) == []
    deny = {
        "apiVersion": "networking.k8s.io/v1",
        "kind": "NetworkPolicy",
        "metadata": {"name": "default-deny", "namespace": "honeydue"},
        "spec": {"podSelector": {}, "policyTypes": ["Ingress", "Egress"]},
    }
    assert check_stack("namespaces-default-deny", [config_group(objs=[ok, deny])]) == []
    assert check_stack("namespaces-default-deny", [config_group(objs=[ok])])


def test_claims_inside_workloads() -> None:
    sts = workload("StatefulSet", compliant_spec("StatefulSet"))
    sts["inputs"]["spec"]["volumeClaimTemplates"] = [
        {"metadata": {"name": "data"}, "spec": {"storageClassName": "local-path"}}
    ]
    out = check_stack(C, [sts], {"hostPathStorageClasses": ["local-path"]})
    assert len(out) == 1 and "volumeClaimTemplates[0]" in out[0][0]
    eph = compliant_spec("Deployment")
    eph["volumes"] = [
        {"name": "scratch", "ephemeral": {"volumeClaimTemplate": {"spec": {"storageClassName": "manual"}}}}
    ]
    out = check_stack(C, [pv(), workload("Deployment", eph)])
    assert len(out) == 1 and "ephemeral volume 'scratch'" in out[0][0]
    sts["inputs"]["spec"]["volumeClaimTemplates"][0]["spec"]["storageClassName"] = "hcloud-volumes"
    assert check_stack(C, [sts], {"hostPathStorageClasses": ["local-path"]}) == []


@pytest.mark.parametrize("bad", [{"containers": {"name": "x"}}, {"volumes": {"hostPath": {}}}, "not a spec"])
def test_malformed_pod_specs_fail_closed(bad: Any) -> None:
    spec: Any = bad if isinstance(bad, str) else {**compliant_spec("Deployment"), **bad}
    assert any("fails closed" in m for m in check(H, workload("Deployment", spec)))


def test_helm_chart_install_job_settings() -> None:
    """The K3s HelmChart runs its own install job; its security contexts are pod settings too."""
    assert any("privileged" in m for m in check(H, helm_chart(securityContext={"privileged": True})))
    assert any(
        "Unconfined" in m for m in check(H, helm_chart(podSecurityContext={"seccompProfile": {"type": "Unconfined"}}))
    )
    assert any("runAsUser is 0" in m for m in check(H, helm_chart(podSecurityContext={"runAsUser": 0})))
    hardened = helm_chart(
        securityContext={"allowPrivilegeEscalation": False, "capabilities": {"drop": ["ALL"]}},
        podSecurityContext={"runAsNonRoot": True, "seccompProfile": {"type": "RuntimeDefault"}},
    )
    assert check(H, hardened) == []
