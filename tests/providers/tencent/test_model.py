"""The Tencent provider's pure model: the CLB a Service wants, and the diff against a read."""

from __future__ import annotations

from dataclasses import replace
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from lbprovider.cloud import (
    BackendMode,
    ChangeAction,
    DesiredLoadBalancer,
    EndpointTarget,
    HealthCheck,
    InvalidService,
    Listener,
    NodeTarget,
    PlannedChange,
    PortStatus,
    Protocol,
    ServiceRef,
    SessionAffinity,
)
from lbprovider.cloud.tags import CLUSTER_TAG, SERVICE_UID_TAG, ownership_tags
from lbprovider_tencent import model
from lbprovider_tencent.model import ClbChanges, ClbSpec, RemoteClb, RemoteListener, RemoteState
from lbprovider_tencent.options import (
    ANNOTATION_EXISTED_LBID,
    ANNOTATION_INTERNAL_SUBNET,
    Options,
    parse_options,
    reused_lb_id,
)

pytestmark = pytest.mark.unit

TCP, UDP = Protocol.TCP, Protocol.UDP
REF = ServiceRef(cluster="c1", namespace="default", name="web", uid="uid-1")
NODES = (
    NodeTarget(name="n1", provider_id="qcloud:///ap-guangzhou-3/ins-aaaa1111", address=""),
    NodeTarget(name="n2", provider_id="qcloud:///ap-guangzhou-3/ins-bbbb2222", address=""),
    NodeTarget(name="n3", provider_id="qcloud:///ap-guangzhou-3/not-an-instance", address=""),
    NodeTarget(name="aws", provider_id="aws:///us-east-1a/i-0abc", address=""),
)


def _desired(*ports: tuple[int, Protocol, int], **kwargs: Any) -> DesiredLoadBalancer:
    listeners = tuple(
        Listener(name=f"p{port}", port=port, protocol=proto, node_port=node_port)
        for port, proto, node_port in ports
    )
    return DesiredLoadBalancer(ref=REF, listeners=listeners, nodes=NODES, **kwargs)


def _spec(desired: DesiredLoadBalancer, options: Options | None = None) -> ClbSpec:
    return model.build(desired, options or Options())


def _remote(spec: ClbSpec) -> list[RemoteListener]:
    """What the cloud reads back once the spec is applied."""
    return [
        RemoteListener(
            listener_id=f"lbl-{index}",
            name=item.name,
            port=item.port,
            protocol=item.protocol.value,
            session_expire=item.session_expire,
            health_check=dict(item.health_check),
        )
        for index, item in enumerate(spec.listeners)
    ]


# ---- options ------------------------------------------------------------------------


def test_options_parse_the_annotations_once() -> None:
    ref = ServiceRef(
        cluster="c",
        namespace="d",
        name="n",
        uid="u",
        annotations={ANNOTATION_INTERNAL_SUBNET: " subnet-ab12 ", ANNOTATION_EXISTED_LBID: "lb-x1"},
    )
    assert parse_options(ref) == Options(internal_subnet="subnet-ab12", reuse_lb_id="lb-x1")
    assert parse_options(REF) == Options()


@pytest.mark.parametrize(
    "annotations",
    [
        {ANNOTATION_INTERNAL_SUBNET: "vsw-123"},
        {ANNOTATION_INTERNAL_SUBNET: ""},
        {ANNOTATION_EXISTED_LBID: "clb-123"},
    ],
)
def test_malformed_annotation_is_invalid_service_naming_it(annotations: dict[str, str]) -> None:
    ref = ServiceRef(cluster="c", namespace="d", name="n", uid="u", annotations=annotations)
    with pytest.raises(InvalidService, match=next(iter(annotations))):
        parse_options(ref)


def test_a_mangled_reuse_annotation_names_no_clb_to_spare() -> None:
    ref = ServiceRef(
        cluster="c", namespace="d", name="n", uid="u", annotations={ANNOTATION_EXISTED_LBID: "x"}
    )
    assert reused_lb_id(ref) is None


# ---- desired state ------------------------------------------------------------------


def test_node_port_listeners_target_only_tencent_instances() -> None:
    spec = _spec(_desired((53, TCP, 30053), (53, UDP, 30054)))
    assert spec.lb_type == "OPEN"
    assert spec.tags == ownership_tags(REF)
    assert spec.skipped_nodes == ("n3",)
    assert [(item.name, item.key) for item in spec.listeners] == [
        ("lbp-uid-1-tcp-53", (TCP, 53)),
        ("lbp-uid-1-udp-53", (UDP, 53)),
    ]
    assert spec.listeners[0].targets == {
        ("CVM", "ins-aaaa1111", 30053),
        ("CVM", "ins-bbbb2222", 30053),
    }
    assert spec.listeners[1].targets == {
        ("CVM", "ins-aaaa1111", 30054),
        ("CVM", "ins-bbbb2222", 30054),
    }
    # Cluster policy: kube-proxy's node health on TCP; CLB's UDP listeners can only PING.
    assert dict(spec.listeners[0].health_check) == model.http_check(10256)
    assert dict(spec.listeners[1].health_check) == {"HealthSwitch": 1, "CheckType": "PING"}


def test_pod_ip_listeners_target_eni_ips() -> None:
    endpoints = (EndpointTarget(ip="10.2.0.5", port=8080), EndpointTarget(ip="10.2.0.6", port=8080))
    desired = DesiredLoadBalancer(
        ref=REF,
        listeners=(Listener(name="http", port=80, protocol=TCP, endpoints=endpoints),),
        backend_mode=BackendMode.POD_IP,
    )
    (listener,) = _spec(desired).listeners
    assert listener.targets == {("ENI", "10.2.0.5", 8080), ("ENI", "10.2.0.6", 8080)}


def test_internal_clb_takes_the_subnet_and_the_requested_vip() -> None:
    spec = _spec(
        _desired((80, TCP, 30080), requested_ip="10.0.1.7"), Options(internal_subnet="subnet-1")
    )
    assert (spec.lb_type, spec.subnet_id, spec.vip, spec.warnings) == (
        "INTERNAL",
        "subnet-1",
        "10.0.1.7",
        (),
    )


def test_what_clb_cannot_honour_is_a_warning() -> None:
    desired = _desired(
        (80, TCP, 30080),
        (81, UDP, 30081),
        requested_ip="1.2.3.4",
        source_ranges=("10.0.0.0/8",),
        health_check=HealthCheck(port=32000),
        session_affinity=SessionAffinity(),
    )
    spec = _spec(desired)
    assert spec.vip is None
    assert [w.split(" ", 1)[0] for w in spec.warnings] == [
        "loadBalancerIP",
        "loadBalancerSourceRanges",
        "the",
        "sessionAffinity",
    ]
    assert {item.session_expire for item in spec.listeners} == {model.SESSION_MAX}
    # The HTTP check of a TCP listener needs HttpVersion and HttpCheckDomain, and only a
    # 2xx may count as healthy (kube-proxy answers 503 where no local endpoint runs).
    assert dict(spec.listeners[0].health_check) == {
        "HealthSwitch": 1,
        "CheckType": "HTTP",
        "CheckPort": 32000,
        "HttpCheckPath": "/healthz",
        "HttpCheckMethod": "GET",
        "HttpCheckDomain": "kube-proxy.healthz",
        "HttpVersion": "HTTP/1.1",
        "HttpCode": 2,
    }
    reused = _spec(
        _desired((80, TCP, 30080)), Options(internal_subnet="subnet-1", reuse_lb_id="lb-1")
    )
    assert len(reused.warnings) == 1 and ANNOTATION_INTERNAL_SUBNET in reused.warnings[0]


def test_cluster_check_follows_the_class_then_the_annotations() -> None:
    desired = _desired((80, TCP, 30080))
    by_class = model.build(
        desired, Options(), health=model.HealthPolicy(cluster_check="traffic-port")
    )
    assert dict(by_class.listeners[0].health_check) == {
        "HealthSwitch": 1,
        "CheckType": "TCP",
        "CheckPort": -1,  # written, so a healthz port set before is left
    }
    annotated = model.build(
        desired,
        Options(cluster_health_check="kube-proxy", kube_proxy_health_port=10999),
        health=model.HealthPolicy(cluster_check="traffic-port"),
    )
    assert dict(annotated.listeners[0].health_check) == model.http_check(10999)
    assert annotated.warnings == ()


def test_a_cluster_check_annotation_on_local_or_pod_targets_is_a_warning() -> None:
    local = _spec(
        _desired((80, TCP, 30080), health_check=HealthCheck(port=32000)),
        Options(cluster_health_check="traffic-port"),
    )
    assert dict(local.listeners[0].health_check) == model.http_check(32000)
    assert any("ignored" in warning for warning in local.warnings)
    pods = DesiredLoadBalancer(
        ref=REF,
        listeners=(Listener(name="p", port=80, protocol=TCP, endpoints=()),),
        backend_mode=BackendMode.POD_IP,
    )
    spec = _spec(pods, Options(kube_proxy_health_port=10999))
    assert dict(spec.listeners[0].health_check)["CheckType"] == "TCP"  # the Pod's own port
    assert any("ignored" in warning for warning in spec.warnings)


@pytest.mark.parametrize("read_back", [None, 0, -1])
def test_a_reset_check_port_reads_back_as_the_same_check(read_back: int | None) -> None:
    spec = model.build(
        _desired((80, TCP, 30080)),
        Options(),
        health=model.HealthPolicy(cluster_check="traffic-port"),
    )
    (remote,) = _remote(spec)
    remote = replace(remote, health_check={**remote.health_check, "CheckPort": read_back})
    assert model.listener_diff(spec, REF, "lb-1", [remote]).empty
    moved = replace(remote, health_check={**remote.health_check, "CheckPort": 32000})
    assert not model.listener_diff(spec, REF, "lb-1", [moved]).empty


# ---- the diff -----------------------------------------------------------------------


def test_an_applied_spec_diffs_to_nothing() -> None:
    spec = _spec(_desired((80, TCP, 30080), (80, UDP, 30080), (443, TCP, 30443)))
    remote = _remote(spec)
    diff = model.listener_diff(spec, REF, "lb-1", remote)
    assert diff.empty
    assert dict(diff.ids) == {(TCP, 80): "lbl-0", (UDP, 80): "lbl-1", (TCP, 443): "lbl-2"}
    for item in spec.listeners:
        assert model.target_diff(item.targets, item.targets).empty


def test_listener_diff_creates_modifies_and_deletes_only_ours() -> None:
    before = _spec(_desired((80, TCP, 30080), (90, TCP, 30090)))
    remote = [
        *_remote(before),
        RemoteListener(listener_id="lbl-user", name="ssh", port=22, protocol="TCP"),
    ]
    after = _spec(
        _desired(
            (80, TCP, 30080),
            (100, UDP, 30100),
            session_affinity=SessionAffinity(timeout_seconds=600),
        )
    )
    diff = model.listener_diff(after, REF, "lb-1", remote)
    assert [item.listener_id for item in diff.delete] == ["lbl-1"]
    assert [item.key for item in diff.create] == [(UDP, 100)]
    assert [(current.listener_id, item.session_expire) for current, item in diff.modify] == [
        ("lbl-0", 600)
    ]
    assert dict(diff.ids) == {(TCP, 80): "lbl-0"}


def test_a_wanted_port_held_by_a_foreign_listener_is_invalid_service() -> None:
    spec = _spec(_desired((80, TCP, 30080)))
    remote = [RemoteListener(listener_id="lbl-user", name="by-hand", port=80, protocol="TCP")]
    with pytest.raises(InvalidService, match="lbl-user"):
        model.listener_diff(spec, REF, "lb-1", remote)
    # The same port on the other protocol is free.
    udp = [RemoteListener(listener_id="lbl-user", name="by-hand", port=80, protocol="UDP")]
    assert [item.key for item in model.listener_diff(spec, REF, "lb-1", udp).create] == [(TCP, 80)]


def test_target_diff_registers_and_deregisters_the_difference_in_order() -> None:
    wanted = frozenset({("CVM", "ins-b", 1), ("CVM", "ins-c", 1)})
    have = frozenset({("CVM", "ins-a", 1), ("CVM", "ins-b", 1)})
    diff = model.target_diff(wanted, have)
    assert diff.register == (("CVM", "ins-c", 1),)
    assert diff.deregister == (("CVM", "ins-a", 1),)


# ---- the one diff: ensure applies it, plan reports it --------------------------------

CREATE, UPDATE, DELETE = ChangeAction.CREATE, ChangeAction.UPDATE, ChangeAction.DELETE
LB = RemoteClb(lb_id="lb-1", lb_type="OPEN", status=model.LB_NORMAL, vips=("1.2.3.4",))
TWO_PORTS = _desired((80, TCP, 30080), (443, TCP, 30443))


def _applied(spec: ClbSpec) -> RemoteState:
    """What ensure leaves behind for ``spec``: every listener with its exact targets."""
    listeners = _remote(spec)
    return RemoteState(
        lb=LB,
        listeners=tuple(listeners),
        targets={
            remote.listener_id: item.targets
            for remote, item in zip(listeners, spec.listeners, strict=True)
        },
    )


def test_a_missing_clb_plans_the_clb_then_its_listeners_then_their_targets() -> None:
    spec = _spec(_desired((80, TCP, 30080)))
    todo = model.changes(spec, REF, RemoteState(lb=None))
    assert todo.create_lb is spec
    assert todo.planned() == (
        PlannedChange(action=CREATE, kind="load balancer", name="k8s-default-web", after="OPEN"),
        PlannedChange(
            action=CREATE, kind="listener", name="TCP:80", after="check HTTP:10256/healthz"
        ),
        PlannedChange(action=CREATE, kind="targets", name="TCP:80", after="ins-aaaa1111:30080"),
        PlannedChange(action=CREATE, kind="targets", name="TCP:80", after="ins-bbbb2222:30080"),
    )
    internal = _spec(
        _desired((80, TCP, 30080), requested_ip="10.0.1.7"), Options(internal_subnet="subnet-1")
    )
    (created, *_) = model.changes(internal, REF, RemoteState(lb=None)).planned()
    assert created.after == "INTERNAL in subnet-1 VIP 10.0.1.7"


def test_a_clb_that_matches_plans_nothing() -> None:
    spec = _spec(
        _desired(
            (80, TCP, 30080),
            (80, UDP, 30080),
            health_check=HealthCheck(port=32000),
            session_affinity=SessionAffinity(timeout_seconds=600),
        )
    )
    todo = model.changes(spec, REF, _applied(spec))
    assert todo.empty
    assert todo.planned() == ()


def _drop_listener(state: RemoteState) -> RemoteState:
    return replace(state, listeners=state.listeners[:1])


def _drop_target(state: RemoteState) -> RemoteState:
    first = state.listeners[0].listener_id
    kept = state.targets[first] - {("CVM", "ins-bbbb2222", 30080)}
    return replace(state, targets={**state.targets, first: kept})


def _extra_target(state: RemoteState) -> RemoteState:
    first = state.listeners[0].listener_id
    extra = state.targets[first] | {("ENI", "10.0.0.9", 8080)}
    return replace(state, targets={**state.targets, first: extra})


def _edit_first(state: RemoteState, **fields: Any) -> RemoteState:
    first = replace(state.listeners[0], **fields)
    return replace(state, listeners=(first, *state.listeners[1:]))


def _stale_and_foreign_listeners(state: RemoteState) -> RemoteState:
    stale = RemoteListener(listener_id="lbl-9", name="lbp-uid-1-tcp-90", port=90, protocol="TCP")
    users = RemoteListener(listener_id="lbl-user", name="ssh", port=22, protocol="TCP")
    return replace(state, listeners=(*state.listeners, stale, users))


@pytest.mark.parametrize(
    ("drift", "expected"),
    [
        pytest.param(
            _drop_listener,
            [
                (CREATE, "listener", "TCP:443", "", "check HTTP:10256/healthz"),
                (CREATE, "targets", "TCP:443", "", "ins-aaaa1111:30443"),
                (CREATE, "targets", "TCP:443", "", "ins-bbbb2222:30443"),
            ],
            id="listener-removed",
        ),
        pytest.param(
            _drop_target,
            [(CREATE, "targets", "TCP:80", "", "ins-bbbb2222:30080")],
            id="target-removed",
        ),
        pytest.param(
            _extra_target,
            [(DELETE, "targets", "TCP:80", "10.0.0.9:8080", "")],
            id="target-added",
        ),
        pytest.param(
            lambda state: _edit_first(
                state,
                health_check={
                    "HealthSwitch": 1,
                    "CheckType": "HTTP",
                    "CheckPort": 8080,
                    "HttpCheckPath": "/x",
                },
            ),
            [(UPDATE, "health check", "TCP:80", "HTTP:8080/x", "HTTP:10256/healthz")],
            id="health-check-changed",
        ),
        pytest.param(
            lambda state: _edit_first(state, health_check={"HealthSwitch": 0, "CheckType": "TCP"}),
            [(UPDATE, "health check", "TCP:80", "off", "HTTP:10256/healthz")],
            id="health-check-off",
        ),
        pytest.param(
            lambda state: _edit_first(state, session_expire=600),
            [(UPDATE, "attribute", "TCP:80", "SessionExpireTime=600", "SessionExpireTime=0")],
            id="session-persistence-on",
        ),
        pytest.param(
            _stale_and_foreign_listeners,
            [(DELETE, "listener", "TCP:90", "lbl-9", "")],
            id="stale-listener-ours-only",
        ),
    ],
)
def test_drift_plans_exactly_the_change_that_repairs_it(
    drift: Any, expected: list[tuple[ChangeAction, str, str, str, str]]
) -> None:
    spec = _spec(TWO_PORTS)
    todo = model.changes(spec, REF, drift(_applied(spec)))
    assert [(c.action, c.kind, c.name, c.before, c.after) for c in todo.planned()] == expected


def test_one_modify_reads_as_a_health_check_and_an_attribute_change() -> None:
    spec = _spec(TWO_PORTS)
    drifted = _edit_first(_applied(spec), session_expire=30, health_check={"HealthSwitch": 0})
    todo = model.changes(spec, REF, drifted)
    assert len(todo.listeners.modify) == 1  # one ModifyListener call...
    assert [c.kind for c in todo.planned()] == ["health check", "attribute"]  # ...two changes


def test_a_service_with_its_own_clb_cannot_switch_to_reuse() -> None:
    spec = _spec(TWO_PORTS, Options(reuse_lb_id="lb-users"))
    with pytest.raises(InvalidService, match="own CLB lb-mine"):
        model.changes(spec, REF, replace(_applied(spec), conflict="lb-mine"))


def test_target_changes_of_a_new_listener_register_every_target() -> None:
    spec = _spec(TWO_PORTS)
    state = _applied(spec)
    ids = model.listener_ids(spec, REF, state.listeners[:1])
    assert ids == {(TCP, 80): "lbl-0"}
    found = model.target_changes(spec, ids, {"lbl-0": frozenset()})
    assert [(item.key, diff.register) for item, diff in found] == [
        ((TCP, 80), (("CVM", "ins-aaaa1111", 30080), ("CVM", "ins-bbbb2222", 30080))),
        ((TCP, 443), (("CVM", "ins-aaaa1111", 30443), ("CVM", "ins-bbbb2222", 30443))),
    ]


@pytest.mark.parametrize(
    ("protocol", "check", "text"),
    [
        ("TCP", {"HealthSwitch": 1, "CheckType": "TCP"}, "TCP:traffic-port"),
        ("UDP", {"HealthSwitch": 1}, "UDP:traffic-port"),
        ("UDP", {"HealthSwitch": 1, "CheckType": "PING"}, "PING"),
        ("TCP", {"CheckType": "TCP", "CheckPort": -1}, "TCP:traffic-port"),
        ("TCP", {"CheckType": "HTTP", "CheckPort": 10256, "HttpCheckPath": "/healthz"}, None),
        ("TCP", {"HealthSwitch": 0, "CheckType": "HTTP"}, "off"),
        ("TCP", {"CheckType": "TCP", "CheckPort": 31000}, "TCP:31000"),
    ],
)
def test_health_checks_read_as_the_demo_prints_them(
    protocol: str, check: dict[str, Any], text: str | None
) -> None:
    assert model.health_check_text(protocol, check) == (text or "HTTP:10256/healthz")


INSTANCES = ("ins-aaaa1111", "ins-bbbb2222", "ins-cccc3333")
PORTS = ((53, UDP, 30053), (80, TCP, 30080), (80, UDP, 30081), (443, TCP, 30443))
CHECKS = (
    {"HealthSwitch": 1, "CheckType": "TCP"},
    {"HealthSwitch": 1},
    {"HealthSwitch": 0, "CheckType": "TCP"},
    {"HealthSwitch": 1, "CheckType": "HTTP", "CheckPort": 32000, "HttpCheckPath": "/healthz"},
)


@st.composite
def _drifted(draw: st.DrawFn) -> tuple[ClbSpec, RemoteState]:
    """A wanted CLB and an arbitrary state of ours (old ports, edited checks, any targets)."""
    wanted = draw(st.lists(st.sampled_from(PORTS), min_size=1, unique=True))
    local = draw(st.booleans())
    spec = _spec(
        _desired(
            *sorted(wanted),
            health_check=HealthCheck(port=32000) if local else None,
            session_affinity=draw(st.sampled_from([None, SessionAffinity(timeout_seconds=60)])),
        )
    )
    listeners: list[RemoteListener] = []
    targets: dict[str, frozenset[model.TargetKey]] = {}
    for index, (port, proto, node_port) in enumerate(
        draw(st.lists(st.sampled_from(PORTS), unique=True))
    ):
        listener_id = f"lbl-{index}"
        listeners.append(
            RemoteListener(
                listener_id=listener_id,
                name=f"lbp-uid-1-{proto.value.lower()}-{port}",
                port=port,
                protocol=proto.value,
                session_expire=draw(st.sampled_from([0, 60, 600])),
                health_check=draw(st.sampled_from(CHECKS)),
            )
        )
        chosen = draw(st.sets(st.sampled_from(INSTANCES)))
        targets[listener_id] = frozenset(("CVM", iid, node_port) for iid in chosen)
    return spec, RemoteState(lb=LB, listeners=tuple(listeners), targets=targets)


def _apply(state: RemoteState, todo: ClbChanges) -> RemoteState:
    """The cloud after ensure's writes for ``todo`` (what each CLB call does)."""
    listeners = {item.listener_id: item for item in state.listeners}
    targets = {key: set(value) for key, value in state.targets.items()}
    for gone in todo.listeners.delete:
        del listeners[gone.listener_id]
    ids = dict(todo.listeners.ids)
    for new in todo.listeners.create:
        ids[new.key] = listener_id = f"new-{new.name}"
        listeners[listener_id] = RemoteListener(
            listener_id=listener_id,
            name=new.name,
            port=new.port,
            protocol=new.protocol.value,
            session_expire=new.session_expire,
            health_check=dict(new.health_check),
        )
    for current, wanted in todo.listeners.modify:
        listeners[current.listener_id] = replace(
            current,
            session_expire=wanted.session_expire,
            health_check={**current.health_check, **wanted.health_check},
        )
    for listener, diff in todo.targets:
        have = targets.setdefault(ids[listener.key], set())
        assert not have & set(diff.register), "CLB refuses to register a target twice"
        have |= set(diff.register)
        have -= set(diff.deregister)
    return RemoteState(
        lb=state.lb,
        listeners=tuple(listeners.values()),
        targets={key: frozenset(value) for key, value in targets.items()},
    )


@settings(derandomize=True, max_examples=200, deadline=None, database=None)
@given(_drifted())
def test_applying_the_plan_once_leaves_nothing_to_plan(case: tuple[ClbSpec, RemoteState]) -> None:
    spec, state = case
    todo = model.changes(spec, REF, state)
    assert (todo.planned() == ()) == todo.empty
    after = _apply(state, todo)
    assert model.changes(spec, REF, after).planned() == ()
    # And the cloud is what the spec says, judged without the diff's own comparisons.
    ours = {item.name: item for item in after.listeners}
    assert set(ours) == {item.name for item in spec.listeners}
    for wanted in spec.listeners:
        have = ours[wanted.name]
        assert have.session_expire == wanted.session_expire
        assert dict(have.health_check) | dict(wanted.health_check) == dict(have.health_check)
        assert after.targets[have.listener_id] == wanted.targets


# ---- rules about what was read ---------------------------------------------------------


def test_drift_that_clb_cannot_change_is_a_warning() -> None:
    desired = _desired((80, TCP, 30080), requested_ip="10.0.1.9")
    spec = _spec(desired, Options(internal_subnet="subnet-1"))
    lb = RemoteClb(lb_id="lb-1", lb_type="INTERNAL", status=model.LB_NORMAL, vips=("10.0.1.8",))
    (warning,) = model.drift_warnings(spec, desired, lb)
    assert "10.0.1.9" in warning
    public = RemoteClb(lb_id="lb-1", lb_type="OPEN", status=model.LB_NORMAL, vips=("1.1.1.1",))
    (warning,) = model.drift_warnings(spec, desired, public)
    assert "cannot change" in warning and "INTERNAL" in warning


def test_reuse_refuses_a_missing_clb_or_another_services() -> None:
    with pytest.raises(InvalidService, match="does not exist"):
        model.check_reusable(REF, None, "lb-1")
    theirs = RemoteClb(
        lb_id="lb-1",
        lb_type="OPEN",
        status=1,
        tags={CLUSTER_TAG: "c1", SERVICE_UID_TAG: "someone-else"},
    )
    with pytest.raises(InvalidService, match="another Service"):
        model.check_reusable(REF, theirs, "lb-1")
    users = RemoteClb(lb_id="lb-1", lb_type="OPEN", status=1, tags={"team": "a"})
    assert model.check_reusable(REF, users, "lb-1") is users


def test_status_reports_the_first_vip_and_our_ports() -> None:
    lb = RemoteClb(lb_id="lb-1", lb_type="OPEN", status=1, vips=("1.2.3.4",))
    spec = _spec(_desired((80, UDP, 30080), (53, TCP, 30053)))
    remote = [*_remote(spec), RemoteListener(listener_id="x", name="ssh", port=22, protocol="TCP")]
    status = model.status(lb, model.served_ports(REF, remote))
    assert status.lb_id == "lb-1"
    (ingress,) = status.ingress
    assert (ingress.ip, ingress.ip_mode) == ("1.2.3.4", "VIP")
    assert ingress.ports == (PortStatus(port=53, protocol=TCP), PortStatus(port=80, protocol=UDP))
    creating = RemoteClb(lb_id="lb-2", lb_type="OPEN", status=model.LB_CREATING)
    assert not creating.ready
    assert model.status(creating, []).ingress == ()
