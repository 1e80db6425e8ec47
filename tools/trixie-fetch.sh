#!/usr/bin/env bash
# Download and unpack a Debian 13 (trixie) package on this Debian 12 machine WITHOUT touching
# the system's apt sources: a private sources list and private package lists under $CACHE.
# The archive URI is taken from the machine's own apt configuration at run time (the project
# never names a mirror host).
#   usage: tools/trixie-fetch.sh PACKAGE DEST_DIR     (unpacks the .deb into DEST_DIR)
set -euo pipefail
pkg=${1:?package name}; dest=${2:?destination dir}
cache=${TRIXIE_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/honeydue/trixie}
mkdir -p "$cache/sources" "$cache/lists/partial" "$cache/archives/partial" "$dest"

# First "URIs:" of a deb822 source whose URI path ends in /debian (the main archive, not security).
uri=$(awk '/^URIs:/{for(i=2;i<=NF;i++) if ($i ~ /\/debian\/?$/) {print $i; exit}}' \
        /etc/apt/sources.list.d/*.sources 2>/dev/null || true)
if [ -z "$uri" ] && [ -f /etc/apt/sources.list ]; then
  uri=$(awk '$1=="deb" && $2 ~ /\/debian\/?$/ {print $2; exit}' /etc/apt/sources.list)
fi
[ -n "$uri" ] || { echo "trixie-fetch: no Debian archive URI found in this machine's apt sources" >&2; exit 1; }

cat > "$cache/sources/trixie.sources" <<SRC
Types: deb
URIs: $uri
Suites: trixie
Components: main
Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg
SRC
opts=(-o Dir::Etc::sourcelist=/dev/null -o Dir::Etc::sourceparts="$cache/sources"
      -o Dir::State::Lists="$cache/lists" -o Dir::Cache::Archives="$cache/archives"
      -o Dir::Cache::pkgcache="$cache/pkgcache.bin" -o Dir::Cache::srcpkgcache="$cache/srcpkgcache.bin"
      -o APT::Get::List-Cleanup=0 -o APT::Sandbox::User=root -qq)
# Lists are refreshed once a day at most (keeps make test fast on a warm machine).
if [ -z "$(find "$cache/lists" -name '*trixie*Packages*' -mtime -1 2>/dev/null | head -n1)" ]; then
  apt-get "${opts[@]}" update >&2
fi
( cd "$cache/archives" && apt-get "${opts[@]}" download "$pkg" >&2 )
deb=$(ls -t "$cache/archives/${pkg}"_*.deb | head -n1)
dpkg -x "$deb" "$dest"
echo "$deb"
