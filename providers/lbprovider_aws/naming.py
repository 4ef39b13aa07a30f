"""Names and tags of this provider's AWS objects: the one place for them.

Ownership tags come from :mod:`lbprovider.cloud.tags` (cluster + Service UID);
names only keep AWS objects unique and readable, and never decide ownership.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Mapping
from typing import Any

from lbprovider.cloud.tags import (
    CLUSTER_TAG,
    SERVICE_NAME_TAG,
    SERVICE_UID_TAG,
    is_owned_by,
    ownership_tags,
)
from lbprovider.cloud.types import ServiceRef

__all__ = [
    "BACKEND_ROLE",
    "CLUSTER_TAG",
    "MARKER_PREFIX",
    "REQUESTED_IP_TAG",
    "ROLE_TAG",
    "SERVICE_NAME_TAG",
    "SERVICE_UID_TAG",
    "aws_tags",
    "backend_group_name",
    "backend_marker",
    "backend_tags",
    "cluster_tag_key",
    "from_aws",
    "is_owned_by",
    "listener_port_of",
    "load_balancer_name",
    "marker",
    "owner_hash",
    "target_group_name",
    "target_group_prefix",
]

NAME_PREFIX = "lbp"
REQUESTED_IP_TAG = "lbprovider.io/requested-ip"
"""The private IP an internal NLB was created with (AWS cannot change it in place)."""
MARKER_PREFIX = "lbprovider:"
"""Starts the description of every backend rule added to a node security group."""
DESCRIPTION_LIMIT = 255
ROLE_TAG = "lbprovider.io/role"
BACKEND_ROLE = "backend"
"""``ROLE_TAG`` of the cluster's shared backend security group (no Service owns it)."""


def cluster_tag_key(cluster: str) -> str:
    """The conventional ``kubernetes.io/cluster/<cluster>`` key (value ``owned``)."""
    return f"kubernetes.io/cluster/{cluster}"


def aws_tags(ref: ServiceRef, extra: Mapping[str, str] | None = None) -> list[dict[str, str]]:
    """``[{"Key": ..., "Value": ...}]`` for every object created for ``ref``."""
    tags = ownership_tags(ref)
    tags[cluster_tag_key(ref.cluster)] = "owned"
    tags.update(extra or {})
    return [{"Key": key, "Value": value} for key, value in sorted(tags.items())]


def from_aws(tags: Iterable[Any] | None) -> dict[str, str]:
    """A plain dict from AWS's ``[{"Key", "Value"}]`` list."""
    result: dict[str, str] = {}
    for item in tags or []:
        if isinstance(item, dict) and "Key" in item:
            result[str(item["Key"])] = str(item.get("Value", ""))
    return result


def marker(ref: ServiceRef) -> str:
    """The description that marks a node security-group rule as created for ``ref``."""
    return f"{MARKER_PREFIX}{ref.cluster}/{ref.uid}"[:DESCRIPTION_LIMIT]


def backend_marker(cluster: str) -> str:
    """The description of the node security-group rules sourced from the backend group."""
    return f"{MARKER_PREFIX}{cluster}/{BACKEND_ROLE}"[:DESCRIPTION_LIMIT]


def backend_group_name(cluster: str) -> str:
    """``lbp-backend-<16 hex>``: the cluster's shared backend security group (one per VPC)."""
    digest = hashlib.sha256(cluster.encode()).hexdigest()[:16]
    return f"{NAME_PREFIX}-{BACKEND_ROLE}-{digest}"


def backend_tags(cluster: str) -> list[dict[str, str]]:
    """Tags of the shared backend group: the cluster's, a role, and no Service UID."""
    tags = {CLUSTER_TAG: cluster, cluster_tag_key(cluster): "owned", ROLE_TAG: BACKEND_ROLE}
    return [{"Key": key, "Value": value} for key, value in sorted(tags.items())]


def owner_hash(ref: ServiceRef) -> str:
    """Hex digest of cluster + Service UID: same owner, same names (restarts adopt)."""
    return hashlib.sha256(f"{ref.cluster}/{ref.uid}".encode()).hexdigest()


def load_balancer_name(ref: ServiceRef) -> str:
    """``lbp-<28 hex>``: 32 characters, AWS's limit, unique per cluster + Service UID."""
    return f"{NAME_PREFIX}-{owner_hash(ref)[:28]}"


def target_group_prefix(ref: ServiceRef) -> str:
    """The name prefix shared by every target group of ``ref`` (used to narrow lookups)."""
    return f"{NAME_PREFIX}-{owner_hash(ref)[:14]}-"


def target_group_name(ref: ServiceRef, *, port: int, protocol: str, target_type: str) -> str:
    """``lbp-<14 hex>-<port>-<code>`` (at most 28 characters).

    Protocol and target type are immutable on a target group, so they are part
    of its identity: changing either creates a new group.
    """
    code = {"TCP": "t", "UDP": "u", "TCP_UDP": "tu"}[protocol]
    code += "i" if target_type == "instance" else "p"
    return f"{target_group_prefix(ref)}{port}-{code}"


def listener_port_of(name: str) -> int | None:
    """The listener port a name from :func:`target_group_name` carries; None for another name."""
    parts = name.split("-")
    if len(parts) != 4 or parts[0] != NAME_PREFIX or not parts[2].isdigit():
        return None
    return int(parts[2])
