"""What survives a restart, recorded on the Service itself: who holds its load balancer.

The annotation ``lbprovider.io/load-balancer`` holds a small JSON object::

    {"class": "lbprovider.io/aws-nlb", "id": "arn:aws:...", "digest": "3f2a..."}

- ``class`` is written *before the first cloud call* (in the same patch that
  adds the finalizer), so whatever happens next (a crash, a type change, a
  class change while the controller is down) the next sync knows which
  class's provider must clean up before anything else is built;
- ``id`` (the cloud's load balancer id) and ``digest`` (of the desired model
  and the class's provider settings) are written after the cloud was made to
  match, in the same request as the status: a restarted controller whose
  digest matches knows the cloud matched and makes no cloud call at all; the
  periodic resync repairs drift.

The node set is *not* in the digest: one node change would otherwise rewrite
every Service of the class.  It is recorded once per class, cluster-wide,
when all of the class's load balancers took it (``lbprovider.kube.noderecord``,
:func:`node_set_digest`).

Why an annotation and not the ``LoadBalancerReady`` condition the controller
already writes: status is a subresource other clients replace freely and it
cannot be written in the same request as the finalizer; an annotation rides
with the finalizer in one metadata patch, so the record exists before the
cloud is touched.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, fields, is_dataclass, replace
from enum import Enum
from typing import Any

from lbprovider.cloud import DesiredLoadBalancer, NodeTarget

OWNERSHIP_ANNOTATION = "lbprovider.io/load-balancer"


@dataclass(frozen=True, slots=True, kw_only=True)
class Ownership:
    """The record: which class holds the load balancer, its id, and what was applied."""

    load_balancer_class: str
    lb_id: str = ""
    digest: str = ""

    def to_annotation(self) -> str:
        value = {"class": self.load_balancer_class, "id": self.lb_id, "digest": self.digest}
        return json.dumps({k: v for k, v in value.items() if v}, sort_keys=True)

    @classmethod
    def from_annotations(cls, annotations: Mapping[str, str]) -> Ownership | None:
        """The record on a Service, or None when there is none (or it is not ours to read)."""
        raw = annotations.get(OWNERSHIP_ANNOTATION)
        if not raw:
            return None
        try:
            value = json.loads(raw)
        except ValueError:
            return None
        if not isinstance(value, dict) or not isinstance(value.get("class"), str):
            return None
        return cls(
            load_balancer_class=value["class"],
            lb_id=str(value.get("id", "")),
            digest=str(value.get("digest", "")),
        )


def _plain(value: Any) -> Any:
    """A JSON-able, order-stable form of the frozen contract values."""
    if is_dataclass(value) and not isinstance(value, type):
        return {item.name: _plain(getattr(value, item.name)) for item in fields(value)}
    if isinstance(value, Enum):
        return value.value
    if isinstance(value, Mapping):
        return {str(key): _plain(item) for key, item in sorted(value.items())}
    if isinstance(value, tuple | list):
        return [_plain(item) for item in value]
    return value


def applied_digest(desired: DesiredLoadBalancer, settings_fingerprint: str) -> str:
    """A digest of what a provider was asked to build, and with which settings; the
    nodes left out (:func:`node_set_digest` covers them, once per class)."""
    document = json.dumps(
        {"desired": _plain(replace(desired, nodes=())), "settings": settings_fingerprint},
        sort_keys=True,
        separators=(",", ":"),
    )
    return hashlib.sha256(document.encode()).hexdigest()[:32]


def node_set_digest(nodes: Iterable[NodeTarget]) -> str:
    """A digest of the node targets a class's load balancers are given."""
    document = json.dumps(
        sorted((node.name, node.provider_id, node.address) for node in nodes),
        separators=(",", ":"),
    )
    return hashlib.sha256(document.encode()).hexdigest()[:32]


def settings_fingerprint(provider: str, settings: Mapping[str, Any]) -> str:
    """A digest of a class's provider and settings: changing them re-ensures its Services."""
    document = json.dumps({"provider": provider, "settings": settings}, sort_keys=True, default=str)
    return hashlib.sha256(document.encode()).hexdigest()[:16]
