"""Property tests: ``build_desired`` over arbitrary Service snapshots.

Ports, protocols, nodePorts, source ranges (field and annotation),
loadBalancerIP, session affinity, traffic policies and EndpointSlices are
drawn at random within what the API server stores; every snapshot yields a
well-formed ``DesiredLoadBalancer`` or ``InvalidService`` with a one-line
reason, never another exception.  Deterministic and bounded, like every
property test here.
"""

from __future__ import annotations

import ipaddress
from typing import Any

import pytest
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st

from lbprovider.cloud import BackendMode, InvalidService, NodeTarget, Protocol
from lbprovider.controller.desired import SOURCE_RANGES_ANNOTATION, build_desired
from lbprovider.controller.ownership import OWNERSHIP_ANNOTATION
from lbprovider.kube.snapshots import (
    EndpointSliceSnapshot,
    ObjectMeta,
    ServicePort,
    ServiceSnapshot,
    SliceEndpoint,
    SlicePort,
)

pytestmark = pytest.mark.unit

PROPERTIES = settings(
    derandomize=True,  # the same examples on every run: a CI failure reproduces locally
    max_examples=400,
    deadline=None,
    database=None,
    suppress_health_check=[HealthCheck.too_slow],
)

PORT_NUMBERS = st.integers(min_value=1, max_value=65535)


def mostly(usual: st.SearchStrategy[Any], odd: st.SearchStrategy[Any]) -> st.SearchStrategy[Any]:
    """``usual`` nine times in ten: enough odd input to find crashes, enough good to build."""
    return st.integers(min_value=0, max_value=9).flatmap(lambda n: odd if n == 0 else usual)


PROTOCOLS = mostly(
    st.sampled_from(["TCP", "UDP"]),
    st.one_of(st.sampled_from(["SCTP", "tcp", ""]), st.text(max_size=6)),
)
CIDR_TEXT = mostly(
    st.one_of(
        st.sampled_from(["10.0.0.0/8", "10.1.2.3/16", "0.0.0.0/0", "2001:db8::/32", "::/0"]),
        st.ip_addresses().map(str),  # a bare address is a /32 or /128
    ),
    st.one_of(
        st.sampled_from(
            [" 10.0.0.0/8", "10.0.0.0/33", "fe80::1%eth0/64", "", "not-a-cidr", "1.2.3.4/-1"]
        ),
        st.text(max_size=20),
    ),
)
NODE_PORTS = mostly(st.integers(min_value=30000, max_value=32767), st.none())
IPS = st.one_of(st.ip_addresses(v=4).map(str), st.ip_addresses(v=6).map(str))


@st.composite
def service_ports(draw: st.DrawFn) -> tuple[ServicePort, ...]:
    """Distinct (port, protocol) pairs, as the API server enforces; anything else random."""
    count = draw(mostly(st.integers(min_value=1, max_value=5), st.just(0)))
    ports: dict[tuple[int, str], ServicePort] = {}
    for index in range(count):
        number = draw(PORT_NUMBERS)
        protocol = draw(PROTOCOLS)
        ports[(number, protocol)] = ServicePort(
            name=draw(st.sampled_from(["", f"p{index}", "http", "dns"])),
            protocol=protocol,
            port=number,
            target_port=draw(st.one_of(st.none(), PORT_NUMBERS, st.sampled_from(["http", "x"]))),
            node_port=draw(NODE_PORTS),
        )
    return tuple(ports.values())


@st.composite
def snapshots(draw: st.DrawFn) -> ServiceSnapshot:
    annotations = draw(
        st.dictionaries(
            st.sampled_from([SOURCE_RANGES_ANNOTATION, OWNERSHIP_ANNOTATION, "example.com/x"]),
            st.one_of(
                st.lists(CIDR_TEXT, max_size=3).map(",".join),
                st.text(max_size=30),
            ),
            max_size=3,
        )
    )
    return ServiceSnapshot(
        meta=ObjectMeta(
            namespace="ns",
            name="svc",
            uid="uid-1",
            resource_version="1",
            annotations=annotations,
        ),
        type="LoadBalancer",
        load_balancer_class="example.com/lb",
        ports=draw(service_ports()),
        allocate_node_ports=draw(st.booleans()),
        external_traffic_policy=draw(st.sampled_from(["Cluster", "Local", "local", ""])),
        health_check_node_port=draw(
            st.one_of(st.none(), st.integers(min_value=30000, max_value=32767))
        ),
        session_affinity=draw(st.sampled_from(["None", "ClientIP", "clientip", ""])),
        session_affinity_timeout=draw(
            st.one_of(st.none(), st.integers(min_value=1, max_value=86400))
        ),
        load_balancer_ip=draw(st.one_of(st.none(), IPS, st.text(max_size=20))),
        source_ranges=tuple(draw(st.lists(CIDR_TEXT, max_size=3))),
        status_ingress=(),
        status_conditions=(),
    )


@st.composite
def endpoint_slices(draw: st.DrawFn) -> tuple[EndpointSliceSnapshot, ...]:
    slices = []
    for index in range(draw(st.integers(min_value=0, max_value=3))):
        slices.append(
            EndpointSliceSnapshot(
                meta=ObjectMeta(
                    namespace="ns", name=f"svc-{index}", uid=f"s{index}", resource_version="1"
                ),
                service_name="svc",
                address_type=draw(st.sampled_from(["IPv4", "IPv6", "FQDN"])),
                ports=tuple(
                    draw(
                        st.lists(
                            st.builds(
                                SlicePort,
                                name=st.sampled_from(["", "p0", "p1", "http", "dns"]),
                                protocol=PROTOCOLS,
                                port=st.one_of(st.none(), PORT_NUMBERS),
                            ),
                            max_size=3,
                        )
                    )
                ),
                endpoints=tuple(
                    draw(
                        st.lists(
                            st.builds(
                                SliceEndpoint,
                                addresses=st.lists(IPS, max_size=2).map(tuple),
                                ready=st.booleans(),
                            ),
                            max_size=3,
                        )
                    )
                ),
            )
        )
    return tuple(slices)


NODES = st.lists(
    st.builds(
        NodeTarget,
        name=st.sampled_from(["n1", "n2", "n3"]),
        provider_id=st.sampled_from(["aws:///z/i-1", "cn-hangzhou.i-2", "qcloud:///z/ins-3", ""]),
        address=st.one_of(st.just(""), IPS),
    ),
    max_size=3,
    unique_by=lambda node: node.name,
).map(lambda nodes: tuple(sorted(nodes)))


def _check(service: ServiceSnapshot, nodes: tuple[NodeTarget, ...], result: Any) -> None:
    """What a valid result is: the Service's ports, mode, nodes and settings, normalised."""
    listeners = result.listeners
    assert len(listeners) == len(service.ports)
    assert [(lst.port, lst.protocol.value) for lst in listeners] == sorted(
        (port.port, port.protocol) for port in service.ports
    )
    assert all(lst.protocol in (Protocol.TCP, Protocol.UDP) for lst in listeners)
    if service.allocate_node_ports:
        assert result.backend_mode is BackendMode.NODE_PORT
        assert result.nodes == nodes
        wanted = {(port.port, port.protocol): port.node_port for port in service.ports}
        assert all(lst.node_port == wanted[(lst.port, lst.protocol.value)] for lst in listeners)
        assert all(lst.endpoints == () for lst in listeners)
    else:
        assert result.backend_mode is BackendMode.POD_IP
        assert result.nodes == ()
        for lst in listeners:
            assert list(lst.endpoints) == sorted(set(lst.endpoints))
            assert all(1 <= target.port <= 65535 for target in lst.endpoints)
    for cidr in result.source_ranges:
        network = ipaddress.ip_network(cidr)  # strict: normalised to its network address
        assert str(network) == cidr
    assert list(result.source_ranges) == sorted(set(result.source_ranges))
    if result.health_check is not None:
        assert service.external_traffic_policy == "Local"
        assert result.health_check.port == service.health_check_node_port
    if result.session_affinity is not None:
        assert service.session_affinity == "ClientIP"
        assert result.session_affinity.timeout_seconds > 0
    assert result.requested_ip == service.load_balancer_ip
    assert OWNERSHIP_ANNOTATION not in result.ref.annotations


@PROPERTIES
@given(service=snapshots(), nodes=NODES, slices=endpoint_slices())
def test_every_service_builds_or_is_invalid_with_a_reason(
    service: ServiceSnapshot,
    nodes: tuple[NodeTarget, ...],
    slices: tuple[EndpointSliceSnapshot, ...],
) -> None:
    try:
        result = build_desired(service, cluster="prop", nodes=nodes, slices=slices)
    except InvalidService as error:
        event("invalid")
        assert error.reason.strip(), "an empty reason"
        assert "\n" not in error.reason, f"a reason over several lines: {error.reason!r}"
        return
    event(f"built, {result.backend_mode.value}")
    _check(service, nodes, result)
    # Pure: the same snapshot gives the same model (the applied-digest check relies on it).
    assert build_desired(service, cluster="prop", nodes=nodes, slices=slices) == result


@PROPERTIES
@given(
    network=st.one_of(st.ip_addresses(v=4), st.ip_addresses(v=6)),
    padding=st.tuples(st.sampled_from(["", " ", "  ", "\t"]), st.sampled_from(["", " ", "\t"])),
)
def test_space_padded_source_ranges_are_valid_as_the_api_server_stores_them(
    network: ipaddress.IPv4Address | ipaddress.IPv6Address, padding: tuple[str, str]
) -> None:
    # kube-apiserver accepts and stores " 10.0.0.0/8" in spec.loadBalancerSourceRanges.
    cidr = f"{padding[0]}{network}/{network.max_prefixlen}{padding[1]}"
    port = ServicePort(name="", protocol="TCP", port=80, target_port=80, node_port=30080)
    service = ServiceSnapshot(
        meta=ObjectMeta(namespace="ns", name="svc", uid="uid-1", resource_version="1"),
        type="LoadBalancer",
        load_balancer_class="example.com/lb",
        ports=(port,),
        allocate_node_ports=True,
        external_traffic_policy="Cluster",
        health_check_node_port=None,
        session_affinity="None",
        session_affinity_timeout=None,
        load_balancer_ip=None,
        source_ranges=(cidr,),
        status_ingress=(),
        status_conditions=(),
    )
    desired = build_desired(service, cluster="prop", nodes=())
    assert desired.source_ranges == (f"{network}/{network.max_prefixlen}",)
