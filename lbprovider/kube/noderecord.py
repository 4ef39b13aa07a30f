"""One cluster-wide record of which node set each class's load balancers were given.

A node change touches every load balancer of a class; recording it on each
Service would cost one Service write per load balancer (1,000 PATCHes for one
new node).  Instead the controller writes, per class, the digest of the node
set once *every* load balancer of that class took it, into one ConfigMap
(``<leader-election name>-node-sync`` in the leader-election namespace)::

    data:
      lbprovider.io_aws-nlb: 3f2a...     # the class, "/" spelled "_" (ConfigMap keys)

A restarted controller whose class's digest matches the nodes it sees knows
the backends are right; one that finds it different (a node changed while it
was down, or a node sync did not finish) updates every load balancer's
backends once.  Per-key merge patches, so controllers serving other classes
share the ConfigMap without overwriting each other.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping

from lbprovider.kube.api import ApiError, KubeApi

log = logging.getLogger(__name__)


def data_key(load_balancer_class: str) -> str:
    """A ConfigMap data key (``[-._a-zA-Z0-9]+``) for a class name."""
    return load_balancer_class.replace("/", "_")


class KubeNodeSetRecord:
    """The record in a ConfigMap; see the module docstring."""

    def __init__(self, api: KubeApi, *, namespace: str, name: str) -> None:
        self._api = api
        self._path = f"/api/v1/namespaces/{namespace}/configmaps"
        self._namespace = namespace
        self._name = name

    def load(self) -> Mapping[str, str]:
        """Every class's recorded digest, keyed by :func:`data_key` (empty when none yet)."""
        try:
            found = self._api.request("GET", f"{self._path}/{self._name}")
        except ApiError as exc:
            if exc.status == 404:
                return {}
            raise
        return dict(found.get("data") or {})

    def save(self, load_balancer_class: str, digest: str) -> None:
        """Record that every load balancer of ``load_balancer_class`` has node set ``digest``."""
        data = {data_key(load_balancer_class): digest}
        try:
            self._api.request(
                "PATCH",
                f"{self._path}/{self._name}",
                body={"data": data},
                content_type="application/merge-patch+json",
            )
        except ApiError as exc:
            if exc.status != 404:
                raise
            body = {
                "apiVersion": "v1",
                "kind": "ConfigMap",
                "metadata": {
                    "name": self._name,
                    "namespace": self._namespace,
                    "labels": {"app.kubernetes.io/managed-by": "lbprovider"},
                },
                "data": data,
            }
            self._api.request("POST", self._path, body=body)


class InProcessNodeSetRecord:
    """The record kept in this process only (forgotten on exit): for a controller
    built without the API server's ConfigMap; a restart then updates backends once."""

    def __init__(self) -> None:
        self.data: dict[str, str] = {}
        self.saves = 0

    def load(self) -> Mapping[str, str]:
        """A copy of what was saved."""
        return dict(self.data)

    def save(self, load_balancer_class: str, digest: str) -> None:
        """Keep ``digest`` for ``load_balancer_class``."""
        self.saves += 1
        self.data[data_key(load_balancer_class)] = digest
