"""The work queue: dedup, one worker per key, backoff schedule, delays."""

from __future__ import annotations

import threading

import pytest

from lbprovider.kube.workqueue import ExponentialBackoff, WorkQueue

pytestmark = pytest.mark.unit


class FakeClock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def test_a_queued_key_is_queued_once() -> None:
    queue = WorkQueue()
    for _ in range(3):
        queue.add("ns/a")
    queue.add("ns/b")
    assert [queue.get(timeout=0), queue.get(timeout=0), queue.get(timeout=0)] == [
        "ns/a",
        "ns/b",
        None,
    ]


def test_a_key_in_progress_is_not_handed_to_a_second_worker() -> None:
    queue = WorkQueue()
    queue.add("ns/a")
    assert queue.get(timeout=0) == "ns/a"
    queue.add("ns/a")  # changed again while being processed
    assert queue.get(timeout=0) is None
    queue.done("ns/a")
    assert queue.get(timeout=0) == "ns/a"


def test_backoff_doubles_from_5_to_300_seconds_and_resets() -> None:
    backoff = ExponentialBackoff()
    delays = [backoff.next_delay("k") for _ in range(9)]
    assert delays == [5, 10, 20, 40, 80, 160, 300, 300, 300]
    backoff.forget("k")
    assert backoff.next_delay("k") == 5
    assert backoff.next_delay("other") == 5


def test_delayed_keys_wait_and_an_earlier_time_wins() -> None:
    clock = FakeClock()
    queue = WorkQueue(clock=clock)
    queue.add_after("ns/a", 10)
    queue.add_after("ns/a", 4)
    queue.add_after("ns/a", 30)
    assert queue.get(timeout=0) is None
    clock.now = 4.5
    assert queue.get(timeout=0) == "ns/a"
    queue.done("ns/a")
    clock.now = 100
    assert queue.get(timeout=0) is None  # the superseded 10 s and 30 s entries do not fire


def test_rate_limited_add_uses_the_key_backoff() -> None:
    clock = FakeClock()
    queue = WorkQueue(clock=clock)
    assert queue.add_rate_limited("k") == 5
    assert queue.add_rate_limited("k") == 10  # counted, but the earlier time stays
    clock.now = 5
    assert queue.get(timeout=0) == "k"


def test_shutdown_wakes_waiting_workers() -> None:
    queue = WorkQueue()
    results: list[str | None] = []
    worker = threading.Thread(target=lambda: results.append(queue.get()))
    worker.start()
    queue.shutdown()
    worker.join(5)
    assert results == [None]
    queue.add("late")
    assert queue.get(timeout=0) is None


class DepthLog:
    """A QueueObserver that keeps every depth report."""

    def __init__(self) -> None:
        self.depths: list[tuple[int, int]] = []

    def depth(self, *, ready: int, delayed: int) -> None:
        self.depths.append((ready, delayed))

    def waited(self, seconds: float) -> None:
        pass


def test_add_all_keeps_the_add_rules_and_wakes_one_worker_per_ready_key() -> None:
    observer = DepthLog()
    queue = WorkQueue(observer=observer)
    queue.add("ns/busy")
    assert queue.get(timeout=0) == "ns/busy"
    queue.add("ns/a")
    observer.depths.clear()

    queue.add_all(["ns/a", "ns/b", "ns/b", "ns/busy", "ns/c"])
    assert observer.depths == [(3, 0)]  # one report for the batch
    # Queued once each; the key in progress waits for done().
    assert [queue.get(timeout=0) for _ in range(4)] == ["ns/a", "ns/b", "ns/c", None]
    queue.done("ns/busy")
    assert queue.get(timeout=0) == "ns/busy"

    # Two workers waiting: a batch of two ready keys wakes both.
    got: list[str | None] = []
    workers = [threading.Thread(target=lambda: got.append(queue.get())) for _ in range(2)]
    for worker in workers:
        worker.start()
    queue.add_all(["ns/x", "ns/y"])
    for worker in workers:
        worker.join(5)
    assert sorted(key for key in got if key) == ["ns/x", "ns/y"]
    queue.shutdown()
    queue.add_all(["ns/late"])
    assert queue.get(timeout=0) is None
