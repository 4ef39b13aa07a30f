"""The HTTP server every mock cloud runs, and the request pipeline it applies.

A cloud plugs in a :class:`CloudFrontend` (its wire protocol: how an action is
named, how a signature is checked, how a reply and an error look).  The
server owns the rest, the same for every cloud::

    /_admin/...  -> the shared admin routes (lbprovider.mockkit.admin)
    otherwise    -> action = frontend.action_of(request)
                    frontend.authenticate(request)      (rejected: counted apart)
                    counters.record(action, key=the signing access key id)
                    latency (global, per action, fault) ; injected fault?
                    frontend.handle(action, request)    -> the reply
                    MockApiError anywhere -> frontend.render_error(...)

It listens on 127.0.0.1 only, in daemon threads, and stops fast.
"""

from __future__ import annotations

import contextlib
import logging
import socket
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, Protocol
from urllib.parse import urlsplit

from lbprovider.mockkit.admin import handle_admin
from lbprovider.mockkit.clock import MockClock
from lbprovider.mockkit.counters import CallCounters, access_key_of
from lbprovider.mockkit.errors import MockApiError
from lbprovider.mockkit.faults import FaultPlan
from lbprovider.mockkit.wire import ADMIN_PREFIX, HttpRequest, HttpResponse

log = logging.getLogger(__name__)

LOOPBACK = ("127.0.0.1", "localhost")

AdminRoute = Callable[[Mapping[str, Any]], Any]
"""An extra admin route of one cloud: the JSON body in, a JSON-able reply out
(ValueError/KeyError/TypeError become a 400 naming the problem)."""


class CloudFrontend(Protocol):
    """A cloud's wire protocol and state, as the server sees them."""

    name: str
    """The provider name (``aws``, ``alibaba``...), for logs."""

    def action_of(self, request: HttpRequest) -> str:
        """The API action a request names ("" when it names none)."""
        ...

    def authenticate(self, request: HttpRequest) -> None:
        """Raise a MockApiError when the request is not signed as the cloud requires."""
        ...

    def handle(self, action: str, request: HttpRequest) -> HttpResponse:
        """Validate, apply and answer one call; raise MockApiError for API errors."""
        ...

    def render_error(self, action: str, request: HttpRequest, error: MockApiError) -> HttpResponse:
        """The error as the cloud shapes it (status, content type, body)."""
        ...

    def snapshot(self) -> Any:
        """The cloud's state as JSON (``GET /_admin/state``)."""
        ...

    def reset(self) -> None:
        """Forget test-only records (request logs...) on ``POST /_admin/reset``; the
        cloud's own state stays."""
        ...

    def admin_routes(self) -> Mapping[tuple[str, str], AdminRoute]:
        """Cloud-only admin routes: ``(method, name)`` -> handler, e.g. ``("POST", "tasks")``."""
        ...


@dataclass(kw_only=True)
class MockServer:
    """A running mock cloud endpoint: the frontend plus counters, faults and a clock."""

    frontend: CloudFrontend
    clock: MockClock = field(default_factory=MockClock)
    counters: CallCounters = field(default_factory=CallCounters)
    faults: FaultPlan = field(default_factory=FaultPlan)
    host: str = "127.0.0.1"
    port: int = 0
    _httpd: ThreadingHTTPServer | None = field(default=None, repr=False)
    _thread: threading.Thread | None = field(default=None, repr=False)

    @property
    def endpoint(self) -> str:
        return f"http://{self.host}:{self.port}"

    def start(self) -> MockServer:
        """Listen on ``host:port`` (0: a free port) in a daemon thread."""
        if self.host not in LOOPBACK:
            raise ValueError(f"mock clouds listen on 127.0.0.1 only, not {self.host}")
        self.host = "127.0.0.1"
        httpd = _Httpd((self.host, self.port), self)
        self.port = int(httpd.server_address[1])
        self._httpd = httpd
        # A short poll interval keeps stop(), and so every test, fast.
        self._thread = threading.Thread(
            target=httpd.serve_forever,
            kwargs={"poll_interval": 0.05},
            name=f"mock-{self.frontend.name}",
            daemon=True,
        )
        self._thread.start()
        return self

    def stop(self) -> None:
        """Stop serving; idempotent."""
        httpd, self._httpd = self._httpd, None
        if httpd is not None:
            httpd.shutdown()
            httpd.server_close()
        if self._thread is not None:
            self._thread.join(timeout=5)
            self._thread = None

    # -- the pipeline -----------------------------------------------------------------

    def serve(self, request: HttpRequest) -> HttpResponse | None:
        """Answer one cloud API request; None means "drop the connection"."""
        frontend = self.frontend
        action = ""
        try:
            action = frontend.action_of(request)
            try:
                frontend.authenticate(request)
            except MockApiError:
                self.counters.record_rejected()
                raise
            self.counters.record(action, key=access_key_of(request))
            delay = self.faults.delay_for(action)
            rule = self.faults.take(action)
            if rule is not None and rule.kind != "hang":  # a hang's latency is its limit
                delay += rule.latency
            if delay > 0:
                time.sleep(delay)
            if rule is not None:
                if rule.kind == "hang":
                    self.faults.hold(rule)  # never applied: the client sees no answer
                    return None
                if rule.kind == "drop":
                    return None
                raise MockApiError(rule.message, code=rule.code, status=rule.status)
            return frontend.handle(action, request)
        except MockApiError as error:
            return frontend.render_error(action, request, error)
        except Exception:  # a mock bug must still answer like the cloud would
            log.exception("mock cloud internal error", extra={"cloud": frontend.name})
            return frontend.render_error(
                action, request, MockApiError("internal error", code="InternalError", status=500)
            )


class _Httpd(ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self, address: tuple[str, int], mock: MockServer) -> None:
        super().__init__(address, _Handler)
        self.mock = mock


class _Handler(BaseHTTPRequestHandler):
    server: _Httpd
    protocol_version = "HTTP/1.1"

    def setup(self) -> None:
        super().setup()
        # Headers and body go out in two writes: without NODELAY, Nagle plus the
        # client's delayed ACK add 40 ms to every call.
        self.connection.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)

    def log_message(self, format: str, *args: Any) -> None:
        log.debug("mock cloud request", extra={"line": format % args})

    def do_GET(self) -> None:
        self._handle()

    def do_POST(self) -> None:
        self._handle()

    def do_PUT(self) -> None:
        self._handle()

    def do_DELETE(self) -> None:
        self._handle()

    def _handle(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length) if length else b""
        split = urlsplit(self.path)
        request = HttpRequest(
            method=self.command,
            path=split.path,
            query=split.query,
            headers={name: value for name, value in self.headers.items()},
            body=body,
        )
        reply: HttpResponse | None
        if split.path.startswith(ADMIN_PREFIX):
            reply = handle_admin(self.server.mock, request)
        else:
            reply = self.server.mock.serve(request)
        if reply is None:
            self.close_connection = True
            with contextlib.suppress(OSError):  # the client may have gone already
                self.connection.shutdown(socket.SHUT_RDWR)
            return
        self.send_response(reply.status)
        for name, value in reply.headers.items():
            self.send_header(name, value)
        self.send_header("Content-Length", str(len(reply.body)))
        self.end_headers()
        self.wfile.write(reply.body)
