"""Backend security-group rules and lookup costs, against moto in server mode.

The nodes' security group must allow the NLB's security group on the target
ports; these tests read the rules back from the cloud and count the requests
that reached it (the mock's request journal).
"""

from __future__ import annotations

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
from lbprovider_aws.provider import AwsProvider

pytestmark = pytest.mark.providers

NO_OP_READS = 11
"""Reads of an unchanged ensure with two TCP ports on instance targets (see the report):
DescribeLoadBalancers, DescribeTargetGroups, DescribeTags, DescribeSecurityGroups x2,
DescribeInstances, DescribeListeners, and per port DescribeTargetGroupAttributes and
DescribeTargetHealth.  Before this change it was 11 plus one DescribeTargetGroups per
page of every target group in the region, without any backend rules."""

MARK = "lbprovider:test-cluster/uid-1"

NodeRule = tuple[str, int, str, str]
"""``(protocol, port, source group, description)``."""


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

    def nlb_group(self, lb_arn: str) -> str:
        lb = self.elbv2.describe_load_balancers(LoadBalancerArns=[lb_arn])["LoadBalancers"][0]
        (group_id,) = lb["SecurityGroups"]
        return str(group_id)

    def rules(self, group_id: str) -> set[NodeRule]:
        group = self.ec2.describe_security_groups(GroupIds=[group_id])["SecurityGroups"][0]
        found: set[NodeRule] = set()
        for perm in group["IpPermissions"]:
            assert perm["FromPort"] == perm["ToPort"]
            for pair in perm.get("UserIdGroupPairs", []):
                found.add(
                    (perm["IpProtocol"], perm["FromPort"], pair["GroupId"], pair["Description"])
                )
        return found

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


def ours(source: str, *rules: tuple[str, int], mark: str = MARK) -> set[NodeRule]:
    return {(proto, port, source, mark) for proto, port in rules}


def test_node_group_allows_the_nlb_group_on_each_node_port_and_protocol(
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
    source = groups.nlb_group(status.lb_id)
    # UDP gets a TCP rule too: NLB health checks are TCP on the traffic port.
    assert groups.rules(cloud.node_security_group) == ours(
        source,
        ("tcp", 30080),
        ("udp", 30053),
        ("tcp", 30053),
        ("tcp", 30054),
        ("udp", 30054),
    )
    # One authorize call for the group, with every permission in it.
    authorized = [item["GroupId"] for item in requests_log.of("AuthorizeSecurityGroupIngress")]
    assert sorted(authorized) == sorted([[source], [cloud.node_security_group]])
    assert status.warnings == ()


def test_rules_follow_port_and_health_check_changes_and_go_on_delete(
    provider: AwsProvider,
    groups: Groups,
    cloud: AwsMockCloud,
    nodes: tuple[NodeTarget, ...],
    requests_log: Any,
) -> None:
    ref = service()
    first = provider.ensure(desired(ref, listener(Protocol.TCP, 80, 30080), nodes=nodes))
    source = groups.nlb_group(first.lb_id)
    assert groups.rules(cloud.node_security_group) == ours(source, ("tcp", 30080))

    requests_log.clear()
    provider.ensure(
        desired(
            ref,
            listener(Protocol.TCP, 80, 30081),
            nodes=nodes,
            health_check=HealthCheck(port=32100),
        )
    )
    assert groups.rules(cloud.node_security_group) == ours(source, ("tcp", 30081), ("tcp", 32100))
    # One revoke and one authorize for the one node group, whatever the number of nodes
    # (the NLB's own group keeps its port-80 rule).
    for action in ("RevokeSecurityGroupIngress", "AuthorizeSecurityGroupIngress"):
        assert [item["GroupId"] for item in requests_log.of(action)] == [
            [cloud.node_security_group]
        ]

    requests_log.clear()
    provider.delete(ref)
    assert groups.rules(cloud.node_security_group) == set()
    writes = requests_log.writes()
    # AWS refuses to delete a security group other groups still reference.
    assert writes.index("RevokeSecurityGroupIngress") < writes.index("DeleteSecurityGroup")
    assert cloud.resources()["node_sg_rules"] == 0


def test_rules_someone_else_added_survive(
    make_provider: Callable[..., AwsProvider],
    groups: Groups,
    cloud: AwsMockCloud,
    nodes: tuple[NodeTarget, ...],
) -> None:
    provider = make_provider()
    ref = service()
    status = provider.ensure(desired(ref, listener(Protocol.TCP, 80, 30080), nodes=nodes))
    source = groups.nlb_group(status.lb_id)
    node_group = cloud.node_security_group
    # An operator's rules: one from our NLB's group on another port, one CIDR rule on our
    # node port, and another Service's (other cluster) backend rule on the same port.
    groups.ec2.authorize_security_group_ingress(
        GroupId=node_group,
        IpPermissions=[
            {
                "IpProtocol": "tcp",
                "FromPort": 9100,
                "ToPort": 9100,
                "UserIdGroupPairs": [{"GroupId": source, "Description": "metrics"}],
            },
            {
                "IpProtocol": "tcp",
                "FromPort": 30080,
                "ToPort": 30080,
                "IpRanges": [{"CidrIp": "10.0.0.0/16", "Description": "vpc"}],
            },
        ],
    )
    other = make_provider("other-cluster").ensure(
        desired(service(cluster="other-cluster"), listener(Protocol.TCP, 80, 30080), nodes=nodes)
    )
    other_source = groups.nlb_group(other.lb_id)
    other_mark = "lbprovider:other-cluster/uid-1"

    provider.ensure(desired(ref, listener(Protocol.TCP, 80, 30090), nodes=nodes))
    provider.delete(ref)

    assert groups.rules(node_group) == {
        ("tcp", 9100, source, "metrics"),
        ("tcp", 30080, other_source, other_mark),
    }
    assert groups.cidr_rules(node_group) == {("tcp", 30080, "10.0.0.0/16")}


def test_a_wanted_rule_someone_else_added_is_used_not_duplicated_nor_revoked(
    provider: AwsProvider,
    groups: Groups,
    cloud: AwsMockCloud,
    nodes: tuple[NodeTarget, ...],
    requests_log: Any,
) -> None:
    # AWS keeps one rule per protocol, port and source whatever its description: adding
    # ours next to an operator's identical rule would fail with InvalidPermission.Duplicate.
    ref = service()
    status = provider.ensure(desired(ref, listener(Protocol.TCP, 80, 30080), nodes=nodes))
    source = groups.nlb_group(status.lb_id)
    node_group = cloud.node_security_group
    groups.ec2.authorize_security_group_ingress(
        GroupId=node_group,
        IpPermissions=[
            {
                "IpProtocol": "tcp",
                "FromPort": 30443,
                "ToPort": 30443,
                "UserIdGroupPairs": [{"GroupId": source, "Description": "operator"}],
            }
        ],
    )
    requests_log.clear()
    provider.ensure(
        desired(
            ref, listener(Protocol.TCP, 80, 30080), listener(Protocol.TCP, 443, 30443), nodes=nodes
        )
    )
    authorized = [item["GroupId"] for item in requests_log.of("AuthorizeSecurityGroupIngress")]
    assert authorized == [[source]]  # the NLB's group opens 443; the node group is left alone
    assert groups.rules(node_group) == {
        ("tcp", 30080, source, MARK),
        ("tcp", 30443, source, "operator"),
    }

    provider.delete(ref)
    assert groups.rules(node_group) == {("tcp", 30443, source, "operator")}


def test_nodes_in_another_group_move_the_rules_on_update_backends(
    provider: AwsProvider,
    groups: Groups,
    cloud: AwsMockCloud,
    nodes: tuple[NodeTarget, ...],
    requests_log: Any,
) -> None:
    ref = service()
    status = provider.ensure(desired(ref, listener(Protocol.UDP, 514, 30514), nodes=nodes))
    source = groups.nlb_group(status.lb_id)
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
        provider_id=f"aws:///us-east-1a/{moved['InstanceId']}",
        address=moved["PrivateIpAddress"],
    )
    try:
        requests_log.clear()
        provider.update_backends(
            desired(ref, listener(Protocol.UDP, 514, 30514), nodes=(new_node,))
        )
        assert groups.rules(other_group) == ours(source, ("udp", 30514), ("tcp", 30514))
        assert groups.rules(cloud.node_security_group) == set()
        assert sorted(requests_log.writes()) == [
            "AuthorizeSecurityGroupIngress",
            "DeregisterTargets",
            "RegisterTargets",
            "RevokeSecurityGroupIngress",
        ]
    finally:
        groups.ec2.terminate_instances(InstanceIds=[moved["InstanceId"]])


def test_ip_targets_warn_once_and_leave_node_groups_alone(
    provider: AwsProvider,
    groups: Groups,
    cloud: AwsMockCloud,
    nodes: tuple[NodeTarget, ...],
) -> None:
    ref = service()
    status = provider.ensure(desired(ref, listener(Protocol.TCP, 80, 30080), nodes=nodes))
    source = groups.nlb_group(status.lb_id)
    assert groups.rules(cloud.node_security_group) == ours(source, ("tcp", 30080))

    endpoints = (EndpointTarget(ip="10.0.1.10", port=8080),)
    pods = desired(
        ref,
        listener(Protocol.TCP, 80, endpoints=endpoints),
        nodes=nodes,
        backend_mode=BackendMode.POD_IP,
    )
    switched = provider.ensure(pods)
    again = provider.ensure(pods)

    assert groups.rules(cloud.node_security_group) == set()  # instance rules revoked
    (warning,) = switched.warnings
    assert source in warning
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
    source = groups.nlb_group(status.lb_id)
    assert groups.rules(cloud.node_security_group) == ours(source, ("tcp", 30080), ("tcp", 30443))
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
