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

    def stop(self) -> None:
        self.server.stop()
        shutil.rmtree(self._tmp, ignore_errors=True)


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
