"""The local model: what the AWS side of one Service should look like (pure functions).

``build`` turns a :class:`DesiredLoadBalancer` into an :class:`NlbSpec` (NLB,
listeners, target groups with their exact ``(id, port)`` targets, security
group rules, and the backend rules the nodes' security groups need);
``target_diff`` and ``rule_diff`` compare a spec with what was read back.
Keeping this free of boto3 lets the diff be tested on its own.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Iterable
from dataclasses import dataclass

from lbprovider.cloud import InvalidService
from lbprovider.cloud.types import (
    BackendMode,
    DesiredLoadBalancer,
    Listener,
    NodeTarget,
    PortStatus,
    Protocol,
)
from lbprovider_aws import aws_annotations, tags

PROVIDER_ID_PREFIX = "aws://"
ANYWHERE_V4 = "0.0.0.0/0"
DEFAULT_AFFINITY_TIMEOUT = 10800  # Kubernetes' default; anything else cannot be honoured

Target = tuple[str, int]
"""``(Id, Port)``: an instance id or IP and the port traffic goes to."""

Rule = tuple[str, int, str]
"""``(ip protocol, port, cidr)``: one ingress rule of the NLB's security group."""

BackendRule = tuple[str, int]
"""``(ip protocol, port)``: a node security group rule allowing it from the NLB's group."""


@dataclass(frozen=True, slots=True, kw_only=True)
class HealthSpec:
    """A target group health check."""

    protocol: str
    port: str
    path: str | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class TargetGroupSpec:
    """One target group (one per listener port)."""

    name: str
    port: int
    protocol: str
    target_type: str
    health: HealthSpec
    sticky: bool
    targets: frozenset[Target]


@dataclass(frozen=True, slots=True, kw_only=True)
class ListenerSpec:
    """One NLB listener forwarding to the target group named ``target_group``."""

    port: int
    protocol: str
    target_group: str


@dataclass(frozen=True, slots=True, kw_only=True)
class NlbSpec:
    """Everything the provider makes the cloud match for one Service."""

    name: str
    scheme: str
    subnets: tuple[str, ...]
    requested_ip: str | None
    """A private IP to pin (internal NLBs only); None otherwise."""
    listeners: tuple[ListenerSpec, ...]
    target_groups: tuple[TargetGroupSpec, ...]
    rules: frozenset[Rule]
    backend_rules: frozenset[BackendRule]
    """What the target instances' security groups must allow from the NLB's group
    (empty for IP targets: the Pods' groups are not known here)."""
    instance_ids: frozenset[str]
    """Every instance target (their security groups get ``backend_rules``)."""
    ports: tuple[PortStatus, ...]
    warnings: tuple[str, ...]


def instance_id(provider_id: str) -> str | None:
    """``aws:///us-east-1a/i-0abc`` -> ``i-0abc``; None when it is not an AWS instance id."""
    if not provider_id.startswith(PROVIDER_ID_PREFIX):
        return None
    last = provider_id.rstrip("/").rsplit("/", 1)[-1]
    return last if last.startswith("i-") and len(last) > 2 else None


def _targets(
    listener: Listener, mode: BackendMode, nodes: Iterable[NodeTarget]
) -> frozenset[Target]:
    if mode is BackendMode.POD_IP:
        return frozenset((ep.ip, ep.port) for ep in listener.endpoints)
    if listener.node_port is None:
        raise InvalidService(f"port {listener.port}/{listener.protocol} has no nodePort")
    ids = (instance_id(node.provider_id) for node in nodes)
    return frozenset((iid, listener.node_port) for iid in ids if iid is not None)


def _combine(port: int, group: list[Listener], mode: BackendMode) -> tuple[str, Listener]:
    """One protocol per port; TCP and UDP on one port become TCP_UDP (same backends needed)."""
    if len(group) == 1:
        return group[0].protocol.value, group[0]
    first, second = group[0], group[1]
    if mode is BackendMode.NODE_PORT and first.node_port != second.node_port:
        raise InvalidService(
            f"port {port} has TCP and UDP with different nodePorts "
            f"({first.node_port} and {second.node_port}); an NLB TCP_UDP listener needs "
            "one target port: give both spec.ports entries the same nodePort"
        )
    if mode is BackendMode.POD_IP and set(first.endpoints) != set(second.endpoints):
        raise InvalidService(
            f"port {port} has TCP and UDP with different target ports; an NLB TCP_UDP "
            "listener needs the same endpoints for both protocols"
        )
    return "TCP_UDP", first


def _health(desired: DesiredLoadBalancer) -> HealthSpec:
    check = desired.health_check
    # IP targets are the Pods themselves: the node-level health check port does not
    # exist there, and externalTrafficPolicy has nothing to choose between.
    if check is None or desired.backend_mode is BackendMode.POD_IP:
        return HealthSpec(protocol="TCP", port="traffic-port")
    return HealthSpec(protocol=check.protocol.upper(), port=str(check.port), path=check.path)


def _rules(listeners: Iterable[ListenerSpec], source_ranges: tuple[str, ...]) -> frozenset[Rule]:
    cidrs: list[str] = []
    for cidr in source_ranges or (ANYWHERE_V4,):
        try:
            cidrs.append(str(ipaddress.ip_network(cidr.strip(), strict=False)))
        except ValueError:
            raise InvalidService(f"loadBalancerSourceRanges: {cidr!r} is not a CIDR") from None
    rules: set[Rule] = set()
    for listener in listeners:
        protocols = (
            ("tcp", "udp") if listener.protocol == "TCP_UDP" else (listener.protocol.lower(),)
        )
        for proto in protocols:
            rules.update((proto, listener.port, cidr) for cidr in cidrs)
    return frozenset(rules)


def _backend_rules(groups: Iterable[TargetGroupSpec]) -> frozenset[BackendRule]:
    """Traffic and health checks reach instance targets from the NLB's security group."""
    rules: set[BackendRule] = set()
    for group in groups:
        if group.target_type != "instance":
            continue
        protocols = ("tcp", "udp") if group.protocol == "TCP_UDP" else (group.protocol.lower(),)
        rules.update((proto, group.port) for proto in protocols)
        # Health checks are TCP/HTTP(S) even for UDP groups.
        health_port = group.port if group.health.port == "traffic-port" else int(group.health.port)
        rules.add(("tcp", health_port))
    return frozenset(rules)


def _requested_ip(desired: DesiredLoadBalancer, scheme: str) -> tuple[str | None, list[str]]:
    raw = desired.requested_ip
    if not raw:
        return None, []
    if scheme != aws_annotations.INTERNAL:
        return None, [
            f"loadBalancerIP {raw} ignored: an internet-facing NLB gets its addresses from AWS "
            f"(set {aws_annotations.SCHEME}: internal to pin a private IP)"
        ]
    try:
        address = ipaddress.IPv4Address(raw)
    except ValueError:
        raise InvalidService(f"loadBalancerIP {raw!r} is not an IPv4 address") from None
    return str(address), []


def build(
    desired: DesiredLoadBalancer,
    *,
    parsed: aws_annotations.AwsAnnotations,
    subnets: tuple[str, ...],
) -> NlbSpec:
    """The NLB, listeners, target groups and rules ``desired`` asks for."""
    ref = desired.ref
    by_port: dict[int, list[Listener]] = {}
    for listener in desired.listeners:
        by_port.setdefault(listener.port, []).append(listener)
    nodes = desired.nodes_of(PROVIDER_ID_PREFIX)
    target_type = "ip" if desired.backend_mode is BackendMode.POD_IP else "instance"
    health = _health(desired)
    listeners: list[ListenerSpec] = []
    groups: list[TargetGroupSpec] = []
    for port in sorted(by_port):
        protocol, listener = _combine(port, by_port[port], desired.backend_mode)
        targets = _targets(listener, desired.backend_mode, nodes)
        name = tags.target_group_name(ref, port=port, protocol=protocol, target_type=target_type)
        if listener.node_port is not None and target_type == "instance":
            default_port = listener.node_port
        else:
            default_port = min((p for _, p in targets), default=port)
        groups.append(
            TargetGroupSpec(
                name=name,
                port=default_port,
                protocol=protocol,
                target_type=target_type,
                health=health,
                sticky=desired.session_affinity is not None,
                targets=targets,
            )
        )
        listeners.append(ListenerSpec(port=port, protocol=protocol, target_group=name))
    requested_ip, warnings = _requested_ip(desired, parsed.scheme)
    affinity = desired.session_affinity
    if affinity is not None and affinity.timeout_seconds != DEFAULT_AFFINITY_TIMEOUT:
        warnings.append(
            f"sessionAffinity timeout {affinity.timeout_seconds}s ignored: NLB source_ip "
            "stickiness has no timeout"
        )
    ports = tuple(
        PortStatus(port=listener.port, protocol=listener.protocol)
        for listener in sorted(desired.listeners, key=lambda item: (item.port, item.protocol))
    )
    return NlbSpec(
        name=tags.load_balancer_name(ref),
        scheme=parsed.scheme,
        subnets=subnets,
        requested_ip=requested_ip,
        listeners=tuple(listeners),
        target_groups=tuple(groups),
        rules=_rules(listeners, desired.source_ranges),
        backend_rules=_backend_rules(groups),
        instance_ids=frozenset(
            target_id
            for group in groups
            if group.target_type == "instance"
            for target_id, _ in group.targets
        ),
        ports=ports,
        warnings=tuple(warnings),
    )


def target_diff(
    want: frozenset[Target], have: Iterable[Target]
) -> tuple[list[Target], list[Target]]:
    """``(register, deregister)``, exact on ``(id, port)``: one IP on two ports is two targets."""
    current = set(have)
    return sorted(want - current), sorted(current - want)


def rule_diff(want: frozenset[Rule], have: Iterable[Rule]) -> tuple[list[Rule], list[Rule]]:
    """``(authorize, revoke)`` for the security group's ingress rules."""
    current = set(have)
    return sorted(want - current), sorted(current - want)


def port_statuses(listeners: Iterable[tuple[int, str]]) -> tuple[PortStatus, ...]:
    """PortStatus entries for listeners read back (``TCP_UDP`` reports both protocols)."""
    result: list[PortStatus] = []
    for port, protocol in listeners:
        protocols = ("TCP", "UDP") if protocol == "TCP_UDP" else (protocol,)
        for item in protocols:
            if item in Protocol.__members__:
                result.append(PortStatus(port=port, protocol=Protocol(item)))
    return tuple(sorted(result, key=lambda status: (status.port, status.protocol)))
