"""honeydue infrastructure: load config once, build the components, export the outputs."""

from __future__ import annotations

import pulumi
import pulumi_cloudflare as cloudflare
import pulumi_hcloud as hcloud

from components.app import HoneydueApp, HoneydueAppArgs
from components.cluster import K3sCluster, K3sClusterArgs, K3sSettings
from components.config import ConfigError, load_config
from components.edge import CloudflareEdge, CloudflareEdgeArgs
from components.firewall import ClusterFirewall, ClusterFirewallArgs
from components.monitor import MonitorCluster, UptimeMonitor, UptimeMonitorArgs
from components.network import PrivateNetwork, PrivateNetworkArgs
from components.platform import ClusterPlatform, ClusterPlatformArgs
from components.runtime import raw_config
from components.secrets import read_monitor_webhook_url, read_secrets

try:
    cfg = load_config(raw_config())
except ConfigError as exc:
    # RunError: the engine prints the message alone, no traceback; nothing is registered.
    raise pulumi.RunError(str(exc)) from None
secrets = read_secrets(cfg)

hcloud_provider = hcloud.Provider("hcloud", token=secrets.hcloud_token)
hetzner = pulumi.ResourceOptions(providers=[hcloud_provider])

network = PrivateNetwork(
    "net",
    PrivateNetworkArgs(
        environment=cfg.environment,
        network_cidr=cfg.network.private_network_cidr,
        subnet_cidr=cfg.network.private_subnet_cidr,
        network_zone=cfg.network.network_zone,
        server_locations=tuple(s.location for s in cfg.cluster.servers),
        protect=cfg.protect,
    ),
    hetzner,
)

# The uptime monitor's addresses come first: the cluster firewall admits them to the API port.
monitor = None
if cfg.monitor is not None:
    monitor = UptimeMonitor(
        "monitor",
        UptimeMonitorArgs(
            environment=cfg.environment,
            settings=cfg.monitor,
            image=cfg.cluster.server_image,
            names=cfg.names,
            access=cfg.access,
            protect=cfg.protect,
            network_id=network.network_id,
            subnet=network.subnet,
        ),
        hetzner,
    )

cloudflare_provider = cloudflare.Provider("cloudflare", api_token=secrets.cloudflare_api_token)

firewall = ClusterFirewall(
    "fw",
    ClusterFirewallArgs(
        environment=cfg.environment,
        admin_cidrs=cfg.access.admin_cidrs,
        ssh_port=cfg.access.ssh_port,
        allow_icmp=cfg.access.allow_icmp,
        api_probe_cidrs=monitor.probe_cidrs if monitor else [],
    ),
    pulumi.ResourceOptions(providers=[hcloud_provider, cloudflare_provider]),
)

cluster = K3sCluster(
    "k3s",
    K3sClusterArgs(
        environment=cfg.environment,
        servers=cfg.cluster.servers,
        server_type=cfg.cluster.server_type,
        server_image=cfg.cluster.server_image,
        kube_api_hostname=cfg.names.kube_api_hostname,
        k3s=K3sSettings(
            version=cfg.cluster.k3s_version,
            cluster_cidr=cfg.network.cluster_cidr,
            service_cidr=cfg.network.service_cidr,
            external_cloud_provider=cfg.platform.ccm,
            etcd_snapshot_cron=cfg.cluster.etcd_snapshot_cron,
            etcd_snapshot_retention=cfg.cluster.etcd_snapshot_retention,
            etcd_s3=cfg.cluster.etcd_s3,
        ),
        network_id=network.network_id,
        subnet=network.subnet,
        firewall_ids=(firewall.firewall_id, firewall.ci_firewall_id),
        placement_group_ids=network.placement_group_ids,
        access=cfg.access,
        protect=cfg.protect,
        etcd_s3_access_key=secrets.etcd_s3.access_key if secrets.etcd_s3 else None,
        etcd_s3_secret_key=secrets.etcd_s3.secret_key if secrets.etcd_s3 else None,
    ),
    hetzner,
)

edge = CloudflareEdge(
    "edge",
    CloudflareEdgeArgs.from_config(
        cfg,
        server_ipv4s=list(cluster.public_ipv4s.values()),
        server_ipv6s=list(cluster.public_ipv6s.values()),
    ),
    pulumi.ResourceOptions(providers=[cloudflare_provider]),
)

if monitor is not None:
    monitor.start(
        MonitorCluster(
            ssh_key_ids=cluster.ssh_key_ids,
            kube_api_ca_pem=cluster.server_ca_pem,
            smtp_password=secrets.app["EMAIL_HOST_PASSWORD"],
            webhook_url=read_monitor_webhook_url(),
        )
    )
    # For the cluster's Alertmanager (its Watchdog receiver) and for tools/monitor-push.sh.
    pulumi.export(
        "monitor",
        {
            "hostname": monitor.hostname,
            "ipv4": monitor.addresses.public_ipv4,
            "ipv6": monitor.addresses.public_ipv6,
            "privateIp": monitor.private_ip,
            "sshUser": cfg.access.admin_user,
            "sshPort": cfg.access.ssh_port,
            "watchdogUrl": monitor.watchdog_url,
        },
    )
    pulumi.export("monitorWatchdogToken", monitor.watchdog_token)
    pulumi.export("monitorConfigBundle", monitor.bundle)

heartbeat = monitor is not None and cfg.monitor is not None and cfg.monitor.cluster_watchdog
platform = ClusterPlatform(
    "platform",
    ClusterPlatformArgs(
        platform=cfg.platform,
        k3s_version=cfg.cluster.k3s_version,
        node_count=len(cfg.cluster.servers),
        cluster_cidr=cfg.network.cluster_cidr,
        private_network_cidr=cfg.network.private_network_cidr,
        hcloud_token=secrets.hcloud_token,
        network_id=network.network_id,
        cloudflare_cidrs=firewall.cloudflare_cidrs,
        origin_cert_pem=edge.origin_cert_pem,
        origin_key_pem=edge.origin_key_pem,
        origin_pull_ca_pem=edge.origin_pull_ca_pem,
        origin_pulls=edge.origin_pulls,
        registry_password=secrets.registry_password,
        # The heartbeat the other way: the cluster's Alertmanager posts its Watchdog to the monitor.
        watchdog_url=monitor.watchdog_url_text if heartbeat else None,
        watchdog_token=monitor.watchdog_token if heartbeat else None,
    ),
    # The gated provider: its kubeconfig exists only once every server is Ready.
    pulumi.ResourceOptions(providers=[cluster.k8s_provider]),
)

app = HoneydueApp(
    "app",
    HoneydueAppArgs.from_config(cfg, secrets.app, registry_password=secrets.registry_password, after=[platform]),
    pulumi.ResourceOptions(providers=[cluster.k8s_provider]),
)

pulumi.export("serverNames", cluster.server_names)
pulumi.export("publicIpv4", cluster.public_ipv4s)
pulumi.export("publicIpv6", cluster.public_ipv6s)
pulumi.export("privateIps", cluster.private_ips)
pulumi.export("apiEndpoint", cluster.api_endpoint)
pulumi.export("ciFirewallId", firewall.ci_firewall_id)
pulumi.export("kubeconfig", cluster.kubeconfig)
pulumi.export("urls", edge.urls)
pulumi.export("zoneId", edge.zone_id)
pulumi.export("originCertificateExpiry", edge.origin_cert_expires_on)
pulumi.export("ingressMiddlewares", platform.middleware_refs)
pulumi.export("appNamespace", app.namespace)
pulumi.export("migrationJob", app.migration_job_name)
