"""The Tencent Cloud CLB provider: Services of type LoadBalancer as CLB instances.

Local model vs remote model: each call builds the wanted CLB (``model.build``),
reads the CLB, its listeners and targets (``api``) before any write, and
computes one diff (``model.changes``): ``ensure`` makes exactly those writes,
``plan`` reports them, so the two cannot disagree and an unchanged Service
costs no write.  Our CLB is found by the ownership tags; our
listeners by their name (``naming``), which is what makes a reused CLB
(``tke-existed-lbid``) safe: only those listeners are ever touched there, and
a reused CLB is never deleted.

CLB writes are asynchronous tasks: ``api`` waits a moment for each and
otherwise raises ``RetryAfter``; the next call resumes from what it reads.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Mapping
from typing import Any

from lbprovider.cloud import (
    CloudError,
    DesiredLoadBalancer,
    InvalidService,
    LoadBalancerStatus,
    NodeTarget,
    OwnedLoadBalancer,
    PlannedChange,
    RetryAfter,
    ServiceRef,
)
from lbprovider.cloud.tags import CLUSTER_TAG, SERVICE_NAME_TAG, SERVICE_UID_TAG, is_owned_by
from lbprovider_tencent import model, naming
from lbprovider_tencent.api import ClbApi, TencentApiError
from lbprovider_tencent.model import (
    ClbSpec,
    ListenerDiff,
    ListenerSpec,
    PortKey,
    RemoteClb,
    RemoteState,
    TargetDiff,
    TargetKey,
)
from lbprovider_tencent.naming import cluster_filters, owner_filters
from lbprovider_tencent.options import (
    Options,
    parse_options,
    reused_lb_id,
)
from lbprovider_tencent.settings import TencentSettings, load_credentials, parse_settings

log = logging.getLogger(__name__)


class TencentProvider:
    """Cloud load balancers on Tencent Cloud CLB for one configured class."""

    name = "tencent"

    def __init__(self, *, settings: TencentSettings, api: ClbApi, cluster_name: str) -> None:
        self._settings = settings
        self._api = api
        self._cluster = cluster_name
        self._health = model.HealthPolicy(
            cluster_check=settings.cluster_health_check,
            kube_proxy_port=settings.kube_proxy_health_port,
        )

    # ---- reading ------------------------------------------------------------------

    def _owned(self, ref: ServiceRef) -> list[RemoteClb]:
        """Our CLBs, found by the ownership tags (cluster + Service UID), oldest first."""
        found = self._api.describe_load_balancers(filters=owner_filters(ref))
        return [lb for lb in found if is_owned_by(dict(lb.tags), ref)]

    def _find(self, ref: ServiceRef, options: Options) -> RemoteClb | None:
        if options.reuse_lb_id is not None:
            lb_id = options.reuse_lb_id
            return model.check_reusable(ref, self._api.describe_load_balancer(lb_id), lb_id)
        owned = self._owned(ref)
        if len(owned) > 1:
            log.warning(
                "several CLBs carry one Service's ownership tags; using the oldest",
                extra={"service": ref.key, "lb_ids": [lb.lb_id for lb in owned]},
            )
        return owned[0] if owned else None

    def _read(self, ref: ServiceRef, options: Options, *, conflicts: bool = True) -> RemoteState:
        """The CLB, its listeners and our listeners' targets: everything the diff needs,
        read before any write (a CLB still being created has no listener yet)."""
        lb = self._find(ref, options)
        conflict = None
        if conflicts and options.reuse_lb_id is not None:
            owned = self._owned(ref)
            conflict = owned[0].lb_id if owned else None
        if lb is None or not lb.ready:
            return RemoteState(lb=lb, conflict=conflict)
        listeners = self._api.describe_listeners(lb.lb_id)
        if listeners is None:
            raise self._gone(lb.lb_id)
        mine = [item.listener_id for item in model.ours(ref, listeners)]
        return RemoteState(
            lb=lb,
            listeners=tuple(listeners),
            targets=self._api.describe_targets(lb.lb_id, mine) if mine else {},
            conflict=conflict,
        )

    def _gone(self, lb_id: str) -> RetryAfter:
        return RetryAfter(
            self._settings.retry_after_seconds, f"CLB {lb_id} disappeared while being read"
        )

    def _spec(self, desired: DesiredLoadBalancer) -> tuple[Options, ClbSpec]:
        options = parse_options(desired.ref)
        return options, model.build(desired, options, health=self._health)

    # ---- the contract -------------------------------------------------------------

    def targets(self, node: NodeTarget) -> bool:
        """A CVM instance (``qcloud:///zone/ins-...``)."""
        return naming.instance_id(node) is not None

    def get(self, ref: ServiceRef) -> LoadBalancerStatus | None:
        lb = self._find(ref, parse_options(ref))
        if lb is None:
            return None
        listeners = self._api.describe_listeners(lb.lb_id)
        if listeners is None:
            return None
        return model.status(lb, model.served_ports(ref, listeners))

    def ensure(self, desired: DesiredLoadBalancer) -> LoadBalancerStatus:
        ref = desired.ref
        options, spec = self._spec(desired)
        for node in spec.skipped_nodes:
            log.warning(
                "node has a qcloud providerID without an instance id; skipped",
                extra={"node": node},
            )
        remote = self._read(ref, options)
        todo = model.changes(spec, ref, remote)
        lb = remote.lb
        if todo.create_lb is not None:
            lb = self._create(todo.create_lb, desired)
        assert lb is not None  # changes() asks for a CLB exactly when none was read
        if not lb.ready:
            raise RetryAfter(self._settings.retry_after_seconds, f"CLB {lb.lb_id} is being created")
        ids = self._apply_listeners(lb.lb_id, todo.listeners)
        self._apply_targets(lb.lb_id, todo.targets, ids)
        warnings = (*spec.warnings, *model.drift_warnings(spec, desired, lb))
        log.info("ensured load balancer", extra={"service": ref.key, "lb_id": lb.lb_id})
        return model.status(lb, [item.key for item in spec.listeners], warnings)

    def plan(self, desired: DesiredLoadBalancer) -> tuple[PlannedChange, ...]:
        """What ``ensure`` would write, from the same read and the same diff; reads only."""
        options, spec = self._spec(desired)
        remote = self._read(desired.ref, options)
        return model.changes(spec, desired.ref, remote).planned()

    def update_backends(self, desired: DesiredLoadBalancer) -> None:
        ref = desired.ref
        options, spec = self._spec(desired)
        remote = self._read(ref, options, conflicts=False)
        if remote.lb is None or not remote.lb.ready:
            return  # ensure() creates it and registers the backends
        ids = model.listener_ids(spec, ref, remote.listeners)
        # Only listeners that exist: creating one is ensure()'s job.
        self._apply_targets(remote.lb.lb_id, model.target_changes(spec, ids, remote.targets), ids)

    def delete(self, ref: ServiceRef) -> None:
        reuse_id = reused_lb_id(ref)
        if reuse_id is not None:
            for item in model.ours(ref, self._api.describe_listeners(reuse_id) or ()):
                self._api.delete_listener(reuse_id, item.listener_id)
        for lb in self._owned(ref):
            if lb.lb_id == reuse_id:
                continue  # a CLB named by tke-existed-lbid is never deleted
            log.info("deleting load balancer", extra={"service": ref.key, "lb_id": lb.lb_id})
            self._api.delete_load_balancer(lb.lb_id)

    def list_owned(self) -> tuple[OwnedLoadBalancer, ...]:
        """Every CLB of the region tagged with this cluster (one tag-filtered, paged
        lookup).  A reused CLB carries no ownership tags, so it is never listed."""
        found = self._api.describe_load_balancers(filters=cluster_filters(self._cluster))
        return tuple(
            OwnedLoadBalancer(
                lb_id=lb.lb_id,
                service_uid=lb.tags[SERVICE_UID_TAG],
                service_key=lb.tags.get(SERVICE_NAME_TAG, ""),
            )
            for lb in found
            # The filter is the cloud's; check again, and skip a CLB tagged by hand
            # without a Service UID (nothing could delete it by its owner).
            if lb.tags.get(CLUSTER_TAG) == self._cluster and lb.tags.get(SERVICE_UID_TAG)
        )

    # ---- applying the diff ----------------------------------------------------------

    def _create(self, spec: ClbSpec, desired: DesiredLoadBalancer) -> RemoteClb:
        if self._settings.vpc_id is None:
            raise CloudError("settings.vpc_id: required to create a CLB")
        log.info("creating load balancer", extra={"service": desired.ref.key})
        try:
            return self._api.create_load_balancer(
                spec, ref=desired.ref, vpc_id=self._settings.vpc_id
            )
        except TencentApiError as error:
            if error.code.startswith("InvalidParameter") and (
                spec.subnet_id or desired.requested_ip
            ):
                # The subnet annotation or loadBalancerIP is what the CLB refused.
                raise InvalidService(f"CLB refused the Service's settings: {error}") from None
            raise

    def _apply_listeners(self, lb_id: str, diff: ListenerDiff) -> dict[PortKey, str]:
        """Make the listener writes; (protocol, port) -> id of every wanted listener."""
        for gone in diff.delete:
            self._api.delete_listener(lb_id, gone.listener_id)
        ids = dict(diff.ids)
        for listener in diff.create:
            ids[listener.key] = self._api.create_listener(lb_id, listener)
        for current, listener in diff.modify:
            self._api.modify_listener(lb_id, current.listener_id, listener)
        return ids

    def _apply_targets(
        self,
        lb_id: str,
        targets: Iterable[tuple[ListenerSpec, TargetDiff]],
        ids: Mapping[PortKey, str],
    ) -> None:
        register: list[tuple[str, TargetKey]] = []
        deregister: list[tuple[str, TargetKey]] = []
        for listener, diff in targets:
            listener_id = ids.get(listener.key)
            if listener_id is None:
                continue  # update_backends: a listener ensure() has yet to create
            register.extend((listener_id, key) for key in diff.register)
            deregister.extend((listener_id, key) for key in diff.deregister)
        # Across every listener at once (one call per 500 targets); register before
        # deregistering so no listener runs empty mid-change.
        if register:
            self._api.register_targets(lb_id, register)
        if deregister:
            self._api.deregister_targets(lb_id, deregister)


def create(settings: Mapping[str, Any], *, cluster_name: str) -> TencentProvider:
    """The ``lbprovider.providers`` factory for Tencent Cloud CLB."""
    parsed = parse_settings(settings)
    api = ClbApi(settings=parsed, credentials=load_credentials(parsed))
    return TencentProvider(settings=parsed, api=api, cluster_name=cluster_name)
