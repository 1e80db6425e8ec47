#!/bin/bash
# First boot of the uptime monitor, run by cloud-init's runcmd only once the metadata guard is
# up (components/cloud_init_base.py): install Prometheus, the blackbox exporter and
# Alertmanager from the OS archive, then apply the config bundle cloud-init wrote.
#   usage: honeydue-monitor-setup
set -euo pipefail
export DEBIAN_FRONTEND=noninteractive
# The daemons start with Debian's defaults for a moment; ours replace them right after. The
# guard drop-ins (written by cloud-init) make each of them require the metadata guard.
apt-get install -y -q --no-install-recommends \
  prometheus prometheus-blackbox-exporter prometheus-alertmanager
install -d -m 0750 -o root -g prometheus /etc/prometheus/secrets
/usr/local/sbin/honeydue-monitor-apply /etc/honeydue/monitor/bundle.json
