"""Names and tags of this provider's CLB objects: the one place that spells them.

A CLB we create carries the ownership tags (``lbprovider.cloud.tags``) and
is found by them, never by its name.  Listeners cannot be tagged, so ours
are named ``lbp-<service uid>-<protocol>-<port>``: on a reused CLB
(``tke-existed-lbid``) that name is what tells our listeners from the
user's.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Mapping
from typing import Any

from lbprovider.cloud import Listener, NodeTarget, ServiceRef
from lbprovider.cloud.tags import CLUSTER_TAG, owner_filter, ownership_tags

PROVIDER_ID_PREFIX = "qcloud:///"
"""``spec.providerID`` of a Tencent Cloud node: ``qcloud:///<zone>/ins-...``."""
LB_NAME_MAX = 80
"""CLB's limit on ``LoadBalancerName``: "1-80 个...字符" (api.json, CreateLoadBalancer)."""
CLIENT_TOKEN_MAX = 64
"""``ClientToken``: "最大值不超过64个ASCII字符" (api.json, CreateLoadBalancer)."""
_INSTANCE_ID = re.compile(r"^ins-[0-9a-z]+$")

__all__ = [
    "LB_NAME_MAX",
    "PROVIDER_ID_PREFIX",
    "client_token",
    "cluster_filters",
    "instance_id",
    "lb_name",
    "listener_name",
    "listener_prefix",
    "owner_filters",
    "tag_list",
    "tags_of",
]


def lb_name(ref: ServiceRef) -> str:
    """The CLB's display name (informative only; ownership is in the tags)."""
    return f"k8s-{ref.namespace}-{ref.name}"[:LB_NAME_MAX]


def client_token(ref: ServiceRef, *, fingerprint: str, attempt: int = 0) -> str:
    """The ``ClientToken`` of creating ``ref``'s CLB: the same for every attempt of one
    creation, across calls and restarts, so a retried create answers the CLB the first
    one made instead of a second one.  ``fingerprint`` is what the CLB is created with
    (type, VPC, subnet, VIP); ``attempt`` moves on to a fresh token once the CLB an
    earlier one made is gone (the Service's CLB was deleted and is needed again).
    """
    seed = f"{ref.cluster}/{ref.uid}/{fingerprint}"
    token = f"lbp-{hashlib.sha256(seed.encode()).hexdigest()[:48]}-{attempt}"
    return token[:CLIENT_TOKEN_MAX]


def listener_prefix(ref: ServiceRef) -> str:
    """What every listener name of ``ref`` starts with."""
    return f"lbp-{ref.uid}-"


def listener_name(ref: ServiceRef, listener: Listener) -> str:
    return f"{listener_prefix(ref)}{listener.protocol.value.lower()}-{listener.port}"


def instance_id(node: NodeTarget) -> str | None:
    """The CVM instance id of a Tencent node (None for a malformed providerID)."""
    if not node.provider_id.startswith(PROVIDER_ID_PREFIX):
        return None
    candidate = node.provider_id.rstrip("/").rsplit("/", 1)[-1]
    return candidate if _INSTANCE_ID.match(candidate) else None


def tag_list(ref: ServiceRef) -> list[dict[str, str]]:
    """The ownership tags in CLB's ``Tags`` shape."""
    return [{"TagKey": key, "TagValue": value} for key, value in ownership_tags(ref).items()]


def owner_filters(ref: ServiceRef) -> list[dict[str, Any]]:
    """``DescribeLoadBalancers`` filters matching ``ref``'s CLBs (cluster + Service UID)."""
    return [{"Name": f"tag:{key}", "Values": [value]} for key, value in owner_filter(ref).items()]


def cluster_filters(cluster: str) -> list[dict[str, Any]]:
    """``DescribeLoadBalancers`` filters matching every CLB of ``cluster``."""
    return [{"Name": f"tag:{CLUSTER_TAG}", "Values": [cluster]}]


def tags_of(tags: list[Mapping[str, Any]] | None) -> dict[str, str]:
    """CLB's ``Tags`` list as a mapping."""
    return {str(tag["TagKey"]): str(tag.get("TagValue") or "") for tag in tags or []}
