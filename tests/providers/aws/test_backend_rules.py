"""Backend security-group rules and lookup costs, against moto in server mode.

The nodes' security group must allow the cluster's shared backend security
group (carried by every NLB) on the nodePort range and health-check ports;
these tests read the rules back from the cloud and count the requests that
reached it (the mock's request journal).
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Any

import pytest

from lbprovider.cloud import (
    BackendMode,
    DesiredLoadBalancer,
    EndpointTarget,
    HealthCheck,
    Listener,
    NodeTarget,
    Protocol,
    ServiceRef,
)
from lbprovider_aws import naming
from lbprovider_aws.mock import AwsMockCloud
from lbprovider_aws.provider import AwsProvider, SharedGroupUse

pytestmark = pytest.mark.providers

NO_OP_READS = 12
"""Reads of an unchanged ensure with two TCP ports on instance targets: DescribeLoadBalancers,
DescribeTargetGroups, DescribeTags, DescribeSecurityGroups x3 (the NLB's, the shared
backend group, the target instances' groups), DescribeInstances, DescribeListeners, and per
port DescribeTargetGroupAttributes and DescribeTargetHealth."""

MARK = "lbprovider:test-cluster/uid-1"
BACKEND_MARK = "lbprovider:test-cluster/backend"
NODE_PORTS = (30000, 32767)

NodeRule = tuple[str, int, int, str, str]
"""``(protocol, from port, to port, source group, description)``."""


def service(uid: str = "uid-1", cluster: str = "test-cluster") -> ServiceRef:
    return ServiceRef(cluster=cluster, namespace="default", name="web", uid=uid)


def listener(protocol: Protocol, port: int, node_port: int | None = None, **kw: Any) -> Listener:
    return Listener(
        name=f"{protocol.lower()}-{port}", port=port, protocol=protocol, node_port=node_port, **kw
    )


def desired(
    ref: ServiceRef, *listeners: Listener, nodes: tuple[NodeTarget, ...] = (), **kwargs: Any
) -> DesiredLoadBalancer:
    ordered = tuple(sorted(listeners, key=lambda item: (item.port, item.protocol)))
    return DesiredLoadBalancer(ref=ref, listeners=ordered, nodes=nodes, **kwargs)


class Groups:
    """Reads security groups back through plain boto3."""

    def __init__(self, cloud: AwsMockCloud) -> None:
        self.ec2 = cloud.client("ec2")
        self.elbv2 = cloud.client("elbv2")

    def backend(self, cluster: str = "test-cluster") -> str | None:
        found = self.ec2.describe_security_groups(
            Filters=[{"Name": "group-name", "Values": [naming.backend_group_name(cluster)]}]
        )["SecurityGroups"]
        return str(found[0]["GroupId"]) if found else None

    def nlb_groups(self, lb_arn: str) -> tuple[str, str]:
        """The NLB's own group and the shared backend group (it carries exactly both)."""
        lb = self.elbv2.describe_load_balancers(LoadBalancerArns=[lb_arn])["LoadBalancers"][0]
        shared = self.backend()
        assert shared in lb["SecurityGroups"], lb["SecurityGroups"]
        (own,) = set(lb["SecurityGroups"]) - {shared}
        return str(own), str(shared)

    def rules(self, group_id: str) -> set[NodeRule]:
        group = self.ec2.describe_security_groups(GroupIds=[group_id])["SecurityGroups"][0]
        return {
            (
                perm["IpProtocol"],
                perm["FromPort"],
                perm["ToPort"],
                pair["GroupId"],
                pair.get("Description", ""),
            )
            for perm in group["IpPermissions"]
            for pair in perm.get("UserIdGroupPairs", [])
        }

    def cidr_rules(self, group_id: str) -> set[tuple[str, int, str]]:
        group = self.ec2.describe_security_groups(GroupIds=[group_id])["SecurityGroups"][0]
        return {
            (perm["IpProtocol"], perm["FromPort"], item["CidrIp"])
            for perm in group["IpPermissions"]
            for item in perm.get("IpRanges", [])
        }


@pytest.fixture
def groups(cloud: AwsMockCloud) -> Groups:
    return Groups(cloud)


def shared_rules(source: str, *protocols: str, health: int | None = 10256) -> set[NodeRule]:
    """The backend group's rules: the nodePort range per protocol, kube-proxy's port."""
    rules = {(proto, *NODE_PORTS, source, BACKEND_MARK) for proto in protocols}
    if health is not None:
        rules.add(("tcp", health, health, source, BACKEND_MARK))
    return rules


def test_node_group_allows_the_backend_group_on_the_node_port_range_per_protocol(
    provider: AwsProvider,
    groups: Groups,
    cloud: AwsMockCloud,
    nodes: tuple[NodeTarget, ...],
    requests_log: Any,
) -> None:
    status = provider.ensure(
        desired(
            service(),
            listener(Protocol.TCP, 80, 30080),
            listener(Protocol.UDP, 5353, 30053),
            listener(Protocol.TCP, 53, 30054),
            listener(Protocol.UDP, 53, 30054),
            nodes=nodes,
        )
    )
    own, shared = groups.nlb_groups(status.lb_id)
    assert groups.rules(cloud.node_security_group) == shared_rules(shared, "tcp", "udp")
    # One authorize call for the node group, with every permission in it.
    authorized = [item["GroupId"] for item in requests_log.of("AuthorizeSecurityGroupIngress")]
    assert sorted(authorized) == sorted([[own], [cloud.node_security_group]])
    assert status.warnings == ()


def test_rules_are_shared_by_the_services_and_go_with_the_last_nlb(
    provider: AwsProvider,
    groups: Groups,
    cloud: AwsMockCloud,
    nodes: tuple[NodeTarget, ...],
    requests_log: Any,
) -> None:
    first, second = service("uid-1"), service("uid-2")
    provider.ensure(desired(first, listener(Protocol.TCP, 80, 30080), nodes=nodes))
    shared = groups.backend()
    assert shared is not None
    requests_log.clear()
    provider.ensure(
        desired(
            second,
            listener(Protocol.TCP, 80, 30081),
            nodes=nodes,
            health_check=HealthCheck(port=32100),
        )
    )
    # The second Service's nodePort and health port are in the range already allowed.
    assert "AuthorizeSecurityGroupIngress" not in [
        action
        for action, params in requests_log.calls
        if params.get("GroupId") == [cloud.node_security_group]
    ]
    assert groups.backend() == shared

    provider.delete(first)
    assert groups.rules(cloud.node_security_group) == shared_rules(shared, "tcp")
    requests_log.clear()
    provider.delete(second)
    assert groups.rules(cloud.node_security_group) == set()
    assert groups.backend() is None
    # AWS refuses to delete a security group other groups still reference.
    assert requests_log.writes()[-2:] == ["RevokeSecurityGroupIngress", "DeleteSecurityGroup"]
    assert cloud.resources() == {
        "load_balancers": 0,
        "target_groups": 0,
        "security_groups": 0,
        "node_sg_rules": 0,
    }


def test_the_last_nlbs_deletion_keeps_the_group_a_sync_in_flight_holds(
    provider: AwsProvider, groups: Groups, cloud: AwsMockCloud, nodes: tuple[NodeTarget, ...]
) -> None:
    # A Service created while the cluster's last one is deleted: its sync read the shared
    # group, and a release in between used to delete it under the sync's next rule write
    # (InvalidGroup.NotFound, a SyncLoadBalancerFailed Warning).
    first, second = service("uid-1"), service("uid-2")
    provider.ensure(desired(first, listener(Protocol.TCP, 80, 30080), nodes=nodes))
    shared = groups.backend()
    assert shared is not None
    with provider._shared_group.using():  # the second Service's sync, in flight
        provider.delete(first)
        assert groups.backend() == shared
        assert groups.rules(cloud.node_security_group) == shared_rules(shared, "tcp")
    status = provider.ensure(desired(second, listener(Protocol.TCP, 80, 30081), nodes=nodes))
    assert groups.nlb_groups(status.lb_id)[1] == shared
    provider.delete(second)  # now the last NLB, and no sync holds the group
    assert groups.backend() is None
    assert cloud.resources()["security_groups"] == 0


def test_a_sync_waits_while_the_shared_group_is_released() -> None:
    use = SharedGroupUse()
    releasing, release_may_end, entered = threading.Event(), threading.Event(), []

    def release() -> None:
        releasing.set()
        release_may_end.wait(5)

    releaser = threading.Thread(target=use.release_unless_used, args=(release,))
    releaser.start()
    releasing.wait(5)

    def sync() -> None:
        with use.using():
            entered.append(release_may_end.is_set())

    syncing = threading.Thread(target=sync)
    syncing.start()
    syncing.join(0.3)
    assert entered == []  # waiting for the release to end
    release_may_end.set()
    releaser.join(5)
    syncing.join(5)
    assert entered == [True]
    with use.using():
        assert use.release_unless_used(release) is False


def test_a_hundred_services_on_one_node_group_all_converge(
    provider: AwsProvider,
    groups: Groups,
    cloud: AwsMockCloud,
    nodes: tuple[NodeTarget, ...],
) -> None:
    """One rule per nodePort hit AWS's 60 inbound rules per security group (VPC quotas) at
    about 60 Services; the shared backend group keeps the node group at three rules."""
    statuses = [
        provider.ensure(
            desired(
                service(f"uid-{index}"),
                listener(Protocol.TCP, 80, 30100 + index),
                listener(Protocol.UDP, 53, 30300 + index),
                nodes=nodes,
            )
        )
        for index in range(100)
    ]
    assert len({status.lb_id for status in statuses}) == 100
    shared = groups.backend()
    assert shared is not None
    assert groups.rules(cloud.node_security_group) == shared_rules(shared, "tcp", "udp")


def test_rules_someone_else_added_survive(
    make_provider: Callable[..., AwsProvider],
    groups: Groups,
    cloud: AwsMockCloud,
    nodes: tuple[NodeTarget, ...],
) -> None:
    provider = make_provider()
    ref = service()
    status = provider.ensure(desired(ref, listener(Protocol.TCP, 80, 30080), nodes=nodes))
    own, _ = groups.nlb_groups(status.lb_id)
    node_group = cloud.node_security_group
    # An operator's rules: one from our NLB's group on another port and one CIDR rule on our
    # node port; and another cluster's NLB, with its own backend group and rules.
    groups.ec2.authorize_security_group_ingress(
        GroupId=node_group,
        IpPermissions=[
            {
                "IpProtocol": "tcp",
                "FromPort": 9100,
                "ToPort": 9100,
                "UserIdGroupPairs": [{"GroupId": own, "Description": "metrics"}],
            },
            {
                "IpProtocol": "tcp",
                "FromPort": 30080,
                "ToPort": 30080,
                "IpRanges": [{"CidrIp": "10.0.0.0/16", "Description": "vpc"}],
            },
        ],
    )
    make_provider("other-cluster").ensure(
        desired(service(cluster="other-cluster"), listener(Protocol.TCP, 80, 30080), nodes=nodes)
    )
    other_shared = groups.backend("other-cluster")
    assert other_shared is not None

    provider.ensure(desired(ref, listener(Protocol.TCP, 80, 30090), nodes=nodes))
    provider.delete(ref)

    other_rules = {
        (proto, low, high, source, "lbprovider:other-cluster/backend")
        for proto, low, high, source, _ in shared_rules(other_shared, "tcp")
    }
    assert groups.rules(node_group) == {("tcp", 9100, 9100, own, "metrics"), *other_rules}
    assert groups.cidr_rules(node_group) == {("tcp", 30080, "10.0.0.0/16")}


def test_a_wanted_rule_someone_else_added_is_used_not_duplicated(
    provider: AwsProvider,
    groups: Groups,
    cloud: AwsMockCloud,
    nodes: tuple[NodeTarget, ...],
    requests_log: Any,
) -> None:
    # AWS keeps one rule per protocol, ports and source whatever its description: adding
    # ours next to an operator's identical rule would fail with InvalidPermission.Duplicate.
    ref = service()
    status = provider.ensure(desired(ref, listener(Protocol.TCP, 80, 30080), nodes=nodes))
    _, shared = groups.nlb_groups(status.lb_id)
    node_group = cloud.node_security_group
    groups.ec2.authorize_security_group_ingress(
        GroupId=node_group,
        IpPermissions=[
            {
                "IpProtocol": "udp",
                "FromPort": NODE_PORTS[0],
                "ToPort": NODE_PORTS[1],
                "UserIdGroupPairs": [{"GroupId": shared, "Description": "operator"}],
            }
        ],
    )
    requests_log.clear()
    provider.ensure(
        desired(
            ref, listener(Protocol.TCP, 80, 30080), listener(Protocol.UDP, 53, 30053), nodes=nodes
        )
    )
    authorized = [item["GroupId"] for item in requests_log.of("AuthorizeSecurityGroupIngress")]
    own, _ = groups.nlb_groups(status.lb_id)
    assert authorized == [[own]]  # the NLB's group opens 53/udp; the node group is left alone
    assert ("udp", *NODE_PORTS, shared, "operator") in groups.rules(node_group)


def test_rules_an_earlier_version_added_per_service_are_revoked_after_the_switch(
    provider: AwsProvider,
    groups: Groups,
    cloud: AwsMockCloud,
    nodes: tuple[NodeTarget, ...],
    requests_log: Any,
) -> None:
    ref = service()
    want = desired(ref, listener(Protocol.TCP, 80, 30080), nodes=nodes)
    status = provider.ensure(want)
    own, shared = groups.nlb_groups(status.lb_id)
    # As an earlier version left it: the NLB with its own group only, one rule per nodePort.
    groups.elbv2.set_security_groups(LoadBalancerArn=status.lb_id, SecurityGroups=[own])
    groups.ec2.authorize_security_group_ingress(
        GroupId=cloud.node_security_group,
        IpPermissions=[
            {
                "IpProtocol": "tcp",
                "FromPort": 30080,
                "ToPort": 30080,
                "UserIdGroupPairs": [{"GroupId": own, "Description": MARK}],
            }
        ],
    )
    requests_log.clear()
    provider.update_backends(want)  # a node change before the next ensure: keeps them
    assert ("tcp", 30080, 30080, own, MARK) in groups.rules(cloud.node_security_group)

    provider.ensure(want)

    assert groups.rules(cloud.node_security_group) == shared_rules(shared, "tcp")
    assert groups.nlb_groups(status.lb_id) == (own, shared)
    # Never a moment where the NLB's traffic is allowed by neither rule.
    writes = requests_log.writes()
    assert writes.index("SetSecurityGroups") < writes.index("RevokeSecurityGroupIngress")


def test_nodes_in_another_group_get_the_rules_on_update_backends(
    provider: AwsProvider,
    groups: Groups,
    cloud: AwsMockCloud,
    nodes: tuple[NodeTarget, ...],
    requests_log: Any,
) -> None:
    ref = service()
    status = provider.ensure(desired(ref, listener(Protocol.UDP, 514, 30514), nodes=nodes))
    _, shared = groups.nlb_groups(status.lb_id)
    other_group = groups.ec2.create_security_group(
        GroupName="other-nodes", Description="a second node group", VpcId=cloud.vpc_id
    )["GroupId"]
    image = groups.ec2.describe_instances(InstanceIds=[nodes[0].provider_id.rsplit("/", 1)[1]])[
        "Reservations"
    ][0]["Instances"][0]["ImageId"]
    moved = groups.ec2.run_instances(
        ImageId=image,
        MinCount=1,
        MaxCount=1,
        SubnetId=cloud.subnets[0],
        SecurityGroupIds=[other_group],
    )["Instances"][0]
    new_node = NodeTarget(
        name="aws-node-new",
        provider_id=f"aws:///{moved['Placement']['AvailabilityZone']}/{moved['InstanceId']}",
        address=moved["PrivateIpAddress"],
    )
    try:
        requests_log.clear()
        provider.update_backends(
            desired(ref, listener(Protocol.UDP, 514, 30514), nodes=(new_node,))
        )
        assert groups.rules(other_group) == shared_rules(shared, "udp")
        # Shared: the old node group keeps them for the cluster's other NLBs.
        assert groups.rules(cloud.node_security_group) == shared_rules(shared, "udp")
        assert sorted(requests_log.writes()) == [
            "AuthorizeSecurityGroupIngress",
            "DeregisterTargets",
            "RegisterTargets",
        ]
    finally:
        groups.ec2.terminate_instances(InstanceIds=[moved["InstanceId"]])


def test_ip_targets_warn_once_and_add_no_node_rules(
    provider: AwsProvider,
    groups: Groups,
    cloud: AwsMockCloud,
) -> None:
    ref = service()
    endpoints = (EndpointTarget(ip="10.0.1.10", port=8080),)
    pods = desired(
        ref, listener(Protocol.TCP, 80, endpoints=endpoints), backend_mode=BackendMode.POD_IP
    )
    switched = provider.ensure(pods)
    again = provider.ensure(pods)

    own, _ = groups.nlb_groups(switched.lb_id)
    assert groups.rules(cloud.node_security_group) == set()
    (warning,) = switched.warnings
    assert own in warning
    assert "Pods' security groups" in warning
    assert again.warnings == switched.warnings  # stable text: the core warns once


def test_unchanged_ensure_writes_nothing_and_reads_little(
    provider: AwsProvider,
    groups: Groups,
    cloud: AwsMockCloud,
    nodes: tuple[NodeTarget, ...],
    requests_log: Any,
) -> None:
    want = desired(
        service(),
        listener(Protocol.TCP, 80, 30080),
        listener(Protocol.TCP, 443, 30443),
        nodes=nodes,
    )
    status = provider.ensure(want)
    _, shared = groups.nlb_groups(status.lb_id)
    assert groups.rules(cloud.node_security_group) == shared_rules(shared, "tcp")
    requests_log.clear()

    provider.ensure(want)

    assert requests_log.writes() == []
    reads = [action for action, _ in requests_log.calls]
    assert len(reads) <= NO_OP_READS, reads
    # Target groups come from the NLB, not from a scan of the region.
    (lookup,) = requests_log.of("DescribeTargetGroups")
    assert lookup["LoadBalancerArn"] == [status.lb_id]


def test_a_group_left_unattached_by_a_crash_is_adopted_then_deleted(
    provider: AwsProvider,
    groups: Groups,
    cloud: AwsMockCloud,
    nodes: tuple[NodeTarget, ...],
) -> None:
    ref = service()
    # A crash after CreateTargetGroup: the group exists, with our tags, on no NLB.
    name = naming.target_group_name(ref, port=80, protocol="TCP", target_type="instance")
    crashed = groups.elbv2.create_target_group(
        Name=name,
        Protocol="TCP",
        Port=30080,
        VpcId=cloud.vpc_id,
        TargetType="instance",
        Tags=naming.aws_tags(ref),
    )["TargetGroups"][0]["TargetGroupArn"]
    # And one for a port the Service no longer has.
    stale_name = naming.target_group_name(ref, port=81, protocol="TCP", target_type="instance")
    stale = groups.elbv2.create_target_group(
        Name=stale_name,
        Protocol="TCP",
        Port=30081,
        VpcId=cloud.vpc_id,
        TargetType="instance",
        Tags=naming.aws_tags(ref),
    )["TargetGroups"][0]["TargetGroupArn"]
    # Same name prefix, another owner's tags: never adopted nor deleted.
    foreign = groups.elbv2.create_target_group(
        Name=naming.target_group_name(ref, port=82, protocol="TCP", target_type="instance"),
        Protocol="TCP",
        Port=30082,
        VpcId=cloud.vpc_id,
        TargetType="instance",
        Tags=naming.aws_tags(service(uid="uid-other")),
    )["TargetGroups"][0]["TargetGroupArn"]

    status = provider.ensure(desired(ref, listener(Protocol.TCP, 80, 30080), nodes=nodes))

    listeners = groups.elbv2.describe_listeners(LoadBalancerArn=status.lb_id)["Listeners"]
    assert [item["DefaultActions"][0]["TargetGroupArn"] for item in listeners] == [crashed]
    assert cloud.resources()["target_groups"] == 3

    provider.delete(ref)
    remaining = {
        tg["TargetGroupArn"] for tg in groups.elbv2.describe_target_groups()["TargetGroups"]
    }
    assert crashed not in remaining
    assert stale not in remaining
    assert foreign in remaining
