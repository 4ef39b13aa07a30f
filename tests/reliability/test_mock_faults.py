"""The mock-cloud kit's reliability faults, over a toy cloud: hang after the k-th write,
the token-bucket throttle, and calls per second at the mock."""

from __future__ import annotations

import http.client
import json
import threading
import time
from collections.abc import Iterator, Mapping
from typing import Any
from urllib.parse import parse_qsl

import pytest

from lbprovider.mockkit import HttpRequest, HttpResponse, MockAdmin, MockApiError, MockServer
from lbprovider.mockkit.server import AdminRoute

pytestmark = pytest.mark.unit


class ToyCloud:
    """``POST /`` with ``Action=...``; ``CreateItem`` appends, ``DescribeItems`` reads."""

    name = "toy"

    def __init__(self) -> None:
        self.items: list[str] = []

    def action_of(self, request: HttpRequest) -> str:
        return dict(parse_qsl(request.body.decode())).get("Action", "")

    def authenticate(self, request: HttpRequest) -> None:
        """Every caller is welcome."""

    def handle(self, action: str, request: HttpRequest) -> HttpResponse:
        if action == "CreateItem":
            self.items.append("item")
        return HttpResponse(status=200, body=json.dumps({"Items": self.items}).encode())

    def render_error(self, action: str, request: HttpRequest, error: MockApiError) -> HttpResponse:
        body = {"Code": error.code, "Message": error.message}
        return HttpResponse(status=error.status, body=json.dumps(body).encode())

    def snapshot(self) -> Any:
        return {"items": list(self.items)}

    def reset(self) -> None:
        """Nothing test-only to forget."""

    def admin_routes(self) -> Mapping[tuple[str, str], AdminRoute]:
        return {}


@pytest.fixture
def server() -> Iterator[MockServer]:
    running = MockServer(frontend=ToyCloud()).start()
    try:
        yield running
    finally:
        running.stop()


def call(server: MockServer, action: str, *, timeout: float = 5.0) -> tuple[int, str]:
    """(status, error code or "") of one call; (0, "dropped") when no answer came."""
    connection = http.client.HTTPConnection(server.host, server.port, timeout=timeout)
    try:
        connection.request("POST", "/", body=f"Action={action}")
        reply = connection.getresponse()
        body = json.loads(reply.read())
        return reply.status, str(body.get("Code", ""))
    except (http.client.RemoteDisconnected, ConnectionError):
        return 0, "dropped"
    finally:
        connection.close()


def test_hang_after_the_kth_write_holds_writes_only_and_never_applies_them(
    server: MockServer,
) -> None:
    admin = MockAdmin(server.endpoint)
    admin.inject_fault("Hang", kind="hang", after=2, scope="writes", count=None)
    assert call(server, "CreateItem") == (200, "")
    assert call(server, "DescribeItems") == (200, "")  # reads neither count nor hang
    assert call(server, "CreateItem") == (200, "")

    answers: list[tuple[int, str]] = []
    held = threading.Thread(target=lambda: answers.append(call(server, "CreateItem")))
    held.start()
    time.sleep(0.5)
    assert held.is_alive(), "the third write was answered"
    assert call(server, "DescribeItems") == (200, "")  # the cloud still reads meanwhile
    assert admin.counters().writes == 3  # the held write is counted: the client made it
    admin.clear_faults()
    held.join(5)
    assert answers == [(0, "dropped")]
    assert admin.state() == {"items": ["item", "item"]}, "a held write was applied"
    assert call(server, "CreateItem") == (200, "")


def test_a_hang_lets_go_after_its_latency(server: MockServer) -> None:
    MockAdmin(server.endpoint).inject_fault("Hang", kind="hang", latency=0.3)
    started = time.monotonic()
    assert call(server, "CreateItem") == (0, "dropped")
    assert 0.3 <= time.monotonic() - started < 3
    assert server.frontend.snapshot() == {"items": []}


def test_throttle_answers_the_code_beyond_burst_and_refills_at_rate(server: MockServer) -> None:
    admin = MockAdmin(server.endpoint)
    admin.throttle("Throttling", status=400, burst=5, rate=10.0)
    started = time.monotonic()
    answers = [call(server, "DescribeItems") for _ in range(8)]
    elapsed = time.monotonic() - started
    throttled = answers.count((400, "Throttling"))
    # 5 at once, then about one per 0.1 s of the time the 8 calls took.
    assert 5 <= answers.count((200, "")) <= 5 + 10 * elapsed + 1
    assert throttled >= 8 - (5 + 10 * elapsed + 1)
    assert throttled > 0
    time.sleep(0.5)
    assert [call(server, "DescribeItems") for _ in range(3)] == [(200, "")] * 3
    assert admin.request("GET", "faults")["faults"][0]["kind"] == "throttle"  # never used up


def test_counters_per_second_add_up_to_the_calls(server: MockServer) -> None:
    admin = MockAdmin(server.endpoint)
    for _ in range(6):
        call(server, "DescribeItems")
    counts = admin.counters()
    assert sum(counts.per_second.values()) == 6
    assert all(abs(second - time.time()) < 60 for second in counts.per_second)
    admin.reset()
    assert admin.counters().per_second == {}


@pytest.mark.parametrize(
    ("payload", "message"),
    [
        ({"kind": "throttle", "rate": 0, "burst": 5}, "a throttle needs"),
        ({"scope": "some"}, "scope must be"),
        ({"after": -1}, "after must be"),
    ],
)
def test_bad_rules_are_refused_with_the_reason(
    server: MockServer, payload: dict[str, Any], message: str
) -> None:
    with pytest.raises(RuntimeError, match=message):
        MockAdmin(server.endpoint).request("POST", "faults", payload)
