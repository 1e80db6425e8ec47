#!/usr/bin/env bash
# Installs the offline validators that tests/test_cloud_init.py runs. Idempotent: on a machine
# that has them it only checks (well under a second); on a fresh Debian 12 (as root) it installs.
#   usage: tools/validators.sh            (VENV=path overrides the repo's .venv)
# Installs / provides:
#   - cloud-init 22.4.2 (Debian 12 apt): its Python schema API, run under /usr/bin/python3
#   - shellcheck, docker-registry, nftables (Debian 12 apt)
#   - the cloud-init cloud-config schema of Debian 13 (25.1.x), which flags unknown top-level
#     keys; extracted to $HONEYDUE_CACHE/cloud-init-schema/ (see tests/test_cloud_init.py)
#   - promtool, amtool and prometheus-blackbox-exporter of Debian 13 (the uptime monitor's own
#     versions), unpacked to $HONEYDUE_CACHE/monitor-tools/ (see tests/test_monitor.py)
#   - check-jsonschema, cryptography and kubernetes-validate in the venv (exact pins)
#   - network-config-analyzer and checkov, each in its own venv under $HONEYDUE_CACHE
set -euo pipefail

repo=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
venv=${VENV:-$repo/.venv}
cache=${HONEYDUE_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/honeydue}
schema_dir=$cache/cloud-init-schema
schema=$schema_dir/schema-cloud-config-v1.json

log() { printf 'validators: %s\n' "$*" >&2; }

as_root() {
  if [ "$(id -u)" -eq 0 ]; then "$@"; else sudo "$@"; fi
}

# Try without `apt-get update` first: on a machine whose lists are current it is seconds faster.
apt_install() {
  export DEBIAN_FRONTEND=noninteractive
  as_root apt-get install -y -qq --no-install-recommends "$@" ||
    { as_root apt-get update -qq && as_root apt-get install -y -qq --no-install-recommends "$@"; }
}

apt_missing=()
/usr/bin/python3 -c 'import cloudinit.config.schema' 2>/dev/null || apt_missing+=(cloud-init)
command -v shellcheck >/dev/null || apt_missing+=(shellcheck)
# The signature end-to-end test serves images from Debian's registry on a loopback port.
command -v docker-registry >/dev/null || apt_missing+=(docker-registry)
# tests/test_metadata_guard.py loads the node's nftables guard in namespaces it creates.
command -v nft >/dev/null || apt_missing+=(nftables)
# trixie-fetch.sh needs the archive keyring that knows Debian 13's signing keys.
[ -f /usr/share/keyrings/debian-archive-keyring.gpg ] || apt_missing+=(debian-archive-keyring)
if [ "${#apt_missing[@]}" -gt 0 ]; then
  log "apt-get install ${apt_missing[*]}"
  apt_install "${apt_missing[@]}"
fi

if [ ! -s "$schema" ]; then
  log "fetching the Debian 13 cloud-init schema"
  unpack=$(mktemp -d)
  trap 'rm -rf "$unpack"' EXIT
  deb=$(as_root env TRIXIE_CACHE="$cache/trixie" "$repo/tools/trixie-fetch.sh" cloud-init "$unpack")
  mkdir -p "$schema_dir"
  cp "$unpack/usr/lib/python3/dist-packages/cloudinit/config/schemas/schema-cloud-config-v1.json" \
    "$schema.tmp"
  # The version goes next to the schema (the tests print it); e.g. 25.1.4-1+deb13u1.
  dpkg-deb -f "$deb" Version >"$schema_dir/VERSION"
  mv "$schema.tmp" "$schema"
fi

# The uptime monitor's checkers: the Debian 13 packages its server installs at boot.
monitor_tools=$cache/monitor-tools
for pkg in promtool prometheus-alertmanager prometheus-blackbox-exporter; do
  if [ ! -s "$monitor_tools/$pkg/VERSION" ]; then
    log "fetching Debian 13 $pkg"
    rm -rf "$monitor_tools/$pkg"
    mkdir -p "$monitor_tools/$pkg"
    deb=$(as_root env TRIXIE_CACHE="$cache/trixie" "$repo/tools/trixie-fetch.sh" "$pkg" "$monitor_tools/$pkg")
    dpkg-deb -f "$deb" Version >"$monitor_tools/$pkg/VERSION"
  fi
done

[ -x "$venv/bin/python" ] || { log "no venv at $venv (create it first)"; exit 1; }
# One package per pip call: several in one call made pip backtrack into an unbuildable sdist.
pip_pin() {
  local module=$1 pin=$2
  if ! "$venv/bin/python" -c "import $module" 2>/dev/null; then
    log "pip install $pin"
    "$venv/bin/python" -m pip install -q "$pin"
  fi
}
pip_pin check_jsonschema check-jsonschema==0.39.0
pip_pin cryptography cryptography==50.0.2
pip_pin kubernetes_validate kubernetes-validate==1.37.0

# checkov and network-config-analyzer pin many packages that clash with the program's: each gets
# its own venv under the cache, kept across clones, rebuilt only when the pin changes (a
# `.complete` marker is written after a successful install). tests/test_app.py runs
# $cache/<name>-<version>/bin/<exe>.
tool_venv() {
  local name=$1 version=$2 dir=$cache/$1-$2
  if [ ! -f "$dir/.complete" ]; then
    log "pip install $name==$version (own venv at $dir)"
    rm -rf "$dir"
    python3 -m venv "$dir"
    "$dir/bin/python" -m pip install -q --disable-pip-version-check "$name==$version" || { rm -rf "$dir"; exit 1; }
    touch "$dir/.complete"
  fi
}
tool_venv network-config-analyzer 2.1.0
tool_venv checkov 3.3.30

log "ok: cloud-init $(/usr/bin/python3 -c 'import cloudinit.version as v; print(v.version_string())'), shellcheck $(shellcheck --version | awk '/^version:/{print $2}'), schema $(cat "$schema_dir/VERSION") at $schema, promtool $(cat "$monitor_tools/promtool/VERSION")"
