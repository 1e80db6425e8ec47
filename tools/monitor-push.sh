#!/usr/bin/env bash
# Apply the uptime monitor's current config to the running server, without replacing it.
#
# user_data is read once, at creation (the server ignores later user_data changes), so a
# change of endpoints, thresholds or receivers reaches the server this way: `pulumi up` renders
# the new bundle into the secret stack output monitorConfigBundle, and this script pipes it over
# SSH into honeydue-monitor-apply, which checks it with promtool, amtool and the blackbox
# exporter before it replaces anything (a rejected bundle leaves the running config as it was).
# Run from inside adminCidrs, with the operator's SSH key loaded.
#   usage: tools/monitor-push.sh STACK
set -euo pipefail
stack=${1:?usage: tools/monitor-push.sh STACK}
command -v pulumi >/dev/null || { echo "monitor-push: the pulumi CLI is needed" >&2; exit 2; }

target=$(pulumi stack output --stack "$stack" --json monitor | python3 -c '
import json, sys
m = json.load(sys.stdin)
print(m["sshUser"], m["ipv4"], m["sshPort"])')
read -r user host port <<<"$target"

pulumi stack output --stack "$stack" --show-secrets monitorConfigBundle |
  ssh -p "$port" -o BatchMode=yes "$user@$host" sudo /usr/local/sbin/honeydue-monitor-apply -
echo "monitor-push: $stack monitor ($host) runs the new config" >&2
