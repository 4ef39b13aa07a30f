"""Issue 10: the Tencent provider against the CLB contract, and the mock rules that hold it.

Each test here drives the real SDK against the stricter mock and names the published
rule it proves (``docs/cloud-fidelity.md`` lists them).  The provider tests fail on the
code before the fixes: they are the regression tests of the defects the issue lists.
"""

from __future__ import annotations

from typing import Any

import pytest
from tencentcloud.common.exception.tencent_cloud_sdk_exception import TencentCloudSDKException

from lbprovider.cloud import EndpointTarget, HealthCheck, InvalidService, Protocol, RetryAfter
from lbprovider.cloud.tags import SERVICE_UID_TAG, ownership_tags
from lbprovider_tencent.options import (
    ANNOTATION_CLUSTER_HEALTH_CHECK,
    ANNOTATION_KUBE_PROXY_HEALTH_PORT,
)

pytestmark = pytest.mark.providers

TCP, UDP = Protocol.TCP, Protocol.UDP
HTTP_COMPANIONS = {"HttpVersion": "HTTP/1.1", "HttpCheckDomain": "kube-proxy.healthz"}


def _error_code(call: Any, *args: Any) -> str:
    with pytest.raises(TencentCloudSDKException) as caught:
        call(*args)
    return str(caught.value.code)


def _checks(tc: Any, cloud: Any) -> dict[tuple[str, int], dict[str, Any]]:
    (lb,) = tc.lb_state(cloud)
    return {(item["protocol"], item["port"]): item["health_check"] for item in lb["listeners"]}


def _create_lb(tc: Any, cloud: Any, client: Any) -> str:
    body = {"LoadBalancerType": "OPEN", "VpcId": cloud.backend.vpc_id}
    created = tc.sdk_call(client, "CreateLoadBalancer", body)
    tc.wait_tasks(cloud)
    return str(created.LoadBalancerIds[0])


def _listener(tc: Any, cloud: Any, client: Any, lb_id: str, protocol: str = "TCP") -> str:
    body = {"LoadBalancerId": lb_id, "Ports": [80], "Protocol": protocol}
    created = tc.sdk_call(client, "CreateListener", body)
    tc.wait_tasks(cloud)
    return str(created.ListenerIds[0])


def _endpoints(count: int, *, third: int = 2) -> tuple[EndpointTarget, ...]:
    return tuple(
        EndpointTarget(ip=f"10.{third}.{n // 250}.{n % 250 + 1}", port=8080) for n in range(count)
    )


# ---- health checks (defect: HTTP check on a TCP listener; item 4) --------------------------


def test_local_check_is_a_valid_2xx_only_http_check_and_leaving_it_resets_the_port(
    tc: Any, cloud: Any
) -> None:
    """HttpVersion and HttpCheckDomain are required on a TCP listener's HTTP check; HttpCode
    2 (2xx only), since kube-proxy answers 503 on a node without a local endpoint; leaving
    Local writes CheckPort -1, so the check is back on the traffic port."""
    provider = tc.make_provider(cloud, cluster_health_check="traffic-port")
    service = tc.ref()
    tc.converge(
        lambda: provider.ensure(tc.desired(cloud, service, health_check=HealthCheck(port=32456)))
    )
    check = _checks(tc, cloud)[("TCP", 80)]
    assert check["CheckType"] == "HTTP"
    assert (check["CheckPort"], check["HttpCheckPath"], check["HttpCheckMethod"]) == (
        32456,
        "/healthz",
        "GET",
    )
    assert check["HttpCode"] == 2
    assert (check["HttpVersion"], check["HttpCheckDomain"]) == ("HTTP/1.1", "kube-proxy.healthz")

    tc.converge(lambda: provider.ensure(tc.desired(cloud, service)))  # back to Cluster
    check = _checks(tc, cloud)[("TCP", 80)]
    assert (check["CheckType"], check["CheckPort"]) == ("TCP", None)  # the backend port again
    cloud.admin.reset()
    tc.converge(lambda: provider.ensure(tc.desired(cloud, service)))
    assert cloud.admin.counters().writes == 0  # -1 written, null read: the same check


def test_cluster_policy_checks_kube_proxy_on_tcp_and_pings_udp(tc: Any, cloud: Any) -> None:
    provider = tc.make_provider(cloud)  # cluster_health_check: kube-proxy (the default)
    service = tc.ref()
    tc.converge(
        lambda: provider.ensure(tc.desired(cloud, service, ((53, TCP, 30053), (53, UDP, 30054))))
    )
    checks = _checks(tc, cloud)
    assert (checks[("TCP", 53)]["CheckType"], checks[("TCP", 53)]["CheckPort"]) == ("HTTP", 10256)
    assert checks[("TCP", 53)]["HttpCode"] == 2
    # CLB's UDP listeners check with PING or CUSTOM only: no HTTP, so PING.
    assert checks[("UDP", 53)]["CheckType"] == "PING"
    cloud.admin.reset()
    tc.converge(
        lambda: provider.ensure(tc.desired(cloud, service, ((53, TCP, 30053), (53, UDP, 30054))))
    )
    assert cloud.admin.counters().writes == 0


def test_annotations_override_the_class_cluster_check(tc: Any, cloud: Any) -> None:
    provider = tc.make_provider(cloud, kube_proxy_health_port=10300)
    port = tc.ref(uid="port", name="port", **{ANNOTATION_KUBE_PROXY_HEALTH_PORT: "10999"})
    tcp = tc.ref(uid="tcp", name="tcp", **{ANNOTATION_CLUSTER_HEALTH_CHECK: "traffic-port"})
    tc.converge(lambda: provider.ensure(tc.desired(cloud, port)))
    tc.converge(lambda: provider.ensure(tc.desired(cloud, tcp)))
    tc.converge(lambda: provider.ensure(tc.desired(cloud, tc.ref(uid="plain", name="plain"))))
    found = {
        lb["tags"][SERVICE_UID_TAG]: lb["listeners"][0]["health_check"] for lb in tc.lb_state(cloud)
    }
    assert (found["port"]["CheckType"], found["port"]["CheckPort"]) == ("HTTP", 10999)
    assert (found["tcp"]["CheckType"], found["tcp"]["CheckPort"]) == ("TCP", None)
    assert (found["plain"]["CheckType"], found["plain"]["CheckPort"]) == ("HTTP", 10300)


@pytest.mark.parametrize(
    "annotations",
    [{ANNOTATION_CLUSTER_HEALTH_CHECK: "http"}, {ANNOTATION_KUBE_PROXY_HEALTH_PORT: "70000"}],
)
def test_a_malformed_health_check_annotation_is_invalid_service(
    tc: Any, cloud: Any, provider: Any, annotations: dict[str, str]
) -> None:
    with pytest.raises(InvalidService, match=next(iter(annotations))):
        provider.ensure(tc.desired(cloud, tc.ref(**annotations)))
    assert cloud.admin.counters().writes == 0


def test_pod_targets_get_a_tcp_check_of_their_own_port(tc: Any, cloud: Any, provider: Any) -> None:
    eps = _endpoints(2)
    service = tc.ref()
    tc.converge(lambda: provider.ensure(tc.pod_desired(service, {(80, TCP): eps, (80, UDP): eps})))
    checks = _checks(tc, cloud)
    assert (checks[("TCP", 80)]["CheckType"], checks[("TCP", 80)]["CheckPort"]) == ("TCP", None)
    assert checks[("UDP", 80)]["CheckType"] == "PING"


def test_mock_enforces_the_health_check_rules(tc: Any, cloud: Any) -> None:
    client = tc.sdk_client(cloud)
    lb_id = _create_lb(tc, cloud, client)
    tcp = _listener(tc, cloud, client, lb_id)
    udp = _listener(tc, cloud, client, lb_id, "UDP")

    def modify(listener_id: str, check: dict[str, Any]) -> Any:
        body = {"LoadBalancerId": lb_id, "ListenerId": listener_id, "HealthCheck": check}
        return tc.sdk_call(client, "ModifyListener", body)

    http = {"CheckType": "HTTP", "CheckPort": 31000, "HttpCheckPath": "/healthz"}
    for missing in HTTP_COMPANIONS:
        partial = {**http, **{k: v for k, v in HTTP_COMPANIONS.items() if k != missing}}
        assert _error_code(modify, tcp, partial) == "MissingParameter"
    assert _error_code(modify, tcp, {**http, **HTTP_COMPANIONS, "HttpCode": 32}) == (
        "InvalidParameterValue"
    )
    assert _error_code(modify, udp, {**http, **HTTP_COMPANIONS}) == "InvalidParameterValue"
    assert _error_code(modify, tcp, {"TimeOut": 5, "IntervalTime": 5}) == "InvalidParameterValue"
    modify(tcp, {**http, **HTTP_COMPANIONS, "HttpCode": 2})
    tc.wait_tasks(cloud)
    modify(tcp, {"CheckType": "TCP", "CheckPort": -1})
    tc.wait_tasks(cloud)
    described = {"LoadBalancerId": lb_id, "ListenerIds": [tcp]}
    (listener,) = tc.sdk_call(client, "DescribeListeners", described).Listeners
    assert listener.HealthCheck.CheckType == "TCP"
    assert listener.HealthCheck.CheckPort is None  # -1: "恢复默认设置", the backend port


# ---- DeleteLoadBalancer needs ForceDelete ----------------------------------------------


def test_delete_forces_a_clb_with_20_bound_backends(tc: Any, cloud: Any, provider: Any) -> None:
    """Without ForceDelete CLB refuses the delete (FailedOperation.TargetNumCheckRisk) and
    the finalizer would never come off."""
    service = tc.ref()
    tc.converge(lambda: provider.ensure(tc.pod_desired(service, {(80, TCP): _endpoints(20)})))
    tc.converge(lambda: provider.delete(service))
    assert cloud.resources()["load_balancers"] == 0


def test_mock_refuses_an_unforced_delete_of_20_bound_backends(tc: Any, cloud: Any) -> None:
    client = tc.sdk_client(cloud)
    lb_id = _create_lb(tc, cloud, client)
    listener_id = _listener(tc, cloud, client, lb_id)
    targets = [{"EniIp": ep.ip, "Port": ep.port} for ep in _endpoints(20)]
    tc.sdk_call(
        client,
        "BatchRegisterTargets",
        {"LoadBalancerId": lb_id, "Targets": [{"ListenerId": listener_id, **t} for t in targets]},
    )
    tc.wait_tasks(cloud)
    body = {"LoadBalancerIds": [lb_id]}
    code = _error_code(tc.sdk_call, client, "DeleteLoadBalancer", body)
    assert code == "FailedOperation.TargetNumCheckRisk"
    tc.sdk_call(client, "DeleteLoadBalancer", {**body, "ForceDelete": True})
    tc.wait_tasks(cloud)
    assert cloud.resources()["load_balancers"] == 0


# ---- targets: Batch*Targets, 500 a call, DescribeTargets 20 listener ids ----------------


def test_targets_of_every_listener_go_in_one_call_per_500(
    tc: Any, cloud: Any, provider: Any
) -> None:
    service = tc.ref()
    ports = {(port, TCP): _endpoints(200, third=port - 78) for port in (80, 81, 82)}
    tc.converge(lambda: provider.ensure(tc.pod_desired(service, ports)))
    assert cloud.resources()["targets"] == 600
    assert cloud.admin.counters().actions["BatchRegisterTargets"] == 2  # 500 + 100


def test_a_node_change_on_many_listeners_is_one_call(tc: Any, cloud: Any, provider: Any) -> None:
    """21 listeners: DescribeTargets is read in chunks of 20 ids, and dropping a node is one
    BatchDeregisterTargets (not one call per listener)."""
    service = tc.ref()
    ports = tuple((1000 + n, TCP, 31000 + n) for n in range(21))
    tc.converge(lambda: provider.ensure(tc.desired(cloud, service, ports)))
    assert cloud.resources()["targets"] == 63
    cloud.admin.reset()
    nodes = tc.node_targets(cloud)[:2]
    tc.converge(lambda: provider.update_backends(tc.desired(cloud, service, ports, nodes=nodes)))
    assert tc.writes(cloud) == {"BatchDeregisterTargets": 1}
    assert cloud.admin.counters().actions["DescribeTargets"] == 2  # 20 + 1 listener ids
    assert cloud.resources()["targets"] == 42


def test_mock_batch_and_describe_limits(tc: Any, cloud: Any) -> None:
    client = tc.sdk_client(cloud)
    lb_id = _create_lb(tc, cloud, client)
    listener_id = _listener(tc, cloud, client, lb_id)
    too_many = [
        {"ListenerId": listener_id, "EniIp": ep.ip, "Port": ep.port} for ep in _endpoints(501)
    ]
    body = {"LoadBalancerId": lb_id, "Targets": too_many}
    assert _error_code(tc.sdk_call, client, "BatchRegisterTargets", body) == "InvalidParameterValue"
    ids = {"LoadBalancerId": lb_id, "ListenerIds": [f"lbl-{n:08d}" for n in range(21)]}
    assert _error_code(tc.sdk_call, client, "DescribeTargets", ids) == "InvalidParameterValue"
    reply = tc.sdk_call(
        client,
        "BatchRegisterTargets",
        {
            "LoadBalancerId": lb_id,
            "Targets": [*too_many[:2], {**too_many[2], "ListenerId": "lbl-nothere"}],
        },
    )
    assert reply.FailListenerIdSet == ["lbl-nothere"]  # the rest applies
    tc.wait_tasks(cloud)
    assert cloud.resources()["targets"] == 2


# ---- CreateLoadBalancer: delayed ids, ClientToken, names --------------------------------


def test_a_delayed_create_resumes_after_a_restart_instead_of_duplicating(
    tc: Any, cloud: Any
) -> None:
    """A delayed creation answers no id and is not listed until its task ends: only a
    ClientToken derived from the Service makes the next call (or a restarted controller)
    get that CLB back instead of buying a second one."""
    tc.tasks(cloud, delayed_create=True, hold=True)
    want = tc.desired(cloud, tc.ref())
    with pytest.raises(RetryAfter):
        tc.make_provider(cloud, task_wait_seconds=0.05).ensure(want)
    with pytest.raises(RetryAfter):
        tc.make_provider(cloud, task_wait_seconds=0.05).ensure(want)  # a restart
    assert cloud.resources()["load_balancers"] == 1
    tc.tasks(cloud, hold=False)
    status = tc.converge(lambda: tc.make_provider(cloud).ensure(want))
    assert cloud.resources() == {"load_balancers": 1, "listeners": 1, "targets": 3}
    assert status.lb_id == tc.lb_state(cloud)[0]["id"]


def test_a_delayed_create_reads_its_id_from_the_task(tc: Any, cloud: Any, provider: Any) -> None:
    tc.tasks(cloud, delayed_create=True)
    status = tc.converge(lambda: provider.ensure(tc.desired(cloud, tc.ref())))
    assert status.lb_id == tc.lb_state(cloud)[0]["id"]
    assert cloud.admin.counters().actions["CreateLoadBalancer"] == 1


def test_a_service_recreated_after_delete_gets_a_fresh_clb(
    tc: Any, cloud: Any, provider: Any
) -> None:
    """The token of the first CLB answers that (deleted) CLB again; the next token is used."""
    service = tc.ref()
    first = tc.converge(lambda: provider.ensure(tc.desired(cloud, service)))
    tc.converge(lambda: provider.delete(service))
    second = tc.converge(lambda: provider.ensure(tc.desired(cloud, service)))
    assert second.lb_id != first.lb_id
    assert cloud.resources()["load_balancers"] == 1


def test_mock_delayed_create_answers_no_id_until_its_task_ends(tc: Any, cloud: Any) -> None:
    client = tc.sdk_client(cloud)
    tc.tasks(cloud, delayed_create=True, hold=True)
    body = {"LoadBalancerType": "OPEN", "VpcId": cloud.backend.vpc_id, "ClientToken": "t-1"}
    created = tc.sdk_call(client, "CreateLoadBalancer", body)
    assert not created.LoadBalancerIds
    assert tc.sdk_call(client, "DescribeLoadBalancers", {}).TotalCount == 0
    task = {"TaskId": created.RequestId}
    assert not tc.sdk_call(client, "DescribeTaskStatus", task).LoadBalancerIds
    again = tc.sdk_call(client, "CreateLoadBalancer", body)  # the same token: the same task
    assert again.RequestId == created.RequestId
    tc.tasks(cloud, hold=False)
    (lb_id,) = tc.sdk_call(client, "DescribeTaskStatus", task).LoadBalancerIds
    assert [
        lb.LoadBalancerId for lb in tc.sdk_call(client, "DescribeLoadBalancers", {}).LoadBalancerSet
    ] == [lb_id]


def test_a_long_service_name_keeps_80_characters(tc: Any, cloud: Any, provider: Any) -> None:
    name = "n" * 75
    tc.converge(lambda: provider.ensure(tc.desired(cloud, tc.ref(name=name))))
    assert tc.lb_state(cloud)[0]["name"] == f"k8s-default-{name}"[:80]


def test_the_oldest_of_two_owned_clbs_is_used(tc: Any, cloud: Any, provider: Any) -> None:
    """CLB lists newest first unless told: the provider asks for creation order."""
    service = tc.ref()
    first = tc.converge(lambda: provider.ensure(tc.desired(cloud, service)))
    client = tc.sdk_client(cloud)
    tags = [{"TagKey": k, "TagValue": v} for k, v in ownership_tags(service).items()]
    body = {"LoadBalancerType": "OPEN", "VpcId": cloud.backend.vpc_id, "Tags": tags}
    tc.sdk_call(client, "CreateLoadBalancer", body)
    tc.wait_tasks(cloud)
    assert provider.get(service).lb_id == first.lb_id


# ---- throttling and busy ----------------------------------------------------------------


@pytest.mark.parametrize(
    "code",
    ["RequestLimitExceeded.GlobalRegionUinLimitExceeded", "RequestLimitExceeded.IPLimitExceeded"],
)
def test_the_region_and_ip_throttling_codes_are_retried(tc: Any, cloud: Any, code: str) -> None:
    cloud.admin.inject_fault(code, count=2)
    tc.converge(lambda: tc.make_provider(cloud).ensure(tc.desired(cloud, tc.ref())))
    assert cloud.resources()["load_balancers"] == 1


def test_a_service_converges_while_another_task_holds_its_clb(tc: Any, cloud: Any) -> None:
    """CLB refuses every write on an instance while a task runs on it
    (FailedOperation.ResourceInOperating): busy, retried later, never a failure."""
    provider = tc.make_provider(cloud, task_wait_seconds=0.05)
    service = tc.ref()
    tc.converge(lambda: provider.ensure(tc.desired(cloud, service)))
    lb_id = tc.lb_state(cloud)[0]["id"]
    tc.tasks(cloud, hold=True)
    cloud.backend.modify_load_balancer_attributes(lb_id, name="renamed-by-hand")
    nodes = tc.node_targets(cloud)[:1]
    with pytest.raises(RetryAfter):
        provider.ensure(tc.desired(cloud, service, nodes=nodes))
    tc.tasks(cloud, hold=False)
    tc.converge(lambda: provider.ensure(tc.desired(cloud, service, nodes=nodes)))
    assert cloud.resources()["targets"] == 1
