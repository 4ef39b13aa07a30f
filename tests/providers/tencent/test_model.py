"""The Tencent provider's pure model: the CLB a Service wants, and the diff against a read."""

from __future__ import annotations

from typing import Any

import pytest

from lbprovider.cloud import (
    BackendMode,
    DesiredLoadBalancer,
    EndpointTarget,
    HealthCheck,
    InvalidService,
    Listener,
    NodeTarget,
    PortStatus,
    Protocol,
    ServiceRef,
    SessionAffinity,
)
from lbprovider.cloud.tags import CLUSTER_TAG, SERVICE_UID_TAG, ownership_tags
from lbprovider_tencent import model
from lbprovider_tencent.model import ClbSpec, RemoteClb, RemoteListener
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
    assert dict(spec.listeners[0].health_check) == {"HealthSwitch": 1, "CheckType": "TCP"}
    assert dict(spec.listeners[1].health_check) == {"HealthSwitch": 1}


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
    assert dict(spec.listeners[0].health_check) == {
        "HealthSwitch": 1,
        "CheckType": "HTTP",
        "CheckPort": 32000,
        "HttpCheckPath": "/healthz",
    }
    reused = _spec(
        _desired((80, TCP, 30080)), Options(internal_subnet="subnet-1", reuse_lb_id="lb-1")
    )
    assert len(reused.warnings) == 1 and ANNOTATION_INTERNAL_SUBNET in reused.warnings[0]


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
    assert diff.delete == ("lbl-1",)
    assert [item.key for item in diff.create] == [(UDP, 100)]
    assert [(listener_id, item.session_expire) for listener_id, item in diff.modify] == [
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
