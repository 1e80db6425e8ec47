#!/bin/bash
# Installs and starts K3s on first boot; cloud-init runs it from runcmd.
#   usage: honeydue-k3s-bootstrap K3S_VERSION PRIVATE_IP
# It must not block on the rest of the cluster: every server is created at once, and a joiner's
# first server may not answer yet. The unit is started with --no-block and systemd retries it.
set -euo pipefail

usage="usage: ${0##*/} K3S_VERSION PRIVATE_IP"
k3s_version=${1:?$usage}
private_ip=${2:?$usage}
# Both overridable for tests only. 300 s covers a slow DHCP on the private NIC with margin.
ip_wait_seconds=${HONEYDUE_IP_WAIT_SECONDS:-300}
root=${HONEYDUE_TEST_ROOT:-}

# Written by cloud-init (write_files); keep in sync with components/cloud_init.py.
readonly sysctl_file=$root/etc/sysctl.d/90-kubelet.conf
readonly k3s_config=$root/etc/rancher/k3s/config.yaml
readonly server_dir=$root/var/lib/rancher/k3s/server

log() { printf '%s: %s\n' "${0##*/}" "$*" >&2; }
die() { log "ERROR: $*"; exit 1; }

[ -f "$k3s_config" ] || die "$k3s_config is missing (write_files did not run?)"

# The Hetzner private NIC is configured by DHCP, sometimes after runcmd starts. K3s binds
# node-ip and the etcd peer address to it, so it has to exist before the first start.
waited=0
until [ -n "$(ip -o addr show to "$private_ip")" ]; do
  if [ "$waited" -ge "$ip_wait_seconds" ]; then
    die "private IP $private_ip is not configured on any interface after ${ip_wait_seconds}s; is the server attached to the private network?"
  fi
  sleep 2
  waited=$((waited + 2))
done
log "private IP $private_ip is up (waited ${waited}s)"

# protect-kernel-defaults: the kubelet refuses to start unless these are already in force.
sysctl -p "$sysctl_file"

# Audit log directory, and no world access to the CA material (first server only).
install -d -m 0700 "$server_dir" "$server_dir/logs"
if [ -d "$server_dir/tls" ]; then
  find "$server_dir/tls" -type d -exec chmod 0700 {} +
fi

# The installer is taken from the tag of the pinned release, so a newer install.sh never
# installs this version differently; it verifies the binary's sha256 against that release.
installer=$(mktemp)
trap 'rm -f "$installer"' EXIT
curl -fsSL --retry 10 --retry-delay 5 --retry-all-errors --connect-timeout 10 \
  -o "$installer" "https://raw.githubusercontent.com/k3s-io/k3s/${k3s_version}/install.sh"

# SKIP_START: on a joiner whose first server is not up yet the installer's own start fails.
INSTALL_K3S_VERSION="$k3s_version" INSTALL_K3S_EXEC=server INSTALL_K3S_SKIP_START=true \
  sh "$installer"

systemctl enable k3s && systemctl start --no-block k3s
log "k3s $k3s_version installed; k3s.service started without waiting (journalctl -u k3s)"
