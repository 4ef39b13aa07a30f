"""Prometheus metrics of the service controller (exposed by ``lbprovider run`` on ``/metrics``).

Where upstream's service controller (k8s.io/cloud-provider) has a series with
the same meaning, it keeps upstream's name, type and buckets, so dashboards
built for a cloud-controller-manager keep working:

- ``service_controller_loadbalancer_sync_total``: each time a load balancer is
  configured (``ensure`` or ``update_backends`` called on a provider);
- ``service_controller_nodesync_latency_seconds``: from a change of the
  eligible node set until every Service it queued was synced once;
- ``service_controller_nodesync_error_total``: backend updates that failed;
- ``service_controller_update_loadbalancer_host_latency_seconds``: one
  ``update_backends`` call.

The rest is ours (``lbprovider_*``): syncs and their latency per class, the
work queue, provider calls and leadership.  Cloud API calls are counted per
provider and action by the provider kit (``lbprovider.providerkit.metrics``);
orphans found by the sweep are ``lbprovider_orphaned_load_balancers{class}``.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterable

from prometheus_client import Counter, Gauge, Histogram

# Upstream's buckets for its two latency histograms: 1 s to 16384 s.
_UPSTREAM_BUCKETS = tuple(float(2**power) for power in range(15))

SYNCS = Counter(
    "lbprovider_service_syncs_total",
    "Service syncs by class and result (ok, retry_after, invalid, error).",
    ["class", "result"],
)
SYNC_SECONDS = Histogram(
    "lbprovider_service_sync_duration_seconds",
    "Time one Service sync took, cloud calls included, by class.",
    ["class"],
    buckets=(0.01, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 120.0),
)
PROVIDER_CALLS = Counter(
    "lbprovider_provider_calls_total",
    "Provider calls by class, method and result.",
    ["load_balancer_class", "method", "result"],
)
QUEUE_DEPTH = Gauge("lbprovider_workqueue_depth", "Service keys ready and waiting for a worker.")
QUEUE_DELAYED = Gauge(
    "lbprovider_workqueue_delayed",
    "Service keys waiting out a delay: backoff, a provider's RetryAfter, the spread resync.",
)
QUEUE_WAIT_SECONDS = Histogram(
    "lbprovider_workqueue_queue_duration_seconds",
    "How long a ready Service key waited for a worker (its delay, if any, not included).",
    buckets=(0.001, 0.01, 0.05, 0.1, 0.5, 1.0, 5.0, 10.0, 30.0, 60.0, 300.0),
)
LEADER = Gauge(
    "lbprovider_leader",
    "1 while this replica runs the controller (holds the Lease, or leader election is off).",
)

LOAD_BALANCER_SYNCS = Counter(
    "service_controller_loadbalancer_sync_total",
    "A metric counting the amount of times any load balancer has been configured, "
    "as an effect of service/node changes on the cluster",
)
NODE_SYNC_ERRORS = Counter(
    "service_controller_nodesync_error_total",
    "A metric counting the amount of times any load balancer has been configured and "
    "errored, as an effect of node changes on the cluster",
)
NODE_SYNC_SECONDS = Histogram(
    "service_controller_nodesync_latency_seconds",
    "A metric measuring the latency for nodesync which updates loadbalancer hosts on "
    "cluster node updates.",
    buckets=_UPSTREAM_BUCKETS,
)
UPDATE_HOSTS_SECONDS = Histogram(
    "service_controller_update_loadbalancer_host_latency_seconds",
    "A metric measuring the latency for updating each load balancer hosts.",
    buckets=_UPSTREAM_BUCKETS,
)


class QueueMetrics:
    """The work queue's observer (``lbprovider.kube.workqueue.QueueObserver``)."""

    def depth(self, *, ready: int, delayed: int) -> None:
        QUEUE_DEPTH.set(ready)
        QUEUE_DELAYED.set(delayed)

    def waited(self, seconds: float) -> None:
        QUEUE_WAIT_SECONDS.observe(seconds)


class NodeSyncTimer:
    """Times node syncs: a node-set change until each Service it queued was synced once.

    Upstream's node sync is one call over every load balancer; here a node
    change queues the affected Services and the workers sync them, so a node
    sync ends when the last of its keys is done (whatever the outcome, as
    upstream hands failures to the service queue).  Overlapping node changes
    are timed separately.
    """

    def __init__(self, *, clock: Callable[[], float] = time.monotonic) -> None:
        self._clock = clock
        self._lock = threading.Lock()
        self._running: list[tuple[float, set[str]]] = []

    def started(self, keys: Iterable[str]) -> None:
        """A node-set change queued ``keys``."""
        pending = set(keys)
        if not pending:
            NODE_SYNC_SECONDS.observe(0.0)
            return
        with self._lock:
            self._running.append((self._clock(), pending))

    def synced(self, key: str) -> None:
        """A worker finished ``key``."""
        with self._lock:
            if not self._running:
                return
            now = self._clock()
            still: list[tuple[float, set[str]]] = []
            for began, pending in self._running:
                pending.discard(key)
                if pending:
                    still.append((began, pending))
                else:
                    NODE_SYNC_SECONDS.observe(now - began)
            self._running = still
