"""The AWS provider: one Network Load Balancer per Service, reconciled by diff.

Each ``ensure`` reads the NLB, its listeners, the target groups attached to it,
their targets, the NLB's security group (all decided by ownership tags) and the
backend rules on the nodes' security groups (:meth:`AwsProvider._read`), lets
the local model turn the difference into an ordered list of writes
(:func:`lbprovider_aws.model.diff`) and makes exactly those: an unchanged
Service costs zero write calls.  ``plan`` is the same read and diff, reporting
the list instead of applying it, so the two cannot disagree.  Target groups are read
from the NLB (``DescribeTargetGroups(LoadBalancerArn)``), never by scanning the
region; only ``delete`` scans by name prefix, for groups a crash left unattached.
The one place ``ensure`` departs from the list: such a group, which the read
cannot see, makes ``CreateTargetGroup`` fail as a duplicate; it is adopted and
brought in line from its own read (``plan`` said "create target group").

Backend rules cost: the target instances (one read per 200 ids) and the groups
that already reference the NLB's group (one read); the instances' groups are
read only when some do not reference it yet.  Writes: at most one revoke and
one authorize per group, none when nothing changed.
"""

from __future__ import annotations

import contextlib
import logging
import threading
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any

from lbprovider.cloud import (
    BackendMode,
    CloudApiError,
    CloudError,
    DesiredLoadBalancer,
    Ingress,
    InvalidService,
    LoadBalancerStatus,
    NodeTarget,
    OwnedLoadBalancer,
    PlannedChange,
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


@dataclass(slots=True, kw_only=True)
class _Applying:
    """What ``ensure`` learns while it applies a diff: the objects it has created so far
    (mutable on purpose: later steps refer to what earlier ones created)."""

    ref: ServiceRef
    spec: model.NlbSpec
    vpc_id: str
    lb: dict[str, Any] | None
    group_id: str | None
    backend_id: str | None
    """The cluster's shared backend security group."""
    arns: dict[str, str]
    """Target group ARNs by name, existing and created."""
    adopted: set[str] = field(default_factory=set)
    """Groups adopted from a crash and reconciled from their own read."""

    def source(self) -> str:
        """The NLB's security group (the diff creates it before any step that needs it)."""
        if self.group_id is None:
            raise CloudError(f"security group of {self.ref.key} missing while applying")
        return self.group_id

    def backend(self) -> str:
        """The shared backend group (the diff creates it before any step that needs it)."""
        if self.backend_id is None:
            raise CloudError(f"backend security group missing while applying {self.ref.key}")
        return self.backend_id

    def lb_arn(self) -> str:
        if self.lb is None:
            raise CloudError(f"load balancer of {self.ref.key} missing while applying")
        return str(self.lb["LoadBalancerArn"])


class SharedGroupUse:
    """Who may use, and who may release, the cluster's shared backend group in this process.

    A sync that may attach the group (``ensure``, ``update_backends``) holds it from its
    read to its last write; the last NLB's deletion releases the group only when no sync
    holds it, and new syncs wait while it does. Without this, a sync read the group, the
    release deleted it, and the sync's rule write failed with ``InvalidGroup.NotFound``
    (a Service created while the cluster's last one was deleted).
    """

    def __init__(self) -> None:
        self._condition = threading.Condition()
        self._users = 0
        self._releasing = False

    @contextlib.contextmanager
    def using(self) -> Iterator[None]:
        """For the length of the block, the group is not released."""
        with self._condition:
            while self._releasing:
                self._condition.wait()
            self._users += 1
        try:
            yield
        finally:
            with self._condition:
                self._users -= 1
                self._condition.notify_all()

    def release_unless_used(self, release: Callable[[], None]) -> bool:
        """Run ``release`` unless a sync holds the group (it will attach the group to its NLB;
        a later deletion releases it then); False when skipped."""
        with self._condition:
            if self._users:
                return False
            self._releasing = True
        try:
            release()
        finally:
            with self._condition:
                self._releasing = False
                self._condition.notify_all()
        return True


def op_group(op: model.Op) -> str | None:
    """The target group a step changes in place (skipped once that group was adopted)."""
    if isinstance(op, model.ModifyHealth | model.ModifyAttributes | model.ChangeTargets):
        return op.group
    return None


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
        self._shared_group = SharedGroupUse()
        self._vpc_by_subnet: dict[str, str] = {}
        self._defaults = model.Defaults(
            kube_proxy_health_port=settings.kube_proxy_health_port,
            cluster_health_check=settings.cluster_health_check,
        )

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
        """Our NLB, its tags and the target groups attached to it, decided by tags in one
        DescribeTags call.  The NLB's name is derived from cluster + Service UID, so the
        exact-name lookup (one call, ``LoadBalancerNotFound`` on a miss) finds every NLB this
        provider made: a miss never pages through the region."""
        named = self._api.call_or_none(
            self._api.elbv2, "describe_load_balancers", Names=[naming.load_balancer_name(ref)]
        )
        candidates = [
            lb for lb in (named or {}).get("LoadBalancers", []) if lb.get("Type") == "network"
        ]
        if not candidates:
            return Found(lb=None, lb_tags={}, groups={})
        return self._pick(ref, candidates, with_groups)

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

    def _tagged_security_groups(self, tags: Mapping[str, str]) -> list[dict[str, Any]]:
        """The security groups carrying every one of ``tags``, sorted by id."""
        groups = self._api.call(
            self._api.ec2,
            "describe_security_groups",
            Filters=[{"Name": f"tag:{key}", "Values": [value]} for key, value in tags.items()],
        ).get("SecurityGroups", [])
        return sorted((dict(group) for group in groups), key=lambda group: str(group["GroupId"]))

    def _backend_group(self) -> dict[str, Any] | None:
        """The cluster's shared backend security group (by its tags), or None."""
        groups = self._tagged_security_groups(
            {naming.CLUSTER_TAG: self._cluster, naming.ROLE_TAG: naming.BACKEND_ROLE}
        )
        return groups[0] if groups else None

    def _find_security_group(self, ref: ServiceRef) -> dict[str, Any] | None:
        groups = self._tagged_security_groups(
            {naming.CLUSTER_TAG: ref.cluster, naming.SERVICE_UID_TAG: ref.uid}
        )
        return groups[0] if groups else None

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

    def _subnets(self, subnets: tuple[str, ...]) -> tuple[dict[str, str], dict[str, str]]:
        """CIDR and Availability Zone of each subnet (one call)."""
        found = self._api.call(self._api.ec2, "describe_subnets", SubnetIds=list(subnets))
        items = found.get("Subnets", [])
        return (
            {str(item["SubnetId"]): str(item["CidrBlock"]) for item in items},
            {str(item["SubnetId"]): str(item["AvailabilityZone"]) for item in items},
        )

    def _read(
        self, ref: ServiceRef, spec: model.NlbSpec, *, backends_only: bool = False
    ) -> model.Remote:
        """Everything :func:`model.diff` compares, reads only.  ``backends_only`` reads what
        ``update_backends`` may change: registrations and node rules of an existing NLB."""
        found = self._find(ref)
        lb = found.lb
        if backends_only and lb is None:
            return model.Remote(
                lb=None,
                lb_tags={},
                listeners=(),
                groups={},
                attributes={},
                targets={},
                security_group=None,
                instance_groups={},
                node_groups={},
            )
        wanted = {group.name for group in spec.target_groups}
        attributes: dict[str, tuple[Mapping[str, Any], ...]] = {}
        targets: dict[str, frozenset[model.Target]] = {}
        for name, group in found.groups.items():
            if name not in wanted:
                continue  # deleted as a whole: its details do not matter
            arn = group["TargetGroupArn"]
            if not backends_only:
                attributes[name] = tuple(
                    self._api.call(
                        self._api.elbv2, "describe_target_group_attributes", TargetGroupArn=arn
                    ).get("Attributes", [])
                )
            targets[name] = frozenset(self._registered(arn))
        backend_group = self._backend_group()
        backend_id = str(backend_group["GroupId"]) if backend_group is not None else None
        security_group: dict[str, Any] | None
        if backends_only:
            # The NLB's own group is ours (ensure set it); its own rules are not needed here.
            own = [
                str(item)
                for item in (lb.get("SecurityGroups", []) if lb is not None else [])
                if item != backend_id
            ]
            security_group = {"GroupId": own[0]} if own else None
        else:
            security_group = self._find_security_group(ref)
        instance_groups: dict[str, tuple[str, ...]] = {}
        running: frozenset[str] | None = None
        if spec.instance_ids:
            # One read serves both: the instances' groups and which ones are running.
            instance_groups, running = self._instances(spec.instance_ids)
        node_groups: dict[str, dict[str, Any]] = {}
        holding = sorted({group_id for groups in instance_groups.values() for group_id in groups})
        if holding and spec.backend_rules:
            node_groups = self._security_groups("group-id", holding)
        full = not backends_only
        cidrs: dict[str, str] | None = None
        zones: dict[str, str] | None = None
        moving = lb is not None and {
            str(zone["SubnetId"]) for zone in lb.get("AvailabilityZones", [])
        } != set(spec.subnets)
        if full and (moving or model.needs_subnet_cidrs(spec, lb, found.lb_tags)):
            cidrs, zones = self._subnets(spec.subnets)
        return model.Remote(
            lb=lb,
            lb_tags=found.lb_tags,
            listeners=tuple(self._listeners(lb["LoadBalancerArn"])) if full and lb else (),
            groups=found.groups,
            attributes=attributes,
            targets=targets,
            security_group=security_group,
            instance_groups=instance_groups,
            node_groups=node_groups,
            backend_group=backend_group,
            running=running,
            vpc_id=self._vpc_id(spec.subnets) if full else "",
            subnet_cidrs=cidrs,
            subnet_zones=zones,
        )

    def _spec(self, desired: DesiredLoadBalancer) -> model.NlbSpec:
        options = parse_options(desired.ref)
        subnets = model.subnets_for(options, self._settings.subnets)
        return model.build(desired, options=options, subnets=subnets, defaults=self._defaults)

    # -- the contract ---------------------------------------------------------------------

    def targets(self, node: NodeTarget) -> bool:
        """An EC2 instance (``aws:///zone/i-...``)."""
        return model.instance_id(node.provider_id) is not None

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

    def plan(self, desired: DesiredLoadBalancer) -> tuple[PlannedChange, ...]:
        """What ``ensure(desired)`` would change: the same read and diff, nothing applied."""
        spec = self._spec(desired)
        remote = self._read(desired.ref, spec)
        return model.changes_of(
            model.diff(
                spec,
                remote,
                mark=naming.marker(desired.ref),
                backend_mark=naming.backend_marker(self._cluster),
            )
        )

    def ensure(self, desired: DesiredLoadBalancer) -> LoadBalancerStatus:
        """Create or bring in line the NLB, its listeners, target groups and security group."""
        ref = desired.ref
        spec = self._spec(desired)
        with self._shared_group.using():
            remote = self._read(ref, spec)
            steps = model.diff(
                spec,
                remote,
                mark=naming.marker(ref),
                backend_mark=naming.backend_marker(self._cluster),
            )
            applied = self._apply(ref, spec, remote, steps)
        if any(isinstance(step.op, model.SetSubnets) and step.op.partial for step in steps):
            # AWS takes up to 3 minutes to remove a subnet; the new one is added after.
            raise RetryAfter(60, "changing a zone's subnet: the old subnet is being removed")
        lb = applied.lb
        if lb is None or applied.group_id is None:  # diff always creates both
            raise CloudError(f"load balancer of {ref.key} was not created")
        state = lb.get("State", {}).get("Code")
        if state == "failed":
            raise CloudError(f"load balancer {lb['LoadBalancerArn']} is in state failed")
        log.info(
            "ensured load balancer",
            extra={
                "cluster": self._cluster,
                "service": ref.key,
                "arn": lb["LoadBalancerArn"],
                "writes": len(steps),
            },
        )
        warnings = spec.warnings
        if not lb.get("SecurityGroups"):
            # Adopted from outside (an NLB created without security groups): AWS cannot add
            # any, and replacing it would change its DNS name under the users' feet.
            warnings += (
                f"NLB {lb['LoadBalancerName']} was created without security groups and AWS "
                "cannot add them: loadBalancerSourceRanges are not enforced and the nodes' "
                "security groups must allow the clients themselves; recreate the Service to "
                "get an NLB with security groups",
            )
        if desired.backend_mode is BackendMode.POD_IP:
            warnings += (
                "IP targets: the Pods' security groups must allow traffic from the NLB's "
                f"security group {applied.group_id} (lbprovider adds rules to node security "
                "groups only)",
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
            desired,
            options=options,
            subnets=options.subnets or self._settings.subnets,
            defaults=self._defaults,
        )
        with self._shared_group.using():
            remote = self._read(ref, spec, backends_only=True)
            steps = model.diff(
                spec,
                remote,
                mark=naming.marker(ref),
                backend_mark=naming.backend_marker(self._cluster),
                backends_only=True,
            )
            self._apply(ref, spec, remote, steps)

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
            self._delete_group_and_node_rules(
                str(security_group["GroupId"]),
                mark=naming.marker(ref),
                # The deleted NLB's network interfaces take a while to go; a rule someone
                # else added elsewhere with this group as source also holds it.
                in_use="security group still in use (the deleted NLB, or another's rule)",
            )
        self._shared_group.release_unless_used(self._release_backend_group)
        log.info("deleted load balancer", extra={"service": ref.key})

    def list_owned(self) -> tuple[OwnedLoadBalancer, ...]:
        """Every NLB in the region tagged with this cluster, whatever Service it names.

        ELBv2 has no tag filter on DescribeLoadBalancers: every page of it, then
        DescribeTags per 20 ARNs.  This provider never reuses an NLB it did not create,
        so every NLB carrying the tags is one it made.
        """
        network = [
            lb
            for lb in self._api.pages(self._api.elbv2, "describe_load_balancers", "LoadBalancers")
            if lb.get("Type") == "network"
        ]
        tagged = self._tags_of([str(lb["LoadBalancerArn"]) for lb in network])
        owned: list[OwnedLoadBalancer] = []
        for lb in network:
            arn = str(lb["LoadBalancerArn"])
            tags = tagged.get(arn, {})
            uid = tags.get(naming.SERVICE_UID_TAG)
            if tags.get(naming.CLUSTER_TAG) != self._cluster or not uid:
                continue
            key = tags.get(naming.SERVICE_NAME_TAG, "")
            owned.append(OwnedLoadBalancer(lb_id=arn, service_uid=uid, service_key=key))
        return tuple(sorted(owned, key=lambda item: item.lb_id))

    # -- applying the diff ------------------------------------------------------------------

    def _apply(
        self,
        ref: ServiceRef,
        spec: model.NlbSpec,
        remote: model.Remote,
        steps: Iterable[model.Step],
    ) -> _Applying:
        """Make the calls ``steps`` name, in order, resolving what earlier ones created."""
        applying = _Applying(
            ref=ref,
            spec=spec,
            vpc_id=remote.vpc_id,
            lb=dict(remote.lb) if remote.lb is not None else None,
            group_id=(
                str(remote.security_group["GroupId"]) if remote.security_group is not None else None
            ),
            backend_id=(
                str(remote.backend_group["GroupId"]) if remote.backend_group is not None else None
            ),
            arns={name: str(tg["TargetGroupArn"]) for name, tg in remote.groups.items()},
        )
        for step in steps:
            self._apply_step(applying, step.op)
        return applying

    def _apply_step(self, applying: _Applying, op: model.Op) -> None:
        ref, spec, elbv2, ec2 = applying.ref, applying.spec, self._api.elbv2, self._api.ec2
        if isinstance(op, model.DeleteLoadBalancer):
            log.info(
                "replacing load balancer",
                extra={"cluster": self._cluster, "service": ref.key, "arn": op.arn},
            )
            self._delete(elbv2, "delete_load_balancer", LoadBalancerArn=op.arn)
            applying.lb = None
        elif isinstance(op, model.CreateSecurityGroup):
            # Always created with the NLB: AWS cannot add a security group to an NLB created
            # without one, and it is where loadBalancerSourceRanges are enforced.
            created = self._api.call(
                ec2,
                "create_security_group",
                GroupName=spec.name,
                Description=f"lbprovider NLB for {ref.key}",
                VpcId=applying.vpc_id,
                TagSpecifications=[
                    {"ResourceType": "security-group", "Tags": naming.aws_tags(ref)}
                ],
            )
            applying.group_id = str(created["GroupId"])
        elif isinstance(op, model.CreateBackendGroup):
            applying.backend_id = self._create_backend_group(applying.vpc_id)
        elif isinstance(op, model.ChangeCidrRules):
            self._api.call(
                ec2,
                "authorize_security_group_ingress" if op.add else "revoke_security_group_ingress",
                GroupId=applying.source(),
                IpPermissions=model.cidr_permissions(op.rules),
            )
        elif isinstance(op, model.ChangeBackendRules):
            if op.shared:
                self._change_backend_rules(
                    ref, applying.backend(), op, mark=naming.backend_marker(self._cluster)
                )
            else:
                self._change_backend_rules(ref, applying.source(), op)
        elif isinstance(op, model.CreateTargetGroup):
            self._create_target_group(applying, op.group)
        elif op_group(op) in applying.adopted:
            pass  # reconciled from a fresh read when it was adopted
        elif isinstance(op, model.ModifyHealth):
            self._api.call(
                elbv2, "modify_target_group", TargetGroupArn=applying.arns[op.group], **op.params
            )
        elif isinstance(op, model.ModifyAttributes):
            self._api.call(
                elbv2,
                "modify_target_group_attributes",
                TargetGroupArn=applying.arns[op.group],
                Attributes=[dict(item) for item in op.attributes],
            )
        elif isinstance(op, model.ChangeTargets):
            for batch in batched(op.targets, TARGET_BATCH):
                self._api.call(
                    elbv2,
                    "register_targets" if op.add else "deregister_targets",
                    TargetGroupArn=applying.arns[op.group],
                    Targets=model.target_list(batch),
                )
        elif isinstance(op, model.CreateLoadBalancer):
            extra = {naming.REQUESTED_IP_TAG: spec.requested_ip} if spec.requested_ip else None
            created = self._api.call(
                elbv2,
                "create_load_balancer",
                Name=spec.name,
                Type="network",
                Scheme=spec.scheme,
                IpAddressType="ipv4",
                SubnetMappings=[dict(item) for item in op.mappings],
                SecurityGroups=[applying.source(), applying.backend()],
                Tags=naming.aws_tags(ref, extra),
            )
            applying.lb = dict(created["LoadBalancers"][0])
            log.info(
                "created load balancer",
                extra={
                    "cluster": self._cluster,
                    "service": ref.key,
                    "arn": applying.lb["LoadBalancerArn"],
                },
            )
        elif isinstance(op, model.SetSubnets):
            self._api.call(
                elbv2,
                "set_subnets",
                LoadBalancerArn=applying.lb_arn(),
                SubnetMappings=[dict(item) for item in op.mappings],
            )
        elif isinstance(op, model.SetSecurityGroups):
            self._api.call(
                elbv2,
                "set_security_groups",
                LoadBalancerArn=applying.lb_arn(),
                SecurityGroups=[applying.source(), applying.backend()],
            )
        elif isinstance(op, model.DeleteListener):
            self._delete(elbv2, "delete_listener", ListenerArn=op.arn)
        elif isinstance(op, model.CreateListener):
            want = op.listener
            self._api.call(
                elbv2,
                "create_listener",
                LoadBalancerArn=applying.lb_arn(),
                Protocol=want.protocol,
                Port=want.port,
                DefaultActions=[
                    {"Type": "forward", "TargetGroupArn": applying.arns[want.target_group]}
                ],
                Tags=naming.aws_tags(ref),
            )
        elif isinstance(op, model.DeleteTargetGroup):
            self._delete_target_group(op.arn)

    def _create_target_group(self, applying: _Applying, group: model.TargetGroupSpec) -> None:
        """A new group; or ours left unattached by a crash, adopted and reconciled."""
        ref = applying.ref
        params: dict[str, Any] = {
            "Name": group.name,
            "Protocol": group.protocol,
            "Port": group.port,
            "VpcId": applying.vpc_id,
            "TargetType": group.target_type,
            "HealthCheckEnabled": True,
            **group.health.params(),
            "Tags": naming.aws_tags(ref),
        }
        try:
            created = self._api.call(self._api.elbv2, "create_target_group", **params)
        except CloudApiError as exc:
            if exc.code != "DuplicateTargetGroupName":
                raise
            # Not attached to our NLB, so the read missed it: a crash before
            # CreateListener (or before CreateLoadBalancer).  The diff assumed a new
            # group, so this one is reconciled from a fresh read of it instead.
            adopted = self._adopt_group(ref, group.name)
            arn = str(adopted["TargetGroupArn"])
            applying.arns[group.name] = arn
            attributes = self._api.call(
                self._api.elbv2, "describe_target_group_attributes", TargetGroupArn=arn
            ).get("Attributes", [])
            for step in model.group_steps(
                group.name, group, adopted, attributes, self._registered(arn)
            ):
                self._apply_step(applying, step.op)
            applying.adopted.add(group.name)
            return
        applying.arns[group.name] = str(created["TargetGroups"][0]["TargetGroupArn"])

    # -- backend rules on the nodes' security groups ---------------------------------------

    def _create_backend_group(self, vpc_id: str) -> str:
        """The cluster's shared backend group; another worker's, if it won the race."""
        try:
            created = self._api.call(
                self._api.ec2,
                "create_security_group",
                GroupName=naming.backend_group_name(self._cluster),
                Description=f"lbprovider NLBs of cluster {self._cluster} (node access)",
                VpcId=vpc_id,
                TagSpecifications=[
                    {"ResourceType": "security-group", "Tags": naming.backend_tags(self._cluster)}
                ],
            )
        except CloudApiError as exc:
            if exc.code != "InvalidGroup.Duplicate":
                raise
            found = self._backend_group()
            if found is None:
                raise RetryAfter(5, "backend security group being created meanwhile") from None
            return str(found["GroupId"])
        return str(created["GroupId"])

    def _release_backend_group(self) -> None:
        """Once no NLB carries the shared backend group any more, its node rules and the
        group go.  ELBv2 cannot filter by security group: every page of the region's load
        balancers, on delete only."""
        backend = self._backend_group()
        if backend is None:
            return
        group_id = str(backend["GroupId"])
        balancers = self._api.pages(self._api.elbv2, "describe_load_balancers", "LoadBalancers")
        if any(group_id in lb.get("SecurityGroups", []) for lb in balancers):
            return
        self._delete_group_and_node_rules(
            group_id,
            mark=naming.backend_marker(self._cluster),
            in_use="backend security group still in use",  # deleted NLBs' interfaces linger
        )

    def _delete_group_and_node_rules(self, group_id: str, *, mark: str, in_use: str) -> None:
        """Revoke the node rules (ours, by ``mark``) sourced from ``group_id``, which AWS
        requires first, then delete the group; ``RetryAfter`` while AWS says it is in use.
        A rule or group already gone is fine (a concurrent deletion, or a retry)."""
        revokes = model.backend_steps(
            mark=mark,
            source=group_id,
            want=frozenset(),
            instance_groups={},
            node_groups=self._security_groups("ip-permission.group-id", [group_id]),
        )
        for step in revokes:
            if isinstance(step.op, model.ChangeBackendRules):
                self._api.call_or_none(
                    self._api.ec2,
                    "revoke_security_group_ingress",
                    GroupId=step.op.group_id,
                    IpPermissions=model.backend_permissions(
                        step.op.ranges, source=group_id, mark=mark
                    ),
                )
        try:
            self._delete(self._api.ec2, "delete_security_group", GroupId=group_id)
        except CloudApiError as exc:
            if exc.code == "DependencyViolation":
                raise RetryAfter(15, in_use) from None
            raise

    def _instances(
        self, instance_ids: Iterable[str]
    ) -> tuple[dict[str, tuple[str, ...]], frozenset[str]]:
        """Security groups of each target instance (gone ones omitted) and the ids of those
        running, as cloud-provider-aws reads them before registering.

        A filter, not ``InstanceIds``: a terminated node must not fail the whole call.
        """
        groups: dict[str, tuple[str, ...]] = {}
        running: set[str] = set()
        for batch in batched(sorted(set(instance_ids)), FILTER_VALUES):
            reservations = self._api.pages(
                self._api.ec2,
                "describe_instances",
                "Reservations",
                Filters=[{"Name": "instance-id", "Values": list(batch)}],
            )
            groups.update(model.instance_groups_of(reservations))
            running.update(model.running_of(reservations))
        return groups, frozenset(running)

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

    def _change_backend_rules(
        self, ref: ServiceRef, source: str, op: model.ChangeBackendRules, *, mark: str = ""
    ) -> None:
        """One revoke or authorize on a node group, rules sourced from ``source`` (the NLB's
        group, or the shared backend group with ``mark``)."""
        mark = mark or naming.marker(ref)
        permissions = model.backend_permissions(op.ranges, source=source, mark=mark)
        if not op.add:
            self._api.call(
                self._api.ec2,
                "revoke_security_group_ingress",
                GroupId=op.group_id,
                IpPermissions=permissions,
            )
        else:
            try:
                self._api.call(
                    self._api.ec2,
                    "authorize_security_group_ingress",
                    GroupId=op.group_id,
                    IpPermissions=permissions,
                )
            except CloudApiError as exc:
                if exc.code == "InvalidPermission.Duplicate":
                    # Added by someone else since our read: read again next time.
                    raise RetryAfter(5, f"security group {op.group_id} changed meanwhile") from None
                raise
        log.info(
            "synced backend security group rules",
            extra={
                "service": ref.key,
                "group": op.group_id,
                "authorized" if op.add else "revoked": len(op.ranges),
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
