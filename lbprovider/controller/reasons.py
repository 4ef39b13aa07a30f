"""Every reason the controller writes on a Service: Event reasons and its condition.

One module so the strings users grep for (``kubectl get events``, alerts)
are spelled once.  The Event reasons are upstream's service controller's
(k8s.io/cloud-provider), kept as they are: dashboards and runbooks match them.
"""

from __future__ import annotations

from typing import Final

# --- Event reasons (upstream's strings) ------------------------------------------------

ENSURING_LOAD_BALANCER: Final = "EnsuringLoadBalancer"
ENSURED_LOAD_BALANCER: Final = "EnsuredLoadBalancer"
UPDATED_LOAD_BALANCER: Final = "UpdatedLoadBalancer"
DELETING_LOAD_BALANCER: Final = "DeletingLoadBalancer"
DELETED_LOAD_BALANCER: Final = "DeletedLoadBalancer"
SYNC_LOAD_BALANCER_FAILED: Final = "SyncLoadBalancerFailed"
UNAVAILABLE_LOAD_BALANCER: Final = "UnAvailableLoadBalancer"
"""Upstream's capitalisation ("UnAvailable"), kept on purpose."""
UPDATE_LOAD_BALANCER_FAILED: Final = "UpdateLoadBalancerFailed"

# --- Event reasons of our own ----------------------------------------------------------

UNSUPPORTED_CONFIGURATION: Final = "UnsupportedConfiguration"
"""A provider cannot honour part of the Service (its warnings); the rest is served."""

# --- The condition in status.conditions ------------------------------------------------

CONDITION_TYPE: Final = "LoadBalancerReady"
CONDITION_ENSURED: Final = "Ensured"
"""``status: "True"``: the cloud matches the Service."""
CONDITION_INVALID_SERVICE: Final = "InvalidService"
"""``status: "False"``: the Service asks for something that cannot be built."""
CONDITION_SYNC_FAILED: Final = "SyncFailed"
"""``status: "False"``: a cloud or API call failed; retried with backoff."""
