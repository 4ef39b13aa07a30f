"""Events on Services, aggregated the way client-go's recorder does.

A repeat of the same (object, type, reason, message) within ten minutes bumps
``count`` and ``lastTimestamp`` of the existing Event instead of creating a
new one, so a Service failing every few minutes does not flood etcd.
Recording never raises: an Event is worth less than the sync that made it.
"""

from __future__ import annotations

import logging
import socket
import threading
import time
from collections import OrderedDict
from dataclasses import dataclass
from datetime import UTC, datetime

from lbprovider.kube.api import ApiError, KubeApi
from lbprovider.kube.snapshots import ObjectMeta

log = logging.getLogger(__name__)

NORMAL = "Normal"
WARNING = "Warning"
MAX_MESSAGE = 1024
AGGREGATE_WINDOW = 600.0
CACHE_SIZE = 4096


@dataclass(slots=True)
class _Seen:
    name: str
    count: int
    at: float


def _now() -> str:
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def truncate(message: str, limit: int = MAX_MESSAGE) -> str:
    """``message`` cut to ``limit`` characters, marked with an ellipsis when cut."""
    return message if len(message) <= limit else message[: limit - 3] + "..."


class EventRecorder:
    """Records core/v1 Events about Services."""

    def __init__(self, api: KubeApi, *, component: str = "lbprovider") -> None:
        self._api = api
        self._component = component
        self._instance = socket.gethostname()
        self._seen: OrderedDict[tuple[str, str, str, str], _Seen] = OrderedDict()
        self._lock = threading.Lock()

    def record(self, meta: ObjectMeta, event_type: str, reason: str, message: str) -> None:
        """Record an Event on the Service ``meta``; failures are logged, not raised."""
        message = truncate(message)
        cache_key = (meta.uid, event_type, reason, message)
        try:
            if not self._bump(meta, cache_key):
                self._create(meta, cache_key, event_type, reason, message)
        except Exception as exc:
            log.warning(
                "could not record event",
                extra={"service": meta.key, "reason": reason, "error": str(exc)},
            )

    def _bump(self, meta: ObjectMeta, cache_key: tuple[str, str, str, str]) -> bool:
        with self._lock:
            seen = self._seen.get(cache_key)
            if seen is None or time.monotonic() - seen.at > AGGREGATE_WINDOW:
                return False
            seen.count += 1
            seen.at = time.monotonic()
            count, name = seen.count, seen.name
        try:
            self._api.request(
                "PATCH",
                f"/api/v1/namespaces/{meta.namespace}/events/{name}",
                body={"count": count, "lastTimestamp": _now()},
                content_type="application/merge-patch+json",
            )
        except ApiError as exc:
            if exc.status != 404:
                raise
            return False
        return True

    def _create(
        self,
        meta: ObjectMeta,
        cache_key: tuple[str, str, str, str],
        event_type: str,
        reason: str,
        message: str,
    ) -> None:
        now = _now()
        created = self._api.request(
            "POST",
            f"/api/v1/namespaces/{meta.namespace}/events",
            body={
                "metadata": {"generateName": f"{meta.name}.", "namespace": meta.namespace},
                "involvedObject": {
                    "apiVersion": "v1",
                    "kind": "Service",
                    "namespace": meta.namespace,
                    "name": meta.name,
                    "uid": meta.uid,
                },
                "type": event_type,
                "reason": reason,
                "message": message,
                "count": 1,
                "firstTimestamp": now,
                "lastTimestamp": now,
                "source": {"component": self._component},
                "reportingComponent": self._component,
                "reportingInstance": self._instance,
            },
        )
        with self._lock:
            self._seen[cache_key] = _Seen(created["metadata"]["name"], 1, time.monotonic())
            while len(self._seen) > CACHE_SIZE:
                self._seen.popitem(last=False)
