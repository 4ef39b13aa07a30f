"""Names and tags of this provider's SLB objects: the one place that spells them.

Ownership tags are :mod:`lbprovider.cloud.tags`'; here is how SLB carries
them (``Tag.N.Key`` on create, ``[{"TagKey", "TagValue"}]`` on reads), the
load balancer's display name, the VServerGroup names that tell our groups
(and through them our listeners) apart on a load balancer shared with others,
and how a node's providerID (``<region>.i-…``) names its ECS instance.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from typing import Any

from lbprovider.cloud import NodeTarget, ServiceRef
from lbprovider.cloud.tags import (
    CLUSTER_TAG,
    SERVICE_NAME_TAG,
    SERVICE_UID_TAG,
    is_owned_by,
    owner_filter,
    ownership_tags,
)

__all__ = [
    "cluster_filter",
    "group_name",
    "group_prefix",
    "instance_ids",
    "is_owned_by",
    "lb_name",
    "owner_filter",
    "owner_of",
    "ownership_tags",
    "tag_filter",
    "tag_list",
    "tags_of",
]

# LoadBalancerName (CreateLoadBalancer field doc): "1 to 80 characters in length, and can
# contain digits, periods (.), underscores (_), and hyphens (-). It must start with a
# letter." (letters too; no "/": SetLoadBalancerName's doc lists the same set).
MAX_NAME = 80
_NAME_RE = re.compile(r"[^A-Za-z0-9._-]")


def lb_name(cluster: str, ref: ServiceRef) -> str:
    """``k8s-<cluster>-<namespace>-<name>`` in the characters SLB accepts (a label, not a key);
    the ``k8s`` prefix makes it start with a letter."""
    return _NAME_RE.sub("-", f"k8s-{cluster}-{ref.namespace}-{ref.name}")[:MAX_NAME]


def group_prefix(ref: ServiceRef) -> str:
    """The VServerGroup name prefix that marks a group (and its listener) as ``ref``'s."""
    return f"lbp/{ref.uid}/"


def group_name(ref: ServiceRef, protocol: str, port: int) -> str:
    """``lbp/<service uid>/<PROTOCOL>-<port>``: one group per listener."""
    return f"{group_prefix(ref)}{protocol}-{port}"


def instance_ids(nodes: Iterable[NodeTarget], *, region: str) -> list[str]:
    """ECS instance ids of the nodes in ``region``, sorted; other clouds and regions are skipped."""
    prefix = f"{region}."
    return sorted(
        node.provider_id[len(prefix) :]
        for node in nodes
        if node.provider_id.startswith(f"{prefix}i-")
    )


def tag_list(tags: Mapping[str, str]) -> list[dict[str, str]]:
    """Tags as create calls take them (``Tag.N.Key`` / ``Tag.N.Value``)."""
    return [{"Key": key, "Value": value} for key, value in tags.items()]


def tag_filter(tags: Mapping[str, str]) -> list[dict[str, str]]:
    """Tags as DescribeLoadBalancers filters by them (a JSON list of TagKey/TagValue)."""
    return [{"TagKey": key, "TagValue": value} for key, value in tags.items()]


def tags_of(item: Mapping[str, Any]) -> dict[str, str]:
    """The tags of a DescribeLoadBalancers / DescribeVServerGroups item."""
    return {
        str(tag["TagKey"]): str(tag.get("TagValue", ""))
        for tag in item.get("Tags", {}).get("Tag", [])
    }


def cluster_filter(cluster: str) -> dict[str, str]:
    """The tags every load balancer this cluster created carries, whatever its Service."""
    return {CLUSTER_TAG: cluster}


def owner_of(tags: Mapping[str, str], *, cluster: str) -> tuple[str, str] | None:
    """``(service uid, namespace/name)`` when ``tags`` mark an object as created for a
    Service of ``cluster``; None otherwise (no UID tag: not created by us)."""
    uid = tags.get(SERVICE_UID_TAG, "")
    if tags.get(CLUSTER_TAG) != cluster or not uid:
        return None
    return uid, tags.get(SERVICE_NAME_TAG, "")
