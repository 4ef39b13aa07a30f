"""What the provider contract suite needs from each cloud, and helpers to build requests.

Each cloud implements :class:`ContractCloud` over its mock cloud in
``contract_suite/<provider>.py``, whose ``open_cloud()`` is a context manager
yielding it; ``tests/providers/test_contract.py`` runs the same cases over
every one listed in :data:`CLOUDS`.  Observations come from the mock's own
state and counters, never from the provider under test.  (``tests/support``
is on pytest's and mypy's path: test modules cannot import each other under
``--import-mode=importlib``.)
"""

from __future__ import annotations

import importlib
from collections.abc import Iterable, Mapping
from contextlib import AbstractContextManager
from dataclasses import dataclass, field
from typing import Protocol as _Protocol

from lbprovider.cloud import (
    BackendMode,
    DesiredLoadBalancer,
    EndpointTarget,
    Listener,
    NodeTarget,
    Protocol,
    Provider,
    ServiceRef,
)
from lbprovider.cloud.sandbox import SandboxInstance
from lbprovider.mockkit import CallCounts

CLUSTER = "contract-cluster"
CLOUDS = ("fake", "aws", "alibaba", "tencent")
"""Every provider the contract suite runs over (a module of this package each)."""


@dataclass(frozen=True, slots=True, kw_only=True)
class ReuseCase:
    """A load balancer that exists before the Service and the annotations that name it."""

    lb_id: str
    annotations: Mapping[str, str] = field(default_factory=dict)


class ContractCloud(_Protocol):
    """One cloud (a running mock) as the contract suite drives it."""

    name: str
    """The registered provider name."""

    def new_provider(self) -> Provider:
        """A fresh provider instance on the same cloud (what a restarted process builds)."""
        ...

    def nodes(self) -> tuple[NodeTarget, ...]:
        """At least two nodes of this cloud (seeded instances), sorted by name."""
        ...

    def foreign_nodes(self) -> tuple[NodeTarget, ...]:
        """Nodes of another cloud (a providerID this provider must not target)."""
        ...

    def pod_endpoints(self, port: int) -> tuple[EndpointTarget, ...]:
        """At least two Pod endpoints this cloud can target directly on ``port``."""
        ...

    def owned(self, ref: ServiceRef) -> Mapping[str, int]:
        """Objects in the cloud tagged as owned by ``ref``, counted per kind, read from
        the mock's state (kinds with no object may be left out)."""
        ...

    def backends(self, ref: ServiceRef) -> frozenset[tuple[str, int]]:
        """``(instance id or IP, port)`` registered behind ``ref``'s load balancer,
        read from the mock's state."""
        ...

    def backend_id(self, node: NodeTarget) -> str:
        """The id ``backends`` reports for ``node`` (its instance id)."""
        ...

    def counts(self) -> CallCounts:
        """Calls the cloud answered so far (reads and writes)."""
        ...

    def throttle(self, *, count: int | None) -> None:
        """Answer the next ``count`` calls (None: every call) with the cloud's throttling error."""
        ...

    def clear_faults(self) -> None: ...

    def reuse(self) -> ReuseCase:
        """Seed a pre-existing load balancer to reuse (clouds with ``SUPPORTS_REUSE``)."""
        ...

    def exists(self, lb_id: str) -> bool:
        """Whether load balancer ``lb_id`` exists in the mock's state."""
        ...


def open_cloud(name: str) -> AbstractContextManager[ContractCloud]:
    """Start cloud ``name`` (its mock) for one test; stopped when the block ends."""
    module = importlib.import_module(f"contract_suite.{name}")
    opened: AbstractContextManager[ContractCloud] = module.open_cloud()
    return opened


def reuse_clouds() -> tuple[str, ...]:
    """The clouds whose module says ``SUPPORTS_REUSE = True`` (a Service may name an
    existing load balancer; the provider must never delete it)."""
    return tuple(name for name in CLOUDS if getattr(_module(name), "SUPPORTS_REUSE", False))


def _module(name: str) -> object:
    """Cloud ``name``'s module, or None while it is not written yet: collecting the suite
    must not fail for every cloud over one missing module (``open_cloud`` still fails
    that cloud's cases loudly)."""
    try:
        return importlib.import_module(f"contract_suite.{name}")
    except ModuleNotFoundError as error:
        if error.name != f"contract_suite.{name}":
            raise
        return None


def sandbox_nodes(instances: Iterable[SandboxInstance]) -> tuple[NodeTarget, ...]:
    """The Nodes a sandbox registers for a mock's seeded instances, sorted by name."""
    nodes = (
        NodeTarget(name=i.node_name, provider_id=i.provider_id, address=i.internal_ip)
        for i in instances
    )
    return tuple(sorted(nodes, key=lambda node: node.name))


def service_ref(name: str, *, uid: str | None = None, **annotations: str) -> ServiceRef:
    return ServiceRef(
        cluster=CLUSTER,
        namespace="contract",
        name=name,
        uid=uid or f"00000000-0000-4000-8000-{abs(hash(name)) % 10**12:012d}",
        annotations=annotations,
    )


def node_port_lb(
    ref: ServiceRef,
    nodes: tuple[NodeTarget, ...],
    *,
    ports: tuple[tuple[int, Protocol, int], ...] = ((80, Protocol.TCP, 30080),),
) -> DesiredLoadBalancer:
    """Listeners ``(port, protocol, nodePort)`` forwarding to ``nodes``."""
    listeners = tuple(
        Listener(name=f"{proto.value.lower()}-{port}", port=port, protocol=proto, node_port=np)
        for port, proto, np in sorted(ports, key=lambda item: (item[0], item[1].value))
    )
    return DesiredLoadBalancer(
        ref=ref, listeners=listeners, nodes=tuple(sorted(nodes, key=lambda n: n.name))
    )


def pod_ip_lb(
    ref: ServiceRef, endpoints: tuple[EndpointTarget, ...], *, port: int = 80
) -> DesiredLoadBalancer:
    listener = Listener(
        name="http", port=port, protocol=Protocol.TCP, endpoints=tuple(sorted(endpoints))
    )
    return DesiredLoadBalancer(ref=ref, listeners=(listener,), backend_mode=BackendMode.POD_IP)


def total(owned: Mapping[str, int]) -> int:
    return sum(owned.values())
