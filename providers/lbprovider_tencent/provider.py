"""The Tencent Cloud CLB provider: Services of type LoadBalancer as CLB instances.

Local model vs remote model: each call builds the wanted CLB (``model.build``),
reads the CLB, its listeners and targets (``api``), and makes only the writes
the diff asks for (``model.listener_diff``, ``model.target_diff``), so an
unchanged Service costs no write.  Our CLB is found by the ownership tags; our
listeners by their name (``naming``), which is what makes a reused CLB
(``tke-existed-lbid``) safe: only those listeners are ever touched there, and
a reused CLB is never deleted.

CLB writes are asynchronous tasks: ``api`` waits a moment for each and
otherwise raises ``RetryAfter``; the next call resumes from what it reads.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from typing import Any

from lbprovider.cloud import (
    CloudError,
    DesiredLoadBalancer,
    InvalidService,
    LoadBalancerStatus,
    RetryAfter,
    ServiceRef,
)
from lbprovider.cloud.tags import is_owned_by
from lbprovider_tencent import model
from lbprovider_tencent.api import ClbApi, TencentApiError
from lbprovider_tencent.model import ClbSpec, PortKey, RemoteClb
from lbprovider_tencent.naming import owner_filters
from lbprovider_tencent.options import (
    ANNOTATION_EXISTED_LBID,
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

    def _gone(self, lb_id: str) -> RetryAfter:
        return RetryAfter(
            self._settings.retry_after_seconds, f"CLB {lb_id} disappeared while being read"
        )

    # ---- the contract -------------------------------------------------------------

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
        options = parse_options(ref)
        spec = model.build(desired, options)
        for node in spec.skipped_nodes:
            log.warning(
                "node has a qcloud providerID without an instance id; skipped",
                extra={"node": node},
            )
        lb = self._find(ref, options)
        if options.reuse_lb_id is not None:
            owned = self._owned(ref)
            if owned:
                raise InvalidService(
                    f"the Service already has its own CLB {owned[0].lb_id}; "
                    f"switching to {ANNOTATION_EXISTED_LBID} needs a new Service"
                )
        if lb is None:
            lb = self._create(spec, desired)
        if not lb.ready:
            raise RetryAfter(self._settings.retry_after_seconds, f"CLB {lb.lb_id} is being created")
        warnings = (*spec.warnings, *model.drift_warnings(spec, desired, lb))
        listener_ids = self._sync_listeners(spec, ref, lb.lb_id)
        self._sync_targets(spec, lb.lb_id, listener_ids)
        log.info("ensured load balancer", extra={"service": ref.key, "lb_id": lb.lb_id})
        return model.status(lb, [item.key for item in spec.listeners], warnings)

    def update_backends(self, desired: DesiredLoadBalancer) -> None:
        ref = desired.ref
        options = parse_options(ref)
        lb = self._find(ref, options)
        if lb is None or not lb.ready:
            return  # ensure() creates it and registers the backends
        remote = self._api.describe_listeners(lb.lb_id)
        if remote is None:
            return
        spec = model.build(desired, options)
        mine = {item.name: item.listener_id for item in model.ours(ref, remote)}
        listener_ids = {item.key: mine[item.name] for item in spec.listeners if item.name in mine}
        self._sync_targets(spec, lb.lb_id, listener_ids)

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

    # ---- applying the diff ----------------------------------------------------------

    def _create(self, spec: ClbSpec, desired: DesiredLoadBalancer) -> RemoteClb:
        if self._settings.vpc_id is None:
            raise CloudError("settings.vpc_id: required to create a CLB")
        log.info("creating load balancer", extra={"service": desired.ref.key})
        try:
            lb_id = self._api.create_load_balancer(spec, vpc_id=self._settings.vpc_id)
        except TencentApiError as error:
            if error.code.startswith("InvalidParameter") and (
                spec.subnet_id or desired.requested_ip
            ):
                # The subnet annotation or loadBalancerIP is what the CLB refused.
                raise InvalidService(f"CLB refused the Service's settings: {error}") from None
            raise
        lb = self._api.describe_load_balancer(lb_id) if lb_id else None
        if lb is None:
            raise RetryAfter(self._settings.retry_after_seconds, f"CLB {lb_id} not visible yet")
        return lb

    def _sync_listeners(self, spec: ClbSpec, ref: ServiceRef, lb_id: str) -> dict[PortKey, str]:
        """Make our listeners match the spec; (protocol, port) -> listener id."""
        remote = self._api.describe_listeners(lb_id)
        if remote is None:
            raise self._gone(lb_id)
        diff = model.listener_diff(spec, ref, lb_id, remote)
        for listener_id in diff.delete:
            self._api.delete_listener(lb_id, listener_id)
        ids = dict(diff.ids)
        for listener in diff.create:
            ids[listener.key] = self._api.create_listener(lb_id, listener)
        for listener_id, listener in diff.modify:
            self._api.modify_listener(lb_id, listener_id, listener)
        return ids

    def _sync_targets(self, spec: ClbSpec, lb_id: str, listener_ids: Mapping[PortKey, str]) -> None:
        if not listener_ids:
            return
        have = self._api.describe_targets(lb_id, listener_ids.values())
        for listener in spec.listeners:
            listener_id = listener_ids.get(listener.key)
            if listener_id is None:
                continue
            diff = model.target_diff(listener.targets, have.get(listener_id, frozenset()))
            # Register before deregistering so the listener never runs empty mid-change.
            self._api.register_targets(lb_id, listener_id, diff.register)
            self._api.deregister_targets(lb_id, listener_id, diff.deregister)


def create(settings: Mapping[str, Any], *, cluster_name: str) -> TencentProvider:
    """The ``lbprovider.providers`` factory for Tencent Cloud CLB."""
    parsed = parse_settings(settings)
    api = ClbApi(settings=parsed, credentials=load_credentials(parsed))
    return TencentProvider(settings=parsed, api=api, cluster_name=cluster_name)
