"""``/healthz``, ``/readyz`` and ``/metrics`` on one small HTTP server.

``/readyz`` answers 200 once the informers have synced (and, with leader
election, also on standby replicas: they are healthy, just not leading).
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from prometheus_client import CONTENT_TYPE_LATEST, generate_latest


def serve(address: str, *, ready: Callable[[], bool]) -> ThreadingHTTPServer:
    """Start serving on ``HOST:PORT`` in a daemon thread."""
    host, _, port = address.rpartition(":")

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            if self.path == "/metrics":
                self._answer(200, generate_latest(), CONTENT_TYPE_LATEST)
            elif self.path == "/healthz":
                self._answer(200, b"ok\n", "text/plain")
            elif self.path == "/readyz":
                ok = ready()
                self._answer(200 if ok else 503, b"ok\n" if ok else b"not ready\n", "text/plain")
            else:
                self._answer(404, b"not found\n", "text/plain")

        def _answer(self, code: int, body: bytes, content_type: str) -> None:
            self.send_response(code)
            self.send_header("Content-Type", content_type)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, format: str, *args: object) -> None:  # stdlib signature
            """Probes every few seconds would drown the real logs."""

    server = ThreadingHTTPServer((host or "0.0.0.0", int(port)), Handler)  # noqa: S104  # probes
    threading.Thread(target=server.serve_forever, name="health", daemon=True).start()
    return server
