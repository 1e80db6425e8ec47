"""K3sCluster: PKI, primary IPs, servers bootstrapped by cloud-init, readiness gate, gated provider.

No server depends on another server: every address is known before any server exists (static
private IPs from config, public addresses from Primary IPs created first), so all servers are
created at once. On day one the joiners point at the bootstrap server's private IP and K3s
retries under systemd; a server rebuilt later joins whichever peer holds the cluster.

Everything that identifies a server (logical name, node name, private IP, role, Primary IPs,
SSH keys) is keyed by its own config entry or content, never by a list position.
"""

from __future__ import annotations

import base64
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import pulumi
import pulumi_hcloud as hcloud
import pulumi_kubernetes as kubernetes
import yaml

from components.base import type_token
from components.cloud_init import EtcdS3, NodeBootstrap, render_user_data
from components.config import Access, EtcdS3Target, Server
from components.host import (
    HardenedHost,
    HardenedHostArgs,
    UserData,
    ipv6_host_address,
    operator_ssh_keys,
    ssh_key_id,
)

# Re-exported: these helpers lived here before the host layer existed.
__all__ = ["K3sCluster", "K3sClusterArgs", "K3sSettings", "ipv6_host_address", "ssh_key_id"]
from components.pki import ClusterPki, ClusterPkiArgs
from components.readiness import ClusterReady

KUBE_API_PORT = 6443


@dataclass(frozen=True)
class K3sSettings:
    """Plain K3s settings shared by every node."""

    version: str
    cluster_cidr: str
    service_cidr: str
    external_cloud_provider: bool
    etcd_snapshot_cron: str
    etcd_snapshot_retention: int
    etcd_s3: EtcdS3Target | None


@dataclass(frozen=True)
class K3sClusterArgs:
    environment: str
    servers: tuple[Server, ...]
    server_type: str
    server_image: str
    kube_api_hostname: str
    k3s: K3sSettings
    network_id: pulumi.Input[int]
    subnet: pulumi.Resource
    """Servers attach to the network only once the subnet exists."""
    firewall_ids: tuple[pulumi.Input[int], ...]
    """The cluster firewall, and the CI-access firewall whose one rule CI opens per run."""
    placement_group_ids: Mapping[str, pulumi.Input[int]]
    access: Access
    """The operators' SSH port, admin user and keys (the Access config section)."""
    protect: bool
    etcd_s3_access_key: pulumi.Input[str] | None = None
    etcd_s3_secret_key: pulumi.Input[str] | None = None


def kubeconfig(cluster: str, server_url: str, ca_pem: str, cert_pem: str, key_pem: str) -> str:
    """An admin kubeconfig from the Pulumi-made admin client certificate."""

    def b64(text: str) -> str:
        return base64.b64encode(text.encode()).decode()

    doc: dict[str, Any] = {
        "apiVersion": "v1",
        "kind": "Config",
        "clusters": [{"name": cluster, "cluster": {"server": server_url, "certificate-authority-data": b64(ca_pem)}}],
        "users": [
            {
                "name": f"{cluster}-admin",
                "user": {"client-certificate-data": b64(cert_pem), "client-key-data": b64(key_pem)},
            }
        ],
        "contexts": [{"name": cluster, "context": {"cluster": cluster, "user": f"{cluster}-admin"}}],
        "current-context": cluster,
    }
    return yaml.safe_dump(doc, sort_keys=False)


def node_bootstrap(
    server: Server,
    args: K3sClusterArgs,
    token: str,
    public_ips: tuple[str, str],
    ca_files: list[tuple[str, str]],
    s3_keys: tuple[str, str] | None,
) -> NodeBootstrap:
    """Resolved values -> the renderer's input for one node (pure).

    `public_ips` is this server's (IPv4, IPv6 host address). Nothing here depends on another
    server's public addresses or on the list order: the peers are the other servers' static
    private IPs, the bootstrap server first and the rest by name.
    """
    v4, v6 = public_ips
    bootstrap = bootstrap_server(args.servers)
    others = sorted((s for s in args.servers if s.name != server.name and not s.bootstrap), key=lambda s: s.name)
    peers = ([] if server.bootstrap else [bootstrap.private_ip]) + [s.private_ip for s in others]
    etcd_s3 = None
    if args.k3s.etcd_s3 is not None and s3_keys is not None:
        t = args.k3s.etcd_s3
        etcd_s3 = EtcdS3(
            endpoint=t.endpoint,
            bucket=t.bucket,
            folder=t.folder,
            region=t.region,
            retention=t.retention,
            access_key=s3_keys[0],
            secret_key=s3_keys[1],
        )
    return NodeBootstrap(
        hostname=server_hostname(args.environment, server),
        k3s_version=args.k3s.version,
        token=token,
        private_ip=server.private_ip,
        public_ipv4=v4,
        public_ipv6=v6,
        bootstrap=server.bootstrap,
        peers=tuple(peers),
        # The API name (every server answers it) and this server's own addresses; K3s shares
        # one serving certificate between servers and merges every server's SANs into it.
        tls_sans=(args.kube_api_hostname, *(ip for ip in (v4, v6, server.private_ip) if ip)),
        cluster_cidr=args.k3s.cluster_cidr,
        service_cidr=args.k3s.service_cidr,
        external_cloud_provider=args.k3s.external_cloud_provider,
        ca_files=tuple(ca_files) if server.bootstrap else (),
        etcd_snapshot_cron=args.k3s.etcd_snapshot_cron,
        etcd_snapshot_retention=args.k3s.etcd_snapshot_retention,
        etcd_s3=etcd_s3,
        ssh_port=args.access.ssh_port,
        admin_user=args.access.admin_user,
        ssh_authorized_keys=args.access.ssh_public_keys,
    )


def bootstrap_server(servers: tuple[Server, ...]) -> Server:
    """The server that initialises etcd on day one (config: bootstrapServer)."""
    (chosen,) = (s for s in servers if s.bootstrap)
    return chosen


def server_hostname(environment: str, server: Server) -> str:
    return f"honeydue-{environment}-{server.name}"


class K3sCluster(pulumi.ComponentResource):
    server_names: list[str]
    public_ipv4s: dict[str, pulumi.Output[str]]
    public_ipv6s: dict[str, pulumi.Output[str]]
    private_ips: dict[str, str]
    api_endpoint: str
    kubeconfig: pulumi.Output[str]
    """The operator's kubeconfig (DNS name of the API); secret."""
    ready: ClusterReady
    k8s_provider: kubernetes.Provider
    """The provider every Kubernetes resource uses. Its kubeconfig is built from the readiness
    gate's output, so nothing reaches the cluster before every server is Ready."""
    servers: list[hcloud.Server]
    ssh_key_ids: list[pulumi.Output[str]]
    """The operator's Hetzner SSH keys; other hosts of the stack (the uptime monitor) reuse them."""
    server_ca_pem: pulumi.Output[str]
    """What clients of the API trust (server CA + root); public."""

    def __init__(self, name: str, args: K3sClusterArgs, opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__(type_token("cluster", "K3sCluster"), name, None, opts)
        child = pulumi.ResourceOptions(parent=self)
        pki = ClusterPki(
            f"{name}-pki", ClusterPkiArgs(cluster_name=f"honeydue-{args.environment}", protect=args.protect), child
        )

        ssh_keys = operator_ssh_keys(name, args.environment, args.access.ssh_public_keys, self)
        self.ssh_key_ids = [k.id for k in ssh_keys]

        s3_keys: pulumi.Output[Any] = pulumi.Output.from_input(None)
        if args.etcd_s3_access_key is not None and args.etcd_s3_secret_key is not None:
            s3_keys = pulumi.Output.all(args.etcd_s3_access_key, args.etcd_s3_secret_key)

        def user_data_of(server: Server) -> UserData:
            def user_data(ipv4: pulumi.Output[str], ipv6: pulumi.Output[str]) -> pulumi.Output[str]:
                def render(v: list[Any]) -> str:
                    keys = (v[4][0], v[4][1]) if v[4] else None
                    return render_user_data(node_bootstrap(server, args, v[0], (v[1], v[2]), v[3], keys))

                return pulumi.Output.all(pki.token, ipv4, ipv6, pki.ca_files, s3_keys).apply(render)

            return user_data

        # Each server is a hardened host (components/host.py) with K3s as its cloud-init layer.
        # The resource names are the ones this component always used: the URNs do not change.
        hosts = {
            s.name: HardenedHost(
                f"{name}-{s.name}",
                HardenedHostArgs(
                    environment=args.environment,
                    hostname=server_hostname(args.environment, s),
                    role="k3s-server",
                    location=s.location,
                    server_type=args.server_type,
                    image=args.server_image,
                    firewall_ids=list(args.firewall_ids),
                    ssh_key_ids=self.ssh_key_ids,
                    user_data=user_data_of(s),
                    protect=args.protect,
                    placement_group_id=args.placement_group_ids.get(s.location),
                    # alias_ips=[] spelled out: without it the network is detached and attached
                    # on every apply (pulumi-hcloud#170; the SDK's ServerNetworkArgs doc names
                    # terraform-provider-hcloud#650 and this workaround).
                    networks=[hcloud.ServerNetworkArgs(network_id=args.network_id, ip=s.private_ip, alias_ips=[])],
                    extra_labels={"k3s-bootstrap": str(s.bootstrap).lower()},
                    # Servers attach to the network only once the subnet exists.
                    depends_on=[args.subnet],
                ),
                parent=self,
                server_resource_name=f"{name}-server-{s.name}",
            )
            for s in args.servers
        }
        self.public_ipv4s = {n: h.public_ipv4 for n, h in hosts.items()}
        self.public_ipv6s = {n: h.public_ipv6 for n, h in hosts.items()}
        self.private_ips = {s.name: s.private_ip for s in args.servers}
        self.servers = [h.server for h in hosts.values()]
        self.server_names = [server_hostname(args.environment, s) for s in args.servers]

        self.server_ca_pem = pki.server_ca_bundle_pem
        self.api_endpoint = f"https://{args.kube_api_hostname}:{KUBE_API_PORT}"
        self.kubeconfig = pulumi.Output.secret(
            pulumi.Output.all(pki.server_ca_bundle_pem, pki.admin_cert_pem, pki.admin_key_pem).apply(
                lambda v: kubeconfig(f"honeydue-{args.environment}", self.api_endpoint, v[0], v[1], v[2])
            )
        )
        # The gate and the provider call the bootstrap server by IP: it is in the API cert's SANs
        # and known as soon as its Primary IP exists, while the API's DNS name is made later by
        # another component. The machine running `pulumi up` must be inside adminCidrs (6443).
        bootstrap_ipv4 = self.public_ipv4s[bootstrap_server(args.servers).name]
        self.ready = ClusterReady(
            f"{name}-ready",
            endpoint=pulumi.Output.concat("https://", bootstrap_ipv4, f":{KUBE_API_PORT}"),
            ca_pem=pki.server_ca_bundle_pem,
            cert_pem=pki.admin_cert_pem,
            key_pem=pki.admin_key_pem,
            nodes=sorted(self.server_names),
            opts=pulumi.ResourceOptions(parent=self, depends_on=self.servers),
        )
        # ready_nodes is set only when the gate passes (unknown in a first preview), so the
        # provider's kubeconfig, and every resource that uses the provider, waits for it.
        gated_kubeconfig: pulumi.Output[str] = pulumi.Output.all(
            self.ready.endpoint,
            self.ready.ready_nodes,
            pki.server_ca_bundle_pem,
            pki.admin_cert_pem,
            pki.admin_key_pem,
        ).apply(lambda v: kubeconfig(f"honeydue-{args.environment}", v[0], v[2], v[3], v[4]))
        gated_kubeconfig = pulumi.Output.secret(gated_kubeconfig)
        self.k8s_provider = kubernetes.Provider(
            f"{name}-k8s",
            kubeconfig=gated_kubeconfig,
            # Without a cluster there is nothing left to delete: a non-prod stack whose servers
            # are gone is destroyed without hanging on its Kubernetes resources
            # (pulumi-kubernetes#2517). Prod keeps the default: its state is never dropped.
            delete_unreachable=not args.protect,
            # Replace the provider (and with it every Kubernetes resource) only if this changes.
            # Without it pulumi-kubernetes replaces the provider whenever the kubeconfig is
            # unknown in a preview or its server URL changes (provider.go DiffConfig; #4019).
            cluster_identifier=f"honeydue-{args.environment}",
            opts=pulumi.ResourceOptions(parent=self),
        )
        self.register_outputs(
            {
                "server_names": self.server_names,
                "api_endpoint": self.api_endpoint,
                "kubeconfig": self.kubeconfig,
            }
        )
