"""The stack's configuration, in sections (see stack.py); import from here."""

from components.config.access import CLUSTER_PORTS, Access
from components.config.app import AppConfig, BackupConfig
from components.config.base import (
    IMAGE_BY_DIGEST,
    PROJECT,
    ConfigError,
    Problem,
    SecretKey,
    cpu_millis,
    image_registry,
    is_dns_name,
    memory_bytes,
)
from components.config.cluster import Cluster, EtcdS3Target, Server
from components.config.edge import Edge, RateLimit
from components.config.identity import Identity
from components.config.monitor import MonitorSettings
from components.config.names import Names
from components.config.network import Network
from components.config.platform import ChartPin, Platform, RebootWindow
from components.config.stack import SECRETS, SECTIONS, StackConfig, declared_keys, load_config
from components.config.workloads import Resources, Workloads

__all__ = [
    "CLUSTER_PORTS",
    "IMAGE_BY_DIGEST",
    "PROJECT",
    "SECRETS",
    "SECTIONS",
    "Access",
    "AppConfig",
    "BackupConfig",
    "ChartPin",
    "Cluster",
    "ConfigError",
    "Edge",
    "EtcdS3Target",
    "Identity",
    "MonitorSettings",
    "Names",
    "Network",
    "Platform",
    "Problem",
    "RateLimit",
    "RebootWindow",
    "Resources",
    "SecretKey",
    "Server",
    "StackConfig",
    "Workloads",
    "cpu_millis",
    "declared_keys",
    "image_registry",
    "is_dns_name",
    "load_config",
    "memory_bytes",
]
