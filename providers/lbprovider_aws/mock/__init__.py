"""The AWS mock cloud: moto in server mode behind the mock-cloud kit's fault-injecting proxy.

:func:`start` (the ``lbprovider.mock_clouds`` entry point) runs
:class:`moto.server.ThreadedMotoServer` on a free loopback port, seeds a VPC,
two subnets in two zones, a node security group and ``instances`` EC2
instances in it (:mod:`.models`), and serves the endpoint the provider talks
to with :class:`lbprovider.mockkit.MockServer` (:mod:`.responses`): the shared
admin routes (state, counters, reset, faults, latency, clock) work here as on
every other mock cloud; :meth:`AwsMockCloud.describe` lists the tagged NLBs
for the demo's table.  moto keeps its state per process and region, so each
mock cloud of a process takes a region of its own (:func:`.models.next_region`).
"""

from __future__ import annotations

import json
import shutil
import tempfile
import threading
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from moto.server import ThreadedMotoServer

from lbprovider.cloud.sandbox import SandboxInstance
from lbprovider.mockkit import MockAdmin, MockClock, MockServer
from lbprovider_aws.mock.models import (
    TEST_ACCESS_KEY,
    TEST_SECRET_KEY,
    MotoState,
    next_region,
    resources,
)
from lbprovider_aws.mock.responses import AwsFrontend
from lbprovider_aws.options import INTERNAL, SCHEME

__all__ = ["TEST_ACCESS_KEY", "TEST_SECRET_KEY", "AwsMockCloud", "start"]


@dataclass(kw_only=True)
class AwsMockCloud:
    """A running AWS mock cloud and the ids of what was seeded in it."""

    endpoint: str
    """The proxy (``http://127.0.0.1:PORT``): signed, counted, faultable."""
    moto_endpoint: str
    """moto itself: what :meth:`client` talks to (uncounted, never faulted)."""
    instances: tuple[SandboxInstance, ...]
    vpc_id: str
    subnets: tuple[str, ...]
    node_security_group: str
    """The seeded instances' security group (where the provider adds backend rules)."""
    region: str
    """This mock's own region of moto's process-wide state."""
    provider: str = "aws"
    server: MockServer = field(repr=False)
    _moto: ThreadedMotoServer = field(repr=False)
    _state: MotoState = field(repr=False)
    _tempdir: str = field(repr=False)
    _stopped: bool = field(default=False, repr=False)
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    @property
    def credentials_file(self) -> str:
        """A YAML credentials file for the provider (the mock's dummy keys)."""
        return str(Path(self._tempdir) / "aws-credentials.yaml")

    @property
    def admin(self) -> MockAdmin:
        """The shared admin interface (counters, faults, latency, clock, state)."""
        return MockAdmin(self.endpoint)

    def provider_settings(self) -> dict[str, Any]:
        """Class settings pointing the AWS provider at this mock."""
        return {
            # A local mock documents no limit: keep the client-side one out of the way.
            "rate_limit_qps": 1000.0,
            "rate_limit_burst": 1000,
            "region": self.region,
            "endpoint_url": self.endpoint,
            "vpc_id": self.vpc_id,
            "subnets": list(self.subnets),
            "credentials_file": self.credentials_file,
        }

    def internal_annotations(self) -> dict[str, str]:
        """The annotation asking for an internal NLB (subnets come from the settings)."""
        return {SCHEME: INTERNAL}

    def client(self, service: str) -> Any:
        """A boto3 client straight to moto (tests seed and read back with it); cached."""
        return self._state.client(service)

    def resources(self) -> dict[str, int]:
        """NLBs, target groups and security groups carrying lbprovider's cluster tag, and
        the backend rules lbprovider added to other groups (``node_sg_rules``)."""
        return resources(self._state.snapshot())

    def describe(self) -> list[dict[str, Any]]:
        """Every NLB carrying lbprovider's cluster tag, read from the mock's own state:
        ``{"service", "lb_id", "address", "listeners": ["TCP:80->30080"], "backends":
        ["i-0abc:30080"], "health_check": "TCP:traffic-port"}``, sorted, JSON-able."""
        return self._state.describe()

    def stop(self) -> None:
        """Stop the proxy and moto, remove the credentials file; idempotent."""
        with self._lock:
            if self._stopped:
                return
            self._stopped = True
        self.server.stop()
        self._moto.stop()
        shutil.rmtree(self._tempdir, ignore_errors=True)


def start(*, host: str = "127.0.0.1", port: int = 0, instances: int = 2) -> AwsMockCloud:
    """Start moto and the proxy on ``host:port`` (0 = a free port); seed ``instances`` nodes."""
    moto = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    moto.start()
    moto_host, moto_port = moto.get_host_and_port()
    state = MotoState(f"http://{moto_host}:{moto_port}", next_region())
    tempdir = tempfile.mkdtemp(prefix="lbprovider-aws-")
    try:
        seeded = state.seed(instances=instances)
        Path(tempdir, "aws-credentials.yaml").write_text(
            json.dumps({"access_key_id": TEST_ACCESS_KEY, "secret_access_key": TEST_SECRET_KEY}),
            encoding="utf-8",
        )
        clock = MockClock()
        frontend = AwsFrontend(
            state=state, clock=clock, access_key=TEST_ACCESS_KEY, secret_key=TEST_SECRET_KEY
        )
        server = MockServer(frontend=frontend, clock=clock, host=host, port=port).start()
    except BaseException:
        moto.stop()
        shutil.rmtree(tempdir, ignore_errors=True)
        raise
    return AwsMockCloud(
        endpoint=server.endpoint,
        moto_endpoint=state.endpoint,
        instances=seeded.instances,
        vpc_id=seeded.vpc_id,
        subnets=seeded.subnets,
        node_security_group=seeded.node_security_group,
        region=state.region,
        server=server,
        _moto=moto,
        _state=state,
        _tempdir=tempdir,
    )
