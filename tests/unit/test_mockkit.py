"""The mock-cloud kit: the shared pipeline and admin routes, over a toy cloud on 127.0.0.1."""

from __future__ import annotations

import http.client
import json
from collections.abc import Iterator, Mapping
from typing import Any
from urllib.parse import parse_qsl

import pytest

from lbprovider.mockkit import (
    CallCounts,
    HttpRequest,
    HttpResponse,
    MockAdmin,
    MockApiError,
    MockServer,
    access_key_of,
)
from lbprovider.mockkit.server import AdminRoute

pytestmark = pytest.mark.unit


class ToyCloud:
    """``POST /`` with ``Action=...&Key=...``; the key must be ``good``."""

    name = "toy"

    def __init__(self) -> None:
        self.items: list[str] = []

    def action_of(self, request: HttpRequest) -> str:
        return dict(parse_qsl(request.body.decode())).get("Action", "")

    def authenticate(self, request: HttpRequest) -> None:
        if dict(parse_qsl(request.body.decode())).get("Key") != "good":
            raise MockApiError("bad key", code="AuthFailure", status=403)

    def handle(self, action: str, request: HttpRequest) -> HttpResponse:
        if action == "CreateItem":
            self.items.append("item")
        elif action != "DescribeItems":
            raise MockApiError(f"no action {action}", code="InvalidAction")
        return HttpResponse(status=200, body=json.dumps({"Items": self.items}).encode())

    def render_error(self, action: str, request: HttpRequest, error: MockApiError) -> HttpResponse:
        body = {"Code": error.code, "Message": error.message, "Action": action}
        return HttpResponse(status=error.status, body=json.dumps(body).encode())

    def snapshot(self) -> Any:
        return {"items": list(self.items)}

    def reset(self) -> None:
        """Nothing test-only to forget."""

    def admin_routes(self) -> Mapping[tuple[str, str], AdminRoute]:
        return {("POST", "seed"): self._seed, ("POST", "explode"): self._explode}

    def _explode(self, payload: Mapping[str, Any]) -> dict[str, Any]:
        raise RuntimeError("the state changed while it was read")

    def _seed(self, payload: Mapping[str, Any]) -> dict[str, Any]:
        self.items.append(str(payload["item"]))
        return {}


@pytest.fixture
def server() -> Iterator[MockServer]:
    running = MockServer(frontend=ToyCloud()).start()
    try:
        yield running
    finally:
        running.stop()


def call(server: MockServer, action: str, key: str = "good") -> tuple[int, dict[str, Any]]:
    connection = http.client.HTTPConnection(server.host, server.port, timeout=5)
    try:
        connection.request("POST", "/", body=f"Action={action}&Key={key}")
        reply = connection.getresponse()
        return reply.status, json.loads(reply.read())
    finally:
        connection.close()


def test_counts_reads_writes_and_rejected_calls(server: MockServer) -> None:
    admin = MockAdmin(server.endpoint)
    assert call(server, "CreateItem") == (200, {"Items": ["item"]})
    call(server, "DescribeItems")
    call(server, "DescribeItems")
    assert call(server, "CreateItem", key="bad")[0] == 403
    counts = admin.counters()
    assert (counts.reads, counts.writes, counts.rejected) == (2, 1, 1)
    assert counts.actions == {"CreateItem": 1, "DescribeItems": 2}
    admin.reset()
    assert admin.counters().total == 0
    assert admin.state() == {"items": ["item"]}  # reset keeps the cloud's state


def test_counts_calls_per_signing_access_key(server: MockServer) -> None:
    admin = MockAdmin(server.endpoint)
    for caller in ("LTAIone", "LTAIone", "LTAItwo"):
        call(server, f"CreateItem&AccessKeyId={caller}")
    call(server, "DescribeItems&AccessKeyId=LTAItwo")
    counts = admin.counters()
    assert counts.writes_by_key == {"LTAIone": 2, "LTAItwo": 1}
    assert counts.reads_by_key == {"LTAItwo": 1}
    assert (counts - CallCounts.from_json(counts.to_json())).writes_by_key == {}
    admin.reset()
    assert admin.counters().writes_by_key == {}


@pytest.mark.parametrize(
    ("headers", "query", "body", "key"),
    [
        (  # AWS SigV4
            {
                "Authorization": "AWS4-HMAC-SHA256 Credential=AKIAEXAMPLE/20261202/eu-west-1/"
                "elasticloadbalancing/aws4_request, SignedHeaders=host, Signature=ab"
            },
            "",
            b"Action=DescribeLoadBalancers",
            "AKIAEXAMPLE",
        ),
        (  # Tencent TC3
            {
                "authorization": "TC3-HMAC-SHA256 Credential=AKIDexample/2026-12-02/clb/"
                "tc3_request, SignedHeaders=content-type;host, Signature=cd"
            },
            "",
            b"{}",
            "AKIDexample",
        ),
        ({}, "Action=CreateLoadBalancer&AccessKeyId=LTAIexample", b"", "LTAIexample"),  # Alibaba
        ({}, "", b"AccessKeyId=LTAIform&Action=X", "LTAIform"),  # Alibaba, form body
        ({}, "", b"Action=X", ""),
    ],
)
def test_access_key_of_each_cloud_signature(
    headers: dict[str, str], query: str, body: bytes, key: str
) -> None:
    request = HttpRequest(method="POST", path="/", query=query, headers=headers, body=body)
    assert access_key_of(request) == key


def test_faults_by_count_action_and_probability(server: MockServer) -> None:
    admin = MockAdmin(server.endpoint)
    admin.inject_fault("Throttling", actions=["CreateItem"], count=2)
    assert call(server, "DescribeItems")[0] == 200
    assert call(server, "CreateItem") == (
        400,
        {"Code": "Throttling", "Message": "fault injected by the test", "Action": "CreateItem"},
    )
    assert call(server, "CreateItem")[0] == 400
    assert call(server, "CreateItem")[0] == 200
    admin.inject_fault("InternalError", status=500, count=None, probability=0.0)
    assert all(call(server, "DescribeItems")[0] == 200 for _ in range(5))
    admin.clear_faults()
    admin.inject_fault("InternalError", status=503, count=None)
    assert call(server, "DescribeItems")[0] == 503
    assert call(server, "DescribeItems")[0] == 503
    admin.reset()
    assert call(server, "DescribeItems")[0] == 200


def test_a_dropped_connection_gets_no_answer(server: MockServer) -> None:
    MockAdmin(server.endpoint).inject_fault("", kind="drop")
    with pytest.raises((http.client.RemoteDisconnected, ConnectionError)):
        call(server, "DescribeItems")
    assert call(server, "DescribeItems")[0] == 200


def test_clock_pins_and_advances(server: MockServer) -> None:
    admin = MockAdmin(server.endpoint)
    admin.pin_clock("2026-11-26T08:56:40Z")
    assert server.clock.now() == 1795683400.0
    admin.advance_clock(30)
    assert server.clock.now() == 1795683430.0
    admin.free_clock()
    assert server.clock.now() > 1795683430.0


def test_latency_and_bad_admin_requests(server: MockServer) -> None:
    admin = MockAdmin(server.endpoint)
    admin.set_latency(0.01, actions=["DescribeItems"])
    assert server.faults.delay_for("DescribeItems") == 0.01
    assert server.faults.delay_for("CreateItem") == 0.0
    with pytest.raises(RuntimeError, match="unknown fault field"):
        admin.request("POST", "faults", {"code": "X", "typo": 1})
    with pytest.raises(RuntimeError, match="404"):
        admin.request("GET", "nothing")
    admin.request("POST", "seed", {"item": "seeded"})
    assert admin.state() == {"items": ["seeded"]}
    # A route that fails answers 500 with the error (it used to drop the connection).
    with pytest.raises(RuntimeError, match=r"500.*the state changed while it was read"):
        admin.request("POST", "explode")


def test_listens_on_loopback_only() -> None:
    with pytest.raises(ValueError, match=r"127\.0\.0\.1"):
        MockServer(frontend=ToyCloud(), host="0.0.0.0").start()  # noqa: S104 - refused
