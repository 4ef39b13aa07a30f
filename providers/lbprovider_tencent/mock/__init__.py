"""A wire-level mock of Tencent Cloud CLB (API 2018-03-17), moto-style, on the mock-cloud kit.

``models`` holds the state and rules, ``responses`` the thin request parsing
(the kit's ``CloudFrontend``), ``exceptions`` one class per error code and
``auth`` the TC3-HMAC-SHA256 check.  The kit's ``MockServer`` serves it with
the shared admin routes (state, counters, reset, faults, latency, clock) plus
CLB's own ``POST /_admin/tasks`` (``{"hold": true}``, ``{"fail_next": 1}``,
``{"delay": 0.1}``) and ``GET /_admin/resources``.  :func:`start` is the
``lbprovider.mock_clouds`` entry point; it returns the sandbox handle.
"""

from __future__ import annotations

import json
import shutil
import tempfile
from pathlib import Path
from typing import Any

from lbprovider.cloud.sandbox import SandboxInstance
from lbprovider.cloud.tags import CLUSTER_TAG, SERVICE_NAME_TAG
from lbprovider.mockkit import MockAdmin, MockClock, MockServer
from lbprovider_tencent.mock.models import ClbBackend
from lbprovider_tencent.mock.responses import ClbFrontend

__all__ = ["ClbBackend", "ClbFrontend", "TencentMockCloud", "serve", "start"]


class TencentMockCloud:
    """The sandbox handle (``lbprovider.cloud.sandbox.MockCloud``) for the mock CLB."""

    provider = "tencent"

    def __init__(self, *, server: MockServer, frontend: ClbFrontend) -> None:
        self.server = server
        self.frontend = frontend
        self.backend = backend = frontend.backend
        self.endpoint = server.endpoint
        self.address = f"{server.host}:{server.port}"
        """``host:port``, the form Tencent's ``HttpProfile(endpoint=...)`` takes."""
        self.admin = MockAdmin(self.endpoint)
        self.subnet_id = backend.subnet_id
        """The seeded subnet, for the internal-CLB annotation of sandbox Services."""
        self.instances = tuple(
            SandboxInstance(
                node_name=instance.node_name,
                provider_id=f"qcloud:///{instance.zone}/{instance.instance_id}",
                internal_ip=instance.private_ip,
            )
            for instance in sorted(backend.instances.values(), key=lambda i: i.node_name)
        )
        self._tmp = Path(tempfile.mkdtemp(prefix="lbprovider-tencent-"))
        secret_id, secret_key = next(iter(backend.credentials.items()))
        self.credentials_file = self._tmp / "credentials.json"
        self.credentials_file.write_text(
            json.dumps({"secret_id": secret_id, "secret_key": secret_key})
        )
        self.credentials_file.chmod(0o600)

    def provider_settings(self) -> dict[str, Any]:
        return {
            # A local mock documents no limit: keep the client-side one out of the way.
            "rate_limit_qps": 1000.0,
            "rate_limit_burst": 1000,
            "region": self.backend.region,
            "endpoint": self.address,
            "scheme": "http",
            "vpc_id": self.backend.vpc_id,
            "credentials_file": str(self.credentials_file),
        }

    def internal_annotations(self) -> dict[str, str]:
        return {"service.kubernetes.io/qcloud-loadbalancer-internal-subnetid": self.subnet_id}

    def resources(self) -> dict[str, int]:
        return self.backend.resources()

    def describe(self) -> list[dict[str, Any]]:
        """Every CLB carrying an lbprovider cluster tag, read from the mock's own state
        (the demo's table), sorted by Service and id."""
        found = [
            _describe(lb)
            for lb in self.backend.snapshot()["load_balancers"]
            if CLUSTER_TAG in lb["tags"]
        ]
        return sorted(found, key=lambda row: (row["service"], row["lb_id"]))

    def stop(self) -> None:
        self.server.stop()
        shutil.rmtree(self._tmp, ignore_errors=True)


def _describe(lb: dict[str, Any]) -> dict[str, Any]:
    """One CLB of ``ClbBackend.snapshot()`` as a row: listeners ``TCP:80->30080``,
    backends ``ins-...:30080`` or ``10.0.1.5:8080``, the listeners' health checks."""
    listeners: list[str] = []
    backends: set[str] = set()
    checks: set[str] = set()
    for listener in sorted(lb["listeners"], key=lambda item: (item["port"], item["protocol"])):
        front = f"{listener['protocol']}:{listener['port']}"
        ports = sorted({target["port"] for target in listener["targets"]})
        listeners.append(f"{front}->{','.join(map(str, ports))}" if ports else front)
        backends.update(
            f"{target['instance_id'] or target['eni_ip']}:{target['port']}"
            for target in listener["targets"]
        )
        checks.add(_check_text(listener["protocol"], listener["health_check"]))
    return {
        "service": lb["tags"].get(SERVICE_NAME_TAG, ""),
        "lb_id": lb["id"],
        "address": lb["vips"][0] if lb["vips"] else "",
        "listeners": listeners,
        "backends": sorted(backends),
        "health_check": ", ".join(sorted(checks)),
    }


def _check_text(protocol: str, check: dict[str, Any]) -> str:
    """``HTTP:10256/healthz``, ``TCP:traffic-port`` (no ``CheckPort``: the backend port),
    ``PING`` or ``off``."""
    if check.get("HealthSwitch", 1) == 0:
        return "off"
    kind = str(check.get("CheckType") or protocol)
    if kind == "PING":
        return kind
    where = str(check.get("CheckPort") or "traffic-port")
    if kind == "HTTP":
        return f"HTTP:{where}{check.get('HttpCheckPath') or '/'}"
    return f"{kind}:{where}"


def serve(backend: ClbBackend, *, host: str = "127.0.0.1", port: int = 0) -> TencentMockCloud:
    """Serve ``backend`` with the kit's server, which shares the backend's clock."""
    frontend = ClbFrontend(backend)
    server = MockServer(frontend=frontend, clock=backend.clock, host=host, port=port).start()
    return TencentMockCloud(server=server, frontend=frontend)


def start(
    *,
    host: str = "127.0.0.1",
    port: int = 0,
    instances: int = 2,
    task_delay: float = 0.3,
) -> TencentMockCloud:
    """Start the mock CLB with ``instances`` seeded CVM instances (sandbox contract)."""
    backend = ClbBackend(instances=instances, task_delay=task_delay, clock=MockClock())
    return serve(backend, host=host, port=port)
