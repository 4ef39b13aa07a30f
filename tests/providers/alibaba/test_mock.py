"""The mock SLB enforces the rules a real SLB does, over HTTP, driven by the real SDK."""

from __future__ import annotations

import http.client
import json
import time
import urllib.parse
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from aliyunsdkcore.acs_exception.exceptions import ServerException
from aliyunsdkecs.request.v20140526 import DescribeNetworkInterfacesRequest
from aliyunsdkslb.request.v20140515 import (
    AddVServerGroupBackendServersRequest,
    CreateLoadBalancerRequest,
    CreateLoadBalancerTCPListenerRequest,
    CreateLoadBalancerUDPListenerRequest,
    CreateVServerGroupRequest,
    DeleteLoadBalancerRequest,
    DeleteVServerGroupRequest,
    DescribeLoadBalancerAttributeRequest,
    DescribeLoadBalancersRequest,
    DescribeVServerGroupAttributeRequest,
    ListTagResourcesRequest,
    RemoveVServerGroupBackendServersRequest,
    SetLoadBalancerDeleteProtectionRequest,
    StartLoadBalancerListenerRequest,
    TagResourcesRequest,
)

from lbprovider.mockkit import MockAdmin
from lbprovider_alibaba.mock import AlibabaMockCloud, SlbBackend, serve, start
from lbprovider_alibaba.mock.auth import sign, string_to_sign

pytestmark = pytest.mark.providers

Kit = Any  # the conftest's Kit (not importable under importlib mode)
REPO_ROOT = Path(__file__).resolve().parents[3]


def _error(kit: Kit, request: Any, **client: Any) -> ServerException:
    with pytest.raises(ServerException) as info:
        kit.call(kit.client(**client), request)
    return info.value


def _lb(kit: Kit, **params: Any) -> dict[str, Any]:
    request = CreateLoadBalancerRequest.CreateLoadBalancerRequest()
    params.setdefault("InstanceChargeType", "PayByCLCU")  # the only metering still sold
    for key, value in params.items():
        getattr(request, f"set_{key}")(value)
    reply: dict[str, Any] = kit.call(kit.client(), request)
    return reply


def _group(kit: Kit, lb_id: str, backends: list[dict[str, Any]] | None = None) -> str:
    request = CreateVServerGroupRequest.CreateVServerGroupRequest()
    request.set_LoadBalancerId(lb_id)
    request.set_VServerGroupName("g")
    if backends is not None:
        request.set_BackendServers(json.dumps(backends))
    return str(kit.call(kit.client(), request)["VServerGroupId"])


def _listener(kit: Kit, lb_id: str, protocol: str, port: int, group_id: str) -> Any:
    module = (
        CreateLoadBalancerTCPListenerRequest
        if protocol == "TCP"
        else CreateLoadBalancerUDPListenerRequest
    )
    request = getattr(module, module.__name__.rsplit(".", 1)[-1])()
    request.set_LoadBalancerId(lb_id)
    request.set_ListenerPort(port)
    request.set_Bandwidth(-1)
    request.set_VServerGroupId(group_id)
    return request


# -- signatures ---------------------------------------------------------------------------


@pytest.fixture
def vector() -> dict[str, Any]:
    # One request captured from the real SDK (a copy of shared/testdata's vectors).
    path = REPO_ROOT / "tests" / "providers" / "data" / "signature-vectors.json"
    data: dict[str, Any] = json.loads(path.read_text())["alibaba"]
    return data


@pytest.fixture
def pinned(vector: dict[str, Any]) -> Iterator[AlibabaMockCloud]:
    """A mock with the vector's account and vSwitch, its clock pinned to the capture time."""
    query = dict(urllib.parse.parse_qsl(vector["request"]["path"].split("?", 1)[1]))
    backend = SlbBackend(
        credentials={vector["access_key_id"]: vector["access_key_secret"]},
        vswitch_id=query["VSwitchId"],
    )
    handle = serve(backend)
    # Through the kit's admin route, as any test or tool would.
    MockAdmin(handle.endpoint).pin_clock(query["Timestamp"])
    try:
        yield handle
    finally:
        handle.stop()


def _raw(
    cloud: AlibabaMockCloud, method: str, path: str, body: str | None, headers: dict[str, str]
) -> tuple[int, dict[str, Any]]:
    connection = http.client.HTTPConnection(cloud.host, cloud.port, timeout=5)
    try:
        connection.request(method, path, body=body, headers=headers)
        response = connection.getresponse()
        return response.status, json.loads(response.read())
    finally:
        connection.close()


def _send(
    cloud: AlibabaMockCloud, request: dict[str, Any], path: str | None = None
) -> tuple[int, dict[str, Any]]:
    headers = {k: v for k, v in request["headers"].items() if k.lower() != "host"}
    return _raw(cloud, request["method"], path or request["path"], request["body"], headers)


def test_the_captured_sdk_request_is_accepted_byte_for_byte(
    pinned: AlibabaMockCloud, vector: dict[str, Any]
) -> None:
    status, body = _send(pinned, vector["request"])
    # The signature is accepted; the request itself then breaks SLB's published contract
    # (the capture names its load balancer "k8s svc*~/", which the LoadBalancerName field
    # doc refuses), so the answer is that rule's refusal, never a signature error.
    assert (status, body["Code"]) == (400, "InvalidParameter"), body
    assert "LoadBalancerName" in body["Message"]
    assert pinned.backend.resources()["load_balancers"] == 0
    # The same capture with a valid name and metering, re-signed, creates it.
    query = dict(urllib.parse.parse_qsl(vector["request"]["path"].split("?", 1)[1]))
    query.pop("Signature")
    query.update(LoadBalancerName="k8s-svc", InstanceChargeType="PayByCLCU", SignatureNonce="n2")
    signature = sign(vector["access_key_secret"], string_to_sign("POST", query))
    fixed = "/?" + urllib.parse.urlencode({**query, "Signature": signature})
    status, body = _send(pinned, vector["request"], fixed)
    assert status == 200, body
    lb = pinned.backend.snapshot()["load_balancers"][0]
    assert (lb["AddressType"], lb["VSwitchId"], lb["LoadBalancerName"]) == (
        "intranet",
        "vsw-123",
        "k8s-svc",
    )


def test_an_edited_copy_of_the_captured_request_is_rejected(
    pinned: AlibabaMockCloud, vector: dict[str, Any]
) -> None:
    edited = vector["request"]["path"].replace("AddressType=intranet", "AddressType=internet")
    assert edited != vector["request"]["path"]
    status, body = _send(pinned, vector["request"], edited)
    assert (status, body["Code"]) == (400, "SignatureDoesNotMatch")
    assert set(body) >= {"RequestId", "HostId", "Code", "Message"}
    assert pinned.backend.resources()["load_balancers"] == 0


def test_a_replayed_nonce_is_refused(pinned: AlibabaMockCloud, vector: dict[str, Any]) -> None:
    # The first send passes the signature check (and is refused for its name, see above).
    assert _send(pinned, vector["request"])[1]["Code"] == "InvalidParameter"
    status, body = _send(pinned, vector["request"])
    assert (status, body["Code"]) == (400, "SignatureNonceUsed")


def test_the_capture_is_refused_once_the_clock_moves_past_the_skew(
    pinned: AlibabaMockCloud, vector: dict[str, Any]
) -> None:
    pinned.admin.advance_clock(16 * 60)
    status, body = _send(pinned, vector["request"])
    assert (status, body["Code"]) == (400, "InvalidTimeStamp.Expired")


def test_parameters_in_a_form_body_are_signed_and_read(kit: Kit) -> None:
    cloud: AlibabaMockCloud = kit.cloud
    params = {
        "Action": "DescribeLoadBalancers",
        "Version": "2014-05-15",
        "Format": "JSON",
        "RegionId": cloud.backend.region,
        "AccessKeyId": cloud.access_key_id,
        "SignatureMethod": "HMAC-SHA1",
        "SignatureVersion": "1.0",
        "SignatureNonce": "form-nonce-1",
        "Timestamp": datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
    }
    body_params = {"PageSize": "5", "Tags": '[{"TagKey":"a","TagValue":"b c"}]'}
    signature = sign(cloud.access_key_secret, string_to_sign("POST", {**params, **body_params}))
    query = urllib.parse.urlencode({**params, "Signature": signature})
    form = {"Content-Type": "application/x-www-form-urlencoded"}
    status, reply = _raw(cloud, "POST", f"/?{query}", urllib.parse.urlencode(body_params), form)
    assert (status, reply["PageSize"]) == (200, 5)
    # Changing a body value after signing breaks the signature.
    tampered = urllib.parse.urlencode({**body_params, "PageSize": "6"})
    status, reply = _raw(cloud, "POST", f"/?{query}", tampered, form)
    assert (status, reply["Code"]) == (400, "SignatureDoesNotMatch")


def test_an_unknown_access_key_is_refused(kit: Kit) -> None:
    error = _error(kit, DescribeLoadBalancersRequest.DescribeLoadBalancersRequest(), ak="LTAInope")
    assert (error.get_http_status(), error.get_error_code()) == (404, "InvalidAccessKeyId.NotFound")


def test_a_wrong_secret_is_reported_by_the_sdk_as_invalid_secret(kit: Kit) -> None:
    error = _error(kit, DescribeLoadBalancersRequest.DescribeLoadBalancersRequest(), secret="wrong")
    # The SDK recognises Alibaba's SignatureDoesNotMatch body and renames it.
    assert (error.get_http_status(), error.get_error_code()) == (400, "InvalidAccessKeySecret")


def test_a_skewed_client_clock_is_refused(kit: Kit) -> None:
    kit.admin.pin_clock(time.time() - 20 * 60)
    error = _error(kit, DescribeLoadBalancersRequest.DescribeLoadBalancersRequest())
    assert error.get_error_code() == "InvalidTimeStamp.Expired"
    kit.admin.pin_clock(time.time() + 14 * 60)
    kit.call(kit.client(), DescribeLoadBalancersRequest.DescribeLoadBalancersRequest())


# -- load balancers -----------------------------------------------------------------------


def test_an_intranet_load_balancer_needs_a_vswitch(kit: Kit) -> None:
    request = CreateLoadBalancerRequest.CreateLoadBalancerRequest()
    request.set_InstanceChargeType("PayByCLCU")
    request.set_AddressType("intranet")
    assert _error(kit, request).get_error_code() == "InvalidVSwitchId.NotFound"
    lb = _lb(kit, AddressType="intranet", VSwitchId=kit.cloud.backend.vswitch_id)
    assert lb["Address"].startswith("10.0.1.")
    assert kit.cloud.resources()["load_balancers"] == 1


def test_an_intranet_address_must_be_free_and_in_the_vswitch(kit: Kit) -> None:
    vsw = kit.cloud.backend.vswitch_id
    assert (
        _lb(kit, AddressType="intranet", VSwitchId=vsw, Address="10.0.1.50")["Address"]
        == "10.0.1.50"
    )
    request = CreateLoadBalancerRequest.CreateLoadBalancerRequest()
    request.set_InstanceChargeType("PayByCLCU")
    request.set_AddressType("intranet")
    request.set_VSwitchId(vsw)
    request.set_Address("10.0.1.50")
    assert _error(kit, request).get_error_code() == "InvalidIpAddress.AlreadyUsed"
    request.set_Address("10.0.9.9")
    assert _error(kit, request).get_error_code() == "InvalidParameter.Address"


def test_tags_filter_and_paging(kit: Kit) -> None:
    for n in range(3):
        _lb(kit, Tags=[{"Key": "team", "Value": "a" if n < 2 else "b"}])
    request = DescribeLoadBalancersRequest.DescribeLoadBalancersRequest()
    request.set_Tags('[{"TagKey":"team","TagValue":"a"}]')
    request.set_PageSize(1)
    reply = kit.call(kit.client(), request)
    assert (reply["TotalCount"], len(reply["LoadBalancers"]["LoadBalancer"])) == (2, 1)
    request.set_PageNumber(2)
    second = kit.call(kit.client(), request)["LoadBalancers"]["LoadBalancer"]
    assert (
        second[0]["LoadBalancerId"] != reply["LoadBalancers"]["LoadBalancer"][0]["LoadBalancerId"]
    )

    tag = TagResourcesRequest.TagResourcesRequest()
    tag.set_ResourceType("instance")
    tag.set_ResourceIds([second[0]["LoadBalancerId"]])
    tag.set_Tags([{"Key": "env", "Value": "prod"}])
    kit.call(kit.client(), tag)
    listing = ListTagResourcesRequest.ListTagResourcesRequest()
    listing.set_ResourceType("instance")
    listing.set_Tags([{"Key": "env", "Value": "prod"}])
    found = kit.call(kit.client(), listing)["TagResources"]["TagResource"]
    assert {t["ResourceId"] for t in found} == {second[0]["LoadBalancerId"]}


def test_unknown_ids_give_the_real_not_found_codes(kit: Kit) -> None:
    attribute = DescribeLoadBalancerAttributeRequest.DescribeLoadBalancerAttributeRequest()
    attribute.set_LoadBalancerId("lb-nosuch")
    assert _error(kit, attribute).get_error_code() == "InvalidLoadBalancerId.NotFound"
    group = DescribeVServerGroupAttributeRequest.DescribeVServerGroupAttributeRequest()
    group.set_VServerGroupId("rsp-nosuch")
    assert _error(kit, group).get_error_code() == "InvalidParameter.VServerGroupId"
    lb_id = _lb(kit)["LoadBalancerId"]
    start_listener = StartLoadBalancerListenerRequest.StartLoadBalancerListenerRequest()
    start_listener.set_LoadBalancerId(lb_id)
    start_listener.set_ListenerPort(80)
    start_listener.set_ListenerProtocol("tcp")
    assert _error(kit, start_listener).get_error_code() == "InvalidParameter.ListenerNotExist"
    assert _error(kit, _listener(kit, lb_id, "TCP", 80, "rsp-nosuch")).get_error_code() == (
        "InvalidParameter.VServerGroupId"
    )


def test_a_listener_port_is_unique_per_protocol(kit: Kit) -> None:
    lb_id = _lb(kit)["LoadBalancerId"]
    group = _group(kit, lb_id)
    kit.call(kit.client(), _listener(kit, lb_id, "TCP", 80, group))
    kit.call(kit.client(), _listener(kit, lb_id, "UDP", 80, group))  # TCP 80 + UDP 80 coexist
    assert (
        _error(kit, _listener(kit, lb_id, "TCP", 80, group)).get_error_code()
        == "ListenerAlreadyExists"
    )
    assert kit.cloud.resources()["listeners"] == 2


def test_backends_must_be_known_instances_or_vpc_addresses(kit: Kit) -> None:
    lb_id = _lb(kit)["LoadBalancerId"]
    instance = kit.cloud.instances[0].provider_id.split(".", 1)[1]
    group = _group(
        kit, lb_id, [{"ServerId": instance, "Port": 30080, "Weight": 100, "Type": "ecs"}]
    )
    eni = kit.eni("10.0.1.40")
    add = AddVServerGroupBackendServersRequest.AddVServerGroupBackendServersRequest()
    add.set_VServerGroupId(group)
    add.set_BackendServers(json.dumps([{"ServerId": "i-unknown", "Port": 30080, "Type": "ecs"}]))
    assert _error(kit, add).get_error_code() == "InvalidBackendServers.ServerIdNotExist"
    add.set_BackendServers(
        json.dumps(
            [{"ServerId": "192.168.9.9", "ServerIp": "192.168.9.9", "Port": 80, "Type": "eni"}]
        )
    )
    assert _error(kit, add).get_error_code() == "InvalidBackendServers.ServerIdNotExist"
    # The Pod IP as ServerId is refused even for an IP an ENI of the VPC holds.
    add.set_BackendServers(
        json.dumps([{"ServerId": "10.0.1.40", "ServerIp": "10.0.1.40", "Port": 80, "Type": "eni"}])
    )
    assert _error(kit, add).get_error_code() == "InvalidBackendServers.ServerIdNotExist"
    add.set_BackendServers(
        json.dumps([{"ServerId": eni, "ServerIp": "10.0.1.40", "Port": 80, "Type": "eni"}])
    )
    kit.call(kit.client(), add)
    assert kit.group_backends(group) == {(instance, 30080, "ecs"), (eni, 80, "eni")}


def test_a_group_in_use_cannot_be_deleted(kit: Kit) -> None:
    lb_id = _lb(kit)["LoadBalancerId"]
    group = _group(kit, lb_id)
    kit.call(kit.client(), _listener(kit, lb_id, "TCP", 443, group))
    delete = DeleteVServerGroupRequest.DeleteVServerGroupRequest()
    delete.set_VServerGroupId(group)
    assert _error(kit, delete).get_error_code() == "RspoolVipExist"


def test_delete_protection_refuses_deletion_until_lifted(kit: Kit) -> None:
    lb_id = _lb(kit, DeleteProtection="on")["LoadBalancerId"]
    delete = DeleteLoadBalancerRequest.DeleteLoadBalancerRequest()
    delete.set_LoadBalancerId(lb_id)
    assert _error(kit, delete).get_error_code() == "OperationDenied.DeleteProtectionIsOn"
    protection = SetLoadBalancerDeleteProtectionRequest.SetLoadBalancerDeleteProtectionRequest()
    protection.set_LoadBalancerId(lb_id)
    protection.set_DeleteProtection("off")
    kit.call(kit.client(), protection)
    kit.call(kit.client(), delete)
    assert kit.cloud.resources() == {"load_balancers": 0, "listeners": 0, "vserver_groups": 0}


# -- ECS network interfaces and ENI backends ---------------------------------------------


def _enis(kit: Kit, **filters: Any) -> dict[str, Any]:
    request = DescribeNetworkInterfacesRequest.DescribeNetworkInterfacesRequest()
    for key, value in filters.items():
        getattr(request, f"set_{key}")(value)
    reply: dict[str, Any] = kit.call(kit.client(), request)
    return reply


def _eni_ids(reply: dict[str, Any]) -> list[str]:
    return [e["NetworkInterfaceId"] for e in reply["NetworkInterfaceSets"]["NetworkInterfaceSet"]]


def test_describe_network_interfaces_filters(kit: Kit) -> None:
    backend: SlbBackend = kit.cloud.backend
    node = kit.cloud.instances[1]
    instance = node.provider_id.split(".", 1)[1]
    pods = kit.eni("10.0.1.50", "10.0.1.51", instance_id=instance)
    spare = kit.eni("10.0.1.52", attach=False)

    (primary,) = _enis(kit, InstanceId=instance, Type="Primary")["NetworkInterfaceSets"][
        "NetworkInterfaceSet"
    ]
    assert (primary["PrivateIpAddress"], primary["Status"]) == (node.internal_ip, "InUse")
    # A secondary IP finds its ENI; one call can ask for many IPs.
    found = _enis(kit, PrivateIpAddresss=["10.0.1.51"], VpcId=backend.vpc_id)
    (eni,) = found["NetworkInterfaceSets"]["NetworkInterfaceSet"]
    assert (eni["NetworkInterfaceId"], eni["Type"], eni["InstanceId"]) == (
        pods,
        "Secondary",
        instance,
    )
    held = eni["PrivateIpSets"]["PrivateIpSet"]
    assert [s["PrivateIpAddress"] for s in held if not s["Primary"]] == ["10.0.1.50", "10.0.1.51"]
    assert [s["PrivateIpAddress"] for s in held if s["Primary"]] == [eni["PrivateIpAddress"]]
    both = _enis(kit, PrivateIpAddresss=["10.0.1.50", "10.0.1.52", node.internal_ip])
    assert set(_eni_ids(both)) == {pods, spare, primary["NetworkInterfaceId"]}
    assert _eni_ids(_enis(kit, PrivateIpAddresss=["10.0.1.52"], Status="InUse")) == []
    assert _eni_ids(_enis(kit, PrivateIpAddresss=["10.0.1.52"], Status="Available")) == [spare]
    assert _eni_ids(_enis(kit, PrivateIpAddresss=["10.0.1.51"], VpcId="vpc-other")) == []
    assert _eni_ids(_enis(kit, NetworkInterfaceIds=[pods, spare], Type="Secondary")) == [
        pods,
        spare,
    ]
    assert _eni_ids(_enis(kit, PrivateIpAddresss=["10.0.9.9"])) == []
    assert kit.eni_lookups() == 8 and kit.counts().writes == 0


def test_describe_network_interfaces_pages_and_limits(kit: Kit) -> None:
    for n in range(5):
        kit.eni(f"10.0.1.{60 + n}")
    everyone = [f"10.0.1.{60 + n}" for n in range(5)]
    pages = [
        _enis(kit, PrivateIpAddresss=everyone, PageSize=2, PageNumber=page) for page in (1, 2, 3)
    ]
    assert [p["TotalCount"] for p in pages] == [5, 5, 5]
    assert [len(_eni_ids(p)) for p in pages] == [2, 2, 1]
    assert len({i for p in pages for i in _eni_ids(p)}) == 5
    # Token paging.
    first = _enis(kit, PrivateIpAddresss=everyone, MaxResults=3)
    second = _enis(kit, PrivateIpAddresss=everyone, MaxResults=3, NextToken=first["NextToken"])
    assert first["NextToken"] and not second["NextToken"]
    assert set(_eni_ids(first)) | set(_eni_ids(second)) == set(_eni_ids(pages[0])) | set(
        _eni_ids(pages[1])
    ) | set(_eni_ids(pages[2]))
    request = DescribeNetworkInterfacesRequest.DescribeNetworkInterfacesRequest()
    request.set_PrivateIpAddresss([f"10.1.{n // 250}.{n % 250}" for n in range(101)])
    assert _error(kit, request).get_error_code() == "InvalidParameter"
    request = DescribeNetworkInterfacesRequest.DescribeNetworkInterfacesRequest()
    request.set_PageSize(1001)
    assert _error(kit, request).get_error_code() == "InvalidParameter"
    request = DescribeNetworkInterfacesRequest.DescribeNetworkInterfacesRequest()
    request.set_NextToken("forged")
    assert _error(kit, request).get_error_code() == "InvalidParameter"


def test_ecs_calls_are_signed_routed_by_version_and_counted(kit: Kit) -> None:
    request = DescribeNetworkInterfacesRequest.DescribeNetworkInterfacesRequest()
    error = _error(kit, request, secret="wrong")
    assert (error.get_http_status(), error.get_error_code()) == (400, "InvalidAccessKeySecret")
    assert _error(kit, request, ak="LTAInope").get_error_code() == "InvalidAccessKeyId.NotFound"
    # An SLB action under ECS's version (and the reverse) does not exist.
    slb_under_ecs = DescribeLoadBalancersRequest.DescribeLoadBalancersRequest()
    slb_under_ecs.set_version("2014-05-26")
    slb_under_ecs.set_product("Ecs")
    assert _error(kit, slb_under_ecs).get_error_code() == "InvalidAction.NotFound"
    unknown = DescribeNetworkInterfacesRequest.DescribeNetworkInterfacesRequest()
    unknown.set_version("2016-04-28")
    assert _error(kit, unknown).get_error_code() == "InvalidVersion"
    kit.fault("Throttling", actions=("DescribeNetworkInterfaces",))
    error = _error(kit, request)
    assert (error.get_http_status(), error.get_error_code()) == (503, "Throttling")
    assert _eni_ids(_enis(kit, Type="Primary")) != []
    assert kit.eni_lookups() == 2
    assert kit.counts().writes == 0
    assert kit.counts().rejected == 2  # the bad secret and the unknown key


def test_eni_backends_need_the_eni_that_holds_the_ip(kit: Kit) -> None:
    lb_id = _lb(kit)["LoadBalancerId"]
    eni = kit.eni("10.0.1.70", "10.0.1.71")
    other = kit.eni("10.0.1.72")
    group = _group(kit, lb_id)
    add = AddVServerGroupBackendServersRequest.AddVServerGroupBackendServersRequest()
    add.set_VServerGroupId(group)
    add.set_BackendServers(
        json.dumps([{"ServerId": other, "ServerIp": "10.0.1.70", "Port": 80, "Type": "eni"}])
    )
    error = _error(kit, add)
    assert (error.get_http_status(), error.get_error_code()) == (400, "InvalidParameter")
    add.set_BackendServers(json.dumps([{"ServerId": eni, "Port": 80, "Type": "eni"}]))
    assert _error(kit, add).get_error_code() == "MissingParameter"
    add.set_BackendServers(
        json.dumps([{"ServerId": "eni-nosuch", "ServerIp": "10.0.1.70", "Port": 80, "Type": "eni"}])
    )
    assert _error(kit, add).get_error_code() == "InvalidBackendServers.ServerIdNotExist"
    # Two Pod IPs of one ENI on the same port are two backends.
    add.set_BackendServers(
        json.dumps(
            [
                {"ServerId": eni, "ServerIp": "10.0.1.70", "Port": 80, "Type": "eni"},
                {"ServerId": eni, "ServerIp": "10.0.1.71", "Port": 80, "Type": "eni"},
            ]
        )
    )
    kit.call(kit.client(), add)
    assert kit.eni_backends(group) == [(eni, "10.0.1.70", 80), (eni, "10.0.1.71", 80)]
    assert _error(kit, add).get_error_code() == "BackendServer.Duplicated"
    remove = RemoveVServerGroupBackendServersRequest.RemoveVServerGroupBackendServersRequest()
    remove.set_VServerGroupId(group)
    remove.set_BackendServers(
        json.dumps([{"ServerId": eni, "ServerIp": "10.0.1.71", "Port": 80, "Type": "eni"}])
    )
    kit.call(kit.client(), remove)
    assert kit.eni_backends(group) == [(eni, "10.0.1.70", 80)]


def test_admin_creates_and_lists_enis(kit: Kit) -> None:
    cloud: AlibabaMockCloud = kit.cloud
    made = _admin(cloud, "POST", "enis", {"ips": ["10.0.1.80", "10.0.1.81"]})
    assert made["NetworkInterfaceId"].startswith("eni-") and made["Status"] == "InUse"
    assert cloud.enis[made["NetworkInterfaceId"]] == ("10.0.1.80", "10.0.1.81")
    listed = _admin(cloud, "GET", "enis")["network_interfaces"]
    assert made["NetworkInterfaceId"] in {e["NetworkInterfaceId"] for e in listed}
    # An address already held is refused, and nothing is made.
    status, reply = _raw(cloud, "POST", "/_admin/enis", json.dumps({"ips": ["10.0.1.80"]}), {})
    assert status == 400 and "already used" in reply["error"]
    assert len(_admin(cloud, "GET", "enis")["network_interfaces"]) == len(listed)
    found = _enis(kit, PrivateIpAddresss=["10.0.1.81"])
    assert _eni_ids(found) == [made["NetworkInterfaceId"]]


# -- admin interface and sandbox contract -------------------------------------------------


def _admin(cloud: AlibabaMockCloud, method: str, path: str, payload: Any = None) -> dict[str, Any]:
    body = None if payload is None else json.dumps(payload)
    status, reply = _raw(cloud, method, f"/_admin/{path}", body, {})
    assert status == 200, reply
    return reply


def test_admin_faults_counts_and_state(kit: Kit) -> None:
    admin: MockAdmin = kit.admin
    admin.inject_fault("ServiceUnavailable", status=503, count=1, actions=["CreateLoadBalancer"])
    request = CreateLoadBalancerRequest.CreateLoadBalancerRequest()
    request.set_InstanceChargeType("PayByCLCU")
    error = _error(kit, request)
    assert (error.get_http_status(), error.get_error_code()) == (503, "ServiceUnavailable")
    _lb(kit)
    kit.call(kit.client(), DescribeLoadBalancersRequest.DescribeLoadBalancersRequest())
    assert (admin.counters().reads, admin.counters().writes) == (1, 2)
    assert len(admin.state()["load_balancers"]) == 1
    admin.reset()
    assert (admin.counters().reads, admin.counters().writes) == (0, 0)
    admin.inject_fault("Throttling.User")
    assert _error(kit, request).get_http_status() == 400


def test_start_seeds_instances_and_settings_and_stops_idempotently() -> None:
    handle = start(instances=2)
    try:
        assert [i.node_name for i in handle.instances] == ["alibaba-node-1", "alibaba-node-2"]
        assert all(i.provider_id.startswith("cn-hangzhou.i-") for i in handle.instances)
        settings = handle.provider_settings()
        assert settings["endpoint"] == f"127.0.0.1:{handle.port}"
        assert set(settings) == {
            "region",
            "endpoint",
            "ecs_endpoint",
            "vpc_id",
            "vswitch_id",
            "credentials_file",
            "rate_limit_qps",
            "rate_limit_burst",
        }
        assert settings["ecs_endpoint"] == settings["endpoint"]
        # Pod ENIs for the sandbox: 10.0.1.200-210, split over the instances, in use.
        seeded = handle.enis
        assert sorted(ip for ips in seeded.values() for ip in ips) == sorted(
            f"10.0.1.{n}" for n in range(200, 211)
        )
        owners = {
            eni["NetworkInterfaceId"]: eni["InstanceId"]
            for eni in handle.backend.snapshot()["network_interfaces"]
        }
        instances = {i.provider_id.split(".", 1)[1] for i in handle.instances}
        assert {owners[eni_id] for eni_id in seeded} == instances
        credentials = json.loads(Path(settings["credentials_file"]).read_text())
        assert credentials["access_key_id"] == handle.access_key_id
        assert handle.resources() == {"load_balancers": 0, "listeners": 0, "vserver_groups": 0}
    finally:
        handle.stop()
        handle.stop()
    with pytest.raises(OSError):
        _raw(handle, "GET", "/_admin/counters", None, {})


def test_a_repeated_client_token_creates_one_load_balancer(kit: Kit) -> None:
    first = _lb(kit, ClientToken="token-1")
    again = _lb(kit, ClientToken="token-1")
    other = _lb(kit, ClientToken="token-2")
    assert first["LoadBalancerId"] == again["LoadBalancerId"] != other["LoadBalancerId"]
    request = DescribeLoadBalancersRequest.DescribeLoadBalancersRequest()
    request.set_LoadBalancerId(f"{first['LoadBalancerId']},{other['LoadBalancerId']}")
    assert kit.call(kit.client(), request)["TotalCount"] == 2


def test_admin_clock_pins_the_signature_clock(kit: Kit) -> None:
    admin: MockAdmin = kit.admin
    admin.pin_clock("2020-01-01T00:00:00Z")
    request = DescribeLoadBalancersRequest.DescribeLoadBalancersRequest()
    assert _error(kit, request).get_error_code() == "InvalidTimeStamp.Expired"
    admin.free_clock()
    admin.set_latency(0.05)
    assert kit.call(kit.client(), request)["TotalCount"] == 0
