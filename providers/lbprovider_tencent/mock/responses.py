"""Thin request parsing and response rendering for the mock CLB (moto style).

:class:`ClbFrontend` is the mock CLB's :class:`lbprovider.mockkit.CloudFrontend`:
the kit's server runs the pipeline (admin routes, counters, faults, latency);
this names the action (``X-TC-Action``), checks the TC3 signature (``auth``)
and the common headers, parses the JSON parameters for the backend and renders
Tencent's ``{"Response": {...}}`` envelope.  Errors, injected faults included,
are HTTP 200 with ``Response.Error``; the ``Content-Type`` is exactly
``application/json`` because the SDK ignores an error body otherwise.
"""

from __future__ import annotations

import functools
import json
import uuid
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

from lbprovider.mockkit import HttpRequest, HttpResponse, MockApiError
from lbprovider.mockkit.server import AdminRoute
from lbprovider.mockkit.spec import ApiSpec, Violation, ViolationKind, load_spec, validate
from lbprovider_tencent.mock import exceptions as exc
from lbprovider_tencent.mock.auth import verify_tc3
from lbprovider_tencent.mock.models import (
    API_VERSION,
    ClbBackend,
    ListenerState,
    LoadBalancerState,
    TargetState,
)

JSON = "application/json"

Params = dict[str, Any]


def _str(params: Params, name: str, *, required: bool = False) -> str | None:
    value = params.get(name)
    if value is None:
        if required:
            raise exc.MissingParameterError(f"The parameter `{name}` is missing")
        return None
    if not isinstance(value, str):
        raise exc.InvalidParameterError(f"`{name}` must be a string")
    return value


def _int(params: Params, name: str, *, default: int | None = None) -> int | None:
    value = params.get(name, default)
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int):
        raise exc.InvalidParameterError(f"`{name}` must be an integer")
    return value


def _list(params: Params, name: str) -> list[Any] | None:
    value = params.get(name)
    if value is None:
        return None
    if not isinstance(value, list):
        raise exc.InvalidParameterError(f"`{name}` must be an array")
    return value


def _str_list(params: Params, name: str) -> list[str] | None:
    values = _list(params, name)
    if values is not None and not all(isinstance(item, str) for item in values):
        raise exc.InvalidParameterError(f"`{name}` must be an array of strings")
    return values


SPEC_PATH = Path(__file__).with_name("spec") / "clb-2018-03-17.json"
"""The vendored contract (``specgen`` from ``tccli``'s ``api.json``; ``scripts/cloud-specs.py``)."""

# TC3 requests carry the common parameters (Action, Region, Timestamp, Version, Language,
# Token, the signature) in X-TC-* headers and Authorization, checked by ``authenticate``;
# the JSON body holds the action's own members only, so every body key is checked against
# the action's input object.  (The v1 form-encoded signature, where they would sit beside
# the members, is not served: the SDK signs with TC3.)

# Which code a violation gets: Tencent's common error codes ("InvalidParameter: 参数错误
# (包括参数格式, 类型等错误)", "InvalidParameterValue: 参数取值错误", "MissingParameter",
# "UnknownParameter", "InvalidAction"; e.g. https://cloud.tencent.com/document/api/1340/52694
# and every product's "错误码" page).  CLB also lists InvalidParameterValue.Range and
# .Length; which of those the gateway uses for a range or list size is unconfirmed, so the
# common code is answered (the provider and the SDK treat the whole family alike).
_ERRORS: dict[ViolationKind, type[exc.ClbError]] = {
    ViolationKind.UNKNOWN_ACTION: exc.InvalidActionError,
    ViolationKind.MISSING: exc.MissingParameterError,
    ViolationKind.UNKNOWN: exc.UnknownParameterError,
    ViolationKind.TYPE: exc.InvalidParameterError,
    ViolationKind.ENUM: exc.InvalidParameterValueError,
    ViolationKind.RANGE: exc.InvalidParameterValueError,
    ViolationKind.TOO_MANY: exc.InvalidParameterValueError,
}
# One error per request, like the API: the first by this order (missing before unknown
# before malformed before out-of-range; the real order is unconfirmed).
_ORDER = (
    ViolationKind.UNKNOWN_ACTION,
    ViolationKind.MISSING,
    ViolationKind.UNKNOWN,
    ViolationKind.TYPE,
    ViolationKind.ENUM,
    ViolationKind.RANGE,
    ViolationKind.TOO_MANY,
)


@functools.cache
def api_spec() -> ApiSpec:
    """The vendored CLB contract (read once)."""
    return load_spec(SPEC_PATH)


def check_request(action: str, params: Mapping[str, Any]) -> None:
    """Refuse a request that breaks the published contract, with the code CLB answers."""
    violations = validate(api_spec(), action, params)
    if violations:
        first = min(violations, key=lambda v: _ORDER.index(v.kind))
        raise _ERRORS[first.kind](_message(action, first))


def _message(action: str, violation: Violation) -> str:
    name = violation.parameter
    if violation.kind is ViolationKind.UNKNOWN_ACTION:
        return (
            f"The action `{action}` is not in the vendored CLB spec "
            "(regenerate it with scripts/cloud-specs.py)"
        )
    if violation.kind is ViolationKind.MISSING:
        return f"The parameter `{name}` is missing"
    if violation.kind is ViolationKind.UNKNOWN:
        return f"The parameter `{name}` is not recognized"
    return f"The parameter `{name}` is invalid: {violation.message}"


def _targets(params: Params) -> list[TargetState]:
    targets = []
    for item in _list(params, "Targets") or []:
        if not isinstance(item, dict):
            raise exc.InvalidParameterError("Targets must hold objects")
        port = _int(item, "Port")
        if port is None:
            raise exc.MissingParameterError("The parameter `Targets.Port` is missing")
        targets.append(
            TargetState(
                instance_id=_str(item, "InstanceId") or "",
                eni_ip=_str(item, "EniIp") or "",
                port=port,
                weight=_int(item, "Weight", default=10) or 0,
            )
        )
    return targets


def _listener_targets(params: Params) -> tuple[str, str, list[TargetState]]:
    """``(LoadBalancerId, ListenerId, Targets)`` of a (De)RegisterTargets call."""
    return (
        _str(params, "LoadBalancerId", required=True) or "",
        _str(params, "ListenerId", required=True) or "",
        _targets(params),
    )


def _batch_targets(params: Params) -> tuple[str, list[tuple[str, TargetState]]]:
    """``(LoadBalancerId, [(ListenerId, target)])`` of a Batch(De)RegisterTargets call."""
    lb_id = _str(params, "LoadBalancerId", required=True) or ""
    found: list[tuple[str, TargetState]] = []
    items = _list(params, "Targets")
    if not items:
        raise exc.MissingParameterError("The parameter `Targets` is missing")
    for item in items:
        if not isinstance(item, dict):
            raise exc.InvalidParameterError("Targets must hold objects")
        listener_id = _str(item, "ListenerId", required=True) or ""
        (target,) = _targets({"Targets": [item]})
        found.append((listener_id, target))
    return lb_id, found


def _render_lb(lb: LoadBalancerState) -> Params:
    return {
        "LoadBalancerId": lb.lb_id,
        "LoadBalancerName": lb.name,
        "LoadBalancerType": lb.lb_type,
        "Forward": 1,
        "LoadBalancerVips": list(lb.vips),
        "Status": lb.status,
        "CreateTime": lb.created,
        "VpcId": lb.vpc_id,
        "SubnetId": lb.subnet_id,
        "Tags": [{"TagKey": key, "TagValue": value} for key, value in lb.tags.items()],
    }


def _render_listener(listener: ListenerState) -> Params:
    return {
        "ListenerId": listener.listener_id,
        "ListenerName": listener.name,
        "Protocol": listener.protocol,
        "Port": listener.port,
        "SessionExpireTime": listener.session_expire_time,
        "HealthCheck": dict(listener.health_check),
        "Scheduler": "WRR",
        "CreateTime": listener.created,
    }


def _render_backends(backend: ClbBackend, listener: ListenerState) -> Params:
    targets = []
    for target in listener.targets:
        if target.instance_id:
            instance = backend.instances[target.instance_id]
            targets.append(
                {
                    "Type": "CVM",
                    "InstanceId": target.instance_id,
                    "Port": target.port,
                    "Weight": target.weight,
                    "PrivateIpAddresses": [instance.private_ip],
                    "InstanceName": instance.node_name,
                }
            )
        else:
            # The API reports ENI targets by address (Backend has no EniIp field).
            targets.append(
                {
                    "Type": "ENI",
                    "InstanceId": "",
                    "Port": target.port,
                    "Weight": target.weight,
                    "PrivateIpAddresses": [target.eni_ip],
                }
            )
    return {
        "ListenerId": listener.listener_id,
        "Protocol": listener.protocol,
        "Port": listener.port,
        "Targets": targets,
    }


class ClbFrontend:
    """The mock CLB's wire protocol over a :class:`ClbBackend` (the kit's CloudFrontend)."""

    name = "tencent"

    def __init__(self, backend: ClbBackend) -> None:
        self.backend = backend
        self.content_type = JSON
        """The replies' Content-Type; a test bends it to show the SDK's trap (DESIGN §5)."""
        self._actions: dict[str, Callable[[Params], Params]] = {
            "CreateLoadBalancer": self.create_load_balancer,
            "DescribeLoadBalancers": self.describe_load_balancers,
            "DeleteLoadBalancer": self.delete_load_balancer,
            "ModifyLoadBalancerAttributes": self.modify_load_balancer_attributes,
            "CreateListener": self.create_listener,
            "DescribeListeners": self.describe_listeners,
            "ModifyListener": self.modify_listener,
            "DeleteListener": self.delete_listener,
            "RegisterTargets": self.register_targets,
            "DeregisterTargets": self.deregister_targets,
            "DescribeTargets": self.describe_targets,
            "BatchRegisterTargets": self.batch_register_targets,
            "BatchDeregisterTargets": self.batch_deregister_targets,
            "DescribeTaskStatus": self.describe_task_status,
        }

    @property
    def served_actions(self) -> frozenset[str]:
        """The actions this mock implements (``specgen`` vendors the contract of these)."""
        return frozenset(self._actions)

    # ---- the CloudFrontend protocol ----------------------------------------------------

    def action_of(self, request: HttpRequest) -> str:
        lower = {name.lower(): value for name, value in request.headers.items()}
        return lower.get("x-tc-action", "")

    def authenticate(self, request: HttpRequest) -> None:
        """Signature, API version, region and action: all refused before any work."""
        if request.method != "POST":
            raise exc.InvalidParameterError("only POST with a JSON body is supported")
        verify_tc3(
            method=request.method,
            headers=request.headers,
            body=request.body,
            credentials=self.backend.credentials,
            now=self.backend.clock.now(),
        )
        lower = {name.lower(): value for name, value in request.headers.items()}
        if lower.get("x-tc-version") != API_VERSION:
            raise exc.UnsupportedVersionError()
        if lower.get("x-tc-region") != self.backend.region:
            raise exc.UnsupportedRegionError(
                f"region {lower.get('x-tc-region')!r} is not served here "
                f"(this mock serves {self.backend.region})"
            )
        action = lower.get("x-tc-action", "")
        if action not in self._actions:
            raise exc.InvalidActionError(f"action {action!r} is not supported by this mock")

    def handle(self, action: str, request: HttpRequest) -> HttpResponse:
        try:
            params = json.loads(request.body or b"{}")
        except ValueError as error:
            raise exc.InvalidParameterFormatError("the body is not JSON") from error
        if not isinstance(params, dict):
            raise exc.InvalidParameterFormatError("the body must be a JSON object")
        check_request(action, params)  # the published contract first, then the rules
        result = self._actions[action](params)
        result.setdefault("RequestId", str(uuid.uuid4()))
        return self._reply({"Response": result})

    def render_error(self, action: str, request: HttpRequest, error: MockApiError) -> HttpResponse:
        # CLB answers every API error (and we every injected fault) as HTTP 200.
        error_body = {"Code": error.code, "Message": error.message}
        return self._reply({"Response": {"Error": error_body, "RequestId": str(uuid.uuid4())}})

    def snapshot(self) -> Any:
        return self.backend.snapshot()

    def reset(self) -> None:
        """Nothing test-only to forget: the mock keeps no request log."""

    def admin_routes(self) -> Mapping[tuple[str, str], AdminRoute]:
        return {("POST", "tasks"): self._tasks, ("GET", "resources"): self._resources}

    def _reply(self, payload: Params) -> HttpResponse:
        return HttpResponse(
            status=200,
            body=json.dumps(payload).encode(),
            headers={"Content-Type": self.content_type},
        )

    # ---- CLB-only admin routes ---------------------------------------------------------

    def _tasks(self, payload: Mapping[str, Any]) -> Any:
        """``{"hold": bool, "fail_next": n, "delay": seconds, "delayed_create": bool}``:
        the async task knobs (``delayed_create``: CreateLoadBalancer answers no id and the
        CLB is listed only once its task is done)."""
        unknown = sorted(set(payload) - {"hold", "fail_next", "delay", "delayed_create"})
        if unknown:
            raise ValueError(f"unknown task knob(s): {', '.join(unknown)}")
        if "delayed_create" in payload:
            self.backend.delayed_create = bool(payload["delayed_create"])
        if "delay" in payload:
            self.backend.task_delay = float(payload["delay"])
        if "fail_next" in payload:
            self.backend.fail_next_tasks(int(payload["fail_next"]))
        if "hold" in payload:
            self.backend.set_hold_tasks(bool(payload["hold"]))
        return {"hold": self.backend.hold_tasks, "delay": self.backend.task_delay}

    def _resources(self, payload: Mapping[str, Any]) -> Any:
        """Counts of CLBs, listeners and targets (what the sandbox checks is left)."""
        return self.backend.resources()

    # ---- actions -------------------------------------------------------------

    def create_load_balancer(self, params: Params) -> Params:
        tags: dict[str, str] = {}
        for item in _list(params, "Tags") or []:
            if not isinstance(item, dict):
                raise exc.InvalidParameterError("Tags must hold objects")
            key = _str(item, "TagKey", required=True) or ""
            tags[key] = _str(item, "TagValue") or ""
        number = _int(params, "Number", default=1)
        if number != 1:
            raise exc.InvalidParameterValueError("this mock creates one load balancer per call")
        lb_type = _str(params, "LoadBalancerType", required=True) or ""
        lb_id, deal, task_id = self.backend.create_load_balancer(
            lb_type=lb_type,
            vpc_id=_str(params, "VpcId"),
            subnet_id=_str(params, "SubnetId"),
            name=_str(params, "LoadBalancerName"),
            vip=_str(params, "Vip"),
            tags=tags,
            client_token=_str(params, "ClientToken"),
        )
        # A delayed creation answers no id (the response doc: "此字段可能返回为空").
        ids = [lb_id] if lb_id else []
        return {"LoadBalancerIds": ids, "DealName": deal, "RequestId": task_id}

    def describe_load_balancers(self, params: Params) -> Params:
        tag_filters: dict[str, list[str]] = {}
        for item in _list(params, "Filters") or []:
            if not isinstance(item, dict):
                raise exc.InvalidParameterError("Filters must hold objects")
            name = _str(item, "Name", required=True) or ""
            values = _str_list(item, "Values") or []
            if not name.startswith("tag:"):
                raise exc.InvalidParameterValueError(
                    f"filter {name!r} is not supported by this mock"
                )
            tag_filters[name[4:]] = values
        offset = _int(params, "Offset", default=0) or 0
        limit = _int(params, "Limit", default=20) or 20
        if not 0 < limit <= 100:
            raise exc.InvalidParameterValueError("Limit must be in [1, 100]")
        order_by = _str(params, "OrderBy") or "CreateTime"
        if order_by != "CreateTime":
            raise exc.InvalidParameterValueError(
                f"OrderBy {order_by!r} is not supported by this mock"
            )
        order_type = _int(params, "OrderType", default=1)
        if order_type not in (0, 1):
            raise exc.InvalidParameterValueError("OrderType must be 0 or 1")
        with self.backend.lock:
            total, found = self.backend.describe_load_balancers(
                lb_ids=_str_list(params, "LoadBalancerIds"),
                tag_filters=tag_filters,
                offset=offset,
                limit=limit,
                newest_first=order_type == 1,
            )
            return {"TotalCount": total, "LoadBalancerSet": [_render_lb(lb) for lb in found]}

    def delete_load_balancer(self, params: Params) -> Params:
        lb_ids = _str_list(params, "LoadBalancerIds")
        if not lb_ids:
            raise exc.MissingParameterError("The parameter `LoadBalancerIds` is missing")
        force = params.get("ForceDelete", False)
        if not isinstance(force, bool):
            raise exc.InvalidParameterError("`ForceDelete` must be a boolean")
        return {"RequestId": self.backend.delete_load_balancers(lb_ids, force=force)}

    def modify_load_balancer_attributes(self, params: Params) -> Params:
        lb_id = _str(params, "LoadBalancerId", required=True) or ""
        task_id = self.backend.modify_load_balancer_attributes(
            lb_id, name=_str(params, "LoadBalancerName")
        )
        return {"RequestId": task_id}

    def create_listener(self, params: Params) -> Params:
        lb_id = _str(params, "LoadBalancerId", required=True) or ""
        ports = _list(params, "Ports")
        if not ports or not all(isinstance(p, int) and not isinstance(p, bool) for p in ports):
            raise exc.MissingParameterError("The parameter `Ports` is missing or not integers")
        health = params.get("HealthCheck") or {}
        if not isinstance(health, dict):
            raise exc.InvalidParameterError("HealthCheck must be an object")
        listener_ids, task_id = self.backend.create_listeners(
            lb_id,
            ports=ports,
            protocol=_str(params, "Protocol", required=True) or "",
            names=_str_list(params, "ListenerNames") or [],
            session_expire_time=_int(params, "SessionExpireTime", default=0) or 0,
            health_check=health,
        )
        return {"ListenerIds": listener_ids, "RequestId": task_id}

    def describe_listeners(self, params: Params) -> Params:
        lb_id = _str(params, "LoadBalancerId", required=True) or ""
        with self.backend.lock:
            found = self.backend.describe_listeners(
                lb_id,
                listener_ids=_str_list(params, "ListenerIds"),
                protocol=_str(params, "Protocol"),
                port=_int(params, "Port"),
            )
            listeners = [_render_listener(item) for item in found]
            return {"Listeners": listeners, "TotalCount": len(listeners)}

    def modify_listener(self, params: Params) -> Params:
        health = params.get("HealthCheck")
        if health is not None and not isinstance(health, dict):
            raise exc.InvalidParameterError("HealthCheck must be an object")
        task_id = self.backend.modify_listener(
            _str(params, "LoadBalancerId", required=True) or "",
            _str(params, "ListenerId", required=True) or "",
            name=_str(params, "ListenerName"),
            session_expire_time=_int(params, "SessionExpireTime"),
            health_check=health,
        )
        return {"RequestId": task_id}

    def delete_listener(self, params: Params) -> Params:
        task_id = self.backend.delete_listener(
            _str(params, "LoadBalancerId", required=True) or "",
            _str(params, "ListenerId", required=True) or "",
        )
        return {"RequestId": task_id}

    def register_targets(self, params: Params) -> Params:
        return {"RequestId": self.backend.register_targets(*_listener_targets(params))}

    def deregister_targets(self, params: Params) -> Params:
        return {"RequestId": self.backend.deregister_targets(*_listener_targets(params))}

    def batch_register_targets(self, params: Params) -> Params:
        return self._batch(params, register=True)

    def batch_deregister_targets(self, params: Params) -> Params:
        return self._batch(params, register=False)

    def _batch(self, params: Params, *, register: bool) -> Params:
        lb_id, targets = _batch_targets(params)
        task_id, failed = self.backend.batch_change_targets(lb_id, targets, register=register)
        message = f"failed on {', '.join(failed)}" if failed else ""
        return {"FailListenerIdSet": failed, "Message": message, "RequestId": task_id}

    def describe_targets(self, params: Params) -> Params:
        lb_id = _str(params, "LoadBalancerId", required=True) or ""
        with self.backend.lock:
            found = self.backend.describe_targets(
                lb_id,
                listener_ids=_str_list(params, "ListenerIds"),
                protocol=_str(params, "Protocol"),
                port=_int(params, "Port"),
            )
            return {"Listeners": [_render_backends(self.backend, item) for item in found]}

    def describe_task_status(self, params: Params) -> Params:
        task_id = _str(params, "TaskId", required=True) or ""
        return self.backend.describe_task_status(task_id)
