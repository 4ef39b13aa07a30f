"""The service controller: from a Service to a cloud load balancer and back.

It reads cached snapshots from a ``ServiceStore`` and writes through a
``ServiceWriter`` (``lbprovider.controller.interfaces``), both passed in, so
the core runs without an API server in unit tests; ``ServiceController.from_api``
builds the real ones.  The store's handlers feed a work queue; workers run
``sync(key)`` one key at a time:

    select    -> is the Service ours (type, class), or does it carry our finalizer?
    finalizer -> on BEFORE the first cloud call, off only AFTER the cloud is clean
    desired   -> build_desired(service, nodes, endpoint slices)   (pure)
    decide    -> skip, cleanup, status only, update_backends or ensure   (pure)
    status    -> patched only when it changed (with the ownership record, one write);
                 Events on each transition

A node change re-queues only the Services of the classes whose providers
target a changed node (``Provider.targets``), as one *node round* per class;
when every Service of the round synced, the class's node-set digest is
recorded once, cluster-wide (``NodeSetRecord``), instead of on each Service.

Errors steer the queue: RetryAfter requeues after its delay, InvalidService
is a Warning Event + condition retried slowly, anything else backs off 5 s to
300 s per key.  The controller never stops serving other Services.
"""

from __future__ import annotations

import logging
import random
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, replace
from functools import partial
from typing import Any, TypeVar

from lbprovider.cloud import (
    BackendMode,
    DesiredLoadBalancer,
    InvalidService,
    NodeTarget,
    Provider,
    RetryAfter,
)
from lbprovider.controller import metrics, reasons, status
from lbprovider.controller.decision import Action, Applied, decide
from lbprovider.controller.desired import build_desired, service_ref
from lbprovider.controller.interfaces import NodeSetRecord, ServiceStore, ServiceWriter
from lbprovider.controller.ownership import (
    OWNERSHIP_ANNOTATION,
    Ownership,
    applied_digest,
    node_set_digest,
)
from lbprovider.controller.selection import (
    FINALIZER,
    class_of,
    eligible_nodes,
    has_finalizer,
    node_target,
)
from lbprovider.kube.api import KubeApi
from lbprovider.kube.events import NORMAL, WARNING, EventRecorder
from lbprovider.kube.noderecord import InProcessNodeSetRecord, KubeNodeSetRecord, data_key
from lbprovider.kube.snapshots import EndpointSliceSnapshot, NodeSnapshot, ServiceSnapshot
from lbprovider.kube.store import InformerStore
from lbprovider.kube.workqueue import WorkQueue
from lbprovider.kube.writer import KubeServiceWriter

__all__ = ["INVALID_RETRY_SECONDS", "Applied", "ServiceController"]

log = logging.getLogger(__name__)
T = TypeVar("T")

INVALID_RETRY_SECONDS = 300.0
MOVE_WAIT_SECONDS = 30.0
NODE_RECORD_NAME = "lbprovider-node-sync"

UNVOUCHED_NODES = (NodeTarget(name="", provider_id="", address="unvouched"),)
"""Stands for the node set a restarted controller cannot vouch for (its class's
record differs from the nodes it sees): ``decide`` then asks for a backend update."""


@dataclass(slots=True)
class _NodeRound:
    """One node change of one class: the Services still to sync with it."""

    digest: str
    generation: int
    pending: set[str]


class ServiceController:
    """Serves the Services of the configured classes."""

    def __init__(
        self,
        *,
        store: ServiceStore,
        writer: ServiceWriter,
        cluster_name: str,
        providers: Mapping[str, Provider],
        default_class: str | None = None,
        workers: int = 4,
        resync_seconds: float = 36000.0,
        invalid_retry_seconds: float = INVALID_RETRY_SECONDS,
        queue: WorkQueue | None = None,
        settings_fingerprints: Mapping[str, str] | None = None,
        node_set_record: NodeSetRecord | None = None,
    ) -> None:
        self.store = store
        self.writer = writer
        self.cluster_name = cluster_name
        self.providers = dict(providers)
        self.default_class = default_class
        # An empty queue is falsy, hence "is not None".
        self.queue = queue if queue is not None else WorkQueue(observer=metrics.QueueMetrics())
        self._node_sync = metrics.NodeSyncTimer()
        self._workers = workers
        self._resync_seconds = resync_seconds
        self._invalid_retry_seconds = invalid_retry_seconds
        # Per class: a digest of its provider settings, part of the applied digest, so a
        # settings change re-ensures that class's Services after a restart.
        self._fingerprints = dict(settings_fingerprints or {})
        store.services.add_handler(self._on_service)
        store.nodes.add_handler(self._on_node)
        store.slices.add_handler(self._on_slice)
        self._all_nodes: tuple[NodeTarget, ...] = ()
        self._class_nodes: dict[str, tuple[NodeTarget, ...]] = {}
        # Process-local unless given (from_api gives the cluster-wide ConfigMap).
        self._node_record: NodeSetRecord = node_set_record or InProcessNodeSetRecord()
        self._node_rounds: dict[str, _NodeRound] = {}
        self._node_generation = 0
        self._unvouched: set[str] = set()
        self._rounds_lock = threading.Lock()
        self._slices_by_service: dict[str, dict[str, EndpointSliceSnapshot]] = {}
        self._tombstones: dict[str, ServiceSnapshot] = {}
        # UIDs our own cleanup released: their deletion may reach us without the last
        # MODIFIED event, carrying the record we had just removed.
        self._released: set[str] = set()
        self._applied: dict[str, Applied] = {}
        self._resync_due: set[str] = set()
        self._warned: dict[str, frozenset[str]] = {}
        self._index_lock = threading.Lock()
        self._stopped = threading.Event()
        self._nodes_changed = threading.Event()
        self._nodes_in_background = False
        self._threads: list[threading.Thread] = []

    @classmethod
    def from_api(
        cls,
        api: KubeApi,
        *,
        cluster_name: str,
        providers: Mapping[str, Provider],
        default_class: str | None = None,
        workers: int = 4,
        resync_seconds: float = 36000.0,
        invalid_retry_seconds: float = INVALID_RETRY_SECONDS,
        queue: WorkQueue | None = None,
        recorder: EventRecorder | None = None,
        settings_fingerprints: Mapping[str, str] | None = None,
        state_namespace: str = "kube-system",
        node_record_name: str = NODE_RECORD_NAME,
    ) -> ServiceController:
        """The real thing: informers over ``api`` to read, ``api`` and Events to write, the
        node-set record in ConfigMap ``node_record_name`` of ``state_namespace``."""
        return cls(
            store=InformerStore(api),
            writer=KubeServiceWriter(api, recorder=recorder),
            cluster_name=cluster_name,
            providers=providers,
            default_class=default_class,
            workers=workers,
            resync_seconds=resync_seconds,
            invalid_retry_seconds=invalid_retry_seconds,
            queue=queue,
            settings_fingerprints=settings_fingerprints,
            node_set_record=KubeNodeSetRecord(
                api, namespace=state_namespace, name=node_record_name
            ),
        )

    # --- lifecycle -----------------------------------------------------------------

    def start(self, *, sync_timeout: float = 60.0) -> None:
        """Fill the store (TimeoutError if it cannot), then start the workers."""
        # From now on node changes go to the node-sync thread; with no workers the caller
        # drives the controller (tests) and node changes are handled as they come.
        self._nodes_in_background = self._workers > 0
        self.store.start(sync_timeout=sync_timeout)
        self._all_nodes = eligible_nodes(self.store.nodes.items())
        self._class_nodes = self._targets_per_class(self._all_nodes)
        try:
            recorded = self._node_record.load()
        except Exception as exc:
            log.warning("could not read the node-set record", extra={"error": str(exc)})
            recorded = {}
        for name, nodes in self._class_nodes.items():
            digest = node_set_digest(nodes)
            if recorded.get(data_key(name)) != digest:
                # Nodes changed while we were down, or a node round did not finish: every
                # load balancer of the class gets its backends updated once.
                self._unvouched.add(name)
                keys = self._node_port_services(name)
                self._begin_round(name, digest, keys)
                self.queue.add_all(keys)
        if self._nodes_in_background:
            # Node changes seen since the first list wait for it in ``_nodes_changed``.
            self._spawn(self._node_sync_loop, "node-sync")
        for index in range(self._workers):
            self._spawn(self._work, f"worker-{index}")
        if self._resync_seconds > 0:
            self._spawn(self._resync_loop, "resync")
        log.info(
            "service controller started",
            extra={"classes": sorted(self.providers), "workers": self._workers},
        )

    def idle(self) -> bool:
        """Started and caught up: nothing queued or being synced (delayed retries aside)."""
        return self.has_synced() and self.queue.idle()

    def has_synced(self) -> bool:
        """True once the Services are cached (the readiness probe's question)."""
        return self.store.services.has_synced()

    def _spawn(self, target: Callable[[], None], name: str) -> None:
        thread = threading.Thread(target=target, name=name, daemon=True)
        thread.start()
        self._threads.append(thread)

    def stop(self, timeout: float = 30.0) -> None:
        """Stop taking work, let running syncs finish (up to ``timeout``), stop the store.

        Events the last syncs recorded are still written (within what is left of
        ``timeout``, at least a second).
        """
        self._stopped.set()
        self._nodes_changed.set()  # wakes the node-sync thread to end
        self.queue.shutdown()
        deadline = time.monotonic() + timeout
        for thread in self._threads:
            thread.join(max(0.0, deadline - time.monotonic()))
        self.store.stop()
        self.writer.close(max(1.0, deadline - time.monotonic()))
        log.info("service controller stopped")

    # --- event handlers: decide which keys to queue ----------------------------------

    def _served_class(self, service: ServiceSnapshot) -> str | None:
        return class_of(service, self.providers, self.default_class)

    def _relevant(self, service: ServiceSnapshot | None) -> bool:
        return service is not None and (
            self._served_class(service) is not None or has_finalizer(service)
        )

    def _on_service(self, old: ServiceSnapshot | None, new: ServiceSnapshot | None) -> None:
        if new is None:
            # Gone. Normally after our cleanup (which drops the ownership record); if
            # someone removed our finalizer by hand while the record (or what we applied)
            # says a load balancer exists, the tombstone lets sync clean the cloud.
            if old is None:
                return
            if old.meta.uid in self._released:
                self._released.discard(old.meta.uid)
            elif (
                old.key in self._applied
                or Ownership.from_annotations(old.meta.annotations) is not None
            ):
                self._tombstones[old.key] = old
                self.queue.add(old.key)
            return
        if not (self._relevant(new) or self._relevant(old)):
            return
        if old is not None and _our_echo(old, new):
            # Mostly the echo of our own writes (status, finalizer, ownership record).
            # Requeueing on it would skip the backoff of a failing Service (each failure
            # patches its condition: a hot loop), and a sync on a cache that has the
            # finalizer's echo but not yet the status's would re-write the status.
            # Only a lost or altered ingress we had applied is worth a sync; an echo
            # that leaves the ingress as it was (the finalizer's, arriving after our
            # status write) is not.
            applied = self._applied.get(new.key)
            if (
                applied is None
                or status.same_ingress(new.status_ingress, applied.ingress)
                or status.same_ingress(new.status_ingress, old.status_ingress)
            ):
                return
        self.queue.add(new.key)

    def _on_node(self, old: NodeSnapshot | None, new: NodeSnapshot | None) -> None:
        if not self.store.nodes.has_synced():
            return  # start() computes the node set once the first list is in
        if node_target(old) == node_target(new):
            return  # status heartbeats, readiness flaps, unrelated labels: O(1), no rescan
        if self._nodes_in_background:
            # The node-sync thread rescans: a burst of node events (a thousand Nodes joining)
            # costs a few O(nodes) rescans, not one per event on the informer's thread.
            self._nodes_changed.set()
        else:
            self._sync_nodes()  # not started, or no workers: the caller drives (tests)

    def _node_sync_loop(self) -> None:
        while True:
            self._nodes_changed.wait()
            if self._stopped.is_set():
                return
            self._nodes_changed.clear()
            try:
                self._sync_nodes()
            except Exception:
                log.exception("node sync failed")

    def _sync_nodes(self) -> None:
        """Queue the Services of every class whose node set changed (one round each)."""
        targets = eligible_nodes(self.store.nodes.items(), previous=self._all_nodes)
        if targets == self._all_nodes:
            return  # readiness flaps and unrelated updates: nothing to do
        self._all_nodes = targets
        per_class = self._targets_per_class(targets)
        changed = [name for name, got in per_class.items() if got != self._class_nodes.get(name)]
        self._class_nodes = per_class
        queued: list[str] = []
        for name in changed:
            keys = self._node_port_services(name)
            self._begin_round(name, node_set_digest(per_class[name]), keys)
            self.queue.add_all(keys)
            queued.extend(keys)
        self._node_sync.started(queued)

    def _targets_per_class(
        self, nodes: tuple[NodeTarget, ...]
    ) -> dict[str, tuple[NodeTarget, ...]]:
        """Each class's node targets: the nodes its provider can put behind a load balancer
        (a node of another cloud changes nothing for it)."""
        return {
            name: tuple(node for node in nodes if provider.targets(node))
            for name, provider in self.providers.items()
        }

    def _node_port_services(self, load_balancer_class: str) -> list[str]:
        return [
            service.key
            for service in self.store.services.items()
            if service.allocate_node_ports and self._served_class(service) == load_balancer_class
        ]

    def _begin_round(self, load_balancer_class: str, digest: str, keys: list[str]) -> None:
        """A class's node set changed: record its digest once ``keys`` all synced."""
        with self._rounds_lock:
            self._node_generation += 1
            if keys:
                self._node_rounds[load_balancer_class] = _NodeRound(
                    digest, self._node_generation, set(keys)
                )
                return
            self._node_rounds.pop(load_balancer_class, None)
        # No load balancer to update: record it now (one small write, rare enough to make
        # on the informer's thread).
        self._save_node_set(load_balancer_class, digest)

    def _synced_with_nodes(self, key: str, generation: int) -> None:
        """``key`` synced (successfully) with the node sets of ``generation`` or later."""
        finished: list[tuple[str, str]] = []
        with self._rounds_lock:
            for name, node_round in list(self._node_rounds.items()):
                if node_round.generation <= generation:
                    node_round.pending.discard(key)
                    if not node_round.pending:
                        finished.append((name, node_round.digest))
                        del self._node_rounds[name]
        for name, digest in finished:
            self._save_node_set(name, digest)

    def _save_node_set(self, load_balancer_class: str, digest: str) -> None:
        try:
            self._node_record.save(load_balancer_class, digest)
        except Exception as exc:
            # A restart will update every backend of the class once; nothing is wrong now.
            log.warning(
                "could not record the node set",
                extra={"class": load_balancer_class, "error": str(exc)},
            )
        self._unvouched.discard(load_balancer_class)

    def _on_slice(
        self, old: EndpointSliceSnapshot | None, new: EndpointSliceSnapshot | None
    ) -> None:
        with self._index_lock:
            if old is not None and old.service_key:
                self._slices_by_service.get(old.service_key, {}).pop(old.key, None)
            if new is not None and new.service_key:
                self._slices_by_service.setdefault(new.service_key, {})[new.key] = new
        service_key = (new or old).service_key  # type: ignore[union-attr]
        service = self.store.services.get(service_key) if service_key else None
        if service is not None and not service.allocate_node_ports and self._relevant(service):
            self.queue.add(service_key)

    def _slices_for(self, key: str) -> list[EndpointSliceSnapshot]:
        with self._index_lock:
            return list(self._slices_by_service.get(key, {}).values())

    # --- workers ---------------------------------------------------------------------

    def _work(self) -> None:
        while (key := self.queue.get()) is not None:
            try:
                self.process(key)
            finally:
                self.queue.done(key)

    def process(self, key: str) -> None:
        """Sync ``key`` and requeue it as its outcome asks."""
        started = time.monotonic()
        metric_class = self._metric_class(key)
        generation = self._node_generation
        try:
            self.sync(key)
        except RetryAfter as exc:
            metrics.SYNCS.labels(metric_class, "retry_after").inc()
            self.queue.add_after(key, exc.seconds)
            log.info("load balancer not ready yet", extra={"service": key, "retry": exc.seconds})
        except InvalidService as exc:
            metrics.SYNCS.labels(metric_class, "invalid").inc()
            self.queue.add_after(key, self._invalid_retry_seconds)
            log.warning("invalid service", extra={"service": key, "reason": exc.reason})
        except Exception as exc:
            metrics.SYNCS.labels(metric_class, "error").inc()
            delay = self.queue.add_rate_limited(key)
            log.warning("sync failed", extra={"service": key, "error": str(exc), "retry": delay})
        else:
            metrics.SYNCS.labels(metric_class, "ok").inc()
            self.queue.forget(key)
            self._synced_with_nodes(key, generation)
        finally:
            metrics.SYNC_SECONDS.labels(metric_class).observe(time.monotonic() - started)
            self._node_sync.synced(key)

    def _metric_class(self, key: str) -> str:
        """The class label of ``key``'s sync: the served class, else the one its record
        names (a cleanup), else "none" (a deleted or unserved Service)."""
        service = self.store.services.get(key) or self._tombstones.get(key)
        if service is None:
            return "none"
        served = self._served_class(service)
        if served is not None:
            return served
        recorded = Ownership.from_annotations(service.meta.annotations)
        return recorded.load_balancer_class if recorded is not None else "none"

    def _resync_loop(self) -> None:
        while not self._stopped.wait(self._resync_seconds):
            self.resync(spread=self._resync_seconds)

    def resync(self, *, spread: float = 0.0) -> None:
        """Re-ensure every served Service: repairs drift made in the cloud behind our back.

        Providers read and compare, so an unchanged cloud costs reads only, and
        no Event is recorded unless something had to change.  With ``spread``
        each Service is queued at a random moment within that many seconds, so
        the periodic resync costs the cloud an even trickle, never a burst (the
        workers bound how many run at once).
        """
        for service in self.store.services.items():
            if self._served_class(service) is not None:
                self._resync_due.add(service.key)
                # Jitter, not a schedule: no cryptographic randomness needed.
                delay = random.uniform(0.0, spread) if spread > 0 else 0.0  # noqa: S311
                self.queue.add_after(service.key, delay)

    # --- sync ------------------------------------------------------------------------

    def sync(self, key: str) -> None:
        """Make the cloud and the Service's status match the Service ``key``."""
        tombstone = self._tombstones.get(key)
        if tombstone is not None:
            # Deleted without our cleanup (finalizer removed by hand): clean the cloud
            # anyway, even if a new Service of the same name already exists.
            applied = self._applied.get(key)
            ours = applied is not None and applied.desired.ref.uid == tombstone.meta.uid
            if ours or Ownership.from_annotations(tombstone.meta.annotations) is not None:
                self._delete_in_clouds(tombstone)  # raises: both stay for the retry
            if ours:
                del self._applied[key]
            del self._tombstones[key]
        service = self.store.services.get(key)
        if service is None:
            self._warned.pop(key, None)
            return
        load_balancer_class = self._served_class(service)
        recorded = Ownership.from_annotations(service.meta.annotations)
        if load_balancer_class is None:
            if recorded is not None and recorded.load_balancer_class not in self.providers:
                return  # held by a class another controller serves: its cleanup, not ours
            decision = decide(
                desired=None, has_finalizer=has_finalizer(service), applied=self._applied.get(key)
            )
            if decision.action is Action.CLEANUP:
                self._cleanup(service)
            else:
                self._applied.pop(key, None)
            return
        try:
            if recorded is not None and recorded.load_balancer_class != load_balancer_class:
                # Its load balancer lives in another class's cloud (a class change, perhaps
                # through a type change while we were down): clean that first.
                self._move(service, recorded)
            self._serve(service, load_balancer_class, recorded)
        except RetryAfter:
            raise
        except InvalidService as exc:
            self._event(
                service,
                WARNING,
                reasons.SYNC_LOAD_BALANCER_FAILED,
                f"Error syncing load balancer: {exc.reason}",
            )
            self._set_condition(
                service, ok=False, reason=reasons.CONDITION_INVALID_SERVICE, message=exc.reason
            )
            raise
        except Exception as exc:
            self._event(
                service,
                WARNING,
                reasons.SYNC_LOAD_BALANCER_FAILED,
                f"Error syncing load balancer: {exc}",
            )
            self._set_condition(
                service, ok=False, reason=reasons.CONDITION_SYNC_FAILED, message=str(exc)
            )
            raise

    def _call(self, load_balancer_class: str, method: str, call: Callable[[], T]) -> T:
        if method in ("ensure", "update_backends"):
            metrics.LOAD_BALANCER_SYNCS.inc()
        started = time.monotonic()
        try:
            result = call()
        except Exception as exc:
            outcome = "retry_after" if isinstance(exc, RetryAfter) else "error"
            metrics.PROVIDER_CALLS.labels(load_balancer_class, method, outcome).inc()
            if method == "update_backends" and outcome == "error":
                metrics.NODE_SYNC_ERRORS.inc()
            raise
        finally:
            if method == "update_backends":
                metrics.UPDATE_HOSTS_SECONDS.observe(time.monotonic() - started)
        metrics.PROVIDER_CALLS.labels(load_balancer_class, method, "ok").inc()
        return result

    def _serve(
        self, service: ServiceSnapshot, load_balancer_class: str, recorded: Ownership | None
    ) -> None:
        """A served Service: finalizer and ownership record first, then what ``decide`` asks."""
        key = service.key
        if (
            not has_finalizer(service)
            or recorded is None
            or recorded.load_balancer_class != load_balancer_class
        ):
            recorded = Ownership(load_balancer_class=load_balancer_class)
            self.writer.add_finalizer(
                service.meta,
                FINALIZER,
                annotations={OWNERSHIP_ANNOTATION: recorded.to_annotation()},
            )
        desired = build_desired(
            service,
            cluster=self.cluster_name,
            nodes=self._class_nodes.get(load_balancer_class, ()),
            slices=self._slices_for(key),
        )
        if desired.backend_mode is BackendMode.NODE_PORT and not desired.nodes:
            self._event(
                service,
                WARNING,
                reasons.UNAVAILABLE_LOAD_BALANCER,
                "There are no available nodes for LoadBalancer",
            )
        fingerprint = self._fingerprints.get(load_balancer_class, "")
        applied = self._applied.get(key)
        if (
            applied is None
            and service.status_ingress
            and recorded.digest == applied_digest(desired, fingerprint)
        ):
            # A restart: the record says the cloud was made to match this very model
            # (and settings). No cloud call; the periodic resync repairs drift. Nodes are
            # vouched for per class: if the class's record differs, backends are updated.
            vouched = desired
            if (
                desired.backend_mode is BackendMode.NODE_PORT
                and load_balancer_class in self._unvouched
            ):
                vouched = replace(desired, nodes=UNVOUCHED_NODES)
            applied = Applied(vouched, tuple(service.status_ingress))
            self._applied[key] = applied
        resync = key in self._resync_due
        self._resync_due.discard(key)
        decision = decide(
            desired=desired,
            has_finalizer=True,  # added above
            applied=applied,
            status_ingress=service.status_ingress,
            resync=resync,
        )
        provider = self.providers[load_balancer_class]
        if decision.action is Action.ENSURE:
            self._ensure(
                service,
                load_balancer_class,
                provider,
                desired,
                announce=decision.announce,
                recorded=recorded,
                digest=applied_digest(desired, fingerprint),
            )
            return
        assert applied is not None  # decide() skips ensure only when something was applied
        if decision.action is Action.UPDATE_BACKENDS:
            self._update_backends(service, load_balancer_class, provider, desired, applied)
            if desired.backend_mode is not BackendMode.NODE_PORT:
                # Pod endpoints are in the digest (nodes are not: a node round records them).
                digest = applied_digest(desired, fingerprint)
                self._record(service, recorded, replace(recorded, digest=digest))
        elif decision.patch_ingress:
            self.writer.patch_status(
                service.meta, {"loadBalancer": {"ingress": list(applied.ingress)}}
            )

    def _ensure(
        self,
        service: ServiceSnapshot,
        load_balancer_class: str,
        provider: Provider,
        desired: DesiredLoadBalancer,
        *,
        announce: bool,
        recorded: Ownership,
        digest: str,
    ) -> None:
        """Ensure, then patch the status and the ownership record (one write)."""
        # A resync of an unchanged Service is silent unless the cloud had drifted.
        if announce:
            self._event(service, NORMAL, reasons.ENSURING_LOAD_BALANCER, "Ensuring load balancer")
        result = self._call(load_balancer_class, "ensure", partial(provider.ensure, desired))
        self._warn_unsupported(service, result.warnings)
        ingress = status.ingress_json(result)
        patch: dict[str, Any] = {}
        if not status.same_ingress(service.status_ingress, ingress):
            patch["loadBalancer"] = {"ingress": ingress}
        ready = status.condition(
            service.status_conditions,
            ok=True,
            reason=reasons.CONDITION_ENSURED,
            message=f"load balancer {result.lb_id} serves {len(desired.listeners)} listener(s)",
        )
        if ready is not None:
            patch["conditions"] = [ready]
        now = replace(recorded, lb_id=result.lb_id, digest=digest)
        if patch:
            record = {OWNERSHIP_ANNOTATION: now.to_annotation()} if now != recorded else None
            self.writer.patch_status(service.meta, patch, annotations=record)
        else:
            self._record(service, recorded, now)
        self._applied[service.key] = Applied(desired, tuple(ingress))
        if announce or patch:
            self._event(service, NORMAL, reasons.ENSURED_LOAD_BALANCER, "Ensured load balancer")

    def _record(self, service: ServiceSnapshot, recorded: Ownership, now: Ownership) -> None:
        """Write what was applied into the ownership record, when it changed."""
        if now != recorded:
            self.writer.annotate(service.meta, {OWNERSHIP_ANNOTATION: now.to_annotation()})

    def _move(self, service: ServiceSnapshot, recorded: Ownership) -> None:
        """Delete the load balancer the record places in another class, before anything
        is built in the new one."""
        provider = self.providers.get(recorded.load_balancer_class)
        if provider is None:
            # Another controller serves that class: it cleans up (the Service is no longer
            # its class) and drops the record; building here first would leave two.
            self._event(
                service,
                NORMAL,
                reasons.DELETING_LOAD_BALANCER,
                f"Waiting for the controller of class {recorded.load_balancer_class} to delete "
                "its load balancer first",
            )
            raise RetryAfter(
                MOVE_WAIT_SECONDS,
                f"waiting for the controller of class {recorded.load_balancer_class} to "
                f"delete its load balancer (annotation {OWNERSHIP_ANNOTATION})",
            )
        self._event(
            service,
            NORMAL,
            reasons.DELETING_LOAD_BALANCER,
            f"Deleting the load balancer of class {recorded.load_balancer_class}",
        )
        ref = service_ref(service, self.cluster_name)
        self._call(recorded.load_balancer_class, "delete", partial(provider.delete, ref))
        self._applied.pop(service.key, None)
        self._event(
            service,
            NORMAL,
            reasons.DELETED_LOAD_BALANCER,
            f"Deleted the load balancer of class {recorded.load_balancer_class}",
        )

    def _update_backends(
        self,
        service: ServiceSnapshot,
        load_balancer_class: str,
        provider: Provider,
        desired: DesiredLoadBalancer,
        applied: Applied,
    ) -> None:
        try:
            self._call(
                load_balancer_class, "update_backends", partial(provider.update_backends, desired)
            )
        except (RetryAfter, InvalidService):
            raise
        except Exception as exc:
            self._event(
                service,
                WARNING,
                reasons.UPDATE_LOAD_BALANCER_FAILED,
                f"Error updating load balancer with new hosts: {exc}",
            )
            raise
        self._applied[service.key] = Applied(desired, applied.ingress)
        self._event(
            service, NORMAL, reasons.UPDATED_LOAD_BALANCER, "Updated load balancer with new hosts"
        )

    def _warn_unsupported(self, service: ServiceSnapshot, warnings: tuple[str, ...]) -> None:
        fresh = frozenset(warnings) - self._warned.get(service.key, frozenset())
        self._warned[service.key] = frozenset(warnings)
        for warning in sorted(fresh):
            self._event(service, WARNING, reasons.UNSUPPORTED_CONFIGURATION, warning)

    def _providers_for(self, service: ServiceSnapshot) -> list[tuple[str, Provider]]:
        """Who holds the cloud side of ``service``: the class its ownership record names.

        Services from before the record existed: the class in the spec; once the
        type changes the class is cleared, so then every configured class is asked
        (each finds only what its ownership tags say it created).
        """
        recorded = Ownership.from_annotations(service.meta.annotations)
        if recorded is not None:
            provider = self.providers.get(recorded.load_balancer_class)
            return [] if provider is None else [(recorded.load_balancer_class, provider)]
        name = service.load_balancer_class
        if name in self.providers:
            return [(name, self.providers[name])]
        return sorted(self.providers.items())

    def _delete_in_clouds(self, service: ServiceSnapshot) -> None:
        ref = service_ref(service, self.cluster_name)
        for name, provider in self._providers_for(service):
            self._call(name, "delete", partial(provider.delete, ref))

    def _cleanup(self, service: ServiceSnapshot) -> None:
        """The Service no longer wants a load balancer: clean the cloud, then let it go."""
        self._event(service, NORMAL, reasons.DELETING_LOAD_BALANCER, "Deleting load balancer")
        try:
            self._delete_in_clouds(service)
        except Exception as exc:
            self._event(
                service,
                WARNING,
                reasons.SYNC_LOAD_BALANCER_FAILED,
                f"Error deleting load balancer: {exc}",
            )
            raise
        if not service.meta.deleting and (service.status_ingress or service.status_conditions):
            self.writer.patch_status(
                service.meta,
                {
                    "loadBalancer": {"ingress": None},
                    "conditions": [{"type": reasons.CONDITION_TYPE, "$patch": "delete"}],
                },
            )
        if service.meta.deleting:
            # Before the patch: its DELETED event may beat this thread back.
            self._released.add(service.meta.uid)
        try:
            self.writer.remove_finalizer(
                service.meta, FINALIZER, annotations=(OWNERSHIP_ANNOTATION,)
            )
        except Exception:
            self._released.discard(service.meta.uid)
            raise
        self._applied.pop(service.key, None)
        self._warned.pop(service.key, None)
        self._event(service, NORMAL, reasons.DELETED_LOAD_BALANCER, "Deleted load balancer")

    def _set_condition(
        self, service: ServiceSnapshot, *, ok: bool, reason: str, message: str
    ) -> None:
        wanted = status.condition(service.status_conditions, ok=ok, reason=reason, message=message)
        if wanted is None:
            return
        try:
            self.writer.patch_status(service.meta, {"conditions": [wanted]})
        except Exception as exc:
            log.warning(
                "could not set condition", extra={"service": service.key, "error": str(exc)}
            )

    def _event(self, service: ServiceSnapshot, event_type: str, reason: str, message: str) -> None:
        self.writer.event(service.meta, event_type, reason, message)


def _our_echo(old: ServiceSnapshot, new: ServiceSnapshot) -> bool:
    """True when ``new`` differs from ``old`` only where our own writes change it: the
    status, and (while our finalizer stays on) the finalizer and the ownership record."""
    keeps_ours = FINALIZER in new.meta.finalizers

    def bare(service: ServiceSnapshot) -> ServiceSnapshot:
        meta = replace(service.meta, resource_version="")
        if keeps_ours:
            meta = replace(
                meta,
                finalizers=tuple(f for f in meta.finalizers if f != FINALIZER),
                annotations={
                    k: v for k, v in meta.annotations.items() if k != OWNERSHIP_ANNOTATION
                },
            )
        return replace(service, meta=meta, status_ingress=(), status_conditions=())

    return bare(old) == bare(new)
