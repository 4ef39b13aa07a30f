"""The local model: what one Service's CLB should look like, and the diff (pure).

:func:`build` turns a :class:`DesiredLoadBalancer` and its :class:`Options`
into a :class:`ClbSpec` (the CLB, its listeners with their health checks and
session persistence, and each listener's exact targets).  The ``Remote*``
values are what the SDK wrapper read back (:class:`RemoteState`, all of it
read before any write); :func:`changes` is the one diff, a
:class:`ClbChanges` that ``ensure`` applies and ``plan`` reports
(:meth:`ClbChanges.planned`), so an unchanged Service costs no write and the
two cannot disagree.  No SDK here: the diff is unit-tested alone.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any

from lbprovider.cloud import (
    BackendMode,
    ChangeAction,
    DesiredLoadBalancer,
    Ingress,
    InvalidService,
    Listener,
    LoadBalancerStatus,
    PlannedChange,
    PortStatus,
    Protocol,
    ServiceRef,
)
from lbprovider.cloud.tags import CLUSTER_TAG, is_owned_by, ownership_tags
from lbprovider_tencent import naming
from lbprovider_tencent.options import (
    ANNOTATION_CLUSTER_HEALTH_CHECK,
    ANNOTATION_EXISTED_LBID,
    ANNOTATION_INTERNAL_SUBNET,
    ANNOTATION_KUBE_PROXY_HEALTH_PORT,
    Options,
)

LB_CREATING, LB_NORMAL = 0, 1
"""CLB ``Status``: still being created, or ready."""
SESSION_MIN, SESSION_MAX = 30, 3600
"""CLB's range for ``SessionExpireTime`` (0 turns session persistence off)."""
TARGET_WEIGHT = 10
CHECK_PORT_DEFAULT = -1
"""``HealthCheck.CheckPort`` -1 puts the check back on the backend port ("传参数值-1可恢复
默认设置", api.json HealthCheck.CheckPort): how leaving a healthz port is written."""
HTTP_CODE_2XX = 2
"""``HealthCheck.HttpCode`` is a bitmask (1: 1xx, 2: 2xx, 4: 3xx, 8: 4xx, 16: 5xx) whose
default, 31, counts a 5xx as healthy; kube-proxy's healthz answers 503 where a node must
get no traffic, so only 2xx is healthy (api.json HealthCheck.HttpCode)."""
HTTP_VERSION = "HTTP/1.1"
"""Required with ``CheckType: HTTP`` on a TCP listener (api.json HealthCheck.HttpVersion)."""
HTTP_CHECK_DOMAIN = "kube-proxy.healthz"
"""The Host header of HTTP checks: required on a TCP listener (api.json
HealthCheck.HttpCheckDomain); kube-proxy ignores it, so any name CLB accepts will do."""
HEALTHZ_PATH = "/healthz"

TargetKey = tuple[str, str, int]
"""``("CVM", instance id, port)`` or ``("ENI", IP, port)``: one registered backend."""
PortKey = tuple[Protocol, int]


def _frozen(value: Mapping[str, Any]) -> Mapping[str, Any]:
    return MappingProxyType(dict(value))


@dataclass(frozen=True, slots=True, kw_only=True)
class ListenerSpec:
    """One listener as the Service wants it."""

    name: str
    port: int
    protocol: Protocol
    health_check: Mapping[str, Any]
    session_expire: int
    targets: frozenset[TargetKey]

    def __post_init__(self) -> None:
        object.__setattr__(self, "health_check", _frozen(self.health_check))

    @property
    def key(self) -> PortKey:
        return (self.protocol, self.port)


@dataclass(frozen=True, slots=True, kw_only=True)
class ClbSpec:
    """The CLB one Service wants."""

    name: str
    lb_type: str
    """``OPEN`` (public) or ``INTERNAL``."""
    subnet_id: str | None
    vip: str | None
    """The requested VIP of an internal CLB (``loadBalancerIP``)."""
    tags: Mapping[str, str]
    reuse_lb_id: str | None
    listeners: tuple[ListenerSpec, ...]
    warnings: tuple[str, ...] = ()
    skipped_nodes: tuple[str, ...] = ()
    """Tencent nodes whose providerID has no instance id (not targeted)."""

    def __post_init__(self) -> None:
        object.__setattr__(self, "tags", _frozen(self.tags))


@dataclass(frozen=True, slots=True, kw_only=True)
class RemoteClb:
    """A CLB as ``DescribeLoadBalancers`` reported it."""

    lb_id: str
    lb_type: str
    status: int
    vips: tuple[str, ...] = ()
    tags: Mapping[str, str] = field(default_factory=dict)

    @property
    def ready(self) -> bool:
        return self.status == LB_NORMAL


@dataclass(frozen=True, slots=True, kw_only=True)
class RemoteListener:
    """A listener as ``DescribeListeners`` reported it."""

    listener_id: str
    name: str
    port: int
    protocol: str
    session_expire: int = 0
    health_check: Mapping[str, Any] = field(default_factory=dict)


@dataclass(frozen=True, slots=True, kw_only=True)
class RemoteState:
    """Everything one Service's CLB is, as read before any write."""

    lb: RemoteClb | None
    """Our CLB (or the reused one); None when it does not exist yet."""
    listeners: tuple[RemoteListener, ...] = ()
    """Every listener of the CLB, ours and (on a reused CLB) the user's."""
    targets: Mapping[str, frozenset[TargetKey]] = field(default_factory=dict)
    """Registered targets per listener id, for our listeners."""
    conflict: str | None = None
    """The Service's own CLB when it also names one to reuse (``tke-existed-lbid``)."""

    def __post_init__(self) -> None:
        object.__setattr__(self, "targets", _frozen(self.targets))


@dataclass(frozen=True, slots=True, kw_only=True)
class ListenerDiff:
    """The listener writes that bring a CLB to the spec."""

    delete: tuple[RemoteListener, ...] = ()
    """Our listeners the Service no longer has."""
    create: tuple[ListenerSpec, ...] = ()
    modify: tuple[tuple[RemoteListener, ListenerSpec], ...] = ()
    """(listener as read, spec) whose health check or session persistence differ."""
    ids: Mapping[PortKey, str] = field(default_factory=dict)
    """Ids of the wanted listeners that exist already (kept or modified)."""

    @property
    def empty(self) -> bool:
        return not (self.delete or self.create or self.modify)


@dataclass(frozen=True, slots=True, kw_only=True)
class TargetDiff:
    """The target writes of one listener: register first, so it never runs empty."""

    register: tuple[TargetKey, ...] = ()
    deregister: tuple[TargetKey, ...] = ()

    @property
    def empty(self) -> bool:
        return not (self.register or self.deregister)


# ---- desired state ------------------------------------------------------------------


def _session_expire(desired: DesiredLoadBalancer, warnings: list[str]) -> int:
    if desired.session_affinity is None:
        return 0
    timeout = desired.session_affinity.timeout_seconds
    clamped = max(SESSION_MIN, min(SESSION_MAX, timeout))
    if clamped != timeout:
        warnings.append(
            f"sessionAffinity ClientIP timeout {timeout}s is outside CLB's range "
            f"[{SESSION_MIN}, {SESSION_MAX}]; using {clamped}s"
        )
    return clamped


@dataclass(frozen=True, slots=True, kw_only=True)
class HealthPolicy:
    """How externalTrafficPolicy: Cluster node targets are checked (class settings,
    overridden per Service by annotation)."""

    cluster_check: str = "kube-proxy"
    """``kube-proxy`` (HTTP /healthz on ``kube_proxy_port``) or ``traffic-port`` (TCP)."""
    kube_proxy_port: int = 10256


def http_check(port: int, path: str = HEALTHZ_PATH) -> dict[str, Any]:
    """An HTTP GET health check of a TCP listener, healthy on 2xx only, with the
    companions CLB requires of a TCP listener's HTTP check."""
    return {
        "HealthSwitch": 1,
        "CheckType": "HTTP",
        "CheckPort": port,
        "HttpCheckPath": path,
        "HttpCheckMethod": "GET",
        "HttpCheckDomain": HTTP_CHECK_DOMAIN,
        "HttpVersion": HTTP_VERSION,
        "HttpCode": HTTP_CODE_2XX,
    }


def health_check(
    desired: DesiredLoadBalancer, listener: Listener, *, policy: HealthPolicy = HealthPolicy()
) -> dict[str, Any]:
    """CLB's ``HealthCheck`` for one listener.

    - UDP: PING.  CLB's UDP listeners check with PING or CUSTOM only (api.json
      HealthCheck.CheckType: "UDP监听器支持PING/CUSTOM"); kube-proxy's healthz is HTTP
      over TCP, which neither can ask, so a UDP listener checks that the target answers.
    - TCP, externalTrafficPolicy Local: HTTP /healthz on healthCheckNodePort, 2xx only
      (kube-proxy answers 503 on a node without a local endpoint).
    - TCP, Cluster, node targets: kube-proxy's node health (KEP-3836, /healthz on
      ``kube_proxy_port``, so a draining node or a dead kube-proxy is taken out), or a
      TCP check of the node port (``traffic-port``).
    - TCP, Pod targets: a TCP check of the Pod's port.

    Every TCP-listener check names its port: -1 (the backend port) unless it checks a
    healthz port, so leaving Local or kube-proxy puts the check back on the traffic port.
    """
    if listener.protocol is Protocol.UDP:
        return {"HealthSwitch": 1, "CheckType": "PING"}
    if desired.health_check is not None:
        return http_check(desired.health_check.port, desired.health_check.path)
    if desired.backend_mode is BackendMode.NODE_PORT and policy.cluster_check == "kube-proxy":
        return http_check(policy.kube_proxy_port)
    return {"HealthSwitch": 1, "CheckType": "TCP", "CheckPort": CHECK_PORT_DEFAULT}


def targets(
    desired: DesiredLoadBalancer, listener: Listener, instances: Iterable[str]
) -> frozenset[TargetKey]:
    """The exact backends of one listener: Pod IPs (ENI) or node ports on instances (CVM)."""
    if desired.backend_mode is BackendMode.POD_IP:
        return frozenset(("ENI", endpoint.ip, endpoint.port) for endpoint in listener.endpoints)
    if listener.node_port is None:
        return frozenset()
    return frozenset(("CVM", instance, listener.node_port) for instance in instances)


def _warnings(desired: DesiredLoadBalancer, options: Options) -> list[str]:
    warnings: list[str] = []
    if options.reuse_lb_id is not None and options.internal_subnet is not None:
        warnings.append(
            f"{ANNOTATION_INTERNAL_SUBNET} is ignored: the Service reuses CLB "
            f"{options.reuse_lb_id} ({ANNOTATION_EXISTED_LBID})"
        )
    if desired.requested_ip and options.internal_subnet is None and options.reuse_lb_id is None:
        warnings.append(
            "loadBalancerIP is honoured only for internal CLBs "
            f"({ANNOTATION_INTERNAL_SUBNET}); a public CLB gets its address from Tencent Cloud"
        )
    if desired.source_ranges:
        warnings.append(
            "loadBalancerSourceRanges is not supported by the tencent provider; "
            "restrict access with CLB security groups"
        )
    if desired.health_check is not None and any(
        item.protocol is Protocol.UDP for item in desired.listeners
    ):
        warnings.append(
            "the externalTrafficPolicy: Local health check applies to TCP listeners only: "
            "CLB's UDP listeners cannot check HTTP and get a PING check, so nodes without a "
            "local endpoint still receive UDP traffic"
        )
    overrides = [
        name
        for name, value in (
            (ANNOTATION_CLUSTER_HEALTH_CHECK, options.cluster_health_check),
            (ANNOTATION_KUBE_PROXY_HEALTH_PORT, options.kube_proxy_health_port),
        )
        if value is not None
    ]
    if overrides and (
        desired.health_check is not None or desired.backend_mode is BackendMode.POD_IP
    ):
        warnings.append(
            f"{', '.join(overrides)} applies to externalTrafficPolicy: Cluster node targets "
            "only; ignored"
        )
    return warnings


def health_policy(options: Options, default: HealthPolicy) -> HealthPolicy:
    """The class's Cluster health check with the Service's annotations applied."""
    return HealthPolicy(
        cluster_check=options.cluster_health_check or default.cluster_check,
        kube_proxy_port=options.kube_proxy_health_port or default.kube_proxy_port,
    )


def build(
    desired: DesiredLoadBalancer, options: Options, *, health: HealthPolicy = HealthPolicy()
) -> ClbSpec:
    """The CLB ``desired`` asks for (only this cloud's nodes are targeted); ``health`` is
    the class's Cluster health check, which the Service's annotations may override."""
    ref = desired.ref
    policy = health_policy(options, health)
    warnings = _warnings(desired, options)
    session = _session_expire(desired, warnings)
    instances: list[str] = []
    skipped: list[str] = []
    for node in desired.nodes_of(naming.PROVIDER_ID_PREFIX):
        instance = naming.instance_id(node)
        if instance is None:
            skipped.append(node.name)
        else:
            instances.append(instance)
    listeners = tuple(
        ListenerSpec(
            name=naming.listener_name(ref, listener),
            port=listener.port,
            protocol=listener.protocol,
            health_check=health_check(desired, listener, policy=policy),
            session_expire=session,
            targets=targets(desired, listener, instances),
        )
        for listener in desired.listeners
    )
    internal = options.internal_subnet is not None
    return ClbSpec(
        name=naming.lb_name(ref),
        lb_type="INTERNAL" if internal else "OPEN",
        subnet_id=options.internal_subnet,
        vip=desired.requested_ip if internal else None,
        tags=ownership_tags(ref),
        reuse_lb_id=options.reuse_lb_id,
        listeners=listeners,
        warnings=tuple(warnings),
        skipped_nodes=tuple(skipped),
    )


# ---- rules about what was read ----------------------------------------------------------


def check_reusable(ref: ServiceRef, lb: RemoteClb | None, lb_id: str) -> RemoteClb:
    """The CLB named by ``tke-existed-lbid``, if this Service may use it."""
    if lb is None:
        raise InvalidService(f"CLB {lb_id} named by {ANNOTATION_EXISTED_LBID} does not exist")
    if CLUSTER_TAG in lb.tags and not is_owned_by(dict(lb.tags), ref):
        raise InvalidService(
            f"CLB {lb_id} is managed by lbprovider for another Service; it cannot be reused"
        )
    return lb


def drift_warnings(spec: ClbSpec, desired: DesiredLoadBalancer, lb: RemoteClb) -> tuple[str, ...]:
    """What the Service asks that this CLB cannot change into (type, address)."""
    warnings: list[str] = []
    if spec.reuse_lb_id is None and lb.lb_type != spec.lb_type:
        warnings.append(
            f"CLB {lb.lb_id} is {lb.lb_type} but the Service asks for {spec.lb_type}; "
            "the type of a CLB cannot change, recreate the Service"
        )
    internal = lb.lb_type == "INTERNAL"
    if desired.requested_ip and internal and desired.requested_ip not in lb.vips:
        warnings.append(
            f"loadBalancerIP {desired.requested_ip} differs from CLB {lb.lb_id}'s address "
            f"{', '.join(lb.vips)}; the address of a CLB cannot change"
        )
    return tuple(warnings)


def ours(ref: ServiceRef, listeners: Iterable[RemoteListener]) -> list[RemoteListener]:
    """The listeners of ``ref`` (by name: listeners carry no tags)."""
    prefix = naming.listener_prefix(ref)
    return [item for item in listeners if item.name.startswith(prefix)]


def listener_diff(
    spec: ClbSpec, ref: ServiceRef, lb_id: str, remote: Sequence[RemoteListener]
) -> ListenerDiff:
    """Our listeners to delete, create and modify; InvalidService when a wanted
    port is held by a listener we do not own (on a reused CLB)."""
    mine = {item.name: item for item in ours(ref, remote)}
    foreign = {
        (item.protocol, item.port): item.listener_id for item in remote if item.name not in mine
    }
    wanted = {item.name: item for item in spec.listeners}
    for name, listener in wanted.items():
        other = foreign.get((listener.protocol.value, listener.port))
        if name not in mine and other is not None:
            raise InvalidService(
                f"{listener.protocol.value} port {listener.port} of CLB {lb_id} is used by "
                f"listener {other}, which this Service does not own"
            )
    create: list[ListenerSpec] = []
    modify: list[tuple[RemoteListener, ListenerSpec]] = []
    for name, listener in wanted.items():
        current = mine.get(name)
        if current is None:
            create.append(listener)
        elif current.session_expire != listener.session_expire or _check_differs(current, listener):
            modify.append((current, listener))
    return ListenerDiff(
        delete=tuple(item for name, item in mine.items() if name not in wanted),
        create=tuple(create),
        modify=tuple(modify),
        ids=listener_ids(spec, ref, remote),
    )


def listener_ids(
    spec: ClbSpec, ref: ServiceRef, remote: Iterable[RemoteListener]
) -> dict[PortKey, str]:
    """Ids of the wanted listeners that exist already, by (protocol, port)."""
    mine = {item.name: item.listener_id for item in ours(ref, remote)}
    return {item.key: mine[item.name] for item in spec.listeners if item.name in mine}


def _check_differs(current: RemoteListener, listener: ListenerSpec) -> bool:
    # Only the keys we set: CLB fills in defaults (intervals, thresholds) we leave alone.
    return any(
        _check_value(key, current.health_check.get(key)) != _check_value(key, value)
        for key, value in listener.health_check.items()
    )


def _check_value(key: str, value: Any) -> Any:
    # CheckPort -1 is written to mean "the backend port"; CLB may read it back as null
    # ("此字段可能返回 null") or as -1: all three are the same check.
    if key == "CheckPort" and value in (None, 0, CHECK_PORT_DEFAULT):
        return CHECK_PORT_DEFAULT
    return value


def target_diff(wanted: frozenset[TargetKey], have: frozenset[TargetKey]) -> TargetDiff:
    """The targets to register and deregister on one listener, in a stable order."""
    return TargetDiff(
        register=tuple(sorted(wanted - have)), deregister=tuple(sorted(have - wanted))
    )


@dataclass(frozen=True, slots=True, kw_only=True)
class ClbChanges:
    """Every write that brings one Service's CLB to its spec, in the order ``ensure``
    makes them; ``plan`` reports the same value (:meth:`planned`), so the two cannot
    disagree."""

    create_lb: ClbSpec | None = None
    """The CLB to create first (None: it exists)."""
    listeners: ListenerDiff = field(default_factory=ListenerDiff)
    targets: tuple[tuple[ListenerSpec, TargetDiff], ...] = ()
    """Per wanted listener (existing or created above), its non-empty target diff."""

    @property
    def empty(self) -> bool:
        return self.create_lb is None and self.listeners.empty and not self.targets

    def planned(self) -> tuple[PlannedChange, ...]:
        """The changes as ``lbprovider plan`` prints them, in the order they are made."""
        found: list[PlannedChange] = []
        if self.create_lb is not None:
            found.append(_planned_lb(self.create_lb))
        for gone in self.listeners.delete:
            found.append(
                PlannedChange(
                    action=ChangeAction.DELETE,
                    kind="listener",
                    name=port_text(gone.protocol, gone.port),
                    before=gone.listener_id,
                )
            )
        for new in self.listeners.create:
            found.append(
                PlannedChange(
                    action=ChangeAction.CREATE,
                    kind="listener",
                    name=port_text(new.protocol, new.port),
                    after=_listener_text(new),
                )
            )
        for current, wanted in self.listeners.modify:
            found.extend(_planned_modify(current, wanted))
        for listener, diff in self.targets:
            name = port_text(listener.protocol, listener.port)
            found.extend(
                PlannedChange(
                    action=ChangeAction.CREATE, kind="targets", name=name, after=target_text(key)
                )
                for key in diff.register
            )
            found.extend(
                PlannedChange(
                    action=ChangeAction.DELETE, kind="targets", name=name, before=target_text(key)
                )
                for key in diff.deregister
            )
        return tuple(found)


def changes(spec: ClbSpec, ref: ServiceRef, remote: RemoteState) -> ClbChanges:
    """The one diff of a Service's CLB: what ``ensure`` writes and ``plan`` reports.

    InvalidService when the Service names a CLB to reuse but has its own, or a
    wanted port is held by a listener it does not own.
    """
    if remote.conflict is not None:
        raise InvalidService(
            f"the Service already has its own CLB {remote.conflict}; "
            f"switching to {ANNOTATION_EXISTED_LBID} needs a new Service"
        )
    if remote.lb is None:
        listeners = ListenerDiff(create=spec.listeners)
    else:
        listeners = listener_diff(spec, ref, remote.lb.lb_id, remote.listeners)
    return ClbChanges(
        create_lb=spec if remote.lb is None else None,
        listeners=listeners,
        targets=target_changes(spec, listeners.ids, remote.targets),
    )


def target_changes(
    spec: ClbSpec, ids: Mapping[PortKey, str], have: Mapping[str, frozenset[TargetKey]]
) -> tuple[tuple[ListenerSpec, TargetDiff], ...]:
    """Each wanted listener's target diff (a listener not in ``ids`` is new: it has none)."""
    found: list[tuple[ListenerSpec, TargetDiff]] = []
    for listener in spec.listeners:
        listener_id = ids.get(listener.key)
        registered = have.get(listener_id, frozenset()) if listener_id else frozenset()
        diff = target_diff(listener.targets, registered)
        if not diff.empty:
            found.append((listener, diff))
    return tuple(found)


# ---- how changes read ------------------------------------------------------------------


def port_text(protocol: str, port: int) -> str:
    """``TCP:80``."""
    return f"{protocol}:{port}"


def target_text(key: TargetKey) -> str:
    """``ins-abc:30080`` or ``10.0.1.5:8080``."""
    _, ident, port = key
    return f"{ident}:{port}"


def health_check_text(protocol: str, check: Mapping[str, Any]) -> str:
    """``HTTP:10256/healthz``, ``TCP:traffic-port`` (CLB checks the backend port unless
    ``CheckPort`` says otherwise), ``PING`` or ``off``."""
    if check.get("HealthSwitch", 1) == 0:
        return "off"
    kind = str(check.get("CheckType") or protocol)
    if kind == "PING":
        return kind  # ICMP: no port
    port = check.get("CheckPort")
    where = str(port) if port and port != CHECK_PORT_DEFAULT else "traffic-port"
    if kind == "HTTP":
        return f"HTTP:{where}{check.get('HttpCheckPath') or '/'}"
    return f"{kind}:{where}"


def _listener_text(listener: ListenerSpec) -> str:
    text = f"check {health_check_text(listener.protocol.value, listener.health_check)}"
    if listener.session_expire:
        text += f", SessionExpireTime={listener.session_expire}"
    return text


def _planned_lb(spec: ClbSpec) -> PlannedChange:
    after = spec.lb_type
    if spec.subnet_id:
        after += f" in {spec.subnet_id}"
    if spec.vip:
        after += f" VIP {spec.vip}"
    return PlannedChange(
        action=ChangeAction.CREATE, kind="load balancer", name=spec.name, after=after
    )


def _planned_modify(current: RemoteListener, wanted: ListenerSpec) -> list[PlannedChange]:
    """One ``ModifyListener`` reads as up to two changes: health check and attribute."""
    name = port_text(wanted.protocol, wanted.port)
    found: list[PlannedChange] = []
    if _check_differs(current, wanted):
        found.append(
            PlannedChange(
                action=ChangeAction.UPDATE,
                kind="health check",
                name=name,
                before=health_check_text(current.protocol, current.health_check),
                after=health_check_text(wanted.protocol.value, wanted.health_check),
            )
        )
    if current.session_expire != wanted.session_expire:
        found.append(
            PlannedChange(
                action=ChangeAction.UPDATE,
                kind="attribute",
                name=name,
                before=f"SessionExpireTime={current.session_expire}",
                after=f"SessionExpireTime={wanted.session_expire}",
            )
        )
    return found


def status(
    lb: RemoteClb, ports: Iterable[PortKey], warnings: Iterable[str] = ()
) -> LoadBalancerStatus:
    """The Service's status: the CLB's first VIP, and the ports it serves."""
    port_status = tuple(PortStatus(port=port, protocol=proto) for proto, port in ports)
    ingress = (Ingress(ip=lb.vips[0], ip_mode="VIP", ports=port_status),) if lb.vips else ()
    return LoadBalancerStatus(lb_id=lb.lb_id, ingress=ingress, warnings=tuple(warnings))


def served_ports(ref: ServiceRef, listeners: Iterable[RemoteListener]) -> list[PortKey]:
    """The (protocol, port) of ``ref``'s listeners, in status order (port, protocol)."""
    keys = ((item.port, item.protocol) for item in ours(ref, listeners))
    return [(Protocol(proto), port) for port, proto in sorted(keys)]
