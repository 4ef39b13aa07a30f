"""The Provider protocol and the errors that steer the controller's retries.

Mirrors k8s.io/cloud-provider's ``LoadBalancer`` interface.  Every method is
idempotent and may be called again after any failure or crash: a provider
finds its own cloud objects by ownership tags and resumes from what it reads.
An unchanged Service must cost zero cloud writes.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Protocol as _Protocol
from typing import runtime_checkable

from lbprovider.cloud.types import DesiredLoadBalancer, LoadBalancerStatus, ServiceRef


class CloudError(Exception):
    """Any failure talking to a cloud; retried with per-key exponential backoff (5 s to 300 s)."""


class RetryAfter(CloudError):
    """The cloud is still working (provisioning, a task running): ask again after ``seconds``."""

    def __init__(self, seconds: float, reason: str = "") -> None:
        super().__init__(reason or f"retry after {seconds:g}s")
        self.seconds = seconds
        self.reason = reason


class InvalidService(CloudError):
    """The Service asks for something this provider cannot build (a bad annotation, ...).

    The controller records a Warning Event and a condition and retries slowly;
    it never crashes and never touches other Services.
    """

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


class ProviderConfigError(ValueError):
    """The class settings given to a provider factory are wrong; the message says which."""


@runtime_checkable
class Provider(_Protocol):
    """Cloud load balancers for one configured class.

    Arguments are frozen snapshots and must not be retained.  Raise
    :class:`RetryAfter`, :class:`InvalidService` or :class:`CloudError`;
    never let an SDK exception carry credentials into a message.
    """

    name: str

    def get(self, ref: ServiceRef) -> LoadBalancerStatus | None:
        """The load balancer owned by ``ref``, or None if it does not exist."""
        ...

    def ensure(self, desired: DesiredLoadBalancer) -> LoadBalancerStatus:
        """Create or update the load balancer so the cloud matches ``desired``."""
        ...

    def update_backends(self, desired: DesiredLoadBalancer) -> None:
        """Bring only the backends (targets/servers) in line; called on node changes."""
        ...

    def delete(self, ref: ServiceRef) -> None:
        """Remove everything this provider created for ``ref``; success if already gone."""
        ...


ProviderFactory = Callable[..., Provider]
"""``create(settings: Mapping[str, Any], *, cluster_name: str) -> Provider``.

Registered under the ``lbprovider.providers`` entry-point group.  It validates
``settings`` (the class's ``settings:`` block) and raises
:class:`ProviderConfigError` with a precise message when they are wrong.
"""
