"""The AWS mock's semantic rules: what AWS refuses and moto accepts, refused by the proxy.

Each test drives real boto3 against the proxy and expects AWS's error code (or
its idempotent answer); the rules and their sources are in
``lbprovider_aws.mock.rules`` and ``docs/cloud-fidelity.md``.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import boto3
import pytest
from botocore.config import Config
from botocore.exceptions import ClientError

from lbprovider_aws.mock import TEST_ACCESS_KEY, TEST_SECRET_KEY, AwsMockCloud

pytestmark = pytest.mark.providers


def proxy(cloud: AwsMockCloud, service: str) -> Any:
    """A boto3 client of the proxy (what the provider talks to), one request per call."""
    session: Any = boto3.session.Session(
        aws_access_key_id=TEST_ACCESS_KEY,
        aws_secret_access_key=TEST_SECRET_KEY,
        region_name=cloud.region,
    )
    return session.client(
        service, endpoint_url=cloud.endpoint, config=Config(retries={"total_max_attempts": 1})
    )


def code_of(exc: pytest.ExceptionInfo[ClientError]) -> str:
    return str(exc.value.response["Error"]["Code"])


@pytest.fixture
def elbv2(cloud: AwsMockCloud, settings: dict[str, Any]) -> Any:
    """The proxy's elbv2 client; ``settings`` sweeps the cloud before and after."""
    return proxy(cloud, "elbv2")


@pytest.fixture
def nlb(cloud: AwsMockCloud, elbv2: Any) -> dict[str, Any]:
    """An NLB created with a security group (a fresh one, deleted by the sweep)."""
    group = cloud.client("ec2").create_security_group(
        GroupName="rules-nlb", Description="rules", VpcId=cloud.vpc_id
    )["GroupId"]
    created = elbv2.create_load_balancer(
        Name="rules", Type="network", Subnets=list(cloud.subnets), SecurityGroups=[group]
    )
    return dict(created["LoadBalancers"][0])


def target_group(cloud: AwsMockCloud, elbv2: Any, name: str, **params: Any) -> str:
    params = {"Protocol": "TCP", "Port": 30080, "VpcId": cloud.vpc_id, **params}
    return str(elbv2.create_target_group(Name=name, **params)["TargetGroups"][0]["TargetGroupArn"])


def test_duplicate_load_balancer_name_is_refused_unless_the_settings_are_the_same(
    cloud: AwsMockCloud, elbv2: Any, nlb: dict[str, Any]
) -> None:
    again = elbv2.create_load_balancer(
        Name="rules",
        Type="network",
        Subnets=list(cloud.subnets),
        SecurityGroups=nlb["SecurityGroups"],
    )
    assert again["LoadBalancers"][0]["LoadBalancerArn"] == nlb["LoadBalancerArn"]
    with pytest.raises(ClientError) as refused:
        elbv2.create_load_balancer(Name="rules", Type="network", Subnets=list(cloud.subnets[:1]))
    assert code_of(refused) == "DuplicateLoadBalancerName"
    assert len(cloud.client("elbv2").describe_load_balancers()["LoadBalancers"]) == 1


def test_duplicate_listener_port_is_refused_unless_the_settings_are_the_same(
    cloud: AwsMockCloud, elbv2: Any, nlb: dict[str, Any]
) -> None:
    first, second = (target_group(cloud, elbv2, name) for name in ("rules-a", "rules-b"))

    def listen(group: str, protocol: str = "TCP") -> Any:
        return elbv2.create_listener(
            LoadBalancerArn=nlb["LoadBalancerArn"],
            Protocol=protocol,
            Port=80,
            DefaultActions=[{"Type": "forward", "TargetGroupArn": group}],
        )

    arn = listen(first)["Listeners"][0]["ListenerArn"]
    assert listen(first)["Listeners"][0]["ListenerArn"] == arn
    with pytest.raises(ClientError) as refused:
        listen(second)
    assert code_of(refused) == "DuplicateListener"
    listeners = cloud.client("elbv2").describe_listeners(LoadBalancerArn=nlb["LoadBalancerArn"])
    assert [item["ListenerArn"] for item in listeners["Listeners"]] == [arn]


def test_set_security_groups_is_refused_on_an_nlb_created_without_them(
    cloud: AwsMockCloud, elbv2: Any
) -> None:
    bare = elbv2.create_load_balancer(Name="bare", Type="network", Subnets=list(cloud.subnets))
    with pytest.raises(ClientError) as refused:
        elbv2.set_security_groups(
            LoadBalancerArn=bare["LoadBalancers"][0]["LoadBalancerArn"],
            SecurityGroups=[cloud.node_security_group],
        )
    assert code_of(refused) == "InvalidConfigurationRequest"


@pytest.fixture
def second_subnet_in_zone_a(cloud: AwsMockCloud) -> Iterator[str]:
    ec2 = cloud.client("ec2")
    zone = ec2.describe_subnets(SubnetIds=[cloud.subnets[0]])["Subnets"][0]["AvailabilityZone"]
    subnet = str(
        ec2.create_subnet(VpcId=cloud.vpc_id, CidrBlock="10.0.99.0/24", AvailabilityZone=zone)[
            "Subnet"
        ]["SubnetId"]
    )
    yield subnet
    ec2.delete_subnet(SubnetId=subnet)


def test_one_subnet_per_zone_in_set_subnets_and_create(
    cloud: AwsMockCloud, elbv2: Any, nlb: dict[str, Any], second_subnet_in_zone_a: str
) -> None:
    with pytest.raises(ClientError) as refused:
        elbv2.set_subnets(
            LoadBalancerArn=nlb["LoadBalancerArn"],
            Subnets=[*cloud.subnets, second_subnet_in_zone_a],
        )
    assert code_of(refused) == "InvalidConfigurationRequest"
    with pytest.raises(ClientError) as refused:
        elbv2.create_load_balancer(
            Name="two-in-a",
            Type="network",
            SubnetMappings=[{"SubnetId": cloud.subnets[0]}, {"SubnetId": second_subnet_in_zone_a}],
        )
    assert code_of(refused) == "InvalidConfigurationRequest"


@pytest.mark.parametrize(
    ("params", "code"),
    [
        ({"Protocol": "UDP", "HealthCheckProtocol": "UDP"}, "InvalidConfigurationRequest"),
        ({"Protocol": "TCP_UDP", "HealthCheckProtocol": "TCP_UDP"}, "InvalidConfigurationRequest"),
        (
            {"HealthCheckProtocol": "TCP", "HealthCheckPath": "/healthz"},
            "InvalidConfigurationRequest",
        ),
        (
            {"HealthCheckProtocol": "TCP", "Matcher": {"HttpCode": "200"}},
            "InvalidConfigurationRequest",
        ),
        ({"HealthCheckProtocol": "HTTP", "Matcher": {"HttpCode": "200-600"}}, "ValidationError"),
        ({"HealthCheckIntervalSeconds": 301}, "ValidationError"),
        ({"HealthCheckTimeoutSeconds": 121}, "ValidationError"),
        ({"HealthyThresholdCount": 11}, "ValidationError"),
        ({"UnhealthyThresholdCount": 11}, "ValidationError"),
        ({"HealthCheckPort": "70000"}, "ValidationError"),
    ],
)
def test_health_checks_aws_refuses_are_refused(
    cloud: AwsMockCloud, elbv2: Any, params: dict[str, Any], code: str
) -> None:
    with pytest.raises(ClientError) as refused:
        target_group(cloud, elbv2, "rules-hc", **params)
    assert code_of(refused) == code
    assert cloud.client("elbv2").describe_target_groups()["TargetGroups"] == []


def test_a_udp_group_takes_an_http_check_on_another_port_and_modify_is_checked_too(
    cloud: AwsMockCloud, elbv2: Any
) -> None:
    arn = target_group(
        cloud,
        elbv2,
        "rules-udp",
        Protocol="UDP",
        HealthCheckProtocol="HTTP",
        HealthCheckPort="10256",
        HealthCheckPath="/healthz",
        Matcher={"HttpCode": "200-299"},
    )
    with pytest.raises(ClientError) as refused:
        elbv2.modify_target_group(TargetGroupArn=arn, HealthCheckProtocol="UDP")
    assert code_of(refused) == "InvalidConfigurationRequest"
    with pytest.raises(ClientError) as refused:
        elbv2.modify_target_group(
            TargetGroupArn=arn, HealthCheckProtocol="TCP", Matcher={"HttpCode": "200"}
        )
    assert code_of(refused) == "InvalidConfigurationRequest"
    elbv2.modify_target_group(
        TargetGroupArn=arn, HealthCheckProtocol="TCP", HealthCheckPort="traffic-port"
    )
    found = cloud.client("elbv2").describe_target_groups(TargetGroupArns=[arn])["TargetGroups"][0]
    assert (found["HealthCheckProtocol"], found["HealthCheckPort"]) == ("TCP", "traffic-port")


def test_register_targets_fails_whole_for_a_stopped_or_unknown_instance(
    cloud: AwsMockCloud, elbv2: Any
) -> None:
    arn = target_group(cloud, elbv2, "rules-reg")
    running = cloud.instances[0].provider_id.rsplit("/", 1)[-1]
    stopped = cloud.instances[1].provider_id.rsplit("/", 1)[-1]
    ec2 = cloud.client("ec2")
    ec2.stop_instances(InstanceIds=[stopped])
    try:
        for bad in (stopped, "i-0123456789abcdef0"):
            with pytest.raises(ClientError) as refused:
                elbv2.register_targets(
                    TargetGroupArn=arn,
                    Targets=[{"Id": running, "Port": 30080}, {"Id": bad, "Port": 30080}],
                )
            assert code_of(refused) == "InvalidTarget"
        health = cloud.client("elbv2").describe_target_health(TargetGroupArn=arn)
        assert health["TargetHealthDescriptions"] == []
    finally:
        ec2.start_instances(InstanceIds=[stopped])


def test_sixty_inbound_rules_per_security_group(cloud: AwsMockCloud, elbv2: Any) -> None:
    """VPC quotas: "Inbound or outbound rules per security group: 60" (moto enforces it)."""
    ec2 = proxy(cloud, "ec2")
    group = cloud.client("ec2").create_security_group(
        GroupName="rules-quota", Description="quota", VpcId=cloud.vpc_id
    )["GroupId"]
    ec2.authorize_security_group_ingress(
        GroupId=group,
        IpPermissions=[
            {
                "IpProtocol": "tcp",
                "FromPort": port,
                "ToPort": port,
                "IpRanges": [{"CidrIp": "10.0.0.0/8"}],
            }
            for port in range(1000, 1060)
        ],
    )
    with pytest.raises(ClientError) as refused:
        ec2.authorize_security_group_ingress(
            GroupId=group,
            IpPermissions=[
                {
                    "IpProtocol": "tcp",
                    "FromPort": 2000,
                    "ToPort": 2000,
                    "IpRanges": [{"CidrIp": "10.0.0.0/8"}],
                }
            ],
        )
    assert code_of(refused) == "RulesPerSecurityGroupLimitExceeded"


def test_set_subnets_swapping_a_zones_subnet_is_refused_and_one_zone_is_enough(
    cloud: AwsMockCloud, elbv2: Any, nlb: dict[str, Any], second_subnet_in_zone_a: str
) -> None:
    b = cloud.subnets[1]
    with pytest.raises(ClientError) as refused:
        elbv2.set_subnets(
            LoadBalancerArn=nlb["LoadBalancerArn"], Subnets=[second_subnet_in_zone_a, b]
        )
    assert code_of(refused) == "InvalidConfigurationRequest"
    # "[Network Load Balancers] You can specify subnets from one or more Availability Zones".
    zones = elbv2.set_subnets(LoadBalancerArn=nlb["LoadBalancerArn"], Subnets=[b])[
        "AvailabilityZones"
    ]
    assert [zone["SubnetId"] for zone in zones] == [b]
    found = cloud.client("elbv2").describe_load_balancers(LoadBalancerArns=[nlb["LoadBalancerArn"]])
    assert [zone["SubnetId"] for zone in found["LoadBalancers"][0]["AvailabilityZones"]] == [b]
