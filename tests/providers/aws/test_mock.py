"""The AWS mock cloud: its starter (the sandbox contract) and its fault-injecting proxy.

The proxy is served by the mock-cloud kit, so it answers the shared admin
routes; injected faults and auth failures must reach boto3 in AWS's own
error shapes.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import boto3
import pytest
from botocore.config import Config
from botocore.exceptions import ClientError, ConnectionClosedError, EndpointConnectionError

from contract_suite.aws import sweep
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
from lbprovider.cloud.registry import MOCK_CLOUD_GROUP, load
from lbprovider.cloud.sandbox import MockCloud
from lbprovider.mockkit import MockAdmin
from lbprovider_aws.mock import TEST_ACCESS_KEY, TEST_SECRET_KEY, AwsMockCloud, start
from lbprovider_aws.provider import create

pytestmark = pytest.mark.providers


def boto3_client(
    cloud: AwsMockCloud,
    service: str = "elbv2",
    *,
    key: str = TEST_ACCESS_KEY,
    secret: str = TEST_SECRET_KEY,
) -> Any:
    """A client of ``cloud``'s proxy with botocore's retries off: one request per call."""
    session: Any = boto3.session.Session(
        aws_access_key_id=key, aws_secret_access_key=secret, region_name=cloud.region
    )
    return session.client(
        service, endpoint_url=cloud.endpoint, config=Config(retries={"total_max_attempts": 1})
    )


@pytest.fixture
def admin(cloud: AwsMockCloud) -> Iterator[MockAdmin]:
    cloud.admin.reset()
    cloud.admin.request("DELETE", "requests")
    yield cloud.admin
    cloud.admin.reset()


def test_start_seeds_nodes_and_resources_drop_to_zero_after_delete() -> None:
    start = load("aws", MOCK_CLOUD_GROUP)
    cloud: MockCloud = start(host="127.0.0.1", port=0, instances=2)
    assert isinstance(cloud, AwsMockCloud)
    region = cloud.region
    try:
        assert cloud.provider == "aws"
        assert re.fullmatch(r"http://127\.0\.0\.1:\d+", cloud.endpoint)
        assert [i.node_name for i in cloud.instances] == ["aws-node-1", "aws-node-2"]
        zones = set()
        for instance in cloud.instances:
            match = re.fullmatch(
                rf"aws:///({re.escape(region)}[ab])/(i-[0-9a-f]+)", instance.provider_id
            )
            assert match, instance.provider_id
            zones.add(match.group(1))
            assert instance.internal_ip.startswith("10.0.")
        assert zones == {f"{region}a", f"{region}b"}  # two AZs, as an NLB wants

        settings = cloud.provider_settings()
        assert Path(settings["credentials_file"]).is_file()
        provider = create(settings, cluster_name="sandbox")
        ref = ServiceRef(cluster="sandbox", namespace="default", name="web", uid="u-mock")
        nodes = tuple(
            NodeTarget(name=i.node_name, provider_id=i.provider_id, address=i.internal_ip)
            for i in cloud.instances
        )
        listener = Listener(name="http", port=80, protocol=Protocol.TCP, node_port=30080)
        status = provider.ensure(DesiredLoadBalancer(ref=ref, listeners=(listener,), nodes=nodes))
        assert status.ingress[0].hostname
        # The NLB's own group and the cluster's shared backend group; the node group
        # allows the backend group on the nodePort range and kube-proxy's health port.
        assert cloud.resources() == {
            "load_balancers": 1,
            "target_groups": 1,
            "security_groups": 2,
            "node_sg_rules": 2,
        }

        internal = ServiceRef(
            cluster="sandbox",
            namespace="default",
            name="private",
            uid="u-private",
            annotations=cloud.internal_annotations(),
        )
        private = provider.ensure(
            DesiredLoadBalancer(ref=internal, listeners=(listener,), nodes=nodes)
        )
        elbv2 = boto3_client(cloud)
        (found,) = elbv2.describe_load_balancers(LoadBalancerArns=[private.lb_id])["LoadBalancers"]
        assert found["Scheme"] == "internal"
        provider.delete(internal)

        provider.delete(ref)
        assert cloud.resources() == {
            "load_balancers": 0,
            "target_groups": 0,
            "security_groups": 0,
            "node_sg_rules": 0,
        }
    finally:
        cloud.stop()
    cloud.stop()  # idempotent
    assert not Path(settings["credentials_file"]).exists()


def _conforms(handle: AwsMockCloud) -> MockCloud:
    return handle  # mypy checks here that the handle satisfies the sandbox contract


@pytest.mark.parametrize(
    ("service", "call", "status"),
    [("elbv2", "describe_load_balancers", 400), ("ec2", "describe_vpcs", 503)],
)
def test_injected_faults_reach_boto3_in_aws_error_shapes(
    cloud: AwsMockCloud, admin: MockAdmin, service: str, call: str, status: int
) -> None:
    client = boto3_client(cloud, service)
    action = client.meta.method_to_api_mapping[call]
    admin.inject_fault("Throttling", status=status, actions=[action], message="Rate exceeded")
    with pytest.raises(ClientError) as raised:
        getattr(client, call)()
    response = raised.value.response
    assert response["Error"]["Code"] == "Throttling"
    assert response["Error"]["Message"] == "Rate exceeded"
    assert response["ResponseMetadata"]["HTTPStatusCode"] == status
    assert response["ResponseMetadata"]["RequestId"]
    getattr(client, call)()  # the rule was spent; moto answers
    counts = admin.counters()
    assert counts.actions == {action: 2}
    assert counts.writes == 0
    # Only the answered call reached moto.
    assert [entry["action"] for entry in admin.request("GET", "requests")["requests"]] == [action]


def test_a_dropped_connection_is_a_connection_error(cloud: AwsMockCloud, admin: MockAdmin) -> None:
    admin.inject_fault("Dropped", kind="drop", actions=["DescribeTargetGroups"])
    with pytest.raises((ConnectionClosedError, EndpointConnectionError)):
        boto3_client(cloud).describe_target_groups()


def test_requests_must_be_signed_with_the_mock_key(cloud: AwsMockCloud, admin: MockAdmin) -> None:
    with pytest.raises(ClientError, match="InvalidClientTokenId"):
        boto3_client(cloud, key="AKIDSOMEONEELSE").describe_load_balancers()
    with pytest.raises(ClientError, match="AuthFailure"):
        boto3_client(cloud, "ec2", key="AKIDSOMEONEELSE").describe_vpcs()
    with pytest.raises(ClientError, match="SignatureDoesNotMatch"):
        boto3_client(cloud, secret="not-the-secret").describe_load_balancers()
    counts = admin.counters()
    assert (counts.rejected, counts.total) == (3, 0)
    assert admin.request("GET", "requests")["requests"] == []


def test_the_signature_clock_is_the_mock_clock(cloud: AwsMockCloud, admin: MockAdmin) -> None:
    admin.advance_clock(3600)  # the client's X-Amz-Date is now an hour old
    with pytest.raises(ClientError, match="Signature expired"):
        boto3_client(cloud).describe_load_balancers()
    with pytest.raises(ClientError, match="RequestExpired"):
        boto3_client(cloud, "ec2").describe_vpcs()
    admin.free_clock()
    boto3_client(cloud).describe_load_balancers()


def test_two_mock_clouds_of_one_process_keep_apart(
    cloud: AwsMockCloud, settings: dict[str, Any]
) -> None:
    # moto's state is process-wide: the e2e sandbox's cloud and this one share a process
    # under pytest-xdist. The provider tests' sweep used to delete the sandbox's load
    # balancers and its node security group (then: InvalidGroup.NotFound in e2e tests).
    other = start(instances=1)
    try:
        assert other.region != cloud.region
        provider = create(other.provider_settings(), cluster_name="sandbox")
        ref = ServiceRef(cluster="sandbox", namespace="default", name="apart", uid="u-apart")
        nodes = tuple(
            NodeTarget(name=i.node_name, provider_id=i.provider_id, address=i.internal_ip)
            for i in other.instances
        )
        listener = Listener(name="http", port=80, protocol=Protocol.TCP, node_port=30080)
        provider.ensure(DesiredLoadBalancer(ref=ref, listeners=(listener,), nodes=nodes))
        held = other.resources()
        assert held["load_balancers"] == 1
        assert cloud.resources()["load_balancers"] == 0  # not seen from the other region

        sweep(cloud)
        assert other.resources() == held
        ec2 = other.client("ec2")
        assert ec2.describe_security_groups(GroupIds=[other.node_security_group])["SecurityGroups"]
        provider.delete(ref)
        assert other.resources()["load_balancers"] == 0
    finally:
        other.stop()


def test_shared_admin_routes_show_state_and_counters(
    cloud: AwsMockCloud, admin: MockAdmin, settings: dict[str, Any]
) -> None:
    provider = create(settings, cluster_name="admin-test")
    ref = ServiceRef(cluster="admin-test", namespace="default", name="web", uid="u-admin")
    nodes = tuple(
        NodeTarget(name=i.node_name, provider_id=i.provider_id, address=i.internal_ip)
        for i in cloud.instances
    )
    listener = Listener(name="http", port=80, protocol=Protocol.TCP, node_port=30080)
    admin.set_latency(0.01)
    status = provider.ensure(DesiredLoadBalancer(ref=ref, listeners=(listener,), nodes=nodes))

    state = admin.state()
    (lb,) = state["load_balancers"]
    assert lb["arn"] == status.lb_id
    assert lb["tags"]["lbprovider.io/service-uid"] == "u-admin"
    assert [(item["port"], item["protocol"]) for item in lb["listeners"]] == [(80, "TCP")]
    (group,) = state["target_groups"]
    assert {tuple(target) for target in group["targets"]} == {
        (i.provider_id.rsplit("/", 1)[1], 30080) for i in cloud.instances
    }
    assert len(state["security_groups"]) == 2  # the NLB's own and the shared backend group
    assert {rule["group_id"] for rule in state["node_sg_rules"]} == {cloud.node_security_group}
    assert admin.request("GET", "resources") == cloud.resources()

    counts = admin.counters()
    assert counts.actions["CreateLoadBalancer"] == 1
    assert counts.writes >= 5
    admin.reset()
    assert admin.counters().total == 0
    assert admin.request("GET", "faults") == {"faults": []}
    provider.delete(ref)


def test_describe_lists_each_nlb_for_the_demo_table(
    cloud: AwsMockCloud, settings: dict[str, Any]
) -> None:
    provider = create(settings, cluster_name="demo")
    nodes = tuple(
        NodeTarget(name=i.node_name, provider_id=i.provider_id, address=i.internal_ip)
        for i in cloud.instances
    )
    local = ServiceRef(cluster="demo", namespace="shop", name="web", uid="u-web")
    pods = ServiceRef(cluster="demo", namespace="shop", name="api", uid="u-api")
    web = provider.ensure(
        DesiredLoadBalancer(
            ref=local,
            listeners=(
                Listener(name="dns", port=53, protocol=Protocol.TCP, node_port=30053),
                Listener(name="dns-udp", port=53, protocol=Protocol.UDP, node_port=30053),
                Listener(name="http", port=80, protocol=Protocol.TCP, node_port=30080),
            ),
            nodes=nodes,
            health_check=HealthCheck(port=32100),
        )
    )
    endpoints = (
        EndpointTarget(ip="10.0.1.10", port=8080),
        EndpointTarget(ip="10.0.2.11", port=8080),
    )
    api = provider.ensure(
        DesiredLoadBalancer(
            ref=pods,
            listeners=(Listener(name="http", port=80, protocol=Protocol.TCP, endpoints=endpoints),),
            backend_mode=BackendMode.POD_IP,
        )
    )
    # An NLB lbprovider did not make is not a row.
    cloud.client("elbv2").create_load_balancer(
        Name="hand-made", Type="network", Subnets=list(cloud.subnets)
    )

    rows = cloud.describe()

    instances = sorted(i.provider_id.rsplit("/", 1)[1] for i in cloud.instances)
    assert rows == [
        {
            "service": "shop/api",
            "lb_id": api.lb_id,
            "address": api.ingress[0].hostname,
            "listeners": ["TCP:80->8080"],
            "backends": ["10.0.1.10:8080", "10.0.2.11:8080"],
            "health_check": "TCP:traffic-port",
        },
        {
            "service": "shop/web",
            "lb_id": web.lb_id,
            "address": web.ingress[0].hostname,
            "listeners": ["TCP_UDP:53->30053", "TCP:80->30080"],
            "backends": sorted(f"{iid}:{port}" for iid in instances for port in (30053, 30080)),
            "health_check": "HTTP:32100/healthz",
        },
    ]
    assert json.loads(json.dumps(rows)) == rows
    provider.delete(local)
    provider.delete(pods)
