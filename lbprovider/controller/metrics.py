"""Prometheus metrics of the service controller (exposed by ``lbprovider run``)."""

from __future__ import annotations

from prometheus_client import Counter, Gauge, Histogram

SYNCS = Counter(
    "lbprovider_service_syncs_total",
    "Service syncs by result (ok, retry_after, invalid, error).",
    ["result"],
)
SYNC_SECONDS = Histogram(
    "lbprovider_service_sync_duration_seconds",
    "Time one Service sync took, cloud calls included.",
)
PROVIDER_CALLS = Counter(
    "lbprovider_provider_calls_total",
    "Provider calls by class, method and result.",
    ["load_balancer_class", "method", "result"],
)
QUEUE_DEPTH = Gauge("lbprovider_workqueue_depth", "Keys waiting in the work queue.")
