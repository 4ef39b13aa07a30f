"""What the service controller needs from Kubernetes, as two small Protocols.

The controller reads cached snapshots through a :class:`ServiceStore` and
writes through a :class:`ServiceWriter`; it builds neither.  The real ones
(``lbprovider.kube.store.InformerStore`` over list+watch informers and
``lbprovider.kube.writer.KubeServiceWriter`` over the API and the Event
recorder) satisfy these structurally, so the kube layer never imports the
controller, and unit tests pass in-memory ones: no API server needed.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any, Protocol, TypeVar

from lbprovider.kube.snapshots import (
    EndpointSliceSnapshot,
    NodeSnapshot,
    ObjectMeta,
    ServiceSnapshot,
)

SnapshotT = TypeVar("SnapshotT")


class Lister(Protocol[SnapshotT]):
    """A read-only cache of one kind of snapshot, which reports its changes."""

    def get(self, key: str) -> SnapshotT | None:
        """The cached snapshot for ``key``, or None."""
        ...

    def items(self) -> list[SnapshotT]:
        """A copy of every cached snapshot."""
        ...

    def has_synced(self) -> bool:
        """True once the cache holds a first complete list."""
        ...

    def add_handler(self, handler: Callable[[SnapshotT | None, SnapshotT | None], None]) -> None:
        """Call ``handler(old, new)`` on every change; add is (None, new), delete (old, None).

        Handlers run on the cache's thread and must not block: they only queue keys.
        """
        ...


class ServiceStore(Protocol):
    """The cached Services, Nodes and EndpointSlices the controller reads."""

    @property
    def services(self) -> Lister[ServiceSnapshot]:
        """Every Service (the controller selects its own)."""
        ...

    @property
    def nodes(self) -> Lister[NodeSnapshot]:
        """Every Node."""
        ...

    @property
    def slices(self) -> Lister[EndpointSliceSnapshot]:
        """Every EndpointSlice."""
        ...

    def start(self, *, sync_timeout: float) -> None:
        """Start filling the caches; TimeoutError when one has no first list in time."""
        ...

    def stop(self) -> None:
        """Stop following changes."""
        ...


class ServiceWriter(Protocol):
    """Every write the controller makes to a Service: finalizers, annotations, status, Events."""

    def add_finalizer(
        self, meta: ObjectMeta, finalizer: str, *, annotations: Mapping[str, str] | None = None
    ) -> None:
        """Add ``finalizer`` and set ``annotations`` in the same request; raises when the API
        refuses (e.g. a stale resourceVersion)."""
        ...

    def remove_finalizer(
        self, meta: ObjectMeta, finalizer: str, *, annotations: tuple[str, ...] = ()
    ) -> None:
        """Remove ``finalizer`` and the ``annotations`` named, in one request; raises when
        the API refuses."""
        ...

    def annotate(self, meta: ObjectMeta, annotations: Mapping[str, str | None]) -> None:
        """Set (None: remove) ``annotations``, leaving the others alone; raises when refused."""
        ...

    def patch_status(
        self,
        meta: ObjectMeta,
        status: Mapping[str, Any],
        *,
        annotations: Mapping[str, str] | None = None,
    ) -> None:
        """Strategic-merge ``status`` into the status subresource, with ``annotations`` in
        the same request (the Service status strategy resets only ``spec``, so metadata
        rides along); raises when refused."""
        ...

    def event(self, meta: ObjectMeta, event_type: str, reason: str, message: str) -> None:
        """Record an Event on the Service; never raises (an Event is worth less than a sync)."""
        ...

    def close(self, timeout: float) -> None:
        """Write out what is still queued (Events), waiting at most ``timeout`` seconds.

        Called by ``ServiceController.stop`` once its workers are done.
        """
        ...


class NodeSetRecord(Protocol):
    """Per class, the digest of the node set all its load balancers were last given
    (``lbprovider.kube.noderecord``): one write per node change, not one per Service."""

    def load(self) -> Mapping[str, str]:
        """Every class's digest, keyed by ``lbprovider.kube.noderecord.data_key(class)``."""
        ...

    def save(self, load_balancer_class: str, digest: str) -> None:
        """Record ``digest`` for ``load_balancer_class``; raises when the API refuses."""
        ...
