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

from lbprovider.cloud.types import (
    DesiredLoadBalancer,
    LoadBalancerStatus,
    NodeTarget,
    OwnedLoadBalancer,
    PlannedChange,
    ServiceRef,
)


class CloudError(Exception):
    """Any failure talking to a cloud; retried with per-key exponential backoff (5 s to 300 s)."""


class RetryAfter(CloudError):
    """The cloud is still working (provisioning, a task running): ask again after ``seconds``."""

    def __init__(self, seconds: float, reason: str = "") -> None:
        super().__init__(reason or f"retry after {seconds:g}s")
        self.seconds = seconds
        self.reason = reason


class CloudApiError(CloudError):
    """A cloud API call failed with an answer (or no answer) from the cloud.

    One type for every cloud: ``provider`` (``aws``...), ``action`` (the API
    operation), ``code`` (the cloud's error code, or :data:`CONNECTION_ERROR`
    when no answer came), ``status`` (HTTP status, 0 when none) and
    ``request_id`` (for the cloud's support).  Each provider's SDK wrapper
    raises a thin subclass; the message never carries credentials.
    """

    def __init__(
        self,
        *,
        provider: str,
        action: str,
        code: str,
        message: str = "",
        status: int = 0,
        request_id: str = "",
        retry_after: float | None = None,
    ) -> None:
        text = f"{provider} {action} failed: {code}"
        if message:
            text += f": {message}"
        # The request id stays out of the message: it changes on every attempt, and the
        # message becomes Events and the condition, which must not change with it
        # (the call wrapper logs the id with every failure).
        super().__init__(text)
        self.provider = provider
        self.action = action
        self.code = code
        self.message = message
        self.status = status
        self.request_id = request_id
        self.retry_after = retry_after
        """The cloud's own hint (seconds) for when to try again, when it gives one."""


CONNECTION_ERROR = "ConnectionError"
"""``CloudApiError.code`` when the cloud could not be reached or did not answer in time."""


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
    :class:`RetryAfter`, :class:`InvalidService` or :class:`CloudError`
    (:class:`CloudApiError` for a failed API call); never let an SDK
    exception carry credentials into a message.

    Throttling, decided once for every cloud: a call the cloud throttles is
    retried a few times with jittered backoff inside the provider; when the
    cloud still throttles, the provider raises :class:`RetryAfter` with the
    cloud's hint, or a bounded delay when it gives none.  Persistent
    throttling is a wait, not a failure: no Warning Event, no exponential
    backoff.  (``lbprovider.providerkit.calls`` implements this.)
    """

    name: str

    def targets(self, node: NodeTarget) -> bool:
        """Whether this provider can put ``node`` behind its load balancers (its own
        cloud's ``spec.providerID``): a change to any other node costs it nothing."""
        ...

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

    def plan(self, desired: DesiredLoadBalancer) -> tuple[PlannedChange, ...]:
        """What ``ensure(desired)`` would create, change or delete, reading only (no write).

        Empty when the cloud already matches: then ``ensure`` makes no write.
        ``InvalidService`` as ``ensure`` would raise it.
        """
        ...

    def list_owned(self) -> tuple[OwnedLoadBalancer, ...]:
        """Every load balancer this provider can reach (its account and region) that
        carries this cluster's ownership tags, whatever Service it names (the orphan
        sweep's input).  Reads only."""
        ...


ProviderFactory = Callable[..., Provider]
"""``create(settings: Mapping[str, Any], *, cluster_name: str) -> Provider``.

Registered under the ``lbprovider.providers`` entry-point group.  It validates
``settings`` (the class's ``settings:`` block) and raises
:class:`ProviderConfigError` with a precise message when they are wrong.
"""
