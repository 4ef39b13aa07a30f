"""The orphan sweep: cloud load balancers tagged with this cluster that no served Service holds.

For each class, ``provider.list_owned()`` lists the load balancers carrying
this cluster's ownership tags; one is an orphan when

- no Service has the UID it was tagged with (deleted with a stripped
  finalizer, or while a crash hid it from the controller);
- the Service with that UID is not served by us: neither our finalizer nor
  our ownership record is on it (so no sync will ever clean it up), and its
  spec does not select a class of this cloud either (a sync would adopt the
  load balancer again: someone stripped the marks, nothing leaked);
- the Service's ownership record names a class whose provider is another
  cloud than this class's (a class change whose cleanup was lost).

A record naming a class this configuration does not know is left alone:
another controller serves it, and only it can tell.

Order matters: the cloud is listed *before* the Services.  A load balancer is
created only after its Service carries our finalizer and record, and deleted
before they come off, so a Service listed afterwards is never missing or
unmarked for a load balancer that is really held.  The Services are read
from the API, not the informer cache, which may not have seen the
finalizer the controller has just written.

``lbprovider sweep`` runs :func:`sweep` once; the leader runs it every
``sweep.interval_seconds`` through :class:`PeriodicSweep`, reporting each
orphan in a log line and in ``lbprovider_orphaned_load_balancers{class}``.
"""

from __future__ import annotations

import enum
import logging
import threading
import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass

from prometheus_client import Gauge

from lbprovider.cloud import OwnedLoadBalancer, Provider, RetryAfter
from lbprovider.controller.ownership import Ownership
from lbprovider.controller.selection import class_of, has_finalizer
from lbprovider.kube.api import KubeApi
from lbprovider.kube.snapshots import ServiceSnapshot

log = logging.getLogger(__name__)

ORPHANS = Gauge(
    "lbprovider_orphaned_load_balancers",
    "Load balancers tagged with this cluster that no served Service holds, at the last sweep "
    "(after any deletion it made).",
    ["class"],
)

DELETE_DEADLINE_SECONDS = 120.0
"""How long a sweep keeps retrying one deletion the cloud answers with RetryAfter."""
SETTLE_POLL_SECONDS = 1.0
"""How often the first sweep asks whether the controller's first burst is done."""


class OrphanReason(enum.StrEnum):
    """Why a load balancer is an orphan."""

    NO_SERVICE = "no-service"
    NOT_SERVED = "not-served"
    OTHER_CLOUD = "other-cloud"


@dataclass(frozen=True, slots=True, kw_only=True)
class Orphan:
    """One orphaned load balancer: where it was found, whose it was, and why it is orphaned."""

    load_balancer_class: str
    owned: OwnedLoadBalancer
    reason: OrphanReason
    detail: str
    """The reason in words, for people."""

    @property
    def lb_id(self) -> str:
        """The cloud's id of the load balancer."""
        return self.owned.lb_id

    @property
    def service_key(self) -> str:
        """``namespace/name`` as tagged when it was created."""
        return self.owned.service_key

    @property
    def service_uid(self) -> str:
        """The UID of the Service it was created for."""
        return self.owned.service_uid


def classify(
    owned: OwnedLoadBalancer,
    *,
    service: ServiceSnapshot | None,
    provider_name: str,
    provider_names: Mapping[str, str],
    default_class: str | None = None,
) -> tuple[OrphanReason, str] | None:
    """Why ``owned`` (found by a provider named ``provider_name``) is an orphan, or None.

    ``service`` is the Service with its UID (None when there is none);
    ``provider_names`` maps every configured class to its provider's name.
    """
    if service is None:
        return OrphanReason.NO_SERVICE, "no Service has this UID"
    recorded = Ownership.from_annotations(service.meta.annotations)
    if recorded is None:
        if has_finalizer(service):
            return None
        serving = class_of(service, provider_names, default_class)
        if serving is not None and provider_names[serving] == provider_name:
            return None  # its next sync adds the marks back and adopts this load balancer
        return (
            OrphanReason.NOT_SERVED,
            f"Service {service.key} carries neither our finalizer nor our ownership record",
        )
    holder = provider_names.get(recorded.load_balancer_class)
    if holder is not None and holder != provider_name:
        return (
            OrphanReason.OTHER_CLOUD,
            f"Service {service.key} is held by class {recorded.load_balancer_class} "
            f"({holder}), not by this {provider_name} load balancer",
        )
    return None


def find_orphans(
    *,
    load_balancer_class: str,
    owned: Iterable[OwnedLoadBalancer],
    services: Iterable[ServiceSnapshot],
    provider_names: Mapping[str, str],
    default_class: str | None = None,
) -> tuple[Orphan, ...]:
    """The orphans among ``owned``, the load balancers the class's provider listed."""
    by_uid = {service.meta.uid: service for service in services}
    provider_name = provider_names[load_balancer_class]
    orphans = []
    for item in owned:
        verdict = classify(
            item,
            service=by_uid.get(item.service_uid),
            provider_name=provider_name,
            provider_names=provider_names,
            default_class=default_class,
        )
        if verdict is not None:
            reason, detail = verdict
            orphans.append(
                Orphan(
                    load_balancer_class=load_balancer_class,
                    owned=item,
                    reason=reason,
                    detail=detail,
                )
            )
    return tuple(orphans)


@dataclass(frozen=True, slots=True, kw_only=True)
class SweepResult:
    """What one sweep found, deleted and could not do."""

    orphans: tuple[Orphan, ...]
    deleted: tuple[Orphan, ...] = ()
    errors: tuple[str, ...] = ()
    swept_classes: tuple[str, ...] = ()
    """The classes whose load balancers could be listed."""

    @property
    def remaining(self) -> tuple[Orphan, ...]:
        """The orphans still in the cloud after the sweep."""
        return tuple(orphan for orphan in self.orphans if orphan not in self.deleted)

    def remaining_by_class(self) -> dict[str, int]:
        """Orphans left per swept class (0 for a class with none)."""
        counts = dict.fromkeys(self.swept_classes, 0)
        for orphan in self.remaining:
            counts[orphan.load_balancer_class] += 1
        return counts


def list_services(api: KubeApi) -> tuple[ServiceSnapshot, ...]:
    """Every Service, read from the API server now (not from a cache)."""
    items, _ = api.list_all("/api/v1/services")
    return tuple(ServiceSnapshot.parse(item) for item in items)


def _delete(
    provider: Provider,
    orphan: Orphan,
    *,
    cluster_name: str,
    deadline: float,
    sleep: Callable[[float], None],
    clock: Callable[[], float],
) -> None:
    ref = orphan.owned.ref(cluster_name)
    while True:
        try:
            provider.delete(ref)
            return
        except RetryAfter as exc:
            left = deadline - clock()
            if left <= 0:
                raise
            sleep(min(exc.seconds, left))


def sweep(
    *,
    cluster_name: str,
    providers: Mapping[str, Provider],
    list_services: Callable[[], Iterable[ServiceSnapshot]],
    default_class: str | None = None,
    delete: bool = False,
    delete_deadline: float = DELETE_DEADLINE_SECONDS,
    sleep: Callable[[float], None] = time.sleep,
    clock: Callable[[], float] = time.monotonic,
) -> SweepResult:
    """Find (and with ``delete``, delete) every orphan of every class in ``providers``.

    A class whose listing fails is reported in ``errors`` and skipped; the
    others are still swept.  Classes sharing a provider may list the same load
    balancer: it is reported once.
    """
    errors: list[str] = []
    owned: dict[str, tuple[OwnedLoadBalancer, ...]] = {}
    for name, provider in sorted(providers.items()):
        try:
            owned[name] = provider.list_owned()
        except Exception as exc:  # any provider failure; the other classes are still swept
            errors.append(f"{name}: cannot list load balancers: {exc}")
    services = tuple(list_services())  # after the cloud (see the module docstring)
    provider_names = {name: provider.name for name, provider in providers.items()}
    orphans: list[Orphan] = []
    seen: set[tuple[str, str]] = set()
    for name, items in owned.items():
        for orphan in find_orphans(
            load_balancer_class=name,
            owned=items,
            services=services,
            provider_names=provider_names,
            default_class=default_class,
        ):
            key = (provider_names[name], orphan.lb_id)
            if key not in seen:
                seen.add(key)
                orphans.append(orphan)
    deleted: list[Orphan] = []
    if delete:
        for orphan in orphans:
            try:
                _delete(
                    providers[orphan.load_balancer_class],
                    orphan,
                    cluster_name=cluster_name,
                    deadline=clock() + delete_deadline,
                    sleep=sleep,
                    clock=clock,
                )
            except Exception as exc:  # reported; the remaining orphans are still deleted
                errors.append(f"{orphan.load_balancer_class}: cannot delete {orphan.lb_id}: {exc}")
            else:
                deleted.append(orphan)
    return SweepResult(
        orphans=tuple(orphans),
        deleted=tuple(deleted),
        errors=tuple(errors),
        swept_classes=tuple(owned),
    )


class PeriodicSweep:
    """The leader's sweep: every ``interval_seconds``, report (and optionally delete) orphans.

    The first sweep runs as soon as ``settled()`` says the controller's first
    burst of syncs is done (asked every ``SETTLE_POLL_SECONDS``), and at the
    latest ``first_delay_seconds`` after :meth:`start` (at most a minute by
    default): a leak shows right after a start, never in the middle of it.
    """

    def __init__(
        self,
        *,
        cluster_name: str,
        providers: Mapping[str, Provider],
        list_services: Callable[[], Iterable[ServiceSnapshot]],
        interval_seconds: float,
        default_class: str | None = None,
        delete: bool = False,
        first_delay_seconds: float | None = None,
        settled: Callable[[], bool] | None = None,
    ) -> None:
        self._cluster_name = cluster_name
        self._default_class = default_class
        self._providers = dict(providers)
        self._list_services = list_services
        self._interval = interval_seconds
        self._delete = delete
        self._first_delay = (
            min(interval_seconds, 60.0) if first_delay_seconds is None else first_delay_seconds
        )
        self._settled = settled
        self._stopped = threading.Event()
        self._thread: threading.Thread | None = None

    def start(self) -> None:
        """Sweep in a daemon thread until :meth:`stop` (nothing when the interval is 0)."""
        if self._interval <= 0:
            return
        self._thread = threading.Thread(target=self._loop, name="orphan-sweep", daemon=True)
        self._thread.start()
        log.info(
            "orphan sweep started",
            extra={"interval_seconds": self._interval, "delete": self._delete},
        )

    def stop(self, timeout: float = 5.0) -> None:
        """Stop after the sweep under way, if any (waiting at most ``timeout``)."""
        self._stopped.set()
        if self._thread is not None:
            self._thread.join(timeout)

    def _wait_first(self) -> bool:
        """Until the first sweep is due (settled, or the first delay over); False if stopped."""
        deadline = time.monotonic() + self._first_delay
        while (remaining := deadline - time.monotonic()) > 0:
            if self._settled is not None and self._settled():
                break
            if self._stopped.wait(min(SETTLE_POLL_SECONDS, remaining)):
                return False
        return not self._stopped.is_set()

    def _loop(self) -> None:
        if not self._wait_first():
            return
        delay = 0.0
        while not self._stopped.wait(delay):
            try:
                self.run_once()
            except Exception as exc:  # the Service list failed: try again next period
                log.warning("orphan sweep failed", extra={"error": str(exc)})
            delay = self._interval

    def run_once(self) -> SweepResult:
        """One sweep: a log line per orphan and per error, the gauge per swept class."""
        result = sweep(
            cluster_name=self._cluster_name,
            providers=self._providers,
            list_services=self._list_services,
            default_class=self._default_class,
            delete=self._delete,
        )
        for orphan in result.orphans:
            log.warning(
                "orphaned load balancer",
                extra={
                    "load_balancer_class": orphan.load_balancer_class,
                    "lb_id": orphan.lb_id,
                    "service": orphan.service_key,
                    "service_uid": orphan.service_uid,
                    "reason": orphan.reason.value,
                    "deleted": orphan in result.deleted,
                },
            )
        for error in result.errors:
            log.warning("orphan sweep error", extra={"error": error})
        for name, count in result.remaining_by_class().items():
            ORPHANS.labels(name).set(count)
        return result
