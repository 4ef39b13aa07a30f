"""The local model: what the AWS side of one Service should look like, and the diffs (pure).

:func:`build` turns a :class:`DesiredLoadBalancer` and its :class:`Options`
into an :class:`NlbSpec` (NLB, listeners, target groups with their exact
``(id, port)`` targets, the NLB security group's rules and the backend rules
the nodes' security groups need).  The ``*_diff`` / ``*_update`` functions
compare a spec with what was read back and say which calls are needed; the
``*_of`` functions read AWS's reply shapes and the ``*_permissions``
functions write its request shapes.  :func:`diff` puts them together: from a
spec and the :class:`Remote` state the provider read, the ordered
:class:`Step` list that ``ensure`` applies and ``plan`` reports (one
computation, so the two cannot disagree).  No SDK, no api: testable on its own.

Backend rules: once an NLB has a security group, AWS delivers its traffic
(and health checks) to instance targets only if the instances' own security
groups allow that group.  Like the AWS Load Balancer Controller's shared
backend security group, every NLB of a cluster also carries one shared group
(:func:`lbprovider_aws.naming.backend_group_name`), and the target instances'
groups allow it on the nodePort range (one rule per protocol) and on the
health-check ports outside it, described ``lbprovider:<cluster>/backend``: a
handful of rules per node group whatever the number of Services, where one
rule per nodePort hit the 60-rules-per-group quota at about 60 Services.  The
rules are shared, so ``ensure`` only adds; they go with the cluster's last NLB.
Rules an earlier version added per Service (sourced from the NLB's own group,
described ``lbprovider:<cluster>/<uid>``) are revoked where they are found.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from lbprovider.cloud import InvalidService
from lbprovider.cloud.types import (
    BackendMode,
    ChangeAction,
    DesiredLoadBalancer,
    Listener,
    NodeTarget,
    PlannedChange,
    PortStatus,
    Protocol,
)
from lbprovider.providerkit.healthchecks import HEALTHZ_PATH, KUBE_PROXY, KUBE_PROXY_HEALTH_PORT
from lbprovider_aws import naming
from lbprovider_aws.options import HC_PATH, INTERNAL, SCHEME, SUBNETS, TRAFFIC_PORT, Options

PROVIDER_ID_PREFIX = "aws://"
ANYWHERE_V4 = "0.0.0.0/0"
DEFAULT_AFFINITY_TIMEOUT = 10800  # Kubernetes' default; anything else cannot be honoured

Target = tuple[str, int]
"""``(Id, Port)``: an instance id or IP and the port traffic goes to."""

Rule = tuple[str, int, str]
"""``(ip protocol, port, cidr)``: one ingress rule of the NLB's security group."""

PortRange = tuple[str, int, int]
"""``(ip protocol, from port, to port)`` of one ingress permission."""


HEALTHY_CODES = "200-299"
"""Matcher of every HTTP(S) check: kube-proxy answers 503 where a node must get no traffic,
and NLB's default (200-399) would still count redirects as healthy."""
HEALTHZ = HEALTHZ_PATH


@dataclass(frozen=True, slots=True, kw_only=True)
class Defaults:
    """The class settings the model needs (:class:`lbprovider_aws.settings.Settings`)."""

    kube_proxy_health_port: int = KUBE_PROXY_HEALTH_PORT
    cluster_health_check: str = KUBE_PROXY
    """``kube-proxy`` or ``traffic-port`` (externalTrafficPolicy Cluster)."""
    node_ports: tuple[int, int] = (30000, 32767)
    """The cluster's nodePort range (node security groups allow it as one rule)."""


@dataclass(frozen=True, slots=True, kw_only=True)
class HealthSpec:
    """A target group health check; None fields are left at AWS's defaults."""

    protocol: str
    port: str
    path: str | None = None
    matcher: str | None = None
    """``Matcher.HttpCode`` (HTTP and HTTPS checks only)."""
    interval: int | None = None
    timeout: int | None = None
    healthy_threshold: int | None = None
    unhealthy_threshold: int | None = None

    def params(self) -> dict[str, Any]:
        """The HealthCheck* request parameters of Create/ModifyTargetGroup."""
        params: dict[str, Any] = {
            "HealthCheckProtocol": self.protocol,
            "HealthCheckPort": self.port,
        }
        if self.path is not None:
            params["HealthCheckPath"] = self.path
        if self.matcher is not None:
            params["Matcher"] = {"HttpCode": self.matcher}
        numbers = {
            "HealthCheckIntervalSeconds": self.interval,
            "HealthCheckTimeoutSeconds": self.timeout,
            "HealthyThresholdCount": self.healthy_threshold,
            "UnhealthyThresholdCount": self.unhealthy_threshold,
        }
        params.update({key: value for key, value in numbers.items() if value is not None})
        return params


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
    backend_rules: frozenset[PortRange]
    """What the target instances' security groups must allow from the shared backend group
    (empty for IP targets: the Pods' groups are not known here)."""
    instance_ids: frozenset[str]
    """Every instance target (their security groups get ``backend_rules``)."""
    ports: tuple[PortStatus, ...]
    warnings: tuple[str, ...]


@dataclass(frozen=True, slots=True, kw_only=True)
class GroupRules:
    """The ingress rules of one node security group whose source is the NLB's group."""

    present: frozenset[PortRange]
    """Every rule from the NLB's group, whoever added it."""
    ours: frozenset[PortRange]
    """The subset carrying our marker (the only ones ever revoked)."""


@dataclass(frozen=True, slots=True, kw_only=True)
class ListenerChanges:
    """What :func:`listener_diff` decided: listeners to delete, then to create."""

    delete: tuple[str, ...]
    """Listener ARNs."""
    create: tuple[ListenerSpec, ...]


# -- building the spec -----------------------------------------------------------------


def instance_id(provider_id: str) -> str | None:
    """``aws:///us-east-1a/i-0abc`` -> ``i-0abc``; None when it is not an AWS instance id."""
    if not provider_id.startswith(PROVIDER_ID_PREFIX):
        return None
    last = provider_id.rstrip("/").rsplit("/", 1)[-1]
    return last if last.startswith("i-") and len(last) > 2 else None


def subnets_for(options: Options, default: tuple[str, ...]) -> tuple[str, ...]:
    """The NLB's subnets: the annotation's, else the class settings'."""
    subnets = options.subnets or default
    if not subnets:
        raise InvalidService(
            f"no subnets for the NLB: set the class setting 'subnets' or the annotation {SUBNETS}"
        )
    return subnets


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


def _base_health(desired: DesiredLoadBalancer, defaults: Defaults) -> HealthSpec:
    check = desired.health_check
    if desired.backend_mode is BackendMode.POD_IP:
        # IP targets are the Pods themselves: no node-level health port exists there.  A UDP
        # group gets the same TCP check (AWS cannot check UDP): see docs/annotations.md.
        return HealthSpec(protocol="TCP", port=TRAFFIC_PORT)
    if check is not None:
        # externalTrafficPolicy Local: kube-proxy answers 200 on healthCheckNodePort only on
        # nodes with a local endpoint (503 elsewhere).
        return HealthSpec(
            protocol=check.protocol.upper(),
            port=str(check.port),
            path=check.path,
            matcher=HEALTHY_CODES,
        )
    if defaults.cluster_health_check == KUBE_PROXY:
        # Cluster: kube-proxy's node health (KEP-3836), 503 while the node drains; it
        # answers on TCP whatever the Service's protocols, so UDP groups are checked too.
        return HealthSpec(
            protocol="HTTP",
            port=str(defaults.kube_proxy_health_port),
            path=HEALTHZ,
            matcher=HEALTHY_CODES,
        )
    return HealthSpec(protocol="TCP", port=TRAFFIC_PORT)


def _health(desired: DesiredLoadBalancer, options: Options, defaults: Defaults) -> HealthSpec:
    """The policy's check with the Service's health-check annotations on top."""
    base = _base_health(desired, defaults)
    override = options.health
    protocol = override.protocol or base.protocol
    http = protocol in ("HTTP", "HTTPS")
    if override.path is not None and not http:
        raise InvalidService(
            f"annotation {HC_PATH} needs an HTTP or HTTPS health check (protocol is {protocol})"
        )
    return HealthSpec(
        protocol=protocol,
        port=override.port or base.port,
        path=(override.path or base.path or "/") if http else None,
        matcher=HEALTHY_CODES if http else None,
        interval=override.interval,
        timeout=override.timeout,
        healthy_threshold=override.healthy_threshold,
        unhealthy_threshold=override.unhealthy_threshold,
    )


def _protocols(protocol: str) -> tuple[str, ...]:
    """IP protocols of a listener or group protocol (``TCP_UDP`` is both)."""
    return ("tcp", "udp") if protocol == "TCP_UDP" else (protocol.lower(),)


def _rules(listeners: Iterable[ListenerSpec], source_ranges: tuple[str, ...]) -> frozenset[Rule]:
    cidrs: list[str] = []
    for cidr in source_ranges or (ANYWHERE_V4,):
        try:
            cidrs.append(str(ipaddress.ip_network(cidr.strip(), strict=False)))
        except ValueError:
            raise InvalidService(f"loadBalancerSourceRanges: {cidr!r} is not a CIDR") from None
    rules: set[Rule] = set()
    for listener in listeners:
        for proto in _protocols(listener.protocol):
            rules.update((proto, listener.port, cidr) for cidr in cidrs)
    return frozenset(rules)


def _backend_rules(
    groups: Iterable[TargetGroupSpec], node_ports: tuple[int, int]
) -> frozenset[PortRange]:
    """Traffic and health checks reach instance targets from the shared backend group: the
    whole nodePort range per protocol (one rule, shared by every Service), single ports only
    where a port lies outside it (kube-proxy's health port)."""
    low, high = node_ports

    def covering(proto: str, port: int) -> PortRange:
        return (proto, low, high) if low <= port <= high else (proto, port, port)

    rules: set[PortRange] = set()
    for group in groups:
        if group.target_type != "instance":
            continue
        rules.update(covering(proto, group.port) for proto in _protocols(group.protocol))
        # Health checks are TCP/HTTP(S) even for UDP groups.
        health_port = group.port if group.health.port == TRAFFIC_PORT else int(group.health.port)
        rules.add(covering("tcp", health_port))
    return frozenset(rules)


def _requested_ip(desired: DesiredLoadBalancer, scheme: str) -> tuple[str | None, list[str]]:
    raw = desired.requested_ip
    if not raw:
        return None, []
    if scheme != INTERNAL:
        return None, [
            f"loadBalancerIP {raw} ignored: an internet-facing NLB gets its addresses from AWS "
            f"(set {SCHEME}: internal to pin a private IP)"
        ]
    try:
        address = ipaddress.IPv4Address(raw)
    except ValueError:
        raise InvalidService(f"loadBalancerIP {raw!r} is not an IPv4 address") from None
    return str(address), []


def build(
    desired: DesiredLoadBalancer,
    *,
    options: Options,
    subnets: tuple[str, ...],
    defaults: Defaults = Defaults(),
) -> NlbSpec:
    """The NLB, listeners, target groups and rules ``desired`` asks for."""
    ref = desired.ref
    by_port: dict[int, list[Listener]] = {}
    for listener in desired.listeners:
        by_port.setdefault(listener.port, []).append(listener)
    nodes = desired.nodes_of(PROVIDER_ID_PREFIX)
    target_type = "ip" if desired.backend_mode is BackendMode.POD_IP else "instance"
    health = _health(desired, options, defaults)
    listeners: list[ListenerSpec] = []
    groups: list[TargetGroupSpec] = []
    for port in sorted(by_port):
        protocol, listener = _combine(port, by_port[port], desired.backend_mode)
        targets = _targets(listener, desired.backend_mode, nodes)
        name = naming.target_group_name(ref, port=port, protocol=protocol, target_type=target_type)
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
    requested_ip, warnings = _requested_ip(desired, options.scheme)
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
        name=naming.load_balancer_name(ref),
        scheme=options.scheme,
        subnets=subnets,
        requested_ip=requested_ip,
        listeners=tuple(listeners),
        target_groups=tuple(groups),
        rules=_rules(listeners, desired.source_ranges),
        backend_rules=_backend_rules(groups, defaults.node_ports),
        instance_ids=frozenset(
            target_id
            for group in groups
            if group.target_type == "instance"
            for target_id, _ in group.targets
        ),
        ports=ports,
        warnings=tuple(warnings),
    )


# -- diffs against what was read -------------------------------------------------------


def target_diff(
    want: frozenset[Target], have: Iterable[Target]
) -> tuple[list[Target], list[Target]]:
    """``(register, deregister)``, exact on ``(id, port)``: one IP on two ports is two targets."""
    current = set(have)
    return sorted(want - current), sorted(current - want)


def rule_diff(want: frozenset[Rule], have: Iterable[Rule]) -> tuple[list[Rule], list[Rule]]:
    """``(authorize, revoke)`` for the NLB security group's ingress rules."""
    current = set(have)
    return sorted(want - current), sorted(current - want)


def backend_diff(
    want: frozenset[PortRange], have: GroupRules
) -> tuple[list[PortRange], list[PortRange]]:
    """``(authorize, revoke)`` for one node security group.

    A wanted rule someone else already added is left alone (AWS keeps one rule
    per protocol, ports and source, whatever its description); only rules with
    our marker are revoked.
    """
    return sorted(want - have.present), sorted(have.ours - want)


def compatible(lb: Mapping[str, Any], lb_tags: Mapping[str, str], spec: NlbSpec) -> bool:
    """False when the NLB must be replaced: scheme and pinned IPs cannot change in place."""
    if lb.get("Scheme") != spec.scheme:
        return False
    pinned = lb_tags.get(naming.REQUESTED_IP_TAG) or None
    return pinned == spec.requested_ip


def forward_arn(listener: Mapping[str, Any]) -> str | None:
    """The target group a listener forwards to, if it forwards to exactly one."""
    for action in listener.get("DefaultActions", []):
        if action.get("Type") == "forward":
            arn = action.get("TargetGroupArn")
            if arn:
                return str(arn)
            groups = action.get("ForwardConfig", {}).get("TargetGroups", [])
            if len(groups) == 1:
                return str(groups[0]["TargetGroupArn"])
    return None


def listener_diff(
    have: Iterable[Mapping[str, Any]], spec: NlbSpec, arns: Mapping[str, str]
) -> ListenerChanges:
    """Listeners to delete and create; a protocol or target group change is a replacement
    (ModifyListener cannot change the protocol), a duplicate port is deleted.  A group
    missing from ``arns`` is still to be created: no listener forwards to it yet."""
    wanted = {listener.port: listener for listener in spec.listeners}
    kept: set[int] = set()
    delete: list[str] = []
    for listener in have:
        port = int(listener["Port"])
        want = wanted.get(port)
        if (
            want is not None
            and port not in kept
            and listener.get("Protocol") == want.protocol
            and forward_arn(listener) == arns.get(want.target_group)
        ):
            kept.add(port)
            continue
        delete.append(str(listener["ListenerArn"]))
    create = tuple(want for port, want in sorted(wanted.items()) if port not in kept)
    return ListenerChanges(delete=tuple(delete), create=create)


def health_update(group: TargetGroupSpec, found: Mapping[str, Any]) -> dict[str, Any] | None:
    """ModifyTargetGroup parameters (without the ARN) when the health check differs; fields
    left at AWS's defaults (None) are not compared."""
    health = group.health
    have = {
        "HealthCheckProtocol": found.get("HealthCheckProtocol"),
        "HealthCheckPort": str(found.get("HealthCheckPort")),
        "HealthCheckPath": found.get("HealthCheckPath"),
        "Matcher": {"HttpCode": (found.get("Matcher") or {}).get("HttpCode")},
        "HealthCheckIntervalSeconds": found.get("HealthCheckIntervalSeconds"),
        "HealthCheckTimeoutSeconds": found.get("HealthCheckTimeoutSeconds"),
        "HealthyThresholdCount": found.get("HealthyThresholdCount"),
        "UnhealthyThresholdCount": found.get("UnhealthyThresholdCount"),
    }
    params = health.params()
    if all(have[key] == value for key, value in params.items()):
        return None
    return params


def stickiness_update(
    group: TargetGroupSpec, attributes: Iterable[Mapping[str, Any]]
) -> list[dict[str, str]] | None:
    """ModifyTargetGroupAttributes ``Attributes`` when stickiness differs, else None."""
    values = {item["Key"]: item["Value"] for item in attributes}
    enabled = str(values.get("stickiness.enabled", "false")).lower() == "true"
    kind = values.get("stickiness.type")
    if enabled == group.sticky and (not group.sticky or kind == "source_ip"):
        return None
    wanted = [{"Key": "stickiness.enabled", "Value": "true" if group.sticky else "false"}]
    if group.sticky:
        wanted.append({"Key": "stickiness.type", "Value": "source_ip"})
    return wanted


# -- AWS shapes: reading replies, writing requests -------------------------------------


def targets_of(descriptions: Iterable[Mapping[str, Any]]) -> set[Target]:
    """Registered targets from DescribeTargetHealth (draining ones are on their way out)."""
    found: set[Target] = set()
    for item in descriptions:
        if item.get("TargetHealth", {}).get("State") == "draining":
            continue
        target = item["Target"]
        found.add((str(target["Id"]), int(target["Port"])))
    return found


def target_list(targets: Iterable[Target]) -> list[dict[str, Any]]:
    """``Targets`` of Register/DeregisterTargets."""
    return [{"Id": target_id, "Port": port} for target_id, port in targets]


def port_statuses(listeners: Iterable[tuple[int, str]]) -> tuple[PortStatus, ...]:
    """PortStatus entries for listeners read back (``TCP_UDP`` reports both protocols)."""
    result: list[PortStatus] = []
    for port, protocol in listeners:
        protocols = ("TCP", "UDP") if protocol == "TCP_UDP" else (protocol,)
        for item in protocols:
            if item in Protocol.__members__:
                result.append(PortStatus(port=port, protocol=Protocol(item)))
    return tuple(sorted(result, key=lambda status: (status.port, status.protocol)))


def cidr_rules_of(group: Mapping[str, Any]) -> set[Rule]:
    """The CIDR ingress rules of a security group read back."""
    rules: set[Rule] = set()
    for perm in group.get("IpPermissions", []):
        proto = str(perm.get("IpProtocol", "")).lower()
        port = int(perm.get("FromPort", -1))
        for item in perm.get("IpRanges", []):
            rules.add((proto, port, str(item["CidrIp"])))
        for item in perm.get("Ipv6Ranges", []):
            rules.add((proto, port, str(item["CidrIpv6"])))
    return rules


def cidr_permissions(rules: Iterable[Rule]) -> list[dict[str, Any]]:
    """IpPermissions for Authorize/RevokeSecurityGroupIngress, one entry per (proto, port)."""
    grouped: dict[tuple[str, int], list[str]] = {}
    for proto, port, cidr in rules:
        grouped.setdefault((proto, port), []).append(cidr)
    permissions = []
    for (proto, port), cidrs in sorted(grouped.items()):
        v4 = [{"CidrIp": c} for c in sorted(cidrs) if ":" not in c]
        v6 = [{"CidrIpv6": c} for c in sorted(cidrs) if ":" in c]
        entry: dict[str, Any] = {"IpProtocol": proto, "FromPort": port, "ToPort": port}
        if v4:
            entry["IpRanges"] = v4
        if v6:
            entry["Ipv6Ranges"] = v6
        permissions.append(entry)
    return permissions


def backend_rules_of(group: Mapping[str, Any], *, source: str, mark: str) -> GroupRules:
    """The rules of a node security group whose source is the security group ``source``."""
    present: set[PortRange] = set()
    ours: set[PortRange] = set()
    for perm in group.get("IpPermissions", []):
        key = (
            str(perm.get("IpProtocol", "")).lower(),
            int(perm.get("FromPort", -1)),
            int(perm.get("ToPort", -1)),
        )
        for pair in perm.get("UserIdGroupPairs", []):
            if pair.get("GroupId") != source:
                continue
            present.add(key)
            if pair.get("Description") == mark:
                ours.add(key)
    return GroupRules(present=frozenset(present), ours=frozenset(ours))


def backend_permissions(
    rules: Iterable[PortRange], *, source: str, mark: str
) -> list[dict[str, Any]]:
    """IpPermissions allowing ``source`` on each port range, described with ``mark``."""
    return [
        {
            "IpProtocol": proto,
            "FromPort": low,
            "ToPort": high,
            "UserIdGroupPairs": [{"GroupId": source, "Description": mark}],
        }
        for proto, low, high in rules
    ]


def running_of(reservations: Iterable[Mapping[str, Any]]) -> frozenset[str]:
    """The instances of a DescribeInstances reply in the running state (RegisterTargets:
    "If the target is an EC2 instance, it must be in the running state")."""
    return frozenset(
        str(instance["InstanceId"])
        for reservation in reservations
        for instance in reservation.get("Instances", [])
        if instance.get("State", {}).get("Name") == "running"
    )


def instance_groups_of(reservations: Iterable[Mapping[str, Any]]) -> dict[str, tuple[str, ...]]:
    """Security groups of each instance's primary network interface, from DescribeInstances
    (terminated instances are listed for a while; they take no traffic)."""
    found: dict[str, tuple[str, ...]] = {}
    for reservation in reservations:
        for instance in reservation.get("Instances", []):
            if instance.get("State", {}).get("Name") == "terminated":
                continue
            groups = instance.get("SecurityGroups", [])
            for eni in instance.get("NetworkInterfaces", []):
                if eni.get("Attachment", {}).get("DeviceIndex") == 0:
                    groups = eni.get("Groups", groups)
            found[str(instance["InstanceId"])] = tuple(
                sorted(str(group["GroupId"]) for group in groups)
            )
    return found


# -- the change list: what ensure applies and plan reports ------------------------------
#
# The provider reads the cloud once into a Remote, :func:`diff` turns it and the spec
# into Steps, ensure applies them in order and plan returns their PlannedChanges: the
# two cannot disagree.  Objects not created yet are referred to by their spec name
# (target groups) or implicitly (the NLB and its security group): the applier resolves
# them as it creates them.


@dataclass(frozen=True, slots=True, kw_only=True)
class Remote:
    """What the provider read for one Service, in AWS's reply shapes."""

    lb: Mapping[str, Any] | None
    """Our NLB (DescribeLoadBalancers entry), or None."""
    lb_tags: Mapping[str, str]
    listeners: tuple[Mapping[str, Any], ...]
    """The NLB's listeners (DescribeListeners)."""
    groups: Mapping[str, Mapping[str, Any]]
    """Our target groups attached to the NLB, by name (DescribeTargetGroups entries)."""
    attributes: Mapping[str, tuple[Mapping[str, Any], ...]]
    """Attributes of the attached groups the spec wants, by name."""
    targets: Mapping[str, frozenset[Target]]
    """Registered targets of the attached groups the spec wants, by name."""
    security_group: Mapping[str, Any] | None
    """The NLB's security group (DescribeSecurityGroups entry), or None."""
    instance_groups: Mapping[str, tuple[str, ...]]
    """Security groups of each target instance (read only when backend rules are wanted)."""
    node_groups: Mapping[str, Mapping[str, Any]]
    """The target instances' security groups (DescribeSecurityGroups entries, by id)."""
    backend_group: Mapping[str, Any] | None = None
    """The cluster's shared backend security group, or None (not created yet)."""
    running: frozenset[str] | None = None
    """The target instances in the running state (None: not read, register every one)."""
    vpc_id: str = ""
    subnet_cidrs: Mapping[str, str] | None = None
    """CIDR of each NLB subnet, read only when a private IP must be pinned."""
    subnet_zones: Mapping[str, str] | None = None
    """Availability Zone of each wanted subnet, read only when the NLB's subnets change."""


@dataclass(frozen=True, slots=True, kw_only=True)
class CreateSecurityGroup:
    """CreateSecurityGroup for the NLB (in ``Remote.vpc_id``)."""


@dataclass(frozen=True, slots=True, kw_only=True)
class ChangeCidrRules:
    """Authorize (``add``) or revoke CIDR ingress rules on the NLB's security group."""

    add: bool
    rules: tuple[Rule, ...]


@dataclass(frozen=True, slots=True, kw_only=True)
class CreateBackendGroup:
    """CreateSecurityGroup for the cluster's shared backend group (in ``Remote.vpc_id``)."""


@dataclass(frozen=True, slots=True, kw_only=True)
class ChangeBackendRules:
    """Authorize (``add``) or revoke rules on a node group, sourced from the shared backend
    group (``shared``) or from the NLB's own group (rules of earlier versions)."""

    add: bool
    group_id: str
    ranges: tuple[PortRange, ...]
    shared: bool = False


@dataclass(frozen=True, slots=True, kw_only=True)
class DeleteLoadBalancer:
    """DeleteLoadBalancer (its listeners go with it; target groups stay)."""

    arn: str


@dataclass(frozen=True, slots=True, kw_only=True)
class CreateTargetGroup:
    """CreateTargetGroup for ``group``."""

    group: TargetGroupSpec


@dataclass(frozen=True, slots=True, kw_only=True)
class ModifyHealth:
    """ModifyTargetGroup ``params`` on the group named ``group``."""

    group: str
    params: Mapping[str, Any]


@dataclass(frozen=True, slots=True, kw_only=True)
class ModifyAttributes:
    """ModifyTargetGroupAttributes on the group named ``group``."""

    group: str
    attributes: tuple[Mapping[str, str], ...]


@dataclass(frozen=True, slots=True, kw_only=True)
class ChangeTargets:
    """Register (``add``) or deregister ``targets`` on the group named ``group``."""

    add: bool
    group: str
    targets: tuple[Target, ...]


@dataclass(frozen=True, slots=True, kw_only=True)
class CreateLoadBalancer:
    """CreateLoadBalancer with the NLB's security group and these subnet mappings."""

    mappings: tuple[Mapping[str, str], ...]


@dataclass(frozen=True, slots=True, kw_only=True)
class SetSubnets:
    """SetSubnets on the existing NLB; ``partial``: a first step that removes the subnets of
    zones whose subnet changes (the new ones follow on the next sync)."""

    mappings: tuple[Mapping[str, str], ...]
    partial: bool = False


@dataclass(frozen=True, slots=True, kw_only=True)
class SetSecurityGroups:
    """SetSecurityGroups on the existing NLB: exactly its own security group."""


@dataclass(frozen=True, slots=True, kw_only=True)
class DeleteListener:
    """DeleteListener."""

    arn: str


@dataclass(frozen=True, slots=True, kw_only=True)
class CreateListener:
    """CreateListener forwarding to the group named ``listener.target_group``."""

    listener: ListenerSpec


@dataclass(frozen=True, slots=True, kw_only=True)
class DeleteTargetGroup:
    """DeleteTargetGroup (a group the spec no longer has)."""

    arn: str


Op = (
    CreateSecurityGroup
    | CreateBackendGroup
    | ChangeCidrRules
    | ChangeBackendRules
    | DeleteLoadBalancer
    | CreateTargetGroup
    | ModifyHealth
    | ModifyAttributes
    | ChangeTargets
    | CreateLoadBalancer
    | SetSubnets
    | SetSecurityGroups
    | DeleteListener
    | CreateListener
    | DeleteTargetGroup
)


@dataclass(frozen=True, slots=True, kw_only=True)
class Step:
    """One write (or one batched write) and the changes it makes, as plan reports them."""

    op: Op
    changes: tuple[PlannedChange, ...]


SUMMARY_ITEMS = 4
"""Items a change's before/after lists before "(+N more)": the text stays short."""


def _summary(items: Iterable[str]) -> str:
    ordered = sorted(items)
    text = ", ".join(ordered[:SUMMARY_ITEMS])
    if len(ordered) > SUMMARY_ITEMS:
        text += f" (+{len(ordered) - SUMMARY_ITEMS} more)"
    return text


def _create(kind: str, name: str, after: str) -> PlannedChange:
    return PlannedChange(action=ChangeAction.CREATE, kind=kind, name=name, after=after)


def _delete(kind: str, name: str, before: str) -> PlannedChange:
    return PlannedChange(action=ChangeAction.DELETE, kind=kind, name=name, before=before)


def _update(kind: str, name: str, before: str, after: str) -> PlannedChange:
    return PlannedChange(
        action=ChangeAction.UPDATE, kind=kind, name=name, before=before, after=after
    )


def health_text(protocol: str, port: str, path: str | None) -> str:
    """``HTTP:10256/healthz``, ``TCP:traffic-port``: a health check in one word."""
    text = f"{protocol}:{port}"
    return text + (path or "") if protocol.upper().startswith("HTTP") else text


def _group_text(name: str, protocol: str, port: int, target_type: str) -> str:
    return f"{name} ({protocol}:{port}, {target_type} targets)"


def _lb_text(scheme: str, requested_ip: str | None, subnets: Iterable[str]) -> str:
    pinned = f" at {requested_ip}" if requested_ip else ""
    return f"{scheme}{pinned} in {', '.join(sorted(subnets))}"


def needs_subnet_cidrs(
    spec: NlbSpec, lb: Mapping[str, Any] | None, lb_tags: Mapping[str, str]
) -> bool:
    """True when the diff will write subnet mappings that pin a private IP (then the
    subnets' CIDRs must be read to place it)."""
    if spec.requested_ip is None:
        return False
    if lb is None or not compatible(lb, lb_tags, spec):
        return True
    return _lb_subnets(lb) != set(spec.subnets)


def _subnet_step(spec: NlbSpec, lb: Mapping[str, Any], remote: Remote) -> Step:
    """SetSubnets to ``spec.subnets``; or, when a zone's subnet changes, first without that
    zone: NLB guide, "Changes to subnets within the same Availability Zone must be independent
    actions. You must first complete the removal of the existing subnet, and then you can add
    the new subnet" (removal takes up to 3 minutes)."""
    zones = remote.subnet_zones or {}
    current = {
        str(zone["ZoneName"]): str(zone["SubnetId"]) for zone in lb.get("AvailabilityZones", [])
    }
    swapped = {
        zones[subnet]
        for subnet in spec.subnets
        if subnet in zones and current.get(zones[subnet], subnet) != subnet
    }
    before = f"subnets {', '.join(sorted(_lb_subnets(lb)))}"
    if not swapped:
        return Step(
            op=SetSubnets(mappings=subnet_mappings(spec, remote.subnet_cidrs)),
            changes=(
                _update(
                    "load balancer", spec.name, before, f"subnets {', '.join(sorted(spec.subnets))}"
                ),
            ),
        )
    keep = tuple(subnet for subnet in spec.subnets if zones.get(subnet) not in swapped)
    if not keep:
        raise InvalidService(
            f"the NLB's subnet changes in every zone it uses ({', '.join(sorted(swapped))}): AWS "
            "changes a zone's subnet only by removing the old one first, and an NLB keeps one "
            "zone at least; add a subnet of another zone first, or recreate the Service"
        )
    mappings = [{"SubnetId": subnet} for subnet in keep]
    address = ipaddress.IPv4Address(spec.requested_ip) if spec.requested_ip else None
    for mapping in mappings:
        cidr = (remote.subnet_cidrs or {}).get(mapping["SubnetId"])
        if address is not None and cidr is not None and address in ipaddress.ip_network(cidr):
            mapping["PrivateIPv4Address"] = str(address)
    return Step(
        op=SetSubnets(mappings=tuple(mappings), partial=True),
        changes=(
            _update(
                "load balancer",
                spec.name,
                before,
                f"subnets {', '.join(sorted(keep))} (removing the old subnet of "
                f"{', '.join(sorted(swapped))} first; the new one follows on the next sync)",
            ),
        ),
    )


def _lb_subnets(lb: Mapping[str, Any]) -> set[str]:
    return {str(zone["SubnetId"]) for zone in lb.get("AvailabilityZones", [])}


def subnet_mappings(
    spec: NlbSpec, cidrs: Mapping[str, str] | None
) -> tuple[Mapping[str, str], ...]:
    """``SubnetMappings``: the requested private IP goes to the subnet that holds it."""
    mappings = [{"SubnetId": subnet} for subnet in spec.subnets]
    if spec.requested_ip is None:
        return tuple(mappings)
    address = ipaddress.IPv4Address(spec.requested_ip)
    for mapping in mappings:
        cidr = (cidrs or {}).get(mapping["SubnetId"])
        if cidr is not None and address in ipaddress.ip_network(cidr):
            mapping["PrivateIPv4Address"] = spec.requested_ip
            return tuple(mappings)
    raise InvalidService(
        f"loadBalancerIP {spec.requested_ip} is in none of the NLB subnets "
        f"({', '.join(spec.subnets)})"
    )


def _group_label(name: str, description: Mapping[str, Any]) -> str:
    """``TCP:80`` (the listener's protocol and port) for a group read back."""
    port = naming.listener_port_of(name)
    protocol = str(description.get("Protocol", ""))
    return f"{protocol}:{port}" if port is not None else name


def backend_steps(
    *,
    mark: str,
    source: str | None,
    want: frozenset[PortRange],
    instance_groups: Mapping[str, tuple[str, ...]],
    node_groups: Mapping[str, Mapping[str, Any]],
    shared: bool = False,
) -> list[Step]:
    """Revokes and authorizations on node groups so that exactly the groups of the target
    instances allow ``want`` from ``source`` (None while it does not exist, when no group can
    hold a rule from it yet).  ``shared``: the cluster's backend group, whose rules other
    Services need too, so nothing is revoked."""
    wanted: dict[str, frozenset[PortRange]] = {}
    for groups in instance_groups.values():
        for group_id in groups:
            wanted[group_id] = want
    origin = source or ("the backend security group" if shared else "the NLB security group")
    steps: list[Step] = []
    for group_id in sorted(set(node_groups) | set(wanted)):
        group = node_groups.get(group_id)
        if group is None and source is not None:
            continue  # went away between the two reads
        have = (
            backend_rules_of(group, source=source, mark=mark)
            if group is not None and source is not None
            else GroupRules(present=frozenset(), ours=frozenset())
        )
        authorize, revoke = backend_diff(wanted.get(group_id, frozenset()), have)
        if shared:
            revoke = []

        def rule_name(proto: str, low: int, high: int, group_id: str = group_id) -> str:
            ports = str(low) if low == high else f"{low}-{high}"
            return f"{group_id} {proto.upper()}:{ports}"

        if revoke:
            steps.append(
                Step(
                    op=ChangeBackendRules(
                        add=False, group_id=group_id, ranges=tuple(revoke), shared=shared
                    ),
                    changes=tuple(
                        _delete("security group rule", rule_name(*item), f"from {origin}")
                        for item in revoke
                    ),
                )
            )
        if authorize:
            steps.append(
                Step(
                    op=ChangeBackendRules(
                        add=True, group_id=group_id, ranges=tuple(authorize), shared=shared
                    ),
                    changes=tuple(
                        _create("security group rule", rule_name(*item), f"from {origin}")
                        for item in authorize
                    ),
                )
            )
    return steps


def _target_steps(
    label: str,
    group: TargetGroupSpec,
    have: Iterable[Target],
    running: frozenset[str] | None = None,
) -> list[Step]:
    """Register and deregister; an instance that is not running is not registered (AWS
    refuses the whole call), and left registered if it already is (AWS marks it unused)."""
    register, deregister = target_diff(group.targets, have)
    if running is not None and group.target_type == "instance":
        register = [target for target in register if target[0] in running]
    steps: list[Step] = []
    if register:
        steps.append(
            Step(
                op=ChangeTargets(add=True, group=group.name, targets=tuple(register)),
                changes=(_create("targets", label, _summary(f"{i}:{p}" for i, p in register)),),
            )
        )
    if deregister:
        steps.append(
            Step(
                op=ChangeTargets(add=False, group=group.name, targets=tuple(deregister)),
                changes=(_delete("targets", label, _summary(f"{i}:{p}" for i, p in deregister)),),
            )
        )
    return steps


def group_steps(
    label: str,
    group: TargetGroupSpec,
    found: Mapping[str, Any] | None,
    attributes: Iterable[Mapping[str, Any]],
    targets: Iterable[Target],
    *,
    running: frozenset[str] | None = None,
) -> list[Step]:
    """The writes that make one target group match ``group``: create it (``found`` None),
    its health check, stickiness and targets."""
    steps: list[Step] = []
    if found is None:
        steps.append(
            Step(
                op=CreateTargetGroup(group=group),
                changes=(
                    _create(
                        "target group",
                        label,
                        _group_text(group.name, group.protocol, group.port, group.target_type),
                    ),
                ),
            )
        )
        attributes, targets = (), ()
    else:
        health = health_update(group, found)
        if health is not None:
            before = health_text(
                str(found.get("HealthCheckProtocol", "")),
                str(found.get("HealthCheckPort", "")),
                found.get("HealthCheckPath"),
            )
            after = health_text(group.health.protocol, group.health.port, group.health.path)
            steps.append(
                Step(
                    op=ModifyHealth(group=group.name, params=health),
                    changes=(_update("health check", label, before, after),),
                )
            )
    attributes = tuple(attributes)
    sticky = stickiness_update(group, attributes)
    if sticky is not None:
        current = {item["Key"]: item["Value"] for item in attributes}
        before = ", ".join(
            f"{item['Key']}={current.get(item['Key'], '')}"
            for item in sticky
            if item["Key"] in current
        )
        after = ", ".join(f"{item['Key']}={item['Value']}" for item in sticky)
        steps.append(
            Step(
                op=ModifyAttributes(group=group.name, attributes=tuple(sticky)),
                changes=(_update("attribute", label, before, after),),
            )
        )
    steps += _target_steps(label, group, targets, running)
    return steps


def _security_group_steps(spec: NlbSpec, remote: Remote) -> list[Step]:
    """Create the NLB's own group and the shared backend group if missing, and bring the
    own group's CIDR rules (``loadBalancerSourceRanges``) in line."""
    steps: list[Step] = []
    shared = str(remote.backend_group["GroupId"]) if remote.backend_group else None
    if remote.security_group is None:
        steps.append(
            Step(
                op=CreateSecurityGroup(),
                changes=(_create("security group", spec.name, f"for the NLB in {remote.vpc_id}"),),
            )
        )
    if shared is None:
        steps.append(
            Step(
                op=CreateBackendGroup(),
                changes=(
                    _create(
                        "security group",
                        "backend",
                        f"shared by the cluster's NLBs in {remote.vpc_id}",
                    ),
                ),
            )
        )
    have_rules = cidr_rules_of(remote.security_group) if remote.security_group else set()
    authorize, revoke = rule_diff(spec.rules, have_rules)
    for add, rules, change in ((False, revoke, _delete), (True, authorize, _create)):
        if rules:
            steps.append(
                Step(
                    op=ChangeCidrRules(add=add, rules=tuple(rules)),
                    changes=tuple(
                        change("security group rule", f"{proto.upper()}:{port}", cidr)
                        for proto, port, cidr in rules
                    ),
                )
            )
    return steps


def diff(
    spec: NlbSpec,
    remote: Remote,
    *,
    mark: str,
    backend_mark: str = "",
    backends_only: bool = False,
) -> tuple[Step, ...]:
    """Every write that makes the cloud match ``spec``, in the order they must be made;
    empty when it matches.  ``backends_only``: target registrations and node rules only
    (for groups that exist on an existing NLB), what ``update_backends`` may change."""
    labels = {item.target_group: f"{item.protocol}:{item.port}" for item in spec.listeners}
    lb = remote.lb
    source = str(remote.security_group["GroupId"]) if remote.security_group else None
    shared = str(remote.backend_group["GroupId"]) if remote.backend_group else None
    # Rules an earlier version added per Service, from the NLB's own group: revoked, but only
    # once the NLB carries the shared group (last, in a full diff), so traffic never stops.
    legacy = (
        backend_steps(
            mark=mark,
            source=source,
            want=frozenset(),
            instance_groups={},
            node_groups=remote.node_groups,
        )
        if source is not None
        else []
    )
    backend: list[Step] = []
    if shared is not None or not backends_only:
        backend += backend_steps(
            mark=backend_mark,
            source=shared,
            want=spec.backend_rules,
            instance_groups=remote.instance_groups,
            node_groups=remote.node_groups,
            shared=True,
        )
    if backends_only:
        if lb is None:
            return ()
        steps = list(backend)
        if shared in lb.get("SecurityGroups", []):
            steps += legacy
        for group in spec.target_groups:
            if group.name in remote.groups:
                have = remote.targets.get(group.name, frozenset())
                steps += _target_steps(labels[group.name], group, have, remote.running)
        return tuple(steps)

    steps = []
    listeners_have = remote.listeners
    if lb is not None and not compatible(lb, remote.lb_tags, spec):
        pinned = remote.lb_tags.get(naming.REQUESTED_IP_TAG)
        before = _lb_text(str(lb.get("Scheme", "")), pinned, _lb_subnets(lb))
        steps.append(
            Step(
                op=DeleteLoadBalancer(arn=str(lb["LoadBalancerArn"])),
                changes=(_delete("load balancer", spec.name, f"{before} (replaced)"),),
            )
        )
        lb, listeners_have = None, ()  # the listeners go with it; the groups move over

    steps += _security_group_steps(spec, remote)
    steps += backend

    for group in spec.target_groups:
        steps += group_steps(
            labels[group.name],
            group,
            remote.groups.get(group.name),
            remote.attributes.get(group.name, ()),
            remote.targets.get(group.name, ()),
            running=remote.running,
        )

    if lb is None:
        steps.append(
            Step(
                op=CreateLoadBalancer(mappings=subnet_mappings(spec, remote.subnet_cidrs)),
                changes=(
                    _create(
                        "load balancer",
                        spec.name,
                        _lb_text(spec.scheme, spec.requested_ip, spec.subnets),
                    ),
                ),
            )
        )
    else:
        subnets = _lb_subnets(lb)
        if subnets != set(spec.subnets):
            steps.append(_subnet_step(spec, lb, remote))
        groups = [str(item) for item in lb.get("SecurityGroups", [])]
        wanted_groups = {source, shared}
        # An NLB created without security groups cannot get any (SetSecurityGroups: "You
        # can't perform this operation on a Network Load Balancer unless you specified a
        # security group for the load balancer when you created it"): ensure warns instead.
        if groups and (None in wanted_groups or set(groups) != wanted_groups):
            steps.append(
                Step(
                    op=SetSecurityGroups(),
                    changes=(
                        _update(
                            "load balancer",
                            spec.name,
                            f"security groups {', '.join(groups) or 'none'}",
                            "security groups "
                            f"{source or spec.name + ' (new)'}, {shared or 'backend (new)'}",
                        ),
                    ),
                )
            )

    arns = {name: str(tg["TargetGroupArn"]) for name, tg in remote.groups.items()}
    names = {arn: name for name, arn in arns.items()}
    listeners = listener_diff(listeners_have, spec, arns)
    by_arn = {str(item["ListenerArn"]): item for item in listeners_have}
    for listener_arn in listeners.delete:
        item = by_arn[listener_arn]
        target = forward_arn(item) or ""
        steps.append(
            Step(
                op=DeleteListener(arn=listener_arn),
                changes=(
                    _delete(
                        "listener",
                        f"{item.get('Protocol')}:{item.get('Port')}",
                        f"forward to {names.get(target, target or 'nothing')}",
                    ),
                ),
            )
        )
    for want in listeners.create:
        steps.append(
            Step(
                op=CreateListener(listener=want),
                changes=(
                    _create(
                        "listener",
                        f"{want.protocol}:{want.port}",
                        f"forward to {want.target_group}",
                    ),
                ),
            )
        )

    wanted = {group.name for group in spec.target_groups}
    for name, found in sorted(remote.groups.items()):
        if name not in wanted:
            steps.append(
                Step(
                    op=DeleteTargetGroup(arn=str(found["TargetGroupArn"])),
                    changes=(
                        _delete(
                            "target group",
                            _group_label(name, found),
                            _group_text(
                                name,
                                str(found.get("Protocol", "")),
                                int(found.get("Port", 0)),
                                str(found.get("TargetType", "")),
                            ),
                        ),
                    ),
                )
            )
    steps += legacy  # the NLB carries the shared group by now (SetSecurityGroups above)
    return tuple(steps)


def changes_of(steps: Iterable[Step]) -> tuple[PlannedChange, ...]:
    """What ``plan`` reports for ``steps``."""
    return tuple(change for step in steps for change in step.changes)
