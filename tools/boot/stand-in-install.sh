#!/bin/sh
# Stand-in for K3s's install.sh, served to the booted node by the boot test (tools/boot/harness.py)
# under the real installer's URL. It records how it was called, then installs what the real one
# leaves behind for this use: /usr/local/bin/k3s and a Type=notify k3s.service (enabled unless
# INSTALL_K3S_SKIP_ENABLE, started unless INSTALL_K3S_SKIP_START). The fake k3s does not report
# ready, like a joiner whose first server is not up (`systemctl start k3s` would block forever),
# until the test creates /var/lib/honeydue-boot-test/k3s-ready (a healthy cluster, later boots).
set -eu
rec=/var/lib/honeydue-boot-test/installer
mkdir -p "$rec"
call=$rec/call-$(date +%s%N)
mkdir "$call"
{
  echo "INSTALL_K3S_VERSION=${INSTALL_K3S_VERSION-<unset>}"
  echo "INSTALL_K3S_EXEC=${INSTALL_K3S_EXEC-<unset>}"
  echo "INSTALL_K3S_SKIP_START=${INSTALL_K3S_SKIP_START-<unset>}"
  echo "INSTALL_K3S_SKIP_ENABLE=${INSTALL_K3S_SKIP_ENABLE-<unset>}"
  echo "args=$*"
  for key in vm.panic_on_oom vm.overcommit_memory kernel.panic kernel.panic_on_oops net.ipv4.ip_unprivileged_port_start; do
    echo "sysctl.$key=$(sysctl -n "$key")"
  done
} >"$call/env"
ip -o addr show >"$call/addrs"  # was the private IP up when K3s was installed?
# Config and CA material as the installer found them: content and modes.
for f in /etc/rancher/k3s/config.yaml /etc/rancher/k3s/config.yaml.d/*.yaml; do
  [ -f "$f" ] || continue
  mkdir -p "$call/files$(dirname "$f")"
  cp "$f" "$call/files$f"
done
find /etc/rancher /var/lib/rancher -exec stat -c '%a %U:%G %F %n' {} + >"$call/modes" 2>/dev/null || true

cat >/usr/local/bin/k3s <<'BIN'
#!/bin/sh
# Fake k3s (boot test): never exits; ready only once the test says the cluster is up.
if [ -e /var/lib/honeydue-boot-test/k3s-ready ]; then
  exec systemd-notify --ready --exec ';' sleep infinity
fi
exec sleep infinity
BIN
chmod 0755 /usr/local/bin/k3s
cat >/etc/systemd/system/k3s.service <<'UNIT'
[Unit]
Description=Fake K3s (boot test)
Wants=network-online.target
After=network-online.target

[Service]
Type=notify
ExecStart=/usr/local/bin/k3s server
TimeoutStartSec=0
Restart=always
RestartSec=5s

[Install]
WantedBy=multi-user.target
UNIT
systemctl daemon-reload
[ "${INSTALL_K3S_SKIP_ENABLE:-false}" = true ] || systemctl enable k3s
[ "${INSTALL_K3S_SKIP_START:-false}" = true ] || systemctl restart k3s
