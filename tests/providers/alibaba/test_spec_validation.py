"""The mock SLB/ECS holds every request to the published contract (the V2 SDK request models).

Driven through the real V1 SDK the provider uses (``aliyun-python-sdk-slb`` /
``-ecs``); a parameter the models lack goes in with the SDK's own
``add_query_param``.  SLB answers ``MissingParameter`` and ``InvalidParameter``;
a parameter the action does not define is ignored (not refused), as the RPC
gateway does.
"""

from __future__ import annotations

import dataclasses
import json
from typing import Any

import pytest
from aliyunsdkcore.acs_exception.exceptions import ServerException
from aliyunsdkecs.request.v20140526 import DescribeNetworkInterfacesRequest
from aliyunsdkslb.request.v20140515 import (
    CreateLoadBalancerRequest,
    CreateLoadBalancerTCPListenerRequest,
    DescribeLoadBalancerAttributeRequest,
    SetLoadBalancerDeleteProtectionRequest,
    TagResourcesRequest,
)

from lbprovider_alibaba.mock import responses
from lbprovider_alibaba.mock.models import API_VERSION

pytestmark = pytest.mark.providers

Kit = Any  # the conftest's Kit (not importable under importlib mode)


def _refused(kit: Kit, request: Any, **client: Any) -> ServerException:
    with pytest.raises(ServerException) as info:
        kit.call(kit.client(**client), request)
    return info.value


def _lb(kit: Kit) -> str:
    request = CreateLoadBalancerRequest.CreateLoadBalancerRequest()
    request.set_InstanceChargeType("PayByCLCU")  # the only metering still sold
    return str(kit.call(kit.client(), request)["LoadBalancerId"])


def _tcp_listener(lb_id: str, **params: Any) -> Any:
    request = CreateLoadBalancerTCPListenerRequest.CreateLoadBalancerTCPListenerRequest()
    request.set_LoadBalancerId(lb_id)
    request.set_ListenerPort(80)
    request.set_BackendServerPort(30080)
    request.set_Bandwidth(-1)
    for key, value in params.items():
        request.add_query_param(key, value)
    return request


def _listener_ports(kit: Kit, lb_id: str) -> list[int]:
    listeners = kit.state()["listeners"]
    return sorted(int(li["ListenerPort"]) for li in listeners if li["LoadBalancerId"] == lb_id)


def test_a_missing_required_parameter_is_missing_parameter(kit: Kit) -> None:
    lb_id = _lb(kit)
    request = TagResourcesRequest.TagResourcesRequest()
    request.set_ResourceIds([lb_id])
    request.set_Tags([{"Key": "team", "Value": "a"}])  # ResourceType left out
    error = _refused(kit, request)
    assert (error.get_http_status(), error.get_error_code()) == (400, "MissingParameter")
    assert '"ResourceType"' in error.get_error_msg()
    attribute = DescribeLoadBalancerAttributeRequest.DescribeLoadBalancerAttributeRequest()
    attribute.set_LoadBalancerId(lb_id)
    tags = kit.call(kit.client(), attribute).get("Tags", {}).get("Tag", [])
    assert {"TagKey": "team", "TagValue": "a"} not in tags


def test_an_unknown_parameter_is_ignored_as_the_gateway_does(kit: Kit) -> None:
    lb_id = _lb(kit)
    request = DescribeLoadBalancerAttributeRequest.DescribeLoadBalancerAttributeRequest()
    request.set_LoadBalancerId(lb_id)
    request.add_query_param("Bogus", "1")
    assert kit.call(kit.client(), request)["LoadBalancerId"] == lb_id
    # Ignored means without effect: CreateLoadBalancer takes tags as Tag.N.Key/Value, and
    # a JSON "Tags" (DescribeLoadBalancers' filter spelling) tags nothing.
    create = CreateLoadBalancerRequest.CreateLoadBalancerRequest()
    create.set_InstanceChargeType("PayByCLCU")
    create.add_query_param("Tags", json.dumps([{"TagKey": "team", "TagValue": "a"}]))
    created = kit.call(kit.client(), create)["LoadBalancerId"]
    (lb,) = [item for item in kit.state()["load_balancers"] if item["LoadBalancerId"] == created]
    assert lb["Tags"] == {"Tag": []}


def test_out_of_range_and_unlisted_values_are_invalid_parameter(kit: Kit) -> None:
    lb_id = _lb(kit)
    # "HealthCheckConnectPort ... Valid values: **1** to **65535**."
    error = _refused(kit, _tcp_listener(lb_id, HealthCheckConnectPort=-520))
    assert (error.get_http_status(), error.get_error_code()) == (400, "InvalidParameter")
    assert '"HealthCheckConnectPort"' in error.get_error_msg()
    # "Scheduler ... Valid values: *   **wrr** *   **rr** *   **sch** *   **tch**"
    assert _refused(kit, _tcp_listener(lb_id, Scheduler="lc")).get_error_code() == (
        "InvalidParameter"
    )
    # a value that is not of the declared type
    assert _refused(kit, _tcp_listener(lb_id, HealthyThreshold="three")).get_error_code() == (
        "InvalidParameter"
    )
    assert _listener_ports(kit, lb_id) == []
    protection = SetLoadBalancerDeleteProtectionRequest.SetLoadBalancerDeleteProtectionRequest()
    protection.set_LoadBalancerId(lb_id)
    protection.set_DeleteProtection("yes")  # "Valid values: *   **on** *   **off**"
    assert _refused(kit, protection).get_error_code() == "InvalidParameter"


def test_too_many_list_items_are_invalid_parameter(kit: Kit) -> None:
    # CreateLoadBalancer Tag.N: "Valid values of N: **1 to 20**"
    create = CreateLoadBalancerRequest.CreateLoadBalancerRequest()
    create.set_InstanceChargeType("PayByCLCU")
    create.set_Tags([{"Key": f"k{i}", "Value": "v"} for i in range(21)])
    error = _refused(kit, create)
    assert (error.get_error_code(), '"Tag"' in error.get_error_msg()) == ("InvalidParameter", True)
    assert kit.state()["load_balancers"] == []
    # ECS DescribeNetworkInterfaces PrivateIpAddress.N: "Valid values of N: 1 to 100"
    enis = DescribeNetworkInterfacesRequest.DescribeNetworkInterfacesRequest()
    enis.set_PrivateIpAddresss([f"10.0.1.{i}" for i in range(101)])
    assert _refused(kit, enis).get_error_code() == "InvalidParameter"


def test_a_request_within_the_contract_passes(kit: Kit) -> None:
    lb_id = _lb(kit)
    kit.call(kit.client(), _tcp_listener(lb_id, HealthCheckConnectPort=65535, Scheduler="wrr"))
    assert _listener_ports(kit, lb_id) == [80]


def test_the_signature_is_checked_before_the_contract(kit: Kit) -> None:
    request = TagResourcesRequest.TagResourcesRequest()  # every required parameter missing
    error = _refused(kit, request, secret="wrong")
    # The SDK recognises Alibaba's SignatureDoesNotMatch body and renames it.
    assert (error.get_http_status(), error.get_error_code()) == (400, "InvalidAccessKeySecret")


def test_a_served_action_missing_from_the_vendored_spec_is_refused(
    kit: Kit, monkeypatch: pytest.MonkeyPatch
) -> None:
    spec = responses.api_spec(API_VERSION)
    actions = {n: a for n, a in spec.actions.items() if n != "DescribeLoadBalancerAttribute"}
    trimmed = dataclasses.replace(spec, actions=actions)
    monkeypatch.setattr(responses, "api_spec", lambda version: trimmed)
    request = DescribeLoadBalancerAttributeRequest.DescribeLoadBalancerAttributeRequest()
    request.set_LoadBalancerId("lb-1")
    error = _refused(kit, request)
    assert (error.get_http_status(), error.get_error_code()) == (404, "InvalidAction.NotFound")
    assert "cloud-specs.py" in error.get_error_msg()
