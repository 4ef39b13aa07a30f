"""List+watch informers holding trimmed snapshots.

One thread per resource lists (in pages), then watches from the list's
resourceVersion with bookmarks; a 410 Gone (or any stream failure) relists
and reports only what really changed.  The store holds frozen snapshots
(``lbprovider.kube.snapshots``), never the client's models.
"""

from __future__ import annotations

import contextlib
import logging
import threading
from collections.abc import Callable, Mapping
from typing import Any, Generic, Protocol, TypeVar

from lbprovider.kube.api import ApiError, KubeApi

log = logging.getLogger(__name__)

HTTP_GONE = 410


class Keyed(Protocol):
    """A snapshot with a store key."""

    @property
    def key(self) -> str: ...


SnapshotT = TypeVar("SnapshotT", bound=Keyed)
EventHandler = Callable[[Any, Any], None]
"""``handler(old, new)``: add is (None, new), delete is (old, None), update is (old, new)."""


class Informer(Generic[SnapshotT]):
    """A cache of one resource kind, kept current by list+watch."""

    def __init__(
        self,
        api: KubeApi,
        *,
        kind: str,
        path: str,
        parse: Callable[[Mapping[str, Any]], SnapshotT],
        watch_timeout: int = 300,
        retry_delay: float = 1.0,
    ) -> None:
        self.kind = kind
        self._api = api
        self._path = path
        self._parse = parse
        self._watch_timeout = watch_timeout
        self._retry_delay = retry_delay
        self._store: dict[str, SnapshotT] = {}
        self._lock = threading.Lock()
        self._handlers: list[EventHandler] = []
        self._synced = threading.Event()
        self._stopped = threading.Event()
        self._thread: threading.Thread | None = None
        self._stream: Any = None

    def add_handler(self, handler: EventHandler) -> None:
        """Call ``handler(old, new)`` for every change (before ``start``)."""
        self._handlers.append(handler)

    def get(self, key: str) -> SnapshotT | None:
        """The cached snapshot for ``key``."""
        with self._lock:
            return self._store.get(key)

    def items(self) -> list[SnapshotT]:
        """A copy of every cached snapshot."""
        with self._lock:
            return list(self._store.values())

    def has_synced(self) -> bool:
        """True once the first list has been stored."""
        return self._synced.is_set()

    def wait_synced(self, timeout: float) -> bool:
        """Block until the first list is stored (or ``timeout``)."""
        return self._synced.wait(timeout)

    def start(self) -> None:
        """Start the list+watch thread."""
        self._thread = threading.Thread(target=self._run, name=f"informer-{self.kind}", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        """Stop the thread, closing its watch so the API server sees us go at once."""
        self._stopped.set()
        stream = self._stream
        if stream is not None:
            with contextlib.suppress(Exception):
                stream.shutdown()

    def _opened(self, stream: Any) -> None:
        self._stream = stream
        if self._stopped.is_set():
            with contextlib.suppress(Exception):
                stream.shutdown()

    def _dispatch(self, old: SnapshotT | None, new: SnapshotT | None) -> None:
        for handler in self._handlers:
            try:
                handler(old, new)
            except Exception:
                log.exception("informer handler failed", extra={"kind": self.kind})

    def _relist(self) -> str:
        raw_items, resource_version = self._api.list_all(self._path)
        fresh = {snapshot.key: snapshot for snapshot in map(self._parse, raw_items)}
        with self._lock:
            previous, self._store = self._store, dict(fresh)
        for key, snapshot in fresh.items():
            old = previous.get(key)
            if old != snapshot:
                self._dispatch(old, snapshot)
        for key, old in previous.items():
            if key not in fresh:
                self._dispatch(old, None)
        self._synced.set()
        return resource_version

    def _apply(self, event: Mapping[str, Any]) -> str | None:
        """Apply one watch event; its resourceVersion, or None when a relist is needed."""
        kind = event.get("type")
        raw = event.get("object") or {}
        if kind == "ERROR":
            log.info(
                "watch expired, relisting", extra={"kind": self.kind, "status": raw.get("code")}
            )
            return None
        resource_version: str = (raw.get("metadata") or {}).get("resourceVersion", "")
        if kind == "BOOKMARK":
            return resource_version
        snapshot = self._parse(raw)
        with self._lock:
            old = self._store.get(snapshot.key)
            if kind == "DELETED":
                self._store.pop(snapshot.key, None)
            else:
                self._store[snapshot.key] = snapshot
        if kind == "DELETED":
            # Handlers get the object's final state, as client-go's delete handlers do.
            self._dispatch(snapshot, None)
        elif old != snapshot:
            self._dispatch(old, snapshot)
        return resource_version

    def _run(self) -> None:
        while not self._stopped.is_set():
            try:
                resource_version = self._relist()
                while not self._stopped.is_set():
                    for event in self._api.watch(
                        self._path,
                        resource_version=resource_version,
                        timeout_seconds=self._watch_timeout,
                        on_open=self._opened,
                    ):
                        next_version = self._apply(event)
                        if next_version is None:
                            raise ApiError(
                                HTTP_GONE, "watch expired", method="WATCH", path=self._path
                            )
                        resource_version = next_version or resource_version
                        if self._stopped.is_set():
                            return
            except Exception as exc:
                if self._stopped.is_set():
                    return  # our own stop() closed the stream
                if isinstance(exc, ApiError) and exc.status == HTTP_GONE:
                    continue  # expired: relist now
                log.warning("list/watch failed", extra={"kind": self.kind, "error": str(exc)})
                self._stopped.wait(self._retry_delay)
