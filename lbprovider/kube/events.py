"""Events on Services, written in the background and aggregated like client-go's recorder.

``record`` never blocks and never raises: it puts the Event in a bounded
queue that one background thread writes out, so a node change that touches a
thousand Services does not make the workers wait for a thousand POSTs.  An
Event identical to one still queued only raises that one's count; a repeat of
the same (object, type, reason, message) within ten minutes bumps ``count``
and ``lastTimestamp`` of the existing Event instead of creating a new one, so
a Service failing every few minutes does not flood etcd.  When the queue is
full the Event is dropped and logged: an Event is worth less than the sync
that made it.  For the same reason a burst of Events is written once it
settles (``SETTLE_SECONDS`` without a new one, at most ``MAX_DELAY_SECONDS``
after its first): the POSTs would otherwise take the interpreter from the
workers making the burst.  ``close`` writes out what is queued (the
controller calls it on stop).
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
MAX_PENDING = 1000
"""Distinct Events waiting to be written; more are dropped (identical ones only count up)."""
SETTLE_SECONDS = 0.05
"""Events are written once none was recorded for this long..."""
MAX_DELAY_SECONDS = 1.0
"""...or once the oldest has waited this long, whichever comes first."""

_CacheKey = tuple[str, str, str, str]


@dataclass(slots=True)
class _Seen:
    name: str
    count: int
    at: float


@dataclass(slots=True)
class _Pending:
    meta: ObjectMeta
    event_type: str
    reason: str
    message: str
    times: int
    queued_at: float


def _now() -> str:
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def truncate(message: str, limit: int = MAX_MESSAGE) -> str:
    """``message`` cut to ``limit`` characters, marked with an ellipsis when cut."""
    return message if len(message) <= limit else message[: limit - 3] + "..."


class EventRecorder:
    """Records core/v1 Events about Services, from one background thread."""

    def __init__(
        self,
        api: KubeApi,
        *,
        component: str = "lbprovider",
        max_pending: int = MAX_PENDING,
        settle_seconds: float = SETTLE_SECONDS,
        max_delay_seconds: float = MAX_DELAY_SECONDS,
    ) -> None:
        self._api = api
        self._component = component
        self._instance = socket.gethostname()
        self._max_pending = max_pending
        self._settle = settle_seconds
        self._max_delay = max_delay_seconds
        self._seen: OrderedDict[_CacheKey, _Seen] = OrderedDict()
        self._pending: OrderedDict[_CacheKey, _Pending] = OrderedDict()
        self._writing = False
        self._closing = False
        self._overflowing = False
        self._thread: threading.Thread | None = None
        self._condition = threading.Condition()
        self._last_recorded = 0.0
        self.dropped = 0
        """Events dropped because the queue was full."""

    # --- the workers' side: never blocks on the API ------------------------------------

    def record(self, meta: ObjectMeta, event_type: str, reason: str, message: str) -> None:
        """Queue an Event on the Service ``meta``; returns at once and never raises."""
        message = truncate(message)
        cache_key = (meta.uid, event_type, reason, message)
        now = time.monotonic()
        with self._condition:
            self._last_recorded = now
            pending = self._pending.get(cache_key)
            if pending is not None:
                pending.times += 1
                return
            if len(self._pending) >= self._max_pending:
                self.dropped += 1
                first_drop, self._overflowing = not self._overflowing, True
            else:
                first_drop = False
                self._overflowing = False
                self._pending[cache_key] = _Pending(meta, event_type, reason, message, 1, now)
                if self._thread is None:
                    self._thread = threading.Thread(
                        target=self._drain, name="event-recorder", daemon=True
                    )
                    self._thread.start()
                if len(self._pending) == 1:
                    # The writer waits without a timeout only on an empty queue; waking
                    # it for every Event of a burst would cost a thread switch each.
                    self._condition.notify_all()
        if first_drop:  # once per overflow, not once per Event
            log.warning(
                "event queue full, dropping events",
                extra={"service": meta.key, "reason": reason, "pending": self._max_pending},
            )

    def flush(self, timeout: float) -> bool:
        """Wait until every queued Event is written (or ``timeout``); True when all were."""
        deadline = time.monotonic() + timeout
        with self._condition:
            while self._pending or self._writing:
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    return False
                self._condition.wait(remaining)
        return True

    def close(self, timeout: float) -> bool:
        """Write out what is queued and end the thread (a later ``record`` starts a new one).

        True when everything was written within ``timeout``.
        """
        deadline = time.monotonic() + timeout
        with self._condition:
            self._closing = True
            thread = self._thread
            self._condition.notify_all()
        try:
            if thread is not None:
                thread.join(max(0.0, deadline - time.monotonic()))
            return self.flush(max(0.0, deadline - time.monotonic()))
        finally:
            with self._condition:
                self._closing = False

    # --- the background thread ---------------------------------------------------------

    def _hold(self) -> float:
        """How long the queued Events should wait for their burst to settle (0: write)."""
        if self._closing:
            return 0.0
        now = time.monotonic()
        oldest = next(iter(self._pending.values())).queued_at
        settle = self._settle - (now - self._last_recorded)
        return max(0.0, min(settle, self._max_delay - (now - oldest)))

    def _drain(self) -> None:
        while True:
            with self._condition:
                while True:
                    while not self._pending and not self._closing:
                        self._condition.wait()
                    if not self._pending:
                        self._thread = None
                        self._condition.notify_all()
                        return
                    hold = self._hold()
                    if hold <= 0:
                        break
                    self._condition.wait(hold)
                cache_key, pending = self._pending.popitem(last=False)
                self._writing = True
            try:
                self._write(cache_key, pending)
            except Exception as exc:
                log.warning(
                    "could not record event",
                    extra={
                        "service": pending.meta.key,
                        "reason": pending.reason,
                        "error": str(exc),
                    },
                )
            finally:
                with self._condition:
                    self._writing = False
                    self._condition.notify_all()

    def _write(self, cache_key: _CacheKey, pending: _Pending) -> None:
        if not self._bump(pending.meta, cache_key, pending.times):
            self._create(cache_key, pending)

    def _bump(self, meta: ObjectMeta, cache_key: _CacheKey, times: int) -> bool:
        seen = self._seen.get(cache_key)
        if seen is None or time.monotonic() - seen.at > AGGREGATE_WINDOW:
            return False
        seen.count += times
        seen.at = time.monotonic()
        try:
            self._api.request(
                "PATCH",
                f"/api/v1/namespaces/{meta.namespace}/events/{seen.name}",
                body={"count": seen.count, "lastTimestamp": _now()},
                content_type="application/merge-patch+json",
            )
        except ApiError as exc:
            if exc.status != 404:
                raise
            return False
        return True

    def _create(self, cache_key: _CacheKey, pending: _Pending) -> None:
        meta = pending.meta
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
                "type": pending.event_type,
                "reason": pending.reason,
                "message": pending.message,
                "count": pending.times,
                "firstTimestamp": now,
                "lastTimestamp": now,
                "source": {"component": self._component},
                "reportingComponent": self._component,
                "reportingInstance": self._instance,
            },
        )
        self._seen[cache_key] = _Seen(created["metadata"]["name"], pending.times, time.monotonic())
        while len(self._seen) > CACHE_SIZE:
            self._seen.popitem(last=False)
