"""State and rules of the mock: the account, SLB objects and the ECS ENIs behind them.

Everything is guarded by one lock.  The rules are the ones a real SLB enforces
and a provider can trip over: listener ports unique per protocol, NotFound
codes, backends that must exist (an ``eni`` backend names the ENI that holds
its ``ServerIp``), intranet needing a vSwitch, deletion protection.  Signatures
are ``auth.py``'s; counters, faults, latency and the clock are the mock-cloud
kit's (``lbprovider.mockkit``).  ECS is modelled only as far as SLB
backends need it: instances, each with a primary ENI, and secondary ENIs
holding Pod IPs (as Terway makes them), read through ``DescribeNetworkInterfaces``.
"""

from __future__ import annotations

import ipaddress
import json
import random
import re
import string
import threading
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from lbprovider.mockkit import MockClock
from lbprovider_alibaba.mock import exceptions as exc

API_VERSION = "2014-05-15"  # SLB
ECS_API_VERSION = "2014-05-26"


def _rand(prefix: str, length: int = 20) -> str:
    return prefix + "".join(random.choices(string.ascii_lowercase + string.digits, k=length))


@dataclass(slots=True, kw_only=True)
class Backend:
    """A VServerGroup member."""

    server_id: str
    port: int
    weight: int = 100
    type: str = "ecs"
    server_ip: str = ""

    def key(self) -> tuple[str, int, str]:
        # One ENI holds many Pod IPs: its backends differ by ServerIp too.
        return (self.server_id, self.port, self.server_ip if self.type == "eni" else "")

    def to_api(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "ServerId": self.server_id,
            "Port": self.port,
            "Weight": self.weight,
            "Type": self.type,
            "Description": "",
        }
        if self.server_ip:
            out["ServerIp"] = self.server_ip
        return out


@dataclass(slots=True, kw_only=True)
class VServerGroup:
    """A VServerGroup on one load balancer."""

    id: str
    lb_id: str
    name: str
    backends: list[Backend] = field(default_factory=list)
    tags: dict[str, str] = field(default_factory=dict)
    min_backends: int = 0
    """The fewest members the group held after any change since it was created (tests
    read it as ``MinServerCount``: did a rotation empty it for a moment?)."""

    def changed(self) -> None:
        self.min_backends = min(self.min_backends, len(self.backends))


@dataclass(slots=True, kw_only=True)
class Listener:
    """A TCP or UDP listener; ``config`` holds the attributes that Set* may change."""

    port: int
    protocol: str
    vserver_group_id: str
    status: str = "stopped"
    config: dict[str, Any] = field(default_factory=dict)


@dataclass(slots=True, kw_only=True)
class LoadBalancer:
    """A CLB instance."""

    id: str
    name: str
    address: str
    address_type: str
    vpc_id: str
    vswitch_id: str
    spec: str
    created: str
    instance_charge_type: str = "PayByCLCU"
    delete_protection: bool = False
    tags: dict[str, str] = field(default_factory=dict)
    listeners: dict[tuple[str, int], Listener] = field(default_factory=dict)

    @property
    def network_type(self) -> str:
        return "vpc" if self.vpc_id else "classic"


@dataclass(frozen=True, slots=True, kw_only=True)
class Instance:
    """A seeded ECS instance."""

    id: str
    private_ip: str


@dataclass(slots=True, kw_only=True)
class NetworkInterface:
    """An ENI: an instance's primary one, or a secondary one holding Pod IPs."""

    id: str
    vpc_id: str
    vswitch_id: str
    primary_ip: str
    secondary_ips: list[str] = field(default_factory=list)
    instance_id: str = ""
    type: str = "Secondary"
    created: str = ""

    @property
    def status(self) -> str:
        return "InUse" if self.instance_id else "Available"

    @property
    def private_ips(self) -> list[str]:
        return [self.primary_ip, *self.secondary_ips]

    def to_api(self, region: str) -> dict[str, Any]:
        digits = self.id.removeprefix("eni-").ljust(6, "0")
        return {
            "NetworkInterfaceId": self.id,
            "NetworkInterfaceName": "",
            "Description": "",
            "Status": self.status,
            "Type": self.type,
            "VpcId": self.vpc_id,
            "VSwitchId": self.vswitch_id,
            "ZoneId": f"{region}-h",
            "PrivateIpAddress": self.primary_ip,
            "MacAddress": "00:16:3e:" + ":".join(digits[i : i + 2] for i in (0, 2, 4)),
            "InstanceId": self.instance_id,
            "CreationTime": self.created,
            "ServiceManaged": False,
            "ResourceGroupId": "",
            "SecurityGroupIds": {"SecurityGroupId": []},
            "PrivateIpSets": {
                "PrivateIpSet": [
                    {"PrivateIpAddress": ip, "Primary": ip == self.primary_ip}
                    for ip in self.private_ips
                ]
            },
            "Ipv6Sets": {"Ipv6Set": []},
            "Tags": {"Tag": []},
        }


@dataclass(frozen=True, slots=True, kw_only=True)
class EniQuery:
    """The filters of one DescribeNetworkInterfaces call (empty: not filtered)."""

    ids: frozenset[str] = frozenset()
    private_ips: frozenset[str] = frozenset()
    vpc_id: str = ""
    vswitch_id: str = ""
    instance_id: str = ""
    type: str = ""
    status: str = ""
    primary_ip: str = ""

    def matches(self, eni: NetworkInterface) -> bool:
        return (
            (not self.ids or eni.id in self.ids)
            and (not self.private_ips or not self.private_ips.isdisjoint(eni.private_ips))
            and (not self.vpc_id or eni.vpc_id == self.vpc_id)
            and (not self.vswitch_id or eni.vswitch_id == self.vswitch_id)
            and (not self.instance_id or eni.instance_id == self.instance_id)
            and (not self.type or eni.type == self.type)
            and (not self.status or eni.status == self.status)
            and (not self.primary_ip or eni.primary_ip == self.primary_ip)
        )


# Listener attributes the mock keeps, with the defaults SLB applies.
_TCP_DEFAULTS: dict[str, Any] = {
    "Bandwidth": -1,
    "PersistenceTimeout": 0,
    "HealthCheck": "on",
    "HealthCheckType": "tcp",
    "HealthCheckURI": "",
    "HealthCheckHttpCode": "http_2xx",  # CreateLoadBalancerTCPListener: "http_2xx (default)"
    "HealthCheckDomain": "",
    "HealthCheckConnectPort": None,
    "HealthyThreshold": 3,
    "UnhealthyThreshold": 3,
    "HealthCheckInterval": 2,
    "HealthCheckConnectTimeout": 5,
    "Scheduler": "wrr",
    "Description": "",
}
_UDP_DEFAULTS: dict[str, Any] = {
    "Bandwidth": -1,
    "HealthCheck": "on",
    "HealthCheckReq": "",
    "HealthCheckExp": "",
    "HealthCheckConnectPort": None,
    "HealthyThreshold": 3,
    "UnhealthyThreshold": 3,
    "HealthCheckInterval": 2,
    "HealthCheckConnectTimeout": 5,
    "Scheduler": "wrr",
    "Description": "",
}
_INT_ATTRS = {
    "Bandwidth",
    "PersistenceTimeout",
    "HealthCheckConnectPort",
    "HealthyThreshold",
    "UnhealthyThreshold",
    "HealthCheckInterval",
    "HealthCheckConnectTimeout",
}
# HTTP/HTTPS listeners are only described (someone may add one by hand next to ours).
_LAYER7_DEFAULTS: dict[str, Any] = {
    "Bandwidth": -1,
    "HealthCheck": "on",
    "HealthCheckURI": "",
    "HealthCheckConnectPort": None,
    "StickySession": "off",
    "XForwardedFor": "on",
    "Scheduler": "wrr",
    "Description": "",
}
# Request spellings that differ from the attribute name Describe reports: TCP and UDP
# listener calls take HealthCheckSwitch (their request models), Describe says HealthCheck;
# the V1 SDK sends healthCheckInterval/Req/Exp in lower camel case on some calls.
_ALIASES = {
    "HealthCheckSwitch": "HealthCheck",
    "healthCheckInterval": "HealthCheckInterval",
    "healthCheckReq": "HealthCheckReq",
    "healthCheckExp": "HealthCheckExp",
}
_LAYER7 = ("HTTP", "HTTPS")
"""Protocols that share the frontend port space with TCP (UDP has its own)."""
TRAFFIC_PORT_REPORTED = -520
"""What Describe reports for a listener without HealthCheckConnectPort (the backend port).

Observed on real SLB, not in the field docs (which say only "the port that is used for
health checks"); Create/Set take 1-65535 only, so it is never a valid request value."""
# LoadBalancerName (CreateLoadBalancer field doc): 1-80 characters, letters, digits, ".",
# "_" and "-", starting with a letter.
_LB_NAME_RE = re.compile(r"^[A-Za-z][A-Za-z0-9._-]{0,79}$")
_HC_URI_RE = re.compile(r"^/[A-Za-z0-9\-/.%?#&]{1,79}$")
_HTTP_CODES = {"http_2xx", "http_3xx", "http_4xx", "http_5xx"}
_CHARGE_TYPES = ("PayBySpec", "PayByCLCU")


class SlbBackend:
    """The whole mock region: the account, VPC, ECS instances and SLB objects."""

    def __init__(
        self,
        *,
        region: str = "cn-hangzhou",
        credentials: Mapping[str, str] | None = None,
        vpc_id: str | None = None,
        vpc_cidr: str = "10.0.0.0/8",
        vswitch_id: str | None = None,
        vswitch_cidr: str = "10.0.1.0/24",
        instances: int = 2,
        clock: MockClock | None = None,
    ) -> None:
        self.lock = threading.RLock()
        self.region = region
        self.credentials = dict(credentials or {_rand("LTAI", 16): _rand("", 30)})
        self.vpc_id = vpc_id or _rand("vpc-")
        self.vpc_cidr = ipaddress.ip_network(vpc_cidr)
        self.vswitches = {vswitch_id or _rand("vsw-"): ipaddress.ip_network(vswitch_cidr)}
        hosts = list(ipaddress.ip_network(vswitch_cidr).hosts())
        self.clock = clock if clock is not None else MockClock()
        self.instances: dict[str, Instance] = {}
        self.enis: dict[str, NetworkInterface] = {}
        for n in range(instances):
            instance_id = _rand("i-bp")
            self.instances[instance_id] = Instance(id=instance_id, private_ip=str(hosts[9 + n]))
            primary = NetworkInterface(
                id=_rand("eni-bp"),
                vpc_id=self.vpc_id,
                vswitch_id=self.vswitch_id,
                primary_ip=str(hosts[9 + n]),
                instance_id=instance_id,
                type="Primary",
                created=self._stamp(),
            )
            self.enis[primary.id] = primary
        self.load_balancers: dict[str, LoadBalancer] = {}
        self.vserver_groups: dict[str, VServerGroup] = {}
        self.client_tokens: dict[str, str] = {}
        self._public_next = 1
        self.busy_window = 0.0
        """Seconds (mock clock) a load balancer stays "configuring" after a write; 0: off."""
        self._last_write: dict[str, float] = {}

    # -- "configuring": SLB applies a change for a short while after it is accepted -------
    def set_busy_window(self, seconds: float) -> None:
        """Admin: after each accepted write on a load balancer, answer ServiceIsConfiguring
        to the next writes on it for ``seconds`` of mock-clock time (0 turns it off)."""
        with self.lock:
            if seconds < 0:
                raise ValueError("the busy window cannot be negative")
            self.busy_window = float(seconds)
            self._last_write.clear()

    def _write(self, lb_id: str) -> None:
        """One write on ``lb_id`` (its listeners, groups or itself): refused while the
        previous one is still being applied, else it opens the window again.

        SLB's common errors: ServiceIsConfiguring, "A previous configuration is pending;
        please try again later."  How long it lasts is not published: the window is ours.
        """
        if self.busy_window <= 0:
            return
        now = self.clock.now()
        last = self._last_write.get(lb_id)
        if last is not None and now - last < self.busy_window:
            raise exc.ServiceIsConfiguring()
        self._last_write[lb_id] = now

    # -- test helpers --------------------------------------------------------------------
    @property
    def vswitch_id(self) -> str:
        return next(iter(self.vswitches))

    def _stamp(self, fmt: str = "%Y-%m-%dT%H:%M:%SZ") -> str:
        return datetime.fromtimestamp(self.clock.now(), UTC).strftime(fmt)

    def _used_ips(self) -> set[str]:
        with self.lock:
            used = {lb.address for lb in self.load_balancers.values()}
            used |= {i.private_ip for i in self.instances.values()}
            used |= {ip for eni in self.enis.values() for ip in eni.private_ips}
            return used

    def create_eni(
        self,
        ips: Sequence[str],
        *,
        instance_id: str | None = None,
        attach: bool = True,
        primary_ip: str | None = None,
        vswitch_id: str | None = None,
    ) -> NetworkInterface:
        """Test helper (admin): a secondary ENI holding ``ips`` as secondary private IPs.

        Like Terway's ENIs for Pods: in the vSwitch, attached (``InUse``) to
        ``instance_id`` (default: the first instance) unless ``attach`` is false.
        ``primary_ip`` defaults to the highest free address of the vSwitch.
        """
        with self.lock:
            vsw = vswitch_id or self.vswitch_id
            cidr = self.vswitches.get(vsw)
            if cidr is None:
                raise ValueError(f"unknown vSwitch {vsw}")
            owner = ""
            if attach:
                owner = instance_id or next(iter(self.instances), "")
                if owner not in self.instances:
                    raise ValueError(f"unknown instance {owner or '(none seeded)'}")
            used = self._used_ips()
            wanted = [str(ip) for ip in ips]
            if primary_ip is None:
                # From the top of the vSwitch: clear of instances, Pod IPs and intranet VIPs.
                taken = used | set(wanted)
                free = (str(h) for h in reversed(list(cidr.hosts())) if str(h) not in taken)
                primary_ip = next(free, None)
                if primary_ip is None:
                    raise ValueError("the vSwitch has no free address")
            for ip in [primary_ip, *wanted]:
                if ipaddress.ip_address(ip) not in cidr:
                    raise ValueError(f"{ip} is not in vSwitch {vsw} ({cidr})")
                if ip in used:
                    raise ValueError(f"{ip} is already used")
            if len({primary_ip, *wanted}) != len(wanted) + 1:
                raise ValueError("an address is given twice")
            eni = NetworkInterface(
                id=_rand("eni-bp"),
                vpc_id=self.vpc_id,
                vswitch_id=vsw,
                primary_ip=primary_ip,
                secondary_ips=wanted,
                instance_id=owner,
                created=self._stamp(),
            )
            self.enis[eni.id] = eni
            return eni

    def move_ips(self, ips: Sequence[str], eni_id: str) -> None:
        """Test helper (admin): unassign ``ips`` from their ENIs and assign them to ``eni_id``."""
        with self.lock:
            target = self.enis.get(eni_id)
            if target is None:
                raise ValueError(f"unknown ENI {eni_id}")
            for ip in ips:
                holder = next((e for e in self.enis.values() if ip in e.secondary_ips), None)
                if holder is None:
                    raise ValueError(f"{ip} is not a secondary IP of any ENI")
                holder.secondary_ips.remove(ip)
                target.secondary_ips.append(ip)

    def delete_eni(self, eni_id: str) -> None:
        """Test helper (admin): a secondary ENI goes away with its IPs."""
        with self.lock:
            eni = self.enis.get(eni_id)
            if eni is None or eni.type == "Primary":
                raise ValueError(f"no secondary ENI {eni_id}")
            del self.enis[eni_id]

    def resources(self) -> dict[str, int]:
        with self.lock:
            return {
                "load_balancers": len(self.load_balancers),
                "listeners": sum(len(lb.listeners) for lb in self.load_balancers.values()),
                "vserver_groups": len(self.vserver_groups),
            }

    def snapshot(self) -> dict[str, Any]:
        """The whole state as plain JSON data (for the admin interface and tests)."""
        with self.lock:
            return {
                "load_balancers": [self._lb_summary(lb) for lb in self.load_balancers.values()],
                "listeners": [
                    self._listener_api(lb, li)
                    for lb in self.load_balancers.values()
                    for li in lb.listeners.values()
                ],
                "vserver_groups": [
                    {
                        "VServerGroupId": g.id,
                        "VServerGroupName": g.name,
                        "LoadBalancerId": g.lb_id,
                        "BackendServers": [b.to_api() for b in g.backends],
                        "Tags": dict(g.tags),
                        "MinServerCount": g.min_backends,
                    }
                    for g in self.vserver_groups.values()
                ],
                "network_interfaces": [eni.to_api(self.region) for eni in self.enis.values()],
            }

    # -- lookups -------------------------------------------------------------------------
    def _lb(self, lb_id: str) -> LoadBalancer:
        lb = self.load_balancers.get(lb_id)
        if lb is None:
            raise exc.InvalidLoadBalancerIdNotFound()
        return lb

    def _group(self, group_id: str) -> VServerGroup:
        group = self.vserver_groups.get(group_id)
        if group is None:
            raise exc.VServerGroupNotFound()
        return group

    def _listener(self, lb: LoadBalancer, protocol: str, port: int) -> Listener:
        listener = lb.listeners.get((protocol, port))
        if listener is None:
            raise exc.ListenerNotFound()
        return listener

    def _protocol_of(self, lb: LoadBalancer, port: int, protocol: str | None) -> str:
        if protocol:
            return protocol.upper()
        # Without ListenerProtocol, SLB picks the only listener on that port.
        found = [proto for proto, p in lb.listeners if p == port]
        if len(found) != 1:
            raise exc.ListenerNotFound()
        return found[0]

    # -- load balancers ------------------------------------------------------------------
    def create_load_balancer(
        self,
        *,
        name: str,
        address_type: str,
        vpc_id: str,
        vswitch_id: str,
        spec: str,
        address: str,
        tags: Mapping[str, str],
        delete_protection: bool,
        client_token: str = "",
        instance_charge_type: str = "PayByCLCU",
    ) -> LoadBalancer:
        """A new instance (the request's default InstanceChargeType, PayBySpec, is applied
        by the wire handler; direct callers, tests and seeds, get PayByCLCU)."""
        with self.lock:
            # A repeated ClientToken (a retry after a lost reply) answers the same instance.
            known = self.load_balancers.get(self.client_tokens.get(client_token, ""))
            if client_token and known is not None:
                return known
            if address_type not in ("internet", "intranet"):
                raise exc.InvalidParameter("The specified AddressType is not valid.")
            if name and not _LB_NAME_RE.match(name):
                raise exc.InvalidParameter(
                    "The specified LoadBalancerName is not valid: 1 to 80 letters, digits, "
                    "periods, underscores and hyphens, starting with a letter."
                )
            # InstanceChargeType: PayBySpec (default) or PayByCLCU; LoadBalancerSpec:
            # required for PayBySpec (shared-resource instances are no longer sold), and
            # "invalid", not needed, with PayByCLCU: it is not applied then.
            charge = instance_charge_type
            if charge not in _CHARGE_TYPES:
                raise exc.IllegalParamInstanceChargeType()
            if charge == "PayBySpec" and not spec:
                raise exc.MissingParamLoadBalancerSpec()
            if charge == "PayByCLCU":
                spec = ""
            if vpc_id and vpc_id != self.vpc_id:
                raise exc.VpcIdNotFound()
            if vswitch_id and vswitch_id not in self.vswitches:
                raise exc.VSwitchIdNotFound()
            if address_type == "intranet":
                if not vswitch_id:
                    raise exc.VSwitchIdNotFound(
                        "An intranet load balancer needs a VSwitchId in a VPC."
                    )
                address = self._intranet_address(vswitch_id, address)
            else:
                if address:
                    raise exc.InvalidParameter(
                        "Address can only be specified for an intranet load balancer."
                    )
                address = f"47.96.{self._public_next // 250}.{self._public_next % 250 + 1}"
                self._public_next += 1
            lb = LoadBalancer(
                id=_rand("lb-", 22),
                name=name or _rand("auto_named_slb", 0),
                address=address,
                address_type=address_type,
                vpc_id=self.vpc_id if vswitch_id else vpc_id,
                vswitch_id=vswitch_id,
                spec=spec,
                created=self._stamp("%Y-%m-%dT%H:%MZ"),
                instance_charge_type=charge,
                delete_protection=delete_protection,
                tags=dict(tags),
            )
            self.load_balancers[lb.id] = lb
            self._write(lb.id)  # a new instance is still being set up
            if client_token:
                self.client_tokens[client_token] = lb.id
            return lb

    def _intranet_address(self, vswitch_id: str, address: str) -> str:
        cidr = self.vswitches[vswitch_id]
        taken = self._used_ips()
        if address:
            try:
                wanted = ipaddress.ip_address(address)
            except ValueError as error:
                raise exc.InvalidAddress("The specified Address is not valid.") from error
            if wanted not in cidr:
                raise exc.InvalidAddress()
            if address in taken:
                raise exc.AddressAlreadyUsed()
            return address
        for host in list(cidr.hosts())[100:]:
            if str(host) not in taken:
                return str(host)
        raise exc.InvalidParameter("The vSwitch has no free address.")

    def describe_load_balancers(
        self,
        *,
        ids: list[str],
        tags: Mapping[str, str],
        address_type: str,
        page: int,
        size: int,
    ) -> tuple[list[dict[str, Any]], int]:
        with self.lock:
            found = [
                lb
                for lb in self.load_balancers.values()
                if (not ids or lb.id in ids)
                and all(lb.tags.get(k) == v for k, v in tags.items())
                and (not address_type or lb.address_type == address_type)
            ]
            chunk = found[(page - 1) * size : page * size]
            return [self._lb_summary(lb) for lb in chunk], len(found)

    def _lb_summary(self, lb: LoadBalancer) -> dict[str, Any]:
        return {
            "LoadBalancerId": lb.id,
            "LoadBalancerName": lb.name,
            "LoadBalancerStatus": "active",
            "Address": lb.address,
            "AddressType": lb.address_type,
            "AddressIPVersion": "ipv4",
            "RegionId": self.region,
            "RegionIdAlias": self.region,
            "VpcId": lb.vpc_id,
            "VSwitchId": lb.vswitch_id,
            "NetworkType": lb.network_type,
            "LoadBalancerSpec": lb.spec,
            "InstanceChargeType": lb.instance_charge_type,
            "DeleteProtection": "on" if lb.delete_protection else "off",
            "CreateTime": lb.created,
            "PayType": "PayOnDemand",
            "InternetChargeType": "paybytraffic",
            "Tags": {"Tag": [{"TagKey": k, "TagValue": v} for k, v in lb.tags.items()]},
        }

    def describe_load_balancer_attribute(self, lb_id: str) -> dict[str, Any]:
        with self.lock:
            lb = self._lb(lb_id)
            out = self._lb_summary(lb)
            del out["Tags"]  # the attribute call does not carry tags on SLB
            ordered = sorted(lb.listeners.values(), key=lambda li: (li.port, li.protocol))
            out["ListenerPorts"] = {"ListenerPort": sorted({li.port for li in ordered})}
            out["ListenerPortsAndProtocol"] = {
                "ListenerPortAndProtocol": [
                    {"ListenerPort": li.port, "ListenerProtocol": li.protocol.lower()}
                    for li in ordered
                ]
            }
            out["BackendServers"] = {"BackendServer": []}
            return out

    def set_delete_protection(self, lb_id: str, value: str) -> None:
        if value not in ("on", "off"):
            raise exc.InvalidParameter("The specified DeleteProtection is not valid.")
        with self.lock:
            self._lb(lb_id)
            self._write(lb_id)
            self._lb(lb_id).delete_protection = value == "on"

    def delete_load_balancer(self, lb_id: str) -> None:
        with self.lock:
            lb = self._lb(lb_id)
            if lb.delete_protection:
                raise exc.DeleteProtectionEnabled()
            self._write(lb_id)
            del self.load_balancers[lb_id]
            self._last_write.pop(lb_id, None)
            for group_id in [g.id for g in self.vserver_groups.values() if g.lb_id == lb_id]:
                del self.vserver_groups[group_id]

    # -- tags ----------------------------------------------------------------------------
    def tag_resources(self, resource_ids: list[str], tags: Mapping[str, str]) -> None:
        with self.lock:
            lbs = [self._lb(i) for i in resource_ids]
            for lb in lbs:
                lb.tags.update(tags)

    def list_tag_resources(
        self, resource_ids: list[str], tags: Mapping[str, str]
    ) -> list[dict[str, str]]:
        with self.lock:
            if not resource_ids and not tags:
                raise exc.MissingParameter("ResourceId")
            out: list[dict[str, str]] = []
            for lb in self.load_balancers.values():
                if resource_ids and lb.id not in resource_ids:
                    continue
                if not all(lb.tags.get(k) == v for k, v in tags.items()):
                    continue
                out.extend(
                    {"ResourceId": lb.id, "ResourceType": "instance", "TagKey": k, "TagValue": v}
                    for k, v in lb.tags.items()
                )
            return out

    # -- vserver groups ------------------------------------------------------------------
    def _check_backends(self, backends: list[Backend], held: list[Backend] | None = None) -> None:
        """``backends`` must exist and not repeat one another or the ``held`` members."""
        seen: set[tuple[str, int, str]] = {b.key() for b in held or ()}
        for backend in backends:
            if not 1 <= backend.port <= 65535:
                raise exc.InvalidParameter("The specified Port of a backend server is not valid.")
            if not 0 <= backend.weight <= 100:
                raise exc.InvalidParameter("The specified Weight is not valid.")
            if backend.key() in seen:
                raise exc.BackendServerDuplicated()
            seen.add(backend.key())
            if backend.type == "ecs":
                instance = self.instances.get(backend.server_id)
                if instance is None:
                    raise exc.BackendServerNotExist(
                        f"The specified backend server {backend.server_id} does not exist."
                    )
                if backend.server_ip and backend.server_ip != instance.private_ip:
                    raise exc.InvalidParameter("The ServerIp does not belong to the instance.")
            elif backend.type == "eni":
                # ServerId is the ENI, ServerIp one of its private IPs (a Pod IP).
                eni = self.enis.get(backend.server_id)
                if eni is None or eni.vpc_id != self.vpc_id:
                    raise exc.BackendServerNotExist(
                        f"The specified backend server {backend.server_id} does not exist."
                    )
                if not backend.server_ip:
                    raise exc.MissingParameter("BackendServers.ServerIp")
                if backend.server_ip not in eni.private_ips:
                    raise exc.InvalidParameter(
                        f"The ServerIp {backend.server_ip} does not belong to the network "
                        f"interface {eni.id}."
                    )
            else:
                raise exc.InvalidParameter("The specified Type of a backend server is not valid.")

    def create_vserver_group(
        self, lb_id: str, name: str, backends: list[Backend], tags: Mapping[str, str]
    ) -> VServerGroup:
        with self.lock:
            self._lb(lb_id)
            self._check_backends(backends)
            self._write(lb_id)
            group = VServerGroup(
                id=_rand("rsp-", 14),
                lb_id=lb_id,
                name=name,
                backends=backends,
                tags=dict(tags),
                min_backends=len(backends),
            )
            self.vserver_groups[group.id] = group
            return group

    def describe_vserver_groups(self, lb_id: str) -> list[dict[str, Any]]:
        with self.lock:
            lb = self._lb(lb_id)
            out = []
            for group in self.vserver_groups.values():
                if group.lb_id != lb_id:
                    continue
                users = [
                    {"Port": li.port, "Protocol": li.protocol.lower()}
                    for li in lb.listeners.values()
                    if li.vserver_group_id == group.id
                ]
                out.append(
                    {
                        "VServerGroupId": group.id,
                        "VServerGroupName": group.name,
                        "ServerCount": len(group.backends),
                        "AssociatedObjects": {"Listeners": {"Listener": users}},
                        "Tags": {
                            "Tag": [{"TagKey": k, "TagValue": v} for k, v in group.tags.items()]
                        },
                    }
                )
            return out

    def describe_vserver_group(self, group_id: str) -> VServerGroup:
        with self.lock:
            group = self._group(group_id)
            return VServerGroup(
                id=group.id,
                lb_id=group.lb_id,
                name=group.name,
                backends=list(group.backends),
                tags=dict(group.tags),
            )

    def add_backends(self, group_id: str, backends: list[Backend]) -> VServerGroup:
        with self.lock:
            group = self._group(group_id)
            self._check_backends(backends, group.backends)
            self._write(group.lb_id)
            group.backends.extend(backends)
            group.changed()
            return group

    def remove_backends(self, group_id: str, backends: list[Backend]) -> VServerGroup:
        with self.lock:
            group = self._group(group_id)
            drop = {b.key() for b in backends}
            present = {b.key() for b in group.backends}
            if not drop <= present:
                raise exc.BackendServerNotExist(
                    "The specified backend server is not in the VServerGroup."
                )
            self._write(group.lb_id)
            group.backends = [b for b in group.backends if b.key() not in drop]
            group.changed()
            return group

    def delete_vserver_group(self, group_id: str) -> None:
        with self.lock:
            group = self._group(group_id)
            lb = self.load_balancers.get(group.lb_id)
            if lb is not None and any(
                li.vserver_group_id == group_id for li in lb.listeners.values()
            ):
                raise exc.RspoolVipExist()
            if lb is not None:
                self._write(lb.id)
            del self.vserver_groups[group_id]

    # -- ECS network interfaces ----------------------------------------------------------
    def describe_network_interfaces(
        self, query: EniQuery, *, offset: int, size: int
    ) -> tuple[list[dict[str, Any]], int]:
        """One page (from ``offset``) of the ENIs matching ``query``, and how many match."""
        with self.lock:
            found = [eni for eni in self.enis.values() if query.matches(eni)]
            return [eni.to_api(self.region) for eni in found[offset : offset + size]], len(found)

    # -- listeners -----------------------------------------------------------------------
    @staticmethod
    def _listener_config(protocol: str, params: Mapping[str, str], base: dict[str, Any]) -> None:
        defaults = {"TCP": _TCP_DEFAULTS, "UDP": _UDP_DEFAULTS}.get(protocol, _LAYER7_DEFAULTS)
        for raw_key, value in params.items():
            key = _ALIASES.get(raw_key, raw_key)
            if key not in defaults and key != "HealthCheckConnectPort":
                continue
            if key in _INT_ATTRS:
                try:
                    base[key] = int(value)
                except ValueError as error:
                    raise exc.InvalidParameter(f"The specified {key} is not valid.") from error
            else:
                base[key] = value
        port = base.get("HealthCheckConnectPort")
        # Create/Set*ListenerAttribute: HealthCheckConnectPort "Valid values: 1 to 65535"
        # (unset: the backend port).  -520 is what Describe reports, not a request value.
        if port is not None and not 1 <= port <= 65535:
            raise exc.InvalidParameter("The specified HealthCheckConnectPort is not valid.")
        if base.get("PersistenceTimeout", 0) not in range(3601):
            raise exc.InvalidParameter("The specified PersistenceTimeout is not valid.")
        if base["HealthCheck"] not in ("on", "off"):
            raise exc.InvalidParameter("The specified HealthCheckSwitch is not valid.")
        if protocol != "TCP":
            return
        if base["HealthCheckType"] not in ("tcp", "http"):
            raise exc.InvalidParameter("The specified HealthCheckType is not valid.")
        uri = str(base.get("HealthCheckURI") or "")
        # HealthCheckURI: 1-80 characters, starts with "/" but is not "/" alone.
        if uri and (uri == "/" or not _HC_URI_RE.match(uri)):
            raise exc.InvalidParameter("The specified HealthCheckURI is not valid.")
        # HealthCheckHttpCode: http_2xx..http_5xx, several separated by commas.
        codes = str(base.get("HealthCheckHttpCode") or "http_2xx").split(",")
        if not set(codes) <= _HTTP_CODES:
            raise exc.InvalidParameter("The specified HealthCheckHttpCode is not valid.")

    def create_listener(
        self,
        lb_id: str,
        protocol: str,
        port: int,
        vserver_group_id: str,
        params: Mapping[str, str],
    ) -> None:
        with self.lock:
            lb = self._lb(lb_id)
            if not 1 <= port <= 65535:
                raise exc.InvalidParameter("The specified ListenerPort is not valid.")
            # TCP, HTTP and HTTPS listeners share the frontend ports; UDP has its own.
            clash = (
                {(protocol, port)}
                if protocol == "UDP"
                else {(proto, port) for proto in ("TCP", *_LAYER7)}
            )
            if clash & set(lb.listeners):
                raise exc.ListenerAlreadyExists()
            if vserver_group_id:
                group = self._group(vserver_group_id)
                if group.lb_id != lb_id:
                    raise exc.VServerGroupNotFound()
            elif "BackendServerPort" not in params:
                raise exc.MissingParameter("BackendServerPort")
            defaults = {"TCP": _TCP_DEFAULTS, "UDP": _UDP_DEFAULTS}.get(protocol, _LAYER7_DEFAULTS)
            config = dict(defaults)
            self._listener_config(protocol, params, config)
            self._write(lb_id)
            lb.listeners[(protocol, port)] = Listener(
                port=port, protocol=protocol, vserver_group_id=vserver_group_id, config=config
            )

    def set_listener(self, lb_id: str, protocol: str, port: int, params: Mapping[str, str]) -> None:
        with self.lock:
            lb = self._lb(lb_id)
            listener = self._listener(lb, protocol, port)
            group_id = params.get("VServerGroupId", "")
            if group_id:
                group = self._group(group_id)
                if group.lb_id != lb_id:
                    raise exc.VServerGroupNotFound()
            config = dict(listener.config)
            self._listener_config(protocol, params, config)
            self._write(lb_id)
            listener.config = config
            if group_id:
                listener.vserver_group_id = group_id

    def listener_action(self, lb_id: str, port: int, protocol: str | None, verb: str) -> None:
        with self.lock:
            lb = self._lb(lb_id)
            proto = self._protocol_of(lb, port, protocol)
            listener = self._listener(lb, proto, port)
            self._write(lb_id)
            if verb == "start":
                listener.status = "running"
            elif verb == "stop":
                listener.status = "stopped"
            else:
                del lb.listeners[(proto, port)]

    def describe_listeners(
        self, lb_ids: list[str], protocol: str, port: int | None
    ) -> list[dict[str, Any]]:
        with self.lock:
            if not lb_ids:
                raise exc.MissingParameter("LoadBalancerId")
            out = []
            for lb_id in lb_ids:
                lb = self._lb(lb_id)
                for listener in sorted(
                    lb.listeners.values(), key=lambda li: (li.port, li.protocol)
                ):
                    if protocol and listener.protocol != protocol.upper():
                        continue
                    if port is not None and listener.port != port:
                        continue
                    out.append(self._listener_api(lb, listener))
            return out

    @staticmethod
    def _listener_api(lb: LoadBalancer, listener: Listener) -> dict[str, Any]:
        config = dict(listener.config)
        if config.get("HealthCheckConnectPort") is None:
            config["HealthCheckConnectPort"] = TRAFFIC_PORT_REPORTED
        out: dict[str, Any] = {
            "LoadBalancerId": lb.id,
            "ListenerPort": listener.port,
            "ListenerProtocol": listener.protocol.lower(),
            "Status": listener.status,
            "VServerGroupId": listener.vserver_group_id,
            "Bandwidth": config.pop("Bandwidth"),
            "Scheduler": config.pop("Scheduler"),
            "Description": config.pop("Description"),
        }
        out[f"{listener.protocol}ListenerConfig"] = config
        return out


def parse_tags_json(raw: str) -> dict[str, str]:
    """``[{"TagKey":"k","TagValue":"v"}, ...]`` (DescribeLoadBalancers' Tags) to a dict."""
    try:
        items = json.loads(raw)
    except ValueError as error:
        raise exc.InvalidParameter("The specified Tags is not valid JSON.") from error
    if isinstance(items, dict):
        items = [items]
    if not isinstance(items, list):
        raise exc.InvalidParameter("The specified Tags is not valid.")
    out: dict[str, str] = {}
    for item in items:
        if not isinstance(item, dict) or "TagKey" not in item:
            raise exc.InvalidParameter("The specified Tags is not valid.")
        out[str(item["TagKey"])] = str(item.get("TagValue", ""))
    return out
