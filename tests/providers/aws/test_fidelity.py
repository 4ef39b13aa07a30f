"""The AWS provider's defects the stricter mock exposed (issue 10), each proved through boto3.

Health checks that work for every protocol and traffic policy, targets that
are not running, a lookup miss that must not page through the region, and an
adopted NLB created without security groups.  The rules behind them are in
``lbprovider_aws.mock.rules`` and ``docs/cloud-fidelity.md``.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import pytest

from lbprovider.cloud import (
    BackendMode,
    DesiredLoadBalancer,
    EndpointTarget,
    HealthCheck,
    InvalidService,
    Listener,
    NodeTarget,
    Protocol,
    RetryAfter,
    ServiceRef,
)
from lbprovider_aws import naming
from lbprovider_aws.mock import AwsMockCloud
from lbprovider_aws.provider import AwsProvider

pytestmark = pytest.mark.providers

HC = "service.beta.kubernetes.io/aws-load-balancer-healthcheck-"


def service(uid: str = "uid-1", annotations: dict[str, str] | None = None) -> ServiceRef:
    return ServiceRef(
        cluster="test-cluster",
        namespace="default",
        name="dns",
        uid=uid,
        annotations=annotations or {},
    )


def udp(port: int, node_port: int | None = None, **kwargs: Any) -> Listener:
    return Listener(
        name=f"udp-{port}", port=port, protocol=Protocol.UDP, node_port=node_port, **kwargs
    )


def tcp(port: int, node_port: int | None = None) -> Listener:
    return Listener(name=f"tcp-{port}", port=port, protocol=Protocol.TCP, node_port=node_port)


def health_of(cloud: AwsMockCloud, lb_arn: str) -> dict[str, Any]:
    """The health check of the NLB's only target group, read back through boto3."""
    elbv2 = cloud.client("elbv2")
    (listener,) = elbv2.describe_listeners(LoadBalancerArn=lb_arn)["Listeners"]
    arn = listener["DefaultActions"][0]["TargetGroupArn"]
    group = elbv2.describe_target_groups(TargetGroupArns=[arn])["TargetGroups"][0]
    keys = (
        "Protocol",
        "HealthCheckProtocol",
        "HealthCheckPort",
        "HealthCheckPath",
        "Matcher",
        "HealthCheckIntervalSeconds",
        "HealthCheckTimeoutSeconds",
        "HealthyThresholdCount",
        "UnhealthyThresholdCount",
    )
    return {key: group.get(key) for key in keys}


def test_a_udp_service_is_health_checked_by_kube_proxy_not_on_the_udp_port(
    provider: AwsProvider, cloud: AwsMockCloud, nodes: tuple[NodeTarget, ...]
) -> None:
    """Before: TCP on the traffic port, where a UDP-only Service has nothing listening, so
    every target was unhealthy and the NLB failed open."""
    status = provider.ensure(
        DesiredLoadBalancer(ref=service(), listeners=(udp(53, 30053),), nodes=nodes)
    )
    found = health_of(cloud, status.lb_id)
    assert found["Protocol"] == "UDP"
    assert (found["HealthCheckProtocol"], found["HealthCheckPort"]) == ("HTTP", "10256")
    assert (found["HealthCheckPath"], found["Matcher"]) == ("/healthz", {"HttpCode": "200-299"})


def test_local_traffic_policy_checks_health_check_node_port_2xx_only(
    provider: AwsProvider, cloud: AwsMockCloud, nodes: tuple[NodeTarget, ...]
) -> None:
    status = provider.ensure(
        DesiredLoadBalancer(
            ref=service(),
            listeners=(udp(53, 30053),),
            nodes=nodes,
            health_check=HealthCheck(port=32053),
        )
    )
    found = health_of(cloud, status.lb_id)
    assert (found["HealthCheckProtocol"], found["HealthCheckPort"]) == ("HTTP", "32053")
    # kube-proxy answers 503 on nodes without a local endpoint: only 2xx is healthy.
    assert (found["HealthCheckPath"], found["Matcher"]) == ("/healthz", {"HttpCode": "200-299"})


def test_traffic_port_setting_keeps_the_previous_tcp_check(
    make_provider: Callable[..., AwsProvider], cloud: AwsMockCloud, nodes: tuple[NodeTarget, ...]
) -> None:
    provider = make_provider(cluster_health_check="traffic-port")
    status = provider.ensure(
        DesiredLoadBalancer(ref=service(), listeners=(udp(53, 30053),), nodes=nodes)
    )
    found = health_of(cloud, status.lb_id)
    assert (found["HealthCheckProtocol"], found["HealthCheckPort"]) == ("TCP", "traffic-port")


def test_kube_proxy_health_port_setting(
    make_provider: Callable[..., AwsProvider], cloud: AwsMockCloud, nodes: tuple[NodeTarget, ...]
) -> None:
    provider = make_provider(kube_proxy_health_port=10999)
    status = provider.ensure(
        DesiredLoadBalancer(ref=service(), listeners=(tcp(80, 30080),), nodes=nodes)
    )
    assert health_of(cloud, status.lb_id)["HealthCheckPort"] == "10999"


def test_pod_targets_check_the_traffic_port_over_tcp(
    provider: AwsProvider, cloud: AwsMockCloud
) -> None:
    endpoints = (EndpointTarget(ip="10.0.1.10", port=5353),)
    status = provider.ensure(
        DesiredLoadBalancer(
            ref=service(),
            listeners=(udp(53, endpoints=endpoints),),
            backend_mode=BackendMode.POD_IP,
        )
    )
    found = health_of(cloud, status.lb_id)
    assert (found["HealthCheckProtocol"], found["HealthCheckPort"]) == ("TCP", "traffic-port")


def test_health_check_annotations_override_the_policy(
    provider: AwsProvider, cloud: AwsMockCloud, nodes: tuple[NodeTarget, ...]
) -> None:
    annotations = {
        f"{HC}protocol": "tcp",
        f"{HC}port": "8081",
        f"{HC}interval": "10",
        f"{HC}timeout": "5",
        f"{HC}healthy-threshold": "3",
        f"{HC}unhealthy-threshold": "4",
    }
    status = provider.ensure(
        DesiredLoadBalancer(
            ref=service(annotations=annotations), listeners=(tcp(80, 30080),), nodes=nodes
        )
    )
    found = health_of(cloud, status.lb_id)
    assert (found["HealthCheckProtocol"], found["HealthCheckPort"]) == ("TCP", "8081")
    assert (
        found["HealthCheckIntervalSeconds"],
        found["HealthCheckTimeoutSeconds"],
        found["HealthyThresholdCount"],
        found["UnhealthyThresholdCount"],
    ) == (10, 5, 3, 4)
    # A port outside the nodePort range gets its own node rule from the backend group.
    node_group = cloud.client("ec2").describe_security_groups(GroupIds=[cloud.node_security_group])[
        "SecurityGroups"
    ][0]
    ports = {
        (perm["IpProtocol"], perm["FromPort"], perm["ToPort"])
        for perm in node_group["IpPermissions"]
    }
    assert ("tcp", 8081, 8081) in ports

    http = {f"{HC}protocol": "HTTP", f"{HC}path": "/ready"}
    status = provider.ensure(
        DesiredLoadBalancer(ref=service(annotations=http), listeners=(tcp(80, 30080),), nodes=nodes)
    )
    found = health_of(cloud, status.lb_id)
    assert (found["HealthCheckProtocol"], found["HealthCheckPort"]) == ("HTTP", "10256")
    assert found["HealthCheckPath"] == "/ready"


@pytest.mark.parametrize(
    ("annotations", "named"),
    [
        ({f"{HC}protocol": "UDP"}, f"{HC}protocol"),
        ({f"{HC}port": "70000"}, f"{HC}port"),
        ({f"{HC}interval": "301"}, f"{HC}interval"),
        ({f"{HC}timeout": "1"}, f"{HC}timeout"),
        ({f"{HC}healthy-threshold": "11"}, f"{HC}healthy-threshold"),
        ({f"{HC}unhealthy-threshold": "x"}, f"{HC}unhealthy-threshold"),
        ({f"{HC}path": "healthz"}, f"{HC}path"),
        ({f"{HC}protocol": "TCP", f"{HC}path": "/healthz"}, f"{HC}path"),
    ],
)
def test_bad_health_check_annotations_are_refused_before_any_call(
    provider: AwsProvider,
    nodes: tuple[NodeTarget, ...],
    requests_log: Any,
    annotations: dict[str, str],
    named: str,
) -> None:
    with pytest.raises(InvalidService, match=named):
        provider.ensure(
            DesiredLoadBalancer(
                ref=service(annotations=annotations), listeners=(tcp(80, 30080),), nodes=nodes
            )
        )
    assert requests_log.calls == []


@pytest.fixture
def stopped(cloud: AwsMockCloud) -> Iterator[str]:
    """The first seeded instance, stopped for the test."""
    instance = cloud.instances[0].provider_id.rsplit("/", 1)[-1]
    ec2 = cloud.client("ec2")
    ec2.stop_instances(InstanceIds=[instance])
    yield instance
    ec2.start_instances(InstanceIds=[instance])


def test_a_service_converges_when_one_node_instance_is_stopped(
    provider: AwsProvider, cloud: AwsMockCloud, nodes: tuple[NodeTarget, ...], stopped: str
) -> None:
    """Before: RegisterTargets with the stopped instance failed as a whole (InvalidTarget),
    so no target was ever registered and every ensure failed."""
    want = DesiredLoadBalancer(ref=service(), listeners=(tcp(80, 30080),), nodes=nodes)
    status = provider.ensure(want)
    elbv2 = cloud.client("elbv2")
    (listener,) = elbv2.describe_listeners(LoadBalancerArn=status.lb_id)["Listeners"]
    arn = listener["DefaultActions"][0]["TargetGroupArn"]

    def registered() -> set[str]:
        health = elbv2.describe_target_health(TargetGroupArn=arn)["TargetHealthDescriptions"]
        return {item["Target"]["Id"] for item in health}

    running = {i.provider_id.rsplit("/", 1)[-1] for i in cloud.instances} - {stopped}
    assert registered() == running
    cloud.client("ec2").start_instances(InstanceIds=[stopped])
    provider.ensure(want)
    assert registered() == running | {stopped}


def test_a_lookup_miss_costs_one_call_whatever_the_region_holds(
    provider: AwsProvider, cloud: AwsMockCloud, requests_log: Any
) -> None:
    """Before: a miss on the exact name paged through every NLB of the region (and read
    their tags), on every get and every first ensure."""
    elbv2 = cloud.client("elbv2")
    for index in range(60):
        elbv2.create_load_balancer(
            Name=f"unrelated-{index}", Type="network", Subnets=list(cloud.subnets)
        )
    requests_log.clear()

    assert provider.get(service()) is None

    assert [action for action, _ in requests_log.calls] == ["DescribeLoadBalancers"]
    (lookup,) = requests_log.of("DescribeLoadBalancers")
    assert lookup["Names.member.1"] == [naming.load_balancer_name(service())]


def test_an_adopted_nlb_without_security_groups_is_kept_with_a_warning(
    provider: AwsProvider, cloud: AwsMockCloud, nodes: tuple[NodeTarget, ...], requests_log: Any
) -> None:
    """AWS cannot add security groups to an NLB created without them (SetSecurityGroups is
    refused); before, every ensure of such an NLB failed on it."""
    ref = service()
    bare = cloud.client("elbv2").create_load_balancer(
        Name=naming.load_balancer_name(ref),
        Type="network",
        Scheme="internet-facing",
        Subnets=list(cloud.subnets),
        Tags=naming.aws_tags(ref),
    )["LoadBalancers"][0]
    want = DesiredLoadBalancer(ref=ref, listeners=(tcp(80, 30080),), nodes=nodes)

    status = provider.ensure(want)

    assert status.lb_id == bare["LoadBalancerArn"]  # kept: its DNS name stays
    assert "SetSecurityGroups" not in requests_log.writes()
    (warning,) = status.warnings
    assert "created without security groups" in warning
    requests_log.clear()
    assert provider.ensure(want).warnings == status.warnings  # stable text: warned once
    assert requests_log.writes() == []


@pytest.fixture
def subnet_a2(cloud: AwsMockCloud) -> Iterator[str]:
    """A second subnet in the first seeded subnet's zone (deleted after the test)."""
    ec2 = cloud.client("ec2")
    zone = ec2.describe_subnets(SubnetIds=[cloud.subnets[0]])["Subnets"][0]["AvailabilityZone"]
    created = ec2.create_subnet(VpcId=cloud.vpc_id, CidrBlock="10.0.98.0/24", AvailabilityZone=zone)
    subnet = str(created["Subnet"]["SubnetId"])
    yield subnet
    ec2.delete_subnet(SubnetId=subnet)


def nlb_subnets(cloud: AwsMockCloud, lb_arn: str) -> set[str]:
    lb = cloud.client("elbv2").describe_load_balancers(LoadBalancerArns=[lb_arn])["LoadBalancers"][
        0
    ]
    return {zone["SubnetId"] for zone in lb["AvailabilityZones"]}


def test_a_zones_subnet_changes_in_two_steps(
    provider: AwsProvider, cloud: AwsMockCloud, nodes: tuple[NodeTarget, ...], subnet_a2: str
) -> None:
    """Before: one SetSubnets swapped the zone's subnet, which AWS refuses ("Changes to
    subnets within the same Availability Zone must be independent actions")."""
    a1, b = cloud.subnets
    subnets = "service.beta.kubernetes.io/aws-load-balancer-subnets"

    def want(*ids: str) -> DesiredLoadBalancer:
        return DesiredLoadBalancer(
            ref=service(annotations={subnets: ",".join(ids)}),
            listeners=(tcp(80, 30080),),
            nodes=nodes,
        )

    status = provider.ensure(want(a1, b))
    try:
        with pytest.raises(RetryAfter):
            provider.ensure(want(subnet_a2, b))
        assert nlb_subnets(cloud, status.lb_id) == {b}  # the old subnet goes first
        assert provider.ensure(want(subnet_a2, b)).lb_id == status.lb_id
        assert nlb_subnets(cloud, status.lb_id) == {subnet_a2, b}
        # One zone is enough for an NLB (moto's two-zone refusal is an ALB rule).
        provider.ensure(want(b))
        assert nlb_subnets(cloud, status.lb_id) == {b}
    finally:
        provider.delete(service())
