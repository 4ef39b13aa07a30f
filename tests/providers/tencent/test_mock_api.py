"""The mock CLB's API rules, driven through the real Tencent SDK over HTTP.

Counters, faults, latency and the clock are the mock-cloud kit's shared admin
routes (through ``MockAdmin``); ``/_admin/tasks`` and ``/_admin/resources``
are CLB's own.
"""

from __future__ import annotations

import json
import time
import urllib.request
from typing import Any

import pytest
from tencentcloud.common.exception.tencent_cloud_sdk_exception import TencentCloudSDKException

from lbprovider.mockkit import CallCounts

pytestmark = pytest.mark.providers


def _error_code(call: Any, *args: Any) -> str:
    with pytest.raises(TencentCloudSDKException) as caught:
        call(*args)
    return str(caught.value.code)


def _create_lb(tc: Any, cloud: Any, client: Any, **params: Any) -> str:
    body = {"LoadBalancerType": "OPEN", "VpcId": cloud.backend.vpc_id, **params}
    response = tc.sdk_call(client, "CreateLoadBalancer", body)
    tc.wait_tasks(cloud)
    return str(response.LoadBalancerIds[0])


# ---- envelope and Content-Type ------------------------------------------------


def test_errors_carry_exact_json_content_type_and_the_sdk_raises(tc: Any, cloud: Any) -> None:
    client = tc.sdk_client(cloud)
    request = urllib.request.Request(  # noqa: S310 - http to the local mock
        f"{cloud.endpoint}/", data=b"{}", method="POST"
    )
    with urllib.request.urlopen(request, timeout=5) as raw:  # noqa: S310 - http to the local mock
        assert raw.status == 200
        assert raw.headers["Content-Type"] == "application/json"
        envelope = json.loads(raw.read())["Response"]
    assert set(envelope) == {"Error", "RequestId"}
    assert set(envelope["Error"]) == {"Code", "Message"}
    code = _error_code(tc.sdk_call, client, "DescribeListeners", {"LoadBalancerId": "lb-missing0"})
    assert code == "InvalidParameter.LBIdNotFound"


def test_content_type_trap_a_charset_makes_the_sdk_swallow_errors(tc: Any, cloud: Any) -> None:
    """Why the exact Content-Type matters: with a charset the SDK ignores the error body."""
    client = tc.sdk_client(cloud)
    cloud.frontend.content_type = "application/json; charset=utf-8"
    swallowed = tc.sdk_call(client, "DescribeListeners", {"LoadBalancerId": "lb-missing0"})
    assert swallowed.Listeners is None  # an error, silently read as an empty answer
    cloud.frontend.content_type = "application/json"
    code = _error_code(tc.sdk_call, client, "DescribeListeners", {"LoadBalancerId": "lb-missing0"})
    assert code == "InvalidParameter.LBIdNotFound"


def test_unknown_action_and_missing_parameter(tc: Any, cloud: Any) -> None:
    client = tc.sdk_client(cloud)
    assert _error_code(client.call_json, "DescribeNothing", {}) == "InvalidAction"
    assert _error_code(tc.sdk_call, client, "CreateLoadBalancer", {}) == "MissingParameter"


# ---- load balancers -----------------------------------------------------------


def test_create_is_async_and_reports_task_status(tc: Any, cloud: Any) -> None:
    client = tc.sdk_client(cloud)
    tc.tasks(cloud, hold=True)
    created = tc.sdk_call(
        client, "CreateLoadBalancer", {"LoadBalancerType": "OPEN", "VpcId": cloud.backend.vpc_id}
    )
    assert created.DealName and created.RequestId
    lb_id = created.LoadBalancerIds[0]
    status = tc.sdk_call(client, "DescribeTaskStatus", {"TaskId": created.RequestId})
    assert status.Status == 2
    described = tc.sdk_call(client, "DescribeLoadBalancers", {"LoadBalancerIds": [lb_id]})
    assert described.LoadBalancerSet[0].Status == 0  # creating
    code = _error_code(
        tc.sdk_call,
        client,
        "CreateListener",
        {"LoadBalancerId": lb_id, "Ports": [80], "Protocol": "TCP"},
    )
    assert code == "FailedOperation.ResourceInOperating"
    tc.tasks(cloud, hold=False)
    status = tc.sdk_call(client, "DescribeTaskStatus", {"TaskId": created.RequestId})
    assert status.Status == 0
    described = tc.sdk_call(client, "DescribeLoadBalancers", {"LoadBalancerIds": [lb_id]})
    assert described.LoadBalancerSet[0].Status == 1
    assert described.LoadBalancerSet[0].LoadBalancerVips


def test_task_completes_after_the_configured_delay_by_the_mock_clock(tc: Any, cloud: Any) -> None:
    client = tc.sdk_client(cloud)
    tc.tasks(cloud, delay=30)
    created = tc.sdk_call(
        client, "CreateLoadBalancer", {"LoadBalancerType": "OPEN", "VpcId": cloud.backend.vpc_id}
    )
    assert tc.sdk_call(client, "DescribeTaskStatus", {"TaskId": created.RequestId}).Status == 2
    cloud.admin.advance_clock(29)
    assert tc.sdk_call(client, "DescribeTaskStatus", {"TaskId": created.RequestId}).Status == 2
    cloud.admin.advance_clock(1.5)
    assert tc.sdk_call(client, "DescribeTaskStatus", {"TaskId": created.RequestId}).Status == 0


def test_failed_task_reports_1_and_changes_nothing(tc: Any, cloud: Any) -> None:
    client = tc.sdk_client(cloud)
    lb_id = _create_lb(tc, cloud, client)
    tc.tasks(cloud, fail_next=1)
    started = tc.sdk_call(
        client, "CreateListener", {"LoadBalancerId": lb_id, "Ports": [80], "Protocol": "TCP"}
    )
    tc.wait_tasks(cloud)
    assert tc.sdk_call(client, "DescribeTaskStatus", {"TaskId": started.RequestId}).Status == 1
    assert tc.sdk_call(client, "DescribeListeners", {"LoadBalancerId": lb_id}).Listeners == []


def test_internal_needs_subnet_and_vip_must_be_free_and_inside(tc: Any, cloud: Any) -> None:
    client = tc.sdk_client(cloud)
    vpc, subnet = cloud.backend.vpc_id, cloud.backend.subnet_id
    assert (
        _error_code(
            tc.sdk_call,
            client,
            "CreateLoadBalancer",
            {"LoadBalancerType": "INTERNAL", "VpcId": vpc},
        )
        == "InvalidParameterValue"
    )
    assert (
        _error_code(
            tc.sdk_call,
            client,
            "CreateLoadBalancer",
            {
                "LoadBalancerType": "INTERNAL",
                "VpcId": vpc,
                "SubnetId": subnet,
                "Vip": "192.168.0.5",
            },
        )
        == "InvalidParameterValue"
    )
    assert (
        _error_code(
            tc.sdk_call,
            client,
            "CreateLoadBalancer",
            {"LoadBalancerType": "OPEN", "VpcId": vpc, "Vip": "10.0.1.50"},
        )
        == "InvalidParameterValue"
    )
    lb_id = _create_lb(
        tc, cloud, client, LoadBalancerType="INTERNAL", SubnetId=subnet, Vip="10.0.1.50"
    )
    described = tc.sdk_call(client, "DescribeLoadBalancers", {"LoadBalancerIds": [lb_id]})
    assert described.LoadBalancerSet[0].LoadBalancerVips == ["10.0.1.50"]
    assert described.LoadBalancerSet[0].LoadBalancerType == "INTERNAL"
    assert (
        _error_code(
            tc.sdk_call,
            client,
            "CreateLoadBalancer",
            {"LoadBalancerType": "INTERNAL", "VpcId": vpc, "SubnetId": subnet, "Vip": "10.0.1.50"},
        )
        == "InvalidParameterValue"
    )


def test_describe_by_tag_filter_with_paging(tc: Any, cloud: Any) -> None:
    client = tc.sdk_client(cloud)
    for index in range(5):
        _create_lb(
            tc, cloud, client, Tags=[{"TagKey": "team", "TagValue": "a" if index % 2 == 0 else "b"}]
        )
    page1 = tc.sdk_call(
        client,
        "DescribeLoadBalancers",
        {"Filters": [{"Name": "tag:team", "Values": ["a"]}], "Offset": 0, "Limit": 2},
    )
    page2 = tc.sdk_call(
        client,
        "DescribeLoadBalancers",
        {"Filters": [{"Name": "tag:team", "Values": ["a"]}], "Offset": 2, "Limit": 2},
    )
    assert page1.TotalCount == page2.TotalCount == 3
    ids = [lb.LoadBalancerId for lb in page1.LoadBalancerSet + page2.LoadBalancerSet]
    assert len(set(ids)) == 3
    assert all(
        lb.Tags[0].TagKey == "team" and lb.Tags[0].TagValue == "a"
        for lb in page1.LoadBalancerSet + page2.LoadBalancerSet
    )


def test_describe_lists_newest_first_unless_told(tc: Any, cloud: Any) -> None:
    """CLB's ``OrderType`` defaults to 1 (newest first); the provider asks for 0."""
    client = tc.sdk_client(cloud)
    created = [_create_lb(tc, cloud, client) for _ in range(3)]
    default = tc.sdk_call(client, "DescribeLoadBalancers", {}).LoadBalancerSet
    assert [lb.LoadBalancerId for lb in default] == created[::-1]
    oldest = tc.sdk_call(
        client, "DescribeLoadBalancers", {"OrderBy": "CreateTime", "OrderType": 0}
    ).LoadBalancerSet
    assert [lb.LoadBalancerId for lb in oldest] == created


def test_delete_unknown_lb_is_lb_id_not_found(tc: Any, cloud: Any) -> None:
    client = tc.sdk_client(cloud)
    code = _error_code(
        tc.sdk_call, client, "DeleteLoadBalancer", {"LoadBalancerIds": ["lb-nope0000"]}
    )
    assert code == "InvalidParameter.LBIdNotFound"


def test_client_token_makes_create_idempotent(tc: Any, cloud: Any) -> None:
    client = tc.sdk_client(cloud)
    params = {"LoadBalancerType": "OPEN", "VpcId": cloud.backend.vpc_id, "ClientToken": "t-1"}
    first = tc.sdk_call(client, "CreateLoadBalancer", params)
    second = tc.sdk_call(client, "CreateLoadBalancer", params)
    assert first.LoadBalancerIds == second.LoadBalancerIds
    assert cloud.resources()["load_balancers"] == 1


# ---- listeners and targets ----------------------------------------------------


def test_port_is_unique_per_protocol(tc: Any, cloud: Any) -> None:
    client = tc.sdk_client(cloud)
    lb_id = _create_lb(tc, cloud, client)
    for proto in ("TCP", "UDP"):
        tc.sdk_call(
            client, "CreateListener", {"LoadBalancerId": lb_id, "Ports": [80], "Protocol": proto}
        )
        tc.wait_tasks(cloud)
    code = _error_code(
        tc.sdk_call,
        client,
        "CreateListener",
        {"LoadBalancerId": lb_id, "Ports": [80], "Protocol": "TCP"},
    )
    assert code == "InvalidParameter.PortCheckFailed"
    listeners = tc.sdk_call(client, "DescribeListeners", {"LoadBalancerId": lb_id}).Listeners
    assert sorted((item.Port, item.Protocol) for item in listeners) == [(80, "TCP"), (80, "UDP")]
    only_udp = tc.sdk_call(
        client, "DescribeListeners", {"LoadBalancerId": lb_id, "Protocol": "UDP", "Port": 80}
    ).Listeners
    assert [item.Protocol for item in only_udp] == ["UDP"]


def test_listener_attributes_and_modify(tc: Any, cloud: Any) -> None:
    client = tc.sdk_client(cloud)
    lb_id = _create_lb(tc, cloud, client)
    created = tc.sdk_call(
        client,
        "CreateListener",
        {
            "LoadBalancerId": lb_id,
            "Ports": [443],
            "Protocol": "TCP",
            "SessionExpireTime": 300,
            "HealthCheck": {"HealthSwitch": 1, "CheckType": "TCP"},
        },
    )
    tc.wait_tasks(cloud)
    assert (
        _error_code(
            tc.sdk_call,
            client,
            "ModifyListener",
            {
                "LoadBalancerId": lb_id,
                "ListenerId": created.ListenerIds[0],
                "SessionExpireTime": 5,
            },
        )
        == "InvalidParameterValue"
    )
    tc.sdk_call(
        client,
        "ModifyListener",
        {
            "LoadBalancerId": lb_id,
            "ListenerId": created.ListenerIds[0],
            "SessionExpireTime": 0,
            "HealthCheck": {
                "CheckType": "HTTP",
                "CheckPort": 32000,
                "HttpCheckPath": "/healthz",
                "HttpVersion": "HTTP/1.1",
                "HttpCheckDomain": "healthz.example",
            },
        },
    )
    tc.wait_tasks(cloud)
    (listener,) = tc.sdk_call(client, "DescribeListeners", {"LoadBalancerId": lb_id}).Listeners
    assert listener.SessionExpireTime == 0
    assert listener.HealthCheck.CheckType == "HTTP"
    assert listener.HealthCheck.CheckPort == 32000


def test_targets_by_instance_and_eni_ip(tc: Any, cloud: Any) -> None:
    client = tc.sdk_client(cloud)
    lb_id = _create_lb(tc, cloud, client)
    listener_id = tc.sdk_call(
        client, "CreateListener", {"LoadBalancerId": lb_id, "Ports": [80], "Protocol": "TCP"}
    ).ListenerIds[0]
    tc.wait_tasks(cloud)
    instance = next(iter(cloud.backend.instances.values()))
    base = {"LoadBalancerId": lb_id, "ListenerId": listener_id}
    assert (
        _error_code(
            tc.sdk_call,
            client,
            "RegisterTargets",
            {
                **base,
                "Targets": [{"InstanceId": "ins-notseeded", "Port": 30080}],
            },
        )
        == "InvalidParameter"
    )
    assert (
        _error_code(
            tc.sdk_call,
            client,
            "RegisterTargets",
            {
                **base,
                "Targets": [{"EniIp": "192.168.3.4", "Port": 8080}],
            },
        )
        == "InvalidParameter"
    )
    tc.sdk_call(
        client,
        "RegisterTargets",
        {
            **base,
            "Targets": [
                {"InstanceId": instance.instance_id, "Port": 30080, "Weight": 10},
                {"EniIp": "10.1.2.3", "Port": 8080, "Weight": 10},
            ],
        },
    )
    tc.wait_tasks(cloud)
    (backend,) = tc.sdk_call(client, "DescribeTargets", {"LoadBalancerId": lb_id}).Listeners
    got = sorted((t.Type, t.InstanceId, t.PrivateIpAddresses[0], t.Port) for t in backend.Targets)
    assert got == [
        ("CVM", instance.instance_id, instance.private_ip, 30080),
        ("ENI", "", "10.1.2.3", 8080),
    ]
    tc.sdk_call(
        client, "DeregisterTargets", {**base, "Targets": [{"EniIp": "10.1.2.3", "Port": 8080}]}
    )
    tc.wait_tasks(cloud)
    (backend,) = tc.sdk_call(client, "DescribeTargets", {"LoadBalancerId": lb_id}).Listeners
    assert [t.Type for t in backend.Targets] == ["CVM"]


def test_delete_listener_then_load_balancer_leaves_nothing(tc: Any, cloud: Any) -> None:
    client = tc.sdk_client(cloud)
    lb_id = _create_lb(tc, cloud, client)
    listener_id = tc.sdk_call(
        client, "CreateListener", {"LoadBalancerId": lb_id, "Ports": [80], "Protocol": "UDP"}
    ).ListenerIds[0]
    tc.wait_tasks(cloud)
    tc.sdk_call(client, "DeleteListener", {"LoadBalancerId": lb_id, "ListenerId": listener_id})
    tc.wait_tasks(cloud)
    assert cloud.resources()["listeners"] == 0
    tc.sdk_call(client, "DeleteLoadBalancer", {"LoadBalancerIds": [lb_id]})
    tc.wait_tasks(cloud)
    assert cloud.resources() == {"load_balancers": 0, "listeners": 0, "targets": 0}


# ---- faults and the admin interface ---------------------------------------------


@pytest.mark.parametrize("code", ["RequestLimitExceeded", "InternalError"])
def test_injected_faults_reach_the_sdk(tc: Any, cloud: Any, code: str) -> None:
    client = tc.sdk_client(cloud)
    cloud.admin.inject_fault(code, count=1)
    assert _error_code(tc.sdk_call, client, "DescribeLoadBalancers", {}) == code
    assert tc.sdk_call(client, "DescribeLoadBalancers", {}).TotalCount == 0


def test_injected_faults_are_http_200_errors_with_exact_json_content_type(
    tc: Any, cloud: Any
) -> None:
    """The kit's fault status is for clouds that answer errors with it; CLB never does."""
    cloud.admin.inject_fault("RequestLimitExceeded", status=400, count=1)
    headers = tc.tc3_headers(
        secret_id=tc.secrets(cloud)[0],
        secret_key=tc.secrets(cloud)[1],
        action="DescribeLoadBalancers",
        body=b"{}",
        host=cloud.address,
        timestamp=int(time.time()),
    )
    request = urllib.request.Request(  # noqa: S310 - http to the local mock
        f"{cloud.endpoint}/", data=b"{}", headers=headers, method="POST"
    )
    with urllib.request.urlopen(request, timeout=5) as raw:  # noqa: S310 - http to the local mock
        assert raw.status == 200
        assert raw.headers["Content-Type"] == "application/json"
        error = json.loads(raw.read())["Response"]["Error"]
    assert error["Code"] == "RequestLimitExceeded"


def test_admin_counts_reads_and_writes_and_adds_latency(tc: Any, cloud: Any) -> None:
    client = tc.sdk_client(cloud)
    _create_lb(tc, cloud, client)
    counters = cloud.admin.counters()
    assert counters.writes == 1
    # DescribeTaskStatus is not counted: _create_lb waits on the mock's state, not the API.
    assert counters.actions == {"CreateLoadBalancer": 1}
    cloud.admin.reset()
    assert cloud.admin.counters() == CallCounts(reads=0, writes=0)
    cloud.admin.set_latency(0.2)
    started = time.monotonic()
    tc.sdk_call(client, "DescribeLoadBalancers", {})
    assert time.monotonic() - started >= 0.2
    assert cloud.admin.counters().reads == 1
    assert cloud.admin.request("GET", "resources")["load_balancers"] == 1
    assert len(cloud.admin.state()["load_balancers"]) == 1


def test_admin_holds_tasks_and_pins_the_clock(tc: Any, cloud: Any) -> None:
    client = tc.sdk_client(cloud)
    tc.tasks(cloud, hold=True)
    created = tc.sdk_call(
        client, "CreateLoadBalancer", {"LoadBalancerType": "OPEN", "VpcId": cloud.backend.vpc_id}
    )
    cloud.admin.advance_clock(60)
    assert tc.sdk_call(client, "DescribeTaskStatus", {"TaskId": created.RequestId}).Status == 2
    tc.tasks(cloud, hold=False)
    assert tc.sdk_call(client, "DescribeTaskStatus", {"TaskId": created.RequestId}).Status == 0
    cloud.admin.pin_clock(1_000_000_000)
    assert _error_code(tc.sdk_call, client, "DescribeLoadBalancers", {}) == (
        "AuthFailure.SignatureExpire"
    )
    cloud.admin.free_clock()
    assert tc.sdk_call(client, "DescribeLoadBalancers", {}).TotalCount == 1


def test_unknown_task_knob_is_a_400_naming_it(cloud: Any) -> None:
    with pytest.raises(RuntimeError, match="holdd"):
        cloud.admin.request("POST", "tasks", {"holdd": True})


def test_region_must_match_and_names_have_limits(tc: Any, cloud: Any) -> None:
    other_region = tc.sdk_client(cloud)
    other_region.region = "ap-shanghai"
    assert _error_code(tc.sdk_call, other_region, "DescribeLoadBalancers", {}) == (
        "UnsupportedRegion"
    )
    client = tc.sdk_client(cloud)
    assert (
        _error_code(
            tc.sdk_call,
            client,
            "CreateLoadBalancer",
            {
                "LoadBalancerType": "OPEN",
                "VpcId": cloud.backend.vpc_id,
                "LoadBalancerName": "x" * 81,
            },
        )
        == "InvalidParameterValue"
    )
    lb_id = _create_lb(tc, cloud, client)
    assert (
        _error_code(
            tc.sdk_call,
            client,
            "CreateListener",
            {
                "LoadBalancerId": lb_id,
                "Ports": [80],
                "Protocol": "TCP",
                "ListenerNames": ["n" * 81],
            },
        )
        == "InvalidParameterValue"
    )
    assert (
        _error_code(
            tc.sdk_call,
            client,
            "CreateLoadBalancer",
            {
                "LoadBalancerType": "OPEN",
                "VpcId": "vpc-other000",
            },
        )
        == "InvalidParameter"
    )
