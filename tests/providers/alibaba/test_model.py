"""The Alibaba local model and its diff, without a cloud: pure functions over frozen values."""

from __future__ import annotations

from dataclasses import replace

import pytest

from lbprovider.cloud import (
    BackendMode,
    ChangeAction,
    DesiredLoadBalancer,
    EndpointTarget,
    HealthCheck,
    InvalidService,
    Listener,
    NodeTarget,
    OwnedLoadBalancer,
    PlannedChange,
    PortStatus,
    Protocol,
    ServiceRef,
    SessionAffinity,
)
from lbprovider.cloud.tags import CLUSTER_TAG, SERVICE_NAME_TAG, SERVICE_UID_TAG
from lbprovider_alibaba import model
from lbprovider_alibaba.model import (
    RemoteGroup,
    RemoteListener,
    RemoteLoadBalancer,
    WantedListener,
)
from lbprovider_alibaba.options import Options

pytestmark = pytest.mark.unit

REGION = "cn-hangzhou"
REF = ServiceRef(cluster="c1", namespace="default", name="web", uid="uid-1")
NODES = (
    NodeTarget(name="a", provider_id=f"{REGION}.i-aaa", address="10.0.1.10"),
    NodeTarget(name="b", provider_id=f"{REGION}.i-bbb", address="10.0.1.11"),
    NodeTarget(name="elsewhere", provider_id="cn-beijing.i-ccc", address="10.0.2.10"),
    NodeTarget(name="aws", provider_id="aws:///us-east-1a/i-0abc", address="10.0.3.10"),
)
INTERNET = Options(address_type="internet", vswitch_id=None, spec=None, reuse_id=None)
INTRANET = Options(address_type="intranet", vswitch_id="vsw-1", spec="slb.s1.small", reuse_id=None)


def tcp(port: int, node_port: int) -> Listener:
    return Listener(name=f"tcp-{port}", port=port, protocol=Protocol.TCP, node_port=node_port)


def udp(port: int, node_port: int) -> Listener:
    return Listener(name=f"udp-{port}", port=port, protocol=Protocol.UDP, node_port=node_port)


def desired(*listeners: Listener, **extra: object) -> DesiredLoadBalancer:
    extra.setdefault("nodes", NODES)
    return DesiredLoadBalancer(ref=REF, listeners=listeners, **extra)  # type: ignore[arg-type]


TRAFFIC_PORT = model.HealthPolicy(cluster_check="traffic-port")
"""The class setting ``cluster_health_check: traffic-port``: the diff tests' plain TCP check."""


def wanted(*listeners: Listener, **extra: object) -> tuple[WantedListener, ...]:
    found, _ = model.wanted_listeners(
        desired(*listeners, **extra), region=REGION, health=TRAFFIC_PORT
    )
    return found


def live(want: WantedListener, group_id: str, **attrs: object) -> RemoteListener:
    """A listener as SLB reports what ``want`` created (its own spellings)."""
    reported = {**want.attrs, "HealthCheckConnectPort": -520, **attrs}
    return RemoteListener(
        protocol=want.protocol, port=want.port, group_id=group_id, status="running", attrs=reported
    )


# -- the local model ----------------------------------------------------------------------


def test_node_backends_are_this_regions_instances_only() -> None:
    (want,) = wanted(tcp(80, 30080))
    assert want.key == ("TCP", 80)
    assert want.group_name == "lbp/uid-1/TCP-80"
    assert want.backends == {("i-aaa", 30080, "ecs", ""), ("i-bbb", 30080, "ecs", "")}
    assert dict(want.attrs) == {
        "Bandwidth": -1,
        "PersistenceTimeout": 0,
        "HealthCheck": "on",
        "HealthCheckType": "tcp",
        "HealthCheckConnectPort": None,  # the backend port
    }


def test_tcp_and_udp_on_one_port_are_two_listeners_with_two_groups() -> None:
    tcp53, udp53 = wanted(tcp(53, 30053), udp(53, 30053))
    assert (tcp53.key, udp53.key) == (("TCP", 53), ("UDP", 53))
    assert tcp53.group_name != udp53.group_name


def test_affinity_and_health_check_and_what_udp_cannot_honour() -> None:
    listeners, warnings = model.wanted_listeners(
        desired(
            tcp(80, 30080),
            udp(80, 30080),
            session_affinity=SessionAffinity(),
            health_check=HealthCheck(port=32100),
            source_ranges=("10.0.0.0/8",),
        ),
        region=REGION,
    )
    tcp80, udp80 = listeners
    assert (tcp80.attrs["PersistenceTimeout"], tcp80.attrs["HealthCheckType"]) == (3600, "http")
    assert (tcp80.attrs["HealthCheckURI"], tcp80.attrs["HealthCheckConnectPort"]) == (
        "/healthz",
        32100,
    )
    assert udp80.attrs == {"Bandwidth": -1, "HealthCheck": "on", "HealthCheckConnectPort": None}
    assert [w.split(" ", 2)[:2] for w in warnings] == [
        ["sessionAffinity", "ClientIP"],
        ["sessionAffinity", "ClientIP"],
        ["the", "HTTP"],
        ["loadBalancerSourceRanges", "is"],
    ]
    assert "exceeds" in warnings[0] and "UDP" in warnings[1]


def test_pod_mode_wants_pods_not_nodes() -> None:
    listener = Listener(
        name="http",
        port=80,
        protocol=Protocol.TCP,
        endpoints=(EndpointTarget(ip="10.0.1.30", port=8080),),
    )
    (want,) = wanted(listener, backend_mode=BackendMode.POD_IP, nodes=())
    assert want.pod_mode and not want.backends
    assert want.pods == {("10.0.1.30", 8080)}
    assert model.group_backends(want, {"10.0.1.30": "eni-1"}) == {
        ("eni-1", 8080, "eni", "10.0.1.30")
    }
    assert model.group_backends(want, {}) == frozenset()


def test_new_load_balancer_intranet_and_internet() -> None:
    spec, warnings = model.new_load_balancer(
        desired(tcp(80, 30080), requested_ip="10.0.1.77"),
        INTRANET,
        cluster="c1",
        vpc_id="vpc-1",
        delete_protection=True,
    )
    assert (spec.address_type, spec.vpc_id, spec.vswitch_id, spec.address) == (
        "intranet",
        "vpc-1",
        "vsw-1",
        "10.0.1.77",
    )
    assert (spec.name, spec.spec, spec.delete_protection, warnings) == (
        "k8s-c1-default-web",
        "slb.s1.small",
        True,
        (),
    )
    assert spec.tags[CLUSTER_TAG] == "c1" and spec.tags[SERVICE_UID_TAG] == "uid-1"
    spec, warnings = model.new_load_balancer(
        desired(tcp(80, 30080), requested_ip="1.2.3.4"),
        INTERNET,
        cluster="c1",
        vpc_id="vpc-1",
        delete_protection=False,
    )
    assert (spec.vpc_id, spec.vswitch_id, spec.address) == (None, None, None)
    assert len(warnings) == 1 and "loadBalancerIP 1.2.3.4" in warnings[0]


# -- reading ------------------------------------------------------------------------------


def test_pick_owned_checks_the_tags_and_takes_the_oldest_first() -> None:
    tags = {CLUSTER_TAG: "c1", SERVICE_UID_TAG: "uid-1"}
    newer = RemoteLoadBalancer(lb_id="lb-b", created="2026-01-02T00:00Z", tags=tags)
    older = RemoteLoadBalancer(lb_id="lb-a", created="2026-01-01T00:00Z", tags=tags)
    other = RemoteLoadBalancer(lb_id="lb-c", tags={CLUSTER_TAG: "c2", SERVICE_UID_TAG: "uid-1"})
    assert model.pick_owned([newer, other, older], REF) == [older, newer]


def test_an_address_type_change_is_invalid_and_a_spec_change_a_warning() -> None:
    lb = RemoteLoadBalancer(lb_id="lb-1", address="47.0.0.1", address_type="internet", spec="s")
    with pytest.raises(InvalidService, match="cannot change in place"):
        model.existing_warnings(lb, desired(tcp(80, 30080)), INTRANET)
    spec_change = Options(
        address_type="internet", vswitch_id=None, spec="slb.s2.small", reuse_id=None
    )
    (warning,) = model.existing_warnings(lb, desired(tcp(80, 30080)), spec_change)
    assert "slb.s2.small not applied" in warning


# -- the diff -----------------------------------------------------------------------------


def test_an_unchanged_listener_needs_no_call_in_slbs_spellings() -> None:
    tcp80, udp80 = wanted(
        tcp(80, 30080), udp(80, 30080), session_affinity=SessionAffinity(timeout_seconds=600)
    )
    for want in (tcp80, udp80):
        change = model.listener_change(want, "rsp-1", live(want, "rsp-1"))
        assert not change.writes, change
    # Omitted values read back as SLB's defaults.
    reported = live(tcp80, "rsp-1", HealthCheckConnectPort=None, HealthCheckType="TCP")
    assert not model.listener_change(tcp80, "rsp-1", reported).writes


def test_listener_create_update_and_start() -> None:
    (want,) = wanted(tcp(80, 30080))
    created = model.listener_change(want, "rsp-1", None)
    # Create takes no HealthCheckConnectPort for "the traffic port"; then it must be started.
    assert created.create == {
        "Bandwidth": -1,
        "PersistenceTimeout": 0,
        "HealthCheckSwitch": "on",  # the request's name for Describe's HealthCheck
        "HealthCheckType": "tcp",
        "VServerGroupId": "rsp-1",
    }
    assert (created.update, created.start) == (None, True)
    moved = model.listener_change(want, "rsp-2", live(want, "rsp-1"))
    assert moved.update is not None and moved.update["VServerGroupId"] == "rsp-2"
    # The live listener already checks the backend port (-520 as read): nothing to send, and
    # never -520 (Set* takes 1-65535).
    assert "HealthCheckConnectPort" not in moved.update
    assert (moved.create, moved.start) == (None, False)
    stopped = model.listener_change(want, "rsp-1", replace(live(want, "rsp-1"), status="stopped"))
    assert (stopped.create, stopped.update, stopped.start) == (None, None, True)


def test_plan_deletes_stale_listeners_and_keeps_the_group_in_use() -> None:
    (want,) = wanted(tcp(80, 30080))
    groups = [
        RemoteGroup(group_id="rsp-twin", name=want.group_name),
        RemoteGroup(group_id="rsp-used", name=want.group_name),
        RemoteGroup(group_id="rsp-old", name="lbp/uid-1/TCP-8080"),
    ]
    listeners = [
        live(want, "rsp-used"),
        RemoteListener(protocol="TCP", port=8080, group_id="rsp-old", status="running", attrs={}),
    ]
    plan = model.plan_listeners("lb-1", [want], listeners, groups, shared=False)
    assert plan.stale == (("TCP", 8080),)
    (step,) = plan.steps
    assert (step.group_id, step.live) == ("rsp-used", listeners[0])
    assert model.stale_groups(groups, {"rsp-used"}) == ["rsp-twin", "rsp-old"]


def test_on_a_shared_load_balancer_only_our_listeners_count() -> None:
    (want,) = wanted(tcp(80, 30080))
    theirs = RemoteListener(
        protocol="TCP", port=80, group_id="rsp-theirs", status="running", attrs={}
    )
    with pytest.raises(InvalidService, match="not managed by this Service"):
        model.plan_listeners("lb-1", [want], [theirs], [], shared=True)
    # Unshared, a listener on our load balancer is ours whatever its group.
    assert model.plan_listeners("lb-1", [want], [theirs], [], shared=False).steps[0].live == theirs
    ours = RemoteGroup(group_id="rsp-ours", name="lbp/uid-1/UDP-53")
    mine = RemoteListener(protocol="UDP", port=53, group_id="rsp-ours", status="running", attrs={})
    assert model.live_ports([theirs, mine], [ours], shared=True) == (
        PortStatus(port=53, protocol=Protocol.UDP),
    )
    assert model.our_groups([ours, RemoteGroup(group_id="x", name="theirs")], REF) == [ours]


def test_backend_diff_is_what_to_remove_and_add() -> None:
    have = frozenset({("i-a", 30080, "ecs", ""), ("i-b", 30080, "ecs", "")})
    want = frozenset({("i-b", 30080, "ecs", ""), ("i-c", 30080, "ecs", "")})
    assert model.backend_diff(have, want) == (
        [("i-a", 30080, "ecs", "")],
        [("i-c", 30080, "ecs", "")],
    )
    assert model.backend_diff(want, want) == ([], [])


def test_eni_owners_come_from_the_groups_first_then_a_lookup() -> None:
    pods = Listener(
        name="http",
        port=80,
        protocol=Protocol.TCP,
        endpoints=tuple(EndpointTarget(ip=f"10.0.1.{n}", port=8080) for n in (30, 31, 32, 33)),
    )
    want = wanted(pods, backend_mode=BackendMode.POD_IP, nodes=())
    held = [
        frozenset(
            {
                ("eni-a", 8080, "eni", "10.0.1.30"),
                # An older version's entry (the Pod IP as ServerId) is looked up again.
                ("10.0.1.31", 8080, "eni", "10.0.1.31"),
            }
        )
    ]
    owners, unknown = model.known_eni_owners(want, held)
    assert (owners, unknown) == ({"10.0.1.30": "eni-a"}, ["10.0.1.31", "10.0.1.32", "10.0.1.33"])
    found = {"10.0.1.31": {"eni-b"}, "10.0.1.33": {"eni-b", "eni-c"}}
    resolved, warnings = model.resolve_eni_owners(unknown, found, vpc_id="vpc-1")
    assert resolved == {"10.0.1.31": "eni-b"}
    assert len(warnings) == 2
    assert "no in-use ENI in VPC vpc-1 holds Pod IP(s) 10.0.1.32" in warnings[0]
    assert "several ENIs in VPC vpc-1 hold Pod IP(s) 10.0.1.33" in warnings[1]


def test_status_has_the_vip_and_the_ports() -> None:
    lb = RemoteLoadBalancer(lb_id="lb-1", address="47.0.0.1")
    ports = model.served_ports(wanted(tcp(80, 30080), udp(53, 30053)))
    status = model.status(lb, ports, ["w"])
    (ingress,) = status.ingress
    assert (status.lb_id, ingress.ip, ingress.ip_mode, status.warnings) == (
        "lb-1",
        "47.0.0.1",
        "VIP",
        ("w",),
    )
    assert [(p.port, p.protocol) for p in ingress.ports] == [(80, Protocol.TCP), (53, Protocol.UDP)]
    assert model.status(RemoteLoadBalancer(lb_id="lb-2"), ports).ingress == ()


# -- the changes ensure applies and plan reports ------------------------------------------


def _layout(
    wants: tuple[WantedListener, ...],
    listeners: list[RemoteListener],
    groups: list[RemoteGroup],
) -> model.ListenerPlan:
    return model.plan_listeners("lb-1", wants, listeners, groups, shared=False)


def test_an_in_sync_load_balancer_needs_no_change_and_shows_none() -> None:
    (want,) = wanted(tcp(80, 30080))
    groups = [RemoteGroup(group_id="rsp-1", name=want.group_name)]
    layout = _layout((want,), [live(want, "rsp-1")], groups)
    changes = model.sync_changes(layout, groups, {"rsp-1": want.backends}, {})
    assert changes == ()
    assert model.planned(changes) == ()


def test_a_new_port_creates_its_group_then_its_listener_on_that_group() -> None:
    (want,) = wanted(tcp(443, 30443))
    changes = model.sync_changes(_layout((want,), [], []), [], {}, {})
    group, listener = changes
    assert group == model.CreateGroup(
        listener=("TCP", 443),
        name=want.group_name,
        backends=(("i-aaa", 30443, "ecs", ""), ("i-bbb", 30443, "ecs", "")),
    )
    assert isinstance(listener, model.CreateListener)
    # The group's id is known only once it is made: the change names it by name.
    assert listener.group == model.GroupRef(name=want.group_name)
    assert "VServerGroupId" not in listener.params
    assert [(c.action, c.kind, c.name) for c in model.planned(changes)] == [
        (ChangeAction.CREATE, "vserver group", "TCP:443"),
        (ChangeAction.CREATE, "backends", "TCP:443"),
        (ChangeAction.CREATE, "listener", "TCP:443"),
    ]
    assert model.planned(changes)[1].after == "i-aaa:30443, i-bbb:30443"


def test_backends_are_added_then_removed_and_the_listener_left_alone() -> None:
    (want,) = wanted(tcp(80, 30080))
    groups = [RemoteGroup(group_id="rsp-1", name=want.group_name)]
    held = {"rsp-1": frozenset({("i-aaa", 30080, "ecs", ""), ("i-old", 30080, "ecs", "")})}
    changes = model.sync_changes(_layout((want,), [live(want, "rsp-1")], groups), groups, held, {})
    # New members first: a group is never emptied by a rotation, even for a moment.
    assert changes == (
        model.AddBackends(
            listener=("TCP", 80), group_id="rsp-1", backends=(("i-bbb", 30080, "ecs", ""),)
        ),
        model.RemoveBackends(
            listener=("TCP", 80), group_id="rsp-1", backends=(("i-old", 30080, "ecs", ""),)
        ),
    )
    assert model.planned(changes) == (
        PlannedChange(
            action=ChangeAction.CREATE, kind="backends", name="TCP:80", after="i-bbb:30080"
        ),
        PlannedChange(
            action=ChangeAction.DELETE, kind="backends", name="TCP:80", before="i-old:30080"
        ),
    )


def test_stale_listeners_go_first_and_their_groups_last() -> None:
    (want,) = wanted(tcp(80, 30080))
    groups = [
        RemoteGroup(group_id="rsp-1", name=want.group_name),
        RemoteGroup(group_id="rsp-old", name="lbp/uid-1/UDP-53"),
    ]
    listeners = [
        live(want, "rsp-1"),
        RemoteListener(protocol="UDP", port=53, group_id="rsp-old", status="running", attrs={}),
    ]
    changes = model.sync_changes(
        _layout((want,), listeners, groups), groups, {"rsp-1": want.backends}, {}
    )
    assert changes == (
        model.DeleteListener(listener=("UDP", 53)),
        model.DeleteGroup(group_id="rsp-old", name="lbp/uid-1/UDP-53"),
    )
    assert [(c.action, c.kind, c.name, c.before) for c in model.planned(changes)] == [
        (ChangeAction.DELETE, "listener", "UDP:53", "UDP:53"),
        (ChangeAction.DELETE, "vserver group", "UDP:53", "rsp-old"),
    ]


def test_a_listener_update_shows_each_thing_that_differs() -> None:
    (want,) = wanted(tcp(80, 30080), health_check=HealthCheck(port=32100))
    groups = [RemoteGroup(group_id="rsp-1", name=want.group_name)]
    drifted = live(
        want,
        "rsp-other",
        HealthCheckType="tcp",
        HealthCheckURI="",
        HealthCheckConnectPort=-520,
        PersistenceTimeout=60,
    )
    changes = model.sync_changes(
        _layout((want,), [drifted], groups), groups, {"rsp-1": want.backends}, {}
    )
    (change,) = changes
    assert isinstance(change, model.SetListener)
    assert change.params["VServerGroupId"] == "rsp-1"
    assert model.planned(changes) == (
        PlannedChange(
            action=ChangeAction.UPDATE,
            kind="listener",
            name="TCP:80",
            before="vserver group rsp-other",
            after="vserver group rsp-1",
        ),
        PlannedChange(
            action=ChangeAction.UPDATE,
            kind="health check",
            name="TCP:80",
            before="TCP:traffic-port",
            after="HTTP:32100/healthz",
        ),
        PlannedChange(
            action=ChangeAction.UPDATE,
            kind="attribute",
            name="TCP:80",
            before="PersistenceTimeout=60",
            after="PersistenceTimeout=0",
        ),
    )


def test_a_listener_moves_to_a_group_made_in_the_same_sync() -> None:
    (want,) = wanted(tcp(80, 30080))
    # The listener uses a group that is not named as ours: ours is created, the listener moved.
    changes = model.sync_changes(_layout((want,), [live(want, "rsp-x")], []), [], {}, {})
    create, move = changes
    assert isinstance(create, model.CreateGroup)
    assert isinstance(move, model.SetListener)
    assert move.group == model.GroupRef(name=want.group_name)
    assert "VServerGroupId" not in move.params
    assert move.shown()[0].after == f"vserver group {want.group_name} (new)"


def test_every_change_shows_at_least_one_line() -> None:
    (want,) = wanted(tcp(80, 30080))
    every: tuple[model.Change, ...] = (
        model.DeleteListener(listener=("TCP", 81)),
        model.CreateGroup(listener=("TCP", 80), name=want.group_name, backends=()),
        model.RemoveBackends(listener=("TCP", 80), group_id="rsp-1", backends=()),
        model.AddBackends(listener=("TCP", 80), group_id="rsp-1", backends=()),
        model.CreateListener(
            listener=("TCP", 80), group=model.GroupRef(name="g"), params={}, summary="TCP:80"
        ),
        model.StartListener(listener=("TCP", 80), status="stopped"),
        model.DeleteGroup(group_id="rsp-1", name="theirs"),
    )
    for change in every:
        assert change.shown(), change
    # SetListener's lines are computed with the update: a drifted listener always has some.
    drifted = live(want, "rsp-1", Bandwidth=10)
    (update,) = model.sync_changes(
        _layout((want,), [drifted], [RemoteGroup(group_id="rsp-1", name=want.group_name)]),
        [RemoteGroup(group_id="rsp-1", name=want.group_name)],
        {"rsp-1": want.backends},
        {},
    )
    assert isinstance(update, model.SetListener) and update.shown()


def test_plan_of_a_new_load_balancer_names_it_first() -> None:
    spec, _ = model.new_load_balancer(
        desired(tcp(80, 30080)), INTRANET, cluster="c1", vpc_id="vpc-1", delete_protection=False
    )
    (want,) = wanted(tcp(80, 30080))
    changes = model.sync_changes(_layout((want,), [], []), [], {}, {})
    first, *rest = model.planned(changes, create=spec)
    assert first == PlannedChange(
        action=ChangeAction.CREATE,
        kind="load balancer",
        name="k8s-c1-default-web",
        after="intranet slb.s1.small",
    )
    assert tuple(rest) == model.planned(changes)


def test_texts_for_health_checks_and_backends() -> None:
    assert model.health_check_text("TCP", {"HealthCheckType": "tcp"}) == "TCP:traffic-port"
    assert (
        model.health_check_text(
            "TCP",
            {"HealthCheckType": "http", "HealthCheckURI": "/healthz", "HealthCheckConnectPort": 1},
        )
        == "HTTP:1/healthz"
    )
    assert model.health_check_text("UDP", {"HealthCheckConnectPort": -520}) == "UDP:traffic-port"
    assert model.health_check_text("TCP", {"HealthCheck": "off"}) == "off"
    pods = [("eni-1", 8080, "eni", f"10.0.1.{n}") for n in range(7)]
    assert model.backends_text(pods) == (
        "10.0.1.0:8080, 10.0.1.1:8080, 10.0.1.2:8080, 10.0.1.3:8080, 10.0.1.4:8080 and 2 more"
    )


def test_owned_load_balancers_need_the_cluster_and_a_service_uid() -> None:
    mine = RemoteLoadBalancer(
        lb_id="lb-b",
        tags={CLUSTER_TAG: "c1", SERVICE_UID_TAG: "uid-1", SERVICE_NAME_TAG: "default/web"},
    )
    found = [
        mine,
        RemoteLoadBalancer(lb_id="lb-c", tags={CLUSTER_TAG: "c2", SERVICE_UID_TAG: "uid-2"}),
        RemoteLoadBalancer(lb_id="lb-d", tags={CLUSTER_TAG: "c1"}),
        RemoteLoadBalancer(lb_id="lb-e"),  # a reused one: never tagged by us
    ]
    assert model.owned_load_balancers(found, cluster="c1") == (
        OwnedLoadBalancer(lb_id="lb-b", service_uid="uid-1", service_key="default/web"),
    )
