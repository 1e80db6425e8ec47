#!/usr/bin/env bash
# PID 1 side of a test boot; run by tools/boot/harness.py as
#   unshare --fork --pid --mount --uts --ipc --net --propagation private node.sh ROOTFS RUNDIR
# Mounts RUNDIR/merged = overlay(ROOTFS, RUNDIR/upper) so the cached image stays clean and a
# second boot of the same RUNDIR is the same instance, sets up /proc, /sys, /dev, /run and a
# named systemd cgroup hierarchy, pivots into RUNDIR/merged and execs systemd as PID 1 of the
# new PID namespace.
# (systemd-nspawn does not work on these machines: it wants the host's systemd bus.)
set -euo pipefail
rootfs=${1:?rootfs}; run=${2:?run dir}
r=$run/merged
mkdir -p "$run/upper" "$run/work" "$r"
mount -t overlay overlay -o "lowerdir=$rootfs,upperdir=$run/upper,workdir=$run/work" "$r"
mount -t proc proc "$r/proc"
# Kernel settings outside the network namespace are the HOST's: the node sees /proc/sys and
# /sys read-only (as in any container), except the four kubelet sysctls the bootstrap sets,
# which are plain files here starting at the kernel's defaults (0), so the test reads what
# the node wrote without the node changing this machine's kernel.
mkdir -p "$run/sysctl"
mount --bind "$r/proc/sys" "$r/proc/sys"
mount -o remount,bind,ro "$r/proc/sys"
for key in vm/panic_on_oom vm/overcommit_memory kernel/panic kernel/panic_on_oops net/ipv4/ip_unprivileged_port_start; do
  f=$run/sysctl/${key//\//.}
  # every boot, as a rebooted kernel keeps nothing: the kernel's defaults
  if [ "$key" = net/ipv4/ip_unprivileged_port_start ]; then echo 1024 >"$f"; else echo 0 >"$f"; fi
  mount --bind "$f" "$r/proc/sys/$key"
done
mount -t sysfs -o ro sysfs "$r/sys"
mount -t tmpfs -o mode=0755 tmpfs "$r/sys/fs/cgroup"
mkdir "$r/sys/fs/cgroup/systemd"
mount -t cgroup -o none,name=systemd cgroup "$r/sys/fs/cgroup/systemd"
for d in run tmp; do mount -t tmpfs -o mode=0755 tmpfs "$r/$d"; done
chmod 1777 "$r/tmp"
mount -t tmpfs -o mode=0755 tmpfs "$r/dev"
for n in null zero random urandom tty full; do
  touch "$r/dev/$n"; mount --bind "/dev/$n" "$r/dev/$n"
done
mkdir -m 0755 "$r/dev/pts" "$r/dev/shm"
mount -t devpts -o newinstance,ptmxmode=0666,mode=0620 devpts "$r/dev/pts"
ln -s pts/ptmx "$r/dev/ptmx"
ln -s /proc/self/fd "$r/dev/fd"
ln -s /proc/self/fd/0 "$r/dev/stdin"; ln -s /proc/self/fd/1 "$r/dev/stdout"; ln -s /proc/self/fd/2 "$r/dev/stderr"
mount -t tmpfs -o mode=1777 tmpfs "$r/dev/shm"
# Test CA added by the harness to the overlay (first boot): into the node's trust store.
if compgen -G "$r/usr/local/share/ca-certificates/*.crt" >/dev/null \
   && ! [ -e "$r/etc/ssl/certs/honeydue-boot-test-ca.pem" ]; then
  chroot "$r" update-ca-certificates >/dev/null
fi
# pivot_root, not chroot: the kernel refuses user namespaces to a chrooted process (EPERM), so
# under chroot every unit with PrivateUsers=yes (Debian's prometheus.service) fails with
# 217/USER, which a real server would not. pivot_root(".", ".") stacks the old root on the new
# one; the lazy unmount drops it (pivot_root(2), NOTES).
cd "$r"
pivot_root . .
umount -l .
exec /usr/bin/env container=other /lib/systemd/systemd --system --log-target=console
