"""The Alibaba Cloud SLB provider: read the remote state, diff with the model, apply.

One SLB instance per Service, found by its ownership tags (or reused through
the ``alibaba-cloud-loadbalancer-id`` annotation, and then never deleted).
What it should hold is ``model.py``'s (pure); what it holds is read through
``api.py``; only the calls the difference needs are made, so an unchanged
Service costs zero writes (and no ECS lookup: only Pod IPs the VServerGroups
do not already hold with an ENI are looked up).
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from lbprovider.cloud import (
    DesiredLoadBalancer,
    InvalidService,
    LoadBalancerStatus,
    ProviderConfigError,
    ServiceRef,
)
from lbprovider.providerkit import CallPolicy
from lbprovider_alibaba import model, naming
from lbprovider_alibaba.api import SlbApi
from lbprovider_alibaba.model import BackendKey, RemoteLoadBalancer, WantedListener
from lbprovider_alibaba.options import LOADBALANCER_ID, parse_options, reuse_id
from lbprovider_alibaba.settings import Settings, credentials_of, parse_settings

log = logging.getLogger(__name__)


class AlibabaProvider:
    """SLB load balancers for one configured class."""

    name = "alibaba"

    def __init__(self, *, settings: Settings, cluster_name: str, api: SlbApi) -> None:
        self._settings = settings
        self._cluster = cluster_name
        self._api = api

    # -- the contract --------------------------------------------------------------------
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
        options = parse_options(ref, self._settings)
        wanted, found = model.wanted_listeners(desired, region=self._settings.region)
        warnings = list(found)
        if options.reuse_id is not None:
            lb = self._api.describe_load_balancer(options.reuse_id)
            if lb is None:
                raise InvalidService(
                    f"annotation {LOADBALANCER_ID}: load balancer {options.reuse_id} does not exist"
                )
            warnings.extend(model.reused_warnings(lb, desired))
        else:
            lb = self._find_owned(ref)
            if lb is None:
                spec, found = model.new_load_balancer(
                    desired,
                    options,
                    cluster=self._cluster,
                    vpc_id=self._settings.vpc_id,
                    delete_protection=self._settings.delete_protection,
                )
                warnings.extend(found)
                lb = self._api.create_load_balancer(spec)
                log.info("created load balancer", extra={"service": ref.key, "lb_id": lb.lb_id})
            else:
                warnings.extend(model.existing_warnings(lb, desired, options))
        warnings.extend(self._sync(lb, ref, wanted, shared=options.reuse_id is not None))
        log.info("ensured load balancer", extra={"service": ref.key, "lb_id": lb.lb_id})
        return model.status(lb, model.served_ports(wanted), warnings)

    def update_backends(self, desired: DesiredLoadBalancer) -> None:
        ref = desired.ref
        reused = reuse_id(ref)
        lb = self._api.describe_load_balancer(reused) if reused else self._find_owned(ref)
        if lb is None:
            return  # nothing to update; the next ensure() creates it
        wanted, _ = model.wanted_listeners(desired, region=self._settings.region)
        warnings = self._sync(lb, ref, wanted, shared=reused is not None)
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
                self._sync(lb, ref, (), shared=True)
        for owned in self._owned(ref):
            if owned.lb_id == reused:
                continue
            if owned.delete_protection:
                self._api.set_delete_protection(owned.lb_id, enabled=False)
            self._api.delete_load_balancer(owned.lb_id)
            log.info("deleted load balancer", extra={"service": ref.key, "lb_id": owned.lb_id})

    def close(self) -> None:
        """Release the SDK client's connections (not part of the contract; idempotent)."""
        self._api.close()

    # -- reading -------------------------------------------------------------------------
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

    def _vpc_of(self, lb: RemoteLoadBalancer) -> str | None:
        """The VPC whose ENIs may back this load balancer (private IPs repeat across VPCs)."""
        return self._settings.vpc_id or lb.vpc_id or None

    # -- applying the difference ---------------------------------------------------------
    def _sync(
        self,
        lb: RemoteLoadBalancer,
        ref: ServiceRef,
        wanted: Sequence[WantedListener],
        *,
        shared: bool,
    ) -> tuple[str, ...]:
        """Listeners, groups and backends of ``ref`` on ``lb`` as ``wanted``; the warnings."""
        lb_id = lb.lb_id
        groups = model.our_groups(self._api.describe_vserver_groups(lb_id), ref)
        plan = model.plan_listeners(
            lb_id, wanted, self._api.describe_listeners(lb_id), groups, shared=shared
        )
        for protocol, port in plan.stale:
            self._api.delete_listener(lb_id, protocol, port)
        # Read every group we keep first: what they hold tells which Pod IPs need a lookup.
        held: dict[str, frozenset[BackendKey]] = {}
        for step in plan.steps:
            if step.group_id is not None and step.group_id not in held:
                held[step.group_id] = self._api.group_backends(step.group_id)
        owners, warnings = self._eni_owners(wanted, held.values(), vpc_id=self._vpc_of(lb))

        kept: set[str] = set()
        for step in plan.steps:
            backends = model.group_backends(step.want, owners)
            if step.group_id is None:
                group_id = self._api.create_vserver_group(
                    lb_id, step.want.group_name, sorted(backends), naming.ownership_tags(ref)
                )
            else:
                group_id = step.group_id
                remove, add = model.backend_diff(held[group_id], backends)
                if remove:
                    self._api.remove_backends(group_id, remove)
                if add:
                    self._api.add_backends(group_id, add)
            kept.add(group_id)
            self._apply_listener(
                lb_id, step.want, model.listener_change(step.want, group_id, step.live)
            )
        for group_id in model.stale_groups(groups, kept):
            self._api.delete_vserver_group(group_id)
        return warnings

    def _apply_listener(
        self, lb_id: str, want: WantedListener, change: model.ListenerChange
    ) -> None:
        if change.create is not None:
            self._api.create_listener(lb_id, want.protocol, want.port, change.create)
        if change.update is not None:
            self._api.set_listener(lb_id, want.protocol, want.port, change.update)
        if change.start:
            self._api.start_listener(lb_id, want.protocol, want.port)

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
