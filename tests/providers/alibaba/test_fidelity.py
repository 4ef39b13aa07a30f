"""The Alibaba provider held to SLB's published contract (issue 10), through the real SDK.

Each test drives the provider (or a raw SDK client) against the stricter mock: metering
(PayByCLCU), "configuring" answers, backend rotation order, health-check ports, deletion
protection, hand-added HTTP listeners, names, and the health-check design every cloud
shares (kube-proxy's /healthz for Cluster, healthCheckNodePort for Local).
"""

from __future__ import annotations

from typing import Any

import pytest
from aliyunsdkcore.acs_exception.exceptions import ServerException
from aliyunsdkslb.request.v20140515 import (
    CreateLoadBalancerHTTPListenerRequest,
    CreateLoadBalancerRequest,
    CreateVServerGroupRequest,
    DeleteLoadBalancerRequest,
    SetLoadBalancerDeleteProtectionRequest,
    SetLoadBalancerTCPListenerAttributeRequest,
)

from lbprovider.cloud import (
    BackendMode,
    DesiredLoadBalancer,
    EndpointTarget,
    HealthCheck,
    InvalidService,
    Listener,
    Protocol,
    RetryAfter,
)
from lbprovider.providerkit import CallPolicy
from lbprovider_alibaba.options import (
    HEALTH_CHECK_CONNECT_PORT,
    HEALTH_CHECK_SWITCH,
    HEALTH_CHECK_TYPE,
    SPEC,
)
from lbprovider_alibaba.provider import AlibabaProvider, create
from lbprovider_alibaba.settings import parse_settings

pytestmark = pytest.mark.providers

Kit = Any  # the conftest's Kit (not importable under importlib mode)
FAST = CallPolicy(attempts=4, wait_initial=0.01, wait_max=0.05)


def _error(kit: Kit, request: Any) -> ServerException:
    with pytest.raises(ServerException) as info:
        kit.call(kit.client(), request)
    return info.value


def _lb(kit: Kit) -> dict[str, Any]:
    (lb,) = kit.state()["load_balancers"]
    found: dict[str, Any] = lb
    return found


def _config(kit: Kit, lb_id: str, protocol: str, port: int) -> dict[str, Any]:
    config: dict[str, Any] = kit.listeners(lb_id)[(protocol, port)][f"{protocol}ListenerConfig"]
    return config


def _set_protection(kit: Kit, lb_id: str, value: str) -> None:
    request = SetLoadBalancerDeleteProtectionRequest.SetLoadBalancerDeleteProtectionRequest()
    request.set_LoadBalancerId(lb_id)
    request.set_DeleteProtection(value)
    kit.call(kit.client(), request)


# -- metering: pay-by-specification is no longer sold -------------------------------------


def test_a_new_load_balancer_is_pay_by_usage_without_a_spec(kit: Kit) -> None:
    kit.provider().ensure(kit.desired(kit.ref(), kit.tcp(80, 30080)))
    lb = _lb(kit)
    assert (lb["InstanceChargeType"], lb["LoadBalancerSpec"]) == ("PayByCLCU", "")


def test_a_spec_is_bought_only_when_the_operator_asks(kit: Kit) -> None:
    kit.provider(spec="slb.s2.small").ensure(kit.desired(kit.ref(name="a"), kit.tcp(80, 30080)))
    annotated = kit.ref(name="b", annotations={SPEC: "slb.s3.small"})
    kit.provider().ensure(kit.desired(annotated, kit.tcp(80, 30080)))
    bought = {
        lb["LoadBalancerName"]: (lb["InstanceChargeType"], lb["LoadBalancerSpec"])
        for lb in kit.state()["load_balancers"]
    }
    assert bought == {
        "k8s-test-cluster-default-a": ("PayBySpec", "slb.s2.small"),
        "k8s-test-cluster-default-b": ("PayBySpec", "slb.s3.small"),
    }
    # A spec asked for later does not convert a pay-by-usage SLB: a warning says so.
    later = kit.ref(name="c")
    kit.provider().ensure(kit.desired(later, kit.tcp(80, 30080)))
    annotated_later = kit.ref(name="c", uid=later.uid, annotations={SPEC: "slb.s1.small"})
    status = kit.provider().ensure(kit.desired(annotated_later, kit.tcp(80, 30080)))
    assert any("pay-by-usage (PayByCLCU)" in w for w in status.warnings), status.warnings


def test_the_mock_holds_create_to_the_metering_field_docs(kit: Kit) -> None:
    # PayBySpec is the default and needs a spec: shared-resource instances are gone.
    plain = CreateLoadBalancerRequest.CreateLoadBalancerRequest()
    error = _error(kit, plain)
    assert (error.get_http_status(), error.get_error_code()) == (
        400,
        "MissingParam.LoadBalancerSpec",
    )
    # With PayByCLCU a spec "is invalid and you do not need to specify" it: not applied.
    clcu = CreateLoadBalancerRequest.CreateLoadBalancerRequest()
    clcu.set_InstanceChargeType("PayByCLCU")
    clcu.set_LoadBalancerSpec("slb.s1.small")
    kit.call(kit.client(), clcu)
    assert (_lb(kit)["InstanceChargeType"], _lb(kit)["LoadBalancerSpec"]) == ("PayByCLCU", "")


# -- "configuring": SLB refuses writes for a while after a change -------------------------


def _busy(kit: Kit, window_ms: float) -> None:
    kit.admin.request("POST", "busy", {"window_ms": window_ms})


def test_a_load_balancer_still_configuring_answers_service_is_configuring(kit: Kit) -> None:
    kit.admin.pin_clock(kit.cloud.backend.clock.now())
    _busy(kit, 1000)
    create_lb = CreateLoadBalancerRequest.CreateLoadBalancerRequest()
    create_lb.set_InstanceChargeType("PayByCLCU")
    lb_id = kit.call(kit.client(), create_lb)["LoadBalancerId"]
    group = CreateVServerGroupRequest.CreateVServerGroupRequest()
    group.set_LoadBalancerId(lb_id)
    group.set_VServerGroupName("g")
    error = _error(kit, group)
    assert (error.get_http_status(), error.get_error_code()) == (400, "ServiceIsConfiguring")
    kit.admin.advance_clock(1.0)
    assert kit.call(kit.client(), group)["VServerGroupId"].startswith("rsp-")


def test_a_service_converges_while_slb_keeps_configuring(kit: Kit) -> None:
    # The mock clock stands still, so every write after a write in one sync is refused
    # until the test lets time pass: each sync gets as far as it can, then waits.
    kit.admin.pin_clock(kit.cloud.backend.clock.now())
    _busy(kit, 500)
    provider = kit.provider()
    desired = kit.desired(kit.ref(), kit.tcp(80, 30080), kit.udp(53, 30053))
    waits = 0
    for _ in range(30):
        try:
            status = provider.ensure(desired)
            break
        except RetryAfter:  # a wait, as the work queue treats it, never a failure
            waits += 1
            kit.admin.advance_clock(0.5)
    else:
        pytest.fail("the Service never converged")
    assert waits >= 5  # every dependent write met a configuring load balancer
    listeners = kit.listeners(status.lb_id)
    assert {key: li["Status"] for key, li in listeners.items()} == {
        ("TCP", 80): "running",
        ("UDP", 53): "running",
    }
    for li in listeners.values():
        assert len(kit.group_backends(li["VServerGroupId"])) == 3
    kit.admin.advance_clock(0.5)
    kit.reset_counts()
    kit.admin.pin_clock(kit.cloud.backend.clock.now() + 1)
    provider.ensure(desired)
    assert kit.writes() == {}


# -- backend rotation ---------------------------------------------------------------------


def test_a_full_rotation_never_empties_the_group(kit: Kit) -> None:
    nodes = kit.nodes()
    provider = kit.provider()
    ref = kit.ref()
    provider.ensure(kit.desired(ref, kit.tcp(80, 30080), nodes=nodes[:2]))
    provider.update_backends(kit.desired(ref, kit.tcp(80, 30080), nodes=nodes[2:]))
    (group,) = kit.state()["vserver_groups"]
    assert [b["ServerId"] for b in group["BackendServers"]] == [
        nodes[2].provider_id.split(".", 1)[1]
    ]
    assert group["MinServerCount"] >= 1  # the mock's low-water mark across every call


# -- health-check ports: -520 is a read value, not a request value ------------------------


def test_leaving_local_moves_the_check_back_to_the_node_port_without_520(kit: Kit) -> None:
    provider = kit.provider(cluster_health_check="traffic-port")
    ref = kit.ref()
    local = kit.desired(ref, kit.tcp(80, 30080), health_check=HealthCheck(port=32100))
    lb_id = provider.ensure(local).lb_id
    assert _config(kit, lb_id, "TCP", 80)["HealthCheckConnectPort"] == 32100
    provider.ensure(kit.desired(ref, kit.tcp(80, 30080)))
    config = _config(kit, lb_id, "TCP", 80)
    assert (config["HealthCheckType"], config["HealthCheckConnectPort"]) == ("tcp", 30080)
    kit.reset_counts()
    provider.ensure(kit.desired(ref, kit.tcp(80, 30080)))
    assert kit.writes() == {}


def test_the_mock_reports_520_and_refuses_it_on_set(kit: Kit) -> None:
    provider = kit.provider(cluster_health_check="traffic-port")
    lb_id = provider.ensure(kit.desired(kit.ref(), kit.tcp(80, 30080))).lb_id
    assert _config(kit, lb_id, "TCP", 80)["HealthCheckConnectPort"] == -520
    request = (
        SetLoadBalancerTCPListenerAttributeRequest.SetLoadBalancerTCPListenerAttributeRequest()
    )
    request.set_LoadBalancerId(lb_id)
    request.set_ListenerPort(80)
    request.set_HealthCheckConnectPort(-520)
    assert _error(kit, request).get_error_code() == "InvalidParameter"


# -- deletion protection ------------------------------------------------------------------


def test_a_protection_turned_on_by_hand_is_respected(kit: Kit) -> None:
    provider = kit.provider()  # delete_protection: false
    ref = kit.ref()
    lb_id = provider.ensure(kit.desired(ref, kit.tcp(80, 30080))).lb_id
    _set_protection(kit, lb_id, "on")
    with pytest.raises(InvalidService, match="deletion protection on"):
        provider.delete(ref)
    assert [lb["LoadBalancerId"] for lb in kit.state()["load_balancers"]] == [lb_id]
    assert _lb(kit)["DeleteProtection"] == "on"
    _set_protection(kit, lb_id, "off")
    provider.delete(ref)
    assert kit.cloud.resources()["load_balancers"] == 0


def test_the_class_lifts_the_protection_it_turned_on(kit: Kit) -> None:
    provider = kit.provider(delete_protection=True)
    ref = kit.ref()
    lb_id = provider.ensure(kit.desired(ref, kit.tcp(80, 30080))).lb_id
    request = DeleteLoadBalancerRequest.DeleteLoadBalancerRequest()
    request.set_LoadBalancerId(lb_id)
    error = _error(kit, request)
    assert (error.get_http_status(), error.get_error_code()) == (
        400,
        "OperationDenied.DeleteProtectionIsOn",
    )
    kit.reset_counts()
    provider.delete(ref)
    assert kit.cloud.resources()["load_balancers"] == 0
    assert kit.calls("DescribeLoadBalancerAttribute") == 1  # the documented flag, read first


# -- a hand-added HTTP listener -----------------------------------------------------------


def test_a_hand_added_http_listener_is_left_alone(kit: Kit) -> None:
    provider = kit.provider()
    ref = kit.ref()
    desired = kit.desired(ref, kit.tcp(80, 30080))
    lb_id = provider.ensure(desired).lb_id
    http = CreateLoadBalancerHTTPListenerRequest.CreateLoadBalancerHTTPListenerRequest()
    http.set_LoadBalancerId(lb_id)
    http.set_ListenerPort(8080)
    http.set_BackendServerPort(80)
    http.set_Bandwidth(-1)
    http.set_StickySession("off")
    http.set_HealthCheck("off")
    kit.call(kit.client(), http)

    status = provider.get(ref)
    assert status is not None
    assert [(p.port, p.protocol) for p in status.ingress[0].ports] == [(80, Protocol.TCP)]
    assert provider.plan(desired) == ()
    provider.ensure(desired)
    assert ("HTTP", 8080) in kit.listeners(lb_id)
    # TCP shares its port space with HTTP: asking for TCP 8080 names the listener in the way.
    with pytest.raises(InvalidService, match="8080/HTTP"):
        provider.ensure(kit.desired(ref, kit.tcp(80, 30080), kit.tcp(8080, 30081)))


# -- names --------------------------------------------------------------------------------


def test_load_balancer_names_keep_to_slbs_characters(kit: Kit) -> None:
    provider: AlibabaProvider = kit.adopt(
        create(kit.cloud.provider_settings(), cluster_name="team/prod", policy=FAST)
    )
    provider.ensure(kit.desired(kit.ref(), kit.tcp(80, 30080)))
    assert _lb(kit)["LoadBalancerName"] == "k8s-team-prod-default-web"
    for bad in ("1-starts-with-a-digit", "has/slash", "x" * 81):
        request = CreateLoadBalancerRequest.CreateLoadBalancerRequest()
        request.set_InstanceChargeType("PayByCLCU")
        request.set_LoadBalancerName(bad)
        assert _error(kit, request).get_error_code() == "InvalidParameter", bad


# -- health checks (the design every cloud shares) ----------------------------------------


def test_cluster_services_check_kube_proxys_healthz(kit: Kit) -> None:
    status = kit.provider().ensure(kit.desired(kit.ref(), kit.tcp(80, 30080), kit.udp(53, 30053)))
    tcp = _config(kit, status.lb_id, "TCP", 80)
    assert (
        tcp["HealthCheck"],
        tcp["HealthCheckType"],
        tcp["HealthCheckConnectPort"],
        tcp["HealthCheckURI"],
        tcp["HealthCheckHttpCode"],
    ) == ("on", "http", 10256, "/healthz", "http_2xx")
    # SLB's UDP listeners only probe UDP: the node port, not kube-proxy's TCP port.
    udp = _config(kit, status.lb_id, "UDP", 53)
    assert (udp["HealthCheck"], udp["HealthCheckConnectPort"]) == ("on", -520)


def test_local_services_check_the_health_check_node_port_2xx_only(kit: Kit) -> None:
    status = kit.provider().ensure(
        kit.desired(kit.ref(), kit.tcp(80, 30080), health_check=HealthCheck(port=32100))
    )
    tcp = _config(kit, status.lb_id, "TCP", 80)
    assert (tcp["HealthCheckType"], tcp["HealthCheckConnectPort"], tcp["HealthCheckURI"]) == (
        "http",
        32100,
        "/healthz",
    )
    assert tcp["HealthCheckHttpCode"] == "http_2xx"


def test_class_settings_choose_the_cluster_check(kit: Kit) -> None:
    assert parse_settings({"region": "r"}).cluster_health_check == "kube-proxy"
    assert parse_settings({"region": "r"}).kube_proxy_health_port == 10256
    other_port = kit.provider(kube_proxy_health_port=10257)
    status = other_port.ensure(kit.desired(kit.ref(name="a"), kit.tcp(80, 30080)))
    assert _config(kit, status.lb_id, "TCP", 80)["HealthCheckConnectPort"] == 10257
    plain = kit.provider(cluster_health_check="traffic-port")
    status = plain.ensure(kit.desired(kit.ref(name="b"), kit.tcp(80, 30080)))
    tcp = _config(kit, status.lb_id, "TCP", 80)
    assert (tcp["HealthCheckType"], tcp["HealthCheckConnectPort"]) == ("tcp", -520)


def test_annotations_override_the_health_check(kit: Kit) -> None:
    provider = kit.provider()
    ref = kit.ref(annotations={HEALTH_CHECK_TYPE: "tcp", HEALTH_CHECK_CONNECT_PORT: "31000"})
    status = provider.ensure(kit.desired(ref, kit.tcp(80, 30080)))
    tcp = _config(kit, status.lb_id, "TCP", 80)
    assert (tcp["HealthCheckType"], tcp["HealthCheckConnectPort"]) == ("tcp", 31000)
    off = kit.ref(name="off", annotations={HEALTH_CHECK_SWITCH: "off"})
    status = provider.ensure(kit.desired(off, kit.tcp(80, 30080)))
    assert _config(kit, status.lb_id, "TCP", 80)["HealthCheck"] == "off"
    bad = kit.ref(name="bad", annotations={HEALTH_CHECK_CONNECT_PORT: "-520"})
    with pytest.raises(InvalidService, match="health-check-connect-port"):
        provider.ensure(kit.desired(bad, kit.tcp(80, 30080)))


def test_pod_targets_check_the_traffic_port(kit: Kit) -> None:
    pod_ip = kit.cloud.enis[next(iter(kit.cloud.enis))][0]
    listener = Listener(
        name="web",
        port=80,
        protocol=Protocol.TCP,
        endpoints=(EndpointTarget(ip=pod_ip, port=8080),),
    )
    desired = DesiredLoadBalancer(
        ref=kit.ref(), listeners=(listener,), nodes=(), backend_mode=BackendMode.POD_IP
    )
    status = kit.provider().ensure(desired)
    tcp = _config(kit, status.lb_id, "TCP", 80)
    assert (tcp["HealthCheckType"], tcp["HealthCheckConnectPort"]) == ("tcp", -520)
