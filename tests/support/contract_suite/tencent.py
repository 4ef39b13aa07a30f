"""Tencent CLB as a contract cloud: the mock CLB, observed through its admin API.

Tasks complete at once (``task_delay=0``) and the provider's waits and
retries are short, so the suite stays fast; the per-cloud tests
(``tests/providers/tencent``) cover the asynchronous paths.  A reused CLB is
seeded in the mock's state, as a user's pre-existing CLB would be.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

from contract_suite import CLUSTER, ReuseCase, sandbox_nodes
from lbprovider.cloud import EndpointTarget, NodeTarget, Provider, ServiceRef
from lbprovider.cloud.tags import is_owned_by
from lbprovider.mockkit import CallCounts
from lbprovider_tencent.mock import TencentMockCloud, start
from lbprovider_tencent.provider import create

SUPPORTS_REUSE = True
THROTTLING = "RequestLimitExceeded"
EXISTED_LBID = "service.kubernetes.io/tke-existed-lbid"
FAST = {"retry_after_seconds": 0.05, "task_wait_seconds": 1.0, "max_attempts": 3}


@dataclass
class TencentContractCloud:
    """One mock CLB shared by every provider instance the suite builds."""

    mock: TencentMockCloud
    name: str = "tencent"

    def new_provider(self) -> Provider:
        return create({**self.mock.provider_settings(), **FAST}, cluster_name=CLUSTER)

    def nodes(self) -> tuple[NodeTarget, ...]:
        return sandbox_nodes(self.mock.instances)

    def foreign_nodes(self) -> tuple[NodeTarget, ...]:
        return (
            NodeTarget(name="aws-node", provider_id="aws:///us-east-1a/i-0abc", address="10.9.9.9"),
        )

    def pod_endpoints(self, port: int) -> tuple[EndpointTarget, ...]:
        # Inside the mock VPC (10.0.0.0/8): CLB registers ENI IPs of its VPC only.
        return (
            EndpointTarget(ip="10.244.1.5", port=port),
            EndpointTarget(ip="10.244.2.7", port=port),
        )

    def _owned_lbs(self, ref: ServiceRef) -> list[dict[str, Any]]:
        lbs: list[dict[str, Any]] = self.mock.admin.state()["load_balancers"]
        return [lb for lb in lbs if is_owned_by(lb["tags"], ref)]

    def owned(self, ref: ServiceRef) -> Mapping[str, int]:
        lbs = self._owned_lbs(ref)
        listeners = [listener for lb in lbs for listener in lb["listeners"]]
        counted = {
            "load_balancers": len(lbs),
            "listeners": len(listeners),
            "targets": sum(len(listener["targets"]) for listener in listeners),
        }
        return {kind: count for kind, count in counted.items() if count}

    def backends(self, ref: ServiceRef) -> frozenset[tuple[str, int]]:
        return frozenset(
            (target["instance_id"] or target["eni_ip"], target["port"])
            for lb in self._owned_lbs(ref)
            for listener in lb["listeners"]
            for target in listener["targets"]
        )

    def backend_id(self, node: NodeTarget) -> str:
        return node.provider_id.rsplit("/", 1)[-1]

    def counts(self) -> CallCounts:
        return self.mock.admin.counters()

    def throttle(self, *, count: int | None) -> None:
        self.mock.admin.inject_fault(THROTTLING, count=count)

    def clear_faults(self) -> None:
        self.mock.admin.clear_faults()

    def reuse(self) -> ReuseCase:
        lb_id = self.mock.backend.seed_load_balancer(name="users-clb")
        return ReuseCase(lb_id=lb_id, annotations={EXISTED_LBID: lb_id})

    def exists(self, lb_id: str) -> bool:
        return any(lb["id"] == lb_id for lb in self.mock.admin.state()["load_balancers"])


@contextmanager
def open_cloud() -> Iterator[TencentContractCloud]:
    mock = start(instances=2, task_delay=0.0)
    try:
        yield TencentContractCloud(mock=mock)
    finally:
        mock.stop()
