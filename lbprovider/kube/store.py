"""The controller's caches of Services, Nodes and EndpointSlices, kept by informers.

``InformerStore`` is the real ``ServiceStore`` of ``lbprovider.controller``:
three list+watch informers of trimmed snapshots, started together and
waited for together.
"""

from __future__ import annotations

from lbprovider.kube.api import KubeApi
from lbprovider.kube.informer import Informer
from lbprovider.kube.snapshots import EndpointSliceSnapshot, NodeSnapshot, ServiceSnapshot


class InformerStore:
    """Services, Nodes and EndpointSlices from one API server."""

    def __init__(self, api: KubeApi) -> None:
        self._services: Informer[ServiceSnapshot] = Informer(
            api, kind="Service", path="/api/v1/services", parse=ServiceSnapshot.parse
        )
        self._nodes: Informer[NodeSnapshot] = Informer(
            api, kind="Node", path="/api/v1/nodes", parse=NodeSnapshot.parse
        )
        self._slices: Informer[EndpointSliceSnapshot] = Informer(
            api,
            kind="EndpointSlice",
            path="/apis/discovery.k8s.io/v1/endpointslices",
            parse=EndpointSliceSnapshot.parse,
        )

    @property
    def services(self) -> Informer[ServiceSnapshot]:
        """Every Service."""
        return self._services

    @property
    def nodes(self) -> Informer[NodeSnapshot]:
        """Every Node."""
        return self._nodes

    @property
    def slices(self) -> Informer[EndpointSliceSnapshot]:
        """Every EndpointSlice."""
        return self._slices

    def start(self, *, sync_timeout: float) -> None:
        """Start the informers and wait for each one's first list.

        Nodes and slices come first so the first Service syncs see complete backends.
        """
        informers = (self._nodes, self._slices, self._services)
        for informer in informers:
            informer.start()
        for informer in informers:
            if not informer.wait_synced(sync_timeout):
                raise TimeoutError(f"the {informer.kind} informer did not sync in {sync_timeout}s")

    def stop(self) -> None:
        """Stop every informer (closing its watch)."""
        for informer in (self._services, self._nodes, self._slices):
            informer.stop()
