"""The Tencent Cloud CLB provider: Services of type LoadBalancer as CLB instances.

Local model vs remote model: each call reads the CLB, its listeners and
targets, and makes only the writes the difference needs (an unchanged
Service costs no write).  Our CLB is found by the ownership tags; our
listeners by their name (``lbp-<service uid>-<protocol>-<port>``), which is
what makes a reused CLB (``tke-existed-lbid``) safe: only those listeners are
ever touched there, and a reused CLB is never deleted.

CLB writes are asynchronous tasks.  After starting one, a call waits a moment
(``task_wait_seconds``) and otherwise raises ``RetryAfter``; the next call
resumes from what it reads, so no worker blocks on a slow task.
"""

from __future__ import annotations

import logging
import re
import uuid
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from lbprovider.cloud import (
    BackendMode,
    CloudError,
    DesiredLoadBalancer,
    Ingress,
    InvalidService,
    Listener,
    LoadBalancerStatus,
    PortStatus,
    Protocol,
    RetryAfter,
    ServiceRef,
)
from lbprovider.cloud.tags import CLUSTER_TAG, SERVICE_UID_TAG, is_owned_by, ownership_tags
from lbprovider_tencent.client import ClbApi, ClbApiError
from lbprovider_tencent.settings import TencentSettings, load_credentials, parse_settings

log = logging.getLogger(__name__)

PROVIDER_ID_PREFIX = "qcloud:///"
ANNOTATION_INTERNAL_SUBNET = "service.kubernetes.io/qcloud-loadbalancer-internal-subnetid"
ANNOTATION_EXISTED_LBID = "service.kubernetes.io/tke-existed-lbid"
_SUBNET_ID = re.compile(r"^subnet-[0-9a-z]+$")
_LB_ID = re.compile(r"^lb-[0-9a-z]+$")
_INSTANCE_ID = re.compile(r"^ins-[0-9a-z]+$")
LB_NORMAL = 1
TARGET_BATCH = 20  # RegisterTargets/DeregisterTargets take at most 20 targets
SESSION_MIN, SESSION_MAX = 30, 3600  # CLB's range for SessionExpireTime
NAME_MAX = 60
DESCRIBE_LIMIT = 100

TargetKey = tuple[str, str, int]
"""(``CVM`` or ``ENI``, instance id or IP, port)."""


@dataclass(frozen=True, slots=True, kw_only=True)
class _Plan:
    """What the annotations ask for."""

    internal_subnet: str | None
    reuse_lb_id: str | None


def _plan(ref: ServiceRef) -> _Plan:
    subnet = ref.annotation(ANNOTATION_INTERNAL_SUBNET)
    if subnet is not None and not _SUBNET_ID.match(subnet):
        raise InvalidService(
            f"annotation {ANNOTATION_INTERNAL_SUBNET} must be a subnet id like subnet-abcd1234, "
            f"got {subnet!r}"
        )
    reuse = ref.annotation(ANNOTATION_EXISTED_LBID)
    if reuse is not None and not _LB_ID.match(reuse):
        raise InvalidService(
            f"annotation {ANNOTATION_EXISTED_LBID} must be a CLB id like lb-abcd1234, got {reuse!r}"
        )
    return _Plan(internal_subnet=subnet or None, reuse_lb_id=reuse or None)


def _listener_prefix(ref: ServiceRef) -> str:
    return f"lbp-{ref.uid}-"


def _listener_name(ref: ServiceRef, listener: Listener) -> str:
    return f"{_listener_prefix(ref)}{listener.protocol.value.lower()}-{listener.port}"


def _tags(lb: Mapping[str, Any]) -> dict[str, str]:
    return {str(tag["TagKey"]): str(tag.get("TagValue") or "") for tag in lb.get("Tags") or []}


def _session_expire(desired: DesiredLoadBalancer, warnings: list[str]) -> int:
    if desired.session_affinity is None:
        return 0
    timeout = desired.session_affinity.timeout_seconds
    clamped = max(SESSION_MIN, min(SESSION_MAX, timeout))
    if clamped != timeout:
        warnings.append(
            f"sessionAffinity ClientIP timeout {timeout}s is outside CLB's range "
            f"[{SESSION_MIN}, {SESSION_MAX}]; using {clamped}s"
        )
    return clamped


def _health_check(desired: DesiredLoadBalancer, listener: Listener) -> dict[str, Any]:
    check = desired.health_check
    if check is not None and listener.protocol is Protocol.TCP:
        # externalTrafficPolicy: Local: only nodes with local endpoints answer healthz.
        return {
            "HealthSwitch": 1,
            "CheckType": "HTTP",
            "CheckPort": check.port,
            "HttpCheckPath": check.path,
        }
    if listener.protocol is Protocol.TCP:
        return {"HealthSwitch": 1, "CheckType": "TCP"}
    return {"HealthSwitch": 1}


class TencentProvider:
    """Cloud load balancers on Tencent Cloud CLB for one configured class."""

    name = "tencent"

    def __init__(self, *, settings: TencentSettings, api: ClbApi, cluster_name: str) -> None:
        self._settings = settings
        self._api = api
        self._cluster = cluster_name

    # ---- reading -------------------------------------------------------------

    def _describe_lbs(self, params: Mapping[str, Any]) -> list[dict[str, Any]]:
        found: list[dict[str, Any]] = []
        offset = 0
        while True:
            page = self._api.call(
                "DescribeLoadBalancers", {**params, "Offset": offset, "Limit": DESCRIBE_LIMIT}
            )
            batch = page.get("LoadBalancerSet") or []
            found.extend(batch)
            offset += len(batch)
            if not batch or offset >= int(page.get("TotalCount") or 0):
                return found

    def _owned_lbs(self, ref: ServiceRef) -> list[dict[str, Any]]:
        """Our CLBs, found by the ownership tags (cluster + Service UID), oldest first."""
        filters = [
            {"Name": f"tag:{CLUSTER_TAG}", "Values": [ref.cluster]},
            {"Name": f"tag:{SERVICE_UID_TAG}", "Values": [ref.uid]},
        ]
        return [
            lb for lb in self._describe_lbs({"Filters": filters}) if is_owned_by(_tags(lb), ref)
        ]

    def _reused_lb(self, ref: ServiceRef, lb_id: str) -> dict[str, Any]:
        found = self._describe_lbs({"LoadBalancerIds": [lb_id]})
        if not found:
            raise InvalidService(f"CLB {lb_id} named by {ANNOTATION_EXISTED_LBID} does not exist")
        lb = found[0]
        tags = _tags(lb)
        if CLUSTER_TAG in tags and not is_owned_by(tags, ref):
            raise InvalidService(
                f"CLB {lb_id} is managed by lbprovider for another Service; it cannot be reused"
            )
        return lb

    def _find(self, ref: ServiceRef, plan: _Plan) -> dict[str, Any] | None:
        if plan.reuse_lb_id is not None:
            return self._reused_lb(ref, plan.reuse_lb_id)
        owned = self._owned_lbs(ref)
        if len(owned) > 1:
            log.warning(
                "several CLBs carry one Service's ownership tags; using the oldest",
                extra={"service": ref.key, "lb_ids": [lb["LoadBalancerId"] for lb in owned]},
            )
        return owned[0] if owned else None

    def _listeners(self, lb_id: str) -> list[dict[str, Any]]:
        listeners = self._api.call("DescribeListeners", {"LoadBalancerId": lb_id})
        return list(listeners.get("Listeners") or [])

    def _status(
        self, lb: Mapping[str, Any], ports: Iterable[tuple[int, Protocol]], warnings: list[str]
    ) -> LoadBalancerStatus:
        vips = lb.get("LoadBalancerVips") or []
        port_status = tuple(PortStatus(port=port, protocol=proto) for port, proto in ports)
        ingress = (Ingress(ip=vips[0], ip_mode="VIP", ports=port_status),) if vips else ()
        return LoadBalancerStatus(
            lb_id=str(lb["LoadBalancerId"]), ingress=ingress, warnings=tuple(warnings)
        )

    # ---- the contract --------------------------------------------------------

    def get(self, ref: ServiceRef) -> LoadBalancerStatus | None:
        lb = self._find(ref, _plan(ref))
        if lb is None:
            return None
        prefix = _listener_prefix(ref)
        ports = sorted(
            (int(item["Port"]), Protocol(item["Protocol"]))
            for item in self._listeners(lb["LoadBalancerId"])
            if str(item.get("ListenerName") or "").startswith(prefix)
        )
        return self._status(lb, ports, [])

    def ensure(self, desired: DesiredLoadBalancer) -> LoadBalancerStatus:
        ref = desired.ref
        plan = _plan(ref)
        warnings = self._warnings(desired, plan)
        lb = self._find(ref, plan)
        if plan.reuse_lb_id is not None:
            owned = self._owned_lbs(ref)
            if owned:
                raise InvalidService(
                    f"the Service already has its own CLB {owned[0]['LoadBalancerId']}; "
                    f"switching to {ANNOTATION_EXISTED_LBID} needs a new Service"
                )
        if lb is None:
            lb = self._create(desired, plan)
        lb_id = str(lb["LoadBalancerId"])
        if lb.get("Status") != LB_NORMAL:
            raise RetryAfter(self._settings.retry_after_seconds, f"CLB {lb_id} is being created")
        warnings.extend(self._drift_warnings(desired, plan, lb))
        listener_ids = self._sync_listeners(desired, lb_id, warnings)
        self._sync_targets(desired, lb_id, listener_ids)
        log.info("ensured load balancer", extra={"service": ref.key, "lb_id": lb_id})
        return self._status(
            lb, [(item.port, item.protocol) for item in desired.listeners], warnings
        )

    def update_backends(self, desired: DesiredLoadBalancer) -> None:
        lb = self._find(desired.ref, _plan(desired.ref))
        if lb is None or lb.get("Status") != LB_NORMAL:
            return  # ensure() creates it and registers the backends
        lb_id = str(lb["LoadBalancerId"])
        names = {_listener_name(desired.ref, item): item for item in desired.listeners}
        listener_ids = {
            (names[name].protocol, names[name].port): str(item["ListenerId"])
            for item in self._listeners(lb_id)
            if (name := str(item.get("ListenerName") or "")) in names
        }
        self._sync_targets(desired, lb_id, listener_ids)

    def delete(self, ref: ServiceRef) -> None:
        reuse = ref.annotation(ANNOTATION_EXISTED_LBID)
        reuse_id = reuse if reuse and _LB_ID.match(reuse) else None
        if reuse_id is not None:
            found = self._describe_lbs({"LoadBalancerIds": [reuse_id]})
            if found:
                self._delete_our_listeners(ref, reuse_id)
        for lb in self._owned_lbs(ref):
            lb_id = str(lb["LoadBalancerId"])
            if lb_id == reuse_id:
                continue  # a CLB named by tke-existed-lbid is never deleted
            task = self._api.call("DeleteLoadBalancer", {"LoadBalancerIds": [lb_id]})
            log.info("deleting load balancer", extra={"service": ref.key, "lb_id": lb_id})
            self._api.wait_task(str(task["RequestId"]), f"deleting {lb_id}")

    # ---- steps ---------------------------------------------------------------

    def _warnings(self, desired: DesiredLoadBalancer, plan: _Plan) -> list[str]:
        warnings: list[str] = []
        if plan.reuse_lb_id is not None and plan.internal_subnet is not None:
            warnings.append(
                f"{ANNOTATION_INTERNAL_SUBNET} is ignored: the Service reuses CLB "
                f"{plan.reuse_lb_id} ({ANNOTATION_EXISTED_LBID})"
            )
        if desired.requested_ip and plan.internal_subnet is None and plan.reuse_lb_id is None:
            warnings.append(
                "loadBalancerIP is honoured only for internal CLBs "
                f"({ANNOTATION_INTERNAL_SUBNET}); a public CLB gets its address from Tencent Cloud"
            )
        if desired.source_ranges:
            warnings.append(
                "loadBalancerSourceRanges is not supported by the tencent provider; "
                "restrict access with CLB security groups"
            )
        if desired.health_check is not None and any(
            item.protocol is Protocol.UDP for item in desired.listeners
        ):
            warnings.append(
                "the externalTrafficPolicy: Local health check applies to TCP listeners only; "
                "UDP listeners keep CLB's default check"
            )
        return warnings

    def _drift_warnings(
        self, desired: DesiredLoadBalancer, plan: _Plan, lb: Mapping[str, Any]
    ) -> list[str]:
        warnings: list[str] = []
        lb_id = lb["LoadBalancerId"]
        if plan.reuse_lb_id is None:
            wanted = "INTERNAL" if plan.internal_subnet else "OPEN"
            if lb.get("LoadBalancerType") != wanted:
                warnings.append(
                    f"CLB {lb_id} is {lb.get('LoadBalancerType')} but the Service asks for "
                    f"{wanted}; the type of a CLB cannot change, recreate the Service"
                )
        vips = lb.get("LoadBalancerVips") or []
        internal = lb.get("LoadBalancerType") == "INTERNAL"
        if desired.requested_ip and internal and desired.requested_ip not in vips:
            warnings.append(
                f"loadBalancerIP {desired.requested_ip} differs from CLB {lb_id}'s address "
                f"{', '.join(vips)}; the address of a CLB cannot change"
            )
        return warnings

    def _create(self, desired: DesiredLoadBalancer, plan: _Plan) -> dict[str, Any]:
        ref = desired.ref
        if self._settings.vpc_id is None:
            raise CloudError("tencent: settings key 'vpc_id' is required to create a CLB")
        params: dict[str, Any] = {
            "LoadBalancerType": "INTERNAL" if plan.internal_subnet else "OPEN",
            "LoadBalancerName": f"k8s-{ref.namespace}-{ref.name}"[:NAME_MAX],
            "VpcId": self._settings.vpc_id,
            "Tags": [{"TagKey": k, "TagValue": v} for k, v in ownership_tags(ref).items()],
            # Makes tenacity's retries of this call idempotent.
            "ClientToken": str(uuid.uuid4()),
        }
        if plan.internal_subnet:
            params["SubnetId"] = plan.internal_subnet
            if desired.requested_ip:
                params["Vip"] = desired.requested_ip
        try:
            created = self._api.call("CreateLoadBalancer", params)
        except ClbApiError as error:
            if error.code.startswith("InvalidParameter") and (
                plan.internal_subnet or desired.requested_ip
            ):
                # The subnet annotation or loadBalancerIP is what the CLB refused.
                raise InvalidService(f"CLB refused the Service's settings: {error}") from None
            raise
        lb_id = str((created.get("LoadBalancerIds") or [""])[0])
        log.info("creating load balancer", extra={"service": ref.key, "lb_id": lb_id})
        self._api.wait_task(str(created["RequestId"]), f"creating {lb_id}")
        found = self._describe_lbs({"LoadBalancerIds": [lb_id]})
        if not found:
            raise RetryAfter(self._settings.retry_after_seconds, f"CLB {lb_id} not visible yet")
        return found[0]

    def _sync_listeners(
        self, desired: DesiredLoadBalancer, lb_id: str, warnings: list[str]
    ) -> dict[tuple[Protocol, int], str]:
        """Make our listeners match; returns (protocol, port) -> listener id."""
        ref = desired.ref
        prefix = _listener_prefix(ref)
        remote = self._listeners(lb_id)
        ours = {
            str(item["ListenerName"]): item
            for item in remote
            if str(item.get("ListenerName") or "").startswith(prefix)
        }
        taken = {
            (str(item["Protocol"]), int(item["Port"])): str(item["ListenerId"])
            for item in remote
            if not str(item.get("ListenerName") or "").startswith(prefix)
        }
        wanted = {_listener_name(ref, item): item for item in desired.listeners}
        for name, listener in wanted.items():
            other = taken.get((listener.protocol.value, listener.port))
            if name not in ours and other is not None:
                raise InvalidService(
                    f"{listener.protocol.value} port {listener.port} of CLB {lb_id} is used by "
                    f"listener {other}, which this Service does not own"
                )
        session = _session_expire(desired, warnings)
        for name, item in ours.items():
            if name not in wanted:
                listener_id = str(item["ListenerId"])
                task = self._api.call(
                    "DeleteListener", {"LoadBalancerId": lb_id, "ListenerId": listener_id}
                )
                self._api.wait_task(str(task["RequestId"]), f"deleting listener {listener_id}")
        ids: dict[tuple[Protocol, int], str] = {}
        for name, listener in wanted.items():
            health = _health_check(desired, listener)
            current = ours.get(name)
            if current is None:
                created = self._api.call(
                    "CreateListener",
                    {
                        "LoadBalancerId": lb_id,
                        "Ports": [listener.port],
                        "Protocol": listener.protocol.value,
                        "ListenerNames": [name],
                        "HealthCheck": health,
                        "SessionExpireTime": session,
                    },
                )
                listener_id = str(created["ListenerIds"][0])
                self._api.wait_task(str(created["RequestId"]), f"creating listener {name}")
            else:
                listener_id = str(current["ListenerId"])
                remote_health = current.get("HealthCheck") or {}
                if int(current.get("SessionExpireTime") or 0) != session or any(
                    remote_health.get(key) != value for key, value in health.items()
                ):
                    task = self._api.call(
                        "ModifyListener",
                        {
                            "LoadBalancerId": lb_id,
                            "ListenerId": listener_id,
                            "SessionExpireTime": session,
                            "HealthCheck": health,
                        },
                    )
                    self._api.wait_task(str(task["RequestId"]), f"modifying listener {name}")
            ids[(listener.protocol, listener.port)] = listener_id
        return ids

    def _wanted_targets(self, desired: DesiredLoadBalancer, listener: Listener) -> set[TargetKey]:
        if desired.backend_mode is BackendMode.POD_IP:
            return {("ENI", endpoint.ip, endpoint.port) for endpoint in listener.endpoints}
        if listener.node_port is None:
            return set()
        wanted: set[TargetKey] = set()
        for node in desired.nodes_of(PROVIDER_ID_PREFIX):
            instance_id = node.provider_id.rstrip("/").rsplit("/", 1)[-1]
            if _INSTANCE_ID.match(instance_id):
                wanted.add(("CVM", instance_id, listener.node_port))
            else:
                log.warning(
                    "node has a qcloud providerID without an instance id; skipped",
                    extra={"node": node.name},
                )
        return wanted

    def _sync_targets(
        self,
        desired: DesiredLoadBalancer,
        lb_id: str,
        listener_ids: Mapping[tuple[Protocol, int], str],
    ) -> None:
        if not listener_ids:
            return
        described = self._api.call(
            "DescribeTargets",
            {"LoadBalancerId": lb_id, "ListenerIds": sorted(listener_ids.values())},
        )
        have: dict[str, set[TargetKey]] = {}
        for backend in described.get("Listeners") or []:
            keys: set[TargetKey] = set()
            for target in backend.get("Targets") or []:
                if target.get("Type") == "ENI" or not target.get("InstanceId"):
                    addresses = target.get("PrivateIpAddresses") or [""]
                    keys.add(("ENI", str(addresses[0]), int(target["Port"])))
                else:
                    keys.add(("CVM", str(target["InstanceId"]), int(target["Port"])))
            have[str(backend["ListenerId"])] = keys
        for listener in desired.listeners:
            listener_id = listener_ids.get((listener.protocol, listener.port))
            if listener_id is None:
                continue
            wanted = self._wanted_targets(desired, listener)
            current = have.get(listener_id, set())
            # Register before deregistering so the listener never runs empty mid-change.
            self._change_targets("RegisterTargets", lb_id, listener_id, wanted - current)
            self._change_targets("DeregisterTargets", lb_id, listener_id, current - wanted)

    def _change_targets(
        self, action: str, lb_id: str, listener_id: str, keys: set[TargetKey]
    ) -> None:
        ordered = sorted(keys)
        for start in range(0, len(ordered), TARGET_BATCH):
            targets = [
                {"InstanceId": ident, "Port": port, "Weight": 10}
                if kind == "CVM"
                else {"EniIp": ident, "Port": port, "Weight": 10}
                for kind, ident, port in ordered[start : start + TARGET_BATCH]
            ]
            task = self._api.call(
                action, {"LoadBalancerId": lb_id, "ListenerId": listener_id, "Targets": targets}
            )
            self._api.wait_task(str(task["RequestId"]), f"{action} on {listener_id}")

    def _delete_our_listeners(self, ref: ServiceRef, lb_id: str) -> None:
        prefix = _listener_prefix(ref)
        for item in self._listeners(lb_id):
            if str(item.get("ListenerName") or "").startswith(prefix):
                listener_id = str(item["ListenerId"])
                task = self._api.call(
                    "DeleteListener", {"LoadBalancerId": lb_id, "ListenerId": listener_id}
                )
                self._api.wait_task(str(task["RequestId"]), f"deleting listener {listener_id}")


def create(settings: Mapping[str, Any], *, cluster_name: str) -> TencentProvider:
    """The ``lbprovider.providers`` factory for Tencent Cloud CLB."""
    parsed = parse_settings(settings)
    api = ClbApi(settings=parsed, credentials=load_credentials(parsed))
    return TencentProvider(settings=parsed, api=api, cluster_name=cluster_name)
