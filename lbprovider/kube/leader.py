"""Leader election on a coordination.k8s.io Lease (the client library's elector).

Only the leader runs workers, so two replicas never race on one cloud load
balancer.  Losing the lease stops the process, as upstream controllers do:
a fresh start is the only safe way back to a consistent cache.
"""

from __future__ import annotations

import logging
import socket
import threading
import uuid
from collections.abc import Callable
from dataclasses import dataclass

from kubernetes import client as k8s_client
from kubernetes.leaderelection import electionconfig, leaderelection
from kubernetes.leaderelection.resourcelock.leaselock import LeaseLock

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True, kw_only=True)
class LeaderElectionSettings:
    """Where the Lease lives and how it is kept."""

    enabled: bool = False
    namespace: str = "kube-system"
    name: str = "lbprovider"
    lease_duration: int = 15
    renew_deadline: int = 10
    retry_period: int = 2


def identity() -> str:
    """This replica's identity: host name plus a random suffix (restarts get a new one)."""
    return f"{socket.gethostname()}_{uuid.uuid4().hex[:8]}"


def run_when_leader(
    api_client: k8s_client.ApiClient,
    settings: LeaderElectionSettings,
    *,
    on_started_leading: Callable[[], None],
    on_stopped_leading: Callable[[], None],
) -> threading.Thread:
    """Campaign for the Lease in a daemon thread; call back on gaining and losing it."""
    lock = LeaseLock(settings.name, settings.namespace, identity())
    # The library builds its own API object from the global config; use ours.
    lock.api_instance = k8s_client.CoordinationV1Api(api_client)
    config = electionconfig.Config(
        lock=lock,
        lease_duration=settings.lease_duration,
        renew_deadline=settings.renew_deadline,
        retry_period=settings.retry_period,
        onstarted_leading=on_started_leading,
        onstopped_leading=on_stopped_leading,
    )
    elector = leaderelection.LeaderElection(config)
    thread = threading.Thread(target=elector.run, name="leader-election", daemon=True)
    thread.start()
    log.info("campaigning for leadership", extra={"lease": f"{settings.namespace}/{settings.name}"})
    return thread
