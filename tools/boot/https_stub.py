"""A tiny HTTP(S) file server the boot test runs inside its "lab" network namespace.

    python3 https_stub.py ADDRESS PORT CERT KEY DOCROOT LOG     (CERT and KEY "-": plain HTTP)

It stands in for raw.githubusercontent.com (the node's /etc/hosts points the name here and its
trust store holds the test CA): every GET is answered with DOCROOT/<basename of the path>, and
its path is appended to LOG, so the test can assert which URL the node fetched and how often.
The same server, plain HTTP on 169.254.169.254:80, stands in for Hetzner's metadata service.
Standard library only: it runs under the machine's python3, outside the project's venv.
"""

from __future__ import annotations

import http.server
import ssl
import sys
from pathlib import Path


def main(argv: list[str]) -> None:
    address, port, cert, key, docroot, log = argv
    root = Path(docroot)
    log_path = Path(log)

    class Handler(http.server.BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            with log_path.open("a") as f:
                f.write(self.path + "\n")
            target = root / Path(self.path).name
            if not target.is_file():
                self.send_error(404)
                return
            body = target.read_bytes()
            self.send_response(200)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

    server = http.server.ThreadingHTTPServer((address, int(port)), Handler)
    if cert != "-":
        ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        ctx.load_cert_chain(cert, key)
        server.socket = ctx.wrap_socket(server.socket, server_side=True)
    server.serve_forever()


if __name__ == "__main__":
    main(sys.argv[1:])
