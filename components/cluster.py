"""K3sCluster: PKI, primary IPs, servers bootstrapped by cloud-init, kubeconfig, readiness gate.

No server depends on another server: every address is known before any server exists (static
private IPs from config, public addresses from Primary IPs created first), so all servers are
created at once; joiners point at the first server's private IP and K3s retries under systemd.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import pulumi
import pulumi_hcloud as hcloud
import yaml

from components.base import labels, type_token
from components.cloud_init import EtcdS3, NodeBootstrap, render_user_data
from components.config import EtcdS3Target, Server
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
    firewall_id: pulumi.Input[int]
    placement_group_ids: Mapping[str, pulumi.Input[int]]
    ssh_port: int
    admin_user: str
    ssh_public_keys: tuple[str, ...]
    protect: bool
    etcd_s3_access_key: pulumi.Input[str] | None = None
    etcd_s3_secret_key: pulumi.Input[str] | None = None


def kubeconfig(cluster: str, server_url: str, ca_pem: str, cert_pem: str, key_pem: str) -> str:
    """An admin kubeconfig from the Pulumi-made admin client certificate."""
    import base64

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
    public_ips: Mapping[str, tuple[str, str]],
    ca_files: list[tuple[str, str]],
    s3_keys: tuple[str, str] | None,
) -> NodeBootstrap:
    """Resolved values -> the renderer's input for one node (pure)."""
    first = args.servers[0]
    sans = [args.kube_api_hostname]
    for s in args.servers:
        v4, v6 = public_ips[s.name]
        sans += [v4, v6, s.private_ip] if v6 else [v4, s.private_ip]
    etcd_s3 = None
    if args.k3s.etcd_s3 is not None and s3_keys is not None:
        t = args.k3s.etcd_s3
        etcd_s3 = EtcdS3(
            endpoint=t.endpoint,
            bucket=t.bucket,
            folder=t.folder,
            region=t.region,
            access_key=s3_keys[0],
            secret_key=s3_keys[1],
        )
    v4, v6 = public_ips[server.name]
    return NodeBootstrap(
        hostname=server_hostname(args.environment, server),
        k3s_version=args.k3s.version,
        token=token,
        private_ip=server.private_ip,
        public_ipv4=v4,
        public_ipv6=v6,
        server_url=None if server.first else f"https://{first.private_ip}:{KUBE_API_PORT}",
        tls_sans=tuple(sans),
        cluster_cidr=args.k3s.cluster_cidr,
        service_cidr=args.k3s.service_cidr,
        external_cloud_provider=args.k3s.external_cloud_provider,
        ca_files=tuple(ca_files) if server.first else (),
        etcd_snapshot_cron=args.k3s.etcd_snapshot_cron,
        etcd_snapshot_retention=args.k3s.etcd_snapshot_retention,
        etcd_s3=etcd_s3,
        ssh_port=args.ssh_port,
        admin_user=args.admin_user,
        ssh_authorized_keys=args.ssh_public_keys,
    )


def first_host(ipv6_network: str) -> str:
    """The address Hetzner gives a server on its IPv6 /64: the network's first host."""
    return str(ipaddress.IPv6Network(ipv6_network)[1])


def server_hostname(environment: str, server: Server) -> str:
    return f"honeydue-{environment}-{server.name}"


class K3sCluster(pulumi.ComponentResource):
    server_names: list[str]
    public_ipv4s: dict[str, pulumi.Output[str]]
    public_ipv6s: dict[str, pulumi.Output[str]]
    private_ips: dict[str, str]
    api_endpoint: str
    kubeconfig: pulumi.Output[str]
    ready: ClusterReady
    servers: list[hcloud.Server]

    def __init__(self, name: str, args: K3sClusterArgs, opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__(type_token("cluster", "K3sCluster"), name, None, opts)
        child = pulumi.ResourceOptions(parent=self)
        guarded = pulumi.ResourceOptions(parent=self, protect=args.protect)
        pki = ClusterPki(f"{name}-pki", ClusterPkiArgs(cluster_name=f"honeydue-{args.environment}"), child)

        ssh_keys = [
            hcloud.SshKey(
                f"{name}-ssh-key-{i}",
                name=f"honeydue-{args.environment}-{i}",
                public_key=key,
                labels=labels(args.environment, "operator"),
                opts=child,
            )
            for i, key in enumerate(args.ssh_public_keys)
        ]

        # Primary IPs first: every node's public address is then known before any server exists
        # (tls-san, node-external-ip, DNS) and survives a server rebuild.
        ipv4: dict[str, hcloud.PrimaryIp] = {}
        ipv6: dict[str, hcloud.PrimaryIp] = {}
        for s in args.servers:
            for family, table in (("ipv4", ipv4), ("ipv6", ipv6)):
                table[s.name] = hcloud.PrimaryIp(
                    f"{name}-{s.name}-{family}",
                    name=f"{server_hostname(args.environment, s)}-{family}",
                    type=family,
                    location=s.location,
                    assignee_type="server",
                    auto_delete=False,
                    delete_protection=args.protect,
                    labels=labels(args.environment, "k3s-server"),
                    opts=guarded,
                )
        self.public_ipv4s = {n: ip.ip_address for n, ip in ipv4.items()}
        # An IPv6 Primary IP is a /64 and its ip_address is the network address; the server
        # answers on the first host of it (::1).
        self.public_ipv6s = {n: ip.ip_network.apply(first_host) for n, ip in ipv6.items()}
        self.private_ips = {s.name: s.private_ip for s in args.servers}
        all_ips = pulumi.Output.from_input({n: pulumi.Output.all(ipv4[n].ip_address, ipv6[n].ip_address) for n in ipv4})

        s3_keys: pulumi.Output[Any] = pulumi.Output.from_input(None)
        if args.etcd_s3_access_key is not None and args.etcd_s3_secret_key is not None:
            s3_keys = pulumi.Output.all(args.etcd_s3_access_key, args.etcd_s3_secret_key)

        inputs = pulumi.Output.all(pki.token, all_ips, pki.ca_files, s3_keys)

        def user_data_of(server: Server) -> pulumi.Output[str]:
            def render(v: list[Any]) -> str:
                ips = {k: (ip[0], ip[1]) for k, ip in v[1].items()}
                keys = (v[3][0], v[3][1]) if v[3] else None
                return render_user_data(node_bootstrap(server, args, v[0], ips, v[2], keys))

            return pulumi.Output.secret(inputs.apply(render))

        self.servers = []
        for s in args.servers:
            user_data = user_data_of(s)
            self.servers.append(
                hcloud.Server(
                    f"{name}-server-{s.name}",
                    name=server_hostname(args.environment, s),
                    server_type=args.server_type,
                    image=args.server_image,
                    location=s.location,
                    placement_group_id=args.placement_group_ids.get(s.location),
                    networks=[hcloud.ServerNetworkArgs(network_id=args.network_id, ip=s.private_ip)],
                    public_nets=[
                        hcloud.ServerPublicNetArgs(
                            ipv4_enabled=True,
                            ipv4=ipv4[s.name].id.apply(int),
                            ipv6_enabled=True,
                            ipv6=ipv6[s.name].id.apply(int),
                        )
                    ],
                    firewall_ids=[args.firewall_id],
                    ssh_keys=[k.id for k in ssh_keys],
                    user_data=user_data,
                    labels={**labels(args.environment, "k3s-server"), "k3s-first": str(s.first).lower()},
                    delete_protection=args.protect,
                    rebuild_protection=args.protect,
                    opts=pulumi.ResourceOptions(
                        parent=self,
                        protect=args.protect,
                        depends_on=[args.subnet],
                        # A config edit must never replace a server: Hetzner replaces on any
                        # user_data/ssh_keys change and on an image change, which would wipe an
                        # etcd member. Day-2 changes go through Kubernetes (HelmChartConfig,
                        # upgrade Plans), not cloud-init.
                        ignore_changes=["user_data", "image", "ssh_keys"],
                    ),
                )
            )
        self.server_names = [server_hostname(args.environment, s) for s in args.servers]

        self.api_endpoint = f"https://{args.kube_api_hostname}:{KUBE_API_PORT}"
        self.kubeconfig = pulumi.Output.secret(
            pulumi.Output.all(pki.server_ca_bundle_pem, pki.admin_cert_pem, pki.admin_key_pem).apply(
                lambda v: kubeconfig(f"honeydue-{args.environment}", self.api_endpoint, v[0], v[1], v[2])
            )
        )
        # The gate asks the first server by IP (in the API cert's SANs), so it does not wait for
        # DNS; the machine running `pulumi up` must be inside adminCidrs to reach 6443.
        first_ipv4 = ipv4[args.servers[0].name].ip_address
        self.ready = ClusterReady(
            f"{name}-ready",
            url=pulumi.Output.concat("https://", first_ipv4, f":{KUBE_API_PORT}/readyz"),
            ca_pem=pki.server_ca_bundle_pem,
            cert_pem=pki.admin_cert_pem,
            key_pem=pki.admin_key_pem,
            opts=pulumi.ResourceOptions(parent=self, depends_on=self.servers),
        )
        self.register_outputs(
            {
                "server_names": self.server_names,
                "api_endpoint": self.api_endpoint,
                "kubeconfig": self.kubeconfig,
            }
        )
