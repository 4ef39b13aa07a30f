"""The mock CLB holds every request to the published contract (``tccli``'s ``api.json``).

Driven through the real Tencent SDK: the typed models for what they can express,
``call_json`` (the SDK's generic call) for a parameter the models do not have.
Each refused request leaves the cloud as it was.
"""

# ruff: noqa: RUF003 - quotes Tencent's Chinese field docs, full-width punctuation and all

from __future__ import annotations

import dataclasses
import json
import urllib.request
from typing import Any

import pytest
from tencentcloud.common.exception.tencent_cloud_sdk_exception import TencentCloudSDKException

from lbprovider_tencent.mock import responses

pytestmark = pytest.mark.providers


def _refused(call: Any, *args: Any) -> TencentCloudSDKException:
    with pytest.raises(TencentCloudSDKException) as caught:
        call(*args)
    return caught.value


def _lb(tc: Any, cloud: Any, client: Any) -> str:
    body = {"LoadBalancerType": "OPEN", "VpcId": cloud.backend.vpc_id}
    lb_id = str(tc.sdk_call(client, "CreateLoadBalancer", body).LoadBalancerIds[0])
    tc.wait_tasks(cloud)
    return lb_id


def _listeners(cloud: Any) -> int:
    return int(cloud.admin.request("GET", "resources", None)["listeners"])


def test_a_missing_required_parameter_is_missing_parameter(tc: Any, cloud: Any) -> None:
    client = tc.sdk_client(cloud)
    error = _refused(tc.sdk_call, client, "DescribeListeners", {})
    assert error.code == "MissingParameter"
    assert "`LoadBalancerId`" in str(error.message)
    lb_id = _lb(tc, cloud, client)
    listener = tc.sdk_call(
        client, "CreateListener", {"LoadBalancerId": lb_id, "Ports": [80], "Protocol": "TCP"}
    ).ListenerIds[0]
    tc.wait_tasks(cloud)
    # A required member of an object inside a list: Target.Port.
    instance = next(iter(cloud.backend.instances))
    error = _refused(
        tc.sdk_call,
        client,
        "RegisterTargets",
        {"LoadBalancerId": lb_id, "ListenerId": listener, "Targets": [{"InstanceId": instance}]},
    )
    assert (error.code, "`Targets.0.Port`" in str(error.message)) == ("MissingParameter", True)
    assert cloud.admin.request("GET", "resources", None)["targets"] == 0


def test_an_unknown_parameter_is_unknown_parameter(tc: Any, cloud: Any) -> None:
    client = tc.sdk_client(cloud)
    lb_id = _lb(tc, cloud, client)
    error = _refused(client.call_json, "DescribeListeners", {"LoadBalancerId": lb_id, "Bogus": 1})
    assert error.code == "UnknownParameter"
    assert "`Bogus`" in str(error.message)
    # Inside an object too, and nothing is created.
    error = _refused(
        client.call_json,
        "CreateListener",
        {
            "LoadBalancerId": lb_id,
            "Ports": [80],
            "Protocol": "TCP",
            "HealthCheck": {"HealthSwitch": 1, "HttpStatus": 200},
        },
    )
    assert (error.code, "`HealthCheck.HttpStatus`" in str(error.message)) == (
        "UnknownParameter",
        True,
    )
    assert _listeners(cloud) == 0


def test_out_of_range_and_unlisted_values_are_invalid_parameter_value(tc: Any, cloud: Any) -> None:
    client = tc.sdk_client(cloud)
    lb_id = _lb(tc, cloud, client)
    base = {"LoadBalancerId": lb_id, "Ports": [80], "Protocol": "TCP"}
    # HealthCheck.UnHealthNum: "不健康阈值，默认值：3 ... 可选值：2~10"
    out_of_range = {**base, "HealthCheck": {"HealthSwitch": 1, "UnHealthNum": 11}}
    error = _refused(tc.sdk_call, client, "CreateListener", out_of_range)
    assert (error.code, "HealthCheck.UnHealthNum" in str(error.message)) == (
        "InvalidParameterValue",
        True,
    )
    # Scheduler: "可选值：WRR（按权重轮询）、LEAST_CONN（按最小连接数）"
    unlisted = {**base, "Scheduler": "RR"}
    assert _refused(tc.sdk_call, client, "CreateListener", unlisted).code == (
        "InvalidParameterValue"
    )
    assert _listeners(cloud) == 0
    listener = tc.sdk_call(client, "CreateListener", base).ListenerIds[0]
    tc.wait_tasks(cloud)
    # Target.Weight: "取值范围：[0, 100]"
    heavy = [{"InstanceId": next(iter(cloud.backend.instances)), "Port": 30080, "Weight": 101}]
    register = {"LoadBalancerId": lb_id, "ListenerId": listener, "Targets": heavy}
    assert _refused(tc.sdk_call, client, "RegisterTargets", register).code == (
        "InvalidParameterValue"
    )
    assert cloud.admin.request("GET", "resources", None)["targets"] == 0
    # DescribeLoadBalancers.LoadBalancerIds: "实例ID数量上限为20个"
    too_many = {"LoadBalancerIds": [f"lb-{i:08d}" for i in range(21)]}
    assert _refused(tc.sdk_call, client, "DescribeLoadBalancers", too_many).code == (
        "InvalidParameterValue"
    )


def test_a_value_of_the_wrong_type_is_invalid_parameter(tc: Any, cloud: Any) -> None:
    client = tc.sdk_client(cloud)
    # LoadBalancerVips is a list of strings, ForceDelete a boolean.
    error = _refused(client.call_json, "DescribeLoadBalancers", {"LoadBalancerVips": "1.2.3.4"})
    assert (error.code, "`LoadBalancerVips`" in str(error.message)) == ("InvalidParameter", True)
    lb_id = _lb(tc, cloud, client)
    delete = {"LoadBalancerIds": [lb_id], "ForceDelete": "yes"}
    assert _refused(client.call_json, "DeleteLoadBalancer", delete).code == "InvalidParameter"
    assert [lb["id"] for lb in tc.lb_state(cloud)] == [lb_id]


def test_a_request_within_the_contract_passes(tc: Any, cloud: Any) -> None:
    client = tc.sdk_client(cloud)
    lb_id = _lb(tc, cloud, client)
    tc.sdk_call(
        client,
        "CreateListener",
        {
            "LoadBalancerId": lb_id,
            "Ports": [80, 65535],
            "Protocol": "UDP",
            "SessionExpireTime": 0,  # "默认为0，默认不开启": outside 30~3600 but published
            "HealthCheck": {"HealthSwitch": 1, "TimeOut": 2, "IntervalTime": 300},
        },
    )
    tc.wait_tasks(cloud)
    assert _listeners(cloud) == 2
    listed = tc.sdk_call(
        client, "DescribeLoadBalancers", {"Limit": 100, "LoadBalancerIds": [lb_id]}
    )
    assert [lb.LoadBalancerId for lb in listed.LoadBalancerSet] == [lb_id]


def test_the_signature_is_checked_before_the_contract(tc: Any, cloud: Any) -> None:
    body = json.dumps({"Bogus": 1}).encode()
    sid, _ = tc.secrets(cloud)
    headers = tc.tc3_headers(
        secret_id=sid,
        secret_key="not-the-secret",
        action="DescribeLoadBalancers",
        body=body,
        host=cloud.address,
        timestamp=int(cloud.backend.clock.now()),
    )
    request = urllib.request.Request(  # noqa: S310 - http to the local mock
        f"{cloud.endpoint}/", data=body, headers=headers, method="POST"
    )
    with urllib.request.urlopen(request, timeout=5) as raw:  # noqa: S310 - http to the local mock
        error = json.loads(raw.read())["Response"]["Error"]
    assert error["Code"] == "AuthFailure.SignatureFailure"


def test_a_served_action_missing_from_the_vendored_spec_is_refused(
    tc: Any, cloud: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The spec, not the handler table, says what exists: a handler added without
    regenerating the spec is refused (and the drift test names the file to regenerate)."""
    spec = responses.api_spec()
    actions = {name: a for name, a in spec.actions.items() if name != "DescribeListeners"}
    trimmed = dataclasses.replace(spec, actions=actions)
    monkeypatch.setattr(responses, "api_spec", lambda: trimmed)
    client = tc.sdk_client(cloud)
    error = _refused(tc.sdk_call, client, "DescribeListeners", {"LoadBalancerId": "lb-1"})
    assert error.code == "InvalidAction"
    assert "cloud-specs.py" in str(error.message)
