"""The fake provider as a contract cloud: its in-memory FakeCloud is the "mock"."""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field

from contract_suite import CLUSTER, ReuseCase
from lbprovider.cloud import EndpointTarget, NodeTarget, Provider, ServiceRef
from lbprovider.mockkit import CallCounts, FaultRule
from lbprovider.testing.fake_provider import (
    THROTTLING,
    FakeCloud,
    FakeProvider,
    FakeSettings,
    backends,
)

ADDRESS_POOL = "198.18.0.0/16"
SUPPORTS_REUSE = False


@dataclass
class FakeContractCloud:
    """One FakeCloud shared by every provider instance the suite builds."""

    name: str = "fake"
    cloud: FakeCloud = field(default_factory=FakeCloud)

    def new_provider(self) -> Provider:
        return FakeProvider(
            FakeSettings(address_pool=ADDRESS_POOL), cluster_name=CLUSTER, cloud=self.cloud
        )

    def nodes(self) -> tuple[NodeTarget, ...]:
        return tuple(
            NodeTarget(name=f"fake-node-{n}", provider_id=f"fake://fake-node-{n}", address="")
            for n in (1, 2)
        )

    def foreign_nodes(self) -> tuple[NodeTarget, ...]:
        return (NodeTarget(name="aws-node", provider_id="aws:///us-east-1a/i-0abc", address=""),)

    def pod_endpoints(self, port: int) -> tuple[EndpointTarget, ...]:
        return (
            EndpointTarget(ip="10.244.1.5", port=port),
            EndpointTarget(ip="10.244.2.7", port=port),
        )

    def _find(self, ref: ServiceRef) -> list[object]:
        with self.cloud.lock:
            return [
                lb for lb in self.cloud.load_balancers.values() if lb.desired.ref.uid == ref.uid
            ]

    def owned(self, ref: ServiceRef) -> Mapping[str, int]:
        found = self._find(ref)
        return {"load_balancers": len(found)} if found else {}

    def backends(self, ref: ServiceRef) -> frozenset[tuple[str, int]]:
        with self.cloud.lock:
            for lb in self.cloud.load_balancers.values():
                if lb.desired.ref.uid == ref.uid:
                    return backends(lb.desired)
        return frozenset()

    def backend_id(self, node: NodeTarget) -> str:
        return node.name

    def counts(self) -> CallCounts:
        return self.cloud.counters.counts()

    def throttle(self, *, count: int | None) -> None:
        self.cloud.faults.add(FaultRule(code=THROTTLING, count=count))

    def clear_faults(self) -> None:
        self.cloud.faults.clear()

    def reuse(self) -> ReuseCase:
        raise NotImplementedError("the fake cloud has no pre-existing load balancers")

    def exists(self, lb_id: str) -> bool:
        with self.cloud.lock:
            return any(lb.lb_id == lb_id for lb in self.cloud.load_balancers.values())


@contextmanager
def open_cloud() -> Iterator[FakeContractCloud]:
    yield FakeContractCloud()
