"""The AWS provider as a contract cloud: moto behind the AWS mock's proxy.

moto keeps its state per process, so every AWS test in a process shares one
mock (:func:`shared_cloud`, also used by ``tests/providers/aws``); each test
starts from the seeded state (:func:`sweep`) with counters and faults reset.
Observations come from the mock's ``/_admin/state`` and counters.
"""

from __future__ import annotations

import atexit
import threading
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

from contract_suite import CLUSTER, ReuseCase, sandbox_nodes
from lbprovider.cloud import EndpointTarget, NodeTarget, Provider, ServiceRef
from lbprovider.mockkit import CallCounts, MockAdmin
from lbprovider.providerkit import CallPolicy
from lbprovider_aws import naming
from lbprovider_aws.mock import AwsMockCloud, start
from lbprovider_aws.model import instance_id
from lbprovider_aws.provider import create

SUPPORTS_REUSE = False  # the AWS provider always creates its own NLB
INSTANCES = 3
FAST = CallPolicy(attempts=2, wait_initial=0.01, wait_max=0.05)
"""Quick retries: one retry per call, short waits."""

_LOCK = threading.Lock()
_SHARED: list[AwsMockCloud] = []


def shared_cloud() -> AwsMockCloud:
    """The process's AWS mock cloud, started on first use and stopped at exit."""
    with _LOCK:
        if not _SHARED:
            cloud = start(instances=INSTANCES)
            atexit.register(cloud.stop)
            _SHARED.append(cloud)
        return _SHARED[0]


def sweep(cloud: AwsMockCloud) -> None:
    """Back to the seeded state: every NLB, target group, non-seeded security group and
    ingress rule goes (straight to moto: nothing counted); the node group stays."""
    elbv2, ec2 = cloud.client("elbv2"), cloud.client("ec2")
    balancers = [
        lb
        for page in elbv2.get_paginator("describe_load_balancers").paginate()
        for lb in page["LoadBalancers"]
    ]
    for lb in balancers:
        arn = lb["LoadBalancerArn"]
        for listener in elbv2.describe_listeners(LoadBalancerArn=arn)["Listeners"]:
            elbv2.delete_listener(ListenerArn=listener["ListenerArn"])
        elbv2.delete_load_balancer(LoadBalancerArn=arn)
    for tg in [
        tg
        for page in elbv2.get_paginator("describe_target_groups").paginate()
        for tg in page["TargetGroups"]
    ]:
        elbv2.delete_target_group(TargetGroupArn=tg["TargetGroupArn"])
    groups = ec2.describe_security_groups()["SecurityGroups"]
    defaults = {group["GroupId"] for group in groups if group["GroupName"] == "default"}
    # Rules go by id: a rule whose source group is already gone cannot be named otherwise.
    ingress: dict[str, list[str]] = {}
    for rule in ec2.describe_security_group_rules()["SecurityGroupRules"]:
        if not rule["IsEgress"] and rule["GroupId"] not in defaults:
            ingress.setdefault(rule["GroupId"], []).append(rule["SecurityGroupRuleId"])
    for group_id, rule_ids in ingress.items():
        ec2.revoke_security_group_ingress(GroupId=group_id, SecurityGroupRuleIds=rule_ids)
    for group in groups:
        if group["GroupId"] not in defaults and group["GroupId"] != cloud.node_security_group:
            ec2.delete_security_group(GroupId=group["GroupId"])
    cloud.admin.request("DELETE", "requests")
    cloud.admin.reset()


def _owned(tags: Mapping[str, str], ref: ServiceRef) -> bool:
    return naming.is_owned_by(dict(tags), ref)


@dataclass
class AwsContractCloud:
    """The shared AWS mock, observed through its admin routes."""

    mock: AwsMockCloud
    name: str = "aws"

    @property
    def admin(self) -> MockAdmin:
        return self.mock.admin

    def new_provider(self) -> Provider:
        return create(self.mock.provider_settings(), cluster_name=CLUSTER, policy=FAST)

    def nodes(self) -> tuple[NodeTarget, ...]:
        return sandbox_nodes(self.mock.instances)

    def foreign_nodes(self) -> tuple[NodeTarget, ...]:
        return (NodeTarget(name="gce-node", provider_id="gce://p/z/vm-1", address="10.9.9.9"),)

    def pod_endpoints(self, port: int) -> tuple[EndpointTarget, ...]:
        # Distinct IPs: moto keys IP targets by Id only (DESIGN §5).
        return (
            EndpointTarget(ip="10.0.1.10", port=port),
            EndpointTarget(ip="10.0.2.11", port=port),
        )

    def _state(self) -> dict[str, Any]:
        state: dict[str, Any] = self.admin.state()
        return state

    def owned(self, ref: ServiceRef) -> Mapping[str, int]:
        state = self._state()
        counted = {
            kind: sum(_owned(item["tags"], ref) for item in state[kind])
            for kind in ("load_balancers", "target_groups", "security_groups")
        }
        mark = naming.marker(ref)
        counted["node_sg_rules"] = sum(
            rule["description"] == mark for rule in state["node_sg_rules"]
        )
        return {kind: count for kind, count in counted.items() if count}

    def backends(self, ref: ServiceRef) -> frozenset[tuple[str, int]]:
        return frozenset(
            (str(target_id), int(port))
            for group in self._state()["target_groups"]
            if _owned(group["tags"], ref)
            for target_id, port in group["targets"]
        )

    def backend_id(self, node: NodeTarget) -> str:
        found = instance_id(node.provider_id)
        assert found is not None, node
        return found

    def counts(self) -> CallCounts:
        return self.admin.counters()

    def throttle(self, *, count: int | None) -> None:
        self.admin.inject_fault("Throttling", status=400, count=count)

    def clear_faults(self) -> None:
        self.admin.clear_faults()

    def reuse(self) -> ReuseCase:
        raise NotImplementedError("the AWS provider does not reuse existing NLBs")

    def exists(self, lb_id: str) -> bool:
        return any(lb["arn"] == lb_id for lb in self._state()["load_balancers"])


@contextmanager
def open_cloud() -> Iterator[AwsContractCloud]:
    mock = shared_cloud()
    sweep(mock)
    try:
        yield AwsContractCloud(mock=mock)
    finally:
        sweep(mock)
