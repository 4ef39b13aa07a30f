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
from typing import Any

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


@dataclass(frozen=True, slots=True)
class _LockUnavailable:
    """Stands in for the ApiException the elector reads ``reason`` and ``body`` from."""

    reason: str
    body: str = "{}"


class _GuardedLeaseLock(LeaseLock):
    """The library's Lease lock, made to fail softly.

    Connection errors surface from the library as exceptions that would kill
    its thread; here they read as "could not get/renew the lock", which the
    elector already handles by retrying or stepping down.  Once ``stopped``
    is set every call fails, so a leader steps down within its renew deadline.
    """

    def __init__(self, name: str, namespace: str, identity: str, stopped: threading.Event):
        super().__init__(name, namespace, identity)
        self._stopped = stopped

    def get(self, name: str, namespace: str) -> tuple[bool, Any]:
        if self._stopped.is_set():
            return False, _LockUnavailable("stopped")
        try:
            return super().get(name, namespace)  # type: ignore[no-any-return]
        except Exception as exc:
            log.warning("could not read the leader lease", extra={"error": str(exc)})
            return False, _LockUnavailable(str(exc))

    def create(self, name: str, namespace: str, election_record: Any) -> bool:
        if self._stopped.is_set():
            return False
        try:
            return bool(super().create(name, namespace, election_record))
        except Exception as exc:
            log.warning("could not create the leader lease", extra={"error": str(exc)})
            return False

    def update(self, name: str, namespace: str, updated_record: Any) -> bool:
        if self._stopped.is_set():
            return False
        try:
            return bool(super().update(name, namespace, updated_record))
        except Exception as exc:
            log.warning("could not renew the leader lease", extra={"error": str(exc)})
            return False


@dataclass(slots=True)
class LeaderElector:
    """A running campaign; ``release`` ends it and hands the Lease on at once."""

    thread: threading.Thread
    stopped: threading.Event
    lock: _GuardedLeaseLock
    settings: LeaderElectionSettings

    def stop(self) -> None:
        """Stop campaigning and renewing (the Lease expires on its own)."""
        self.stopped.set()

    def release(self) -> None:
        """Stop, and if we hold the Lease, clear it so a standby takes over now.

        Without this a replacement waits a whole lease duration after every
        rolling update.
        """
        self.stop()
        api = self.lock.api_instance
        try:
            lease = api.read_namespaced_lease(self.settings.name, self.settings.namespace)
            if lease.spec is None or lease.spec.holder_identity != self.lock.identity:
                return
            # An update (not a patch): the RBAC in deploy/ grants get/update on this Lease only.
            lease.spec.holder_identity = None
            lease.spec.lease_duration_seconds = 1
            api.replace_namespaced_lease(self.settings.name, self.settings.namespace, lease)
            log.info("released the leader lease")
        except Exception as exc:
            log.warning("could not release the leader lease", extra={"error": str(exc)})


def run_when_leader(
    api_client: k8s_client.ApiClient,
    settings: LeaderElectionSettings,
    *,
    on_started_leading: Callable[[], None],
    on_stopped_leading: Callable[[], None],
) -> LeaderElector:
    """Campaign for the Lease in a daemon thread; call back on gaining and losing it."""
    stopped = threading.Event()
    lock = _GuardedLeaseLock(settings.name, settings.namespace, identity(), stopped)
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
    return LeaderElector(thread=thread, stopped=stopped, lock=lock, settings=settings)
