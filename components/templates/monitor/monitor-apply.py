#!/usr/bin/python3
# honeydue uptime monitor: install a rendered config bundle, only if the real tools accept it.
#
# The bundle is JSON {"files": [{"path", "content", "mode", "group"}], "ready": [URL]} rendered
# by the Pulumi program (components/uptime.py). First boot applies the copy cloud-init wrote; a later config
# change arrives on stdin over SSH (README: "Changing what the monitor watches"). Every file is
# staged in a temporary tree, checked with promtool, amtool and the blackbox exporter's own
# --config.check, and only then copied over the live files; a bundle that fails a check leaves
# the running config untouched and exits non-zero with the tool's message. After restarting the
# daemons it waits until each "ready" URL answers 200: `systemctl restart` returns once the
# process is forked, so a daemon that dies on start would otherwise pass unnoticed.
#   usage: honeydue-monitor-apply [BUNDLE | -]      (default: /etc/honeydue/monitor/bundle.json)
# Environment (tests): HONEYDUE_ROOT (install prefix, default /), HONEYDUE_RESTART=0 (no
# systemctl), PROMTOOL / AMTOOL / BLACKBOX (tool paths), HONEYDUE_READY_SECONDS (default 90).
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
import urllib.request

DEFAULT_BUNDLE = "/etc/honeydue/monitor/bundle.json"
SERVICES = ("prometheus-blackbox-exporter", "prometheus-alertmanager", "prometheus", "honeydue-watchdog-receiver")


def check(stage: str) -> None:
    etc = os.path.join(stage, "etc", "prometheus")
    tools = [
        [
            os.environ.get("PROMTOOL", "promtool"),
            "check",
            "config",
            "--lint-fatal",
            os.path.join(etc, "prometheus.yml"),
        ],
        [os.environ.get("AMTOOL", "amtool"), "check-config", os.path.join(etc, "alertmanager.yml")],
        [
            os.environ.get("BLACKBOX", "prometheus-blackbox-exporter"),
            "--config.check",
            "--config.file",
            os.path.join(etc, "blackbox.yml"),
        ],
    ]
    for argv in tools:
        proc = subprocess.run(argv, capture_output=True, text=True, check=False)
        if proc.returncode != 0:
            sys.exit(
                f"honeydue-monitor-apply: {os.path.basename(argv[0])} rejected the bundle, "
                f"nothing changed:\n{proc.stdout}{proc.stderr}"
            )


def wait_ready(urls: list[str], seconds: float) -> None:
    # No proxy: the URLs are this host's own loopback.
    opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))
    deadline = time.monotonic() + seconds
    for url in urls:
        while True:
            try:
                with opener.open(url, timeout=5) as resp:
                    if resp.status == 200:
                        break
            except OSError:
                pass
            if time.monotonic() > deadline:
                sys.exit(
                    f"honeydue-monitor-apply: installed and restarted, but {url} did not answer within "
                    f"{seconds:g}s: see `systemctl --failed` and the daemon's journal"
                )
            time.sleep(1)


def main() -> None:
    source = sys.argv[1] if len(sys.argv) > 1 else DEFAULT_BUNDLE
    raw = sys.stdin.read() if source == "-" else open(source, encoding="utf-8").read()
    bundle = json.loads(raw)
    files = bundle["files"]
    root = os.environ.get("HONEYDUE_ROOT", "/")
    for f in files:
        if not f["path"].startswith("/etc/") or ".." in f["path"].split("/"):
            sys.exit(f"honeydue-monitor-apply: refusing path {f['path']!r}")
    with tempfile.TemporaryDirectory() as stage:
        for f in files:
            target = os.path.join(stage, f["path"].lstrip("/"))
            os.makedirs(os.path.dirname(target), exist_ok=True)
            with open(target, "w", encoding="utf-8") as out:
                out.write(f["content"])
            os.chmod(target, int(f["mode"], 8))
        check(stage)
        for f in files:
            staged = os.path.join(stage, f["path"].lstrip("/"))
            live = os.path.join(root, f["path"].lstrip("/"))
            os.makedirs(os.path.dirname(live), exist_ok=True)
            tmp = live + ".honeydue-new"
            shutil.copyfile(staged, tmp)
            os.chmod(tmp, int(f["mode"], 8))
            # Only on the live system: a test prefix has no prometheus group.
            if f.get("group") and root == "/":
                shutil.chown(tmp, "root", f["group"])
            os.replace(tmp, live)
    if os.environ.get("HONEYDUE_RESTART", "1") == "1":
        subprocess.run(["systemctl", "daemon-reload"], check=True)
        subprocess.run(["systemctl", "enable", *SERVICES], check=True)
        subprocess.run(["systemctl", "restart", *SERVICES], check=True)
        wait_ready(bundle.get("ready", []), float(os.environ.get("HONEYDUE_READY_SECONDS", "90")))
    print(f"honeydue-monitor-apply: {len(files)} files installed", file=sys.stderr)


if __name__ == "__main__":
    main()
