"""The AWS mock's state: moto's (a process-wide store), seeded and read through boto3.

moto holds the state and enforces AWS's rules (DESIGN §5 lists its known gaps,
which no test may rely on).  This module seeds the sandbox's VPC, subnets, node
security group and instances, and reads back what lbprovider owns for
``GET /_admin/state``: the NLBs, target groups (with targets) and security
groups carrying the cluster tag, and the backend rules on node security groups;
and one row per NLB for the demo's table (:meth:`MotoState.describe`).
It talks to moto directly, so its reads are neither counted nor faulted.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, TypeVar

import boto3
from botocore.exceptions import ClientError

from lbprovider.cloud.sandbox import SandboxInstance
from lbprovider_aws.naming import CLUSTER_TAG, MARKER_PREFIX, SERVICE_NAME_TAG, from_aws

REGIONS = (
    "us-east-1",
    "us-west-2",
    "eu-west-1",
    "eu-central-1",
    "ap-southeast-1",
    "ap-northeast-1",
    "ca-central-1",
    "sa-east-1",
    "us-east-2",
    "us-west-1",
    "eu-west-2",
    "ap-south-1",
)
"""Regions a process hands its AWS mock clouds, the first one first (the demo's).

moto keeps one state per process, per account and region: two mock clouds in one
process (the e2e sandbox and the provider tests' cloud, under pytest-xdist) would
see, and sweep, each other's load balancers and security groups unless each has a
region of its own."""
DEFAULT_IMAGE = "ami-03cf127a"
TEST_ACCESS_KEY = "testing"  # the mock's dummy key pair; not secrets
TEST_SECRET_KEY = "testing"  # noqa: S105 - a fixed dummy value for the mock
NODE_GROUP_NAME = "lbprovider-sandbox-nodes"
TAG_BATCH = 20  # DescribeTags takes at most 20 ARNs
GONE_MEANWHILE = frozenset(
    {"LoadBalancerNotFound", "TargetGroupNotFound", "ListenerNotFound", "InvalidGroup.NotFound"}
)
"""What a detail read answers when the item its list returned was deleted since."""
READ_ATTEMPTS = 5

T = TypeVar("T")

_regions_lock = threading.Lock()
_free_regions = iter(REGIONS)


def next_region() -> str:
    """A region no other AWS mock cloud of this process has used (moto's state of a
    region outlives the mock that used it, so none is handed out twice)."""
    with _regions_lock:
        region = next(_free_regions, None)
    if region is None:
        raise RuntimeError(f"more than {len(REGIONS)} AWS mock clouds in one process")
    return region


def _settled(read: Callable[[], T]) -> T:
    """``read`` again when something it listed was deleted before its details were read:
    the controller keeps working while a test looks at the cloud."""
    for attempt in range(1, READ_ATTEMPTS + 1):
        try:
            return read()
        except ClientError as exc:
            if exc.response["Error"]["Code"] not in GONE_MEANWHILE or attempt == READ_ATTEMPTS:
                raise
    raise AssertionError("unreachable")


@dataclass(frozen=True, slots=True, kw_only=True)
class Seeded:
    """What :meth:`MotoState.seed` created."""

    vpc_id: str
    subnets: tuple[str, ...]
    node_security_group: str
    instances: tuple[SandboxInstance, ...]


class MotoState:
    """boto3 clients straight to moto at ``endpoint`` in ``region`` (cached, thread-safe)."""

    def __init__(self, endpoint: str, region: str) -> None:
        self.endpoint = endpoint
        self.region = region
        self._lock = threading.Lock()
        self._clients: dict[str, Any] = {}

    def client(self, service: str) -> Any:
        with self._lock:
            if service not in self._clients:
                session: Any = boto3.session.Session(
                    aws_access_key_id=TEST_ACCESS_KEY,
                    aws_secret_access_key=TEST_SECRET_KEY,
                    region_name=self.region,
                )
                self._clients[service] = session.client(service, endpoint_url=self.endpoint)
            return self._clients[service]

    # -- seeding -------------------------------------------------------------------------

    def _image(self) -> str:
        """One of moto's built-in AMIs; the known id avoids listing ~1300 images (slow)."""
        ec2 = self.client("ec2")
        try:
            found = ec2.describe_images(ImageIds=[DEFAULT_IMAGE])["Images"]
        except ClientError:
            found = []
        if found:
            return str(found[0]["ImageId"])
        return str(ec2.describe_images(Owners=["amazon"])["Images"][0]["ImageId"])

    def seed(self, *, instances: int) -> Seeded:
        """A VPC, a subnet per zone, a node security group and ``instances`` instances in it."""
        ec2 = self.client("ec2")
        vpc_id = ec2.create_vpc(CidrBlock="10.0.0.0/16")["Vpc"]["VpcId"]
        subnets = tuple(
            ec2.create_subnet(
                VpcId=vpc_id, CidrBlock=f"10.0.{index + 1}.0/24", AvailabilityZone=zone
            )["Subnet"]["SubnetId"]
            for index, zone in enumerate((f"{self.region}a", f"{self.region}b"))
        )
        node_group = ec2.create_security_group(
            GroupName=NODE_GROUP_NAME,
            Description="the sandbox nodes",
            VpcId=vpc_id,
            TagSpecifications=[
                {"ResourceType": "security-group", "Tags": [{"Key": "Name", "Value": "nodes"}]}
            ],
        )["GroupId"]
        image = self._image()
        seeded: list[SandboxInstance] = []
        for index in range(instances):
            found = ec2.run_instances(
                ImageId=image,
                MinCount=1,
                MaxCount=1,
                InstanceType="t3.micro",
                SubnetId=subnets[index % len(subnets)],
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
        return Seeded(
            vpc_id=vpc_id,
            subnets=subnets,
            node_security_group=node_group,
            instances=tuple(seeded),
        )

    # -- reading back ------------------------------------------------------------------------

    def _tags(self, arns: list[str]) -> dict[str, dict[str, str]]:
        elbv2 = self.client("elbv2")
        found: dict[str, dict[str, str]] = {}
        for start in range(0, len(arns), TAG_BATCH):
            reply = elbv2.describe_tags(ResourceArns=arns[start : start + TAG_BATCH])
            for item in reply["TagDescriptions"]:
                found[str(item["ResourceArn"])] = from_aws(item.get("Tags"))
        return found

    def snapshot(self) -> dict[str, Any]:
        """What lbprovider owns in moto, as JSON (``GET /_admin/state``)."""
        return _settled(self._snapshot)

    def _snapshot(self) -> dict[str, Any]:
        elbv2, ec2 = self.client("elbv2"), self.client("ec2")
        lbs = _all(elbv2, "describe_load_balancers", "LoadBalancers")
        tgs = _all(elbv2, "describe_target_groups", "TargetGroups")
        tags = self._tags(
            [lb["LoadBalancerArn"] for lb in lbs] + [tg["TargetGroupArn"] for tg in tgs]
        )
        load_balancers = []
        for lb in lbs:
            arn = lb["LoadBalancerArn"]
            if CLUSTER_TAG not in tags.get(arn, {}):
                continue
            listeners = elbv2.describe_listeners(LoadBalancerArn=arn)["Listeners"]
            load_balancers.append(
                {
                    "arn": arn,
                    "name": lb["LoadBalancerName"],
                    "type": lb.get("Type"),
                    "scheme": lb.get("Scheme"),
                    "dns_name": lb.get("DNSName"),
                    "subnets": sorted(zone["SubnetId"] for zone in lb.get("AvailabilityZones", [])),
                    "security_groups": list(lb.get("SecurityGroups", [])),
                    "tags": tags[arn],
                    "listeners": [
                        {
                            "port": int(item["Port"]),
                            "protocol": item["Protocol"],
                            "target_group_arn": item["DefaultActions"][0].get("TargetGroupArn"),
                        }
                        for item in listeners
                    ],
                }
            )
        target_groups = []
        for tg in tgs:
            arn = tg["TargetGroupArn"]
            if CLUSTER_TAG not in tags.get(arn, {}):
                continue
            health = elbv2.describe_target_health(TargetGroupArn=arn)["TargetHealthDescriptions"]
            target_groups.append(
                {
                    "arn": arn,
                    "name": tg["TargetGroupName"],
                    "protocol": tg["Protocol"],
                    "port": int(tg["Port"]),
                    "target_type": tg["TargetType"],
                    "load_balancers": list(tg.get("LoadBalancerArns", [])),
                    "tags": tags[arn],
                    "targets": sorted(
                        [str(item["Target"]["Id"]), int(item["Target"]["Port"])] for item in health
                    ),
                }
            )
        groups = ec2.describe_security_groups()["SecurityGroups"]
        security_groups = []
        node_sg_rules = []
        for group in groups:
            group_tags = from_aws(group.get("Tags"))
            if CLUSTER_TAG in group_tags:
                security_groups.append(
                    {
                        "id": group["GroupId"],
                        "name": group["GroupName"],
                        "tags": group_tags,
                        "rules": sorted(
                            [perm["IpProtocol"], int(perm.get("FromPort", -1)), item["CidrIp"]]
                            for perm in group.get("IpPermissions", [])
                            for item in perm.get("IpRanges", [])
                        ),
                    }
                )
            for perm in group.get("IpPermissions", []):
                for pair in perm.get("UserIdGroupPairs", []):
                    description = str(pair.get("Description", ""))
                    if description.startswith(MARKER_PREFIX):
                        node_sg_rules.append(
                            {
                                "group_id": group["GroupId"],
                                "protocol": perm["IpProtocol"],
                                "from_port": int(perm.get("FromPort", -1)),
                                "to_port": int(perm.get("ToPort", -1)),
                                "source": pair.get("GroupId"),
                                "description": description,
                            }
                        )
        return {
            "load_balancers": load_balancers,
            "target_groups": target_groups,
            "security_groups": security_groups,
            "node_sg_rules": node_sg_rules,
        }

    def describe(self) -> list[dict[str, Any]]:
        """One row per NLB carrying lbprovider's cluster tag, read from moto (the demo's
        table): service, id, address, ``PROTO:port->backend port`` listeners, ``id:port``
        backends and the health check, sorted by service then id."""
        return _settled(self._describe)

    def _describe(self) -> list[dict[str, Any]]:
        elbv2 = self.client("elbv2")
        lbs = _all(elbv2, "describe_load_balancers", "LoadBalancers")
        tags = self._tags([lb["LoadBalancerArn"] for lb in lbs])
        rows: list[dict[str, Any]] = []
        for lb in lbs:
            arn = lb["LoadBalancerArn"]
            if CLUSTER_TAG not in tags.get(arn, {}):
                continue
            listeners = elbv2.describe_listeners(LoadBalancerArn=arn)["Listeners"]
            forwards = {
                str(item["ListenerArn"]): str(action["TargetGroupArn"])
                for item in listeners
                for action in item.get("DefaultActions", [])
                if action.get("TargetGroupArn")
            }
            groups: dict[str, dict[str, Any]] = {}
            if forwards:
                found = elbv2.describe_target_groups(TargetGroupArns=sorted(set(forwards.values())))
                groups = {str(tg["TargetGroupArn"]): tg for tg in found["TargetGroups"]}
            targets = {
                group_arn: sorted(
                    (str(item["Target"]["Id"]), int(item["Target"]["Port"]))
                    for item in elbv2.describe_target_health(TargetGroupArn=group_arn)[
                        "TargetHealthDescriptions"
                    ]
                )
                for group_arn in groups
            }
            shown: list[str] = []
            for item in sorted(listeners, key=lambda entry: (entry["Port"], entry["Protocol"])):
                group_arn = forwards.get(str(item["ListenerArn"]))
                ports = sorted({port for _, port in targets.get(group_arn or "", [])})
                if not ports and group_arn in groups:
                    ports = [int(groups[group_arn]["Port"])]
                backend = ",".join(str(port) for port in ports) or "?"
                shown.append(f"{item['Protocol']}:{item['Port']}->{backend}")
            rows.append(
                {
                    "service": tags[arn].get(SERVICE_NAME_TAG, ""),
                    "lb_id": arn,
                    "address": str(lb.get("DNSName", "")),
                    "listeners": shown,
                    "backends": sorted(
                        {f"{target}:{port}" for found in targets.values() for target, port in found}
                    ),
                    "health_check": ", ".join(
                        sorted({_health_check(group) for group in groups.values()})
                    ),
                }
            )
        return sorted(rows, key=lambda row: (row["service"], row["lb_id"]))


def _all(client: Any, operation: str, key: str) -> list[Any]:
    """Every item of every page (moto pages load balancers and target groups too)."""
    return [item for page in client.get_paginator(operation).paginate() for item in page[key]]


def _health_check(group: dict[str, Any]) -> str:
    """``HTTP:10256/healthz`` or ``TCP:traffic-port``."""
    protocol = str(group.get("HealthCheckProtocol", ""))
    text = f"{protocol}:{group.get('HealthCheckPort', '')}"
    if protocol.startswith("HTTP"):
        text += str(group.get("HealthCheckPath") or "")
    return text


def resources(snapshot: dict[str, Any]) -> dict[str, int]:
    """Counts per kind of a :meth:`MotoState.snapshot`."""
    return {kind: len(items) for kind, items in snapshot.items()}
