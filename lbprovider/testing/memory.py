"""In-memory stand-ins for the controller's store and writer (no API server).

``MemoryStore`` holds Services, Nodes and EndpointSlices and tells handlers
about changes like informers do; ``RecordingWriter`` journals every write and
applies it to the store as the API server would (finalizers, annotations,
status merges, a deleting Service released when its last finalizer goes).
Unit tests and the reliability runs drive the real ``ServiceController`` with
them and a ``ManualClock`` under the real work queue.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import replace
from types import MappingProxyType
from typing import Any, Generic, TypeVar

from lbprovider.kube.noderecord import InProcessNodeSetRecord
from lbprovider.kube.snapshots import (
    EndpointSliceSnapshot,
    NodeSnapshot,
    ObjectMeta,
    ServiceSnapshot,
)

T = TypeVar("T", ServiceSnapshot, NodeSnapshot, EndpointSliceSnapshot)
Entry = tuple[str, ...]
"""One journal line: ``("add_finalizer", key, finalizer)``, ``("event", type, reason)``..."""


class MemoryLister(Generic[T]):
    """A dict of snapshots that tells its handlers about changes, like an informer."""

    def __init__(self) -> None:
        self._items: dict[str, T] = {}
        self._handlers: list[Callable[[T | None, T | None], None]] = []

    def get(self, key: str) -> T | None:
        return self._items.get(key)

    def items(self) -> list[T]:
        return list(self._items.values())

    def has_synced(self) -> bool:
        return True

    def add_handler(self, handler: Callable[[T | None, T | None], None]) -> None:
        self._handlers.append(handler)

    def put(self, item: T) -> None:
        old = self._items.get(item.key)
        self._items[item.key] = item
        for handler in self._handlers:
            handler(old, item)

    def remove(self, key: str) -> None:
        old = self._items.pop(key)
        for handler in self._handlers:
            handler(old, None)


class MemoryStore:
    """Services, Nodes and EndpointSlices in memory; always synced."""

    def __init__(self) -> None:
        self.services: MemoryLister[ServiceSnapshot] = MemoryLister()
        self.nodes: MemoryLister[NodeSnapshot] = MemoryLister()
        self.slices: MemoryLister[EndpointSliceSnapshot] = MemoryLister()

    def start(self, *, sync_timeout: float) -> None:
        pass

    def stop(self) -> None:
        pass


def merge_status(service: ServiceSnapshot, patch: Mapping[str, Any]) -> ServiceSnapshot:
    """What a strategic-merge status patch does to the fields the controller reads."""
    ingress = service.status_ingress
    if "loadBalancer" in patch:
        entries = patch["loadBalancer"].get("ingress") or ()
        ingress = tuple(MappingProxyType(dict(entry)) for entry in entries)
    conditions = {entry["type"]: entry for entry in service.status_conditions}
    for entry in patch.get("conditions", ()):
        if entry.get("$patch") == "delete":
            conditions.pop(entry["type"], None)
        else:
            conditions[entry["type"]] = MappingProxyType(dict(entry))
    return replace(service, status_ingress=ingress, status_conditions=tuple(conditions.values()))


class RecordingWriter:
    """Journals every write and applies it to the store, as the API server would."""

    def __init__(self, store: MemoryStore, journal: list[Entry] | None = None) -> None:
        self.store = store
        self.journal: list[Entry] = journal if journal is not None else []
        self.statuses: list[Mapping[str, Any]] = []
        self.messages: list[str] = []
        self.fail_finalizer: Exception | None = None

    def _current(self, meta: ObjectMeta) -> ServiceSnapshot:
        service = self.store.services.get(meta.key)
        assert service is not None, f"write to a Service not in the store: {meta.key}"
        return service

    def add_finalizer(
        self, meta: ObjectMeta, finalizer: str, *, annotations: Mapping[str, str] | None = None
    ) -> None:
        self.journal.append(("add_finalizer", meta.key, finalizer))
        if self.fail_finalizer is not None:
            raise self.fail_finalizer
        service = self._current(meta)
        finalizers = service.meta.finalizers
        if finalizer not in finalizers:
            finalizers = (*finalizers, finalizer)
        new_meta = replace(
            service.meta,
            finalizers=finalizers,
            annotations={**service.meta.annotations, **(annotations or {})},
        )
        self.store.services.put(replace(service, meta=new_meta))

    def remove_finalizer(
        self, meta: ObjectMeta, finalizer: str, *, annotations: tuple[str, ...] = ()
    ) -> None:
        self.journal.append(("remove_finalizer", meta.key, finalizer))
        service = self._current(meta)
        left = tuple(name for name in service.meta.finalizers if name != finalizer)
        kept = {k: v for k, v in service.meta.annotations.items() if k not in annotations}
        if service.meta.deleting and not left:
            self.store.services.remove(meta.key)  # the API server lets it go
        else:
            new_meta = replace(service.meta, finalizers=left, annotations=kept)
            self.store.services.put(replace(service, meta=new_meta))

    def annotate(self, meta: ObjectMeta, annotations: Mapping[str, str | None]) -> None:
        self.journal.append(("annotate", meta.key))
        service = self._current(meta)
        merged = {**service.meta.annotations, **annotations}
        kept = {k: v for k, v in merged.items() if v is not None}
        self.store.services.put(replace(service, meta=replace(service.meta, annotations=kept)))

    def patch_status(
        self,
        meta: ObjectMeta,
        status: Mapping[str, Any],
        *,
        annotations: Mapping[str, str] | None = None,
    ) -> None:
        self.journal.append(("patch_status", meta.key))
        self.statuses.append(status)
        service = merge_status(self._current(meta), status)
        if annotations:
            merged = {**service.meta.annotations, **annotations}
            service = replace(service, meta=replace(service.meta, annotations=merged))
        self.store.services.put(service)

    def event(self, meta: ObjectMeta, event_type: str, reason: str, message: str) -> None:
        self.journal.append(("event", event_type, reason))
        self.messages.append(message)

    def close(self, timeout: float) -> None:
        self.journal.append(("close",))


class MemoryNodeSetRecord(InProcessNodeSetRecord):
    """The cluster-wide node-set record (``lbprovider.kube.noderecord``) in a dict, shared
    by the controllers a test starts one after the other."""


class ManualClock:
    """A clock that moves only when a test moves it (``clock.now += 5``)."""

    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now
