"""The Alibaba Cloud SLB provider: local model vs remote model, apply the difference.

One SLB instance per Service, found by its ownership tags (or reused through
the ``alibaba-cloud-loadbalancer-id`` annotation, and then never deleted).
Each Service port is one listener (TCP and UDP on the same port are two) with
its own VServerGroup named ``lbp/<service uid>/<PROTOCOL>-<port>``: that name
prefix is how our groups, and through them our listeners, are told apart on a
load balancer we share with others.  Backends are ECS instances on the node
port or, when the Service has no node ports, its Pod IPs as ENI backends:
``ServerId`` the ENI that holds the IP (ECS ``DescribeNetworkInterfaces``),
``ServerIp`` the Pod IP.  Only IPs the VServerGroups do not already hold with
an ENI are looked up, so an unchanged Service costs no ECS call either.
"""

from __future__ import annotations

import ipaddress
import logging
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from lbprovider.cloud import (
    BackendMode,
    DesiredLoadBalancer,
    Ingress,
    InvalidService,
    LoadBalancerStatus,
    PortStatus,
    Protocol,
    ProviderConfigError,
    ServiceRef,
)
from lbprovider.cloud.tags import is_owned_by, owner_filter, ownership_tags
from lbprovider_alibaba.annotations import LOADBALANCER_ID, LoadBalancerOptions, parse_options
from lbprovider_alibaba.client import RetryPolicy, SlbApi
from lbprovider_alibaba.settings import AlibabaSettings, load_credentials, parse_settings

log = logging.getLogger(__name__)

MAX_PERSISTENCE = 3600  # SLB's upper bound for TCP PersistenceTimeout
BACKEND_WEIGHT = 100
# SLB reports "check the backend port" as 0, -520 or nothing.
_TRAFFIC_PORT_VALUES = (None, "", 0, -520)
_NAME_RE = re.compile(r"[^A-Za-z0-9._/-]")

BackendKey = tuple[str, int, str, str]  # ServerId, Port, Type, ServerIp
PodTarget = tuple[str, int]  # Pod IP, target port
MAX_LISTED_IPS = 10  # in one warning; the rest are counted


@dataclass(frozen=True, slots=True, kw_only=True)
class _WantedListener:
    """One listener as the Service wants it."""

    protocol: str
    port: int
    group_name: str
    backends: frozenset[BackendKey]
    """Node-port backends (ENI backends are only known once ``pods`` are resolved)."""
    pods: frozenset[PodTarget] = frozenset()
    pod_mode: bool = False
    attrs: Mapping[str, Any]
    """Listener attributes compared with the cloud (VServerGroupId aside)."""


def group_prefix(ref: ServiceRef) -> str:
    """The VServerGroup name prefix that marks a group (and its listener) as this Service's."""
    return f"lbp/{ref.uid}/"


def _backend_body(key: BackendKey) -> dict[str, Any]:
    server_id, port, kind, ip = key
    body: dict[str, Any] = {
        "ServerId": server_id,
        "Port": port,
        "Weight": BACKEND_WEIGHT,
        "Type": kind,
    }
    if ip:
        body["ServerIp"] = ip
    return body


def _backend_key(item: Mapping[str, Any]) -> BackendKey:
    kind = str(item.get("Type") or "ecs")
    ip = str(item.get("ServerIp") or "") if kind == "eni" else ""
    return (str(item["ServerId"]), int(item["Port"]), kind, ip)


def _ip_sort_key(ip: str) -> tuple[int, int | str]:
    try:
        return (0, int(ipaddress.ip_address(ip)))
    except ValueError:
        return (1, ip)


def _ip_list(ips: Sequence[str]) -> str:
    shown = ", ".join(ips[:MAX_LISTED_IPS])
    more = len(ips) - MAX_LISTED_IPS
    return f"{shown} and {more} more" if more > 0 else shown


def _normalise(key: str, value: Any) -> Any:
    if key == "HealthCheckConnectPort":
        return 0 if value in _TRAFFIC_PORT_VALUES else int(value)
    if key in ("PersistenceTimeout", "Bandwidth"):
        return int(value) if value not in (None, "") else (0 if key == "PersistenceTimeout" else -1)
    if key == "HealthCheckType":
        return str(value or "tcp").lower()
    return "" if value is None else str(value)


def _listener_attrs(listener: Mapping[str, Any]) -> dict[str, Any]:
    """Top-level and per-protocol config of a DescribeLoadBalancerListeners item, merged."""
    config = listener.get("TCPListenerConfig") or listener.get("UDPListenerConfig") or {}
    return {**listener, **config}


class AlibabaProvider:
    """SLB load balancers for one configured class."""

    name = "alibaba"

    def __init__(self, *, settings: AlibabaSettings, cluster_name: str, api: SlbApi) -> None:
        self._settings = settings
        self._cluster = cluster_name
        self._api = api
        self._node_prefix = f"{settings.region}."

    # -- the contract --------------------------------------------------------------------
    def get(self, ref: ServiceRef) -> LoadBalancerStatus | None:
        reuse_id = self._reuse_id(ref)
        lb = self._api.describe_load_balancer(reuse_id) if reuse_id else self._find_owned(ref)
        if lb is None:
            return None
        lb_id = str(lb["LoadBalancerId"])
        ours = {g["VServerGroupId"] for g in self._our_groups(lb_id, ref)}
        ports = tuple(
            PortStatus(
                port=int(li["ListenerPort"]), protocol=Protocol(li["ListenerProtocol"].upper())
            )
            for li in self._api.describe_listeners(lb_id)
            if not reuse_id or li.get("VServerGroupId") in ours
        )
        return self._status(lb, ports, ())

    def ensure(self, desired: DesiredLoadBalancer) -> LoadBalancerStatus:
        ref = desired.ref
        options = parse_options(ref, self._settings)
        warnings: list[str] = []
        wanted = self._wanted(desired, warnings)
        if desired.source_ranges:
            warnings.append(
                "loadBalancerSourceRanges is not supported by the alibaba provider yet; "
                "the load balancer accepts traffic from everywhere"
            )
        if options.reuse_id is not None:
            lb = self._api.describe_load_balancer(options.reuse_id)
            if lb is None:
                raise InvalidService(
                    f"annotation {LOADBALANCER_ID}: load balancer {options.reuse_id} does not exist"
                )
            if desired.requested_ip and desired.requested_ip != lb.get("Address"):
                warnings.append(
                    f"loadBalancerIP {desired.requested_ip} ignored: the reused load balancer "
                    f"{options.reuse_id} has address {lb.get('Address')}"
                )
        else:
            lb = self._find_owned(ref)
            if lb is None:
                lb = self._create(desired, options, warnings)
            else:
                self._check_existing(lb, desired, options, warnings)
        lb_id = str(lb["LoadBalancerId"])
        self._sync(
            lb_id,
            ref,
            wanted,
            shared=options.reuse_id is not None,
            vpc_id=self._vpc_of(lb),
            warnings=warnings,
        )
        ports = tuple(PortStatus(port=w.port, protocol=Protocol(w.protocol)) for w in wanted)
        status = self._status(lb, ports, tuple(warnings))
        log.info("ensured load balancer", extra={"service": ref.key, "lb_id": lb_id})
        return status

    def update_backends(self, desired: DesiredLoadBalancer) -> None:
        ref = desired.ref
        reuse_id = self._reuse_id(ref)
        lb = self._api.describe_load_balancer(reuse_id) if reuse_id else self._find_owned(ref)
        if lb is None:
            return  # nothing to update; the next ensure() creates it
        warnings: list[str] = []
        self._sync(
            str(lb["LoadBalancerId"]),
            ref,
            self._wanted(desired, []),
            shared=reuse_id is not None,
            vpc_id=self._vpc_of(lb),
            warnings=warnings,
        )
        if warnings:  # no status to carry them: the next ensure() reports them
            log.warning(
                "updated backends with warnings", extra={"service": ref.key, "warnings": warnings}
            )

    def delete(self, ref: ServiceRef) -> None:
        reuse_id = self._reuse_id(ref)
        if reuse_id is not None and self._api.describe_load_balancer(reuse_id) is not None:
            # A reused load balancer is never deleted: only our listeners and groups go.
            self._sync(reuse_id, ref, [], shared=True, vpc_id=None, warnings=[])
        for lb in self._owned(ref):
            lb_id = str(lb["LoadBalancerId"])
            if lb_id == reuse_id:
                continue
            if lb.get("DeleteProtection") == "on":
                self._api.set_delete_protection(lb_id, enabled=False)
            self._api.delete_load_balancer(lb_id)
            log.info("deleted load balancer", extra={"service": ref.key, "lb_id": lb_id})

    # -- reading -------------------------------------------------------------------------
    @staticmethod
    def _reuse_id(ref: ServiceRef) -> str | None:
        return ref.annotation(LOADBALANCER_ID) or None

    def _vpc_of(self, lb: Mapping[str, Any]) -> str | None:
        """The VPC whose ENIs may back this load balancer (private IPs repeat across VPCs)."""
        return self._settings.vpc_id or str(lb.get("VpcId") or "") or None

    def _owned(self, ref: ServiceRef) -> list[dict[str, Any]]:
        found = self._api.find_load_balancers(owner_filter(ref))
        owned = [
            lb
            for lb in found
            if is_owned_by(
                {t["TagKey"]: t["TagValue"] for t in lb.get("Tags", {}).get("Tag", [])}, ref
            )
        ]
        return sorted(owned, key=lambda lb: (str(lb.get("CreateTime", "")), lb["LoadBalancerId"]))

    def _find_owned(self, ref: ServiceRef) -> dict[str, Any] | None:
        owned = self._owned(ref)
        if len(owned) > 1:
            log.warning(
                "several load balancers carry one service's tags; using the oldest",
                extra={"service": ref.key, "lb_ids": [lb["LoadBalancerId"] for lb in owned]},
            )
        return owned[0] if owned else None

    def _our_groups(self, lb_id: str, ref: ServiceRef) -> list[dict[str, Any]]:
        prefix = group_prefix(ref)
        return [
            g
            for g in self._api.describe_vserver_groups(lb_id)
            if str(g.get("VServerGroupName", "")).startswith(prefix)
        ]

    # -- the local model -----------------------------------------------------------------
    def _wanted(self, desired: DesiredLoadBalancer, warnings: list[str]) -> list[_WantedListener]:
        ref = desired.ref
        # providerID "<region>.i-...": other clouds and other regions are not ours to target.
        instance_ids = sorted(
            node.provider_id[len(self._node_prefix) :]
            for node in desired.nodes_of(f"{self._node_prefix}i-")
        )
        affinity = desired.session_affinity
        persistence = 0
        if affinity is not None:
            persistence = min(affinity.timeout_seconds, MAX_PERSISTENCE)
            if affinity.timeout_seconds > MAX_PERSISTENCE:
                warnings.append(
                    f"sessionAffinity ClientIP timeout {affinity.timeout_seconds}s exceeds "
                    f"SLB's maximum; using {MAX_PERSISTENCE}s"
                )
        health = desired.health_check if desired.backend_mode is BackendMode.NODE_PORT else None
        out: list[_WantedListener] = []
        for listener in desired.listeners:
            protocol = listener.protocol.value
            backends: set[BackendKey] = set()
            pods: frozenset[PodTarget] = frozenset()
            pod_mode = desired.backend_mode is BackendMode.POD_IP
            if pod_mode:
                # ENI backends; their ServerId (the ENI) is resolved against the cloud in _sync.
                pods = frozenset((e.ip, e.port) for e in listener.endpoints)
            elif listener.node_port is not None:
                backends = {(i, listener.node_port, "ecs", "") for i in instance_ids}
            attrs: dict[str, Any] = {"Bandwidth": -1}
            if protocol == "TCP":
                attrs["PersistenceTimeout"] = persistence
                if health is not None and health.protocol.upper() == "HTTP":
                    attrs["HealthCheckType"] = "http"
                    attrs["HealthCheckURI"] = health.path
                else:
                    attrs["HealthCheckType"] = "tcp"
                attrs["HealthCheckConnectPort"] = health.port if health is not None else 0
            else:
                attrs["HealthCheckConnectPort"] = 0
                if affinity is not None:
                    warnings.append(
                        f"sessionAffinity ClientIP is not available on SLB UDP listeners "
                        f"(port {listener.port}/UDP)"
                    )
                if health is not None:
                    warnings.append(
                        f"the HTTP health check of externalTrafficPolicy Local cannot be used "
                        f"by an SLB UDP listener (port {listener.port}/UDP); it checks the "
                        "traffic port"
                    )
            out.append(
                _WantedListener(
                    protocol=protocol,
                    port=listener.port,
                    group_name=f"{group_prefix(ref)}{protocol}-{listener.port}",
                    backends=frozenset(backends),
                    pods=pods,
                    pod_mode=pod_mode,
                    attrs=attrs,
                )
            )
        return out

    def _lb_name(self, ref: ServiceRef) -> str:
        return _NAME_RE.sub("-", f"k8s-{self._cluster}-{ref.namespace}-{ref.name}")[:80]

    def _create(
        self,
        desired: DesiredLoadBalancer,
        options: LoadBalancerOptions,
        warnings: list[str],
    ) -> dict[str, Any]:
        address = None
        if desired.requested_ip:
            if options.address_type == "intranet":
                address = desired.requested_ip
            else:
                warnings.append(
                    f"loadBalancerIP {desired.requested_ip} ignored: an internet SLB gets its "
                    "address from Alibaba Cloud"
                )
        intranet = options.address_type == "intranet"
        reply = self._api.create_load_balancer(
            name=self._lb_name(desired.ref),
            address_type=options.address_type,
            vpc_id=self._settings.vpc_id if intranet else None,
            vswitch_id=options.vswitch_id if intranet else None,
            spec=options.spec,
            address=address,
            tags=ownership_tags(desired.ref),
            delete_protection=self._settings.delete_protection,
        )
        log.info(
            "created load balancer",
            extra={"service": desired.ref.key, "lb_id": reply["LoadBalancerId"]},
        )
        return {**reply, "AddressType": options.address_type}

    def _check_existing(
        self,
        lb: Mapping[str, Any],
        desired: DesiredLoadBalancer,
        options: LoadBalancerOptions,
        warnings: list[str],
    ) -> None:
        if lb.get("AddressType") and lb["AddressType"] != options.address_type:
            raise InvalidService(
                f"load balancer {lb['LoadBalancerId']} is {lb['AddressType']}; the address type "
                "cannot change in place: recreate the Service to switch it"
            )
        if desired.requested_ip and desired.requested_ip != lb.get("Address"):
            warnings.append(
                f"loadBalancerIP {desired.requested_ip} ignored: load balancer "
                f"{lb['LoadBalancerId']} already has address {lb.get('Address')}"
            )
        if options.spec and lb.get("LoadBalancerSpec") and options.spec != lb["LoadBalancerSpec"]:
            warnings.append(
                f"load balancer spec {options.spec} not applied: changing the spec of an existing "
                f"load balancer ({lb['LoadBalancerSpec']}) is not supported yet"
            )

    @staticmethod
    def _status(
        lb: Mapping[str, Any], ports: tuple[PortStatus, ...], warnings: tuple[str, ...]
    ) -> LoadBalancerStatus:
        address = str(lb.get("Address") or "")
        ingress = (Ingress(ip=address, ip_mode="VIP", ports=ports),) if address else ()
        return LoadBalancerStatus(
            lb_id=str(lb["LoadBalancerId"]), ingress=ingress, warnings=warnings
        )

    # -- applying the difference ---------------------------------------------------------
    def _sync(
        self,
        lb_id: str,
        ref: ServiceRef,
        wanted: Sequence[_WantedListener],
        *,
        shared: bool,
        vpc_id: str | None,
        warnings: list[str],
    ) -> None:
        groups = self._our_groups(lb_id, ref)
        our_group_ids = {str(g["VServerGroupId"]) for g in groups}
        listeners = {
            (str(li["ListenerProtocol"]).upper(), int(li["ListenerPort"])): li
            for li in self._api.describe_listeners(lb_id)
        }
        ours = {
            key: li
            for key, li in listeners.items()
            if not shared or str(li.get("VServerGroupId", "")) in our_group_ids
        }
        wanted_keys = {(w.protocol, w.port) for w in wanted}
        for key in sorted(wanted_keys):
            if key in listeners and key not in ours:
                raise InvalidService(
                    f"listener {key[1]}/{key[0]} of load balancer {lb_id} is not managed by "
                    "this Service; remove it or pick another port"
                )
        # Stale listeners first: frees their ports and their groups.
        for key in sorted(set(ours) - wanted_keys):
            self._api.delete_listener(lb_id, key[0], key[1])
            del ours[key]

        # Read every group we keep first: what they hold tells which Pod IPs need a lookup.
        plans: list[tuple[_WantedListener, Mapping[str, Any] | None, str | None]] = []
        held: dict[str, set[BackendKey]] = {}
        for want in wanted:
            current = ours.get((want.protocol, want.port))
            group_id = self._pick_group(want, groups, current)
            if group_id is not None and group_id not in held:
                attribute = self._api.describe_vserver_group(group_id)
                held[group_id] = {
                    _backend_key(item)
                    for item in attribute.get("BackendServers", {}).get("BackendServer", [])
                }
            plans.append((want, current, group_id))
        owners = self._eni_owners(wanted, held.values(), vpc_id=vpc_id, warnings=warnings)

        kept: set[str] = set()
        for want, live, existing in plans:
            backends = want.backends
            if want.pod_mode:
                backends = frozenset(
                    (owners[ip], port, "eni", ip) for ip, port in want.pods if ip in owners
                )
            if existing is None:
                group_id = self._api.create_vserver_group(
                    lb_id,
                    want.group_name,
                    [_backend_body(k) for k in sorted(backends)],
                    ownership_tags(ref),
                )
            else:
                group_id = existing
                have = held[group_id]
                extra = sorted(have - backends)
                missing = sorted(backends - have)
                if extra:
                    self._api.remove_backends(group_id, [_backend_body(k) for k in extra])
                if missing:
                    self._api.add_backends(group_id, [_backend_body(k) for k in missing])
            kept.add(group_id)
            self._sync_listener(lb_id, want, group_id, live)

        for group in groups:
            if str(group["VServerGroupId"]) not in kept:
                self._api.delete_vserver_group(str(group["VServerGroupId"]))

    @staticmethod
    def _pick_group(
        want: _WantedListener,
        groups: Sequence[Mapping[str, Any]],
        current: Mapping[str, Any] | None,
    ) -> str | None:
        """The existing group for ``want``, or None when one must be created."""
        named = [g for g in groups if g.get("VServerGroupName") == want.group_name]
        # Prefer the group the listener already uses (a crash may have left a twin).
        named.sort(
            key=lambda g: current is None or g["VServerGroupId"] != current.get("VServerGroupId")
        )
        return str(named[0]["VServerGroupId"]) if named else None

    def _eni_owners(
        self,
        wanted: Sequence[_WantedListener],
        held: Iterable[set[BackendKey]],
        *,
        vpc_id: str | None,
        warnings: list[str],
    ) -> dict[str, str]:
        """Pod IP -> the ENI that holds it, for every wanted Pod IP that has exactly one.

        An IP the groups already hold with one ENI keeps it (the remote state is the
        only memory: nothing is cached across syncs); the others are looked up in one
        batched ECS call.  IPs no ENI (or several) holds are left out with a warning.
        """
        ips = {ip for want in wanted for ip, _ in want.pods}
        if not ips:
            return {}
        registered: dict[str, set[str]] = {}
        for keys in held:
            for server_id, _, kind, ip in keys:
                # ``eni-``: entries an older version made with the Pod IP as ServerId are redone.
                if kind == "eni" and ip in ips and server_id.startswith("eni-"):
                    registered.setdefault(ip, set()).add(server_id)
        owners = {ip: next(iter(enis)) for ip, enis in registered.items() if len(enis) == 1}
        unknown = sorted(ips - set(owners), key=_ip_sort_key)
        if not unknown:
            return owners
        found = self._api.find_enis(unknown, vpc_id=vpc_id)
        owners.update({ip: next(iter(enis)) for ip, enis in found.items() if len(enis) == 1})
        where = f" in VPC {vpc_id}" if vpc_id else ""
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
        log.info(
            "looked up the ENIs of pod IPs",
            extra={"ips": len(unknown), "found": len(unknown) - len(orphans) - len(shared)},
        )
        return owners

    def _sync_listener(
        self,
        lb_id: str,
        want: _WantedListener,
        group_id: str,
        current: Mapping[str, Any] | None,
    ) -> None:
        if current is None:
            params = {
                key: value
                for key, value in want.attrs.items()
                if not (key == "HealthCheckConnectPort" and value == 0)
            }
            self._api.create_listener(
                lb_id, want.protocol, want.port, {**params, "VServerGroupId": group_id}
            )
            self._api.start_listener(lb_id, want.protocol, want.port)
            return
        have = _listener_attrs(current)
        changed = str(current.get("VServerGroupId", "")) != group_id or any(
            _normalise(key, have.get(key)) != _normalise(key, value)
            for key, value in want.attrs.items()
        )
        if changed:
            params = {
                key: (-520 if key == "HealthCheckConnectPort" and value == 0 else value)
                for key, value in want.attrs.items()
            }
            self._api.set_listener(
                lb_id,
                want.protocol,
                want.port,
                {**params, "VServerGroup": "on", "VServerGroupId": group_id},
            )
        if str(current.get("Status", "")) != "running":
            self._api.start_listener(lb_id, want.protocol, want.port)


def create(settings: Mapping[str, Any], *, cluster_name: str) -> AlibabaProvider:
    """The ``lbprovider.providers`` entry point: validate settings, build the SDK client."""
    parsed = parse_settings(settings)
    if not cluster_name:
        raise ProviderConfigError("alibaba: cluster_name must not be empty")
    api = SlbApi(settings=parsed, credentials=load_credentials(parsed), retry=RetryPolicy())
    return AlibabaProvider(settings=parsed, cluster_name=cluster_name, api=api)
