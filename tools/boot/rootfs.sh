#!/usr/bin/env bash
# Build (once) and cache the Debian 13 root filesystem the boot test boots; print its path.
#   usage: tools/boot/rootfs.sh BOOT_PACKAGE...
# BOOT_PACKAGE: what the node's user_data installs at boot (cloud-config `packages`). They are
# NOT installed in the image: their .debs (with dependencies and recommends) go to a local apt
# repository inside it, so cloud-init's package_update/packages really run at boot, offline.
# The image itself holds what a Hetzner debian-13 image has that the test needs.
# Cache key: IMAGE_FORMAT + the package lists (bump IMAGE_FORMAT when changing how the image is
# built); HONEYDUE_BOOT_CACHE sets the directory.
# The archive URI comes from this machine's own apt sources at run time (never named here).
set -euo pipefail
[ "$#" -ge 1 ] || { echo "usage: $0 BOOT_PACKAGE..." >&2; exit 2; }
boot_packages=("$@")
image_packages=(cloud-init openssh-server sudo iproute2 curl ca-certificates procps nftables
                apt-utils python3-apt)
cache=${HONEYDUE_BOOT_CACHE:-/var/cache/honeydue-boot}
readonly IMAGE_FORMAT=1
key=$( { echo "$IMAGE_FORMAT"; printf '%s\n' "${image_packages[@]}" -- "${boot_packages[@]}"; } | sha256sum | cut -c1-16)
root=$cache/rootfs-$key
if [ -f "$root/.honeydue-complete" ]; then echo "$root"; exit 0; fi

uri=$(awk '/^URIs:/{for(i=2;i<=NF;i++) if ($i ~ /\/debian\/?$/) {print $i; exit}}' \
        /etc/apt/sources.list.d/*.sources 2>/dev/null || true)
if [ -z "$uri" ] && [ -f /etc/apt/sources.list ]; then
  uri=$(awk '$1=="deb" && $2 ~ /\/debian\/?$/ {print $2; exit}' /etc/apt/sources.list)
fi
[ -n "$uri" ] || { echo "rootfs: no Debian archive URI in this machine's apt sources" >&2; exit 1; }

mkdir -p "$cache"
exec 9>"$cache/.lock"
flock 9  # one build at a time (parallel test runs share the cache)
if [ -f "$root/.honeydue-complete" ]; then echo "$root"; exit 0; fi
work=$(mktemp -d "$cache/build.XXXXXX")
cleanup() { umount -R "$work/root/proc" 2>/dev/null || true; rm -rf "$work"; }
trap cleanup EXIT
log() { printf 'rootfs: %s\n' "$*" >&2; }

log "debootstrap trixie into $work/root"
debootstrap --variant=minbase --include=systemd,systemd-sysv,dbus trixie "$work/root" "$uri" >"$work/debootstrap.log" 2>&1 \
  || { tail -n 30 "$work/debootstrap.log" >&2; exit 1; }
mount -t proc proc "$work/root/proc"
in_root() { chroot "$work/root" env DEBIAN_FRONTEND=noninteractive LC_ALL=C "$@"; }
# Debian's images do not start services from maintainer scripts inside a chroot build.
printf '#!/bin/sh\nexit 101\n' >"$work/root/usr/sbin/policy-rc.d"; chmod 0755 "$work/root/usr/sbin/policy-rc.d"
apt_log=$work/apt.log
in_root apt-get -q update >>"$apt_log" 2>&1 || { tail -n 30 "$apt_log" >&2; exit 1; }
in_root apt-get -q install -y --no-install-recommends "${image_packages[@]}" >>"$apt_log" 2>&1 \
  || { tail -n 30 "$apt_log" >&2; exit 1; }
in_root apt-get -qq clean
# The boot packages, as cloud-init will install them (apt-get install, recommends included).
in_root apt-get -q install -y --download-only "${boot_packages[@]}" >>"$apt_log" 2>&1 \
  || { tail -n 30 "$apt_log" >&2; exit 1; }
repo=/opt/honeydue-boot-repo
mkdir -p "$work/root$repo"
mv "$work/root"/var/cache/apt/archives/*.deb "$work/root$repo/"
in_root sh -c "cd $repo && apt-ftparchive packages . > Packages"
# The node's only apt source: that repository (there is no network inside the test).
rm -f "$work/root/etc/apt/sources.list" "$work/root"/etc/apt/sources.list.d/*
echo "deb [trusted=yes] file:$repo ./" >"$work/root/etc/apt/sources.list.d/honeydue-boot.list"
in_root apt-get -qq clean
rm -f "$work/root/usr/sbin/policy-rc.d"
umount "$work/root/proc"

# Test environment, standing in for what Hetzner's datasource and image provide:
# NoCloud seed only; networking is set up by the test, not by cloud-init; keep the repo source.
cat >"$work/root/etc/cloud/cloud.cfg.d/90-honeydue-boot-test.cfg" <<'CFG'
datasource_list: [ NoCloud, None ]
network: {config: disabled}
apt: {preserve_sources_list: true}
CFG
: >"$work/root/etc/machine-id"  # systemd makes one per boot
ls "$work/root$repo" | sed 's/_.*//' | tr '\n' ' ' | sed 's/^/rootfs: boot repository: /' >&2; echo >&2
touch "$work/root/.honeydue-complete"
mv "$work/root" "$root"
echo "$root"
