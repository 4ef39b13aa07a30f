"""The mock CLB's HTTP server and the ``start`` entry point for the sandbox.

``POST /`` is the CLB API (signed, TC3-HMAC-SHA256).  ``/_admin/...`` is a
test-only, unsigned interface that is not part of the cloud API:

- ``GET /_admin/state``, ``GET /_admin/counters``, ``GET /_admin/resources``
- ``POST /_admin/faults`` ``{"code": "RequestLimitExceeded", "count": 1, "action": null}``
- ``POST /_admin/latency`` ``{"seconds": 0.5}``
- ``POST /_admin/tasks`` ``{"hold": true}`` / ``{"fail_next": 1}`` / ``{"delay": 0.1}``
- ``POST /_admin/clock`` ``{"now": 1795683400}`` (``null``: real time)
- ``POST /_admin/reset-counters``
"""

from __future__ import annotations

import json
import shutil
import socket
import tempfile
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

from lbprovider.cloud.sandbox import SandboxInstance
from lbprovider_tencent.mock.models import ClbBackend
from lbprovider_tencent.mock.responses import ClbResponse

ADMIN_PREFIX = "/_admin/"


class _Handler(BaseHTTPRequestHandler):
    server: _Server
    protocol_version = "HTTP/1.1"

    def setup(self) -> None:
        super().setup()
        # Headers and body go out in two writes: without NODELAY, Nagle plus the
        # client's delayed ACK add 40 ms to every call.
        self.connection.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)

    def log_message(self, format: str, *args: Any) -> None:
        """Stay quiet: the CLI prints nothing on the mock's behalf."""

    def _body(self) -> bytes:
        length = int(self.headers.get("Content-Length") or 0)
        return self.rfile.read(length) if length else b""

    def _send(self, status: int, headers: dict[str, str], body: bytes) -> None:
        self.send_response(status)
        for name, value in headers.items():
            self.send_header(name, value)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def _send_json(self, status: int, payload: Any) -> None:
        self._send(status, {"Content-Type": "application/json"}, json.dumps(payload).encode())

    def do_GET(self) -> None:
        backend = self.server.backend
        if self.path == "/_admin/state":
            self._send_json(200, backend.snapshot())
        elif self.path == "/_admin/counters":
            self._send_json(200, backend.counters())
        elif self.path == "/_admin/resources":
            self._send_json(200, backend.resources())
        else:
            self._send_json(404, {"error": "not found"})

    def do_POST(self) -> None:
        body = self._body()
        if self.path.startswith(ADMIN_PREFIX):
            self._admin(self.path[len(ADMIN_PREFIX) :], body)
            return
        backend = self.server.backend
        if backend.latency:
            time.sleep(backend.latency)
        headers = {name: value for name, value in self.headers.items()}
        status, out_headers, out = self.server.api.handle("POST", headers, body)
        self._send(status, out_headers, out)

    def _admin(self, what: str, body: bytes) -> None:
        backend = self.server.backend
        try:
            args = json.loads(body or b"{}")
        except ValueError:
            self._send_json(400, {"error": "body is not JSON"})
            return
        if what == "faults":
            backend.inject_fault(
                str(args["code"]), count=int(args.get("count", 1)), action=args.get("action")
            )
        elif what == "latency":
            backend.latency = float(args.get("seconds", 0))
        elif what == "tasks":
            if "delay" in args:
                backend.task_delay = float(args["delay"])
            if "fail_next" in args:
                backend.fail_next_tasks(int(args["fail_next"]))
            if "hold" in args:
                backend.set_hold_tasks(bool(args["hold"]))
        elif what == "clock":
            now = args.get("now")
            backend.set_clock(None if now is None else float(now))
        elif what == "reset-counters":
            backend.reset_counters()
        else:
            self._send_json(404, {"error": f"unknown admin action {what!r}"})
            return
        self._send_json(200, {"ok": True})


class _Server(ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self, address: tuple[str, int], backend: ClbBackend) -> None:
        super().__init__(address, _Handler)
        self.backend = backend
        self.api = ClbResponse(backend)


class MockClbServer:
    """The mock CLB served on ``host:port`` in a background thread."""

    def __init__(self, backend: ClbBackend, *, host: str = "127.0.0.1", port: int = 0) -> None:
        self.backend = backend
        self._server = _Server((host, port), backend)
        bound = self._server.server_address
        self.host, self.port = str(bound[0]), int(bound[1])
        self._thread = threading.Thread(
            target=self._server.serve_forever, args=(0.05,), name="mock-clb", daemon=True
        )
        self._thread.start()
        self._stopped = False

    @property
    def address(self) -> str:
        """``host:port``, the form Tencent's ``HttpProfile(endpoint=...)`` takes."""
        return f"{self.host}:{self.port}"

    def stop(self) -> None:
        if self._stopped:
            return
        self._stopped = True
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(timeout=5)


class TencentMockCloud:
    """The sandbox handle (``lbprovider.cloud.sandbox.MockCloud``) for the mock CLB."""

    provider = "tencent"

    def __init__(self, server: MockClbServer) -> None:
        self.server = server
        self.backend = server.backend
        self.endpoint = f"http://{server.address}"
        self.subnet_id = server.backend.subnet_id
        """The seeded subnet, for the internal-CLB annotation of sandbox Services."""
        self.instances = tuple(
            SandboxInstance(
                node_name=instance.node_name,
                provider_id=f"qcloud:///{instance.zone}/{instance.instance_id}",
                internal_ip=instance.private_ip,
            )
            for instance in sorted(server.backend.instances.values(), key=lambda i: i.node_name)
        )
        self._tmp = Path(tempfile.mkdtemp(prefix="lbprovider-tencent-"))
        secret_id, secret_key = next(iter(server.backend.credentials.items()))
        self.credentials_file = self._tmp / "credentials.json"
        self.credentials_file.write_text(
            json.dumps({"secret_id": secret_id, "secret_key": secret_key})
        )
        self.credentials_file.chmod(0o600)

    def provider_settings(self) -> dict[str, Any]:
        return {
            "region": self.backend.region,
            "endpoint": self.server.address,
            "scheme": "http",
            "vpc_id": self.backend.vpc_id,
            "credentials_file": str(self.credentials_file),
        }

    def internal_annotations(self) -> dict[str, str]:
        return {"service.kubernetes.io/qcloud-loadbalancer-internal-subnetid": self.subnet_id}

    def resources(self) -> dict[str, int]:
        return self.backend.resources()

    def stop(self) -> None:
        self.server.stop()
        shutil.rmtree(self._tmp, ignore_errors=True)


def start(
    *,
    host: str = "127.0.0.1",
    port: int = 0,
    instances: int = 2,
    task_delay: float = 0.3,
) -> TencentMockCloud:
    """Start the mock CLB with ``instances`` seeded CVM instances (sandbox contract)."""
    backend = ClbBackend(instances=instances, task_delay=task_delay)
    return TencentMockCloud(MockClbServer(backend, host=host, port=port))
