"""Thin parameter parsing, one function per action, and the frontend the kit's server runs.

SLB (2014-05-15) and the ECS call SLB backends need (2014-05-26) share the
endpoint: :class:`AlibabaFrontend` routes by ``Version`` then ``Action``,
checks the signature (``auth.py``) and renders replies and errors the way
Alibaba does (HTTP status, ``application/json;charset=utf-8``, ``RequestId``
and ``HostId``).  Each handler returns the JSON body without ``RequestId``.
Counters, faults, latency, the clock and the shared admin routes are
:class:`lbprovider.mockkit.MockServer`'s; only the ENI admin routes are ours.
"""

from __future__ import annotations

import functools
import json
import re
import uuid
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl

from lbprovider.mockkit import HttpRequest, HttpResponse, MockApiError
from lbprovider.mockkit.server import AdminRoute
from lbprovider.mockkit.spec import (
    ApiSpec,
    Violation,
    ViolationKind,
    load_spec,
    unflatten,
    validate,
)
from lbprovider_alibaba.mock import exceptions as exc
from lbprovider_alibaba.mock.auth import SignatureCheck
from lbprovider_alibaba.mock.models import (
    API_VERSION,
    ECS_API_VERSION,
    Backend,
    EniQuery,
    SlbBackend,
    parse_tags_json,
)

Params = Mapping[str, str]
Handler = Callable[[SlbBackend, Params], dict[str, Any]]

MAX_ENI_FILTER_VALUES = 100  # PrivateIpAddress.N / NetworkInterfaceId.N
MAX_ENI_PAGE_SIZE = 1000
MAX_ENI_RESULTS = 500
_TOKEN_PREFIX = "eni-page-"  # noqa: S105  # a paging token, not a secret


def _required(params: Params, name: str) -> str:
    value = params.get(name, "")
    if not value:
        raise exc.MissingParameter(name)
    return value


def _int(params: Params, name: str, default: int | None = None) -> int:
    raw = params.get(name, "")
    if not raw:
        if default is None:
            raise exc.MissingParameter(name)
        return default
    try:
        return int(raw)
    except ValueError as error:
        raise exc.InvalidParameter(f"The specified {name} is not valid.") from error


def _repeat(params: Params, prefix: str) -> list[str]:
    """``Prefix.1``, ``Prefix.2``... in index order."""
    pattern = re.compile(rf"^{re.escape(prefix)}\.(\d+)$")
    found = sorted(
        (int(m.group(1)), value) for key, value in params.items() if (m := pattern.match(key))
    )
    return [value for _, value in found]


def _tag_list(params: Params) -> dict[str, str]:
    """``Tag.N.Key`` / ``Tag.N.Value`` pairs (the SDK's RepeatList form)."""
    pattern = re.compile(r"^Tag\.(\d+)\.(Key|Value)$")
    pairs: dict[int, dict[str, str]] = {}
    for key, value in params.items():
        if m := pattern.match(key):
            pairs.setdefault(int(m.group(1)), {})[m.group(2)] = value
    out: dict[str, str] = {}
    for _, pair in sorted(pairs.items()):
        if "Key" not in pair:
            raise exc.MissingParameter("Tag.N.Key")
        out[pair["Key"]] = pair.get("Value", "")
    return out


def _backends(params: Params) -> list[Backend]:
    raw = _required(params, "BackendServers")
    try:
        items = json.loads(raw)
    except ValueError as error:
        raise exc.InvalidParameter("The specified BackendServers is not valid JSON.") from error
    if not isinstance(items, list) or not items:
        raise exc.InvalidParameter("The specified BackendServers is not valid.")
    out = []
    for item in items:
        if not isinstance(item, dict) or not item.get("ServerId"):
            raise exc.MissingParameter("BackendServers.ServerId")
        try:
            out.append(
                Backend(
                    server_id=str(item["ServerId"]),
                    port=int(item.get("Port", 0)),
                    weight=int(item.get("Weight", 100)),
                    type=str(item.get("Type", "ecs")),
                    server_ip=str(item.get("ServerIp", "")),
                )
            )
        except (TypeError, ValueError) as error:
            raise exc.InvalidParameter("The specified BackendServers is not valid.") from error
    return out


def create_load_balancer(backend: SlbBackend, p: Params) -> dict[str, Any]:
    tags = _tag_list(p)
    if p.get("Tags"):
        tags.update(parse_tags_json(p["Tags"]))
    lb = backend.create_load_balancer(
        name=p.get("LoadBalancerName", ""),
        address_type=p.get("AddressType", "internet"),
        vpc_id=p.get("VpcId", ""),
        vswitch_id=p.get("VSwitchId", ""),
        spec=p.get("LoadBalancerSpec", ""),
        address=p.get("Address", ""),
        tags=tags,
        delete_protection=p.get("DeleteProtection", "off") == "on",
        client_token=p.get("ClientToken", ""),
        # "PayBySpec (default)": the field doc of InstanceChargeType.
        instance_charge_type=p.get("InstanceChargeType") or "PayBySpec",
    )
    return {
        "LoadBalancerId": lb.id,
        "LoadBalancerName": lb.name,
        "Address": lb.address,
        "AddressIPVersion": "ipv4",
        "NetworkType": lb.network_type,
        "VpcId": lb.vpc_id,
        "VSwitchId": lb.vswitch_id,
        "ResourceGroupId": "rg-default",
    }


def describe_load_balancers(backend: SlbBackend, p: Params) -> dict[str, Any]:
    ids = [i for i in p.get("LoadBalancerId", "").split(",") if i]
    tags = parse_tags_json(p["Tags"]) if p.get("Tags") else {}
    tags.update(_tag_list(p))
    page = _int(p, "PageNumber", 1)
    size = _int(p, "PageSize", 10)
    if page < 1 or not 1 <= size <= 100:
        raise exc.InvalidParameter("The specified PageNumber or PageSize is not valid.")
    items, total = backend.describe_load_balancers(
        ids=ids, tags=tags, address_type=p.get("AddressType", ""), page=page, size=size
    )
    return {
        "TotalCount": total,
        "PageNumber": page,
        "PageSize": size,
        "LoadBalancers": {"LoadBalancer": items},
    }


def describe_load_balancer_attribute(backend: SlbBackend, p: Params) -> dict[str, Any]:
    return backend.describe_load_balancer_attribute(_required(p, "LoadBalancerId"))


def set_load_balancer_delete_protection(backend: SlbBackend, p: Params) -> dict[str, Any]:
    backend.set_delete_protection(_required(p, "LoadBalancerId"), _required(p, "DeleteProtection"))
    return {}


def delete_load_balancer(backend: SlbBackend, p: Params) -> dict[str, Any]:
    backend.delete_load_balancer(_required(p, "LoadBalancerId"))
    return {}


def tag_resources(backend: SlbBackend, p: Params) -> dict[str, Any]:
    ids = _repeat(p, "ResourceId")
    if not ids:
        raise exc.MissingParameter("ResourceId.N")
    tags = _tag_list(p)
    if not tags:
        raise exc.MissingParameter("Tag.N.Key")
    backend.tag_resources(ids, tags)
    return {}


def list_tag_resources(backend: SlbBackend, p: Params) -> dict[str, Any]:
    items = backend.list_tag_resources(_repeat(p, "ResourceId"), _tag_list(p))
    return {"NextToken": "", "TagResources": {"TagResource": items}}


def create_vserver_group(backend: SlbBackend, p: Params) -> dict[str, Any]:
    backends = _backends(p) if p.get("BackendServers") else []
    group = backend.create_vserver_group(
        _required(p, "LoadBalancerId"), p.get("VServerGroupName", ""), backends, _tag_list(p)
    )
    return {
        "VServerGroupId": group.id,
        "BackendServers": {"BackendServer": [b.to_api() for b in group.backends]},
    }


def describe_vserver_groups(backend: SlbBackend, p: Params) -> dict[str, Any]:
    groups = backend.describe_vserver_groups(_required(p, "LoadBalancerId"))
    return {"VServerGroups": {"VServerGroup": groups}}


def describe_vserver_group_attribute(backend: SlbBackend, p: Params) -> dict[str, Any]:
    group = backend.describe_vserver_group(_required(p, "VServerGroupId"))
    return {
        "VServerGroupId": group.id,
        "VServerGroupName": group.name,
        "LoadBalancerId": group.lb_id,
        "BackendServers": {"BackendServer": [b.to_api() for b in group.backends]},
    }


def _group_reply(group_id: str, backends: list[Backend]) -> dict[str, Any]:
    return {
        "VServerGroupId": group_id,
        "BackendServers": {"BackendServer": [b.to_api() for b in backends]},
    }


def add_vserver_group_backend_servers(backend: SlbBackend, p: Params) -> dict[str, Any]:
    group = backend.add_backends(_required(p, "VServerGroupId"), _backends(p))
    return _group_reply(group.id, group.backends)


def remove_vserver_group_backend_servers(backend: SlbBackend, p: Params) -> dict[str, Any]:
    group = backend.remove_backends(_required(p, "VServerGroupId"), _backends(p))
    return _group_reply(group.id, group.backends)


def delete_vserver_group(backend: SlbBackend, p: Params) -> dict[str, Any]:
    backend.delete_vserver_group(_required(p, "VServerGroupId"))
    return {}


def _create_listener(protocol: str, *, bandwidth_required: bool = True) -> Handler:
    def handler(backend: SlbBackend, p: Params) -> dict[str, Any]:
        if bandwidth_required:
            _int(p, "Bandwidth")  # mandatory on SLB's TCP/UDP listeners (-1: by traffic)
        backend.create_listener(
            _required(p, "LoadBalancerId"),
            protocol,
            _int(p, "ListenerPort"),
            p.get("VServerGroupId", ""),
            p,
        )
        return {}

    return handler


def _set_listener(protocol: str) -> Handler:
    def handler(backend: SlbBackend, p: Params) -> dict[str, Any]:
        backend.set_listener(_required(p, "LoadBalancerId"), protocol, _int(p, "ListenerPort"), p)
        return {}

    return handler


def _listener_verb(verb: str) -> Handler:
    def handler(backend: SlbBackend, p: Params) -> dict[str, Any]:
        backend.listener_action(
            _required(p, "LoadBalancerId"),
            _int(p, "ListenerPort"),
            p.get("ListenerProtocol") or None,
            verb,
        )
        return {}

    return handler


def describe_load_balancer_listeners(backend: SlbBackend, p: Params) -> dict[str, Any]:
    port = _int(p, "ListenerPort", 0) or None
    listeners = backend.describe_listeners(
        _repeat(p, "LoadBalancerId"), p.get("ListenerProtocol", ""), port
    )
    return {
        "Listeners": listeners,
        "TotalCount": len(listeners),
        "MaxResults": _int(p, "MaxResults", 100),
        "NextToken": "",
    }


def describe_network_interfaces(backend: SlbBackend, p: Params) -> dict[str, Any]:
    ids = _repeat(p, "NetworkInterfaceId")
    ips = _repeat(p, "PrivateIpAddress")
    if len(ids) > MAX_ENI_FILTER_VALUES or len(ips) > MAX_ENI_FILTER_VALUES:
        raise exc.InvalidParameter(
            f"At most {MAX_ENI_FILTER_VALUES} NetworkInterfaceId.N or PrivateIpAddress.N values."
        )
    query = EniQuery(
        ids=frozenset(ids),
        private_ips=frozenset(ips),
        vpc_id=p.get("VpcId", ""),
        vswitch_id=p.get("VSwitchId", ""),
        instance_id=p.get("InstanceId", ""),
        type=p.get("Type", ""),
        status=p.get("Status", ""),
        primary_ip=p.get("PrimaryIpAddress", ""),
    )
    if "MaxResults" in p or p.get("NextToken"):
        # Token paging; PageNumber/PageSize are then ignored, as ECS does.
        size = _int(p, "MaxResults", 10)
        if not 1 <= size <= MAX_ENI_RESULTS:
            raise exc.InvalidParameter("The specified MaxResults is not valid.")
        token = p.get("NextToken", "")
        offset = 0
        if token:
            raw = token.removeprefix(_TOKEN_PREFIX)
            if raw == token or not raw.isdigit():
                raise exc.InvalidParameter("The specified NextToken is not valid.")
            offset = int(raw)
        items, total = backend.describe_network_interfaces(query, offset=offset, size=size)
        following = offset + len(items)
        return {
            "TotalCount": total,
            "NextToken": f"{_TOKEN_PREFIX}{following}" if following < total else "",
            "NetworkInterfaceSets": {"NetworkInterfaceSet": items},
        }
    page = _int(p, "PageNumber", 1)
    size = _int(p, "PageSize", 10)
    if page < 1 or not 1 <= size <= MAX_ENI_PAGE_SIZE:
        raise exc.InvalidParameter("The specified PageNumber or PageSize is not valid.")
    items, total = backend.describe_network_interfaces(query, offset=(page - 1) * size, size=size)
    return {
        "TotalCount": total,
        "PageNumber": page,
        "PageSize": size,
        "NextToken": "",
        "NetworkInterfaceSets": {"NetworkInterfaceSet": items},
    }


ECS_ACTIONS: dict[str, Handler] = {
    "DescribeNetworkInterfaces": describe_network_interfaces,
}

ACTIONS: dict[str, Handler] = {
    "CreateLoadBalancer": create_load_balancer,
    "DescribeLoadBalancers": describe_load_balancers,
    "DescribeLoadBalancerAttribute": describe_load_balancer_attribute,
    "SetLoadBalancerDeleteProtection": set_load_balancer_delete_protection,
    "DeleteLoadBalancer": delete_load_balancer,
    "TagResources": tag_resources,
    "ListTagResources": list_tag_resources,
    "CreateVServerGroup": create_vserver_group,
    "DescribeVServerGroups": describe_vserver_groups,
    "DescribeVServerGroupAttribute": describe_vserver_group_attribute,
    "AddVServerGroupBackendServers": add_vserver_group_backend_servers,
    "RemoveVServerGroupBackendServers": remove_vserver_group_backend_servers,
    "DeleteVServerGroup": delete_vserver_group,
    "CreateLoadBalancerTCPListener": _create_listener("TCP"),
    "CreateLoadBalancerUDPListener": _create_listener("UDP"),
    # Layer-7 listeners: served so a test can add one by hand next to ours.
    "CreateLoadBalancerHTTPListener": _create_listener("HTTP", bandwidth_required=False),
    "CreateLoadBalancerHTTPSListener": _create_listener("HTTPS", bandwidth_required=False),
    "SetLoadBalancerTCPListenerAttribute": _set_listener("TCP"),
    "SetLoadBalancerUDPListenerAttribute": _set_listener("UDP"),
    "StartLoadBalancerListener": _listener_verb("start"),
    "StopLoadBalancerListener": _listener_verb("stop"),
    "DeleteLoadBalancerListener": _listener_verb("delete"),
    "DescribeLoadBalancerListeners": describe_load_balancer_listeners,
}


#: API version -> that product's actions.
PRODUCTS: dict[str, dict[str, Handler]] = {API_VERSION: ACTIONS, ECS_API_VERSION: ECS_ACTIONS}


SPEC_DIR = Path(__file__).with_name("spec")
SPEC_FILES = {API_VERSION: "slb-2014-05-15.json", ECS_API_VERSION: "ecs-2014-05-26.json"}
"""The vendored contracts (``specgen`` from the V2 SDK models; ``scripts/cloud-specs.py``)."""

# The RPC common parameters: the signature's and the gateway's, never an action member.
# (RegionId is not among them: every SLB/ECS request model declares it.)
COMMON_PARAMS = frozenset(
    {
        "Action",
        "Version",
        "Format",
        "AccessKeyId",
        "Signature",
        "SignatureMethod",
        "SignatureVersion",
        "SignatureNonce",
        "SignatureType",
        "Timestamp",
        "SecurityToken",
    }
)

# Which code a violation gets, as SLB and ECS answer them:
# - a required parameter absent: MissingParameter, 'The input parameter "StickySession" that
#   is mandatory for processing this request is not supplied.' (SLB, denverdino/aliyungo#145;
#   ECS the same, teamssix/cf#211), not the "MissingXxx ... is mandatory for this action."
#   form some other POP products answer;
# - a malformed, out-of-range or unlisted value: InvalidParameter, 'The specified parameter
#   "InternetMaxBandwidthIn" is not valid.' (ECS, alibaba/alibaba.alicloud#140);
# - a parameter the action does not define: ignored, not refused.  The V1 SDK core itself
#   adds RegionId to every RPC request whether the action declares it or not
#   (aliyunsdkcore/request.py RpcRequest.get_url), which only works if the gateway ignores
#   undeclared names.  So the mock drops them before the handler sees them: a misspelt
#   parameter has no effect, as on the real API (unconfirmed against a live account).
_ORDER = (
    ViolationKind.UNKNOWN_ACTION,
    ViolationKind.MISSING,
    ViolationKind.TYPE,
    ViolationKind.ENUM,
    ViolationKind.RANGE,
    ViolationKind.TOO_MANY,
)


@functools.cache
def api_spec(version: str) -> ApiSpec:
    """The vendored contract of one API version (read once)."""
    return load_spec(SPEC_DIR / SPEC_FILES[version])


def check_request(version: str, action: str, params: Mapping[str, str]) -> dict[str, str]:
    """Refuse a request that breaks the published contract; returns the parameters the
    action defines (plus the common ones), the undeclared ones dropped."""
    spec = api_spec(version)
    # An empty value is an absent one (what the SDK sends for an unset optional).
    members = {k: v for k, v in params.items() if k not in COMMON_PARAMS and v != ""}
    violations = [
        v
        for v in validate(spec, action, unflatten(members), scalars_as_strings=True, index_base=1)
        if v.kind is not ViolationKind.UNKNOWN
    ]
    if violations:
        first = min(violations, key=lambda v: _ORDER.index(v.kind))
        raise _error(action, first)
    declared = spec.actions[action].params
    return {k: v for k, v in params.items() if k in COMMON_PARAMS or k.split(".")[0] in declared}


def _error(action: str, violation: Violation) -> MockApiError:
    if violation.kind is ViolationKind.UNKNOWN_ACTION:
        return exc.InvalidActionNotFound(
            f"Specified api is not found: {action} is not in the vendored spec "
            "(regenerate it with scripts/cloud-specs.py)."
        )
    if violation.kind is ViolationKind.MISSING:
        return exc.MissingParameter(violation.parameter)
    return exc.InvalidParameter(f'The specified parameter "{violation.parameter}" is not valid.')


HOST_ID = "slb.aliyuncs.com"
ECS_HOST_ID = "ecs.aliyuncs.com"
CONTENT_TYPE = "application/json;charset=utf-8"


def request_params(request: HttpRequest) -> dict[str, str]:
    """The RPC parameters: the query string, plus a form body when there is one."""
    params = dict(parse_qsl(request.query, keep_blank_values=True))
    content_type = next(
        (value for name, value in request.headers.items() if name.lower() == "content-type"), ""
    )
    if request.body and "application/x-www-form-urlencoded" in content_type:
        params.update(parse_qsl(request.body.decode(), keep_blank_values=True))
    return params


def _reply(status: int, body: Mapping[str, Any]) -> HttpResponse:
    return HttpResponse(
        status=status, body=json.dumps(body).encode(), headers={"Content-Type": CONTENT_TYPE}
    )


def _request_id() -> str:
    return str(uuid.uuid4()).upper()


class AlibabaFrontend:
    """Alibaba's RPC wire protocol over one :class:`SlbBackend` (a ``CloudFrontend``)."""

    name = "alibaba"

    def __init__(self, backend: SlbBackend) -> None:
        self.backend = backend
        self._signatures = SignatureCheck(credentials=backend.credentials, clock=backend.clock)

    def action_of(self, request: HttpRequest) -> str:
        # The gateway resolves the API before it checks the signature, so an unknown
        # version or action is refused (and not counted) whoever signed it.
        params = request_params(request)
        if not params.get("Version"):
            raise exc.MissingParameter("Version")  # a required common parameter
        actions = PRODUCTS.get(params["Version"])
        if actions is None:
            raise exc.InvalidVersion()
        action = params.get("Action", "")
        if action not in actions:
            raise exc.InvalidActionNotFound()
        return action

    def authenticate(self, request: HttpRequest) -> None:
        self._signatures.check(request.method, request_params(request))

    def handle(self, action: str, request: HttpRequest) -> HttpResponse:
        params = request_params(request)
        version = params["Version"]
        known = check_request(version, action, params)  # the published contract first
        reply = PRODUCTS[version][action](self.backend, known)
        return _reply(200, {"RequestId": _request_id(), **reply})

    def render_error(self, action: str, request: HttpRequest, error: MockApiError) -> HttpResponse:
        ecs = request_params(request).get("Version") == ECS_API_VERSION
        return _reply(
            error.status,
            {
                "RequestId": _request_id(),
                "HostId": ECS_HOST_ID if ecs else HOST_ID,
                "Code": error.code,
                "Message": error.message,
                "Recommend": "",
            },
        )

    def snapshot(self) -> Any:
        return self.backend.snapshot()

    def reset(self) -> None:
        """Nothing test-only to forget: the mock keeps no request log."""

    def admin_routes(self) -> Mapping[tuple[str, str], AdminRoute]:
        return {
            ("GET", "enis"): self._list_enis,
            ("POST", "enis"): self._create_eni,
            ("POST", "busy"): self._busy,
        }

    def _busy(self, payload: Mapping[str, Any]) -> dict[str, Any]:
        """``POST /_admin/busy`` ``{"window_ms": 50}``: after each accepted write on a load
        balancer, its next writes within that many mock-clock milliseconds answer
        ``ServiceIsConfiguring`` (0: off, the default)."""
        self.backend.set_busy_window(float(payload["window_ms"]) / 1000.0)
        return {"window_ms": self.backend.busy_window * 1000.0}

    def _list_enis(self, payload: Mapping[str, Any]) -> dict[str, Any]:
        """``GET /_admin/enis``: every ENI, as DescribeNetworkInterfaces shows it."""
        return {"network_interfaces": self.backend.snapshot()["network_interfaces"]}

    def _create_eni(self, payload: Mapping[str, Any]) -> dict[str, Any]:
        """``POST /_admin/enis`` ``{"ips": [...], "instance_id": "i-…", "attach": true}``:
        a Terway-like ENI holding those Pod IPs."""
        eni = self.backend.create_eni(
            [str(ip) for ip in payload["ips"]],
            instance_id=payload.get("instance_id"),
            attach=bool(payload.get("attach", True)),
            primary_ip=payload.get("primary_ip"),
        )
        return eni.to_api(self.backend.region)
