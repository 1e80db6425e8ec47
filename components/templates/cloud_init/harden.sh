#!/bin/bash
# Applies the SSH and fail2ban settings cloud-init wrote (write_files) on first boot.
#   usage: honeydue-harden
set -euo pipefail

log() { printf '%s: %s\n' "${0##*/}" "$*" >&2; }

# Refuse to restart sshd on a config it cannot parse (that would lock the admin out).
# /run/sshd is the privilege separation directory; it is absent while sshd is only
# socket-activated, and `sshd -t` needs it.
install -d -m 0755 /run/sshd
sshd -t

# Ubuntu 24.04: the listening port belongs to ssh.socket, which a systemd generator derives
# from sshd_config on daemon-reload. Debian 13 runs a plain ssh.service (ssh.socket exists
# there but is disabled), which reads the port itself.
if systemctl is-enabled --quiet ssh.socket 2>/dev/null; then
  systemctl daemon-reload && systemctl restart ssh.socket
  # An sshd already started by an earlier connection keeps the old settings until restarted.
  systemctl try-restart ssh.service
else
  systemctl restart ssh.service
fi
log "sshd restarted with /etc/ssh/sshd_config.d/00-hardening.conf"

# The jail file predates the package install; restart so the running fail2ban reads it.
systemctl enable fail2ban
systemctl restart fail2ban
log "fail2ban restarted"
