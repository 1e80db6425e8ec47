#!/bin/bash
# Installs and starts K3s on first boot; cloud-init runs it from runcmd.
#   usage: honeydue-k3s-bootstrap K3S_VERSION PRIVATE_IP ROLE [PEER_PRIVATE_IP ...]
# ROLE is "bootstrap" (initialises etcd if no peer already holds the cluster) or "join".
# PEER_PRIVATE_IPs are the other servers, the bootstrap server first.
# It must not block on the rest of the cluster: every server is created at once, and a joiner's
# server may not answer yet. The unit is started with --no-block and systemd retries it.
set -euo pipefail

usage="usage: ${0##*/} K3S_VERSION PRIVATE_IP bootstrap|join [PEER_PRIVATE_IP ...]"
k3s_version=${1:?$usage}
private_ip=${2:?$usage}
role=${3:?$usage}
shift 3
peers=("$@")
case $role in bootstrap | join) ;; *) echo "$usage" >&2; exit 2 ;; esac

# Timing knobs, overridable so tests run in seconds. 300 s covers a slow DHCP on the private
# NIC with margin; the peer probe spans about a minute so a peer's short blip is not taken for
# "no cluster yet" (which, for the bootstrap role, would start a second cluster).
ip_wait_seconds=${HONEYDUE_IP_WAIT_SECONDS:-300}
probe_rounds=${HONEYDUE_PROBE_ROUNDS:-4}
probe_pause=${HONEYDUE_PROBE_PAUSE_SECONDS:-15}
install_attempts=${HONEYDUE_INSTALL_ATTEMPTS:-6}
backoff_seconds=${HONEYDUE_BACKOFF_SECONDS:-10}
root=${HONEYDUE_TEST_ROOT:-}

# Written by cloud-init (write_files); keep in sync with components/cloud_init.py.
readonly sysctl_file=$root/etc/sysctl.d/90-kubelet.conf
readonly k3s_config=$root/etc/rancher/k3s/config.yaml
readonly dropin_dir=$root/etc/rancher/k3s/config.yaml.d
readonly server_dir=$root/var/lib/rancher/k3s/server
readonly api_port=6443

log() { printf '%s: %s\n' "${0##*/}" "$*" >&2; }
die() { log "ERROR: $*"; exit 1; }

[ -f "$k3s_config" ] || die "$k3s_config is missing (write_files did not run?)"

# 1. The private NIC. Hetzner configures it by DHCP, sometimes after runcmd starts, and its name
# depends on the server type (enp7s0, ens10, ...): find it by the address it holds.
waited=0
until private_if=$(ip -o -4 addr show to "$private_ip" | awk '{print $2; exit}') && [ -n "$private_if" ]; do
  if [ "$waited" -ge "$ip_wait_seconds" ]; then
    die "private IP $private_ip is not configured on any interface after ${ip_wait_seconds}s; is the server attached to the private network?"
  fi
  if [ $((waited % 30)) -eq 0 ]; then
    log "waiting for private IP $private_ip on any interface (${waited}s of ${ip_wait_seconds}s)"
  fi
  sleep 2
  waited=$((waited + 2))
done
log "private IP $private_ip is on $private_if (waited ${waited}s)"

# K3s takes flannel's interface only from flannel-iface; without it the WireGuard overlay binds
# to the default-route (public) NIC, whose UDP ports the Hetzner firewall closes.
install -d -m 0700 "$dropin_dir"
printf 'flannel-iface: %s\n' "$private_if" >"$dropin_dir/10-flannel-iface.yaml"
chmod 0600 "$dropin_dir/10-flannel-iface.yaml"

# 2. Join or initialise. A peer holds our cluster when its /cacerts contains the root CA whose
# sha256 the token carries (K10<hash>::...; K3s pkg/clientaccess/token.go checks the same).
# A server rebuilt after losing its disk, the bootstrap server included, thus joins a healthy
# peer; cluster-init on an empty data dir would start a second cluster (pkg/cluster/bootstrap.go).
token_hash=$(sed -n 's/^token: K10\([0-9a-f]\{64\}\)::.*/\1/p' "$k3s_config")
[ -n "$token_hash" ] || die "no secure token (K10<sha256>::server:...) in $k3s_config"

# holds_cluster PEER: true if the peer serves a CA bundle that contains our root.
holds_cluster() {
  local body
  body=$(curl -fsk --connect-timeout 3 --max-time 5 "https://$1:$api_port/cacerts") || return 1
  printf '%s' "$body" | python3 -c '
import hashlib, re, ssl, sys
pems = re.findall(r"-----BEGIN CERTIFICATE-----.*?-----END CERTIFICATE-----", sys.stdin.read(), re.S)
hashes = {hashlib.sha256(ssl.PEM_cert_to_DER_cert(p)).hexdigest() for p in pems}
sys.exit(0 if sys.argv[1] in hashes else 1)' "$token_hash"
}

join_peer=""
rounds=$probe_rounds
if [ "$role" = join ]; then
  # A joiner that finds no holder falls back to the bootstrap server, which is safe: one round.
  rounds=1
fi
for ((round = 1; round <= rounds && ${#peers[@]} > 0; round++)); do
  for peer in "${peers[@]}"; do
    if holds_cluster "$peer"; then
      join_peer=$peer
      break 2
    fi
  done
  if [ "$round" -lt "$rounds" ]; then sleep "$probe_pause"; fi
done

join_file=$dropin_dir/20-join.yaml
if [ -n "$join_peer" ]; then
  printf 'server: https://%s:%s\n' "$join_peer" "$api_port" >"$join_file"
  log "peer $join_peer holds the cluster: joining it"
elif [ "$role" = bootstrap ]; then
  printf 'cluster-init: true\n' >"$join_file"
  log "no peer holds the cluster: initialising etcd"
else
  printf 'server: https://%s:%s\n' "${peers[0]}" "$api_port" >"$join_file"
  log "no peer answers yet: joining the bootstrap server ${peers[0]} (k3s retries until it does)"
fi
chmod 0600 "$join_file"

# 3. protect-kernel-defaults: the kubelet refuses to start unless these are already in force.
sysctl -p "$sysctl_file"

# Audit log directory, and no world access to the CA material (bootstrap server only).
install -d -m 0700 "$server_dir" "$server_dir/logs"
if [ -d "$server_dir/tls" ]; then
  find "$server_dir/tls" -type d -exec chmod 0700 {} +
fi

# 4. Install. The installer is taken from the tag of the pinned release, so a newer install.sh
# never installs this version differently; it verifies the binary's sha256 against that
# release. The installer downloads the binary with a plain curl, so the whole install is
# retried with exponential backoff, not only the installer's own download.
installer=$(mktemp)
trap 'rm -f "$installer"' EXIT
attempt=1
delay=$backoff_seconds
until curl -fsSL --retry 5 --retry-all-errors --connect-timeout 10 \
  -o "$installer" "https://raw.githubusercontent.com/k3s-io/k3s/${k3s_version}/install.sh" &&
  INSTALL_K3S_VERSION="$k3s_version" INSTALL_K3S_EXEC=server INSTALL_K3S_SKIP_START=true \
    sh "$installer"; do
  # SKIP_START: on a joiner whose server is not up yet the installer's own start would fail.
  if [ "$attempt" -ge "$install_attempts" ]; then
    die "k3s $k3s_version install failed $attempt times"
  fi
  log "k3s install attempt $attempt failed; retrying in ${delay}s"
  sleep "$delay"
  attempt=$((attempt + 1))
  delay=$((delay * 2))
done

systemctl enable k3s && systemctl start --no-block k3s
log "k3s $k3s_version installed; k3s.service started without waiting (journalctl -u k3s)"
