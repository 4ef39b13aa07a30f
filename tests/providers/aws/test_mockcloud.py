"""The AWS mock cloud starter (lbprovider.cloud.sandbox contract) end to end."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import boto3
import pytest

from lbprovider.cloud import DesiredLoadBalancer, Listener, NodeTarget, Protocol, ServiceRef
from lbprovider.cloud.registry import MOCK_CLOUD_GROUP, load
from lbprovider.cloud.sandbox import MockCloud
from lbprovider_aws.mockcloud import AwsMockCloud
from lbprovider_aws.provider import create

pytestmark = pytest.mark.providers


def boto3_client(endpoint: str) -> Any:
    return boto3.client(
        "elbv2",
        endpoint_url=endpoint,
        region_name="us-east-1",
        aws_access_key_id="testing",
        aws_secret_access_key="testing",
    )


def test_start_seeds_nodes_and_resources_drop_to_zero_after_delete() -> None:
    start = load("aws", MOCK_CLOUD_GROUP)
    cloud: MockCloud = start(host="127.0.0.1", port=0, instances=2)
    try:
        assert cloud.provider == "aws"
        assert re.fullmatch(r"http://127\.0\.0\.1:\d+", cloud.endpoint)
        assert [i.node_name for i in cloud.instances] == ["aws-node-1", "aws-node-2"]
        zones = set()
        for instance in cloud.instances:
            match = re.fullmatch(r"aws:///(us-east-1[ab])/(i-[0-9a-f]+)", instance.provider_id)
            assert match, instance.provider_id
            zones.add(match.group(1))
            assert instance.internal_ip.startswith("10.0.")
        assert zones == {"us-east-1a", "us-east-1b"}  # two AZs, as an NLB wants

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
        assert cloud.resources() == {
            "load_balancers": 1,
            "target_groups": 1,
            "security_groups": 1,
            "node_sg_rules": 1,
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
        elbv2 = boto3_client(cloud.endpoint)
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
