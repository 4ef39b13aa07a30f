"""The Alibaba SLB provider against the mock SLB (signatures checked), through the real SDK."""

from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest
from aliyunsdkslb.request.v20140515 import (
    CreateLoadBalancerRequest,
    CreateLoadBalancerTCPListenerRequest,
    CreateVServerGroupRequest,
)

from lbprovider.cloud import (
    CONNECTION_ERROR,
    BackendMode,
    CloudError,
    HealthCheck,
    InvalidService,
    Protocol,
    ProviderConfigError,
    RetryAfter,
    SessionAffinity,
)
from lbprovider.cloud.tags import CLUSTER_TAG, SERVICE_UID_TAG
from lbprovider_alibaba.api import AlibabaApiError, SlbApi
from lbprovider_alibaba.mock.models import Backend
from lbprovider_alibaba.options import ADDRESS_TYPE, LOADBALANCER_ID, SPEC, VSWITCH_ID
from lbprovider_alibaba.provider import AlibabaProvider, create
from lbprovider_alibaba.settings import credentials_of, parse_settings

pytestmark = pytest.mark.providers

Kit = Any  # the conftest's Kit (not importable under importlib mode)


def _lbs(kit: Kit) -> list[dict[str, Any]]:
    lbs: list[dict[str, Any]] = kit.state()["load_balancers"]
    return lbs


def _instance_ids(kit: Kit) -> set[str]:
    return {i.provider_id.split(".", 1)[1] for i in kit.cloud.instances}


def test_internet_service_gets_an_internet_slb_with_listeners_and_node_backends(kit: Kit) -> None:
    provider = kit.provider()
    service = kit.ref()
    status = provider.ensure(kit.desired(service, kit.tcp(80, 30080), kit.tcp(443, 30443)))

    (lb,) = _lbs(kit)
    assert lb["AddressType"] == "internet"
    tags = {t["TagKey"]: t["TagValue"] for t in lb["Tags"]["Tag"]}
    assert tags[CLUSTER_TAG] == kit.cluster and tags[SERVICE_UID_TAG] == service.uid
    assert status.lb_id == lb["LoadBalancerId"]
    (ingress,) = status.ingress
    assert (ingress.ip, ingress.ip_mode) == (lb["Address"], "VIP")
    assert [(p.port, p.protocol) for p in ingress.ports] == [
        (80, Protocol.TCP),
        (443, Protocol.TCP),
    ]
    listeners = kit.listeners(lb["LoadBalancerId"])
    assert set(listeners) == {("TCP", 80), ("TCP", 443)}
    assert all(li["Status"] == "running" for li in listeners.values())
    backends = kit.group_backends(listeners[("TCP", 80)]["VServerGroupId"])
    assert backends == {(i, 30080, "ecs") for i in _instance_ids(kit)}
    assert provider.get(service) == replace(status, warnings=())


def test_intranet_service_uses_the_vswitch_and_the_requested_ip(kit: Kit) -> None:
    service = kit.ref(annotations={ADDRESS_TYPE: "intranet", SPEC: "slb.s1.small"})
    status = kit.provider().ensure(
        kit.desired(service, kit.tcp(80, 30080), requested_ip="10.0.1.77")
    )
    (lb,) = _lbs(kit)
    assert (lb["AddressType"], lb["Address"], lb["LoadBalancerSpec"]) == (
        "intranet",
        "10.0.1.77",
        "slb.s1.small",
    )
    assert lb["VSwitchId"] == kit.cloud.backend.vswitch_id
    assert status.ingress[0].ip == "10.0.1.77"
    assert status.warnings == ()


def test_intranet_without_any_vswitch_and_bad_annotations_are_invalid(kit: Kit) -> None:
    settings = {k: v for k, v in kit.cloud.provider_settings().items() if k != "vswitch_id"}
    provider = create(settings, cluster_name=kit.cluster)
    intranet = kit.ref(annotations={ADDRESS_TYPE: "intranet"})
    with pytest.raises(InvalidService, match="vSwitch"):
        provider.ensure(kit.desired(intranet, kit.tcp(80, 30080)))
    # The annotation alone is enough.
    with_vsw = kit.ref(
        annotations={ADDRESS_TYPE: "intranet", VSWITCH_ID: kit.cloud.backend.vswitch_id}
    )
    provider.ensure(kit.desired(with_vsw, kit.tcp(80, 30080)))
    for bad in ({ADDRESS_TYPE: "public"}, {SPEC: "big"}, {LOADBALANCER_ID: "nope"}):
        with pytest.raises(InvalidService):
            provider.ensure(kit.desired(kit.ref(annotations=bad), kit.tcp(80, 30080)))
    assert len(_lbs(kit)) == 1


def test_requested_ip_on_internet_is_a_warning(kit: Kit) -> None:
    status = kit.provider().ensure(
        kit.desired(kit.ref(), kit.tcp(80, 30080), requested_ip="1.2.3.4")
    )
    assert any("loadBalancerIP" in w for w in status.warnings)
    assert status.ingress[0].ip != "1.2.3.4"


def test_tcp_and_udp_on_one_port_are_two_listeners_with_their_own_groups(kit: Kit) -> None:
    status = kit.provider().ensure(kit.desired(kit.ref(), kit.tcp(53, 30053), kit.udp(53, 31053)))
    listeners = kit.listeners(status.lb_id)
    assert set(listeners) == {("TCP", 53), ("UDP", 53)}
    tcp_group = listeners[("TCP", 53)]["VServerGroupId"]
    udp_group = listeners[("UDP", 53)]["VServerGroupId"]
    assert tcp_group != udp_group
    assert {p for _, p, _ in kit.group_backends(udp_group)} == {31053}
    assert {(p.port, p.protocol) for p in status.ingress[0].ports} == {
        (53, Protocol.TCP),
        (53, Protocol.UDP),
    }


def test_pod_ip_mode_uses_eni_backends(kit: Kit) -> None:
    provider = kit.provider()
    service = kit.ref()
    eni_a = kit.eni("10.0.1.30", "10.0.1.31")
    eni_b = kit.eni("10.0.1.32", instance_id=_instance_ids(kit).pop())
    wanted = kit.desired(
        service,
        kit.pods(80, Protocol.TCP, "10.0.1.30", "10.0.1.31"),
        backend_mode=BackendMode.POD_IP,
        nodes=(),
    )
    status = provider.ensure(wanted)
    assert status.warnings == ()
    group = kit.listeners(status.lb_id)[("TCP", 80)]["VServerGroupId"]
    # ServerId is the ENI that holds the Pod IP; ServerIp the Pod IP.
    assert kit.eni_backends(group) == [(eni_a, "10.0.1.30", 8080), (eni_a, "10.0.1.31", 8080)]
    # A pod goes away, another comes: one removal, one addition.
    kit.reset_counts()
    provider.update_backends(
        replace(wanted, listeners=(kit.pods(80, Protocol.TCP, "10.0.1.31", "10.0.1.32"),))
    )
    assert kit.eni_backends(group) == sorted(
        [(eni_a, "10.0.1.31", 8080), (eni_b, "10.0.1.32", 8080)]
    )
    assert kit.writes() == {
        "RemoveVServerGroupBackendServers": 1,
        "AddVServerGroupBackendServers": 1,
    }
    assert kit.eni_lookups() == 1  # only the new Pod IP was looked up


def test_unchanged_affinity_and_health_check_cost_zero_writes(kit: Kit) -> None:
    # SLB reports the traffic-port health check and persistence in its own spellings.
    provider = kit.provider()
    wanted = kit.desired(
        kit.ref(),
        kit.tcp(80, 30080),
        kit.udp(80, 30081),
        session_affinity=SessionAffinity(timeout_seconds=600),
        health_check=HealthCheck(port=32000),
    )
    provider.ensure(wanted)
    kit.reset_counts()
    provider.ensure(wanted)
    provider.update_backends(wanted)
    assert kit.counts().writes == 0
    assert kit.counts().reads > 0


def test_changes_are_applied_as_a_diff(kit: Kit) -> None:
    provider = kit.provider()
    service = kit.ref()
    status = provider.ensure(kit.desired(service, kit.tcp(80, 30080), kit.tcp(8080, 30081)))
    kit.reset_counts()
    one_node = kit.nodes()[:1]
    provider.ensure(
        kit.desired(
            service,
            kit.tcp(80, 30080),
            nodes=one_node,
            session_affinity=SessionAffinity(timeout_seconds=900),
        )
    )
    writes = kit.writes()
    assert writes == {
        "DeleteLoadBalancerListener": 1,
        "RemoveVServerGroupBackendServers": 1,
        "SetLoadBalancerTCPListenerAttribute": 1,
        "DeleteVServerGroup": 1,
    }
    (listener,) = kit.listeners(status.lb_id).values()
    assert listener["TCPListenerConfig"]["PersistenceTimeout"] == 900
    instance = one_node[0].provider_id.split(".", 1)[1]
    assert kit.group_backends(listener["VServerGroupId"]) == {(instance, 30080, "ecs")}
    assert kit.cloud.resources()["vserver_groups"] == 1


def test_session_affinity_and_health_check(kit: Kit) -> None:
    status = kit.provider().ensure(
        kit.desired(
            kit.ref(),
            kit.tcp(80, 30080),
            kit.udp(80, 30080),
            session_affinity=SessionAffinity(),
            health_check=HealthCheck(port=32100),
        )
    )
    listeners = kit.listeners(status.lb_id)
    tcp = listeners[("TCP", 80)]["TCPListenerConfig"]
    assert (tcp["PersistenceTimeout"], tcp["HealthCheckType"], tcp["HealthCheckURI"]) == (
        3600,
        "http",
        "/healthz",
    )
    assert tcp["HealthCheckConnectPort"] == 32100
    joined = " ".join(status.warnings)
    assert "exceeds" in joined and "UDP" in joined


def _foreign_lb(kit: Kit) -> tuple[str, str]:
    """A load balancer someone else made, with its own TCP 80 listener."""
    client = kit.client()
    create = CreateLoadBalancerRequest.CreateLoadBalancerRequest()
    create.set_InstanceChargeType("PayByCLCU")
    lb_id = kit.call(client, create)["LoadBalancerId"]
    group = CreateVServerGroupRequest.CreateVServerGroupRequest()
    group.set_LoadBalancerId(lb_id)
    group.set_VServerGroupName("theirs")
    group_id = kit.call(client, group)["VServerGroupId"]
    listener = CreateLoadBalancerTCPListenerRequest.CreateLoadBalancerTCPListenerRequest()
    listener.set_LoadBalancerId(lb_id)
    listener.set_ListenerPort(80)
    listener.set_Bandwidth(-1)
    listener.set_VServerGroupId(group_id)
    kit.call(client, listener)
    return lb_id, group_id


def test_a_reused_load_balancer_is_never_deleted(kit: Kit) -> None:
    lb_id, their_group = _foreign_lb(kit)
    provider = kit.provider()
    service = kit.ref(annotations={LOADBALANCER_ID: lb_id})
    with pytest.raises(InvalidService, match="not managed"):
        provider.ensure(kit.desired(service, kit.tcp(80, 30080)))
    status = provider.ensure(kit.desired(service, kit.tcp(8080, 30080), kit.udp(8080, 30080)))
    assert status.lb_id == lb_id
    assert set(kit.listeners(lb_id)) == {("TCP", 80), ("TCP", 8080), ("UDP", 8080)}
    assert provider.get(service) is not None

    provider.delete(service)
    assert [lb["LoadBalancerId"] for lb in _lbs(kit)] == [lb_id]
    assert set(kit.listeners(lb_id)) == {("TCP", 80)}
    assert [g["VServerGroupId"] for g in kit.state()["vserver_groups"]] == [their_group]
    provider.delete(service)  # idempotent


def test_delete_removes_everything_and_is_idempotent(kit: Kit) -> None:
    provider = kit.provider(delete_protection=True)
    service = kit.ref()
    provider.ensure(kit.desired(service, kit.tcp(80, 30080), kit.udp(80, 30080)))
    assert _lbs(kit)[0]["DeleteProtection"] == "on"
    provider.delete(service)
    assert kit.cloud.resources() == {"load_balancers": 0, "listeners": 0, "vserver_groups": 0}
    assert provider.get(service) is None
    provider.delete(service)


def test_throttling_is_retried_then_succeeds(kit: Kit) -> None:
    kit.fault("Throttling.User", count=2, actions=("CreateLoadBalancer",))
    kit.fault("ServiceUnavailable", count=1, actions=("CreateVServerGroup",))
    status = kit.provider().ensure(kit.desired(kit.ref(), kit.tcp(80, 30080)))
    assert kit.calls("CreateLoadBalancer") == 3
    assert kit.calls("CreateVServerGroup") == 2
    assert [lb["LoadBalancerId"] for lb in _lbs(kit)] == [status.lb_id]


def test_a_wrong_secret_is_a_cloud_error_without_the_secret(kit: Kit, tmp_path: Path) -> None:
    secret = "Sup3rSecretValue"
    credentials = tmp_path / "credentials.yaml"
    credentials.write_text(
        f"access_key_id: {kit.cloud.access_key_id}\naccess_key_secret: {secret}\n"
    )
    provider = kit.provider(credentials_file=str(credentials))
    with pytest.raises(CloudError) as info:
        provider.ensure(kit.desired(kit.ref(), kit.tcp(80, 30080)))
    message = str(info.value)
    assert "InvalidAccessKeySecret" in message
    assert secret not in message and kit.cloud.access_key_id not in message
    assert kit.cloud.resources()["load_balancers"] == 0


def test_an_unreachable_endpoint_is_a_cloud_error(kit: Kit) -> None:
    provider = kit.provider()
    kit.cloud.stop()
    with pytest.raises(CloudError, match=r"SDK\.HttpError") as info:
        provider.get(kit.ref())
    assert isinstance(info.value, AlibabaApiError) and info.value.code == CONNECTION_ERROR


def test_a_busy_load_balancer_is_a_retry_after(kit: Kit) -> None:
    wanted = kit.desired(kit.ref(), kit.tcp(80, 30080))
    kit.fault("ServiceIsConfiguring", count=None, actions=("CreateVServerGroup",))
    with pytest.raises(RetryAfter, match="ServiceIsConfiguring"):
        kit.provider().ensure(wanted)
    assert kit.calls("CreateVServerGroup") == 4  # bounded attempts inside the call
    kit.admin.clear_faults()
    status = kit.provider().ensure(wanted)  # the next sync resumes on the same load balancer
    assert [lb["LoadBalancerId"] for lb in _lbs(kit)] == [status.lb_id]
    assert set(kit.listeners(status.lb_id)) == {("TCP", 80)}


def test_settings_are_validated(kit: Kit, tmp_path: Path) -> None:
    good = kit.cloud.provider_settings()
    with pytest.raises(ProviderConfigError, match=r"^settings\.region: required$"):
        create({k: v for k, v in good.items() if k != "region"}, cluster_name="c")
    with pytest.raises(ProviderConfigError, match=r"^settings: unknown key 'zone'"):
        create({**good, "zone": "x"}, cluster_name="c")
    with pytest.raises(ProviderConfigError, match=r"^settings\.delete_protection: "):
        create({**good, "delete_protection": "yes"}, cluster_name="c")
    with pytest.raises(ProviderConfigError, match=r"^settings\.address_type: "):
        create({**good, "address_type": "public"}, cluster_name="c")
    empty = tmp_path / "empty.json"
    empty.write_text(json.dumps({"access_key_id": "x"}))
    with pytest.raises(ProviderConfigError, match=r"^settings\.credentials_file: .*secret"):
        create({**good, "credentials_file": str(empty)}, cluster_name="c")
    with pytest.raises(ProviderConfigError, match=r"^settings\.credentials_file: cannot read"):
        create({**good, "credentials_file": str(tmp_path / "missing")}, cluster_name="c")


def test_no_credential_value_shows_in_a_repr(kit: Kit) -> None:
    settings = parse_settings(kit.cloud.provider_settings())
    credentials = credentials_of(settings)
    assert credentials["access_key_id"] == kit.cloud.access_key_id
    shown = f"{settings!r} {credentials!r} {credentials}"
    assert kit.cloud.access_key_id not in shown and kit.cloud.access_key_secret not in shown


def test_a_stopped_listener_is_started_again_with_one_write(kit: Kit) -> None:
    provider = kit.provider()
    wanted = kit.desired(kit.ref(), kit.tcp(80, 30080))
    status = provider.ensure(wanted)
    kit.cloud.backend.listener_action(status.lb_id, 80, "TCP", "stop")
    kit.reset_counts()
    provider.ensure(wanted)
    assert kit.writes() == {"StartLoadBalancerListener": 1}
    assert kit.listeners(status.lb_id)[("TCP", 80)]["Status"] == "running"


@pytest.mark.parametrize(
    ("endpoint", "protocol"),
    [
        ("127.0.0.1:8080", "http"),
        ("localhost:8080", "http"),
        ("slb.cn-hangzhou.aliyuncs.com", "https"),
        ("http://slb.internal:80", "http"),
        ("https://127.0.0.1:8443", "https"),
    ],
)
def test_the_endpoint_decides_the_protocol(endpoint: str, protocol: str) -> None:
    settings = parse_settings({"region": "cn-hangzhou", "endpoint": endpoint})
    assert settings.protocol == protocol
    assert "://" not in (settings.endpoint_host or "")


# -- Pod IPs as ENI backends --------------------------------------------------------------


def _pod_service(kit: Kit, *listeners: Any) -> Any:
    return kit.desired(kit.ref(), *listeners, backend_mode=BackendMode.POD_IP, nodes=())


def _owner_of(kit: Kit) -> dict[str, str]:
    """Pod IP -> ENI id, as the mock holds them."""
    return {ip: eni for eni, ips in kit.cloud.enis.items() for ip in ips}


def test_eni_backends_end_to_end_with_one_lookup_for_all_listeners(kit: Kit) -> None:
    owner = _owner_of(kit)  # the ENIs start() seeds: 10.0.1.200-210 over three instances
    ips = ("10.0.1.200", "10.0.1.204", "10.0.1.210")
    assert len({owner[ip] for ip in ips}) == 3
    wanted = _pod_service(
        kit,
        kit.pods(80, Protocol.TCP, *ips),
        kit.pods(53, Protocol.UDP, *ips, target=5353),
    )
    status = kit.provider().ensure(wanted)
    assert status.warnings == ()
    listeners = kit.listeners(status.lb_id)
    assert kit.eni_backends(listeners[("TCP", 80)]["VServerGroupId"]) == sorted(
        (owner[ip], ip, 8080) for ip in ips
    )
    assert kit.eni_backends(listeners[("UDP", 53)]["VServerGroupId"]) == sorted(
        (owner[ip], ip, 5353) for ip in ips
    )
    assert kit.eni_lookups() == 1


def test_a_pod_ip_without_an_in_use_eni_is_left_out_with_a_warning(kit: Kit) -> None:
    eni = kit.eni("10.0.1.30")
    kit.eni("10.0.1.31", attach=False)  # detached: carries no traffic
    provider = kit.provider()
    wanted = _pod_service(kit, kit.pods(80, Protocol.TCP, "10.0.1.30", "10.0.1.31", "10.0.1.99"))
    status = provider.ensure(wanted)
    (warning,) = status.warnings
    assert "10.0.1.31, 10.0.1.99" in warning and kit.cloud.backend.vpc_id in warning
    group = kit.listeners(status.lb_id)[("TCP", 80)]["VServerGroupId"]
    assert kit.eni_backends(group) == [(eni, "10.0.1.30", 8080)]
    assert kit.listeners(status.lb_id)[("TCP", 80)]["Status"] == "running"
    # Once an ENI holds the IP, the next sync adds it.
    late = kit.eni("10.0.1.99")
    assert len(provider.ensure(wanted).warnings) == 1
    assert kit.eni_backends(group) == sorted([(eni, "10.0.1.30", 8080), (late, "10.0.1.99", 8080)])


def test_an_unchanged_pod_service_costs_no_write_and_no_eni_lookup(kit: Kit) -> None:
    kit.eni("10.0.1.30", "10.0.1.31")
    kit.eni("10.0.1.32")
    wanted = _pod_service(
        kit,
        kit.pods(80, Protocol.TCP, "10.0.1.30", "10.0.1.31", "10.0.1.32"),
        kit.pods(80, Protocol.UDP, "10.0.1.30", "10.0.1.31", "10.0.1.32"),
    )
    kit.provider().ensure(wanted)
    kit.reset_counts()
    provider = kit.provider()  # a restarted controller: nothing in memory
    assert provider.ensure(wanted).warnings == ()
    provider.update_backends(wanted)
    assert kit.counts().writes == 0
    assert kit.eni_lookups() == 0
    assert kit.counts().reads > 0


def test_endpoints_moving_between_enis(kit: Kit) -> None:
    first_node, second_node = sorted(_instance_ids(kit))[:2]
    eni_a = kit.eni("10.0.1.30", "10.0.1.31", instance_id=first_node)
    eni_b = kit.eni("10.0.1.40", "10.0.1.41", instance_id=second_node)
    provider = kit.provider()
    wanted = _pod_service(kit, kit.pods(80, Protocol.TCP, "10.0.1.30", "10.0.1.31"))
    status = provider.ensure(wanted)
    group = kit.listeners(status.lb_id)[("TCP", 80)]["VServerGroupId"]
    # The Pods are rescheduled onto the other node's ENI.
    moved = replace(wanted, listeners=(kit.pods(80, Protocol.TCP, "10.0.1.40", "10.0.1.41"),))
    assert provider.ensure(moved).warnings == ()
    assert kit.eni_backends(group) == [(eni_b, "10.0.1.40", 8080), (eni_b, "10.0.1.41", 8080)]
    # An IP released by one ENI and assigned to another (Terway reuses addresses):
    # gone from the endpoints, then back, it is looked up again and lands on the new ENI.
    kit.cloud.backend.move_ips(["10.0.1.30"], eni_b)
    provider.ensure(replace(wanted, listeners=(kit.pods(80, Protocol.TCP, "10.0.1.40"),)))
    kit.reset_counts()
    provider.ensure(
        replace(wanted, listeners=(kit.pods(80, Protocol.TCP, "10.0.1.30", "10.0.1.40"),))
    )
    assert kit.eni_backends(group) == [(eni_b, "10.0.1.30", 8080), (eni_b, "10.0.1.40", 8080)]
    assert kit.eni_lookups() == 1
    assert kit.writes() == {"AddVServerGroupBackendServers": 1}
    assert eni_a not in {server for server, _, _ in kit.eni_backends(group)}


def test_eni_lookups_are_batched_by_100_ips_and_paged(kit: Kit) -> None:
    ips = [f"10.0.1.{n}" for n in range(30, 150)]
    enis = {kit.eni(*ips[k : k + 40]): ips[k : k + 40] for k in range(0, 120, 40)}
    settings = parse_settings(kit.cloud.provider_settings())
    api = SlbApi(settings=settings, credentials=credentials_of(settings), eni_page_size=2)
    provider = kit.adopt(AlibabaProvider(settings=settings, cluster_name=kit.cluster, api=api))
    status = provider.ensure(_pod_service(kit, kit.pods(80, Protocol.TCP, *ips)))
    assert status.warnings == ()
    group = kit.listeners(status.lb_id)[("TCP", 80)]["VServerGroupId"]
    assert kit.eni_backends(group) == sorted(
        (eni, ip, 8080) for eni, held in enis.items() for ip in held
    )
    # IPs in order: .30-.129 span the three ENIs (2 pages of 2), .130-.149 one ENI (1 page).
    assert kit.eni_lookups() == 3


def test_eni_lookup_throttling_is_retried(kit: Kit) -> None:
    eni = kit.eni("10.0.1.30")
    kit.fault("Throttling", count=2, actions=("DescribeNetworkInterfaces",))
    status = kit.provider().ensure(_pod_service(kit, kit.pods(80, Protocol.TCP, "10.0.1.30")))
    group = kit.listeners(status.lb_id)[("TCP", 80)]["VServerGroupId"]
    assert kit.eni_backends(group) == [(eni, "10.0.1.30", 8080)]
    assert kit.eni_lookups() == 3


def test_a_failed_eni_lookup_is_a_cloud_error_naming_ecs(kit: Kit) -> None:
    kit.eni("10.0.1.30")
    kit.fault("InternalError", count=50, actions=("DescribeNetworkInterfaces",))
    with pytest.raises(
        CloudError, match=r"DescribeNetworkInterfaces failed: InternalError"
    ) as info:
        kit.provider().ensure(_pod_service(kit, kit.pods(80, Protocol.TCP, "10.0.1.30")))
    assert isinstance(info.value, AlibabaApiError) and info.value.product == "ECS"
    assert kit.eni_lookups() == 4
    assert kit.calls("AddVServerGroupBackendServers") == 0


def test_a_throttled_eni_lookup_is_a_bounded_retry_after(kit: Kit) -> None:
    kit.eni("10.0.1.30")
    kit.fault("Throttling.User", count=50, actions=("DescribeNetworkInterfaces",))
    with pytest.raises(
        RetryAfter, match=r"DescribeNetworkInterfaces throttled \(Throttling\.User\)"
    ):
        kit.provider().ensure(_pod_service(kit, kit.pods(80, Protocol.TCP, "10.0.1.30")))
    assert kit.eni_lookups() == 4
    assert kit.calls("AddVServerGroupBackendServers") == 0


def test_backends_with_the_pod_ip_as_server_id_are_replaced(kit: Kit) -> None:
    eni = kit.eni("10.0.1.30")
    provider = kit.provider()
    wanted = _pod_service(kit, kit.pods(80, Protocol.TCP, "10.0.1.30"))
    status = provider.ensure(wanted)
    group_id = kit.listeners(status.lb_id)[("TCP", 80)]["VServerGroupId"]
    # What an earlier version of this provider wrote (no real SLB accepts it).
    group = kit.cloud.backend.vserver_groups[group_id]
    group.backends = [Backend(server_id="10.0.1.30", server_ip="10.0.1.30", port=8080, type="eni")]
    provider.ensure(wanted)
    assert kit.eni_backends(group_id) == [(eni, "10.0.1.30", 8080)]
    assert kit.eni_lookups() == 2


def test_the_ecs_endpoint_setting(kit: Kit) -> None:
    good = kit.cloud.provider_settings()
    with pytest.raises(ProviderConfigError, match=r"^settings\.ecs_endpoint: "):
        create({**good, "ecs_endpoint": 8080}, cluster_name="c")
    with pytest.raises(ProviderConfigError, match=r"^settings\.ecs_endpoint: "):
        create({**good, "ecs_endpoint": "ftp://127.0.0.1:1"}, cluster_name="c")
    settings = parse_settings({"region": "cn-hangzhou", "ecs_endpoint": "127.0.0.1:9000"})
    assert (settings.ecs_protocol, settings.ecs_endpoint_host) == ("http", "127.0.0.1:9000")
    assert parse_settings({"region": "cn-hangzhou"}).ecs_endpoint_host is None
