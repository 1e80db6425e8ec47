#!/usr/bin/env bash
# Idempotent cosign installer: puts Debian 13's cosign 2.5.0 at a per-user cache path and prints
# that path on stdout (everything else goes to stderr), so callers can do `cosign=$(tools/cosign.sh)`.
# No system change: the package is fetched and unpacked by tools/trixie-fetch.sh (private apt lists).
#   usage: tools/cosign.sh            -> prints e.g. /root/.cache/honeydue/bin/cosign
# COSIGN_INSTALL_DIR overrides the directory. The policy pack looks in the same default place.
set -euo pipefail
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
bin_dir=${COSIGN_INSTALL_DIR:-${XDG_CACHE_HOME:-$HOME/.cache}/honeydue/bin}
target="$bin_dir/cosign"
stamp="$bin_dir/cosign.deb"   # which .deb the binary came from (Debian's build reports "devel")
want="cosign_2.5.0-"

# Already installed from the expected package and runnable: nothing to do.
if [ -x "$target" ] && grep -q "^$want" "$stamp" 2>/dev/null && "$target" version >/dev/null 2>&1; then
  echo "$target"
  exit 0
fi

mkdir -p "$bin_dir"
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
deb=$("$here/trixie-fetch.sh" cosign "$tmp/root")
case "$(basename "$deb")" in
  "$want"*) ;;
  *) echo "cosign.sh: expected $want*, the archive has $(basename "$deb")" >&2; exit 1 ;;
esac
# Copy then rename: a concurrent caller never sees a half-written binary.
install -m 0755 "$tmp/root/usr/bin/cosign" "$target.tmp.$$"
mv -f "$target.tmp.$$" "$target"
"$target" version >/dev/null 2>&1 || { echo "cosign.sh: $target does not run" >&2; exit 1; }
basename "$deb" > "$stamp"
echo "$target"
