"""The desired load balancer for a Service: a pure function of the cluster state.

``build_desired`` reads a Service snapshot, the eligible nodes and the
Service's EndpointSlices and returns a frozen ``DesiredLoadBalancer``, or
raises ``InvalidService`` with a message a user can act on.  No I/O here, so
every rule is unit-testable and the result can be compared with the last
applied one to skip provider calls.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Iterable
from dataclasses import replace

from lbprovider.cloud import (
    BackendMode,
    DesiredLoadBalancer,
    EndpointTarget,
    HealthCheck,
    InvalidService,
    Listener,
    NodeTarget,
    Protocol,
    ServiceRef,
    SessionAffinity,
)
from lbprovider.controller.ownership import OWNERSHIP_ANNOTATION
from lbprovider.kube.snapshots import EndpointSliceSnapshot, ServicePort, ServiceSnapshot

SOURCE_RANGES_ANNOTATION = "service.beta.kubernetes.io/load-balancer-source-ranges"
DEFAULT_AFFINITY_TIMEOUT = 10800


def service_ref(service: ServiceSnapshot, cluster: str) -> ServiceRef:
    """The provider-facing identity of ``service``.

    The controller's own ownership record is left out of the annotations: it is
    no input of the load balancer, and writing it must not look like a change.
    """
    return ServiceRef(
        cluster=cluster,
        namespace=service.meta.namespace,
        name=service.meta.name,
        uid=service.meta.uid,
        annotations={
            key: value
            for key, value in service.meta.annotations.items()
            if key != OWNERSHIP_ANNOTATION
        },
    )


def _protocol(port: ServicePort) -> Protocol:
    try:
        return Protocol(port.protocol)
    except ValueError:
        label = port.name or str(port.port)
        raise InvalidService(
            f"port {label}: protocol {port.protocol} is not supported by cloud load balancers; "
            "use TCP or UDP"
        ) from None


def _source_ranges(service: ServiceSnapshot) -> tuple[str, ...]:
    ranges = service.source_ranges
    if not ranges:
        annotation = service.meta.annotations.get(SOURCE_RANGES_ANNOTATION, "")
        ranges = tuple(part.strip() for part in annotation.split(",") if part.strip())
    normalised = []
    for cidr in ranges:
        try:
            # The API server stores the field's entries space-padded as given (it trims
            # them only to validate), so a padded entry is a valid one.
            normalised.append(str(ipaddress.ip_network(cidr.strip(), strict=False)))
        except ValueError:
            raise InvalidService(f"loadBalancerSourceRanges: {cidr!r} is not a CIDR") from None
    return tuple(sorted(set(normalised)))


def _pod_endpoints(
    port: ServicePort, protocol: Protocol, slices: Iterable[EndpointSliceSnapshot]
) -> tuple[EndpointTarget, ...]:
    """Ready endpoints for one Service port.

    EndpointSlice ports carry the Service port's name and the number the
    targetPort resolved to on those Pods, so a named targetPort
    (``http-web-svc``) may resolve to different numbers in different slices.
    """
    targets: set[EndpointTarget] = set()
    for endpoint_slice in slices:
        if endpoint_slice.address_type not in ("IPv4", "IPv6"):
            continue
        number = next(
            (
                slice_port.port
                for slice_port in endpoint_slice.ports
                if slice_port.name == port.name and slice_port.protocol == protocol.value
            ),
            None,
        )
        if number is None:
            continue
        for endpoint in endpoint_slice.endpoints:
            if endpoint.ready:
                targets.update(EndpointTarget(ip=ip, port=number) for ip in endpoint.addresses)
    return tuple(sorted(targets))


def build_desired(
    service: ServiceSnapshot,
    *,
    cluster: str,
    nodes: tuple[NodeTarget, ...],
    slices: Iterable[EndpointSliceSnapshot] = (),
) -> DesiredLoadBalancer:
    """The load balancer ``service`` asks for; InvalidService when it cannot be built."""
    if not service.ports:
        raise InvalidService("the Service has no ports")
    mode = BackendMode.NODE_PORT if service.allocate_node_ports else BackendMode.POD_IP
    slices = tuple(slices)
    listeners = []
    for port in service.ports:
        protocol = _protocol(port)
        if mode is BackendMode.NODE_PORT:
            if port.node_port is None:
                raise InvalidService(f"port {port.name or port.port}: no nodePort allocated yet")
            listeners.append(
                Listener(
                    name=port.name, port=port.port, protocol=protocol, node_port=port.node_port
                )
            )
        else:
            listeners.append(
                Listener(
                    name=port.name,
                    port=port.port,
                    protocol=protocol,
                    endpoints=_pod_endpoints(port, protocol, slices),
                )
            )
    listeners.sort(key=lambda listener: (listener.port, listener.protocol.value))
    health_check = None
    if (
        mode is BackendMode.NODE_PORT
        and service.external_traffic_policy == "Local"
        and service.health_check_node_port
    ):
        health_check = HealthCheck(port=service.health_check_node_port)
    affinity = None
    if service.session_affinity == "ClientIP":
        affinity = SessionAffinity(
            timeout_seconds=service.session_affinity_timeout or DEFAULT_AFFINITY_TIMEOUT
        )
    return DesiredLoadBalancer(
        ref=service_ref(service, cluster),
        listeners=tuple(listeners),
        backend_mode=mode,
        nodes=nodes if mode is BackendMode.NODE_PORT else (),
        health_check=health_check,
        session_affinity=affinity,
        requested_ip=service.load_balancer_ip,
        source_ranges=_source_ranges(service),
    )


def _same_listeners_but_endpoints(old: tuple[Listener, ...], new: tuple[Listener, ...]) -> bool:
    if old == new:
        return True
    return len(old) == len(new) and all(
        replace(before, endpoints=()) == replace(after, endpoints=())
        for before, after in zip(old, new, strict=True)
    )


def only_backends_changed(old: DesiredLoadBalancer, new: DesiredLoadBalancer) -> bool:
    """True when ``new`` differs from ``old`` in nodes or endpoints and nothing else."""
    # Every other field is compared by the dataclass itself (a field added later counts
    # as a change); a node round copies one tuple here, not every listener.
    return (
        old != new
        and _same_listeners_but_endpoints(old.listeners, new.listeners)
        and replace(old, nodes=new.nodes, listeners=new.listeners) == new
    )
