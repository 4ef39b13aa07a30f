"""A permanently failing Service: backoff capped at 300 s, a bounded number of calls per hour.

The real work queue and service controller, without an API server: an
in-memory store and writer, the fake provider on a fake cloud whose every
call answers a 5xx (a fault rule of the mock-cloud kit, until cleared), and a
fake clock driving the queue through six simulated hours.  The bound is
computed from the backoff schedule (5 s doubling to 300 s) and the call
wrapper's attempts; the run measures the calls the cloud actually saw.
"""

from __future__ import annotations

import itertools

import pytest

from cloud_audit import report
from lbprovider.controller.service_controller import ServiceController
from lbprovider.kube.snapshots import (
    ServiceSnapshot,
)
from lbprovider.kube.workqueue import DEFAULT_BASE_DELAY, DEFAULT_MAX_DELAY, WorkQueue
from lbprovider.mockkit import FaultRule
from lbprovider.providerkit.calls import CallPolicy
from lbprovider.testing.fake_provider import FakeProvider, FakeSettings
from lbprovider.testing.memory import ManualClock, MemoryStore, RecordingWriter

pytestmark = pytest.mark.unit

CLASS = "x.io/lb"
HOUR = 3600.0
HOURS = 6


def syncs_in(seconds: float) -> int:
    """Syncs of a Service that always fails, in its first ``seconds``: one at 0, then one
    after each backoff delay (5 s doubling, capped at 300 s) that still falls inside."""
    count, at, delay = 1, 0.0, DEFAULT_BASE_DELAY
    while at + delay <= seconds:
        at += delay
        count += 1
        delay = min(DEFAULT_MAX_DELAY, delay * 2)
    return count


def test_a_permanently_failing_service_costs_a_bounded_number_of_calls_per_hour() -> None:
    store = MemoryStore()
    clock = ManualClock()
    queue = WorkQueue(clock=clock)
    policy = CallPolicy(attempts=3, wait_initial=0.0, wait_max=0.0)
    provider = FakeProvider(FakeSettings(), cluster_name="c", policy=policy)
    provider.cloud.faults.add(FaultRule(code="InternalError", status=500, count=None))
    controller = ServiceController(
        store=store,
        writer=RecordingWriter(store),
        cluster_name="c",
        providers={CLASS: provider},
        queue=queue,
        workers=0,
        resync_seconds=0,
    )
    controller.start()
    store.services.put(
        ServiceSnapshot.parse(
            {
                "metadata": {"name": "web", "namespace": "ns", "uid": "uid-web"},
                "spec": {
                    "type": "LoadBalancer",
                    "loadBalancerClass": CLASS,
                    "ports": [{"name": "http", "port": 80, "nodePort": 30080}],
                },
            }
        )
    )
    syncs: list[float] = []
    calls_per_hour: list[int] = []
    seen = 0
    for second in range(int(HOURS * HOUR)):
        clock.now = float(second)
        while (key := queue.get(timeout=0)) is not None:
            syncs.append(clock.now)
            controller.process(key)
            queue.done(key)
        if (second + 1) % int(HOUR) == 0:
            total = provider.cloud.counters.counts().total
            calls_per_hour.append(total - seen)
            seen = total

    # The echoes of its own writes (finalizer, record, condition) requeue nothing: the
    # backoff alone paces the retries, doubling from 5 s.
    assert syncs[0] == 0.0
    gaps = [later - earlier for earlier, later in itertools.pairwise(syncs)]
    assert gaps[:6] == [5.0, 10.0, 20.0, 40.0, 80.0, 160.0]
    assert max(gaps) == DEFAULT_MAX_DELAY  # capped at 300 s, never longer
    assert all(gap == DEFAULT_MAX_DELAY for gap in gaps[6:])

    per_sync = policy.attempts  # the first read fails every attempt; nothing else is called
    first_hour_bound = syncs_in(HOUR) * per_sync
    steady_bound = int(HOUR // DEFAULT_MAX_DELAY) * per_sync
    assert calls_per_hour[0] <= first_hour_bound
    assert all(calls <= steady_bound for calls in calls_per_hour[1:])
    assert calls_per_hour[0] > 0 and calls_per_hour[-1] > 0  # still retried, never given up
    report(
        f"permanently failing Service: backoff 5 s doubling to {DEFAULT_MAX_DELAY:.0f} s; "
        f"bound {first_hour_bound} calls in the first hour ({syncs_in(HOUR)} syncs x "
        f"{per_sync} attempts), {steady_bound}/hour after; measured per hour over "
        f"{HOURS} simulated hours: {calls_per_hour}"
    )
