"""Fixtures for the Alibaba provider tests: a mock SLB per test and a kit to build Services.

Tests run with ``--import-mode=importlib``, so helpers travel as the ``kit``
fixture instead of an importable module.  Counters, faults and the clock go
through the mock-cloud kit's admin API (:class:`lbprovider.mockkit.MockAdmin`).
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from aliyunsdkcore.client import AcsClient

from lbprovider.cloud import (
    DesiredLoadBalancer,
    EndpointTarget,
    Listener,
    NodeTarget,
    Protocol,
    ServiceRef,
)
from lbprovider.mockkit import CallCounts, MockAdmin, is_read
from lbprovider.providerkit import CallPolicy
from lbprovider_alibaba.mock import AlibabaMockCloud, start
from lbprovider_alibaba.mock.exceptions import BY_CODE
from lbprovider_alibaba.provider import AlibabaProvider, create

CLUSTER = "test-cluster"
REPO_ROOT = Path(__file__).resolve().parents[3]
FAST = CallPolicy(attempts=4, wait_initial=0.01, wait_max=0.05)
"""The provider's four tries per call, with short waits."""


class Kit:
    """Builders for Services against one mock cloud, plus a raw SDK client."""

    cluster = CLUSTER
    repo_root = REPO_ROOT

    def __init__(self, cloud: AlibabaMockCloud) -> None:
        self.cloud = cloud
        self.admin = MockAdmin(cloud.endpoint)
        self._providers: list[AlibabaProvider] = []
        self._clients: list[AcsClient] = []

    def provider(self, **overrides: Any) -> AlibabaProvider:
        """A fresh provider instance (a restarted controller is a new one)."""
        provider = create(
            {**self.cloud.provider_settings(), **overrides}, cluster_name=CLUSTER, policy=FAST
        )
        self._providers.append(provider)
        return provider

    def adopt(self, provider: AlibabaProvider) -> AlibabaProvider:
        """Close ``provider`` with the kit (one built by hand)."""
        self._providers.append(provider)
        return provider

    def client(self, *, ak: str | None = None, secret: str | None = None) -> AcsClient:
        """A real SDK client pointed at the mock (plain http) for SLB and ECS."""
        client = AcsClient(
            ak or self.cloud.access_key_id,
            secret or self.cloud.access_key_secret,
            self.cloud.backend.region,
            auto_retry=False,
        )
        for product in ("Slb", "Ecs"):
            client.add_endpoint(
                self.cloud.backend.region, product, f"{self.cloud.host}:{self.cloud.port}"
            )
        self._clients.append(client)
        return client

    def close(self) -> None:
        """Close every SDK connection the kit handed out (the SDK client is cyclic garbage)."""
        for provider in self._providers:
            provider.close()
        for client in self._clients:
            client.session.close()

    @staticmethod
    def call(client: AcsClient, request: Any) -> dict[str, Any]:
        request.set_protocol_type("http")
        reply: dict[str, Any] = json.loads(client.do_action_with_exception(request))
        return reply

    @staticmethod
    def ref(
        *, annotations: dict[str, str] | None = None, uid: str | None = None, name: str = "web"
    ) -> ServiceRef:
        return ServiceRef(
            cluster=CLUSTER,
            namespace="default",
            name=name,
            uid=uid or str(uuid.uuid4()),
            annotations=annotations or {},
        )

    def nodes(self) -> tuple[NodeTarget, ...]:
        return tuple(
            NodeTarget(name=i.node_name, provider_id=i.provider_id, address=i.internal_ip)
            for i in self.cloud.instances
        )

    @staticmethod
    def tcp(port: int, node_port: int) -> Listener:
        return Listener(name=f"tcp-{port}", port=port, protocol=Protocol.TCP, node_port=node_port)

    @staticmethod
    def udp(port: int, node_port: int) -> Listener:
        return Listener(name=f"udp-{port}", port=port, protocol=Protocol.UDP, node_port=node_port)

    @staticmethod
    def pods(port: int, protocol: Protocol, *ips: str, target: int = 8080) -> Listener:
        return Listener(
            name=f"{protocol.value.lower()}-{port}",
            port=port,
            protocol=protocol,
            endpoints=tuple(sorted(EndpointTarget(ip=ip, port=target) for ip in ips)),
        )

    def desired(
        self, service: ServiceRef, *listeners: Listener, **extra: Any
    ) -> DesiredLoadBalancer:
        extra.setdefault("nodes", self.nodes())
        return DesiredLoadBalancer(ref=service, listeners=tuple(listeners), **extra)

    def state(self) -> dict[str, Any]:
        state: dict[str, Any] = self.admin.state()
        return state

    def listeners(self, lb_id: str) -> dict[tuple[str, int], dict[str, Any]]:
        return {
            (li["ListenerProtocol"].upper(), li["ListenerPort"]): li
            for li in self.state()["listeners"]
            if li["LoadBalancerId"] == lb_id
        }

    def group_backends(self, group_id: str) -> set[tuple[str, int, str]]:
        group = next(g for g in self.state()["vserver_groups"] if g["VServerGroupId"] == group_id)
        return {(b["ServerId"], b["Port"], b["Type"]) for b in group["BackendServers"]}

    def eni_backends(self, group_id: str) -> list[tuple[str, str, int]]:
        """(ServerId, ServerIp, Port) of a group's ``eni`` backends, sorted; other types fail."""
        group = next(g for g in self.state()["vserver_groups"] if g["VServerGroupId"] == group_id)
        assert all(b["Type"] == "eni" for b in group["BackendServers"]), group
        return sorted((b["ServerId"], b["ServerIp"], b["Port"]) for b in group["BackendServers"])

    def eni(self, *ips: str, **options: Any) -> str:
        """A Terway-like ENI holding ``ips`` (attached to the first instance unless told)."""
        return str(self.cloud.backend.create_eni(list(ips), **options).id)

    # -- the kit's counters and faults ---------------------------------------------------
    def counts(self) -> CallCounts:
        return self.admin.counters()

    def reset_counts(self) -> None:
        """Counters to zero (the kit's reset also clears faults and frees the clock)."""
        self.admin.reset()

    def writes(self) -> dict[str, int]:
        """Write calls by action since the last reset."""
        return {a: n for a, n in self.counts().actions.items() if not is_read(a)}

    def calls(self, action: str) -> int:
        return self.counts().actions.get(action, 0)

    def eni_lookups(self) -> int:
        return self.calls("DescribeNetworkInterfaces")

    def fault(self, code: str, *, count: int | None = 1, actions: tuple[str, ...] = ()) -> None:
        """Answer the next ``count`` calls with ``code``, at the HTTP status SLB uses for it."""
        status = BY_CODE[code].status if code in BY_CODE else 400
        self.admin.inject_fault(code, status=status, count=count, actions=actions)


@pytest.fixture
def cloud() -> Iterator[AlibabaMockCloud]:
    handle = start(instances=3)
    try:
        yield handle
    finally:
        handle.stop()


@pytest.fixture
def kit(cloud: AlibabaMockCloud) -> Iterator[Kit]:
    made = Kit(cloud)
    try:
        yield made
    finally:
        made.close()
