"""Frozen values that cross the core/provider boundary.

The core builds a :class:`DesiredLoadBalancer` from a Service, its nodes and
its EndpointSlices (a pure function, ``lbprovider.controller.desired``); a
provider answers with a :class:`LoadBalancerStatus`.  Nothing here refers to
a Kubernetes client object: providers never import ``kubernetes``.
"""

from __future__ import annotations

import enum
from collections.abc import Mapping
from dataclasses import dataclass, field
from types import MappingProxyType


def _frozen_mapping(value: Mapping[str, str]) -> Mapping[str, str]:
    return MappingProxyType(dict(value))


class Protocol(enum.StrEnum):
    """Listener protocols a load balancer can carry (SCTP is refused by the core)."""

    TCP = "TCP"
    UDP = "UDP"


class BackendMode(enum.StrEnum):
    """Where traffic goes: node ports on instances, or Pod IPs directly."""

    NODE_PORT = "NodePort"
    """Each listener forwards to ``Listener.node_port`` on every node in ``nodes``."""
    POD_IP = "PodIP"
    """``allocateLoadBalancerNodePorts: false``: each listener forwards to its ``endpoints``."""


@dataclass(frozen=True, slots=True, kw_only=True)
class ServiceRef:
    """Which Service a load balancer belongs to.

    ``uid`` plus ``cluster`` identify the owner: providers find their cloud
    objects by the ownership tags built from them (``lbprovider.cloud.tags``),
    never by name alone.  ``annotations`` are the Service's, read-only, for
    cloud-specific settings (internal scheme, subnet, reused LB id, ...).
    """

    cluster: str
    namespace: str
    name: str
    uid: str
    annotations: Mapping[str, str] = field(default_factory=dict)

    def __post_init__(self) -> None:
        object.__setattr__(self, "annotations", _frozen_mapping(self.annotations))

    @property
    def key(self) -> str:
        """``namespace/name``, the form Kubernetes tools print."""
        return f"{self.namespace}/{self.name}"

    def annotation(self, name: str) -> str | None:
        """The annotation's value stripped of surrounding blanks, or None when unset."""
        value = self.annotations.get(name)
        return None if value is None else value.strip()


@dataclass(frozen=True, slots=True, kw_only=True, order=True)
class NodeTarget:
    """A node the load balancer may send node-port traffic to.

    ``provider_id`` is the node's ``spec.providerID`` (``aws:///zone/i-...``,
    ``<region>.i-...``, ``qcloud:///zone/ins-...``); a provider targets only
    nodes whose id it recognises as its own cloud's.
    """

    name: str
    provider_id: str
    address: str
    """The node's InternalIP ("" when it has none)."""


@dataclass(frozen=True, slots=True, kw_only=True, order=True)
class EndpointTarget:
    """A ready Pod endpoint (``allocateLoadBalancerNodePorts: false``)."""

    ip: str
    port: int


@dataclass(frozen=True, slots=True, kw_only=True)
class Listener:
    """One front-end port of the load balancer, mirroring one ``spec.ports`` entry."""

    name: str
    port: int
    protocol: Protocol
    node_port: int | None = None
    """The Service port's nodePort (set in NODE_PORT mode)."""
    endpoints: tuple[EndpointTarget, ...] = ()
    """Ready endpoints for this port, sorted (set in POD_IP mode)."""


@dataclass(frozen=True, slots=True, kw_only=True)
class HealthCheck:
    """An explicit health check (``externalTrafficPolicy: Local``).

    Without one, providers check the traffic port itself (TCP).
    """

    port: int
    path: str = "/healthz"
    protocol: str = "HTTP"


@dataclass(frozen=True, slots=True, kw_only=True)
class SessionAffinity:
    """``spec.sessionAffinity: ClientIP`` and its timeout."""

    timeout_seconds: int = 10800


@dataclass(frozen=True, slots=True, kw_only=True)
class DesiredLoadBalancer:
    """Everything a provider needs to make the cloud match one Service.

    Listeners are sorted by (port, protocol); TCP and UDP on the same port are
    two listeners and the provider decides how its cloud carries them (AWS:
    one ``TCP_UDP`` listener).
    """

    ref: ServiceRef
    listeners: tuple[Listener, ...]
    backend_mode: BackendMode = BackendMode.NODE_PORT
    nodes: tuple[NodeTarget, ...] = ()
    """Eligible nodes, sorted by name (NODE_PORT mode; empty in POD_IP mode)."""
    health_check: HealthCheck | None = None
    session_affinity: SessionAffinity | None = None
    requested_ip: str | None = None
    """``spec.loadBalancerIP``: a provider that cannot honour it says so in ``warnings``."""
    source_ranges: tuple[str, ...] = ()
    """``spec.loadBalancerSourceRanges`` (CIDRs); empty means everyone."""

    def nodes_of(self, prefix: str) -> tuple[NodeTarget, ...]:
        """The nodes whose providerID starts with ``prefix`` (a provider's own cloud)."""
        return tuple(node for node in self.nodes if node.provider_id.startswith(prefix))


@dataclass(frozen=True, slots=True, kw_only=True)
class PortStatus:
    """Per-port status (``status.loadBalancer.ingress[].ports``)."""

    port: int
    protocol: Protocol
    error: str | None = None
    """A CamelCase reason when this port is not served, as Kubernetes expects."""


@dataclass(frozen=True, slots=True, kw_only=True)
class Ingress:
    """One entry of ``status.loadBalancer.ingress``: an ip or a hostname."""

    ip: str | None = None
    hostname: str | None = None
    ip_mode: str | None = None
    """``VIP`` (traffic keeps the destination IP) or ``Proxy``; None for hostnames."""
    ports: tuple[PortStatus, ...] = ()


@dataclass(frozen=True, slots=True, kw_only=True)
class LoadBalancerStatus:
    """What a provider reports for a load balancer it found or ensured."""

    lb_id: str
    """The cloud's id for the load balancer (ARN, ``lb-...``), shown in the condition."""
    ingress: tuple[Ingress, ...]
    warnings: tuple[str, ...] = ()
    """Settings the provider could not honour; the core turns each into a Warning Event."""


class ChangeAction(enum.StrEnum):
    """What ``ensure`` would do to one cloud object."""

    CREATE = "create"
    UPDATE = "update"
    DELETE = "delete"


@dataclass(frozen=True, slots=True, kw_only=True)
class PlannedChange:
    """One change ``ensure`` would make, as ``lbprovider plan`` prints it.

    ``kind`` names the cloud object in the cloud's words (``listener``,
    ``target group``, ``vserver group``, ``backends``, ``health check``,
    ``security group rule``, ``attribute``, ``load balancer``); ``name`` which
    one (``TCP:80``); ``before``/``after`` the values that differ, short and
    human-readable ("" where the object does not exist on that side).
    """

    action: ChangeAction
    kind: str
    name: str
    before: str = ""
    after: str = ""


@dataclass(frozen=True, slots=True, kw_only=True)
class OwnedLoadBalancer:
    """A load balancer in the cloud that carries this cluster's ownership tags."""

    lb_id: str
    service_uid: str
    service_key: str
    """``namespace/name`` as tagged when it was created (the name may be reused since)."""

    def ref(self, cluster: str) -> ServiceRef:
        """The ServiceRef a ``delete`` of this load balancer needs."""
        namespace, _, name = self.service_key.partition("/")
        return ServiceRef(cluster=cluster, namespace=namespace, name=name, uid=self.service_uid)
