"""The controller's writes to Services: finalizer and status patches, and Events.

``KubeServiceWriter`` is the real ``ServiceWriter`` of ``lbprovider.controller``,
a thin front over ``lbprovider.kube.patches`` and an ``EventRecorder``.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from typing import Any

from lbprovider.kube import patches
from lbprovider.kube.api import KubeApi
from lbprovider.kube.events import EventRecorder
from lbprovider.kube.snapshots import ObjectMeta

log = logging.getLogger(__name__)


class KubeServiceWriter:
    """Writes to Services through one API server."""

    def __init__(self, api: KubeApi, *, recorder: EventRecorder | None = None) -> None:
        self._api = api
        self.recorder = recorder if recorder is not None else EventRecorder(api)

    def add_finalizer(
        self, meta: ObjectMeta, finalizer: str, *, annotations: Mapping[str, str] | None = None
    ) -> None:
        """Add ``finalizer`` (with ``annotations``, in the same request); ApiError when refused."""
        if annotations:
            patches.claim(self._api, meta, finalizer, annotations)
        else:
            patches.add_finalizer(self._api, meta, finalizer)

    def remove_finalizer(
        self, meta: ObjectMeta, finalizer: str, *, annotations: tuple[str, ...] = ()
    ) -> None:
        """Remove ``finalizer`` and ``annotations`` in one request; ApiError when refused."""
        patches.remove_finalizer(self._api, meta, finalizer, annotations=annotations)

    def annotate(self, meta: ObjectMeta, annotations: Mapping[str, str | None]) -> None:
        """Set (None: remove) ``annotations``; ApiError when refused."""
        patches.annotate(self._api, meta, annotations)

    def patch_status(
        self,
        meta: ObjectMeta,
        status: Mapping[str, Any],
        *,
        annotations: Mapping[str, str] | None = None,
    ) -> None:
        """Strategic-merge ``status`` (and ``annotations``) through the status subresource."""
        patches.patch_status(self._api, meta, status, annotations=annotations)

    def event(self, meta: ObjectMeta, event_type: str, reason: str, message: str) -> None:
        """Queue an Event (written in the background); never blocks, never raises."""
        self.recorder.record(meta, event_type, reason, message)

    def close(self, timeout: float) -> None:
        """Write out the Events still queued (at most ``timeout`` seconds)."""
        if not self.recorder.close(timeout):
            log.warning(
                "events still queued at shutdown were not written", extra={"timeout": timeout}
            )
