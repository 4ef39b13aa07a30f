"""The controller's metrics: the work queue's depth and wait, and node sync timing."""

from __future__ import annotations

import pytest
from prometheus_client import REGISTRY

from lbprovider.controller import metrics
from lbprovider.kube.workqueue import WorkQueue

pytestmark = pytest.mark.unit


class FakeClock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


class RecordingObserver:
    def __init__(self) -> None:
        self.depths: list[tuple[int, int]] = []
        self.waits: list[float] = []

    def depth(self, *, ready: int, delayed: int) -> None:
        self.depths.append((ready, delayed))

    def waited(self, seconds: float) -> None:
        self.waits.append(seconds)


def sample(name: str) -> float:
    value = REGISTRY.get_sample_value(name)
    return 0.0 if value is None else value


def test_the_queue_reports_ready_and_delayed_keys_apart() -> None:
    clock = FakeClock()
    observer = RecordingObserver()
    queue = WorkQueue(clock=clock, observer=observer)
    queue.add("ns/a")
    queue.add_after("ns/b", 30.0)
    assert observer.depths[-1] == (1, 1)
    assert queue.get(timeout=0) == "ns/a"
    assert observer.depths[-1] == (0, 1)
    clock.now = 30.0
    assert queue.get(timeout=0) == "ns/b"
    assert observer.depths[-1] == (0, 0)


def test_the_wait_counts_from_ready_not_from_a_delayed_add() -> None:
    clock = FakeClock()
    observer = RecordingObserver()
    queue = WorkQueue(clock=clock, observer=observer)
    queue.add("ns/a")
    clock.now = 2.5
    assert queue.get(timeout=0) == "ns/a"
    queue.add_after("ns/b", 60.0)  # a backoff delay is not time spent waiting for a worker
    clock.now = 62.5
    assert queue.get(timeout=0) == "ns/b"
    assert observer.waits == [2.5, 0.0]


def test_a_key_added_while_processed_waits_from_its_requeue() -> None:
    clock = FakeClock()
    observer = RecordingObserver()
    queue = WorkQueue(clock=clock, observer=observer)
    queue.add("ns/a")
    assert queue.get(timeout=0) == "ns/a"
    queue.add("ns/a")  # changed again while being processed
    clock.now = 10.0
    queue.done("ns/a")
    clock.now = 11.0
    assert queue.get(timeout=0) == "ns/a"
    assert observer.waits == [0.0, 1.0]


def test_the_queue_metrics_land_in_the_exported_series() -> None:
    waited = sample("lbprovider_workqueue_queue_duration_seconds_count")
    metrics.QueueMetrics().depth(ready=3, delayed=7)
    metrics.QueueMetrics().waited(0.2)
    assert sample("lbprovider_workqueue_depth") == 3
    assert sample("lbprovider_workqueue_delayed") == 7
    assert sample("lbprovider_workqueue_queue_duration_seconds_count") == waited + 1


def test_a_node_sync_lasts_until_its_last_service_is_synced() -> None:
    clock = FakeClock()
    timer = metrics.NodeSyncTimer(clock=clock)
    count = sample("service_controller_nodesync_latency_seconds_count")
    total = sample("service_controller_nodesync_latency_seconds_sum")
    timer.started(["ns/a", "ns/b"])
    clock.now = 3.0
    timer.synced("ns/a")
    timer.synced("ns/other")  # not part of this node sync
    assert sample("service_controller_nodesync_latency_seconds_count") == count
    clock.now = 5.0
    timer.synced("ns/b")
    assert sample("service_controller_nodesync_latency_seconds_count") == count + 1
    assert sample("service_controller_nodesync_latency_seconds_sum") == total + 5.0


def test_overlapping_node_syncs_are_timed_each_from_its_own_start() -> None:
    clock = FakeClock()
    timer = metrics.NodeSyncTimer(clock=clock)
    total = sample("service_controller_nodesync_latency_seconds_sum")
    timer.started(["ns/a", "ns/b"])
    clock.now = 1.0
    timer.started(["ns/a"])
    clock.now = 4.0
    timer.synced("ns/a")  # ends the second (3 s); the first still waits for ns/b
    clock.now = 6.0
    timer.synced("ns/b")  # ends the first (6 s)
    assert sample("service_controller_nodesync_latency_seconds_sum") == total + 9.0


def test_a_node_change_that_queues_nothing_is_a_zero_length_node_sync() -> None:
    count = sample("service_controller_nodesync_latency_seconds_count")
    metrics.NodeSyncTimer().started([])
    assert sample("service_controller_nodesync_latency_seconds_count") == count + 1
