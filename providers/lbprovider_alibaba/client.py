"""A thin, retried wrapper over ``aliyun-python-sdk-slb`` (and the one ECS call we need).

One method per call we make.  ECS ``DescribeNetworkInterfaces`` maps Pod IPs to
the ENIs that own them (``aliyun-python-sdk-ecs``, same client and credentials).

The SDK's own ``auto_retry`` does not cover SLB, so it is off and retries are
ours (tenacity): throttling, 5xx and connection errors, a few attempts with
short waits.  SDK exceptions become ``CloudError`` with Alibaba's code and
request id, scrubbed of the credentials.
"""

from __future__ import annotations

import json
import logging
import uuid
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
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
from tenacity import Retrying, retry_if_exception, stop_after_attempt, wait_exponential

from lbprovider.cloud import CloudError
from lbprovider_alibaba.settings import AlibabaSettings, Credentials

log = logging.getLogger(__name__)

PAGE_SIZE = 100
BACKENDS_PER_CALL = 20  # SLB's limit for one Add/Remove call
IPS_PER_ENI_LOOKUP = 100  # ECS's limit of PrivateIpAddress.N in one DescribeNetworkInterfaces
ENI_PAGE_SIZE = 100
NOT_FOUND_LB = "InvalidLoadBalancerId.NotFound"
_RETRY_CODES = frozenset(
    {"Throttling", "Throttling.User", "Throttling.Api", "ServiceUnavailable", "SystemBusy"}
)


class SlbApiError(CloudError):
    """An SLB or ECS call failed; ``code`` is Alibaba's code (``SDK.HttpError`` for transport)."""

    def __init__(self, message: str, *, code: str, status: int | None = None) -> None:
        super().__init__(message)
        self.code = code
        self.status = status


def is_retryable(error: BaseException) -> bool:
    """Throttling, 5xx and connection failures are worth another try."""
    if isinstance(error, ServerException):
        status = error.get_http_status() or 0
        return status >= 500 or error.get_error_code() in _RETRY_CODES
    if isinstance(error, ClientException):
        return bool(error.get_error_code() == SDK_HTTP_ERROR)
    return False


@dataclass(frozen=True, slots=True, kw_only=True)
class RetryPolicy:
    """Bounded retries so a worker is never blocked for long."""

    attempts: int = 4
    wait_initial: float = 0.2
    wait_max: float = 2.0


class SlbApi:
    """The SLB (and ECS) calls the provider makes, each returning the parsed JSON reply."""

    def __init__(
        self,
        *,
        settings: AlibabaSettings,
        credentials: Credentials,
        retry: RetryPolicy | None = None,
        eni_page_size: int = ENI_PAGE_SIZE,
    ) -> None:
        self._client = AcsClient(
            credentials.access_key_id,
            credentials.access_key_secret,
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
        self._secrets = (credentials.access_key_secret, credentials.access_key_id)
        self._retry = retry or RetryPolicy()

    # -- plumbing ------------------------------------------------------------------------
    def _scrub(self, text: str) -> str:
        for secret in self._secrets:
            if secret:
                text = text.replace(secret, "***")
        return text

    def _call(self, request: Any) -> dict[str, Any]:
        product = str(request.get_product())
        request.set_protocol_type(self._protocols[product])
        action = request.get_action_name()
        retrying = Retrying(
            stop=stop_after_attempt(self._retry.attempts),
            wait=wait_exponential(multiplier=self._retry.wait_initial, max=self._retry.wait_max),
            retry=retry_if_exception(is_retryable),
            reraise=True,
            before_sleep=lambda state: log.info(
                "retrying alibaba call",
                extra={"product": product, "action": action, "attempt": state.attempt_number},
            ),
        )
        label = f"{product.upper()} {action}"
        try:
            body = retrying(self._client.do_action_with_exception, request)
        except ServerException as error:
            code = str(error.get_error_code())
            message = self._scrub(str(error.get_error_msg()))
            raise SlbApiError(
                f"{label} failed: {code}: {message} (RequestId {error.get_request_id()})",
                code=code,
                status=error.get_http_status(),
            ) from None
        except ClientException as error:
            code = str(error.get_error_code())
            raise SlbApiError(
                f"{label} failed: {code}: {self._scrub(str(error.get_error_msg()))}",
                code=code,
            ) from None
        reply: dict[str, Any] = json.loads(body)
        return reply

    # -- load balancers ------------------------------------------------------------------
    def find_load_balancers(self, tags: Mapping[str, str]) -> list[dict[str, Any]]:
        """Every load balancer carrying all ``tags`` (all pages)."""
        out: list[dict[str, Any]] = []
        page = 1
        while True:
            request = DescribeLoadBalancersRequest.DescribeLoadBalancersRequest()
            request.set_Tags(json.dumps([{"TagKey": k, "TagValue": v} for k, v in tags.items()]))
            request.set_PageNumber(page)
            request.set_PageSize(PAGE_SIZE)
            reply = self._call(request)
            items = reply.get("LoadBalancers", {}).get("LoadBalancer", [])
            out.extend(items)
            if not items or len(out) >= int(reply.get("TotalCount", 0)):
                return out
            page += 1

    def describe_load_balancer(self, lb_id: str) -> dict[str, Any] | None:
        """The load balancer's attributes, or None when it does not exist."""
        request = DescribeLoadBalancerAttributeRequest.DescribeLoadBalancerAttributeRequest()
        request.set_LoadBalancerId(lb_id)
        try:
            return self._call(request)
        except SlbApiError as error:
            if error.code == NOT_FOUND_LB:
                return None
            raise

    def create_load_balancer(
        self,
        *,
        name: str,
        address_type: str,
        vpc_id: str | None,
        vswitch_id: str | None,
        spec: str | None,
        address: str | None,
        tags: Mapping[str, str],
        delete_protection: bool,
    ) -> dict[str, Any]:
        request = CreateLoadBalancerRequest.CreateLoadBalancerRequest()
        # One token for all retries of this call: a reply lost in transit cannot duplicate.
        request.set_ClientToken(str(uuid.uuid4()))
        request.set_LoadBalancerName(name)
        request.set_AddressType(address_type)
        if vpc_id:
            request.set_VpcId(vpc_id)
        if vswitch_id:
            request.set_VSwitchId(vswitch_id)
        if spec:
            request.set_LoadBalancerSpec(spec)
        if address:
            request.set_Address(address)
        request.set_Tags([{"Key": k, "Value": v} for k, v in tags.items()])
        if delete_protection:
            request.set_DeleteProtection("on")
        return self._call(request)

    def set_delete_protection(self, lb_id: str, *, enabled: bool) -> None:
        request = SetLoadBalancerDeleteProtectionRequest.SetLoadBalancerDeleteProtectionRequest()
        request.set_LoadBalancerId(lb_id)
        request.set_DeleteProtection("on" if enabled else "off")
        self._call(request)

    def delete_load_balancer(self, lb_id: str) -> None:
        request = DeleteLoadBalancerRequest.DeleteLoadBalancerRequest()
        request.set_LoadBalancerId(lb_id)
        try:
            self._call(request)
        except SlbApiError as error:
            if error.code != NOT_FOUND_LB:
                raise

    # -- listeners -----------------------------------------------------------------------
    def describe_listeners(self, lb_id: str) -> list[dict[str, Any]]:
        request = DescribeLoadBalancerListenersRequest.DescribeLoadBalancerListenersRequest()
        request.set_LoadBalancerIds([lb_id])
        request.set_MaxResults(100)
        listeners: list[dict[str, Any]] = self._call(request).get("Listeners", [])
        return listeners

    def create_listener(
        self, lb_id: str, protocol: str, port: int, params: Mapping[str, Any]
    ) -> None:
        request: Any = (
            CreateLoadBalancerTCPListenerRequest.CreateLoadBalancerTCPListenerRequest()
            if protocol == "TCP"
            else CreateLoadBalancerUDPListenerRequest.CreateLoadBalancerUDPListenerRequest()
        )
        request.set_LoadBalancerId(lb_id)
        request.set_ListenerPort(port)
        _set_params(request, params)
        self._call(request)

    def set_listener(self, lb_id: str, protocol: str, port: int, params: Mapping[str, Any]) -> None:
        request: Any = (
            SetTcp.SetLoadBalancerTCPListenerAttributeRequest()
            if protocol == "TCP"
            else SetUdp.SetLoadBalancerUDPListenerAttributeRequest()
        )
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
        request = DeleteLoadBalancerListenerRequest.DeleteLoadBalancerListenerRequest()
        request.set_LoadBalancerId(lb_id)
        request.set_ListenerPort(port)
        request.set_ListenerProtocol(protocol.lower())
        self._call(request)

    # -- vserver groups ------------------------------------------------------------------
    def describe_vserver_groups(self, lb_id: str) -> list[dict[str, Any]]:
        request = DescribeVServerGroupsRequest.DescribeVServerGroupsRequest()
        request.set_LoadBalancerId(lb_id)
        groups: list[dict[str, Any]] = (
            self._call(request).get("VServerGroups", {}).get("VServerGroup", [])
        )
        return groups

    def describe_vserver_group(self, group_id: str) -> dict[str, Any]:
        request = DescribeVServerGroupAttributeRequest.DescribeVServerGroupAttributeRequest()
        request.set_VServerGroupId(group_id)
        return self._call(request)

    def create_vserver_group(
        self,
        lb_id: str,
        name: str,
        backends: Sequence[Mapping[str, Any]],
        tags: Mapping[str, str],
    ) -> str:
        request = CreateVServerGroupRequest.CreateVServerGroupRequest()
        request.set_LoadBalancerId(lb_id)
        request.set_VServerGroupName(name)
        request.set_Tags([{"Key": k, "Value": v} for k, v in tags.items()])
        first = list(backends[:BACKENDS_PER_CALL])
        if first:
            request.set_BackendServers(json.dumps(first))
        group_id = str(self._call(request)["VServerGroupId"])
        if len(backends) > BACKENDS_PER_CALL:
            self.add_backends(group_id, backends[BACKENDS_PER_CALL:])
        return group_id

    def _backend_calls(
        self, group_id: str, backends: Sequence[Mapping[str, Any]], factory: Callable[[], Any]
    ) -> None:
        for start in range(0, len(backends), BACKENDS_PER_CALL):
            request = factory()
            request.set_VServerGroupId(group_id)
            request.set_BackendServers(
                json.dumps(list(backends[start : start + BACKENDS_PER_CALL]))
            )
            self._call(request)

    def add_backends(self, group_id: str, backends: Sequence[Mapping[str, Any]]) -> None:
        self._backend_calls(
            group_id,
            backends,
            AddVServerGroupBackendServersRequest.AddVServerGroupBackendServersRequest,
        )

    def remove_backends(self, group_id: str, backends: Sequence[Mapping[str, Any]]) -> None:
        self._backend_calls(
            group_id,
            backends,
            RemoveVServerGroupBackendServersRequest.RemoveVServerGroupBackendServersRequest,
        )

    def delete_vserver_group(self, group_id: str) -> None:
        request = DeleteVServerGroupRequest.DeleteVServerGroupRequest()
        request.set_VServerGroupId(group_id)
        self._call(request)

    # -- ECS: which ENI owns a Pod IP ----------------------------------------------------
    def find_enis(self, ips: Sequence[str], *, vpc_id: str | None) -> dict[str, set[str]]:
        """Pod IP -> ids of the in-use ENIs holding it (primary or secondary) in ``vpc_id``.

        One DescribeNetworkInterfaces per batch of IPs (all pages); IPs no ENI holds are absent.
        """
        owners: dict[str, set[str]] = {}
        wanted = list(dict.fromkeys(ips))  # the caller's order decides the batches
        for start in range(0, len(wanted), IPS_PER_ENI_LOOKUP):
            batch = wanted[start : start + IPS_PER_ENI_LOOKUP]
            asked = set(batch)
            page = 1
            while True:
                request = DescribeNetworkInterfacesRequest.DescribeNetworkInterfacesRequest()
                request.set_PrivateIpAddresss(batch)
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
                    held = eni.get("PrivateIpSets", {}).get("PrivateIpSet", [])
                    for entry in held:
                        ip = str(entry.get("PrivateIpAddress", ""))
                        if ip in asked:
                            owners.setdefault(ip, set()).add(eni_id)
                if not items or page * self._eni_page_size >= int(reply.get("TotalCount", 0)):
                    break
                page += 1
        return owners


def _set_params(request: Any, params: Mapping[str, Any]) -> None:
    """Listener attributes through the request's own setters (names as in the API)."""
    for key, value in params.items():
        setter = getattr(request, f"set_{key}", None)
        if setter is None:  # the SDK spells a few in camelCase (healthCheckInterval)
            request.add_query_param(key, value)
        else:
            setter(value)
