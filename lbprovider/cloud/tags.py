"""Ownership tags: the one place that says how a cloud object names its owner.

Providers tag every load balancer (and what hangs off it, where the cloud
allows) with these, and find their objects by them, so a restart or crash
re-adopts instead of creating a duplicate.
"""

from __future__ import annotations

from lbprovider.cloud.types import ServiceRef

CLUSTER_TAG = "lbprovider.io/cluster"
SERVICE_UID_TAG = "lbprovider.io/service-uid"
SERVICE_NAME_TAG = "kubernetes.io/service-name"


def ownership_tags(ref: ServiceRef) -> dict[str, str]:
    """The tags that mark a cloud object as owned by ``ref`` in its cluster."""
    return {
        CLUSTER_TAG: ref.cluster,
        SERVICE_UID_TAG: ref.uid,
        SERVICE_NAME_TAG: ref.key,
    }


def owner_filter(ref: ServiceRef) -> dict[str, str]:
    """The tags a lookup must match: cluster and Service UID (the name may be reused)."""
    return {CLUSTER_TAG: ref.cluster, SERVICE_UID_TAG: ref.uid}


def is_owned_by(tags: dict[str, str], ref: ServiceRef) -> bool:
    """True when ``tags`` carry ``ref``'s cluster and UID."""
    return all(tags.get(key) == value for key, value in owner_filter(ref).items())
