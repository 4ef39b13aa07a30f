"""Alibaba Cloud SLB as a contract cloud: the mock SLB, observed through its admin API.

Ownership is read from the mock's state (``GET /_admin/state``): load
balancers and VServerGroups carry the ownership tags; listeners are counted
on the owned load balancers.  Backends are the owned groups' members, an ECS
instance by its id and a Pod by its IP (``ServerIp`` of an ``eni`` member).
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

from contract_suite import CLUSTER, ReuseCase, sandbox_nodes
from lbprovider.cloud import EndpointTarget, NodeTarget, Provider, ServiceRef
from lbprovider.cloud.tags import is_owned_by
from lbprovider.mockkit import CallCounts, MockAdmin
from lbprovider.providerkit import CallPolicy
from lbprovider_alibaba.mock import SEEDED_POD_IPS, AlibabaMockCloud, start
from lbprovider_alibaba.options import LOADBALANCER_ID
from lbprovider_alibaba.provider import AlibabaProvider, create

SUPPORTS_REUSE = True
FAST = CallPolicy(
    attempts=4, wait_initial=0.01, wait_max=0.05, throttled_retry_after=1.0, busy_retry_after=0.5
)
"""The provider's retry bounds with short waits, so the suite stays quick."""


def _tags(item: Mapping[str, Any]) -> dict[str, str]:
    return {str(t["TagKey"]): str(t["TagValue"]) for t in item.get("Tags", {}).get("Tag", [])}


@dataclass
class AlibabaContractCloud:
    """One mock SLB region shared by every provider instance the suite builds."""

    mock: AlibabaMockCloud
    name: str = "alibaba"
    built: list[AlibabaProvider] = field(default_factory=list)
    """Providers handed out, closed with the cloud (the SDK keeps connections open)."""

    @property
    def admin(self) -> MockAdmin:
        return MockAdmin(self.mock.endpoint)

    def new_provider(self) -> Provider:
        provider = create(self.mock.provider_settings(), cluster_name=CLUSTER, policy=FAST)
        self.built.append(provider)
        return provider

    def nodes(self) -> tuple[NodeTarget, ...]:
        return sandbox_nodes(self.mock.instances)

    def foreign_nodes(self) -> tuple[NodeTarget, ...]:
        return (
            NodeTarget(name="aws-node", provider_id="aws:///us-east-1a/i-0abc", address="10.9.0.1"),
        )

    def pod_endpoints(self, port: int) -> tuple[EndpointTarget, ...]:
        # Pod IPs the mock's seeded ENIs hold (an ENI backend needs the ENI that holds it).
        return tuple(EndpointTarget(ip=ip, port=port) for ip in SEEDED_POD_IPS[:2])

    def _owned_state(self, ref: ServiceRef) -> tuple[list[Any], list[Any], list[Any]]:
        state = self.admin.state()
        lbs = [lb for lb in state["load_balancers"] if is_owned_by(_tags(lb), ref)]
        lb_ids = {lb["LoadBalancerId"] for lb in lbs}
        groups = [g for g in state["vserver_groups"] if is_owned_by(dict(g["Tags"]), ref)]
        listeners = [li for li in state["listeners"] if li["LoadBalancerId"] in lb_ids]
        return lbs, groups, listeners

    def owned(self, ref: ServiceRef) -> Mapping[str, int]:
        lbs, groups, listeners = self._owned_state(ref)
        counts = {"load_balancers": len(lbs), "vserver_groups": len(groups)}
        counts["listeners"] = len(listeners)
        return {kind: n for kind, n in counts.items() if n}

    def backends(self, ref: ServiceRef) -> frozenset[tuple[str, int]]:
        _, groups, _ = self._owned_state(ref)
        return frozenset(
            (str(b["ServerIp"] if b["Type"] == "eni" else b["ServerId"]), int(b["Port"]))
            for group in groups
            for b in group["BackendServers"]
        )

    def backend_id(self, node: NodeTarget) -> str:
        return node.provider_id.split(".", 1)[1]  # <region>.i-...

    def counts(self) -> CallCounts:
        return self.admin.counters()

    def throttle(self, *, count: int | None) -> None:
        self.admin.inject_fault("Throttling.User", status=400, count=count)

    def clear_faults(self) -> None:
        self.admin.clear_faults()

    def reuse(self) -> ReuseCase:
        lb = self.mock.backend.create_load_balancer(
            name="pre-existing",
            address_type="internet",
            vpc_id="",
            vswitch_id="",
            spec="",
            address="",
            tags={},
            delete_protection=False,
            instance_charge_type="PayByCLCU",
        )
        return ReuseCase(lb_id=lb.id, annotations={LOADBALANCER_ID: lb.id})

    def exists(self, lb_id: str) -> bool:
        return any(lb["LoadBalancerId"] == lb_id for lb in self.admin.state()["load_balancers"])


@contextmanager
def open_cloud() -> Iterator[AlibabaContractCloud]:
    mock = start(instances=2)
    cloud = AlibabaContractCloud(mock=mock)
    try:
        yield cloud
    finally:
        for provider in cloud.built:
            provider.close()
        mock.stop()
