"""``plan`` and ``list_owned`` of the Alibaba provider against the mock SLB.

Drift is made behind the provider's back through the real SDK (a second
client, as a person with the console would); ``plan`` must name exactly that
change, write nothing, and the next ``ensure`` must make exactly the writes
that change needs.
"""

from __future__ import annotations

from typing import Any

import pytest
from aliyunsdkslb.request.v20140515 import (
    DeleteLoadBalancerListenerRequest,
    RemoveVServerGroupBackendServersRequest,
    SetLoadBalancerTCPListenerAttributeRequest,
    StopLoadBalancerListenerRequest,
)

from lbprovider.cloud import (
    ChangeAction,
    HealthCheck,
    InvalidService,
    OwnedLoadBalancer,
    PlannedChange,
)
from lbprovider.cloud.tags import CLUSTER_TAG, SERVICE_NAME_TAG, SERVICE_UID_TAG
from lbprovider_alibaba.options import ADDRESS_TYPE, LOADBALANCER_ID

pytestmark = pytest.mark.providers

Kit = Any  # the conftest's Kit (not importable under importlib mode)


def _instances(kit: Kit) -> list[str]:
    return sorted(i.provider_id.split(".", 1)[1] for i in kit.cloud.instances)


def _group_of(kit: Kit, lb_id: str, port: int) -> str:
    group_id: str = kit.listeners(lb_id)[("TCP", port)]["VServerGroupId"]
    return group_id


def test_plan_of_a_new_service_lists_what_ensure_creates_and_writes_nothing(kit: Kit) -> None:
    provider = kit.provider()
    service = kit.ref()
    desired = kit.desired(service, kit.tcp(80, 30080))

    kit.reset_counts()
    changes = provider.plan(desired)
    assert kit.writes() == {}
    assert kit.state()["load_balancers"] == []
    members = ", ".join(f"{i}:30080" for i in _instances(kit))
    assert changes == (
        PlannedChange(
            action=ChangeAction.CREATE,
            kind="load balancer",
            name="k8s-test-cluster-default-web",
            after="internet",
        ),
        PlannedChange(
            action=ChangeAction.CREATE,
            kind="vserver group",
            name="TCP:80",
            after=f"lbp/{service.uid}/TCP-80",
        ),
        PlannedChange(action=ChangeAction.CREATE, kind="backends", name="TCP:80", after=members),
        PlannedChange(
            action=ChangeAction.CREATE,
            kind="listener",
            name="TCP:80",
            after="TCP:80->30080 (health check HTTP:10256/healthz)",
        ),
    )

    provider.ensure(desired)
    assert kit.writes() == {
        "CreateLoadBalancer": 1,
        "CreateVServerGroup": 1,
        "CreateLoadBalancerTCPListener": 1,
        "StartLoadBalancerListener": 1,
    }
    assert provider.plan(desired) == ()


def test_a_listener_deleted_behind_our_back_is_planned_then_recreated(kit: Kit) -> None:
    provider = kit.provider()
    desired = kit.desired(kit.ref(), kit.tcp(80, 30080), kit.tcp(443, 30443))
    lb_id = provider.ensure(desired).lb_id
    request = DeleteLoadBalancerListenerRequest.DeleteLoadBalancerListenerRequest()
    request.set_LoadBalancerId(lb_id)
    request.set_ListenerPort(443)
    request.set_ListenerProtocol("tcp")
    kit.call(kit.client(), request)

    kit.reset_counts()
    assert kit.provider().plan(desired) == (
        PlannedChange(
            action=ChangeAction.CREATE,
            kind="listener",
            name="TCP:443",
            after="TCP:443->30443 (health check HTTP:10256/healthz)",
        ),
    )
    assert kit.writes() == {}
    provider.ensure(desired)
    # The group survived: only the listener is made again, on it.
    assert kit.writes() == {"CreateLoadBalancerTCPListener": 1, "StartLoadBalancerListener": 1}
    assert kit.listeners(lb_id)[("TCP", 443)]["Status"] == "running"
    assert provider.plan(desired) == ()


def test_a_backend_removed_behind_our_back_is_planned_then_added(kit: Kit) -> None:
    provider = kit.provider()
    desired = kit.desired(kit.ref(), kit.tcp(80, 30080))
    lb_id = provider.ensure(desired).lb_id
    group_id = _group_of(kit, lb_id, 80)
    gone = _instances(kit)[1]
    request = RemoveVServerGroupBackendServersRequest.RemoveVServerGroupBackendServersRequest()
    request.set_VServerGroupId(group_id)
    request.set_BackendServers(f'[{{"ServerId": "{gone}", "Port": 30080}}]')
    kit.call(kit.client(), request)

    kit.reset_counts()
    assert kit.provider().plan(desired) == (
        PlannedChange(
            action=ChangeAction.CREATE, kind="backends", name="TCP:80", after=f"{gone}:30080"
        ),
    )
    assert kit.writes() == {}
    provider.ensure(desired)
    assert kit.writes() == {"AddVServerGroupBackendServers": 1}
    assert kit.group_backends(group_id) == {(i, 30080, "ecs") for i in _instances(kit)}


def test_a_health_check_changed_behind_our_back_is_planned_then_restored(kit: Kit) -> None:
    provider = kit.provider()
    desired = kit.desired(
        kit.ref(), kit.tcp(80, 30080), health_check=HealthCheck(port=32100, path="/healthz")
    )
    lb_id = provider.ensure(desired).lb_id
    request = (
        SetLoadBalancerTCPListenerAttributeRequest.SetLoadBalancerTCPListenerAttributeRequest()
    )
    request.set_LoadBalancerId(lb_id)
    request.set_ListenerPort(80)
    request.set_HealthCheckType("tcp")
    request.set_HealthCheckConnectPort(31000)  # -520 is refused: Set* takes 1-65535
    kit.call(kit.client(), request)

    kit.reset_counts()
    assert kit.provider().plan(desired) == (
        PlannedChange(
            action=ChangeAction.UPDATE,
            kind="health check",
            name="TCP:80",
            before="TCP:31000",
            after="HTTP:32100/healthz",
        ),
    )
    assert kit.writes() == {}
    provider.ensure(desired)
    assert kit.writes() == {"SetLoadBalancerTCPListenerAttribute": 1}
    config = kit.listeners(lb_id)[("TCP", 80)]["TCPListenerConfig"]
    assert (config["HealthCheckType"], config["HealthCheckConnectPort"]) == ("http", 32100)
    assert provider.plan(desired) == ()


def test_a_stopped_listener_and_a_changed_affinity_are_planned(kit: Kit) -> None:
    provider = kit.provider()
    desired = kit.desired(kit.ref(), kit.tcp(80, 30080))
    lb_id = provider.ensure(desired).lb_id
    client = kit.client()
    stop = StopLoadBalancerListenerRequest.StopLoadBalancerListenerRequest()
    stop.set_LoadBalancerId(lb_id)
    stop.set_ListenerPort(80)
    stop.set_ListenerProtocol("tcp")
    kit.call(client, stop)
    sticky = SetLoadBalancerTCPListenerAttributeRequest.SetLoadBalancerTCPListenerAttributeRequest()
    sticky.set_LoadBalancerId(lb_id)
    sticky.set_ListenerPort(80)
    sticky.set_PersistenceTimeout(600)
    kit.call(client, sticky)

    kit.reset_counts()
    assert kit.provider().plan(desired) == (
        PlannedChange(
            action=ChangeAction.UPDATE,
            kind="attribute",
            name="TCP:80",
            before="PersistenceTimeout=600",
            after="PersistenceTimeout=0",
        ),
        PlannedChange(
            action=ChangeAction.UPDATE,
            kind="listener",
            name="TCP:80",
            before="stopped",
            after="running",
        ),
    )
    assert kit.writes() == {}
    provider.ensure(desired)
    assert kit.writes() == {
        "SetLoadBalancerTCPListenerAttribute": 1,
        "StartLoadBalancerListener": 1,
    }
    assert provider.plan(desired) == ()


def test_a_port_taken_away_plans_its_listener_and_group_deleted(kit: Kit) -> None:
    provider = kit.provider()
    service = kit.ref()
    lb_id = provider.ensure(kit.desired(service, kit.tcp(80, 30080), kit.tcp(443, 30443))).lb_id
    group_443 = _group_of(kit, lb_id, 443)
    fewer = kit.desired(service, kit.tcp(80, 30080))

    kit.reset_counts()
    assert provider.plan(fewer) == (
        PlannedChange(
            action=ChangeAction.DELETE, kind="listener", name="TCP:443", before="TCP:443"
        ),
        PlannedChange(
            action=ChangeAction.DELETE, kind="vserver group", name="TCP:443", before=group_443
        ),
    )
    assert kit.writes() == {}
    provider.ensure(fewer)
    assert kit.writes() == {"DeleteLoadBalancerListener": 1, "DeleteVServerGroup": 1}


def test_plan_refuses_what_ensure_refuses_without_writing(kit: Kit) -> None:
    provider = kit.provider()
    missing = kit.ref(annotations={LOADBALANCER_ID: "lb-doesnotexist"})
    kit.reset_counts()
    for call in (provider.plan, provider.ensure):
        with pytest.raises(InvalidService, match="does not exist"):
            call(kit.desired(missing, kit.tcp(80, 30080)))
    service = kit.ref()
    provider.ensure(kit.desired(service, kit.tcp(80, 30080)))
    intranet = kit.ref(annotations={ADDRESS_TYPE: "intranet"}, uid=service.uid)
    kit.reset_counts()
    for call in (provider.plan, provider.ensure):
        with pytest.raises(InvalidService, match="cannot change in place"):
            call(kit.desired(intranet, kit.tcp(80, 30080)))
    assert kit.writes() == {}


def test_list_owned_reads_every_page_and_reports_only_our_load_balancers(kit: Kit) -> None:
    backend = kit.cloud.backend
    seeded = {}
    for n in range(105):  # more than one DescribeLoadBalancers page (100)
        uid = f"uid-{n:03d}"
        lb = backend.create_load_balancer(
            name=f"seeded-{n}",
            address_type="internet",
            vpc_id="",
            vswitch_id="",
            spec="",
            address="",
            tags={CLUSTER_TAG: kit.cluster, SERVICE_UID_TAG: uid, SERVICE_NAME_TAG: f"ns/s{n}"},
            delete_protection=False,
        )
        seeded[uid] = (lb.id, f"ns/s{n}")
    for tags in (
        {CLUSTER_TAG: "another-cluster", SERVICE_UID_TAG: "uid-x", SERVICE_NAME_TAG: "ns/x"},
        {CLUSTER_TAG: kit.cluster},  # our cluster's tag, but no Service: not created by us
    ):
        backend.create_load_balancer(
            name="not-ours",
            address_type="internet",
            vpc_id="",
            vswitch_id="",
            spec="",
            address="",
            tags=tags,
            delete_protection=False,
        )
    provider = kit.provider()
    reused = backend.create_load_balancer(
        name="pre-existing",
        address_type="internet",
        vpc_id="",
        vswitch_id="",
        spec="",
        address="",
        tags={},
        delete_protection=False,
    )
    sharing = kit.ref(annotations={LOADBALANCER_ID: reused.id}, name="sharing")
    provider.ensure(kit.desired(sharing, kit.tcp(80, 30080)))
    created = kit.ref(name="created")
    created_id = provider.ensure(kit.desired(created, kit.tcp(80, 30080))).lb_id

    kit.reset_counts()
    owned = kit.provider().list_owned()
    assert kit.writes() == {}
    assert kit.calls("DescribeLoadBalancers") == 2
    expected = [
        OwnedLoadBalancer(lb_id=lb_id, service_uid=uid, service_key=key)
        for uid, (lb_id, key) in seeded.items()
    ]
    expected.append(
        OwnedLoadBalancer(lb_id=created_id, service_uid=created.uid, service_key=created.key)
    )
    assert sorted(owned, key=lambda item: item.lb_id) == sorted(
        expected, key=lambda item: item.lb_id
    )
    assert reused.id not in {item.lb_id for item in owned}
