"""Fixtures for the Alibaba provider tests: a mock SLB per test and a kit to build Services.

Tests run with ``--import-mode=importlib``, so helpers travel as the ``kit``
fixture instead of an importable module.
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
from lbprovider_alibaba.mock import AlibabaMockCloud, start
from lbprovider_alibaba.provider import AlibabaProvider, create

CLUSTER = "test-cluster"
REPO_ROOT = Path(__file__).resolve().parents[3]


class Kit:
    """Builders for Services against one mock cloud, plus a raw SDK client."""

    cluster = CLUSTER
    repo_root = REPO_ROOT

    def __init__(self, cloud: AlibabaMockCloud) -> None:
        self.cloud = cloud

    def provider(self, **overrides: Any) -> AlibabaProvider:
        """A fresh provider instance (a restarted controller is a new one)."""
        return create({**self.cloud.provider_settings(), **overrides}, cluster_name=CLUSTER)

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
        return client

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
        return self.cloud.backend.snapshot()

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

    def eni_lookups(self) -> int:
        return int(self.cloud.backend.reads["DescribeNetworkInterfaces"])


@pytest.fixture
def cloud() -> Iterator[AlibabaMockCloud]:
    handle = start(instances=3)
    try:
        yield handle
    finally:
        handle.stop()


@pytest.fixture
def kit(cloud: AlibabaMockCloud) -> Kit:
    return Kit(cloud)
