"""The AWS mock's wire side: a fault-injecting proxy in front of moto, as a mockkit frontend.

``lbprovider.mockkit.MockServer`` serves the endpoint the provider talks to
and applies the shared pipeline (admin routes, counters, faults, latency,
clock).  :class:`AwsFrontend` only names the action (the query protocol's
``Action=``, for elbv2 and ec2 alike), checks the SigV4 signature
(:mod:`.auth`), forwards the request unchanged to moto and returns moto's
reply, and renders errors in AWS's XML shapes (elbv2 ``ErrorResponse``, ec2
``Response/Errors``), so boto3 parses an injected ``Throttling`` exactly like
a real one.  Before forwarding, :mod:`.rules` refuses what AWS refuses and moto
accepts (the ELBv2 API reference's prose rules), or answers a repeated create
the way AWS does.  It also keeps a journal of the requests it forwarded (the
cloud-only admin route ``/_admin/requests``) for tests that check what was sent.
"""

from __future__ import annotations

import http.client
import threading
import uuid
from collections import deque
from collections.abc import Mapping
from typing import Any
from urllib.parse import parse_qs, urlencode, urlsplit
from xml.sax.saxutils import escape

from lbprovider.mockkit import HttpRequest, HttpResponse, MockApiError, MockClock
from lbprovider.mockkit.server import AdminRoute
from lbprovider_aws.mock import auth
from lbprovider_aws.mock.models import MotoState, resources
from lbprovider_aws.mock.rules import Answer, Rules

ELBV2_VERSION = "2015-12-01"
EC2_VERSION = "2016-11-15"
JOURNAL_SIZE = 10_000
_HOP_BY_HOP = frozenset({"connection", "keep-alive", "transfer-encoding", "content-length"})
_SERVER_SET = frozenset({"server", "date"})  # BaseHTTPRequestHandler writes its own


def form(request: HttpRequest) -> dict[str, list[str]]:
    """The query-protocol parameters: the form body, else the query string (GET)."""
    text = request.body.decode("utf-8", "replace") if request.body else request.query
    return parse_qs(text, keep_blank_values=True)


def is_ec2(request: HttpRequest, params: Mapping[str, list[str]] | None = None) -> bool:
    """ec2 or elbv2: the API version says, else the signature's credential scope."""
    version = (params if params is not None else form(request)).get("Version", [""])[0]
    if version:
        return version != ELBV2_VERSION
    return auth.scope_service(request) == "ec2"


def error_body(*, ec2: bool, code: str, message: str, status: int, request_id: str) -> bytes:
    """AWS's query-protocol error document for ec2 or elbv2."""
    code, message = escape(code), escape(message)
    if ec2:
        text = (
            '<?xml version="1.0" encoding="UTF-8"?>\n<Response><Errors><Error>'
            f"<Code>{code}</Code><Message>{message}</Message></Error></Errors>"
            f"<RequestID>{request_id}</RequestID></Response>"
        )
    else:
        kind = "Receiver" if status >= 500 else "Sender"
        text = (
            f'<ErrorResponse xmlns="http://elasticloadbalancing.amazonaws.com/doc/'
            f'{ELBV2_VERSION}/"><Error><Type>{kind}</Type><Code>{code}</Code>'
            f"<Message>{message}</Message></Error><RequestId>{request_id}</RequestId>"
            "</ErrorResponse>"
        )
    return text.encode()


class AwsFrontend:
    """moto behind the mockkit server: auth, forwarding, AWS error shapes, a journal."""

    name = "aws"

    def __init__(
        self,
        *,
        state: MotoState,
        clock: MockClock,
        access_key: str,
        secret_key: str,
    ) -> None:
        upstream = urlsplit(state.endpoint)
        self._host = upstream.hostname or "127.0.0.1"
        self._port = upstream.port or 80
        self._state = state
        self._clock = clock
        self._access_key = access_key
        self._secret_key = secret_key
        self._lock = threading.Lock()
        self._journal: deque[dict[str, Any]] = deque(maxlen=JOURNAL_SIZE)
        self._rules = Rules(state)

    # -- CloudFrontend -------------------------------------------------------------------

    def action_of(self, request: HttpRequest) -> str:
        return form(request).get("Action", [""])[0]

    def authenticate(self, request: HttpRequest) -> None:
        auth.check(
            request,
            access_key=self._access_key,
            secret_key=self._secret_key,
            now=self._clock.now(),
            ec2=is_ec2(request),
        )

    def handle(self, action: str, request: HttpRequest) -> HttpResponse:
        params = form(request)
        ec2 = is_ec2(request, params)
        with self._lock:
            self._journal.append(
                {"action": action, "service": "ec2" if ec2 else "elbv2", "params": params}
            )
        instead = self._rules.check(action, params, ec2=ec2)
        if isinstance(instead, Answer):
            return HttpResponse(
                status=200,
                body=instead.body,
                headers={"Content-Type": "text/xml", "x-amzn-RequestId": str(uuid.uuid4())},
            )
        headers = {k: v for k, v in request.headers.items() if k.lower() not in _HOP_BY_HOP}
        path = f"{request.path}?{request.query}" if request.query else request.path
        body = request.body
        if instead is not None:
            # moto does not verify signatures: the original headers still route the call.
            path, body = request.path, urlencode(dict(instead.form)).encode()
        connection = http.client.HTTPConnection(self._host, self._port, timeout=60)
        try:
            connection.request(request.method, path, body=body, headers=headers)
            reply = connection.getresponse()
            body = reply.read()
            for old, new in instead.rename if instead is not None else ():
                body = body.replace(old.encode(), new.encode())
            answer = {
                key: value
                for key, value in reply.getheaders()
                if key.lower() not in _HOP_BY_HOP | _SERVER_SET
            }
            return HttpResponse(status=reply.status, body=body, headers=answer)
        finally:
            connection.close()

    def render_error(self, action: str, request: HttpRequest, error: MockApiError) -> HttpResponse:
        request_id = str(uuid.uuid4())
        body = error_body(
            ec2=is_ec2(request),
            code=error.code,
            message=error.message,
            status=error.status,
            request_id=request_id,
        )
        return HttpResponse(
            status=error.status,
            body=body,
            headers={"Content-Type": "text/xml", "x-amzn-RequestId": request_id},
        )

    def snapshot(self) -> dict[str, Any]:
        return self._state.snapshot()

    def reset(self) -> None:
        with self._lock:
            self._journal.clear()

    def admin_routes(self) -> Mapping[tuple[str, str], AdminRoute]:
        return {
            ("GET", "requests"): self._requests,
            ("DELETE", "requests"): self._clear_requests,
            ("GET", "resources"): lambda _payload: resources(self._state.snapshot()),
        }

    # -- cloud-only admin routes ---------------------------------------------------------

    def _requests(self, _payload: Mapping[str, Any]) -> dict[str, Any]:
        """``{"requests": [{"action", "service", "params": {name: [values]}}]}``, oldest first."""
        with self._lock:
            return {"requests": list(self._journal)}

    def _clear_requests(self, _payload: Mapping[str, Any]) -> dict[str, Any]:
        with self._lock:
            self._journal.clear()
        return {}
