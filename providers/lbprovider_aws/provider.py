"""The AWS provider: one Network Load Balancer per Service, reconciled by diff.

Each ``ensure`` reads the NLB, its listeners, the target groups attached to it,
their targets, the NLB's security group (all decided by ownership tags) and the
backend rules on the nodes' security groups, compares them with the local
model (:mod:`lbprovider_aws.model`) and makes only the calls the difference
needs: an unchanged Service costs zero write calls.  Target groups are read
from the NLB (``DescribeTargetGroups(LoadBalancerArn)``), never by scanning the
region; only ``delete`` scans by name prefix, for groups a crash left unattached.

Backend rules cost: the target instances (one read per 200 ids) and the groups
that already reference the NLB's group (one read); the instances' groups are
read only when some do not reference it yet.  Writes: at most one revoke and
one authorize per group, none when nothing changed.
"""

from __future__ import annotations

import ipaddress
import logging
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from lbprovider.cloud import (
    BackendMode,
    CloudApiError,
    CloudError,
    DesiredLoadBalancer,
    Ingress,
    InvalidService,
    LoadBalancerStatus,
    ProviderConfigError,
    RetryAfter,
    ServiceRef,
)
from lbprovider.providerkit import CallPolicy, batched
from lbprovider_aws import model, naming
from lbprovider_aws.api import AwsApi
from lbprovider_aws.options import parse_options
from lbprovider_aws.settings import Settings, parse_settings, read_credentials

log = logging.getLogger(__name__)

TAG_BATCH = 20  # DescribeTags takes at most 20 ARNs
TARGET_BATCH = 100  # targets per Register/DeregisterTargets call
FILTER_VALUES = 200  # EC2 accepts at most 200 values per filter


@dataclass(frozen=True, slots=True, kw_only=True)
class Found:
    """What a lookup found for one Service: its NLB, the NLB's tags and attached groups."""

    lb: dict[str, Any] | None
    lb_tags: dict[str, str]
    groups: dict[str, dict[str, Any]]
    """Our target groups attached to the NLB, by name."""


def create(
    settings: Mapping[str, Any], *, cluster_name: str, policy: CallPolicy | None = None
) -> AwsProvider:
    """The ``lbprovider.providers`` factory: validate ``settings`` and build the provider.

    ``policy`` overrides the call wrapper's retry bounds (tests make them fast).
    """
    if not isinstance(cluster_name, str) or not cluster_name.strip():
        raise ProviderConfigError("aws provider: cluster_name must be a non-empty string")
    parsed = parse_settings(settings)
    api = AwsApi(settings=parsed, credentials=read_credentials(parsed), policy=policy)
    return AwsProvider(settings=parsed, cluster_name=cluster_name, api=api)


class AwsProvider:
    """Network Load Balancers for one configured class (see the module docstring)."""

    name = "aws"

    def __init__(self, *, settings: Settings, cluster_name: str, api: AwsApi) -> None:
        self._settings = settings
        self._cluster = cluster_name
        self._api = api
        self._vpc_by_subnet: dict[str, str] = {}

    # -- lookups (reads only) -------------------------------------------------------------

    def _tags_of(self, arns: list[str]) -> dict[str, dict[str, str]]:
        found: dict[str, dict[str, str]] = {}
        for batch in batched(arns, TAG_BATCH):
            result = self._api.call(self._api.elbv2, "describe_tags", ResourceArns=list(batch))
            for item in result.get("TagDescriptions", []):
                found[str(item["ResourceArn"])] = naming.from_aws(item.get("Tags"))
        return found

    def _attached_groups(self, lb_arn: str) -> list[dict[str, Any]]:
        """The target groups our NLB's listeners forward to (one call, not a region scan)."""
        # moto answers TargetGroupNotFound when there are none.
        return self._api.pages(
            self._api.elbv2,
            "describe_target_groups",
            "TargetGroups",
            missing_ok=True,
            LoadBalancerArn=lb_arn,
        )

    def _find(self, ref: ServiceRef, *, with_groups: bool = True) -> Found:
        """Our NLB (the deterministic name first, then any NLB carrying our tags), its tags
        and the target groups attached to it, decided by tags in one DescribeTags call."""
        named = self._api.call_or_none(
            self._api.elbv2, "describe_load_balancers", Names=[naming.load_balancer_name(ref)]
        )
        candidates = [
            lb for lb in (named or {}).get("LoadBalancers", []) if lb.get("Type") == "network"
        ]
        found = self._pick(ref, candidates, with_groups)
        if found.lb is None:
            everything = self._api.pages(
                self._api.elbv2, "describe_load_balancers", "LoadBalancers"
            )
            network = [lb for lb in everything if lb.get("Type") == "network"]
            found = self._pick(ref, network, with_groups)
        return found

    def _pick(self, ref: ServiceRef, candidates: list[dict[str, Any]], with_groups: bool) -> Found:
        groups: list[dict[str, Any]] = []
        prefetch = (
            with_groups
            and len(candidates) == 1
            and candidates[0].get("LoadBalancerName") == naming.load_balancer_name(ref)
        )
        if prefetch:
            # The usual case, our deterministic name: read its groups before knowing
            # ownership, so one DescribeTags call decides both.
            groups = self._attached_groups(candidates[0]["LoadBalancerArn"])
        arns = [lb["LoadBalancerArn"] for lb in candidates]
        tagged = self._tags_of(arns + [tg["TargetGroupArn"] for tg in groups])
        for lb in candidates:
            lb_tags = tagged.get(lb["LoadBalancerArn"], {})
            if not naming.is_owned_by(lb_tags, ref):
                continue
            if with_groups and not prefetch:
                groups = self._attached_groups(lb["LoadBalancerArn"])
                tagged.update(self._tags_of([tg["TargetGroupArn"] for tg in groups]))
            owned = {
                str(tg["TargetGroupName"]): dict(tg)
                for tg in groups
                if naming.is_owned_by(tagged.get(tg["TargetGroupArn"], {}), ref)
            }
            return Found(lb=dict(lb), lb_tags=lb_tags, groups=owned)
        return Found(lb=None, lb_tags={}, groups={})

    def _owned_groups(self, ref: ServiceRef, groups: list[dict[str, Any]]) -> list[dict[str, Any]]:
        tagged = self._tags_of([tg["TargetGroupArn"] for tg in groups])
        return [
            dict(tg)
            for tg in groups
            if naming.is_owned_by(tagged.get(tg["TargetGroupArn"], {}), ref)
        ]

    def _orphan_groups(self, ref: ServiceRef) -> list[dict[str, Any]]:
        """Groups of ``ref`` attached to no NLB (a crash between steps): a region scan by
        name prefix, decided by tags.  Only ``delete`` pays for it."""
        prefix = naming.target_group_prefix(ref)
        groups = [
            tg
            for tg in self._api.pages(self._api.elbv2, "describe_target_groups", "TargetGroups")
            if str(tg.get("TargetGroupName", "")).startswith(prefix)
        ]
        return self._owned_groups(ref, groups)

    def _adopt_group(self, ref: ServiceRef, name: str) -> dict[str, Any]:
        """A group of ours that exists but is attached to no listener (a crash after
        CreateTargetGroup): found by its exact name, adopted only if the tags say ours."""
        found = self._api.call(self._api.elbv2, "describe_target_groups", Names=[name])
        owned = self._owned_groups(ref, found.get("TargetGroups", []))
        if not owned:
            raise CloudError(f"target group {name} exists and is not owned by {ref.key}")
        return owned[0]

    def _find_security_group(self, ref: ServiceRef) -> dict[str, Any] | None:
        groups = self._api.call(
            self._api.ec2,
            "describe_security_groups",
            Filters=[
                {"Name": f"tag:{naming.CLUSTER_TAG}", "Values": [ref.cluster]},
                {"Name": f"tag:{naming.SERVICE_UID_TAG}", "Values": [ref.uid]},
            ],
        ).get("SecurityGroups", [])
        return dict(groups[0]) if groups else None

    def _listeners(self, lb_arn: str) -> list[dict[str, Any]]:
        return self._api.pages(
            self._api.elbv2,
            "describe_listeners",
            "Listeners",
            missing_ok=True,
            LoadBalancerArn=lb_arn,
        )

    def _registered(self, tg_arn: str) -> set[model.Target]:
        result = self._api.call(self._api.elbv2, "describe_target_health", TargetGroupArn=tg_arn)
        return model.targets_of(result.get("TargetHealthDescriptions", []))

    def _vpc_id(self, subnets: tuple[str, ...]) -> str:
        if self._settings.vpc_id:
            return self._settings.vpc_id
        first = subnets[0]
        if first not in self._vpc_by_subnet:
            found = self._api.call(self._api.ec2, "describe_subnets", SubnetIds=[first])
            for subnet in found.get("Subnets", []):
                self._vpc_by_subnet[first] = str(subnet["VpcId"])
            if first not in self._vpc_by_subnet:
                raise InvalidService(f"subnet {first} not found")
        return self._vpc_by_subnet[first]

    # -- the contract ---------------------------------------------------------------------

    def get(self, ref: ServiceRef) -> LoadBalancerStatus | None:
        """The NLB owned by ``ref`` and the ports it serves, or None."""
        lb = self._find(ref, with_groups=False).lb
        if lb is None:
            return None
        listeners = self._listeners(lb["LoadBalancerArn"])
        ports = model.port_statuses(
            (int(item["Port"]), str(item["Protocol"])) for item in listeners
        )
        return LoadBalancerStatus(
            lb_id=lb["LoadBalancerArn"],
            ingress=(Ingress(hostname=lb["DNSName"], ports=ports),),
        )

    def ensure(self, desired: DesiredLoadBalancer) -> LoadBalancerStatus:
        """Create or bring in line the NLB, its listeners, target groups and security group."""
        ref = desired.ref
        options = parse_options(ref)
        subnets = model.subnets_for(options, self._settings.subnets)
        spec = model.build(desired, options=options, subnets=subnets)
        vpc_id = self._vpc_id(subnets)

        found = self._find(ref)
        lb = found.lb
        if lb is not None and not model.compatible(lb, found.lb_tags, spec):
            log.info(
                "replacing load balancer",
                extra={"cluster": self._cluster, "service": ref.key, "arn": lb["LoadBalancerArn"]},
            )
            self._delete(
                self._api.elbv2, "delete_load_balancer", LoadBalancerArn=lb["LoadBalancerArn"]
            )
            lb = None  # its target groups (read above) move to the new NLB

        group_id = self._ensure_security_group(ref, spec, vpc_id)
        self._sync_backend_rules(
            ref, source=group_id, rules=spec.backend_rules, instance_ids=spec.instance_ids
        )
        existing = found.groups
        arns = self._ensure_target_groups(ref, spec, vpc_id, existing)
        if lb is None:
            lb = self._create_load_balancer(ref, spec, group_id)
        else:
            self._reconcile_load_balancer(lb, spec, group_id)
        self._reconcile_listeners(ref, lb["LoadBalancerArn"], spec, arns)
        wanted = {group.name for group in spec.target_groups}
        for name, group in existing.items():
            if name not in wanted:
                self._delete_target_group(group["TargetGroupArn"])

        state = lb.get("State", {}).get("Code")
        if state == "failed":
            raise CloudError(f"load balancer {lb['LoadBalancerArn']} is in state failed")
        log.info(
            "ensured load balancer",
            extra={"cluster": self._cluster, "service": ref.key, "arn": lb["LoadBalancerArn"]},
        )
        warnings = spec.warnings
        if desired.backend_mode is BackendMode.POD_IP:
            warnings += (
                "IP targets: the Pods' security groups must allow traffic from the NLB's "
                f"security group {group_id} (lbprovider adds rules to node security groups "
                "only)",
            )
        return LoadBalancerStatus(
            lb_id=lb["LoadBalancerArn"],
            ingress=(Ingress(hostname=lb["DNSName"], ports=spec.ports),),
            warnings=warnings,
        )

    def update_backends(self, desired: DesiredLoadBalancer) -> None:
        """Target registrations and the node security-group rules they need; a missing
        NLB or group waits for the next ensure."""
        ref = desired.ref
        options = parse_options(ref)
        spec = model.build(
            desired, options=options, subnets=options.subnets or self._settings.subnets
        )
        found = self._find(ref)
        if found.lb is None:
            return
        for group in spec.target_groups:
            existing = found.groups.get(group.name)
            if existing is not None:
                self._sync_targets(existing["TargetGroupArn"], group, new=False)
        # New nodes may sit in other security groups; the NLB's group is ours (set by ensure).
        for group_id in found.lb.get("SecurityGroups", [])[:1]:
            self._sync_backend_rules(
                ref, source=str(group_id), rules=spec.backend_rules, instance_ids=spec.instance_ids
            )

    def delete(self, ref: ServiceRef) -> None:
        """Remove the NLB, listeners, target groups and security group of ``ref``, only those."""
        found = self._find(ref)
        if found.lb is not None:
            for listener in self._listeners(found.lb["LoadBalancerArn"]):
                self._delete(
                    self._api.elbv2, "delete_listener", ListenerArn=listener["ListenerArn"]
                )
            self._delete(
                self._api.elbv2, "delete_load_balancer", LoadBalancerArn=found.lb["LoadBalancerArn"]
            )
        groups = {tg["TargetGroupArn"] for tg in found.groups.values()}
        groups.update(tg["TargetGroupArn"] for tg in self._orphan_groups(ref))
        for arn in sorted(groups):
            self._delete_target_group(arn)
        security_group = self._find_security_group(ref)
        if security_group is not None:
            # AWS refuses to delete a group other groups' rules still reference.
            group_id = str(security_group["GroupId"])
            self._sync_backend_rules(
                ref, source=group_id, rules=frozenset(), instance_ids=frozenset()
            )
            try:
                self._delete(self._api.ec2, "delete_security_group", GroupId=group_id)
            except CloudApiError as exc:
                if exc.code == "DependencyViolation":
                    # The deleted NLB's network interfaces take a while to go; a rule
                    # someone else added elsewhere with this group as source also holds it.
                    raise RetryAfter(
                        15, "security group still in use (the deleted NLB, or another's rule)"
                    ) from None
                raise
        log.info("deleted load balancer", extra={"service": ref.key})

    # -- pieces of ensure -----------------------------------------------------------------

    def _subnet_mappings(self, spec: model.NlbSpec) -> list[dict[str, str]]:
        mappings = [{"SubnetId": subnet} for subnet in spec.subnets]
        if spec.requested_ip is None:
            return mappings
        address = ipaddress.IPv4Address(spec.requested_ip)
        found = self._api.call(self._api.ec2, "describe_subnets", SubnetIds=list(spec.subnets))
        for subnet in found.get("Subnets", []):
            if address in ipaddress.ip_network(subnet["CidrBlock"]):
                for mapping in mappings:
                    if mapping["SubnetId"] == subnet["SubnetId"]:
                        mapping["PrivateIPv4Address"] = spec.requested_ip
                return mappings
        raise InvalidService(
            f"loadBalancerIP {spec.requested_ip} is in none of the NLB subnets "
            f"({', '.join(spec.subnets)})"
        )

    def _create_load_balancer(
        self, ref: ServiceRef, spec: model.NlbSpec, group_id: str
    ) -> dict[str, Any]:
        extra = {naming.REQUESTED_IP_TAG: spec.requested_ip} if spec.requested_ip else None
        created = self._api.call(
            self._api.elbv2,
            "create_load_balancer",
            Name=spec.name,
            Type="network",
            Scheme=spec.scheme,
            IpAddressType="ipv4",
            SubnetMappings=self._subnet_mappings(spec),
            SecurityGroups=[group_id],
            Tags=naming.aws_tags(ref, extra),
        )
        lb = dict(created["LoadBalancers"][0])
        log.info(
            "created load balancer",
            extra={"cluster": self._cluster, "service": ref.key, "arn": lb["LoadBalancerArn"]},
        )
        return lb

    def _reconcile_load_balancer(
        self, lb: Mapping[str, Any], spec: model.NlbSpec, group_id: str
    ) -> None:
        arn = lb["LoadBalancerArn"]
        have = {zone["SubnetId"] for zone in lb.get("AvailabilityZones", [])}
        if have != set(spec.subnets):
            self._api.call(
                self._api.elbv2,
                "set_subnets",
                LoadBalancerArn=arn,
                SubnetMappings=self._subnet_mappings(spec),
            )
        if list(lb.get("SecurityGroups", [])) != [group_id]:
            self._api.call(
                self._api.elbv2,
                "set_security_groups",
                LoadBalancerArn=arn,
                SecurityGroups=[group_id],
            )

    def _ensure_security_group(self, ref: ServiceRef, spec: model.NlbSpec, vpc_id: str) -> str:
        # Always created with the NLB: AWS cannot add a security group to an NLB created
        # without one, and it is where loadBalancerSourceRanges are enforced.
        group = self._find_security_group(ref)
        if group is None:
            created = self._api.call(
                self._api.ec2,
                "create_security_group",
                GroupName=spec.name,
                Description=f"lbprovider NLB for {ref.key}",
                VpcId=vpc_id,
                TagSpecifications=[
                    {"ResourceType": "security-group", "Tags": naming.aws_tags(ref)}
                ],
            )
            group = {"GroupId": created["GroupId"], "IpPermissions": []}
        group_id = str(group["GroupId"])
        authorize, revoke = model.rule_diff(spec.rules, model.cidr_rules_of(group))
        if revoke:
            self._api.call(
                self._api.ec2,
                "revoke_security_group_ingress",
                GroupId=group_id,
                IpPermissions=model.cidr_permissions(revoke),
            )
        if authorize:
            self._api.call(
                self._api.ec2,
                "authorize_security_group_ingress",
                GroupId=group_id,
                IpPermissions=model.cidr_permissions(authorize),
            )
        return group_id

    def _ensure_target_groups(
        self,
        ref: ServiceRef,
        spec: model.NlbSpec,
        vpc_id: str,
        existing: Mapping[str, Mapping[str, Any]],
    ) -> dict[str, str]:
        arns: dict[str, str] = {}
        for group in spec.target_groups:
            found = existing.get(group.name)
            if found is None:
                arn, new = self._create_target_group(ref, group, vpc_id)
            else:
                arn, new = str(found["TargetGroupArn"]), False
                self._sync_health(arn, group, found)
            arns[group.name] = arn
            self._sync_stickiness(arn, group, new=new)
            self._sync_targets(arn, group, new=new)
        return arns

    def _create_target_group(
        self, ref: ServiceRef, group: model.TargetGroupSpec, vpc_id: str
    ) -> tuple[str, bool]:
        """``(arn, new)``: a new group, or ours left unattached by a crash (adopted)."""
        params: dict[str, Any] = {
            "Name": group.name,
            "Protocol": group.protocol,
            "Port": group.port,
            "VpcId": vpc_id,
            "TargetType": group.target_type,
            "HealthCheckEnabled": True,
            "HealthCheckProtocol": group.health.protocol,
            "HealthCheckPort": group.health.port,
            "Tags": naming.aws_tags(ref),
        }
        if group.health.path is not None:
            params["HealthCheckPath"] = group.health.path
        try:
            created = self._api.call(self._api.elbv2, "create_target_group", **params)
        except CloudApiError as exc:
            if exc.code != "DuplicateTargetGroupName":
                raise
            # Not attached to our NLB, so the lookup missed it: a crash before
            # CreateListener (or before CreateLoadBalancer).
            adopted = self._adopt_group(ref, group.name)
            arn = str(adopted["TargetGroupArn"])
            self._sync_health(arn, group, adopted)
            return arn, False
        return str(created["TargetGroups"][0]["TargetGroupArn"]), True

    def _sync_health(
        self, arn: str, group: model.TargetGroupSpec, found: Mapping[str, Any]
    ) -> None:
        update = model.health_update(group, found)
        if update is not None:
            self._api.call(self._api.elbv2, "modify_target_group", TargetGroupArn=arn, **update)

    def _sync_stickiness(self, arn: str, group: model.TargetGroupSpec, *, new: bool) -> None:
        if new and not group.sticky:
            return  # a new group is not sticky by default
        attributes = self._api.call(
            self._api.elbv2, "describe_target_group_attributes", TargetGroupArn=arn
        ).get("Attributes", [])
        update = model.stickiness_update(group, attributes)
        if update is not None:
            self._api.call(
                self._api.elbv2,
                "modify_target_group_attributes",
                TargetGroupArn=arn,
                Attributes=update,
            )

    def _sync_targets(self, arn: str, group: model.TargetGroupSpec, *, new: bool) -> None:
        have: set[model.Target] = set() if new else self._registered(arn)
        register, deregister = model.target_diff(group.targets, have)
        for batch in batched(register, TARGET_BATCH):
            self._api.call(
                self._api.elbv2,
                "register_targets",
                TargetGroupArn=arn,
                Targets=model.target_list(batch),
            )
        for batch in batched(deregister, TARGET_BATCH):
            self._api.call(
                self._api.elbv2,
                "deregister_targets",
                TargetGroupArn=arn,
                Targets=model.target_list(batch),
            )

    def _reconcile_listeners(
        self, ref: ServiceRef, lb_arn: str, spec: model.NlbSpec, arns: Mapping[str, str]
    ) -> None:
        changes = model.listener_diff(self._listeners(lb_arn), spec, arns)
        for listener_arn in changes.delete:
            self._delete(self._api.elbv2, "delete_listener", ListenerArn=listener_arn)
        for want in changes.create:
            self._api.call(
                self._api.elbv2,
                "create_listener",
                LoadBalancerArn=lb_arn,
                Protocol=want.protocol,
                Port=want.port,
                DefaultActions=[{"Type": "forward", "TargetGroupArn": arns[want.target_group]}],
                Tags=naming.aws_tags(ref),
            )

    # -- backend rules on the nodes' security groups ---------------------------------------

    def _instance_groups(self, instance_ids: Iterable[str]) -> dict[str, tuple[str, ...]]:
        """Security groups of each target instance (gone ones omitted).

        A filter, not ``InstanceIds``: a terminated node must not fail the whole call.
        """
        found: dict[str, tuple[str, ...]] = {}
        for batch in batched(sorted(set(instance_ids)), FILTER_VALUES):
            reservations = self._api.pages(
                self._api.ec2,
                "describe_instances",
                "Reservations",
                Filters=[{"Name": "instance-id", "Values": list(batch)}],
            )
            found.update(model.instance_groups_of(reservations))
        return found

    def _security_groups(self, name: str, values: list[str]) -> dict[str, dict[str, Any]]:
        found: dict[str, dict[str, Any]] = {}
        for batch in batched(values, FILTER_VALUES):
            groups = self._api.pages(
                self._api.ec2,
                "describe_security_groups",
                "SecurityGroups",
                Filters=[{"Name": name, "Values": list(batch)}],
            )
            found.update({str(group["GroupId"]): dict(group) for group in groups})
        return found

    def _sync_backend_rules(
        self,
        ref: ServiceRef,
        *,
        source: str,
        rules: frozenset[model.BackendRule],
        instance_ids: frozenset[str],
    ) -> None:
        """Make the node groups of ``instance_ids`` allow ``rules`` from ``source``; revoke
        the rest (groups that carry our rules but no longer hold a target lose them)."""
        mark = naming.marker(ref)
        want: dict[str, frozenset[model.BackendRule]] = {}
        if rules and instance_ids:
            for groups in self._instance_groups(instance_ids).values():
                for group_id in groups:
                    want[group_id] = rules
        current = self._security_groups("ip-permission.group-id", [source])
        missing = sorted(set(want) - set(current))
        if missing:
            current.update(self._security_groups("group-id", missing))
        for group_id in sorted(set(current) | set(want)):
            group = current.get(group_id)
            if group is None:
                continue  # went away between the two reads
            authorize, revoke = model.backend_diff(
                want.get(group_id, frozenset()),
                model.backend_rules_of(group, source=source, mark=mark),
            )
            if revoke:
                self._api.call(
                    self._api.ec2,
                    "revoke_security_group_ingress",
                    GroupId=group_id,
                    IpPermissions=model.backend_permissions(revoke, source=source, mark=mark),
                )
            if authorize:
                try:
                    self._api.call(
                        self._api.ec2,
                        "authorize_security_group_ingress",
                        GroupId=group_id,
                        IpPermissions=model.backend_permissions(
                            authorize, source=source, mark=mark
                        ),
                    )
                except CloudApiError as exc:
                    if exc.code == "InvalidPermission.Duplicate":
                        # Added by someone else since our read: read again next time.
                        raise RetryAfter(
                            5, f"security group {group_id} changed meanwhile"
                        ) from None
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

    # -- deletions (not found is success) ---------------------------------------------------

    def _delete(self, client: Any, operation: str, **params: Any) -> None:
        self._api.call_or_none(client, operation, **params)

    def _delete_target_group(self, arn: str) -> None:
        try:
            self._delete(self._api.elbv2, "delete_target_group", TargetGroupArn=arn)
        except CloudApiError as exc:
            if exc.code == "ResourceInUse":
                raise RetryAfter(5, "target group still in use by a deleted listener") from None
            raise
