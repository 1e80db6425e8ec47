#!/usr/bin/python3
# honeydue uptime monitor: the cluster's heartbeat receiver (dead man's switch).
#
# The cluster's Alertmanager sends its always-firing "Watchdog" alert here as a webhook
# (POST /watchdog, Authorization: Bearer <token>) every few minutes. This records when the last
# one arrived and serves it to the local Prometheus (GET /metrics), whose ClusterWatchdogMissing
# rule fires when it grows old. Standard library only: nothing to download at boot.
#   usage: honeydue-watchdog-receiver LISTEN_ADDRESS PORT TOKEN_FILE STATE_FILE
import hmac
import json
import os
import sys
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

MAX_BODY = 1 << 20


def main() -> None:
    address, port, token_file, state_file = sys.argv[1], int(sys.argv[2]), sys.argv[3], sys.argv[4]
    with open(token_file, encoding="utf-8") as f:
        token = f.read().strip()
    if not token:
        sys.exit("honeydue-watchdog-receiver: empty token file")
    expected = f"Bearer {token}".encode()

    def last_seen() -> float | None:
        try:
            with open(state_file, encoding="utf-8") as f:
                return float(f.read().strip())
        except (OSError, ValueError):
            return None

    class Handler(BaseHTTPRequestHandler):
        def _reply(self, code: int, body: str, ctype: str = "text/plain; charset=utf-8") -> None:
            data = body.encode()
            self.send_response(code)
            self.send_header("Content-Type", ctype)
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def do_GET(self) -> None:
            if self.path != "/metrics":
                self._reply(404, "not found\n")
                return
            seen = last_seen()
            lines = [
                "# HELP honeydue_watchdog_last_received_timestamp_seconds When the cluster's last Watchdog arrived.",
                "# TYPE honeydue_watchdog_last_received_timestamp_seconds gauge",
            ]
            if seen is not None:
                lines.append(f"honeydue_watchdog_last_received_timestamp_seconds {seen}")
            self._reply(200, "\n".join(lines) + "\n", "text/plain; version=0.0.4")

        def do_POST(self) -> None:
            if self.path != "/watchdog":
                self._reply(404, "not found\n")
                return
            auth = (self.headers.get("Authorization") or "").encode()
            if not hmac.compare_digest(auth, expected):
                self._reply(401, "unauthorized\n")
                return
            length = int(self.headers.get("Content-Length") or 0)
            if length <= 0 or length > MAX_BODY:
                self._reply(400, "bad length\n")
                return
            try:
                payload = json.loads(self.rfile.read(length))
                alerts = payload["alerts"]
            except (ValueError, KeyError, TypeError):
                self._reply(400, "not an Alertmanager webhook payload\n")
                return
            firing = [
                a
                for a in alerts
                if isinstance(a, dict)
                and a.get("status") == "firing"
                and (a.get("labels") or {}).get("alertname") == "Watchdog"
            ]
            if not firing:
                self._reply(422, "no firing Watchdog alert in the payload\n")
                return
            tmp = f"{state_file}.tmp"
            with open(tmp, "w", encoding="utf-8") as f:
                f.write(f"{time.time():.3f}\n")
            os.replace(tmp, state_file)
            self._reply(200, "ok\n")

        def log_message(self, format: str, *args: object) -> None:
            sys.stderr.write(f"{self.address_string()} {format % args}\n")

    ThreadingHTTPServer((address, port), Handler).serve_forever()


if __name__ == "__main__":
    main()
