"""build_desired and the node rules: pure functions over snapshots."""

from __future__ import annotations

from dataclasses import replace
from typing import Any

import pytest

from lbprovider.cloud import (
    BackendMode,
    DesiredLoadBalancer,
    EndpointTarget,
    InvalidService,
    Protocol,
)
from lbprovider.controller.desired import build_desired, only_backends_changed
from lbprovider.controller.selection import class_of, eligible_nodes
from lbprovider.kube.snapshots import EndpointSliceSnapshot, NodeSnapshot, ServiceSnapshot

pytestmark = pytest.mark.unit


def service(**spec: Any) -> ServiceSnapshot:
    body = {
        "type": "LoadBalancer",
        "loadBalancerClass": "x.io/lb",
        "ports": [{"port": 80, "nodePort": 30080}],
    }
    body.update(spec)
    return ServiceSnapshot.parse(
        {"metadata": {"name": "s", "namespace": "ns", "uid": "u1"}, "spec": body}
    )


def node(
    name: str,
    *,
    labels: dict[str, str] | None = None,
    taints: list[str] | None = None,
    deleting: bool = False,
) -> NodeSnapshot:
    meta: dict[str, Any] = {"name": name, "labels": labels or {}}
    if deleting:
        meta["deletionTimestamp"] = "2026-01-01T00:00:00Z"
    return NodeSnapshot.parse(
        {
            "metadata": meta,
            "spec": {
                "providerID": f"aws:///z/{name}",
                "taints": [{"key": k, "effect": "NoSchedule"} for k in taints or []],
            },
            "status": {"addresses": [{"type": "InternalIP", "address": "10.0.0.1"}]},
        }
    )


def endpoint_slice(
    name: str, ports: list[tuple[str, int]], endpoints: list[tuple[str, bool | None]]
) -> EndpointSliceSnapshot:
    return EndpointSliceSnapshot.parse(
        {
            "metadata": {
                "name": name,
                "namespace": "ns",
                "labels": {"kubernetes.io/service-name": "s"},
            },
            "addressType": "IPv4",
            "ports": [{"name": n, "protocol": "TCP", "port": p} for n, p in ports],
            "endpoints": [
                {"addresses": [ip], **({} if ready is None else {"conditions": {"ready": ready}})}
                for ip, ready in endpoints
            ],
        }
    )


def test_listeners_mirror_ports_sorted_with_tcp_and_udp_on_one_port() -> None:
    desired = build_desired(
        service(
            ports=[
                {"name": "b", "port": 53, "protocol": "UDP", "nodePort": 30053},
                {"name": "a", "port": 53, "protocol": "TCP", "nodePort": 30053},
                {"name": "c", "port": 8, "protocol": "TCP", "nodePort": 30008},
            ]
        ),
        cluster="c",
        nodes=(),
    )
    assert [(item.port, item.protocol, item.node_port) for item in desired.listeners] == [
        (8, Protocol.TCP, 30008),
        (53, Protocol.TCP, 30053),
        (53, Protocol.UDP, 30053),
    ]


def test_sctp_is_an_invalid_service_naming_the_port() -> None:
    with pytest.raises(InvalidService, match="port sig: protocol SCTP is not supported"):
        build_desired(
            service(ports=[{"name": "sig", "port": 9, "protocol": "SCTP", "nodePort": 30009}]),
            cluster="c",
            nodes=(),
        )


def test_bad_source_range_is_invalid_and_good_ones_are_normalised() -> None:
    with pytest.raises(InvalidService, match="not a CIDR"):
        build_desired(service(loadBalancerSourceRanges=["10.0.0.0/33"]), cluster="c", nodes=())
    desired = build_desired(
        service(loadBalancerSourceRanges=["10.1.2.3/8", "192.0.2.0/24"]), cluster="c", nodes=()
    )
    assert desired.source_ranges == ("10.0.0.0/8", "192.0.2.0/24")


def test_named_target_port_resolves_per_slice_and_follows_readiness() -> None:
    svc = service(
        allocateLoadBalancerNodePorts=False,
        ports=[{"name": "web", "port": 80, "targetPort": "http-web-svc"}],
    )
    slices = [
        endpoint_slice("s-1", [("web", 8080)], [("10.1.0.1", True), ("10.1.0.2", False)]),
        endpoint_slice("s-2", [("web", 9090)], [("10.1.0.3", None)]),  # unset ready counts as ready
        endpoint_slice("s-3", [("other", 7000)], [("10.1.0.4", True)]),
    ]
    desired = build_desired(svc, cluster="c", nodes=(), slices=slices)
    assert desired.backend_mode is BackendMode.POD_IP
    assert desired.listeners[0].endpoints == (
        EndpointTarget(ip="10.1.0.1", port=8080),
        EndpointTarget(ip="10.1.0.3", port=9090),
    )


def test_local_policy_health_checks_the_health_check_node_port() -> None:
    desired = build_desired(
        service(externalTrafficPolicy="Local", healthCheckNodePort=32000), cluster="c", nodes=()
    )
    assert desired.health_check is not None and desired.health_check.port == 32000
    assert build_desired(service(), cluster="c", nodes=()).health_check is None


def test_node_rules_follow_upstream() -> None:
    label = "node.kubernetes.io/exclude-from-external-load-balancers"
    nodes = [
        node("plain"),
        node("excluded", labels={label: "true"}),
        node("included", labels={label: "false"}),
        node("unparsable", labels={label: "maybe"}),
        node("scaling-down", taints=["ToBeDeletedByClusterAutoscaler"]),
        node("deleting", deleting=True),
    ]
    assert [target.name for target in eligible_nodes(nodes)] == ["included", "plain"]


def test_class_selection() -> None:
    served = ["x.io/lb"]
    assert class_of(service(), served, None) == "x.io/lb"
    assert class_of(service(loadBalancerClass="other.io/lb"), served, None) is None
    assert class_of(service(loadBalancerClass=None), served, None) is None
    assert class_of(service(loadBalancerClass=None), served, "x.io/lb") == "x.io/lb"
    assert class_of(service(type="NodePort"), served, None) is None


def test_only_backend_changes_are_told_apart() -> None:
    svc = service()
    one = build_desired(svc, cluster="c", nodes=eligible_nodes([node("a")]))
    two = build_desired(svc, cluster="c", nodes=eligible_nodes([node("a"), node("b")]))
    assert only_backends_changed(one, two)
    assert not only_backends_changed(one, one)
    moved = build_desired(
        service(ports=[{"port": 81, "nodePort": 30080}]), cluster="c", nodes=one.nodes
    )
    assert not only_backends_changed(one, moved)
    # Nodes and something else: not only backends.
    assert not only_backends_changed(one, replace(two, requested_ip="192.0.2.9"))

    def with_endpoints(ip: str, *, port: int | None = None) -> DesiredLoadBalancer:
        listeners = tuple(
            replace(
                listener,
                port=port or listener.port,
                endpoints=(EndpointTarget(ip=ip, port=8080),),
            )
            for listener in one.listeners
        )
        return replace(one, listeners=listeners)

    assert only_backends_changed(with_endpoints("10.1.0.1"), with_endpoints("10.1.0.2"))
    assert not only_backends_changed(
        with_endpoints("10.1.0.1"), with_endpoints("10.1.0.2", port=81)
    )
