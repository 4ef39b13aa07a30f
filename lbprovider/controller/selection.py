"""Which Services this controller serves, and which nodes may carry traffic.

Both rules come from upstream's service controller and are kept as they are:
operators rely on them.
"""

from __future__ import annotations

from collections.abc import Iterable

from lbprovider.cloud import NodeTarget
from lbprovider.kube.snapshots import NodeSnapshot, ServiceSnapshot

FINALIZER = "lbprovider.io/load-balancer-cleanup"
EXCLUDE_LABEL = "node.kubernetes.io/exclude-from-external-load-balancers"
TO_BE_DELETED_TAINT = "ToBeDeletedByClusterAutoscaler"

_TRUE = {"1", "t", "T", "TRUE", "true", "True"}
_FALSE = {"0", "f", "F", "FALSE", "false", "False"}


def class_of(
    service: ServiceSnapshot, served: Iterable[str], default_class: str | None
) -> str | None:
    """The configured class that serves ``service``, or None when it is not ours.

    Only ``type: LoadBalancer`` Services being kept (not deleted) are served;
    a Service without ``loadBalancerClass`` is ours only when the operator
    named a default class.
    """
    if service.type != "LoadBalancer" or service.meta.deleting:
        return None
    requested = service.load_balancer_class
    if requested is None:
        return default_class
    return requested if requested in set(served) else None


def has_finalizer(service: ServiceSnapshot) -> bool:
    """True when this controller put its cleanup finalizer on ``service``."""
    return FINALIZER in service.meta.finalizers


def is_excluded(node: NodeSnapshot) -> bool:
    """Upstream's node rules: deleting, labelled out (unparsable excludes), or scaled down."""
    if node.meta.deleting or TO_BE_DELETED_TAINT in node.taint_keys:
        return True
    value = node.meta.labels.get(EXCLUDE_LABEL)
    if value is None:
        return False
    return value not in _FALSE  # "true" and anything unparsable exclude


def node_target(node: NodeSnapshot | None) -> NodeTarget | None:
    """What ``node`` contributes to node-port backends (None when absent or excluded).

    Readiness is deliberately not part of it (KEP-3458): a flapping kubelet
    must not rebuild every load balancer; the cloud's health checks handle it.
    """
    if node is None or is_excluded(node):
        return None
    return NodeTarget(name=node.meta.name, provider_id=node.provider_id, address=node.internal_ip)


def eligible_nodes(
    nodes: Iterable[NodeSnapshot], *, previous: Iterable[NodeTarget] = ()
) -> tuple[NodeTarget, ...]:
    """The node targets for node-port backends, sorted by name.

    Targets equal to one in ``previous`` are that very object: every desired
    model built between two node changes keeps the tuple it was given, so
    without sharing, 1,000 Services over 5,000 Nodes held up to 1,000 copies
    of every target (600 MiB measured in ``make bench`` B4).
    """
    known = {target: target for target in previous}
    return tuple(
        sorted(
            known.get(target, target) for node in nodes if (target := node_target(node)) is not None
        )
    )
