"""Semantic rules of ELBv2 that moto does not enforce, checked by the proxy before moto sees a call.

boto3 already enforces botocore's service model on the client (required
members, enumerations, minima), so what is left are the rules the API
reference states in prose, and the maxima botocore does not check.  Each rule
cites its source (``botocore/data/elbv2/2015-12-01/service-2.json``: the field
docs of the API reference) and is listed in ``docs/cloud-fidelity.md`` with the
test that proves it.  Rules moto already enforces (60 inbound rules per
security group) are left to moto and only tested.  :meth:`Rules.check` raises
the AWS error, returns None to let the call through, or returns
:class:`Instead`: AWS's idempotent answer for a create that repeats an
existing object with the same settings (moto would create a second one).
"""

from __future__ import annotations

import re
import uuid
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from lbprovider_aws.mock.exceptions import (
    DuplicateListener,
    DuplicateLoadBalancerName,
    InvalidConfigurationRequest,
    InvalidTarget,
    ValidationError,
)
from lbprovider_aws.mock.models import MotoState

Params = Mapping[str, list[str]]

HEALTH_CHECK_PROTOCOLS = frozenset({"HTTP", "HTTPS", "TCP"})
"""CreateTargetGroup ``HealthCheckProtocol``: "The GENEVE, TLS, UDP, TCP_UDP, QUIC, and
TCP_QUIC protocols are not supported for health checks"."""
HTTP_PROTOCOLS = frozenset({"HTTP", "HTTPS"})
RANGES = {
    # CreateTargetGroup/ModifyTargetGroup field docs: "The range is 5-300", "2-120", "2-10".
    # botocore's model carries min and max, but its client-side validation checks minima only.
    "HealthCheckIntervalSeconds": (5, 300),
    "HealthCheckTimeoutSeconds": (2, 120),
    "HealthyThresholdCount": (2, 10),
    "UnhealthyThresholdCount": (2, 10),
}
_HTTP_CODE = re.compile(r"^\d{3}(-\d{3})?$")


@dataclass(frozen=True, slots=True, kw_only=True)
class Answer:
    """The reply itself (a body in AWS's XML shape): the proxy answers, moto is not asked."""

    body: bytes


@dataclass(frozen=True, slots=True, kw_only=True)
class Instead:
    """Forward ``form`` to moto instead, and rename its reply's ``rename`` elements: a
    Describe answered as the Create that would have returned the same object."""

    form: Mapping[str, str]
    rename: tuple[tuple[str, str], ...]


def members(params: Params, name: str) -> list[str]:
    """The values of the query-protocol list ``name`` (``Name.member.N``), in order."""
    found: list[tuple[int, str]] = []
    prefix = f"{name}.member."
    for key, values in params.items():
        index = key[len(prefix) :]
        if key.startswith(prefix) and index.isdigit():
            found.append((int(index), values[0]))
    return [value for _, value in sorted(found)]


def structures(params: Params, name: str) -> list[dict[str, str]]:
    """The members of the query-protocol structure list ``name``
    (``Targets.member.1.Id`` -> ``[{"Id": ...}]``), in order."""
    found: dict[int, dict[str, str]] = {}
    prefix = f"{name}.member."
    for key, values in params.items():
        if not key.startswith(prefix):
            continue
        index, _, field = key[len(prefix) :].partition(".")
        if index.isdigit() and field:
            found.setdefault(int(index), {})[field] = values[0]
    return [found[index] for index in sorted(found)]


def _one(params: Params, name: str) -> str | None:
    values = params.get(name)
    return values[0] if values else None


class Rules:
    """The checks, reading moto's state through ``state`` (uncounted, never faulted)."""

    def __init__(self, state: MotoState) -> None:
        self._state = state

    def check(self, action: str, params: Params, *, ec2: bool) -> Instead | Answer | None:
        if ec2:
            return None
        if action == "CreateLoadBalancer":
            self._subnets_per_zone(params)
            return self._create_load_balancer(params)
        if action == "SetSubnets":
            self._subnets_per_zone(params)
            return self._set_subnets(params)
        if action == "SetSecurityGroups":
            self._set_security_groups(params)
        elif action == "CreateListener":
            return self._create_listener(params)
        elif action == "CreateTargetGroup":
            self._health_check(params, protocol=_one(params, "Protocol") or "TCP", current={})
        elif action == "ModifyTargetGroup":
            current = self._target_group(_one(params, "TargetGroupArn") or "")
            if current is not None:
                self._health_check(params, protocol=str(current["Protocol"]), current=current)
        elif action == "RegisterTargets":
            self._register_targets(params)
        return None

    # -- reads of moto's state -------------------------------------------------------------

    def _load_balancer(self, arn: str) -> dict[str, Any] | None:
        elbv2 = self._state.client("elbv2")
        try:
            found = elbv2.describe_load_balancers(LoadBalancerArns=[arn])["LoadBalancers"]
        except elbv2.exceptions.LoadBalancerNotFoundException:
            return None  # moto answers LoadBalancerNotFound itself
        return dict(found[0]) if found else None

    def _target_group(self, arn: str) -> dict[str, Any] | None:
        elbv2 = self._state.client("elbv2")
        try:
            found = elbv2.describe_target_groups(TargetGroupArns=[arn])["TargetGroups"]
        except elbv2.exceptions.TargetGroupNotFoundException:
            return None
        return dict(found[0]) if found else None

    # -- the rules -----------------------------------------------------------------------

    def _subnets_per_zone(self, params: Params) -> None:
        """SetSubnets/CreateLoadBalancer ``Subnets`` and ``SubnetMappings``: "You can specify
        only one subnet per Availability Zone"."""
        subnets = members(params, "Subnets") + [
            item["SubnetId"] for item in structures(params, "SubnetMappings") if "SubnetId" in item
        ]
        if len(subnets) < 2:
            return
        found = self._state.client("ec2").describe_subnets(
            Filters=[{"Name": "subnet-id", "Values": subnets}]
        )["Subnets"]
        zones: dict[str, str] = {}
        for subnet in found:
            zone = str(subnet["AvailabilityZone"])
            if zone in zones:
                raise InvalidConfigurationRequest(
                    f"You can specify only one subnet per Availability Zone: "
                    f"{zones[zone]} and {subnet['SubnetId']} are both in {zone}"
                )
            zones[zone] = str(subnet["SubnetId"])

    def _set_subnets(self, params: Params) -> Answer | None:
        """SetSubnets on an NLB.  NLB guide, "Update the Availability Zones for your Network
        Load Balancer": "Changes to subnets within the same Availability Zone must be
        independent actions. You must first complete the removal of the existing subnet, and
        then you can add the new subnet."  And the API reference: "[Network Load Balancers]
        You can specify subnets from one or more Availability Zones", where moto applies the
        Application Load Balancer rule (two zones at least): the proxy applies a one-zone
        change to moto's state itself (moto's own code is left alone)."""
        arn = _one(params, "LoadBalancerArn") or ""
        lb = self._load_balancer(arn)
        if lb is None or lb.get("Type") != "network":
            return None
        wanted = members(params, "Subnets") + [
            item["SubnetId"] for item in structures(params, "SubnetMappings") if "SubnetId" in item
        ]
        found = self._state.client("ec2").describe_subnets(
            Filters=[{"Name": "subnet-id", "Values": wanted}]
        )["Subnets"]
        zones = {str(subnet["AvailabilityZone"]): str(subnet["SubnetId"]) for subnet in found}
        for zone in lb.get("AvailabilityZones", []):
            new = zones.get(str(zone["ZoneName"]))
            if new is not None and new != zone["SubnetId"]:
                raise InvalidConfigurationRequest(
                    "Changes to subnets within the same Availability Zone must be independent "
                    f"actions: remove {zone['SubnetId']} from {zone['ZoneName']} before "
                    f"adding {new}"
                )
        if len(zones) != 1 or len(found) != len(set(wanted)):
            return None  # moto answers (several zones), or refuses an unknown subnet itself
        return Answer(body=self._one_zone(arn, str(found[0]["SubnetId"])))

    def _one_zone(self, arn: str, subnet_id: str) -> bytes:
        """Apply a one-zone SetSubnets to moto's in-process state and answer it."""
        from moto.elbv2.models import elbv2_backends  # noqa: PLC0415 - only the proxy needs it

        account, region = arn.split(":")[4], arn.split(":")[3]
        backend = elbv2_backends[account][region]
        subnet = backend.ec2_backend.get_subnet(subnet_id)
        backend.load_balancers[arn].subnets = [subnet]
        return (
            '<SetSubnetsResponse xmlns="http://elasticloadbalancing.amazonaws.com/doc/'
            '2015-12-01/"><SetSubnetsResult><AvailabilityZones><member>'
            f"<ZoneName>{subnet.availability_zone}</ZoneName><SubnetId>{subnet.id}</SubnetId>"
            "</member></AvailabilityZones></SetSubnetsResult><ResponseMetadata>"
            f"<RequestId>{uuid.uuid4()}</RequestId></ResponseMetadata></SetSubnetsResponse>"
        ).encode()

    def _create_load_balancer(self, params: Params) -> Instead | None:
        """CreateLoadBalancer: "A load balancer with the specified name already exists"
        (DuplicateLoadBalancerNameException), yet "This operation is idempotent ... If you
        attempt to create multiple load balancers with the same settings, each call
        succeeds".  moto creates a second one with the same name."""
        name = _one(params, "Name") or ""
        elbv2 = self._state.client("elbv2")
        try:
            found = elbv2.describe_load_balancers(Names=[name])["LoadBalancers"]
        except elbv2.exceptions.LoadBalancerNotFoundException:
            return None
        if not found:
            return None
        lb = found[0]
        subnets = set(members(params, "Subnets")) | {
            item["SubnetId"] for item in structures(params, "SubnetMappings") if "SubnetId" in item
        }
        same = (
            str(lb.get("Type", "")) == (_one(params, "Type") or "application")
            # moto leaves Scheme unset when the request did: AWS's default then.
            and str(lb.get("Scheme") or "internet-facing")
            == (_one(params, "Scheme") or "internet-facing")
            and {str(zone["SubnetId"]) for zone in lb.get("AvailabilityZones", [])} == subnets
            and set(lb.get("SecurityGroups", [])) == set(members(params, "SecurityGroups"))
        )
        if not same:
            raise DuplicateLoadBalancerName()
        return Instead(
            form={
                "Action": "DescribeLoadBalancers",
                "Version": "2015-12-01",
                "Names.member.1": name,
            },
            rename=(
                ("DescribeLoadBalancersResponse", "CreateLoadBalancerResponse"),
                ("DescribeLoadBalancersResult", "CreateLoadBalancerResult"),
            ),
        )

    def _create_listener(self, params: Params) -> Instead | None:
        """CreateListener: "A listener with the specified port already exists"
        (DuplicateListenerException); the same settings again succeed (idempotent, as for
        load balancers).  moto accepts a second listener on the port."""
        arn = _one(params, "LoadBalancerArn") or ""
        port = _one(params, "Port")
        elbv2 = self._state.client("elbv2")
        try:
            listeners = elbv2.describe_listeners(LoadBalancerArn=arn)["Listeners"]
        except elbv2.exceptions.LoadBalancerNotFoundException:
            return None
        actions = structures(params, "DefaultActions")
        wanted = actions[0].get("TargetGroupArn") if len(actions) == 1 else None
        for listener in listeners:
            if str(listener["Port"]) != port:
                continue
            have = [item.get("TargetGroupArn") for item in listener.get("DefaultActions", [])]
            if listener.get("Protocol") == _one(params, "Protocol") and have == [wanted]:
                return Instead(
                    form={
                        "Action": "DescribeListeners",
                        "Version": "2015-12-01",
                        "ListenerArns.member.1": str(listener["ListenerArn"]),
                    },
                    rename=(
                        ("DescribeListenersResponse", "CreateListenerResponse"),
                        ("DescribeListenersResult", "CreateListenerResult"),
                    ),
                )
            raise DuplicateListener()
        return None

    def _set_security_groups(self, params: Params) -> None:
        """SetSecurityGroups: "You can't perform this operation on a Network Load Balancer
        unless you specified a security group for the load balancer when you created it"."""
        lb = self._load_balancer(_one(params, "LoadBalancerArn") or "")
        if lb is not None and lb.get("Type") == "network" and not lb.get("SecurityGroups"):
            raise InvalidConfigurationRequest(
                "You cannot set security groups on a Network Load Balancer which was created "
                "without any security groups."
            )

    def _health_check(self, params: Params, *, protocol: str, current: Mapping[str, Any]) -> None:
        """CreateTargetGroup/ModifyTargetGroup health checks, per the field docs."""
        for name, (low, high) in RANGES.items():
            raw = _one(params, name)
            if raw is not None and not low <= int(raw) <= high:
                raise ValidationError(f"{name} must be between {low} and {high}, got {raw}")
        port = _one(params, "HealthCheckPort")
        # HealthCheckPort: "traffic-port" or a port number.
        if (
            port is not None
            and port != "traffic-port"
            and (not port.isdigit() or not 1 <= int(port) <= 65535)
        ):
            raise ValidationError(f"Health check port '{port}' must be traffic-port or 1-65535")
        check = _one(params, "HealthCheckProtocol") or str(
            current.get("HealthCheckProtocol") or ("HTTP" if protocol in HTTP_PROTOCOLS else "TCP")
        )
        if check not in HEALTH_CHECK_PROTOCOLS:
            raise InvalidConfigurationRequest(
                f"Health check protocol '{check}' is not supported (HTTP, HTTPS or TCP only)"
            )
        if check == "TCP" and protocol in HTTP_PROTOCOLS:
            # "The TCP protocol is not supported for health checks if the protocol of the
            # target group is HTTP or HTTPS."
            raise InvalidConfigurationRequest(
                f"TCP health checks are not supported for {protocol} target groups"
            )
        # HealthCheckPath and Matcher are "[HTTP/HTTPS health checks]" only.
        if check not in HTTP_PROTOCOLS:
            for name in ("HealthCheckPath", "Matcher.HttpCode", "Matcher.GrpcCode"):
                if _one(params, name) is not None:
                    raise InvalidConfigurationRequest(
                        f"{name.split('.')[0]} is only valid with HTTP or HTTPS health checks"
                    )
        codes = _one(params, "Matcher.HttpCode")
        if codes is not None:
            # Matcher.HttpCode: "For Network Load Balancers, you can specify values between
            # 200 and 599"; Application Load Balancers (HTTP/HTTPS groups): 200-499.
            high = 499 if protocol in HTTP_PROTOCOLS else 599
            for item in codes.split(","):
                bounds = item.strip().split("-")
                if not _HTTP_CODE.match(item.strip()) or not all(
                    200 <= int(bound) <= high for bound in bounds
                ):
                    raise ValidationError(
                        f"Health check matcher HTTP code '{codes}' must be within 200-{high}"
                    )

    def _register_targets(self, params: Params) -> None:
        """RegisterTargets on an instance group fails as a whole (InvalidTargetException,
        nothing registered) when a target "does not exist" or is not running: "If the
        target is an EC2 instance, it must be in the running state when you register it".
        moto refuses a stopped instance only after registering the targets before it."""
        group = self._target_group(_one(params, "TargetGroupArn") or "")
        if group is None or group.get("TargetType") != "instance":
            return
        ids = sorted({item["Id"] for item in structures(params, "Targets") if "Id" in item})
        if not ids:
            return
        reservations = self._state.client("ec2").describe_instances(
            Filters=[{"Name": "instance-id", "Values": ids}]
        )["Reservations"]
        states = {
            str(instance["InstanceId"]): str(instance.get("State", {}).get("Name", ""))
            for reservation in reservations
            for instance in reservation.get("Instances", [])
        }
        missing = [target for target in ids if target not in states]
        if missing:
            raise InvalidTarget(
                "The following targets are not valid instances: "
                + ", ".join(f"'{target}'" for target in missing)
            )
        idle = [target for target in ids if states[target] != "running"]
        if idle:
            raise InvalidTarget(
                "The following targets are not in a running state and cannot be registered: "
                + ", ".join(f"'{target}'" for target in idle)
            )
