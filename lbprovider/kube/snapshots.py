"""Trimmed, frozen snapshots of the API objects the controller reads.

Informers keep these instead of the client's heavy generated models: they are
parsed straight from the JSON the API server sends, hold only what the
controller uses, and cannot be mutated by accident (sample-controller's rule:
never mutate the cache).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any


def _frozen(mapping: Mapping[str, str] | None) -> Mapping[str, str]:
    return MappingProxyType(dict(mapping or {}))


@dataclass(frozen=True, slots=True, kw_only=True)
class ObjectMeta:
    """The metadata fields the controller reads."""

    namespace: str
    name: str
    uid: str
    resource_version: str
    labels: Mapping[str, str] = field(default_factory=dict)
    annotations: Mapping[str, str] = field(default_factory=dict)
    finalizers: tuple[str, ...] = ()
    deleting: bool = False
    """``metadata.deletionTimestamp`` is set."""

    @property
    def key(self) -> str:
        """``namespace/name`` (``name`` for cluster-scoped objects)."""
        return f"{self.namespace}/{self.name}" if self.namespace else self.name

    @classmethod
    def parse(cls, raw: Mapping[str, Any]) -> ObjectMeta:
        """Build from an object's ``metadata`` dict."""
        return cls(
            namespace=raw.get("namespace", ""),
            name=raw["name"],
            uid=raw.get("uid", ""),
            resource_version=raw.get("resourceVersion", ""),
            labels=_frozen(raw.get("labels")),
            annotations=_frozen(raw.get("annotations")),
            finalizers=tuple(raw.get("finalizers") or ()),
            deleting=raw.get("deletionTimestamp") is not None,
        )


@dataclass(frozen=True, slots=True, kw_only=True)
class ServicePort:
    """One ``spec.ports`` entry."""

    name: str
    protocol: str
    port: int
    target_port: int | str | None
    node_port: int | None


@dataclass(frozen=True, slots=True, kw_only=True)
class ServiceSnapshot:
    """A Service as the controller sees it."""

    meta: ObjectMeta
    type: str
    load_balancer_class: str | None
    ports: tuple[ServicePort, ...]
    allocate_node_ports: bool
    external_traffic_policy: str
    health_check_node_port: int | None
    session_affinity: str
    session_affinity_timeout: int | None
    load_balancer_ip: str | None
    source_ranges: tuple[str, ...]
    status_ingress: tuple[Mapping[str, Any], ...]
    """``status.loadBalancer.ingress`` exactly as the API returned it."""
    status_conditions: tuple[Mapping[str, Any], ...]

    @property
    def key(self) -> str:
        """``namespace/name``."""
        return self.meta.key

    @classmethod
    def parse(cls, raw: Mapping[str, Any]) -> ServiceSnapshot:
        """Build from a Service's JSON."""
        spec = raw.get("spec") or {}
        status = raw.get("status") or {}
        affinity_config = (spec.get("sessionAffinityConfig") or {}).get("clientIP") or {}
        return cls(
            meta=ObjectMeta.parse(raw["metadata"]),
            type=spec.get("type", "ClusterIP"),
            load_balancer_class=spec.get("loadBalancerClass"),
            ports=tuple(
                ServicePort(
                    name=port.get("name", ""),
                    protocol=port.get("protocol", "TCP"),
                    port=int(port["port"]),
                    target_port=port.get("targetPort"),
                    node_port=port.get("nodePort"),
                )
                for port in spec.get("ports") or ()
            ),
            allocate_node_ports=spec.get("allocateLoadBalancerNodePorts", True) is not False,
            external_traffic_policy=spec.get("externalTrafficPolicy") or "Cluster",
            health_check_node_port=spec.get("healthCheckNodePort"),
            session_affinity=spec.get("sessionAffinity") or "None",
            session_affinity_timeout=affinity_config.get("timeoutSeconds"),
            load_balancer_ip=spec.get("loadBalancerIP") or None,
            source_ranges=tuple(spec.get("loadBalancerSourceRanges") or ()),
            status_ingress=tuple(
                MappingProxyType(entry)
                for entry in (status.get("loadBalancer") or {}).get("ingress") or ()
            ),
            status_conditions=tuple(
                MappingProxyType(entry) for entry in status.get("conditions") or ()
            ),
        )


@dataclass(frozen=True, slots=True, kw_only=True)
class NodeSnapshot:
    """A Node: what the load-balancer node rules look at."""

    meta: ObjectMeta
    provider_id: str
    internal_ip: str
    taint_keys: frozenset[str]
    ready: bool

    @property
    def key(self) -> str:
        """The node name."""
        return self.meta.name

    @classmethod
    def parse(cls, raw: Mapping[str, Any]) -> NodeSnapshot:
        """Build from a Node's JSON."""
        spec = raw.get("spec") or {}
        status = raw.get("status") or {}
        internal_ip = next(
            (
                address["address"]
                for address in status.get("addresses") or ()
                if address.get("type") == "InternalIP"
            ),
            "",
        )
        ready = any(
            condition.get("type") == "Ready" and condition.get("status") == "True"
            for condition in status.get("conditions") or ()
        )
        return cls(
            meta=ObjectMeta.parse(raw["metadata"]),
            provider_id=spec.get("providerID", ""),
            internal_ip=internal_ip,
            taint_keys=frozenset(taint.get("key", "") for taint in spec.get("taints") or ()),
            ready=ready,
        )


@dataclass(frozen=True, slots=True, kw_only=True)
class SlicePort:
    """One EndpointSlice port: the resolved number for a Service port name."""

    name: str
    protocol: str
    port: int | None


@dataclass(frozen=True, slots=True, kw_only=True)
class SliceEndpoint:
    """One EndpointSlice endpoint."""

    addresses: tuple[str, ...]
    ready: bool


@dataclass(frozen=True, slots=True, kw_only=True)
class EndpointSliceSnapshot:
    """An EndpointSlice, keyed to its Service by the ``kubernetes.io/service-name`` label."""

    meta: ObjectMeta
    service_name: str
    address_type: str
    ports: tuple[SlicePort, ...]
    endpoints: tuple[SliceEndpoint, ...]

    @property
    def key(self) -> str:
        """``namespace/name`` of the slice."""
        return self.meta.key

    @property
    def service_key(self) -> str:
        """``namespace/name`` of the Service it belongs to ("" when unlabelled)."""
        return f"{self.meta.namespace}/{self.service_name}" if self.service_name else ""

    @classmethod
    def parse(cls, raw: Mapping[str, Any]) -> EndpointSliceSnapshot:
        """Build from an EndpointSlice's JSON."""
        meta = ObjectMeta.parse(raw["metadata"])
        return cls(
            meta=meta,
            service_name=meta.labels.get("kubernetes.io/service-name", ""),
            address_type=raw.get("addressType", "IPv4"),
            ports=tuple(
                SlicePort(
                    name=port.get("name") or "",
                    protocol=port.get("protocol") or "TCP",
                    port=port.get("port"),
                )
                for port in raw.get("ports") or ()
            ),
            endpoints=tuple(
                SliceEndpoint(
                    addresses=tuple(endpoint.get("addresses") or ()),
                    # The API says an unset ready condition is to be read as ready.
                    ready=(endpoint.get("conditions") or {}).get("ready") is not False,
                )
                for endpoint in raw.get("endpoints") or ()
            ),
        )
