"""A fake provider that keeps its load balancers in memory.

Registered as ``fake``: the sandbox and ``make demo`` show the whole loop with
it before any cloud is involved, and the controller's tests use it to count
calls and inject errors and latency.  It honours the contract like a real
provider: idempotent, finds its load balancers by owner, makes a "write" only
when something changes, and reports what it cannot honour as warnings.

Its load balancers live in a :class:`FakeCloud`, which counts calls and
injects faults with the mock-cloud kit's pieces and is called through the
provider kit's call wrapper, like a real cloud: several provider instances
(a restarted process) can share one.  A load balancer's id and address derive
from the Service UID, so a process that starts on an empty fake cloud (a
restart of the in-memory default) answers with what it answered before, as a
real cloud would.
"""

from __future__ import annotations

import hashlib
import ipaddress
import threading
import time
from collections import Counter
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from lbprovider.cloud import (
    BackendMode,
    ChangeAction,
    CloudApiError,
    DesiredLoadBalancer,
    Ingress,
    LoadBalancerStatus,
    NodeTarget,
    OwnedLoadBalancer,
    PlannedChange,
    PortStatus,
    ProviderConfigError,
    ServiceRef,
)
from lbprovider.cloud.tags import owner_filter
from lbprovider.mockkit import CallCounters, FaultPlan
from lbprovider.providerkit import CallPolicy, CloudCaller, ErrorCodes

DEFAULT_POOL = "192.0.2.0/24"
PROVIDER_ID_PREFIX = "fake://"
"""The nodes the fake cloud can target (``spec.providerID: fake://<name>``)."""
THROTTLING = "Throttling"
_SETTINGS = {"address_pool", "hostname_suffix", "latency_seconds", "supports_requested_ip"}


@dataclass(frozen=True, slots=True, kw_only=True)
class FakeSettings:
    """The ``settings:`` of a class served by the fake provider."""

    address_pool: str = DEFAULT_POOL
    """Addresses handed out (TEST-NET-1 by default)."""
    hostname_suffix: str | None = None
    """When set, report ``<name>.<suffix>`` hostnames instead of IPs (like AWS)."""
    latency_seconds: float = 0.0
    supports_requested_ip: bool = True

    @classmethod
    def parse(cls, settings: Mapping[str, Any]) -> FakeSettings:
        """Validate ``settings``; ProviderConfigError names the bad key."""
        unknown = sorted(set(settings) - _SETTINGS)
        if unknown:
            raise ProviderConfigError(
                f"unknown setting(s) {', '.join(unknown)}; known: {', '.join(sorted(_SETTINGS))}"
            )
        pool = str(settings.get("address_pool", DEFAULT_POOL))
        try:
            ipaddress.ip_network(pool)
        except ValueError:
            raise ProviderConfigError(f"address_pool: {pool!r} is not a CIDR") from None
        latency = settings.get("latency_seconds", 0.0)
        if not isinstance(latency, int | float) or latency < 0:
            raise ProviderConfigError("latency_seconds: must be a number >= 0")
        return cls(
            address_pool=pool,
            hostname_suffix=settings.get("hostname_suffix"),
            latency_seconds=float(latency),
            supports_requested_ip=bool(settings.get("supports_requested_ip", True)),
        )


@dataclass(frozen=True, slots=True, kw_only=True)
class FakeLoadBalancer:
    """One load balancer as the fake cloud holds it."""

    lb_id: str
    address: str
    desired: DesiredLoadBalancer


Owner = tuple[tuple[str, str], ...]


class FakeCloudError(Exception):
    """What the fake cloud answers an injected fault with (translated to CloudApiError)."""

    def __init__(self, code: str, status: int) -> None:
        super().__init__(code)
        self.code = code
        self.status = status


class LoadBalancers(dict[Owner, FakeLoadBalancer]):
    """The fake cloud's load balancers by owner, indexed by address.

    The index makes picking a free address O(1), so creating 10,000 load
    balancers stays linear; every way the benches and tests write goes through it.
    """

    def __init__(self) -> None:
        super().__init__()
        self.addresses: Counter[str] = Counter()

    def __setitem__(self, owner: Owner, lb: FakeLoadBalancer) -> None:
        self._forget(owner)
        super().__setitem__(owner, lb)
        self.addresses[lb.address] += 1

    def __delitem__(self, owner: Owner) -> None:
        self._forget(owner)
        super().__delitem__(owner)

    def pop(self, owner: Owner, default: Any = None) -> Any:
        """``dict.pop``, keeping the index."""
        self._forget(owner)
        return super().pop(owner, default)

    def clear(self) -> None:
        """``dict.clear``, keeping the index."""
        super().clear()
        self.addresses.clear()

    def _forget(self, owner: Owner) -> None:
        old = self.get(owner)
        if old is not None:
            self.addresses[old.address] -= 1
            if not self.addresses[old.address]:
                del self.addresses[old.address]


class FakeCloud:
    """The fake provider's "cloud": load balancers by owner, call counters and faults."""

    def __init__(self) -> None:
        self.lock = threading.RLock()
        self.load_balancers = LoadBalancers()
        self.counters = CallCounters()
        self.faults = FaultPlan()

    def request(self, action: str) -> None:
        """Count one API call and answer any injected fault for it."""
        self.counters.record(action)
        rule = self.faults.take(action)
        if rule is not None:
            raise FakeCloudError(rule.code, rule.status)


def _translate(action: str, error: BaseException) -> CloudApiError | None:
    if isinstance(error, FakeCloudError):
        return CloudApiError(provider="fake", action=action, code=error.code, status=error.status)
    return None


@dataclass(slots=True)
class Call:
    """One recorded provider call."""

    method: str
    service: str
    at: float = field(default_factory=time.monotonic)


class FakeProvider:
    """In-memory load balancers; records calls; errors and latency on demand."""

    name = "fake"

    def __init__(
        self,
        settings: FakeSettings,
        *,
        cluster_name: str,
        cloud: FakeCloud | None = None,
        policy: CallPolicy | None = None,
    ) -> None:
        self.settings = settings
        self.cluster_name = cluster_name
        self.cloud = cloud if cloud is not None else FakeCloud()
        self.calls: list[Call] = []
        self._failures: dict[tuple[str, str | None], list[Exception]] = {}
        self._pool = ipaddress.ip_network(settings.address_pool)
        self._lock = threading.Lock()
        self._caller = CloudCaller(
            provider="fake",
            translate=_translate,
            codes=ErrorCodes(throttling=frozenset({THROTTLING})),
            policy=policy or CallPolicy(wait_initial=0.01, wait_max=0.05, throttled_retry_after=1),
        )

    @property
    def load_balancers(self) -> LoadBalancers:
        """The cloud's load balancers by owner (shared with other instances on one cloud)."""
        return self.cloud.load_balancers

    # --- test controls ---------------------------------------------------------------

    def fail_next(self, method: str, *errors: Exception, service: str | None = None) -> None:
        """Make the next calls of ``method`` raise ``errors``, one each, in order.

        With ``service`` (``namespace/name``) only that Service's calls fail, so
        tests sharing one provider cannot eat each other's failures.
        """
        with self._lock:
            self._failures.setdefault((method, service), []).extend(errors)

    def calls_for(self, service_key: str, method: str | None = None) -> list[str]:
        """The methods called for ``namespace/name`` (only ``method`` when given)."""
        with self._lock:
            return [
                call.method
                for call in self.calls
                if call.service == service_key and method in (None, call.method)
            ]

    def find(self, service_key: str) -> FakeLoadBalancer | None:
        """The load balancer of the Service ``namespace/name``, if any."""
        with self.cloud.lock:
            return next(
                (lb for lb in self.load_balancers.values() if lb.desired.ref.key == service_key),
                None,
            )

    # --- the contract ------------------------------------------------------------------

    def _enter(self, method: str, ref: ServiceRef) -> None:
        with self._lock:
            self.calls.append(Call(method, ref.key))
            pending = self._failures.get((method, ref.key)) or self._failures.get((method, None))
            error = pending.pop(0) if pending else None
        if self.settings.latency_seconds:
            time.sleep(self.settings.latency_seconds)
        if error is not None:
            raise error

    @staticmethod
    def _owner(ref: ServiceRef) -> Owner:
        return tuple(sorted(owner_filter(ref).items()))

    def _read(self, owner: Owner) -> FakeLoadBalancer | None:
        self._caller.call("DescribeLoadBalancers", self.cloud.request, "DescribeLoadBalancers")
        with self.cloud.lock:
            return self.cloud.load_balancers.get(owner)

    def _write(self, action: str, owner: Owner, lb: FakeLoadBalancer | None) -> None:
        self._caller.call(action, self.cloud.request, action)
        with self.cloud.lock:
            if lb is None:
                self.cloud.load_balancers.pop(owner, None)
            else:
                self.cloud.load_balancers[owner] = lb

    def _status(self, lb: FakeLoadBalancer) -> LoadBalancerStatus:
        desired = lb.desired
        warnings = []
        if desired.requested_ip and not self.settings.supports_requested_ip:
            warnings.append(f"loadBalancerIP {desired.requested_ip} is not supported; ignored")
        ports = tuple(
            PortStatus(port=item.port, protocol=item.protocol) for item in desired.listeners
        )
        if self.settings.hostname_suffix:
            ingress = Ingress(hostname=f"{lb.lb_id}.{self.settings.hostname_suffix}", ports=ports)
        else:
            ingress = Ingress(ip=lb.address, ip_mode="VIP", ports=ports)
        return LoadBalancerStatus(lb_id=lb.lb_id, ingress=(ingress,), warnings=tuple(warnings))

    def targets(self, node: NodeTarget) -> bool:
        """A node of the fake cloud (``fake://...``)."""
        return node.provider_id.startswith(PROVIDER_ID_PREFIX)

    def get(self, ref: ServiceRef) -> LoadBalancerStatus | None:
        """The load balancer owned by ``ref``, or None."""
        self._enter("get", ref)
        lb = self._read(self._owner(ref))
        return None if lb is None else self._status(lb)

    def ensure(self, desired: DesiredLoadBalancer) -> LoadBalancerStatus:
        """Create or update the in-memory load balancer."""
        self._enter("ensure", desired.ref)
        owner = self._owner(desired.ref)
        existing = self._read(owner)
        if existing is None:
            lb = self._create(owner, desired)
        elif existing.desired != desired:
            lb = FakeLoadBalancer(lb_id=existing.lb_id, address=existing.address, desired=desired)
            self._write("ModifyLoadBalancer", owner, lb)
        else:
            lb = existing
        return self._status(lb)

    def update_backends(self, desired: DesiredLoadBalancer) -> None:
        """Replace the backends of the existing load balancer."""
        self._enter("update_backends", desired.ref)
        owner = self._owner(desired.ref)
        existing = self._read(owner)
        if existing is not None and backends(existing.desired) != backends(desired):
            self._write(
                "SetBackends",
                owner,
                FakeLoadBalancer(lb_id=existing.lb_id, address=existing.address, desired=desired),
            )

    def delete(self, ref: ServiceRef) -> None:
        """Forget the load balancer; success when it is already gone."""
        self._enter("delete", ref)
        owner = self._owner(ref)
        if self._read(owner) is not None:
            self._write("DeleteLoadBalancer", owner, None)

    def plan(self, desired: DesiredLoadBalancer) -> tuple[PlannedChange, ...]:
        """What ``ensure`` would change: the load balancer, listeners and backends."""
        self._enter("plan", desired.ref)
        existing = self._read(self._owner(desired.ref))
        have = existing.desired if existing is not None else None
        changes: list[PlannedChange] = []
        if have is None:
            changes.append(
                PlannedChange(
                    action=ChangeAction.CREATE, kind="load balancer", name=desired.ref.key
                )
            )
        changes += _diff("listener", _listeners(have), _listeners(desired))
        changes += _diff(
            "backend",
            {f"{target}:{port}" for target, port in backends(have)} if have else set(),
            {f"{target}:{port}" for target, port in backends(desired)},
        )
        return tuple(changes)

    def _create(self, owner: Owner, desired: DesiredLoadBalancer) -> FakeLoadBalancer:
        self._caller.call("CreateLoadBalancer", self.cloud.request, "CreateLoadBalancer")
        # Choosing the address and storing the load balancer under one lock keeps
        # addresses unique when workers create load balancers concurrently.
        with self.cloud.lock:
            lb = self.cloud.load_balancers.get(owner)
            if lb is None:
                lb = FakeLoadBalancer(
                    lb_id=lb_id_for(desired.ref.uid),
                    address=self._address_for(desired),
                    desired=desired,
                )
                self.cloud.load_balancers[owner] = lb
        return lb

    def _address_for(self, desired: DesiredLoadBalancer) -> str:
        """The requested IP, else the pool address the UID hashes to (next free one on a clash).

        The caller holds the cloud's lock.
        """
        if desired.requested_ip and self.settings.supports_requested_ip:
            return desired.requested_ip
        in_use = self.cloud.load_balancers.addresses
        pool = self._pool
        # Hosts only: skip the network and broadcast addresses where the pool has them.
        first, count = (1, pool.num_addresses - 2) if pool.num_addresses > 2 else (0, 1)
        start = _uid_digest(desired.ref.uid) % count
        for step in range(count):
            address = str(pool[first + (start + step) % count])
            if address not in in_use:
                return address
        raise CloudApiError(
            provider="fake",
            action="CreateLoadBalancer",
            code="AddressPoolExhausted",
            message=f"no address left in {self.settings.address_pool}",
        )

    def list_owned(self) -> tuple[OwnedLoadBalancer, ...]:
        """The fake cloud's load balancers of this cluster."""
        with self.cloud.lock:
            found = [
                lb
                for lb in self.cloud.load_balancers.values()
                if lb.desired.ref.cluster == self.cluster_name
            ]
        return tuple(
            OwnedLoadBalancer(
                lb_id=lb.lb_id, service_uid=lb.desired.ref.uid, service_key=lb.desired.ref.key
            )
            for lb in sorted(found, key=lambda lb: lb.lb_id)
        )


def _uid_digest(uid: str) -> int:
    return int.from_bytes(hashlib.sha256(uid.encode()).digest()[:8], "big")


def lb_id_for(uid: str) -> str:
    """The fake cloud's id for the load balancer of the Service with ``uid``."""
    return f"fake-lb-{_uid_digest(uid):016x}"[:20]


def _listeners(desired: DesiredLoadBalancer | None) -> set[str]:
    if desired is None:
        return set()
    return {f"{item.protocol.value}:{item.port}" for item in desired.listeners}


def _diff(kind: str, have: set[str], want: set[str]) -> list[PlannedChange]:
    return [
        PlannedChange(action=ChangeAction.CREATE, kind=kind, name=name, after=name)
        for name in sorted(want - have)
    ] + [
        PlannedChange(action=ChangeAction.DELETE, kind=kind, name=name, before=name)
        for name in sorted(have - want)
    ]


def backends(desired: DesiredLoadBalancer) -> frozenset[tuple[str, int]]:
    """``(node name or Pod IP, port)`` the fake cloud sends traffic to (its own nodes only)."""
    if desired.backend_mode is BackendMode.POD_IP:
        return frozenset(
            (endpoint.ip, endpoint.port)
            for listener in desired.listeners
            for endpoint in listener.endpoints
        )
    return frozenset(
        (node.name, listener.node_port)
        for listener in desired.listeners
        if listener.node_port is not None
        for node in desired.nodes_of(PROVIDER_ID_PREFIX)
    )


def create(settings: Mapping[str, Any], *, cluster_name: str) -> FakeProvider:
    """The ``fake`` entry point."""
    return FakeProvider(FakeSettings.parse(settings), cluster_name=cluster_name)
