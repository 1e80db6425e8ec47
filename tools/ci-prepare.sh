#!/usr/bin/env bash
# CI setup shared by the preview and deploy jobs (.github/workflows/preview.yml, deploy.yml):
#   1. the project's venv with the program's and the policy pack's pinned packages
#      (policies/PulumiPolicy.yaml runs the pack from ../.venv);
#   2. cosign logged into every registry whose signatures the pack verifies for STACK: the
#      list is read from policies/config.STACK.json, so it never drifts from the pack's config.
#   usage: REGISTRY_USERNAME=... REGISTRY_PASSWORD=... tools/ci-prepare.sh STACK
# The password goes to cosign on stdin, never on a command line (visible in the process list).
set -euo pipefail
stack=${1:?stack name}
repo=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
config="$repo/policies/config.$stack.json"
[ -f "$config" ] || { echo "ci-prepare: no policy config $config" >&2; exit 1; }

python3 -m venv "$repo/.venv"
"$repo/.venv/bin/python" -m pip install -q --disable-pip-version-check \
  -r "$repo/requirements.txt" -r "$repo/policies/requirements.txt"

: "${REGISTRY_USERNAME:?set REGISTRY_USERNAME (a read-only registry account)}"
: "${REGISTRY_PASSWORD:?set REGISTRY_PASSWORD}"
registries=$("$repo/.venv/bin/python" -c '
import json, sys
print("\n".join(json.load(open(sys.argv[1]))["container-images-signed"]["registries"]))' "$config")
[ -n "$registries" ] || { echo "ci-prepare: $config lists no signed registries" >&2; exit 1; }
while read -r registry; do
  printf '%s' "$REGISTRY_PASSWORD" | cosign login "$registry" --username "$REGISTRY_USERNAME" --password-stdin
done <<<"$registries"
