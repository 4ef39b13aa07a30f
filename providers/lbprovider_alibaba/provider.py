"""The Alibaba Cloud SLB provider: read the remote state, diff with the model, apply.

One SLB instance per Service, found by its ownership tags (or reused through
the ``alibaba-cloud-loadbalancer-id`` annotation, and then never deleted).
What it should hold is ``model.py``'s (pure); what it holds is read through
``api.py``.  :meth:`AlibabaProvider._diff` is the one computation behind
``ensure`` and ``plan``: it reads, then ``model.sync_changes`` lists the
changes; ``ensure`` applies them, ``plan`` reports them, so they cannot
disagree.  An unchanged Service costs zero writes (and no ECS lookup: only
Pod IPs the VServerGroups do not already hold with an ENI are looked up).
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, assert_never

from lbprovider.cloud import (
    DesiredLoadBalancer,
    InvalidService,
    LoadBalancerStatus,
    NodeTarget,
    OwnedLoadBalancer,
    PlannedChange,
    ProviderConfigError,
    ServiceRef,
)
from lbprovider.providerkit import CallPolicy
from lbprovider_alibaba import model, naming
from lbprovider_alibaba.api import SlbApi
from lbprovider_alibaba.model import (
    BackendKey,
    Change,
    GroupRef,
    NewLoadBalancer,
    RemoteLoadBalancer,
    WantedListener,
)
from lbprovider_alibaba.options import LOADBALANCER_ID, Options, parse_options, reuse_id
from lbprovider_alibaba.settings import Settings, credentials_of, parse_settings

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True, kw_only=True)
class Diff:
    """One read of the cloud against one desired load balancer: what ``ensure`` must do."""

    target: RemoteLoadBalancer | NewLoadBalancer
    """The load balancer found (owned or reused), or the one to create."""
    changes: tuple[Change, ...]
    """Listener, group and backend changes on it, in order (none: in sync)."""
    wanted: tuple[WantedListener, ...]
    warnings: tuple[str, ...]

    def planned(self) -> tuple[PlannedChange, ...]:
        create = self.target if isinstance(self.target, NewLoadBalancer) else None
        return model.planned(self.changes, create=create)


class AlibabaProvider:
    """SLB load balancers for one configured class."""

    name = "alibaba"

    def __init__(self, *, settings: Settings, cluster_name: str, api: SlbApi) -> None:
        self._settings = settings
        self._cluster = cluster_name
        self._api = api

    # -- the contract --------------------------------------------------------------------
    def targets(self, node: NodeTarget) -> bool:
        """An ECS instance of this class's region (``<region>.i-...``)."""
        return bool(naming.instance_ids((node,), region=self._settings.region))

    def get(self, ref: ServiceRef) -> LoadBalancerStatus | None:
        reused = reuse_id(ref)
        lb = self._api.describe_load_balancer(reused) if reused else self._find_owned(ref)
        if lb is None:
            return None
        groups = model.our_groups(self._api.describe_vserver_groups(lb.lb_id), ref)
        listeners = self._api.describe_listeners(lb.lb_id)
        return model.status(lb, model.live_ports(listeners, groups, shared=reused is not None))

    def ensure(self, desired: DesiredLoadBalancer) -> LoadBalancerStatus:
        ref = desired.ref
        diff = self._diff(desired)
        lb = diff.target
        if isinstance(lb, NewLoadBalancer):
            lb = self._api.create_load_balancer(lb)
            log.info("created load balancer", extra={"service": ref.key, "lb_id": lb.lb_id})
        self._apply(lb.lb_id, diff.changes, ref)
        log.info("ensured load balancer", extra={"service": ref.key, "lb_id": lb.lb_id})
        return model.status(lb, model.served_ports(diff.wanted), diff.warnings)

    def plan(self, desired: DesiredLoadBalancer) -> tuple[PlannedChange, ...]:
        return self._diff(desired).planned()

    def update_backends(self, desired: DesiredLoadBalancer) -> None:
        ref = desired.ref
        reused = reuse_id(ref)
        lb = self._api.describe_load_balancer(reused) if reused else self._find_owned(ref)
        if lb is None:
            return  # nothing to update; the next ensure() creates it
        options = parse_options(ref, self._settings)
        wanted, _ = self._wanted(desired, options)
        changes, warnings = self._sync_diff(lb, ref, wanted, shared=reused is not None)
        self._apply(lb.lb_id, changes, ref)
        if warnings:  # no status to carry them: the next ensure() reports them
            log.warning(
                "updated backends with warnings", extra={"service": ref.key, "warnings": warnings}
            )

    def delete(self, ref: ServiceRef) -> None:
        reused = reuse_id(ref)
        if reused is not None:
            lb = self._api.describe_load_balancer(reused)
            if lb is not None:
                # A reused load balancer is never deleted: only our listeners and groups go.
                changes, _ = self._sync_diff(lb, ref, (), shared=True)
                self._apply(lb.lb_id, changes, ref)
        for owned in self._owned(ref):
            if owned.lb_id == reused:
                continue
            # DeleteLoadBalancer refuses a protected instance (OperationDenied.
            # DeleteProtectionIsOn); the attribute call is where SLB documents the flag.
            current = self._api.describe_load_balancer(owned.lb_id)
            if current is None:
                continue  # already gone
            if current.delete_protection:
                if not self._settings.delete_protection:
                    # Not ours to lift: someone protected it on purpose.
                    raise InvalidService(
                        f"load balancer {owned.lb_id} has deletion protection on, and this "
                        "class did not turn it on (its setting delete_protection is false): "
                        "turn it off (SetLoadBalancerDeleteProtection, or the SLB console) to "
                        "let the Service go, or keep the load balancer by removing the "
                        "finalizer lbprovider.io/load-balancer-cleanup"
                    )
                self._api.set_delete_protection(owned.lb_id, enabled=False)
            self._api.delete_load_balancer(owned.lb_id)
            log.info("deleted load balancer", extra={"service": ref.key, "lb_id": owned.lb_id})

    def list_owned(self) -> tuple[OwnedLoadBalancer, ...]:
        # DescribeLoadBalancers filters by tag server-side, every page.
        found = self._api.find_load_balancers(naming.cluster_filter(self._cluster))
        return model.owned_load_balancers(found, cluster=self._cluster)

    def close(self) -> None:
        """Release the SDK client's connections (not part of the contract; idempotent)."""
        self._api.close()

    # -- reading and diffing -------------------------------------------------------------
    def _diff(self, desired: DesiredLoadBalancer) -> Diff:
        """Read what the cloud holds for ``desired`` and list what ``ensure`` must change.

        Reads only.  ``InvalidService`` for what ``ensure`` cannot build.
        """
        ref = desired.ref
        options = parse_options(ref, self._settings)
        wanted, found = self._wanted(desired, options)
        warnings = list(found)
        target: RemoteLoadBalancer | NewLoadBalancer
        lb: RemoteLoadBalancer | None
        if options.reuse_id is not None:
            lb = self._api.describe_load_balancer(options.reuse_id)
            if lb is None:
                raise InvalidService(
                    f"annotation {LOADBALANCER_ID}: load balancer {options.reuse_id} does not exist"
                )
            warnings.extend(model.reused_warnings(lb, desired))
            target = lb
        else:
            lb = self._find_owned(ref)
            if lb is None:
                target, found = model.new_load_balancer(
                    desired,
                    options,
                    cluster=self._cluster,
                    vpc_id=self._settings.vpc_id,
                    delete_protection=self._settings.delete_protection,
                )
                warnings.extend(found)
            else:
                warnings.extend(model.existing_warnings(lb, desired, options))
                target = lb
        changes, found = self._sync_diff(lb, ref, wanted, shared=options.reuse_id is not None)
        warnings.extend(found)
        return Diff(target=target, changes=changes, wanted=wanted, warnings=tuple(warnings))

    def _wanted(
        self, desired: DesiredLoadBalancer, options: Options
    ) -> tuple[tuple[WantedListener, ...], tuple[str, ...]]:
        return model.wanted_listeners(
            desired,
            region=self._settings.region,
            health=model.HealthPolicy(
                cluster_check=self._settings.cluster_health_check,
                kube_proxy_port=self._settings.kube_proxy_health_port,
            ),
            override=options.health,
        )

    def _sync_diff(
        self,
        lb: RemoteLoadBalancer | None,
        ref: ServiceRef,
        wanted: Sequence[WantedListener],
        *,
        shared: bool,
    ) -> tuple[tuple[Change, ...], tuple[str, ...]]:
        """The changes that bring ``ref``'s listeners, groups and backends on ``lb`` (None:
        one still to create, so empty) in line with ``wanted``, and the warnings."""
        if lb is None:
            groups: list[model.RemoteGroup] = []
            listeners: list[model.RemoteListener] = []
        else:
            groups = model.our_groups(self._api.describe_vserver_groups(lb.lb_id), ref)
            listeners = self._api.describe_listeners(lb.lb_id)
        layout = model.plan_listeners(
            lb.lb_id if lb else "", wanted, listeners, groups, shared=shared
        )
        # Read every group we keep: what they hold tells which Pod IPs need a lookup.
        held: dict[str, frozenset[BackendKey]] = {}
        for step in layout.steps:
            if step.group_id is not None and step.group_id not in held:
                held[step.group_id] = self._api.group_backends(step.group_id)
        owners, warnings = self._eni_owners(wanted, held.values(), vpc_id=self._vpc_of(lb))
        return model.sync_changes(layout, groups, held, owners), warnings

    def _owned(self, ref: ServiceRef) -> list[RemoteLoadBalancer]:
        return model.pick_owned(self._api.find_load_balancers(naming.owner_filter(ref)), ref)

    def _find_owned(self, ref: ServiceRef) -> RemoteLoadBalancer | None:
        owned = self._owned(ref)
        if len(owned) > 1:
            log.warning(
                "several load balancers carry one service's tags; using the oldest",
                extra={"service": ref.key, "lb_ids": [lb.lb_id for lb in owned]},
            )
        return owned[0] if owned else None

    def _vpc_of(self, lb: RemoteLoadBalancer | None) -> str | None:
        """The VPC whose ENIs may back this load balancer (private IPs repeat across VPCs)."""
        return self._settings.vpc_id or (lb.vpc_id if lb else "") or None

    def _eni_owners(
        self,
        wanted: Sequence[WantedListener],
        held: Iterable[frozenset[BackendKey]],
        *,
        vpc_id: str | None,
    ) -> tuple[dict[str, str], tuple[str, ...]]:
        """Pod IP -> the ENI that holds it; only IPs the groups do not hold are looked up."""
        owners, unknown = model.known_eni_owners(wanted, held)
        if not unknown:
            return owners, ()
        found = self._api.find_enis(unknown, vpc_id=vpc_id)
        resolved, warnings = model.resolve_eni_owners(unknown, found, vpc_id=vpc_id)
        log.info(
            "looked up the ENIs of pod IPs",
            extra={"ips": len(unknown), "found": len(resolved)},
        )
        return {**owners, **resolved}, warnings

    # -- applying the difference ---------------------------------------------------------
    def _apply(self, lb_id: str, changes: Sequence[Change], ref: ServiceRef) -> None:
        """One call (or batch) per change, in order."""
        made: dict[str, str] = {}  # group name -> id of the groups created here

        def group_id(group: GroupRef) -> str:
            return group.group_id or made[group.name]

        for change in changes:
            match change:
                case model.DeleteListener(listener=(protocol, port)):
                    self._api.delete_listener(lb_id, protocol, port)
                case model.CreateGroup():
                    made[change.name] = self._api.create_vserver_group(
                        lb_id, change.name, change.backends, naming.ownership_tags(ref)
                    )
                case model.RemoveBackends():
                    self._api.remove_backends(change.group_id, change.backends)
                case model.AddBackends():
                    self._api.add_backends(change.group_id, change.backends)
                case model.CreateListener(listener=(protocol, port)):
                    params = {**change.params, "VServerGroupId": group_id(change.group)}
                    self._api.create_listener(lb_id, protocol, port, params)
                    self._api.start_listener(lb_id, protocol, port)
                case model.SetListener(listener=(protocol, port)):
                    params = {**change.params, "VServerGroupId": group_id(change.group)}
                    self._api.set_listener(lb_id, protocol, port, params)
                case model.StartListener(listener=(protocol, port)):
                    self._api.start_listener(lb_id, protocol, port)
                case model.DeleteGroup():
                    self._api.delete_vserver_group(change.group_id)
                case _:
                    assert_never(change)


def create(
    settings: Mapping[str, Any],
    *,
    cluster_name: str,
    policy: CallPolicy | None = None,
) -> AlibabaProvider:
    """The ``lbprovider.providers`` entry point: validate settings, build the SDK client.

    ``policy`` bounds the retries inside one call (tests shorten the waits).
    """
    parsed = parse_settings(settings)
    if not cluster_name:
        raise ProviderConfigError("alibaba: cluster_name must not be empty")
    api = SlbApi(settings=parsed, credentials=credentials_of(parsed), policy=policy)
    return AlibabaProvider(settings=parsed, cluster_name=cluster_name, api=api)
