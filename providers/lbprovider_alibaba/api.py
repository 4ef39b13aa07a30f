"""The SDK wrapper: every SLB (and the one ECS) call this provider makes, through the kit.

One method per call.  Each goes through :class:`lbprovider.providerkit.CloudCaller`
(bounded jittered retries, persistent throttling or a busy SLB as
``RetryAfter``, metrics, one log line); SDK exceptions become
:class:`AlibabaApiError` with Alibaba's code and request id, scrubbed of the
credentials.  The SDK's own ``auto_retry`` does not cover SLB, so it is off.
Replies come back as the model's values (``model.Remote*``).  ECS
``DescribeNetworkInterfaces`` maps Pod IPs to the ENIs that own them
(``aliyun-python-sdk-ecs``, same client and credentials).
"""

from __future__ import annotations

import functools
import json
import uuid
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import replace
from typing import Any

from aliyunsdkcore.acs_exception.error_code import SDK_HTTP_ERROR
from aliyunsdkcore.acs_exception.exceptions import ClientException, ServerException
from aliyunsdkcore.client import AcsClient
from aliyunsdkecs.request.v20140526 import DescribeNetworkInterfacesRequest
from aliyunsdkslb.request.v20140515 import (
    AddVServerGroupBackendServersRequest,
    CreateLoadBalancerRequest,
    CreateLoadBalancerTCPListenerRequest,
    CreateLoadBalancerUDPListenerRequest,
    CreateVServerGroupRequest,
    DeleteLoadBalancerListenerRequest,
    DeleteLoadBalancerRequest,
    DeleteVServerGroupRequest,
    DescribeLoadBalancerAttributeRequest,
    DescribeLoadBalancerListenersRequest,
    DescribeLoadBalancersRequest,
    DescribeVServerGroupAttributeRequest,
    DescribeVServerGroupsRequest,
    RemoveVServerGroupBackendServersRequest,
    SetLoadBalancerDeleteProtectionRequest,
    StartLoadBalancerListenerRequest,
)
from aliyunsdkslb.request.v20140515 import (
    SetLoadBalancerTCPListenerAttributeRequest as SetTcp,
)
from aliyunsdkslb.request.v20140515 import (
    SetLoadBalancerUDPListenerAttributeRequest as SetUdp,
)

from lbprovider.cloud import CONNECTION_ERROR, CloudApiError
from lbprovider.providerkit import CallPolicy, CloudCaller, Credentials, ErrorCodes, batched
from lbprovider_alibaba import naming
from lbprovider_alibaba.model import (
    BackendKey,
    NewLoadBalancer,
    RemoteGroup,
    RemoteListener,
    RemoteLoadBalancer,
)
from lbprovider_alibaba.settings import Settings

PROVIDER = "alibaba"
PAGE_SIZE = 100
BACKENDS_PER_CALL = 20  # SLB's limit for one Add/Remove/Create call
IPS_PER_ENI_LOOKUP = 100  # ECS's limit of PrivateIpAddress.N in one DescribeNetworkInterfaces
ENI_PAGE_SIZE = 100
ECS_ACTIONS = frozenset({"DescribeNetworkInterfaces"})
"""The ECS calls (every other action is SLB's): errors name their product."""

ERROR_CODES = ErrorCodes(
    throttling=frozenset({"Throttling", "Throttling.User", "Throttling.Api"}),
    # SLB refuses changes while a load balancer or group is being configured.
    busy=frozenset(
        {
            "ServiceIsConfiguring",
            "VServerGroupProcessing",
            "OperationBusy",
            "ServiceIsStopping",
            "BackendServer.configuring",
        }
    ),
    transient=frozenset({"ServiceUnavailable", "SystemBusy", "InternalError"}),
    not_found=frozenset(
        {
            "InvalidLoadBalancerId.NotFound",
            "InvalidParameter.VServerGroupId",
            "InvalidParameter.ListenerNotExist",
        }
    ),
)

POLICY = CallPolicy(attempts=4, wait_initial=0.2, wait_max=2.0)
"""Four tries per call, as this provider always made."""


class AlibabaApiError(CloudApiError):
    """An SLB or ECS call failed; ``product`` says which (``SLB``, ``ECS``)."""

    def __init__(self, *, product: str, **fields: Any) -> None:
        super().__init__(provider=PROVIDER, **fields)
        self.product = product


def _backend_body(key: BackendKey) -> dict[str, Any]:
    server_id, port, kind, ip = key
    body: dict[str, Any] = {
        "ServerId": server_id,
        "Port": port,
        "Weight": 100,
        "Type": kind,
    }
    if ip:
        body["ServerIp"] = ip
    return body


def _backend_key(item: Mapping[str, Any]) -> BackendKey:
    kind = str(item.get("Type") or "ecs")
    ip = str(item.get("ServerIp") or "") if kind == "eni" else ""
    return (str(item["ServerId"]), int(item["Port"]), kind, ip)


def _load_balancer(item: Mapping[str, Any], **override: Any) -> RemoteLoadBalancer:
    fields: dict[str, Any] = {
        "lb_id": str(item["LoadBalancerId"]),
        "address": str(item.get("Address") or ""),
        "address_type": str(item.get("AddressType") or ""),
        "spec": str(item.get("LoadBalancerSpec") or ""),
        "vpc_id": str(item.get("VpcId") or ""),
        "delete_protection": item.get("DeleteProtection") == "on",
        "created": str(item.get("CreateTime") or ""),
        "tags": naming.tags_of(item),
    }
    return RemoteLoadBalancer(**{**fields, **override})


def _listener(item: Mapping[str, Any]) -> RemoteListener:
    # HTTP/HTTPS listeners (added by hand) are read too: the model leaves them alone.
    config: Mapping[str, Any] = next(
        (
            item[key]
            for key in (
                "TCPListenerConfig",
                "UDPListenerConfig",
                "HTTPListenerConfig",
                "HTTPSListenerConfig",
            )
            if item.get(key)
        ),
        {},
    )
    return RemoteListener(
        protocol=str(item["ListenerProtocol"]).upper(),
        port=int(item["ListenerPort"]),
        group_id=str(item.get("VServerGroupId") or ""),
        status=str(item.get("Status") or ""),
        attrs={**item, **config},
    )


def _scrub(text: str, secrets: Iterable[str]) -> str:
    for secret in secrets:
        text = text.replace(secret, "***")
    return text


def translate(action: str, error: BaseException, *, secrets: Sequence[str]) -> CloudApiError | None:
    """The contract's error for an SDK exception, scrubbed of ``secrets``; None if not the SDK's."""
    product = "ECS" if action in ECS_ACTIONS else "SLB"
    if isinstance(error, ServerException):
        return AlibabaApiError(
            product=product,
            action=action,
            code=str(error.get_error_code()),
            message=_scrub(str(error.get_error_msg()), secrets),
            status=int(error.get_http_status() or 0),
            request_id=str(error.get_request_id() or ""),
        )
    if isinstance(error, ClientException):
        code = str(error.get_error_code())
        message = _scrub(str(error.get_error_msg()), secrets)
        if code == SDK_HTTP_ERROR:  # no answer: the contract's connection error
            return AlibabaApiError(
                product=product, action=action, code=CONNECTION_ERROR, message=f"{code}: {message}"
            )
        return AlibabaApiError(product=product, action=action, code=code, message=message)
    return None


def _set_params(request: Any, params: Mapping[str, Any]) -> None:
    """Listener attributes through the request's own setters (names as in the API)."""
    for key, value in params.items():
        setter = getattr(request, f"set_{key}", None)
        if setter is None:  # the SDK spells a few in camelCase (healthCheckInterval)
            request.add_query_param(key, value)
        else:
            setter(value)


class SlbApi:
    """The SLB (and ECS) calls the provider makes."""

    def __init__(
        self,
        *,
        settings: Settings,
        credentials: Credentials,
        policy: CallPolicy | None = None,
        eni_page_size: int = ENI_PAGE_SIZE,
    ) -> None:
        self._client = AcsClient(
            credentials["access_key_id"],
            credentials["access_key_secret"],
            settings.region,
            auto_retry=False,
            connect_timeout=5,
            timeout=10,
        )
        if settings.endpoint_host is not None:
            self._client.add_endpoint(settings.region, "Slb", settings.endpoint_host)
        if settings.ecs_endpoint_host is not None:
            self._client.add_endpoint(settings.region, "Ecs", settings.ecs_endpoint_host)
        self._protocols = {"Slb": settings.protocol, "Ecs": settings.ecs_protocol}
        self._eni_page_size = eni_page_size
        # A function, not a bound method: no cycle keeps the SDK client (and its sockets) alive.
        self.caller = CloudCaller(
            provider=PROVIDER,
            translate=functools.partial(translate, secrets=credentials.secrets()),
            codes=ERROR_CODES,
            policy=policy
            if policy is not None
            else replace(POLICY, rate_limit=settings.rate_limit),
        )

    def close(self) -> None:
        """Close the SDK's pooled connections (the SDK client sits in a reference cycle of
        its own, so without this its sockets wait for the cyclic garbage collector)."""
        self._client.session.close()

    # -- plumbing ------------------------------------------------------------------------
    def _prepare(self, request: Any) -> tuple[str, Callable[[], Any]]:
        product = str(request.get_product())
        request.set_protocol_type(self._protocols[product])
        action = str(request.get_action_name())
        # The same request object for every retry: CreateLoadBalancer keeps its ClientToken.
        return action, lambda: self._client.do_action_with_exception(request)

    def _call(self, request: Any) -> dict[str, Any]:
        action, send = self._prepare(request)
        reply: dict[str, Any] = json.loads(self.caller.call(action, send))
        return reply

    def _call_or_none(self, request: Any) -> dict[str, Any] | None:
        """The reply, or None when the cloud answers that the object does not exist."""
        action, send = self._prepare(request)
        body = self.caller.call_or_none(action, send)
        return None if body is None else dict(json.loads(body))

    # -- load balancers ------------------------------------------------------------------
    def find_load_balancers(self, tags: Mapping[str, str]) -> list[RemoteLoadBalancer]:
        """Every load balancer carrying all ``tags`` (all pages)."""
        out: list[RemoteLoadBalancer] = []
        page = 1
        while True:
            request = DescribeLoadBalancersRequest.DescribeLoadBalancersRequest()
            request.set_Tags(json.dumps(naming.tag_filter(tags)))
            request.set_PageNumber(page)
            request.set_PageSize(PAGE_SIZE)
            reply = self._call(request)
            items = reply.get("LoadBalancers", {}).get("LoadBalancer", [])
            out.extend(_load_balancer(item) for item in items)
            if not items or len(out) >= int(reply.get("TotalCount", 0)):
                return out
            page += 1

    def describe_load_balancer(self, lb_id: str) -> RemoteLoadBalancer | None:
        """The load balancer (without tags), or None when it does not exist.

        Its ``DeleteProtection`` is the field DescribeLoadBalancerAttribute documents
        ("Indicates whether deletion protection is enabled"): read before deleting.
        """
        request = DescribeLoadBalancerAttributeRequest.DescribeLoadBalancerAttributeRequest()
        request.set_LoadBalancerId(lb_id)
        reply = self._call_or_none(request)
        return None if reply is None else _load_balancer(reply)

    def create_load_balancer(self, spec: NewLoadBalancer) -> RemoteLoadBalancer:
        request = CreateLoadBalancerRequest.CreateLoadBalancerRequest()
        # One token for all retries of this call: a reply lost in transit cannot duplicate.
        request.set_ClientToken(str(uuid.uuid4()))
        request.set_LoadBalancerName(spec.name)
        request.set_AddressType(spec.address_type)
        if spec.vpc_id:
            request.set_VpcId(spec.vpc_id)
        if spec.vswitch_id:
            request.set_VSwitchId(spec.vswitch_id)
        request.set_InstanceChargeType(spec.instance_charge_type)
        if spec.spec:  # pay-by-specification only when asked for (see NewLoadBalancer)
            request.set_LoadBalancerSpec(spec.spec)
        if spec.address:
            request.set_Address(spec.address)
        request.set_Tags(naming.tag_list(spec.tags))
        if spec.delete_protection:
            request.set_DeleteProtection("on")
        reply = self._call(request)
        return _load_balancer(
            reply,
            address_type=spec.address_type,
            spec=spec.spec or "",
            delete_protection=spec.delete_protection,
            tags=dict(spec.tags),
        )

    def set_delete_protection(self, lb_id: str, *, enabled: bool) -> None:
        request = SetLoadBalancerDeleteProtectionRequest.SetLoadBalancerDeleteProtectionRequest()
        request.set_LoadBalancerId(lb_id)
        request.set_DeleteProtection("on" if enabled else "off")
        self._call(request)

    def delete_load_balancer(self, lb_id: str) -> None:
        """Delete; success when it is already gone."""
        request = DeleteLoadBalancerRequest.DeleteLoadBalancerRequest()
        request.set_LoadBalancerId(lb_id)
        self._call_or_none(request)

    # -- listeners -----------------------------------------------------------------------
    def describe_listeners(self, lb_id: str) -> list[RemoteListener]:
        request = DescribeLoadBalancerListenersRequest.DescribeLoadBalancerListenersRequest()
        request.set_LoadBalancerIds([lb_id])
        request.set_MaxResults(100)
        return [_listener(item) for item in self._call(request).get("Listeners", [])]

    def create_listener(
        self, lb_id: str, protocol: str, port: int, params: Mapping[str, Any]
    ) -> None:
        tcp = CreateLoadBalancerTCPListenerRequest.CreateLoadBalancerTCPListenerRequest
        udp = CreateLoadBalancerUDPListenerRequest.CreateLoadBalancerUDPListenerRequest
        self._listener_call(tcp if protocol == "TCP" else udp, lb_id, port, params)

    def set_listener(self, lb_id: str, protocol: str, port: int, params: Mapping[str, Any]) -> None:
        tcp = SetTcp.SetLoadBalancerTCPListenerAttributeRequest
        udp = SetUdp.SetLoadBalancerUDPListenerAttributeRequest
        self._listener_call(tcp if protocol == "TCP" else udp, lb_id, port, params)

    def _listener_call(
        self, factory: Callable[[], Any], lb_id: str, port: int, params: Mapping[str, Any]
    ) -> None:
        request = factory()
        request.set_LoadBalancerId(lb_id)
        request.set_ListenerPort(port)
        _set_params(request, params)
        self._call(request)

    def start_listener(self, lb_id: str, protocol: str, port: int) -> None:
        request = StartLoadBalancerListenerRequest.StartLoadBalancerListenerRequest()
        request.set_LoadBalancerId(lb_id)
        request.set_ListenerPort(port)
        request.set_ListenerProtocol(protocol.lower())
        self._call(request)

    def delete_listener(self, lb_id: str, protocol: str, port: int) -> None:
        """Delete; success when it is already gone."""
        request = DeleteLoadBalancerListenerRequest.DeleteLoadBalancerListenerRequest()
        request.set_LoadBalancerId(lb_id)
        request.set_ListenerPort(port)
        request.set_ListenerProtocol(protocol.lower())
        self._call_or_none(request)

    # -- vserver groups ------------------------------------------------------------------
    def describe_vserver_groups(self, lb_id: str) -> list[RemoteGroup]:
        request = DescribeVServerGroupsRequest.DescribeVServerGroupsRequest()
        request.set_LoadBalancerId(lb_id)
        items = self._call(request).get("VServerGroups", {}).get("VServerGroup", [])
        return [
            RemoteGroup(group_id=str(item["VServerGroupId"]), name=str(item["VServerGroupName"]))
            for item in items
        ]

    def group_backends(self, group_id: str) -> frozenset[BackendKey]:
        """The members of one VServerGroup."""
        request = DescribeVServerGroupAttributeRequest.DescribeVServerGroupAttributeRequest()
        request.set_VServerGroupId(group_id)
        items = self._call(request).get("BackendServers", {}).get("BackendServer", [])
        return frozenset(_backend_key(item) for item in items)

    def create_vserver_group(
        self, lb_id: str, name: str, backends: Sequence[BackendKey], tags: Mapping[str, str]
    ) -> str:
        """A new group holding ``backends`` (the first batch in the create call itself)."""
        batches = list(batched(backends, BACKENDS_PER_CALL))
        request = CreateVServerGroupRequest.CreateVServerGroupRequest()
        request.set_LoadBalancerId(lb_id)
        request.set_VServerGroupName(name)
        request.set_Tags(naming.tag_list(tags))
        if batches:
            request.set_BackendServers(json.dumps([_backend_body(key) for key in batches[0]]))
        group_id = str(self._call(request)["VServerGroupId"])
        self._backend_calls(
            group_id,
            batches[1:],
            AddVServerGroupBackendServersRequest.AddVServerGroupBackendServersRequest,
        )
        return group_id

    def _backend_calls(
        self,
        group_id: str,
        batches: Iterable[Sequence[BackendKey]],
        factory: Callable[[], Any],
    ) -> None:
        for batch in batches:
            request = factory()
            request.set_VServerGroupId(group_id)
            request.set_BackendServers(json.dumps([_backend_body(key) for key in batch]))
            self._call(request)

    def add_backends(self, group_id: str, backends: Sequence[BackendKey]) -> None:
        self._backend_calls(
            group_id,
            batched(backends, BACKENDS_PER_CALL),
            AddVServerGroupBackendServersRequest.AddVServerGroupBackendServersRequest,
        )

    def remove_backends(self, group_id: str, backends: Sequence[BackendKey]) -> None:
        self._backend_calls(
            group_id,
            batched(backends, BACKENDS_PER_CALL),
            RemoveVServerGroupBackendServersRequest.RemoveVServerGroupBackendServersRequest,
        )

    def delete_vserver_group(self, group_id: str) -> None:
        """Delete; success when it is already gone."""
        request = DeleteVServerGroupRequest.DeleteVServerGroupRequest()
        request.set_VServerGroupId(group_id)
        self._call_or_none(request)

    # -- ECS: which ENI owns a Pod IP ----------------------------------------------------
    def find_enis(self, ips: Sequence[str], *, vpc_id: str | None) -> dict[str, set[str]]:
        """Pod IP -> ids of the in-use ENIs holding it (primary or secondary) in ``vpc_id``.

        One DescribeNetworkInterfaces per batch of IPs (all pages); IPs no ENI holds are absent.
        """
        owners: dict[str, set[str]] = {}
        # The caller's order decides the batches.
        for batch in batched(dict.fromkeys(ips), IPS_PER_ENI_LOOKUP):
            asked = set(batch)
            page = 1
            while True:
                request = DescribeNetworkInterfacesRequest.DescribeNetworkInterfacesRequest()
                request.set_PrivateIpAddresss(list(batch))
                if vpc_id:
                    request.set_VpcId(vpc_id)
                # An ENI that is not attached (Available) carries no traffic.
                request.set_Status("InUse")
                request.set_PageNumber(page)
                request.set_PageSize(self._eni_page_size)
                reply = self._call(request)
                items = reply.get("NetworkInterfaceSets", {}).get("NetworkInterfaceSet", [])
                for eni in items:
                    eni_id = str(eni["NetworkInterfaceId"])
                    for entry in eni.get("PrivateIpSets", {}).get("PrivateIpSet", []):
                        ip = str(entry.get("PrivateIpAddress", ""))
                        if ip in asked:
                            owners.setdefault(ip, set()).add(eni_id)
                if not items or page * self._eni_page_size >= int(reply.get("TotalCount", 0)):
                    break
                page += 1
        return owners
