"""Backend security-group rules: let the NLB's security group reach the target instances.

Once an NLB has a security group, AWS delivers its traffic (and health checks)
to instance targets only if the instances' own security groups allow that
group.  Like the AWS Load Balancer Controller's managed backend rules, the
provider adds, on the security groups of each target instance's primary
network interface, one ingress rule per ``(protocol, port)`` whose source is
the NLB's group, and marks it with the description ``lbprovider:<cluster>/<uid>``
so that only its own rules are ever revoked.

Reads: the target instances (one call per 200 ids) and the groups that already
reference the NLB's group (one call); the instances' groups are read only when
some of them do not reference it yet.  Writes: at most one revoke and one
authorize call per group, and none when nothing changed.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from lbprovider.cloud import RetryAfter, ServiceRef
from lbprovider_aws.api import AwsApi, AwsError
from lbprovider_aws.model import BackendRule

log = logging.getLogger(__name__)

FILTER_VALUES = 200  # EC2 accepts at most 200 values per filter
DESCRIPTION_LIMIT = 255
MARKER_PREFIX = "lbprovider:"

PortRange = tuple[str, int, int]
"""``(ip protocol, from port, to port)`` of one ingress permission."""


def marker(ref: ServiceRef) -> str:
    """The description that marks a backend rule as created for ``ref``."""
    return f"{MARKER_PREFIX}{ref.cluster}/{ref.uid}"[:DESCRIPTION_LIMIT]


@dataclass(frozen=True, slots=True, kw_only=True)
class GroupRules:
    """The ingress rules of one node security group whose source is the NLB's group."""

    present: frozenset[PortRange]
    """Every rule from the NLB's group, whoever added it."""
    ours: frozenset[PortRange]
    """The subset carrying our marker (the only ones ever revoked)."""


def _chunks(items: list[str], size: int) -> Iterable[list[str]]:
    for start in range(0, len(items), size):
        yield items[start : start + size]


def rules_from(group: Mapping[str, Any], *, source: str, mark: str) -> GroupRules:
    """The rules of ``group`` whose source is the security group ``source``."""
    present: set[PortRange] = set()
    ours: set[PortRange] = set()
    for perm in group.get("IpPermissions", []):
        key = (
            str(perm.get("IpProtocol", "")).lower(),
            int(perm.get("FromPort", -1)),
            int(perm.get("ToPort", -1)),
        )
        for pair in perm.get("UserIdGroupPairs", []):
            if pair.get("GroupId") != source:
                continue
            present.add(key)
            if pair.get("Description") == mark:
                ours.add(key)
    return GroupRules(present=frozenset(present), ours=frozenset(ours))


def diff(want: frozenset[BackendRule], have: GroupRules) -> tuple[list[PortRange], list[PortRange]]:
    """``(authorize, revoke)`` for one group.

    A wanted rule someone else already added is left alone (AWS keeps one rule
    per protocol, ports and source, whatever its description); only rules with
    our marker are revoked.
    """
    wanted = {(proto, port, port) for proto, port in want}
    return sorted(wanted - have.present), sorted(have.ours - wanted)


def _permissions(rules: Iterable[PortRange], *, source: str, mark: str) -> list[dict[str, Any]]:
    return [
        {
            "IpProtocol": proto,
            "FromPort": low,
            "ToPort": high,
            "UserIdGroupPairs": [{"GroupId": source, "Description": mark}],
        }
        for proto, low, high in rules
    ]


def instance_groups(api: AwsApi, instance_ids: Iterable[str]) -> dict[str, tuple[str, ...]]:
    """Security groups of each instance's primary network interface (gone ones omitted).

    A filter, not ``InstanceIds``: a terminated node must not fail the whole call.
    """
    found: dict[str, tuple[str, ...]] = {}
    for batch in _chunks(sorted(set(instance_ids)), FILTER_VALUES):
        reservations = api.pages(
            api.ec2,
            "describe_instances",
            "Reservations",
            Filters=[{"Name": "instance-id", "Values": batch}],
        )
        for reservation in reservations:
            for instance in reservation.get("Instances", []):
                if instance.get("State", {}).get("Name") == "terminated":
                    continue  # listed for a while after it is gone; it takes no traffic
                groups = instance.get("SecurityGroups", [])
                for eni in instance.get("NetworkInterfaces", []):
                    if eni.get("Attachment", {}).get("DeviceIndex") == 0:
                        groups = eni.get("Groups", groups)
                found[str(instance["InstanceId"])] = tuple(
                    sorted(str(group["GroupId"]) for group in groups)
                )
    return found


def _referencing(api: AwsApi, source: str) -> dict[str, dict[str, Any]]:
    groups = api.pages(
        api.ec2,
        "describe_security_groups",
        "SecurityGroups",
        Filters=[{"Name": "ip-permission.group-id", "Values": [source]}],
    )
    return {str(group["GroupId"]): dict(group) for group in groups}


def _by_ids(api: AwsApi, group_ids: list[str]) -> dict[str, dict[str, Any]]:
    found: dict[str, dict[str, Any]] = {}
    for batch in _chunks(group_ids, FILTER_VALUES):
        groups = api.pages(
            api.ec2,
            "describe_security_groups",
            "SecurityGroups",
            Filters=[{"Name": "group-id", "Values": batch}],
        )
        found.update({str(group["GroupId"]): dict(group) for group in groups})
    return found


def sync(
    api: AwsApi,
    *,
    ref: ServiceRef,
    source: str,
    rules: frozenset[BackendRule],
    instance_ids: frozenset[str],
) -> None:
    """Make the node groups of ``instance_ids`` allow ``rules`` from ``source``; revoke the rest.

    Groups that carry our rules but no longer hold a target (nodes moved,
    ports changed, IP targets now, ``rules`` empty on delete) lose them.
    """
    mark = marker(ref)
    want: dict[str, frozenset[BackendRule]] = {}
    if rules and instance_ids:
        for groups in instance_groups(api, instance_ids).values():
            for group_id in groups:
                want[group_id] = rules
    current = _referencing(api, source)
    missing = sorted(set(want) - set(current))
    if missing:
        current.update(_by_ids(api, missing))
    for group_id in sorted(set(current) | set(want)):
        group = current.get(group_id)
        if group is None:
            continue  # went away between the two reads
        authorize, revoke = diff(
            want.get(group_id, frozenset()), rules_from(group, source=source, mark=mark)
        )
        if revoke:
            api.call(
                api.ec2,
                "revoke_security_group_ingress",
                GroupId=group_id,
                IpPermissions=_permissions(revoke, source=source, mark=mark),
            )
        if authorize:
            try:
                api.call(
                    api.ec2,
                    "authorize_security_group_ingress",
                    GroupId=group_id,
                    IpPermissions=_permissions(authorize, source=source, mark=mark),
                )
            except AwsError as exc:
                if exc.code == "InvalidPermission.Duplicate":
                    # Added by someone else since our read: read again next time.
                    raise RetryAfter(5, f"security group {group_id} changed meanwhile") from None
                raise
        if authorize or revoke:
            log.info(
                "synced backend security group rules",
                extra={
                    "service": ref.key,
                    "group": group_id,
                    "authorized": len(authorize),
                    "revoked": len(revoke),
                },
            )
