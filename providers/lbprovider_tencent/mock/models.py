"""State and rules of the mock CLB: load balancers, listeners, targets, async tasks.

``ClbBackend`` is the whole mock cloud: one region, one seeded VPC and subnet,
seeded CVM instances, the credentials it accepts, and the CLB objects created
through the API, plus the task knobs only CLB has (held or failed tasks).
Signatures (``auth``), counters, faults, latency and the clock are the
mock-cloud kit's.

Writes are asynchronous like the real CLB: a write is validated at once, then
applied when its task completes (``task_delay`` seconds later by the kit's
injectable clock, unless held); while a task runs, any other write on the
same load balancer fails with ``FailedOperation.ResourceInOperating``.  Tasks
advance lazily, on each call, so a test advances the clock instead of sleeping.
"""

from __future__ import annotations

import ipaddress
import itertools
import random
import re
import string
import threading
import uuid
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from lbprovider.mockkit import MockClock
from lbprovider_tencent.mock import exceptions as exc

API_VERSION = "2018-03-17"
TASK_RUNNING, TASK_SUCCEEDED, TASK_FAILED = 2, 0, 1
LB_CREATING, LB_NORMAL = 0, 1
PROTOCOLS = ("TCP", "UDP", "TCP_SSL", "HTTP", "HTTPS", "QUIC")
LB_NAME_MAX = 80
"""CreateLoadBalancer.LoadBalancerName: "1-80 个英文字母, 汉字等..." (api.json)."""
DESCRIBE_TARGETS_LISTENERS_MAX = 20
"""DescribeTargets.ListenerIds: "ID 数量上限为20个" (api.json)."""
BATCH_TARGETS_MAX = 500
"""Batch(De)RegisterTargets: "批量绑定的资源数量上限为500" (api.json, action docs)."""
FORCE_DELETE_TARGETS = 20
"""DeleteLoadBalancer.ForceDelete: a CLB with >= 20 bound backends is not deleted without
``ForceDelete: true`` (api.json; error FailedOperation.TargetNumCheckRisk, SDK errorcodes)."""
CHECK_TYPES = {
    # HealthCheck.CheckType (api.json): "UDP监听器支持PING/CUSTOM, TCP监听器支持TCP/HTTP/CUSTOM,
    # TCP_SSL/QUIC监听器支持TCP/HTTP"; "TCP, TCP_SSL, QUIC监听器默认值为TCP;UDP监听器默认为PING".
    "TCP": ("TCP", "HTTP", "CUSTOM"),
    "UDP": ("PING", "CUSTOM"),
    "TCP_SSL": ("TCP", "HTTP"),
    "QUIC": ("TCP", "HTTP"),
}
HEALTH_CHECK_DEFAULTS: dict[str, Any] = {
    # HealthCheck field docs (api.json): on by default, TimeOut 2, IntervalTime 5, HealthNum 3,
    # UnHealthNum 3, CheckPort = the backend port (read back as null).
    "HealthSwitch": 1,
    "TimeOut": 2,
    "IntervalTime": 5,
    "HealthNum": 3,
    "UnHealthNum": 3,
    "CheckPort": None,
}
HEALTH_CHECK_RANGES = {
    # HealthCheck field docs (api.json): "可选值: 2~60", "取值范围为: 2-300", "可选值: 2~10",
    # HttpCode "可选值: 1~31".
    "HealthSwitch": (0, 1),
    "TimeOut": (2, 60),
    "IntervalTime": (2, 300),
    "HealthNum": (2, 10),
    "UnHealthNum": (2, 10),
    "HttpCode": (1, 31),
}
_CHECK_DOMAIN = re.compile(r"^[a-z0-9.-]{1,80}$")
"""Health check domain: 1-80 of a-z 0-9 . - (CLB console guide "Configuring Health Check",
https://www.tencentcloud.com/document/product/214/39251)."""


@dataclass(frozen=True, slots=True, kw_only=True)
class Instance:
    """A seeded CVM instance."""

    instance_id: str
    node_name: str
    zone: str
    private_ip: str


@dataclass(slots=True, kw_only=True)
class TargetState:
    """One registered backend: a CVM instance or an ENI IP, with a port."""

    instance_id: str = ""
    eni_ip: str = ""
    port: int
    weight: int = 10

    @property
    def key(self) -> tuple[str, str, int]:
        return (self.instance_id, self.eni_ip, self.port)


@dataclass(slots=True, kw_only=True)
class ListenerState:
    """A layer-4 listener and its targets."""

    listener_id: str
    name: str
    port: int
    protocol: str
    session_expire_time: int = 0
    health_check: dict[str, Any] = field(default_factory=dict)
    targets: list[TargetState] = field(default_factory=list)
    created: str = ""


@dataclass(slots=True, kw_only=True)
class LoadBalancerState:
    """A CLB instance."""

    lb_id: str
    name: str
    lb_type: str
    vpc_id: str
    subnet_id: str
    vips: list[str]
    tags: dict[str, str]
    status: int = LB_CREATING
    listeners: dict[str, ListenerState] = field(default_factory=dict)
    created: str = ""
    sequence: int = 0
    """Creation order (``CreateTime`` has whole seconds only)."""


@dataclass(slots=True, kw_only=True)
class Task:
    """An asynchronous operation; ``apply`` runs when it completes successfully."""

    task_id: str
    lb_ids: tuple[str, ...]
    done_at: float
    apply: Callable[[], None]
    on_failure: Callable[[], None] | None = None
    status: int = TASK_RUNNING
    message: str = ""


def _random_suffix(rng: random.Random, length: int = 8) -> str:
    return "".join(rng.choice(string.ascii_lowercase + string.digits) for _ in range(length))


class ClbBackend:
    """The mock cloud's state; every public method takes the lock."""

    def __init__(
        self,
        *,
        region: str = "ap-guangzhou",
        zone: str | None = None,
        instances: int = 2,
        vpc_id: str = "vpc-mock0001",
        vpc_cidr: str = "10.0.0.0/8",
        subnet_id: str = "subnet-mock0001",
        subnet_cidr: str = "10.0.1.0/24",
        credentials: Mapping[str, str] | None = None,
        task_delay: float = 0.3,
        clock: MockClock | None = None,
    ) -> None:
        self.region = region
        self.zone = zone or f"{region}-3"
        self.vpc_id = vpc_id
        self.vpc_cidr = ipaddress.ip_network(vpc_cidr)
        self.subnet_id = subnet_id
        self.subnet_cidr = ipaddress.ip_network(subnet_cidr)
        self.credentials: dict[str, str] = dict(
            credentials
            or {"AKIDmockTencentClb0000000000000000": "mockSecretKey0000000000000000000"}
        )
        self.task_delay = task_delay
        self.clock = clock if clock is not None else MockClock()
        self._lock = threading.RLock()
        self._rng = random.Random(f"{region}/{vpc_id}")
        self.instances: dict[str, Instance] = {}
        for index in range(1, instances + 1):
            instance_id = f"ins-{_random_suffix(self._rng)}"
            self.instances[instance_id] = Instance(
                instance_id=instance_id,
                node_name=f"tencent-node-{index}",
                zone=self.zone,
                private_ip=str(self.subnet_cidr.network_address + 9 + index),
            )
        self.load_balancers: dict[str, LoadBalancerState] = {}
        self.tasks: dict[str, Task] = {}
        self._client_tokens: dict[str, tuple[str, str]] = {}
        self._hidden: set[str] = set()
        """CLBs of a delayed creation still running: not listed, no id answered yet."""
        self._public_ips = iter(ipaddress.ip_network("203.0.113.0/24").hosts())
        self._sequence = itertools.count(1)
        # Task knobs (the admin route ``/_admin/tasks``).
        self.hold_tasks = False
        self._fail_next_tasks = 0
        self.delayed_create = False
        """CreateLoadBalancer answers no id; the CLB is listed once its task is done."""

    @property
    def lock(self) -> threading.RLock:
        """The state lock (re-entrant): hold it while reading objects returned by describes."""
        return self._lock

    def _stamp(self) -> str:
        return datetime.fromtimestamp(self.clock.now(), UTC).strftime("%Y-%m-%d %H:%M:%S")

    # ---- task knobs -------------------------------------------------------------

    def fail_next_tasks(self, count: int = 1) -> None:
        """The next ``count`` tasks to complete fail (their change is not applied)."""
        with self._lock:
            self._fail_next_tasks += count

    def set_hold_tasks(self, hold: bool) -> None:
        """While held, running tasks never complete."""
        with self._lock:
            self.hold_tasks = hold
            if not hold:
                now = self.clock.now()
                for task in self.tasks.values():
                    task.done_at = min(task.done_at, now)

    def resources(self) -> dict[str, int]:
        with self._lock:
            self._advance_tasks()
            listeners = [
                listener
                for lb in self.load_balancers.values()
                for listener in lb.listeners.values()
            ]
            return {
                "load_balancers": len(self.load_balancers),
                "listeners": len(listeners),
                "targets": sum(len(listener.targets) for listener in listeners),
            }

    def snapshot(self) -> dict[str, Any]:
        """The whole CLB state as plain data (admin ``/_admin/state``)."""
        with self._lock:
            self._advance_tasks()
            return {
                "load_balancers": [
                    {
                        "id": lb.lb_id,
                        "name": lb.name,
                        "type": lb.lb_type,
                        "status": lb.status,
                        "subnet_id": lb.subnet_id,
                        "vips": list(lb.vips),
                        "tags": dict(lb.tags),
                        "listeners": [
                            {
                                "id": listener.listener_id,
                                "name": listener.name,
                                "port": listener.port,
                                "protocol": listener.protocol,
                                "session_expire_time": listener.session_expire_time,
                                "health_check": dict(listener.health_check),
                                "targets": [
                                    {
                                        "instance_id": t.instance_id,
                                        "eni_ip": t.eni_ip,
                                        "port": t.port,
                                        "weight": t.weight,
                                    }
                                    for t in listener.targets
                                ],
                            }
                            for listener in lb.listeners.values()
                        ],
                    }
                    for lb in self.load_balancers.values()
                ],
                "tasks": {task.task_id: task.status for task in self.tasks.values()},
            }

    # ---- tasks ---------------------------------------------------------------

    def _advance_tasks(self) -> None:
        if self.hold_tasks:
            return
        now = self.clock.now()
        for task in self.tasks.values():
            if task.status != TASK_RUNNING or task.done_at > now:
                continue
            if self._fail_next_tasks > 0:
                self._fail_next_tasks -= 1
                task.status = TASK_FAILED
                task.message = "task failed (injected)"
                if task.on_failure is not None:
                    task.on_failure()
            else:
                task.apply()
                task.status = TASK_SUCCEEDED

    def _start_task(
        self,
        lb_ids: tuple[str, ...],
        apply: Callable[[], None],
        on_failure: Callable[[], None] | None = None,
    ) -> str:
        task_id = str(uuid.uuid4())
        self.tasks[task_id] = Task(
            task_id=task_id,
            lb_ids=lb_ids,
            done_at=self.clock.now() + self.task_delay,
            apply=apply,
            on_failure=on_failure,
        )
        self._advance_tasks()  # a zero delay completes at once
        return task_id

    def _check_not_busy(self, lb_id: str) -> None:
        for task in self.tasks.values():
            if task.status == TASK_RUNNING and lb_id in task.lb_ids:
                raise exc.ResourceInOperatingError()

    def _writable_lb(self, lb_id: str) -> LoadBalancerState:
        lb = self.load_balancers.get(lb_id)
        if lb is None:
            raise exc.LBIdNotFoundError(f"LoadBalancer {lb_id} does not exist")
        self._check_not_busy(lb_id)
        return lb

    def describe_task_status(self, task_id: str) -> dict[str, Any]:
        with self._lock:
            self._advance_tasks()
            task = self.tasks.get(task_id)
            if task is None:
                raise exc.InvalidParameterValueError(f"TaskId {task_id} does not exist")
            hidden = task.status == TASK_RUNNING and any(
                lb_id in self._hidden for lb_id in task.lb_ids
            )
            # A delayed creation names its CLB here once it is done (CreateLoadBalancer
            # response doc: "...通过DescribeTaskStatus接口查询创建的资源ID").
            return {
                "Status": task.status,
                "LoadBalancerIds": None if hidden else list(task.lb_ids),
                "Message": task.message or None,
            }

    # ---- validation helpers --------------------------------------------------

    def _check_eni_ip(self, ip: str) -> None:
        try:
            address = ipaddress.ip_address(ip)
        except ValueError as error:
            raise exc.InvalidParameterFormatError(f"EniIp {ip!r} is not an IP address") from error
        if address not in self.vpc_cidr:
            raise exc.InvalidParameterError(
                f"EniIp {ip} is not in VPC {self.vpc_id} ({self.vpc_cidr})"
            )

    def _allocate_vip(self, requested: str | None) -> str:
        used = {vip for lb in self.load_balancers.values() for vip in lb.vips}
        used.update(instance.private_ip for instance in self.instances.values())
        if requested:
            try:
                address = ipaddress.ip_address(requested)
            except ValueError as error:
                raise exc.InvalidParameterFormatError(f"Vip {requested!r} is not an IP") from error
            if address not in self.subnet_cidr:
                raise exc.InvalidParameterValueError(
                    f"Vip {requested} is not in subnet {self.subnet_id} ({self.subnet_cidr})"
                )
            if requested in used:
                raise exc.InvalidParameterValueError(f"Vip {requested} is already in use")
            return requested
        for host in self.subnet_cidr.hosts():
            candidate = str(host)
            if int(host) - int(self.subnet_cidr.network_address) >= 100 and candidate not in used:
                return candidate
        raise exc.InvalidParameterValueError(f"no free address left in subnet {self.subnet_id}")

    def _new_id(self, prefix: str) -> str:
        return f"{prefix}-{_random_suffix(self._rng)}"

    # ---- load balancers ------------------------------------------------------

    def create_load_balancer(
        self,
        *,
        lb_type: str,
        vpc_id: str | None,
        subnet_id: str | None,
        name: str | None,
        vip: str | None,
        tags: dict[str, str],
        client_token: str | None = None,
    ) -> tuple[str | None, str, str]:
        """Start creating a CLB; returns (lb id, deal name, task id).

        The id is None while a delayed creation runs (``delayed_create``): the real
        CreateLoadBalancer "may return empty LoadBalancerIds when creation is delayed"
        (its response doc).  A ClientToken seen before answers the same CLB and task
        ("用于保证请求幂等性的字符串", CreateLoadBalancer.ClientToken), even once the CLB
        is gone: the mock keeps tokens for ever, the harshest reading of the contract.
        """
        with self._lock:
            self._advance_tasks()
            if client_token and client_token in self._client_tokens:
                lb_id, task_id = self._client_tokens[client_token]
                if self.tasks[task_id].status == TASK_FAILED:
                    # "当订单流程已结束且发货失败...提示当前ClientToken已经超时过期"
                    # (InvalidParameter.ClientTokenLimitExceeded, SDK errorcodes.py).
                    raise exc.ClientTokenLimitExceededError()
                shown = None if lb_id in self._hidden else lb_id
                return shown, f"{task_id[:8]}-deal", task_id
            if lb_type not in ("OPEN", "INTERNAL"):
                raise exc.InvalidParameterValueError("LoadBalancerType must be OPEN or INTERNAL")
            if vpc_id is not None and vpc_id != self.vpc_id:
                raise exc.InvalidParameterError(f"VpcId {vpc_id} does not exist")
            if lb_type == "INTERNAL":
                if not subnet_id:
                    raise exc.InvalidParameterValueError("SubnetId is required for INTERNAL")
                if subnet_id != self.subnet_id:
                    raise exc.InvalidParameterError(f"SubnetId {subnet_id} does not exist")
                vips = [self._allocate_vip(vip)]
            else:
                if vip:
                    raise exc.InvalidParameterValueError("Vip can only be given for INTERNAL")
                vips = [str(next(self._public_ips))]
            if name is not None and not 1 <= len(name) <= LB_NAME_MAX:
                raise exc.InvalidParameterValueError(
                    f"LoadBalancerName must be 1-{LB_NAME_MAX} characters"
                )
            lb_id = self._new_id("lb")
            lb = LoadBalancerState(
                lb_id=lb_id,
                name=name or lb_id,
                lb_type=lb_type,
                vpc_id=self.vpc_id,
                subnet_id=subnet_id or "",
                vips=vips,
                tags=dict(tags),
                created=self._stamp(),
                sequence=next(self._sequence),
            )
            self.load_balancers[lb_id] = lb

            delayed = self.delayed_create
            if delayed:
                self._hidden.add(lb_id)

            def done() -> None:
                lb.status = LB_NORMAL
                self._hidden.discard(lb_id)

            def failed() -> None:
                self.load_balancers.pop(lb_id, None)
                self._hidden.discard(lb_id)

            task_id = self._start_task((lb_id,), done, failed)
            if client_token:
                self._client_tokens[client_token] = (lb_id, task_id)
            shown = None if lb_id in self._hidden else lb_id
            return shown, f"{task_id[:8]}-deal", task_id

    def seed_load_balancer(self, *, lb_type: str = "OPEN", name: str = "pre-existing") -> str:
        """Create a ready CLB outside the API (a user's pre-existing CLB, for reuse tests)."""
        with self._lock:
            vips = [
                self._allocate_vip(None) if lb_type == "INTERNAL" else str(next(self._public_ips))
            ]
            lb_id = self._new_id("lb")
            self.load_balancers[lb_id] = LoadBalancerState(
                lb_id=lb_id,
                name=name,
                lb_type=lb_type,
                vpc_id=self.vpc_id,
                subnet_id=self.subnet_id if lb_type == "INTERNAL" else "",
                vips=vips,
                tags={},
                status=LB_NORMAL,
                created=self._stamp(),
                sequence=next(self._sequence),
            )
            return lb_id

    def seed_listener(self, lb_id: str, *, port: int, protocol: str, name: str) -> str:
        """Add a listener outside the API (one the user made by hand)."""
        with self._lock:
            listener_id = self._new_id("lbl")
            self.load_balancers[lb_id].listeners[listener_id] = ListenerState(
                listener_id=listener_id,
                name=name,
                port=port,
                protocol=protocol,
                health_check=self._health_check(protocol, None, {}),
            )
            return listener_id

    def describe_load_balancers(
        self,
        *,
        lb_ids: list[str] | None,
        tag_filters: dict[str, list[str]],
        offset: int,
        limit: int,
        newest_first: bool = True,
    ) -> tuple[int, list[LoadBalancerState]]:
        """Matching CLBs by creation time, newest first unless told otherwise (as CLB
        does: ``OrderType`` defaults to 1, descending)."""
        with self._lock:
            self._advance_tasks()
            found = [
                lb
                for lb in self.load_balancers.values()
                if lb.lb_id not in self._hidden
                and (not lb_ids or lb.lb_id in lb_ids)
                and all(lb.tags.get(key) in values for key, values in tag_filters.items())
            ]
            found.sort(key=lambda lb: lb.sequence, reverse=newest_first)
            return len(found), found[offset : offset + limit]

    def delete_load_balancers(self, lb_ids: list[str], *, force: bool = False) -> str:
        with self._lock:
            self._advance_tasks()
            for lb_id in lb_ids:
                lb = self._writable_lb(lb_id)
                bound = sum(len(listener.targets) for listener in lb.listeners.values())
                # DeleteLoadBalancer.ForceDelete (api.json): "删除后端绑定大于等于 20 个 RS
                # 的实例时" is refused unless forced.  Counted as bindings (a node on two
                # listeners is two), the stricter reading.  The other forced case, over 10 Mbps
                # of traffic in the last 5 minutes, cannot happen in a mock.
                if bound >= FORCE_DELETE_TARGETS and not force:
                    raise exc.TargetNumCheckRiskError(
                        f"LoadBalancer {lb_id} has {bound} bound backends; "
                        "pass ForceDelete=true to delete it"
                    )

            def done() -> None:
                for lb_id in lb_ids:
                    self.load_balancers.pop(lb_id, None)

            return self._start_task(tuple(lb_ids), done)

    def modify_load_balancer_attributes(self, lb_id: str, *, name: str | None) -> str:
        with self._lock:
            self._advance_tasks()
            lb = self._writable_lb(lb_id)

            def done() -> None:
                if name:
                    lb.name = name

            return self._start_task((lb_id,), done)

    # ---- health checks ---------------------------------------------------------

    @staticmethod
    def _health_check(
        protocol: str, current: Mapping[str, Any] | None, requested: Mapping[str, Any]
    ) -> dict[str, Any]:
        """The listener's health check after ``requested`` is applied to ``current``
        (None: a new listener, which starts from CLB's defaults); the prose rules of
        api.json's HealthCheck object, checked before anything changes."""
        for key, (low, high) in HEALTH_CHECK_RANGES.items():
            value = requested.get(key)
            if value is not None and not low <= value <= high:
                raise exc.InvalidParameterValueError(
                    f"HealthCheck.{key} must be in [{low}, {high}]"
                )
        port = requested.get("CheckPort")
        if port is not None and port != -1 and not 1 <= port <= 65535:
            raise exc.InvalidParameterValueError("HealthCheck.CheckPort must be -1 or a port")
        check_type = requested.get("CheckType")
        allowed = CHECK_TYPES.get(protocol, ())
        if check_type is not None and check_type not in allowed:
            raise exc.InvalidParameterValueError(
                f"HealthCheck.CheckType {check_type!r} is not supported on a {protocol} listener "
                f"(supported: {', '.join(allowed) or 'none'})"
            )
        if check_type == "HTTP" and protocol == "TCP":
            # HttpVersion: "健康检查协议CheckType的值取HTTP时, 必传此字段" (TCP listeners);
            # HttpCheckDomain: "针对TCP监听器, 当使用HTTP健康检查方式时, 该参数为必填项".
            for companion in ("HttpVersion", "HttpCheckDomain"):
                if not requested.get(companion):
                    raise exc.MissingParameterError(
                        f"HealthCheck.{companion} is required when a TCP listener checks HTTP"
                    )
        version = requested.get("HttpVersion")
        if version is not None and version not in ("HTTP/1.0", "HTTP/1.1"):
            raise exc.InvalidParameterValueError("HealthCheck.HttpVersion: HTTP/1.0 or HTTP/1.1")
        method = requested.get("HttpCheckMethod")
        if method is not None and method not in ("HEAD", "GET"):
            raise exc.InvalidParameterValueError("HealthCheck.HttpCheckMethod: HEAD or GET")
        domain = requested.get("HttpCheckDomain")
        if domain is not None and not _CHECK_DOMAIN.match(domain):
            raise exc.InvalidParameterValueError(
                "HealthCheck.HttpCheckDomain: 1-80 of lowercase letters, digits, '.' and '-'"
            )
        if current is None:
            default_type = "PING" if protocol == "UDP" else "TCP"
            merged = {**HEALTH_CHECK_DEFAULTS, "CheckType": default_type}
        else:
            merged = dict(current)
        merged.update({key: value for key, value in requested.items() if value is not None})
        if merged.get("CheckPort") == -1:
            merged["CheckPort"] = None  # "传参数值-1可恢复默认设置": the backend port again
        if merged["TimeOut"] >= merged["IntervalTime"]:
            # TimeOut: "响应超时时间要小于检查间隔时间".
            raise exc.InvalidParameterValueError("HealthCheck.TimeOut must be below IntervalTime")
        return merged

    # ---- listeners -----------------------------------------------------------

    def create_listeners(
        self,
        lb_id: str,
        *,
        ports: list[int],
        protocol: str,
        names: list[str],
        session_expire_time: int,
        health_check: dict[str, Any],
    ) -> tuple[list[str], str]:
        with self._lock:
            self._advance_tasks()
            lb = self._writable_lb(lb_id)
            if lb.status != LB_NORMAL:
                raise exc.ResourceInOperatingError("the load balancer is still being created")
            if protocol not in PROTOCOLS:
                raise exc.InvalidParameterValueError(f"Protocol {protocol!r} is not supported")
            if names and len(names) != len(ports):
                raise exc.InvalidParameterValueError("ListenerNames must match Ports one to one")
            if any(not 1 <= len(name) <= 80 for name in names):
                raise exc.InvalidParameterValueError("ListenerNames must be 1-80 characters")
            if len(set(ports)) != len(ports):
                raise exc.PortCheckFailedError("duplicate port in Ports")
            for port in ports:
                if not 1 <= port <= 65535:
                    raise exc.InvalidParameterValueError(f"port {port} out of range")
                for listener in lb.listeners.values():
                    if listener.port == port and listener.protocol == protocol:
                        raise exc.PortCheckFailedError(
                            f"{protocol} port {port} is already used by {listener.listener_id}"
                        )
            if session_expire_time and not 30 <= session_expire_time <= 3600:
                raise exc.InvalidParameterValueError("SessionExpireTime must be 0 or in [30, 3600]")
            check = self._health_check(protocol, None, health_check)
            new = [
                ListenerState(
                    listener_id=self._new_id("lbl"),
                    name=names[index] if names else "",
                    port=port,
                    protocol=protocol,
                    session_expire_time=session_expire_time,
                    health_check=dict(check),
                    created=self._stamp(),
                )
                for index, port in enumerate(ports)
            ]

            def done() -> None:
                for listener in new:
                    lb.listeners[listener.listener_id] = listener

            task_id = self._start_task((lb_id,), done)
            return [listener.listener_id for listener in new], task_id

    def _listener(self, lb: LoadBalancerState, listener_id: str) -> ListenerState:
        listener = lb.listeners.get(listener_id)
        if listener is None:
            raise exc.ListenerIdNotFoundError(f"Listener {listener_id} does not exist")
        return listener

    def describe_listeners(
        self,
        lb_id: str,
        *,
        listener_ids: list[str] | None,
        protocol: str | None,
        port: int | None,
    ) -> list[ListenerState]:
        with self._lock:
            self._advance_tasks()
            lb = self.load_balancers.get(lb_id)
            if lb is None:
                raise exc.LBIdNotFoundError(f"LoadBalancer {lb_id} does not exist")
            return [
                listener
                for listener in lb.listeners.values()
                if (not listener_ids or listener.listener_id in listener_ids)
                and (protocol is None or listener.protocol == protocol)
                and (port is None or listener.port == port)
            ]

    def modify_listener(
        self,
        lb_id: str,
        listener_id: str,
        *,
        name: str | None,
        session_expire_time: int | None,
        health_check: dict[str, Any] | None,
    ) -> str:
        with self._lock:
            self._advance_tasks()
            lb = self._writable_lb(lb_id)
            listener = self._listener(lb, listener_id)
            if session_expire_time and not 30 <= session_expire_time <= 3600:
                raise exc.InvalidParameterValueError("SessionExpireTime must be 0 or in [30, 3600]")
            check = (
                None
                if health_check is None
                else self._health_check(listener.protocol, listener.health_check, health_check)
            )

            def done() -> None:
                if name is not None:
                    listener.name = name
                if session_expire_time is not None:
                    listener.session_expire_time = session_expire_time
                if check is not None:
                    listener.health_check = check

            return self._start_task((lb_id,), done)

    def delete_listener(self, lb_id: str, listener_id: str) -> str:
        with self._lock:
            self._advance_tasks()
            lb = self._writable_lb(lb_id)
            self._listener(lb, listener_id)

            def done() -> None:
                lb.listeners.pop(listener_id, None)

            return self._start_task((lb_id,), done)

    # ---- targets -------------------------------------------------------------

    def _validate_targets(self, targets: list[TargetState]) -> None:
        if not targets:
            raise exc.MissingParameterError("Targets must not be empty")
        for target in targets:
            if bool(target.instance_id) == bool(target.eni_ip):
                raise exc.InvalidParameterError(
                    "each target needs exactly one of InstanceId, EniIp"
                )
            if target.instance_id and target.instance_id not in self.instances:
                raise exc.InvalidParameterError(f"InstanceId {target.instance_id} does not exist")
            if target.eni_ip:
                self._check_eni_ip(target.eni_ip)
            if not 1 <= target.port <= 65535:
                raise exc.InvalidParameterValueError(f"target port {target.port} out of range")
            if not 0 <= target.weight <= 100:
                raise exc.InvalidParameterValueError("Weight must be in [0, 100]")

    def register_targets(self, lb_id: str, listener_id: str, targets: list[TargetState]) -> str:
        return self._change_targets(lb_id, listener_id, targets, register=True)

    def deregister_targets(self, lb_id: str, listener_id: str, targets: list[TargetState]) -> str:
        return self._change_targets(lb_id, listener_id, targets, register=False)

    def _change_targets(
        self, lb_id: str, listener_id: str, targets: list[TargetState], *, register: bool
    ) -> str:
        with self._lock:
            self._advance_tasks()
            lb = self._writable_lb(lb_id)
            listener = self._listener(lb, listener_id)
            self._validate_targets(targets)
            existing = {target.key for target in listener.targets}
            for target in targets:
                if (target.key in existing) == register:
                    state = "already" if register else "not"
                    raise exc.InvalidParameterError(f"target {target.key} is {state} registered")
            changed = {target.key for target in targets}

            def done() -> None:
                if register:
                    listener.targets.extend(targets)
                else:
                    listener.targets[:] = [t for t in listener.targets if t.key not in changed]

            return self._start_task((lb_id,), done)

    def batch_change_targets(
        self, lb_id: str, targets: list[tuple[str, TargetState]], *, register: bool
    ) -> tuple[str, list[str]]:
        """Batch(De)RegisterTargets: ``(listener id, target)`` pairs across the CLB's
        listeners, one task; returns (task id, listener ids that failed)."""
        with self._lock:
            self._advance_tasks()
            lb = self._writable_lb(lb_id)
            if len(targets) > BATCH_TARGETS_MAX:
                raise exc.InvalidParameterValueError(
                    f"Targets: at most {BATCH_TARGETS_MAX} per call, got {len(targets)}"
                )
            self._validate_targets([target for _, target in targets])
            failed: list[str] = []
            changes: dict[str, list[TargetState]] = {}
            for listener_id, target in targets:
                changes.setdefault(listener_id, []).append(target)
            for listener_id, listed in list(changes.items()):
                listener = lb.listeners.get(listener_id)
                existing = set() if listener is None else {t.key for t in listener.targets}
                if listener is None or any(
                    (target.key in existing) == register for target in listed
                ):
                    # Reported per listener (response FailListenerIdSet), the rest applies.
                    failed.append(listener_id)
                    del changes[listener_id]

            def done() -> None:
                for listener_id, listed in changes.items():
                    listener = lb.listeners[listener_id]
                    if register:
                        listener.targets.extend(listed)
                    else:
                        gone = {target.key for target in listed}
                        listener.targets[:] = [t for t in listener.targets if t.key not in gone]

            return self._start_task((lb_id,), done), failed

    def describe_targets(
        self,
        lb_id: str,
        *,
        listener_ids: list[str] | None,
        protocol: str | None,
        port: int | None,
    ) -> list[ListenerState]:
        if listener_ids and len(listener_ids) > DESCRIBE_TARGETS_LISTENERS_MAX:
            raise exc.InvalidParameterValueError(
                f"ListenerIds: at most {DESCRIBE_TARGETS_LISTENERS_MAX} ids, "
                f"got {len(listener_ids)}"
            )
        return self.describe_listeners(
            lb_id, listener_ids=listener_ids, protocol=protocol, port=port
        )
