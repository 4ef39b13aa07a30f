"""The HTTP side of the mock SLB: a ThreadingHTTPServer on 127.0.0.1 and the sandbox handle.

``POST|GET /?Action=...`` is the signed RPC API (parameters in the query string
and/or a form body): SLB (``Version=2014-05-15``) and ECS ``DescribeNetworkInterfaces``
(``Version=2014-05-26``) on one endpoint.  ``/_admin/...`` is a test-only,
unsigned interface: ``GET /_admin/state``, ``GET /_admin/counts``,
``POST /_admin/reset-counts``,
``POST /_admin/faults`` (``{"code": "Throttling.User", "count": 2, "actions": [...]}``),
``POST /_admin/latency`` (``{"seconds": 0.5}``), ``POST /_admin/clock``
(``{"timestamp": "2026-11-26T08:56:40Z"}`` pins the clock, ``null`` frees it),
``GET /_admin/enis`` (every ENI) and ``POST /_admin/enis`` (``{"ips": ["10.0.1.50"],
"instance_id": "i-…", "attach": true}`` makes a Terway-like ENI holding those Pod IPs).
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
from lbprovider_alibaba.mock.models import ECS_API_VERSION, SlbBackend
from lbprovider_alibaba.mock.responses import dispatch

log = logging.getLogger(__name__)

HOST_ID = "slb.aliyuncs.com"
ECS_HOST_ID = "ecs.aliyuncs.com"
#: Pod IPs of the ENIs ``start()`` seeds for the sandbox (Terway-style secondary IPs).
SEEDED_POD_IPS = tuple(f"10.0.1.{n}" for n in range(200, 211))


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
        host_id = ECS_HOST_ID if params.get("Version") == ECS_API_VERSION else HOST_ID
        try:
            reply = dispatch(self.server.backend, method, params)
        except exc.SlbError as error:
            self._send(
                error.status,
                {
                    "RequestId": request_id,
                    "HostId": host_id,
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
                    "HostId": host_id,
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
        elif method == "GET" and path == "/_admin/enis":
            self._send(200, {"network_interfaces": backend.snapshot()["network_interfaces"]})
        elif method == "POST" and path == "/_admin/enis":
            try:
                eni = backend.create_eni(
                    [str(ip) for ip in payload["ips"]],
                    instance_id=payload.get("instance_id"),
                    attach=bool(payload.get("attach", True)),
                    primary_ip=payload.get("primary_ip"),
                )
            except (KeyError, TypeError, ValueError) as error:
                self._send(400, {"error": str(error)})
                return
            self._send(200, eni.to_api(backend.region))
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
    def enis(self) -> dict[str, tuple[str, ...]]:
        """Secondary ENI id -> the Pod IPs it holds (what POD_IP-mode Services can target)."""
        with self.backend.lock:
            return {
                eni.id: tuple(eni.secondary_ips)
                for eni in self.backend.enis.values()
                if eni.type == "Secondary"
            }

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
            "ecs_endpoint": f"{self.host}:{self.port}",
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


def seed_pod_enis(backend: SlbBackend, ips: tuple[str, ...] = SEEDED_POD_IPS) -> None:
    """Terway-like ENIs holding ``ips`` as secondary IPs, one per instance (contiguous blocks)."""
    owners: list[str | None] = [*backend.instances] or [None]
    per_eni = -(-len(ips) // len(owners))  # ceiling
    for n, owner in enumerate(owners):
        block = ips[n * per_eni : (n + 1) * per_eni]
        if block:
            backend.create_eni(block, instance_id=owner, attach=owner is not None)


def start(*, host: str = "127.0.0.1", port: int = 0, instances: int = 2) -> AlibabaMockCloud:
    """Start a mock SLB region (sandbox contract).

    Seeds ``instances`` ECS instances, each with its primary ENI, and Pod ENIs
    holding 10.0.1.200-10.0.1.210 (``AlibabaMockCloud.enis``, ``GET /_admin/enis``).
    """
    if host not in ("127.0.0.1", "localhost"):
        raise ValueError("the mock SLB only listens on 127.0.0.1")
    backend = SlbBackend(instances=instances)
    seed_pod_enis(backend)
    cloud = serve(backend, host="127.0.0.1", port=port)
    log.info(
        "mock alibaba seeded pod ENIs",
        extra={"endpoint": cloud.endpoint, "enis": {k: list(v) for k, v in cloud.enis.items()}},
    )
    return cloud
