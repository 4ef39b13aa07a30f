"""The HTTP side of the mock SLB: a ThreadingHTTPServer on 127.0.0.1 and the sandbox handle.

``POST|GET /?Action=...`` is the signed RPC API (parameters in the query string
and/or a form body).  ``/_admin/...`` is a test-only, unsigned interface:
``GET /_admin/state``, ``GET /_admin/counts``, ``POST /_admin/reset-counts``,
``POST /_admin/faults`` (``{"code": "Throttling.User", "count": 2, "actions": [...]}``),
``POST /_admin/latency`` (``{"seconds": 0.5}``), ``POST /_admin/clock``
(``{"timestamp": "2026-11-26T08:56:40Z"}`` pins the clock, ``null`` frees it).
"""

from __future__ import annotations

import json
import logging
import shutil
import tempfile
import threading
import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl, urlsplit

from lbprovider.cloud.sandbox import SandboxInstance
from lbprovider_alibaba.mock import exceptions as exc
from lbprovider_alibaba.mock.models import SlbBackend
from lbprovider_alibaba.mock.responses import dispatch

log = logging.getLogger(__name__)

HOST_ID = "slb.aliyuncs.com"


class _Server(ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self, address: tuple[str, int], backend: SlbBackend) -> None:
        super().__init__(address, _Handler)
        self.backend = backend


class _Handler(BaseHTTPRequestHandler):
    server: _Server
    protocol_version = "HTTP/1.1"
    disable_nagle_algorithm = True  # headers and body go out as two writes

    def log_message(self, format: str, *args: Any) -> None:
        log.debug("mock slb request", extra={"line": format % args})

    def do_GET(self) -> None:
        self._handle("GET")

    def do_POST(self) -> None:
        self._handle("POST")

    def _send(self, status: int, body: dict[str, Any]) -> None:
        data = json.dumps(body).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json;charset=utf-8")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def _handle(self, method: str) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length) if length else b""
        split = urlsplit(self.path)
        if split.path.startswith("/_admin/"):
            self._admin(method, split.path, body)
            return
        params = dict(parse_qsl(split.query, keep_blank_values=True))
        content_type = self.headers.get("Content-Type") or ""
        if body and "application/x-www-form-urlencoded" in content_type:
            params.update(parse_qsl(body.decode(), keep_blank_values=True))
        request_id = str(uuid.uuid4()).upper()
        try:
            reply = dispatch(self.server.backend, method, params)
        except exc.SlbError as error:
            self._send(
                error.status,
                {
                    "RequestId": request_id,
                    "HostId": HOST_ID,
                    "Code": error.code,
                    "Message": error.message,
                    "Recommend": "",
                },
            )
            return
        except Exception:  # a mock bug must still answer like the cloud would
            log.exception("mock slb internal error")
            internal = exc.InternalError()
            self._send(
                internal.status,
                {
                    "RequestId": request_id,
                    "HostId": HOST_ID,
                    "Code": internal.code,
                    "Message": internal.message,
                },
            )
            return
        self._send(200, {"RequestId": request_id, **reply})

    def _admin(self, method: str, path: str, body: bytes) -> None:
        backend = self.server.backend
        try:
            payload = json.loads(body) if body else {}
        except ValueError:
            self._send(400, {"error": "body is not JSON"})
            return
        if method == "GET" and path == "/_admin/state":
            self._send(200, backend.snapshot())
        elif method == "GET" and path == "/_admin/counts":
            self._send(200, {"reads": backend.read_count(), "writes": backend.write_count()})
        elif method == "POST" and path == "/_admin/reset-counts":
            backend.reset_counts()
            self._send(200, {})
        elif method == "POST" and path == "/_admin/faults":
            try:
                backend.inject_fault(
                    str(payload["code"]),
                    count=int(payload.get("count", 1)),
                    actions=tuple(payload.get("actions", ())),
                )
            except (KeyError, ValueError) as error:
                self._send(400, {"error": str(error)})
                return
            self._send(200, {})
        elif method == "POST" and path == "/_admin/clock":
            # {"timestamp": "2026-11-26T08:56:40Z"} pins the clock; {"timestamp": null} frees it.
            stamp = payload.get("timestamp")
            if stamp is None:
                backend.clock = lambda: datetime.now(UTC)
            else:
                try:
                    pinned = datetime.strptime(str(stamp), "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=UTC)
                except ValueError as error:
                    self._send(400, {"error": str(error)})
                    return
                backend.clock = lambda: pinned
            self._send(200, {})
        elif method == "POST" and path == "/_admin/latency":
            with backend.lock:
                backend.latency = float(payload.get("seconds", 0))
            self._send(200, {})
        else:
            self._send(404, {"error": f"no admin route {method} {path}"})


@dataclass(kw_only=True)
class AlibabaMockCloud:
    """A running mock SLB (implements ``lbprovider.cloud.sandbox.MockCloud``)."""

    backend: SlbBackend
    host: str
    port: int
    provider: str = "alibaba"
    instances: tuple[SandboxInstance, ...] = ()
    _server: _Server | None = None
    _thread: threading.Thread | None = None
    _tmpdir: Path | None = None
    _stopped: bool = field(default=False)

    @property
    def endpoint(self) -> str:
        return f"http://{self.host}:{self.port}"

    @property
    def access_key_id(self) -> str:
        return next(iter(self.backend.credentials))

    @property
    def access_key_secret(self) -> str:
        return self.backend.credentials[self.access_key_id]

    @property
    def credentials_file(self) -> str:
        if self._tmpdir is None:
            self._tmpdir = Path(tempfile.mkdtemp(prefix="lbprovider-alibaba-mock-"))
        path = self._tmpdir / "credentials.json"
        if not path.exists():
            path.write_text(
                json.dumps(
                    {
                        "access_key_id": self.access_key_id,
                        "access_key_secret": self.access_key_secret,
                    }
                )
            )
            path.chmod(0o600)
        return str(path)

    def provider_settings(self) -> dict[str, Any]:
        return {
            "region": self.backend.region,
            "endpoint": f"{self.host}:{self.port}",
            "vpc_id": self.backend.vpc_id,
            "vswitch_id": self.backend.vswitch_id,
            "credentials_file": self.credentials_file,
        }

    def internal_annotations(self) -> dict[str, str]:
        # The vSwitch comes from the class settings (vswitch_id).
        return {"service.beta.kubernetes.io/alibaba-cloud-loadbalancer-address-type": "intranet"}

    def resources(self) -> dict[str, int]:
        return self.backend.resources()

    def stop(self) -> None:
        if self._stopped:
            return
        self._stopped = True
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
        if self._thread is not None:
            self._thread.join(timeout=5)
        if self._tmpdir is not None:
            shutil.rmtree(self._tmpdir, ignore_errors=True)


def serve(backend: SlbBackend, *, host: str = "127.0.0.1", port: int = 0) -> AlibabaMockCloud:
    """Serve ``backend`` on ``host:port`` in a daemon thread."""
    server = _Server((host, port), backend)
    # A short poll interval keeps stop() (and so every test) fast.
    thread = threading.Thread(
        target=server.serve_forever, kwargs={"poll_interval": 0.05}, name="mock-slb", daemon=True
    )
    thread.start()
    instances = tuple(
        SandboxInstance(
            node_name=f"alibaba-node-{n}",
            provider_id=f"{backend.region}.{instance.id}",
            internal_ip=instance.private_ip,
        )
        for n, instance in enumerate(backend.instances.values(), start=1)
    )
    return AlibabaMockCloud(
        backend=backend,
        host=host,
        port=server.server_address[1],
        instances=instances,
        _server=server,
        _thread=thread,
    )


def start(*, host: str = "127.0.0.1", port: int = 0, instances: int = 2) -> AlibabaMockCloud:
    """Start a mock SLB region with ``instances`` seeded ECS instances (sandbox contract)."""
    if host not in ("127.0.0.1", "localhost"):
        raise ValueError("the mock SLB only listens on 127.0.0.1")
    return serve(SlbBackend(instances=instances), host="127.0.0.1", port=port)
