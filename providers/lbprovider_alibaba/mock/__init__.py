"""A wire-level mock of Alibaba Cloud SLB (API 2014-05-15), moto-style, on the mock-cloud kit.

It also answers ECS ``DescribeNetworkInterfaces`` (API 2014-05-26) on the same
endpoint: ENI backends of SLB name the ENI that holds a Pod IP.

``models`` holds state and rules, ``responses`` the parameter parsing and the
frontend, ``exceptions`` one class per error code, ``auth`` the RPC signature
check; :class:`lbprovider.mockkit.MockServer` serves them with the shared
admin routes (state, counters, reset, faults, latency, clock), plus
``GET|POST /_admin/enis`` (list ENIs; make a Terway-like ENI holding Pod IPs).
``start()`` is the ``lbprovider.mock_clouds`` entry point (see
``lbprovider.cloud.sandbox``).
"""

from __future__ import annotations

import json
import logging
import shutil
import tempfile
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from lbprovider.cloud.sandbox import SandboxInstance
from lbprovider.cloud.tags import CLUSTER_TAG, SERVICE_NAME_TAG
from lbprovider.mockkit import MockAdmin, MockServer
from lbprovider_alibaba.mock.models import LoadBalancer, SlbBackend, VServerGroup
from lbprovider_alibaba.mock.responses import AlibabaFrontend

__all__ = ["SEEDED_POD_IPS", "AlibabaMockCloud", "SlbBackend", "seed_pod_enis", "serve", "start"]

log = logging.getLogger(__name__)

SEEDED_POD_IPS = tuple(f"10.0.1.{n}" for n in range(200, 211))
"""Pod IPs of the ENIs ``start()`` seeds for the sandbox (Terway-style secondary IPs)."""


@dataclass(kw_only=True)
class AlibabaMockCloud:
    """A running mock SLB (implements ``lbprovider.cloud.sandbox.MockCloud``)."""

    backend: SlbBackend
    server: MockServer
    provider: str = "alibaba"
    instances: tuple[SandboxInstance, ...] = ()
    _tmpdir: Path | None = field(default=None, repr=False)

    @property
    def host(self) -> str:
        return self.server.host

    @property
    def port(self) -> int:
        return self.server.port

    @property
    def endpoint(self) -> str:
        return self.server.endpoint

    @property
    def admin(self) -> MockAdmin:
        """The shared admin interface (counters, faults, clock...) of this mock."""
        return MockAdmin(self.endpoint)

    @property
    def enis(self) -> dict[str, tuple[str, ...]]:
        """Secondary ENI id -> the Pod IPs it holds (what POD_IP-mode Services can target)."""
        with self.backend.lock:
            return {
                eni.id: tuple(eni.secondary_ips)
                for eni in self.backend.enis.values()
                if eni.type == "Secondary"
            }

    @property
    def access_key_id(self) -> str:
        return next(iter(self.backend.credentials))

    @property
    def access_key_secret(self) -> str:
        return self.backend.credentials[self.access_key_id]

    @property
    def credentials_file(self) -> str:
        if self._tmpdir is None:
            self._tmpdir = Path(tempfile.mkdtemp(prefix="lbprovider-alibaba-mock-"))
        path = self._tmpdir / "credentials.json"
        if not path.exists():
            path.write_text(
                json.dumps(
                    {
                        "access_key_id": self.access_key_id,
                        "access_key_secret": self.access_key_secret,
                    }
                )
            )
            path.chmod(0o600)
        return str(path)

    def provider_settings(self) -> dict[str, Any]:
        return {
            # A local mock documents no limit: keep the client-side one out of the way.
            "rate_limit_qps": 1000.0,
            "rate_limit_burst": 1000,
            "region": self.backend.region,
            "endpoint": f"{self.host}:{self.port}",
            "ecs_endpoint": f"{self.host}:{self.port}",
            "vpc_id": self.backend.vpc_id,
            "vswitch_id": self.backend.vswitch_id,
            "credentials_file": self.credentials_file,
        }

    def internal_annotations(self) -> dict[str, str]:
        # The vSwitch comes from the class settings (vswitch_id).
        return {"service.beta.kubernetes.io/alibaba-cloud-loadbalancer-address-type": "intranet"}

    def resources(self) -> dict[str, int]:
        return self.backend.resources()

    def describe(self) -> list[dict[str, Any]]:
        """Every load balancer carrying an lbprovider cluster tag, read from the mock's state.

        One JSON-able row each, sorted by Service then id: ``service`` (the tagged
        ``namespace/name``), ``lb_id``, ``address``, ``listeners`` (``TCP:80->30080``),
        ``backends`` (``i-…:30080``, a Pod ``10.0.1.200:8080``) and ``health_check``
        (``TCP:traffic-port``, ``HTTP:10256/healthz``; several listeners that differ
        are joined with ", ").
        """
        with self.backend.lock:
            rows = [
                _describe(lb, self.backend.vserver_groups)
                for lb in self.backend.load_balancers.values()
                if CLUSTER_TAG in lb.tags
            ]
        return sorted(rows, key=lambda row: (row["service"], row["lb_id"]))

    def stop(self) -> None:
        self.server.stop()
        tmpdir, self._tmpdir = self._tmpdir, None
        if tmpdir is not None:
            shutil.rmtree(tmpdir, ignore_errors=True)


def _describe(lb: LoadBalancer, groups: Mapping[str, VServerGroup]) -> dict[str, Any]:
    listeners: list[str] = []
    backends: set[str] = set()
    checks: list[str] = []
    for listener in sorted(lb.listeners.values(), key=lambda li: (li.port, li.protocol)):
        group = groups.get(listener.vserver_group_id)
        members = group.backends if group is not None else []
        ports = ",".join(str(port) for port in sorted({b.port for b in members}))
        front = f"{listener.protocol}:{listener.port}"
        listeners.append(f"{front}->{ports}" if ports else front)
        backends |= {f"{b.server_ip if b.type == 'eni' else b.server_id}:{b.port}" for b in members}
        check = _health_check(listener.protocol, listener.config)
        if check not in checks:
            checks.append(check)
    return {
        "service": lb.tags.get(SERVICE_NAME_TAG, ""),
        "lb_id": lb.id,
        "address": lb.address,
        "listeners": listeners,
        "backends": sorted(backends),
        "health_check": ", ".join(checks),
    }


def _health_check(protocol: str, config: Mapping[str, Any]) -> str:
    """``TCP:traffic-port``, ``HTTP:10256/healthz``, ``UDP:traffic-port`` or ``off``."""
    if config.get("HealthCheck") == "off":
        return "off"
    port = int(config.get("HealthCheckConnectPort") or 0)
    where = str(port) if port > 0 else "traffic-port"  # 0 or -520: the backend port
    if protocol == "TCP" and config.get("HealthCheckType") == "http":
        return f"HTTP:{where}{config.get('HealthCheckURI') or '/'}"
    return f"{protocol}:{where}"


def serve(backend: SlbBackend, *, host: str = "127.0.0.1", port: int = 0) -> AlibabaMockCloud:
    """Serve ``backend`` on ``host:port`` through the kit's server (its clock is the backend's)."""
    server = MockServer(
        frontend=AlibabaFrontend(backend), clock=backend.clock, host=host, port=port
    ).start()
    instances = tuple(
        SandboxInstance(
            node_name=f"alibaba-node-{n}",
            provider_id=f"{backend.region}.{instance.id}",
            internal_ip=instance.private_ip,
        )
        for n, instance in enumerate(backend.instances.values(), start=1)
    )
    return AlibabaMockCloud(backend=backend, server=server, instances=instances)


def seed_pod_enis(backend: SlbBackend, ips: tuple[str, ...] = SEEDED_POD_IPS) -> None:
    """Terway-like ENIs holding ``ips`` as secondary IPs, one per instance (contiguous blocks)."""
    owners: list[str | None] = [*backend.instances] or [None]
    per_eni = -(-len(ips) // len(owners))  # ceiling
    for n, owner in enumerate(owners):
        block = ips[n * per_eni : (n + 1) * per_eni]
        if block:
            backend.create_eni(block, instance_id=owner, attach=owner is not None)


def start(*, host: str = "127.0.0.1", port: int = 0, instances: int = 2) -> AlibabaMockCloud:
    """Start a mock SLB region (sandbox contract).

    Seeds ``instances`` ECS instances, each with its primary ENI, and Pod ENIs
    holding 10.0.1.200-10.0.1.210 (``AlibabaMockCloud.enis``, ``GET /_admin/enis``).
    """
    backend = SlbBackend(instances=instances)
    seed_pod_enis(backend)
    cloud = serve(backend, host=host, port=port)
    log.info(
        "mock alibaba seeded pod ENIs",
        extra={"endpoint": cloud.endpoint, "enis": {k: list(v) for k, v in cloud.enis.items()}},
    )
    return cloud
