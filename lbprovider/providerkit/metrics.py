"""Cloud API metrics, the same series for every provider (exposed on ``/metrics``)."""

from __future__ import annotations

from prometheus_client import Counter, Histogram

CLOUD_API_CALLS = Counter(
    "lbprovider_cloud_api_calls_total",
    "Cloud API calls (each HTTP attempt) by provider, action and result "
    "(ok, not_found, throttled, transient, error).",
    ["provider", "action", "result"],
)
CLOUD_API_SECONDS = Histogram(
    "lbprovider_cloud_api_call_duration_seconds",
    "Time one cloud API attempt took, by provider and action.",
    ["provider", "action"],
    buckets=(0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0),
)
