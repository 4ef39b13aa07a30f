"""The AWS mock cloud for the sandbox: moto in server mode, seeded with a VPC and instances.

``start`` runs :class:`moto.server.ThreadedMotoServer` on ``host:port`` and seeds
a VPC, two subnets in two availability zones, a node security group and
``instances`` EC2 instances in it (nodes ``aws-node-1``, ...), so the provider's
backend rules (the NLB's group allowed on the nodes' group) are exercised too.
moto keeps its state per process, so one process should run one AWS mock cloud
at a time.
"""

from __future__ import annotations

import json
import shutil
import tempfile
import threading
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import boto3
from botocore.exceptions import ClientError
from moto.server import ThreadedMotoServer

from lbprovider.cloud.sandbox import SandboxInstance
from lbprovider_aws import aws_annotations
from lbprovider_aws.backend import MARKER_PREFIX
from lbprovider_aws.tags import CLUSTER_TAG, from_aws

REGION = "us-east-1"
ZONES = ("us-east-1a", "us-east-1b")
DEFAULT_IMAGE = "ami-03cf127a"
TEST_ACCESS_KEY = "testing"  # moto accepts any key; these are not secrets
TEST_SECRET_KEY = "testing"  # noqa: S105 - a fixed dummy value for the mock
NODE_GROUP_NAME = "lbprovider-sandbox-nodes"


def _client(service: str, endpoint: str) -> Any:
    session: Any = boto3.session.Session(
        aws_access_key_id=TEST_ACCESS_KEY,
        aws_secret_access_key=TEST_SECRET_KEY,
        region_name=REGION,
    )
    return session.client(service, endpoint_url=endpoint)


@dataclass(kw_only=True)
class AwsMockCloud:
    """A running moto server plus the ids of what was seeded in it."""

    endpoint: str
    instances: tuple[SandboxInstance, ...]
    vpc_id: str
    subnets: tuple[str, ...]
    node_security_group: str
    """The seeded instances' security group (where the provider adds backend rules)."""
    provider: str = "aws"
    _server: ThreadedMotoServer = field(repr=False)
    _tempdir: str = field(repr=False)
    _stopped: bool = field(default=False, repr=False)
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)
    _clients: dict[str, Any] = field(default_factory=dict, repr=False)

    @property
    def credentials_file(self) -> str:
        """A YAML credentials file for the provider (dummy keys)."""
        return str(Path(self._tempdir) / "aws-credentials.yaml")

    def provider_settings(self) -> dict[str, Any]:
        """Class settings pointing the AWS provider at this mock."""
        return {
            "region": REGION,
            "endpoint_url": self.endpoint,
            "vpc_id": self.vpc_id,
            "subnets": list(self.subnets),
            "credentials_file": self.credentials_file,
        }

    def internal_annotations(self) -> dict[str, str]:
        """The annotation asking for an internal NLB (subnets come from the settings)."""
        return {aws_annotations.SCHEME: aws_annotations.INTERNAL}

    def client(self, service: str) -> Any:
        """A boto3 client for this mock (tests use it to read state back); cached."""
        with self._lock:
            if service not in self._clients:
                self._clients[service] = _client(service, self.endpoint)
            return self._clients[service]

    def resources(self) -> dict[str, int]:
        """NLBs, target groups and security groups carrying lbprovider's cluster tag, and
        the backend rules lbprovider added to other groups (``node_sg_rules``)."""
        elbv2 = self.client("elbv2")
        ec2 = self.client("ec2")

        def tagged(arns: list[str]) -> int:
            count = 0
            for start in range(0, len(arns), 20):
                found = elbv2.describe_tags(ResourceArns=arns[start : start + 20])
                for item in found["TagDescriptions"]:
                    count += CLUSTER_TAG in from_aws(item.get("Tags"))
            return count

        lbs = [lb["LoadBalancerArn"] for lb in elbv2.describe_load_balancers()["LoadBalancers"]]
        tgs = [tg["TargetGroupArn"] for tg in elbv2.describe_target_groups()["TargetGroups"]]
        groups = ec2.describe_security_groups(
            Filters=[{"Name": "tag-key", "Values": [CLUSTER_TAG]}]
        )["SecurityGroups"]
        rules = sum(
            str(pair.get("Description", "")).startswith(MARKER_PREFIX)
            for group in ec2.describe_security_groups()["SecurityGroups"]
            for perm in group.get("IpPermissions", [])
            for pair in perm.get("UserIdGroupPairs", [])
        )
        return {
            "load_balancers": tagged(lbs),
            "target_groups": tagged(tgs),
            "security_groups": len(groups),
            "node_sg_rules": rules,
        }

    def stop(self) -> None:
        """Stop the server and remove the credentials file; idempotent."""
        with self._lock:
            if self._stopped:
                return
            self._stopped = True
        self._server.stop()
        shutil.rmtree(self._tempdir, ignore_errors=True)


def _image(ec2: Any) -> str:
    """One of moto's built-in AMIs; the known id avoids listing ~1300 images (slow)."""
    try:
        found = ec2.describe_images(ImageIds=[DEFAULT_IMAGE])["Images"]
    except ClientError:
        found = []
    if found:
        return str(found[0]["ImageId"])
    return str(ec2.describe_images(Owners=["amazon"])["Images"][0]["ImageId"])


@dataclass(frozen=True, slots=True, kw_only=True)
class _Seeded:
    vpc_id: str
    subnets: tuple[str, ...]
    node_security_group: str
    instances: tuple[SandboxInstance, ...]


def _seed(endpoint: str, instances: int) -> _Seeded:
    ec2 = _client("ec2", endpoint)
    vpc_id = ec2.create_vpc(CidrBlock="10.0.0.0/16")["Vpc"]["VpcId"]
    subnets = tuple(
        ec2.create_subnet(VpcId=vpc_id, CidrBlock=f"10.0.{index + 1}.0/24", AvailabilityZone=zone)[
            "Subnet"
        ]["SubnetId"]
        for index, zone in enumerate(ZONES)
    )
    node_group = ec2.create_security_group(
        GroupName=NODE_GROUP_NAME,
        Description="the sandbox nodes",
        VpcId=vpc_id,
        TagSpecifications=[
            {"ResourceType": "security-group", "Tags": [{"Key": "Name", "Value": "nodes"}]}
        ],
    )["GroupId"]
    image = _image(ec2)
    seeded: list[SandboxInstance] = []
    for index in range(instances):
        subnet = subnets[index % len(subnets)]
        found = ec2.run_instances(
            ImageId=image,
            MinCount=1,
            MaxCount=1,
            InstanceType="t3.micro",
            SubnetId=subnet,
            SecurityGroupIds=[node_group],
        )["Instances"][0]
        zone = found["Placement"]["AvailabilityZone"]
        seeded.append(
            SandboxInstance(
                node_name=f"aws-node-{index + 1}",
                provider_id=f"aws:///{zone}/{found['InstanceId']}",
                internal_ip=found["PrivateIpAddress"],
            )
        )
    return _Seeded(
        vpc_id=vpc_id, subnets=subnets, node_security_group=node_group, instances=tuple(seeded)
    )


def start(*, host: str = "127.0.0.1", port: int = 0, instances: int = 2) -> AwsMockCloud:
    """Start moto on ``host:port`` (0 = a free port) and seed a VPC and ``instances`` nodes."""
    server = ThreadedMotoServer(ip_address=host, port=port, verbose=False)
    server.start()
    bound_host, bound_port = server.get_host_and_port()
    endpoint = f"http://{bound_host}:{bound_port}"
    tempdir = tempfile.mkdtemp(prefix="lbprovider-aws-")
    try:
        seeded = _seed(endpoint, instances)
        Path(tempdir, "aws-credentials.yaml").write_text(
            json.dumps({"access_key_id": TEST_ACCESS_KEY, "secret_access_key": TEST_SECRET_KEY}),
            encoding="utf-8",
        )
    except BaseException:
        server.stop()
        shutil.rmtree(tempdir, ignore_errors=True)
        raise
    return AwsMockCloud(
        endpoint=endpoint,
        instances=seeded.instances,
        vpc_id=seeded.vpc_id,
        subnets=seeded.subnets,
        node_security_group=seeded.node_security_group,
        _server=server,
        _tempdir=tempdir,
    )
