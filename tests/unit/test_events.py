"""The Event recorder: queued and written in the background, aggregated, bounded.

The API side is a recording stand-in for ``KubeApi.request`` that can be held
to show that recording never waits for the API server.
"""

from __future__ import annotations

import logging
import threading
from typing import Any

import pytest

from lbprovider.kube.api import ApiError
from lbprovider.kube.events import NORMAL, WARNING, EventRecorder, truncate
from lbprovider.kube.snapshots import ObjectMeta

pytestmark = pytest.mark.unit

META = ObjectMeta(namespace="ns", name="web", uid="u1", resource_version="1")
OTHER = ObjectMeta(namespace="ns", name="db", uid="u2", resource_version="1")


class RecordingApi:
    """Answers Event POSTs and PATCHes; ``hold`` makes every request wait for ``release``."""

    def __init__(self) -> None:
        self.requests: list[tuple[str, str, dict[str, Any]]] = []
        self.hold = False
        self.release = threading.Event()
        self.waiting = threading.Event()
        self.fail: list[Exception] = []

    def request(
        self, method: str, path: str, *, body: dict[str, Any], content_type: str = ""
    ) -> dict[str, Any]:
        if self.hold:
            self.waiting.set()
            assert self.release.wait(10)
        if self.fail:
            raise self.fail.pop(0)
        self.requests.append((method, path, body))
        return {"metadata": {"name": f"web.{len(self.requests)}"}}

    def summary(self) -> list[tuple[str, Any, Any]]:
        return [(m, b.get("reason"), b.get("count")) for m, _, b in self.requests]


def recorder(api: RecordingApi, **options: Any) -> EventRecorder:
    return EventRecorder(api, **options)  # type: ignore[arg-type]  # the stand-in has request()


def test_events_are_written_in_order_and_repeats_bump_the_count() -> None:
    api = RecordingApi()
    events = recorder(api)
    events.record(META, NORMAL, "EnsuringLoadBalancer", "Ensuring load balancer")
    events.record(META, NORMAL, "EnsuredLoadBalancer", "Ensured load balancer")
    assert events.flush(5)
    events.record(META, NORMAL, "EnsuredLoadBalancer", "Ensured load balancer")
    assert events.close(5)
    assert api.summary() == [
        ("POST", "EnsuringLoadBalancer", 1),
        ("POST", "EnsuredLoadBalancer", 1),
        ("PATCH", None, 2),  # the existing Event, count 2
    ]
    _, path, body = api.requests[0]
    assert path == "/api/v1/namespaces/ns/events"
    assert body["involvedObject"] == {
        "apiVersion": "v1",
        "kind": "Service",
        "namespace": "ns",
        "name": "web",
        "uid": "u1",
    }
    assert api.requests[2][1] == "/api/v1/namespaces/ns/events/web.2"


def test_record_never_waits_for_the_api_and_queued_repeats_are_one_write() -> None:
    api = RecordingApi()
    api.hold = True
    events = recorder(api)
    events.record(OTHER, NORMAL, "UpdatedLoadBalancer", "Updated load balancer with new hosts")
    assert api.waiting.wait(5)  # the background thread is stuck in the API call
    for _ in range(1000):  # a node change touching many Services: the workers go on
        events.record(META, NORMAL, "UpdatedLoadBalancer", "Updated load balancer with new hosts")
    assert api.requests == []
    api.hold = False
    api.release.set()
    assert events.close(5)
    assert api.summary() == [
        ("POST", "UpdatedLoadBalancer", 1),
        ("POST", "UpdatedLoadBalancer", 1000),  # one write for the queued thousand
    ]


def test_a_burst_is_written_once_it_settles_or_its_first_event_waited_long_enough() -> None:
    api = RecordingApi()
    # Settling takes 5 s here: within that nothing of a burst is written...
    events = recorder(api, settle_seconds=5.0, max_delay_seconds=5.0)
    for index in range(50):  # a node change touching fifty Services
        events.record(
            ObjectMeta(namespace="ns", name=f"web{index}", uid=f"u{index}", resource_version="1"),
            NORMAL,
            "UpdatedLoadBalancer",
            "Updated load balancer with new hosts",
        )
    assert not events.flush(0.5)
    assert api.requests == []
    assert events.close(5)  # ...and stopping writes everything at once.
    assert len(api.requests) == 50

    # An Event whose burst does not settle in time is written after the longest delay.
    streaming = recorder(api := RecordingApi(), settle_seconds=5.0, max_delay_seconds=0.2)
    streaming.record(META, NORMAL, "EnsuringLoadBalancer", "Ensuring load balancer")
    assert streaming.flush(3)
    assert api.summary() == [("POST", "EnsuringLoadBalancer", 1)]
    assert streaming.close(5)


def test_a_full_queue_drops_and_logs_once(caplog: pytest.LogCaptureFixture) -> None:
    api = RecordingApi()
    api.hold = True
    events = recorder(api, max_pending=2)
    events.record(META, WARNING, "SyncLoadBalancerFailed", "first")
    assert api.waiting.wait(5)
    with caplog.at_level(logging.WARNING, logger="lbprovider.kube.events"):
        for index in range(5):
            events.record(META, WARNING, "SyncLoadBalancerFailed", f"message {index}")
    assert events.dropped == 3
    assert [r.message for r in caplog.records] == ["event queue full, dropping events"]
    api.hold = False
    api.release.set()
    assert events.close(5)
    assert [body["message"] for _, _, body in api.requests] == ["first", "message 0", "message 1"]


def test_failures_are_logged_not_raised_and_a_vanished_event_is_created_again(
    caplog: pytest.LogCaptureFixture,
) -> None:
    api = RecordingApi()
    events = recorder(api)
    api.fail = [ApiError(500, "etcd down", method="POST", path="/events")]
    with caplog.at_level(logging.WARNING, logger="lbprovider.kube.events"):
        events.record(META, WARNING, "SyncLoadBalancerFailed", "boom")
        assert events.flush(5)
    assert "could not record event" in [r.message for r in caplog.records]
    events.record(META, WARNING, "SyncLoadBalancerFailed", "boom")
    assert events.flush(5)
    api.fail = [ApiError(404, "gone", method="PATCH", path="/events/x")]  # expired Event
    events.record(META, WARNING, "SyncLoadBalancerFailed", "boom")
    assert events.close(5)
    assert api.summary() == [
        ("POST", "SyncLoadBalancerFailed", 1),
        ("POST", "SyncLoadBalancerFailed", 1),
    ]


def test_close_ends_the_thread_and_a_later_record_starts_another() -> None:
    api = RecordingApi()
    events = recorder(api)
    api.hold = True  # the write waits, so the thread is surely there to be looked at
    events.record(META, NORMAL, "EnsuredLoadBalancer", "Ensured load balancer")
    assert api.waiting.wait(5)
    thread = events._thread  # this recorder's own (other tests' controllers have theirs)
    assert thread is not None
    api.release.set()
    assert events.close(5)
    assert not thread.is_alive()
    events.record(META, NORMAL, "DeletedLoadBalancer", "Deleted load balancer")
    assert events.close(5)
    assert [reason for _, reason, _ in api.summary()] == [
        "EnsuredLoadBalancer",
        "DeletedLoadBalancer",
    ]


def test_close_gives_up_after_its_timeout() -> None:
    api = RecordingApi()
    api.hold = True
    events = recorder(api)
    events.record(META, NORMAL, "EnsuredLoadBalancer", "Ensured load balancer")
    assert api.waiting.wait(5)
    assert not events.close(0.05)
    api.release.set()
    assert events.close(5)


def test_messages_are_truncated_to_1024_characters() -> None:
    assert truncate("x" * 2000) == "x" * 1021 + "..."
    assert truncate("short") == "short"
