"""The local model: what SLB should hold for one Service, and the diff with what it holds.

Pure functions over frozen values, no SDK and no cloud call, so the diff is
unit-tested on its own (``tests/providers/alibaba/test_model.py``):

- :func:`wanted_listeners` / :func:`new_load_balancer`: the desired state from a
  :class:`DesiredLoadBalancer`, the parsed :class:`Options` and class settings;
- :class:`RemoteLoadBalancer`, :class:`RemoteListener`, :class:`RemoteGroup`: what
  was read (``api.py`` builds them from SLB's replies);
- :func:`plan_listeners`, :func:`known_eni_owners` / :func:`resolve_eni_owners`,
  then :func:`sync_changes`, THE diff: the ordered :data:`Change` list that
  ``ensure`` applies and ``plan`` reports (:func:`planned`), so the two cannot
  disagree; an unchanged Service needs none;
- :func:`owned_load_balancers`: what ``list_owned`` reports.

Each Service port is one listener (TCP and UDP on one port are two) with its
own VServerGroup.  Backends are ECS instances on the node port, or Pod IPs as
ENI backends (``ServerId`` the ENI holding the IP, ``ServerIp`` the Pod IP).
"""

from __future__ import annotations

import ipaddress
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from lbprovider.cloud import (
    BackendMode,
    ChangeAction,
    DesiredLoadBalancer,
    Ingress,
    InvalidService,
    LoadBalancerStatus,
    OwnedLoadBalancer,
    PlannedChange,
    PortStatus,
    Protocol,
    ServiceRef,
)
from lbprovider_alibaba import naming
from lbprovider_alibaba.options import HealthOverride, Options

MAX_PERSISTENCE = 3600  # SLB's upper bound for TCP PersistenceTimeout
BACKEND_WEIGHT = 100
TRAFFIC_PORT_REPORTED = (None, "", 0, -520)
"""How SLB reports "no HealthCheckConnectPort: check the backend port" (-520 on reads).

Never sent: Create/Set*ListenerAttribute take 1-65535 only (their field docs), and an
unset port means the backend port on create only."""
HTTP_2XX = "http_2xx"
"""kube-proxy's /healthz answers 503 where it should get no traffic: only 2xx is healthy."""
MAX_LISTED_IPS = 10  # in one warning; the rest are counted

LAYER4 = frozenset({Protocol.TCP.value, Protocol.UDP.value})
"""The listener protocols this provider makes; HTTP/HTTPS ones are someone else's."""

BackendKey = tuple[str, int, str, str]
"""``(ServerId, Port, Type, ServerIp)`` of one VServerGroup member (ServerIp only for eni)."""
PodTarget = tuple[str, int]
"""``(Pod IP, target port)``."""
ListenerKey = tuple[str, int]
"""``(PROTOCOL, port)``."""


# -- the local model ----------------------------------------------------------------------


@dataclass(frozen=True, slots=True, kw_only=True)
class WantedListener:
    """One listener as the Service wants it, with its VServerGroup."""

    protocol: str
    port: int
    group_name: str
    backends: frozenset[BackendKey] = frozenset()
    """Node-port backends (ENI backends are known once ``pods`` are resolved)."""
    pods: frozenset[PodTarget] = frozenset()
    pod_mode: bool = False
    attrs: Mapping[str, Any] = field(default_factory=dict)
    """Listener attributes compared with the cloud (VServerGroupId aside)."""

    @property
    def key(self) -> ListenerKey:
        return (self.protocol, self.port)


@dataclass(frozen=True, slots=True, kw_only=True)
class NewLoadBalancer:
    """The CreateLoadBalancer call for a Service that has none."""

    name: str
    address_type: str
    vpc_id: str | None
    vswitch_id: str | None
    spec: str | None
    """Only when the operator asks for one (setting or annotation): pay-by-specification."""
    address: str | None
    tags: Mapping[str, str]
    delete_protection: bool

    @property
    def instance_charge_type(self) -> str:
        """``PayByCLCU`` unless a spec is asked for.

        CreateLoadBalancer (2014-05-15): pay-by-specification instances are no longer sold
        (since 2025-06-01, API reference), the default PayBySpec without a spec answers
        ``MissingParam.LoadBalancerSpec``, and with PayByCLCU the spec "is invalid and you
        do not need to specify" it (field docs of InstanceChargeType / LoadBalancerSpec).
        """
        return "PayBySpec" if self.spec else "PayByCLCU"


@dataclass(frozen=True, slots=True, kw_only=True)
class HealthPolicy:
    """The class's health-check choice for ``externalTrafficPolicy: Cluster`` node targets."""

    cluster_check: str = "kube-proxy"
    """``kube-proxy`` (HTTP /healthz on ``kube_proxy_port``) or ``traffic-port``."""
    kube_proxy_port: int = 10256


def _health_attrs(
    protocol: str,
    desired: DesiredLoadBalancer,
    policy: HealthPolicy,
    override: HealthOverride,
) -> dict[str, Any]:
    """The health-check attributes of one listener (Describe spellings; port None: backend's).

    Node targets, Local: HTTP /healthz on healthCheckNodePort, 2xx only.  Node targets,
    Cluster: kube-proxy's node health (KEP-3836), HTTP /healthz on its port, 2xx only, or
    the traffic port (``traffic-port``).  Pod targets: the traffic port.  SLB UDP listeners
    only probe UDP (``CreateLoadBalancerUDPListener`` has no HealthCheckType/URI): they
    check the traffic port.  The annotations override each part.
    """
    kind, port, uri = "tcp", None, None
    if desired.backend_mode is BackendMode.NODE_PORT:
        local = desired.health_check
        if local is not None and local.protocol.upper() == "HTTP":
            kind, port, uri = "http", local.port, local.path
        elif local is None and policy.cluster_check == "kube-proxy":
            kind, port, uri = "http", policy.kube_proxy_port, "/healthz"
    switch = override.switch or "on"
    if protocol == Protocol.UDP.value:
        # A UDP probe of kube-proxy's TCP port would fail on every node: the traffic port.
        out: dict[str, Any] = {"HealthCheck": switch}
        if switch == "on":
            out["HealthCheckConnectPort"] = override.port
        return out
    kind = override.type or kind
    out = {"HealthCheck": switch}
    if switch == "off":
        return out
    out["HealthCheckType"] = kind
    out["HealthCheckConnectPort"] = override.port if override.port is not None else port
    if kind == "http":
        out["HealthCheckURI"] = override.uri or uri or "/healthz"
        out["HealthCheckHttpCode"] = override.http_code or HTTP_2XX
    return out


def wanted_listeners(
    desired: DesiredLoadBalancer,
    *,
    region: str,
    health: HealthPolicy | None = None,
    override: HealthOverride | None = None,
) -> tuple[tuple[WantedListener, ...], tuple[str, ...]]:
    """The listeners ``desired`` asks for, and warnings for what SLB cannot honour."""
    ref = desired.ref
    policy = health if health is not None else HealthPolicy()
    annotated = override if override is not None else HealthOverride()
    warnings: list[str] = []
    instances = naming.instance_ids(desired.nodes, region=region)
    affinity = desired.session_affinity
    persistence = 0
    if affinity is not None:
        persistence = min(affinity.timeout_seconds, MAX_PERSISTENCE)
        if affinity.timeout_seconds > MAX_PERSISTENCE:
            warnings.append(
                f"sessionAffinity ClientIP timeout {affinity.timeout_seconds}s exceeds "
                f"SLB's maximum; using {MAX_PERSISTENCE}s"
            )
    local = desired.health_check if desired.backend_mode is BackendMode.NODE_PORT else None
    pod_mode = desired.backend_mode is BackendMode.POD_IP
    out: list[WantedListener] = []
    for listener in desired.listeners:
        protocol = listener.protocol.value
        backends: frozenset[BackendKey] = frozenset()
        pods: frozenset[PodTarget] = frozenset()
        if pod_mode:
            pods = frozenset((e.ip, e.port) for e in listener.endpoints)
        elif listener.node_port is not None:
            backends = frozenset((i, listener.node_port, "ecs", "") for i in instances)
        attrs: dict[str, Any] = {"Bandwidth": -1}
        if protocol == Protocol.TCP.value:
            attrs["PersistenceTimeout"] = persistence
        else:
            if affinity is not None:
                warnings.append(
                    f"sessionAffinity ClientIP is not available on SLB UDP listeners "
                    f"(port {listener.port}/UDP)"
                )
            if local is not None and annotated.port is None:
                warnings.append(
                    f"the HTTP health check of externalTrafficPolicy Local cannot be used "
                    f"by an SLB UDP listener (port {listener.port}/UDP); it checks the "
                    "traffic port"
                )
        attrs.update(_health_attrs(protocol, desired, policy, annotated))
        out.append(
            WantedListener(
                protocol=protocol,
                port=listener.port,
                group_name=naming.group_name(ref, protocol, listener.port),
                backends=backends,
                pods=pods,
                pod_mode=pod_mode,
                attrs=attrs,
            )
        )
    if desired.source_ranges:
        warnings.append(
            "loadBalancerSourceRanges is not supported by the alibaba provider yet; "
            "the load balancer accepts traffic from everywhere"
        )
    return tuple(out), tuple(warnings)


def new_load_balancer(
    desired: DesiredLoadBalancer,
    options: Options,
    *,
    cluster: str,
    vpc_id: str | None,
    delete_protection: bool,
) -> tuple[NewLoadBalancer, tuple[str, ...]]:
    """The load balancer to create for ``desired``, and warnings."""
    warnings: list[str] = []
    address = None
    if desired.requested_ip:
        if options.intranet:
            address = desired.requested_ip
        else:
            warnings.append(
                f"loadBalancerIP {desired.requested_ip} ignored: an internet SLB gets its "
                "address from Alibaba Cloud"
            )
    spec = NewLoadBalancer(
        name=naming.lb_name(cluster, desired.ref),
        address_type=options.address_type,
        vpc_id=vpc_id if options.intranet else None,
        vswitch_id=options.vswitch_id if options.intranet else None,
        spec=options.spec,
        address=address,
        tags=naming.ownership_tags(desired.ref),
        delete_protection=delete_protection,
    )
    return spec, tuple(warnings)


# -- the remote model ---------------------------------------------------------------------


@dataclass(frozen=True, slots=True, kw_only=True)
class RemoteLoadBalancer:
    """A load balancer as read (or as just created)."""

    lb_id: str
    address: str = ""
    address_type: str = ""
    spec: str = ""
    vpc_id: str = ""
    delete_protection: bool = False
    created: str = ""
    tags: Mapping[str, str] = field(default_factory=dict)
    """Empty when read by id (DescribeLoadBalancerAttribute carries no tags)."""


@dataclass(frozen=True, slots=True, kw_only=True)
class RemoteListener:
    """A listener as DescribeLoadBalancerListeners reports it."""

    protocol: str
    port: int
    group_id: str
    status: str
    attrs: Mapping[str, Any]
    """Top-level and per-protocol config, merged."""

    @property
    def key(self) -> ListenerKey:
        return (self.protocol, self.port)


@dataclass(frozen=True, slots=True, kw_only=True)
class RemoteGroup:
    """A VServerGroup (its members are read apart, only when needed)."""

    group_id: str
    name: str


# -- reading ------------------------------------------------------------------------------


def pick_owned(found: Iterable[RemoteLoadBalancer], ref: ServiceRef) -> list[RemoteLoadBalancer]:
    """The load balancers really tagged as ``ref``'s, oldest first."""
    owned = [lb for lb in found if naming.is_owned_by(dict(lb.tags), ref)]
    return sorted(owned, key=lambda lb: (lb.created, lb.lb_id))


def owned_load_balancers(
    found: Iterable[RemoteLoadBalancer], *, cluster: str
) -> tuple[OwnedLoadBalancer, ...]:
    """The load balancers tagged as created for a Service of ``cluster``, by Service then id.

    Only ours carry a Service UID tag: a reused load balancer is never tagged by us,
    so it is never reported (and never swept).
    """
    owned = []
    for lb in found:
        owner = naming.owner_of(lb.tags, cluster=cluster)
        if owner is not None:
            uid, key = owner
            owned.append(OwnedLoadBalancer(lb_id=lb.lb_id, service_uid=uid, service_key=key))
    return tuple(sorted(owned, key=lambda item: (item.service_key, item.lb_id)))


def our_groups(groups: Iterable[RemoteGroup], ref: ServiceRef) -> list[RemoteGroup]:
    """The groups named as ``ref``'s (and through them, its listeners)."""
    prefix = naming.group_prefix(ref)
    return [group for group in groups if group.name.startswith(prefix)]


def existing_warnings(
    lb: RemoteLoadBalancer, desired: DesiredLoadBalancer, options: Options
) -> tuple[str, ...]:
    """What an owned load balancer cannot change in place; an address type change is invalid."""
    if lb.address_type and lb.address_type != options.address_type:
        raise InvalidService(
            f"load balancer {lb.lb_id} is {lb.address_type}; the address type "
            "cannot change in place: recreate the Service to switch it"
        )
    warnings: list[str] = []
    if desired.requested_ip and desired.requested_ip != lb.address:
        warnings.append(
            f"loadBalancerIP {desired.requested_ip} ignored: load balancer "
            f"{lb.lb_id} already has address {lb.address}"
        )
    if options.spec and not lb.spec and lb.address_type:
        warnings.append(
            f"load balancer spec {options.spec} not applied: load balancer {lb.lb_id} is "
            "pay-by-usage (PayByCLCU); a spec only applies to a newly created one"
        )
    if options.spec and lb.spec and options.spec != lb.spec:
        warnings.append(
            f"load balancer spec {options.spec} not applied: changing the spec of an existing "
            f"load balancer ({lb.spec}) is not supported yet"
        )
    return tuple(warnings)


def reused_warnings(lb: RemoteLoadBalancer, desired: DesiredLoadBalancer) -> tuple[str, ...]:
    """A reused load balancer keeps its address."""
    if desired.requested_ip and desired.requested_ip != lb.address:
        return (
            f"loadBalancerIP {desired.requested_ip} ignored: the reused load balancer "
            f"{lb.lb_id} has address {lb.address}",
        )
    return ()


# -- the diff -----------------------------------------------------------------------------


@dataclass(frozen=True, slots=True, kw_only=True)
class ListenerStep:
    """One wanted listener, the listener that serves it now and the group it keeps."""

    want: WantedListener
    live: RemoteListener | None
    group_id: str | None
    """The existing group to keep; None: create one."""


@dataclass(frozen=True, slots=True, kw_only=True)
class ListenerPlan:
    """Listeners to delete first (stale ones free their ports and groups), then each wanted one."""

    stale: tuple[ListenerKey, ...]
    steps: tuple[ListenerStep, ...]


def plan_listeners(
    lb_id: str,
    wanted: Sequence[WantedListener],
    listeners: Iterable[RemoteListener],
    groups: Sequence[RemoteGroup],
    *,
    shared: bool,
) -> ListenerPlan:
    """Match wanted listeners with live ones.

    On a shared (reused) load balancer only listeners that use one of our
    ``groups`` are ours; a wanted port held by someone else's listener is an
    ``InvalidService``.
    """
    listeners = list(listeners)
    live = {li.key: li for li in listeners if li.protocol in LAYER4}
    # HTTP/HTTPS listeners are never ours (someone added them by hand): left alone, but
    # they hold their port for TCP too (TCP, HTTP and HTTPS share one port space).
    layer7 = {li.port: li.protocol for li in listeners if li.protocol not in LAYER4}
    group_ids = {group.group_id for group in groups}
    ours = {key: li for key, li in live.items() if not shared or li.group_id in group_ids}
    wanted_keys = {want.key for want in wanted}
    for key in sorted(wanted_keys):
        if key in live and key not in ours:
            raise InvalidService(
                f"listener {key[1]}/{key[0]} of load balancer {lb_id} is not managed by "
                "this Service; remove it or pick another port"
            )
        if key[0] == Protocol.TCP.value and key[1] in layer7:
            raise InvalidService(
                f"listener {key[1]}/{layer7[key[1]]} of load balancer {lb_id} is not managed "
                "by this Service and holds the port TCP needs; remove it or pick another port"
            )
    steps = tuple(
        ListenerStep(
            want=want,
            live=ours.get(want.key),
            group_id=pick_group(want, groups, ours.get(want.key)),
        )
        for want in wanted
    )
    return ListenerPlan(stale=tuple(sorted(set(ours) - wanted_keys)), steps=steps)


def pick_group(
    want: WantedListener, groups: Sequence[RemoteGroup], live: RemoteListener | None
) -> str | None:
    """The existing group for ``want``, or None when one must be created."""
    named = [group for group in groups if group.name == want.group_name]
    # Prefer the group the listener already uses (a crash may have left a twin).
    named.sort(key=lambda group: live is None or group.group_id != live.group_id)
    return named[0].group_id if named else None


def backend_diff(
    have: frozenset[BackendKey], want: frozenset[BackendKey]
) -> tuple[list[BackendKey], list[BackendKey]]:
    """``(to remove, to add)``, sorted."""
    return sorted(have - want), sorted(want - have)


def group_backends(want: WantedListener, owners: Mapping[str, str]) -> frozenset[BackendKey]:
    """The members ``want``'s group should hold, given Pod IP -> ENI ``owners``."""
    if not want.pod_mode:
        return want.backends
    return frozenset((owners[ip], port, "eni", ip) for ip, port in want.pods if ip in owners)


@dataclass(frozen=True, slots=True, kw_only=True)
class ListenerChange:
    """The calls one listener needs (all None/False: none)."""

    create: Mapping[str, Any] | None = None
    update: Mapping[str, Any] | None = None
    start: bool = False

    @property
    def writes(self) -> bool:
        return self.create is not None or self.update is not None or self.start


def _normalise(key: str, value: Any) -> Any:
    if key == "HealthCheckConnectPort":
        return 0 if value in TRAFFIC_PORT_REPORTED else int(value)
    if key in ("PersistenceTimeout", "Bandwidth"):
        return int(value) if value not in (None, "") else (0 if key == "PersistenceTimeout" else -1)
    if key == "HealthCheckType":
        return str(value or "tcp").lower()
    if key == "HealthCheck":
        return str(value or "on").lower()
    if key == "HealthCheckHttpCode":
        return ",".join(sorted(str(value or HTTP_2XX).split(",")))
    return "" if value is None else str(value)


REQUEST_NAMES = {"HealthCheck": "HealthCheckSwitch"}
"""Attributes Create/Set TCP and UDP listener calls spell apart from Describe's."""


def backend_port(want: WantedListener) -> int | None:
    """The one port every member of ``want``'s group listens on (None: several or none)."""
    ports = {port for _, port, _, _ in want.backends} | {port for _, port in want.pods}
    return next(iter(ports)) if len(ports) == 1 else None


def _same_connect_port(want: WantedListener, live: Any) -> bool:
    """Does the live HealthCheckConnectPort check where ``want`` asks?

    ``None`` wanted means "the backend port": a live explicit port equal to the group's one
    backend port checks the same place.  With several backend ports (Pods whose named
    port differs) an explicit live port cannot be reset through the API; it is left.
    """
    wanted = want.attrs.get("HealthCheckConnectPort")
    have = _normalise("HealthCheckConnectPort", live) or None
    if wanted is not None:
        return bool(have == wanted)
    if have is None:
        return True
    port = backend_port(want)
    return port is None or have == port


def differing_attrs(want: WantedListener, live: RemoteListener) -> tuple[str, ...]:
    """The wanted attributes ``live`` does not hold (compared in SLB's spellings)."""
    return tuple(
        key
        for key, value in want.attrs.items()
        if (
            not _same_connect_port(want, live.attrs.get(key))
            if key == "HealthCheckConnectPort"
            else _normalise(key, live.attrs.get(key)) != _normalise(key, value)
        )
    )


def _request_params(want: WantedListener, *, update: bool) -> dict[str, Any]:
    """``want``'s attributes as Create/Set*ListenerAttribute take them.

    An unset health-check port is left out (the backend port); on an update that must
    move an explicit port back, the group's one backend port is sent instead, never
    the -520 SLB reports (Set* takes 1-65535).
    """
    params: dict[str, Any] = {}
    for key, wanted in want.attrs.items():
        value = wanted
        if key == "HealthCheckConnectPort" and wanted is None:
            value = backend_port(want) if update else None
            if value is None:
                continue
        params[REQUEST_NAMES.get(key, key)] = value
    return params


def listener_change(
    want: WantedListener, group_id: str | None, live: RemoteListener | None
) -> ListenerChange:
    """Create (and start), update, or only start a listener; nothing when it matches.

    ``group_id`` None: the listener's group is created in the same sync (its id
    is not known yet, so the parameters leave ``VServerGroupId`` out).
    """
    group = {} if group_id is None else {"VServerGroupId": group_id}
    if live is None:
        return ListenerChange(create={**_request_params(want, update=False), **group}, start=True)
    changed = group_id is None or live.group_id != group_id or bool(differing_attrs(want, live))
    update = None
    if changed:
        params = _request_params(want, update=True)
        if _same_connect_port(want, live.attrs.get("HealthCheckConnectPort")):
            params.pop("HealthCheckConnectPort", None)  # unchanged: not resent
        update = {**params, "VServerGroup": "on", **group}
    return ListenerChange(update=update, start=live.status != "running")


def stale_groups(groups: Iterable[RemoteGroup], kept: set[str]) -> list[str]:
    """Our groups no wanted listener keeps (deleted after the listeners that used them)."""
    return [group.group_id for group in groups if group.group_id not in kept]


# -- the changes: what ensure applies and plan reports -------------------------------------
#
# One diff (:func:`sync_changes`) turns what was read into an ordered list of
# changes; ``ensure`` makes one call (or batch) per change, ``plan`` shows each
# change's :meth:`shown` lines.  A change always shows at least one line, so an
# empty plan means an ensure without writes, and nothing else.

MAX_SHOWN = 5  # backends listed in one planned change; the rest are counted
HEALTH_CHECK_ATTRS = frozenset(
    {
        "HealthCheck",
        "HealthCheckType",
        "HealthCheckURI",
        "HealthCheckConnectPort",
        "HealthCheckHttpCode",
    }
)


@dataclass(frozen=True, slots=True, kw_only=True)
class GroupRef:
    """The VServerGroup a listener change uses: an existing one, or the one this sync creates."""

    name: str
    group_id: str | None = None
    """None: the group a :class:`CreateGroup` earlier in the same list makes under ``name``."""


@dataclass(frozen=True, slots=True, kw_only=True)
class DeleteListener:
    """A listener of ours no Service port wants (deleted first: it frees its port and group)."""

    listener: ListenerKey

    def shown(self) -> tuple[PlannedChange, ...]:
        name = listener_name(self.listener)
        return (PlannedChange(action=ChangeAction.DELETE, kind="listener", name=name, before=name),)


@dataclass(frozen=True, slots=True, kw_only=True)
class CreateGroup:
    """A VServerGroup for ``listener``, created holding ``backends``."""

    listener: ListenerKey
    name: str
    backends: tuple[BackendKey, ...]

    def shown(self) -> tuple[PlannedChange, ...]:
        name = listener_name(self.listener)
        group = PlannedChange(
            action=ChangeAction.CREATE, kind="vserver group", name=name, after=self.name
        )
        if not self.backends:
            return (group,)
        members = PlannedChange(
            action=ChangeAction.CREATE,
            kind="backends",
            name=name,
            after=backends_text(self.backends),
        )
        return (group, members)


@dataclass(frozen=True, slots=True, kw_only=True)
class RemoveBackends:
    """Members of an existing group that should not be there."""

    listener: ListenerKey
    group_id: str
    backends: tuple[BackendKey, ...]

    def shown(self) -> tuple[PlannedChange, ...]:
        return (
            PlannedChange(
                action=ChangeAction.DELETE,
                kind="backends",
                name=listener_name(self.listener),
                before=backends_text(self.backends),
            ),
        )


@dataclass(frozen=True, slots=True, kw_only=True)
class AddBackends:
    """Members an existing group lacks."""

    listener: ListenerKey
    group_id: str
    backends: tuple[BackendKey, ...]

    def shown(self) -> tuple[PlannedChange, ...]:
        return (
            PlannedChange(
                action=ChangeAction.CREATE,
                kind="backends",
                name=listener_name(self.listener),
                after=backends_text(self.backends),
            ),
        )


@dataclass(frozen=True, slots=True, kw_only=True)
class CreateListener:
    """A listener to create on ``group`` and start."""

    listener: ListenerKey
    group: GroupRef
    params: Mapping[str, Any]
    """The create call's attributes (``VServerGroupId`` is the group's, resolved when applied)."""
    summary: str

    def shown(self) -> tuple[PlannedChange, ...]:
        return (
            PlannedChange(
                action=ChangeAction.CREATE,
                kind="listener",
                name=listener_name(self.listener),
                after=self.summary,
            ),
        )


@dataclass(frozen=True, slots=True, kw_only=True)
class SetListener:
    """A listener whose group or attributes differ from the wanted ones."""

    listener: ListenerKey
    group: GroupRef
    params: Mapping[str, Any]
    """The Set*ListenerAttribute call's attributes (``VServerGroupId`` resolved when applied)."""
    differences: tuple[PlannedChange, ...]
    """What differs, computed with the update itself (never empty)."""

    def shown(self) -> tuple[PlannedChange, ...]:
        return self.differences


@dataclass(frozen=True, slots=True, kw_only=True)
class StartListener:
    """A listener that exists but is not running."""

    listener: ListenerKey
    status: str

    def shown(self) -> tuple[PlannedChange, ...]:
        return (
            PlannedChange(
                action=ChangeAction.UPDATE,
                kind="listener",
                name=listener_name(self.listener),
                before=self.status or "stopped",
                after="running",
            ),
        )


@dataclass(frozen=True, slots=True, kw_only=True)
class DeleteGroup:
    """A group of ours no wanted listener keeps (deleted after the listeners that used it)."""

    group_id: str
    name: str

    def shown(self) -> tuple[PlannedChange, ...]:
        return (
            PlannedChange(
                action=ChangeAction.DELETE,
                kind="vserver group",
                name=_group_listener(self.name),
                before=self.group_id,
            ),
        )


Change = (
    DeleteListener
    | CreateGroup
    | RemoveBackends
    | AddBackends
    | CreateListener
    | SetListener
    | StartListener
    | DeleteGroup
)
"""One write ``ensure`` makes on an existing load balancer (a call, or a batch of calls)."""


def sync_changes(
    plan: ListenerPlan,
    groups: Sequence[RemoteGroup],
    held: Mapping[str, frozenset[BackendKey]],
    owners: Mapping[str, str],
) -> tuple[Change, ...]:
    """THE diff: the changes that make the load balancer's listeners, groups and backends
    match ``plan``'s wanted ones, in the order they must be applied; none when it matches.

    ``held`` is the members of every group ``plan`` keeps, ``owners`` Pod IP -> ENI.
    """
    changes: list[Change] = [DeleteListener(listener=key) for key in plan.stale]
    kept: set[str] = set()
    for step in plan.steps:
        want = step.want
        backends = group_backends(want, owners)
        if step.group_id is None:
            changes.append(
                CreateGroup(
                    listener=want.key, name=want.group_name, backends=tuple(sorted(backends))
                )
            )
            group = GroupRef(name=want.group_name)
        else:
            kept.add(step.group_id)
            group = GroupRef(name=want.group_name, group_id=step.group_id)
            remove, add = backend_diff(held[step.group_id], backends)
            # New members first: a full rotation never leaves the group empty.
            if add:
                changes.append(
                    AddBackends(listener=want.key, group_id=step.group_id, backends=tuple(add))
                )
            if remove:
                changes.append(
                    RemoveBackends(
                        listener=want.key, group_id=step.group_id, backends=tuple(remove)
                    )
                )
        changes.extend(_listener_changes(want, group, step.live))
    changes.extend(
        DeleteGroup(group_id=group.group_id, name=group.name)
        for group in groups
        if group.group_id not in kept
    )
    return tuple(changes)


def _listener_changes(
    want: WantedListener, group: GroupRef, live: RemoteListener | None
) -> list[Change]:
    change = listener_change(want, group.group_id, live)
    out: list[Change] = []
    if change.create is not None:
        summary = (
            f"{listener_text(want)} (health check {health_check_text(want.protocol, want.attrs)})"
        )
        out.append(
            CreateListener(listener=want.key, group=group, params=change.create, summary=summary)
        )
        return out  # applying a create starts the listener too
    if change.update is not None and live is not None:
        out.append(
            SetListener(
                listener=want.key,
                group=group,
                params=change.update,
                differences=_differences(want, group, live),
            )
        )
    if change.start and live is not None:
        out.append(StartListener(listener=want.key, status=live.status))
    return out


def _differences(
    want: WantedListener, group: GroupRef, live: RemoteListener
) -> tuple[PlannedChange, ...]:
    """The lines a listener update shows: its group, health check and other attributes."""
    name = listener_name(want.key)
    out: list[PlannedChange] = []
    if group.group_id is None or live.group_id != group.group_id:
        out.append(
            PlannedChange(
                action=ChangeAction.UPDATE,
                kind="listener",
                name=name,
                before=f"vserver group {live.group_id or '(none)'}",
                after=f"vserver group {group.group_id or group.name + ' (new)'}",
            )
        )
    keys = differing_attrs(want, live)
    if any(key in HEALTH_CHECK_ATTRS for key in keys):
        out.append(
            PlannedChange(
                action=ChangeAction.UPDATE,
                kind="health check",
                name=name,
                before=health_check_text(live.protocol, live.attrs),
                after=health_check_text(want.protocol, want.attrs),
            )
        )
    others = [key for key in keys if key not in HEALTH_CHECK_ATTRS]
    if others:
        out.append(
            PlannedChange(
                action=ChangeAction.UPDATE,
                kind="attribute",
                name=name,
                before=", ".join(f"{k}={_normalise(k, live.attrs.get(k))}" for k in others),
                after=", ".join(f"{k}={_normalise(k, want.attrs[k])}" for k in others),
            )
        )
    return tuple(out)


def planned(
    changes: Iterable[Change], *, create: NewLoadBalancer | None = None
) -> tuple[PlannedChange, ...]:
    """What ``plan`` reports: the load balancer to ``create`` (if any), then every change."""
    head: tuple[PlannedChange, ...] = ()
    if create is not None:
        after = " ".join(
            part for part in (create.address_type, create.address, create.spec) if part
        )
        head = (
            PlannedChange(
                action=ChangeAction.CREATE, kind="load balancer", name=create.name, after=after
            ),
        )
    return head + tuple(line for change in changes for line in change.shown())


def listener_name(key: ListenerKey) -> str:
    """``TCP:80``: how a listener is named in a plan."""
    return f"{key[0]}:{key[1]}"


def _group_listener(name: str) -> str:
    """``lbp/<uid>/TCP-80`` -> ``TCP:80``; another name as it is."""
    protocol, _, port = name.rpartition("/")[2].partition("-")
    return f"{protocol}:{port}" if protocol and port.isdigit() else name


def listener_text(want: WantedListener) -> str:
    """``TCP:80->30080``: the front port and the backend port(s) it forwards to."""
    ports = sorted({port for _, port, _, _ in want.backends} | {port for _, port in want.pods})
    name = listener_name(want.key)
    return f"{name}->{','.join(map(str, ports))}" if ports else name


def health_check_text(protocol: str, attrs: Mapping[str, Any]) -> str:
    """``HTTP:10256/healthz``, ``TCP:traffic-port``, ``UDP:traffic-port``; ``off`` when off."""
    if str(attrs.get("HealthCheck") or "on").lower() == "off":
        return "off"
    port = _normalise("HealthCheckConnectPort", attrs.get("HealthCheckConnectPort"))
    where = str(port) if port else "traffic-port"
    if protocol.upper() == "UDP":
        return f"UDP:{where}"
    if _normalise("HealthCheckType", attrs.get("HealthCheckType")) == "http":
        return f"HTTP:{where}{attrs.get('HealthCheckURI') or '/'}"
    return f"TCP:{where}"


def backends_text(backends: Sequence[BackendKey]) -> str:
    """``i-abc:30080, 10.0.1.5:8080``: an ECS instance by id, a Pod by its IP; at most a few."""
    shown = ", ".join(
        f"{ip if kind == 'eni' else server_id}:{port}"
        for server_id, port, kind, ip in backends[:MAX_SHOWN]
    )
    more = len(backends) - MAX_SHOWN
    return f"{shown} and {more} more" if more > 0 else shown


# -- Pod IPs and the ENIs that hold them --------------------------------------------------


def known_eni_owners(
    wanted: Sequence[WantedListener], held: Iterable[frozenset[BackendKey]]
) -> tuple[dict[str, str], list[str]]:
    """Pod IP -> ENI the groups already hold it with, and the wanted IPs still to look up.

    The remote state is the only memory (nothing is cached across syncs): an IP
    held with exactly one ENI keeps it, so an unchanged Service costs no lookup.
    """
    ips = {ip for want in wanted for ip, _ in want.pods}
    registered: dict[str, set[str]] = {}
    for keys in held:
        for server_id, _, kind, ip in keys:
            # ``eni-``: entries an older version made with the Pod IP as ServerId are redone.
            if kind == "eni" and ip in ips and server_id.startswith("eni-"):
                registered.setdefault(ip, set()).add(server_id)
    owners = {ip: next(iter(enis)) for ip, enis in registered.items() if len(enis) == 1}
    return owners, sorted(ips - set(owners), key=_ip_sort_key)


def resolve_eni_owners(
    unknown: Sequence[str], found: Mapping[str, set[str]], *, vpc_id: str | None
) -> tuple[dict[str, str], tuple[str, ...]]:
    """Owners of the looked-up IPs that exactly one ENI holds; warnings for the others."""
    owners = {ip: next(iter(enis)) for ip, enis in found.items() if len(enis) == 1}
    where = f" in VPC {vpc_id}" if vpc_id else ""
    warnings: list[str] = []
    orphans = [ip for ip in unknown if not found.get(ip)]
    if orphans:
        warnings.append(
            f"no in-use ENI{where} holds Pod IP(s) {_ip_list(orphans)}: those endpoints "
            "are not load balancer backends (is the Pod network ENI-based, e.g. Terway?)"
        )
    shared = [ip for ip in unknown if len(found.get(ip, ())) > 1]
    if shared:
        warnings.append(
            f"several ENIs{where} hold Pod IP(s) {_ip_list(shared)}: those endpoints are "
            "not load balancer backends (set the class setting vpc_id)"
        )
    return owners, tuple(warnings)


def _ip_sort_key(ip: str) -> tuple[int, int | str]:
    try:
        return (0, int(ipaddress.ip_address(ip)))
    except ValueError:
        return (1, ip)


def _ip_list(ips: Sequence[str]) -> str:
    shown = ", ".join(ips[:MAX_LISTED_IPS])
    more = len(ips) - MAX_LISTED_IPS
    return f"{shown} and {more} more" if more > 0 else shown


# -- status -------------------------------------------------------------------------------


def status(
    lb: RemoteLoadBalancer, ports: Iterable[PortStatus], warnings: Sequence[str] = ()
) -> LoadBalancerStatus:
    """The status a load balancer gives its Service (its VIP, when it has one)."""
    ingress = (Ingress(ip=lb.address, ip_mode="VIP", ports=tuple(ports)),) if lb.address else ()
    return LoadBalancerStatus(lb_id=lb.lb_id, ingress=ingress, warnings=tuple(warnings))


def served_ports(wanted: Iterable[WantedListener]) -> tuple[PortStatus, ...]:
    return tuple(PortStatus(port=want.port, protocol=Protocol(want.protocol)) for want in wanted)


def live_ports(
    listeners: Iterable[RemoteListener], groups: Sequence[RemoteGroup], *, shared: bool
) -> tuple[PortStatus, ...]:
    """Ports served now: every listener, or on a shared load balancer only ours."""
    group_ids = {group.group_id for group in groups}
    return tuple(
        PortStatus(port=li.port, protocol=Protocol(li.protocol))
        for li in listeners
        if li.protocol in LAYER4 and (not shared or li.group_id in group_ids)
    )
